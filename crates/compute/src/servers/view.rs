//! A pod's server views in top terms: the AZ, network names (a bottom
//! network is named `<top_id>#<top_name>`), security group names and the
//! server groups (2.71) by their top ids.

use std::collections::HashMap;

use serde_json::{json, Value};
use tricircle_gateway::rewrite::az_to_top;
use tricircle_gateway::PodAnswer;
use tricircle_store::Pod;

use super::{Presented, Servers, AZ_FIELD};

/// Rewrites a server (`{"server": ...}`) for the top: AZ names, networks.
pub(super) fn server_to_top(v: &mut Value, pod: &Pod) {
    if let Some(s) = v.get_mut("server") {
        az_to_top(s, AZ_FIELD, &pod.pod_az_name, &pod.az_name);
        addresses_to_top(s);
    }
}

/// `addresses` are keyed by network name; a bottom network is named
/// `<top_id>#<top_name>`, which users know as `<top_name>`.
pub fn addresses_to_top(server: &mut Value) {
    let Some(addrs) = server.get_mut("addresses").and_then(Value::as_object_mut) else {
        return;
    };
    if !addrs
        .keys()
        .any(|k| tricircle_network::bottom::split_bottom_network_name(k).is_some())
    {
        return;
    }
    let old = std::mem::take(addrs);
    for (k, v) in old {
        let key = match tricircle_network::bottom::split_bottom_network_name(&k) {
            Some((_, name)) => name.to_string(),
            None => k,
        };
        addrs.insert(key, v);
    }
}

/// Renames a server view's `server_groups` by the `(bottom, top)` pairs.
fn server_groups_to_top(v: &mut Value, pairs: &[(String, String)]) {
    let Some(groups) = v
        .get_mut("server")
        .and_then(|s| s.get_mut("server_groups"))
        .and_then(Value::as_array_mut)
    else {
        return;
    };
    for g in groups {
        if let Some((_, top)) = pairs.iter().find(|(b, _)| g.as_str() == Some(b.as_str())) {
            *g = json!(top);
        }
    }
}

/// Renames a server's groups from bottom to top names (each once).
pub(super) fn groups_to_top(server: &mut Value, names: &HashMap<String, String>) {
    let Some(groups) = server
        .get_mut("security_groups")
        .and_then(Value::as_array_mut)
    else {
        return;
    };
    let mut seen: Vec<Value> = Vec::new();
    for g in groups.drain(..) {
        let g = match g
            .get("name")
            .and_then(Value::as_str)
            .and_then(|n| names.get(n))
        {
            Some(top) => json!({ "name": top }),
            None => g,
        };
        if !seen.contains(&g) {
            seen.push(g);
        }
    }
    *groups = seen;
}

impl Servers<'_> {
    /// A pod shows the groups of a server's ports by their bottom names;
    /// the gateway's copy of a top group is named by the top group's id.
    /// Returns each such id among `servers`' groups with the top group's
    /// name.
    pub(super) async fn top_group_names<'v>(
        &self,
        servers: impl IntoIterator<Item = &'v Value>,
    ) -> HashMap<String, String> {
        let mut names = HashMap::new();
        if self.compute.gateway.network.is_none() {
            return names;
        }
        let ids: Vec<String> = servers
            .into_iter()
            .filter_map(|s| s.get("security_groups").and_then(Value::as_array))
            .flatten()
            .filter_map(|g| g.get("name").and_then(Value::as_str))
            .filter(|n| uuid::Uuid::parse_str(n).is_ok())
            .map(str::to_string)
            .collect();
        for id in ids {
            if names.contains_key(&id) {
                continue;
            }
            match self
                .compute
                .gateway
                .store
                .neutron_get(tricircle_store::NeutronKind::SecurityGroup, &id)
                .await
            {
                Ok(Some(g)) => {
                    if let Some(n) = g.get("name").and_then(Value::as_str) {
                        names.insert(id, n.to_string());
                    }
                }
                Ok(None) => {}
                Err(e) => tracing::warn!(error = %e, group = %id, "security group name not read"),
            }
        }
        names
    }

    /// A pod's answer about one server, in top terms (AZ, network names,
    /// security group names, server groups).
    pub(super) async fn present_server(&self, answer: PodAnswer, pod: &Pod) -> Presented {
        let names = match answer.json() {
            Some(v) if answer.is_success() => self.top_group_names(v.get("server")).await,
            _ => HashMap::new(),
        };
        // The server groups it is in (2.71), by their top ids.
        let server_groups = self.top_group_ids(pod, &answer).await;
        answer.presented(|v| {
            server_to_top(v, pod);
            server_groups_to_top(v, &server_groups);
            if let Some(s) = v.get_mut("server") {
                groups_to_top(s, &names);
            }
        })
    }

    /// The groups a server view names in `server_groups` (2.71+), as
    /// `(bottom, top)` pairs.
    async fn top_group_ids(&self, pod: &Pod, answer: &PodAnswer) -> Vec<(String, String)> {
        let bottoms: Vec<String> = answer
            .json()
            .and_then(|v| {
                v["server"]["server_groups"].as_array().map(|a| {
                    a.iter()
                        .filter_map(|g| g.as_str().map(str::to_string))
                        .collect()
                })
            })
            .unwrap_or_default();
        if bottoms.is_empty() {
            return Vec::new();
        }
        self.compute.group_top_ids(pod, bottoms).await
    }

    /// One server of a list page in top terms.
    pub(super) fn list_item_to_top(s: &mut Value, pod: &Pod, names: &HashMap<String, String>) {
        az_to_top(s, AZ_FIELD, &pod.pod_az_name, &pod.az_name);
        addresses_to_top(s);
        groups_to_top(s, names);
    }
}
