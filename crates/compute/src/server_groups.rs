//! Server groups: kept at the top (as flavors and keypairs are), with
//! Nova's quotas (`server_groups` per project, `server_group_members` per
//! group). A boot joining a group copies it into the pod it lands in
//! (through the one get-or-create under the routing lock, the copy named
//! by the top id), so the pod's scheduler applies the policy among its
//! hosts. Across pods: an `affinity` group keeps every member in the pod
//! of its first member (a boot asking another AZ is refused);
//! `soft-affinity` prefers that pod; the anti-affinity policies let
//! members spread over pods. `members` are the top ids of the group's
//! servers that still exist.

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use serde_json::{json, Map, Value};
use tricircle_gateway::copies::{Attempt, CopyError, CopyOf, CreateError};
use tricircle_gateway::{GatewayError, PodAnswer, PodCall};
use tricircle_pods::PodPath;
use tricircle_store::{Pod, RoutingFilter, ServerGroup, StoreError};

use crate::error::{ComputeError, Result};
use crate::{Caller, Compute};
use tricircle_core::ResourceType;

/// Routing resource type of a group's copy in a pod.
pub const ROUTING_TYPE: ResourceType = ResourceType::ServerGroup;
/// Nova's default quotas.
const DEFAULT_GROUPS: i64 = 10;
const DEFAULT_MEMBERS: i64 = 10;

/// A group to create, checked by the API.
#[derive(Debug, Clone)]
pub struct ServerGroupCreate {
    pub name: String,
    pub policy: String,
    pub rules: Map<String, Value>,
}

/// A group with the top ids of its members.
#[derive(Debug, Clone)]
pub struct GroupView {
    pub group: ServerGroup,
    pub members: Vec<String>,
}

/// A group a boot joins.
#[derive(Debug, Clone)]
pub struct BootGroup {
    pub group: ServerGroup,
    /// The pod every member must be in (affinity), when it has members.
    pub pinned: Option<Pod>,
}

fn not_found(id: &str) -> ComputeError {
    ComputeError::NotFound(format!("Instance group {id} could not be found."))
}

impl Compute {
    async fn group_limit(&self, project: &str, key: &str, default: i64) -> Result<i64> {
        Ok(self
            .store
            .quota_limits(project)
            .await?
            .get(key)
            .copied()
            .unwrap_or(default))
    }

    async fn group_view(&self, group: ServerGroup) -> Result<GroupView> {
        let members = self
            .store
            .server_group_members(&group.id)
            .await?
            .into_iter()
            .map(|m| m.server_id)
            .collect();
        Ok(GroupView { group, members })
    }

    /// Creates a group of the caller's project, within its quota.
    pub async fn create_server_group(
        &self,
        caller: &Caller,
        req: ServerGroupCreate,
    ) -> Result<GroupView> {
        let limit = self
            .group_limit(&caller.project_id, "server_groups", DEFAULT_GROUPS)
            .await?;
        let g = ServerGroup {
            id: uuid::Uuid::new_v4().to_string(),
            project_id: caller.project_id.clone(),
            user_id: caller.user_id.clone(),
            name: req.name,
            policy: req.policy,
            rules: Value::Object(req.rules).to_string(),
            created_at: chrono::Utc::now()
                .format("%Y-%m-%dT%H:%M:%S%.6fZ")
                .to_string(),
        };
        if !self.store.create_server_group(&g, limit).await? {
            return Err(ComputeError::OverQuota(
                "Quota exceeded, too many server groups.".into(),
            ));
        }
        self.group_view(g).await
    }

    /// The groups of the caller's project (of every project: `all`, for
    /// admins), `limit` of them after `offset`.
    pub async fn list_server_groups(
        &self,
        caller: &Caller,
        all: bool,
        offset: usize,
        limit: usize,
    ) -> Result<Vec<GroupView>> {
        let all = all && caller.is_admin();
        let groups = self
            .store
            .list_server_groups((!all).then_some(caller.project_id.as_str()))
            .await?;
        let mut out = Vec::new();
        for g in groups.into_iter().skip(offset).take(limit) {
            out.push(self.group_view(g).await?);
        }
        Ok(out)
    }

    /// The group `id` if the caller may see it. Another project's group is
    /// a 404, as an unknown id is (Nova answers its policy's 403 there,
    /// which tells that the group exists: we do not); a reader's change to
    /// a group of its own project is the 403 deferred until the lookup.
    async fn find_group(&self, caller: &Caller, id: &str) -> Result<ServerGroup> {
        let g = match self.store.get_server_group(id).await {
            Ok(g) => g,
            Err(StoreError::NotFound(_)) => return Err(not_found(id)),
            Err(e) => return Err(e.into()),
        };
        if !caller.is_admin() && g.project_id != caller.project_id {
            return Err(not_found(id));
        }
        if let Some(action) = &caller.refused_write {
            return Err(GatewayError::Forbidden(action.clone()).into());
        }
        Ok(g)
    }

