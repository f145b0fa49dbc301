//! The server–port lifecycle (BEHAVIOUR §4, §6.2): each requested network
//! or port of a boot becomes a top port (top IPAM) whose copy, with its
//! network, subnets and security groups, is made in the chosen pod; the
//! pod's Nova then boots on the bottom ports only.
//!
//! [`Bottom::prepare_server_ports`] checks the nics and makes the copies,
//! undoing what it made when it fails; [`Bottom::bind_server_ports`] and
//! [`Bottom::server_gone`] change the top ports, the server's port rows
//! and the jobs that follow the copies in one transaction (outbox, see
//! `Neutron::bind_server_ports`; a server gone also takes its routing and
//! allocation with it); [`Bottom::undo_server_ports`]
//! drops nothing: a copy it cannot delete now is left to the port's delete
//! job, recorded with the top port's delete, and what it could not even
//! record is returned.
//!
//! This is where cross-pod route re-planning hangs: a port bound to or
//! released from a server in a pod changes which pods a tenant's router
//! must reach, so binding and releasing record the `router_sync` job of
//! every router on the ports' subnets in the same transaction.

use serde_json::{json, Value};
use tricircle_store::Pod;

use super::{admin_scope, Bottom, BottomError};
use crate::model::{Network, Port, Resource, SecurityGroup};
use crate::{NeutronError, Scope};
use tricircle_core::ResourceType;

/// One entry of a boot's `networks`, parsed.
#[derive(Debug, Clone, PartialEq)]
pub enum Nic {
    Network {
        id: String,
        fixed_ip: Option<String>,
        /// Nova's device tag, passed to the pod as given.
        tag: Option<Value>,
    },
    Port {
        id: String,
        tag: Option<Value>,
    },
}

/// The top ports of a boot, made ready in its pod.
#[derive(Debug, Default, Clone)]
pub struct Prepared {
    /// The `networks` the pod's Nova gets: `[{"port": <bottom id>}]`.
    pub nics: Vec<Value>,
    /// Top port ids, and whether this boot created them.
    pub ports: Vec<(String, bool)>,
}

