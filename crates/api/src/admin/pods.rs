use axum::extract::{Path, Query, State};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use tricircle_core::{PodSpec, PodUpdate};
use tricircle_store::{Pod, PodHealthRow, StoreError};

use super::{parse_bool, reject_unknown_params, AdminState};
use crate::auth::Context;
use crate::body::JsonBody;
use crate::error::ApiError;

pub(super) fn router() -> Router<AdminState> {
    Router::new()
        .route("/v1.0/pods", get(list).post(create))
        .route("/v1.0/pods/{pod_id}", get(show).put(update).delete(delete))
        .route("/v1.0/pods/{pod_id}/endpoints", get(endpoints))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    pod: PodSpec,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateBody {
    pod: PodUpdate,
}

fn pod_view(p: &Pod, health: Option<&PodHealthRow>) -> Value {
    json!({
        "pod_id": p.pod_id,
        "pod_name": p.pod_name,
        "az_name": p.az_name,
        "pod_az_name": p.pod_az_name,
        "dc_name": p.dc_name,
        "maintenance": p.maintenance,
        "created_at": p.created_at,
        "updated_at": p.updated_at,
        "health": health_view(health),
    })
}

/// Ours: the pod's health as the gateway instances share it (see
/// docs/admin-api.md). `unknown` until a call or a probe reached the pod.
fn health_view(h: Option<&PodHealthRow>) -> Value {
    let Some(h) = h else {
        return json!({
            "state": "unknown",
            "since": null,
            "last_error": null,
            "last_error_at": null,
            "consecutive_failures": 0,
            "successes": 0,
            "failures": 0,
            "free_capacity": null,
            "updated_at": null,
        });
    };
    let free_capacity = match (h.free_vcpus, h.free_ram_mb) {
        (Some(vcpus), Some(ram_mb)) => {
            json!({"vcpus": vcpus, "ram_mb": ram_mb, "probed_at": h.probed_at})
        }
        _ => Value::Null,
    };
    json!({
        "state": h.state,
        "since": h.since,
        "last_error": h.last_error,
        "last_error_at": h.last_error_at,
        "consecutive_failures": h.consecutive_failures,
        "successes": h.successes,
        "failures": h.failures,
        "free_capacity": free_capacity,
        "updated_at": h.updated_at,
    })
}

async fn create(
    ctx: Context,
    State(st): State<AdminState>,
    JsonBody(body): JsonBody<CreateBody>,
) -> Result<Json<Value>, ApiError> {
    ctx.require_admin("admin_api:pods:create")?;
    let pod = body
        .pod
        .validate()
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let created = st.store.create_pod(&pod).await?;
    tracing::info!(pod_id = %created.pod_id, pod_name = %created.pod_name, "pod created");
    Ok(Json(json!({"pod": pod_view(&created, None)})))
}

async fn list(
    ctx: Context,
    State(st): State<AdminState>,
    Query(params): Query<Vec<(String, String)>>,
) -> Result<Json<Value>, ApiError> {
    ctx.require_admin("admin_api:pods:list")?;
    reject_unknown_params(&params, &["az_name", "pod_name"])?;
    let pods = st.store.list_pods().await?;
    let wanted = |p: &Pod| {
        params.iter().all(|(k, v)| match k.as_str() {
            "az_name" => &p.az_name == v,
            "pod_name" => &p.pod_name == v,
            _ => true,
        })
    };
    let health = st.store.list_pod_health().await?;
    let pods: Vec<Value> = pods
        .iter()
        .filter(|p| wanted(p))
        .map(|p| pod_view(p, health.iter().find(|h| h.pod_id == p.pod_id)))
        .collect();
    Ok(Json(json!({"pods": pods})))
}

async fn show(
    ctx: Context,
    State(st): State<AdminState>,
    Path(pod_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    ctx.require_admin("admin_api:pods:show")?;
    let pod = st.store.get_pod(&pod_id).await?;
    let health = st.store.get_pod_health(&pod.pod_id).await?;
    Ok(Json(json!({"pod": pod_view(&pod, health.as_ref())})))
}

async fn update(
    ctx: Context,
    State(st): State<AdminState>,
    Path(pod_id): Path<String>,
    JsonBody(body): JsonBody<UpdateBody>,
) -> Result<Json<Value>, ApiError> {
    ctx.require_admin("admin_api:pods:put")?;
    if body.pod.is_empty() {
        return Err(ApiError::bad_request(
            "Nothing to update: give pod_az_name, dc_name or maintenance",
        ));
    }
    let current = st.store.get_pod(&pod_id).await?;
    let update = body
        .pod
        .validate(current.is_top())
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    if current.is_top() && update.maintenance == Some(true) {
        return Err(ApiError::bad_request(
            "The top pod takes no part in scheduling; maintenance applies to bottom pods",
        ));
    }
    let pod = st.store.update_pod(&pod_id, &update).await?;
    tracing::info!(pod_id = %pod.pod_id, maintenance = pod.maintenance, "pod updated");
    let health = st.store.get_pod_health(&pod.pod_id).await?;
    Ok(Json(json!({"pod": pod_view(&pod, health.as_ref())})))
}

async fn delete(
    ctx: Context,
    State(st): State<AdminState>,
    Path(pod_id): Path<String>,
    Query(params): Query<Vec<(String, String)>>,
) -> Result<Json<Value>, ApiError> {
    ctx.require_admin("admin_api:pods:delete")?;
    reject_unknown_params(&params, &["force"])?;
    let force = match params.iter().find(|(k, _)| k == "force") {
        Some((_, v)) => parse_bool("force", v)?,
        None => false,
    };
    match st.store.delete_pod(&pod_id, force).await {
        Ok(()) => {
            tracing::info!(%pod_id, force, "pod deleted");
            Ok(Json(json!({})))
        }
        Err(StoreError::NotFound(m)) => Err(ApiError::not_found(m)),
        Err(e) => Err(e.into()),
    }
}

/// Ours: the pod's service endpoints as Tricircle resolves them from the
/// Keystone catalog (region = pod name). `?refresh=true` re-reads the
/// catalog first. Lets an operator check a pod's wiring before use.
async fn endpoints(
    ctx: Context,
    State(st): State<AdminState>,
    Path(pod_id): Path<String>,
    Query(params): Query<Vec<(String, String)>>,
) -> Result<Json<Value>, ApiError> {
    ctx.require_admin("admin_api:pods:endpoints")?;
    reject_unknown_params(&params, &["refresh"])?;
    let refresh = match params.iter().find(|(k, _)| k == "refresh") {
        Some((_, v)) => parse_bool("refresh", v)?,
        None => false,
    };
    let pod = st.store.get_pod(&pod_id).await?;
    let Some(resolver) = &st.endpoints else {
        return Err(ApiError::new(
            axum::http::StatusCode::NOT_IMPLEMENTED,
            "Endpoint resolution needs auth_strategy = keystone",
        ));
    };
    let map = resolver
        .region_endpoints(&pod.pod_name, refresh)
        .await
        .map_err(|e| {
            tracing::error!(error = %e, pod = %pod.pod_name, "catalog read failed");
            ApiError::new(
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                "The identity service could not be asked for the catalog; try again later.",
            )
        })?;
    let mut endpoints: Vec<Value> = map
        .into_iter()
        .map(|(service_type, url)| {
            json!({"service_type": service_type, "interface": resolver.interface().as_str(), "url": url})
        })
        .collect();
    endpoints.sort_by(|a, b| a["service_type"].as_str().cmp(&b["service_type"].as_str()));
    Ok(Json(
        json!({"pod_id": pod.pod_id, "region": pod.pod_name, "endpoints": endpoints}),
    ))
}
