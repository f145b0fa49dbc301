//! The top Neutron: networks, subnets, ports, security groups, routers and
//! floating IPs stored at the top with top IPAM; networks, subnets, ports
//! and groups are created in a pod only when a server there needs them
//! (BEHAVIOUR §6). Routers and floating IPs live at the top only so far.
//!
//! [`Neutron`] is the domain API: every operation takes the caller's
//! [`Scope`] and answers with the resource as Neutron's API shows it to
//! that caller, or a [`NeutronError`] with Neutron's status and type.
#![forbid(unsafe_code)]

mod attrs;
pub mod bottom;
pub mod config;
pub mod error;
pub mod extensions;
mod floating_ips;
pub mod handlers;
mod ipam;
pub mod jobs_types;
pub mod listing;
pub mod model;
mod networks;
mod ports;
mod quotas;
pub mod routers;
mod security_groups;
mod subnets;
mod zones;

use std::sync::Arc;

use serde_json::Value;
use tricircle_store::{NeutronTx, NewJob, Store};

pub use config::{NetworkConfig, NeutronQuotas, VlanRange};
pub use error::{ErrorClass, NeutronError};
pub use listing::{ListQuery, Page, PageLink};

/// Who is asking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    pub project_id: String,
    pub user_id: String,
    pub is_admin: bool,
}

impl Scope {
    /// Whether the caller may change a resource of `project_id`.
    fn owns(&self, project_id: &str) -> bool {
        self.is_admin || self.project_id == project_id
    }
}

#[derive(Clone)]
pub struct Neutron {
    store: Store,
    cfg: Arc<NetworkConfig>,
}

impl Neutron {
    pub fn new(store: Store, cfg: NetworkConfig) -> Neutron {
        Neutron {
            store,
            cfg: Arc::new(cfg),
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn config(&self) -> &NetworkConfig {
        &self.cfg
    }
}

/// The job for a change of resource `id` that has copies in pods, if any:
/// a `P` for it.
async fn jobs_for<P: jobs_types::ResourceChange>(
    tx: &mut NeutronTx,
    id: &str,
    project_id: &str,
    snapshot: Option<&Value>,
) -> Result<Vec<NewJob>, NeutronError> {
    if tx.copy_pods(id, P::KIND.resource_type()).await?.is_empty() {
        return Ok(Vec::new());
    }
    match P::new(id, project_id, snapshot).new_job(project_id) {
        Ok(job) => Ok(vec![job]),
        Err(e) => {
            tracing::error!(job_type = P::JOB_TYPE, error = %e, "cannot encode a job payload");
            Err(NeutronError::internal())
        }
    }
}

/// How many times a transaction that lost a race is tried again.
const RETRIES: usize = 8;

/// A transaction body that may lose a race to another instance (a unique
/// key taken between our read and our write) and is then simply retried.
enum Attempt<T> {
    Done(T),
    Retry,
}
