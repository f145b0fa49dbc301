//! Lazy bottom creation (BEHAVIOUR §6.2): the copies of top networks,
//! subnets, security groups and ports that a pod needs before a server there
//! can use them, each made exactly once per pod whatever the number of
//! concurrent requests and gateway instances.
//!
//! Every copy goes through [`Bottom::get_or_create`]: the routing row is the
//! lock (see `tricircle_store::RoutingLock`), the bottom resource's name is
//! its recovery key (a network is named `<top_id>#<top_name>`, everything
//! else by its top id), and a tombstoned top resource is never re-created.
//! The pods are called as Tricircle's service user; copies belong to the
//! top resource's project.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Map, Value};
use tricircle_pods::{KeystoneClient, PodClient, PodError, PodPath, ServiceCall, ServiceCallError};
use tricircle_store::{Pod, RoutingLock, Store, StoreError};

use crate::{Neutron, NeutronError, Scope};

/// Device owner of the reserved top port that gives a pod its gateway IP on
/// a subnet.
pub const INTERFACE_OWNER: &str = "network:router_interface_distributed";
/// Device owner of the shared DHCP port of a subnet.
pub const DHCP_OWNER: &str = "network:dhcp";
/// Neutron's device id of a DHCP port reserved before any agent took it.
pub const RESERVED_DHCP_DEVICE_ID: &str = "reserved_dhcp_port";

/// Name of the reserved top port holding `pod`'s gateway IP on `subnet`.
pub fn interface_port_name(pod_id: &str, subnet_id: &str) -> String {
    format!("interface_{pod_id}_{subnet_id}")
}

/// Name of the shared DHCP port of `subnet`.
pub fn dhcp_port_name(subnet_id: &str) -> String {
    format!("dhcp_port_{subnet_id}")
}

/// Name of a top network's copy in a pod.
pub fn bottom_network_name(top_id: &str, top_name: &str) -> String {
    format!("{top_id}#{top_name}")
}

/// The top network id and name in a bottom network name, if it is one of
/// ours.
pub fn split_bottom_network_name(name: &str) -> Option<(&str, &str)> {
    let (id, rest) = name.split_once('#')?;
    (id.len() == 36 && uuid::Uuid::parse_str(id).is_ok()).then_some((id, rest))
}

#[derive(Debug, thiserror::Error)]
pub enum BottomError {
    /// The pod could not be reached or did not answer in time.
    #[error("Pod {pod} is unavailable: {detail}")]
    Unavailable { pod: String, detail: String },
    /// The pod refused a request: its status and NeutronError message.
    #[error("Pod {pod} refused {what}: {message}")]
    Refused {
        pod: String,
        what: String,
        status: u16,
        message: String,
    },
    /// The top resource is gone or being deleted.
    #[error("{0}")]
    Gone(String),
    /// The request cannot be served as asked (e.g. a local network already
    /// living in another pod).
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Top(#[from] NeutronError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl BottomError {
    /// Worth retrying later (a pod down, a lock still held).
    pub fn is_transient(&self) -> bool {
        match self {
            BottomError::Unavailable { .. } | BottomError::Store(_) => true,
            BottomError::Refused { status, .. } => *status >= 500 || *status == 409,
            _ => false,
        }
    }
}

pub type Result<T, E = BottomError> = std::result::Result<T, E>;

/// Makes and finds the copies of top network resources in pods.
#[derive(Clone)]
pub struct Bottom {
    neutron: Neutron,
    pods: PodClient,
    keystone: Arc<KeystoneClient>,
    /// How long a creation lock may stay untouched before another caller
    /// takes it over.
    lock_timeout: Duration,
}

/// A pod's answer: status and JSON body (Null when empty).
struct Answer {
    status: u16,
    body: Value,
}

impl Answer {
    fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

fn admin_scope(project_id: &str) -> Scope {
    Scope {
        project_id: project_id.to_string(),
        user_id: String::new(),
        is_admin: true,
    }
}

fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

impl Bottom {
    pub fn new(
        neutron: Neutron,
        pods: PodClient,
        keystone: Arc<KeystoneClient>,
        lock_timeout: Duration,
    ) -> Bottom {
        Bottom {
            neutron,
            pods,
            keystone,
            lock_timeout,
        }
    }

    pub fn neutron(&self) -> &Neutron {
        &self.neutron
    }

    fn store(&self) -> &Store {
        self.neutron.store()
    }

    /// One call to a pod's Neutron (`path` under `/v2.0`) as the service
    /// user.
    async fn call(
        &self,
        pod: &Pod,
        method: Method,
        path: PodPath,
        query: Option<String>,
        body: Option<Value>,
    ) -> Result<Answer> {
        let call = ServiceCall {
            pod: &pod.pod_name,
            service_type: "network",
            method,
            path: PodPath::fixed("/v2.0").join(&path),
            query,
            body: body.map(|b| bytes::Bytes::from(b.to_string())),
        };
        let resp = self
            .pods
            .send_as_service(&self.keystone, call)
            .await
            .map_err(|e| {
                let detail = match &e {
                    ServiceCallError::Pod(PodError::Endpoint(_)) => {
                        "no network endpoint in the catalog".to_string()
                    }
                    other => other.to_string(),
                };
                BottomError::Unavailable {
                    pod: pod.pod_name.clone(),
                    detail,
                }
            })?;
        let body = if resp.body.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&resp.body).unwrap_or(Value::Null)
        };
        Ok(Answer {
            status: resp.status,
            body,
        })
    }

