//! Subnets and the pod's IPAM: CIDR checks, gateway and allocation pool
//! validation, overlap detection on a network, address allocation, and
//! the DHCP port the DHCP agent would create.

use std::collections::BTreeSet;

use md5::Digest;

use serde_json::{json, Value};

use super::error::{NResult, NeutronError};
use super::ipam::{self, Cidr, Ip, PoolError, Range};
use super::model::{copy_keys, fixed_ips, new_record, py_str, s, touch, Kind, Record, State};
use super::{ports, Ctx};

const IPV6_MODES: [&str; 3] = ["dhcpv6-stateful", "dhcpv6-stateless", "slaac"];

pub(super) fn cidr_of(r: &Record) -> Option<Cidr> {
    Cidr::parse(s(r, "cidr"))
}

fn gateway_of(r: &Record) -> Option<Ip> {
    r.get("gateway_ip")
        .and_then(Value::as_str)
        .and_then(Ip::parse)
}

fn pools_of(r: &Record) -> Vec<Range> {
    r.get("allocation_pools")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|p| {
            Some(Range {
                start: Ip::parse(p["start"].as_str()?)?,
                end: Ip::parse(p["end"].as_str()?)?,
            })
        })
        .collect()
}

fn pools_json(pools: &[Range]) -> Value {
    Value::Array(
        pools
            .iter()
            .map(|p| json!({"start": p.start.to_string(), "end": p.end.to_string()}))
            .collect(),
    )
}

/// Addresses of `subnet_id` held by ports.
pub(super) fn used_ips(st: &State, subnet_id: &str) -> BTreeSet<Ip> {
    st.ports
        .iter()
        .flat_map(fixed_ips)
        .filter(|f| f["subnet_id"].as_str() == Some(subnet_id))
        .filter_map(|f| f["ip_address"].as_str().and_then(Ip::parse))
        .collect()
}

/// The next free address of the subnet's pools (never its gateway, nor
/// one of `taken`).
pub(super) fn allocate(st: &State, subnet: &Record, taken: &[Ip]) -> Option<Ip> {
    let mut used = used_ips(st, s(subnet, "id"));
    used.extend(taken.iter().copied());
    if let Some(gw) = gateway_of(subnet) {
        used.insert(gw);
    }
    ipam::first_free(&pools_of(subnet), &used)
}

fn invalid(attr: &str, why: String) -> NeutronError {
    NeutronError::bad_request(format!("Invalid input for {attr}. Reason: {why}."))
}

fn pool_error(e: &PoolError, cidr: &Cidr, gateway: Option<Ip>) -> NeutronError {
    match *e {
        PoolError::Invalid(p) => NeutronError::new(
            axum::http::StatusCode::BAD_REQUEST,
            "InvalidAllocationPool",
            format!("The allocation pool {p} is not valid."),
        ),
        PoolError::OutOfBounds(p) => NeutronError::new(
            axum::http::StatusCode::BAD_REQUEST,
            "OutOfBoundsAllocationPool",
            format!("The allocation pool {p} spans beyond the subnet cidr {cidr}."),
        ),
        PoolError::Overlapping(a, b) => NeutronError::conflict(
            "OverlappingAllocationPools",
            format!("Found overlapping allocation pools: {a} {b} for subnet {cidr}."),
        ),
        PoolError::GatewayInPool(p) => NeutronError::conflict(
            "GatewayConflictWithAllocationPools",
            format!(
                "Gateway ip {} conflicts with allocation pool {p}.",
                gateway.map(|g| g.to_string()).unwrap_or_default()
            ),
        ),
    }
}

fn parse_pools(v: &Value) -> NResult<Vec<Range>> {
    let list = v.as_array().cloned().unwrap_or_default();
    let mut out = Vec::new();
    for p in &list {
        let (Some(start), Some(end)) = (p.get("start"), p.get("end")) else {
            return Err(invalid(
                "allocation_pools",
                format!("Invalid data format for IP pool: '{}'", py_str(p)),
            ));
        };
        let parse = |x: &Value| {
            x.as_str().and_then(Ip::parse).ok_or_else(|| {
                invalid(
                    "allocation_pools",
                    format!("'{}' is not a valid IP address", py_str(x)),
                )
            })
        };
        out.push(Range {
            start: parse(start)?,
            end: parse(end)?,
        });
    }
    Ok(out)
}

