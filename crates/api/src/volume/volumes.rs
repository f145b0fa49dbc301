//! `/volumes`: each request parsed into a call of the volume domain
//! (`tricircle_volume`), whose answer is rendered.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{Method, Uri};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde_json::{json, Value};
use tricircle_volume::cinder::{size_of, Request};
use tricircle_volume::volume_actions::VolumeAction;
use tricircle_volume::volume_create::VolumeCreate;
use tricircle_volume::{routed, summary, volume_actions, volume_create};

use super::microversion::VolumeVersion;
use super::resources::{
    all_tenants, caller, opt_string, render, required_object, Kind, BACKUPS, SNAPSHOTS, VOLUMES,
};
use super::{listing, ApiBase};
use crate::body::parse_json;
use crate::error::ApiError;
use crate::gateway::{subresource, Call, GatewayState, SKIPPED_PODS_HEADER};

/// Cinder's largest size (its database's integer).
const MAX_SIZE: i64 = 2_147_483_647;

/// A volume size: a positive integer (or a string of one) no larger than
/// Cinder's database holds.
fn positive_size(field: &str, v: &Value) -> Result<i64, ApiError> {
    let n = size_of(Some(v)).filter(|n| *n >= 1).ok_or_else(|| {
        ApiError::bad_request(format!(
            "Invalid input for field/attribute {field}. Value: {v}. {v} is not a positive integer"
        ))
    })?;
    if n > MAX_SIZE {
        return Err(ApiError::bad_request(format!(
            "Invalid input for field/attribute {field}. Value: {v}. {v} is greater than the maximum of {MAX_SIZE}"
        )));
    }
    Ok(n)
}

/// `POST /volumes`, parsed.
fn parse_create(body: &Bytes, mv: VolumeVersion) -> Result<VolumeCreate, ApiError> {
    let mut body: Value = parse_json(body)?;
    let vol = required_object(&mut body, "volume")?;
    let size = match vol.get("size") {
        None | Some(Value::Null) => None,
        Some(v) => Some(positive_size("size", v)?),
    };
    let availability_zone = opt_string(vol, "availability_zone")?;
    if availability_zone.as_deref() == Some("") {
        return Err(ApiError::bad_request(
            "Invalid input for field/attribute availability_zone. Value: . '' is too short",
        ));
    }
    let volume_type = opt_string(vol, "volume_type")?.filter(|t| !t.is_empty());
    check_metadata(vol)?;
    let mut sources = Vec::new();
    for (field, kind) in [
        ("snapshot_id", &SNAPSHOTS),
        ("source_volid", &VOLUMES),
        ("backup_id", &BACKUPS),
    ] {
        if let Some(id) = opt_string(vol, field)? {
            sources.push((kind.base, id));
        }
    }
    Ok(VolumeCreate {
        body,
        size,
        availability_zone,
        volume_type,
        sources,
        show_type_ids: mv.at_least(63),
    })
}

/// Cinder's schema of a new volume's `metadata` (string keys of
/// `[a-zA-Z0-9-_:. /]{1,255}`, string values): checked before anything is
/// copied into a pod for the volume, so a refused create leaves nothing.
fn check_metadata(vol: &serde_json::Map<String, Value>) -> Result<(), ApiError> {
    let Some(meta) = vol.get("metadata").filter(|v| !v.is_null()) else {
        return Ok(());
    };
    let Some(obj) = meta.as_object() else {
        return Err(ApiError::bad_request(format!(
            "Invalid input for field/attribute metadata. Value: {meta}. {meta} is not of type 'object'"
        )));
    };
    for (k, v) in obj {
        let key_ok = !k.is_empty()
            && k.chars().count() <= 255
            && k.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_:. /".contains(c));
        if !key_ok {
            return Err(ApiError::bad_request(format!(
                "Invalid input for field/attribute metadata. Value: {meta}. Additional properties are not allowed ('{k}' was unexpected)"
            )));
        }
        if !v.is_string() {
            return Err(ApiError::bad_request(format!(
                "Invalid input for field/attribute {k}. Value: {v}. {v} is not of type 'string'"
            )));
        }
    }
    Ok(())
}

/// `POST /volumes`.
pub async fn create(
    State(st): State<GatewayState>,
    c: Call,
    Extension(mv): Extension<VolumeVersion>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let req = parse_create(&body, mv)?;
    Ok(render(volume_create::create(&st, &caller(&c), req).await?))
}

// ------------------------------------------------------------------ lists

pub async fn list(
    State(st): State<GatewayState>,
    c: Call,
    base: ApiBase,
    Extension(mv): Extension<VolumeVersion>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    listing::list(&st, &c, &base, mv, &VOLUMES, q.as_deref(), false).await
}

pub async fn list_detail(
    State(st): State<GatewayState>,
    c: Call,
    base: ApiBase,
    Extension(mv): Extension<VolumeVersion>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    listing::list(&st, &c, &base, mv, &VOLUMES, q.as_deref(), true).await
}

