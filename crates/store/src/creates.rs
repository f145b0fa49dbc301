//! The life of a create in a pod as the top records it, so that a gateway
//! that dies at any point leaves nothing counted that does not exist and
//! nothing in a pod that the top does not know or will not clean up.
//!
//! 1. [`Store::reserve`]: quota, as reservations that expire.
//! 2. [`Store::expect_create`], just before the pod is asked: the check job
//!    that settles the create if its outcome never gets recorded (the
//!    answer was lost, or the gateway died), and the reservations' expiry
//!    pushed forward.
//! 3. Then one of:
//!    - [`Store::record_created`]: the pod made it — routing, allocation
//!      completed, check job cancelled, in one transaction;
//!    - [`Store::abandon_create`]: the pod refused — reservations given
//!      back, check job cancelled;
//!    - [`Store::release_reservations`]: the outcome is unknown — the
//!      reservations are given back and the check job stays to settle it.
//!
//! A resource that goes is forgotten with [`Store::forget_resource`]
//! (routing and allocation together; `NeutronTx::forget_resource` does the
//! same inside a top Neutron change, for a server whose ports go with it). [`Store::reconcile_allocations`]
//! drops expired reservations and allocations whose resource has no routing
//! any more; `serve` runs it at start and periodically.

use std::time::Duration;

use crate::jobs::{enqueue_at, stamp_after};
use crate::quotas::Usage;
use crate::routings::{routing_write_error, ROUTING_COLUMNS};
use crate::{now, NewJob, NewRouting, Result, Routing, Store, StoreError};
use tricircle_core::ResourceType;

/// What [`Store::reconcile_allocations`] removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Reconciled {
    /// Reservations past their expiry.
    pub expired_reservations: u64,
    /// Allocations of resources that have no routing any more.
    pub orphaned_allocations: u64,
}

/// Resource types whose allocations stand for a routed resource.
const ROUTED_ALLOCATIONS: &[&str] = &["server", "volume", "snapshot", "backup"];

