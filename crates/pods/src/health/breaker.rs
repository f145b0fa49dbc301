//! One pod's circuit breaker: pure state, no IO, the clock passed in.
//!
//! - `up`: calls go through. Consecutive failures (a timeout, a refused or
//!   broken connection, HTTP 502/503/504) make it `degraded` after
//!   [`BreakerConfig::degraded_after`] and `down` after
//!   [`BreakerConfig::down_after`]. Any other answer, a 4xx included, is a
//!   success: the pod is there and speaking.
//! - `degraded`: calls still go through; the scheduler prefers other pods.
//! - `down`: calls are refused at once, except one trial per
//!   [`BreakerConfig::retry_interval`] (half-open). Any success, a trial's,
//!   a probe's or a late answer to an earlier call, brings the pod back `up`.
//! - A call that fails after the pod answered another one sent later is
//!   older news than that answer: it is counted but moves nothing, so calls
//!   stuck while a pod hung do not take it down again once it is back.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum HealthState {
    Up,
    Degraded,
    Down,
}

impl HealthState {
    pub const ALL: [HealthState; 3] = [HealthState::Up, HealthState::Degraded, HealthState::Down];

    pub fn as_str(self) -> &'static str {
        match self {
            HealthState::Up => "up",
            HealthState::Degraded => "degraded",
            HealthState::Down => "down",
        }
    }

    pub fn parse(s: &str) -> Option<HealthState> {
        HealthState::ALL.into_iter().find(|h| h.as_str() == s)
    }
}

impl std::fmt::Display for HealthState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerConfig {
    /// Consecutive failures that make a pod `degraded` (at least 1).
    pub degraded_after: u32,
    /// Consecutive failures that make a pod `down` (at least
    /// `degraded_after`).
    pub down_after: u32,
    /// How long a `down` pod refuses calls before one is let through.
    pub retry_interval: Duration,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        BreakerConfig {
            degraded_after: 1,
            down_after: 3,
            retry_interval: Duration::from_secs(10),
        }
    }
}

/// A moment on both clocks: the monotonic one for intervals, the wall one
/// for what is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Now {
    pub mono: Instant,
    pub wall: DateTime<Utc>,
}

impl Now {
    pub fn system() -> Now {
        Now {
            mono: Instant::now(),
            wall: Utc::now(),
        }
    }

    pub fn after(self, d: Duration) -> Now {
        Now {
            mono: self.mono + d,
            wall: self.wall + chrono::TimeDelta::from_std(d).unwrap_or(chrono::TimeDelta::zero()),
        }
    }
}

/// Whether a call may go to the pod.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Up or degraded: go.
    Pass,
    /// Down, and this call is the trial of this retry interval.
    Trial,
    /// Down: refuse; the next trial is due in `retry_after`.
    Reject { retry_after: Duration },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    pub from: HealthState,
    pub to: HealthState,
}

#[derive(Debug, Clone)]
pub struct Breaker {
    cfg: BreakerConfig,
    state: HealthState,
    since: DateTime<Utc>,
    consecutive_failures: u32,
    successes: u64,
    failures: u64,
    last_error: Option<(String, DateTime<Utc>)>,
    /// While down: when the next trial may go.
    next_trial: Instant,
    /// When the pod last answered.
    last_answer: Option<Instant>,
}

impl Breaker {
    /// A pod nothing is known of yet counts as `up`.
    pub fn new(cfg: BreakerConfig, now: Now) -> Breaker {
        Breaker {
            cfg,
            state: HealthState::Up,
            since: now.wall,
            consecutive_failures: 0,
            successes: 0,
            failures: 0,
            last_error: None,
            next_trial: now.mono,
            last_answer: None,
        }
    }

    pub fn state(&self) -> HealthState {
        self.state
    }

    pub fn since(&self) -> DateTime<Utc> {
        self.since
    }

    pub fn consecutive_failures(&self) -> u32 {
        self.consecutive_failures
    }

