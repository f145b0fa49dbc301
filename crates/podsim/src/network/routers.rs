//! Routers: the external gateway (a `network:router_gateway` port on an
//! external network), interfaces (`network:router_interface` ports that
//! take the subnet's gateway IP) and extra routes, whose next hops must
//! be reachable through the router's own subnets.

use serde_json::{json, Map, Value};

use super::error::{NResult, NeutronError};
use super::ipam::{Cidr, Ip};
use super::model::{b, copy_keys, fixed_ips, new_record, py_str, s, touch, Kind, Record, State};
use super::ports::{self, NewPort, OWNER_ROUTER_GATEWAY, OWNER_ROUTER_INTERFACE};
use super::{networks, subnets, Ctx};

fn bad(msg: &str) -> NeutronError {
    NeutronError::bad_resource_request("router", msg)
}

/// The router's ports of `owner`.
fn router_ports<'a>(st: &'a State, router_id: &'a str, owner: &'a str) -> Vec<&'a Record> {
    st.ports
        .iter()
        .filter(|p| s(p, "device_id") == router_id && s(p, "device_owner") == owner)
        .collect()
}

/// `(subnet_id, cidr)` of every subnet the router has an interface on.
fn interface_subnets(st: &State, router_id: &str) -> Vec<(String, Cidr)> {
    router_ports(st, router_id, OWNER_ROUTER_INTERFACE)
        .into_iter()
        .flat_map(fixed_ips)
        .filter_map(|f| {
            let sid = f["subnet_id"].as_str()?.to_string();
            let cidr = subnets::cidr_of(st.get(Kind::Subnet, &sid)?)?;
            Some((sid, cidr))
        })
        .collect()
}

pub(super) fn create(st: &mut State, ctx: &Ctx, res: Record) -> NResult<String> {
    let hints = networks::check_az_hints(ctx, res.get("availability_zone_hints"))?;
    let mut r = new_record(s(&res, "project_id"));
    r.insert("name".into(), json!(""));
    r.insert("admin_state_up".into(), json!(true));
    r.insert("status".into(), json!("ACTIVE"));
    r.insert("external_gateway_info".into(), Value::Null);
    r.insert("routes".into(), json!([]));
    r.insert("distributed".into(), json!(false));
    r.insert("ha".into(), json!(false));
    r.insert("availability_zone_hints".into(), hints);
    r.insert("availability_zones".into(), json!([ctx.az]));
    r.insert("flavor_id".into(), Value::Null);
    copy_keys(
        &mut r,
        &res,
        &[
            "name",
            "admin_state_up",
            "distributed",
            "ha",
            "flavor_id",
            "description",
            "tags",
        ],
    );
    let id = s(&r, "id").to_string();
    st.routers.push(r);
    if let Some(info) = res.get("external_gateway_info") {
        if let Err(e) = set_gateway(st, ctx, &id, info) {
            st.remove(Kind::Router, &id);
            return Err(e);
        }
    }
    Ok(id)
}

