//! Security group rules: validated as Neutron validates them, compared by
//! content (a rule exists once per group), and their CRUD.

use serde_json::{json, Value};
use tricircle_core::ids::new_uuid;
use tricircle_store::{NeutronFilter, NeutronKind, StoreError};

use crate::attrs::{self, attr, check, integer, owner, shown, string, touch, Attr, Op};
use crate::ipam;
use crate::listing::{ListQuery, Listing, Page};
use crate::model::{Resource, SecurityGroup, SecurityGroupRule};
use crate::networks::sql_filter;
use crate::{Neutron, NeutronError, Scope};

const RULE_ATTRS: &[Attr] = &[
    attr("id", false, false),
    attr("security_group_id", true, false),
    attr("direction", true, false),
    attr("ethertype", true, false),
    attr("protocol", true, false),
    attr("port_range_min", true, false),
    attr("port_range_max", true, false),
    attr("remote_ip_prefix", true, false),
    attr("remote_group_id", true, false),
    attr("remote_address_group_id", true, false),
    attr("normalized_cidr", false, false),
    attr("description", true, true),
    attr("tenant_id", true, false),
    attr("project_id", true, false),
    attr("created_at", false, false),
    attr("updated_at", false, false),
    attr("revision_number", false, false),
];

const RULE_LISTING: Listing<'static> = Listing {
    filterable: &[
        "id",
        "security_group_id",
        "direction",
        "ethertype",
        "protocol",
        "port_range_min",
        "port_range_max",
        "remote_ip_prefix",
        "remote_group_id",
        "remote_address_group_id",
        "normalized_cidr",
        "description",
        "tenant_id",
        "project_id",
        "created_at",
        "updated_at",
        "revision_number",
    ],
    sortable: &[
        "id",
        "security_group_id",
        "direction",
        "ethertype",
        "protocol",
        "port_range_min",
        "port_range_max",
        "remote_ip_prefix",
        "remote_group_id",
        "normalized_cidr",
        "description",
        "tenant_id",
        "project_id",
        "created_at",
        "updated_at",
        "revision_number",
    ],
    not_found: NeutronError::rule_not_found,
};

/// IP protocol names Neutron accepts, with their numbers.
const PROTOCOLS: &[(&str, u8)] = &[
    ("ah", 51),
    ("dccp", 33),
    ("egp", 8),
    ("esp", 50),
    ("gre", 47),
    ("hopopt", 0),
    ("icmp", 1),
    ("icmpv6", 58),
    ("igmp", 2),
    ("ipip", 4),
    ("ipv6-encap", 41),
    ("ipv6-frag", 44),
    ("ipv6-icmp", 58),
    ("ipv6-nonxt", 59),
    ("ipv6-opts", 60),
    ("ipv6-route", 43),
    ("ospf", 89),
    ("pgm", 113),
    ("rsvp", 46),
    ("sctp", 132),
    ("tcp", 6),
    ("udp", 17),
    ("udplite", 136),
    ("vrrp", 112),
];

/// Protocols whose port range is a range of ports.
const PORT_PROTOCOLS: &[u8] = &[6, 17, 33, 132, 136];
/// Protocols whose "ports" are ICMP type and code.
const ICMP_PROTOCOLS: &[u8] = &[1, 58];

/// A validated rule.
#[derive(Debug, Clone)]
pub(super) struct Rule {
    direction: String,
    ethertype: String,
    protocol: Option<String>,
    protocol_number: Option<u8>,
    port_range_min: Option<i64>,
    port_range_max: Option<i64>,
    remote_ip_prefix: Option<String>,
    normalized_cidr: Option<String>,
    remote_group_id: Option<String>,
    description: String,
}

impl Rule {
    pub(super) fn simple(
        direction: &str,
        ethertype: &str,
        remote_group_id: Option<String>,
    ) -> Rule {
        Rule {
            direction: direction.into(),
            ethertype: ethertype.into(),
            protocol: None,
            protocol_number: None,
            port_range_min: None,
            port_range_max: None,
            remote_ip_prefix: None,
            normalized_cidr: None,
            remote_group_id,
            description: String::new(),
        }
    }

