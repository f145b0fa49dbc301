//! Where things are: the pod a resource lives in (its routing), the bottom
//! pods and their AZs, and a project's quota limits.

use std::future::Future;

use tricircle_store::{Pod, Routing, RoutingFilter, Usage};

use crate::caller::Caller;
use crate::error::GatewayError;
use crate::pod_call::PodAnswer;
use crate::Gateway;
use tricircle_core::ResourceType;

impl Gateway {
    /// The newest `(major, minor)` API version every bottom pod speaks for
    /// `service_type` (cached, see [`crate::versions::PodVersions`]);
    /// `None` when no pod answers.
    pub async fn newest_pod_version(&self, service_type: &'static str) -> Option<(u16, u16)> {
        self.versions
            .newest_of_bottom_pods(&self.store, &self.pods, service_type)
            .await
    }

    /// The bottom pods (every pod but the top one).
    pub async fn bottom_pods(&self) -> Result<Vec<Pod>, GatewayError> {
        Ok(self
            .store
            .list_pods()
            .await?
            .into_iter()
            .filter(|p| !p.is_top())
            .collect())
    }

    /// The pod a resource lives in, from its routing. Another project's
    /// resource is not found for non-admins; a caller whose write was
    /// refused learns it only for a resource it may see.
    pub async fn routed_pod(
        &self,
        caller: &Caller,
        resource_type: ResourceType,
        top_id: &str,
    ) -> Result<Option<(Routing, Pod)>, GatewayError> {
        let page = self
            .store
            .list_routings(
                &RoutingFilter {
                    top_id: Some(top_id.to_string()),
                    resource_type: Some(resource_type),
                    ..Default::default()
                },
                None,
                1,
            )
            .await?;
        let Some(routing) = page.routings.into_iter().next() else {
            return Ok(None);
        };
        if !caller.is_admin() && routing.project_id != caller.project_id {
            return Ok(None);
        }
        let Some(pod) = self.store.find_pod(&routing.pod_id).await? else {
            return Ok(None);
        };
        if let Some(action) = &caller.refused_write {
            return Err(GatewayError::Forbidden(action.clone()));
        }
        Ok(Some((routing, pod)))
    }

    /// Where a resource no routing knows any more may still be (a delete
    /// the pod is still at, the actions of a deleted server): every bottom
    /// pod is asked at once with `ask`, and the first answer in pod order
    /// that `wanted` accepts is returned with its pod. A pod that cannot be
    /// asked is logged (`what`) and passed over.
    pub async fn first_pod_answer<F, Fut, E>(
        &self,
        what: &str,
        ask: F,
        wanted: impl Fn(&PodAnswer) -> bool,
    ) -> Option<(PodAnswer, Pod)>
    where
        F: Fn(Pod) -> Fut,
        Fut: Future<Output = Result<PodAnswer, E>>,
        E: std::fmt::Debug,
    {
        // A fallback after the routing lookup: a store that fails here
        // answers "not found" like the lookup would, but is logged.
        let pods = match self.bottom_pods().await {
            Ok(pods) => pods,
            Err(e) => {
                tracing::error!(error = %e, "pods not read: no pod asked about {what}");
                return None;
            }
        };
        let answers = futures::future::join_all(pods.iter().cloned().map(&ask)).await;
        for (pod, answer) in pods.into_iter().zip(answers) {
            match answer {
                Ok(a) if wanted(&a) => return Some((a, pod)),
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(pod = %pod.pod_name, error = ?e, "pod not asked about {what}");
                }
            }
        }
        None
    }

    /// The AZs of the bottom pods, sorted, each available while one of its
    /// pods is not in maintenance.
    pub async fn availability_zones(&self) -> Result<Vec<(String, bool)>, GatewayError> {
        let mut azs: Vec<(String, bool)> = Vec::new();
        for p in self.bottom_pods().await? {
            match azs.iter_mut().find(|(az, _)| *az == p.az_name) {
                Some((_, available)) => *available |= !p.maintenance,
                None => azs.push((p.az_name.clone(), !p.maintenance)),
            }
        }
        azs.sort();
        Ok(azs)
    }

    /// Quota limits of a project: its own, else the defaults.
    pub async fn project_limits(&self, project_id: &str) -> Result<Usage, GatewayError> {
        let set = self.store.quota_limits(project_id).await?;
        let d = self.quota_defaults;
        let get = |k: &str, default: i64| set.get(k).copied().unwrap_or(default);
        Ok(Usage {
            instances: get("instances", d.instances),
            cores: get("cores", d.cores),
            ram_mb: get("ram", d.ram_mb),
            volumes: get("volumes", d.volumes),
            gigabytes: get("gigabytes", d.gigabytes),
            snapshots: get("snapshots", d.snapshots),
        })
    }
}
