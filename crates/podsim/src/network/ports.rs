//! Ports: fixed IPs from the pod's IPAM, MAC addresses, security groups,
//! allowed address pairs, port bindings and DNS assignment. Ports owned
//! by routers and floating IPs are made by those resources.

use rand::Rng;
use serde_json::{json, Value};

use super::error::{NResult, NeutronError};
use super::ipam::Ip;
use super::model::{b, copy_keys, fixed_ips, new_record, py_str, s, touch, Kind, Record, State};
use super::{security_groups, subnets, Ctx};

pub(super) const OWNER_DHCP: &str = "network:dhcp";
pub(super) const OWNER_ROUTER_INTERFACE: &str = "network:router_interface";
pub(super) const OWNER_ROUTER_GATEWAY: &str = "network:router_gateway";
pub(super) const OWNER_FLOATINGIP: &str = "network:floatingip";

const VNIC_TYPES: [&str; 11] = [
    "normal",
    "direct",
    "macvtap",
    "baremetal",
    "direct-physical",
    "virtio-forwarder",
    "smart-nic",
    "vdpa",
    "accelerator-direct",
    "accelerator-direct-physical",
    "remote-managed",
];

/// A port made by the service itself (DHCP, router, floating IP).
pub(super) struct NewPort {
    pub network_id: String,
    pub project_id: String,
    pub device_owner: String,
    pub device_id: String,
    pub ips: Vec<(String, Ip)>,
}

fn ips_json(ips: &[(String, Ip)]) -> Value {
    Value::Array(
        ips.iter()
            .map(|(sid, ip)| json!({"subnet_id": sid, "ip_address": ip.to_string()}))
            .collect(),
    )
}

/// A MAC in `fa:16:3e` not used on the network.
fn new_mac(st: &State, network_id: &str) -> String {
    let mut rng = rand::rng();
    loop {
        let mac = format!(
            "fa:16:3e:{:02x}:{:02x}:{:02x}",
            rng.random::<u8>(),
            rng.random::<u8>(),
            rng.random::<u8>()
        );
        if !mac_in_use(st, network_id, &mac, None) {
            return mac;
        }
    }
}

fn mac_in_use(st: &State, network_id: &str, mac: &str, except: Option<&str>) -> bool {
    st.ports.iter().any(|p| {
        s(p, "network_id") == network_id && s(p, "mac_address") == mac && Some(s(p, "id")) != except
    })
}

/// `convert_to_sanitized_mac_address` and `validate_mac_address`.
fn parse_mac(v: &Value) -> NResult<String> {
    let text = py_str(v);
    let parts: Vec<&str> = text.split([':', '-']).collect();
    let ok = parts.len() == 6
        && parts
            .iter()
            .all(|p| p.len() == 2 && p.bytes().all(|c| c.is_ascii_hexdigit()));
    if !ok || text == "00:00:00:00:00:00" {
        return Err(NeutronError::bad_request(format!(
            "Invalid input for mac_address. Reason: '{text}' is not a valid MAC address."
        )));
    }
    Ok(parts.join(":").to_ascii_lowercase())
}

/// Bound to a host: the OVS driver's VIF; else `unbound`.
pub(super) fn refresh_binding(p: &mut Record) {
    if s(p, "binding:host_id").is_empty() {
        p.insert("binding:vif_type".into(), json!("unbound"));
        p.insert("binding:vif_details".into(), json!({}));
    } else {
        p.insert("binding:vif_type".into(), json!("ovs"));
        p.insert(
            "binding:vif_details".into(),
            json!({"port_filter": true, "connectivity": "l2", "ovs_hybrid_plug": false,
                   "datapath_type": "system", "bridge_name": "br-int"}),
        );
    }
}

/// Status (`ACTIVE` once a device holds the port) and DNS assignment.
pub(super) fn refresh(p: &mut Record) {
    let status = if s(p, "device_id").is_empty() {
        "DOWN"
    } else {
        "ACTIVE"
    };
    p.insert("status".into(), json!(status));
    let dns_name = s(p, "dns_name").to_string();
    let assignment: Vec<Value> = fixed_ips(p)
        .iter()
        .map(|f| {
            let ip = f["ip_address"].as_str().unwrap_or_default();
            let host = if dns_name.is_empty() {
                format!("host-{}", ip.replace(['.', ':'], "-"))
            } else {
                dns_name.clone()
            };
            json!({"ip_address": ip, "hostname": host, "fqdn": format!("{host}.openstacklocal.")})
        })
        .collect();
    p.insert("dns_assignment".into(), Value::Array(assignment));
}

