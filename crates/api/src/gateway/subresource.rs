//! The sub-resources of a routed resource that are passed through to its
//! pod (`/servers/{id}/metadata/{key}`, `/volumes/{id}/metadata`, ...).
//!
//! Only the sub-resources each service documents pass, with the methods it
//! documents; anything else is answered here. The rest of the client's path
//! is split on raw `/` (so `%2F` never separates), each segment decoded once
//! and refused when it could mean something else to a server along the way:
//! `.`/`..`, slashes or backslashes, `%` (double encoding), `;`, NUL or other
//! control characters. What passes becomes a [`PodPath`] whose segments are
//! encoded again one by one.

use axum::http::{Method, StatusCode};
use tricircle_pods::PodPath;

use crate::error::ApiError;

/// One element of a sub-resource pattern.
#[derive(Debug, Clone, Copy)]
pub enum Part {
    /// This exact segment.
    Lit(&'static str),
    /// Any valid segment (an id, a key, a label).
    Param,
}

/// A sub-resource path below the resource and the methods it answers.
#[derive(Debug)]
pub struct SubResource {
    pub parts: &'static [Part],
    pub methods: &'static [Method],
}

use Part::{Lit, Param};

const GET: &[Method] = &[Method::GET];
const GET_DELETE: &[Method] = &[Method::GET, Method::DELETE];
const GET_POST: &[Method] = &[Method::GET, Method::POST];
const GET_POST_PUT: &[Method] = &[Method::GET, Method::POST, Method::PUT];
const GET_PUT_DELETE: &[Method] = &[Method::GET, Method::PUT, Method::DELETE];
const POST: &[Method] = &[Method::POST];

const fn sub(parts: &'static [Part], methods: &'static [Method]) -> SubResource {
    SubResource { parts, methods }
}

/// Nova's server sub-resources (API reference, "Servers" and the sections
/// after it), other than `action`, which has its own handler.
pub const SERVER: &[SubResource] = &[
    sub(&[Lit("ips")], GET),
    sub(&[Lit("ips"), Param], GET),
    sub(&[Lit("metadata")], GET_POST_PUT),
    sub(&[Lit("metadata"), Param], GET_PUT_DELETE),
    sub(&[Lit("tags")], &[Method::GET, Method::PUT, Method::DELETE]),
    sub(&[Lit("tags"), Param], GET_PUT_DELETE),
    sub(&[Lit("os-instance-actions")], GET),
    sub(&[Lit("os-instance-actions"), Param], GET),
    sub(&[Lit("os-interface")], GET_POST),
    sub(&[Lit("os-interface"), Param], GET_DELETE),
    sub(&[Lit("os-volume_attachments")], GET_POST),
    sub(&[Lit("os-volume_attachments"), Param], GET_PUT_DELETE),
    sub(&[Lit("remote-consoles")], POST),
    sub(&[Lit("os-security-groups")], GET),
    sub(&[Lit("diagnostics")], GET),
    sub(&[Lit("os-server-password")], GET_DELETE),
    sub(&[Lit("migrations")], GET),
    sub(&[Lit("migrations"), Param], GET_DELETE),
    sub(&[Lit("migrations"), Param, Lit("action")], POST),
    sub(&[Lit("topology")], GET),
    sub(&[Lit("os-virtual-interfaces")], GET),
    sub(&[Lit("shares")], GET_POST),
    sub(&[Lit("shares"), Param], GET_DELETE),
];

/// Cinder's volume sub-resources other than `action`.
pub const VOLUME: &[SubResource] = &[
    sub(&[Lit("metadata")], GET_POST_PUT),
    sub(&[Lit("metadata"), Param], GET_PUT_DELETE),
    sub(&[Lit("encryption")], GET),
    sub(&[Lit("encryption"), Param], GET),
];

/// Cinder's snapshot sub-resources other than `action`.
pub const SNAPSHOT: &[SubResource] = &[
    sub(&[Lit("metadata")], GET_POST_PUT),
    sub(&[Lit("metadata"), Param], GET_PUT_DELETE),
];

/// Cinder's backup sub-resources other than `action` and `restore`.
pub const BACKUP: &[SubResource] = &[sub(&[Lit("export_record")], GET)];

pub use tricircle_gateway::segment::valid_segment;

/// One segment of a client's path, decoded, if it is safe to pass on.
pub fn decode_segment(raw: &str) -> Option<String> {
    let decoded = percent_encoding::percent_decode_str(raw)
        .decode_utf8()
        .ok()?
        .into_owned();
    valid_segment(&decoded).then_some(decoded)
}

/// `raw_path` (the request's path as the client encoded it) without its
/// first `skip` segments: `/v2.1/servers/ID/metadata/k` with `skip` 3 is
/// `metadata/k`.
pub fn raw_tail(raw_path: &str, skip: usize) -> &str {
    raw_path
        .trim_start_matches('/')
        .splitn(skip + 1, '/')
        .nth(skip)
        .unwrap_or("")
}

/// The pod path of `rest` (raw, below the resource) if `table` allows it for
/// `method`: 404 for a path no entry matches or that is not safe, 405 for a
/// known path with another method. Both in the API's format.
pub fn check(table: &[SubResource], method: &Method, rest: &str) -> Result<PodPath, ApiError> {
    let not_found = || ApiError::not_found("The resource could not be found.");
    let segments = rest
        .split('/')
        .map(decode_segment)
        .collect::<Option<Vec<String>>>()
        .ok_or_else(not_found)?;
    let entry = table
        .iter()
        .find(|e| {
            e.parts.len() == segments.len()
                && e.parts.iter().zip(&segments).all(|(p, s)| match p {
                    Lit(l) => l == s,
                    Param => true,
                })
        })
        .ok_or_else(not_found)?;
    if !entry.methods.contains(method) {
        return Err(ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "The method is not allowed for this resource.",
        ));
    }
    Ok(PodPath::of(segments))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_sub_resources_pass() {
        let p = check(SERVER, &Method::GET, "metadata/a%20key").unwrap();
        assert_eq!(p.segments(), ["metadata", "a key"]);
        let p = check(SERVER, &Method::POST, "migrations/7/action").unwrap();
        assert_eq!(p.segments(), ["migrations", "7", "action"]);
        assert!(check(VOLUME, &Method::DELETE, "metadata/k").is_ok());
        assert!(check(BACKUP, &Method::GET, "export_record").is_ok());
    }

