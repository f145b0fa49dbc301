//! Associating a floating IP with a port's fixed IP, by Neutron's rules:
//! the caller's port (or any, for admins), not a DHCP port, one IPv4
//! address chosen (or the only one), a router whose interface is on that
//! address's subnet and whose gateway is on the floating IP's network,
//! and no other floating IP of that network on the same fixed IP.

use std::net::IpAddr;

use serde_json::{json, Value};
use tricircle_store::{NeutronFilter, NeutronKind, NeutronTx};

use super::{ACTIVE, DOWN};
use crate::ipam;
use crate::model::{FloatingIp, Port, Resource, Subnet};
use crate::ports::{ROUTER_GATEWAY, ROUTER_INTERFACE};
use crate::{Attempt, Neutron, NeutronError, Scope};

/// What a floating IP is associated with: `(port_id, fixed_ip, router_id)`.
pub(super) type Association<'a> = (&'a str, &'a str, &'a str);

/// Writes an association (or its absence) into a floating IP's body.
pub(super) fn set_association(fip: &mut Value, a: Option<Association<'_>>) {
    let (port, ip, router, status) = match a {
        Some((p, ip, r)) => (json!(p), json!(ip), json!(r), ACTIVE),
        None => (Value::Null, Value::Null, Value::Null, DOWN),
    };
    fip["port_id"] = port;
    fip["fixed_ip_address"] = ip;
    fip["router_id"] = router;
    fip["status"] = json!(status);
}

fn bad(msg: impl std::fmt::Display) -> NeutronError {
    NeutronError::bad_l3_request("floatingip", msg)
}

/// Neutron's `_internal_fip_assoc_data`: the port's fixed IP to use,
/// `(subnet_id, ip_address)`.
fn internal_ip(port: &Port, wanted: Option<IpAddr>) -> Result<(String, String), NeutronError> {
    let port_id = &port.id;
    let ips = port.ip_pairs();
    if let Some(w) = wanted {
        if w.is_ipv6() {
            return Err(bad(format!(
                "Cannot process floating IP association with {w}, since that is not an IPv4 address"
            )));
        }
        return ips
            .into_iter()
            .find(|(_, ip)| ipam::parse_ip(ip) == Some(w))
            .ok_or_else(|| bad(format!("Port {port_id} does not have fixed ip {w}")));
    }
    let v4: Vec<(String, String)> = ips
        .into_iter()
        .filter(|(_, ip)| ipam::parse_ip(ip).is_some_and(|a| a.is_ipv4()))
        .collect();
    match v4.as_slice() {
        [] => Err(bad(format!(
            "Cannot add floating IP to port {port_id} that has no fixed IPv4 addresses"
        ))),
        [one] => Ok(one.clone()),
        _ => Err(bad(format!(
            "Port {port_id} has multiple fixed IPv4 addresses.  Must provide a specific IPv4 address when assigning a floating IP"
        ))),
    }
}

