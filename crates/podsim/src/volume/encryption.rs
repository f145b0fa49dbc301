//! `/types/{type_id}/encryption`: a volume type's encryption spec (admin
//! only), as Cinder's `volume_type_encryption` extension serves it, and
//! what an encrypted type means for the volumes created with it.

use axum::http::StatusCode;
use chrono::Utc;
use serde_json::{json, Map, Value};

use super::api::{no_extra_keys, py_repr, ApiError, ApiResult, Ctx, Reply};
use super::model::{new_uuid, ts, ts_opt, Encryption, Snapshot, State, Volume, VolumeType};
use super::Req;

const GET_POLICY: &str = "volume_extension:volume_type_encryption:get";
const CREATE_POLICY: &str = "volume_extension:volume_type_encryption:create";
const UPDATE_POLICY: &str = "volume_extension:volume_type_encryption:update";
const DELETE_POLICY: &str = "volume_extension:volume_type_encryption:delete";

/// `constants.DB_MAX_INT`, the schema's maximum of `key_size`.
const DB_MAX_INT: i128 = 0x7FFF_FFFF;

/// The spec as `GET .../encryption` shows it (the table row's columns).
fn view(type_id: &str, e: &Encryption) -> Value {
    json!({
        "volume_type_id": type_id,
        "encryption_id": e.encryption_id,
        "provider": e.provider,
        "control_location": e.control_location,
        "cipher": e.cipher,
        "key_size": e.key_size,
        "created_at": ts(e.created_at),
        "updated_at": ts_opt(e.updated_at),
        "deleted": false,
        "deleted_at": null,
    })
}

/// `VolumeTypeEncryptionNotFound`.
fn not_found(type_id: &str) -> ApiError {
    ApiError::not_found(format!(
        "Volume type encryption for type {type_id} does not exist."
    ))
}

fn type_of<'a>(st: &'a State, id: &str) -> ApiResult<&'a VolumeType> {
    st.types.get(id).ok_or_else(|| ApiError::type_not_found(id))
}

/// 400 if a volume (of any project, not yet deleted) has the type.
fn refuse_in_use(st: &State, type_id: &str, verb: &str) -> ApiResult<()> {
    if st.volumes.values().any(|v| v.volume_type_id == type_id) {
        return Err(ApiError::bad_request(format!(
            "Cannot {verb} encryption specs. Volume type in use."
        )));
    }
    Ok(())
}

// ----------------------------------------------------------- validation

/// Python's `repr` of a float.
fn py_float(f: f64) -> String {
    if f.is_finite() && f.fract() == 0.0 && f.abs() < 1e16 {
        format!("{f:.1}")
    } else if f.is_nan() {
        "nan".into()
    } else if f.is_infinite() {
        if f > 0.0 { "inf" } else { "-inf" }.into()
    } else {
        f.to_string()
    }
}

/// Python's `int(s)` over a string (surrounding spaces, a sign, digits
/// with single underscores between them).
fn py_int(s: &str) -> Option<i128> {
    let t = s.trim();
    let (neg, digits) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let ok = !digits.is_empty()
        && !digits.starts_with('_')
        && !digits.ends_with('_')
        && !digits.contains("__")
        && digits.bytes().all(|b| b.is_ascii_digit() || b == b'_');
    if !ok {
        return None;
    }
    let n: i128 = digits.replace('_', "").parse().ok()?;
    Some(if neg { -n } else { n })
}

/// A number as Cinder's `minimum`/`maximum` validators see a value
/// (`int()`, else `float()`, of a string), with its repr.
enum Num {
    Int(i128),
    Float(f64),
}

impl Num {
    fn of(v: &Value) -> Option<Num> {
        match v {
            Value::Number(n) => n
                .as_i64()
                .map(i128::from)
                .or_else(|| n.as_u64().map(i128::from))
                .map(Num::Int),
            Value::String(s) => py_int(s)
                .map(Num::Int)
                .or_else(|| s.trim().replace('_', "").parse().ok().map(Num::Float)),
            _ => None,
        }
    }

    fn below(&self, min: i128) -> bool {
        match self {
            Num::Int(n) => *n < min,
            Num::Float(f) => *f < min as f64,
        }
    }

    fn above(&self, max: i128) -> bool {
        match self {
            Num::Int(n) => *n > max,
            Num::Float(f) => *f > max as f64,
        }
    }

    fn repr(&self) -> String {
        match self {
            Num::Int(n) => n.to_string(),
            Num::Float(f) => py_float(*f),
        }
    }
}

