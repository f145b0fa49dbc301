//! Jobs that settle a create whose answer was lost (BEHAVIOUR §7): the
//! mechanism the server and volume checks share; each domain registers its
//! own kind ([`register_kind`]).
//!
//! When a pod does not answer a server or volume create in time, the pod may
//! or may not have made it, and the user was told 503; when the gateway dies
//! while the pod works, nobody is told anything. So every create records a
//! check job just before the pod is asked ([`Gateway::expect_create`]), and
//! recording the pod's answer cancels it; a check that runs found its create
//! unsettled. The check finds what the pod made for that request — same
//! project, user and name, created around the time of the request, and with
//! no routing (a create that was answered records its routing at once) — and
//! deletes it, so the user's retry does not leave a twin that nobody sees and
//! that still counts in the pod.
//!
//! A candidate is judged only once it is older than `settle`: until then a
//! concurrent create of the same name may still be about to record its
//! routing, and the lost request may still be about to be served.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, Utc};
use http::Method;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tricircle_jobs::{Job, JobError, JobPayload, Registry};
use tricircle_network::bottom::Bottom;
use tricircle_pods::{KeystoneClient, PodClient, PodPath, ServiceCall};
use tricircle_store::{NewJob, RoutingFilter, Store, StoreError};

use crate::Gateway;
use tricircle_core::ResourceType;

/// Pod clocks may differ from ours by this much.
const CLOCK_SKEW: Duration = Duration::from_secs(60);

/// How long a check waits before judging, for pods called with
/// `pod_timeout`: the lost request may be served until its timeout, and a
/// concurrent create of the same name records its routing right after its
/// answer.
pub fn settle_for(pod_timeout: Duration) -> Duration {
    pod_timeout * 2
}

/// How long a quota reservation counts without being completed: covers
/// the pod calls between reserving and recording what the pod made (copies
/// into the pod, the create itself), each bounded by `pod_timeout`. A
/// gateway that dies in between leaks nothing for longer than this.
pub fn reservation_ttl(pod_timeout: Duration) -> Duration {
    pod_timeout * 4
}

/// What every create check carries: where the create went and what the
/// check looks for there. Each kind's payload holds one (flattened: the
/// stored JSON is one object).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateCheck {
    /// The request id the create was sent with.
    pub request_id: String,
    pub pod_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_id: Option<String>,
    /// The name asked for (a volume may have none).
    #[serde(default)]
    pub name: Option<String>,
    /// Who asked: what the pod made is theirs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
}

/// The payload of one kind's check job.
pub trait CheckPayload: JobPayload {
    fn create(&self) -> &CreateCheck;
}

impl Gateway {
    /// Records, just before a pod is asked to create, the check job that
    /// settles the create should its outcome never be recorded, and gives
    /// the create's `reservations` another [`reservation_ttl`]. The job
    /// waits [`settle_for`] the pod timeout; recording the outcome cancels
    /// it. `resource` names the pod, the request and what to look for. The
    /// job's resource id is ours (a client's request id is not unique).
    pub async fn expect_create<P: CheckPayload>(
        &self,
        check: &P,
        project_id: &str,
        reservations: &[i64],
    ) -> Result<String, StoreError> {
        let resource = serde_json::to_value(check)
            .map_err(|e| StoreError::Corrupt(format!("a create check's payload: {e}")))?;
        let job = NewJob {
            job_type: P::JOB_TYPE.to_string(),
            project_id: project_id.to_string(),
            resource_id: uuid::Uuid::new_v4().to_string(),
            resource,
        };
        let timeout = self.pods.timeout();
        self.store
            .expect_create(
                &job,
                settle_for(timeout),
                reservations,
                reservation_ttl(timeout),
            )
            .await
    }

    /// How long a quota reservation of a create made now counts.
    pub fn reservation_ttl(&self) -> Duration {
        reservation_ttl(self.pods.timeout())
    }
}

