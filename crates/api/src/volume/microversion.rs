//! Block-storage microversions: `OpenStack-API-Version: volume 3.X`,
//! `latest` meaning the newest we support, no header meaning 3.0. The
//! version is fixed before the request goes to a pod, so the pod answers in
//! exactly the version the client is told.

use axum::http::{HeaderMap, HeaderValue, StatusCode};

use crate::error::ApiError;

/// A 3.x volume microversion (the minor number).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct VolumeVersion(pub u16);

/// The lowest volume microversion (3.0).
pub const MIN: VolumeVersion = VolumeVersion(0);
/// The newest volume microversion this gateway implements for what it
/// answers itself (types, quotas, limits, zones). The newest advertised is
/// this or the oldest newest-version of the pods, if lower.
pub const OURS_MAX: VolumeVersion = VolumeVersion(70);

impl VolumeVersion {
    pub fn at_least(self, minor: u16) -> bool {
        self.0 >= minor
    }
    pub fn header_value(self) -> String {
        format!("3.{}", self.0)
    }
}

/// Why a requested version is refused: 400 (malformed) or 406 (out of
/// range, with the version as asked, which Cinder echoes back).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub error: ApiError,
    pub requested: Option<String>,
}

/// `^([1-9]\d*)\.([1-9]\d*|0)$`, as Cinder's version pattern.
fn parse_strict(s: &str) -> Option<(u16, u16)> {
    let (a, b) = s.split_once('.')?;
    let digits = |x: &str| !x.is_empty() && x.bytes().all(|c| c.is_ascii_digit());
    if !digits(a) || !digits(b) || a.starts_with('0') || (b.len() > 1 && b.starts_with('0')) {
        return None;
    }
    Some((a.parse().ok()?, b.parse().ok()?))
}

/// The version a request asks for: no `volume` entry → 3.0, `latest` →
/// `max`, out of range → 406, malformed → 400 (Cinder's messages).
pub fn negotiate(headers: &HeaderMap, max: VolumeVersion) -> Result<VolumeVersion, Refusal> {
    let requested = crate::gateway::requested_version(headers, "volume");
    let Some(requested) = requested else {
        return Ok(MIN);
    };
    if requested.eq_ignore_ascii_case("latest") {
        return Ok(max);
    }
    let (major, minor) = parse_strict(&requested).ok_or_else(|| Refusal {
        error: ApiError::bad_request(format!(
            "API Version String {requested} is of invalid format. Must be of format MajorNum.MinorNum."
        )),
        requested: None,
    })?;
    let v = VolumeVersion(minor);
    if major != 3 || v < MIN || v > max {
        return Err(Refusal {
            error: ApiError::new(
                StatusCode::NOT_ACCEPTABLE,
                format!(
                    "Version {major}.{minor} is not supported by the API. Minimum is {} and maximum is {}.",
                    MIN.header_value(),
                    max.header_value()
                ),
            ),
            requested: Some(format!("{major}.{minor}")),
        });
    }
    Ok(v)
}

/// Sets the request header a pod reads to exactly `v`.
pub fn pin_request(headers: &mut HeaderMap, v: VolumeVersion) {
    headers.remove("openstack-api-version");
    if let Ok(h) = HeaderValue::from_str(&format!("volume {}", v.header_value())) {
        headers.insert("openstack-api-version", h);
    }
}

/// The response headers Cinder sends with every versioned answer.
pub fn stamp_response(headers: &mut HeaderMap, version: &str) {
    headers.remove("openstack-api-version");
    if let Ok(h) = HeaderValue::from_str(&format!("volume {version}")) {
        headers.insert("openstack-api-version", h);
    }
    headers.insert("vary", HeaderValue::from_static("OpenStack-API-Version"));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut m = HeaderMap::new();
        for (k, v) in pairs {
            m.append(*k, HeaderValue::from_static(v));
        }
        m
    }

    fn status(r: Result<VolumeVersion, Refusal>) -> Option<StatusCode> {
        r.err().map(|e| e.error.status)
    }

    #[test]
    fn negotiation() {
        let max = VolumeVersion(60);
        assert_eq!(negotiate(&h(&[]), max).ok(), Some(MIN));
        assert_eq!(
            negotiate(&h(&[("openstack-api-version", "volume 3.47")]), max).ok(),
            Some(VolumeVersion(47))
        );
        assert_eq!(
            negotiate(
                &h(&[("openstack-api-version", "compute 2.1, volume latest")]),
                max
            )
            .ok(),
            Some(max)
        );
        assert_eq!(
            negotiate(&h(&[("openstack-api-version", "volume 3.0")]), max).ok(),
            Some(MIN)
        );
        // Another service only: the default.
        assert_eq!(
            negotiate(&h(&[("openstack-api-version", "compute 2.5")]), max).ok(),
            Some(MIN)
        );
        assert_eq!(
            status(negotiate(
                &h(&[("openstack-api-version", "volume 3.61")]),
                max
            )),
            Some(StatusCode::NOT_ACCEPTABLE)
        );
        assert_eq!(
            status(negotiate(
                &h(&[("openstack-api-version", "volume 2.0")]),
                max
            )),
            Some(StatusCode::NOT_ACCEPTABLE)
        );
        for bad in [
            "volume three",
            "volume 3.",
            "volume 03.1",
            "volume 3.01",
            "volume 3.1 x",
        ] {
            let headers = {
                let mut m = HeaderMap::new();
                m.insert("openstack-api-version", HeaderValue::from_static(bad));
                m
            };
            assert_eq!(
                status(negotiate(&headers, max)),
                Some(StatusCode::BAD_REQUEST),
                "{bad}"
            );
        }
        let refusal = negotiate(&h(&[("openstack-api-version", "volume 3.99")]), max).err();
        let refusal = refusal.map(|r| (r.requested, r.error.message));
        assert_eq!(
            refusal,
            Some((
                Some("3.99".to_string()),
                "Version 3.99 is not supported by the API. Minimum is 3.0 and maximum is 3.60."
                    .to_string()
            ))
        );
    }

    #[test]
    fn pinning() {
        let mut m = h(&[("openstack-api-version", "volume latest")]);
        pin_request(&mut m, VolumeVersion(12));
        assert_eq!(
            m.get("openstack-api-version").and_then(|v| v.to_str().ok()),
            Some("volume 3.12")
        );
        stamp_response(&mut m, "3.12");
        assert_eq!(
            m.get("vary").and_then(|v| v.to_str().ok()),
            Some("OpenStack-API-Version")
        );
    }
}
