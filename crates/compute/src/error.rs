//! What can go wrong in the compute domain, by meaning; the API maps each
//! variant to a status and Nova's error body once.

use thiserror::Error;
use tricircle_gateway::GatewayError;

#[derive(Debug, Error)]
pub enum ComputeError {
    /// Reaching the store or a pod, finding or choosing a pod.
    #[error(transparent)]
    Gateway(#[from] GatewayError),
}

impl From<tricircle_store::StoreError> for ComputeError {
    fn from(e: tricircle_store::StoreError) -> ComputeError {
        ComputeError::Gateway(e.into())
    }
}
