//! `os-simple-tenant-usage`: the usage of every pod, as one.
//!
//! Pods are asked for their server usages (detailed), in parallel; the
//! server usages are concatenated in pod order, cut at the limit (Nova's
//! `max_limit`, or the client's from 2.40) and each project's totals are
//! summed from them, as Nova sums them (hours, and vcpus, memory and disk
//! times hours). Projects are the same in every pod (one Keystone), so a
//! project with servers in two pods is one entry. A `marker` (2.40) is a
//! server: its pod continues after it, the pods after it from their start.

use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use serde_json::{json, Map, Value};
use tricircle_pods::PodPath;

use super::microversion::Microversion;
use crate::error::ApiError;
use crate::gateway::across::{ask_each, bottom_pods};
use crate::gateway::{routed_pod, Call, GatewayState};

/// Nova's `[api] max_limit`.
const MAX_LIMIT: usize = 1000;

fn parse_limit(v: &str, mv: Microversion) -> Result<usize, ApiError> {
    match v.parse::<i64>() {
        Ok(n) if n >= 0 => Ok(usize::try_from(n).unwrap_or(usize::MAX)),
        _ if mv.at_least(75) => Err(ApiError::bad_request(format!(
            "Invalid input for query parameters limit. Value: {v}. '{v}' does not match '^[0-9]*$'"
        ))),
        Ok(_) => Err(ApiError::bad_request("limit param must be positive")),
        Err(_) => Err(ApiError::bad_request("limit param must be an integer")),
    }
}

