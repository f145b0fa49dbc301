//! What API versions the pods speak, so that the gateways advertise only
//! what every pod can answer. Read from each pod's version document and
//! kept a few minutes.

use std::time::Duration;

use moka::future::Cache;
use serde_json::Value;
use tricircle_pods::{PodClient, PodRequest};

/// `(pod, service type)` → the pod's newest microversion, `(major, minor)`;
/// and, per service type, the answer over all bottom pods, kept a little
/// while so that a request does not read the pods table each time.
#[derive(Clone)]
pub struct PodVersions {
    cache: Cache<(String, &'static str), Option<(u16, u16)>>,
    combined: Cache<&'static str, Option<(u16, u16)>>,
}

impl Default for PodVersions {
    fn default() -> Self {
        PodVersions {
            cache: Cache::builder()
                .time_to_live(Duration::from_secs(300))
                .max_capacity(10_000)
                .build(),
            combined: Cache::builder()
                .time_to_live(Duration::from_secs(30))
                .max_capacity(16)
                .build(),
        }
    }
}

impl PodVersions {
    /// The newest version every bottom pod speaks for `service_type`
    /// (`None` when no pod can tell). A pod added since is counted within
    /// 30 seconds.
    pub async fn newest_of_bottom_pods(
        &self,
        store: &tricircle_store::Store,
        client: &PodClient,
        service_type: &'static str,
    ) -> Option<(u16, u16)> {
        self.combined
            .get_with(service_type, async move {
                let pods: Vec<String> = match store.list_pods().await {
                    Ok(p) => p
                        .into_iter()
                        .filter(|p| !p.is_top())
                        .map(|p| p.pod_name)
                        .collect(),
                    Err(e) => {
                        tracing::warn!(error = %e, "pods unreadable for version negotiation");
                        Vec::new()
                    }
                };
                self.newest_common(client, &pods, service_type).await
            })
            .await
    }

    /// The lowest "newest version" among `pods` for `service_type`, from
    /// the version document at the service's catalog URL (its `version`
    /// field). Pods that cannot tell are left out.
    pub async fn newest_common(
        &self,
        client: &PodClient,
        pods: &[String],
        service_type: &'static str,
    ) -> Option<(u16, u16)> {
        let lookups = pods.iter().map(|pod| {
            let key = (pod.clone(), service_type);
            let client = client.clone();
            let pod = pod.clone();
            async move {
                self.cache
                    .get_with(key, async move { fetch(&client, &pod, service_type).await })
                    .await
            }
        });
        futures::future::join_all(lookups)
            .await
            .into_iter()
            .flatten()
            .min()
    }
}

async fn fetch(client: &PodClient, pod: &str, service_type: &str) -> Option<(u16, u16)> {
    let req = PodRequest {
        pod: pod.to_string(),
        service_type: service_type.to_string(),
        method: http::Method::GET,
        path: tricircle_pods::PodPath::fixed("/"),
        query: None,
        token: String::new(),
        project_id: String::new(),
        request_id: None,
        headers: Default::default(),
        body: None,
    };
    let resp = tokio::time::timeout(Duration::from_secs(5), client.send(&req))
        .await
        .ok()?
        .ok()?;
    let doc: Value = serde_json::from_slice(&resp.body).ok()?;
    // Nova answers `{"version": {...}}` at its versioned root, Cinder
    // `{"versions": [{...}]}`.
    let v = doc["version"]["version"]
        .as_str()
        .or_else(|| doc["versions"][0]["version"].as_str())?;
    parse_version(v)
}

/// `X.Y` as numbers; `None` for anything else.
pub fn parse_version(s: &str) -> Option<(u16, u16)> {
    let (a, b) = s.trim().split_once('.')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}
