//! The top Neutron's state: networks, subnets, ports, security groups and
//! their rules, routers, floating IPs, IP allocations, segments, quotas.
//!
//! A resource is stored as its API body (JSON) plus the columns that lists
//! filter on. The domain crate (`tricircle-network`) decides what a body
//! holds; this module keeps the columns in step with it and owns the
//! transactions ([`NeutronTx`]) in which read-then-write changes happen:
//! IP and segment allocation, quota counts, jobs recorded with the change.

mod quotas;
mod tx;

use serde_json::Value;
use sqlx::{AnyConnection, Row};

use crate::{Result, Store, StoreError};
use tricircle_core::ResourceType;

pub use tx::NeutronTx;

/// The kinds of top Neutron resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NeutronKind {
    Network,
    Subnet,
    Port,
    SecurityGroup,
    SecurityGroupRule,
    Router,
    FloatingIp,
}

/// How a column's value comes out of the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ColumnKind {
    /// A string (missing or null: '').
    Text,
    /// A string or NULL.
    NullableText,
    /// A boolean stored as 0/1.
    Flag,
    /// An integer.
    Int,
}

/// (column, body key, kind): the columns copied out of a body.
type Columns = &'static [(&'static str, &'static str, ColumnKind)];

impl NeutronKind {
    pub const ALL: [NeutronKind; 7] = [
        NeutronKind::Network,
        NeutronKind::Subnet,
        NeutronKind::Port,
        NeutronKind::SecurityGroup,
        NeutronKind::SecurityGroupRule,
        NeutronKind::Router,
        NeutronKind::FloatingIp,
    ];

    pub(crate) fn table(self) -> &'static str {
        match self {
            NeutronKind::Network => "networks",
            NeutronKind::Subnet => "subnets",
            NeutronKind::Port => "ports",
            NeutronKind::SecurityGroup => "security_groups",
            NeutronKind::SecurityGroupRule => "security_group_rules",
            NeutronKind::Router => "routers",
            NeutronKind::FloatingIp => "floatingips",
        }
    }

    /// The resource type of this kind in routings (and tombstones).
    pub fn resource_type(self) -> ResourceType {
        match self {
            NeutronKind::Network => ResourceType::Network,
            NeutronKind::Subnet => ResourceType::Subnet,
            NeutronKind::Port => ResourceType::Port,
            NeutronKind::SecurityGroup => ResourceType::SecurityGroup,
            NeutronKind::SecurityGroupRule => ResourceType::SecurityGroupRule,
            NeutronKind::Router => ResourceType::Router,
            NeutronKind::FloatingIp => ResourceType::FloatingIp,
        }
    }

    fn columns(self) -> Columns {
        use ColumnKind::*;
        match self {
            NeutronKind::Network => &[
                ("name", "name", Text),
                ("shared", "shared", Flag),
                ("external", "router:external", Flag),
            ],
            NeutronKind::Subnet => &[
                ("network_id", "network_id", Text),
                ("name", "name", Text),
                ("ip_version", "ip_version", Int),
                ("cidr", "cidr", Text),
            ],
            NeutronKind::Port => &[
                ("network_id", "network_id", Text),
                ("name", "name", Text),
                ("mac_address", "mac_address", Text),
                ("device_id", "device_id", Text),
                ("device_owner", "device_owner", Text),
            ],
            NeutronKind::SecurityGroup => &[("name", "name", Text)],
            NeutronKind::SecurityGroupRule => &[
                ("security_group_id", "security_group_id", Text),
                ("remote_group_id", "remote_group_id", NullableText),
            ],
            NeutronKind::Router => &[("name", "name", Text)],
            NeutronKind::FloatingIp => &[
                ("floating_network_id", "floating_network_id", Text),
                ("floating_ip_address", "floating_ip_address", Text),
                ("port_id", "port_id", NullableText),
                ("fixed_ip_address", "fixed_ip_address", NullableText),
                ("router_id", "router_id", NullableText),
            ],
        }
    }

    /// The attributes a list can filter on in SQL (string equality): the
    /// id, the project and this kind's text columns. Each is both the
    /// column and the attribute name.
    pub fn sql_filters(self) -> Vec<&'static str> {
        let mut v = vec!["id", "project_id"];
        v.extend(
            self.columns()
                .iter()
                .filter(|(c, k, kind)| {
                    c == k && matches!(kind, ColumnKind::Text | ColumnKind::NullableText)
                })
                .map(|(c, _, _)| *c),
        );
        v
    }
}

