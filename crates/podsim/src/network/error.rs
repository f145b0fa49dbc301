//! Neutron faults: `{"NeutronError": {"type", "message", "detail"}}`, the
//! type being the name of the exception class neutron-server raised
//! (`NetworkNotFound`, `HTTPBadRequest`, `PolicyNotAuthorized`...).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

/// A Neutron API error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NeutronError {
    pub status: StatusCode,
    pub kind: String,
    pub message: String,
}

pub(crate) type NResult<T> = Result<T, NeutronError>;

impl NeutronError {
    pub fn new(status: StatusCode, kind: &str, message: impl Into<String>) -> Self {
        Self {
            status,
            kind: kind.to_string(),
            message: message.into(),
        }
    }

    /// webob's `HTTPBadRequest` (body parsing and attribute validation).
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "HTTPBadRequest", message)
    }

    /// neutron-lib's `BadRequest`: `Bad <resource> request: <msg>.`
    pub fn bad_resource_request(resource: &str, msg: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            format!("Bad {resource} request: {msg}."),
        )
    }

    /// neutron-lib's `InvalidInput`.
    pub fn invalid_input(msg: &str) -> Self {
        Self::typed_invalid_input("InvalidInput", msg)
    }

    /// A subclass of `InvalidInput` with its own type name.
    pub fn typed_invalid_input(kind: &str, msg: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            kind,
            format!("Invalid input for operation: {msg}."),
        )
    }

    /// `<rule> is disallowed by policy` (403).
    pub fn policy(rule: &str) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "PolicyNotAuthorized",
            format!("{rule} is disallowed by policy"),
        )
    }

    /// webob's `HTTPNotFound`, also used to hide what a project may not see.
    pub fn http_not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "HTTPNotFound",
            "The resource could not be found.",
        )
    }

    pub fn not_found(kind: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, kind, message)
    }

    pub fn conflict(kind: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, kind, message)
    }

    pub fn method_not_allowed() -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "HTTPMethodNotAllowed",
            "The method is not allowed for this resource.",
        )
    }

    pub fn network_not_found(id: &str) -> Self {
        Self::not_found(
            "NetworkNotFound",
            format!("Network {id} could not be found."),
        )
    }

    pub fn subnet_not_found(id: &str) -> Self {
        Self::not_found("SubnetNotFound", format!("Subnet {id} could not be found."))
    }

    pub fn port_not_found(id: &str) -> Self {
        Self::not_found("PortNotFound", format!("Port {id} could not be found."))
    }

    pub fn router_not_found(id: &str) -> Self {
        Self::not_found("RouterNotFound", format!("Router {id} could not be found"))
    }

    pub fn security_group_not_found(id: &str) -> Self {
        Self::not_found(
            "SecurityGroupNotFound",
            format!("Security group {id} does not exist"),
        )
    }

    pub fn security_group_rule_not_found(id: &str) -> Self {
        Self::not_found(
            "SecurityGroupRuleNotFound",
            format!("Security group rule {id} does not exist"),
        )
    }

    pub fn floating_ip_not_found(id: &str) -> Self {
        Self::not_found(
            "FloatingIPNotFound",
            format!("Floating IP {id} could not be found"),
        )
    }
}

impl IntoResponse for NeutronError {
    fn into_response(self) -> Response {
        let body = json!({"NeutronError": {
            "type": self.kind,
            "message": self.message,
            "detail": "",
        }});
        (self.status, Json(body)).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_follow_neutron_lib() {
        assert_eq!(
            NeutronError::invalid_input("x is bad").message,
            "Invalid input for operation: x is bad."
        );
        assert_eq!(
            NeutronError::bad_resource_request("router", "oops").message,
            "Bad router request: oops."
        );
        let e = NeutronError::network_not_found("n1");
        assert_eq!(e.status, StatusCode::NOT_FOUND);
        assert_eq!(e.kind, "NetworkNotFound");
        assert_eq!(e.message, "Network n1 could not be found.");
        assert_eq!(
            NeutronError::policy("rule:create_network:shared").message,
            "rule:create_network:shared is disallowed by policy"
        );
    }
}
