//! Bottom ports: a top port's copy in a pod (same MAC and IPs, named by
//! its top id), made with everything it needs, and kept in line with the
//! top port.

use reqwest::Method;
use serde_json::{json, Value};
use tricircle_pods::PodPath;
use tricircle_store::Pod;

use super::{admin_scope, str_of, Bottom, BottomError, Result};
use tricircle_core::ResourceType;

impl Bottom {
    /// Everything a server in `pod` needs to use the top port `port_id`:
    /// the network, its subnets, the port's security groups and the port
    /// itself (same MAC and IPs). Returns the bottom port id.
    pub async fn prepare_port(&self, pod: &Pod, port_id: &str) -> Result<String> {
        let port = self.neutron.get_port(&admin_scope(""), port_id).await?;
        let project_id = str_of(&port, "project_id").to_string();
        let scope = admin_scope(&project_id);
        let net = self
            .neutron
            .get_network(&scope, str_of(&port, "network_id"))
            .await?;
        let bottom_net = self.ensure_network(pod, &net).await?;
        let mut subnet_map = Vec::new();
        for subnet in self
            .neutron
            .subnets_of_network(&scope, str_of(&net, "id"))
            .await?
        {
            let b = self.ensure_subnet(pod, &subnet, &bottom_net).await?;
            subnet_map.push((str_of(&subnet, "id").to_string(), b));
        }
        let mut groups = Vec::new();
        for sg in port
            .get("security_groups")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            groups.push(self.ensure_security_group(pod, &project_id, sg).await?);
        }
        let fixed_ips: Vec<Value> = port
            .get("fixed_ips")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|ip| {
                let top_subnet = str_of(ip, "subnet_id");
                subnet_map
                    .iter()
                    .find(|(t, _)| t == top_subnet)
                    .map(|(_, b)| json!({"subnet_id": b, "ip_address": ip.get("ip_address")}))
            })
            .collect();
        let name = port_id.to_string();
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
                let mut body = json!({
                    "name": name,
                    "network_id": bottom_net,
                    "tenant_id": project_id,
                    "mac_address": port.get("mac_address").cloned().unwrap_or(Value::Null),
                    "fixed_ips": fixed_ips,
                    "admin_state_up": port.get("admin_state_up").cloned().unwrap_or(json!(true)),
                });
                let port_security = port
                    .get("port_security_enabled")
                    .and_then(Value::as_bool)
                    .unwrap_or(true);
                body["port_security_enabled"] = json!(port_security);
                if port_security {
                    body["security_groups"] = json!(groups);
                    if let Some(pairs) = port.get("allowed_address_pairs").filter(|v| !v.is_null())
                    {
                        body["allowed_address_pairs"] = pairs.clone();
                    }
                } else {
                    body["security_groups"] = json!([]);
                }
                for key in ["description", "binding:vnic_type", "binding:profile"] {
                    if let Some(v) = port.get(key).filter(|v| !v.is_null() && **v != json!({})) {
                        body[key] = v.clone();
                    }
                }
                let made = match self.create(pod, "ports", "port", body.clone()).await {
                    Err(refused @ BottomError::Refused { status: 409, .. }) => {
                        if !self.free_addresses(pod, &bottom_net, &fixed_ips).await? {
                            return Err(refused);
                        }
                        self.create(pod, "ports", "port", body).await?
                    }
                    other => other?,
                };
                Ok(str_of(&made, "id").to_string())
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
        fixed_ips: &[Value],
    ) -> Result<bool> {
        let mut free = true;
        for ip in fixed_ips
            .iter()
            .filter_map(|f| f.get("ip_address").and_then(Value::as_str))
        {
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
            let a = self
                .call(pod, Method::GET, PodPath::of(["ports"]), Some(query), None)
                .await?;
            if !a.ok() {
                return Err(Self::refused(pod, "listing ports", &a));
            }
            for holder in a
                .body
                .get("ports")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let (top_id, bottom_id) = (str_of(holder, "name"), str_of(holder, "id"));
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
            Ok(t) => t,
            Err(e) if e.is_not_found() => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        let mut body = json!({});
        for k in [
            "admin_state_up",
            "description",
            "port_security_enabled",
            "allowed_address_pairs",
            "security_groups",
            "project_id",
        ] {
            if let Some(v) = top.get(k) {
                body[k] = v.clone();
            }
        }
        if top.get("port_security_enabled").and_then(Value::as_bool) == Some(false) {
            body["security_groups"] = json!([]);
            if let Some(o) = body.as_object_mut() {
                o.remove("allowed_address_pairs");
            }
        }
        self.update_copies(id, ResourceType::Port, body).await
    }
}
