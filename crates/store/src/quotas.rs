//! Quotas enforced across pods: usage is the sum of a project's
//! allocation rows, whatever pod they are in.

use std::collections::BTreeMap;

use serde::Serialize;
use sqlx::Row;

use crate::{now, Backend, Result, Store};

/// Amounts of every quota resource (a request, a usage or a limit).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Usage {
    pub instances: i64,
    pub cores: i64,
    pub ram_mb: i64,
    pub volumes: i64,
    pub gigabytes: i64,
    pub snapshots: i64,
}

impl Usage {
    /// `(quota resource name, amount)` for each field, in the names Nova and
    /// Cinder use.
    pub fn items(&self) -> [(&'static str, i64); 6] {
        [
            ("instances", self.instances),
            ("cores", self.cores),
            ("ram", self.ram_mb),
            ("volumes", self.volumes),
            ("gigabytes", self.gigabytes),
            ("snapshots", self.snapshots),
        ]
    }
}

/// A reservation would exceed a limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotaExceeded {
    pub resource: &'static str,
    /// The amount asked of `resource` (saturated at `i64::MAX`).
    pub requested: i64,
    pub used: i64,
    pub limit: i64,
}

/// The most units one request may reserve, whatever the quota: a bound on
/// what one request can cost (Nova has none, but its quotas are finite).
pub const MAX_COUNT_PER_REQUEST: i64 = 100;

/// What [`Store::reserve`] is asked for.
#[derive(Debug, Clone)]
pub struct Reservation<'a> {
    pub project_id: &'a str,
    pub pod_id: &'a str,
    /// The allocation rows' resource type (`server`, `volume`, ...).
    pub resource_type: &'a str,
    /// What one unit uses.
    pub each: Usage,
    pub min_count: i64,
    pub max_count: i64,
    pub limits: &'a Usage,
    /// How long an uncompleted reservation counts.
    pub ttl: std::time::Duration,
}

/// How many units of `each` fit: the largest count in
/// `min_count..=max_count` that keeps every limited resource within its
/// limit, as Nova reduces `max_count` to what the quota allows. Both counts
/// are first brought into `1..=MAX_COUNT_PER_REQUEST` (callers refuse
/// larger minimums before asking). No arithmetic here can overflow,
/// whatever the numbers.
pub fn allowed_count(
    used: &Usage,
    each: &Usage,
    limits: &Usage,
    min_count: i64,
    max_count: i64,
) -> std::result::Result<i64, QuotaExceeded> {
    let min_count = min_count.clamp(1, MAX_COUNT_PER_REQUEST);
    let mut allowed = max_count.clamp(min_count, MAX_COUNT_PER_REQUEST);
    let mut first_short: Option<QuotaExceeded> = None;
    for (((resource, used), (_, per)), (_, limit)) in used
        .items()
        .into_iter()
        .zip(each.items())
        .zip(limits.items())
    {
        if per <= 0 || limit < 0 {
            continue;
        }
        // Usage is never negative; a negative sum would be a bug elsewhere.
        let headroom = limit.saturating_sub(used.max(0)).max(0);
        let fits = headroom / per;
        if fits < min_count && first_short.is_none() {
            first_short = Some(QuotaExceeded {
                resource,
                requested: per.saturating_mul(min_count),
                used,
                limit,
            });
        }
        allowed = allowed.min(fits);
    }
    match first_short {
        Some(q) => Err(q),
        None => Ok(allowed),
    }
}