/// What the check jobs use.
#[derive(Clone)]
pub struct CheckDeps {
    pub store: Store,
    pub pods: PodClient,
    pub keystone: Arc<KeystoneClient>,
    /// The top network, for the ports a lost boot made; absent without it.
    pub network: Option<Bottom>,
    /// How long a pod may take to serve a request and a gateway to record
    /// what it made: at least the pod timeout.
    pub settle: Duration,
}

/// One kind of resource a check looks for.
pub struct Kind {
    pub service_type: &'static str,
    /// The detailed list, relative to the service's catalog URL.
    pub list_path: &'static str,
    pub list_key: &'static str,
    /// Where a member is, for the delete: `{collection}/{id}`.
    pub collection: &'static str,
    pub created_key: &'static str,
    /// The routing table's resource type.
    pub resource_type: ResourceType,
}

/// Registers the check of `kind` (jobs carrying a `P`) in `registry`:
/// [`check`], then `after` (what else the kind's check settles, such as a
/// lost boot's ports).
pub fn register_kind<P, A, Fut>(
    registry: Registry,
    deps: CheckDeps,
    kind: &'static Kind,
    after: A,
) -> Registry
where
    P: CheckPayload,
    A: Fn(CheckDeps, P) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), JobError>> + Send + 'static,
{
    let after = Arc::new(after);
    registry.on::<P, _, _>(move |payload: P, job: Job| {
        let d = deps.clone();
        let after = after.clone();
        async move {
            check(&d, kind, payload.create(), &job).await?;
            after(d, payload).await
        }
    })
}

/// A pod's timestamp: Nova's `2026-12-07T05:42:36Z`, Cinder's
/// `2026-12-07T05:42:36.000000` (UTC without a zone).
fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f")
        .ok()
        .map(|t| t.and_utc())
}

