//! `/images/{id}/metadata[/{key}]`: Nova's (deprecated, up to 2.38) view
//! of an image's properties, kept by the image service the `/images` proxy
//! uses; changes are Glance JSON patches.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router};
use serde_json::{json, Map, Value};
use tricircle_gateway::PodAnswer;

use super::domain::domain;
use super::microversion::Microversion;
use crate::body::parse_json;
use crate::error::ApiError;
use crate::gateway::forward::Respond as _;
use crate::gateway::{Call, GatewayState};

/// Nova's default `metadata_items` quota, which image properties count
/// against (the gateway reports it and does not change it).
const METADATA_ITEMS: usize = 128;

fn gone_after_2_38(mv: Microversion) -> Result<(), ApiError> {
    if mv.at_least(39) {
        Err(ApiError::not_found("The resource could not be found."))
    } else {
        Ok(())
    }
}

fn refused(answer: PodAnswer) -> Result<Response, ApiError> {
    match answer.status {
        StatusCode::NOT_FOUND => Err(ApiError::not_found("Image not found.")),
        StatusCode::FORBIDDEN => {
            // Glance's reason (a reserved or read-only attribute, or not the owner).
            let msg = answer
                .json()
                .and_then(|d| {
                    d["message"]
                        .as_str()
                        .map(str::to_string)
                        .or_else(|| String::from_utf8(answer.body.to_vec()).ok())
                })
                .unwrap_or_else(|| "Access was denied to this resource.".into());
            Err(ApiError::forbidden_message(msg))
        }
        _ => Ok(answer.into_response()),
    }
}

/// The image's properties (its non-core attributes), as Nova shows them.
async fn properties(
    st: &GatewayState,
    c: &Call,
    id: &str,
) -> Result<Result<Map<String, Value>, Response>, ApiError> {
    let (compute, caller) = domain(st, c);
    let answer = compute.image(&caller, id).await?;
    if !answer.is_success() {
        return refused(answer).map(Err);
    }
    let img = answer.json().unwrap_or_default();
    Ok(Ok(img
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(k, _)| !super::images::CORE_FIELDS.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()))
}

/// Replaces the image's properties `old` by `new` with one JSON patch.
async fn write(
    st: &GatewayState,
    c: &Call,
    id: &str,
    old: &Map<String, Value>,
    new: &Map<String, Value>,
) -> Result<Option<Response>, ApiError> {
    if new.len() > METADATA_ITEMS {
        return Err(ApiError::forbidden_message("Image metadata limit exceeded"));
    }
    let pointer = |k: &str| format!("/{}", k.replace('~', "~0").replace('/', "~1"));
    let mut ops: Vec<Value> = old
        .keys()
        .filter(|k| !new.contains_key(*k))
        .map(|k| json!({"op": "remove", "path": pointer(k)}))
        .collect();
    for (k, v) in new {
        match old.get(k) {
            Some(o) if o == v => {}
            Some(_) => ops.push(json!({"op": "replace", "path": pointer(k), "value": v})),
            None => ops.push(json!({"op": "add", "path": pointer(k), "value": v})),
        }
    }
    if ops.is_empty() {
        return Ok(None);
    }
    let (compute, caller) = domain(st, c);
    let answer = compute.patch_image(&caller, id, ops).await?;
    if answer.is_success() {
        return Ok(None);
    }
    refused(answer).map(Some)
}

fn invalid(field: &str, v: &Value, why: String) -> ApiError {
    ApiError::bad_request(format!(
        "Invalid input for field/attribute {field}. Value: {v}. {why}"
    ))
}

/// Nova's `metadata` schema: keys of 1 to 255 of `[a-zA-Z0-9-_:. ]`,
/// string values of at most 255 characters; `one` (for `meta`) wants
/// exactly one item.
fn metadata_of(body: &Value, field: &str, one: bool) -> Result<Map<String, Value>, ApiError> {
    let Some(o) = body.as_object() else {
        return Err(invalid(
            field,
            body,
            format!("{body} is not of type 'object'"),
        ));
    };
    if let Some(extra) = o.keys().find(|k| *k != field) {
        return Err(ApiError::bad_request(format!(
            "Additional properties are not allowed ('{extra}' was unexpected)"
        )));
    }
    let Some(v) = o.get(field) else {
        return Err(ApiError::bad_request(format!(
            "Invalid input for field/attribute {field}. Value: {body}. '{field}' is a required property"
        )));
    };
    let Some(items) = v.as_object() else {
        return Err(invalid(field, v, format!("{v} is not of type 'object'")));
    };
    if one && items.is_empty() {
        return Err(invalid(
            field,
            v,
            format!("{v} does not have enough properties"),
        ));
    }
    if one && items.len() > 1 {
        return Err(invalid(field, v, format!("{v} has too many properties")));
    }
    for (k, val) in items {
        let key_ok = !k.is_empty()
            && k.chars().count() <= 255
            && k.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_:. ".contains(c));
        if !key_ok {
            return Err(invalid(
                field,
                v,
                format!("Additional properties are not allowed ('{k}' was unexpected)"),
            ));
        }
        match val {
            Value::String(s) if s.chars().count() <= 255 => {}
            Value::String(_) => return Err(invalid(k, val, format!("{val} is too long"))),
            _ => return Err(invalid(k, val, format!("{val} is not of type 'string'"))),
        }
    }
    Ok(items.clone())
}

