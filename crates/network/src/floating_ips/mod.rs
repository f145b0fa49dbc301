//! Floating IPs at the top: an address of an external network (its own
//! top port, `device_owner` `network:floatingip`, no project) and, when
//! associated, a fixed IP of a port on a subnet that a router with a
//! gateway on that network reaches ([`assoc`]). Nothing is made in the
//! pods yet (BEHAVIOUR §6.4 comes with the cross-pod wiring).

mod assoc;

use std::net::IpAddr;

use serde_json::{json, Map, Value};
use tricircle_core::ids::new_uuid;
use tricircle_store::{NeutronFilter, NeutronKind, NeutronTx, StoreError};

use crate::attrs::{self, attr, check, owner, string, touch, Attr, Op};
use crate::ipam;
use crate::listing::{ListQuery, Listing, Page};
use crate::model::{FloatingIp, Network, Port, Resource, Subnet};
use crate::networks::sql_filter;
use crate::ports::{IpRequest, L3Port, FLOATINGIP};
use crate::{Attempt, Neutron, NeutronError, Scope, RETRIES};

const ATTRS: &[Attr] = &[
    attr("id", false, false),
    attr("floating_ip_address", true, false),
    attr("subnet_id", true, false),
    attr("floating_network_id", true, false),
    attr("router_id", false, false),
    attr("port_id", true, true),
    attr("fixed_ip_address", true, true),
    attr("tenant_id", true, false),
    attr("project_id", true, false),
    attr("status", false, false),
    attr("port_details", false, false),
    attr("description", true, true),
    attr("created_at", false, false),
    attr("updated_at", false, false),
    attr("revision_number", false, false),
    attr("tags", false, false),
];

const FILTERABLE: &[&str] = &[
    "id",
    "floating_ip_address",
    "floating_network_id",
    "router_id",
    "port_id",
    "fixed_ip_address",
    "tenant_id",
    "project_id",
    "status",
    "description",
    "created_at",
    "updated_at",
    "revision_number",
    "tags",
];

const SORTABLE: &[&str] = &[
    "id",
    "floating_ip_address",
    "floating_network_id",
    "router_id",
    "port_id",
    "fixed_ip_address",
    "tenant_id",
    "project_id",
    "status",
    "description",
    "created_at",
    "updated_at",
    "revision_number",
];

const LISTING: Listing<'static> = Listing {
    filterable: FILTERABLE,
    sortable: SORTABLE,
    not_found: NeutronError::floatingip_not_found,
};

/// Neutron's floating IP statuses: `DOWN` until associated.
const ACTIVE: &str = "ACTIVE";
const DOWN: &str = "DOWN";

fn visible(scope: &Scope, fip: &FloatingIp) -> bool {
    scope.is_admin || fip.project_id == scope.project_id
}

/// A port (its stored document) as `port_details` shows it.
fn port_details(port: &Value) -> Value {
    let mut out = json!({});
    for k in [
        "name",
        "network_id",
        "mac_address",
        "admin_state_up",
        "status",
        "device_id",
        "device_owner",
    ] {
        out[k] = port.get(k).cloned().unwrap_or(Value::Null);
    }
    out
}

/// An optional IP address attribute.
fn ip_attr(map: &Map<String, Value>, k: &str) -> Result<Option<IpAddr>, NeutronError> {
    match map.get(k) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => {
            let s = string(k, v, 64)?;
            ipam::parse_ip(&s).map(Some).ok_or_else(|| {
                NeutronError::invalid_attr(k, format!("'{s}' is not a valid IP address"))
            })
        }
    }
}

/// An optional UUID attribute.
fn uuid_attr(map: &Map<String, Value>, k: &str) -> Result<Option<String>, NeutronError> {
    match map.get(k) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => attrs::uuid(k, v).map(Some),
    }
}

impl Neutron {
    /// Floating IPs as the API shows them, with `port_details`.
    async fn floatingip_views(&self, bodies: Vec<Value>) -> Result<Vec<Value>, NeutronError> {
        let fips = FloatingIp::from_docs(&bodies)?;
        let port_ids: Vec<String> = fips.iter().filter_map(|f| f.port_id.clone()).collect();
        let ports = if port_ids.is_empty() {
            Vec::new()
        } else {
            self.store
                .neutron_list(
                    NeutronKind::Port,
                    &NeutronFilter {
                        eq: vec![("id".into(), port_ids)],
                        ..Default::default()
                    },
                )
                .await?
        };
        let typed = Port::from_docs(&ports)?;
        Ok(bodies
            .into_iter()
            .zip(fips)
            .map(|(mut b, f)| {
                let port = f
                    .port_id
                    .and_then(|pid| typed.iter().position(|p| p.id == pid))
                    .map(|i| &ports[i]);
                b["port_details"] = port.map_or(Value::Null, port_details);
                b
            })
            .collect())
    }

    async fn floatingip_view(&self, body: Value) -> Result<Value, NeutronError> {
        self.floatingip_views(vec![body])
            .await?
            .pop()
            .ok_or_else(NeutronError::internal)
    }

