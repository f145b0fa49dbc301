//! `[quota]`: the compute and volume quotas (the network ones are read
//! with `[network]`).

use super::raw::Raw;
use super::ConfigError;

/// One `[quota]` value: an integer, -1 for unlimited.
pub(super) fn quota_value(r: &Raw, name: &str, default: i64) -> Result<i64, ConfigError> {
    r.parse(
        "quota",
        name,
        default,
        "an integer, -1 for unlimited",
        |v| *v >= -1,
    )
}

pub(super) fn quota_config(r: &Raw) -> Result<tricircle_store::Usage, ConfigError> {
    Ok(tricircle_store::Usage {
        instances: quota_value(r, "instances", 10)?,
        cores: quota_value(r, "cores", 20)?,
        ram_mb: quota_value(r, "ram", 51_200)?,
        volumes: quota_value(r, "volumes", 10)?,
        gigabytes: quota_value(r, "gigabytes", 1000)?,
        snapshots: quota_value(r, "snapshots", 10)?,
    })
}