impl Neutron {
    /// Associates `fip` (its document) with `port_id`'s fixed IP (`fixed_ip`, or its only
    /// IPv4 address), or disassociates it (`port_id` none). The port and
    /// the router are locked in `tx`, so an interface, gateway or port
    /// removed at the same time either sees this association or makes it
    /// fail. `Retry`: the router changed between the look-up and the lock.
    pub(super) async fn associate_in(
        &self,
        tx: &mut NeutronTx,
        scope: &Scope,
        fip: &mut Value,
        port_id: Option<&str>,
        fixed_ip: Option<IpAddr>,
    ) -> Result<Attempt<()>, NeutronError> {
        let Some(port_id) = port_id else {
            if fixed_ip.is_some() {
                return Err(bad(
                    "fixed_ip_address cannot be specified without a port_id",
                ));
            }
            set_association(fip, None);
            return Ok(Attempt::Done(()));
        };
        let current = FloatingIp::from_doc(fip)?;
        let port = Port::from_doc(&self.locked_port(tx, scope, port_id).await?)?;
        if port.project_id != current.project_id && !scope.is_admin {
            return Err(bad(format!(
                "Cannot process floating IP association with Port {port_id}, since that port is owned by a different tenant"
            )));
        }
        if port.device_owner == "network:dhcp" {
            return Err(bad(format!(
                "Port {port_id} is unable to be assigned a floating IP"
            )));
        }
        let (subnet_id, ip) = internal_ip(&port, fixed_ip)?;
        let net_id = current.floating_network_id.as_str();
        let gateway_ip = match tx.get(NeutronKind::Subnet, &subnet_id).await? {
            Some(s) => Subnet::from_doc(&s)?.gateway_ip.unwrap_or_default(),
            None => String::new(),
        };
        let not_reachable = || {
            NeutronError::not_found(
                "ExternalGatewayForFloatingIPNotFound",
                format!(
                    "External network {net_id} is not reachable from subnet {subnet_id}.  Therefore, cannot associate Port {port_id} with a Floating IP."
                ),
            )
        };
        let network_id = port.network_id.as_str();
        let Some(router_id) = self
            .router_for_floatingip_in(tx, network_id, &subnet_id, &gateway_ip, net_id)
            .await?
        else {
            return Err(not_reachable());
        };
        // Locked, the router must still qualify: an interface or gateway
        // removed meanwhile is seen now.
        tx.lock(NeutronKind::Router, &router_id).await?;
        let again = self
            .router_for_floatingip_in(tx, network_id, &subnet_id, &gateway_ip, net_id)
            .await?;
        if again.as_deref() != Some(router_id.as_str()) {
            return Ok(Attempt::Retry);
        }
        let same = current.port_id.as_deref() == Some(port_id)
            && current.fixed_ip_address.as_deref() == Some(ip.as_str());
        if !same {
            let taken = tx
                .list(
                    NeutronKind::FloatingIp,
                    &NeutronFilter {
                        eq: vec![
                            ("port_id".into(), vec![port_id.to_string()]),
                            ("floating_network_id".into(), vec![net_id.to_string()]),
                            ("fixed_ip_address".into(), vec![ip.clone()]),
                        ],
                        ..Default::default()
                    },
                )
                .await?;
            if FloatingIp::from_docs(&taken)?
                .iter()
                .any(|f| f.id != current.id)
            {
                return Err(NeutronError::conflict(
                    "FloatingIPPortAlreadyAssociated",
                    format!(
                        "Cannot associate floating IP {} ({}) with port {port_id} using fixed IP {ip}, as that fixed IP already has a floating IP on external network {net_id}.",
                        current.floating_ip_address, current.id
                    ),
                ));
            }
        }
        set_association(fip, Some((port_id, &ip, &router_id)));
        Ok(Attempt::Done(()))
    }

    /// Neutron's `get_router_for_floatingip`: a router with an interface
    /// on `subnet_id` (of `network_id`) and its gateway on `external_id`;
    /// the one whose interface holds the subnet's gateway IP first.
    async fn router_for_floatingip_in(
        &self,
        tx: &mut NeutronTx,
        network_id: &str,
        subnet_id: &str,
        gateway_ip: &str,
        external_id: &str,
    ) -> Result<Option<String>, NeutronError> {
        let interfaces = tx
            .list(
                NeutronKind::Port,
                &NeutronFilter {
                    eq: vec![
                        ("network_id".into(), vec![network_id.to_string()]),
                        ("device_owner".into(), vec![ROUTER_INTERFACE.to_string()]),
                    ],
                    ..Default::default()
                },
            )
            .await?;
        let mut first = None;
        for p in Port::from_docs(&interfaces)? {
            let Some(ip) = p.ip_on(subnet_id) else {
                continue;
            };
            let router_id = p.device_id.as_str();
            let gateways = tx
                .list(
                    NeutronKind::Port,
                    &NeutronFilter {
                        eq: vec![
                            ("device_id".into(), vec![router_id.to_string()]),
                            ("device_owner".into(), vec![ROUTER_GATEWAY.to_string()]),
                            ("network_id".into(), vec![external_id.to_string()]),
                        ],
                        ..Default::default()
                    },
                )
                .await?;
            if gateways.is_empty() {
                continue;
            }
            if ip == gateway_ip {
                return Ok(Some(router_id.to_string()));
            }
            first.get_or_insert_with(|| router_id.to_string());
        }
        Ok(first)
    }
}
