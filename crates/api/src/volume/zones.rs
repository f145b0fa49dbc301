//! Availability zones: the AZs of the bottom pods, from the top store.

use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::gateway::{Call, GatewayState};

/// `GET /os-availability-zone`: an AZ is available while one of its pods
/// is not in maintenance.
pub async fn zones(State(st): State<GatewayState>, _c: Call) -> Result<Json<Value>, ApiError> {
    let azs = st.gateway.availability_zones().await?;
    let info: Vec<Value> = azs
        .into_iter()
        .map(|(az, available)| json!({"zoneName": az, "zoneState": {"available": available}}))
        .collect();
    Ok(Json(json!({"availabilityZoneInfo": info})))
}
