//! Booting on networks (BEHAVIOUR §4, §6.2): each requested network or port
//! of a boot becomes a top port (top IPAM) whose copy, with its network,
//! subnets and security groups, is made in the chosen pod; the pod's Nova
//! then boots on the bottom ports only.

use serde_json::{json, Value};
use tricircle_network::bottom::{Bottom, BottomError};
use tricircle_network::{NeutronError, Scope};
use tricircle_store::{Pod, ServerPort};

use crate::error::ApiError;

/// One entry of a boot's `networks`.
#[derive(Debug, Clone, PartialEq)]
pub enum Nic {
    Network {
        id: String,
        fixed_ip: Option<String>,
        tag: Option<Value>,
    },
    Port {
        id: String,
        tag: Option<Value>,
    },
}

/// The top ports of a boot, made ready in its pod.
#[derive(Debug, Default)]
pub struct Prepared {
    /// The `networks` the pod's Nova gets: `[{"port": <bottom id>}]`.
    pub nics: Vec<Value>,
    /// Top port ids, and whether this boot created them.
    pub ports: Vec<(String, bool)>,
}

fn bad(msg: impl Into<String>) -> ApiError {
    ApiError::bad_request(msg)
}

/// The requested networks, or `None` for `"none"`, `"auto"` or no
/// `networks` (those go to the pod as they are).
pub fn parse(networks: Option<&Value>) -> Result<Option<Vec<Nic>>, ApiError> {
    let items = match networks {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(s)) if s == "none" || s == "auto" => return Ok(None),
        Some(Value::Array(items)) => items,
        Some(other) => {
            return Err(bad(format!(
                "Invalid input for field/attribute networks. Value: {other}. {other} is not of type 'array'"
            )))
        }
    };
    if items.is_empty() {
        return Ok(None);
    }
    let mut nics = Vec::new();
    for item in items {
        let Some(obj) = item.as_object() else {
            return Err(bad(format!(
                "Invalid input for field/attribute networks. Value: {item}. {item} is not of type 'object'"
            )));
        };
        if let Some(k) = obj
            .keys()
            .find(|k| !matches!(k.as_str(), "uuid" | "port" | "fixed_ip" | "tag"))
        {
            return Err(bad(format!(
                "Invalid input for field/attribute networks. Additional properties are not allowed ('{k}' was unexpected)"
            )));
        }
        let text = |key: &str| -> Result<Option<String>, ApiError> {
            match obj.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(v) => Err(bad(format!(
                    "Invalid input for field/attribute {key}. Value: {v}. {v} is not of type 'string'"
                ))),
            }
        };
        let tag = obj.get("tag").cloned();
        if let Some(Value::String(t)) = &tag {
            if t.is_empty() || t.len() > 60 || t.contains('/') || t.contains(',') {
                return Err(bad(format!(
                    "Invalid input for field/attribute tag. Value: {t}."
                )));
            }
        }
        let fixed_ip = text("fixed_ip")?;
        if let Some(ip) = &fixed_ip {
            if ip.parse::<std::net::IpAddr>().is_err() {
                return Err(bad(format!("Invalid fixed IP address ({ip})")));
            }
        }
        match (text("port")?, text("uuid")?) {
            (Some(port), _) => {
                if uuid::Uuid::parse_str(&port).is_err() {
                    return Err(bad(format!("Port id {port} could not be found.")));
                }
                if fixed_ip.is_some() {
                    return Err(bad(
                        "Bad network format: a fixed_ip cannot be requested with a port.",
                    ));
                }
                nics.push(Nic::Port { id: port, tag });
            }
            (None, Some(id)) => {
                if uuid::Uuid::parse_str(&id).is_err() {
                    return Err(bad(format!(
                        "Bad networks format: network uuid is not in proper format ({id})"
                    )));
                }
                nics.push(Nic::Network { id, fixed_ip, tag });
            }
            (None, None) => {
                return Err(bad(
                    "Bad networks format: each network needs a uuid or a port.",
                ))
            }
        }
    }
    let mut ports: Vec<&str> = nics
        .iter()
        .filter_map(|n| match n {
            Nic::Port { id, .. } => Some(id.as_str()),
            Nic::Network { .. } => None,
        })
        .collect();
    ports.sort_unstable();
    if let Some(w) = ports.windows(2).find(|w| w[0] == w[1]) {
        return Err(ApiError::conflict(format!(
            "Port {} is still in use.",
            w[0]
        )));
    }
    Ok(Some(nics))
}

