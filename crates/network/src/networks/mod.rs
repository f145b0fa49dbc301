//! Networks: types and segments (`local`, `vlan`, `vxlan`, `flat`),
//! provider attributes for admins, availability zone hints, sharing.

use serde_json::{json, Value};
use tricircle_core::ids::new_uuid;
use tricircle_store::{NeutronFilter, NeutronKind, StoreError};

use crate::attrs::{self, attr, boolean, check, integer, owner, string, touch, Attr, Op};
use crate::listing::{ListQuery, Listing, Page};
use crate::model::{Network, Port, Resource, Subnet};
mod segments;

use crate::{jobs_for, jobs_types, Attempt, Neutron, NeutronError, Scope, RETRIES};

pub(crate) const PROVIDER_TYPE: &str = "provider:network_type";
pub(crate) const PROVIDER_PHYSNET: &str = "provider:physical_network";
pub(crate) const PROVIDER_SEGID: &str = "provider:segmentation_id";
const PROVIDER: [&str; 3] = [PROVIDER_TYPE, PROVIDER_PHYSNET, PROVIDER_SEGID];

/// Device owners whose ports go with their network or subnet.
pub(crate) const AUTO_DELETE_OWNERS: &[&str] = &[
    "network:dhcp",
    "network:router_interface_distributed",
    "network:router_ha_interface",
];

const ATTRS: &[Attr] = &[
    attr("id", false, false),
    attr("name", true, true),
    attr("tenant_id", true, false),
    attr("project_id", true, false),
    attr("admin_state_up", true, true),
    attr("status", false, false),
    attr("subnets", false, false),
    attr("shared", true, true),
    attr("router:external", true, true),
    attr("mtu", true, true),
    attr("port_security_enabled", true, true),
    attr("availability_zone_hints", true, false),
    attr("availability_zones", false, false),
    attr("description", true, true),
    attr("created_at", false, false),
    attr("updated_at", false, false),
    attr("revision_number", false, false),
    attr("tags", false, false),
    attr(PROVIDER_TYPE, true, true),
    attr(PROVIDER_PHYSNET, true, true),
    attr(PROVIDER_SEGID, true, true),
    attr("ipv4_address_scope", false, false),
    attr("ipv6_address_scope", false, false),
    attr("l2_adjacency", false, false),
];

const FILTERABLE: &[&str] = &[
    "id",
    "name",
    "tenant_id",
    "project_id",
    "admin_state_up",
    "status",
    "subnets",
    "shared",
    "router:external",
    "mtu",
    "port_security_enabled",
    "availability_zone_hints",
    "availability_zones",
    "description",
    "created_at",
    "updated_at",
    "revision_number",
    "tags",
    PROVIDER_TYPE,
    PROVIDER_PHYSNET,
    PROVIDER_SEGID,
];

const SORTABLE: &[&str] = &[
    "id",
    "name",
    "tenant_id",
    "project_id",
    "admin_state_up",
    "status",
    "shared",
    "router:external",
    "mtu",
    "port_security_enabled",
    "description",
    "created_at",
    "updated_at",
    "revision_number",
    PROVIDER_TYPE,
    PROVIDER_PHYSNET,
    PROVIDER_SEGID,
];

const LISTING: Listing<'static> = Listing {
    filterable: FILTERABLE,
    sortable: SORTABLE,
    not_found: NeutronError::network_not_found,
};

/// A stored network, if the caller may see it.
pub(crate) fn visible(scope: &Scope, doc: Option<Value>, id: &str) -> Result<Value, NeutronError> {
    match doc {
        Some(d) if Network::from_doc(&d)?.visible_to(scope) => Ok(d),
        _ => Err(NeutronError::network_not_found(id)),
    }
}

impl Neutron {
    /// Checks availability zone hints: AZ names of bottom pods for an
    /// internal network; the name of the one pod hosting an external one.
    pub(crate) async fn check_az_hints(
        &self,
        hints: &[String],
        external: bool,
    ) -> Result<(), NeutronError> {
        if hints.join(",").len() > 255 {
            return Err(NeutronError::invalid_input(
                "Too many availability_zone_hints specified",
            ));
        }
        if external && hints.len() > 1 {
            return Err(NeutronError::invalid_input(
                "an external network takes one availability_zone_hint: the pod that hosts it",
            ));
        }
        let pods = self.store.list_pods().await?;
        for h in hints {
            let known = pods.iter().filter(|p| !p.is_top()).any(|p| {
                if external {
                    p.pod_name == *h
                } else {
                    p.az_name == *h
                }
            });
            if !known {
                return Err(NeutronError::not_found(
                    "AvailabilityZoneNotFound",
                    format!("AvailabilityZone {h} could not be found."),
                ));
            }
        }
        Ok(())
    }

