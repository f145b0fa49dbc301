//! Quota sets of the volume service. Quotas are Tricircle's, enforced
//! across pods: volumes, gigabytes (volumes and snapshots) and snapshots
//! are counted over every pod (the store's allocations), and
//! `per_volume_gigabytes` bounds each volume; the other Cinder quotas are
//! stored and reported (with Cinder's defaults) but left to the pods.

use tricircle_gateway::Gateway;

use crate::error::{Result, VolumeError};

/// Cinder quotas Tricircle reports but does not count, with Cinder's
/// defaults.
const UNCOUNTED: &[(&str, i64)] = &[
    ("per_volume_gigabytes", -1),
    ("backups", 10),
    ("backup_gigabytes", 1000),
    ("groups", 10),
];

/// Every resource of a quota set, counted ones first.
pub const RESOURCES: &[&str] = &[
    "volumes",
    "gigabytes",
    "snapshots",
    "per_volume_gigabytes",
    "backups",
    "backup_gigabytes",
    "groups",
];

/// One resource of a quota set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotaRow {
    pub resource: String,
    pub limit: i64,
    pub in_use: i64,
}

/// The quota set of a project (`defaults_only`: the defaults, with its use).
pub async fn quota_set(gw: &Gateway, project: &str, defaults_only: bool) -> Result<Vec<QuotaRow>> {
    let limits = if defaults_only {
        gw.quota_defaults
    } else {
        gw.project_limits(project).await?
    };
    let usage = gw.store.usage(project).await?;
    let own = if defaults_only {
        Default::default()
    } else {
        gw.store.quota_limits(project).await?
    };
    let row = |resource: &str, limit, in_use| QuotaRow {
        resource: resource.to_string(),
        limit,
        in_use,
    };
    let mut rows = vec![
        row("volumes", limits.volumes, usage.volumes),
        row("gigabytes", limits.gigabytes, usage.gigabytes),
        row("snapshots", limits.snapshots, usage.snapshots),
    ];
    for (name, default) in UNCOUNTED {
        rows.push(row(name, own.get(*name).copied().unwrap_or(*default), 0));
    }
    Ok(rows)
}

/// Sets limits of a project (each checked by the API: a resource of
/// [`RESOURCES`], -1 or more). A limit below what the project already uses
/// across pods is refused as Cinder refuses it. Returns the new set.
pub async fn update(
    gw: &Gateway,
    project: &str,
    updates: &[(String, i64)],
) -> Result<Vec<QuotaRow>> {
    let rows = quota_set(gw, project, false).await?;
    for (k, n) in updates {
        let used = rows
            .iter()
            .find(|r| r.resource == *k)
            .map_or(0, |r| r.in_use);
        if *n >= 0 && *n < used {
            return Err(VolumeError::Invalid(format!(
                "Quota {k} limit must be equal or greater than existing resources. Current usage is {used} and the requested limit is {n}."
            )));
        }
    }
    for (k, n) in updates {
        gw.store.set_quota(project, k, *n).await?;
    }
    quota_set(gw, project, false).await
}

/// Back to the defaults.
pub async fn delete(gw: &Gateway, project: &str) -> Result<()> {
    gw.store.delete_quotas(project).await?;
    Ok(())
}
