//! Updating a port: its attributes, fixed IPs and groups in one
//! transaction with the job that brings its pod copies in line.

use serde_json::{json, Map, Value};
use tricircle_store::{NeutronKind, NeutronTx, StoreError};

use super::parse::{
    fill_pair_macs, parse_dhcp_opts, parse_fixed_ips, parse_mac, parse_pairs, parse_profile,
    parse_vnic, IpRequest,
};
use super::{dedup, fixed_ips_json, network_owned, port_view, ATTRS};
use crate::attrs::{self, boolean, check, list, string, touch, Op};
use crate::model::{Network, Port, Resource};
use crate::{jobs_for, jobs_types, Neutron, NeutronError, Scope, RETRIES};

impl Neutron {
    pub async fn update_port(
        &self,
        scope: &Scope,
        id: &str,
        body: Value,
    ) -> Result<Value, NeutronError> {
        let map = check("port", body, ATTRS, Op::Update)?;
        for (k, rule) in [
            ("binding:host_id", "update_port:binding:host_id"),
            ("binding:profile", "update_port:binding:profile"),
            ("mac_address", "update_port:mac_address"),
        ] {
            if map.contains_key(k) && !scope.is_admin {
                return Err(NeutronError::policy(&format!("rule:{rule}")));
            }
        }
        let fixed = map
            .get("fixed_ips")
            .map(|v| parse_fixed_ips("fixed_ips", v, self.cfg.max_fixed_ips_per_port))
            .transpose()?;
        for _ in 0..RETRIES {
            let mut tx = self.store.neutron_tx().await?;
            let mut port = self.locked_port(&mut tx, scope, id).await?;
            let before = Port::from_doc(&port)?;
            let network_id = before.network_id.as_str();
            let mac = self
                .apply_port_attrs(&mut tx, scope, &before, &mut port, &map)
                .await?;
            let groups = check_port_security(&Port::from_doc(&port)?)?;
            if let Some(requests) = &fixed {
                if !self
                    .reassign_ips(&mut tx, &before, &mut port, &mac, requests)
                    .await?
                {
                    continue;
                }
            }
            self.check_copy_keeps_addresses(&mut tx, &before, &Port::from_doc(&port)?)
                .await?;
            tx.set_port_security_groups(id, &groups).await?;
            touch(&mut port);
            let jobs =
                jobs_for::<jobs_types::PortUpdate>(&mut tx, id, &before.project_id, None).await?;
            match tx.update(NeutronKind::Port, &port, &jobs).await {
                Ok(()) => {}
                Err(StoreError::Conflict(_)) => {
                    return Err(NeutronError::conflict(
                        "MacAddressInUse",
                        format!("Unable to complete operation for network {network_id}. The mac address {mac} is in use."),
                    ))
                }
                Err(e) => return Err(e.into()),
            }
            tx.commit().await?;
            return Ok(port_view(scope, port));
        }
        Err(NeutronError::unavailable(
            "The port could not be updated: too much contention; try again.",
        ))
    }

    /// Applies the updatable attributes of `map` to the stored document
    /// `port` (locked in `tx`; `before` is what it held), each checked as
    /// Neutron checks it. Returns the port's MAC after the change.
    async fn apply_port_attrs(
        &self,
        tx: &mut NeutronTx,
        scope: &Scope,
        before: &Port,
        port: &mut Value,
        map: &Map<String, Value>,
    ) -> Result<String, NeutronError> {
        let network_id = before.network_id.as_str();
        let mut mac = before.mac_address.clone();
        let mut pairs: Option<Vec<Value>> = None;
        for (k, v) in map {
            let value = match k.as_str() {
                "name" | "description" | "device_id" | "binding:host_id" => {
                    json!(string(k, v, 255)?)
                }
                "device_owner" => {
                    let o = string(k, v, 255)?;
                    if network_owned(&o) && !scope.is_admin {
                        let owner = match tx.get(NeutronKind::Network, network_id).await? {
                            Some(n) => Network::from_doc(&n)?.project_id,
                            None => String::new(),
                        };
                        if owner != scope.project_id {
                            return Err(NeutronError::policy("rule:update_port:device_owner"));
                        }
                    }
                    json!(o)
                }
                "admin_state_up" | "port_security_enabled" => json!(boolean(k, v)?),
                "mac_address" => {
                    let m = parse_mac(v)?;
                    if m != mac && tx.mac_in_use(network_id, &m).await? {
                        return Err(NeutronError::conflict(
                            "MacAddressInUse",
                            format!("Unable to complete operation for network {network_id}. The mac address {m} is in use."),
                        ));
                    }
                    mac = m.clone();
                    json!(m)
                }
                "security_groups" => {
                    let groups = dedup(
                        list(k, v)?
                            .iter()
                            .map(|g| attrs::uuid(k, g))
                            .collect::<Result<Vec<_>, _>>()?,
                    );
                    self.check_groups(tx, scope, &before.project_id, &groups)
                        .await?;
                    json!(groups)
                }
                "allowed_address_pairs" => {
                    pairs = Some(parse_pairs(v)?);
                    continue;
                }
                "binding:profile" => parse_profile(v)?,
                "binding:vnic_type" => json!(parse_vnic(v)?),
                "extra_dhcp_opts" => parse_dhcp_opts(v)?,
                _ => continue,
            };
            port[k.as_str()] = value;
        }
        if let Some(p) = &pairs {
            port["allowed_address_pairs"] = fill_pair_macs(p, &mac);
        }
        Ok(mac)
    }

