//! `/types`: volume types, kept at the top by the volume domain
//! (`tricircle_volume::types`) and copied into pods on use. Requests are
//! parsed and checked here as Cinder checks them; views are rendered here.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Map, Value};
use tricircle_store::VolumeType;
use tricircle_volume::types::{self as domain, TypeCreate, TypeUpdate};

use super::listing::query_pairs;
use super::resources::{caller, required_object};
use crate::body::parse_json;
use crate::error::ApiError;
use crate::gateway::{Call, GatewayState};

/// Extra specs every user may see (Cinder's `USER_VISIBLE_EXTRA_SPECS`).
const USER_VISIBLE_EXTRA_SPECS: &[&str] = &[
    "RESKEY:availability_zones",
    "multiattach",
    "replication_enabled",
];

fn visible_specs(t: &VolumeType, admin: bool) -> BTreeMap<String, String> {
    t.extra_specs
        .iter()
        .filter(|(k, _)| admin || USER_VISIBLE_EXTRA_SPECS.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn view(t: &VolumeType, admin: bool) -> Value {
    let mut v = json!({
        "id": t.id,
        "name": t.name,
        "description": t.description,
        "is_public": t.is_public,
        "os-volume-type-access:is_public": t.is_public,
        "extra_specs": visible_specs(t, admin),
    });
    if admin {
        v["qos_specs_id"] = Value::Null;
    }
    v
}

/// The answer of a create (`access`: with the type-access extension's
/// `os-volume-type-access:is_public`) or an update: Cinder's older view,
/// without `qos_specs_id`.
fn manage_view(t: &VolumeType, access: bool) -> Value {
    let mut v = view(t, true);
    if let Some(obj) = v.as_object_mut() {
        obj.remove("qos_specs_id");
        if !access {
            obj.remove("os-volume-type-access:is_public");
        }
    }
    v
}

// --------------------------------------------------------------- validation

fn extra_keys(obj: &Map<String, Value>, allowed: &[&str]) -> Result<(), ApiError> {
    match obj.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(ApiError::bad_request(format!(
            "Additional properties are not allowed ('{k}' was unexpected)"
        ))),
        None => Ok(()),
    }
}

fn name_field(v: &Value) -> Result<String, ApiError> {
    let Value::String(s) = v else {
        return Err(ApiError::bad_request(format!(
            "Invalid input for field/attribute name. Value: {v}. {v} is not of type 'string'"
        )));
    };
    let trimmed = s.trim();
    if trimmed.is_empty() {
        return Err(ApiError::bad_request(
            "Name has a minimum character requirement of 1.",
        ));
    }
    if trimmed.chars().count() > 255 {
        return Err(ApiError::bad_request("Name has more than 255 characters."));
    }
    Ok(trimmed.to_string())
}

fn description_field(obj: &Map<String, Value>) -> Result<Option<String>, ApiError> {
    match obj.get("description") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.chars().count() <= 255 => Ok(Some(s.clone())),
        Some(Value::String(_)) => Err(ApiError::bad_request("Description has more than 255 characters.")),
        Some(other) => Err(ApiError::bad_request(format!(
            "Invalid input for field/attribute description. Value: {other}. {other} is not of type 'string', 'null'"
        ))),
    }
}

/// Cinder's boolean parameter values.
fn bool_field(obj: &Map<String, Value>, key: &str) -> Result<Option<bool>, ApiError> {
    let v = match obj.get(key) {
        None => return Ok(None),
        Some(v) => v,
    };
    let parsed = match v {
        Value::Bool(b) => Some(*b),
        Value::String(s) => match s.as_str() {
            "True" | "TRUE" | "true" | "1" | "ON" | "On" | "on" | "YES" | "Yes" | "yes" | "y"
            | "t" => Some(true),
            "False" | "FALSE" | "false" | "0" | "OFF" | "Off" | "off" | "NO" | "No" | "no"
            | "n" | "f" => Some(false),
            _ => None,
        },
        _ => None,
    };
    parsed.map(Some).ok_or_else(|| {
        ApiError::bad_request(format!(
            "Invalid input for field/attribute {key}. Value: {v}. {v} is not a valid boolean"
        ))
    })
}

/// Extra specs: keys `[a-zA-Z0-9-_:. /]{1,255}`, string values up to 255.
fn specs_field(v: &Value) -> Result<BTreeMap<String, String>, ApiError> {
    let Value::Object(m) = v else {
        return Err(ApiError::bad_request(format!(
            "Invalid input for field/attribute extra_specs. Value: {v}. {v} is not of type 'object'"
        )));
    };
    m.iter()
        .map(|(k, val)| {
            let key_ok = !k.is_empty()
                && k.chars().count() <= 255
                && k.chars().all(|ch| ch.is_ascii_alphanumeric() || "-_:. /".contains(ch));
            if !key_ok {
                return Err(ApiError::bad_request(format!(
                    "Invalid input for field/attribute extra_specs. Value: {v}. Additional properties are not allowed ('{k}' was unexpected)"
                )));
            }
            match val {
                Value::String(s) if s.chars().count() <= 255 => Ok((k.clone(), s.clone())),
                other => Err(ApiError::bad_request(format!(
                    "Invalid input for field/attribute {k}. Value: {other}. {other} is not of type 'string' or is longer than 255 characters"
                ))),
            }
        })
        .collect()
}

