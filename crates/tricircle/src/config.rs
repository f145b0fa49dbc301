//! `/etc/tricircle/tricircle.conf`: OpenStack-style INI, overridable by
//! environment variables `TRICIRCLE__<SECTION>__<OPTION>` (case-insensitive,
//! e.g. `TRICIRCLE__DATABASE__CONNECTION`). `etc/tricircle.conf.sample`
//! documents every option; keep the two in step (a test checks it).

use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use ini::{Ini, ParseOption};

pub const DEFAULT_CONFIG_PATH: &str = "/etc/tricircle/tricircle.conf";
const ENV_PREFIX: &str = "TRICIRCLE__";

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

/// `[jobs]`: the job engine `serve` runs (roles `all` and `worker`).
#[derive(Debug, Clone)]
pub struct JobsConfig {
    pub workers: usize,
    pub lease: Duration,
    pub poll_interval: Duration,
    pub max_attempts: u32,
    pub backoff_cap: Duration,
}

/// `[DEFAULT] client_*_timeout`: how long a client may take.
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

#[derive(Debug, Clone)]
pub struct DatabaseConfig {
    pub connection: String,
    pub auto_migrate: bool,
    pub max_pool_size: u32,
}

#[derive(Clone)]
pub struct KeystoneConfig {
    pub www_authenticate_uri: String,
    pub auth_url: String,
    pub username: String,
    pub password: String,
    pub project_name: String,
    pub user_domain_name: String,
    pub project_domain_name: String,
    pub token_cache_time: Duration,
    pub http_connect_timeout: Duration,
}

#[derive(Debug, Clone)]
pub struct ClientConfig {
    pub top_region_name: String,
    pub endpoint_interface: tricircle_pods::Interface,
    pub pod_timeout: Duration,
    pub list_deadline: Duration,
    /// Unused pooled connections (to Keystone and pods) close after this.
    pub idle_connection_timeout: Duration,
    pub pod_max_idle_connections: usize,
    pub pod_max_concurrent_requests: usize,
    pub pod_queue_timeout: Duration,
    /// The pods' circuit breakers.
    pub breaker: tricircle_pods::health::BreakerConfig,
    /// Probes and the shared health view.
    pub health: tricircle_pods::health::monitor::MonitorConfig,
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

/// Every option we know, per section. Anything else is an error, so a typo
/// in an option name is reported instead of silently ignored.
const KNOWN: &[(&str, &[&str])] = &[
    (
        "DEFAULT",
        &[
            "bind_host",
            "admin_port",
            "compute_port",
            "volume_port",
            "network_port",
            "auth_strategy",
            "max_request_body_size",
            "max_inflight_requests",
            "client_header_timeout",
            "client_body_timeout",
            "client_send_timeout",
            "log_format",
            "debug",
        ],
    ),
    ("database", &["connection", "auto_migrate", "max_pool_size"]),
    (
        "keystone_authtoken",
        &[
            "www_authenticate_uri",
            "auth_url",
            "username",
            "password",
            "project_name",
            "user_domain_name",
            "project_domain_name",
            "token_cache_time",
            "http_connect_timeout",
            "auth_type",
        ],
    ),
    (
        "client",
        &[
            "top_region_name",
            "endpoint_interface",
            "pod_timeout",
            "list_deadline",
            "idle_connection_timeout",
            "pod_max_idle_connections",
            "pod_max_concurrent_requests",
            "pod_queue_timeout",
            "pod_degraded_after_failures",
            "pod_down_after_failures",
            "pod_retry_interval",
            "pod_probe_interval",
            "pod_probe_timeout",
            "health_refresh_interval",
        ],
    ),
    (
        "quota",
        &[
            "instances",
            "cores",
            "ram",
            "volumes",
            "gigabytes",
            "snapshots",
            "quota_network",
            "quota_subnet",
            "quota_port",
            "quota_security_group",
            "quota_security_group_rule",
        ],
    ),
    ("tricircle", &[]),
    (
        "network",
        &[
            "tenant_network_types",
            "network_vlan_ranges",
            "vni_ranges",
            "flat_networks",
            "global_physnet_mtu",
        ],
    ),
    (
        "jobs",
        &[
            "workers",
            "lease_seconds",
            "poll_interval_seconds",
            "max_attempts",
            "backoff_cap_seconds",
        ],
    ),
];

/// `(section, option, value)`.
pub type Setting<'a> = (&'a str, &'a str, String);

/// The layers of [`Config::load_layers`].
pub struct Layers<'a> {
    pub defaults: &'a [Setting<'a>],
    pub file: Option<&'a Path>,
    pub flags: &'a [Setting<'a>],
    pub fixed: &'a [Setting<'a>],
}

