//! Volume transfers (`/os-volume-transfer`, and `/volume-transfers` from
//! microversion 3.55): made in their volume's pod and reached through their
//! routing; listed from the pods where the project has some. Another
//! project accepts one with the transfer's id and auth key: the pod gets
//! that user's token, and once the pod has given the volume (and the
//! snapshots it took along) to the new project, their routings and quota
//! move to it at the top in one transaction.

use std::cmp::Ordering;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use tricircle_pods::PodPath;
use tricircle_store::{NewRouting, Pod, Routing, RoutingFilter};

use super::listing::{query_pairs, truthy};
use super::resources::{
    as_service, forward, opt_string, refusal, required_object, resource_of, VOLUMES,
};
use super::volumes::{release, reserve_volume};
use crate::body::parse_json;
use crate::error::ApiError;
use crate::gateway::forward::Respond as _;
use crate::gateway::{routed_pod, Call, GatewayState};

/// Routing resource type of a transfer.
const ROUTING: &str = "transfer";
/// The collection before and from 3.55.
const OS: &str = "os-volume-transfer";
const V355: &str = "volume-transfers";

fn not_found(id: &str) -> ApiError {
    ApiError::not_found(format!("Transfer {id} could not be found."))
}

async fn create(
    st: GatewayState,
    c: Call,
    coll: &'static str,
    body: Bytes,
) -> Result<Response, ApiError> {
    let mut parsed: Value = parse_json(&body)?;
    let t = required_object(&mut parsed, "transfer")?;
    let volume_id = opt_string(t, "volume_id")?.ok_or_else(|| {
        ApiError::bad_request(
            "Invalid input for field/attribute transfer. 'volume_id' is a required property",
        )
    })?;
    let (_, pod) = VOLUMES.routed(&st, &c, &volume_id).await?;
    let answer = forward(
        &st,
        &c,
        &pod,
        Method::POST,
        PodPath::of([coll]),
        None,
        Some(Bytes::from(parsed.to_string())),
    )
    .await?;
    if !answer.is_success() {
        return Ok(answer.respond(|_| {}));
    }
    let Some(id) =
        resource_of(&answer, "transfer").and_then(|t| t["id"].as_str().map(str::to_string))
    else {
        return Err(ApiError::new(
            StatusCode::BAD_GATEWAY,
            format!("Pod {} answered without a transfer id.", pod.pod_name),
        ));
    };
    let routing = NewRouting {
        top_id: id.clone(),
        bottom_id: Some(id.clone()),
        pod_id: pod.pod_id.clone(),
        project_id: c.ctx.project_id.clone(),
        resource_type: ROUTING.into(),
    };
    if let Err(e) = st.store.create_routing(&routing).await {
        // Nobody could reach it: it goes (and the volume is free again).
        tracing::error!(error = %e, transfer = %id, "routing write failed; deleting the transfer in its pod");
        let _gone = forward(
            &st,
            &c,
            &pod,
            Method::DELETE,
            PodPath::of([coll, &id]),
            None,
            None,
        )
        .await;
        return Err(e.into());
    }
    Ok(answer.respond(|_| {}))
}

/// Newest first, as Cinder lists them (`created_at`, then `id`, both
/// descending); brief views have no `created_at`.
fn newest_first(a: &Value, b: &Value) -> Ordering {
    let key = |v: &Value| {
        (
            v["created_at"].as_str().unwrap_or("").to_string(),
            v["id"].as_str().unwrap_or("").to_string(),
        )
    };
    key(b).cmp(&key(a))
}

