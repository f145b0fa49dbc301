//! The volume gateway: Cinder API v3 (port 19997) over many pods, with the
//! `/v2` path alias.
//!
//! Volumes, snapshots and backups live in pods and are reached through
//! their routing; lists fan out to the pods. Volume types (copied into a pod
//! on first use there), availability zones, limits and quotas are answered
//! from the top store. Errors use Cinder's bodies
//! (`{"badRequest": {"message", "code"}}`).

mod backups;
mod encryption;
mod extensions;
mod listing;
pub mod microversion;
mod quotas;
mod resources;
mod services;
mod snapshots;
mod transfers;
mod types;
mod volumes;
mod zones;

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use tower::Layer;

use self::microversion::VolumeVersion;
use crate::error::ApiError;
use crate::gateway::project_path::UrlProject;
use crate::gateway::{our_root, project_path, GatewayState};

/// Top-level collections of the volume API: a first path segment that is
/// none of these is a project id.
const COLLECTIONS: &[&str] = &[
    "volumes",
    "snapshots",
    "backups",
    "types",
    "os-availability-zone",
    "limits",
    "os-quota-sets",
    "os-quota-class-sets",
    "extensions",
    "attachments",
    "messages",
    "groups",
    "group_types",
    "group_snapshots",
    "consistencygroups",
    "cgsnapshots",
    "os-services",
    "os-hosts",
    "scheduler-stats",
    "qos-specs",
    "os-volume-transfer",
    "volume-transfers",
    "workers",
    "manageable_volumes",
    "manageable_snapshots",
    "os-volume-manage",
    "os-snapshot-manage",
    "clusters",
    "default-types",
    "capabilities",
    "resource_filters",
];

/// The catalog service type of Cinder v3 in the pods.
pub(crate) use tricircle_volume::SERVICE_TYPE;

/// Marks a request that came in under `/v2` (served as v3 at 3.0, without
/// microversion headers).
#[derive(Debug, Clone, Copy)]
struct Legacy;

