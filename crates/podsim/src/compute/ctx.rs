//! Per-request context for Nova handlers (caller, microversion, link
//! prefixes, query string), the JSON body extractor, and jsonschema-style
//! validation helpers with Nova's messages.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, OriginalUri, Request};
use axum::http::header;
use axum::http::request::Parts;
use base64::alphabet;
use base64::engine::{GeneralPurpose, GeneralPurposeConfig};
use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};

use super::error::{NResult, NovaError};
use super::query::Query;
use super::version::Version;
use crate::auth::Caller;
use crate::image::schema::py_repr;

/// Standard base64 with canonical padding that, like Python's `binascii`,
/// ignores the unused low bits of the last character.
pub(crate) const BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
);

/// The project id found in a legacy `/compute/v2.1/{project_id}/...` URL.
#[derive(Debug, Clone)]
pub(crate) struct UrlProject(pub Option<String>);

/// Everything a handler needs to know about the request.
#[derive(Debug, Clone)]
pub(crate) struct Ctx {
    pub caller: Caller,
    pub ver: Version,
    /// `http://<Host>`.
    pub host: String,
    /// The project id segment of a legacy URL.
    pub url_project: Option<String>,
    pub query: Query,
}

impl<S: Send + Sync> FromRequestParts<S> for Ctx {
    type Rejection = NovaError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, NovaError> {
        let caller =
            parts.extensions.get::<Caller>().cloned().ok_or_else(|| {
                NovaError::new(axum::http::StatusCode::UNAUTHORIZED, "Unauthorized")
            })?;
        let ver = parts
            .extensions
            .get::<Version>()
            .copied()
            .unwrap_or_else(Version::min);
        let url_project = parts
            .extensions
            .get::<UrlProject>()
            .and_then(|p| p.0.clone());
        let uri = parts
            .extensions
            .get::<OriginalUri>()
            .map(|u| u.0.clone())
            .unwrap_or_else(|| parts.uri.clone());
        Ok(Ctx {
            caller,
            ver,
            host: crate::pod::host_url(&parts.headers),
            url_project,
            query: Query::parse(uri.query()),
        })
    }
}

impl Ctx {
    pub fn is_admin(&self) -> bool {
        self.caller.is_admin()
    }

    pub fn project(&self) -> &str {
        &self.caller.project_id
    }

    pub fn user(&self) -> &str {
        &self.caller.user_id
    }

    pub fn at_least(&self, minor: u32) -> bool {
        self.ver.at_least(minor)
    }

    fn project_part(&self) -> String {
        self.url_project
            .as_ref()
            .map(|p| format!("/{p}"))
            .unwrap_or_default()
    }

    /// `http://host/compute/v2.1[/project]`.
    pub fn api_url(&self) -> String {
        format!("{}/compute/v2.1{}", self.host, self.project_part())
    }

    /// `http://host/compute[/project]` (bookmark links drop the version).
    pub fn bookmark_url(&self) -> String {
        format!("{}/compute{}", self.host, self.project_part())
    }

    /// `[{"rel": "self", ...}, {"rel": "bookmark", ...}]`.
    pub fn links(&self, collection: &str, id: &str) -> Value {
        json!([
            {"rel": "self", "href": format!("{}/{collection}/{id}", self.api_url())},
            {"rel": "bookmark", "href": format!("{}/{collection}/{id}", self.bookmark_url())},
        ])
    }

    /// A bookmark link only (image and flavor references in a server).
    pub fn bookmark(&self, collection: &str, id: &str) -> Value {
        json!([{"rel": "bookmark", "href": format!("{}/{collection}/{id}", self.bookmark_url())}])
    }

    /// `servers_links`-style next link when a page is full, as Nova's
    /// `_get_collection_links` builds it.
    pub fn next_links(
        &self,
        collection: &str,
        count: usize,
        last_id: Option<&str>,
    ) -> Option<Value> {
        let max = self
            .query
            .get("limit")
            .and_then(|l| l.parse::<usize>().ok())
            .unwrap_or(super::MAX_LIMIT)
            .min(super::MAX_LIMIT);
        if max == 0 || max != count {
            return None;
        }
        let last = last_id?;
        let mut pairs: Vec<(String, String)> = self.query.pairs().to_vec();
        pairs.sort();
        let mut params = super::query::py_dict(&pairs);
        match params.iter_mut().find(|(k, _)| k == "marker") {
            Some(e) => e.1 = last.to_string(),
            None => params.push(("marker".into(), last.to_string())),
        }
        let qs = super::query::urlencode(&params);
        Some(json!([{"rel": "next", "href": format!("{}/{collection}?{qs}", self.api_url())}]))
    }

