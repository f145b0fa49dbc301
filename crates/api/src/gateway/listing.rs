//! What the compute and volume lists share in HTTP: our next-link parameter
//! carrying each pod's position, strict mode, and naming the pods a list
//! had to skip.

use std::collections::HashMap;

use super::{SKIPPED_PODS_HEADER, STRICT_LIST_HEADER};
use crate::error::ApiError;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use tricircle_gateway::ask_all::Gathered;

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

/// Names the pods a list skipped in the response header (none: no header).
pub fn name_skipped(resp: &mut Response, skipped: &[String]) {
    if skipped.is_empty() {
        return;
    }
    if let Ok(v) = skipped.join(",").parse() {
        resp.headers_mut().insert(SKIPPED_PODS_HEADER, v);
    }
}

/// What every pod was asked, as the answer: `render` of the answer or the
/// error found in the pods' answers, with the skipped pods named.
pub fn render_gathered<T, E: Into<ApiError>>(
    g: Gathered<T, E>,
    render: impl FnOnce(T) -> Response,
) -> Response {
    let mut resp = match g.answer {
        Ok(v) => render(v),
        Err(e) => e.into().into_response(),
    };
    name_skipped(&mut resp, &g.skipped);
    resp
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
    fn skipped_pods_are_named() {
        let mut resp = Response::new(axum::body::Body::empty());
        name_skipped(&mut resp, &[]);
        assert!(resp.headers().get(SKIPPED_PODS_HEADER).is_none());
        name_skipped(&mut resp, &["Pod1".to_string(), "Pod2".to_string()]);
        assert_eq!(resp.headers()[SKIPPED_PODS_HEADER], "Pod1,Pod2");
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
