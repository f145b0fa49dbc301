//! The attachments API (3.27+), which real Nova uses: create (reserve, or
//! reserve + connect when a connector is given), show, list, update
//! (connect), `os-complete` (3.44+) and delete.

use axum::http::StatusCode;
use chrono::Utc;
use serde_json::{json, Map, Value};

use super::actions::{no_such_action, peek};
use super::api::{
    bool_param, no_extra_keys, opt_str, py_repr, require_object, ApiError, ApiResult, Ctx, Reply,
};
use super::model::{new_uuid, Attachment, State, Volume};
use super::views::{attachment_detail, attachment_summary, connection_info};
use super::volumes::settle_after_detach;
use super::Req;

fn gate(ctx: &Ctx, minor: u32) -> ApiResult<()> {
    if ctx.version.at_least(minor) {
        Ok(())
    } else {
        Err(ApiError::no_route())
    }
}

fn not_found(id: &str) -> ApiError {
    ApiError::not_found(format!(
        "Volume attachment could not be found with filter: attachment_id = {id}."
    ))
}

/// The volume holding attachment `id`, if the caller may see it.
fn find<'a>(st: &'a State, ctx: &Ctx, id: &str) -> ApiResult<(&'a Volume, &'a Attachment)> {
    st.volumes
        .values()
        .filter(|v| ctx.is_admin || v.project_id == ctx.project_id())
        .find_map(|v| v.attachments.iter().find(|a| a.id == id).map(|a| (v, a)))
        .ok_or_else(|| not_found(id))
}

fn find_volume_id(st: &State, ctx: &Ctx, id: &str) -> ApiResult<String> {
    find(st, ctx, id).map(|(v, _)| v.id.clone())
}

fn list(st: &mut State, ctx: &Ctx, detail: bool) -> ApiResult<Reply> {
    gate(ctx, 27)?;
    let all_tenants =
        ctx.is_admin && ctx.has_param("all_tenants") && bool_param(ctx, "all_tenants")?;
    let filter = |key: &str| ctx.param(key).map(str::to_string);
    let (volume_id, status, instance_id, attach_status) = (
        filter("volume_id"),
        filter("status"),
        filter("instance_id"),
        filter("attach_status"),
    );
    let mut items: Vec<&Attachment> = st
        .volumes
        .values()
        .filter(|v| all_tenants || v.project_id == ctx.project_id())
        .flat_map(|v| v.attachments.iter())
        .filter(|a| volume_id.as_deref().is_none_or(|x| a.volume_id == x))
        .filter(|a| status.as_deref().is_none_or(|x| a.attach_status == x))
        .filter(|a| {
            attach_status
                .as_deref()
                .is_none_or(|x| a.attach_status == x)
        })
        .filter(|a| {
            instance_id
                .as_deref()
                .is_none_or(|x| a.instance_uuid.as_deref() == Some(x))
        })
        .collect();
    items.sort_by(|a, b| {
        b.attach_time
            .cmp(&a.attach_time)
            .then_with(|| b.id.cmp(&a.id))
    });
    if let Some(m) = ctx.param("marker") {
        let pos = items
            .iter()
            .position(|a| a.id == m)
            .ok_or_else(|| not_found(m))?;
        items.drain(..=pos);
    }
    let offset = ctx
        .param("offset")
        .and_then(|o| o.parse().ok())
        .unwrap_or(0usize);
    let limit = ctx
        .param("limit")
        .and_then(|l| l.parse().ok())
        .unwrap_or(usize::MAX);
    let out: Vec<Value> = items
        .into_iter()
        .skip(offset)
        .take(limit)
        .map(|a| {
            if detail {
                attachment_detail(a)
            } else {
                attachment_summary(a)
            }
        })
        .collect();
    Ok(Reply::ok(json!({"attachments": out})))
}

pub(crate) fn index(st: &mut State, ctx: &Ctx, _req: &Req) -> ApiResult<Reply> {
    list(st, ctx, false)
}

