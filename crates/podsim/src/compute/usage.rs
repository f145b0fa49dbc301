//! `os-simple-tenant-usage`: hours of servers in a period, per project
//! (index, admin) or for one project (show), as Nova computes them.

use axum::extract::State;
use axum::Json;
use chrono::{DateTime, NaiveDateTime, Utc};
use serde_json::{json, Map, Value};

use super::ctx::{naive, Ctx, P};
use super::error::{NResult, NovaError};
use super::model::Server;
use crate::pod::Pod;

/// Nova's `_parse_datetime`: absent is now; three formats, naive UTC.
fn parse_datetime(s: Option<&str>) -> NResult<DateTime<Utc>> {
    let Some(s) = s.filter(|s| !s.is_empty()) else {
        return Ok(Utc::now());
    };
    for fmt in [
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, fmt) {
            return Ok(t.and_utc());
        }
    }
    Err(NovaError::bad_request(
        "Invalid datetime string: Datetime is in invalid format",
    ))
}

/// `(start, stop, detailed)` of the query; the stop is never in the future.
fn period(ctx: &Ctx) -> NResult<(DateTime<Utc>, DateTime<Utc>, bool)> {
    let start = parse_datetime(ctx.query.get("start"))?;
    let stop = parse_datetime(ctx.query.get("end"))?;
    if start >= stop {
        return Err(NovaError::bad_request(
            "Invalid start time. The start time cannot occur after the end time.",
        ));
    }
    let detailed = ctx.query.get("detailed") == Some("1");
    Ok((start, stop.min(Utc::now()), detailed))
}

fn hours_for(s: &Server, start: DateTime<Utc>, stop: DateTime<Utc>) -> f64 {
    let Some(launched) = s.launched_at else {
        return 0.0;
    };
    if s.terminated_at.is_some_and(|t| t < start) || launched > stop {
        return 0.0;
    }
    let from = launched.max(start);
    let to = s.terminated_at.map_or(stop, |t| t.min(stop));
    (to - from).num_milliseconds() as f64 / 3_600_000.0
}

/// The servers (deleted ones too) active in the period, oldest first,
/// of `project` if given, paged by instance uuid (2.40).
fn usages(pod: &Pod, ctx: &Ctx, project: Option<&str>) -> NResult<(Vec<Value>, Vec<Value>, bool)> {
    let (start, stop, detailed) = period(ctx)?;
    let (limit, marker) = if ctx.at_least(40) {
        ctx.limit_and_marker()?
    } else {
        (super::MAX_LIMIT, None)
    };
    let mut servers: Vec<Server> = pod.compute().with(|st| {
        st.servers
            .iter()
            .chain(st.deleted.iter())
            .filter(|s| project.is_none_or(|p| s.project_id == p))
            .filter(|s| s.terminated_at.is_none_or(|t| t > start))
            .filter(|s| s.launched_at.is_some_and(|l| l < stop))
            .cloned()
            .collect()
    });
    servers.sort_by_key(|s| s.seq);
    if let Some(m) = &marker {
        let pos = servers
            .iter()
            .position(|s| s.id == *m)
            .ok_or_else(|| NovaError::bad_request(format!("Marker {m} could not be found.")))?;
        servers.drain(..=pos);
    }
    servers.truncate(limit);
    let now = Utc::now();
    let mut order: Vec<String> = Vec::new();
    let mut by_project: Map<String, Value> = Map::new();
    let mut all = Vec::new();
    for s in &servers {
        let hours = hours_for(s, start, stop);
        let local_gb = s.flavor.disk + s.flavor.ephemeral;
        let ended = s.terminated_at;
        let state = if ended.is_some() {
            "terminated"
        } else {
            s.vm_state
        };
        let launched = s.launched_at.unwrap_or(now);
        let uptime = (ended.unwrap_or(now) - launched).num_seconds();
        let info = json!({
            "hours": hours,
            "flavor": s.flavor.name,
            "instance_id": s.id,
            "name": s.name,
            "tenant_id": s.project_id,
            "memory_mb": s.flavor.ram,
            "local_gb": local_gb,
            "vcpus": s.flavor.vcpus,
            "started_at": naive(launched),
            "ended_at": ended.map(naive),
            "state": state,
            "uptime": uptime,
        });
        let summary = by_project.entry(s.project_id.clone()).or_insert_with(|| {
            order.push(s.project_id.clone());
            let mut m = json!({
                "tenant_id": s.project_id,
                "total_local_gb_usage": 0.0,
                "total_vcpus_usage": 0.0,
                "total_memory_mb_usage": 0.0,
                "total_hours": 0.0,
                "start": naive(start),
                "stop": naive(stop),
            });
            if detailed {
                m["server_usages"] = json!([]);
            }
            m
        });
        let add = |summary: &mut Value, k: &str, v: f64| {
            let have = summary[k].as_f64().unwrap_or(0.0);
            summary[k] = json!(have + v);
        };
        add(summary, "total_local_gb_usage", local_gb as f64 * hours);
        add(summary, "total_vcpus_usage", s.flavor.vcpus as f64 * hours);
        add(
            summary,
            "total_memory_mb_usage",
            s.flavor.ram as f64 * hours,
        );
        add(summary, "total_hours", hours);
        if let Some(list) = summary
            .get_mut("server_usages")
            .and_then(Value::as_array_mut)
        {
            list.push(info.clone());
        }
        all.push(info);
    }
    let tenants = order.iter().filter_map(|p| by_project.remove(p)).collect();
    Ok((tenants, all, detailed))
}

