//! The pod's Neutron state: every resource is kept as the JSON object an
//! admin would see (neutron's attribute maps are data too), in creation
//! order. Per-resource modules hold the behaviour; [`attrs`] says which
//! attributes exist, who may set and see them, and their types.

use chrono::Utc;
use serde_json::{json, Map, Value};

use super::error::NeutronError;
use super::Ctx;

/// One resource, as an admin sees it.
pub(crate) type Record = Map<String, Value>;

/// The resource types under `/v2.0`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Kind {
    Network,
    Subnet,
    Port,
    SecurityGroup,
    SecurityGroupRule,
    Router,
    FloatingIp,
}

impl Kind {
    pub const ALL: [Kind; 7] = [
        Kind::Network,
        Kind::Subnet,
        Kind::Port,
        Kind::SecurityGroup,
        Kind::SecurityGroupRule,
        Kind::Router,
        Kind::FloatingIp,
    ];

    /// The member key in bodies (`network`).
    pub fn resource(self) -> &'static str {
        match self {
            Kind::Network => "network",
            Kind::Subnet => "subnet",
            Kind::Port => "port",
            Kind::SecurityGroup => "security_group",
            Kind::SecurityGroupRule => "security_group_rule",
            Kind::Router => "router",
            Kind::FloatingIp => "floatingip",
        }
    }

    /// The collection key in bodies (`security_groups`).
    pub fn collection(self) -> &'static str {
        match self {
            Kind::Network => "networks",
            Kind::Subnet => "subnets",
            Kind::Port => "ports",
            Kind::SecurityGroup => "security_groups",
            Kind::SecurityGroupRule => "security_group_rules",
            Kind::Router => "routers",
            Kind::FloatingIp => "floatingips",
        }
    }

    /// The collection in URLs (`security-groups`).
    pub fn path(self) -> &'static str {
        match self {
            Kind::SecurityGroup => "security-groups",
            Kind::SecurityGroupRule => "security-group-rules",
            other => other.collection(),
        }
    }

    pub fn from_path(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.path() == s)
    }

    pub fn not_found(self, id: &str) -> NeutronError {
        match self {
            Kind::Network => NeutronError::network_not_found(id),
            Kind::Subnet => NeutronError::subnet_not_found(id),
            Kind::Port => NeutronError::port_not_found(id),
            Kind::SecurityGroup => NeutronError::security_group_not_found(id),
            Kind::SecurityGroupRule => NeutronError::security_group_rule_not_found(id),
            Kind::Router => NeutronError::router_not_found(id),
            Kind::FloatingIp => NeutronError::floating_ip_not_found(id),
        }
    }

    pub fn attrs(self) -> &'static [Attr] {
        match self {
            Kind::Network => attrs::NETWORK,
            Kind::Subnet => attrs::SUBNET,
            Kind::Port => attrs::PORT,
            Kind::SecurityGroup => attrs::SECURITY_GROUP,
            Kind::SecurityGroupRule => attrs::SECURITY_GROUP_RULE,
            Kind::Router => attrs::ROUTER,
            Kind::FloatingIp => attrs::FLOATINGIP,
        }
    }

    pub fn attr(self, name: &str) -> Option<&'static Attr> {
        self.attrs().iter().find(|a| a.name == name)
    }
}

/// An attribute's type: how a body value is converted and checked, and
/// how a filter value is compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ty {
    Str,
    OptStr,
    Bool,
    Int,
    OptInt,
    Uuid,
    OptUuid,
    List,
    Dict,
    OptDict,
}

/// One entry of a resource's attribute map.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Attr {
    pub name: &'static str,
    pub ty: Ty,
    flags: u8,
}

const POST: u8 = 1;
const PUT: u8 = 2;
const REQUIRED: u8 = 4;
/// Only an admin may set it (else 403).
const ADMIN_SET: u8 = 8;
/// Only an admin sees it (policy strips it for others).
const ADMIN_SEE: u8 = 16;
/// Not usable as a list filter or sort key.
const NO_FILTER: u8 = 32;

