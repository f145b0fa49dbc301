//! A router's gateway (`external_gateway_info`, Neutron's `ext-gw-mode`):
//! a top port on an external network with `device_owner`
//! `network:router_gateway`, no project (Neutron hides it from tenants),
//! addresses from the external subnets (the requested ones for admins).

use serde_json::{json, Map, Value};
use tricircle_store::{NeutronFilter, NeutronKind, NeutronTx};

use crate::attrs::{self, boolean, shown, touch};
use crate::model::{Network, Port, Resource, Router, Subnet};
use crate::networks;
use crate::ports::{parse_fixed_ips, IpRequest, L3Port, ROUTER_GATEWAY};
use crate::{jobs_for, jobs_types, Attempt, Neutron, NeutronError, Scope};

const NAME: &str = "external_gateway_info";

/// What `external_gateway_info` asks for.
#[derive(Debug, Clone)]
pub(super) struct GatewayRequest {
    pub network_id: String,
    pub enable_snat: Option<bool>,
    pub fixed_ips: Option<Vec<IpRequest>>,
}

/// `external_gateway_info` as Neutron validates it (`dict_or_nodata`):
/// `None` for no gateway (null or `{}`).
pub(super) fn parse_gateway(
    v: &Value,
    max_ips: usize,
) -> Result<Option<GatewayRequest>, NeutronError> {
    let obj: &Map<String, Value> = match v {
        Value::Null => return Ok(None),
        Value::Object(m) if m.is_empty() => return Ok(None),
        Value::Object(m) => m,
        other => {
            return Err(NeutronError::invalid_attr(
                NAME,
                format!("'{}' is not a dictionary", shown(other)),
            ))
        }
    };
    let Some(network_id) = obj.get("network_id") else {
        let provided: Vec<String> = obj.keys().map(|k| format!("'{k}'")).collect();
        return Err(NeutronError::invalid_attr(
            NAME,
            format!(
                "Validation of dictionary's keys failed. Expected keys: {{'network_id'}} \
                 Provided keys: {{{}}}",
                provided.join(", ")
            ),
        ));
    };
    let unexpected: Vec<&str> = obj
        .keys()
        .map(String::as_str)
        .filter(|k| !["network_id", "enable_snat", "external_fixed_ips"].contains(k))
        .collect();
    if !unexpected.is_empty() {
        return Err(NeutronError::invalid_attr(
            NAME,
            format!("Unexpected keys supplied: {}", unexpected.join(", ")),
        ));
    }
    Ok(Some(GatewayRequest {
        network_id: attrs::uuid(NAME, network_id)?,
        enable_snat: obj
            .get("enable_snat")
            .map(|v| boolean(NAME, v))
            .transpose()?,
        fixed_ips: obj
            .get("external_fixed_ips")
            .filter(|v| !v.is_null())
            .map(|v| parse_fixed_ips(NAME, v, max_ips))
            .transpose()?,
    }))
}

/// `external_fixed_ips` as the gateway port has them.
pub(super) fn external_fixed_ips(port: &Port) -> Value {
    json!(port.fixed_ips)
}

/// Whether the requested addresses differ from the port's (Neutron's
/// `_check_for_external_ip_change`).
fn ips_change(port: &Port, wanted: &[IpRequest]) -> bool {
    let current = port.ip_pairs();
    let mut have_subnets: Vec<&str> = current.iter().map(|(s, _)| s.as_str()).collect();
    let mut want_subnets: Vec<&str> = wanted
        .iter()
        .filter_map(|r| r.subnet_id.as_deref())
        .collect();
    let mut have_ips: Vec<String> = current.iter().map(|(_, ip)| ip.clone()).collect();
    let mut want_ips: Vec<String> = wanted
        .iter()
        .filter_map(|r| r.ip.map(|ip| ip.to_string()))
        .collect();
    for v in [&mut have_subnets, &mut want_subnets] {
        v.sort_unstable();
        v.dedup();
    }
    for v in [&mut have_ips, &mut want_ips] {
        v.sort_unstable();
        v.dedup();
    }
    have_subnets != want_subnets || have_ips != want_ips
}