/// `key_size` as the schema checks it: a string, integer or null, at
/// least 0 and at most `DB_MAX_INT`, then the `key_size` format (oslo's
/// `is_int_like`; its `InvalidInput` escapes the validator). Answers the
/// integer Cinder stores.
fn key_size(v: &Value) -> ApiResult<Option<i64>> {
    let integer = matches!(v, Value::Number(n) if n.is_i64() || n.is_u64());
    if !(v.is_null() || v.is_string() || integer) {
        return Err(ApiError::validation(
            "key_size",
            v,
            &format!("{} is not of type 'string', 'integer', 'null'", py_repr(v)),
        ));
    }
    if v.is_null() {
        return Ok(None);
    }
    if let Some(n) = Num::of(v) {
        if n.below(0) {
            let detail = format!("{} is less than the minimum of 0", n.repr());
            return Err(ApiError::validation("key_size", v, &detail));
        }
        if n.above(DB_MAX_INT) {
            let detail = format!("{} is greater than the maximum of {DB_MAX_INT}", n.repr());
            return Err(ApiError::validation("key_size", v, &detail));
        }
    }
    let int_like = match v {
        Value::String(s) => py_int(s).filter(|n| n.to_string() == *s),
        other => Num::of(other).and_then(|n| match n {
            Num::Int(i) => Some(i),
            Num::Float(_) => None,
        }),
    };
    int_like
        .and_then(|n| i64::try_from(n).ok())
        .map(Some)
        .ok_or_else(|| ApiError::invalid_input("key_size must be an integer."))
}

/// A string of at most 255 characters (`provider`, `cipher`).
fn short_string(key: &str, v: &Value, nullable: bool) -> ApiResult<()> {
    match v {
        Value::String(s) if s.chars().count() > 255 => Err(ApiError::validation(
            key,
            v,
            &format!("{} is too long", py_repr(v)),
        )),
        Value::String(_) => Ok(()),
        Value::Null if nullable => Ok(()),
        other => {
            let types = if nullable {
                "'string', 'null'"
            } else {
                "'string'"
            };
            Err(ApiError::validation(
                key,
                other,
                &format!("{} is not of type {types}", py_repr(other)),
            ))
        }
    }
}

/// The `encryption` object's properties, in the schema's order.
fn check_properties(m: &Map<String, Value>) -> ApiResult<Option<i64>> {
    let size = match m.get("key_size") {
        Some(v) => key_size(v)?,
        None => None,
    };
    if let Some(v) = m.get("provider") {
        short_string("provider", v, false)?;
    }
    if let Some(v) = m.get("control_location") {
        if !matches!(v.as_str(), Some("front-end" | "back-end")) {
            return Err(ApiError::validation(
                "control_location",
                v,
                &format!("{} is not one of ['front-end', 'back-end']", py_repr(v)),
            ));
        }
    }
    if let Some(v) = m.get("cipher") {
        short_string("cipher", v, true)?;
    }
    Ok(size)
}

/// The body against Cinder's create/update schema, errors in the order
/// jsonschema finds them. Answers `body["encryption"]` with `key_size`
/// made an integer, as the controller does before using it.
fn validate(body: &Value, create: bool) -> ApiResult<Map<String, Value>> {
    if !body.is_object() {
        return Err(ApiError::schema(format!(
            "{} is not of type 'object'",
            py_repr(body)
        )));
    }
    let spec = match body.get("encryption") {
        None => None,
        Some(Value::Object(m)) => Some(m),
        Some(other) => {
            return Err(ApiError::validation(
                "encryption",
                other,
                &format!("{} is not of type 'object'", py_repr(other)),
            ))
        }
    };
    let Some(m) = spec else {
        return Err(ApiError::schema("'encryption' is a required property"));
    };
    let size = check_properties(m)?;
    let required: &[&str] = if create {
        &["provider", "control_location"]
    } else {
        &[]
    };
    if let Some(missing) = required.iter().find(|k| !m.contains_key(**k)) {
        return Err(ApiError::validation(
            "encryption",
            &Value::Object(m.clone()),
            &format!("'{missing}' is a required property"),
        ));
    }
    let mut out = m.clone();
    if let Some(n) = size {
        out.insert("key_size".into(), json!(n));
    }
    no_extra_keys(body, &["encryption"])?;
    Ok(out)
}

// ------------------------------------------------------------- handlers

/// `GET /types/{id}/encryption`: the spec itself, `{}` when none.
pub(crate) fn index(st: &mut State, ctx: &Ctx, req: &Req) -> ApiResult<Reply> {
    ctx.require_admin(GET_POLICY)?;
    let t = type_of(st, req.id(0))?;
    Ok(Reply::ok(
        t.encryption
            .as_ref()
            .map_or_else(|| json!({}), |e| view(&t.id, e)),
    ))
}