    pub async fn server_group(&self, caller: &Caller, id: &str) -> Result<GroupView> {
        let g = self.find_group(caller, id).await?;
        self.group_view(g).await
    }

    /// Deletes the group's copies in the pods (a copy that stays is logged
    /// and keeps its routing), then the group. Its servers stay.
    pub async fn delete_server_group(&self, caller: &Caller, id: &str) -> Result<()> {
        let g = self.find_group(caller, id).await?;
        // No boot may copy it again meanwhile.
        self.store.add_tombstone(&g.id, ROUTING_TYPE).await?;
        let filter = RoutingFilter {
            top_id: Some(g.id.clone()),
            resource_type: Some(ROUTING_TYPE),
            ..Default::default()
        };
        let copies = self
            .store
            .list_routings(&filter, None, 10_000)
            .await?
            .routings;
        for r in copies {
            let Some(pod) = self.store.find_pod(&r.pod_id).await? else {
                continue;
            };
            let gone = match r.bottom_id.as_deref().filter(|b| !b.is_empty()) {
                Some(bottom) => {
                    let path = PodPath::of(["os-server-groups", bottom]);
                    match self
                        .group_call(caller, &pod, Method::DELETE, path, None)
                        .await
                    {
                        Ok(a) => a.is_success() || a.status == StatusCode::NOT_FOUND,
                        Err(e) => {
                            tracing::warn!(pod = %pod.pod_name, error = %e, group = %g.id, "server group copy not deleted");
                            false
                        }
                    }
                }
                None => true,
            };
            if gone {
                self.store.delete_routing(r.id).await?;
            }
        }
        self.store.delete_server_group(&g.id).await?;
        Ok(())
    }

    /// The group `id` a boot of `count` servers in `az` (if given) joins:
    /// Nova's checks (the group exists, its member quota) and where an
    /// affinity group's members are.
    pub async fn group_for_boot(
        &self,
        caller: &Caller,
        id: &str,
        az: Option<&str>,
        count: i64,
    ) -> Result<BootGroup> {
        let missing =
            || ComputeError::BadRequest(format!("Instance group {id} could not be found."));
        let group = match self.store.get_server_group(id).await {
            Ok(g) if caller.is_admin() || g.project_id == caller.project_id => g,
            Ok(_) | Err(StoreError::NotFound(_)) => return Err(missing()),
            Err(e) => return Err(e.into()),
        };
        let members = self.store.server_group_members(&group.id).await?;
        let limit = self
            .group_limit(&group.project_id, "server_group_members", DEFAULT_MEMBERS)
            .await?;
        if limit >= 0 && members.len() as i64 + count > limit {
            return Err(ComputeError::OverQuota(
                "Quota exceeded, too many servers in group".into(),
            ));
        }
        let mut pinned = None;
        if matches!(group.policy.as_str(), "affinity" | "soft-affinity") {
            if let Some(first) = members.first() {
                let pod = self
                    .store
                    .find_pod(&first.pod_id)
                    .await?
                    .ok_or_else(missing)?;
                pinned = pin(&group, pod, az)?;
            }
        }
        Ok(BootGroup { group, pinned })
    }

    /// Copies the group into `pod` if it is not there yet; the copy's id.
    pub async fn ensure_server_group(
        &self,
        caller: &Caller,
        group: &BootGroup,
        pod: &Pod,
    ) -> Result<String> {
        let g = &group.group;
        let copy = CopyOf {
            resource_type: ROUTING_TYPE,
            top_id: &g.id,
            pod,
            project_id: &g.project_id,
        };
        let made = self
            .get_or_create_copy(copy, |attempt| self.copy_group(caller, g, pod, attempt))
            .await;
        match made {
            Ok(bottom) => Ok(bottom),
            Err(CopyError::Tombstoned { .. }) => Err(ComputeError::BadRequest(format!(
                "Instance group {} could not be found.",
                g.id
            ))),
            Err(e) => Err(e.into()),
        }
    }

