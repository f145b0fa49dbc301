//! The per-pod side of a list across pods, shared by the compute and volume
//! lists: which pods to ask, one page of one pod (the caller's token, the
//! pod's links made ours), the fan-out with its deadline and strict mode
//! ([`tricircle_pods::fanout::list_across`]), and what to make of the pods
//! that failed. Rendering the page (next links, the skipped-pods header)
//! is the API's.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;

use http::Method;
use serde_json::Value;
use tricircle_pods::fanout::{list_across, ListOutcome, ListRequest, PageQuery, PodFailure};
use tricircle_pods::PodPath;
use tricircle_store::Pod;

use crate::caller::Caller;
use crate::error::GatewayError;
use crate::pod_call::{fault_message, CallError, PodCall};
use crate::Gateway;
use tricircle_core::ResourceType;

/// Why one pod's page is missing.
#[derive(Debug)]
pub enum PageError {
    /// The pod refused the request (4xx): the client's mistake or token,
    /// the same in every pod.
    Refused { status: u16, message: String },
    /// The pod failed or could not be reached.
    Failed(String),
    /// Our own cap on calls to the pod had no free slot in time: this
    /// instance is overloaded (the answer to give: a 503 to retry).
    Shed(GatewayError),
}

impl fmt::Display for PageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PageError::Refused { status, message } => write!(f, "HTTP {status}: {message}"),
            PageError::Failed(why) => f.write_str(why),
            PageError::Shed(e) => write!(f, "{e}"),
        }
    }
}

impl From<CallError> for PageError {
    fn from(e: CallError) -> PageError {
        match e {
            CallError::Busy(e) => PageError::Shed(e),
            CallError::Failed(e) => PageError::Failed(e.to_string()),
        }
    }
}

/// Why a list across pods has no page to show.
#[derive(Debug)]
pub enum ListError {
    /// A pod refused the caller's token: the pods share our Keystone, so
    /// the token was revoked; the answer is the caller's 401, not a list
    /// with that pod missing.
    TokenRefused,
    /// A list failed for a reason of its own (the gateway's).
    Gateway(GatewayError),
}

impl From<GatewayError> for ListError {
    fn from(e: GatewayError) -> ListError {
        ListError::Gateway(e)
    }
}

/// One page of a list across pods.
#[derive(Debug)]
pub struct Listed {
    /// Sorted, at most the limit asked.
    pub items: Vec<Value>,
    /// Where each pod's part of the list continues (for the next link).
    pub next_hints: HashMap<String, String>,
    /// The limit was reached and more items may follow.
    pub more: bool,
    /// The pods that had to be skipped (they failed or were too slow).
    pub skipped: Vec<String>,
    /// The skipped pods that refused the request (4xx), in the order of
    /// `skipped`: when every pod refused, the refusal may be the answer.
    pub refused: Vec<Refusal>,
}

/// A pod's refusal of one list request.
#[derive(Debug, Clone)]
pub struct Refusal {
    pub pod: String,
    pub status: u16,
    pub message: String,
}

/// How a list treats the pods that fail.
#[derive(Debug, Clone, Copy)]
pub struct ListHow<'a> {
    /// What is listed, for the log and the pods' health.
    pub what: &'a str,
    /// A strict list fails with a pod's refusal (4xx) as it is, rather
    /// than as unavailable.
    pub pass_refusals: bool,
}

/// One pod's page: GET `path?query` of `service_type`.
pub struct PageCall<'a> {
    pub pod: &'a Pod,
    pub service_type: &'static str,
    pub path: PodPath,
    /// The query sent as it is (filters, sort, the pod's limit and marker).
    pub query: Vec<(String, String)>,
    /// The key of the answer's array (`servers`, `volumes`, ...).
    pub key: &'a str,
}

impl Gateway {
    /// The pods a list asks: where `project_id` has resources of
    /// `resource_type` (every bottom pod when `all_tenants`), in `az` when
    /// given.
    pub async fn pods_to_list(
        &self,
        project_id: &str,
        resource_type: ResourceType,
        all_tenants: bool,
        az: Option<&str>,
    ) -> Result<Vec<Pod>, GatewayError> {
        let all = self.bottom_pods().await?;
        let wanted: Vec<String> = if all_tenants {
            all.iter().map(|p| p.pod_id.clone()).collect()
        } else {
            self.store
                .pods_with_resources(project_id, resource_type)
                .await?
        };
        Ok(all
            .into_iter()
            .filter(|p| wanted.contains(&p.pod_id))
            .filter(|p| az.is_none_or(|az| p.az_name == az))
            .collect())
    }

    /// One pod's page, the items with the pod's links made ours.
    pub async fn fetch_page(
        &self,
        caller: &Caller,
        page: PageCall<'_>,
    ) -> Result<Vec<Value>, PageError> {
        let qs = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(page.query)
            .finish();
        let answer = self
            .try_call(
                caller,
                PodCall {
                    pod: page.pod,
                    service_type: page.service_type,
                    method: Method::GET,
                    path: page.path,
                    query: Some(qs),
                    headers: &caller.pass_headers,
                    body: None,
                },
            )
            .await?;
        if answer.status.is_client_error() {
            let message = answer
                .json()
                .as_ref()
                .and_then(fault_message)
                .unwrap_or_default();
            return Err(PageError::Refused {
                status: answer.status.as_u16(),
                message,
            });
        }
        if !answer.is_success() {
            return Err(PageError::Failed(format!(
                "HTTP {}: {}",
                answer.status,
                String::from_utf8_lossy(&answer.body)
            )));
        }
        let mut doc = answer
            .json()
            .ok_or_else(|| PageError::Failed("not JSON".into()))?;
        answer.links.rewrite_json(&mut doc);
        match doc.get_mut(page.key).map(Value::take) {
            Some(Value::Array(a)) => Ok(a),
            _ => Err(PageError::Failed(format!("no {} array", page.key))),
        }
    }

