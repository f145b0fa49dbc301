//! Ports: top IPAM (fixed IPs from the subnets' pools, or the requested
//! ones), MAC addresses, security groups, allowed address pairs, binding
//! attributes; and the reserved ports Tricircle keeps for itself.

mod ips;
mod parse;
mod server;
mod update;

use std::collections::HashSet;

use serde_json::{json, Map, Value};
use tricircle_core::ids::new_uuid;
use tricircle_jobs::JobPayload;
use tricircle_store::{NeutronKind, NeutronTx, StoreError};

use parse::{fill_pair_macs, parse_dhcp_opts, parse_mac, parse_pairs, parse_profile, parse_vnic};
pub(crate) use parse::{parse_fixed_ips, IpRequest};

use crate::attrs::{self, attr, boolean, check, list, owner, string, Attr, Op};
use crate::ipam;
use crate::listing::{ListQuery, Listing, Page};
use crate::model::{Network, Port, Resource, SecurityGroup};
use crate::networks::{self, sql_filter};
use crate::{jobs_for, jobs_types, Attempt, Neutron, NeutronError, Scope, RETRIES};

const ATTRS: &[Attr] = &[
    attr("id", false, false),
    attr("name", true, true),
    attr("network_id", true, false),
    attr("tenant_id", true, false),
    attr("project_id", true, false),
    attr("mac_address", true, true),
    attr("admin_state_up", true, true),
    attr("status", false, false),
    attr("fixed_ips", true, true),
    attr("device_id", true, true),
    attr("device_owner", true, true),
    attr("security_groups", true, true),
    attr("allowed_address_pairs", true, true),
    attr("port_security_enabled", true, true),
    attr("binding:host_id", true, true),
    attr("binding:profile", true, true),
    attr("binding:vnic_type", true, true),
    attr("binding:vif_type", false, false),
    attr("binding:vif_details", false, false),
    attr("extra_dhcp_opts", true, true),
    attr("description", true, true),
    attr("created_at", false, false),
    attr("updated_at", false, false),
    attr("revision_number", false, false),
    attr("tags", false, false),
];

const FILTERABLE: &[&str] = &[
    "id",
    "name",
    "network_id",
    "tenant_id",
    "project_id",
    "mac_address",
    "admin_state_up",
    "status",
    "fixed_ips",
    "device_id",
    "device_owner",
    "security_groups",
    "allowed_address_pairs",
    "port_security_enabled",
    "binding:host_id",
    "binding:vnic_type",
    "binding:vif_type",
    "description",
    "created_at",
    "updated_at",
    "revision_number",
    "tags",
];

const SORTABLE: &[&str] = &[
    "id",
    "name",
    "network_id",
    "tenant_id",
    "project_id",
    "mac_address",
    "admin_state_up",
    "status",
    "device_id",
    "device_owner",
    "port_security_enabled",
    "binding:host_id",
    "binding:vnic_type",
    "description",
    "created_at",
    "updated_at",
    "revision_number",
];

const LISTING: Listing<'static> = Listing {
    filterable: FILTERABLE,
    sortable: SORTABLE,
    not_found: NeutronError::port_not_found,
};

/// Visible to admins only, as Neutron's policy has it.
const ADMIN_ONLY_VIEW: &[&str] = &[
    "binding:host_id",
    "binding:profile",
    "binding:vif_type",
    "binding:vif_details",
];

/// Everything a new port needs, validated.
#[derive(Debug, Clone)]
struct NewPort {
    id: String,
    project_id: String,
    network_id: String,
    name: String,
    description: String,
    admin_state_up: bool,
    mac: Option<String>,
    fixed_ips: Option<Vec<IpRequest>>,
    device_id: String,
    device_owner: String,
    security_groups: Option<Vec<String>>,
    port_security: Option<bool>,
    pairs: Vec<Value>,
    host_id: String,
    profile: Value,
    vnic_type: String,
    extra_dhcp_opts: Value,
    reserved_name: Option<String>,
    count_quota: bool,
}

fn no_more_ips(network_id: &str) -> NeutronError {
    NeutronError::conflict(
        "IpAddressGenerationFailure",
        format!("No more IP addresses available on network {network_id}."),
    )
}

fn fixed_ips_json(ips: &[(String, String)]) -> Value {
    json!(ips
        .iter()
        .map(|(s, ip)| json!({"subnet_id": s, "ip_address": ip}))
        .collect::<Vec<_>>())
}

