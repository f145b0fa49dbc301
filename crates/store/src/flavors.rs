use std::collections::BTreeMap;

use serde::Serialize;
use sqlx::Row;

use crate::extras::FLAVOR;
use crate::{now, Result, Store, StoreError};

/// A flavor kept at the top (Nova's fields).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Flavor {
    pub flavorid: String,
    pub name: String,
    pub vcpus: i64,
    pub ram_mb: i64,
    pub root_gb: i64,
    pub ephemeral_gb: i64,
    pub swap_mb: i64,
    pub rxtx_factor: f64,
    pub is_public: bool,
    pub disabled: bool,
    pub description: Option<String>,
    pub extra_specs: BTreeMap<String, String>,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Debug, Clone)]
pub struct NewFlavor {
    pub flavorid: String,
    pub name: String,
    pub vcpus: i64,
    pub ram_mb: i64,
    pub root_gb: i64,
    pub ephemeral_gb: i64,
    pub swap_mb: i64,
    pub rxtx_factor: f64,
    pub is_public: bool,
    pub description: Option<String>,
}

const FLAVOR_COLUMNS: &str =
    "flavorid, name, vcpus, ram_mb, root_gb, ephemeral_gb, swap_mb, rxtx_factor, \
     is_public, disabled, description, created_at, updated_at";

