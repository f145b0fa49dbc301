//! Sending a request to one service of one pod.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue, ACCEPT, CONTENT_TYPE};
use reqwest::Method;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::endpoints::{substitute, EndpointError, EndpointResolver};
use crate::health::{Admission, BreakerConfig, PodHealth};
use crate::keystone::{KeystoneClient, KeystoneError};
use crate::path::PodPath;
use crate::transport::{
    HttpTransport, PodTransport, TransportError, TransportRequest, TransportResponse,
};
use crate::REQUEST_ID_HEADER;

#[derive(Debug, thiserror::Error)]
pub enum PodError {
    #[error(transparent)]
    Endpoint(#[from] EndpointError),
    #[error("pod {pod} did not answer in time")]
    Timeout { pod: String },
    #[error("pod {pod} is unreachable: {detail}")]
    Unreachable { pod: String, detail: String },
    /// The pod's circuit breaker is open: refused without asking the pod.
    #[error("pod {pod} is down; calls to it are refused until it answers again")]
    Down { pod: String, retry_after: Duration },
    /// Too many calls to the pod in flight from this instance, and none
    /// ended within the queue timeout.
    #[error("pod {pod} has too many requests in flight")]
    Busy { pod: String },
}

impl PodError {
    /// When the client may try again, for a `Retry-After` header: the next
    /// trial for a down pod, a short while for the others (the pod may be
    /// back, or its queue shorter, by then).
    pub fn retry_after(&self) -> Duration {
        match self {
            PodError::Down { retry_after, .. } => (*retry_after).max(Duration::from_secs(1)),
            PodError::Busy { .. } => Duration::from_secs(1),
            _ => Duration::from_secs(5),
        }
    }

    /// A failure of the pod itself (what its breaker counts), not of our
    /// catalog or our own limits.
    pub fn counts_against_pod(&self) -> bool {
        matches!(
            self,
            PodError::Timeout { .. } | PodError::Unreachable { .. }
        )
    }
}

/// A request for a pod's service. `path` is relative to the service's
/// catalog URL (e.g. `servers/detail` for compute).
#[derive(Debug, Clone)]
pub struct PodRequest {
    pub pod: String,
    pub service_type: String,
    pub method: Method,
    pub path: PodPath,
    pub query: Option<String>,
    /// The caller's token: pods share Tricircle's Keystone.
    pub token: String,
    pub project_id: String,
    pub request_id: Option<String>,
    /// Other headers to pass on (microversions, content type).
    pub headers: HeaderMap,
    pub body: Option<bytes::Bytes>,
}

/// A pod's answer, as the transport brought it.
pub type PodResponse = TransportResponse;

/// Why a call as Tricircle's service user failed.
#[derive(Debug, thiserror::Error)]
pub enum ServiceCallError {
    #[error("identity service: {0}")]
    Identity(#[from] KeystoneError),
    #[error(transparent)]
    Pod(#[from] PodError),
}

/// A JSON request to a pod's service made as Tricircle's service user
/// (admin in its project), for work no caller is there to authorise: jobs,
/// copies of top resources.
#[derive(Debug, Clone)]
pub struct ServiceCall<'a> {
    pub pod: &'a str,
    pub service_type: &'a str,
    pub method: Method,
    /// Relative to the service's catalog URL.
    pub path: PodPath,
    pub query: Option<String>,
    pub body: Option<bytes::Bytes>,
}

/// How a [`PodClient`] treats pods (`[client]` options).
#[derive(Debug, Clone)]
pub struct PodClientOptions {
    /// How long a call waits for a pod's answer.
    pub timeout: Duration,
    /// How long an unused pooled connection to a pod is kept: below the
    /// keep-alive of common servers (gunicorn closes after 2 s), so a
    /// request never goes out on a connection the server is closing.
    /// Zero: connections are not reused.
    pub idle_timeout: Duration,
    /// Unused connections kept per pod host.
    pub max_idle_per_pod: usize,
    /// Calls in flight to one pod from this instance; more wait.
    pub max_concurrent_per_pod: usize,
    /// How long a call waits for a free slot before failing with
    /// [`PodError::Busy`].
    pub queue_timeout: Duration,
    pub breaker: BreakerConfig,
}

impl Default for PodClientOptions {
    fn default() -> Self {
        PodClientOptions {
            timeout: Duration::from_secs(60),
            idle_timeout: crate::DEFAULT_IDLE_TIMEOUT,
            max_idle_per_pod: 32,
            max_concurrent_per_pod: 128,
            queue_timeout: Duration::from_secs(1),
            breaker: BreakerConfig::default(),
        }
    }
}

/// One semaphore per pod: the per-pod concurrency cap.
struct PodSlots {
    max: usize,
    queue_timeout: Duration,
    slots: Mutex<HashMap<String, Arc<Semaphore>>>,
}

impl PodSlots {
    async fn acquire(&self, pod: &str) -> Result<OwnedSemaphorePermit, PodError> {
        let sem = {
            let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
            slots
                .entry(pod.to_string())
                .or_insert_with(|| Arc::new(Semaphore::new(self.max)))
                .clone()
        };
        let busy = || PodError::Busy {
            pod: pod.to_string(),
        };
        match tokio::time::timeout(self.queue_timeout, sem.acquire_owned()).await {
            Ok(Ok(permit)) => Ok(permit),
            _ => Err(busy()),
        }
    }
}

/// Whether a call is held to the pod's breaker and concurrency cap.
#[derive(Debug, Clone, Copy)]
enum Gate {
    /// Every ordinary call.
    Breaker,
    /// The health probe: goes whatever the breaker says, outside the cap,
    /// under its own short timeout.
    Probe(Duration),
}

/// Calls to pods with the policy around them: endpoint resolution, the
/// per-pod cap, the breaker, retries, token and request-id headers. The
/// wire is a [`PodTransport`]: HTTP in the gateway, memory in tests.
#[derive(Clone)]
pub struct PodClient {
    transport: Arc<dyn PodTransport>,
    resolver: Arc<EndpointResolver>,
    timeout: Duration,
    health: Arc<PodHealth>,
    slots: Arc<PodSlots>,
}

impl PodClient {
    /// A client with the default [`PodClientOptions`] but `timeout`.
    pub fn new(
        resolver: Arc<EndpointResolver>,
        timeout: Duration,
    ) -> Result<PodClient, reqwest::Error> {
        Self::with_options(
            resolver,
            &PodClientOptions {
                timeout,
                ..PodClientOptions::default()
            },
        )
    }

