//! `[jobs]`: the job engine.

use std::time::Duration;

use super::raw::{secs, Raw};
use super::ConfigError;

/// `[jobs]`: the job engine `serve` runs (roles `all` and `worker`).
#[derive(Debug, Clone)]
pub struct JobsConfig {
    pub workers: usize,
    pub lease: Duration,
    pub poll_interval: Duration,
    pub max_attempts: u32,
    pub backoff_cap: Duration,
}

pub(super) fn jobs_config(r: &Raw) -> Result<JobsConfig, ConfigError> {
    Ok(JobsConfig {
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
    })
}