    /// Networks as a caller sees them: subnets, availability zones (the
    /// AZs of pods holding a copy), provider attributes for admins only.
    pub(crate) async fn network_views(
        &self,
        scope: &Scope,
        bodies: Vec<Value>,
    ) -> Result<Vec<Value>, NeutronError> {
        let ids: Vec<String> = Network::from_docs(&bodies)?
            .into_iter()
            .map(|n| n.id)
            .collect();
        let subnets = self.store.neutron_subnet_ids(&ids).await?;
        let azs = self
            .store
            .neutron_copy_azs(NeutronKind::Network.resource_type(), &ids)
            .await?;
        Ok(bodies
            .into_iter()
            .zip(ids)
            .map(|(mut b, id)| {
                b["subnets"] = json!(subnets
                    .iter()
                    .filter(|(n, _)| *n == id)
                    .map(|(_, s)| s.clone())
                    .collect::<Vec<_>>());
                let mut zones: Vec<String> = azs
                    .iter()
                    .filter(|(n, az)| *n == id && !az.is_empty())
                    .map(|(_, az)| az.clone())
                    .collect();
                zones.dedup();
                b["availability_zones"] = json!(zones);
                if !scope.is_admin {
                    if let Some(m) = b.as_object_mut() {
                        for k in PROVIDER {
                            m.remove(k);
                        }
                    }
                }
                b
            })
            .collect())
    }

    async fn network_view(&self, scope: &Scope, body: Value) -> Result<Value, NeutronError> {
        self.network_views(scope, vec![body])
            .await?
            .pop()
            .ok_or_else(NeutronError::internal)
    }

    /// A network's stored body, if the caller may see it.
    pub(crate) async fn network_body(
        &self,
        scope: &Scope,
        id: &str,
    ) -> Result<Value, NeutronError> {
        let doc = self.store.neutron_get(NeutronKind::Network, id).await?;
        visible(scope, doc, id)
    }

    pub async fn get_network(&self, scope: &Scope, id: &str) -> Result<Value, NeutronError> {
        let body = self.network_body(scope, id).await?;
        self.network_view(scope, body).await
    }

    pub async fn list_networks(&self, scope: &Scope, q: &ListQuery) -> Result<Page, NeutronError> {
        LISTING.check(q)?;
        let filter = sql_filter(scope, NeutronKind::Network, q);
        let bodies = self
            .store
            .neutron_list(NeutronKind::Network, &filter)
            .await?;
        let views = self.network_views(scope, bodies).await?;
        LISTING.apply(views, q)
    }

