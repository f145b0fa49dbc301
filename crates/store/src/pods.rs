use serde::Serialize;
use sqlx::{Any, Row, Transaction};
use tricircle_core::ids::new_uuid;
use tricircle_core::pod::{aggregate_name, ValidPod};
use tricircle_core::PodUpdate;

use crate::{now, Result, Store, StoreError};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Pod {
    pub pod_id: String,
    pub pod_name: String,
    pub az_name: String,
    pub pod_az_name: String,
    pub dc_name: String,
    pub maintenance: bool,
    pub created_at: String,
    pub updated_at: String,
}

impl Pod {
    pub fn is_top(&self) -> bool {
        self.az_name.is_empty()
    }

    fn from_row(row: &sqlx::any::AnyRow) -> Result<Pod> {
        Ok(Pod {
            pod_id: row.try_get("pod_id")?,
            pod_name: row.try_get("pod_name")?,
            az_name: row.try_get("az_name")?,
            pod_az_name: row.try_get("pod_az_name")?,
            dc_name: row.try_get("dc_name")?,
            maintenance: row.try_get::<i64, _>("maintenance")? != 0,
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
        })
    }
}

const POD_COLUMNS: &str =
    "pod_id, pod_name, az_name, pod_az_name, dc_name, maintenance, created_at, updated_at";

impl Store {
    /// Creates a pod. A bottom pod gets its aggregate `ag_<pod_name>` with
    /// `availability_zone=<az_name>` in the same transaction.
    pub async fn create_pod(&self, pod: &ValidPod) -> Result<Pod> {
        let mut tx = self.begin_write().await?;
        if pod.is_top() {
            let existing: Option<String> =
                sqlx::query_scalar("SELECT pod_name FROM pods WHERE az_name = ''")
                    .fetch_optional(&mut *tx)
                    .await?;
            if let Some(name) = existing {
                return Err(StoreError::Conflict(format!(
                    "a top pod already exists ({name}); there can be only one pod without az_name"
                )));
            }
        }
        let now = now();
        let pod_id = new_uuid();
        sqlx::query(
            "INSERT INTO pods (pod_id, pod_name, az_name, pod_az_name, dc_name, maintenance, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, 0, $6, $6)",
        )
        .bind(&pod_id)
        .bind(&pod.pod_name)
        .bind(&pod.az_name)
        .bind(&pod.pod_az_name)
        .bind(&pod.dc_name)
        .bind(&now)
        .execute(&mut *tx)
        .await
        .map_err(|e| {
            StoreError::conflict_on_unique(
                e,
                if pod.is_top() {
                    format!("a pod named {} or a top pod already exists", pod.pod_name)
                } else {
                    format!("a pod named {} already exists", pod.pod_name)
                },
            )
        })?;
        if !pod.is_top() {
            create_pod_aggregate(&mut tx, &pod_id, pod, &now).await?;
        }
        tx.commit().await?;
        Ok(Pod {
            pod_id,
            pod_name: pod.pod_name.clone(),
            az_name: pod.az_name.clone(),
            pod_az_name: pod.pod_az_name.clone(),
            dc_name: pod.dc_name.clone(),
            maintenance: false,
            created_at: now.clone(),
            updated_at: now,
        })
    }

