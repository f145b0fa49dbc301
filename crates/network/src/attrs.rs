//! Attribute validation as Neutron's API layer does it: which attributes a
//! resource has, which may be written on create and on update, and the
//! conversions (booleans, strings, UUIDs, lists) with Neutron's messages.

use serde_json::{Map, Value};

use crate::{NeutronError, Scope};

/// One attribute of a resource: may it be sent on create (POST) and on
/// update (PUT)?
#[derive(Debug, Clone, Copy)]
pub(crate) struct Attr {
    pub name: &'static str,
    pub post: bool,
    pub put: bool,
}

pub(crate) const fn attr(name: &'static str, post: bool, put: bool) -> Attr {
    Attr { name, post, put }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Create,
    Update,
}

/// The attributes of a create or update body, checked against the
/// resource's table: unknown names and read-only ones are 400s.
pub(crate) fn check(
    resource: &str,
    body: Value,
    attrs: &[Attr],
    op: Op,
) -> Result<Map<String, Value>, NeutronError> {
    let Value::Object(map) = body else {
        return Err(NeutronError::bad_request(format!(
            "Invalid input: the '{resource}' attribute of the request body must be an object"
        )));
    };
    let unknown: Vec<&str> = map
        .keys()
        .filter(|k| !attrs.iter().any(|a| a.name == k.as_str()))
        .map(String::as_str)
        .collect();
    if !unknown.is_empty() {
        return Err(NeutronError::bad_request(format!(
            "Unrecognized attribute(s) '{}'",
            unknown.join(", ")
        )));
    }
    for k in map.keys() {
        let Some(a) = attrs.iter().find(|a| a.name == k.as_str()) else {
            continue;
        };
        match op {
            Op::Create if !a.post => {
                return Err(NeutronError::bad_request(format!(
                    "Attribute '{k}' not allowed in POST"
                )))
            }
            Op::Update if !a.put => {
                return Err(NeutronError::bad_request(format!(
                    "Cannot update read-only attribute {k}"
                )))
            }
            _ => {}
        }
    }
    Ok(map)
}

/// 400 for a missing required attribute.
pub(crate) fn required(attr: &str) -> NeutronError {
    NeutronError::bad_request(format!(
        "Failed to parse request. Required attribute '{attr}' not specified"
    ))
}

/// Neutron's display of a value in messages (Python-ish).
pub(crate) fn shown(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "None".into(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        other => other.to_string(),
    }
}

/// A boolean as `convert_to_boolean` accepts it.
pub(crate) fn boolean(name: &str, v: &Value) -> Result<bool, NeutronError> {
    let parsed = match v {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => match n.as_i64() {
            Some(0) => Some(false),
            Some(1) => Some(true),
            _ => None,
        },
        Value::String(s) => parse_bool(s),
        _ => None,
    };
    parsed.ok_or_else(|| {
        NeutronError::invalid_attr(name, format!("'{}' is not a valid boolean value", shown(v)))
    })
}

/// A boolean in a query string or body string.
pub(crate) fn parse_bool(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "true" | "t" | "yes" | "y" | "on" | "1" => Some(true),
        "false" | "f" | "no" | "n" | "off" | "0" => Some(false),
        _ => None,
    }
}

/// A string of at most `max` characters, without control characters (C0,
/// DEL, C1, line and paragraph separators): no name, id or address has
/// them, and no database stores a NUL. Descriptions may span lines (tabs
/// and line breaks), as Horizon writes them.
pub(crate) fn string(name: &str, v: &Value, max: usize) -> Result<String, NeutronError> {
    let Value::String(s) = v else {
        return Err(NeutronError::invalid_attr(
            name,
            format!("'{}' is not a valid string", shown(v)),
        ));
    };
    if s.chars().count() > max {
        return Err(NeutronError::invalid_attr(
            name,
            format!("'{s}' exceeds maximum length of {max}"),
        ));
    }
    let multiline = name == "description";
    if let Some(c) = s.chars().find(|c| {
        let control = c.is_control() || matches!(c, '\u{2028}' | '\u{2029}');
        control && !(multiline && matches!(c, '\t' | '\n' | '\r'))
    }) {
        return Err(NeutronError::invalid_attr(
            name,
            format!(
                "the control character U+{:04X} is not allowed",
                u32::from(c)
            ),
        ));
    }
    Ok(s.clone())
}

/// A string or null.
pub(crate) fn string_or_null(
    name: &str,
    v: &Value,
    max: usize,
) -> Result<Option<String>, NeutronError> {
    match v {
        Value::Null => Ok(None),
        other => string(name, other, max).map(Some),
    }
}

/// A UUID in canonical form.
pub(crate) fn uuid(name: &str, v: &Value) -> Result<String, NeutronError> {
    v.as_str()
        .and_then(tricircle_core::ids::canonical_uuid)
        .ok_or_else(|| {
            NeutronError::invalid_attr(name, format!("'{}' is not a valid UUID", shown(v)))
        })
}

/// An integer (numbers, or strings of digits, as `convert_to_int`).
pub(crate) fn integer(name: &str, v: &Value) -> Result<i64, NeutronError> {
    let n = match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse::<i64>().ok(),
        _ => None,
    };
    n.ok_or_else(|| NeutronError::invalid_attr(name, format!("'{}' is not an integer", shown(v))))
}

