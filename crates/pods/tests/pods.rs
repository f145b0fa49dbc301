//! Endpoint resolution and forwarding against podsim's Keystone and pods.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::HeaderMap;
use axum::routing::get;
use reqwest::Method;
use tokio::net::TcpListener;
use tricircle_pods::{
    EndpointResolver, Interface, KeystoneClient, PodClient, PodPath, PodRequest, ServiceCredentials,
};
use tricircle_podsim::{Credentials, Identity, IdentityConfig, Pod, PodConfig};
use tricircle_store::testing;

async fn identity() -> (Identity, IdentityConfig) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let cfg = IdentityConfig {
        public_url: format!("http://{}", l.local_addr().unwrap()),
        ..Default::default()
    };
    let id = Identity::new(cfg.clone());
    let router = id.router();
    tokio::spawn(async move { tricircle_podsim::serve(l, router, std::future::pending()).await });
    (id, cfg)
}

fn keystone(cfg: &IdentityConfig, auth_url: &str) -> Arc<KeystoneClient> {
    let s = Credentials::service(cfg);
    Arc::new(
        KeystoneClient::new(
            ServiceCredentials {
                auth_url: auth_url.into(),
                username: s.username,
                password: s.password,
                project_name: s.project_name,
                user_domain_name: s.user_domain_name,
                project_domain_name: s.project_domain_name,
            },
            Duration::from_secs(5),
        )
        .unwrap(),
    )
}

async fn serve_pod(region: &str) -> String {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    let router = Pod::new(PodConfig::new(region)).router();
    tokio::spawn(async move { tricircle_podsim::serve(l, router, std::future::pending()).await });
    url
}

#[tokio::test]
async fn memory_then_table_then_keystone() {
    let (id, cfg) = identity().await;
    id.register_pod("Pod1", "http://127.0.0.1:7001");
    let store = testing::sqlite().await;
    let resolver = EndpointResolver::new(
        keystone(&cfg, &cfg.public_url),
        Some(store.store.clone()),
        Interface::Public,
    );
    assert_eq!(
        resolver.endpoint("Pod1", "compute").await.unwrap(),
        "http://127.0.0.1:7001/compute/v2.1"
    );
    assert_eq!(
        resolver.endpoint("Pod1", "volumev3").await.unwrap(),
        "http://127.0.0.1:7001/volume/v3/$(project_id)s"
    );
    // Another instance whose Keystone is unreachable starts from the table.
    let cold = EndpointResolver::new(
        keystone(&cfg, "http://127.0.0.1:1"),
        Some(store.store.clone()),
        Interface::Public,
    );
    assert_eq!(
        cold.endpoint("Pod1", "network").await.unwrap(),
        "http://127.0.0.1:7001/network"
    );
    // ...and fails clearly for what is in neither.
    assert!(cold.endpoint("Pod9", "network").await.is_err());
    // Interfaces are kept apart.
    let internal =
        EndpointResolver::new(keystone(&cfg, &cfg.public_url), None, Interface::Internal);
    assert!(internal.endpoint("Pod1", "image").await.is_ok());
}

#[tokio::test]
async fn a_missing_entry_rereads_the_catalog() {
    let (id, cfg) = identity().await;
    id.register_pod("Pod1", "http://127.0.0.1:7001");
    // Two resolvers, so that neither check races the wall clock: one whose
    // interval never passes in this test, one with no interval at all.
    let patient = EndpointResolver::new(keystone(&cfg, &cfg.public_url), None, Interface::Public)
        .with_min_refresh_interval(Duration::from_secs(3600));
    let resolver = EndpointResolver::new(keystone(&cfg, &cfg.public_url), None, Interface::Public)
        .with_min_refresh_interval(Duration::ZERO);
    patient.endpoint("Pod1", "compute").await.unwrap();
    resolver.endpoint("Pod1", "compute").await.unwrap();
    id.register_pod("Pod2", "http://127.0.0.1:7002");
    // Too soon after the last read: not re-read yet.
    assert!(patient.endpoint("Pod2", "image").await.is_err());
    // Once the interval has passed, a missing entry re-reads the catalog.
    assert_eq!(
        resolver.endpoint("Pod2", "image").await.unwrap(),
        "http://127.0.0.1:7002/image"
    );
    let err = resolver.endpoint("Pod2", "object-store").await.unwrap_err();
    assert!(err.to_string().contains("object-store"), "{err}");
}

