//! Floating IPs: an address on an external network (held by a
//! `network:floatingip` port), associated with a port's fixed IP when a
//! router with a gateway on that network has an interface on the fixed
//! IP's subnet.

use serde_json::{json, Value};

use super::error::{NResult, NeutronError};
use super::ipam::Ip;
use super::model::{b, copy_keys, fixed_ips, new_record, py_str, s, touch, Kind, Record, State};
use super::ports::{self, NewPort, OWNER_FLOATINGIP, OWNER_ROUTER_INTERFACE};
use super::Ctx;

fn bad(msg: &str) -> NeutronError {
    NeutronError::bad_resource_request("floatingip", msg)
}

/// Back to unassociated.
pub(super) fn disassociate(f: &mut Record) {
    f.insert("port_id".into(), Value::Null);
    f.insert("fixed_ip_address".into(), Value::Null);
    f.insert("router_id".into(), Value::Null);
    f.insert("port_details".into(), Value::Null);
    f.insert("status".into(), json!("DOWN"));
    touch(f);
}

pub(super) fn create(st: &mut State, ctx: &Ctx, res: Record) -> NResult<String> {
    let net_id = s(&res, "floating_network_id").to_string();
    let net = st
        .get(Kind::Network, &net_id)
        .filter(|n| st.can_see(ctx, Kind::Network, n))
        .ok_or_else(|| NeutronError::network_not_found(&net_id))?;
    if !b(net, "router:external") {
        return Err(bad(&format!(
            "Network {net_id} is not a valid external network"
        )));
    }
    let address = res
        .get("floating_ip_address")
        .and_then(Value::as_str)
        .map(str::to_string);
    if address.is_some() && !ctx.is_admin {
        return Err(NeutronError::policy(
            "(rule:create_floatingip and rule:create_floatingip:floating_ip_address)",
        ));
    }
    let v4_subnets: Vec<String> = st
        .subnets
        .iter()
        .filter(|sn| {
            s(sn, "network_id") == net_id && sn.get("ip_version").and_then(Value::as_i64) == Some(4)
        })
        .map(|sn| s(sn, "id").to_string())
        .collect();
    if v4_subnets.is_empty() {
        return Err(bad(&format!(
            "Network {net_id} does not contain any IPv4 subnet"
        )));
    }
    let mut wanted = serde_json::Map::new();
    if let Some(sid) = res.get("subnet_id").and_then(Value::as_str) {
        wanted.insert("subnet_id".into(), json!(sid));
    }
    if let Some(a) = &address {
        if Ip::parse(a).is_none() {
            return Err(NeutronError::bad_request(format!(
                "Invalid input for floating_ip_address. Reason: '{a}' is not a valid IP address."
            )));
        }
        wanted.insert("ip_address".into(), json!(a));
    }
    let ips = if wanted.is_empty() {
        let found = v4_subnets.iter().find_map(|sid| {
            let sn = st.get(Kind::Subnet, sid)?;
            super::subnets::allocate(st, sn, &[]).map(|ip| (sid.clone(), ip))
        });
        match found {
            Some(pair) => vec![pair],
            None => {
                return Err(NeutronError::conflict(
                    "IpAddressGenerationFailure",
                    format!("No more IP addresses available on network {net_id}."),
                ))
            }
        }
    } else {
        ports::resolve_fixed_ips(st, &net_id, &json!([wanted]), false)?
    };
    let floating = ips
        .first()
        .map(|(_, ip)| ip.to_string())
        .unwrap_or_default();
    let mut r = new_record(s(&res, "project_id"));
    let id = s(&r, "id").to_string();
    r.insert("floating_ip_address".into(), json!(floating));
    r.insert("floating_network_id".into(), json!(net_id));
    r.insert("router_id".into(), Value::Null);
    r.insert("port_id".into(), Value::Null);
    r.insert("fixed_ip_address".into(), Value::Null);
    r.insert("status".into(), json!("DOWN"));
    r.insert("port_details".into(), Value::Null);
    r.insert("port_forwardings".into(), json!([]));
    r.insert("qos_policy_id".into(), Value::Null);
    copy_keys(&mut r, &res, &["description", "tags"]);
    ports::insert_port(
        st,
        ctx,
        NewPort {
            network_id: net_id,
            project_id: String::new(),
            device_owner: OWNER_FLOATINGIP.into(),
            device_id: id.clone(),
            ips,
        },
    );
    st.floatingips.push(r);
    if let Some(port_id) = res.get("port_id").filter(|v| !v.is_null()) {
        let fixed = res.get("fixed_ip_address").and_then(Value::as_str);
        if let Err(e) = associate(st, ctx, &id, &py_str(port_id), fixed) {
            delete(st, &id)?;
            return Err(e);
        }
    }
    Ok(id)
}

