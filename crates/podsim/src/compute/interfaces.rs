//! The server's side of networking: Nova's errors for what Neutron
//! refused, the network info cache refresh behind `addresses`, and
//! `os-interface` (list, show, attach, detach).

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};

use super::ctx::{additional_message, check_keys, field_error, is_uuid_like, Ctx, NBody, P};
use super::error::{NResult, NovaError};
use super::model::Server;
use super::servers::{find, find_mut};
use crate::image::schema::py_repr;
use crate::network::{Device, NicRequest, Vif, VifError};
use crate::pod::Pod;

/// The status `POST /servers` answers for a network problem (Nova's
/// exception → fault map in `servers.py`).
pub(crate) fn boot_error(e: VifError) -> NovaError {
    match e {
        VifError::PortInUse(_)
        | VifError::NetworkAmbiguous
        | VifError::SecurityGroupNotUnique(_) => NovaError::conflict(message(&e)),
        VifError::ExternalNetworkAttachForbidden(_) => NovaError::forbidden(message(&e)),
        _ => NovaError::bad_request(message(&e)),
    }
}

/// The status `POST /servers/{id}/os-interface` answers.
fn attach_error(e: VifError) -> NovaError {
    match e {
        VifError::PortNotFound(_) | VifError::NetworkNotFound(_) => {
            NovaError::not_found(message(&e))
        }
        VifError::PortInUse(_) | VifError::FixedIpInUse { .. } => NovaError::conflict(message(&e)),
        VifError::ExternalNetworkAttachForbidden(_) => NovaError::forbidden(message(&e)),
        _ => NovaError::bad_request(message(&e)),
    }
}

/// Nova's message for each exception.
fn message(e: &VifError) -> String {
    match e {
        VifError::PortNotFound(id) => format!("Port id {id} could not be found."),
        VifError::PortInUse(id) => format!("Port {id} is still in use."),
        VifError::PortRequiresFixedIp(id) => {
            format!("Port {id} requires a FixedIP in order to be used.")
        }
        VifError::NetworkNotFound(id) => format!("Network {id} could not be found."),
        VifError::NetworkRequiresSubnet(id) => {
            format!("Network {id} requires a subnet in order to boot instances on.")
        }
        VifError::FixedIpInUse {
            address,
            device: Some(d),
        } => format!("Fixed IP address {address} is already in use on instance {d}."),
        VifError::FixedIpInUse {
            address,
            device: None,
        } => format!("Fixed IP {address} is already in use."),
        VifError::InvalidFixedIp { address, network } => format!(
            "Invalid input received: Fixed IP {address} is not a valid ip address for network \
             {network}."
        ),
        VifError::NoMoreFixedIps(net) => {
            format!("No fixed IP addresses available for network: {net}")
        }
        VifError::NetworkAmbiguous => {
            "Multiple possible networks found, use a Network ID to be more specific.".into()
        }
        VifError::UnableToAutoAllocate(p) => {
            format!("Unable to automatically allocate a network for project {p}")
        }
        VifError::NoNetworkToAttach(p) => {
            format!("No specific network was requested and none are available for project '{p}'.")
        }
        VifError::ExternalNetworkAttachForbidden(id) => {
            format!("It is not allowed to create an interface on external network {id}")
        }
        VifError::SecurityGroupNotFound(n) => {
            format!("Unable to find security_group with name or id '{n}'")
        }
        VifError::SecurityGroupNotUnique(n) => format!(
            "Multiple security_group matches found for name '{n}', use an ID to be more specific."
        ),
        VifError::Neutron(m) => m.clone(),
    }
}

/// The ports of a new server: `Device` of `s` in this pod.
pub(crate) fn device<'a>(ctx: &'a Ctx, s: &'a Server) -> Device<'a> {
    Device {
        project_id: &s.project_id,
        is_admin: ctx.is_admin(),
        server_id: &s.id,
        az: &s.availability_zone,
        host: &s.host,
    }
}

/// Brings the servers' network info caches up to date with Neutron.
/// Called on copies, outside the compute lock.
pub(crate) fn refresh(pod: &Pod, servers: &mut [Server]) {
    for s in servers.iter_mut().filter(|s| !s.nics.is_empty()) {
        s.nics = pod.network().refresh_vifs(&s.id, &s.nics);
        // Nova shows the groups the ports have, whatever the boot asked.
        s.security_groups = pod.network().security_group_names(&s.id, &s.nics);
    }
}

/// A server the caller may see, with a fresh network info cache.
pub(crate) fn server_with_nics(pod: &Pod, ctx: &Ctx, id: &str) -> NResult<Server> {
    let mut s = pod.compute().with(|st| find(st, ctx, id).cloned())?;
    refresh(pod, std::slice::from_mut(&mut s));
    Ok(s)
}

