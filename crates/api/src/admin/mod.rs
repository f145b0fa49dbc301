//! The admin API (port 19999, `/v1.0`): pods, bindings, routings, jobs, plus open
//! version documents, a health check and Prometheus metrics.
//!
//! Errors use the Nova form `{"<fault>": {"message", "code"}}` (see
//! `docs/admin-api.md` for the status conventions).

mod bindings;
mod jobs;
mod pods;
mod routings;

pub use jobs::AdminJobs;

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{middleware, Json, Router};
use metrics_exporter_prometheus::PrometheusHandle;
use serde_json::{json, Value};
use tricircle_pods::EndpointResolver;
use tricircle_store::Store;

use crate::auth::{require_auth, Authenticator};
use crate::error::ApiError;

#[derive(Clone)]
pub struct AdminState {
    pub store: Store,
    pub auth: Arc<Authenticator>,
    pub metrics: PrometheusHandle,
    /// Largest accepted request body, bytes.
    pub max_body_size: usize,
    /// Pod endpoint resolution; absent with `auth_strategy = noauth`, where
    /// there is no Keystone to read a catalog from.
    pub endpoints: Option<Arc<EndpointResolver>>,
    /// Job types and the engine's kicker, for `/v1.0/jobs`; absent, no job
    /// type can be created and the schema list is empty.
    pub jobs: Option<AdminJobs>,
}

/// The date of the v1.0 API, as the original published it.
const V1_UPDATED: &str = "2015-09-09T00:00:00Z";

pub fn admin_router(state: AdminState) -> Router {
    let protected = Router::new()
        .merge(pods::router())
        .merge(bindings::router())
        .merge(routings::router())
        .merge(jobs::router())
        .route_layer(middleware::from_fn_with_state(
            state.auth.clone(),
            require_auth,
        ));
    crate::shell::common_layers(
        Router::new()
            .route("/", get(versions))
            .route("/v1.0", get(version))
            .route("/v1.0/", get(version))
            .route("/healthcheck", get(healthcheck))
            .route("/metrics", get(metrics))
            .merge(protected),
        "admin",
        state.max_body_size,
    )
    .layer(middleware::map_response(crate::error::json_error_bodies))
    .with_state(state)
}

/// `http://<host>` of the request, for links.
pub fn base_url(headers: &HeaderMap) -> String {
    let host = headers
        .get(axum::http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let proto = headers
        .get("x-forwarded-proto")
        .and_then(|h| h.to_str().ok())
        .filter(|p| *p == "https" || *p == "http")
        .unwrap_or("http");
    format!("{proto}://{host}")
}

fn v1_document(headers: &HeaderMap) -> Value {
    json!({
        "id": "v1.0",
        "status": "CURRENT",
        "updated": V1_UPDATED,
        "links": [{"rel": "self", "href": format!("{}/v1.0/", base_url(headers))}],
    })
}

async fn versions(headers: HeaderMap) -> Json<Value> {
    Json(json!({"versions": [v1_document(&headers)]}))
}

async fn version(headers: HeaderMap) -> Json<Value> {
    Json(json!({"version": v1_document(&headers)}))
}

async fn healthcheck(State(state): State<AdminState>) -> Response {
    match state.store.ping().await {
        Ok(()) => Json(json!({"status": "ok", "checks": {"database": "ok"}})).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "health check: database unreachable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({"status": "unavailable", "checks": {"database": "unreachable"}})),
            )
                .into_response()
        }
    }
}

async fn metrics(State(state): State<AdminState>) -> impl IntoResponse {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(),
    )
}

/// Parses a boolean query or body value the way OpenStack services do.
pub(crate) fn parse_bool(name: &str, value: &str) -> Result<bool, ApiError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(ApiError::bad_request(format!(
            "Invalid value '{value}' for {name}: expected true or false"
        ))),
    }
}

/// Rejects query parameters the route does not know, as the original did
/// for filters, so typos do not silently return everything.
pub(crate) fn reject_unknown_params(
    params: &[(String, String)],
    known: &[&str],
) -> Result<(), ApiError> {
    match params.iter().find(|(k, _)| !known.contains(&k.as_str())) {
        Some((k, _)) => Err(ApiError::bad_request(format!(
            "Unknown query parameter '{k}'; accepted: {}",
            known.join(", ")
        ))),
        None => Ok(()),
    }
}

/// A required, trimmed, non-empty string field of at most `max` characters.
pub(crate) fn required_str(field: &str, value: &str, max: usize) -> Result<String, ApiError> {
    let v = value.trim();
    if v.is_empty() {
        return Err(ApiError::bad_request(format!(
            "{field} must be a non-empty string"
        )));
    }
    if v.chars().count() > max {
        return Err(ApiError::bad_request(format!(
            "{field} is longer than {max} characters"
        )));
    }
    if v.chars().any(char::is_control) {
        return Err(ApiError::bad_request(format!(
            "{field} must not contain control characters"
        )));
    }
    Ok(v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bools() {
        assert_eq!(parse_bool("force", "True").ok(), Some(true));
        assert_eq!(parse_bool("force", "0").ok(), Some(false));
        assert!(parse_bool("force", "maybe").is_err());
    }

    #[test]
    fn required_strings() {
        assert_eq!(required_str("x", "  a ", 5).ok().as_deref(), Some("a"));
        assert!(required_str("x", "   ", 5).is_err());
        assert!(required_str("x", "abcdef", 5).is_err());
        assert!(required_str("x", "a\u{0}b", 5).is_err());
    }
}
