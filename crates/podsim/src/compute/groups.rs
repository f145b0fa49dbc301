//! `os-server-groups`: create, list, show, delete, with the `server_groups`
//! quota; boots join a group through `os:scheduler_hints: {group}`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Map, Value};

use super::ctx::{check_keys, check_name, field_error, is_uuid_like, wrapper, Ctx, NBody, P};
use super::error::{NResult, NovaError};
use super::model::State as NovaState;
use crate::image::schema::py_repr;
use crate::pod::Pod;

/// A server group.
#[derive(Debug, Clone)]
pub(crate) struct ServerGroup {
    pub id: String,
    pub name: String,
    pub project_id: String,
    pub user_id: String,
    pub policy: String,
    pub rules: Map<String, Value>,
    /// Ids of the servers that joined, oldest first (deleted ones too:
    /// views show the live ones).
    pub members: Vec<String>,
}

const POLICIES_V21: &[&str] = &["affinity", "anti-affinity"];
const POLICIES_V215: &[&str] = &[
    "affinity",
    "anti-affinity",
    "soft-affinity",
    "soft-anti-affinity",
];

pub(crate) fn not_found(id: &str) -> NovaError {
    NovaError::not_found(format!("Instance group {id} could not be found."))
}

fn view(ctx: &Ctx, st: &NovaState, g: &ServerGroup) -> Value {
    let live: Vec<&String> = g
        .members
        .iter()
        .filter(|m| st.servers.iter().any(|s| s.id == **m))
        .collect();
    let mut v = json!({"id": g.id, "name": g.name, "members": live});
    if ctx.at_least(64) {
        v["policy"] = json!(g.policy);
        v["rules"] = Value::Object(g.rules.clone());
    } else {
        v["policies"] = json!([g.policy]);
        v["metadata"] = json!({});
    }
    if ctx.at_least(13) {
        v["project_id"] = json!(g.project_id);
        v["user_id"] = json!(g.user_id);
    }
    v
}

/// `(policy, rules)` of a create body, as Nova's schemas check them.
fn policy_of(ctx: &Ctx, req: &Map<String, Value>) -> NResult<(String, Map<String, Value>)> {
    if ctx.at_least(64) {
        check_keys(
            "server_group",
            req,
            &["name", "policy", "rules"],
            &["name", "policy"],
        )?;
        let p = &req["policy"];
        let policy = p
            .as_str()
            .filter(|s| POLICIES_V215.contains(s))
            .ok_or_else(|| {
                field_error(
                    "server_group/policy",
                    p,
                    &format!("{} is not one of {}", py_repr(p), py_list(POLICIES_V215)),
                )
            })?
            .to_string();
        let rules = match req.get("rules") {
            None => Map::new(),
            Some(Value::Object(r)) => {
                check_keys("server_group/rules", r, &["max_server_per_host"], &[])?;
                if let Some(m) = r.get("max_server_per_host") {
                    let ok = match m {
                        Value::Number(n) => n.as_i64().is_some_and(|n| n >= 1),
                        Value::String(s) => s.parse::<i64>().is_ok_and(|n| n >= 1),
                        _ => false,
                    };
                    if !ok {
                        return Err(field_error(
                            "server_group/rules/max_server_per_host",
                            m,
                            &format!("{} is not a positive integer", py_repr(m)),
                        ));
                    }
                }
                r.clone()
            }
            Some(other) => {
                return Err(field_error(
                    "server_group/rules",
                    other,
                    &format!("{} is not of type 'object'", py_repr(other)),
                ))
            }
        };
        if policy != "anti-affinity" && !rules.is_empty() {
            return Err(NovaError::bad_request(
                "Only anti-affinity policy supports rules.",
            ));
        }
        return Ok((policy, rules));
    }
    check_keys(
        "server_group",
        req,
        &["name", "policies"],
        &["name", "policies"],
    )?;
    let allowed = if ctx.at_least(15) {
        POLICIES_V215
    } else {
        POLICIES_V21
    };
    let p = &req["policies"];
    let list = p.as_array().ok_or_else(|| {
        field_error(
            "server_group/policies",
            p,
            &format!("{} is not of type 'array'", py_repr(p)),
        )
    })?;
    if list.len() != 1 {
        let why = if list.is_empty() {
            "[] is too short".to_string()
        } else {
            format!("{} is too long", py_repr(p))
        };
        return Err(field_error("server_group/policies", p, &why));
    }
    let policy = list[0]
        .as_str()
        .filter(|s| allowed.contains(s))
        .ok_or_else(|| {
            field_error(
                "server_group/policies/0",
                &list[0],
                &format!("{} is not one of {}", py_repr(&list[0]), py_list(allowed)),
            )
        })?;
    Ok((policy.to_string(), Map::new()))
}

