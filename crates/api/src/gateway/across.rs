//! One question to every bottom pod at once, for the answers that are not
//! paged lists of resources (hypervisors, services, usage, statistics): the
//! pods are asked in parallel, each under the list deadline, and what they
//! answer is combined by the caller. Pods that fail are skipped and named in
//! [`SKIPPED_PODS_HEADER`](super::SKIPPED_PODS_HEADER), as lists do; a
//! refused token, our own overload and strict mode are handled as lists
//! handle them.

use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::Value;
use tricircle_pods::fanout::PodFailure;
use tricircle_pods::PodPath;
use tricircle_store::Pod;

use super::forward::{fault_message, try_call, PodCall};
use super::listing::{self, PageError};
use super::{Call, GatewayState};
use crate::error::ApiError;

/// One pod's answer (any status the pod gave, 5xx excepted).
pub struct PodReply {
    pub pod: Pod,
    pub status: StatusCode,
    pub body: Value,
}

/// What every pod answered, and which pods are missing.
pub struct Across {
    pub replies: Vec<PodReply>,
    failed: Vec<(String, PodFailure<PageError>)>,
    asked_at: std::time::Instant,
}

/// The bottom pods (every pod but the top one).
pub async fn bottom_pods(st: &GatewayState) -> Result<Vec<Pod>, ApiError> {
    Ok(st
        .store
        .list_pods()
        .await?
        .into_iter()
        .filter(|p| !p.is_top())
        .collect())
}

/// Asks every pod of `pods` `GET path?query` of `service_type` with the
/// caller's token. `Err` is the answer to give at once: the caller's 401
/// when a pod refused the token, 503 when this instance is overloaded or
/// when a strict caller loses a pod.
pub async fn ask_pods(
    st: &GatewayState,
    c: &Call,
    pods: Vec<Pod>,
    service_type: &'static str,
    path: &PodPath,
    query: Option<&str>,
) -> Result<Across, Response> {
    let asks = pods
        .into_iter()
        .map(|pod| (pod, path.clone(), query.map(str::to_string)))
        .collect();
    ask_each(st, c, asks, service_type).await
}

/// [`ask_pods`] with a path and query of its own for each pod.
pub async fn ask_each(
    st: &GatewayState,
    c: &Call,
    asks: Vec<(Pod, PodPath, Option<String>)>,
    service_type: &'static str,
) -> Result<Across, Response> {
    let asked_at = st.pods.health().now();
    let asks = asks.into_iter().map(|(pod, path, query)| async move {
        let answer = tokio::time::timeout(
            st.list_deadline,
            try_call(
                st,
                &c.ctx,
                &c.rid,
                &c.root,
                PodCall {
                    pod: &pod,
                    service_type,
                    method: Method::GET,
                    path,
                    query,
                    headers: &c.headers,
                    body: None,
                },
            ),
        )
        .await;
        let outcome = match answer {
            Err(_) => Err(PodFailure::Timeout),
            Ok(Err(e)) => Err(PodFailure::Error(PageError::from(e))),
            Ok(Ok(a)) if a.status == StatusCode::UNAUTHORIZED => {
                Err(PodFailure::Error(PageError::Refused(ApiError::new(
                    a.status,
                    a.json()
                        .as_ref()
                        .and_then(fault_message)
                        .unwrap_or_default(),
                ))))
            }
            Ok(Ok(a)) => match a.json() {
                Some(mut body) => {
                    a.links.rewrite_json(&mut body);
                    Ok((a.status, body))
                }
                None if !a.is_success() => Ok((a.status, Value::Null)),
                None => Err(PodFailure::Malformed("not JSON".into())),
            },
        };
        (pod, outcome)
    });
    let answers = futures::future::join_all(asks).await;
    let mut replies = Vec::new();
    let mut failed = Vec::new();
    for (pod, outcome) in answers {
        match outcome {
            Ok((status, body)) => replies.push(PodReply { pod, status, body }),
            Err(f) => failed.push((pod.pod_name.clone(), f)),
        }
    }
    if failed.iter().any(|(_, f)| listing::token_refused(f)) {
        return Err(st.auth.unauthorized_response());
    }
    if let Some(e) = failed.iter().find_map(|(_, f)| listing::shed(f)) {
        return Err(e.into_response());
    }
    if listing::strict(&c.headers) {
        if let Some((pod, f)) = failed.first() {
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("Pod {pod} could not be asked: {f}"),
            )
            .into_response());
        }
    }
    Ok(Across {
        replies,
        failed,
        asked_at,
    })
}

