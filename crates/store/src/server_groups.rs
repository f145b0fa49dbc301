//! Server groups kept at the top, and their members.

use serde::Serialize;
use sqlx::Row;

use crate::{Result, Store, StoreError};

/// A server group, as Nova keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServerGroup {
    pub id: String,
    pub project_id: String,
    pub user_id: String,
    pub name: String,
    pub policy: String,
    /// A JSON object (2.64's `rules`).
    pub rules: String,
    pub created_at: String,
}

/// A live member of a group: a server whose routing still exists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupMember {
    pub server_id: String,
    pub pod_id: String,
}

const COLUMNS: &str = "id, project_id, user_id, name, policy, rules, created_at";

fn from_row(r: &sqlx::any::AnyRow) -> Result<ServerGroup> {
    Ok(ServerGroup {
        id: r.try_get("id")?,
        project_id: r.try_get("project_id")?,
        user_id: r.try_get("user_id")?,
        name: r.try_get("name")?,
        policy: r.try_get("policy")?,
        rules: r.try_get("rules")?,
        created_at: r.try_get("created_at")?,
    })
}

impl Store {
    /// Creates `g` unless its project already has `limit` groups (a
    /// negative limit: unlimited); `Ok(false)`: over quota.
    pub async fn create_server_group(&self, g: &ServerGroup, limit: i64) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let used: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM server_groups WHERE project_id = $1")
                .bind(&g.project_id)
                .fetch_one(&mut *tx)
                .await?;
        if limit >= 0 && used + 1 > limit {
            return Ok(false);
        }
        sqlx::query(&format!(
            "INSERT INTO server_groups ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"
        ))
        .bind(&g.id)
        .bind(&g.project_id)
        .bind(&g.user_id)
        .bind(&g.name)
        .bind(&g.policy)
        .bind(&g.rules)
        .bind(&g.created_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    pub async fn get_server_group(&self, id: &str) -> Result<ServerGroup> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM server_groups WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        match row {
            Some(r) => from_row(&r),
            None => Err(StoreError::NotFound(format!(
                "Instance group {id} could not be found."
            ))),
        }
    }

    /// The groups of `project` (every group for `None`), oldest first.
    pub async fn list_server_groups(&self, project: Option<&str>) -> Result<Vec<ServerGroup>> {
        let rows = match project {
            Some(p) => {
                sqlx::query(&format!(
                "SELECT {COLUMNS} FROM server_groups WHERE project_id = $1 ORDER BY created_at, id"
            ))
                .bind(p)
                .fetch_all(&self.pool)
                .await?
            }
            None => {
                sqlx::query(&format!(
                    "SELECT {COLUMNS} FROM server_groups ORDER BY created_at, id"
                ))
                .fetch_all(&self.pool)
                .await?
            }
        };
        rows.iter().map(from_row).collect()
    }

    /// Deletes the group and its member rows; false if it was not there.
    pub async fn delete_server_group(&self, id: &str) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM server_group_members WHERE group_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let n = sqlx::query("DELETE FROM server_groups WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok(n == 1)
    }

    /// The group's members whose server still exists (has its routing),
    /// in the order they joined.
    pub async fn server_group_members(&self, group_id: &str) -> Result<Vec<GroupMember>> {
        let rows = sqlx::query(
            "SELECT m.server_id, m.pod_id FROM server_group_members m WHERE m.group_id = $1 \
             AND EXISTS (SELECT 1 FROM routings r WHERE r.top_id = m.server_id \
                         AND r.resource_type = 'server') \
             ORDER BY m.created_at, m.server_id",
        )
        .bind(group_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(GroupMember {
                    server_id: r.try_get("server_id")?,
                    pod_id: r.try_get("pod_id")?,
                })
            })
            .collect()
    }

    /// Records servers booted into the group in `pod_id`.
    pub async fn add_server_group_members(
        &self,
        group_id: &str,
        pod_id: &str,
        server_ids: &[String],
    ) -> Result<()> {
        // Finer than `now()`: members list in the order they joined.
        let now = chrono::Utc::now()
            .format("%Y-%m-%dT%H:%M:%S%.6fZ")
            .to_string();
        let mut tx = self.begin_write().await?;
        for s in server_ids {
            sqlx::query(
                "INSERT INTO server_group_members (group_id, server_id, pod_id, created_at) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
            )
            .bind(group_id)
            .bind(s)
            .bind(pod_id)
            .bind(&now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}
