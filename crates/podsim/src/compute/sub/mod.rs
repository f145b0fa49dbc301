//! Server sub-resources: ips, metadata, volume attachments, tags,
//! instance actions and remote consoles.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::Utc;
use serde_json::{json, Value};

use super::ctx::{
    check_keys, field_error, is_uuid_like, metadata_field, naive, opt_bool, wrapper, Ctx, NBody, P,
};
use super::error::{NResult, NovaError};
use super::interfaces::server_with_nics;
use super::model::{map_json, Server, VolAttach};
use super::servers::{find, find_mut, sub_tag_check};
use super::view::{addresses, host_id};
use crate::image::schema::{py_repr, py_str};
use crate::pod::Pod;
use crate::volume::AttachError;

fn server_of(pod: &Pod, ctx: &Ctx, p: &P) -> NResult<Server> {
    pod.compute()
        .with(|st| find(st, ctx, p.get("server_id")).cloned())
}

// --------------------------------------------------------------------- ips

/// `GET /servers/{id}/ips`.
pub(crate) async fn ips(State(pod): State<Pod>, ctx: Ctx, p: P) -> NResult<Json<Value>> {
    let s = server_with_nics(&pod, &ctx, p.get("server_id"))?;
    Ok(Json(json!({"addresses": addresses(&s, false)})))
}

/// `GET /servers/{id}/ips/{network}`.
pub(crate) async fn ips_network(State(pod): State<Pod>, ctx: Ctx, p: P) -> NResult<Json<Value>> {
    let s = server_with_nics(&pod, &ctx, p.get("server_id"))?;
    let net = p.get("network");
    let all = addresses(&s, false);
    match all.get(net) {
        Some(list) => Ok(Json(json!({ net: list }))),
        None => Err(NovaError::not_found(
            "Instance is not a member of specified network",
        )),
    }
}

// ---------------------------------------------------------------- metadata

const METADATA_STATES: [&str; 4] = ["active", "paused", "suspended", "stopped"];

/// Checks lock and state, then changes the metadata with `f`.
fn change_metadata(
    pod: &Pod,
    ctx: &Ctx,
    id: &str,
    action: &str,
    f: impl FnOnce(&mut BTreeMap<String, String>) -> NResult<()>,
) -> NResult<BTreeMap<String, String>> {
    pod.compute().with(|st| {
        let limit = st
            .quota_limits(ctx.project())
            .get("metadata_items")
            .copied()
            .unwrap_or(128);
        let s = find_mut(st, ctx, id)?;
        if s.is_locked() && !ctx.is_admin() {
            return Err(NovaError::locked(id));
        }
        if !METADATA_STATES.contains(&s.vm_state) {
            return Err(NovaError::invalid_state(action, id, "vm_state", s.vm_state));
        }
        if let Some(t) = s.task_state {
            return Err(NovaError::invalid_state(action, id, "task_state", t));
        }
        let mut m = s.metadata.clone();
        f(&mut m)?;
        if limit >= 0 && m.len() as i64 > limit {
            return Err(NovaError::forbidden(format!(
                "Maximum number of metadata items exceeds {limit}"
            )));
        }
        s.metadata = m.clone();
        s.updated_at = Utc::now();
        Ok(m)
    })
}

/// `GET /servers/{id}/metadata`.
pub(crate) async fn metadata_index(State(pod): State<Pod>, ctx: Ctx, p: P) -> NResult<Json<Value>> {
    let s = server_of(&pod, &ctx, &p)?;
    Ok(Json(json!({"metadata": map_json(&s.metadata)})))
}

fn metadata_body(body: &Value) -> NResult<BTreeMap<String, String>> {
    let obj = body.as_object().ok_or_else(|| {
        NovaError::bad_request(format!("{} is not of type 'object'", py_repr(body)))
    })?;
    let Some(m) = obj.get("metadata") else {
        return Err(NovaError::bad_request("'metadata' is a required property"));
    };
    let extra: Vec<&str> = obj
        .keys()
        .map(String::as_str)
        .filter(|k| *k != "metadata")
        .collect();
    if !extra.is_empty() {
        return Err(NovaError::bad_request(super::ctx::additional_message(
            &extra,
        )));
    }
    metadata_field("metadata", m)
}

/// `POST /servers/{id}/metadata`: merge.
pub(crate) async fn metadata_merge(
    State(pod): State<Pod>,
    ctx: Ctx,
    p: P,
    NBody(body): NBody,
) -> NResult<Json<Value>> {
    let new = metadata_body(&body)?;
    let m = change_metadata(&pod, &ctx, p.get("server_id"), "update metadata", |m| {
        m.extend(new);
        Ok(())
    })?;
    Ok(Json(json!({"metadata": map_json(&m)})))
}

