//! `/volumes`: list (summary, detail, `summary` 3.12+), create, show,
//! update, delete, metadata.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use serde_json::{json, Map, Value};

use super::api::{
    bool_param, int_like, is_uuid_like, no_extra_keys, opt_bool, opt_name, opt_str, py_repr,
    require_object, str_bool, string_map, ApiError, ApiResult, Ctx, Reply,
};
use super::listing::{Key, Paging, PAGING_PARAMS};
use super::model::{new_uuid, State, Volume};
use super::quotas::reserve;
use super::views::{volume_detail, volume_summary};
use super::{encryption, glance, Req};

/// Statuses a volume may be deleted from without `force`.
const DELETABLE: [&str; 5] = [
    "available",
    "error",
    "error_restoring",
    "error_extending",
    "error_managing",
];

/// The volume `id` as the caller may see it (other projects: 404 unless admin).
pub(crate) fn visible<'a>(st: &'a State, ctx: &Ctx, id: &str) -> ApiResult<&'a Volume> {
    st.volumes
        .get(id)
        .filter(|v| ctx.is_admin || v.project_id == ctx.project_id())
        .ok_or_else(|| ApiError::volume_not_found(id))
}

pub(crate) fn visible_mut<'a>(st: &'a mut State, ctx: &Ctx, id: &str) -> ApiResult<&'a mut Volume> {
    st.volumes
        .get_mut(id)
        .filter(|v| ctx.is_admin || v.project_id == ctx.project_id())
        .ok_or_else(|| ApiError::volume_not_found(id))
}

/// Recomputes a volume's status from its attachments, as Cinder's
/// `_get_statuses_from_attachments` (after a detach or an attachment change).
pub(crate) fn settle_after_detach(v: &mut Volume) {
    let has = |s: &str| v.attachments.iter().any(|a| a.attach_status == s);
    let (status, attach_status) = if has("attached") {
        ("in-use", "attached")
    } else if has("attaching") {
        ("attaching", "attaching")
    } else if has("detaching") {
        ("detaching", "detaching")
    } else if has("reserved") {
        ("reserved", "reserved")
    } else {
        ("available", "detached")
    };
    if attach_status != "attached" {
        v.admin_metadata.remove("attached_mode");
    }
    v.status = status.into();
    v.attach_status = attach_status.into();
    v.touch();
}

// ------------------------------------------------------------- listing

/// Filters a non-admin may use (`resource_filters.json`).
const USER_FILTERS: [&str; 11] = [
    "name",
    "status",
    "metadata",
    "bootable",
    "migration_status",
    "availability_zone",
    "group_id",
    "size",
    "created_at",
    "updated_at",
    "consumes_quota",
];

/// Sortable volume columns.
const SORT_KEYS: [&str; 19] = [
    "id",
    "display_name",
    "display_description",
    "status",
    "size",
    "availability_zone",
    "bootable",
    "created_at",
    "updated_at",
    "project_id",
    "user_id",
    "volume_type_id",
    "host",
    "attach_status",
    "migration_status",
    "multiattach",
    "snapshot_id",
    "source_volid",
    "group_id",
];

fn sort_key(v: &Volume, key: &str) -> Key {
    match key {
        "id" => Key::str(&v.id),
        "display_name" => Key::opt_str(v.name.as_deref()),
        "display_description" => Key::opt_str(v.description.as_deref()),
        "status" => Key::str(&v.status),
        "size" => Key::Int(i64::try_from(v.size).unwrap_or(i64::MAX)),
        "availability_zone" => Key::str(&v.availability_zone),
        "bootable" => Key::Bool(v.bootable),
        "created_at" => Key::Time(v.created_at),
        "updated_at" => v.updated_at.map_or(Key::Null, Key::Time),
        "project_id" => Key::str(&v.project_id),
        "user_id" => Key::str(&v.user_id),
        "volume_type_id" => Key::str(&v.volume_type_id),
        "host" => Key::str(&v.host),
        "attach_status" => Key::str(&v.attach_status),
        "migration_status" => Key::opt_str(v.migration_status.as_deref()),
        "multiattach" => Key::Bool(v.multiattach),
        "snapshot_id" => Key::opt_str(v.snapshot_id.as_deref()),
        "source_volid" => Key::opt_str(v.source_volid.as_deref()),
        "group_id" => Key::opt_str(v.group_id.as_deref()),
        _ => Key::Null,
    }
}

