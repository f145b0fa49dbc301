//! Availability zones (the AZs of bottom pods) and host aggregates (one per
//! bottom pod, `ag_<pod>`): see `tricircle_compute::zones`.

use axum::extract::{Path, State};
use axum::{Extension, Json};
use serde_json::{json, Value};
use tricircle_store::Aggregate;

use super::domain::domain;
use super::microversion::Microversion;
use crate::error::ApiError;
use crate::gateway::{Call, GatewayState};

pub async fn zones(State(st): State<GatewayState>, c: Call) -> Result<Json<Value>, ApiError> {
    let (compute, _) = domain(&st, &c);
    let azs = compute.availability_zones().await?;
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
    let (compute, _) = domain(&st, &c);
    let info: Vec<Value> = compute
        .zone_hosts()
        .await?
        .into_iter()
        .map(|z| {
            let hosts: serde_json::Map<String, Value> = z
                .pods
                .iter()
                .map(|p| {
                    (
                        p.pod_name.clone(),
                        json!({"nova-compute": {"available": !p.maintenance, "active": true, "updated_at": p.updated_at}}),
                    )
                })
                .collect();
            json!({"zoneName": z.zone, "zoneState": {"available": z.available}, "hosts": hosts})
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
    let (compute, _) = domain(&st, &c);
    let list: Vec<Value> = compute
        .aggregates()
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
    let (compute, _) = domain(&st, &c);
    let a = compute.aggregate(&id).await?;
    Ok(Json(json!({"aggregate": view(&a, mv)})))
}
