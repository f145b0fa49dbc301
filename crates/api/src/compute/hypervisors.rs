//! `os-hypervisors` (admin only): every pod's hypervisors as one list.
//!
//! Names are qualified by pod (`Pod1:pod1-compute1`, see
//! [`qualified_host`](crate::gateway::across::qualified_host)). From 2.53
//! ids are the pods' UUIDs, passed through (a show asks every pod); before
//! 2.53 they are integers of our own, one per (pod, hypervisor), stable
//! (the pods' own numbers collide). The list is gathered whole from every
//! pod and paged here (hypervisors are few); statistics are summed.

use axum::extract::{Path, RawQuery, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde_json::{json, Map, Value};
use tricircle_pods::PodPath;
use tricircle_store::Pod;

use super::microversion::Microversion;
use crate::error::ApiError;
use crate::gateway::across::{ask_pods, bottom_pods, qualify_field, split_qualified, Across};
use crate::gateway::forward::Respond as _;
use crate::gateway::forward::{call, PodCall};
use crate::gateway::{Call, GatewayState};

/// Kinds of our integer ids (before 2.53).
const HYPERVISOR: &str = "hypervisor";
pub(super) const COMPUTE_SERVICE: &str = "compute_service";

const WHAT: &str = "hypervisors";

fn pairs(raw: Option<&str>) -> Vec<(String, String)> {
    url::form_urlencoded::parse(raw.unwrap_or("").as_bytes())
        .into_owned()
        .collect()
}

fn encode(pairs: &[(String, String)]) -> Option<String> {
    (!pairs.is_empty()).then(|| {
        url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish()
    })
}

/// An id as text (`1`, or a UUID).
fn id_text(v: &Value) -> Option<String> {
    match v {
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) => Some(s.clone()),
        _ => None,
    }
}

/// Replaces the pod's integer id in `item[field]` by ours.
pub(super) async fn number_to_top(
    st: &GatewayState,
    pod: &Pod,
    item: &mut Value,
    field: &str,
    kind: &str,
) -> Result<(), ApiError> {
    if let Some(bottom) = item.get(field).and_then(id_text) {
        item[field] = json!(st.store.numeric_id(&pod.pod_id, kind, &bottom).await?);
    }
    Ok(())
}

/// A pod's hypervisor in top terms: qualified names, our ids before 2.53.
async fn to_top(
    st: &GatewayState,
    pod: &Pod,
    h: &mut Value,
    mv: Microversion,
) -> Result<(), ApiError> {
    qualify_field(h, "hypervisor_hostname", pod);
    if !mv.at_least(53) {
        number_to_top(st, pod, h, "id", HYPERVISOR).await?;
    }
    if let Some(svc) = h.get_mut("service") {
        qualify_field(svc, "host", pod);
        if !mv.at_least(53) {
            number_to_top(st, pod, svc, "id", COMPUTE_SERVICE).await?;
        }
    }
    Ok(())
}

/// Every pod's hypervisors (`/os-hypervisors[/detail]?query`), in top
/// terms, with their pods; before 2.53 sorted by our id, as Nova sorts by
/// its own.
async fn gather(
    st: &GatewayState,
    c: &Call,
    mv: Microversion,
    detail: bool,
    query: Option<&str>,
) -> Result<(Across, Vec<(Pod, Value)>), Response> {
    let pods = bottom_pods(st).await.map_err(IntoResponse::into_response)?;
    let path = if detail {
        PodPath::fixed("/os-hypervisors/detail")
    } else {
        PodPath::fixed("/os-hypervisors")
    };
    let across = ask_pods(st, c, pods, "compute", &path, query).await?;
    if let Some(e) = across.refusal(&[]) {
        return Err(e.into_response());
    }
    let mut items = Vec::new();
    for r in across.successes() {
        for h in r.body["hypervisors"].as_array().into_iter().flatten() {
            let mut h = h.clone();
            to_top(st, &r.pod, &mut h, mv)
                .await
                .map_err(IntoResponse::into_response)?;
            items.push((r.pod.clone(), h));
        }
    }
    if !mv.at_least(53) {
        items.sort_by_key(|(_, h)| h["id"].as_i64().unwrap_or(i64::MAX));
    }
    Ok((across, items))
}