    pub async fn create_network(&self, scope: &Scope, body: Value) -> Result<Value, NeutronError> {
        let map = check("network", body, ATTRS, Op::Create)?;
        let project_id = owner(scope, &map)?;
        for (k, rule) in [
            ("shared", "create_network:shared"),
            ("router:external", "create_network:router:external"),
            (PROVIDER_TYPE, "create_network:provider:network_type"),
            (PROVIDER_PHYSNET, "create_network:provider:physical_network"),
            (PROVIDER_SEGID, "create_network:provider:segmentation_id"),
        ] {
            if map.contains_key(k) && !scope.is_admin {
                return Err(NeutronError::policy(&format!("rule:{rule}")));
            }
        }
        let flag = |k: &str, default: bool| -> Result<bool, NeutronError> {
            map.get(k).map_or(Ok(default), |v| boolean(k, v))
        };
        let name = map
            .get("name")
            .map_or(Ok(String::new()), |v| string("name", v, 255))?;
        let description = map
            .get("description")
            .map_or(Ok(String::new()), |v| string("description", v, 255))?;
        let admin_state_up = flag("admin_state_up", true)?;
        let shared = flag("shared", false)?;
        let external = flag("router:external", false)?;
        let port_security = flag("port_security_enabled", true)?;
        let hints = map
            .get("availability_zone_hints")
            .map_or(Ok(Vec::new()), |v| {
                attrs::string_list("availability_zone_hints", v, 255)
            })?;
        let mtu = map.get("mtu").map(|v| integer("mtu", v)).transpose()?;
        let seg_req = self.parse_segment_request(&map)?;
        self.check_az_hints(&hints, external).await?;

        let id = new_uuid();
        for _ in 0..RETRIES {
            let mut tx = self.store.neutron_tx().await?;
            self.check_quota(&mut tx, NeutronKind::Network, &project_id, 1)
                .await?;
            let segment = match self
                .allocate_segment(
                    &mut tx,
                    seg_req.clone(),
                    &id,
                    &self.cfg.tenant_network_types,
                )
                .await?
            {
                Attempt::Done(s) => s,
                Attempt::Retry => continue,
            };
            let max_mtu = i64::from(self.cfg.mtu_of(&segment.network_type));
            let mtu = match mtu {
                None => max_mtu,
                Some(m) if m > max_mtu => {
                    return Err(NeutronError::invalid_input(format!(
                        "Requested MTU is too big, maximum is {max_mtu}"
                    )))
                }
                Some(m) if m < 68 => {
                    return Err(NeutronError::invalid_attr(
                        "mtu",
                        format!("'{m}' is too small - must be at least '68'"),
                    ))
                }
                Some(m) => m,
            };
            let now = attrs::now();
            let body = json!({
                "id": id,
                "name": name,
                "tenant_id": project_id,
                "project_id": project_id,
                "admin_state_up": admin_state_up,
                "status": "ACTIVE",
                "shared": shared,
                "router:external": external,
                "mtu": mtu,
                "port_security_enabled": port_security,
                "availability_zone_hints": hints,
                "description": description,
                "created_at": now,
                "updated_at": now,
                "revision_number": 1,
                "tags": [],
                PROVIDER_TYPE: segment.network_type,
                PROVIDER_PHYSNET: segment.physical_network,
                PROVIDER_SEGID: segment.segmentation_id,
                "ipv4_address_scope": null,
                "ipv6_address_scope": null,
                "l2_adjacency": true,
            });
            tx.insert(NeutronKind::Network, &body).await?;
            self.ensure_default_group_in(&mut tx, &project_id).await?;
            match tx.commit().await {
                Ok(()) => return self.network_view(scope, body).await,
                Err(StoreError::Conflict(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(NeutronError::unavailable(
            "The network could not be created: too much contention; try again.",
        ))
    }

    pub async fn update_network(
        &self,
        scope: &Scope,
        id: &str,
        body: Value,
    ) -> Result<Value, NeutronError> {
        let map = check("network", body, ATTRS, Op::Update)?;
        for (k, rule) in [
            ("shared", "update_network:shared"),
            ("router:external", "update_network:router:external"),
            (PROVIDER_TYPE, "update_network:provider:network_type"),
            (PROVIDER_PHYSNET, "update_network:provider:physical_network"),
            (PROVIDER_SEGID, "update_network:provider:segmentation_id"),
        ] {
            if map.contains_key(k) && !scope.is_admin {
                return Err(NeutronError::policy(&format!("rule:{rule}")));
            }
        }
        let mut tx = self.store.neutron_tx().await?;
        let mut net = visible(scope, tx.lock(NeutronKind::Network, id).await?, id)?;
        let before = Network::from_doc(&net)?;
        if !scope.owns(&before.project_id) {
            return Err(NeutronError::policy("rule:update_network"));
        }
        let changed: Vec<&str> = PROVIDER
            .iter()
            .copied()
            .filter(|k| map.get(*k).is_some_and(|v| Some(v) != net.get(*k)))
            .collect();
        if !changed.is_empty() {
            return Err(NeutronError::invalid_input(format!(
                "Plugin does not support updating the following provider network attributes: {}",
                changed.join(", ")
            )));
        }
        for (k, v) in &map {
            let value = match k.as_str() {
                "name" | "description" => json!(string(k, v, 255)?),
                "admin_state_up" | "port_security_enabled" => json!(boolean(k, v)?),
                "router:external" => {
                    let external = boolean(k, v)?;
                    if !external && net.get(k) == Some(&Value::Bool(true)) {
                        let gateways = tx
                            .list(
                                NeutronKind::Port,
                                &NeutronFilter {
                                    eq: vec![
                                        ("network_id".into(), vec![id.to_string()]),
                                        (
                                            "device_owner".into(),
                                            vec![crate::ports::ROUTER_GATEWAY.to_string()],
                                        ),
                                    ],
                                    ..Default::default()
                                },
                            )
                            .await?;
                        if !gateways.is_empty() {
                            return Err(NeutronError::conflict(
                                "ExternalNetworkInUse",
                                format!(
                                    "External network {id} cannot be updated to be made non-external, since it has existing gateway ports."
                                ),
                            ));
                        }
                    }
                    json!(external)
                }
                "shared" => {
                    let shared = boolean(k, v)?;
                    if !shared && before.shared {
                        let ports = tx
                            .list(
                                NeutronKind::Port,
                                &NeutronFilter {
                                    eq: vec![("network_id".into(), vec![id.to_string()])],
                                    ..Default::default()
                                },
                            )
                            .await?;
                        if Port::from_docs(&ports)?
                            .iter()
                            .any(|p| p.project_id != before.project_id)
                        {
                            return Err(NeutronError::conflict(
                                "InvalidSharedSetting",
                                format!(
                                    "Unable to reconfigure sharing settings for network {id}. Multiple tenants are using it."
                                ),
                            ));
                        }
                    }
                    json!(shared)
                }
                "mtu" => {
                    let m = integer(k, v)?;
                    let max = i64::from(self.cfg.mtu_of(before.network_type()));
                    if m > max {
                        return Err(NeutronError::invalid_input(format!(
                            "Requested MTU is too big, maximum is {max}"
                        )));
                    }
                    if m < 68 {
                        return Err(NeutronError::invalid_attr(
                            "mtu",
                            format!("'{m}' is too small - must be at least '68'"),
                        ));
                    }
                    json!(m)
                }
                _ => continue,
            };
            net[k.as_str()] = value;
        }
        touch(&mut net);
        let jobs =
            jobs_for::<jobs_types::NetworkUpdate>(&mut tx, id, &before.project_id, None).await?;
        tx.update(NeutronKind::Network, &net, &jobs).await?;
        tx.commit().await?;
        self.network_view(scope, net).await
    }

    pub async fn delete_network(&self, scope: &Scope, id: &str) -> Result<(), NeutronError> {
        let mut tx = self.store.neutron_tx().await?;
        let net = visible(scope, tx.lock(NeutronKind::Network, id).await?, id)?;
        let network = Network::from_doc(&net)?;
        crate::routers::bridge::refuse_bridge_network(&network)?;
        let project_id = network.project_id;
        if !scope.owns(&project_id) {
            return Err(NeutronError::policy("rule:delete_network"));
        }
        let on_network = NeutronFilter {
            eq: vec![("network_id".into(), vec![id.to_string()])],
            ..Default::default()
        };
        if Network::from_doc(&net)?.external {
            self.delete_disassociated_floatingips_in(&mut tx, id)
                .await?;
        }
        let ports = Port::from_docs(&tx.list(NeutronKind::Port, &on_network).await?)?;
        let mut auto = Vec::new();
        for p in ports {
            if AUTO_DELETE_OWNERS.contains(&p.device_owner.as_str())
                || tx.is_reserved_port(&p.id).await?
            {
                auto.push(p.id);
            } else {
                return Err(NeutronError::conflict(
                    "NetworkInUse",
                    format!(
                        "Unable to complete operation on network {id}. There are one or more ports still in use on the network."
                    ),
                ));
            }
        }
        for pid in &auto {
            tx.delete(NeutronKind::Port, pid, &[]).await?;
        }
        for s in Subnet::from_docs(&tx.list(NeutronKind::Subnet, &on_network).await?)? {
            tx.delete(NeutronKind::Subnet, &s.id, &[]).await?;
        }
        let snapshot = self.network_view(&admin_scope(), net).await?;
        let jobs = jobs_for::<jobs_types::NetworkDelete>(&mut tx, id, &project_id, Some(&snapshot))
            .await?;
        tx.delete(NeutronKind::Network, id, &jobs).await?;
        tx.commit().await?;
        Ok(())
    }
}

/// A scope that sees everything (snapshots for jobs).
pub(crate) fn admin_scope() -> Scope {
    Scope {
        project_id: String::new(),
        user_id: String::new(),
        is_admin: true,
    }
}

/// The SQL part of a list: what the caller may see, and equality filters
/// on indexed columns (`tenant_id` is `project_id`).
pub(crate) fn sql_filter(scope: &Scope, kind: NeutronKind, q: &ListQuery) -> NeutronFilter {
    let columns = kind.sql_filters();
    let mut eq = Vec::new();
    for (k, values) in &q.filters {
        let column = if k == "tenant_id" {
            "project_id"
        } else {
            k.as_str()
        };
        if columns.contains(&column) {
            eq.push((column.to_string(), values.clone()));
        }
    }
    NeutronFilter {
        visible_to: (!scope.is_admin).then(|| scope.project_id.clone()),
        eq,
    }
}
