//! Request ids, access logs and Prometheus metrics for every API.

use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tracing::Instrument;
use tricircle_pods::REQUEST_ID_HEADER;

/// The request id of the current request (`req-<uuid>`), in extensions.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// Accepts an incoming request id only in the form OpenStack services
/// generate (`req-` + UUID), so a client cannot inject arbitrary text into
/// logs and pod requests.
pub fn accept_request_id(value: Option<&HeaderValue>) -> Option<String> {
    let v = value?.to_str().ok()?;
    let uuid = v.strip_prefix("req-")?;
    uuid::Uuid::try_parse(uuid).ok()?;
    Some(v.to_string())
}

/// The metrics recorder, installed once per process; later calls return
/// the same handle (tests build many routers in one process).
pub fn install_metrics() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets(&[
                    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
                ])
                .map(|b| b.build_recorder())
                .unwrap_or_else(|_| PrometheusBuilder::new().build_recorder());
            let handle = recorder.handle();
            // Fails only if another recorder is installed, in which case our
            // handle simply renders nothing: metrics never break serving.
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

/// Middleware for one API (`service` names it in logs and metrics):
/// request id in and out, an access log line, request counters and a
/// latency histogram labelled by route template (not raw path).
pub async fn observe(service: &'static str, mut req: Request, next: Next) -> Response {
    let request_id = accept_request_id(req.headers().get(REQUEST_ID_HEADER))
        .unwrap_or_else(|| format!("req-{}", uuid::Uuid::new_v4()));
    req.extensions_mut().insert(RequestId(request_id.clone()));
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".to_string());
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let span = tracing::info_span!("request", %service, request_id = %request_id);
    let started = Instant::now();

    let mut resp = next.run(req).instrument(span.clone()).await;

    let elapsed = started.elapsed();
    let status = resp.status().as_u16();
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        // Nova also names its request id in a header of its own; an answer
        // passed on from a pod keeps the pod's, under which the pod's Nova
        // records the instance action.
        if service == "compute" && !resp.headers().contains_key("x-compute-request-id") {
            resp.headers_mut().insert("x-compute-request-id", v.clone());
        }
        resp.headers_mut().insert(REQUEST_ID_HEADER, v);
    }
    span.in_scope(|| {
        tracing::info!(
            method = %method,
            path = %path,
            status,
            elapsed_ms = elapsed.as_secs_f64() * 1000.0,
            "request"
        );
    });
    let labels = [
        ("service", service.to_string()),
        ("route", route),
        ("method", method.to_string()),
        ("status", status.to_string()),
    ];
    metrics::counter!("tricircle_http_requests_total", &labels).increment(1);
    metrics::histogram!("tricircle_http_request_duration_seconds", &labels[..3])
        .record(elapsed.as_secs_f64());
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_id_forms() {
        let ok = HeaderValue::from_static("req-0b2f6a1e-3c34-4f57-9e0a-3a9b0e9e7c11");
        assert_eq!(
            accept_request_id(Some(&ok)).as_deref(),
            Some("req-0b2f6a1e-3c34-4f57-9e0a-3a9b0e9e7c11")
        );
        for bad in [
            "0b2f6a1e-3c34-4f57-9e0a-3a9b0e9e7c11",
            "req-xyz",
            "req-",
            "hello\tworld",
        ] {
            if let Ok(v) = HeaderValue::from_str(bad) {
                assert_eq!(accept_request_id(Some(&v)), None, "{bad}");
            }
        }
        assert_eq!(accept_request_id(None), None);
    }
}
