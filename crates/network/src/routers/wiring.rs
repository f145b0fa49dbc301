//! What the east-west wiring of a top router reads at the top: its
//! attached subnets, the VM ports on them.

use std::collections::BTreeSet;

use tricircle_store::{NeutronFilter, NeutronKind};

use super::router_ports_in;
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

impl Neutron {
    /// A router's wiring as the top has it now; `None` once it is gone.
    pub async fn router_wiring(
        &self,
        router_id: &str,
    ) -> Result<Option<RouterWiring>, NeutronError> {
        let mut tx = self.store.neutron_tx().await?;
        let Some(doc) = tx.get(NeutronKind::Router, router_id).await? else {
            return Ok(None);
        };
        let router = Router::from_doc(&doc)?;
        let mut subnet_ids = BTreeSet::new();
        for p in router_ports_in(&mut tx, router_id).await? {
            if p.device_owner == ROUTER_INTERFACE {
                subnet_ids.extend(p.fixed_ips.iter().map(|ip| ip.subnet_id.clone()));
            }
        }
        let mut subnets = Vec::new();
        for id in &subnet_ids {
            if let Some(s) = tx.get(NeutronKind::Subnet, id).await? {
                subnets.push(Subnet::from_doc(&s)?);
            }
        }
        let networks: BTreeSet<String> = subnets.iter().map(|s| s.network_id.clone()).collect();
        let docs = if networks.is_empty() {
            Vec::new()
        } else {
            tx.list(
                NeutronKind::Port,
                &NeutronFilter {
                    eq: vec![("network_id".into(), networks.into_iter().collect())],
                    ..Default::default()
                },
            )
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
