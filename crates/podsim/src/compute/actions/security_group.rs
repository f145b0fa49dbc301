//! `addSecurityGroup` and `removeSecurityGroup`.

use axum::response::Response;
use chrono::Utc;
use serde_json::Value;

use super::accepted;
use crate::compute::ctx::Ctx;
use crate::compute::error::{NResult, NovaError};
use crate::compute::interfaces;
use crate::compute::servers::find_mut;
use crate::network::GroupChangeError;
use crate::pod::Pod;

/// Adds (`add`) or removes a security group on the server's ports.
pub(super) fn change(pod: &Pod, ctx: &Ctx, id: &str, arg: &Value, add: bool) -> NResult<Response> {
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
    // Nova changes the groups of the server's ports in Neutron; its
    // view shows what the ports have.
    let s = interfaces::server_with_nics(pod, ctx, id)?;
    pod.network()
        .change_server_group(&s.project_id, id, &s.nics, &sg, add)
        .map_err(|e| match e {
            GroupChangeError::NotFound(m) => NovaError::not_found(m),
            GroupChangeError::NotUnique(m) => NovaError::conflict(m),
            GroupChangeError::CannotBeApplied => NovaError::bad_request(
                "Network requires port_security_enabled and subnet associated in order to apply security groups.",
            ),
        })?;
    pod.compute().with(|st| {
        if let Ok(s) = find_mut(st, ctx, id) {
            s.updated_at = Utc::now();
        }
    });
    Ok(accepted())
}