    /// What makes two rules the same rule (a /0 prefix is no prefix).
    pub(super) fn key(&self) -> String {
        let remote = self
            .normalized_cidr
            .as_deref()
            .filter(|c| !c.ends_with("/0"))
            .unwrap_or("");
        format!(
            "{}|{}|{}|{}|{}|{}|{}",
            self.direction,
            self.ethertype,
            self.protocol_number
                .map(|n| n.to_string())
                .unwrap_or_default(),
            self.port_range_min
                .map(|n| n.to_string())
                .unwrap_or_default(),
            self.port_range_max
                .map(|n| n.to_string())
                .unwrap_or_default(),
            remote,
            self.remote_group_id.as_deref().unwrap_or(""),
        )
    }

    pub(super) fn body(&self, id: &str, group_id: &str, project_id: &str) -> Value {
        let now = attrs::now();
        json!({
            "id": id,
            "tenant_id": project_id,
            "project_id": project_id,
            "security_group_id": group_id,
            "direction": self.direction,
            "ethertype": self.ethertype,
            "protocol": self.protocol,
            "port_range_min": self.port_range_min,
            "port_range_max": self.port_range_max,
            "remote_ip_prefix": self.remote_ip_prefix,
            "remote_group_id": self.remote_group_id,
            "remote_address_group_id": null,
            "normalized_cidr": self.normalized_cidr,
            "description": self.description,
            "created_at": now,
            "updated_at": now,
            "revision_number": 0,
        })
    }
}

/// The content key of a stored rule.
pub(super) fn rule_key_of(rule: &SecurityGroupRule) -> String {
    Rule {
        direction: rule.direction.clone(),
        ethertype: rule.ethertype.clone(),
        protocol: rule.protocol.clone(),
        protocol_number: rule.protocol.as_deref().and_then(protocol_number),
        port_range_min: rule.port_range_min,
        port_range_max: rule.port_range_max,
        remote_ip_prefix: None,
        normalized_cidr: rule.normalized_cidr.clone(),
        remote_group_id: rule.remote_group_id.clone(),
        description: String::new(),
    }
    .key()
}

pub(super) fn protocol_number(p: &str) -> Option<u8> {
    PROTOCOLS
        .iter()
        .find(|(n, _)| *n == p)
        .map(|(_, num)| *num)
        .or_else(|| p.parse::<u8>().ok())
}

pub(super) fn parse_protocol(v: &Value) -> Result<(Option<String>, Option<u8>), NeutronError> {
    let raw = match v {
        Value::Null => return Ok((None, None)),
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.to_ascii_lowercase(),
        other => shown(other),
    };
    if raw == "any" || raw.is_empty() {
        return Ok((None, None));
    }
    match protocol_number(&raw) {
        Some(n) => Ok((Some(raw), Some(n))),
        None => Err(NeutronError::bad_request(format!(
            "Security group rule protocol {raw} not supported. Only protocol values [{}] and integer representations [0 to 255] are supported.",
            PROTOCOLS.iter().map(|(n, _)| format!("'{n}'")).collect::<Vec<_>>().join(", ")
        ))
        .with_kind("SecurityGroupRuleInvalidProtocol")),
    }
}

pub(super) fn parse_port(k: &str, v: &Value) -> Result<Option<i64>, NeutronError> {
    if v.is_null() {
        return Ok(None);
    }
    let n = integer(k, v)?;
    if !(0..=65535).contains(&n) {
        return Err(
            NeutronError::bad_request(format!("Invalid value for port {n}"))
                .with_kind("SecurityGroupInvalidPortValue"),
        );
    }
    Ok(Some(n))
}

pub(super) fn check_ports(rule: &Rule) -> Result<(), NeutronError> {
    let (min, max) = (rule.port_range_min, rule.port_range_max);
    if min.is_none() && max.is_none() {
        return Ok(());
    }
    let Some(proto) = rule.protocol_number else {
        return Err(NeutronError::bad_request(
            "Must also specify protocol if port range is given.",
        )
        .with_kind("SecurityGroupProtocolRequiredWithPorts"));
    };
    if PORT_PROTOCOLS.contains(&proto) {
        if min == Some(0) || max == Some(0) {
            return Err(NeutronError::bad_request("Invalid value for port 0")
                .with_kind("SecurityGroupInvalidPortValue"));
        }
        match (min, max) {
            (Some(a), Some(b)) if a <= b => Ok(()),
            _ => Err(NeutronError::bad_request(
                "For TCP/UDP protocols, port_range_min must be <= port_range_max",
            )
            .with_kind("SecurityGroupInvalidPortRange")),
        }
    } else if ICMP_PROTOCOLS.contains(&proto) {
        for (v, field, attr) in [
            (min, "type", "port_range_min"),
            (max, "code", "port_range_max"),
        ] {
            if let Some(n) = v {
                if !(0..=255).contains(&n) {
                    return Err(NeutronError::bad_request(format!(
                        "Invalid value for ICMP {field} (type or code) {attr} {n}. It must be 0 to 255."
                    ))
                    .with_kind("SecurityGroupInvalidIcmpValue"));
                }
            }
        }
        if min.is_none() && max.is_some() {
            return Err(NeutronError::bad_request(format!(
                "ICMP code (port-range-max) {} is provided but ICMP type (port-range-min) is missing.",
                max.unwrap_or_default()
            ))
            .with_kind("SecurityGroupMissingIcmpType"));
        }
        Ok(())
    } else {
        Err(NeutronError::bad_request(format!(
            "Ports can not be set for protocol {}",
            rule.protocol.as_deref().unwrap_or("")
        ))
        .with_kind("SecurityGroupInvalidProtocolForPort"))
    }
}

