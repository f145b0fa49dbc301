//! Typed job payloads: one serde type per job type. The type names its job
//! type and the keys of its JSON object; the [`Registry`](crate::Registry)
//! derives the schema the admin API checks from it, parses each job's
//! `resource` into it before the handler runs, and [`JobPayload::new_job`]
//! records it. The stored JSON is the type's serde form, so a payload type
//! must read the rows its untyped predecessor wrote.

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use tricircle_store::{Job, NewJob};

use crate::registry::{JobError, ResourceKeys};

/// The input of one job type.
pub trait JobPayload: Serialize + DeserializeOwned + Send + Sync + 'static {
    /// The job type whose jobs carry this payload.
    const JOB_TYPE: &'static str;
    /// The keys of its JSON object, as `GET /v1.0/jobs/schemas` shows them:
    /// those naming the resource, further required ones (all non-empty
    /// strings), and optional ones.
    const KEYS: ResourceKeys<'static>;

    /// The job's resource id: jobs of one type and resource id coalesce,
    /// and only one of them runs at a time.
    fn resource_id(&self) -> String;

    /// A job carrying this payload, for `project_id`.
    fn new_job(&self, project_id: &str) -> Result<NewJob, serde_json::Error> {
        Ok(NewJob {
            job_type: Self::JOB_TYPE.to_string(),
            project_id: project_id.to_string(),
            resource_id: self.resource_id(),
            resource: serde_json::to_value(self)?,
        })
    }

    /// The payload of a stored job. Every key naming the resource or
    /// required must be a non-empty string (as the untyped handlers asked);
    /// keys the type does not know are ignored, as they were. A job whose
    /// payload does not parse cannot run: it FAILs, for an operator.
    fn from_job(job: &Job) -> Result<Self, JobError> {
        let keys = Self::KEYS;
        for name in keys.id.iter().chain(keys.required) {
            let present = job
                .resource
                .get(*name)
                .and_then(Value::as_str)
                .is_some_and(|s| !s.is_empty());
            if !present {
                return Err(JobError::Fatal(format!(
                    "the job's resource lacks '{name}'"
                )));
            }
        }
        parse_resource::<Self>(&job.resource).map_err(JobError::Fatal)
    }
}

/// `resource` as a `P`, or why not.
pub(crate) fn parse_resource<P: JobPayload>(resource: &Value) -> Result<P, String> {
    P::deserialize(resource)
        .map_err(|e| format!("resource of a {} job is not valid: {e}", P::JOB_TYPE))
}

/// Jobs for this crate's unit tests.
#[cfg(test)]
pub(crate) mod tests_support {
    use serde_json::Value;
    use tricircle_store::{Job, JobStatus};

    pub(crate) fn job(job_type: &str, resource: Value) -> Job {
        Job {
            id: "j".into(),
            job_type: job_type.into(),
            status: JobStatus::Running,
            project_id: "p".into(),
            resource_id: String::new(),
            resource,
            attempts: 0,
            run_after: None,
            lease_owner: None,
            lease_expires_at: None,
            last_error: None,
            created_at: String::new(),
            updated_at: String::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde::Deserialize;
    use serde_json::json;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct RouterSetup {
        pod_id: String,
        router_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        note: Option<String>,
    }

    impl JobPayload for RouterSetup {
        const JOB_TYPE: &'static str = "router_setup";
        const KEYS: ResourceKeys<'static> = ResourceKeys {
            id: &["pod_id", "router_id"],
            required: &[],
            optional: &["note"],
        };
        fn resource_id(&self) -> String {
            format!("{}#{}", self.pod_id, self.router_id)
        }
    }

    fn job(resource: Value) -> Job {
        tests_support::job("router_setup", resource)
    }

    #[test]
    fn payloads_make_jobs_and_read_them_back() {
        let p = RouterSetup {
            pod_id: "p1".into(),
            router_id: "r1".into(),
            note: None,
        };
        let j = p.new_job("proj").unwrap();
        assert_eq!(j.job_type, "router_setup");
        assert_eq!(j.project_id, "proj");
        assert_eq!(j.resource_id, "p1#r1");
        assert_eq!(j.resource, json!({"pod_id": "p1", "router_id": "r1"}));
        assert_eq!(RouterSetup::from_job(&job(j.resource)).unwrap(), p);
        // Keys it does not know are ignored when reading.
        let extra = job(json!({"pod_id": "p1", "router_id": "r1", "x": 1}));
        assert_eq!(RouterSetup::from_job(&extra).unwrap(), p);
    }

    #[test]
    fn unreadable_payloads_fail_for_good() {
        let e = RouterSetup::from_job(&job(json!({"pod_id": "p1"}))).unwrap_err();
        assert_eq!(
            e,
            JobError::Fatal("the job's resource lacks 'router_id'".into())
        );
        let e = RouterSetup::from_job(&job(json!({"pod_id": "", "router_id": "r"}))).unwrap_err();
        assert_eq!(
            e,
            JobError::Fatal("the job's resource lacks 'pod_id'".into())
        );
        let e = RouterSetup::from_job(&job(json!({"pod_id": "p", "router_id": "r", "note": 5})))
            .unwrap_err();
        assert!(
            matches!(&e, JobError::Fatal(m) if m.starts_with("resource of a router_setup job is not valid")),
            "{e:?}"
        );
    }
}
