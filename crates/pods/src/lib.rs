//! Everything that talks to Keystone and to the bottom pods: the service
//! session, token validation with a bounded cache, the endpoint catalog with
//! its cache, request forwarding to a pod's services, and pod health.
#![forbid(unsafe_code)]

pub mod endpoints;
pub mod fanout;
pub mod forward;
pub mod health;
pub mod keystone;
pub mod path;
pub mod tokens;

use std::time::Duration;

pub use endpoints::{EndpointResolver, Interface};
pub use forward::{
    PodClient, PodClientOptions, PodError, PodRequest, PodResponse, ServiceCall, ServiceCallError,
};
pub use health::{HealthState, PodHealth, PodHealthView};
pub use keystone::{KeystoneClient, KeystoneError, ServiceCredentials};
pub use path::PodPath;
pub use tokens::{AuthError, TokenInfo, TokenValidator, ValidatorConfig};

/// `X-Openstack-Request-Id`, as every OpenStack service spells it.
pub const REQUEST_ID_HEADER: &str = "x-openstack-request-id";

/// How long an unused pooled connection (to Keystone or a pod) is kept by
/// default: less than the 2 s after which gunicorn, the usual server of
/// Keystone and of OpenStack APIs under WSGI, closes idle connections.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_millis(1000);

/// An HTTP client whose pooled connections idle out after `idle_timeout`
/// (zero: none is kept) and of which at most `max_idle_per_host` stay open
/// unused per host.
pub(crate) fn pooled_client(
    timeout: Duration,
    idle_timeout: Duration,
    max_idle_per_host: usize,
) -> Result<reqwest::Client, reqwest::Error> {
    let max_idle = if idle_timeout.is_zero() {
        0
    } else {
        max_idle_per_host
    };
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(5)))
        .pool_idle_timeout(idle_timeout)
        .pool_max_idle_per_host(max_idle)
        .build()
}

/// Sending failed before any answer came, and not for lack of time: the
/// connection was refused, or a pooled connection broke under the request
/// (the server closed it as it went out). Such a request is worth one more
/// try on a fresh connection when sending it twice is harmless.
pub(crate) fn failed_to_send(e: &reqwest::Error) -> bool {
    !e.is_timeout() && (e.is_connect() || e.is_request())
}