    /// A client over HTTP ([`HttpTransport`]).
    pub fn with_options(
        resolver: Arc<EndpointResolver>,
        o: &PodClientOptions,
    ) -> Result<PodClient, reqwest::Error> {
        let http = HttpTransport::new(o.timeout, o.idle_timeout, o.max_idle_per_pod)?;
        Ok(Self::with_transport(resolver, o, Arc::new(http)))
    }

    /// A client that reaches pods through `transport` (the connection
    /// options of `o` are the transport's business and unused here).
    pub fn with_transport(
        resolver: Arc<EndpointResolver>,
        o: &PodClientOptions,
        transport: Arc<dyn PodTransport>,
    ) -> PodClient {
        PodClient {
            transport,
            resolver,
            timeout: o.timeout,
            health: Arc::new(PodHealth::new(o.breaker)),
            slots: Arc::new(PodSlots {
                max: o.max_concurrent_per_pod.max(1),
                queue_timeout: o.queue_timeout,
                slots: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// The same client judging pods with `health` (tests share or drive
    /// one; clones of a client always share theirs).
    pub fn with_health(mut self, health: Arc<PodHealth>) -> PodClient {
        self.health = health;
        self
    }

    pub fn resolver(&self) -> &Arc<EndpointResolver> {
        &self.resolver
    }

    /// This instance's view of the pods' health, fed by every call.
    pub fn health(&self) -> &Arc<PodHealth> {
        &self.health
    }

    /// How long a call waits for a pod's answer.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Sends `call` with the service user's (cached) token.
    pub async fn send_as_service(
        &self,
        keystone: &KeystoneClient,
        call: ServiceCall<'_>,
    ) -> Result<PodResponse, ServiceCallError> {
        self.service_call(keystone, call, Gate::Breaker).await
    }

    /// Like [`send_as_service`](Self::send_as_service), for the health
    /// probe: sent even to a pod that is down (it is the trial that needs
    /// no traffic), outside the concurrency cap, and given `timeout`.
    pub async fn probe_as_service(
        &self,
        keystone: &KeystoneClient,
        call: ServiceCall<'_>,
        timeout: Duration,
    ) -> Result<PodResponse, ServiceCallError> {
        self.service_call(keystone, call, Gate::Probe(timeout))
            .await
    }

    async fn service_call(
        &self,
        keystone: &KeystoneClient,
        call: ServiceCall<'_>,
        gate: Gate,
    ) -> Result<PodResponse, ServiceCallError> {
        let (token, project_id) = keystone.service_session().await?;
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        let req = PodRequest {
            pod: call.pod.to_string(),
            service_type: call.service_type.to_string(),
            method: call.method,
            path: call.path,
            query: call.query,
            token,
            project_id,
            request_id: None,
            headers,
            body: call.body,
        };
        Ok(self.send_gated(&req, gate).await?)
    }

    /// Sends the request. When the pod cannot be reached at the cached URL
    /// the catalog is re-read and the request tried once more: a refused
    /// connection means the pod never saw the request, so this is safe even
    /// for non-idempotent calls. Idempotent calls are also tried once more
    /// when sending failed otherwise (most often on a pooled connection the
    /// server had just closed).
    ///
    /// A pod that is down is not asked at all ([`PodError::Down`], but for
    /// one trial per retry interval); a pod with too many calls in flight
    /// gets this one only if a slot frees within the queue timeout
    /// ([`PodError::Busy`]). The outcome feeds the pod's breaker.
    pub async fn send(&self, req: &PodRequest) -> Result<PodResponse, PodError> {
        self.send_gated(req, Gate::Breaker).await
    }

    async fn send_gated(&self, req: &PodRequest, gate: Gate) -> Result<PodResponse, PodError> {
        let started = std::time::Instant::now();
        let result = self.send_judged(req, gate).await;
        // Per pod and service: how often and how fast each pod answers, and
        // how often it could not be reached at all.
        let outcome = match &result {
            Ok(r) => r.status.to_string(),
            Err(PodError::Timeout { .. }) => "timeout".to_string(),
            Err(PodError::Unreachable { .. }) => "unreachable".to_string(),
            Err(PodError::Endpoint(_)) => "no_endpoint".to_string(),
            Err(PodError::Down { .. }) => "down".to_string(),
            Err(PodError::Busy { .. }) => "busy".to_string(),
        };
        let labels = [
            ("pod", req.pod.clone()),
            ("service", req.service_type.clone()),
            ("outcome", outcome),
        ];
        metrics::counter!("tricircle_pod_requests_total", &labels).increment(1);
        metrics::histogram!("tricircle_pod_request_duration_seconds", &labels[..2])
            .record(started.elapsed().as_secs_f64());
        result
    }

    /// The breaker and the cap around one call, and its outcome recorded.
    async fn send_judged(&self, req: &PodRequest, gate: Gate) -> Result<PodResponse, PodError> {
        let (result, sent) = match gate {
            Gate::Breaker => {
                if let Admission::Reject { retry_after } = self.health.admit(&req.pod) {
                    return Err(PodError::Down {
                        pod: req.pod.clone(),
                        retry_after,
                    });
                }
                let _slot = self.slots.acquire(&req.pod).await?;
                let sent = self.health.now();
                (self.send_inner(req).await, sent)
            }
            Gate::Probe(timeout) => {
                let sent = self.health.now();
                let result = tokio::time::timeout(timeout, self.send_inner(req))
                    .await
                    .unwrap_or_else(|_| {
                        Err(PodError::Timeout {
                            pod: req.pod.clone(),
                        })
                    });
                (result, sent)
            }
        };
        match &result {
            Ok(r) if matches!(r.status, 502..=504) => self.health.record_failure(
                &req.pod,
                format!("HTTP {} from {}", r.status, req.service_type),
                sent,
            ),
            Ok(_) => self.health.record_success(&req.pod),
            Err(e) if e.counts_against_pod() => {
                self.health.record_failure(&req.pod, e.to_string(), sent)
            }
            Err(_) => {}
        }
        result
    }

    async fn send_inner(&self, req: &PodRequest) -> Result<PodResponse, PodError> {
        let template = self.resolver.endpoint(&req.pod, &req.service_type).await?;
        match self.send_to(url_of(&template, req)?, req).await {
            Err(TransportError::Connect { .. }) => {
                tracing::warn!(pod = %req.pod, service = %req.service_type, "pod unreachable; refreshing its endpoints");
                let fresh = self
                    .resolver
                    .endpoint_fresh(&req.pod, &req.service_type)
                    .await?;
                self.send_to(url_of(&fresh, req)?, req)
                    .await
                    .map_err(|e| to_pod_error(&req.pod, e))
            }
            Err(e) if is_idempotent(&req.method) && e.failed_to_send() => {
                tracing::debug!(pod = %req.pod, service = %req.service_type, error = %e, "sending failed; trying once more");
                self.send_to(url_of(&template, req)?, req)
                    .await
                    .map_err(|e| to_pod_error(&req.pod, e))
            }
            other => other.map_err(|e| to_pod_error(&req.pod, e)),
        }
    }

    async fn send_to(
        &self,
        url: url::Url,
        req: &PodRequest,
    ) -> Result<PodResponse, TransportError> {
        let mut headers = req.headers.clone();
        if let Ok(v) = HeaderValue::from_str(&req.token) {
            headers.insert(HeaderName::from_static("x-auth-token"), v);
        }
        if let Some(rid) = req
            .request_id
            .as_deref()
            .and_then(|r| HeaderValue::from_str(r).ok())
        {
            headers.insert(HeaderName::from_static(REQUEST_ID_HEADER), rid);
        }
        self.transport
            .send(TransportRequest {
                method: req.method.clone(),
                url,
                headers,
                body: req.body.clone(),
                timeout: self.timeout,
            })
            .await
    }
}

/// Methods HTTP defines as idempotent: sent twice, they do what once does.
fn is_idempotent(m: &Method) -> bool {
    matches!(
        *m,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::PUT | Method::DELETE
    )
}

/// The request's URL under a catalog URL template.
fn url_of(template: &str, req: &PodRequest) -> Result<url::Url, PodError> {
    let base = substitute(template, &req.project_id);
    req.path.under(&base, req.query.as_deref()).map_err(|e| {
        PodError::Endpoint(EndpointError::BadUrl {
            service_type: req.service_type.clone(),
            url: base,
            detail: e.to_string(),
        })
    })
}

fn to_pod_error(pod: &str, e: TransportError) -> PodError {
    if e.is_timeout() {
        PodError::Timeout {
            pod: pod.to_string(),
        }
    } else {
        PodError::Unreachable {
            pod: pod.to_string(),
            detail: e.to_string(),
        }
    }
}