// ------------------------------------------------------------ os-interface

/// `_translate_interface_attachment_view`.
fn attachment_view(ctx: &Ctx, port: &Value, tag: Option<&str>) -> Value {
    let mut v = json!({
        "net_id": port["network_id"],
        "port_id": port["id"],
        "mac_addr": port["mac_address"],
        "port_state": port["status"],
        "fixed_ips": port["fixed_ips"],
    });
    if ctx.at_least(70) {
        v["tag"] = json!(tag);
    }
    v
}

fn tag_of(s: &Server, port_id: &str) -> Option<String> {
    s.nics
        .iter()
        .find(|v| v.port_id == port_id)
        .and_then(|v| v.tag.clone())
}

/// `GET /servers/{id}/os-interface`: the ports whose device is the server.
pub(crate) async fn index(State(pod): State<Pod>, ctx: Ctx, p: P) -> NResult<Json<Value>> {
    let s = pod
        .compute()
        .with(|st| find(st, &ctx, p.get("server_id")).cloned())?;
    let list: Vec<Value> = pod
        .network()
        .ports_of_device(&s.id)
        .iter()
        .map(|port| {
            let id = port["id"].as_str().unwrap_or_default();
            attachment_view(&ctx, port, tag_of(&s, id).as_deref())
        })
        .collect();
    Ok(Json(json!({"interfaceAttachments": list})))
}

/// `GET /servers/{id}/os-interface/{port_id}`.
pub(crate) async fn show(State(pod): State<Pod>, ctx: Ctx, p: P) -> NResult<Json<Value>> {
    let s = pod
        .compute()
        .with(|st| find(st, &ctx, p.get("server_id")).cloned())?;
    let port_id = p.get("port_id");
    show_port(&pod, &ctx, &s, port_id).map(Json)
}

fn show_port(pod: &Pod, ctx: &Ctx, s: &Server, port_id: &str) -> NResult<Value> {
    let port = pod
        .network()
        .visible_port(ctx.project(), ctx.is_admin(), port_id)
        .map(Value::Object)
        .ok_or_else(|| NovaError::not_found(message(&VifError::PortNotFound(port_id.into()))))?;
    if port["device_id"] != s.id.as_str() {
        return Err(NovaError::not_found(format!(
            "Instance {} does not have a port with id {port_id}",
            s.id
        )));
    }
    Ok(json!({"interfaceAttachment": attachment_view(ctx, &port, tag_of(s, port_id).as_deref())}))
}

/// vm states `attach_interface` and `detach_interface` accept.
const INTERFACE_STATES: [&str; 3] = ["active", "paused", "stopped"];

/// Lock and state checks of both interface calls.
fn check_state(ctx: &Ctx, s: &Server, action: &str) -> NResult<()> {
    if s.is_locked() && !ctx.is_admin() {
        return Err(NovaError::locked(&s.id));
    }
    if !INTERFACE_STATES.contains(&s.vm_state) {
        return Err(NovaError::invalid_state(
            action, &s.id, "vm_state", s.vm_state,
        ));
    }
    if let Some(t) = s.task_state {
        return Err(NovaError::invalid_state(action, &s.id, "task_state", t));
    }
    Ok(())
}

/// The `interfaceAttachment` of an attach body: `(net_id, port_id,
/// fixed ip, tag)`.
type AttachRequest = (
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
);

fn parse_attach(ctx: &Ctx, body: &Value) -> NResult<AttachRequest> {
    let Some(top) = body.as_object() else {
        return Ok((None, None, None, None));
    };
    let extra: Vec<&str> = top
        .keys()
        .map(String::as_str)
        .filter(|k| *k != "interfaceAttachment")
        .collect();
    if !extra.is_empty() {
        return Err(NovaError::bad_request(additional_message(&extra)));
    }
    let Some(att) = top.get("interfaceAttachment") else {
        return Ok((None, None, None, None));
    };
    let Some(att) = att.as_object() else {
        return Err(field_error(
            "interfaceAttachment",
            att,
            &format!("{} is not of type 'object'", py_repr(att)),
        ));
    };
    let mut allowed = vec!["net_id", "port_id", "fixed_ips"];
    if ctx.at_least(49) {
        allowed.push("tag");
    }
    check_keys("interfaceAttachment", att, &allowed, &[])?;
    let uuid = |key: &str| -> NResult<Option<String>> {
        match att.get(key) {
            None => Ok(None),
            Some(Value::String(v)) if is_uuid_like(v) => Ok(Some(v.clone())),
            Some(other) => Err(field_error(
                key,
                other,
                &format!("{} is not a 'uuid'", py_repr(other)),
            )),
        }
    };
    let net_id = uuid("net_id")?;
    let port_id = uuid("port_id")?;
    let ip = match att.get("fixed_ips") {
        None => None,
        Some(v) => {
            let entry = v
                .as_array()
                .filter(|a| a.len() == 1)
                .and_then(|a| a[0].as_object());
            let ip = entry
                .and_then(|e| e.get("ip_address"))
                .and_then(Value::as_str)
                .filter(|ip| ip.parse::<std::net::IpAddr>().is_ok());
            match ip {
                Some(ip) => Some(ip.to_string()),
                None => {
                    return Err(field_error(
                        "fixed_ips",
                        v,
                        &format!("{} is not valid under any of the given schemas", py_repr(v)),
                    ))
                }
            }
        }
    };
    let tag = att.get("tag").and_then(Value::as_str).map(str::to_string);
    Ok((net_id, port_id, ip, tag))
}