/// Which rows a list reads.
#[derive(Debug, Clone, Default)]
pub struct NeutronFilter {
    /// Only what this project may see: its own rows, plus shared and
    /// external networks, subnets of shared networks, ports on its networks and
    /// rules of its groups; routers and floating IPs are their project's
    /// only. `None`: every row (admin).
    pub visible_to: Option<String>,
    /// `(attribute, values)`: the row's attribute equals one of the values.
    /// Attributes must be among [`NeutronKind::sql_filters`].
    pub eq: Vec<(String, Vec<String>)>,
}

/// A column value to bind.
#[derive(Debug, Clone)]
enum Bind {
    Text(String),
    NullableText(Option<String>),
    Int(i64),
}

fn column_value(body: &Value, key: &str, kind: ColumnKind) -> Bind {
    let v = body.get(key);
    match kind {
        ColumnKind::Text => Bind::Text(v.and_then(Value::as_str).unwrap_or("").to_string()),
        ColumnKind::NullableText => {
            Bind::NullableText(v.and_then(Value::as_str).map(str::to_string))
        }
        ColumnKind::Flag => Bind::Int(i64::from(v.and_then(Value::as_bool).unwrap_or(false))),
        ColumnKind::Int => Bind::Int(v.and_then(Value::as_i64).unwrap_or(0)),
    }
}

fn body_id(body: &Value) -> Result<(String, String)> {
    let get = |k: &str| {
        body.get(k)
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| StoreError::Corrupt(format!("resource body without '{k}'")))
    };
    Ok((get("id")?, get("project_id")?))
}

fn parse_body(text: &str) -> Result<Value> {
    serde_json::from_str(text)
        .map_err(|e| StoreError::Corrupt(format!("stored resource is not JSON: {e}")))
}

fn bind_all<'q>(
    mut q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    binds: &'q [Bind],
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    for b in binds {
        q = match b {
            Bind::Text(s) => q.bind(s.as_str()),
            Bind::NullableText(s) => q.bind(s.as_deref()),
            Bind::Int(i) => q.bind(*i),
        };
    }
    q
}

/// `$n, $n+1, ...` for `count` values after `already` bound ones.
fn placeholders(already: usize, count: usize) -> String {
    (0..count)
        .map(|i| format!("${}", already + i + 1))
        .collect::<Vec<_>>()
        .join(", ")
}

pub(crate) async fn get_in(
    conn: &mut AnyConnection,
    kind: NeutronKind,
    id: &str,
    for_update: bool,
) -> Result<Option<Value>> {
    let sql = format!(
        "SELECT body FROM {} WHERE id = $1{}",
        kind.table(),
        if for_update { " FOR UPDATE" } else { "" }
    );
    let row: Option<String> = sqlx::query_scalar(&sql)
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
    row.as_deref().map(parse_body).transpose()
}

pub(crate) async fn list_in(
    conn: &mut AnyConnection,
    kind: NeutronKind,
    filter: &NeutronFilter,
) -> Result<Vec<Value>> {
    let mut sql = format!("SELECT body FROM {} WHERE 1 = 1", kind.table());
    let mut binds: Vec<Bind> = Vec::new();
    if let Some(project) = &filter.visible_to {
        binds.push(Bind::Text(project.clone()));
        let n = binds.len();
        let visible = match kind {
            NeutronKind::Network => {
                format!("(project_id = ${n} OR shared = 1 OR external = 1)")
            }
            // Neutron's `get_subnet`: owner or shared; an external
            // network's subnets are not shown to other projects.
            NeutronKind::Subnet => format!(
                "(project_id = ${n} OR network_id IN \
                 (SELECT id FROM networks WHERE shared = 1))"
            ),
            NeutronKind::Port => format!(
                "(project_id = ${n} OR network_id IN (SELECT id FROM networks WHERE project_id = ${n}))"
            ),
            NeutronKind::SecurityGroup | NeutronKind::Router | NeutronKind::FloatingIp => {
                format!("project_id = ${n}")
            }
            NeutronKind::SecurityGroupRule => format!(
                "(project_id = ${n} OR security_group_id IN \
                 (SELECT id FROM security_groups WHERE project_id = ${n}))"
            ),
        };
        sql.push_str(" AND ");
        sql.push_str(&visible);
    }
    let allowed = kind.sql_filters();
    for (column, values) in &filter.eq {
        let Some(column) = allowed.iter().find(|c| **c == column.as_str()) else {
            return Err(StoreError::Unsupported(format!(
                "{} cannot be filtered on {column} in SQL",
                kind.table()
            )));
        };
        if values.is_empty() {
            continue;
        }
        sql.push_str(&format!(
            " AND {column} IN ({})",
            placeholders(binds.len(), values.len())
        ));
        binds.extend(values.iter().cloned().map(Bind::Text));
    }
    sql.push_str(" ORDER BY id");
    let rows = bind_all(sqlx::query(&sql), &binds)
        .fetch_all(&mut *conn)
        .await?;
    rows.iter()
        .map(|r| parse_body(&r.try_get::<String, _>("body")?))
        .collect()
}

