//! `POST /v2/images/{id}/actions/deactivate` and `.../reactivate`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Extension;
use chrono::Utc;

use super::{can_modify, visible_image};
use crate::auth::Caller;
use crate::image::error::{GResult, GlanceError};
use crate::pod::Pod;

/// `POST /v2/images/{id}/actions/deactivate`: an active image becomes
/// `deactivated` (its data can no longer be downloaded by non-admins);
/// again is a no-op; from any other status 403. Admin or the owner
/// (Glance's default `deactivate` policy).
pub(super) async fn deactivate(
    State(pod): State<Pod>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> GResult<StatusCode> {
    change_activation(&pod, &caller, &id, "deactivate", "active", "deactivated")
}

/// `POST /v2/images/{id}/actions/reactivate`: the reverse.
pub(super) async fn reactivate(
    State(pod): State<Pod>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> GResult<StatusCode> {
    change_activation(&pod, &caller, &id, "reactivate", "deactivated", "active")
}

fn change_activation(
    pod: &Pod,
    caller: &Caller,
    id: &str,
    action: &str,
    from: &str,
    to: &str,
) -> GResult<StatusCode> {
    let img = visible_image(pod, caller, id)?;
    // Glance's default `deactivate` / `reactivate` policy: admin, or a
    // member of the owning project.
    if !can_modify(caller, &img) {
        return Err(GlanceError::forbidden_action(action));
    }
    if img.status == to {
        return Ok(StatusCode::NO_CONTENT);
    }
    if img.status != from {
        return Err(GlanceError::forbidden(format!(
            "Not allowed to {action} image in status '{}'",
            img.status
        )));
    }
    pod.images().update(id, |i| {
        i.status = to.to_string();
        i.updated_at = Utc::now();
    });
    Ok(StatusCode::NO_CONTENT)
}
