//! The body of `POST /servers`: every field checked in the order Nova's
//! schema reports them, before anything is looked up.

use std::collections::BTreeMap;

use base64::Engine;
use serde_json::{json, Value};

use super::{access_ips, is_ipv4, is_ipv6, sub_tag_check};
use crate::compute::ctx::{
    check_keys, check_name, field_error, int_field, is_uuid_like, metadata_field, opt_bool,
    opt_string, wrapper, Ctx, BASE64,
};
use crate::compute::error::{NResult, NovaError};
use crate::image::schema::{py_repr, py_str};
use crate::network::NicRequest;

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

/// The `networks` of a boot.
#[derive(Debug, Clone)]
pub(super) enum Networks {
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
                    let msg = crate::compute::ctx::additional_message(&extra);
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
pub(super) struct BdmVolume {
    pub volume_id: String,
    pub boot_index: Option<i64>,
    pub delete_on_termination: bool,
    pub device: Option<String>,
    pub tag: Option<String>,
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
/// A checked `POST /servers` body.
pub(super) struct BootRequest {
    pub name: String,
    /// `imageRef`, empty when booting from a volume.
    pub image_ref: String,
    /// `flavorRef`'s last path segment (a link works as well as an id).
    pub flavor_ref: String,
    pub admin_pass: Option<String>,
    pub metadata: BTreeMap<String, String>,
    pub networks: Networks,
    /// `OS-DCF:diskConfig` is `AUTO`.
    pub disk_config: bool,
    pub access_ipv4: String,
    pub access_ipv6: String,
    /// `availability_zone` as given (`az`, `az:host` or `az:host:node`).
    pub az: Option<String>,
    pub bdm_volumes: Vec<BdmVolume>,
    /// The root disk is a volume.
    pub volume_root: bool,
    /// The image of an image→volume root.
    pub root_image: Option<String>,
    pub config_drive: bool,
    pub key_name: Option<String>,
    pub min_count: i64,
    pub max_count: i64,
    pub return_reservation_id: bool,
    pub security_groups: Option<Vec<String>>,
    /// `security_groups` as the caller wrote it; the response echoes it.
    pub security_groups_echo: Value,
    pub user_data: Option<String>,
    pub description: Option<String>,
    pub tags: Vec<String>,
    pub trusted_certs: Option<Vec<String>>,
    pub hostname: Option<String>,
}

/// The keys a `server` may hold and those it must, at this microversion.
fn boot_keys(ctx: &Ctx) -> (Vec<&'static str>, Vec<&'static str>) {
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
    (allowed, required)
}

impl BootRequest {
    /// Checks `body` as Nova's schema does: fields in its order (its
    /// `properties` come first), then unknown and missing keys, then the
    /// checks between fields.
    pub(super) fn parse(ctx: &Ctx, body: &Value) -> NResult<Self> {
        let hint_keys = ["os:scheduler_hints", "OS-SCH-HNT:scheduler_hints"];
        let req = wrapper(body, "server", &hint_keys)?;
        for hints_key in hint_keys {
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
        let (allowed, required) = boot_keys(ctx);

        let name = match req.get("name") {
            Some(v) => Some(check_name("name", v)?),
            None => None,
        };
        let image_ref = image_ref_field(req.get("imageRef"))?;
        let flavor_ref = flavor_ref_field(req.get("flavorRef"))?;
        let admin_pass = opt_string(req, "adminPass", usize::MAX, false)?;
        let metadata = match req.get("metadata") {
            Some(v) => metadata_field("metadata", v)?,
            None => BTreeMap::new(),
        };
        let networks = parse_networks(ctx, req.get("networks"))?;
        let disk_config = disk_config_field(req.get("OS-DCF:diskConfig"))?;
        let (access_ipv4, access_ipv6) = access_ips(req, true)?;
        let az = match req.get("availability_zone") {
            Some(v) => Some(check_name("availability_zone", v)?),
            None => None,
        };
        let (bdm_volumes, volume_root, root_image) =
            parse_bdms(ctx, req.get("block_device_mapping_v2"))?;
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
        let security_groups = security_groups_field(req.get("security_groups"))?;
        let user_data = user_data_field(req.get("user_data"))?;
        let description = if ctx.at_least(19) {
            opt_string(req, "description", 255, true)?
        } else {
            None
        };
        let tags = tags_field(ctx, req.get("tags"))?;
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
        let security_groups_echo = match req.get("security_groups") {
            Some(v) => v.clone(),
            None => json!([{"name": "default"}]),
        };
        Ok(BootRequest {
            name,
            image_ref,
            flavor_ref,
            admin_pass,
            metadata,
            networks,
            disk_config,
            access_ipv4: access_ipv4.unwrap_or_default(),
            access_ipv6: access_ipv6.unwrap_or_default(),
            az,
            bdm_volumes,
            volume_root,
            root_image,
            config_drive,
            key_name,
            min_count,
            max_count,
            return_reservation_id,
            security_groups,
            security_groups_echo,
            user_data,
            description,
            tags,
            trusted_certs,
            hostname,
        })
    }

    /// The security group names the servers get (`default` unless named).
    pub(super) fn security_group_names(&self) -> Vec<String> {
        self.security_groups
            .clone()
            .unwrap_or_else(|| vec!["default".to_string()])
    }
}

/// `imageRef`: empty or a UUID.
fn image_ref_field(v: Option<&Value>) -> NResult<String> {
    match v {
        None => Ok(String::new()),
        Some(Value::String(s)) if s.is_empty() || is_uuid_like(s) => Ok(s.clone()),
        Some(other) => Err(field_error(
            "imageRef",
            other,
            &format!(
                "{} is not valid under any of the given schemas",
                py_repr(other)
            ),
        )),
    }
}

/// `flavorRef`: a non-empty string or an integer; of a link, its last
/// path segment.
fn flavor_ref_field(v: Option<&Value>) -> NResult<String> {
    let flavor_ref = match v {
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
    Ok(flavor_ref
        .rsplit('/')
        .next()
        .unwrap_or(&flavor_ref)
        .to_string())
}

/// `OS-DCF:diskConfig`: whether it is `AUTO`.
fn disk_config_field(v: Option<&Value>) -> NResult<bool> {
    match v {
        None => Ok(false),
        Some(Value::String(s)) if s == "AUTO" => Ok(true),
        Some(Value::String(s)) if s == "MANUAL" => Ok(false),
        Some(other) => Err(field_error(
            "OS-DCF:diskConfig",
            other,
            &format!("{} is not one of ['AUTO', 'MANUAL']", py_repr(other)),
        )),
    }
}

/// `security_groups`: the distinct names, in order.
fn security_groups_field(v: Option<&Value>) -> NResult<Option<Vec<String>>> {
    match v {
        None => Ok(None),
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
            Ok(Some(out))
        }
        Some(other) => Err(field_error(
            "security_groups",
            other,
            &format!("{} is not of type 'array'", py_repr(other)),
        )),
    }
}

/// `user_data`: base64 of at most 65535 characters.
fn user_data_field(v: Option<&Value>) -> NResult<Option<String>> {
    match v {
        None => Ok(None),
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
            Ok(Some(s.clone()))
        }
        Some(other) => Err(field_error(
            "user_data",
            other,
            &format!("{} is not of type 'string'", py_repr(other)),
        )),
    }
}

/// `tags` (2.52): at most 50, kept distinct.
fn tags_field(ctx: &Ctx, v: Option<&Value>) -> NResult<Vec<String>> {
    match v {
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
            Ok(out)
        }
        Some(other) if ctx.at_least(52) => Err(field_error(
            "tags",
            other,
            &format!("{} is not of type 'array'", py_repr(other)),
        )),
        _ => Ok(Vec::new()),
    }
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
}
