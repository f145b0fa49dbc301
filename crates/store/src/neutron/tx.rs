//! [`NeutronTx`]: one write transaction over the top Neutron's tables.
//!
//! On SQLite it holds the write lock from the start (`BEGIN IMMEDIATE`), so
//! every read in it sees what it will write over. On PostgreSQL the rows a
//! change depends on are locked (`FOR UPDATE`): the resource being changed,
//! the subnet whose addresses are allocated, the project whose quota is
//! counted. Unique keys are the last word either way.

use std::sync::Arc;

use serde_json::Value;
use sqlx::{Any, AnyConnection, Row, Transaction};

use super::{bind_all, body_id, column_value, get_in, list_in, Bind, NeutronFilter, NeutronKind};
use crate::jobs::{enqueue_in, NewJob};
use crate::{now, Backend, Clock, Result, StoreError};
use tricircle_core::ResourceType;

pub struct NeutronTx {
    tx: Transaction<'static, Any>,
    backend: Backend,
    /// The job queue's clock, for the jobs this change records.
    clock: Arc<dyn Clock>,
}

pub(crate) async fn count_in(
    conn: &mut AnyConnection,
    kind: NeutronKind,
    project_id: &str,
) -> Result<i64> {
    let sql = format!(
        "SELECT COUNT(*) AS n FROM {} WHERE project_id = $1",
        kind.table()
    );
    let row = sqlx::query(&sql)
        .bind(project_id)
        .fetch_one(&mut *conn)
        .await?;
    Ok(row.try_get::<i64, _>("n")?)
}

/// A hold (`h`, a row of `address_holds`) is live while its job is there.
const HOLD_LIVE: &str = "EXISTS (SELECT 1 FROM jobs j WHERE j.job_type = h.job_type \
     AND j.resource_id = h.port_id)";

/// The same, for a DELETE on the table itself (no alias there).
const HOLD_LIVE_UNALIASED: &str =
    "EXISTS (SELECT 1 FROM jobs j WHERE j.job_type = address_holds.job_type \
     AND j.resource_id = address_holds.port_id)";

fn unique_conflict(e: sqlx::Error, message: String) -> StoreError {
    StoreError::conflict_on_unique(e, message)
}

impl NeutronTx {
    pub(crate) fn new(
        tx: Transaction<'static, Any>,
        backend: Backend,
        clock: Arc<dyn Clock>,
    ) -> NeutronTx {
        NeutronTx { tx, backend, clock }
    }

    fn jobs_now(&self) -> String {
        crate::clock::stamp(self.clock.now())
    }

    fn conn(&mut self) -> &mut AnyConnection {
        &mut self.tx
    }

    fn pg(&self) -> bool {
        self.backend == Backend::Postgres
    }

    pub async fn commit(self) -> Result<()> {
        self.tx.commit().await?;
        Ok(())
    }

    /// Orders this transaction after any other one that holds the same
    /// project's lock (quota counts). SQLite's single writer already does.
    pub async fn lock_project(&mut self, project_id: &str) -> Result<()> {
        if self.pg() {
            sqlx::query("INSERT INTO quota_locks (project_id) VALUES ($1) ON CONFLICT DO NOTHING")
                .bind(project_id)
                .execute(self.conn())
                .await?;
            sqlx::query("SELECT project_id FROM quota_locks WHERE project_id = $1 FOR UPDATE")
                .bind(project_id)
                .fetch_one(self.conn())
                .await?;
        }
        Ok(())
    }

    /// A resource, read without locking it.
    pub async fn get(&mut self, kind: NeutronKind, id: &str) -> Result<Option<Value>> {
        get_in(self.conn(), kind, id, false).await
    }

    /// A resource, locked until the end of the transaction: the way to
    /// read what an update will write over.
    pub async fn lock(&mut self, kind: NeutronKind, id: &str) -> Result<Option<Value>> {
        let pg = self.pg();
        get_in(self.conn(), kind, id, pg).await
    }

    pub async fn list(&mut self, kind: NeutronKind, filter: &NeutronFilter) -> Result<Vec<Value>> {
        list_in(self.conn(), kind, filter).await
    }

    /// How many resources of a kind a project owns.
    pub async fn count(&mut self, kind: NeutronKind, project_id: &str) -> Result<i64> {
        count_in(self.conn(), kind, project_id).await
    }