/// `GET /volumes/summary` (3.12+): the pods' summaries added up.
pub async fn summary(
    State(st): State<GatewayState>,
    c: Call,
    Extension(mv): Extension<VolumeVersion>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    if !mv.at_least(12) {
        return Err(ApiError::not_found("The resource could not be found."));
    }
    let everyone = all_tenants(&c, q.as_deref());
    let sum = summary::summary(&st, &caller(&c), everyone, q).await?;
    let mut s = json!({"total_count": sum.total_count, "total_size": sum.total_size});
    if mv.at_least(36) {
        s["metadata"] = Value::Object(sum.metadata);
    }
    let mut resp = Json(json!({"volume-summary": s})).into_response();
    if let Ok(v) = sum.skipped.join(",").parse() {
        if !sum.skipped.is_empty() {
            resp.headers_mut().insert(SKIPPED_PODS_HEADER, v);
        }
    }
    Ok(resp)
}

// ------------------------------------------------------- routed operations

pub async fn show(
    State(st): State<GatewayState>,
    c: Call,
    Extension(mv): Extension<VolumeVersion>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    show_routed(&st, &c, mv, &VOLUMES, &id, q).await
}

/// Show for every kind.
pub(super) async fn show_routed(
    st: &GatewayState,
    c: &Call,
    mv: VolumeVersion,
    kind: &Kind,
    id: &str,
    q: Option<String>,
) -> Result<Response, ApiError> {
    let id = kind.path_id(id)?;
    let answer = routed::show(st, &caller(c), kind.base, id, q, mv.at_least(63)).await?;
    Ok(render(answer))
}

pub async fn update(
    State(st): State<GatewayState>,
    c: Call,
    Extension(mv): Extension<VolumeVersion>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    update_routed(&st, &c, mv, &VOLUMES, &id, body).await
}

/// Update for every kind: the body must be JSON; the pod checks the rest.
pub(super) async fn update_routed(
    st: &GatewayState,
    c: &Call,
    mv: VolumeVersion,
    kind: &Kind,
    id: &str,
    body: Bytes,
) -> Result<Response, ApiError> {
    let _: Value = parse_json(&body)?;
    let id = kind.path_id(id)?;
    let answer = routed::update(st, &caller(c), kind.base, id, body, mv.at_least(63)).await?;
    Ok(render(answer))
}

pub async fn delete(
    State(st): State<GatewayState>,
    c: Call,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let id = VOLUMES.path_id(&id)?;
    // A cascading delete takes the volume's snapshots along.
    let cascade = listing::query_pairs(q.as_deref())
        .iter()
        .any(|(k, v)| k == "cascade" && listing::truthy(v));
    Ok(render(
        volume_actions::delete(&st, &caller(&c), id, cascade, q).await?,
    ))
}

/// `POST /volumes/{id}/action`, parsed.
fn parse_action(body: Bytes) -> Result<VolumeAction, ApiError> {
    let mut parsed: Value = parse_json(&body)?;
    let name = parsed
        .as_object()
        .filter(|o| o.len() == 1)
        .and_then(|o| o.keys().next().cloned())
        .ok_or_else(|| ApiError::bad_request("Invalid request body: give exactly one action."))?;
    match name.as_str() {
        "os-extend" => {
            let new_size = match parsed["os-extend"].get("new_size") {
                Some(v) => Some(positive_size("new_size", v)?),
                None => None,
            };
            Ok(VolumeAction::Extend {
                new_size,
                body: parsed,
            })
        }
        "os-retype" => {
            let args = parsed["os-retype"].as_object_mut().ok_or_else(|| {
                ApiError::bad_request("Invalid input for field/attribute os-retype.")
            })?;
            let new_type = opt_string(args, "new_type")?.ok_or_else(|| {
                ApiError::bad_request(
                    "Invalid input for field/attribute os-retype. 'new_type' is a required property",
                )
            })?;
            Ok(VolumeAction::Retype {
                new_type,
                body: parsed,
            })
        }
        _ => Ok(VolumeAction::Other { name, body }),
    }
}

/// `POST /volumes/{id}/action`: forwarded, with what the top must know
/// first (quota for `os-extend`, the type for `os-retype`) or after
/// (`os-force_delete`).
pub async fn action(
    State(st): State<GatewayState>,
    c: Call,
    Extension(mv): Extension<VolumeVersion>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let action = parse_action(body)?;
    let id = VOLUMES.path_id(&id)?;
    let answer = volume_actions::action(&st, &caller(&c), id, action, mv.at_least(63)).await?;
    Ok(render(answer))
}

/// Sub-resources of a volume (`metadata`, `encryption`, ...): the ones
/// Cinder documents are forwarded to its pod.
pub async fn passthrough(
    State(st): State<GatewayState>,
    c: Call,
    method: Method,
    Path((id, _)): Path<(String, String)>,
    uri: Uri,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Result<Response, ApiError> {
    passthrough_routed(&st, &c, &VOLUMES, method, &id, &uri, q, body).await
}

/// A sub-resource of `kind`'s `id` (the request's `uri` is
/// `/v3/{collection}/{id}/{sub-resource}`) forwarded to its pod, if
/// `kind` lets it through.
#[allow(clippy::too_many_arguments)]
pub(super) async fn passthrough_routed(
    st: &GatewayState,
    c: &Call,
    kind: &Kind,
    method: Method,
    id: &str,
    uri: &Uri,
    q: Option<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let sub = subresource::check(
        kind.subresources,
        &method,
        subresource::raw_tail(uri.path(), 3),
    )?;
    let id = kind.path_id(id)?;
    let request = Request {
        method,
        path: sub,
        query: q,
        body: Some(body),
    };
    Ok(render(
        routed::passthrough(st, &caller(c), kind.base, id, request).await?,
    ))
}
