//! Nova v2.1 subset (being written).

use axum::Router;

use crate::pod::Pod;

/// The pod's compute state. Cheap to clone; clones share state.
#[derive(Clone, Default)]
pub struct ComputeService {}

/// Routes under `/compute/v2.1/...`.
pub(crate) fn routes(_pod: Pod) -> Router {
    Router::new()
}
