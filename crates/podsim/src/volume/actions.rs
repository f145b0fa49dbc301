//! `POST /volumes/{id}/action`: attach/detach family, connections, extend,
//! admin actions, image metadata, readonly/bootable flags, retype, upload
//! to image and revert.

use axum::http::StatusCode;
use chrono::Utc;
use serde_json::{json, Map, Value};

use super::api::{
    int_like, opt_bool, opt_str, py_repr, strict_bool, string_map, ApiError, ApiResult, Ctx, Reply,
};
use super::model::{new_uuid, Attachment, State, Volume};
use super::quotas::{quota_error, reserve_extend};
use super::views::{connection_info, type_view};
use super::volumes::{find_type, settle_after_detach, visible, visible_mut};
use super::{glance, Req};

/// Volume statuses `os-reset_status` accepts.
const VOLUME_STATUSES: [&str; 22] = [
    "creating",
    "available",
    "deleting",
    "error",
    "error_deleting",
    "error_managing",
    "managing",
    "attaching",
    "in-use",
    "detaching",
    "maintenance",
    "restoring-backup",
    "error_restoring",
    "reserved",
    "awaiting-transfer",
    "backing-up",
    "error_backing-up",
    "error_extending",
    "downloading",
    "uploading",
    "retyping",
    "extending",
];

const MIGRATION_STATUSES: [&str; 6] = [
    "migrating",
    "error",
    "success",
    "completing",
    "none",
    "starting",
];

/// The single `{"<action>": {...}}` of an action body, as Cinder's
/// `action_peek`.
pub(crate) fn peek(body: &Value) -> ApiResult<(&str, &Value)> {
    match body.as_object() {
        Some(o) if o.len() == 1 => o
            .iter()
            .next()
            .map(|(k, v)| (k.as_str(), v))
            .ok_or_else(ApiError::malformed),
        _ => Err(ApiError::malformed()),
    }
}

/// "There is no such action: X ...".
pub(crate) fn no_such_action(name: &str) -> ApiError {
    ApiError::bad_request(format!(
        "There is no such action: {name}. Verify the request body and Content-Type header and try again."
    ))
}

/// The action's argument object (`{}` for `null`).
pub(crate) fn args(name: &str, v: &Value) -> ApiResult<Map<String, Value>> {
    match v {
        Value::Object(m) => Ok(m.clone()),
        Value::Null => Ok(Map::new()),
        other => Err(ApiError::validation(
            name,
            other,
            &format!("{} is not of type 'object'", py_repr(other)),
        )),
    }
}

fn required<'a>(m: &'a Map<String, Value>, key: &str) -> ApiResult<&'a Value> {
    m.get(key)
        .ok_or_else(|| ApiError::schema(format!("'{key}' is a required property")))
}

fn required_bool(m: &Map<String, Value>, key: &str) -> ApiResult<bool> {
    let v = required(m, key)?;
    strict_bool(v).ok_or_else(|| {
        ApiError::validation(
            key,
            v,
            &format!("{} is not valid under any of the given schemas", py_repr(v)),
        )
    })
}

/// Maps the action's name to its function; the argument object is
/// checked before the volume is looked up.
pub(crate) fn dispatch(st: &mut State, ctx: &Ctx, req: &Req) -> ApiResult<Reply> {
    let (name, raw) = peek(&req.body)?;
    let id = req.id(0);
    match name {
        "os-attach" => attach(st, ctx, id, &args(name, raw)?),
        "os-detach" => detach(st, ctx, id, &args(name, raw)?, None),
        "os-force_detach" => force_detach(st, ctx, id, &args(name, raw)?),
        "os-reserve" => reserve_volume(st, ctx, id),
        "os-unreserve" => unreserve(st, ctx, id),
        "os-begin_detaching" => begin_detaching(st, ctx, id),
        "os-roll_detaching" => roll_detaching(st, ctx, id),
        "os-initialize_connection" => initialize_connection(st, ctx, id, &args(name, raw)?),
        "os-terminate_connection" => terminate_connection(st, ctx, id, &args(name, raw)?),
        "os-extend" => extend(st, ctx, id, &args(name, raw)?),
        "os-reset_status" => reset_status(st, ctx, id, &args(name, raw)?),
        "os-force_delete" => force_delete(st, ctx, id),
        "os-set_image_metadata" => set_image_metadata(st, ctx, id, &args(name, raw)?),
        "os-unset_image_metadata" => unset_image_metadata(st, ctx, id, &args(name, raw)?),
        "os-show_image_metadata" => show_image_metadata(st, ctx, id),
        "os-update_readonly_flag" => update_readonly_flag(st, ctx, id, &args(name, raw)?),
        "os-set_bootable" => set_bootable(st, ctx, id, &args(name, raw)?),
        "os-retype" => retype(st, ctx, id, &args(name, raw)?),
        "os-volume_upload_image" => upload_image(st, ctx, id, &args(name, raw)?),
        "revert" if ctx.version.at_least(40) => revert(st, ctx, id, &args(name, raw)?),
        other => Err(no_such_action(other)),
    }
}