fn flavor_from_row(r: &sqlx::any::AnyRow) -> Result<Flavor> {
    Ok(Flavor {
        flavorid: r.try_get("flavorid")?,
        name: r.try_get("name")?,
        vcpus: r.try_get("vcpus")?,
        ram_mb: r.try_get("ram_mb")?,
        root_gb: r.try_get("root_gb")?,
        ephemeral_gb: r.try_get("ephemeral_gb")?,
        swap_mb: r.try_get("swap_mb")?,
        rxtx_factor: r.try_get("rxtx_factor")?,
        is_public: r.try_get::<i64, _>("is_public")? != 0,
        disabled: r.try_get::<i64, _>("disabled")? != 0,
        description: r.try_get("description")?,
        extra_specs: BTreeMap::new(),
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

fn not_found(id: &str) -> StoreError {
    StoreError::NotFound(format!("Flavor {id} could not be found."))
}

impl Store {
    pub async fn create_flavor(&self, f: &NewFlavor) -> Result<Flavor> {
        let now = now();
        let mut tx = self.begin_write().await?;
        let taken: Option<String> =
            sqlx::query_scalar("SELECT flavorid FROM flavors WHERE flavorid = $1 OR name = $2")
                .bind(&f.flavorid)
                .bind(&f.name)
                .fetch_optional(&mut *tx)
                .await?;
        if let Some(id) = taken {
            return Err(StoreError::Conflict(if id == f.flavorid {
                format!("Flavor with ID {} already exists.", f.flavorid)
            } else {
                format!("Flavor with name {} already exists.", f.name)
            }));
        }
        sqlx::query(
            "INSERT INTO flavors (flavorid, name, vcpus, ram_mb, root_gb, ephemeral_gb, swap_mb, rxtx_factor, \
             is_public, disabled, description, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 0, $10, $11, $11)",
        )
        .bind(&f.flavorid)
        .bind(&f.name)
        .bind(f.vcpus)
        .bind(f.ram_mb)
        .bind(f.root_gb)
        .bind(f.ephemeral_gb)
        .bind(f.swap_mb)
        .bind(f.rxtx_factor)
        .bind(i64::from(f.is_public))
        .bind(f.description.as_deref())
        .bind(&now)
        .execute(&mut *tx)
        .await
        .map_err(|e| StoreError::conflict_on_unique(e, format!("Flavor with name {} already exists.", f.name)))?;
        tx.commit().await?;
        self.get_flavor(&f.flavorid).await
    }

    pub async fn get_flavor(&self, flavorid: &str) -> Result<Flavor> {
        let row = sqlx::query(&format!(
            "SELECT {FLAVOR_COLUMNS} FROM flavors WHERE flavorid = $1"
        ))
        .bind(flavorid)
        .fetch_optional(&self.pool)
        .await?;
        let mut f = flavor_from_row(&row.ok_or_else(|| not_found(flavorid))?)?;
        f.extra_specs = self.flavor_extra_specs(flavorid).await?;
        Ok(f)
    }

    /// Flavors visible to `project` (public ones and those shared with it);
    /// `None` means all (admins). Flavors are an operator's catalogue (tens,
    /// not millions), so callers sort and page this list in memory.
    pub async fn list_flavors(&self, project: Option<&str>) -> Result<Vec<Flavor>> {
        let rows = match project {
            None => {
                sqlx::query(&format!(
                    "SELECT {FLAVOR_COLUMNS} FROM flavors ORDER BY flavorid"
                ))
                .fetch_all(&self.pool)
                .await?
            }
            Some(p) => {
                sqlx::query(&format!(
                    "SELECT {FLAVOR_COLUMNS} FROM flavors WHERE is_public = 1 OR flavorid IN \
                     (SELECT flavorid FROM flavor_projects WHERE project_id = $1) ORDER BY flavorid"
                ))
                .bind(p)
                .fetch_all(&self.pool)
                .await?
            }
        };
        let specs = sqlx::query("SELECT flavorid, spec_key, spec_value FROM flavor_extra_specs")
            .fetch_all(&self.pool)
            .await?;
        let mut by_flavor: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        for s in &specs {
            by_flavor
                .entry(s.try_get("flavorid")?)
                .or_default()
                .insert(s.try_get("spec_key")?, s.try_get("spec_value")?);
        }
        rows.iter()
            .map(|r| {
                let mut f = flavor_from_row(r)?;
                f.extra_specs = by_flavor.remove(&f.flavorid).unwrap_or_default();
                Ok(f)
            })
            .collect()
    }

    pub async fn update_flavor_description(
        &self,
        flavorid: &str,
        description: Option<&str>,
    ) -> Result<Flavor> {
        let n =
            sqlx::query("UPDATE flavors SET description = $1, updated_at = $2 WHERE flavorid = $3")
                .bind(description)
                .bind(now())
                .bind(flavorid)
                .execute(&self.pool)
                .await?
                .rows_affected();
        if n == 0 {
            return Err(not_found(flavorid));
        }
        self.get_flavor(flavorid).await
    }

    pub async fn delete_flavor(&self, flavorid: &str) -> Result<()> {
        let mut tx = self.begin_write().await?;
        for sql in [
            "DELETE FROM flavor_extra_specs WHERE flavorid = $1",
            "DELETE FROM flavor_projects WHERE flavorid = $1",
        ] {
            sqlx::query(sql).bind(flavorid).execute(&mut *tx).await?;
        }
        let n = sqlx::query("DELETE FROM flavors WHERE flavorid = $1")
            .bind(flavorid)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if n == 0 {
            return Err(not_found(flavorid));
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn flavor_extra_specs(&self, flavorid: &str) -> Result<BTreeMap<String, String>> {
        let rows =
            sqlx::query("SELECT spec_key, spec_value FROM flavor_extra_specs WHERE flavorid = $1")
                .bind(flavorid)
                .fetch_all(&self.pool)
                .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("spec_key")?, r.try_get("spec_value")?)))
            .collect()
    }

    /// Adds or replaces the given extra specs.
    pub async fn set_flavor_extra_specs(
        &self,
        flavorid: &str,
        specs: &BTreeMap<String, String>,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let exists: Option<String> =
            sqlx::query_scalar("SELECT flavorid FROM flavors WHERE flavorid = $1")
                .bind(flavorid)
                .fetch_optional(&mut *tx)
                .await?;
        if exists.is_none() {
            return Err(not_found(flavorid));
        }
        FLAVOR.put_specs(&mut tx, flavorid, specs).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn delete_flavor_extra_spec(&self, flavorid: &str, key: &str) -> Result<()> {
        let n = FLAVOR.delete_spec(&self.pool, flavorid, key).await?;
        if n == 0 {
            return Err(StoreError::NotFound(format!(
                "Flavor {flavorid} has no extra specs with key {key}."
            )));
        }
        Ok(())
    }

    pub async fn flavor_projects(&self, flavorid: &str) -> Result<Vec<String>> {
        Ok(FLAVOR.projects(&self.pool, flavorid).await?)
    }

    pub async fn add_flavor_project(&self, flavorid: &str, project_id: &str) -> Result<()> {
        FLAVOR
            .add_project(&self.pool, flavorid, project_id)
            .await
            .map_err(|e| {
                if e.as_database_error().is_some_and(|d| d.is_foreign_key_violation()) {
                    not_found(flavorid)
                } else {
                    StoreError::conflict_on_unique(
                        e,
                        format!("Flavor access already exists for flavor {flavorid} and project {project_id} combination."),
                    )
                }
            })?;
        Ok(())
    }

    pub async fn remove_flavor_project(&self, flavorid: &str, project_id: &str) -> Result<()> {
        let n = FLAVOR
            .remove_project(&self.pool, flavorid, project_id)
            .await?;
        if n == 0 {
            return Err(StoreError::NotFound(format!(
                "Flavor access not found for {flavorid} / {project_id} combination."
            )));
        }
        Ok(())
    }
}
