//! Checks Nova makes on a request before it does anything, which the
//! gateway must make itself because no pod may be asked (a server list with
//! no servers anywhere) or because a pod's refusal would come after the
//! gateway's side effects (quota, network copies).

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde_json::{Map, Value};

use super::microversion::Microversion;
use crate::error::ApiError;
use crate::gateway::Call;

/// Python's `repr` of a string, as Nova's schema errors quote values.
fn py_str(s: &str) -> String {
    if s.contains('\'') && !s.contains('"') {
        format!("\"{s}\"")
    } else {
        format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
    }
}

/// An ISO 8601 date-time as Nova's `date-time` format accepts it (naive
/// ones are UTC).
fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    for fmt in [
        "%Y-%m-%dT%H:%M:%S%.f%:z",
        "%Y-%m-%dT%H:%M:%S%.f%z",
        "%Y-%m-%dT%H:%M:%S%.fZ",
        "%Y-%m-%dT%H:%MZ",
    ] {
        if let Ok(t) = DateTime::parse_from_str(s, fmt) {
            return Some(t.with_timezone(&Utc));
        }
    }
    for fmt in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%dT%H:%M:%SZ",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, fmt) {
            return Some(t.and_utc());
        }
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
}

/// `GET /servers[/detail]`: `changes-since` (and `changes-before` from
/// 2.66) must be ISO 8601 date-times, since no later than before.
pub(super) fn check_list_query(c: &Call, raw: Option<&str>) -> Result<(), ApiError> {
    list_query(raw, request_version(c))
}

/// The request's microversion (pinned in its headers by negotiation).
fn request_version(c: &Call) -> Microversion {
    super::microversion::negotiate(&c.headers, super::microversion::OURS_MAX)
        .unwrap_or(super::microversion::MIN)
}

fn list_query(raw: Option<&str>, mv: Microversion) -> Result<(), ApiError> {
    let mut since = None;
    let mut before = None;
    for (k, v) in url::form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
        let slot = match k.as_ref() {
            "changes-since" => &mut since,
            "changes-before" if mv.at_least(66) => &mut before,
            _ => continue,
        };
        let t = parse_time(&v).ok_or_else(|| {
            ApiError::bad_request(format!(
                "Invalid input for query parameters {k}. Value: {v}. {} is not a 'date-time'",
                py_str(&v)
            ))
        })?;
        *slot = Some(t);
    }
    if let (Some(a), Some(b)) = (since, before) {
        if b < a {
            return Err(ApiError::bad_request(
                "The value of changes-since must be less than or equal to changes-before.",
            ));
        }
    }
    Ok(())
}

fn invalid(field: &str, value: &Value, why: String) -> ApiError {
    let shown = match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    ApiError::bad_request(format!(
        "Invalid input for field/attribute {field}. Value: {shown}. {why}"
    ))
}

fn quoted(v: &Value) -> String {
    match v {
        Value::String(s) => py_str(s),
        other => other.to_string(),
    }
}

fn string_of(
    field: &str,
    v: &Value,
    min: usize,
    max: usize,
    allowed: Option<fn(char) -> bool>,
) -> Result<(), ApiError> {
    let Value::String(s) = v else {
        return Err(invalid(
            field,
            v,
            format!("{} is not of type 'string'", quoted(v)),
        ));
    };
    let n = s.chars().count();
    if n < min {
        return Err(invalid(field, v, format!("{} is too short", quoted(v))));
    }
    if n > max {
        return Err(invalid(field, v, format!("{} is too long", quoted(v))));
    }
    if let Some(ok) = allowed {
        if !s.chars().all(ok) {
            return Err(invalid(
                field,
                v,
                format!("{} does not match the pattern", quoted(v)),
            ));
        }
    }
    Ok(())
}

fn uuid_like(field: &str, v: &Value) -> Result<(), ApiError> {
    match v {
        Value::String(s) if uuid::Uuid::parse_str(s).is_ok() => Ok(()),
        _ => Err(invalid(field, v, format!("{} is not a 'uuid'", quoted(v)))),
    }
}