const fn a(name: &'static str, ty: Ty, flags: u8) -> Attr {
    Attr { name, ty, flags }
}

impl Attr {
    pub fn post(&self) -> bool {
        self.flags & POST != 0
    }
    pub fn put(&self) -> bool {
        self.flags & PUT != 0
    }
    pub fn required(&self) -> bool {
        self.flags & REQUIRED != 0
    }
    pub fn admin_set(&self) -> bool {
        self.flags & ADMIN_SET != 0
    }
    pub fn admin_see(&self) -> bool {
        self.flags & ADMIN_SEE != 0
    }
    pub fn filter(&self) -> bool {
        self.flags & NO_FILTER == 0
    }
}

/// The attribute maps (core definitions plus the extensions this pod
/// advertises).
pub(crate) mod attrs {
    use super::{a, Attr, Ty, ADMIN_SEE, ADMIN_SET, NO_FILTER, POST, PUT, REQUIRED};

    const RW: u8 = POST | PUT;
    const RO: u8 = 0;

    pub const NETWORK: &[Attr] = &[
        a("id", Ty::Uuid, RO),
        a("name", Ty::Str, RW),
        a("admin_state_up", Ty::Bool, RW),
        a("status", Ty::Str, RO),
        a("subnets", Ty::List, RO),
        a("tenant_id", Ty::Str, POST),
        a("project_id", Ty::Str, POST),
        a("shared", Ty::Bool, RW | ADMIN_SET),
        a("router:external", Ty::Bool, RW | ADMIN_SET),
        a("mtu", Ty::Int, RW),
        a("port_security_enabled", Ty::Bool, RW),
        a("availability_zone_hints", Ty::List, POST | NO_FILTER),
        a("availability_zones", Ty::List, NO_FILTER),
        a("ipv4_address_scope", Ty::OptUuid, RO),
        a("ipv6_address_scope", Ty::OptUuid, RO),
        a("l2_adjacency", Ty::Bool, RO),
        a("is_default", Ty::Bool, RO),
        a("description", Ty::Str, RW),
        a("tags", Ty::List, POST),
        a("created_at", Ty::Str, RO),
        a("updated_at", Ty::Str, RO),
        a("revision_number", Ty::Int, RO),
        a(
            "provider:network_type",
            Ty::OptStr,
            RW | ADMIN_SET | ADMIN_SEE,
        ),
        a(
            "provider:physical_network",
            Ty::OptStr,
            RW | ADMIN_SET | ADMIN_SEE,
        ),
        a(
            "provider:segmentation_id",
            Ty::OptInt,
            RW | ADMIN_SET | ADMIN_SEE,
        ),
    ];

    pub const SUBNET: &[Attr] = &[
        a("id", Ty::Uuid, RO),
        a("name", Ty::Str, RW),
        a("ip_version", Ty::Int, POST | REQUIRED),
        a("network_id", Ty::Uuid, POST | REQUIRED),
        a("subnetpool_id", Ty::OptUuid, POST),
        a("prefixlen", Ty::OptInt, POST | NO_FILTER),
        a("cidr", Ty::OptStr, POST),
        a("gateway_ip", Ty::OptStr, RW),
        a("allocation_pools", Ty::List, RW | NO_FILTER),
        a("dns_nameservers", Ty::List, RW),
        a("host_routes", Ty::List, RW | NO_FILTER),
        a("tenant_id", Ty::Str, POST),
        a("project_id", Ty::Str, POST),
        a("enable_dhcp", Ty::Bool, RW),
        a("ipv6_ra_mode", Ty::OptStr, POST),
        a("ipv6_address_mode", Ty::OptStr, POST),
        a("service_types", Ty::List, RW),
        a("segment_id", Ty::OptUuid, RO),
        a("description", Ty::Str, RW),
        a("tags", Ty::List, POST),
        a("created_at", Ty::Str, RO),
        a("updated_at", Ty::Str, RO),
        a("revision_number", Ty::Int, RO),
    ];