fn parse_gateway(v: &Value, cidr: &Cidr) -> NResult<Option<Ip>> {
    if v.is_null() {
        return Ok(None);
    }
    let gw = v.as_str().and_then(Ip::parse).ok_or_else(|| {
        invalid(
            "gateway_ip",
            format!("'{}' is not a valid IP address", py_str(v)),
        )
    })?;
    if gw.v6 != cidr.ip.v6 {
        return Err(NeutronError::invalid_input(&format!(
            "Gateway IP version inconsistent with allocation pool version ({gw})"
        )));
    }
    if cidr.contains(gw) && !cidr.accepts_host(gw, true) {
        return Err(NeutronError::invalid_input(
            "Gateway is not valid on subnet",
        ));
    }
    Ok(Some(gw))
}

fn check_nameservers(v: &Value) -> NResult<()> {
    let mut seen = BTreeSet::new();
    for ns in v.as_array().into_iter().flatten() {
        let text = py_str(ns);
        if ns.as_str().and_then(Ip::parse).is_none() {
            return Err(invalid(
                "dns_nameservers",
                format!("'{text}' is not a valid nameserver. '{text}' is not a valid IP address"),
            ));
        }
        if !seen.insert(text.clone()) {
            return Err(invalid(
                "dns_nameservers",
                format!("Duplicate nameserver '{text}'"),
            ));
        }
    }
    Ok(())
}

fn check_host_routes(v: &Value) -> NResult<()> {
    for route in v.as_array().into_iter().flatten() {
        let ok = route.as_object().is_some_and(|o| {
            o.len() == 2
                && o.get("destination")
                    .and_then(Value::as_str)
                    .and_then(Cidr::parse)
                    .is_some()
                && o.get("nexthop")
                    .and_then(Value::as_str)
                    .and_then(Ip::parse)
                    .is_some()
        });
        if !ok {
            return Err(invalid(
                "host_routes",
                format!("Invalid data format for hostroute: '{}'", py_str(route)),
            ));
        }
    }
    Ok(())
}

fn check_ipv6_mode(res: &Record, key: &str, version: i64) -> NResult<Value> {
    match res.get(key) {
        None | Some(Value::Null) => Ok(Value::Null),
        Some(v) => {
            let mode = v.as_str().unwrap_or_default();
            if !IPV6_MODES.contains(&mode) {
                return Err(invalid(
                    key,
                    format!(
                        "'{}' is not in ['dhcpv6-stateful', 'dhcpv6-stateless', 'slaac']",
                        py_str(v)
                    ),
                ));
            }
            if version != 6 {
                return Err(NeutronError::invalid_input(&format!(
                    "{key} set to '{mode}' with ip_version set to '{version}' is not valid. \
                     Modes and ip_version must match"
                )));
            }
            Ok(v.clone())
        }
    }
}

