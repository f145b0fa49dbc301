use std::collections::BTreeMap;

use serde::Serialize;
use sqlx::Row;
use tricircle_core::ids::new_uuid;

use crate::extras::VOLUME_TYPE;
use crate::{now, Result, Store, StoreError};

/// A volume type kept at the top, copied into a pod on first use there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VolumeType {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub is_public: bool,
    pub extra_specs: BTreeMap<String, String>,
    /// Cinder's encryption specs of the type (`None`: not encrypted).
    pub encryption: Option<serde_json::Value>,
    pub created_at: String,
    pub updated_at: String,
}

/// Cinder's default volume type (`default_volume_type`), made by a
/// migration: what a pod gives volumes created without a type.
pub const DEFAULT_VOLUME_TYPE: &str = "__DEFAULT__";

const COLUMNS: &str = "id, name, description, is_public, created_at, updated_at";
/// What a read selects: the columns written at creation, and the
/// encryption specs.
const READ_COLUMNS: &str = "id, name, description, is_public, created_at, updated_at, encryption";

fn from_row(r: &sqlx::any::AnyRow) -> Result<VolumeType> {
    Ok(VolumeType {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        description: r.try_get("description")?,
        is_public: r.try_get::<i64, _>("is_public")? != 0,
        extra_specs: BTreeMap::new(),
        encryption: r
            .try_get::<Option<String>, _>("encryption")?
            .and_then(|s| serde_json::from_str(&s).ok()),
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

fn not_found(id: &str) -> StoreError {
    StoreError::NotFound(format!("Volume type {id} could not be found."))
}

impl Store {
    pub async fn create_volume_type(
        &self,
        name: &str,
        description: Option<&str>,
        is_public: bool,
        extra_specs: &BTreeMap<String, String>,
    ) -> Result<VolumeType> {
        let id = new_uuid();
        let now = now();
        let mut tx = self.begin_write().await?;
        sqlx::query(&format!(
            "INSERT INTO volume_types ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $5)"
        ))
        .bind(&id)
        .bind(name)
        .bind(description)
        .bind(i64::from(is_public))
        .bind(&now)
        .execute(&mut *tx)
        .await
        .map_err(|e| {
            StoreError::conflict_on_unique(e, format!("Volume Type {name} already exists."))
        })?;
        VOLUME_TYPE.put_specs(&mut tx, &id, extra_specs).await?;
        tx.commit().await?;
        self.get_volume_type(&id).await
    }

    /// By id, or by name as Cinder also accepts.
    pub async fn get_volume_type(&self, id_or_name: &str) -> Result<VolumeType> {
        let row = sqlx::query(&format!(
            "SELECT {READ_COLUMNS} FROM volume_types WHERE id = $1 OR name = $1"
        ))
        .bind(id_or_name)
        .fetch_optional(&self.pool)
        .await?;
        let mut t = from_row(&row.ok_or_else(|| not_found(id_or_name))?)?;
        let specs = sqlx::query(
            "SELECT spec_key, spec_value FROM volume_type_extra_specs WHERE type_id = $1",
        )
        .bind(&t.id)
        .fetch_all(&self.pool)
        .await?;
        for s in &specs {
            t.extra_specs
                .insert(s.try_get("spec_key")?, s.try_get("spec_value")?);
        }
        Ok(t)
    }

    /// Types visible to `project` (public ones and those shared with it);
    /// `None`: all. An operator's catalogue: small.
    pub async fn list_volume_types(&self, project: Option<&str>) -> Result<Vec<VolumeType>> {
        let rows = match project {
            None => {
                sqlx::query(&format!(
                    "SELECT {READ_COLUMNS} FROM volume_types ORDER BY name"
                ))
                .fetch_all(&self.pool)
                .await?
            }
            Some(p) => {
                sqlx::query(&format!(
                    "SELECT {READ_COLUMNS} FROM volume_types WHERE is_public = 1 OR id IN \
                 (SELECT type_id FROM volume_type_projects WHERE project_id = $1) ORDER BY name"
                ))
                .bind(p)
                .fetch_all(&self.pool)
                .await?
            }
        };
        let specs =
            sqlx::query("SELECT type_id, spec_key, spec_value FROM volume_type_extra_specs")
                .fetch_all(&self.pool)
                .await?;
        let mut by_type: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        for s in &specs {
            by_type
                .entry(s.try_get("type_id")?)
                .or_default()
                .insert(s.try_get("spec_key")?, s.try_get("spec_value")?);
        }
        rows.iter()
            .map(|r| {
                let mut t = from_row(r)?;
                t.extra_specs = by_type.remove(&t.id).unwrap_or_default();
                Ok(t)
            })
            .collect()
    }

    pub async fn update_volume_type(
        &self,
        id: &str,
        name: Option<&str>,
        description: Option<&str>,
        is_public: Option<bool>,
    ) -> Result<VolumeType> {
        let cur = self.get_volume_type(id).await?;
        sqlx::query("UPDATE volume_types SET name = $1, description = $2, is_public = $3, updated_at = $4 WHERE id = $5")
            .bind(name.unwrap_or(&cur.name))
            .bind(description.or(cur.description.as_deref()))
            .bind(i64::from(is_public.unwrap_or(cur.is_public)))
            .bind(now())
            .bind(&cur.id)
            .execute(&self.pool)
            .await
            .map_err(|e| StoreError::conflict_on_unique(e, format!("Volume Type {} already exists.", name.unwrap_or(""))))?;
        self.get_volume_type(&cur.id).await
    }

    pub async fn delete_volume_type(&self, id: &str) -> Result<()> {
        let cur = self.get_volume_type(id).await?;
        let mut tx = self.begin_write().await?;
        for sql in [
            "DELETE FROM volume_type_extra_specs WHERE type_id = $1",
            "DELETE FROM volume_type_projects WHERE type_id = $1",
            "DELETE FROM volume_types WHERE id = $1",
        ] {
            sqlx::query(sql).bind(&cur.id).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn set_volume_type_extra_specs(
        &self,
        id: &str,
        specs: &BTreeMap<String, String>,
    ) -> Result<()> {
        let cur = self.get_volume_type(id).await?;
        let mut tx = self.begin_write().await?;
        VOLUME_TYPE.put_specs(&mut tx, &cur.id, specs).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn delete_volume_type_extra_spec(&self, id: &str, key: &str) -> Result<()> {
        let n = VOLUME_TYPE.delete_spec(&self.pool, id, key).await?;
        if n == 0 {
            return Err(StoreError::NotFound(format!(
                "Volume Type {id} has no extra specs with key {key}."
            )));
        }
        Ok(())
    }

    /// Sets the type's encryption specs: `create` only if it has none
    /// (else a conflict), otherwise only if it has some (else not found);
    /// `spec` `None` removes them.
    pub async fn set_volume_type_encryption(
        &self,
        id: &str,
        spec: Option<&serde_json::Value>,
        create: bool,
    ) -> Result<()> {
        let guard = if create {
            "encryption IS NULL"
        } else {
            "encryption IS NOT NULL"
        };
        let n = sqlx::query(&format!(
            "UPDATE volume_types SET encryption = $1, updated_at = $2 WHERE id = $3 AND {guard}"
        ))
        .bind(spec.map(serde_json::Value::to_string))
        .bind(now())
        .bind(id)
        .execute(&self.pool)
        .await?
        .rows_affected();
        if n == 1 {
            return Ok(());
        }
        self.get_volume_type(id).await?;
        Err(if create {
            StoreError::Conflict(format!(
                "Volume type encryption for type {id} already exists."
            ))
        } else {
            StoreError::NotFound(format!(
                "Volume type encryption for type {id} does not exist."
            ))
        })
    }

    pub async fn volume_type_projects(&self, id: &str) -> Result<Vec<String>> {
        Ok(VOLUME_TYPE.projects(&self.pool, id).await?)
    }

    pub async fn add_volume_type_project(&self, id: &str, project_id: &str) -> Result<()> {
        VOLUME_TYPE
            .add_project(&self.pool, id, project_id)
            .await
            .map_err(|e| {
                StoreError::conflict_on_unique(
                    e,
                    format!(
                        "Volume type access for {id} / {project_id} combination already exists."
                    ),
                )
            })?;
        Ok(())
    }

    pub async fn remove_volume_type_project(&self, id: &str, project_id: &str) -> Result<()> {
        let n = VOLUME_TYPE
            .remove_project(&self.pool, id, project_id)
            .await?;
        if n == 0 {
            return Err(StoreError::NotFound(format!(
                "Volume type access not found for {id} / {project_id} combination."
            )));
        }
        Ok(())
    }
}
