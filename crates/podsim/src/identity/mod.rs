//! A Keystone v3 subset, close enough to the real thing for python-openstackclient,
//! openstacksdk and keystoneauth: same JSON shapes, headers, status codes and
//! error bodies.
//!
//! Seeded like a fresh devstack: domain `default` (`Default`); roles `admin`
//! (implies `member`, which implies `reader`) and `service`; projects `admin`,
//! `service` and `demo`; users `admin` (admin on `admin`), `tricircle` (the
//! service user: admin and service on `service`) and `demo` (member on
//! `demo`); region `RegionOne` with the `identity` service (`keystone`).

mod catalog;
mod discovery;
mod error;
mod extract;
mod resources;
mod store;
mod tokens;

use std::fmt;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::map_response_with_state;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Value};

use self::error::KsError;
use self::store::{Scope, Store, INTERFACES};

/// Identity server configuration.
#[derive(Clone)]
pub struct IdentityConfig {
    /// Base URL clients reach this server at, without `/v3`, e.g. `http://127.0.0.1:5000`.
    pub public_url: String,
    /// Lifetime of issued tokens.
    pub token_ttl: Duration,
    /// Password of the `admin` user.
    pub admin_password: String,
    /// Password of the `tricircle` service user.
    pub service_password: String,
    /// Password of the `demo` user.
    pub demo_password: String,
}

impl Default for IdentityConfig {
    fn default() -> Self {
        Self {
            public_url: "http://127.0.0.1:5000".into(),
            token_ttl: Duration::from_secs(3600),
            admin_password: "admin-secret".into(),
            service_password: "service-secret".into(),
            demo_password: "demo-secret".into(),
        }
    }
}

impl fmt::Debug for IdentityConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IdentityConfig")
            .field("public_url", &self.public_url)
            .field("token_ttl", &self.token_ttl)
            .field("admin_password", &"***")
            .field("service_password", &"***")
            .field("demo_password", &"***")
            .finish()
    }
}

/// Password credentials for one of the seeded users.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
    pub project_name: String,
    pub user_domain_name: String,
    pub project_domain_name: String,
}

impl Credentials {
    fn new(username: &str, password: &str, project_name: &str) -> Self {
        Self {
            username: username.into(),
            password: password.into(),
            project_name: project_name.into(),
            user_domain_name: "Default".into(),
            project_domain_name: "Default".into(),
        }
    }

    /// `admin` on project `admin`.
    pub fn admin(cfg: &IdentityConfig) -> Self {
        Self::new("admin", &cfg.admin_password, "admin")
    }

    /// The `tricircle` service user on project `service`.
    pub fn service(cfg: &IdentityConfig) -> Self {
        Self::new("tricircle", &cfg.service_password, "service")
    }

    /// `demo` on project `demo`.
    pub fn demo(cfg: &IdentityConfig) -> Self {
        Self::new("demo", &cfg.demo_password, "demo")
    }

    /// The `POST /v3/auth/tokens` body for a project-scoped password auth.
    pub fn auth_request(&self) -> Value {
        json!({
            "auth": {
                "identity": {
                    "methods": ["password"],
                    "password": {
                        "user": {
                            "name": self.username,
                            "domain": {"name": self.user_domain_name},
                            "password": self.password,
                        }
                    }
                },
                "scope": {
                    "project": {
                        "name": self.project_name,
                        "domain": {"name": self.project_domain_name},
                    }
                }
            }
        })
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"***")
            .field("project_name", &self.project_name)
            .field("user_domain_name", &self.user_domain_name)
            .field("project_domain_name", &self.project_domain_name)
            .finish()
    }
}

struct Inner {
    cfg: IdentityConfig,
    public_url: String,
    store: RwLock<Store>,
}

/// The identity service. Cheap to clone; clones share state.
#[derive(Clone)]
pub struct Identity {
    inner: Arc<Inner>,
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity")
            .field("public_url", &self.inner.public_url)
            .finish_non_exhaustive()
    }
}

