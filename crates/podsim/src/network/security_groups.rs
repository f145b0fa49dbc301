//! Security groups and their rules. Every project gets a `default` group
//! on first use (two egress rules, and two ingress rules from members of
//! the group itself); new groups start with the two egress rules.

use serde_json::{json, Value};

use super::error::{NResult, NeutronError};
use super::ipam::Cidr;
use super::model::{copy_keys, new_record, py_list, py_str, s, touch, Kind, Record, State};
use super::Ctx;

const PROTOCOLS: [&str; 24] = [
    "ah",
    "dccp",
    "egp",
    "esp",
    "gre",
    "hopopt",
    "icmp",
    "igmp",
    "ipip",
    "ipv6-encap",
    "ipv6-frag",
    "ipv6-icmp",
    "icmpv6",
    "ipv6-nonxt",
    "ipv6-opts",
    "ipv6-route",
    "ospf",
    "pgm",
    "rsvp",
    "sctp",
    "tcp",
    "udp",
    "udplite",
    "vrrp",
];
/// Protocols whose port range is a range of ports.
const PORT_PROTOCOLS: [&str; 10] = [
    "tcp", "udp", "sctp", "dccp", "udplite", "6", "17", "132", "33", "136",
];
const ICMP_PROTOCOLS: [&str; 6] = ["icmp", "icmpv6", "ipv6-icmp", "1", "58", "legacy-icmp"];

fn new_rule(
    project: &str,
    group: &str,
    direction: &str,
    ethertype: &str,
    remote_group: Option<&str>,
    in_default: bool,
) -> Record {
    let mut r = new_record(project);
    r.insert("security_group_id".into(), json!(group));
    r.insert("direction".into(), json!(direction));
    r.insert("ethertype".into(), json!(ethertype));
    r.insert("protocol".into(), Value::Null);
    r.insert("port_range_min".into(), Value::Null);
    r.insert("port_range_max".into(), Value::Null);
    r.insert("remote_ip_prefix".into(), Value::Null);
    r.insert("normalized_cidr".into(), Value::Null);
    r.insert("remote_group_id".into(), json!(remote_group));
    r.insert("remote_address_group_id".into(), Value::Null);
    r.insert("belongs_to_default_sg".into(), json!(in_default));
    r
}

/// Refreshes the copy of a group's rules kept in the group.
fn sync_rules(st: &mut State, group_id: &str) {
    let rules: Vec<Value> = st
        .security_group_rules
        .iter()
        .filter(|r| s(r, "security_group_id") == group_id)
        .map(|r| Value::Object(r.clone()))
        .collect();
    if let Some(g) = st.get_mut(Kind::SecurityGroup, group_id) {
        g.insert("security_group_rules".into(), Value::Array(rules));
    }
}

fn insert_group(st: &mut State, project: &str, name: &str, description: &str) -> String {
    let mut g = new_record(project);
    g.insert("name".into(), json!(name));
    g.insert("description".into(), json!(description));
    g.insert("stateful".into(), json!(true));
    g.insert("shared".into(), json!(false));
    g.insert("security_group_rules".into(), json!([]));
    let id = s(&g, "id").to_string();
    st.security_groups.push(g);
    let is_default = name == "default";
    for ethertype in ["IPv4", "IPv6"] {
        if is_default {
            st.security_group_rules.push(new_rule(
                project,
                &id,
                "ingress",
                ethertype,
                Some(&id),
                true,
            ));
        }
        st.security_group_rules.push(new_rule(
            project, &id, "egress", ethertype, None, is_default,
        ));
    }
    sync_rules(st, &id);
    id
}

/// The id of `project`'s `default` group, made on first use.
pub(super) fn ensure_default(st: &mut State, project: &str) -> String {
    let existing = st
        .security_groups
        .iter()
        .find(|g| s(g, "project_id") == project && s(g, "name") == "default");
    if let Some(g) = existing {
        return s(g, "id").to_string();
    }
    insert_group(st, project, "default", "Default security group")
}

pub(super) fn create(st: &mut State, _ctx: &Ctx, res: Record) -> NResult<String> {
    let project = s(&res, "project_id").to_string();
    ensure_default(st, &project);
    if s(&res, "name") == "default" {
        return Err(NeutronError::conflict(
            "SecurityGroupDefaultAlreadyExists",
            "Default security group already exists.",
        ));
    }
    let id = insert_group(st, &project, s(&res, "name"), s(&res, "description"));
    if let Some(g) = st.get_mut(Kind::SecurityGroup, &id) {
        copy_keys(g, &res, &["stateful", "tags"]);
    }
    Ok(id)
}

