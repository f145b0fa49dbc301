//! Compute microversions: `OpenStack-API-Version: compute X.Y` or the
//! legacy `X-OpenStack-Nova-API-Version: X.Y`, `latest` meaning the newest
//! we support. The version is fixed before the request goes to a pod, so
//! the pod answers in exactly the version the client will be told.

use axum::http::{HeaderMap, HeaderValue, StatusCode};

use crate::error::ApiError;

/// A 2.x compute microversion (the minor number).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Microversion(pub u16);

/// The lowest compute microversion.
pub const MIN: Microversion = Microversion(1);
/// The newest compute microversion this gateway implements for what it
/// answers itself (flavors, keypairs, quotas, limits, zones). The newest
/// advertised is this or the oldest newest-version of the pods, if lower.
pub const OURS_MAX: Microversion = Microversion(96);

impl Microversion {
    pub fn at_least(self, minor: u16) -> bool {
        self.0 >= minor
    }
    pub fn header_value(self) -> String {
        format!("2.{}", self.0)
    }
}

/// Parses `X.Y`; `None` for anything else.
pub fn parse(s: &str) -> Option<(u16, u16)> {
    let (a, b) = s.trim().split_once('.')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

/// The version a request asks for: absent → the minimum (2.1), `latest`
/// → `max`, out of range → 406, malformed → 400.
pub fn negotiate(headers: &HeaderMap, max: Microversion) -> Result<Microversion, ApiError> {
    let requested = crate::gateway::requested_version(headers, "compute").or_else(|| {
        headers
            .get("x-openstack-nova-api-version")
            .and_then(|v| v.to_str().ok())
            .map(|v| v.trim().to_string())
    });
    let Some(requested) = requested else {
        return Ok(MIN);
    };
    if requested.eq_ignore_ascii_case("latest") {
        return Ok(max);
    }
    let (major, minor) = parse(&requested).ok_or_else(|| {
        ApiError::bad_request(format!(
            "Invalid format for API version: {requested}. It should be in the form of 'major.minor'."
        ))
    })?;
    let v = Microversion(minor);
    if major != 2 || v < MIN || v > max {
        return Err(ApiError::new(
            StatusCode::NOT_ACCEPTABLE,
            format!(
                "Version {requested} is not supported by the API. Minimum is 2.1 and maximum is {}.",
                max.header_value()
            ),
        ));
    }
    Ok(v)
}

/// Sets the request headers a pod reads to exactly `v`.
pub fn pin_request(headers: &mut HeaderMap, v: Microversion) {
    headers.remove("openstack-api-version");
    if let Ok(h) = HeaderValue::from_str(&format!("compute {}", v.header_value())) {
        headers.insert("openstack-api-version", h);
    }
    if let Ok(h) = HeaderValue::from_str(&v.header_value()) {
        headers.insert("x-openstack-nova-api-version", h);
    }
}

/// The response headers Nova sends with every versioned answer.
pub fn stamp_response(headers: &mut HeaderMap, v: Microversion) {
    pin_request(headers, v);
    headers.insert(
        "vary",
        HeaderValue::from_static("OpenStack-API-Version, X-OpenStack-Nova-API-Version"),
    );
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

    #[test]
    fn negotiation() {
        let max = Microversion(60);
        assert_eq!(negotiate(&h(&[]), max).ok(), Some(MIN));
        assert_eq!(
            negotiate(&h(&[("openstack-api-version", "compute 2.47")]), max).ok(),
            Some(Microversion(47))
        );
        assert_eq!(
            negotiate(
                &h(&[("openstack-api-version", "volume 3.1, compute latest")]),
                max
            )
            .ok(),
            Some(max)
        );
        assert_eq!(
            negotiate(&h(&[("x-openstack-nova-api-version", "2.10")]), max).ok(),
            Some(Microversion(10))
        );
        let e = negotiate(&h(&[("openstack-api-version", "compute 2.61")]), max)
            .err()
            .map(|e| e.status);
        assert_eq!(e, Some(StatusCode::NOT_ACCEPTABLE));
        let e = negotiate(&h(&[("openstack-api-version", "compute 3.0")]), max)
            .err()
            .map(|e| e.status);
        assert_eq!(e, Some(StatusCode::NOT_ACCEPTABLE));
        let e = negotiate(&h(&[("openstack-api-version", "compute two")]), max)
            .err()
            .map(|e| e.status);
        assert_eq!(e, Some(StatusCode::BAD_REQUEST));
        // A header for another service only: the default.
        assert_eq!(
            negotiate(&h(&[("openstack-api-version", "volume 3.5")]), max).ok(),
            Some(MIN)
        );
    }
}
