//! `/snapshots`: list (summary, detail), create, show, update, delete,
//! metadata and actions (`os-reset_status`, `os-update_snapshot_status`,
//! `os-force_delete`).

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
use super::model::{new_uuid, Snapshot, State};
use super::quotas::reserve;
use super::views::snapshot_view;
use super::volumes::{meta_body, meta_item, parse_dict_filter, visible as visible_volume};
use super::Req;

const SORT_KEYS: [&str; 10] = [
    "id",
    "display_name",
    "display_description",
    "status",
    "volume_size",
    "volume_id",
    "project_id",
    "user_id",
    "created_at",
    "updated_at",
];

const USER_FILTERS: [&str; 6] = [
    "name",
    "status",
    "volume_id",
    "metadata",
    "availability_zone",
    "consumes_quota",
];

const SNAPSHOT_STATUSES: [&str; 10] = [
    "error",
    "available",
    "creating",
    "deleting",
    "deleted",
    "updating",
    "error_deleting",
    "unmanaging",
    "backing-up",
    "restoring",
];

/// "Since microversion 3.66 the 'force' flag is invalid for this request..."
const SNAPSHOT_IN_USE_FLAG_MSG: &str =
    "Since microversion 3.66 the 'force' flag is invalid for this \
request.  For backward compatability, however, when the 'force' flag is passed with a value \
evaluating to True, it is silently ignored.";

fn sort_key(s: &Snapshot, key: &str) -> Key {
    match key {
        "id" => Key::str(&s.id),
        "display_name" => Key::opt_str(s.name.as_deref()),
        "display_description" => Key::opt_str(s.description.as_deref()),
        "status" => Key::str(&s.status),
        "volume_size" => Key::Int(i64::try_from(s.size).unwrap_or(i64::MAX)),
        "volume_id" => Key::str(&s.volume_id),
        "project_id" => Key::str(&s.project_id),
        "user_id" => Key::str(&s.user_id),
        "created_at" => Key::Time(s.created_at),
        "updated_at" => s.updated_at.map_or(Key::Null, Key::Time),
        _ => Key::Null,
    }
}

pub(crate) fn visible<'a>(st: &'a State, ctx: &Ctx, id: &str) -> ApiResult<&'a Snapshot> {
    st.snapshots
        .get(id)
        .filter(|s| ctx.is_admin || s.project_id == ctx.project_id())
        .ok_or_else(|| ApiError::snapshot_not_found(id))
}

fn visible_mut<'a>(st: &'a mut State, ctx: &Ctx, id: &str) -> ApiResult<&'a mut Snapshot> {
    st.snapshots
        .get_mut(id)
        .filter(|s| ctx.is_admin || s.project_id == ctx.project_id())
        .ok_or_else(|| ApiError::snapshot_not_found(id))
}

