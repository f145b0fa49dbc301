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

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde_json::{json, Map, Value};
use tricircle_pods::PodPath;
use tricircle_store::{Pod, RoutingFilter, RoutingLock, ServerGroup, StoreError};

use super::microversion::Microversion;
use crate::body::parse_json;
use crate::error::ApiError;
use crate::gateway::forward::{call, PodAnswer, PodCall};
use crate::gateway::{Call, GatewayState};

/// Routing resource type of a group's copy in a pod.
const ROUTING_TYPE: &str = "server_group";
/// Nova's default quotas.
const DEFAULT_GROUPS: i64 = 10;
const DEFAULT_MEMBERS: i64 = 10;
/// How long a creation lock may stay unfilled before another request
/// takes it over (and looks the copy up by name).
const LOCK_TIMEOUT: Duration = Duration::from_secs(60);

const POLICIES_V21: &[&str] = &["affinity", "anti-affinity"];
const POLICIES_V215: &[&str] = &[
    "affinity",
    "anti-affinity",
    "soft-affinity",
    "soft-anti-affinity",
];

fn not_found(id: &str) -> ApiError {
    ApiError::not_found(format!("Instance group {id} could not be found."))
}

fn invalid(field: &str, value: &Value, why: &str) -> ApiError {
    ApiError::bad_request(format!(
        "Invalid input for field/attribute {field}. Value: {value}. {why}"
    ))
}

async fn limit_of(
    st: &GatewayState,
    project: &str,
    key: &str,
    default: i64,
) -> Result<i64, ApiError> {
    Ok(st
        .store
        .quota_limits(project)
        .await?
        .get(key)
        .copied()
        .unwrap_or(default))
}

async fn view(st: &GatewayState, g: &ServerGroup, mv: Microversion) -> Result<Value, ApiError> {
    let members: Vec<String> = st
        .store
        .server_group_members(&g.id)
        .await?
        .into_iter()
        .map(|m| m.server_id)
        .collect();
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
    Ok(v)
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
    let limit = limit_of(&st, &c.ctx.project_id, "server_groups", DEFAULT_GROUPS).await?;
    let g = ServerGroup {
        id: uuid::Uuid::new_v4().to_string(),
        project_id: c.ctx.project_id.clone(),
        user_id: c.ctx.user_id.clone(),
        name,
        policy,
        rules: Value::Object(rules).to_string(),
        created_at: chrono::Utc::now()
            .format("%Y-%m-%dT%H:%M:%S%.6fZ")
            .to_string(),
    };
    if !st.store.create_server_group(&g, limit).await? {
        return Err(ApiError::forbidden_message(
            "Quota exceeded, too many server groups.",
        ));
    }
    Ok(Json(json!({ "server_group": view(&st, &g, mv).await? })))
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
    let all = c.ctx.is_admin() && params.iter().any(|(k, _)| k == "all_projects");
    let groups = st
        .store
        .list_server_groups((!all).then_some(c.ctx.project_id.as_str()))
        .await?;
    let mut out = Vec::new();
    for g in groups.iter().skip(offset).take(limit) {
        out.push(view(&st, g, mv).await?);
    }
    Ok(Json(json!({ "server_groups": out })))
}

/// The group `id` if the caller may see it. Another project's group is a
/// 404, as an unknown id is (Nova answers its policy's 403 there, which
/// tells that the group exists: we do not); a reader's change to a group
/// of its own project is the 403 the shell deferred until the lookup.
async fn find(st: &GatewayState, c: &Call, id: &str) -> Result<ServerGroup, ApiError> {
    let g = match st.store.get_server_group(id).await {
        Ok(g) => g,
        Err(StoreError::NotFound(_)) => return Err(not_found(id)),
        Err(e) => return Err(e.into()),
    };
    if !c.ctx.is_admin() && g.project_id != c.ctx.project_id {
        return Err(not_found(id));
    }
    if let Some(action) = &c.ctx.refused_write {
        return Err(ApiError::forbidden(action));
    }
    Ok(g)
}

pub async fn show(
    State(st): State<GatewayState>,
    c: Call,
    Extension(mv): Extension<Microversion>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let g = find(&st, &c, &id).await?;
    Ok(Json(json!({ "server_group": view(&st, &g, mv).await? })))
}

