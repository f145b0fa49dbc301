//! Pod health through real calls: podsim's Keystone and pods, the breaker
//! on a clock the test moves, the probe, the per-pod cap, and two instances
//! converging through one store.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

mod common;

use common::request;
use reqwest::Method;
use tokio::net::TcpListener;
use tricircle_pods::health::monitor::{HealthMonitor, MonitorConfig, ProbeOutcome};
use tricircle_pods::health::{Admission, BreakerConfig, ManualClock};
use tricircle_pods::{
    EndpointResolver, HealthState, Interface, KeystoneClient, PodClient, PodClientOptions,
    PodError, PodHealth,
};
use tricircle_podsim::{Identity, Pod, PodConfig};
use tricircle_store::testing::{self, TestStore};
use tricircle_store::PodHealthReport;

struct Env {
    identity: Identity,
    keystone: Arc<KeystoneClient>,
    pod: Pod,
    clock: Arc<ManualClock>,
    client: PodClient,
}

async fn env(opts: PodClientOptions) -> Env {
    let (identity, cfg) = common::identity().await;
    let pod = Pod::new(PodConfig::new("Pod1").with_identity(identity.clone()));
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    identity.register_pod("Pod1", &format!("http://{}", l.local_addr().unwrap()));
    let router = pod.router();
    tokio::spawn(async move { tricircle_podsim::serve(l, router, std::future::pending()).await });
    let keystone = common::keystone(&cfg, &format!("{}/v3", cfg.public_url));
    let resolver = Arc::new(EndpointResolver::new(
        keystone.clone(),
        None,
        Interface::Public,
    ));
    let clock = Arc::new(ManualClock::new());
    let health = Arc::new(PodHealth::with_clock(opts.breaker, clock.clone()));
    let client = PodClient::with_options(resolver, &opts)
        .unwrap()
        .with_health(health);
    Env {
        identity,
        keystone,
        pod,
        clock,
        client,
    }
}

impl Env {
    async fn list_servers(&self) -> Result<u16, PodError> {
        let token = self.identity.issue_token("demo", "demo").unwrap();
        let project = self.identity.validate(&token).unwrap()["token"]["project"]["id"]
            .as_str()
            .unwrap()
            .to_string();
        self.client
            .send(&request(
                "Pod1",
                "compute",
                Method::GET,
                "/servers/detail",
                &token,
                &project,
            ))
            .await
            .map(|r| r.status)
    }

    fn state(&self) -> HealthState {
        self.client.health().view("Pod1").unwrap().state
    }

    fn monitor(&self, store: &TestStore, probe_timeout: Duration) -> HealthMonitor {
        HealthMonitor {
            pods: self.client.clone(),
            keystone: self.keystone.clone(),
            store: store.store.clone(),
            cfg: MonitorConfig {
                probe_timeout,
                ..MonitorConfig::default()
            },
        }
    }
}

async fn store_with_pod1() -> TestStore {
    let store = testing::sqlite().await;
    let spec = tricircle_core::PodSpec {
        pod_name: "Pod1".into(),
        az_name: Some("az1".into()),
        pod_az_name: Some("nova".into()),
        dc_name: None,
    };
    store.create_pod(&spec.validate().unwrap()).await.unwrap();
    store
}

#[tokio::test]
async fn a_pod_answering_503_goes_down_fails_fast_and_a_trial_brings_it_back() {
    let e = env(PodClientOptions::default()).await;
    assert_eq!(e.list_servers().await.unwrap(), 200);
    assert_eq!(e.state(), HealthState::Up);
    e.pod.set_down(true);
    for expected in [
        HealthState::Degraded,
        HealthState::Degraded,
        HealthState::Down,
    ] {
        assert_eq!(e.list_servers().await.unwrap(), 503);
        assert_eq!(e.state(), expected);
    }
    // Down: refused here, the pod never sees it.
    let seen = e.pod.requests_seen();
    let err = e.list_servers().await.unwrap_err();
    assert!(matches!(err, PodError::Down { .. }), "{err}");
    assert!(err.retry_after() <= Duration::from_secs(10));
    assert_eq!(e.pod.requests_seen(), seen);
    // A trial after the retry interval: still failing, down for another
    // interval (one request reached the pod).
    e.clock.advance(Duration::from_secs(10));
    assert_eq!(e.list_servers().await.unwrap(), 503);
    assert!(matches!(e.list_servers().await, Err(PodError::Down { .. })));
    assert_eq!(e.pod.requests_seen(), seen + 1);
    // The pod recovers; the next trial brings it back.
    e.pod.set_down(false);
    e.clock.advance(Duration::from_secs(10));
    assert_eq!(e.list_servers().await.unwrap(), 200);
    assert_eq!(e.state(), HealthState::Up);
    assert_eq!(e.list_servers().await.unwrap(), 200);
    let v = e.client.health().view("Pod1").unwrap();
    assert_eq!((v.successes, v.failures), (3, 4));
    assert!(v.last_error.unwrap().contains("HTTP 503"));
}

