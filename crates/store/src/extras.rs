//! Extra specs and project access: the same two side tables for flavors
//! and volume types, named by an [`Extras`] so the SQL is written once.

use std::collections::BTreeMap;

use sqlx::{Any, AnyPool, Transaction};

/// The side tables of one kind of catalogue entry.
pub(crate) struct Extras {
    pub specs: &'static str,
    pub projects: &'static str,
    /// The column that names the entry in both tables.
    pub owner: &'static str,
}

pub(crate) const FLAVOR: Extras = Extras {
    specs: "flavor_extra_specs",
    projects: "flavor_projects",
    owner: "flavorid",
};

pub(crate) const VOLUME_TYPE: Extras = Extras {
    specs: "volume_type_extra_specs",
    projects: "volume_type_projects",
    owner: "type_id",
};

impl Extras {
    /// Adds or replaces `specs` of `owner`.
    pub async fn put_specs(
        &self,
        tx: &mut Transaction<'static, Any>,
        owner: &str,
        specs: &BTreeMap<String, String>,
    ) -> Result<(), sqlx::Error> {
        let (table, col) = (self.specs, self.owner);
        for (k, v) in specs {
            sqlx::query(&format!(
                "DELETE FROM {table} WHERE {col} = $1 AND spec_key = $2"
            ))
            .bind(owner)
            .bind(k)
            .execute(&mut **tx)
            .await?;
            sqlx::query(&format!(
                "INSERT INTO {table} ({col}, spec_key, spec_value) VALUES ($1, $2, $3)"
            ))
            .bind(owner)
            .bind(k)
            .bind(v)
            .execute(&mut **tx)
            .await?;
        }
        Ok(())
    }

    /// Removes one spec; the number of rows removed.
    pub async fn delete_spec(
        &self,
        pool: &AnyPool,
        owner: &str,
        key: &str,
    ) -> Result<u64, sqlx::Error> {
        let (table, col) = (self.specs, self.owner);
        Ok(sqlx::query(&format!(
            "DELETE FROM {table} WHERE {col} = $1 AND spec_key = $2"
        ))
        .bind(owner)
        .bind(key)
        .execute(pool)
        .await?
        .rows_affected())
    }

    pub async fn projects(&self, pool: &AnyPool, owner: &str) -> Result<Vec<String>, sqlx::Error> {
        let (table, col) = (self.projects, self.owner);
        sqlx::query_scalar(&format!(
            "SELECT project_id FROM {table} WHERE {col} = $1 ORDER BY project_id"
        ))
        .bind(owner)
        .fetch_all(pool)
        .await
    }

    pub async fn add_project(
        &self,
        pool: &AnyPool,
        owner: &str,
        project_id: &str,
    ) -> Result<(), sqlx::Error> {
        let (table, col) = (self.projects, self.owner);
        sqlx::query(&format!(
            "INSERT INTO {table} ({col}, project_id) VALUES ($1, $2)"
        ))
        .bind(owner)
        .bind(project_id)
        .execute(pool)
        .await?;
        Ok(())
    }

    /// The number of rows removed.
    pub async fn remove_project(
        &self,
        pool: &AnyPool,
        owner: &str,
        project_id: &str,
    ) -> Result<u64, sqlx::Error> {
        let (table, col) = (self.projects, self.owner);
        Ok(sqlx::query(&format!(
            "DELETE FROM {table} WHERE {col} = $1 AND project_id = $2"
        ))
        .bind(owner)
        .bind(project_id)
        .execute(pool)
        .await?
        .rows_affected())
    }
}