pub(crate) fn detail(st: &mut State, ctx: &Ctx, _req: &Req) -> ApiResult<Reply> {
    list(st, ctx, true)
}

pub(crate) fn show(st: &mut State, ctx: &Ctx, req: &Req) -> ApiResult<Reply> {
    gate(ctx, 27)?;
    let (_, a) = find(st, ctx, req.id(0))?;
    Ok(Reply::ok(json!({"attachment": attachment_detail(a)})))
}

fn connector_of(m: &Map<String, Value>) -> ApiResult<Option<Value>> {
    match m.get("connector") {
        None | Some(Value::Null) => Ok(None),
        Some(c @ Value::Object(_)) => Ok(Some(c.clone())),
        Some(other) => Err(ApiError::validation(
            "connector",
            other,
            &format!("{} is not of type 'object', 'null'", py_repr(other)),
        )),
    }
}

/// Connects attachment `aid` of `v` with `connector` (the driver's
/// `attachment_update`): both become `attaching`.
fn connect(v: &mut Volume, aid: &str, connector: Value) {
    let mode_from_connector = connector
        .get("mode")
        .and_then(Value::as_str)
        .unwrap_or("rw")
        .to_string();
    let Some(i) = v.attachments.iter().position(|a| a.id == aid) else {
        return;
    };
    let mode = if v.attachments[i].attach_mode == "null" {
        mode_from_connector
    } else {
        v.attachments[i].attach_mode.clone()
    };
    let info = connection_info(v, &mode);
    let a = &mut v.attachments[i];
    a.attached_host = connector
        .get("host")
        .and_then(Value::as_str)
        .map(str::to_string);
    a.mountpoint = Some(
        connector
            .get("mountpoint")
            .and_then(Value::as_str)
            .unwrap_or("na")
            .to_string(),
    );
    a.attach_mode.clone_from(&mode);
    a.attach_status = "attaching".into();
    a.connector = Some(connector);
    a.connection_info = Some(info);
    v.admin_metadata.insert("attached_mode".into(), mode);
    v.status = "attaching".into();
    v.attach_status = "attaching".into();
    v.touch();
}

pub(crate) fn create(st: &mut State, ctx: &Ctx, req: &Req) -> ApiResult<Reply> {
    gate(ctx, 27)?;
    no_extra_keys(&req.body, &["attachment"])?;
    let body = require_object(&req.body, "attachment")?;
    let volume_uuid = match body.get("volume_uuid") {
        Some(Value::String(s)) => s.clone(),
        Some(other) => {
            return Err(ApiError::validation(
                "volume_uuid",
                other,
                &format!("{} is not a 'uuid'", py_repr(other)),
            ))
        }
        None => return Err(ApiError::schema("'volume_uuid' is a required property")),
    };
    let instance_uuid = opt_str(body, "instance_uuid")?;
    let connector = connector_of(body)?;
    let mode = if ctx.version.at_least(54) {
        let m = opt_str(body, "mode")?.unwrap_or_else(|| "null".into());
        if !["rw", "ro", "null"].contains(&m.as_str()) {
            return Err(ApiError::validation(
                "mode",
                &json!(m),
                &format!("'{m}' is not one of ['rw', 'ro', 'null']"),
            ));
        }
        m
    } else {
        "null".to_string()
    };
    let v = st
        .volumes
        .get_mut(&volume_uuid)
        .filter(|v| ctx.is_admin || v.project_id == ctx.project_id())
        .ok_or_else(|| ApiError::volume_not_found(&volume_uuid))?;
    if v.status.contains("error") {
        return Err(ApiError::invalid_volume(format!(
            "Volume attachments can not be created if the volume is in an error state. The Volume {} currently has a status of: {} ",
            v.id, v.status
        )));
    }
    let expected: &[&str] = if v.multiattach {
        &["available", "in-use", "downloading"]
    } else {
        &["available", "downloading"]
    };
    if expected.contains(&v.status.as_str()) {
        v.status = "reserved".into();
    } else {
        let same_instance = instance_uuid.is_some()
            && matches!(v.status.as_str(), "in-use" | "reserved")
            && v.attachments
                .iter()
                .any(|a| a.instance_uuid.is_some() && a.instance_uuid == instance_uuid);
        if !same_instance {
            return Err(ApiError::invalid_volume(format!(
                "Volume {} status must be {} to reserve, but the current status is {}.",
                v.id,
                expected.join(" or "),
                v.status
            )));
        }
    }
    let readonly = v.admin_metadata.get("readonly").map(String::as_str) == Some("True");
    let aid = new_uuid();
    v.attachments.push(Attachment {
        id: aid.clone(),
        volume_id: v.id.clone(),
        instance_uuid,
        attached_host: None,
        mountpoint: None,
        attach_time: None,
        detach_time: None,
        attach_status: "reserved".into(),
        attach_mode: if readonly { "ro".into() } else { mode },
        connector: None,
        connection_info: None,
    });
    if v.attach_status == "detached" {
        v.attach_status = "reserved".into();
    }
    v.touch();
    if let Some(c) = connector {
        connect(v, &aid, c);
    }
    let a = v
        .attachments
        .iter()
        .find(|a| a.id == aid)
        .ok_or_else(|| not_found(&aid))?;
    Ok(Reply::ok(json!({"attachment": attachment_detail(a)})))
}

