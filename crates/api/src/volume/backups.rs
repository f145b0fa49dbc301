//! Backups: made in their volume's pod, reached through their routing,
//! listed across pods. Their own quotas are the pods'; a restore into a new
//! volume counts that volume against the project's quota across pods.

use std::collections::HashMap;
use tricircle_pods::PodPath;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{Method, StatusCode, Uri};
use axum::response::Response;
use axum::Extension;
use serde_json::{json, Value};

use super::microversion::VolumeVersion;
use super::resources::{
    fetch, forward, opt_string, required_object, resource_of, respond, size_of, BACKUPS, VOLUMES,
};
use super::volumes::{
    adopt, passthrough_routed, release, reserve_volume, show_routed, update_routed,
};
use super::{listing, ApiBase};
use crate::body::parse_json;
use crate::error::ApiError;
use crate::gateway::forward::Respond as _;
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
    let (_, pod) = VOLUMES.routed(&st, &c, &volume_id).await?;
    if let Some(az) = opt_string(backup, "availability_zone")? {
        if az != pod.az_name {
            return Err(ApiError::bad_request(format!(
                "Invalid input received: volume {volume_id} is in availability zone {}, not {az}.",
                pod.az_name
            )));
        }
        if pod.pod_az_name.is_empty() {
            backup.remove("availability_zone");
        } else {
            backup.insert("availability_zone".into(), json!(pod.pod_az_name));
        }
    }
    let answer = forward(
        &st,
        &c,
        &pod,
        Method::POST,
        PodPath::fixed("/backups"),
        None,
        Some(Bytes::from(parsed.to_string())),
    )
    .await?;
    if !answer.is_success() {
        return Ok(respond(&BACKUPS, answer, &pod, &HashMap::new()));
    }
    let Some(id) =
        resource_of(&answer, BACKUPS.singular).and_then(|b| b["id"].as_str().map(str::to_string))
    else {
        return Err(ApiError::new(
            StatusCode::BAD_GATEWAY,
            format!("Pod {} answered without a backup id.", pod.pod_name),
        ));
    };
    if let Err(e) = BACKUPS.record(&st, &c, &pod, &id, None, None).await {
        tracing::error!(error = %e.message, backup = %id, "routing write failed; deleting the backup in its pod");
        let _ = forward(
            &st,
            &c,
            &pod,
            Method::DELETE,
            PodPath::of(["backups", &id]),
            None,
            None,
        )
        .await;
        return Err(e);
    }
    Ok(respond(&BACKUPS, answer, &pod, &HashMap::new()))
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
    let (routing, pod) = BACKUPS.routed(&st, &c, &id).await?;
    let answer = forward(
        &st,
        &c,
        &pod,
        Method::DELETE,
        PodPath::of(["backups", &id]),
        q,
        None,
    )
    .await?;
    if answer.is_success() || answer.status == StatusCode::NOT_FOUND {
        BACKUPS.forget(&st, &routing).await?;
    }
    Ok(answer.into_response())
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
    let (_, pod) = BACKUPS.routed(&st, &c, &id).await?;
    let path = PodPath::of(["backups", &id, "restore"]);
    if let Some(volume_id) = target {
        let (_, volume_pod) = VOLUMES.routed(&st, &c, &volume_id).await?;
        if volume_pod.pod_id != pod.pod_id {
            return Err(ApiError::bad_request(format!(
                "Invalid input received: backup {id} is in availability zone {} and volume {volume_id} in {}: \
                 a backup can only be restored to a volume of the same pod.",
                pod.az_name, volume_pod.az_name
            )));
        }
        let answer = forward(&st, &c, &pod, Method::POST, path, None, Some(body)).await?;
        return Ok(answer.into_response());
    }
    let size = size_of(fetch(&st, &c, &BACKUPS, &pod, &id).await?.get("size")).unwrap_or(0);
    let reservation = reserve_volume(&st, &c, &pod, size).await?;
    let answer = match forward(&st, &c, &pod, Method::POST, path, None, Some(body)).await {
        Ok(a) if a.is_success() => a,
        Ok(a) => {
            st.store.release_reservations(&[reservation]).await?;
            return Ok(a.into_response());
        }
        Err(e) => {
            release(&st, reservation).await;
            return Err(e);
        }
    };
    let Some(volume_id) =
        resource_of(&answer, "restore").and_then(|r| r["volume_id"].as_str().map(str::to_string))
    else {
        release(&st, reservation).await;
        return Err(ApiError::new(
            StatusCode::BAD_GATEWAY,
            format!("Pod {} answered without the restored volume.", pod.pod_name),
        ));
    };
    adopt(&st, &c, &pod, &volume_id, reservation, None, size, None).await?;
    Ok(answer.into_response())
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
    let (routing, pod) = BACKUPS.routed(&st, &c, &id).await?;
    let answer = forward(
        &st,
        &c,
        &pod,
        Method::POST,
        PodPath::of(["backups", &id, "action"]),
        None,
        Some(body),
    )
    .await?;
    if force_delete && answer.is_success() {
        BACKUPS.forget(&st, &routing).await?;
    }
    Ok(respond(&BACKUPS, answer, &pod, &HashMap::new()))
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