/// Why a server's ports could not be prepared, bound or changed.
#[derive(Debug, thiserror::Error)]
pub enum ServerPortError {
    /// A nic names a port the caller cannot see.
    #[error("Port id {0} could not be found.")]
    UnknownPort(String),
    /// A nic names (or its port is on) a network the caller cannot see.
    #[error("Network {0} could not be found.")]
    UnknownNetwork(String),
    #[error("Network {network} is not available in availability zone {az}; its availability_zone_hints are {hints}.")]
    NotInZone {
        network: String,
        az: String,
        hints: String,
    },
    #[error("Network {0} requires a subnet in order to boot instances on.")]
    NoSubnet(String),
    /// A nic's port is bound to a device already.
    #[error("Port {0} is still in use.")]
    PortInUse(String),
    /// A boot names a security group the project does not have.
    #[error("Security group {name} not found for project {project}.")]
    UnknownGroup { name: String, project: String },
    /// `addSecurityGroup` / `removeSecurityGroup` name a group the project
    /// does not have.
    #[error("Security group {name} is not found for project {project}")]
    GroupNotFound { name: String, project: String },
    #[error("Security group {name} not associated with the instance {server}")]
    GroupNotAssociated { name: String, server: String },
    #[error("Network requires port_security_enabled and subnet associated in order to apply security groups.")]
    PortSecurityRequired,
    /// The top Neutron refused or failed.
    #[error(transparent)]
    Neutron(#[from] NeutronError),
    /// A pod refused or failed, or the copies' bookkeeping did.
    #[error(transparent)]
    Bottom(#[from] BottomError),
}

type Result<T, E = ServerPortError> = std::result::Result<T, E>;

/// How many other addresses a boot tries when the pod refuses the ones the
/// top chose for it.
const RECHOICES: usize = 3;

/// Whether the pod refused a port copy for an address (IP or MAC) it still
/// gives to another port.
fn address_refused(e: &BottomError) -> bool {
    matches!(e, BottomError::Refused { status: 409, what, message, .. }
        if what.contains("port")
            && (message.contains("already allocated") || message.contains("mac address")))
}

impl Bottom {
    /// The top network of a nic, as the caller may see it.
    async fn network_of(&self, caller: &Scope, nic: &Nic) -> Result<Network> {
        let net_id = match nic {
            Nic::Network { id, .. } => id.clone(),
            Nic::Port { id, .. } => {
                let port = self
                    .neutron
                    .get_port(caller, id)
                    .await
                    .map_err(|_| ServerPortError::UnknownPort(id.clone()))?;
                Port::from_doc(&port)?.network_id
            }
        };
        let net = self
            .neutron
            .get_network(caller, &net_id)
            .await
            .map_err(|_| ServerPortError::UnknownNetwork(net_id))?;
        Ok(Network::from_doc(&net)?)
    }

    /// Where a boot without an AZ should go given its networks: the AZ of
    /// the pod already holding a local network, else the first AZ hint.
    pub async fn preferred_az(&self, caller: &Scope, nics: &[Nic]) -> Result<Option<String>> {
        for nic in nics {
            let net = self.network_of(caller, nic).await?;
            let id = net.id.as_str();
            // The caller's view may not show the segment.
            let full = self
                .neutron
                .get_network(&admin_scope(&caller.project_id), id)
                .await?;
            if Network::from_doc(&full)?.is_local() {
                if let Some((pod, _)) = self.copies(id, ResourceType::Network).await?.first() {
                    return Ok(Some(pod.az_name.clone()));
                }
            }
            if let Some(first) = net.availability_zone_hints.first() {
                return Ok(Some(first.clone()));
            }
        }
        Ok(None)
    }

    /// Checks every requested network against the pod (AZ hints, subnets)
    /// and prepares its port in the pod. On failure, what this boot
    /// created is undone before the error is returned.
    pub async fn prepare_server_ports(
        &self,
        caller: &Scope,
        pod: &Pod,
        nics: &[Nic],
        security_groups: &[String],
    ) -> Result<Prepared> {
        let mut prepared = Prepared::default();
        match self
            .prepare_into(caller, pod, nics, security_groups, &mut prepared)
            .await
        {
            Ok(()) => Ok(prepared),
            Err(e) => {
                self.undo_logged(&prepared).await;
                Err(e)
            }
        }
    }

    /// Checks everything before creating anything.
    async fn check_nics(&self, caller: &Scope, pod: &Pod, nics: &[Nic]) -> Result<()> {
        for nic in nics {
            let net = self.network_of(caller, nic).await?;
            let hints = &net.availability_zone_hints;
            if !hints.is_empty() && !hints.contains(&pod.az_name) {
                return Err(ServerPortError::NotInZone {
                    network: net.id,
                    az: pod.az_name.clone(),
                    hints: hints.join(", "),
                });
            }
            if net.subnets.is_empty() {
                return Err(ServerPortError::NoSubnet(net.id));
            }
            if let Nic::Port { id, .. } = nic {
                let port = Port::from_doc(&self.neutron.get_port(caller, id).await?)?;
                if !port.device_id.is_empty() {
                    return Err(ServerPortError::PortInUse(id.clone()));
                }
            }
        }
        Ok(())
    }

    async fn prepare_into(
        &self,
        caller: &Scope,
        pod: &Pod,
        nics: &[Nic],
        security_groups: &[String],
        prepared: &mut Prepared,
    ) -> Result<()> {
        self.check_nics(caller, pod, nics).await?;
        let mut group_ids = Vec::new();
        for name in security_groups {
            group_ids.push(self.boot_group_id(caller, name).await?);
        }
        for nic in nics {
            let (port_id, tag) = match nic {
                Nic::Port { id, tag } => {
                    prepared.ports.push((id.clone(), false));
                    (id.clone(), tag)
                }
                Nic::Network { id, fixed_ip, tag } => {
                    let mut body = json!({"network_id": id, "project_id": caller.project_id});
                    if let Some(ip) = fixed_ip {
                        body["fixed_ips"] = json!([{"ip_address": ip}]);
                    }
                    if !group_ids.is_empty() {
                        body["security_groups"] = json!(group_ids);
                    }
                    let port = self.neutron.create_port(caller, body).await?;
                    let port_id = Port::from_doc(&port)?.id;
                    prepared.ports.push((port_id.clone(), true));
                    (port_id, tag)
                }
            };
            let automatic = matches!(nic, Nic::Network { fixed_ip: None, .. });
            let bottom_port = self
                .prepare_rechoosing(caller, pod, port_id, automatic, prepared)
                .await?;
            let mut nic = json!({ "port": bottom_port });
            if let Some(t) = tag.as_ref().filter(|t| !t.is_null()) {
                nic["tag"] = t.clone();
            }
            prepared.nics.push(nic);
        }
        Ok(())
    }

    /// Prepares the port's copy in the pod. The top holds a deleted port's
    /// addresses until the pod let them go, but a pod may still hold an
    /// address the top believes free (a port made in the pod behind the
    /// top's back, a hold an operator dropped): an address the caller asked
    /// for is then the caller's conflict (409, as Neutron answers it), one
    /// the top chose automatically is chosen again — a new top port (the
    /// refused one keeps its addresses meanwhile, so the top chooses
    /// others), the refused ports deleted. Returns the bottom port id.
    async fn prepare_rechoosing(
        &self,
        caller: &Scope,
        pod: &Pod,
        port_id: String,
        automatic: bool,
        prepared: &mut Prepared,
    ) -> Result<String> {
        let mut port_id = port_id;
        let mut refused: Vec<String> = Vec::new();
        let mut tries = 0;
        let outcome = loop {
            match self.prepare_port(pod, &port_id).await {
                Ok(b) => break Ok(b),
                Err(e) if automatic && tries < RECHOICES && address_refused(&e) => {
                    tries += 1;
                    tracing::info!(pod = %pod.pod_name, port = %port_id, error = %e,
                        "the pod holds an address the top chose: choosing again");
                    let new_id = match self.rechoose_port(caller, &port_id).await {
                        Ok(id) => id,
                        Err(e) => break Err(e),
                    };
                    refused.push(std::mem::replace(&mut port_id, new_id));
                    // The new port is this boot's from now on.
                    if let Some(p) = prepared.ports.last_mut() {
                        p.0 = port_id.clone();
                    }
                }
                Err(e) => break Err(e.into()),
            }
        };
        for id in refused {
            if let Err(e) = self.undo_port(&id).await {
                tracing::error!(port = %id, error = %e,
                    "a port the pod refused stays: could not delete it nor record its delete job");
            }
        }
        outcome
    }

    /// A new top port like `port_id` (network, project, groups), other
    /// addresses chosen.
    async fn rechoose_port(&self, caller: &Scope, port_id: &str) -> Result<String> {
        let old = self
            .neutron
            .get_port(&admin_scope(&caller.project_id), port_id)
            .await?;
        let old = Port::from_doc(&old)?;
        let mut body = json!({"network_id": old.network_id, "project_id": old.project_id});
        if !old.security_groups.is_empty() {
            body["security_groups"] = json!(old.security_groups);
        }
        let port = self.neutron.create_port(caller, body).await?;
        Ok(Port::from_doc(&port)?.id)
    }

    /// A security group named in a boot, by id or by name in the project.
    async fn boot_group_id(&self, caller: &Scope, name: &str) -> Result<String> {
        if name == "default" {
            let g = self
                .neutron
                .default_security_group(&caller.project_id)
                .await?;
            return Ok(SecurityGroup::from_doc(&g)?.id);
        }
        if let Ok(g) = self.neutron.get_security_group(caller, name).await {
            return Ok(SecurityGroup::from_doc(&g)?.id);
        }
        match self
            .neutron
            .find_security_group_by_name(caller, name)
            .await?
        {
            Some(g) => Ok(SecurityGroup::from_doc(&g)?.id),
            None => Err(ServerPortError::UnknownGroup {
                name: name.to_string(),
                project: caller.project_id.clone(),
            }),
        }
    }

    /// The boot succeeded: the top ports now belong to the server, with
    /// the rows that release them later and the jobs that bring their
    /// copies in line, in one transaction.
    pub async fn bind_server_ports(
        &self,
        caller: &Scope,
        pod: &Pod,
        server_id: &str,
        prepared: &Prepared,
    ) -> Result<()> {
        let owner = format!("compute:{}", pod.az_name);
        self.neutron
            .bind_server_ports(server_id, &caller.project_id, &owner, &prepared.ports)
            .await?;
        Ok(())
    }

    /// The server is gone from its pod: the ports its boot created go too
    /// (their copies through the port-delete job), ports the user gave are
    /// unbound and kept, and the server's routing (`routing_id`) and
    /// allocation go, in one transaction. Returns the ports that stay bound
    /// (see `Neutron::server_gone`).
    pub async fn server_gone(
        &self,
        server_id: &str,
        routing_id: i64,
    ) -> Result<Vec<String>, NeutronError> {
        self.neutron.server_gone(server_id, routing_id).await
    }

    /// Undoes a boot's network preparation: the ports it created go, at
    /// the top and in the pod. Every port is tried. A copy that cannot be
    /// deleted now keeps its routing, so the top port's delete records the
    /// port's delete job in its transaction, which deletes the copy later.
    /// Returns the ports for which even that failed, with why.
    pub async fn undo_server_ports(&self, prepared: &Prepared) -> Vec<(String, ServerPortError)> {
        let mut left = Vec::new();
        for (port_id, created) in &prepared.ports {
            if !created {
                continue;
            }
            if let Err(e) = self.undo_port(port_id).await {
                left.push((port_id.clone(), e));
            }
        }
        left
    }

    async fn undo_logged(&self, prepared: &Prepared) {
        for (port_id, e) in self.undo_server_ports(prepared).await {
            tracing::error!(%port_id, error = %e,
                "a port of a failed boot stays: could not delete it nor record its delete job");
        }
    }

    /// Deletes a port a boot made; see [`Bottom::undo_server_ports`].
    async fn undo_port(&self, port_id: &str) -> Result<()> {
        if let Err(e) = self.delete_copies(port_id, ResourceType::Port).await {
            tracing::warn!(%port_id, error = %e,
                "a copy of a port being undone is left to the port's delete job");
        }
        match self.neutron.delete_port(&admin_scope(""), port_id).await {
            Ok(()) => Ok(()),
            Err(e) if e.is_not_found() => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Deletes a port a boot made: its copies in the pods, then the top
    /// port (one already gone is fine). Both are tried; the first failure
    /// is returned. Copies left behind keep their routings, so a second
    /// run finds them.
    pub async fn delete_port_everywhere(&self, port_id: &str) -> Result<()> {
        let copies = self
            .delete_copies(port_id, ResourceType::Port)
            .await
            .map_err(ServerPortError::from);
        let top = match self.neutron.delete_port(&admin_scope(""), port_id).await {
            Ok(()) => Ok(()),
            Err(e) if e.is_not_found() => Ok(()),
            Err(e) => Err(e.into()),
        };
        copies.and(top)
    }

    /// `addSecurityGroup` / `removeSecurityGroup` on a server with top
    /// ports, as Nova does it against Neutron: the caller's project's group
    /// `name` (a name or an id) added to, or removed from, every top port
    /// of the server; the pod's copies follow at once (and by the ports'
    /// update jobs, should a pod be away). `Ok(false)`: the server has no
    /// top ports (booted without networks, or with `auto`), so the pod's
    /// Nova is the one to ask.
    pub async fn change_server_group(
        &self,
        caller: &Scope,
        server_id: &str,
        name: &str,
        add: bool,
    ) -> Result<bool> {
        let ports = self
            .store()
            .server_ports(server_id)
            .await
            .map_err(BottomError::from)?;
        if ports.is_empty() {
            return Ok(false);
        }
        let group_id = self.server_group_id(caller, name).await?;
        let mut changes = Vec::new();
        for p in &ports {
            let sc = admin_scope(&p.project_id);
            let port = match self.neutron.get_port(&sc, &p.port_id).await {
                Ok(port) => Port::from_doc(&port)?,
                Err(e) if e.is_not_found() => continue,
                Err(e) => return Err(e.into()),
            };
            if let Some(groups) = changed_groups(&port, &group_id, add)? {
                changes.push((sc, p.port_id.clone(), groups));
            }
        }
        if !add && changes.is_empty() {
            return Err(ServerPortError::GroupNotAssociated {
                name: name.to_string(),
                server: server_id.to_string(),
            });
        }
        for (sc, port_id, groups) in changes {
            self.neutron
                .update_port(&sc, &port_id, json!({ "security_groups": groups }))
                .await?;
            // The view the caller reads next comes from the pod's ports.
            if let Err(e) = self.sync_port(&port_id).await {
                tracing::warn!(port_id = %port_id, error = %e,
                    "the pod's copy of the port keeps its old groups until the port's update job runs");
            }
        }
        Ok(true)
    }

    /// The group of an `addSecurityGroup` / `removeSecurityGroup`: by id,
    /// the project's default, or by name.
    async fn server_group_id(&self, caller: &Scope, name: &str) -> Result<String> {
        let group = match self.neutron.get_security_group(caller, name).await {
            Ok(g) => g,
            Err(_) if name == "default" => {
                self.neutron
                    .default_security_group(&caller.project_id)
                    .await?
            }
            Err(_) => match self
                .neutron
                .find_security_group_by_name(caller, name)
                .await?
            {
                Some(g) => g,
                None => {
                    return Err(ServerPortError::GroupNotFound {
                        name: name.to_string(),
                        project: caller.project_id.clone(),
                    })
                }
            },
        };
        Ok(SecurityGroup::from_doc(&group)?.id)
    }
}

/// A port's groups with `group_id` added or removed, or None when they
/// stay as they are. A group is added to a secured port with addresses
/// only.
fn changed_groups(port: &Port, group_id: &str, add: bool) -> Result<Option<Vec<String>>> {
    let mut groups = port.security_groups.clone();
    let has = groups.iter().any(|g| g == group_id);
    if add {
        if !port.port_security() || port.fixed_ips.is_empty() {
            return Err(ServerPortError::PortSecurityRequired);
        }
        if has {
            return Ok(None);
        }
        groups.push(group_id.to_string());
        Ok(Some(groups))
    } else if has {
        groups.retain(|g| g != group_id);
        Ok(Some(groups))
    } else {
        Ok(None)
    }
}