async fn index(
    State(st): State<GatewayState>,
    c: Call,
    Extension(mv): Extension<Microversion>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    gone_after_2_38(mv)?;
    Ok(match properties(&st, &c, &id).await? {
        Ok(props) => Json(json!({"metadata": props})).into_response(),
        Err(r) => r,
    })
}

/// `POST`: merges the given items into the properties.
async fn create(
    State(st): State<GatewayState>,
    c: Call,
    Extension(mv): Extension<Microversion>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    gone_after_2_38(mv)?;
    let items = metadata_of(&parse_json(&body)?, "metadata", false)?;
    let old = match properties(&st, &c, &id).await? {
        Ok(p) => p,
        Err(r) => return Ok(r),
    };
    let mut new = old.clone();
    new.extend(items);
    if let Some(r) = write(&st, &c, &id, &old, &new).await? {
        return Ok(r);
    }
    Ok(Json(json!({"metadata": new})).into_response())
}

/// `PUT`: the given items become all the properties.
async fn update_all(
    State(st): State<GatewayState>,
    c: Call,
    Extension(mv): Extension<Microversion>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    gone_after_2_38(mv)?;
    let new = metadata_of(&parse_json(&body)?, "metadata", false)?;
    let old = match properties(&st, &c, &id).await? {
        Ok(p) => p,
        Err(r) => return Ok(r),
    };
    if let Some(r) = write(&st, &c, &id, &old, &new).await? {
        return Ok(r);
    }
    Ok(Json(json!({"metadata": new})).into_response())
}

async fn show(
    State(st): State<GatewayState>,
    c: Call,
    Extension(mv): Extension<Microversion>,
    Path((id, key)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    gone_after_2_38(mv)?;
    let props = match properties(&st, &c, &id).await? {
        Ok(p) => p,
        Err(r) => return Ok(r),
    };
    match props.get(&key) {
        Some(v) => Ok(Json(json!({"meta": {key: v}})).into_response()),
        None => Err(ApiError::not_found("The resource could not be found.")),
    }
}

async fn update(
    State(st): State<GatewayState>,
    c: Call,
    Extension(mv): Extension<Microversion>,
    Path((id, key)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, ApiError> {
    gone_after_2_38(mv)?;
    let meta = metadata_of(&parse_json(&body)?, "meta", true)?;
    if !meta.contains_key(&key) {
        return Err(ApiError::bad_request("Request body and URI mismatch"));
    }
    let old = match properties(&st, &c, &id).await? {
        Ok(p) => p,
        Err(r) => return Ok(r),
    };
    let mut new = old.clone();
    new.extend(meta.clone());
    if let Some(r) = write(&st, &c, &id, &old, &new).await? {
        return Ok(r);
    }
    Ok(Json(json!({"meta": meta})).into_response())
}

async fn delete(
    State(st): State<GatewayState>,
    c: Call,
    Extension(mv): Extension<Microversion>,
    Path((id, key)): Path<(String, String)>,
    _body: Bytes,
) -> Result<Response, ApiError> {
    gone_after_2_38(mv)?;
    let old = match properties(&st, &c, &id).await? {
        Ok(p) => p,
        Err(r) => return Ok(r),
    };
    if !old.contains_key(&key) {
        return Err(ApiError::not_found("Invalid metadata key"));
    }
    let mut new = old.clone();
    new.remove(&key);
    if let Some(r) = write(&st, &c, &id, &old, &new).await? {
        return Ok(r);
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub(super) fn routes() -> Router<GatewayState> {
    Router::new()
        .route(
            "/v2.1/images/{id}/metadata",
            get(index).post(create).put(update_all),
        )
        .route(
            "/v2.1/images/{id}/metadata/{key}",
            get(show).put(update).delete(delete),
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema() {
        assert!(metadata_of(&json!({"metadata": {"a": "1"}}), "metadata", false).is_ok());
        assert!(metadata_of(&json!({"metadata": {"a": 1}}), "metadata", false).is_err());
        assert!(metadata_of(&json!({"meta": {}}), "meta", true).is_err());
        assert!(metadata_of(&json!({"meta": {"a": "1", "b": "2"}}), "meta", true).is_err());
        assert!(metadata_of(&json!({"metadata": {"a/b": "1"}}), "metadata", false).is_err());
        assert!(metadata_of(&json!({"other": {}}), "metadata", false).is_err());
    }
}
