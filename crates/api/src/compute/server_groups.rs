//! `os-server-groups`: kept at the top (as flavors and keypairs are), with
//! Nova's quotas (`server_groups` per project, `server_group_members` per
//! group). A boot with `os:scheduler_hints: {"group": id}` copies the
//! group into the pod it lands in (get-or-create under the routing lock,
//! the copy named by the top id) and passes the copy's id to the pod, so
//! the pod's scheduler applies the policy among its hosts. Across pods:
//! an `affinity` group keeps every member in the pod of its first member
//! (a boot asking another AZ is refused); `soft-affinity` prefers that pod;
//! the anti-affinity policies let members spread over pods. `members`
//! lists the top ids of the group's servers that still exist.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde_json::{json, Map, Value};
use tricircle_compute::server_groups::{GroupView, ServerGroupCreate};

use super::domain::domain;
use super::microversion::Microversion;
use crate::body::parse_json;
use crate::error::ApiError;
use crate::gateway::{Call, GatewayState};

const POLICIES_V21: &[&str] = &["affinity", "anti-affinity"];
const POLICIES_V215: &[&str] = &[
    "affinity",
    "anti-affinity",
    "soft-affinity",
    "soft-anti-affinity",
];

fn invalid(field: &str, value: &Value, why: &str) -> ApiError {
    ApiError::bad_request(format!(
        "Invalid input for field/attribute {field}. Value: {value}. {why}"
    ))
}

fn view(g: &GroupView, mv: Microversion) -> Value {
    let GroupView { group: g, members } = g;
    let mut v = json!({"id": g.id, "name": g.name, "members": members});
    if mv.at_least(64) {
        v["policy"] = json!(g.policy);
        v["rules"] = serde_json::from_str(&g.rules).unwrap_or_else(|_| json!({}));
    } else {
        v["policies"] = json!([g.policy]);
        v["metadata"] = json!({});
    }
    if mv.at_least(13) {
        v["project_id"] = json!(g.project_id);
        v["user_id"] = json!(g.user_id);
    }
    v
}

/// `(policy, rules)` of a create body, checked as Nova's schemas check it.
fn policy_of(
    mv: Microversion,
    req: &Map<String, Value>,
) -> Result<(String, Map<String, Value>), ApiError> {
    let whole = Value::Object(req.clone());
    let allowed_keys: &[&str] = if mv.at_least(64) {
        &["name", "policy", "rules"]
    } else {
        &["name", "policies"]
    };
    if let Some(k) = req.keys().find(|k| !allowed_keys.contains(&k.as_str())) {
        return Err(invalid(
            "server_group",
            &whole,
            &format!("Additional properties are not allowed ('{k}' was unexpected)"),
        ));
    }
    let required = if mv.at_least(64) {
        "policy"
    } else {
        "policies"
    };
    for r in ["name", required] {
        if !req.contains_key(r) {
            return Err(invalid(
                "server_group",
                &whole,
                &format!("'{r}' is a required property"),
            ));
        }
    }
    let allowed = if mv.at_least(15) {
        POLICIES_V215
    } else {
        POLICIES_V21
    };
    if mv.at_least(64) {
        let p = &req["policy"];
        let policy = p.as_str().filter(|s| allowed.contains(s)).ok_or_else(|| {
            invalid(
                "server_group/policy",
                p,
                &format!("{p} is not one of {allowed:?}"),
            )
        })?;
        let rules = match req.get("rules") {
            None => Map::new(),
            Some(Value::Object(r)) => {
                if let Some(k) = r.keys().find(|k| *k != "max_server_per_host") {
                    return Err(invalid(
                        "server_group/rules",
                        &Value::Object(r.clone()),
                        &format!("Additional properties are not allowed ('{k}' was unexpected)"),
                    ));
                }
                if let Some(m) = r.get("max_server_per_host") {
                    let n = match m {
                        Value::Number(n) => n.as_i64(),
                        Value::String(s) => s.trim().parse().ok(),
                        _ => None,
                    };
                    if n.is_none_or(|n| n < 1) {
                        return Err(invalid(
                            "server_group/rules/max_server_per_host",
                            m,
                            &format!("{m} is not a positive integer"),
                        ));
                    }
                }
                r.clone()
            }
            Some(other) => {
                return Err(invalid(
                    "server_group/rules",
                    other,
                    &format!("{other} is not of type 'object'"),
                ))
            }
        };
        if policy != "anti-affinity" && !rules.is_empty() {
            return Err(ApiError::bad_request(
                "Only anti-affinity policy supports rules.",
            ));
        }
        return Ok((policy.to_string(), rules));
    }
    let p = &req["policies"];
    let list = p.as_array().ok_or_else(|| {
        invalid(
            "server_group/policies",
            p,
            &format!("{p} is not of type 'array'"),
        )
    })?;
    match list.as_slice() {
        [one] => match one.as_str().filter(|s| allowed.contains(s)) {
            Some(policy) => Ok((policy.to_string(), Map::new())),
            None => Err(invalid(
                "server_group/policies/0",
                one,
                &format!("{one} is not one of {allowed:?}"),
            )),
        },
        [] => Err(invalid("server_group/policies", p, "[] is too short")),
        _ => Err(invalid(
            "server_group/policies",
            p,
            &format!("{p} is too long"),
        )),
    }
}

