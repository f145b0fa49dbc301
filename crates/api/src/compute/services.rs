//! `os-services` (admin only, list): every pod's compute services as one
//! list (see [`tricircle_compute::services`]).

use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde_json::{json, Value};
use tricircle_compute::Compute;

use super::hypervisors::gathered;
use super::microversion::Microversion;
use crate::error::ApiError;
use crate::gateway::listing;
use crate::gateway::{domain_caller, Call, GatewayState};

pub async fn index(
    State(st): State<GatewayState>,
    c: Call,
    Extension(mv): Extension<Microversion>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    c.ctx.require_admin("os_compute_api:os-services:list")?;
    let compute = Compute::new(st.gateway.clone());
    let strict = listing::strict(&c.headers);
    let r = compute
        .services(&domain_caller(&c), raw.as_deref(), mv.at_least(53), strict)
        .await;
    gathered(&st, r, |out| {
        Json(json!({ "services": Value::Array(out) })).into_response()
    })
}

pub(super) fn routes() -> axum::Router<GatewayState> {
    use axum::routing::get;
    axum::Router::new().route("/v2.1/os-services", get(index))
}
