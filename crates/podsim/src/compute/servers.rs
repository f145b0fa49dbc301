//! `/servers`: create, list (index and detail), show, update, delete.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine;
use chrono::{DateTime, Utc};
use rand::Rng;
use regex::Regex;
use serde_json::{json, Value};

use super::ctx::{
    check_keys, check_name, field_error, int_field, is_uuid_like, metadata_field, opt_bool,
    opt_string, parse_time, wrapper, Ctx, NBody, BASE64, P,
};
use super::error::{NResult, NovaError};
use super::interfaces;
use super::model::{Server, State as NovaState, Step, VolAttach, NOSTATE};
use super::view::{self, ViewOpts};
use super::{host_name, BUILD_TIME, DELETE_TIME};
use crate::image::schema::{py_repr, py_str};
use crate::network::{NicRequest, Vif};
use crate::pod::Pod;
use crate::volume::AttachError;

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

fn random_password() -> String {
    const CHARS: &[u8] = b"23456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
    let mut rng = rand::rng();
    (0..12)
        .map(|_| char::from(CHARS[rng.random_range(0..CHARS.len())]))
        .collect()
}

/// Whether Python's `base64.decodebytes` accepts `s` (Nova's `base64`
/// format for `user_data`). Its `binascii` decoder skips bytes outside the
/// alphabet, ignores `=` until two characters of a quantum are in, and
/// stops at the first padding that completes a quantum; what it kept must
/// then be whole quanta.
fn is_python_base64(s: &str) -> bool {
    let mut kept = String::with_capacity(s.len());
    let mut pads = 0;
    for c in s.chars() {
        if c == '=' {
            let quad = kept.len() % 4;
            if quad >= 2 {
                pads += 1;
                if quad + pads >= 4 {
                    kept.push_str(&"=".repeat(4 - quad));
                    break;
                }
            }
        } else if c.is_ascii_alphanumeric() || c == '+' || c == '/' {
            kept.push(c);
            pads = 0;
        }
    }
    BASE64.decode(kept).is_ok()
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

/// The `networks` of a boot.
#[derive(Debug, Clone)]
enum Networks {
    /// `"auto"` (2.37).
    Auto,
    /// No `networks`, or `[]`: the project's network, if it has one.
    Default,
    /// `"none"` (2.37).
    None,
    List(Vec<NicRequest>),
}

fn parse_networks(ctx: &Ctx, v: Option<&Value>) -> NResult<Networks> {
    let Some(v) = v else {
        return Ok(Networks::Default);
    };
    let tag_ok = (32..=36).contains(&ctx.ver.minor) || ctx.at_least(42);
    match v {
        Value::String(s) if ctx.at_least(37) => match s.as_str() {
            "auto" => Ok(Networks::Auto),
            "none" => Ok(Networks::None),
            _ => Err(field_error(
                "networks",
                v,
                &format!("{} is not valid under any of the given schemas", py_repr(v)),
            )),
        },
        Value::Array(items) => {
            let mut out = Vec::new();
            for item in items {
                let Some(obj) = item.as_object() else {
                    return Err(field_error(
                        "networks",
                        v,
                        &format!("{} is not of type 'object'", py_repr(item)),
                    ));
                };
                let mut allowed = vec!["fixed_ip", "port", "uuid"];
                if tag_ok {
                    allowed.push("tag");
                }
                let extra: Vec<&str> = obj
                    .keys()
                    .map(String::as_str)
                    .filter(|k| !allowed.contains(k))
                    .collect();
                if !extra.is_empty() {
                    let msg = super::ctx::additional_message(&extra);
                    return Err(if ctx.at_least(37) {
                        field_error(
                            "networks",
                            v,
                            &format!("{} is not valid under any of the given schemas", py_repr(v)),
                        )
                    } else {
                        field_error("0", item, &msg)
                    });
                }
                let uuid = match obj.get("uuid") {
                    None => None,
                    Some(Value::String(u)) => Some(u.clone()),
                    Some(other) => {
                        return Err(field_error(
                            "uuid",
                            other,
                            &format!("{} is not of type 'string'", py_repr(other)),
                        ))
                    }
                };
                let port = match obj.get("port") {
                    None | Some(Value::Null) => None,
                    Some(Value::String(p)) => Some(p.clone()),
                    Some(other) => {
                        return Err(field_error(
                            "port",
                            other,
                            &format!("{} is not of type 'string', 'null'", py_repr(other)),
                        ))
                    }
                };
                let fixed_ip = match obj.get("fixed_ip") {
                    None => None,
                    Some(Value::String(ip)) if is_ipv4(ip) || is_ipv6(ip) => Some(ip.clone()),
                    Some(other) => {
                        return Err(field_error(
                            "fixed_ip",
                            other,
                            &format!(
                                "{} is not valid under any of the given schemas",
                                py_repr(other)
                            ),
                        ))
                    }
                };
                if let Some(u) = &uuid {
                    if !is_uuid_like(u) {
                        return Err(if ctx.at_least(37) {
                            field_error(
                                "networks",
                                v,
                                &format!(
                                    "{} is not valid under any of the given schemas",
                                    py_repr(v)
                                ),
                            )
                        } else {
                            NovaError::bad_request(format!(
                                "Bad networks format: network uuid is not in proper format ({u})"
                            ))
                        });
                    }
                }
                let tag = obj.get("tag").and_then(Value::as_str).map(str::to_string);
                match (port, uuid) {
                    (Some(port), _) => {
                        let twice = out
                            .iter()
                            .any(|n| matches!(n, NicRequest::Port { id, .. } if *id == port));
                        if twice {
                            return Err(NovaError::bad_request(format!(
                                "Port ID '{port}' was specified twice: you cannot attach a \
                                 port multiple times."
                            )));
                        }
                        if let Some(addr) = fixed_ip {
                            return Err(NovaError::bad_request(format!(
                                "Specified Fixed IP '{addr}' cannot be used with port \
                                 '{port}': the two cannot be specified together."
                            )));
                        }
                        out.push(NicRequest::Port { id: port, tag });
                    }
                    (None, Some(id)) => out.push(NicRequest::Network { id, fixed_ip, tag }),
                    (None, None) => {
                        return Err(NovaError::bad_request("Bad network format: missing 'uuid'"))
                    }
                }
            }
            // An empty list lets Neutron pick the project's networks.
            if out.is_empty() {
                return Ok(Networks::Default);
            }
            Ok(Networks::List(out))
        }
        other => Err(field_error(
            "networks",
            other,
            &format!("{} is not of type 'array'", py_repr(other)),
        )),
    }
}

/// A requested block device mapping with a volume.
#[derive(Debug, Clone)]
struct BdmVolume {
    volume_id: String,
    boot_index: Option<i64>,
    delete_on_termination: bool,
    device: Option<String>,
    tag: Option<String>,
}

/// `(volumes to attach, root is a volume, image of an image→volume root)`.
fn parse_bdms(ctx: &Ctx, v: Option<&Value>) -> NResult<(Vec<BdmVolume>, bool, Option<String>)> {
    let Some(v) = v else {
        return Ok((Vec::new(), false, None));
    };
    let Some(items) = v.as_array() else {
        return Err(field_error(
            "block_device_mapping_v2",
            v,
            &format!("{} is not of type 'array'", py_repr(v)),
        ));
    };
    let mut allowed = vec![
        "virtual_name",
        "volume_id",
        "snapshot_id",
        "volume_size",
        "device_name",
        "delete_on_termination",
        "no_device",
        "connection_info",
        "source_type",
        "uuid",
        "image_id",
        "destination_type",
        "guest_format",
        "device_type",
        "disk_bus",
        "boot_index",
    ];
    if ctx.at_least(32) && !(33..=41).contains(&ctx.ver.minor) || ctx.at_least(42) {
        allowed.push("tag");
    }
    if ctx.at_least(67) {
        allowed.push("volume_type");
    }
    let mut vols = Vec::new();
    let mut root_volume = false;
    let mut root_image = None;
    for item in items {
        let Some(obj) = item.as_object() else {
            return Err(field_error(
                "block_device_mapping_v2",
                v,
                &format!("{} is not of type 'object'", py_repr(item)),
            ));
        };
        check_keys("0", obj, &allowed, &[])?;
        let source = obj.get("source_type").and_then(Value::as_str).unwrap_or("");
        if !source.is_empty() && !["volume", "image", "snapshot", "blank"].contains(&source) {
            return Err(field_error(
                "source_type",
                &json!(source),
                &format!(
                    "{} is not one of ['volume', 'image', 'snapshot', 'blank']",
                    py_str(source)
                ),
            ));
        }
        let dest = obj
            .get("destination_type")
            .and_then(Value::as_str)
            .unwrap_or("");
        let boot_index = match obj.get("boot_index") {
            None | Some(Value::Null) => None,
            Some(Value::Number(n)) => n.as_i64(),
            Some(Value::String(s)) => Some(s.parse::<i64>().map_err(|_| {
                field_error(
                    "boot_index",
                    &json!(s),
                    &format!("{} does not match '^-?[0-9]+$'", py_str(s)),
                )
            })?),
            Some(other) => {
                return Err(field_error(
                    "boot_index",
                    other,
                    &format!(
                        "{} is not of type 'integer', 'string', 'null'",
                        py_repr(other)
                    ),
                ))
            }
        };
        let uuid = obj
            .get("uuid")
            .and_then(Value::as_str)
            .or_else(|| obj.get("volume_id").and_then(Value::as_str))
            .map(str::to_string);
        let delete_on_termination = opt_bool(obj, "delete_on_termination")?.unwrap_or(false);
        let is_root = boot_index == Some(0);
        match source {
            "volume" => {
                let Some(id) = uuid else {
                    return Err(NovaError::bad_request(
                        "Block Device Mapping is Invalid: Missing device UUID.",
                    ));
                };
                if is_root {
                    root_volume = true;
                }
                vols.push(BdmVolume {
                    volume_id: id,
                    boot_index,
                    delete_on_termination,
                    device: obj
                        .get("device_name")
                        .and_then(Value::as_str)
                        .map(str::to_string),
                    tag: obj.get("tag").and_then(Value::as_str).map(str::to_string),
                });
            }
            "image" if is_root && dest == "volume" => {
                root_volume = true;
                root_image = uuid;
            }
            _ => {}
        }
    }
    Ok((vols, root_volume, root_image))
}

/// `POST /servers`.
pub(crate) async fn create(
    State(pod): State<Pod>,
    ctx: Ctx,
    NBody(body): NBody,
) -> NResult<Response> {
    let req = wrapper(
        &body,
        "server",
        &["os:scheduler_hints", "OS-SCH-HNT:scheduler_hints"],
    )?;
    for hints_key in ["os:scheduler_hints", "OS-SCH-HNT:scheduler_hints"] {
        if let Some(h) = body.get(hints_key) {
            if !h.is_object() {
                return Err(field_error(
                    hints_key,
                    h,
                    &format!("{} is not of type 'object'", py_repr(h)),
                ));
            }
        }
    }
    let mut allowed = vec![
        "name",
        "imageRef",
        "flavorRef",
        "adminPass",
        "metadata",
        "networks",
        "OS-DCF:diskConfig",
        "accessIPv4",
        "accessIPv6",
        "availability_zone",
        "block_device_mapping",
        "block_device_mapping_v2",
        "config_drive",
        "key_name",
        "min_count",
        "max_count",
        "return_reservation_id",
        "security_groups",
        "user_data",
    ];
    if !ctx.at_least(57) {
        allowed.push("personality");
    }
    if ctx.at_least(19) {
        allowed.push("description");
    }
    if ctx.at_least(52) {
        allowed.push("tags");
    }
    if ctx.at_least(63) {
        allowed.push("trusted_image_certificates");
    }
    if ctx.at_least(74) {
        allowed.extend(["host", "hypervisor_hostname"]);
    }
    if ctx.at_least(90) {
        allowed.push("hostname");
    }
    let mut required = vec!["name", "flavorRef"];
    if ctx.at_least(37) {
        required.push("networks");
    }

    // Field checks (jsonschema's `properties` come first).
    let name = match req.get("name") {
        Some(v) => Some(check_name("name", v)?),
        None => None,
    };
    let image_ref = match req.get("imageRef") {
        None => String::new(),
        Some(Value::String(s)) if s.is_empty() || is_uuid_like(s) => s.clone(),
        Some(other) => {
            return Err(field_error(
                "imageRef",
                other,
                &format!(
                    "{} is not valid under any of the given schemas",
                    py_repr(other)
                ),
            ))
        }
    };
    let flavor_ref = match req.get("flavorRef") {
        None => String::new(),
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        Some(other) => {
            return Err(field_error(
                "flavorRef",
                other,
                &if other.is_string() {
                    "'' should be non-empty".to_string()
                } else {
                    format!("{} is not of type 'string', 'integer'", py_repr(other))
                },
            ))
        }
    };
    let flavor_ref = flavor_ref
        .rsplit('/')
        .next()
        .unwrap_or(&flavor_ref)
        .to_string();
    let admin_pass = opt_string(req, "adminPass", usize::MAX, false)?;
    let metadata = match req.get("metadata") {
        Some(v) => metadata_field("metadata", v)?,
        None => BTreeMap::new(),
    };
    let networks = parse_networks(&ctx, req.get("networks"))?;
    let disk_config = match req.get("OS-DCF:diskConfig") {
        None => false,
        Some(Value::String(s)) if s == "AUTO" => true,
        Some(Value::String(s)) if s == "MANUAL" => false,
        Some(other) => {
            return Err(field_error(
                "OS-DCF:diskConfig",
                other,
                &format!("{} is not one of ['AUTO', 'MANUAL']", py_repr(other)),
            ))
        }
    };
    let (access_ipv4, access_ipv6) = access_ips(req, true)?;
    let (access_ipv4, access_ipv6) = (
        access_ipv4.unwrap_or_default(),
        access_ipv6.unwrap_or_default(),
    );
    let az = match req.get("availability_zone") {
        Some(v) => Some(check_name("availability_zone", v)?),
        None => None,
    };
    let (bdm_volumes, volume_root, root_image) =
        parse_bdms(&ctx, req.get("block_device_mapping_v2"))?;
    let config_drive = opt_bool(req, "config_drive")?.unwrap_or(false);
    let key_name = match req.get("key_name") {
        Some(v) => Some(check_name("key_name", v)?),
        None => None,
    };
    let min_count = match req.get("min_count") {
        Some(v) => int_field("min_count", v, 1, i64::MAX)?,
        None => 1,
    };
    let max_count = match req.get("max_count") {
        Some(v) => int_field("max_count", v, 1, i64::MAX)?,
        None => min_count,
    };
    let return_reservation_id = opt_bool(req, "return_reservation_id")?.unwrap_or(false);
    let security_groups: Option<Vec<String>> = match req.get("security_groups") {
        None => None,
        Some(Value::Array(items)) => {
            let mut out = Vec::new();
            for item in items {
                let Some(obj) = item.as_object() else {
                    return Err(field_error(
                        "security_groups",
                        item,
                        &format!("{} is not of type 'object'", py_repr(item)),
                    ));
                };
                check_keys("0", obj, &["name"], &[])?;
                if let Some(n) = obj.get("name") {
                    let n = check_name("name", n)?;
                    if !out.contains(&n) {
                        out.push(n);
                    }
                }
            }
            Some(out)
        }
        Some(other) => {
            return Err(field_error(
                "security_groups",
                other,
                &format!("{} is not of type 'array'", py_repr(other)),
            ))
        }
    };
    let user_data = match req.get("user_data") {
        None => None,
        Some(Value::String(s)) => {
            if s.chars().count() > 65535 {
                return Err(field_error(
                    "user_data",
                    &json!(s),
                    &format!("{} is too long", py_str(s)),
                ));
            }
            if !is_python_base64(s) {
                return Err(field_error(
                    "user_data",
                    &json!(s),
                    &format!("{} is not a 'base64'", py_str(s)),
                ));
            }
            Some(s.clone())
        }
        Some(other) => {
            return Err(field_error(
                "user_data",
                other,
                &format!("{} is not of type 'string'", py_repr(other)),
            ))
        }
    };
    let description = if ctx.at_least(19) {
        opt_string(req, "description", 255, true)?
    } else {
        None
    };
    let tags: Vec<String> = match req.get("tags") {
        Some(Value::Array(items)) if ctx.at_least(52) => {
            if items.len() > 50 {
                return Err(field_error(
                    "tags",
                    &Value::Array(items.clone()),
                    &format!("{} is too long", py_repr(&Value::Array(items.clone()))),
                ));
            }
            let mut out = Vec::new();
            for t in items {
                let s = sub_tag_check(t)?;
                if !out.contains(&s) {
                    out.push(s);
                }
            }
            out
        }
        Some(other) if ctx.at_least(52) => {
            return Err(field_error(
                "tags",
                other,
                &format!("{} is not of type 'array'", py_repr(other)),
            ))
        }
        _ => Vec::new(),
    };
    let trusted_certs = match req.get("trusted_image_certificates") {
        Some(Value::Array(a)) if ctx.at_least(63) => Some(
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect::<Vec<_>>(),
        ),
        _ => None,
    };
    let hostname = if ctx.at_least(90) {
        opt_string(
            req,
            "hostname",
            if ctx.at_least(94) { 255 } else { 63 },
            false,
        )?
    } else {
        None
    };
    check_keys("server", req, &allowed, &required)?;
    let Some(name) = name else {
        return Err(NovaError::bad_request("'name' is a required property"));
    };

    if min_count > max_count {
        return Err(NovaError::bad_request("min_count must be <= max_count"));
    }
    if image_ref.is_empty() && !volume_root {
        return Err(NovaError::bad_request("Missing imageRef attribute"));
    }

    // The availability zone (`az`, `az:host`, `az:host:node`).
    let pod_az = pod.config().availability_zone.clone();
    let requested_az = az
        .as_deref()
        .map(|a| a.split(':').next().unwrap_or("").to_string())
        .filter(|a| !a.is_empty());
    if let Some(a) = &requested_az {
        if a != &pod_az {
            return Err(NovaError::bad_request(
                "The requested availability zone is not available",
            ));
        }
    }
    if az.as_deref().is_some_and(|a| a.contains(':')) {
        ctx.require_admin("os_compute_api:servers:create:forced_host")?;
    }

    // The image (Glance), unless booting from a volume.
    let boot_image_id = if image_ref.is_empty() {
        root_image.clone()
    } else {
        Some(
            image_ref
                .rsplit('/')
                .next()
                .unwrap_or(&image_ref)
                .to_string(),
        )
    };
    let image = match &boot_image_id {
        None => None,
        Some(id) => {
            let img = pod
                .images()
                .get_visible(id, ctx.project(), ctx.is_admin())
                .ok_or_else(|| NovaError::bad_request("Can not find requested image"))?;
            if img.status != "active" {
                return Err(NovaError::bad_request(format!("Image {id} is not active.")));
            }
            Some(img)
        }
    };

    // Networks and security groups (Neutron; never under the compute lock).
    if max_count > 1 {
        if let Networks::List(items) = &networks {
            for it in items {
                match it {
                    NicRequest::Network {
                        fixed_ip: Some(_), ..
                    } => {
                        return Err(NovaError::bad_request(
                            "Failed to launch instances: max_count cannot be greater than 1 if \
                             an fixed_ip is specified.",
                        ))
                    }
                    NicRequest::Port { .. } => {
                        return Err(NovaError::bad_request(
                            "Failed to launch instances: Unable to launch multiple instances \
                             with a single configured port ID. Please launch your instance one \
                             by one with different ports.",
                        ))
                    }
                    NicRequest::Network { .. } => {}
                }
            }
        }
    }
    let sg_names: Vec<String> = security_groups
        .clone()
        .unwrap_or_else(|| vec!["default".to_string()]);
    let port_groups = interfaces::security_groups_for_ports(&pod, ctx.project(), &sg_names)
        .map_err(interfaces::boot_error)?;
    let nics = {
        let net = pod.network();
        let (project, admin) = (ctx.project(), ctx.is_admin());
        match &networks {
            Networks::None => Ok(Vec::new()),
            Networks::Auto => net.plan_nics(project, admin, None, true),
            Networks::Default => net.plan_nics(project, admin, None, false),
            Networks::List(items) => net.plan_nics(project, admin, Some(items), false),
        }
        .map_err(interfaces::boot_error)?
    };

    let group = super::groups::hinted_group(&body)?;
    let ctx2 = ctx.clone();
    let pod2 = pod.clone();
    // Everything that needs the compute state.
    let prepared = pod.compute().with(|st| -> NResult<Vec<Server>> {
        let flavor = st
            .flavor(&flavor_ref)
            .filter(|f| f.visible_to(ctx2.project(), ctx2.is_admin()))
            .cloned()
            .ok_or_else(|| NovaError::bad_request(format!(
                "Flavor {flavor_ref} could not be found."
            )))?;
        if flavor.disabled {
            return Err(NovaError::bad_request(format!(
                "Flavor {flavor_ref} could not be found."
            )));
        }
        if let Some(img) = &image {
            if flavor.ram < img.min_ram {
                return Err(NovaError::bad_request(
                    "Flavor's memory is too small for requested image.",
                ));
            }
            if !volume_root {
                let dest = flavor.disk * (1 << 30);
                if dest != 0 {
                    let size = img.size.unwrap_or(0);
                    if size > dest {
                        return Err(NovaError::bad_request(format!(
                            "Flavor's disk is too small for requested image. Flavor disk is {dest} bytes, image is {size} bytes."
                        )));
                    }
                    let min_disk = img.min_disk * (1 << 30);
                    if min_disk > dest {
                        return Err(NovaError::bad_request(format!(
                            "Flavor's disk is smaller than the minimum size specified in image metadata. Flavor disk is {dest} bytes, minimum size is {min_disk} bytes."
                        )));
                    }
                }
            }
        }
        if flavor.disk == 0 && !volume_root && !ctx2.is_admin() {
            return Err(NovaError::forbidden(
                "Only volume-backed servers are allowed for flavors with zero disk.",
            ));
        }
        if let Some(k) = &key_name {
            if !st
                .keypairs
                .iter()
                .any(|kp| kp.user_id == ctx2.user() && &kp.name == k)
            {
                return Err(NovaError::bad_request("Invalid key_name provided."));
            }
        }
        let limits = st.quota_limits(ctx2.project());
        if metadata.len() as i64 > limits.get("metadata_items").copied().unwrap_or(128)
            && limits.get("metadata_items").copied().unwrap_or(128) >= 0
        {
            return Err(NovaError::forbidden(format!(
                "Maximum number of metadata items exceeds {}",
                limits.get("metadata_items").copied().unwrap_or(128)
            )));
        }
        let count = check_instances_quota(st, ctx2.project(), &flavor, min_count, max_count)?;
        // The group's policy on this pod's one host: a boot it refuses
        // is accepted and fails scheduling (ERROR), as Nova's does.
        let group_fits = match &group {
            Some(g) => super::groups::admit(st, ctx2.project(), g, count)?,
            None => true,
        };
        if count > 1 && !bdm_volumes.is_empty() {
            return Err(NovaError::bad_request(
                "Cannot attach one or more volumes to multiple instances",
            ));
        }

        let reservation_id = format!(
            "r-{}",
            crate::util::random_urlsafe(8)
                .to_lowercase()
                .replace(['-', '_'], "x")
        );
        let now = Utc::now();
        let host = host_name(&pod2);
        let mut out = Vec::new();
        for i in 0..count {
            let id = uuid::Uuid::new_v4().to_string();
            let display = if count > 1 {
                format!("{name}-{}", i + 1)
            } else {
                name.clone()
            };
            let seq = st.next_seq();
            let mut s = Server {
                seq,
                id: id.clone(),
                name: display.clone(),
                description: if ctx2.at_least(19) {
                    description.clone()
                } else {
                    Some(display.clone())
                },
                project_id: ctx2.project().to_string(),
                user_id: ctx2.user().to_string(),
                image_ref: if volume_root {
                    String::new()
                } else {
                    boot_image_id.clone().unwrap_or_default()
                },
                flavor: flavor.snapshot(),
                old_flavor: None,
                old_vm_state: None,
                vm_state: "building",
                task_state: Some("scheduling"),
                power_state: NOSTATE,
                created_at: now,
                updated_at: now,
                launched_at: None,
                terminated_at: None,
                deleted_at: None,
                metadata: metadata.clone(),
                tags: tags.clone(),
                key_name: key_name.clone(),
                user_data: user_data.clone(),
                config_drive: if config_drive { "True".into() } else { String::new() },
                auto_disk_config: disk_config,
                access_ipv4: access_ipv4.clone(),
                access_ipv6: access_ipv6.clone(),
                availability_zone: pod2.config().availability_zone.clone(),
                pinned_az: requested_az.clone(),
                nics: Vec::new(),
                security_groups: security_groups
                    .clone()
                    .unwrap_or_else(|| vec!["default".to_string()]),
                volumes: Vec::new(),
                locked_by: None,
                locked_reason: None,
                reservation_id: reservation_id.clone(),
                launch_index: i as u32,
                hostname: match &hostname {
                    Some(h) if count == 1 => h.clone(),
                    _ => sanitize_hostname(&display, &id),
                },
                host: host.clone(),
                instance_name: format!("instance-{seq:08x}"),
                trusted_certs: trusted_certs.clone(),
                pending: None,
                actions: Vec::new(),
            };
            if group_fits {
                s.begin("spawning", BUILD_TIME, Step::Launch);
            } else {
                s.begin(
                    "scheduling",
                    BUILD_TIME,
                    Step::Set {
                        vm: "error",
                        power: NOSTATE,
                    },
                );
            }
            s.record("create", ctx2.user(), ctx2.project());
            out.push(s);
        }
        if let Some(g) = &group {
            let ids: Vec<String> = out.iter().map(|s| s.id.clone()).collect();
            super::groups::join(st, g, &ids);
        }
        Ok(out)
    })?;

    // The ports (outside the compute lock), all or none.
    let mut prepared = prepared;
    for i in 0..prepared.len() {
        let vifs =
            pod.network()
                .allocate(&interfaces::device(&ctx, &prepared[i]), &nics, &port_groups);
        match vifs {
            Ok(v) => prepared[i].nics = v,
            Err(e) => {
                release_ports(&pod, &prepared);
                return Err(interfaces::boot_error(e));
            }
        }
    }

    // Attach the requested volumes (outside the compute lock).
    let mut attached: Vec<VolAttach> = Vec::new();
    if let Some(first) = prepared.first() {
        let mut next_dev = b'b';
        for b in &bdm_volumes {
            let device = if b.boot_index == Some(0) {
                "/dev/vda".to_string()
            } else if let Some(d) = &b.device {
                d.clone()
            } else {
                let d = format!("/dev/vd{}", char::from(next_dev));
                next_dev += 1;
                d
            };
            match pod
                .volume()
                .attach(ctx.project(), &b.volume_id, &first.id, &device)
            {
                Ok(()) => attached.push(VolAttach {
                    volume_id: b.volume_id.clone(),
                    device,
                    delete_on_termination: b.delete_on_termination,
                    tag: b.tag.clone(),
                    attachment_id: super::cinder_attachment_id(&pod, &b.volume_id, &first.id),
                    bdm_uuid: uuid::Uuid::new_v4().to_string(),
                    is_root: b.boot_index == Some(0),
                }),
                Err(e) => {
                    for a in &attached {
                        let _ = pod.volume().detach(&a.volume_id, &first.id);
                    }
                    release_ports(&pod, &prepared);
                    return Err(match e {
                        AttachError::NotFound => NovaError::bad_request(format!(
                            "Volume {} could not be found.",
                            b.volume_id
                        )),
                        AttachError::InvalidState(m) => {
                            NovaError::bad_request(format!("Invalid volume: {m}"))
                        }
                    });
                }
            }
        }
    }

    let mut servers = prepared;
    if let Some(first) = servers.first_mut() {
        first.volumes = attached;
    }
    let first = servers.first().cloned();
    let reservation_id = first
        .as_ref()
        .map(|s| s.reservation_id.clone())
        .unwrap_or_default();
    pod.compute().with(|st| st.servers.extend(servers));

    if return_reservation_id {
        return Ok((
            StatusCode::ACCEPTED,
            Json(json!({"reservation_id": reservation_id})),
        )
            .into_response());
    }
    let Some(first) = first else {
        return Err(NovaError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Unexpected API Error.",
        ));
    };
    let sgs: Value = match req.get("security_groups") {
        Some(v) => v.clone(),
        None => json!([{"name": "default"}]),
    };
    let password = admin_pass.unwrap_or_else(random_password);
    let body = json!({"server": {
        "id": first.id,
        "links": ctx.links("servers", &first.id),
        "OS-DCF:diskConfig": if first.auto_disk_config { "AUTO" } else { "MANUAL" },
        "security_groups": sgs,
        "adminPass": password,
    }});
    let mut resp = (StatusCode::ACCEPTED, Json(body)).into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("{}/servers/{}", ctx.api_url(), first.id)) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    Ok(resp)
}

