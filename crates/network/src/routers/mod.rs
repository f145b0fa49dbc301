//! Routers at the top: their attributes, their gateway on an external
//! network (`external_gateway_info`, a top port with an address of the
//! external subnet), their interfaces on tenant subnets
//! ([`interfaces`]) and their static routes ([`routes`]), validated as
//! Neutron's L3 plugin does. Interface changes and deletes record the
//! router's `router_sync` job in their transaction: the east-west wiring
//! in the pods ([`wiring`], [`bridge`], `bottom::routers`) follows them.

pub mod bridge;
mod gateway;
mod interfaces;
mod routes;
pub mod wiring;

use serde_json::{json, Map, Value};
use tricircle_core::ids::new_uuid;
use tricircle_store::{NeutronFilter, NeutronKind, NeutronTx, StoreError};

use gateway::{parse_gateway, GatewayRequest};
use routes::{parse_routes, routes_json, Route};

use crate::attrs::{self, attr, boolean, check, owner, string, touch, Attr, Op};
use crate::listing::{ListQuery, Listing, Page};
use crate::model::{Port, Resource, Router};
use crate::networks::sql_filter;
use crate::ports::{ROUTER_GATEWAY, ROUTER_INTERFACE};
use crate::{Attempt, Neutron, NeutronError, Scope, RETRIES};

const ATTRS: &[Attr] = &[
    attr("id", false, false),
    attr("name", true, true),
    attr("tenant_id", true, false),
    attr("project_id", true, false),
    attr("admin_state_up", true, true),
    attr("status", false, false),
    attr("external_gateway_info", true, true),
    attr("routes", false, true),
    attr("availability_zone_hints", true, false),
    attr("availability_zones", false, false),
    attr("distributed", true, true),
    attr("ha", true, true),
    attr("flavor_id", true, false),
    attr("description", true, true),
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
    "admin_state_up",
    "status",
    "distributed",
    "ha",
    "flavor_id",
    "availability_zone_hints",
    "availability_zones",
    "description",
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
    "admin_state_up",
    "status",
    "flavor_id",
    "description",
    "created_at",
    "updated_at",
    "revision_number",
];

const LISTING: Listing<'static> = Listing {
    filterable: FILTERABLE,
    sortable: SORTABLE,
    not_found: NeutronError::router_not_found,
};

/// Visible to admins only, as Neutron's policy has it.
const ADMIN_ONLY_VIEW: &[&str] = &["distributed", "ha"];

/// Whether a caller may see (and so change) a router: its project's, or
/// an admin.
fn visible(scope: &Scope, router: &Router) -> bool {
    scope.is_admin || router.project_id == scope.project_id
}

/// The ports of a router (interfaces and gateway), in `tx`.
async fn router_ports_in(tx: &mut NeutronTx, router_id: &str) -> Result<Vec<Port>, NeutronError> {
    Port::from_docs(&router_port_docs_in(tx, router_id).await?)
}

/// The stored documents of [`router_ports_in`].
async fn router_port_docs_in(
    tx: &mut NeutronTx,
    router_id: &str,
) -> Result<Vec<Value>, NeutronError> {
    Ok(tx
        .list(
            NeutronKind::Port,
            &NeutronFilter {
                eq: vec![("device_id".into(), vec![router_id.to_string()])],
                ..Default::default()
            },
        )
        .await?)
}

/// A router attribute only admins may write (Neutron's policy): refused
/// to others whatever the value.
fn admin_only(scope: &Scope, map: &Map<String, Value>, op: &str) -> Result<(), NeutronError> {
    for k in ["distributed", "ha"] {
        if map.contains_key(k) && !scope.is_admin {
            return Err(NeutronError::policy(&format!("rule:{op}_router:{k}")));
        }
    }
    Ok(())
}

/// `distributed` and `ha`: the top has neither kind of router; `false` is
/// accepted.
fn single_router_flag(map: &Map<String, Value>, k: &str) -> Result<(), NeutronError> {
    match map.get(k) {
        None => Ok(()),
        Some(v) if !boolean(k, v)? => Ok(()),
        Some(_) => Err(NeutronError::invalid_input(format!(
            "{} routers are not supported",
            if k == "ha" { "HA" } else { "Distributed" }
        ))),
    }
}

/// The gateway request of a body, with Neutron's policy on its parts.
fn gateway_request(
    scope: &Scope,
    map: &Map<String, Value>,
    op: &str,
    max_ips: usize,
) -> Result<Option<Option<GatewayRequest>>, NeutronError> {
    let Some(v) = map.get("external_gateway_info") else {
        return Ok(None);
    };
    let req = parse_gateway(v, max_ips)?;
    if let Some(r) = &req {
        for (given, part) in [
            (r.enable_snat.is_some(), "enable_snat"),
            (r.fixed_ips.is_some(), "external_fixed_ips"),
        ] {
            if given && !scope.is_admin {
                return Err(NeutronError::policy(&format!(
                    "rule:{op}_router:external_gateway_info:{part}"
                )));
            }
        }
    }
    Ok(Some(req))
}

