//! Every pod's hypervisors as one list (`os-hypervisors`, admin only).
//!
//! Names are qualified by pod (`Pod1:pod1-compute1`, see
//! [`qualified_host`](tricircle_gateway::ask_all::qualified_host)). From
//! 2.53 ids are the pods' UUIDs, passed through (a show asks every pod);
//! before 2.53 they are integers of our own, one per (pod, hypervisor),
//! stable (the pods' own numbers collide). The list is gathered whole from
//! every pod and paged here (hypervisors are few); statistics are summed.

use http::{Method, StatusCode};
use serde_json::{json, Map, Value};
use tricircle_gateway::ask_all::{qualify_field, split_qualified, Asked, Gathered};
use tricircle_gateway::{Caller, PodAnswer, PodCall};
use tricircle_pods::PodPath;
use tricircle_store::Pod;

use crate::error::{ComputeError, Result};
use crate::Compute;

/// Kinds of our integer ids (before 2.53).
const HYPERVISOR: &str = "hypervisor";
pub const COMPUTE_SERVICE: &str = "compute_service";

const WHAT: &str = "hypervisors";

/// What a question to every pod gives: the answer or an error found in
/// the pods' answers, with the pods left out.
pub type Gathering<T> = Result<Gathered<T, ComputeError>>;

/// A hypervisor list request, parsed.
#[derive(Debug, Clone, Default)]
pub struct HypervisorQuery {
    pub detail: bool,
    pub limit: Option<usize>,
    pub marker: Option<String>,
    /// Only hypervisors whose qualified name contains it.
    pub pattern: Option<String>,
    /// Passed to every pod as they are.
    pub pass: Vec<(String, String)>,
    /// The pods' UUIDs as ids (2.53), not ours.
    pub uuids: bool,
    pub strict: bool,
}

/// One page of hypervisors.
#[derive(Debug)]
pub struct HypervisorPage {
    pub hypervisors: Vec<Value>,
    /// The page is full: the next begins after this id.
    pub next_marker: Option<String>,
}

/// One hypervisor, or the pod's own answer when it had none to give.
pub enum Shown {
    /// `{"hypervisor": ...}` in top terms.
    Body(Value),
    /// The pod's answer, passed on as it is.
    Pod(PodAnswer),
}

/// An id as text (`1`, or a UUID).
pub fn id_text(v: &Value) -> Option<String> {
    match v {
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) => Some(s.clone()),
        _ => None,
    }
}

fn encode(pairs: &[(String, String)]) -> Option<String> {
    (!pairs.is_empty()).then(|| {
        url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish()
    })
}

fn not_matching(pattern: &str) -> ComputeError {
    ComputeError::NotFound(format!(
        "No hypervisor matching '{pattern}' could be found."
    ))
}

impl Compute {
    /// Replaces the pod's integer id in `item[field]` by ours.
    pub async fn number_to_top(
        &self,
        pod: &Pod,
        item: &mut Value,
        field: &str,
        kind: &str,
    ) -> Result<()> {
        if let Some(bottom) = item.get(field).and_then(id_text) {
            item[field] = json!(self.store.numeric_id(&pod.pod_id, kind, &bottom).await?);
        }
        Ok(())
    }

    /// A pod's hypervisor in top terms: qualified names, our ids unless
    /// `uuids`.
    async fn hypervisor_to_top(&self, pod: &Pod, h: &mut Value, uuids: bool) -> Result<()> {
        qualify_field(h, "hypervisor_hostname", pod);
        if !uuids {
            self.number_to_top(pod, h, "id", HYPERVISOR).await?;
        }
        if let Some(svc) = h.get_mut("service") {
            qualify_field(svc, "host", pod);
            if !uuids {
                self.number_to_top(pod, svc, "id", COMPUTE_SERVICE).await?;
            }
        }
        Ok(())
    }

    /// Every pod's hypervisors (`/os-hypervisors[/detail]?query`), in top
    /// terms, with their pods; without `uuids` sorted by our id, as Nova
    /// sorts by its own.
    async fn gather(
        &self,
        caller: &Caller,
        q: &HypervisorQuery,
    ) -> Result<(Asked, Vec<(Pod, Value)>)> {
        let pods = self.bottom_pods().await?;
        let path = if q.detail {
            PodPath::fixed("/os-hypervisors/detail")
        } else {
            PodPath::fixed("/os-hypervisors")
        };
        let query = encode(&q.pass);
        let asked = self
            .ask_pods(caller, pods, "compute", &path, query.as_deref(), q.strict)
            .await?;
        if let Some(e) = asked.refusal(&[]) {
            return Err(e.into());
        }
        let mut items = Vec::new();
        for r in asked.successes() {
            for h in r.body["hypervisors"].as_array().into_iter().flatten() {
                let mut h = h.clone();
                self.hypervisor_to_top(&r.pod, &mut h, q.uuids).await?;
                items.push((r.pod.clone(), h));
            }
        }
        if !q.uuids {
            items.sort_by_key(|(_, h)| h["id"].as_i64().unwrap_or(i64::MAX));
        }
        Ok((asked, items))
    }

