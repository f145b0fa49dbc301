//! Request bodies: JSON only, size-limited, and every way a body can be
//! wrong answered with a clear 4xx in the API's format.

use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, Request};
use axum::http::{header, StatusCode};
use bytes::Bytes;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// A JSON body deserialized into `T`. Missing or wrong content types,
/// oversized bodies, malformed JSON and wrong fields all become 4xx.
pub struct JsonBody<T>(pub T);

impl<S, T> FromRequest<S> for JsonBody<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if let Some(ct) = req.headers().get(header::CONTENT_TYPE) {
            let ct = ct.to_str().unwrap_or("");
            let mime = ct.split(';').next().unwrap_or("").trim();
            if !mime.eq_ignore_ascii_case("application/json") {
                return Err(ApiError::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    format!("Unsupported Content-Type '{ct}': send application/json"),
                ));
            }
        }
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(bytes_rejection)?;
        parse_json(&bytes).map(JsonBody)
    }
}

pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request(
            "The request body is empty; a JSON object is required.",
        ));
    }
    let value: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|e| ApiError::bad_request(format!("Malformed request body: {e}")))?;
    serde_json::from_value(value).map_err(|e| ApiError::bad_request(format!("Invalid input: {e}")))
}

fn bytes_rejection(r: BytesRejection) -> ApiError {
    let status = r.status();
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(status, "Request body is larger than the configured limit.")
    } else {
        ApiError::new(
            status,
            format!("Could not read the request body: {}", r.body_text()),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct T {
        name: String,
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
