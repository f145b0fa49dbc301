//! What the pod-client tests share: podsim's Keystone, a service client
//! for it, and a request to a pod.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use reqwest::Method;
use tokio::net::TcpListener;
use tricircle_pods::path::PodPath;
use tricircle_pods::{KeystoneClient, PodRequest, ServiceCredentials};
use tricircle_podsim::{Credentials, Identity, IdentityConfig};

/// podsim's Keystone on a free loopback port.
pub async fn identity() -> (Identity, IdentityConfig) {
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

/// Tricircle's service user on that Keystone, reached at `auth_url`.
pub fn keystone(cfg: &IdentityConfig, auth_url: &str) -> Arc<KeystoneClient> {
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

/// A bodiless request to `service` of `pod`.
pub fn request(
    pod: &str,
    service: &str,
    method: Method,
    path: &'static str,
    token: &str,
    project_id: &str,
) -> PodRequest {
    PodRequest {
        pod: pod.into(),
        service_type: service.into(),
        method,
        path: PodPath::fixed(path),
        query: None,
        token: token.into(),
        project_id: project_id.into(),
        request_id: None,
        headers: Default::default(),
        body: None,
    }
}
