//! A pod down while a router is synced: the handler fails transiently, and
//! the job engine retries it until the pod is back.

use std::time::Duration;

use std::sync::Arc;

use serde_json::json;

use tricircle_jobs::{Engine, EngineConfig, JobError, Registry};
use tricircle_network::bottom::bottom_network_name;
use tricircle_pods::health::BreakerConfig;
use tricircle_pods::testing::InMemoryCloud;
use tricircle_pods::{Fault, PodClientOptions};
use tricircle_store::{Job, JobStatus};

use crate::env::*;

#[tokio::test]
async fn a_pod_down_fails_the_sync_for_a_retry_that_completes_it() {
    let env = Env::new().await;
    let (t, vms) = env.two_pods_one_router().await;
    let url = InMemoryCloud::pod_url("Pod2");
    env.cloud
        .transport
        .set_fault(&url, Some(Fault::Unavailable));
    let down = env.run_sync(&t.router).await;
    assert!(matches!(down, Err(JobError::Retry(_))), "{down:?}");

    // Back up. A create whose answer was lost keeps its lock until it is
    // stale; the retry runs once it is (a worker whose locks go stale at
    // once stands in for the time that takes).
    env.cloud.transport.set_fault(&url, None);
    let later = env.worker(&PodClientOptions::default(), Duration::ZERO);
    let job = env.jobs("router_sync", &t.router).await.pop().unwrap();
    let registry = tricircle_network::handlers::register(Registry::new(), later);
    registry
        .handler("router_sync")
        .unwrap()
        .run(&job)
        .await
        .unwrap();

    let (r1, _) = env.bottom_router("Pod1", &t.router).await;
    let (r2, ifaces2) = env.bottom_router("Pod2", &t.router).await;
    assert_eq!(ifaces2.len(), 2, "{ifaces2:?}");
    assert_eq!(routes(&r1).len(), 1);
    assert_eq!(routes(&r1)[0].0, format!("{}/32", ip(&vms[1])));
    assert_eq!(routes(&r2)[0].0, format!("{}/32", ip(&vms[0])));
    // One of each piece in Pod2 despite the lost answers.
    let bridge = env.neutron().find_bridge("p1").await.unwrap().unwrap();
    let name = bottom_network_name(&bridge.network.id, "bridge-net-p1");
    env.one_in_pod("Pod2", "networks", &format!("name={name}"))
        .await;
    env.run_sync(&t.router).await.unwrap();
}

