//! Everything that talks to Keystone and to the bottom pods: the service
//! session, token validation with a bounded cache, the endpoint catalog with
//! its cache, request forwarding to a pod's services, and pod health. The
//! wire under all of it is a [`PodTransport`]: HTTP, or memory in tests.
#![forbid(unsafe_code)]

pub mod endpoints;
pub mod fanout;
pub mod forward;
pub mod health;
pub mod keystone;
pub mod path;
#[cfg(feature = "testing")]
pub mod testing;
pub mod tokens;
pub mod transport;

use std::time::Duration;

pub use endpoints::{EndpointResolver, Interface};
pub use forward::{
    PodClient, PodClientOptions, PodError, PodRequest, PodResponse, ServiceCall, ServiceCallError,
};
pub use health::{HealthState, PodHealth, PodHealthView};
pub use keystone::{KeystoneClient, KeystoneError, ServiceCredentials};
pub use path::PodPath;
pub use tokens::{AuthError, TokenInfo, TokenValidator, ValidatorConfig};
#[cfg(feature = "testing")]
pub use transport::{Fault, InMemoryTransport};
pub use transport::{
    HttpTransport, PodTransport, TransportError, TransportRequest, TransportResponse,
};

/// `X-Openstack-Request-Id`, as every OpenStack service spells it.
pub const REQUEST_ID_HEADER: &str = "x-openstack-request-id";

/// How long an unused pooled connection (to Keystone or a pod) is kept by
/// default: less than the 2 s after which gunicorn, the usual server of
/// Keystone and of OpenStack APIs under WSGI, closes idle connections.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_millis(1000);
