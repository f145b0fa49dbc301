//! Volume type encryption (`/types/{id}/encryption`), admin only: kept with
//! the type at the top and repeated in every pod holding a copy of it (a
//! copy made later gets it too, see `types::ensure_in_pod`). A pod's Cinder
//! refuses a change while volumes of the type exist there ("Volume type in
//! use"): such a refusal is the caller's answer, and the pods already
//! changed are changed back.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Map, Value};
use tricircle_pods::PodPath;

use super::resources::refusal;
use super::types::{propagate, visible_type};
use crate::body::parse_json;
use crate::error::ApiError;
use crate::gateway::{Call, GatewayState};

const FIELDS: &[&str] = &["provider", "control_location", "cipher", "key_size"];

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
    if let Some(k) = enc.keys().find(|k| !FIELDS.contains(&k.as_str())) {
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

/// Repeats `method` on `.../encryption[/{spec_id}]` in every pod copy of the
/// type: whether any pod accepted, and the first refusal (a client error
/// other than 404).
async fn in_pods(
    st: &GatewayState,
    c: &Call,
    type_id: &str,
    method: Method,
    spec_id: Option<&str>,
    body: Option<Value>,
) -> (bool, Option<ApiError>) {
    let mut path = PodPath::of(["encryption"]);
    if let Some(id) = spec_id {
        path = path.push(id);
    }
    let mut accepted = false;
    let mut refused = None;
    for (_, answer) in propagate(st, c, type_id, method, &path, body).await {
        match answer {
            Ok(a) if a.status.is_client_error() && a.status != StatusCode::NOT_FOUND => {
                refused.get_or_insert(refusal(&a));
            }
            Ok(a) if a.is_success() => accepted = true,
            _ => {}
        }
    }
    (accepted, refused)
}

pub async fn index(
    State(st): State<GatewayState>,
    c: Call,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    c.ctx
        .require_admin("volume_extension:volume_type_encryption")?;
    let t = visible_type(&st, &c, &id).await?;
    Ok(Json(t.encryption.unwrap_or_else(|| json!({}))))
}

pub async fn show(
    State(st): State<GatewayState>,
    c: Call,
    Path((id, key)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    c.ctx
        .require_admin("volume_extension:volume_type_encryption")?;
    let t = visible_type(&st, &c, &id).await?;
    let v = t
        .encryption
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
    c.ctx
        .require_admin("volume_extension:volume_type_encryption")?;
    let fields = checked(&body, true)?;
    let t = visible_type(&st, &c, &id).await?;
    if t.encryption.is_some() {
        return Err(ApiError::bad_request(format!(
            "Volume type encryption for type {id} already exists."
        )));
    }
    let now = chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S%.6f")
        .to_string();
    let mut spec = json!({
        "volume_type_id": t.id,
        "encryption_id": uuid::Uuid::new_v4().to_string(),
        "provider": null, "control_location": "front-end", "cipher": null, "key_size": null,
        "created_at": now, "updated_at": null, "deleted": false, "deleted_at": null,
    });
    for (k, v) in &fields {
        spec[k] = v.clone();
    }
    let (accepted, refused) = in_pods(
        &st,
        &c,
        &t.id,
        Method::POST,
        None,
        Some(json!({ "encryption": fields })),
    )
    .await;
    if let Some(e) = refused {
        if accepted {
            undo_created(&st, &c, &t.id).await;
        }
        return Err(e);
    }
    match st
        .store
        .set_volume_type_encryption(&t.id, Some(&spec), true)
        .await
    {
        Ok(()) => {}
        // Cinder's VolumeTypeEncryptionExists is a 400.
        Err(tricircle_store::StoreError::Conflict(m)) => return Err(ApiError::bad_request(m)),
        Err(e) => return Err(e.into()),
    }
    let mut answer = fields;
    answer.insert("volume_type_id".into(), json!(t.id));
    answer.insert("encryption_id".into(), spec["encryption_id"].clone());
    Ok(Json(json!({ "encryption": answer })))
}

/// Takes back the encryption just created in some pods (those without it
/// answer 404, which is ignored). A pod's Cinder ignores the encryption id
/// of the path: the type's spec is the one addressed.
async fn undo_created(st: &GatewayState, c: &Call, type_id: &str) {
    let (_, refused) = in_pods(st, c, type_id, Method::DELETE, Some("undo"), None).await;
    if let Some(e) = refused {
        tracing::warn!(%type_id, error = %e.message, "a pod keeps an encryption spec the top refused");
    }
}

pub async fn update(
    State(st): State<GatewayState>,
    c: Call,
    Path((id, _encryption_id)): Path<(String, String)>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    c.ctx
        .require_admin("volume_extension:volume_type_encryption")?;
    let fields = checked(&body, false)?;
    let t = visible_type(&st, &c, &id).await?;
    let Some(mut spec) = t.encryption.clone() else {
        return Err(no_encryption(&id));
    };
    let spec_id = spec["encryption_id"]
        .as_str()
        .unwrap_or("encryption")
        .to_string();
    let (_, refused) = in_pods(
        &st,
        &c,
        &t.id,
        Method::PUT,
        Some(&spec_id),
        Some(json!({ "encryption": fields })),
    )
    .await;
    if let Some(e) = refused {
        return Err(e);
    }
    for (k, v) in &fields {
        spec[k] = v.clone();
    }
    spec["updated_at"] = json!(chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S%.6f")
        .to_string());
    st.store
        .set_volume_type_encryption(&t.id, Some(&spec), false)
        .await?;
    Ok(Json(json!({ "encryption": fields })))
}

pub async fn delete(
    State(st): State<GatewayState>,
    c: Call,
    Path((id, _encryption_id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    c.ctx
        .require_admin("volume_extension:volume_type_encryption")?;
    let t = visible_type(&st, &c, &id).await?;
    let Some(spec) = &t.encryption else {
        return Err(no_encryption(&id));
    };
    let spec_id = spec["encryption_id"].as_str().unwrap_or("encryption");
    let (_, refused) = in_pods(&st, &c, &t.id, Method::DELETE, Some(spec_id), None).await;
    if let Some(e) = refused {
        return Err(e);
    }
    st.store
        .set_volume_type_encryption(&t.id, None, false)
        .await?;
    Ok(StatusCode::ACCEPTED.into_response())
}

fn no_encryption(id: &str) -> ApiError {
    ApiError::not_found(format!(
        "Volume type encryption for type {id} does not exist."
    ))
}

/// The body that gives a pod's copy of a type the top's encryption specs.
pub(super) fn copy_body(spec: &Value) -> Value {
    let mut enc = Map::new();
    for k in FIELDS {
        if let Some(v) = spec.get(*k) {
            enc.insert((*k).to_string(), v.clone());
        }
    }
    json!({ "encryption": enc })
}
