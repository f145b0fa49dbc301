//! How a request reaches a pod (or Keystone): the one seam between the
//! policy of talking to pods (slots, breaker, retries, tokens, request ids,
//! in [`crate::forward`] and [`crate::keystone`]) and the wire.
//!
//! [`HttpTransport`] is the real one (reqwest, pooled connections).
//! `InMemoryTransport` (feature `testing`) hands requests to in-process
//! axum routers, such as podsim's, so the same policy can be tested
//! without sockets and with injected faults.
//!
//! Keystone goes through the transport too (catalog, service token, token
//! validation), rather than tests handing the resolver a fixed catalog:
//! one path for every request means no test-only branch in the resolver,
//! and in-memory tests exercise the catalog re-read after a refused
//! connection exactly as the gateway runs it.

mod http;
#[cfg(feature = "testing")]
mod memory;

use std::time::Duration;

use futures::future::BoxFuture;
use reqwest::header::HeaderMap;
use reqwest::Method;

pub use http::HttpTransport;
#[cfg(feature = "testing")]
pub use memory::{Fault, InMemoryTransport};

/// One resolved request: where it goes and what it carries. Whoever
/// builds it has already chosen the URL and the headers (token, request
/// id); the transport adds nothing but what its wire needs.
#[derive(Debug, Clone)]
pub struct TransportRequest {
    pub method: Method,
    pub url: url::Url,
    pub headers: HeaderMap,
    pub body: Option<bytes::Bytes>,
    /// The whole exchange, answer body included, ends within this.
    pub timeout: Duration,
}

/// An answer, whatever its status.
#[derive(Debug, Clone)]
pub struct TransportResponse {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: bytes::Bytes,
}

/// Why no answer came. The variants are what the policy above decides on:
/// which failures are worth another try, and which mean "no answer in
/// time".
#[derive(Debug, Clone, thiserror::Error)]
pub enum TransportError {
    /// No connection could be made (refused, no route, or connecting took
    /// too long): the server never saw the request.
    #[error("{detail}")]
    Connect { detail: String, timed_out: bool },
    /// The request could not go out on the connection (most often a pooled
    /// one the server closed as it went out): the server may or may not
    /// have seen it.
    #[error("{0}")]
    Send(String),
    /// No whole answer within the request's timeout.
    #[error("{0}")]
    Timeout(String),
    /// The answer broke off or could not be read.
    #[error("{0}")]
    Answer(String),
}

impl TransportError {
    /// Time ran out, connecting or waiting for the answer.
    pub fn is_timeout(&self) -> bool {
        matches!(
            self,
            TransportError::Timeout(_)
                | TransportError::Connect {
                    timed_out: true,
                    ..
                }
        )
    }

    /// Sending failed before any answer came, and not for lack of time:
    /// such a request is worth one more try on a fresh connection when
    /// sending it twice is harmless.
    pub fn failed_to_send(&self) -> bool {
        matches!(
            self,
            TransportError::Send(_)
                | TransportError::Connect {
                    timed_out: false,
                    ..
                }
        )
    }
}

/// Carries requests to pods and Keystone. Object-safe (boxed futures, as
/// the workspace has no `async_trait`), so clients hold an
/// `Arc<dyn PodTransport>` and tests swap the wire for memory.
pub trait PodTransport: Send + Sync + 'static {
    fn send(
        &self,
        req: TransportRequest,
    ) -> BoxFuture<'_, Result<TransportResponse, TransportError>>;
}

impl std::fmt::Debug for dyn PodTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PodTransport")
    }
}

/// Sends `req`; when sending failed before any answer and not for lack of
/// time, tries once more. Only for requests that are harmless twice.
pub(crate) async fn send_retrying(
    transport: &dyn PodTransport,
    req: TransportRequest,
) -> Result<TransportResponse, TransportError> {
    match transport.send(req.clone()).await {
        Err(e) if e.failed_to_send() => {
            tracing::debug!(error = %e, url = %req.url, "sending failed; trying once more");
            transport.send(req).await
        }
        other => other,
    }
}