/// `GET /types/{id}/encryption/{key}`: one field, `{key: value}`.
pub(crate) fn show(st: &mut State, ctx: &Ctx, req: &Req) -> ApiResult<Reply> {
    ctx.require_admin(GET_POLICY)?;
    let t = type_of(st, req.id(0))?;
    let key = req.id(1);
    let spec = t.encryption.as_ref().map(|e| view(&t.id, e));
    match spec.as_ref().and_then(|s| s.get(key)) {
        Some(v) => Ok(Reply::ok(json!({ key: v }))),
        None => Err(not_found(&t.id)),
    }
}

/// `POST /types/{id}/encryption`: answers the body with the ids added.
pub(crate) fn create(st: &mut State, ctx: &Ctx, req: &Req) -> ApiResult<Reply> {
    let mut spec = validate(&req.body, true)?;
    ctx.require_admin(CREATE_POLICY)?;
    let id = req.id(0).to_string();
    refuse_in_use(st, &id, "create")?;
    let t = st
        .types
        .get_mut(&id)
        .ok_or_else(|| ApiError::type_not_found(&id))?;
    if t.encryption.is_some() {
        return Err(ApiError::bad_request(format!(
            "Volume type encryption for type {id} already exists."
        )));
    }
    let text = |k: &str| spec.get(k).and_then(Value::as_str).map(str::to_string);
    let e = Encryption {
        encryption_id: new_uuid(),
        provider: text("provider").unwrap_or_default(),
        control_location: text("control_location").unwrap_or_default(),
        cipher: text("cipher"),
        key_size: spec.get("key_size").and_then(Value::as_i64),
        created_at: Utc::now(),
        updated_at: None,
    };
    // The DB layer adds both to the body's dict, which the API answers.
    spec.entry("volume_type_id").or_insert_with(|| json!(id));
    spec.entry("encryption_id")
        .or_insert_with(|| json!(e.encryption_id));
    t.encryption = Some(e);
    Ok(Reply::ok(json!({ "encryption": spec })))
}

/// `PUT /types/{id}/encryption/{encryption_id}` (the id in the path is
/// not used): answers the body.
pub(crate) fn update(st: &mut State, ctx: &Ctx, req: &Req) -> ApiResult<Reply> {
    let spec = validate(&req.body, false)?;
    ctx.require_admin(UPDATE_POLICY)?;
    let id = req.id(0).to_string();
    type_of(st, &id)?;
    refuse_in_use(st, &id, "update")?;
    let e = st
        .types
        .get_mut(&id)
        .and_then(|t| t.encryption.as_mut())
        .ok_or_else(|| not_found(&id))?;
    let text = |k: &str| spec.get(k).and_then(Value::as_str).map(str::to_string);
    if let Some(p) = text("provider") {
        e.provider = p;
    }
    if let Some(c) = text("control_location") {
        e.control_location = c;
    }
    if spec.contains_key("cipher") {
        e.cipher = text("cipher");
    }
    if spec.contains_key("key_size") {
        e.key_size = spec.get("key_size").and_then(Value::as_i64);
    }
    e.updated_at = Some(Utc::now());
    Ok(Reply::ok(json!({ "encryption": spec })))
}

/// `DELETE /types/{id}/encryption/{encryption_id}`: 202, no body. Cinder
/// does not look the type up here: an unknown one has no encryption.
pub(crate) fn delete(st: &mut State, ctx: &Ctx, req: &Req) -> ApiResult<Reply> {
    ctx.require_admin(DELETE_POLICY)?;
    let id = req.id(0).to_string();
    refuse_in_use(st, &id, "delete")?;
    st.types
        .get_mut(&id)
        .and_then(|t| t.encryption.take())
        .ok_or_else(|| not_found(&id))?;
    Ok(Reply::empty(StatusCode::ACCEPTED))
}

// -------------------------------------------------------------- volumes

/// Creating from a source volume or a snapshot with another type than
/// theirs: refused when the two types encrypt differently (Cinder's
/// `_retype_is_possible`, which a single backend passes otherwise).
pub(crate) fn check_clone_type(
    st: &State,
    requested: Option<&str>,
    source: Option<&Volume>,
    snapshot: Option<&Snapshot>,
) -> ApiResult<()> {
    let Some(req_id) = requested else {
        return Ok(());
    };
    let spec = |type_id: &str| st.types.get(type_id).and_then(|t| t.encryption.as_ref());
    let wanted = spec(req_id);
    if let Some(s) = source.filter(|s| s.volume_type_id != req_id) {
        if !Encryption::same_spec(spec(&s.volume_type_id), wanted) {
            return Err(ApiError::invalid_input(format!(
                "Invalid volume_type provided: {req_id} (requested type is not compatible; \
                 either match source volume, or omit type argument)."
            )));
        }
    }
    if let Some(s) = snapshot.filter(|s| s.volume_type_id != req_id) {
        // Cinder compares with the type of the snapshot's volume.
        let from = st
            .volumes
            .get(&s.volume_id)
            .map_or(s.volume_type_id.as_str(), |v| v.volume_type_id.as_str());
        if !Encryption::same_spec(spec(from), wanted) {
            return Err(ApiError::invalid_input(format!(
                "Invalid volume_type provided: {req_id} (requested type is not compatible; \
                 recommend omitting the type argument)."
            )));
        }
    }
    Ok(())
}