pub fn volume_router(state: GatewayState) -> Router {
    let protected = Router::new()
        .route("/v3/volumes", get(volumes::list).post(volumes::create))
        .route("/v3/volumes/detail", get(volumes::list_detail))
        .route("/v3/volumes/summary", get(volumes::summary))
        .route(
            "/v3/volumes/{id}",
            get(volumes::show)
                .put(volumes::update)
                .delete(volumes::delete),
        )
        .route("/v3/volumes/{id}/action", post(volumes::action))
        .route("/v3/volumes/{id}/{*rest}", any(volumes::passthrough))
        .route(
            "/v3/snapshots",
            get(snapshots::list).post(snapshots::create),
        )
        .route("/v3/snapshots/detail", get(snapshots::list_detail))
        .route(
            "/v3/snapshots/{id}",
            get(snapshots::show)
                .put(snapshots::update)
                .delete(snapshots::delete),
        )
        .route("/v3/snapshots/{id}/action", post(snapshots::action))
        .route("/v3/snapshots/{id}/{*rest}", any(snapshots::passthrough))
        .route("/v3/backups", get(backups::list).post(backups::create))
        .route("/v3/backups/detail", get(backups::list_detail))
        .route(
            "/v3/backups/{id}",
            get(backups::show)
                .put(backups::update)
                .delete(backups::delete),
        )
        .route("/v3/backups/{id}/restore", post(backups::restore))
        .route("/v3/backups/{id}/action", post(backups::action))
        .route("/v3/backups/{id}/{*rest}", any(backups::passthrough))
        .route("/v3/types", get(types::list).post(types::create))
        .route(
            "/v3/types/{id}",
            get(types::show).put(types::update).delete(types::delete),
        )
        .route(
            "/v3/types/{id}/extra_specs",
            get(types::specs_list).post(types::specs_create),
        )
        .route(
            "/v3/types/{id}/extra_specs/{key}",
            get(types::spec_show)
                .put(types::spec_update)
                .delete(types::spec_delete),
        )
        .route(
            "/v3/types/{id}/os-volume-type-access",
            get(types::access_list),
        )
        .route("/v3/types/{id}/action", post(types::access_action))
        .route(
            "/v3/os-volume-transfer",
            get(transfers::list_os).post(transfers::create_os),
        )
        .route("/v3/os-volume-transfer/detail", get(transfers::detail_os))
        .route(
            "/v3/os-volume-transfer/{id}",
            get(transfers::show_os).delete(transfers::delete_os),
        )
        .route(
            "/v3/os-volume-transfer/{id}/accept",
            post(transfers::accept_os),
        )
        .route(
            "/v3/volume-transfers",
            get(transfers::list_new).post(transfers::create_new),
        )
        .route("/v3/volume-transfers/detail", get(transfers::detail_new))
        .route(
            "/v3/volume-transfers/{id}",
            get(transfers::show_new).delete(transfers::delete_new),
        )
        .route(
            "/v3/volume-transfers/{id}/accept",
            post(transfers::accept_new),
        )
        .route(
            "/v3/types/{id}/encryption",
            get(encryption::index).post(encryption::create),
        )
        .route(
            "/v3/types/{id}/encryption/{key}",
            get(encryption::show)
                .put(encryption::update)
                .delete(encryption::delete),
        )
        .route("/v3/os-availability-zone", get(zones::zones))
        .route("/v3/extensions", get(extensions::list))
        .route("/v3/limits", get(quotas::limits))
        .route(
            "/v3/os-quota-sets/{project}",
            get(quotas::show).put(quotas::update).delete(quotas::delete),
        )
        .route(
            "/v3/os-quota-sets/{project}/defaults",
            get(quotas::defaults),
        )
        .merge(services::routes())
        .route_layer(middleware::map_response(retry_after))
        .route_layer(middleware::from_fn_with_state(state.clone(), negotiate))
        .route_layer(middleware::from_fn_with_state(
            state.auth.clone(),
            crate::gateway::authenticate,
        ));
    let inner = crate::shell::common_layers(
        Router::new()
            .route("/", get(versions))
            .route("/v3", get(version_v3))
            .route("/v3/", get(version_v3))
            .route("/v2", get(version_v2))
            .route("/v2/", get(version_v2))
            .merge(protected),
        "volume",
        state.max_body_size,
    )
    .with_state(state);
    // The project id comes out of the path before routing, then `/v2`
    // becomes `/v3`.
    let strip = middleware::from_fn(|req, next| {
        project_path::strip_project(&["/v3", "/v2"], COLLECTIONS, req, next)
    });
    let alias = middleware::from_fn(legacy_alias);
    Router::new()
        .fallback_service(strip.layer(alias.layer(inner)))
        .layer(middleware::map_response(crate::error::json_error_bodies))
}

/// `/v2/...` resources are served by the v3 routes (Cinder's v2 API is v3
/// at 3.0); the version documents stay where they are.
async fn legacy_alias(mut req: Request, next: Next) -> Response {
    let rewritten = req
        .uri()
        .path()
        .strip_prefix("/v2/")
        .filter(|rest| !rest.is_empty())
        .map(|rest| match req.uri().query() {
            Some(q) => format!("/v3/{rest}?{q}"),
            None => format!("/v3/{rest}"),
        });
    if let Some(uri) = rewritten.and_then(|pq| pq.parse::<Uri>().ok()) {
        *req.uri_mut() = uri;
        req.extensions_mut().insert(Legacy);
    }
    next.run(req).await
}

/// The newest microversion every pod and this gateway speak.
pub(crate) async fn newest(state: &GatewayState) -> VolumeVersion {
    match state.gateway.newest_pod_version(SERVICE_TYPE).await {
        Some((3, minor)) => VolumeVersion(minor.min(microversion::OURS_MAX.0)),
        _ => microversion::OURS_MAX,
    }
}