/// Parses a `metadata` filter: a Python dict literal such as
/// `{'k': 'v', "k2": "v2"}` (cinderclient sends `str(dict)`), or JSON.
pub(crate) fn parse_dict_filter(raw: &str) -> Option<BTreeMap<String, String>> {
    if let Ok(Value::Object(m)) = serde_json::from_str::<Value>(raw) {
        return Some(
            m.into_iter()
                .map(|(k, v)| {
                    let v = match v {
                        Value::String(s) => s,
                        other => other.to_string(),
                    };
                    (k, v)
                })
                .collect(),
        );
    }
    let inner = raw.trim().strip_prefix('{')?.strip_suffix('}')?;
    let unquote = |s: &str| {
        let s = s.trim();
        s.strip_prefix('\'')
            .and_then(|x| x.strip_suffix('\''))
            .or_else(|| s.strip_prefix('"').and_then(|x| x.strip_suffix('"')))
            .unwrap_or(s)
            .to_string()
    };
    let mut out = BTreeMap::new();
    for pair in inner.split(',').filter(|p| !p.trim().is_empty()) {
        let (k, v) = pair.split_once(':')?;
        out.insert(unquote(k), unquote(v));
    }
    Some(out)
}

/// Whether `v` passes one `key=value` filter (keys already renamed).
fn matches_filter(
    st: &State,
    v: &Volume,
    key: &str,
    value: &str,
    strict_bool: bool,
) -> Option<bool> {
    let eq_opt = |field: &Option<String>| field.as_deref() == Some(value);
    Some(match key {
        "display_name" => eq_opt(&v.name),
        "display_name~" | "name~" => v.name.as_deref().is_some_and(|n| n.contains(value)),
        "display_description" => eq_opt(&v.description),
        "status" => v.status == value,
        "status~" => v.status.contains(value),
        "availability_zone" => v.availability_zone == value,
        "migration_status" => eq_opt(&v.migration_status),
        "group_id" => eq_opt(&v.group_id),
        "size" => value.trim().parse::<u64>().is_ok_and(|s| s == v.size),
        "project_id" => v.project_id == value,
        "user_id" => v.user_id == value,
        "host" => v.host == value,
        "id" => v.id == value,
        "snapshot_id" => eq_opt(&v.snapshot_id),
        "source_volid" => eq_opt(&v.source_volid),
        "attach_status" => v.attach_status == value,
        "consumes_quota" | "use_quota" => str_bool(value).unwrap_or(true),
        "volume_type_id" | "volume_type" => {
            v.volume_type_id == value || st.type_name(&v.volume_type_id).as_deref() == Some(value)
        }
        "bootable" | "multiattach" => {
            let field = if key == "bootable" {
                v.bootable
            } else {
                v.multiattach
            };
            // Before 3.2 anything but false/False/FALSE means true.
            let wanted = if strict_bool {
                str_bool(value).unwrap_or(false)
            } else {
                !matches!(value, "false" | "False" | "FALSE")
            };
            field == wanted
        }
        "metadata" => {
            let Some(want) = parse_dict_filter(value) else {
                return Some(false);
            };
            want.iter().all(|(k, val)| v.metadata.get(k) == Some(val))
        }
        "glance_metadata" => {
            let Some(want) = parse_dict_filter(value) else {
                return Some(false);
            };
            want.iter()
                .all(|(k, val)| v.image_metadata.get(k) == Some(val))
        }
        "created_at" | "updated_at" => true,
        _ => return None,
    })
}

/// The filters of a list request: without paging parameters, renamed,
/// restricted for non-admins; plus `all_tenants`.
fn volume_filters(ctx: &Ctx) -> ApiResult<(Vec<(String, String)>, bool)> {
    let mut out = Vec::new();
    let all_tenants =
        ctx.is_admin && ctx.has_param("all_tenants") && bool_param(ctx, "all_tenants")?;
    for (k, v) in &ctx.query {
        if PAGING_PARAMS.contains(&k.as_str()) || k == "with_count" || k == "all_tenants" {
            continue;
        }
        let base = k.trim_end_matches('~');
        if !ctx.is_admin && !USER_FILTERS.contains(&base) {
            continue;
        }
        // Filters added by later microversions are dropped before them.
        let added_in = match base {
            "glance_metadata" => 4,
            "group_id" => 10,
            "created_at" | "updated_at" => 60,
            "consumes_quota" => 65,
            _ => 0,
        };
        if !ctx.version.at_least(added_in) {
            continue;
        }
        if k.ends_with('~') && !ctx.version.at_least(34) {
            continue;
        }
        let key = match k.as_str() {
            "name" => "display_name".to_string(),
            "name~" => "display_name~".to_string(),
            other => other.to_string(),
        };
        out.push((key, v.clone()));
    }
    Ok((out, all_tenants))
}

