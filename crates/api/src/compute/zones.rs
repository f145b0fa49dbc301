//! Availability zones (the AZs of bottom pods) and host aggregates (one per
//! bottom pod, `ag_<pod>`), answered from the top store.

use axum::extract::{Path, State};
use axum::{Extension, Json};
use serde_json::{json, Value};
use tricircle_store::Aggregate;

use super::microversion::Microversion;
use crate::error::ApiError;
use crate::gateway::{Call, GatewayState};

pub async fn zones(State(st): State<GatewayState>, _c: Call) -> Result<Json<Value>, ApiError> {
    let azs = st.gateway.availability_zones().await?;
    let info: Vec<Value> = azs
        .into_iter()
        .map(|(az, available)| json!({"zoneName": az, "zoneState": {"available": available}, "hosts": null}))
        .collect();
    Ok(Json(json!({"availabilityZoneInfo": info})))
}

/// Admin view: each AZ with its pods as hosts.
pub async fn zones_detail(
    State(st): State<GatewayState>,
    c: Call,
) -> Result<Json<Value>, ApiError> {
    c.ctx
        .require_admin("os_compute_api:os-availability-zone:detail")?;
    let pods = st.store.list_pods().await?;
    let mut names: Vec<String> = pods
        .iter()
        .filter(|p| !p.is_top())
        .map(|p| p.az_name.clone())
        .collect();
    names.sort();
    names.dedup();
    let info: Vec<Value> = names
        .into_iter()
        .map(|az| {
            let hosts: serde_json::Map<String, Value> = pods
                .iter()
                .filter(|p| p.az_name == az)
                .map(|p| {
                    (
                        p.pod_name.clone(),
                        json!({"nova-compute": {"available": !p.maintenance, "active": true, "updated_at": p.updated_at}}),
                    )
                })
                .collect();
            let available = pods.iter().any(|p| p.az_name == az && !p.maintenance);
            json!({"zoneName": az, "zoneState": {"available": available}, "hosts": hosts})
        })
        .collect();
    Ok(Json(json!({"availabilityZoneInfo": info})))
}

fn view(a: &Aggregate, mv: Microversion) -> Value {
    let mut v = json!({
        "id": a.id,
        "name": a.name,
        "availability_zone": a.metadata.get("availability_zone"),
        "hosts": [],
        "metadata": a.metadata,
        "created_at": a.created_at,
        "updated_at": a.updated_at,
        "deleted": false,
        "deleted_at": null,
    });
    if mv.at_least(41) {
        v["uuid"] = json!(a.uuid);
    }
    v
}

pub async fn aggregates(
    State(st): State<GatewayState>,
    c: Call,
    Extension(mv): Extension<Microversion>,
) -> Result<Json<Value>, ApiError> {
    c.ctx.require_admin("os_compute_api:os-aggregates:index")?;
    let list: Vec<Value> = st
        .store
        .list_aggregates()
        .await?
        .iter()
        .map(|a| view(a, mv))
        .collect();
    Ok(Json(json!({"aggregates": list})))
}

pub async fn aggregate(
    State(st): State<GatewayState>,
    c: Call,
    Extension(mv): Extension<Microversion>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    c.ctx.require_admin("os_compute_api:os-aggregates:show")?;
    let a = st
        .store
        .list_aggregates()
        .await?
        .into_iter()
        .find(|a| a.id.to_string() == id || a.uuid == id)
        .ok_or_else(|| ApiError::not_found(format!("Aggregate {id} could not be found.")))?;
    Ok(Json(json!({"aggregate": view(&a, mv)})))
}
