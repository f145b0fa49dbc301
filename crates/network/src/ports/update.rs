//! Updating a port: its attributes, fixed IPs and groups in one
//! transaction with the job that brings its pod copies in line.

use serde_json::{json, Map, Value};
use tricircle_store::{NeutronKind, NeutronTx, StoreError};

use super::parse::{
    fill_pair_macs, parse_dhcp_opts, parse_fixed_ips, parse_mac, parse_pairs, parse_profile,
    parse_vnic, IpRequest,
};
use super::{dedup, fixed_ips_json, fixed_ips_of, network_owned, port_view, ATTRS};
use crate::attrs::{self, boolean, check, list, string, touch, Op};
use crate::{jobs_for, jobs_types, project_of, str_of, Neutron, NeutronError, Scope, RETRIES};

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
            let before = port.clone();
            let network_id = str_of(&port, "network_id").to_string();
            let mac = self
                .apply_port_attrs(&mut tx, scope, &mut port, &map)
                .await?;
            let groups = check_port_security(&port)?;
            if let Some(requests) = &fixed {
                if !self
                    .reassign_ips(&mut tx, &mut port, &network_id, &mac, requests)
                    .await?
                {
                    continue;
                }
            }
            self.check_copy_keeps_addresses(&mut tx, id, &before, &port)
                .await?;
            tx.set_port_security_groups(id, &groups).await?;
            touch(&mut port);
            let jobs =
                jobs_for::<jobs_types::PortUpdate>(&mut tx, id, project_of(&port), None).await?;
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

    /// Applies the updatable attributes of `map` to `port` (locked in
    /// `tx`), each checked as Neutron checks it. Returns the port's MAC
    /// after the change.
    async fn apply_port_attrs(
        &self,
        tx: &mut NeutronTx,
        scope: &Scope,
        port: &mut Value,
        map: &Map<String, Value>,
    ) -> Result<String, NeutronError> {
        let network_id = str_of(port, "network_id").to_string();
        let mut mac = str_of(port, "mac_address").to_string();
        let mut pairs: Option<Vec<Value>> = None;
        for (k, v) in map {
            let value = match k.as_str() {
                "name" | "description" | "device_id" | "binding:host_id" => {
                    json!(string(k, v, 255)?)
                }
                "device_owner" => {
                    let o = string(k, v, 255)?;
                    if network_owned(&o) && !scope.is_admin {
                        let net = tx.get(NeutronKind::Network, &network_id).await?;
                        if net.is_none_or(|n| project_of(&n) != scope.project_id) {
                            return Err(NeutronError::policy("rule:update_port:device_owner"));
                        }
                    }
                    json!(o)
                }
                "admin_state_up" | "port_security_enabled" => json!(boolean(k, v)?),
                "mac_address" => {
                    let m = parse_mac(v)?;
                    if m != mac && tx.mac_in_use(&network_id, &m).await? {
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
                    let project = project_of(port).to_string();
                    self.check_groups(tx, scope, &project, &groups).await?;
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

    /// Gives the port the requested fixed IPs. False: an address was taken
    /// meanwhile, the transaction is to be tried again.
    pub(crate) async fn reassign_ips(
        &self,
        tx: &mut NeutronTx,
        port: &mut Value,
        network_id: &str,
        mac: &str,
        requests: &[IpRequest],
    ) -> Result<bool, NeutronError> {
        let id = str_of(port, "id").to_string();
        let current = fixed_ips_of(port);
        let ips = self
            .assign_ips(tx, network_id, &id, mac, Some(requests), &current)
            .await?;
        tx.release_ips(&id, None).await?;
        for (sid, ip) in &ips {
            if !tx.allocate_ip(sid, ip, &id, network_id).await? {
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
        id: &str,
        before: &Value,
        after: &Value,
    ) -> Result<(), NeutronError> {
        let ips = |p: &Value| {
            let mut v: Vec<String> = p
                .get("fixed_ips")
                .and_then(Value::as_array)
                .map(|a| a.iter().map(Value::to_string).collect())
                .unwrap_or_default();
            v.sort();
            v
        };
        let old_mac = str_of(before, "mac_address");
        let new_mac = str_of(after, "mac_address");
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
fn check_port_security(port: &Value) -> Result<Vec<String>, NeutronError> {
    let port_security = port.get("port_security_enabled") != Some(&Value::Bool(false));
    let groups: Vec<String> = port
        .get("security_groups")
        .and_then(Value::as_array)
        .map(|g| {
            g.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    if !port_security && !groups.is_empty() {
        return Err(NeutronError::conflict(
            "PortSecurityPortHasSecurityGroup",
            "Port has security group associated. Cannot disable port security or ip address until security group is removed",
        ));
    }
    let has_pairs = port
        .get("allowed_address_pairs")
        .and_then(Value::as_array)
        .is_some_and(|p| !p.is_empty());
    if !port_security && has_pairs {
        return Err(NeutronError::conflict(
            "AddressPairAndPortSecurityRequired",
            "Port Security must be enabled in order to have allowed address pairs on a port.",
        ));
    }
    Ok(groups)
}
