//! Request bodies as neutron's `prepare_request_body` checks them: the
//! member (or bulk collection) key, owner fields, unknown and read-only
//! attributes, required ones, conversions, and the attribute policies.

use serde_json::{json, Value};

use super::error::{NResult, NeutronError};
use super::model::{py_str, Kind, Record, Ty};
use super::Ctx;

/// The resources of a POST: one, or several for a bulk create.
pub(crate) fn create_bodies(ctx: &Ctx, kind: Kind, body: &Value) -> NResult<(Vec<Record>, bool)> {
    let obj = top_object(body)?;
    if let Some(items) = obj.get(kind.collection()) {
        let Some(items) = items.as_array() else {
            return Err(NeutronError::bad_request("Body contains invalid data"));
        };
        if items.is_empty() {
            return Err(NeutronError::bad_request("Resources required"));
        }
        let mut out = Vec::new();
        for item in items {
            let inner = item.get(kind.resource()).unwrap_or(item);
            out.push(member(ctx, kind, inner, true)?);
        }
        return Ok((out, true));
    }
    Ok((vec![resource(ctx, kind, body, true)?], false))
}

/// The resource of a PUT.
pub(crate) fn update_body(ctx: &Ctx, kind: Kind, body: &Value) -> NResult<Record> {
    resource(ctx, kind, body, false)
}

fn top_object(body: &Value) -> NResult<&serde_json::Map<String, Value>> {
    match body {
        Value::Null => Err(NeutronError::bad_request("Resource body required")),
        Value::Object(o) if o.is_empty() => {
            Err(NeutronError::bad_request("Resource body required"))
        }
        Value::Object(o) => Ok(o),
        _ => Err(NeutronError::bad_request("Body contains invalid data")),
    }
}

fn resource(ctx: &Ctx, kind: Kind, body: &Value, create: bool) -> NResult<Record> {
    let obj = top_object(body)?;
    let Some(inner) = obj.get(kind.resource()) else {
        return Err(NeutronError::bad_request(format!(
            "Unable to find '{}' in request body",
            kind.resource()
        )));
    };
    member(ctx, kind, inner, create)
}

fn member(ctx: &Ctx, kind: Kind, inner: &Value, create: bool) -> NResult<Record> {
    let Some(res) = inner.as_object() else {
        return Err(NeutronError::bad_request(format!(
            "Object '{}' contains invalid data",
            kind.resource()
        )));
    };
    let mut res = res.clone();
    owner(ctx, &mut res, create)?;
    let mut extra: Vec<&str> = res
        .keys()
        .map(String::as_str)
        .filter(|k| kind.attr(k).is_none())
        .collect();
    if !extra.is_empty() {
        extra.sort_unstable();
        return Err(NeutronError::bad_request(format!(
            "Unrecognized attribute(s) '{}'",
            extra.join(", ")
        )));
    }
    for attr in kind.attrs() {
        let given = res.contains_key(attr.name);
        if create {
            if given && !attr.post() {
                return Err(NeutronError::bad_request(format!(
                    "Attribute '{}' not allowed in POST",
                    attr.name
                )));
            }
            if !given && attr.required() {
                return Err(NeutronError::bad_request(format!(
                    "Failed to parse request. Required attribute '{}' not specified",
                    attr.name
                )));
            }
        } else if given && !attr.put() && !matches!(attr.name, "tenant_id" | "project_id") {
            return Err(NeutronError::bad_request(format!(
                "Cannot update read-only attribute {}",
                attr.name
            )));
        }
    }
    if !create {
        res.remove("tenant_id");
        res.remove("project_id");
    }
    for attr in kind.attrs() {
        if let Some(v) = res.get(attr.name) {
            let converted = convert(attr.name, attr.ty, v)?;
            res.insert(attr.name.to_string(), converted);
        }
    }
    if !ctx.is_admin {
        let denied: Vec<&str> = kind
            .attrs()
            .iter()
            .filter(|a| a.admin_set() && res.contains_key(a.name))
            .map(|a| a.name)
            .collect();
        if !denied.is_empty() {
            let action = if create { "create" } else { "update" };
            let res_name = kind.resource();
            let mut rules = vec![format!("rule:{action}_{res_name}")];
            rules.extend(
                denied
                    .iter()
                    .map(|d| format!("rule:{action}_{res_name}:{d}")),
            );
            return Err(NeutronError::policy(&format!("({})", rules.join(" and "))));
        }
    }
    Ok(res)
}

