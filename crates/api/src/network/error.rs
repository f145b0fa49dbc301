//! Neutron's error body, `{"NeutronError": {"type", "message", "detail"}}`,
//! for the domain's errors and for what the shared shell answers (unknown
//! paths, wrong methods, bodies not JSON, too large or too slow, load
//! shedding, panics).

use axum::body::Body;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use tricircle_network::{ErrorClass, NeutronError};

/// The HTTP status of each class of the network domain's errors, as
/// Neutron answers them. The one place a class becomes a status: the
/// Neutron API and Nova's boot-on-networks both ask here.
pub fn status_of(class: ErrorClass) -> StatusCode {
    match class {
        ErrorClass::BadRequest => StatusCode::BAD_REQUEST,
        ErrorClass::Forbidden => StatusCode::FORBIDDEN,
        ErrorClass::NotFound => StatusCode::NOT_FOUND,
        ErrorClass::Conflict => StatusCode::CONFLICT,
        ErrorClass::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorClass::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// A domain error as an HTTP answer.
#[derive(Debug)]
pub struct NetError(pub NeutronError);

impl From<NeutronError> for NetError {
    fn from(e: NeutronError) -> NetError {
        NetError(e)
    }
}

/// Marks an answer whose body is already Neutron's.
#[derive(Debug, Clone, Copy)]
struct NeutronBody;

impl IntoResponse for NetError {
    fn into_response(self) -> Response {
        let e = self.0;
        let status = status_of(e.class);
        let body =
            json!({"NeutronError": {"type": e.kind, "message": e.message, "detail": e.detail}});
        let mut resp = (status, Json(body)).into_response();
        resp.extensions_mut().insert(NeutronBody);
        resp
    }
}

/// webob's exception name for a status.
fn http_type(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "HTTPBadRequest",
        403 => "HTTPForbidden",
        404 => "HTTPNotFound",
        405 => "HTTPMethodNotAllowed",
        408 => "HTTPRequestTimeout",
        409 => "HTTPConflict",
        413 => "HTTPRequestEntityTooLarge",
        415 => "HTTPUnsupportedMediaType",
        503 => "HTTPServiceUnavailable",
        _ => "HTTPInternalServerError",
    }
}

/// Rewrites an error answer that is not in Neutron's format yet (from the
/// shared shell). 401s keep keystonemiddleware's body, as Neutron's do.
pub(super) async fn neutron_fault_body(resp: Response) -> Response {
    let status = resp.status();
    if status.as_u16() < 400
        || status == StatusCode::UNAUTHORIZED
        || resp.extensions().get::<NeutronBody>().is_some()
    {
        return resp;
    }
    let (mut parts, body) = resp.into_parts();
    let bytes = axum::body::to_bytes(body, 64 * 1024)
        .await
        .unwrap_or_default();
    let message = serde_json::from_slice::<Value>(&bytes)
        .ok()
        .and_then(|v| {
            v.as_object()
                .and_then(|m| m.values().next())
                .and_then(|inner| inner.get("message"))
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .unwrap_or_else(|| status.canonical_reason().unwrap_or("Error").to_string());
    let body =
        json!({"NeutronError": {"type": http_type(status), "message": message, "detail": ""}});
    let text = body.to_string();
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn shell_errors_become_neutron_errors() {
        let nova = (
            StatusCode::NOT_FOUND,
            Json(json!({"itemNotFound": {"message": "The resource could not be found.", "code": 404}})),
        )
            .into_response();
        let resp = neutron_fault_body(nova).await;
        assert_eq!(resp.status(), StatusCode::NOT_FOUND);
        let bytes = axum::body::to_bytes(resp.into_body(), 1024)
            .await
            .unwrap_or_default();
        let v: Value = serde_json::from_slice(&bytes).unwrap_or_default();
        assert_eq!(v["NeutronError"]["type"], "HTTPNotFound");
        assert_eq!(
            v["NeutronError"]["message"],
            "The resource could not be found."
        );

        let ours = NetError(NeutronError::network_not_found("x")).into_response();
        let resp = neutron_fault_body(ours).await;
        let bytes = axum::body::to_bytes(resp.into_body(), 1024)
            .await
            .unwrap_or_default();
        let v: Value = serde_json::from_slice(&bytes).unwrap_or_default();
        assert_eq!(v["NeutronError"]["type"], "NetworkNotFound");
    }
}
