//! What the east-west wiring of a top router reads at the top (its
//! attached subnets, the VM ports on them), and which routers a change of
//! ports on subnets concerns — for the `router_sync` job recorded with
//! that change.

use std::collections::BTreeSet;

use tricircle_jobs::JobPayload;
use tricircle_store::{NeutronFilter, NeutronKind, NeutronTx, NewJob};

use crate::jobs_types::RouterSync;
use crate::model::{Port, Resource, Router, Subnet};
use crate::ports::ROUTER_INTERFACE;
use crate::{Neutron, NeutronError};

/// A top router as its wiring in the pods needs it.
#[derive(Debug, Clone)]
pub struct RouterWiring {
    pub router: Router,
    /// The subnets of its interfaces.
    pub subnets: Vec<Subnet>,
    /// The ports of VMs (`compute:*` owners) on those subnets.
    pub vm_ports: Vec<Port>,
}

/// Whether a port belongs to a VM.
pub fn is_vm_port(port: &Port) -> bool {
    port.device_owner.starts_with("compute:")
}

/// The router_sync job of a router of `project_id`.
pub(crate) fn router_sync_job(router_id: &str, project_id: &str) -> Result<NewJob, NeutronError> {
    RouterSync::new(router_id, project_id)
        .new_job(project_id)
        .map_err(|e| {
            tracing::error!(error = %e, "cannot encode a router_sync payload");
            NeutronError::internal()
        })
}

/// The `router_sync` jobs of the routers with an interface on one of
/// `subnet_ids`, read in `tx` (to be recorded in it).
pub(crate) async fn router_jobs_for_subnets(
    tx: &mut NeutronTx,
    network_ids: &[String],
    subnet_ids: &BTreeSet<String>,
) -> Result<Vec<NewJob>, NeutronError> {
    if subnet_ids.is_empty() {
        return Ok(Vec::new());
    }
    let docs = tx
        .list(
            NeutronKind::Port,
            &NeutronFilter {
                eq: vec![
                    ("network_id".into(), network_ids.to_vec()),
                    ("device_owner".into(), vec![ROUTER_INTERFACE.to_string()]),
                ],
                ..Default::default()
            },
        )
        .await?;
    let mut routers = BTreeSet::new();
    for p in Port::from_docs(&docs)? {
        let on = p
            .fixed_ips
            .iter()
            .any(|ip| subnet_ids.contains(&ip.subnet_id));
        if on && !p.device_id.is_empty() {
            routers.insert(p.device_id);
        }
    }
    let mut jobs = Vec::new();
    for id in routers {
        // The router's project, not the port's (an admin may have given
        // the router another project's port): the payload names the
        // project whose bridge the router uses.
        if let Some(doc) = tx.get(NeutronKind::Router, &id).await? {
            jobs.push(router_sync_job(&id, &Router::from_doc(&doc)?.project_id)?);
        }
    }
    Ok(jobs)
}

/// The `router_sync` jobs a change of the VM ports `ports` calls for.
pub(crate) async fn router_jobs_for_ports(
    tx: &mut NeutronTx,
    ports: &[Port],
) -> Result<Vec<NewJob>, NeutronError> {
    let networks: BTreeSet<String> = ports.iter().map(|p| p.network_id.clone()).collect();
    let subnets: BTreeSet<String> = ports
        .iter()
        .flat_map(|p| p.fixed_ips.iter().map(|ip| ip.subnet_id.clone()))
        .collect();
    let networks: Vec<String> = networks.into_iter().collect();
    router_jobs_for_subnets(tx, &networks, &subnets).await
}

impl Neutron {
    /// A router's wiring as the top has it now; `None` once it is gone.
    /// Read without a transaction: a change made meanwhile records the
    /// job again, and the next run reads it.
    pub async fn router_wiring(
        &self,
        router_id: &str,
    ) -> Result<Option<RouterWiring>, NeutronError> {
        let Some(doc) = self
            .store
            .neutron_get(NeutronKind::Router, router_id)
            .await?
        else {
            return Ok(None);
        };
        let router = Router::from_doc(&doc)?;
        let interfaces = NeutronFilter {
            eq: vec![
                ("device_id".into(), vec![router_id.to_string()]),
                ("device_owner".into(), vec![ROUTER_INTERFACE.to_string()]),
            ],
            ..Default::default()
        };
        let mut subnet_ids = BTreeSet::new();
        for p in Port::from_docs(
            &self
                .store
                .neutron_list(NeutronKind::Port, &interfaces)
                .await?,
        )? {
            subnet_ids.extend(p.fixed_ips.into_iter().map(|ip| ip.subnet_id));
        }
        let mut subnets = Vec::new();
        for id in &subnet_ids {
            if let Some(s) = self.store.neutron_get(NeutronKind::Subnet, id).await? {
                subnets.push(Subnet::from_doc(&s)?);
            }
        }
        let networks: BTreeSet<String> = subnets.iter().map(|s| s.network_id.clone()).collect();
        let docs = if networks.is_empty() {
            Vec::new()
        } else {
            let on_networks = NeutronFilter {
                eq: vec![("network_id".into(), networks.into_iter().collect())],
                ..Default::default()
            };
            self.store
                .neutron_list(NeutronKind::Port, &on_networks)
                .await?
        };
        let vm_ports = Port::from_docs(&docs)?
            .into_iter()
            .filter(|p| {
                is_vm_port(p)
                    && p.fixed_ips
                        .iter()
                        .any(|ip| subnet_ids.contains(&ip.subnet_id))
            })
            .collect();
        Ok(Some(RouterWiring {
            router,
            subnets,
            vm_ports,
        }))
    }
}
