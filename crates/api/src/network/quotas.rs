//! `/v2.0/quotas`: network quotas per project.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};
use tricircle_network::NeutronError;

use super::resources::NeutronJson;
use super::{Caller, NetError, NetworkState};

/// `GET /quotas` (admin): projects with limits of their own.
pub(crate) async fn list(
    State(st): State<NetworkState>,
    caller: Caller,
) -> Result<Json<Value>, NetError> {
    let quotas = st.neutron.list_quotas(&caller.scope).await?;
    Ok(Json(json!({"quotas": quotas})))
}

/// `GET /quotas/{project}`; `GET /quotas/tenant` names the caller's project.
pub(crate) async fn show(
    State(st): State<NetworkState>,
    caller: Caller,
    Path(project): Path<String>,
) -> Result<Json<Value>, NetError> {
    if project == "tenant" || project == "project" {
        let id = &caller.scope.project_id;
        return Ok(Json(
            json!({ project.as_str(): {"tenant_id": id, "project_id": id} }),
        ));
    }
    let q = st.neutron.get_quota(&caller.scope, &project).await?;
    Ok(Json(json!({"quota": q})))
}

pub(crate) async fn defaults(
    State(st): State<NetworkState>,
    caller: Caller,
    Path(project): Path<String>,
) -> Result<Json<Value>, NetError> {
    let q = st.neutron.default_quota(&caller.scope, &project).await?;
    Ok(Json(json!({"quota": q})))
}

pub(crate) async fn details(
    State(st): State<NetworkState>,
    caller: Caller,
    Path(project): Path<String>,
) -> Result<Json<Value>, NetError> {
    let q = st.neutron.quota_details(&caller.scope, &project).await?;
    Ok(Json(json!({"quota": q})))
}

/// `PUT /quotas/{project}` with `{"quota": {...}}`.
pub(crate) async fn update(
    State(st): State<NetworkState>,
    caller: Caller,
    Path(project): Path<String>,
    NeutronJson(body): NeutronJson,
) -> Result<Json<Value>, NetError> {
    let inner = match body {
        Value::Object(mut m) => m.remove("quota"),
        _ => None,
    }
    .ok_or_else(|| NeutronError::bad_request("Unable to find 'quota' in request body"))?;
    let q = st
        .neutron
        .update_quota(&caller.scope, &project, inner)
        .await?;
    Ok(Json(json!({"quota": q})))
}

pub(crate) async fn delete(
    State(st): State<NetworkState>,
    caller: Caller,
    Path(project): Path<String>,
) -> Result<StatusCode, NetError> {
    st.neutron.delete_quota(&caller.scope, &project).await?;
    Ok(StatusCode::NO_CONTENT)
}
