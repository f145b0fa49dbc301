//! Volume transfers (`/os-volume-transfer`, and `/volume-transfers` from
//! microversion 3.55): made in their volume's pod and reached through their
//! routing; listed from the pods where the project has some. Another
//! project accepts one with the transfer's id and auth key: the pod gets
//! that user's token, and once the pod has given the volume (and the
//! snapshots it took along) to the new project, their routings and quota
//! move to it at the top in one transaction.

use std::cmp::Ordering;

use bytes::Bytes;
use http::{Method, StatusCode};
use serde_json::Value;
use tricircle_gateway::{Caller, Gateway};
use tricircle_pods::PodPath;
use tricircle_store::{NewRouting, Pod, Routing, RoutingFilter};

use crate::cinder::{as_service, created_id, forward, refusal, resource_of, Answer, Request};
use crate::error::{Result, VolumeError};
use crate::kind::{pods_holding, VOLUMES};
use crate::quota::{release, reserve_volume};
use tricircle_core::ResourceType;

/// Routing resource type of a transfer.
const ROUTING: ResourceType = ResourceType::Transfer;

/// Which of Cinder's two transfer collections a request used (the pod is
/// asked through the same one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Collection {
    /// `os-volume-transfer`.
    Os,
    /// `volume-transfers` (3.55+).
    V355,
}

impl Collection {
    fn path(self) -> &'static str {
        match self {
            Collection::Os => "os-volume-transfer",
            Collection::V355 => "volume-transfers",
        }
    }
}

fn not_found(id: &str) -> VolumeError {
    VolumeError::NotFound(format!("Transfer {id} could not be found."))
}

/// Creates a transfer of `volume_id` in its pod (`body`: the client's).
pub async fn create(
    gw: &Gateway,
    caller: &Caller,
    coll: Collection,
    volume_id: &str,
    body: Bytes,
) -> Result<Answer> {
    let (_, pod) = VOLUMES.routed(gw, caller, volume_id).await?;
    let answer = forward(
        gw,
        caller,
        &pod,
        Request::post(PodPath::of([coll.path()]), body),
    )
    .await?;
    if !answer.is_success() {
        return Ok(Answer::plain(answer));
    }
    let id = created_id(&answer, "transfer", "id", &pod, "a transfer id")?;
    let routing = NewRouting {
        top_id: id.clone(),
        bottom_id: Some(id.clone()),
        pod_id: pod.pod_id.clone(),
        project_id: caller.project_id.clone(),
        resource_type: ROUTING,
    };
    if let Err(e) = gw.store.create_routing(&routing).await {
        // Nobody could reach it: it goes (and the volume is free again).
        tracing::error!(error = %e, transfer = %id, "routing write failed; deleting the transfer in its pod");
        let path = PodPath::of([coll.path(), &id]);
        let failure = match forward(gw, caller, &pod, Request::delete(path)).await {
            Ok(a) if a.is_success() || a.status == StatusCode::NOT_FOUND => None,
            Ok(a) => Some(refusal(&a).to_string()),
            Err(e) => Some(e.to_string()),
        };
        if let Some(failure) = failure {
            tracing::error!(pod = %pod.pod_name, transfer = %id, volume = %volume_id, error = %failure,
                "a transfer nobody can reach stays in its pod; its volume stays awaiting transfer");
        }
        return Err(e.into());
    }
    Ok(Answer::plain(answer))
}

/// Newest first, as Cinder lists them (`created_at`, then `id`, both
/// descending); brief views have no `created_at`.
fn newest_first(a: &Value, b: &Value) -> Ordering {
    let key = |v: &Value| {
        (
            v["created_at"].as_str().unwrap_or("").to_string(),
            v["id"].as_str().unwrap_or("").to_string(),
        )
    };
    key(b).cmp(&key(a))
}

/// The transfers of the pods where the caller's project has some (of every
/// pod for `everyone`), newest first, links rewritten.
pub async fn list(
    gw: &Gateway,
    caller: &Caller,
    coll: Collection,
    detail: bool,
    everyone: bool,
    query: Option<String>,
) -> Result<Vec<Value>> {
    let pods = pods_holding(gw, &caller.project_id, ROUTING, everyone, None).await?;
    let path = if detail {
        PodPath::of([coll.path(), "detail"])
    } else {
        PodPath::of([coll.path()])
    };
    let answers = futures::future::join_all(pods.iter().map(|p| {
        forward(
            gw,
            caller,
            p,
            Request::get(path.clone()).query(query.clone()),
        )
    }))
    .await;
    let mut items: Vec<Value> = Vec::new();
    for answer in answers {
        let answer = answer?;
        if !answer.is_success() {
            return Err(refusal(&answer));
        }
        if let Some(mut v) = answer.json() {
            answer.links.rewrite_json(&mut v);
            if let Some(Value::Array(found)) = v.get_mut("transfers").map(Value::take) {
                items.extend(found);
            }
        }
    }
    items.sort_by(newest_first);
    Ok(items)
}

/// The caller's transfer and its pod.
async fn routed(gw: &Gateway, caller: &Caller, id: &str) -> Result<(Routing, Pod)> {
    if uuid::Uuid::try_parse(id).is_err() {
        return Err(not_found(id));
    }
    gw.routed_pod(caller, ROUTING, id)
        .await?
        .ok_or_else(|| not_found(id))
}

