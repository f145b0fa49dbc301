//! Request plumbing shared by every Cinder handler: microversions, the
//! request context, Cinder-style faults and JSON bodies.

use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Map, Value};

use crate::auth::Caller;
use crate::pod::{CINDER_MAX_VERSION, CINDER_MIN_VERSION};

/// The microversion header, as Cinder names it.
pub(crate) const API_VERSION_HEADER: &str = "OpenStack-API-Version";

/// A `3.X` block-storage microversion (only the minor part varies).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Mv(pub u32);

impl Mv {
    pub fn min() -> Mv {
        Mv(minor_of(CINDER_MIN_VERSION))
    }

    pub fn max() -> Mv {
        Mv(minor_of(CINDER_MAX_VERSION))
    }

    /// True if this request is at `3.minor` or later.
    pub fn at_least(self, minor: u32) -> bool {
        self.0 >= minor
    }
}

impl std::fmt::Display for Mv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "3.{}", self.0)
    }
}

fn minor_of(v: &str) -> u32 {
    v.split_once('.')
        .and_then(|(_, m)| m.parse().ok())
        .unwrap_or(0)
}

/// A Cinder fault: `{"<name>": {"code": N, "message": "..."}}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

pub(crate) type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    /// `InvalidInput`: "Invalid input received: ...".
    pub fn invalid_input(reason: impl std::fmt::Display) -> Self {
        Self::bad_request(format!("Invalid input received: {reason}"))
    }

    /// `InvalidVolume`: "Invalid volume: ...".
    pub fn invalid_volume(reason: impl std::fmt::Display) -> Self {
        Self::bad_request(format!("Invalid volume: {reason}"))
    }

    /// `InvalidSnapshot`: "Invalid snapshot: ...".
    pub fn invalid_snapshot(reason: impl std::fmt::Display) -> Self {
        Self::bad_request(format!("Invalid snapshot: {reason}"))
    }

    /// `InvalidBackup`: "Invalid backup: ...".
    pub fn invalid_backup(reason: impl std::fmt::Display) -> Self {
        Self::bad_request(format!("Invalid backup: {reason}"))
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    /// The router's (and an unsupported microversion's) bare 404.
    pub fn no_route() -> Self {
        Self::not_found("The resource could not be found.")
    }

    pub fn volume_not_found(id: &str) -> Self {
        Self::not_found(format!("Volume {id} could not be found."))
    }

    pub fn snapshot_not_found(id: &str) -> Self {
        Self::not_found(format!("Snapshot {id} could not be found."))
    }

    pub fn backup_not_found(id: &str) -> Self {
        Self::not_found(format!("Backup {id} could not be found."))
    }

    pub fn type_not_found(id: &str) -> Self {
        Self::not_found(format!("Volume type {id} could not be found."))
    }

    pub fn type_name_not_found(name: &str) -> Self {
        Self::not_found(format!("Volume type with name {name} could not be found."))
    }

    /// `PolicyNotAuthorized`.
    pub fn policy(action: &str) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            format!("Policy doesn't allow {action} to be performed."),
        )
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, message)
    }

    /// A `QuotaError` as the fault wrapper renders it: `"<Class>: <msg>"`.
    pub fn over_limit(class: &str, message: impl std::fmt::Display) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, format!("{class}: {message}"))
    }

    /// "Malformed request body".
    pub fn malformed() -> Self {
        Self::bad_request("Malformed request body")
    }

    /// A JSON-schema failure on one attribute, as Cinder's validator words
    /// it (the value as `%s` shows it: a string without quotes).
    pub fn validation(attribute: &str, value: &Value, detail: &str) -> Self {
        let shown = match value {
            Value::String(s) => s.clone(),
            other => py_repr(other),
        };
        Self::bad_request(format!(
            "Invalid input for field/attribute {attribute}. Value: {shown}. {detail}"
        ))
    }

    /// A JSON-schema failure without a path (missing top-level key...).
    pub fn schema(detail: impl Into<String>) -> Self {
        Self::bad_request(detail)
    }

    fn fault_name(&self) -> &'static str {
        match self.status.as_u16() {
            400 => "badRequest",
            401 => "unauthorized",
            403 => "forbidden",
            404 => "itemNotFound",
            405 => "badMethod",
            409 => "conflictingRequest",
            413 => "overLimit",
            415 => "badMediaType",
            501 => "notImplemented",
            503 => "serviceUnavailable",
            _ => "computeFault",
        }
    }

    pub fn body(&self) -> Value {
        let mut inner = Map::new();
        inner.insert("code".into(), json!(self.status.as_u16()));
        inner.insert("message".into(), json!(self.message));
        if self.status == StatusCode::PAYLOAD_TOO_LARGE {
            inner.insert("retryAfter".into(), json!("0"));
        }
        let mut outer = Map::new();
        outer.insert(self.fault_name().into(), Value::Object(inner));
        Value::Object(outer)
    }

    pub fn into_reply(self) -> Reply {
        let mut reply = Reply::json(self.status, self.body());
        if self.status == StatusCode::PAYLOAD_TOO_LARGE {
            reply
                .headers
                .push((header::RETRY_AFTER, HeaderValue::from_static("0")));
        }
        reply
    }
}

