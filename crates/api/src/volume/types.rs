//! Volume types: kept at the top, copied into a pod the first time a volume
//! there needs one (Tricircle's service user creates it with the same name,
//! extra specs and, for private types, access for the project). Pods are
//! then asked for the type by name.

use std::collections::BTreeMap;
use tricircle_pods::PodPath;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Map, Value};
use tricircle_store::{
    NewRouting, Pod, Routing, RoutingFilter, StoreError, VolumeType, DEFAULT_VOLUME_TYPE,
};

use super::listing::query_pairs;
use super::resources::{as_service, required_object};
use crate::auth::Context;
use crate::body::parse_json;
use crate::error::ApiError;
use crate::gateway::forward::PodAnswer;
use crate::gateway::{Call, GatewayState};

/// Routing resource type of a type's copy in a pod (`top_id` the top type
/// id, `bottom_id` the pod's).
const ROUTING_TYPE: &str = "volume_type";

/// Extra specs every user may see (Cinder's `USER_VISIBLE_EXTRA_SPECS`).
const USER_VISIBLE_EXTRA_SPECS: &[&str] = &[
    "RESKEY:availability_zones",
    "multiattach",
    "replication_enabled",
];

fn not_found(id: &str) -> ApiError {
    ApiError::not_found(format!("Volume type {id} could not be found."))
}

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

/// The type named or identified by `ident` if `ctx` may see it (public,
/// shared with its project, or admin).
pub(super) async fn find_visible(
    st: &GatewayState,
    ctx: &Context,
    ident: &str,
) -> Result<Option<VolumeType>, ApiError> {
    let t = match st.store.get_volume_type(ident).await {
        Ok(t) => t,
        Err(StoreError::NotFound(_)) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    if t.is_public
        || ctx.is_admin()
        || st
            .store
            .volume_type_projects(&t.id)
            .await?
            .contains(&ctx.project_id)
    {
        Ok(Some(t))
    } else {
        Ok(None)
    }
}

/// Cinder's 404 for a volume type given by name or id in a request.
pub(super) fn not_found_by_ref(ident: &str) -> ApiError {
    if uuid::Uuid::try_parse(ident).is_ok() {
        not_found(ident)
    } else {
        ApiError::not_found(format!("Volume type with name {ident} could not be found."))
    }
}

/// The pod's id of its type named `name`, if it has one.
async fn pod_type_id(
    st: &GatewayState,
    c: &Call,
    pod: &Pod,
    name: &str,
) -> Result<Option<String>, ApiError> {
    let listed = as_service(
        st,
        c,
        pod,
        Method::GET,
        PodPath::fixed("/types"),
        Some("is_public=None"),
        None,
    )
    .await?;
    if !listed.is_success() {
        return Err(not_prepared(pod, name, &listed));
    }
    Ok(listed.json().and_then(|v| {
        v["volume_types"].as_array().and_then(|types| {
            types
                .iter()
                .find(|t| t["name"].as_str() == Some(name))
                .and_then(|t| t["id"].as_str().map(str::to_string))
        })
    }))
}

fn not_prepared(pod: &Pod, name: &str, answer: &PodAnswer) -> ApiError {
    tracing::error!(pod = %pod.pod_name, status = %answer.status, body = %String::from_utf8_lossy(&answer.body), "volume type copy failed");
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        format!(
            "Volume type {name} could not be prepared in pod {}.",
            pod.pod_name
        ),
    )
}

async fn copies(
    st: &GatewayState,
    type_id: &str,
    pod_id: Option<&str>,
) -> Result<Vec<Routing>, ApiError> {
    Ok(st
        .store
        .list_routings(
            &RoutingFilter {
                top_id: Some(type_id.to_string()),
                pod_id: pod_id.map(str::to_string),
                resource_type: Some(ROUTING_TYPE.into()),
                ..Default::default()
            },
            None,
            10_000,
        )
        .await?
        .routings)
}