/// Sets, changes or (with `null` / `{}`) clears the router's gateway.
fn set_gateway(st: &mut State, ctx: &Ctx, router_id: &str, info: &Value) -> NResult<()> {
    let empty = info.is_null() || info.as_object().is_some_and(Map::is_empty);
    let current_net = st
        .get(Kind::Router, router_id)
        .and_then(|r| r.get("external_gateway_info"))
        .and_then(|g| g.get("network_id"))
        .and_then(Value::as_str)
        .map(str::to_string);
    let fips_in_use = |st: &State, net: &str| {
        st.floatingips
            .iter()
            .any(|f| s(f, "router_id") == router_id && s(f, "floating_network_id") == net)
    };
    if empty {
        if let Some(net) = &current_net {
            if fips_in_use(st, net) {
                return Err(gateway_in_use(router_id, net));
            }
        }
        st.ports.retain(|p| {
            !(s(p, "device_id") == router_id && s(p, "device_owner") == OWNER_ROUTER_GATEWAY)
        });
        if let Some(r) = st.get_mut(Kind::Router, router_id) {
            r.insert("external_gateway_info".into(), Value::Null);
            touch(r);
        }
        return Ok(());
    }
    let Some(obj) = info.as_object() else {
        return Err(NeutronError::bad_request(format!(
            "Invalid input for external_gateway_info. Reason: '{}' is not a dictionary.",
            py_str(info)
        )));
    };
    if let Some(k) = obj.keys().find(|k| {
        !matches!(
            k.as_str(),
            "network_id" | "enable_snat" | "external_fixed_ips"
        )
    }) {
        return Err(NeutronError::bad_request(format!(
            "Invalid input for external_gateway_info. Reason: Unexpected keys supplied: {k}."
        )));
    }
    let Some(net_id) = obj.get("network_id").and_then(Value::as_str) else {
        return Err(NeutronError::bad_request(
            "Invalid input for external_gateway_info. Reason: Validation of dictionary's keys \
             failed. Expected keys: {'network_id'}.",
        ));
    };
    for key in ["enable_snat", "external_fixed_ips"] {
        if obj.contains_key(key) && !ctx.is_admin {
            return Err(NeutronError::policy(&format!(
                "(rule:update_router and rule:update_router:external_gateway_info:{key})"
            )));
        }
    }
    let net = st
        .get(Kind::Network, net_id)
        .ok_or_else(|| NeutronError::network_not_found(net_id))?;
    if !b(net, "router:external") {
        return Err(bad(&format!("Network {net_id} is not an external network")));
    }
    let enable_snat = match obj.get("enable_snat") {
        Some(v) => super::body::to_bool(v)?,
        None => true,
    };
    let same_net = current_net.as_deref() == Some(net_id);
    if !same_net {
        if let Some(old) = &current_net {
            if fips_in_use(st, old) {
                return Err(gateway_in_use(router_id, old));
            }
        }
    }
    let existing: Option<Record> = router_ports(st, router_id, OWNER_ROUTER_GATEWAY)
        .first()
        .map(|p| (*p).clone());
    let keep_port = same_net && !obj.contains_key("external_fixed_ips") && existing.is_some();
    if !keep_port {
        let mut without = st.clone();
        without.ports.retain(|p| {
            !(s(p, "device_id") == router_id && s(p, "device_owner") == OWNER_ROUTER_GATEWAY)
        });
        let ips = match obj.get("external_fixed_ips") {
            Some(v) => ports::resolve_fixed_ips(&without, net_id, v, true)?,
            None => ports::auto_ips(&without, net_id)?,
        };
        *st = without;
        let port_id = ports::insert_port(
            st,
            ctx,
            NewPort {
                network_id: net_id.to_string(),
                project_id: String::new(),
                device_owner: OWNER_ROUTER_GATEWAY.into(),
                device_id: router_id.to_string(),
                ips,
            },
        );
        if let Some(p) = st.get_mut(Kind::Port, &port_id) {
            p.insert("binding:host_id".into(), json!(ctx.host));
            ports::refresh_binding(p);
        }
    }
    let external_ips: Vec<Value> = router_ports(st, router_id, OWNER_ROUTER_GATEWAY)
        .into_iter()
        .flat_map(fixed_ips)
        .collect();
    if let Some(r) = st.get_mut(Kind::Router, router_id) {
        r.insert(
            "external_gateway_info".into(),
            json!({"network_id": net_id, "enable_snat": enable_snat,
                   "external_fixed_ips": external_ips}),
        );
        touch(r);
    }
    Ok(())
}

fn gateway_in_use(router_id: &str, net: &str) -> NeutronError {
    NeutronError::conflict(
        "RouterExternalGatewayInUseByFloatingIp",
        format!(
            "Gateway cannot be updated for router {router_id}, since a gateway to external \
             network {net} is required by one or more floating IPs."
        ),
    )
}

/// Python's repr of the routes list, for `InvalidRoutes`.
fn routes_repr(routes: &[Value]) -> String {
    let items: Vec<String> = routes
        .iter()
        .map(|r| {
            format!(
                "{{'destination': '{}', 'nexthop': '{}'}}",
                r["destination"].as_str().unwrap_or_default(),
                r["nexthop"].as_str().unwrap_or_default()
            )
        })
        .collect();
    format!("[{}]", items.join(", "))
}

