//! `/servers/{id}/ips`: the server's addresses, all or one network's.

use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

use crate::compute::ctx::{Ctx, P};
use crate::compute::error::{NResult, NovaError};
use crate::compute::interfaces::server_with_nics;
use crate::compute::view::addresses;
use crate::pod::Pod;

/// `GET /servers/{id}/ips`.
pub(crate) async fn ips(State(pod): State<Pod>, ctx: Ctx, p: P) -> NResult<Json<Value>> {
    let s = server_with_nics(&pod, &ctx, p.get("server_id"))?;
    Ok(Json(json!({"addresses": addresses(&s, false)})))
}

/// `GET /servers/{id}/ips/{network}`.
pub(crate) async fn ips_network(State(pod): State<Pod>, ctx: Ctx, p: P) -> NResult<Json<Value>> {
    let s = server_with_nics(&pod, &ctx, p.get("server_id"))?;
    let net = p.get("network");
    let all = addresses(&s, false);
    match all.get(net) {
        Some(list) => Ok(Json(json!({ net: list }))),
        None => Err(NovaError::not_found(
            "Instance is not a member of specified network",
        )),
    }
}