/// `GET /os-simple-tenant-usage` (admin).
pub(crate) async fn index(State(pod): State<Pod>, ctx: Ctx) -> NResult<Json<Value>> {
    ctx.require_admin("os_compute_api:os-simple-tenant-usage:list")?;
    if ctx.at_least(75) {
        ctx.check_query_keys(&["start", "end", "detailed", "limit", "marker"])?;
    }
    let (tenants, all, _) = usages(&pod, &ctx, None)?;
    let mut body = json!({ "tenant_usages": tenants });
    if ctx.at_least(40) {
        let last = all.last().and_then(|u| u["instance_id"].as_str());
        if let Some(l) = ctx.next_links("os-simple-tenant-usage", all.len(), last) {
            body["tenant_usages_links"] = l;
        }
    }
    Ok(Json(body))
}

/// `GET /os-simple-tenant-usage/{tenant_id}` (the project's members, or
/// admin): server usages always.
pub(crate) async fn show(State(pod): State<Pod>, ctx: Ctx, p: P) -> NResult<Json<Value>> {
    let tenant = p.get("tenant_id").to_string();
    if !ctx.is_admin() && ctx.project() != tenant {
        return Err(NovaError::policy(
            "os_compute_api:os-simple-tenant-usage:show",
        ));
    }
    if ctx.at_least(75) {
        ctx.check_query_keys(&["start", "end", "limit", "marker"])?;
    }
    // Show is always detailed.
    let mut tenants = Vec::new();
    let mut all = Vec::new();
    {
        let (t, a, detailed) = usages(&pod, &ctx, Some(&tenant))?;
        for mut u in t {
            if !detailed {
                u["server_usages"] = json!(a
                    .iter()
                    .filter(|s| s["tenant_id"] == u["tenant_id"])
                    .cloned()
                    .collect::<Vec<_>>());
            }
            tenants.push(u);
        }
        all.extend(a);
    }
    let usage = tenants.into_iter().next().unwrap_or_else(|| json!({}));
    let mut body = json!({ "tenant_usage": usage });
    if ctx.at_least(40) {
        let last = all.last().and_then(|u| u["instance_id"].as_str());
        if let Some(l) =
            ctx.next_links(&format!("os-simple-tenant-usage/{tenant}"), all.len(), last)
        {
            body["tenant_usage_links"] = l;
        }
    }
    Ok(Json(body))
}