fn chrono_of(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

/// The list query for `project_id`'s members named `name`: Nova matches
/// `name` as a regular expression, Cinder as is.
fn list_query(kind: &Kind, project_id: &str, name: Option<&str>) -> String {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    q.append_pair("all_tenants", "1")
        .append_pair("project_id", project_id);
    if let Some(n) = name {
        if kind.service_type == "compute" {
            q.append_pair("name", &format!("^{}$", regex::escape(n)));
        } else {
            q.append_pair("name", n);
        }
    }
    q.finish()
}

impl CheckDeps {
    /// One call to a pod's `service_type` as Tricircle's service user.
    async fn call(
        &self,
        pod: &str,
        service_type: &str,
        method: Method,
        path: PodPath,
        query: Option<String>,
    ) -> Result<(u16, Value), JobError> {
        let call = ServiceCall {
            pod,
            service_type,
            method,
            path,
            query,
            body: None,
        };
        let resp = self
            .pods
            .send_as_service(&self.keystone, call)
            .await
            .map_err(|e| JobError::Retry(e.to_string()))?;
        let body = serde_json::from_slice(&resp.body).unwrap_or(Value::Null);
        Ok((resp.status, body))
    }

    async fn routed(&self, kind: &Kind, id: &str) -> Result<bool, JobError> {
        let page = self
            .store
            .list_routings(
                &RoutingFilter {
                    top_id: Some(id.to_string()),
                    resource_type: Some(kind.resource_type),
                    ..RoutingFilter::default()
                },
                None,
                1,
            )
            .await
            .map_err(|e| JobError::Retry(e.to_string()))?;
        Ok(!page.routings.is_empty())
    }
}

/// Finds and deletes what the unsettled create `c` of `job` made.
pub async fn check(d: &CheckDeps, kind: &Kind, c: &CreateCheck, job: &Job) -> Result<(), JobError> {
    let pod = c.pod_name.as_str();
    let request_id = c.request_id.as_str();
    let user = c.user_id.as_deref().unwrap_or("");
    // A volume may have no name; a server always has one.
    let name = c.name.as_deref();
    let asked = parse_time(&job.created_at)
        .ok_or_else(|| JobError::Fatal(format!("bad job time '{}'", job.created_at)))?;
    let settle = chrono_of(d.settle);
    let now = Utc::now();
    if now < asked + settle {
        return Err(JobError::Retry(format!(
            "waiting for {pod} to settle request {request_id}"
        )));
    }

    let query = list_query(kind, &job.project_id, name);
    let (status, body) = d
        .call(
            pod,
            kind.service_type,
            Method::GET,
            PodPath::fixed(kind.list_path),
            Some(query),
        )
        .await?;
    if !(200..300).contains(&status) {
        return Err(JobError::Retry(format!(
            "{pod} answered {status} to the list of {}",
            kind.list_key
        )));
    }
    let items = body
        .get(kind.list_key)
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();

    let window = settle + chrono_of(CLOCK_SKEW);
    let mut undecided = 0;
    for item in &items {
        let Some(id) = item.get("id").and_then(Value::as_str) else {
            continue;
        };
        let item_name = item.get("name").and_then(Value::as_str);
        if item_name.unwrap_or("") != name.unwrap_or("") {
            continue;
        }
        if !user.is_empty() && item.get("user_id").and_then(Value::as_str) != Some(user) {
            continue;
        }
        let Some(created) = item
            .get(kind.created_key)
            .and_then(Value::as_str)
            .and_then(parse_time)
        else {
            continue;
        };
        if created < asked - window || created > asked + window {
            continue;
        }
        if d.routed(kind, id).await? {
            continue;
        }
        // A volume still being made cannot be deleted yet.
        let busy = matches!(
            item.get("status").and_then(Value::as_str),
            Some("creating" | "downloading")
        );
        if created + settle > now || busy {
            undecided += 1;
            continue;
        }
        let (status, body) = d
            .call(
                pod,
                kind.service_type,
                Method::DELETE,
                PodPath::fixed(kind.collection).push(id),
                None,
            )
            .await?;
        if !((200..300).contains(&status) || status == 404) {
            return Err(JobError::Retry(format!(
                "{pod} refused to delete {} {id}: {status} {body}",
                kind.resource_type
            )));
        }
        tracing::info!(%pod, %id, %request_id, kind = %kind.resource_type,
            "deleted what a create without an answer made");
    }
    if undecided > 0 {
        return Err(JobError::Retry(format!(
            "{undecided} {} in {pod} too recent to judge",
            kind.list_key
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pod_times_parse_in_both_formats() {
        let nova = parse_time("2026-12-07T05:42:36Z").unwrap();
        let cinder = parse_time("2026-12-07T05:42:36.000000").unwrap();
        assert_eq!(nova, cinder);
        assert!(parse_time("yesterday").is_none());
    }

    #[test]
    fn names_are_matched_literally() {
        let name = |q: &str| {
            url::form_urlencoded::parse(q.as_bytes())
                .find(|(k, _)| k == "name")
                .map(|(_, v)| v.into_owned())
        };
        const SERVER: Kind = Kind {
            service_type: "compute",
            list_path: "/servers/detail",
            list_key: "servers",
            collection: "/servers",
            created_key: "created",
            resource_type: ResourceType::Server,
        };
        const VOLUME: Kind = Kind {
            service_type: "volumev3",
            ..SERVER
        };
        let q = list_query(&SERVER, "p1", Some("web-1.a (x)"));
        assert_eq!(name(&q).as_deref(), Some(r"^web\-1\.a \(x\)$"));
        assert!(q.starts_with("all_tenants=1&project_id=p1&"), "{q}");
        let q = list_query(&VOLUME, "p1", Some("web-1.a (x)"));
        assert_eq!(name(&q).as_deref(), Some("web-1.a (x)"));
        assert_eq!(name(&list_query(&VOLUME, "p1", None)), None);
    }
}
