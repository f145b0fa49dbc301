//! Extensions, availability zones, quotas and the tag sub-resource.

use axum::http::StatusCode;
use serde_json::{json, Value};

use super::error::{NResult, NeutronError};
use super::model::{py_str, touch, Kind, State};
use super::{Ctx, Reply};

/// `(alias, name, description)` of every extension the pod serves.
const EXTENSIONS: [(&str, &str, &str); 27] = [
    ("agent", "agent", "The agent management extension."),
    ("allowed-address-pairs", "Allowed Address Pairs", "Provides allowed address pairs"),
    ("availability_zone", "Availability Zone", "The availability zone extension."),
    ("binding", "Port Binding", "Expose port bindings of a virtual port to external application"),
    ("dns-integration", "DNS Integration", "Provides integration with DNS."),
    ("external-net", "Neutron external network", "Adds external network attribute to network resource."),
    ("ext-gw-mode", "Neutron L3 Configurable external gateway mode", "Extension of the router abstraction for specifying whether SNAT should occur on the external gateway"),
    ("extra_dhcp_opt", "Neutron Extra DHCP options", "Extra options configuration for DHCP. For example PXE boot options to DHCP clients can be specified (e.g. tftp-server, server-ip-address, bootfile-name)"),
    ("extraroute", "Neutron Extra Route", "Extra routes configuration for L3 router"),
    ("filter-validation", "Filter parameters validation", "Provides validation on filter parameters."),
    ("fip-port-details", "Floating IP Port Details Extension", "Add port_details attribute to Floating IP resource"),
    ("net-mtu", "Network MTU", "Provides MTU attribute for a network resource."),
    ("network_availability_zone", "Network Availability Zone", "Availability zone support for network."),
    ("pagination", "Pagination support", "Extension that indicates that pagination is enabled."),
    ("port-security", "Port Security", "Provides port security"),
    ("project-id", "project_id field enabled", "Extension that indicates that project_id field is enabled."),
    ("provider", "Provider Network", "Expose mapping of virtual networks to physical networks"),
    ("quotas", "Quota management support", "Expose functions for quotas management per tenant"),
    ("router", "Neutron L3 Router", "Router abstraction for basic L3 forwarding between L2 Neutron networks and access to external networks via a NAT gateway."),
    ("router_availability_zone", "Router Availability Zone", "Availability zone support for router."),
    ("security-group", "security-group", "The security groups extension."),
    ("sorting", "Sorting support", "Extension that indicates that sorting is enabled."),
    ("standard-attr-description", "standard-attr-description", "Extension to add descriptions to standard attributes"),
    ("standard-attr-revisions", "Resource revision numbers", "This extension will display the revision number of neutron resources."),
    ("standard-attr-tag", "Tag support for resources with standard attribute: subnet, trunk, network_segment_range, router, network, policy, subnetpool, port, security_group, floatingip", "Enables to set tag on resources with standard attribute."),
    ("standard-attr-timestamp", "Resource timestamps", "Adds created_at and updated_at fields to all Neutron resources that have Neutron standard attributes."),
    ("stateful-security-group", "Stateful security group", "Indicates if the security group is stateful or not"),
];

fn extension_doc(alias: &str, name: &str, description: &str) -> Value {
    json!({
        "alias": alias,
        "name": name,
        "description": description,
        "updated": "2013-01-01T10:00:00-00:00",
        "links": [],
    })
}

pub(super) fn extensions() -> Value {
    let list: Vec<Value> = EXTENSIONS
        .iter()
        .map(|(a, n, d)| extension_doc(a, n, d))
        .collect();
    json!({"extensions": list})
}

pub(super) fn extension(alias: &str) -> NResult<Value> {
    EXTENSIONS
        .iter()
        .find(|(a, _, _)| *a == alias)
        .map(|(a, n, d)| json!({"extension": extension_doc(a, n, d)}))
        .ok_or_else(|| {
            NeutronError::not_found(
                "HTTPNotFound",
                format!("Extension with alias {alias} does not exist"),
            )
        })
}

