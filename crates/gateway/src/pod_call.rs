//! One call to one pod's service on behalf of a caller, and the pod's
//! answer with what is needed to present it as ours.

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use serde_json::Value;
use tricircle_pods::endpoints::substitute;
use tricircle_pods::{PodError, PodPath, PodRequest, PodResponse};
use tricircle_store::Pod;

use crate::caller::Caller;
use crate::error::GatewayError;
use crate::rewrite::LinkRewriter;
use crate::Gateway;

/// Request headers a pod should see as the client sent them.
pub const PASS_REQUEST: &[&str] = &[
    "content-type",
    "accept",
    "openstack-api-version",
    "x-openstack-nova-api-version",
];
/// Response headers the client should see as the pod sent them. A pod's
/// `x-compute-request-id` is the id its Nova records instance actions
/// under (`os-instance-actions/{request_id}`): the client needs that one.
pub const PASS_RESPONSE: &[&str] = &[
    "content-type",
    "x-compute-request-id",
    "openstack-api-version",
    "x-openstack-nova-api-version",
    "vary",
    "retry-after",
];

/// The headers of `from` a pod should see.
pub fn pass_headers(from: &HeaderMap) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for name in PASS_REQUEST {
        if let Some(v) = from.get(*name) {
            headers.insert(HeaderName::from_static(name), v.clone());
        }
    }
    headers
}

pub struct PodCall<'a> {
    pub pod: &'a Pod,
    pub service_type: &'static str,
    pub method: Method,
    /// Relative to the service's catalog URL, e.g. `servers/detail`.
    pub path: PodPath,
    pub query: Option<String>,
    /// Headers for the pod; only those in [`PASS_REQUEST`] are sent.
    pub headers: &'a HeaderMap,
    pub body: Option<Bytes>,
}

/// A pod's answer, with what is needed to present it as ours.
pub struct PodAnswer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub links: LinkRewriter,
}

impl PodAnswer {
    pub fn json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }

    pub fn is_success(&self) -> bool {
        self.status.is_success()
    }

    /// The answer as the client sees it: the pod's status, its body (JSON
    /// bodies with links rewritten and then `edit` applied), the pod's API
    /// headers and a rewritten `Location`.
    pub fn presented(self, edit: impl FnOnce(&mut Value)) -> (StatusCode, HeaderMap, Bytes) {
        let body = match serde_json::from_slice::<Value>(&self.body) {
            Ok(mut v) => {
                self.links.rewrite_json(&mut v);
                edit(&mut v);
                Bytes::from(serde_json::to_vec(&v).unwrap_or_default())
            }
            Err(_) => self.body.clone(),
        };
        let mut headers = HeaderMap::new();
        for name in PASS_RESPONSE {
            if let Some(v) = self.headers.get(*name) {
                headers.insert(HeaderName::from_static(name), v.clone());
            }
        }
        if let Some(loc) = self.headers.get("location").and_then(|v| v.to_str().ok()) {
            let loc = self.links.rewrite(loc).unwrap_or_else(|| loc.to_string());
            if let Ok(v) = HeaderValue::from_str(&loc) {
                headers.insert("location", v);
            }
        }
        (self.status, headers, body)
    }

    /// The message of the pod's error body, if it has one.
    pub fn fault_message(&self) -> Option<String> {
        self.json().as_ref().and_then(fault_message)
    }
}

/// Why a call to a pod has no answer to use.
#[derive(Debug)]
pub enum CallError {
    /// This instance's own cap on calls to the pod had no free slot in
    /// time: we are overloaded, the pod is not at fault.
    Busy(GatewayError),
    /// Anything else: the pod failed, is down or unreachable, or the
    /// catalog has no endpoint for it.
    Failed(GatewayError),
}

impl From<CallError> for GatewayError {
    fn from(e: CallError) -> GatewayError {
        match e {
            CallError::Busy(e) | CallError::Failed(e) => e,
        }
    }
}

impl Gateway {
    /// Sends `call` to its pod with the caller's token and request id.
    pub async fn call(&self, caller: &Caller, c: PodCall<'_>) -> Result<PodAnswer, GatewayError> {
        Ok(self.try_call(caller, c).await?)
    }

