//! The job engine against a real store, on SQLite and (when available)
//! PostgreSQL: coalescing, one run per resource at a time, retries with
//! back-off, FAIL and redo, unknown types, lease takeover and renewal, and
//! two engines sharing one database.
//!
//! Nothing here races the wall clock: lease expiries and back-offs are
//! driven by a [`ManualClock`] the store takes its time from, handlers that
//! must stay busy wait on a gate the test opens, and every wait polls for
//! an outcome under a generous bound that is never what is tested.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::sync::{oneshot, Semaphore};
use tricircle_jobs::{handler_fn, Engine, EngineConfig, JobError, JobStatus, Registry};
use tricircle_store::testing::{self, ManualClock, TestStore};
use tricircle_store::{Clock, Job, JobFilter, Store};

/// How long any wait may take before the test gives up: only a bound
/// against hanging for ever, far above what a loaded machine needs.
const PATIENCE: u64 = 60;

fn fast() -> EngineConfig {
    EngineConfig {
        workers: 4,
        lease: Duration::from_secs(60),
        poll_interval: Duration::from_millis(50),
        backoff_base: Duration::from_millis(10),
        backoff_cap: Duration::from_millis(50),
        max_attempts: 20,
    }
}

/// Polls `check` until it yields a value, or fails after `secs`.
async fn until<T, F, Fut>(secs: u64, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn job_in(store: &Store, id: &str, status: JobStatus) -> Job {
    let what = format!("job {id} to be {status:?}");
    until(PATIENCE, &what, || async {
        store.get_job(id).await.ok().filter(|j| j.status == status)
    })
    .await
}

/// The job's lease expiry once it is later than `after`.
async fn lease_after(store: &Store, id: &str, after: &str) -> String {
    until(PATIENCE, "the lease to be renewed", || async {
        store
            .get_job(id)
            .await
            .ok()
            .and_then(|j| j.lease_expires_at)
            .filter(|e| e.as_str() > after)
    })
    .await
}

/// Now by `clock`, as the store writes times.
fn stamp(clock: &ManualClock) -> String {
    clock.now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// A store on `s`'s database whose job queue runs on a clock of the test's.
fn on_manual_clock(s: &TestStore) -> (Store, ManualClock) {
    let clock = ManualClock::new();
    (s.store.clone().with_clock(clock.clone()), clock)
}

/// Runs of a handler: (job id, resource payload), what happened in order
/// (`("start" | "end", job id)`), and the most runs of one resource seen at
/// once.
#[derive(Default)]
struct Runs {
    runs: Vec<(String, Value)>,
    events: Vec<(&'static str, String)>,
    in_flight: HashMap<String, usize>,
    max_in_flight: usize,
}

type Shared = Arc<Mutex<Runs>>;

/// How a [`recording`] handler's run ends.
#[derive(Clone)]
enum Work {
    /// After simulated work of this long.
    Takes(Duration),
    /// When the test hands the gate a permit (one per run).
    Gated(Arc<Semaphore>),
}

/// A handler that records its runs and does `work` in each.
fn recording(runs: Shared, work: Work) -> impl tricircle_jobs::Handler {
    handler_fn(move |job: Job| {
        let runs = runs.clone();
        let work = work.clone();
        async move {
            {
                let mut r = runs.lock().unwrap();
                r.runs.push((job.id.clone(), job.resource.clone()));
                r.events.push(("start", job.id.clone()));
                let n = r.in_flight.entry(job.resource_id.clone()).or_default();
                *n += 1;
                let n = *n;
                r.max_in_flight = r.max_in_flight.max(n);
            }
            match work {
                Work::Takes(d) => tokio::time::sleep(d).await,
                Work::Gated(gate) => gate.acquire().await.unwrap().forget(),
            }
            let mut r = runs.lock().unwrap();
            *r.in_flight.get_mut(&job.resource_id).unwrap() -= 1;
            r.events.push(("end", job.id.clone()));
            Ok(())
        }
    })
}

fn counting(runs: Shared, work: Duration) -> impl tricircle_jobs::Handler {
    recording(runs, Work::Takes(work))
}

fn gated(runs: Shared, gate: &Arc<Semaphore>) -> impl tricircle_jobs::Handler {
    recording(runs, Work::Gated(gate.clone()))
}

/// The jobs in the log (SUCCESS), once there are `n`.
async fn logged(store: &Store, n: usize) -> Vec<Job> {
    let success = JobFilter {
        status: Some(JobStatus::Success),
        ..Default::default()
    };
    let what = format!("{n} jobs in the log");
    until(PATIENCE, &what, || async {
        let page = store.list_jobs(&success, None, 100).await.unwrap();
        (page.jobs.len() == n).then_some(page.jobs)
    })
    .await
}

fn start(store: &TestStore, registry: Registry, cfg: EngineConfig) -> Engine {
    Engine::new(store.store.clone(), Arc::new(registry), cfg)
}

fn spawn(engine: Engine) -> (tokio::task::JoinHandle<()>, oneshot::Sender<()>) {
    let (tx, rx) = oneshot::channel::<()>();
    let handle = engine.spawn(async move {
        let _ = rx.await;
    });
    (handle, tx)
}

#[tokio::test]
async fn coalesced_requests_run_once_with_the_newest_payload() {
    for s in testing::all().await {
        for v in 1..=3 {
            s.enqueue_job("sync", "p", "net1", &json!({"v": v}))
                .await
                .unwrap();
        }
        let runs = Shared::default();
        let engine = start(
            &s,
            Registry::new().with("sync", &["v"], counting(runs.clone(), Duration::ZERO)),
            fast(),
        );
        let (task, stop) = spawn(engine);
        let page = s.list_jobs(&Default::default(), None, 10).await.unwrap();
        assert!(page.jobs.len() <= 1);
        // Once it is logged and nothing is left to run, no run can follow.
        logged(&s, 1).await;
        assert!(s
            .list_jobs(&Default::default(), None, 10)
            .await
            .unwrap()
            .jobs
            .is_empty());
        {
            let r = runs.lock().unwrap();
            assert_eq!(r.runs.len(), 1, "{}", s.label());
            assert_eq!(r.runs[0].1, json!({"v": 3}));
        }
        let _ = stop.send(());
        task.await.unwrap();
    }
}

#[tokio::test]
async fn one_run_per_resource_at_a_time_and_requests_during_a_run_run_after() {
    for s in testing::all().await {
        let runs = Shared::default();
        let gate = Arc::new(Semaphore::new(0));
        let engine = start(
            &s,
            Registry::new().with("sync", &["v"], gated(runs.clone(), &gate)),
            fast(),
        );
        let kicker = engine.kicker();
        let (task, stop) = spawn(engine);
        s.enqueue_job("sync", "p", "net1", &json!({"v": 1}))
            .await
            .unwrap();
        kicker.kick();
        until(PATIENCE, "the first run", || async {
            (runs.lock().unwrap().runs.len() == 1).then_some(())
        })
        .await;
        // Two requests while it runs (it waits on the gate): one more job,
        // with the newest payload.
        s.enqueue_job("sync", "p", "net1", &json!({"v": 2}))
            .await
            .unwrap();
        s.enqueue_job("sync", "p", "net1", &json!({"v": 3}))
            .await
            .unwrap();
        kicker.kick();
        gate.add_permits(1);
        until(PATIENCE, "the second run", || async {
            (runs.lock().unwrap().runs.len() == 2).then_some(())
        })
        .await;
        gate.add_permits(1);
        let log = logged(&s, 2).await;
        assert_eq!(log.len(), 2);
        {
            let r = runs.lock().unwrap();
            assert_eq!(r.max_in_flight, 1, "{}", s.label());
            assert_eq!(r.runs[1].1, json!({"v": 3}));
            // The second started only after the first ended.
            let (first, second) = (r.runs[0].0.clone(), r.runs[1].0.clone());
            assert_eq!(
                r.events,
                [
                    ("start", first.clone()),
                    ("end", first),
                    ("start", second.clone()),
                    ("end", second)
                ],
                "{}",
                s.label()
            );
        }
        let _ = stop.send(());
        task.await.unwrap();
    }
}

#[tokio::test]
async fn transient_failures_retry_with_backoff_then_succeed() {
    for s in testing::all().await {
        let (store, clock) = on_manual_clock(&s);
        let starts = Arc::new(Mutex::new(0usize));
        let seen = starts.clone();
        let handler = handler_fn(move |_job: Job| {
            let seen = seen.clone();
            async move {
                let n = {
                    let mut s = seen.lock().unwrap();
                    *s += 1;
                    *s
                };
                if n < 3 {
                    Err(JobError::Retry(format!("pod down ({n})")))
                } else {
                    Ok(())
                }
            }
        });
        let cfg = EngineConfig {
            backoff_base: Duration::from_secs(1),
            backoff_cap: Duration::from_secs(2),
            ..fast()
        };
        let engine = Engine::new(
            store.clone(),
            Arc::new(Registry::new().with("flaky", &[], handler)),
            cfg,
        );
        let kicker = engine.kicker();
        let (task, stop) = spawn(engine);
        let id = store
            .enqueue_job("flaky", "p", "x", &json!({}))
            .await
            .unwrap();
        let failed_once = |n: i64| {
            let store = store.clone();
            let id = id.clone();
            async move {
                until(PATIENCE, "a failure to be recorded", || async {
                    store
                        .get_job(&id)
                        .await
                        .ok()
                        .filter(|j| j.attempts == n && j.status == JobStatus::New)
                })
                .await
            }
        };
        let after_first = failed_once(1).await;
        assert_eq!(after_first.last_error.as_deref(), Some("pod down (1)"));
        // Backed off: due at least half the first back-off (1 s, jittered
        // into 0.5..1 s) later, so not before the clock moves.
        assert!(after_first.run_after.clone().unwrap() > stamp(&clock));
        assert!(after_first.run_after.unwrap() > after_first.created_at);
        assert_eq!(*starts.lock().unwrap(), 1, "{}", s.label());
        clock.advance(Duration::from_secs(1));
        kicker.kick();
        let after_second = failed_once(2).await;
        assert_eq!(after_second.last_error.as_deref(), Some("pod down (2)"));
        assert!(after_second.run_after.unwrap() > stamp(&clock));
        assert_eq!(*starts.lock().unwrap(), 2);
        // The second back-off (2 s, jittered into 1..2 s) is the cap.
        clock.advance(Duration::from_secs(2));
        kicker.kick();
        let done = job_in(&store, &id, JobStatus::Success).await;
        assert_eq!(done.attempts, 3, "{}", s.label());
        assert_eq!(done.last_error.as_deref(), Some("pod down (2)"));
        assert_eq!(*starts.lock().unwrap(), 3);
        let _ = stop.send(());
        task.await.unwrap();
    }
}

#[tokio::test]
async fn max_attempts_fail_then_redo_succeeds() {
    for s in testing::all().await {
        let healthy = Arc::new(Mutex::new(false));
        let h = healthy.clone();
        let handler = handler_fn(move |_job: Job| {
            let ok = *h.lock().unwrap();
            async move {
                if ok {
                    Ok(())
                } else {
                    Err(JobError::Retry("pod unreachable".into()))
                }
            }
        });
        let cfg = EngineConfig {
            max_attempts: 3,
            ..fast()
        };
        let engine = start(&s, Registry::new().with("flaky", &[], handler), cfg);
        let kicker = engine.kicker();
        let (task, stop) = spawn(engine);
        let id = s.enqueue_job("flaky", "p", "x", &json!({})).await.unwrap();
        let failed = job_in(&s, &id, JobStatus::Fail).await;
        assert_eq!(failed.attempts, 3, "{}", s.label());
        assert_eq!(
            failed.last_error.as_deref(),
            Some("gave up after 3 attempts: pod unreachable")
        );
        *healthy.lock().unwrap() = true;
        let redone = s.redo_job(&id).await.unwrap();
        assert_eq!((redone.status, redone.attempts), (JobStatus::New, 0));
        kicker.kick();
        let done = job_in(&s, &id, JobStatus::Success).await;
        assert_eq!(done.attempts, 1);
        let _ = stop.send(());
        task.await.unwrap();
    }
}

#[tokio::test]
async fn fatal_errors_and_unknown_types_fail_at_once() {
    for s in testing::all().await {
        let handler = handler_fn(|job: Job| async move {
            Err(JobError::Fatal(format!("bad input {}", job.resource)))
        });
        let engine = start(&s, Registry::new().with("strict", &[], handler), fast());
        let (task, stop) = spawn(engine);
        let unknown = s
            .enqueue_job("no_such_type", "p", "x", &json!({}))
            .await
            .unwrap();
        let strict = s
            .enqueue_job("strict", "p", "x", &json!({"a": 1}))
            .await
            .unwrap();
        let j = job_in(&s, &unknown, JobStatus::Fail).await;
        assert_eq!(j.attempts, 1, "{}", s.label());
        assert!(
            j.last_error
                .as_deref()
                .unwrap()
                .contains("no handler is registered for job type 'no_such_type'"),
            "{:?}",
            j.last_error
        );
        let j = job_in(&s, &strict, JobStatus::Fail).await;
        assert_eq!(j.attempts, 1);
        assert_eq!(j.last_error.as_deref(), Some("bad input {\"a\":1}"));
        let _ = stop.send(());
        task.await.unwrap();
    }
}

#[tokio::test]
async fn a_dead_workers_job_is_taken_over_after_its_lease() {
    for s in testing::all().await {
        let (store, clock) = on_manual_clock(&s);
        let cfg = fast();
        // Worker A starts the job and hangs, then "dies" (its task is
        // aborted mid-run: nothing is recorded, the lease just stops).
        let (started_tx, mut started_rx) = tokio::sync::mpsc::unbounded_channel::<String>();
        let hang = handler_fn(move |job: Job| {
            let tx = started_tx.clone();
            async move {
                let _ = tx.send(job.id.clone());
                std::future::pending::<()>().await;
                Ok(())
            }
        });
        let a = Engine::new(
            store.clone(),
            Arc::new(Registry::new().with("sync", &[], hang)),
            cfg.clone(),
        );
        let a_name = a.name().to_string();
        let (a_task, _a_stop) = spawn(a);
        let id = store
            .enqueue_job("sync", "p", "net1", &json!({}))
            .await
            .unwrap();
        let got = tokio::time::timeout(Duration::from_secs(PATIENCE), started_rx.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got, id);
        let running = store.get_job(&id).await.unwrap();
        assert!(running.lease_owner.as_deref().unwrap().starts_with(&a_name));
        a_task.abort();
        let _ = a_task.await;
        // Until its lease runs out the job stays A's.
        assert!(store
            .claim_jobs("probe", cfg.lease, 1)
            .await
            .unwrap()
            .is_empty());

        let runs = Shared::default();
        let b = Engine::new(
            store.clone(),
            Arc::new(Registry::new().with("sync", &[], counting(runs.clone(), Duration::ZERO))),
            cfg.clone(),
        );
        let b_kicker = b.kicker();
        let (b_task, b_stop) = spawn(b);
        clock.advance(cfg.lease + Duration::from_secs(1));
        b_kicker.kick();
        let done = job_in(&store, &id, JobStatus::Success).await;
        // The lost run counts as an attempt.
        assert_eq!(done.attempts, 2, "{}", s.label());
        assert!(done.last_error.unwrap().contains(&a_name));
        assert_eq!(runs.lock().unwrap().runs.len(), 1);
        let _ = b_stop.send(());
        b_task.await.unwrap();
    }
}

#[tokio::test]
async fn leases_are_renewed_while_a_handler_runs() {
    for s in testing::all().await {
        let (store, clock) = on_manual_clock(&s);
        // Renewed every second (of the runtime's timers).
        let lease = Duration::from_secs(3);
        let cfg = EngineConfig { lease, ..fast() };
        let runs = Shared::default();
        let gate = Arc::new(Semaphore::new(0));
        let registry = || Registry::new().with("slow", &[], gated(runs.clone(), &gate));
        let a = Engine::new(store.clone(), Arc::new(registry()), cfg.clone());
        let b = Engine::new(store.clone(), Arc::new(registry()), cfg);
        let (a_task, a_stop) = spawn(a);
        let (b_task, b_stop) = spawn(b);
        let id = store
            .enqueue_job("slow", "p", "r", &json!({}))
            .await
            .unwrap();
        until(PATIENCE, "the run to start", || async {
            (runs.lock().unwrap().runs.len() == 1).then_some(())
        })
        .await;
        let mut expires = job_in(&store, &id, JobStatus::Running)
            .await
            .lease_expires_at
            .unwrap();
        // Twice the lease passes while the handler runs, in steps shorter
        // than the lease, each followed by a renewal: the other engine
        // never sees the lease expire.
        for _ in 0..3 {
            clock.advance(lease - Duration::from_secs(1));
            assert!(stamp(&clock) < expires);
            expires = lease_after(&store, &id, &expires).await;
        }
        gate.add_permits(1);
        let done = job_in(&store, &id, JobStatus::Success).await;
        assert_eq!(done.attempts, 1, "{}", s.label());
        assert_eq!(runs.lock().unwrap().runs.len(), 1);
        let _ = a_stop.send(());
        let _ = b_stop.send(());
        a_task.await.unwrap();
        b_task.await.unwrap();
    }
}

#[tokio::test]
async fn shutdown_gives_running_jobs_back() {
    for s in testing::all().await {
        let runs = Shared::default();
        let gate = Arc::new(Semaphore::new(0));
        let engine = start(
            &s,
            Registry::new().with("slow", &[], gated(runs.clone(), &gate)),
            fast(),
        );
        let (task, stop) = spawn(engine);
        let id = s.enqueue_job("slow", "p", "r", &json!({})).await.unwrap();
        job_in(&s, &id, JobStatus::Running).await;
        let _ = stop.send(());
        tokio::time::timeout(Duration::from_secs(PATIENCE), task)
            .await
            .unwrap()
            .unwrap();
        let j = s.get_job(&id).await.unwrap();
        assert_eq!((j.status, j.attempts), (JobStatus::New, 0), "{}", s.label());
        assert_eq!(j.lease_owner, None);
    }
}

/// Two engines on one database never run a job twice, nor two jobs of one
/// resource at once, and lose no request.
#[tokio::test]
async fn two_engines_share_one_database() {
    for s in testing::all().await {
        let runs = Shared::default();
        let registry = || {
            Registry::new().with(
                "count",
                &["i"],
                counting(runs.clone(), Duration::from_millis(20)),
            )
        };
        let a = start(&s, registry(), fast());
        let b = start(&s, registry(), fast());
        let (a_task, a_stop) = spawn(a);
        let (b_task, b_stop) = spawn(b);
        // 50 jobs of distinct resources: each runs exactly once.
        let mut ids = Vec::new();
        for i in 0..50 {
            ids.push(
                s.enqueue_job("count", "p", &format!("d{i}"), &json!({"i": i}))
                    .await
                    .unwrap(),
            );
        }
        // And a stream of requests on 5 shared resources, while they run.
        let mut last = HashMap::new();
        for i in 0..50 {
            let r = format!("s{}", i % 5);
            s.enqueue_job("count", "p", &r, &json!({"i": i}))
                .await
                .unwrap();
            last.insert(r, i);
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        until(PATIENCE, "every job to finish", || async {
            let live = s.list_jobs(&Default::default(), None, 10).await.unwrap();
            live.jobs.is_empty().then_some(())
        })
        .await;
        let _ = a_stop.send(());
        let _ = b_stop.send(());
        a_task.await.unwrap();
        b_task.await.unwrap();

        let r = runs.lock().unwrap();
        assert_eq!(r.max_in_flight, 1, "{}", s.label());
        let mut per_id: HashMap<&str, usize> = HashMap::new();
        for (id, _) in &r.runs {
            *per_id.entry(id.as_str()).or_default() += 1;
        }
        assert!(per_id.values().all(|n| *n == 1), "a job ran twice");
        for id in &ids {
            assert_eq!(per_id.get(id.as_str()), Some(&1));
        }
        // The newest request of every shared resource was run.
        for (res, i) in last {
            assert!(
                r.runs.iter().any(|(_, v)| *v == json!({"i": i})),
                "{res}: request {i} lost"
            );
        }
    }
}
