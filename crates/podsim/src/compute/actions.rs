//! `POST /servers/{id}/action`.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::Utc;
use serde_json::{json, Map, Value};

use super::ctx::{
    check_keys, check_name, field_error, metadata_field, opt_bool, opt_string, Ctx, NBody, P,
};
use super::error::{NResult, NovaError};
use super::interfaces;
use super::model::{Server, Step, PAUSED, RUNNING, SHUTDOWN, SUSPENDED};
use super::servers::{delete_server, find_mut};
use super::view::{self, ViewOpts};
use super::TASK_TIME;
use crate::image::schema::py_repr;
use crate::network::GroupChangeError;
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
    let empty = Map::new();
    let user = ctx.user().to_string();
    let project = ctx.project().to_string();
    let record = |s: &mut Server, a: &str| s.record(a, &user, &project);
    match name.as_str() {
        "os-start" => act(&pod, &ctx, &id, "start", Some(&["stopped"]), true, |s| {
            s.begin(
                "powering-on",
                TASK_TIME,
                Step::Set {
                    vm: "active",
                    power: RUNNING,
                },
            );
            record(s, "start");
            Ok(accepted())
        }),
        "os-stop" => act(
            &pod,
            &ctx,
            &id,
            "stop",
            Some(&["active", "error"]),
            true,
            |s| {
                s.begin(
                    "powering-off",
                    TASK_TIME,
                    Step::Set {
                        vm: "stopped",
                        power: SHUTDOWN,
                    },
                );
                record(s, "stop");
                Ok(accepted())
            },
        ),
        "reboot" => {
            let a = args(name, arg, &empty)?;
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
                let s = find_mut(st, &ctx, &id)?;
                if s.is_locked() && !ctx.is_admin() {
                    return Err(NovaError::locked(&id));
                }
                let allowed: &[&str] = if hard {
                    &["active", "stopped", "paused", "suspended", "error"]
                } else {
                    &["active"]
                };
                if !allowed.contains(&s.vm_state) {
                    return Err(NovaError::invalid_state(
                        "reboot", &id, "vm_state", s.vm_state,
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
                        &id,
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
                record(s, "reboot");
                Ok(accepted())
            })
        }
        "pause" => act(&pod, &ctx, &id, "pause", Some(&["active"]), true, |s| {
            s.begin(
                "pausing",
                TASK_TIME,
                Step::Set {
                    vm: "paused",
                    power: PAUSED,
                },
            );
            record(s, "pause");
            Ok(accepted())
        }),
        "unpause" => act(&pod, &ctx, &id, "unpause", Some(&["paused"]), true, |s| {
            s.begin(
                "unpausing",
                TASK_TIME,
                Step::Set {
                    vm: "active",
                    power: RUNNING,
                },
            );
            record(s, "unpause");
            Ok(accepted())
        }),
        "suspend" => act(&pod, &ctx, &id, "suspend", Some(&["active"]), true, |s| {
            s.begin(
                "suspending",
                TASK_TIME,
                Step::Set {
                    vm: "suspended",
                    power: SUSPENDED,
                },
            );
            record(s, "suspend");
            Ok(accepted())
        }),
        "resume" => act(&pod, &ctx, &id, "resume", Some(&["suspended"]), true, |s| {
            s.begin(
                "resuming",
                TASK_TIME,
                Step::Set {
                    vm: "active",
                    power: RUNNING,
                },
            );
            record(s, "resume");
            Ok(accepted())
        }),
        "lock" => {
            let a = args(name, arg, &empty)?;
            let reason = if ctx.at_least(73) {
                check_keys("lock", a, &["locked_reason"], &[])?;
                opt_string(a, "locked_reason", 255, false)?
            } else {
                None
            };
            act(&pod, &ctx, &id, "lock", None, false, |s| {
                if s.locked_by.is_none() {
                    s.locked_by = Some(if s.project_id == ctx.project() {
                        "owner"
                    } else {
                        "admin"
                    });
                    s.locked_reason = reason;
                }
                record(s, "lock");
                Ok(accepted())
            })
        }
        "unlock" => act(&pod, &ctx, &id, "unlock", None, false, |s| {
            if s.locked_by == Some("admin") && !ctx.is_admin() {
                return Err(NovaError::policy(
                    "os_compute_api:os-lock-server:unlock:unlock_override",
                ));
            }
            s.locked_by = None;
            s.locked_reason = None;
            record(s, "unlock");
            Ok(accepted())
        }),
        "shelve" => act(
            &pod,
            &ctx,
            &id,
            "shelve",
            Some(&["active", "stopped", "paused", "suspended"]),
            true,
            |s| {
                s.begin(
                    "shelving",
                    TASK_TIME,
                    Step::Set {
                        vm: "shelved_offloaded",
                        power: SHUTDOWN,
                    },
                );
                record(s, "shelve");
                Ok(accepted())
            },
        ),
        "shelveOffload" => act(
            &pod,
            &ctx,
            &id,
            "shelveOffload",
            Some(&["shelved"]),
            true,
            |s| {
                s.begin(
                    "shelving_offloading",
                    TASK_TIME,
                    Step::Set {
                        vm: "shelved_offloaded",
                        power: SHUTDOWN,
                    },
                );
                record(s, "shelveOffload");
                Ok(accepted())
            },
        ),
        "unshelve" => {
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
            act(
                &pod,
                &ctx,
                &id,
                "unshelve",
                Some(&["shelved", "shelved_offloaded"]),
                true,
                |s| {
                    s.begin(
                        "unshelving",
                        TASK_TIME,
                        Step::Set {
                            vm: "active",
                            power: RUNNING,
                        },
                    );
                    record(s, "unshelve");
                    Ok(accepted())
                },
            )
        }
        "resize" => {
            let a = args(name, arg, &empty)?;
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
                let s = find_mut(st, &ctx, &id)?;
                if s.is_locked() && !ctx.is_admin() {
                    return Err(NovaError::locked(&id));
                }
                if !["active", "stopped"].contains(&s.vm_state) {
                    return Err(NovaError::invalid_state("resize", &id, "vm_state", s.vm_state));
                }
                if let Some(t) = s.task_state {
                    return Err(NovaError::invalid_state("resize", &id, "task_state", t));
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
                if !overs.is_empty() {
                    let names: Vec<&str> = overs.iter().map(|o| o.0).collect();
                    let column = |i: usize| {
                        overs
                            .iter()
                            .map(|o| [o.1, o.2, o.3][i].to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    };
                    let n = names.join(", ");
                    return Err(NovaError::forbidden(format!(
                        "Quota exceeded for {n}: Requested {}, but already used {} of {} {n}",
                        column(0),
                        column(1),
                        column(2),
                    )));
                }
                s.old_flavor = Some(s.flavor.clone());
                s.old_vm_state = Some(s.vm_state);
                s.flavor = flavor.snapshot();
                let power = s.power_state;
                s.begin("resize_prep", TASK_TIME, Step::Set { vm: "resized", power });
                record(s, "resize");
                Ok(accepted())
            })
        }
        "confirmResize" => act(
            &pod,
            &ctx,
            &id,
            "confirmResize",
            Some(&["resized"]),
            true,
            |s| {
                s.old_flavor = None;
                s.vm_state = s.old_vm_state.take().unwrap_or("active");
                s.updated_at = Utc::now();
                record(s, "confirmResize");
                Ok(StatusCode::NO_CONTENT.into_response())
            },
        ),
        "revertResize" => act(
            &pod,
            &ctx,
            &id,
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
                record(s, "revertResize");
                Ok(accepted())
            },
        ),
        "migrate" => {
            ctx.require_admin("os_compute_api:os-migrate-server:migrate")?;
            if let Value::Object(a) = arg {
                let allowed: &[&str] = if ctx.at_least(56) { &["host"] } else { &[] };
                check_keys("migrate", a, allowed, &[])?;
            }
            act(
                &pod,
                &ctx,
                &id,
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
                    record(s, "migrate");
                    Ok(accepted())
                },
            )
        }
        "forceDelete" => {
            delete_server(&pod, &ctx, &id, "delete")?;
            Ok(accepted())
        }
        "restore" => act(
            &pod,
            &ctx,
            &id,
            "restore",
            Some(&["soft-delete"]),
            true,
            |s| {
                s.begin(
                    "restoring",
                    TASK_TIME,
                    Step::Set {
                        vm: "active",
                        power: RUNNING,
                    },
                );
                record(s, "restore");
                Ok(accepted())
            },
        ),
        "os-resetState" => {
            ctx.require_admin("os_compute_api:os-admin-actions:reset_state")?;
            let a = args(name, arg, &empty)?;
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
            act(&pod, &ctx, &id, "os-resetState", None, false, |s| {
                s.pending = None;
                s.task_state = None;
                s.vm_state = vm;
                s.updated_at = Utc::now();
                record(s, "reset_state");
                Ok(accepted())
            })
        }
        "createImage" => create_image(&pod, &ctx, &id, arg).await,
        "os-getConsoleOutput" => {
            let a = args(name, arg, &empty)?;
            check_keys("os-getConsoleOutput", a, &["length"], &[])?;
            let length: Option<i64> = match a.get("length") {
                None | Some(Value::Null) => None,
                Some(Value::Number(n)) => n.as_i64(),
                Some(Value::String(s)) => s.parse().ok(),
                Some(other) => {
                    return Err(field_error(
                        "length",
                        other,
                        &format!(
                            "{} is not of type 'integer', 'string', 'null'",
                            py_repr(other)
                        ),
                    ))
                }
            };
            if length.is_some_and(|l| l < -1) {
                return Err(field_error(
                    "length",
                    &a["length"],
                    &format!("{} is less than the minimum of -1", py_repr(&a["length"])),
                ));
            }
            let s = pod
                .compute()
                .with(|st| super::servers::find(st, &ctx, &id).cloned())?;
            if s.vm_state == "building" || s.launched_at.is_none() {
                return Err(NovaError::conflict(format!("Instance {id} is not ready")));
            }
            let lines = console_lines(&s);
            let take = match length {
                Some(n) if n >= 0 => (n as usize).min(lines.len()),
                _ => lines.len(),
            };
            let output = lines[lines.len() - take..].join("\n");
            Ok(Json(json!({"output": output})).into_response())
        }
        "os-getVNCConsole" => {
            if ctx.at_least(6) {
                return Err(NovaError::resource_not_found());
            }
            let a = args(name, arg, &empty)?;
            check_keys("os-getVNCConsole", a, &["type"], &["type"])?;
            let t = a["type"].as_str().unwrap_or("");
            if !["novnc", "xvpvnc"].contains(&t) {
                return Err(field_error(
                    "type",
                    &a["type"],
                    &format!("{} is not one of ['novnc', 'xvpvnc']", py_repr(&a["type"])),
                ));
            }
            let s = pod
                .compute()
                .with(|st| super::servers::find(st, &ctx, &id).cloned())?;
            if s.vm_state == "building" {
                return Err(NovaError::conflict(format!("Instance {id} is not ready")));
            }
            Ok(Json(json!({"console": {"type": t, "url": console_url(&ctx, t)}})).into_response())
        }
        "rebuild" => rebuild(&pod, &ctx, &id, arg).await,
        "changePassword" => {
            let a = args(name, arg, &empty)?;
            check_keys("changePassword", a, &["adminPass"], &["adminPass"])?;
            if !a["adminPass"].is_string() {
                return Err(field_error(
                    "adminPass",
                    &a["adminPass"],
                    &format!("{} is not of type 'string'", py_repr(&a["adminPass"])),
                ));
            }
            act(
                &pod,
                &ctx,
                &id,
                "changePassword",
                Some(&["active"]),
                true,
                |s| {
                    s.begin(
                        "updating_password",
                        TASK_TIME,
                        Step::Set {
                            vm: "active",
                            power: RUNNING,
                        },
                    );
                    record(s, "changePassword");
                    Ok(accepted())
                },
            )
        }
        "addSecurityGroup" | "removeSecurityGroup" => {
            // Nova's `_parse`: a dict with a non-blank `name`.
            let a = match arg {
                Value::Object(m) => m,
                _ => return Err(NovaError::bad_request("Missing parameter dict")),
            };
            let sg = match a.get("name") {
                None => return Err(NovaError::bad_request("Security group not specified")),
                Some(Value::String(n)) if !n.trim().is_empty() => n.clone(),
                Some(_) => {
                    return Err(NovaError::bad_request(
                        "Security group name cannot be empty",
                    ))
                }
            };
            let add = name == "addSecurityGroup";
            // Nova changes the groups of the server's ports in Neutron; its
            // view shows what the ports have.
            let s = interfaces::server_with_nics(&pod, &ctx, &id)?;
            pod.network()
                .change_server_group(&s.project_id, &id, &s.nics, &sg, add)
                .map_err(|e| match e {
                    GroupChangeError::NotFound(m) => NovaError::not_found(m),
                    GroupChangeError::NotUnique(m) => NovaError::conflict(m),
                    GroupChangeError::CannotBeApplied => NovaError::bad_request(
                        "Network requires port_security_enabled and subnet associated in order to apply security groups.",
                    ),
                })?;
            pod.compute().with(|st| {
                if let Ok(s) = find_mut(st, &ctx, &id) {
                    s.updated_at = Utc::now();
                }
            });
            Ok(accepted())
        }
        other => Err(NovaError::bad_request(format!(
            "There is no such action: {other}"
        ))),
    }
}

