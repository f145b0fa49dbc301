//! Quotas enforced across pods: usage is the sum of a project's
//! allocation rows, whatever pod they are in.

use std::collections::BTreeMap;

use serde::Serialize;
use sqlx::Row;

use crate::{now, Backend, Result, Store, StoreError};

/// Amounts of every quota resource (a request, a usage or a limit).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Usage {
    pub instances: i64,
    pub cores: i64,
    pub ram_mb: i64,
    pub volumes: i64,
    pub gigabytes: i64,
    pub snapshots: i64,
}

impl Usage {
    /// `(quota resource name, amount)` for each field, in the names Nova and
    /// Cinder use.
    pub fn items(&self) -> [(&'static str, i64); 6] {
        [
            ("instances", self.instances),
            ("cores", self.cores),
            ("ram", self.ram_mb),
            ("volumes", self.volumes),
            ("gigabytes", self.gigabytes),
            ("snapshots", self.snapshots),
        ]
    }
}

/// A reservation would exceed a limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotaExceeded {
    pub resource: &'static str,
    pub requested: i64,
    pub used: i64,
    pub limit: i64,
}

impl Store {
    /// The limits an operator set for a project (resources without a row
    /// take the defaults).
    pub async fn quota_limits(&self, project_id: &str) -> Result<BTreeMap<String, i64>> {
        let rows = sqlx::query("SELECT resource, hard_limit FROM quotas WHERE project_id = $1")
            .bind(project_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("resource")?, r.try_get("hard_limit")?)))
            .collect()
    }

    pub async fn set_quota(&self, project_id: &str, resource: &str, limit: i64) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM quotas WHERE project_id = $1 AND resource = $2")
            .bind(project_id)
            .bind(resource)
            .execute(&mut *tx)
            .await?;
        sqlx::query("INSERT INTO quotas (project_id, resource, hard_limit) VALUES ($1, $2, $3)")
            .bind(project_id)
            .bind(resource)
            .bind(limit)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn delete_quotas(&self, project_id: &str) -> Result<()> {
        sqlx::query("DELETE FROM quotas WHERE project_id = $1")
            .bind(project_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// A project's usage across all pods (reservations included).
    pub async fn usage(&self, project_id: &str) -> Result<Usage> {
        usage_in(&self.pool, project_id).await
    }

    /// Reserves `count` allocations of `each` for a project in a pod, if the
    /// total stays within `limits` (a negative limit is unlimited). Returns
    /// the reservation ids, to complete with the resource ids or release.
    /// Concurrent reservations of one project are serialised by a row lock
    /// (PostgreSQL) or the single writer (SQLite), so two requests cannot
    /// both take the last unit.
    pub async fn reserve(
        &self,
        project_id: &str,
        pod_id: &str,
        resource_type: &str,
        each: Usage,
        count: i64,
        limits: &Usage,
    ) -> Result<std::result::Result<Vec<i64>, QuotaExceeded>> {
        let mut tx = self.begin_write().await?;
        if self.backend == Backend::Postgres {
            sqlx::query("INSERT INTO quota_locks (project_id) VALUES ($1) ON CONFLICT DO NOTHING")
                .bind(project_id)
                .execute(&mut *tx)
                .await?;
            sqlx::query("SELECT project_id FROM quota_locks WHERE project_id = $1 FOR UPDATE")
                .bind(project_id)
                .fetch_one(&mut *tx)
                .await?;
        }
        let used = usage_in(&mut *tx, project_id).await?;
        for ((resource, used), ((_, per), (_, limit))) in used
            .items()
            .into_iter()
            .zip(each.items().into_iter().zip(limits.items()))
        {
            let requested = per * count;
            if requested > 0 && limit >= 0 && used + requested > limit {
                return Ok(Err(QuotaExceeded {
                    resource,
                    requested,
                    used,
                    limit,
                }));
            }
        }
        let now = now();
        let mut ids = Vec::new();
        for _ in 0..count {
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO allocations (project_id, resource_type, top_id, pod_id, instances, cores, ram_mb, \
                 volumes, gigabytes, snapshots, created_at) VALUES ($1, $2, NULL, $3, $4, $5, $6, $7, $8, $9, $10) \
                 RETURNING id",
            )
            .bind(project_id)
            .bind(resource_type)
            .bind(pod_id)
            .bind(each.instances)
            .bind(each.cores)
            .bind(each.ram_mb)
            .bind(each.volumes)
            .bind(each.gigabytes)
            .bind(each.snapshots)
            .bind(&now)
            .fetch_one(&mut *tx)
            .await?;
            ids.push(id);
        }
        tx.commit().await?;
        Ok(Ok(ids))
    }

    /// Ties a reservation to the resource that now exists.
    pub async fn complete_allocation(&self, reservation: i64, top_id: &str) -> Result<()> {
        sqlx::query("UPDATE allocations SET top_id = $1 WHERE id = $2")
            .bind(top_id)
            .bind(reservation)
            .execute(&self.pool)
            .await
            .map_err(|e| {
                StoreError::conflict_on_unique(e, format!("{top_id} is already allocated"))
            })?;
        Ok(())
    }

    pub async fn release_reservation(&self, reservation: i64) -> Result<()> {
        sqlx::query("DELETE FROM allocations WHERE id = $1")
            .bind(reservation)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Frees what a deleted resource used.
    pub async fn release_allocation(&self, resource_type: &str, top_id: &str) -> Result<()> {
        sqlx::query("DELETE FROM allocations WHERE resource_type = $1 AND top_id = $2")
            .bind(resource_type)
            .bind(top_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Records a size change of an existing resource (volume extend, resize).
    pub async fn update_allocation(
        &self,
        resource_type: &str,
        top_id: &str,
        usage: Usage,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE allocations SET instances = $1, cores = $2, ram_mb = $3, volumes = $4, gigabytes = $5, \
             snapshots = $6 WHERE resource_type = $7 AND top_id = $8",
        )
        .bind(usage.instances)
        .bind(usage.cores)
        .bind(usage.ram_mb)
        .bind(usage.volumes)
        .bind(usage.gigabytes)
        .bind(usage.snapshots)
        .bind(resource_type)
        .bind(top_id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

async fn usage_in<'e, E>(executor: E, project_id: &str) -> Result<Usage>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    let row = sqlx::query(
        // SUM of BIGINT is NUMERIC on PostgreSQL: cast back for one decoder.
        "SELECT CAST(COALESCE(SUM(instances), 0) AS BIGINT) AS instances, \
         CAST(COALESCE(SUM(cores), 0) AS BIGINT) AS cores, \
         CAST(COALESCE(SUM(ram_mb), 0) AS BIGINT) AS ram_mb, \
         CAST(COALESCE(SUM(volumes), 0) AS BIGINT) AS volumes, \
         CAST(COALESCE(SUM(gigabytes), 0) AS BIGINT) AS gigabytes, \
         CAST(COALESCE(SUM(snapshots), 0) AS BIGINT) AS snapshots \
         FROM allocations WHERE project_id = $1",
    )
    .bind(project_id)
    .fetch_one(executor)
    .await?;
    let get = |c: &str| -> Result<i64> { Ok(row.try_get::<i64, _>(c)?) };
    Ok(Usage {
        instances: get("instances")?,
        cores: get("cores")?,
        ram_mb: get("ram_mb")?,
        volumes: get("volumes")?,
        gigabytes: get("gigabytes")?,
        snapshots: get("snapshots")?,
    })
}
