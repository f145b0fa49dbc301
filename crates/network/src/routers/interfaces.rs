//! A router's interfaces (`add_router_interface`,
//! `remove_router_interface`): by subnet, a new top port of the router's
//! project at the subnet's gateway IP; by port, the caller's port handed
//! to the router. Neutron's rules: one of the two, a subnet with a
//! gateway, no subnet twice or overlapping on one router, a port without
//! a device.

use ipnet::IpNet;
use serde_json::{json, Value};
use tricircle_store::{NeutronFilter, NeutronKind, NeutronTx, StoreError};

use super::routes_of;
use crate::ipam;
use crate::ports::{fixed_ips_of, IpRequest, L3Port, ROUTER_INTERFACE};
use crate::subnets::{cidr_of, pools_of};
use crate::{project_of, str_of, Attempt, Neutron, NeutronError, Scope, RETRIES};

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
fn interface_view(router_id: &str, port: &Value, subnets: &[Value]) -> Value {
    let ids: Vec<&str> = subnets.iter().map(|s| str_of(s, "id")).collect();
    json!({
        "id": router_id,
        "tenant_id": project_of(port),
        "project_id": project_of(port),
        "port_id": str_of(port, "id"),
        "network_id": str_of(port, "network_id"),
        "subnet_id": ids.last().copied().unwrap_or(""),
        "subnet_ids": ids,
    })
}