fn id_list(ids: &[i64]) -> String {
    ids.iter()
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

impl Store {
    /// Records `job` (a create check, not to run before `delay`) and gives
    /// `reservations` another `ttl`, in one transaction. Returns the job id.
    pub async fn expect_create(
        &self,
        job: &NewJob,
        delay: Duration,
        reservations: &[i64],
        ttl: Duration,
    ) -> Result<String> {
        let mut tx = self.begin_write().await?;
        let id = enqueue_at(&mut tx, job, &self.stamp_after(delay), &self.jobs_now()).await?;
        if !reservations.is_empty() {
            // Ids are integers we made: safe to inline.
            sqlx::query(&format!(
                "UPDATE allocations SET expires_at = $1 WHERE top_id IS NULL AND id IN ({})",
                id_list(reservations)
            ))
            .bind(stamp_after(ttl))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(id)
    }

    /// Replaces the payload of a job that has not started (what a create
    /// made before asking the pod, for its check to clean up).
    pub async fn update_pending_job(&self, id: &str, resource: &serde_json::Value) -> Result<()> {
        let n = sqlx::query(
            "UPDATE jobs SET resource = $1, updated_at = $2 WHERE id = $3 AND status = 'NEW'",
        )
        .bind(resource.to_string())
        .bind(now())
        .bind(id)
        .execute(&self.pool)
        .await?
        .rows_affected();
        if n == 0 {
            return Err(StoreError::Conflict(format!(
                "Job {id} is no longer pending"
            )));
        }
        Ok(())
    }

    /// Records what a pod made: its routing, its allocation (the
    /// reservation completed with the final `usage`, or a new row if the
    /// reservation had expired and been swept meanwhile) and the
    /// cancellation of its check job — all or nothing.
    pub async fn record_created(
        &self,
        routing: &NewRouting,
        allocation: Option<(i64, Usage)>,
        check_job: Option<&str>,
    ) -> Result<Routing> {
        let mut tx = self.begin_write().await?;
        let now = now();
        let row = sqlx::query(&format!(
            "INSERT INTO routings (top_id, bottom_id, pod_id, project_id, resource_type, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING {ROUTING_COLUMNS}"
        ))
        .bind(&routing.top_id)
        .bind(routing.bottom_id.as_deref())
        .bind(&routing.pod_id)
        .bind(&routing.project_id)
        .bind(routing.resource_type.as_str())
        .bind(&now)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| {
            routing_write_error(e, &routing.top_id, &routing.pod_id, routing.resource_type)
        })?;
        let created = Routing::from_row(&row)?;
        if let Some((reservation, u)) = allocation {
            let conflict = |e| {
                StoreError::conflict_on_unique(
                    e,
                    format!("{} is already allocated", routing.top_id),
                )
            };
            let n = sqlx::query(
                "UPDATE allocations SET top_id = $1, expires_at = NULL, instances = $2, cores = $3, ram_mb = $4, \
                 volumes = $5, gigabytes = $6, snapshots = $7 WHERE id = $8 AND top_id IS NULL",
            )
            .bind(&routing.top_id)
            .bind(u.instances)
            .bind(u.cores)
            .bind(u.ram_mb)
            .bind(u.volumes)
            .bind(u.gigabytes)
            .bind(u.snapshots)
            .bind(reservation)
            .execute(&mut *tx)
            .await
            .map_err(conflict)?
            .rows_affected();
            if n == 0 {
                sqlx::query(
                    "INSERT INTO allocations (project_id, resource_type, top_id, pod_id, instances, cores, ram_mb, \
                     volumes, gigabytes, snapshots, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                )
                .bind(&routing.project_id)
                .bind(routing.resource_type.as_str())
                .bind(&routing.top_id)
                .bind(&routing.pod_id)
                .bind(u.instances)
                .bind(u.cores)
                .bind(u.ram_mb)
                .bind(u.volumes)
                .bind(u.gigabytes)
                .bind(u.snapshots)
                .bind(&now)
                .execute(&mut *tx)
                .await
                .map_err(conflict)?;
            }
        }
        if let Some(job) = check_job {
            cancel_job(&mut tx, job).await?;
        }
        tx.commit().await?;
        Ok(created)
    }

    /// The pod refused the create: the reservations go back and the check
    /// job, if any, is cancelled.
    pub async fn abandon_create(
        &self,
        reservations: &[i64],
        check_job: Option<&str>,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        delete_reservations(&mut tx, reservations).await?;
        if let Some(job) = check_job {
            cancel_job(&mut tx, job).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Gives reservations back (an outcome the check job settles, or
    /// reserved growth that was applied or refused).
    pub async fn release_reservations(&self, reservations: &[i64]) -> Result<()> {
        if reservations.is_empty() {
            return Ok(());
        }
        let mut tx = self.begin_write().await?;
        delete_reservations(&mut tx, reservations).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Resources now belong to another project (a volume transfer was
    /// accepted in their pod): their routings and what they use move to
    /// `to_project` together, and the reservations `release` (what the
    /// new owner reserved for them meanwhile) go in the same transaction.
    pub async fn move_resources(
        &self,
        resources: &[(ResourceType, &str)],
        to_project: &str,
        release: &[i64],
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        for (resource_type, top_id) in resources {
            for table in ["routings", "allocations"] {
                sqlx::query(&format!(
                    "UPDATE {table} SET project_id = $1 WHERE resource_type = $2 AND top_id = $3"
                ))
                .bind(to_project)
                .bind(resource_type.as_str())
                .bind(*top_id)
                .execute(&mut *tx)
                .await?;
            }
        }
        delete_reservations(&mut tx, release).await?;
        tx.commit().await?;
        Ok(())
    }

    /// A resource is gone from its pod: its routing and what it used go
    /// together.
    pub async fn forget_resource(
        &self,
        routing_id: i64,
        resource_type: ResourceType,
        top_id: &str,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        forget_resource_in(&mut tx, routing_id, resource_type, top_id).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Usage back in line with what exists: reservations past their expiry
    /// go, and so do allocations of servers, volumes, snapshots and backups
    /// that no routing reaches any more. Safe to run at any time, from any
    /// number of instances.
    pub async fn reconcile_allocations(&self) -> Result<Reconciled> {
        let mut tx = self.begin_write().await?;
        let expired = sqlx::query(
            "DELETE FROM allocations WHERE top_id IS NULL AND (expires_at IS NULL OR expires_at <= $1)",
        )
        .bind(now())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        let types = ROUTED_ALLOCATIONS
            .iter()
            .map(|t| format!("'{t}'"))
            .collect::<Vec<_>>()
            .join(", ");
        let orphaned = sqlx::query(&format!(
            "DELETE FROM allocations WHERE top_id IS NOT NULL AND resource_type IN ({types}) AND NOT EXISTS \
             (SELECT 1 FROM routings r WHERE r.top_id = allocations.top_id \
              AND r.resource_type = allocations.resource_type)"
        ))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(Reconciled {
            expired_reservations: expired,
            orphaned_allocations: orphaned,
        })
    }
}

/// Deletes a resource's routing and allocation on `conn` (a
/// transaction's: [`Store::forget_resource`]'s own, or a [`crate::NeutronTx`]
/// whose change goes with it).
pub(crate) async fn forget_resource_in(
    conn: &mut sqlx::AnyConnection,
    routing_id: i64,
    resource_type: ResourceType,
    top_id: &str,
) -> Result<()> {
    sqlx::query("DELETE FROM routings WHERE id = $1")
        .bind(routing_id)
        .execute(&mut *conn)
        .await?;
    sqlx::query("DELETE FROM allocations WHERE resource_type = $1 AND top_id = $2")
        .bind(resource_type.as_str())
        .bind(top_id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

async fn delete_reservations(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    reservations: &[i64],
) -> Result<()> {
    if reservations.is_empty() {
        return Ok(());
    }
    sqlx::query(&format!(
        "DELETE FROM allocations WHERE top_id IS NULL AND id IN ({})",
        id_list(reservations)
    ))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Deletes a create check that has not started (a running one finds the
/// routing and does nothing).
async fn cancel_job(tx: &mut sqlx::Transaction<'_, sqlx::Any>, id: &str) -> Result<()> {
    sqlx::query("DELETE FROM jobs WHERE id = $1 AND status = 'NEW'")
        .bind(id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}
