//! A router's interfaces (`add_router_interface`,
//! `remove_router_interface`): by subnet, a new top port of the router's
//! project at the subnet's gateway IP; by port, the caller's port handed
//! to the router. Neutron's rules: one of the two, a subnet with a
//! gateway, no subnet twice or overlapping on one router, a port without
//! a device; and ours: no subnet overlapping the bridge networks' pools
//! (its addresses would collide with a bridge on the bottom routers).

use ipnet::IpNet;
use serde_json::{json, Value};
use tricircle_core::l3::overlaps_bridge_pools;
use tricircle_store::{NeutronFilter, NeutronKind, NeutronTx, StoreError};

use super::routes_of;
use super::wiring::router_sync_job;
use crate::ipam;
use crate::model::{FloatingIp, Port, Resource, Router, Subnet};
use crate::ports::{initial_status, IpRequest, L3Port, ROUTER_INTERFACE};
use crate::{Attempt, Neutron, NeutronError, Scope, RETRIES};

/// Which interface a request names: `(port_id, subnet_id)`.
type InterfaceInfo = (Option<String>, Option<String>);

/// Neutron's `_validate_interface_info`.
fn interface_info(body: &Value, for_removal: bool) -> Result<InterfaceInfo, NeutronError> {
    let get = |k: &str| body.as_object().and_then(|m| m.get(k));
    let (port, subnet) = (get("port_id"), get("subnet_id"));
    if port.is_none() && subnet.is_none() {
        return Err(NeutronError::bad_l3_request(
            "router",
            "Either subnet_id or port_id must be specified",
        ));
    }
    let uuid = |v: Option<&Value>| -> Result<Option<String>, NeutronError> {
        v.map(|v| {
            v.as_str()
                .and_then(tricircle_core::ids::canonical_uuid)
                .ok_or_else(|| {
                    NeutronError::bad_l3_request(
                        "router",
                        format!("'{}' is not a valid UUID", crate::attrs::shown(v)),
                    )
                })
        })
        .transpose()
    };
    let (port, subnet) = (uuid(port)?, uuid(subnet)?);
    if !for_removal && port.is_some() && subnet.is_some() {
        return Err(NeutronError::bad_l3_request(
            "router",
            "Cannot specify both subnet-id and port-id",
        ));
    }
    Ok((port, subnet))
}

/// What Neutron answers for an interface added or removed.
fn interface_view(router_id: &str, port: &Port, subnets: &[Subnet]) -> Value {
    let ids: Vec<&str> = subnets.iter().map(|s| s.id.as_str()).collect();
    json!({
        "id": router_id,
        "tenant_id": port.project_id,
        "project_id": port.project_id,
        "port_id": port.id,
        "network_id": port.network_id,
        "subnet_id": ids.last().copied().unwrap_or(""),
        "subnet_ids": ids,
    })
}

/// "Router already has a port on subnet": none of the router's `ports`
/// has an address on one of `subnet_ids`.
pub(super) fn check_no_port_on(ports: &[Port], subnet_ids: &[&str]) -> Result<(), NeutronError> {
    for p in ports {
        if let Some(ip) = p
            .fixed_ips
            .iter()
            .find(|ip| subnet_ids.contains(&ip.subnet_id.as_str()))
        {
            return Err(NeutronError::bad_l3_request(
                "router",
                format!("Router already has a port on subnet {}", ip.subnet_id),
            ));
        }
    }
    Ok(())
}

fn overlaps(a: &IpNet, b: &IpNet) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