/// "Router already has a port on subnet": none of the router's `ports`
/// has an address on one of `subnet_ids`.
pub(super) fn check_no_port_on(ports: &[Value], subnet_ids: &[&str]) -> Result<(), NeutronError> {
    for p in ports {
        if let Some((s, _)) = fixed_ips_of(p)
            .into_iter()
            .find(|(s, _)| subnet_ids.contains(&s.as_str()))
        {
            return Err(NeutronError::bad_l3_request(
                "router",
                format!("Router already has a port on subnet {s}"),
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
        ports: &[Value],
        new: &[Value],
    ) -> Result<(), NeutronError> {
        let ids: Vec<&str> = new.iter().map(|s| str_of(s, "id")).collect();
        check_no_port_on(ports, &ids)?;
        for p in ports
            .iter()
            .filter(|p| str_of(p, "device_owner") == ROUTER_INTERFACE)
        {
            for (sid, _) in fixed_ips_of(p) {
                let Some(sub) = tx.get(NeutronKind::Subnet, &sid).await? else {
                    continue;
                };
                let cidr = cidr_of(&sub)?;
                for s in new {
                    let new_cidr = cidr_of(s)?;
                    if overlaps(&cidr, &new_cidr) {
                        return Err(NeutronError::bad_l3_request(
                            "router",
                            format!(
                                "Cidr {new_cidr} of subnet {} overlaps with cidr {cidr} of subnet {sid}",
                                str_of(s, "id")
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
                (None, Some(s)) => self.add_by_subnet_in(&mut tx, scope, &router, s).await?,
                (None, None) => return Err(NeutronError::internal()),
            };
            let Attempt::Done((port, subnets)) = added else {
                continue;
            };
            crate::attrs::touch(&mut router);
            tx.update(NeutronKind::Router, &router, &[]).await?;
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
        router: &Value,
        subnet_id: &str,
    ) -> Result<Attempt<(Value, Vec<Value>)>, NeutronError> {
        let router_id = str_of(router, "id");
        let subnet = self.locked_subnet(tx, scope, subnet_id).await?;
        let Some(gateway) = subnet
            .get("gateway_ip")
            .and_then(Value::as_str)
            .and_then(ipam::parse_ip)
        else {
            return Err(NeutronError::bad_l3_request(
                "router",
                "Subnet for router interface must have a gateway IP",
            ));
        };
        if !scope.is_admin && project_of(&subnet) != scope.project_id {
            return Err(NeutronError::bad_l3_request(
                "router",
                format!(
                    "Cannot add interface to router because subnet {subnet_id} is not owned by project making the request"
                ),
            ));
        }
        if subnet["ip_version"] == 6
            && subnet["ipv6_ra_mode"].is_null()
            && !subnet["ipv6_address_mode"].is_null()
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
                    project_id: project_of(router),
                    network_id: str_of(&subnet, "network_id"),
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
            Attempt::Done(port) => Attempt::Done((port, vec![subnet])),
            Attempt::Retry => Attempt::Retry,
        })
    }

    async fn add_by_port_in(
        &self,
        tx: &mut NeutronTx,
        scope: &Scope,
        router_id: &str,
        port_id: &str,
    ) -> Result<Attempt<(Value, Vec<Value>)>, NeutronError> {
        let mut port = self.locked_port(tx, scope, port_id).await?;
        let device = str_of(&port, "device_id");
        if !device.is_empty() {
            return Err(NeutronError::conflict(
                "PortInUse",
                format!(
                    "Unable to complete operation on port {port_id} for network {}. Port already has an attached device {device}.",
                    str_of(&port, "network_id")
                ),
            ));
        }
        let ips = fixed_ips_of(&port);
        if ips.is_empty() {
            return Err(NeutronError::bad_l3_request(
                "router",
                "Router port must have at least one fixed IP",
            ));
        }
        let ports = super::router_ports_in(tx, router_id).await?;
        let v6 = |p: &Value| {
            fixed_ips_of(p)
                .iter()
                .any(|(_, ip)| ipam::parse_ip(ip).is_some_and(|a| a.is_ipv6()))
        };
        if v6(&port) {
            if let Some(other) = ports.iter().find(|p| {
                str_of(p, "network_id") == str_of(&port, "network_id")
                    && str_of(p, "device_owner") == ROUTER_INTERFACE
                    && v6(p)
            }) {
                return Err(NeutronError::bad_l3_request(
                    "router",
                    format!(
                        "Cannot have multiple router ports with the same network id if both contain IPv6 subnets. Existing port {} has IPv6 subnet(s) and network id {}",
                        str_of(other, "id"),
                        str_of(other, "network_id")
                    ),
                ));
            }
        }
        let mut subnets = Vec::new();
        for (sid, _) in &ips {
            if let Some(s) = tx.get(NeutronKind::Subnet, sid).await? {
                subnets.push(s);
            }
        }
        self.check_new_subnets(tx, &ports, &subnets).await?;
        if subnets.iter().filter(|s| s["ip_version"] == 4).count() > 1 {
            return Err(NeutronError::bad_l3_request(
                "router",
                "Cannot have multiple IPv4 subnets on router port",
            ));
        }
        check_port_in_range_or_admin(scope, &subnets, &port)?;
        self.set_device_in(tx, &mut port, router_id, ROUTER_INTERFACE)
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
        let (port, subnets) = match (&port_id, &subnet_id) {
            (Some(p), s) => {
                self.remove_by_port_in(&mut tx, &router, p, s.as_deref())
                    .await?
            }
            (None, Some(s)) => self.remove_by_subnet_in(&mut tx, scope, &router, s).await?,
            (None, None) => return Err(NeutronError::internal()),
        };
        crate::attrs::touch(&mut router);
        tx.update(NeutronKind::Router, &router, &[]).await?;
        tx.commit().await?;
        Ok(interface_view(router_id, &port, &subnets))
    }

    async fn remove_by_port_in(
        &self,
        tx: &mut NeutronTx,
        router: &Value,
        port_id: &str,
        subnet_id: Option<&str>,
    ) -> Result<(Value, Vec<Value>), NeutronError> {
        let router_id = str_of(router, "id");
        let port = match tx.lock(NeutronKind::Port, port_id).await? {
            Some(p)
                if str_of(&p, "device_id") == router_id
                    && str_of(&p, "device_owner") == ROUTER_INTERFACE =>
            {
                p
            }
            _ => {
                return Err(NeutronError::not_found(
                    "RouterInterfaceNotFound",
                    format!("Router {router_id} does not have an interface with id {port_id}"),
                ))
            }
        };
        let subnet_ids: Vec<String> = fixed_ips_of(&port).into_iter().map(|(s, _)| s).collect();
        if let Some(s) = subnet_id.filter(|s| !subnet_ids.iter().any(|x| x == s)) {
            return Err(NeutronError::bad_request(format!(
                "Subnet on port {port_id} does not match the requested subnet {s}"
            ))
            .with_kind("SubnetMismatchForPort"));
        }
        let mut subnets = Vec::new();
        for sid in &subnet_ids {
            if let Some(s) = tx.get(NeutronKind::Subnet, sid).await? {
                self.check_interface_unused(tx, router, &s).await?;
                subnets.push(s);
            }
        }
        self.delete_port_in(tx, &port).await?;
        Ok((port, subnets))
    }

    async fn remove_by_subnet_in(
        &self,
        tx: &mut NeutronTx,
        scope: &Scope,
        router: &Value,
        subnet_id: &str,
    ) -> Result<(Value, Vec<Value>), NeutronError> {
        let router_id = str_of(router, "id");
        let subnet = self.locked_subnet(tx, scope, subnet_id).await?;
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
        for p in ports {
            let ips = fixed_ips_of(&p);
            if !ips.iter().any(|(s, _)| s == subnet_id) {
                continue;
            }
            let Some(mut port) = tx.lock(NeutronKind::Port, str_of(&p, "id")).await? else {
                continue;
            };
            if ips.len() > 1 {
                // A port with several prefixes loses this one only.
                let pid = str_of(&port, "id").to_string();
                tx.release_ips(&pid, Some(subnet_id)).await?;
                port["fixed_ips"] = json!(ips
                    .iter()
                    .filter(|(s, _)| s != subnet_id)
                    .map(|(s, ip)| json!({"subnet_id": s, "ip_address": ip}))
                    .collect::<Vec<_>>());
                crate::attrs::touch(&mut port);
                let jobs = crate::jobs_for::<crate::jobs_types::PortUpdate>(
                    tx,
                    &pid,
                    project_of(&port),
                    None,
                )
                .await?;
                tx.update(NeutronKind::Port, &port, &jobs).await?;
            } else {
                self.delete_port_in(tx, &port).await?;
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
        router: &Value,
        subnet: &Value,
    ) -> Result<(), NeutronError> {
        let router_id = str_of(router, "id");
        let subnet_id = str_of(subnet, "id");
        let cidr = cidr_of(subnet)?;
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
        let reached = fips.iter().any(|f| {
            f.get("fixed_ip_address")
                .and_then(Value::as_str)
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
    subnets: &[Value],
    port: &Value,
) -> Result<(), NeutronError> {
    if scope.is_admin {
        return Ok(());
    }
    for (sid, ip) in fixed_ips_of(port) {
        let Some(subnet) = subnets.iter().find(|s| str_of(s, "id") == sid) else {
            continue;
        };
        let Some(a) = ipam::parse_ip(&ip).map(ipam::to_u128) else {
            continue;
        };
        let in_pools = pools_of(subnet)
            .iter()
            .any(|(lo, hi)| (*lo..=*hi).contains(&a));
        if !in_pools && project_of(subnet) != scope.project_id {
            return Err(NeutronError::bad_l3_request(
                "router",
                format!(
                    "Cannot add interface to router because specified port {} has an IP address out of the allocation pool of subnet {sid}, which is not owned by the project making the request",
                    str_of(port, "id")
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