/// Raw `(section, option) → (value, where it came from)`.
#[derive(Default)]
struct Raw {
    values: HashMap<(String, String), (String, String)>,
}

impl Raw {
    fn load_file(&mut self, path: &Path) -> Result<(), ConfigError> {
        let opt = ParseOption {
            enabled_quote: false,
            enabled_escape: false,
            ..Default::default()
        };
        let ini = Ini::load_from_file_opt(path, opt).map_err(|e| ConfigError::Read {
            path: path.display().to_string(),
            detail: e.to_string(),
        })?;
        for (section, props) in ini.iter() {
            let section = section.unwrap_or("DEFAULT");
            for (k, v) in props.iter() {
                self.values.insert(
                    (section.to_string(), k.trim().to_string()),
                    (v.trim().to_string(), path.display().to_string()),
                );
            }
        }
        Ok(())
    }

    fn apply_env(&mut self, vars: impl Iterator<Item = (String, String)>) {
        for (name, value) in vars {
            let Some(rest) = name.strip_prefix(ENV_PREFIX) else {
                continue;
            };
            let Some((section, option)) = rest.split_once("__") else {
                continue;
            };
            let section = if section.eq_ignore_ascii_case("default") {
                "DEFAULT".to_string()
            } else {
                section.to_ascii_lowercase()
            };
            self.values.insert(
                (section, option.to_ascii_lowercase()),
                (value, format!("environment variable {name}")),
            );
        }
    }

    fn check_known(&self) -> Result<(), ConfigError> {
        for ((section, option), (_, origin)) in &self.values {
            let known = KNOWN
                .iter()
                .find(|(s, _)| s == section)
                .is_some_and(|(_, opts)| opts.contains(&option.as_str()));
            // Sections of other programs (oslo.log, oslo.messaging …) may
            // share the file; only our own sections are checked.
            let ours = KNOWN.iter().any(|(s, _)| s == section);
            if ours && !known {
                return Err(ConfigError::Unknown {
                    section: section.clone(),
                    option: option.clone(),
                    origin: origin.clone(),
                });
            }
        }
        Ok(())
    }

    fn str(&self, section: &str, option: &str, default: &str) -> String {
        self.values
            .get(&(section.to_string(), option.to_string()))
            .map(|(v, _)| v.clone())
            .unwrap_or_else(|| default.to_string())
    }

    fn parse<T: FromStr>(
        &self,
        section: &str,
        option: &str,
        default: T,
        expected: &str,
        check: impl Fn(&T) -> bool,
    ) -> Result<T, ConfigError> {
        match self.values.get(&(section.to_string(), option.to_string())) {
            None => Ok(default),
            Some((v, origin)) => {
                v.parse::<T>()
                    .ok()
                    .filter(|t| check(t))
                    .ok_or_else(|| ConfigError::Invalid {
                        section: section.into(),
                        option: option.into(),
                        value: v.clone(),
                        origin: origin.clone(),
                        expected: expected.into(),
                    })
            }
        }
    }

    fn boolean(&self, section: &str, option: &str, default: bool) -> Result<bool, ConfigError> {
        match self.values.get(&(section.to_string(), option.to_string())) {
            None => Ok(default),
            Some((v, origin)) => match v.to_ascii_lowercase().as_str() {
                "true" | "yes" | "on" | "1" => Ok(true),
                "false" | "no" | "off" | "0" => Ok(false),
                _ => Err(ConfigError::Invalid {
                    section: section.into(),
                    option: option.into(),
                    value: v.clone(),
                    origin: origin.clone(),
                    expected: "true or false".into(),
                }),
            },
        }
    }