/// Whether a device owner is one of Neutron's own (`network:*`): such
/// ports get no security groups.
fn network_owned(device_owner: &str) -> bool {
    device_owner.starts_with("network:")
}

/// A port as a caller sees it.
pub(crate) fn port_view(scope: &Scope, mut port: Value) -> Value {
    if !scope.is_admin {
        if let Some(m) = port.as_object_mut() {
            for k in ADMIN_ONLY_VIEW {
                m.remove(*k);
            }
        }
    }
    port
}

/// Whether a caller may see a port (a stored document): own, or on a
/// network of theirs.
async fn port_visible(
    neutron: &Neutron,
    tx: Option<&mut NeutronTx>,
    scope: &Scope,
    doc: &Value,
) -> Result<bool, NeutronError> {
    let port = Port::from_doc(doc)?;
    if scope.is_admin || port.project_id == scope.project_id {
        return Ok(true);
    }
    let net_id = port.network_id.as_str();
    let net = match tx {
        Some(tx) => tx.get(NeutronKind::Network, net_id).await?,
        None => {
            neutron
                .store
                .neutron_get(NeutronKind::Network, net_id)
                .await?
        }
    };
    Ok(match net {
        Some(n) => Network::from_doc(&n)?.project_id == scope.project_id,
        None => false,
    })
}

impl Neutron {
    /// The groups a port of `project_id` may use: each must exist and be
    /// the project's (any for an admin).
    async fn check_groups(
        &self,
        tx: &mut NeutronTx,
        scope: &Scope,
        project_id: &str,
        groups: &[String],
    ) -> Result<(), NeutronError> {
        for g in groups {
            let sg = match tx.get(NeutronKind::SecurityGroup, g).await? {
                Some(sg) => SecurityGroup::from_doc(&sg)?,
                None => return Err(NeutronError::security_group_not_found(g)),
            };
            if !scope.is_admin && sg.project_id != project_id {
                return Err(NeutronError::security_group_not_found(g));
            }
        }
        Ok(())
    }

    async fn create_port_once(
        &self,
        scope: &Scope,
        np: &NewPort,
    ) -> Result<Attempt<Value>, NeutronError> {
        let mut tx = self.store.neutron_tx().await?;
        let port = match self.insert_port_in(&mut tx, scope, np).await? {
            Attempt::Done(p) => p,
            Attempt::Retry => return Ok(Attempt::Retry),
        };
        match tx.commit().await {
            Ok(()) => Ok(Attempt::Done(port)),
            Err(StoreError::Conflict(_)) => Ok(Attempt::Retry),
            Err(e) => Err(e.into()),
        }
    }

    /// A port Neutron makes for an L3 resource (a router's interface or
    /// gateway, a floating IP's address), created in `tx`: no security
    /// groups, counted in no quota. `Retry`: an address or MAC was taken
    /// meanwhile, the whole transaction is to be tried again.
    pub(crate) async fn create_l3_port_in(
        &self,
        tx: &mut NeutronTx,
        p: L3Port<'_>,
    ) -> Result<Attempt<Value>, NeutronError> {
        let np = NewPort {
            id: new_uuid(),
            project_id: p.project_id.to_string(),
            network_id: p.network_id.to_string(),
            name: String::new(),
            description: String::new(),
            admin_state_up: true,
            mac: None,
            fixed_ips: p.fixed_ips,
            device_id: p.device_id.to_string(),
            device_owner: p.device_owner.to_string(),
            security_groups: None,
            port_security: None,
            pairs: Vec::new(),
            host_id: String::new(),
            profile: json!({}),
            vnic_type: "normal".into(),
            extra_dhcp_opts: json!([]),
            reserved_name: None,
            count_quota: false,
        };
        self.insert_port_in(tx, &networks::admin_scope(), &np).await
    }

