//! Glance v2 handlers: the router and Glance's layer in front of them,
//! what they share (body parsing, visibility, the modify rule, attribute
//! setting), show, delete and the schemas; one module per other operation.

mod activation;
mod create;
mod data;
mod list;
mod tags;
mod update;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::{from_fn_with_state, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Extension, Json, Router};
use serde_json::Value;

use self::activation::{deactivate, reactivate};
use self::create::create;
use self::data::{download, upload};
use self::list::list;
use self::tags::{add_tag, delete_tag};
use self::update::update;
use super::error::{GResult, GlanceError, PendingGlanceError};
use super::schema;
use super::{members, Image};
use crate::auth::{authenticate, Caller};
use crate::pod::Pod;

/// Body keys that may never be set.
const DISALLOWED: [&str; 5] = ["direct_url", "self", "file", "schema", "stores"];
/// Read-only image attributes.
const READONLY: [&str; 8] = [
    "created_at",
    "updated_at",
    "status",
    "checksum",
    "os_hash_algo",
    "os_hash_value",
    "size",
    "virtual_size",
];
/// Attributes patch paths may not touch.
const PATCH_READONLY: [&str; 13] = [
    "created_at",
    "updated_at",
    "status",
    "checksum",
    "size",
    "virtual_size",
    "direct_url",
    "self",
    "file",
    "schema",
    "id",
    "os_hash_algo",
    "os_hash_value",
];
const RESERVED: [&str; 3] = ["location", "deleted", "deleted_at"];
const RESERVED_NS: &str = "os_glance";
/// Base attributes settable through the API.
const SETTABLE: [&str; 9] = [
    "name",
    "visibility",
    "protected",
    "os_hidden",
    "owner",
    "container_format",
    "disk_format",
    "min_ram",
    "min_disk",
];

pub(crate) fn routes(pod: Pod) -> Router {
    Router::new()
        .route("/image/v2/images", get(list).post(create))
        .route(
            "/image/v2/images/{image_id}",
            get(show).patch(update).delete(delete),
        )
        .route(
            "/image/v2/images/{image_id}/file",
            get(download).put(upload),
        )
        .route(
            "/image/v2/images/{image_id}/tags/{tag}",
            put(add_tag).delete(delete_tag),
        )
        .route(
            "/image/v2/images/{image_id}/actions/deactivate",
            post(deactivate),
        )
        .route(
            "/image/v2/images/{image_id}/actions/reactivate",
            post(reactivate),
        )
        .route(
            "/image/v2/images/{image_id}/members",
            get(members::index).post(members::create),
        )
        .route(
            "/image/v2/images/{image_id}/members/{member_id}",
            get(members::show)
                .put(members::update)
                .delete(members::delete),
        )
        .route("/image/v2/schemas/image", get(image_schema))
        .route("/image/v2/schemas/images", get(images_schema))
        .route("/image/v2/schemas/member", get(member_schema))
        .route("/image/v2/schemas/members", get(members_schema))
        .route_layer(from_fn_with_state(pod.clone(), glance_layer))
        .layer(DefaultBodyLimit::disable())
        .with_state(pod)
}

/// keystonemiddleware in front of Glance, then webob's error rendering for
/// the request's `Accept` header.
async fn glance_layer(State(pod): State<Pod>, mut req: Request, next: Next) -> Response {
    let caller = match authenticate(&pod, req.headers()) {
        Ok(c) => c,
        Err(resp) => return resp,
    };
    let mut accept = HeaderMap::new();
    if let Some(v) = req.headers().get(header::ACCEPT) {
        accept.insert(header::ACCEPT, v.clone());
    }
    req.extensions_mut().insert(caller);
    let resp = next.run(req).await;
    match resp.extensions().get::<PendingGlanceError>() {
        Some(PendingGlanceError(err)) => err.render(&accept),
        None => resp,
    }
}

fn json_response(status: StatusCode, body: Value) -> Response {
    (status, Json(body)).into_response()
}

/// Glance's JSON body deserializer.
pub(super) fn parse_body(bytes: &Bytes) -> GResult<Value> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(GlanceError::bad_request("Body expected in request."));
    }
    serde_json::from_slice(bytes)
        .map_err(|_| GlanceError::bad_request("Malformed JSON in request body."))
}

fn schema_error(reason: String) -> GlanceError {
    GlanceError::bad_request(format!(
        "Provided object does not match schema 'image': {reason}"
    ))
}

/// The image `caller` may see, or Glance's 404.
fn visible_image(pod: &Pod, caller: &Caller, id: &str) -> GResult<Image> {
    pod.images()
        .get_visible(id, &caller.project_id, caller.is_admin())
        .ok_or_else(|| GlanceError::no_image(id))
}

/// Glance's `modify_image` rule: admin or owner.
pub(super) fn can_modify(caller: &Caller, img: &Image) -> bool {
    caller.is_admin() || img.owner.as_deref() == Some(caller.project_id.as_str())
}

fn check_visibility_change(caller: &Caller, visibility: &Value) -> GResult<()> {
    if visibility == "public" && !caller.is_admin() {
        return Err(GlanceError::forbidden_action("publicize_image"));
    }
    Ok(())
}

/// Sets a base attribute (already schema-checked) or an extra property.
fn set_attribute(img: &mut Image, key: &str, value: Value) {
    match key {
        "name" => img.name = value.as_str().map(str::to_string),
        "visibility" => {
            if let Some(v) = value.as_str() {
                img.visibility = v.to_string();
            }
        }
        "protected" => img.protected = value.as_bool().unwrap_or(img.protected),
        "os_hidden" => img.os_hidden = value.as_bool().unwrap_or(img.os_hidden),
        "owner" => img.owner = value.as_str().map(str::to_string),
        "container_format" => img.container_format = value.as_str().map(str::to_string),
        "disk_format" => img.disk_format = value.as_str().map(str::to_string),
        "min_ram" => img.min_ram = value.as_u64().unwrap_or(0),
        "min_disk" => img.min_disk = value.as_u64().unwrap_or(0),
        "tags" => {
            img.tags.clear();
            for t in value
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
            {
                if !img.tags.iter().any(|x| x == t) {
                    img.tags.push(t.to_string());
                }
            }
        }
        _ => {
            img.properties.insert(key.to_string(), value);
        }
    }
}

async fn show(
    State(pod): State<Pod>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> GResult<Json<Value>> {
    Ok(Json(visible_image(&pod, &caller, &id)?.to_json()))
}

async fn delete(
    State(pod): State<Pod>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> GResult<StatusCode> {
    let img = pod
        .images()
        .get_visible(&id, &caller.project_id, caller.is_admin())
        .ok_or_else(|| GlanceError::not_found(format!("Failed to find image {id} to delete")))?;
    if !can_modify(&caller, &img) {
        return Err(GlanceError::forbidden_action("delete_image"));
    }
    if img.protected {
        return Err(GlanceError::forbidden(format!(
            "Image {id} is protected and cannot be deleted."
        )));
    }
    pod.images().remove(&id);
    Ok(StatusCode::NO_CONTENT)
}

// ----------------------------------------------------------------- schemas

async fn image_schema() -> Json<Value> {
    Json(schema::image_schema())
}

async fn images_schema() -> Json<Value> {
    Json(schema::images_schema())
}

async fn member_schema() -> Json<Value> {
    Json(schema::member_schema())
}

async fn members_schema() -> Json<Value> {
    Json(schema::members_schema())
}