    /// Gives the port (`before`, its stored document `port`) the requested
    /// fixed IPs. False: an address was taken meanwhile, the transaction is
    /// to be tried again.
    pub(crate) async fn reassign_ips(
        &self,
        tx: &mut NeutronTx,
        before: &Port,
        port: &mut Value,
        mac: &str,
        requests: &[IpRequest],
    ) -> Result<bool, NeutronError> {
        let (id, network_id) = (before.id.as_str(), before.network_id.as_str());
        let current = before.ip_pairs();
        let ips = self
            .assign_ips(tx, network_id, id, mac, Some(requests), &current)
            .await?;
        tx.release_ips(id, None).await?;
        for (sid, ip) in &ips {
            if !tx.allocate_ip(sid, ip, id, network_id).await? {
                return Ok(false);
            }
        }
        port["fixed_ips"] = fixed_ips_json(&ips);
        Ok(true)
    }

    /// A port with a copy in a pod keeps its MAC and IPs: the copy is
    /// bound to a server there, and Neutron would refuse the MAC change of a
    /// bound port as well.
    async fn check_copy_keeps_addresses(
        &self,
        tx: &mut NeutronTx,
        before: &Port,
        after: &Port,
    ) -> Result<(), NeutronError> {
        let id = before.id.as_str();
        let ips = |p: &Port| {
            let mut v = p.fixed_ips.clone();
            v.sort();
            v
        };
        let old_mac = before.mac_address.as_str();
        let new_mac = after.mac_address.as_str();
        let mac_changed = old_mac != new_mac;
        let ips_changed = ips(before) != ips(after);
        if !(mac_changed || ips_changed)
            || tx
                .copy_pods(id, NeutronKind::Port.resource_type())
                .await?
                .is_empty()
        {
            return Ok(());
        }
        if mac_changed {
            return Err(NeutronError::conflict(
                "PortBound",
                format!(
                    "Unable to complete operation on port {id}, port is already bound, \
                     port type: ovs, old_mac {old_mac}, new_mac {new_mac}."
                ),
            ));
        }
        Err(NeutronError::conflict(
            "PortInUse",
            format!(
                "Unable to complete operation on port {id}: its fixed IPs cannot be \
                 changed while it is in use in a pod."
            ),
        ))
    }
}

/// A port without port security has neither groups nor address pairs.
/// Returns its groups.
fn check_port_security(port: &Port) -> Result<Vec<String>, NeutronError> {
    let port_security = port.port_security();
    let groups = port.security_groups.clone();
    if !port_security && !groups.is_empty() {
        return Err(NeutronError::conflict(
            "PortSecurityPortHasSecurityGroup",
            "Port has security group associated. Cannot disable port security or ip address until security group is removed",
        ));
    }
    if !port_security && !port.allowed_address_pairs.is_empty() {
        return Err(NeutronError::conflict(
            "AddressPairAndPortSecurityRequired",
            "Port Security must be enabled in order to have allowed address pairs on a port.",
        ));
    }
    Ok(groups)
}
