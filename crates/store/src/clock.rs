//! Where the job queue takes "now" from: lease expiries, back-offs and
//! due times are stored timestamps compared in SQL, so whoever writes them
//! must agree on the time. Production uses the system clock; tests use
//! `testing::ManualClock` to expire a lease or end a back-off without
//! waiting for the wall clock.

use std::time::Duration;

use chrono::{DateTime, Utc};

/// A source of the current time.
pub trait Clock: Send + Sync + std::fmt::Debug + 'static {
    fn now(&self) -> DateTime<Utc>;
}

/// The system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// `t` as stored: RFC 3339 UTC with whole seconds, e.g. `2026-11-25T07:40:48Z`
/// (string order is time order). Truncates.
pub(crate) fn stamp(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// `d` after `t`, rounded up to the next whole second so that a lease or a
/// back-off is never shorter than asked.
pub(crate) fn stamp_ceil_after(t: DateTime<Utc>, d: Duration) -> String {
    let t = chrono::Duration::from_std(d)
        .ok()
        .and_then(|d| t.checked_add_signed(d))
        .unwrap_or(DateTime::<Utc>::MAX_UTC);
    let nanos = t.timestamp_subsec_nanos();
    let t = if nanos > 0 {
        t.checked_add_signed(chrono::Duration::nanoseconds(
            1_000_000_000 - i64::from(nanos),
        ))
        .unwrap_or(t)
    } else {
        t
    };
    stamp(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or(DateTime::<Utc>::MIN_UTC)
    }

    #[test]
    fn stamps_round_up_to_whole_seconds() {
        assert_eq!(
            stamp_ceil_after(at("2026-01-02T03:04:05.100Z"), Duration::ZERO),
            "2026-01-02T03:04:06Z"
        );
        assert_eq!(
            stamp_ceil_after(at("2026-01-02T03:04:59Z"), Duration::ZERO),
            "2026-01-02T03:04:59Z"
        );
        assert_eq!(
            stamp_ceil_after(at("2026-01-02T03:04:59Z"), Duration::from_millis(1500)),
            "2026-01-02T03:05:01Z"
        );
        assert_eq!(
            stamp(at("2026-01-02T03:04:05.900Z")),
            "2026-01-02T03:04:05Z"
        );
    }
}