    /// Finds the copy an owner that died may have made (by its name, the
    /// top id), else creates it.
    async fn copy_group(
        &self,
        caller: &Caller,
        g: &ServerGroup,
        pod: &Pod,
        attempt: Attempt,
    ) -> Result<String, CreateError> {
        let collection = || PodPath::fixed("/os-server-groups");
        if attempt == Attempt::TakeOver {
            let a = self
                .group_call(caller, pod, Method::GET, collection(), None)
                .await?;
            if !a.is_success() {
                return Err(not_prepared(pod, &g.id, &a));
            }
            let found = a.json().and_then(|v| {
                v["server_groups"].as_array().and_then(|list| {
                    list.iter()
                        .find(|c| c["name"].as_str() == Some(g.id.as_str()))
                        .and_then(|c| c["id"].as_str().map(str::to_string))
                })
            });
            if let Some(id) = found {
                return Ok(id);
            }
        }
        let rules: Value = serde_json::from_str(&g.rules).unwrap_or_else(|_| json!({}));
        let body = json!({"server_group": {"name": g.id, "policy": g.policy, "rules": rules}});
        let a = self
            .group_call(caller, pod, Method::POST, collection(), Some(body))
            .await?;
        if !a.is_success() {
            return Err(not_prepared(pod, &g.id, &a));
        }
        a.json()
            .and_then(|v| v["server_group"]["id"].as_str().map(str::to_string))
            .ok_or_else(|| not_prepared(pod, &g.id, &a))
    }

    /// Records the servers a boot made in `pod` as members of the group.
    pub async fn record_group_members(
        &self,
        group: &BootGroup,
        pod: &Pod,
        servers: &[String],
    ) -> Result<()> {
        Ok(self
            .store
            .add_server_group_members(&group.group.id, &pod.pod_id, servers)
            .await?)
    }

    /// The top ids of the groups whose copies in `pod` are `bottoms`, as
    /// `(bottom, top)` pairs; a copy the lookup fails for is logged and
    /// left out.
    pub async fn group_top_ids(&self, pod: &Pod, bottoms: Vec<String>) -> Vec<(String, String)> {
        let mut pairs = Vec::new();
        for bottom in bottoms {
            let filter = RoutingFilter {
                bottom_id: Some(bottom.clone()),
                pod_id: Some(pod.pod_id.clone()),
                resource_type: Some(ROUTING_TYPE),
                ..Default::default()
            };
            match self.store.list_routings(&filter, None, 1).await {
                Ok(page) => {
                    if let Some(r) = page.routings.into_iter().next() {
                        pairs.push((bottom, r.top_id));
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, %bottom, "server group of a server not mapped to the top")
                }
            }
        }
        pairs
    }

    /// A call about server groups to a pod with the caller's token, at
    /// 2.64 (`policy` and `rules`) whatever the client asked.
    async fn group_call(
        &self,
        caller: &Caller,
        pod: &Pod,
        method: Method,
        path: PodPath,
        body: Option<Value>,
    ) -> Result<PodAnswer, GatewayError> {
        let mut headers = HeaderMap::new();
        headers.insert("content-type", HeaderValue::from_static("application/json"));
        headers.insert(
            "openstack-api-version",
            HeaderValue::from_static("compute 2.64"),
        );
        headers.insert(
            "x-openstack-nova-api-version",
            HeaderValue::from_static("2.64"),
        );
        let call = PodCall {
            pod,
            service_type: "compute",
            method,
            path,
            query: None,
            headers: &headers,
            body: body.map(|b| Bytes::from(b.to_string())),
        };
        self.call(caller, call).await
    }
}

/// Where an (soft-)affinity group whose first member is in `pod` pins a
/// boot asking for `az`.
fn pin(group: &ServerGroup, pod: Pod, az: Option<&str>) -> Result<Option<Pod>> {
    let id = &group.id;
    let elsewhere = az.is_some_and(|a| a != pod.az_name);
    match (group.policy.as_str(), elsewhere) {
        ("affinity", true) => Err(ComputeError::BadRequest(format!(
            "Server group {id} has the affinity policy and its servers are in availability \
             zone {}: a server of the group cannot be booted in availability zone {}.",
            pod.az_name,
            az.unwrap_or_default()
        ))),
        // Soft affinity gives way to the AZ asked for.
        (_, true) => Ok(None),
        (_, false) => {
            if pod.maintenance && group.policy == "affinity" {
                return Err(ComputeError::Conflict(format!(
                    "Server group {id} keeps its servers in pod {}, which is in maintenance.",
                    pod.pod_name
                )));
            }
            Ok((!pod.maintenance).then_some(pod))
        }
    }
}

/// The pod refused to make the copy: nothing was made. Its own quota of
/// server groups is a 403; anything else, the copy is unavailable.
fn not_prepared(pod: &Pod, id: &str, answer: &PodAnswer) -> CreateError {
    tracing::error!(pod = %pod.pod_name, status = %answer.status, body = %String::from_utf8_lossy(&answer.body), "server group copy failed");
    let message = format!(
        "Server group {id} could not be prepared in pod {}.",
        pod.pod_name
    );
    CreateError::NotMade(if answer.status == StatusCode::FORBIDDEN {
        GatewayError::PodRefused {
            status: 403,
            message,
        }
    } else {
        GatewayError::unavailable(message, std::time::Duration::ZERO)
    })
}
