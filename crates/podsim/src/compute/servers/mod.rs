//! `/servers`: create, list (index and detail), show, update, delete.

mod boot_request;
mod create;
mod list;
mod quota;
mod sort;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::Utc;
use serde_json::{json, Value};

pub(crate) use self::create::create;
pub(crate) use self::list::{detail, index};
use super::ctx::{check_keys, check_name, field_error, opt_string, wrapper, Ctx, NBody, P};
use super::error::{NResult, NovaError};
use super::interfaces;
use super::model::{Server, State as NovaState, Step};
use super::view::{self, ViewOpts};
use super::DELETE_TIME;
use crate::image::schema::{py_repr, py_str};
use crate::network::Vif;
use crate::pod::Pod;

/// A server the caller may see (own project, or any for admins).
pub(crate) fn find<'a>(st: &'a NovaState, ctx: &Ctx, id: &str) -> NResult<&'a Server> {
    st.server(id)
        .filter(|s| ctx.is_admin() || s.project_id == ctx.project())
        .ok_or_else(|| NovaError::instance_not_found(id))
}

/// Mutable form of [`find`].
pub(crate) fn find_mut<'a>(st: &'a mut NovaState, ctx: &Ctx, id: &str) -> NResult<&'a mut Server> {
    let admin = ctx.is_admin();
    let project = ctx.project().to_string();
    st.server_mut(id)
        .filter(|s| admin || s.project_id == project)
        .ok_or_else(|| NovaError::instance_not_found(id))
}

/// Nova's `sanitize_hostname`.
pub(crate) fn sanitize_hostname(name: &str, id: &str) -> String {
    let mut h: String = name
        .to_lowercase()
        .replace([' ', '_'], "-")
        .chars()
        .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '.' || *c == '-')
        .collect();
    h.truncate(63);
    let h = h.trim_matches(|c| c == '.' || c == '-').to_string();
    if h.is_empty() {
        format!("server-{id}")
    } else {
        h
    }
}

fn is_ipv4(s: &str) -> bool {
    s.parse::<std::net::Ipv4Addr>().is_ok()
}

fn is_ipv6(s: &str) -> bool {
    s.parse::<std::net::Ipv6Addr>().is_ok()
}

/// `accessIPv4` / `accessIPv6` of a create, update or rebuild body,
/// checked by Nova's formats; an IPv6 address is kept in its shortened
/// form, as Nova stores it (`2001:DB8:0:0::1` → `2001:db8::1`).
pub(crate) fn access_ips(
    req: &serde_json::Map<String, Value>,
    allow_empty: bool,
) -> NResult<(Option<String>, Option<String>)> {
    let v4 = opt_string(req, "accessIPv4", usize::MAX, false)?;
    if let Some(ip) = v4.as_deref().filter(|ip| !(allow_empty && ip.is_empty())) {
        if !is_ipv4(ip) {
            return Err(field_error(
                "accessIPv4",
                &json!(ip),
                &format!("{} is not a 'ipv4'", py_str(ip)),
            ));
        }
    }
    let v6 = match opt_string(req, "accessIPv6", usize::MAX, false)? {
        Some(ip) if allow_empty && ip.is_empty() => Some(ip),
        Some(ip) => match ip.parse::<std::net::Ipv6Addr>() {
            Ok(addr) => Some(addr.to_string()),
            Err(_) => {
                return Err(field_error(
                    "accessIPv6",
                    &json!(ip),
                    &format!("{} is not a 'ipv6'", py_str(&ip)),
                ))
            }
        },
        None => None,
    };
    Ok((v4, v6))
}

/// A server tag (`^[^,/]*$`, 1..60 characters).
pub(crate) fn sub_tag_check(t: &Value) -> NResult<String> {
    let Some(s) = t.as_str() else {
        return Err(field_error(
            "tags",
            t,
            &format!("{} is not of type 'string'", py_repr(t)),
        ));
    };
    if s.is_empty() || s.chars().count() > 60 || s.contains(',') || s.contains('/') {
        return Err(field_error(
            "0",
            t,
            &if s.is_empty() {
                "'' should be non-empty".to_string()
            } else if s.chars().count() > 60 {
                format!("{} is too long", py_str(s))
            } else {
                format!("{} does not match '^[^,/]*$'", py_str(s))
            },
        ));
    }
    Ok(s.to_string())
}

// ------------------------------------------------- show, update, delete

/// `GET /servers/{id}`.
pub(crate) async fn show(State(pod): State<Pod>, ctx: Ctx, p: P) -> NResult<Json<Value>> {
    let s = interfaces::server_with_nics(&pod, &ctx, p.get("server_id"))?;
    let mut v = view::server(&ctx, &s, ViewOpts::show(&ctx));
    super::groups::fill_groups(&pod, &mut v);
    Ok(Json(json!({ "server": v })))
}

