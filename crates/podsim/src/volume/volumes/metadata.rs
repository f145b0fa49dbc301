//! `/volumes/{id}/metadata` and `/volumes/{id}/metadata/{key}`; the body
//! checks are shared with snapshots.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use serde_json::{json, Value};

use super::{visible, visible_mut};
use crate::volume::api::{
    no_extra_keys, require_object, string_map, ApiError, ApiResult, Ctx, Reply,
};
use crate::volume::model::{State, Volume};
use crate::volume::Req;

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
