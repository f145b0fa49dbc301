//! What can go wrong below the compute and volume APIs, by meaning. The
//! HTTP edge maps each variant to a status and its service's error body
//! once (`tricircle_api::error`); nothing here knows about HTTP answers.

use std::time::Duration;

use thiserror::Error;
use tricircle_store::StoreError;

#[derive(Debug, Error)]
pub enum GatewayError {
    /// The request is malformed or names something unusable.
    #[error("{0}")]
    BadRequest(String),
    /// The resource does not exist, or is not the caller's to see.
    #[error("{0}")]
    NotFound(String),
    /// The change collides with the resource's state.
    #[error("{0}")]
    Conflict(String),
    /// The caller's roles do not allow the action (`METHOD /route`).
    #[error("Policy doesn't allow {0} to be performed.")]
    Forbidden(String),
    /// A quota refuses the change (Nova and Cinder answer it as 403/413
    /// with their own words).
    #[error("{0}")]
    OverQuota(String),
    /// A pod, the identity service or the database cannot serve now; worth
    /// trying again after `retry_after` (zero: no hint to give).
    #[error("{message}")]
    Unavailable {
        message: String,
        retry_after: Duration,
    },
    /// The pod refused the caller's token (revoked since we cached it).
    #[error("{0}")]
    Unauthorized(String),
    /// A pod refused the request with its own 4xx, passed on as it is.
    #[error("HTTP {status}: {message}")]
    PodRefused { status: u16, message: String },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A bug or an impossible state; the detail is logged, never shown.
    #[error("internal error: {0}")]
    Internal(String),
}

impl GatewayError {
    /// Unavailable for a while, with the usual retry hint.
    pub fn unavailable(message: impl Into<String>, retry_after: Duration) -> GatewayError {
        GatewayError::Unavailable {
            message: message.into(),
            retry_after,
        }
    }

    pub fn internal(detail: impl Into<String>) -> GatewayError {
        GatewayError::Internal(detail.into())
    }
}

pub type Result<T, E = GatewayError> = std::result::Result<T, E>;
