//! `os-services` (admin only, list): every pod's volume services as one
//! list, hosts qualified by pod (`Pod1:host@backend`), each pod's AZ shown
//! as the top's.

use axum::extract::{RawQuery, State};
use axum::response::Response;
use serde_json::{json, Value};
use tricircle_pods::PodPath;

use super::SERVICE_TYPE;
use crate::error::ApiError;
use crate::gateway::across::{ask_pods, bottom_pods, qualify_field, services_query, zone_to_top};
use crate::gateway::{Call, GatewayState};

pub async fn index(
    State(st): State<GatewayState>,
    c: Call,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    c.ctx.require_admin("volume_extension:services:index")?;
    let (pods, query) = services_query(bottom_pods(&st).await?, raw.as_deref());
    let across = match ask_pods(
        &st,
        &c,
        pods,
        SERVICE_TYPE,
        &PodPath::fixed("/os-services"),
        query.as_deref(),
    )
    .await
    {
        Ok(a) => a,
        Err(resp) => return Ok(resp),
    };
    if let Some(e) = across.refusal(&[]) {
        return Err(e);
    }
    let mut out = Vec::new();
    for r in across.successes() {
        for s in r.body["services"].as_array().into_iter().flatten() {
            let mut s = s.clone();
            qualify_field(&mut s, "host", &r.pod);
            zone_to_top(&mut s, "zone", &r.pod);
            out.push(s);
        }
    }
    Ok(across.respond(&st, json!({ "services": Value::Array(out) }), "services"))
}

pub(super) fn routes() -> axum::Router<GatewayState> {
    use axum::routing::get;
    axum::Router::new().route("/v3/os-services", get(index))
}