    fn refused(pod: &Pod, what: &str, a: &Answer) -> BottomError {
        let message = a
            .body
            .pointer("/NeutronError/message")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| format!("HTTP {}", a.status));
        BottomError::Refused {
            pod: pod.pod_name.clone(),
            what: what.to_string(),
            status: a.status,
            message,
        }
    }

    /// The id of the pod's `collection` member named `name`, if any.
    async fn find_by_name(
        &self,
        pod: &Pod,
        collection: &str,
        name: &str,
    ) -> Result<Option<String>> {
        let query = format!(
            "name={}&fields=id",
            percent_encoding::utf8_percent_encode(name, percent_encoding::NON_ALPHANUMERIC)
        );
        let a = self
            .call(
                pod,
                Method::GET,
                PodPath::of([collection]),
                Some(query),
                None,
            )
            .await?;
        if !a.ok() {
            return Err(Self::refused(pod, &format!("listing {collection}"), &a));
        }
        Ok(a.body
            .get(collection.replace('-', "_"))
            .and_then(Value::as_array)
            .and_then(|items| items.first())
            .and_then(|i| i.get("id"))
            .and_then(Value::as_str)
            .map(str::to_string))
    }

    /// Creates a member of the pod's `collection` (`kind` is the body key)
    /// and returns the pod's view of it.
    async fn create(&self, pod: &Pod, collection: &str, kind: &str, body: Value) -> Result<Value> {
        let a = self
            .call(
                pod,
                Method::POST,
                PodPath::of([collection]),
                None,
                Some(json!({ kind: body })),
            )
            .await?;
        if !a.ok() {
            return Err(Self::refused(pod, &format!("creating a {kind}"), &a));
        }
        a.body
            .get(kind)
            .cloned()
            .ok_or_else(|| Self::refused(pod, &format!("creating a {kind}"), &a))
    }

    /// Updates a member; a missing one is an error the caller decides on.
    async fn update(
        &self,
        pod: &Pod,
        collection: &str,
        kind: &str,
        id: &str,
        body: Value,
    ) -> Result<Option<Value>> {
        let a = self
            .call(
                pod,
                Method::PUT,
                PodPath::of([collection, id]),
                None,
                Some(json!({ kind: body })),
            )
            .await?;
        if a.status == 404 {
            return Ok(None);
        }
        if !a.ok() {
            return Err(Self::refused(pod, &format!("updating {kind} {id}"), &a));
        }
        Ok(a.body.get(kind).cloned())
    }

    /// Deletes a member; one already gone is fine.
    async fn delete(&self, pod: &Pod, collection: &str, id: &str) -> Result<()> {
        let a = self
            .call(
                pod,
                Method::DELETE,
                PodPath::of([collection, id]),
                None,
                None,
            )
            .await?;
        if a.ok() || a.status == 404 {
            Ok(())
        } else {
            Err(Self::refused(
                pod,
                &format!("deleting {collection}/{id}"),
                &a,
            ))
        }
    }

    async fn show(
        &self,
        pod: &Pod,
        collection: &str,
        kind: &str,
        id: &str,
    ) -> Result<Option<Value>> {
        let a = self
            .call(pod, Method::GET, PodPath::of([collection, id]), None, None)
            .await?;
        if a.status == 404 {
            return Ok(None);
        }
        if !a.ok() {
            return Err(Self::refused(pod, &format!("reading {kind} {id}"), &a));
        }
        Ok(a.body.get(kind).cloned())
    }

    /// The bottom id of `top_id` in `pod`, creating the copy if needed.
    /// `recover` finds a copy made by a caller that died before recording
    /// it (by its name); `create` makes one.
    pub async fn get_or_create<R, RF, C, CF>(
        &self,
        pod: &Pod,
        project_id: &str,
        resource_type: &str,
        top_id: &str,
        recover: R,
        create: C,
    ) -> Result<String>
    where
        R: Fn() -> RF,
        RF: Future<Output = Result<Option<String>>>,
        C: Fn() -> CF,
        CF: Future<Output = Result<String>>,
    {
        let started = tokio::time::Instant::now();
        let mut pause = Duration::from_millis(20);
        loop {
            let lock = self
                .store()
                .lock_routing(top_id, &pod.pod_id, project_id, resource_type)
                .await?;
            let (routing_id, recovering) = match lock {
                RoutingLock::Done { bottom_id, .. } => return Ok(bottom_id),
                RoutingLock::Tombstoned => {
                    return Err(BottomError::Gone(format!(
                        "The {resource_type} {top_id} is being deleted."
                    )))
                }
                RoutingLock::Owner { routing_id } => (routing_id, false),
                RoutingLock::Busy { routing_id, since } => {
                    if stale(&since, self.lock_timeout)
                        && self
                            .store()
                            .take_over_routing_lock(routing_id, &since)
                            .await?
                    {
                        tracing::warn!(%top_id, pod = %pod.pod_name, resource_type, "taking over a stale creation lock");
                        (routing_id, true)
                    } else {
                        if started.elapsed() > self.lock_timeout * 3 {
                            return Err(BottomError::Unavailable {
                                pod: pod.pod_name.clone(),
                                detail: format!(
                                    "the {resource_type} {top_id} is still being created"
                                ),
                            });
                        }
                        tokio::time::sleep(pause).await;
                        pause = (pause * 2).min(Duration::from_millis(500));
                        continue;
                    }
                }
            };
            let made = async {
                if recovering {
                    if let Some(id) = recover().await? {
                        return Ok(id);
                    }
                }
                create().await
            }
            .await;
            return match made {
                Ok(bottom_id) => {
                    self.store()
                        .fill_routing_lock(routing_id, &bottom_id)
                        .await?;
                    Ok(bottom_id)
                }
                // The pod could not be reached or did not answer: it may have
                // made the copy. The lock stays, so that the next owner (once
                // it is stale) looks the copy up by name, and a delete of the
                // top resource finds and removes it (`delete_copies`).
                Err(e @ BottomError::Unavailable { .. }) => Err(e),
                Err(e) => {
                    // Nothing was made (the pod refused, or we failed before
                    // asking): free the lock so the next request tries again.
                    if let Err(re) = self.store().release_routing_lock(routing_id).await {
                        tracing::warn!(error = %re, "could not release a creation lock");
                    }
                    Err(e)
                }
            };
        }
    }

    /// Copies the top network into `pod` and returns the bottom id. A local
    /// network lives in one pod only.
    pub async fn ensure_network(&self, pod: &Pod, net: &Value) -> Result<String> {
        let top_id = str_of(net, "id");
        let project_id = str_of(net, "project_id");
        let name = bottom_network_name(top_id, str_of(net, "name"));
        let net_type = str_of(net, "provider:network_type");
        let id = self
            .get_or_create(
                pod,
                project_id,
                "network",
                top_id,
                || self.find_by_name(pod, "networks", &name),
                || async {
                    if let Some(id) = self.find_by_name(pod, "networks", &name).await? {
                        return Ok(id);
                    }
                    let mut body = json!({
                        "name": name,
                        "tenant_id": project_id,
                        "admin_state_up": net.get("admin_state_up").cloned().unwrap_or(json!(true)),
                    });
                    // `shared` decides who may use the network: the pod's
                    // Nova looks it up with the caller's token.
                    for key in ["port_security_enabled", "description", "shared"] {
                        if let Some(v) = net.get(key).filter(|v| !v.is_null()) {
                            body[key] = v.clone();
                        }
                    }
                    if matches!(net_type, "vlan" | "vxlan" | "flat") {
                        for key in [
                            "provider:network_type",
                            "provider:physical_network",
                            "provider:segmentation_id",
                        ] {
                            if let Some(v) = net.get(key).filter(|v| !v.is_null()) {
                                body[key] = v.clone();
                            }
                        }
                    }
                    let made = self.create(pod, "networks", "network", body).await?;
                    Ok(str_of(&made, "id").to_string())
                },
            )
            .await?;
        if net_type == "local" || net_type.is_empty() {
            self.check_local(pod, top_id).await?;
        }
        Ok(id)
    }

    /// A local network may have a copy in one pod only: the first to lock
    /// it wins, later pods are refused (and their copy undone).
    async fn check_local(&self, pod: &Pod, top_id: &str) -> Result<()> {
        let copies = self
            .store()
            .list_routings(
                &tricircle_store::RoutingFilter {
                    top_id: Some(top_id.to_string()),
                    resource_type: Some("network".to_string()),
                    ..Default::default()
                },
                None,
                100,
            )
            .await?
            .routings;
        let Some(first) = copies.iter().min_by_key(|r| r.id) else {
            return Ok(());
        };
        if first.pod_id == pod.pod_id {
            return Ok(());
        }
        let home = self
            .store()
            .find_pod(&first.pod_id)
            .await?
            .map(|p| p.az_name)
            .unwrap_or_default();
        if let Some(mine) = copies.iter().find(|r| r.pod_id == pod.pod_id) {
            if let Some(b) = mine.bottom_id.as_deref().filter(|b| !b.is_empty()) {
                self.delete(pod, "networks", b).await?;
            }
            self.store()
                .delete_routing_of(top_id, &pod.pod_id, "network")
                .await?;
        }
        Err(BottomError::Conflict(format!(
            "Network {top_id} is a local network already in use in availability zone {home}; it cannot be used in {}.",
            pod.az_name
        )))
    }

    /// Copies a top subnet into `pod` on the bottom network `bottom_net`:
    /// the pod's own gateway IP (reserved top port), pools without it, and
    /// the shared DHCP port pre-created before DHCP is switched on.
    pub async fn ensure_subnet(
        &self,
        pod: &Pod,
        subnet: &Value,
        bottom_net: &str,
    ) -> Result<String> {
        let top_id = str_of(subnet, "id");
        let project_id = str_of(subnet, "project_id");
        let network_id = str_of(subnet, "network_id");
        self.get_or_create(
            pod,
            project_id,
            "subnet",
            top_id,
            || async {
                match self.find_by_name(pod, "subnets", top_id).await? {
                    Some(id) => {
                        self.finish_subnet(pod, subnet, &id, bottom_net).await?;
                        Ok(Some(id))
                    }
                    None => Ok(None),
                }
            },
            || async {
                let id = match self.find_by_name(pod, "subnets", top_id).await? {
                    Some(id) => id,
                    None => {
                        let gateway = if subnet.get("gateway_ip").is_some_and(|g| !g.is_null()) {
                            let port = self
                                .neutron
                                .reserved_port(
                                    project_id,
                                    network_id,
                                    top_id,
                                    &interface_port_name(&pod.pod_id, top_id),
                                    INTERFACE_OWNER,
                                )
                                .await?;
                            first_ip(&port, top_id)
                        } else {
                            None
                        };
                        let mut pools =
                            subnet.get("allocation_pools").cloned().unwrap_or(json!([]));
                        if let Some(gw) = &gateway {
                            pools = remove_ip_from_pools(&pools, gw);
                        }
                        let mut body = json!({
                            "name": top_id,
                            "network_id": bottom_net,
                            "tenant_id": project_id,
                            "cidr": subnet.get("cidr").cloned().unwrap_or(Value::Null),
                            "ip_version": subnet.get("ip_version").cloned().unwrap_or(json!(4)),
                            "gateway_ip": gateway.map(Value::String).unwrap_or(Value::Null),
                            "allocation_pools": pools,
                            "enable_dhcp": false,
                        });
                        for key in [
                            "dns_nameservers",
                            "host_routes",
                            "ipv6_ra_mode",
                            "ipv6_address_mode",
                            "description",
                        ] {
                            if let Some(v) = subnet.get(key).filter(|v| !v.is_null()) {
                                body[key] = v.clone();
                            }
                        }
                        let made = self.create(pod, "subnets", "subnet", body).await?;
                        str_of(&made, "id").to_string()
                    }
                };
                self.finish_subnet(pod, subnet, &id, bottom_net).await?;
                Ok(id)
            },
        )
        .await
    }

    /// The DHCP part of a bottom subnet: when the top subnet has DHCP, the
    /// shared DHCP port (same IP and MAC in every pod) exists in the pod and
    /// DHCP is on. Idempotent.
    async fn finish_subnet(
        &self,
        pod: &Pod,
        subnet: &Value,
        bottom_id: &str,
        bottom_net: &str,
    ) -> Result<()> {
        if !subnet
            .get("enable_dhcp")
            .and_then(Value::as_bool)
            .unwrap_or(false)
        {
            return Ok(());
        }
        let top_id = str_of(subnet, "id");
        let project_id = str_of(subnet, "project_id");
        let port = self
            .neutron
            .reserved_port(
                project_id,
                str_of(subnet, "network_id"),
                top_id,
                &dhcp_port_name(top_id),
                DHCP_OWNER,
            )
            .await?;
        let port_id = str_of(&port, "id");
        let name = dhcp_port_name(top_id);
        let ip = first_ip(&port, top_id);
        self.get_or_create(
            pod,
            project_id,
            "port",
            port_id,
            || self.find_by_name(pod, "ports", &name),
            || async {
                if let Some(id) = self.find_by_name(pod, "ports", &name).await? {
                    return Ok(id);
                }
                let made = self
                    .create(
                        pod,
                        "ports",
                        "port",
                        json!({
                            "name": name,
                            "network_id": bottom_net,
                            "tenant_id": project_id,
                            "mac_address": port.get("mac_address").cloned().unwrap_or(Value::Null),
                            "fixed_ips": [{"subnet_id": bottom_id, "ip_address": ip}],
                            "device_owner": DHCP_OWNER,
                            "device_id": RESERVED_DHCP_DEVICE_ID,
                        }),
                    )
                    .await?;
                Ok(str_of(&made, "id").to_string())
            },
        )
        .await?;
        self.update(
            pod,
            "subnets",
            "subnet",
            bottom_id,
            json!({"enable_dhcp": true}),
        )
        .await?;
        Ok(())
    }

    /// Copies a top security group (named by its top id) into `pod` and
    /// brings its rules in line with the top's.
    pub async fn ensure_security_group(
        &self,
        pod: &Pod,
        project_id: &str,
        sg_id: &str,
    ) -> Result<String> {
        let bottom = self
            .ensure_security_group_exists(pod, project_id, sg_id)
            .await?;
        let top = self
            .neutron
            .get_security_group(&admin_scope(project_id), sg_id)
            .await?;
        self.sync_security_group_rules(pod, &top, &bottom).await?;
        Ok(bottom)
    }

    async fn ensure_security_group_exists(
        &self,
        pod: &Pod,
        project_id: &str,
        sg_id: &str,
    ) -> Result<String> {
        self.get_or_create(
            pod,
            project_id,
            "security_group",
            sg_id,
            || self.find_by_name(pod, "security-groups", sg_id),
            || async {
                if let Some(id) = self.find_by_name(pod, "security-groups", sg_id).await? {
                    return Ok(id);
                }
                let top = self
                    .neutron
                    .get_security_group(&admin_scope(project_id), sg_id)
                    .await?;
                let made = self
                    .create(
                        pod,
                        "security-groups",
                        "security_group",
                        json!({
                            "name": sg_id,
                            "tenant_id": project_id,
                            "description": top.get("description").cloned().unwrap_or(json!("")),
                        }),
                    )
                    .await?;
                Ok(str_of(&made, "id").to_string())
            },
        )
        .await
    }

    /// Makes the bottom group's rules those of the top group (remote groups
    /// translated to their bottom copies): extra rules deleted, missing ones
    /// added. Idempotent.
    pub async fn sync_security_group_rules(
        &self,
        pod: &Pod,
        top: &Value,
        bottom_id: &str,
    ) -> Result<()> {
        let project_id = str_of(top, "project_id");
        let top_id = str_of(top, "id");
        let mut desired = Vec::new();
        for rule in top
            .get("security_group_rules")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let mut r = Map::new();
            for key in [
                "direction",
                "ethertype",
                "protocol",
                "port_range_min",
                "port_range_max",
                "remote_ip_prefix",
            ] {
                r.insert(
                    key.to_string(),
                    rule.get(key).cloned().unwrap_or(Value::Null),
                );
            }
            let remote = match rule.get("remote_group_id").and_then(Value::as_str) {
                None => Value::Null,
                Some(g) if g == top_id => json!(bottom_id),
                Some(g) => json!(
                    self.ensure_security_group_exists(pod, project_id, g)
                        .await?
                ),
            };
            r.insert("remote_group_id".into(), remote);
            desired.push(Value::Object(r));
        }
        let current = self
            .show(pod, "security-groups", "security_group", bottom_id)
            .await?
            .ok_or_else(|| {
                BottomError::Gone(format!(
                    "Security group {top_id} vanished from pod {}",
                    pod.pod_name
                ))
            })?;
        let existing: Vec<Value> = current
            .get("security_group_rules")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let mut matched = vec![false; desired.len()];
        for rule in &existing {
            let key = rule_key(rule);
            match desired
                .iter()
                .enumerate()
                .find(|(i, d)| !matched[*i] && rule_key(d) == key)
            {
                Some((i, _)) => matched[i] = true,
                None => {
                    self.delete(pod, "security-group-rules", str_of(rule, "id"))
                        .await?
                }
            }
        }
        for (d, done) in desired.into_iter().zip(matched) {
            if done {
                continue;
            }
            let mut body = d;
            body["security_group_id"] = json!(bottom_id);
            body["tenant_id"] = json!(project_id);
            if let Some(obj) = body.as_object_mut() {
                obj.retain(|_, v| !v.is_null());
            }
            let a = self
                .call(
                    pod,
                    Method::POST,
                    PodPath::fixed("/security-group-rules"),
                    None,
                    Some(json!({ "security_group_rule": body })),
                )
                .await?;
            // 409: the same rule appeared meanwhile (a concurrent sync).
            if !a.ok() && a.status != 409 {
                return Err(Self::refused(pod, "creating a security group rule", &a));
            }
        }
        Ok(())
    }

    /// Everything a server in `pod` needs to use the top port `port_id`:
    /// the network, its subnets, the port's security groups and the port
    /// itself (same MAC and IPs). Returns the bottom port id.
    pub async fn prepare_port(&self, pod: &Pod, port_id: &str) -> Result<String> {
        let port = self.neutron.get_port(&admin_scope(""), port_id).await?;
        let project_id = str_of(&port, "project_id").to_string();
        let scope = admin_scope(&project_id);
        let net = self
            .neutron
            .get_network(&scope, str_of(&port, "network_id"))
            .await?;
        let bottom_net = self.ensure_network(pod, &net).await?;
        let mut subnet_map = Vec::new();
        for subnet in self
            .neutron
            .subnets_of_network(&scope, str_of(&net, "id"))
            .await?
        {
            let b = self.ensure_subnet(pod, &subnet, &bottom_net).await?;
            subnet_map.push((str_of(&subnet, "id").to_string(), b));
        }
        let mut groups = Vec::new();
        for sg in port
            .get("security_groups")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            groups.push(self.ensure_security_group(pod, &project_id, sg).await?);
        }
        let fixed_ips: Vec<Value> = port
            .get("fixed_ips")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|ip| {
                let top_subnet = str_of(ip, "subnet_id");
                subnet_map
                    .iter()
                    .find(|(t, _)| t == top_subnet)
                    .map(|(_, b)| json!({"subnet_id": b, "ip_address": ip.get("ip_address")}))
            })
            .collect();
        let name = port_id.to_string();
        self.get_or_create(
            pod,
            &project_id,
            "port",
            port_id,
            || self.find_by_name(pod, "ports", &name),
            || async {
                if let Some(id) = self.find_by_name(pod, "ports", &name).await? {
                    return Ok(id);
                }
                let mut body = json!({
                    "name": name,
                    "network_id": bottom_net,
                    "tenant_id": project_id,
                    "mac_address": port.get("mac_address").cloned().unwrap_or(Value::Null),
                    "fixed_ips": fixed_ips,
                    "admin_state_up": port.get("admin_state_up").cloned().unwrap_or(json!(true)),
                });
                let port_security = port
                    .get("port_security_enabled")
                    .and_then(Value::as_bool)
                    .unwrap_or(true);
                body["port_security_enabled"] = json!(port_security);
                if port_security {
                    body["security_groups"] = json!(groups);
                    if let Some(pairs) = port.get("allowed_address_pairs").filter(|v| !v.is_null())
                    {
                        body["allowed_address_pairs"] = pairs.clone();
                    }
                } else {
                    body["security_groups"] = json!([]);
                }
                for key in ["description", "binding:vnic_type", "binding:profile"] {
                    if let Some(v) = port.get(key).filter(|v| !v.is_null() && **v != json!({})) {
                        body[key] = v.clone();
                    }
                }
                let made = match self.create(pod, "ports", "port", body.clone()).await {
                    Err(refused @ BottomError::Refused { status: 409, .. }) => {
                        if !self.free_addresses(pod, &bottom_net, &fixed_ips).await? {
                            return Err(refused);
                        }
                        self.create(pod, "ports", "port", body).await?
                    }
                    other => other?,
                };
                Ok(str_of(&made, "id").to_string())
            },
        )
        .await
    }

    /// The top frees a deleted port's addresses at once, but its copies go
    /// later, through the port's delete job (or never, when the pod made one
    /// whose answer was lost): meanwhile the top may give an address to a
    /// new port whose copy the pod then refuses. Deletes the copies in
    /// `pod`, on `bottom_net`, that hold one of `fixed_ips` and whose top
    /// port is deleted (a copy is named by its top port's id, which the
    /// port's tombstone proves ours), with their routings. Whether the
    /// addresses are free now: false if a port that is not such a copy
    /// holds one.
    async fn free_addresses(
        &self,
        pod: &Pod,
        bottom_net: &str,
        fixed_ips: &[Value],
    ) -> Result<bool> {
        let mut free = true;
        for ip in fixed_ips
            .iter()
            .filter_map(|f| f.get("ip_address").and_then(Value::as_str))
        {
            let query = format!(
                "network_id={}&fixed_ips={}",
                percent_encoding::utf8_percent_encode(
                    bottom_net,
                    percent_encoding::NON_ALPHANUMERIC
                ),
                percent_encoding::utf8_percent_encode(
                    &format!("ip_address={ip}"),
                    percent_encoding::NON_ALPHANUMERIC
                )
            );
            let a = self
                .call(pod, Method::GET, PodPath::of(["ports"]), Some(query), None)
                .await?;
            if !a.ok() {
                return Err(Self::refused(pod, "listing ports", &a));
            }
            for holder in a
                .body
                .get("ports")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let (top_id, bottom_id) = (str_of(holder, "name"), str_of(holder, "id"));
                if uuid::Uuid::parse_str(top_id).is_err()
                    || !self.store().is_tombstoned(top_id, "port").await?
                {
                    free = false;
                    continue;
                }
                tracing::info!(pod = %pod.pod_name, port = %top_id, %ip,
                    "deleting the copy of a deleted port: its address was given to a new port");
                self.delete(pod, "ports", bottom_id).await?;
                self.store()
                    .delete_routing_of(top_id, &pod.pod_id, "port")
                    .await?;
            }
        }
        Ok(free)
    }

    /// The bottom copies of a top resource: `(pod, bottom_id)` for each pod
    /// that holds a finished one.
    pub async fn copies(&self, top_id: &str, resource_type: &str) -> Result<Vec<(Pod, String)>> {
        let routings = self
            .store()
            .list_routings(
                &tricircle_store::RoutingFilter {
                    top_id: Some(top_id.to_string()),
                    resource_type: Some(resource_type.to_string()),
                    ..Default::default()
                },
                None,
                1000,
            )
            .await?
            .routings;
        let mut out = Vec::new();
        for r in routings {
            let Some(b) = r.bottom_id.filter(|b| !b.is_empty()) else {
                continue;
            };
            if let Some(pod) = self.store().find_pod(&r.pod_id).await? {
                out.push((pod, b));
            }
        }
        Ok(out)
    }

    /// Deletes every bottom copy of a top resource and its routings.
    pub async fn delete_copies(&self, top_id: &str, resource_type: &str) -> Result<()> {
        let collection = match resource_type {
            "network" => "networks",
            "subnet" => "subnets",
            "port" => "ports",
            "security_group" => "security-groups",
            other => {
                return Err(BottomError::Conflict(format!(
                    "cannot delete bottom copies of a {other}"
                )))
            }
        };
        for (pod, bottom) in self.copies(top_id, resource_type).await? {
            self.delete(&pod, collection, &bottom).await?;
            self.store()
                .delete_routing_of(top_id, &pod.pod_id, resource_type)
                .await?;
        }
        // Creates whose outcome is unknown left their lock without a bottom
        // id: once stale (nobody is making it any more), whatever the pod
        // made under the top id's name goes too. Networks are named
        // `<top_id>#<name>` and looked up when recovered instead.
        for r in self.unfinished(top_id, resource_type).await? {
            let Some(pod) = self.store().find_pod(&r.pod_id).await? else {
                continue;
            };
            if !stale(&r.updated_at, self.lock_timeout) {
                return Err(BottomError::Unavailable {
                    pod: pod.pod_name.clone(),
                    detail: format!("the {resource_type} {top_id} is still being created"),
                });
            }
            if resource_type != "network" {
                if let Some(bottom) = self.find_by_name(&pod, collection, top_id).await? {
                    self.delete(&pod, collection, &bottom).await?;
                }
            }
            self.store()
                .delete_routing_of(top_id, &pod.pod_id, resource_type)
                .await?;
        }
        Ok(())
    }

    /// Routing rows of a top resource whose bottom create never finished.
    async fn unfinished(
        &self,
        top_id: &str,
        resource_type: &str,
    ) -> Result<Vec<tricircle_store::Routing>> {
        Ok(self
            .store()
            .list_routings(
                &tricircle_store::RoutingFilter {
                    top_id: Some(top_id.to_string()),
                    resource_type: Some(resource_type.to_string()),
                    ..Default::default()
                },
                None,
                1000,
            )
            .await?
            .routings
            .into_iter()
            .filter(|r| r.bottom_id.as_deref().is_none_or(str::is_empty))
            .collect())
    }

    /// Makes every pod copy of a top port match it: admin state,
    /// description, port security, address pairs and security groups (the
    /// groups' own copies made first). A port gone from the top is its
    /// delete job's business.
    pub async fn sync_port(&self, id: &str) -> Result<()> {
        let top = match self.neutron.get_port(&admin_scope(""), id).await {
            Ok(t) => t,
            Err(e) if e.status == 404 => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        let mut body = json!({});
        for k in [
            "admin_state_up",
            "description",
            "port_security_enabled",
            "allowed_address_pairs",
            "security_groups",
            "project_id",
        ] {
            if let Some(v) = top.get(k) {
                body[k] = v.clone();
            }
        }
        if top.get("port_security_enabled").and_then(Value::as_bool) == Some(false) {
            body["security_groups"] = json!([]);
            if let Some(o) = body.as_object_mut() {
                o.remove("allowed_address_pairs");
            }
        }
        self.update_copies(id, "port", body).await
    }

    /// Applies `body` to every bottom copy of a top resource (a copy gone
    /// from its pod is forgotten).
    pub async fn update_copies(
        &self,
        top_id: &str,
        resource_type: &str,
        body: Value,
    ) -> Result<()> {
        let (collection, kind) = match resource_type {
            "network" => ("networks", "network"),
            "subnet" => ("subnets", "subnet"),
            "port" => ("ports", "port"),
            other => {
                return Err(BottomError::Conflict(format!(
                    "cannot update bottom copies of a {other}"
                )))
            }
        };
        for (pod, bottom) in self.copies(top_id, resource_type).await? {
            let mut pod_body = body.clone();
            if resource_type == "port" {
                // Security groups are per pod: their bottom copies.
                if let Some(groups) = body.get("security_groups").and_then(Value::as_array) {
                    let project = body
                        .get("project_id")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string();
                    let mut bottom_groups = Vec::new();
                    for g in groups.iter().filter_map(Value::as_str) {
                        bottom_groups.push(self.ensure_security_group(&pod, &project, g).await?);
                    }
                    pod_body["security_groups"] = json!(bottom_groups);
                }
                if let Some(o) = pod_body.as_object_mut() {
                    o.remove("project_id");
                }
            }
            if self
                .update(&pod, collection, kind, &bottom, pod_body)
                .await?
                .is_none()
            {
                self.store()
                    .delete_routing_of(top_id, &pod.pod_id, resource_type)
                    .await?;
            }
        }
        Ok(())
    }

    /// Brings every pod copy of a top security group in line (or deletes the
    /// copies when the top group is gone).
    pub async fn sync_security_group(&self, project_id: &str, sg_id: &str) -> Result<()> {
        match self
            .neutron
            .get_security_group(&admin_scope(project_id), sg_id)
            .await
        {
            Ok(top) => {
                for (pod, bottom) in self.copies(sg_id, "security_group").await? {
                    self.sync_security_group_rules(&pod, &top, &bottom).await?;
                }
                Ok(())
            }
            Err(e) if e.status == 404 => self.delete_copies(sg_id, "security_group").await,
            Err(e) => Err(e.into()),
        }
    }
}

