//! Bottom security groups: a top group's copy in a pod (named by its top
//! id) whose rules are kept those of the top group, remote groups
//! translated to their own copies.

use reqwest::Method;
use serde_json::{json, Map, Value};
use tricircle_pods::PodPath;
use tricircle_store::Pod;

use super::{admin_scope, str_of, Bottom, BottomError, Result};
use tricircle_core::ResourceType;

impl Bottom {
    /// Copies a top security group (named by its top id) into `pod` and
    /// brings its rules in line with the top's.
    pub async fn ensure_security_group(
        &self,
        pod: &Pod,
        project_id: &str,
        sg_id: &str,
    ) -> Result<String> {
        let bottom = self
            .ensure_security_group_exists(pod, project_id, sg_id)
            .await?;
        let top = self
            .neutron
            .get_security_group(&admin_scope(project_id), sg_id)
            .await?;
        self.sync_security_group_rules(pod, &top, &bottom).await?;
        Ok(bottom)
    }

    async fn ensure_security_group_exists(
        &self,
        pod: &Pod,
        project_id: &str,
        sg_id: &str,
    ) -> Result<String> {
        self.get_or_create(
            pod,
            project_id,
            ResourceType::SecurityGroup,
            sg_id,
            || self.find_by_name(pod, "security-groups", sg_id),
            || async {
                if let Some(id) = self.find_by_name(pod, "security-groups", sg_id).await? {
                    return Ok(id);
                }
                let top = self
                    .neutron
                    .get_security_group(&admin_scope(project_id), sg_id)
                    .await?;
                let made = self
                    .create(
                        pod,
                        "security-groups",
                        "security_group",
                        json!({
                            "name": sg_id,
                            "tenant_id": project_id,
                            "description": top.get("description").cloned().unwrap_or(json!("")),
                        }),
                    )
                    .await?;
                Ok(str_of(&made, "id").to_string())
            },
        )
        .await
    }

    /// Makes the bottom group's rules those of the top group (remote groups
    /// translated to their bottom copies): extra rules deleted, missing ones
    /// added. Idempotent.
    pub async fn sync_security_group_rules(
        &self,
        pod: &Pod,
        top: &Value,
        bottom_id: &str,
    ) -> Result<()> {
        let project_id = str_of(top, "project_id");
        let top_id = str_of(top, "id");
        let mut desired = Vec::new();
        for rule in top
            .get("security_group_rules")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let mut r = Map::new();
            for key in [
                "direction",
                "ethertype",
                "protocol",
                "port_range_min",
                "port_range_max",
                "remote_ip_prefix",
            ] {
                r.insert(
                    key.to_string(),
                    rule.get(key).cloned().unwrap_or(Value::Null),
                );
            }
            let remote = match rule.get("remote_group_id").and_then(Value::as_str) {
                None => Value::Null,
                Some(g) if g == top_id => json!(bottom_id),
                Some(g) => json!(
                    self.ensure_security_group_exists(pod, project_id, g)
                        .await?
                ),
            };
            r.insert("remote_group_id".into(), remote);
            desired.push(Value::Object(r));
        }
        let current = self
            .show(pod, "security-groups", "security_group", bottom_id)
            .await?
            .ok_or_else(|| {
                BottomError::Gone(format!(
                    "Security group {top_id} vanished from pod {}",
                    pod.pod_name
                ))
            })?;
        let existing: Vec<Value> = current
            .get("security_group_rules")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let mut matched = vec![false; desired.len()];
        for rule in &existing {
            let key = rule_key(rule);
            match desired
                .iter()
                .enumerate()
                .find(|(i, d)| !matched[*i] && rule_key(d) == key)
            {
                Some((i, _)) => matched[i] = true,
                None => {
                    self.delete(pod, "security-group-rules", str_of(rule, "id"))
                        .await?
                }
            }
        }
        for (d, done) in desired.into_iter().zip(matched) {
            if done {
                continue;
            }
            let mut body = d;
            body["security_group_id"] = json!(bottom_id);
            body["tenant_id"] = json!(project_id);
            if let Some(obj) = body.as_object_mut() {
                obj.retain(|_, v| !v.is_null());
            }
            let a = self
                .call(
                    pod,
                    Method::POST,
                    PodPath::fixed("/security-group-rules"),
                    None,
                    Some(json!({ "security_group_rule": body })),
                )
                .await?;
            // 409: the same rule appeared meanwhile (a concurrent sync).
            if !a.ok() && a.status != 409 {
                return Err(Self::refused(pod, "creating a security group rule", &a));
            }
        }
        Ok(())
    }

    /// Brings every pod copy of a top security group in line (or deletes the
    /// copies when the top group is gone).
    pub async fn sync_security_group(&self, project_id: &str, sg_id: &str) -> Result<()> {
        match self
            .neutron
            .get_security_group(&admin_scope(project_id), sg_id)
            .await
        {
            Ok(top) => {
                for (pod, bottom) in self.copies(sg_id, ResourceType::SecurityGroup).await? {
                    self.sync_security_group_rules(&pod, &top, &bottom).await?;
                }
                Ok(())
            }
            Err(e) if e.is_not_found() => {
                self.delete_copies(sg_id, ResourceType::SecurityGroup).await
            }
            Err(e) => Err(e.into()),
        }
    }
}

/// What makes two rules the same rule (ids and owners aside).
fn rule_key(rule: &Value) -> String {
    let s = |k: &str| match rule.get(k) {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(v)) => v.to_lowercase(),
        Some(v) => v.to_string(),
    };
    let protocol = match s("protocol").as_str() {
        "6" => "tcp".to_string(),
        "17" => "udp".to_string(),
        "1" => "icmp".to_string(),
        p => p.to_string(),
    };
    format!(
        "{}|{}|{}|{}|{}|{}|{}",
        s("direction"),
        s("ethertype"),
        protocol,
        s("port_range_min"),
        s("port_range_max"),
        s("remote_ip_prefix"),
        s("remote_group_id")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_compare_by_content() {
        let a = json!({"direction": "ingress", "ethertype": "IPv4", "protocol": "tcp", "port_range_min": 22, "port_range_max": 22, "id": "x"});
        let b = json!({"direction": "ingress", "ethertype": "IPv4", "protocol": "6", "port_range_min": 22, "port_range_max": 22, "remote_ip_prefix": null});
        assert_eq!(rule_key(&a), rule_key(&b));
        let c = json!({"direction": "egress", "ethertype": "IPv4"});
        assert_ne!(rule_key(&a), rule_key(&c));
    }
}