#[tokio::test]
async fn a_4xx_is_an_answer_and_a_refused_connection_a_failure() {
    let e = env(PodClientOptions::default()).await;
    // A pod whose port refuses connections (in the catalog before it is
    // first read).
    e.identity.register_pod("Pod9", "http://127.0.0.1:1");
    // No token the pod accepts: 401, the pod is fine.
    let bad = e
        .client
        .send(&request(
            "Pod1",
            "compute",
            Method::GET,
            "/servers/detail",
            "not-a-token",
            "p",
        ))
        .await
        .unwrap();
    assert_eq!(bad.status, 401);
    assert_eq!(e.state(), HealthState::Up);
    for _ in 0..3 {
        let err = e
            .client
            .send(&request(
                "Pod9",
                "network",
                Method::POST,
                "/v2.0/networks",
                "t",
                "p",
            ))
            .await
            .unwrap_err();
        assert!(matches!(err, PodError::Unreachable { .. }), "{err}");
    }
    assert_eq!(
        e.client.health().view("Pod9").unwrap().state,
        HealthState::Down
    );
    assert_eq!(e.state(), HealthState::Up);
}

#[tokio::test]
async fn the_probe_reads_free_capacity_and_is_the_trial_of_a_down_pod() {
    let e = env(PodClientOptions::default()).await;
    let store = store_with_pod1().await;
    let m = e.monitor(&store, Duration::from_secs(5));
    match m.probe("Pod1").await {
        ProbeOutcome::Answered {
            status: 200,
            capacity: Some((vcpus, ram)),
        } => {
            assert_eq!(vcpus, tricircle_podsim::compute::HYPERVISOR_VCPUS);
            assert_eq!(ram, tricircle_podsim::compute::HYPERVISOR_MEMORY_MB);
        }
        other => panic!("{other:?}"),
    }
    let c = e.client.health().view("Pod1").unwrap().capacity.unwrap();
    assert_eq!(c.free_vcpus, tricircle_podsim::compute::HYPERVISOR_VCPUS);
    // Down by probes alone (no traffic), and back by a probe: the probe
    // goes whatever the breaker says.
    e.pod.set_down(true);
    for _ in 0..3 {
        assert!(matches!(m.probe("Pod1").await, ProbeOutcome::Failed(_)));
    }
    assert_eq!(e.state(), HealthState::Down);
    e.pod.set_down(false);
    let seen = e.pod.requests_seen();
    assert!(matches!(
        m.probe("Pod1").await,
        ProbeOutcome::Answered { status: 200, .. }
    ));
    assert_eq!(e.pod.requests_seen(), seen + 1);
    assert_eq!(e.state(), HealthState::Up);
    // probe_all probes the bottom pods of the store and the sync writes
    // what they found.
    let all = m.probe_all().await;
    assert_eq!(all.len(), 1);
    m.sync().await;
    let rows = store.list_pod_health().await.unwrap();
    assert_eq!(rows[0].state, "up");
    assert_eq!(
        rows[0].free_vcpus,
        Some(tricircle_podsim::compute::HYPERVISOR_VCPUS as i64)
    );
    assert!(rows[0].probed_at.is_some());
}

#[tokio::test]
async fn a_probe_the_pod_does_not_answer_in_time_counts_as_a_failure() {
    let e = env(PodClientOptions::default()).await;
    let store = store_with_pod1().await;
    // The pod hangs far longer than the probe waits.
    e.pod.set_latency(Duration::from_secs(120));
    let m = e.monitor(&store, Duration::from_millis(200));
    match m.probe("Pod1").await {
        ProbeOutcome::Failed(why) => assert!(why.contains("did not answer"), "{why}"),
        other => panic!("{other:?}"),
    }
    let v = e.client.health().view("Pod1").unwrap();
    assert_eq!((v.state, v.failures), (HealthState::Degraded, 1));
}

