//! `POST /servers/{id}/action`: one function per action, by the action's
//! key in the body.

mod console;
mod image;
mod lifecycle;
mod rebuild;
mod resize;
mod security_group;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};

pub(crate) use self::console::console_url;
use self::lifecycle::{transition, Transition};
use super::ctx::{field_error, Ctx, NBody, P};
use super::error::{NResult, NovaError};
use super::model::Server;
use super::servers::{delete_server, find_mut};
use crate::image::schema::py_repr;
use crate::pod::Pod;

fn accepted() -> Response {
    StatusCode::ACCEPTED.into_response()
}

/// The action's argument object (`null` counts as empty).
fn args<'a>(
    name: &str,
    v: &'a Value,
    empty: &'a Map<String, Value>,
) -> NResult<&'a Map<String, Value>> {
    match v {
        Value::Null => Ok(empty),
        Value::Object(m) => Ok(m),
        other => Err(field_error(
            name,
            other,
            &format!("{} is not of type 'object', 'null'", py_repr(other)),
        )),
    }
}

/// Runs `f` on a server after Nova's lock and state checks.
fn act<R>(
    pod: &Pod,
    ctx: &Ctx,
    id: &str,
    action: &str,
    vm_states: Option<&[&str]>,
    check_lock: bool,
    f: impl FnOnce(&mut Server) -> NResult<R>,
) -> NResult<R> {
    pod.compute().with(|st| {
        let s = find_mut(st, ctx, id)?;
        if check_lock && s.is_locked() && !ctx.is_admin() {
            return Err(NovaError::locked(id));
        }
        if let Some(allowed) = vm_states {
            if !allowed.contains(&s.vm_state) {
                return Err(NovaError::invalid_state(action, id, "vm_state", s.vm_state));
            }
            if let Some(t) = s.task_state {
                return Err(NovaError::invalid_state(action, id, "task_state", t));
            }
        }
        f(s)
    })
}

/// The one-key action body.
pub(crate) async fn action(
    State(pod): State<Pod>,
    ctx: Ctx,
    p: P,
    NBody(body): NBody,
) -> NResult<Response> {
    let id = p.get("server_id").to_string();
    let Some((name, arg)) = body.as_object().and_then(|m| m.iter().next()) else {
        return Err(NovaError::bad_request("Malformed request body"));
    };
    let (pod, ctx, id) = (&pod, &ctx, id.as_str());
    match name.as_str() {
        "os-start" => transition(pod, ctx, id, &Transition::START),
        "os-stop" => transition(pod, ctx, id, &Transition::STOP),
        "reboot" => lifecycle::reboot(pod, ctx, id, arg),
        "pause" => transition(pod, ctx, id, &Transition::PAUSE),
        "unpause" => transition(pod, ctx, id, &Transition::UNPAUSE),
        "suspend" => transition(pod, ctx, id, &Transition::SUSPEND),
        "resume" => transition(pod, ctx, id, &Transition::RESUME),
        "lock" => lifecycle::lock(pod, ctx, id, arg),
        "unlock" => lifecycle::unlock(pod, ctx, id),
        "shelve" => transition(pod, ctx, id, &Transition::SHELVE),
        "shelveOffload" => transition(pod, ctx, id, &Transition::SHELVE_OFFLOAD),
        "unshelve" => lifecycle::unshelve(pod, ctx, id, arg),
        "resize" => resize::resize(pod, ctx, id, arg),
        "confirmResize" => resize::confirm(pod, ctx, id),
        "revertResize" => resize::revert(pod, ctx, id),
        "migrate" => resize::migrate(pod, ctx, id, arg),
        "forceDelete" => {
            delete_server(pod, ctx, id, "delete")?;
            Ok(accepted())
        }
        "restore" => transition(pod, ctx, id, &Transition::RESTORE),
        "os-resetState" => lifecycle::reset_state(pod, ctx, id, arg),
        "createImage" => image::create_image(pod, ctx, id, arg).await,
        "os-getConsoleOutput" => console::console_output(pod, ctx, id, arg),
        "os-getVNCConsole" => console::vnc_console(pod, ctx, id, arg),
        "rebuild" => rebuild::rebuild(pod, ctx, id, arg).await,
        "changePassword" => lifecycle::change_password(pod, ctx, id, arg),
        "addSecurityGroup" => security_group::change(pod, ctx, id, arg, true),
        "removeSecurityGroup" => security_group::change(pod, ctx, id, arg, false),
        other => Err(NovaError::bad_request(format!(
            "There is no such action: {other}"
        ))),
    }
}