impl Neutron {
    /// The router's gateway port, locked in `tx`.
    pub(super) async fn gateway_port_in(
        &self,
        tx: &mut NeutronTx,
        router_id: &str,
    ) -> Result<Option<Value>, NeutronError> {
        let ports = tx
            .list(
                NeutronKind::Port,
                &NeutronFilter {
                    eq: vec![
                        ("device_id".into(), vec![router_id.to_string()]),
                        ("device_owner".into(), vec![ROUTER_GATEWAY.to_string()]),
                    ],
                    ..Default::default()
                },
            )
            .await?;
        match ports.first() {
            Some(p) => Ok(tx.lock(NeutronKind::Port, &Port::from_doc(p)?.id).await?),
            None => Ok(None),
        }
    }

    /// Deletes a router's gateway port (its stored document); refused
    /// while floating IPs go through the router
    /// (`RouterExternalGatewayInUseByFloatingIp`).
    pub(super) async fn remove_gateway_port_in(
        &self,
        tx: &mut NeutronTx,
        router_id: &str,
        doc: &Value,
    ) -> Result<(), NeutronError> {
        let port = Port::from_doc(doc)?;
        let fips = tx
            .list(
                NeutronKind::FloatingIp,
                &NeutronFilter {
                    eq: vec![("router_id".into(), vec![router_id.to_string()])],
                    ..Default::default()
                },
            )
            .await?;
        if !fips.is_empty() {
            return Err(NeutronError::conflict(
                "RouterExternalGatewayInUseByFloatingIp",
                format!(
                    "Gateway cannot be updated for router {router_id}, since a gateway to \
                     external network {} is required by one or more floating IPs.",
                    port.network_id
                ),
            ));
        }
        self.delete_port_in(tx, doc).await
    }