fn list(st: &mut State, ctx: &Ctx, detail: bool) -> ApiResult<Reply> {
    let paging = Paging::from_ctx(ctx)?;
    let with_count =
        ctx.version.at_least(45) && ctx.has_param("with_count") && bool_param(ctx, "with_count")?;
    let (filters, all_tenants) = volume_filters(ctx)?;
    let strict = ctx.version.at_least(2);
    let mut invalid_filter = false;
    let candidates: Vec<&Volume> = st
        .volumes
        .values()
        .filter(|v| all_tenants || v.project_id == ctx.project_id())
        .filter(|v| {
            filters
                .iter()
                .all(|(k, val)| match matches_filter(st, v, k, val, strict) {
                    Some(m) => m,
                    None => {
                        invalid_filter = true;
                        false
                    }
                })
        })
        .collect();
    // An unknown column makes the database layer return nothing.
    let candidates = if invalid_filter {
        Vec::new()
    } else {
        candidates
    };
    let count = candidates.len();
    let marker = match &paging.marker {
        None => None,
        Some(m) => Some(
            st.volumes
                .get(m)
                .filter(|v| all_tenants || v.project_id == ctx.project_id())
                .ok_or_else(|| ApiError::volume_not_found(m))?,
        ),
    };
    let page = paging.apply(candidates, marker.as_ref(), &SORT_KEYS, |v, k| {
        sort_key(v, k)
    })?;
    let items: Vec<Value> = page
        .iter()
        .map(|v| {
            if detail {
                volume_detail(st, ctx, v, true)
            } else {
                volume_summary(ctx, v)
            }
        })
        .collect();
    let mut out = Map::new();
    let collection = if detail { "volumes/detail" } else { "volumes" };
    let links = paging.next_links(
        ctx,
        collection,
        page.last().map(|v| v.id.as_str()),
        page.len(),
        with_count.then_some(count),
    );
    out.insert("volumes".into(), json!(items));
    if let Some(l) = links {
        out.insert("volumes_links".into(), l);
    }
    if with_count {
        out.insert("count".into(), json!(count));
    }
    Ok(Reply::ok(Value::Object(out)))
}

pub(crate) fn index(st: &mut State, ctx: &Ctx, _req: &Req) -> ApiResult<Reply> {
    list(st, ctx, false)
}

pub(crate) fn detail(st: &mut State, ctx: &Ctx, _req: &Req) -> ApiResult<Reply> {
    list(st, ctx, true)
}

pub(crate) fn summary(st: &mut State, ctx: &Ctx, _req: &Req) -> ApiResult<Reply> {
    if !ctx.version.at_least(12) {
        return Err(ApiError::no_route());
    }
    let all_tenants =
        ctx.is_admin && ctx.has_param("all_tenants") && bool_param(ctx, "all_tenants")?;
    let vols: Vec<&Volume> = st
        .volumes
        .values()
        .filter(|v| all_tenants || v.project_id == ctx.project_id())
        .collect();
    let total_size: u64 = vols.iter().map(|v| v.size).sum();
    let mut summary = Map::new();
    summary.insert("total_count".into(), json!(vols.len()));
    summary.insert("total_size".into(), json!(total_size));
    if ctx.version.at_least(36) {
        let mut meta: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for v in &vols {
            for (k, val) in &v.metadata {
                let e = meta.entry(k.clone()).or_default();
                if !e.contains(val) {
                    e.push(val.clone());
                }
            }
        }
        summary.insert("metadata".into(), json!(meta));
    }
    Ok(Reply::ok(json!({"volume-summary": summary})))
}

// -------------------------------------------------------------- create

/// Validates `size` as `volume_size_allows_null`.
fn parse_size(v: Option<&Value>) -> ApiResult<Option<u64>> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(val) => {
            let detail = match val {
                Value::Number(n) if n.is_i64() || n.is_u64() => None,
                Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => None,
                Value::String(s) => Some(format!("'{s}' does not match '^[0-9]+$'")),
                other => Some(format!(
                    "{} is not of type 'integer', 'string', 'null'",
                    py_repr(other)
                )),
            };
            if let Some(d) = detail {
                return Err(ApiError::validation("size", val, &d));
            }
            let n = int_like(val).unwrap_or(0);
            if n < 1 {
                return Err(ApiError::validation(
                    "size",
                    val,
                    &format!("{} is less than the minimum of 1", py_repr(val)),
                ));
            }
            Ok(Some(u64::try_from(n).unwrap_or(0)))
        }
    }
}

fn opt_uuid(obj: &Map<String, Value>, key: &str) -> ApiResult<Option<String>> {
    let v = opt_str(obj, key)?;
    if let Some(s) = &v {
        if !is_uuid_like(s) {
            return Err(ApiError::validation(
                key,
                &json!(s),
                &format!("'{s}' is not a 'uuid'"),
            ));
        }
    }
    Ok(v)
}