/// Allocation pools (`[{"start", "end"}]`) without the address `ip`: the
/// pool holding it is split around it.
pub fn remove_ip_from_pools(pools: &Value, ip: &str) -> Value {
    let Ok(ip) = ip.parse::<std::net::IpAddr>() else {
        return pools.clone();
    };
    let n = to_u128(ip);
    let mut out = Vec::new();
    for pool in pools.as_array().into_iter().flatten() {
        let (Ok(start), Ok(end)) = (
            str_of(pool, "start").parse::<std::net::IpAddr>(),
            str_of(pool, "end").parse::<std::net::IpAddr>(),
        ) else {
            out.push(pool.clone());
            continue;
        };
        let (s, e) = (to_u128(start), to_u128(end));
        if start.is_ipv4() != ip.is_ipv4() || n < s || n > e {
            out.push(pool.clone());
            continue;
        }
        let v4 = ip.is_ipv4();
        if n > s {
            out.push(json!({"start": from_u128(s, v4), "end": from_u128(n - 1, v4)}));
        }
        if n < e {
            out.push(json!({"start": from_u128(n + 1, v4), "end": from_u128(e, v4)}));
        }
    }
    Value::Array(out)
}

fn to_u128(ip: std::net::IpAddr) -> u128 {
    match ip {
        std::net::IpAddr::V4(a) => u128::from(u32::from(a)),
        std::net::IpAddr::V6(a) => u128::from(a),
    }
}

