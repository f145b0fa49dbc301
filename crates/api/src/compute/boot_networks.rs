//! Booting on networks, the HTTP side: a boot's `networks` parsed into
//! the network domain's [`Nic`]s, the caller's context made a [`Scope`],
//! and the server–port lifecycle's errors
//! (`tricircle_network::bottom::server_ports`) reported as Nova reports
//! them.

use axum::http::StatusCode;
use serde_json::Value;
use tricircle_network::bottom::server_ports::ServerPortError;
use tricircle_network::bottom::{Bottom, BottomError};
use tricircle_network::{NeutronError, Scope};
use tricircle_store::Pod;

pub use tricircle_network::bottom::server_ports::{Nic, Prepared};

use crate::error::ApiError;

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

/// A top Neutron error as Nova would report it: a conflict stays one; a
/// network not found, like any other refusal, is a bad request.
fn nova_error(e: NeutronError) -> ApiError {
    match crate::network::status_of(e.class) {
        StatusCode::CONFLICT => ApiError::conflict(e.message),
        s if s.is_client_error() => ApiError::bad_request(e.message),
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
                StatusCode::SERVICE_UNAVAILABLE,
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
            match StatusCode::from_u16(status) {
                // The pod's own client errors are the caller's to see, as
                // the pod said them. Our service user's token refused, or a
                // pod failing: the service is unavailable, not the request
                // wrong.
                Ok(s) if s.is_client_error() && s != StatusCode::UNAUTHORIZED => {
                    ApiError::new(s, format!("Pod {pod} refused {what}: {message}"))
                }
                _ => ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!("Pod {pod} is unavailable: {what} failed with HTTP {status}."),
                ),
            }
        }
        BottomError::Store(e) => e.into(),
    }
}

/// A server–port lifecycle error as Nova reports it.
fn server_port_error(e: ServerPortError) -> ApiError {
    match e {
        ServerPortError::UnknownPort(_)
        | ServerPortError::UnknownNetwork(_)
        | ServerPortError::NotInZone { .. }
        | ServerPortError::NoSubnet(_)
        | ServerPortError::UnknownGroup { .. }
        | ServerPortError::PortSecurityRequired => bad(e.to_string()),
        ServerPortError::PortInUse(_) => ApiError::conflict(e.to_string()),
        ServerPortError::GroupNotFound { .. } | ServerPortError::GroupNotAssociated { .. } => {
            ApiError::not_found(e.to_string())
        }
        ServerPortError::Neutron(e) => nova_error(e),
        ServerPortError::Bottom(e) => bottom_error(e),
    }
}

/// Where a boot without an AZ should go given its networks: the AZ of the
/// pod already holding a local network, else the first AZ hint.
pub async fn preferred_az(
    bottom: &Bottom,
    ctx: &crate::auth::Context,
    nics: &[Nic],
) -> Result<Option<String>, ApiError> {
    bottom
        .preferred_az(&scope(ctx), nics)
        .await
        .map_err(server_port_error)
}

/// Checks every requested network against the pod and prepares its port
/// there; on failure, what this boot created is undone.
pub async fn prepare(
    bottom: &Bottom,
    ctx: &crate::auth::Context,
    pod: &Pod,
    nics: &[Nic],
    security_groups: &[String],
) -> Result<Prepared, ApiError> {
    bottom
        .prepare_server_ports(&scope(ctx), pod, nics, security_groups)
        .await
        .map_err(server_port_error)
}

/// `addSecurityGroup` / `removeSecurityGroup` on a server with top ports;
/// `Ok(false)`: the server has none, the pod's Nova is the one to ask.
pub async fn change_group(
    bottom: &Bottom,
    ctx: &crate::auth::Context,
    server_id: &str,
    name: &str,
    add: bool,
) -> Result<bool, ApiError> {
    bottom
        .change_server_group(&scope(ctx), server_id, name, add)
        .await
        .map_err(server_port_error)
}

/// The boot succeeded: the top ports now belong to the server.
pub async fn bind(
    bottom: &Bottom,
    ctx: &crate::auth::Context,
    pod: &Pod,
    server_id: &str,
    prepared: &Prepared,
) -> Result<(), ApiError> {
    bottom
        .bind_server_ports(&scope(ctx), pod, server_id, prepared)
        .await
        .map_err(server_port_error)
}

/// The server is gone: its ports are released (see
/// `Bottom::release_server_ports`); a failure is logged, nothing changed.
pub async fn release(bottom: &Bottom, server_id: &str) {
    match bottom.release_server_ports(server_id).await {
        Ok(kept) => {
            for port_id in kept {
                tracing::warn!(%server_id, %port_id, "a server port stays bound: an L3 resource owns it");
            }
        }
        Err(e) => {
            tracing::error!(%server_id, error = %e, "could not release the server's ports");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
