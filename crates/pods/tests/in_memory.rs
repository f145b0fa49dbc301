//! The pod client's policy through the in-memory transport: podsim's
//! Keystone and pods with no socket, faults injected at the transport
//! (refused, hanging, 503, broken connections), the breaker on a clock the
//! test moves.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::HeaderMap;
use axum::routing::get;
use reqwest::Method;
use tricircle_pods::health::ManualClock;
use tricircle_pods::path::PodPath;
use tricircle_pods::testing::InMemoryCloud;
use tricircle_pods::{
    AuthError, EndpointResolver, Fault, HealthState, Interface, PodClient, PodClientOptions,
    PodError, PodHealth, PodRequest, ServiceCall, TokenValidator, ValidatorConfig,
};
use tricircle_podsim::Pod;

/// A cloud with podsim's Pod1, and a client whose breaker runs on a
/// manual clock.
struct Env {
    cloud: InMemoryCloud,
    pod: Pod,
    clock: Arc<ManualClock>,
    client: PodClient,
}

fn env(opts: PodClientOptions) -> Env {
    let cloud = InMemoryCloud::new();
    let pod = cloud.add_pod("Pod1");
    let clock = Arc::new(ManualClock::new());
    let client = cloud
        .pod_client(&opts)
        .with_health(Arc::new(PodHealth::with_clock(opts.breaker, clock.clone())));
    Env {
        cloud,
        pod,
        clock,
        client,
    }
}

fn request(
    method: Method,
    service: &str,
    path: &'static str,
    token: &str,
    project: &str,
) -> PodRequest {
    PodRequest {
        pod: "Pod1".into(),
        service_type: service.into(),
        method,
        path: PodPath::fixed(path),
        query: None,
        token: token.into(),
        project_id: project.into(),
        request_id: None,
        headers: Default::default(),
        body: None,
    }
}

impl Env {
    fn pod1(&self) -> String {
        InMemoryCloud::pod_url("Pod1")
    }

    async fn call(&self, method: Method, path: &'static str) -> Result<u16, PodError> {
        let (token, project) = self.cloud.token("demo", "demo");
        self.client
            .send(&request(method, "compute", path, &token, &project))
            .await
            .map(|r| r.status)
    }

    fn state(&self) -> HealthState {
        self.client.health().view("Pod1").unwrap().state
    }
}