    /// Creates a port in `tx` (or finds the reserved port of its name).
    async fn insert_port_in(
        &self,
        tx: &mut NeutronTx,
        scope: &Scope,
        np: &NewPort,
    ) -> Result<Attempt<Value>, NeutronError> {
        if let Some(name) = &np.reserved_name {
            if let Some(existing) = tx.find_reserved_port(&np.network_id, name).await? {
                return Ok(Attempt::Done(existing));
            }
        }
        if np.count_quota {
            self.check_quota(tx, NeutronKind::Port, &np.project_id, 1)
                .await?;
        }
        let network = match tx.lock(NeutronKind::Network, &np.network_id).await? {
            Some(n) => Network::from_doc(&n)?,
            None => return Err(NeutronError::network_not_found(&np.network_id)),
        };
        if !network.visible_to(scope) {
            return Err(NeutronError::network_not_found(&np.network_id));
        }
        let net_owner = scope.owns(&network.project_id);
        if network_owned(&np.device_owner) && !net_owner {
            return Err(NeutronError::policy("rule:create_port:device_owner"));
        }
        if np.mac.is_some() && !net_owner {
            return Err(NeutronError::policy("rule:create_port:mac_address"));
        }
        if np
            .fixed_ips
            .as_ref()
            .is_some_and(|f| f.iter().any(|r| r.ip.is_some()))
            && !net_owner
        {
            return Err(NeutronError::policy(
                "rule:create_port:fixed_ips:ip_address",
            ));
        }
        let port_security = np
            .port_security
            .unwrap_or(network.port_security_enabled != Some(false));
        let mac = choose_mac(tx, np).await?;
        let ips = self
            .assign_ips(
                tx,
                &np.network_id,
                &np.id,
                &mac,
                np.fixed_ips.as_deref(),
                &[],
            )
            .await?;
        let groups = match &np.security_groups {
            Some(g) => g.clone(),
            None if port_security && !network_owned(&np.device_owner) => {
                vec![self.ensure_default_group_in(tx, &np.project_id).await?]
            }
            None => Vec::new(),
        };
        if !port_security && !groups.is_empty() {
            return Err(NeutronError::bad_request(
                "Port security must be enabled and port must have an IP address in order to use security groups.",
            )
            .with_kind("PortSecurityAndIPRequiredForSecurityGroups"));
        }
        if !port_security && !np.pairs.is_empty() {
            return Err(NeutronError::conflict(
                "AddressPairAndPortSecurityRequired",
                "Port Security must be enabled in order to have allowed address pairs on a port.",
            ));
        }
        self.check_groups(tx, scope, &np.project_id, &groups)
            .await?;
        let now = attrs::now();
        let body = json!({
            "id": np.id,
            "name": np.name,
            "network_id": np.network_id,
            "tenant_id": np.project_id,
            "project_id": np.project_id,
            "mac_address": mac,
            "admin_state_up": np.admin_state_up,
            "status": initial_status(&np.device_owner),
            "fixed_ips": fixed_ips_json(&ips),
            "device_id": np.device_id,
            "device_owner": np.device_owner,
            "security_groups": groups,
            "allowed_address_pairs": fill_pair_macs(&np.pairs, &mac),
            "port_security_enabled": port_security,
            "binding:host_id": np.host_id,
            "binding:profile": np.profile,
            "binding:vnic_type": np.vnic_type,
            "binding:vif_type": "unbound",
            "binding:vif_details": {},
            "extra_dhcp_opts": np.extra_dhcp_opts,
            "description": np.description,
            "created_at": now,
            "updated_at": now,
            "revision_number": 1,
            "tags": [],
        });
        match tx.insert_port(&body, np.reserved_name.as_deref()).await {
            Ok(()) => {}
            Err(StoreError::Conflict(_)) => return Ok(Attempt::Retry),
            Err(e) => return Err(e.into()),
        }
        for (sid, ip) in &ips {
            if !tx.allocate_ip(sid, ip, &np.id, &np.network_id).await? {
                return Ok(Attempt::Retry);
            }
        }
        tx.set_port_security_groups(&np.id, &groups).await?;
        Ok(Attempt::Done(body))
    }

    async fn create_port_retrying(
        &self,
        scope: &Scope,
        np: NewPort,
    ) -> Result<Value, NeutronError> {
        for _ in 0..RETRIES {
            if let Attempt::Done(p) = self.create_port_once(scope, &np).await? {
                return Ok(p);
            }
        }
        Err(NeutronError::unavailable(
            "The port could not be created: too much contention; try again.",
        ))
    }

    pub async fn create_port(&self, scope: &Scope, body: Value) -> Result<Value, NeutronError> {
        let map = check("port", body, ATTRS, Op::Create)?;
        let np = self.new_port(scope, &map)?;
        let port = self.create_port_retrying(scope, np).await?;
        Ok(port_view(scope, port))
    }