impl Neutron {
    fn parse_rule(map: &serde_json::Map<String, Value>) -> Result<Rule, NeutronError> {
        let direction = match map.get("direction") {
            None => return Err(attrs::required("direction")),
            Some(v) => {
                let d = string("direction", v, 16)?;
                if d != "ingress" && d != "egress" {
                    return Err(NeutronError::invalid_attr(
                        "direction",
                        format!("{d} is not in ['ingress', 'egress']"),
                    ));
                }
                d
            }
        };
        let ethertype = match map.get("ethertype") {
            None | Some(Value::Null) => "IPv4".to_string(),
            Some(v) => match string("ethertype", v, 8)?.to_ascii_lowercase().as_str() {
                "ipv4" => "IPv4".to_string(),
                "ipv6" => "IPv6".to_string(),
                other => {
                    return Err(NeutronError::bad_request(format!(
                        "Security group rule for ethertype '{other}' not supported. Allowed values are ['IPv4', 'IPv6']."
                    ))
                    .with_kind("SecurityGroupRuleInvalidEtherType"))
                }
            },
        };
        let (protocol, protocol_number) =
            parse_protocol(map.get("protocol").unwrap_or(&Value::Null))?;
        let port_range_min = parse_port(
            "port_range_min",
            map.get("port_range_min").unwrap_or(&Value::Null),
        )?;
        let port_range_max = parse_port(
            "port_range_max",
            map.get("port_range_max").unwrap_or(&Value::Null),
        )?;
        let remote_group_id = match map.get("remote_group_id") {
            None | Some(Value::Null) => None,
            // Neutron does not validate it: an id that names no group is
            // its 404 SecurityGroupNotFound, below.
            Some(v) => Some(shown(v)),
        };
        if map
            .get("remote_address_group_id")
            .is_some_and(|v| !v.is_null())
        {
            return Err(NeutronError::invalid_input(
                "remote_address_group_id is not supported: address groups are not available",
            ));
        }
        let (remote_ip_prefix, normalized_cidr) = match map.get("remote_ip_prefix") {
            None | Some(Value::Null) => (None, None),
            Some(v) => {
                let s = string("remote_ip_prefix", v, 64)?;
                let net = ipam::parse_prefix(&s).ok_or_else(|| {
                    NeutronError::invalid_attr(
                        "remote_ip_prefix",
                        format!("'{s}' is not a valid IP subnet"),
                    )
                })?;
                let given = if s.contains('/') {
                    s.clone()
                } else {
                    net.to_string()
                };
                (Some(given), Some(net.to_string()))
            }
        };
        if remote_group_id.is_some() && remote_ip_prefix.is_some() {
            return Err(NeutronError::bad_request(
                "Only remote_ip_prefix or remote_group_id may be provided.",
            )
            .with_kind("SecurityGroupRemoteGroupAndRemoteIpPrefix"));
        }
        let description = map
            .get("description")
            .map_or(Ok(String::new()), |v| string("description", v, 255))?;
        let rule = Rule {
            direction,
            ethertype,
            protocol,
            protocol_number,
            port_range_min,
            port_range_max,
            remote_ip_prefix,
            normalized_cidr,
            remote_group_id,
            description,
        };
        check_ports(&rule)?;
        if let Some(c) = &rule.normalized_cidr {
            let v6 = c.contains(':');
            if v6 != (rule.ethertype == "IPv6") {
                return Err(NeutronError::bad_request(format!(
                    "Conflicting value ethertype {} for CIDR {}",
                    rule.ethertype,
                    rule.remote_ip_prefix.as_deref().unwrap_or(c)
                ))
                .with_kind("SecurityGroupRuleParameterConflict"));
            }
        }
        if rule.protocol_number == Some(58) && rule.ethertype == "IPv4" {
            return Err(NeutronError::bad_request(format!(
                "Invalid ethertype IPv4 for protocol {}.",
                rule.protocol.as_deref().unwrap_or("")
            ))
            .with_kind("SecurityGroupEthertypeConflictWithProtocol"));
        }
        Ok(rule)
    }