fn one_of(field: &str, v: &Value, values: &[&str]) -> Result<(), ApiError> {
    if v.as_str().is_some_and(|s| values.contains(&s)) {
        return Ok(());
    }
    let list = values
        .iter()
        .map(|s| py_str(s))
        .collect::<Vec<_>>()
        .join(", ");
    Err(invalid(
        field,
        v,
        format!("{} is not one of [{list}]", quoted(v)),
    ))
}

/// `boot_index`: an integer, a string of one, or null.
fn boot_index(v: &Value) -> Result<Option<i64>, ApiError> {
    match v {
        Value::Null => Ok(None),
        Value::Number(n) if n.is_i64() => Ok(n.as_i64()),
        Value::String(s) => {
            let digits = s.strip_prefix('-').unwrap_or(s);
            if !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit()) {
                Ok(s.parse().ok())
            } else {
                Err(invalid(
                    "boot_index",
                    v,
                    format!("{} does not match '^-?[0-9]+$'", quoted(v)),
                ))
            }
        }
        _ => Err(invalid(
            "boot_index",
            v,
            format!("{} is not of type 'integer', 'string', 'null'", quoted(v)),
        )),
    }
}

fn bool_like(field: &str, v: &Value) -> Result<(), ApiError> {
    const WORDS: &[&str] = &[
        "true", "false", "1", "0", "t", "f", "yes", "no", "y", "n", "on", "off",
    ];
    match v {
        Value::Bool(_) => Ok(()),
        Value::String(s) if WORDS.contains(&s.to_ascii_lowercase().as_str()) => Ok(()),
        _ => Err(invalid(
            field,
            v,
            format!("{} is not of type 'boolean', 'string'", quoted(v)),
        )),
    }
}

/// Keys of a `block_device_mapping_v2` item (the new and the legacy
/// format, `tag` from 2.42, `volume_type` from 2.67).
fn bdm_keys(mv: Microversion) -> Vec<&'static str> {
    let mut keys = vec![
        "source_type",
        "uuid",
        "image_id",
        "destination_type",
        "guest_format",
        "device_type",
        "disk_bus",
        "boot_index",
        "device_name",
        "volume_id",
        "snapshot_id",
        "volume_size",
        "delete_on_termination",
        "no_device",
        "connection_info",
    ];
    if mv.at_least(42) {
        keys.push("tag");
    }
    if mv.at_least(67) {
        keys.push("volume_type");
    }
    keys
}

fn check_bdm(item: &Value, mv: Microversion) -> Result<(), ApiError> {
    let Some(o) = item.as_object() else {
        return Err(invalid(
            "block_device_mapping_v2",
            item,
            format!("{item} is not of type 'object'"),
        ));
    };
    let keys = bdm_keys(mv);
    let extra: Vec<String> = o
        .keys()
        .filter(|k| !keys.contains(&k.as_str()))
        .map(|k| py_str(k))
        .collect();
    if !extra.is_empty() {
        let verb = if extra.len() == 1 { "was" } else { "were" };
        return Err(invalid(
            "block_device_mapping_v2",
            item,
            format!(
                "Additional properties are not allowed ({} {verb} unexpected)",
                extra.join(", ")
            ),
        ));
    }
    let id_chars: fn(char) -> bool = |c| c.is_ascii_alphanumeric() || "._-".contains(c);
    let dev_chars: fn(char) -> bool = |c| c.is_ascii_alphanumeric() || "._/-".contains(c);
    for (k, v) in o {
        match k.as_str() {
            "source_type" => one_of(k, v, &["volume", "image", "snapshot", "blank"])?,
            "destination_type" => one_of(k, v, &["local", "volume"])?,
            "uuid" => string_of(k, v, 1, 255, Some(id_chars))?,
            "image_id" | "volume_id" | "snapshot_id" => uuid_like(k, v)?,
            "guest_format" | "device_type" | "disk_bus" => string_of(k, v, 0, 255, None)?,
            "device_name" => string_of(k, v, 1, 255, Some(dev_chars))?,
            "boot_index" => {
                boot_index(v)?;
            }
            "volume_size" => {
                let ok = match v {
                    Value::Number(n) => n.as_i64().is_some_and(|n| (1..=2147483647).contains(&n)),
                    Value::String(s) => {
                        !s.is_empty()
                            && s.chars().all(|c| c.is_ascii_digit())
                            && s.parse::<i64>()
                                .is_ok_and(|n| (1..=2147483647).contains(&n))
                    }
                    _ => false,
                };
                if !ok {
                    return Err(invalid(
                        k,
                        v,
                        format!("{} is not a valid volume size", quoted(v)),
                    ));
                }
            }
            "delete_on_termination" => bool_like(k, v)?,
            "connection_info" => string_of(k, v, 0, 16777215, None)?,
            "tag" => string_of(k, v, 0, 60, Some(|c| c != '/' && c != ','))?,
            "volume_type" if !v.is_null() => string_of(k, v, 0, 255, None)?,
            _ => {}
        }
    }
    Ok(())
}

