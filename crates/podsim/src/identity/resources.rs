//! `/v3/domains`, `/v3/projects`, `/v3/users`, `/v3/roles`,
//! `/v3/role_assignments` and project role grants.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};

use super::error::{KsError, KsResult};
use super::extract::{opt_bool, opt_str, req_obj, req_str, Auth, Body, Params};
use super::store::{Assignment, NewProject, NewUser, Store, DEFAULT_DOMAIN_ID};
use super::Identity;

type Created = (StatusCode, Json<Value>);

// --------------------------------------------------------------- domains

pub(crate) async fn list_domains(
    State(id): State<Identity>,
    Auth(_c): Auth,
    params: Params,
) -> Json<Value> {
    Json(id.with_store(|s| {
        let domains: Vec<Value> = s
            .domains
            .iter()
            .filter(|d| {
                params.matches("name", &d.name) && params.matches_bool("enabled", d.enabled)
            })
            .map(|d| s.domain_json(d))
            .collect();
        json!({"domains": domains, "links": params.collection_links(&s.public_url)})
    }))
}

pub(crate) async fn show_domain(
    State(id): State<Identity>,
    Auth(_c): Auth,
    Path(domain_id): Path<String>,
) -> KsResult<Json<Value>> {
    id.with_store(|s| {
        s.domain(&domain_id)
            .map(|d| Json(json!({"domain": s.domain_json(d)})))
            .ok_or_else(|| KsError::not_found("domain", &domain_id))
    })
}

pub(crate) async fn create_domain(
    State(id): State<Identity>,
    Auth(c): Auth,
    Body(body): Body,
) -> KsResult<Created> {
    c.require_admin("identity:create_domain")?;
    let domain = req_obj(&body, "domain", "request body")?;
    let name = req_str(domain, "name", "domain")?;
    let description = opt_str(domain, "description")?
        .unwrap_or_default()
        .to_string();
    let enabled = opt_bool(domain, "enabled")?.unwrap_or(true);
    id.with_store_mut(|s| {
        let d = s.create_domain(name, description, enabled)?;
        Ok((
            StatusCode::CREATED,
            Json(json!({"domain": s.domain_json(&d)})),
        ))
    })
}

// -------------------------------------------------------------- projects

pub(crate) async fn list_projects(
    State(id): State<Identity>,
    Auth(_c): Auth,
    params: Params,
) -> Json<Value> {
    Json(id.with_store(|s| {
        let projects: Vec<Value> = s
            .projects
            .iter()
            .filter(|p| {
                params.matches("name", &p.name)
                    && params.matches("domain_id", &p.domain_id)
                    && params.matches_bool("enabled", p.enabled)
                    && params.matches_bool("is_domain", false)
                    && params
                        .get("parent_id")
                        .is_none_or(|v| p.parent_id.as_deref() == Some(v))
            })
            .map(|p| s.project_json(p))
            .collect();
        json!({"projects": projects, "links": params.collection_links(&s.public_url)})
    }))
}

pub(crate) async fn show_project(
    State(id): State<Identity>,
    Auth(_c): Auth,
    Path(project_id): Path<String>,
) -> KsResult<Json<Value>> {
    id.with_store(|s| {
        s.project(&project_id)
            .map(|p| Json(json!({"project": s.project_json(p)})))
            .ok_or_else(|| KsError::not_found("project", &project_id))
    })
}

fn string_list(obj: &serde_json::Map<String, Value>, key: &str) -> KsResult<Vec<String>> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| {
                v.as_str().map(str::to_string).ok_or_else(|| {
                    KsError::bad_request(format!(
                        "Invalid input for field '{key}': {v} is not of type 'string'"
                    ))
                })
            })
            .collect(),
        Some(other) => Err(KsError::bad_request(format!(
            "Invalid input for field '{key}': {other} is not of type 'array'"
        ))),
    }
}