async fn list(
    st: GatewayState,
    c: Call,
    coll: &'static str,
    detail: bool,
    q: Option<String>,
) -> Result<Response, ApiError> {
    let everyone = c.ctx.is_admin()
        && query_pairs(q.as_deref())
            .iter()
            .any(|(k, v)| k == "all_tenants" && truthy(v));
    let wanted = if everyone {
        None
    } else {
        Some(
            st.store
                .pods_with_resources(&c.ctx.project_id, ROUTING)
                .await?,
        )
    };
    let pods: Vec<Pod> = st
        .store
        .list_pods()
        .await?
        .into_iter()
        .filter(|p| !p.is_top())
        .filter(|p| wanted.as_ref().is_none_or(|w| w.contains(&p.pod_id)))
        .collect();
    let path = if detail {
        PodPath::of([coll, "detail"])
    } else {
        PodPath::of([coll])
    };
    let answers = futures::future::join_all(
        pods.iter()
            .map(|p| forward(&st, &c, p, Method::GET, path.clone(), q.clone(), None)),
    )
    .await;
    let mut items: Vec<Value> = Vec::new();
    for answer in answers {
        let answer = answer?;
        if !answer.is_success() {
            return Err(refusal(&answer));
        }
        if let Some(mut v) = answer.json() {
            answer.links.rewrite_json(&mut v);
            if let Some(Value::Array(found)) = v.get_mut("transfers").map(Value::take) {
                items.extend(found);
            }
        }
    }
    items.sort_by(newest_first);
    Ok(Json(json!({ "transfers": items })).into_response())
}

/// The caller's transfer and its pod.
async fn routed(st: &GatewayState, c: &Call, id: &str) -> Result<(Routing, Pod), ApiError> {
    if uuid::Uuid::try_parse(id).is_err() {
        return Err(not_found(id));
    }
    routed_pod(st, &c.ctx, ROUTING, id)
        .await?
        .ok_or_else(|| not_found(id))
}

async fn show(
    st: GatewayState,
    c: Call,
    coll: &'static str,
    id: String,
) -> Result<Response, ApiError> {
    let (routing, pod) = routed(&st, &c, &id).await?;
    let answer = forward(
        &st,
        &c,
        &pod,
        Method::GET,
        PodPath::of([coll, &id]),
        None,
        None,
    )
    .await?;
    if answer.status == StatusCode::NOT_FOUND {
        st.store.delete_routing(routing.id).await?;
    }
    Ok(answer.respond(|_| {}))
}

async fn delete(
    st: GatewayState,
    c: Call,
    coll: &'static str,
    id: String,
) -> Result<Response, ApiError> {
    let (routing, pod) = routed(&st, &c, &id).await?;
    let answer = forward(
        &st,
        &c,
        &pod,
        Method::DELETE,
        PodPath::of([coll, &id]),
        None,
        None,
    )
    .await?;
    if answer.is_success() || answer.status == StatusCode::NOT_FOUND {
        st.store.delete_routing(routing.id).await?;
    }
    Ok(answer.respond(|_| {}))
}

/// Accepting: any project that has the id and the auth key may.
async fn accept(
    st: GatewayState,
    c: Call,
    coll: &'static str,
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
    if uuid::Uuid::try_parse(&id).is_err() {
        return Err(not_found(&id));
    }
    let filter = RoutingFilter {
        top_id: Some(id.clone()),
        resource_type: Some(ROUTING.into()),
        ..Default::default()
    };
    let routing = st
        .store
        .list_routings(&filter, None, 1)
        .await?
        .routings
        .into_iter()
        .next()
        .ok_or_else(|| not_found(&id))?;
    let pod = st
        .store
        .find_pod(&routing.pod_id)
        .await?
        .ok_or_else(|| not_found(&id))?;
    // What it moves: the volume, its size for the new owner's quota.
    let shown = as_service(
        &st,
        &c,
        &pod,
        Method::GET,
        PodPath::of([OS, &id]),
        None,
        None,
    )
    .await?;
    if shown.status == StatusCode::NOT_FOUND {
        st.store.delete_routing(routing.id).await?;
        return Err(not_found(&id));
    }
    let volume_id = resource_of(&shown, "transfer")
        .and_then(|t| t["volume_id"].as_str().map(str::to_string))
        .ok_or_else(|| refusal(&shown))?;
    let volume = as_service(
        &st,
        &c,
        &pod,
        Method::GET,
        PodPath::of(["volumes", &volume_id]),
        None,
        None,
    )
    .await?;
    let size = resource_of(&volume, "volume")
        .and_then(|v| v["size"].as_i64())
        .ok_or_else(|| refusal(&volume))?;
    let reservation = reserve_volume(&st, &c, &pod, size).await?;
    let answer = match forward(
        &st,
        &c,
        &pod,
        Method::POST,
        PodPath::of([coll, &id, "accept"]),
        None,
        Some(body),
    )
    .await
    {
        Ok(a) if a.is_success() => a,
        Ok(a) => {
            release(&st, reservation).await;
            return Ok(a.respond(|_| {}));
        }
        Err(e) => {
            // No answer: the caller may try again (the pod answers 404 if it
            // did accept). Known gap: a transfer the pod accepted without
            // the answer reaching us leaves the volume's routing with the
            // old project.
            release(&st, reservation).await;
            return Err(e);
        }
    };
    let mut moved = vec![("volume".to_string(), volume_id.clone())];
    moved.extend(
        moved_snapshots(&st, &c, &pod, &volume_id)
            .await
            .into_iter()
            .map(|s| ("snapshot".to_string(), s)),
    );
    let pairs: Vec<(&str, &str)> = moved
        .iter()
        .map(|(t, i)| (t.as_str(), i.as_str()))
        .collect();
    st.store
        .move_resources(&pairs, &c.ctx.project_id, &[reservation])
        .await?;
    st.store.delete_routing(routing.id).await?;
    Ok(answer.respond(|_| {}))
}

