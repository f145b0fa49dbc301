//! What every API shares around its routes: shedding load past the
//! process's in-flight limit, JSON-only request bodies of bounded size that
//! must arrive in time, OpenStack-style 404 and 405 answers, request ids,
//! access logs and metrics ([`crate::observe`]), and a guard that turns a
//! panic into a 500 without details.
//!
//! Every refusal here is an [`ApiError`] (the Nova/Cinder form); the network
//! API rewrites them into Neutron's form around its router.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::{middleware, Router};
use http_body::{Frame, SizeHint};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Sleep;
use tower_http::catch_panic::CatchPanicLayer;

use crate::error::ApiError;

pub(crate) fn common_layers<S>(
    router: Router<S>,
    service: &'static str,
    max_body_size: usize,
) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    router
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        // The one body limit is `guard_body`'s, so that every way past it
        // is answered in the API's own format.
        .layer(DefaultBodyLimit::disable())
        .layer(middleware::from_fn(move |req, next| {
            guard_body(service, max_body_size, req, next)
        }))
        .layer(middleware::map_response(retry_after_on_unavailable))
        .layer(middleware::from_fn(move |req, next| {
            crate::observe::observe(service, req, next)
        }))
        .layer(CatchPanicLayer::custom(move |_| {
            tracing::error!(%service, "handler panicked");
            ApiError::internal().into_response()
        }))
        .layer(middleware::from_fn(move |req, next| {
            shed(service, req, next)
        }))
}

/// How long a client is asked to wait before retrying a 503.
pub const RETRY_AFTER_SECONDS: u32 = 5;

/// Every 503 tells the client when to come back (`Retry-After`), whoever
/// answered it: a pod outage, the identity service, the database.
async fn retry_after_on_unavailable(
    mut resp: axum::response::Response,
) -> axum::response::Response {
    if resp.status() == StatusCode::SERVICE_UNAVAILABLE
        && !resp.headers().contains_key(axum::http::header::RETRY_AFTER)
    {
        resp.headers_mut().insert(
            axum::http::header::RETRY_AFTER,
            axum::http::HeaderValue::from(RETRY_AFTER_SECONDS),
        );
    }
    resp
}

async fn not_found() -> ApiError {
    ApiError::not_found("The resource could not be found.")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "The method is not allowed for this resource.",
    )
}

// ------------------------------------------------------------- shedding

/// How many requests the APIs of one process serve at once, all together.
/// Past it a request is answered 503 at once (no queue); a request counts
/// until its answer has been sent, body included.
#[derive(Clone, Debug)]
pub struct InflightLimit {
    permits: Arc<Semaphore>,
    max: usize,
}

impl InflightLimit {
    /// A limit of `max` requests (at least one).
    pub fn new(max: usize) -> InflightLimit {
        let max = max.clamp(1, Semaphore::MAX_PERMITS);
        InflightLimit {
            permits: Arc::new(Semaphore::new(max)),
            max,
        }
    }

    pub fn max(&self) -> usize {
        self.max
    }

    /// Requests being served now.
    pub fn in_flight(&self) -> usize {
        self.max.saturating_sub(self.permits.available_permits())
    }
}

/// What the process allows one request, set on every request by
/// [`crate::connections::serve`]. Routers served otherwise (tests) bound
/// only the body size.
#[derive(Clone, Debug)]
pub struct RequestBounds {
    pub inflight: InflightLimit,
    /// The whole request body must arrive within this time of its first
    /// read (its headers are bounded by the connection server).
    pub body_timeout: Duration,
}

/// Seconds a shed client is told to wait.
const SHED_RETRY_AFTER: &str = "1";

/// Paths that answer even when the process is full: health checks and
/// version discovery, which load balancers probe and which cost nothing.
fn bypasses_limit(req: &Request) -> bool {
    req.method() == Method::GET && matches!(req.uri().path(), "/" | "/healthcheck" | "/metrics")
}

