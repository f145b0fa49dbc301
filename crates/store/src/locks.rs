//! The routing row as a creation lock (BEHAVIOUR §6.2), tombstones, and the
//! ports of servers.
//!
//! Creating a bottom copy of a top resource starts by inserting its routing
//! with an empty `bottom_id`: the unique `(top_id, pod_id, resource_type)`
//! key makes exactly one inserter the owner, across every instance sharing
//! the database. The owner creates the bottom resource and fills the id;
//! the others see the row and wait. An owner that died leaves a row that
//! stays empty; after a deadline another caller takes it over
//! ([`Store::take_over_routing_lock`]) and recovers by looking the bottom
//! resource up by name.

use sqlx::{Any, AnyConnection, Row, Transaction};

use crate::{now, Result, Store};
use tricircle_core::ResourceType;

/// What [`Store::lock_routing`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoutingLock {
    /// The bottom resource exists.
    Done { routing_id: i64, bottom_id: String },
    /// The caller inserted the row and must create the bottom resource,
    /// then [`Store::fill_routing_lock`] (or [`Store::release_routing_lock`]
    /// on failure).
    Owner { routing_id: i64 },
    /// Another caller is creating it; `since` is when it last touched the row.
    Busy { routing_id: i64, since: String },
    /// The top resource is being deleted: no bottom copy may be created.
    Tombstoned,
}

/// A top port attached to a server by a boot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerPort {
    pub server_id: String,
    pub port_id: String,
    pub project_id: String,
    pub created_by_boot: bool,
}

/// Records a tombstone for `top_id` inside `tx` (idempotent).
pub async fn tombstone_in(
    tx: &mut Transaction<'_, Any>,
    top_id: &str,
    resource_type: ResourceType,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO tombstones (top_id, resource_type, created_at) VALUES ($1, $2, $3) \
         ON CONFLICT (top_id, resource_type) DO NOTHING",
    )
    .bind(top_id)
    .bind(resource_type.as_str())
    .bind(now())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

impl Store {
    /// Takes the creation lock of `top_id`'s copy in `pod_id`, or reports
    /// who holds it or that the copy exists.
    pub async fn lock_routing(
        &self,
        top_id: &str,
        pod_id: &str,
        project_id: &str,
        resource_type: ResourceType,
    ) -> Result<RoutingLock> {
        let mut tx = self.begin_write().await?;
        let dead: Option<String> = sqlx::query_scalar(
            "SELECT top_id FROM tombstones WHERE top_id = $1 AND resource_type = $2",
        )
        .bind(top_id)
        .bind(resource_type.as_str())
        .fetch_optional(&mut *tx)
        .await?;
        if dead.is_some() {
            return Ok(RoutingLock::Tombstoned);
        }
        let now = now();
        let inserted: Option<i64> = sqlx::query_scalar(
            "INSERT INTO routings (top_id, bottom_id, pod_id, project_id, resource_type, created_at, updated_at) \
             VALUES ($1, '', $2, $3, $4, $5, $5) \
             ON CONFLICT (top_id, pod_id, resource_type) DO NOTHING RETURNING id",
        )
        .bind(top_id)
        .bind(pod_id)
        .bind(project_id)
        .bind(resource_type.as_str())
        .bind(&now)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(routing_id) = inserted {
            tx.commit().await?;
            return Ok(RoutingLock::Owner { routing_id });
        }
        let row = sqlx::query(
            "SELECT id, bottom_id, updated_at FROM routings \
             WHERE top_id = $1 AND pod_id = $2 AND resource_type = $3",
        )
        .bind(top_id)
        .bind(pod_id)
        .bind(resource_type.as_str())
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        let routing_id: i64 = row.try_get("id")?;
        let bottom: Option<String> = row.try_get("bottom_id")?;
        Ok(match bottom.filter(|b| !b.is_empty()) {
            Some(bottom_id) => RoutingLock::Done {
                routing_id,
                bottom_id,
            },
            None => RoutingLock::Busy {
                routing_id,
                since: row.try_get("updated_at")?,
            },
        })
    }

    /// Takes over a lock whose owner stopped touching it at `since`: true
    /// when this caller is now the owner (exactly one caller wins).
    pub async fn take_over_routing_lock(&self, routing_id: i64, since: &str) -> Result<bool> {
        let n = sqlx::query(
            "UPDATE routings SET updated_at = $1 \
             WHERE id = $2 AND updated_at = $3 AND (bottom_id IS NULL OR bottom_id = '')",
        )
        // Finer than `now()`, so that a second take-over with the same
        // stamp (even within the same second) loses.
        .bind(
            chrono::Utc::now()
                .format("%Y-%m-%dT%H:%M:%S%.6fZ")
                .to_string(),
        )
        .bind(routing_id)
        .bind(since)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(n == 1)
    }