/// The key id of a new volume of type `t`: a fresh one when the type is
/// encrypted (Cinder asks its key manager for one, or a clone of the
/// source's), else none. An encrypted multiattach type is refused.
pub(crate) fn new_key(t: &VolumeType) -> ApiResult<Option<String>> {
    if t.encryption.is_none() {
        return Ok(None);
    }
    if t.is_multiattach() {
        return Err(ApiError::invalid_volume(
            "Multiattach cannot be used with encrypted volumes.",
        ));
    }
    Ok(Some(new_uuid()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_size_like_cinders_schema() {
        assert_eq!(key_size(&json!(256)).unwrap(), Some(256));
        assert_eq!(key_size(&json!("512")).unwrap(), Some(512));
        assert_eq!(key_size(&Value::Null).unwrap(), None);
        let msg = |v: Value| key_size(&v).unwrap_err().message;
        assert_eq!(
            msg(json!(-128)),
            "Invalid input for field/attribute key_size. Value: -128. -128 is less than the minimum of 0"
        );
        assert_eq!(
            msg(json!("-1")),
            "Invalid input for field/attribute key_size. Value: -1. -1 is less than the minimum of 0"
        );
        assert_eq!(
            msg(json!("12345678788")),
            "Invalid input for field/attribute key_size. Value: 12345678788. 12345678788 is greater than the maximum of 2147483647"
        );
        assert_eq!(
            msg(json!(1.5)),
            "Invalid input for field/attribute key_size. Value: 1.5. 1.5 is not of type 'string', 'integer', 'null'"
        );
        assert_eq!(
            msg(json!(true)),
            "Invalid input for field/attribute key_size. Value: True. True is not of type 'string', 'integer', 'null'"
        );
        for bad in ["abc", "0256", " 12", "1e3", "+5", "1_0"] {
            assert_eq!(
                msg(json!(bad)),
                "Invalid input received: key_size must be an integer.",
                "{bad}"
            );
        }
        assert_eq!(
            msg(json!("-0.5")),
            "Invalid input for field/attribute key_size. Value: -0.5. -0.5 is less than the minimum of 0"
        );
        assert_eq!(
            msg(json!("3e9")),
            "Invalid input for field/attribute key_size. Value: 3e9. 3000000000.0 is greater than the maximum of 2147483647"
        );
    }

    #[test]
    fn schema_errors_in_jsonschemas_order() {
        let msg = |v: Value, create: bool| validate(&v, create).unwrap_err().message;
        assert_eq!(msg(Value::Null, true), "None is not of type 'object'");
        assert_eq!(msg(json!({}), true), "'encryption' is a required property");
        assert_eq!(
            msg(json!({"encryption": "x"}), true),
            "Invalid input for field/attribute encryption. Value: x. 'x' is not of type 'object'"
        );
        assert_eq!(
            msg(json!({"encryption": {"provider": "p"}}), true),
            "Invalid input for field/attribute encryption. Value: {'provider': 'p'}. \
             'control_location' is a required property"
        );
        // Property errors come before missing ones, extra top-level keys last.
        assert_eq!(
            msg(json!({"encryption": {"control_location": "middle"}}), true),
            "Invalid input for field/attribute control_location. Value: middle. \
             'middle' is not one of ['front-end', 'back-end']"
        );
        assert_eq!(
            msg(json!({"encryption": {"key_size": 1}, "x": 1}), false),
            "Additional properties are not allowed ('x' was unexpected)"
        );
        assert_eq!(
            msg(json!({"encryption": {"provider": null}}), false),
            "Invalid input for field/attribute provider. Value: None. None is not of type 'string'"
        );
        assert_eq!(
            msg(json!({"encryption": {"cipher": 5}}), false),
            "Invalid input for field/attribute cipher. Value: 5. 5 is not of type 'string', 'null'"
        );
        let long = "c".repeat(256);
        assert_eq!(
            msg(json!({"encryption": {"cipher": long}}), false),
            format!(
                "Invalid input for field/attribute cipher. Value: {long}. '{long}' is too long"
            )
        );
        // Extra properties inside `encryption` are allowed; key_size becomes an int.
        let ok = validate(
            &json!({"encryption": {"provider": "p", "control_location": "back-end", "key_size": "256", "x": 1}}),
            true,
        )
        .unwrap();
        assert_eq!(
            Value::Object(ok),
            json!({"provider": "p", "control_location": "back-end", "key_size": 256, "x": 1})
        );
        assert!(validate(&json!({"encryption": {}}), false).is_ok());
    }
}
