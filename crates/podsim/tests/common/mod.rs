//! Shared test harness: an identity server and one pod on loopback.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use reqwest::{Client, Method, Response};
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tricircle_podsim::{serve, Credentials, Identity, IdentityConfig, Pod, PodConfig};

pub struct Harness {
    pub identity: Identity,
    pub cfg: IdentityConfig,
    /// `http://127.0.0.1:PORT` of the identity server.
    pub base: String,
    /// `http://127.0.0.1:PORT` of pod `Pod1`.
    pub pod1: String,
    pub client: Client,
    _stop: Vec<oneshot::Sender<()>>,
}

async fn spawn(listener: TcpListener, router: axum::Router) -> oneshot::Sender<()> {
    let (tx, rx) = oneshot::channel::<()>();
    tokio::spawn(serve(listener, router, async move {
        let _ = rx.await;
    }));
    tx
}

pub async fn start() -> Harness {
    start_with_ttl(Duration::from_secs(3600)).await
}

pub async fn start_with_ttl(token_ttl: Duration) -> Harness {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let cfg = IdentityConfig {
        public_url: base.clone(),
        token_ttl,
        ..IdentityConfig::default()
    };
    let identity = Identity::new(cfg.clone());

    let pod_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let pod1 = format!("http://{}", pod_listener.local_addr().unwrap());
    identity.register_pod("Pod1", &pod1);
    let pod = Pod::new(PodConfig::new("Pod1"));

    let stop = vec![
        spawn(listener, identity.router()).await,
        spawn(pod_listener, pod.router()).await,
    ];
    Harness {
        identity,
        cfg,
        base,
        pod1,
        client: Client::new(),
        _stop: stop,
    }
}

impl Harness {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// POST /v3/auth/tokens with `body`.
    pub async fn auth(&self, body: &Value) -> Response {
        self.client
            .post(self.url("/v3/auth/tokens"))
            .json(body)
            .send()
            .await
            .unwrap()
    }

    /// A token for `creds` (asserts 201) and its body.
    pub async fn login(&self, creds: &Credentials) -> (String, Value) {
        let res = self.auth(&creds.auth_request()).await;
        assert_eq!(res.status(), 201, "login of {}", creds.username);
        let token = res
            .headers()
            .get("x-subject-token")
            .unwrap()
            .to_str()
            .unwrap()
            .to_string();
        (token, res.json().await.unwrap())
    }

    pub async fn admin_token(&self) -> String {
        self.login(&Credentials::admin(&self.cfg)).await.0
    }

    pub async fn demo_token(&self) -> String {
        self.login(&Credentials::demo(&self.cfg)).await.0
    }

    /// A request with `X-Auth-Token`.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<&Value>,
    ) -> Response {
        let mut req = self
            .client
            .request(method, self.url(path))
            .header("X-Auth-Token", token);
        if let Some(b) = body {
            req = req.json(b);
        }
        req.send().await.unwrap()
    }

    /// GET with a token; returns (status, json body or Null).
    pub async fn get(&self, path: &str, token: &str) -> (u16, Value) {
        let res = self.call(Method::GET, path, token, None).await;
        let status = res.status().as_u16();
        let body = res.json().await.unwrap_or(Value::Null);
        (status, body)
    }
}

/// Asserts a Keystone error body.
pub fn assert_ks_error(body: &Value, code: u16, title: &str, message: &str) {
    assert_eq!(body["error"]["code"], code, "{body}");
    assert_eq!(body["error"]["title"], title, "{body}");
    assert_eq!(body["error"]["message"], message, "{body}");
}

/// Asserts `YYYY-MM-DDTHH:MM:SS.ffffffZ`.
pub fn assert_iso_micro(s: &str) {
    let b = s.as_bytes();
    assert_eq!(b.len(), 27, "{s}");
    assert_eq!(b[4], b'-', "{s}");
    assert_eq!(b[10], b'T', "{s}");
    assert_eq!(b[19], b'.', "{s}");
    assert_eq!(b[26], b'Z', "{s}");
    assert!(b[20..26].iter().all(u8::is_ascii_digit), "{s}");
}
