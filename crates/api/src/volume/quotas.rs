//! Limits and quota sets: requests parsed and answers rendered here; the
//! quotas themselves are the volume domain's (`tricircle_volume::quota_sets`).

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde_json::{json, Map, Value};

use super::listing::{query_pairs, truthy};
use super::microversion::VolumeVersion;
use super::resources::required_object;
use crate::body::parse_json;
use crate::error::ApiError;
use crate::gateway::{Call, GatewayState};
use tricircle_volume::quota_sets::{self, QuotaRow};

/// The largest limit Cinder accepts (its `db.MAX_INT`).
const MAX_LIMIT: i64 = 0x7FFF_FFFF;

/// A quota set as `(resource, limit, in_use)`.
async fn quota_rows(
    st: &GatewayState,
    project: &str,
    defaults_only: bool,
) -> Result<Vec<(String, i64, i64)>, ApiError> {
    Ok(rows(
        quota_sets::quota_set(st, project, defaults_only).await?,
    ))
}

fn rows(set: Vec<QuotaRow>) -> Vec<(String, i64, i64)> {
    set.into_iter()
        .map(|r| (r.resource, r.limit, r.in_use))
        .collect()
}

fn may_see(c: &Call, project: &str) -> Result<(), ApiError> {
    if c.ctx.is_admin() || c.ctx.project_id == project {
        Ok(())
    } else {
        Err(ApiError::forbidden("volume_extension:quotas:show"))
    }
}

fn limits_only(rows: Vec<(String, i64, i64)>) -> Map<String, Value> {
    rows.into_iter()
        .map(|(k, limit, _)| (k, json!(limit)))
        .collect()
}

/// `GET /os-quota-sets/{project}` (`?usage=True`: limit, in use, reserved).
pub async fn show(
    State(st): State<GatewayState>,
    c: Call,
    Path(project): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    may_see(&c, &project)?;
    let params = query_pairs(raw.as_deref());
    let usage = params.iter().any(|(k, v)| k == "usage" && truthy(v));
    let rows = quota_rows(&st, &project, false).await?;
    let mut set = if usage {
        rows.into_iter()
            .map(|(k, limit, used)| (k, json!({"limit": limit, "in_use": used, "reserved": 0})))
            .collect()
    } else {
        limits_only(rows)
    };
    set.insert("id".into(), json!(project));
    Ok(Json(json!({"quota_set": set})))
}

pub async fn defaults(
    State(st): State<GatewayState>,
    c: Call,
    Path(project): Path<String>,
) -> Result<Json<Value>, ApiError> {
    may_see(&c, &project)?;
    let mut set = limits_only(quota_rows(&st, &project, true).await?);
    set.insert("id".into(), json!(project));
    Ok(Json(json!({"quota_set": set})))
}

/// The new limits of a quota update, validated as Cinder does.
fn parse_update(
    set: &Map<String, Value>,
    known: &[String],
) -> Result<Vec<(String, i64)>, ApiError> {
    if set.is_empty() {
        return Err(ApiError::bad_request(
            "Invalid input for field/attribute quota_set. Value: {}. {} does not have enough properties",
        ));
    }
    let bad: Vec<&str> = set
        .keys()
        .filter(|k| !known.contains(k) && !matches!(k.as_str(), "id" | "tenant_id"))
        .map(String::as_str)
        .collect();
    if !bad.is_empty() {
        return Err(ApiError::bad_request(format!(
            "Bad key(s) in quota set: {}",
            bad.join(",")
        )));
    }
    let mut out = Vec::new();
    for (k, v) in set.iter().filter(|(k, _)| known.contains(k)) {
        let n = match v {
            Value::Number(n) => n.as_i64(),
            Value::String(s) => s.trim().parse::<i64>().ok(),
            _ => None,
        }
        .ok_or_else(|| {
            ApiError::bad_request(format!("Invalid input received: {k} must be an integer."))
        })?;
        if n < -1 {
            return Err(ApiError::bad_request(format!(
                "Invalid input received: {k} must be >= -1"
            )));
        }
        if n > MAX_LIMIT {
            return Err(ApiError::bad_request(format!(
                "Invalid input received: {k} must be <= {MAX_LIMIT}"
            )));
        }
        out.push((k.clone(), n));
    }
    Ok(out)
}