fn attach(st: &mut State, ctx: &Ctx, id: &str, a: &Map<String, Value>) -> ApiResult<Reply> {
    let mountpoint = match required(a, "mountpoint")? {
        Value::String(s) => s.clone(),
        other => {
            return Err(ApiError::validation(
                "mountpoint",
                other,
                &format!("{} is not of type 'string'", py_repr(other)),
            ))
        }
    };
    let instance_uuid = opt_str(a, "instance_uuid")?;
    let host_name = opt_str(a, "host_name")?;
    let mode = opt_str(a, "mode")?.unwrap_or_else(|| "rw".into());
    let v = visible_mut(st, ctx, id)?;
    if v.status == "maintenance" {
        return Err(ApiError::invalid_volume(
            "The volume cannot be attached in maintenance mode.",
        ));
    }
    if mode != "rw" && mode != "ro" {
        return Err(ApiError::bad_request(format!(
            "Invalid attaching mode '{mode}' for volume {id}."
        )));
    }
    let readonly = v.admin_metadata.get("readonly").map(String::as_str) == Some("True");
    if readonly && mode != "ro" {
        return Err(ApiError::bad_request(format!(
            "Invalid attaching mode '{mode}' for volume {id}."
        )));
    }
    if v.status == "in-use" && !v.multiattach {
        return Err(ApiError::bad_request(
            "Error attaching volume - InvalidVolume: Invalid volume: volume is already attached",
        ));
    }
    if !matches!(
        v.status.as_str(),
        "available" | "attaching" | "reserved" | "in-use"
    ) {
        return Err(ApiError::bad_request(format!(
            "Error attaching volume - InvalidVolume: Invalid volume: status must be available or attaching, but is {}",
            v.status
        )));
    }
    v.admin_metadata
        .entry("readonly".into())
        .or_insert_with(|| "False".into());
    let info = connection_info(v, &mode);
    v.attachments.push(Attachment {
        id: new_uuid(),
        volume_id: v.id.clone(),
        instance_uuid,
        attached_host: host_name,
        mountpoint: Some(mountpoint),
        attach_time: Some(Utc::now()),
        detach_time: None,
        attach_status: "attached".into(),
        attach_mode: mode.clone(),
        connector: None,
        connection_info: Some(info),
    });
    v.admin_metadata.insert("attached_mode".into(), mode);
    v.attach_status = "attached".into();
    v.set_status("in-use");
    Ok(Reply::empty(StatusCode::ACCEPTED))
}

fn detach(
    st: &mut State,
    ctx: &Ctx,
    id: &str,
    a: &Map<String, Value>,
    prefix: Option<&str>,
) -> ApiResult<Reply> {
    let prefix = prefix.unwrap_or("Error detaching volume");
    let attachment_id = opt_str(a, "attachment_id")?;
    let v = visible_mut(st, ctx, id)?;
    if v.status == "maintenance" {
        return Err(ApiError::invalid_volume(
            "The volume cannot be detached in maintenance mode.",
        ));
    }
    match attachment_id {
        Some(aid) => {
            let before = v.attachments.len();
            v.attachments.retain(|x| x.id != aid);
            if v.attachments.len() == before {
                return Err(ApiError::bad_request(format!(
                    "{prefix} - VolumeAttachmentNotFound: Volume attachment could not be found with filter: attachment_id = {aid}."
                )));
            }
        }
        None => {
            if v.attachments.len() > 1 {
                return Err(ApiError::bad_request(format!(
                    "{prefix} - InvalidVolume: Invalid volume: Detach volume failed: More than one attachment, but no attachment_id provided."
                )));
            }
            v.attachments.clear();
        }
    }
    settle_after_detach(v);
    Ok(Reply::empty(StatusCode::ACCEPTED))
}