pub(super) fn update(st: &mut State, id: &str, res: Record) -> NResult<()> {
    let Some(g) = st.get_mut(Kind::SecurityGroup, id) else {
        return Err(Kind::SecurityGroup.not_found(id));
    };
    if s(g, "name") == "default" && res.get("name").is_some_and(|n| n != "default") {
        return Err(NeutronError::conflict(
            "SecurityGroupCannotUpdateDefault",
            "Updating default security group not allowed.",
        ));
    }
    copy_keys(g, &res, &["name", "description", "stateful"]);
    touch(g);
    Ok(())
}

pub(super) fn delete(st: &mut State, ctx: &Ctx, id: &str) -> NResult<()> {
    let g = st
        .get(Kind::SecurityGroup, id)
        .ok_or_else(|| Kind::SecurityGroup.not_found(id))?;
    if s(g, "name") == "default" && !ctx.is_admin {
        return Err(NeutronError::conflict(
            "SecurityGroupCannotRemoveDefault",
            "Insufficient rights for removing default security group.",
        ));
    }
    let in_use = st.ports.iter().any(|p| {
        p.get("security_groups")
            .and_then(Value::as_array)
            .is_some_and(|a| a.iter().any(|g| g.as_str() == Some(id)))
    });
    if in_use {
        return Err(NeutronError::conflict(
            "SecurityGroupInUse",
            format!("Security Group {id} in use."),
        ));
    }
    st.remove(Kind::SecurityGroup, id);
    let touched: Vec<String> = st
        .security_group_rules
        .iter()
        .filter(|r| s(r, "remote_group_id") == id)
        .map(|r| s(r, "security_group_id").to_string())
        .collect();
    st.security_group_rules
        .retain(|r| s(r, "security_group_id") != id && s(r, "remote_group_id") != id);
    for g in touched {
        sync_rules(st, &g);
    }
    Ok(())
}

fn typed(kind: &str, msg: String) -> NeutronError {
    NeutronError::typed_invalid_input(kind, &msg)
}

/// `convert_protocol`: a known name (lower case) or `0`..`255`.
fn check_protocol(v: &Value) -> NResult<Value> {
    if v.is_null() {
        return Ok(Value::Null);
    }
    let p = py_str(v).to_ascii_lowercase();
    if p == "any" {
        return Ok(Value::Null);
    }
    let numeric = p.parse::<u16>().is_ok_and(|n| n <= 255);
    if PROTOCOLS.contains(&p.as_str()) || numeric {
        return Ok(json!(p));
    }
    Err(typed(
        "SecurityGroupRuleInvalidProtocol",
        format!(
            "Security group rule protocol {} not supported. Only protocol values {} and \
             integer representations [0 to 255] are supported",
            py_str(v),
            py_list(&PROTOCOLS)
        ),
    ))
}

fn check_ports(protocol: Option<&str>, min: Option<i64>, max: Option<i64>) -> NResult<()> {
    if min.is_none() && max.is_none() {
        return Ok(());
    }
    let Some(protocol) = protocol else {
        return Err(typed(
            "SecurityGroupProtocolRequiredWithPorts",
            "Must also specify protocol if port range is given".into(),
        ));
    };
    if PORT_PROTOCOLS.contains(&protocol) {
        for p in [min, max].into_iter().flatten() {
            if !(1..=65535).contains(&p) {
                return Err(typed(
                    "SecurityGroupInvalidPortValue",
                    format!("Invalid value for port {p}"),
                ));
            }
        }
        if let (Some(lo), Some(hi)) = (min, max) {
            if lo > hi {
                return Err(typed(
                    "SecurityGroupInvalidPortRange",
                    "For TCP/UDP protocols, port_range_min must be <= port_range_max".into(),
                ));
            }
        }
    } else if ICMP_PROTOCOLS.contains(&protocol) {
        if min.is_none() {
            return Err(typed(
                "SecurityGroupMissingIcmpType",
                format!(
                    "ICMP code (port-range-max) {} is provided but ICMP type (port-range-min) \
                     is missing",
                    max.unwrap_or_default()
                ),
            ));
        }
        for (field, v) in [("type", min), ("code", max)] {
            if let Some(v) = v.filter(|v| !(0..=255).contains(v)) {
                return Err(typed(
                    "SecurityGroupInvalidIcmpValue",
                    format!(
                        "Invalid value for ICMP {field} (port-range-{}): {v}",
                        if field == "type" { "min" } else { "max" }
                    ),
                ));
            }
        }
    }
    Ok(())
}

