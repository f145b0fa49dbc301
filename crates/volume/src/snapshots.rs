//! Creating a snapshot: in its volume's pod, counted against the project's
//! quota (`snapshots` and the volume's `gigabytes`, as Cinder counts them).

use bytes::Bytes;
use tricircle_gateway::{Caller, Gateway};
use tricircle_pods::PodPath;
use tricircle_store::Usage;

use crate::cinder::{created_id, fetch, forward, size_of, Answer, Request};
use crate::error::Result;
use crate::kind::{SNAPSHOTS, VOLUMES};
use crate::quota::{release, reserve};
use crate::volume_create::undo_create;

/// `POST /snapshots` of `volume_id` (`body`: the client's).
pub async fn create(gw: &Gateway, caller: &Caller, volume_id: &str, body: Bytes) -> Result<Answer> {
    let (_, pod) = VOLUMES.routed(gw, caller, volume_id).await?;
    let volume = fetch(gw, caller, &VOLUMES, &pod, volume_id).await?;
    let each = Usage {
        snapshots: 1,
        gigabytes: size_of(volume.get("size")).unwrap_or(0),
        ..Default::default()
    };
    let reservation = reserve(gw, caller, &pod, SNAPSHOTS.singular, each, &SNAPSHOTS).await?;
    let request = Request::post(PodPath::fixed("/snapshots"), body);
    let answer = match forward(gw, caller, &pod, request).await {
        Ok(a) if a.is_success() => a,
        Ok(a) => {
            gw.store.release_reservations(&[reservation]).await?;
            return Ok(Answer::in_top_terms(
                a,
                &SNAPSHOTS,
                &pod,
                Default::default(),
            ));
        }
        Err(e) => {
            release(gw, reservation).await;
            return Err(e);
        }
    };
    let id = match created_id(&answer, SNAPSHOTS.singular, "id", &pod, "a snapshot id") {
        Ok(id) => id,
        Err(e) => {
            release(gw, reservation).await;
            return Err(e);
        }
    };
    if let Err(e) = SNAPSHOTS
        .record(gw, caller, &pod, &id, Some((reservation, each)), None)
        .await
    {
        tracing::error!(error = %e, snapshot = %id, "routing write failed; deleting the snapshot in its pod");
        undo_create(gw, caller, &pod, &SNAPSHOTS, &id, false).await;
        release(gw, reservation).await;
        return Err(e);
    }
    Ok(Answer::in_top_terms(
        answer,
        &SNAPSHOTS,
        &pod,
        Default::default(),
    ))
}
