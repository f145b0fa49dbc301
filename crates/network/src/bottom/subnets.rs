//! Bottom subnets: a top subnet's copy in a pod, with the pod's own
//! gateway IP (a reserved top port) and the subnet's shared DHCP port.

use serde_json::json;
use tricircle_store::Pod;

use super::{Bottom, Result};
use crate::model::{AllocationPool, Port, Resource, Subnet};
use tricircle_core::ResourceType;

/// Device owner of the reserved top port that gives a pod its gateway IP on
/// a subnet.
pub const INTERFACE_OWNER: &str = "network:router_interface_distributed";
/// Device owner of the shared DHCP port of a subnet.
pub const DHCP_OWNER: &str = "network:dhcp";
/// Neutron's device id of a DHCP port reserved before any agent took it.
pub const RESERVED_DHCP_DEVICE_ID: &str = "reserved_dhcp_port";

/// Name of the reserved top port holding `pod`'s gateway IP on `subnet`.
pub fn interface_port_name(pod_id: &str, subnet_id: &str) -> String {
    format!("interface_{pod_id}_{subnet_id}")
}

/// Name of the shared DHCP port of `subnet`.
pub fn dhcp_port_name(subnet_id: &str) -> String {
    format!("dhcp_port_{subnet_id}")
}

impl Bottom {
    /// Copies a top subnet into `pod` on the bottom network `bottom_net`:
    /// the pod's own gateway IP (reserved top port), pools without it, and
    /// the shared DHCP port pre-created before DHCP is switched on.
    pub async fn ensure_subnet(
        &self,
        pod: &Pod,
        subnet: &Subnet,
        bottom_net: &str,
    ) -> Result<String> {
        let top_id = subnet.id.as_str();
        let project_id = subnet.project_id.as_str();
        self.get_or_create(
            pod,
            project_id,
            ResourceType::Subnet,
            top_id,
            || async {
                match self.find_by_name(pod, "subnets", top_id).await? {
                    Some(id) => {
                        self.finish_subnet(pod, subnet, &id, bottom_net).await?;
                        Ok(Some(id))
                    }
                    None => Ok(None),
                }
            },
            || async {
                let id = match self.find_by_name(pod, "subnets", top_id).await? {
                    Some(id) => id,
                    None => self.create_subnet(pod, subnet, bottom_net).await?,
                };
                self.finish_subnet(pod, subnet, &id, bottom_net).await?;
                Ok(id)
            },
        )
        .await
    }

    /// Makes the pod's copy of a subnet, DHCP off: its own gateway IP (a
    /// reserved top port) and the pools without it.
    async fn create_subnet(&self, pod: &Pod, subnet: &Subnet, bottom_net: &str) -> Result<String> {
        let top_id = subnet.id.as_str();
        let gateway = if subnet.gateway_ip.is_some() {
            let port = self
                .neutron
                .reserved_port(
                    &subnet.project_id,
                    &subnet.network_id,
                    top_id,
                    &interface_port_name(&pod.pod_id, top_id),
                    INTERFACE_OWNER,
                )
                .await?;
            Port::from_doc(&port)?.ip_on(top_id).map(str::to_string)
        } else {
            None
        };
        let pools = match &gateway {
            Some(gw) => remove_ip_from_pools(&subnet.allocation_pools, gw),
            None => subnet.allocation_pools.clone(),
        };
        let mut body = json!({
            "name": top_id,
            "network_id": bottom_net,
            "tenant_id": subnet.project_id,
            "cidr": subnet.cidr,
            "ip_version": subnet.ip_version,
            "gateway_ip": gateway,
            "allocation_pools": pools,
            "enable_dhcp": false,
            "dns_nameservers": subnet.dns_nameservers,
            "host_routes": subnet.host_routes,
        });
        for (key, v) in [
            ("ipv6_ra_mode", &subnet.ipv6_ra_mode),
            ("ipv6_address_mode", &subnet.ipv6_address_mode),
            ("description", &subnet.description),
        ] {
            if let Some(v) = v {
                body[key] = json!(v);
            }
        }
        self.create(pod, "subnets", "subnet", body).await
    }

