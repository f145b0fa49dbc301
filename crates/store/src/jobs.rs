//! The durable job queue. The engine that runs jobs arrives with the
//! network service; until then jobs are recorded for operators and later
//! workers (e.g. a server whose creation outcome is unknown).

use serde_json::Value;
use tricircle_core::ids::new_uuid;

use crate::{now, Result, Store};

impl Store {
    /// Records a NEW job and returns its id.
    pub async fn enqueue_job(
        &self,
        job_type: &str,
        project_id: &str,
        resource_id: &str,
        resource: &Value,
    ) -> Result<String> {
        let id = new_uuid();
        let now = now();
        sqlx::query(
            "INSERT INTO jobs (id, job_type, status, project_id, resource_id, resource, attempts, run_after, created_at, updated_at) \
             VALUES ($1, $2, 'NEW', $3, $4, $5, 0, $6, $6, $6)",
        )
        .bind(&id)
        .bind(job_type)
        .bind(project_id)
        .bind(resource_id)
        .bind(resource.to_string())
        .bind(&now)
        .execute(&self.pool)
        .await?;
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
