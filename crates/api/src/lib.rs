//! Tricircle's HTTP APIs. Each API parses a request into its handler,
//! authenticates it against Keystone, applies policy, and answers in its own
//! OpenStack error format. This crate holds the admin API (port 19999) and
//! the pieces every API shares.
#![forbid(unsafe_code)]

pub mod admin;
pub mod auth;
pub mod body;
pub mod error;
pub mod observe;

pub use admin::{admin_router, AdminState};
pub use auth::{Authenticator, Context};
pub use error::ApiError;
pub use observe::{install_metrics, RequestId};
