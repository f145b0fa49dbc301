//! Subnets: CIDR, gateway, allocation pools, DHCP, DNS servers, host
//! routes, IPv6 modes, validated as Neutron does (gateways must lie in the
//! subnet here: a pod's gateway port is allocated from it).

mod parse;

use ipnet::IpNet;
use serde_json::{json, Value};
use tricircle_core::ids::new_uuid;
use tricircle_store::{NeutronFilter, NeutronKind, NeutronTx};

use parse::{
    check_gateway_out_of_pools, check_ipv6_modes, ipv6_mode, parse_gateway, parse_host_routes,
    parse_nameservers, parse_pools,
};

use crate::attrs::{self, attr, boolean, check, integer, owner, shown, string, touch, Attr, Op};
use crate::ipam::{self, Range};
use crate::listing::{ListQuery, Listing, Page};
use crate::networks::{self, sql_filter, AUTO_DELETE_OWNERS};
use crate::{jobs_for, jobs_types, project_of, str_of, Neutron, NeutronError, Scope};

const ATTRS: &[Attr] = &[
    attr("id", false, false),
    attr("name", true, true),
    attr("tenant_id", true, false),
    attr("project_id", true, false),
    attr("network_id", true, false),
    attr("ip_version", true, false),
    attr("cidr", true, false),
    attr("gateway_ip", true, true),
    attr("allocation_pools", true, true),
    attr("dns_nameservers", true, true),
    attr("host_routes", true, true),
    attr("enable_dhcp", true, true),
    attr("ipv6_ra_mode", true, false),
    attr("ipv6_address_mode", true, false),
    attr("subnetpool_id", true, false),
    attr("prefixlen", true, false),
    attr("use_default_subnetpool", true, false),
    attr("description", true, true),
    attr("service_types", true, true),
    attr("segment_id", true, true),
    attr("created_at", false, false),
    attr("updated_at", false, false),
    attr("revision_number", false, false),
    attr("tags", false, false),
];

const FILTERABLE: &[&str] = &[
    "id",
    "name",
    "tenant_id",
    "project_id",
    "network_id",
    "ip_version",
    "cidr",
    "gateway_ip",
    "allocation_pools",
    "dns_nameservers",
    "host_routes",
    "enable_dhcp",
    "ipv6_ra_mode",
    "ipv6_address_mode",
    "subnetpool_id",
    "description",
    "service_types",
    "segment_id",
    "created_at",
    "updated_at",
    "revision_number",
    "tags",
];

const SORTABLE: &[&str] = &[
    "id",
    "name",
    "tenant_id",
    "project_id",
    "network_id",
    "ip_version",
    "cidr",
    "gateway_ip",
    "enable_dhcp",
    "ipv6_ra_mode",
    "ipv6_address_mode",
    "description",
    "created_at",
    "updated_at",
    "revision_number",
];

const LISTING: Listing<'static> = Listing {
    filterable: FILTERABLE,
    sortable: SORTABLE,
    not_found: NeutronError::subnet_not_found,
};

const IPV6_MODES: &[&str] = &["slaac", "dhcpv6-stateful", "dhcpv6-stateless"];
const MAX_DNS_NAMESERVERS: usize = 5;
const MAX_HOST_ROUTES: usize = 20;

/// Whether addresses on a subnet come from the MAC (SLAAC / stateless).
pub(crate) fn auto_address(subnet: &Value) -> bool {
    matches!(
        subnet.get("ipv6_address_mode").and_then(Value::as_str),
        Some("slaac") | Some("dhcpv6-stateless")
    )
}

/// A stored subnet's CIDR.
pub(crate) fn cidr_of(subnet: &Value) -> Result<IpNet, NeutronError> {
    ipam::parse_cidr(str_of(subnet, "cidr")).map_err(|_| NeutronError::internal())
}

/// A stored subnet's pools, as ranges.
pub(crate) fn pools_of(subnet: &Value) -> Vec<Range> {
    subnet
        .get("allocation_pools")
        .and_then(Value::as_array)
        .map(|pools| {
            pools
                .iter()
                .filter_map(|p| {
                    let s = ipam::parse_ip(p.get("start")?.as_str()?)?;
                    let e = ipam::parse_ip(p.get("end")?.as_str()?)?;
                    Some((ipam::to_u128(s), ipam::to_u128(e)))
                })
                .collect()
        })
        .unwrap_or_default()
}

fn pools_json(pools: &[Range], version: u8) -> Value {
    json!(pools
        .iter()
        .map(|(s, e)| json!({
            "start": ipam::from_u128(*s, version).to_string(),
            "end": ipam::from_u128(*e, version).to_string(),
        }))
        .collect::<Vec<_>>())
}