fn scope(ctx: &crate::auth::Context) -> Scope {
    Scope {
        project_id: ctx.project_id.clone(),
        user_id: ctx.user_id.clone(),
        is_admin: ctx.is_admin(),
    }
}

fn admin(project_id: &str) -> Scope {
    Scope {
        project_id: project_id.to_string(),
        user_id: String::new(),
        is_admin: true,
    }
}

/// A top Neutron error as Nova would report it.
fn nova_error(e: NeutronError) -> ApiError {
    match e.status {
        404 => ApiError::bad_request(e.message),
        409 => ApiError::conflict(e.message),
        s if s < 500 => ApiError::bad_request(e.message),
        _ => {
            tracing::error!(error = ?e, "top network service failed");
            ApiError::internal()
        }
    }
}

pub fn bottom_error(e: BottomError) -> ApiError {
    match e {
        BottomError::Top(e) => nova_error(e),
        BottomError::Conflict(m) | BottomError::Gone(m) => ApiError::conflict(m),
        BottomError::Unavailable { pod, detail } => {
            tracing::warn!(%pod, %detail, "pod unavailable while preparing networks");
            ApiError::new(
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                format!("Pod {pod} is unavailable."),
            )
        }
        BottomError::Refused {
            pod,
            what,
            status,
            message,
        } => {
            tracing::warn!(%pod, %what, status, %message, "pod refused a network resource");
            match axum::http::StatusCode::from_u16(status) {
                // The pod's own client errors are the caller's to see, as
                // the pod said them. Our service user's token refused, or a
                // pod failing: the service is unavailable, not the request
                // wrong.
                Ok(s) if s.is_client_error() && s != axum::http::StatusCode::UNAUTHORIZED => {
                    ApiError::new(s, format!("Pod {pod} refused {what}: {message}"))
                }
                _ => ApiError::new(
                    axum::http::StatusCode::SERVICE_UNAVAILABLE,
                    format!("Pod {pod} is unavailable: {what} failed with HTTP {status}."),
                ),
            }
        }
        BottomError::Store(e) => e.into(),
    }
}

/// The top network of a nic, as the caller may see it.
async fn network_of(bottom: &Bottom, sc: &Scope, nic: &Nic) -> Result<Value, ApiError> {
    let net_id = match nic {
        Nic::Network { id, .. } => id.clone(),
        Nic::Port { id, .. } => {
            let port = bottom
                .neutron()
                .get_port(sc, id)
                .await
                .map_err(|_| bad(format!("Port id {id} could not be found.")))?;
            port.get("network_id")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        }
    };
    bottom
        .neutron()
        .get_network(sc, &net_id)
        .await
        .map_err(|_| bad(format!("Network {net_id} could not be found.")))
}

fn hints(net: &Value) -> Vec<String> {
    net.get("availability_zone_hints")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect()
}

/// Where a boot without an AZ should go given its networks: the AZ of the
/// pod already holding a local network, else the first AZ hint.
pub async fn preferred_az(
    bottom: &Bottom,
    ctx: &crate::auth::Context,
    nics: &[Nic],
) -> Result<Option<String>, ApiError> {
    let sc = scope(ctx);
    for nic in nics {
        let net = network_of(bottom, &sc, nic).await?;
        let id = net.get("id").and_then(Value::as_str).unwrap_or("");
        let full = bottom
            .neutron()
            .get_network(&admin(&ctx.project_id), id)
            .await
            .map_err(nova_error)?;
        let local = matches!(
            full.get("provider:network_type").and_then(Value::as_str),
            None | Some("local")
        );
        if local {
            let copies = bottom.copies(id, "network").await.map_err(bottom_error)?;
            if let Some((pod, _)) = copies.first() {
                return Ok(Some(pod.az_name.clone()));
            }
        }
        if let Some(first) = hints(&net).into_iter().next() {
            return Ok(Some(first));
        }
    }
    Ok(None)
}

