//! podsim: an in-memory simulation of an OpenStack deployment over real HTTP.
//!
//! * [`identity`] is a Keystone v3 subset (tokens, catalog, regions, services,
//!   endpoints, domains, projects, users, roles, role assignments) that the
//!   real `openstack` CLI and openstacksdk can talk to.
//! * [`pod`] is one region's service endpoints (compute, volume, network,
//!   image) served by a single listener under devstack-like path prefixes.
//!
//! Everything lives in memory; nothing is persisted. Passwords and tokens are
//! never logged.

mod auth;
pub mod compute;
pub mod identity;
pub mod image;
pub mod network;
pub mod pod;
mod util;
pub mod volume;

pub use identity::{Credentials, Identity, IdentityConfig};
pub use pod::{Pod, PodConfig};

/// Serve a router on a bound listener until `shutdown` resolves.
///
/// In-flight requests are allowed to finish after `shutdown` resolves
/// (graceful shutdown).
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: axum::Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    if let Ok(addr) = listener.local_addr() {
        tracing::debug!(%addr, "podsim: serving");
    }
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
}