    async fn insert_with(
        &mut self,
        kind: NeutronKind,
        body: &Value,
        extra: &[(&str, Bind)],
    ) -> Result<()> {
        let (id, project_id) = body_id(body)?;
        let now = now();
        let mut names = vec!["id", "project_id", "body", "created_at", "updated_at"];
        let mut binds = vec![
            Bind::Text(id.clone()),
            Bind::Text(project_id),
            Bind::Text(body.to_string()),
            Bind::Text(now.clone()),
            Bind::Text(now),
        ];
        for (column, key, ck) in kind.columns() {
            names.push(column);
            binds.push(column_value(body, key, *ck));
        }
        for (column, b) in extra {
            names.push(column);
            binds.push(b.clone());
        }
        let sql = format!(
            "INSERT INTO {} ({}) VALUES ({})",
            kind.table(),
            names.join(", "),
            super::placeholders(0, names.len())
        );
        bind_all(sqlx::query(&sql), &binds)
            .execute(self.conn())
            .await
            .map_err(|e| {
                unique_conflict(
                    e,
                    format!(
                        "{} {id} collides with an existing one",
                        kind.resource_type()
                    ),
                )
            })?;
        Ok(())
    }

    /// Stores a new resource (`body` has its `id` and `project_id`). A
    /// unique violation is a [`StoreError::Conflict`].
    pub async fn insert(&mut self, kind: NeutronKind, body: &Value) -> Result<()> {
        self.insert_with(kind, body, &[]).await
    }

    /// Stores a new port; a `reserved_name` makes it the one port of that
    /// name in its network (a second one is a conflict).
    pub async fn insert_port(&mut self, body: &Value, reserved_name: Option<&str>) -> Result<()> {
        self.insert_with(
            NeutronKind::Port,
            body,
            &[(
                "reserved_name",
                Bind::NullableText(reserved_name.map(str::to_string)),
            )],
        )
        .await
    }

    /// Stores a new security group rule with its normalised key; the same
    /// key twice in a group is a conflict.
    pub async fn insert_rule(&mut self, body: &Value, rule_key: &str) -> Result<()> {
        self.insert_with(
            NeutronKind::SecurityGroupRule,
            body,
            &[("rule_key", Bind::Text(rule_key.to_string()))],
        )
        .await
    }

    /// The reserved port of a name in a network.
    pub async fn find_reserved_port(
        &mut self,
        network_id: &str,
        reserved_name: &str,
    ) -> Result<Option<Value>> {
        let body: Option<String> = sqlx::query_scalar(
            "SELECT body FROM ports WHERE network_id = $1 AND reserved_name = $2",
        )
        .bind(network_id)
        .bind(reserved_name)
        .fetch_optional(self.conn())
        .await?;
        body.as_deref().map(super::parse_body).transpose()
    }

    /// Whether a port is one Tricircle reserved for itself.
    pub async fn is_reserved_port(&mut self, port_id: &str) -> Result<bool> {
        let name: Option<Option<String>> =
            sqlx::query_scalar("SELECT reserved_name FROM ports WHERE id = $1")
                .bind(port_id)
                .fetch_optional(self.conn())
                .await?;
        Ok(name.flatten().is_some())
    }

    /// Replaces a resource's body (and its columns), and records `jobs` in
    /// the same transaction.
    pub async fn update(&mut self, kind: NeutronKind, body: &Value, jobs: &[NewJob]) -> Result<()> {
        let (id, _) = body_id(body)?;
        let mut sets = vec!["body = $1".to_string(), "updated_at = $2".to_string()];
        let mut binds = vec![Bind::Text(body.to_string()), Bind::Text(now())];
        for (column, key, ck) in kind.columns() {
            binds.push(column_value(body, key, *ck));
            sets.push(format!("{column} = ${}", binds.len()));
        }
        binds.push(Bind::Text(id.clone()));
        let sql = format!(
            "UPDATE {} SET {} WHERE id = ${}",
            kind.table(),
            sets.join(", "),
            binds.len()
        );
        let n = bind_all(sqlx::query(&sql), &binds)
            .execute(self.conn())
            .await
            .map_err(|e| {
                unique_conflict(
                    e,
                    format!(
                        "{} {id} collides with an existing one",
                        kind.resource_type()
                    ),
                )
            })?
            .rows_affected();
        if n == 0 {
            return Err(StoreError::NotFound(format!(
                "{} {id} could not be found.",
                kind.resource_type()
            )));
        }
        let now = self.jobs_now();
        for job in jobs {
            enqueue_in(&mut self.tx, job, &now).await?;
        }
        Ok(())
    }

