//! The durable job queue. Jobs are inserted in the same transaction as the
//! top change that needs them ([`enqueue_in`]); the engine in
//! `tricircle-jobs` leases and runs them.
//!
//! - **Coalescing:** at most one NEW job per `(job_type, resource_id)` (a
//!   partial unique index). A newer request while one is NEW replaces its
//!   `resource` payload; while one is RUNNING a NEW one is added and runs
//!   after it.
//! - **One running job per resource:** a second partial unique index.
//! - **Leases:** a worker [`Store::claim_jobs`] ready jobs for a time and
//!   [`Store::renew_job`]s the lease while it works; a RUNNING job whose lease
//!   expired (its worker died) is taken over by the next claim.
//! - **Log:** a job that succeeded moves to `job_log`; a job that failed for
//!   good stays in `jobs` as FAIL until an operator redoes or deletes it.
//!
//! Times are stored as RFC 3339 strings (whole seconds, UTC), so string
//! comparison is time comparison; they come from the store's [`crate::Clock`].

use std::time::Duration;

use chrono::Utc;
use serde::Serialize;
use serde_json::Value;
use sqlx::{Any, Row, Transaction};
use tricircle_core::ids::new_uuid;

use crate::{Backend, Result, Store, StoreError};

/// A job to record: what to do (`job_type`), to which resource, with the
/// handler's input (`resource`, a JSON object of the keys its schema names).
#[derive(Debug, Clone, PartialEq)]
pub struct NewJob {
    pub job_type: String,
    pub project_id: String,
    pub resource_id: String,
    pub resource: Value,
}

/// Where a job is in its life. NEW, RUNNING and FAIL jobs are in the live
/// table; SUCCESS ones are in the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum JobStatus {
    New,
    Running,
    Success,
    Fail,
}

impl JobStatus {
    pub const ALL: [JobStatus; 4] = [
        JobStatus::New,
        JobStatus::Running,
        JobStatus::Success,
        JobStatus::Fail,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::New => "NEW",
            JobStatus::Running => "RUNNING",
            JobStatus::Success => "SUCCESS",
            JobStatus::Fail => "FAIL",
        }
    }
}

impl std::str::FromStr for JobStatus {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<JobStatus, String> {
        JobStatus::ALL
            .into_iter()
            .find(|st| st.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| {
                format!("Invalid job status '{s}': expected one of NEW, RUNNING, SUCCESS, FAIL")
            })
    }
}

/// A job, live or logged.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Job {
    pub id: String,
    pub job_type: String,
    pub status: JobStatus,
    pub project_id: String,
    pub resource_id: String,
    pub resource: Value,
    /// Live jobs: failed attempts so far. Logged jobs: the attempts it
    /// took, the successful one included.
    pub attempts: i64,
    /// When the job may run next (live jobs only).
    pub run_after: Option<String>,
    pub lease_owner: Option<String>,
    pub lease_expires_at: Option<String>,
    pub last_error: Option<String>,
    pub created_at: String,
    /// Last change; for a logged job, when it finished.
    pub updated_at: String,
}

const JOB_COLUMNS: &str = "id, job_type, status, project_id, resource_id, resource, attempts, \
     run_after, lease_owner, lease_expires_at, last_error, created_at, updated_at";
const LOG_COLUMNS: &str = "id, job_type, status, project_id, resource_id, resource, attempts, \
     last_error, created_at, finished_at";

fn parse_resource(id: &str, text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| {
        tracing::warn!(job = %id, error = %e, "job resource is not JSON");
        Value::String(text.to_string())
    })
}

fn parse_status(raw: &str) -> Result<JobStatus> {
    raw.parse()
        .map_err(|e: String| StoreError::Database(sqlx::Error::Decode(e.into())))
}

