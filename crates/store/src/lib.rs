//! Tricircle persistence. One code path for SQLite (the embedded default)
//! and PostgreSQL (several gateway instances), through sqlx's `Any` driver.
//!
//! Cross-instance coordination only ever goes through this database: unique
//! indexes decide races (a second top pod, a duplicate routing), and every
//! multi-row change runs in one transaction.
#![forbid(unsafe_code)]

mod aggregates;
mod bindings;
mod clock;
pub mod copies;
mod creates;
mod endpoints;
mod error;
mod extras;
mod flavors;
mod health;
mod jobs;
mod keypairs;
mod locks;
mod migrate;
mod neutron;
mod numeric_ids;
mod pods;
mod quotas;
mod routings;
mod server_groups;
mod volume_types;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::AnyPool;

pub use aggregates::{Aggregate, AggregateMetadata};
pub use bindings::{Binding, BindingFilter, BindingUpdate, NewBinding};
pub use clock::{Clock, SystemClock};
pub use creates::Reconciled;
pub use endpoints::CachedEndpoint;
pub use error::StoreError;
pub use flavors::{Flavor, NewFlavor};
pub use health::{PodHealthReport, PodHealthRow};
pub use jobs::{stamp_after, Job, JobFilter, JobPage, JobStatus, NewJob};
pub use keypairs::Keypair;
pub use locks::{tombstone_in, RoutingLock, ServerPort};
pub use neutron::{NeutronFilter, NeutronKind, NeutronTx};
pub use pods::Pod;
pub use quotas::{allowed_count, QuotaExceeded, Reservation, Usage, MAX_COUNT_PER_REQUEST};
pub use routings::{NewRouting, Routing, RoutingFilter, RoutingPage, RoutingUpdate};
pub use server_groups::{GroupMember, ServerGroup};
pub use volume_types::{VolumeType, DEFAULT_VOLUME_TYPE};

pub use sqlx::Error as SqlxError;

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Which engine a [`Store`] talks to. Only a few statements differ (locking
/// and the auto-increment key); everything else is shared SQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// Decides the backend from a `[database] connection` URL.
    pub fn from_url(url: &str) -> Result<Backend> {
        let scheme = url.split(':').next().unwrap_or("");
        match scheme {
            "sqlite" => Ok(Backend::Sqlite),
            "postgres" | "postgresql" => Ok(Backend::Postgres),
            _ => Err(StoreError::BadUrl(format!(
                "unsupported database scheme '{scheme}': use sqlite:///path/to/file.db or postgresql://user:pass@host/db"
            ))),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// The job queue's time (see [`Clock`]).
    clock: Arc<dyn Clock>,
}

/// Connection settings beyond the URL.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    pub max_connections: u32,
    pub acquire_timeout: Duration,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        ConnectOptions {
            max_connections: 10,
            acquire_timeout: Duration::from_secs(10),
        }
    }
}