    /// Nova's `get_limit_and_marker`.
    pub fn limit_and_marker(&self) -> NResult<(usize, Option<String>)> {
        let limit = match self.query.get("limit") {
            None => super::MAX_LIMIT,
            Some(l) => {
                let n = parse_int_param(l, "limit", self.at_least(75))?;
                n.min(super::MAX_LIMIT)
            }
        };
        Ok((limit, self.query.get("marker").map(str::to_string)))
    }

    /// Checks an admin-only policy rule.
    pub fn require_admin(&self, rule: &str) -> NResult<()> {
        if self.is_admin() {
            Ok(())
        } else {
            Err(NovaError::policy(rule))
        }
    }

    /// Nova's rule for requests with additionalProperties false on the query
    /// (from 2.75 on for many APIs).
    pub fn check_query_keys(&self, allowed: &[&str]) -> NResult<()> {
        let extra: Vec<&str> = self
            .query
            .keys()
            .into_iter()
            .filter(|k| !allowed.contains(k))
            .collect();
        if extra.is_empty() {
            Ok(())
        } else {
            Err(NovaError::bad_request(additional_message(&extra)))
        }
    }
}

/// A non-negative integer query parameter.
pub(crate) fn parse_int_param(v: &str, name: &str, schema_style: bool) -> NResult<usize> {
    match v.trim().parse::<i64>() {
        Ok(n) if n >= 0 => Ok(n as usize),
        Ok(_) if schema_style => Err(NovaError::bad_request(format!(
            "Invalid input for query parameters {name}. Value: {v}. '{v}' does not match '^[0-9]*$'"
        ))),
        Ok(_) => Err(NovaError::bad_request(format!("{name} must be >= 0"))),
        Err(_) => Err(NovaError::bad_request(format!(
            "Invalid input for query parameters {name}. Value: {v}. '{v}' does not match '^[0-9]*$'"
        ))),
    }
}

/// A JSON request body (`Null` when empty); 400 "Malformed request body".
pub(crate) struct NBody(pub Value);

impl<S: Send + Sync> FromRequest<S> for NBody {
    type Rejection = NovaError;

    async fn from_request(req: Request, state: &S) -> Result<Self, NovaError> {
        let ct = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|s| {
                s.split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_ascii_lowercase()
            });
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|_| NovaError::bad_request("Malformed request body"))?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(NBody(Value::Null));
        }
        if let Some(ct) = ct {
            if !ct.is_empty()
                && ct != "application/json"
                && ct != "application/vnd.openstack.compute+json"
            {
                return Err(NovaError::new(
                    axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "Unsupported Content-Type",
                ));
            }
        }
        serde_json::from_slice(&bytes)
            .map(NBody)
            .map_err(|_| NovaError::bad_request("Malformed request body"))
    }
}

// ------------------------------------------------------------ validation

/// `Invalid input for field/attribute <path>. Value: <value>. <message>`.
pub(crate) fn field_error(path: &str, value: &Value, message: &str) -> NovaError {
    NovaError::bad_request(format!(
        "Invalid input for field/attribute {path}. Value: {}. {message}",
        value_repr(value)
    ))
}

/// The value as Nova's message shows it (`%s` of the Python object).
pub(crate) fn value_repr(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => py_repr(other),
    }
}

/// jsonschema's additionalProperties message.
pub(crate) fn additional_message(extra: &[&str]) -> String {
    let list = extra
        .iter()
        .map(|k| crate::image::schema::py_str(k))
        .collect::<Vec<_>>()
        .join(", ");
    let verb = if extra.len() == 1 { "was" } else { "were" };
    format!("Additional properties are not allowed ({list} {verb} unexpected)")
}

/// The top-level `{"<key>": {...}}` object of a request body, with
/// jsonschema's errors for a missing key or extra keys.
pub(crate) fn wrapper<'a>(
    body: &'a Value,
    key: &str,
    allowed_top: &[&str],
) -> NResult<&'a Map<String, Value>> {
    let Some(obj) = body.as_object() else {
        return Err(NovaError::bad_request(format!(
            "{} is not of type 'object'",
            py_repr(body)
        )));
    };
    let inner = match obj.get(key) {
        None => {
            return Err(NovaError::bad_request(format!(
                "'{key}' is a required property"
            )))
        }
        Some(Value::Object(m)) => m,
        Some(other) => {
            return Err(field_error(
                key,
                other,
                &format!("{} is not of type 'object'", py_repr(other)),
            ))
        }
    };
    let extra: Vec<&str> = obj
        .keys()
        .map(String::as_str)
        .filter(|k| *k != key && !allowed_top.contains(k))
        .collect();
    if !extra.is_empty() {
        return Err(NovaError::bad_request(additional_message(&extra)));
    }
    Ok(inner)
}