    fn choice<T: Copy>(
        &self,
        section: &str,
        option: &str,
        default: T,
        choices: &[(&str, T)],
    ) -> Result<T, ConfigError> {
        match self.values.get(&(section.to_string(), option.to_string())) {
            None => Ok(default),
            Some((v, origin)) => choices
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case(v))
                .map(|(_, t)| *t)
                .ok_or_else(|| ConfigError::Invalid {
                    section: section.into(),
                    option: option.into(),
                    value: v.clone(),
                    origin: origin.clone(),
                    expected: format!(
                        "one of {}",
                        choices
                            .iter()
                            .map(|(n, _)| *n)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                }),
        }
    }
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
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
        let d = "DEFAULT";
        let auth_strategy = r.choice(
            d,
            "auth_strategy",
            AuthStrategy::Keystone,
            &[
                ("keystone", AuthStrategy::Keystone),
                ("noauth", AuthStrategy::NoAuth),
            ],
        )?;
        let bind_host = r.str(d, "bind_host", "127.0.0.1");
        let admin_port = r.parse(
            d,
            "admin_port",
            19999u16,
            "a port number (0-65535; 0 picks a free port)",
            |_| true,
        )?;
        let compute_port = r.parse(
            d,
            "compute_port",
            19998u16,
            "a port number (0-65535; 0 picks a free port)",
            |_| true,
        )?;
        let volume_port = r.parse(
            d,
            "volume_port",
            19997u16,
            "a port number (0-65535; 0 picks a free port)",
            |_| true,
        )?;
        let network_port = r.parse(
            d,
            "network_port",
            9696u16,
            "a port number (0-65535; 0 picks a free port)",
            |_| true,
        )?;
        let max_request_body_size = r.parse(
            d,
            "max_request_body_size",
            1_048_576usize,
            "a size in bytes (1024 or more)",
            |v| *v >= 1024,
        )?;
        let max_inflight_requests = r.parse(
            d,
            "max_inflight_requests",
            1024usize,
            "an integer from 1 to 1000000",
            |v| (1..=1_000_000).contains(v),
        )?;
        let timeout = |option: &str, default: u64| {
            r.parse(d, option, default, "seconds (1-3600)", |v| {
                (1..=3600).contains(v)
            })
            .map(secs)
        };
        let client_timeouts = ClientTimeouts {
            header: timeout("client_header_timeout", 30)?,
            body: timeout("client_body_timeout", 60)?,
            send: timeout("client_send_timeout", 60)?,
        };
        let log_format = r.choice(
            d,
            "log_format",
            LogFormat::Text,
            &[("text", LogFormat::Text), ("json", LogFormat::Json)],
        )?;
        let debug = r.boolean(d, "debug", false)?;
        let ks = "keystone_authtoken";
        let auth_url = r.str(ks, "auth_url", "");
        let keystone = KeystoneConfig {
            www_authenticate_uri: r.str(ks, "www_authenticate_uri", &auth_url),
            auth_url: auth_url.clone(),
            username: r.str(ks, "username", "tricircle"),
            password: r.str(ks, "password", ""),
            project_name: r.str(ks, "project_name", "service"),
            user_domain_name: r.str(ks, "user_domain_name", "Default"),
            project_domain_name: r.str(ks, "project_domain_name", "Default"),
            token_cache_time: secs(r.parse(
                ks,
                "token_cache_time",
                300u64,
                "seconds (0-86400)",
                |v| *v <= 86_400,
            )?),
            http_connect_timeout: secs(r.parse(
                ks,
                "http_connect_timeout",
                10u64,
                "seconds (1-600)",
                |v| (1..=600).contains(v),
            )?),
        };
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
        let pod_timeout =
            secs(
                r.parse("client", "pod_timeout", 60u64, "seconds (1-3600)", |v| {
                    (1..=3600).contains(v)
                })?,
            );
        let client = ClientConfig {
            top_region_name: r.str("client", "top_region_name", "RegionOne"),
            endpoint_interface: r.choice(
                "client",
                "endpoint_interface",
                tricircle_pods::Interface::Public,
                &[
                    ("public", tricircle_pods::Interface::Public),
                    ("internal", tricircle_pods::Interface::Internal),
                    ("admin", tricircle_pods::Interface::Admin),
                ],
            )?,
            pod_timeout,
            list_deadline: Duration::from_millis(r.parse(
                "client",
                "list_deadline",
                10_000u64,
                "milliseconds (100-600000)",
                |v| (100..=600_000).contains(v),
            )?),
            idle_connection_timeout: Duration::from_millis(r.parse(
                "client",
                "idle_connection_timeout",
                1_000u64,
                "milliseconds (0-600000; 0 never reuses a connection)",
                |v| *v <= 600_000,
            )?),
            pod_max_idle_connections: r.parse(
                "client",
                "pod_max_idle_connections",
                32usize,
                "an integer from 0 to 10000",
                |v| *v <= 10_000,
            )?,
            pod_max_concurrent_requests: r.parse(
                "client",
                "pod_max_concurrent_requests",
                128usize,
                "an integer from 1 to 100000",
                |v| (1..=100_000).contains(v),
            )?,
            pod_queue_timeout: Duration::from_millis(r.parse(
                "client",
                "pod_queue_timeout",
                1_000u64,
                "milliseconds (0-60000)",
                |v| *v <= 60_000,
            )?),
            breaker: breaker_config(r)?,
            health: tricircle_pods::health::monitor::MonitorConfig {
                probe_interval: Some(secs(r.parse(
                    "client",
                    "pod_probe_interval",
                    10u64,
                    "seconds (0-3600; 0 turns probes off)",
                    |v| *v <= 3600,
                )?))
                .filter(|d| !d.is_zero()),
                // A probe is given as long as any call: a pod that is slow
                // but answers must not be taken for a dead one.
                probe_timeout: Duration::from_millis(r.parse(
                    "client",
                    "pod_probe_timeout",
                    u64::try_from(pod_timeout.as_millis()).unwrap_or(u64::MAX),
                    "milliseconds (100-600000)",
                    |v| (100..=600_000).contains(v),
                )?),
                refresh_interval: Duration::from_millis(r.parse(
                    "client",
                    "health_refresh_interval",
                    2_000u64,
                    "milliseconds (100-600000)",
                    |v| (100..=600_000).contains(v),
                )?),
            },
        };
        let quota_value = |name: &str, default: i64| {
            r.parse(
                "quota",
                name,
                default,
                "an integer, -1 for unlimited",
                |v| *v >= -1,
            )
        };
        let network = network_config(r, &quota_value)?;
        let quota = tricircle_store::Usage {
            instances: quota_value("instances", 10)?,
            cores: quota_value("cores", 20)?,
            ram_mb: quota_value("ram", 51_200)?,
            volumes: quota_value("volumes", 10)?,
            gigabytes: quota_value("gigabytes", 1000)?,
            snapshots: quota_value("snapshots", 10)?,
        };
        let jobs = JobsConfig {
            workers: r.parse("jobs", "workers", 2usize, "an integer from 1 to 256", |v| {
                (1..=256).contains(v)
            })?,
            lease: secs(
                r.parse("jobs", "lease_seconds", 60u64, "seconds (1-3600)", |v| {
                    (1..=3600).contains(v)
                })?,
            ),
            poll_interval: secs(r.parse(
                "jobs",
                "poll_interval_seconds",
                1u64,
                "seconds (1-3600)",
                |v| (1..=3600).contains(v),
            )?),
            max_attempts: r.parse(
                "jobs",
                "max_attempts",
                20u32,
                "an integer from 1 to 10000",
                |v| (1..=10_000).contains(v),
            )?,
            backoff_cap: secs(r.parse(
                "jobs",
                "backoff_cap_seconds",
                300u64,
                "seconds (1-86400)",
                |v| (1..=86_400).contains(v),
            )?),
        };
        if auth_strategy == AuthStrategy::Keystone {
            if keystone.auth_url.is_empty() {
                return Err(ConfigError::Missing {
                    section: "keystone_authtoken",
                    option: "auth_url",
                    why: "required when auth_strategy = keystone",
                });
            }
            if keystone.password.is_empty() {
                return Err(ConfigError::Missing {
                    section: "keystone_authtoken",
                    option: "password",
                    why: "required when auth_strategy = keystone",
                });
            }
            if url::Url::parse(&keystone.auth_url).is_err() {
                return Err(ConfigError::Invalid {
                    section: ks.into(),
                    option: "auth_url".into(),
                    value: keystone.auth_url.clone(),
                    origin: "configuration".into(),
                    expected: "an http(s) URL such as http://127.0.0.1:5000/v3".into(),
                });
            }
        }
        Ok(Config {
            bind_host,
            admin_port,
            compute_port,
            volume_port,
            network_port,
            auth_strategy,
            max_request_body_size,
            max_inflight_requests,
            client_timeouts,
            log_format,
            debug,
            database,
            keystone,
            client,
            quota,
            network,
            jobs,
        })
    }
}

