//! `resize`, `confirmResize`, `revertResize` and `migrate` (a resize to
//! the same flavor, admins only).

use std::collections::BTreeMap;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde_json::{Map, Value};

use super::{accepted, act, args};
use crate::compute::ctx::{check_keys, field_error, Ctx};
use crate::compute::error::{NResult, NovaError};
use crate::compute::model::{Flavor, Server, Step};
use crate::compute::servers::find_mut;
use crate::compute::TASK_TIME;
use crate::image::schema::py_repr;
use crate::pod::Pod;

/// `resize`: to another flavor the caller sees, within the cores and RAM
/// quotas; the server waits in `resized` for confirm or revert.
pub(super) fn resize(pod: &Pod, ctx: &Ctx, id: &str, arg: &Value) -> NResult<Response> {
    let empty = Map::new();
    let a = args("resize", arg, &empty)?;
    check_keys(
        "resize",
        a,
        &["flavorRef", "OS-DCF:diskConfig"],
        &["flavorRef"],
    )?;
    let flavor_ref = match &a["flavorRef"] {
        Value::String(s) if !s.is_empty() => s.clone(),
        Value::Number(n) => n.to_string(),
        other => {
            return Err(field_error(
                "flavorRef",
                other,
                &format!("{} is not of type 'string', 'integer'", py_repr(other)),
            ))
        }
    };
    let flavor_ref = flavor_ref
        .rsplit('/')
        .next()
        .unwrap_or(&flavor_ref)
        .to_string();
    pod.compute().with(|st| {
        let flavor = st
            .flavor(&flavor_ref)
            .filter(|f| f.visible_to(ctx.project(), ctx.is_admin()))
            .cloned();
        let limits = st.quota_limits(ctx.project());
        let (_, used_c, used_r) = st.usage(ctx.project());
        let s = find_mut(st, ctx, id)?;
        if s.is_locked() && !ctx.is_admin() {
            return Err(NovaError::locked(id));
        }
        if !["active", "stopped"].contains(&s.vm_state) {
            return Err(NovaError::invalid_state("resize", id, "vm_state", s.vm_state));
        }
        if let Some(t) = s.task_state {
            return Err(NovaError::invalid_state("resize", id, "task_state", t));
        }
        let flavor = flavor.ok_or_else(|| {
            NovaError::bad_request(format!("Flavor {flavor_ref} could not be found."))
        })?;
        if flavor.id == s.flavor.id {
            return Err(NovaError::bad_request(
                "When resizing, instances must change flavor!",
            ));
        }
        if flavor.disk == 0 && s.flavor.disk != 0 && !s.image_ref.is_empty() {
            return Err(NovaError::bad_request(
                "Server disk was unable to be resized because: Resize to zero disk flavor is not allowed.",
            ));
        }
        check_resize_quota(&limits, (used_c, used_r), s, &flavor)?;
        s.old_flavor = Some(s.flavor.clone());
        s.old_vm_state = Some(s.vm_state);
        s.flavor = flavor.snapshot();
        let power = s.power_state;
        s.begin("resize_prep", TASK_TIME, Step::Set { vm: "resized", power });
        s.record("resize", ctx.user(), ctx.project());
        Ok(accepted())
    })
}

/// The cores and RAM a bigger flavor adds, against the project's quota
/// (`used` is cores and RAM in use).
fn check_resize_quota(
    limits: &BTreeMap<String, i64>,
    (used_c, used_r): (i64, i64),
    s: &Server,
    flavor: &Flavor,
) -> NResult<()> {
    let dc = flavor.vcpus as i64 - s.flavor.vcpus as i64;
    let dr = flavor.ram as i64 - s.flavor.ram as i64;
    let mut overs = Vec::new();
    if dc > 0 {
        let l = limits.get("cores").copied().unwrap_or(-1);
        if l >= 0 && used_c + dc > l {
            overs.push(("cores", dc, used_c, l));
        }
    }
    if dr > 0 {
        let l = limits.get("ram").copied().unwrap_or(-1);
        if l >= 0 && used_r + dr > l {
            overs.push(("ram", dr, used_r, l));
        }
    }
    if overs.is_empty() {
        return Ok(());
    }
    let names: Vec<&str> = overs.iter().map(|o| o.0).collect();
    let column = |i: usize| {
        overs
            .iter()
            .map(|o| [o.1, o.2, o.3][i].to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let n = names.join(", ");
    Err(NovaError::forbidden(format!(
        "Quota exceeded for {n}: Requested {}, but already used {} of {} {n}",
        column(0),
        column(1),
        column(2),
    )))
}

/// `confirmResize`: the old flavor goes; 204.
pub(super) fn confirm(pod: &Pod, ctx: &Ctx, id: &str) -> NResult<Response> {
    act(
        pod,
        ctx,
        id,
        "confirmResize",
        Some(&["resized"]),
        true,
        |s| {
            s.old_flavor = None;
            s.vm_state = s.old_vm_state.take().unwrap_or("active");
            s.updated_at = Utc::now();
            s.record("confirmResize", ctx.user(), ctx.project());
            Ok(StatusCode::NO_CONTENT.into_response())
        },
    )
}

/// `revertResize`: back to the old flavor and state.
pub(super) fn revert(pod: &Pod, ctx: &Ctx, id: &str) -> NResult<Response> {
    act(
        pod,
        ctx,
        id,
        "revertResize",
        Some(&["resized"]),
        true,
        |s| {
            if let Some(old) = s.old_flavor.take() {
                s.flavor = old;
            }
            let vm = s.old_vm_state.take().unwrap_or("active");
            let power = s.power_state;
            s.begin("resize_reverting", TASK_TIME, Step::Set { vm, power });
            s.record("revertResize", ctx.user(), ctx.project());
            Ok(accepted())
        },
    )
}

/// `migrate` (admin; `host` from 2.56).
pub(super) fn migrate(pod: &Pod, ctx: &Ctx, id: &str, arg: &Value) -> NResult<Response> {
    ctx.require_admin("os_compute_api:os-migrate-server:migrate")?;
    if let Value::Object(a) = arg {
        let allowed: &[&str] = if ctx.at_least(56) { &["host"] } else { &[] };
        check_keys("migrate", a, allowed, &[])?;
    }
    act(
        pod,
        ctx,
        id,
        "migrate",
        Some(&["active", "stopped"]),
        true,
        |s| {
            s.old_flavor = Some(s.flavor.clone());
            s.old_vm_state = Some(s.vm_state);
            let power = s.power_state;
            s.begin(
                "resize_prep",
                TASK_TIME,
                Step::Set {
                    vm: "resized",
                    power,
                },
            );
            s.record("migrate", ctx.user(), ctx.project());
            Ok(accepted())
        },
    )
}
