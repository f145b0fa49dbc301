//! `/servers/{id}/metadata` and `/servers/{id}/metadata/{key}`.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::Utc;
use serde_json::{json, Value};

use super::server_of;
use crate::compute::ctx::{field_error, metadata_field, wrapper, Ctx, NBody, P};
use crate::compute::error::{NResult, NovaError};
use crate::compute::model::map_json;
use crate::compute::servers::find_mut;
use crate::image::schema::py_repr;
use crate::pod::Pod;

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
        return Err(NovaError::bad_request(
            crate::compute::ctx::additional_message(&extra),
        ));
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