/// Polls the job until `done` says so (an event the engine causes; the
/// bound only keeps a broken run from hanging).
async fn wait_for(env: &Env, id: &str, done: impl Fn(&Job) -> bool) -> Job {
    // 20 ms apart, up to two minutes: far beyond what the run takes even
    // on two busy cores.
    for _ in 0..6000 {
        let job = env.store.get_job(id).await.unwrap();
        if done(&job) {
            return job;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!(
        "job {id} never got there: {:?}",
        env.store.get_job(id).await
    );
}

#[tokio::test]
async fn the_engine_retries_the_sync_until_the_pod_is_back() {
    let env = Env::new().await;
    let (t, vms) = env.two_pods_one_router().await;
    let url = InMemoryCloud::pod_url("Pod2");
    env.cloud
        .transport
        .set_fault(&url, Some(Fault::Unavailable));
    // A worker whose creation locks go stale soon: a retry takes over
    // what the failed run may have left half made.
    // Its breaker lets a call through to a down pod soon, too.
    let options = PodClientOptions {
        breaker: BreakerConfig {
            retry_interval: Duration::from_millis(100),
            ..BreakerConfig::default()
        },
        ..PodClientOptions::default()
    };
    let bottom = env.worker(&options, Duration::from_millis(200));
    let registry = Arc::new(tricircle_network::handlers::register(
        Registry::new(),
        bottom,
    ));
    let engine = Engine::new(
        env.store.store.clone(),
        registry,
        EngineConfig {
            poll_interval: Duration::from_millis(20),
            backoff_base: Duration::from_millis(20),
            backoff_cap: Duration::from_millis(200),
            max_attempts: 1000,
            ..Default::default()
        },
    );
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = engine.spawn(async move {
        let _ = stopped.await;
    });
    let id = env.jobs("router_sync", &t.router).await[0].id.clone();

    let failed = wait_for(&env, &id, |j| j.attempts >= 2).await;
    assert!(
        failed.last_error.as_deref().unwrap_or("").contains("Pod2"),
        "{failed:?}"
    );
    env.cloud.transport.set_fault(&url, None);
    let done = wait_for(&env, &id, |j| j.status == JobStatus::Success).await;
    assert!(done.attempts >= 2, "{done:?}");
    let _ = stop.send(());
    task.await.unwrap();

    let (r1, _) = env.bottom_router("Pod1", &t.router).await;
    let (r2, ifaces2) = env.bottom_router("Pod2", &t.router).await;
    assert_eq!(ifaces2.len(), 2, "{ifaces2:?}");
    assert_eq!(routes(&r1)[0].0, format!("{}/32", ip(&vms[1])));
    assert_eq!(routes(&r2)[0].0, format!("{}/32", ip(&vms[0])));
}

#[tokio::test]
async fn a_lost_router_create_in_a_pod_no_longer_wanted_is_cleaned_up() {
    let env = Env::new().await;
    let (t, _) = env.two_pods_one_router().await;
    let url = InMemoryCloud::pod_url("Pod2");
    env.cloud.transport.set_fault(&url, Some(Fault::Hang));
    // Pod2's bottom router: asked for, no answer in time — its creation
    // lock stays (the pod may have made it).
    let options = PodClientOptions {
        timeout: Duration::from_millis(200),
        ..PodClientOptions::default()
    };
    let hasty = env.worker(&options, LONG);
    let lost = hasty.sync_router(&t.router, "p1").await;
    assert!(matches!(&lost, Err(e) if e.is_transient()), "{lost:?}");
    let pod2 = env.pods[1].pod_id.clone();
    assert_eq!(router_routings(&env, &t.router, &pod2).await.len(), 1);

    // subnet2 detached: Pod2 is no longer wanted. While its lock is fresh
    // the sync waits (fails transiently); once stale, and Pod2 back, the
    // router the pod may have made is looked for by name and the lock,
    // with Pod2's bridge port, goes.
    env.neutron()
        .remove_router_interface(
            &user("p1"),
            &t.router,
            json!({"subnet_id": t.subnets[1]["id"]}),
        )
        .await
        .unwrap();
    env.cloud.transport.set_fault(&url, None);
    let fresh = env.bottom.sync_router(&t.router, "p1").await;
    assert!(matches!(&fresh, Err(e) if e.is_transient()), "{fresh:?}");
    let later = env.worker(&PodClientOptions::default(), Duration::ZERO);
    later.sync_router(&t.router, "p1").await.unwrap();
    assert!(router_routings(&env, &t.router, &pod2).await.is_empty());
    assert!(env.in_pod("Pod2", "routers", "").await.is_empty());
    let bridge = env.neutron().find_bridge("p1").await.unwrap().unwrap();
    let port = env
        .neutron()
        .find_bridge_port(&bridge, &pod2, &t.router)
        .await
        .unwrap();
    assert!(port.is_none(), "{port:?}");
    let (_, ifaces) = env.bottom_router("Pod1", &t.router).await;
    assert_eq!(ifaces.len(), 2);
}

/// The routings (copies and creation locks) of a router in a pod.
async fn router_routings(env: &Env, router: &str, pod_id: &str) -> Vec<tricircle_store::Routing> {
    env.store
        .list_routings(
            &tricircle_store::RoutingFilter {
                top_id: Some(router.to_string()),
                pod_id: Some(pod_id.to_string()),
                ..Default::default()
            },
            None,
            10,
        )
        .await
        .unwrap()
        .routings
}
