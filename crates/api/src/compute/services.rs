//! `os-services` (admin only, list): every pod's compute services as one
//! list, hosts qualified by pod (`Pod1:pod1-compute1`), each pod's AZ
//! shown as the top's, integer ids our own before 2.53 (the ids the
//! hypervisors' `service` shows).

use axum::extract::{RawQuery, State};
use axum::response::Response;
use axum::Extension;
use serde_json::{json, Value};
use tricircle_pods::PodPath;

use super::hypervisors::{number_to_top, COMPUTE_SERVICE};
use super::microversion::Microversion;
use crate::error::ApiError;
use crate::gateway::across::{ask_pods, bottom_pods, qualify_field, services_query, zone_to_top};
use crate::gateway::{Call, GatewayState};

pub async fn index(
    State(st): State<GatewayState>,
    c: Call,
    Extension(mv): Extension<Microversion>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    c.ctx.require_admin("os_compute_api:os-services:list")?;
    let (pods, query) = services_query(bottom_pods(&st).await?, raw.as_deref());
    let across = match ask_pods(
        &st,
        &c,
        pods,
        "compute",
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
            if !mv.at_least(53) {
                number_to_top(&st, &r.pod, &mut s, "id", COMPUTE_SERVICE).await?;
            }
            out.push(s);
        }
    }
    Ok(across.respond(&st, json!({ "services": Value::Array(out) }), "services"))
}

pub(super) fn routes() -> axum::Router<GatewayState> {
    use axum::routing::get;
    axum::Router::new().route("/v2.1/os-services", get(index))
}