fn parse_limit(v: &str, mv: Microversion) -> Result<usize, ApiError> {
    match v.parse::<i64>() {
        Ok(n) if n >= 0 => Ok(usize::try_from(n).unwrap_or(usize::MAX)),
        _ if mv.at_least(53) => Err(ApiError::bad_request(format!(
            "Invalid input for query parameters limit. Value: {v}. '{v}' does not match '^[0-9]*$'"
        ))),
        Ok(_) => Err(ApiError::bad_request("limit param must be positive")),
        Err(_) => Err(ApiError::bad_request("limit param must be an integer")),
    }
}

async fn list(
    st: GatewayState,
    c: Call,
    mv: Microversion,
    raw: Option<String>,
    detail: bool,
) -> Result<Response, ApiError> {
    c.ctx.require_admin(if detail {
        "os_compute_api:os-hypervisors:list-detail"
    } else {
        "os_compute_api:os-hypervisors:list"
    })?;
    let params = pairs(raw.as_deref());
    let (mut limit, mut marker, mut pattern) = (None, None, None);
    let mut pass = Vec::new();
    for (k, v) in &params {
        match k.as_str() {
            "limit" if mv.at_least(33) => limit = Some(parse_limit(v, mv)?),
            "marker" if mv.at_least(33) => marker = Some(v.clone()),
            "hypervisor_hostname_pattern" if mv.at_least(53) => pattern = Some(v.clone()),
            // Validated by the pods as they validate them.
            _ => pass.push((k.clone(), v.clone())),
        }
    }
    if pattern.is_some() && (limit.is_some() || marker.is_some()) {
        return Err(ApiError::bad_request(
            "Paging over hypervisors with the hypervisor_hostname_pattern query parameter is not supported.",
        ));
    }
    let (across, items) = match gather(&st, &c, mv, detail, encode(&pass).as_deref()).await {
        Ok(x) => x,
        Err(resp) => return Ok(resp),
    };
    let mut items: Vec<Value> = items.into_iter().map(|(_, h)| h).collect();
    if let Some(p) = &pattern {
        items.retain(|h| {
            h["hypervisor_hostname"]
                .as_str()
                .is_some_and(|n| n.contains(p.as_str()))
        });
        if items.is_empty() {
            let e = ApiError::not_found(format!("No hypervisor matching '{p}' could be found."));
            return Ok(across.respond_with(&st, e.into_response(), WHAT));
        }
    }
    if let Some(m) = &marker {
        let Some(pos) = items
            .iter()
            .position(|h| id_text(&h["id"]).as_deref() == Some(m.as_str()))
        else {
            let e = ApiError::bad_request(format!("marker [{m}] not found"));
            return Ok(across.respond_with(&st, e.into_response(), WHAT));
        };
        items.drain(..=pos);
    }
    let mut body = json!({});
    if let Some(l) = limit {
        items.truncate(l);
        // Nova links the next page whenever the page is full.
        if l > 0 && items.len() == l {
            if let Some(last) = items.last().and_then(|h| id_text(&h["id"])) {
                let path = if detail {
                    "os-hypervisors/detail"
                } else {
                    "os-hypervisors"
                };
                let mut q: Vec<(String, String)> = pass.clone();
                q.push(("limit".into(), l.to_string()));
                q.push(("marker".into(), last));
                body["hypervisors_links"] = json!([{"rel": "next",
                    "href": format!("{}/v2.1/{path}?{}", c.root, encode(&q).unwrap_or_default())}]);
            }
        }
    }
    body["hypervisors"] = Value::Array(items);
    Ok(across.respond(&st, body, WHAT))
}

pub async fn index(
    State(st): State<GatewayState>,
    c: Call,
    Extension(mv): Extension<Microversion>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    list(st, c, mv, raw, false).await
}

pub async fn detail(
    State(st): State<GatewayState>,
    c: Call,
    Extension(mv): Extension<Microversion>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    list(st, c, mv, raw, true).await
}

