//! Keystone-style errors: `{"error": {"code": N, "message": "...", "title": "..."}}`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

/// An error rendered exactly like Keystone renders its exceptions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KsError {
    pub status: StatusCode,
    pub message: String,
}

impl KsError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    /// 401 with Keystone's generic (non-`insecure_debug`) message.
    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "The request you have made requires authentication.",
        )
    }

    /// 401 for an auth method Keystone does not support.
    pub fn unsupported_method() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "Attempted to authenticate with an unsupported method.",
        )
    }

    /// 403 `ForbiddenAction`, e.g. action `identity:create_region`.
    pub fn forbidden_action(action: &str) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            format!("You are not authorized to perform the requested action: {action}."),
        )
    }

    /// 403 with a specific, non-security-sensitive message.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, message)
    }

    /// 404 `Could not find <kind>: <id>.`
    pub fn not_found(kind: &str, id: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            format!("Could not find {kind}: {id}."),
        )
    }

    /// 404 for an unknown route.
    pub fn no_route() -> Self {
        Self::new(StatusCode::NOT_FOUND, "The resource could not be found.")
    }

    /// 400 `ValidationError`: "Expecting to find X in Y. ...".
    pub fn validation(attribute: &str, target: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            format!(
                "Expecting to find {attribute} in {target}. The server could not comply with \
                 the request since it is either malformed or otherwise incorrect. The client \
                 is assumed to be in error."
            ),
        )
    }

    /// 400 `SchemaValidationError` with a free-form detail.
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, detail)
    }

    /// 409 `Conflict occurred attempting to store <type> - <details>.`
    pub fn conflict(kind: &str, details: &str) -> Self {
        Self::new(
            StatusCode::CONFLICT,
            format!("Conflict occurred attempting to store {kind} - {details}."),
        )
    }

    /// 500 with Keystone's generic message.
    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "An unexpected error prevented the server from fulfilling your request.",
        )
    }

    /// 405 for a known path with an unsupported method.
    pub fn method_not_allowed() -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "The method is not allowed for the requested URL.",
        )
    }
}

impl IntoResponse for KsError {
    fn into_response(self) -> Response {
        let title = self.status.canonical_reason().unwrap_or("Error");
        let body = json!({
            "error": {
                "code": self.status.as_u16(),
                "message": self.message,
                "title": title,
            }
        });
        (self.status, Json(body)).into_response()
    }
}

pub(crate) type KsResult<T> = Result<T, KsError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_follow_http_reason_phrases() {
        assert_eq!(
            KsError::unauthorized().status.canonical_reason(),
            Some("Unauthorized")
        );
        assert_eq!(
            KsError::not_found("token", "x").message,
            "Could not find token: x."
        );
        assert_eq!(
            KsError::forbidden_action("identity:create_region").message,
            "You are not authorized to perform the requested action: identity:create_region."
        );
    }
}
