//! Availability zones, limits, quota sets, hypervisors and services.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use md5::{Digest, Md5};
use serde_json::{json, Map, Value};

use super::ctx::{field_error, naive, wrapper, Ctx, NBody, P};
use super::error::{NResult, NovaError};
use super::flavors::verify_project;
use super::host_name;
use crate::image::schema::py_repr;
use crate::pod::Pod;

/// The fake hypervisor's capacity.
pub const HYPERVISOR_VCPUS: u64 = 64;
pub const HYPERVISOR_MEMORY_MB: u64 = 262_144;
pub const HYPERVISOR_LOCAL_GB: u64 = 4096;

/// A stable UUID derived from `seed` (ids of the fake hypervisor and
/// services).
fn stable_uuid(seed: &str) -> String {
    let h = format!("{:x}", Md5::digest(seed));
    format!(
        "{}-{}-4{}-8{}-{}",
        &h[..8],
        &h[8..12],
        &h[13..16],
        &h[17..20],
        &h[20..32]
    )
}

/// When the fake services last reported (always "just now").
fn heartbeat() -> DateTime<Utc> {
    Utc::now()
}

// ------------------------------------------------------- availability zone

/// `GET /os-availability-zone`.
pub(crate) async fn az(State(pod): State<Pod>, _ctx: Ctx) -> Json<Value> {
    Json(json!({"availabilityZoneInfo": [{
        "zoneName": pod.config().availability_zone,
        "zoneState": {"available": true},
        "hosts": null,
    }]}))
}

/// `GET /os-availability-zone/detail` (admin).
pub(crate) async fn az_detail(State(pod): State<Pod>, ctx: Ctx) -> NResult<Json<Value>> {
    ctx.require_admin("os_compute_api:os-availability-zone:detail")?;
    let t = naive(heartbeat());
    let svc = json!({"available": true, "active": true, "updated_at": t});
    let control = format!("{}-controller", pod.region().to_ascii_lowercase());
    Ok(Json(json!({"availabilityZoneInfo": [
        {
            "zoneName": "internal",
            "zoneState": {"available": true},
            "hosts": {control: {"nova-conductor": svc, "nova-scheduler": svc}},
        },
        {
            "zoneName": pod.config().availability_zone,
            "zoneState": {"available": true},
            "hosts": {host_name(&pod): {"nova-compute": svc}},
        },
    ]})))
}

// ------------------------------------------------------------------ limits

/// `GET /limits` (`?tenant_id=` for admins).
pub(crate) async fn limits(State(pod): State<Pod>, ctx: Ctx) -> NResult<Json<Value>> {
    if ctx.at_least(75) {
        ctx.check_query_keys(&["tenant_id"])?;
    }
    let project = match ctx.query.get("tenant_id") {
        Some(t) if t != ctx.project() => {
            ctx.require_admin("os_compute_api:limits:other_project")?;
            t.to_string()
        }
        _ => ctx.project().to_string(),
    };
    let (q, (used_i, used_c, used_r)) = pod
        .compute()
        .with(|st| (st.quota_limits(&project), st.usage(&project)));
    let get = |k: &str| q.get(k).copied().unwrap_or(-1);
    let mut abs = Map::new();
    abs.insert("maxTotalRAMSize".into(), json!(get("ram")));
    abs.insert("maxTotalInstances".into(), json!(get("instances")));
    abs.insert("maxTotalCores".into(), json!(get("cores")));
    abs.insert("maxTotalKeypairs".into(), json!(get("key_pairs")));
    abs.insert("maxServerMeta".into(), json!(get("metadata_items")));
    abs.insert("maxServerGroups".into(), json!(get("server_groups")));
    abs.insert(
        "maxServerGroupMembers".into(),
        json!(get("server_group_members")),
    );
    if !ctx.at_least(39) {
        abs.insert("maxImageMeta".into(), json!(get("metadata_items")));
    }
    if !ctx.at_least(57) {
        abs.insert("maxPersonality".into(), json!(get("injected_files")));
        abs.insert(
            "maxPersonalitySize".into(),
            json!(get("injected_file_content_bytes")),
        );
    }
    if !ctx.at_least(36) {
        abs.insert("maxTotalFloatingIps".into(), json!(get("floating_ips")));
        abs.insert("maxSecurityGroups".into(), json!(get("security_groups")));
        abs.insert(
            "maxSecurityGroupRules".into(),
            json!(get("security_group_rules")),
        );
        abs.insert("totalFloatingIpsUsed".into(), json!(0));
        abs.insert("totalSecurityGroupsUsed".into(), json!(0));
    }
    abs.insert("totalRAMUsed".into(), json!(used_r));
    abs.insert("totalCoresUsed".into(), json!(used_c));
    abs.insert("totalInstancesUsed".into(), json!(used_i));
    abs.insert("totalServerGroupsUsed".into(), json!(0));
    Ok(Json(json!({"limits": {"rate": [], "absolute": abs}})))
}

