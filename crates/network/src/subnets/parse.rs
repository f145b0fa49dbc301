//! A subnet's attributes as the API gives them: addresses, pools,
//! gateway, DNS servers, host routes and IPv6 modes, checked as Neutron
//! checks them.

use std::net::IpAddr;

use ipnet::IpNet;
use serde_json::{json, Map, Value};

use super::{IPV6_MODES, MAX_DNS_NAMESERVERS, MAX_HOST_ROUTES};
use crate::attrs::{list, shown, string};
use crate::ipam::{self, Range};
use crate::{ErrorClass, NeutronError};

pub(super) fn ip_of_version(attr: &str, v: &Value, version: u8) -> Result<IpAddr, NeutronError> {
    let s = string(attr, v, 64)?;
    let ip = ipam::parse_ip(&s).ok_or_else(|| {
        NeutronError::invalid_attr(attr, format!("'{s}' is not a valid IP address"))
    })?;
    if ipam::version(ip) != version {
        return Err(NeutronError::invalid_input(format!(
            "{attr} '{s}' does not match the ip_version '{version}'"
        )));
    }
    Ok(ip)
}

/// A gateway: null (none) or an address inside the subnet that is not its
/// network or IPv4 broadcast address.
pub(super) fn parse_gateway(v: &Value, net: &IpNet) -> Result<Option<IpAddr>, NeutronError> {
    if v.is_null() {
        return Ok(None);
    }
    let v4 = ipam::net_version(net);
    let ip = ip_of_version("gateway_ip", v, v4)?;
    let (first, last) = ipam::bounds(net);
    let a = ipam::to_u128(ip);
    let is_edge = v4 == 4 && net.prefix_len() < 31 && (a == first || a == last);
    if !net.contains(&ip) || is_edge {
        return Err(NeutronError::invalid_input(
            "Gateway is not valid on subnet",
        ));
    }
    Ok(Some(ip))
}

pub(super) fn parse_pools(v: &Value, net: &IpNet) -> Result<Vec<Range>, NeutronError> {
    let version = ipam::net_version(net);
    let mut out = Vec::new();
    for p in list("allocation_pools", v)? {
        let Some(obj) = p.as_object() else {
            return Err(NeutronError::invalid_attr(
                "allocation_pools",
                format!("'{}' is not a dictionary", shown(p)),
            ));
        };
        if let Some(k) = obj.keys().find(|k| *k != "start" && *k != "end") {
            return Err(NeutronError::invalid_attr(
                "allocation_pools",
                format!("Unrecognized attribute(s) '{k}'"),
            ));
        }
        let get = |k: &str| -> Result<u128, NeutronError> {
            let v = obj.get(k).ok_or_else(|| {
                NeutronError::invalid_attr(
                    "allocation_pools",
                    format!("Validation of dictionary's keys failed. Expected keys: {{'start', 'end'}} Provided keys: {:?}", obj.keys().collect::<Vec<_>>()),
                )
            })?;
            Ok(ipam::to_u128(ip_of_version(
                "allocation_pools",
                v,
                version,
            )?))
        };
        out.push((get("start")?, get("end")?));
    }
    ipam::check_pools(net, &out)
        .map_err(|(kind, msg)| NeutronError::new(ErrorClass::BadRequest, kind, msg))?;
    Ok(out)
}

pub(super) fn check_gateway_out_of_pools(
    gateway: Option<IpAddr>,
    pools: &[Range],
    version: u8,
) -> Result<(), NeutronError> {
    let Some(g) = gateway else { return Ok(()) };
    let a = ipam::to_u128(g);
    if let Some((s, e)) = pools.iter().find(|(s, e)| (*s..=*e).contains(&a)) {
        return Err(NeutronError::conflict(
            "GatewayConflictWithAllocationPools",
            format!(
                "Gateway ip {g} conflicts with allocation pool {}-{}",
                ipam::from_u128(*s, version),
                ipam::from_u128(*e, version)
            ),
        ));
    }
    Ok(())
}

pub(super) fn parse_nameservers(v: &Value) -> Result<Vec<String>, NeutronError> {
    let mut out: Vec<String> = Vec::new();
    let items = list("dns_nameservers", v)?;
    if items.len() > MAX_DNS_NAMESERVERS {
        return Err(NeutronError::bad_request(format!(
            "Unable to complete operation for subnet. The number of DNS nameservers exceeds the limit {MAX_DNS_NAMESERVERS}."
        )));
    }
    for item in items {
        let s = string("dns_nameservers", item, 64)?;
        let ip = ipam::parse_ip(&s).ok_or_else(|| {
            NeutronError::invalid_attr(
                "dns_nameservers",
                format!("'{s}' is not a valid IP address"),
            )
        })?;
        let s = ip.to_string();
        if out.contains(&s) {
            return Err(NeutronError::invalid_attr(
                "dns_nameservers",
                format!("Duplicate nameserver '{s}'"),
            ));
        }
        out.push(s);
    }
    Ok(out)
}

