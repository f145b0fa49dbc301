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
//!
//! This module holds [`Bottom`] and what every kind shares (the creation
//! lock, finding, updating and deleting copies); `calls` speaks to a pod's
//! Neutron; each bottom resource kind has its own module (`networks`,
//! `subnets`, `security_groups`, `ports`), and `server_ports` is the
//! server–port lifecycle of a boot; `routers` is cross-pod L3 east-west
//! (bottom routers, bridge ports, interfaces, extra routes: the
//! `router_sync` job).

mod calls;
mod networks;
mod ports;
mod routers;
mod security_groups;
pub mod server_ports;
mod subnets;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tricircle_pods::{KeystoneClient, PodClient};
use tricircle_store::copies::{self, stale, Attempt, CopyError, CopyOf, CreateError};
use tricircle_store::{Pod, Store, StoreError};

use crate::{Neutron, NeutronError, Scope};
use tricircle_core::ResourceType;

pub use networks::{bottom_network_name, split_bottom_network_name};
pub use subnets::{
    dhcp_port_name, interface_port_name, remove_ip_from_pools, DHCP_OWNER, INTERFACE_OWNER,
    RESERVED_DHCP_DEVICE_ID,
};

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

fn admin_scope(project_id: &str) -> Scope {
    Scope {
        project_id: project_id.to_string(),
        user_id: String::new(),
        is_admin: true,
    }
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

    /// The bottom id of `top_id` in `pod`, creating the copy if needed.
    /// `recover` finds a copy made by a caller that died before recording
    /// it (by its name); `create` makes one. The store's one get-or-create
    /// under the routing lock ([`copies::get_or_create`]).
    pub async fn get_or_create<R, RF, C, CF>(
        &self,
        pod: &Pod,
        project_id: &str,
        resource_type: ResourceType,
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
        let copy = CopyOf {
            resource_type,
            top_id,
            pod,
            project_id,
        };
        let made = copies::get_or_create(
            self.store(),
            copy,
            self.lock_timeout,
            |attempt| async move {
                let made = async {
                    if attempt == Attempt::TakeOver {
                        if let Some(id) = recover().await? {
                            return Ok(id);
                        }
                    }
                    create().await
                }
                .await;
                // The pod could not be reached or did not answer: it may have
                // made the copy. The lock stays, so that the next owner (once it
                // is stale) looks the copy up by name, and a delete of the top
                // resource finds and removes it (`delete_copies`). Any other
                // failure came before the pod made anything.
                made.map_err(|e| match e {
                    e @ BottomError::Unavailable { .. } => CreateError::Unknown(e),
                    e => CreateError::NotMade(e),
                })
            },
        )
        .await;
        made.map_err(|e| match e {
            CopyError::Tombstoned => {
                BottomError::Gone(format!("The {resource_type} {top_id} is being deleted."))
            }
            CopyError::StillBeingMade => BottomError::Unavailable {
                pod: pod.pod_name.clone(),
                detail: format!("the {resource_type} {top_id} is still being created"),
            },
            CopyError::Store(e) => e.into(),
            CopyError::Create(e) => e,
        })
    }

    /// The bottom copies of a top resource: `(pod, bottom_id)` for each pod
    /// that holds a finished one.
    pub async fn copies(
        &self,
        top_id: &str,
        resource_type: ResourceType,
    ) -> Result<Vec<(Pod, String)>> {
        let routings = self
            .store()
            .list_routings(
                &tricircle_store::RoutingFilter {
                    top_id: Some(top_id.to_string()),
                    resource_type: Some(resource_type),
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
    pub async fn delete_copies(&self, top_id: &str, resource_type: ResourceType) -> Result<()> {
        let collection = match resource_type {
            ResourceType::Network => "networks",
            ResourceType::Subnet => "subnets",
            ResourceType::Port => "ports",
            ResourceType::SecurityGroup => "security-groups",
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
            if resource_type != ResourceType::Network {
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
        resource_type: ResourceType,
    ) -> Result<Vec<tricircle_store::Routing>> {
        Ok(self
            .store()
            .list_routings(
                &tricircle_store::RoutingFilter {
                    top_id: Some(top_id.to_string()),
                    resource_type: Some(resource_type),
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

    /// Applies `body` to every bottom copy of a top network or subnet (a
    /// copy gone from its pod is forgotten). Ports go through
    /// [`Bottom::sync_port`]: their groups are per pod.
    pub async fn update_copies(
        &self,
        top_id: &str,
        resource_type: ResourceType,
        body: Value,
    ) -> Result<()> {
        if !matches!(resource_type, ResourceType::Network | ResourceType::Subnet) {
            return Err(BottomError::Conflict(format!(
                "cannot update bottom copies of a {resource_type}"
            )));
        }
        for (pod, bottom) in self.copies(top_id, resource_type).await? {
            self.update_copy(&pod, top_id, resource_type, &bottom, body.clone())
                .await?;
        }
        Ok(())
    }

    /// Applies `body` to every bottom copy of the top port `top_id` of
    /// `project_id`, with the bottom copies of its security groups `groups`
    /// (made first) in each pod.
    async fn update_port_copies(
        &self,
        top_id: &str,
        body: Value,
        project_id: &str,
        groups: &[String],
    ) -> Result<()> {
        for (pod, bottom) in self.copies(top_id, ResourceType::Port).await? {
            let mut bottom_groups = Vec::new();
            for g in groups {
                bottom_groups.push(self.ensure_security_group(&pod, project_id, g).await?);
            }
            let mut pod_body = body.clone();
            pod_body["security_groups"] = json!(bottom_groups);
            self.update_copy(&pod, top_id, ResourceType::Port, &bottom, pod_body)
                .await?;
        }
        Ok(())
    }

    /// Updates one copy of a network, subnet or port; one gone from its pod
    /// is forgotten.
    async fn update_copy(
        &self,
        pod: &Pod,
        top_id: &str,
        resource_type: ResourceType,
        bottom: &str,
        body: Value,
    ) -> Result<()> {
        let (collection, kind) = match resource_type {
            ResourceType::Network => ("networks", "network"),
            ResourceType::Subnet => ("subnets", "subnet"),
            ResourceType::Port => ("ports", "port"),
            other => {
                return Err(BottomError::Conflict(format!(
                    "cannot update bottom copies of a {other}"
                )))
            }
        };
        if self
            .update(pod, collection, kind, bottom, body)
            .await?
            .is_none()
        {
            self.store()
                .delete_routing_of(top_id, &pod.pod_id, resource_type)
                .await?;
        }
        Ok(())
    }
}