    /// Sets the gateway of `router` (its stored document, locked in `tx`)
    /// as `req` asks: none,
    /// new addresses on the same external network, or a new network.
    /// `Retry`: an address was taken meanwhile.
    pub(super) async fn set_gateway_in(
        &self,
        tx: &mut NeutronTx,
        scope: &Scope,
        router: &mut Value,
        req: Option<&GatewayRequest>,
    ) -> Result<Attempt<()>, NeutronError> {
        let stored = Router::from_doc(router)?;
        let router_id = stored.id.as_str();
        let current = self.gateway_port_in(tx, router_id).await?;
        let Some(req) = req else {
            if let Some(p) = &current {
                self.remove_gateway_port_in(tx, router_id, p).await?;
            }
            router["external_gateway_info"] = Value::Null;
            return Ok(Attempt::Done(()));
        };
        let net_id = req.network_id.as_str();
        let network =
            networks::visible(scope, tx.get(NeutronKind::Network, net_id).await?, net_id)?;
        if !Network::from_doc(&network)?.external {
            return Err(NeutronError::bad_l3_request(
                "router",
                format!("Network {net_id} is not an external network"),
            ));
        }
        let subnets = tx
            .list(
                NeutronKind::Subnet,
                &NeutronFilter {
                    eq: vec![("network_id".into(), vec![net_id.to_string()])],
                    ..Default::default()
                },
            )
            .await?;
        let subnets = Subnet::from_docs(&subnets)?;
        if let Some(wanted) = &req.fixed_ips {
            for ip in wanted.iter().filter_map(|r| r.ip) {
                if subnets.iter().any(|s| s.gateway() == Some(ip)) {
                    return Err(NeutronError::bad_l3_request(
                        "router",
                        format!("External IP {ip} is the same as the gateway IP"),
                    ));
                }
            }
        }
        let before = current.as_ref().map(Port::from_doc).transpose()?;
        let same_network = before.as_ref().is_some_and(|p| p.network_id == net_id);
        let enable_snat = req.enable_snat.unwrap_or_else(|| {
            let kept = stored
                .external_gateway_info
                .as_ref()
                .and_then(|g| g.enable_snat);
            if same_network {
                kept.unwrap_or(true)
            } else {
                true
            }
        });
        let port = match (current, before) {
            (Some(mut port), Some(before)) if same_network => {
                if let Some(wanted) = req.fixed_ips.as_deref().filter(|w| ips_change(&before, w)) {
                    let mac = before.mac_address.as_str();
                    if !self
                        .reassign_ips(tx, &before, &mut port, mac, wanted)
                        .await?
                    {
                        return Ok(Attempt::Retry);
                    }
                    touch(&mut port);
                    let jobs = jobs_for::<jobs_types::PortUpdate>(tx, &before.id, "", None).await?;
                    tx.update(NeutronKind::Port, &port, &jobs).await?;
                }
                port
            }
            (other, _) => {
                if let Some(p) = &other {
                    self.remove_gateway_port_in(tx, router_id, p).await?;
                }
                let ports = super::router_ports_in(tx, router_id).await?;
                let ids: Vec<&str> = subnets.iter().map(|s| s.id.as_str()).collect();
                super::interfaces::check_no_port_on(&ports, &ids)?;
                let made = self
                    .create_l3_port_in(
                        tx,
                        L3Port {
                            project_id: "",
                            network_id: net_id,
                            device_id: router_id,
                            device_owner: ROUTER_GATEWAY,
                            fixed_ips: req.fixed_ips.clone(),
                        },
                    )
                    .await?;
                match made {
                    Attempt::Done(p) => p,
                    Attempt::Retry => return Ok(Attempt::Retry),
                }
            }
        };
        router["external_gateway_info"] = json!({
            "network_id": net_id,
            "enable_snat": enable_snat,
            "external_fixed_ips": external_fixed_ips(&Port::from_doc(&port)?),
        });
        Ok(Attempt::Done(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ipam;
    use crate::ErrorClass;

    #[test]
    fn gateway_info_is_validated_like_neutron() {
        let id = "6f1b1f3c-8a64-4d55-9a1c-3d2c1f0e9b11";
        assert!(parse_gateway(&Value::Null, 5).unwrap_or_default().is_none());
        assert!(parse_gateway(&json!({}), 5).unwrap_or_default().is_none());
        let g = parse_gateway(&json!({"network_id": id, "enable_snat": "false"}), 5)
            .ok()
            .flatten();
        assert_eq!(
            g.as_ref().map(|g| (g.network_id.as_str(), g.enable_snat)),
            Some((id, Some(false)))
        );
        for (bad, said) in [
            (json!("x"), "'x' is not a dictionary"),
            (
                json!({"enable_snat": true}),
                "Expected keys: {'network_id'}",
            ),
            (
                json!({"network_id": id, "foo": 1}),
                "Unexpected keys supplied: foo",
            ),
            (json!({"network_id": "nope"}), "'nope' is not a valid UUID"),
            (
                json!({"network_id": id, "external_fixed_ips": [{"ip_address": "x"}]}),
                "'x' is not a valid IP address",
            ),
        ] {
            let e = parse_gateway(&bad, 5).err();
            assert!(
                e.as_ref().is_some_and(|e| e.class == ErrorClass::BadRequest
                    && e.message
                        .starts_with("Invalid input for external_gateway_info.")
                    && e.message.contains(said)),
                "{bad}: {e:?}"
            );
        }
    }

    #[test]
    fn external_ip_changes() {
        let port = Port::parse(&json!({
            "id": "p",
            "network_id": "n",
            "fixed_ips": [{"subnet_id": "s1", "ip_address": "172.24.4.10"}]
        }))
        .expect("port");
        let req = |s: Option<&str>, ip: Option<&str>| IpRequest {
            subnet_id: s.map(str::to_string),
            ip: ip.and_then(ipam::parse_ip),
        };
        assert!(!ips_change(&port, &[req(Some("s1"), Some("172.24.4.10"))]));
        assert!(ips_change(&port, &[req(Some("s1"), Some("172.24.4.11"))]));
        assert!(ips_change(&port, &[req(Some("s2"), None)]));
    }
}