pub async fn show(gw: &Gateway, caller: &Caller, coll: Collection, id: &str) -> Result<Answer> {
    let (routing, pod) = routed(gw, caller, id).await?;
    let answer = forward(
        gw,
        caller,
        &pod,
        Request::get(PodPath::of([coll.path(), id])),
    )
    .await?;
    if answer.status == StatusCode::NOT_FOUND {
        gw.store.delete_routing(routing.id).await?;
    }
    Ok(Answer::plain(answer))
}

pub async fn delete(gw: &Gateway, caller: &Caller, coll: Collection, id: &str) -> Result<Answer> {
    let (routing, pod) = routed(gw, caller, id).await?;
    let answer = forward(
        gw,
        caller,
        &pod,
        Request::delete(PodPath::of([coll.path(), id])),
    )
    .await?;
    if answer.is_success() || answer.status == StatusCode::NOT_FOUND {
        gw.store.delete_routing(routing.id).await?;
    }
    Ok(Answer::plain(answer))
}

/// A transfer whoever has its id may accept: its routing, any project's.
async fn any_project(gw: &Gateway, id: &str) -> Result<(Routing, Pod)> {
    if uuid::Uuid::try_parse(id).is_err() {
        return Err(not_found(id));
    }
    let filter = RoutingFilter {
        top_id: Some(id.to_string()),
        resource_type: Some(ROUTING),
        ..Default::default()
    };
    let routing = gw
        .store
        .list_routings(&filter, None, 1)
        .await?
        .routings
        .into_iter()
        .next()
        .ok_or_else(|| not_found(id))?;
    let pod = gw
        .store
        .find_pod(&routing.pod_id)
        .await?
        .ok_or_else(|| not_found(id))?;
    Ok((routing, pod))
}

/// Accepting: any project that has the id and the auth key (in `body`,
/// the client's) may.
pub async fn accept(
    gw: &Gateway,
    caller: &Caller,
    coll: Collection,
    id: &str,
    body: Bytes,
) -> Result<Answer> {
    let (routing, pod) = any_project(gw, id).await?;
    // What it moves: the volume, its size for the new owner's quota.
    let shown = as_service(
        gw,
        caller,
        &pod,
        Method::GET,
        PodPath::of([Collection::Os.path(), id]),
        None,
        None,
    )
    .await?;
    if shown.status == StatusCode::NOT_FOUND {
        gw.store.delete_routing(routing.id).await?;
        return Err(not_found(id));
    }
    let volume_id = resource_of(&shown, "transfer")
        .and_then(|t| t["volume_id"].as_str().map(str::to_string))
        .ok_or_else(|| refusal(&shown))?;
    let volume = as_service(
        gw,
        caller,
        &pod,
        Method::GET,
        PodPath::of(["volumes", &volume_id]),
        None,
        None,
    )
    .await?;
    let size = resource_of(&volume, "volume")
        .and_then(|v| v["size"].as_i64())
        .ok_or_else(|| refusal(&volume))?;
    let reservation = reserve_volume(gw, caller, &pod, size).await?;
    let path = PodPath::of([coll.path(), id, "accept"]);
    let answer = match forward(gw, caller, &pod, Request::post(path, body)).await {
        Ok(a) if a.is_success() => a,
        Ok(a) => {
            release(gw, reservation).await;
            return Ok(Answer::plain(a));
        }
        Err(e) => {
            // No answer: the caller may try again (the pod answers 404 if it
            // did accept). Known gap: a transfer the pod accepted without
            // the answer reaching us leaves the volume's routing with the
            // old project.
            release(gw, reservation).await;
            return Err(e);
        }
    };
    let mut moved = vec![(ResourceType::Volume, volume_id.clone())];
    moved.extend(
        moved_snapshots(gw, caller, &pod, &volume_id)
            .await
            .into_iter()
            .map(|s| (ResourceType::Snapshot, s)),
    );
    let pairs: Vec<(ResourceType, &str)> = moved.iter().map(|(t, i)| (*t, i.as_str())).collect();
    gw.store
        .move_resources(&pairs, &caller.project_id, &[reservation])
        .await?;
    gw.store.delete_routing(routing.id).await?;
    Ok(Answer::plain(answer))
}

/// The snapshots of a volume that now belong to the caller's project (a
/// transfer takes them along unless it was made with `no_snapshots`).
async fn moved_snapshots(gw: &Gateway, caller: &Caller, pod: &Pod, volume_id: &str) -> Vec<String> {
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("all_tenants", "1")
        .append_pair("volume_id", volume_id)
        .finish();
    let path = PodPath::of(["snapshots", "detail"]);
    let listed = match as_service(gw, caller, pod, Method::GET, path, Some(&query), None).await {
        Ok(a) if a.is_success() => a,
        _ => {
            tracing::warn!(%volume_id, "the snapshots a transfer moved are unknown; their routings stay with the old project");
            return Vec::new();
        }
    };
    listed
        .json()
        .and_then(|v| v["snapshots"].as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter(|s| {
            s["os-extended-snapshot-attributes:project_id"].as_str()
                == Some(caller.project_id.as_str())
        })
        .filter_map(|s| s["id"].as_str().map(str::to_string))
        .collect()
}
