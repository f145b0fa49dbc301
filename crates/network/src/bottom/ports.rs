//! Bottom ports: a top port's copy in a pod (same MAC and IPs, named by
//! its top id), made with everything it needs, and kept in line with the
//! top port.

use serde_json::json;
use tricircle_store::Pod;

use super::{admin_scope, Bottom, BottomError, Result};
use crate::model::{FixedIp, Network, Port, Resource};
use tricircle_core::ResourceType;

impl Bottom {
    /// Everything a server in `pod` needs to use the top port `port_id`:
    /// the network, its subnets, the port's security groups and the port
    /// itself (same MAC and IPs). Returns the bottom port id.
    pub async fn prepare_port(&self, pod: &Pod, port_id: &str) -> Result<String> {
        let port = Port::from_doc(&self.neutron.get_port(&admin_scope(""), port_id).await?)?;
        self.copy_port(pod, &port, None).await
    }

    /// [`Bottom::prepare_port`] of a top port read already. `owner`: the
    /// project the copies (network, subnets, port) are made for in the
    /// pod, instead of each top resource's own (a bridge port's, whose top
    /// resources belong to no project).
    pub(super) async fn copy_port(
        &self,
        pod: &Pod,
        port: &Port,
        owner: Option<&str>,
    ) -> Result<String> {
        let port_id = port.id.as_str();
        let project_id = owner.unwrap_or(&port.project_id).to_string();
        let scope = admin_scope(&project_id);
        let net = self.neutron.get_network(&scope, &port.network_id).await?;
        let mut net = Network::from_doc(&net)?;
        if let Some(o) = owner {
            net.project_id = o.to_string();
        }
        let bottom_net = self.ensure_network(pod, &net).await?;
        let mut subnet_map = Vec::new();
        for mut subnet in self.neutron.subnets_of_network(&scope, &net.id).await? {
            if let Some(o) = owner {
                subnet.project_id = o.to_string();
            }
            let b = self.ensure_subnet(pod, &subnet, &bottom_net).await?;
            subnet_map.push((subnet.id, b));
        }
        let mut groups = Vec::new();
        for sg in &port.security_groups {
            groups.push(self.ensure_security_group(pod, &project_id, sg).await?);
        }
        let fixed_ips: Vec<FixedIp> = port
            .fixed_ips
            .iter()
            .filter_map(|ip| {
                subnet_map
                    .iter()
                    .find(|(t, _)| *t == ip.subnet_id)
                    .map(|(_, b)| FixedIp {
                        subnet_id: b.clone(),
                        ip_address: ip.ip_address.clone(),
                    })
            })
            .collect();
        let name = port_id.to_string();
        let mut body = json!({
            "name": name,
            "network_id": bottom_net,
            "tenant_id": project_id,
            "mac_address": port.mac_address,
            "fixed_ips": fixed_ips,
            "admin_state_up": port.admin_state_up,
            "port_security_enabled": port.port_security(),
        });
        if port.port_security() {
            body["security_groups"] = json!(groups);
            body["allowed_address_pairs"] = json!(port.allowed_address_pairs);
        } else {
            body["security_groups"] = json!([]);
        }
        if let Some(v) = &port.description {
            body["description"] = json!(v);
        }
        if let Some(v) = &port.vnic_type {
            body["binding:vnic_type"] = json!(v);
        }
        if let Some(v) = port.profile.as_ref().filter(|p| !p.is_empty()) {
            body["binding:profile"] = json!(v);
        }
        self.get_or_create(
            pod,
            &project_id,
            ResourceType::Port,
            port_id,
            || self.find_by_name(pod, "ports", &name),
            || async {
                if let Some(id) = self.find_by_name(pod, "ports", &name).await? {
                    return Ok(id);
                }
                match self.create(pod, "ports", "port", body.clone()).await {
                    Err(refused @ BottomError::Refused { status: 409, .. }) => {
                        if !self.free_addresses(pod, &bottom_net, &fixed_ips).await? {
                            return Err(refused);
                        }
                        self.create(pod, "ports", "port", body.clone()).await
                    }
                    other => other,
                }
            },
        )
        .await
    }

    /// The top frees a deleted port's addresses at once, but its copies go
    /// later, through the port's delete job (or never, when the pod made one
    /// whose answer was lost): meanwhile the top may give an address to a
    /// new port whose copy the pod then refuses. Deletes the copies in
    /// `pod`, on `bottom_net`, that hold one of `fixed_ips` and whose top
    /// port is deleted (a copy is named by its top port's id, which the
    /// port's tombstone proves ours), with their routings. Whether the
    /// addresses are free now: false if a port that is not such a copy
    /// holds one.
    async fn free_addresses(
        &self,
        pod: &Pod,
        bottom_net: &str,
        fixed_ips: &[FixedIp],
    ) -> Result<bool> {
        let mut free = true;
        for ip in fixed_ips.iter().map(|f| f.ip_address.as_str()) {
            let query = format!(
                "network_id={}&fixed_ips={}",
                percent_encoding::utf8_percent_encode(
                    bottom_net,
                    percent_encoding::NON_ALPHANUMERIC
                ),
                percent_encoding::utf8_percent_encode(
                    &format!("ip_address={ip}"),
                    percent_encoding::NON_ALPHANUMERIC
                )
            );
            let holders: Vec<Port> = self.list(pod, "ports", "ports", query).await?;
            for holder in &holders {
                let (top_id, bottom_id) = (holder.name.as_str(), holder.id.as_str());
                if uuid::Uuid::parse_str(top_id).is_err()
                    || !self
                        .store()
                        .is_tombstoned(top_id, ResourceType::Port)
                        .await?
                {
                    free = false;
                    continue;
                }
                tracing::info!(pod = %pod.pod_name, port = %top_id, %ip,
                    "deleting the copy of a deleted port: its address was given to a new port");
                self.delete(pod, "ports", bottom_id).await?;
                self.store()
                    .delete_routing_of(top_id, &pod.pod_id, ResourceType::Port)
                    .await?;
            }
        }
        Ok(free)
    }

    /// Makes every pod copy of a top port match it: admin state,
    /// description, port security, address pairs and security groups (the
    /// groups' own copies made first). A port gone from the top is its
    /// delete job's business.
    pub async fn sync_port(&self, id: &str) -> Result<()> {
        let top = match self.neutron.get_port(&admin_scope(""), id).await {
            Ok(t) => Port::from_doc(&t)?,
            Err(e) if e.is_not_found() => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        let mut body = json!({"admin_state_up": top.admin_state_up});
        if let Some(v) = &top.description {
            body["description"] = json!(v);
        }
        if let Some(v) = top.port_security_enabled {
            body["port_security_enabled"] = json!(v);
        }
        let groups: &[String] = if top.port_security() {
            body["allowed_address_pairs"] = json!(top.allowed_address_pairs);
            &top.security_groups
        } else {
            &[]
        };
        self.update_port_copies(id, body, &top.project_id, groups)
            .await
    }
}