impl Job {
    fn from_row(row: &sqlx::any::AnyRow) -> Result<Job> {
        let id: String = row.try_get("id")?;
        let resource: String = row.try_get("resource")?;
        Ok(Job {
            resource: parse_resource(&id, &resource),
            status: parse_status(&row.try_get::<String, _>("status")?)?,
            job_type: row.try_get("job_type")?,
            project_id: row.try_get("project_id")?,
            resource_id: row.try_get("resource_id")?,
            attempts: row.try_get("attempts")?,
            run_after: Some(row.try_get("run_after")?),
            lease_owner: row.try_get("lease_owner")?,
            lease_expires_at: row.try_get("lease_expires_at")?,
            last_error: row.try_get("last_error")?,
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
            id,
        })
    }

    fn from_log_row(row: &sqlx::any::AnyRow) -> Result<Job> {
        let id: String = row.try_get("id")?;
        let resource: String = row.try_get("resource")?;
        Ok(Job {
            resource: parse_resource(&id, &resource),
            status: parse_status(&row.try_get::<String, _>("status")?)?,
            job_type: row.try_get("job_type")?,
            project_id: row.try_get("project_id")?,
            resource_id: row.try_get("resource_id")?,
            attempts: row.try_get("attempts")?,
            run_after: None,
            lease_owner: None,
            lease_expires_at: None,
            last_error: row.try_get("last_error")?,
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("finished_at")?,
            id,
        })
    }
}

/// Filters of a job list; all optional. `status: Some(Success)` reads the
/// log, anything else the live table.
#[derive(Debug, Clone, Default)]
pub struct JobFilter {
    pub project_id: Option<String>,
    pub job_type: Option<String>,
    pub status: Option<JobStatus>,
}

/// One page of jobs in id order, and whether more rows follow.
#[derive(Debug, Clone)]
pub struct JobPage {
    pub jobs: Vec<Job>,
    pub has_more: bool,
}

/// A stored time `d` from now by the system clock, rounded up to the next
/// whole second so that a lease or a back-off is never shorter than asked.
/// The job queue itself uses its store's clock ([`Store::stamp_after`]).
pub fn stamp_after(d: Duration) -> String {
    crate::clock::stamp_ceil_after(Utc::now(), d)
}

/// Records `job` inside `tx` and returns its id; `now` is the job queue's
/// time, as stored. While a NEW job for the same `(job_type, resource_id)`
/// exists, that one takes the newer payload (and runs no later than now)
/// instead: the id returned is then its id.
pub(crate) async fn enqueue_in(
    tx: &mut Transaction<'_, Any>,
    job: &NewJob,
    now: &str,
) -> Result<String> {
    enqueue_at(tx, job, now, now).await
}

/// [`enqueue_in`], not to run before `run_after` (a stored timestamp).
pub(crate) async fn enqueue_at(
    tx: &mut Transaction<'_, Any>,
    job: &NewJob,
    run_after: &str,
    now: &str,
) -> Result<String> {
    let id: String = sqlx::query_scalar(
        "INSERT INTO jobs (id, job_type, status, project_id, resource_id, resource, attempts, run_after, created_at, updated_at) \
         VALUES ($1, $2, 'NEW', $3, $4, $5, 0, $6, $7, $7) \
         ON CONFLICT (job_type, resource_id) WHERE status = 'NEW' DO UPDATE SET \
           resource = excluded.resource, updated_at = excluded.updated_at, \
           run_after = CASE WHEN jobs.run_after < excluded.run_after THEN jobs.run_after ELSE excluded.run_after END \
         RETURNING id",
    )
    .bind(new_uuid())
    .bind(&job.job_type)
    .bind(&job.project_id)
    .bind(&job.resource_id)
    .bind(job.resource.to_string())
    .bind(run_after)
    .bind(now)
    .fetch_one(&mut **tx)
    .await?;
    Ok(id)
}

