//! What can go wrong in the volume domain, by meaning; the API maps each
//! variant to a status and Cinder's error body once.

use thiserror::Error;
use tricircle_gateway::GatewayError;

#[derive(Debug, Error)]
pub enum VolumeError {
    /// Reaching the store or a pod, finding or choosing a pod.
    #[error(transparent)]
    Gateway(#[from] GatewayError),
}

impl From<tricircle_store::StoreError> for VolumeError {
    fn from(e: tricircle_store::StoreError) -> VolumeError {
        VolumeError::Gateway(e.into())
    }
}
