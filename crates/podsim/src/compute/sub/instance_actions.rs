//! `/servers/{id}/os-instance-actions`: list and show.

use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

use crate::compute::ctx::{naive, Ctx, P};
use crate::compute::error::{NResult, NovaError};
use crate::compute::model::Server;
use crate::compute::view::host_id;
use crate::pod::Pod;

fn server_incl_deleted(pod: &Pod, ctx: &Ctx, id: &str) -> NResult<Server> {
    pod.compute().with(|st| {
        st.servers
            .iter()
            .chain(if ctx.at_least(21) {
                st.deleted.iter()
            } else {
                [].iter()
            })
            .find(|s| s.id == id && (ctx.is_admin() || s.project_id == ctx.project()))
            .cloned()
            .ok_or_else(|| NovaError::instance_not_found(id))
    })
}

fn action_view(ctx: &Ctx, s: &Server, a: &crate::compute::model::InstanceAction) -> Value {
    let mut v = json!({
        "action": a.action,
        "instance_uuid": s.id,
        "request_id": a.request_id,
        "user_id": a.user_id,
        "project_id": a.project_id,
        "start_time": naive(a.start_time),
        "message": a.message,
    });
    if ctx.at_least(58) {
        v["updated_at"] = json!(naive(a.updated_at));
    }
    v
}

/// `GET /servers/{id}/os-instance-actions` (newest first).
pub(crate) async fn instance_actions(
    State(pod): State<Pod>,
    ctx: Ctx,
    p: P,
) -> NResult<Json<Value>> {
    let s = server_incl_deleted(&pod, &ctx, p.get("server_id"))?;
    let mut list: Vec<Value> = s
        .actions
        .iter()
        .rev()
        .map(|a| action_view(&ctx, &s, a))
        .collect();
    if ctx.at_least(58) {
        let (limit, marker) = ctx.limit_and_marker()?;
        if let Some(m) = marker {
            let pos = list
                .iter()
                .position(|a| a["request_id"] == json!(m))
                .ok_or_else(|| NovaError::bad_request(format!("Marker {m} could not be found.")))?;
            list.drain(..=pos);
        }
        list.truncate(limit);
    }
    Ok(Json(json!({"instanceActions": list})))
}

/// `GET /servers/{id}/os-instance-actions/{request_id}`.
pub(crate) async fn instance_action(
    State(pod): State<Pod>,
    ctx: Ctx,
    p: P,
) -> NResult<Json<Value>> {
    let s = server_incl_deleted(&pod, &ctx, p.get("server_id"))?;
    let rid = p.get("request_id");
    let Some(a) = s.actions.iter().find(|a| a.request_id == rid) else {
        return Err(NovaError::not_found(format!("Action {rid} not found")));
    };
    let mut v = action_view(&ctx, &s, a);
    if ctx.is_admin() || ctx.at_least(51) {
        let mut ev = json!({
            "event": format!("compute_{}_instance", a.action),
            "start_time": naive(a.start_time),
            "finish_time": naive(a.updated_at),
            "result": "Success",
        });
        if ctx.is_admin() {
            ev["traceback"] = Value::Null;
            if ctx.at_least(62) {
                ev["host"] = json!(s.host);
            }
        }
        if ctx.at_least(62) {
            ev["hostId"] = json!(host_id(&s.project_id, &s.host));
        }
        if ctx.at_least(84) && ctx.is_admin() {
            ev["details"] = Value::Null;
        }
        v["events"] = json!([ev]);
    }
    Ok(Json(json!({"instanceAction": v})))
}
