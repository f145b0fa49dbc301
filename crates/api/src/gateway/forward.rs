//! One call to one pod's service on behalf of the caller, and turning the
//! pod's answer into ours.

use axum::body::Body;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::Value;
use tricircle_pods::endpoints::substitute;
use tricircle_pods::{PodError, PodPath, PodRequest};
use tricircle_store::Pod;

use super::rewrite::LinkRewriter;
use super::GatewayState;
use crate::auth::Context;
use crate::error::ApiError;
use crate::observe::RequestId;

/// Request headers a pod should see as the client sent them.
const PASS_REQUEST: &[&str] = &[
    "content-type",
    "accept",
    "openstack-api-version",
    "x-openstack-nova-api-version",
];
/// Response headers the client should see as the pod sent them. A pod's
/// `x-compute-request-id` is the id its Nova records instance actions
/// under (`os-instance-actions/{request_id}`): the client needs that one.
const PASS_RESPONSE: &[&str] = &[
    "content-type",
    "x-compute-request-id",
    "openstack-api-version",
    "x-openstack-nova-api-version",
    "vary",
    "retry-after",
];

pub struct PodCall<'a> {
    pub pod: &'a Pod,
    pub service_type: &'static str,
    pub method: Method,
    /// Relative to the service's catalog URL, e.g. `servers/detail`.
    pub path: PodPath,
    pub query: Option<String>,
    /// The client's headers; only those a pod needs are passed.
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

    /// The client's response: the pod's status and body (JSON bodies have
    /// their links rewritten and then `edit` applied), the pod's API headers
    /// and a rewritten `Location`.
    pub fn respond(self, edit: impl FnOnce(&mut Value)) -> Response {
        let body = match serde_json::from_slice::<Value>(&self.body) {
            Ok(mut v) => {
                self.links.rewrite_json(&mut v);
                edit(&mut v);
                Bytes::from(serde_json::to_vec(&v).unwrap_or_default())
            }
            Err(_) => self.body.clone(),
        };
        let mut resp = Response::new(Body::from(body));
        *resp.status_mut() = self.status;
        for name in PASS_RESPONSE {
            if let Some(v) = self.headers.get(*name) {
                resp.headers_mut()
                    .insert(HeaderName::from_static(name), v.clone());
            }
        }
        if let Some(loc) = self.headers.get("location").and_then(|v| v.to_str().ok()) {
            let loc = self.links.rewrite(loc).unwrap_or_else(|| loc.to_string());
            if let Ok(v) = HeaderValue::from_str(&loc) {
                resp.headers_mut().insert("location", v);
            }
        }
        resp
    }
}

/// Why a call to a pod has no answer to use.
#[derive(Debug)]
pub enum CallError {
    /// This instance's own cap on calls to the pod had no free slot in
    /// time: we are overloaded, the pod is not at fault.
    Busy(ApiError),
    /// Anything else: the pod failed, is down or unreachable, or the
    /// catalog has no endpoint for it.
    Failed(ApiError),
}

impl From<CallError> for ApiError {
    fn from(e: CallError) -> ApiError {
        match e {
            CallError::Busy(e) | CallError::Failed(e) => e,
        }
    }
}

/// Sends `call` to its pod with the caller's token and request id.
pub async fn call(
    state: &GatewayState,
    ctx: &Context,
    rid: &RequestId,
    our_root: &str,
    c: PodCall<'_>,
) -> Result<PodAnswer, ApiError> {
    Ok(try_call(state, ctx, rid, our_root, c).await?)
}

/// Like [`call`], telling our own overload apart from the pod's failures
/// (a list must not pass the one off as the other).
pub async fn try_call(
    state: &GatewayState,
    ctx: &Context,
    rid: &RequestId,
    our_root: &str,
    call: PodCall<'_>,
) -> Result<PodAnswer, CallError> {
    let mut headers = HeaderMap::new();
    for name in PASS_REQUEST {
        if let Some(v) = call.headers.get(*name) {
            headers.insert(HeaderName::from_static(name), v.clone());
        }
    }
    let template = state
        .pods
        .resolver()
        .endpoint(&call.pod.pod_name, call.service_type)
        .await
        .map_err(|e| CallError::Failed(pod_error(&call.pod.pod_name, PodError::Endpoint(e))))?;
    let links = LinkRewriter::new(&substitute(&template, &ctx.project_id), our_root);
    let req = PodRequest {
        pod: call.pod.pod_name.clone(),
        service_type: call.service_type.to_string(),
        method: call.method,
        path: call.path,
        query: call.query,
        token: ctx.token.to_string(),
        project_id: ctx.project_id.clone(),
        request_id: Some(rid.0.clone()),
        headers,
        body: call.body,
    };
    let answer = state.pods.send(&req).await.map_err(|e| match e {
        PodError::Busy { .. } => CallError::Busy(pod_error(&call.pod.pod_name, e)),
        e => CallError::Failed(pod_error(&call.pod.pod_name, e)),
    })?;
    match answer.status {
        // The pods share our Keystone: a token one refuses was revoked
        // since we cached it. Its answer stands (the caller's 401).
        401 => state.auth.forget(&ctx.token).await,
        // The pod is failing, not the request: the service is unavailable.
        500 | 502..=504 => return Err(CallError::Failed(pod_failing(&call.pod.pod_name, &answer))),
        _ => {}
    }
    Ok(PodAnswer {
        status: StatusCode::from_u16(answer.status).unwrap_or(StatusCode::BAD_GATEWAY),
        headers: answer.headers,
        body: answer.body,
        links,
    })
}

/// A pod answering 5xx: 503 in the API's format, with the pod's message.
fn pod_failing(pod: &str, answer: &tricircle_pods::PodResponse) -> ApiError {
    let text = String::from_utf8_lossy(&answer.body);
    tracing::warn!(%pod, status = answer.status, body = %text, "pod failed a call");
    let detail = serde_json::from_slice::<Value>(&answer.body)
        .ok()
        .and_then(|v| fault_message(&v))
        .map(|m| format!(": {m}"))
        .unwrap_or_default();
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        format!("Pod {pod} is unavailable (HTTP {}){detail}", answer.status),
    )
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

/// A pod that cannot be reached is the service being unavailable (503 with
/// `Retry-After`: when a down pod's next trial is due), in the API's error
/// format; the detail goes to the log.
pub fn pod_error(pod: &str, e: PodError) -> ApiError {
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
    ApiError::unavailable(message, retry_after)
}

impl IntoResponse for PodAnswer {
    fn into_response(self) -> Response {
        self.respond(|_| {})
    }
}

/// Like [`call`], as Tricircle's service user (admin in its project): for
/// work the caller may not be allowed to do, such as creating a flavor or a
/// volume type in a pod.
pub async fn call_as_service(
    state: &GatewayState,
    rid: &RequestId,
    our_root: &str,
    c: PodCall<'_>,
) -> Result<PodAnswer, ApiError> {
    let (token, project_id) = state.keystone.service_session().await.map_err(|e| {
        tracing::error!(error = %e, "service authentication failed");
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "Tricircle could not authenticate to the identity service.",
        )
    })?;
    let ctx = Context {
        user_id: String::new(),
        project_id,
        roles: vec!["admin".to_string()],
        token: token.into(),
        refused_write: None,
    };
    call(state, &ctx, rid, our_root, c).await
}
