//! Quotas: `/os-quota-sets/{project_id}` (show, `?usage=True`, defaults,
//! update, delete), `/limits`, and the reservation check every create
//! goes through.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use serde_json::{json, Map, Value};

use super::api::{bool_param, no_extra_keys, require_object, ApiError, ApiResult, Ctx, Reply};
use super::model::State;
use super::Req;

/// Checks that `kind` (`volumes`, `snapshots` or `backups`) of `size` GB
/// of type `type_name` fits in the project's quotas, raising the
/// `QuotaError` Cinder's `process_reserve_over_quota` picks.
pub(crate) fn reserve(
    st: &State,
    project_id: &str,
    kind: &str,
    type_name: &str,
    size: u64,
) -> ApiResult<()> {
    let size_i = i64::try_from(size).unwrap_or(i64::MAX);
    let deltas: Vec<(String, i64)> = match kind {
        "backups" => vec![("backups".into(), 1), ("backup_gigabytes".into(), size_i)],
        _ => vec![
            (kind.to_string(), 1),
            ("gigabytes".into(), size_i),
            (format!("{kind}_{type_name}"), 1),
            (format!("gigabytes_{type_name}"), size_i),
        ],
    };
    match st.over_quota(project_id, &deltas) {
        None => Ok(()),
        Some((over, limit, used)) => Err(quota_error(kind, size, &over, limit, used)),
    }
}

/// The `QuotaError` for going over `over` while creating `kind`.
pub(crate) fn quota_error(kind: &str, size: u64, over: &str, limit: i64, used: i64) -> ApiError {
    if over.contains("gigabytes") {
        if kind == "backups" {
            return ApiError::over_limit(
                "VolumeBackupSizeExceedsAvailableQuota",
                format!(
                    "Requested backup exceeds allowed Backup gigabytes quota. Requested {size}G, quota is {limit}G and {used}G has been consumed."
                ),
            );
        }
        return ApiError::over_limit(
            "VolumeSizeExceedsAvailableQuota",
            format!(
                "Requested volume or snapshot exceeds allowed {over} quota. Requested {size}G, quota is {limit}G and {used}G has been consumed."
            ),
        );
    }
    match kind {
        "volumes" => ApiError::over_limit(
            "VolumeLimitExceeded",
            format!("Maximum number of volumes allowed ({limit}) exceeded for quota '{over}'."),
        ),
        "snapshots" => ApiError::over_limit(
            "SnapshotLimitExceeded",
            format!("Maximum number of snapshots allowed ({limit}) exceeded"),
        ),
        _ => ApiError::over_limit(
            "BackupLimitExceeded",
            format!("Maximum number of backups allowed ({limit}) exceeded"),
        ),
    }
}

/// Checks growing an existing volume of type `type_name` by `delta` GB.
pub(crate) fn reserve_extend(
    st: &State,
    project_id: &str,
    type_name: &str,
    new_size: u64,
    delta: u64,
) -> ApiResult<()> {
    let per_volume = st.quota_limit(project_id, "per_volume_gigabytes");
    if per_volume >= 0 && i64::try_from(new_size).unwrap_or(i64::MAX) > per_volume {
        return Err(ApiError::over_limit(
            "VolumeSizeExceedsLimit",
            format!("Requested volume size {new_size}G is larger than maximum allowed limit {per_volume}G."),
        ));
    }
    let d = i64::try_from(delta).unwrap_or(i64::MAX);
    let deltas = vec![
        ("gigabytes".to_string(), d),
        (format!("gigabytes_{type_name}"), d),
    ];
    if let Some((over, limit, used)) = st.over_quota(project_id, &deltas) {
        return Err(ApiError::over_limit(
            "VolumeSizeExceedsAvailableQuota",
            format!(
                "Requested volume or snapshot exceeds allowed {over} quota. Requested {delta}G, quota is {limit}G and {used}G has been consumed."
            ),
        ));
    }
    Ok(())
}

fn quota_set(st: &State, project_id: &str, usage: bool, defaults_only: bool) -> Value {
    let mut out = Map::new();
    for res in st.quota_resources() {
        let limit = if defaults_only {
            State::quota_default(&res)
        } else {
            st.quota_limit(project_id, &res)
        };
        let v = if usage {
            json!({
                "limit": limit,
                "in_use": st.quota_usage(project_id, &res),
                "reserved": 0,
            })
        } else {
            json!(limit)
        };
        out.insert(res, v);
    }
    out.insert("id".into(), json!(project_id));
    json!({"quota_set": out})
}

