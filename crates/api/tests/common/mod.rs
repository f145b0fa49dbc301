//! A running admin API in front of podsim's Keystone, on loopback.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::net::TcpListener;
use tricircle_api::{admin_router, install_metrics, AdminState, Authenticator};
use tricircle_pods::{
    EndpointResolver, Interface, KeystoneClient, ServiceCredentials, TokenValidator,
    ValidatorConfig,
};
use tricircle_podsim::{Credentials, Identity, IdentityConfig};
use tricircle_store::testing::TestStore;

pub struct Env {
    pub identity: Identity,
    pub identity_cfg: IdentityConfig,
    pub base: String,
    pub http: reqwest::Client,
    pub admin_token: String,
    pub member_token: String,
    pub member_project: String,
    pub store: TestStore,
    _tasks: Vec<tokio::task::JoinHandle<()>>,
}

pub async fn serve_identity(
    cfg: IdentityConfig,
    listener: TcpListener,
) -> (Identity, tokio::task::JoinHandle<()>) {
    let identity = Identity::new(cfg);
    let router = identity.router();
    let task = tokio::spawn(async move {
        let _ = tricircle_podsim::serve(listener, router, std::future::pending()).await;
    });
    (identity, task)
}

pub fn service_client(cfg: &IdentityConfig, auth_url: &str) -> Arc<KeystoneClient> {
    let s = Credentials::service(cfg);
    Arc::new(
        KeystoneClient::new(
            ServiceCredentials {
                auth_url: auth_url.to_string(),
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

impl Env {
    pub async fn start(store: TestStore) -> Env {
        Self::start_with(store, Duration::from_secs(300)).await
    }

    pub async fn start_with(store: TestStore, cache_ttl: Duration) -> Env {
        let ks_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let identity_cfg = IdentityConfig {
            public_url: format!("http://{}", ks_listener.local_addr().unwrap()),
            ..Default::default()
        };
        let (identity, ks_task) = serve_identity(identity_cfg.clone(), ks_listener).await;
        identity.register_pod("Pod1", "http://127.0.0.1:1");
        let keystone = service_client(&identity_cfg, &format!("{}/v3", identity_cfg.public_url));
        let resolver = EndpointResolver::new(
            keystone.clone(),
            Some(store.store.clone()),
            Interface::Public,
        )
        .with_min_refresh_interval(Duration::ZERO);
        let state = AdminState {
            store: store.store.clone(),
            auth: Arc::new(Authenticator::Keystone {
                validator: TokenValidator::new(
                    keystone,
                    &ValidatorConfig {
                        cache_ttl,
                        ..Default::default()
                    },
                ),
                www_authenticate_uri: format!("{}/v3", identity_cfg.public_url),
            }),
            metrics: install_metrics(),
            max_body_size: 64 * 1024,
            endpoints: Some(Arc::new(resolver)),
            jobs: None,
        };
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let app = admin_router(state);
        let api_task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        let admin_token = identity.issue_token("admin", "admin").unwrap();
        let member_token = identity.issue_token("demo", "demo").unwrap();
        let member_project = identity.validate(&member_token).unwrap()["token"]["project"]["id"]
            .as_str()
            .unwrap()
            .to_string();
        Env {
            identity,
            identity_cfg,
            base,
            http: reqwest::Client::new(),
            admin_token,
            member_token,
            member_project,
            store,
            _tasks: vec![ks_task, api_task],
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A request with the admin token and a JSON body; returns status and body.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        self.call_as(&self.admin_token.clone(), method, path, body)
            .await
    }

    pub async fn call_as(
        &self,
        token: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self
            .http
            .request(method, self.url(path))
            .header("x-auth-token", token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    pub async fn raw(
        &self,
        method: reqwest::Method,
        path: &str,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> (u16, Value) {
        let mut req = self
            .http
            .request(method, self.url(path))
            .header("x-auth-token", &self.admin_token)
            .body(body);
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    pub async fn create_pod(&self, pod: Value) -> Value {
        let (s, b) = self
            .call(
                reqwest::Method::POST,
                "/v1.0/pods",
                Some(json!({ "pod": pod })),
            )
            .await;
        assert_eq!(s, 200, "{b}");
        b["pod"].clone()
    }

    /// RegionOne (top), Pod1/az1, Pod2/az2; returns their ids.
    pub async fn three_pods(&self) -> (String, String, String) {
        let top = self.create_pod(json!({"pod_name": "RegionOne"})).await;
        let p1 = self
            .create_pod(json!({"pod_name": "Pod1", "az_name": "az1"}))
            .await;
        let p2 = self
            .create_pod(json!({"pod_name": "Pod2", "az_name": "az2"}))
            .await;
        let id = |v: &Value| v["pod_id"].as_str().unwrap().to_string();
        (id(&top), id(&p1), id(&p2))
    }
}

/// Asserts a Nova-style fault body: `{"<fault>": {"message", "code"}}`.
pub fn assert_fault(status: u16, body: &Value, expected_status: u16, fault: &str) {
    assert_eq!(status, expected_status, "{body}");
    assert_eq!(body[fault]["code"], json!(expected_status), "{body}");
    assert!(
        body[fault]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{body}"
    );
}

/// Sends `method raw_path` exactly as written — no client normalises `..`
/// or `%2E%2E` away — with `headers` (and a JSON content type when there is
/// a body); returns the status and the body.
pub async fn raw_request(
    base: &str,
    headers: &[(&str, &str)],
    method: &str,
    raw_path: &str,
    body: Option<&str>,
) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = base.trim_start_matches("http://");
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut req = format!("{method} {raw_path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    let body = body.unwrap_or("");
    if !body.is_empty() {
        req.push_str("Content-Type: application/json\r\n");
    }
    req.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.unwrap();
    let text = String::from_utf8_lossy(&out).to_string();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// A new user with `role` on the existing project `project` (a name in the
/// Default domain), made through Keystone's API as `admin`; its token.
pub async fn user_with_role(identity: &Identity, admin: &str, project: &str, role: &str) -> String {
    let http = reqwest::Client::new();
    let ks = identity.auth_url();
    let mut ids = Vec::new();
    for path in [
        format!("/projects?name={project}"),
        format!("/roles?name={role}"),
    ] {
        let v: Value = http
            .get(format!("{ks}{path}"))
            .header("x-auth-token", admin)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let list = v
            .as_object()
            .and_then(|o| o.values().find(|v| v.is_array()))
            .unwrap();
        ids.push(list[0]["id"].as_str().unwrap().to_string());
    }
    let (pid, rid) = (&ids[0], &ids[1]);
    let name = format!("{role}-{}", uuid::Uuid::new_v4().simple());
    let u: Value = http
        .post(format!("{}/users", identity.auth_url()))
        .header("x-auth-token", admin)
        .json(&json!({"user": {"name": name, "password": "pw", "domain_id": "default"}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let uid = u["user"]["id"].as_str().unwrap();
    let r = http
        .put(format!(
            "{}/projects/{pid}/users/{uid}/roles/{rid}",
            identity.auth_url()
        ))
        .header("x-auth-token", admin)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    identity.issue_token(&name, project).unwrap()
}