/// Python's `repr` of a JSON value, as it shows up in Cinder's messages.
pub(crate) fn py_repr(v: &Value) -> String {
    match v {
        Value::Null => "None".into(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => format!("'{s}'"),
        Value::Array(a) => format!("[{}]", a.iter().map(py_repr).collect::<Vec<_>>().join(", ")),
        Value::Object(o) => format!(
            "{{{}}}",
            o.iter()
                .map(|(k, v)| format!("'{k}': {}", py_repr(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// A handler's answer before the common headers are added.
#[derive(Debug)]
pub(crate) struct Reply {
    pub status: StatusCode,
    pub body: Option<Value>,
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

impl Reply {
    pub fn json(status: StatusCode, body: Value) -> Self {
        Self {
            status,
            body: Some(body),
            headers: Vec::new(),
        }
    }

    pub fn ok(body: Value) -> Self {
        Self::json(StatusCode::OK, body)
    }

    pub fn accepted(body: Value) -> Self {
        Self::json(StatusCode::ACCEPTED, body)
    }

    /// A status without a body (Cinder's `webob.Response(status_int=N)`).
    pub fn empty(status: StatusCode) -> Self {
        Self {
            status,
            body: None,
            headers: Vec::new(),
        }
    }

    pub fn into_response(self, version: Option<Mv>) -> Response {
        self.into_response_raw(version.map(|v| v.to_string()))
    }

    /// As [`Reply::into_response`], with the version given as text.
    pub fn into_response_raw(self, version: Option<String>) -> Response {
        let mut resp = match self.body {
            Some(body) => (self.status, axum::Json(body)).into_response(),
            None => {
                let mut r = self.status.into_response();
                r.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/html; charset=UTF-8"),
                );
                r
            }
        };
        for (k, v) in self.headers {
            resp.headers_mut().insert(k, v);
        }
        if let Some(v) = version {
            if let Ok(hv) = HeaderValue::from_str(&format!("volume {v}")) {
                resp.headers_mut()
                    .insert(HeaderName::from_static("openstack-api-version"), hv);
            }
            resp.headers_mut()
                .insert(header::VARY, HeaderValue::from_static(API_VERSION_HEADER));
        }
        resp
    }
}

/// Parses `OpenStack-API-Version` as Cinder's `set_api_version_request`.
/// No header: the minimum version applies.
pub(crate) fn parse_version(headers: &HeaderMap) -> ApiResult<Mv> {
    let Some(raw) = headers
        .get(API_VERSION_HEADER)
        .and_then(|v| v.to_str().ok())
    else {
        return Ok(Mv::min());
    };
    let entry = raw.split(',').find(|h| h.contains("volume"));
    let Some(entry) = entry else {
        // VersionNotFoundForAPIMethod escapes to the fault wrapper, which
        // hides the message of a non-"safe" exception.
        return Err(ApiError::bad_request(
            "The server could not comply with the request since it is either \
             malformed or otherwise incapable of performing it.",
        ));
    };
    let parts: Vec<&str> = entry.split_whitespace().collect();
    let [_, version] = parts.as_slice() else {
        return Err(ApiError::bad_request(format!(
            "API Version String {} is of invalid format. Must be of format MajorNum.MinorNum.",
            entry.trim()
        )));
    };
    if *version == "latest" {
        return Ok(Mv::max());
    }
    let Some((major, minor)) = parse_major_minor(version) else {
        return Err(ApiError::bad_request(format!(
            "API Version String {version} is of invalid format. Must be of format MajorNum.MinorNum."
        )));
    };
    let (min, max) = (Mv::min(), Mv::max());
    if major != 3 || minor < min.0 || minor > max.0 {
        return Err(ApiError::new(
            StatusCode::NOT_ACCEPTABLE,
            format!(
                "Version {major}.{minor} is not supported by the API. Minimum is {min} and maximum is {max}."
            ),
        ));
    }
    Ok(Mv(minor))
}

/// `^([1-9]\d*)\.([1-9]\d*|0)$`.
fn parse_major_minor(s: &str) -> Option<(u32, u32)> {
    let (a, b) = s.split_once('.')?;
    let digits = |x: &str| !x.is_empty() && x.bytes().all(|c| c.is_ascii_digit());
    if !digits(a) || !digits(b) || a.starts_with('0') || (b.len() > 1 && b.starts_with('0')) {
        return None;
    }
    Some((a.parse().ok()?, b.parse().ok()?))
}

/// Everything a handler needs to know about the request.
#[derive(Clone)]
pub(crate) struct Ctx {
    pub caller: Caller,
    pub is_admin: bool,
    pub version: Mv,
    /// e.g. `http://127.0.0.1:8776/volume/v3`.
    pub app_url: String,
    /// e.g. `http://127.0.0.1:8776/volume` (bookmark links).
    pub bookmark_url: String,
    /// Whether the URL carried the project id (it then goes in links too).
    pub project_in_url: bool,
    /// Query parameters in request order.
    pub query: Vec<(String, String)>,
    /// The pod's availability zone.
    pub az: String,
    /// The pod's region (host names).
    pub region: String,
    /// The image service (`imageRef`, upload to image).
    pub images: Option<crate::image::ImageService>,
}

impl Ctx {
    pub fn project_id(&self) -> &str {
        &self.caller.project_id
    }

    pub fn user_id(&self) -> &str {
        &self.caller.user_id
    }

    pub fn is_service(&self) -> bool {
        self.caller.roles.iter().any(|r| r == "service")
    }

    /// 403 unless the caller is an admin.
    pub fn require_admin(&self, action: &str) -> ApiResult<()> {
        if self.is_admin {
            Ok(())
        } else {
            Err(ApiError::policy(action))
        }
    }

    /// The first value of a query parameter.
    pub fn param(&self, key: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub fn has_param(&self, key: &str) -> bool {
        self.query.iter().any(|(k, _)| k == key)
    }

    /// `{app_url}[/{project}]/{collection}`.
    pub fn collection_url(&self, collection: &str) -> String {
        if self.project_in_url {
            format!("{}/{}/{collection}", self.app_url, self.project_id())
        } else {
            format!("{}/{collection}", self.app_url)
        }
    }

    /// Cinder's `self` + `bookmark` links of one resource.
    pub fn links(&self, collection: &str, id: &str) -> Value {
        let bookmark = if self.project_in_url {
            format!(
                "{}/{}/{collection}/{id}",
                self.bookmark_url,
                self.project_id()
            )
        } else {
            format!("{}/{collection}/{id}", self.bookmark_url)
        };
        json!([
            {"rel": "self", "href": format!("{}/{id}", self.collection_url(collection))},
            {"rel": "bookmark", "href": bookmark},
        ])
    }
}

/// The request body as JSON: empty → `Null`; not JSON → "Malformed request body".
pub(crate) fn parse_body(bytes: &[u8]) -> ApiResult<Value> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Null);
    }
    serde_json::from_slice(bytes).map_err(|_| ApiError::malformed())
}

/// `body[key]` as an object, else the schema errors Cinder gives.
pub(crate) fn require_object<'a>(body: &'a Value, key: &str) -> ApiResult<&'a Map<String, Value>> {
    let Some(obj) = body.as_object() else {
        return Err(ApiError::schema(format!(
            "{} is not of type 'object'",
            py_repr(body)
        )));
    };
    match obj.get(key) {
        None => Err(ApiError::schema(format!("'{key}' is a required property"))),
        Some(Value::Object(m)) => Ok(m),
        Some(other) => Err(ApiError::validation(
            key,
            other,
            &format!("{} is not of type 'object'", py_repr(other)),
        )),
    }
}

/// Rejects top-level keys other than `allowed` (`additionalProperties: False`).
pub(crate) fn no_extra_keys(body: &Value, allowed: &[&str]) -> ApiResult<()> {
    if let Some(obj) = body.as_object() {
        let extra: Vec<String> = obj
            .keys()
            .filter(|k| !allowed.contains(&k.as_str()))
            .map(|k| format!("'{k}'"))
            .collect();
        if !extra.is_empty() {
            let verb = if extra.len() == 1 { "was" } else { "were" };
            return Err(ApiError::schema(format!(
                "Additional properties are not allowed ({} {verb} unexpected)",
                extra.join(", ")
            )));
        }
    }
    Ok(())
}

/// An optional string attribute (`null` allowed); other types → 400.
pub(crate) fn opt_str(obj: &Map<String, Value>, key: &str) -> ApiResult<Option<String>> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(ApiError::validation(
            key,
            other,
            &format!("{} is not of type 'string', 'null'", py_repr(other)),
        )),
    }
}

/// A name/description: stripped, at most 255 characters.
pub(crate) fn opt_name(obj: &Map<String, Value>, key: &str) -> ApiResult<Option<String>> {
    let v = opt_str(obj, key)?.map(|s| s.trim().to_string());
    if let Some(s) = &v {
        if s.chars().count() > 255 {
            return Err(ApiError::invalid_input(format!(
                "{key} has {} characters, more than 255.",
                s.chars().count()
            )));
        }
    }
    Ok(v)
}

/// oslo's `bool_from_string(strict=True)` over a JSON value.
pub(crate) fn strict_bool(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::String(s) => str_bool(s),
        Value::Number(n) => match n.as_i64() {
            Some(1) => Some(true),
            Some(0) => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// oslo's `bool_from_string(strict=True)`.
pub(crate) fn str_bool(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "1" | "t" | "true" | "on" | "y" | "yes" => Some(true),
        "0" | "f" | "false" | "off" | "n" | "no" => Some(false),
        _ => None,
    }
}

/// A boolean attribute of a body: `Ok(None)` when absent.
pub(crate) fn opt_bool(obj: &Map<String, Value>, key: &str) -> ApiResult<Option<bool>> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => strict_bool(v).map(Some).ok_or_else(|| {
            ApiError::validation(
                key,
                v,
                &format!("{} is not valid under any of the given schemas", py_repr(v)),
            )
        }),
    }
}

