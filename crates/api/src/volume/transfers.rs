//! Volume transfers (`/os-volume-transfer`, and `/volume-transfers` from
//! microversion 3.55): requests parsed here, served by the volume domain
//! (`tricircle_volume::transfers`).

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use tricircle_volume::transfers::{self as domain, Collection};

use super::resources::{all_tenants, caller, opt_string, render, required_object, VOLUMES};
use crate::body::parse_json;
use crate::error::ApiError;
use crate::gateway::{Call, GatewayState};

async fn create(
    st: GatewayState,
    c: Call,
    coll: Collection,
    body: Bytes,
) -> Result<Response, ApiError> {
    let mut parsed: Value = parse_json(&body)?;
    let t = required_object(&mut parsed, "transfer")?;
    let volume_id = opt_string(t, "volume_id")?.ok_or_else(|| {
        ApiError::bad_request(
            "Invalid input for field/attribute transfer. 'volume_id' is a required property",
        )
    })?;
    let volume_id = VOLUMES.path_id(&volume_id)?;
    let body = Bytes::from(parsed.to_string());
    Ok(render(
        domain::create(&st, &caller(&c), coll, volume_id, body).await?,
    ))
}

async fn list(
    st: GatewayState,
    c: Call,
    coll: Collection,
    detail: bool,
    q: Option<String>,
) -> Result<Response, ApiError> {
    let everyone = all_tenants(&c, q.as_deref());
    let items = domain::list(&st, &caller(&c), coll, detail, everyone, q).await?;
    Ok(Json(json!({ "transfers": items })).into_response())
}

async fn show(
    st: GatewayState,
    c: Call,
    coll: Collection,
    id: String,
) -> Result<Response, ApiError> {
    Ok(render(domain::show(&st, &caller(&c), coll, &id).await?))
}

async fn delete(
    st: GatewayState,
    c: Call,
    coll: Collection,
    id: String,
) -> Result<Response, ApiError> {
    Ok(render(domain::delete(&st, &caller(&c), coll, &id).await?))
}

/// Accepting: any project that has the id and the auth key may.
async fn accept(
    st: GatewayState,
    c: Call,
    coll: Collection,
    id: String,
    body: Bytes,
) -> Result<Response, ApiError> {
    let mut parsed: Value = parse_json(&body)?;
    let a = required_object(&mut parsed, "accept")?;
    if opt_string(a, "auth_key")?.is_none() {
        return Err(ApiError::bad_request(
            "Invalid input for field/attribute accept. 'auth_key' is a required property",
        ));
    }
    Ok(render(
        domain::accept(&st, &caller(&c), coll, &id, body).await?,
    ))
}

// ---------------------------------------------------------------- routes

pub async fn create_os(
    State(st): State<GatewayState>,
    c: Call,
    body: Bytes,
) -> Result<Response, ApiError> {
    create(st, c, Collection::Os, body).await
}
pub async fn create_new(
    State(st): State<GatewayState>,
    c: Call,
    body: Bytes,
) -> Result<Response, ApiError> {
    create(st, c, Collection::V355, body).await
}
pub async fn list_os(
    State(st): State<GatewayState>,
    c: Call,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    list(st, c, Collection::Os, false, q).await
}
pub async fn list_new(
    State(st): State<GatewayState>,
    c: Call,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    list(st, c, Collection::V355, false, q).await
}
pub async fn detail_os(
    State(st): State<GatewayState>,
    c: Call,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    list(st, c, Collection::Os, true, q).await
}
pub async fn detail_new(
    State(st): State<GatewayState>,
    c: Call,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    list(st, c, Collection::V355, true, q).await
}
pub async fn show_os(
    State(st): State<GatewayState>,
    c: Call,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    show(st, c, Collection::Os, id).await
}
pub async fn show_new(
    State(st): State<GatewayState>,
    c: Call,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    show(st, c, Collection::V355, id).await
}
pub async fn delete_os(
    State(st): State<GatewayState>,
    c: Call,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    delete(st, c, Collection::Os, id).await
}
pub async fn delete_new(
    State(st): State<GatewayState>,
    c: Call,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    delete(st, c, Collection::V355, id).await
}
pub async fn accept_os(
    State(st): State<GatewayState>,
    c: Call,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    accept(st, c, Collection::Os, id, body).await
}
pub async fn accept_new(
    State(st): State<GatewayState>,
    c: Call,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    accept(st, c, Collection::V355, id, body).await
}