impl Identity {
    /// A new identity service seeded with the bootstrap entities.
    pub fn new(cfg: IdentityConfig) -> Self {
        let store = Store::new(&cfg);
        Self {
            inner: Arc::new(Inner {
                public_url: store.public_url.clone(),
                store: RwLock::new(store),
                cfg,
            }),
        }
    }

    /// The configuration this service was created with (for [`Credentials`]).
    pub fn config(&self) -> &IdentityConfig {
        &self.inner.cfg
    }

    /// The base URL (without `/v3`).
    pub fn public_url(&self) -> &str {
        &self.inner.public_url
    }

    /// The auth URL clients should use: `{public_url}/v3`.
    pub fn auth_url(&self) -> String {
        format!("{}/v3", self.inner.public_url)
    }

    pub(crate) fn with_store<R>(&self, f: impl FnOnce(&Store) -> R) -> R {
        let guard = self
            .inner
            .store
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        f(&guard)
    }

    pub(crate) fn with_store_mut<R>(&self, f: impl FnOnce(&mut Store) -> R) -> R {
        let mut guard = self
            .inner
            .store
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        f(&mut guard)
    }

    /// Adds a region (no-op if it exists).
    pub fn add_region(&self, id: &str) {
        self.with_store_mut(|s| s.ensure_region(id));
    }

    /// Adds a service and returns its id; idempotent by service type.
    pub fn add_service(&self, service_type: &str, name: &str) -> String {
        self.with_store_mut(|s| s.ensure_service(service_type, name))
    }

    /// Sets the `interface` endpoint of `service_type` in `region` to `url`
    /// (creating the region, the service and the endpoint as needed).
    /// `url` may contain `$(project_id)s`.
    pub fn add_endpoint(&self, region: &str, service_type: &str, interface: &str, url: &str) {
        self.with_store_mut(|s| {
            s.ensure_region(region);
            let sid = s.ensure_service(service_type, service_type);
            s.upsert_endpoint(region, &sid, interface, url);
        });
    }

    /// Registers a pod's region: the region, an identity endpoint in it (the
    /// CLI with `OS_REGION_NAME` needs one) and the pod's service endpoints
    /// ([`crate::pod::catalog_entries`]) for all three interfaces.
    pub fn register_pod(&self, region: &str, pod_base_url: &str) {
        let identity_url = self.auth_url();
        let entries = crate::pod::catalog_entries(pod_base_url);
        self.with_store_mut(|s| {
            s.ensure_region(region);
            let keystone = s.ensure_service("identity", "keystone");
            for iface in INTERFACES {
                s.upsert_endpoint(region, &keystone, iface, &identity_url);
            }
            for (service_type, name, url) in &entries {
                let sid = s.ensure_service(service_type, name);
                for iface in INTERFACES {
                    s.upsert_endpoint(region, &sid, iface, url);
                }
            }
        });
    }

    /// Issues a project-scoped token for `user` on `project` (ids, or names
    /// in the Default domain) without a password. None if the user has no
    /// role there. For tests.
    pub fn issue_token(&self, user: &str, project: &str) -> Option<String> {
        self.with_store_mut(|s| {
            let user = s.user_by_id_or_name(user)?;
            let project = s.project_by_id_or_name(project)?;
            let (uid, pid) = (user.id.clone(), project.id.clone());
            if !user.enabled || !project.enabled || s.effective_roles(&uid, &pid).is_empty() {
                return None;
            }
            let (token, _) = s.mint(&uid, Scope::Project(pid), vec!["password".into()], None);
            Some(token)
        })
    }

    /// Revokes a token and the tokens rescoped from it (no-op if not valid).
    pub fn revoke(&self, token: &str) {
        self.with_store_mut(|s| s.revoke(token, true));
    }

    /// The `{"token": {...}}` body of a valid token (with catalog), or None.
    pub fn validate(&self, token: &str) -> Option<Value> {
        self.with_store(|s| s.valid_token(token).map(|rec| s.render_token(rec, true)))
    }