// -------------------------------------------------------------- quota sets

/// Resources hidden from quota sets at this microversion.
fn filtered(ctx: &Ctx) -> Vec<&'static str> {
    let mut f = Vec::new();
    if ctx.at_least(36) {
        f.extend([
            "fixed_ips",
            "floating_ips",
            "security_group_rules",
            "security_groups",
        ]);
    }
    if ctx.at_least(57) {
        f.extend([
            "injected_files",
            "injected_file_content_bytes",
            "injected_file_path_bytes",
        ]);
    }
    f
}

fn check_quota_access(ctx: &Ctx, project: &str, rule: &str) -> NResult<()> {
    if ctx.is_admin() || ctx.project() == project {
        Ok(())
    } else {
        Err(NovaError::policy(rule))
    }
}

fn quota_body(ctx: &Ctx, id: Option<&str>, values: impl Fn(&str) -> Value) -> Value {
    let hidden = filtered(ctx);
    let mut m = Map::new();
    if let Some(id) = id {
        m.insert("id".into(), json!(id));
    }
    for (k, _) in super::model::DEFAULT_QUOTAS {
        if !hidden.contains(&k) {
            m.insert(k.to_string(), values(k));
        }
    }
    json!({ "quota_set": m })
}

fn check_quota_query(ctx: &Ctx) -> NResult<()> {
    if ctx.at_least(75) {
        ctx.check_query_keys(&["user_id"])?;
    }
    Ok(())
}

/// `GET /os-quota-sets/{project_id}`.
pub(crate) async fn quota_show(State(pod): State<Pod>, ctx: Ctx, p: P) -> NResult<Json<Value>> {
    check_quota_query(&ctx)?;
    let project = p.get("tenant_id").to_string();
    check_quota_access(&ctx, &project, "os_compute_api:os-quota-sets:show")?;
    verify_project(&pod, &project)?;
    let limits = pod.compute().with(|st| st.quota_limits(&project));
    Ok(Json(quota_body(&ctx, Some(&project), |k| {
        json!(limits.get(k).copied().unwrap_or(-1))
    })))
}

/// `GET /os-quota-sets/{project_id}/detail`.
pub(crate) async fn quota_detail(State(pod): State<Pod>, ctx: Ctx, p: P) -> NResult<Json<Value>> {
    check_quota_query(&ctx)?;
    let project = p.get("tenant_id").to_string();
    check_quota_access(&ctx, &project, "os_compute_api:os-quota-sets:detail")?;
    verify_project(&pod, &project)?;
    let user = ctx
        .query
        .get("user_id")
        .map(str::to_string)
        .unwrap_or_else(|| ctx.user().to_string());
    let (limits, (i, c, r), keypairs) = pod.compute().with(|st| {
        (
            st.quota_limits(&project),
            st.usage(&project),
            st.keypairs.iter().filter(|k| k.user_id == user).count() as i64,
        )
    });
    Ok(Json(quota_body(&ctx, Some(&project), |k| {
        let in_use = match k {
            "instances" => i,
            "cores" => c,
            "ram" => r,
            "key_pairs" => keypairs,
            _ => 0,
        };
        json!({"in_use": in_use, "limit": limits.get(k).copied().unwrap_or(-1), "reserved": 0})
    })))
}

/// `GET /os-quota-sets/{project_id}/defaults`.
pub(crate) async fn quota_defaults(State(pod): State<Pod>, ctx: Ctx, p: P) -> NResult<Json<Value>> {
    let project = p.get("tenant_id").to_string();
    verify_project(&pod, &project)?;
    Ok(Json(quota_body(&ctx, Some(&project), |k| {
        json!(super::model::DEFAULT_QUOTAS
            .iter()
            .find(|(n, _)| *n == k)
            .map(|(_, v)| *v)
            .unwrap_or(-1))
    })))
}

