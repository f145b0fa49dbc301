//! Copies of volume types in pods: made the first time a volume there needs
//! the type (Tricircle's service user creates it with the same name, extra
//! specs, encryption and, for a private type, access for the project), and
//! changed with the top's type.
//!
//! A copy is made at most once per pod: under the routing row's creation
//! lock (`tricircle_store::RoutingLock`), the lock's owner finds the copy
//! by name (an earlier attempt, a pod's own type of that name) or creates
//! it, then records its id (the store's get-or-create every domain's copies
//! go through). [`ensure_type_in_pod`] is the one entry point.

use std::time::Duration;

use http::{Method, StatusCode};
use serde_json::{json, Value};
use tricircle_gateway::{Caller, Gateway, PodAnswer};
use tricircle_pods::PodPath;
use tricircle_store::copies::{self, CopyError, CopyOf, CreateError};
use tricircle_store::{Pod, Routing, RoutingFilter, VolumeType};

use crate::cinder::{as_service, pod_message};
use crate::encryption;
use crate::error::{Result, VolumeError};
use tricircle_core::ResourceType;

/// Routing resource type of a type's copy in a pod (`top_id` the top type
/// id, `bottom_id` the pod's).
const ROUTING_TYPE: ResourceType = ResourceType::VolumeType;

fn not_prepared(pod: &Pod, name: &str, answer: &PodAnswer) -> VolumeError {
    tracing::error!(pod = %pod.pod_name, status = %answer.status, body = %String::from_utf8_lossy(&answer.body), "volume type copy failed");
    VolumeError::TypeNotPrepared {
        type_name: name.to_string(),
        pod: pod.pod_name.clone(),
    }
}

/// Makes sure `t` exists in `pod` under its name, with its extra specs and
/// encryption and, if private, access for the caller's project.
pub async fn ensure_type_in_pod(
    gw: &Gateway,
    caller: &Caller,
    pod: &Pod,
    t: &VolumeType,
) -> Result<()> {
    let bottom_id = copy_id(gw, caller, pod, t).await?;
    if !t.is_public {
        let body = json!({"addProjectAccess": {"project": caller.project_id}});
        let path = PodPath::of(["types", &bottom_id, "action"]);
        let r = as_service(gw, caller, pod, Method::POST, path, None, Some(body)).await?;
        if !r.is_success() && r.status != StatusCode::CONFLICT {
            return Err(not_prepared(pod, &t.name, &r));
        }
    }
    Ok(())
}

/// How long a creation lock may go untouched before its owner is taken
/// for dead: a copy takes up to three pod calls (look up, create, encrypt).
fn lock_timeout(gw: &Gateway) -> Duration {
    gw.pods.timeout() * 4
}

/// The pod's id of its copy of `t`, through the store's one get-or-create
/// under the routing lock ([`copies::get_or_create`]). The owner always
/// looks for the copy by name before creating it, so a failed attempt never
/// keeps the lock: whatever the pod may have made is found by the next one.
async fn copy_id(gw: &Gateway, caller: &Caller, pod: &Pod, t: &VolumeType) -> Result<String> {
    let copy = CopyOf {
        resource_type: ROUTING_TYPE,
        top_id: &t.id,
        pod,
        project_id: "",
    };
    copies::get_or_create(&gw.store, copy, lock_timeout(gw), |_| async {
        find_or_create(gw, caller, pod, t)
            .await
            .map_err(CreateError::NotMade)
    })
    .await
    .map_err(|e| match e {
        // Types are not tombstoned; should one be, it is being deleted.
        CopyError::Tombstoned => super::types::not_found(&t.id),
        CopyError::StillBeingMade => VolumeError::TypeNotPrepared {
            type_name: t.name.clone(),
            pod: pod.pod_name.clone(),
        },
        CopyError::Store(e) => e.into(),
        CopyError::Create(e) => e,
    })
}