impl Neutron {
    /// Routers as a caller sees them: the gateway's addresses as its port
    /// has them, the AZs of the pods holding a copy, `distributed` and
    /// `ha` for admins only.
    async fn router_views(
        &self,
        scope: &Scope,
        bodies: Vec<Value>,
    ) -> Result<Vec<Value>, NeutronError> {
        let routers = Router::from_docs(&bodies)?;
        let ids: Vec<String> = routers.iter().map(|r| r.id.clone()).collect();
        let gateways = if ids.is_empty() {
            Vec::new()
        } else {
            let docs = self
                .store
                .neutron_list(
                    NeutronKind::Port,
                    &NeutronFilter {
                        eq: vec![
                            ("device_id".into(), ids.clone()),
                            ("device_owner".into(), vec![ROUTER_GATEWAY.to_string()]),
                        ],
                        ..Default::default()
                    },
                )
                .await?;
            Port::from_docs(&docs)?
        };
        let azs = self
            .store
            .neutron_copy_azs(NeutronKind::Router.resource_type(), &ids)
            .await?;
        Ok(bodies
            .into_iter()
            .zip(routers)
            .map(|(mut b, router)| {
                let id = router.id;
                if let Some(gw) = gateways.iter().find(|p| p.device_id == id) {
                    if router.external_gateway_info.is_some() {
                        b["external_gateway_info"]["external_fixed_ips"] =
                            gateway::external_fixed_ips(gw);
                    }
                }
                let mut zones: Vec<String> = azs
                    .iter()
                    .filter(|(r, az)| *r == id && !az.is_empty())
                    .map(|(_, az)| az.clone())
                    .collect();
                zones.dedup();
                b["availability_zones"] = json!(zones);
                if !scope.is_admin {
                    if let Some(m) = b.as_object_mut() {
                        for k in ADMIN_ONLY_VIEW {
                            m.remove(*k);
                        }
                    }
                }
                b
            })
            .collect())
    }

    async fn router_view(&self, scope: &Scope, body: Value) -> Result<Value, NeutronError> {
        self.router_views(scope, vec![body])
            .await?
            .pop()
            .ok_or_else(NeutronError::internal)
    }

    /// A router locked in `tx`, if the caller may see it.
    async fn locked_router(
        &self,
        tx: &mut NeutronTx,
        scope: &Scope,
        id: &str,
    ) -> Result<Value, NeutronError> {
        match tx.lock(NeutronKind::Router, id).await? {
            Some(r) if visible(scope, &Router::from_doc(&r)?) => Ok(r),
            _ => Err(NeutronError::router_not_found(id)),
        }
    }

    pub async fn get_router(&self, scope: &Scope, id: &str) -> Result<Value, NeutronError> {
        match self.store.neutron_get(NeutronKind::Router, id).await? {
            Some(r) if visible(scope, &Router::from_doc(&r)?) => self.router_view(scope, r).await,
            _ => Err(NeutronError::router_not_found(id)),
        }
    }

    pub async fn list_routers(&self, scope: &Scope, q: &ListQuery) -> Result<Page, NeutronError> {
        LISTING.check(q)?;
        let filter = sql_filter(scope, NeutronKind::Router, q);
        let bodies = self
            .store
            .neutron_list(NeutronKind::Router, &filter)
            .await?;
        let views = self.router_views(scope, bodies).await?;
        LISTING.apply(views, q)
    }