/// Required and additional properties of an object at `path`.
pub(crate) fn check_keys(
    path: &str,
    obj: &Map<String, Value>,
    allowed: &[&str],
    required: &[&str],
) -> NResult<()> {
    let whole = Value::Object(obj.clone());
    for r in required {
        if !obj.contains_key(*r) {
            return Err(field_error(
                path,
                &whole,
                &format!("'{r}' is a required property"),
            ));
        }
    }
    let extra: Vec<&str> = obj
        .keys()
        .map(String::as_str)
        .filter(|k| !allowed.contains(k))
        .collect();
    if !extra.is_empty() {
        return Err(field_error(path, &whole, &additional_message(&extra)));
    }
    Ok(())
}

/// Nova's `name` format: 1..255 printable characters, no leading or
/// trailing whitespace.
pub(crate) fn check_name(field: &str, v: &Value) -> NResult<String> {
    let Some(s) = v.as_str() else {
        return Err(field_error(
            field,
            v,
            &format!("{} is not of type 'string'", py_repr(v)),
        ));
    };
    if s.is_empty() {
        return Err(field_error(field, v, "'' should be non-empty"));
    }
    if s.chars().count() > 255 {
        return Err(field_error(
            field,
            v,
            &format!("{} is too long", py_repr(v)),
        ));
    }
    let bad_edge = |c: char| c.is_whitespace();
    if s.starts_with(bad_edge) || s.ends_with(bad_edge) || s.chars().any(|c| c.is_control()) {
        return Err(NovaError::bad_request(
            "An invalid 'name' value was provided. The name must be: printable characters. \
             Can not start or end with whitespace.",
        ));
    }
    Ok(s.to_string())
}

/// An optional string field (with `maxLength`).
pub(crate) fn opt_string(
    obj: &Map<String, Value>,
    key: &str,
    max: usize,
    nullable: bool,
) -> NResult<Option<String>> {
    match obj.get(key) {
        None => Ok(None),
        Some(Value::Null) if nullable => Ok(None),
        Some(Value::String(s)) => {
            if s.chars().count() > max {
                Err(field_error(
                    key,
                    &Value::String(s.clone()),
                    &format!("{} is too long", py_repr(&Value::String(s.clone()))),
                ))
            } else {
                Ok(Some(s.clone()))
            }
        }
        Some(other) => Err(field_error(
            key,
            other,
            &format!(
                "{} is not of type {}",
                py_repr(other),
                if nullable {
                    "'string', 'null'"
                } else {
                    "'string'"
                }
            ),
        )),
    }
}

/// Nova's `parameter_types.boolean` (booleans or their string forms).
pub(crate) fn opt_bool(obj: &Map<String, Value>, key: &str) -> NResult<Option<bool>> {
    match obj.get(key) {
        None => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(Value::String(s)) => match s.as_str() {
            "True" | "TRUE" | "true" | "1" | "ON" | "On" | "on" | "YES" | "Yes" | "yes" => {
                Ok(Some(true))
            }
            "False" | "FALSE" | "false" | "0" | "OFF" | "Off" | "off" | "NO" | "No" | "no" => {
                Ok(Some(false))
            }
            _ => Err(field_error(
                key,
                &Value::String(s.clone()),
                &format!(
                    "{} is not one of [True, 'True', 'TRUE', 'true', '1', 'ON', 'On', 'on', \
                     'YES', 'Yes', 'yes', False, 'False', 'FALSE', 'false', '0', 'OFF', 'Off', \
                     'off', 'NO', 'No', 'no']",
                    py_repr(&Value::String(s.clone()))
                ),
            )),
        },
        Some(other) => Err(field_error(
            key,
            other,
            &format!("{} is not of type 'boolean', 'string'", py_repr(other)),
        )),
    }
}

/// An integer that may come as a string (`^[0-9]+$`), within bounds.
pub(crate) fn int_field(key: &str, v: &Value, min: i64, max: i64) -> NResult<i64> {
    let n = match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) if !s.is_empty() && s.chars().all(|c| c.is_ascii_digit()) => {
            s.parse::<i64>().ok()
        }
        Value::String(s) => {
            return Err(field_error(
                key,
                v,
                &format!(
                    "{} does not match '^[0-9]+$'",
                    py_repr(&Value::String(s.clone()))
                ),
            ))
        }
        _ => None,
    };
    let Some(n) = n else {
        return Err(field_error(
            key,
            v,
            &format!("{} is not of type 'integer', 'string'", py_repr(v)),
        ));
    };
    if n < min {
        return Err(field_error(
            key,
            v,
            &format!("{} is less than the minimum of {min}", py_repr(v)),
        ));
    }
    if n > max {
        return Err(field_error(
            key,
            v,
            &format!("{} is greater than the maximum of {max}", py_repr(v)),
        ));
    }
    Ok(n)
}