    pub const PORT: &[Attr] = &[
        a("id", Ty::Uuid, RO),
        a("name", Ty::Str, RW),
        a("network_id", Ty::Uuid, POST | REQUIRED),
        a("admin_state_up", Ty::Bool, RW),
        a("mac_address", Ty::Str, RW),
        a("fixed_ips", Ty::List, RW),
        a("device_id", Ty::Str, RW),
        a("device_owner", Ty::Str, RW),
        a("tenant_id", Ty::Str, POST),
        a("project_id", Ty::Str, POST),
        a("status", Ty::Str, RO),
        a("security_groups", Ty::List, RW),
        a("allowed_address_pairs", Ty::List, RW | NO_FILTER),
        a("extra_dhcp_opts", Ty::List, RW | NO_FILTER),
        a("port_security_enabled", Ty::Bool, RW),
        a("dns_name", Ty::Str, RW),
        a("dns_assignment", Ty::List, NO_FILTER),
        a("ip_allocation", Ty::Str, RO),
        a("binding:host_id", Ty::Str, RW | ADMIN_SET | ADMIN_SEE),
        a(
            "binding:profile",
            Ty::OptDict,
            RW | ADMIN_SET | ADMIN_SEE | NO_FILTER,
        ),
        a("binding:vnic_type", Ty::Str, RW),
        a("binding:vif_type", Ty::Str, ADMIN_SEE),
        a("binding:vif_details", Ty::Dict, ADMIN_SEE | NO_FILTER),
        a("description", Ty::Str, RW),
        a("tags", Ty::List, POST),
        a("created_at", Ty::Str, RO),
        a("updated_at", Ty::Str, RO),
        a("revision_number", Ty::Int, RO),
    ];

    pub const SECURITY_GROUP: &[Attr] = &[
        a("id", Ty::Uuid, RO),
        a("name", Ty::Str, RW),
        a("description", Ty::Str, RW),
        a("tenant_id", Ty::Str, POST),
        a("project_id", Ty::Str, POST),
        a("stateful", Ty::Bool, RW),
        a("shared", Ty::Bool, RO),
        a("security_group_rules", Ty::List, NO_FILTER),
        a("tags", Ty::List, POST),
        a("created_at", Ty::Str, RO),
        a("updated_at", Ty::Str, RO),
        a("revision_number", Ty::Int, RO),
    ];

    pub const SECURITY_GROUP_RULE: &[Attr] = &[
        a("id", Ty::Uuid, RO),
        a("security_group_id", Ty::Uuid, POST | REQUIRED),
        a("direction", Ty::Str, POST | REQUIRED),
        a("ethertype", Ty::Str, POST),
        a("protocol", Ty::OptStr, POST),
        a("port_range_min", Ty::OptInt, POST),
        a("port_range_max", Ty::OptInt, POST),
        a("remote_ip_prefix", Ty::OptStr, POST),
        a("normalized_cidr", Ty::OptStr, RO),
        a("remote_group_id", Ty::OptUuid, POST),
        a("remote_address_group_id", Ty::OptUuid, RO),
        a("belongs_to_default_sg", Ty::Bool, RO),
        a("tenant_id", Ty::Str, POST),
        a("project_id", Ty::Str, POST),
        a("description", Ty::Str, POST),
        a("created_at", Ty::Str, RO),
        a("updated_at", Ty::Str, RO),
        a("revision_number", Ty::Int, RO),
    ];

