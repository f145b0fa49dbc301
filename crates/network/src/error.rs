//! Neutron's errors: what kind of failure it is ([`ErrorClass`]), the
//! exception name (`type`), a message and a detail, rendered by the API as
//! `{"NeutronError": {"type", "message", "detail"}}`. The API edge alone
//! turns the class into an HTTP status.

use std::fmt;

use tricircle_store::StoreError;

/// What went wrong, in the domain's terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorClass {
    /// The request is malformed or asks for something invalid.
    BadRequest,
    /// A policy refuses the caller this action.
    Forbidden,
    /// The resource does not exist (or is not the caller's to see).
    NotFound,
    /// The request clashes with the current state (in use, over quota,
    /// already exists).
    Conflict,
    /// Nothing is wrong with the request, but it cannot be served now.
    Unavailable,
    /// Our own failure; the details stay in the log.
    Internal,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NeutronError {
    pub class: ErrorClass,
    pub kind: String,
    pub message: String,
    pub detail: String,
}

impl fmt::Display for NeutronError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind, self.message)
    }
}

impl std::error::Error for NeutronError {}

impl NeutronError {
    pub fn new(class: ErrorClass, kind: &str, message: impl Into<String>) -> NeutronError {
        NeutronError {
            class,
            kind: kind.to_string(),
            message: message.into(),
            detail: String::new(),
        }
    }

    /// A bad request as webob answers Neutron's attribute validation.
    pub fn bad_request(message: impl Into<String>) -> NeutronError {
        Self::new(ErrorClass::BadRequest, "HTTPBadRequest", message)
    }

    /// `InvalidInput`: "Invalid input for operation: ...".
    pub fn invalid_input(message: impl fmt::Display) -> NeutronError {
        Self::new(
            ErrorClass::BadRequest,
            "InvalidInput",
            format!("Invalid input for operation: {message}."),
        )
    }

    /// A bad request for one attribute: "Invalid input for {attr}. Reason: {reason}."
    pub fn invalid_attr(attr: &str, reason: impl fmt::Display) -> NeutronError {
        Self::bad_request(format!("Invalid input for {attr}. Reason: {reason}."))
    }

    /// The same error under another exception name.
    pub fn with_kind(mut self, kind: &str) -> NeutronError {
        self.kind = kind.to_string();
        self
    }

    /// Whether the resource asked for does not exist (or is not the
    /// caller's to see).
    pub fn is_not_found(&self) -> bool {
        self.class == ErrorClass::NotFound
    }

    pub fn not_found(kind: &str, message: impl Into<String>) -> NeutronError {
        Self::new(ErrorClass::NotFound, kind, message)
    }

    pub fn conflict(kind: &str, message: impl Into<String>) -> NeutronError {
        Self::new(ErrorClass::Conflict, kind, message)
    }

    /// A policy refuses the action.
    pub fn policy(rule: &str) -> NeutronError {
        Self::new(
            ErrorClass::Forbidden,
            "PolicyNotAuthorized",
            format!("({rule}) is disallowed by policy"),
        )
    }

    pub fn internal() -> NeutronError {
        Self::new(
            ErrorClass::Internal,
            "HTTPInternalServerError",
            "Request Failed: internal server error while processing your request.",
        )
    }

    pub fn unavailable(message: impl Into<String>) -> NeutronError {
        Self::new(ErrorClass::Unavailable, "ServiceUnavailable", message)
    }

    pub fn network_not_found(id: &str) -> NeutronError {
        Self::not_found(
            "NetworkNotFound",
            format!("Network {id} could not be found."),
        )
    }

    pub fn subnet_not_found(id: &str) -> NeutronError {
        Self::not_found("SubnetNotFound", format!("Subnet {id} could not be found."))
    }

    pub fn port_not_found(id: &str) -> NeutronError {
        Self::not_found("PortNotFound", format!("Port {id} could not be found."))
    }