pub(super) fn create(st: &mut State, ctx: &Ctx, res: Record) -> NResult<String> {
    let net_id = s(&res, "network_id").to_string();
    let net = st
        .get(Kind::Network, &net_id)
        .ok_or_else(|| NeutronError::network_not_found(&net_id))?;
    if !ctx.is_admin && s(net, "project_id") != ctx.project_id {
        if st.can_see(ctx, Kind::Network, net) {
            return Err(NeutronError::policy("rule:create_subnet"));
        }
        return Err(NeutronError::http_not_found());
    }
    if let Some(pool) = res.get("subnetpool_id").and_then(Value::as_str) {
        return Err(NeutronError::not_found(
            "SubnetPoolNotFound",
            format!("Subnet pool {pool} could not be found."),
        ));
    }
    let version = res.get("ip_version").and_then(Value::as_i64).unwrap_or(0);
    if version != 4 && version != 6 {
        return Err(invalid("ip_version", format!("{version} is not in [4, 6]")));
    }
    let Some(cidr_v) = res.get("cidr").filter(|v| !v.is_null()) else {
        return Err(NeutronError::bad_resource_request(
            "subnets",
            "a subnetpool must be specified in the absence of a cidr",
        ));
    };
    let cidr_s = py_str(cidr_v);
    let cidr = Cidr::parse(&cidr_s)
        .filter(|_| cidr_s.contains('/'))
        .ok_or_else(|| invalid("cidr", format!("'{cidr_s}' is not a valid IP subnet")))?;
    if cidr.network() != cidr {
        return Err(invalid(
            "cidr",
            format!(
                "'{cidr_s}' isn't a recognized IP subnet cidr, '{}' is recommended",
                cidr.network()
            ),
        ));
    }
    if i64::from(cidr.ip.version()) != version {
        return Err(NeutronError::invalid_input(&format!(
            "Invalid CIDR {cidr} for IP version {version}"
        )));
    }
    if cidr.prefix == 0 {
        return Err(NeutronError::invalid_input(
            "0 is not allowed as CIDR prefix length",
        ));
    }
    let overlaps = st
        .subnets
        .iter()
        .filter(|sn| s(sn, "network_id") == net_id)
        .filter_map(cidr_of)
        .any(|other| other.overlaps(&cidr));
    if overlaps {
        return Err(NeutronError::invalid_input(&format!(
            "Requested subnet with cidr: {cidr} for network: {net_id} overlaps with another \
             subnet"
        )));
    }
    let gateway = match res.get("gateway_ip") {
        Some(v) => parse_gateway(v, &cidr)?,
        None => {
            let (lo, hi) = cidr.usable();
            (lo.value <= hi.value).then_some(lo)
        }
    };
    let pools = match res.get("allocation_pools") {
        Some(v) if !v.is_null() => {
            let pools = parse_pools(v)?;
            ipam::validate_pools(&cidr, &pools, gateway)
                .map_err(|e| pool_error(&e, &cidr, gateway))?;
            pools
        }
        _ => ipam::default_pools(&cidr, gateway),
    };
    let ra_mode = check_ipv6_mode(&res, "ipv6_ra_mode", version)?;
    let address_mode = check_ipv6_mode(&res, "ipv6_address_mode", version)?;
    for key in ["dns_nameservers", "host_routes"] {
        if let Some(v) = res.get(key) {
            if key == "dns_nameservers" {
                check_nameservers(v)?;
            } else {
                check_host_routes(v)?;
            }
        }
    }
    let mut r = new_record(s(&res, "project_id"));
    r.insert("name".into(), json!(""));
    r.insert("network_id".into(), json!(net_id));
    r.insert("ip_version".into(), json!(version));
    r.insert("cidr".into(), json!(cidr.to_string()));
    r.insert("gateway_ip".into(), json!(gateway.map(|g| g.to_string())));
    r.insert("allocation_pools".into(), pools_json(&pools));
    r.insert("dns_nameservers".into(), json!([]));
    r.insert("host_routes".into(), json!([]));
    r.insert("enable_dhcp".into(), json!(true));
    r.insert("ipv6_ra_mode".into(), ra_mode);
    r.insert("ipv6_address_mode".into(), address_mode);
    r.insert("subnetpool_id".into(), Value::Null);
    r.insert("service_types".into(), json!([]));
    r.insert("segment_id".into(), Value::Null);
    copy_keys(
        &mut r,
        &res,
        &[
            "name",
            "dns_nameservers",
            "host_routes",
            "enable_dhcp",
            "service_types",
            "description",
            "tags",
        ],
    );
    let id = s(&r, "id").to_string();
    let dhcp = r
        .get("enable_dhcp")
        .and_then(Value::as_bool)
        .unwrap_or(true);
    st.subnets.push(r);
    if let Some(n) = st.get_mut(Kind::Network, &net_id) {
        if let Some(list) = n.get_mut("subnets").and_then(Value::as_array_mut) {
            list.push(json!(id));
        }
        touch(n);
    }
    if dhcp {
        ensure_dhcp_port(st, ctx, &net_id, &id);
    }
    Ok(id)
}

/// The DHCP agent's port on the network, unless one exists already (the
/// agent then reuses it, e.g. one reserved by the gateway).
fn ensure_dhcp_port(st: &mut State, ctx: &Ctx, net_id: &str, subnet_id: &str) {
    let exists = st
        .ports
        .iter()
        .any(|p| s(p, "network_id") == net_id && s(p, "device_owner") == ports::OWNER_DHCP);
    if exists {
        return;
    }
    let Some(subnet) = st.get(Kind::Subnet, subnet_id) else {
        return;
    };
    let Some(ip) = allocate(st, subnet, &[]) else {
        return;
    };
    let project = st
        .get(Kind::Network, net_id)
        .map(|n| s(n, "project_id").to_string())
        .unwrap_or_default();
    // The agent's id: `dhcp<uuid of its host>-<network>`.
    let host_digest: [u8; 16] = md5::Md5::digest(ctx.host.as_bytes()).into();
    let device_id = format!(
        "dhcp{}-{net_id}",
        uuid::Builder::from_md5_bytes(host_digest).into_uuid()
    );
    let id = ports::insert_port(
        st,
        ctx,
        ports::NewPort {
            network_id: net_id.to_string(),
            project_id: project,
            device_owner: ports::OWNER_DHCP.into(),
            device_id,
            ips: vec![(subnet_id.to_string(), ip)],
        },
    );
    if let Some(p) = st.get_mut(Kind::Port, &id) {
        p.insert("binding:host_id".into(), json!(ctx.host));
        ports::refresh_binding(p);
    }
}

