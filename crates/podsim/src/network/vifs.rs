//! What Nova asks of Neutron for its servers (`nova/network/neutron.py`):
//! validate the requested NICs, create or bind the ports of a server,
//! read them back for the network info cache, and release them when the
//! server goes (ports Nova created are deleted, the others unbound).
//!
//! Each call takes the network lock once and never waits while holding
//! it, so Nova can call in without holding its own lock.

use serde_json::{json, Map, Value};

use super::error::NeutronError;
use super::model::{b, fixed_ips, s, touch, Kind, Record, State};
use super::{ports, security_groups, Ctx, NetworkService};
use crate::compute::query::Query;

/// One NIC a boot or an interface attach asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum NicRequest {
    /// A port the user made.
    Port { id: String, tag: Option<String> },
    /// A port Nova makes on a network, at an address or not.
    Network {
        id: String,
        fixed_ip: Option<String>,
        tag: Option<String>,
    },
}

/// A server's port, as Nova's network info cache keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Vif {
    pub port_id: String,
    pub network_id: String,
    /// The network's name: the key in `addresses`.
    pub network_name: String,
    pub mac: String,
    pub status: String,
    /// `(subnet id, address)` pairs.
    pub fixed_ips: Vec<(String, String)>,
    /// Nova made the port, so it goes with the server; a port the user
    /// made is only unbound (`preserve_on_delete`).
    pub created: bool,
    pub tag: Option<String>,
}

impl Vif {
    /// `(address, IP version)` of each fixed IP.
    pub fn addresses(&self) -> impl Iterator<Item = (&str, u8)> {
        self.fixed_ips.iter().map(|(_, ip)| {
            let version = if ip.contains(':') { 6 } else { 4 };
            (ip.as_str(), version)
        })
    }
}

/// The server the ports are for, and who asks.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Device<'a> {
    pub project_id: &'a str,
    pub is_admin: bool,
    pub server_id: &'a str,
    /// The server's availability zone (`device_owner` is `compute:<az>`).
    pub az: &'a str,
    /// The compute host (`binding:host_id`).
    pub host: &'a str,
}

/// Why Nova cannot use the requested networks: Nova's exceptions, which
/// the compute API maps to its statuses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum VifError {
    PortNotFound(String),
    PortInUse(String),
    PortRequiresFixedIp(String),
    NetworkNotFound(String),
    NetworkRequiresSubnet(String),
    /// The address, and the server holding it when Nova could see it.
    FixedIpInUse {
        address: String,
        device: Option<String>,
    },
    InvalidFixedIp {
        address: String,
        network: String,
    },
    NoMoreFixedIps(String),
    NetworkAmbiguous,
    UnableToAutoAllocate(String),
    /// `InterfaceAttachFailedNoNetwork`.
    NoNetworkToAttach(String),
    ExternalNetworkAttachForbidden(String),
    SecurityGroupNotFound(String),
    SecurityGroupNotUnique(String),
    /// Anything else Neutron refused, with its message.
    Neutron(String),
}

/// Why a server's security group could not be changed (Nova's
/// `SecurityGroupNotFound` 404, `NoUniqueMatch` 409,
/// `SecurityGroupCannotBeApplied` 400).
#[derive(Debug)]
pub(crate) enum GroupChangeError {
    NotFound(String),
    NotUnique(String),
    CannotBeApplied,
}

/// The caller as Neutron sees it (Nova passes the user's token on).
fn user_ctx(project: &str, is_admin: bool) -> Ctx {
    Ctx {
        project_id: project.to_string(),
        is_admin,
        query: Query::default(),
        base: "http://localhost/network/v2.0".into(),
        az: String::new(),
        host: String::new(),
        physical_networks: Vec::new(),
    }
}

/// `_get_available_networks` without ids: the project's own networks
/// that are not shared, then every shared one.
fn available_networks<'a>(st: &'a State, project: &str) -> Vec<&'a Record> {
    let own = st
        .networks
        .iter()
        .filter(|n| s(n, "project_id") == project && !b(n, "shared"));
    let shared = st.networks.iter().filter(|n| b(n, "shared"));
    own.chain(shared).collect()
}