    pub async fn create_router(&self, scope: &Scope, body: Value) -> Result<Value, NeutronError> {
        let map = check("router", body, ATTRS, Op::Create)?;
        let project_id = owner(scope, &map)?;
        admin_only(scope, &map, "create")?;
        let gateway =
            gateway_request(scope, &map, "create", self.cfg.max_fixed_ips_per_port)?.flatten();
        let text = |k: &str| map.get(k).map_or(Ok(String::new()), |v| string(k, v, 255));
        let (name, description) = (text("name")?, text("description")?);
        let admin_state_up = map
            .get("admin_state_up")
            .map_or(Ok(true), |v| boolean("admin_state_up", v))?;
        single_router_flag(&map, "distributed")?;
        single_router_flag(&map, "ha")?;
        if let Some(f) = map.get("flavor_id").filter(|v| !v.is_null()) {
            let f = attrs::uuid("flavor_id", f)?;
            return Err(NeutronError::not_found(
                "FlavorNotFound",
                format!("Flavor {f} could not be found."),
            ));
        }
        let hints = map
            .get("availability_zone_hints")
            .map_or(Ok(Vec::new()), |v| {
                attrs::string_list("availability_zone_hints", v, 255)
            })?;
        self.check_az_hints(&hints, false).await?;

        let id = new_uuid();
        for _ in 0..RETRIES {
            let mut tx = self.store.neutron_tx().await?;
            self.check_quota(&mut tx, NeutronKind::Router, &project_id, 1)
                .await?;
            let now = attrs::now();
            let mut body = json!({
                "id": id,
                "name": name,
                "tenant_id": project_id,
                "project_id": project_id,
                "admin_state_up": admin_state_up,
                "status": "ACTIVE",
                "external_gateway_info": null,
                "routes": [],
                "availability_zone_hints": hints,
                "availability_zones": [],
                "distributed": false,
                "ha": false,
                "flavor_id": null,
                "description": description,
                "created_at": now,
                "updated_at": now,
                "revision_number": 1,
                "tags": [],
            });
            tx.insert(NeutronKind::Router, &body).await?;
            if let Some(g) = &gateway {
                match self
                    .set_gateway_in(&mut tx, scope, &mut body, Some(g))
                    .await?
                {
                    Attempt::Done(()) => tx.update(NeutronKind::Router, &body, &[]).await?,
                    Attempt::Retry => continue,
                }
            }
            match tx.commit().await {
                Ok(()) => return self.router_view(scope, body).await,
                Err(StoreError::Conflict(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(NeutronError::unavailable(
            "The router could not be created: too much contention; try again.",
        ))
    }

    pub async fn update_router(
        &self,
        scope: &Scope,
        id: &str,
        body: Value,
    ) -> Result<Value, NeutronError> {
        let map = check("router", body, ATTRS, Op::Update)?;
        admin_only(scope, &map, "update")?;
        let gateway = gateway_request(scope, &map, "update", self.cfg.max_fixed_ips_per_port)?;
        single_router_flag(&map, "distributed")?;
        single_router_flag(&map, "ha")?;
        let routes = map.get("routes").map(parse_routes).transpose()?;
        for _ in 0..RETRIES {
            let mut tx = self.store.neutron_tx().await?;
            let mut router = self.locked_router(&mut tx, scope, id).await?;
            for (k, v) in &map {
                let value = match k.as_str() {
                    "name" | "description" => json!(string(k, v, 255)?),
                    "admin_state_up" => json!(boolean(k, v)?),
                    _ => continue,
                };
                router[k.as_str()] = value;
            }
            // Neutron checks the routes against the ports the router has
            // before a gateway in the same request changes.
            if let Some(r) = &routes {
                self.check_routes_in(&mut tx, id, r).await?;
                router["routes"] = routes_json(r);
            }
            if let Some(g) = &gateway {
                match self
                    .set_gateway_in(&mut tx, scope, &mut router, g.as_ref())
                    .await?
                {
                    Attempt::Done(()) => {}
                    Attempt::Retry => continue,
                }
            }
            touch(&mut router);
            tx.update(NeutronKind::Router, &router, &[]).await?;
            match tx.commit().await {
                Ok(()) => return self.router_view(scope, router).await,
                Err(StoreError::Conflict(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(NeutronError::unavailable(
            "The router could not be updated: too much contention; try again.",
        ))
    }

    /// Refused while the router has interfaces (`RouterInUse`); its
    /// gateway port goes with it (refused while floating IPs use it).
    pub async fn delete_router(&self, scope: &Scope, id: &str) -> Result<(), NeutronError> {
        let mut tx = self.store.neutron_tx().await?;
        let router = Router::from_doc(&self.locked_router(&mut tx, scope, id).await?)?;
        let docs = router_port_docs_in(&mut tx, id).await?;
        let ports = Port::from_docs(&docs)?;
        if ports.iter().any(|p| p.device_owner == ROUTER_INTERFACE) {
            return Err(NeutronError::conflict(
                "RouterInUse",
                format!("Router {id} is still in use"),
            ));
        }
        for (doc, p) in docs.iter().zip(&ports) {
            if p.device_owner == ROUTER_GATEWAY {
                self.remove_gateway_port_in(&mut tx, id, doc).await?;
            } else if let Some(p) = tx.lock(NeutronKind::Port, &p.id).await? {
                self.delete_port_in(&mut tx, &p).await?;
            }
        }
        // Its bottom routers and bridge ports go by its sync job.
        let jobs = [wiring::router_sync_job(id, &router.project_id)?];
        tx.delete(NeutronKind::Router, id, &jobs).await?;
        tx.commit().await?;
        Ok(())
    }
}

/// The routes of a stored router (those that do not parse left out).
fn routes_of(router: &Router) -> Vec<Route> {
    router
        .routes
        .iter()
        .filter_map(Route::from_stored)
        .collect()
}