/// Makes sure `t` exists in `pod` under its name, with its extra specs and,
/// if private, access for the caller's project. Idempotent: a copy found
/// by name (an earlier attempt, or a concurrent one) is used as it is.
pub(super) async fn ensure_in_pod(
    st: &GatewayState,
    c: &Call,
    pod: &Pod,
    t: &VolumeType,
) -> Result<(), ApiError> {
    let known = copies(st, &t.id, Some(&pod.pod_id))
        .await?
        .into_iter()
        .find_map(|r| r.bottom_id);
    let bottom_id = match known {
        Some(id) => id,
        None => {
            let id = match pod_type_id(st, c, pod, &t.name).await? {
                Some(id) => id,
                None => {
                    let body = json!({"volume_type": {
                        "name": t.name,
                        "description": t.description,
                        "os-volume-type-access:is_public": t.is_public,
                        "extra_specs": t.extra_specs,
                    }});
                    let created = as_service(
                        st,
                        c,
                        pod,
                        Method::POST,
                        PodPath::fixed("/types"),
                        None,
                        Some(body),
                    )
                    .await?;
                    if created.is_success() {
                        let id = created
                            .json()
                            .and_then(|v| v["volume_type"]["id"].as_str().map(str::to_string))
                            .ok_or_else(|| not_prepared(pod, &t.name, &created))?;
                        if let Some(spec) = &t.encryption {
                            let made = as_service(
                                st,
                                c,
                                pod,
                                Method::POST,
                                PodPath::of(["types", &id, "encryption"]),
                                None,
                                Some(super::encryption::copy_body(spec)),
                            )
                            .await?;
                            if !made.is_success() {
                                // No copy without its encryption: the next
                                // use makes both again.
                                let _gone = as_service(
                                    st,
                                    c,
                                    pod,
                                    Method::DELETE,
                                    PodPath::of(["types", &id]),
                                    None,
                                    None,
                                )
                                .await
                                .map_err(|e| tracing::warn!(pod = %pod.pod_name, error = %e.message,
                                    "an unencrypted copy of an encrypted volume type stays in the pod"));
                                return Err(not_prepared(pod, &t.name, &made));
                            }
                        }
                        id
                    } else if created.status == StatusCode::CONFLICT {
                        // Created meanwhile by a concurrent request.
                        pod_type_id(st, c, pod, &t.name)
                            .await?
                            .ok_or_else(|| not_prepared(pod, &t.name, &created))?
                    } else {
                        return Err(not_prepared(pod, &t.name, &created));
                    }
                }
            };
            match st
                .store
                .create_routing(&NewRouting {
                    top_id: t.id.clone(),
                    bottom_id: Some(id.clone()),
                    pod_id: pod.pod_id.clone(),
                    project_id: String::new(),
                    resource_type: ROUTING_TYPE.into(),
                })
                .await
            {
                Ok(_) | Err(StoreError::Conflict(_)) => {}
                Err(e) => return Err(e.into()),
            }
            id
        }
    };
    if !t.is_public {
        let body = json!({"addProjectAccess": {"project": c.ctx.project_id}});
        let r = as_service(
            st,
            c,
            pod,
            Method::POST,
            PodPath::of(["types", &bottom_id, "action"]),
            None,
            Some(body),
        )
        .await?;
        if !r.is_success() && r.status != StatusCode::CONFLICT {
            return Err(not_prepared(pod, &t.name, &r));
        }
    }
    Ok(())
}

/// Repeats a change in every pod holding a copy of the type (best effort:
/// the top is the reference, a failed pod is logged). `path` gets the
/// pod's type id appended after `/types/`. Returns the copies' answers.
pub(super) async fn propagate(
    st: &GatewayState,
    c: &Call,
    type_id: &str,
    method: Method,
    rest: &PodPath,
    body: Option<Value>,
) -> Vec<(Routing, Result<PodAnswer, ApiError>)> {
    let routings = match copies(st, type_id, None).await {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(error = %e.message, %type_id, "volume type copies unknown; change not propagated");
            return Vec::new();
        }
    };
    let mut out = Vec::new();
    for r in routings {
        let Some(bottom) = r.bottom_id.clone() else {
            continue;
        };
        let Ok(Some(pod)) = st.store.find_pod(&r.pod_id).await else {
            continue;
        };
        let answer = as_service(
            st,
            c,
            &pod,
            method.clone(),
            PodPath::of(["types", &bottom]).join(rest),
            None,
            body.clone(),
        )
        .await;
        match &answer {
            Ok(a) if a.is_success() || a.status == StatusCode::NOT_FOUND => {}
            Ok(a) => {
                tracing::warn!(pod = %pod.pod_name, status = %a.status, %type_id, "volume type change not applied in pod")
            }
            Err(e) => {
                tracing::warn!(pod = %pod.pod_name, error = %e.message, %type_id, "volume type change not applied in pod")
            }
        }
        out.push((r, answer));
    }
    out
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
    let types = match is_public {
        Some(true) => st.store.list_volume_types(Some(&c.ctx.project_id)).await?,
        Some(false) => st
            .store
            .list_volume_types(None)
            .await?
            .into_iter()
            .filter(|t| !t.is_public)
            .collect(),
        None => st.store.list_volume_types(None).await?,
    };
    let items: Vec<Value> = types.iter().map(|t| view(t, admin)).collect();
    Ok(Json(json!({"volume_types": items})).into_response())
}