fn check_routes(st: &State, router_id: &str, routes: &Value) -> NResult<Value> {
    let list = routes.as_array().cloned().unwrap_or_default();
    let mut out: Vec<Value> = Vec::new();
    for route in &list {
        let dest = route
            .get("destination")
            .and_then(Value::as_str)
            .and_then(Cidr::parse);
        let hop = route
            .get("nexthop")
            .and_then(Value::as_str)
            .and_then(Ip::parse);
        let keys_ok = route.as_object().is_some_and(|o| o.len() == 2);
        let (Some(dest), Some(hop), true) = (dest, hop, keys_ok) else {
            return Err(NeutronError::bad_request(format!(
                "Invalid input for routes. Reason: Invalid data format for hostroute: '{}'.",
                py_str(route)
            )));
        };
        let normalized = json!({"destination": dest.network().to_string(),
                                "nexthop": hop.to_string()});
        if !out.contains(&normalized) {
            out.push(normalized);
        }
    }
    let mut cidrs: Vec<Cidr> = interface_subnets(st, router_id)
        .into_iter()
        .map(|(_, c)| c)
        .collect();
    let own_ips: Vec<Ip> = st
        .ports
        .iter()
        .filter(|p| s(p, "device_id") == router_id)
        .flat_map(fixed_ips)
        .filter_map(|f| {
            let sid = f["subnet_id"].as_str()?;
            if let Some(c) = st.get(Kind::Subnet, sid).and_then(subnets::cidr_of) {
                cidrs.push(c);
            }
            f["ip_address"].as_str().and_then(Ip::parse)
        })
        .collect();
    for route in &out {
        let hop = route["nexthop"].as_str().and_then(Ip::parse);
        let Some(hop) = hop else { continue };
        let reason = if own_ips.contains(&hop) {
            Some("the nexthop is used by router")
        } else if !cidrs.iter().any(|c| c.contains(hop)) {
            Some("the nexthop is not connected with router")
        } else {
            None
        };
        if let Some(reason) = reason {
            return Err(NeutronError::new(
                axum::http::StatusCode::BAD_REQUEST,
                "InvalidRoutes",
                format!(
                    "Invalid format for routes: {}, {reason}.",
                    routes_repr(&list)
                ),
            ));
        }
    }
    Ok(Value::Array(out))
}

pub(super) fn update(st: &mut State, ctx: &Ctx, id: &str, res: Record) -> NResult<()> {
    if let Some(info) = res.get("external_gateway_info") {
        set_gateway(st, ctx, id, info)?;
    }
    let routes = match res.get("routes") {
        Some(v) => Some(check_routes(st, id, v)?),
        None => None,
    };
    let Some(r) = st.get_mut(Kind::Router, id) else {
        return Err(Kind::Router.not_found(id));
    };
    if let Some(routes) = routes {
        r.insert("routes".into(), routes);
    }
    copy_keys(
        r,
        &res,
        &["name", "admin_state_up", "distributed", "ha", "description"],
    );
    touch(r);
    Ok(())
}

pub(super) fn delete(st: &mut State, id: &str) -> NResult<()> {
    if !router_ports(st, id, OWNER_ROUTER_INTERFACE).is_empty() {
        return Err(NeutronError::conflict(
            "RouterInUse",
            format!("Router {id} still has ports"),
        ));
    }
    if let Some(f) = st.floatingips.iter().find(|f| s(f, "router_id") == id) {
        return Err(gateway_in_use(id, s(f, "floating_network_id")));
    }
    st.ports
        .retain(|p| !(s(p, "device_id") == id && s(p, "device_owner") == OWNER_ROUTER_GATEWAY));
    st.remove(Kind::Router, id);
    Ok(())
}

/// Fails when a subnet the router already has (or one overlapping it)
/// is added again.
fn check_new_interface(st: &State, router_id: &str, subnet: &Record) -> NResult<()> {
    let sid = s(subnet, "id");
    let Some(cidr) = subnets::cidr_of(subnet) else {
        return Ok(());
    };
    for (other, other_cidr) in interface_subnets(st, router_id) {
        if other == sid {
            return Err(bad(&format!("Router already has a port on subnet {sid}")));
        }
        if other_cidr.overlaps(&cidr) {
            return Err(bad(&format!(
                "Cidr {cidr} of subnet {sid} overlaps with cidr {other_cidr} of subnet {other}"
            )));
        }
    }
    Ok(())
}

