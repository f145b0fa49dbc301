//! Small helpers shared by the identity and pod servers.

use axum::http::{HeaderName, HeaderValue};
use axum::response::Response;
use chrono::{DateTime, Utc};
use rand::Rng;

/// URL-safe base64 alphabet, as used by fernet tokens and Keystone audit ids.
const URLSAFE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// `len` random characters from the URL-safe base64 alphabet.
pub(crate) fn random_urlsafe(len: usize) -> String {
    let mut rng = rand::rng();
    (0..len)
        .map(|_| char::from(URLSAFE[rng.random_range(0..URLSAFE.len())]))
        .collect()
}

/// A new 32-hex-digit id, the way Keystone (and most OpenStack services) mint ids.
pub(crate) fn new_hex_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// ISO 8601 with microseconds and a `Z`, e.g. `2026-11-25T08:00:00.000000Z`.
pub(crate) fn iso_micro(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

tokio::task_local! {
    static REQUEST_ID: String;
}

/// The id of the request being served (`req-<uuid>`), as a service's
/// request context has it: what the answer's `x-openstack-request-id`
/// (and, for compute, `x-compute-request-id`) says and what Nova's
/// instance actions record, so that a client can look an action up by the
/// id its answer gave. Outside a request: a new id.
pub(crate) fn current_request_id() -> String {
    REQUEST_ID
        .try_with(Clone::clone)
        .unwrap_or_else(|_| format!("req-{}", uuid::Uuid::new_v4()))
}

/// Serves the request with a request id of its own and names it in the
/// answer like oslo.middleware does (`x-openstack-request-id`), and as Nova
/// does for compute (`x-compute-request-id`, the same id).
pub(crate) async fn with_request_id(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let id = format!("req-{}", uuid::Uuid::new_v4());
    let compute = req.uri().path().starts_with("/compute/");
    let mut res = REQUEST_ID.scope(id.clone(), next.run(req)).await;
    if let Ok(v) = HeaderValue::from_str(&id) {
        if compute {
            res.headers_mut()
                .insert(HeaderName::from_static("x-compute-request-id"), v.clone());
        }
        res.headers_mut()
            .insert(HeaderName::from_static("x-openstack-request-id"), v);
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urlsafe_has_requested_length_and_alphabet() {
        let s = random_urlsafe(100);
        assert_eq!(s.len(), 100);
        assert!(s.bytes().all(|b| URLSAFE.contains(&b)));
        assert_ne!(random_urlsafe(40), random_urlsafe(40));
    }

    #[test]
    fn iso_has_microseconds_and_z() {
        let t = DateTime::parse_from_rfc3339("2026-11-25T08:00:00Z")
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default();
        assert_eq!(iso_micro(t), "2026-11-25T08:00:00.000000Z");
    }

    #[test]
    fn hex_ids_are_32_hex() {
        let id = new_hex_id();
        assert_eq!(id.len(), 32);
        assert!(id.chars().all(|c| c.is_ascii_hexdigit()));
    }
}