/// Fixes the request's microversion, and stamps the answer with it.
async fn negotiate(State(state): State<GatewayState>, mut req: Request, next: Next) -> Response {
    if req.extensions().get::<Legacy>().is_some() {
        microversion::pin_request(req.headers_mut(), microversion::MIN);
        req.extensions_mut().insert(microversion::MIN);
        let mut resp = next.run(req).await;
        // v2 answers carry no microversion headers.
        resp.headers_mut().remove("openstack-api-version");
        resp.headers_mut().remove("vary");
        return resp;
    }
    let max = newest(&state).await;
    let v = match microversion::negotiate(req.headers(), max) {
        Ok(v) => v,
        Err(refusal) => {
            let mut resp = fault(&refusal.error);
            if let Some(requested) = refusal.requested {
                microversion::stamp_response(resp.headers_mut(), &requested);
            }
            return resp;
        }
    };
    microversion::pin_request(req.headers_mut(), v);
    req.extensions_mut().insert(v);
    let mut resp = next.run(req).await;
    microversion::stamp_response(resp.headers_mut(), &v.header_value());
    resp
}

/// Cinder's quota refusals (413) tell clients they may retry at once.
async fn retry_after(mut resp: Response) -> Response {
    if resp.status() == StatusCode::PAYLOAD_TOO_LARGE && !resp.headers().contains_key("retry-after")
    {
        resp.headers_mut()
            .insert("retry-after", HeaderValue::from_static("0"));
    }
    resp
}

/// An error as Cinder's fault wrapper renders it: like [`ApiError`], except
/// that statuses Cinder has no fault name for are `computeFault` (406).
fn fault(e: &ApiError) -> Response {
    if e.status == StatusCode::NOT_ACCEPTABLE {
        let body = json!({"computeFault": {"message": e.message, "code": e.status.as_u16()}});
        return (e.status, Json(body)).into_response();
    }
    e.clone().into_response()
}

/// `{root}/v3[/{project_id}]` (or `/v2`) as the client addressed the API,
/// for links the gateway writes itself.
#[derive(Debug, Clone)]
pub(crate) struct ApiBase(pub String);

impl ApiBase {
    pub fn url(&self, rest: &str) -> String {
        format!("{}/{rest}", self.0)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ApiBase {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let version = if parts.extensions.get::<Legacy>().is_some() {
            "v2"
        } else {
            "v3"
        };
        let mut base = format!("{}/{version}", our_root(&parts.headers));
        if let Some(UrlProject(p)) = parts.extensions.get::<UrlProject>() {
            base.push('/');
            base.push_str(p);
        }
        Ok(ApiBase(base))
    }
}

fn v3_document(root: &str, max: VolumeVersion) -> Value {
    json!({
        "id": "v3.0",
        "status": "CURRENT",
        "version": max.header_value(),
        "min_version": microversion::MIN.header_value(),
        "updated": "2023-08-31T00:00:00Z",
        "links": [
            {"rel": "describedby", "type": "text/html", "href": "https://docs.openstack.org/"},
            {"rel": "self", "href": format!("{root}/v3/")}
        ],
        "media-types": [{"base": "application/json", "type": "application/vnd.openstack.volume+json;version=3"}]
    })
}

fn v2_document(root: &str) -> Value {
    json!({
        "id": "v2.0",
        "status": "DEPRECATED",
        "version": "",
        "min_version": "",
        "updated": "2017-02-25T12:00:00Z",
        "links": [
            {"rel": "describedby", "type": "text/html", "href": "https://docs.openstack.org/"},
            {"rel": "self", "href": format!("{root}/v2/")}
        ],
        "media-types": [{"base": "application/json", "type": "application/vnd.openstack.volume+json;version=2"}]
    })
}

/// `GET /`: 300 Multiple Choices, as Cinder answers it.
async fn versions(State(state): State<GatewayState>, headers: HeaderMap) -> Response {
    let root = our_root(&headers);
    let max = newest(&state).await;
    let body = json!({"versions": [v2_document(&root), v3_document(&root, max)]});
    (StatusCode::MULTIPLE_CHOICES, Json(body)).into_response()
}

/// `GET /v3/`: Cinder lists the one version.
async fn version_v3(State(state): State<GatewayState>, headers: HeaderMap) -> Json<Value> {
    let max = newest(&state).await;
    Json(json!({"versions": [v3_document(&our_root(&headers), max)]}))
}

async fn version_v2(headers: HeaderMap) -> Json<Value> {
    Json(json!({"versions": [v2_document(&our_root(&headers))]}))
}
