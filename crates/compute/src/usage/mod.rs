//! `os-simple-tenant-usage`: the usage of every pod, as one.
//!
//! Pods are asked for their server usages (detailed), in parallel; the
//! server usages are concatenated in pod order, cut at the limit (Nova's
//! `max_limit`, or the client's from 2.40) and each project's totals are
//! summed from them ([`sum`]). Projects are the same in every pod (one
//! Keystone), so a project with servers in two pods is one entry. A
//! `marker` (2.40) is a server: its pod continues after it, the pods after
//! it from their start.

pub mod sum;

use serde_json::Value;
use tricircle_gateway::ask_all::Ask;
use tricircle_gateway::Caller;
use tricircle_pods::PodPath;

use crate::error::ComputeError;
use crate::hypervisors::Gathering;
use crate::Compute;

/// Nova's `[api] max_limit`.
pub const MAX_LIMIT: usize = 1000;

/// A usage request, parsed.
#[derive(Debug, Clone, Default)]
pub struct UsageQuery {
    /// One project's usage (always detailed), or every project's.
    pub tenant: Option<String>,
    /// Every project's usage with its server usages.
    pub detailed: bool,
    /// The client's `detailed`, passed on for one project's usage (the
    /// pods refuse it from 2.75 on).
    pub detailed_param: Option<String>,
    /// Paged (2.40): `limit` and `marker` count.
    pub paged: bool,
    pub limit: Option<usize>,
    pub marker: Option<String>,
    /// Passed to every pod as they are (`start`, `end`, ...).
    pub pass: Vec<(String, String)>,
    pub strict: bool,
}

/// The usage entries, and where the next page begins (the page is full).
#[derive(Debug)]
pub struct Usages {
    pub entries: Vec<Value>,
    pub next_marker: Option<String>,
}

fn encode(pairs: &[(String, String)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

impl Compute {
    /// The usage `q` asks of every pod, summed.
    pub async fn usage(&self, caller: &Caller, q: &UsageQuery) -> Gathering<Usages> {
        let cap = q.limit.unwrap_or(MAX_LIMIT).min(MAX_LIMIT);
        let asks = self.usage_asks(caller, q, cap).await?;
        let asked = self.ask_each(caller, asks, "compute", q.strict).await?;
        if let Some(e) = asked.refusal(&[]) {
            return Ok(asked.gathered(self, Err(e.into()), "usage"));
        }
        let bodies = asked.successes().map(|r| &r.body);
        let (mut all, period) = sum::server_usages(bodies, q.tenant.is_some());
        all.truncate(cap);
        let last_id = all
            .last()
            .and_then(|u| u["instance_id"].as_str())
            .map(str::to_string);
        // Nova links the next page whenever the page is full.
        let full = q.paged && cap > 0 && all.len() == cap;
        let entries = sum::by_tenant(all, &period, q.detailed);
        let usages = Usages {
            entries,
            next_marker: last_id.filter(|_| full),
        };
        Ok(asked.gathered(self, Ok(usages), "usage"))
    }

    /// What to ask each pod: the pods from the marker's on, the marker's
    /// pod from after it.
    async fn usage_asks(
        &self,
        caller: &Caller,
        q: &UsageQuery,
        cap: usize,
    ) -> Result<Vec<Ask>, ComputeError> {
        let mut pass = q.pass.clone();
        if q.tenant.is_none() {
            // Totals are summed here, from every server's usage.
            pass.push(("detailed".into(), "1".into()));
        } else if let Some(d) = &q.detailed_param {
            pass.push(("detailed".into(), d.clone()));
        }
        if q.paged {
            pass.push(("limit".into(), cap.to_string()));
        }
        let mut pods = self.bottom_pods().await?;
        let mut marker_pod = None;
        if let Some(m) = &q.marker {
            let not_found = || ComputeError::BadRequest(format!("Marker {m} could not be found."));
            let (_, pod) = self
                .routed_pod(caller, tricircle_core::ResourceType::Server, m)
                .await?
                .ok_or_else(not_found)?;
            let at = pods
                .iter()
                .position(|p| p.pod_id == pod.pod_id)
                .ok_or_else(not_found)?;
            pods.drain(..at);
            marker_pod = Some(pod.pod_id);
        }
        let path = match &q.tenant {
            Some(t) => PodPath::of(["os-simple-tenant-usage", t]),
            None => PodPath::fixed("/os-simple-tenant-usage"),
        };
        Ok(pods
            .into_iter()
            .map(|pod| {
                let mut query = pass.clone();
                if let (Some(m), Some(mp)) = (&q.marker, &marker_pod) {
                    if *mp == pod.pod_id {
                        query.push(("marker".into(), m.clone()));
                    }
                }
                Ask {
                    pod,
                    path: path.clone(),
                    query: Some(encode(&query)),
                }
            })
            .collect())
    }
}