/// Nova's `metadata` parameter type: string keys `^[a-zA-Z0-9-_:. ]{1,255}$`
/// and string values up to 255 characters.
pub(crate) fn metadata_field(
    key: &str,
    v: &Value,
) -> NResult<std::collections::BTreeMap<String, String>> {
    let Some(obj) = v.as_object() else {
        return Err(field_error(
            key,
            v,
            &format!("{} is not of type 'object'", py_repr(v)),
        ));
    };
    let mut out = std::collections::BTreeMap::new();
    for (k, val) in obj {
        let key_ok = !k.is_empty()
            && k.chars().count() <= 255
            && k.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_:. ".contains(c));
        if !key_ok {
            return Err(field_error(
                key,
                v,
                &format!(
                    "Additional properties are not allowed ({} was unexpected)",
                    crate::image::schema::py_str(k)
                ),
            ));
        }
        let Some(s) = val.as_str() else {
            return Err(field_error(
                k,
                val,
                &format!("{} is not of type 'string'", py_repr(val)),
            ));
        };
        if s.chars().count() > 255 {
            return Err(field_error(
                k,
                val,
                &format!("{} is too long", py_repr(val)),
            ));
        }
        out.insert(k.clone(), s.to_string());
    }
    Ok(out)
}

/// True for `8-4-4-4-12` hex or 32 hex digits (oslo's `is_uuid_like`).
pub(crate) fn is_uuid_like(s: &str) -> bool {
    matches!(s.len(), 32 | 36) && uuid::Uuid::try_parse(s).is_ok()
}

// ------------------------------------------------------------ timestamps

/// `utils.isotime`: `2026-11-25T08:00:00Z`.
pub(crate) fn isotime(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// A naive datetime as Nova's JSON serializer writes it:
/// `2026-11-25T08:00:00.000000`.
pub(crate) fn naive(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6f").to_string()
}

/// Parses an ISO 8601 timestamp (`changes-since`), naive ones as UTC.
pub(crate) fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    for fmt in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(s, fmt) {
            return Some(t.and_utc());
        }
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return d.and_hms_opt(0, 0, 0).map(|t| t.and_utc());
    }
    // `+0000` / `+00:00` offsets without seconds fraction handled above;
    // try a trailing `Z` with no seconds.
    None
}

/// Path parameters by name (the legacy URL form adds `project_id`).
pub(crate) struct P(pub std::collections::HashMap<String, String>);

impl P {
    pub fn get(&self, key: &str) -> &str {
        self.0.get(key).map(String::as_str).unwrap_or("")
    }
}

impl<S: Send + Sync> FromRequestParts<S> for P {
    type Rejection = NovaError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, NovaError> {
        axum::extract::Path::<std::collections::HashMap<String, String>>::from_request_parts(
            parts, state,
        )
        .await
        .map(|p| P(p.0))
        .map_err(|_| NovaError::resource_not_found())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_like_is_dashed_or_plain_hex() {
        let cases = [
            ("6e3b0e3f-6d5c-4bfb-9e4e-2bd5a1a5f1a1", true),
            ("6E3B0E3F6D5C4BFB9E4E2BD5A1A5F1A1", true),
            ("6e3b0e3f6-d5c-4bfb-9e4e-2bd5a1a5f1a1", false),
            ("{6e3b0e3f-6d5c-4bfb-9e4e-2bd5a1a5f1a1}", false),
            ("gold", false),
        ];
        for (s, want) in cases {
            assert_eq!(is_uuid_like(s), want, "{s}");
        }
    }

    #[test]
    fn messages() {
        assert_eq!(
            additional_message(&["foo"]),
            "Additional properties are not allowed ('foo' was unexpected)"
        );
        assert_eq!(
            additional_message(&["a", "b"]),
            "Additional properties are not allowed ('a', 'b' were unexpected)"
        );
        let v = json!({"name": "x", "foo": 1});
        let e = check_keys(
            "server",
            v.as_object().unwrap_or(&Map::new()),
            &["name"],
            &[],
        )
        .err()
        .map(|e| e.message);
        assert_eq!(
            e.as_deref(),
            Some(
                "Invalid input for field/attribute server. Value: {'foo': 1, 'name': 'x'}. \
                 Additional properties are not allowed ('foo' was unexpected)"
            )
        );
    }

    #[test]
    fn times() {
        assert!(parse_time("2026-01-01T00:00:00Z").is_some());
        assert!(parse_time("2026-01-01T00:00:00.123456").is_some());
        assert!(parse_time("2026-01-01").is_some());
        assert!(parse_time("yesterday").is_none());
    }
}