pub(super) fn parse_host_routes(v: &Value, version: u8) -> Result<Vec<Value>, NeutronError> {
    let items = list("host_routes", v)?;
    if items.len() > MAX_HOST_ROUTES {
        return Err(NeutronError::bad_request(format!(
            "Unable to complete operation for subnet. The number of host routes exceeds the limit {MAX_HOST_ROUTES}."
        )));
    }
    let mut out: Vec<Value> = Vec::new();
    for item in items {
        let obj = item.as_object().ok_or_else(|| {
            NeutronError::invalid_attr(
                "host_routes",
                format!("'{}' is not a dictionary", shown(item)),
            )
        })?;
        if let Some(k) = obj.keys().find(|k| *k != "destination" && *k != "nexthop") {
            return Err(NeutronError::invalid_attr(
                "host_routes",
                format!("Unrecognized attribute(s) '{k}'"),
            ));
        }
        let dest = obj
            .get("destination")
            .map(|d| string("host_routes", d, 64))
            .transpose()?
            .and_then(|d| ipam::parse_prefix(&d).filter(|_| d.contains('/')))
            .ok_or_else(|| {
                NeutronError::invalid_attr("host_routes", "destination must be a valid CIDR")
            })?;
        let hop = obj
            .get("nexthop")
            .map(|d| string("host_routes", d, 64))
            .transpose()?
            .and_then(|h| ipam::parse_ip(&h))
            .ok_or_else(|| {
                NeutronError::invalid_attr("host_routes", "nexthop must be a valid IP address")
            })?;
        if ipam::net_version(&dest) != version || ipam::version(hop) != version {
            return Err(NeutronError::invalid_input(format!(
                "host route {dest} via {hop} does not match the ip_version '{version}'"
            )));
        }
        let route = json!({"destination": dest.to_string(), "nexthop": hop.to_string()});
        if out.contains(&route) {
            return Err(NeutronError::invalid_attr(
                "host_routes",
                format!("Duplicate hostroute '{dest} {hop}'"),
            ));
        }
        out.push(route);
    }
    Ok(out)
}

pub(super) fn ipv6_mode(map: &Map<String, Value>, k: &str) -> Result<Option<String>, NeutronError> {
    match map.get(k) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => {
            let s = string(k, v, 32)?;
            if !IPV6_MODES.contains(&s.as_str()) {
                return Err(NeutronError::invalid_attr(
                    k,
                    format!("'{s}' is not in {IPV6_MODES:?}"),
                ));
            }
            Ok(Some(s))
        }
    }
}

/// Neutron's rules on the IPv6 modes.
pub(super) fn check_ipv6_modes(
    version: u8,
    net: &IpNet,
    enable_dhcp: bool,
    ra: Option<&str>,
    addr: Option<&str>,
) -> Result<(), NeutronError> {
    if ra.is_none() && addr.is_none() {
        return Ok(());
    }
    if version == 4 {
        return Err(NeutronError::invalid_input(
            "ipv6_ra_mode or ipv6_address_mode cannot be set when ip_version is 4",
        ));
    }
    if !enable_dhcp {
        return Err(NeutronError::invalid_input(
            "Cannot disable enable_dhcp with ipv6 attributes set",
        ));
    }
    if let (Some(r), Some(a)) = (ra, addr) {
        if r != a {
            return Err(NeutronError::invalid_input(format!(
                "ipv6_ra_mode set to '{r}' with ipv6_address_mode set to '{a}' is not valid. If both attributes are set, they must be the same value"
            )));
        }
    }
    let auto = matches!(addr.or(ra), Some("slaac") | Some("dhcpv6-stateless"));
    if auto && net.prefix_len() != 64 {
        return Err(NeutronError::invalid_input(format!(
            "Invalid CIDR {net} for IPv6 address mode. OpenStack uses the EUI-64 address format, which requires the prefix to be /64"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> IpNet {
        ipam::parse_cidr(s).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn gateways() {
        let n = net("10.0.0.0/24");
        assert!(parse_gateway(&json!("10.0.0.1"), &n).is_ok());
        assert!(parse_gateway(&json!(null), &n).is_ok_and(|g| g.is_none()));
        for bad in ["10.0.0.0", "10.0.0.255", "10.0.1.1", "fe80::1", "x"] {
            assert!(parse_gateway(&json!(bad), &n).is_err(), "{bad}");
        }
    }

    #[test]
    fn ipv6_mode_rules() {
        let n = net("2001:db8::/64");
        assert!(check_ipv6_modes(6, &n, true, Some("slaac"), Some("slaac")).is_ok());
        assert!(check_ipv6_modes(6, &n, true, Some("slaac"), Some("dhcpv6-stateful")).is_err());
        assert!(check_ipv6_modes(6, &n, false, None, Some("slaac")).is_err());
        assert!(check_ipv6_modes(4, &net("10.0.0.0/24"), true, None, Some("slaac")).is_err());
        assert!(check_ipv6_modes(6, &net("2001:db8::/80"), true, None, Some("slaac")).is_err());
        assert!(check_ipv6_modes(
            6,
            &net("2001:db8::/80"),
            true,
            None,
            Some("dhcpv6-stateful")
        )
        .is_ok());
    }

    #[test]
    fn routes_and_nameservers() {
        assert!(parse_nameservers(&json!(["8.8.8.8", "8.8.8.8"])).is_err());
        assert!(parse_nameservers(&json!(["8.8.8.8", "1.1.1.1"])).is_ok());
        assert!(parse_nameservers(&json!(["x"])).is_err());
        assert!(parse_host_routes(
            &json!([{"destination": "10.1.0.0/16", "nexthop": "10.0.0.9"}]),
            4
        )
        .is_ok());
        assert!(parse_host_routes(
            &json!([{"destination": "10.1.0.0/16", "nexthop": "::1"}]),
            4
        )
        .is_err());
        assert!(parse_host_routes(&json!([{"destination": "10.1.0.0/16"}]), 4).is_err());
    }
}
