//! Tricircle's HTTP APIs. Each API parses a request into its handler,
//! authenticates it against Keystone, applies policy, and answers in its own
//! OpenStack error format. This crate holds the admin API (port 19999) and
//! the pieces every API shares.
#![forbid(unsafe_code)]

pub mod admin;
pub mod auth;
pub mod body;
pub mod compute;
pub mod connections;
pub mod error;
pub mod gateway;
pub mod network;
pub mod observe;
mod shell;
pub mod volume;

pub use admin::{admin_router, AdminState};
pub use auth::{Authenticator, Context};
pub use compute::compute_router;
pub use connections::{ConnectionLimits, InflightLimit, RequestBounds};
pub use error::ApiError;
pub use gateway::GatewayState;
pub use network::{network_router, NetworkState};
pub use observe::{install_metrics, RequestId};
pub use volume::volume_router;
