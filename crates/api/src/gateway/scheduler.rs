//! Which pod serves a new resource (BEHAVIOUR §3).

use axum::http::StatusCode;
use tricircle_store::{BindingFilter, NewBinding, Pod, Store};

use crate::error::ApiError;

/// The pod for a new resource of `project_id` in `az` (any AZ when
/// `None`): the project's active binding in that AZ when its pod is usable,
/// else the best usable pod of the AZ, which becomes the binding.
pub async fn pick_pod(store: &Store, project_id: &str, az: Option<&str>) -> Result<Pod, ApiError> {
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
    let pods_info: Vec<tricircle_core::scheduling::PodInfo> = in_az
        .iter()
        .map(|p| tricircle_core::scheduling::PodInfo {
            pod_id: p.pod_id.clone(),
            pod_name: p.pod_name.clone(),
            az_name: p.az_name.clone(),
            maintenance: p.maintenance,
            healthy: true,
            free_capacity: None,
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
    let decision = tricircle_core::scheduling::schedule(&pods_info, &bindings_info, az)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.to_string()))?;
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
        .ok_or_else(ApiError::internal)
}