/// Inserts a port with every attribute at its default.
pub(super) fn insert_port(st: &mut State, _ctx: &Ctx, spec: NewPort) -> String {
    let port_security = st
        .get(Kind::Network, &spec.network_id)
        .is_none_or(|n| b(n, "port_security_enabled"));
    let mut r = new_record(&spec.project_id);
    r.insert("name".into(), json!(""));
    r.insert("network_id".into(), json!(spec.network_id));
    r.insert("admin_state_up".into(), json!(true));
    r.insert("mac_address".into(), json!(new_mac(st, &spec.network_id)));
    r.insert("fixed_ips".into(), ips_json(&spec.ips));
    r.insert("device_id".into(), json!(spec.device_id));
    r.insert("device_owner".into(), json!(spec.device_owner));
    r.insert("security_groups".into(), json!([]));
    r.insert("allowed_address_pairs".into(), json!([]));
    r.insert("extra_dhcp_opts".into(), json!([]));
    r.insert("port_security_enabled".into(), json!(port_security));
    r.insert("dns_name".into(), json!(""));
    r.insert("ip_allocation".into(), json!("immediate"));
    r.insert("binding:host_id".into(), json!(""));
    r.insert("binding:profile".into(), json!({}));
    r.insert("binding:vnic_type".into(), json!("normal"));
    refresh_binding(&mut r);
    refresh(&mut r);
    let id = s(&r, "id").to_string();
    st.ports.push(r);
    id
}

fn fixed_ip_error(why: String) -> NeutronError {
    NeutronError::bad_request(format!("Invalid input for fixed_ips. Reason: {why}."))
}

/// Resolves requested `fixed_ips` on a network to (subnet, address)
/// pairs, allocating where only a subnet is given
/// (`_get_subnet_for_fixed_ip` and the IPAM driver).
pub(super) fn resolve_fixed_ips(
    st: &State,
    network_id: &str,
    requested: &Value,
    router_owner: bool,
) -> NResult<Vec<(String, Ip)>> {
    let on_net: Vec<&Record> = st
        .subnets
        .iter()
        .filter(|sn| s(sn, "network_id") == network_id)
        .collect();
    let entries = requested.as_array().cloned().unwrap_or_default();
    if !entries.is_empty() && on_net.is_empty() {
        return Err(NeutronError::invalid_input(
            "IP allocation requires subnets for network",
        ));
    }
    let mut out: Vec<(String, Ip)> = Vec::new();
    for entry in &entries {
        let Some(obj) = entry.as_object() else {
            return Err(fixed_ip_error(format!(
                "Invalid data format for fixed IP: '{}'",
                py_str(entry)
            )));
        };
        if let Some(k) = obj
            .keys()
            .find(|k| !matches!(k.as_str(), "subnet_id" | "ip_address"))
        {
            return Err(fixed_ip_error(format!(
                "Invalid data format for fixed IP: '{}'; unrecognized key {k}",
                py_str(entry)
            )));
        }
        let ip = match obj.get("ip_address") {
            None => None,
            Some(v) => Some(v.as_str().and_then(Ip::parse).ok_or_else(|| {
                fixed_ip_error(format!("'{}' is not a valid IP address", py_str(v)))
            })?),
        };
        let subnet: &Record = match obj.get("subnet_id") {
            Some(v) => {
                let sid = py_str(v);
                match on_net.iter().find(|sn| s(sn, "id") == sid) {
                    Some(sn) => {
                        if let Some(ip) = ip {
                            let ok = subnets::cidr_of(sn)
                                .is_some_and(|c| c.accepts_host(ip, router_owner));
                            if !ok {
                                return Err(NeutronError::new(
                                    axum::http::StatusCode::BAD_REQUEST,
                                    "InvalidIpForSubnet",
                                    format!(
                                        "IP address {ip} is not a valid IP for the specified \
                                         subnet."
                                    ),
                                ));
                            }
                        }
                        sn
                    }
                    None if st.get(Kind::Subnet, &sid).is_some() => {
                        return Err(NeutronError::invalid_input(&format!(
                            "Failed to create port on network {network_id}, because fixed_ips \
                             included invalid subnet {sid}"
                        )))
                    }
                    None => return Err(NeutronError::subnet_not_found(&sid)),
                }
            }
            None => {
                let Some(ip) = ip else {
                    return Err(NeutronError::invalid_input(
                        "IP allocation requires subnet_id or ip_address",
                    ));
                };
                let found = on_net.iter().find(|sn| {
                    subnets::cidr_of(sn).is_some_and(|c| c.accepts_host(ip, router_owner))
                });
                match found {
                    Some(sn) => sn,
                    None => {
                        return Err(NeutronError::new(
                            axum::http::StatusCode::BAD_REQUEST,
                            "InvalidIpForNetwork",
                            format!(
                                "IP address {ip} is not a valid IP for any of the subnets on \
                                 the specified network."
                            ),
                        ))
                    }
                }
            }
        };
        let sid = s(subnet, "id").to_string();
        let taken: Vec<Ip> = out
            .iter()
            .filter(|(s2, _)| *s2 == sid)
            .map(|(_, ip)| *ip)
            .collect();
        let ip = match ip {
            Some(ip) => {
                if taken.contains(&ip) || subnets::used_ips(st, &sid).contains(&ip) {
                    return Err(NeutronError::conflict(
                        "IpAddressAlreadyAllocated",
                        format!("IP address {ip} already allocated in subnet {sid}"),
                    ));
                }
                ip
            }
            None => subnets::allocate(st, subnet, &taken).ok_or_else(|| {
                NeutronError::conflict(
                    "IpAddressGenerationFailure",
                    format!("No more IP addresses available for subnet {sid}."),
                )
            })?,
        };
        out.push((sid, ip));
    }
    Ok(out)
}

