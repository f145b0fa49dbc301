//! The network API: Tricircle's own Neutron v2.0 (port 9696). Resources
//! live in the top store ([`tricircle_network::Neutron`]); this module
//! parses requests, authenticates them, and answers in Neutron's shapes
//! and error bodies (`{"NeutronError": {"type", "message", "detail"}}`).

mod error;
mod quotas;
mod resources;
mod routers;

use axum::body::Body;
use axum::extract::{Path, Request};
use axum::http::{HeaderMap, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use axum::{Json, Router};
use serde_json::{json, Value};
use tower::Layer;
use tricircle_network::{Neutron, Scope};

pub use self::error::{status_of, NetError};
use self::resources::Collection;
use crate::gateway::{our_root, GatewayState};

#[derive(Clone)]
pub struct NetworkState {
    pub gateway: GatewayState,
    pub neutron: Neutron,
}

/// The caller, as the domain sees it.
pub(crate) struct Caller {
    pub scope: Scope,
    /// A write the caller's roles do not allow, refused once the resource
    /// is found (see [`crate::auth::Context::refused_write`]).
    pub refused_write: Option<String>,
    /// `http://<host>` the client used, for links.
    pub root: String,
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Caller {
    type Rejection = NetError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _state: &S,
    ) -> Result<Self, Self::Rejection> {
        let Some(ctx) = parts.extensions.get::<crate::auth::Context>() else {
            tracing::error!("network route without authentication layer");
            return Err(NetError(tricircle_network::NeutronError::internal()));
        };
        Ok(Caller {
            scope: Scope {
                project_id: ctx.project_id.clone(),
                user_id: ctx.user_id.clone(),
                is_admin: ctx.is_admin(),
            },
            refused_write: ctx.refused_write.clone(),
            root: our_root(&parts.headers),
        })
    }
}

pub fn network_router(state: NetworkState) -> Router {
    let mut protected = Router::new()
        .route("/v2.0", get(resources_doc))
        .route("/v2.0/", get(resources_doc))
        .route(
            "/v2.0/availability_zones",
            get(resources::availability_zones),
        )
        .route("/v2.0/extensions", get(extensions))
        .route("/v2.0/extensions/{alias}", get(extension))
        .route("/v2.0/quotas", get(quotas::list))
        .route(
            "/v2.0/quotas/{project}",
            get(quotas::show).put(quotas::update).delete(quotas::delete),
        )
        .route("/v2.0/quotas/{project}/default", get(quotas::defaults))
        .route("/v2.0/quotas/{project}/details", get(quotas::details));
    // One literal route per action, as the fuzz's route table reads them.
    use routers::RouterAction as A;
    protected = protected
        .route(
            "/v2.0/routers/{id}/add_router_interface",
            put(|st, caller, id, body| routers::act(st, caller, id, body, A::AddInterface)),
        )
        .route(
            "/v2.0/routers/{id}/remove_router_interface",
            put(|st, caller, id, body| routers::act(st, caller, id, body, A::RemoveInterface)),
        )
        .route(
            "/v2.0/routers/{id}/add_extraroutes",
            put(|st, caller, id, body| routers::act(st, caller, id, body, A::AddExtraRoutes)),
        )
        .route(
            "/v2.0/routers/{id}/remove_extraroutes",
            put(|st, caller, id, body| routers::act(st, caller, id, body, A::RemoveExtraRoutes)),
        );
    for c in Collection::ALL {
        protected = protected
            .route(
                &format!("/v2.0/{}", c.path()),
                get(move |st, caller, q| resources::list(st, caller, q, c))
                    .post(move |st, caller, body| resources::create(st, caller, body, c)),
            )
            .route(
                &format!("/v2.0/{}/{{id}}", c.path()),
                get(move |st, caller, id, q| resources::show(st, caller, id, q, c))
                    .put(move |st, caller, id, body| resources::update(st, caller, id, body, c))
                    .delete(move |st, caller, id| resources::delete(st, caller, id, c)),
            );
    }
    let protected = protected.route_layer(middleware::from_fn_with_state(
        state.gateway.auth.clone(),
        authenticate,
    ));
    let max_body = state.gateway.max_body_size;
    let inner = crate::shell::common_layers(
        Router::new().route("/", get(versions)).merge(protected),
        "network",
        max_body,
    )
    .with_state(state);
    // `/v2.0/networks.json` is `/v2.0/networks`; errors from the shared
    // shell (404, 405, 413, 500) get Neutron's body.
    let suffix = middleware::from_fn(strip_json_suffix);
    let faults = middleware::map_response(error::neutron_fault_body);
    Router::new().fallback_service(faults.layer(suffix.layer(inner)))
}

/// The gateways' authentication, with Neutron's `PolicyNotAuthorized` for
/// a reader's write (`create_network`, `update_port`, ...).
async fn authenticate(
    axum::extract::State(auth): axum::extract::State<std::sync::Arc<crate::auth::Authenticator>>,
    req: Request<Body>,
    next: Next,
) -> Response {
    crate::gateway::authenticate_with(&auth, req, next, |action| {
        NetError(tricircle_network::NeutronError::policy(&policy_rule(
            action,
        )))
        .into_response()
    })
    .await
}

/// Neutron's rule name for `METHOD /v2.0/<collection>[/{id}]`, or a
/// member action's own (`add_router_interface`).
pub(crate) fn policy_rule(action: &str) -> String {
    let (method, route) = action.split_once(' ').unwrap_or(("", action));
    if let Some(member_action) = route.trim_start_matches("/v2.0/").split('/').nth(2) {
        return member_action.to_string();
    }
    let verb = match method {
        "POST" => "create",
        "PUT" => "update",
        "DELETE" => "delete",
        _ => "change",
    };
    let collection = route
        .trim_start_matches("/v2.0/")
        .split('/')
        .next()
        .unwrap_or("");
    let singular = collection
        .strip_suffix('s')
        .unwrap_or(collection)
        .replace('-', "_");
    format!("{verb}_{singular}")
}

/// Neutron accepts a `.json` suffix on every resource path.
async fn strip_json_suffix(mut req: Request<Body>, next: Next) -> Response {
    let path = req.uri().path();
    if let Some(stripped) = path.strip_suffix(".json") {
        let pq = match req.uri().query() {
            Some(q) => format!("{stripped}?{q}"),
            None => stripped.to_string(),
        };
        if let Ok(uri) = pq.parse::<Uri>() {
            *req.uri_mut() = uri;
        }
    }
    next.run(req).await
}

fn version_doc(root: &str) -> Value {
    json!({
        "id": "v2.0",
        "status": "CURRENT",
        "links": [{"href": format!("{root}/v2.0/"), "rel": "self"}],
    })
}

/// `GET /`: the one version, as Neutron lists it.
async fn versions(headers: HeaderMap) -> Json<Value> {
    Json(json!({"versions": [version_doc(&our_root(&headers))]}))
}

/// `GET /v2.0`: the resources of the API.
async fn resources_doc(caller: Caller) -> Json<Value> {
    let mut resources: Vec<Value> = Collection::ALL
        .iter()
        .map(|c| (c.singular(), c.plural(), c.path()))
        .chain([
            (
                "availability_zone",
                "availability_zones",
                "availability_zones",
            ),
            ("extension", "extensions", "extensions"),
            ("quota", "quotas", "quotas"),
        ])
        .map(|(name, collection, path)| {
            json!({
                "name": name,
                "collection": collection,
                "links": [{"href": format!("{}/v2.0/{path}", caller.root), "rel": "self"}],
            })
        })
        .collect();
    resources.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
    Json(json!({"resources": resources}))
}

async fn extensions(_caller: Caller) -> Json<Value> {
    Json(json!({"extensions": tricircle_network::extensions::list()}))
}

async fn extension(_caller: Caller, Path(alias): Path<String>) -> Response {
    match tricircle_network::extensions::get(&alias) {
        Some(e) => Json(json!({"extension": e})).into_response(),
        None => NetError(tricircle_network::NeutronError::not_found(
            "HTTPNotFound",
            format!("Extension with alias {alias} does not exist"),
        ))
        .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_rules_are_neutron_names() {
        assert_eq!(policy_rule("POST /v2.0/networks"), "create_network");
        assert_eq!(
            policy_rule("PUT /v2.0/security-group-rules/{id}"),
            "update_security_group_rule"
        );
        assert_eq!(policy_rule("DELETE /v2.0/quotas/{project}"), "delete_quota");
        assert_eq!(
            policy_rule("PUT /v2.0/routers/{id}/add_router_interface"),
            "add_router_interface"
        );
        assert_eq!(
            policy_rule("PUT /v2.0/floatingips/{id}"),
            "update_floatingip"
        );
    }

    #[test]
    fn documents() {
        let v = version_doc("http://h:9696");
        assert_eq!(v["links"][0]["href"], "http://h:9696/v2.0/");
    }
}
