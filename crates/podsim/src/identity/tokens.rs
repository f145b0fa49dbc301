//! `/v3/auth/*`: issue, validate and revoke tokens; token-scoped catalog,
//! projects, domains and system.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Map, Value};

use super::error::{KsError, KsResult};
use super::extract::{opt_str, req_obj, req_str, Auth, Body, Params, SUBJECT_TOKEN};
use super::store::{Domain, Scope, Store, TokenRecord};
use super::Identity;

/// A response carrying a token body and its `X-Subject-Token` header.
fn token_response(status: StatusCode, token: &str, body: Value) -> KsResult<Response> {
    let value = HeaderValue::from_str(token).map_err(|_| KsError::internal())?;
    let mut res = (status, Json(body)).into_response();
    res.headers_mut()
        .insert(HeaderName::from_static(SUBJECT_TOKEN), value);
    Ok(res)
}

/// `POST /v3/auth/tokens`
pub(crate) async fn issue(
    State(id): State<Identity>,
    params: Params,
    Body(body): Body,
) -> KsResult<Response> {
    let include_catalog = !params.has("nocatalog");
    let (token, rendered) = id.with_store_mut(|s| authenticate(s, &body, include_catalog))?;
    token_response(StatusCode::CREATED, &token, rendered)
}

fn authenticate(
    s: &mut Store,
    body: &Map<String, Value>,
    include_catalog: bool,
) -> KsResult<(String, Value)> {
    let auth = req_obj(body, "auth", "request body")?;
    let identity = req_obj(auth, "identity", "auth")?;
    let methods: Vec<&str> = match identity.get("methods") {
        Some(Value::Array(items)) => items
            .iter()
            .map(|m| {
                m.as_str().ok_or_else(|| {
                    KsError::bad_request(format!(
                        "Invalid input for field 'identity/methods': {m} is not of type 'string'"
                    ))
                })
            })
            .collect::<KsResult<_>>()?,
        Some(other) => {
            return Err(KsError::bad_request(format!(
                "Invalid input for field 'identity/methods': {other} is not of type 'array'"
            )))
        }
        None => return Err(KsError::validation("methods", "identity")),
    };
    if methods.is_empty() {
        return Err(KsError::bad_request(
            "Invalid input for field 'identity/methods': [] is too short",
        ));
    }

    let mut user_id: Option<String> = None;
    let mut parent: Option<TokenRecord> = None;
    let mut out_methods: Vec<String> = Vec::new();
    for method in &methods {
        let uid = match *method {
            "password" => {
                let pw = req_obj(identity, "password", "identity")?;
                password_user(s, pw)?
            }
            "token" => {
                let t = req_obj(identity, "token", "identity")?;
                let tid = req_str(t, "id", "token")?;
                let rec = s
                    .valid_token(tid)
                    .cloned()
                    .ok_or_else(KsError::unauthorized)?;
                let uid = rec.user_id.clone();
                parent = Some(rec);
                uid
            }
            _ => return Err(KsError::unsupported_method()),
        };
        if user_id.as_ref().is_some_and(|u| *u != uid) {
            return Err(KsError::unauthorized());
        }
        user_id = Some(uid);
        if !out_methods.iter().any(|m| m == method) {
            out_methods.push((*method).to_string());
        }
    }
    if let Some(p) = &parent {
        for m in &p.methods {
            if !out_methods.contains(m) {
                out_methods.push(m.clone());
            }
        }
    }
    let user_id = user_id.ok_or_else(KsError::unauthorized)?;

    let scope = match auth.get("scope") {
        None | Some(Value::Null) => default_scope(s, &user_id, parent.is_some()),
        Some(Value::String(u)) if u == "unscoped" => Scope::Unscoped,
        Some(Value::Object(scope)) => explicit_scope(s, &user_id, scope)?,
        Some(other) => {
            return Err(KsError::bad_request(format!(
                "Invalid input for field 'scope': {other} is not valid under any of the given \
                 schemas"
            )))
        }
    };

    let (token, rec) = s.mint(&user_id, scope, out_methods, parent.as_ref());
    let rendered = s.render_token(&rec, include_catalog);
    Ok((token, rendered))
}

fn resolve_domain<'a>(s: &'a Store, d: &Map<String, Value>) -> KsResult<Option<&'a Domain>> {
    if let Some(id) = opt_str(d, "id")? {
        Ok(s.domain(id))
    } else if let Some(name) = opt_str(d, "name")? {
        Ok(s.domain_by_name(name))
    } else {
        Err(KsError::validation("id or name", "domain"))
    }
}

/// Checks a password credential; returns the user id. Every failure that
/// could reveal whether the user exists is a generic 401.
fn password_user(s: &Store, pw: &Map<String, Value>) -> KsResult<String> {
    let user = req_obj(pw, "user", "password")?;
    let password = req_str(user, "password", "user")?;
    let found = if let Some(id) = opt_str(user, "id")? {
        s.user(id)
    } else if let Some(name) = opt_str(user, "name")? {
        let domain = match user.get("domain") {
            Some(Value::Object(d)) => d,
            _ => return Err(KsError::validation("domain", "user")),
        };
        match resolve_domain(s, domain)? {
            Some(d) if d.enabled => s.user_by_name(name, &d.id),
            _ => None,
        }
    } else {
        return Err(KsError::validation("id or name", "user"));
    };
    let user = found.ok_or_else(KsError::unauthorized)?;
    let domain_enabled = s.domain(&user.domain_id).is_some_and(|d| d.enabled);
    if !user.enabled || !domain_enabled || user.password.as_deref() != Some(password) {
        return Err(KsError::unauthorized());
    }
    Ok(user.id.clone())
}