fn from_u128(n: u128, v4: bool) -> String {
    if v4 {
        std::net::Ipv4Addr::from(u32::try_from(n).unwrap_or(u32::MAX)).to_string()
    } else {
        std::net::Ipv6Addr::from(n).to_string()
    }
}

/// The first IP of `port` on `subnet_id`.
fn first_ip(port: &Value, subnet_id: &str) -> Option<String> {
    port.get("fixed_ips")
        .and_then(Value::as_array)?
        .iter()
        .find(|ip| str_of(ip, "subnet_id") == subnet_id)
        .and_then(|ip| ip.get("ip_address"))
        .and_then(Value::as_str)
        .map(str::to_string)
}

/// What makes two rules the same rule (ids and owners aside).
fn rule_key(rule: &Value) -> String {
    let s = |k: &str| match rule.get(k) {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(v)) => v.to_lowercase(),
        Some(v) => v.to_string(),
    };
    let protocol = match s("protocol").as_str() {
        "6" => "tcp".to_string(),
        "17" => "udp".to_string(),
        "1" => "icmp".to_string(),
        p => p.to_string(),
    };
    format!(
        "{}|{}|{}|{}|{}|{}|{}",
        s("direction"),
        s("ethertype"),
        protocol,
        s("port_range_min"),
        s("port_range_max"),
        s("remote_ip_prefix"),
        s("remote_group_id")
    )
}