pub(super) fn update(st: &mut State, ctx: &Ctx, id: &str, res: Record) -> NResult<()> {
    let current = st
        .get(Kind::Subnet, id)
        .ok_or_else(|| Kind::Subnet.not_found(id))?;
    let cidr = cidr_of(current).ok_or_else(|| Kind::Subnet.not_found(id))?;
    let gateway = match res.get("gateway_ip") {
        Some(v) => parse_gateway(v, &cidr)?,
        None => gateway_of(current),
    };
    let pools = match res.get("allocation_pools") {
        Some(v) if !v.is_null() => parse_pools(v)?,
        _ => pools_of(current),
    };
    if res.contains_key("gateway_ip") || res.contains_key("allocation_pools") {
        ipam::validate_pools(&cidr, &pools, gateway).map_err(|e| pool_error(&e, &cidr, gateway))?;
    }
    if let Some(v) = res.get("dns_nameservers") {
        check_nameservers(v)?;
    }
    if let Some(v) = res.get("host_routes") {
        check_host_routes(v)?;
    }
    let net_id = s(current, "network_id").to_string();
    let Some(r) = st.get_mut(Kind::Subnet, id) else {
        return Err(Kind::Subnet.not_found(id));
    };
    copy_keys(
        r,
        &res,
        &[
            "name",
            "dns_nameservers",
            "host_routes",
            "enable_dhcp",
            "service_types",
            "description",
        ],
    );
    if res.contains_key("gateway_ip") {
        r.insert("gateway_ip".into(), json!(gateway.map(|g| g.to_string())));
    }
    if res.contains_key("allocation_pools") {
        r.insert("allocation_pools".into(), pools_json(&pools));
    }
    touch(r);
    if res.get("enable_dhcp") == Some(&json!(true)) {
        ensure_dhcp_port(st, ctx, &net_id, id);
    }
    Ok(())
}

/// Deletes the subnet unless a port other than DHCP holds an address on
/// it; DHCP ports lose their address there (and go when none is left).
///
/// The addresses of an IPv6 auto-address subnet (SLAAC, DHCPv6-stateless)
/// are dropped from every port, as Neutron does (no router ports here).
pub(super) fn delete(st: &mut State, id: &str) -> NResult<()> {
    let auto_address = st.get(Kind::Subnet, id).is_some_and(|sub| {
        ["ipv6_address_mode", "ipv6_ra_mode"]
            .iter()
            .any(|k| matches!(s(sub, k), "slaac" | "dhcpv6-stateless"))
    });
    let busy = !auto_address
        && st
            .ports_on_subnet(id)
            .any(|p| s(p, "device_owner") != ports::OWNER_DHCP);
    if busy {
        return Err(NeutronError::conflict(
            "SubnetInUse",
            format!(
                "Unable to complete operation on subnet {id}: One or more ports have an IP \
                 allocation from this subnet."
            ),
        ));
    }
    for p in st.ports.iter_mut() {
        if !auto_address && s(p, "device_owner") != ports::OWNER_DHCP {
            continue;
        }
        let before = fixed_ips(p);
        let kept: Vec<Value> = before
            .iter()
            .filter(|f| f["subnet_id"].as_str() != Some(id))
            .cloned()
            .collect();
        if kept.len() != before.len() {
            p.insert("fixed_ips".into(), Value::Array(kept));
            touch(p);
        }
    }
    st.ports
        .retain(|p| !(s(p, "device_owner") == ports::OWNER_DHCP && fixed_ips(p).is_empty()));
    let Some(subnet) = st.remove(Kind::Subnet, id) else {
        return Err(Kind::Subnet.not_found(id));
    };
    if let Some(n) = st.get_mut(Kind::Network, s(&subnet, "network_id")) {
        if let Some(list) = n.get_mut("subnets").and_then(Value::as_array_mut) {
            list.retain(|v| v.as_str() != Some(id));
        }
        touch(n);
    }
    Ok(())
}
