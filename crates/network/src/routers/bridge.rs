//! The tenant's east-west bridge network at the top (BEHAVIOUR §6.3): one
//! network and one /24 subnet per project, made the first time one of its
//! routers spans a pod, shared by all its routers, gone with its last
//! router. Its segment comes from the same allocator as tenant networks',
//! so every pod's copy has the same VLAN id or VNI; its CIDR from
//! `core::l3::BridgeSubnet` (lowest free /24 of `100.0.0.0/9`).
//!
//! **Owner.** The top network, subnet and bridge ports belong to no project
//! (`project_id` `""`): the tenant does not see them in its lists and
//! cannot change or delete them, admins do. Their copies in the pods are
//! made for the tenant's project (the bottom router's), as the original
//! did, so the bottom router and its bridge port have one owner.
//!
//! **Once per project.** Making and removing bridges is serialised by one
//! lock row (`BRIDGES_LOCK`, `NeutronTx::lock_project`; SQLite's single
//! writer already serialises): inside it the project's bridge is looked up
//! by name before one is made, and the CIDRs in use are read before one is
//! chosen, so two instances never make two bridges, nor give two projects
//! one CIDR.

use ipnet::Ipv4Net;
use serde_json::{json, Value};
use tricircle_core::ids::new_uuid;
use tricircle_core::l3::{BridgeKind, BridgeSubnet};
use tricircle_store::{NeutronFilter, NeutronKind, NeutronTx, StoreError};

use crate::attrs;
use crate::model::{Network, Port, Resource, Subnet};
use crate::ports::ROUTER_INTERFACE;
use crate::{jobs_for, jobs_types, Attempt, Neutron, NeutronError, RETRIES};

/// The project of every bridge resource at the top: none.
pub const BRIDGE_PROJECT: &str = "";

/// The lock row that serialises making and removing bridges.
const BRIDGES_LOCK: &str = "tricircle:bridges";

pub fn bridge_net_name(project_id: &str) -> String {
    format!("bridge-net-{project_id}")
}

pub fn bridge_subnet_name(project_id: &str) -> String {
    format!("bridge-subnet-{project_id}")
}

/// Name of the top port that gives the bottom router of `router_id` in
/// `pod_id` its bridge address (a reserved port: the name is its key).
pub fn bridge_port_name(pod_id: &str, router_id: &str) -> String {
    format!("bridge_port_{pod_id}_{router_id}")
}

/// Refuses an API delete of a bridge network: Tricircle's own, it goes
/// with its project's last router (deleted under a router in use, its
/// pods would lose each other).
pub(crate) fn refuse_bridge_network(net: &Network) -> Result<(), NeutronError> {
    if net.project_id == BRIDGE_PROJECT && net.name.starts_with("bridge-net-") {
        return Err(NeutronError::conflict(
            "NetworkInUse",
            format!(
                "Network {} is a bridge between pods: it goes with its project's last router.",
                net.id
            ),
        ));
    }
    Ok(())
}

/// [`refuse_bridge_network`] for the bridge's subnet.
pub(crate) fn refuse_bridge_subnet(subnet: &Subnet) -> Result<(), NeutronError> {
    if subnet.project_id == BRIDGE_PROJECT && subnet.name.starts_with("bridge-subnet-") {
        return Err(NeutronError::conflict(
            "SubnetInUse",
            format!(
                "Subnet {} is a bridge between pods: it goes with its project's last router.",
                subnet.id
            ),
        ));
    }
    Ok(())
}

/// A project's east-west bridge at the top.
#[derive(Debug, Clone)]
pub struct Bridge {
    pub network: Network,
    pub subnet: Subnet,
    pub cidr: BridgeSubnet,
}

fn corrupt(what: String) -> NeutronError {
    NeutronError::from(StoreError::Corrupt(what))
}

/// The project's bridge network, by name among the resources of no project.
fn bridge_filter(project_id: &str) -> NeutronFilter {
    NeutronFilter {
        eq: vec![
            ("name".into(), vec![bridge_net_name(project_id)]),
            ("project_id".into(), vec![BRIDGE_PROJECT.to_string()]),
        ],
        ..Default::default()
    }
}

fn on_network(network_id: &str) -> NeutronFilter {
    NeutronFilter {
        eq: vec![("network_id".into(), vec![network_id.to_string()])],
        ..Default::default()
    }
}