/// A noVNC URL like Nova's console proxy hands out.
pub(crate) fn console_url(ctx: &Ctx, kind: &str) -> String {
    let host = ctx
        .host
        .trim_start_matches("http://")
        .split(':')
        .next()
        .unwrap_or("127.0.0.1")
        .to_string();
    let token = uuid::Uuid::new_v4();
    match kind {
        "xvpvnc" => format!("http://{host}:6081/console?token={token}"),
        "spice-html5" => format!("http://{host}:6082/spice_auto.html?token={token}"),
        "serial" => format!("ws://{host}:6083/?token={token}"),
        _ => format!("http://{host}:6080/vnc_lite.html?path=%3Ftoken%3D{token}"),
    }
}

/// A plausible guest boot log.
fn console_lines(s: &Server) -> Vec<String> {
    let mut lines = vec![
        "[    0.000000] Linux version 5.15.0-71-generic (buildd@lcy02-amd64-044)".to_string(),
        "[    0.000000] Command line: LABEL=cirros-rootfs ro console=tty1 console=ttyS0".into(),
        "[    0.512345] Freeing unused kernel image (initmem) memory: 3236K".into(),
        "Starting network...".into(),
        "udhcpc: started, v1.36.1".into(),
    ];
    for (addr, _) in s.nics.iter().flat_map(|v| v.addresses()) {
        lines.push(format!("udhcpc: lease of {addr} obtained from 10.0.0.1"));
    }
    lines.push("checking http://169.254.169.254/2009-04-04/instance-id".to_string());
    lines.push(format!(
        "successful after 1/20 tries: up 3.21. iid={}",
        s.instance_name
    ));
    lines.push("=== cirros: current=0.6.2 uptime=4.56 ===".into());
    lines.push(
        "login as 'cirros' user. default password: 'gocubsgo'. use 'sudo' for root.".to_string(),
    );
    lines.push(format!("{} login:", s.hostname));
    lines
}

