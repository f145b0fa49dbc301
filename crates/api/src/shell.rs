//! What every API shares around its routes: OpenStack-style 404 and 405
//! answers, the body size limit, request ids, access logs and metrics
//! ([`crate::observe`]), and a guard that turns a panic into a 500 without
//! details.

use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::{middleware, Router};
use tower_http::catch_panic::CatchPanicLayer;

use crate::error::ApiError;

pub(crate) fn common_layers<S>(
    router: Router<S>,
    service: &'static str,
    max_body_size: usize,
) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    router
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(max_body_size))
        .layer(middleware::map_response(retry_after_on_unavailable))
        .layer(middleware::from_fn(move |req, next| {
            crate::observe::observe(service, req, next)
        }))
        .layer(CatchPanicLayer::custom(move |_| {
            tracing::error!(%service, "handler panicked");
            ApiError::internal().into_response()
        }))
}

/// How long a client is asked to wait before retrying a 503.
pub const RETRY_AFTER_SECONDS: u32 = 5;

/// Every 503 tells the client when to come back (`Retry-After`), whoever
/// answered it: a pod outage, the identity service, the database.
async fn retry_after_on_unavailable(
    mut resp: axum::response::Response,
) -> axum::response::Response {
    if resp.status() == StatusCode::SERVICE_UNAVAILABLE
        && !resp.headers().contains_key(axum::http::header::RETRY_AFTER)
    {
        resp.headers_mut().insert(
            axum::http::header::RETRY_AFTER,
            axum::http::HeaderValue::from(RETRY_AFTER_SECONDS),
        );
    }
    resp
}

async fn not_found() -> ApiError {
    ApiError::not_found("The resource could not be found.")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "The method is not allowed for this resource.",
    )
}
