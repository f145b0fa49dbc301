//! Network quota limits set by an operator (absent: the defaults, which
//! the domain crate holds).

use std::collections::BTreeMap;

use sqlx::{AnyConnection, Row};

use crate::{Result, Store};

pub(crate) async fn limits_in(
    conn: &mut AnyConnection,
    project_id: &str,
) -> Result<Vec<(String, i64)>> {
    let rows = sqlx::query(
        "SELECT resource, hard_limit FROM network_quotas WHERE project_id = $1 ORDER BY resource",
    )
    .bind(project_id)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("resource")?, r.try_get("hard_limit")?)))
        .collect()
}

impl Store {
    /// A project's own network quota limits.
    pub async fn network_quota_limits(&self, project_id: &str) -> Result<Vec<(String, i64)>> {
        let mut conn = self.pool.acquire().await?;
        limits_in(&mut conn, project_id).await
    }

    /// Sets some of a project's network quota limits, in one transaction.
    pub async fn set_network_quotas(
        &self,
        project_id: &str,
        limits: &[(String, i64)],
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        for (resource, limit) in limits {
            sqlx::query("DELETE FROM network_quotas WHERE project_id = $1 AND resource = $2")
                .bind(project_id)
                .bind(resource.as_str())
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "INSERT INTO network_quotas (project_id, resource, hard_limit) VALUES ($1, $2, $3)",
            )
            .bind(project_id)
            .bind(resource.as_str())
            .bind(*limit)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Returns a project to the default network quotas.
    pub async fn delete_network_quotas(&self, project_id: &str) -> Result<()> {
        sqlx::query("DELETE FROM network_quotas WHERE project_id = $1")
            .bind(project_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Every project with limits of its own, and those limits.
    pub async fn all_network_quotas(&self) -> Result<BTreeMap<String, Vec<(String, i64)>>> {
        let rows = sqlx::query(
            "SELECT project_id, resource, hard_limit FROM network_quotas ORDER BY project_id, resource",
        )
        .fetch_all(&self.pool)
        .await?;
        let mut out: BTreeMap<String, Vec<(String, i64)>> = BTreeMap::new();
        for r in rows {
            out.entry(r.try_get("project_id")?)
                .or_default()
                .push((r.try_get("resource")?, r.try_get("hard_limit")?));
        }
        Ok(out)
    }
}