    /// `GET /os-hypervisors[/detail]`: one page of every pod's hypervisors.
    pub async fn hypervisors(
        &self,
        caller: &Caller,
        q: &HypervisorQuery,
    ) -> Gathering<HypervisorPage> {
        let (asked, items) = self.gather(caller, q).await?;
        let page = page(items.into_iter().map(|(_, h)| h).collect(), q);
        Ok(asked.gathered(self, page, WHAT))
    }

    /// One hypervisor (`tail`: `uptime`), found by its id.
    pub async fn hypervisor(
        &self,
        caller: &Caller,
        id: &str,
        tail: Option<&str>,
        query: Option<String>,
        uuids: bool,
        strict: bool,
    ) -> Gathering<Shown> {
        let not_found =
            || ComputeError::NotFound(format!("Hypervisor with ID '{id}' could not be found."));
        if uuids {
            if uuid::Uuid::try_parse(id).is_err() {
                return Err(ComputeError::BadRequest(format!("Invalid uuid {id}")));
            }
            let mut path = PodPath::of(["os-hypervisors", id]);
            if let Some(t) = tail {
                path = path.push(t);
            }
            // UUIDs are the pods' own: the pod that has it answers.
            let pods = self.bottom_pods().await?;
            let asked = self
                .ask_pods(caller, pods, "compute", &path, query.as_deref(), strict)
                .await?;
            if let Some(e) = asked.refusal(&[StatusCode::NOT_FOUND]) {
                return Ok(asked.gathered(self, Err(e.into()), WHAT));
            }
            let Some(r) = asked.successes().next() else {
                return Ok(asked.gathered(self, Err(not_found()), WHAT));
            };
            let mut h = r.body["hypervisor"].clone();
            self.hypervisor_to_top(&r.pod, &mut h, uuids).await?;
            return Ok(asked.gathered(self, Ok(Shown::Body(json!({ "hypervisor": h }))), WHAT));
        }
        let n: i64 = id.trim().parse().map_err(|_| not_found())?;
        let (pod_id, bottom) = self
            .store
            .numeric_id_target(HYPERVISOR, n)
            .await?
            .ok_or_else(not_found)?;
        let pod = self.store.find_pod(&pod_id).await?.ok_or_else(not_found)?;
        let mut path = PodPath::of(["os-hypervisors", &bottom]);
        if let Some(t) = tail {
            path = path.push(t);
        }
        let answer = self.ask_hypervisor_pod(caller, &pod, path, query).await?;
        if answer.status == StatusCode::NOT_FOUND {
            return Err(not_found());
        }
        let Some(mut doc) = answer.json().filter(|_| answer.is_success()) else {
            return Ok(Gathered {
                answer: Ok(Shown::Pod(answer)),
                skipped: Vec::new(),
            });
        };
        answer.links.rewrite_json(&mut doc);
        self.hypervisor_to_top(&pod, &mut doc["hypervisor"], uuids)
            .await?;
        Ok(Gathered {
            answer: Ok(Shown::Body(doc)),
            skipped: Vec::new(),
        })
    }

    async fn ask_hypervisor_pod(
        &self,
        caller: &Caller,
        pod: &Pod,
        path: PodPath,
        query: Option<String>,
    ) -> Result<PodAnswer> {
        Ok(self
            .call(
                caller,
                PodCall {
                    pod,
                    service_type: "compute",
                    method: Method::GET,
                    path,
                    query,
                    headers: &caller.pass_headers,
                    body: None,
                },
            )
            .await?)
    }

