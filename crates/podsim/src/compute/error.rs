//! Nova faults: `{"<faultName>": {"code": N, "message": "..."}}`, the fault
//! name following the status code as in `nova.api.openstack.wsgi.Fault`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

/// A Nova API error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NovaError {
    pub status: StatusCode,
    pub message: String,
}

impl NovaError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, message)
    }

    /// `Policy doesn't allow <rule> to be performed.`
    pub fn policy(rule: &str) -> Self {
        Self::forbidden(format!("Policy doesn't allow {rule} to be performed."))
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    /// webob's default 404 explanation (unknown route or microversion).
    pub fn resource_not_found() -> Self {
        Self::not_found("The resource could not be found.")
    }

    /// `Instance <id> could not be found.`
    pub fn instance_not_found(id: &str) -> Self {
        Self::not_found(format!("Instance {id} could not be found."))
    }

    /// `Flavor <id> could not be found.`
    pub fn flavor_not_found(id: &str) -> Self {
        Self::not_found(format!("Flavor {id} could not be found."))
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, message)
    }

    /// `Cannot '<action>' instance <id> while it is in <attr> <state>`.
    pub fn invalid_state(action: &str, id: &str, attr: &str, state: &str) -> Self {
        Self::conflict(format!(
            "Cannot '{action}' instance {id} while it is in {attr} {state}"
        ))
    }

    /// `Instance <id> is locked`.
    pub fn locked(id: &str) -> Self {
        Self::conflict(format!("Instance {id} is locked"))
    }

    fn fault_name(&self) -> &'static str {
        match self.status.as_u16() {
            400 => "badRequest",
            401 => "unauthorized",
            403 => "forbidden",
            404 => "itemNotFound",
            405 => "badMethod",
            409 => "conflictingRequest",
            413 | 429 => "overLimit",
            415 => "badMediaType",
            501 => "notImplemented",
            503 => "serviceUnavailable",
            _ => "computeFault",
        }
    }
}

impl IntoResponse for NovaError {
    fn into_response(self) -> Response {
        let body = json!({
            self.fault_name(): {"code": self.status.as_u16(), "message": self.message}
        });
        (self.status, Json(body)).into_response()
    }
}

pub(crate) type NResult<T> = Result<T, NovaError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fault_names_follow_nova() {
        assert_eq!(NovaError::bad_request("x").fault_name(), "badRequest");
        assert_eq!(
            NovaError::new(StatusCode::NOT_ACCEPTABLE, "x").fault_name(),
            "computeFault"
        );
        assert_eq!(NovaError::conflict("x").fault_name(), "conflictingRequest");
        assert_eq!(
            NovaError::invalid_state("start", "abc", "vm_state", "active").message,
            "Cannot 'start' instance abc while it is in vm_state active"
        );
    }
}
