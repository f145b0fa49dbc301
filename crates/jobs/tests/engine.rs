//! The job engine against a real store, on SQLite and (when available)
//! PostgreSQL: coalescing, one run per resource at a time, retries with
//! back-off, FAIL and redo, unknown types, lease takeover and renewal, and
//! two engines sharing one database.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::sync::oneshot;
use tricircle_jobs::{handler_fn, Engine, EngineConfig, JobError, JobStatus, Registry};
use tricircle_store::testing::{self, TestStore};
use tricircle_store::{Job, Store};

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
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let seen = store.get_job(id).await;
        match &seen {
            Ok(j) if j.status == status => return j.clone(),
            _ => assert!(
                Instant::now() < deadline,
                "timed out waiting for job {id} to be {status:?}; last seen: {seen:?}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Runs of a handler: (job id, resource payload, start time), and the most
/// runs of one resource seen at once.
#[derive(Default)]
struct Runs {
    runs: Vec<(String, Value, Instant)>,
    in_flight: HashMap<String, usize>,
    max_in_flight: usize,
}

type Shared = Arc<Mutex<Runs>>;

/// A handler that records its runs and takes `work` to do them.
fn counting(runs: Shared, work: Duration) -> impl tricircle_jobs::Handler {
    handler_fn(move |job: Job| {
        let runs = runs.clone();
        async move {
            {
                let mut r = runs.lock().unwrap();
                r.runs
                    .push((job.id.clone(), job.resource.clone(), Instant::now()));
                let n = r.in_flight.entry(job.resource_id.clone()).or_default();
                *n += 1;
                let n = *n;
                r.max_in_flight = r.max_in_flight.max(n);
            }
            tokio::time::sleep(work).await;
            *runs
                .lock()
                .unwrap()
                .in_flight
                .get_mut(&job.resource_id)
                .unwrap() -= 1;
            Ok(())
        }
    })
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
        until(20, "one run", || async {
            (runs.lock().unwrap().runs.len() == 1).then_some(())
        })
        .await;
        tokio::time::sleep(Duration::from_millis(200)).await;
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
        let engine = start(
            &s,
            Registry::new().with(
                "sync",
                &["v"],
                counting(runs.clone(), Duration::from_millis(600)),
            ),
            fast(),
        );
        let kicker = engine.kicker();
        let (task, stop) = spawn(engine);
        s.enqueue_job("sync", "p", "net1", &json!({"v": 1}))
            .await
            .unwrap();
        kicker.kick();
        until(20, "the first run", || async {
            (runs.lock().unwrap().runs.len() == 1).then_some(())
        })
        .await;
        // Two requests while it runs: one more job, with the newest payload.
        s.enqueue_job("sync", "p", "net1", &json!({"v": 2}))
            .await
            .unwrap();
        s.enqueue_job("sync", "p", "net1", &json!({"v": 3}))
            .await
            .unwrap();
        kicker.kick();
        until(20, "the second run", || async {
            (runs.lock().unwrap().runs.len() == 2).then_some(())
        })
        .await;
        let log = until(20, "both in the log", || async {
            let page = s
                .list_jobs(
                    &tricircle_store::JobFilter {
                        status: Some(JobStatus::Success),
                        ..Default::default()
                    },
                    None,
                    10,
                )
                .await
                .unwrap();
            (page.jobs.len() == 2).then_some(page.jobs)
        })
        .await;
        assert_eq!(log.len(), 2);
        {
            let r = runs.lock().unwrap();
            assert_eq!(r.max_in_flight, 1, "{}", s.label());
            assert_eq!(r.runs[1].1, json!({"v": 3}));
            // The second started only after the first ended.
            assert!(r.runs[1].2 - r.runs[0].2 >= Duration::from_millis(550));
        }
        let _ = stop.send(());
        task.await.unwrap();
    }
}

#[tokio::test]
async fn transient_failures_retry_with_backoff_then_succeed() {
    for s in testing::all().await {
        let starts = Arc::new(Mutex::new(Vec::<Instant>::new()));
        let seen = starts.clone();
        let handler = handler_fn(move |_job: Job| {
            let seen = seen.clone();
            async move {
                let n = {
                    let mut s = seen.lock().unwrap();
                    s.push(Instant::now());
                    s.len()
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
        let engine = start(&s, Registry::new().with("flaky", &[], handler), cfg);
        let (task, stop) = spawn(engine);
        let id = s.enqueue_job("flaky", "p", "x", &json!({})).await.unwrap();
        let after_first = until(20, "the first failure", || async {
            s.get_job(&id)
                .await
                .ok()
                .filter(|j| j.attempts == 1 && j.status == JobStatus::New)
        })
        .await;
        assert_eq!(after_first.last_error.as_deref(), Some("pod down (1)"));
        assert!(after_first.run_after.unwrap() > after_first.created_at);
        let done = job_in(&s, &id, JobStatus::Success).await;
        assert_eq!(done.attempts, 3, "{}", s.label());
        assert_eq!(done.last_error.as_deref(), Some("pod down (2)"));
        let t = starts.lock().unwrap().clone();
        assert_eq!(t.len(), 3);
        // At least half the first back-off (1 s, jittered into 0.5..1 s).
        assert!(
            t[1] - t[0] >= Duration::from_millis(450),
            "{:?}",
            t[1] - t[0]
        );
        assert!(
            t[2] - t[1] >= Duration::from_millis(450),
            "{:?}",
            t[2] - t[1]
        );
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
        let cfg = EngineConfig {
            lease: Duration::from_secs(1),
            ..fast()
        };
        // Worker A starts the job and hangs, then "dies" (its task is
        // aborted mid-run: nothing is recorded, the lease just stops).
        let (started_tx, started_rx) = tokio::sync::mpsc::unbounded_channel::<String>();
        let started_rx = Arc::new(tokio::sync::Mutex::new(started_rx));
        let hang = handler_fn(move |job: Job| {
            let tx = started_tx.clone();
            async move {
                let _ = tx.send(job.id.clone());
                std::future::pending::<()>().await;
                Ok(())
            }
        });
        let a = Engine::new(
            s.store.clone(),
            Arc::new(Registry::new().with("sync", &[], hang)),
            cfg.clone(),
        );
        let a_name = a.name().to_string();
        let (a_task, _a_stop) = spawn(a);
        let id = s
            .enqueue_job("sync", "p", "net1", &json!({}))
            .await
            .unwrap();
        let got = tokio::time::timeout(Duration::from_secs(20), started_rx.lock().await.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got, id);
        let running = s.get_job(&id).await.unwrap();
        assert!(running.lease_owner.as_deref().unwrap().starts_with(&a_name));
        a_task.abort();
        let _ = a_task.await;

        let runs = Shared::default();
        let b = Engine::new(
            s.store.clone(),
            Arc::new(Registry::new().with("sync", &[], counting(runs.clone(), Duration::ZERO))),
            cfg,
        );
        let (b_task, b_stop) = spawn(b);
        let done = job_in(&s, &id, JobStatus::Success).await;
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
        let cfg = EngineConfig {
            lease: Duration::from_secs(1),
            ..fast()
        };
        let runs = Shared::default();
        let registry = || {
            Registry::new().with(
                "slow",
                &[],
                counting(runs.clone(), Duration::from_millis(3500)),
            )
        };
        let a = start(&s, registry(), cfg.clone());
        let b = start(&s, registry(), cfg);
        let (a_task, a_stop) = spawn(a);
        let (b_task, b_stop) = spawn(b);
        let id = s.enqueue_job("slow", "p", "r", &json!({})).await.unwrap();
        let done = job_in(&s, &id, JobStatus::Success).await;
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
        let engine = start(
            &s,
            Registry::new().with(
                "slow",
                &[],
                counting(runs.clone(), Duration::from_secs(3600)),
            ),
            fast(),
        );
        let (task, stop) = spawn(engine);
        let id = s.enqueue_job("slow", "p", "r", &json!({})).await.unwrap();
        job_in(&s, &id, JobStatus::Running).await;
        let _ = stop.send(());
        tokio::time::timeout(Duration::from_secs(10), task)
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
        until(60, "every job to finish", || async {
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
        for (id, _, _) in &r.runs {
            *per_id.entry(id.as_str()).or_default() += 1;
        }
        assert!(per_id.values().all(|n| *n == 1), "a job ran twice");
        for id in &ids {
            assert_eq!(per_id.get(id.as_str()), Some(&1));
        }
        // The newest request of every shared resource was run.
        for (res, i) in last {
            assert!(
                r.runs.iter().any(|(_, v, _)| *v == json!({"i": i})),
                "{res}: request {i} lost"
            );
        }
    }
}