#[tokio::test]
async fn a_podsim_pod_is_driven_in_memory_with_no_socket() {
    let e = env(PodClientOptions::default());
    let (token, project) = e.cloud.token("demo", "demo");

    // The version document links back to the host the request named.
    let version = e
        .client
        .send(&request(Method::GET, "compute", "", &token, &project))
        .await
        .unwrap();
    assert_eq!(version.status, 200);
    let v: serde_json::Value = serde_json::from_slice(&version.body).unwrap();
    assert_eq!(v["version"]["id"], "v2.1");
    let self_link = v["version"]["links"][0]["href"].as_str().unwrap();
    assert!(self_link.starts_with("http://pod1.test/"), "{self_link}");

    // A user's call: the pod checks the token with the same Keystone.
    let mut req = request(Method::POST, "network", "/v2.0/networks", &token, &project);
    req.headers
        .insert("content-type", "application/json".parse().unwrap());
    req.body = Some(r#"{"network": {"name": "net1"}}"#.into());
    let created = e.client.send(&req).await.unwrap();
    assert_eq!(created.status, 201, "{:?}", created.body);
    let net: serde_json::Value = serde_json::from_slice(&created.body).unwrap();
    assert_eq!(net["network"]["name"], "net1");
    assert_eq!(net["network"]["project_id"], project.as_str());

    // A call as the service user: its token from Keystone, in memory too.
    let listed = e
        .client
        .send_as_service(
            &e.cloud.keystone,
            ServiceCall {
                pod: "Pod1",
                service_type: "network",
                method: Method::GET,
                path: PodPath::fixed("/v2.0/networks"),
                query: Some("name=net1".into()),
                body: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(listed.status, 200);
    let nets: serde_json::Value = serde_json::from_slice(&listed.body).unwrap();
    assert_eq!(nets["networks"][0]["id"], net["network"]["id"]);

    assert_eq!(e.pod.requests_seen(), 3);
    assert_eq!(e.state(), HealthState::Up);
}

#[tokio::test]
async fn token_request_id_and_project_reach_the_pod() {
    let cloud = InMemoryCloud::new();
    let seen: Arc<Mutex<Vec<(String, HeaderMap)>>> = Arc::default();
    let seen2 = seen.clone();
    let echo =
        axum::Router::new().fallback(get(move |uri: axum::http::Uri, headers: HeaderMap| {
            let seen = seen2.clone();
            async move {
                seen.lock().unwrap().push((uri.to_string(), headers));
                "{}"
            }
        }));
    cloud.transport.serve("http://podx.test:8776", echo);
    cloud.identity.add_endpoint(
        "PodX",
        "volumev3",
        "public",
        "http://podx.test:8776/v3/$(project_id)s",
    );
    let client = cloud.pod_client(&PodClientOptions::default());
    let rid = "req-6f2d5c1a-2222-4000-8000-000000000002";
    let resp = client
        .send(&PodRequest {
            pod: "PodX".into(),
            query: Some("limit=2".into()),
            request_id: Some(rid.into()),
            ..request(
                Method::GET,
                "volumev3",
                "/volumes/detail",
                "user-token",
                "proj42",
            )
        })
        .await
        .unwrap();
    assert_eq!(resp.status, 200);
    let seen = seen.lock().unwrap();
    let (uri, headers) = &seen[0];
    assert_eq!(uri, "/v3/proj42/volumes/detail?limit=2");
    assert_eq!(headers["x-auth-token"], "user-token");
    assert_eq!(headers["x-openstack-request-id"], rid);
    assert_eq!(headers["host"], "podx.test:8776");
}

#[tokio::test]
async fn a_refused_pod_goes_down_fails_fast_and_a_trial_brings_it_back() {
    let e = env(PodClientOptions::default());
    assert_eq!(e.call(Method::GET, "/servers/detail").await.unwrap(), 200);
    e.cloud.transport.set_fault(&e.pod1(), Some(Fault::Refuse));
    for expected in [
        HealthState::Degraded,
        HealthState::Degraded,
        HealthState::Down,
    ] {
        // Not idempotent, yet re-sent once after a catalog re-read: a
        // refused connection never reached the pod. Still refused.
        let err = e.call(Method::POST, "/servers").await.unwrap_err();
        assert!(matches!(err, PodError::Unreachable { .. }), "{err}");
        assert_eq!(e.state(), expected);
    }
    // Down: refused here even though the pod is back, without asking it.
    e.cloud.transport.set_fault(&e.pod1(), None);
    let seen = e.pod.requests_seen();
    let err = e.call(Method::GET, "/servers/detail").await.unwrap_err();
    assert!(matches!(err, PodError::Down { .. }), "{err}");
    assert_eq!(e.pod.requests_seen(), seen);
    // The trial after the retry interval reaches it and brings it back.
    e.clock.advance(Duration::from_secs(10));
    assert_eq!(e.call(Method::GET, "/servers/detail").await.unwrap(), 200);
    assert_eq!(e.state(), HealthState::Up);
    assert_eq!(e.pod.requests_seen(), seen + 1);
    let v = e.client.health().view("Pod1").unwrap();
    assert_eq!((v.successes, v.failures), (2, 3));
    assert!(v.last_error.unwrap().contains("unreachable"));
}

#[tokio::test]
async fn a_503_in_front_of_the_pod_counts_and_a_4xx_does_not() {
    let e = env(PodClientOptions::default());
    // A token the pod refuses: an answer, the pod is fine.
    let bad = e
        .client
        .send(&request(
            Method::GET,
            "compute",
            "/servers/detail",
            "not-a-token",
            "p",
        ))
        .await
        .unwrap();
    assert_eq!(bad.status, 401);
    assert_eq!(e.state(), HealthState::Up);
    e.cloud
        .transport
        .set_fault(&e.pod1(), Some(Fault::Unavailable));
    let seen = e.pod.requests_seen();
    assert_eq!(e.call(Method::GET, "/servers/detail").await.unwrap(), 503);
    assert_eq!(e.state(), HealthState::Degraded);
    assert_eq!(e.pod.requests_seen(), seen);
    let v = e.client.health().view("Pod1").unwrap();
    assert!(v.last_error.unwrap().contains("HTTP 503"));
}

#[tokio::test(start_paused = true)]
async fn a_pod_that_never_answers_times_out_at_the_deadline() {
    let e = env(PodClientOptions {
        timeout: Duration::from_secs(30),
        ..PodClientOptions::default()
    });
    // Warm the catalog and the token before time is watched.
    assert_eq!(e.call(Method::GET, "/servers/detail").await.unwrap(), 200);
    e.cloud.transport.set_fault(&e.pod1(), Some(Fault::Hang));
    let started = tokio::time::Instant::now();
    let err = e.call(Method::GET, "/servers/detail").await.unwrap_err();
    assert!(matches!(err, PodError::Timeout { .. }), "{err}");
    // Not re-sent: time ran out, which is no failure to send.
    assert_eq!(started.elapsed(), Duration::from_secs(30));
    assert_eq!(e.state(), HealthState::Degraded);

    // The probe gives up at its own, shorter timeout.
    let started = tokio::time::Instant::now();
    let probed = e
        .client
        .probe_as_service(
            &e.cloud.keystone,
            ServiceCall {
                pod: "Pod1",
                service_type: "compute",
                method: Method::GET,
                path: PodPath::fixed("/os-hypervisors/detail"),
                query: None,
                body: None,
            },
            Duration::from_secs(2),
        )
        .await;
    assert!(probed.is_err());
    assert_eq!(started.elapsed(), Duration::from_secs(2));
}

#[tokio::test]
async fn a_broken_connection_is_sent_again_for_idempotent_calls_only() {
    let e = env(PodClientOptions::default());
    assert_eq!(e.call(Method::GET, "/servers/detail").await.unwrap(), 200);
    let seen = e.pod.requests_seen();
    e.cloud
        .transport
        .set_fault(&e.pod1(), Some(Fault::BreakNext(1)));
    assert_eq!(e.call(Method::GET, "/servers/detail").await.unwrap(), 200);
    assert_eq!(e.pod.requests_seen(), seen + 1);
    assert_eq!(e.state(), HealthState::Up);

    e.cloud
        .transport
        .set_fault(&e.pod1(), Some(Fault::BreakNext(1)));
    let err = e.call(Method::POST, "/servers").await.unwrap_err();
    assert!(matches!(err, PodError::Unreachable { .. }), "{err}");
    assert_eq!(e.pod.requests_seen(), seen + 1);
    // The fault was for one request only.
    assert_eq!(e.call(Method::GET, "/servers/detail").await.unwrap(), 200);
}

#[tokio::test]
async fn a_moved_pod_is_found_again_in_the_catalog() {
    let cloud = InMemoryCloud::new();
    let pod = cloud.add_pod("Pod1");
    let resolver = Arc::new(
        EndpointResolver::new(cloud.keystone.clone(), None, Interface::Public)
            .with_min_refresh_interval(Duration::ZERO),
    );
    let client = PodClient::with_transport(
        resolver,
        &PodClientOptions::default(),
        Arc::new(cloud.transport.clone()),
    );
    let (token, project) = cloud.token("demo", "demo");
    let list = request(Method::GET, "compute", "/servers/detail", &token, &project);
    assert_eq!(client.send(&list).await.unwrap().status, 200);
    // The operator moves the pod and updates the catalog.
    cloud.transport.remove(&InMemoryCloud::pod_url("Pod1"));
    cloud.transport.serve("http://pod1-new.test", pod.router());
    cloud.identity.register_pod("Pod1", "http://pod1-new.test");
    assert_eq!(client.send(&list).await.unwrap().status, 200);
    assert_eq!(pod.requests_seen(), 2);
}

#[tokio::test]
async fn tokens_are_validated_by_the_in_memory_keystone() {
    let cloud = InMemoryCloud::new();
    let validator = TokenValidator::new(cloud.keystone.clone(), &ValidatorConfig::default());
    let (token, project) = cloud.token("demo", "demo");
    let info = validator.validate(&token).await.unwrap();
    assert_eq!(info.project_id, project);
    assert!(matches!(
        validator.validate("not-a-token").await,
        Err(AuthError::InvalidToken)
    ));
    // Keystone refusing connections is no verdict on the token.
    cloud
        .transport
        .set_fault(tricircle_pods::testing::KEYSTONE_URL, Some(Fault::Refuse));
    assert!(matches!(
        validator.validate("another-token").await,
        Err(AuthError::Unavailable(_))
    ));
}