/// Puts a RUNNING job owned by `owner` back to NEW (a retry, or a release at
/// shutdown). When a newer NEW job for the same resource is waiting, that
/// one supersedes this one (handlers are idempotent and it carries the
/// newest payload): it inherits the attempt count and back-off, and this row
/// goes. Returns false when `owner` no longer holds the job.
async fn requeue_in(
    tx: &mut Transaction<'_, Any>,
    store: &Store,
    id: &str,
    owner: &str,
    failed: bool,
    error: Option<&str>,
    run_after: &str,
) -> Result<bool> {
    let now = &store.jobs_now();
    let lock = if store.backend == Backend::Postgres {
        " FOR UPDATE"
    } else {
        ""
    };
    let row = sqlx::query(&format!(
        "SELECT job_type, resource_id, attempts FROM jobs \
         WHERE id = $1 AND lease_owner = $2 AND status = 'RUNNING'{lock}"
    ))
    .bind(id)
    .bind(owner)
    .fetch_optional(&mut **tx)
    .await?;
    let Some(row) = row else {
        return Ok(false);
    };
    let job_type: String = row.try_get("job_type")?;
    let resource_id: String = row.try_get("resource_id")?;
    let attempts: i64 = row.try_get::<i64, _>("attempts")? + i64::from(failed);
    let newer: Option<String> = sqlx::query_scalar(&format!(
        "SELECT id FROM jobs WHERE job_type = $1 AND resource_id = $2 AND status = 'NEW'{lock}"
    ))
    .bind(&job_type)
    .bind(&resource_id)
    .fetch_optional(&mut **tx)
    .await?;
    match newer {
        Some(newer) => {
            sqlx::query(
                "UPDATE jobs SET attempts = CASE WHEN attempts > $1 THEN attempts ELSE $1 END, \
                 last_error = COALESCE($2, last_error), \
                 run_after = CASE WHEN run_after > $3 THEN run_after ELSE $3 END, updated_at = $4 \
                 WHERE id = $5",
            )
            .bind(attempts)
            .bind(error)
            .bind(run_after)
            .bind(now)
            .bind(&newer)
            .execute(&mut **tx)
            .await?;
            sqlx::query("DELETE FROM jobs WHERE id = $1")
                .bind(id)
                .execute(&mut **tx)
                .await?;
        }
        None => {
            sqlx::query(
                "UPDATE jobs SET status = 'NEW', attempts = $1, last_error = COALESCE($2, last_error), \
                 run_after = $3, lease_owner = NULL, lease_expires_at = NULL, updated_at = $4 \
                 WHERE id = $5",
            )
            .bind(attempts)
            .bind(error)
            .bind(run_after)
            .bind(now)
            .bind(id)
            .execute(&mut **tx)
            .await?;
        }
    }
    Ok(true)
}

/// Jobs that may be claimed now: NEW and due, with no RUNNING job on the same
/// resource (live or not: its row holds the one-running slot), or RUNNING
/// with an expired lease (a dead worker's job, taken over).
const READY: &str = "((j.status = 'NEW' AND j.run_after <= $1 AND NOT EXISTS (\
       SELECT 1 FROM jobs r WHERE r.job_type = j.job_type AND r.resource_id = j.resource_id \
       AND r.status = 'RUNNING')) \
     OR (j.status = 'RUNNING' AND j.lease_expires_at < $1))";

impl Store {
    /// Records a NEW job (coalesced with a pending one for the same
    /// resource) and returns its id.
    pub async fn enqueue_job(
        &self,
        job_type: &str,
        project_id: &str,
        resource_id: &str,
        resource: &Value,
    ) -> Result<String> {
        let job = NewJob {
            job_type: job_type.to_string(),
            project_id: project_id.to_string(),
            resource_id: resource_id.to_string(),
            resource: resource.clone(),
        };
        self.enqueue_job_at(&job, &self.jobs_now()).await
    }

    /// Records a NEW job that no worker runs before `delay` has passed (as
    /// [`Store::enqueue_job`] otherwise).
    pub async fn enqueue_job_after(&self, job: &NewJob, delay: Duration) -> Result<String> {
        self.enqueue_job_at(job, &self.stamp_after(delay)).await
    }

