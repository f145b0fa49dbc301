//! `/backups` (basic): list, create, show, update (3.9+), delete, restore,
//! and the admin actions `os-reset_status` / `os-force_delete`.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use chrono::Utc;
use serde_json::{json, Map, Value};

use super::actions::{args, no_such_action, peek};
use super::api::{
    bool_param, is_uuid_like, no_extra_keys, opt_name, opt_str, py_repr, require_object,
    strict_bool, string_map, ApiError, ApiResult, Ctx, Reply,
};
use super::listing::{Key, Paging, PAGING_PARAMS};
use super::model::{new_uuid, Backup, State, Volume};
use super::quotas::{quota_error, reserve};
use super::views::{backup_detail, backup_summary};
use super::volumes::{visible as visible_volume, volume_host};
use super::Req;

const SORT_KEYS: [&str; 9] = [
    "id",
    "display_name",
    "status",
    "size",
    "volume_id",
    "project_id",
    "created_at",
    "updated_at",
    "availability_zone",
];

fn sort_key(b: &Backup, key: &str) -> Key {
    match key {
        "id" => Key::str(&b.id),
        "display_name" => Key::opt_str(b.name.as_deref()),
        "status" => Key::str(&b.status),
        "size" => Key::Int(i64::try_from(b.size).unwrap_or(i64::MAX)),
        "volume_id" => Key::str(&b.volume_id),
        "project_id" => Key::str(&b.project_id),
        "created_at" => Key::Time(b.created_at),
        "updated_at" => b.updated_at.map_or(Key::Null, Key::Time),
        "availability_zone" => Key::str(&b.availability_zone),
        _ => Key::Null,
    }
}

fn visible<'a>(st: &'a State, ctx: &Ctx, id: &str) -> ApiResult<&'a Backup> {
    st.backups
        .get(id)
        .filter(|b| ctx.is_admin || b.project_id == ctx.project_id())
        .ok_or_else(|| ApiError::backup_not_found(id))
}

