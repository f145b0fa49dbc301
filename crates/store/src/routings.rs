use serde::Serialize;
use sqlx::Row;
use tricircle_core::ResourceType;

use crate::{now, Result, Store, StoreError};

/// Where a top resource lives in a pod. `bottom_id` is empty while the
/// creator of the bottom resource is still at work (the row doubles as the
/// creation lock).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Routing {
    pub id: i64,
    pub top_id: String,
    pub bottom_id: Option<String>,
    pub pod_id: String,
    pub project_id: String,
    pub resource_type: ResourceType,
    pub created_at: String,
    pub updated_at: String,
}

impl Routing {
    pub(crate) fn from_row(row: &sqlx::any::AnyRow) -> Result<Routing> {
        Ok(Routing {
            id: row.try_get("id")?,
            top_id: row.try_get("top_id")?,
            bottom_id: row.try_get("bottom_id")?,
            pod_id: row.try_get("pod_id")?,
            project_id: row.try_get("project_id")?,
            resource_type: resource_type_of(row)?,
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
        })
    }
}

#[derive(Debug, Clone)]
pub struct NewRouting {
    pub top_id: String,
    pub bottom_id: Option<String>,
    pub pod_id: String,
    pub project_id: String,
    pub resource_type: ResourceType,
}

#[derive(Debug, Clone, Default)]
pub struct RoutingUpdate {
    pub top_id: Option<String>,
    pub bottom_id: Option<Option<String>>,
    pub pod_id: Option<String>,
    pub project_id: Option<String>,
    pub resource_type: Option<ResourceType>,
}

#[derive(Debug, Clone, Default)]
pub struct RoutingFilter {
    pub top_id: Option<String>,
    pub bottom_id: Option<String>,
    pub pod_id: Option<String>,
    pub project_id: Option<String>,
    pub resource_type: Option<ResourceType>,
}

/// One page of routings in id order, and whether more rows follow.
#[derive(Debug, Clone)]
pub struct RoutingPage {
    pub routings: Vec<Routing>,
    pub has_more: bool,
}

pub(crate) const ROUTING_COLUMNS: &str =
    "id, top_id, bottom_id, pod_id, project_id, resource_type, created_at, updated_at";

impl Store {
    pub async fn create_routing(&self, new: &NewRouting) -> Result<Routing> {
        if self.find_pod(&new.pod_id).await?.is_none() {
            return Err(StoreError::UnknownPod(new.pod_id.clone()));
        }
        let now = now();
        let row = sqlx::query(&format!(
            "INSERT INTO routings (top_id, bottom_id, pod_id, project_id, resource_type, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING {ROUTING_COLUMNS}"
        ))
        .bind(&new.top_id)
        .bind(new.bottom_id.as_deref())
        .bind(&new.pod_id)
        .bind(&new.project_id)
        .bind(new.resource_type.as_str())
        .bind(&now)
        .fetch_one(&self.pool)
        .await
        .map_err(|e| routing_write_error(e, &new.top_id, &new.pod_id, new.resource_type))?;
        Routing::from_row(&row)
    }

    /// Keyset paging in id order: rows with id greater than `marker`, at
    /// most `limit` of them. Cost is independent of how far in the table the
    /// page is.
    pub async fn list_routings(
        &self,
        filter: &RoutingFilter,
        marker: Option<i64>,
        limit: u32,
    ) -> Result<RoutingPage> {
        let mut sql = format!("SELECT {ROUTING_COLUMNS} FROM routings WHERE 1 = 1");
        let mut binds: Vec<&str> = Vec::new();
        for (column, value) in [
            ("top_id", filter.top_id.as_deref()),
            ("bottom_id", filter.bottom_id.as_deref()),
            ("pod_id", filter.pod_id.as_deref()),
            ("project_id", filter.project_id.as_deref()),
            (
                "resource_type",
                filter.resource_type.map(ResourceType::as_str),
            ),
        ] {
            if let Some(v) = value {
                binds.push(v);
                sql.push_str(&format!(" AND {column} = ${}", binds.len()));
            }
        }
        if marker.is_some() {
            sql.push_str(&format!(" AND id > ${}", binds.len() + 1));
        }
        sql.push_str(&format!(" ORDER BY id LIMIT {}", u64::from(limit) + 1));
        let mut q = sqlx::query(&sql);
        for b in binds {
            q = q.bind(b);
        }
        if let Some(m) = marker {
            q = q.bind(m);
        }
        let rows = q.fetch_all(&self.pool).await?;
        let mut routings = rows
            .iter()
            .map(Routing::from_row)
            .collect::<Result<Vec<_>>>()?;
        let has_more = routings.len() > limit as usize;
        routings.truncate(limit as usize);
        Ok(RoutingPage { routings, has_more })
    }

