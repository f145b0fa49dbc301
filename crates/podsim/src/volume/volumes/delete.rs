//! `DELETE /volumes/{id}` (with `cascade` and, 3.23+, `force`).

use axum::http::StatusCode;

use super::visible;
use crate::volume::api::{bool_param, ApiError, ApiResult, Ctx, Reply};
use crate::volume::model::State;
use crate::volume::Req;

/// Statuses a volume may be deleted from without `force`.
const DELETABLE: [&str; 5] = [
    "available",
    "error",
    "error_restoring",
    "error_extending",
    "error_managing",
];

pub(crate) fn delete(st: &mut State, ctx: &Ctx, req: &Req) -> ApiResult<Reply> {
    let cascade = bool_param(ctx, "cascade")?;
    let force = ctx.version.at_least(23) && bool_param(ctx, "force")?;
    let id = req.id(0).to_string();
    let v = visible(st, ctx, &id)?;
    if force {
        ctx.require_admin("volume:force_delete")?;
    }
    let snaps: Vec<String> = st
        .snapshots
        .values()
        .filter(|s| s.volume_id == id)
        .map(|s| s.id.clone())
        .collect();
    let status_ok = force || DELETABLE.contains(&v.status.as_str());
    let migration_ok = matches!(
        v.migration_status.as_deref(),
        None | Some("deleting" | "error" | "success")
    );
    let snaps_ok = if cascade {
        force
            || st
                .snapshots
                .values()
                .filter(|s| s.volume_id == id)
                .all(|s| matches!(s.status.as_str(), "available" | "error" | "deleting"))
    } else {
        snaps.is_empty()
    };
    // A non-admin's cascade may not take snapshots that stayed with
    // another project (a transfer with `no_snapshots`).
    let others_snaps = cascade
        && !force
        && !ctx.is_admin
        && st
            .snapshots
            .values()
            .any(|s| s.volume_id == id && s.project_id != v.project_id);
    if !status_ok
        || others_snaps
        || v.attach_status == "attached"
        || !migration_ok
        || v.group_id.is_some()
        || !snaps_ok
    {
        let status = if force {
            String::new()
        } else {
            format!("status must be {} and", DELETABLE.join(" or "))
        };
        return Err(ApiError::invalid_volume(format!(
            "Volume {status} must not be migrating, attached, belong to a group, have snapshots, \
             awaiting a transfer, or be disassociated from snapshots after volume transfer."
        )));
    }
    let pending = st.pending(None, None);
    for sid in &snaps {
        if let Some(s) = st.snapshots.get_mut(sid) {
            s.status = "deleting".into();
            s.pending = Some(pending.clone());
        }
    }
    if let Some(v) = st.volumes.get_mut(&id) {
        v.status = if v.status == "error_managing" {
            "error_managing_deleting".into()
        } else {
            "deleting".into()
        };
        v.pending = Some(pending);
        v.touch();
    }
    Ok(Reply::empty(StatusCode::ACCEPTED))
}