/// `POST /servers/{id}/os-interface`: binds a port, or makes one on a
/// network (or on the project's only network).
pub(crate) async fn create(
    State(pod): State<Pod>,
    ctx: Ctx,
    p: P,
    NBody(body): NBody,
) -> NResult<Json<Value>> {
    let id = p.get("server_id").to_string();
    let (net_id, port_id, ip, tag) = parse_attach(&ctx, &body)?;
    if net_id.is_some() && port_id.is_some() {
        return Err(NovaError::bad_request(
            "Must not input both network_id and port_id",
        ));
    }
    if ip.is_some() && net_id.is_none() {
        return Err(NovaError::bad_request(
            "Must input network_id when request IP address",
        ));
    }
    let s = pod.compute().with(|st| -> NResult<Server> {
        let s = find(st, &ctx, &id)?;
        check_state(&ctx, s, "attach_interface")?;
        Ok(s.clone())
    })?;
    let net = pod.network();
    let nic = match (port_id, net_id) {
        (Some(port), _) => NicRequest::Port { id: port, tag },
        (None, Some(net_id)) => NicRequest::Network {
            id: net_id,
            fixed_ip: ip,
            tag,
        },
        (None, None) => NicRequest::Network {
            id: net.network_to_attach(&s.project_id).map_err(attach_error)?,
            fixed_ip: None,
            tag,
        },
    };
    let nics = net
        .plan_nics(&s.project_id, ctx.is_admin(), Some(&[nic]), false)
        .map_err(attach_error)?;
    let groups =
        security_groups_for_ports(&pod, &s.project_id, &s.security_groups).map_err(attach_error)?;
    let vifs = net
        .allocate(&device(&ctx, &s), &nics, &groups)
        .map_err(attach_error)?;
    let stored = pod.compute().with(|st| -> bool {
        match find_mut(st, &ctx, &id) {
            Ok(srv) if srv.task_state != Some("deleting") => {
                srv.nics.extend(vifs.iter().cloned());
                srv.record("attach_interface", ctx.user(), ctx.project());
                true
            }
            _ => false,
        }
    });
    if !stored {
        // Deleted meanwhile: give the ports back.
        net.release(&id, &vifs);
        return Err(NovaError::instance_not_found(&id));
    }
    let Some(vif) = vifs.first() else {
        return Err(NovaError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("Failed to attach network adapter device to {id}"),
        ));
    };
    let s = server_with_nics(&pod, &ctx, &id)?;
    show_port(&pod, &ctx, &s, &vif.port_id).map(Json)
}

/// `DELETE /servers/{id}/os-interface/{port_id}`: the port goes if Nova
/// made it, else it is unbound.
pub(crate) async fn delete(State(pod): State<Pod>, ctx: Ctx, p: P) -> NResult<StatusCode> {
    let id = p.get("server_id").to_string();
    let port_id = p.get("port_id").to_string();
    let vif = pod.compute().with(|st| -> NResult<Vif> {
        let s = find_mut(st, &ctx, &id)?;
        check_state(&ctx, s, "detach_interface")?;
        let Some(pos) = s.nics.iter().position(|v| v.port_id == port_id) else {
            return Err(NovaError::not_found(message(&VifError::PortNotFound(
                port_id.clone(),
            ))));
        };
        let vif = s.nics.remove(pos);
        s.record("detach_interface", ctx.user(), ctx.project());
        Ok(vif)
    })?;
    pod.network().release(&id, &[vif]);
    Ok(StatusCode::ACCEPTED)
}

/// The security group ids ports Nova makes get (`_clean_security_groups`:
/// `default` alone means none, Neutron applies it).
pub(crate) fn security_groups_for_ports(
    pod: &Pod,
    project: &str,
    names: &[String],
) -> Result<Vec<String>, VifError> {
    if names.is_empty() || names == ["default"] {
        return Ok(Vec::new());
    }
    pod.network().security_group_ids(project, names)
}