/// One hypervisor (`tail`: `uptime`), found by its id.
async fn one(
    st: &GatewayState,
    c: &Call,
    mv: Microversion,
    id: &str,
    tail: Option<&str>,
    query: Option<String>,
) -> Result<Response, ApiError> {
    let not_found =
        || ApiError::not_found(format!("Hypervisor with ID '{id}' could not be found."));
    let mut path = PodPath::of(["os-hypervisors", id]);
    if let Some(t) = tail {
        path = path.push(t);
    }
    if mv.at_least(53) {
        if uuid::Uuid::try_parse(id).is_err() {
            return Err(ApiError::bad_request(format!("Invalid uuid {id}")));
        }
        // UUIDs are the pods' own: the pod that has it answers.
        let pods = bottom_pods(st).await?;
        let across = match ask_pods(st, c, pods, "compute", &path, query.as_deref()).await {
            Ok(a) => a,
            Err(resp) => return Ok(resp),
        };
        if let Some(e) = across.refusal(&[StatusCode::NOT_FOUND]) {
            return Ok(across.respond_with(st, e.into_response(), WHAT));
        }
        let Some(r) = across.successes().next() else {
            return Ok(across.respond_with(st, not_found().into_response(), WHAT));
        };
        let mut h = r.body["hypervisor"].clone();
        to_top(st, &r.pod, &mut h, mv).await?;
        return Ok(across.respond(st, json!({ "hypervisor": h }), WHAT));
    }
    let n: i64 = id.trim().parse().map_err(|_| not_found())?;
    let (pod_id, bottom) = st
        .store
        .numeric_id_target(HYPERVISOR, n)
        .await?
        .ok_or_else(not_found)?;
    let pod = st.store.find_pod(&pod_id).await?.ok_or_else(not_found)?;
    let mut path = PodPath::of(["os-hypervisors", &bottom]);
    if let Some(t) = tail {
        path = path.push(t);
    }
    let answer = call(
        st,
        &c.ctx,
        &c.rid,
        &c.root,
        PodCall {
            pod: &pod,
            service_type: "compute",
            method: Method::GET,
            path,
            query,
            headers: &c.headers,
            body: None,
        },
    )
    .await?;
    if answer.status == StatusCode::NOT_FOUND {
        return Err(not_found());
    }
    let Some(mut doc) = answer.json().filter(|_| answer.is_success()) else {
        return Ok(answer.into_response());
    };
    answer.links.rewrite_json(&mut doc);
    to_top(st, &pod, &mut doc["hypervisor"], mv).await?;
    Ok(Json(doc).into_response())
}

pub async fn show(
    State(st): State<GatewayState>,
    c: Call,
    Extension(mv): Extension<Microversion>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    c.ctx.require_admin("os_compute_api:os-hypervisors:show")?;
    one(&st, &c, mv, &id, None, raw).await
}

/// The resource Nova no longer has at this microversion.
fn gone() -> ApiError {
    ApiError::not_found("The resource could not be found.")
}

/// `GET /os-hypervisors/{id}/uptime` (until 2.87).
pub async fn uptime(
    State(st): State<GatewayState>,
    c: Call,
    Extension(mv): Extension<Microversion>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    if mv.at_least(88) {
        return Err(gone());
    }
    c.ctx
        .require_admin("os_compute_api:os-hypervisors:uptime")?;
    one(&st, &c, mv, &id, Some("uptime"), None).await
}

/// `GET /os-hypervisors/statistics` (until 2.87): the pods' sums, summed.
pub async fn statistics(
    State(st): State<GatewayState>,
    c: Call,
    Extension(mv): Extension<Microversion>,
) -> Result<Response, ApiError> {
    if mv.at_least(88) {
        return Err(gone());
    }
    c.ctx
        .require_admin("os_compute_api:os-hypervisors:statistics")?;
    let pods = bottom_pods(&st).await?;
    let path = PodPath::fixed("/os-hypervisors/statistics");
    let across = match ask_pods(&st, &c, pods, "compute", &path, None).await {
        Ok(a) => a,
        Err(resp) => return Ok(resp),
    };
    if let Some(e) = across.refusal(&[]) {
        return Err(e);
    }
    let mut sums: Map<String, Value> = [
        "count",
        "vcpus",
        "memory_mb",
        "local_gb",
        "vcpus_used",
        "memory_mb_used",
        "local_gb_used",
        "free_ram_mb",
        "free_disk_gb",
        "current_workload",
        "running_vms",
        "disk_available_least",
    ]
    .into_iter()
    .map(|k| (k.to_string(), json!(0)))
    .collect();
    for r in across.successes() {
        for (k, v) in r.body["hypervisor_statistics"]
            .as_object()
            .into_iter()
            .flatten()
        {
            let Some(n) = v.as_i64() else { continue };
            let sum = sums.get(k).and_then(Value::as_i64).unwrap_or(0);
            sums.insert(k.clone(), json!(sum.saturating_add(n)));
        }
    }
    Ok(across.respond(&st, json!({ "hypervisor_statistics": sums }), WHAT))
}