fn py_list(items: &[&str]) -> String {
    let inner: Vec<String> = items.iter().map(|s| format!("'{s}'")).collect();
    format!("[{}]", inner.join(", "))
}

/// `POST /os-server-groups`.
pub(crate) async fn create(
    State(pod): State<Pod>,
    ctx: Ctx,
    NBody(body): NBody,
) -> NResult<Json<Value>> {
    let req = wrapper(&body, "server_group", &[])?;
    let (policy, rules) = policy_of(&ctx, req)?;
    let name = check_name("server_group/name", &req["name"])?;
    pod.compute().with(|st| {
        let limit = st
            .quota_limits(ctx.project())
            .get("server_groups")
            .copied()
            .unwrap_or(10);
        let used = st
            .server_groups
            .iter()
            .filter(|g| g.project_id == ctx.project())
            .count() as i64;
        if limit >= 0 && used + 1 > limit {
            return Err(NovaError::forbidden(
                "Quota exceeded, too many server groups.",
            ));
        }
        let g = ServerGroup {
            id: uuid::Uuid::new_v4().to_string(),
            name,
            project_id: ctx.project().to_string(),
            user_id: ctx.user().to_string(),
            policy,
            rules,
            members: Vec::new(),
        };
        let v = view(&ctx, st, &g);
        st.server_groups.push(g);
        Ok(Json(json!({ "server_group": v })))
    })
}

/// `GET /os-server-groups` (`all_projects` for admins, `limit`/`offset`).
pub(crate) async fn index(State(pod): State<Pod>, ctx: Ctx) -> NResult<Json<Value>> {
    if ctx.at_least(75) {
        ctx.check_query_keys(&["all_projects", "limit", "offset"])?;
    }
    let all = ctx.is_admin() && ctx.query.get("all_projects").is_some();
    let offset = match ctx.query.get("offset") {
        None => 0,
        Some(o) => super::ctx::parse_int_param(o, "offset", ctx.at_least(75))?,
    };
    let limit = match ctx.query.get("limit") {
        None => super::MAX_LIMIT,
        Some(l) => super::ctx::parse_int_param(l, "limit", ctx.at_least(75))?.min(super::MAX_LIMIT),
    };
    Ok(pod.compute().with(|st| {
        let list: Vec<Value> = st
            .server_groups
            .iter()
            .filter(|g| all || g.project_id == ctx.project())
            .skip(offset)
            .take(limit)
            .map(|g| view(&ctx, st, g))
            .collect();
        Json(json!({ "server_groups": list }))
    }))
}

/// The group `id`, if the caller's policy allows `rule` on it.
fn find<'a>(st: &'a NovaState, ctx: &Ctx, id: &str, rule: &str) -> NResult<&'a ServerGroup> {
    let g = st
        .server_groups
        .iter()
        .find(|g| g.id == id)
        .ok_or_else(|| not_found(id))?;
    if !ctx.is_admin() && g.project_id != ctx.project() {
        return Err(NovaError::policy(rule));
    }
    Ok(g)
}