/// `os-force_detach`: an admin's detach, with its own error message.
fn force_detach(st: &mut State, ctx: &Ctx, id: &str, a: &Map<String, Value>) -> ApiResult<Reply> {
    visible(st, ctx, id)?;
    ctx.require_admin("volume_extension:volume_admin_actions:force_detach")?;
    detach(st, ctx, id, a, Some("Error force detaching volume"))
}

fn reserve_volume(st: &mut State, ctx: &Ctx, id: &str) -> ApiResult<Reply> {
    let v = visible_mut(st, ctx, id)?;
    let ok = v.status == "available" || (v.multiattach && v.status == "in-use");
    if !ok {
        let expected = if v.multiattach {
            "available or in-use"
        } else {
            "available"
        };
        return Err(ApiError::invalid_volume(format!(
            "Volume status must be {expected} to reserve, but the status is {}.",
            v.status
        )));
    }
    v.set_status("attaching");
    Ok(Reply::empty(StatusCode::ACCEPTED))
}

fn unreserve(st: &mut State, ctx: &Ctx, id: &str) -> ApiResult<Reply> {
    let v = visible_mut(st, ctx, id)?;
    if v.status == "attaching" {
        let next = if v.attachments.is_empty() {
            "available"
        } else {
            "in-use"
        };
        v.set_status(next);
    }
    Ok(Reply::empty(StatusCode::ACCEPTED))
}

fn begin_detaching(st: &mut State, ctx: &Ctx, id: &str) -> ApiResult<Reply> {
    let v = visible_mut(st, ctx, id)?;
    let migrating = matches!(
        v.migration_status.as_deref(),
        Some("migrating" | "starting" | "completing")
    );
    if v.status == "in-use" && v.attach_status == "attached" && !migrating {
        v.set_status("detaching");
    } else if !migrating {
        return Err(ApiError::invalid_volume(
            "Unable to detach volume. Volume status must be 'in-use' and attach_status must be 'attached' to detach.",
        ));
    }
    Ok(Reply::empty(StatusCode::ACCEPTED))
}

/// `os-roll_detaching`: back to `in-use` if still detaching.
fn roll_detaching(st: &mut State, ctx: &Ctx, id: &str) -> ApiResult<Reply> {
    let v = visible_mut(st, ctx, id)?;
    if v.status == "detaching" {
        v.set_status("in-use");
    }
    Ok(Reply::empty(StatusCode::ACCEPTED))
}

/// `os-initialize_connection`: the connection info for the connector
/// (read-only if the volume is flagged so).
fn initialize_connection(
    st: &mut State,
    ctx: &Ctx,
    id: &str,
    a: &Map<String, Value>,
) -> ApiResult<Reply> {
    let connector = required(a, "connector")?;
    if !connector.is_object() {
        return Err(ApiError::validation(
            "connector",
            connector,
            &format!("{} is not of type 'object'", py_repr(connector)),
        ));
    }
    let v = visible(st, ctx, id)?;
    if v.status == "maintenance" {
        return Err(ApiError::invalid_volume(
            "The volume connection cannot be initialized in maintenance mode.",
        ));
    }
    let mode = if v.admin_metadata.get("readonly").map(String::as_str) == Some("True") {
        "ro"
    } else {
        "rw"
    };
    let mut info = connection_info(v, mode);
    if let Some(o) = info.as_object_mut() {
        o.insert(
            "enforce_multipath".into(),
            connector
                .get("enforce_multipath")
                .cloned()
                .unwrap_or(json!(false)),
        );
    }
    Ok(Reply::ok(json!({"connection_info": info})))
}

