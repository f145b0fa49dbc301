//! Worker loops: lease a job, run its handler while renewing the lease,
//! record the outcome (log, retry with back-off, or FAIL).

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::FutureExt;
use rand::Rng;
use tokio::sync::{watch, Notify};
use tokio::task::{JoinHandle, JoinSet};
use tracing::Instrument;
use tricircle_store::{Job, Store};

use crate::registry::{JobError, Registry};

/// How an [`Engine`] works. Defaults: 2 workers, 60 s leases, 1 s polling,
/// back-off from 1 s doubling up to 300 s, FAIL after 20 attempts.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Jobs this engine runs at once.
    pub workers: usize,
    /// How long a claimed job stays this engine's without a renewal; the
    /// lease is renewed every `lease / 3` while the handler runs. A worker
    /// that dies loses its jobs to other workers after this long. Expiry
    /// and back-off times are by the store's clock ([`Store::with_clock`]);
    /// the renewal and polling intervals are the runtime's timers.
    pub lease: Duration,
    /// How often an idle worker looks for jobs enqueued by other processes.
    pub poll_interval: Duration,
    pub backoff_base: Duration,
    pub backoff_cap: Duration,
    /// Attempts (runs) before a job that keeps failing with
    /// [`JobError::Retry`] FAILs for good.
    pub max_attempts: u32,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            workers: 2,
            lease: Duration::from_secs(60),
            poll_interval: Duration::from_secs(1),
            backoff_base: Duration::from_secs(1),
            backoff_cap: Duration::from_secs(300),
            max_attempts: 20,
        }
    }
}

/// Wakes idle workers of this process at once, e.g. after an enqueue.
/// Cheap to clone; kicking with no engine listening does nothing.
#[derive(Debug, Clone, Default)]
pub struct Kicker(Arc<Notify>);

impl Kicker {
    pub fn new() -> Kicker {
        Kicker::default()
    }

    pub fn kick(&self) {
        self.0.notify_waiters();
    }
}

/// The delay before the next run of a job that has failed `attempts` times:
/// `base · 2^(attempts-1)`, capped at `cap`, with "equal jitter" (a random
/// point in its upper half) so that jobs failing together do not all retry
/// together.
pub fn backoff(attempts: u32, base: Duration, cap: Duration) -> Duration {
    backoff_at(attempts, base, cap, rand::rng().random::<f64>())
}

fn backoff_at(attempts: u32, base: Duration, cap: Duration, unit: f64) -> Duration {
    let exp = attempts.saturating_sub(1).min(32);
    let full = base.saturating_mul(2u32.saturating_pow(exp)).min(cap);
    full / 2 + full.mul_f64(unit.clamp(0.0, 1.0) / 2.0)
}

struct Shared {
    store: Store,
    registry: Arc<Registry>,
    config: EngineConfig,
    kicker: Kicker,
}

/// N worker loops over one [`Store`]. Any number of engines (processes,
/// hosts) may share a database: leases decide who runs what, and at most
/// one job per (type, resource) runs at a time.
pub struct Engine {
    shared: Arc<Shared>,
    name: String,
}

impl Engine {
    pub fn new(store: Store, registry: Arc<Registry>, config: EngineConfig) -> Engine {
        let short = uuid::Uuid::new_v4().simple().to_string();
        Engine {
            shared: Arc::new(Shared {
                store,
                registry,
                config,
                kicker: Kicker::new(),
            }),
            name: format!("{}-{}", std::process::id(), &short[..12]),
        }
    }

    /// Uses `kicker` (e.g. one the APIs already hold) to wake the workers.
    pub fn with_kicker(self, kicker: Kicker) -> Engine {
        let s = &self.shared;
        Engine {
            shared: Arc::new(Shared {
                store: s.store.clone(),
                registry: s.registry.clone(),
                config: s.config.clone(),
                kicker,
            }),
            name: self.name,
        }
    }

    pub fn kicker(&self) -> Kicker {
        self.shared.kicker.clone()
    }

    pub fn kick(&self) {
        self.shared.kicker.kick();
    }