/// The pods' circuit breakers, from `[client]`.
fn breaker_config(r: &Raw) -> Result<tricircle_pods::health::BreakerConfig, ConfigError> {
    let degraded_after = r.parse(
        "client",
        "pod_degraded_after_failures",
        1u32,
        "an integer from 1 to 1000",
        |v| (1..=1000).contains(v),
    )?;
    let down_after = r.parse(
        "client",
        "pod_down_after_failures",
        3u32.max(degraded_after),
        &format!("an integer from pod_degraded_after_failures ({degraded_after}) to 1000"),
        |v| (degraded_after..=1000).contains(v),
    )?;
    Ok(tricircle_pods::health::BreakerConfig {
        degraded_after,
        down_after,
        retry_interval: secs(r.parse(
            "client",
            "pod_retry_interval",
            10u64,
            "seconds (1-3600)",
            |v| (1..=3600).contains(v),
        )?),
    })
}

/// `[network]` and the network quotas of `[quota]`.
fn network_config(
    r: &Raw,
    quota_value: &dyn Fn(&str, i64) -> Result<i64, ConfigError>,
) -> Result<tricircle_network::NetworkConfig, ConfigError> {
    use tricircle_network::{NetworkConfig, NeutronQuotas};
    let defaults = NetworkConfig::default();
    let default_vni_ranges = defaults
        .vni_ranges
        .iter()
        .map(|(lo, hi)| format!("{lo}:{hi}"))
        .collect::<Vec<_>>()
        .join(",");
    let with = |option: &str, expected: &str| {
        let option = option.to_string();
        let expected = expected.to_string();
        move |e: String| {
            let (value, origin) = r
                .values
                .get(&("network".to_string(), option.clone()))
                .cloned()
                .unwrap_or_default();
            ConfigError::Invalid {
                section: "network".into(),
                option: option.clone(),
                value,
                origin,
                expected: format!("{expected} ({e})"),
            }
        }
    };
    let q = NeutronQuotas::default();
    Ok(NetworkConfig {
        tenant_network_types: NetworkConfig::parse_network_types(&r.str(
            "network",
            "tenant_network_types",
            &defaults.tenant_network_types.join(","),
        ))
        .map_err(with(
            "tenant_network_types",
            "a list of local, vlan, vxlan, flat",
        ))?,
        network_vlan_ranges: NetworkConfig::parse_vlan_ranges(&r.str(
            "network",
            "network_vlan_ranges",
            "",
        ))
        .map_err(with(
            "network_vlan_ranges",
            "physical_network[:min:max] items separated by commas",
        ))?,
        vni_ranges: NetworkConfig::parse_vni_ranges(&r.str(
            "network",
            "vni_ranges",
            &default_vni_ranges,
        ))
        .map_err(with("vni_ranges", "min:max items separated by commas"))?,
        flat_networks: r
            .str("network", "flat_networks", "*")
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect(),
        global_physnet_mtu: r.parse(
            "network",
            "global_physnet_mtu",
            defaults.global_physnet_mtu,
            "an MTU from 68 to 65535",
            |v| (68..=65_535).contains(v),
        )?,
        quotas: NeutronQuotas {
            network: quota_value("quota_network", q.network)?,
            subnet: quota_value("quota_subnet", q.subnet)?,
            port: quota_value("quota_port", q.port)?,
            security_group: quota_value("quota_security_group", q.security_group)?,
            security_group_rule: quota_value("quota_security_group_rule", q.security_group_rule)?,
        },
        ..defaults
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use std::io::Write;

    fn file(text: &str) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(text.as_bytes()).unwrap();
        f
    }

    const MINIMAL: &str =
        "[keystone_authtoken]\nauth_url = http://127.0.0.1:5000/v3\npassword = s3cret\n";

    #[test]
    fn defaults_and_file_values() {
        let f = file(&format!("[DEFAULT]\nadmin_port = 20000\n[database]\nconnection = postgresql://u:p@h/db\n{MINIMAL}"));
        let c = Config::load_with_env(Some(f.path()), std::iter::empty()).unwrap();
        assert_eq!(c.admin_port, 20000);
        assert_eq!(c.bind_host, "127.0.0.1");
        assert_eq!(c.database.connection, "postgresql://u:p@h/db");
        assert_eq!(c.keystone.password, "s3cret");
        assert_eq!(c.keystone.www_authenticate_uri, "http://127.0.0.1:5000/v3");
        assert_eq!(c.keystone.token_cache_time, Duration::from_secs(300));
        assert_eq!(
            c.client.endpoint_interface,
            tricircle_pods::Interface::Public
        );
        assert!(!format!("{c:?}").contains("s3cret"));
    }

    #[test]
    fn layers_defaults_file_env_flags_fixed() {
        let f = file(
            "[DEFAULT]\nadmin_port = 20000\ncompute_port = 20001\n\
             [network]\nnetwork_vlan_ranges = extern:3001:3002\ntenant_network_types = vlan\n\
             [database]\nconnection = sqlite:///elsewhere.db\n",
        );
        let defaults = [
            ("network", "network_vlan_ranges", "bridge:1:2".to_string()),
            ("DEFAULT", "volume_port", "20002".to_string()),
        ];
        let flags = [("DEFAULT", "compute_port", "0".to_string())];
        let fixed = [
            ("database", "connection", "sqlite:///demo.db".to_string()),
            (
                "keystone_authtoken",
                "auth_url",
                "http://127.0.0.1:1/v3".to_string(),
            ),
            ("keystone_authtoken", "password", "p".to_string()),
        ];
        let layers = Layers {
            defaults: &defaults,
            file: Some(f.path()),
            flags: &flags,
            fixed: &fixed,
        };
        let env = vec![(
            "TRICIRCLE__DEFAULT__NETWORK_PORT".to_string(),
            "20003".to_string(),
        )];
        let (c, replaced) = Config::load_layers(&layers, env.into_iter()).unwrap();
        assert_eq!(c.admin_port, 20000); // file over the built-in default
        assert_eq!(c.volume_port, 20002); // a default the file leaves alone
        assert_eq!(c.network_port, 20003); // environment
        assert_eq!(c.compute_port, 0); // a flag over the file
        assert_eq!(c.database.connection, "sqlite:///demo.db"); // fixed over the file
        assert_eq!(c.network.tenant_network_types, vec!["vlan".to_string()]);
        assert_eq!(c.network.network_vlan_ranges.len(), 1);
        assert_eq!(c.network.network_vlan_ranges[0].physical_network, "extern");
        assert_eq!(replaced, vec!["[database] connection".to_string()]);

        // No file: the defaults; a missing or invalid file is an error.
        let none = Layers {
            file: None,
            ..layers
        };
        let (c, replaced) = Config::load_layers(&none, std::iter::empty()).unwrap();
        assert_eq!(c.network.network_vlan_ranges[0].physical_network, "bridge");
        assert!(replaced.is_empty());
        let missing = std::path::Path::new("/nonexistent/tricircle-demo.conf");
        let e = Config::load_layers(
            &Layers {
                file: Some(missing),
                ..none
            },
            std::iter::empty(),
        )
        .err()
        .unwrap();
        assert!(
            e.to_string().contains("/nonexistent/tricircle-demo.conf"),
            "{e}"
        );
        let bad = file("[network]\nnetwork_vlan_ranges = extern:0:1\n");
        let e = Config::load_layers(
            &Layers {
                file: Some(bad.path()),
                ..none
            },
            std::iter::empty(),
        )
        .err()
        .unwrap();
        assert!(e.to_string().contains("network_vlan_ranges"), "{e}");
    }

    #[test]
    fn env_overrides_file() {
        let f = file(MINIMAL);
        let env = vec![
            (
                "TRICIRCLE__DEFAULT__ADMIN_PORT".to_string(),
                "21000".to_string(),
            ),
            (
                "TRICIRCLE__DATABASE__CONNECTION".to_string(),
                "sqlite:///tmp/x.db".to_string(),
            ),
            ("UNRELATED".to_string(), "x".to_string()),
        ];
        let c = Config::load_with_env(Some(f.path()), env.into_iter()).unwrap();
        assert_eq!(c.admin_port, 21000);
        assert_eq!(c.database.connection, "sqlite:///tmp/x.db");
    }

    #[test]
    fn errors_name_the_option() {
        let cases = [
            ("[DEFAULT]\nadmin_port = http\n", "[DEFAULT] admin_port"),
            (
                "[DEFAULT]\nauth_strategy = basic\n",
                "[DEFAULT] auth_strategy",
            ),
            ("[DEFAULT]\nadmin_prot = 1\n", "[DEFAULT] admin_prot"),
            (
                "[database]\nconnection = mysql://x\n",
                "[database] connection",
            ),
            (
                "[keystone_authtoken]\nauth_url = http://h/v3\n",
                "[keystone_authtoken] password",
            ),
            (
                "[keystone_authtoken]\npassword = x\n",
                "[keystone_authtoken] auth_url",
            ),
            (
                "[DEFAULT]\nauth_strategy = noauth\ndebug = maybe\n",
                "[DEFAULT] debug",
            ),
        ];
        for (text, needle) in cases {
            let f = file(text);
            let e = Config::load_with_env(Some(f.path()), std::iter::empty())
                .err()
                .unwrap_or_else(|| panic!("{text} accepted"));
            assert!(e.to_string().contains(needle), "{e} should name {needle}");
        }
    }

    #[test]
    fn overload_and_client_bounds() {
        let c = Config::load_with_env(Some(file(MINIMAL).path()), std::iter::empty()).unwrap();
        assert_eq!(c.max_inflight_requests, 1024);
        assert_eq!(
            c.client_timeouts,
            ClientTimeouts {
                header: Duration::from_secs(30),
                body: Duration::from_secs(60),
                send: Duration::from_secs(60),
            }
        );
        let f = file(&format!(
            "{MINIMAL}[DEFAULT]\nmax_inflight_requests = 50\nclient_body_timeout = 5\n"
        ));
        let c = Config::load_with_env(Some(f.path()), std::iter::empty()).unwrap();
        assert_eq!(c.max_inflight_requests, 50);
        assert_eq!(c.client_timeouts.body, Duration::from_secs(5));
        for (text, option) in [
            (
                "max_inflight_requests = 0",
                "[DEFAULT] max_inflight_requests",
            ),
            (
                "client_header_timeout = 0",
                "[DEFAULT] client_header_timeout",
            ),
            (
                "client_send_timeout = forever",
                "[DEFAULT] client_send_timeout",
            ),
        ] {
            let f = file(&format!("{MINIMAL}[DEFAULT]\n{text}\n"));
            let e = Config::load_with_env(Some(f.path()), std::iter::empty()).unwrap_err();
            assert!(e.to_string().contains(option), "{e}");
        }
    }

    #[test]
    fn jobs_section() {
        let f = file(MINIMAL);
        let c = Config::load_with_env(Some(f.path()), std::iter::empty()).unwrap();
        assert_eq!((c.jobs.workers, c.jobs.max_attempts), (2, 20));
        assert_eq!(c.jobs.lease, Duration::from_secs(60));
        let f = file(&format!(
            "{MINIMAL}[jobs]\nworkers = 8\nlease_seconds = 30\n"
        ));
        let c = Config::load_with_env(Some(f.path()), std::iter::empty()).unwrap();
        assert_eq!((c.jobs.workers, c.jobs.lease), (8, Duration::from_secs(30)));
        let f = file(&format!("{MINIMAL}[jobs]\nworkers = 0\n"));
        let e = Config::load_with_env(Some(f.path()), std::iter::empty()).unwrap_err();
        assert!(e.to_string().contains("[jobs] workers"), "{e}");
    }

    #[test]
    fn client_section() {
        let c = Config::load_with_env(Some(file(MINIMAL).path()), std::iter::empty()).unwrap();
        assert_eq!(
            c.client.idle_connection_timeout,
            Duration::from_millis(1000)
        );
        assert_eq!(
            (
                c.client.pod_max_idle_connections,
                c.client.pod_max_concurrent_requests
            ),
            (32, 128)
        );
        assert_eq!(
            c.client.breaker,
            tricircle_pods::health::BreakerConfig::default()
        );
        // Probes wait as long as any call, by default.
        assert_eq!(
            c.client.health,
            tricircle_pods::health::monitor::MonitorConfig {
                probe_timeout: c.client.pod_timeout,
                ..Default::default()
            }
        );
        let f = file(&format!(
            "{MINIMAL}[client]\ntop_region_name = Top\nidle_connection_timeout = 0\n\
             pod_down_after_failures = 5\npod_retry_interval = 30\npod_probe_interval = 0\n\
             health_refresh_interval = 500\npod_queue_timeout = 250\n"
        ));
        let c = Config::load_with_env(Some(f.path()), std::iter::empty()).unwrap();
        assert_eq!(c.client.top_region_name, "Top");
        assert_eq!(c.client.idle_connection_timeout, Duration::ZERO);
        assert_eq!(c.client.breaker.down_after, 5);
        assert_eq!(c.client.breaker.retry_interval, Duration::from_secs(30));
        assert_eq!(c.client.health.probe_interval, None);
        assert_eq!(c.client.health.refresh_interval, Duration::from_millis(500));
        assert_eq!(c.client.pod_queue_timeout, Duration::from_millis(250));
        for (text, option) in [
            (
                "[client]\npod_degraded_after_failures = 4\npod_down_after_failures = 2\n",
                "[client] pod_down_after_failures",
            ),
            (
                "[client]\npod_max_concurrent_requests = 0\n",
                "[client] pod_max_concurrent_requests",
            ),
            (
                "[client]\npod_probe_timeout = 5\n",
                "[client] pod_probe_timeout",
            ),
        ] {
            let f = file(&format!("{MINIMAL}{text}"));
            let e = Config::load_with_env(Some(f.path()), std::iter::empty()).unwrap_err();
            assert!(e.to_string().contains(option), "{e}");
        }
    }

    #[test]
    fn foreign_sections_are_left_alone() {
        let f = file(&format!("{MINIMAL}[oslo_messaging_rabbit]\nanything = 1\n"));
        assert!(Config::load_with_env(Some(f.path()), std::iter::empty()).is_ok());
    }

    #[test]
    fn missing_file_is_an_error() {
        let e = Config::load_with_env(Some(Path::new("/nonexistent/t.conf")), std::iter::empty());
        assert!(matches!(e, Err(ConfigError::Read { .. })));
    }

    #[test]
    fn network_section() {
        let c = Config::load_with_env(Some(file(MINIMAL).path()), std::iter::empty()).unwrap();
        assert_eq!(c.network_port, 9696);
        assert_eq!(c.network, tricircle_network::NetworkConfig::default());
        let f = file(&format!(
            "{MINIMAL}[DEFAULT]\nnetwork_port = 9797\n[network]\ntenant_network_types = vlan,local\n\
             network_vlan_ranges = physnet1:100:199,ext\nvni_ranges = 10:20\nglobal_physnet_mtu = 9000\n\
             [quota]\nquota_network = 3\nquota_port = -1\n"
        ));
        let c = Config::load_with_env(Some(f.path()), std::iter::empty()).unwrap();
        assert_eq!(c.network_port, 9797);
        assert_eq!(c.network.tenant_network_types, ["vlan", "local"]);
        assert_eq!(c.network.network_vlan_ranges.len(), 2);
        assert_eq!(c.network.network_vlan_ranges[0].range, Some((100, 199)));
        assert_eq!(c.network.vni_ranges, [(10, 20)]);
        assert_eq!(c.network.global_physnet_mtu, 9000);
        assert_eq!((c.network.quotas.network, c.network.quotas.port), (3, -1));
        for (text, option) in [
            (
                "[network]\ntenant_network_types = gre\n",
                "[network] tenant_network_types",
            ),
            (
                "[network]\nnetwork_vlan_ranges = p:0:5000\n",
                "[network] network_vlan_ranges",
            ),
            ("[network]\nvni_ranges = 5\n", "[network] vni_ranges"),
            ("[quota]\nquota_subnet = -5\n", "[quota] quota_subnet"),
        ] {
            let f = file(&format!("{MINIMAL}{text}"));
            let e = Config::load_with_env(Some(f.path()), std::iter::empty()).unwrap_err();
            assert!(e.to_string().contains(option), "{e}");
        }
    }

    /// The sample documents exactly the options we read.
    #[test]
    fn sample_documents_every_option() {
        let sample = include_str!("../../../etc/tricircle.conf.sample");
        for (section, options) in KNOWN {
            assert!(
                sample.contains(&format!("[{section}]")),
                "sample lacks [{section}]"
            );
            for o in *options {
                assert!(
                    sample.contains(&format!("#{o} =")) || sample.contains(&format!("{o} =")),
                    "sample lacks [{section}] {o}"
                );
            }
        }
    }
}