    pub async fn create_security_group_rule(
        &self,
        scope: &Scope,
        body: Value,
    ) -> Result<Value, NeutronError> {
        let map = check("security_group_rule", body, RULE_ATTRS, Op::Create)?;
        owner(scope, &map)?;
        let group_id = attrs::uuid(
            "security_group_id",
            map.get("security_group_id")
                .ok_or_else(|| attrs::required("security_group_id"))?,
        )?;
        let rule = Self::parse_rule(&map)?;
        let mut tx = self.store.neutron_tx().await?;
        let group = self.locked_group(&mut tx, scope, &group_id).await?;
        let project_id = SecurityGroup::from_doc(&group)?.project_id;
        if let Some(remote) = &rule.remote_group_id {
            match tx.get(NeutronKind::SecurityGroup, remote).await? {
                Some(g) if scope.owns(&SecurityGroup::from_doc(&g)?.project_id) => {}
                _ => return Err(NeutronError::security_group_not_found(remote)),
            }
        }
        self.check_quota(&mut tx, NeutronKind::SecurityGroupRule, &project_id, 1)
            .await?;
        let key = rule.key();
        let existing = tx
            .list(
                NeutronKind::SecurityGroupRule,
                &NeutronFilter {
                    eq: vec![("security_group_id".into(), vec![group_id.clone()])],
                    ..Default::default()
                },
            )
            .await?;
        if let Some(dup) = SecurityGroupRule::from_docs(&existing)?
            .iter()
            .find(|r| rule_key_of(r) == key)
        {
            return Err(rule_exists(&dup.id));
        }
        let body = rule.body(&new_uuid(), &group_id, &project_id);
        match tx.insert_rule(&body, &key).await {
            Ok(()) => {}
            Err(StoreError::Conflict(_)) => return Err(rule_exists("")),
            Err(e) => return Err(e.into()),
        }
        let jobs = self
            .group_jobs(&mut tx, &group_id, &project_id, None)
            .await?;
        for j in &jobs {
            tx.enqueue(j).await?;
        }
        tx.commit().await?;
        Ok(body)
    }

    /// Whether a caller may see a stored rule: own, or of a group of theirs.
    async fn rule_visible(&self, scope: &Scope, doc: &Value) -> Result<bool, NeutronError> {
        let rule = SecurityGroupRule::from_doc(doc)?;
        if scope.owns(&rule.project_id) {
            return Ok(true);
        }
        match self
            .store
            .neutron_get(NeutronKind::SecurityGroup, &rule.security_group_id)
            .await?
        {
            Some(g) => Ok(scope.owns(&SecurityGroup::from_doc(&g)?.project_id)),
            None => Ok(false),
        }
    }

    pub async fn get_security_group_rule(
        &self,
        scope: &Scope,
        id: &str,
    ) -> Result<Value, NeutronError> {
        match self
            .store
            .neutron_get(NeutronKind::SecurityGroupRule, id)
            .await?
        {
            Some(r) if self.rule_visible(scope, &r).await? => Ok(r),
            _ => Err(NeutronError::rule_not_found(id)),
        }
    }

    pub async fn list_security_group_rules(
        &self,
        scope: &Scope,
        q: &ListQuery,
    ) -> Result<Page, NeutronError> {
        RULE_LISTING.check(q)?;
        self.ensure_default_for(scope).await?;
        let filter = sql_filter(scope, NeutronKind::SecurityGroupRule, q);
        let rules = self
            .store
            .neutron_list(NeutronKind::SecurityGroupRule, &filter)
            .await?;
        RULE_LISTING.apply(rules, q)
    }

    /// Only a rule's description may change.
    pub async fn update_security_group_rule(
        &self,
        scope: &Scope,
        id: &str,
        body: Value,
    ) -> Result<Value, NeutronError> {
        let map = check("security_group_rule", body, RULE_ATTRS, Op::Update)?;
        let mut tx = self.store.neutron_tx().await?;
        let mut rule = match tx.lock(NeutronKind::SecurityGroupRule, id).await? {
            Some(r) if self.rule_visible(scope, &r).await? => r,
            _ => return Err(NeutronError::rule_not_found(id)),
        };
        if let Some(v) = map.get("description") {
            rule["description"] = json!(string("description", v, 255)?);
        }
        touch(&mut rule);
        tx.update(NeutronKind::SecurityGroupRule, &rule, &[])
            .await?;
        tx.commit().await?;
        Ok(rule)
    }

