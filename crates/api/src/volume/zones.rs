//! Availability zones: the AZs of the bottom pods, from the top store.

use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::gateway::{Call, GatewayState};

/// `GET /os-availability-zone`: an AZ is available while one of its pods
/// is not in maintenance.
pub async fn zones(State(st): State<GatewayState>, _c: Call) -> Result<Json<Value>, ApiError> {
    let pods = st.store.list_pods().await?;
    let mut azs: Vec<(String, bool)> = Vec::new();
    for p in pods.iter().filter(|p| !p.is_top()) {
        match azs.iter_mut().find(|(az, _)| *az == p.az_name) {
            Some((_, available)) => *available |= !p.maintenance,
            None => azs.push((p.az_name.clone(), !p.maintenance)),
        }
    }
    azs.sort();
    let info: Vec<Value> = azs
        .into_iter()
        .map(|(az, available)| json!({"zoneName": az, "zoneState": {"available": available}}))
        .collect();
    Ok(Json(json!({"availabilityZoneInfo": info})))
}