    /// The lease owner names of this engine's workers start with this.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Runs the workers until `shutdown` resolves. Jobs running then are
    /// given back (NEW again, no attempt counted) so another worker resumes
    /// them at once. Aborting the returned task stops every worker
    /// abruptly, as a crash would: their leases then expire.
    pub fn spawn(self, shutdown: impl Future<Output = ()> + Send + 'static) -> JoinHandle<()> {
        tokio::spawn(async move {
            let (stop_tx, stop_rx) = watch::channel(false);
            // Dropping the set (when this task is aborted) aborts the workers.
            let mut workers = JoinSet::new();
            let n = self.shared.config.workers.max(1);
            for i in 0..n {
                let owner = format!("{}-w{i}", self.name);
                workers.spawn(worker(self.shared.clone(), owner, stop_rx.clone()));
            }
            tracing::info!(engine = %self.name, workers = n, "job engine started");
            shutdown.await;
            let _ = stop_tx.send(true);
            while workers.join_next().await.is_some() {}
            tracing::info!(engine = %self.name, "job engine stopped");
        })
    }
}

fn stopped(stop: &watch::Receiver<bool>) -> bool {
    *stop.borrow() || stop.has_changed().is_err()
}

async fn worker(sh: Arc<Shared>, owner: String, mut stop: watch::Receiver<bool>) {
    let lease = sh.config.lease;
    loop {
        if stopped(&stop) {
            return;
        }
        // Armed before looking, so a kick during the claim is not lost.
        let kicked = sh.kicker.0.notified();
        tokio::pin!(kicked);
        kicked.as_mut().enable();
        match sh.store.claim_jobs(&owner, lease, 1).await {
            Ok(jobs) if !jobs.is_empty() => {
                for job in jobs {
                    run(&sh, &owner, job, &mut stop).await;
                }
                continue;
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(worker = %owner, error = %e, "cannot claim jobs"),
        }
        tokio::select! {
            _ = kicked => {}
            _ = tokio::time::sleep(sh.config.poll_interval) => {}
            _ = stop.changed() => {}
        }
    }
}

/// How a run ended, as the metrics name it.
fn outcome_label(o: &Outcome) -> &'static str {
    match o {
        Outcome::Success => "success",
        Outcome::Retry(_) => "retry",
        Outcome::Fail(_) => "fail",
        Outcome::Lost => "lost",
        Outcome::Released => "released",
    }
}

enum Outcome {
    Success,
    Retry(String),
    Fail(String),
    /// The lease went to another worker; nothing is recorded.
    Lost,
    /// Shutdown: given back unfinished.
    Released,
}

async fn run(sh: &Shared, owner: &str, job: Job, stop: &mut watch::Receiver<bool>) {
    let span = tracing::info_span!("job", job.id = %job.id, job.type = %job.job_type,
        attempt = job.attempts + 1);
    let job_type = job.job_type.clone();
    let started = Instant::now();
    let outcome = execute(sh, owner, &job, stop)
        .instrument(span.clone())
        .await;
    let outcome = record(sh, owner, &job, outcome)
        .instrument(span.clone())
        .await;
    let _enter = span.enter();
    match &outcome {
        Outcome::Success => tracing::info!("job succeeded"),
        Outcome::Retry(e) => tracing::warn!(error = %e, "job failed; will retry"),
        Outcome::Fail(e) => tracing::error!(error = %e, "job failed for good"),
        Outcome::Lost => tracing::warn!("lease lost to another worker; result dropped"),
        Outcome::Released => tracing::info!("job given back at shutdown"),
    }
    metrics::counter!("tricircle_jobs_total", "type" => job_type.clone(),
        "outcome" => outcome_label(&outcome))
    .increment(1);
    metrics::histogram!("tricircle_job_duration_seconds", "type" => job_type)
        .record(started.elapsed().as_secs_f64());
}