/// `PUT /routers/{id}/add_router_interface` and `remove_router_interface`.
pub(super) fn interface(
    st: &mut State,
    ctx: &Ctx,
    router_id: &str,
    add: bool,
    body: &Value,
) -> NResult<Value> {
    let router = st.visible(ctx, Kind::Router, router_id)?;
    let action = if add {
        "add_router_interface"
    } else {
        "remove_router_interface"
    };
    if !ctx.is_admin && s(router, "project_id") != ctx.project_id {
        return Err(NeutronError::policy(&format!("rule:{action}")));
    }
    let project = s(router, "project_id").to_string();
    let Some(info) = body.as_object() else {
        return Err(bad("Either subnet_id or port_id must be specified"));
    };
    let port_id = info.get("port_id").map(py_str);
    let subnet_id = info.get("subnet_id").map(py_str);
    if port_id.is_none() && subnet_id.is_none() {
        return Err(bad("Either subnet_id or port_id must be specified"));
    }
    for id in port_id.iter().chain(subnet_id.iter()) {
        if uuid::Uuid::parse_str(id).is_err() {
            return Err(bad(&format!("'{id}' is not a valid UUID")));
        }
    }
    let (port_id, subnet_ids) = if add {
        if port_id.is_some() && subnet_id.is_some() {
            return Err(bad("Cannot specify both subnet-id and port-id"));
        }
        add_interface(st, ctx, router_id, port_id, subnet_id)?
    } else {
        remove_interface(st, router_id, port_id, subnet_id)?
    };
    let network_id = subnet_ids
        .first()
        .and_then(|sid| st.get(Kind::Subnet, sid))
        .map(|sn| s(sn, "network_id").to_string())
        .unwrap_or_default();
    if let Some(r) = st.get_mut(Kind::Router, router_id) {
        touch(r);
    }
    Ok(json!({
        "id": router_id,
        "tenant_id": project,
        "project_id": project,
        "port_id": port_id,
        "network_id": network_id,
        "subnet_id": subnet_ids.first(),
        "subnet_ids": subnet_ids,
    }))
}

fn add_interface(
    st: &mut State,
    ctx: &Ctx,
    router_id: &str,
    port_id: Option<String>,
    subnet_id: Option<String>,
) -> NResult<(String, Vec<String>)> {
    if let Some(pid) = port_id {
        let port = st.visible(ctx, Kind::Port, &pid)?;
        if !s(port, "device_id").is_empty() || !s(port, "device_owner").is_empty() {
            return Err(NeutronError::conflict(
                "PortInUse",
                format!(
                    "Unable to complete operation on port {pid} for network {}. Port already \
                     has an attached device {}.",
                    s(port, "network_id"),
                    s(port, "device_id")
                ),
            ));
        }
        let ips = fixed_ips(port);
        if ips.is_empty() {
            return Err(bad("Router port must have at least one fixed IP"));
        }
        let subnet_ids: Vec<String> = ips
            .iter()
            .filter_map(|f| f["subnet_id"].as_str().map(str::to_string))
            .collect();
        for sid in &subnet_ids {
            if let Some(sn) = st.get(Kind::Subnet, sid) {
                check_new_interface(st, router_id, sn)?;
            }
        }
        if let Some(p) = st.get_mut(Kind::Port, &pid) {
            p.insert("device_id".into(), json!(router_id));
            p.insert("device_owner".into(), json!(OWNER_ROUTER_INTERFACE));
            p.insert("status".into(), json!("ACTIVE"));
            touch(p);
        }
        return Ok((pid, subnet_ids));
    }
    let sid = subnet_id.unwrap_or_default();
    let subnet = st.visible(ctx, Kind::Subnet, &sid)?;
    let Some(gateway) = subnet.get("gateway_ip").and_then(Value::as_str) else {
        return Err(bad("Subnet for router interface must have a gateway IP"));
    };
    check_new_interface(st, router_id, subnet)?;
    let net_id = s(subnet, "network_id").to_string();
    let owner_project = s(subnet, "project_id").to_string();
    let wanted = json!([{"subnet_id": sid, "ip_address": gateway}]);
    let ips = ports::resolve_fixed_ips(st, &net_id, &wanted, true)?;
    let pid = ports::insert_port(
        st,
        ctx,
        NewPort {
            network_id: net_id,
            project_id: owner_project,
            device_owner: OWNER_ROUTER_INTERFACE.into(),
            device_id: router_id.to_string(),
            ips,
        },
    );
    Ok((pid, vec![sid]))
}

