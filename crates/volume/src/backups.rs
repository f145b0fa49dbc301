//! Creating and restoring backups: in their volume's pod. Their own quotas
//! are the pods'; a restore into a new volume counts that volume against
//! the project's quota across pods.

use bytes::Bytes;
use serde_json::{json, Value};
use tricircle_gateway::{Caller, Gateway};
use tricircle_pods::PodPath;

use crate::cinder::{created_id, fetch, forward, size_of, Answer, Request};
use crate::error::{Result, VolumeError};
use crate::kind::{BACKUPS, VOLUMES};
use crate::quota::{release, reserve_volume};
use crate::volume_create::{adopt, undo_create};

/// `POST /backups`, parsed.
pub struct BackupCreate {
    /// The client's body; its `backup` object goes to the pod with the
    /// pod's own AZ name.
    pub body: Value,
    pub volume_id: String,
    pub availability_zone: Option<String>,
}

pub async fn create(gw: &Gateway, caller: &Caller, mut req: BackupCreate) -> Result<Answer> {
    let (_, pod) = VOLUMES.routed(gw, caller, &req.volume_id).await?;
    if let Some(az) = &req.availability_zone {
        if *az != pod.az_name {
            return Err(VolumeError::Invalid(format!(
                "Invalid input received: volume {} is in availability zone {}, not {az}.",
                req.volume_id, pod.az_name
            )));
        }
        if let Some(backup) = req.body.get_mut("backup").and_then(Value::as_object_mut) {
            if pod.pod_az_name.is_empty() {
                backup.remove("availability_zone");
            } else {
                backup.insert("availability_zone".into(), json!(pod.pod_az_name));
            }
        }
    }
    let request = Request::post(PodPath::fixed("/backups"), req.body.to_string());
    let answer = forward(gw, caller, &pod, request).await?;
    if !answer.is_success() {
        return Ok(Answer::in_top_terms(
            answer,
            &BACKUPS,
            &pod,
            Default::default(),
        ));
    }
    let id = created_id(&answer, BACKUPS.singular, "id", &pod, "a backup id")?;
    if let Err(e) = BACKUPS.record(gw, caller, &pod, &id, None, None).await {
        tracing::error!(error = %e, backup = %id, "routing write failed; deleting the backup in its pod");
        undo_create(gw, caller, &pod, &BACKUPS, &id, false).await;
        return Err(e);
    }
    Ok(Answer::in_top_terms(
        answer,
        &BACKUPS,
        &pod,
        Default::default(),
    ))
}

/// `POST /backups/{id}/restore`: into a volume of the backup's pod
/// (`volume_id`), or a new one there (counted against the quota like any
/// new volume). `body` is the client's.
pub async fn restore(
    gw: &Gateway,
    caller: &Caller,
    id: &str,
    volume_id: Option<&str>,
    body: Bytes,
) -> Result<Answer> {
    let (_, pod) = BACKUPS.routed(gw, caller, id).await?;
    let path = PodPath::of(["backups", id, "restore"]);
    if let Some(volume_id) = volume_id {
        let (_, volume_pod) = VOLUMES.routed(gw, caller, volume_id).await?;
        if volume_pod.pod_id != pod.pod_id {
            return Err(VolumeError::Invalid(format!(
                "Invalid input received: backup {id} is in availability zone {} and volume {volume_id} in {}: \
                 a backup can only be restored to a volume of the same pod.",
                pod.az_name, volume_pod.az_name
            )));
        }
        let answer = forward(gw, caller, &pod, Request::post(path, body)).await?;
        return Ok(Answer::plain(answer));
    }
    let size = size_of(fetch(gw, caller, &BACKUPS, &pod, id).await?.get("size")).unwrap_or(0);
    let reservation = reserve_volume(gw, caller, &pod, size).await?;
    let answer = match forward(gw, caller, &pod, Request::post(path, body)).await {
        Ok(a) if a.is_success() => a,
        Ok(a) => {
            gw.store.release_reservations(&[reservation]).await?;
            return Ok(Answer::plain(a));
        }
        Err(e) => {
            release(gw, reservation).await;
            return Err(e);
        }
    };
    let volume_id = match created_id(&answer, "restore", "volume_id", &pod, "the restored volume") {
        Ok(id) => id,
        Err(e) => {
            release(gw, reservation).await;
            return Err(e);
        }
    };
    adopt(gw, caller, &pod, &volume_id, reservation, None, size, None).await?;
    Ok(Answer::plain(answer))
}
