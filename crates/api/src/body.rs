//! Request bodies: JSON, with printable names, and every way a body can be
//! wrong answered with a clear 4xx in the API's format. (Media types, sizes
//! and slow bodies are the shell's: [`crate::shell`].)

use axum::extract::{FromRequest, Request};
use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::ApiError;

/// A JSON body deserialized into `T`: malformed JSON, wrong fields and
/// unprintable names are 400s.
pub struct JsonBody<T>(pub T);

impl<S, T> FromRequest<S> for JsonBody<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        // The shell has answered for wrong media types and for bodies too
        // large or too slow; what remains is a body that could not be read.
        let bytes = Bytes::from_request(req, state).await.map_err(|r| {
            ApiError::bad_request(format!(
                "Could not read the request body: {}",
                r.body_text()
            ))
        })?;
        parse_json(&bytes).map(JsonBody)
    }
}

/// A request body as `T`: JSON (empty and malformed bodies are 400s) whose
/// names and descriptions are printable text (see [`check_text`]).
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request(
            "The request body is empty; a JSON object is required.",
        ));
    }
    let value: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|e| ApiError::bad_request(format!("Malformed request body: {e}")))?;
    check_text(&value)?;
    serde_json::from_value(value).map_err(|e| ApiError::bad_request(format!("Invalid input: {e}")))
}

/// Whether a character may appear in a name or description: Nova's
/// "printable" less its Unicode tables: no control characters (C0, DEL,
/// C1) and no line or paragraph separators.
pub fn is_printable(c: char) -> bool {
    !c.is_control() && c != '\u{2028}' && c != '\u{2029}'
}

/// Names and descriptions of a request body, where the APIs keep them: in
/// the body's object and in the objects it holds (`{"server": {"name"}}`,
/// `{"rebuild": {"name"}}`): every string under a key `name`, `*_name`,
/// `description` or `*_description` must be printable. Nova refuses the
/// rest with its `InvalidName` message; Cinder and the admin API answer the
/// same way (and no database may store a NUL).
pub fn check_text(body: &Value) -> Result<(), ApiError> {
    let Value::Object(top) = body else {
        return Ok(());
    };
    let inner = top.values().filter_map(Value::as_object);
    for (key, value) in std::iter::once(top).chain(inner).flatten() {
        let Value::String(text) = value else { continue };
        if text.chars().all(is_printable) {
            continue;
        }
        if key == "name" || key.ends_with("_name") {
            return Err(ApiError::bad_request(
                "An invalid 'name' value was provided. The name must be: printable characters.",
            ));
        }
        if key == "description" || key.ends_with("_description") {
            return Err(ApiError::bad_request(format!(
                "Invalid input for field/attribute {key}. The value must be printable characters."
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct T {
        name: String,
    }

    #[test]
    fn names_and_descriptions_are_printable() {
        use serde_json::json;
        for ok in [
            json!({"server": {"name": "vm-1 é 名前", "description": "tab-free"}}),
            json!({"server": {"metadata": {"name": "a\u{0}b"}}}),
            json!({"server": {"user_data": "\n\t"}}),
            json!({"volume": {"name": null}}),
            json!([{"name": "\u{0}"}]),
        ] {
            assert_eq!(check_text(&ok), Ok(()), "{ok}");
        }
        for (bad, needle) in [
            (json!({"server": {"name": "a\u{0}b"}}), "invalid 'name'"),
            (
                json!({"keypair": {"name": "k\u{1b}[31m"}}),
                "invalid 'name'",
            ),
            (
                json!({"flavor": {"description": "line\nbreak"}}),
                "description",
            ),
            (
                json!({"volume": {"display_name": "\u{85}"}}),
                "invalid 'name'",
            ),
            (json!({"rebuild": {"name": "a\u{2028}b"}}), "invalid 'name'"),
            (json!({"pod": {"az_name": "\u{7f}"}}), "invalid 'name'"),
            (json!({"name": "\u{9f}"}), "invalid 'name'"),
        ] {
            let e = check_text(&bad)
                .err()
                .unwrap_or_else(|| panic!("{bad} passed"));
            assert_eq!(e.status, StatusCode::BAD_REQUEST);
            assert!(e.message.contains(needle), "{}", e.message);
        }
        let e = parse_json::<Value>(br#"{"volume": {"name": "a\u0000"}}"#).err();
        assert_eq!(e.map(|e| e.status), Some(StatusCode::BAD_REQUEST));
    }

    #[test]
    fn errors_are_bad_requests() {
        for (input, needle) in [
            (&b""[..], "empty"),
            (b"  ", "empty"),
            (b"{", "Malformed"),
            (b"[]", "Invalid input"),
            (br#"{"name": 3}"#, "Invalid input"),
            (br#"{"name": "a", "x": 1}"#, "unknown field"),
        ] {
            let e = parse_json::<T>(input).err().map(|e| (e.status, e.message));
            let (status, message) = e.unwrap_or_else(|| panic!("{input:?} parsed"));
            assert_eq!(status, StatusCode::BAD_REQUEST);
            assert!(message.contains(needle), "{message}");
        }
        assert!(parse_json::<T>(br#"{"name": "a"}"#).is_ok());
    }
}
