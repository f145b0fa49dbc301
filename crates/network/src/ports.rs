//! Ports: top IPAM (fixed IPs from the subnets' pools, or the requested
//! ones), MAC addresses, security groups, allowed address pairs, binding
//! attributes; and the reserved ports Tricircle keeps for itself.

use std::collections::HashSet;
use std::net::IpAddr;

use serde_json::{json, Map, Value};
use tricircle_core::ids::new_uuid;
use tricircle_store::{NeutronFilter, NeutronKind, NeutronTx, StoreError};

use crate::attrs::{self, attr, boolean, check, list, owner, shown, string, touch, Attr, Op};
use crate::ipam;
use crate::listing::{ListQuery, Listing, Page};
use crate::networks::{self, sql_filter};
use crate::subnets::{auto_address, cidr_of, pools_of};
use crate::{
    jobs_for, jobs_types, project_of, str_of, Attempt, Neutron, NeutronError, Scope, RETRIES,
};

const ATTRS: &[Attr] = &[
    attr("id", false, false),
    attr("name", true, true),
    attr("network_id", true, false),
    attr("tenant_id", true, false),
    attr("project_id", true, false),
    attr("mac_address", true, true),
    attr("admin_state_up", true, true),
    attr("status", false, false),
    attr("fixed_ips", true, true),
    attr("device_id", true, true),
    attr("device_owner", true, true),
    attr("security_groups", true, true),
    attr("allowed_address_pairs", true, true),
    attr("port_security_enabled", true, true),
    attr("binding:host_id", true, true),
    attr("binding:profile", true, true),
    attr("binding:vnic_type", true, true),
    attr("binding:vif_type", false, false),
    attr("binding:vif_details", false, false),
    attr("extra_dhcp_opts", true, true),
    attr("description", true, true),
    attr("created_at", false, false),
    attr("updated_at", false, false),
    attr("revision_number", false, false),
    attr("tags", false, false),
];

const FILTERABLE: &[&str] = &[
    "id",
    "name",
    "network_id",
    "tenant_id",
    "project_id",
    "mac_address",
    "admin_state_up",
    "status",
    "fixed_ips",
    "device_id",
    "device_owner",
    "security_groups",
    "allowed_address_pairs",
    "port_security_enabled",
    "binding:host_id",
    "binding:vnic_type",
    "binding:vif_type",
    "description",
    "created_at",
    "updated_at",
    "revision_number",
    "tags",
];

const SORTABLE: &[&str] = &[
    "id",
    "name",
    "network_id",
    "tenant_id",
    "project_id",
    "mac_address",
    "admin_state_up",
    "status",
    "device_id",
    "device_owner",
    "port_security_enabled",
    "binding:host_id",
    "binding:vnic_type",
    "description",
    "created_at",
    "updated_at",
    "revision_number",
];

const LISTING: Listing<'static> = Listing {
    filterable: FILTERABLE,
    sortable: SORTABLE,
    not_found: NeutronError::port_not_found,
};

/// Visible to admins only, as Neutron's policy has it.
const ADMIN_ONLY_VIEW: &[&str] = &[
    "binding:host_id",
    "binding:profile",
    "binding:vif_type",
    "binding:vif_details",
];

const VNIC_TYPES: &[&str] = &[
    "normal",
    "direct",
    "macvtap",
    "baremetal",
    "direct-physical",
    "virtio-forwarder",
    "smart-nic",
    "vdpa",
    "remote-managed",
];

const MAX_ADDRESS_PAIRS: usize = 10;

/// A requested fixed IP: a subnet, an address, or both.
#[derive(Debug, Clone)]
struct IpRequest {
    subnet_id: Option<String>,
    ip: Option<IpAddr>,
}

/// Everything a new port needs, validated.
#[derive(Debug, Clone)]
struct NewPort {
    id: String,
    project_id: String,
    network_id: String,
    name: String,
    description: String,
    admin_state_up: bool,
    mac: Option<String>,
    fixed_ips: Option<Vec<IpRequest>>,
    device_id: String,
    device_owner: String,
    security_groups: Option<Vec<String>>,
    port_security: Option<bool>,
    pairs: Vec<Value>,
    host_id: String,
    profile: Value,
    vnic_type: String,
    extra_dhcp_opts: Value,
    reserved_name: Option<String>,
    count_quota: bool,
}