/// `GET /os-server-groups/{id}`.
pub(crate) async fn show(State(pod): State<Pod>, ctx: Ctx, p: P) -> NResult<Json<Value>> {
    let id = p.get("id").to_string();
    pod.compute().with(|st| {
        let g = find(st, &ctx, &id, "os_compute_api:os-server-groups:show")?;
        Ok(Json(json!({ "server_group": view(&ctx, st, g) })))
    })
}

/// `DELETE /os-server-groups/{id}`.
pub(crate) async fn delete(State(pod): State<Pod>, ctx: Ctx, p: P) -> NResult<StatusCode> {
    let id = p.get("id").to_string();
    pod.compute().with(|st| {
        find(st, &ctx, &id, "os_compute_api:os-server-groups:delete")?;
        st.server_groups.retain(|g| g.id != id);
        Ok(StatusCode::NO_CONTENT)
    })
}

/// The group a boot names in its scheduler hints (a UUID of a group the
/// pod has), or `None`.
pub(crate) fn hinted_group(body: &Value) -> NResult<Option<String>> {
    for key in ["os:scheduler_hints", "OS-SCH-HNT:scheduler_hints"] {
        let Some(g) = body.get(key).and_then(|h| h.get("group")) else {
            continue;
        };
        let ok = g.as_str().filter(|s| is_uuid_like(s));
        return match ok {
            Some(s) => Ok(Some(s.to_string())),
            None => Err(field_error(
                &format!("{key}/group"),
                g,
                &format!("{} is not a 'uuid'", py_repr(g)),
            )),
        };
    }
    Ok(None)
}

/// Checks that `count` new servers may join group `id` (it exists, its
/// member quota, its policy on this pod's one host), as Nova's API and
/// scheduler would. `Ok(false)`: the scheduler finds no valid host.
pub(crate) fn admit(st: &NovaState, project: &str, id: &str, count: usize) -> NResult<bool> {
    let g = st
        .server_groups
        .iter()
        .find(|g| g.id == id)
        .ok_or_else(|| {
            NovaError::bad_request(format!("Instance group {id} could not be found."))
        })?;
    let live = g
        .members
        .iter()
        .filter(|m| st.servers.iter().any(|s| s.id == **m && s.consumes()))
        .count();
    let limit = st
        .quota_limits(project)
        .get("server_group_members")
        .copied()
        .unwrap_or(10);
    if limit >= 0 && (live + count) as i64 > limit {
        return Err(NovaError::forbidden(
            "Quota exceeded, too many servers in group",
        ));
    }
    // One compute host: anti-affinity admits one server per host (or
    // `max_server_per_host`).
    if g.policy == "anti-affinity" {
        let max = g
            .rules
            .get("max_server_per_host")
            .and_then(|m| {
                m.as_i64()
                    .or_else(|| m.as_str().and_then(|s| s.parse().ok()))
            })
            .unwrap_or(1);
        return Ok(((live + count) as i64) <= max);
    }
    Ok(true)
}

/// Records `servers` as members of group `id`.
pub(crate) fn join(st: &mut NovaState, id: &str, servers: &[String]) {
    if let Some(g) = st.server_groups.iter_mut().find(|g| g.id == id) {
        g.members.extend(servers.iter().cloned());
    }
}

/// Fills a server view's `server_groups` (2.71+, where the view has the
/// key) with the groups the server belongs to.
pub(crate) fn fill_groups(pod: &Pod, view: &mut Value) {
    let Some(id) = view["id"].as_str().map(str::to_string) else {
        return;
    };
    if view.get("server_groups").is_none() {
        return;
    }
    let groups: Vec<String> = pod.compute().with(|st| {
        st.server_groups
            .iter()
            .filter(|g| g.members.contains(&id))
            .map(|g| g.id.clone())
            .collect()
    });
    view["server_groups"] = json!(groups);
}
