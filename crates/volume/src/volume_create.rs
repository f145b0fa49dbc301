//! Creating a volume: in the pod the scheduler picks for its AZ, or the pod
//! of the snapshot, volume or backup it is made from; counted against the
//! project's quota across pods before the pod is asked, with a check job
//! that settles the create should its answer be lost.

use bytes::Bytes;
use serde_json::{json, Value};
use tricircle_gateway::{scheduler, Caller, Gateway, PodAnswer};
use tricircle_pods::PodPath;
use tricircle_store::{Pod, Usage, VolumeType};

use crate::cinder::{self, fetch, forward, resource_of, size_of, Answer, Request};
use crate::create_check::VolumeCreateCheck;
use crate::error::{Result, VolumeError};
use crate::kind::{type_ids, Kind, VOLUMES};
use crate::quota::{release, reserve_volume};
use crate::type_copies::ensure_type_in_pod;
use crate::types;
use tricircle_gateway::create_check::CreateCheck;

/// `POST /volumes`, parsed.
pub struct VolumeCreate {
    /// The client's body: its `volume` object (checked to be one) goes to
    /// the pod with the AZ and type the gateway settles.
    pub body: Value,
    /// The size given (a positive integer), else the source's.
    pub size: Option<i64>,
    pub availability_zone: Option<String>,
    /// A type name or id (never empty).
    pub volume_type: Option<String>,
    /// What it is made from, as given (`snapshot_id`, `source_volid`,
    /// `backup_id`, in that order).
    pub sources: Vec<(&'static Kind, String)>,
    /// Whether the answer shows `volume_type_id` (3.63+).
    pub show_type_ids: bool,
}

/// The pod a volume made from other resources must be created in.
async fn source_pod(
    gw: &Gateway,
    caller: &Caller,
    sources: &[(&'static Kind, String)],
) -> Result<Option<(Pod, &'static Kind, String)>> {
    let mut found: Option<(Pod, &'static Kind, String)> = None;
    for (kind, id) in sources {
        let (_, pod) = kind.routed(gw, caller, id).await?;
        if let Some((other, other_kind, _)) = &found {
            if other.pod_id != pod.pod_id {
                return Err(VolumeError::Invalid(format!(
                    "Invalid input received: the {} and the {} are in different availability zones.",
                    other_kind.singular, kind.singular
                )));
            }
        }
        found.get_or_insert((pod, kind, id.clone()));
    }
    Ok(found)
}

/// Where the volume goes: the pod of its source, else the scheduler's pick
/// for the AZ.
async fn choose_pod(
    gw: &Gateway,
    caller: &Caller,
    req: &VolumeCreate,
    source: &Option<(Pod, &'static Kind, String)>,
) -> Result<Pod> {
    let az = req.availability_zone.as_deref();
    match source {
        Some((pod, kind, _)) => {
            if az.is_some_and(|az| az != pod.az_name) {
                return Err(VolumeError::Invalid(format!(
                    "Invalid input received: Volume must be in the same availability zone as the {}",
                    if kind.singular == "volume" { "source volume" } else { kind.singular }
                )));
            }
            Ok(pod.clone())
        }
        None => Ok(scheduler::pick_pod(&gw.store, gw.pods.health(), &caller.project_id, az).await?),
    }
}

pub async fn create(gw: &Gateway, caller: &Caller, mut req: VolumeCreate) -> Result<Answer> {
    let source = source_pod(gw, caller, &req.sources).await?;
    let pod = choose_pod(gw, caller, &req, &source).await?;
    let vtype = match &req.volume_type {
        None => None,
        Some(t) => Some(
            types::find_visible(gw, caller, t)
                .await?
                .ok_or_else(|| types::not_found_by_ref(t))?,
        ),
    };
    if let Some(vol) = req.body.get_mut("volume").and_then(Value::as_object_mut) {
        match (
            pod.pod_az_name.is_empty(),
            req.availability_zone.is_some() || source.is_none(),
        ) {
            (true, _) => {
                vol.remove("availability_zone");
            }
            (false, true) => {
                vol.insert("availability_zone".into(), json!(pod.pod_az_name));
            }
            // Made from a source without an AZ: the pod takes the source's.
            (false, false) => {}
        }
        if let Some(t) = &vtype {
            vol.insert("volume_type".into(), json!(t.name));
        }
    }
    // How much: the size given, or the source's.
    let size = match (req.size, &source) {
        (Some(s), _) => s,
        (None, Some((pod, kind, id))) => {
            let item = fetch(gw, caller, kind, pod, id).await?;
            size_of(item.get("size")).unwrap_or(0)
        }
        // The pod decides (an image's size) or refuses; counted after.
        (None, None) => 0,
    };
    let reservation = reserve_volume(gw, caller, &pod, size).await?;
    // Before the pod is asked: the job that deletes what it made should the
    // outcome never be recorded here (as for servers).
    let payload = VolumeCreateCheck {
        create: CreateCheck {
            request_id: caller.request_id.clone(),
            pod_name: pod.pod_name.clone(),
            pod_id: Some(pod.pod_id.clone()),
            name: req.body["volume"]["name"].as_str().map(str::to_string),
            user_id: Some(caller.user_id.clone()),
        },
    };
    let check = match gw
        .expect_create(&payload, &caller.project_id, &[reservation])
        .await
    {
        Ok(job) => job,
        Err(e) => {
            release(gw, reservation).await;
            return Err(e.into());
        }
    };
    let answer = match create_in_pod(gw, caller, &pod, vtype.as_ref(), &req.body).await {
        Ok(a) if a.is_success() => a,
        Ok(a) => {
            gw.store
                .abandon_create(&[reservation], Some(&check))
                .await?;
            return Ok(Answer::in_top_terms(a, &VOLUMES, &pod, Default::default()));
        }
        Err(e) if e.is_unavailable() => {
            // The pod may have created it without answering: the check job
            // settles it (the user was told 503).
            release(gw, reservation).await;
            return Err(e);
        }
        Err(e) => {
            gw.store
                .abandon_create(&[reservation], Some(&check))
                .await?;
            return Err(e);
        }
    };
    // An answer we cannot use: the check job finds the volume by its name.
    let Some(created) = resource_of(&answer, "volume") else {
        release(gw, reservation).await;
        tracing::error!(pod = %pod.pod_name, "volume create answered without a volume");
        return Err(VolumeError::BadPodAnswer(format!(
            "Pod {} answered without the volume.",
            pod.pod_name
        )));
    };
    let Some(id) = created["id"].as_str() else {
        release(gw, reservation).await;
        return Err(VolumeError::BadPodAnswer(format!(
            "Pod {} answered without a volume id.",
            pod.pod_name
        )));
    };
    let created_size = size_of(created.get("size"));
    adopt(
        gw,
        caller,
        &pod,
        id,
        reservation,
        created_size,
        size,
        Some(&check),
    )
    .await?;
    let ids = type_ids(gw, req.show_type_ids).await?;
    Ok(Answer::in_top_terms(answer, &VOLUMES, &pod, ids))
}

async fn create_in_pod(
    gw: &Gateway,
    caller: &Caller,
    pod: &Pod,
    vtype: Option<&VolumeType>,
    body: &Value,
) -> Result<PodAnswer> {
    if let Some(t) = vtype {
        ensure_type_in_pod(gw, caller, pod, t).await?;
    }
    let body = Bytes::from(body.to_string());
    forward(
        gw,
        caller,
        pod,
        Request::post(PodPath::fixed("/volumes"), body),
    )
    .await
}

/// Records a volume a pod created: routing, quota (the pod's size when it
/// told one, else the reserved size) and the cancellation of its create
/// check, together. If that cannot be written the volume is deleted again
/// (nobody could reach it); a volume that cannot be deleted either is
/// left to its check job, or logged by name when there is none.
#[allow(clippy::too_many_arguments)]
pub async fn adopt(
    gw: &Gateway,
    caller: &Caller,
    pod: &Pod,
    id: &str,
    reservation: i64,
    size: Option<i64>,
    reserved: i64,
    check: Option<&str>,
) -> Result<()> {
    let usage = Usage {
        volumes: 1,
        gigabytes: size.unwrap_or(reserved),
        ..Default::default()
    };
    if let Err(e) = VOLUMES
        .record(gw, caller, pod, id, Some((reservation, usage)), check)
        .await
    {
        tracing::error!(error = %e, volume = %id, "routing write failed; deleting the volume in its pod");
        undo_create(gw, caller, pod, &VOLUMES, id, check.is_some()).await;
        release(gw, reservation).await;
        return Err(e);
    }
    Ok(())
}

/// Deletes what a pod made but the top could not record. A failure is
/// logged with the resource named (its create check, if any, deletes it
/// later).
pub(crate) async fn undo_create(
    gw: &Gateway,
    caller: &Caller,
    pod: &Pod,
    kind: &Kind,
    id: &str,
    checked: bool,
) {
    let path = PodPath::of([kind.collection, id]);
    let outcome = cinder::forward(gw, caller, pod, Request::delete(path)).await;
    let failure = match outcome {
        Ok(a) if a.is_success() || a.status == http::StatusCode::NOT_FOUND => return,
        Ok(a) => cinder::pod_message(&a),
        Err(e) => e.to_string(),
    };
    tracing::error!(
        pod = %pod.pod_name, kind = kind.singular, %id, error = %failure, checked,
        "a resource nobody can reach stays in its pod (its create check deletes it if there is one)"
    );
}
