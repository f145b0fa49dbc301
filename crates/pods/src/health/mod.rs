//! Pod health: a circuit breaker per pod fed by every call's outcome and by
//! a periodic probe, shared between gateway instances through the
//! `pod_health` table.
//!
//! [`PodHealth`] is this instance's view. Each pod's [`Breaker`] decides
//! whether a call may go ([`PodHealth::admit`]); [`PodHealth::sync`] writes
//! this instance's news (state changes at once, counts and probe readings)
//! and takes any newer state change another instance wrote. The monitor
//! ([`monitor::HealthMonitor`]) runs `sync` on every change and every
//! `refresh_interval`, so instances agree within about one refresh interval
//! (plus a database round trip).

pub mod breaker;
pub mod monitor;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::sync::Notify;
use tricircle_store::{PodHealthReport, PodHealthRow, Store, StoreError};

pub use breaker::{Admission, Breaker, BreakerConfig, HealthState, Now, Transition};

/// Where [`PodHealth`] reads the time; tests drive a [`ManualClock`].
pub trait Clock: Send + Sync {
    fn now(&self) -> Now;
}

pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Now {
        Now::system()
    }
}

/// A clock that moves only when told.
pub struct ManualClock(Mutex<Now>);

impl ManualClock {
    pub fn new() -> ManualClock {
        ManualClock(Mutex::new(Now::system()))
    }

    pub fn advance(&self, d: Duration) {
        let mut now = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        *now = now.after(d);
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        ManualClock::new()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Now {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Free capacity a probe read from the pod's Nova.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Capacity {
    pub free_vcpus: u64,
    pub free_ram_mb: u64,
    pub probed_at: DateTime<Utc>,
}

/// One pod's health as this instance sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PodHealthView {
    pub state: HealthState,
    pub since: DateTime<Utc>,
    pub last_error: Option<String>,
    pub last_error_at: Option<DateTime<Utc>>,
    pub consecutive_failures: u32,
    /// Calls this instance saw answered or failing.
    pub successes: u64,
    pub failures: u64,
    pub capacity: Option<Capacity>,
}

struct Entry {
    breaker: Breaker,
    capacity: Option<Capacity>,
    /// The shared row's version this instance last wrote or took.
    known_version: i64,
    /// Bumped by every local state change; `sync` compares it to know
    /// whether the change it wrote is still the newest.
    seq: u64,
    unsent_transition: bool,
    unsent_error: bool,
    unsent_capacity: bool,
    new_successes: u64,
    new_failures: u64,
}

impl Entry {
    fn has_news(&self) -> bool {
        self.unsent_transition
            || self.unsent_error
            || self.unsent_capacity
            || self.new_successes > 0
            || self.new_failures > 0
    }

    fn view(&self) -> PodHealthView {
        let (successes, failures) = self.breaker.counts();
        let last = self.breaker.last_error();
        PodHealthView {
            state: self.breaker.state(),
            since: self.breaker.since(),
            last_error: last.map(|(e, _)| e.clone()),
            last_error_at: last.map(|(_, at)| *at),
            consecutive_failures: self.breaker.consecutive_failures(),
            successes,
            failures,
            capacity: self.capacity.clone(),
        }
    }
}

/// This instance's view of every pod's health.
pub struct PodHealth {
    cfg: BreakerConfig,
    clock: Arc<dyn Clock>,
    pods: Mutex<HashMap<String, Entry>>,
    changed: Notify,
}

impl std::fmt::Debug for PodHealth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PodHealth")
            .field("cfg", &self.cfg)
            .finish_non_exhaustive()
    }
}

