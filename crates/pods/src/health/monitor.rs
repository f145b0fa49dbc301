//! What keeps the health view fresh in a running gateway: a probe of every
//! bottom pod as Tricircle's service user, and the sync with the shared
//! view on every local state change and every refresh interval.

use std::sync::Arc;
use std::time::Duration;

use futures::stream::{self, StreamExt};
use reqwest::Method;
use serde_json::Value;
use tricircle_store::Store;

use crate::forward::{PodClient, ServiceCall, ServiceCallError};
use crate::keystone::KeystoneClient;
use crate::path::PodPath;

/// How many pods are probed at once.
const PROBE_CONCURRENCY: usize = 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MonitorConfig {
    /// How often every bottom pod is probed; `None`: never (the breakers
    /// then learn from calls only).
    pub probe_interval: Option<Duration>,
    /// How long a probe waits for the pod.
    pub probe_timeout: Duration,
    /// How often the shared view is read back: the bound on how stale
    /// another instance's news can be here.
    pub refresh_interval: Duration,
}

impl Default for MonitorConfig {
    fn default() -> Self {
        MonitorConfig {
            probe_interval: Some(Duration::from_secs(10)),
            probe_timeout: Duration::from_secs(5),
            refresh_interval: Duration::from_secs(2),
        }
    }
}

/// What one probe found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeOutcome {
    /// The pod answered; with its free capacity when it could be read.
    Answered {
        status: u16,
        capacity: Option<(u64, u64)>,
    },
    /// The pod failed (timeout, unreachable, 502/503/504): counted.
    Failed(String),
    /// Nothing learnt about the pod (Keystone unavailable, no compute
    /// endpoint): not counted.
    Skipped(String),
}

pub struct HealthMonitor {
    pub pods: PodClient,
    pub keystone: Arc<KeystoneClient>,
    pub store: Store,
    pub cfg: MonitorConfig,
}

/// Free `(vcpus, ram_mb)` over the enabled, up hypervisors of a Nova
/// `GET /os-hypervisors/detail` answer at microversion 2.1 (from 2.88 on
/// Nova no longer reports them there). Overcommitted hypervisors count 0.
pub fn free_capacity(body: &Value) -> Option<(u64, u64)> {
    let hypervisors = body.get("hypervisors")?.as_array()?;
    let mut seen = false;
    let (mut vcpus, mut ram) = (0u64, 0u64);
    for h in hypervisors {
        if h.get("state").and_then(Value::as_str) == Some("down")
            || h.get("status").and_then(Value::as_str) == Some("disabled")
        {
            continue;
        }
        let int = |k: &str| h.get(k).and_then(Value::as_i64);
        let (Some(total), Some(used)) = (int("vcpus"), int("vcpus_used")) else {
            continue;
        };
        let free_ram =
            int("free_ram_mb").or_else(|| Some(int("memory_mb")? - int("memory_mb_used")?));
        let Some(free_ram) = free_ram else {
            continue;
        };
        seen = true;
        vcpus = vcpus.saturating_add(u64::try_from(total.saturating_sub(used)).unwrap_or(0));
        ram = ram.saturating_add(u64::try_from(free_ram).unwrap_or(0));
    }
    seen.then_some((vcpus, ram))
}

impl HealthMonitor {
    /// Probes `pod`: Nova's hypervisor list, as the service user, whatever
    /// the breaker says (the probe is the half-open trial that needs no
    /// traffic). The outcome feeds the breaker like any call.
    pub async fn probe(&self, pod: &str) -> ProbeOutcome {
        let call = ServiceCall {
            pod,
            service_type: "compute",
            method: Method::GET,
            path: PodPath::fixed("/os-hypervisors/detail"),
            query: None,
            body: None,
        };
        match self
            .pods
            .probe_as_service(&self.keystone, call, self.cfg.probe_timeout)
            .await
        {
            Ok(resp) if matches!(resp.status, 502..=504) => {
                ProbeOutcome::Failed(format!("HTTP {}", resp.status))
            }
            Ok(resp) => {
                let capacity = (resp.status == 200)
                    .then(|| serde_json::from_slice::<Value>(&resp.body).ok())
                    .flatten()
                    .and_then(|v| free_capacity(&v));
                if let Some((vcpus, ram)) = capacity {
                    self.pods.health().set_capacity(pod, vcpus, ram);
                    metrics::gauge!("tricircle_pod_free_vcpus", "pod" => pod.to_string())
                        .set(vcpus as f64);
                    metrics::gauge!("tricircle_pod_free_ram_mb", "pod" => pod.to_string())
                        .set(ram as f64);
                }
                ProbeOutcome::Answered {
                    status: resp.status,
                    capacity,
                }
            }
            Err(ServiceCallError::Pod(e)) if e.counts_against_pod() => {
                ProbeOutcome::Failed(e.to_string())
            }
            Err(e) => {
                tracing::debug!(%pod, error = %e, "pod probe skipped");
                ProbeOutcome::Skipped(e.to_string())
            }
        }
    }

    /// Probes every bottom pod (a few at a time).
    pub async fn probe_all(&self) -> Vec<(String, ProbeOutcome)> {
        let pods = match self.store.list_pods().await {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(error = %e, "pod probe: cannot list pods");
                return Vec::new();
            }
        };
        stream::iter(pods.into_iter().filter(|p| !p.is_top()))
            .map(|p| async move {
                let outcome = self.probe(&p.pod_name).await;
                (p.pod_name, outcome)
            })
            .buffer_unordered(PROBE_CONCURRENCY)
            .collect()
            .await
    }

    /// Writes and reads the shared view once.
    pub async fn sync(&self) {
        if let Err(e) = self.pods.health().sync(&self.store).await {
            tracing::warn!(error = %e, "pod health: cannot sync with the database");
        }
    }

    /// Probes and syncs until `shutdown`.
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()>) {
        let syncing = async {
            let mut tick = tokio::time::interval(self.cfg.refresh_interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = self.pods.health().changed().notified() => {}
                }
                self.sync().await;
            }
        };
        let probing = async {
            let Some(every) = self.cfg.probe_interval else {
                return std::future::pending().await;
            };
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                self.probe_all().await;
            }
        };
        tokio::select! {
            _ = shutdown => {}
            _ = syncing => {}
            _ = probing => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn capacity_sums_enabled_hypervisors_and_floors_overcommit() {
        let body = json!({"hypervisors": [
            {"state": "up", "status": "enabled", "vcpus": 64, "vcpus_used": 4, "free_ram_mb": 1000},
            {"state": "up", "status": "enabled", "vcpus": 8, "vcpus_used": 20, "free_ram_mb": -50},
            {"state": "down", "status": "enabled", "vcpus": 64, "vcpus_used": 0, "free_ram_mb": 9999},
            {"state": "up", "status": "disabled", "vcpus": 64, "vcpus_used": 0, "free_ram_mb": 9999},
            {"state": "up", "status": "enabled", "vcpus": 2, "vcpus_used": 1, "memory_mb": 300, "memory_mb_used": 100},
        ]});
        assert_eq!(free_capacity(&body), Some((61, 1200)));
        // 2.88+ answers without the figures: unknown, not zero.
        let modern = json!({"hypervisors": [{"state": "up", "status": "enabled", "uptime": "x"}]});
        assert_eq!(free_capacity(&modern), None);
        assert_eq!(free_capacity(&json!({"error": 1})), None);
    }
}
