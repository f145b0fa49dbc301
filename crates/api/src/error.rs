//! Errors in the Nova/Cinder style, which the admin API shares:
//! `{"badRequest": {"message": "...", "code": 400}}`. Internal details are
//! logged, never sent.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use tricircle_store::StoreError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    /// Seconds for a `Retry-After` header (503s of pods that are down or
    /// busy).
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
            retry_after: None,
        }
    }
    /// 503 with `Retry-After` (whole seconds, at least 1).
    pub fn unavailable(message: impl Into<String>, retry_after: std::time::Duration) -> ApiError {
        ApiError {
            retry_after: Some(retry_after.as_secs_f64().ceil().max(1.0) as u64),
            ..Self::new(StatusCode::SERVICE_UNAVAILABLE, message)
        }
    }
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        Self::new(StatusCode::BAD_REQUEST, message)
    }
    pub fn not_found(message: impl Into<String>) -> ApiError {
        Self::new(StatusCode::NOT_FOUND, message)
    }
    pub fn conflict(message: impl Into<String>) -> ApiError {
        Self::new(StatusCode::CONFLICT, message)
    }
    pub fn forbidden(action: &str) -> ApiError {
        Self::new(
            StatusCode::FORBIDDEN,
            format!("Policy doesn't allow {action} to be performed."),
        )
    }
    /// 403 with a message of its own (quota refusals).
    pub fn forbidden_message(message: impl Into<String>) -> ApiError {
        Self::new(StatusCode::FORBIDDEN, message)
    }
    pub fn internal() -> ApiError {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "An unexpected error prevented the server from fulfilling your request.",
        )
    }
}

/// The fault name for a status, as Nova names them (`unprocessableEntity`
/// is ours: Nova never answers 422).
pub fn fault_name(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "badRequest",
        401 => "unauthorized",
        403 => "forbidden",
        404 => "itemNotFound",
        405 => "badMethod",
        406 => "notAcceptable",
        409 => "conflictingRequest",
        413 | 429 => "overLimit",
        415 => "badMediaType",
        422 => "unprocessableEntity",
        501 => "notImplemented",
        503 => "serviceUnavailable",
        _ => "computeFault",
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({ fault_name(self.status): {"message": self.message, "code": self.status.as_u16()} });
        let mut resp = (self.status, Json(body)).into_response();
        if let Some(secs) = self.retry_after {
            resp.headers_mut()
                .insert(axum::http::header::RETRY_AFTER, secs.into());
        }
        resp
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        match e {
            StoreError::NotFound(m) => ApiError::not_found(m),
            StoreError::Conflict(m) => ApiError::conflict(m),
            // The request named a pod that cannot be used.
            StoreError::UnknownPod(id) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("Pod {id} could not be found."),
            ),
            StoreError::TopPod(id) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("Pod {id} is the top pod; a binding needs a bottom pod"),
            ),
            other => {
                tracing::error!(error = %other, "store error");
                if matches!(other, StoreError::Database(sqlx_err) if is_unavailable(&sqlx_err)) {
                    return ApiError::new(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "The database is unavailable; try again later.",
                    );
                }
                ApiError::internal()
            }
        }
    }
}

impl From<tricircle_gateway::GatewayError> for ApiError {
    /// The one place the compute and volume domains' errors become answers.
    fn from(e: tricircle_gateway::GatewayError) -> ApiError {
        use tricircle_gateway::GatewayError as E;
        match e {
            E::BadRequest(m) => ApiError::bad_request(m),
            E::NotFound(m) => ApiError::not_found(m),
            E::Conflict(m) => ApiError::conflict(m),
            E::Forbidden(action) => ApiError::forbidden(&action),
            E::OverQuota(m) => ApiError::forbidden_message(m),
            E::Unavailable {
                message,
                retry_after,
            } if retry_after.is_zero() => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, message),
            E::Unavailable {
                message,
                retry_after,
            } => ApiError::unavailable(message, retry_after),
            E::Unauthorized(m) => ApiError::new(StatusCode::UNAUTHORIZED, m),
            E::PodRefused { status, message } => ApiError::new(
                StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY),
                message,
            ),
            E::Store(e) => ApiError::from(e),
            E::Internal(detail) => {
                tracing::error!(%detail, "internal error");
                ApiError::internal()
            }
        }
    }
}

impl From<tricircle_compute::ComputeError> for ApiError {
    fn from(e: tricircle_compute::ComputeError) -> ApiError {
        use tricircle_compute::ComputeError as E;
        match e {
            E::BadRequest(m) => ApiError::bad_request(m),
            E::NotFound(m) => ApiError::not_found(m),
            E::Conflict(m) => ApiError::conflict(m),
            E::OverQuota(m) => ApiError::forbidden_message(m),
            E::Gateway(e) => e.into(),
            E::BadPodAnswer(m) => ApiError::new(StatusCode::BAD_GATEWAY, m),
            E::TokenRefused => ApiError::new(
                StatusCode::UNAUTHORIZED,
                "The request you have made requires authentication.",
            ),
        }
    }
}

impl From<tricircle_volume::VolumeError> for ApiError {
    fn from(e: tricircle_volume::VolumeError) -> ApiError {
        use tricircle_volume::VolumeError as E;
        match e {
            E::Gateway(e) => e.into(),
            E::Invalid(m) => ApiError::bad_request(m),
            E::NotFound(m) => ApiError::not_found(m),
            // Cinder's QuotaError: 413 (the volume API adds `Retry-After: 0`).
            E::OverQuota(m) => ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, m),
            E::PodRefused { status, message } => ApiError::new(
                StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY),
                message,
            ),
            E::BadPodAnswer(m) => ApiError::new(StatusCode::BAD_GATEWAY, m),
            e @ E::TypeNotPrepared { .. } => {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string())
            }
            E::TokenRefused => ApiError::new(
                StatusCode::UNAUTHORIZED,
                "The request you have made requires authentication.",
            ),
        }
    }
}

fn is_unavailable(e: &tricircle_store::SqlxError) -> bool {
    matches!(
        e,
        tricircle_store::SqlxError::PoolTimedOut
            | tricircle_store::SqlxError::PoolClosed
            | tricircle_store::SqlxError::Io(_)
    )
}

/// Middleware (`map_response`): an error answer whose body is not JSON —
/// an extractor's plain-text rejection, such as a path segment that does
/// not decode to UTF-8 — becomes an [`ApiError`] with the same status and
/// headers, so that every error of the API has its format.
pub(crate) async fn json_error_bodies(resp: Response) -> Response {
    let status = resp.status();
    let is_json = resp
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.trim_start().starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return resp;
    }
    let (parts, body) = resp.into_parts();
    let bytes = axum::body::to_bytes(body, 64 * 1024)
        .await
        .unwrap_or_default();
    let text = String::from_utf8_lossy(&bytes);
    let message = match text.trim() {
        "" => status.canonical_reason().unwrap_or("Error").to_string(),
        t => t.to_string(),
    };
    let mut out = ApiError::new(status, message).into_response();
    for (name, value) in &parts.headers {
        if name != axum::http::header::CONTENT_TYPE && name != axum::http::header::CONTENT_LENGTH {
            out.headers_mut().insert(name.clone(), value.clone());
        }
    }
    out
}