impl Neutron {
    /// A subnet's stored body, if the caller may see it (own, or on a
    /// shared network).
    pub(crate) async fn subnet_body(&self, scope: &Scope, id: &str) -> Result<Value, NeutronError> {
        let Some(s) = self.store.neutron_get(NeutronKind::Subnet, id).await? else {
            return Err(NeutronError::subnet_not_found(id));
        };
        if scope.is_admin || project_of(&s) == scope.project_id {
            return Ok(s);
        }
        match self
            .store
            .neutron_get(NeutronKind::Network, str_of(&s, "network_id"))
            .await?
        {
            // Neutron's `get_subnet`: owner or shared (an external
            // network's subnets are not shown to other projects).
            Some(n) if n.get("shared") == Some(&Value::Bool(true)) => Ok(s),
            _ => Err(NeutronError::subnet_not_found(id)),
        }
    }

    pub async fn get_subnet(&self, scope: &Scope, id: &str) -> Result<Value, NeutronError> {
        self.subnet_body(scope, id).await
    }

    pub async fn subnets_of_network(
        &self,
        scope: &Scope,
        network_id: &str,
    ) -> Result<Vec<Value>, NeutronError> {
        self.network_body(scope, network_id).await?;
        let subnets = self
            .store
            .neutron_list(
                NeutronKind::Subnet,
                &NeutronFilter {
                    eq: vec![("network_id".into(), vec![network_id.to_string()])],
                    ..Default::default()
                },
            )
            .await?;
        let mut subnets = subnets;
        subnets.sort_by(|a, b| str_of(a, "created_at").cmp(str_of(b, "created_at")));
        Ok(subnets)
    }

    pub async fn list_subnets(&self, scope: &Scope, q: &ListQuery) -> Result<Page, NeutronError> {
        LISTING.check(q)?;
        let filter = sql_filter(scope, NeutronKind::Subnet, q);
        let bodies = self
            .store
            .neutron_list(NeutronKind::Subnet, &filter)
            .await?;
        LISTING.apply(bodies, q)
    }

    pub async fn create_subnet(&self, scope: &Scope, body: Value) -> Result<Value, NeutronError> {
        let map = check("subnet", body, ATTRS, Op::Create)?;
        let project_id = owner(scope, &map)?;
        let network_id = attrs::uuid(
            "network_id",
            map.get("network_id")
                .ok_or_else(|| attrs::required("network_id"))?,
        )?;
        for k in [
            "subnetpool_id",
            "prefixlen",
            "use_default_subnetpool",
            "segment_id",
        ] {
            if map
                .get(k)
                .is_some_and(|v| !v.is_null() && v != &Value::Bool(false))
            {
                return Err(NeutronError::invalid_input(format!(
                    "{k} is not supported: subnet pools and routed network segments are not available"
                )));
            }
        }
        let version = match map.get("ip_version") {
            None => return Err(attrs::required("ip_version")),
            Some(v) => match integer("ip_version", v) {
                Ok(4) => 4u8,
                Ok(6) => 6u8,
                _ => {
                    return Err(NeutronError::invalid_attr(
                        "ip_version",
                        format!("{} is not in [4, 6]", shown(v)),
                    ))
                }
            },
        };
        let cidr_text = match map.get("cidr") {
            None | Some(Value::Null) => {
                return Err(NeutronError::bad_request(
                    "A cidr must be specified in the absence of a subnet pool",
                ))
            }
            Some(v) => string("cidr", v, 64)?,
        };
        let net =
            ipam::parse_cidr(&cidr_text).map_err(|r| NeutronError::invalid_attr("cidr", r))?;
        if ipam::net_version(&net) != version {
            return Err(NeutronError::invalid_input(format!(
                "cidr '{cidr_text}' does not match the ip_version '{version}'"
            )));
        }
        if net.prefix_len() == 0 {
            return Err(NeutronError::invalid_input(format!(
                "{net} is not a valid subnet cidr: a prefix length of 0 is not allowed"
            )));
        }
        let gateway = match map.get("gateway_ip") {
            None => ipam::default_gateway(&net),
            Some(v) => parse_gateway(v, &net)?,
        };
        let pools = match map.get("allocation_pools") {
            None | Some(Value::Null) => ipam::default_pools(&net, gateway),
            Some(v) => parse_pools(v, &net)?,
        };
        check_gateway_out_of_pools(gateway, &pools, version)?;
        let enable_dhcp = map
            .get("enable_dhcp")
            .map_or(Ok(true), |v| boolean("enable_dhcp", v))?;
        let ra = ipv6_mode(&map, "ipv6_ra_mode")?;
        let addr = ipv6_mode(&map, "ipv6_address_mode")?;
        check_ipv6_modes(version, &net, enable_dhcp, ra.as_deref(), addr.as_deref())?;
        let dns = map
            .get("dns_nameservers")
            .map_or(Ok(Vec::new()), parse_nameservers)?;
        let routes = map
            .get("host_routes")
            .map_or(Ok(Vec::new()), |v| parse_host_routes(v, version))?;
        let name = map
            .get("name")
            .map_or(Ok(String::new()), |v| string("name", v, 255))?;
        let description = map
            .get("description")
            .map_or(Ok(String::new()), |v| string("description", v, 255))?;
        let service_types = map.get("service_types").map_or(Ok(Vec::new()), |v| {
            attrs::string_list("service_types", v, 255)
        })?;

        let mut tx = self.store.neutron_tx().await?;
        self.check_quota(&mut tx, NeutronKind::Subnet, &project_id, 1)
            .await?;
        let network = match tx.lock(NeutronKind::Network, &network_id).await? {
            Some(n) if networks::visible(scope, &n) => n,
            _ => return Err(NeutronError::network_not_found(&network_id)),
        };
        if !scope.owns(project_of(&network)) {
            return Err(NeutronError::policy("rule:create_subnet"));
        }
        let siblings = tx
            .list(
                NeutronKind::Subnet,
                &NeutronFilter {
                    eq: vec![("network_id".into(), vec![network_id.clone()])],
                    ..Default::default()
                },
            )
            .await?;
        for s in &siblings {
            let other = cidr_of(s)?;
            if other.contains(&net.network()) || net.contains(&other.network()) {
                return Err(NeutronError::invalid_input(format!(
                    "Requested subnet with cidr: {net} for network: {network_id} overlaps with another subnet"
                )));
            }
        }
        let now = attrs::now();
        let body = json!({
            "id": new_uuid(),
            "name": name,
            "tenant_id": project_id,
            "project_id": project_id,
            "network_id": network_id,
            "ip_version": version,
            "cidr": net.to_string(),
            "gateway_ip": gateway.map(|g| g.to_string()),
            "allocation_pools": pools_json(&pools, version),
            "dns_nameservers": dns,
            "host_routes": routes,
            "enable_dhcp": enable_dhcp,
            "ipv6_ra_mode": ra,
            "ipv6_address_mode": addr,
            "subnetpool_id": null,
            "description": description,
            "service_types": service_types,
            "segment_id": null,
            "created_at": now,
            "updated_at": now,
            "revision_number": 0,
            "tags": [],
        });
        tx.insert(NeutronKind::Subnet, &body).await?;
        tx.commit().await?;
        Ok(body)
    }

