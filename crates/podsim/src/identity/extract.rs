//! Request extractors whose rejections are Keystone-style errors.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Query, Request};
use axum::http::request::Parts;
use serde_json::{Map, Value};

use super::error::KsError;
use super::store::Caller;
use super::Identity;

pub(crate) const AUTH_TOKEN: &str = "x-auth-token";
pub(crate) const SUBJECT_TOKEN: &str = "x-subject-token";

/// The caller behind a valid `X-Auth-Token`; 401 otherwise.
pub(crate) struct Auth(pub Caller);

impl FromRequestParts<Identity> for Auth {
    type Rejection = KsError;

    async fn from_request_parts(parts: &mut Parts, state: &Identity) -> Result<Self, KsError> {
        let token = parts
            .headers
            .get(AUTH_TOKEN)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(KsError::unauthorized)?;
        state
            .with_store(|s| s.caller(token))
            .map(Auth)
            .ok_or_else(KsError::unauthorized)
    }
}

/// A JSON object request body; 400 Keystone `ValidationError` otherwise.
pub(crate) struct Body(pub Map<String, Value>);

impl<S: Send + Sync> FromRequest<S> for Body {
    type Rejection = KsError;

    async fn from_request(req: Request, state: &S) -> Result<Self, KsError> {
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|_| KsError::validation("valid JSON", "request body"))?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Body(Map::new()));
        }
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(Value::Object(map)) => Ok(Body(map)),
            Ok(_) => Err(KsError::validation("valid JSON object", "request body")),
            Err(_) => Err(KsError::validation("valid JSON", "request body")),
        }
    }
}

/// Query string parameters plus the request path, for filters and `links.self`.
pub(crate) struct Params {
    pub map: HashMap<String, String>,
    pub path: String,
    pub query: Option<String>,
}

impl Params {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.map.get(key).map(String::as_str)
    }

    pub fn has(&self, key: &str) -> bool {
        self.map.contains_key(key)
    }

    /// Keystone's `query_filter_is_true`: present and not `0`/`false`.
    pub fn flag(&self, key: &str) -> bool {
        match self.get(key) {
            None => false,
            Some(v) => !matches!(
                v.to_ascii_lowercase().as_str(),
                "0" | "false" | "no" | "off"
            ),
        }
    }

    /// True if the optional filter `key` is absent or equals `value`.
    pub fn matches(&self, key: &str, value: &str) -> bool {
        self.get(key).is_none_or(|v| v == value)
    }

    /// True if the optional boolean filter `key` is absent or matches `value`.
    pub fn matches_bool(&self, key: &str, value: bool) -> bool {
        match self.get(key) {
            None => true,
            Some(v) => {
                let wanted = !matches!(
                    v.to_ascii_lowercase().as_str(),
                    "0" | "false" | "no" | "off"
                );
                wanted == value
            }
        }
    }

    /// `{"self": <url of this request>, "previous": null, "next": null}`.
    pub fn collection_links(&self, public_url: &str) -> Value {
        let mut href = format!("{public_url}{}", self.path);
        if let Some(q) = &self.query {
            href.push('?');
            href.push_str(q);
        }
        serde_json::json!({"self": href, "previous": null, "next": null})
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Params {
    type Rejection = KsError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, KsError> {
        let Query(map) = Query::<HashMap<String, String>>::try_from_uri(&parts.uri)
            .map_err(|e| KsError::bad_request(format!("Invalid query string: {e}")))?;
        Ok(Params {
            map,
            path: parts.uri.path().to_string(),
            query: parts
                .uri
                .query()
                .filter(|q| !q.is_empty())
                .map(str::to_string),
        })
    }
}

/// A required string attribute of a JSON object.
pub(crate) fn req_str<'a>(
    obj: &'a Map<String, Value>,
    key: &str,
    target: &str,
) -> Result<&'a str, KsError> {
    match obj.get(key) {
        Some(Value::String(s)) => Ok(s),
        Some(other) => Err(KsError::bad_request(format!(
            "Invalid input for field '{key}': {other} is not of type 'string'"
        ))),
        None => Err(KsError::validation(key, target)),
    }
}

/// An optional string attribute (`null` counts as absent).
pub(crate) fn opt_str<'a>(
    obj: &'a Map<String, Value>,
    key: &str,
) -> Result<Option<&'a str>, KsError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(KsError::bad_request(format!(
            "Invalid input for field '{key}': {other} is not of type 'string'"
        ))),
    }
}

/// An optional boolean attribute.
pub(crate) fn opt_bool(obj: &Map<String, Value>, key: &str) -> Result<Option<bool>, KsError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(other) => Err(KsError::bad_request(format!(
            "Invalid input for field '{key}': {other} is not of type 'boolean'"
        ))),
    }
}

/// A required object attribute.
pub(crate) fn req_obj<'a>(
    obj: &'a Map<String, Value>,
    key: &str,
    target: &str,
) -> Result<&'a Map<String, Value>, KsError> {
    match obj.get(key) {
        Some(Value::Object(m)) => Ok(m),
        Some(other) => Err(KsError::bad_request(format!(
            "Invalid input for field '{key}': {other} is not of type 'object'"
        ))),
        None => Err(KsError::validation(key, target)),
    }
}