    /// Successes and failures seen by this breaker.
    pub fn counts(&self) -> (u64, u64) {
        (self.successes, self.failures)
    }

    pub fn last_error(&self) -> Option<&(String, DateTime<Utc>)> {
        self.last_error.as_ref()
    }

    /// Asks to send one call. A `Trial` is granted once per retry interval,
    /// whether or not an earlier trial ever reported back (a caller may
    /// give up on its call), so a lost trial never keeps a pod down.
    pub fn admit(&mut self, now: Now) -> Admission {
        if self.state != HealthState::Down {
            return Admission::Pass;
        }
        if now.mono >= self.next_trial {
            self.next_trial = now.mono + self.cfg.retry_interval;
            Admission::Trial
        } else {
            Admission::Reject {
                retry_after: self.next_trial - now.mono,
            }
        }
    }

    /// The pod answered.
    pub fn success(&mut self, now: Now) -> Option<Transition> {
        self.successes = self.successes.saturating_add(1);
        self.consecutive_failures = 0;
        self.last_answer = Some(now.mono);
        self.move_to(HealthState::Up, now)
    }

    /// The pod failed to answer a call sent at `sent` (or answered it
    /// 502/503/504). Counted; ignored otherwise if the pod has answered
    /// since `sent`.
    pub fn failure(&mut self, error: String, now: Now, sent: Instant) -> Option<Transition> {
        self.failures = self.failures.saturating_add(1);
        if self.last_answer.is_some_and(|answered| sent < answered) {
            return None;
        }
        self.consecutive_failures = self.consecutive_failures.saturating_add(1);
        self.last_error = Some((error, now.wall));
        let target = self.state_for(self.consecutive_failures);
        if self.state == HealthState::Down {
            // A failed trial (or a late failure): wait a whole interval.
            self.next_trial = now.mono + self.cfg.retry_interval;
            return None;
        }
        if target > self.state {
            self.move_to(target, now)
        } else {
            None
        }
    }

    /// Takes the state another instance reported (see the shared view):
    /// from now on this breaker behaves as if it had seen that itself.
    pub fn adopt(
        &mut self,
        state: HealthState,
        since: DateTime<Utc>,
        last_error: Option<(String, DateTime<Utc>)>,
        now: Now,
    ) -> Option<Transition> {
        if let Some(e) = last_error {
            if self.last_error.as_ref().is_none_or(|mine| mine.1 <= e.1) {
                self.last_error = Some(e);
            }
        }
        self.consecutive_failures = match state {
            HealthState::Up => 0,
            HealthState::Degraded => {
                let lo = self.cfg.degraded_after;
                let hi = self.cfg.down_after.saturating_sub(1).max(lo);
                self.consecutive_failures.clamp(lo, hi)
            }
            HealthState::Down => self.consecutive_failures.max(self.cfg.down_after),
        };
        let transition = self.move_to(state, now);
        self.since = since;
        transition
    }

    fn state_for(&self, consecutive_failures: u32) -> HealthState {
        if consecutive_failures >= self.cfg.down_after {
            HealthState::Down
        } else if consecutive_failures >= self.cfg.degraded_after {
            HealthState::Degraded
        } else {
            HealthState::Up
        }
    }