/// Nova's server group name: 1 to 255 printable characters without
/// leading or trailing whitespace.
fn name_of(v: &Value) -> Result<String, ApiError> {
    let Some(s) = v.as_str() else {
        return Err(invalid(
            "server_group/name",
            v,
            &format!("{v} is not of type 'string'"),
        ));
    };
    if s.is_empty() || s.chars().count() > 255 {
        return Err(invalid(
            "server_group/name",
            v,
            "The name must be 1 to 255 characters.",
        ));
    }
    if s.starts_with(char::is_whitespace)
        || s.ends_with(char::is_whitespace)
        || s.chars().any(char::is_control)
    {
        return Err(ApiError::bad_request(
            "An invalid 'name' value was provided. The name must be: printable characters. \
             Can not start or end with whitespace.",
        ));
    }
    Ok(s.to_string())
}

pub async fn create(
    State(st): State<GatewayState>,
    c: Call,
    Extension(mv): Extension<Microversion>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let body: Value = parse_json(&body)?;
    let obj = body
        .as_object()
        .ok_or_else(|| ApiError::bad_request(format!("{body} is not of type 'object'")))?;
    if let Some(k) = obj.keys().find(|k| *k != "server_group") {
        return Err(ApiError::bad_request(format!(
            "Additional properties are not allowed ('{k}' was unexpected)"
        )));
    }
    let req = match obj.get("server_group") {
        Some(Value::Object(m)) => m,
        Some(other) => {
            return Err(invalid(
                "server_group",
                other,
                &format!("{other} is not of type 'object'"),
            ))
        }
        None => {
            return Err(ApiError::bad_request(
                "'server_group' is a required property",
            ))
        }
    };
    let (policy, rules) = policy_of(mv, req)?;
    let name = name_of(&req["name"])?;
    let (compute, caller) = domain(&st, &c);
    let g = compute
        .create_server_group(
            &caller,
            ServerGroupCreate {
                name,
                policy,
                rules,
            },
        )
        .await?;
    Ok(Json(json!({ "server_group": view(&g, mv) })))
}

fn int_param(
    params: &[(String, String)],
    key: &str,
    mv: Microversion,
) -> Result<Option<usize>, ApiError> {
    let Some(v) = params.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v) else {
        return Ok(None);
    };
    match v.parse::<i64>() {
        Ok(n) if n >= 0 => Ok(Some(usize::try_from(n).unwrap_or(usize::MAX))),
        _ if mv.at_least(75) => Err(ApiError::bad_request(format!(
            "Invalid input for query parameters {key}. Value: {v}. '{v}' does not match '^[0-9]*$'"
        ))),
        Ok(_) => Err(ApiError::bad_request(format!(
            "{key} param must be positive"
        ))),
        Err(_) => Err(ApiError::bad_request(format!(
            "{key} param must be an integer"
        ))),
    }
}

pub async fn list(
    State(st): State<GatewayState>,
    c: Call,
    Extension(mv): Extension<Microversion>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let params: Vec<(String, String)> =
        url::form_urlencoded::parse(raw.as_deref().unwrap_or("").as_bytes())
            .into_owned()
            .collect();
    if mv.at_least(75) {
        if let Some((k, _)) = params
            .iter()
            .find(|(k, _)| !matches!(k.as_str(), "all_projects" | "limit" | "offset"))
        {
            return Err(ApiError::bad_request(format!(
                "Additional properties are not allowed ('{k}' was unexpected)"
            )));
        }
    }
    let offset = int_param(&params, "offset", mv)?.unwrap_or(0);
    let limit = int_param(&params, "limit", mv)?.unwrap_or(1000).min(1000);
    // Non-admins asking for all projects get their own, as in Nova.
    let all = params.iter().any(|(k, _)| k == "all_projects");
    let (compute, caller) = domain(&st, &c);
    let groups = compute
        .list_server_groups(&caller, all, offset, limit)
        .await?;
    let out: Vec<Value> = groups.iter().map(|g| view(g, mv)).collect();
    Ok(Json(json!({ "server_groups": out })))
}

pub async fn show(
    State(st): State<GatewayState>,
    c: Call,
    Extension(mv): Extension<Microversion>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let (compute, caller) = domain(&st, &c);
    let g = compute.server_group(&caller, &id).await?;
    Ok(Json(json!({ "server_group": view(&g, mv) })))
}

/// Deletes the group's copies in the pods, then the group. Its servers
/// stay.
pub async fn delete(
    State(st): State<GatewayState>,
    c: Call,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let (compute, caller) = domain(&st, &c);
    compute.delete_server_group(&caller, &id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

// ------------------------------------------------------------------ boots

/// The group a boot names in `os:scheduler_hints` (or the legacy
/// `OS-SCH-HNT:scheduler_hints`), checked to be a UUID.
pub(super) fn hinted(body: &Value) -> Result<Option<String>, ApiError> {
    for key in tricircle_compute::servers::HINT_KEYS {
        let Some(g) = body.get(key).and_then(|h| h.get("group")) else {
            continue;
        };
        return match g.as_str().filter(|s| uuid::Uuid::try_parse(s).is_ok()) {
            Some(s) => Ok(Some(s.to_string())),
            None => Err(invalid(
                &format!("{key}/group"),
                g,
                &format!("{g} is not a 'uuid'"),
            )),
        };
    }
    Ok(None)
}

pub(super) fn routes() -> axum::Router<GatewayState> {
    use axum::routing::get;
    axum::Router::new()
        .route("/v2.1/os-server-groups", get(list).post(create))
        .route("/v2.1/os-server-groups/{id}", get(show).delete(delete))
}