async fn create_image(pod: &Pod, ctx: &Ctx, id: &str, arg: &Value) -> NResult<Response> {
    let empty = Map::new();
    let a = args("createImage", arg, &empty)?;
    check_keys("createImage", a, &["name", "metadata"], &["name"])?;
    let name = check_name("name", &a["name"])?;
    let metadata: BTreeMap<String, String> = match a.get("metadata") {
        Some(v) => metadata_field("metadata", v)?,
        None => BTreeMap::new(),
    };
    let server = act(
        pod,
        ctx,
        id,
        "createImage",
        Some(&["active", "stopped", "paused", "suspended"]),
        false,
        |s| {
            let vm = s.vm_state;
            let power = s.power_state;
            s.begin("image_snapshot", TASK_TIME, Step::Set { vm, power });
            s.record("createImage", ctx.user(), ctx.project());
            Ok(s.clone())
        },
    )?;
    let base = if server.image_ref.is_empty() {
        None
    } else {
        pod.images().get(&server.image_ref)
    };
    let mut props: BTreeMap<String, Value> = BTreeMap::new();
    props.insert("image_type".into(), json!("snapshot"));
    props.insert("instance_uuid".into(), json!(server.id));
    props.insert("base_image_ref".into(), json!(server.image_ref));
    props.insert("user_id".into(), json!(ctx.user()));
    props.insert("image_location".into(), json!("snapshot"));
    props.insert("boot_roles".into(), json!(ctx.caller.roles.join(",")));
    if server.image_ref.is_empty() {
        props.insert("root_device_name".into(), json!("/dev/vda"));
        props.insert("bdm_v2".into(), json!("True"));
    }
    for (k, v) in metadata {
        props.insert(k, json!(v));
    }
    let img = pod
        .images()
        .create_snapshot(&name, &server.project_id, base.as_ref(), props);
    if ctx.at_least(45) {
        return Ok((StatusCode::ACCEPTED, Json(json!({"image_id": img.id}))).into_response());
    }
    let mut resp = accepted();
    if let Ok(v) = HeaderValue::from_str(&format!("{}/image/v2/images/{}", ctx.host, img.id)) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    Ok(resp)
}

