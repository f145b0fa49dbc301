//! Typed views of network resources: what the domain logic reads of a
//! network, subnet, port, security group, router or floating IP.
//!
//! The store keeps each resource as its Neutron JSON document (so that
//! extension attributes pass through and list filters apply to any
//! attribute), and the API renders documents. Between the two, the logic
//! reads a document through these types: [`Resource::from_doc`] parses a
//! stored document (one of the wrong shape is a corrupt row, an internal
//! error), [`Resource::parse`] a pod's answer. A type holds only what the
//! logic reads; everything else stays in the document.
//!
//! Absent attributes take Neutron's default; a `null` where Neutron never
//! sends one is read as absent too (`str_of` used to read both as `""`);
//! a value of the wrong type is an error, never a silent default.

use std::net::IpAddr;

use ipnet::IpNet;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};
use tricircle_store::StoreError;

use crate::ipam::{self, Range};
use crate::{NeutronError, Scope};

/// A resource kind the logic reads typed.
pub trait Resource: DeserializeOwned {
    /// What the resource is called in messages ("port").
    const KIND: &'static str;

    /// Reads a document, from wherever it comes.
    fn parse(doc: &Value) -> Result<Self, serde_json::Error> {
        Self::deserialize(doc)
    }

    /// Reads a stored (or top-rendered) document: one of the wrong shape is
    /// a corrupt row, logged and answered as an internal error.
    fn from_doc(doc: &Value) -> Result<Self, NeutronError> {
        Self::parse(doc).map_err(|e| {
            let id = doc.get("id").and_then(Value::as_str).unwrap_or("?");
            NeutronError::from(StoreError::Corrupt(format!("{} {id}: {e}", Self::KIND)))
        })
    }

    /// Reads every stored document of a list.
    fn from_docs(docs: &[Value]) -> Result<Vec<Self>, NeutronError> {
        docs.iter().map(Self::from_doc).collect()
    }
}

/// `null` read as the type's default (Neutron's absent value).
fn null_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

fn yes() -> bool {
    true
}

/// The project of a document that has either key (pods may answer with
/// `tenant_id` only).
fn project<'a>(project_id: &'a str, tenant_id: &'a str) -> &'a str {
    if project_id.is_empty() {
        tenant_id
    } else {
        project_id
    }
}

/// A network.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Network {
    pub id: String,
    #[serde(default, deserialize_with = "null_default")]
    pub project_id: String,
    #[serde(default, deserialize_with = "null_default")]
    pub tenant_id: String,
    #[serde(default, deserialize_with = "null_default")]
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default = "yes")]
    pub admin_state_up: bool,
    #[serde(default)]
    pub shared: bool,
    #[serde(rename = "router:external", default)]
    pub external: bool,
    /// Absent from the views of non-admins.
    #[serde(rename = "provider:network_type", default)]
    pub network_type: Option<String>,
    #[serde(rename = "provider:physical_network", default)]
    pub physical_network: Option<String>,
    #[serde(rename = "provider:segmentation_id", default)]
    pub segmentation_id: Option<i64>,
    #[serde(default, deserialize_with = "null_default")]
    pub availability_zone_hints: Vec<String>,
    /// Subnet ids: in views and snapshots, not in the stored document.
    #[serde(default, deserialize_with = "null_default")]
    pub subnets: Vec<String>,
    #[serde(default)]
    pub mtu: Option<i64>,
    #[serde(default)]
    pub port_security_enabled: Option<bool>,
}

impl Resource for Network {
    const KIND: &'static str = "network";
}

impl Network {
    pub fn project(&self) -> &str {
        project(&self.project_id, &self.tenant_id)
    }

    /// `provider:network_type`, `""` when not shown.
    pub fn network_type(&self) -> &str {
        self.network_type.as_deref().unwrap_or("")
    }

    /// A network without a segment the pods share: it lives in one pod.
    pub fn is_local(&self) -> bool {
        matches!(self.network_type(), "" | "local")
    }

    /// Whether a caller may see the network: own, shared or external.
    pub fn visible_to(&self, scope: &Scope) -> bool {
        scope.is_admin || self.project_id == scope.project_id || self.shared || self.external
    }
}

/// One allocation pool of a subnet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AllocationPool {
    pub start: String,
    pub end: String,
}

/// One host route of a subnet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostRoute {
    pub destination: String,
    pub nexthop: String,
}