/// Checks every requested network against the pod (AZ hints, subnets) and
/// prepares its port in the pod. On failure, what this boot created is
/// undone before the error is returned.
pub async fn prepare(
    bottom: &Bottom,
    ctx: &crate::auth::Context,
    pod: &Pod,
    nics: &[Nic],
    security_groups: &[String],
) -> Result<Prepared, ApiError> {
    let mut prepared = Prepared::default();
    match prepare_inner(bottom, ctx, pod, nics, security_groups, &mut prepared).await {
        Ok(()) => Ok(prepared),
        Err(e) => {
            undo(bottom, &prepared).await;
            Err(e)
        }
    }
}

async fn prepare_inner(
    bottom: &Bottom,
    ctx: &crate::auth::Context,
    pod: &Pod,
    nics: &[Nic],
    security_groups: &[String],
    prepared: &mut Prepared,
) -> Result<(), ApiError> {
    let sc = scope(ctx);
    // Check everything before creating anything.
    for nic in nics {
        let net = network_of(bottom, &sc, nic).await?;
        let net_id = net.get("id").and_then(Value::as_str).unwrap_or("");
        let hints = hints(&net);
        if !hints.is_empty() && !hints.contains(&pod.az_name) {
            return Err(bad(format!(
                "Network {net_id} is not available in availability zone {}; its availability_zone_hints are {}.",
                pod.az_name,
                hints.join(", ")
            )));
        }
        let subnets = net
            .get("subnets")
            .and_then(Value::as_array)
            .map(|s| s.len())
            .unwrap_or(0);
        if subnets == 0 {
            return Err(bad(format!(
                "Network {net_id} requires a subnet in order to boot instances on."
            )));
        }
        if let Nic::Port { id, .. } = nic {
            let port = bottom
                .neutron()
                .get_port(&sc, id)
                .await
                .map_err(nova_error)?;
            if port
                .get("device_id")
                .and_then(Value::as_str)
                .is_some_and(|d| !d.is_empty())
            {
                return Err(ApiError::conflict(format!("Port {id} is still in use.")));
            }
        }
    }
    let mut group_ids = Vec::new();
    for name in security_groups {
        group_ids.push(security_group_id(bottom, &sc, name).await?);
    }
    for nic in nics {
        let (port_id, tag) = match nic {
            Nic::Port { id, tag } => {
                prepared.ports.push((id.clone(), false));
                (id.clone(), tag)
            }
            Nic::Network { id, fixed_ip, tag } => {
                let mut body = json!({"network_id": id, "project_id": ctx.project_id});
                if let Some(ip) = fixed_ip {
                    body["fixed_ips"] = json!([{"ip_address": ip}]);
                }
                if !group_ids.is_empty() {
                    body["security_groups"] = json!(group_ids);
                }
                let port = bottom
                    .neutron()
                    .create_port(&sc, body)
                    .await
                    .map_err(nova_error)?;
                let port_id = port
                    .get("id")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string();
                prepared.ports.push((port_id.clone(), true));
                (port_id, tag)
            }
        };
        let automatic = matches!(nic, Nic::Network { fixed_ip: None, .. });
        let (_, bottom_port) =
            prepare_rechoosing(bottom, &sc, pod, port_id, automatic, prepared).await?;
        let mut nic = json!({"port": bottom_port});
        if let Some(t) = tag.as_ref().filter(|t| !t.is_null()) {
            nic["tag"] = t.clone();
        }
        prepared.nics.push(nic);
    }
    Ok(())
}

/// How many other addresses a boot tries when the pod refuses the ones the
/// top chose for it.
const RECHOICES: usize = 3;