fn parse_fixed_ips(v: &Value, max: usize) -> Result<Vec<IpRequest>, NeutronError> {
    let items = list("fixed_ips", v)?;
    if items.len() > max {
        return Err(NeutronError::invalid_input(
            "Exceeded maximum amount of fixed ips per port",
        ));
    }
    let mut out = Vec::new();
    for item in items {
        let obj = item.as_object().ok_or_else(|| {
            NeutronError::invalid_attr(
                "fixed_ips",
                format!("'{}' is not a dictionary", shown(item)),
            )
        })?;
        if let Some(k) = obj.keys().find(|k| *k != "subnet_id" && *k != "ip_address") {
            return Err(NeutronError::invalid_attr(
                "fixed_ips",
                format!("Unrecognized attribute(s) '{k}'"),
            ));
        }
        let subnet_id = obj
            .get("subnet_id")
            .map(|s| attrs::uuid("fixed_ips", s))
            .transpose()?;
        let ip = match obj.get("ip_address") {
            None => None,
            Some(v) => {
                let s = string("fixed_ips", v, 64)?;
                Some(ipam::parse_ip(&s).ok_or_else(|| {
                    NeutronError::invalid_attr(
                        "fixed_ips",
                        format!("'{s}' is not a valid IP address"),
                    )
                })?)
            }
        };
        if subnet_id.is_none() && ip.is_none() {
            return Err(NeutronError::invalid_attr(
                "fixed_ips",
                "each fixed IP needs a subnet_id, an ip_address or both",
            ));
        }
        out.push(IpRequest { subnet_id, ip });
    }
    Ok(out)
}

fn parse_mac(v: &Value) -> Result<String, NeutronError> {
    let s = string("mac_address", v, 32)?;
    ipam::parse_mac(&s)
        .map(|m| ipam::format_mac(&m))
        .ok_or_else(|| {
            NeutronError::invalid_attr("mac_address", format!("'{s}' is not a valid MAC address"))
        })
}

fn parse_pairs(v: &Value) -> Result<Vec<Value>, NeutronError> {
    let items = list("allowed_address_pairs", v)?;
    if items.len() > MAX_ADDRESS_PAIRS {
        return Err(NeutronError::bad_request(format!(
            "The number of allowed address pair exceeds the maximum {MAX_ADDRESS_PAIRS}."
        ))
        .with_kind("AllowedAddressPairExhausted"));
    }
    let mut out: Vec<Value> = Vec::new();
    for item in items {
        let obj = item.as_object().ok_or_else(|| {
            NeutronError::invalid_attr(
                "allowed_address_pairs",
                format!("'{}' is not a dictionary", shown(item)),
            )
        })?;
        if let Some(k) = obj
            .keys()
            .find(|k| *k != "ip_address" && *k != "mac_address")
        {
            return Err(NeutronError::invalid_attr(
                "allowed_address_pairs",
                format!("Unrecognized attribute(s) '{k}'"),
            ));
        }
        let ip = obj
            .get("ip_address")
            .ok_or_else(|| {
                NeutronError::bad_request("AllowedAddressPair must contain ip_address")
                    .with_kind("AllowedAddressPairsMissingIP")
            })
            .and_then(|v| string("allowed_address_pairs", v, 64))?;
        let ip = if ip.contains('/') {
            ip.parse::<ipnet::IpNet>().map(|n| n.to_string()).ok()
        } else {
            ipam::parse_ip(&ip).map(|a| a.to_string())
        }
        .ok_or_else(|| {
            NeutronError::invalid_attr(
                "allowed_address_pairs",
                format!("'{ip}' is not a valid IP address or CIDR"),
            )
        })?;
        let mac = obj.get("mac_address").map(parse_mac).transpose()?;
        let pair = json!({"ip_address": ip, "mac_address": mac});
        if out.contains(&pair) {
            return Err(NeutronError::bad_request(format!(
                "Request contains duplicate address pair: mac_address {} ip_address {ip}.",
                mac.as_deref().unwrap_or("None")
            ))
            .with_kind("DuplicateAddressPairInRequest"));
        }
        out.push(pair);
    }
    Ok(out)
}