    fn new_port(&self, scope: &Scope, map: &Map<String, Value>) -> Result<NewPort, NeutronError> {
        let project_id = owner(scope, map)?;
        let network_id = attrs::uuid(
            "network_id",
            map.get("network_id")
                .ok_or_else(|| attrs::required("network_id"))?,
        )?;
        for (k, rule) in [
            ("binding:host_id", "create_port:binding:host_id"),
            ("binding:profile", "create_port:binding:profile"),
        ] {
            if map.contains_key(k) && !scope.is_admin {
                return Err(NeutronError::policy(&format!("rule:{rule}")));
            }
        }
        let text = |k: &str| map.get(k).map_or(Ok(String::new()), |v| string(k, v, 255));
        Ok(NewPort {
            id: new_uuid(),
            project_id,
            network_id,
            name: text("name")?,
            description: text("description")?,
            admin_state_up: map
                .get("admin_state_up")
                .map_or(Ok(true), |v| boolean("admin_state_up", v))?,
            mac: map.get("mac_address").map(parse_mac).transpose()?,
            fixed_ips: map
                .get("fixed_ips")
                .map(|v| parse_fixed_ips("fixed_ips", v, self.cfg.max_fixed_ips_per_port))
                .transpose()?,
            device_id: text("device_id")?,
            device_owner: text("device_owner")?,
            security_groups: map
                .get("security_groups")
                .map(|v| {
                    list("security_groups", v)?
                        .iter()
                        .map(|g| attrs::uuid("security_groups", g))
                        .collect::<Result<Vec<_>, _>>()
                })
                .transpose()?
                .map(dedup),
            port_security: map
                .get("port_security_enabled")
                .map(|v| boolean("port_security_enabled", v))
                .transpose()?,
            pairs: map
                .get("allowed_address_pairs")
                .map_or(Ok(Vec::new()), parse_pairs)?,
            host_id: text("binding:host_id")?,
            profile: map
                .get("binding:profile")
                .map_or(Ok(json!({})), parse_profile)?,
            vnic_type: map
                .get("binding:vnic_type")
                .map_or(Ok("normal".to_string()), parse_vnic)?,
            extra_dhcp_opts: map
                .get("extra_dhcp_opts")
                .map_or(Ok(json!([])), parse_dhcp_opts)?,
            reserved_name: None,
            count_quota: true,
        })
    }

    /// Idempotent by (network_id, name): the existing port of that name,
    /// or a new one with one IP on `subnet_id` and `device_owner`. Several
    /// instances asking at once get the same port.
    pub async fn reserved_port(
        &self,
        project_id: &str,
        network_id: &str,
        subnet_id: &str,
        name: &str,
        device_owner: &str,
    ) -> Result<Value, NeutronError> {
        let scope = Scope {
            project_id: project_id.to_string(),
            user_id: String::new(),
            is_admin: true,
        };
        let np = NewPort {
            id: new_uuid(),
            project_id: project_id.to_string(),
            network_id: network_id.to_string(),
            name: name.to_string(),
            description: String::new(),
            admin_state_up: true,
            mac: None,
            fixed_ips: Some(vec![IpRequest {
                subnet_id: Some(subnet_id.to_string()),
                ip: None,
            }]),
            device_id: String::new(),
            device_owner: device_owner.to_string(),
            security_groups: Some(Vec::new()),
            port_security: Some(false),
            pairs: Vec::new(),
            host_id: String::new(),
            profile: json!({}),
            vnic_type: "normal".into(),
            extra_dhcp_opts: json!([]),
            reserved_name: Some(name.to_string()),
            count_quota: false,
        };
        self.create_port_retrying(&scope, np).await
    }

    pub async fn get_port(&self, scope: &Scope, id: &str) -> Result<Value, NeutronError> {
        match self.store.neutron_get(NeutronKind::Port, id).await? {
            Some(p) if port_visible(self, None, scope, &p).await? => Ok(port_view(scope, p)),
            _ => Err(NeutronError::port_not_found(id)),
        }
    }

    pub async fn list_ports(&self, scope: &Scope, q: &ListQuery) -> Result<Page, NeutronError> {
        LISTING.check(q)?;
        let filter = sql_filter(scope, NeutronKind::Port, q);
        let bodies = self.store.neutron_list(NeutronKind::Port, &filter).await?;
        let views = bodies.into_iter().map(|p| port_view(scope, p)).collect();
        LISTING.apply(views, q)
    }

    pub(crate) async fn locked_port(
        &self,
        tx: &mut NeutronTx,
        scope: &Scope,
        id: &str,
    ) -> Result<Value, NeutronError> {
        match tx.lock(NeutronKind::Port, id).await? {
            Some(p) if port_visible(self, Some(tx), scope, &p).await? => Ok(p),
            _ => Err(NeutronError::port_not_found(id)),
        }
    }