/// `PUT /servers/{id}`.
pub(crate) async fn update(
    State(pod): State<Pod>,
    ctx: Ctx,
    p: P,
    NBody(body): NBody,
) -> NResult<Json<Value>> {
    let id = p.get("server_id").to_string();
    let req = wrapper(&body, "server", &[])?;
    let mut allowed = vec!["name", "OS-DCF:diskConfig", "accessIPv4", "accessIPv6"];
    if ctx.at_least(19) {
        allowed.push("description");
    }
    if ctx.at_least(90) {
        allowed.push("hostname");
    }
    let name = match req.get("name") {
        Some(v) => Some(check_name("name", v)?),
        None => None,
    };
    let description = if ctx.at_least(19) && req.contains_key("description") {
        Some(opt_string(req, "description", 255, true)?)
    } else {
        None
    };
    let disk_config = match req.get("OS-DCF:diskConfig") {
        None => None,
        Some(Value::String(s)) if s == "AUTO" || s == "MANUAL" => Some(s == "AUTO"),
        Some(other) => {
            return Err(field_error(
                "OS-DCF:diskConfig",
                other,
                &format!("{} is not one of ['AUTO', 'MANUAL']", py_repr(other)),
            ))
        }
    };
    let (v4, v6) = access_ips(req, false)?;
    let hostname = if ctx.at_least(90) {
        opt_string(req, "hostname", 63, false)?
    } else {
        None
    };
    check_keys("server", req, &allowed, &[])?;
    let s = pod.compute().with(|st| -> NResult<Server> {
        let s = find_mut(st, &ctx, &id)?;
        if let Some(n) = name {
            s.name = n;
        }
        if let Some(d) = description {
            s.description = d;
        }
        if let Some(d) = disk_config {
            s.auto_disk_config = d;
        }
        if let Some(ip) = v4 {
            s.access_ipv4 = ip;
        }
        if let Some(ip) = v6 {
            s.access_ipv6 = ip;
        }
        if let Some(h) = hostname {
            s.hostname = h;
        }
        s.updated_at = Utc::now();
        Ok(s.clone())
    })?;
    let mut s = s;
    interfaces::refresh(&pod, std::slice::from_mut(&mut s));
    let mut v = view::server(&ctx, &s, ViewOpts::update(&ctx, false));
    super::groups::fill_groups(&pod, &mut v);
    Ok(Json(json!({ "server": v })))
}

/// `DELETE /servers/{id}`: task state `deleting`, gone after
/// [`DELETE_TIME`]; attached volumes are detached.
pub(crate) async fn delete(State(pod): State<Pod>, ctx: Ctx, p: P) -> NResult<StatusCode> {
    let id = p.get("server_id").to_string();
    delete_server(&pod, &ctx, &id, "delete")?;
    Ok(StatusCode::NO_CONTENT)
}

/// An attached volume id and whether it goes with the server.
type VolumeToDetach = (String, bool);

/// Deletes a server (also `forceDelete`).
pub(crate) fn delete_server(pod: &Pod, ctx: &Ctx, id: &str, action: &str) -> NResult<()> {
    let (volumes, vifs) = pod
        .compute()
        .with(|st| -> NResult<(Vec<VolumeToDetach>, Vec<Vif>)> {
            let delete_time = st.delete_time.unwrap_or(DELETE_TIME);
            let s = find_mut(st, ctx, id)?;
            if s.is_locked() && !ctx.is_admin() {
                return Err(NovaError::locked(id));
            }
            let vols: Vec<(String, bool)> = s
                .volumes
                .iter()
                .map(|v| (v.volume_id.clone(), v.delete_on_termination))
                .collect();
            s.volumes.clear();
            let vifs = std::mem::take(&mut s.nics);
            if s.task_state != Some("deleting") {
                s.begin("deleting", delete_time, Step::Delete);
                s.record(action, ctx.user(), ctx.project());
            }
            Ok((vols, vifs))
        })?;
    // Ports Nova made go; the user's are unbound (`preserve_on_delete`).
    pod.network().release(id, &vifs);
    for (v, delete_on_termination) in volumes {
        if pod.volume().detach(&v, id).is_ok() && delete_on_termination {
            let _ = pod.volume().delete_volume(&v);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostnames() {
        assert_eq!(sanitize_hostname("My Server_1", "x"), "my-server-1");
        assert_eq!(sanitize_hostname("--", "abc"), "server-abc");
        assert_eq!(sanitize_hostname("a.b-", "x"), "a.b");
    }
}