async fn rebuild(pod: &Pod, ctx: &Ctx, id: &str, arg: &Value) -> NResult<Response> {
    let empty = Map::new();
    let a = args("rebuild", arg, &empty)?;
    let mut allowed = vec![
        "name",
        "imageRef",
        "adminPass",
        "metadata",
        "preserve_ephemeral",
        "OS-DCF:diskConfig",
        "accessIPv4",
        "accessIPv6",
    ];
    if !ctx.at_least(57) {
        allowed.push("personality");
    }
    if ctx.at_least(19) {
        allowed.push("description");
    }
    if ctx.at_least(54) {
        allowed.push("key_name");
    }
    if ctx.at_least(57) {
        allowed.push("user_data");
    }
    if ctx.at_least(63) {
        allowed.push("trusted_image_certificates");
    }
    if ctx.at_least(90) {
        allowed.push("hostname");
    }
    let name = match a.get("name") {
        Some(v) => Some(check_name("name", v)?),
        None => None,
    };
    let metadata = match a.get("metadata") {
        Some(v) => Some(metadata_field("metadata", v)?),
        None => None,
    };
    let description = if ctx.at_least(19) && a.contains_key("description") {
        Some(opt_string(a, "description", 255, true)?)
    } else {
        None
    };
    let admin_pass = opt_string(a, "adminPass", usize::MAX, false)?;
    let _ = opt_bool(a, "preserve_ephemeral")?;
    let key_name: Option<Option<String>> = if ctx.at_least(54) && a.contains_key("key_name") {
        Some(opt_string(a, "key_name", 255, true)?)
    } else {
        None
    };
    let user_data: Option<Option<String>> = if ctx.at_least(57) && a.contains_key("user_data") {
        Some(opt_string(a, "user_data", 65535, true)?)
    } else {
        None
    };
    let (access_ipv4, access_ipv6) = super::servers::access_ips(a, false)?;
    check_keys("rebuild", a, &allowed, &["imageRef"])?;
    let image_ref = match &a["imageRef"] {
        Value::String(s) if super::ctx::is_uuid_like(s) => s.clone(),
        other => {
            return Err(field_error(
                "imageRef",
                other,
                &format!("{} is not a 'uuid'", py_repr(other)),
            ))
        }
    };
    let img = pod
        .images()
        .get_visible(&image_ref, ctx.project(), ctx.is_admin())
        .ok_or_else(|| NovaError::bad_request("Cannot find image for rebuild"))?;
    if img.status != "active" {
        return Err(NovaError::bad_request(format!(
            "Image {image_ref} is not active."
        )));
    }
    if let Some(Some(k)) = &key_name {
        let exists = pod.compute().with(|st| {
            st.keypairs
                .iter()
                .any(|kp| kp.user_id == ctx.user() && &kp.name == k)
        });
        if !exists {
            return Err(NovaError::bad_request("Invalid key_name provided."));
        }
    }
    let server = act(
        pod,
        ctx,
        id,
        "rebuild",
        Some(&["active", "stopped", "error"]),
        true,
        |s| {
            if s.image_ref.is_empty() && image_ref != s.image_ref && !ctx.at_least(93) {
                return Err(NovaError::bad_request(
                    "Unable to rebuild with a different image for a volume-backed server.",
                ));
            }
            if let Some(n) = name {
                s.name = n;
            }
            if let Some(m) = metadata {
                s.metadata = m;
            }
            if let Some(d) = description {
                s.description = d;
            }
            if let Some(k) = key_name {
                s.key_name = k;
            }
            if let Some(u) = user_data {
                s.user_data = u;
            }
            if let Some(ip) = access_ipv4 {
                s.access_ipv4 = ip;
            }
            if let Some(ip) = access_ipv6 {
                s.access_ipv6 = ip;
            }
            if !s.image_ref.is_empty() {
                s.image_ref = image_ref.clone();
            }
            let (vm, power) = match s.vm_state {
                "stopped" => ("stopped", SHUTDOWN),
                _ => ("active", RUNNING),
            };
            s.begin("rebuilding", TASK_TIME, Step::Set { vm, power });
            s.record("rebuild", ctx.user(), ctx.project());
            Ok(s.clone())
        },
    )?;
    let mut server = server;
    super::interfaces::refresh(pod, std::slice::from_mut(&mut server));
    let mut v = view::server(ctx, &server, ViewOpts::update(ctx, true));
    super::groups::fill_groups(pod, &mut v);
    v["adminPass"] = json!(admin_pass.unwrap_or_else(|| crate::util::random_urlsafe(12)));
    if ctx.at_least(57) {
        v["user_data"] = json!(server.user_data);
    }
    let mut resp = (StatusCode::ACCEPTED, Json(json!({"server": v}))).into_response();
    if let Ok(h) = HeaderValue::from_str(&format!("{}/servers/{}", ctx.api_url(), server.id)) {
        resp.headers_mut().insert(header::LOCATION, h);
    }
    Ok(resp)
}
