//! The raw layers of settings: `(section, option) → (value, origin)`, and
//! typed reads that name the option and its origin in errors.

use std::collections::HashMap;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use ini::{Ini, ParseOption};

use super::ConfigError;

const ENV_PREFIX: &str = "TRICIRCLE__";

/// Every option we know, per section. Anything else is an error, so a typo
/// in an option name is reported instead of silently ignored.
pub(super) const KNOWN: &[(&str, &[&str])] = &[
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
            "quota_router",
            "quota_floatingip",
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

/// Raw `(section, option) → (value, where it came from)`.
#[derive(Default)]
pub(super) struct Raw {
    pub(super) values: HashMap<(String, String), (String, String)>,
}

impl Raw {
    pub(super) fn load_file(&mut self, path: &Path) -> Result<(), ConfigError> {
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

    pub(super) fn apply_env(&mut self, vars: impl Iterator<Item = (String, String)>) {
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

    pub(super) fn check_known(&self) -> Result<(), ConfigError> {
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

    pub(super) fn str(&self, section: &str, option: &str, default: &str) -> String {
        self.values
            .get(&(section.to_string(), option.to_string()))
            .map(|(v, _)| v.clone())
            .unwrap_or_else(|| default.to_string())
    }

    pub(super) fn parse<T: FromStr>(
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

    pub(super) fn boolean(
        &self,
        section: &str,
        option: &str,
        default: bool,
    ) -> Result<bool, ConfigError> {
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

    pub(super) fn choice<T: Copy>(
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

pub(super) fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}
