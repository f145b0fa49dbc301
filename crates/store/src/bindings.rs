use serde::Serialize;
use sqlx::Row;
use tricircle_core::ids::new_uuid;

use crate::{now, Result, Store, StoreError};

/// A tenant → pod binding: the pod a project uses inside an AZ.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Binding {
    pub id: String,
    pub tenant_id: String,
    pub pod_id: String,
    pub is_binding: bool,
    pub created_at: String,
    pub updated_at: String,
}

impl Binding {
    fn from_row(row: &sqlx::any::AnyRow) -> Result<Binding> {
        Ok(Binding {
            id: row.try_get("id")?,
            tenant_id: row.try_get("tenant_id")?,
            pod_id: row.try_get("pod_id")?,
            is_binding: row.try_get::<i64, _>("is_binding")? != 0,
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
        })
    }
}

#[derive(Debug, Clone)]
pub struct NewBinding {
    pub tenant_id: String,
    pub pod_id: String,
    pub is_binding: bool,
}

#[derive(Debug, Clone, Default)]
pub struct BindingFilter {
    pub tenant_id: Option<String>,
    pub pod_id: Option<String>,
    pub is_binding: Option<bool>,
}

#[derive(Debug, Clone, Default)]
pub struct BindingUpdate {
    pub pod_id: Option<String>,
    pub is_binding: Option<bool>,
}

const BINDING_COLUMNS: &str = "id, tenant_id, pod_id, is_binding, created_at, updated_at";

impl Store {
    /// Checks that `pod_id` names a bottom pod: bindings and the scheduler
    /// never point at the top pod.
    async fn require_bottom_pod(&self, pod_id: &str) -> Result<()> {
        match self.find_pod(pod_id).await? {
            None => Err(StoreError::UnknownPod(pod_id.to_string())),
            Some(p) if p.is_top() => Err(StoreError::TopPod(pod_id.to_string())),
            Some(_) => Ok(()),
        }
    }

    pub async fn create_binding(&self, new: &NewBinding) -> Result<Binding> {
        self.require_bottom_pod(&new.pod_id).await?;
        let now = now();
        let binding = Binding {
            id: new_uuid(),
            tenant_id: new.tenant_id.clone(),
            pod_id: new.pod_id.clone(),
            is_binding: new.is_binding,
            created_at: now.clone(),
            updated_at: now,
        };
        sqlx::query(
            "INSERT INTO pod_bindings (id, tenant_id, pod_id, is_binding, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $5)",
        )
        .bind(&binding.id)
        .bind(&binding.tenant_id)
        .bind(&binding.pod_id)
        .bind(i64::from(binding.is_binding))
        .bind(&binding.created_at)
        .execute(&self.pool)
        .await
        .map_err(|e| {
            if e.as_database_error()
                .is_some_and(|d| d.is_foreign_key_violation())
            {
                // The pod was deleted between the check and the insert.
                StoreError::UnknownPod(new.pod_id.clone())
            } else {
                StoreError::conflict_on_unique(
                    e,
                    format!(
                        "a binding of tenant {} to pod {} already exists",
                        new.tenant_id, new.pod_id
                    ),
                )
            }
        })?;
        Ok(binding)
    }

    pub async fn list_bindings(&self, filter: &BindingFilter) -> Result<Vec<Binding>> {
        let mut sql = format!("SELECT {BINDING_COLUMNS} FROM pod_bindings WHERE 1 = 1");
        let mut n = 0;
        let mut next = || {
            n += 1;
            n
        };
        if filter.tenant_id.is_some() {
            sql.push_str(&format!(" AND tenant_id = ${}", next()));
        }
        if filter.pod_id.is_some() {
            sql.push_str(&format!(" AND pod_id = ${}", next()));
        }
        if filter.is_binding.is_some() {
            sql.push_str(&format!(" AND is_binding = ${}", next()));
        }
        sql.push_str(" ORDER BY created_at, id");
        let mut q = sqlx::query(&sql);
        if let Some(t) = &filter.tenant_id {
            q = q.bind(t);
        }
        if let Some(p) = &filter.pod_id {
            q = q.bind(p);
        }
        if let Some(b) = filter.is_binding {
            q = q.bind(i64::from(b));
        }
        let rows = q.fetch_all(&self.pool).await?;
        rows.iter().map(Binding::from_row).collect()
    }

    pub async fn get_binding(&self, id: &str) -> Result<Binding> {
        let row = sqlx::query(&format!(
            "SELECT {BINDING_COLUMNS} FROM pod_bindings WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        match row {
            Some(r) => Binding::from_row(&r),
            None => Err(StoreError::NotFound(format!(
                "Pod binding {id} could not be found."
            ))),
        }
    }

    pub async fn update_binding(&self, id: &str, update: &BindingUpdate) -> Result<Binding> {
        let current = self.get_binding(id).await?;
        if let Some(p) = &update.pod_id {
            self.require_bottom_pod(p).await?;
        }
        let pod_id = update.pod_id.clone().unwrap_or(current.pod_id.clone());
        let is_binding = update.is_binding.unwrap_or(current.is_binding);
        let now = now();
        sqlx::query(
            "UPDATE pod_bindings SET pod_id = $1, is_binding = $2, updated_at = $3 WHERE id = $4",
        )
        .bind(&pod_id)
        .bind(i64::from(is_binding))
        .bind(&now)
        .bind(id)
        .execute(&self.pool)
        .await
        .map_err(|e| {
            StoreError::conflict_on_unique(
                e,
                format!(
                    "a binding of tenant {} to pod {pod_id} already exists",
                    current.tenant_id
                ),
            )
        })?;
        Ok(Binding {
            pod_id,
            is_binding,
            updated_at: now,
            ..current
        })
    }

    pub async fn delete_binding(&self, id: &str) -> Result<()> {
        let n = sqlx::query("DELETE FROM pod_bindings WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?
            .rows_affected();
        if n == 0 {
            return Err(StoreError::NotFound(format!(
                "Pod binding {id} could not be found."
            )));
        }
        Ok(())
    }
}