/// A boolean query parameter as Cinder's `get_bool_param`.
pub(crate) fn bool_param(ctx: &Ctx, key: &str) -> ApiResult<bool> {
    match ctx.param(key) {
        None => Ok(false),
        Some(v) => str_bool(v).ok_or_else(|| {
            ApiError::bad_request(format!("Value '{v}' for '{key}' is not a boolean."))
        }),
    }
}

/// A string → string map (metadata, extra specs) as the schemas allow it.
pub(crate) fn string_map(
    attribute: &str,
    v: &Value,
) -> ApiResult<std::collections::BTreeMap<String, String>> {
    let Some(obj) = v.as_object() else {
        return Err(ApiError::validation(
            attribute,
            v,
            &format!("{} is not of type 'object'", py_repr(v)),
        ));
    };
    let mut out = std::collections::BTreeMap::new();
    for (k, val) in obj {
        let key_ok = !k.is_empty()
            && k.chars().count() <= 255
            && k.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_:. /".contains(c));
        if !key_ok {
            return Err(ApiError::validation(
                attribute,
                v,
                &format!("Additional properties are not allowed ('{k}' was unexpected)"),
            ));
        }
        let Value::String(s) = val else {
            return Err(ApiError::validation(
                k,
                val,
                &format!("{} is not of type 'string'", py_repr(val)),
            ));
        };
        if s.chars().count() > 255 {
            return Err(ApiError::validation(
                k,
                val,
                &format!("{} is too long", py_repr(val)),
            ));
        }
        out.insert(k.clone(), s.clone());
    }
    Ok(out)
}