/// Whether a lock last touched at `since` (RFC 3339) is older than `timeout`.
fn stale(since: &str, timeout: Duration) -> bool {
    match chrono::DateTime::parse_from_rfc3339(since) {
        Ok(t) => {
            let age = chrono::Utc::now().signed_duration_since(t);
            age.to_std().map(|a| a > timeout).unwrap_or(false)
        }
        Err(_) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bottom_network_names_carry_the_top_id() {
        let id = "8a6c5d4e-1111-4222-8333-444455556666";
        let name = bottom_network_name(id, "net#1");
        assert_eq!(split_bottom_network_name(&name), Some((id, "net#1")));
        assert_eq!(split_bottom_network_name("private"), None);
        assert_eq!(split_bottom_network_name("abc#def"), None);
    }

    #[test]
    fn rules_compare_by_content() {
        let a = json!({"direction": "ingress", "ethertype": "IPv4", "protocol": "tcp", "port_range_min": 22, "port_range_max": 22, "id": "x"});
        let b = json!({"direction": "ingress", "ethertype": "IPv4", "protocol": "6", "port_range_min": 22, "port_range_max": 22, "remote_ip_prefix": null});
        assert_eq!(rule_key(&a), rule_key(&b));
        let c = json!({"direction": "egress", "ethertype": "IPv4"});
        assert_ne!(rule_key(&a), rule_key(&c));
    }

    #[test]
    fn a_gateway_ip_splits_its_pool() {
        let pools = json!([{"start": "10.0.0.2", "end": "10.0.0.254"}]);
        assert_eq!(
            remove_ip_from_pools(&pools, "10.0.0.5"),
            json!([{"start": "10.0.0.2", "end": "10.0.0.4"}, {"start": "10.0.0.6", "end": "10.0.0.254"}])
        );
        assert_eq!(
            remove_ip_from_pools(&pools, "10.0.0.2"),
            json!([{"start": "10.0.0.3", "end": "10.0.0.254"}])
        );
        assert_eq!(remove_ip_from_pools(&pools, "10.0.1.2"), pools);
        let v6 = json!([{"start": "fd00::2", "end": "fd00::ff"}]);
        assert_eq!(
            remove_ip_from_pools(&v6, "fd00::ff"),
            json!([{"start": "fd00::2", "end": "fd00::fe"}])
        );
    }

    #[test]
    fn locks_go_stale_after_the_timeout() {
        let old = (chrono::Utc::now() - chrono::Duration::seconds(120)).to_rfc3339();
        let fresh = chrono::Utc::now().to_rfc3339();
        assert!(stale(&old, Duration::from_secs(60)));
        assert!(!stale(&fresh, Duration::from_secs(60)));
    }
}