fn encode(pairs: &[(String, String)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

/// A project's entry, its totals summed from its server usages.
fn tenant_entry(
    tenant: &str,
    usages: Vec<Value>,
    period: &(Value, Value),
    detailed: bool,
) -> Value {
    let (mut hours, mut vcpus, mut memory, mut disk) = (0.0, 0.0, 0.0, 0.0);
    for u in &usages {
        let h = u["hours"].as_f64().unwrap_or(0.0);
        hours += h;
        vcpus += u["vcpus"].as_f64().unwrap_or(0.0) * h;
        memory += u["memory_mb"].as_f64().unwrap_or(0.0) * h;
        disk += u["local_gb"].as_f64().unwrap_or(0.0) * h;
    }
    let mut v = json!({
        "tenant_id": tenant,
        "total_local_gb_usage": disk,
        "total_vcpus_usage": vcpus,
        "total_memory_mb_usage": memory,
        "total_hours": hours,
        "start": period.0,
        "stop": period.1,
    });
    if detailed {
        v["server_usages"] = Value::Array(usages);
    }
    v
}

async fn usage(
    st: GatewayState,
    c: Call,
    mv: Microversion,
    raw: Option<String>,
    tenant: Option<String>,
) -> Result<Response, ApiError> {
    let params: Vec<(String, String)> =
        url::form_urlencoded::parse(raw.as_deref().unwrap_or("").as_bytes())
            .into_owned()
            .collect();
    let last = |k: &str| {
        params
            .iter()
            .rev()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
    };
    // Show always details; index when asked.
    let detailed = tenant.is_some() || last("detailed").as_deref() == Some("1");
    let (limit, marker) = if mv.at_least(40) {
        (
            last("limit").map(|l| parse_limit(&l, mv)).transpose()?,
            last("marker"),
        )
    } else {
        (None, None)
    };
    let cap = limit.unwrap_or(MAX_LIMIT).min(MAX_LIMIT);
    let mut pass: Vec<(String, String)> = params
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), "limit" | "marker" | "detailed"))
        .cloned()
        .collect();
    if tenant.is_none() {
        // Totals are summed here, from every server's usage.
        pass.push(("detailed".into(), "1".into()));
    } else if let Some(d) = last("detailed") {
        // Refused from 2.75 on, as the pods refuse it.
        pass.push(("detailed".into(), d));
    }
    if mv.at_least(40) {
        pass.push(("limit".into(), cap.to_string()));
    }
    let mut pods = bottom_pods(&st).await?;
    let mut marker_pod = None;
    if let Some(m) = &marker {
        let not_found = || ApiError::bad_request(format!("Marker {m} could not be found."));
        let (_, pod) = routed_pod(&st, &c.ctx, tricircle_core::ResourceType::Server, m)
            .await?
            .ok_or_else(not_found)?;
        let at = pods
            .iter()
            .position(|p| p.pod_id == pod.pod_id)
            .ok_or_else(not_found)?;
        pods.drain(..at);
        marker_pod = Some(pod.pod_id);
    }
    let path = match &tenant {
        Some(t) => PodPath::of(["os-simple-tenant-usage", t]),
        None => PodPath::fixed("/os-simple-tenant-usage"),
    };
    let asks = pods
        .into_iter()
        .map(|pod| {
            let mut q = pass.clone();
            if let (Some(m), Some(mp)) = (&marker, &marker_pod) {
                if *mp == pod.pod_id {
                    q.push(("marker".into(), m.clone()));
                }
            }
            (pod, path.clone(), Some(encode(&q)))
        })
        .collect();
    let across = match ask_each(&st, &c, asks, "compute").await {
        Ok(a) => a,
        Err(resp) => return Ok(resp),
    };
    if let Some(e) = across.refusal(&[]) {
        return Ok(across.respond_with(&st, e.into_response(), "usage"));
    }

    // Every server usage, in pod order, up to the cap.
    let mut period: Option<(Value, Value)> = None;
    let mut all: Vec<Value> = Vec::new();
    for r in across.successes() {
        let entries: Vec<&Value> = match &tenant {
            Some(_) => vec![&r.body["tenant_usage"]],
            None => r.body["tenant_usages"]
                .as_array()
                .into_iter()
                .flatten()
                .collect(),
        };
        for t in entries {
            if period.is_none() && t.get("start").is_some() {
                period = Some((t["start"].clone(), t["stop"].clone()));
            }
            all.extend(t["server_usages"].as_array().into_iter().flatten().cloned());
        }
    }
    all.truncate(cap);
    let last_id = all
        .last()
        .and_then(|u| u["instance_id"].as_str())
        .map(str::to_string);
    let count = all.len();
    let period = period.unwrap_or((Value::Null, Value::Null));
    let mut order: Vec<String> = Vec::new();
    let mut by_tenant: Map<String, Value> = Map::new();
    for u in all {
        let t = u["tenant_id"].as_str().unwrap_or_default().to_string();
        let entry = by_tenant.entry(t.clone()).or_insert_with(|| {
            order.push(t);
            json!([])
        });
        if let Some(list) = entry.as_array_mut() {
            list.push(u);
        }
    }
    let entries: Vec<Value> = order
        .iter()
        .map(|t| {
            let usages = match by_tenant.remove(t) {
                Some(Value::Array(a)) => a,
                _ => Vec::new(),
            };
            tenant_entry(t, usages, &period, detailed)
        })
        .collect();

    let (key, links_key, collection) = match &tenant {
        Some(t) => (
            "tenant_usage",
            "tenant_usage_links",
            format!("os-simple-tenant-usage/{t}"),
        ),
        None => (
            "tenant_usages",
            "tenant_usages_links",
            "os-simple-tenant-usage".to_string(),
        ),
    };
    let mut body = match &tenant {
        Some(_) => json!({ key: entries.into_iter().next().unwrap_or_else(|| json!({})) }),
        None => json!({ key: entries }),
    };
    // Nova links the next page whenever the page is full.
    if mv.at_least(40) && cap > 0 && count == cap {
        if let Some(last_id) = last_id {
            let mut q: Vec<(String, String)> = params
                .iter()
                .filter(|(k, _)| k != "marker")
                .cloned()
                .collect();
            q.push(("marker".into(), last_id));
            body[links_key] = json!([{"rel": "next",
                "href": format!("{}/v2.1/{collection}?{}", c.root, encode(&q))}]);
        }
    }
    Ok(across.respond(&st, body, "usage"))
}

/// `GET /os-simple-tenant-usage` (admin): every project's usage.
pub async fn index(
    State(st): State<GatewayState>,
    c: Call,
    Extension(mv): Extension<Microversion>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    c.ctx
        .require_admin("os_compute_api:os-simple-tenant-usage:list")?;
    usage(st, c, mv, raw, None).await
}

/// `GET /os-simple-tenant-usage/{tenant_id}`: one project's usage (its
/// members, or admin).
pub async fn show(
    State(st): State<GatewayState>,
    c: Call,
    Extension(mv): Extension<Microversion>,
    Path(tenant): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    if !c.ctx.is_admin() && c.ctx.project_id != tenant {
        return Err(ApiError::forbidden(
            "os_compute_api:os-simple-tenant-usage:show",
        ));
    }
    usage(st, c, mv, raw, Some(tenant)).await
}

pub(super) fn routes() -> axum::Router<GatewayState> {
    use axum::routing::get;
    axum::Router::new()
        .route("/v2.1/os-simple-tenant-usage", get(index))
        .route("/v2.1/os-simple-tenant-usage/{tenant}", get(show))
}