/// `PUT /os-quota-sets/{project_id}` (admin).
pub(crate) async fn quota_update(
    State(pod): State<Pod>,
    ctx: Ctx,
    p: P,
    NBody(body): NBody,
) -> NResult<Json<Value>> {
    check_quota_query(&ctx)?;
    let project = p.get("tenant_id").to_string();
    ctx.require_admin("os_compute_api:os-quota-sets:update")?;
    verify_project(&pod, &project)?;
    let req = wrapper(&body, "quota_set", &[])?;
    let hidden = filtered(&ctx);
    let mut allowed: Vec<&str> = super::model::DEFAULT_QUOTAS
        .iter()
        .map(|(k, _)| *k)
        .filter(|k| !hidden.contains(k))
        .collect();
    allowed.push("force");
    let force = super::ctx::opt_bool(req, "force")?.unwrap_or(false);
    let mut values: Vec<(String, i64)> = Vec::new();
    for (k, v) in req {
        if k == "force" {
            continue;
        }
        let n = match v {
            Value::Number(n) => n.as_i64(),
            Value::String(s) => s.parse::<i64>().ok(),
            Value::Null => continue,
            _ => None,
        };
        let Some(n) = n else {
            return Err(field_error(
                k,
                v,
                &format!("{} is not of type 'integer', 'string'", py_repr(v)),
            ));
        };
        if n < -1 {
            return Err(field_error(
                k,
                v,
                &format!("{} is less than the minimum of -1", py_repr(v)),
            ));
        }
        values.push((k.clone(), n));
    }
    super::ctx::check_keys("quota_set", req, &allowed, &[])?;
    let limits = pod.compute().with(|st| -> NResult<_> {
        let (i, c, r) = st.usage(&project);
        for (k, n) in &values {
            let used = match k.as_str() {
                "instances" => i,
                "cores" => c,
                "ram" => r,
                _ => 0,
            };
            if !force && *n != -1 && *n < used {
                return Err(NovaError::bad_request(format!(
                    "Quota limit {n} for {k} must be greater than or equal to already used and reserved {used}."
                )));
            }
        }
        let entry = st.quotas.entry(project.clone()).or_default();
        for (k, n) in values {
            entry.insert(k, n);
        }
        Ok(st.quota_limits(&project))
    })?;
    Ok(Json(quota_body(&ctx, None, |k| {
        json!(limits.get(k).copied().unwrap_or(-1))
    })))
}

/// `DELETE /os-quota-sets/{project_id}` (admin): back to the defaults.
pub(crate) async fn quota_delete(State(pod): State<Pod>, ctx: Ctx, p: P) -> NResult<StatusCode> {
    check_quota_query(&ctx)?;
    ctx.require_admin("os_compute_api:os-quota-sets:delete")?;
    let project = p.get("tenant_id").to_string();
    pod.compute().with(|st| st.quotas.remove(&project));
    Ok(StatusCode::ACCEPTED)
}

// ------------------------------------------------------------- hypervisors

/// `(vcpus_used, memory_mb_used, local_gb_used, running_vms)` of the pod.
fn usage(pod: &Pod) -> (u64, u64, u64, u64) {
    pod.compute().with(|st| {
        st.servers
            .iter()
            .filter(|s| s.consumes())
            .fold((0, 0, 0, 0), |(c, m, d, n), s| {
                (
                    c + s.flavor.vcpus,
                    m + s.flavor.ram,
                    d + s.flavor.disk + s.flavor.ephemeral,
                    n + 1,
                )
            })
    })
}

fn hypervisor_id(ctx: &Ctx, pod: &Pod) -> Value {
    if ctx.at_least(53) {
        json!(stable_uuid(&format!("hypervisor-{}", pod.region())))
    } else {
        json!(1)
    }
}

fn service_id(ctx: &Ctx, pod: &Pod, binary: &str, n: u64) -> Value {
    if ctx.at_least(53) {
        json!(stable_uuid(&format!("{binary}-{}", pod.region())))
    } else {
        json!(n)
    }
}