/// A subnet.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Subnet {
    pub id: String,
    #[serde(default, deserialize_with = "null_default")]
    pub project_id: String,
    #[serde(default, deserialize_with = "null_default")]
    pub tenant_id: String,
    #[serde(default, deserialize_with = "null_default")]
    pub name: String,
    pub network_id: String,
    pub cidr: String,
    pub ip_version: u8,
    #[serde(default)]
    pub gateway_ip: Option<String>,
    #[serde(default, deserialize_with = "null_default")]
    pub allocation_pools: Vec<AllocationPool>,
    #[serde(default = "yes")]
    pub enable_dhcp: bool,
    #[serde(default, deserialize_with = "null_default")]
    pub dns_nameservers: Vec<String>,
    #[serde(default, deserialize_with = "null_default")]
    pub host_routes: Vec<HostRoute>,
    #[serde(default)]
    pub ipv6_ra_mode: Option<String>,
    #[serde(default)]
    pub ipv6_address_mode: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default, deserialize_with = "null_default")]
    pub created_at: String,
}

impl Resource for Subnet {
    const KIND: &'static str = "subnet";
}

impl Subnet {
    pub fn project(&self) -> &str {
        project(&self.project_id, &self.tenant_id)
    }

    /// The subnet's CIDR; a stored one that does not parse is corrupt.
    pub fn net(&self) -> Result<IpNet, NeutronError> {
        ipam::parse_cidr(&self.cidr).map_err(|e| {
            NeutronError::from(StoreError::Corrupt(format!(
                "subnet {}: cidr {:?}: {e}",
                self.id, self.cidr
            )))
        })
    }

    /// The gateway's address, if it has one.
    pub fn gateway(&self) -> Option<IpAddr> {
        self.gateway_ip.as_deref().and_then(ipam::parse_ip)
    }

    /// Whether ports get their addresses from their MAC (SLAAC or
    /// DHCPv6-stateless address mode): none is chosen from the pools.
    pub fn auto_address(&self) -> bool {
        is_auto_mode(self.ipv6_address_mode.as_deref())
    }

    /// Neutron's auto-address subnet: SLAAC or DHCPv6-stateless by address
    /// or RA mode.
    pub fn is_auto_address_subnet(&self) -> bool {
        self.auto_address() || is_auto_mode(self.ipv6_ra_mode.as_deref())
    }

    /// The pools as ranges (pools that do not parse are left out).
    pub fn pool_ranges(&self) -> Vec<Range> {
        self.allocation_pools
            .iter()
            .filter_map(|p| {
                let s = ipam::parse_ip(&p.start)?;
                let e = ipam::parse_ip(&p.end)?;
                Some((ipam::to_u128(s), ipam::to_u128(e)))
            })
            .collect()
    }
}

fn is_auto_mode(mode: Option<&str>) -> bool {
    matches!(mode, Some("slaac" | "dhcpv6-stateless"))
}

/// One fixed IP of a port.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct FixedIp {
    pub subnet_id: String,
    pub ip_address: String,
}

/// One allowed address pair of a port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddressPair {
    pub ip_address: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac_address: Option<String>,
}

/// A port.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Port {
    pub id: String,
    #[serde(default, deserialize_with = "null_default")]
    pub project_id: String,
    #[serde(default, deserialize_with = "null_default")]
    pub tenant_id: String,
    #[serde(default, deserialize_with = "null_default")]
    pub name: String,
    pub network_id: String,
    #[serde(default, deserialize_with = "null_default")]
    pub device_id: String,
    #[serde(default, deserialize_with = "null_default")]
    pub device_owner: String,
    #[serde(default, deserialize_with = "null_default")]
    pub mac_address: String,
    #[serde(default, deserialize_with = "null_default")]
    pub fixed_ips: Vec<FixedIp>,
    #[serde(default, deserialize_with = "null_default")]
    pub security_groups: Vec<String>,
    #[serde(default, deserialize_with = "null_default")]
    pub allowed_address_pairs: Vec<AddressPair>,
    /// Absent means enabled (see [`Port::port_security`]).
    #[serde(default)]
    pub port_security_enabled: Option<bool>,
    #[serde(default = "yes")]
    pub admin_state_up: bool,
    #[serde(default)]
    pub description: Option<String>,
    /// Shown to admins only.
    #[serde(rename = "binding:host_id", default)]
    pub host_id: Option<String>,
    #[serde(rename = "binding:vnic_type", default)]
    pub vnic_type: Option<String>,
    /// Shown to admins only; free-form.
    #[serde(rename = "binding:profile", default)]
    pub profile: Option<Map<String, Value>>,
}

impl Resource for Port {
    const KIND: &'static str = "port";
}

impl Port {
    pub fn project(&self) -> &str {
        project(&self.project_id, &self.tenant_id)
    }

