//! A transport without sockets: each request goes to the axum router
//! registered for its URL's host and port, in this process. podsim's
//! Keystone and pods are such routers, so a test can drive the real
//! client policy (catalog, service token, breaker, retries) against real
//! podsim services with nothing listening.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};

use axum::body::Body;
use axum::http::{header, HeaderValue, Request};
use axum::Router;
use futures::future::BoxFuture;
use tower::ServiceExt;

use super::{PodTransport, TransportError, TransportRequest, TransportResponse};

/// The largest answer body read, as a bound on test memory.
const MAX_BODY: usize = 64 << 20;

/// What a host does instead of answering.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Connections are refused: nothing is sent.
    Refuse,
    /// The request goes out and no answer ever comes: it fails when its
    /// timeout runs out.
    Hang,
    /// `503 Service Unavailable` without reaching the router, as a load
    /// balancer in front of a dead service answers.
    Unavailable,
    /// The connection breaks as the request goes out (a pooled connection
    /// the server had just closed), for the next `n` requests only.
    BreakNext(u32),
}

struct Host {
    router: Router,
    fault: Option<Fault>,
}

/// Routers by `host:port`. Cheap to clone; clones share the hosts, so a
/// test keeps one to inject faults while the clients hold others.
#[derive(Clone, Default)]
pub struct InMemoryTransport {
    hosts: Arc<RwLock<HashMap<String, Host>>>,
}

impl std::fmt::Debug for InMemoryTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hosts = self.hosts.read().unwrap_or_else(PoisonError::into_inner);
        f.debug_struct("InMemoryTransport")
            .field("hosts", &hosts.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// `host:port` of a URL (the port the scheme implies when none is given).
fn authority(url: &url::Url) -> Option<String> {
    Some(format!(
        "{}:{}",
        url.host_str()?,
        url.port_or_known_default()?
    ))
}

fn authority_of(base_url: &str) -> String {
    url::Url::parse(base_url)
        .ok()
        .as_ref()
        .and_then(authority)
        .unwrap_or_else(|| base_url.to_string())
}

impl InMemoryTransport {
    pub fn new() -> Self {
        Self::default()
    }

    /// Requests to `base_url`'s host and port (e.g. `http://pod1.test`)
    /// go to `router` from now on, replacing any router there. Any tower
    /// service fits: `Router::new().fallback_service(service)`.
    pub fn serve(&self, base_url: &str, router: Router) {
        let mut hosts = self.hosts.write().unwrap_or_else(PoisonError::into_inner);
        hosts.insert(
            authority_of(base_url),
            Host {
                router,
                fault: None,
            },
        );
    }

    /// Nothing is at `base_url` any more: connections are refused.
    pub fn remove(&self, base_url: &str) {
        let mut hosts = self.hosts.write().unwrap_or_else(PoisonError::into_inner);
        hosts.remove(&authority_of(base_url));
    }

    /// The host at `base_url` fails with `fault` from now on; `None` ends
    /// it. No effect on a host that is not served.
    pub fn set_fault(&self, base_url: &str, fault: Option<Fault>) {
        let mut hosts = self.hosts.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(h) = hosts.get_mut(&authority_of(base_url)) {
            h.fault = fault;
        }
    }

    /// The router for the request's host and the fault to play, counting
    /// down a `BreakNext`.
    fn route(&self, url: &url::Url) -> Option<(String, Router, Option<Fault>)> {
        let key = authority(url)?;
        let mut hosts = self.hosts.write().unwrap_or_else(PoisonError::into_inner);
        let h = hosts.get_mut(&key)?;
        let fault = h.fault;
        if let Some(Fault::BreakNext(n)) = fault {
            h.fault = n.checked_sub(1).filter(|n| *n > 0).map(Fault::BreakNext);
        }
        Some((key, h.router.clone(), fault))
    }

    async fn exchange(&self, req: TransportRequest) -> Result<TransportResponse, TransportError> {
        let Some((host, router, fault)) = self.route(&req.url) else {
            return Err(TransportError::Connect {
                detail: format!("connection refused: nothing serves {}", req.url),
                timed_out: false,
            });
        };
        let timed_out = || TransportError::Timeout(format!("no answer from {} in time", req.url));
        match fault {
            Some(Fault::Refuse) => {
                return Err(TransportError::Connect {
                    detail: format!("connection refused by {host}"),
                    timed_out: false,
                })
            }
            Some(Fault::Hang) => {
                tokio::time::sleep(req.timeout).await;
                return Err(timed_out());
            }
            Some(Fault::Unavailable) => {
                return Ok(TransportResponse {
                    status: 503,
                    headers: Default::default(),
                    body: bytes::Bytes::from_static(b"503 Service Unavailable"),
                })
            }
            Some(Fault::BreakNext(_)) => {
                return Err(TransportError::Send(format!(
                    "connection to {host} closed before the request went out"
                )))
            }
            None => {}
        }
        let timeout = req.timeout;
        let request = to_http(req, &host)?;
        let answer = async move {
            let Ok(resp) = router.oneshot(request).await;
            let (parts, body) = resp.into_parts();
            let body = axum::body::to_bytes(body, MAX_BODY)
                .await
                .map_err(|e| TransportError::Answer(e.to_string()))?;
            Ok(TransportResponse {
                status: parts.status.as_u16(),
                headers: parts.headers,
                body,
            })
        };
        tokio::time::timeout(timeout, answer)
            .await
            .unwrap_or_else(|_| {
                Err(TransportError::Timeout(format!(
                    "no answer from {host} in time"
                )))
            })
    }
}

/// The request as a server receives it: origin-form target and a `Host`
/// header (podsim builds its links from it).
fn to_http(req: TransportRequest, host: &str) -> Result<Request<Body>, TransportError> {
    let target = match req.url.query() {
        Some(q) => format!("{}?{q}", req.url.path()),
        None => req.url.path().to_string(),
    };
    let mut request = Request::builder()
        .method(req.method)
        .uri(target)
        .body(req.body.map(Body::from).unwrap_or_else(Body::empty))
        .map_err(|e| TransportError::Send(e.to_string()))?;
    *request.headers_mut() = req.headers;
    // The Host as the URL names it (the default port left out).
    let named = match req.url.port() {
        Some(p) => format!("{}:{p}", req.url.host_str().unwrap_or_default()),
        None => req.url.host_str().unwrap_or(host).to_string(),
    };
    if let Ok(v) = HeaderValue::from_str(&named) {
        request.headers_mut().insert(header::HOST, v);
    }
    Ok(request)
}

impl PodTransport for InMemoryTransport {
    fn send(
        &self,
        req: TransportRequest,
    ) -> BoxFuture<'_, Result<TransportResponse, TransportError>> {
        Box::pin(self.exchange(req))
    }
}