/// Gives back the ports of servers that will not be.
fn release_ports(pod: &Pod, servers: &[Server]) {
    for s in servers {
        pod.network().release(&s.id, &s.nics);
    }
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

/// Nova's `check_num_instances_quota`: how many servers may be built, or
/// the 403 `Quota exceeded for ...`.
fn check_instances_quota(
    st: &NovaState,
    project: &str,
    flavor: &super::model::Flavor,
    min_count: i64,
    max_count: i64,
) -> NResult<usize> {
    let limits = st.quota_limits(project);
    let (used_i, used_c, used_r) = st.usage(project);
    let mut count = max_count;
    loop {
        let deltas = [
            ("cores", count * flavor.vcpus as i64, used_c),
            ("instances", count, used_i),
            ("ram", count * flavor.ram as i64, used_r),
        ];
        let overs: Vec<&(&str, i64, i64)> = deltas
            .iter()
            .filter(|(k, d, used)| {
                let limit = limits.get(*k).copied().unwrap_or(-1);
                limit >= 0 && used + d > limit
            })
            .collect();
        if overs.is_empty() {
            return Ok(count as usize);
        }
        let quota = |k: &str| limits.get(k).copied().unwrap_or(-1);
        let headroom = |k: &str, used: i64| quota(k) - used;
        let mut allowed = if quota("instances") >= 0 {
            headroom("instances", used_i)
        } else {
            count
        };
        if flavor.vcpus > 0 && quota("cores") >= 0 {
            allowed = allowed.min(headroom("cores", used_c) / flavor.vcpus as i64);
        }
        if flavor.ram > 0 && quota("ram") >= 0 {
            allowed = allowed.min(headroom("ram", used_r) / flavor.ram as i64);
        }
        if allowed > 0 && min_count <= allowed && allowed < count {
            count = allowed;
            continue;
        }
        let requested_instances = if min_count == max_count {
            min_count.to_string()
        } else {
            format!("{min_count}-{max_count}")
        };
        let names: Vec<&str> = overs.iter().map(|(k, _, _)| *k).collect();
        let reqs: Vec<String> = overs
            .iter()
            .map(|(k, d, _)| {
                if *k == "instances" {
                    requested_instances.clone()
                } else {
                    d.to_string()
                }
            })
            .collect();
        let useds: Vec<String> = overs.iter().map(|(_, _, u)| u.to_string()).collect();
        let alloweds: Vec<String> = overs.iter().map(|(k, _, _)| quota(k).to_string()).collect();
        let overs_s = names.join(", ");
        return Err(NovaError::forbidden(format!(
            "Quota exceeded for {overs_s}: Requested {}, but already used {} of {} {overs_s}",
            reqs.join(", "),
            useds.join(", "),
            alloweds.join(", ")
        )));
    }
}

// -------------------------------------------------------------------- list

/// Nova's valid `sort_key` values (before 2.73; `locked` joins later).
const SORT_KEYS: [&str; 29] = [
    "access_ip_v4",
    "access_ip_v6",
    "auto_disk_config",
    "availability_zone",
    "config_drive",
    "created_at",
    "display_description",
    "display_name",
    "host",
    "hostname",
    "image_ref",
    "instance_type_id",
    "kernel_id",
    "key_name",
    "launch_index",
    "launched_at",
    "locked_by",
    "node",
    "power_state",
    "progress",
    "project_id",
    "ramdisk_id",
    "root_device_name",
    "task_state",
    "terminated_at",
    "updated_at",
    "user_id",
    "uuid",
    "vm_state",
];
/// Accepted but ignored sort keys (`SERVER_LIST_IGNORE_SORT_KEY`).
const IGNORED_SORT_KEYS: [&str; 22] = [
    "architecture",
    "cell_name",
    "cleaned",
    "default_ephemeral_device",
    "default_swap_device",
    "deleted",
    "deleted_at",
    "disable_terminate",
    "ephemeral_gb",
    "ephemeral_key_uuid",
    "id",
    "key_data",
    "launched_on",
    "locked",
    "memory_mb",
    "os_type",
    "reservation_id",
    "root_gb",
    "shutdown_terminate",
    "user_data",
    "vcpus",
    "vm_mode",
];

#[derive(Debug, Clone, PartialEq, PartialOrd)]
enum SortVal {
    Null,
    Int(i64),
    Str(String),
    Time(DateTime<Utc>),
}

fn sort_value(s: &Server, key: &str) -> SortVal {
    let opt_str = |o: &Option<String>| o.clone().map_or(SortVal::Null, SortVal::Str);
    match key {
        "access_ip_v4" => SortVal::Str(s.access_ipv4.clone()),
        "access_ip_v6" => SortVal::Str(s.access_ipv6.clone()),
        "auto_disk_config" => SortVal::Int(i64::from(s.auto_disk_config)),
        "availability_zone" => SortVal::Str(s.availability_zone.clone()),
        "config_drive" => SortVal::Str(s.config_drive.clone()),
        "created_at" => SortVal::Time(s.created_at),
        "display_description" => opt_str(&s.description),
        "display_name" => SortVal::Str(s.name.clone()),
        "host" | "node" => SortVal::Str(s.host.clone()),
        "hostname" => SortVal::Str(s.hostname.clone()),
        "image_ref" => SortVal::Str(s.image_ref.clone()),
        "instance_type_id" => SortVal::Str(s.flavor.id.clone()),
        "kernel_id" | "ramdisk_id" => SortVal::Str(String::new()),
        "key_name" => opt_str(&s.key_name),
        "launch_index" => SortVal::Int(i64::from(s.launch_index)),
        "launched_at" => s.launched_at.map_or(SortVal::Null, SortVal::Time),
        "locked_by" => s
            .locked_by
            .map_or(SortVal::Null, |l| SortVal::Str(l.to_string())),
        "locked" => SortVal::Int(i64::from(s.is_locked())),
        "power_state" => SortVal::Int(i64::from(s.power_state)),
        "progress" => SortVal::Int(0),
        "project_id" => SortVal::Str(s.project_id.clone()),
        "root_device_name" => SortVal::Str("/dev/vda".into()),
        "task_state" => s
            .task_state
            .map_or(SortVal::Null, |t| SortVal::Str(t.to_string())),
        "terminated_at" => s.terminated_at.map_or(SortVal::Null, SortVal::Time),
        "updated_at" => SortVal::Time(s.updated_at),
        "user_id" => SortVal::Str(s.user_id.clone()),
        "uuid" => SortVal::Str(s.id.clone()),
        "vm_state" => SortVal::Str(s.vm_state.to_string()),
        _ => SortVal::Int(s.seq as i64),
    }
}

/// Statuses and the `(vm_state, task_state)` pairs they stand for.
fn status_matches(s: &Server, wanted: &[String]) -> bool {
    wanted.iter().any(|w| w.eq_ignore_ascii_case(s.status()))
}

const KNOWN_STATUSES: [&str; 20] = [
    "ACTIVE",
    "REBOOT",
    "HARD_REBOOT",
    "PASSWORD",
    "REBUILD",
    "MIGRATING",
    "RESIZE",
    "BUILD",
    "SHUTOFF",
    "VERIFY_RESIZE",
    "REVERT_RESIZE",
    "PAUSED",
    "SUSPENDED",
    "RESCUE",
    "ERROR",
    "DELETED",
    "SOFT_DELETED",
    "SHELVED",
    "SHELVED_OFFLOADED",
    "UNKNOWN",
];

fn parse_bool(v: &str) -> Option<bool> {
    match v.to_ascii_lowercase().as_str() {
        "1" | "t" | "true" | "on" | "y" | "yes" => Some(true),
        "0" | "f" | "false" | "off" | "n" | "no" => Some(false),
        _ => None,
    }
}

fn list(pod: &Pod, ctx: &Ctx, detail: bool) -> NResult<Value> {
    let q = &ctx.query;
    let admin = ctx.is_admin();
    if ctx.at_least(75) {
        let mut allowed: Vec<&str> = vec![
            "user_id",
            "project_id",
            "tenant_id",
            "launch_index",
            "image_ref",
            "image",
            "kernel_id",
            "ramdisk_id",
            "hostname",
            "key_name",
            "power_state",
            "vm_state",
            "task_state",
            "host",
            "node",
            "flavor",
            "reservation_id",
            "launched_at",
            "terminated_at",
            "availability_zone",
            "name",
            "display_name",
            "description",
            "display_description",
            "locked_by",
            "uuid",
            "root_device_name",
            "config_drive",
            "access_ip_v4",
            "access_ip_v6",
            "auto_disk_config",
            "progress",
            "sort_key",
            "sort_dir",
            "all_tenants",
            "soft_deleted",
            "deleted",
            "status",
            "changes-since",
            "ip",
            "ip6",
            "created_at",
            "block_device_mapping",
            "services",
            "metadata",
            "system_metadata",
            "info_cache",
            "security_groups",
            "pci_devices",
            "limit",
            "marker",
            "tags",
            "tags-any",
            "not-tags",
            "not-tags-any",
            "changes-before",
            "locked",
        ];
        if ctx.at_least(90) {
            allowed.push("hostname");
        }
        ctx.check_query_keys(&allowed)?;
    }
    for key in q.keys() {
        if [
            "block_device_mapping",
            "services",
            "metadata",
            "system_metadata",
            "info_cache",
            "security_groups",
            "pci_devices",
        ]
        .contains(&key)
            || key.starts_with('_')
        {
            return Err(NovaError::bad_request(format!(
                "Invalid filter field: {key}."
            )));
        }
    }
    // Options a non-admin may use.
    let mut allowed_opts: Vec<&str> = vec![
        "reservation_id",
        "name",
        "status",
        "image",
        "flavor",
        "ip",
        "changes-since",
        "all_tenants",
    ];
    if ctx.at_least(5) {
        allowed_opts.push("ip6");
    }
    if ctx.at_least(26) {
        allowed_opts.extend(["tags", "tags-any", "not-tags", "not-tags-any"]);
    }
    if ctx.at_least(66) {
        allowed_opts.push("changes-before");
    }
    if ctx.at_least(73) {
        allowed_opts.push("locked");
    }
    if ctx.at_least(83) {
        allowed_opts.extend([
            "availability_zone",
            "config_drive",
            "key_name",
            "created_at",
            "launched_at",
            "terminated_at",
            "power_state",
            "task_state",
            "vm_state",
            "progress",
            "user_id",
        ]);
    }
    if ctx.at_least(90) {
        allowed_opts.push("hostname");
    }
    let opt = |k: &str| -> Option<&str> {
        if admin || allowed_opts.contains(&k) {
            q.get(k)
        } else {
            None
        }
    };

    // Status.
    let statuses: Vec<String> = if q.has("status") {
        q.all("status").into_iter().map(str::to_string).collect()
    } else {
        Vec::new()
    };
    if !statuses.is_empty()
        && !statuses.iter().any(|s| {
            KNOWN_STATUSES
                .iter()
                .any(|k| k.eq_ignore_ascii_case(s) && *k != "UNKNOWN")
        })
    {
        if ctx.at_least(38) {
            return Err(NovaError::bad_request("Invalid status value"));
        }
        return Ok(json!({"servers": []}));
    }
    if statuses.len() == 1 && statuses[0].eq_ignore_ascii_case("deleted") && !admin {
        return Err(NovaError::forbidden(
            "Only administrators may list deleted instances",
        ));
    }

    let parse_time_opt = |k: &str| -> NResult<Option<DateTime<Utc>>> {
        match opt(k) {
            None => Ok(None),
            Some(v) => parse_time(v).map(Some).ok_or_else(|| {
                NovaError::bad_request(format!(
                    "Invalid input for query parameters {k}. Value: {v}. {} is not a 'date-time'",
                    py_str(v)
                ))
            }),
        }
    };
    let changes_since = parse_time_opt("changes-since")?;
    let changes_before = parse_time_opt("changes-before")?;
    if let (Some(a), Some(b)) = (changes_since, changes_before) {
        if b < a {
            return Err(NovaError::bad_request(
                "The value of changes-since must be less than or equal to changes-before.",
            ));
        }
    }

    // Tenancy.
    let all_tenants = match q.get("all_tenants") {
        None => false,
        Some("") => true,
        Some(v) => parse_bool(v).ok_or_else(|| {
            NovaError::bad_request(format!(
                "Invalid input received: Unrecognized value '{v}', acceptable values are: \
                 '0', '1', 'f', 'false', 'n', 'no', 'off', 'on', 't', 'true', 'y', 'yes'"
            ))
        })?,
    };
    if all_tenants && !admin {
        return Err(NovaError::policy(if detail {
            "os_compute_api:servers:detail:get_all_tenants"
        } else {
            "os_compute_api:servers:index:get_all_tenants"
        }));
    }
    let project_filter: Option<String> = if all_tenants {
        opt("project_id")
            .or_else(|| opt("tenant_id"))
            .map(str::to_string)
    } else {
        Some(ctx.project().to_string())
    };

    // Sorting.
    let mut sort_keys: Vec<String> = q
        .all("sort_key")
        .iter()
        .map(|s| s.trim().to_string())
        .collect();
    let mut sort_dirs: Vec<String> = q
        .all("sort_dir")
        .iter()
        .map(|s| s.trim().to_string())
        .collect();
    let locked_valid = ctx.at_least(73);
    for k in &sort_keys {
        let known = SORT_KEYS.contains(&k.as_str())
            || IGNORED_SORT_KEYS.contains(&k.as_str())
            || (locked_valid && k == "locked");
        let ignored_removed =
            ctx.at_least(75) && IGNORED_SORT_KEYS.contains(&k.as_str()) && k != "locked";
        if !known || ignored_removed {
            let mut enum_list: Vec<&str> = SORT_KEYS.to_vec();
            if !ctx.at_least(75) {
                enum_list.extend(IGNORED_SORT_KEYS);
            } else {
                enum_list.push("locked");
            }
            return Err(NovaError::bad_request(format!(
                "Invalid input for query parameters sort_key. Value: {k}. {} is not one of {}",
                py_str(k),
                py_repr(&json!(enum_list))
            )));
        }
    }
    // Drop ignored keys (and their directions).
    let ignored: Vec<&str> = IGNORED_SORT_KEYS
        .iter()
        .copied()
        .filter(|k| !(locked_valid && *k == "locked"))
        .collect();
    let mut i = 0;
    while i < sort_keys.len() {
        if ignored.contains(&sort_keys[i].as_str()) {
            if sort_dirs.len() > i {
                sort_dirs.remove(i);
            }
            sort_keys.remove(i);
        } else {
            if ["host", "node"].contains(&sort_keys[i].as_str()) && !admin {
                return Err(NovaError::forbidden(format!(
                    "Only administrators can sort servers by {}",
                    sort_keys[i]
                )));
            }
            i += 1;
        }
    }
    if sort_keys.is_empty() && !q.has("sort_key") {
        sort_keys.push("created_at".into());
    }
    if sort_dirs.is_empty() && !q.has("sort_dir") {
        sort_dirs.push("desc".into());
    }
    for d in &sort_dirs {
        if d != "asc" && d != "desc" {
            return Err(NovaError::bad_request(
                "Invalid input received: Unknown sort direction, must be 'desc' or 'asc'",
            ));
        }
    }
    let default_dir = sort_dirs.first().cloned().unwrap_or_else(|| "desc".into());
    while sort_dirs.len() < sort_keys.len() {
        sort_dirs.push(default_dir.clone());
    }
    if sort_dirs.len() > sort_keys.len() {
        return Err(NovaError::bad_request(
            "Invalid input received: Sort direction size exceeds sort key size",
        ));
    }
    for k in ["created_at", "id"] {
        if !sort_keys.iter().any(|s| s == k) {
            sort_keys.push(k.to_string());
            sort_dirs.push(default_dir.clone());
        }
    }

    let (limit, marker) = ctx.limit_and_marker()?;

    // Filters.
    // Nova applies these with Python's `re.search`: `is_match` searches the
    // same way, and a pattern that does not compile matches no server.
    // (Python-only syntax such as look-around or backreferences counts as
    // not compiling; `$` before a final newline cannot matter, as names and
    // addresses hold no control characters.)
    let name_re = opt("name").map(|n| Regex::new(n).ok());
    let ip_re = opt("ip").map(|v| Regex::new(v).ok());
    let ip6_re = opt("ip6").map(|v| Regex::new(v).ok());
    let image = opt("image").map(|v| v.rsplit('/').next().unwrap_or(v).to_string());
    let flavor = opt("flavor").map(|v| v.rsplit('/').next().unwrap_or(v).to_string());
    let split = |k: &str| -> Option<Vec<String>> {
        if ctx.at_least(26) {
            opt(k).map(|v| v.split(',').map(str::to_string).collect())
        } else {
            None
        }
    };
    let tags = split("tags");
    let tags_any = split("tags-any");
    let not_tags = split("not-tags");
    let not_tags_any = split("not-tags-any");
    let locked = match opt("locked") {
        None => None,
        Some(v) => Some(parse_bool(v).ok_or_else(|| {
            NovaError::bad_request(format!(
                "Invalid input received: Unrecognized value '{v}', acceptable values are: \
                 '0', '1', 'f', 'false', 'n', 'no', 'off', 'on', 't', 'true', 'y', 'yes'"
            ))
        })?),
    };
    let include_deleted = (changes_since.is_some() || changes_before.is_some())
        || (admin && statuses.iter().any(|s| s.eq_ignore_ascii_case("deleted")));
    let exact = |k: &str| opt(k).map(str::to_string);
    let az = exact("availability_zone");
    let key_name = exact("key_name");
    let user_id = exact("user_id");
    let vm_state = exact("vm_state");
    let task_state = exact("task_state");
    let power_state = exact("power_state");
    let reservation_id = exact("reservation_id");
    let hostname = exact("hostname");
    let host = exact("host");
    let uuid = exact("uuid");

    let flavor_known = flavor.as_ref().is_none_or(|f| {
        pod.compute().with(|st| st.flavor(f).is_some())
            || pod
                .compute()
                .with(|st| st.servers.iter().any(|s| &s.flavor.id == f))
    });

    let matches = |s: &Server| -> bool {
        if project_filter.as_ref().is_some_and(|p| &s.project_id != p) {
            return false;
        }
        if !statuses.is_empty() && !status_matches(s, &statuses) {
            return false;
        }
        if let Some(re) = &name_re {
            match re {
                Some(re) if re.is_match(&s.name) => {}
                _ => return false,
            }
        }
        if let Some(re) = &ip_re {
            let ok = re.as_ref().is_some_and(|re| {
                s.nics
                    .iter()
                    .flat_map(|n| n.addresses())
                    .any(|(addr, version)| version == 4 && re.is_match(addr))
            });
            if !ok {
                return false;
            }
        }
        if let Some(re) = &ip6_re {
            let ok = re.as_ref().is_some_and(|re| {
                s.nics
                    .iter()
                    .flat_map(|n| n.addresses())
                    .any(|(addr, version)| version == 6 && re.is_match(addr))
            });
            if !ok {
                return false;
            }
        }
        if image.as_ref().is_some_and(|i| &s.image_ref != i) {
            return false;
        }
        if flavor.as_ref().is_some_and(|f| &s.flavor.id != f) {
            return false;
        }
        if let Some(t) = &tags {
            if !t.iter().all(|t| s.tags.contains(t)) {
                return false;
            }
        }
        if let Some(t) = &tags_any {
            if !t.iter().any(|t| s.tags.contains(t)) {
                return false;
            }
        }
        if let Some(t) = &not_tags {
            if t.iter().all(|t| s.tags.contains(t)) {
                return false;
            }
        }
        if let Some(t) = &not_tags_any {
            if t.iter().any(|t| s.tags.contains(t)) {
                return false;
            }
        }
        if locked.is_some_and(|l| l != s.is_locked()) {
            return false;
        }
        if let Some(t) = changes_since {
            if s.updated_at < t && s.deleted_at.is_none_or(|d| d < t) {
                return false;
            }
        }
        if let Some(t) = changes_before {
            if s.updated_at > t {
                return false;
            }
        }
        let ne = |want: &Option<String>, have: &str| want.as_ref().is_some_and(|w| w != have);
        if ne(&az, &s.availability_zone)
            || ne(&user_id, &s.user_id)
            || ne(&vm_state, s.vm_state)
            || ne(&task_state, s.task_state.unwrap_or(""))
            || ne(&power_state, &s.power_state.to_string())
            || ne(&reservation_id, &s.reservation_id)
            || ne(&hostname, &s.hostname)
            || ne(&host, &s.host)
            || ne(&uuid, &s.id)
        {
            return false;
        }
        if key_name
            .as_ref()
            .is_some_and(|k| s.key_name.as_deref() != Some(k.as_str()))
        {
            return false;
        }
        true
    };

    let (mut items, marker_server) = pod.compute().with(|st| {
        let mut items: Vec<Server> = st.servers.iter().filter(|s| matches(s)).cloned().collect();
        if include_deleted {
            items.extend(st.deleted.iter().filter(|s| matches(s)).cloned());
        }
        let marker_server = marker.as_ref().and_then(|m| {
            st.servers
                .iter()
                .chain(st.deleted.iter())
                .find(|s| &s.id == m)
                .cloned()
        });
        (items, marker_server)
    });
    if !flavor_known {
        items.clear();
    }
    let sorter = |a: &Server, b: &Server| -> Ordering {
        for (k, d) in sort_keys.iter().zip(&sort_dirs) {
            let (va, vb) = (sort_value(a, k), sort_value(b, k));
            let o = va.partial_cmp(&vb).unwrap_or(Ordering::Equal);
            let o = if d == "desc" { o.reverse() } else { o };
            if o != Ordering::Equal {
                return o;
            }
        }
        Ordering::Equal
    };
    if let Some(m) = &marker {
        let Some(ms) = marker_server else {
            return Err(NovaError::bad_request(format!("marker [{m}] not found")));
        };
        if !items.iter().any(|s| &s.id == m) {
            items.push(ms);
        }
        items.sort_by(sorter);
        let pos = items.iter().position(|s| &s.id == m).unwrap_or(0);
        items.drain(..=pos);
    } else {
        items.sort_by(sorter);
    }
    items.truncate(limit);
    if detail {
        interfaces::refresh(pod, &mut items);
    }

    let servers: Vec<Value> = items
        .iter()
        .map(|s| {
            if detail {
                view::server(ctx, s, ViewOpts::detail())
            } else {
                view::server_brief(ctx, s)
            }
        })
        .collect();
    let mut body = json!({ "servers": servers });
    let coll = if detail { "servers/detail" } else { "servers" };
    if let Some(links) = ctx.next_links(coll, items.len(), items.last().map(|s| s.id.as_str())) {
        body["servers_links"] = links;
    }
    Ok(body)
}

/// `GET /servers`.
pub(crate) async fn index(State(pod): State<Pod>, ctx: Ctx) -> NResult<Json<Value>> {
    list(&pod, &ctx, false).map(Json)
}

/// `GET /servers/detail`.
pub(crate) async fn detail(State(pod): State<Pod>, ctx: Ctx) -> NResult<Json<Value>> {
    list(&pod, &ctx, true).map(Json)
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
    fn user_data_base64_follows_python() {
        for ok in [
            "",
            "aGVsbG8=",
            "aGVs\nbG8=",
            "aGVsbG8==",
            "aGVsbG8=!!junk",
            "YQ==Y",
            "=YQ==",
            "YR==",
        ] {
            assert!(is_python_base64(ok), "{ok:?}");
        }
        for bad in ["YQ", "Y", "not base64!", "aGVsbG8"] {
            assert!(!is_python_base64(bad), "{bad:?}");
        }
    }

    #[test]
    fn hostnames() {
        assert_eq!(sanitize_hostname("My Server_1", "x"), "my-server-1");
        assert_eq!(sanitize_hostname("--", "abc"), "server-abc");
        assert_eq!(sanitize_hostname("a.b-", "x"), "a.b");
    }

    #[test]
    fn sort_values_order_nulls_first() {
        assert!(SortVal::Null < SortVal::Str("a".into()));
        assert!(SortVal::Str("a".into()) < SortVal::Str("b".into()));
    }
}