fn hypervisor(ctx: &Ctx, pod: &Pod, detail: bool) -> Value {
    let host = host_name(pod);
    let mut h = json!({
        "id": hypervisor_id(ctx, pod),
        "hypervisor_hostname": host,
        "state": "up",
        "status": "enabled",
    });
    if !detail {
        return h;
    }
    h["hypervisor_type"] = json!("QEMU");
    h["hypervisor_version"] = json!(8_002_000);
    h["host_ip"] = json!("127.0.0.1");
    h["service"] = json!({
        "id": service_id(ctx, pod, "nova-compute", 3),
        "host": host,
        "disabled_reason": null,
    });
    if ctx.at_least(88) {
        h["uptime"] = json!(" 08:00:00 up 1 day,  1:00,  0 users,  load average: 0.10, 0.05, 0.01");
        return h;
    }
    let (vc, mem, disk, vms) = usage(pod);
    h["vcpus"] = json!(HYPERVISOR_VCPUS);
    h["memory_mb"] = json!(HYPERVISOR_MEMORY_MB);
    h["local_gb"] = json!(HYPERVISOR_LOCAL_GB);
    h["vcpus_used"] = json!(vc);
    h["memory_mb_used"] = json!(mem);
    h["local_gb_used"] = json!(disk);
    h["free_ram_mb"] = json!(HYPERVISOR_MEMORY_MB as i64 - mem as i64);
    h["free_disk_gb"] = json!(HYPERVISOR_LOCAL_GB as i64 - disk as i64);
    h["current_workload"] = json!(0);
    h["running_vms"] = json!(vms);
    h["disk_available_least"] = json!(HYPERVISOR_LOCAL_GB as i64 - disk as i64);
    let cpu_info = json!({
        "arch": "x86_64",
        "model": "Nehalem",
        "vendor": "Intel",
        "topology": {"cells": 1, "sockets": 1, "cores": 32, "threads": 2},
        "features": ["pge", "clflush", "sse2", "vmx"],
    });
    h["cpu_info"] = if ctx.at_least(28) {
        cpu_info
    } else {
        json!(cpu_info.to_string())
    };
    h
}

/// The servers on the pod's one compute host, as the hypervisor views
/// list them (`name` is the instance name).
fn servers_on_host(pod: &Pod) -> Vec<Value> {
    pod.compute().with(|st| {
        st.servers
            .iter()
            .filter(|s| s.consumes())
            .map(|s| json!({"name": s.instance_name, "uuid": s.id}))
            .collect()
    })
}

/// `with_servers` (2.53+, a strict boolean).
fn with_servers(ctx: &Ctx) -> NResult<bool> {
    if !ctx.at_least(53) {
        return Ok(false);
    }
    match ctx.query.get("with_servers") {
        None => Ok(false),
        Some(v) => match v.to_ascii_lowercase().as_str() {
            "1" | "t" | "true" | "on" | "y" | "yes" => Ok(true),
            "0" | "f" | "false" | "off" | "n" | "no" => Ok(false),
            _ => Err(NovaError::bad_request(format!(
                "Invalid input for query parameters with_servers. Value: {v}. '{v}' is not a \
                 valid boolean"
            ))),
        },
    }
}

/// Adds `servers` to a hypervisor view when asked: the list when there are
/// servers, `[]` from 2.75 when there are none.
fn add_servers(ctx: &Ctx, pod: &Pod, h: &mut Value, asked: bool) {
    if !asked {
        return;
    }
    let servers = servers_on_host(pod);
    if !servers.is_empty() || ctx.at_least(75) {
        h["servers"] = json!(servers);
    }
}

fn hypervisor_list(pod: &Pod, ctx: &Ctx, detail: bool) -> NResult<Value> {
    ctx.require_admin(if detail {
        "os_compute_api:os-hypervisors:list-detail"
    } else {
        "os_compute_api:os-hypervisors:list"
    })?;
    if ctx.at_least(53) {
        ctx.check_query_keys(&[
            "limit",
            "marker",
            "hypervisor_hostname_pattern",
            "with_servers",
        ])?;
    }
    let mut one = hypervisor(ctx, pod, detail);
    add_servers(ctx, pod, &mut one, with_servers(ctx)?);
    let mut list = vec![one];
    if ctx.at_least(53) {
        if let Some(pattern) = ctx.query.get("hypervisor_hostname_pattern") {
            if !host_name(pod).contains(pattern) {
                return Err(NovaError::not_found(format!(
                    "No hypervisor matching '{pattern}' could be found."
                )));
            }
        }
        if let Some(m) = ctx.query.get("marker") {
            if hypervisor_id(ctx, pod) != json!(m) {
                return Err(NovaError::bad_request(format!("marker [{m}] not found")));
            }
            list.clear();
        }
        if ctx.query.get("limit") == Some("0") {
            list.clear();
        }
    }
    Ok(json!({ "hypervisors": list }))
}