pub(crate) async fn create_project(
    State(id): State<Identity>,
    Auth(c): Auth,
    Body(body): Body,
) -> KsResult<Created> {
    c.require_admin("identity:create_project")?;
    let project = req_obj(&body, "project", "request body")?;
    let new = NewProject {
        name: req_str(project, "name", "project")?.to_string(),
        domain_id: opt_str(project, "domain_id")?
            .unwrap_or(DEFAULT_DOMAIN_ID)
            .to_string(),
        description: opt_str(project, "description")?
            .unwrap_or_default()
            .to_string(),
        enabled: opt_bool(project, "enabled")?.unwrap_or(true),
        parent_id: opt_str(project, "parent_id")?.map(str::to_string),
        tags: string_list(project, "tags")?,
    };
    if opt_bool(project, "is_domain")?.unwrap_or(false) {
        return Err(KsError::bad_request(
            "Projects acting as domains are not supported by this server",
        ));
    }
    id.with_store_mut(|s| {
        let p = s.create_project(new)?;
        Ok((
            StatusCode::CREATED,
            Json(json!({"project": s.project_json(&p)})),
        ))
    })
}

pub(crate) async fn delete_project(
    State(id): State<Identity>,
    Auth(c): Auth,
    Path(project_id): Path<String>,
) -> KsResult<StatusCode> {
    c.require_admin("identity:delete_project")?;
    id.with_store_mut(|s| s.delete_project(&project_id))?;
    Ok(StatusCode::NO_CONTENT)
}

// ----------------------------------------------------------------- users

pub(crate) async fn list_users(
    State(id): State<Identity>,
    Auth(_c): Auth,
    params: Params,
) -> Json<Value> {
    Json(id.with_store(|s| {
        let users: Vec<Value> = s
            .users
            .iter()
            .filter(|u| {
                params.matches("name", &u.name)
                    && params.matches("domain_id", &u.domain_id)
                    && params.matches_bool("enabled", u.enabled)
            })
            .map(|u| s.user_json(u))
            .collect();
        json!({"users": users, "links": params.collection_links(&s.public_url)})
    }))
}

pub(crate) async fn show_user(
    State(id): State<Identity>,
    Auth(_c): Auth,
    Path(user_id): Path<String>,
) -> KsResult<Json<Value>> {
    id.with_store(|s| {
        s.user(&user_id)
            .map(|u| Json(json!({"user": s.user_json(u)})))
            .ok_or_else(|| KsError::not_found("user", &user_id))
    })
}

pub(crate) async fn create_user(
    State(id): State<Identity>,
    Auth(c): Auth,
    Body(body): Body,
) -> KsResult<Created> {
    c.require_admin("identity:create_user")?;
    let user = req_obj(&body, "user", "request body")?;
    let new = NewUser {
        name: req_str(user, "name", "user")?.to_string(),
        domain_id: opt_str(user, "domain_id")?
            .unwrap_or(DEFAULT_DOMAIN_ID)
            .to_string(),
        password: opt_str(user, "password")?.map(str::to_string),
        enabled: opt_bool(user, "enabled")?.unwrap_or(true),
        default_project_id: opt_str(user, "default_project_id")?.map(str::to_string),
        description: opt_str(user, "description")?.map(str::to_string),
        email: opt_str(user, "email")?.map(str::to_string),
    };
    id.with_store_mut(|s| {
        let u = s.create_user(new)?;
        Ok((StatusCode::CREATED, Json(json!({"user": s.user_json(&u)}))))
    })
}

