//! Subnets: CIDR, gateway, allocation pools, DHCP, DNS servers, host
//! routes, IPv6 modes, validated as Neutron does (gateways must lie in the
//! subnet here: a pod's gateway port is allocated from it).

mod parse;

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
use crate::model::{Network, Port, Resource, Subnet};
use crate::networks::{self, sql_filter, AUTO_DELETE_OWNERS};
use crate::{jobs_for, jobs_types, Neutron, NeutronError, Scope};

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
        let subnet = Subnet::from_doc(&s)?;
        if scope.is_admin || subnet.project_id == scope.project_id {
            return Ok(s);
        }
        let net = self
            .store
            .neutron_get(NeutronKind::Network, &subnet.network_id)
            .await?;
        shared_subnet(s, net, id)
    }

    pub async fn get_subnet(&self, scope: &Scope, id: &str) -> Result<Value, NeutronError> {
        self.subnet_body(scope, id).await
    }

    /// The subnets of a network the caller may see, oldest first.
    pub async fn subnets_of_network(
        &self,
        scope: &Scope,
        network_id: &str,
    ) -> Result<Vec<Subnet>, NeutronError> {
        self.network_body(scope, network_id).await?;
        let docs = self
            .store
            .neutron_list(
                NeutronKind::Subnet,
                &NeutronFilter {
                    eq: vec![("network_id".into(), vec![network_id.to_string()])],
                    ..Default::default()
                },
            )
            .await?;
        let mut subnets = Subnet::from_docs(&docs)?;
        subnets.sort_by(|a, b| a.created_at.cmp(&b.created_at));
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
        let network = networks::visible(
            scope,
            tx.lock(NeutronKind::Network, &network_id).await?,
            &network_id,
        )?;
        if !scope.owns(&Network::from_doc(&network)?.project_id) {
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
        for s in Subnet::from_docs(&siblings)? {
            let other = s.net()?;
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
        let before = Subnet::from_doc(&subnet)?;
        if !scope.owns(&before.project_id) {
            return Err(NeutronError::policy("rule:update_subnet"));
        }
        let net = before.net()?;
        let version = ipam::net_version(&net);
        if map.get("segment_id").is_some_and(|v| !v.is_null()) {
            return Err(NeutronError::invalid_input(
                "segment_id is not supported: routed network segments are not available",
            ));
        }
        let mut gateway = before.gateway();
        let mut pools = before.pool_ranges();
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
        let after = Subnet::from_doc(&subnet)?;
        check_ipv6_modes(
            version,
            &net,
            after.enable_dhcp,
            after.ipv6_ra_mode.as_deref(),
            after.ipv6_address_mode.as_deref(),
        )?;
        // Each pod's copy has its own gateway (its gateway port) and pools
        // around it, and its DHCP port made with it: these cannot follow a
        // change once a copy exists.
        let changed: Vec<&str> = [
            ("gateway_ip", after.gateway_ip != before.gateway_ip),
            (
                "allocation_pools",
                after.allocation_pools != before.allocation_pools,
            ),
            ("enable_dhcp", after.enable_dhcp != before.enable_dhcp),
        ]
        .into_iter()
        .filter_map(|(k, changed)| changed.then_some(k))
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
            jobs_for::<jobs_types::SubnetUpdate>(&mut tx, id, &before.project_id, None).await?;
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
        let subnet = Subnet::from_doc(&s)?;
        if scope.is_admin || subnet.project_id == scope.project_id {
            return Ok(s);
        }
        let net = tx.get(NeutronKind::Network, &subnet.network_id).await?;
        shared_subnet(s, net, id)
    }

    pub async fn delete_subnet(&self, scope: &Scope, id: &str) -> Result<(), NeutronError> {
        let mut tx = self.store.neutron_tx().await?;
        let doc = self.locked_subnet(&mut tx, scope, id).await?;
        let subnet = Subnet::from_doc(&doc)?;
        if !scope.owns(&subnet.project_id) {
            return Err(NeutronError::policy("rule:delete_subnet"));
        }
        crate::routers::bridge::refuse_bridge_subnet(&subnet)?;
        tx.lock_subnet(id).await?;
        let allocations = tx.subnet_allocations(id).await?;
        let mut port_ids: Vec<String> = allocations.into_iter().map(|(_, p)| p).collect();
        port_ids.sort();
        port_ids.dedup();
        // Neutron drops the addresses of an IPv6 SLAAC or DHCPv6-stateless
        // subnet from every port but a router's interfaces.
        let auto_address = subnet.is_auto_address_subnet();
        let mut auto = Vec::new();
        for pid in port_ids {
            let Some(port) = tx.lock(NeutronKind::Port, &pid).await? else {
                continue;
            };
            let reserved = tx.is_reserved_port(&pid).await?;
            let owner = Port::from_doc(&port)?.device_owner;
            let interface = owner == crate::ports::ROUTER_INTERFACE;
            if interface
                || (!reserved && !auto_address && !AUTO_DELETE_OWNERS.contains(&owner.as_str()))
            {
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
        for (mut doc, reserved) in auto {
            let port = Port::from_doc(&doc)?;
            let pid = port.id.as_str();
            let remaining: Vec<_> = port
                .fixed_ips
                .iter()
                .filter(|ip| ip.subnet_id != id)
                .collect();
            if reserved && remaining.is_empty() {
                tx.delete(NeutronKind::Port, pid, &[]).await?;
            } else {
                tx.release_ips(pid, Some(id)).await?;
                doc["fixed_ips"] = json!(remaining);
                touch(&mut doc);
                tx.update(NeutronKind::Port, &doc, &[]).await?;
            }
        }
        let jobs =
            jobs_for::<jobs_types::SubnetDelete>(&mut tx, id, &subnet.project_id, Some(&doc))
                .await?;
        tx.delete(NeutronKind::Subnet, id, &jobs).await?;
        tx.commit().await?;
        Ok(())
    }
}

/// A subnet (stored document `subnet`) of another project on the network
/// `net`: visible when the network is shared, as Neutron's `get_subnet`
/// has it (an external network's subnets are not shown to other projects).
fn shared_subnet(subnet: Value, net: Option<Value>, id: &str) -> Result<Value, NeutronError> {
    match net {
        Some(n) if Network::from_doc(&n)?.shared => Ok(subnet),
        _ => Err(NeutronError::subnet_not_found(id)),
    }
}
