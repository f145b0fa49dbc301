//! The durable job queue. Jobs are inserted in the same transaction as the
//! top change that needs them ([`enqueue_in`]); the engine in
//! `tricircle-jobs` leases and runs them.

use serde_json::Value;
use sqlx::{Any, Transaction};
use tricircle_core::ids::new_uuid;

use crate::{now, Result, Store};

/// A job to record: what to do (`job_type`), to which resource, with the
/// handler's input (`resource`, a JSON object of the keys its schema names).
#[derive(Debug, Clone, PartialEq)]
pub struct NewJob {
    pub job_type: String,
    pub project_id: String,
    pub resource_id: String,
    pub resource: Value,
}

/// Records `job` inside `tx` and returns its id.
pub(crate) async fn enqueue_in(tx: &mut Transaction<'_, Any>, job: &NewJob) -> Result<String> {
    let id = new_uuid();
    let now = now();
    sqlx::query(
        "INSERT INTO jobs (id, job_type, status, project_id, resource_id, resource, attempts, run_after, created_at, updated_at) \
         VALUES ($1, $2, 'NEW', $3, $4, $5, 0, $6, $6, $6)",
    )
    .bind(&id)
    .bind(&job.job_type)
    .bind(&job.project_id)
    .bind(&job.resource_id)
    .bind(job.resource.to_string())
    .bind(&now)
    .execute(&mut **tx)
    .await?;
    Ok(id)
}

impl Store {
    /// Records a NEW job and returns its id.
    pub async fn enqueue_job(
        &self,
        job_type: &str,
        project_id: &str,
        resource_id: &str,
        resource: &Value,
    ) -> Result<String> {
        let mut tx = self.begin_write().await?;
        let id = enqueue_in(
            &mut tx,
            &NewJob {
                job_type: job_type.to_string(),
                project_id: project_id.to_string(),
                resource_id: resource_id.to_string(),
                resource: resource.clone(),
            },
        )
        .await?;
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
}
