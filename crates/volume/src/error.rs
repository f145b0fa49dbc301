//! What can go wrong in the volume domain, by meaning; the API maps each
//! variant to a status and Cinder's error body once.

use thiserror::Error;
use tricircle_gateway::GatewayError;

#[derive(Debug, Error)]
pub enum VolumeError {
    /// Reaching the store or a pod, finding or choosing a pod.
    #[error(transparent)]
    Gateway(#[from] GatewayError),
    /// The request is invalid, in Cinder's words (its 400).
    #[error("{0}")]
    Invalid(String),
    /// The resource does not exist or is not the caller's to see, in
    /// Cinder's words (its 404).
    #[error("{0}")]
    NotFound(String),
    /// A quota refuses the change: Cinder's `QuotaError` (its 413, which
    /// clients may retry at once), `"<Class>: <message>"`.
    #[error("{0}")]
    OverQuota(String),
    /// A pod refused the request: its status and message, passed on.
    #[error("HTTP {status}: {message}")]
    PodRefused { status: u16, message: String },
    /// A pod accepted but answered without what it must tell (the new
    /// resource's id): a bad gateway.
    #[error("{0}")]
    BadPodAnswer(String),
    /// A volume type could not be copied into a pod (the service is
    /// unavailable there for volumes of that type).
    #[error("Volume type {type_name} could not be prepared in pod {pod}.")]
    TypeNotPrepared { type_name: String, pod: String },
    /// A pod refused the caller's token (revoked since we cached it): the
    /// caller's 401.
    #[error("the caller's token was refused")]
    TokenRefused,
}

impl From<tricircle_store::StoreError> for VolumeError {
    fn from(e: tricircle_store::StoreError) -> VolumeError {
        VolumeError::Gateway(e.into())
    }
}

pub type Result<T, E = VolumeError> = std::result::Result<T, E>;

impl VolumeError {
    /// The pod (or a copy into it) did not answer: it may have done the
    /// work, so what depends on the outcome waits for its check.
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            VolumeError::Gateway(tricircle_gateway::GatewayError::Unavailable { .. })
                | VolumeError::TypeNotPrepared { .. }
        )
    }
}
