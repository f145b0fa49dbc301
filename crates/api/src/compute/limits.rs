//! Limits and quota sets. Quotas are Tricircle's, enforced across pods:
//! instances, cores and RAM are counted over every pod (see the store's
//! allocations); the other Nova quotas are reported with Nova's defaults.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde_json::{json, Map, Value};

use super::microversion::Microversion;
use crate::body::parse_json;
use crate::error::ApiError;
use crate::gateway::{project_limits, Call, GatewayState};

/// Nova quotas Tricircle reports but does not count, with Nova's defaults,
/// and the newest microversion that still shows them.
const STATIC_QUOTAS: &[(&str, i64, u16)] = &[
    ("metadata_items", 128, u16::MAX),
    ("key_pairs", 100, u16::MAX),
    ("server_groups", 10, u16::MAX),
    ("server_group_members", 10, u16::MAX),
    ("injected_files", 5, 56),
    ("injected_file_content_bytes", 10240, 56),
    ("injected_file_path_bytes", 255, 56),
    ("fixed_ips", -1, 35),
    ("floating_ips", 10, 35),
    ("security_groups", 10, 35),
    ("security_group_rules", 20, 35),
];

/// The quota set of a project: `(resource, limit, in_use)`.
async fn quota_rows(
    st: &GatewayState,
    project: &str,
    mv: Microversion,
    defaults_only: bool,
) -> Result<Vec<(String, i64, i64)>, ApiError> {
    let limits = if defaults_only {
        st.quota_defaults
    } else {
        project_limits(st, project).await?
    };
    let usage = st.store.usage(project).await?;
    let own = if defaults_only {
        Default::default()
    } else {
        st.store.quota_limits(project).await?
    };
    let mut rows = vec![
        ("instances".to_string(), limits.instances, usage.instances),
        ("cores".to_string(), limits.cores, usage.cores),
        ("ram".to_string(), limits.ram_mb, usage.ram_mb),
    ];
    // Server groups are kept at the top: counted here.
    let groups = if defaults_only {
        0
    } else {
        st.store.list_server_groups(Some(project)).await?.len() as i64
    };
    for (name, default, until) in STATIC_QUOTAS {
        if mv.0 <= *until {
            rows.push((
                name.to_string(),
                own.get(*name).copied().unwrap_or(*default),
                if *name == "server_groups" { groups } else { 0 },
            ));
        }
    }
    Ok(rows)
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
    for (k, limit, _) in quota_rows(&st, &project, mv, false).await? {
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
    for (k, limit, used) in quota_rows(&st, &project, mv, false).await? {
        set.insert(k, json!({"limit": limit, "in_use": used, "reserved": 0}));
    }
    Ok(Json(json!({"quota_set": set})))
}

pub async fn quota_defaults(
    State(st): State<GatewayState>,
    _c: Call,
    Extension(mv): Extension<Microversion>,
    Path(project): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let mut set = Map::new();
    set.insert("id".into(), json!(project));
    for (k, limit, _) in quota_rows(&st, &project, mv, true).await? {
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
    verify_project(&st, &project).await?;
    let set = body
        .get("quota_set")
        .and_then(Value::as_object)
        .ok_or_else(|| ApiError::bad_request("Invalid input for field/attribute quota_set."))?;
    let known: Vec<String> = quota_rows(&st, &project, mv, true)
        .await?
        .into_iter()
        .map(|(k, _, _)| k)
        .collect();
    let mut updates = Vec::new();
    for (k, v) in set {
        if k == "force" {
            continue;
        }
        if !known.contains(k) {
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
    for (k, n) in updates {
        st.store.set_quota(&project, &k, n).await?;
    }
    let mut out = Map::new();
    for (k, limit, _) in quota_rows(&st, &project, mv, false).await? {
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
    st.store.delete_quotas(&project).await?;
    Ok(StatusCode::ACCEPTED.into_response())
}

pub async fn limits(
    State(st): State<GatewayState>,
    c: Call,
    Extension(mv): Extension<Microversion>,
) -> Result<Json<Value>, ApiError> {
    let rows = quota_rows(&st, &c.ctx.project_id, mv, false).await?;
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

/// Nova checks with Keystone that a project whose quotas are set exists
/// (400 if Keystone says it does not; allowed when Keystone will not say).
async fn verify_project(st: &GatewayState, project: &str) -> Result<(), ApiError> {
    let invalid = || ApiError::bad_request(format!("Project ID {project} is not a valid project."));
    if !crate::gateway::subresource::valid_segment(project) || project.len() > 64 {
        return Err(invalid());
    }
    match st.keystone.project_exists(project).await {
        Ok(Some(false)) => Err(invalid()),
        Ok(_) => Ok(()),
        Err(e) => {
            tracing::warn!(error = %e, "could not verify a project with Keystone");
            Err(ApiError::new(
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                "The identity service is unavailable; try again later.",
            ))
        }
    }
}
