//! Operations on one volume, snapshot or backup through its routing: show
//! (with the pods asked about one still being deleted), update, delete,
//! actions, and the sub-resources forwarded as they are.

use bytes::Bytes;
use http::{Method, StatusCode};
use tricircle_gateway::{Caller, Gateway, PodAnswer};
use tricircle_pods::PodPath;
use tricircle_store::Pod;

use crate::cinder::{forward, Answer, Request};
use crate::error::{Result, VolumeError};
use crate::kind::{type_ids, Kind};

/// Show: a pod that no longer has the resource makes its routing (and
/// quota) stale.
pub async fn show(
    gw: &Gateway,
    caller: &Caller,
    kind: &'static Kind,
    id: &str,
    query: Option<String>,
    show_type_ids: bool,
) -> Result<Answer> {
    let (routing, pod) = match kind.routed(gw, caller, id).await {
        Ok(found) => found,
        // The routing goes when the pod accepts the delete; while the pod
        // still has it, it is shown `deleting` as Cinder shows it, and 404
        // only once the pod no longer has it.
        Err(e @ VolumeError::NotFound(_)) => {
            return match being_deleted(gw, caller, kind, id, query).await {
                Some((answer, pod)) => {
                    let ids = type_ids(gw, show_type_ids).await?;
                    Ok(Answer::in_top_terms(answer, kind, &pod, ids))
                }
                None => Err(e),
            };
        }
        Err(e) => return Err(e),
    };
    let path = PodPath::of([kind.collection, id]);
    let answer = forward(gw, caller, &pod, Request::get(path).query(query)).await?;
    if answer.status == StatusCode::NOT_FOUND {
        kind.forget(gw, &routing).await?;
    }
    let ids = type_ids(gw, show_type_ids).await?;
    Ok(Answer::in_top_terms(answer, kind, &pod, ids))
}

/// A volume, snapshot or backup no routing knows any more that a pod
/// still shows `deleting` (its delete was accepted, the pod is at it):
/// the pod's answer. Anything else a pod may hold is not Tricircle's.
async fn being_deleted(
    gw: &Gateway,
    caller: &Caller,
    kind: &Kind,
    id: &str,
    query: Option<String>,
) -> Option<(PodAnswer, Pod)> {
    let ask = |pod: Pod| {
        let query = query.clone();
        async move {
            let path = PodPath::of([kind.collection, id]);
            forward(gw, caller, &pod, Request::get(path).query(query)).await
        }
    };
    gw.first_pod_answer("a deleted resource", ask, |a| {
        a.is_success()
            && a.json()
                .is_some_and(|v| v[kind.singular]["status"] == "deleting")
    })
    .await
}

/// Update: the client's body (checked to be JSON) goes to the pod.
pub async fn update(
    gw: &Gateway,
    caller: &Caller,
    kind: &'static Kind,
    id: &str,
    body: Bytes,
    show_type_ids: bool,
) -> Result<Answer> {
    let (_, pod) = kind.routed(gw, caller, id).await?;
    let request = Request {
        method: Method::PUT,
        body: Some(body),
        ..Request::get(PodPath::of([kind.collection, id]))
    };
    let answer = forward(gw, caller, &pod, request).await?;
    let ids = type_ids(gw, show_type_ids).await?;
    Ok(Answer::in_top_terms(answer, kind, &pod, ids))
}

/// Delete of a snapshot or backup: its routing and quota go once the pod
/// accepted (or no longer has it).
pub async fn delete(
    gw: &Gateway,
    caller: &Caller,
    kind: &'static Kind,
    id: &str,
    query: Option<String>,
) -> Result<Answer> {
    let (routing, pod) = kind.routed(gw, caller, id).await?;
    let path = PodPath::of([kind.collection, id]);
    let answer = forward(gw, caller, &pod, Request::delete(path).query(query)).await?;
    if answer.is_success() || answer.status == StatusCode::NOT_FOUND {
        kind.forget(gw, &routing).await?;
    }
    Ok(Answer::plain(answer))
}

/// An action of a snapshot or backup (`os-reset_status`,
/// `os-force_delete`, ...): forwarded; a force delete the pod accepted
/// makes the routing go.
pub async fn action(
    gw: &Gateway,
    caller: &Caller,
    kind: &'static Kind,
    id: &str,
    force_delete: bool,
    body: Bytes,
) -> Result<Answer> {
    let (routing, pod) = kind.routed(gw, caller, id).await?;
    let path = PodPath::of([kind.collection, id, "action"]);
    let answer = forward(gw, caller, &pod, Request::post(path, body)).await?;
    if force_delete && answer.is_success() {
        kind.forget(gw, &routing).await?;
    }
    Ok(Answer::in_top_terms(answer, kind, &pod, Default::default()))
}

/// A sub-resource of `kind`'s `id` (`sub`, checked against what Cinder
/// documents) forwarded to its pod.
pub async fn passthrough(
    gw: &Gateway,
    caller: &Caller,
    kind: &'static Kind,
    id: &str,
    request: Request,
) -> Result<Answer> {
    let (_, pod) = kind.routed(gw, caller, id).await?;
    let request = Request {
        path: PodPath::of([kind.collection, id]).join(&request.path),
        ..request
    };
    let answer = forward(gw, caller, &pod, request).await?;
    Ok(Answer::in_top_terms(answer, kind, &pod, Default::default()))
}