/// Non-admins may only read their own project's quotas.
fn check_show(ctx: &Ctx, project_id: &str) -> ApiResult<()> {
    if ctx.is_admin || project_id == ctx.project_id() {
        Ok(())
    } else {
        Err(ApiError::policy("volume_extension:quotas:show"))
    }
}

pub(crate) fn show(st: &mut State, ctx: &Ctx, req: &Req) -> ApiResult<Reply> {
    let project_id = req.id(0);
    check_show(ctx, project_id)?;
    let usage = ctx.has_param("usage") && bool_param(ctx, "usage")?;
    Ok(Reply::ok(quota_set(st, project_id, usage, false)))
}

pub(crate) fn defaults(st: &mut State, ctx: &Ctx, req: &Req) -> ApiResult<Reply> {
    let project_id = req.id(0);
    check_show(ctx, project_id)?;
    Ok(Reply::ok(quota_set(st, project_id, false, true)))
}

pub(crate) fn update(st: &mut State, ctx: &Ctx, req: &Req) -> ApiResult<Reply> {
    let project_id = req.id(0).to_string();
    no_extra_keys(&req.body, &["quota_set"])?;
    let body = require_object(&req.body, "quota_set")?;
    if body.is_empty() {
        return Err(ApiError::validation(
            "quota_set",
            &json!({}),
            "{} does not have enough properties",
        ));
    }
    let resources = st.quota_resources();
    let mut bad = Vec::new();
    let mut values = BTreeMap::new();
    for (k, v) in body {
        if k == "tenant_id" || k == "id" {
            continue;
        }
        if !resources.contains(k) {
            bad.push(k.clone());
            continue;
        }
        let n = match v {
            Value::Number(n) => n.as_i64(),
            Value::String(s) => s.trim().parse::<i64>().ok(),
            _ => None,
        };
        let Some(n) = n else {
            return Err(ApiError::invalid_input(format!("{k} must be an integer.")));
        };
        if n < -1 {
            return Err(ApiError::invalid_input(format!("{k} must be >= -1")));
        }
        if n > i64::from(i32::MAX) {
            return Err(ApiError::invalid_input(format!(
                "{k} must be <= {}",
                i32::MAX
            )));
        }
        values.insert(k.clone(), n);
    }
    if !bad.is_empty() {
        return Err(ApiError::invalid_input(format!(
            "Bad key(s) in quota set: {}",
            bad.join(", ")
        )));
    }
    ctx.require_admin("volume_extension:quotas:update")?;
    for (k, v) in &values {
        if k == "per_volume_gigabytes" || *v == -1 {
            continue;
        }
        let used = st.quota_usage(&project_id, k);
        if *v < used {
            return Err(ApiError::bad_request(format!(
                "Quota {k} limit must be equal or greater than existing resources. Current usage is {used} and the requested limit is {v}."
            )));
        }
    }
    st.quotas
        .entry(project_id.clone())
        .or_default()
        .extend(values);
    Ok(Reply::ok(quota_set(st, &project_id, false, false)))
}

pub(crate) fn delete(st: &mut State, ctx: &Ctx, req: &Req) -> ApiResult<Reply> {
    ctx.require_admin("volume_extension:quotas:delete")?;
    st.quotas.remove(req.id(0));
    Ok(Reply::empty(StatusCode::OK))
}

/// `GET /limits`: absolute limits plus the used counts (`os-used-limits`).
pub(crate) fn limits(st: &mut State, ctx: &Ctx, _req: &Req) -> ApiResult<Reply> {
    let mut project_id = ctx.project_id().to_string();
    if ctx.is_admin && ctx.version.at_least(39) {
        if let Some(p) = ctx.param("project_id").or_else(|| ctx.param("tenant_id")) {
            project_id = p.to_string();
        }
    }
    let mut used_project = ctx.project_id().to_string();
    if ctx.is_admin && ctx.version.at_least(39) {
        used_project.clone_from(&project_id);
    }
    let limit = |r: &str| st.quota_limit(&project_id, r);
    let used = |r: &str| st.quota_usage(&used_project, r);
    Ok(Reply::ok(json!({
        "limits": {
            "rate": [],
            "absolute": {
                "maxTotalVolumeGigabytes": limit("gigabytes"),
                "maxTotalBackupGigabytes": limit("backup_gigabytes"),
                "maxTotalVolumes": limit("volumes"),
                "maxTotalSnapshots": limit("snapshots"),
                "maxTotalBackups": limit("backups"),
                "totalVolumesUsed": used("volumes"),
                "totalGigabytesUsed": used("gigabytes"),
                "totalSnapshotsUsed": used("snapshots"),
                "totalBackupsUsed": used("backups"),
                "totalBackupGigabytesUsed": used("backup_gigabytes"),
            },
        }
    })))
}