/// Looks a volume type up by id or name, as `get_by_name_or_id`.
pub(crate) fn find_type(st: &State, ctx: &Ctx, ident: &str) -> ApiResult<String> {
    let visible =
        |t: &&super::model::VolumeType| State::type_visible(t, ctx.project_id(), ctx.is_admin);
    if is_uuid_like(ident) {
        if let Some(t) = st.types.get(ident).filter(visible) {
            return Ok(t.id.clone());
        }
        return st
            .types
            .values()
            .filter(visible)
            .find(|t| t.name == ident)
            .map(|t| t.id.clone())
            .ok_or_else(|| ApiError::type_not_found(ident));
    }
    st.types
        .values()
        .filter(visible)
        .find(|t| t.name == ident)
        .map(|t| t.id.clone())
        .ok_or_else(|| ApiError::type_name_not_found(ident))
}

/// The keys a volume create body may carry (additionalProperties False from 3.53).
fn allowed_create_keys(ctx: &Ctx) -> Vec<&'static str> {
    let mut keys = vec![
        "name",
        "description",
        "display_name",
        "display_description",
        "volume_type",
        "metadata",
        "snapshot_id",
        "source_volid",
        "consistencygroup_id",
        "size",
        "availability_zone",
        "multiattach",
        "image_id",
        "imageRef",
    ];
    if ctx.version.at_least(13) {
        keys.push("group_id");
    }
    if ctx.version.at_least(47) {
        keys.push("backup_id");
    }
    keys
}