/// A bridge from its network's document and its subnets'.
fn assemble(net: &Value, subnets: &[Value]) -> Result<Bridge, NeutronError> {
    let network = Network::from_doc(net)?;
    let Some(subnet) = subnets.first() else {
        return Err(corrupt(format!(
            "bridge network {} has no subnet",
            network.id
        )));
    };
    let subnet = Subnet::from_doc(subnet)?;
    let cidr = BridgeSubnet::parse(BridgeKind::EastWest, &subnet.cidr)
        .map_err(|e| corrupt(format!("bridge subnet {}: {e}", subnet.id)))?;
    Ok(Bridge {
        network,
        subnet,
        cidr,
    })
}

/// The project's bridge, read in `tx`.
async fn bridge_in(tx: &mut NeutronTx, project_id: &str) -> Result<Option<Bridge>, NeutronError> {
    let nets = tx
        .list(NeutronKind::Network, &bridge_filter(project_id))
        .await?;
    let Some(net) = nets.first() else {
        return Ok(None);
    };
    let id = Network::from_doc(net)?.id;
    let subnets = tx.list(NeutronKind::Subnet, &on_network(&id)).await?;
    assemble(net, &subnets).map(Some)
}

impl Neutron {
    /// The network types a bridge may have: the configured tenant types
    /// that pods share (VLAN, VxLAN), VxLAN when none is.
    fn bridge_types(&self) -> Vec<String> {
        let types: Vec<String> = self
            .cfg
            .tenant_network_types
            .iter()
            .filter(|t| matches!(t.as_str(), "vlan" | "vxlan"))
            .cloned()
            .collect();
        if types.is_empty() {
            vec!["vxlan".to_string()]
        } else {
            types
        }
    }

    /// The project's bridge, if it has one (read without a transaction).
    pub async fn find_bridge(&self, project_id: &str) -> Result<Option<Bridge>, NeutronError> {
        let nets = self
            .store
            .neutron_list(NeutronKind::Network, &bridge_filter(project_id))
            .await?;
        let Some(net) = nets.first() else {
            return Ok(None);
        };
        let id = Network::from_doc(net)?.id;
        let subnets = self
            .store
            .neutron_list(NeutronKind::Subnet, &on_network(&id))
            .await?;
        assemble(net, &subnets).map(Some)
    }

