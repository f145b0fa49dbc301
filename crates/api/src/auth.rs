//! Authentication (Keystone tokens, cached) and the caller's context.

use std::sync::Arc;

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use tricircle_pods::{AuthError, TokenInfo, TokenValidator};

use crate::error::ApiError;

/// The authenticated caller.
#[derive(Debug, Clone)]
pub struct Context {
    pub user_id: String,
    pub project_id: String,
    pub roles: Vec<String>,
    /// The caller's token, for calls to pods on their behalf. Never logged.
    pub token: Arc<str>,
    /// Set on a change the caller's roles do not allow (a reader's write)
    /// to a resource the handler looks up first: the action, refused with
    /// 403 once the resource is found to be the caller's to see (another
    /// project's stays a 404, as in Nova, Cinder and Neutron).
    pub refused_write: Option<String>,
}

impl Context {
    pub fn is_admin(&self) -> bool {
        self.roles.iter().any(|r| r.eq_ignore_ascii_case("admin"))
    }

    /// Whether the caller may change its project's resources: the default
    /// policies of Nova, Cinder and Neutron ask for `member` (which
    /// `admin` implies, and Keystone lists implied roles in tokens); a
    /// `reader` only reads.
    pub fn can_write(&self) -> bool {
        self.roles
            .iter()
            .any(|r| r.eq_ignore_ascii_case("member") || r.eq_ignore_ascii_case("admin"))
    }

    /// 403 in the API's format unless the caller has the admin role.
    pub fn require_admin(&self, action: &str) -> Result<(), ApiError> {
        if self.is_admin() {
            Ok(())
        } else {
            Err(ApiError::forbidden(action))
        }
    }

    fn from_token(token: &str, info: &TokenInfo) -> Context {
        Context {
            user_id: info.user_id.clone(),
            project_id: info.project_id.clone(),
            roles: info.roles.clone(),
            token: Arc::from(token),
            refused_write: None,
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Context {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<Context>().cloned().ok_or_else(|| {
            // A handler that needs a context mounted without the auth layer.
            tracing::error!("route without authentication layer asked for a context");
            ApiError::internal()
        })
    }
}

/// How requests are authenticated.
pub enum Authenticator {
    Keystone {
        validator: TokenValidator,
        /// Sent in `WWW-Authenticate` so clients know where to get a token.
        www_authenticate_uri: String,
    },
    /// Development only: every caller is an admin of the project named by
    /// `X-Project-Id` (default `admin`).
    NoAuth,
}

impl Authenticator {
    /// A pod refused this token: it is no longer believed valid here.
    pub async fn forget(&self, token: &str) {
        if let Authenticator::Keystone { validator, .. } = self {
            validator.forget(token).await;
        }
    }

    /// The 401 a refused token gets, as keystonemiddleware answers it.
    pub fn unauthorized_response(&self) -> Response {
        match self {
            Authenticator::Keystone {
                www_authenticate_uri,
                ..
            } => unauthorized(www_authenticate_uri),
            Authenticator::NoAuth => unauthorized(""),
        }
    }

    pub async fn authenticate(&self, parts: &Parts) -> Result<Context, Response> {
        match self {
            Authenticator::NoAuth => {
                let project = parts
                    .headers
                    .get("x-project-id")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("admin")
                    .to_string();
                Ok(Context {
                    user_id: "admin".into(),
                    project_id: project,
                    roles: vec!["admin".into()],
                    token: Arc::from(""),
                    refused_write: None,
                })
            }
            Authenticator::Keystone {
                validator,
                www_authenticate_uri,
            } => {
                let Some(token) = parts
                    .headers
                    .get("x-auth-token")
                    .and_then(|v| v.to_str().ok())
                    .filter(|t| !t.is_empty())
                else {
                    return Err(unauthorized(www_authenticate_uri));
                };
                match validator.validate(token).await {
                    Ok(info) => Ok(Context::from_token(token, &info)),
                    Err(AuthError::InvalidToken) => Err(unauthorized(www_authenticate_uri)),
                    Err(AuthError::Unavailable(e)) => {
                        tracing::error!(error = %e, "token validation failed");
                        Err(keystone_error(
                            StatusCode::SERVICE_UNAVAILABLE,
                            "The identity service is unavailable; try again later.",
                        ))
                    }
                }
            }
        }
    }
}

/// 401 as keystonemiddleware answers it, whatever the service.
fn unauthorized(www_authenticate_uri: &str) -> Response {
    let mut resp = keystone_error(
        StatusCode::UNAUTHORIZED,
        "The request you have made requires authentication.",
    );
    if let Ok(v) = HeaderValue::from_str(&format!("Keystone uri=\"{www_authenticate_uri}\"")) {
        resp.headers_mut().insert("www-authenticate", v);
    }
    resp
}

fn keystone_error(status: StatusCode, message: &str) -> Response {
    let title = status.canonical_reason().unwrap_or("Error");
    (
        status,
        Json(json!({"error": {"code": status.as_u16(), "title": title, "message": message}})),
    )
        .into_response()
}

/// Middleware: authenticates the request and stores its [`Context`].
pub async fn require_auth(
    State(auth): State<Arc<Authenticator>>,
    req: Request,
    next: Next,
) -> Response {
    let (mut parts, body) = req.into_parts();
    match auth.authenticate(&parts).await {
        Ok(ctx) => {
            parts.extensions.insert(ctx);
            next.run(Request::from_parts(parts, body)).await
        }
        Err(resp) => resp,
    }
}