    pub async fn delete_security_group_rule(
        &self,
        scope: &Scope,
        id: &str,
    ) -> Result<(), NeutronError> {
        let mut tx = self.store.neutron_tx().await?;
        let rule = match tx.lock(NeutronKind::SecurityGroupRule, id).await? {
            Some(r) if self.rule_visible(scope, &r).await? => r,
            _ => return Err(NeutronError::rule_not_found(id)),
        };
        let rule = SecurityGroupRule::from_doc(&rule)?;
        let jobs = self
            .group_jobs(&mut tx, &rule.security_group_id, &rule.project_id, None)
            .await?;
        tx.delete(NeutronKind::SecurityGroupRule, id, &jobs).await?;
        tx.commit().await?;
        Ok(())
    }
}

pub(super) fn rule_exists(id: &str) -> NeutronError {
    NeutronError::conflict(
        "SecurityGroupRuleExists",
        format!("Security group rule already exists. Rule id is {id}."),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(v: Value) -> Result<Rule, NeutronError> {
        Neutron::parse_rule(v.as_object().unwrap_or(&serde_json::Map::new()))
    }

    #[test]
    fn rule_validation() {
        let ok = |v: Value| rule(v.clone()).unwrap_or_else(|e| panic!("{v}: {e}"));
        let kind = |v: Value| rule(v).err().map(|e| e.kind);
        ok(
            json!({"direction": "ingress", "protocol": "tcp", "port_range_min": 22, "port_range_max": 22}),
        );
        ok(json!({"direction": "ingress", "protocol": "6"}));
        ok(
            json!({"direction": "ingress", "protocol": "icmp", "port_range_min": 8, "port_range_max": 0}),
        );
        ok(json!({"direction": "egress", "ethertype": "ipv6", "remote_ip_prefix": "::/0"}));
        assert_eq!(
            kind(json!({"direction": "ingress", "port_range_min": 22})).as_deref(),
            Some("SecurityGroupProtocolRequiredWithPorts")
        );
        assert_eq!(
            kind(json!({"direction": "ingress", "protocol": "tcp", "port_range_min": 30, "port_range_max": 20})).as_deref(),
            Some("SecurityGroupInvalidPortRange")
        );
        assert_eq!(
            kind(json!({"direction": "ingress", "protocol": "tcp", "port_range_min": 0, "port_range_max": 20})).as_deref(),
            Some("SecurityGroupInvalidPortValue")
        );
        assert_eq!(
            kind(json!({"direction": "ingress", "protocol": "icmp", "port_range_min": 300}))
                .as_deref(),
            Some("SecurityGroupInvalidIcmpValue")
        );
        assert_eq!(
            kind(json!({"direction": "ingress", "protocol": "foo"})).as_deref(),
            Some("SecurityGroupRuleInvalidProtocol")
        );
        assert_eq!(
            kind(json!({"direction": "ingress", "remote_ip_prefix": "10.0.0.0/8", "remote_group_id": "0b2f6a1e-3c34-4f57-9e0a-3a9b0e9e7c11"})).as_deref(),
            Some("SecurityGroupRemoteGroupAndRemoteIpPrefix")
        );
        assert_eq!(
            kind(json!({"direction": "ingress", "remote_ip_prefix": "::/0"})).as_deref(),
            Some("SecurityGroupRuleParameterConflict")
        );
        assert_eq!(
            kind(json!({"direction": "ingress", "protocol": "ipv6-icmp"})).as_deref(),
            Some("SecurityGroupEthertypeConflictWithProtocol")
        );
        assert_eq!(
            kind(json!({"direction": "up"})).as_deref(),
            Some("HTTPBadRequest")
        );
        assert_eq!(kind(json!({})).as_deref(), Some("HTTPBadRequest"));
        // tcp and 6 are the same rule; a /0 prefix is no prefix.
        let a = ok(json!({"direction": "ingress", "protocol": "tcp"}));
        let b =
            ok(json!({"direction": "ingress", "protocol": "6", "remote_ip_prefix": "0.0.0.0/0"}));
        assert_eq!(a.key(), b.key());
    }
}