/// The snapshots of a volume that now belong to the caller's project (a
/// transfer takes them along unless it was made with `no_snapshots`).
async fn moved_snapshots(st: &GatewayState, c: &Call, pod: &Pod, volume_id: &str) -> Vec<String> {
    let query = format!("all_tenants=1&volume_id={volume_id}");
    let listed = match as_service(
        st,
        c,
        pod,
        Method::GET,
        PodPath::of(["snapshots", "detail"]),
        Some(&query),
        None,
    )
    .await
    {
        Ok(a) if a.is_success() => a,
        _ => {
            tracing::warn!(%volume_id, "the snapshots a transfer moved are unknown; their routings stay with the old project");
            return Vec::new();
        }
    };
    listed
        .json()
        .and_then(|v| v["snapshots"].as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter(|s| {
            s["os-extended-snapshot-attributes:project_id"].as_str()
                == Some(c.ctx.project_id.as_str())
        })
        .filter_map(|s| s["id"].as_str().map(str::to_string))
        .collect()
}

// ---------------------------------------------------------------- routes

pub async fn create_os(
    State(st): State<GatewayState>,
    c: Call,
    body: Bytes,
) -> Result<Response, ApiError> {
    create(st, c, OS, body).await
}
pub async fn create_new(
    State(st): State<GatewayState>,
    c: Call,
    body: Bytes,
) -> Result<Response, ApiError> {
    create(st, c, V355, body).await
}
pub async fn list_os(
    State(st): State<GatewayState>,
    c: Call,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    list(st, c, OS, false, q).await
}
pub async fn list_new(
    State(st): State<GatewayState>,
    c: Call,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    list(st, c, V355, false, q).await
}
pub async fn detail_os(
    State(st): State<GatewayState>,
    c: Call,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    list(st, c, OS, true, q).await
}
pub async fn detail_new(
    State(st): State<GatewayState>,
    c: Call,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    list(st, c, V355, true, q).await
}
pub async fn show_os(
    State(st): State<GatewayState>,
    c: Call,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    show(st, c, OS, id).await
}
pub async fn show_new(
    State(st): State<GatewayState>,
    c: Call,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    show(st, c, V355, id).await
}
pub async fn delete_os(
    State(st): State<GatewayState>,
    c: Call,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    delete(st, c, OS, id).await
}
pub async fn delete_new(
    State(st): State<GatewayState>,
    c: Call,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    delete(st, c, V355, id).await
}
pub async fn accept_os(
    State(st): State<GatewayState>,
    c: Call,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    accept(st, c, OS, id, body).await
}
pub async fn accept_new(
    State(st): State<GatewayState>,
    c: Call,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    accept(st, c, V355, id, body).await
}
