//! A boot's `networks`, parsed into the network domain's [`Nic`]s (the
//! compute domain prepares and binds their ports).

use serde_json::Value;

pub use tricircle_network::bottom::server_ports::Nic;

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