pub(super) fn availability_zones(ctx: &Ctx) -> Value {
    json!({"availability_zones": [
        {"name": ctx.az, "resource": "network", "state": "available"},
        {"name": ctx.az, "resource": "router", "state": "available"},
    ]})
}

/// Neutron's default quotas.
fn quota_doc() -> Value {
    json!({
        "network": 100,
        "subnet": 100,
        "subnetpool": -1,
        "port": 500,
        "router": 10,
        "floatingip": 50,
        "security_group": 10,
        "security_group_rule": 100,
        "rbac_policy": 10,
    })
}

pub(super) fn quotas(ctx: &Ctx) -> NResult<Value> {
    if !ctx.is_admin {
        return Err(NeutronError::policy("rule:get_quota"));
    }
    Ok(json!({"quotas": []}))
}

pub(super) fn quota(ctx: &Ctx, project: &str) -> NResult<Value> {
    if !ctx.is_admin && project != ctx.project_id {
        return Err(NeutronError::policy("rule:get_quota"));
    }
    Ok(json!({"quota": quota_doc()}))
}

/// The `tags` sub-resource: `GET|PUT|DELETE /<collection>/<id>/tags[/<tag>]`.
pub(super) fn tags(
    st: &mut State,
    ctx: &Ctx,
    kind: Kind,
    id: &str,
    method: &str,
    tag: Option<&str>,
    body: &Value,
) -> NResult<Reply> {
    let r = st.visible(ctx, kind, id)?;
    let current: Vec<String> = r
        .get("tags")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(py_str)
        .collect();
    let tag_missing = |t: &str| {
        NeutronError::not_found(
            "TagNotFound",
            format!("Tag {t} could not be found for {} {id}.", kind.resource()),
        )
    };
    if method != "GET" {
        ctx.check_owner("update", kind, r)?;
    }
    let new_tags: Vec<String> = match (method, tag) {
        ("GET", None) => return Ok(Reply::ok(json!({"tags": current}))),
        ("GET", Some(t)) => {
            return if current.iter().any(|c| c == t) {
                Ok(Reply::no_content())
            } else {
                Err(tag_missing(t))
            }
        }
        ("PUT", None) => {
            let Some(list) = body.get("tags").and_then(Value::as_array) else {
                return Err(NeutronError::bad_request(
                    "Invalid input for tags. Reason: a list of tags is required.",
                ));
            };
            let mut out: Vec<String> = Vec::new();
            for t in list {
                let Some(t) = t.as_str().filter(|t| !t.is_empty() && t.len() <= 255) else {
                    return Err(NeutronError::bad_request(format!(
                        "Invalid input for tags. Reason: '{}' is not a valid string.",
                        py_str(t)
                    )));
                };
                if !out.iter().any(|o| o == t) {
                    out.push(t.to_string());
                }
            }
            out
        }
        ("PUT", Some(t)) => {
            let mut out = current.clone();
            if !out.iter().any(|o| o == t) {
                out.push(t.to_string());
            }
            out
        }
        ("DELETE", None) => Vec::new(),
        ("DELETE", Some(t)) => {
            if !current.iter().any(|c| c == t) {
                return Err(tag_missing(t));
            }
            current.iter().filter(|c| *c != t).cloned().collect()
        }
        _ => return Err(NeutronError::method_not_allowed()),
    };
    if let Some(r) = st.get_mut(kind, id) {
        r.insert("tags".into(), json!(new_tags));
        touch(r);
    }
    Ok(match (method, tag) {
        ("PUT", None) => Reply::ok(json!({"tags": new_tags})),
        ("PUT", Some(_)) => Reply {
            status: StatusCode::CREATED,
            body: None,
        },
        _ => Reply::no_content(),
    })
}