    /// Deletes a resource with what hangs off it in this module's tables
    /// (a port's addresses and group memberships, a network's segments, a
    /// group's rules, a default group's marker), writes its tombstone and
    /// records `jobs`, all in the same transaction. Ports of a network and subnets must be gone first
    /// (the caller decides whether that is an error or a cascade).
    pub async fn delete(&mut self, kind: NeutronKind, id: &str, jobs: &[NewJob]) -> Result<()> {
        let pre: &[&str] = match kind {
            NeutronKind::Port => &[
                "DELETE FROM ip_allocations WHERE port_id = $1",
                "DELETE FROM port_security_groups WHERE port_id = $1",
            ],
            NeutronKind::Network => &["DELETE FROM network_segments WHERE owner_id = $1"],
            NeutronKind::Subnet => &[
                "DELETE FROM ip_allocations WHERE subnet_id = $1",
                "DELETE FROM address_holds WHERE subnet_id = $1",
            ],
            NeutronKind::SecurityGroup => &[
                "DELETE FROM security_group_rules WHERE security_group_id = $1",
                "DELETE FROM default_security_groups WHERE security_group_id = $1",
            ],
            NeutronKind::SecurityGroupRule | NeutronKind::Router | NeutronKind::FloatingIp => &[],
        };
        for sql in pre {
            sqlx::query(sql).bind(id).execute(self.conn()).await?;
        }
        let n = sqlx::query(&format!("DELETE FROM {} WHERE id = $1", kind.table()))
            .bind(id)
            .execute(self.conn())
            .await?
            .rows_affected();
        if n == 0 {
            return Err(StoreError::NotFound(format!(
                "{} {id} could not be found.",
                kind.resource_type()
            )));
        }
        // No copy of it may be created from now on (rules have no copies
        // of their own: their group's sync carries them).
        if kind != NeutronKind::SecurityGroupRule {
            crate::locks::tombstone_in(&mut self.tx, id, kind.resource_type()).await?;
        }
        let now = self.jobs_now();
        for job in jobs {
            enqueue_in(&mut self.tx, job, &now).await?;
        }
        Ok(())
    }

    /// Records a job in this transaction.
    pub async fn enqueue(&mut self, job: &NewJob) -> Result<String> {
        let now = self.jobs_now();
        enqueue_in(&mut self.tx, job, &now).await
    }

    // ---- a server's ports ----

    /// Records the top ports of a server, with the ports' own changes.
    pub async fn add_server_ports(&mut self, ports: &[crate::ServerPort]) -> Result<()> {
        crate::locks::add_server_ports_in(self.conn(), ports).await
    }

    /// The top ports of a server.
    pub async fn server_ports(&mut self, server_id: &str) -> Result<Vec<crate::ServerPort>> {
        crate::locks::server_ports_in(self.conn(), server_id).await
    }

    /// Forgets one server port.
    pub async fn remove_server_port(&mut self, server_id: &str, port_id: &str) -> Result<()> {
        crate::locks::remove_server_port_in(self.conn(), server_id, port_id).await
    }

    /// A routed resource is gone from its pod: its routing (`routing_id`)
    /// and its allocation go in this transaction, with whatever else it
    /// changes (a server's ports). As [`crate::Store::forget_resource`].
    pub async fn forget_resource(
        &mut self,
        routing_id: i64,
        resource_type: ResourceType,
        top_id: &str,
    ) -> Result<()> {
        crate::creates::forget_resource_in(self.conn(), routing_id, resource_type, top_id).await
    }