/// Runs the handler while renewing the lease.
async fn execute(sh: &Shared, owner: &str, job: &Job, stop: &mut watch::Receiver<bool>) -> Outcome {
    let max = i64::from(sh.config.max_attempts.max(1));
    if job.attempts >= max {
        // Taken over after workers kept dying on it.
        return Outcome::Fail(format!(
            "gave up after {} attempts: {}",
            job.attempts,
            job.last_error.as_deref().unwrap_or("no error recorded")
        ));
    }
    let Some(handler) = sh.registry.handler(&job.job_type) else {
        return Outcome::Fail(format!(
            "no handler is registered for job type '{}' in this Tricircle; \
             redo the job after upgrading, or delete it",
            job.job_type
        ));
    };
    let work = AssertUnwindSafe(handler.run(job)).catch_unwind();
    tokio::select! {
        r = work => match r {
            Ok(Ok(())) => Outcome::Success,
            Ok(Err(JobError::Retry(e))) => Outcome::Retry(e),
            Ok(Err(JobError::Fatal(e))) => Outcome::Fail(e),
            Err(_) => Outcome::Retry("the handler panicked".to_string()),
        },
        () = keep_lease(sh, owner, &job.id) => Outcome::Lost,
        _ = stop.wait_for(|s| *s) => Outcome::Released,
    }
}

/// Renews the lease every lease/3; returns when it is lost: another worker
/// holds the job, or renewals failed for a whole lease.
async fn keep_lease(sh: &Shared, owner: &str, id: &str) {
    let lease = sh.config.lease;
    let every = (lease / 3).max(Duration::from_millis(100));
    let mut last_ok = Instant::now();
    loop {
        tokio::time::sleep(every).await;
        match sh.store.renew_job(owner, id, lease).await {
            Ok(true) => last_ok = Instant::now(),
            Ok(false) => return,
            Err(e) => {
                tracing::warn!(error = %e, "cannot renew the job's lease");
                if last_ok.elapsed() >= lease {
                    return;
                }
            }
        }
    }
}

/// Records the outcome; a record refused because the lease is gone turns
/// the outcome into `Lost`.
async fn record(sh: &Shared, owner: &str, job: &Job, outcome: Outcome) -> Outcome {
    let c = &sh.config;
    let outcome = match outcome {
        Outcome::Retry(e) if job.attempts + 1 >= i64::from(c.max_attempts.max(1)) => {
            Outcome::Fail(format!("gave up after {} attempts: {e}", job.attempts + 1))
        }
        o => o,
    };
    let store = &sh.store;
    let done = match &outcome {
        Outcome::Success => store.finish_job_success(&job.id, owner).await,
        Outcome::Retry(e) => {
            let attempts = u32::try_from(job.attempts + 1).unwrap_or(u32::MAX);
            let at = store.stamp_after(backoff(attempts, c.backoff_base, c.backoff_cap));
            store.finish_job_failure(&job.id, owner, e, Some(&at)).await
        }
        Outcome::Fail(e) => store.finish_job_failure(&job.id, owner, e, None).await,
        Outcome::Released => store.release_job(&job.id, owner).await,
        Outcome::Lost => Ok(true),
    };
    match done {
        Ok(true) => outcome,
        Ok(false) => Outcome::Lost,
        Err(e) => {
            // The lease will expire and another worker will run it again.
            tracing::error!(error = %e, "cannot record the job's outcome");
            Outcome::Lost
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_and_is_capped() {
        let s = Duration::from_secs;
        let (base, cap) = (s(1), s(300));
        assert_eq!(backoff_at(1, base, cap, 0.0), Duration::from_millis(500));
        assert_eq!(backoff_at(1, base, cap, 1.0), s(1));
        assert_eq!(backoff_at(3, base, cap, 1.0), s(4));
        assert_eq!(backoff_at(3, base, cap, 0.0), s(2));
        assert_eq!(backoff_at(20, base, cap, 1.0), s(300));
        assert_eq!(
            backoff_at(u32::MAX, base, cap, 0.5),
            Duration::from_millis(225_000)
        );
        for n in 1..40 {
            let d = backoff(n, base, cap);
            assert!(d <= cap && d >= Duration::from_millis(500), "{n}: {d:?}");
        }
    }
}
