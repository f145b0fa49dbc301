//! `[client]`: how the top talks to Keystone and the pods (timeouts,
//! pools, circuit breakers, health probes).

use std::time::Duration;

use super::raw::{secs, Raw};
use super::ConfigError;

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

pub(super) fn client_config(r: &Raw) -> Result<ClientConfig, ConfigError> {
    let pod_timeout = secs(
        r.parse("client", "pod_timeout", 60u64, "seconds (1-3600)", |v| {
            (1..=3600).contains(v)
        })?,
    );
    Ok(ClientConfig {
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
    })
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