    /// Whether port security is on (Neutron's default when absent).
    pub fn port_security(&self) -> bool {
        self.port_security_enabled.unwrap_or(true)
    }

    /// The port's first address on `subnet_id`.
    pub fn ip_on(&self, subnet_id: &str) -> Option<&str> {
        self.fixed_ips
            .iter()
            .find(|ip| ip.subnet_id == subnet_id)
            .map(|ip| ip.ip_address.as_str())
    }

    /// The fixed IPs as `(subnet_id, ip_address)`.
    pub fn ip_pairs(&self) -> Vec<(String, String)> {
        self.fixed_ips
            .iter()
            .map(|ip| (ip.subnet_id.clone(), ip.ip_address.clone()))
            .collect()
    }
}

/// A security group and, in views, its rules.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct SecurityGroup {
    pub id: String,
    #[serde(default, deserialize_with = "null_default")]
    pub project_id: String,
    #[serde(default, deserialize_with = "null_default")]
    pub tenant_id: String,
    #[serde(default, deserialize_with = "null_default")]
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub stateful: Option<bool>,
    #[serde(default, deserialize_with = "null_default")]
    pub security_group_rules: Vec<SecurityGroupRule>,
}

impl Resource for SecurityGroup {
    const KIND: &'static str = "security group";
}

impl SecurityGroup {
    pub fn project(&self) -> &str {
        project(&self.project_id, &self.tenant_id)
    }
}

/// A security group rule.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
pub struct SecurityGroupRule {
    #[serde(default, deserialize_with = "null_default")]
    pub id: String,
    #[serde(default, deserialize_with = "null_default")]
    pub security_group_id: String,
    #[serde(default, deserialize_with = "null_default")]
    pub project_id: String,
    #[serde(default, deserialize_with = "null_default")]
    pub direction: String,
    #[serde(default, deserialize_with = "null_default")]
    pub ethertype: String,
    #[serde(default)]
    pub protocol: Option<String>,
    #[serde(default)]
    pub port_range_min: Option<i64>,
    #[serde(default)]
    pub port_range_max: Option<i64>,
    #[serde(default)]
    pub remote_ip_prefix: Option<String>,
    #[serde(default)]
    pub normalized_cidr: Option<String>,
    #[serde(default)]
    pub remote_group_id: Option<String>,
}

impl Resource for SecurityGroupRule {
    const KIND: &'static str = "security group rule";
}

/// A router's gateway on an external network (`external_gateway_info`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct GatewayInfo {
    pub network_id: String,
    #[serde(default)]
    pub enable_snat: Option<bool>,
    #[serde(default, deserialize_with = "null_default")]
    pub external_fixed_ips: Vec<FixedIp>,
}

/// One static route of a router (`extraroute`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Route {
    pub destination: String,
    pub nexthop: String,
}

/// A router.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Router {
    pub id: String,
    #[serde(default, deserialize_with = "null_default")]
    pub project_id: String,
    #[serde(default, deserialize_with = "null_default")]
    pub tenant_id: String,
    #[serde(default, deserialize_with = "null_default")]
    pub name: String,
    #[serde(default = "yes")]
    pub admin_state_up: bool,
    /// `None`: no gateway.
    #[serde(default)]
    pub external_gateway_info: Option<GatewayInfo>,
    #[serde(default, deserialize_with = "null_default")]
    pub routes: Vec<Route>,
    #[serde(default, deserialize_with = "null_default")]
    pub availability_zone_hints: Vec<String>,
}

impl Resource for Router {
    const KIND: &'static str = "router";
}

impl Router {
    pub fn project(&self) -> &str {
        project(&self.project_id, &self.tenant_id)
    }
}

/// A floating IP.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct FloatingIp {
    pub id: String,
    #[serde(default, deserialize_with = "null_default")]
    pub project_id: String,
    #[serde(default, deserialize_with = "null_default")]
    pub tenant_id: String,
    pub floating_network_id: String,
    pub floating_ip_address: String,
    /// The three are `None` while not associated.
    #[serde(default)]
    pub fixed_ip_address: Option<String>,
    #[serde(default)]
    pub port_id: Option<String>,
    #[serde(default)]
    pub router_id: Option<String>,
    #[serde(default, deserialize_with = "null_default")]
    pub status: String,
}

impl Resource for FloatingIp {
    const KIND: &'static str = "floating IP";
}

impl FloatingIp {
    pub fn project(&self) -> &str {
        project(&self.project_id, &self.tenant_id)
    }
}

#[cfg(test)]
mod tests;
