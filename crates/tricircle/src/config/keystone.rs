//! `[keystone_authtoken]`: how the top validates tokens and its own
//! service credentials.

use std::time::Duration;

use super::raw::{secs, Raw};
use super::ConfigError;

const SECTION: &str = "keystone_authtoken";

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

pub(super) fn keystone_config(r: &Raw) -> Result<KeystoneConfig, ConfigError> {
    let ks = SECTION;
    let auth_url = r.str(ks, "auth_url", "");
    Ok(KeystoneConfig {
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
    })
}

/// With `auth_strategy = keystone`, the URL and password must be set (and
/// the URL a URL). Checked after every section has been read.
pub(super) fn check_required(keystone: &KeystoneConfig) -> Result<(), ConfigError> {
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
            section: SECTION.into(),
            option: "auth_url".into(),
            value: keystone.auth_url.clone(),
            origin: "configuration".into(),
            expected: "an http(s) URL such as http://127.0.0.1:5000/v3".into(),
        });
    }
    Ok(())
}