/// A uuid-like string (oslo's `is_uuid_like`: 32 hex digits, dashes optional).
pub(crate) fn is_uuid_like(s: &str) -> bool {
    let hex: String = s.chars().filter(|c| *c != '-').collect();
    hex.len() == 32 && hex.chars().all(|c| c.is_ascii_hexdigit())
}

/// An integer attribute given as a JSON integer or a string of digits.
pub(crate) fn int_like(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
            s.parse().ok()
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hdr(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("openstack-api-version", HeaderValue::from_str(v).unwrap());
        h
    }

    #[test]
    fn versions_parse_like_cinder() {
        assert_eq!(parse_version(&HeaderMap::new()).unwrap(), Mv(0));
        assert_eq!(parse_version(&hdr("volume 3.5")).unwrap(), Mv(5));
        assert_eq!(parse_version(&hdr("volume latest")).unwrap(), Mv::max());
        assert_eq!(
            parse_version(&hdr("compute 2.1, volume 3.27")).unwrap(),
            Mv(27)
        );
        let e = parse_version(&hdr("volume 3.99")).unwrap_err();
        assert_eq!(e.status, StatusCode::NOT_ACCEPTABLE);
        assert_eq!(
            e.message,
            "Version 3.99 is not supported by the API. Minimum is 3.0 and maximum is 3.70."
        );
        assert_eq!(
            parse_version(&hdr("volume 2.0")).unwrap_err().status,
            StatusCode::NOT_ACCEPTABLE
        );
        assert_eq!(
            parse_version(&hdr("volume 3.x")).unwrap_err().status,
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            parse_version(&hdr("volume 3.01")).unwrap_err().status,
            StatusCode::BAD_REQUEST
        );
    }

    #[test]
    fn fault_bodies() {
        let e = ApiError::over_limit("VolumeLimitExceeded", "x");
        assert_eq!(
            e.body(),
            json!({"overLimit": {"code": 413, "message": "VolumeLimitExceeded: x", "retryAfter": "0"}})
        );
        assert_eq!(
            ApiError::new(StatusCode::NOT_ACCEPTABLE, "m").body(),
            json!({"computeFault": {"code": 406, "message": "m"}})
        );
    }

    #[test]
    fn py_repr_like_python() {
        assert_eq!(
            py_repr(&json!({"a": [1, null, true]})),
            "{'a': [1, None, True]}"
        );
    }

    #[test]
    fn uuid_like() {
        assert!(is_uuid_like("0c8d1a9e-1b4b-4a1e-9c3e-1234567890ab"));
        assert!(is_uuid_like("0c8d1a9e1b4b4a1e9c3e1234567890ab"));
        assert!(!is_uuid_like("gold"));
    }
}
