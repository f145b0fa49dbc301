//! The compute gateway: Nova API v2.1 (port 19998) over many pods.
//!
//! Servers live in pods and are reached through their routing; lists fan
//! out to the pods. Flavors, keypairs, aggregates, availability zones,
//! limits and quotas are answered from the top store. Errors use Nova's
//! bodies (`{"badRequest": {"message", "code"}}`).

mod boot_networks;
mod domain;
mod extensions;
mod flavors;
mod hypervisors;
mod image_metadata;
mod images;
mod keypairs;
mod limits;
pub mod microversion;
mod server_checks;
mod server_groups;
mod servers;
mod services;
mod usage;
mod zones;

use axum::extract::{Request, State};
use axum::http::HeaderMap;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use tower::Layer;

use self::microversion::Microversion;
use crate::gateway::{our_root, project_path, GatewayState};

/// Top-level collections of the compute API: a first path segment that is
/// none of these is a project id.
const COLLECTIONS: &[&str] = &[
    "servers",
    "flavors",
    "os-keypairs",
    "os-availability-zone",
    "os-aggregates",
    "limits",
    "os-quota-sets",
    "os-quota-class-sets",
    "images",
    "extensions",
    "os-hypervisors",
    "os-services",
    "os-networks",
    "os-server-groups",
    "os-simple-tenant-usage",
    "os-migrations",
    "os-instance_usage_audit_log",
    "os-volumes",
    "os-volumes_boot",
    "os-snapshots",
    "os-security-groups",
    "os-floating-ips",
    "os-assisted-volume-snapshots",
    "os-server-external-events",
];

pub fn compute_router(state: GatewayState) -> Router {
    let protected = Router::new()
        .route("/v2.1/servers", get(servers::list).post(servers::create))
        .route("/v2.1/servers/detail", get(servers::list_detail))
        .route(
            "/v2.1/servers/{id}",
            get(servers::show)
                .put(servers::passthrough_root)
                .delete(servers::delete),
        )
        .route("/v2.1/servers/{id}/action", post(servers::action))
        .route(
            "/v2.1/servers/{id}/os-volume_attachments",
            get(servers::passthrough_root_sub).post(servers::attach_volume),
        )
        .route("/v2.1/servers/{id}/{*rest}", any(servers::passthrough))
        .route("/v2.1/flavors", get(flavors::list).post(flavors::create))
        .route("/v2.1/flavors/detail", get(flavors::list_detail))
        .route(
            "/v2.1/flavors/{id}",
            get(flavors::show)
                .put(flavors::update)
                .delete(flavors::delete),
        )
        .route(
            "/v2.1/flavors/{id}/os-extra_specs",
            get(flavors::specs_list).post(flavors::specs_create),
        )
        .route(
            "/v2.1/flavors/{id}/os-extra_specs/{key}",
            get(flavors::spec_show)
                .put(flavors::spec_update)
                .delete(flavors::spec_delete),
        )
        .route(
            "/v2.1/flavors/{id}/os-flavor-access",
            get(flavors::access_list),
        )
        .route("/v2.1/flavors/{id}/action", post(flavors::access_action))
        .route(
            "/v2.1/os-keypairs",
            get(keypairs::list).post(keypairs::create),
        )
        .route(
            "/v2.1/os-keypairs/{name}",
            get(keypairs::show).delete(keypairs::delete),
        )
        .route("/v2.1/os-availability-zone", get(zones::zones))
        .route(
            "/v2.1/os-availability-zone/detail",
            get(zones::zones_detail),
        )
        .route("/v2.1/os-aggregates", get(zones::aggregates))
        .route("/v2.1/os-aggregates/{id}", get(zones::aggregate))
        .route("/v2.1/images", get(images::list))
        .route("/v2.1/images/detail", get(images::list_detail))
        .route(
            "/v2.1/images/{id}",
            get(images::show).delete(images::delete),
        )
        .route("/v2.1/limits", get(limits::limits))
        .route(
            "/v2.1/os-quota-sets/{project}",
            get(limits::quota_show)
                .put(limits::quota_update)
                .delete(limits::quota_delete),
        )
        .route(
            "/v2.1/os-quota-sets/{project}/defaults",
            get(limits::quota_defaults),
        )
        .route(
            "/v2.1/os-quota-sets/{project}/detail",
            get(limits::quota_detail),
        )
        .merge(extensions::routes())
        .merge(image_metadata::routes())
        .merge(hypervisors::routes())
        .merge(services::routes())
        .merge(server_groups::routes())
        .merge(usage::routes())
        .route_layer(middleware::from_fn_with_state(state.clone(), negotiate))
        .route_layer(middleware::from_fn_with_state(
            state.auth.clone(),
            crate::gateway::authenticate,
        ));
    let inner = crate::shell::common_layers(
        Router::new()
            .route("/", get(versions))
            .route("/v2.1", get(version_v21))
            .route("/v2.1/", get(version_v21))
            .route("/v2", get(version_v20))
            .route("/v2/", get(version_v20))
            .merge(protected),
        "compute",
        state.max_body_size,
    )
    .with_state(state);
    // The project id comes out of the path before routing.
    let strip = middleware::from_fn(|req, next| {
        project_path::strip_project(&["/v2.1", "/v2"], COLLECTIONS, req, next)
    });
    Router::new()
        .fallback_service(strip.layer(inner))
        .layer(middleware::map_response(crate::error::json_error_bodies))
}

