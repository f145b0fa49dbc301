//! What can go wrong in the compute domain, by meaning; the API maps each
//! variant to a status and Nova's error body once.

use thiserror::Error;
use tricircle_gateway::copies::CopyError;
use tricircle_gateway::GatewayError;

#[derive(Debug, Error)]
pub enum ComputeError {
    /// The request names something unusable (Nova's 400 and its message).
    #[error("{0}")]
    BadRequest(String),
    /// The resource does not exist, or is not the caller's to see.
    #[error("{0}")]
    NotFound(String),
    /// The change collides with the resource's state.
    #[error("{0}")]
    Conflict(String),
    /// A quota refuses the change (Nova answers 403 with its message).
    #[error("{0}")]
    OverQuota(String),
    /// Reaching the store or a pod, finding or choosing a pod.
    #[error(transparent)]
    Gateway(#[from] GatewayError),
    /// A pod's answer the gateway cannot use (a boot without a server id).
    #[error("{0}")]
    BadPodAnswer(String),
    /// A pod refused the caller's token (revoked since we cached it): the
    /// caller's 401.
    #[error("the caller's token was refused")]
    TokenRefused,
}

impl From<tricircle_store::StoreError> for ComputeError {
    fn from(e: tricircle_store::StoreError) -> ComputeError {
        ComputeError::Gateway(e.into())
    }
}

impl From<CopyError> for ComputeError {
    fn from(e: CopyError) -> ComputeError {
        ComputeError::Gateway(e.into())
    }
}

impl From<tricircle_gateway::list_fetch::ListError> for ComputeError {
    fn from(e: tricircle_gateway::list_fetch::ListError) -> ComputeError {
        use tricircle_gateway::list_fetch::ListError;
        match e {
            ListError::TokenRefused => ComputeError::TokenRefused,
            ListError::Gateway(e) => ComputeError::Gateway(e),
        }
    }
}

pub type Result<T, E = ComputeError> = std::result::Result<T, E>;