    /// The HTTP API.
    pub fn router(&self) -> Router {
        let www_authenticate: Arc<str> = format!("Keystone uri=\"{}\"", self.public_url()).into();
        Router::new()
            .route("/", get(discovery::versions))
            .route("/v3", get(discovery::v3))
            .route("/v3/", get(discovery::v3))
            .route(
                "/v3/auth/tokens",
                post(tokens::issue)
                    .get(tokens::validate)
                    .delete(tokens::revoke),
            )
            .route("/v3/auth/catalog", get(tokens::catalog))
            .route("/v3/auth/projects", get(tokens::projects))
            .route("/v3/auth/domains", get(tokens::domains))
            .route("/v3/auth/system", get(tokens::system))
            .route(
                "/v3/regions",
                get(catalog::list_regions).post(catalog::create_region),
            )
            .route(
                "/v3/regions/{region_id}",
                get(catalog::show_region)
                    .put(catalog::put_region)
                    .delete(catalog::delete_region),
            )
            .route(
                "/v3/services",
                get(catalog::list_services).post(catalog::create_service),
            )
            .route(
                "/v3/services/{service_id}",
                get(catalog::show_service).delete(catalog::delete_service),
            )
            .route(
                "/v3/endpoints",
                get(catalog::list_endpoints).post(catalog::create_endpoint),
            )
            .route(
                "/v3/endpoints/{endpoint_id}",
                get(catalog::show_endpoint).delete(catalog::delete_endpoint),
            )
            .route(
                "/v3/domains",
                get(resources::list_domains).post(resources::create_domain),
            )
            .route("/v3/domains/{domain_id}", get(resources::show_domain))
            .route(
                "/v3/projects",
                get(resources::list_projects).post(resources::create_project),
            )
            .route(
                "/v3/projects/{project_id}",
                get(resources::show_project).delete(resources::delete_project),
            )
            .route(
                "/v3/projects/{project_id}/users/{user_id}/roles",
                get(resources::list_grants),
            )
            .route(
                "/v3/projects/{project_id}/users/{user_id}/roles/{role_id}",
                get(resources::check_grant)
                    .put(resources::grant)
                    .delete(resources::revoke_grant),
            )
            .route(
                "/v3/users",
                get(resources::list_users).post(resources::create_user),
            )
            .route(
                "/v3/users/{user_id}",
                get(resources::show_user).delete(resources::delete_user),
            )
            .route(
                "/v3/users/{user_id}/projects",
                get(resources::list_user_projects),
            )
            .route(
                "/v3/roles",
                get(resources::list_roles).post(resources::create_role),
            )
            .route(
                "/v3/roles/{role_id}",
                get(resources::show_role).delete(resources::delete_role),
            )
            .route(
                "/v3/role_assignments",
                get(resources::list_role_assignments),
            )
            .fallback(no_route)
            .method_not_allowed_fallback(method_not_allowed)
            .layer(map_response_with_state(www_authenticate, keystone_headers))
            .layer(axum::middleware::from_fn(crate::util::with_request_id))
            .with_state(self.clone())
    }
}

async fn no_route() -> KsError {
    KsError::no_route()
}

async fn method_not_allowed() -> KsError {
    KsError::method_not_allowed()
}

/// `Vary: X-Auth-Token` everywhere and `WWW-Authenticate` on every 401, as
/// Keystone sends them.
async fn keystone_headers(State(www_authenticate): State<Arc<str>>, mut res: Response) -> Response {
    let headers = res.headers_mut();
    headers.insert(header::VARY, HeaderValue::from_static("X-Auth-Token"));
    if res.status() == StatusCode::UNAUTHORIZED {
        if let Ok(v) = HeaderValue::from_str(&www_authenticate) {
            res.headers_mut().insert(header::WWW_AUTHENTICATE, v);
        }
    }
    res.into_response()
}
