//! Rendering a pod's answer as ours, and the domain's view of a request's
//! caller.

use axum::body::Body;
use axum::response::Response;
use serde_json::Value;

use tricircle_gateway::PodAnswer;

use crate::auth::Context;
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
