//! `/servers/{id}/os-volume_attachments`: list, show, attach (through
//! the pod's volume service) and detach.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::Utc;
use serde_json::{json, Value};

use super::server_of;
use crate::compute::ctx::{
    check_keys, field_error, is_uuid_like, opt_bool, wrapper, Ctx, NBody, P,
};
use crate::compute::error::{NResult, NovaError};
use crate::compute::model::{Server, VolAttach};
use crate::compute::servers::{find, sub_tag_check};
use crate::image::schema::py_repr;
use crate::pod::Pod;
use crate::volume::AttachError;

const ATTACH_STATES: [&str; 7] = [
    "active",
    "paused",
    "stopped",
    "resized",
    "soft-delete",
    "shelved",
    "shelved_offloaded",
];

fn attachment_view(ctx: &Ctx, server_id: &str, v: &VolAttach) -> Value {
    let mut m = serde_json::Map::new();
    if !ctx.at_least(89) {
        m.insert("id".into(), json!(v.volume_id));
    }
    m.insert("volumeId".into(), json!(v.volume_id));
    m.insert("serverId".into(), json!(server_id));
    m.insert("device".into(), json!(v.device));
    if ctx.at_least(70) {
        m.insert("tag".into(), json!(v.tag));
    }
    if ctx.at_least(79) {
        m.insert(
            "delete_on_termination".into(),
            json!(v.delete_on_termination),
        );
    }
    if ctx.at_least(89) {
        m.insert("attachment_id".into(), json!(v.attachment_id));
        m.insert("bdm_uuid".into(), json!(v.bdm_uuid));
    }
    Value::Object(m)
}