    /// Lists across `pods` with `fetch` (one page of one pod), as `req`
    /// says. A pod refusing the token fails the list (the caller's 401), as
    /// does our own overload; a strict list fails with its first failing
    /// pod; other failing pods are skipped, logged, and named in
    /// [`Listed::skipped`] (`what`: what was listed, for the log and the
    /// pods' health).
    pub async fn list_pods<F, Fut>(
        &self,
        pods: &[Pod],
        req: &ListRequest,
        what: &str,
        fetch: F,
    ) -> Result<Listed, ListError>
    where
        F: Fn(Pod, PageQuery) -> Fut,
        Fut: Future<Output = Result<Vec<Value>, PageError>>,
    {
        let how = ListHow {
            what,
            pass_refusals: false,
        };
        self.list_pods_with(pods, req, how, fetch).await
    }

    /// [`Gateway::list_pods`], failing pods treated as `how` says.
    pub async fn list_pods_with<F, Fut>(
        &self,
        pods: &[Pod],
        req: &ListRequest,
        how: ListHow<'_>,
        fetch: F,
    ) -> Result<Listed, ListError>
    where
        F: Fn(Pod, PageQuery) -> Fut,
        Fut: Future<Output = Result<Vec<Value>, PageError>>,
    {
        let what = how.what;
        let by_name: HashMap<&str, &Pod> = pods.iter().map(|p| (p.pod_name.as_str(), p)).collect();
        let names: Vec<String> = pods.iter().map(|p| p.pod_name.clone()).collect();
        let fetch = |name: String, page: PageQuery| {
            let pod = by_name.get(name.as_str()).map(|p| (*p).clone());
            let fut = pod.map(|pod| fetch(pod, page));
            async move {
                match fut {
                    Some(f) => f.await,
                    None => Err(PageError::Failed(format!("unknown pod {name}"))),
                }
            }
        };
        let listed_at = self.pods.health().now();
        let outcome: ListOutcome<PageError> = match list_across(&names, fetch, req).await {
            Ok(o) => o,
            Err(f) if token_refused(&f.failure) => return Err(ListError::TokenRefused),
            Err(f) => {
                let e = match shed(f.failure) {
                    Ok(e) => e,
                    Err(PodFailure::Error(PageError::Refused { status, message }))
                        if how.pass_refusals =>
                    {
                        GatewayError::PodRefused { status, message }
                    }
                    Err(failure) => GatewayError::unavailable(
                        format!("Pod {} could not be listed: {failure}", f.pod),
                        std::time::Duration::ZERO,
                    ),
                };
                return Err(ListError::Gateway(e));
            }
        };
        if outcome.failed.iter().any(|(_, f)| token_refused(f)) {
            return Err(ListError::TokenRefused);
        }
        let mut failed = Vec::with_capacity(outcome.failed.len());
        for (pod, f) in outcome.failed {
            match shed(f) {
                Ok(e) => return Err(ListError::Gateway(e)),
                Err(f) => failed.push((pod, f)),
            }
        }
        let mut skipped = Vec::with_capacity(failed.len());
        let mut refused = Vec::new();
        for (pod, failure) in failed {
            if let PodFailure::Error(PageError::Refused { status, message }) = &failure {
                refused.push(Refusal {
                    pod: pod.clone(),
                    status: *status,
                    message: message.clone(),
                });
            }
            tracing::warn!(%pod, %failure, what, "pod skipped in list");
            // Its call was given up before the pod timeout, so it was not
            // counted when sent.
            if matches!(failure, PodFailure::Timeout) {
                self.pods.health().record_failure(
                    &pod,
                    format!("no answer to a list of {what} within its deadline"),
                    listed_at,
                );
            }
            skipped.push(pod);
        }
        Ok(Listed {
            items: outcome.items,
            next_hints: outcome.next_hints,
            more: outcome.more,
            skipped,
            refused,
        })
    }
}

/// The error of a pod lost to our own overload (a 503 to retry, never a
/// list with that pod skipped: the client could not tell the two apart),
/// or the failure back.
fn shed(failure: PodFailure<PageError>) -> Result<GatewayError, PodFailure<PageError>> {
    match failure {
        PodFailure::Error(PageError::Shed(e)) => Ok(e),
        other => Err(other),
    }
}

fn token_refused(failure: &PodFailure<PageError>) -> bool {
    matches!(
        failure,
        PodFailure::Error(PageError::Refused { status: 401, .. })
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_of_the_token_and_our_overload_fail_the_list() {
        let refused = |status| {
            PodFailure::Error(PageError::Refused {
                status,
                message: "no".into(),
            })
        };
        assert!(token_refused(&refused(401)));
        assert!(!token_refused(&refused(400)));
        assert!(!token_refused(&PodFailure::Timeout));
        let busy = PodFailure::Error(PageError::Shed(GatewayError::unavailable(
            "Pod Pod1 is busy; try again later.",
            std::time::Duration::from_secs(2),
        )));
        assert!(shed(busy).is_ok());
        assert!(shed(refused(400)).is_err());
        assert_eq!(
            refused(403).to_string(),
            "HTTP 403: no",
            "a refusal shows as the strict list's reason"
        );
    }
}
