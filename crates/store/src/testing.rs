//! Stores for tests: a fresh SQLite file, and a fresh schema in the
//! PostgreSQL named by `TRICIRCLE_TEST_POSTGRES_URL`. When
//! `TRICIRCLE_REQUIRE_POSTGRES=1` (set by `scripts/test`) a missing
//! PostgreSQL fails the test instead of skipping that backend.
#![allow(clippy::expect_used)]

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};

use crate::{Backend, Clock, ConnectOptions, Store};

/// A clock that moves only when told to ([`ManualClock::advance`]): give it
/// to a store ([`Store::with_clock`]) to expire leases and end back-offs at
/// a test's command instead of racing the wall clock. Clones share the time.
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<Mutex<DateTime<Utc>>>);

impl ManualClock {
    /// Stopped at the current wall-clock time, on a whole second (as
    /// times are stored).
    pub fn new() -> ManualClock {
        ManualClock(Arc::new(Mutex::new(Utc::now().trunc_subsecs(0))))
    }

    pub fn advance(&self, d: Duration) {
        let mut t = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        *t += chrono::Duration::from_std(d).expect("a test's duration fits");
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        ManualClock::new()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

pub struct TestStore {
    pub store: Store,
    /// Where the store lives, for [`TestStore::another_instance`].
    url: String,
    _dir: Option<tempfile::TempDir>,
}

impl std::ops::Deref for TestStore {
    type Target = Store;
    fn deref(&self) -> &Store {
        &self.store
    }
}

impl TestStore {
    pub fn label(&self) -> &'static str {
        match self.store.backend() {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgresql",
        }
    }

    /// A second, independent connection pool on the same database: what
    /// another Tricircle instance sharing it would have.
    pub async fn another_instance(&self) -> Store {
        Store::connect(&self.url, &ConnectOptions::default())
            .await
            .expect("second connection to the test database")
    }
}

pub async fn sqlite() -> TestStore {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("tricircle.db").display());
    let store = Store::connect(&url, &ConnectOptions::default())
        .await
        .expect("open sqlite");
    store.migrate().await.expect("migrate sqlite");
    TestStore {
        store,
        url,
        _dir: Some(dir),
    }
}

pub fn postgres_url() -> Option<String> {
    let url = std::env::var("TRICIRCLE_TEST_POSTGRES_URL")
        .ok()
        .filter(|u| !u.is_empty());
    if url.is_none() && std::env::var("TRICIRCLE_REQUIRE_POSTGRES").as_deref() == Ok("1") {
        panic!("TRICIRCLE_REQUIRE_POSTGRES=1 but TRICIRCLE_TEST_POSTGRES_URL is not set");
    }
    url
}

/// A store on a schema of its own, so tests run in parallel on one database.
pub async fn postgres() -> Option<TestStore> {
    let url = postgres_url()?;
    let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
    let admin = Store::connect(
        &url,
        &ConnectOptions {
            max_connections: 1,
            ..Default::default()
        },
    )
    .await
    .expect("connect to TRICIRCLE_TEST_POSTGRES_URL");
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(admin.pool())
        .await
        .expect("create test schema");
    admin.close().await;
    let sep = if url.contains('?') { '&' } else { '?' };
    let scoped = format!("{url}{sep}options=-c%20search_path%3D{schema}");
    let store = Store::connect(&scoped, &ConnectOptions::default())
        .await
        .expect("connect to test schema");
    store.migrate().await.expect("migrate postgres");
    Some(TestStore {
        store,
        url: scoped,
        _dir: None,
    })
}

/// Every backend available to this test run.
pub async fn all() -> Vec<TestStore> {
    let mut stores = vec![sqlite().await];
    if let Some(pg) = postgres().await {
        stores.push(pg);
    } else {
        eprintln!("note: TRICIRCLE_TEST_POSTGRES_URL unset; PostgreSQL leg skipped");
    }
    stores
}