async fn shed(service: &'static str, req: Request, next: Next) -> Response {
    let Some(bounds) = req.extensions().get::<RequestBounds>() else {
        return next.run(req).await;
    };
    if bypasses_limit(&req) {
        return next.run(req).await;
    }
    let Ok(permit) = bounds.inflight.permits.clone().try_acquire_owned() else {
        metrics::counter!("tricircle_http_requests_shed_total", "service" => service).increment(1);
        let mut resp = ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "The service is handling too many requests; retry later.",
        )
        .into_response();
        resp.headers_mut().insert(
            header::RETRY_AFTER,
            HeaderValue::from_static(SHED_RETRY_AFTER),
        );
        return resp;
    };
    next.run(req).await.map(|body| {
        Body::new(HoldPermit {
            body,
            _permit: permit,
        })
    })
}

/// An answer's body that holds its request's place in the in-flight limit
/// until it has been sent (or dropped).
struct HoldPermit {
    body: Body,
    _permit: OwnedSemaphorePermit,
}

impl HttpBody for HoldPermit {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

// --------------------------------------------------------------- bodies

/// Media types of request bodies an API accepts besides `application/json`,
/// as the services do: Nova also takes its vendor type and `text/plain`
/// (which it reads as JSON); Cinder its vendor type.
fn also_accepted(service: &str) -> &'static [&'static str] {
    match service {
        "compute" => &["application/vnd.openstack.compute+json", "text/plain"],
        "volume" => &["application/vnd.openstack.volume+json"],
        _ => &[],
    }
}

/// Whether a request's `Content-Type` is one the API reads. A missing (or
/// empty) one is taken as JSON, as Nova and Neutron take it; parameters
/// such as `charset` are ignored.
fn accepted_media_type(service: &str, headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return true;
    };
    let Ok(value) = value.to_str() else {
        return false;
    };
    let mime = value.split(';').next().unwrap_or("").trim();
    mime.is_empty()
        || mime.eq_ignore_ascii_case("application/json")
        || also_accepted(service)
            .iter()
            .any(|m| mime.eq_ignore_ascii_case(m))
}

fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
}

/// Whether a request may carry a body (its media type then matters).
fn carries_body(req: &Request) -> bool {
    matches!(*req.method(), Method::POST | Method::PUT | Method::PATCH)
        || content_length(req.headers()).is_some_and(|n| n > 0)
        || req.headers().contains_key(header::TRANSFER_ENCODING)
}

fn too_large() -> Response {
    ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "Request is too large.").into_response()
}

fn too_slow() -> Response {
    ApiError::new(
        StatusCode::REQUEST_TIMEOUT,
        "The request body did not arrive in time.",
    )
    .into_response()
}

fn unsupported_media_type() -> Response {
    ApiError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "Unsupported Content-Type",
    )
    .into_response()
}

/// What went wrong while reading a body, recorded by [`GuardedBody`] for
/// [`guard_body`], which answers for it whatever the handler made of the
/// read error.
const FAULT_NONE: u8 = 0;
const FAULT_TOO_LARGE: u8 = 1;
const FAULT_TOO_SLOW: u8 = 2;

/// 415 for bodies that are not JSON, 413 for bodies over the limit (at once
/// when `Content-Length` says so, else when the limit is crossed), 408 for
/// bodies that do not arrive in time: every API, in its own format.
async fn guard_body(service: &'static str, max: usize, req: Request, next: Next) -> Response {
    if carries_body(&req) && !accepted_media_type(service, req.headers()) {
        return unsupported_media_type();
    }
    if content_length(req.headers()).is_some_and(|n| n > max as u64) {
        return too_large();
    }
    let timeout = req
        .extensions()
        .get::<RequestBounds>()
        .map(|b| b.body_timeout);
    let fault = Arc::new(AtomicU8::new(FAULT_NONE));
    let req = req.map(|body| {
        Body::new(GuardedBody {
            body,
            remaining: max,
            timeout,
            deadline: None,
            fault: fault.clone(),
        })
    });
    let resp = next.run(req).await;
    match fault.load(Ordering::Acquire) {
        FAULT_TOO_LARGE => too_large(),
        FAULT_TOO_SLOW => too_slow(),
        _ => resp,
    }
}

#[derive(Debug, thiserror::Error)]
enum BodyFault {
    #[error("the request body is larger than the limit")]
    TooLarge,
    #[error("the request body did not arrive in time")]
    TooSlow,
}

/// A request body cut at the size limit, and at `timeout` after it is
/// first read (a handler that reads late does not make the client late).
struct GuardedBody {
    body: Body,
    remaining: usize,
    timeout: Option<Duration>,
    deadline: Option<Pin<Box<Sleep>>>,
    fault: Arc<AtomicU8>,
}

