//! One question to every bottom pod at once, for the answers that are not
//! paged lists of resources (hypervisors, services, usage, statistics): the
//! pods are asked in parallel, each under the list deadline, and what they
//! answer is combined by the caller. Pods that fail are skipped (the API
//! names them as lists do); a refused token, our own overload and strict
//! mode are handled as lists handle them.

use std::time::{Duration, Instant};

use http::{Method, StatusCode};
use serde_json::Value;
use tricircle_pods::fanout::PodFailure;
use tricircle_pods::PodPath;
use tricircle_store::Pod;

use crate::caller::Caller;
use crate::error::GatewayError;
use crate::list_fetch::{ListError, PageError};
use crate::pod_call::{fault_message, PodCall};
use crate::Gateway;

/// One pod's answer (any status the pod gave, 5xx excepted).
pub struct PodReply {
    pub pod: Pod,
    pub status: StatusCode,
    pub body: Value,
}

/// One question: `GET path?query` of one pod.
pub struct Ask {
    pub pod: Pod,
    pub path: PodPath,
    pub query: Option<String>,
}

/// What every pod answered, and which pods are missing.
pub struct Asked {
    pub replies: Vec<PodReply>,
    failed: Vec<(String, PodFailure<PageError>)>,
    asked_at: Instant,
}

/// An answer gathered from every pod: what to answer (or the error found
/// in the answers of the pods that did answer), and the pods left out.
#[derive(Debug)]
pub struct Gathered<T, E> {
    pub answer: Result<T, E>,
    pub skipped: Vec<String>,
}

impl Gateway {
    /// Asks every pod of `pods` `GET path?query` of `service_type` with the
    /// caller's token. `Err` is the answer to give at once: the caller's
    /// 401 when a pod refused the token, unavailable when this instance is
    /// overloaded or when a `strict` caller loses a pod.
    pub async fn ask_pods(
        &self,
        caller: &Caller,
        pods: Vec<Pod>,
        service_type: &'static str,
        path: &PodPath,
        query: Option<&str>,
        strict: bool,
    ) -> Result<Asked, ListError> {
        let asks = pods
            .into_iter()
            .map(|pod| Ask {
                pod,
                path: path.clone(),
                query: query.map(str::to_string),
            })
            .collect();
        self.ask_each(caller, asks, service_type, strict).await
    }

    /// [`Gateway::ask_pods`] with a path and query of its own for each pod.
    pub async fn ask_each(
        &self,
        caller: &Caller,
        asks: Vec<Ask>,
        service_type: &'static str,
        strict: bool,
    ) -> Result<Asked, ListError> {
        let asked_at = self.pods.health().now();
        let asks = asks
            .into_iter()
            .map(|ask| async move { self.ask_one(caller, ask, service_type).await });
        let answers = futures::future::join_all(asks).await;
        let mut replies = Vec::new();
        let mut failed = Vec::new();
        for (pod, outcome) in answers {
            match outcome {
                Ok((status, body)) => replies.push(PodReply { pod, status, body }),
                Err(f) => failed.push((pod.pod_name.clone(), f)),
            }
        }
        let token_refused = |f: &PodFailure<PageError>| {
            matches!(f, PodFailure::Error(PageError::Refused { status: 401, .. }))
        };
        if failed.iter().any(|(_, f)| token_refused(f)) {
            return Err(ListError::TokenRefused);
        }
        if let Some(i) = failed
            .iter()
            .position(|(_, f)| matches!(f, PodFailure::Error(PageError::Shed(_))))
        {
            if let (_, PodFailure::Error(PageError::Shed(e))) = failed.swap_remove(i) {
                return Err(ListError::Gateway(e));
            }
        }
        if strict {
            if let Some((pod, f)) = failed.first() {
                return Err(ListError::Gateway(GatewayError::unavailable(
                    format!("Pod {pod} could not be asked: {f}"),
                    Duration::ZERO,
                )));
            }
        }
        Ok(Asked {
            replies,
            failed,
            asked_at,
        })
    }

    async fn ask_one(
        &self,
        caller: &Caller,
        ask: Ask,
        service_type: &'static str,
    ) -> (Pod, Result<(StatusCode, Value), PodFailure<PageError>>) {
        let answer = tokio::time::timeout(
            self.list_deadline,
            self.try_call(
                caller,
                PodCall {
                    pod: &ask.pod,
                    service_type,
                    method: Method::GET,
                    path: ask.path,
                    query: ask.query,
                    headers: &caller.pass_headers,
                    body: None,
                },
            ),
        )
        .await;
        let outcome = match answer {
            Err(_) => Err(PodFailure::Timeout),
            Ok(Err(e)) => Err(PodFailure::Error(PageError::from(e))),
            Ok(Ok(a)) if a.status == StatusCode::UNAUTHORIZED => {
                Err(PodFailure::Error(PageError::Refused {
                    status: a.status.as_u16(),
                    message: a
                        .json()
                        .as_ref()
                        .and_then(fault_message)
                        .unwrap_or_default(),
                }))
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
        (ask.pod, outcome)
    }
}

impl Asked {
    /// The first pod's refusal among statuses not in `accepted` (4xx: the
    /// request is the same in every pod, so it is the caller's mistake).
    pub fn refusal(&self, accepted: &[StatusCode]) -> Option<GatewayError> {
        self.replies
            .iter()
            .find(|r| !r.status.is_success() && !accepted.contains(&r.status))
            .map(|r| GatewayError::PodRefused {
                status: r.status.as_u16(),
                message: fault_message(&r.body)
                    .unwrap_or_else(|| "The request was refused.".into()),
            })
    }

    /// The pods that answered with success, with their bodies.
    pub fn successes(&self) -> impl Iterator<Item = &PodReply> {
        self.replies.iter().filter(|r| r.status.is_success())
    }

    /// Whether a pod is missing from the answers.
    pub fn any_failed(&self) -> bool {
        !self.failed.is_empty()
    }

    /// `answer`, with the pods left out: they are logged, and a pod that
    /// did not answer before the deadline counts as a failure for its
    /// health (its call was given up before the pod timeout, so it was not
    /// counted when sent). `what`: what was asked, for both.
    pub fn gathered<T, E>(&self, gw: &Gateway, answer: Result<T, E>, what: &str) -> Gathered<T, E> {
        for (pod, failure) in &self.failed {
            tracing::warn!(%pod, %failure, what, "pod skipped in list");
            if matches!(failure, PodFailure::Timeout) {
                gw.pods.health().record_failure(
                    pod,
                    format!("no answer to a list of {what} within its deadline"),
                    self.asked_at,
                );
            }
        }
        Gathered {
            answer,
            skipped: self.failed.iter().map(|(p, _)| p.clone()).collect(),
        }
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