/// The newest microversion every pod and this gateway speak.
pub(crate) async fn newest(state: &GatewayState) -> Microversion {
    match state.gateway.newest_pod_version("compute").await {
        Some((2, minor)) => Microversion(minor.min(microversion::OURS_MAX.0)),
        _ => microversion::OURS_MAX,
    }
}

/// Fixes the request's microversion, and stamps the answer with it.
async fn negotiate(State(state): State<GatewayState>, mut req: Request, next: Next) -> Response {
    let max = newest(&state).await;
    let v = match microversion::negotiate(req.headers(), max) {
        Ok(v) => v,
        Err(e) => return e.into_response(),
    };
    microversion::pin_request(req.headers_mut(), v);
    req.extensions_mut().insert(v);
    let mut resp = next.run(req).await;
    microversion::stamp_response(resp.headers_mut(), v);
    resp
}

fn v21_document(root: &str, max: Microversion) -> Value {
    json!({
        "id": "v2.1",
        "status": "CURRENT",
        "version": max.header_value(),
        "min_version": "2.1",
        "updated": "2013-07-23T11:33:21Z",
        "links": [
            {"rel": "self", "href": format!("{root}/v2.1/")},
            {"rel": "describedby", "type": "text/html", "href": "http://docs.openstack.org/"}
        ],
        "media-types": [{"base": "application/json", "type": "application/vnd.openstack.compute+json;version=2.1"}]
    })
}

fn v20_document(root: &str) -> Value {
    json!({
        "id": "v2.0",
        "status": "SUPPORTED",
        "version": "",
        "min_version": "",
        "updated": "2011-01-21T11:33:21Z",
        "links": [
            {"rel": "self", "href": format!("{root}/v2/")},
            {"rel": "describedby", "type": "text/html", "href": "http://docs.openstack.org/"}
        ],
        "media-types": [{"base": "application/json", "type": "application/vnd.openstack.compute+json;version=2"}]
    })
}

async fn versions(State(state): State<GatewayState>, headers: HeaderMap) -> Json<Value> {
    let root = our_root(&headers);
    let max = newest(&state).await;
    Json(json!({"versions": [v20_document(&root), v21_document(&root, max)]}))
}

async fn version_v21(State(state): State<GatewayState>, headers: HeaderMap) -> Json<Value> {
    let max = newest(&state).await;
    Json(json!({"version": v21_document(&our_root(&headers), max)}))
}

async fn version_v20(headers: HeaderMap) -> Json<Value> {
    Json(json!({"version": v20_document(&our_root(&headers))}))
}