    /// `GET /os-hypervisors/statistics` (until 2.87): the pods' sums,
    /// summed.
    pub async fn hypervisor_statistics(
        &self,
        caller: &Caller,
        strict: bool,
    ) -> Gathering<Map<String, Value>> {
        let pods = self.bottom_pods().await?;
        let path = PodPath::fixed("/os-hypervisors/statistics");
        let asked = self
            .ask_pods(caller, pods, "compute", &path, None, strict)
            .await?;
        if let Some(e) = asked.refusal(&[]) {
            return Err(e.into());
        }
        let mut sums: Map<String, Value> = [
            "count",
            "vcpus",
            "memory_mb",
            "local_gb",
            "vcpus_used",
            "memory_mb_used",
            "local_gb_used",
            "free_ram_mb",
            "free_disk_gb",
            "current_workload",
            "running_vms",
            "disk_available_least",
        ]
        .into_iter()
        .map(|k| (k.to_string(), json!(0)))
        .collect();
        for r in asked.successes() {
            for (k, v) in r.body["hypervisor_statistics"]
                .as_object()
                .into_iter()
                .flatten()
            {
                let Some(n) = v.as_i64() else { continue };
                let sum = sums.get(k).and_then(Value::as_i64).unwrap_or(0);
                sums.insert(k.clone(), json!(sum.saturating_add(n)));
            }
        }
        Ok(asked.gathered(self, Ok(sums), WHAT))
    }

    /// The hypervisors whose qualified name contains `pattern` (until
    /// 2.52); none is Nova's 404.
    async fn matching(
        &self,
        caller: &Caller,
        pattern: &str,
        strict: bool,
    ) -> Result<(Asked, Result<Vec<(Pod, Value)>>)> {
        let q = HypervisorQuery {
            strict,
            ..Default::default()
        };
        let (asked, mut items) = self.gather(caller, &q).await?;
        items.retain(|(_, h)| {
            h["hypervisor_hostname"]
                .as_str()
                .is_some_and(|n| n.contains(pattern))
        });
        if items.is_empty() {
            return Ok((asked, Err(not_matching(pattern))));
        }
        Ok((asked, Ok(items)))
    }

    /// `GET /os-hypervisors/{pattern}/search` (until 2.52).
    pub async fn search_hypervisors(
        &self,
        caller: &Caller,
        pattern: &str,
        strict: bool,
    ) -> Gathering<Vec<Value>> {
        let (asked, items) = self.matching(caller, pattern, strict).await?;
        let items = items.map(|items| items.into_iter().map(|(_, h)| h).collect());
        Ok(asked.gathered(self, items, WHAT))
    }

    /// `GET /os-hypervisors/{pattern}/servers` (until 2.52): the matching
    /// hypervisors, each with its servers as its pod lists them.
    pub async fn hypervisor_servers(
        &self,
        caller: &Caller,
        pattern: &str,
        strict: bool,
    ) -> Gathering<Vec<Value>> {
        let (asked, items) = self.matching(caller, pattern, strict).await?;
        let items = match items {
            Ok(items) => items,
            Err(e) => return Ok(asked.gathered(self, Err(e), WHAT)),
        };
        let mut out = Vec::new();
        for (pod, mut h) in items {
            let Some(name) = h["hypervisor_hostname"].as_str().map(str::to_string) else {
                continue;
            };
            let bottom = split_qualified(&name).map_or(name.as_str(), |(_, host)| host);
            let path = PodPath::of(["os-hypervisors", bottom, "servers"]);
            let answer = self.ask_hypervisor_pod(caller, &pod, path, None).await?;
            let servers = answer
                .json()
                .filter(|_| answer.is_success())
                .and_then(|doc| {
                    doc["hypervisors"].as_array().and_then(|list| {
                        list.iter()
                            .find(|b| b["hypervisor_hostname"].as_str() == Some(bottom))
                            .and_then(|b| b.get("servers").cloned())
                    })
                });
            if let Some(s) = servers {
                h["servers"] = s;
            }
            out.push(h);
        }
        Ok(asked.gathered(self, Ok(out), WHAT))
    }
}

/// The page `q` asks of every hypervisor, in order.
fn page(mut items: Vec<Value>, q: &HypervisorQuery) -> Result<HypervisorPage> {
    if let Some(p) = &q.pattern {
        items.retain(|h| {
            h["hypervisor_hostname"]
                .as_str()
                .is_some_and(|n| n.contains(p.as_str()))
        });
        if items.is_empty() {
            return Err(not_matching(p));
        }
    }
    if let Some(m) = &q.marker {
        let Some(pos) = items
            .iter()
            .position(|h| id_text(&h["id"]).as_deref() == Some(m.as_str()))
        else {
            return Err(ComputeError::BadRequest(format!("marker [{m}] not found")));
        };
        items.drain(..=pos);
    }
    let mut next_marker = None;
    if let Some(l) = q.limit {
        items.truncate(l);
        // Nova links the next page whenever the page is full.
        if l > 0 && items.len() == l {
            next_marker = items.last().and_then(|h| id_text(&h["id"]));
        }
    }
    Ok(HypervisorPage {
        hypervisors: items,
        next_marker,
    })
}