    pub async fn list_pods(&self) -> Result<Vec<Pod>> {
        let rows = sqlx::query(&format!(
            "SELECT {POD_COLUMNS} FROM pods ORDER BY created_at, pod_name"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(Pod::from_row).collect()
    }

    pub async fn get_pod(&self, pod_id: &str) -> Result<Pod> {
        self.find_pod(pod_id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("Pod {pod_id} could not be found.")))
    }

    pub async fn find_pod(&self, pod_id: &str) -> Result<Option<Pod>> {
        let row = sqlx::query(&format!("SELECT {POD_COLUMNS} FROM pods WHERE pod_id = $1"))
            .bind(pod_id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(Pod::from_row).transpose()
    }

    pub async fn find_pod_by_name(&self, pod_name: &str) -> Result<Option<Pod>> {
        let row = sqlx::query(&format!(
            "SELECT {POD_COLUMNS} FROM pods WHERE pod_name = $1"
        ))
        .bind(pod_name)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(Pod::from_row).transpose()
    }

    pub async fn top_pod(&self) -> Result<Option<Pod>> {
        let row = sqlx::query(&format!(
            "SELECT {POD_COLUMNS} FROM pods WHERE az_name = ''"
        ))
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(Pod::from_row).transpose()
    }

    /// Applies a validated [`PodUpdate`].
    pub async fn update_pod(&self, pod_id: &str, update: &PodUpdate) -> Result<Pod> {
        let current = self.get_pod(pod_id).await?;
        let pod_az_name = update
            .pod_az_name
            .clone()
            .unwrap_or(current.pod_az_name.clone());
        let dc_name = update.dc_name.clone().unwrap_or(current.dc_name.clone());
        let maintenance = update.maintenance.unwrap_or(current.maintenance);
        let now = now();
        let changed = sqlx::query(
            "UPDATE pods SET pod_az_name = $1, dc_name = $2, maintenance = $3, updated_at = $4 WHERE pod_id = $5",
        )
        .bind(&pod_az_name)
        .bind(&dc_name)
        .bind(i64::from(maintenance))
        .bind(&now)
        .bind(pod_id)
        .execute(&self.pool)
        .await?
        .rows_affected();
        if changed == 0 {
            return Err(StoreError::NotFound(format!(
                "Pod {pod_id} could not be found."
            )));
        }
        Ok(Pod {
            pod_az_name,
            dc_name,
            maintenance,
            updated_at: now,
            ..current
        })
    }

    /// Deletes a pod and its aggregate. While routings or bindings still
    /// point at the pod the delete is refused, unless `force`, which removes
    /// them too: never a dangling row.
    pub async fn delete_pod(&self, pod_id: &str, force: bool) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let pod_name: Option<String> =
            sqlx::query_scalar("SELECT pod_name FROM pods WHERE pod_id = $1")
                .bind(pod_id)
                .fetch_optional(&mut *tx)
                .await?;
        let Some(pod_name) = pod_name else {
            return Err(StoreError::NotFound(format!(
                "Pod {pod_id} could not be found."
            )));
        };
        let routings: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM routings WHERE pod_id = $1")
            .bind(pod_id)
            .fetch_one(&mut *tx)
            .await?;
        let bindings: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM pod_bindings WHERE pod_id = $1")
                .bind(pod_id)
                .fetch_one(&mut *tx)
                .await?;
        if (routings > 0 || bindings > 0) && !force {
            return Err(StoreError::Conflict(format!(
                "Pod {pod_id} is still referenced by {routings} routing(s) and {bindings} binding(s); \
                 delete them first or pass force=true"
            )));
        }
        for sql in [
            "DELETE FROM routings WHERE pod_id = $1",
            "DELETE FROM pod_bindings WHERE pod_id = $1",
            "DELETE FROM aggregate_metadata WHERE aggregate_id IN (SELECT id FROM aggregates WHERE pod_id = $1)",
            "DELETE FROM aggregates WHERE pod_id = $1",
        ] {
            sqlx::query(sql).bind(pod_id).execute(&mut *tx).await?;
        }
        sqlx::query("DELETE FROM cached_endpoints WHERE region = $1")
            .bind(&pod_name)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM pods WHERE pod_id = $1")
            .bind(pod_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }
}

async fn create_pod_aggregate(
    tx: &mut Transaction<'_, Any>,
    pod_id: &str,
    pod: &ValidPod,
    now: &str,
) -> Result<()> {
    let name = aggregate_name(&pod.pod_name);
    let aggregate_id: i64 = sqlx::query_scalar(
        "INSERT INTO aggregates (uuid, name, pod_id, created_at, updated_at) VALUES ($1, $2, $3, $4, $4) RETURNING id",
    )
    .bind(new_uuid())
    .bind(&name)
    .bind(pod_id)
    .bind(now)
    .fetch_one(&mut **tx)
    .await
    .map_err(|e| StoreError::conflict_on_unique(e, format!("aggregate {name} already exists")))?;
    sqlx::query(
        "INSERT INTO aggregate_metadata (aggregate_id, meta_key, meta_value) VALUES ($1, 'availability_zone', $2)",
    )
    .bind(aggregate_id)
    .bind(&pod.az_name)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