/// `os-terminate_connection`: nothing to undo; only checked.
fn terminate_connection(
    st: &mut State,
    ctx: &Ctx,
    id: &str,
    a: &Map<String, Value>,
) -> ApiResult<Reply> {
    required(a, "connector")?;
    visible(st, ctx, id)?;
    Ok(Reply::empty(StatusCode::ACCEPTED))
}

fn extend(st: &mut State, ctx: &Ctx, id: &str, a: &Map<String, Value>) -> ApiResult<Reply> {
    let raw = required(a, "new_size")?;
    let new_size = match int_like(raw) {
        Some(n) if n >= 1 => u64::try_from(n).unwrap_or(0),
        Some(_) => {
            return Err(ApiError::validation(
                "new_size",
                raw,
                &format!("{} is less than the minimum of 1", py_repr(raw)),
            ))
        }
        None => {
            return Err(ApiError::validation(
                "new_size",
                raw,
                &format!("{} is not of type 'integer', 'string'", py_repr(raw)),
            ))
        }
    };
    let v = visible(st, ctx, id)?;
    let attached = ctx.version.at_least(42) && v.status == "in-use";
    if new_size <= v.size {
        return Err(ApiError::invalid_input(format!(
            "New size for extend must be greater than current size. (current: {}, extended: {new_size}).",
            v.size
        )));
    }
    let expected = if attached { "in-use" } else { "available" };
    if v.status != expected {
        return Err(ApiError::invalid_volume(format!(
            "Volume {} status must be '{{'status': '{expected}'}}' to extend, currently {}.",
            v.id, v.status
        )));
    }
    let type_name = st.type_name(&v.volume_type_id).unwrap_or_default();
    let (project, delta) = (v.project_id.clone(), new_size - v.size);
    reserve_extend(st, &project, &type_name, new_size, delta)?;
    let pending = st.pending(Some(expected), Some(new_size));
    let v = visible_mut(st, ctx, id)?;
    v.previous_status = Some(v.status.clone());
    v.set_status("extending");
    v.pending = Some(pending);
    Ok(Reply::empty(StatusCode::ACCEPTED))
}

fn reset_status(st: &mut State, ctx: &Ctx, id: &str, a: &Map<String, Value>) -> ApiResult<Reply> {
    let status = opt_str(a, "status")?.map(|s| s.to_ascii_lowercase());
    let attach_status = opt_str(a, "attach_status")?.map(|s| s.to_ascii_lowercase());
    let migration_status = opt_str(a, "migration_status")?.map(|s| s.to_ascii_lowercase());
    if let Some(extra) = a
        .keys()
        .find(|k| !["status", "attach_status", "migration_status"].contains(&k.as_str()))
    {
        return Err(ApiError::schema(format!(
            "Additional properties are not allowed ('{extra}' was unexpected)"
        )));
    }
    if status.is_none() && attach_status.is_none() && migration_status.is_none() {
        return Err(ApiError::bad_request(
            "Must specify 'status', 'attach_status' or 'migration_status' for update.",
        ));
    }
    if let Some(s) = &status {
        if !VOLUME_STATUSES.contains(&s.as_str()) {
            return Err(ApiError::bad_request(format!(
                "Volume status: {s} is invalid, valid statuses are: ({}).",
                VOLUME_STATUSES.map(|x| format!("'{x}'")).join(", ")
            )));
        }
    }
    if let Some(s) = &attach_status {
        if s != "attached" && s != "detached" {
            return Err(ApiError::bad_request(format!(
                "Volume attach status: {s} is invalid, valid statuses are: ['attached', 'detached']."
            )));
        }
    }
    if let Some(s) = &migration_status {
        if !MIGRATION_STATUSES.contains(&s.as_str()) {
            return Err(ApiError::bad_request(format!(
                "Volume migration status: {s} is invalid, valid statuses are: ({}).",
                MIGRATION_STATUSES.map(|x| format!("'{x}'")).join(", ")
            )));
        }
    }
    if !st.volumes.contains_key(id) {
        return Err(ApiError::volume_not_found(id));
    }
    ctx.require_admin("volume_extension:volume_admin_actions:reset_status")?;
    if status.as_deref() == Some("deleting") {
        return Err(ApiError::bad_request("Cannot reset-state to deleting"));
    }
    let v = st
        .volumes
        .get_mut(id)
        .ok_or_else(|| ApiError::volume_not_found(id))?;
    if status.as_deref() == Some("in-use") && v.attachments.is_empty() {
        return Err(ApiError::bad_request(
            "Cannot reset-state to in-use because volume does not have any attachments.",
        ));
    }
    if let Some(s) = status {
        v.status = s;
    }
    if let Some(s) = attach_status {
        if s == "detached" {
            v.attachments.clear();
            v.admin_metadata.remove("attached_mode");
        }
        v.attach_status = s;
    }
    if let Some(s) = migration_status {
        v.migration_status = (s != "none").then_some(s);
    }
    v.pending = None;
    v.previous_status = None;
    v.touch();
    Ok(Reply::empty(StatusCode::ACCEPTED))
}