    fn move_to(&mut self, to: HealthState, now: Now) -> Option<Transition> {
        if to == self.state {
            return None;
        }
        let from = self.state;
        self.state = to;
        self.since = now.wall;
        if to == HealthState::Down {
            self.next_trial = now.mono + self.cfg.retry_interval;
        }
        Some(Transition { from, to })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;

    fn cfg() -> BreakerConfig {
        BreakerConfig {
            degraded_after: 1,
            down_after: 3,
            retry_interval: Duration::from_secs(10),
        }
    }

    fn fail(b: &mut Breaker, now: Now) -> Option<Transition> {
        b.failure("HTTP 503".into(), now, now.mono)
    }

    #[test]
    fn a_failure_of_a_call_sent_before_the_last_answer_moves_nothing() {
        let t0 = Now::system();
        let mut b = Breaker::new(cfg(), t0);
        let t1 = t0.after(Duration::from_secs(1));
        assert_eq!(b.success(t1), None);
        let t2 = t1.after(Duration::from_secs(2));
        for _ in 0..3 {
            assert_eq!(b.failure("timeout".into(), t2, t0.mono), None);
        }
        assert_eq!(b.state(), HealthState::Up);
        assert_eq!((b.consecutive_failures(), b.counts()), (0, (1, 3)));
        assert!(b.last_error().is_none());
        // Sent at or after the answer: counted as ever.
        assert!(b.failure("timeout".into(), t2, t1.mono).is_some());
        assert_eq!(b.state(), HealthState::Degraded);
    }

    #[test]
    fn failures_degrade_then_take_the_pod_down() {
        let t0 = Now::system();
        let mut b = Breaker::new(cfg(), t0);
        assert_eq!(b.admit(t0), Admission::Pass);
        assert_eq!(
            fail(&mut b, t0),
            Some(Transition {
                from: HealthState::Up,
                to: HealthState::Degraded
            })
        );
        assert_eq!(b.admit(t0), Admission::Pass);
        assert_eq!(fail(&mut b, t0), None);
        let t1 = t0.after(Duration::from_secs(1));
        assert_eq!(
            fail(&mut b, t1),
            Some(Transition {
                from: HealthState::Degraded,
                to: HealthState::Down
            })
        );
        assert_eq!(b.since(), t1.wall);
        assert_eq!(b.consecutive_failures(), 3);
        assert_eq!(b.counts(), (0, 3));
        assert_eq!(b.last_error().unwrap().0, "HTTP 503");
        assert_eq!(
            b.admit(t1.after(Duration::from_secs(4))),
            Admission::Reject {
                retry_after: Duration::from_secs(6)
            }
        );
    }

    #[test]
    fn a_success_resets_the_count() {
        let t0 = Now::system();
        let mut b = Breaker::new(cfg(), t0);
        fail(&mut b, t0);
        fail(&mut b, t0);
        assert_eq!(
            b.success(t0),
            Some(Transition {
                from: HealthState::Degraded,
                to: HealthState::Up
            })
        );
        fail(&mut b, t0);
        fail(&mut b, t0);
        assert_eq!(b.state(), HealthState::Degraded);
    }

    #[test]
    fn down_lets_one_trial_through_per_interval_and_a_success_brings_it_up() {
        let t0 = Now::system();
        let mut b = Breaker::new(cfg(), t0);
        for _ in 0..3 {
            fail(&mut b, t0);
        }
        let t10 = t0.after(Duration::from_secs(10));
        assert_eq!(b.admit(t10), Admission::Trial);
        assert!(matches!(b.admit(t10), Admission::Reject { .. }));
        // The trial fails: a whole interval again from then.
        let t12 = t0.after(Duration::from_secs(12));
        assert_eq!(fail(&mut b, t12), None);
        assert_eq!(
            b.admit(t0.after(Duration::from_secs(21))),
            Admission::Reject {
                retry_after: Duration::from_secs(1)
            }
        );
        let t22 = t0.after(Duration::from_secs(22));
        assert_eq!(b.admit(t22), Admission::Trial);
        assert_eq!(
            b.success(t22),
            Some(Transition {
                from: HealthState::Down,
                to: HealthState::Up
            })
        );
        assert_eq!(b.admit(t22), Admission::Pass);
        assert_eq!(b.since(), t22.wall);
    }

    #[test]
    fn a_lost_trial_does_not_keep_the_pod_down() {
        let t0 = Now::system();
        let mut b = Breaker::new(cfg(), t0);
        for _ in 0..3 {
            fail(&mut b, t0);
        }
        assert_eq!(b.admit(t0.after(Duration::from_secs(10))), Admission::Trial);
        // Its caller gave up: no outcome. The next interval has a trial.
        assert_eq!(b.admit(t0.after(Duration::from_secs(20))), Admission::Trial);
    }

    #[test]
    fn adopting_another_instances_view() {
        let t0 = Now::system();
        let mut b = Breaker::new(cfg(), t0);
        let then = t0.wall - chrono::TimeDelta::seconds(5);
        let t = b.adopt(HealthState::Down, then, Some(("timeout".into(), then)), t0);
        assert_eq!(
            t,
            Some(Transition {
                from: HealthState::Up,
                to: HealthState::Down
            })
        );
        assert_eq!(b.since(), then);
        assert!(matches!(b.admit(t0), Admission::Reject { .. }));
        assert_eq!(b.admit(t0.after(Duration::from_secs(10))), Admission::Trial);
        // An adopted `up` forgets the failures.
        b.adopt(HealthState::Up, t0.wall, None, t0);
        assert_eq!((b.state(), b.consecutive_failures()), (HealthState::Up, 0));
        assert_eq!(b.last_error().unwrap().0, "timeout");
        // An adopted `degraded` needs the remaining failures only.
        b.adopt(HealthState::Degraded, t0.wall, None, t0);
        fail(&mut b, t0);
        fail(&mut b, t0);
        assert_eq!(b.state(), HealthState::Down);
    }

    #[derive(Debug, Clone)]
    enum Op {
        Admit,
        Success,
        Failure,
        Wait(u64),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            3 => Just(Op::Admit),
            1 => Just(Op::Success),
            3 => Just(Op::Failure),
            2 => (0u64..15_000).prop_map(Op::Wait),
        ]
    }