#[tokio::test]
async fn a_full_pod_queue_fails_fast_with_busy_and_does_not_count_against_the_pod() {
    let e = Arc::new(
        env(PodClientOptions {
            max_concurrent_per_pod: 1,
            queue_timeout: Duration::from_millis(50),
            ..PodClientOptions::default()
        })
        .await,
    );
    // Warm the catalog and token, then hold the only slot with a call the
    // pod answers only after a long while.
    assert_eq!(e.list_servers().await.unwrap(), 200);
    e.pod.set_latency(Duration::from_secs(120));
    let seen = e.pod.requests_seen();
    let holder = {
        let e = e.clone();
        tokio::spawn(async move { e.list_servers().await })
    };
    while e.pod.requests_seen() == seen {
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let err = e.list_servers().await.unwrap_err();
    assert!(matches!(err, PodError::Busy { .. }), "{err}");
    assert_eq!(err.retry_after(), Duration::from_secs(1));
    assert_eq!(e.pod.requests_seen(), seen + 1);
    assert_eq!(e.state(), HealthState::Up);
    holder.abort();
}

/// Two instances over one database: what one sees, the other takes at its
/// next sync; counts add up; a pod not in the store is not written.
#[tokio::test]
async fn two_instances_converge_through_the_store() {
    for store in testing::all().await {
        for name in ["Pod1", "Pod2"] {
            let spec = tricircle_core::PodSpec {
                pod_name: name.into(),
                az_name: Some("az1".into()),
                pod_az_name: Some("nova".into()),
                dc_name: None,
            };
            store.create_pod(&spec.validate().unwrap()).await.unwrap();
        }
        let other_store = store.another_instance().await;
        let clock = Arc::new(ManualClock::new());
        let a = PodHealth::with_clock(BreakerConfig::default(), clock.clone());
        let b = PodHealth::with_clock(BreakerConfig::default(), clock.clone());
        b.record_success("Pod1");
        b.sync(&other_store).await.unwrap();
        for _ in 0..3 {
            a.record_failure("Pod1", "pod Pod1 did not answer in time", a.now());
        }
        a.record_failure("Pod7", "not a registered pod", a.now());
        a.sync(&store).await.unwrap();
        assert_eq!(b.admit("Pod1"), Admission::Pass, "{}", store.label());
        b.sync(&other_store).await.unwrap();
        let v = b.view("Pod1").unwrap();
        assert_eq!(v.state, HealthState::Down, "{}", store.label());
        assert_eq!(
            v.last_error.as_deref(),
            Some("pod Pod1 did not answer in time")
        );
        assert!(matches!(b.admit("Pod1"), Admission::Reject { .. }));
        // B's trial finds it back: A follows.
        clock.advance(Duration::from_secs(10));
        assert_eq!(b.admit("Pod1"), Admission::Trial);
        b.record_success("Pod1");
        b.sync(&other_store).await.unwrap();
        a.sync(&store).await.unwrap();
        assert_eq!(a.view("Pod1").unwrap().state, HealthState::Up);
        assert_eq!(a.admit("Pod1"), Admission::Pass);
        // Pods an instance never called are known from the shared view.
        let rows = store.list_pod_health().await.unwrap();
        assert_eq!(rows.len(), 1, "{rows:?}");
        let r = &rows[0];
        assert_eq!((r.state.as_str(), r.successes, r.failures), ("up", 2, 3));
        assert_eq!(r.version, 3, "up, down, up");
        assert!(a.view("Pod2").is_none());
        // A report for a pod the store does not know is dropped.
        let none = store
            .report_pod_health(&PodHealthReport {
                pod_name: "Pod7".into(),
                state: "down".into(),
                since: "2026-01-01T00:00:00Z".into(),
                transition: true,
                now: "2026-01-01T00:00:00Z".into(),
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(none, None);
        // Deleting the pod deletes its row, nothing else.
        let pod1 = store.find_pod_by_name("Pod1").await.unwrap().unwrap();
        store.delete_pod(&pod1.pod_id, false).await.unwrap();
        assert!(store.list_pod_health().await.unwrap().is_empty());
    }
}

/// Calls sent while a pod hung, that give up only after it answered again,
/// are old news: they do not take it down again.
#[tokio::test]
async fn failures_of_calls_sent_before_the_pod_answered_again_do_not_count() {
    let e = Arc::new(
        env(PodClientOptions {
            timeout: Duration::from_millis(800),
            ..PodClientOptions::default()
        })
        .await,
    );
    assert_eq!(e.list_servers().await.unwrap(), 200);
    let before = e.pod.requests_seen();
    e.pod.set_latency(Duration::from_secs(5));
    let stuck: Vec<_> = (0..3)
        .map(|_| {
            let e = e.clone();
            tokio::spawn(async move { e.list_servers().await })
        })
        .collect();
    // All three reached the hanging pod (under a generous bound, never
    // what is tested); then it answers again.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while e.pod.requests_seen() < before + 3 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(e.pod.requests_seen(), before + 3);
    e.clock.advance(Duration::from_secs(1));
    e.pod.set_latency(Duration::ZERO);
    assert_eq!(e.list_servers().await.unwrap(), 200);
    for call in stuck {
        assert!(matches!(call.await.unwrap(), Err(PodError::Timeout { .. })));
    }
    assert_eq!(e.state(), HealthState::Up);
    // Calls sent after the last answer still count.
    e.pod.set_latency(Duration::from_secs(5));
    for _ in 0..3 {
        assert!(matches!(
            e.list_servers().await,
            Err(PodError::Timeout { .. })
        ));
    }
    assert_eq!(e.state(), HealthState::Down);
}
