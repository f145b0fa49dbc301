use serde::Serialize;
use sqlx::Row;

use crate::{Result, Store, StoreError};

/// A user's keypair, as Nova keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Keypair {
    pub user_id: String,
    pub name: String,
    pub key_type: String,
    pub public_key: String,
    pub fingerprint: String,
    pub created_at: String,
}

fn from_row(r: &sqlx::any::AnyRow) -> Result<Keypair> {
    Ok(Keypair {
        user_id: r.try_get("user_id")?,
        name: r.try_get("name")?,
        key_type: r.try_get("key_type")?,
        public_key: r.try_get("public_key")?,
        fingerprint: r.try_get("fingerprint")?,
        created_at: r.try_get("created_at")?,
    })
}

const COLUMNS: &str = "user_id, name, key_type, public_key, fingerprint, created_at";

impl Store {
    pub async fn create_keypair(&self, k: &Keypair) -> Result<()> {
        sqlx::query(&format!(
            "INSERT INTO keypairs ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)"
        ))
        .bind(&k.user_id)
        .bind(&k.name)
        .bind(&k.key_type)
        .bind(&k.public_key)
        .bind(&k.fingerprint)
        .bind(&k.created_at)
        .execute(&self.pool)
        .await
        .map_err(|e| {
            StoreError::conflict_on_unique(e, format!("Key pair '{}' already exists.", k.name))
        })?;
        Ok(())
    }

    pub async fn get_keypair(&self, user_id: &str, name: &str) -> Result<Keypair> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM keypairs WHERE user_id = $1 AND name = $2"
        ))
        .bind(user_id)
        .bind(name)
        .fetch_optional(&self.pool)
        .await?;
        match row {
            Some(r) => from_row(&r),
            None => Err(StoreError::NotFound(format!(
                "Keypair {name} not found for user {user_id}"
            ))),
        }
    }

    /// A user's keypairs in name order, after `marker` (a name), at most `limit`.
    pub async fn list_keypairs(
        &self,
        user_id: &str,
        marker: Option<&str>,
        limit: Option<u32>,
    ) -> Result<Vec<Keypair>> {
        let limit = limit.map(|l| format!(" LIMIT {l}")).unwrap_or_default();
        let rows = match marker {
            Some(m) => {
                sqlx::query(&format!(
                    "SELECT {COLUMNS} FROM keypairs WHERE user_id = $1 AND name > $2 ORDER BY name{limit}"
                ))
                .bind(user_id)
                .bind(m)
                .fetch_all(&self.pool)
                .await?
            }
            None => {
                sqlx::query(&format!("SELECT {COLUMNS} FROM keypairs WHERE user_id = $1 ORDER BY name{limit}"))
                    .bind(user_id)
                    .fetch_all(&self.pool)
                    .await?
            }
        };
        rows.iter().map(from_row).collect()
    }

    pub async fn delete_keypair(&self, user_id: &str, name: &str) -> Result<()> {
        let n = sqlx::query("DELETE FROM keypairs WHERE user_id = $1 AND name = $2")
            .bind(user_id)
            .bind(name)
            .execute(&self.pool)
            .await?
            .rows_affected();
        if n == 0 {
            return Err(StoreError::NotFound(format!(
                "Keypair {name} not found for user {user_id}"
            )));
        }
        Ok(())
    }
}
