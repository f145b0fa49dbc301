//! A port's attributes as the API gives them, checked and normalised as
//! Neutron does.

use std::net::IpAddr;

use serde_json::{json, Value};

use crate::attrs::{self, list, shown, string};
use crate::ipam;
use crate::NeutronError;

pub(super) const VNIC_TYPES: &[&str] = &[
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

pub(super) const MAX_ADDRESS_PAIRS: usize = 10;

/// A requested fixed IP: a subnet, an address, or both.
#[derive(Debug, Clone)]
pub(crate) struct IpRequest {
    pub(crate) subnet_id: Option<String>,
    pub(crate) ip: Option<IpAddr>,
}

/// Fixed IPs as a port's `fixed_ips` (or a router gateway's
/// `external_fixed_ips`, messages naming `name`) gives them.
pub(crate) fn parse_fixed_ips(
    name: &str,
    v: &Value,
    max: usize,
) -> Result<Vec<IpRequest>, NeutronError> {
    let items = list(name, v)?;
    if items.len() > max {
        return Err(NeutronError::invalid_input(
            "Exceeded maximum amount of fixed ips per port",
        ));
    }
    let mut out = Vec::new();
    for item in items {
        let obj = item.as_object().ok_or_else(|| {
            NeutronError::invalid_attr(name, format!("'{}' is not a dictionary", shown(item)))
        })?;
        if let Some(k) = obj.keys().find(|k| *k != "subnet_id" && *k != "ip_address") {
            return Err(NeutronError::invalid_attr(
                name,
                format!("Unrecognized attribute(s) '{k}'"),
            ));
        }
        let subnet_id = obj
            .get("subnet_id")
            .map(|s| attrs::uuid(name, s))
            .transpose()?;
        let ip = match obj.get("ip_address") {
            None => None,
            Some(v) => {
                let s = string(name, v, 64)?;
                Some(ipam::parse_ip(&s).ok_or_else(|| {
                    NeutronError::invalid_attr(name, format!("'{s}' is not a valid IP address"))
                })?)
            }
        };
        if subnet_id.is_none() && ip.is_none() {
            return Err(NeutronError::invalid_attr(
                name,
                "each fixed IP needs a subnet_id, an ip_address or both",
            ));
        }
        out.push(IpRequest { subnet_id, ip });
    }
    Ok(out)
}

pub(super) fn parse_mac(v: &Value) -> Result<String, NeutronError> {
    let s = string("mac_address", v, 32)?;
    ipam::parse_mac(&s)
        .map(|m| ipam::format_mac(&m))
        .ok_or_else(|| {
            NeutronError::invalid_attr("mac_address", format!("'{s}' is not a valid MAC address"))
        })
}

pub(super) fn parse_pairs(v: &Value) -> Result<Vec<Value>, NeutronError> {
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
pub(super) fn fill_pair_macs(pairs: &[Value], mac: &str) -> Value {
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

pub(super) fn parse_dhcp_opts(v: &Value) -> Result<Value, NeutronError> {
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

pub(super) fn parse_vnic(v: &Value) -> Result<String, NeutronError> {
    let s = string("binding:vnic_type", v, 64)?;
    if !VNIC_TYPES.contains(&s.as_str()) {
        return Err(NeutronError::invalid_attr(
            "binding:vnic_type",
            format!("'{s}' is not in {VNIC_TYPES:?}"),
        ));
    }
    Ok(s)
}

pub(super) fn parse_profile(v: &Value) -> Result<Value, NeutronError> {
    match v {
        Value::Object(_) => Ok(v.clone()),
        Value::Null => Ok(json!({})),
        other => Err(NeutronError::invalid_attr(
            "binding:profile",
            format!("'{}' is not a dictionary", shown(other)),
        )),
    }
}
