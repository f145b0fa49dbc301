//! `/servers/{id}/tags` and `/servers/{id}/tags/{tag}` (2.26+).

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::Utc;
use serde_json::{json, Value};

use super::server_of;
use crate::compute::ctx::{field_error, Ctx, NBody, P};
use crate::compute::error::{NResult, NovaError};
use crate::compute::servers::{find, find_mut, sub_tag_check};
use crate::image::schema::py_repr;
use crate::pod::Pod;

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
        return Err(NovaError::bad_request(
            crate::compute::ctx::additional_message(&extra),
        ));
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