    /// The owner's bottom resource exists: records its id.
    pub async fn fill_routing_lock(&self, routing_id: i64, bottom_id: &str) -> Result<()> {
        sqlx::query("UPDATE routings SET bottom_id = $1, updated_at = $2 WHERE id = $3")
            .bind(bottom_id)
            .bind(now())
            .bind(routing_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The owner failed before creating anything: frees the lock.
    pub async fn release_routing_lock(&self, routing_id: i64) -> Result<()> {
        sqlx::query("DELETE FROM routings WHERE id = $1 AND (bottom_id IS NULL OR bottom_id = '')")
            .bind(routing_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Whether a deletion of `top_id` is under way or done.
    pub async fn is_tombstoned(&self, top_id: &str, resource_type: ResourceType) -> Result<bool> {
        let found: Option<String> = sqlx::query_scalar(
            "SELECT top_id FROM tombstones WHERE top_id = $1 AND resource_type = $2",
        )
        .bind(top_id)
        .bind(resource_type.as_str())
        .fetch_optional(&self.pool)
        .await?;
        Ok(found.is_some())
    }

    /// Records a tombstone outside any other change.
    pub async fn add_tombstone(&self, top_id: &str, resource_type: ResourceType) -> Result<()> {
        let mut tx = self.begin_write().await?;
        tombstone_in(&mut tx, top_id, resource_type).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The deletion finished and every copy is gone: the tombstone may go.
    pub async fn clear_tombstone(&self, top_id: &str, resource_type: ResourceType) -> Result<()> {
        sqlx::query("DELETE FROM tombstones WHERE top_id = $1 AND resource_type = $2")
            .bind(top_id)
            .bind(resource_type.as_str())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Tombstones older than `age` whose resource no job still works on:
    /// its deletion is long over, its id will never come back (top ids are
    /// UUIDs), and no request that saw it alive is still running. Returns
    /// how many went.
    pub async fn sweep_tombstones(&self, age: std::time::Duration) -> Result<u64> {
        let cutoff = chrono::Duration::from_std(age)
            .ok()
            .and_then(|age| chrono::Utc::now().checked_sub_signed(age))
            .unwrap_or(chrono::DateTime::<chrono::Utc>::MIN_UTC);
        let cutoff = cutoff.format("%Y-%m-%dT%H:%M:%SZ").to_string();
        Ok(sqlx::query(
            "DELETE FROM tombstones WHERE created_at < $1 AND NOT EXISTS \
             (SELECT 1 FROM jobs j WHERE j.resource_id = tombstones.top_id)",
        )
        .bind(cutoff)
        .execute(&self.pool)
        .await?
        .rows_affected())
    }

    /// Records the top ports of a new server.
    pub async fn add_server_ports(&self, ports: &[ServerPort]) -> Result<()> {
        let mut tx = self.begin_write().await?;
        add_server_ports_in(&mut tx, ports).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The top ports of a server.
    pub async fn server_ports(&self, server_id: &str) -> Result<Vec<ServerPort>> {
        let mut conn = self.pool.acquire().await?;
        server_ports_in(&mut conn, server_id).await
    }

    /// Forgets one server port (the port was deleted or detached).
    pub async fn remove_server_port(&self, server_id: &str, port_id: &str) -> Result<()> {
        let mut conn = self.pool.acquire().await?;
        remove_server_port_in(&mut conn, server_id, port_id).await
    }
}

/// Records server ports on `conn` (a transaction's, for callers that
/// change the ports in the same one); a row already there stays.
pub(crate) async fn add_server_ports_in(
    conn: &mut AnyConnection,
    ports: &[ServerPort],
) -> Result<()> {
    let now = now();
    for p in ports {
        sqlx::query(
            "INSERT INTO server_ports (server_id, port_id, project_id, created_by_boot, created_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (server_id, port_id) DO NOTHING",
        )
        .bind(&p.server_id)
        .bind(&p.port_id)
        .bind(&p.project_id)
        .bind(i64::from(p.created_by_boot))
        .bind(&now)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// The top ports of a server, oldest first.
pub(crate) async fn server_ports_in(
    conn: &mut AnyConnection,
    server_id: &str,
) -> Result<Vec<ServerPort>> {
    let rows = sqlx::query(
        "SELECT server_id, port_id, project_id, created_by_boot FROM server_ports \
         WHERE server_id = $1 ORDER BY created_at, port_id",
    )
    .bind(server_id)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(ServerPort {
                server_id: r.try_get("server_id")?,
                port_id: r.try_get("port_id")?,
                project_id: r.try_get("project_id")?,
                created_by_boot: r.try_get::<i64, _>("created_by_boot")? != 0,
            })
        })
        .collect()
}

pub(crate) async fn remove_server_port_in(
    conn: &mut AnyConnection,
    server_id: &str,
    port_id: &str,
) -> Result<()> {
    sqlx::query("DELETE FROM server_ports WHERE server_id = $1 AND port_id = $2")
        .bind(server_id)
        .bind(port_id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}
