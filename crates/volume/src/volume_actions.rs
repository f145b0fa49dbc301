//! A volume's delete (taking its snapshots' routings along on a cascade)
//! and its actions, forwarded with what the top must know first (quota for
//! `os-extend`, the type for `os-retype`) or after (`os-force_delete`).

use bytes::Bytes;
use http::StatusCode;
use serde_json::{json, Value};
use tricircle_gateway::{Caller, Gateway};
use tricircle_pods::PodPath;
use tricircle_store::{Pod, Usage};

use crate::cinder::{fetch, forward, refusal, size_of, Answer, Request};
use crate::error::Result;
use crate::kind::{type_ids, SNAPSHOTS, VOLUMES};
use crate::quota::{check_size_limit, reserve};
use crate::type_copies::ensure_type_in_pod;
use crate::types;

/// `DELETE /volumes/{id}` (`cascade`: its snapshots go with it).
pub async fn delete(
    gw: &Gateway,
    caller: &Caller,
    id: &str,
    cascade: bool,
    query: Option<String>,
) -> Result<Answer> {
    let (routing, pod) = VOLUMES.routed(gw, caller, id).await?;
    let snapshots = if cascade {
        snapshots_of(gw, caller, &pod, id).await?
    } else {
        Vec::new()
    };
    let path = PodPath::of(["volumes", id]);
    let answer = forward(gw, caller, &pod, Request::delete(path).query(query)).await?;
    if answer.is_success() || answer.status == StatusCode::NOT_FOUND {
        VOLUMES.forget(gw, &routing).await?;
        if answer.is_success() {
            for snap in snapshots {
                if let Some((r, _)) = gw
                    .routed_pod(caller, SNAPSHOTS.resource_type, &snap)
                    .await?
                {
                    SNAPSHOTS.forget(gw, &r).await?;
                }
            }
        }
    }
    Ok(Answer::plain(answer))
}

/// Ids of the snapshots of a volume in its pod.
async fn snapshots_of(
    gw: &Gateway,
    caller: &Caller,
    pod: &Pod,
    volume_id: &str,
) -> Result<Vec<String>> {
    let qs = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("volume_id", volume_id)
        .finish();
    let answer = forward(
        gw,
        caller,
        pod,
        Request::get(PodPath::fixed("/snapshots")).query(Some(qs)),
    )
    .await?;
    if !answer.is_success() {
        return Err(refusal(&answer));
    }
    Ok(answer
        .json()
        .and_then(|v| {
            v["snapshots"].as_array().map(|a| {
                a.iter()
                    .filter(|s| s["volume_id"].as_str() == Some(volume_id))
                    .filter_map(|s| s["id"].as_str().map(str::to_string))
                    .collect()
            })
        })
        .unwrap_or_default())
}

/// `POST /volumes/{id}/action`, parsed.
pub enum VolumeAction {
    /// `os-extend` (`new_size` a positive integer if given); `body` as sent.
    Extend { new_size: Option<i64>, body: Value },
    /// `os-retype` to `new_type` (a type name or id); `body` as sent.
    Retype { new_type: String, body: Value },
    /// Any other action, by name, forwarded as it is.
    Other { name: String, body: Bytes },
}

pub async fn action(
    gw: &Gateway,
    caller: &Caller,
    id: &str,
    action: VolumeAction,
    show_type_ids: bool,
) -> Result<Answer> {
    let (routing, pod) = VOLUMES.routed(gw, caller, id).await?;
    let ids = type_ids(gw, show_type_ids).await?;
    let path = PodPath::of(["volumes", id, "action"]);
    match action {
        VolumeAction::Extend { new_size, body } => {
            let answer = extend(gw, caller, &pod, id, new_size, body).await?;
            Ok(Answer::in_top_terms(answer, &VOLUMES, &pod, ids))
        }
        VolumeAction::Retype { new_type, mut body } => {
            let t = types::find_visible(gw, caller, &new_type)
                .await?
                .ok_or_else(|| types::not_found_by_ref(&new_type))?;
            ensure_type_in_pod(gw, caller, &pod, &t).await?;
            body["os-retype"]["new_type"] = json!(t.name);
            let answer = forward(gw, caller, &pod, Request::post(path, body.to_string())).await?;
            Ok(Answer::in_top_terms(answer, &VOLUMES, &pod, ids))
        }
        VolumeAction::Other { name, body } => {
            let answer = forward(gw, caller, &pod, Request::post(path, body)).await?;
            if name == "os-force_delete" && answer.is_success() {
                VOLUMES.forget(gw, &routing).await?;
            }
            Ok(Answer::in_top_terms(answer, &VOLUMES, &pod, ids))
        }
    }
}

/// `os-extend`: the growth is reserved across pods before the pod is
/// asked, and the volume's allocation takes the new size once it accepted.
async fn extend(
    gw: &Gateway,
    caller: &Caller,
    pod: &Pod,
    id: &str,
    new_size: Option<i64>,
    body: Value,
) -> Result<tricircle_gateway::PodAnswer> {
    let current = size_of(fetch(gw, caller, &VOLUMES, pod, id).await?.get("size"));
    let mut growth = None;
    if let (Some(new), Some(cur)) = (new_size, current) {
        if new > cur {
            check_size_limit(gw, caller, new).await?;
            let delta = Usage {
                gigabytes: new.saturating_sub(cur),
                ..Default::default()
            };
            growth = Some(reserve(gw, caller, pod, "volume_extend", delta, &VOLUMES).await?);
        }
    }
    let path = PodPath::of(["volumes", id, "action"]);
    let answer = forward(gw, caller, pod, Request::post(path, body.to_string())).await;
    if let (Ok(a), Some(new)) = (&answer, new_size) {
        if a.is_success() {
            let usage = Usage {
                volumes: 1,
                gigabytes: new,
                ..Default::default()
            };
            gw.store
                .update_allocation(VOLUMES.singular, id, usage)
                .await?;
        }
    }
    if let Some(r) = growth {
        gw.store.release_reservations(&[r]).await?;
    }
    answer
}