fn list(st: &mut State, ctx: &Ctx, detail: bool) -> ApiResult<Reply> {
    let paging = Paging::from_ctx(ctx)?;
    let with_count =
        ctx.version.at_least(45) && ctx.has_param("with_count") && bool_param(ctx, "with_count")?;
    let all_tenants =
        ctx.is_admin && ctx.has_param("all_tenants") && bool_param(ctx, "all_tenants")?;
    let mut filters = Vec::new();
    for (k, v) in &ctx.query {
        if PAGING_PARAMS.contains(&k.as_str()) || k == "with_count" || k == "all_tenants" {
            continue;
        }
        if !ctx.is_admin && !USER_FILTERS.contains(&k.as_str()) {
            continue;
        }
        if k == "metadata" && !ctx.version.at_least(22) {
            continue;
        }
        filters.push((k.clone(), v.clone()));
    }
    let mut unknown = false;
    let candidates: Vec<&Snapshot> = st
        .snapshots
        .values()
        .filter(|s| all_tenants || s.project_id == ctx.project_id())
        .filter(|s| {
            filters.iter().all(|(k, v)| match k.as_str() {
                "name" | "display_name" => s.name.as_deref() == Some(v.as_str()),
                "status" => s.status == *v,
                "volume_id" => s.volume_id == *v,
                "project_id" => s.project_id == *v,
                "user_id" => s.user_id == *v,
                "availability_zone" => st
                    .volumes
                    .get(&s.volume_id)
                    .is_some_and(|vol| vol.availability_zone == *v),
                "consumes_quota" | "use_quota" => true,
                "metadata" => parse_dict_filter(v)
                    .is_some_and(|want| want.iter().all(|(mk, mv)| s.metadata.get(mk) == Some(mv))),
                _ => {
                    unknown = true;
                    false
                }
            })
        })
        .collect();
    let candidates = if unknown { Vec::new() } else { candidates };
    let count = candidates.len();
    let marker = match &paging.marker {
        None => None,
        Some(m) => Some(
            st.snapshots
                .get(m)
                .filter(|s| all_tenants || s.project_id == ctx.project_id())
                .ok_or_else(|| ApiError::snapshot_not_found(m))?,
        ),
    };
    let page = paging.apply(candidates, marker.as_ref(), &SORT_KEYS, |s, k| {
        sort_key(s, k)
    })?;
    let items: Vec<Value> = page.iter().map(|s| snapshot_view(ctx, s, detail)).collect();
    let mut out = Map::new();
    out.insert("snapshots".into(), json!(items));
    let collection = if detail {
        "snapshots/detail"
    } else {
        "snapshots"
    };
    if let Some(l) = paging.next_links(
        ctx,
        collection,
        page.last().map(|s| s.id.as_str()),
        page.len(),
        with_count.then_some(count),
    ) {
        out.insert("snapshots_links".into(), l);
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

pub(crate) fn create(st: &mut State, ctx: &Ctx, req: &Req) -> ApiResult<Reply> {
    no_extra_keys(&req.body, &["snapshot"])?;
    let body = require_object(&req.body, "snapshot")?;
    no_extra_keys(
        &Value::Object(body.clone()),
        &[
            "name",
            "display_name",
            "description",
            "volume_id",
            "force",
            "metadata",
        ],
    )?;
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
    let name = match opt_name(body, "name")? {
        Some(n) => Some(n),
        None => opt_name(body, "display_name")?,
    };
    let description = opt_name(body, "description")?;
    let metadata = match body.get("metadata") {
        None | Some(Value::Null) => BTreeMap::new(),
        Some(m) => string_map("metadata", m)?,
    };
    let force = match body.get("force") {
        None => None,
        Some(v) => Some(strict_bool(v).ok_or_else(|| {
            ApiError::validation(
                "force",
                v,
                &format!("{} is not valid under any of the given schemas", py_repr(v)),
            )
        })?),
    };
    let vol = visible_volume(st, ctx, &volume_id)?.clone();
    if ctx.version.at_least(66) && force == Some(false) {
        return Err(ApiError::bad_request(SNAPSHOT_IN_USE_FLAG_MSG));
    }
    if vol.status == "maintenance" {
        return Err(ApiError::invalid_volume(
            "The snapshot cannot be created when the volume is in maintenance mode.",
        ));
    }
    if matches!(
        vol.migration_status.as_deref(),
        Some("migrating" | "starting" | "completing")
    ) {
        return Err(ApiError::invalid_volume(
            "Snapshot cannot be created while volume is migrating.",
        ));
    }
    if vol.status == "error" {
        return Err(ApiError::invalid_volume(
            "The snapshot cannot be created when the volume is in error status.",
        ));
    }
    let allow_in_use = force == Some(true) || ctx.version.at_least(66);
    let valid: &[&str] = if allow_in_use {
        &["available", "in-use"]
    } else {
        &["available"]
    };
    if !valid.contains(&vol.status.as_str()) {
        return Err(ApiError::invalid_volume(format!(
            "Volume {} status must be {}, but current status is: {}.",
            vol.id,
            valid.join(", "),
            vol.status
        )));
    }
    let type_name = st.type_name(&vol.volume_type_id).unwrap_or_default();
    reserve(st, &vol.project_id, "snapshots", &type_name, vol.size)?;
    let created_at = st.next_created_at();
    let snap = Snapshot {
        id: new_uuid(),
        project_id: ctx.project_id().to_string(),
        user_id: ctx.user_id().to_string(),
        volume_id: vol.id.clone(),
        volume_type_id: vol.volume_type_id.clone(),
        name,
        description,
        status: "creating".into(),
        progress: "0%".into(),
        size: vol.size,
        metadata,
        created_at,
        updated_at: None,
        pending: Some(st.pending(Some("available"), None)),
    };
    let view = snapshot_view(ctx, &snap, false);
    st.snapshots.insert(snap.id.clone(), snap);
    Ok(Reply::accepted(json!({"snapshot": view})))
}

pub(crate) fn show(st: &mut State, ctx: &Ctx, req: &Req) -> ApiResult<Reply> {
    let s = visible(st, ctx, req.id(0))?;
    Ok(Reply::ok(json!({"snapshot": snapshot_view(ctx, s, true)})))
}

pub(crate) fn update(st: &mut State, ctx: &Ctx, req: &Req) -> ApiResult<Reply> {
    no_extra_keys(&req.body, &["snapshot"])?;
    let body = require_object(&req.body, "snapshot")?;
    no_extra_keys(
        &Value::Object(body.clone()),
        &["name", "description", "display_name", "display_description"],
    )?;
    if body.is_empty() {
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
    let s = visible_mut(st, ctx, req.id(0))?;
    if let Some(n) = name {
        s.name = n;
    }
    if let Some(d) = description {
        s.description = d;
    }
    s.updated_at = Some(Utc::now());
    Ok(Reply::ok(json!({"snapshot": snapshot_view(ctx, s, false)})))
}

pub(crate) fn delete(st: &mut State, ctx: &Ctx, req: &Req) -> ApiResult<Reply> {
    let pending = st.pending(None, None);
    let s = visible_mut(st, ctx, req.id(0))?;
    if s.status != "available" && s.status != "error" {
        return Err(ApiError::invalid_snapshot(
            "Snapshot status must be available or error and must not be part of a group.",
        ));
    }
    s.status = "deleting".into();
    s.updated_at = Some(Utc::now());
    s.pending = Some(pending);
    Ok(Reply::empty(StatusCode::ACCEPTED))
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
            if !SNAPSHOT_STATUSES.contains(&status.as_str()) {
                return Err(ApiError::bad_request(format!(
                    "Snapshot status: {status} is invalid, valid statuses are: ({}).",
                    SNAPSHOT_STATUSES.map(|x| format!("'{x}'")).join(", ")
                )));
            }
            if !st.snapshots.contains_key(&id) {
                return Err(ApiError::snapshot_not_found(&id));
            }
            ctx.require_admin("volume_extension:snapshot_admin_actions:reset_status")?;
            let s = visible_mut(st, ctx, &id)?;
            s.status = status;
            s.pending = None;
            s.updated_at = Some(Utc::now());
            Ok(Reply::empty(StatusCode::ACCEPTED))
        }
        "os-update_snapshot_status" => {
            let a = args(name, raw)?;
            let status = opt_str(&a, "status")?.unwrap_or_default();
            let progress = opt_str(&a, "progress")?;
            let s = visible_mut(st, ctx, &id)?;
            let allowed: &[&str] = match s.status.as_str() {
                "creating" => &["creating", "available", "error"],
                "deleting" => &["deleting", "error_deleting"],
                other => {
                    return Err(ApiError::bad_request(format!(
                        "Snapshot status {other} not allowed for update_snapshot_status"
                    )))
                }
            };
            if !allowed.contains(&status.as_str()) {
                return Err(ApiError::bad_request(format!(
                    "Provided snapshot status {status} not allowed for snapshot with status {}.",
                    s.status
                )));
            }
            s.status = status;
            if let Some(p) = progress {
                s.progress = p;
            }
            s.pending = None;
            s.updated_at = Some(Utc::now());
            Ok(Reply::empty(StatusCode::ACCEPTED))
        }
        "os-force_delete" => {
            visible(st, ctx, &id)?;
            ctx.require_admin("volume_extension:snapshot_admin_actions:force_delete")?;
            let pending = st.pending(None, None);
            let s = visible_mut(st, ctx, &id)?;
            s.status = "deleting".into();
            s.pending = Some(pending);
            Ok(Reply::empty(StatusCode::ACCEPTED))
        }
        other => Err(no_such_action(other)),
    }
}

// ------------------------------------------------------------- metadata

fn no_key(id: &str, key: &str) -> ApiError {
    ApiError::not_found(format!("Snapshot {id} has no metadata with key {key}."))
}

pub(crate) fn meta_index(st: &mut State, ctx: &Ctx, req: &Req) -> ApiResult<Reply> {
    let s = visible(st, ctx, req.id(0))?;
    Ok(Reply::ok(json!({"metadata": s.metadata})))
}

pub(crate) fn meta_create(st: &mut State, ctx: &Ctx, req: &Req) -> ApiResult<Reply> {
    let meta = meta_body(&req.body, "metadata")?;
    let s = visible_mut(st, ctx, req.id(0))?;
    s.metadata.extend(meta);
    s.updated_at = Some(Utc::now());
    Ok(Reply::ok(json!({"metadata": s.metadata})))
}

pub(crate) fn meta_replace(st: &mut State, ctx: &Ctx, req: &Req) -> ApiResult<Reply> {
    let meta = meta_body(&req.body, "metadata")?;
    let s = visible_mut(st, ctx, req.id(0))?;
    s.metadata = meta;
    s.updated_at = Some(Utc::now());
    Ok(Reply::ok(json!({"metadata": s.metadata})))
}

pub(crate) fn meta_show(st: &mut State, ctx: &Ctx, req: &Req) -> ApiResult<Reply> {
    let s = visible(st, ctx, req.id(0))?;
    let key = req.id(1);
    match s.metadata.get(key) {
        Some(v) => Ok(Reply::ok(json!({"meta": {key: v}}))),
        None => Err(no_key(&s.id, key)),
    }
}

pub(crate) fn meta_update(st: &mut State, ctx: &Ctx, req: &Req) -> ApiResult<Reply> {
    let item = meta_item(req)?;
    let s = visible_mut(st, ctx, req.id(0))?;
    s.metadata.extend(item.clone());
    s.updated_at = Some(Utc::now());
    Ok(Reply::ok(json!({"meta": item})))
}

pub(crate) fn meta_delete(st: &mut State, ctx: &Ctx, req: &Req) -> ApiResult<Reply> {
    let key = req.id(1).to_string();
    let s = visible_mut(st, ctx, req.id(0))?;
    if s.metadata.remove(&key).is_none() {
        return Err(no_key(&s.id, &key));
    }
    s.updated_at = Some(Utc::now());
    Ok(Reply::empty(StatusCode::OK))
}