/// `GET /os-hypervisors` (admin).
pub(crate) async fn hypervisors(State(pod): State<Pod>, ctx: Ctx) -> NResult<Json<Value>> {
    hypervisor_list(&pod, &ctx, false).map(Json)
}

/// `GET /os-hypervisors/detail` (admin).
pub(crate) async fn hypervisors_detail(State(pod): State<Pod>, ctx: Ctx) -> NResult<Json<Value>> {
    hypervisor_list(&pod, &ctx, true).map(Json)
}

/// `GET /os-hypervisors/{id}` (admin).
pub(crate) async fn hypervisor_show(
    State(pod): State<Pod>,
    ctx: Ctx,
    p: P,
) -> NResult<Json<Value>> {
    ctx.require_admin("os_compute_api:os-hypervisors:show")?;
    let id = p.get("id");
    let wanted = hypervisor_id(&ctx, &pod);
    let matches = match &wanted {
        Value::String(s) => s == id,
        other => id.parse::<i64>().ok().map(Value::from).as_ref() == Some(other),
    };
    if !matches {
        // Nova: a non-UUID is 400 from 2.53; before, a non-integer is 404.
        if ctx.at_least(53) && !super::ctx::is_uuid_like(id) {
            return Err(NovaError::bad_request(format!("Invalid uuid {id}")));
        }
        return Err(NovaError::not_found(format!(
            "Hypervisor with ID '{id}' could not be found."
        )));
    }
    if ctx.at_least(53) {
        ctx.check_query_keys(&["with_servers"])?;
    }
    let mut h = hypervisor(&ctx, &pod, true);
    add_servers(&ctx, &pod, &mut h, with_servers(&ctx)?);
    Ok(Json(json!({ "hypervisor": h })))
}

/// The pod's hypervisor if its name contains `pattern`, else Nova's 404.
fn search_hit(pod: &Pod, ctx: &Ctx, pattern: &str) -> NResult<Value> {
    if !host_name(pod).contains(pattern) {
        return Err(NovaError::not_found(format!(
            "No hypervisor matching '{pattern}' could be found."
        )));
    }
    Ok(hypervisor(ctx, pod, false))
}

/// `GET /os-hypervisors/{pattern}/search` (admin; until 2.52).
pub(crate) async fn hypervisor_search(
    State(pod): State<Pod>,
    ctx: Ctx,
    p: P,
) -> NResult<Json<Value>> {
    if ctx.at_least(53) {
        return Err(NovaError::resource_not_found());
    }
    ctx.require_admin("os_compute_api:os-hypervisors:search")?;
    let h = search_hit(&pod, &ctx, p.get("id"))?;
    Ok(Json(json!({ "hypervisors": [h] })))
}

/// `GET /os-hypervisors/{pattern}/servers` (admin; until 2.52).
pub(crate) async fn hypervisor_servers(
    State(pod): State<Pod>,
    ctx: Ctx,
    p: P,
) -> NResult<Json<Value>> {
    if ctx.at_least(53) {
        return Err(NovaError::resource_not_found());
    }
    ctx.require_admin("os_compute_api:os-hypervisors:servers")?;
    let mut h = search_hit(&pod, &ctx, p.get("id"))?;
    let servers = servers_on_host(&pod);
    if !servers.is_empty() {
        h["servers"] = json!(servers);
    }
    Ok(Json(json!({ "hypervisors": [h] })))
}

