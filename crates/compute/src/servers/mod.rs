//! Servers across pods: created in the pod the scheduler picks (with their
//! flavor, keypair, group and ports made ready there first), reached
//! through their routing, listed across pods.
//!
//! The API parses a request into the typed values here, calls one
//! operation of [`Servers`] and renders what it answers: the pod's answer
//! in top terms ([`Presented`]).

mod actions;
mod boot;
pub mod create;
mod forward;
pub mod list;
mod ports;
mod show;
mod view;

use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode};
use tricircle_gateway::{Caller, GatewayError, PodAnswer, PodCall};
use tricircle_pods::PodPath;
use tricircle_store::{Pod, Routing};

pub use actions::ServerAction;
pub use create::{Created, ServerCreate, HINT_KEYS};
pub use forward::SubResource;
pub use list::{ListQuery, ServerPage};
pub use view::addresses_to_top;

use crate::{Compute, ComputeError};
use tricircle_core::ResourceType;
use tricircle_gateway::segment::valid_segment;

/// The routing table's name for servers.
pub const RESOURCE_TYPE: ResourceType = ResourceType::Server;
/// The availability zone field of a server view.
pub const AZ_FIELD: &str = "OS-EXT-AZ:availability_zone";

/// An answer as the client gets it: status, headers, body.
pub type Presented = (StatusCode, HeaderMap, Bytes);

/// The compute domain's servers: the compute service's gateway below, its
/// copies (flavors, keypairs, server groups) and the network domain's
/// ports ([`Compute::servers`]).
pub struct Servers<'a> {
    compute: &'a Compute,
}

impl Compute {
    /// The servers, reached through this service.
    pub fn servers(&self) -> Servers<'_> {
        Servers { compute: self }
    }
}

/// A server found through its routing.
#[derive(Debug, Clone)]
pub struct ServerAt {
    pub id: String,
    pub routing: Routing,
    pub pod: Pod,
}

/// Nova's answer for a server nobody may see.
pub fn not_found(id: &str) -> ComputeError {
    GatewayError::NotFound(format!("Instance {id} could not be found.")).into()
}

impl Servers<'_> {
    /// The server `id` and its pod, from its routing (`None`: no routing
    /// the caller may see).
    pub async fn find(&self, caller: &Caller, id: &str) -> Result<Option<ServerAt>, ComputeError> {
        if !valid_segment(id) {
            return Ok(None);
        }
        Ok(self
            .compute
            .gateway
            .routed_pod(caller, RESOURCE_TYPE, id)
            .await?
            .map(|(routing, pod)| ServerAt {
                id: id.to_string(),
                routing,
                pod,
            }))
    }

    /// The server `id`, or Nova's 404.
    pub async fn locate(&self, caller: &Caller, id: &str) -> Result<ServerAt, ComputeError> {
        self.find(caller, id).await?.ok_or_else(|| not_found(id))
    }

    /// One call to the compute service of `pod` as the caller.
    async fn forward(
        &self,
        caller: &Caller,
        pod: &Pod,
        method: Method,
        path: PodPath,
        query: Option<String>,
        body: Option<Bytes>,
    ) -> Result<PodAnswer, GatewayError> {
        self.compute
            .gateway
            .call(
                caller,
                PodCall {
                    pod,
                    service_type: "compute",
                    method,
                    path,
                    query,
                    headers: &caller.pass_headers,
                    body: body.filter(|b| !b.is_empty()),
                },
            )
            .await
    }
}