/// `PUT /servers/{id}/metadata`: replace.
pub(crate) async fn metadata_replace(
    State(pod): State<Pod>,
    ctx: Ctx,
    p: P,
    NBody(body): NBody,
) -> NResult<Json<Value>> {
    let new = metadata_body(&body)?;
    let m = change_metadata(&pod, &ctx, p.get("server_id"), "update metadata", |m| {
        *m = new;
        Ok(())
    })?;
    Ok(Json(json!({"metadata": map_json(&m)})))
}

/// `GET /servers/{id}/metadata/{key}`.
pub(crate) async fn metadata_show(State(pod): State<Pod>, ctx: Ctx, p: P) -> NResult<Json<Value>> {
    let s = server_of(&pod, &ctx, &p)?;
    let key = p.get("key");
    match s.metadata.get(key) {
        Some(v) => Ok(Json(json!({"meta": {key: v}}))),
        None => Err(NovaError::not_found("Metadata item was not found")),
    }
}

/// `PUT /servers/{id}/metadata/{key}`.
pub(crate) async fn metadata_put(
    State(pod): State<Pod>,
    ctx: Ctx,
    p: P,
    NBody(body): NBody,
) -> NResult<Json<Value>> {
    let key = p.get("key").to_string();
    let meta = wrapper(&body, "meta", &[])?;
    let whole = Value::Object(meta.clone());
    if meta.len() != 1 {
        return Err(field_error(
            "meta",
            &whole,
            &format!(
                "{} {}",
                py_repr(&whole),
                if meta.is_empty() {
                    "should be non-empty"
                } else {
                    "has too many properties"
                }
            ),
        ));
    }
    let item = metadata_field("meta", &whole)?;
    let Some((k, v)) = item.into_iter().next() else {
        return Err(NovaError::bad_request("Malformed request body"));
    };
    if k != key {
        return Err(NovaError::bad_request("Request body and URI mismatch"));
    }
    let (k2, v2) = (k.clone(), v.clone());
    change_metadata(
        &pod,
        &ctx,
        p.get("server_id"),
        "update metadata",
        move |m| {
            m.insert(k2, v2);
            Ok(())
        },
    )?;
    Ok(Json(json!({"meta": {k: v}})))
}

/// `DELETE /servers/{id}/metadata/{key}`.
pub(crate) async fn metadata_delete(State(pod): State<Pod>, ctx: Ctx, p: P) -> NResult<StatusCode> {
    let key = p.get("key").to_string();
    let s = server_of(&pod, &ctx, &p)?;
    if !s.metadata.contains_key(&key) {
        return Err(NovaError::not_found("Metadata item was not found"));
    }
    change_metadata(&pod, &ctx, p.get("server_id"), "delete metadata", |m| {
        m.remove(&key);
        Ok(())
    })?;
    Ok(StatusCode::NO_CONTENT)
}

// ------------------------------------------------------- volume attachments

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
        .unwrap_or(super::MAX_LIMIT)
        .min(super::MAX_LIMIT);
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
        attachment_id: super::cinder_attachment_id(&pod, &volume_id, &server_id),
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

// -------------------------------------------------------------------- tags

fn require_tags(ctx: &Ctx) -> NResult<()> {
    if ctx.at_least(26) {
        Ok(())
    } else {
        Err(NovaError::resource_not_found())
    }
}

const TAG_STATES: [&str; 4] = ["active", "paused", "suspended", "stopped"];

fn change_tags(
    pod: &Pod,
    ctx: &Ctx,
    id: &str,
    action: &str,
    f: impl FnOnce(&mut Vec<String>) -> NResult<()>,
) -> NResult<Vec<String>> {
    pod.compute().with(|st| {
        let s = find_mut(st, ctx, id)?;
        if !TAG_STATES.contains(&s.vm_state) {
            return Err(NovaError::invalid_state(action, id, "vm_state", s.vm_state));
        }
        let mut tags = s.tags.clone();
        f(&mut tags)?;
        if tags.len() > 50 {
            return Err(NovaError::bad_request(
                "The number of tags exceeded the per-server limit 50",
            ));
        }
        s.tags = tags.clone();
        s.updated_at = Utc::now();
        Ok(tags)
    })
}

/// `GET /servers/{id}/tags`.
pub(crate) async fn tags(State(pod): State<Pod>, ctx: Ctx, p: P) -> NResult<Json<Value>> {
    require_tags(&ctx)?;
    let s = server_of(&pod, &ctx, &p)?;
    Ok(Json(json!({"tags": s.tags})))
}

