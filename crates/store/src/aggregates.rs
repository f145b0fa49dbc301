use std::collections::BTreeMap;

use serde::Serialize;
use sqlx::Row;

use crate::{Result, Store};

pub type AggregateMetadata = BTreeMap<String, String>;

/// A compute host aggregate kept at the top: one per bottom pod.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Aggregate {
    pub id: i64,
    pub uuid: String,
    pub name: String,
    pub pod_id: Option<String>,
    pub metadata: AggregateMetadata,
    pub created_at: String,
    pub updated_at: String,
}

impl Store {
    pub async fn list_aggregates(&self) -> Result<Vec<Aggregate>> {
        let rows = sqlx::query(
            "SELECT id, uuid, name, pod_id, created_at, updated_at FROM aggregates ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await?;
        let meta = sqlx::query("SELECT aggregate_id, meta_key, meta_value FROM aggregate_metadata")
            .fetch_all(&self.pool)
            .await?;
        let mut by_aggregate: BTreeMap<i64, AggregateMetadata> = BTreeMap::new();
        for m in &meta {
            by_aggregate
                .entry(m.try_get("aggregate_id")?)
                .or_default()
                .insert(m.try_get("meta_key")?, m.try_get("meta_value")?);
        }
        rows.iter()
            .map(|r| {
                let id: i64 = r.try_get("id")?;
                Ok(Aggregate {
                    id,
                    uuid: r.try_get("uuid")?,
                    name: r.try_get("name")?,
                    pod_id: r.try_get("pod_id")?,
                    metadata: by_aggregate.remove(&id).unwrap_or_default(),
                    created_at: r.try_get("created_at")?,
                    updated_at: r.try_get("updated_at")?,
                })
            })
            .collect()
    }
}