pub(crate) fn update(st: &mut State, ctx: &Ctx, req: &Req) -> ApiResult<Reply> {
    gate(ctx, 27)?;
    no_extra_keys(&req.body, &["attachment"])?;
    let body = require_object(&req.body, "attachment")?;
    let Some(connector) = connector_of(body)? else {
        return Err(ApiError::schema("'connector' is a required property"));
    };
    let id = req.id(0).to_string();
    let vid = find_volume_id(st, ctx, &id)?;
    let v = st.volumes.get_mut(&vid).ok_or_else(|| not_found(&id))?;
    if v.status.contains("error") {
        return Err(ApiError::bad_request(format!(
            "Volume attachments can not be updated if the volume is in an error state. The Volume {} currently has a status of: {} ",
            v.id, v.status
        )));
    }
    connect(v, &id, connector);
    let a = v
        .attachments
        .iter()
        .find(|a| a.id == id)
        .ok_or_else(|| not_found(&id))?;
    Ok(Reply::ok(json!({"attachment": attachment_detail(a)})))
}

pub(crate) fn action(st: &mut State, ctx: &Ctx, req: &Req) -> ApiResult<Reply> {
    gate(ctx, 27)?;
    let (name, _) = peek(&req.body)?;
    if name != "os-complete" || !ctx.version.at_least(44) {
        return Err(no_such_action(name));
    }
    let id = req.id(0).to_string();
    let vid = find_volume_id(st, ctx, &id)?;
    let v = st.volumes.get_mut(&vid).ok_or_else(|| not_found(&id))?;
    if let Some(a) = v.attachments.iter_mut().find(|a| a.id == id) {
        a.attach_status = "attached".into();
        a.attach_time.get_or_insert_with(Utc::now);
    }
    v.status = "in-use".into();
    v.attach_status = "attached".into();
    v.touch();
    Ok(Reply::empty(StatusCode::NO_CONTENT))
}

pub(crate) fn delete(st: &mut State, ctx: &Ctx, req: &Req) -> ApiResult<Reply> {
    gate(ctx, 27)?;
    let id = req.id(0).to_string();
    let vid = find_volume_id(st, ctx, &id)?;
    let v = st.volumes.get_mut(&vid).ok_or_else(|| not_found(&id))?;
    v.attachments.retain(|a| a.id != id);
    settle_after_detach(v);
    let remaining: Vec<Value> = v.attachments.iter().map(attachment_summary).collect();
    Ok(Reply::ok(json!({"attachments": remaining})))
}