/// `os-force_delete`: an admin's delete from any status, with the
/// volume's snapshots.
fn force_delete(st: &mut State, ctx: &Ctx, id: &str) -> ApiResult<Reply> {
    visible(st, ctx, id)?;
    ctx.require_admin("volume_extension:volume_admin_actions:force_delete")?;
    let pending = st.pending(None, None);
    if let Some(v) = st.volumes.get_mut(id) {
        if v.attach_status == "attached" || v.migration_status.as_deref() == Some("migrating") {
            return Err(ApiError::invalid_volume(
                "Volume  must not be migrating, attached, belong to a group, have snapshots, \
                 awaiting a transfer, or be disassociated from snapshots after volume transfer.",
            ));
        }
        v.set_status("deleting");
        v.pending = Some(pending.clone());
    }
    for s in st.snapshots.values_mut().filter(|s| s.volume_id == id) {
        s.status = "deleting".into();
        s.pending = Some(pending.clone());
    }
    Ok(Reply::empty(StatusCode::ACCEPTED))
}

/// `os-set_image_metadata`: merged into `volume_image_metadata`.
fn set_image_metadata(
    st: &mut State,
    ctx: &Ctx,
    id: &str,
    a: &Map<String, Value>,
) -> ApiResult<Reply> {
    let meta = string_map("metadata", required(a, "metadata")?)?;
    let v = visible_mut(st, ctx, id)?;
    if matches!(v.status.as_str(), "maintenance" | "uploading") {
        return Err(ApiError::invalid_volume(format!(
            "Updating volume metadata is not allowed for volumes in {} status.",
            v.status
        )));
    }
    v.image_metadata.extend(meta);
    v.touch();
    Ok(Reply::ok(json!({"metadata": v.image_metadata})))
}

/// `os-unset_image_metadata`: one key removed.
fn unset_image_metadata(
    st: &mut State,
    ctx: &Ctx,
    id: &str,
    a: &Map<String, Value>,
) -> ApiResult<Reply> {
    let key = match required(a, "key")? {
        Value::String(s) => s.clone(),
        other => {
            return Err(ApiError::validation(
                "key",
                other,
                &format!("{} is not of type 'string'", py_repr(other)),
            ))
        }
    };
    let v = visible_mut(st, ctx, id)?;
    if !v.image_metadata.contains_key(&key) {
        return Err(ApiError::not_found(format!(
            "Glance metadata for volume/snapshot {id} cannot be found."
        )));
    }
    v.image_metadata.remove(&key);
    v.touch();
    Ok(Reply::empty(StatusCode::OK))
}

/// `os-show_image_metadata`.
fn show_image_metadata(st: &mut State, ctx: &Ctx, id: &str) -> ApiResult<Reply> {
    let v = visible(st, ctx, id)?;
    Ok(Reply::ok(json!({"metadata": v.image_metadata})))
}