pub(crate) fn create(st: &mut State, ctx: &Ctx, req: &Req) -> ApiResult<Reply> {
    no_extra_keys(&req.body, &["volume", "OS-SCH-HNT:scheduler_hints"])?;
    let vol = require_object(&req.body, "volume")?;
    if ctx.version.at_least(53) {
        let allowed = allowed_create_keys(ctx);
        no_extra_keys(&Value::Object(vol.clone()), &allowed)?;
    }
    let name = match opt_name(vol, "name")? {
        Some(n) => Some(n),
        None => opt_name(vol, "display_name")?,
    };
    let description = match opt_name(vol, "description")? {
        Some(d) => Some(d),
        None => opt_name(vol, "display_description")?,
    };
    let size = parse_size(vol.get("size"))?;
    let az = opt_str(vol, "availability_zone")?;
    if az.as_deref() == Some("") {
        return Err(ApiError::validation(
            "availability_zone",
            &json!(""),
            "'' is too short",
        ));
    }
    let metadata = match vol.get("metadata") {
        None | Some(Value::Null) => BTreeMap::new(),
        Some(m) => string_map("metadata", m)?,
    };
    let snapshot_id = opt_uuid(vol, "snapshot_id")?;
    let source_volid = opt_uuid(vol, "source_volid")?;
    opt_uuid(vol, "consistencygroup_id")?;
    let multiattach = opt_bool(vol, "multiattach")?;
    let image_ref = match opt_str(vol, "imageRef")? {
        Some(r) => Some(r),
        None => opt_str(vol, "image_id")?,
    };
    let backup_id = if ctx.version.at_least(47) {
        opt_uuid(vol, "backup_id")?
    } else {
        None
    };
    let req_type = opt_str(vol, "volume_type")?;

    // Controller: type, snapshot, source volume, image, backup.
    let mut type_id = match req_type.as_deref() {
        Some(t) if !t.is_empty() => Some(find_type(st, ctx, t)?),
        _ => None,
    };
    let snapshot = match &snapshot_id {
        None => None,
        Some(id) => Some(
            st.snapshots
                .get(id)
                .filter(|s| ctx.is_admin || s.project_id == ctx.project_id())
                .ok_or_else(|| ApiError::snapshot_not_found(id))?
                .clone(),
        ),
    };
    let source = match &source_volid {
        None => None,
        Some(id) => Some(visible(st, ctx, id)?.clone()),
    };
    let image = match &image_ref {
        None => None,
        Some(r) => Some(glance::find_image(ctx, r)?),
    };
    let backup = match &backup_id {
        None => None,
        Some(id) => Some(
            st.backups
                .get(id)
                .filter(|b| ctx.is_admin || b.project_id == ctx.project_id())
                .ok_or_else(|| ApiError::backup_not_found(id))?
                .clone(),
        ),
    };
    if multiattach == Some(true) {
        return Err(ApiError::bad_request(
            "multiattach parameter has been removed. The default behavior is to use multiattach \
             enabled volume types. Contact your administrator to create a multiattach enabled \
             volume type and use it to create multiattach volumes.",
        ));
    }
    encryption::check_clone_type(st, type_id.as_deref(), source.as_ref(), snapshot.as_ref())?;

    // Flow: source states, size, availability zone, type.
    if let Some(s) = &snapshot {
        if s.status != "available" {
            return Err(ApiError::invalid_snapshot(
                "Originating snapshot status must be one of 'available' values",
            ));
        }
    }
    if let Some(s) = &source {
        if s.status != "available" && s.status != "in-use" {
            return Err(ApiError::invalid_volume(
                "Originating source volume status must be one of 'available, in-use' values",
            ));
        }
    }
    let size = size
        .or_else(|| snapshot.as_ref().map(|s| s.size))
        .or_else(|| source.as_ref().map(|s| s.size))
        .or_else(|| backup.as_ref().map(|b| b.size));
    let Some(size) = size else {
        return Err(ApiError::invalid_input(
            "Volume size 'None' must be an integer and greater than 0",
        ));
    };
    if let Some(s) = &source {
        if size < s.size {
            return Err(ApiError::invalid_input(format!(
                "Volume size '{size}'GB cannot be smaller than original volume size  {}GB. They must be >= original volume size.",
                s.size
            )));
        }
    } else if let Some(s) = &snapshot {
        if size < s.size {
            return Err(ApiError::invalid_input(format!(
                "Volume size '{size}'GB cannot be smaller than the snapshot size {}GB. They must be >= original snapshot size.",
                s.size
            )));
        }
    } else if let Some(b) = &backup {
        if size < b.size {
            return Err(ApiError::invalid_input(format!(
                "Volume size {size}GB cannot be smaller than the backup size {}GB. It must be >= backup size.",
                b.size
            )));
        }
    }
    if let Some(img) = &image {
        if img.status != "active" {
            return Err(ApiError::invalid_input(format!(
                "Image {} is not active.",
                img.id
            )));
        }
        let gib = 1u64 << 30;
        if let Some(bytes) = img.size {
            let needed = bytes.div_ceil(gib);
            if needed > size {
                return Err(ApiError::invalid_input(format!(
                    "Size of specified image {needed}GB is larger than volume size {size}GB."
                )));
            }
        }
        if img.min_disk > size {
            return Err(ApiError::invalid_input(format!(
                "Volume size {size}GB cannot be smaller than the image minDisk size {}GB.",
                img.min_disk
            )));
        }
    }
    let source_az = source
        .as_ref()
        .map(|s| s.availability_zone.clone())
        .or_else(|| {
            snapshot
                .as_ref()
                .and_then(|s| st.volumes.get(&s.volume_id))
                .map(|v| v.availability_zone.clone())
        });
    let availability_zone = match az.or(source_az) {
        Some(a) if a != ctx.az => {
            return Err(ApiError::bad_request(format!(
                "Availability zone '{a}' is invalid."
            )))
        }
        Some(a) => a,
        None => ctx.az.clone(),
    };
    if type_id.is_none() {
        type_id = source
            .as_ref()
            .map(|s| s.volume_type_id.clone())
            .or_else(|| snapshot.as_ref().map(|s| s.volume_type_id.clone()));
    }
    let type_id = match type_id {
        Some(t) => t,
        None => st.default_type_id(ctx.project_id()).ok_or_else(|| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "The request cannot be fulfilled as the default volume type __DEFAULT__ cannot be found.",
            )
        })?,
    };
    let vtype = st
        .types
        .get(&type_id)
        .cloned()
        .ok_or_else(|| ApiError::type_not_found(&type_id))?;
    let encryption_key_id = encryption::new_key(&vtype)?;

    // Quotas.
    let per_volume = st.quota_limit(ctx.project_id(), "per_volume_gigabytes");
    if per_volume >= 0 && i64::try_from(size).unwrap_or(i64::MAX) > per_volume {
        return Err(ApiError::over_limit(
            "VolumeSizeExceedsLimit",
            format!(
                "Requested volume size {size}G is larger than maximum allowed limit {per_volume}G."
            ),
        ));
    }
    reserve(st, ctx.project_id(), "volumes", &vtype.name, size)?;

    let mut image_metadata = BTreeMap::new();
    if let Some(img) = &image {
        image_metadata.extend(img.properties.clone());
        image_metadata.insert("image_id".to_string(), img.id.clone());
        if let Some(n) = &img.name {
            image_metadata.insert("image_name".into(), n.clone());
        }
        if let Some(c) = &img.checksum {
            image_metadata.insert("checksum".into(), c.clone());
        }
        if let Some(f) = &img.disk_format {
            image_metadata.insert("disk_format".into(), f.clone());
        }
        if let Some(f) = &img.container_format {
            image_metadata.insert("container_format".into(), f.clone());
        }
        if let Some(s) = img.size {
            image_metadata.insert("size".into(), s.to_string());
        }
        image_metadata.insert("min_disk".into(), img.min_disk.to_string());
        image_metadata.insert("min_ram".into(), img.min_ram.to_string());
    } else if let Some(s) = &source {
        image_metadata = s.image_metadata.clone();
    } else if let Some(s) = &snapshot {
        if let Some(v) = st.volumes.get(&s.volume_id) {
            image_metadata = v.image_metadata.clone();
        }
    }
    let bootable = image.is_some()
        || source.as_ref().is_some_and(|s| s.bootable)
        || snapshot
            .as_ref()
            .and_then(|s| st.volumes.get(&s.volume_id))
            .is_some_and(|v| v.bootable);

    let created_at = st.next_created_at();
    // As Cinder's scheduler: a type whose specs the backend cannot meet
    // leaves the volume in `error` (No valid backend was found).
    let outcome = if backend_satisfies(&vtype.extra_specs) {
        "available"
    } else {
        "error"
    };
    let pending = st.pending(Some(outcome), None);
    let volume = Volume {
        id: new_uuid(),
        project_id: ctx.project_id().to_string(),
        user_id: ctx.user_id().to_string(),
        name,
        description,
        status: "creating".into(),
        previous_status: None,
        attach_status: "detached".into(),
        migration_status: None,
        size,
        availability_zone,
        bootable,
        multiattach: vtype.is_multiattach(),
        volume_type_id: vtype.id.clone(),
        snapshot_id,
        source_volid,
        group_id: None,
        metadata,
        admin_metadata: BTreeMap::new(),
        image_metadata,
        encryption_key_id,
        attachments: Vec::new(),
        host: volume_host(ctx),
        created_at,
        updated_at: None,
        pending: Some(pending),
    };
    let body = volume_detail(st, ctx, &volume, false);
    st.volumes.insert(volume.id.clone(), volume);
    Ok(Reply::accepted(json!({"volume": body})))
}