/// `PUT /servers/{id}/tags`.
pub(crate) async fn tags_replace(
    State(pod): State<Pod>,
    ctx: Ctx,
    p: P,
    NBody(body): NBody,
) -> NResult<Json<Value>> {
    require_tags(&ctx)?;
    let obj = body.as_object().ok_or_else(|| {
        NovaError::bad_request(format!("{} is not of type 'object'", py_repr(&body)))
    })?;
    let Some(list) = obj.get("tags") else {
        return Err(NovaError::bad_request("'tags' is a required property"));
    };
    let Some(items) = list.as_array() else {
        return Err(field_error(
            "tags",
            list,
            &format!("{} is not of type 'array'", py_repr(list)),
        ));
    };
    let extra: Vec<&str> = obj
        .keys()
        .map(String::as_str)
        .filter(|k| *k != "tags")
        .collect();
    if !extra.is_empty() {
        return Err(NovaError::bad_request(super::ctx::additional_message(
            &extra,
        )));
    }
    if items.len() > 50 {
        return Err(field_error(
            "tags",
            list,
            &format!("{} is too long", py_repr(list)),
        ));
    }
    let mut new = Vec::new();
    for t in items {
        let s = sub_tag_check(t)?;
        if !new.contains(&s) {
            new.push(s);
        }
    }
    let tags = change_tags(&pod, &ctx, p.get("server_id"), "update tags", |t| {
        *t = new;
        Ok(())
    })?;
    Ok(Json(json!({"tags": tags})))
}