/// Addresses for a port that asked for none: one IPv4 and one IPv6
/// address, each from the first subnet of that family with room.
pub(super) fn auto_ips(st: &State, network_id: &str) -> NResult<Vec<(String, Ip)>> {
    let on_net: Vec<&Record> = st
        .subnets
        .iter()
        .filter(|sn| s(sn, "network_id") == network_id)
        .collect();
    let mut out = Vec::new();
    for version in [4, 6] {
        let found = on_net
            .iter()
            .filter(|sn| sn.get("ip_version").and_then(Value::as_i64) == Some(version))
            .find_map(|sn| subnets::allocate(st, sn, &[]).map(|ip| (s(sn, "id").to_string(), ip)));
        if let Some(pair) = found {
            out.push(pair);
        }
    }
    if out.is_empty() && !on_net.is_empty() {
        return Err(NeutronError::conflict(
            "IpAddressGenerationFailure",
            format!("No more IP addresses available on network {network_id}."),
        ));
    }
    Ok(out)
}

/// Checks requested security groups: each must exist for the port's
/// project.
fn check_security_groups(st: &State, ctx: &Ctx, project: &str, v: &Value) -> NResult<Value> {
    let mut ids = Vec::new();
    for g in v.as_array().into_iter().flatten() {
        let id = py_str(g);
        let ok = st
            .get(Kind::SecurityGroup, &id)
            .is_some_and(|sg| s(sg, "project_id") == project || ctx.is_admin);
        if !ok {
            return Err(NeutronError::security_group_not_found(&id));
        }
        if !ids.contains(&json!(id)) {
            ids.push(json!(id));
        }
    }
    Ok(Value::Array(ids))
}

fn check_address_pairs(v: &Value, mac: &str) -> NResult<Value> {
    let mut out = Vec::new();
    for pair in v.as_array().into_iter().flatten() {
        let ip = pair.get("ip_address").and_then(Value::as_str);
        let valid_ip = ip.is_some_and(|ip| super::ipam::Cidr::parse(ip).is_some());
        if !valid_ip {
            return Err(NeutronError::bad_request(format!(
                "Invalid input for allowed_address_pairs. Reason: AllowedAddressPair must \
                 contain ip_address: '{}'.",
                py_str(pair)
            )));
        }
        let pair_mac = match pair.get("mac_address") {
            Some(m) => parse_mac(m)?,
            None => mac.to_string(),
        };
        out.push(json!({"ip_address": ip, "mac_address": pair_mac}));
    }
    Ok(Value::Array(out))
}

fn check_vnic_type(v: &Value) -> NResult<()> {
    let t = py_str(v);
    if VNIC_TYPES.contains(&t.as_str()) {
        Ok(())
    } else {
        Err(NeutronError::bad_request(format!(
            "Invalid input for binding:vnic_type. Reason: '{t}' is not in {}.",
            super::model::py_list(&VNIC_TYPES)
        )))
    }
}