/// What the pod's only backend reports to the scheduler (a subset of an LVM
/// backend's capabilities).
const BACKEND_CAPABILITIES: &[(&str, &str)] = &[
    ("volume_backend_name", "lvmdriver-1"),
    ("vendor_name", "Open Source"),
    ("driver_version", "3.0.0"),
    ("storage_protocol", "iSCSI"),
    ("thin_provisioning_support", "True"),
    ("thick_provisioning_support", "False"),
    ("multiattach", "True"),
    ("QoS_support", "False"),
];

/// Cinder's CapabilitiesFilter: every extra spec without a scope, or with
/// the `capabilities:` scope, must match what the backend reports (plain
/// equality, or `<is> True|False`); specs of other scopes are for others.
pub(crate) fn backend_satisfies(extra_specs: &BTreeMap<String, String>) -> bool {
    extra_specs.iter().all(|(key, wanted)| {
        let key = match key.split_once(':') {
            Some(("capabilities", k)) => k,
            Some(_) => return true,
            None => key.as_str(),
        };
        if key == "multiattach" || key == "RESKEY" {
            return true;
        }
        let Some((_, have)) = BACKEND_CAPABILITIES.iter().find(|(k, _)| *k == key) else {
            return false;
        };
        match wanted.strip_prefix("<is>") {
            Some(v) => v.trim().eq_ignore_ascii_case(have),
            None => wanted.trim() == *have,
        }
    })
}

/// `host@backend#pool` of the pod's only backend.
pub(crate) fn volume_host(ctx: &Ctx) -> String {
    format!("{}@lvmdriver-1#lvmdriver-1", host_name(ctx))
}

/// The pod's cinder host name.
pub(crate) fn host_name(ctx: &Ctx) -> String {
    if ctx.region.is_empty() {
        "podsim".to_string()
    } else {
        ctx.region.to_ascii_lowercase()
    }
}

// ------------------------------------------------- show, update, delete

pub(crate) fn show(st: &mut State, ctx: &Ctx, req: &Req) -> ApiResult<Reply> {
    let v = visible(st, ctx, req.id(0))?;
    Ok(Reply::ok(
        json!({"volume": volume_detail(st, ctx, v, true)}),
    ))
}

