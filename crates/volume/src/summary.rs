//! `GET /volumes/summary` (3.12+): the pods' summaries added up.

use serde_json::{json, Map, Value};
use tricircle_gateway::{Caller, Gateway};
use tricircle_pods::PodPath;

use crate::cinder::{forward, refusal, Request};
use crate::error::Result;
use crate::kind::{pods_holding, VOLUMES};

/// The volumes of the pods asked, added up.
#[derive(Debug, Default)]
pub struct Summary {
    pub total_count: i64,
    pub total_size: i64,
    /// Every metadata key with the values found for it.
    pub metadata: Map<String, Value>,
    /// The pods that failed or did not answer before the list deadline.
    pub skipped: Vec<String>,
}

pub async fn summary(
    gw: &Gateway,
    caller: &Caller,
    everyone: bool,
    query: Option<String>,
) -> Result<Summary> {
    let pods = pods_holding(
        gw,
        &caller.project_id,
        VOLUMES.resource_type,
        everyone,
        None,
    )
    .await?;
    let asks = pods.iter().map(|pod| {
        let query = query.clone();
        async move {
            let request = Request::get(PodPath::fixed("/volumes/summary")).query(query);
            let answer =
                tokio::time::timeout(gw.list_deadline, forward(gw, caller, pod, request)).await;
            match answer {
                Ok(Ok(a)) if a.is_success() => Ok(a
                    .json()
                    .map(|mut v| v["volume-summary"].take())
                    .unwrap_or_default()),
                Ok(Ok(a)) => Err(refusal(&a).to_string()),
                Ok(Err(e)) => Err(e.to_string()),
                Err(_) => Err("did not answer before its deadline".to_string()),
            }
        }
    });
    let answers = futures::future::join_all(asks).await;
    let mut out = Summary::default();
    for (pod, answer) in pods.iter().zip(answers) {
        match answer {
            Ok(s) => add(&mut out, &s),
            Err(why) => {
                tracing::warn!(pod = %pod.pod_name, %why, "pod skipped in volume summary");
                out.skipped.push(pod.pod_name.clone());
            }
        }
    }
    Ok(out)
}

/// Adds one pod's summary.
fn add(out: &mut Summary, s: &Value) {
    out.total_count += s["total_count"].as_i64().unwrap_or(0);
    out.total_size += s["total_size"].as_i64().unwrap_or(0);
    if let Some(m) = s["metadata"].as_object() {
        for (k, vals) in m {
            let entry = out.metadata.entry(k.clone()).or_insert_with(|| json!([]));
            if let (Some(have), Some(new)) = (entry.as_array_mut(), vals.as_array()) {
                for v in new {
                    if !have.contains(v) {
                        have.push(v.clone());
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries_add_up() {
        let mut out = Summary::default();
        add(
            &mut out,
            &json!({"total_count": 2, "total_size": 3, "metadata": {"k": ["a"]}}),
        );
        add(
            &mut out,
            &json!({"total_count": 1, "total_size": 4, "metadata": {"k": ["a", "b"]}}),
        );
        assert_eq!((out.total_count, out.total_size), (3, 7));
        assert_eq!(out.metadata["k"], json!(["a", "b"]));
    }
}
