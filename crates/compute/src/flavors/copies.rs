//! A flavor's copies in pods: made (same id) through the one get-or-create
//! under the routing lock, and kept in step with the top flavor.

use std::collections::BTreeMap;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use serde::Serialize;
use serde_json::json;
use tricircle_gateway::copies::{CopyOf, CreateError};
use tricircle_gateway::{GatewayError, PodCall};
use tricircle_pods::PodPath;
use tricircle_store::{Flavor, Pod, RoutingFilter};

use super::ROUTING_TYPE;
use crate::error::Result;
use crate::{Caller, Compute};

/// A change of a top flavor repeated in its copies.
pub(super) enum Change<'a> {
    Delete,
    SetSpecs(&'a BTreeMap<String, String>),
    SetSpec(&'a str, &'a BTreeMap<String, String>),
    DeleteSpec(&'a str),
    RemoveAccess(&'a str),
}

impl Change<'_> {
    fn method(&self) -> Method {
        match self {
            Change::Delete | Change::DeleteSpec(_) => Method::DELETE,
            Change::SetSpecs(_) | Change::RemoveAccess(_) => Method::POST,
            Change::SetSpec(..) => Method::PUT,
        }
    }

    fn path(&self, id: &str) -> PodPath {
        match self {
            Change::Delete => PodPath::of(["flavors", id]),
            Change::SetSpecs(_) => PodPath::of(["flavors", id, "os-extra_specs"]),
            Change::SetSpec(key, _) | Change::DeleteSpec(key) => {
                PodPath::of(["flavors", id, "os-extra_specs", key])
            }
            Change::RemoveAccess(_) => PodPath::of(["flavors", id, "action"]),
        }
    }

    fn body(&self) -> Option<Bytes> {
        match self {
            Change::Delete | Change::DeleteSpec(_) => None,
            Change::SetSpecs(specs) => Some(json_bytes(&json!({"extra_specs": specs}))),
            Change::SetSpec(_, specs) => Some(json_bytes(specs)),
            Change::RemoveAccess(tenant) => Some(json_bytes(
                &json!({"removeTenantAccess": {"tenant": tenant}}),
            )),
        }
    }
}

fn json_bytes(v: &impl Serialize) -> Bytes {
    Bytes::from(serde_json::to_vec(v).unwrap_or_default())
}

/// What a pod's Nova is told to create.
#[derive(Serialize)]
struct PodFlavor<'a> {
    id: &'a str,
    name: &'a str,
    ram: i64,
    vcpus: i64,
    disk: i64,
    #[serde(rename = "OS-FLV-EXT-DATA:ephemeral")]
    ephemeral: i64,
    swap: i64,
    rxtx_factor: f64,
    #[serde(rename = "os-flavor-access:is_public")]
    is_public: bool,
}

fn json_headers() -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert("content-type", HeaderValue::from_static("application/json"));
    h
}

fn call<'a>(pod: &'a Pod, headers: &'a HeaderMap, method: Method, path: PodPath) -> PodCall<'a> {
    PodCall {
        pod,
        service_type: "compute",
        method,
        path,
        query: None,
        headers,
        body: None,
    }
}

impl Compute {
    /// Makes sure `flavor` exists in `pod` (same id) with its extra specs
    /// and, if private, access for the caller's project. The copy is made
    /// at most once per pod (the routing lock); the access is granted on
    /// every call (the pod's 409 says it was already).
    pub async fn ensure_flavor(&self, caller: &Caller, pod: &Pod, flavor: &Flavor) -> Result<()> {
        let copy = CopyOf {
            resource_type: ROUTING_TYPE,
            top_id: &flavor.flavorid,
            pod,
            project_id: "",
        };
        self.get_or_create_copy(copy, |_| self.copy_flavor(caller, pod, flavor))
            .await?;
        if !flavor.is_public {
            let headers = json_headers();
            let mut c = call(
                pod,
                &headers,
                Method::POST,
                PodPath::of(["flavors", &flavor.flavorid, "action"]),
            );
            c.body = Some(json_bytes(
                &json!({"addTenantAccess": {"tenant": caller.project_id}}),
            ));
            let r = self.call_as_service(caller, c).await?;
            if !r.is_success() && r.status != StatusCode::CONFLICT {
                tracing::warn!(pod = %pod.pod_name, status = %r.status, flavor = %flavor.flavorid, "flavor access copy failed");
            }
        }
        Ok(())
    }