    pub async fn get_floatingip(&self, scope: &Scope, id: &str) -> Result<Value, NeutronError> {
        match self.store.neutron_get(NeutronKind::FloatingIp, id).await? {
            Some(f) if visible(scope, &FloatingIp::from_doc(&f)?) => self.floatingip_view(f).await,
            _ => Err(NeutronError::floatingip_not_found(id)),
        }
    }

    pub async fn list_floatingips(
        &self,
        scope: &Scope,
        q: &ListQuery,
    ) -> Result<Page, NeutronError> {
        LISTING.check(q)?;
        let filter = sql_filter(scope, NeutronKind::FloatingIp, q);
        let bodies = self
            .store
            .neutron_list(NeutronKind::FloatingIp, &filter)
            .await?;
        let views = self.floatingip_views(bodies).await?;
        LISTING.apply(views, q)
    }

    pub async fn create_floatingip(
        &self,
        scope: &Scope,
        body: Value,
    ) -> Result<Value, NeutronError> {
        let map = check("floatingip", body, ATTRS, Op::Create)?;
        let project_id = owner(scope, &map)?;
        let net_id = attrs::uuid(
            "floating_network_id",
            map.get("floating_network_id")
                .ok_or_else(|| attrs::required("floating_network_id"))?,
        )?;
        let address = ip_attr(&map, "floating_ip_address")?;
        if address.is_some() && !scope.is_admin {
            return Err(NeutronError::policy(
                "rule:create_floatingip:floating_ip_address",
            ));
        }
        let subnet_id = uuid_attr(&map, "subnet_id")?;
        let port_id = uuid_attr(&map, "port_id")?;
        let fixed_ip = ip_attr(&map, "fixed_ip_address")?;
        let description = map
            .get("description")
            .map_or(Ok(String::new()), |v| string("description", v, 255))?;
        let id = new_uuid();
        for _ in 0..RETRIES {
            let mut tx = self.store.neutron_tx().await?;
            self.check_quota(&mut tx, NeutronKind::FloatingIp, &project_id, 1)
                .await?;
            let external = match tx.get(NeutronKind::Network, &net_id).await? {
                Some(n) => Network::from_doc(&n)?.external,
                None => false,
            };
            if !external {
                return Err(NeutronError::bad_l3_request(
                    "floatingip",
                    format!("Network {net_id} is not a valid external network"),
                ));
            }
            let subnets = tx
                .list(
                    NeutronKind::Subnet,
                    &NeutronFilter {
                        eq: vec![("network_id".into(), vec![net_id.clone()])],
                        ..Default::default()
                    },
                )
                .await?;
            if !Subnet::from_docs(&subnets)?
                .iter()
                .any(|s| s.ip_version == 4)
            {
                return Err(NeutronError::bad_l3_request(
                    "floatingip",
                    format!("Network {net_id} does not contain any IPv4 subnet"),
                ));
            }
            let fixed_ips = (subnet_id.is_some() || address.is_some()).then(|| {
                vec![IpRequest {
                    subnet_id: subnet_id.clone(),
                    ip: address,
                }]
            });
            let made = self
                .create_l3_port_in(
                    &mut tx,
                    L3Port {
                        project_id: "",
                        network_id: &net_id,
                        device_id: &id,
                        device_owner: FLOATINGIP,
                        fixed_ips,
                    },
                )
                .await?;
            let Attempt::Done(port) = made else {
                continue;
            };
            let port = Port::from_doc(&port)?;
            let Some(floating_ip) = port
                .fixed_ips
                .iter()
                .map(|ip| ip.ip_address.as_str())
                .find(|ip| ipam::parse_ip(ip).is_some_and(|a| a.is_ipv4()))
            else {
                return Err(NeutronError::bad_request(format!(
                    "Unable to find any IP address on external network {net_id}."
                ))
                .with_kind("ExternalIpAddressExhausted"));
            };
            let now = attrs::now();
            let mut fip = json!({
                "id": id,
                "tenant_id": project_id,
                "project_id": project_id,
                "floating_ip_address": floating_ip,
                "floating_network_id": net_id,
                "router_id": null,
                "port_id": null,
                "fixed_ip_address": null,
                "status": DOWN,
                "description": description,
                "created_at": now,
                "updated_at": now,
                "revision_number": 0,
                "tags": [],
            });
            match self
                .associate_in(&mut tx, scope, &mut fip, port_id.as_deref(), fixed_ip)
                .await?
            {
                Attempt::Done(()) => {}
                Attempt::Retry => continue,
            }
            match tx.insert(NeutronKind::FloatingIp, &fip).await {
                Ok(()) => {}
                Err(StoreError::Conflict(_)) => continue,
                Err(e) => return Err(e.into()),
            }
            match tx.commit().await {
                Ok(()) => return self.floatingip_view(fip).await,
                Err(StoreError::Conflict(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(NeutronError::unavailable(
            "The floating IP could not be created: too much contention; try again.",
        ))
    }

    /// `port_id` (null: disassociate), `fixed_ip_address`, `description`.
    pub async fn update_floatingip(
        &self,
        scope: &Scope,
        id: &str,
        body: Value,
    ) -> Result<Value, NeutronError> {
        let map = check("floatingip", body, ATTRS, Op::Update)?;
        let port = map
            .get("port_id")
            .map(|v| match v {
                Value::Null => Ok(None),
                v => attrs::uuid("port_id", v).map(Some),
            })
            .transpose()?;
        let fixed_ip = ip_attr(&map, "fixed_ip_address")?;
        let description = map
            .get("description")
            .map(|v| string("description", v, 255))
            .transpose()?;
        for _ in 0..RETRIES {
            let mut tx = self.store.neutron_tx().await?;
            let mut fip = self.locked_floatingip(&mut tx, scope, id).await?;
            // Without `port_id` the association stays as it is (a fixed IP
            // alone is refused there).
            if port.is_some() || fixed_ip.is_some() {
                let wanted = port.clone().flatten();
                match self
                    .associate_in(&mut tx, scope, &mut fip, wanted.as_deref(), fixed_ip)
                    .await?
                {
                    Attempt::Done(()) => {}
                    Attempt::Retry => continue,
                }
            }
            if let Some(d) = &description {
                fip["description"] = json!(d);
            }
            touch(&mut fip);
            match tx.update(NeutronKind::FloatingIp, &fip, &[]).await {
                Ok(()) => {}
                Err(StoreError::Conflict(_)) => continue,
                Err(e) => return Err(e.into()),
            }
            match tx.commit().await {
                Ok(()) => return self.floatingip_view(fip).await,
                Err(StoreError::Conflict(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(NeutronError::unavailable(
            "The floating IP could not be updated: too much contention; try again.",
        ))
    }

    /// The floating IP and its port on the external network.
    pub async fn delete_floatingip(&self, scope: &Scope, id: &str) -> Result<(), NeutronError> {
        let mut tx = self.store.neutron_tx().await?;
        self.locked_floatingip(&mut tx, scope, id).await?;
        self.delete_floatingip_in(&mut tx, id).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Deletes a floating IP (locked in `tx`) and its port.
    async fn delete_floatingip_in(&self, tx: &mut NeutronTx, id: &str) -> Result<(), NeutronError> {
        let ports = tx
            .list(
                NeutronKind::Port,
                &NeutronFilter {
                    eq: vec![
                        ("device_id".into(), vec![id.to_string()]),
                        ("device_owner".into(), vec![FLOATINGIP.to_string()]),
                    ],
                    ..Default::default()
                },
            )
            .await?;
        for p in Port::from_docs(&ports)? {
            if let Some(p) = tx.lock(NeutronKind::Port, &p.id).await? {
                self.delete_port_in(tx, &p).await?;
            }
        }
        tx.delete(NeutronKind::FloatingIp, id, &[]).await?;
        Ok(())
    }

    /// An external network is being deleted: its floating IPs that are
    /// not associated go first (Neutron's
    /// `delete_disassociated_floatingips`); associated ones keep their
    /// ports, so the network stays in use.
    pub(crate) async fn delete_disassociated_floatingips_in(
        &self,
        tx: &mut NeutronTx,
        network_id: &str,
    ) -> Result<(), NeutronError> {
        let fips = tx
            .list(
                NeutronKind::FloatingIp,
                &NeutronFilter {
                    eq: vec![("floating_network_id".into(), vec![network_id.to_string()])],
                    ..Default::default()
                },
            )
            .await?;
        for f in FloatingIp::from_docs(&fips)? {
            if f.port_id.is_some() {
                continue;
            }
            if let Some(locked) = tx.lock(NeutronKind::FloatingIp, &f.id).await? {
                if FloatingIp::from_doc(&locked)?.port_id.is_none() {
                    self.delete_floatingip_in(tx, &f.id).await?;
                }
            }
        }
        Ok(())
    }

    async fn locked_floatingip(
        &self,
        tx: &mut NeutronTx,
        scope: &Scope,
        id: &str,
    ) -> Result<Value, NeutronError> {
        match tx.lock(NeutronKind::FloatingIp, id).await? {
            Some(f) if visible(scope, &FloatingIp::from_doc(&f)?) => Ok(f),
            _ => Err(NeutronError::floatingip_not_found(id)),
        }
    }

    /// A port is going: its floating IPs let go of it (Neutron's
    /// `disassociate_floatingips`).
    pub(crate) async fn disassociate_floatingips_in(
        &self,
        tx: &mut NeutronTx,
        port_id: &str,
    ) -> Result<(), NeutronError> {
        let fips = tx
            .list(
                NeutronKind::FloatingIp,
                &NeutronFilter {
                    eq: vec![("port_id".into(), vec![port_id.to_string()])],
                    ..Default::default()
                },
            )
            .await?;
        for mut fip in fips {
            assoc::set_association(&mut fip, None);
            touch(&mut fip);
            tx.update(NeutronKind::FloatingIp, &fip, &[]).await?;
        }
        Ok(())
    }
}
