//! `os-services` (admin only, list): every pod's volume services as one
//! list (see [`tricircle_volume::services`]).

use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use tricircle_volume::VolumeError;

use super::resources::caller;
use crate::error::ApiError;
use crate::gateway::listing::{self, render_gathered};
use crate::gateway::{Call, GatewayState};

pub async fn index(
    State(st): State<GatewayState>,
    c: Call,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    c.ctx.require_admin("volume_extension:services:index")?;
    let strict = listing::strict(&c.headers);
    match tricircle_volume::services::services(&st, &caller(&c), raw.as_deref(), strict).await {
        Err(VolumeError::TokenRefused) => Ok(st.auth.unauthorized_response()),
        Err(e) => Err(e.into()),
        Ok(g) => Ok(render_gathered(g, |out| {
            Json(json!({ "services": Value::Array(out) })).into_response()
        })),
    }
}

pub(super) fn routes() -> axum::Router<GatewayState> {
    use axum::routing::get;
    axum::Router::new().route("/v3/os-services", get(index))
}
