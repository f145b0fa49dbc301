//! Actions that move a server between states: power, pause, suspend,
//! shelve, restore, reboot, password, lock and state reset.

use axum::response::Response;
use chrono::Utc;
use serde_json::{Map, Value};

use super::{accepted, act, args};
use crate::compute::ctx::{check_keys, field_error, opt_string, Ctx};
use crate::compute::error::{NResult, NovaError};
use crate::compute::model::{Step, PAUSED, RUNNING, SHUTDOWN, SUSPENDED};
use crate::compute::servers::find_mut;
use crate::compute::TASK_TIME;
use crate::image::schema::py_repr;
use crate::pod::Pod;

/// An action that takes a server in one of `from` through `task` to
/// `(vm, power)`, after the lock check.
pub(super) struct Transition {
    action: &'static str,
    from: &'static [&'static str],
    task: &'static str,
    vm: &'static str,
    power: u8,
}

impl Transition {
    pub(super) const START: Transition = Transition {
        action: "start",
        from: &["stopped"],
        task: "powering-on",
        vm: "active",
        power: RUNNING,
    };
    pub(super) const STOP: Transition = Transition {
        action: "stop",
        from: &["active", "error"],
        task: "powering-off",
        vm: "stopped",
        power: SHUTDOWN,
    };
    pub(super) const PAUSE: Transition = Transition {
        action: "pause",
        from: &["active"],
        task: "pausing",
        vm: "paused",
        power: PAUSED,
    };
    pub(super) const UNPAUSE: Transition = Transition {
        action: "unpause",
        from: &["paused"],
        task: "unpausing",
        vm: "active",
        power: RUNNING,
    };
    pub(super) const SUSPEND: Transition = Transition {
        action: "suspend",
        from: &["active"],
        task: "suspending",
        vm: "suspended",
        power: SUSPENDED,
    };
    pub(super) const RESUME: Transition = Transition {
        action: "resume",
        from: &["suspended"],
        task: "resuming",
        vm: "active",
        power: RUNNING,
    };
    pub(super) const SHELVE: Transition = Transition {
        action: "shelve",
        from: &["active", "stopped", "paused", "suspended"],
        task: "shelving",
        vm: "shelved_offloaded",
        power: SHUTDOWN,
    };
    pub(super) const SHELVE_OFFLOAD: Transition = Transition {
        action: "shelveOffload",
        from: &["shelved"],
        task: "shelving_offloading",
        vm: "shelved_offloaded",
        power: SHUTDOWN,
    };
    const UNSHELVE: Transition = Transition {
        action: "unshelve",
        from: &["shelved", "shelved_offloaded"],
        task: "unshelving",
        vm: "active",
        power: RUNNING,
    };
    pub(super) const RESTORE: Transition = Transition {
        action: "restore",
        from: &["soft-delete"],
        task: "restoring",
        vm: "active",
        power: RUNNING,
    };
    const CHANGE_PASSWORD: Transition = Transition {
        action: "changePassword",
        from: &["active"],
        task: "updating_password",
        vm: "active",
        power: RUNNING,
    };
}

/// Runs a [`Transition`]; 202.
pub(super) fn transition(pod: &Pod, ctx: &Ctx, id: &str, t: &Transition) -> NResult<Response> {
    act(pod, ctx, id, t.action, Some(t.from), true, |s| {
        s.begin(
            t.task,
            TASK_TIME,
            Step::Set {
                vm: t.vm,
                power: t.power,
            },
        );
        s.record(t.action, ctx.user(), ctx.project());
        Ok(accepted())
    })
}

/// `reboot`: soft from `active` only; hard from more states, and over
/// some task states.
pub(super) fn reboot(pod: &Pod, ctx: &Ctx, id: &str, arg: &Value) -> NResult<Response> {
    let empty = Map::new();
    let a = args("reboot", arg, &empty)?;
    check_keys("reboot", a, &["type"], &["type"])?;
    let t = a.get("type").and_then(Value::as_str).unwrap_or("");
    let hard = match t {
        "HARD" | "Hard" | "hard" => true,
        "SOFT" | "Soft" | "soft" => false,
        _ => {
            return Err(field_error(
                "type",
                &a["type"],
                &format!(
                    "{} is not one of ['HARD', 'Hard', 'hard', 'SOFT', 'Soft', 'soft']",
                    py_repr(&a["type"])
                ),
            ))
        }
    };
    pod.compute().with(|st| {
        let s = find_mut(st, ctx, id)?;
        if s.is_locked() && !ctx.is_admin() {
            return Err(NovaError::locked(id));
        }
        let allowed: &[&str] = if hard {
            &["active", "stopped", "paused", "suspended", "error"]
        } else {
            &["active"]
        };
        if !allowed.contains(&s.vm_state) {
            return Err(NovaError::invalid_state(
                "reboot", id, "vm_state", s.vm_state,
            ));
        }
        let task_ok = if hard {
            matches!(
                s.task_state,
                None | Some(
                    "rebooting"
                        | "reboot_pending"
                        | "reboot_started"
                        | "rebooting_hard"
                        | "reboot_pending_hard"
                        | "reboot_started_hard"
                        | "suspending"
                        | "pausing"
                        | "unpausing"
                        | "resuming"
                        | "powering-off"
                        | "powering-on"
                )
            )
        } else {
            s.task_state.is_none()
        };
        if !task_ok {
            return Err(NovaError::invalid_state(
                "reboot",
                id,
                "task_state",
                s.task_state.unwrap_or("None"),
            ));
        }
        s.begin(
            if hard { "rebooting_hard" } else { "rebooting" },
            TASK_TIME,
            Step::Set {
                vm: "active",
                power: RUNNING,
            },
        );
        s.record("reboot", ctx.user(), ctx.project());
        Ok(accepted())
    })
}