#[tokio::test]
async fn forwarding_recovers_from_a_moved_pod() {
    let (id, cfg) = identity().await;
    // The catalog first says Pod1 is on a dead port; the resolver caches it.
    id.register_pod("Pod1", "http://127.0.0.1:1");
    let resolver = Arc::new(
        EndpointResolver::new(keystone(&cfg, &cfg.public_url), None, Interface::Public)
            .with_min_refresh_interval(Duration::ZERO),
    );
    resolver.endpoint("Pod1", "compute").await.unwrap();
    // The operator moves the pod; the catalog is updated.
    let live = serve_pod("Pod1").await;
    id.register_pod("Pod1", &live);
    let client = PodClient::new(resolver, Duration::from_secs(5)).unwrap();
    let token = id.issue_token("admin", "admin").unwrap();
    let resp = client
        .send(&PodRequest {
            pod: "Pod1".into(),
            service_type: "compute".into(),
            method: Method::GET,
            path: PodPath::default(),
            query: None,
            token,
            project_id: "p".into(),
            request_id: None,
            headers: Default::default(),
            body: None,
        })
        .await
        .unwrap();
    assert_eq!(resp.status, 200);
    let v: serde_json::Value = serde_json::from_slice(&resp.body).unwrap();
    assert_eq!(v["version"]["id"], "v2.1");
}

#[tokio::test]
async fn token_request_id_and_project_reach_the_pod() {
    let (id, cfg) = identity().await;
    let seen: Arc<Mutex<Vec<(String, HeaderMap)>>> = Arc::default();
    let seen2 = seen.clone();
    let app = axum::Router::new().fallback(get(move |uri: axum::http::Uri, headers: HeaderMap| {
        let seen = seen2.clone();
        async move {
            seen.lock().unwrap().push((uri.to_string(), headers));
            "{}"
        }
    }));
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l, app).await });
    id.add_endpoint(
        "PodX",
        "volumev3",
        "public",
        &format!("{url}/v3/$(project_id)s"),
    );

    let client = PodClient::new(
        Arc::new(EndpointResolver::new(
            keystone(&cfg, &cfg.public_url),
            None,
            Interface::Public,
        )),
        Duration::from_secs(5),
    )
    .unwrap();
    let rid = "req-6f2d5c1a-2222-4000-8000-000000000002";
    let resp = client
        .send(&PodRequest {
            pod: "PodX".into(),
            service_type: "volumev3".into(),
            method: Method::GET,
            path: PodPath::fixed("/volumes/detail"),
            query: Some("limit=2".into()),
            token: "user-token".into(),
            project_id: "proj42".into(),
            request_id: Some(rid.into()),
            headers: Default::default(),
            body: None,
        })
        .await
        .unwrap();
    assert_eq!(resp.status, 200);
    let seen = seen.lock().unwrap();
    let (uri, headers) = &seen[0];
    assert_eq!(uri, "/v3/proj42/volumes/detail?limit=2");
    assert_eq!(headers["x-auth-token"], "user-token");
    assert_eq!(headers["x-openstack-request-id"], rid);
}

#[tokio::test]
async fn unreachable_pod_is_a_pod_error() {
    let (id, cfg) = identity().await;
    id.register_pod("Pod1", "http://127.0.0.1:1");
    let client = PodClient::new(
        Arc::new(EndpointResolver::new(
            keystone(&cfg, &cfg.public_url),
            None,
            Interface::Public,
        )),
        Duration::from_secs(2),
    )
    .unwrap();
    let err = client
        .send(&PodRequest {
            pod: "Pod1".into(),
            service_type: "network".into(),
            method: Method::GET,
            path: PodPath::fixed("/v2.0/networks"),
            query: None,
            token: "t".into(),
            project_id: "p".into(),
            request_id: None,
            headers: Default::default(),
            body: None,
        })
        .await
        .unwrap_err();
    assert!(
        matches!(err, tricircle_pods::PodError::Unreachable { .. }),
        "{err}"
    );
}
