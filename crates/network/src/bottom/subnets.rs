//! Bottom subnets: a top subnet's copy in a pod, with the pod's own
//! gateway IP (a reserved top port) and the subnet's shared DHCP port.

use serde_json::{json, Value};
use tricircle_store::Pod;

use super::{str_of, Bottom, Result};
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
        subnet: &Value,
        bottom_net: &str,
    ) -> Result<String> {
        let top_id = str_of(subnet, "id");
        let project_id = str_of(subnet, "project_id");
        let network_id = str_of(subnet, "network_id");
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
                    None => {
                        let gateway = if subnet.get("gateway_ip").is_some_and(|g| !g.is_null()) {
                            let port = self
                                .neutron
                                .reserved_port(
                                    project_id,
                                    network_id,
                                    top_id,
                                    &interface_port_name(&pod.pod_id, top_id),
                                    INTERFACE_OWNER,
                                )
                                .await?;
                            first_ip(&port, top_id)
                        } else {
                            None
                        };
                        let mut pools =
                            subnet.get("allocation_pools").cloned().unwrap_or(json!([]));
                        if let Some(gw) = &gateway {
                            pools = remove_ip_from_pools(&pools, gw);
                        }
                        let mut body = json!({
                            "name": top_id,
                            "network_id": bottom_net,
                            "tenant_id": project_id,
                            "cidr": subnet.get("cidr").cloned().unwrap_or(Value::Null),
                            "ip_version": subnet.get("ip_version").cloned().unwrap_or(json!(4)),
                            "gateway_ip": gateway.map(Value::String).unwrap_or(Value::Null),
                            "allocation_pools": pools,
                            "enable_dhcp": false,
                        });
                        for key in [
                            "dns_nameservers",
                            "host_routes",
                            "ipv6_ra_mode",
                            "ipv6_address_mode",
                            "description",
                        ] {
                            if let Some(v) = subnet.get(key).filter(|v| !v.is_null()) {
                                body[key] = v.clone();
                            }
                        }
                        let made = self.create(pod, "subnets", "subnet", body).await?;
                        str_of(&made, "id").to_string()
                    }
                };
                self.finish_subnet(pod, subnet, &id, bottom_net).await?;
                Ok(id)
            },
        )
        .await
    }

    /// The DHCP part of a bottom subnet: when the top subnet has DHCP, the
    /// shared DHCP port (same IP and MAC in every pod) exists in the pod and
    /// DHCP is on. Idempotent.
    async fn finish_subnet(
        &self,
        pod: &Pod,
        subnet: &Value,
        bottom_id: &str,
        bottom_net: &str,
    ) -> Result<()> {
        if !subnet
            .get("enable_dhcp")
            .and_then(Value::as_bool)
            .unwrap_or(false)
        {
            return Ok(());
        }
        let top_id = str_of(subnet, "id");
        let project_id = str_of(subnet, "project_id");
        let port = self
            .neutron
            .reserved_port(
                project_id,
                str_of(subnet, "network_id"),
                top_id,
                &dhcp_port_name(top_id),
                DHCP_OWNER,
            )
            .await?;
        let port_id = str_of(&port, "id");
        let name = dhcp_port_name(top_id);
        let ip = first_ip(&port, top_id);
        self.get_or_create(
            pod,
            project_id,
            ResourceType::Port,
            port_id,
            || self.find_by_name(pod, "ports", &name),
            || async {
                if let Some(id) = self.find_by_name(pod, "ports", &name).await? {
                    return Ok(id);
                }
                let made = self
                    .create(
                        pod,
                        "ports",
                        "port",
                        json!({
                            "name": name,
                            "network_id": bottom_net,
                            "tenant_id": project_id,
                            "mac_address": port.get("mac_address").cloned().unwrap_or(Value::Null),
                            "fixed_ips": [{"subnet_id": bottom_id, "ip_address": ip}],
                            "device_owner": DHCP_OWNER,
                            "device_id": RESERVED_DHCP_DEVICE_ID,
                        }),
                    )
                    .await?;
                Ok(str_of(&made, "id").to_string())
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

/// Allocation pools (`[{"start", "end"}]`) without the address `ip`: the
/// pool holding it is split around it.
pub fn remove_ip_from_pools(pools: &Value, ip: &str) -> Value {
    let Ok(ip) = ip.parse::<std::net::IpAddr>() else {
        return pools.clone();
    };
    let n = to_u128(ip);
    let mut out = Vec::new();
    for pool in pools.as_array().into_iter().flatten() {
        let (Ok(start), Ok(end)) = (
            str_of(pool, "start").parse::<std::net::IpAddr>(),
            str_of(pool, "end").parse::<std::net::IpAddr>(),
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
        if n > s {
            out.push(json!({"start": from_u128(s, v4), "end": from_u128(n - 1, v4)}));
        }
        if n < e {
            out.push(json!({"start": from_u128(n + 1, v4), "end": from_u128(e, v4)}));
        }
    }
    Value::Array(out)
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

/// The first IP of `port` on `subnet_id`.
fn first_ip(port: &Value, subnet_id: &str) -> Option<String> {
    port.get("fixed_ips")
        .and_then(Value::as_array)?
        .iter()
        .find(|ip| str_of(ip, "subnet_id") == subnet_id)
        .and_then(|ip| ip.get("ip_address"))
        .and_then(Value::as_str)
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_gateway_ip_splits_its_pool() {
        let pools = json!([{"start": "10.0.0.2", "end": "10.0.0.254"}]);
        assert_eq!(
            remove_ip_from_pools(&pools, "10.0.0.5"),
            json!([{"start": "10.0.0.2", "end": "10.0.0.4"}, {"start": "10.0.0.6", "end": "10.0.0.254"}])
        );
        assert_eq!(
            remove_ip_from_pools(&pools, "10.0.0.2"),
            json!([{"start": "10.0.0.3", "end": "10.0.0.254"}])
        );
        assert_eq!(remove_ip_from_pools(&pools, "10.0.1.2"), pools);
        let v6 = json!([{"start": "fd00::2", "end": "fd00::ff"}]);
        assert_eq!(
            remove_ip_from_pools(&v6, "fd00::ff"),
            json!([{"start": "fd00::2", "end": "fd00::fe"}])
        );
    }
}