/// Whether the pod refused a port copy for an address (IP or MAC) it still
/// gives to another port.
fn address_refused(e: &BottomError) -> bool {
    matches!(e, BottomError::Refused { status: 409, what, message, .. }
        if what.contains("port")
            && (message.contains("already allocated") || message.contains("mac address")))
}

/// Prepares the port's copy in the pod. The top holds a deleted port's
/// addresses until the pod let them go, but a pod may still hold an address
/// the top believes free (a port made in the pod behind the top's back, a
/// hold an operator dropped): an address the caller asked for is then the
/// caller's conflict (409, as Neutron answers it), one the top chose
/// automatically is chosen again — a new top port (the refused one keeps
/// its addresses meanwhile, so the top chooses others), the refused ports
/// deleted. Returns the top port used and its bottom id.
async fn prepare_rechoosing(
    bottom: &Bottom,
    sc: &Scope,
    pod: &Pod,
    port_id: String,
    automatic: bool,
    prepared: &mut Prepared,
) -> Result<(String, String), ApiError> {
    let mut port_id = port_id;
    let mut refused: Vec<String> = Vec::new();
    let mut tries = 0;
    let outcome = loop {
        match bottom.prepare_port(pod, &port_id).await {
            Ok(b) => break Ok(b),
            Err(e) if automatic && tries < RECHOICES && address_refused(&e) => {
                tries += 1;
                tracing::info!(pod = %pod.pod_name, port = %port_id, error = %e,
                    "the pod holds an address the top chose: choosing again");
                let old = bottom
                    .neutron()
                    .get_port(&admin(&sc.project_id), &port_id)
                    .await
                    .map_err(nova_error)?;
                let mut body =
                    json!({"network_id": old["network_id"], "project_id": old["project_id"]});
                if let Some(g) = old
                    .get("security_groups")
                    .filter(|g| g.as_array().is_some_and(|a| !a.is_empty()))
                {
                    body["security_groups"] = g.clone();
                }
                let port = bottom
                    .neutron()
                    .create_port(sc, body)
                    .await
                    .map_err(nova_error)?;
                refused.push(std::mem::replace(
                    &mut port_id,
                    port.get("id")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string(),
                ));
                // The new port is this boot's from now on.
                if let Some(p) = prepared.ports.last_mut() {
                    p.0 = port_id.clone();
                }
            }
            Err(e) => break Err(bottom_error(e)),
        }
    };
    for id in refused {
        if let Err(e) = delete_port_everywhere(bottom, &id).await {
            tracing::warn!(port = %id, error = %e, "could not delete a port the pod refused");
        }
    }
    outcome.map(|b| (port_id, b))
}

/// A security group named in a boot, by id or by name in the project.
async fn security_group_id(bottom: &Bottom, sc: &Scope, name: &str) -> Result<String, ApiError> {
    if name == "default" {
        let g = bottom
            .neutron()
            .default_security_group(&sc.project_id)
            .await
            .map_err(nova_error)?;
        return Ok(g
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string());
    }
    if let Ok(g) = bottom.neutron().get_security_group(sc, name).await {
        return Ok(g
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string());
    }
    match bottom
        .neutron()
        .find_security_group_by_name(sc, name)
        .await
        .map_err(nova_error)?
    {
        Some(g) => Ok(g
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()),
        None => Err(bad(format!(
            "Security group {name} not found for project {}.",
            sc.project_id
        ))),
    }
}