/// Pairs without a MAC take the port's.
fn fill_pair_macs(pairs: &[Value], mac: &str) -> Value {
    json!(pairs
        .iter()
        .map(|p| {
            let mut p = p.clone();
            if p["mac_address"].is_null() {
                p["mac_address"] = json!(mac);
            }
            p
        })
        .collect::<Vec<_>>())
}

fn parse_dhcp_opts(v: &Value) -> Result<Value, NeutronError> {
    let mut out = Vec::new();
    for item in list("extra_dhcp_opts", v)? {
        let obj = item.as_object().ok_or_else(|| {
            NeutronError::invalid_attr(
                "extra_dhcp_opts",
                format!("'{}' is not a dictionary", shown(item)),
            )
        })?;
        if let Some(k) = obj
            .keys()
            .find(|k| !["opt_name", "opt_value", "ip_version"].contains(&k.as_str()))
        {
            return Err(NeutronError::invalid_attr(
                "extra_dhcp_opts",
                format!("Unrecognized attribute(s) '{k}'"),
            ));
        }
        let name = obj
            .get("opt_name")
            .ok_or_else(|| NeutronError::invalid_attr("extra_dhcp_opts", "opt_name is required"))
            .and_then(|v| string("extra_dhcp_opts", v, 64))?;
        let value = obj.get("opt_value").map_or(Ok(None), |v| {
            attrs::string_or_null("extra_dhcp_opts", v, 255)
        })?;
        let version = match obj.get("ip_version") {
            None | Some(Value::Null) => 4,
            Some(v) => match attrs::integer("extra_dhcp_opts", v)? {
                n @ (4 | 6) => n,
                _ => {
                    return Err(NeutronError::invalid_attr(
                        "extra_dhcp_opts",
                        "ip_version must be 4 or 6",
                    ))
                }
            },
        };
        out.push(json!({"opt_name": name, "opt_value": value, "ip_version": version}));
    }
    Ok(json!(out))
}

fn parse_vnic(v: &Value) -> Result<String, NeutronError> {
    let s = string("binding:vnic_type", v, 64)?;
    if !VNIC_TYPES.contains(&s.as_str()) {
        return Err(NeutronError::invalid_attr(
            "binding:vnic_type",
            format!("'{s}' is not in {VNIC_TYPES:?}"),
        ));
    }
    Ok(s)
}

fn parse_profile(v: &Value) -> Result<Value, NeutronError> {
    match v {
        Value::Object(_) => Ok(v.clone()),
        Value::Null => Ok(json!({})),
        other => Err(NeutronError::invalid_attr(
            "binding:profile",
            format!("'{}' is not a dictionary", shown(other)),
        )),
    }
}

fn no_more_ips(network_id: &str) -> NeutronError {
    NeutronError::conflict(
        "IpAddressGenerationFailure",
        format!("No more IP addresses available on network {network_id}."),
    )
}

fn fixed_ips_json(ips: &[(String, String)]) -> Value {
    json!(ips
        .iter()
        .map(|(s, ip)| json!({"subnet_id": s, "ip_address": ip}))
        .collect::<Vec<_>>())
}

