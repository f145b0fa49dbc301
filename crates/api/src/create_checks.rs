//! Shims over the domains' create checks
//! ([`tricircle_gateway::create_check`]) for the volume code still here;
//! to be removed with it.

use serde_json::Value;
use tricircle_store::StoreError;

pub use tricircle_gateway::create_check::{reservation_ttl, settle_for};
pub use tricircle_volume::create_check::VOLUME_CREATE_CHECK;

use crate::gateway::GatewayState;

/// See [`tricircle_gateway::Gateway::expect_create`].
pub async fn expect(
    st: &GatewayState,
    job_type: &str,
    project_id: &str,
    resource: Value,
    reservations: &[i64],
) -> Result<String, StoreError> {
    st.gateway
        .expect_create(job_type, project_id, resource, reservations)
        .await
}