/// Associates the floating IP with `port_id` (and one of its IPv4
/// addresses), through a router that joins the two.
fn associate(
    st: &mut State,
    ctx: &Ctx,
    fip_id: &str,
    port_id: &str,
    fixed: Option<&str>,
) -> NResult<()> {
    let fip = st
        .get(Kind::FloatingIp, fip_id)
        .ok_or_else(|| NeutronError::floating_ip_not_found(fip_id))?;
    let net_id = s(fip, "floating_network_id").to_string();
    let address = s(fip, "floating_ip_address").to_string();
    let fip_project = s(fip, "project_id").to_string();
    let port = st
        .get(Kind::Port, port_id)
        .filter(|p| ctx.is_admin || s(p, "project_id") == fip_project)
        .ok_or_else(|| NeutronError::port_not_found(port_id))?;
    let v4: Vec<(String, String)> = fixed_ips(port)
        .iter()
        .filter_map(|f| {
            let ip = f["ip_address"].as_str()?;
            let parsed = Ip::parse(ip)?;
            (!parsed.v6).then(|| {
                (
                    f["subnet_id"].as_str().unwrap_or_default().to_string(),
                    ip.to_string(),
                )
            })
        })
        .collect();
    let (subnet_id, fixed_ip) = match fixed {
        Some(want) => v4
            .iter()
            .find(|(_, ip)| ip == want)
            .cloned()
            .ok_or_else(|| bad(&format!("Port {port_id} does not have fixed ip {want}")))?,
        None => match v4.as_slice() {
            [one] => one.clone(),
            [] => return Err(bad(&format!("No IPv4 addresses found on port {port_id}"))),
            _ => {
                return Err(bad(&format!(
                    "Port {port_id} has multiple fixed IPv4 addresses.  Must provide a specific \
                     IPv4 address when assigning a floating IP"
                )))
            }
        },
    };
    let router_id = st
        .routers
        .iter()
        .find(|r| {
            let rid = s(r, "id");
            let gw_ok = r
                .get("external_gateway_info")
                .and_then(|g| g.get("network_id"))
                .and_then(Value::as_str)
                == Some(net_id.as_str());
            gw_ok
                && st.ports.iter().any(|p| {
                    s(p, "device_id") == rid
                        && s(p, "device_owner") == OWNER_ROUTER_INTERFACE
                        && fixed_ips(p)
                            .iter()
                            .any(|f| f["subnet_id"].as_str() == Some(subnet_id.as_str()))
                })
        })
        .map(|r| s(r, "id").to_string())
        .ok_or_else(|| {
            NeutronError::not_found(
                "ExternalGatewayForFloatingIPNotFound",
                format!(
                    "External network {net_id} is not reachable from subnet {subnet_id}.  \
                     Therefore, cannot associate Port {port_id} with a Floating IP."
                ),
            )
        })?;
    let taken = st.floatingips.iter().any(|f| {
        s(f, "id") != fip_id
            && s(f, "port_id") == port_id
            && s(f, "fixed_ip_address") == fixed_ip
            && s(f, "floating_network_id") == net_id
    });
    if taken {
        return Err(NeutronError::conflict(
            "FloatingIPPortAlreadyAssociated",
            format!(
                "Cannot associate floating IP {address} ({fip_id}) with port {port_id} using \
                 fixed IP {fixed_ip}, as that fixed IP already has a floating IP on external \
                 network {net_id}."
            ),
        ));
    }
    let details = json!({
        "name": s(port, "name"),
        "network_id": s(port, "network_id"),
        "mac_address": s(port, "mac_address"),
        "admin_state_up": b(port, "admin_state_up"),
        "status": s(port, "status"),
        "device_id": s(port, "device_id"),
        "device_owner": s(port, "device_owner"),
    });
    let Some(f) = st.get_mut(Kind::FloatingIp, fip_id) else {
        return Err(NeutronError::floating_ip_not_found(fip_id));
    };
    f.insert("port_id".into(), json!(port_id));
    f.insert("fixed_ip_address".into(), json!(fixed_ip));
    f.insert("router_id".into(), json!(router_id));
    f.insert("port_details".into(), details);
    f.insert("status".into(), json!("ACTIVE"));
    touch(f);
    Ok(())
}

pub(super) fn update(st: &mut State, ctx: &Ctx, id: &str, res: Record) -> NResult<()> {
    let current_port = st
        .get(Kind::FloatingIp, id)
        .map(|f| s(f, "port_id").to_string())
        .unwrap_or_default();
    match res.get("port_id") {
        Some(Value::Null) => {
            if let Some(f) = st.get_mut(Kind::FloatingIp, id) {
                disassociate(f);
            }
        }
        Some(p) => {
            let fixed = res.get("fixed_ip_address").and_then(Value::as_str);
            associate(st, ctx, id, &py_str(p), fixed)?;
        }
        None => {
            if let Some(fixed) = res.get("fixed_ip_address").and_then(Value::as_str) {
                if current_port.is_empty() {
                    return Err(bad(
                        "fixed_ip_address cannot be specified without a port_id",
                    ));
                }
                associate(st, ctx, id, &current_port, Some(fixed))?;
            }
        }
    }
    let Some(f) = st.get_mut(Kind::FloatingIp, id) else {
        return Err(Kind::FloatingIp.not_found(id));
    };
    copy_keys(f, &res, &["description"]);
    touch(f);
    Ok(())
}

pub(super) fn delete(st: &mut State, id: &str) -> NResult<()> {
    if st.remove(Kind::FloatingIp, id).is_none() {
        return Err(Kind::FloatingIp.not_found(id));
    }
    st.ports
        .retain(|p| !(s(p, "device_id") == id && s(p, "device_owner") == OWNER_FLOATINGIP));
    Ok(())
}