    proptest! {
        /// Without adoption, the state is a function of the consecutive
        /// failures; a down pod admits at most one call per retry interval;
        /// a refusal names a wait within the interval.
        #[test]
        fn invariants(
            degraded_after in 1u32..5,
            extra in 0u32..5,
            retry_ms in 1u64..20_000,
            ops in proptest::collection::vec(op(), 0..200),
        ) {
            let cfg = BreakerConfig {
                degraded_after,
                down_after: degraded_after + extra,
                retry_interval: Duration::from_millis(retry_ms),
            };
            let t0 = Now::system();
            let mut now = t0;
            let mut b = Breaker::new(cfg, now);
            let mut last_trial: Option<Instant> = None;
            for op in ops {
                match op {
                    Op::Wait(ms) => now = now.after(Duration::from_millis(ms)),
                    Op::Success => {
                        b.success(now);
                        prop_assert_eq!(b.state(), HealthState::Up);
                        last_trial = None;
                    }
                    Op::Failure => {
                        b.failure("x".into(), now, now.mono);
                    }
                    Op::Admit => match b.admit(now) {
                        Admission::Pass => prop_assert!(b.state() != HealthState::Down),
                        Admission::Trial => {
                            prop_assert_eq!(b.state(), HealthState::Down);
                            if let Some(prev) = last_trial {
                                prop_assert!(now.mono - prev >= cfg.retry_interval);
                            }
                            last_trial = Some(now.mono);
                        }
                        Admission::Reject { retry_after } => {
                            prop_assert_eq!(b.state(), HealthState::Down);
                            prop_assert!(retry_after > Duration::ZERO);
                            prop_assert!(retry_after <= cfg.retry_interval);
                        }
                    },
                }
                let cf = b.consecutive_failures();
                let expected = if cf >= cfg.down_after {
                    HealthState::Down
                } else if cf >= cfg.degraded_after {
                    HealthState::Degraded
                } else {
                    HealthState::Up
                };
                prop_assert_eq!(b.state(), expected);
                let (s, f) = b.counts();
                prop_assert!(u64::from(cf) <= f);
                prop_assert!(s + f <= 200);
            }
        }
    }
}