/// `DELETE /servers/{id}/tags`.
pub(crate) async fn tags_delete_all(State(pod): State<Pod>, ctx: Ctx, p: P) -> NResult<StatusCode> {
    require_tags(&ctx)?;
    change_tags(&pod, &ctx, p.get("server_id"), "delete tags", |t| {
        t.clear();
        Ok(())
    })?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /servers/{id}/tags/{tag}`.
pub(crate) async fn tag_check(State(pod): State<Pod>, ctx: Ctx, p: P) -> NResult<StatusCode> {
    require_tags(&ctx)?;
    let s = server_of(&pod, &ctx, &p)?;
    let tag = p.get("tag");
    if s.tags.iter().any(|t| t == tag) {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(NovaError::not_found(format!(
            "Server {} has no tag '{tag}'",
            s.id
        )))
    }
}

/// `PUT /servers/{id}/tags/{tag}`: 201 with `Location` if new, else 204.
pub(crate) async fn tag_add(State(pod): State<Pod>, ctx: Ctx, p: P) -> NResult<Response> {
    require_tags(&ctx)?;
    let tag = p.get("tag").to_string();
    if tag.is_empty() || tag.contains(',') || tag.contains('/') || tag.chars().count() > 60 {
        return Err(NovaError::bad_request(format!(
            "Tag '{tag}' is invalid. It must be a non empty string without characters '/' and ','"
        )));
    }
    let id = p.get("server_id").to_string();
    let existed = pod
        .compute()
        .with(|st| find(st, &ctx, &id).map(|s| s.tags.contains(&tag)))?;
    if existed {
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    let t2 = tag.clone();
    change_tags(&pod, &ctx, &id, "update tag", move |t| {
        t.push(t2);
        Ok(())
    })?;
    let mut resp = StatusCode::CREATED.into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("{}/servers/{id}/tags/{tag}", ctx.api_url())) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    Ok(resp)
}

/// `DELETE /servers/{id}/tags/{tag}`.
pub(crate) async fn tag_delete(State(pod): State<Pod>, ctx: Ctx, p: P) -> NResult<StatusCode> {
    require_tags(&ctx)?;
    let tag = p.get("tag").to_string();
    let id = p.get("server_id").to_string();
    let s = server_of(&pod, &ctx, &p)?;
    if !s.tags.contains(&tag) {
        return Err(NovaError::not_found(format!(
            "Instance {id} has no tag '{tag}'"
        )));
    }
    change_tags(&pod, &ctx, &id, "delete tag", |t| {
        t.retain(|x| x != &tag);
        Ok(())
    })?;
    Ok(StatusCode::NO_CONTENT)
}

// -------------------------------------------------------- instance actions

fn server_incl_deleted(pod: &Pod, ctx: &Ctx, id: &str) -> NResult<Server> {
    pod.compute().with(|st| {
        st.servers
            .iter()
            .chain(if ctx.at_least(21) {
                st.deleted.iter()
            } else {
                [].iter()
            })
            .find(|s| s.id == id && (ctx.is_admin() || s.project_id == ctx.project()))
            .cloned()
            .ok_or_else(|| NovaError::instance_not_found(id))
    })
}

fn action_view(ctx: &Ctx, s: &Server, a: &super::model::InstanceAction) -> Value {
    let mut v = json!({
        "action": a.action,
        "instance_uuid": s.id,
        "request_id": a.request_id,
        "user_id": a.user_id,
        "project_id": a.project_id,
        "start_time": naive(a.start_time),
        "message": a.message,
    });
    if ctx.at_least(58) {
        v["updated_at"] = json!(naive(a.updated_at));
    }
    v
}

/// `GET /servers/{id}/os-instance-actions` (newest first).
pub(crate) async fn instance_actions(
    State(pod): State<Pod>,
    ctx: Ctx,
    p: P,
) -> NResult<Json<Value>> {
    let s = server_incl_deleted(&pod, &ctx, p.get("server_id"))?;
    let mut list: Vec<Value> = s
        .actions
        .iter()
        .rev()
        .map(|a| action_view(&ctx, &s, a))
        .collect();
    if ctx.at_least(58) {
        let (limit, marker) = ctx.limit_and_marker()?;
        if let Some(m) = marker {
            let pos = list
                .iter()
                .position(|a| a["request_id"] == json!(m))
                .ok_or_else(|| NovaError::bad_request(format!("Marker {m} could not be found.")))?;
            list.drain(..=pos);
        }
        list.truncate(limit);
    }
    Ok(Json(json!({"instanceActions": list})))
}

/// `GET /servers/{id}/os-instance-actions/{request_id}`.
pub(crate) async fn instance_action(
    State(pod): State<Pod>,
    ctx: Ctx,
    p: P,
) -> NResult<Json<Value>> {
    let s = server_incl_deleted(&pod, &ctx, p.get("server_id"))?;
    let rid = p.get("request_id");
    let Some(a) = s.actions.iter().find(|a| a.request_id == rid) else {
        return Err(NovaError::not_found(format!("Action {rid} not found")));
    };
    let mut v = action_view(&ctx, &s, a);
    if ctx.is_admin() || ctx.at_least(51) {
        let mut ev = json!({
            "event": format!("compute_{}_instance", a.action),
            "start_time": naive(a.start_time),
            "finish_time": naive(a.updated_at),
            "result": "Success",
        });
        if ctx.is_admin() {
            ev["traceback"] = Value::Null;
            if ctx.at_least(62) {
                ev["host"] = json!(s.host);
            }
        }
        if ctx.at_least(62) {
            ev["hostId"] = json!(host_id(&s.project_id, &s.host));
        }
        if ctx.at_least(84) && ctx.is_admin() {
            ev["details"] = Value::Null;
        }
        v["events"] = json!([ev]);
    }
    Ok(Json(json!({"instanceAction": v})))
}

// --------------------------------------------------------- remote consoles

/// `POST /servers/{id}/remote-consoles` (2.6+).
pub(crate) async fn remote_console(
    State(pod): State<Pod>,
    ctx: Ctx,
    p: P,
    NBody(body): NBody,
) -> NResult<Json<Value>> {
    if !ctx.at_least(6) {
        return Err(NovaError::resource_not_found());
    }
    let req = wrapper(&body, "remote_console", &[])?;
    check_keys(
        "remote_console",
        req,
        &["protocol", "type"],
        &["protocol", "type"],
    )?;
    let protocol = req["protocol"].as_str().unwrap_or("");
    let kind = req["type"].as_str().unwrap_or("");
    let protocols: &[&str] = if ctx.at_least(8) {
        &["vnc", "spice", "rdp", "serial", "mks"]
    } else {
        &["vnc", "spice", "rdp", "serial"]
    };
    if !protocols.contains(&protocol) {
        return Err(field_error(
            "protocol",
            &req["protocol"],
            &format!(
                "{} is not one of {}",
                py_str(protocol),
                py_repr(&json!(protocols))
            ),
        ));
    }
    let valid = match protocol {
        "vnc" => ["novnc", "xvpvnc"].contains(&kind),
        "spice" => kind == "spice-html5",
        "rdp" => kind == "rdp-html5",
        "serial" => kind == "serial",
        _ => kind == "webmks",
    };
    if !valid {
        return Err(NovaError::bad_request(format!(
            "Unsupported protocol {protocol} and type {kind} combination"
        )));
    }
    let s = server_of(&pod, &ctx, &p)?;
    if s.vm_state == "building" {
        return Err(NovaError::conflict(format!(
            "Instance {} is not ready",
            s.id
        )));
    }
    Ok(Json(json!({"remote_console": {
        "protocol": protocol,
        "type": kind,
        "url": super::actions::console_url(&ctx, kind),
    }})))
}