/// `populate_project_info` and `_validate_privileges`; on create the owner
/// defaults to the caller's project.
fn owner(ctx: &Ctx, res: &mut Record, create: bool) -> NResult<()> {
    let tenant = res.get("tenant_id").cloned();
    let project = res.get("project_id").cloned();
    if let (Some(t), Some(p)) = (&tenant, &project) {
        if t != p {
            return Err(NeutronError::bad_request(
                "'project_id' and 'tenant_id' do not match",
            ));
        }
    }
    let Some(given) = project.or(tenant) else {
        if create {
            res.insert("tenant_id".into(), json!(ctx.project_id));
            res.insert("project_id".into(), json!(ctx.project_id));
        }
        return Ok(());
    };
    let Some(given) = given.as_str().map(str::to_string) else {
        return Err(NeutronError::bad_request(format!(
            "Invalid input for project_id. Reason: '{}' is not a valid string.",
            py_str(&given)
        )));
    };
    if given != ctx.project_id && !ctx.is_admin {
        return Err(NeutronError::bad_request(
            "Specifying 'project_id' other than the authenticated project in request is not \
             allowed for the current user.",
        ));
    }
    res.insert("tenant_id".into(), json!(given));
    res.insert("project_id".into(), json!(given));
    Ok(())
}

fn reason(attr: &str, why: String) -> NeutronError {
    NeutronError::bad_request(format!("Invalid input for {attr}. Reason: {why}."))
}

/// `convert_to_boolean`.
pub(crate) fn to_bool(v: &Value) -> NResult<bool> {
    match v {
        Value::Bool(b) => Ok(*b),
        Value::Number(n) if n.as_i64() == Some(0) => Ok(false),
        Value::Number(n) if n.as_i64() == Some(1) => Ok(true),
        Value::String(s) => match s.to_ascii_lowercase().as_str() {
            "true" | "1" => Ok(true),
            "false" | "0" => Ok(false),
            _ => Err(not_bool(v)),
        },
        _ => Err(not_bool(v)),
    }
}

fn not_bool(v: &Value) -> NeutronError {
    NeutronError::invalid_input(&format!("'{}' cannot be converted to boolean", py_str(v)))
}

/// `convert_to_int`.
pub(crate) fn to_int(v: &Value) -> NResult<i64> {
    match v {
        Value::Number(n) if n.is_i64() => n
            .as_i64()
            .ok_or_else(|| NeutronError::invalid_input("not an integer")),
        Value::String(s) => s.trim().parse::<i64>().map_err(|_| {
            NeutronError::invalid_input(&format!("'{}' is not an integer", py_str(v)))
        }),
        _ => Err(NeutronError::invalid_input(&format!(
            "'{}' is not an integer",
            py_str(v)
        ))),
    }
}

