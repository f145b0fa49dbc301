//! Everything that talks to Keystone and to the bottom pods: the service
//! session, token validation with a bounded cache, the endpoint catalog with
//! its cache, and request forwarding to a pod's services.
#![forbid(unsafe_code)]

pub mod endpoints;
pub mod fanout;
pub mod forward;
pub mod keystone;
pub mod path;
pub mod tokens;

pub use endpoints::{EndpointResolver, Interface};
pub use forward::{PodClient, PodError, PodRequest, PodResponse, ServiceCall, ServiceCallError};
pub use keystone::{KeystoneClient, KeystoneError, ServiceCredentials};
pub use path::PodPath;
pub use tokens::{AuthError, TokenInfo, TokenValidator, ValidatorConfig};

/// `X-Openstack-Request-Id`, as every OpenStack service spells it.
pub const REQUEST_ID_HEADER: &str = "x-openstack-request-id";
