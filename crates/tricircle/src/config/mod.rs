//! `/etc/tricircle/tricircle.conf`: OpenStack-style INI, overridable by
//! environment variables `TRICIRCLE__<SECTION>__<OPTION>` (case-insensitive,
//! e.g. `TRICIRCLE__DATABASE__CONNECTION`). `etc/tricircle.conf.sample`
//! documents every option; keep the two in step (a test checks it).

mod client;
mod database;
mod default_section;
mod jobs;
mod keystone;
mod network;
mod quota;
mod raw;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::time::Duration;

pub use self::client::ClientConfig;
pub use self::database::DatabaseConfig;
pub use self::jobs::JobsConfig;
pub use self::keystone::KeystoneConfig;
use self::raw::Raw;

pub const DEFAULT_CONFIG_PATH: &str = "/etc/tricircle/tricircle.conf";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {detail}")]
    Read { path: String, detail: String },
    #[error(
        "invalid value '{value}' for [{section}] {option} (from {origin}): expected {expected}"
    )]
    Invalid {
        section: String,
        option: String,
        value: String,
        origin: String,
        expected: String,
    },
    #[error("missing [{section}] {option}: {why}")]
    Missing {
        section: &'static str,
        option: &'static str,
        why: &'static str,
    },
    #[error("unknown option [{section}] {option} (from {origin}); see etc/tricircle.conf.sample")]
    Unknown {
        section: String,
        option: String,
        origin: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthStrategy {
    Keystone,
    NoAuth,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Clone)]
pub struct Config {
    pub bind_host: String,
    pub admin_port: u16,
    pub compute_port: u16,
    pub volume_port: u16,
    pub network_port: u16,
    pub auth_strategy: AuthStrategy,
    pub max_request_body_size: usize,
    /// Requests the APIs of this process serve at once; past it, 503.
    pub max_inflight_requests: usize,
    /// What one client connection may take: see [`ClientTimeouts`].
    pub client_timeouts: ClientTimeouts,
    pub log_format: LogFormat,
    pub debug: bool,
    pub database: DatabaseConfig,
    pub keystone: KeystoneConfig,
    pub client: ClientConfig,
    pub quota: tricircle_store::Usage,
    /// `[network]` and the network quotas of `[quota]`: the top Neutron.
    pub network: tricircle_network::NetworkConfig,
    pub jobs: JobsConfig,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientTimeouts {
    /// To send a request's headers; also how long an idle keep-alive
    /// connection stays open.
    pub header: Duration,
    /// To send a whole request body.
    pub body: Duration,
    /// To read an answer that no longer makes progress.
    pub send: Duration,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("bind_host", &self.bind_host)
            .field("admin_port", &self.admin_port)
            .field("auth_strategy", &self.auth_strategy)
            .field(
                "database",
                &tricircle_store::redact_url(&self.database.connection),
            )
            .field("keystone_auth_url", &self.keystone.auth_url)
            .field("keystone_username", &self.keystone.username)
            .finish_non_exhaustive()
    }
}

pub type Setting<'a> = (&'a str, &'a str, String);

/// The layers of [`Config::load_layers`].
pub struct Layers<'a> {
    pub defaults: &'a [Setting<'a>],
    pub file: Option<&'a Path>,
    pub flags: &'a [Setting<'a>],
    pub fixed: &'a [Setting<'a>],
}

impl Config {
    /// Loads the file (when given, or when the default path exists), then
    /// the environment.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        Self::load_with_env(path, std::env::vars())
    }

    pub fn load_with_env(
        path: Option<&Path>,
        env: impl Iterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let mut raw = Raw::default();
        match path {
            Some(p) => raw.load_file(p)?,
            None if Path::new(DEFAULT_CONFIG_PATH).exists() => {
                raw.load_file(Path::new(DEFAULT_CONFIG_PATH))?
            }
            None => {}
        }
        raw.apply_env(env);
        raw.check_known()?;
        Self::from_raw(&raw)
    }

    /// A configuration in layers, lowest first: `defaults`, the file (when
    /// given: a missing, unreadable or invalid file is an error), the
    /// environment, `flags`, then `fixed`. Also returns the options the file
    /// or the environment set that `fixed` replaced (`[section] option`),
    /// so that the caller can say they were not used. The demo builds its
    /// configuration this way.
    pub fn load_layers(
        layers: &Layers<'_>,
        env: impl Iterator<Item = (String, String)>,
    ) -> Result<(Config, Vec<String>), ConfigError> {
        fn put(raw: &mut Raw, settings: &[Setting<'_>], origin: &str) {
            for (section, option, value) in settings {
                raw.values.insert(
                    (section.to_string(), option.to_string()),
                    (value.clone(), origin.to_string()),
                );
            }
        }
        let mut raw = Raw::default();
        put(&mut raw, layers.defaults, "built-in settings");
        let before_file: HashMap<_, _> = raw.values.clone();
        if let Some(p) = layers.file {
            raw.load_file(p)?;
        }
        raw.apply_env(env);
        let mut replaced: Vec<String> = layers
            .fixed
            .iter()
            .filter(|(s, o, _)| {
                let key = (s.to_string(), o.to_string());
                raw.values.get(&key) != before_file.get(&key)
            })
            .map(|(s, o, _)| format!("[{s}] {o}"))
            .collect();
        replaced.sort();
        replaced.dedup();
        put(&mut raw, layers.flags, "command line");
        put(&mut raw, layers.fixed, "built-in settings");
        raw.check_known()?;
        Ok((Self::from_raw(&raw)?, replaced))
    }

    fn from_raw(r: &Raw) -> Result<Config, ConfigError> {
        let defaults = default_section::DefaultSection::parse(r)?;
        let keystone = keystone::keystone_config(r)?;
        let database = database::database_config(r)?;
        let client = client::client_config(r)?;
        let network = network::network_config(r)?;
        let quota = quota::quota_config(r)?;
        let jobs = jobs::jobs_config(r)?;
        if defaults.auth_strategy == AuthStrategy::Keystone {
            keystone::check_required(&keystone)?;
        }
        Ok(Config {
            bind_host: defaults.bind_host,
            admin_port: defaults.admin_port,
            compute_port: defaults.compute_port,
            volume_port: defaults.volume_port,
            network_port: defaults.network_port,
            auth_strategy: defaults.auth_strategy,
            max_request_body_size: defaults.max_request_body_size,
            max_inflight_requests: defaults.max_inflight_requests,
            client_timeouts: defaults.client_timeouts,
            log_format: defaults.log_format,
            debug: defaults.debug,
            database,
            keystone,
            client,
            quota,
            network,
            jobs,
        })
    }
}
