//! Sending a request to one service of one pod.

use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue, ACCEPT, CONTENT_TYPE};
use reqwest::Method;

use crate::endpoints::{substitute, EndpointError, EndpointResolver};
use crate::keystone::{KeystoneClient, KeystoneError};
use crate::path::PodPath;
use crate::REQUEST_ID_HEADER;

#[derive(Debug, thiserror::Error)]
pub enum PodError {
    #[error(transparent)]
    Endpoint(#[from] EndpointError),
    #[error("pod {pod} did not answer in time")]
    Timeout { pod: String },
    #[error("pod {pod} is unreachable: {detail}")]
    Unreachable { pod: String, detail: String },
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

#[derive(Debug, Clone)]
pub struct PodResponse {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: bytes::Bytes,
}

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

#[derive(Clone)]
pub struct PodClient {
    http: reqwest::Client,
    resolver: Arc<EndpointResolver>,
    timeout: Duration,
}

impl PodClient {
    pub fn new(
        resolver: Arc<EndpointResolver>,
        timeout: Duration,
    ) -> Result<PodClient, reqwest::Error> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .pool_idle_timeout(Duration::from_secs(60))
            .build()?;
        Ok(PodClient {
            http,
            resolver,
            timeout,
        })
    }

    pub fn resolver(&self) -> &Arc<EndpointResolver> {
        &self.resolver
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
        Ok(self.send(&req).await?)
    }

    /// Sends the request. When the pod cannot be reached at the cached URL
    /// the catalog is re-read and the request tried once more: a refused
    /// connection means the pod never saw the request, so this is safe even
    /// for non-idempotent calls.
    pub async fn send(&self, req: &PodRequest) -> Result<PodResponse, PodError> {
        let started = std::time::Instant::now();
        let result = self.send_inner(req).await;
        // Per pod and service: how often and how fast each pod answers, and
        // how often it could not be reached at all.
        let outcome = match &result {
            Ok(r) => r.status.to_string(),
            Err(PodError::Timeout { .. }) => "timeout".to_string(),
            Err(PodError::Unreachable { .. }) => "unreachable".to_string(),
            Err(PodError::Endpoint(_)) => "no_endpoint".to_string(),
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

    async fn send_inner(&self, req: &PodRequest) -> Result<PodResponse, PodError> {
        let template = self.resolver.endpoint(&req.pod, &req.service_type).await?;
        match self.send_to(url_of(&template, req)?, req).await {
            Err(e) if e.is_connect() => {
                tracing::warn!(pod = %req.pod, service = %req.service_type, "pod unreachable; refreshing its endpoints");
                let fresh = self
                    .resolver
                    .endpoint_fresh(&req.pod, &req.service_type)
                    .await?;
                self.send_to(url_of(&fresh, req)?, req)
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
    ) -> Result<PodResponse, reqwest::Error> {
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
        let mut builder = self.http.request(req.method.clone(), url).headers(headers);
        if let Some(body) = &req.body {
            builder = builder.body(body.clone());
        }
        let resp = builder.send().await?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.bytes().await?;
        Ok(PodResponse {
            status,
            headers,
            body,
        })
    }
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

fn to_pod_error(pod: &str, e: reqwest::Error) -> PodError {
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