    pub async fn update_subnet(
        &self,
        scope: &Scope,
        id: &str,
        body: Value,
    ) -> Result<Value, NeutronError> {
        let map = check("subnet", body, ATTRS, Op::Update)?;
        let mut tx = self.store.neutron_tx().await?;
        let mut subnet = self.locked_subnet(&mut tx, scope, id).await?;
        if !scope.owns(project_of(&subnet)) {
            return Err(NeutronError::policy("rule:update_subnet"));
        }
        let net = cidr_of(&subnet)?;
        let version = ipam::net_version(&net);
        if map.get("segment_id").is_some_and(|v| !v.is_null()) {
            return Err(NeutronError::invalid_input(
                "segment_id is not supported: routed network segments are not available",
            ));
        }
        let mut gateway = subnet
            .get("gateway_ip")
            .and_then(Value::as_str)
            .and_then(ipam::parse_ip);
        let mut pools = pools_of(&subnet);
        let before = subnet.clone();
        for (k, v) in &map {
            let value = match k.as_str() {
                "name" | "description" => json!(string(k, v, 255)?),
                "enable_dhcp" => json!(boolean(k, v)?),
                "gateway_ip" => {
                    gateway = parse_gateway(v, &net)?;
                    json!(gateway.map(|g| g.to_string()))
                }
                "allocation_pools" => {
                    pools = if v.is_null() {
                        ipam::default_pools(&net, gateway)
                    } else {
                        parse_pools(v, &net)?
                    };
                    pools_json(&pools, version)
                }
                "dns_nameservers" => json!(parse_nameservers(v)?),
                "host_routes" => json!(parse_host_routes(v, version)?),
                "service_types" => json!(attrs::string_list(k, v, 255)?),
                _ => continue,
            };
            subnet[k.as_str()] = value;
        }
        check_gateway_out_of_pools(gateway, &pools, version)?;
        let enable_dhcp = subnet.get("enable_dhcp") != Some(&Value::Bool(false));
        check_ipv6_modes(
            version,
            &net,
            enable_dhcp,
            subnet.get("ipv6_ra_mode").and_then(Value::as_str),
            subnet.get("ipv6_address_mode").and_then(Value::as_str),
        )?;
        // Each pod's copy has its own gateway (its gateway port) and pools
        // around it, and its DHCP port made with it: these cannot follow a
        // change once a copy exists.
        let fixed = ["gateway_ip", "allocation_pools", "enable_dhcp"];
        let changed: Vec<&str> = fixed
            .into_iter()
            .filter(|k| subnet.get(*k) != before.get(*k))
            .collect();
        if !changed.is_empty()
            && !tx
                .copy_pods(id, NeutronKind::Subnet.resource_type())
                .await?
                .is_empty()
        {
            return Err(NeutronError::conflict(
                "SubnetInUse",
                format!(
                    "Unable to complete operation on subnet {id}: {} cannot be changed while \
                     the subnet is in use in a pod (a server is on it).",
                    changed.join(", ")
                ),
            ));
        }
        touch(&mut subnet);
        let jobs =
            jobs_for::<jobs_types::SubnetUpdate>(&mut tx, id, project_of(&subnet), None).await?;
        tx.update(NeutronKind::Subnet, &subnet, &jobs).await?;
        tx.commit().await?;
        Ok(subnet)
    }

