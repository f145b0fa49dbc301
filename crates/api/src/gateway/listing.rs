//! What the compute and volume lists share around the fan-out: our next-link
//! parameter carrying each pod's position, strict mode, and reporting the
//! pods a list had to skip.

use std::collections::HashMap;
use std::fmt::Display;

use axum::http::HeaderMap;
use axum::response::Response;
use tricircle_pods::fanout::PodFailure;
use tricircle_pods::PodHealth;

use super::forward::CallError;
use super::{SKIPPED_PODS_HEADER, STRICT_LIST_HEADER};
use crate::error::ApiError;

/// Why one pod's page is missing.
#[derive(Debug)]
pub enum PageError {
    /// The pod refused the request (4xx): the client's mistake or token,
    /// the same in every pod.
    Refused(ApiError),
    /// The pod failed or could not be reached.
    Failed(String),
    /// Our own cap on calls to the pod had no free slot in time: this
    /// instance is overloaded (the answer to give: a 503 to retry).
    Shed(ApiError),
}

impl std::fmt::Display for PageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PageError::Refused(e) => write!(f, "HTTP {}: {}", e.status.as_u16(), e.message),
            PageError::Failed(why) => f.write_str(why),
            PageError::Shed(e) => f.write_str(&e.message),
        }
    }
}

impl From<CallError> for PageError {
    fn from(e: CallError) -> PageError {
        match e {
            CallError::Busy(e) => PageError::Shed(e.into()),
            CallError::Failed(e) => PageError::Failed(ApiError::from(e).message),
        }
    }
}

/// The answer to a list that lost a pod to our own overload: 503 as for a
/// shed request, never a 200 with that pod skipped (skipping is for pods
/// that fail, and the client could not tell the two apart).
pub fn shed(failure: &PodFailure<PageError>) -> Option<ApiError> {
    match failure {
        PodFailure::Error(PageError::Shed(e)) => Some(e.clone()),
        _ => None,
    }
}

/// Whether a pod refused the caller's token: then the list is the caller's
/// 401, not a list with that pod missing (the pods share our Keystone, so
/// the token was revoked).
pub fn token_refused(failure: &PodFailure<PageError>) -> bool {
    matches!(failure, PodFailure::Error(PageError::Refused(e)) if e.status == axum::http::StatusCode::UNAUTHORIZED)
}

/// Our own list parameter: where each pod's part of the list continues
/// (`Pod1:<id>,Pod2:<id>`), carried by the next links we give out.
pub const HINTS_PARAM: &str = "tricircle_markers";

pub fn encode_hints(hints: &HashMap<String, String>) -> String {
    let mut pairs: Vec<_> = hints.iter().collect();
    pairs.sort();
    pairs
        .into_iter()
        .map(|(p, id)| format!("{p}:{id}"))
        .collect::<Vec<_>>()
        .join(",")
}

pub fn decode_hints(s: &str) -> HashMap<String, String> {
    s.split(',')
        .filter_map(|pair| pair.split_once(':'))
        .map(|(p, id)| (p.to_string(), id.to_string()))
        .collect()
}

/// Whether the client asked for a list that fails rather than skips pods.
pub fn strict(headers: &HeaderMap) -> bool {
    headers
        .get(STRICT_LIST_HEADER)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("true") || v == "1")
}

/// The query of a `next` link: the request's parameters except `drop` and
/// the paging ones, then `limit` (when the client gave one), the marker and
/// the per-pod positions.
pub fn next_query(
    params: &[(String, String)],
    drop: &[&str],
    limit: Option<usize>,
    marker: &str,
    hints: &HashMap<String, String>,
) -> String {
    let mut q: Vec<(String, String)> = params
        .iter()
        .filter(|(k, _)| {
            !matches!(k.as_str(), "limit" | "marker" | HINTS_PARAM) && !drop.contains(&k.as_str())
        })
        .cloned()
        .collect();
    if let Some(l) = limit {
        q.push(("limit".into(), l.to_string()));
    }
    q.push(("marker".into(), marker.to_string()));
    q.push((HINTS_PARAM.into(), encode_hints(hints)));
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(q)
        .finish()
}

/// Logs the pods a list skipped and names them in the response header. A
/// pod that did not answer before the list's deadline counts as a failure
/// for its health (of calls sent at `listed_at`, [`PodHealth::now`] when
/// the list began): its call was given up before the pod timeout, so it
/// was not counted when sent.
pub fn report_skipped<E: Display>(
    resp: &mut Response,
    failed: &[(String, PodFailure<E>)],
    what: &str,
    health: &PodHealth,
    listed_at: std::time::Instant,
) {
    if failed.is_empty() {
        return;
    }
    for (pod, failure) in failed {
        tracing::warn!(%pod, %failure, what, "pod skipped in list");
        if matches!(failure, PodFailure::Timeout) {
            health.record_failure(
                pod,
                format!("no answer to a list of {what} within its deadline"),
                listed_at,
            );
        }
    }
    let names: Vec<&str> = failed.iter().map(|(p, _)| p.as_str()).collect();
    if let Ok(v) = names.join(",").parse() {
        resp.headers_mut().insert(SKIPPED_PODS_HEADER, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hints_round_trip() {
        let h: HashMap<String, String> = [
            ("Pod2".to_string(), "b".to_string()),
            ("Pod1".to_string(), "a".to_string()),
        ]
        .into();
        assert_eq!(encode_hints(&h), "Pod1:a,Pod2:b");
        assert_eq!(decode_hints("Pod1:a,Pod2:b"), h);
        assert!(decode_hints("garbage").is_empty());
    }

    #[test]
    fn skipped_pods_are_named_and_deadline_misses_count_against_their_health() {
        let health = PodHealth::new(Default::default());
        let mut resp = Response::new(axum::body::Body::empty());
        let failed: Vec<(String, PodFailure<String>)> = vec![
            ("Pod1".into(), PodFailure::Timeout),
            ("Pod2".into(), PodFailure::Error("pod Pod2 is down".into())),
        ];
        report_skipped(&mut resp, &failed, "servers", &health, health.now());
        assert_eq!(resp.headers()[SKIPPED_PODS_HEADER], "Pod1,Pod2");
        let v = health.view("Pod1").map(|v| (v.failures, v.last_error));
        assert_eq!(
            v,
            Some((
                1,
                Some("no answer to a list of servers within its deadline".into())
            ))
        );
        // Other failures were counted when their call failed (or were
        // refusals by the breaker): not again here.
        assert!(health.view("Pod2").is_none());
    }

    #[test]
    fn next_queries_keep_filters() {
        let params = vec![
            ("name".to_string(), "x".to_string()),
            ("limit".to_string(), "2".to_string()),
            ("offset".to_string(), "4".to_string()),
        ];
        let q = next_query(&params, &["offset"], Some(2), "m1", &HashMap::new());
        assert_eq!(q, "name=x&limit=2&marker=m1&tricircle_markers=");
    }
}