pub async fn show(
    State(st): State<GatewayState>,
    c: Call,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    if id == "default" {
        let t = match st.store.get_volume_type(DEFAULT_VOLUME_TYPE).await {
            Ok(t) => t,
            Err(StoreError::NotFound(_)) => {
                return Err(ApiError::not_found("Default volume type can not be found."))
            }
            Err(e) => return Err(e.into()),
        };
        return Ok(Json(json!({"volume_type": view(&t, c.ctx.is_admin())})));
    }
    let t = find_visible(&st, &c.ctx, &id)
        .await?
        .ok_or_else(|| not_found(&id))?;
    Ok(Json(json!({"volume_type": view(&t, c.ctx.is_admin())})))
}

pub async fn create(
    State(st): State<GatewayState>,
    c: Call,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let mut body: Value = parse_json(&body)?;
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
    let specs = match t.get("extra_specs") {
        None | Some(Value::Null) => BTreeMap::new(),
        Some(v) => specs_field(v)?,
    };
    let is_public = bool_field(t, "os-volume-type-access:is_public")?.unwrap_or(true);
    c.ctx.require_admin("volume_extension:type_create")?;
    let created = st
        .store
        .create_volume_type(&name, description.as_deref(), is_public, &specs)
        .await?;
    Ok(Json(json!({"volume_type": manage_view(&created, true)})))
}

pub async fn update(
    State(st): State<GatewayState>,
    c: Call,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let mut body: Value = parse_json(&body)?;
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
    c.ctx.require_admin("volume_extension:type_update")?;
    if name.is_none() && description.is_none() && is_public.is_none() {
        return Err(ApiError::bad_request(
            "Specify volume type name, description, is_public or a combination thereof.",
        ));
    }
    let current = st
        .store
        .get_volume_type(&id)
        .await
        .map_err(|_| not_found(&id))?;
    if current.id != id {
        return Err(not_found(&id));
    }
    if current.name == DEFAULT_VOLUME_TYPE && name.as_ref().is_some_and(|n| *n != current.name) {
        // Cinder fails this with a 500; the pods' own copies keep the name.
        return Err(ApiError::bad_request(format!(
            "Cannot update volume_type {id}: the default volume type cannot be renamed."
        )));
    }
    let updated = st
        .store
        .update_volume_type(&id, name.as_deref(), description.as_deref(), is_public)
        .await?;
    // Pods are asked for the type by name: copies must follow a rename.
    let mut change = Map::new();
    if let Some(n) = &name {
        change.insert("name".into(), json!(n));
    }
    if let Some(d) = &description {
        change.insert("description".into(), json!(d));
    }
    if let Some(p) = is_public {
        change.insert("is_public".into(), json!(p));
    }
    propagate(
        &st,
        &c,
        &id,
        Method::PUT,
        &PodPath::default(),
        Some(json!({"volume_type": change})),
    )
    .await;
    Ok(Json(json!({"volume_type": manage_view(&updated, false)})))
}

/// Deletes the type in every pod holding a copy, then at the top. A pod
/// that refuses (the type is in use there) stops the delete with its
/// answer; copies already deleted are forgotten and re-created on use.
pub async fn delete(
    State(st): State<GatewayState>,
    c: Call,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    c.ctx.require_admin("volume_extension:type_delete")?;
    let t = st
        .store
        .get_volume_type(&id)
        .await
        .map_err(|_| not_found(&id))?;
    if t.id != id {
        return Err(not_found(&id));
    }
    if t.name == DEFAULT_VOLUME_TYPE {
        return Err(ApiError::bad_request(format!(
            "The volume type {id} is a default volume type and cannot be deleted."
        )));
    }
    let mut refused = None;
    for (routing, answer) in
        propagate(&st, &c, &id, Method::DELETE, &PodPath::default(), None).await
    {
        match answer {
            Ok(a) if a.status.is_client_error() && a.status != StatusCode::NOT_FOUND => {
                refused.get_or_insert(super::resources::refusal(&a));
            }
            _ => st.store.delete_routing(routing.id).await?,
        }
    }
    if let Some(e) = refused {
        return Err(e);
    }
    st.store.delete_volume_type(&id).await?;
    Ok(StatusCode::ACCEPTED.into_response())
}

