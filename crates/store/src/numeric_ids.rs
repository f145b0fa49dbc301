//! Integer ids at the top for things a pod numbers itself (Nova's
//! hypervisors and services before microversion 2.53): the pods' numbers
//! collide, ours are unique across pods and never change.

use sqlx::Row;

use crate::{now, Result, Store};

impl Store {
    /// Our number for `kind` `bottom_id` of pod `pod_id`, made on first use.
    pub async fn numeric_id(&self, pod_id: &str, kind: &str, bottom_id: &str) -> Result<i64> {
        let find = || {
            sqlx::query(
                "SELECT id FROM numeric_ids WHERE pod_id = $1 AND kind = $2 AND bottom_id = $3",
            )
            .bind(pod_id)
            .bind(kind)
            .bind(bottom_id)
        };
        if let Some(r) = find().fetch_optional(&self.pool).await? {
            return Ok(r.try_get("id")?);
        }
        sqlx::query(
            "INSERT INTO numeric_ids (pod_id, kind, bottom_id, created_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT DO NOTHING",
        )
        .bind(pod_id)
        .bind(kind)
        .bind(bottom_id)
        .bind(now())
        .execute(&self.pool)
        .await?;
        let r = find().fetch_one(&self.pool).await?;
        Ok(r.try_get("id")?)
    }

    /// The pod and the pod's own id behind our number `id` of `kind`.
    pub async fn numeric_id_target(&self, kind: &str, id: i64) -> Result<Option<(String, String)>> {
        let row =
            sqlx::query("SELECT pod_id, bottom_id FROM numeric_ids WHERE kind = $1 AND id = $2")
                .bind(kind)
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
        row.map(|r| Ok((r.try_get("pod_id")?, r.try_get("bottom_id")?)))
            .transpose()
    }
}