/// `GET /servers/{id}/os-volume_attachments`.
pub(crate) async fn attachments(State(pod): State<Pod>, ctx: Ctx, p: P) -> NResult<Json<Value>> {
    let s = server_of(&pod, &ctx, &p)?;
    let offset = ctx
        .query
        .get("offset")
        .and_then(|o| o.parse::<usize>().ok())
        .unwrap_or(0);
    let limit = ctx
        .query
        .get("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .filter(|l| *l > 0)
        .unwrap_or(crate::compute::MAX_LIMIT)
        .min(crate::compute::MAX_LIMIT);
    let list: Vec<Value> = s
        .volumes
        .iter()
        .skip(offset)
        .take(limit)
        .map(|v| attachment_view(&ctx, &s.id, v))
        .collect();
    Ok(Json(json!({"volumeAttachments": list})))
}

/// `GET /servers/{id}/os-volume_attachments/{volume_id}`.
pub(crate) async fn attachment(State(pod): State<Pod>, ctx: Ctx, p: P) -> NResult<Json<Value>> {
    let s = server_of(&pod, &ctx, &p)?;
    let vid = p.get("volume_id");
    match s.volumes.iter().find(|v| v.volume_id == vid) {
        Some(v) => Ok(Json(
            json!({"volumeAttachment": attachment_view(&ctx, &s.id, v)}),
        )),
        None => Err(NovaError::not_found(format!(
            "Instance {} is not attached to volume {vid}",
            s.id
        ))),
    }
}

fn check_attach_state(ctx: &Ctx, s: &Server, method: &str) -> NResult<()> {
    if s.is_locked() && !ctx.is_admin() {
        return Err(NovaError::locked(&s.id));
    }
    if matches!(s.vm_state, "shelved" | "shelved_offloaded") && !ctx.at_least(20) {
        return Err(NovaError::invalid_state(
            method, &s.id, "vm_state", s.vm_state,
        ));
    }
    if !ATTACH_STATES.contains(&s.vm_state) {
        return Err(NovaError::invalid_state(
            method, &s.id, "vm_state", s.vm_state,
        ));
    }
    if let Some(t) = s.task_state {
        return Err(NovaError::invalid_state(method, &s.id, "task_state", t));
    }
    Ok(())
}

/// `POST /servers/{id}/os-volume_attachments`: attaches through the pod's
/// volume service.
pub(crate) async fn attach(
    State(pod): State<Pod>,
    ctx: Ctx,
    p: P,
    NBody(body): NBody,
) -> NResult<Json<Value>> {
    let req = wrapper(&body, "volumeAttachment", &[])?;
    let mut allowed = vec!["volumeId", "device"];
    if ctx.at_least(49) {
        allowed.push("tag");
    }
    if ctx.at_least(79) {
        allowed.push("delete_on_termination");
    }
    let volume_id = match req.get("volumeId") {
        Some(Value::String(v)) if is_uuid_like(v) => Some(v.clone()),
        Some(other) => {
            return Err(field_error(
                "volumeId",
                other,
                &format!("{} is not a 'uuid'", py_repr(other)),
            ))
        }
        None => None,
    };
    let device = match req.get("device") {
        None | Some(Value::Null) => None,
        Some(Value::String(d))
            if d.chars()
                .all(|c| c.is_ascii_alphanumeric() || "._/-".contains(c)) =>
        {
            Some(d.clone())
        }
        Some(other) => {
            return Err(field_error(
                "device",
                other,
                &format!(
                    "{} does not match '(^/dev/x{{0,1}}[a-z]{{0,1}}d{{0,1}})([a-z]+)[0-9]*$'",
                    py_repr(other)
                ),
            ))
        }
    };
    let tag = match req.get("tag") {
        Some(Value::String(t)) => Some(sub_tag_check(&json!(t))?),
        _ => None,
    };
    let delete_on_termination = opt_bool(req, "delete_on_termination")?.unwrap_or(false);
    check_keys("volumeAttachment", req, &allowed, &["volumeId"])?;
    let Some(volume_id) = volume_id else {
        return Err(NovaError::bad_request("'volumeId' is a required property"));
    };
    let server_id = p.get("server_id").to_string();
    // Pick the device and check the server state.
    let device = pod.compute().with(|st| -> NResult<String> {
        let s = find(st, &ctx, &server_id)?;
        check_attach_state(&ctx, s, "attach_volume")?;
        if let Some(d) = &device {
            if s.volumes.iter().any(|v| &v.device == d) {
                return Err(NovaError::conflict(format!(
                    "The supplied device path ({d}) is in use."
                )));
            }
            return Ok(d.clone());
        }
        let mut letter = b'b';
        loop {
            let d = format!("/dev/vd{}", char::from(letter));
            if !s.volumes.iter().any(|v| v.device == d) {
                return Ok(d);
            }
            if letter == b'z' {
                return Err(NovaError::forbidden(
                    "The maximum allowed number of disk devices (26) to attach to a single \
                     instance has been exceeded.",
                ));
            }
            letter += 1;
        }
    })?;
    let project = pod
        .compute()
        .with(|st| st.server(&server_id).map(|s| s.project_id.clone()))
        .unwrap_or_else(|| ctx.project().to_string());
    pod.volume()
        .attach(&project, &volume_id, &server_id, &device)
        .map_err(|e| match e {
            AttachError::NotFound => {
                NovaError::not_found(format!("Volume {volume_id} could not be found."))
            }
            AttachError::InvalidState(m) => NovaError::bad_request(format!("Invalid volume: {m}")),
        })?;
    let va = VolAttach {
        volume_id: volume_id.clone(),
        device: device.clone(),
        delete_on_termination,
        tag: tag.clone(),
        attachment_id: crate::compute::cinder_attachment_id(&pod, &volume_id, &server_id),
        bdm_uuid: uuid::Uuid::new_v4().to_string(),
        is_root: false,
    };
    let recorded = pod.compute().with(|st| match st.server_mut(&server_id) {
        Some(s) => {
            s.volumes.push(va);
            s.record("attach_volume", ctx.user(), ctx.project());
            s.updated_at = Utc::now();
            true
        }
        None => false,
    });
    if !recorded {
        // The server vanished meanwhile: undo.
        let _ = pod.volume().detach(&volume_id, &server_id);
        return Err(NovaError::instance_not_found(&server_id));
    }
    let mut att = json!({
        "id": volume_id,
        "serverId": server_id,
        "volumeId": volume_id,
        "device": device,
    });
    if ctx.at_least(70) {
        att["tag"] = json!(tag);
    }
    if ctx.at_least(79) {
        att["delete_on_termination"] = json!(delete_on_termination);
    }
    Ok(Json(json!({"volumeAttachment": att})))
}

/// `DELETE /servers/{id}/os-volume_attachments/{volume_id}`.
pub(crate) async fn detach(State(pod): State<Pod>, ctx: Ctx, p: P) -> NResult<StatusCode> {
    let server_id = p.get("server_id").to_string();
    let volume_id = p.get("volume_id").to_string();
    pod.compute().with(|st| -> NResult<()> {
        let s = find(st, &ctx, &server_id)?;
        if matches!(s.vm_state, "shelved" | "shelved_offloaded") && !ctx.at_least(20) {
            return Err(NovaError::invalid_state(
                "detach_volume",
                &server_id,
                "vm_state",
                s.vm_state,
            ));
        }
        let Some(v) = s.volumes.iter().find(|v| v.volume_id == volume_id) else {
            return Err(NovaError::not_found(format!(
                "Instance {server_id} is not attached to volume {volume_id}"
            )));
        };
        if v.is_root {
            return Err(NovaError::bad_request("Cannot detach a root device volume"));
        }
        check_attach_state(&ctx, s, "detach_volume")
    })?;
    pod.volume()
        .detach(&volume_id, &server_id)
        .map_err(|e| match e {
            AttachError::NotFound => {
                NovaError::not_found(format!("Volume {volume_id} could not be found."))
            }
            AttachError::InvalidState(m) => NovaError::bad_request(format!("Invalid volume: {m}")),
        })?;
    pod.compute().with(|st| {
        if let Some(s) = st.server_mut(&server_id) {
            s.volumes.retain(|v| v.volume_id != volume_id);
            s.record("detach_volume", ctx.user(), ctx.project());
            s.updated_at = Utc::now();
        }
    });
    Ok(StatusCode::ACCEPTED)
}
