//! `POST /servers/{id}/remote-consoles` (2.6+).

use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

use super::server_of;
use crate::compute::ctx::{check_keys, field_error, wrapper, Ctx, NBody, P};
use crate::compute::error::{NResult, NovaError};
use crate::image::schema::{py_repr, py_str};
use crate::pod::Pod;

/// `POST /servers/{id}/remote-consoles` (2.6+).
pub(crate) async fn remote_console(
    State(pod): State<Pod>,
    ctx: Ctx,
    p: P,
    NBody(body): NBody,
) -> NResult<Json<Value>> {
    if !ctx.at_least(6) {
        return Err(NovaError::resource_not_found());
    }
    let req = wrapper(&body, "remote_console", &[])?;
    check_keys(
        "remote_console",
        req,
        &["protocol", "type"],
        &["protocol", "type"],
    )?;
    let protocol = req["protocol"].as_str().unwrap_or("");
    let kind = req["type"].as_str().unwrap_or("");
    let protocols: &[&str] = if ctx.at_least(8) {
        &["vnc", "spice", "rdp", "serial", "mks"]
    } else {
        &["vnc", "spice", "rdp", "serial"]
    };
    if !protocols.contains(&protocol) {
        return Err(field_error(
            "protocol",
            &req["protocol"],
            &format!(
                "{} is not one of {}",
                py_str(protocol),
                py_repr(&json!(protocols))
            ),
        ));
    }
    let valid = match protocol {
        "vnc" => ["novnc", "xvpvnc"].contains(&kind),
        "spice" => kind == "spice-html5",
        "rdp" => kind == "rdp-html5",
        "serial" => kind == "serial",
        _ => kind == "webmks",
    };
    if !valid {
        return Err(NovaError::bad_request(format!(
            "Unsupported protocol {protocol} and type {kind} combination"
        )));
    }
    let s = server_of(&pod, &ctx, &p)?;
    if s.vm_state == "building" {
        return Err(NovaError::conflict(format!(
            "Instance {} is not ready",
            s.id
        )));
    }
    Ok(Json(json!({"remote_console": {
        "protocol": protocol,
        "type": kind,
        "url": crate::compute::actions::console_url(&ctx, kind),
    }})))
}
