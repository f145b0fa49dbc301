//! Console actions: `os-getConsoleOutput` (a made-up boot log) and
//! `os-getVNCConsole`.

use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Map, Value};

use super::args;
use crate::compute::ctx::{check_keys, field_error, Ctx};
use crate::compute::error::{NResult, NovaError};
use crate::compute::model::Server;
use crate::compute::servers::find;
use crate::image::schema::py_repr;
use crate::pod::Pod;

/// `os-getConsoleOutput`: the last `length` lines of the boot log.
pub(super) fn console_output(pod: &Pod, ctx: &Ctx, id: &str, arg: &Value) -> NResult<Response> {
    let empty = Map::new();
    let a = args("os-getConsoleOutput", arg, &empty)?;
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
    let s = pod.compute().with(|st| find(st, ctx, id).cloned())?;
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

/// `os-getVNCConsole` (before 2.6).
pub(super) fn vnc_console(pod: &Pod, ctx: &Ctx, id: &str, arg: &Value) -> NResult<Response> {
    if ctx.at_least(6) {
        return Err(NovaError::resource_not_found());
    }
    let empty = Map::new();
    let a = args("os-getVNCConsole", arg, &empty)?;
    check_keys("os-getVNCConsole", a, &["type"], &["type"])?;
    let t = a["type"].as_str().unwrap_or("");
    if !["novnc", "xvpvnc"].contains(&t) {
        return Err(field_error(
            "type",
            &a["type"],
            &format!("{} is not one of ['novnc', 'xvpvnc']", py_repr(&a["type"])),
        ));
    }
    let s = pod.compute().with(|st| find(st, ctx, id).cloned())?;
    if s.vm_state == "building" {
        return Err(NovaError::conflict(format!("Instance {id} is not ready")));
    }
    Ok(Json(json!({"console": {"type": t, "url": console_url(ctx, t)}})).into_response())
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