pub(crate) fn update(st: &mut State, ctx: &Ctx, req: &Req) -> ApiResult<Reply> {
    no_extra_keys(&req.body, &["volume"])?;
    let body = require_object(&req.body, "volume")?;
    no_extra_keys(
        &Value::Object(body.clone()),
        &[
            "name",
            "description",
            "display_name",
            "display_description",
            "metadata",
        ],
    )?;
    if ctx.version.at_least(53) && body.is_empty() {
        return Err(ApiError::schema(
            "{} is not valid under any of the given schemas",
        ));
    }
    let name = if body.contains_key("name") {
        Some(opt_name(body, "name")?)
    } else if body.contains_key("display_name") {
        Some(opt_name(body, "display_name")?)
    } else {
        None
    };
    let description = if body.contains_key("description") {
        Some(opt_name(body, "description")?)
    } else if body.contains_key("display_description") {
        Some(opt_name(body, "display_description")?)
    } else {
        None
    };
    let metadata = match body.get("metadata") {
        None => None,
        Some(m) => Some(string_map("metadata", m)?),
    };
    let v = visible_mut(st, ctx, req.id(0))?;
    if v.status == "maintenance" {
        return Err(ApiError::invalid_volume(
            "The volume cannot be updated during maintenance.",
        ));
    }
    if let Some(n) = name {
        v.name = n;
    }
    if let Some(d) = description {
        v.description = d;
    }
    if let Some(m) = metadata {
        v.metadata = m;
    }
    v.touch();
    let v = visible(st, ctx, req.id(0))?;
    Ok(Reply::ok(
        json!({"volume": volume_detail(st, ctx, v, false)}),
    ))
}

pub(crate) fn delete(st: &mut State, ctx: &Ctx, req: &Req) -> ApiResult<Reply> {
    let cascade = bool_param(ctx, "cascade")?;
    let force = ctx.version.at_least(23) && bool_param(ctx, "force")?;
    let id = req.id(0).to_string();
    let v = visible(st, ctx, &id)?;
    if force {
        ctx.require_admin("volume:force_delete")?;
    }
    let snaps: Vec<String> = st
        .snapshots
        .values()
        .filter(|s| s.volume_id == id)
        .map(|s| s.id.clone())
        .collect();
    let status_ok = force || DELETABLE.contains(&v.status.as_str());
    let migration_ok = matches!(
        v.migration_status.as_deref(),
        None | Some("deleting" | "error" | "success")
    );
    let snaps_ok = if cascade {
        force
            || st
                .snapshots
                .values()
                .filter(|s| s.volume_id == id)
                .all(|s| matches!(s.status.as_str(), "available" | "error" | "deleting"))
    } else {
        snaps.is_empty()
    };
    // A non-admin's cascade may not take snapshots that stayed with
    // another project (a transfer with `no_snapshots`).
    let others_snaps = cascade
        && !force
        && !ctx.is_admin
        && st
            .snapshots
            .values()
            .any(|s| s.volume_id == id && s.project_id != v.project_id);
    if !status_ok
        || others_snaps
        || v.attach_status == "attached"
        || !migration_ok
        || v.group_id.is_some()
        || !snaps_ok
    {
        let status = if force {
            String::new()
        } else {
            format!("status must be {} and", DELETABLE.join(" or "))
        };
        return Err(ApiError::invalid_volume(format!(
            "Volume {status} must not be migrating, attached, belong to a group, have snapshots, \
             awaiting a transfer, or be disassociated from snapshots after volume transfer."
        )));
    }
    let pending = st.pending(None, None);
    for sid in &snaps {
        if let Some(s) = st.snapshots.get_mut(sid) {
            s.status = "deleting".into();
            s.pending = Some(pending.clone());
        }
    }
    if let Some(v) = st.volumes.get_mut(&id) {
        v.status = if v.status == "error_managing" {
            "error_managing_deleting".into()
        } else {
            "deleting".into()
        };
        v.pending = Some(pending);
        v.touch();
    }
    Ok(Reply::empty(StatusCode::ACCEPTED))
}

// ------------------------------------------------------------- metadata

/// `{"<key>": {...}}` of a metadata request, validated as a string map.
pub(crate) fn meta_body(body: &Value, key: &str) -> ApiResult<BTreeMap<String, String>> {
    no_extra_keys(body, &[key])?;
    let m = require_object(body, key)?;
    string_map(key, &Value::Object(m.clone()))
}

fn check_meta_status(v: &Volume, deleting: bool) -> ApiResult<()> {
    if matches!(v.status.as_str(), "maintenance" | "uploading") {
        let verb = if deleting { "Deleting" } else { "Updating" };
        return Err(ApiError::invalid_volume(format!(
            "{verb} volume metadata is not allowed for volumes in {} status.",
            v.status
        )));
    }
    Ok(())
}

pub(crate) fn meta_index(st: &mut State, ctx: &Ctx, req: &Req) -> ApiResult<Reply> {
    let v = visible(st, ctx, req.id(0))?;
    Ok(Reply::ok(json!({"metadata": v.metadata})))
}

pub(crate) fn meta_create(st: &mut State, ctx: &Ctx, req: &Req) -> ApiResult<Reply> {
    let meta = meta_body(&req.body, "metadata")?;
    let v = visible_mut(st, ctx, req.id(0))?;
    check_meta_status(v, false)?;
    v.metadata.extend(meta);
    v.touch();
    Ok(Reply::ok(json!({"metadata": v.metadata})))
}

