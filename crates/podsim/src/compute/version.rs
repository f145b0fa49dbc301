//! Compute API microversions: `OpenStack-API-Version: compute X.Y` (or the
//! legacy `X-OpenStack-Nova-API-Version: X.Y`), `latest`, 2.1 by default.

use axum::http::{HeaderMap, StatusCode};

use super::error::NovaError;
use crate::pod::{NOVA_MAX_VERSION, NOVA_MIN_VERSION};

/// A compute microversion `2.minor`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Version {
    pub major: u32,
    pub minor: u32,
}

impl Version {
    pub const fn new(major: u32, minor: u32) -> Self {
        Self { major, minor }
    }

    /// `X.Y` with Nova's regex `^([1-9]\d*)\.([1-9]\d*|0)$`.
    pub fn parse(s: &str) -> Option<Self> {
        let (a, b) = s.split_once('.')?;
        let ok = |p: &str, zero_ok: bool| {
            !p.is_empty()
                && p.chars().all(|c| c.is_ascii_digit())
                && (p == "0" && zero_ok || !p.starts_with('0'))
        };
        if !ok(a, false) || !ok(b, true) {
            return None;
        }
        Some(Self {
            major: a.parse().ok()?,
            minor: b.parse().ok()?,
        })
    }

    pub fn min() -> Self {
        Self::parse(NOVA_MIN_VERSION).unwrap_or(Self::new(2, 1))
    }

    pub fn max() -> Self {
        Self::parse(NOVA_MAX_VERSION).unwrap_or(Self::new(2, 96))
    }

    /// True if this request's version is at least `2.minor`.
    pub fn at_least(&self, minor: u32) -> bool {
        *self >= Self::new(2, minor)
    }
}

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// The version a request asks for (microversion_parse's rules: the new
/// header wins over the legacy one; `compute` entries only).
pub(crate) fn requested(headers: &HeaderMap) -> Result<Version, NovaError> {
    let mut wanted: Option<String> = None;
    for v in headers.get_all("openstack-api-version") {
        let Ok(s) = v.to_str() else { continue };
        for item in s.split(',') {
            let mut parts = item.split_whitespace();
            if parts
                .next()
                .is_some_and(|svc| svc.eq_ignore_ascii_case("compute"))
            {
                wanted = Some(parts.collect::<Vec<_>>().join(" "));
            }
        }
    }
    if wanted.is_none() {
        wanted = headers
            .get("x-openstack-nova-api-version")
            .and_then(|v| v.to_str().ok())
            .map(|s| s.trim().to_string());
    }
    let Some(s) = wanted else {
        return Ok(Version::min());
    };
    if s.eq_ignore_ascii_case("latest") {
        return Ok(Version::max());
    }
    let v = Version::parse(&s).ok_or_else(|| {
        NovaError::bad_request(format!(
            "API Version String {s} is of invalid format. Must be of format MajorNum.MinorNum."
        ))
    })?;
    if v < Version::min() || v > Version::max() {
        return Err(NovaError::new(
            StatusCode::NOT_ACCEPTABLE,
            format!(
                "Version {v} is not supported by the API. Minimum is {} and maximum is {}.",
                Version::min(),
                Version::max()
            ),
        ));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut m = HeaderMap::new();
        for (k, v) in pairs {
            m.append(*k, axum::http::HeaderValue::from_static(v));
        }
        m
    }

    #[test]
    fn parses_headers() {
        assert_eq!(requested(&h(&[])), Ok(Version::new(2, 1)));
        assert_eq!(
            requested(&h(&[("openstack-api-version", "compute 2.47")])),
            Ok(Version::new(2, 47))
        );
        assert_eq!(
            requested(&h(&[("x-openstack-nova-api-version", "2.10")])),
            Ok(Version::new(2, 10))
        );
        assert_eq!(
            requested(&h(&[
                ("openstack-api-version", "volume 3.5, compute 2.30"),
                ("x-openstack-nova-api-version", "2.10")
            ])),
            Ok(Version::new(2, 30))
        );
        assert_eq!(
            requested(&h(&[("openstack-api-version", "compute latest")])),
            Ok(Version::max())
        );
        let e = requested(&h(&[("openstack-api-version", "compute 2.97")])).err();
        assert_eq!(e.as_ref().map(|e| e.status.as_u16()), Some(406));
        assert_eq!(
            e.map(|e| e.message),
            Some(
                "Version 2.97 is not supported by the API. Minimum is 2.1 and maximum is 2.96."
                    .to_string()
            )
        );
        let e = requested(&h(&[("openstack-api-version", "compute 2.x")])).err();
        assert_eq!(e.map(|e| e.status.as_u16()), Some(400));
        assert!(Version::parse("2.01").is_none());
        assert!(Version::parse("02.1").is_none());
        assert_eq!(Version::parse("3.0"), Some(Version::new(3, 0)));
    }
}
