//! What the compute and volume gateways share: the state, forwarding to a
//! pod and rewriting its answer, the optional project id in URLs, and
//! choosing a pod.

pub mod across;
pub mod forward;
pub mod listing;
pub mod project_path;
pub mod rewrite;
pub mod scheduler;
pub mod subresource;
pub mod versions;

use std::sync::Arc;
use std::time::Duration;

use tricircle_pods::PodClient;
use tricircle_store::{Store, Usage};

use crate::auth::Authenticator;

#[derive(Clone)]
pub struct GatewayState {
    pub store: Store,
    pub auth: Arc<Authenticator>,
    pub pods: PodClient,
    /// The top network service and the pods' copies of its resources
    /// (absent: booting on networks is refused).
    pub network: Option<tricircle_network::bottom::Bottom>,
    /// Tricircle's own Keystone session, for admin-only work in pods
    /// (copying flavors and volume types).
    pub keystone: Arc<tricircle_pods::KeystoneClient>,
    /// Largest accepted request body, bytes.
    pub max_body_size: usize,
    /// How long a list waits for any one pod before reporting it skipped.
    pub list_deadline: Duration,
    /// Quotas of projects without their own (negative: unlimited).
    pub quota_defaults: Usage,
    /// The region users see; its catalog holds the image service shared by
    /// the pods.
    pub top_region: String,
    /// The newest API versions the pods speak.
    pub versions: versions::PodVersions,
}

/// The response header naming the pods a cross-pod list had to skip
/// because they failed or did not answer within the deadline.
pub const SKIPPED_PODS_HEADER: &str = "x-tricircle-skipped-pods";
/// A request header: `true` makes a list fail instead of skipping pods.
pub const STRICT_LIST_HEADER: &str = "x-tricircle-strict-list";

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

/// Quota limits of a project: its own, else the defaults.
pub async fn project_limits(state: &GatewayState, project_id: &str) -> Result<Usage, ApiError> {
    let set = state.store.quota_limits(project_id).await?;
    let d = state.quota_defaults;
    let get = |k: &str, default: i64| set.get(k).copied().unwrap_or(default);
    Ok(Usage {
        instances: get("instances", d.instances),
        cores: get("cores", d.cores),
        ram_mb: get("ram", d.ram_mb),
        volumes: get("volumes", d.volumes),
        gigabytes: get("gigabytes", d.gigabytes),
        snapshots: get("snapshots", d.snapshots),
    })
}

/// Where a resource no routing knows any more may still be (a delete the
/// pod is still at, the actions of a deleted server): every bottom pod is
/// asked at once with `ask`, and the first answer in pod order that
/// `wanted` accepts is returned with its pod. A pod that cannot be asked is
/// logged (`what`) and passed over.
pub async fn first_pod_answer<F, Fut>(
    state: &GatewayState,
    what: &str,
    ask: F,
    wanted: impl Fn(&forward::PodAnswer) -> bool,
) -> Option<(forward::PodAnswer, tricircle_store::Pod)>
where
    F: Fn(tricircle_store::Pod) -> Fut,
    Fut: std::future::Future<Output = Result<forward::PodAnswer, ApiError>>,
{
    let pods: Vec<tricircle_store::Pod> = state
        .store
        .list_pods()
        .await
        .ok()?
        .into_iter()
        .filter(|p| !p.is_top())
        .collect();
    let answers = futures::future::join_all(pods.iter().cloned().map(&ask)).await;
    for (pod, answer) in pods.into_iter().zip(answers) {
        match answer {
            Ok(a) if wanted(&a) => return Some((a, pod)),
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(pod = %pod.pod_name, error = ?e.message, "pod not asked about {what}");
            }
        }
    }
    None
}

/// The pod a resource lives in, from its routing. Another project's
/// resource is not found for non-admins.
pub async fn routed_pod(
    state: &GatewayState,
    ctx: &crate::auth::Context,
    resource_type: &str,
    top_id: &str,
) -> Result<Option<(tricircle_store::Routing, tricircle_store::Pod)>, ApiError> {
    let page = state
        .store
        .list_routings(
            &tricircle_store::RoutingFilter {
                top_id: Some(top_id.to_string()),
                resource_type: Some(resource_type.to_string()),
                ..Default::default()
            },
            None,
            1,
        )
        .await?;
    let Some(routing) = page.routings.into_iter().next() else {
        return Ok(None);
    };
    if !ctx.is_admin() && routing.project_id != ctx.project_id {
        return Ok(None);
    }
    let Some(pod) = state.store.find_pod(&routing.pod_id).await? else {
        return Ok(None);
    };
    if let Some(action) = &ctx.refused_write {
        return Err(ApiError::forbidden(action));
    }
    Ok(Some((routing, pod)))
}

/// The AZs of the bottom pods, sorted, each available while one of its pods
/// is not in maintenance.
pub async fn availability_zones(
    store: &tricircle_store::Store,
) -> Result<Vec<(String, bool)>, ApiError> {
    let mut azs: Vec<(String, bool)> = Vec::new();
    for p in store.list_pods().await?.iter().filter(|p| !p.is_top()) {
        match azs.iter_mut().find(|(az, _)| *az == p.az_name) {
            Some((_, available)) => *available |= !p.maintenance,
            None => azs.push((p.az_name.clone(), !p.maintenance)),
        }
    }
    azs.sort();
    Ok(azs)
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