impl Store {
    /// The limits an operator set for a project (resources without a row
    /// take the defaults).
    pub async fn quota_limits(&self, project_id: &str) -> Result<BTreeMap<String, i64>> {
        let rows = sqlx::query("SELECT resource, hard_limit FROM quotas WHERE project_id = $1")
            .bind(project_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("resource")?, r.try_get("hard_limit")?)))
            .collect()
    }

    pub async fn set_quota(&self, project_id: &str, resource: &str, limit: i64) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM quotas WHERE project_id = $1 AND resource = $2")
            .bind(project_id)
            .bind(resource)
            .execute(&mut *tx)
            .await?;
        sqlx::query("INSERT INTO quotas (project_id, resource, hard_limit) VALUES ($1, $2, $3)")
            .bind(project_id)
            .bind(resource)
            .bind(limit)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn delete_quotas(&self, project_id: &str) -> Result<()> {
        sqlx::query("DELETE FROM quotas WHERE project_id = $1")
            .bind(project_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// A project's usage across all pods (live reservations included).
    pub async fn usage(&self, project_id: &str) -> Result<Usage> {
        usage_in(&self.pool, project_id).await
    }

    /// Reserves allocations of `r.each` for a project in a pod: as many as
    /// the quota allows up to `r.max_count`, and at least `r.min_count`
    /// (Nova's multi-create), else the first limit in the way. A negative
    /// limit is unlimited. Returns the reservation ids, to complete with
    /// [`Store::record_created`] or give back with [`Store::abandon_create`];
    /// a reservation neither completed nor given back stops counting after
    /// `r.ttl` (a gateway that died in between). Concurrent reservations of
    /// one project are serialised by a row lock (PostgreSQL) or the single
    /// writer (SQLite), so two requests cannot both take the last unit.
    pub async fn reserve(
        &self,
        r: &Reservation<'_>,
    ) -> Result<std::result::Result<Vec<i64>, QuotaExceeded>> {
        let mut tx = self.begin_write().await?;
        if self.backend == Backend::Postgres {
            sqlx::query("INSERT INTO quota_locks (project_id) VALUES ($1) ON CONFLICT DO NOTHING")
                .bind(r.project_id)
                .execute(&mut *tx)
                .await?;
            sqlx::query("SELECT project_id FROM quota_locks WHERE project_id = $1 FOR UPDATE")
                .bind(r.project_id)
                .fetch_one(&mut *tx)
                .await?;
        }
        let used = usage_in(&mut *tx, r.project_id).await?;
        let count = match allowed_count(&used, &r.each, r.limits, r.min_count, r.max_count) {
            Ok(n) => n,
            Err(q) => return Ok(Err(q)),
        };
        let now = now();
        let expires = crate::jobs::stamp_after(r.ttl);
        let mut ids = Vec::new();
        for _ in 0..count {
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO allocations (project_id, resource_type, top_id, pod_id, instances, cores, ram_mb, \
                 volumes, gigabytes, snapshots, created_at, expires_at) \
                 VALUES ($1, $2, NULL, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id",
            )
            .bind(r.project_id)
            .bind(r.resource_type)
            .bind(r.pod_id)
            .bind(r.each.instances)
            .bind(r.each.cores)
            .bind(r.each.ram_mb)
            .bind(r.each.volumes)
            .bind(r.each.gigabytes)
            .bind(r.each.snapshots)
            .bind(&now)
            .bind(&expires)
            .fetch_one(&mut *tx)
            .await?;
            ids.push(id);
        }
        tx.commit().await?;
        Ok(Ok(ids))
    }

    /// Records a size change of an existing resource (volume extend, resize).
    pub async fn update_allocation(
        &self,
        resource_type: &str,
        top_id: &str,
        usage: Usage,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE allocations SET instances = $1, cores = $2, ram_mb = $3, volumes = $4, gigabytes = $5, \
             snapshots = $6 WHERE resource_type = $7 AND top_id = $8",
        )
        .bind(usage.instances)
        .bind(usage.cores)
        .bind(usage.ram_mb)
        .bind(usage.volumes)
        .bind(usage.gigabytes)
        .bind(usage.snapshots)
        .bind(resource_type)
        .bind(top_id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

async fn usage_in<'e, E>(executor: E, project_id: &str) -> Result<Usage>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    let row = sqlx::query(
        // SUM of BIGINT is NUMERIC on PostgreSQL: cast back for one decoder.
        "SELECT CAST(COALESCE(SUM(instances), 0) AS BIGINT) AS instances, \
         CAST(COALESCE(SUM(cores), 0) AS BIGINT) AS cores, \
         CAST(COALESCE(SUM(ram_mb), 0) AS BIGINT) AS ram_mb, \
         CAST(COALESCE(SUM(volumes), 0) AS BIGINT) AS volumes, \
         CAST(COALESCE(SUM(gigabytes), 0) AS BIGINT) AS gigabytes, \
         CAST(COALESCE(SUM(snapshots), 0) AS BIGINT) AS snapshots \
         FROM allocations WHERE project_id = $1 AND (top_id IS NOT NULL OR expires_at > $2)",
    )
    .bind(project_id)
    .bind(now())
    .fetch_one(executor)
    .await?;
    let get = |c: &str| -> Result<i64> { Ok(row.try_get::<i64, _>(c)?) };
    Ok(Usage {
        instances: get("instances")?,
        cores: get("cores")?,
        ram_mb: get("ram_mb")?,
        volumes: get("volumes")?,
        gigabytes: get("gigabytes")?,
        snapshots: get("snapshots")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn usage() -> impl Strategy<Value = Usage> {
        let n = prop_oneof![
            Just(i64::MIN),
            Just(-1i64),
            Just(0i64),
            Just(1i64),
            0i64..1000,
            Just(i64::MAX),
            any::<i64>(),
        ];
        (n.clone(), n.clone(), n.clone(), n.clone(), n.clone(), n).prop_map(
            |(instances, cores, ram_mb, volumes, gigabytes, snapshots)| Usage {
                instances,
                cores,
                ram_mb,
                volumes,
                gigabytes,
                snapshots,
            },
        )
    }

    proptest! {
        /// Whatever the numbers: no panic, a count within bounds that keeps
        /// every limited resource within its limit, or a refusal naming a
        /// resource where even the minimum does not fit.
        #[test]
        fn counts_fit_their_limits(
            used in usage(),
            each in usage(),
            limits in usage(),
            min_count in prop_oneof![any::<i64>(), 0i64..5],
            max_count in prop_oneof![any::<i64>(), 0i64..10, Just(i64::MAX)],
        ) {
            let lo = min_count.clamp(1, MAX_COUNT_PER_REQUEST);
            match allowed_count(&used, &each, &limits, min_count, max_count) {
                Ok(n) => {
                    prop_assert!(n >= lo && n <= MAX_COUNT_PER_REQUEST);
                    prop_assert!(n <= max_count.max(lo));
                    for (((_, u), (_, per)), (_, limit)) in
                        used.items().into_iter().zip(each.items()).zip(limits.items())
                    {
                        if per > 0 && limit >= 0 {
                            prop_assert!(i128::from(u.max(0)) + i128::from(per) * i128::from(n) <= i128::from(limit),
                                "used {u} + {per} x {n} > {limit}");
                        }
                    }
                }
                Err(q) => {
                    let (u, per, limit) = used.items().into_iter().zip(each.items()).zip(limits.items())
                        .find(|(((r, _), _), _)| *r == q.resource)
                        .map(|(((_, u), (_, per)), (_, l))| (u, per, l))
                        .unwrap_or_default();
                    prop_assert!(per > 0 && limit >= 0);
                    prop_assert!(i128::from(u.max(0)) + i128::from(per) * i128::from(lo) > i128::from(limit));
                    prop_assert_eq!(q.requested, per.saturating_mul(lo));
                }
            }
        }
    }

    #[test]
    fn nova_reduces_max_count_to_what_fits() {
        let used = Usage {
            instances: 8,
            ..Default::default()
        };
        let limits = Usage {
            instances: 10,
            cores: -1,
            ram_mb: -1,
            volumes: -1,
            gigabytes: -1,
            snapshots: -1,
        };
        let each = Usage {
            instances: 1,
            cores: 1,
            ..Default::default()
        };
        assert_eq!(allowed_count(&used, &each, &limits, 1, 5), Ok(2));
        assert_eq!(allowed_count(&used, &each, &limits, 2, i64::MAX), Ok(2));
        let e = allowed_count(&used, &each, &limits, 3, 5).unwrap_err();
        assert_eq!(
            (e.resource, e.requested, e.used, e.limit),
            ("instances", 3, 8, 10)
        );
    }
}