    /// The pods holding a copy of a top resource (its routings).
    pub async fn copy_pods(
        &mut self,
        top_id: &str,
        resource_type: ResourceType,
    ) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar(
            "SELECT pod_id FROM routings WHERE top_id = $1 AND resource_type = $2 ORDER BY pod_id",
        )
        .bind(top_id)
        .bind(resource_type.as_str())
        .fetch_all(self.conn())
        .await?)
    }

    // ---- top IPAM ----

    /// Serialises address allocation in a subnet (PostgreSQL; SQLite's
    /// write lock already does). Returns false if the subnet is gone.
    pub async fn lock_subnet(&mut self, subnet_id: &str) -> Result<bool> {
        let sql = if self.pg() {
            "SELECT id FROM subnets WHERE id = $1 FOR UPDATE"
        } else {
            "SELECT id FROM subnets WHERE id = $1"
        };
        let row: Option<String> = sqlx::query_scalar(sql)
            .bind(subnet_id)
            .fetch_optional(self.conn())
            .await?;
        Ok(row.is_some())
    }

    /// `(ip_address, port_id)` allocated in a subnet.
    pub async fn subnet_allocations(&mut self, subnet_id: &str) -> Result<Vec<(String, String)>> {
        let rows =
            sqlx::query("SELECT ip_address, port_id FROM ip_allocations WHERE subnet_id = $1")
                .bind(subnet_id)
                .fetch_all(self.conn())
                .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("ip_address")?, r.try_get("port_id")?)))
            .collect()
    }

    /// Claims an address for a port. False when it is taken already.
    pub async fn allocate_ip(
        &mut self,
        subnet_id: &str,
        ip_address: &str,
        port_id: &str,
        network_id: &str,
    ) -> Result<bool> {
        let n = sqlx::query(
            "INSERT INTO ip_allocations (subnet_id, ip_address, port_id, network_id) \
             VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
        )
        .bind(subnet_id)
        .bind(ip_address)
        .bind(port_id)
        .bind(network_id)
        .execute(self.conn())
        .await?
        .rows_affected();
        Ok(n == 1)
    }

    /// Frees a port's addresses (all of them, or those in one subnet).
    pub async fn release_ips(&mut self, port_id: &str, subnet_id: Option<&str>) -> Result<()> {
        match subnet_id {
            Some(s) => {
                sqlx::query("DELETE FROM ip_allocations WHERE port_id = $1 AND subnet_id = $2")
                    .bind(port_id)
                    .bind(s)
                    .execute(self.conn())
                    .await?
            }
            None => {
                sqlx::query("DELETE FROM ip_allocations WHERE port_id = $1")
                    .bind(port_id)
                    .execute(self.conn())
                    .await?
            }
        };
        Ok(())
    }

    /// Whether a MAC address is used by a port of a network, or held for
    /// a deleted one whose copies may still be in a pod.
    pub async fn mac_in_use(&mut self, network_id: &str, mac: &str) -> Result<bool> {
        let row: Option<String> =
            sqlx::query_scalar("SELECT id FROM ports WHERE network_id = $1 AND mac_address = $2")
                .bind(network_id)
                .bind(mac)
                .fetch_optional(self.conn())
                .await?;
        if row.is_some() {
            return Ok(true);
        }
        let held: Option<String> = sqlx::query_scalar(&format!(
            "SELECT h.port_id FROM address_holds h WHERE h.network_id = $1 AND h.mac_address = $2 \
             AND {HOLD_LIVE} LIMIT 1"
        ))
        .bind(network_id)
        .bind(mac)
        .fetch_optional(self.conn())
        .await?;
        Ok(held.is_some())
    }

    /// Holds the addresses of a port being deleted (`ips` as
    /// `(subnet_id, ip_address)`, and its MAC) for as long as a job of
    /// `job_type` for the port is pending or failed: the job that deletes
    /// its copies in the pods, recorded in this same transaction. See
    /// migration 0011.
    pub async fn hold_addresses(
        &mut self,
        port_id: &str,
        network_id: &str,
        mac: &str,
        ips: &[(String, String)],
        job_type: &str,
    ) -> Result<()> {
        // The network's holds whose job is done go first.
        sqlx::query(&format!(
            "DELETE FROM address_holds WHERE network_id = $1 AND NOT {HOLD_LIVE_UNALIASED}"
        ))
        .bind(network_id)
        .execute(self.conn())
        .await?;
        let now = now();
        let rows = ips
            .iter()
            .map(|(s, ip)| (s.as_str(), ip.as_str()))
            .chain(std::iter::once(("", "")));
        for (subnet_id, ip) in rows {
            sqlx::query(
                "INSERT INTO address_holds (port_id, network_id, subnet_id, ip_address, mac_address, job_type, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
            )
            .bind(port_id)
            .bind(network_id)
            .bind(subnet_id)
            .bind(ip)
            .bind(mac)
            .bind(job_type)
            .bind(&now)
            .execute(self.conn())
            .await?;
        }
        Ok(())
    }

    /// The addresses of a subnet held for deleted ports (live holds only;
    /// the subnet's dead ones are swept on the way).
    pub async fn held_ips(&mut self, subnet_id: &str) -> Result<Vec<String>> {
        sqlx::query(&format!(
            "DELETE FROM address_holds WHERE subnet_id = $1 AND NOT {HOLD_LIVE_UNALIASED}"
        ))
        .bind(subnet_id)
        .execute(self.conn())
        .await?;
        Ok(sqlx::query_scalar(&format!(
            "SELECT h.ip_address FROM address_holds h WHERE h.subnet_id = $1 AND {HOLD_LIVE}"
        ))
        .bind(subnet_id)
        .fetch_all(self.conn())
        .await?)
    }

    // ---- segments ----

    /// The segmentation ids in use for a network type on a physical
    /// network ('' for tunnels), ascending.
    pub async fn segments_in_use(
        &mut self,
        network_type: &str,
        physical_network: &str,
    ) -> Result<Vec<i64>> {
        Ok(sqlx::query_scalar(
            "SELECT segmentation_id FROM network_segments WHERE network_type = $1 \
             AND physical_network = $2 ORDER BY segmentation_id",
        )
        .bind(network_type)
        .bind(physical_network)
        .fetch_all(self.conn())
        .await?)
    }

    /// Claims a segment for `owner_id`. False when it is taken already.
    pub async fn claim_segment(
        &mut self,
        network_type: &str,
        physical_network: &str,
        segmentation_id: i64,
        owner_id: &str,
    ) -> Result<bool> {
        let n = sqlx::query(
            "INSERT INTO network_segments (network_type, physical_network, segmentation_id, owner_id, created_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
        )
        .bind(network_type)
        .bind(physical_network)
        .bind(segmentation_id)
        .bind(owner_id)
        .bind(now())
        .execute(self.conn())
        .await?
        .rows_affected();
        Ok(n == 1)
    }

    // ---- security groups ----

    /// The project's default security group, if it has one.
    pub async fn default_security_group(&mut self, project_id: &str) -> Result<Option<String>> {
        Ok(sqlx::query_scalar(
            "SELECT security_group_id FROM default_security_groups WHERE project_id = $1",
        )
        .bind(project_id)
        .fetch_optional(self.conn())
        .await?)
    }

    /// Makes a group the project's default. False when the project has one
    /// already (another request won).
    pub async fn claim_default_security_group(
        &mut self,
        project_id: &str,
        security_group_id: &str,
    ) -> Result<bool> {
        let n = sqlx::query(
            "INSERT INTO default_security_groups (project_id, security_group_id) VALUES ($1, $2) \
             ON CONFLICT DO NOTHING",
        )
        .bind(project_id)
        .bind(security_group_id)
        .execute(self.conn())
        .await?
        .rows_affected();
        Ok(n == 1)
    }

    /// Sets the groups a port uses. Returns the groups it used before.
    pub async fn set_port_security_groups(
        &mut self,
        port_id: &str,
        groups: &[String],
    ) -> Result<Vec<String>> {
        let before: Vec<String> = sqlx::query_scalar(
            "SELECT security_group_id FROM port_security_groups WHERE port_id = $1 ORDER BY security_group_id",
        )
        .bind(port_id)
        .fetch_all(self.conn())
        .await?;
        sqlx::query("DELETE FROM port_security_groups WHERE port_id = $1")
            .bind(port_id)
            .execute(self.conn())
            .await?;
        for g in groups {
            sqlx::query(
                "INSERT INTO port_security_groups (port_id, security_group_id) VALUES ($1, $2) \
                 ON CONFLICT DO NOTHING",
            )
            .bind(port_id)
            .bind(g.as_str())
            .execute(self.conn())
            .await?;
        }
        Ok(before)
    }

    /// How many ports use a group.
    pub async fn ports_using_group(&mut self, security_group_id: &str) -> Result<i64> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n FROM port_security_groups WHERE security_group_id = $1",
        )
        .bind(security_group_id)
        .fetch_one(self.conn())
        .await?;
        Ok(row.try_get::<i64, _>("n")?)
    }

    /// Rules of other groups that name this group as their remote group.
    pub async fn rules_with_remote_group(&mut self, security_group_id: &str) -> Result<Vec<Value>> {
        let rows: Vec<String> = sqlx::query_scalar(
            "SELECT body FROM security_group_rules WHERE remote_group_id = $1 AND security_group_id <> $1",
        )
        .bind(security_group_id)
        .fetch_all(self.conn())
        .await?;
        rows.iter().map(|b| super::parse_body(b)).collect()
    }

    // ---- quotas ----

    /// A project's own network quota limits.
    pub async fn quota_limits(&mut self, project_id: &str) -> Result<Vec<(String, i64)>> {
        super::quotas::limits_in(self.conn(), project_id).await
    }
}