pub(crate) fn meta_replace(st: &mut State, ctx: &Ctx, req: &Req) -> ApiResult<Reply> {
    let meta = meta_body(&req.body, "metadata")?;
    let v = visible_mut(st, ctx, req.id(0))?;
    check_meta_status(v, false)?;
    v.metadata = meta;
    v.touch();
    Ok(Reply::ok(json!({"metadata": v.metadata})))
}

pub(crate) fn meta_show(st: &mut State, ctx: &Ctx, req: &Req) -> ApiResult<Reply> {
    let v = visible(st, ctx, req.id(0))?;
    let key = req.id(1);
    match v.metadata.get(key) {
        Some(val) => Ok(Reply::ok(json!({"meta": {key: val}}))),
        None => Err(ApiError::not_found(format!(
            "Volume {} has no metadata with key {key}.",
            v.id
        ))),
    }
}

/// `PUT .../metadata/{key}` body checks shared with snapshots.
pub(crate) fn meta_item(req: &Req) -> ApiResult<BTreeMap<String, String>> {
    let item = meta_body(&req.body, "meta")?;
    if !item.contains_key(req.id(1)) {
        return Err(ApiError::bad_request("Request body and URI mismatch"));
    }
    if item.len() > 1 {
        return Err(ApiError::bad_request(
            "Request body contains too many items",
        ));
    }
    Ok(item)
}

pub(crate) fn meta_update(st: &mut State, ctx: &Ctx, req: &Req) -> ApiResult<Reply> {
    let item = meta_item(req)?;
    let v = visible_mut(st, ctx, req.id(0))?;
    check_meta_status(v, false)?;
    v.metadata.extend(item.clone());
    v.touch();
    Ok(Reply::ok(json!({"meta": item})))
}

pub(crate) fn meta_delete(st: &mut State, ctx: &Ctx, req: &Req) -> ApiResult<Reply> {
    let key = req.id(1).to_string();
    let v = visible_mut(st, ctx, req.id(0))?;
    if !v.metadata.contains_key(&key) {
        return Err(ApiError::not_found(format!(
            "Volume {} has no metadata with key {key}.",
            v.id
        )));
    }
    check_meta_status(v, true)?;
    v.metadata.remove(&key);
    v.touch();
    Ok(Reply::empty(StatusCode::OK))
}

/// An `available` volume of `project_id` (unit tests).
#[cfg(test)]
pub(crate) fn new_volume_for_tests(st: &mut State, project_id: &str, size: u64) -> Volume {
    let type_id = st.default_type_id(project_id).unwrap_or_default();
    let created_at = st.next_created_at();
    Volume {
        id: new_uuid(),
        project_id: project_id.into(),
        user_id: "u".into(),
        name: None,
        description: None,
        status: "available".into(),
        previous_status: None,
        attach_status: "detached".into(),
        migration_status: None,
        size,
        availability_zone: "nova".into(),
        bootable: false,
        multiattach: false,
        volume_type_id: type_id,
        snapshot_id: None,
        source_volid: None,
        group_id: None,
        metadata: BTreeMap::new(),
        admin_metadata: BTreeMap::new(),
        image_metadata: BTreeMap::new(),
        encryption_key_id: None,
        attachments: Vec::new(),
        host: "podsim@lvmdriver-1#lvmdriver-1".into(),
        created_at,
        updated_at: None,
        pending: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dict_filters() {
        let m = parse_dict_filter("{'k': 'v', \"a\": \"b c\"}").unwrap();
        assert_eq!(m.get("k").unwrap(), "v");
        assert_eq!(m.get("a").unwrap(), "b c");
        let m = parse_dict_filter("{\"x\": \"y\"}").unwrap();
        assert_eq!(m.get("x").unwrap(), "y");
        assert!(parse_dict_filter("nope").is_none());
    }
}

#[cfg(test)]
mod capability_tests {
    use super::*;

    fn specs(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn capabilities_filter() {
        assert!(backend_satisfies(&specs(&[])));
        assert!(backend_satisfies(&specs(&[(
            "volume_backend_name",
            "lvmdriver-1"
        )])));
        assert!(backend_satisfies(&specs(&[(
            "capabilities:storage_protocol",
            "iSCSI"
        )])));
        assert!(backend_satisfies(&specs(&[(
            "thin_provisioning_support",
            "<is> True"
        )])));
        assert!(backend_satisfies(&specs(&[("tricircle:tier", "gold")])));
        assert!(!backend_satisfies(&specs(&[("tier", "gold")])));
        assert!(!backend_satisfies(&specs(&[(
            "volume_backend_name",
            "ceph"
        )])));
    }
}