    /// Creates the copy unless the pod has it (idempotent: a take-over of
    /// a stale lock needs nothing more), then its extra specs.
    async fn copy_flavor(
        &self,
        caller: &Caller,
        pod: &Pod,
        flavor: &Flavor,
    ) -> Result<String, CreateError> {
        let id = &flavor.flavorid;
        let headers = json_headers();
        let existing = self
            .call_as_service(
                caller,
                call(pod, &headers, Method::GET, PodPath::of(["flavors", id])),
            )
            .await?;
        if existing.status == StatusCode::NOT_FOUND {
            let body = PodFlavor {
                id,
                name: &flavor.name,
                ram: flavor.ram_mb,
                vcpus: flavor.vcpus,
                disk: flavor.root_gb,
                ephemeral: flavor.ephemeral_gb,
                swap: flavor.swap_mb,
                rxtx_factor: flavor.rxtx_factor,
                is_public: flavor.is_public,
            };
            let mut c = call(pod, &headers, Method::POST, PodPath::fixed("/flavors"));
            c.body = Some(json_bytes(&json!({ "flavor": body })));
            let created = self.call_as_service(caller, c).await?;
            // 409: a copy made meanwhile by someone else (or by an earlier
            // owner of the lock) is the copy.
            if !created.is_success() && created.status != StatusCode::CONFLICT {
                tracing::error!(pod = %pod.pod_name, status = %created.status, body = %String::from_utf8_lossy(&created.body), "flavor copy failed");
                return Err(CreateError::NotMade(GatewayError::unavailable(
                    format!("Flavor {id} could not be prepared in pod {}.", pod.pod_name),
                    std::time::Duration::ZERO,
                )));
            }
        } else if !existing.is_success() {
            return Err(CreateError::NotMade(GatewayError::unavailable(
                format!("Pod {} could not be asked for flavor {id}.", pod.pod_name),
                std::time::Duration::ZERO,
            )));
        }
        if !flavor.extra_specs.is_empty() {
            let change = Change::SetSpecs(&flavor.extra_specs);
            let mut c = call(pod, &headers, change.method(), change.path(id));
            c.body = change.body();
            let a = self.call_as_service(caller, c).await?;
            if !a.is_success() {
                tracing::warn!(pod = %pod.pod_name, status = %a.status, flavor = %id, "flavor extra specs not copied");
            }
        }
        Ok(id.clone())
    }

    /// Best effort: repeats a flavor change in every pod holding a copy;
    /// what a pod did not apply is logged with the flavor and the pod.
    /// Deleting the flavor forgets its copies.
    pub(super) async fn propagate_flavor(&self, caller: &Caller, id: &str, change: Change<'_>) {
        let filter = RoutingFilter {
            top_id: Some(id.to_string()),
            resource_type: Some(ROUTING_TYPE),
            ..Default::default()
        };
        let routings = match self.store.list_routings(&filter, None, 1000).await {
            Ok(page) => page.routings,
            Err(e) => {
                tracing::warn!(error = %e, flavor = %id, "flavor change not applied in the pods: copies unknown");
                return;
            }
        };
        let headers = json_headers();
        for r in routings {
            let pod = match self.store.find_pod(&r.pod_id).await {
                Ok(Some(pod)) => pod,
                Ok(None) => continue,
                Err(e) => {
                    tracing::warn!(error = %e, pod = %r.pod_id, flavor = %id, "flavor change not applied in pod");
                    continue;
                }
            };
            let mut c = call(&pod, &headers, change.method(), change.path(id));
            c.body = change.body();
            match self.call_as_service(caller, c).await {
                Ok(a) if a.is_success() || a.status == StatusCode::NOT_FOUND => {}
                Ok(a) => {
                    tracing::warn!(pod = %pod.pod_name, status = %a.status, flavor = %id, "flavor change not applied in pod")
                }
                Err(e) => {
                    tracing::warn!(pod = %pod.pod_name, error = %e, flavor = %id, "flavor change not applied in pod")
                }
            }
            if matches!(change, Change::Delete) {
                if let Err(e) = self.store.delete_routing(r.id).await {
                    tracing::warn!(error = %e, pod = %pod.pod_name, flavor = %id, "routing of a deleted flavor's copy not removed");
                }
            }
        }
    }
}