    /// Like [`Gateway::call`], telling our own overload apart from the
    /// pod's failures (a list must not pass the one off as the other).
    pub async fn try_call(
        &self,
        caller: &Caller,
        call: PodCall<'_>,
    ) -> Result<PodAnswer, CallError> {
        let template = self
            .pods
            .resolver()
            .endpoint(&call.pod.pod_name, call.service_type)
            .await
            .map_err(|e| CallError::Failed(pod_error(&call.pod.pod_name, PodError::Endpoint(e))))?;
        let links = LinkRewriter::new(&substitute(&template, &caller.project_id), &caller.root);
        let req = PodRequest {
            pod: call.pod.pod_name.clone(),
            service_type: call.service_type.to_string(),
            method: call.method,
            path: call.path,
            query: call.query,
            token: caller.token.to_string(),
            project_id: caller.project_id.clone(),
            request_id: Some(caller.request_id.clone()),
            headers: pass_headers(call.headers),
            body: call.body,
        };
        let answer = self.pods.send(&req).await.map_err(|e| match e {
            PodError::Busy { .. } => CallError::Busy(pod_error(&call.pod.pod_name, e)),
            e => CallError::Failed(pod_error(&call.pod.pod_name, e)),
        })?;
        match answer.status {
            // The pods share our Keystone: a token one refuses was revoked
            // since we cached it. Its answer stands (the caller's 401).
            401 => {
                if let Some(tokens) = &self.tokens {
                    tokens.forget(&caller.token).await;
                }
            }
            // The pod is failing, not the request: the service is unavailable.
            500 | 502..=504 => {
                return Err(CallError::Failed(pod_failing(&call.pod.pod_name, &answer)))
            }
            _ => {}
        }
        Ok(PodAnswer {
            status: StatusCode::from_u16(answer.status).unwrap_or(StatusCode::BAD_GATEWAY),
            headers: answer.headers,
            body: answer.body,
            links,
        })
    }

    /// The caller acting as Tricircle's service user (admin in its
    /// project), for work the caller may not be allowed to do, such as
    /// creating a flavor or a volume type in a pod.
    pub async fn service_caller(&self, caller: &Caller) -> Result<Caller, GatewayError> {
        let (token, project_id) = self.keystone.service_session().await.map_err(|e| {
            tracing::error!(error = %e, "service authentication failed");
            GatewayError::unavailable(
                "Tricircle could not authenticate to the identity service.",
                std::time::Duration::ZERO,
            )
        })?;
        Ok(caller.as_service(token.into(), project_id))
    }

    /// Like [`Gateway::call`], as Tricircle's service user.
    pub async fn call_as_service(
        &self,
        caller: &Caller,
        c: PodCall<'_>,
    ) -> Result<PodAnswer, GatewayError> {
        let service = self.service_caller(caller).await?;
        self.call(&service, c).await
    }
}

/// A pod answering 5xx: unavailable, with the pod's message.
fn pod_failing(pod: &str, answer: &PodResponse) -> GatewayError {
    let text = String::from_utf8_lossy(&answer.body);
    tracing::warn!(%pod, status = answer.status, body = %text, "pod failed a call");
    let detail = serde_json::from_slice::<Value>(&answer.body)
        .ok()
        .and_then(|v| fault_message(&v))
        .map(|m| format!(": {m}"))
        .unwrap_or_default();
    GatewayError::Unavailable {
        message: format!("Pod {pod} is unavailable (HTTP {}){detail}", answer.status),
        retry_after: std::time::Duration::ZERO,
    }
}

/// The message of an OpenStack error body, whatever its wrapper
/// (`{"computeFault": {"message"}}`, `{"error": {"message"}}`,
/// `{"NeutronError": {"message"}}`).
pub fn fault_message(body: &Value) -> Option<String> {
    body.as_object()?
        .values()
        .find_map(|inner| inner.get("message").and_then(Value::as_str))
        .map(str::to_string)
}

/// A pod that cannot be reached is the service being unavailable (with a
/// retry hint: when a down pod's next trial is due); the detail goes to
/// the log.
pub fn pod_error(pod: &str, e: PodError) -> GatewayError {
    tracing::warn!(%pod, error = %e, "pod call failed");
    let retry_after = e.retry_after();
    let message = match e {
        PodError::Endpoint(_) => {
            format!("Pod {pod} has no endpoint for this service in the catalog.")
        }
        PodError::Timeout { .. } => format!("Pod {pod} did not answer in time."),
        PodError::Unreachable { .. } => format!("Pod {pod} is unreachable."),
        PodError::Down { .. } => {
            format!("Pod {pod} is down; requests to it are refused until it recovers.")
        }
        PodError::Busy { .. } => format!("Pod {pod} is busy; try again later."),
    };
    GatewayError::unavailable(message, retry_after)
}
