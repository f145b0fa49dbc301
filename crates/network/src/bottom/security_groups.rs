//! Bottom security groups: a top group's copy in a pod (named by its top
//! id) whose rules are kept those of the top group, remote groups
//! translated to their own copies.

use reqwest::Method;
use serde_json::json;
use tricircle_pods::PodPath;
use tricircle_store::Pod;

use super::{admin_scope, Bottom, BottomError, Result};
use crate::model::{Resource, SecurityGroup, SecurityGroupRule};
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
        let top = self.top_group(project_id, sg_id).await?;
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
                let top = self.top_group(project_id, sg_id).await?;
                self.create(
                    pod,
                    "security-groups",
                    "security_group",
                    json!({
                        "name": sg_id,
                        "tenant_id": project_id,
                        "description": top.description.unwrap_or_default(),
                    }),
                )
                .await
            },
        )
        .await
    }

    /// The top security group `sg_id` with its rules.
    async fn top_group(&self, project_id: &str, sg_id: &str) -> Result<SecurityGroup> {
        let top = self
            .neutron
            .get_security_group(&admin_scope(project_id), sg_id)
            .await?;
        Ok(SecurityGroup::from_doc(&top)?)
    }

    /// Makes the bottom group's rules those of the top group (remote groups
    /// translated to their bottom copies): extra rules deleted, missing ones
    /// added. Idempotent.
    pub async fn sync_security_group_rules(
        &self,
        pod: &Pod,
        top: &SecurityGroup,
        bottom_id: &str,
    ) -> Result<()> {
        let project_id = top.project_id.as_str();
        let top_id = top.id.as_str();
        let mut desired = Vec::new();
        for rule in &top.security_group_rules {
            let remote_group_id = match rule.remote_group_id.as_deref() {
                None => None,
                Some(g) if g == top_id => Some(bottom_id.to_string()),
                Some(g) => Some(
                    self.ensure_security_group_exists(pod, project_id, g)
                        .await?,
                ),
            };
            desired.push(SecurityGroupRule {
                remote_group_id,
                ..rule.clone()
            });
        }
        let current: SecurityGroup = self
            .show(pod, "security-groups", "security_group", bottom_id)
            .await?
            .ok_or_else(|| {
                BottomError::Gone(format!(
                    "Security group {top_id} vanished from pod {}",
                    pod.pod_name
                ))
            })?;
        let mut matched = vec![false; desired.len()];
        for rule in &current.security_group_rules {
            let key = rule_key(rule);
            match desired
                .iter()
                .enumerate()
                .find(|(i, d)| !matched[*i] && rule_key(d) == key)
            {
                Some((i, _)) => matched[i] = true,
                None => self.delete(pod, "security-group-rules", &rule.id).await?,
            }
        }
        for (d, done) in desired.into_iter().zip(matched) {
            if done {
                continue;
            }
            let mut body = json!({
                "security_group_id": bottom_id,
                "tenant_id": project_id,
                "direction": d.direction,
                "ethertype": d.ethertype,
            });
            for (key, v) in [
                ("protocol", d.protocol.map(|v| json!(v))),
                ("port_range_min", d.port_range_min.map(|v| json!(v))),
                ("port_range_max", d.port_range_max.map(|v| json!(v))),
                ("remote_ip_prefix", d.remote_ip_prefix.map(|v| json!(v))),
                ("remote_group_id", d.remote_group_id.map(|v| json!(v))),
            ] {
                if let Some(v) = v {
                    body[key] = v;
                }
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
                let top = SecurityGroup::from_doc(&top)?;
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
fn rule_key(rule: &SecurityGroupRule) -> String {
    let s = |v: Option<&str>| v.unwrap_or("").to_lowercase();
    let n = |v: Option<i64>| v.map(|v| v.to_string()).unwrap_or_default();
    let protocol = match s(rule.protocol.as_deref()).as_str() {
        "6" => "tcp".to_string(),
        "17" => "udp".to_string(),
        "1" => "icmp".to_string(),
        p => p.to_string(),
    };
    format!(
        "{}|{}|{}|{}|{}|{}|{}",
        s(Some(&rule.direction)),
        s(Some(&rule.ethertype)),
        protocol,
        n(rule.port_range_min),
        n(rule.port_range_max),
        s(rule.remote_ip_prefix.as_deref()),
        s(rule.remote_group_id.as_deref())
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule_key(rule: &serde_json::Value) -> String {
        super::rule_key(&SecurityGroupRule::parse(rule).expect("a rule"))
    }

    #[test]
    fn rules_compare_by_content() {
        let a = json!({"direction": "ingress", "ethertype": "IPv4", "protocol": "tcp", "port_range_min": 22, "port_range_max": 22, "id": "x"});
        let b = json!({"direction": "ingress", "ethertype": "IPv4", "protocol": "6", "port_range_min": 22, "port_range_max": 22, "remote_ip_prefix": null});
        assert_eq!(rule_key(&a), rule_key(&b));
        let c = json!({"direction": "egress", "ethertype": "IPv4"});
        assert_ne!(rule_key(&a), rule_key(&c));
    }
}