    /// The DHCP part of a bottom subnet: when the top subnet has DHCP, the
    /// shared DHCP port (same IP and MAC in every pod) exists in the pod and
    /// DHCP is on. Idempotent.
    async fn finish_subnet(
        &self,
        pod: &Pod,
        subnet: &Subnet,
        bottom_id: &str,
        bottom_net: &str,
    ) -> Result<()> {
        if !subnet.enable_dhcp {
            return Ok(());
        }
        let top_id = subnet.id.as_str();
        let project_id = subnet.project_id.as_str();
        let port = self
            .neutron
            .reserved_port(
                project_id,
                &subnet.network_id,
                top_id,
                &dhcp_port_name(top_id),
                DHCP_OWNER,
            )
            .await?;
        let port = Port::from_doc(&port)?;
        let name = dhcp_port_name(top_id);
        let ip = port.ip_on(top_id);
        self.get_or_create(
            pod,
            project_id,
            ResourceType::Port,
            &port.id,
            || self.find_by_name(pod, "ports", &name),
            || async {
                if let Some(id) = self.find_by_name(pod, "ports", &name).await? {
                    return Ok(id);
                }
                self.create(
                    pod,
                    "ports",
                    "port",
                    json!({
                        "name": name,
                        "network_id": bottom_net,
                        "tenant_id": project_id,
                        "mac_address": port.mac_address,
                        "fixed_ips": [{"subnet_id": bottom_id, "ip_address": ip}],
                        "device_owner": DHCP_OWNER,
                        "device_id": RESERVED_DHCP_DEVICE_ID,
                    }),
                )
                .await
            },
        )
        .await?;
        self.update(
            pod,
            "subnets",
            "subnet",
            bottom_id,
            json!({"enable_dhcp": true}),
        )
        .await?;
        Ok(())
    }
}

/// Allocation pools without the address `ip`: the pool holding it is
/// split around it (pools that do not parse are kept as they are).
pub fn remove_ip_from_pools(pools: &[AllocationPool], ip: &str) -> Vec<AllocationPool> {
    let Ok(ip) = ip.parse::<std::net::IpAddr>() else {
        return pools.to_vec();
    };
    let n = to_u128(ip);
    let mut out = Vec::new();
    for pool in pools {
        let (Ok(start), Ok(end)) = (
            pool.start.parse::<std::net::IpAddr>(),
            pool.end.parse::<std::net::IpAddr>(),
        ) else {
            out.push(pool.clone());
            continue;
        };
        let (s, e) = (to_u128(start), to_u128(end));
        if start.is_ipv4() != ip.is_ipv4() || n < s || n > e {
            out.push(pool.clone());
            continue;
        }
        let v4 = ip.is_ipv4();
        let range = |start, end| AllocationPool {
            start: from_u128(start, v4),
            end: from_u128(end, v4),
        };
        if n > s {
            out.push(range(s, n - 1));
        }
        if n < e {
            out.push(range(n + 1, e));
        }
    }
    out
}

fn to_u128(ip: std::net::IpAddr) -> u128 {
    match ip {
        std::net::IpAddr::V4(a) => u128::from(u32::from(a)),
        std::net::IpAddr::V6(a) => u128::from(a),
    }
}

fn from_u128(n: u128, v4: bool) -> String {
    if v4 {
        std::net::Ipv4Addr::from(u32::try_from(n).unwrap_or(u32::MAX)).to_string()
    } else {
        std::net::Ipv6Addr::from(n).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    /// `remove_ip_from_pools` on pools as Neutron writes them.
    fn removed(pools: &Value, ip: &str) -> Value {
        let pools: Vec<AllocationPool> = serde_json::from_value(pools.clone()).unwrap_or_default();
        json!(remove_ip_from_pools(&pools, ip))
    }

    #[test]
    fn a_gateway_ip_splits_its_pool() {
        let pools = json!([{"start": "10.0.0.2", "end": "10.0.0.254"}]);
        assert_eq!(
            removed(&pools, "10.0.0.5"),
            json!([{"start": "10.0.0.2", "end": "10.0.0.4"}, {"start": "10.0.0.6", "end": "10.0.0.254"}])
        );
        assert_eq!(
            removed(&pools, "10.0.0.2"),
            json!([{"start": "10.0.0.3", "end": "10.0.0.254"}])
        );
        assert_eq!(removed(&pools, "10.0.1.2"), pools);
        let v6 = json!([{"start": "fd00::2", "end": "fd00::ff"}]);
        assert_eq!(
            removed(&v6, "fd00::ff"),
            json!([{"start": "fd00::2", "end": "fd00::fe"}])
        );
    }
}