    pub fn security_group_not_found(id: &str) -> NeutronError {
        Self::not_found(
            "SecurityGroupNotFound",
            format!("Security group {id} does not exist"),
        )
    }

    pub fn rule_not_found(id: &str) -> NeutronError {
        Self::not_found(
            "SecurityGroupRuleNotFound",
            format!("Security group rule {id} does not exist"),
        )
    }

    /// Neutron's `BadRequest` about an L3 resource: "Bad {resource}
    /// request: {msg}."
    pub fn bad_l3_request(resource: &str, msg: impl fmt::Display) -> NeutronError {
        Self::new(
            ErrorClass::BadRequest,
            "BadRequest",
            format!("Bad {resource} request: {msg}."),
        )
    }

    pub fn router_not_found(id: &str) -> NeutronError {
        Self::not_found("RouterNotFound", format!("Router {id} could not be found"))
    }

    pub fn floatingip_not_found(id: &str) -> NeutronError {
        Self::not_found(
            "FloatingIPNotFound",
            format!("Floating IP {id} could not be found"),
        )
    }

    pub fn over_quota(resource: &str) -> NeutronError {
        Self::conflict(
            "OverQuota",
            format!("Quota exceeded for resources: ['{resource}']."),
        )
    }
}

/// Store errors by what they mean to a Neutron caller. Every variant is
/// named, so a new one needs a decision here.
impl From<StoreError> for NeutronError {
    fn from(e: StoreError) -> NeutronError {
        match e {
            StoreError::NotFound(m) => NeutronError::not_found("NotFound", m),
            StoreError::Conflict(m) => NeutronError::conflict("Conflict", m),
            StoreError::Database(ref sqlx_err) if is_unavailable(sqlx_err) => {
                tracing::error!(error = %e, "database unavailable");
                NeutronError::unavailable("The database is unavailable; try again later.")
            }
            // Neutron's callers never name pods: the pods in its rows are
            // ours, so a missing or top pod there is our fault, as are
            // unreadable rows, queries the store cannot make and a broken
            // database. Logged, never shown.
            StoreError::UnknownPod(_)
            | StoreError::TopPod(_)
            | StoreError::Corrupt(_)
            | StoreError::Unsupported(_)
            | StoreError::BadUrl(_)
            | StoreError::Database(_)
            | StoreError::Migrate(_) => {
                tracing::error!(error = %e, "store error");
                NeutronError::internal()
            }
        }
    }
}

fn is_unavailable(e: &tricircle_store::SqlxError) -> bool {
    matches!(
        e,
        tricircle_store::SqlxError::PoolTimedOut
            | tricircle_store::SqlxError::PoolClosed
            | tricircle_store::SqlxError::Io(_)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_errors_map_by_meaning() {
        let cases = [
            (StoreError::NotFound("gone".into()), ErrorClass::NotFound),
            (StoreError::Conflict("taken".into()), ErrorClass::Conflict),
            (
                StoreError::Database(tricircle_store::SqlxError::PoolTimedOut),
                ErrorClass::Unavailable,
            ),
            (
                StoreError::Database(tricircle_store::SqlxError::RowNotFound),
                ErrorClass::Internal,
            ),
            (StoreError::UnknownPod("p".into()), ErrorClass::Internal),
            (StoreError::TopPod("p".into()), ErrorClass::Internal),
            (StoreError::Corrupt("secret".into()), ErrorClass::Internal),
            (StoreError::Unsupported("q".into()), ErrorClass::Internal),
        ];
        for (store, class) in cases {
            let shown = store.to_string();
            let e = NeutronError::from(store);
            assert_eq!(e.class, class, "{shown}");
            if class == ErrorClass::Internal {
                // Nothing internal reaches the caller.
                assert_eq!(e, NeutronError::internal(), "{shown}");
            }
        }
        let e = NeutronError::from(StoreError::NotFound("Port x could not be found.".into()));
        assert!(e.is_not_found());
        assert_eq!(e.message, "Port x could not be found.");
    }
}