/// Port security off leaves no room for security groups or pairs.
fn check_port_security(r: &Record) -> NResult<()> {
    if b(r, "port_security_enabled") {
        return Ok(());
    }
    let has = |k: &str| {
        r.get(k)
            .and_then(Value::as_array)
            .is_some_and(|a| !a.is_empty())
    };
    if has("security_groups") {
        return Err(NeutronError::new(
            axum::http::StatusCode::BAD_REQUEST,
            "PortSecurityAndIPRequiredForSecurityGroups",
            "Port security must be enabled and port must have an IP address in order to use \
             security groups.",
        ));
    }
    if has("allowed_address_pairs") {
        return Err(NeutronError::conflict(
            "AddressPairAndPortSecurityRequired",
            "Port Security must be enabled in order to have allowed address pairs on a port.",
        ));
    }
    Ok(())
}

pub(super) fn create(st: &mut State, ctx: &Ctx, res: Record) -> NResult<String> {
    let net_id = s(&res, "network_id").to_string();
    let net = st
        .get(Kind::Network, &net_id)
        .filter(|n| st.can_see(ctx, Kind::Network, n))
        .ok_or_else(|| NeutronError::network_not_found(&net_id))?;
    let net_owner = ctx.is_admin || s(net, "project_id") == ctx.project_id;
    if !net_owner && !b(net, "shared") {
        return Err(NeutronError::policy("rule:create_port"));
    }
    let project = s(&res, "project_id").to_string();
    let owner = s(&res, "device_owner").to_string();
    let router_owner = owner.starts_with("network:router");
    let mac = match res.get("mac_address") {
        Some(m) => {
            if !net_owner {
                return Err(NeutronError::policy(
                    "(rule:create_port and rule:create_port:mac_address)",
                ));
            }
            let mac = parse_mac(m)?;
            if mac_in_use(st, &net_id, &mac, None) {
                return Err(NeutronError::conflict(
                    "MacAddressInUse",
                    format!(
                        "Unable to complete operation for network {net_id}. The mac address \
                         {mac} is in use."
                    ),
                ));
            }
            Some(mac)
        }
        None => None,
    };
    let ips = match res.get("fixed_ips") {
        Some(v) => {
            let asks_ip = v
                .as_array()
                .into_iter()
                .flatten()
                .any(|f| f.get("ip_address").is_some());
            if asks_ip && !net_owner {
                return Err(NeutronError::policy(
                    "(rule:create_port and rule:create_port:fixed_ips:ip_address)",
                ));
            }
            resolve_fixed_ips(st, &net_id, v, router_owner)?
        }
        None => auto_ips(st, &net_id)?,
    };
    if let Some(v) = res.get("binding:vnic_type") {
        check_vnic_type(v)?;
    }
    let port_security = res
        .get("port_security_enabled")
        .and_then(Value::as_bool)
        .unwrap_or_else(|| b(net, "port_security_enabled"));
    let groups = match res.get("security_groups") {
        Some(v) => check_security_groups(st, ctx, &project, v)?,
        None if port_security && !owner.starts_with("network:") => {
            json!([security_groups::ensure_default(st, &project)])
        }
        None => json!([]),
    };
    let id = insert_port(
        st,
        ctx,
        NewPort {
            network_id: net_id.clone(),
            project_id: project,
            device_owner: owner,
            device_id: s(&res, "device_id").to_string(),
            ips,
        },
    );
    let Some(r) = st.get_mut(Kind::Port, &id) else {
        return Err(Kind::Port.not_found(&id));
    };
    if let Some(mac) = mac {
        r.insert("mac_address".into(), json!(mac));
    }
    copy_keys(
        r,
        &res,
        &[
            "name",
            "admin_state_up",
            "extra_dhcp_opts",
            "dns_name",
            "binding:host_id",
            "binding:vnic_type",
            "description",
            "tags",
        ],
    );
    if let Some(p) = res.get("binding:profile") {
        r.insert(
            "binding:profile".into(),
            if p.is_null() { json!({}) } else { p.clone() },
        );
    }
    r.insert("port_security_enabled".into(), json!(port_security));
    r.insert("security_groups".into(), groups);
    if let Some(pairs) = res.get("allowed_address_pairs") {
        let mac = s(r, "mac_address").to_string();
        r.insert(
            "allowed_address_pairs".into(),
            check_address_pairs(pairs, &mac)?,
        );
    }
    refresh_binding(r);
    refresh(r);
    if let Err(e) = check_port_security(r) {
        st.remove(Kind::Port, &id);
        return Err(e);
    }
    Ok(id)
}

