//! Cinder v3 subset (being written).

use axum::Router;

use crate::pod::Pod;

/// Why Nova could not attach or detach a volume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttachError {
    /// No such volume in this pod (for this project).
    NotFound,
    /// The volume is not in a state that allows it (message for the 4xx).
    InvalidState(String),
}

/// The pod's volumes. Cheap to clone; clones share state.
#[derive(Clone, Default)]
pub struct VolumeService {}

impl VolumeService {
    /// Called by Nova (`os-volume_attachments`): `available` → `in-use`,
    /// attachment recorded for `server_id` at `device`.
    pub fn attach(
        &self,
        _project_id: &str,
        _volume_id: &str,
        _server_id: &str,
        _device: &str,
    ) -> Result<(), AttachError> {
        Err(AttachError::NotFound)
    }

    /// Called by Nova on detach or server delete: `in-use` → `available`.
    pub fn detach(&self, _volume_id: &str, _server_id: &str) -> Result<(), AttachError> {
        Err(AttachError::NotFound)
    }
}

/// Routes under `/volume/v3/...`.
pub(crate) fn routes(_pod: Pod) -> Router {
    Router::new()
}