pub(super) async fn visible_type(
    st: &GatewayState,
    c: &Call,
    id: &str,
) -> Result<VolumeType, ApiError> {
    find_visible(st, &c.ctx, id)
        .await?
        .filter(|t| t.id == id)
        .ok_or_else(|| not_found(id))
}

pub async fn specs_list(
    State(st): State<GatewayState>,
    c: Call,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let t = visible_type(&st, &c, &id).await?;
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
    let t = visible_type(&st, &c, &id).await?;
    st.store.set_volume_type_extra_specs(&t.id, &specs).await?;
    propagate(
        &st,
        &c,
        &id,
        Method::POST,
        &PodPath::fixed("/extra_specs"),
        Some(json!({"extra_specs": specs})),
    )
    .await;
    Ok(Json(json!({"extra_specs": specs})))
}

fn no_spec(id: &str, key: &str) -> ApiError {
    ApiError::not_found(format!(
        "Volume Type {id} has no extra specs with key {key}."
    ))
}

pub async fn spec_show(
    State(st): State<GatewayState>,
    c: Call,
    Path((id, key)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let t = visible_type(&st, &c, &id).await?;
    let specs = visible_specs(&t, c.ctx.is_admin());
    let v = specs.get(&key).ok_or_else(|| no_spec(&id, &key))?;
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
    let t = visible_type(&st, &c, &id).await?;
    st.store.set_volume_type_extra_specs(&t.id, &specs).await?;
    propagate(
        &st,
        &c,
        &id,
        Method::PUT,
        &PodPath::of(["extra_specs", &key]),
        Some(json!(specs)),
    )
    .await;
    Ok(Json(json!(specs)))
}

pub async fn spec_delete(
    State(st): State<GatewayState>,
    c: Call,
    Path((id, key)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    c.ctx
        .require_admin("volume_extension:types_extra_specs:delete")?;
    let t = visible_type(&st, &c, &id).await?;
    if !t.extra_specs.contains_key(&key) {
        return Err(no_spec(&id, &key));
    }
    st.store.delete_volume_type_extra_spec(&t.id, &key).await?;
    propagate(
        &st,
        &c,
        &id,
        Method::DELETE,
        &PodPath::of(["extra_specs", &key]),
        None,
    )
    .await;
    Ok(StatusCode::ACCEPTED.into_response())
}

pub async fn access_list(
    State(st): State<GatewayState>,
    c: Call,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    c.ctx.require_admin("volume_extension:volume_type_access")?;
    let t = st
        .store
        .get_volume_type(&id)
        .await
        .map_err(|_| not_found(&id))?;
    if t.is_public {
        return Err(ApiError::not_found(
            "Access list not available for public volume types.",
        ));
    }
    let list: Vec<Value> = st
        .store
        .volume_type_projects(&t.id)
        .await?
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
    let t = st
        .store
        .get_volume_type(&id)
        .await
        .map_err(|_| not_found(&id))?;
    if t.id != id {
        return Err(not_found(&id));
    }
    if t.is_public {
        return Err(ApiError::bad_request(
            "Invalid volume type: Type access modification is not applicable to public volume type.",
        ));
    }
    if add {
        // Copies get the access when the project first uses them there.
        st.store.add_volume_type_project(&t.id, project).await?;
    } else {
        st.store.remove_volume_type_project(&t.id, project).await?;
        propagate(
            &st,
            &c,
            &id,
            Method::POST,
            &PodPath::fixed("/action"),
            Some(json!({"removeProjectAccess": {"project": project}})),
        )
        .await;
    }
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
        assert_eq!(
            not_found_by_ref("gold").message,
            "Volume type with name gold could not be found."
        );
        assert_eq!(
            not_found_by_ref("0a6b3f5e-1111-4d4b-9a43-3f7c1a2b3c4d").message,
            "Volume type 0a6b3f5e-1111-4d4b-9a43-3f7c1a2b3c4d could not be found."
        );
    }
}
