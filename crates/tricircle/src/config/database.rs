//! `[database]`: the store's URL and pool.

use super::raw::Raw;
use super::ConfigError;

#[derive(Debug, Clone)]
pub struct DatabaseConfig {
    pub connection: String,
    pub auto_migrate: bool,
    pub max_pool_size: u32,
}

/// `[database]`; the URL must name a backend the store has.
pub(super) fn database_config(r: &Raw) -> Result<DatabaseConfig, ConfigError> {
    let database = DatabaseConfig {
        connection: r.str(
            "database",
            "connection",
            "sqlite:///var/lib/tricircle/tricircle.db",
        ),
        auto_migrate: r.boolean("database", "auto_migrate", false)?,
        max_pool_size: r.parse(
            "database",
            "max_pool_size",
            10u32,
            "an integer from 1 to 1000",
            |v| (1..=1000).contains(v),
        )?,
    };
    if let Err(e) = tricircle_store::Backend::from_url(&database.connection) {
        return Err(ConfigError::Invalid {
            section: "database".into(),
            option: "connection".into(),
            value: tricircle_store::redact_url(&database.connection),
            origin: "configuration".into(),
            expected: e.to_string(),
        });
    }
    Ok(database)
}