/// `addSecurityGroup` / `removeSecurityGroup` on a server with top ports,
/// as Nova does it against Neutron: the caller's project's group `name` (a
/// name or an id) added to, or removed from, every top port of the server;
/// the pod's copies follow at once (and by the ports' update jobs, should a
/// pod be away). `Ok(false)`: the server has no top ports (booted without
/// networks, or with `auto`), so the pod's Nova is the one to ask.
pub async fn change_group(
    bottom: &Bottom,
    ctx: &crate::auth::Context,
    server_id: &str,
    name: &str,
    add: bool,
) -> Result<bool, ApiError> {
    let ports = bottom
        .neutron()
        .store()
        .server_ports(server_id)
        .await
        .map_err(|e| bottom_error(e.into()))?;
    if ports.is_empty() {
        return Ok(false);
    }
    let sc = scope(ctx);
    let not_found = || {
        ApiError::not_found(format!(
            "Security group {name} is not found for project {}",
            sc.project_id
        ))
    };
    let group = match bottom.neutron().get_security_group(&sc, name).await {
        Ok(g) => g,
        Err(_) if name == "default" => bottom
            .neutron()
            .default_security_group(&sc.project_id)
            .await
            .map_err(nova_error)?,
        Err(_) => match bottom
            .neutron()
            .find_security_group_by_name(&sc, name)
            .await
        {
            Ok(Some(g)) => g,
            Ok(None) => return Err(not_found()),
            Err(e) if e.status == 409 => return Err(ApiError::conflict(e.message)),
            Err(e) => return Err(nova_error(e)),
        },
    };
    let group_id = group.get("id").and_then(Value::as_str).unwrap_or("");
    let mut changes = Vec::new();
    for p in &ports {
        let sc = admin(&p.project_id);
        let port = match bottom.neutron().get_port(&sc, &p.port_id).await {
            Ok(port) => port,
            Err(e) if e.status == 404 => continue,
            Err(e) => return Err(nova_error(e)),
        };
        let mut groups: Vec<String> = port
            .get("security_groups")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect();
        let has = groups.iter().any(|g| g == group_id);
        if add {
            let secured = port
                .get("port_security_enabled")
                .and_then(Value::as_bool)
                .unwrap_or(true);
            let addressed = port
                .get("fixed_ips")
                .and_then(Value::as_array)
                .is_some_and(|a| !a.is_empty());
            if !secured || !addressed {
                return Err(bad(
                    "Network requires port_security_enabled and subnet associated in order to apply security groups.",
                ));
            }
            if !has {
                groups.push(group_id.to_string());
                changes.push((sc, p.port_id.clone(), groups));
            }
        } else if has {
            groups.retain(|g| g != group_id);
            changes.push((sc, p.port_id.clone(), groups));
        }
    }
    if !add && changes.is_empty() {
        return Err(ApiError::not_found(format!(
            "Security group {name} not associated with the instance {server_id}"
        )));
    }
    for (sc, port_id, groups) in changes {
        bottom
            .neutron()
            .update_port(&sc, &port_id, json!({ "security_groups": groups }))
            .await
            .map_err(nova_error)?;
        // The view the caller reads next comes from the pod's ports.
        if let Err(e) = bottom.sync_port(&port_id).await {
            tracing::warn!(port_id = %port_id, error = %e,
                "the pod's copy of the port keeps its old groups until the port's update job runs");
        }
    }
    Ok(true)
}

/// The boot succeeded: the top ports now belong to the server.
pub async fn bind(
    bottom: &Bottom,
    ctx: &crate::auth::Context,
    pod: &Pod,
    server_id: &str,
    prepared: &Prepared,
) -> Result<(), ApiError> {
    let owner = format!("compute:{}", pod.az_name);
    for (port_id, _) in &prepared.ports {
        bottom
            .neutron()
            .update_port(
                &admin(&ctx.project_id),
                port_id,
                json!({"device_id": server_id, "device_owner": owner}),
            )
            .await
            .map_err(nova_error)?;
    }
    let rows: Vec<ServerPort> = prepared
        .ports
        .iter()
        .map(|(port_id, created)| ServerPort {
            server_id: server_id.to_string(),
            port_id: port_id.clone(),
            project_id: ctx.project_id.clone(),
            created_by_boot: *created,
        })
        .collect();
    bottom.neutron().store().add_server_ports(&rows).await?;
    Ok(())
}

/// Undoes a boot's network preparation: the ports it created go, at the
/// top and in the pod. Best effort; failures are logged and left to the
/// operator's view of the routings.
pub async fn undo(bottom: &Bottom, prepared: &Prepared) {
    for (port_id, created) in &prepared.ports {
        if !created {
            continue;
        }
        if let Err(e) = delete_port_everywhere(bottom, port_id).await {
            tracing::warn!(%port_id, error = %e, "could not delete a port of a failed boot");
        }
    }
}