/// The lock owner's work: the copy found by name, or created with its
/// encryption.
async fn find_or_create(
    gw: &Gateway,
    caller: &Caller,
    pod: &Pod,
    t: &VolumeType,
) -> Result<String> {
    if let Some(id) = pod_type_id(gw, caller, pod, &t.name).await? {
        return Ok(id);
    }
    let body = json!({"volume_type": {
        "name": t.name,
        "description": t.description,
        "os-volume-type-access:is_public": t.is_public,
        "extra_specs": t.extra_specs,
    }});
    let created = as_service(
        gw,
        caller,
        pod,
        Method::POST,
        PodPath::fixed("/types"),
        None,
        Some(body),
    )
    .await?;
    if created.status == StatusCode::CONFLICT {
        // Made meanwhile outside the lock (by hand, or an older gateway).
        return pod_type_id(gw, caller, pod, &t.name)
            .await?
            .ok_or_else(|| not_prepared(pod, &t.name, &created));
    }
    if !created.is_success() {
        return Err(not_prepared(pod, &t.name, &created));
    }
    let id = created
        .json()
        .and_then(|v| v["volume_type"]["id"].as_str().map(str::to_string))
        .ok_or_else(|| not_prepared(pod, &t.name, &created))?;
    if let Some(spec) = &t.encryption {
        let path = PodPath::of(["types", &id, "encryption"]);
        let made = as_service(
            gw,
            caller,
            pod,
            Method::POST,
            path,
            None,
            Some(encryption::copy_body(spec)),
        )
        .await?;
        if !made.is_success() {
            // No copy without its encryption: the next use makes both again.
            remove_unencrypted(gw, caller, pod, t, &id).await;
            return Err(not_prepared(pod, &t.name, &made));
        }
    }
    Ok(id)
}

/// Deletes a copy whose encryption could not be added; one that stays is
/// logged by name (the next use would find it by name and use it
/// unencrypted, so an operator must remove it).
async fn remove_unencrypted(gw: &Gateway, caller: &Caller, pod: &Pod, t: &VolumeType, id: &str) {
    let path = PodPath::of(["types", id]);
    let failure = match as_service(gw, caller, pod, Method::DELETE, path, None, None).await {
        Ok(a) if a.is_success() || a.status == StatusCode::NOT_FOUND => return,
        Ok(a) => pod_message(&a),
        Err(e) => e.to_string(),
    };
    tracing::error!(pod = %pod.pod_name, type_name = %t.name, bottom_id = %id, error = %failure,
        "an unencrypted copy of an encrypted volume type stays in the pod");
}

/// The pod's id of its type named `name`, if it has one.
async fn pod_type_id(
    gw: &Gateway,
    caller: &Caller,
    pod: &Pod,
    name: &str,
) -> Result<Option<String>> {
    let listed = as_service(
        gw,
        caller,
        pod,
        Method::GET,
        PodPath::fixed("/types"),
        Some("is_public=None"),
        None,
    )
    .await?;
    if !listed.is_success() {
        return Err(not_prepared(pod, name, &listed));
    }
    Ok(listed.json().and_then(|v| {
        v["volume_types"].as_array().and_then(|types| {
            types
                .iter()
                .find(|t| t["name"].as_str() == Some(name))
                .and_then(|t| t["id"].as_str().map(str::to_string))
        })
    }))
}

/// The routings of a type's copies (in one pod, or all).
async fn copies(gw: &Gateway, type_id: &str, pod_id: Option<&str>) -> Result<Vec<Routing>> {
    let filter = RoutingFilter {
        top_id: Some(type_id.to_string()),
        pod_id: pod_id.map(str::to_string),
        resource_type: Some(ROUTING_TYPE),
        ..Default::default()
    };
    Ok(gw
        .store
        .list_routings(&filter, None, 10_000)
        .await?
        .routings)
}

/// Repeats a change in every pod holding a copy of the type (best effort:
/// the top is the reference, a failed pod is logged). `rest` is appended
/// to `/types/{the pod's type id}`. Returns the copies' answers.
pub async fn propagate(
    gw: &Gateway,
    caller: &Caller,
    type_id: &str,
    method: Method,
    rest: &PodPath,
    body: Option<Value>,
) -> Vec<(Routing, Result<PodAnswer>)> {
    let routings = match copies(gw, type_id, None).await {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(error = %e, %type_id, "volume type copies unknown; change not propagated");
            return Vec::new();
        }
    };
    let mut out = Vec::new();
    for r in routings {
        // A copy still being made (its lock) has no id yet.
        let Some(bottom) = r.bottom_id.clone().filter(|b| !b.is_empty()) else {
            continue;
        };
        let pod = match gw.store.find_pod(&r.pod_id).await {
            Ok(Some(pod)) => pod,
            Ok(None) => continue,
            Err(e) => {
                tracing::warn!(error = %e, %type_id, pod_id = %r.pod_id, "volume type change not applied in pod");
                continue;
            }
        };
        let path = PodPath::of(["types", &bottom]).join(rest);
        let answer = as_service(gw, caller, &pod, method.clone(), path, None, body.clone()).await;
        match &answer {
            Ok(a) if a.is_success() || a.status == StatusCode::NOT_FOUND => {}
            Ok(a) => {
                tracing::warn!(pod = %pod.pod_name, status = %a.status, %type_id, "volume type change not applied in pod")
            }
            Err(e) => {
                tracing::warn!(pod = %pod.pod_name, error = %e, %type_id, "volume type change not applied in pod")
            }
        }
        out.push((r, answer));
    }
    out
}