// ----------------------------------------------------------------- handlers

pub async fn list(
    State(st): State<GatewayState>,
    c: Call,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let admin = c.ctx.is_admin();
    let params = query_pairs(raw.as_deref());
    let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    // Cinder: admins choose (absent = public and shared with them, "None"
    // = all); users see public types and those shared with their project.
    let is_public = match (admin, get("is_public")) {
        (false, _) | (true, None) => Some(true),
        (true, Some(v)) if v.eq_ignore_ascii_case("none") => None,
        (true, Some(v)) => match v.to_ascii_lowercase().as_str() {
            "true" | "t" | "1" | "yes" | "y" | "on" => Some(true),
            "false" | "f" | "0" | "no" | "n" | "off" => Some(false),
            _ => {
                return Err(ApiError::bad_request(format!(
                    "Invalid is_public filter [{v}]"
                )))
            }
        },
    };
    let types = domain::list(&st, &caller(&c), is_public).await?;
    let items: Vec<Value> = types.iter().map(|t| view(t, admin)).collect();
    Ok(Json(json!({"volume_types": items})).into_response())
}

pub async fn show(
    State(st): State<GatewayState>,
    c: Call,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let t = domain::show(&st, &caller(&c), &id).await?;
    Ok(Json(json!({"volume_type": view(&t, c.ctx.is_admin())})))
}

/// `POST /types`, parsed.
fn parse_create(body: &Bytes) -> Result<TypeCreate, ApiError> {
    let mut body: Value = parse_json(body)?;
    if let Some(obj) = body.as_object() {
        extra_keys(obj, &["volume_type"])?;
    }
    let t = required_object(&mut body, "volume_type")?;
    extra_keys(
        t,
        &[
            "name",
            "description",
            "extra_specs",
            "os-volume-type-access:is_public",
        ],
    )?;
    let name = name_field(t.get("name").ok_or_else(|| {
        ApiError::bad_request(
            "Invalid input for field/attribute volume_type. 'name' is a required property",
        )
    })?)?;
    let description = description_field(t)?;
    let extra_specs = match t.get("extra_specs") {
        None | Some(Value::Null) => BTreeMap::new(),
        Some(v) => specs_field(v)?,
    };
    let is_public = bool_field(t, "os-volume-type-access:is_public")?.unwrap_or(true);
    Ok(TypeCreate {
        name,
        description,
        is_public,
        extra_specs,
    })
}

pub async fn create(
    State(st): State<GatewayState>,
    c: Call,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let req = parse_create(&body)?;
    c.ctx.require_admin("volume_extension:type_create")?;
    let created = domain::create(&st, req).await?;
    Ok(Json(json!({"volume_type": manage_view(&created, true)})))
}

/// `PUT /types/{id}`, parsed (before policy, as Cinder checks it).
fn parse_update(body: &Bytes) -> Result<TypeUpdate, ApiError> {
    let mut body: Value = parse_json(body)?;
    if let Some(obj) = body.as_object() {
        extra_keys(obj, &["volume_type"])?;
    }
    let t = required_object(&mut body, "volume_type")?;
    extra_keys(t, &["name", "description", "is_public"])?;
    let name = match t.get("name") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.trim().is_empty() => {
            return Err(ApiError::bad_request("Volume type name can not be empty."))
        }
        Some(v) => Some(name_field(v)?),
    };
    let description = description_field(t)?;
    let is_public = bool_field(t, "is_public")?;
    Ok(TypeUpdate {
        name,
        description,
        is_public,
    })
}

pub async fn update(
    State(st): State<GatewayState>,
    c: Call,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let req = parse_update(&body)?;
    c.ctx.require_admin("volume_extension:type_update")?;
    if req.name.is_none() && req.description.is_none() && req.is_public.is_none() {
        return Err(ApiError::bad_request(
            "Specify volume type name, description, is_public or a combination thereof.",
        ));
    }
    let updated = domain::update(&st, &caller(&c), &id, req).await?;
    Ok(Json(json!({"volume_type": manage_view(&updated, false)})))
}

/// Deletes the type in every pod holding a copy, then at the top.
pub async fn delete(
    State(st): State<GatewayState>,
    c: Call,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    c.ctx.require_admin("volume_extension:type_delete")?;
    domain::delete(&st, &caller(&c), &id).await?;
    Ok(StatusCode::ACCEPTED.into_response())
}

pub async fn specs_list(
    State(st): State<GatewayState>,
    c: Call,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let t = domain::visible_type(&st, &caller(&c), &id).await?;
    Ok(Json(
        json!({"extra_specs": visible_specs(&t, c.ctx.is_admin())}),
    ))
}

pub async fn specs_create(
    State(st): State<GatewayState>,
    c: Call,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    c.ctx
        .require_admin("volume_extension:types_extra_specs:create")?;
    let mut body: Value = parse_json(&body)?;
    let specs = specs_field(&Value::Object(
        required_object(&mut body, "extra_specs")?.clone(),
    ))?;
    domain::set_specs(&st, &caller(&c), &id, &specs, None).await?;
    Ok(Json(json!({"extra_specs": specs})))
}