fn fixed_ips_of(port: &Value) -> Vec<(String, String)> {
    port.get("fixed_ips")
        .and_then(Value::as_array)
        .map(|ips| {
            ips.iter()
                .map(|ip| {
                    (
                        str_of(ip, "subnet_id").to_string(),
                        str_of(ip, "ip_address").to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Whether a device owner is one of Neutron's own (`network:*`): such
/// ports get no security groups.
fn network_owned(device_owner: &str) -> bool {
    device_owner.starts_with("network:")
}

/// A port as a caller sees it.
pub(crate) fn port_view(scope: &Scope, mut port: Value) -> Value {
    if !scope.is_admin {
        if let Some(m) = port.as_object_mut() {
            for k in ADMIN_ONLY_VIEW {
                m.remove(*k);
            }
        }
    }
    port
}

/// Whether a caller may see a port: own, or on a network of theirs.
async fn port_visible(
    neutron: &Neutron,
    tx: Option<&mut NeutronTx>,
    scope: &Scope,
    port: &Value,
) -> Result<bool, NeutronError> {
    if scope.is_admin || project_of(port) == scope.project_id {
        return Ok(true);
    }
    let net_id = str_of(port, "network_id");
    let net = match tx {
        Some(tx) => tx.get(NeutronKind::Network, net_id).await?,
        None => {
            neutron
                .store
                .neutron_get(NeutronKind::Network, net_id)
                .await?
        }
    };
    Ok(net.is_some_and(|n| project_of(&n) == scope.project_id))
}

impl Neutron {
    /// Chooses an address on a subnet: the SLAAC one, or the lowest free
    /// one of its pools. None when the subnet is full.
    async fn pick_ip(
        &self,
        tx: &mut NeutronTx,
        subnet: &Value,
        mac: &str,
        chosen: &HashSet<(String, u128)>,
    ) -> Result<Option<IpAddr>, NeutronError> {
        let sid = str_of(subnet, "id");
        let net = cidr_of(subnet)?;
        if auto_address(subnet) {
            return Ok(ipam::eui64(&net, mac));
        }
        tx.lock_subnet(sid).await?;
        let mut taken: HashSet<u128> = tx
            .subnet_allocations(sid)
            .await?
            .iter()
            .filter_map(|(ip, _)| ipam::parse_ip(ip).map(ipam::to_u128))
            .collect();
        // Addresses of deleted ports whose copies a pod may still hold.
        taken.extend(
            tx.held_ips(sid)
                .await?
                .iter()
                .filter_map(|ip| ipam::parse_ip(ip).map(ipam::to_u128)),
        );
        taken.extend(chosen.iter().filter(|(s, _)| s == sid).map(|(_, a)| *a));
        if let Some(g) = subnet
            .get("gateway_ip")
            .and_then(Value::as_str)
            .and_then(ipam::parse_ip)
        {
            taken.insert(ipam::to_u128(g));
        }
        Ok(ipam::lowest_free(&pools_of(subnet), &taken)
            .map(|a| ipam::from_u128(a, ipam::net_version(&net))))
    }

    /// The fixed IPs of a port: the requested ones (validated, those it
    /// has already kept), or Neutron's default (one IPv4 address, SLAAC
    /// addresses, one stateful IPv6 address).
    async fn assign_ips(
        &self,
        tx: &mut NeutronTx,
        network_id: &str,
        port_id: &str,
        mac: &str,
        requests: Option<&[IpRequest]>,
        current: &[(String, String)],
    ) -> Result<Vec<(String, String)>, NeutronError> {
        let mut subnets = tx
            .list(
                NeutronKind::Subnet,
                &NeutronFilter {
                    eq: vec![("network_id".into(), vec![network_id.to_string()])],
                    ..Default::default()
                },
            )
            .await?;
        subnets.sort_by(|a, b| str_of(a, "created_at").cmp(str_of(b, "created_at")));
        let mut chosen: HashSet<(String, u128)> = HashSet::new();
        let mut out: Vec<(String, String)> = Vec::new();
        let Some(requests) = requests else {
            let v4: Vec<&Value> = subnets.iter().filter(|s| s["ip_version"] == 4).collect();
            if !v4.is_empty() {
                let mut got = false;
                for s in v4 {
                    if let Some(ip) = self.pick_ip(tx, s, mac, &chosen).await? {
                        out.push((str_of(s, "id").to_string(), ip.to_string()));
                        got = true;
                        break;
                    }
                }
                if !got {
                    return Err(no_more_ips(network_id));
                }
            }
            let mut stateful = false;
            for s in subnets.iter().filter(|s| s["ip_version"] == 6) {
                if !auto_address(s) && stateful {
                    continue;
                }
                if let Some(ip) = self.pick_ip(tx, s, mac, &chosen).await? {
                    stateful |= !auto_address(s);
                    out.push((str_of(s, "id").to_string(), ip.to_string()));
                }
            }
            return Ok(out);
        };
        let mut kept: Vec<bool> = vec![false; current.len()];
        for r in requests {
            let subnet = match (&r.subnet_id, r.ip) {
                (Some(sid), _) => subnets.iter().find(|s| str_of(s, "id") == sid).ok_or_else(|| {
                    NeutronError::invalid_input(format!(
                        "Failed to create port on network {network_id}, because fixed_ips included invalid subnet {sid}"
                    ))
                })?,
                (None, Some(ip)) => subnets
                    .iter()
                    .find(|s| cidr_of(s).is_ok_and(|n| n.contains(&ip)))
                    .ok_or_else(|| {
                        NeutronError::new(
                            400,
                            "InvalidIpForNetwork",
                            format!("IP address {ip} is not a valid IP for any of the subnets on the specified network."),
                        )
                    })?,
                (None, None) => continue,
            };
            let sid = str_of(subnet, "id").to_string();
            match r.ip {
                Some(ip) => {
                    let net = cidr_of(subnet)?;
                    let (first, last) = ipam::bounds(&net);
                    let a = ipam::to_u128(ip);
                    let edge = ipam::net_version(&net) == 4
                        && net.prefix_len() < 31
                        && (a == first || a == last);
                    if !net.contains(&ip) || edge {
                        return Err(NeutronError::new(
                            400,
                            "InvalidIpForSubnet",
                            format!("IP address {ip} is not a valid IP for the specified subnet."),
                        ));
                    }
                    if auto_address(subnet) {
                        return Err(NeutronError::invalid_input(format!(
                            "IPv6 address {ip} can not be directly assigned to a port on subnet {sid} since the subnet is configured for automatic addresses"
                        )));
                    }
                    let text = ip.to_string();
                    if let Some(i) = current.iter().position(|(s, c)| *s == sid && *c == text) {
                        kept[i] = true;
                    } else {
                        tx.lock_subnet(&sid).await?;
                        let taken = tx
                            .subnet_allocations(&sid)
                            .await?
                            .into_iter()
                            .any(|(other, p)| other == text && p != port_id)
                            || tx.held_ips(&sid).await?.contains(&text);
                        if taken || chosen.contains(&(sid.clone(), a)) {
                            return Err(NeutronError::conflict(
                                "IpAddressAlreadyAllocated",
                                format!("IP address {text} already allocated in subnet {sid}"),
                            ));
                        }
                    }
                    chosen.insert((sid.clone(), a));
                    out.push((sid, text));
                }
                None => {
                    if let Some(i) = (0..current.len()).find(|i| !kept[*i] && current[*i].0 == sid)
                    {
                        kept[i] = true;
                        out.push(current[i].clone());
                        continue;
                    }
                    let ip = self
                        .pick_ip(tx, subnet, mac, &chosen)
                        .await?
                        .ok_or_else(|| no_more_ips(network_id))?;
                    chosen.insert((sid.clone(), ipam::to_u128(ip)));
                    out.push((sid, ip.to_string()));
                }
            }
        }
        Ok(out)
    }

    /// The groups a port of `project_id` may use: each must exist and be
    /// the project's (any for an admin).
    async fn check_groups(
        &self,
        tx: &mut NeutronTx,
        scope: &Scope,
        project_id: &str,
        groups: &[String],
    ) -> Result<(), NeutronError> {
        for g in groups {
            match tx.get(NeutronKind::SecurityGroup, g).await? {
                Some(sg) if scope.is_admin || project_of(&sg) == project_id => {}
                _ => return Err(NeutronError::security_group_not_found(g)),
            }
        }
        Ok(())
    }

    async fn create_port_once(
        &self,
        scope: &Scope,
        np: &NewPort,
    ) -> Result<Attempt<Value>, NeutronError> {
        let mut tx = self.store.neutron_tx().await?;
        if let Some(name) = &np.reserved_name {
            if let Some(existing) = tx.find_reserved_port(&np.network_id, name).await? {
                return Ok(Attempt::Done(existing));
            }
        }
        if np.count_quota {
            self.check_quota(&mut tx, NeutronKind::Port, &np.project_id, 1)
                .await?;
        }
        let network = match tx.lock(NeutronKind::Network, &np.network_id).await? {
            Some(n) if networks::visible(scope, &n) => n,
            _ => return Err(NeutronError::network_not_found(&np.network_id)),
        };
        let net_owner = scope.owns(project_of(&network));
        if network_owned(&np.device_owner) && !net_owner {
            return Err(NeutronError::policy("rule:create_port:device_owner"));
        }
        if np.mac.is_some() && !net_owner {
            return Err(NeutronError::policy("rule:create_port:mac_address"));
        }
        if np
            .fixed_ips
            .as_ref()
            .is_some_and(|f| f.iter().any(|r| r.ip.is_some()))
            && !net_owner
        {
            return Err(NeutronError::policy(
                "rule:create_port:fixed_ips:ip_address",
            ));
        }
        let port_security = np
            .port_security
            .unwrap_or(network.get("port_security_enabled") != Some(&Value::Bool(false)));
        let mac = match &np.mac {
            Some(m) => {
                if tx.mac_in_use(&np.network_id, m).await? {
                    return Err(NeutronError::conflict(
                        "MacAddressInUse",
                        format!(
                            "Unable to complete operation for network {}. The mac address {m} is in use.",
                            np.network_id
                        ),
                    ));
                }
                m.clone()
            }
            None => {
                let mut mac = ipam::random_mac();
                let mut tries = 0;
                while tx.mac_in_use(&np.network_id, &mac).await? {
                    tries += 1;
                    if tries > 16 {
                        return Err(NeutronError::conflict(
                            "MacAddressGenerationFailure",
                            format!(
                                "Unable to generate unique mac on network {}.",
                                np.network_id
                            ),
                        ));
                    }
                    mac = ipam::random_mac();
                }
                mac
            }
        };
        let ips = self
            .assign_ips(
                &mut tx,
                &np.network_id,
                &np.id,
                &mac,
                np.fixed_ips.as_deref(),
                &[],
            )
            .await?;
        let groups = match &np.security_groups {
            Some(g) => g.clone(),
            None if port_security && !network_owned(&np.device_owner) => {
                vec![
                    self.ensure_default_group_in(&mut tx, &np.project_id)
                        .await?,
                ]
            }
            None => Vec::new(),
        };
        if !port_security && !groups.is_empty() {
            return Err(NeutronError::bad_request(
                "Port security must be enabled and port must have an IP address in order to use security groups.",
            )
            .with_kind("PortSecurityAndIPRequiredForSecurityGroups"));
        }
        if !port_security && !np.pairs.is_empty() {
            return Err(NeutronError::conflict(
                "AddressPairAndPortSecurityRequired",
                "Port Security must be enabled in order to have allowed address pairs on a port.",
            ));
        }
        self.check_groups(&mut tx, scope, &np.project_id, &groups)
            .await?;
        let now = attrs::now();
        let body = json!({
            "id": np.id,
            "name": np.name,
            "network_id": np.network_id,
            "tenant_id": np.project_id,
            "project_id": np.project_id,
            "mac_address": mac,
            "admin_state_up": np.admin_state_up,
            "status": "DOWN",
            "fixed_ips": fixed_ips_json(&ips),
            "device_id": np.device_id,
            "device_owner": np.device_owner,
            "security_groups": groups,
            "allowed_address_pairs": fill_pair_macs(&np.pairs, &mac),
            "port_security_enabled": port_security,
            "binding:host_id": np.host_id,
            "binding:profile": np.profile,
            "binding:vnic_type": np.vnic_type,
            "binding:vif_type": "unbound",
            "binding:vif_details": {},
            "extra_dhcp_opts": np.extra_dhcp_opts,
            "description": np.description,
            "created_at": now,
            "updated_at": now,
            "revision_number": 1,
            "tags": [],
        });
        match tx.insert_port(&body, np.reserved_name.as_deref()).await {
            Ok(()) => {}
            Err(StoreError::Conflict(_)) => return Ok(Attempt::Retry),
            Err(e) => return Err(e.into()),
        }
        for (sid, ip) in &ips {
            if !tx.allocate_ip(sid, ip, &np.id, &np.network_id).await? {
                return Ok(Attempt::Retry);
            }
        }
        tx.set_port_security_groups(&np.id, &groups).await?;
        match tx.commit().await {
            Ok(()) => Ok(Attempt::Done(body)),
            Err(StoreError::Conflict(_)) => Ok(Attempt::Retry),
            Err(e) => Err(e.into()),
        }
    }

    async fn create_port_retrying(
        &self,
        scope: &Scope,
        np: NewPort,
    ) -> Result<Value, NeutronError> {
        for _ in 0..RETRIES {
            if let Attempt::Done(p) = self.create_port_once(scope, &np).await? {
                return Ok(p);
            }
        }
        Err(NeutronError::unavailable(
            "The port could not be created: too much contention; try again.",
        ))
    }

    pub async fn create_port(&self, scope: &Scope, body: Value) -> Result<Value, NeutronError> {
        let map = check("port", body, ATTRS, Op::Create)?;
        let np = self.new_port(scope, &map)?;
        let port = self.create_port_retrying(scope, np).await?;
        Ok(port_view(scope, port))
    }

    fn new_port(&self, scope: &Scope, map: &Map<String, Value>) -> Result<NewPort, NeutronError> {
        let project_id = owner(scope, map)?;
        let network_id = attrs::uuid(
            "network_id",
            map.get("network_id")
                .ok_or_else(|| attrs::required("network_id"))?,
        )?;
        for (k, rule) in [
            ("binding:host_id", "create_port:binding:host_id"),
            ("binding:profile", "create_port:binding:profile"),
        ] {
            if map.contains_key(k) && !scope.is_admin {
                return Err(NeutronError::policy(&format!("rule:{rule}")));
            }
        }
        let text = |k: &str| map.get(k).map_or(Ok(String::new()), |v| string(k, v, 255));
        Ok(NewPort {
            id: new_uuid(),
            project_id,
            network_id,
            name: text("name")?,
            description: text("description")?,
            admin_state_up: map
                .get("admin_state_up")
                .map_or(Ok(true), |v| boolean("admin_state_up", v))?,
            mac: map.get("mac_address").map(parse_mac).transpose()?,
            fixed_ips: map
                .get("fixed_ips")
                .map(|v| parse_fixed_ips(v, self.cfg.max_fixed_ips_per_port))
                .transpose()?,
            device_id: text("device_id")?,
            device_owner: text("device_owner")?,
            security_groups: map
                .get("security_groups")
                .map(|v| {
                    list("security_groups", v)?
                        .iter()
                        .map(|g| attrs::uuid("security_groups", g))
                        .collect::<Result<Vec<_>, _>>()
                })
                .transpose()?
                .map(dedup),
            port_security: map
                .get("port_security_enabled")
                .map(|v| boolean("port_security_enabled", v))
                .transpose()?,
            pairs: map
                .get("allowed_address_pairs")
                .map_or(Ok(Vec::new()), parse_pairs)?,
            host_id: text("binding:host_id")?,
            profile: map
                .get("binding:profile")
                .map_or(Ok(json!({})), parse_profile)?,
            vnic_type: map
                .get("binding:vnic_type")
                .map_or(Ok("normal".to_string()), parse_vnic)?,
            extra_dhcp_opts: map
                .get("extra_dhcp_opts")
                .map_or(Ok(json!([])), parse_dhcp_opts)?,
            reserved_name: None,
            count_quota: true,
        })
    }

    /// Idempotent by (network_id, name): the existing port of that name,
    /// or a new one with one IP on `subnet_id` and `device_owner`. Several
    /// instances asking at once get the same port.
    pub async fn reserved_port(
        &self,
        project_id: &str,
        network_id: &str,
        subnet_id: &str,
        name: &str,
        device_owner: &str,
    ) -> Result<Value, NeutronError> {
        let scope = Scope {
            project_id: project_id.to_string(),
            user_id: String::new(),
            is_admin: true,
        };
        let np = NewPort {
            id: new_uuid(),
            project_id: project_id.to_string(),
            network_id: network_id.to_string(),
            name: name.to_string(),
            description: String::new(),
            admin_state_up: true,
            mac: None,
            fixed_ips: Some(vec![IpRequest {
                subnet_id: Some(subnet_id.to_string()),
                ip: None,
            }]),
            device_id: String::new(),
            device_owner: device_owner.to_string(),
            security_groups: Some(Vec::new()),
            port_security: Some(false),
            pairs: Vec::new(),
            host_id: String::new(),
            profile: json!({}),
            vnic_type: "normal".into(),
            extra_dhcp_opts: json!([]),
            reserved_name: Some(name.to_string()),
            count_quota: false,
        };
        self.create_port_retrying(&scope, np).await
    }

    pub async fn get_port(&self, scope: &Scope, id: &str) -> Result<Value, NeutronError> {
        match self.store.neutron_get(NeutronKind::Port, id).await? {
            Some(p) if port_visible(self, None, scope, &p).await? => Ok(port_view(scope, p)),
            _ => Err(NeutronError::port_not_found(id)),
        }
    }

    pub async fn list_ports(&self, scope: &Scope, q: &ListQuery) -> Result<Page, NeutronError> {
        LISTING.check(q)?;
        let filter = sql_filter(scope, NeutronKind::Port, q);
        let bodies = self.store.neutron_list(NeutronKind::Port, &filter).await?;
        let views = bodies.into_iter().map(|p| port_view(scope, p)).collect();
        LISTING.apply(views, q)
    }

    async fn locked_port(
        &self,
        tx: &mut NeutronTx,
        scope: &Scope,
        id: &str,
    ) -> Result<Value, NeutronError> {
        match tx.lock(NeutronKind::Port, id).await? {
            Some(p) if port_visible(self, Some(tx), scope, &p).await? => Ok(p),
            _ => Err(NeutronError::port_not_found(id)),
        }
    }

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
            .map(|v| parse_fixed_ips(v, self.cfg.max_fixed_ips_per_port))
            .transpose()?;
        for _ in 0..RETRIES {
            let mut tx = self.store.neutron_tx().await?;
            let mut port = self.locked_port(&mut tx, scope, id).await?;
            let before = port.clone();
            let network_id = str_of(&port, "network_id").to_string();
            let mut mac = str_of(&port, "mac_address").to_string();
            let mut pairs: Option<Vec<Value>> = None;
            for (k, v) in &map {
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
                        let project = project_of(&port).to_string();
                        self.check_groups(&mut tx, scope, &project, &groups).await?;
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
            let mut retry = false;
            if let Some(requests) = &fixed {
                let current = fixed_ips_of(&port);
                let ips = self
                    .assign_ips(&mut tx, &network_id, id, &mac, Some(requests), &current)
                    .await?;
                tx.release_ips(id, None).await?;
                for (sid, ip) in &ips {
                    if !tx.allocate_ip(sid, ip, id, &network_id).await? {
                        retry = true;
                        break;
                    }
                }
                port["fixed_ips"] = fixed_ips_json(&ips);
            }
            if retry {
                continue;
            }
            self.check_copy_keeps_addresses(&mut tx, id, &before, &port)
                .await?;
            tx.set_port_security_groups(id, &groups).await?;
            touch(&mut port);
            let jobs = jobs_for(
                &mut tx,
                NeutronKind::Port,
                jobs_types::PORT_UPDATE,
                id,
                project_of(&port),
                None,
            )
            .await?;
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

    pub async fn delete_port(&self, scope: &Scope, id: &str) -> Result<(), NeutronError> {
        let mut tx = self.store.neutron_tx().await?;
        let port = self.locked_port(&mut tx, scope, id).await?;
        let owner = str_of(&port, "device_owner");
        let reserved = tx.is_reserved_port(id).await?;
        if (reserved && !scope.is_admin)
            || owner == "network:router_interface"
            || owner == "network:router_gateway"
            || owner == "network:floatingip"
        {
            return Err(NeutronError::conflict(
                "L3PortInUse",
                format!("Port {id} cannot be deleted directly via the port API: has device owner {owner}."),
            ));
        }
        let jobs = jobs_for(
            &mut tx,
            NeutronKind::Port,
            jobs_types::PORT_DELETE,
            id,
            project_of(&port),
            Some(&port),
        )
        .await?;
        if !jobs.is_empty() {
            // Its copies go later: until then no other port gets its
            // addresses (a pod would refuse them).
            tx.hold_addresses(
                id,
                str_of(&port, "network_id"),
                str_of(&port, "mac_address"),
                &fixed_ips_of(&port),
                jobs_types::PORT_DELETE,
            )
            .await?;
        }
        tx.delete(NeutronKind::Port, id, &jobs).await?;
        tx.commit().await?;
        Ok(())
    }
}

fn dedup(mut v: Vec<String>) -> Vec<String> {
    let mut seen = HashSet::new();
    v.retain(|x| seen.insert(x.clone()));
    v
}