    pub(crate) async fn locked_subnet(
        &self,
        tx: &mut NeutronTx,
        scope: &Scope,
        id: &str,
    ) -> Result<Value, NeutronError> {
        let Some(s) = tx.lock(NeutronKind::Subnet, id).await? else {
            return Err(NeutronError::subnet_not_found(id));
        };
        if scope.is_admin || project_of(&s) == scope.project_id {
            return Ok(s);
        }
        match tx
            .get(NeutronKind::Network, str_of(&s, "network_id"))
            .await?
        {
            // Neutron's `get_subnet`: owner or shared (an external
            // network's subnets are not shown to other projects).
            Some(n) if n.get("shared") == Some(&Value::Bool(true)) => Ok(s),
            _ => Err(NeutronError::subnet_not_found(id)),
        }
    }

    pub async fn delete_subnet(&self, scope: &Scope, id: &str) -> Result<(), NeutronError> {
        let mut tx = self.store.neutron_tx().await?;
        let subnet = self.locked_subnet(&mut tx, scope, id).await?;
        if !scope.owns(project_of(&subnet)) {
            return Err(NeutronError::policy("rule:delete_subnet"));
        }
        tx.lock_subnet(id).await?;
        let allocations = tx.subnet_allocations(id).await?;
        let mut port_ids: Vec<String> = allocations.into_iter().map(|(_, p)| p).collect();
        port_ids.sort();
        port_ids.dedup();
        // Neutron drops the addresses of an IPv6 SLAAC or DHCPv6-stateless
        // subnet from every port but a router's interfaces.
        let auto_address = is_auto_address(&subnet);
        let mut auto = Vec::new();
        for pid in port_ids {
            let Some(port) = tx.lock(NeutronKind::Port, &pid).await? else {
                continue;
            };
            let reserved = tx.is_reserved_port(&pid).await?;
            let owner = str_of(&port, "device_owner");
            let interface = owner == crate::ports::ROUTER_INTERFACE;
            if interface || (!reserved && !auto_address && !AUTO_DELETE_OWNERS.contains(&owner)) {
                return Err(NeutronError::conflict(
                    "SubnetInUse",
                    format!(
                        "Unable to complete operation on subnet {id}: One or more ports have an IP allocation from this subnet."
                    ),
                ));
            }
            auto.push((port, reserved));
        }
        // Ports that go with the subnet lose their address on it; a
        // reserved port left without addresses goes too.
        for (mut port, reserved) in auto {
            let pid = str_of(&port, "id").to_string();
            let remaining: Vec<Value> = port
                .get("fixed_ips")
                .and_then(Value::as_array)
                .map(|ips| {
                    ips.iter()
                        .filter(|ip| ip.get("subnet_id").and_then(Value::as_str) != Some(id))
                        .cloned()
                        .collect()
                })
                .unwrap_or_default();
            if reserved && remaining.is_empty() {
                tx.delete(NeutronKind::Port, &pid, &[]).await?;
            } else {
                tx.release_ips(&pid, Some(id)).await?;
                port["fixed_ips"] = json!(remaining);
                touch(&mut port);
                tx.update(NeutronKind::Port, &port, &[]).await?;
            }
        }
        let jobs =
            jobs_for::<jobs_types::SubnetDelete>(&mut tx, id, project_of(&subnet), Some(&subnet))
                .await?;
        tx.delete(NeutronKind::Subnet, id, &jobs).await?;
        tx.commit().await?;
        Ok(())
    }
}

/// An IPv6 subnet whose addresses the hosts make themselves (SLAAC or
/// DHCPv6-stateless, by address or RA mode): Neutron's auto-address subnet.
fn is_auto_address(subnet: &Value) -> bool {
    ["ipv6_address_mode", "ipv6_ra_mode"].iter().any(|k| {
        matches!(
            subnet.get(*k).and_then(Value::as_str),
            Some("slaac" | "dhcpv6-stateless")
        )
    })
}