/// The hypervisors whose qualified name contains `pattern` (until 2.52).
async fn matching(
    st: &GatewayState,
    c: &Call,
    mv: Microversion,
    pattern: &str,
) -> Result<(Across, Vec<(Pod, Value)>), Response> {
    let (across, mut items) = gather(st, c, mv, false, None).await?;
    items.retain(|(_, h)| {
        h["hypervisor_hostname"]
            .as_str()
            .is_some_and(|n| n.contains(pattern))
    });
    if items.is_empty() {
        let e = ApiError::not_found(format!(
            "No hypervisor matching '{pattern}' could be found."
        ));
        return Err(across.respond_with(st, e.into_response(), WHAT));
    }
    Ok((across, items))
}

/// `GET /os-hypervisors/{pattern}/search` (until 2.52).
pub async fn search(
    State(st): State<GatewayState>,
    c: Call,
    Extension(mv): Extension<Microversion>,
    Path(pattern): Path<String>,
) -> Result<Response, ApiError> {
    if mv.at_least(53) {
        return Err(gone());
    }
    c.ctx
        .require_admin("os_compute_api:os-hypervisors:search")?;
    let (across, items) = match matching(&st, &c, mv, &pattern).await {
        Ok(x) => x,
        Err(resp) => return Ok(resp),
    };
    let items: Vec<Value> = items.into_iter().map(|(_, h)| h).collect();
    Ok(across.respond(&st, json!({ "hypervisors": items }), WHAT))
}

/// `GET /os-hypervisors/{pattern}/servers` (until 2.52): the matching
/// hypervisors, each with its servers as its pod lists them.
pub async fn servers(
    State(st): State<GatewayState>,
    c: Call,
    Extension(mv): Extension<Microversion>,
    Path(pattern): Path<String>,
) -> Result<Response, ApiError> {
    if mv.at_least(53) {
        return Err(gone());
    }
    c.ctx
        .require_admin("os_compute_api:os-hypervisors:servers")?;
    let (across, items) = match matching(&st, &c, mv, &pattern).await {
        Ok(x) => x,
        Err(resp) => return Ok(resp),
    };
    let mut out = Vec::new();
    for (pod, mut h) in items {
        let Some(name) = h["hypervisor_hostname"].as_str().map(str::to_string) else {
            continue;
        };
        let bottom = split_qualified(&name).map_or(name.as_str(), |(_, host)| host);
        let answer = call(
            &st,
            &c.ctx,
            &c.rid,
            &c.root,
            PodCall {
                pod: &pod,
                service_type: "compute",
                method: Method::GET,
                path: PodPath::of(["os-hypervisors", bottom, "servers"]),
                query: None,
                headers: &c.headers,
                body: None,
            },
        )
        .await?;
        let servers = answer
            .json()
            .filter(|_| answer.is_success())
            .and_then(|doc| {
                doc["hypervisors"].as_array().and_then(|list| {
                    list.iter()
                        .find(|b| b["hypervisor_hostname"].as_str() == Some(bottom))
                        .and_then(|b| b.get("servers").cloned())
                })
            });
        if let Some(s) = servers {
            h["servers"] = s;
        }
        out.push(h);
    }
    Ok(across.respond(&st, json!({ "hypervisors": out }), WHAT))
}

pub(super) fn routes() -> axum::Router<GatewayState> {
    use axum::routing::get;
    axum::Router::new()
        .route("/v2.1/os-hypervisors", get(index))
        .route("/v2.1/os-hypervisors/detail", get(detail))
        .route("/v2.1/os-hypervisors/statistics", get(statistics))
        .route("/v2.1/os-hypervisors/{id}", get(show))
        .route("/v2.1/os-hypervisors/{id}/uptime", get(uptime))
        .route("/v2.1/os-hypervisors/{id}/search", get(search))
        .route("/v2.1/os-hypervisors/{id}/servers", get(servers))
}