/// `GET /os-hypervisors/{id}/uptime` (admin; until 2.87).
pub(crate) async fn hypervisor_uptime(
    State(pod): State<Pod>,
    ctx: Ctx,
    p: P,
) -> NResult<Json<Value>> {
    if ctx.at_least(88) {
        return Err(NovaError::resource_not_found());
    }
    ctx.require_admin("os_compute_api:os-hypervisors:uptime")?;
    let id = p.get("id");
    let known = match hypervisor_id(&ctx, &pod) {
        Value::String(s) => {
            if !super::ctx::is_uuid_like(id) {
                return Err(NovaError::bad_request(format!("Invalid uuid {id}")));
            }
            s == id
        }
        other => id.parse::<i64>().ok().map(Value::from).as_ref() == Some(&other),
    };
    if !known {
        return Err(NovaError::not_found(format!(
            "Hypervisor with ID '{id}' could not be found."
        )));
    }
    let mut h = hypervisor(&ctx, &pod, false);
    h["uptime"] = json!(" 08:00:00 up 1 day,  1:00,  0 users,  load average: 0.10, 0.05, 0.01");
    Ok(Json(json!({ "hypervisor": h })))
}

/// `GET /os-hypervisors/statistics` (admin; removed in 2.88).
pub(crate) async fn hypervisor_statistics(
    State(pod): State<Pod>,
    ctx: Ctx,
) -> NResult<Json<Value>> {
    if ctx.at_least(88) {
        return Err(NovaError::resource_not_found());
    }
    ctx.require_admin("os_compute_api:os-hypervisors:statistics")?;
    let (vc, mem, disk, vms) = usage(&pod);
    Ok(Json(json!({"hypervisor_statistics": {
        "count": 1,
        "vcpus": HYPERVISOR_VCPUS,
        "memory_mb": HYPERVISOR_MEMORY_MB,
        "local_gb": HYPERVISOR_LOCAL_GB,
        "vcpus_used": vc,
        "memory_mb_used": mem,
        "local_gb_used": disk,
        "free_ram_mb": HYPERVISOR_MEMORY_MB as i64 - mem as i64,
        "free_disk_gb": HYPERVISOR_LOCAL_GB as i64 - disk as i64,
        "current_workload": 0,
        "running_vms": vms,
        "disk_available_least": HYPERVISOR_LOCAL_GB as i64 - disk as i64,
    }})))
}

// -------------------------------------------------------------- aggregates

/// `GET /os-aggregates` (admin): a pod has no host aggregates.
pub(crate) async fn aggregates(ctx: Ctx) -> NResult<Json<Value>> {
    ctx.require_admin("os_compute_api:os-aggregates:index")?;
    Ok(Json(json!({"aggregates": []})))
}

// ---------------------------------------------------------------- services

/// `GET /os-services` (admin).
pub(crate) async fn services(State(pod): State<Pod>, ctx: Ctx) -> NResult<Json<Value>> {
    ctx.require_admin("os_compute_api:os-services:list")?;
    if ctx.at_least(75) {
        ctx.check_query_keys(&["host", "binary"])?;
    }
    let control = format!("{}-controller", pod.region().to_ascii_lowercase());
    let t = naive(heartbeat());
    let entries = [
        ("nova-scheduler", control.clone(), "internal".to_string(), 1),
        ("nova-conductor", control, "internal".to_string(), 2),
        (
            "nova-compute",
            host_name(&pod),
            pod.config().availability_zone.clone(),
            3,
        ),
    ];
    let host_filter = ctx.query.get("host");
    let binary_filter = ctx.query.get("binary");
    let list: Vec<Value> = entries
        .iter()
        .filter(|(b, h, _, _)| {
            host_filter.is_none_or(|f| f == h) && binary_filter.is_none_or(|f| f == *b)
        })
        .map(|(binary, host, zone, n)| {
            let mut v = json!({
                "id": service_id(&ctx, &pod, binary, *n),
                "binary": binary,
                "host": host,
                "zone": zone,
                "status": "enabled",
                "state": "up",
                "updated_at": t,
                "disabled_reason": null,
            });
            if ctx.at_least(11) {
                v["forced_down"] = json!(false);
            }
            v
        })
        .collect();
    Ok(Json(json!({ "services": list })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stable_uuid_is_an_md5_shaped_uuid() {
        // md5("seed") = fe4c0f30aa359c41d9f9a5f69c8c4192
        assert_eq!(stable_uuid("seed"), "fe4c0f30-aa35-4c41-89f9-a5f69c8c4192");
        assert_eq!(stable_uuid("seed"), stable_uuid("seed"));
    }
}
