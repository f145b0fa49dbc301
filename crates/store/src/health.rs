//! The shared view of pod health (`pod_health`): what every gateway instance
//! writes when its circuit breaker for a pod changes state or a probe reads
//! the pod, and reads back on a short period. See migration 0007.

use serde::Serialize;
use sqlx::Row;

use crate::{Result, Store};

/// One pod's row, with the pod's name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PodHealthRow {
    pub pod_id: String,
    pub pod_name: String,
    /// `up`, `degraded` or `down`.
    pub state: String,
    pub since: String,
    pub last_error: Option<String>,
    pub last_error_at: Option<String>,
    pub consecutive_failures: i64,
    pub successes: i64,
    pub failures: i64,
    pub free_vcpus: Option<i64>,
    pub free_ram_mb: Option<i64>,
    pub probed_at: Option<String>,
    /// Bumped by every change of state: a reader that saw an older version
    /// takes this row's state.
    pub version: i64,
    pub updated_at: String,
}

/// What one instance tells the shared view about a pod (by name; a name
/// that is not a registered pod is ignored).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PodHealthReport {
    pub pod_name: String,
    /// The instance's current state and when it began.
    pub state: String,
    pub since: String,
    /// The state changed here: it replaces the shared one (and the version
    /// is bumped). Otherwise the shared state is kept and only counts,
    /// error and capacity are updated (a new row starts with `state`).
    pub transition: bool,
    /// The newest error, if one happened since the last report.
    pub last_error: Option<(String, String)>,
    pub consecutive_failures: i64,
    /// Answers and failures since the last report (added to the row's).
    pub new_successes: i64,
    pub new_failures: i64,
    /// `(free_vcpus, free_ram_mb, probed_at)` when a probe read them.
    pub capacity: Option<(i64, i64, String)>,
    pub now: String,
}

const COLUMNS: &str = "h.pod_id, p.pod_name, h.state, h.since, h.last_error, h.last_error_at, \
     h.consecutive_failures, h.successes, h.failures, h.free_vcpus, h.free_ram_mb, h.probed_at, \
     h.version, h.updated_at";

impl PodHealthRow {
    fn from_row(row: &sqlx::any::AnyRow) -> Result<PodHealthRow> {
        Ok(PodHealthRow {
            pod_id: row.try_get("pod_id")?,
            pod_name: row.try_get("pod_name")?,
            state: row.try_get("state")?,
            since: row.try_get("since")?,
            last_error: row.try_get("last_error")?,
            last_error_at: row.try_get("last_error_at")?,
            consecutive_failures: row.try_get("consecutive_failures")?,
            successes: row.try_get("successes")?,
            failures: row.try_get("failures")?,
            free_vcpus: row.try_get("free_vcpus")?,
            free_ram_mb: row.try_get("free_ram_mb")?,
            probed_at: row.try_get("probed_at")?,
            version: row.try_get("version")?,
            updated_at: row.try_get("updated_at")?,
        })
    }
}

/// Longest error text kept (the column's size).
const MAX_ERROR_CHARS: usize = 1000;

impl Store {
    /// Every pod's health row, by pod name.
    pub async fn list_pod_health(&self) -> Result<Vec<PodHealthRow>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM pod_health h JOIN pods p ON p.pod_id = h.pod_id ORDER BY p.pod_name"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(PodHealthRow::from_row).collect()
    }

    /// One pod's health row, if any instance wrote one.
    pub async fn get_pod_health(&self, pod_id: &str) -> Result<Option<PodHealthRow>> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM pod_health h JOIN pods p ON p.pod_id = h.pod_id WHERE h.pod_id = $1"
        ))
        .bind(pod_id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(PodHealthRow::from_row).transpose()
    }

    /// Merges one instance's report into the shared view; returns the row's
    /// version afterwards (`None`: no pod of that name).
    pub async fn report_pod_health(&self, r: &PodHealthReport) -> Result<Option<i64>> {
        // A transition replaces the state; any report adds its counts and
        // keeps the newest error and capacity. One statement either way, so
        // concurrent reports from several instances never lose counts.
        let on_conflict = if r.transition {
            "state = excluded.state, since = excluded.since, version = pod_health.version + 1, "
        } else {
            ""
        };
        let (error, error_at) = match &r.last_error {
            Some((e, at)) => (
                Some(e.chars().take(MAX_ERROR_CHARS).collect::<String>()),
                Some(at.clone()),
            ),
            None => (None, None),
        };
        let (vcpus, ram, probed_at) = match &r.capacity {
            Some((c, m, at)) => (Some(*c), Some(*m), Some(at.clone())),
            None => (None, None, None),
        };
        let sql = format!(
            "INSERT INTO pod_health (pod_id, state, since, last_error, last_error_at, consecutive_failures, \
               successes, failures, free_vcpus, free_ram_mb, probed_at, version, updated_at) \
             SELECT pod_id, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 1, $12 FROM pods WHERE pod_name = $1 \
             ON CONFLICT (pod_id) DO UPDATE SET {on_conflict}\
               last_error = COALESCE(excluded.last_error, pod_health.last_error), \
               last_error_at = COALESCE(excluded.last_error_at, pod_health.last_error_at), \
               consecutive_failures = excluded.consecutive_failures, \
               successes = pod_health.successes + excluded.successes, \
               failures = pod_health.failures + excluded.failures, \
               free_vcpus = COALESCE(excluded.free_vcpus, pod_health.free_vcpus), \
               free_ram_mb = COALESCE(excluded.free_ram_mb, pod_health.free_ram_mb), \
               probed_at = COALESCE(excluded.probed_at, pod_health.probed_at), \
               updated_at = excluded.updated_at \
             RETURNING version"
        );
        let version: Option<i64> = sqlx::query_scalar(&sql)
            .bind(&r.pod_name)
            .bind(&r.state)
            .bind(&r.since)
            .bind(error)
            .bind(error_at)
            .bind(r.consecutive_failures)
            .bind(r.new_successes)
            .bind(r.new_failures)
            .bind(vcpus)
            .bind(ram)
            .bind(probed_at)
            .bind(&r.now)
            .fetch_optional(&self.pool)
            .await?;
        Ok(version)
    }
}