/// Most ids bound in one `IN (...)` list.
const CHUNK: usize = 500;

impl Store {
    /// One resource's body, if it exists.
    pub async fn neutron_get(&self, kind: NeutronKind, id: &str) -> Result<Option<Value>> {
        let mut conn = self.pool.acquire().await?;
        get_in(&mut conn, kind, id, false).await
    }

    /// The bodies a filter selects, in id order.
    pub async fn neutron_list(
        &self,
        kind: NeutronKind,
        filter: &NeutronFilter,
    ) -> Result<Vec<Value>> {
        let mut conn = self.pool.acquire().await?;
        list_in(&mut conn, kind, filter).await
    }

    /// `(network_id, subnet_id)` of the subnets of these networks, in
    /// subnet creation order.
    pub async fn neutron_subnet_ids(
        &self,
        network_ids: &[String],
    ) -> Result<Vec<(String, String)>> {
        let mut out = Vec::new();
        for chunk in network_ids.chunks(CHUNK) {
            let sql = format!(
                "SELECT network_id, id FROM subnets WHERE network_id IN ({}) ORDER BY created_at, id",
                placeholders(0, chunk.len())
            );
            let mut q = sqlx::query(&sql);
            for id in chunk {
                q = q.bind(id.as_str());
            }
            for r in q.fetch_all(&self.pool).await? {
                out.push((r.try_get("network_id")?, r.try_get("id")?));
            }
        }
        Ok(out)
    }

    /// The rules of these security groups, in creation order.
    pub async fn neutron_rules_of(&self, group_ids: &[String]) -> Result<Vec<Value>> {
        let mut out = Vec::new();
        for chunk in group_ids.chunks(CHUNK) {
            let sql = format!(
                "SELECT body FROM security_group_rules WHERE security_group_id IN ({}) ORDER BY created_at, id",
                placeholders(0, chunk.len())
            );
            let mut q = sqlx::query_scalar::<_, String>(&sql);
            for id in chunk {
                q = q.bind(id.as_str());
            }
            for body in q.fetch_all(&self.pool).await? {
                out.push(parse_body(&body)?);
            }
        }
        Ok(out)
    }

    /// `(top_id, az_name)` for every pod holding a copy of these resources
    /// (routings of `resource_type`), sorted.
    pub async fn neutron_copy_azs(
        &self,
        resource_type: ResourceType,
        top_ids: &[String],
    ) -> Result<Vec<(String, String)>> {
        let mut out = Vec::new();
        for chunk in top_ids.chunks(CHUNK) {
            let sql = format!(
                "SELECT DISTINCT r.top_id, p.az_name FROM routings r JOIN pods p ON p.pod_id = r.pod_id \
                 WHERE r.resource_type = $1 AND r.top_id IN ({}) ORDER BY r.top_id, p.az_name",
                placeholders(1, chunk.len())
            );
            let mut q = sqlx::query(&sql).bind(resource_type.as_str());
            for id in chunk {
                q = q.bind(id.as_str());
            }
            for r in q.fetch_all(&self.pool).await? {
                out.push((r.try_get("top_id")?, r.try_get("az_name")?));
            }
        }
        Ok(out)
    }

    /// The project's default security group, if it has one yet.
    pub async fn neutron_default_security_group(&self, project_id: &str) -> Result<Option<String>> {
        Ok(sqlx::query_scalar(
            "SELECT security_group_id FROM default_security_groups WHERE project_id = $1",
        )
        .bind(project_id)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// How many resources of each kind a project owns (for quota details).
    pub async fn neutron_counts(&self, project_id: &str) -> Result<Vec<(NeutronKind, i64)>> {
        let mut conn = self.pool.acquire().await?;
        let mut out = Vec::new();
        for kind in NeutronKind::ALL {
            out.push((kind, tx::count_in(&mut conn, kind, project_id).await?));
        }
        Ok(out)
    }

    /// A transaction for changes to the top Neutron (see [`NeutronTx`]).
    pub async fn neutron_tx(&self) -> Result<NeutronTx> {
        Ok(NeutronTx::new(
            self.begin_write().await?,
            self.backend,
            self.clock.clone(),
        ))
    }
}