    pub const ROUTER: &[Attr] = &[
        a("id", Ty::Uuid, RO),
        a("name", Ty::Str, RW),
        a("admin_state_up", Ty::Bool, RW),
        a("status", Ty::Str, RO),
        a("tenant_id", Ty::Str, POST),
        a("project_id", Ty::Str, POST),
        a("external_gateway_info", Ty::OptDict, RW | NO_FILTER),
        a("routes", Ty::List, PUT | NO_FILTER),
        a("distributed", Ty::Bool, RW | ADMIN_SET | ADMIN_SEE),
        a("ha", Ty::Bool, RW | ADMIN_SET | ADMIN_SEE),
        a("availability_zone_hints", Ty::List, POST | NO_FILTER),
        a("availability_zones", Ty::List, NO_FILTER),
        a("flavor_id", Ty::OptUuid, POST),
        a("description", Ty::Str, RW),
        a("tags", Ty::List, POST),
        a("created_at", Ty::Str, RO),
        a("updated_at", Ty::Str, RO),
        a("revision_number", Ty::Int, RO),
    ];

    pub const FLOATINGIP: &[Attr] = &[
        a("id", Ty::Uuid, RO),
        a("floating_ip_address", Ty::OptStr, POST),
        a("floating_network_id", Ty::Uuid, POST | REQUIRED),
        a("subnet_id", Ty::OptUuid, POST | NO_FILTER),
        a("router_id", Ty::OptUuid, RO),
        a("port_id", Ty::OptUuid, RW),
        a("fixed_ip_address", Ty::OptStr, RW),
        a("status", Ty::Str, RO),
        a("tenant_id", Ty::Str, POST),
        a("project_id", Ty::Str, POST),
        a("port_details", Ty::OptDict, NO_FILTER),
        a("port_forwardings", Ty::List, NO_FILTER),
        a("qos_policy_id", Ty::OptUuid, RO),
        a("description", Ty::Str, RW),
        a("tags", Ty::List, POST),
        a("created_at", Ty::Str, RO),
        a("updated_at", Ty::Str, RO),
        a("revision_number", Ty::Int, RO),
    ];
}

/// Everything one pod's Neutron holds.
#[derive(Debug, Clone, Default)]
pub(crate) struct State {
    pub networks: Vec<Record>,
    pub subnets: Vec<Record>,
    pub ports: Vec<Record>,
    pub security_groups: Vec<Record>,
    pub security_group_rules: Vec<Record>,
    pub routers: Vec<Record>,
    pub floatingips: Vec<Record>,
}

impl State {
    pub fn list(&self, kind: Kind) -> &Vec<Record> {
        match kind {
            Kind::Network => &self.networks,
            Kind::Subnet => &self.subnets,
            Kind::Port => &self.ports,
            Kind::SecurityGroup => &self.security_groups,
            Kind::SecurityGroupRule => &self.security_group_rules,
            Kind::Router => &self.routers,
            Kind::FloatingIp => &self.floatingips,
        }
    }

    pub fn list_mut(&mut self, kind: Kind) -> &mut Vec<Record> {
        match kind {
            Kind::Network => &mut self.networks,
            Kind::Subnet => &mut self.subnets,
            Kind::Port => &mut self.ports,
            Kind::SecurityGroup => &mut self.security_groups,
            Kind::SecurityGroupRule => &mut self.security_group_rules,
            Kind::Router => &mut self.routers,
            Kind::FloatingIp => &mut self.floatingips,
        }
    }

    pub fn get(&self, kind: Kind, id: &str) -> Option<&Record> {
        self.list(kind).iter().find(|r| s(r, "id") == id)
    }

    pub fn get_mut(&mut self, kind: Kind, id: &str) -> Option<&mut Record> {
        self.list_mut(kind).iter_mut().find(|r| s(r, "id") == id)
    }

    pub fn remove(&mut self, kind: Kind, id: &str) -> Option<Record> {
        let list = self.list_mut(kind);
        let pos = list.iter().position(|r| s(r, "id") == id)?;
        Some(list.remove(pos))
    }

    /// The record if the caller may see it, else the type's 404.
    pub fn visible(&self, ctx: &Ctx, kind: Kind, id: &str) -> Result<&Record, NeutronError> {
        match self.get(kind, id) {
            Some(r) if self.can_see(ctx, kind, r) => Ok(r),
            _ => Err(kind.not_found(id)),
        }
    }

