//! `/snapshots`: each request parsed into a call of the volume domain
//! (`tricircle_volume`), whose answer is rendered.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{Method, Uri};
use axum::response::Response;
use axum::Extension;
use serde_json::Value;
use tricircle_volume::{routed, snapshots};

use super::microversion::VolumeVersion;
use super::resources::{caller, opt_string, render, required_object, SNAPSHOTS, VOLUMES};
use super::volumes::{passthrough_routed, show_routed, update_routed};
use super::{listing, ApiBase};
use crate::body::parse_json;
use crate::error::ApiError;
use crate::gateway::{Call, GatewayState};

/// `POST /snapshots`.
pub async fn create(
    State(st): State<GatewayState>,
    c: Call,
    body: Bytes,
) -> Result<Response, ApiError> {
    let mut parsed: Value = parse_json(&body)?;
    let snap = required_object(&mut parsed, "snapshot")?;
    if !snap.contains_key("volume_id") {
        return Err(ApiError::bad_request(
            "Invalid input for field/attribute snapshot. 'volume_id' is a required property",
        ));
    }
    // Cinder's schema lets `"volume_id": null` through, and the lookup of
    // the volume `None` is its 404.
    let Some(volume_id) = opt_string(snap, "volume_id")? else {
        return Err(VOLUMES.not_found("None").into());
    };
    let volume_id = VOLUMES.path_id(&volume_id)?;
    Ok(render(
        snapshots::create(&st, &caller(&c), volume_id, body).await?,
    ))
}

pub async fn list(
    State(st): State<GatewayState>,
    c: Call,
    base: ApiBase,
    Extension(mv): Extension<VolumeVersion>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    listing::list(&st, &c, &base, mv, &SNAPSHOTS, q.as_deref(), false).await
}

pub async fn list_detail(
    State(st): State<GatewayState>,
    c: Call,
    base: ApiBase,
    Extension(mv): Extension<VolumeVersion>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    listing::list(&st, &c, &base, mv, &SNAPSHOTS, q.as_deref(), true).await
}

pub async fn show(
    State(st): State<GatewayState>,
    c: Call,
    Extension(mv): Extension<VolumeVersion>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    show_routed(&st, &c, mv, &SNAPSHOTS, &id, q).await
}

pub async fn update(
    State(st): State<GatewayState>,
    c: Call,
    Extension(mv): Extension<VolumeVersion>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    update_routed(&st, &c, mv, &SNAPSHOTS, &id, body).await
}

pub async fn delete(
    State(st): State<GatewayState>,
    c: Call,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = SNAPSHOTS.path_id(&id)?;
    Ok(render(
        routed::delete(&st, &caller(&c), SNAPSHOTS.base, id, None).await?,
    ))
}

/// `POST /snapshots/{id}/action` (`os-reset_status`, `os-force_delete`,
/// `os-update_snapshot_status`, ...).
pub async fn action(
    State(st): State<GatewayState>,
    c: Call,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let parsed: Value = parse_json(&body)?;
    let force_delete = parsed.get("os-force_delete").is_some();
    let id = SNAPSHOTS.path_id(&id)?;
    let answer = routed::action(&st, &caller(&c), SNAPSHOTS.base, id, force_delete, body).await?;
    Ok(render(answer))
}

/// `metadata`, the one sub-resource Cinder documents besides actions.
pub async fn passthrough(
    State(st): State<GatewayState>,
    c: Call,
    method: Method,
    Path((id, _)): Path<(String, String)>,
    uri: Uri,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Result<Response, ApiError> {
    passthrough_routed(&st, &c, &SNAPSHOTS, method, &id, &uri, q, body).await
}