    pub async fn delete_port(&self, scope: &Scope, id: &str) -> Result<(), NeutronError> {
        let mut tx = self.store.neutron_tx().await?;
        let port = self.locked_port(&mut tx, scope, id).await?;
        let owner = Port::from_doc(&port)?.device_owner;
        let reserved = tx.is_reserved_port(id).await?;
        if (reserved && !scope.is_admin) || l3_owned(&owner) {
            return Err(l3_port_in_use(id, &owner));
        }
        self.delete_port_in(&mut tx, &port).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Deletes a port locked in `tx` (its stored document), recording its
    /// delete job (when it has copies in pods) in the same transaction. Its
    /// floating IPs are disassociated, as Neutron does.
    pub(crate) async fn delete_port_in(
        &self,
        tx: &mut NeutronTx,
        doc: &Value,
    ) -> Result<(), NeutronError> {
        let port = Port::from_doc(doc)?;
        let id = port.id.as_str();
        self.disassociate_floatingips_in(tx, id).await?;
        let jobs = jobs_for::<jobs_types::PortDelete>(tx, id, &port.project_id, Some(doc)).await?;
        if !jobs.is_empty() {
            // Its copies go later: until then no other port gets its
            // addresses (a pod would refuse them).
            tx.hold_addresses(
                id,
                &port.network_id,
                &port.mac_address,
                &port.ip_pairs(),
                <jobs_types::PortDelete as JobPayload>::JOB_TYPE,
            )
            .await?;
        }
        tx.delete(NeutronKind::Port, id, &jobs).await?;
        Ok(())
    }
}

/// Device owner of a router's interface ports.
pub(crate) const ROUTER_INTERFACE: &str = "network:router_interface";
/// Device owner of a router's gateway port.
pub(crate) const ROUTER_GATEWAY: &str = "network:router_gateway";
/// Device owner of a floating IP's own port on the external network.
pub(crate) const FLOATINGIP: &str = "network:floatingip";

/// The MAC of a new port: the requested one if free on its network, or a
/// free random one.
async fn choose_mac(tx: &mut NeutronTx, np: &NewPort) -> Result<String, NeutronError> {
    if let Some(m) = &np.mac {
        if tx.mac_in_use(&np.network_id, m).await? {
            return Err(NeutronError::conflict(
                "MacAddressInUse",
                format!(
                    "Unable to complete operation for network {}. The mac address {m} is in use.",
                    np.network_id
                ),
            ));
        }
        return Ok(m.clone());
    }
    let mut mac = ipam::random_mac();
    let mut tries = 0;
    while tx.mac_in_use(&np.network_id, &mac).await? {
        tries += 1;
        if tries > 16 {
            return Err(NeutronError::conflict(
                "MacAddressGenerationFailure",
                format!(
                    "Unable to generate unique mac on network {}.",
                    np.network_id
                ),
            ));
        }
        mac = ipam::random_mac();
    }
    Ok(mac)
}

/// Ports of routers and floating IPs: deleted through their L3 resource
/// only.
fn l3_owned(device_owner: &str) -> bool {
    [ROUTER_INTERFACE, ROUTER_GATEWAY, FLOATINGIP].contains(&device_owner)
}

/// A new port's status: a router's interfaces and gateway are `ACTIVE`
/// (the router is the top's own and is `ACTIVE`; no L3 agent will report
/// them up, and Tempest waits for an interface port to be `ACTIVE` before
/// removing it), every other port `DOWN`.
pub(crate) fn initial_status(device_owner: &str) -> &'static str {
    if [ROUTER_INTERFACE, ROUTER_GATEWAY].contains(&device_owner) {
        "ACTIVE"
    } else {
        "DOWN"
    }
}

/// What an L3 port is for ([`Neutron::create_l3_port_in`]).
pub(crate) struct L3Port<'a> {
    /// The router's project for interfaces; none (`""`) for gateways and
    /// floating IP ports, as Neutron hides them from tenants.
    pub project_id: &'a str,
    pub network_id: &'a str,
    pub device_id: &'a str,
    pub device_owner: &'a str,
    /// The requested fixed IPs (`None`: Neutron's default).
    pub fixed_ips: Option<Vec<IpRequest>>,
}

fn l3_port_in_use(id: &str, owner: &str) -> NeutronError {
    NeutronError::conflict(
        "L3PortInUse",
        format!("Port {id} cannot be deleted directly via the port API: has device owner {owner}."),
    )
}

fn dedup(mut v: Vec<String>) -> Vec<String> {
    let mut seen = HashSet::new();
    v.retain(|x| seen.insert(x.clone()));
    v
}
