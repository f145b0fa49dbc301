//! Bottom networks: a top network's copy in a pod, named
//! `<top_id>#<top_name>` (its recovery key); a local network lives in one
//! pod only.

use serde_json::json;
use tricircle_store::Pod;

use super::{Bottom, BottomError, Result};
use crate::model::Network;
use tricircle_core::ResourceType;

/// Name of a top network's copy in a pod.
pub fn bottom_network_name(top_id: &str, top_name: &str) -> String {
    format!("{top_id}#{top_name}")
}

/// The top network id and name in a bottom network name, if it is one of
/// ours.
pub fn split_bottom_network_name(name: &str) -> Option<(&str, &str)> {
    let (id, rest) = name.split_once('#')?;
    (id.len() == 36 && uuid::Uuid::parse_str(id).is_ok()).then_some((id, rest))
}

impl Bottom {
    /// Copies the top network into `pod` and returns the bottom id. A local
    /// network lives in one pod only.
    pub async fn ensure_network(&self, pod: &Pod, net: &Network) -> Result<String> {
        let top_id = net.id.as_str();
        let project_id = net.project_id.as_str();
        let name = bottom_network_name(top_id, &net.name);
        let id = self
            .get_or_create(
                pod,
                project_id,
                ResourceType::Network,
                top_id,
                || self.find_by_name(pod, "networks", &name),
                || async {
                    if let Some(id) = self.find_by_name(pod, "networks", &name).await? {
                        return Ok(id);
                    }
                    // `shared` decides who may use the network: the pod's
                    // Nova looks it up with the caller's token.
                    let mut body = json!({
                        "name": name,
                        "tenant_id": project_id,
                        "admin_state_up": net.admin_state_up,
                        "shared": net.shared,
                    });
                    if let Some(v) = net.port_security_enabled {
                        body["port_security_enabled"] = json!(v);
                    }
                    if let Some(v) = &net.description {
                        body["description"] = json!(v);
                    }
                    if matches!(net.network_type(), "vlan" | "vxlan" | "flat") {
                        body["provider:network_type"] = json!(net.network_type());
                        if let Some(v) = &net.physical_network {
                            body["provider:physical_network"] = json!(v);
                        }
                        if let Some(v) = net.segmentation_id {
                            body["provider:segmentation_id"] = json!(v);
                        }
                    }
                    self.create(pod, "networks", "network", body).await
                },
            )
            .await?;
        if net.is_local() {
            self.check_local(pod, top_id).await?;
        }
        Ok(id)
    }

    /// A local network may have a copy in one pod only: the first to lock
    /// it wins, later pods are refused (and their copy undone).
    async fn check_local(&self, pod: &Pod, top_id: &str) -> Result<()> {
        let copies = self
            .store()
            .list_routings(
                &tricircle_store::RoutingFilter {
                    top_id: Some(top_id.to_string()),
                    resource_type: Some(ResourceType::Network),
                    ..Default::default()
                },
                None,
                100,
            )
            .await?
            .routings;
        let Some(first) = copies.iter().min_by_key(|r| r.id) else {
            return Ok(());
        };
        if first.pod_id == pod.pod_id {
            return Ok(());
        }
        let home = self
            .store()
            .find_pod(&first.pod_id)
            .await?
            .map(|p| p.az_name)
            .unwrap_or_default();
        if let Some(mine) = copies.iter().find(|r| r.pod_id == pod.pod_id) {
            if let Some(b) = mine.bottom_id.as_deref().filter(|b| !b.is_empty()) {
                self.delete(pod, "networks", b).await?;
            }
            self.store()
                .delete_routing_of(top_id, &pod.pod_id, ResourceType::Network)
                .await?;
        }
        Err(BottomError::Conflict(format!(
            "Network {top_id} is a local network already in use in availability zone {home}; it cannot be used in {}.",
            pod.az_name
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bottom_network_names_carry_the_top_id() {
        let id = "8a6c5d4e-1111-4222-8333-444455556666";
        let name = bottom_network_name(id, "net#1");
        assert_eq!(split_bottom_network_name(&name), Some((id, "net#1")));
        assert_eq!(split_bottom_network_name("private"), None);
        assert_eq!(split_bottom_network_name("abc#def"), None);
    }
}