    async fn enqueue_job_at(&self, job: &NewJob, run_after: &str) -> Result<String> {
        let mut tx = self.begin_write().await?;
        let id = enqueue_at(&mut tx, job, run_after, &self.jobs_now()).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// `(job_type, status, resource_id)` of a project's pending jobs.
    pub async fn pending_jobs(&self, project_id: &str) -> Result<Vec<(String, String, String)>> {
        Ok(sqlx::query_as("SELECT job_type, status, resource_id FROM jobs WHERE project_id = $1 ORDER BY created_at")
            .bind(project_id)
            .fetch_all(&self.pool)
            .await?)
    }

    /// Leases up to `limit` ready jobs to `owner` for `lease` and returns
    /// them RUNNING. A taken-over job (its lease expired) counts its lost run
    /// as a failed attempt. On PostgreSQL rows are picked with
    /// `FOR UPDATE SKIP LOCKED`, so concurrent claimers never wait on each
    /// other; on SQLite the write lock serialises claims.
    pub async fn claim_jobs(&self, owner: &str, lease: Duration, limit: u32) -> Result<Vec<Job>> {
        let mut claimed = Vec::new();
        // A cheap read first: an idle queue costs no write lock.
        let any: Option<String> =
            sqlx::query_scalar(&format!("SELECT j.id FROM jobs j WHERE {READY} LIMIT 1"))
                .bind(self.jobs_now())
                .fetch_optional(&self.pool)
                .await?;
        if any.is_none() {
            return Ok(claimed);
        }
        let lock = if self.backend == Backend::Postgres {
            " FOR UPDATE SKIP LOCKED"
        } else {
            ""
        };
        // One job per transaction: a lost race (another instance claimed a
        // job of the same resource meanwhile) costs one retry, not a batch.
        let mut races = 0;
        while claimed.len() < limit as usize {
            match self.claim_one(owner, lease, lock).await {
                Ok(Some(job)) => claimed.push(job),
                Ok(None) => break,
                Err(StoreError::Database(e)) if StoreError::is_unique_violation(&e) => {
                    races += 1;
                    if races > 3 {
                        break;
                    }
                }
                Err(e) => return Err(e),
            }
        }
        Ok(claimed)
    }

    async fn claim_one(&self, owner: &str, lease: Duration, lock: &str) -> Result<Option<Job>> {
        let now = self.jobs_now();
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(&format!(
            "SELECT {JOB_COLUMNS} FROM jobs j WHERE {READY} ORDER BY j.run_after, j.id LIMIT 1{lock}"
        ))
        .bind(&now)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let mut job = Job::from_row(&row)?;
        let takeover = job.status == JobStatus::Running;
        if takeover {
            tracing::warn!(job = %job.id, job_type = %job.job_type, previous_owner = ?job.lease_owner,
                "lease expired: taking over the job of a lost worker");
            job.attempts += 1;
            job.last_error = Some(format!(
                "lease of worker {} expired before the job finished",
                job.lease_owner.as_deref().unwrap_or("?")
            ));
        }
        let expires = self.stamp_after(lease);
        sqlx::query(
            "UPDATE jobs SET status = 'RUNNING', lease_owner = $1, lease_expires_at = $2, \
             attempts = $3, last_error = $4, updated_at = $5 WHERE id = $6",
        )
        .bind(owner)
        .bind(&expires)
        .bind(job.attempts)
        .bind(job.last_error.as_deref())
        .bind(&now)
        .bind(&job.id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        job.status = JobStatus::Running;
        job.lease_owner = Some(owner.to_string());
        job.lease_expires_at = Some(expires);
        job.updated_at = now;
        Ok(Some(job))
    }

    /// Extends `owner`'s lease on a running job by `lease` from now. False
    /// when the job is no longer `owner`'s (taken over, deleted).
    pub async fn renew_job(&self, owner: &str, id: &str, lease: Duration) -> Result<bool> {
        let n = sqlx::query(
            "UPDATE jobs SET lease_expires_at = $1 WHERE id = $2 AND lease_owner = $3 AND status = 'RUNNING'",
        )
        .bind(self.stamp_after(lease))
        .bind(id)
        .bind(owner)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(n == 1)
    }

    /// Moves a job `owner` holds to the log as SUCCESS, in one transaction.
    /// False (and nothing changes) when `owner` no longer holds it.
    pub async fn finish_job_success(&self, id: &str, owner: &str) -> Result<bool> {
        let now = self.jobs_now();
        let mut tx = self.begin_write().await?;
        let n = sqlx::query(
            "INSERT INTO job_log (id, job_type, status, project_id, resource_id, resource, attempts, last_error, created_at, finished_at) \
             SELECT id, job_type, 'SUCCESS', project_id, resource_id, resource, attempts + 1, last_error, created_at, $1 \
             FROM jobs WHERE id = $2 AND lease_owner = $3 AND status = 'RUNNING'",
        )
        .bind(&now)
        .bind(id)
        .bind(owner)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n != 1 {
            return Ok(false);
        }
        sqlx::query("DELETE FROM jobs WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Records a failed attempt of a job `owner` holds: back to NEW, due at
    /// `retry_at` (a stored time, see [`Store::stamp_after`]), or FAIL for good when
    /// `retry_at` is `None`. False when `owner` no longer holds it.
    pub async fn finish_job_failure(
        &self,
        id: &str,
        owner: &str,
        error: &str,
        retry_at: Option<&str>,
    ) -> Result<bool> {
        let now = self.jobs_now();
        let mut tx = self.begin_write().await?;
        let done =
            match retry_at {
                Some(at) => requeue_in(&mut tx, self, id, owner, true, Some(error), at).await?,
                None => sqlx::query(
                    "UPDATE jobs SET status = 'FAIL', attempts = attempts + 1, last_error = $1, \
                     lease_owner = NULL, lease_expires_at = NULL, updated_at = $2 \
                     WHERE id = $3 AND lease_owner = $4 AND status = 'RUNNING'",
                )
                .bind(error)
                .bind(&now)
                .bind(id)
                .bind(owner)
                .execute(&mut *tx)
                .await?
                .rows_affected()
                    == 1,
            };
        tx.commit().await?;
        Ok(done)
    }

    /// Gives a job `owner` holds back, unfinished and without counting an
    /// attempt (a worker shutting down): it is due again at once.
    pub async fn release_job(&self, id: &str, owner: &str) -> Result<bool> {
        let now = self.jobs_now();
        let mut tx = self.begin_write().await?;
        let done = requeue_in(&mut tx, self, id, owner, false, None, &now).await?;
        tx.commit().await?;
        Ok(done)
    }

    /// Keyset paging in id order: jobs with id greater than `marker`, at most
    /// `limit`. Without a status filter, or with NEW/RUNNING/FAIL, the live
    /// jobs; with SUCCESS, the log.
    pub async fn list_jobs(
        &self,
        filter: &JobFilter,
        marker: Option<&str>,
        limit: u32,
    ) -> Result<JobPage> {
        let from_log = filter.status == Some(JobStatus::Success);
        let (columns, table) = if from_log {
            (LOG_COLUMNS, "job_log")
        } else {
            (JOB_COLUMNS, "jobs")
        };
        let mut sql = format!("SELECT {columns} FROM {table} WHERE 1 = 1");
        let mut binds: Vec<String> = Vec::new();
        let status = filter
            .status
            .filter(|_| !from_log)
            .map(|s| s.as_str().to_string());
        for (column, value) in [
            ("project_id", filter.project_id.as_ref()),
            ("job_type", filter.job_type.as_ref()),
            ("status", status.as_ref()),
        ] {
            if let Some(v) = value {
                binds.push(v.clone());
                sql.push_str(&format!(" AND {column} = ${}", binds.len()));
            }
        }
        if let Some(m) = marker {
            binds.push(m.to_string());
            sql.push_str(&format!(" AND id > ${}", binds.len()));
        }
        sql.push_str(&format!(" ORDER BY id LIMIT {}", u64::from(limit) + 1));
        let mut q = sqlx::query(&sql);
        for b in &binds {
            q = q.bind(b);
        }
        let rows = q.fetch_all(&self.pool).await?;
        let mut jobs = rows
            .iter()
            .map(|r| {
                if from_log {
                    Job::from_log_row(r)
                } else {
                    Job::from_row(r)
                }
            })
            .collect::<Result<Vec<_>>>()?;
        let has_more = jobs.len() > limit as usize;
        jobs.truncate(limit as usize);
        Ok(JobPage { jobs, has_more })
    }

    /// A job by id, live or logged.
    pub async fn get_job(&self, id: &str) -> Result<Job> {
        let row = sqlx::query(&format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        if let Some(r) = row {
            return Job::from_row(&r);
        }
        let row = sqlx::query(&format!("SELECT {LOG_COLUMNS} FROM job_log WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        match row {
            Some(r) => Job::from_log_row(&r),
            None => Err(not_found(id)),
        }
    }

    /// Redoes a FAIL job: NEW again, attempts reset, due now. Conflict for a
    /// job in any other state, or when a newer request for the same resource
    /// is already pending (that one will do the work).
    pub async fn redo_job(&self, id: &str) -> Result<Job> {
        let mut tx = self.begin_write().await?;
        let status: Option<String> = sqlx::query_scalar("SELECT status FROM jobs WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
        match status.as_deref() {
            Some("FAIL") => {}
            Some(other) => {
                return Err(StoreError::Conflict(format!(
                    "Job {id} is {other}; only a FAIL job can be redone"
                )))
            }
            None => {
                drop(tx);
                // Finished jobs are in the log: there is nothing to redo.
                return match self.get_job(id).await {
                    Ok(_) => Err(StoreError::Conflict(format!(
                        "Job {id} is SUCCESS; only a FAIL job can be redone"
                    ))),
                    Err(e) => Err(e),
                };
            }
        }
        let now = self.jobs_now();
        sqlx::query(
            "UPDATE jobs SET status = 'NEW', attempts = 0, run_after = $1, lease_owner = NULL, \
             lease_expires_at = NULL, updated_at = $1 WHERE id = $2",
        )
        .bind(&now)
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(|e| {
            StoreError::conflict_on_unique(
                e,
                format!("Job {id} cannot be redone: a newer job for the same resource is already pending"),
            )
        })?;
        // Read inside the transaction: once committed, a worker may claim
        // the job at once, and the answer is what the redo did.
        let row = sqlx::query(&format!("SELECT {JOB_COLUMNS} FROM jobs j WHERE j.id = $1"))
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
        let job = Job::from_row(&row)?;
        tx.commit().await?;
        Ok(job)
    }

    /// Deletes a job that is not running (live or logged).
    pub async fn delete_job(&self, id: &str) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let status: Option<String> = sqlx::query_scalar("SELECT status FROM jobs WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
        if status.as_deref() == Some("RUNNING") {
            return Err(StoreError::Conflict(format!(
                "Job {id} is RUNNING and cannot be deleted"
            )));
        }
        let table = if status.is_some() { "jobs" } else { "job_log" };
        let n = sqlx::query(&format!("DELETE FROM {table} WHERE id = $1"))
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if n == 0 {
            return Err(not_found(id));
        }
        tx.commit().await?;
        Ok(())
    }
}

fn not_found(id: &str) -> StoreError {
    StoreError::NotFound(format!("Job {id} could not be found."))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_parse() {
        assert_eq!("fail".parse::<JobStatus>(), Ok(JobStatus::Fail));
        assert!("DONE".parse::<JobStatus>().is_err());
    }
}