/// Deletes the group's copies in the pods (best effort: a copy left
/// behind holds nothing), then the group. Its servers stay.
pub async fn delete(
    State(st): State<GatewayState>,
    c: Call,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let g = find(&st, &c, &id).await?;
    // No boot may copy it again meanwhile.
    st.store.add_tombstone(&g.id, ROUTING_TYPE).await?;
    let copies = st
        .store
        .list_routings(
            &RoutingFilter {
                top_id: Some(g.id.clone()),
                resource_type: Some(ROUTING_TYPE.into()),
                ..Default::default()
            },
            None,
            10_000,
        )
        .await?
        .routings;
    for r in copies {
        let Some(pod) = st.store.find_pod(&r.pod_id).await? else {
            continue;
        };
        let gone = match r.bottom_id.as_deref().filter(|b| !b.is_empty()) {
            Some(bottom) => match pod_call(
                &st,
                &c,
                &pod,
                Method::DELETE,
                PodPath::of(["os-server-groups", bottom]),
                None,
            )
            .await
            {
                Ok(a) => a.is_success() || a.status == StatusCode::NOT_FOUND,
                Err(e) => {
                    tracing::warn!(pod = %pod.pod_name, error = %e.message, group = %g.id, "server group copy not deleted");
                    false
                }
            },
            None => true,
        };
        if gone {
            st.store.delete_routing(r.id).await?;
        }
    }
    st.store.delete_server_group(&g.id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

// ------------------------------------------------------------------ boots

/// The group a boot names in `os:scheduler_hints` (or the legacy
/// `OS-SCH-HNT:scheduler_hints`), checked to be a UUID.
pub(super) fn hinted(body: &Value) -> Result<Option<String>, ApiError> {
    for key in ["os:scheduler_hints", "OS-SCH-HNT:scheduler_hints"] {
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

/// A group a boot joins.
pub(super) struct BootGroup {
    group: ServerGroup,
    /// The pod every member must be in (affinity), when it has members.
    pub pinned: Option<Pod>,
}

/// The group `id` a boot of `count` servers in `az` (if given) joins:
/// Nova's checks (the group exists, its member quota) and where an
/// affinity group's members are.
pub(super) async fn for_boot(
    st: &GatewayState,
    c: &Call,
    id: &str,
    az: Option<&str>,
    count: i64,
) -> Result<BootGroup, ApiError> {
    let missing = || ApiError::bad_request(format!("Instance group {id} could not be found."));
    let group = match st.store.get_server_group(id).await {
        Ok(g) if c.ctx.is_admin() || g.project_id == c.ctx.project_id => g,
        Ok(_) | Err(StoreError::NotFound(_)) => return Err(missing()),
        Err(e) => return Err(e.into()),
    };
    let members = st.store.server_group_members(&group.id).await?;
    let limit = limit_of(
        st,
        &group.project_id,
        "server_group_members",
        DEFAULT_MEMBERS,
    )
    .await?;
    if limit >= 0 && members.len() as i64 + count > limit {
        return Err(ApiError::forbidden_message(
            "Quota exceeded, too many servers in group",
        ));
    }
    let mut pinned = None;
    if matches!(group.policy.as_str(), "affinity" | "soft-affinity") {
        if let Some(first) = members.first() {
            let pod = st
                .store
                .find_pod(&first.pod_id)
                .await?
                .ok_or_else(missing)?;
            let elsewhere = az.is_some_and(|a| a != pod.az_name);
            match (group.policy.as_str(), elsewhere) {
                ("affinity", true) => {
                    return Err(ApiError::bad_request(format!(
                        "Server group {id} has the affinity policy and its servers are in availability \
                         zone {}: a server of the group cannot be booted in availability zone {}.",
                        pod.az_name,
                        az.unwrap_or_default()
                    )))
                }
                // Soft affinity gives way to the AZ asked for.
                (_, true) => {}
                (_, false) => {
                    if pod.maintenance && group.policy == "affinity" {
                        return Err(ApiError::conflict(format!(
                            "Server group {id} keeps its servers in pod {}, which is in maintenance.",
                            pod.pod_name
                        )));
                    }
                    if !pod.maintenance {
                        pinned = Some(pod);
                    }
                }
            }
        }
    }
    Ok(BootGroup { group, pinned })
}

impl BootGroup {
    /// Copies the group into `pod` if it is not there yet; the copy's id.
    pub(super) async fn ensure_in_pod(
        &self,
        st: &GatewayState,
        c: &Call,
        pod: &Pod,
    ) -> Result<String, ApiError> {
        let g = &self.group;
        let started = tokio::time::Instant::now();
        let mut pause = Duration::from_millis(20);
        loop {
            let (routing_id, recovering) = match st
                .store
                .lock_routing(&g.id, &pod.pod_id, &g.project_id, ROUTING_TYPE)
                .await?
            {
                RoutingLock::Done { bottom_id, .. } => return Ok(bottom_id),
                RoutingLock::Tombstoned => {
                    return Err(ApiError::bad_request(format!(
                        "Instance group {} could not be found.",
                        g.id
                    )))
                }
                RoutingLock::Owner { routing_id } => (routing_id, false),
                RoutingLock::Busy { routing_id, since } => {
                    if stale(&since) && st.store.take_over_routing_lock(routing_id, &since).await? {
                        (routing_id, true)
                    } else if started.elapsed() > LOCK_TIMEOUT * 2 {
                        return Err(ApiError::new(
                            StatusCode::SERVICE_UNAVAILABLE,
                            format!(
                                "Server group {} is still being prepared in pod {}.",
                                g.id, pod.pod_name
                            ),
                        ));
                    } else {
                        tokio::time::sleep(pause).await;
                        pause = (pause * 2).min(Duration::from_millis(500));
                        continue;
                    }
                }
            };
            let made = async {
                if recovering {
                    if let Some(id) = self.find_copy(st, c, pod).await? {
                        return Ok(id);
                    }
                }
                self.create_copy(st, c, pod).await
            }
            .await;
            return match made {
                Ok(bottom) => {
                    st.store.fill_routing_lock(routing_id, &bottom).await?;
                    Ok(bottom)
                }
                // The pod may have made it: the lock stays, the next owner
                // finds the copy by name.
                Err(e) if e.status == StatusCode::SERVICE_UNAVAILABLE => Err(e),
                Err(e) => {
                    if let Err(re) = st.store.release_routing_lock(routing_id).await {
                        tracing::warn!(error = %re, "could not release a creation lock");
                    }
                    Err(e)
                }
            };
        }
    }

    /// The pod's copy made by an earlier owner, found by its name (the top id).
    async fn find_copy(
        &self,
        st: &GatewayState,
        c: &Call,
        pod: &Pod,
    ) -> Result<Option<String>, ApiError> {
        let a = pod_call(
            st,
            c,
            pod,
            Method::GET,
            PodPath::fixed("/os-server-groups"),
            None,
        )
        .await?;
        if !a.is_success() {
            return Err(not_prepared(pod, &self.group.id, &a));
        }
        Ok(a.json().and_then(|v| {
            v["server_groups"].as_array().and_then(|list| {
                list.iter()
                    .find(|g| g["name"].as_str() == Some(self.group.id.as_str()))
                    .and_then(|g| g["id"].as_str().map(str::to_string))
            })
        }))
    }

    async fn create_copy(
        &self,
        st: &GatewayState,
        c: &Call,
        pod: &Pod,
    ) -> Result<String, ApiError> {
        let g = &self.group;
        let rules: Value = serde_json::from_str(&g.rules).unwrap_or_else(|_| json!({}));
        let body = json!({"server_group": {"name": g.id, "policy": g.policy, "rules": rules}});
        let a = pod_call(
            st,
            c,
            pod,
            Method::POST,
            PodPath::fixed("/os-server-groups"),
            Some(body),
        )
        .await?;
        if !a.is_success() {
            return Err(not_prepared(pod, &g.id, &a));
        }
        a.json()
            .and_then(|v| v["server_group"]["id"].as_str().map(str::to_string))
            .ok_or_else(|| not_prepared(pod, &g.id, &a))
    }

    /// Records the servers the boot made in `pod` as members.
    pub(super) async fn record(&self, st: &GatewayState, pod: &Pod, servers: &[String]) {
        if let Err(e) = st
            .store
            .add_server_group_members(&self.group.id, &pod.pod_id, servers)
            .await
        {
            tracing::warn!(error = %e, group = %self.group.id, "server group members not recorded");
        }
    }
}

/// Replaces the group of a boot's scheduler hints by the pod's copy.
pub(super) fn set_hint(body: &mut Value, bottom_id: &str) {
    for key in ["os:scheduler_hints", "OS-SCH-HNT:scheduler_hints"] {
        if let Some(h) = body.get_mut(key).and_then(Value::as_object_mut) {
            if h.contains_key("group") {
                h.insert("group".into(), json!(bottom_id));
            }
        }
    }
}

/// The top ids of the pod's group copies a server view names in
/// `server_groups` (2.71+), as `(bottom, top)` pairs.
pub(super) async fn top_ids_of_groups(
    st: &GatewayState,
    pod: &Pod,
    answer: &PodAnswer,
) -> Vec<(String, String)> {
    let bottoms: Vec<String> = answer
        .json()
        .and_then(|v| {
            v["server"]["server_groups"].as_array().map(|a| {
                a.iter()
                    .filter_map(|g| g.as_str().map(str::to_string))
                    .collect()
            })
        })
        .unwrap_or_default();
    let mut pairs = Vec::new();
    for bottom in bottoms {
        let filter = RoutingFilter {
            bottom_id: Some(bottom.clone()),
            pod_id: Some(pod.pod_id.clone()),
            resource_type: Some(ROUTING_TYPE.into()),
            ..Default::default()
        };
        match st.store.list_routings(&filter, None, 1).await {
            Ok(page) => {
                if let Some(r) = page.routings.into_iter().next() {
                    pairs.push((bottom, r.top_id));
                }
            }
            Err(e) => tracing::warn!(error = %e, "server group of a server not mapped to the top"),
        }
    }
    pairs
}

/// Renames a server view's `server_groups` by [`top_ids_of_groups`].
pub(super) fn groups_to_top(v: &mut Value, pairs: &[(String, String)]) {
    let Some(groups) = v
        .get_mut("server")
        .and_then(|s| s.get_mut("server_groups"))
        .and_then(Value::as_array_mut)
    else {
        return;
    };
    for g in groups {
        if let Some((_, top)) = pairs.iter().find(|(b, _)| g.as_str() == Some(b.as_str())) {
            *g = json!(top);
        }
    }
}

fn stale(since: &str) -> bool {
    match chrono::DateTime::parse_from_rfc3339(since) {
        Ok(t) => chrono::Utc::now()
            .signed_duration_since(t)
            .to_std()
            .is_ok_and(|age| age > LOCK_TIMEOUT),
        Err(_) => true,
    }
}

fn not_prepared(pod: &Pod, id: &str, answer: &PodAnswer) -> ApiError {
    tracing::error!(pod = %pod.pod_name, status = %answer.status, body = %String::from_utf8_lossy(&answer.body), "server group copy failed");
    let status = if answer.status == StatusCode::FORBIDDEN {
        // The pod's own quota of server groups.
        StatusCode::FORBIDDEN
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    ApiError::new(
        status,
        format!(
            "Server group {id} could not be prepared in pod {}.",
            pod.pod_name
        ),
    )
}

/// A call about server groups to a pod with the caller's token, at 2.64
/// (`policy` and `rules`) whatever the client asked.
async fn pod_call(
    st: &GatewayState,
    c: &Call,
    pod: &Pod,
    method: Method,
    path: PodPath,
    body: Option<Value>,
) -> Result<PodAnswer, ApiError> {
    let mut headers = HeaderMap::new();
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    headers.insert(
        "openstack-api-version",
        HeaderValue::from_static("compute 2.64"),
    );
    headers.insert(
        "x-openstack-nova-api-version",
        HeaderValue::from_static("2.64"),
    );
    call(
        st,
        &c.ctx,
        &c.rid,
        &c.root,
        PodCall {
            pod,
            service_type: "compute",
            method,
            path,
            query: None,
            headers: &headers,
            body: body.map(|b| Bytes::from(b.to_string())),
        },
    )
    .await
}

pub(super) fn routes() -> axum::Router<GatewayState> {
    use axum::routing::get;
    axum::Router::new()
        .route("/v2.1/os-server-groups", get(list).post(create))
        .route("/v2.1/os-server-groups/{id}", get(show).delete(delete))
}