/// The volume a boot-from-volume starts from (boot index 0, source
/// volume), if any.
fn boot_volume(items: &[Value]) -> Option<String> {
    items.iter().find_map(|i| {
        let o = i.as_object()?;
        let index = boot_index(o.get("boot_index").unwrap_or(&Value::Null)).ok()??;
        if index != 0 {
            return None;
        }
        let id = match o.get("source_type").and_then(Value::as_str) {
            Some("volume") => o.get("uuid"),
            None => o.get("volume_id"),
            Some(_) => None,
        };
        id.and_then(Value::as_str).map(str::to_string)
    })
}

/// `block_device_mapping_v2` of a `POST /servers`, checked by Nova's
/// schema before anything is made; the volume a boot-from-volume starts
/// from, when it can be asked about (the domain refuses one that is not
/// bootable).
pub(super) fn block_devices(
    c: &Call,
    server: &Map<String, Value>,
) -> Result<Option<String>, ApiError> {
    let mv = request_version(c);
    let items = match server.get("block_device_mapping_v2") {
        None => return Ok(None),
        Some(Value::Array(items)) => items,
        Some(other) => {
            return Err(invalid(
                "block_device_mapping_v2",
                other,
                format!("{other} is not of type 'array'"),
            ))
        }
    };
    for item in items {
        check_bdm(item, mv)?;
    }
    Ok(boot_volume(items).filter(|v| crate::gateway::subresource::valid_segment(v)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn dates() {
        for ok in [
            "2011-01-01",
            "2011-01-01T00:00:00Z",
            "2011-01-01T00:00:00",
            "2011-01-01T00:00:00.123456",
            "2011-01-01T00:00:00+01:00",
            "2011-01-01 10:00:00",
        ] {
            assert!(parse_time(ok).is_some(), "{ok}");
        }
        for bad in ["2011/01/01", "yesterday", "", "2011-13-01"] {
            assert!(parse_time(bad).is_none(), "{bad}");
        }
        let e = list_query(Some("changes-since=2011%2F01%2F01"), Microversion(1)).unwrap_err();
        assert_eq!(
            e.message,
            "Invalid input for query parameters changes-since. Value: 2011/01/01. '2011/01/01' is not a 'date-time'"
        );
        // changes-before is a filter from 2.66 only.
        assert!(list_query(Some("changes-before=x"), Microversion(65)).is_ok());
        assert!(list_query(Some("changes-before=x"), Microversion(66)).is_err());
    }

    #[test]
    fn bdm_schema() {
        let good = json!({"source_type": "volume", "uuid": "abc-1", "destination_type": "volume", "boot_index": "0"});
        assert!(check_bdm(&good, Microversion(1)).is_ok());
        let bad = json!({"source_type": "volume", "uuid": "abc", "destination_type": "invalid"});
        let e = check_bdm(&bad, Microversion(1)).unwrap_err();
        assert_eq!(
            e.message,
            "Invalid input for field/attribute destination_type. Value: invalid. 'invalid' is not one of ['local', 'volume']"
        );
        assert!(check_bdm(&json!({"source_type": "disk"}), Microversion(1)).is_err());
        assert!(check_bdm(&json!({"boot_index": "x"}), Microversion(1)).is_err());
        assert!(check_bdm(&json!({"tag": "t"}), Microversion(41)).is_err());
        assert!(check_bdm(&json!({"tag": "t"}), Microversion(42)).is_ok());
        assert_eq!(
            boot_volume(&[json!({"boot_index": 0, "source_type": "volume", "uuid": "v"})]),
            Some("v".into())
        );
    }
}