    /// The project's bridge, made if it has none (once across instances).
    pub async fn ensure_bridge(&self, project_id: &str) -> Result<Bridge, NeutronError> {
        for _ in 0..RETRIES {
            let mut tx = self.store.neutron_tx().await?;
            tx.lock_project(BRIDGES_LOCK).await?;
            if let Some(b) = bridge_in(&mut tx, project_id).await? {
                return Ok(b);
            }
            let taken: Vec<Ipv4Net> = Subnet::from_docs(
                &tx.list(NeutronKind::Subnet, &NeutronFilter::default())
                    .await?,
            )?
            .iter()
            .filter_map(|s| s.cidr.parse::<Ipv4Net>().ok())
            .collect();
            let cidr = BridgeSubnet::allocate(BridgeKind::EastWest, &taken).map_err(|e| {
                NeutronError::unavailable(format!("No bridge network can be made: {e}"))
            })?;
            let net_id = new_uuid();
            let types = self.bridge_types();
            let segment = match self
                .allocate_segment(&mut tx, None, &net_id, &types)
                .await?
            {
                Attempt::Done(s) => s,
                Attempt::Retry => continue,
            };
            let now = attrs::now();
            let net = json!({
                "id": net_id,
                "name": bridge_net_name(project_id),
                "tenant_id": BRIDGE_PROJECT,
                "project_id": BRIDGE_PROJECT,
                "admin_state_up": true,
                "status": "ACTIVE",
                "shared": false,
                "router:external": false,
                "mtu": self.cfg.mtu_of(&segment.network_type),
                "port_security_enabled": false,
                "availability_zone_hints": [],
                "description": format!("east-west bridge of project {project_id}"),
                "created_at": now,
                "updated_at": now,
                "revision_number": 1,
                "tags": [],
                "provider:network_type": segment.network_type,
                "provider:physical_network": segment.physical_network,
                "provider:segmentation_id": segment.segmentation_id,
                "ipv4_address_scope": null,
                "ipv6_address_scope": null,
                "l2_adjacency": true,
            });
            let (first, last) = cidr.allocation_pool();
            // No gateway: every bottom router holds its own address on the
            // bridge, none holds `.1` (kept out of the pool all the same).
            let subnet = json!({
                "id": new_uuid(),
                "name": bridge_subnet_name(project_id),
                "tenant_id": BRIDGE_PROJECT,
                "project_id": BRIDGE_PROJECT,
                "network_id": net_id,
                "ip_version": 4,
                "cidr": cidr.to_string(),
                "gateway_ip": null,
                "allocation_pools": [{"start": first.to_string(), "end": last.to_string()}],
                "dns_nameservers": [],
                "host_routes": [],
                "enable_dhcp": false,
                "ipv6_ra_mode": null,
                "ipv6_address_mode": null,
                "subnetpool_id": null,
                "description": "",
                "service_types": [],
                "segment_id": null,
                "created_at": now,
                "updated_at": now,
                "revision_number": 0,
                "tags": [],
            });
            tx.insert(NeutronKind::Network, &net).await?;
            tx.insert(NeutronKind::Subnet, &subnet).await?;
            match tx.commit().await {
                Ok(()) => {
                    return Ok(Bridge {
                        network: Network::from_doc(&net)?,
                        subnet: Subnet::from_doc(&subnet)?,
                        cidr,
                    })
                }
                Err(StoreError::Conflict(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(NeutronError::unavailable(
            "The bridge network could not be made: too much contention; try again.",
        ))
    }

    /// The top port holding the bridge address of `router_id`'s bottom
    /// router in `pod_id`, reserved on first use.
    pub async fn bridge_port(
        &self,
        bridge: &Bridge,
        pod_id: &str,
        router_id: &str,
    ) -> Result<Port, NeutronError> {
        let doc = self
            .reserved_port(
                BRIDGE_PROJECT,
                &bridge.network.id,
                &bridge.subnet.id,
                &bridge_port_name(pod_id, router_id),
                ROUTER_INTERFACE,
            )
            .await?;
        Port::from_doc(&doc)
    }

    /// The bridge port of `router_id` in `pod_id`, if it exists.
    pub async fn find_bridge_port(
        &self,
        bridge: &Bridge,
        pod_id: &str,
        router_id: &str,
    ) -> Result<Option<Port>, NeutronError> {
        let mut filter = on_network(&bridge.network.id);
        filter
            .eq
            .push(("name".into(), vec![bridge_port_name(pod_id, router_id)]));
        let docs = self.store.neutron_list(NeutronKind::Port, &filter).await?;
        docs.first().map(Port::from_doc).transpose()
    }

    /// Deletes the bridge port of `router_id` in `pod_id` (its copies
    /// first: one left behind gets its delete job here).
    pub async fn delete_bridge_port(
        &self,
        bridge: &Bridge,
        pod_id: &str,
        router_id: &str,
    ) -> Result<(), NeutronError> {
        let mut tx = self.store.neutron_tx().await?;
        let name = bridge_port_name(pod_id, router_id);
        let Some(doc) = tx.find_reserved_port(&bridge.network.id, &name).await? else {
            return Ok(());
        };
        let Some(doc) = tx
            .lock(NeutronKind::Port, &Port::from_doc(&doc)?.id)
            .await?
        else {
            return Ok(());
        };
        self.delete_port_in(&mut tx, &doc).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Removes the project's bridge once it has no router and no bridge
    /// port left, with the delete job of its copies in the same
    /// transaction. Whether it is gone.
    pub async fn remove_bridge_if_unused(&self, project_id: &str) -> Result<bool, NeutronError> {
        let mut tx = self.store.neutron_tx().await?;
        tx.lock_project(BRIDGES_LOCK).await?;
        let Some(bridge) = bridge_in(&mut tx, project_id).await? else {
            return Ok(true);
        };
        if tx.count(NeutronKind::Router, project_id).await? > 0 {
            return Ok(false);
        }
        let net_id = bridge.network.id.as_str();
        let ports = tx.list(NeutronKind::Port, &on_network(net_id)).await?;
        if !ports.is_empty() {
            return Ok(false);
        }
        tx.delete(NeutronKind::Subnet, &bridge.subnet.id, &[])
            .await?;
        let Some(mut snapshot) = tx.get(NeutronKind::Network, net_id).await? else {
            return Ok(true);
        };
        snapshot["subnets"] = json!([bridge.subnet.id]);
        let jobs =
            jobs_for::<jobs_types::NetworkDelete>(&mut tx, net_id, project_id, Some(&snapshot))
                .await?;
        tx.delete(NeutronKind::Network, net_id, &jobs).await?;
        tx.commit().await?;
        Ok(true)
    }
}