/// Deletes a port a boot made: its copies in the pods, then the top port
/// (one already gone is fine). Both are tried; the first failure is
/// returned. Copies left behind keep their routings, so a second run finds
/// them.
pub async fn delete_port_everywhere(bottom: &Bottom, port_id: &str) -> Result<(), String> {
    let copies = bottom
        .delete_copies(port_id, "port")
        .await
        .map_err(|e| format!("its copies: {e}"));
    let top = match bottom.neutron().delete_port(&admin(""), port_id).await {
        Ok(()) => Ok(()),
        Err(e) if e.status == 404 => Ok(()),
        Err(e) => Err(format!("the top port: {}", e.message)),
    };
    copies.and(top)
}

/// The server is gone: the ports its boot created go too (their copies
/// through the port-delete job), ports the user gave are unbound and kept.
pub async fn release(bottom: &Bottom, server_id: &str) {
    let ports = match bottom.neutron().store().server_ports(server_id).await {
        Ok(p) => p,
        Err(e) => {
            tracing::error!(%server_id, error = %e, "could not read the server's ports");
            return;
        }
    };
    for p in ports {
        let sc = admin(&p.project_id);
        let outcome = if p.created_by_boot {
            bottom.neutron().delete_port(&sc, &p.port_id).await
        } else {
            bottom
                .neutron()
                .update_port(
                    &sc,
                    &p.port_id,
                    json!({"device_id": "", "device_owner": ""}),
                )
                .await
                .map(|_| ())
        };
        match outcome {
            Ok(()) => {}
            Err(e) if e.status == 404 => {}
            Err(e) => {
                tracing::warn!(port_id = %p.port_id, error = ?e, "could not release a server port");
                continue;
            }
        }
        if let Err(e) = bottom
            .neutron()
            .store()
            .remove_server_port(server_id, &p.port_id)
            .await
        {
            tracing::warn!(error = %e, "could not forget a server port");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NET: &str = "3f1c8c3e-6d0c-4a59-9e44-1b2a6f3c9d10";
    const PORT: &str = "8a1c8c3e-6d0c-4a59-9e44-1b2a6f3c9d10";

    #[test]
    fn none_auto_and_empty_go_to_the_pod_as_they_are() {
        assert_eq!(parse(None).unwrap(), None);
        assert_eq!(parse(Some(&json!("none"))).unwrap(), None);
        assert_eq!(parse(Some(&json!("auto"))).unwrap(), None);
        assert_eq!(parse(Some(&json!([]))).unwrap(), None);
    }

    #[test]
    fn networks_and_ports_are_read() {
        let nics = parse(Some(&json!([
            {"uuid": NET, "fixed_ip": "10.0.0.5", "tag": "a"},
            {"port": PORT}
        ])))
        .unwrap()
        .unwrap();
        assert_eq!(
            nics,
            vec![
                Nic::Network {
                    id: NET.into(),
                    fixed_ip: Some("10.0.0.5".into()),
                    tag: Some(json!("a"))
                },
                Nic::Port {
                    id: PORT.into(),
                    tag: None
                }
            ]
        );
    }

    #[test]
    fn bad_networks_are_400_and_duplicate_ports_409() {
        for bad in [
            json!("all"),
            json!([1]),
            json!([{"uuid": "not-a-uuid"}]),
            json!([{"uuid": NET, "fixed_ip": "10.0.0.300"}]),
            json!([{"port": PORT, "fixed_ip": "10.0.0.3"}]),
            json!([{"fixed_ip": "10.0.0.3"}]),
            json!([{"uuid": NET, "color": "red"}]),
            json!([{"uuid": 5}]),
        ] {
            let e = parse(Some(&bad)).unwrap_err();
            assert_eq!(e.status.as_u16(), 400, "{bad}");
        }
        let e = parse(Some(&json!([{"port": PORT}, {"port": PORT}]))).unwrap_err();
        assert_eq!(e.status.as_u16(), 409);
    }
}