/// `os-update_readonly_flag`: only while `available`.
fn update_readonly_flag(
    st: &mut State,
    ctx: &Ctx,
    id: &str,
    a: &Map<String, Value>,
) -> ApiResult<Reply> {
    let flag = required_bool(a, "readonly")?;
    let v = visible_mut(st, ctx, id)?;
    if v.status != "available" {
        return Err(ApiError::invalid_volume(format!(
            "Volume {} status must be available to update readonly flag, but current status is: {}.",
            v.id, v.status
        )));
    }
    v.admin_metadata.insert(
        "readonly".into(),
        if flag { "True" } else { "False" }.into(),
    );
    v.touch();
    Ok(Reply::empty(StatusCode::ACCEPTED))
}

/// `os-set_bootable`.
fn set_bootable(st: &mut State, ctx: &Ctx, id: &str, a: &Map<String, Value>) -> ApiResult<Reply> {
    let flag = required_bool(a, "bootable")?;
    let v = visible_mut(st, ctx, id)?;
    v.bootable = flag;
    v.touch();
    Ok(Reply::empty(StatusCode::OK))
}

fn retype(st: &mut State, ctx: &Ctx, id: &str, a: &Map<String, Value>) -> ApiResult<Reply> {
    let new_type = match required(a, "new_type")? {
        Value::String(s) => s.clone(),
        other => {
            return Err(ApiError::validation(
                "new_type",
                other,
                &format!("{} is not of type 'string'", py_repr(other)),
            ))
        }
    };
    let policy = opt_str(a, "migration_policy")?;
    if let Some(p) = &policy {
        if p != "never" && p != "on-demand" {
            return Err(ApiError::validation(
                "migration_policy",
                &json!(p),
                &format!("'{p}' is not one of ['on-demand', 'never']"),
            ));
        }
    }
    visible(st, ctx, id)?;
    // The type is looked up with an elevated context: every type counts.
    let admin_ctx = Ctx {
        is_admin: true,
        ..ctx.clone()
    };
    let type_id = find_type(st, &admin_ctx, &new_type)?;
    let v = visible(st, ctx, id)?;
    let migrating = matches!(
        v.migration_status.as_deref(),
        Some("migrating" | "starting" | "completing")
    );
    if !matches!(v.status.as_str(), "available" | "in-use")
        || migrating
        || v.volume_type_id == type_id
        || v.group_id.is_some()
    {
        return Err(ApiError::invalid_volume(
            "Retype needs volume to be in available or in-use state, not be part of an active \
             migration or a consistency group, requested type has to be different that the one \
             from the volume, and for in-use volumes front-end qos specs cannot change.",
        ));
    }
    let new_name = st.type_name(&type_id).unwrap_or_default();
    let (project, size) = (v.project_id.clone(), v.size);
    let deltas = vec![
        (format!("volumes_{new_name}"), 1),
        (
            format!("gigabytes_{new_name}"),
            i64::try_from(size).unwrap_or(i64::MAX),
        ),
    ];
    if let Some((over, limit, used)) = st.over_quota(&project, &deltas) {
        return Err(quota_error("volumes", size, &over, limit, used));
    }
    let multiattach = st.types.get(&type_id).is_some_and(|t| t.is_multiattach());
    let back = v.status.clone();
    let pending = st.pending(Some(&back), None);
    let v = visible_mut(st, ctx, id)?;
    v.volume_type_id = type_id;
    v.multiattach = multiattach;
    v.previous_status = Some(back);
    v.set_status("retyping");
    v.pending = Some(pending);
    Ok(Reply::empty(StatusCode::ACCEPTED))
}