impl GuardedBody {
    fn fail(&self, code: u8, e: BodyFault) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        self.fault.store(code, Ordering::Release);
        Poll::Ready(Some(Err(axum::Error::new(e))))
    }
}

impl HttpBody for GuardedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = &mut *self;
        if this.deadline.is_none() {
            this.deadline = this.timeout.map(|t| Box::pin(tokio::time::sleep(t)));
        }
        match Pin::new(&mut this.body).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    if data.len() > this.remaining {
                        return this.fail(FAULT_TOO_LARGE, BodyFault::TooLarge);
                    }
                    this.remaining -= data.len();
                }
                Poll::Ready(Some(Ok(frame)))
            }
            // Waiting for the client: each wait checks the deadline (and
            // wakes us when it passes), so a trickle cannot outlast it.
            Poll::Pending => {
                let passed = this
                    .deadline
                    .as_mut()
                    .is_some_and(|d| d.as_mut().poll(cx).is_ready());
                if passed {
                    this.fail(FAULT_TOO_SLOW, BodyFault::TooSlow)
                } else {
                    Poll::Pending
                }
            }
            other => other,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn media_types() {
        let with = |ct: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::CONTENT_TYPE, HeaderValue::from_str(ct).unwrap());
            h
        };
        for service in ["compute", "volume", "network", "admin"] {
            assert!(accepted_media_type(service, &HeaderMap::new()));
            assert!(accepted_media_type(service, &with("")));
            assert!(accepted_media_type(service, &with("application/json")));
            assert!(accepted_media_type(
                service,
                &with("Application/JSON; charset=UTF-8")
            ));
            assert!(!accepted_media_type(
                service,
                &with("application/x-www-form-urlencoded")
            ));
            assert!(!accepted_media_type(service, &with("application/xml")));
        }
        assert!(accepted_media_type("compute", &with("text/plain")));
        assert!(!accepted_media_type("volume", &with("text/plain")));
        assert!(!accepted_media_type("network", &with("text/plain")));
        assert!(accepted_media_type(
            "compute",
            &with("application/vnd.openstack.compute+json")
        ));
        assert!(accepted_media_type(
            "volume",
            &with("application/vnd.openstack.volume+json")
        ));
        assert!(!accepted_media_type(
            "network",
            &with("application/vnd.openstack.volume+json")
        ));
    }

    /// A router in the shell whose one route answers with a body that
    /// streams what the test sends, and the bounds of its requests.
    fn streaming_api() -> (Router, RequestBounds, tokio::sync::mpsc::Sender<Bytes>) {
        let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(1);
        let rx = Arc::new(tokio::sync::Mutex::new(Some(rx)));
        let route = axum::routing::get(move || {
            let rx = rx.clone();
            async move {
                let rx = rx.lock().await.take();
                let stream = futures::stream::unfold(rx, |rx| async move {
                    let mut rx = rx?;
                    let chunk = rx.recv().await?;
                    Some((Ok::<_, std::io::Error>(chunk), Some(rx)))
                });
                Body::from_stream(stream)
            }
        });
        let router = common_layers(Router::new().route("/slow", route), "compute", 1024);
        let bounds = RequestBounds {
            inflight: InflightLimit::new(1),
            body_timeout: Duration::from_secs(60),
        };
        (router, bounds, tx)
    }

    fn get(path: &str, bounds: &RequestBounds) -> Request {
        let mut req = Request::get(path).body(Body::empty()).unwrap();
        req.extensions_mut().insert(bounds.clone());
        req
    }

    /// A request counts until its answer's body is done, not only until
    /// the handler returns; past the limit the answer is 503 + Retry-After
    /// in the API's format, and the place is free again afterwards.
    #[tokio::test]
    async fn a_request_counts_until_its_answer_is_sent() {
        use tower::ServiceExt;
        let (router, bounds, tx) = streaming_api();
        let resp = router.clone().oneshot(get("/slow", &bounds)).await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(
            bounds.inflight.in_flight(),
            1,
            "the body is still streaming"
        );

        let shed = router.clone().oneshot(get("/slow", &bounds)).await.unwrap();
        assert_eq!(shed.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(shed.headers()[header::RETRY_AFTER], "1");
        let body = axum::body::to_bytes(shed.into_body(), 4096).await.unwrap();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["serviceUnavailable"]["code"], 503, "{v}");
        // Health and version documents answer anyway (here: 404, not 503).
        let root = router.clone().oneshot(get("/", &bounds)).await.unwrap();
        assert_eq!(root.status(), StatusCode::NOT_FOUND);

        tx.send(Bytes::from_static(b"part")).await.unwrap();
        drop(tx);
        let body = axum::body::to_bytes(resp.into_body(), 4096).await.unwrap();
        assert_eq!(&body[..], b"part");
        assert_eq!(bounds.inflight.in_flight(), 0, "released once sent");
        let again = router.oneshot(get("/slow", &bounds)).await.unwrap();
        assert_eq!(again.status(), StatusCode::OK);
    }

    #[test]
    fn limits_count_at_least_one() {
        let l = InflightLimit::new(0);
        assert_eq!(l.max(), 1);
        assert_eq!(l.in_flight(), 0);
        let p = l.permits.clone().try_acquire_owned().unwrap();
        assert_eq!(l.in_flight(), 1);
        assert!(l.permits.clone().try_acquire_owned().is_err());
        drop(p);
        assert_eq!(l.in_flight(), 0);
    }

    /// A body that sends one chunk and then never ends.
    fn stalled_body(chunk: &'static [u8]) -> Body {
        let stream =
            futures::stream::once(
                async move { Ok::<_, std::io::Error>(Bytes::from_static(chunk)) },
            )
            .chain(futures::stream::pending());
        Body::from_stream(stream)
    }

    use futures::StreamExt;

    #[tokio::test(start_paused = true)]
    async fn bodies_stop_at_the_limit_and_the_deadline() {
        let fault = Arc::new(AtomicU8::new(FAULT_NONE));
        let body = Body::new(GuardedBody {
            body: Body::from(vec![b'x'; 11]),
            remaining: 10,
            timeout: None,
            deadline: None,
            fault: fault.clone(),
        });
        assert!(axum::body::to_bytes(body, usize::MAX).await.is_err());
        assert_eq!(fault.load(Ordering::Acquire), FAULT_TOO_LARGE);

        let fault = Arc::new(AtomicU8::new(FAULT_NONE));
        let body = Body::new(GuardedBody {
            body: Body::from(vec![b'x'; 10]),
            remaining: 10,
            timeout: None,
            deadline: None,
            fault: fault.clone(),
        });
        assert_eq!(
            axum::body::to_bytes(body, usize::MAX).await.unwrap().len(),
            10
        );
        assert_eq!(fault.load(Ordering::Acquire), FAULT_NONE);

        // Paused time: the deadline passes as soon as nothing else can run.
        let fault = Arc::new(AtomicU8::new(FAULT_NONE));
        let body = Body::new(GuardedBody {
            body: stalled_body(b"{\"a\":"),
            remaining: 100,
            timeout: Some(Duration::from_secs(30)),
            deadline: None,
            fault: fault.clone(),
        });
        assert!(axum::body::to_bytes(body, usize::MAX).await.is_err());
        assert_eq!(fault.load(Ordering::Acquire), FAULT_TOO_SLOW);

        // Data the client has sent is never late, however late it is read.
        let fault = Arc::new(AtomicU8::new(FAULT_NONE));
        let chunks = futures::stream::iter([
            Ok::<_, std::io::Error>(Bytes::from_static(b"ab")),
            Ok(Bytes::from_static(b"cd")),
        ]);
        let mut data = Body::new(GuardedBody {
            body: Body::from_stream(chunks),
            remaining: 100,
            timeout: Some(Duration::from_secs(30)),
            deadline: None,
            fault: fault.clone(),
        })
        .into_data_stream();
        tokio::time::advance(Duration::from_secs(60)).await;
        assert_eq!(&data.next().await.unwrap().unwrap()[..], b"ab");
        tokio::time::advance(Duration::from_secs(60)).await;
        assert_eq!(&data.next().await.unwrap().unwrap()[..], b"cd");
        assert!(data.next().await.is_none());
        assert_eq!(fault.load(Ordering::Acquire), FAULT_NONE);
    }
}
