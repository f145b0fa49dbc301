//! What the compute and volume gateways share: the state, forwarding to a
//! pod and rewriting its answer, the optional project id in URLs, and
//! choosing a pod.

pub mod forward;
pub mod listing;
pub mod project_path;
pub mod subresource;

pub use tricircle_gateway::{rewrite, scheduler, versions};
pub use tricircle_gateway::{Gateway, SKIPPED_PODS_HEADER, STRICT_LIST_HEADER};

use std::sync::Arc;

use crate::auth::Authenticator;

/// What the compute and volume APIs hold: the domain below them, and what
/// only HTTP needs (authentication, the body limit).
#[derive(Clone)]
pub struct GatewayState {
    pub gateway: Gateway,
    pub auth: Arc<Authenticator>,
    /// Largest accepted request body, bytes.
    pub max_body_size: usize,
}

impl GatewayState {
    /// The state of the compute and volume APIs over `gateway`; a pod that
    /// refuses a token makes `auth`'s token cache forget it.
    pub fn new(
        mut gateway: Gateway,
        auth: Arc<Authenticator>,
        max_body_size: usize,
    ) -> GatewayState {
        if let Authenticator::Keystone { validator, .. } = auth.as_ref() {
            gateway.tokens = Some(validator.clone());
        }
        GatewayState {
            gateway,
            auth,
            max_body_size,
        }
    }
}

impl std::ops::Deref for GatewayState {
    type Target = Gateway;
    fn deref(&self) -> &Gateway {
        &self.gateway
    }
}

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use self::project_path::UrlProject;
use crate::error::ApiError;

/// Authentication for the compute and volume gateways: the token, then
/// the project id of the URL (if any) must be the token's, as Nova and
/// Cinder require; a caller without the `member` role only reads.
pub async fn authenticate(
    State(auth): State<Arc<Authenticator>>,
    req: Request,
    next: Next,
) -> Response {
    authenticate_with(&auth, req, next, |action| {
        ApiError::forbidden(action).into_response()
    })
    .await
}

/// [`authenticate`], with the service's own 403 for a reader's write
/// (`forbidden` gets the action refused, `METHOD /route/pattern`).
pub async fn authenticate_with(
    auth: &Authenticator,
    req: Request,
    next: Next,
    forbidden: impl FnOnce(&str) -> Response,
) -> Response {
    let (mut parts, body) = req.into_parts();
    let ctx = match auth.authenticate(&parts).await {
        Ok(ctx) => ctx,
        Err(resp) => return resp,
    };
    if let Some(UrlProject(p)) = parts.extensions.get::<UrlProject>() {
        if *p != ctx.project_id {
            return ApiError::bad_request(format!(
                "Malformed request URL: URL's project_id '{p}' doesn't match Context's project_id '{}'",
                ctx.project_id
            ))
            .into_response();
        }
    }
    let route = parts
        .extensions
        .get::<axum::extract::MatchedPath>()
        .map(|m| m.as_str().to_string())
        .unwrap_or_else(|| parts.uri.path().to_string());
    let mut ctx = ctx;
    if writes_need_member(&parts.method, &route) && !ctx.can_write() {
        let action = format!("{} {route}", parts.method);
        if !looked_up_first(&route) {
            return forbidden(&action);
        }
        ctx.refused_write = Some(action);
    }
    parts.extensions.insert(ctx);
    next.run(Request::from_parts(parts, body)).await
}

/// Whether the call changes something that OpenStack's default policies
/// give to the project's `member` (Nova, Cinder and Neutron alike), not
/// to a `reader`. Keypairs belong to their user, whatever the role.
fn writes_need_member(method: &axum::http::Method, route: &str) -> bool {
    use axum::http::Method;
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
        && !route.starts_with("/v2.1/os-keypairs")
}

/// Routes whose handler finds the resource before anything else (through
/// [`routed_pod`], or the network's own lookup), and refuses a reader's
/// write there: another project's resource must stay a 404.
fn looked_up_first(route: &str) -> bool {
    [
        "/v2.1/servers/{id}",
        "/v3/volumes/{id}",
        "/v3/snapshots/{id}",
        "/v3/backups/{id}",
        "/v2.1/os-server-groups/{id}",
    ]
    .iter()
    .any(|p| route.starts_with(p))
        || (route.starts_with("/v2.0/") && route.ends_with("/{id}"))
        || route.starts_with("/v2.0/routers/{id}/")
}

/// `http://<host>` of the request, for links in answers.
pub fn our_root(headers: &axum::http::HeaderMap) -> String {
    crate::admin::base_url(headers)
}

/// What every gateway handler needs to know about its request.
#[derive(Clone)]
pub struct Call {
    pub ctx: crate::auth::Context,
    pub rid: crate::observe::RequestId,
    pub headers: axum::http::HeaderMap,
    /// `http://<host>` the client used, for links.
    pub root: String,
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Call {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        let ctx = crate::auth::Context::from_request_parts(parts, state).await?;
        let rid = parts
            .extensions
            .get::<crate::observe::RequestId>()
            .cloned()
            .unwrap_or_else(|| crate::observe::RequestId(format!("req-{}", uuid::Uuid::new_v4())));
        Ok(Call {
            ctx,
            rid,
            root: our_root(&parts.headers),
            headers: parts.headers.clone(),
        })
    }
}

/// The version a request asks of `service` in `OpenStack-API-Version`
/// (`compute 2.47`, or several comma-separated entries for several
/// services), as written.
pub fn requested_version(headers: &axum::http::HeaderMap, service: &str) -> Option<String> {
    headers
        .get_all("openstack-api-version")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .find_map(|item| {
            let mut parts = item.split_whitespace();
            match parts.next() {
                Some(s) if s.eq_ignore_ascii_case(service) => {
                    Some(parts.collect::<Vec<_>>().join(" "))
                }
                _ => None,
            }
        })
}

/// The domain's caller of a request; the pods see the client's content
/// type and microversion.
pub fn domain_caller(c: &Call) -> tricircle_gateway::Caller {
    let mut caller = forward::caller(&c.ctx, &c.rid, &c.root);
    caller.pass_headers = tricircle_gateway::pod_call::pass_headers(&c.headers);
    caller
}