/// Stored times, as the store writes its own.
fn stamp(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn parse_stamp(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

fn set_gauges(pod: &str, state: HealthState) {
    for s in HealthState::ALL {
        metrics::gauge!("tricircle_pod_health_state", "pod" => pod.to_string(), "state" => s.as_str())
            .set(if s == state { 1.0 } else { 0.0 });
    }
}

fn log_transition(pod: &str, t: Transition, error: Option<&str>, source: &str) {
    match t.to {
        HealthState::Down => {
            tracing::warn!(%pod, from = %t.from, error = error.unwrap_or(""), source, "pod is down: calls to it fail fast until it answers again")
        }
        HealthState::Degraded => {
            tracing::warn!(%pod, from = %t.from, error = error.unwrap_or(""), source, "pod is degraded")
        }
        HealthState::Up => tracing::info!(%pod, from = %t.from, source, "pod is up"),
    }
}

impl PodHealth {
    pub fn new(cfg: BreakerConfig) -> PodHealth {
        Self::with_clock(cfg, Arc::new(SystemClock))
    }

    pub fn with_clock(cfg: BreakerConfig, clock: Arc<dyn Clock>) -> PodHealth {
        PodHealth {
            cfg,
            clock,
            pods: Mutex::new(HashMap::new()),
            changed: Notify::new(),
        }
    }

    pub fn config(&self) -> &BreakerConfig {
        &self.cfg
    }

    /// Woken when some pod's state changed here (for the monitor to write
    /// it at once).
    pub fn changed(&self) -> &Notify {
        &self.changed
    }

    fn with_entry<T>(&self, pod: &str, f: impl FnOnce(&mut Entry, Now) -> T) -> T {
        let now = self.clock.now();
        let mut pods = self.pods.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = pods.entry(pod.to_string()).or_insert_with(|| Entry {
            breaker: Breaker::new(self.cfg, now),
            capacity: None,
            known_version: 0,
            seq: 0,
            unsent_transition: false,
            unsent_error: false,
            unsent_capacity: false,
            new_successes: 0,
            new_failures: 0,
        });
        f(entry, now)
    }

    fn changed_state(&self, pod: &str, entry: &mut Entry, t: Option<Transition>, source: &str) {
        if let Some(t) = t {
            entry.seq += 1;
            entry.unsent_transition = true;
            log_transition(
                pod,
                t,
                entry.breaker.last_error().map(|(e, _)| e.as_str()),
                source,
            );
            set_gauges(pod, t.to);
            self.changed.notify_one();
        }
    }

    /// The time on this view's clock: when a call is sent, for
    /// [`record_failure`](Self::record_failure).
    pub fn now(&self) -> std::time::Instant {
        self.clock.now().mono
    }

    /// Whether a call to `pod` may go now.
    pub fn admit(&self, pod: &str) -> Admission {
        self.with_entry(pod, |e, now| e.breaker.admit(now))
    }

    /// `pod` answered (any HTTP answer but 502/503/504).
    pub fn record_success(&self, pod: &str) {
        self.with_entry(pod, |e, now| {
            e.new_successes += 1;
            let t = e.breaker.success(now);
            self.changed_state(pod, e, t, "call");
        });
    }

    /// `pod` did not answer a call sent at `sent` ([`now`](Self::now)),
    /// or answered it 502/503/504.
    pub fn record_failure(&self, pod: &str, error: impl Into<String>, sent: std::time::Instant) {
        let error = error.into();
        self.with_entry(pod, |e, now| {
            e.new_failures += 1;
            e.unsent_error = true;
            let t = e.breaker.failure(error, now, sent);
            self.changed_state(pod, e, t, "call");
        });
    }

    /// What a probe read of `pod`'s free capacity.
    pub fn set_capacity(&self, pod: &str, free_vcpus: u64, free_ram_mb: u64) {
        self.with_entry(pod, |e, now| {
            e.capacity = Some(Capacity {
                free_vcpus,
                free_ram_mb,
                probed_at: now.wall,
            });
            e.unsent_capacity = true;
        });
    }

    /// This instance's view of `pod`; `None` if nothing is known of it.
    pub fn view(&self, pod: &str) -> Option<PodHealthView> {
        let pods = self.pods.lock().unwrap_or_else(PoisonError::into_inner);
        pods.get(pod).map(Entry::view)
    }

    /// Every pod this instance knows of, by name.
    pub fn snapshot(&self) -> HashMap<String, PodHealthView> {
        let pods = self.pods.lock().unwrap_or_else(PoisonError::into_inner);
        pods.iter().map(|(k, e)| (k.clone(), e.view())).collect()
    }

    /// Writes this instance's news to the shared view, then takes the
    /// state of every pod whose row changed since this instance last saw
    /// it. News that could not be written is kept for the next time.
    pub async fn sync(&self, store: &Store) -> Result<(), StoreError> {
        let now = self.clock.now();
        let reports: Vec<(u64, PodHealthReport, u64, u64)> = {
            let mut pods = self.pods.lock().unwrap_or_else(PoisonError::into_inner);
            pods.iter_mut()
                .filter(|(_, e)| e.has_news())
                .map(|(name, e)| {
                    let last = e.breaker.last_error();
                    let report = PodHealthReport {
                        pod_name: name.clone(),
                        state: e.breaker.state().as_str().to_string(),
                        since: stamp(e.breaker.since()),
                        transition: e.unsent_transition,
                        last_error: last
                            .filter(|_| e.unsent_error)
                            .map(|(m, at)| (m.clone(), stamp(*at))),
                        consecutive_failures: i64::from(e.breaker.consecutive_failures()),
                        new_successes: i64::try_from(e.new_successes).unwrap_or(i64::MAX),
                        new_failures: i64::try_from(e.new_failures).unwrap_or(i64::MAX),
                        capacity: e.capacity.as_ref().filter(|_| e.unsent_capacity).map(|c| {
                            (
                                i64::try_from(c.free_vcpus).unwrap_or(i64::MAX),
                                i64::try_from(c.free_ram_mb).unwrap_or(i64::MAX),
                                stamp(c.probed_at),
                            )
                        }),
                        now: stamp(now.wall),
                    };
                    let counts = (e.new_successes, e.new_failures);
                    e.new_successes = 0;
                    e.new_failures = 0;
                    e.unsent_error = false;
                    e.unsent_capacity = false;
                    (e.seq, report, counts.0, counts.1)
                })
                .collect()
        };
        let mut first_error = None;
        for (seq, report, successes, failures) in reports {
            let written = store.report_pod_health(&report).await;
            let mut pods = self.pods.lock().unwrap_or_else(PoisonError::into_inner);
            let Some(e) = pods.get_mut(&report.pod_name) else {
                continue;
            };
            match written {
                Ok(version) => {
                    if report.transition && e.seq == seq {
                        e.unsent_transition = false;
                        if let Some(v) = version {
                            e.known_version = v;
                        }
                    }
                }
                Err(err) => {
                    // Keep the news for the next sync.
                    e.new_successes += successes;
                    e.new_failures += failures;
                    e.unsent_error |= report.last_error.is_some();
                    e.unsent_capacity |= report.capacity.is_some();
                    first_error.get_or_insert(err);
                }
            }
        }
        if let Some(err) = first_error {
            return Err(err);
        }
        let rows = store.list_pod_health().await?;
        self.take_rows(&rows);
        Ok(())
    }

    /// Takes the newer rows of the shared view.
    fn take_rows(&self, rows: &[PodHealthRow]) {
        for row in rows {
            let Some(state) = HealthState::parse(&row.state) else {
                continue;
            };
            self.with_entry(&row.pod_name, |e, now| {
                if row.version > e.known_version && !e.unsent_transition {
                    e.known_version = row.version;
                    let last_error = match (&row.last_error, row.last_error_at.as_deref()) {
                        (Some(m), Some(at)) => parse_stamp(at).map(|at| (m.clone(), at)),
                        _ => None,
                    };
                    let since = parse_stamp(&row.since).unwrap_or(now.wall);
                    if let Some(t) = e.breaker.adopt(state, since, last_error, now) {
                        log_transition(&row.pod_name, t, row.last_error.as_deref(), "shared view");
                    }
                }
                if let (Some(vcpus), Some(ram), Some(at)) = (
                    row.free_vcpus,
                    row.free_ram_mb,
                    row.probed_at.as_deref().and_then(parse_stamp),
                ) {
                    let newer = e.capacity.as_ref().is_none_or(|c| c.probed_at <= at);
                    if newer && !e.unsent_capacity {
                        e.capacity = Some(Capacity {
                            free_vcpus: u64::try_from(vcpus).unwrap_or(0),
                            free_ram_mb: u64::try_from(ram).unwrap_or(0),
                            probed_at: at,
                        });
                    }
                }
                set_gauges(&row.pod_name, e.breaker.state());
            });
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn health(clock: &Arc<ManualClock>) -> PodHealth {
        PodHealth::with_clock(BreakerConfig::default(), clock.clone())
    }

    #[test]
    fn pods_are_independent_and_unknown_pods_pass() {
        let clock = Arc::new(ManualClock::new());
        let h = health(&clock);
        assert_eq!(h.admit("Pod9"), Admission::Pass);
        for _ in 0..3 {
            h.record_failure("Pod1", "timeout", clock.now().mono);
        }
        assert!(matches!(h.admit("Pod1"), Admission::Reject { .. }));
        assert_eq!(h.admit("Pod2"), Admission::Pass);
        let v = h.view("Pod1").unwrap();
        assert_eq!(v.state, HealthState::Down);
        assert_eq!(v.last_error.as_deref(), Some("timeout"));
        assert_eq!((v.successes, v.failures, v.consecutive_failures), (0, 3, 3));
        clock.advance(Duration::from_secs(10));
        assert_eq!(h.admit("Pod1"), Admission::Trial);
        h.record_success("Pod1");
        assert_eq!(h.view("Pod1").unwrap().state, HealthState::Up);
    }

    #[test]
    fn capacity_is_kept_with_its_time() {
        let clock = Arc::new(ManualClock::new());
        let h = health(&clock);
        h.set_capacity("Pod1", 8, 4096);
        let c = h.view("Pod1").unwrap().capacity.unwrap();
        assert_eq!((c.free_vcpus, c.free_ram_mb), (8, 4096));
        assert_eq!(c.probed_at, clock.now().wall);
    }
}