pub(crate) async fn delete_user(
    State(id): State<Identity>,
    Auth(c): Auth,
    Path(user_id): Path<String>,
) -> KsResult<StatusCode> {
    c.require_admin("identity:delete_user")?;
    id.with_store_mut(|s| s.delete_user(&user_id))?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /v3/users/{id}/projects`
pub(crate) async fn list_user_projects(
    State(id): State<Identity>,
    Auth(_c): Auth,
    Path(user_id): Path<String>,
    params: Params,
) -> KsResult<Json<Value>> {
    id.with_store(|s| {
        if s.user(&user_id).is_none() {
            return Err(KsError::not_found("user", &user_id));
        }
        let projects: Vec<Value> = s
            .projects_for_user(&user_id)
            .into_iter()
            .filter(|p| {
                params.matches("name", &p.name) && params.matches_bool("enabled", p.enabled)
            })
            .map(|p| s.project_json(p))
            .collect();
        Ok(Json(
            json!({"projects": projects, "links": params.collection_links(&s.public_url)}),
        ))
    })
}

// ----------------------------------------------------------------- roles

pub(crate) async fn list_roles(
    State(id): State<Identity>,
    Auth(_c): Auth,
    params: Params,
) -> Json<Value> {
    Json(id.with_store(|s| {
        let roles: Vec<Value> = s
            .roles
            .iter()
            .filter(|r| {
                params.matches("name", &r.name) && r.domain_id.as_deref() == params.get("domain_id")
            })
            .map(|r| s.role_json(r))
            .collect();
        json!({"roles": roles, "links": params.collection_links(&s.public_url)})
    }))
}

pub(crate) async fn show_role(
    State(id): State<Identity>,
    Auth(_c): Auth,
    Path(role_id): Path<String>,
) -> KsResult<Json<Value>> {
    id.with_store(|s| {
        s.role(&role_id)
            .map(|r| Json(json!({"role": s.role_json(r)})))
            .ok_or_else(|| KsError::not_found("role", &role_id))
    })
}

pub(crate) async fn create_role(
    State(id): State<Identity>,
    Auth(c): Auth,
    Body(body): Body,
) -> KsResult<Created> {
    c.require_admin("identity:create_role")?;
    let role = req_obj(&body, "role", "request body")?;
    let name = req_str(role, "name", "role")?;
    let domain_id = opt_str(role, "domain_id")?.map(str::to_string);
    let description = opt_str(role, "description")?.map(str::to_string);
    id.with_store_mut(|s| {
        let r = s.create_role(name, domain_id, description)?;
        Ok((StatusCode::CREATED, Json(json!({"role": s.role_json(&r)}))))
    })
}

pub(crate) async fn delete_role(
    State(id): State<Identity>,
    Auth(c): Auth,
    Path(role_id): Path<String>,
) -> KsResult<StatusCode> {
    c.require_admin("identity:delete_role")?;
    id.with_store_mut(|s| s.delete_role(&role_id))?;
    Ok(StatusCode::NO_CONTENT)
}

// ------------------------------------------------------ role assignments

fn named_domain(s: &Store, domain_id: &str) -> Value {
    let name = s
        .domain(domain_id)
        .map(|d| d.name.as_str())
        .unwrap_or_default();
    json!({"id": domain_id, "name": name})
}

/// One entry of `/v3/role_assignments` for a (possibly implied) role.
fn assignment_json(
    s: &Store,
    a: &Assignment,
    role_id: &str,
    prior_role: Option<&str>,
    names: bool,
) -> Value {
    let mut links = json!({
        "assignment": s.link(&format!(
            "projects/{}/users/{}/roles/{}",
            a.project_id, a.user_id, a.role_id
        )),
    });
    if let (Some(prior), Some(obj)) = (prior_role, links.as_object_mut()) {
        obj.insert(
            "prior_role".into(),
            json!(s.link(&format!("roles/{prior}"))),
        );
    }
    let (mut role, mut user, mut project) = (
        json!({"id": role_id}),
        json!({"id": a.user_id}),
        json!({"id": a.project_id}),
    );
    if names {
        if let (Some(r), Some(obj)) = (s.role(role_id), role.as_object_mut()) {
            obj.insert("name".into(), json!(r.name));
            if let Some(d) = &r.domain_id {
                obj.insert("domain".into(), named_domain(s, d));
            }
        }
        if let (Some(u), Some(obj)) = (s.user(&a.user_id), user.as_object_mut()) {
            obj.insert("name".into(), json!(u.name));
            obj.insert("domain".into(), named_domain(s, &u.domain_id));
        }
        if let (Some(p), Some(obj)) = (s.project(&a.project_id), project.as_object_mut()) {
            obj.insert("name".into(), json!(p.name));
            obj.insert("domain".into(), named_domain(s, &p.domain_id));
        }
    }
    json!({
        "links": links,
        "role": role,
        "scope": {"project": project},
        "user": user,
    })
}

/// `GET /v3/role_assignments` with `user.id`, `scope.project.id`, `role.id`,
/// `effective` and `include_names`. Group, domain and system assignments do
/// not exist in the simulator, so filtering on them yields nothing.
pub(crate) async fn list_role_assignments(
    State(id): State<Identity>,
    Auth(_c): Auth,
    params: Params,
) -> Json<Value> {
    let effective = params.flag("effective");
    let names = params.flag("include_names");
    let impossible = params.has("group.id")
        || params.has("scope.domain.id")
        || params.has("scope.system")
        || params.has("scope.OS-INHERIT:inherited_to");
    Json(id.with_store(|s| {
        let mut out: Vec<Value> = Vec::new();
        if !impossible {
            for a in &s.assignments {
                if !params.matches("user.id", &a.user_id)
                    || !params.matches("scope.project.id", &a.project_id)
                {
                    continue;
                }
                let mut roles: Vec<(String, Option<String>)> = vec![(a.role_id.clone(), None)];
                if effective {
                    roles.extend(
                        s.implied_edges_from(&a.role_id)
                            .into_iter()
                            .map(|(prior, implied)| (implied, Some(prior))),
                    );
                }
                for (role_id, prior) in roles {
                    if params.matches("role.id", &role_id) {
                        out.push(assignment_json(s, a, &role_id, prior.as_deref(), names));
                    }
                }
            }
        }
        json!({"role_assignments": out, "links": params.collection_links(&s.public_url)})
    }))
}

// ----------------------------------------------------------------- grants

/// `PUT /v3/projects/{p}/users/{u}/roles/{r}`
pub(crate) async fn grant(
    State(id): State<Identity>,
    Auth(c): Auth,
    Path((project_id, user_id, role_id)): Path<(String, String, String)>,
) -> KsResult<StatusCode> {
    c.require_admin("identity:create_grant")?;
    id.with_store_mut(|s| s.grant(&user_id, &project_id, &role_id))?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET`/`HEAD /v3/projects/{p}/users/{u}/roles/{r}`
pub(crate) async fn check_grant(
    State(id): State<Identity>,
    Auth(_c): Auth,
    Path((project_id, user_id, role_id)): Path<(String, String, String)>,
) -> KsResult<StatusCode> {
    id.with_store(|s| {
        s.check_grant_parts(&user_id, &project_id, &role_id)?;
        if s.has_grant(&user_id, &project_id, &role_id) {
            Ok(StatusCode::NO_CONTENT)
        } else {
            Err(KsError::new(
                StatusCode::NOT_FOUND,
                format!(
                    "Could not find role assignment with role: {role_id}, user or group: \
                     {user_id}, project, domain, or system: {project_id}."
                ),
            ))
        }
    })
}

/// `DELETE /v3/projects/{p}/users/{u}/roles/{r}`
pub(crate) async fn revoke_grant(
    State(id): State<Identity>,
    Auth(c): Auth,
    Path((project_id, user_id, role_id)): Path<(String, String, String)>,
) -> KsResult<StatusCode> {
    c.require_admin("identity:revoke_grant")?;
    id.with_store_mut(|s| s.ungrant(&user_id, &project_id, &role_id))?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /v3/projects/{p}/users/{u}/roles`
pub(crate) async fn list_grants(
    State(id): State<Identity>,
    Auth(_c): Auth,
    Path((project_id, user_id)): Path<(String, String)>,
    params: Params,
) -> KsResult<Json<Value>> {
    id.with_store(|s| {
        if s.project(&project_id).is_none() {
            return Err(KsError::not_found("project", &project_id));
        }
        if s.user(&user_id).is_none() {
            return Err(KsError::not_found("user", &user_id));
        }
        let roles: Vec<Value> = s
            .assignments
            .iter()
            .filter(|a| a.user_id == user_id && a.project_id == project_id)
            .filter_map(|a| s.role(&a.role_id))
            .map(|r| s.role_json(r))
            .collect();
        Ok(Json(
            json!({"roles": roles, "links": params.collection_links(&s.public_url)}),
        ))
    })
}