fn remove_interface(
    st: &mut State,
    router_id: &str,
    port_id: Option<String>,
    subnet_id: Option<String>,
) -> NResult<(String, Vec<String>)> {
    let interfaces: Vec<Record> = router_ports(st, router_id, OWNER_ROUTER_INTERFACE)
        .into_iter()
        .cloned()
        .collect();
    let (port, removed): (Record, Vec<String>) = match (port_id, subnet_id) {
        (Some(pid), sub) => {
            let Some(p) = interfaces.iter().find(|p| s(p, "id") == pid) else {
                return Err(NeutronError::not_found(
                    "RouterInterfaceNotFound",
                    format!("Router {router_id} does not have an interface with id {pid}"),
                ));
            };
            let subs: Vec<String> = fixed_ips(p)
                .iter()
                .filter_map(|f| f["subnet_id"].as_str().map(str::to_string))
                .collect();
            if let Some(sid) = sub {
                if !subs.contains(&sid) {
                    return Err(NeutronError::new(
                        axum::http::StatusCode::BAD_REQUEST,
                        "SubnetMismatchForPort",
                        format!("Subnet on port {pid} does not match the requested subnet {sid}."),
                    ));
                }
            }
            (p.clone(), subs)
        }
        (None, Some(sid)) => {
            if st.get(Kind::Subnet, &sid).is_none() {
                return Err(NeutronError::subnet_not_found(&sid));
            }
            let found = interfaces.iter().find(|p| {
                fixed_ips(p)
                    .iter()
                    .any(|f| f["subnet_id"].as_str() == Some(sid.as_str()))
            });
            let Some(p) = found else {
                return Err(NeutronError::not_found(
                    "RouterInterfaceNotFoundForSubnet",
                    format!("Router {router_id} has no interface on subnet {sid}"),
                ));
            };
            (p.clone(), vec![sid])
        }
        (None, None) => return Err(bad("Either subnet_id or port_id must be specified")),
    };
    for sid in &removed {
        let Some(cidr) = st.get(Kind::Subnet, sid).and_then(subnets::cidr_of) else {
            continue;
        };
        let routes_need_it = st
            .get(Kind::Router, router_id)
            .and_then(|r| r.get("routes"))
            .and_then(Value::as_array)
            .is_some_and(|routes| {
                routes.iter().any(|rt| {
                    rt["nexthop"]
                        .as_str()
                        .and_then(Ip::parse)
                        .is_some_and(|h| cidr.contains(h))
                })
            });
        if routes_need_it {
            return Err(NeutronError::conflict(
                "RouterInterfaceInUseByRoute",
                format!(
                    "Router interface for subnet {sid} on router {router_id} cannot be deleted, \
                     as it is required by one or more routes."
                ),
            ));
        }
        let fips_need_it = st.floatingips.iter().any(|f| {
            s(f, "router_id") == router_id
                && f.get("fixed_ip_address")
                    .and_then(Value::as_str)
                    .and_then(Ip::parse)
                    .is_some_and(|ip| cidr.contains(ip))
        });
        if fips_need_it {
            return Err(NeutronError::conflict(
                "RouterInterfaceInUseByFloatingIP",
                format!(
                    "Router interface for subnet {sid} on router {router_id} cannot be deleted, \
                     as it is required by one or more floating IPs."
                ),
            ));
        }
    }
    let pid = s(&port, "id").to_string();
    let remaining: Vec<Value> = fixed_ips(&port)
        .into_iter()
        .filter(|f| {
            !removed
                .iter()
                .any(|sid| f["subnet_id"].as_str() == Some(sid.as_str()))
        })
        .collect();
    if remaining.is_empty() {
        st.remove(Kind::Port, &pid);
    } else if let Some(p) = st.get_mut(Kind::Port, &pid) {
        p.insert("fixed_ips".into(), Value::Array(remaining));
        touch(p);
    }
    Ok((pid, removed))
}
