//! Glance v2 subset (being written).

use axum::Router;

use crate::pod::Pod;

/// Images. Cheap to clone; clones share state, so one `ImageService` can
/// serve several pods (one Glance for every pod).
#[derive(Clone, Default)]
pub struct ImageService {}

/// Routes under `/image/v2/...`.
pub(crate) fn routes(_pod: Pod) -> Router {
    Router::new()
}