/// A list (null: empty).
pub(crate) fn list<'a>(name: &str, v: &'a Value) -> Result<&'a [Value], NeutronError> {
    match v {
        Value::Array(a) => Ok(a),
        Value::Null => Ok(&[]),
        other => Err(NeutronError::invalid_attr(
            name,
            format!("'{}' is not a list", shown(other)),
        )),
    }
}

/// A list of strings without duplicates.
pub(crate) fn string_list(name: &str, v: &Value, max: usize) -> Result<Vec<String>, NeutronError> {
    let mut out: Vec<String> = Vec::new();
    for item in list(name, v)? {
        let s = string(name, item, max)?;
        if out.contains(&s) {
            return Err(NeutronError::invalid_attr(
                name,
                format!("Duplicate items in the list: '{s}'"),
            ));
        }
        out.push(s);
    }
    Ok(out)
}

/// The project a new resource belongs to: `project_id`/`tenant_id` of the
/// body if given (another project's only for admins), else the caller's.
pub(crate) fn owner(scope: &Scope, map: &Map<String, Value>) -> Result<String, NeutronError> {
    let get = |k: &str| -> Result<Option<String>, NeutronError> {
        map.get(k).map(|v| string(k, v, 255)).transpose()
    };
    let (project, tenant) = (get("project_id")?, get("tenant_id")?);
    if let (Some(p), Some(t)) = (&project, &tenant) {
        if p != t {
            return Err(NeutronError::bad_request(
                "'project_id' and 'tenant_id' do not match",
            ));
        }
    }
    let Some(wanted) = project.or(tenant) else {
        return Ok(scope.project_id.clone());
    };
    if wanted != scope.project_id && !scope.is_admin {
        return Err(NeutronError::bad_request(
            "Specifying 'project_id' or 'tenant_id' other than the authenticated project in request requires admin privileges",
        ));
    }
    if !tricircle_core::ids::is_plausible_project_id(&wanted) {
        return Err(NeutronError::invalid_attr(
            "project_id",
            format!("'{wanted}' is not a valid project id"),
        ));
    }
    Ok(wanted)
}

/// Now, as Neutron shows timestamps.
pub(crate) fn now() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Marks an update: new `updated_at`, `revision_number` + 1.
pub(crate) fn touch(body: &mut Value) {
    let rev = body
        .get("revision_number")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    body["revision_number"] = Value::from(rev + 1);
    body["updated_at"] = Value::from(now());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorClass;
    use serde_json::json;

    const ATTRS: &[Attr] = &[attr("name", true, true), attr("id", false, false)];

    #[test]
    fn unknown_and_read_only() {
        let e = check("network", json!({"name": "a", "foo": 1}), ATTRS, Op::Create).err();
        assert_eq!(
            e.map(|e| e.message),
            Some("Unrecognized attribute(s) 'foo'".to_string())
        );
        let e = check("network", json!({"id": "x"}), ATTRS, Op::Create).err();
        assert!(e.is_some_and(|e| e.message.contains("not allowed in POST")));
        let e = check("network", json!({"id": "x"}), ATTRS, Op::Update).err();
        assert!(e.is_some_and(|e| e.message.contains("read-only attribute id")));
        assert!(check("network", json!("x"), ATTRS, Op::Create).is_err());
    }

    #[test]
    fn strings_refuse_control_characters() {
        assert_eq!(
            string("name", &json!("net 1 é"), 255).ok().as_deref(),
            Some("net 1 é")
        );
        for bad in [
            "a\u{0}",
            "\u{1b}[0m",
            "a\nb",
            "\u{7f}",
            "\u{85}",
            "\u{2028}",
        ] {
            let e = string("name", &json!(bad), 255).err();
            assert!(
                e.as_ref().is_some_and(|e| e.class == ErrorClass::BadRequest
                    && e.message
                        .starts_with("Invalid input for name. Reason: the control character U+")),
                "{bad:?}: {e:?}"
            );
        }
        assert!(string("description", &json!("two\r\nlines\tand a tab"), 255).is_ok());
        assert!(string("description", &json!("nul\u{0}"), 255).is_err());
        assert!(string_list("availability_zone_hints", &json!(["az\u{0}"]), 255).is_err());
    }

    #[test]
    fn booleans() {
        assert_eq!(boolean("x", &json!("True")).ok(), Some(true));
        assert_eq!(boolean("x", &json!(0)).ok(), Some(false));
        let e = boolean("admin_state_up", &json!("abc")).err();
        assert_eq!(
            e.map(|e| e.message),
            Some(
                "Invalid input for admin_state_up. Reason: 'abc' is not a valid boolean value."
                    .to_string()
            )
        );
    }

    #[test]
    fn owners() {
        let user = Scope {
            project_id: "p1".into(),
            user_id: "u".into(),
            is_admin: false,
        };
        let m = |v: Value| v.as_object().cloned().unwrap_or_default();
        assert_eq!(owner(&user, &m(json!({}))).ok().as_deref(), Some("p1"));
        assert!(owner(&user, &m(json!({"tenant_id": "p2"}))).is_err());
        assert!(owner(&user, &m(json!({"tenant_id": "p1", "project_id": "p2"}))).is_err());
        let admin = Scope {
            is_admin: true,
            ..user
        };
        assert_eq!(
            owner(&admin, &m(json!({"project_id": "p2"})))
                .ok()
                .as_deref(),
            Some("p2")
        );
    }
}
