//! Snapshots: made in their volume's pod, reached through their routing,
//! listed across pods, counted against the project's quota (`snapshots`
//! and the volume's `gigabytes`, as Cinder counts them).

use std::collections::HashMap;
use tricircle_pods::PodPath;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{Method, StatusCode, Uri};
use axum::response::Response;
use axum::Extension;
use serde_json::Value;
use tricircle_store::{Reservation, Usage};

use super::microversion::VolumeVersion;
use super::resources::{
    fetch, forward, opt_string, over_quota, required_object, resource_of, respond, size_of,
    SNAPSHOTS, VOLUMES,
};
use super::volumes::{passthrough_routed, release, show_routed, update_routed};
use super::{listing, ApiBase};
use crate::body::parse_json;
use crate::error::ApiError;
use crate::gateway::forward::Respond as _;
use crate::gateway::{project_limits, Call, GatewayState};

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
        return Err(VOLUMES.not_found("None"));
    };
    let (_, pod) = VOLUMES.routed(&st, &c, &volume_id).await?;
    let volume = fetch(&st, &c, &VOLUMES, &pod, &volume_id).await?;
    let size = size_of(volume.get("size")).unwrap_or(0);
    let limits = project_limits(&st, &c.ctx.project_id).await?;
    let each = Usage {
        snapshots: 1,
        gigabytes: size,
        ..Default::default()
    };
    let reservation = match st
        .store
        .reserve(&Reservation {
            project_id: &c.ctx.project_id,
            pod_id: &pod.pod_id,
            resource_type: SNAPSHOTS.singular,
            each,
            min_count: 1,
            max_count: 1,
            limits: &limits,
            ttl: crate::create_checks::reservation_ttl(st.pods.timeout()),
        })
        .await?
    {
        Ok(ids) => ids.into_iter().next().ok_or_else(ApiError::internal)?,
        Err(q) => return Err(over_quota(&q, &SNAPSHOTS)),
    };
    let answer = match forward(
        &st,
        &c,
        &pod,
        Method::POST,
        PodPath::fixed("/snapshots"),
        None,
        Some(body),
    )
    .await
    {
        Ok(a) if a.is_success() => a,
        Ok(a) => {
            st.store.release_reservations(&[reservation]).await?;
            return Ok(respond(&SNAPSHOTS, a, &pod, &HashMap::new()));
        }
        Err(e) => {
            release(&st, reservation).await;
            return Err(e);
        }
    };
    let Some(id) =
        resource_of(&answer, SNAPSHOTS.singular).and_then(|s| s["id"].as_str().map(str::to_string))
    else {
        release(&st, reservation).await;
        return Err(ApiError::new(
            StatusCode::BAD_GATEWAY,
            format!("Pod {} answered without a snapshot id.", pod.pod_name),
        ));
    };
    if let Err(e) = SNAPSHOTS
        .record(&st, &c, &pod, &id, Some((reservation, each)), None)
        .await
    {
        tracing::error!(error = %e.message, snapshot = %id, "routing write failed; deleting the snapshot in its pod");
        let _ = forward(
            &st,
            &c,
            &pod,
            Method::DELETE,
            PodPath::of(["snapshots", &id]),
            None,
            None,
        )
        .await;
        release(&st, reservation).await;
        return Err(e);
    }
    Ok(respond(&SNAPSHOTS, answer, &pod, &HashMap::new()))
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
    let (routing, pod) = SNAPSHOTS.routed(&st, &c, &id).await?;
    let answer = forward(
        &st,
        &c,
        &pod,
        Method::DELETE,
        PodPath::of(["snapshots", &id]),
        None,
        None,
    )
    .await?;
    if answer.is_success() || answer.status == StatusCode::NOT_FOUND {
        SNAPSHOTS.forget(&st, &routing).await?;
    }
    Ok(answer.into_response())
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
    let (routing, pod) = SNAPSHOTS.routed(&st, &c, &id).await?;
    let answer = forward(
        &st,
        &c,
        &pod,
        Method::POST,
        PodPath::of(["snapshots", &id, "action"]),
        None,
        Some(body),
    )
    .await?;
    if force_delete && answer.is_success() {
        SNAPSHOTS.forget(&st, &routing).await?;
    }
    Ok(respond(&SNAPSHOTS, answer, &pod, &HashMap::new()))
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
