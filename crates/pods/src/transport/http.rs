//! The real transport: HTTP(S) with reqwest and a connection pool.

use std::time::Duration;

use futures::future::BoxFuture;

use super::{PodTransport, TransportError, TransportRequest, TransportResponse};

/// Requests over HTTP, on pooled connections.
#[derive(Debug, Clone)]
pub struct HttpTransport {
    http: reqwest::Client,
}

impl HttpTransport {
    /// A transport whose pooled connections idle out after `idle_timeout`
    /// (zero: none is kept) and of which at most `max_idle_per_host` stay
    /// open unused per host. `timeout` bounds every request (each request
    /// also carries its own) and, up to 5 s, connecting.
    pub fn new(
        timeout: Duration,
        idle_timeout: Duration,
        max_idle_per_host: usize,
    ) -> Result<HttpTransport, reqwest::Error> {
        let max_idle = if idle_timeout.is_zero() {
            0
        } else {
            max_idle_per_host
        };
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .pool_idle_timeout(idle_timeout)
            .pool_max_idle_per_host(max_idle)
            .build()?;
        Ok(HttpTransport { http })
    }

    async fn exchange(&self, req: TransportRequest) -> Result<TransportResponse, reqwest::Error> {
        let mut builder = self
            .http
            .request(req.method, req.url)
            .headers(req.headers)
            .timeout(req.timeout);
        if let Some(body) = req.body {
            builder = builder.body(body);
        }
        let resp = builder.send().await?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.bytes().await?;
        Ok(TransportResponse {
            status,
            headers,
            body,
        })
    }
}

impl PodTransport for HttpTransport {
    fn send(
        &self,
        req: TransportRequest,
    ) -> BoxFuture<'_, Result<TransportResponse, TransportError>> {
        Box::pin(async move { self.exchange(req).await.map_err(classify) })
    }
}

/// reqwest's error as the policy above needs it. A connect error is
/// checked first: a connection that timed out is still one the server
/// never saw.
fn classify(e: reqwest::Error) -> TransportError {
    let detail = e.to_string();
    if e.is_connect() {
        TransportError::Connect {
            detail,
            timed_out: e.is_timeout(),
        }
    } else if e.is_timeout() {
        TransportError::Timeout(detail)
    } else if e.is_request() {
        TransportError::Send(detail)
    } else {
        TransportError::Answer(detail)
    }
}