fn upload_image(st: &mut State, ctx: &Ctx, id: &str, a: &Map<String, Value>) -> ApiResult<Reply> {
    let image_name = match required(a, "image_name")? {
        Value::String(s) if !s.trim().is_empty() => s.clone(),
        other => {
            return Err(ApiError::validation(
                "image_name",
                other,
                &format!("{} is not of type 'string'", py_repr(other)),
            ))
        }
    };
    let force = match a.get("force") {
        None => false,
        Some(v) => strict_bool(v).ok_or_else(|| {
            ApiError::validation(
                "force",
                v,
                &format!("{} is not valid under any of the given schemas", py_repr(v)),
            )
        })?,
    };
    let disk_format = opt_str(a, "disk_format")?.unwrap_or_else(|| "raw".into());
    let container_format = opt_str(a, "container_format")?.unwrap_or_else(|| "bare".into());
    let (visibility, protected) = if ctx.version.at_least(1) {
        (
            opt_str(a, "visibility")?.unwrap_or_else(|| "private".into()),
            opt_bool(a, "protected")?.unwrap_or(false),
        )
    } else {
        ("private".to_string(), false)
    };
    if visibility == "public" {
        ctx.require_admin("volume_extension:volume_actions:upload_public")?;
    }
    // enable_force_upload is off by default: force is ignored.
    let _ = force;
    let v = visible(st, ctx, id)?;
    if v.status != "available" {
        return Err(ApiError::invalid_volume(format!(
            "Volume {} status must be available",
            v.id
        )));
    }
    let vtype = st
        .types
        .get(&v.volume_type_id)
        .map(|t| type_view(ctx, t))
        .unwrap_or(Value::Null);
    let min_disk = v
        .image_metadata
        .get("min_disk")
        .and_then(|m| m.parse().ok())
        .unwrap_or(0);
    let image_id = glance::register_upload(
        ctx,
        &image_name,
        &disk_format,
        &container_format,
        &visibility,
        protected,
        min_disk,
    );
    let pending = st.pending(Some("available"), None);
    let v = visible_mut(st, ctx, id)?;
    v.previous_status = Some(v.status.clone());
    v.set_status("uploading");
    v.pending = Some(pending);
    let mut resp = Map::new();
    resp.insert("id".into(), json!(v.id));
    resp.insert("updated_at".into(), super::model::ts_opt(v.updated_at));
    resp.insert("status".into(), json!("uploading"));
    resp.insert("display_description".into(), json!(v.description));
    resp.insert("size".into(), json!(v.size));
    resp.insert("volume_type".into(), vtype);
    resp.insert("image_id".into(), json!(image_id));
    resp.insert("container_format".into(), json!(container_format));
    resp.insert("disk_format".into(), json!(disk_format));
    resp.insert("image_name".into(), json!(image_name));
    if ctx.version.at_least(1) {
        resp.insert("protected".into(), json!(protected));
        resp.insert("visibility".into(), json!(visibility));
    }
    Ok(Reply::accepted(json!({"os-volume_upload_image": resp})))
}

fn revert(st: &mut State, ctx: &Ctx, id: &str, a: &Map<String, Value>) -> ApiResult<Reply> {
    let snapshot_id = opt_str(a, "snapshot_id")?;
    let v: &Volume = visible(st, ctx, id)?;
    let latest = st
        .snapshots
        .values()
        .filter(|s| s.volume_id == v.id)
        .max_by_key(|s| s.created_at);
    let Some(latest) = latest else {
        return Err(ApiError::bad_request(format!(
            "Volume {} doesn't have any snapshots.",
            v.id
        )));
    };
    if snapshot_id.as_deref() != Some(latest.id.as_str()) {
        return Err(ApiError::bad_request(format!(
            "Specified snapshot {} is None or not the latest one of volume {}.",
            snapshot_id.as_deref().unwrap_or("None"),
            v.id
        )));
    }
    if v.size != latest.size {
        return Err(ApiError::bad_request(format!(
            "Can't revert volume {} to its latest snapshot {}. The volume size must be equal to the snapshot size.",
            v.id, latest.id
        )));
    }
    if v.status != "available" {
        return Err(ApiError::conflict(format!(
            "Invalid volume: Can't revert volume {} to its latest snapshot {}. Volume's status must be 'available'.",
            v.id, latest.id
        )));
    }
    if latest.status != "available" {
        return Err(ApiError::conflict(format!(
            "Invalid snapshot: Can't revert volume {} to its latest snapshot {}. Snapshot's status must be 'available'.",
            v.id, latest.id
        )));
    }
    let pending = st.pending(Some("available"), None);
    let v = visible_mut(st, ctx, id)?;
    v.set_status("reverting");
    v.pending = Some(pending);
    Ok(Reply::empty(StatusCode::ACCEPTED))
}