fn list(st: &mut State, ctx: &Ctx, detail: bool) -> ApiResult<Reply> {
    let paging = Paging::from_ctx(ctx)?;
    let with_count =
        ctx.version.at_least(45) && ctx.has_param("with_count") && bool_param(ctx, "with_count")?;
    let all_tenants =
        ctx.is_admin && ctx.has_param("all_tenants") && bool_param(ctx, "all_tenants")?;
    let filters: Vec<(String, String)> = ctx
        .query
        .iter()
        .filter(|(k, _)| {
            !PAGING_PARAMS.contains(&k.as_str()) && k != "with_count" && k != "all_tenants"
        })
        .filter(|(k, _)| ctx.is_admin || ["name", "status", "volume_id"].contains(&k.as_str()))
        .cloned()
        .collect();
    let candidates: Vec<&Backup> = st
        .backups
        .values()
        .filter(|b| all_tenants || b.project_id == ctx.project_id())
        .filter(|b| {
            filters.iter().all(|(k, v)| match k.as_str() {
                "name" | "display_name" => b.name.as_deref() == Some(v.as_str()),
                "status" => b.status == *v,
                "volume_id" => b.volume_id == *v,
                "project_id" => b.project_id == *v,
                _ => true,
            })
        })
        .collect();
    let count = candidates.len();
    let marker = match &paging.marker {
        None => None,
        Some(m) => Some(
            st.backups
                .get(m)
                .filter(|b| all_tenants || b.project_id == ctx.project_id())
                .ok_or_else(|| ApiError::backup_not_found(m))?,
        ),
    };
    let page = paging.apply(candidates, marker.as_ref(), &SORT_KEYS, |b, k| {
        sort_key(b, k)
    })?;
    let items: Vec<Value> = page
        .iter()
        .map(|b| {
            if detail {
                backup_detail(st, ctx, b)
            } else {
                backup_summary(ctx, b)
            }
        })
        .collect();
    let mut out = Map::new();
    out.insert("backups".into(), json!(items));
    let collection = if detail { "backups/detail" } else { "backups" };
    if let Some(l) = paging.next_links(
        ctx,
        collection,
        page.last().map(|b| b.id.as_str()),
        page.len(),
        with_count.then_some(count),
    ) {
        out.insert("backups_links".into(), l);
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

fn body_bool(m: &Map<String, Value>, key: &str) -> ApiResult<bool> {
    match m.get(key) {
        None => Ok(false),
        Some(v) => strict_bool(v).ok_or_else(|| {
            ApiError::validation(
                key,
                v,
                &format!("{} is not valid under any of the given schemas", py_repr(v)),
            )
        }),
    }
}

pub(crate) fn create(st: &mut State, ctx: &Ctx, req: &Req) -> ApiResult<Reply> {
    no_extra_keys(&req.body, &["backup"])?;
    let body = require_object(&req.body, "backup")?;
    let mut allowed = vec![
        "volume_id",
        "container",
        "description",
        "incremental",
        "force",
        "name",
        "snapshot_id",
    ];
    if ctx.version.at_least(43) {
        allowed.push("metadata");
    }
    if ctx.version.at_least(51) {
        allowed.push("availability_zone");
    }
    no_extra_keys(&Value::Object(body.clone()), &allowed)?;
    let volume_id = match body.get("volume_id") {
        None => return Err(ApiError::schema("'volume_id' is a required property")),
        Some(Value::String(s)) if is_uuid_like(s) => s.clone(),
        Some(other) => {
            return Err(ApiError::validation(
                "volume_id",
                other,
                &format!("{} is not a 'uuid'", py_repr(other)),
            ))
        }
    };
    let container = opt_str(body, "container")?;
    let name = opt_name(body, "name")?;
    let description = opt_name(body, "description")?;
    let incremental = body_bool(body, "incremental")?;
    let force = body_bool(body, "force")?;
    let snapshot_id = opt_str(body, "snapshot_id")?;
    let metadata = match body.get("metadata") {
        None | Some(Value::Null) => BTreeMap::new(),
        Some(m) => string_map("metadata", m)?,
    };
    let vol: Volume = visible_volume(st, ctx, &volume_id)?.clone();
    if let Some(sid) = &snapshot_id {
        let snap = st
            .snapshots
            .get(sid)
            .filter(|s| ctx.is_admin || s.project_id == ctx.project_id())
            .ok_or_else(|| ApiError::snapshot_not_found(sid))?;
        if snap.volume_id != volume_id {
            return Err(ApiError::bad_request(format!(
                "Invalid volume: Volume {volume_id} does not match with snapshot.volume_id {}.",
                snap.volume_id
            )));
        }
        if snap.status != "available" {
            return Err(ApiError::bad_request(format!(
                "Invalid snapshot: Snapshot to be backed up must be available, but the current status is \"{}\".",
                snap.status
            )));
        }
    } else if vol.status != "available" && vol.status != "in-use" {
        return Err(ApiError::bad_request(format!(
            "Invalid volume: Volume to be backed up must be available or in-use, but the current status is \"{}\".",
            vol.status
        )));
    } else if vol.status == "in-use" && !force {
        return Err(ApiError::bad_request(
            "Invalid volume: Backing up an in-use volume must use the force flag.",
        ));
    }
    if incremental
        && !st
            .backups
            .values()
            .any(|b| b.volume_id == volume_id && b.status == "available")
    {
        return Err(ApiError::invalid_backup(
            "No backups available to do an incremental backup.",
        ));
    }
    reserve(st, &vol.project_id, "backups", "", vol.size)?;
    let created_at = st.next_created_at();
    let backup = Backup {
        id: new_uuid(),
        project_id: ctx.project_id().to_string(),
        user_id: ctx.user_id().to_string(),
        volume_id: volume_id.clone(),
        snapshot_id,
        name,
        description,
        status: "creating".into(),
        size: vol.size,
        availability_zone: vol.availability_zone.clone(),
        container: Some(container.unwrap_or_else(|| "volumebackups".into())),
        is_incremental: incremental,
        metadata,
        created_at,
        updated_at: None,
        data_timestamp: created_at,
        pending: Some(st.pending(Some("available"), None)),
    };
    let view = backup_summary(ctx, &backup);
    st.backups.insert(backup.id.clone(), backup);
    if vol.status == "available" {
        let pending = st.pending(Some("available"), None);
        if let Some(v) = st.volumes.get_mut(&volume_id) {
            v.previous_status = Some(v.status.clone());
            v.set_status("backing-up");
            v.pending = Some(pending);
        }
    }
    Ok(Reply::accepted(json!({"backup": view})))
}

pub(crate) fn show(st: &mut State, ctx: &Ctx, req: &Req) -> ApiResult<Reply> {
    let b = visible(st, ctx, req.id(0))?;
    Ok(Reply::ok(json!({"backup": backup_detail(st, ctx, b)})))
}

pub(crate) fn update(st: &mut State, ctx: &Ctx, req: &Req) -> ApiResult<Reply> {
    if !ctx.version.at_least(9) {
        return Err(ApiError::no_route());
    }
    no_extra_keys(&req.body, &["backup"])?;
    let body = require_object(&req.body, "backup")?;
    let mut allowed = vec!["name", "description"];
    if ctx.version.at_least(43) {
        allowed.push("metadata");
    }
    no_extra_keys(&Value::Object(body.clone()), &allowed)?;
    let name = opt_name(body, "name")?;
    let description = opt_name(body, "description")?;
    let metadata = match body.get("metadata") {
        None | Some(Value::Null) => None,
        Some(m) => Some(string_map("metadata", m)?),
    };
    let id = req.id(0).to_string();
    visible(st, ctx, &id)?;
    let b = st
        .backups
        .get_mut(&id)
        .ok_or_else(|| ApiError::backup_not_found(&id))?;
    if body.contains_key("name") {
        b.name = name;
    }
    if body.contains_key("description") {
        b.description = description;
    }
    if let Some(m) = metadata {
        b.metadata = m;
    }
    b.updated_at = Some(Utc::now());
    Ok(Reply::ok(json!({"backup": backup_summary(ctx, b)})))
}

pub(crate) fn delete(st: &mut State, ctx: &Ctx, req: &Req) -> ApiResult<Reply> {
    let id = req.id(0).to_string();
    let b = visible(st, ctx, &id)?;
    if b.status != "available" && b.status != "error" {
        return Err(ApiError::invalid_backup(
            "Backup status must be available or error",
        ));
    }
    let dependent = st.backups.values().any(|o| {
        o.id != b.id
            && o.is_incremental
            && o.volume_id == b.volume_id
            && o.created_at > b.created_at
    });
    if dependent {
        return Err(ApiError::invalid_backup(
            "Incremental backups exist for this backup.",
        ));
    }
    let pending = st.pending(None, None);
    if let Some(b) = st.backups.get_mut(&id) {
        b.status = "deleting".into();
        b.updated_at = Some(Utc::now());
        b.pending = Some(pending);
    }
    Ok(Reply::empty(StatusCode::ACCEPTED))
}

pub(crate) fn restore(st: &mut State, ctx: &Ctx, req: &Req) -> ApiResult<Reply> {
    no_extra_keys(&req.body, &["restore"])?;
    let body = require_object(&req.body, "restore")?;
    let volume_id = opt_str(body, "volume_id")?;
    let name = opt_str(body, "name")?;
    let id = req.id(0).to_string();
    let b = visible(st, ctx, &id)?.clone();
    if b.status != "available" {
        return Err(ApiError::invalid_backup("Backup status must be available"));
    }
    let target_id = match volume_id {
        Some(vid) => {
            let v = visible_volume(st, ctx, &vid)?;
            if v.status != "available" {
                return Err(ApiError::invalid_volume(
                    "Volume to be restored to must be available",
                ));
            }
            if b.size > v.size {
                return Err(ApiError::invalid_volume(format!(
                    "volume size {} is too small to restore backup of size {}.",
                    v.size, b.size
                )));
            }
            vid
        }
        None => {
            let type_id = st.default_type_id(ctx.project_id()).unwrap_or_default();
            let type_name = st.type_name(&type_id).unwrap_or_default();
            let encryption_key_id = match st.types.get(&type_id) {
                Some(t) => super::encryption::new_key(t)?,
                None => None,
            };
            let size_i = i64::try_from(b.size).unwrap_or(i64::MAX);
            let deltas = vec![
                ("volumes".to_string(), 1),
                ("gigabytes".to_string(), size_i),
                (format!("volumes_{type_name}"), 1),
                (format!("gigabytes_{type_name}"), size_i),
            ];
            if let Some((over, limit, used)) = st.over_quota(ctx.project_id(), &deltas) {
                let e = quota_error("volumes", b.size, &over, limit, used);
                // The restore controller re-raises with the bare message.
                let msg = e
                    .message
                    .split_once(": ")
                    .map_or(e.message.clone(), |(_, m)| m.to_string());
                return Err(ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, msg));
            }
            let created_at = st.next_created_at();
            let v = Volume {
                id: new_uuid(),
                project_id: ctx.project_id().to_string(),
                user_id: ctx.user_id().to_string(),
                name: Some(name.unwrap_or_else(|| format!("restore_backup_{id}"))),
                description: Some("auto-created_from_restore_from_backup".into()),
                status: "available".into(),
                previous_status: None,
                attach_status: "detached".into(),
                migration_status: None,
                size: b.size,
                availability_zone: ctx.az.clone(),
                bootable: false,
                multiattach: false,
                volume_type_id: type_id,
                snapshot_id: None,
                source_volid: None,
                group_id: None,
                metadata: BTreeMap::new(),
                admin_metadata: BTreeMap::new(),
                image_metadata: BTreeMap::new(),
                encryption_key_id,
                attachments: Vec::new(),
                host: volume_host(ctx),
                created_at,
                updated_at: None,
                pending: None,
            };
            let vid = v.id.clone();
            st.volumes.insert(vid.clone(), v);
            vid
        }
    };
    let pending = st.pending(Some("available"), None);
    let volume_name = st.volumes.get(&target_id).and_then(|v| v.name.clone());
    if let Some(v) = st.volumes.get_mut(&target_id) {
        v.set_status("restoring-backup");
        v.pending = Some(pending.clone());
    }
    if let Some(b) = st.backups.get_mut(&id) {
        b.status = "restoring".into();
        b.updated_at = Some(Utc::now());
        b.pending = Some(pending);
    }
    Ok(Reply::accepted(json!({"restore": {
        "backup_id": id,
        "volume_id": target_id,
        "volume_name": volume_name,
    }})))
}

pub(crate) fn action(st: &mut State, ctx: &Ctx, req: &Req) -> ApiResult<Reply> {
    let (name, raw) = peek(&req.body)?;
    let id = req.id(0).to_string();
    match name {
        "os-reset_status" => {
            let a = args(name, raw)?;
            let status = opt_str(&a, "status")?
                .unwrap_or_default()
                .to_ascii_lowercase();
            if status != "available" && status != "error" {
                return Err(ApiError::bad_request(format!(
                    "Backup status: {status} is invalid, valid statuses are: ['available', 'error']."
                )));
            }
            visible(st, ctx, &id)?;
            ctx.require_admin("volume_extension:backup_admin_actions:reset_status")?;
            if let Some(b) = st.backups.get_mut(&id) {
                b.status = status;
                b.pending = None;
                b.updated_at = Some(Utc::now());
            }
            Ok(Reply::empty(StatusCode::ACCEPTED))
        }
        "os-force_delete" => {
            visible(st, ctx, &id)?;
            ctx.require_admin("volume_extension:backup_admin_actions:force_delete")?;
            let pending = st.pending(None, None);
            if let Some(b) = st.backups.get_mut(&id) {
                b.status = "deleting".into();
                b.pending = Some(pending);
            }
            Ok(Reply::empty(StatusCode::ACCEPTED))
        }
        other => Err(no_such_action(other)),
    }
}