    /// The pods where a project has resources of a type: where a list of
    /// that project's resources must look.
    pub async fn pods_with_resources(
        &self,
        project_id: &str,
        resource_type: ResourceType,
    ) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar(
            "SELECT DISTINCT pod_id FROM routings WHERE project_id = $1 AND resource_type = $2",
        )
        .bind(project_id)
        .bind(resource_type.as_str())
        .fetch_all(&self.pool)
        .await?)
    }

    /// `(top_id, pod_id)` of every finished copy of the `top_ids` of one
    /// type (the pods holding each), asked in batches rather than one
    /// query per resource.
    pub async fn copy_pods_of(
        &self,
        top_ids: &[String],
        resource_type: ResourceType,
    ) -> Result<Vec<(String, String)>> {
        /// Ids per query, well below every backend's bind limit.
        const BATCH: usize = 500;
        let mut out = Vec::new();
        for chunk in top_ids.chunks(BATCH) {
            let marks: Vec<String> = (2..chunk.len() + 2).map(|i| format!("${i}")).collect();
            let sql = format!(
                "SELECT top_id, pod_id FROM routings WHERE resource_type = $1 \
                 AND bottom_id IS NOT NULL AND bottom_id <> '' AND top_id IN ({}) \
                 ORDER BY top_id, pod_id",
                marks.join(", ")
            );
            let mut q = sqlx::query(&sql).bind(resource_type.as_str());
            for id in chunk {
                q = q.bind(id);
            }
            for row in q.fetch_all(&self.pool).await? {
                out.push((row.try_get("top_id")?, row.try_get("pod_id")?));
            }
        }
        Ok(out)
    }

    /// Removes the routing of a top resource in a pod, if any.
    pub async fn delete_routing_of(
        &self,
        top_id: &str,
        pod_id: &str,
        resource_type: ResourceType,
    ) -> Result<()> {
        sqlx::query(
            "DELETE FROM routings WHERE top_id = $1 AND pod_id = $2 AND resource_type = $3",
        )
        .bind(top_id)
        .bind(pod_id)
        .bind(resource_type.as_str())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn get_routing(&self, id: i64) -> Result<Routing> {
        let row = sqlx::query(&format!(
            "SELECT {ROUTING_COLUMNS} FROM routings WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        match row {
            Some(r) => Routing::from_row(&r),
            None => Err(StoreError::NotFound(format!(
                "Routing {id} could not be found."
            ))),
        }
    }

    pub async fn update_routing(&self, id: i64, update: &RoutingUpdate) -> Result<Routing> {
        let current = self.get_routing(id).await?;
        if let Some(p) = &update.pod_id {
            if self.find_pod(p).await?.is_none() {
                return Err(StoreError::UnknownPod(p.clone()));
            }
        }
        let next = Routing {
            top_id: update.top_id.clone().unwrap_or(current.top_id.clone()),
            bottom_id: update
                .bottom_id
                .clone()
                .unwrap_or(current.bottom_id.clone()),
            pod_id: update.pod_id.clone().unwrap_or(current.pod_id.clone()),
            project_id: update
                .project_id
                .clone()
                .unwrap_or(current.project_id.clone()),
            resource_type: update.resource_type.unwrap_or(current.resource_type),
            updated_at: now(),
            ..current
        };
        sqlx::query(
            "UPDATE routings SET top_id = $1, bottom_id = $2, pod_id = $3, project_id = $4, \
             resource_type = $5, updated_at = $6 WHERE id = $7",
        )
        .bind(&next.top_id)
        .bind(next.bottom_id.as_deref())
        .bind(&next.pod_id)
        .bind(&next.project_id)
        .bind(next.resource_type.as_str())
        .bind(&next.updated_at)
        .bind(id)
        .execute(&self.pool)
        .await
        .map_err(|e| routing_write_error(e, &next.top_id, &next.pod_id, next.resource_type))?;
        Ok(next)
    }

    pub async fn delete_routing(&self, id: i64) -> Result<()> {
        let n = sqlx::query("DELETE FROM routings WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?
            .rows_affected();
        if n == 0 {
            return Err(StoreError::NotFound(format!(
                "Routing {id} could not be found."
            )));
        }
        Ok(())
    }
}

pub(crate) fn routing_write_error(
    e: sqlx::Error,
    top_id: &str,
    pod_id: &str,
    resource_type: ResourceType,
) -> StoreError {
    if e.as_database_error()
        .is_some_and(|d| d.is_foreign_key_violation())
    {
        return StoreError::UnknownPod(pod_id.to_string());
    }
    StoreError::conflict_on_unique(
        e,
        format!("a routing for {resource_type} {top_id} in pod {pod_id} already exists"),
    )
}

/// The resource type of a routing row; a name no release wrote is corrupt.
pub(crate) fn resource_type_of(row: &sqlx::any::AnyRow) -> Result<ResourceType> {
    let name: String = row.try_get("resource_type")?;
    name.parse()
        .map_err(|e: tricircle_core::routing::UnknownResourceType| {
            StoreError::Corrupt(e.to_string())
        })
}
