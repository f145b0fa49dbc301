//! Which pod serves a new resource (BEHAVIOUR §3).

use tricircle_core::scheduling::{NoPodReason, ScheduleError};
use tricircle_pods::{HealthState, PodHealth};
use tricircle_store::{BindingFilter, NewBinding, Pod, Store};

use crate::error::GatewayError;

/// The pod for a new resource of `project_id` in `az` (any AZ when
/// `None`): the project's active binding in that AZ when its pod is usable,
/// else the best usable pod of the AZ, which becomes the binding. Pods that
/// are down (as `health` sees them) are not usable; degraded ones come
/// after healthy ones; then the most free capacity the probe read wins.
pub async fn pick_pod(
    store: &Store,
    health: &PodHealth,
    project_id: &str,
    az: Option<&str>,
) -> Result<Pod, GatewayError> {
    let pods: Vec<Pod> = store
        .list_pods()
        .await?
        .into_iter()
        .filter(|p| !p.is_top())
        .collect();
    let in_az: Vec<&Pod> = pods
        .iter()
        .filter(|p| az.is_none_or(|a| p.az_name == a))
        .collect();
    let bindings = store
        .list_bindings(&BindingFilter {
            tenant_id: Some(project_id.to_string()),
            ..Default::default()
        })
        .await?;
    let retry_interval = health.config().retry_interval;
    let health = health.snapshot();
    let pods_info: Vec<tricircle_core::scheduling::PodInfo> = in_az
        .iter()
        .map(|p| {
            let h = health.get(&p.pod_name);
            let state = h.map(|h| h.state).unwrap_or(HealthState::Up);
            tricircle_core::scheduling::PodInfo {
                pod_id: p.pod_id.clone(),
                pod_name: p.pod_name.clone(),
                az_name: p.az_name.clone(),
                maintenance: p.maintenance,
                healthy: state != HealthState::Down,
                degraded: state == HealthState::Degraded,
                free_capacity: h.and_then(|h| h.capacity.as_ref()).map(|c| c.free_ram_mb),
            }
        })
        .collect();
    let bindings_info: Vec<tricircle_core::scheduling::BindingInfo> = bindings
        .iter()
        .map(|b| tricircle_core::scheduling::BindingInfo {
            id: b.id.clone(),
            pod_id: b.pod_id.clone(),
            is_binding: b.is_binding,
        })
        .collect();
    let decision =
        tricircle_core::scheduling::schedule(&pods_info, &bindings_info, az).map_err(|e| {
            match &e {
                // Pods there, none usable now: the service is unavailable
                // for a while (a down pod's next trial is due within the
                // breaker's retry interval).
                ScheduleError::NoPod {
                    reason: NoPodReason::AllUnavailable,
                    ..
                } => GatewayError::unavailable(
                    e.to_string(),
                    health_retry_after(&pods_info, retry_interval),
                ),
                ScheduleError::NoPod { .. } => GatewayError::BadRequest(e.to_string()),
            }
        })?;
    let chosen = match decision {
        tricircle_core::scheduling::Decision::UseBinding { pod_id } => pod_id,
        tricircle_core::scheduling::Decision::NewBinding { pod_id, deactivate } => {
            for id in deactivate {
                store
                    .update_binding(
                        &id,
                        &tricircle_store::BindingUpdate {
                            pod_id: None,
                            is_binding: Some(false),
                        },
                    )
                    .await?;
            }
            match store
                .create_binding(&NewBinding {
                    tenant_id: project_id.to_string(),
                    pod_id: pod_id.clone(),
                    is_binding: true,
                })
                .await
            {
                Ok(_) => {}
                // An inactive binding of this pair exists: switch it on.
                // Concurrent requests may race here; both end on this pod.
                Err(tricircle_store::StoreError::Conflict(_)) => {
                    if let Some(b) = bindings.iter().find(|b| b.pod_id == pod_id) {
                        store
                            .update_binding(
                                &b.id,
                                &tricircle_store::BindingUpdate {
                                    pod_id: None,
                                    is_binding: Some(true),
                                },
                            )
                            .await?;
                    }
                }
                Err(e) => return Err(e.into()),
            }
            pod_id
        }
    };
    pods.into_iter()
        .find(|p| p.pod_id == chosen)
        .ok_or_else(|| GatewayError::internal("the chosen pod is not among the pods read"))
}

/// `Retry-After` when no pod is usable: the breakers' retry interval if one
/// is down (it may be back at its next trial), a minute if they are all in
/// maintenance.
fn health_retry_after(
    pods: &[tricircle_core::scheduling::PodInfo],
    retry_interval: std::time::Duration,
) -> std::time::Duration {
    if pods.iter().any(|p| !p.healthy && !p.maintenance) {
        retry_interval
    } else {
        std::time::Duration::from_secs(60)
    }
}
