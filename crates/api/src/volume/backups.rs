//! `/backups`: each request parsed into a call of the volume domain
//! (`tricircle_volume`), whose answer is rendered.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{Method, Uri};
use axum::response::Response;
use axum::Extension;
use serde_json::Value;
use tricircle_volume::backups::{self, BackupCreate};
use tricircle_volume::routed;

use super::microversion::VolumeVersion;
use super::resources::{caller, opt_string, render, required_object, BACKUPS, VOLUMES};
use super::volumes::{passthrough_routed, show_routed, update_routed};
use super::{listing, ApiBase};
use crate::body::parse_json;
use crate::error::ApiError;
use crate::gateway::{Call, GatewayState};

/// `POST /backups`.
pub async fn create(
    State(st): State<GatewayState>,
    c: Call,
    body: Bytes,
) -> Result<Response, ApiError> {
    let mut parsed: Value = parse_json(&body)?;
    let backup = required_object(&mut parsed, "backup")?;
    let volume_id = opt_string(backup, "volume_id")?.ok_or_else(|| {
        ApiError::bad_request(
            "Invalid input for field/attribute backup. 'volume_id' is a required property",
        )
    })?;
    let volume_id = VOLUMES.path_id(&volume_id)?.to_string();
    let availability_zone = opt_string(backup, "availability_zone")?;
    let req = BackupCreate {
        body: parsed,
        volume_id,
        availability_zone,
    };
    Ok(render(backups::create(&st, &caller(&c), req).await?))
}

pub async fn list(
    State(st): State<GatewayState>,
    c: Call,
    base: ApiBase,
    Extension(mv): Extension<VolumeVersion>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    listing::list(&st, &c, &base, mv, &BACKUPS, q.as_deref(), false).await
}

pub async fn list_detail(
    State(st): State<GatewayState>,
    c: Call,
    base: ApiBase,
    Extension(mv): Extension<VolumeVersion>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    listing::list(&st, &c, &base, mv, &BACKUPS, q.as_deref(), true).await
}

pub async fn show(
    State(st): State<GatewayState>,
    c: Call,
    Extension(mv): Extension<VolumeVersion>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    show_routed(&st, &c, mv, &BACKUPS, &id, q).await
}

pub async fn update(
    State(st): State<GatewayState>,
    c: Call,
    Extension(mv): Extension<VolumeVersion>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    update_routed(&st, &c, mv, &BACKUPS, &id, body).await
}

pub async fn delete(
    State(st): State<GatewayState>,
    c: Call,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let id = BACKUPS.path_id(&id)?;
    Ok(render(
        routed::delete(&st, &caller(&c), BACKUPS.base, id, q).await?,
    ))
}

/// `POST /backups/{id}/restore`: into a volume of the backup's pod, or a
/// new one there (counted against the quota like any new volume).
pub async fn restore(
    State(st): State<GatewayState>,
    c: Call,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let mut parsed: Value = parse_json(&body)?;
    let args = required_object(&mut parsed, "restore")?;
    let target = opt_string(args, "volume_id")?;
    let id = BACKUPS.path_id(&id)?;
    let target = match &target {
        Some(v) => Some(VOLUMES.path_id(v)?),
        None => None,
    };
    Ok(render(
        backups::restore(&st, &caller(&c), id, target, body).await?,
    ))
}

/// `POST /backups/{id}/action` (`os-reset_status`, `os-force_delete`).
pub async fn action(
    State(st): State<GatewayState>,
    c: Call,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let parsed: Value = parse_json(&body)?;
    let force_delete = parsed.get("os-force_delete").is_some();
    let id = BACKUPS.path_id(&id)?;
    let answer = routed::action(&st, &caller(&c), BACKUPS.base, id, force_delete, body).await?;
    Ok(render(answer))
}

/// `export_record`, the one sub-resource Cinder documents besides actions.
pub async fn passthrough(
    State(st): State<GatewayState>,
    c: Call,
    method: Method,
    Path((id, _)): Path<(String, String)>,
    uri: Uri,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Result<Response, ApiError> {
    passthrough_routed(&st, &c, &BACKUPS, method, &id, &uri, q, body).await
}