pub async fn spec_show(
    State(st): State<GatewayState>,
    c: Call,
    Path((id, key)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let t = domain::visible_type(&st, &caller(&c), &id).await?;
    let specs = visible_specs(&t, c.ctx.is_admin());
    let v = specs
        .get(&key)
        .ok_or_else(|| ApiError::from(domain::no_spec(&id, &key)))?;
    Ok(Json(json!({ key: v })))
}

pub async fn spec_update(
    State(st): State<GatewayState>,
    c: Call,
    Path((id, key)): Path<(String, String)>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    c.ctx
        .require_admin("volume_extension:types_extra_specs:update")?;
    let body: Value = parse_json(&body)?;
    let specs = specs_field(&body)?;
    if specs.len() > 1 {
        return Err(ApiError::bad_request(
            "Request body contains too many items.",
        ));
    }
    if !specs.contains_key(&key) {
        return Err(ApiError::bad_request("Request body and URI mismatch"));
    }
    domain::set_specs(&st, &caller(&c), &id, &specs, Some(&key)).await?;
    Ok(Json(json!(specs)))
}

pub async fn spec_delete(
    State(st): State<GatewayState>,
    c: Call,
    Path((id, key)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    c.ctx
        .require_admin("volume_extension:types_extra_specs:delete")?;
    domain::delete_spec(&st, &caller(&c), &id, &key).await?;
    Ok(StatusCode::ACCEPTED.into_response())
}

pub async fn access_list(
    State(st): State<GatewayState>,
    c: Call,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    c.ctx.require_admin("volume_extension:volume_type_access")?;
    let (t, projects) = domain::access_list(&st, &id).await?;
    let list: Vec<Value> = projects
        .into_iter()
        .map(|p| json!({"volume_type_id": t.id, "project_id": p}))
        .collect();
    Ok(Json(json!({"volume_type_access": list})))
}

pub async fn access_action(
    State(st): State<GatewayState>,
    c: Call,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body: Value = parse_json(&body)?;
    let (add, arg) = match (
        body.get("addProjectAccess"),
        body.get("removeProjectAccess"),
    ) {
        (Some(a), None) => (true, a),
        (None, Some(r)) => (false, r),
        _ => {
            let name = body
                .as_object()
                .and_then(|o| o.keys().next().cloned())
                .unwrap_or_default();
            return Err(ApiError::bad_request(format!(
                "There is no such action: {name}"
            )));
        }
    };
    c.ctx.require_admin(if add {
        "volume_extension:volume_type_access:addProjectAccess"
    } else {
        "volume_extension:volume_type_access:removeProjectAccess"
    })?;
    let project = arg
        .get("project")
        .and_then(Value::as_str)
        .filter(|p| !p.is_empty() && p.len() <= 255)
        .ok_or_else(|| {
            ApiError::bad_request("Missing required element 'project' in request body.")
        })?;
    domain::change_access(&st, &caller(&c), &id, project, add).await?;
    Ok(StatusCode::ACCEPTED.into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(public: bool) -> VolumeType {
        VolumeType {
            id: "id1".into(),
            name: "gold".into(),
            description: None,
            is_public: public,
            extra_specs: [
                ("multiattach".to_string(), "<is> True".to_string()),
                ("secret".to_string(), "x".to_string()),
            ]
            .into(),
            encryption: None,
            created_at: String::new(),
            updated_at: String::new(),
        }
    }

    #[test]
    fn views_hide_specs_from_users() {
        let admin = view(&t(false), true);
        assert_eq!(admin["extra_specs"].as_object().map(|m| m.len()), Some(2));
        assert_eq!(admin["os-volume-type-access:is_public"], false);
        assert!(admin.get("qos_specs_id").is_some());
        let user = view(&t(true), false);
        assert_eq!(user["extra_specs"], json!({"multiattach": "<is> True"}));
        assert!(user.get("qos_specs_id").is_none());
    }

    #[test]
    fn validation() {
        assert_eq!(name_field(&json!("  gold ")).ok(), Some("gold".to_string()));
        assert!(name_field(&json!("  ")).is_err());
        assert!(name_field(&json!(3)).is_err());
        assert!(name_field(&json!("x".repeat(256))).is_err());
        assert!(specs_field(&json!({"a:b": "c"})).is_ok());
        assert!(specs_field(&json!({"a": 1})).is_err());
        assert!(specs_field(&json!({"": "x"})).is_err());
        assert!(specs_field(&json!({"a%": "x"})).is_err());
        assert!(specs_field(&json!([])).is_err());
        let m = json!({"p": "yes", "q": 3, "r": false});
        let m = m.as_object().cloned().unwrap_or_default();
        assert_eq!(bool_field(&m, "p").ok(), Some(Some(true)));
        assert!(bool_field(&m, "q").is_err());
        assert_eq!(bool_field(&m, "r").ok(), Some(Some(false)));
        assert_eq!(bool_field(&m, "absent").ok(), Some(None));
    }
}