    /// The `get_<resource>` policy: owner, admin, and what is shared.
    pub fn can_see(&self, ctx: &Ctx, kind: Kind, r: &Record) -> bool {
        if ctx.is_admin || s(r, "project_id") == ctx.project_id {
            return true;
        }
        let net_of = |r: &Record| self.get(Kind::Network, s(r, "network_id"));
        match kind {
            Kind::Network => b(r, "shared") || b(r, "router:external"),
            // `get_subnet` is owner or shared: an external network's
            // subnets are not shown to other projects.
            Kind::Subnet => net_of(r).is_some_and(|n| b(n, "shared")),
            Kind::Port => net_of(r).is_some_and(|n| s(n, "project_id") == ctx.project_id),
            Kind::SecurityGroupRule => self
                .get(Kind::SecurityGroup, s(r, "security_group_id"))
                .is_some_and(|g| s(g, "project_id") == ctx.project_id),
            _ => false,
        }
    }

    /// Ports with a fixed IP on `subnet_id`.
    pub fn ports_on_subnet<'a>(&'a self, subnet_id: &'a str) -> impl Iterator<Item = &'a Record> {
        self.ports.iter().filter(move |p| {
            fixed_ips(p)
                .iter()
                .any(|f| f["subnet_id"].as_str() == Some(subnet_id))
        })
    }
}

/// A string attribute, `""` when absent or not a string.
pub(crate) fn s<'a>(r: &'a Record, key: &str) -> &'a str {
    r.get(key).and_then(Value::as_str).unwrap_or("")
}

/// A boolean attribute, `false` when absent.
pub(crate) fn b(r: &Record, key: &str) -> bool {
    r.get(key).and_then(Value::as_bool).unwrap_or(false)
}

/// A port's `fixed_ips` entries.
pub(crate) fn fixed_ips(r: &Record) -> Vec<Value> {
    r.get("fixed_ips")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

/// Neutron's timestamp format (`2026-01-02T03:04:05Z`).
pub(crate) fn now() -> String {
    Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

pub(crate) fn new_uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// The standard attributes every new resource starts with.
pub(crate) fn new_record(project_id: &str) -> Record {
    let t = now();
    let mut r = Map::new();
    r.insert("id".into(), json!(new_uuid()));
    r.insert("tenant_id".into(), json!(project_id));
    r.insert("project_id".into(), json!(project_id));
    r.insert("description".into(), json!(""));
    r.insert("tags".into(), json!([]));
    r.insert("created_at".into(), json!(t));
    r.insert("updated_at".into(), json!(t));
    r.insert("revision_number".into(), json!(0));
    r
}

/// A change: bumps `revision_number` and `updated_at`.
pub(crate) fn touch(r: &mut Record) {
    let rev = r
        .get("revision_number")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    r.insert("revision_number".into(), json!(rev + 1));
    r.insert("updated_at".into(), json!(now()));
}

/// Copies each of `keys` present in `from` into `to`.
pub(crate) fn copy_keys(to: &mut Record, from: &Record, keys: &[&str]) {
    for k in keys {
        if let Some(v) = from.get(*k) {
            to.insert((*k).to_string(), v.clone());
        }
    }
}

/// The record as `ctx` may see it: attributes reserved to admins removed.
pub(crate) fn view(ctx: &Ctx, kind: Kind, r: &Record) -> Value {
    let mut out = r.clone();
    if !ctx.is_admin {
        for attr in kind.attrs().iter().filter(|a| a.admin_see()) {
            out.remove(attr.name);
        }
    }
    Value::Object(out)
}

/// Python's `repr` of a list of strings: `['a', 'b']`.
pub(crate) fn py_list(items: &[&str]) -> String {
    let inner: Vec<String> = items.iter().map(|i| format!("'{i}'")).collect();
    format!("[{}]", inner.join(", "))
}

/// A JSON value as Python's `%s` would print it in a message.
pub(crate) fn py_str(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Null => "None".into(),
        other => other.to_string(),
    }
}