/// No scope in the request: the user's default project when it is usable
/// (password auth only), unscoped otherwise.
fn default_scope(s: &Store, user_id: &str, rescoping: bool) -> Scope {
    if rescoping {
        return Scope::Unscoped;
    }
    let default = s.user(user_id).and_then(|u| u.default_project_id.clone());
    match default {
        Some(pid)
            if s.project(&pid).is_some_and(|p| p.enabled)
                && !s.effective_roles(user_id, &pid).is_empty() =>
        {
            Scope::Project(pid)
        }
        _ => Scope::Unscoped,
    }
}

fn explicit_scope(s: &Store, user_id: &str, scope: &Map<String, Value>) -> KsResult<Scope> {
    let kinds: Vec<&str> = ["project", "domain", "system", "OS-TRUST:trust"]
        .into_iter()
        .filter(|k| scope.contains_key(*k))
        .collect();
    if kinds.len() > 1 {
        return Err(KsError::bad_request(
            "Specifying more than one of project, domain, system or trust in scope is not \
             allowed",
        ));
    }
    match kinds.first().copied() {
        Some("project") => {
            let p = req_obj(scope, "project", "scope")?;
            let project = if let Some(id) = opt_str(p, "id")? {
                s.project(id)
            } else if let Some(name) = opt_str(p, "name")? {
                let domain = match p.get("domain") {
                    Some(Value::Object(d)) => d,
                    _ => return Err(KsError::validation("domain", "project")),
                };
                match resolve_domain(s, domain)? {
                    Some(d) if d.enabled => s.project_by_name(name, &d.id),
                    _ => None,
                }
            } else {
                return Err(KsError::validation("id or name", "project"));
            };
            let project = project.ok_or_else(KsError::unauthorized)?;
            if !project.enabled || s.effective_roles(user_id, &project.id).is_empty() {
                return Err(KsError::unauthorized());
            }
            Ok(Scope::Project(project.id.clone()))
        }
        Some("domain") => {
            let d = req_obj(scope, "domain", "scope")?;
            // Validate the reference, then refuse: no user holds domain roles here.
            resolve_domain(s, d)?;
            Err(KsError::unauthorized())
        }
        // No system role assignments and no trusts in the simulator.
        Some(_) => Err(KsError::unauthorized()),
        None => Err(KsError::bad_request(
            "Invalid input for field 'scope': expected one of project, domain, system",
        )),
    }
}

fn subject_token(headers: &HeaderMap) -> KsResult<&str> {
    headers
        .get(SUBJECT_TOKEN)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty())
        .ok_or_else(|| KsError::new(StatusCode::NOT_FOUND, "No token in the request"))
}

/// `GET`/`HEAD /v3/auth/tokens`
pub(crate) async fn validate(
    State(id): State<Identity>,
    Auth(_caller): Auth,
    params: Params,
    headers: HeaderMap,
) -> KsResult<Response> {
    let subject = subject_token(&headers)?;
    let include_catalog = !params.has("nocatalog");
    let body = id
        .with_store(|s| {
            s.valid_token(subject)
                .map(|rec| s.render_token(rec, include_catalog))
        })
        .ok_or_else(|| KsError::not_found("token", subject))?;
    token_response(StatusCode::OK, subject, body)
}

/// `DELETE /v3/auth/tokens` (`?cascade=false` revokes only that token).
pub(crate) async fn revoke(
    State(id): State<Identity>,
    Auth(_caller): Auth,
    params: Params,
    headers: HeaderMap,
) -> KsResult<StatusCode> {
    let subject = subject_token(&headers)?;
    let cascade = !params.has("cascade") || params.flag("cascade");
    if id.with_store_mut(|s| s.revoke(subject, cascade)) {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(KsError::not_found("token", subject))
    }
}

/// `GET /v3/auth/catalog`
pub(crate) async fn catalog(
    State(id): State<Identity>,
    Auth(caller): Auth,
) -> KsResult<Json<Value>> {
    let project_id = caller.project_id.ok_or_else(|| {
        KsError::forbidden("A project-scoped token is required to produce a service catalog.")
    })?;
    Ok(Json(id.with_store(|s| {
        json!({
            "catalog": s.catalog(&project_id, &caller.user_id),
            "links": {"self": s.link("auth/catalog")},
        })
    })))
}

/// `GET /v3/auth/projects`
pub(crate) async fn projects(
    State(id): State<Identity>,
    Auth(caller): Auth,
    params: Params,
) -> Json<Value> {
    Json(id.with_store(|s| {
        let projects: Vec<Value> = s
            .projects_for_user(&caller.user_id)
            .into_iter()
            .filter(|p| p.enabled)
            .map(|p| s.project_json(p))
            .collect();
        json!({"projects": projects, "links": params.collection_links(&s.public_url)})
    }))
}

/// `GET /v3/auth/domains`: nobody holds domain roles in the simulator.
pub(crate) async fn domains(
    State(id): State<Identity>,
    Auth(_caller): Auth,
    params: Params,
) -> Json<Value> {
    Json(json!({
        "domains": [],
        "links": params.collection_links(id.public_url()),
    }))
}

/// `GET /v3/auth/system`: nobody holds system roles in the simulator.
pub(crate) async fn system(State(id): State<Identity>, Auth(_caller): Auth) -> Json<Value> {
    Json(id.with_store(|s| json!({"system": [], "links": {"self": s.link("auth/system")}})))
}