/// `unshelve`; a zone (2.77) must be this pod's.
pub(super) fn unshelve(pod: &Pod, ctx: &Ctx, id: &str, arg: &Value) -> NResult<Response> {
    if let Value::Object(a) = arg {
        let mut allowed = Vec::new();
        if ctx.at_least(77) {
            allowed.push("availability_zone");
        }
        if ctx.at_least(91) {
            allowed.push("host");
        }
        check_keys("unshelve", a, &allowed, &[])?;
        if let Some(Value::String(az)) = a.get("availability_zone") {
            if az != &pod.config().availability_zone {
                return Err(NovaError::bad_request(
                    "The requested availability zone is not available",
                ));
            }
        }
    }
    transition(pod, ctx, id, &Transition::UNSHELVE)
}

/// `changePassword`.
pub(super) fn change_password(pod: &Pod, ctx: &Ctx, id: &str, arg: &Value) -> NResult<Response> {
    let empty = Map::new();
    let a = args("changePassword", arg, &empty)?;
    check_keys("changePassword", a, &["adminPass"], &["adminPass"])?;
    if !a["adminPass"].is_string() {
        return Err(field_error(
            "adminPass",
            &a["adminPass"],
            &format!("{} is not of type 'string'", py_repr(&a["adminPass"])),
        ));
    }
    transition(pod, ctx, id, &Transition::CHANGE_PASSWORD)
}

/// `lock`, with a reason from 2.73; locked by `owner` or `admin`.
pub(super) fn lock(pod: &Pod, ctx: &Ctx, id: &str, arg: &Value) -> NResult<Response> {
    let empty = Map::new();
    let a = args("lock", arg, &empty)?;
    let reason = if ctx.at_least(73) {
        check_keys("lock", a, &["locked_reason"], &[])?;
        opt_string(a, "locked_reason", 255, false)?
    } else {
        None
    };
    act(pod, ctx, id, "lock", None, false, |s| {
        if s.locked_by.is_none() {
            s.locked_by = Some(if s.project_id == ctx.project() {
                "owner"
            } else {
                "admin"
            });
            s.locked_reason = reason;
        }
        s.record("lock", ctx.user(), ctx.project());
        Ok(accepted())
    })
}

/// `unlock`; an admin's lock only by an admin.
pub(super) fn unlock(pod: &Pod, ctx: &Ctx, id: &str) -> NResult<Response> {
    act(pod, ctx, id, "unlock", None, false, |s| {
        if s.locked_by == Some("admin") && !ctx.is_admin() {
            return Err(NovaError::policy(
                "os_compute_api:os-lock-server:unlock:unlock_override",
            ));
        }
        s.locked_by = None;
        s.locked_reason = None;
        s.record("unlock", ctx.user(), ctx.project());
        Ok(accepted())
    })
}

/// `os-resetState` (admin): to `active` or `error`, task cleared.
pub(super) fn reset_state(pod: &Pod, ctx: &Ctx, id: &str, arg: &Value) -> NResult<Response> {
    ctx.require_admin("os_compute_api:os-admin-actions:reset_state")?;
    let empty = Map::new();
    let a = args("os-resetState", arg, &empty)?;
    check_keys("os-resetState", a, &["state"], &["state"])?;
    let vm: &'static str = match a["state"].as_str() {
        Some("active") => "active",
        Some("error") => "error",
        _ => {
            return Err(field_error(
                "state",
                &a["state"],
                &format!("{} is not one of ['active', 'error']", py_repr(&a["state"])),
            ))
        }
    };
    act(pod, ctx, id, "os-resetState", None, false, |s| {
        s.pending = None;
        s.task_state = None;
        s.vm_state = vm;
        s.updated_at = Utc::now();
        s.record("reset_state", ctx.user(), ctx.project());
        Ok(accepted())
    })
}
