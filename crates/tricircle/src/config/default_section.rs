//! `[DEFAULT]`: listeners, authentication, request limits, logging.

use super::raw::{secs, Raw};
use super::{AuthStrategy, ClientTimeouts, ConfigError, LogFormat};

/// The `[DEFAULT]` options, read in the order their errors are reported.
pub(super) struct DefaultSection {
    pub auth_strategy: AuthStrategy,
    pub bind_host: String,
    pub admin_port: u16,
    pub compute_port: u16,
    pub volume_port: u16,
    pub network_port: u16,
    pub max_request_body_size: usize,
    pub max_inflight_requests: usize,
    pub client_timeouts: ClientTimeouts,
    pub log_format: LogFormat,
    pub debug: bool,
}

impl DefaultSection {
    pub(super) fn parse(r: &Raw) -> Result<Self, ConfigError> {
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
        let port = |option: &str, default: u16| {
            r.parse(
                d,
                option,
                default,
                "a port number (0-65535; 0 picks a free port)",
                |_| true,
            )
        };
        let admin_port = port("admin_port", 19999)?;
        let compute_port = port("compute_port", 19998)?;
        let volume_port = port("volume_port", 19997)?;
        let network_port = port("network_port", 9696)?;
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
        Ok(DefaultSection {
            auth_strategy,
            bind_host,
            admin_port,
            compute_port,
            volume_port,
            network_port,
            max_request_body_size,
            max_inflight_requests,
            client_timeouts,
            log_format,
            debug,
        })
    }
}