impl Neutron {
    /// Neutron's `_check_for_dup_router_subnets` for new interface
    /// subnets: no port of the router on them, no overlap with the
    /// subnets of its other interfaces.
    async fn check_new_subnets(
        &self,
        tx: &mut NeutronTx,
        ports: &[Port],
        new: &[Subnet],
    ) -> Result<(), NeutronError> {
        let ids: Vec<&str> = new.iter().map(|s| s.id.as_str()).collect();
        check_no_port_on(ports, &ids)?;
        for s in new {
            if let IpNet::V4(cidr) = s.net()? {
                if overlaps_bridge_pools(cidr) {
                    return Err(NeutronError::bad_l3_request(
                        "router",
                        format!(
                            "Cidr {cidr} of subnet {} overlaps with the bridge networks between pods (100.0.0.0/8)",
                            s.id
                        ),
                    ));
                }
            }
        }
        for p in ports.iter().filter(|p| p.device_owner == ROUTER_INTERFACE) {
            for ip in &p.fixed_ips {
                let sid = &ip.subnet_id;
                let Some(sub) = tx.get(NeutronKind::Subnet, sid).await? else {
                    continue;
                };
                let cidr = Subnet::from_doc(&sub)?.net()?;
                for s in new {
                    let new_cidr = s.net()?;
                    if overlaps(&cidr, &new_cidr) {
                        return Err(NeutronError::bad_l3_request(
                            "router",
                            format!(
                                "Cidr {new_cidr} of subnet {} overlaps with cidr {cidr} of subnet {sid}",
                                s.id
                            ),
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    pub async fn add_router_interface(
        &self,
        scope: &Scope,
        router_id: &str,
        body: Value,
    ) -> Result<Value, NeutronError> {
        let (port_id, subnet_id) = interface_info(&body, false)?;
        for _ in 0..RETRIES {
            let mut tx = self.store.neutron_tx().await?;
            let mut router = self.locked_router(&mut tx, scope, router_id).await?;
            let added = match (&port_id, &subnet_id) {
                (Some(p), _) => self.add_by_port_in(&mut tx, scope, router_id, p).await?,
                (None, Some(s)) => {
                    let r = Router::from_doc(&router)?;
                    self.add_by_subnet_in(&mut tx, scope, &r, s).await?
                }
                (None, None) => return Err(NeutronError::internal()),
            };
            let Attempt::Done((port, subnets)) = added else {
                continue;
            };
            crate::attrs::touch(&mut router);
            let project_id = Router::from_doc(&router)?.project_id;
            let jobs = [router_sync_job(router_id, &project_id)?];
            tx.update(NeutronKind::Router, &router, &jobs).await?;
            match tx.commit().await {
                Ok(()) => return Ok(interface_view(router_id, &port, &subnets)),
                Err(StoreError::Conflict(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(NeutronError::unavailable(
            "The router interface could not be added: too much contention; try again.",
        ))
    }

    async fn add_by_subnet_in(
        &self,
        tx: &mut NeutronTx,
        scope: &Scope,
        router: &Router,
        subnet_id: &str,
    ) -> Result<Attempt<(Port, Vec<Subnet>)>, NeutronError> {
        let router_id = router.id.as_str();
        let subnet = Subnet::from_doc(&self.locked_subnet(tx, scope, subnet_id).await?)?;
        let Some(gateway) = subnet.gateway() else {
            return Err(NeutronError::bad_l3_request(
                "router",
                "Subnet for router interface must have a gateway IP",
            ));
        };
        if !scope.is_admin && subnet.project_id != scope.project_id {
            return Err(NeutronError::bad_l3_request(
                "router",
                format!(
                    "Cannot add interface to router because subnet {subnet_id} is not owned by project making the request"
                ),
            ));
        }
        if subnet.ip_version == 6
            && subnet.ipv6_ra_mode.is_none()
            && subnet.ipv6_address_mode.is_some()
        {
            return Err(NeutronError::bad_l3_request(
                "router",
                format!(
                    "IPv6 subnet {subnet_id} configured to receive RAs from an external router cannot be added to Neutron Router."
                ),
            ));
        }
        let ports = super::router_ports_in(tx, router_id).await?;
        self.check_new_subnets(tx, &ports, std::slice::from_ref(&subnet))
            .await?;
        let made = self
            .create_l3_port_in(
                tx,
                L3Port {
                    project_id: &router.project_id,
                    network_id: &subnet.network_id,
                    device_id: router_id,
                    device_owner: ROUTER_INTERFACE,
                    fixed_ips: Some(vec![IpRequest {
                        subnet_id: Some(subnet_id.to_string()),
                        ip: Some(gateway),
                    }]),
                },
            )
            .await?;
        Ok(match made {
            Attempt::Done(port) => Attempt::Done((Port::from_doc(&port)?, vec![subnet])),
            Attempt::Retry => Attempt::Retry,
        })
    }

    async fn add_by_port_in(
        &self,
        tx: &mut NeutronTx,
        scope: &Scope,
        router_id: &str,
        port_id: &str,
    ) -> Result<Attempt<(Port, Vec<Subnet>)>, NeutronError> {
        let mut doc = self.locked_port(tx, scope, port_id).await?;
        let port = Port::from_doc(&doc)?;
        let device = &port.device_id;
        if !device.is_empty() {
            return Err(NeutronError::conflict(
                "PortInUse",
                format!(
                    "Unable to complete operation on port {port_id} for network {}. Port already has an attached device {device}.",
                    port.network_id
                ),
            ));
        }
        if port.fixed_ips.is_empty() {
            return Err(NeutronError::bad_l3_request(
                "router",
                "Router port must have at least one fixed IP",
            ));
        }
        let ports = super::router_ports_in(tx, router_id).await?;
        let v6 = |p: &Port| {
            p.fixed_ips
                .iter()
                .any(|ip| ipam::parse_ip(&ip.ip_address).is_some_and(|a| a.is_ipv6()))
        };
        if v6(&port) {
            if let Some(other) = ports.iter().find(|p| {
                p.network_id == port.network_id && p.device_owner == ROUTER_INTERFACE && v6(p)
            }) {
                return Err(NeutronError::bad_l3_request(
                    "router",
                    format!(
                        "Cannot have multiple router ports with the same network id if both contain IPv6 subnets. Existing port {} has IPv6 subnet(s) and network id {}",
                        other.id, other.network_id
                    ),
                ));
            }
        }
        let mut subnets = Vec::new();
        for ip in &port.fixed_ips {
            if let Some(s) = tx.get(NeutronKind::Subnet, &ip.subnet_id).await? {
                subnets.push(Subnet::from_doc(&s)?);
            }
        }
        self.check_new_subnets(tx, &ports, &subnets).await?;
        if subnets.iter().filter(|s| s.ip_version == 4).count() > 1 {
            return Err(NeutronError::bad_l3_request(
                "router",
                "Cannot have multiple IPv4 subnets on router port",
            ));
        }
        check_port_in_range_or_admin(scope, &subnets, &port)?;
        doc["status"] = json!(initial_status(ROUTER_INTERFACE));
        self.set_device_in(tx, &mut doc, router_id, ROUTER_INTERFACE)
            .await?;
        Ok(Attempt::Done((port, subnets)))
    }

    pub async fn remove_router_interface(
        &self,
        scope: &Scope,
        router_id: &str,
        body: Value,
    ) -> Result<Value, NeutronError> {
        let (port_id, subnet_id) = interface_info(&body, true)?;
        let mut tx = self.store.neutron_tx().await?;
        let mut router = self.locked_router(&mut tx, scope, router_id).await?;
        let r = Router::from_doc(&router)?;
        let (port, subnets) = match (&port_id, &subnet_id) {
            (Some(p), s) => self.remove_by_port_in(&mut tx, &r, p, s.as_deref()).await?,
            (None, Some(s)) => self.remove_by_subnet_in(&mut tx, scope, &r, s).await?,
            (None, None) => return Err(NeutronError::internal()),
        };
        crate::attrs::touch(&mut router);
        let jobs = [router_sync_job(router_id, &r.project_id)?];
        tx.update(NeutronKind::Router, &router, &jobs).await?;
        tx.commit().await?;
        Ok(interface_view(router_id, &port, &subnets))
    }

    async fn remove_by_port_in(
        &self,
        tx: &mut NeutronTx,
        router: &Router,
        port_id: &str,
        subnet_id: Option<&str>,
    ) -> Result<(Port, Vec<Subnet>), NeutronError> {
        let router_id = router.id.as_str();
        let doc = tx.lock(NeutronKind::Port, port_id).await?;
        let port = doc.as_ref().map(Port::from_doc).transpose()?;
        let (doc, port) = match (doc, port) {
            (Some(d), Some(p))
                if p.device_id == router_id && p.device_owner == ROUTER_INTERFACE =>
            {
                (d, p)
            }
            _ => {
                return Err(NeutronError::not_found(
                    "RouterInterfaceNotFound",
                    format!("Router {router_id} does not have an interface with id {port_id}"),
                ))
            }
        };
        let subnet_ids: Vec<&str> = port
            .fixed_ips
            .iter()
            .map(|ip| ip.subnet_id.as_str())
            .collect();
        if let Some(s) = subnet_id.filter(|s| !subnet_ids.contains(s)) {
            return Err(NeutronError::bad_request(format!(
                "Subnet on port {port_id} does not match the requested subnet {s}"
            ))
            .with_kind("SubnetMismatchForPort"));
        }
        let mut subnets = Vec::new();
        for sid in subnet_ids {
            if let Some(s) = tx.get(NeutronKind::Subnet, sid).await? {
                let s = Subnet::from_doc(&s)?;
                self.check_interface_unused(tx, router, &s).await?;
                subnets.push(s);
            }
        }
        self.delete_port_in(tx, &doc).await?;
        Ok((port, subnets))
    }

    async fn remove_by_subnet_in(
        &self,
        tx: &mut NeutronTx,
        scope: &Scope,
        router: &Router,
        subnet_id: &str,
    ) -> Result<(Port, Vec<Subnet>), NeutronError> {
        let router_id = router.id.as_str();
        let subnet = Subnet::from_doc(&self.locked_subnet(tx, scope, subnet_id).await?)?;
        self.check_interface_unused(tx, router, &subnet).await?;
        let ports = tx
            .list(
                NeutronKind::Port,
                &NeutronFilter {
                    eq: vec![
                        ("device_id".into(), vec![router_id.to_string()]),
                        ("device_owner".into(), vec![ROUTER_INTERFACE.to_string()]),
                    ],
                    ..Default::default()
                },
            )
            .await?;
        for p in Port::from_docs(&ports)? {
            if p.ip_on(subnet_id).is_none() {
                continue;
            }
            let Some(mut doc) = tx.lock(NeutronKind::Port, &p.id).await? else {
                continue;
            };
            let port = Port::from_doc(&doc)?;
            if p.fixed_ips.len() > 1 {
                // A port with several prefixes loses this one only.
                tx.release_ips(&port.id, Some(subnet_id)).await?;
                let kept: Vec<_> = p
                    .fixed_ips
                    .iter()
                    .filter(|ip| ip.subnet_id != subnet_id)
                    .collect();
                doc["fixed_ips"] = json!(kept);
                crate::attrs::touch(&mut doc);
                let jobs = crate::jobs_for::<crate::jobs_types::PortUpdate>(
                    tx,
                    &port.id,
                    &port.project_id,
                    None,
                )
                .await?;
                tx.update(NeutronKind::Port, &doc, &jobs).await?;
            } else {
                self.delete_port_in(tx, &doc).await?;
            }
            return Ok((port, vec![subnet]));
        }
        Err(NeutronError::not_found(
            "RouterInterfaceNotFoundForSubnet",
            format!("Router {router_id} has no interface on subnet {subnet_id}"),
        ))
    }

    /// Neutron's `_confirm_router_interface_not_in_use`: no route goes
    /// through the subnet, no floating IP of the router reaches into it.
    async fn check_interface_unused(
        &self,
        tx: &mut NeutronTx,
        router: &Router,
        subnet: &Subnet,
    ) -> Result<(), NeutronError> {
        let router_id = router.id.as_str();
        let subnet_id = subnet.id.as_str();
        let cidr = subnet.net()?;
        if routes_of(router).iter().any(|r| cidr.contains(&r.nexthop)) {
            return Err(NeutronError::conflict(
                "RouterInterfaceInUseByRoute",
                format!(
                    "Router interface for subnet {subnet_id} on router {router_id} cannot be deleted, as it is required by one or more routes."
                ),
            ));
        }
        let fips = tx
            .list(
                NeutronKind::FloatingIp,
                &NeutronFilter {
                    eq: vec![("router_id".into(), vec![router_id.to_string()])],
                    ..Default::default()
                },
            )
            .await?;
        let reached = FloatingIp::from_docs(&fips)?.iter().any(|f| {
            f.fixed_ip_address
                .as_deref()
                .and_then(ipam::parse_ip)
                .is_some_and(|ip| cidr.contains(&ip))
        });
        if reached {
            return Err(NeutronError::conflict(
                "RouterInterfaceInUseByFloatingIP",
                format!(
                    "Router interface for subnet {subnet_id} on router {router_id} cannot be deleted, as it is required by one or more floating IPs."
                ),
            ));
        }
        Ok(())
    }
}

/// Neutron's `_validate_port_in_range_or_admin`: a project may not hand a
/// router a port whose address lies outside the pools of a subnet that
/// is not its own (it could take another project's gateway address).
fn check_port_in_range_or_admin(
    scope: &Scope,
    subnets: &[Subnet],
    port: &Port,
) -> Result<(), NeutronError> {
    if scope.is_admin {
        return Ok(());
    }
    for ip in &port.fixed_ips {
        let sid = &ip.subnet_id;
        let Some(subnet) = subnets.iter().find(|s| s.id == *sid) else {
            continue;
        };
        let Some(a) = ipam::parse_ip(&ip.ip_address).map(ipam::to_u128) else {
            continue;
        };
        let in_pools = subnet
            .pool_ranges()
            .iter()
            .any(|(lo, hi)| (*lo..=*hi).contains(&a));
        if !in_pools && subnet.project_id != scope.project_id {
            return Err(NeutronError::bad_l3_request(
                "router",
                format!(
                    "Cannot add interface to router because specified port {} has an IP address out of the allocation pool of subnet {sid}, which is not owned by the project making the request",
                    port.id
                ),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interface_info_is_one_of_port_and_subnet() {
        let id = "6f1b1f3c-8a64-4d55-9a1c-3d2c1f0e9b11";
        let msg = |b: Value, removal: bool| interface_info(&b, removal).err().map(|e| e.message);
        assert_eq!(
            msg(json!({}), false).as_deref(),
            Some("Bad router request: Either subnet_id or port_id must be specified.")
        );
        assert_eq!(
            msg(json!({"port_id": id, "subnet_id": id}), false).as_deref(),
            Some("Bad router request: Cannot specify both subnet-id and port-id.")
        );
        assert!(interface_info(&json!({"port_id": id, "subnet_id": id}), true).is_ok());
        assert_eq!(
            msg(json!({"subnet_id": "x"}), false).as_deref(),
            Some("Bad router request: 'x' is not a valid UUID.")
        );
        assert_eq!(
            interface_info(&json!({"subnet_id": id}), false).ok(),
            Some((None, Some(id.to_string())))
        );
    }
}
