//! `POST /v2/images`: the body checked as Glance does (read-only,
//! reserved and custom keys, owner, visibility), then the image saved.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use axum::Extension;
use serde_json::Value;

use super::{
    check_visibility_change, json_response, parse_body, schema_error, set_attribute, DISALLOWED,
    READONLY, RESERVED, RESERVED_NS,
};
use crate::auth::Caller;
use crate::image::error::{GResult, GlanceError};
use crate::image::{schema, Image};
use crate::pod::Pod;

pub(super) async fn create(
    State(pod): State<Pod>,
    Extension(caller): Extension<Caller>,
    bytes: Bytes,
) -> GResult<Response> {
    let body = parse_body(&bytes)?;
    let Value::Object(mut body) = body else {
        return Err(schema_error(format!(
            "{} is not of type 'object'",
            schema::py_repr(&body)
        )));
    };
    for key in DISALLOWED {
        if body.contains_key(key) {
            return Err(GlanceError::forbidden(format!(
                "Attribute '{key}' is read-only."
            )));
        }
    }
    schema::validate(&body).map_err(schema_error)?;
    let base = schema::base_properties();
    let extra: Vec<String> = body
        .keys()
        .filter(|k| base.get(k.as_str()).is_none())
        .cloned()
        .collect();
    for key in &extra {
        if key.chars().count() > 255 {
            return Err(GlanceError::bad_request(
                "Custom property should not be greater than 255 characters.",
            ));
        }
        if RESERVED.contains(&key.as_str()) || key.starts_with(RESERVED_NS) {
            return Err(GlanceError::forbidden(format!(
                "Attribute '{key}' is reserved."
            )));
        }
    }
    let owner = match body.get("owner") {
        Some(Value::String(o)) => Some(o.clone()),
        Some(_) => None,
        None => Some(caller.project_id.clone()),
    };
    if owner.as_deref() != Some(caller.project_id.as_str()) && !caller.is_admin() {
        return Err(GlanceError::forbidden(format!(
            "You are not permitted to create images owned by '{}'",
            owner.as_deref().unwrap_or("None")
        )));
    }
    if let Some(v) = body.get("visibility") {
        check_visibility_change(&caller, v)?;
    }
    for key in READONLY {
        if body.contains_key(key) {
            return Err(GlanceError::forbidden(format!(
                "Attribute '{key}' is read-only."
            )));
        }
    }
    let id = match body.remove("id") {
        Some(Value::String(id)) => id,
        _ => uuid::Uuid::new_v4().to_string(),
    };
    let mut img = Image::new(&id);
    img.owner = owner;
    body.remove("owner");
    if let Some(Value::Array(tags)) = body.remove("tags") {
        for t in tags.iter().filter_map(Value::as_str) {
            if !img.tags.iter().any(|x| x == t) {
                img.tags.push(t.to_string());
            }
        }
    }
    for (key, value) in body {
        set_attribute(&mut img, &key, value);
    }
    let exists = pod.images().get(&id).is_some();
    if exists {
        return Err(GlanceError::conflict(format!(
            "Image ID {id} already exists!"
        )));
    }
    let img = pod.images().insert(img);
    let mut resp = json_response(StatusCode::CREATED, img.to_json());
    if let Ok(v) = HeaderValue::from_str(&format!("/v2/images/{id}")) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    resp.headers_mut().insert(
        "openstack-image-import-methods",
        HeaderValue::from_static("glance-direct,web-download,copy-image"),
    );
    Ok(resp)
}