/// `PUT /os-quota-sets/{project}` (admin). A limit below what the project
/// already uses across pods is refused.
pub async fn update(
    State(st): State<GatewayState>,
    c: Call,
    Path(project): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let mut body: Value = parse_json(&body)?;
    let set = required_object(&mut body, "quota_set")?;
    let known: Vec<String> = quota_sets::RESOURCES
        .iter()
        .map(|k| k.to_string())
        .collect();
    let updates = parse_update(set, &known)?;
    c.ctx.require_admin("volume_extension:quotas:update")?;
    let set = quota_sets::update(&st, &project, &updates).await?;
    Ok(Json(json!({"quota_set": limits_only(rows(set))})))
}

pub async fn delete(
    State(st): State<GatewayState>,
    c: Call,
    Path(project): Path<String>,
) -> Result<Response, ApiError> {
    c.ctx.require_admin("volume_extension:quotas:delete")?;
    quota_sets::delete(&st, &project).await?;
    Ok(StatusCode::OK.into_response())
}

/// `GET /limits`: the absolute limits and what is used of them (admins may
/// ask about another project from 3.39 with `project_id`).
pub async fn limits(
    State(st): State<GatewayState>,
    c: Call,
    Extension(mv): Extension<VolumeVersion>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let params = query_pairs(raw.as_deref());
    let mut project = c.ctx.project_id.clone();
    if c.ctx.is_admin() && mv.at_least(39) {
        if let Some((_, p)) = params
            .iter()
            .find(|(k, _)| k == "project_id" || k == "tenant_id")
        {
            project.clone_from(p);
        }
    }
    let rows = quota_rows(&st, &project, false).await?;
    let get = |k: &str| {
        rows.iter()
            .find(|(n, _, _)| n == k)
            .map_or((0, 0), |(_, l, u)| (*l, *u))
    };
    Ok(Json(json!({"limits": {"rate": [], "absolute": {
        "maxTotalVolumeGigabytes": get("gigabytes").0,
        "maxTotalBackupGigabytes": get("backup_gigabytes").0,
        "maxTotalVolumes": get("volumes").0,
        "maxTotalSnapshots": get("snapshots").0,
        "maxTotalBackups": get("backups").0,
        "totalVolumesUsed": get("volumes").1,
        "totalGigabytesUsed": get("gigabytes").1,
        "totalSnapshotsUsed": get("snapshots").1,
        "totalBackupsUsed": 0,
        "totalBackupGigabytesUsed": 0,
    }}})))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known() -> Vec<String> {
        ["volumes", "gigabytes", "snapshots", "backups"]
            .iter()
            .map(|s| s.to_string())
            .collect()
    }

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn updates_are_validated() {
        let ok = parse_update(
            &obj(json!({"volumes": 5, "gigabytes": "-1", "id": "x"})),
            &known(),
        );
        assert_eq!(
            ok.ok(),
            Some(vec![
                ("gigabytes".to_string(), -1),
                ("volumes".to_string(), 5)
            ])
        );
        for (body, needle) in [
            (json!({}), "does not have enough properties"),
            (
                json!({"nope": 1, "volumes": 2}),
                "Bad key(s) in quota set: nope",
            ),
            (json!({"volumes": "ten"}), "volumes must be an integer"),
            (json!({"volumes": -2}), "must be >= -1"),
            (json!({"volumes": 1_i64 << 40}), "must be <="),
        ] {
            let e = parse_update(&obj(body), &known())
                .err()
                .map(|e| (e.status, e.message));
            let (status, message) = e.unwrap_or_else(|| panic!("{needle}: accepted"));
            assert_eq!(status, StatusCode::BAD_REQUEST);
            assert!(message.contains(needle), "{message}");
        }
    }
}