fn convert(attr: &str, ty: Ty, v: &Value) -> NResult<Value> {
    let not_string = || reason(attr, format!("'{}' is not a valid string", py_str(v)));
    match ty {
        Ty::Str => match v {
            Value::String(s) if s.chars().count() > 255 => {
                Err(reason(attr, format!("'{s}' exceeds maximum length of 255")))
            }
            Value::String(_) => Ok(v.clone()),
            _ => Err(not_string()),
        },
        Ty::OptStr => match v {
            Value::String(_) | Value::Null => Ok(v.clone()),
            // `convert_protocol` takes protocol numbers too.
            Value::Number(n) if attr == "protocol" => Ok(json!(n.to_string())),
            _ => Err(not_string()),
        },
        Ty::Bool => to_bool(v).map(Value::Bool),
        Ty::Int => to_int(v).map(|i| json!(i)),
        Ty::OptInt => match v {
            Value::Null => Ok(Value::Null),
            _ => to_int(v).map(|i| json!(i)),
        },
        Ty::Uuid | Ty::OptUuid => match v {
            Value::Null if ty == Ty::OptUuid => Ok(Value::Null),
            Value::String(s) if uuid::Uuid::parse_str(s).is_ok() => Ok(v.clone()),
            _ => Err(reason(attr, format!("'{}' is not a valid UUID", py_str(v)))),
        },
        Ty::List => match v {
            Value::Array(_) => Ok(v.clone()),
            _ => Err(reason(attr, format!("'{}' is not a list", py_str(v)))),
        },
        Ty::Dict | Ty::OptDict => match v {
            Value::Object(_) => Ok(v.clone()),
            Value::Null if ty == Ty::OptDict => Ok(Value::Null),
            _ => Err(reason(attr, format!("'{}' is not a dictionary", py_str(v)))),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(admin: bool) -> Ctx {
        Ctx::for_tests("p1", admin)
    }

    #[test]
    fn rejects_unknown_and_read_only() {
        let e = update_body(
            &ctx(true),
            Kind::Network,
            &json!({"network": {"zz": 1, "aa": 2}}),
        )
        .unwrap_err();
        assert_eq!(e.message, "Unrecognized attribute(s) 'aa, zz'");
        let e =
            create_bodies(&ctx(true), Kind::Network, &json!({"network": {"id": "x"}})).unwrap_err();
        assert_eq!(e.message, "Attribute 'id' not allowed in POST");
        let e =
            update_body(&ctx(true), Kind::Subnet, &json!({"subnet": {"cidr": "x"}})).unwrap_err();
        assert_eq!(e.message, "Cannot update read-only attribute cidr");
        let e = create_bodies(&ctx(true), Kind::Port, &json!({"port": {}})).unwrap_err();
        assert_eq!(
            e.message,
            "Failed to parse request. Required attribute 'network_id' not specified"
        );
        let e = create_bodies(&ctx(true), Kind::Port, &json!({"net": {}})).unwrap_err();
        assert_eq!(e.message, "Unable to find 'port' in request body");
    }

    #[test]
    fn converts_and_polices() {
        let (r, bulk) = create_bodies(
            &ctx(false),
            Kind::Network,
            &json!({"network": {"admin_state_up": "false"}}),
        )
        .unwrap();
        assert!(!bulk);
        assert_eq!(r[0]["admin_state_up"], json!(false));
        assert_eq!(r[0]["project_id"], json!("p1"));
        let e = create_bodies(
            &ctx(false),
            Kind::Network,
            &json!({"network": {"provider:network_type": "vlan"}}),
        )
        .unwrap_err();
        assert_eq!(e.kind, "PolicyNotAuthorized");
        assert_eq!(e.status.as_u16(), 403);
        let e = create_bodies(
            &ctx(false),
            Kind::Network,
            &json!({"network": {"project_id": "other"}}),
        )
        .unwrap_err();
        assert_eq!(e.status.as_u16(), 400);
        let e = create_bodies(
            &ctx(true),
            Kind::Network,
            &json!({"network": {"admin_state_up": "maybe"}}),
        )
        .unwrap_err();
        assert_eq!(e.kind, "InvalidInput");
        let (r, bulk) = create_bodies(
            &ctx(true),
            Kind::Network,
            &json!({"networks": [{"name": "a"}, {"name": "b"}]}),
        )
        .unwrap();
        assert!(bulk);
        assert_eq!(r.len(), 2);
    }
}
