//! Rendering a pod's answer as ours, and the API-side shims over the
//! domain's calls to pods (`tricircle_gateway::pod_call`).

use axum::body::Body;
use axum::response::Response;
use serde_json::Value;

pub use tricircle_gateway::pod_call::{fault_message, CallError, PodAnswer, PodCall};

use super::GatewayState;
use crate::auth::Context;
use crate::error::ApiError;
use crate::observe::RequestId;

/// A pod's answer as the client's response.
pub trait Respond {
    /// The pod's status and body (JSON bodies have their links rewritten
    /// and then `edit` applied), the pod's API headers and a rewritten
    /// `Location`.
    fn respond(self, edit: impl FnOnce(&mut Value)) -> Response;

    /// The answer as it is, links rewritten.
    fn into_response(self) -> Response
    where
        Self: Sized,
    {
        self.respond(|_| {})
    }
}

impl Respond for PodAnswer {
    fn respond(self, edit: impl FnOnce(&mut Value)) -> Response {
        let (status, headers, body) = self.presented(edit);
        let mut resp = Response::new(Body::from(body));
        *resp.status_mut() = status;
        *resp.headers_mut() = headers;
        resp
    }
}

/// The domain's view of the caller of this request.
pub fn caller(ctx: &Context, rid: &RequestId, our_root: &str) -> tricircle_gateway::Caller {
    tricircle_gateway::Caller {
        user_id: ctx.user_id.clone(),
        project_id: ctx.project_id.clone(),
        roles: ctx.roles.clone(),
        token: ctx.token.clone(),
        request_id: rid.0.clone(),
        root: our_root.to_string(),
        refused_write: ctx.refused_write.clone(),
        pass_headers: Default::default(),
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
    Ok(state.gateway.call(&caller(ctx, rid, our_root), c).await?)
}

/// Like [`call`], as Tricircle's service user (admin in its project).
pub async fn call_as_service(
    state: &GatewayState,
    rid: &RequestId,
    our_root: &str,
    c: PodCall<'_>,
) -> Result<PodAnswer, ApiError> {
    let nobody = Context {
        user_id: String::new(),
        project_id: String::new(),
        roles: Vec::new(),
        token: "".into(),
        refused_write: None,
    };
    Ok(state
        .gateway
        .call_as_service(&caller(&nobody, rid, our_root), c)
        .await?)
}