const MATCH_KEYS: [&str; 8] = [
    "security_group_id",
    "direction",
    "ethertype",
    "protocol",
    "port_range_min",
    "port_range_max",
    "normalized_cidr",
    "remote_group_id",
];

pub(super) fn create_rule(st: &mut State, ctx: &Ctx, res: Record) -> NResult<String> {
    let group_id = s(&res, "security_group_id").to_string();
    let group = st
        .get(Kind::SecurityGroup, &group_id)
        .filter(|g| ctx.is_admin || s(g, "project_id") == ctx.project_id)
        .ok_or_else(|| NeutronError::security_group_not_found(&group_id))?;
    let in_default = s(group, "name") == "default";
    let direction = s(&res, "direction");
    if direction != "ingress" && direction != "egress" {
        return Err(NeutronError::bad_request(format!(
            "Invalid input for direction. Reason: '{direction}' is not in ['ingress', 'egress']."
        )));
    }
    let ethertype = match res.get("ethertype") {
        None => "IPv4".to_string(),
        Some(v) => match py_str(v).to_ascii_lowercase().as_str() {
            "ipv4" => "IPv4".to_string(),
            "ipv6" => "IPv6".to_string(),
            _ => {
                return Err(NeutronError::bad_request(format!(
                    "Invalid input for ethertype. Reason: '{}' is not in ['IPv4', 'IPv6'].",
                    py_str(v)
                )))
            }
        },
    };
    let protocol = check_protocol(res.get("protocol").unwrap_or(&Value::Null))?;
    let min = res.get("port_range_min").and_then(Value::as_i64);
    let max = res.get("port_range_max").and_then(Value::as_i64);
    check_ports(protocol.as_str(), min, max)?;
    let remote_group = res
        .get("remote_group_id")
        .and_then(Value::as_str)
        .map(str::to_string);
    let prefix = res
        .get("remote_ip_prefix")
        .and_then(Value::as_str)
        .map(str::to_string);
    if remote_group.is_some() && prefix.is_some() {
        return Err(typed(
            "SecurityGroupRemoteGroupAndRemoteIpPrefix",
            "Only remote_ip_prefix or remote_group_id may be provided".into(),
        ));
    }
    let normalized = match &prefix {
        None => None,
        Some(p) => {
            let cidr = Cidr::parse(p).ok_or_else(|| {
                NeutronError::bad_request(format!(
                    "Invalid input for remote_ip_prefix. Reason: '{p}' is not a valid IP subnet."
                ))
            })?;
            let wanted_v6 = ethertype == "IPv6";
            if cidr.ip.v6 != wanted_v6 {
                return Err(typed(
                    "SecurityGroupRuleParameterConflict",
                    format!("Conflicting value ethertype {ethertype} for CIDR {p}"),
                ));
            }
            Some(cidr.network().to_string())
        }
    };
    if let Some(rg) = &remote_group {
        if st.get(Kind::SecurityGroup, rg).is_none() {
            return Err(NeutronError::security_group_not_found(rg));
        }
    }
    let mut r = new_rule(
        s(&res, "project_id"),
        &group_id,
        direction,
        &ethertype,
        remote_group.as_deref(),
        in_default,
    );
    r.insert("protocol".into(), protocol);
    r.insert("port_range_min".into(), json!(min));
    r.insert("port_range_max".into(), json!(max));
    r.insert("remote_ip_prefix".into(), json!(prefix));
    r.insert("normalized_cidr".into(), json!(normalized));
    copy_keys(&mut r, &res, &["description"]);
    let duplicate = st
        .security_group_rules
        .iter()
        .find(|other| MATCH_KEYS.iter().all(|k| other.get(*k) == r.get(*k)));
    if let Some(d) = duplicate {
        return Err(NeutronError::conflict(
            "SecurityGroupRuleExists",
            format!(
                "Security group rule already exists. Rule id is {}.",
                s(d, "id")
            ),
        ));
    }
    let id = s(&r, "id").to_string();
    st.security_group_rules.push(r);
    sync_rules(st, &group_id);
    if let Some(g) = st.get_mut(Kind::SecurityGroup, &group_id) {
        touch(g);
    }
    Ok(id)
}

pub(super) fn delete_rule(st: &mut State, id: &str) -> NResult<()> {
    let Some(r) = st.remove(Kind::SecurityGroupRule, id) else {
        return Err(Kind::SecurityGroupRule.not_found(id));
    };
    let group = s(&r, "security_group_id").to_string();
    sync_rules(st, &group);
    if let Some(g) = st.get_mut(Kind::SecurityGroup, &group) {
        touch(g);
    }
    Ok(())
}
