//! Limits and quota sets (see `tricircle_compute::limits`), shown per
//! microversion.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde_json::{json, Map, Value};

use tricircle_compute::limits::quota_resources;

use super::domain::domain;
use super::microversion::Microversion;
use crate::body::parse_json;
use crate::error::ApiError;
use crate::gateway::{Call, GatewayState};

/// The quota set of a project as `mv` shows it: `(resource, limit, in_use)`.
async fn quota_rows(
    st: &GatewayState,
    c: &Call,
    project: &str,
    mv: Microversion,
    defaults_only: bool,
) -> Result<Vec<(String, i64, i64)>, ApiError> {
    let (compute, _) = domain(st, c);
    Ok(compute
        .quota_set(project, defaults_only)
        .await?
        .into_iter()
        .filter(|r| mv.0 <= r.shown_until)
        .map(|r| (r.resource.to_string(), r.limit, r.in_use))
        .collect())
}

fn may_see(c: &Call, project: &str) -> Result<(), ApiError> {
    if c.ctx.is_admin() || c.ctx.project_id == project {
        Ok(())
    } else {
        Err(ApiError::forbidden("os_compute_api:os-quota-sets:show"))
    }
}

pub async fn quota_show(
    State(st): State<GatewayState>,
    c: Call,
    Extension(mv): Extension<Microversion>,
    Path(project): Path<String>,
) -> Result<Json<Value>, ApiError> {
    may_see(&c, &project)?;
    let mut set = Map::new();
    set.insert("id".into(), json!(project));
    for (k, limit, _) in quota_rows(&st, &c, &project, mv, false).await? {
        set.insert(k, json!(limit));
    }
    Ok(Json(json!({"quota_set": set})))
}

pub async fn quota_detail(
    State(st): State<GatewayState>,
    c: Call,
    Extension(mv): Extension<Microversion>,
    Path(project): Path<String>,
) -> Result<Json<Value>, ApiError> {
    may_see(&c, &project)?;
    let mut set = Map::new();
    set.insert("id".into(), json!(project));
    for (k, limit, used) in quota_rows(&st, &c, &project, mv, false).await? {
        set.insert(k, json!({"limit": limit, "in_use": used, "reserved": 0}));
    }
    Ok(Json(json!({"quota_set": set})))
}

pub async fn quota_defaults(
    State(st): State<GatewayState>,
    c: Call,
    Extension(mv): Extension<Microversion>,
    Path(project): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let mut set = Map::new();
    set.insert("id".into(), json!(project));
    for (k, limit, _) in quota_rows(&st, &c, &project, mv, true).await? {
        set.insert(k, json!(limit));
    }
    Ok(Json(json!({"quota_set": set})))
}

pub async fn quota_update(
    State(st): State<GatewayState>,
    c: Call,
    Extension(mv): Extension<Microversion>,
    Path(project): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    c.ctx.require_admin("os_compute_api:os-quota-sets:update")?;
    let body: Value = parse_json(&body)?;
    let (compute, _) = domain(&st, &c);
    if !crate::gateway::subresource::valid_segment(&project) || project.len() > 64 {
        return Err(ApiError::bad_request(format!(
            "Project ID {project} is not a valid project."
        )));
    }
    compute.verify_project(&project).await?;
    let set = body
        .get("quota_set")
        .and_then(Value::as_object)
        .ok_or_else(|| ApiError::bad_request("Invalid input for field/attribute quota_set."))?;
    let known: Vec<&str> = quota_resources()
        .filter(|(_, until)| mv.0 <= *until)
        .map(|(k, _)| k)
        .collect();
    let mut updates = Vec::new();
    for (k, v) in set {
        if k == "force" {
            continue;
        }
        if !known.contains(&k.as_str()) {
            return Err(ApiError::bad_request(format!(
                "Invalid input for field/attribute quota_set. Additional properties are not allowed ('{k}' was unexpected)"
            )));
        }
        let n = v
            .as_i64()
            .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
            .filter(|n| *n >= -1)
            .ok_or_else(|| ApiError::bad_request(format!("Invalid input for field/attribute {k}. Value must be an integer of at least -1.")))?;
        updates.push((k.clone(), n));
    }
    compute.set_quotas(&project, &updates).await?;
    let mut out = Map::new();
    for (k, limit, _) in quota_rows(&st, &c, &project, mv, false).await? {
        out.insert(k, json!(limit));
    }
    Ok(Json(json!({"quota_set": out})))
}

pub async fn quota_delete(
    State(st): State<GatewayState>,
    c: Call,
    Path(project): Path<String>,
) -> Result<Response, ApiError> {
    c.ctx.require_admin("os_compute_api:os-quota-sets:delete")?;
    let (compute, _) = domain(&st, &c);
    compute.delete_quotas(&project).await?;
    Ok(StatusCode::ACCEPTED.into_response())
}

pub async fn limits(
    State(st): State<GatewayState>,
    c: Call,
    Extension(mv): Extension<Microversion>,
) -> Result<Json<Value>, ApiError> {
    let rows = quota_rows(&st, &c, &c.ctx.project_id, mv, false).await?;
    let get = |k: &str| {
        rows.iter()
            .find(|(n, _, _)| n == k)
            .map(|(_, l, u)| (*l, *u))
            .unwrap_or((0, 0))
    };
    let mut abs = json!({
        "maxTotalInstances": get("instances").0,
        "maxTotalCores": get("cores").0,
        "maxTotalRAMSize": get("ram").0,
        "maxServerMeta": get("metadata_items").0,
        "maxTotalKeypairs": get("key_pairs").0,
        "maxServerGroups": get("server_groups").0,
        "maxServerGroupMembers": get("server_group_members").0,
        "totalInstancesUsed": get("instances").1,
        "totalCoresUsed": get("cores").1,
        "totalRAMUsed": get("ram").1,
        "totalServerGroupsUsed": get("server_groups").1,
    });
    if !mv.at_least(39) {
        abs["maxImageMeta"] = json!(128);
    }
    if !mv.at_least(57) {
        abs["maxPersonality"] = json!(get("injected_files").0);
        abs["maxPersonalitySize"] = json!(get("injected_file_content_bytes").0);
    }
    if !mv.at_least(36) {
        abs["maxSecurityGroups"] = json!(get("security_groups").0);
        abs["maxSecurityGroupRules"] = json!(get("security_group_rules").0);
        abs["maxTotalFloatingIps"] = json!(get("floating_ips").0);
        abs["totalSecurityGroupsUsed"] = json!(0);
        abs["totalFloatingIpsUsed"] = json!(0);
    }
    Ok(Json(json!({"limits": {"rate": [], "absolute": abs}})))
}
