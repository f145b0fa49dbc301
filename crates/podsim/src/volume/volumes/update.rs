//! `PUT /volumes/{id}`: name, description and metadata.

use serde_json::{json, Value};

use super::{visible, visible_mut};
use crate::volume::api::{
    no_extra_keys, opt_name, require_object, string_map, ApiError, ApiResult, Ctx, Reply,
};
use crate::volume::model::State;
use crate::volume::views::volume_detail;
use crate::volume::Req;

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