pub(super) fn update(st: &mut State, ctx: &Ctx, id: &str, res: Record) -> NResult<()> {
    let current = st
        .get(Kind::Port, id)
        .ok_or_else(|| Kind::Port.not_found(id))?;
    let net_id = s(current, "network_id").to_string();
    let project = s(current, "project_id").to_string();
    let router_owner = s(current, "device_owner").starts_with("network:router");
    let net_owner = ctx.is_admin
        || st
            .get(Kind::Network, &net_id)
            .is_some_and(|n| s(n, "project_id") == ctx.project_id);
    let mac = match res.get("mac_address") {
        Some(m) => {
            if !ctx.is_admin {
                return Err(NeutronError::policy(
                    "(rule:update_port and rule:update_port:mac_address)",
                ));
            }
            let mac = parse_mac(m)?;
            if mac_in_use(st, &net_id, &mac, Some(id)) {
                return Err(NeutronError::conflict(
                    "MacAddressInUse",
                    format!(
                        "Unable to complete operation for network {net_id}. The mac address \
                         {mac} is in use."
                    ),
                ));
            }
            Some(mac)
        }
        None => None,
    };
    let ips = match res.get("fixed_ips") {
        Some(v) => {
            let asks_ip = v
                .as_array()
                .into_iter()
                .flatten()
                .any(|f| f.get("ip_address").is_some());
            if asks_ip && !net_owner {
                return Err(NeutronError::policy(
                    "(rule:update_port and rule:update_port:fixed_ips:ip_address)",
                ));
            }
            // The port's own addresses are free for it to keep.
            let mut without = st.clone();
            without.remove(Kind::Port, id);
            Some(resolve_fixed_ips(&without, &net_id, v, router_owner)?)
        }
        None => None,
    };
    if let Some(v) = res.get("binding:vnic_type") {
        check_vnic_type(v)?;
    }
    let groups = match res.get("security_groups") {
        Some(v) => Some(check_security_groups(st, ctx, &project, v)?),
        None => None,
    };
    let Some(r) = st.get_mut(Kind::Port, id) else {
        return Err(Kind::Port.not_found(id));
    };
    let mut next = r.clone();
    if let Some(mac) = mac {
        next.insert("mac_address".into(), json!(mac));
    }
    if let Some(ips) = ips {
        next.insert("fixed_ips".into(), ips_json(&ips));
    }
    if let Some(g) = groups {
        next.insert("security_groups".into(), g);
    }
    copy_keys(
        &mut next,
        &res,
        &[
            "name",
            "admin_state_up",
            "device_id",
            "device_owner",
            "extra_dhcp_opts",
            "port_security_enabled",
            "dns_name",
            "binding:host_id",
            "binding:vnic_type",
            "description",
        ],
    );
    if let Some(p) = res.get("binding:profile") {
        next.insert(
            "binding:profile".into(),
            if p.is_null() { json!({}) } else { p.clone() },
        );
    }
    if let Some(pairs) = res.get("allowed_address_pairs") {
        let mac = s(&next, "mac_address").to_string();
        next.insert(
            "allowed_address_pairs".into(),
            check_address_pairs(pairs, &mac)?,
        );
    }
    if !b(&next, "port_security_enabled")
        && res.get("port_security_enabled") == Some(&json!(false))
        && next
            .get("security_groups")
            .and_then(Value::as_array)
            .is_some_and(|a| !a.is_empty())
        && !res.contains_key("security_groups")
    {
        return Err(NeutronError::conflict(
            "PortSecurityPortHasSecurityGroup",
            "Port has security group associated. Cannot disable port security or ip address \
             until security group is removed",
        ));
    }
    check_port_security(&next)?;
    refresh_binding(&mut next);
    refresh(&mut next);
    touch(&mut next);
    *r = next;
    Ok(())
}

/// Ports of routers and floating IPs go with their owner.
pub(super) fn delete(st: &mut State, id: &str) -> NResult<()> {
    let p = st
        .get(Kind::Port, id)
        .ok_or_else(|| Kind::Port.not_found(id))?;
    let owner = s(p, "device_owner");
    if [
        OWNER_ROUTER_INTERFACE,
        OWNER_ROUTER_GATEWAY,
        OWNER_FLOATINGIP,
    ]
    .contains(&owner)
    {
        return Err(NeutronError::conflict(
            "L3PortInUse",
            format!(
                "Port {id} has owner {owner} and therefore cannot be deleted directly via the \
                 port API."
            ),
        ));
    }
    for fip in st.floatingips.iter_mut() {
        if s(fip, "port_id") == id {
            super::floatingips::disassociate(fip);
        }
    }
    st.remove(Kind::Port, id);
    Ok(())
}