impl Across {
    /// The first pod's refusal among statuses not in `accepted` (4xx: the
    /// request is the same in every pod, so it is the caller's mistake),
    /// as the caller's error.
    pub fn refusal(&self, accepted: &[StatusCode]) -> Option<ApiError> {
        self.replies
            .iter()
            .find(|r| !r.status.is_success() && !accepted.contains(&r.status))
            .map(|r| {
                ApiError::new(
                    r.status,
                    fault_message(&r.body).unwrap_or_else(|| "The request was refused.".into()),
                )
            })
    }

    /// The pods that answered with success, with their bodies.
    pub fn successes(&self) -> impl Iterator<Item = &PodReply> {
        self.replies.iter().filter(|r| r.status.is_success())
    }

    /// `body` as the answer, with the skipped pods named (`what` for the
    /// log and the health record).
    pub fn respond(&self, st: &GatewayState, body: Value, what: &str) -> Response {
        self.respond_with(st, Json(body).into_response(), what)
    }

    /// [`Across::respond`] for an answer made otherwise (an error found
    /// in the answers of the pods that did answer).
    pub fn respond_with(&self, st: &GatewayState, mut resp: Response, what: &str) -> Response {
        listing::report_skipped(
            &mut resp,
            &self.failed,
            what,
            st.pods.health(),
            self.asked_at,
        );
        resp
    }

    /// Whether a pod is missing from the answers.
    pub fn any_failed(&self) -> bool {
        !self.failed.is_empty()
    }
}

/// A pod's host as the top shows it: `<pod name>:<host>`, so that hosts
/// of different pods never share a name.
pub fn qualified_host(pod: &Pod, host: &str) -> String {
    format!("{}:{host}", pod.pod_name)
}

/// Rewrites the string `field` of `item` to [`qualified_host`].
pub fn qualify_field(item: &mut Value, field: &str, pod: &Pod) {
    if let Some(Value::String(h)) = item.get_mut(field) {
        *h = qualified_host(pod, h);
    }
}

/// `(pod name, host)` of a [`qualified_host`]; `None` without a pod part.
pub fn split_qualified(name: &str) -> Option<(&str, &str)> {
    name.split_once(':').filter(|(p, _)| !p.is_empty())
}

/// A pod's own AZ name as the top's (the `internal` zone of control
/// services stays).
pub fn zone_to_top(item: &mut Value, field: &str, pod: &Pod) {
    if let Some(Value::String(z)) = item.get_mut(field) {
        if *z == pod.pod_az_name && !pod.pod_az_name.is_empty() {
            *z = pod.az_name.clone();
        }
    }
}

/// The pods to ask for their services and the query to send: a `host`
/// filter names one pod's host (`Pod1:host`) and goes to that pod as the
/// pod's own name; a host without a pod part is no host of ours.
pub fn services_query(mut pods: Vec<Pod>, raw: Option<&str>) -> (Vec<Pod>, Option<String>) {
    let mut pass: Vec<(String, String)> = Vec::new();
    for (k, v) in url::form_urlencoded::parse(raw.unwrap_or("").as_bytes()).into_owned() {
        if k != "host" {
            pass.push((k, v));
            continue;
        }
        match split_qualified(&v) {
            Some((pod, host)) => {
                pods.retain(|p| p.pod_name == pod);
                pass.push((k, host.to_string()));
            }
            None => pods.clear(),
        }
    }
    let query = (!pass.is_empty()).then(|| {
        url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(&pass)
            .finish()
    });
    (pods, query)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qualified_names_split_at_the_first_colon() {
        assert_eq!(split_qualified("Pod1:host-a"), Some(("Pod1", "host-a")));
        assert_eq!(
            split_qualified("Pod1:h@lvm#pool"),
            Some(("Pod1", "h@lvm#pool"))
        );
        assert_eq!(split_qualified("host-a"), None);
        assert_eq!(split_qualified(":host-a"), None);
    }
}
