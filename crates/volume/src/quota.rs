//! Quota across pods for volumes and snapshots: reservations taken before a
//! pod is asked, Cinder's refusals, and the create check recorded with them.

use tricircle_gateway::{Caller, Gateway};
use tricircle_store::{Pod, QuotaExceeded, Reservation, Usage};

use crate::error::{Result, VolumeError};
use crate::kind::{Kind, VOLUMES};

/// `per_volume_gigabytes` of a project (-1: no limit).
pub async fn per_volume_limit(gw: &Gateway, project: &str) -> Result<i64> {
    Ok(gw
        .store
        .quota_limits(project)
        .await?
        .get("per_volume_gigabytes")
        .copied()
        .unwrap_or(-1))
}

/// Reserves `each` of the caller's quota in `pod` for one `resource_type`.
pub async fn reserve(
    gw: &Gateway,
    caller: &Caller,
    pod: &Pod,
    resource_type: &str,
    each: Usage,
    kind: &Kind,
) -> Result<i64> {
    let limits = gw.project_limits(&caller.project_id).await?;
    match gw
        .store
        .reserve(&Reservation {
            project_id: &caller.project_id,
            pod_id: &pod.pod_id,
            resource_type,
            each,
            min_count: 1,
            max_count: 1,
            limits: &limits,
            ttl: gw.reservation_ttl(),
        })
        .await?
    {
        Ok(ids) => ids.into_iter().next().ok_or_else(|| {
            tricircle_gateway::GatewayError::internal("reservation without an id").into()
        }),
        Err(q) => Err(over_quota(&q, kind)),
    }
}

/// Refuses a size over the project's `per_volume_gigabytes`.
pub async fn check_size_limit(gw: &Gateway, caller: &Caller, size: i64) -> Result<()> {
    let per_volume = per_volume_limit(gw, &caller.project_id).await?;
    if per_volume >= 0 && size > per_volume {
        return Err(over_size_limit(size, per_volume));
    }
    Ok(())
}

/// Reserves quota for one new volume of `size` GB in `pod`.
pub async fn reserve_volume(gw: &Gateway, caller: &Caller, pod: &Pod, size: i64) -> Result<i64> {
    check_size_limit(gw, caller, size).await?;
    let each = Usage {
        volumes: 1,
        gigabytes: size,
        ..Default::default()
    };
    reserve(gw, caller, pod, VOLUMES.singular, each, &VOLUMES).await
}

/// Gives a reservation back; one that cannot be only waits for its expiry.
pub async fn release(gw: &Gateway, reservation: i64) {
    if let Err(e) = gw.store.release_reservations(&[reservation]).await {
        tracing::warn!(error = %e, reservation, "quota reservation not released; it expires");
    }
}

/// Cinder's `QuotaError` for a refused reservation, as its fault wrapper
/// renders it: `"<Class>: <message>"`.
pub fn over_quota(q: &QuotaExceeded, kind: &Kind) -> VolumeError {
    let message = match (q.resource, kind.singular) {
        ("gigabytes", _) => format!(
            "VolumeSizeExceedsAvailableQuota: Requested volume or snapshot exceeds allowed gigabytes quota. \
             Requested {}G, quota is {}G and {}G has been consumed.",
            q.requested, q.limit, q.used
        ),
        ("snapshots", _) | (_, "snapshot") => {
            format!("SnapshotLimitExceeded: Maximum number of snapshots allowed ({}) exceeded", q.limit)
        }
        (resource, _) => format!(
            "VolumeLimitExceeded: Maximum number of volumes allowed ({}) exceeded for quota '{resource}'.",
            q.limit
        ),
    };
    VolumeError::OverQuota(message)
}

/// Cinder's `VolumeSizeExceedsLimit` (`per_volume_gigabytes`).
pub fn over_size_limit(size: i64, limit: i64) -> VolumeError {
    VolumeError::OverQuota(format!(
        "VolumeSizeExceedsLimit: Requested volume size {size}G is larger than maximum allowed limit {limit}G."
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kind::SNAPSHOTS;

    fn message(e: VolumeError) -> String {
        match e {
            VolumeError::OverQuota(m) => m,
            other => panic!("not over quota: {other:?}"),
        }
    }

    #[test]
    fn quota_messages_are_cinders() {
        let q = |resource, requested, used, limit| QuotaExceeded {
            resource,
            requested,
            used,
            limit,
        };
        assert_eq!(
            message(over_quota(&q("volumes", 1, 2, 2), &VOLUMES)),
            "VolumeLimitExceeded: Maximum number of volumes allowed (2) exceeded for quota 'volumes'."
        );
        assert_eq!(
            message(over_quota(&q("gigabytes", 5, 8, 10), &VOLUMES)),
            "VolumeSizeExceedsAvailableQuota: Requested volume or snapshot exceeds allowed gigabytes quota. \
             Requested 5G, quota is 10G and 8G has been consumed."
        );
        assert_eq!(
            message(over_quota(&q("snapshots", 1, 3, 3), &SNAPSHOTS)),
            "SnapshotLimitExceeded: Maximum number of snapshots allowed (3) exceeded"
        );
    }
}