fn vif_of(st: &State, p: &Record, created: bool, tag: Option<String>) -> Vif {
    let network_id = s(p, "network_id").to_string();
    let network_name = st
        .get(Kind::Network, &network_id)
        .map(|n| s(n, "name").to_string())
        .unwrap_or_default();
    Vif {
        port_id: s(p, "id").to_string(),
        network_id,
        network_name,
        mac: s(p, "mac_address").to_string(),
        status: s(p, "status").to_string(),
        fixed_ips: fixed_ips(p)
            .iter()
            .map(|f| {
                (
                    f["subnet_id"].as_str().unwrap_or_default().to_string(),
                    f["ip_address"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect(),
        created,
        tag,
    }
}

/// Marks a port as the server's: Nova's `_update_ports_for_instance`.
fn bind(p: &mut Record, dev: &Device<'_>) {
    p.insert("device_id".into(), json!(dev.server_id));
    p.insert("device_owner".into(), json!(format!("compute:{}", dev.az)));
    p.insert("binding:host_id".into(), json!(dev.host));
    ports::refresh_binding(p);
    ports::refresh(p);
    touch(p);
}

/// Nova's `_unbind_ports`: no device, no host.
fn unbind(p: &mut Record) {
    p.insert("device_id".into(), json!(""));
    p.insert("device_owner".into(), json!(""));
    p.insert("binding:host_id".into(), json!(""));
    p.insert("binding:profile".into(), json!({}));
    ports::refresh_binding(p);
    ports::refresh(p);
    touch(p);
}

/// Nova's reading of a port create that Neutron refused
/// (`_create_port_minimal`).
fn create_error(e: NeutronError, network: &str, fixed_ip: Option<&str>) -> VifError {
    let address = fixed_ip.unwrap_or_default().to_string();
    match e.kind.as_str() {
        "IpAddressAlreadyAllocated" | "IpAddressInUse" => VifError::FixedIpInUse {
            address,
            device: None,
        },
        "InvalidIpForNetwork" | "InvalidIpForSubnet" => VifError::InvalidFixedIp {
            address,
            network: network.to_string(),
        },
        "IpAddressGenerationFailure" => VifError::NoMoreFixedIps(network.to_string()),
        _ => VifError::Neutron(e.message),
    }
}

impl NetworkService {
    /// Every port bound to `device_id` (a server), as an admin sees it.
    pub fn ports_of_device(&self, device_id: &str) -> Vec<Value> {
        self.ports()
            .into_iter()
            .filter(|p| p["device_id"] == device_id)
            .collect()
    }

    /// Nova's `validate_name` for each security group a boot names: its
    /// id among the project's groups (by name, or by id). `default` is
    /// made on first use, as Neutron does.
    pub(crate) fn security_group_ids(
        &self,
        project: &str,
        names: &[String],
    ) -> Result<Vec<String>, VifError> {
        let mut st = self.lock();
        let mut out = Vec::new();
        for name in names {
            if name == "default" {
                security_groups::ensure_default(&mut st, project);
            }
            let own: Vec<&Record> = st
                .security_groups
                .iter()
                .filter(|g| s(g, "project_id") == project)
                .collect();
            let id = match own.iter().find(|g| s(g, "id") == name) {
                Some(g) => s(g, "id").to_string(),
                None => {
                    let named: Vec<&&Record> =
                        own.iter().filter(|g| s(g, "name") == name).collect();
                    match named.as_slice() {
                        [one] => s(one, "id").to_string(),
                        [] => return Err(VifError::SecurityGroupNotFound(name.clone())),
                        _ => return Err(VifError::SecurityGroupNotUnique(name.clone())),
                    }
                }
            };
            if !out.contains(&id) {
                out.push(id);
            }
        }
        Ok(out)
    }

    /// Nova's `validate_networks`: the NICs a server gets. `requested` is
    /// `None` when the boot names no network (`networks` absent, `[]` or
    /// `"auto"`): the project's only available network then, none when it
    /// has none (or, with `auto`, an error: this pod cannot allocate a
    /// topology), and an error when it has several.
    pub(crate) fn plan_nics(
        &self,
        project: &str,
        is_admin: bool,
        requested: Option<&[NicRequest]>,
        auto: bool,
    ) -> Result<Vec<NicRequest>, VifError> {
        let st = self.lock();
        let ctx = user_ctx(project, is_admin);
        let Some(requested) = requested else {
            let nets = available_networks(&st, project);
            return match nets.as_slice() {
                [] if auto => Err(VifError::UnableToAutoAllocate(project.to_string())),
                [] => Ok(Vec::new()),
                [net] => Ok(vec![NicRequest::Network {
                    id: s(net, "id").to_string(),
                    fixed_ip: None,
                    tag: None,
                }]),
                _ => Err(VifError::NetworkAmbiguous),
            };
        };
        let mut net_ids: Vec<&str> = Vec::new();
        for req in requested {
            match req {
                NicRequest::Port { id, .. } => {
                    let p = st
                        .visible(&ctx, Kind::Port, id)
                        .map_err(|_| VifError::PortNotFound(id.clone()))?;
                    if !s(p, "device_id").is_empty() {
                        return Err(VifError::PortInUse(id.clone()));
                    }
                    let ipless = matches!(s(p, "ip_allocation"), "deferred" | "none");
                    if !ipless && fixed_ips(p).is_empty() {
                        return Err(VifError::PortRequiresFixedIp(id.clone()));
                    }
                }
                NicRequest::Network { id, fixed_ip, .. } => {
                    net_ids.push(id);
                    if let Some(ip) = fixed_ip {
                        let holder = st.ports.iter().find(|p| {
                            s(p, "network_id") == id
                                && st.can_see(&ctx, Kind::Port, p)
                                && fixed_ips(p)
                                    .iter()
                                    .any(|f| f["ip_address"].as_str() == Some(ip))
                        });
                        if let Some(p) = holder {
                            return Err(VifError::FixedIpInUse {
                                address: ip.clone(),
                                device: Some(s(p, "device_id").to_string()),
                            });
                        }
                    }
                }
            }
        }
        let found: Vec<&Record> = st
            .networks
            .iter()
            .filter(|n| net_ids.contains(&s(n, "id")) && st.can_see(&ctx, Kind::Network, n))
            .collect();
        if let Some(n) = found.iter().find(|n| {
            n.get("subnets")
                .and_then(Value::as_array)
                .is_none_or(Vec::is_empty)
        }) {
            return Err(VifError::NetworkRequiresSubnet(s(n, "id").to_string()));
        }
        let mut lost: Vec<&str> = Vec::new();
        for id in &net_ids {
            if !found.iter().any(|n| s(n, "id") == *id) && !lost.contains(id) {
                lost.push(id);
            }
        }
        if !lost.is_empty() {
            return Err(VifError::NetworkNotFound(lost.join(", ")));
        }
        if !is_admin {
            // `_check_external_network_attach`.
            if let Some(n) = found
                .iter()
                .find(|n| b(n, "router:external") && !b(n, "shared"))
            {
                return Err(VifError::ExternalNetworkAttachForbidden(
                    s(n, "id").to_string(),
                ));
            }
        }
        // Nova validates a requested port's network only when it allocates
        // the server's network (`_validate_requested_network_ids`, with the
        // caller's token): a port on a network the caller cannot see gives
        // the server no network at all, the port left unbound — what a real
        // pod does when a shared network's copy is not shared.
        let kept: Vec<NicRequest> = requested
            .iter()
            .filter(|req| match req {
                NicRequest::Port { id, .. } => st.get(Kind::Port, id).is_some_and(|p| {
                    st.get(Kind::Network, s(p, "network_id"))
                        .is_some_and(|n| st.can_see(&ctx, Kind::Network, n))
                }),
                NicRequest::Network { .. } => true,
            })
            .cloned()
            .collect();
        Ok(kept)
    }

    /// The networks an interface attach naming neither port nor network
    /// would use: exactly one available network, or an error.
    pub(crate) fn network_to_attach(&self, project: &str) -> Result<String, VifError> {
        let st = self.lock();
        match available_networks(&st, project).as_slice() {
            [] => Err(VifError::NoNetworkToAttach(project.to_string())),
            [net] => Ok(s(net, "id").to_string()),
            _ => Err(VifError::NetworkAmbiguous),
        }
    }

    /// Creates or binds the ports of one server, in request order, all or
    /// nothing. Ports Nova creates get `security_groups` (none: Neutron
    /// gives the project's `default`); ports the user made keep theirs.
    pub(crate) fn allocate(
        &self,
        dev: &Device<'_>,
        nics: &[NicRequest],
        security_groups: &[String],
    ) -> Result<Vec<Vif>, VifError> {
        let mut st = self.lock();
        let before = st.clone();
        let result = allocate_in(&mut st, dev, nics, security_groups);
        if result.is_err() {
            *st = before;
        }
        result
    }

    /// Releases a server's ports: deletes those Nova made and unbinds the
    /// others, as long as they are still the server's.
    pub(crate) fn release(&self, server_id: &str, vifs: &[Vif]) {
        let mut st = self.lock();
        for vif in vifs {
            let ours = st
                .get(Kind::Port, &vif.port_id)
                .is_some_and(|p| s(p, "device_id") == server_id);
            if !ours {
                continue;
            }
            if vif.created {
                // A compute port holds no floating IP once gone.
                let _ = ports::delete(&mut st, &vif.port_id);
            } else if let Some(p) = st.get_mut(Kind::Port, &vif.port_id) {
                unbind(p);
            }
        }
    }

    /// The network info cache, refreshed: each known port still bound to
    /// the server, with its current addresses (Neutron tells Nova of port
    /// changes and deletions).
    pub(crate) fn refresh_vifs(&self, server_id: &str, vifs: &[Vif]) -> Vec<Vif> {
        let st = self.lock();
        vifs.iter()
            .filter_map(|v| {
                st.get(Kind::Port, &v.port_id)
                    .filter(|p| s(p, "device_id") == server_id)
                    .map(|p| vif_of(&st, p, v.created, v.tag.clone()))
            })
            .collect()
    }

    /// The names of the security groups of the server's ports, as Nova
    /// shows them (`security_groups`): each group once, in port order; a
    /// group without a name by its id.
    pub(crate) fn security_group_names(&self, server_id: &str, vifs: &[Vif]) -> Vec<String> {
        let st = self.lock();
        let mut names: Vec<String> = Vec::new();
        for v in vifs {
            let Some(port) = st
                .get(Kind::Port, &v.port_id)
                .filter(|p| s(p, "device_id") == server_id)
            else {
                continue;
            };
            let ids = port
                .get("security_groups")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            for id in ids.iter().filter_map(Value::as_str) {
                let Some(g) = st.get(Kind::SecurityGroup, id) else {
                    continue;
                };
                let name = match s(g, "name") {
                    "" => id.to_string(),
                    n => n.to_string(),
                };
                if !names.contains(&name) {
                    names.push(name);
                }
            }
        }
        names
    }

    /// Nova's `add_to_instance` / `remove_from_instance`: the project's
    /// group `name` (a name or an id) added to, or removed from, every port
    /// of the server.
    pub(crate) fn change_server_group(
        &self,
        project: &str,
        server_id: &str,
        vifs: &[Vif],
        name: &str,
        add: bool,
    ) -> Result<(), GroupChangeError> {
        let id = match self.security_group_ids(project, &[name.to_string()]) {
            Ok(ids) => ids.into_iter().next().unwrap_or_default(),
            Err(VifError::SecurityGroupNotUnique(_)) => {
                return Err(GroupChangeError::NotUnique(format!(
                    "Multiple security_group matches found for name '{name}', use an ID to be more specific."
                )))
            }
            Err(_) => {
                return Err(GroupChangeError::NotFound(format!(
                    "Security group {name} is not found for project {project}"
                )))
            }
        };
        let mut st = self.lock();
        let ports: Vec<String> = vifs
            .iter()
            .filter(|v| {
                st.get(Kind::Port, &v.port_id)
                    .is_some_and(|p| s(p, "device_id") == server_id)
            })
            .map(|v| v.port_id.clone())
            .collect();
        if ports.is_empty() {
            return Err(GroupChangeError::NotFound(format!(
                "instance_id {server_id} could not be found as device id on any ports"
            )));
        }
        if add {
            // Every port must take it before any changes.
            for pid in &ports {
                let Some(p) = st.get(Kind::Port, pid) else {
                    continue;
                };
                let secured = p
                    .get("port_security_enabled")
                    .and_then(Value::as_bool)
                    .unwrap_or(true);
                if !secured || fixed_ips(p).is_empty() {
                    return Err(GroupChangeError::CannotBeApplied);
                }
            }
        }
        let mut found = false;
        for pid in &ports {
            let Some(p) = st.get_mut(Kind::Port, pid) else {
                continue;
            };
            let mut groups: Vec<Value> = p
                .get("security_groups")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let has = groups.iter().any(|g| g == id.as_str());
            if add {
                if has {
                    continue;
                }
                groups.push(json!(id));
            } else {
                if !has {
                    continue;
                }
                groups.retain(|g| g != id.as_str());
                found = true;
            }
            p.insert("security_groups".into(), Value::Array(groups));
            touch(p);
        }
        if !add && !found {
            return Err(GroupChangeError::NotFound(format!(
                "Security group {name} not associated with the instance {server_id}"
            )));
        }
        Ok(())
    }

    /// A port as the caller may see it (Nova's `show_port` with the
    /// user's token).
    pub(crate) fn visible_port(&self, project: &str, is_admin: bool, id: &str) -> Option<Record> {
        let st = self.lock();
        st.visible(&user_ctx(project, is_admin), Kind::Port, id)
            .ok()
            .cloned()
    }
}

fn allocate_in(
    st: &mut State,
    dev: &Device<'_>,
    nics: &[NicRequest],
    security_groups: &[String],
) -> Result<Vec<Vif>, VifError> {
    let ctx = user_ctx(dev.project_id, dev.is_admin);
    let mut out = Vec::new();
    for nic in nics {
        match nic {
            NicRequest::Port { id, tag } => {
                let p = st
                    .visible(&ctx, Kind::Port, id)
                    .map_err(|_| VifError::PortNotFound(id.clone()))?;
                if !s(p, "device_id").is_empty() {
                    return Err(VifError::PortInUse(id.clone()));
                }
                let Some(p) = st.get_mut(Kind::Port, id) else {
                    return Err(VifError::PortNotFound(id.clone()));
                };
                bind(p, dev);
                let p = p.clone();
                out.push(vif_of(st, &p, false, tag.clone()));
            }
            NicRequest::Network { id, fixed_ip, tag } => {
                let mut res = Map::new();
                res.insert("network_id".into(), json!(id));
                res.insert("project_id".into(), json!(dev.project_id));
                res.insert("tenant_id".into(), json!(dev.project_id));
                res.insert("device_id".into(), json!(dev.server_id));
                res.insert("admin_state_up".into(), json!(true));
                if let Some(ip) = fixed_ip {
                    res.insert("fixed_ips".into(), json!([{ "ip_address": ip }]));
                }
                if !security_groups.is_empty() {
                    res.insert("security_groups".into(), json!(security_groups));
                }
                let port_id = ports::create(st, &ctx, res)
                    .map_err(|e| create_error(e, id, fixed_ip.as_deref()))?;
                let Some(p) = st.get_mut(Kind::Port, &port_id) else {
                    return Err(VifError::PortNotFound(port_id));
                };
                bind(p, dev);
                let p = p.clone();
                out.push(vif_of(st, &p, true, tag.clone()));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    fn net(st: &mut State, project: &str, name: &str, cidr: Option<&str>, shared: bool) -> String {
        let admin = Ctx::for_tests(project, true);
        let body = json!({"network": {"name": name, "shared": shared}});
        let v = crate::network::create(st, &admin, Kind::Network, &body).unwrap();
        let id = v["network"]["id"].as_str().unwrap().to_string();
        if let Some(cidr) = cidr {
            let body = json!({"subnet": {"network_id": id, "ip_version": 4, "cidr": cidr}});
            crate::network::create(st, &admin, Kind::Subnet, &body).unwrap();
        }
        id
    }

    fn service(st: State) -> NetworkService {
        let svc = NetworkService::default();
        *svc.lock() = st;
        svc
    }

    const DEV: Device<'static> = Device {
        project_id: "p1",
        is_admin: false,
        server_id: "srv1",
        az: "az1",
        host: "pod1-compute1",
    };

    #[test]
    fn default_networks_follow_nova() {
        let mut st = State::default();
        let svc = service(st.clone());
        assert_eq!(svc.plan_nics("p1", false, None, false), Ok(vec![]));
        assert_eq!(
            svc.plan_nics("p1", false, None, true),
            Err(VifError::UnableToAutoAllocate("p1".into()))
        );
        let a = net(&mut st, "p1", "a", Some("10.0.0.0/24"), false);
        let svc = service(st.clone());
        let plan = svc.plan_nics("p1", false, None, true).unwrap();
        assert_eq!(
            plan,
            vec![NicRequest::Network {
                id: a,
                fixed_ip: None,
                tag: None
            }]
        );
        net(&mut st, "p2", "shared", Some("10.1.0.0/24"), true);
        net(&mut st, "p2", "private", Some("10.2.0.0/24"), false);
        let svc = service(st);
        assert_eq!(
            svc.plan_nics("p1", false, None, false),
            Err(VifError::NetworkAmbiguous)
        );
    }

    #[test]
    fn allocation_is_all_or_nothing() {
        let mut st = State::default();
        let a = net(&mut st, "p1", "a", Some("10.0.0.0/24"), false);
        let svc = service(st);
        let nics = vec![
            NicRequest::Network {
                id: a.clone(),
                fixed_ip: None,
                tag: None,
            },
            NicRequest::Network {
                id: a.clone(),
                fixed_ip: Some("10.9.0.5".into()),
                tag: None,
            },
        ];
        let before = svc.ports().len();
        assert_eq!(
            svc.allocate(&DEV, &nics, &[]),
            Err(VifError::InvalidFixedIp {
                address: "10.9.0.5".into(),
                network: a.clone()
            })
        );
        assert_eq!(svc.ports().len(), before);
        let vifs = svc.allocate(&DEV, &nics[..1], &[]).unwrap();
        assert_eq!(vifs.len(), 1);
        assert!(vifs[0].created);
        assert_eq!(vifs[0].network_name, "a");
        let p = &svc.ports_of_device("srv1")[0];
        assert_eq!(p["device_owner"], "compute:az1");
        assert_eq!(p["binding:host_id"], "pod1-compute1");
        assert_eq!(p["status"], "ACTIVE");
        svc.release("srv1", &vifs);
        assert!(svc.ports_of_device("srv1").is_empty());
        assert_eq!(svc.ports().len(), before);
    }

    /// A port the caller may use on a network it cannot see (another
    /// project's, not shared) gives the server no network, as Nova does;
    /// a network named by id that it cannot see is a `NetworkNotFound`.
    #[test]
    fn networks_the_caller_cannot_see_are_not_given() {
        let mut st = State::default();
        let hidden = net(&mut st, "p2", "hidden", Some("10.0.0.0/24"), false);
        let shared = net(&mut st, "p2", "shared", Some("10.1.0.0/24"), true);
        let admin = Ctx::for_tests("p2", true);
        let mut ports = Vec::new();
        for n in [&hidden, &shared] {
            let body = json!({"port": {"network_id": n, "tenant_id": "p1"}});
            let v = crate::network::create(&mut st, &admin, Kind::Port, &body).unwrap();
            ports.push(v["port"]["id"].as_str().unwrap().to_string());
        }
        let svc = service(st);
        let port = |id: &String| NicRequest::Port {
            id: id.clone(),
            tag: None,
        };
        assert_eq!(
            svc.plan_nics("p1", false, Some(&[port(&ports[0])]), false),
            Ok(vec![])
        );
        assert_eq!(
            svc.plan_nics("p1", false, Some(&[port(&ports[1])]), false),
            Ok(vec![port(&ports[1])])
        );
        assert_eq!(
            svc.plan_nics("p1", true, Some(&[port(&ports[0])]), false),
            Ok(vec![port(&ports[0])])
        );
        let by_net = NicRequest::Network {
            id: hidden.clone(),
            fixed_ip: None,
            tag: None,
        };
        assert_eq!(
            svc.plan_nics("p1", false, Some(&[by_net]), false),
            Err(VifError::NetworkNotFound(hidden))
        );
    }
}