impl Store {
    /// Opens a pool. SQLite files are created when missing (their directory
    /// must exist) and put in WAL mode so readers do not block the writer.
    pub async fn connect(url: &str, opts: &ConnectOptions) -> Result<Store> {
        sqlx::any::install_default_drivers();
        let backend = Backend::from_url(url)?;
        let url = match backend {
            Backend::Sqlite => sqlite_url(url),
            Backend::Postgres => url.to_string(),
        };
        let connect = AnyConnectOptions::from_str(&url)
            .map_err(|e| StoreError::BadUrl(format!("{}: {e}", redact_url(&url))))?;
        let pool = AnyPoolOptions::new()
            .max_connections(opts.max_connections)
            .acquire_timeout(opts.acquire_timeout)
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        use sqlx::Executor;
                        conn.execute("PRAGMA journal_mode = WAL").await?;
                        conn.execute("PRAGMA busy_timeout = 10000").await?;
                        conn.execute("PRAGMA foreign_keys = ON").await?;
                    }
                    Ok(())
                })
            })
            .connect_with(connect)
            .await?;
        Ok(Store {
            pool,
            backend,
            clock: Arc::new(SystemClock),
        })
    }

    /// This store (same pool) with the job queue taking its time from
    /// `clock`: enqueues, claims, lease renewals and back-offs.
    pub fn with_clock(self, clock: impl Clock) -> Store {
        Store {
            clock: Arc::new(clock),
            ..self
        }
    }

    /// Now by the job queue's clock, as stored.
    pub(crate) fn jobs_now(&self) -> String {
        clock::stamp(self.clock.now())
    }

    /// `d` from now by the job queue's clock, as stored, rounded up to a
    /// whole second: a lease or back-off is never shorter than asked.
    pub fn stamp_after(&self, d: Duration) -> String {
        clock::stamp_ceil_after(self.clock.now(), d)
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Brings the schema to the newest version. Safe to run concurrently from
    /// several instances (sqlx takes an advisory lock on PostgreSQL).
    pub async fn migrate(&self) -> Result<()> {
        migrate::migrator(self.backend).run(&self.pool).await?;
        Ok(())
    }

    /// A transaction that will write. On SQLite it takes the write lock at
    /// once (`BEGIN IMMEDIATE`): a deferred transaction that reads first
    /// and writes later fails with SQLITE_BUSY_SNAPSHOT when another writer
    /// committed in between, which no busy timeout can cure.
    ///
    /// Opening a transaction is not cancel-safe in sqlx 0.8: a future
    /// dropped after the database ran `BEGIN` but before sqlx built its
    /// `Transaction` guard (for a custom `BEGIN IMMEDIATE`, sqlx awaits the
    /// connection's lock in between) gives the connection back to the pool
    /// inside a transaction that nothing ever ends. On SQLite that
    /// transaction holds the write lock: every later write of every tenant
    /// waits out the busy timeout and fails. A client that hangs up or an
    /// aborted task is enough. So the transaction is opened in a task of
    /// its own, which runs to the end even when our caller is dropped; the
    /// guard it hands back (or drops, rolling back) always exists.
    pub(crate) async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>> {
        let pool = self.pool.clone();
        let backend = self.backend;
        let open = tokio::spawn(async move {
            match backend {
                Backend::Sqlite => pool.begin_with("BEGIN IMMEDIATE").await,
                Backend::Postgres => pool.begin().await,
            }
        });
        match open.await {
            Ok(tx) => Ok(tx?),
            Err(e) => Err(StoreError::Database(sqlx::Error::Io(
                std::io::Error::other(format!("opening a transaction: {e}")),
            ))),
        }
    }

    /// A cheap round trip, for health checks.
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// sqlx wants `sqlite://path`; operators used to oslo.db write
/// `sqlite:///abs/path`. Both mean a path after the scheme. Files are
/// created on first use.
fn sqlite_url(url: &str) -> String {
    let mut u = url.to_string();
    if !u.contains("mode=") && !u.contains(":memory:") {
        u.push_str(if u.contains('?') {
            "&mode=rwc"
        } else {
            "?mode=rwc"
        });
    }
    u
}

/// The URL with any password replaced, for messages and logs.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_string(),
    }
}

/// Now, as stored: RFC 3339 UTC with seconds, e.g. `2026-11-25T07:40:48Z`.
pub(crate) fn now() -> String {
    clock::stamp(chrono::Utc::now())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backend_from_url() {
        assert_eq!(
            Backend::from_url("sqlite:///tmp/x.db").ok(),
            Some(Backend::Sqlite)
        );
        assert_eq!(
            Backend::from_url("postgresql://u:p@h/db").ok(),
            Some(Backend::Postgres)
        );
        assert!(matches!(
            Backend::from_url("mysql+pymysql://u@h/db"),
            Err(StoreError::BadUrl(_))
        ));
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact_url("postgresql://tri:s3cret@127.0.0.1:5432/tri"),
            "postgresql://tri:***@127.0.0.1:5432/tri"
        );
        assert_eq!(redact_url("sqlite:///tmp/a.db"), "sqlite:///tmp/a.db");
    }

    #[test]
    fn sqlite_files_are_created() {
        assert_eq!(
            sqlite_url("sqlite:///tmp/a.db"),
            "sqlite:///tmp/a.db?mode=rwc"
        );
        assert_eq!(
            sqlite_url("sqlite:///tmp/a.db?mode=ro"),
            "sqlite:///tmp/a.db?mode=ro"
        );
    }
}

#[cfg(feature = "testing")]
pub mod testing;