    #[test]
    fn traversal_and_unknown_paths_are_not_found() {
        for rest in [
            "..%2F..%2Fservers",
            "..%2f..%2fservers",
            "../../servers",
            "%2E%2E/%2E%2E/servers",
            "metadata/..",
            "metadata/.",
            "metadata/%2E%2E",
            "metadata/..;",
            "metadata/..%3B",
            "metadata/a%2Fb",
            "metadata/a%252Fb",
            "metadata/a%5Cb",
            "metadata/a\\b",
            "metadata/a%00b",
            "metadata/a%0Ab",
            "metadata/%FF",
            "metadata/",
            "metadata//x",
            "",
            "servers",
            "action/x",
            "network/v2.0/networks",
            "metadata/k/extra",
        ] {
            let e = check(SERVER, &Method::GET, rest).unwrap_err();
            assert_eq!(e.status, StatusCode::NOT_FOUND, "{rest}");
        }
        let long = "k".repeat(256);
        assert!(check(SERVER, &Method::GET, &format!("metadata/{long}")).is_err());
    }

    #[test]
    fn other_methods_are_not_allowed() {
        let e = check(SERVER, &Method::DELETE, "ips").unwrap_err();
        assert_eq!(e.status, StatusCode::METHOD_NOT_ALLOWED);
        let e = check(BACKUP, &Method::POST, "export_record").unwrap_err();
        assert_eq!(e.status, StatusCode::METHOD_NOT_ALLOWED);
    }

    #[test]
    fn tails() {
        assert_eq!(raw_tail("/v2.1/servers/S/metadata/k", 3), "metadata/k");
        assert_eq!(raw_tail("/v2.1/servers/S/..%2F..%2Fx", 3), "..%2F..%2Fx");
        assert_eq!(raw_tail("/v3/volumes/V", 3), "");
        assert_eq!(raw_tail("/v3/volumes/V/", 3), "");
    }
}
