//! `/types/{id}/encryption`, admin only: the request checked as Cinder's
//! schema checks it, then the volume domain (`tricircle_volume::encryption`)
//! keeps it with the type and repeats it in the pods holding a copy.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Map, Value};
use tricircle_volume::encryption as domain;

use super::resources::caller;
use crate::body::parse_json;
use crate::error::ApiError;
use crate::gateway::{Call, GatewayState};

fn invalid(field: &str, why: &str) -> ApiError {
    ApiError::bad_request(format!("Invalid input for field/attribute {field}. {why}"))
}

/// The `encryption` object of a create (`provider` and `control_location`
/// required) or update body, checked as Cinder's schema checks it.
fn checked(body: &Bytes, create: bool) -> Result<Map<String, Value>, ApiError> {
    let body: Value = parse_json(body)?;
    let Some(outer) = body.as_object() else {
        return Err(invalid("body", "Value is not of type 'object'"));
    };
    if let Some(k) = outer.keys().find(|k| *k != "encryption") {
        return Err(ApiError::bad_request(format!(
            "Additional properties are not allowed ('{k}' was unexpected)"
        )));
    }
    let Some(enc) = outer.get("encryption").and_then(Value::as_object) else {
        return Err(invalid(
            "encryption",
            "'encryption' is a required property of type 'object'",
        ));
    };
    if let Some(k) = enc
        .keys()
        .find(|k| !tricircle_volume::encryption::FIELDS.contains(&k.as_str()))
    {
        return Err(ApiError::bad_request(format!(
            "Additional properties are not allowed ('{k}' was unexpected)"
        )));
    }
    if create {
        for k in ["provider", "control_location"] {
            if !enc.contains_key(k) {
                return Err(invalid(
                    "encryption",
                    &format!("'{k}' is a required property"),
                ));
            }
        }
    }
    let mut out = Map::new();
    for (k, v) in enc {
        let v = match (k.as_str(), v) {
            ("provider", Value::String(s)) if s.chars().count() <= 255 => v.clone(),
            ("cipher", Value::Null) => Value::Null,
            ("cipher", Value::String(s)) if s.chars().count() <= 255 => v.clone(),
            ("control_location", Value::String(s)) if s == "front-end" || s == "back-end" => {
                v.clone()
            }
            ("key_size", Value::Null) => Value::Null,
            ("key_size", Value::Number(n)) if n.as_u64().is_some() => v.clone(),
            ("key_size", Value::String(s)) if s.parse::<u32>().is_ok() => {
                json!(s.parse::<u32>().unwrap_or(0))
            }
            ("control_location", _) => {
                return Err(invalid(
                    k,
                    &format!("Value: {v}. {v} is not one of ['front-end', 'back-end']"),
                ))
            }
            _ => return Err(invalid(k, &format!("Value: {v}. Invalid value."))),
        };
        out.insert(k.clone(), v);
    }
    Ok(out)
}

const POLICY: &str = "volume_extension:volume_type_encryption";

pub async fn index(
    State(st): State<GatewayState>,
    c: Call,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    c.ctx.require_admin(POLICY)?;
    let spec = domain::show(&st, &caller(&c), &id).await?;
    Ok(Json(spec.unwrap_or_else(|| json!({}))))
}

pub async fn show(
    State(st): State<GatewayState>,
    c: Call,
    Path((id, key)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    c.ctx.require_admin(POLICY)?;
    let v = domain::show(&st, &caller(&c), &id)
        .await?
        .as_ref()
        .and_then(|e| e.get(&key))
        .cloned()
        .ok_or_else(|| ApiError::not_found("The resource could not be found."))?;
    Ok(Json(json!({ key: v })))
}

pub async fn create(
    State(st): State<GatewayState>,
    c: Call,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    c.ctx.require_admin(POLICY)?;
    let fields = checked(&body, true)?;
    let spec_id = domain::create(&st, &caller(&c), &id, &fields).await?;
    let mut answer = fields;
    answer.insert("volume_type_id".into(), json!(id));
    answer.insert("encryption_id".into(), json!(spec_id));
    Ok(Json(json!({ "encryption": answer })))
}

/// The encryption id of an update or delete names nothing Cinder checks,
/// but like every path segment it must be one (no `/`, `..`, controls):
/// anything else is a path nobody serves.
fn known_path(encryption_id: &str) -> Result<(), ApiError> {
    if crate::gateway::subresource::valid_segment(encryption_id) {
        Ok(())
    } else {
        Err(ApiError::not_found("The resource could not be found."))
    }
}

pub async fn update(
    State(st): State<GatewayState>,
    c: Call,
    Path((id, encryption_id)): Path<(String, String)>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    known_path(&encryption_id)?;
    c.ctx.require_admin(POLICY)?;
    let fields = checked(&body, false)?;
    domain::update(&st, &caller(&c), &id, &fields).await?;
    Ok(Json(json!({ "encryption": fields })))
}

pub async fn delete(
    State(st): State<GatewayState>,
    c: Call,
    Path((id, encryption_id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    known_path(&encryption_id)?;
    c.ctx.require_admin(POLICY)?;
    domain::delete(&st, &caller(&c), &id).await?;
    Ok(StatusCode::ACCEPTED.into_response())
}
