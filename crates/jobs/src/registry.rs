//! Job types: what runs a job of each type, and which resource keys it needs.

use std::collections::BTreeMap;
use std::future::Future;
use std::marker::PhantomData;
use std::sync::Arc;

use futures::future::BoxFuture;
use serde::Serialize;
use serde_json::Value;
use tricircle_store::Job;

use crate::payload::{parse_resource, JobPayload};

/// Why a run did not succeed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JobError {
    /// Transient (a pod down, a timeout, a lost race): run again after a
    /// back-off, up to the engine's `max_attempts`.
    #[error("{0}")]
    Retry(String),
    /// Bad input or a state no retry can fix: the job FAILs at once and
    /// waits for an operator (redo or delete through the admin API).
    #[error("{0}")]
    Fatal(String),
}

/// Runs jobs of one type.
///
/// **Handlers must be idempotent.** A job may run more than once for the
/// same request: after a retry, after a worker died mid-run and its lease
/// expired, after a shutdown interrupted it, or when newer requests were
/// coalesced into it (the job then carries the newest `resource` payload).
/// Write every step as "make it so" (get-or-create, delete-if-present), never
/// as "do it once".
pub trait Handler: Send + Sync + 'static {
    fn run<'a>(&'a self, job: &'a Job) -> BoxFuture<'a, Result<(), JobError>>;
}

/// A [`Handler`] from an async closure taking the job by value.
pub fn handler_fn<F, Fut>(f: F) -> impl Handler
where
    F: Fn(Job) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), JobError>> + Send + 'static,
{
    FnHandler(f)
}

struct FnHandler<F>(F);

impl<F, Fut> Handler for FnHandler<F>
where
    F: Fn(Job) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), JobError>> + Send + 'static,
{
    fn run<'a>(&'a self, job: &'a Job) -> BoxFuture<'a, Result<(), JobError>> {
        Box::pin((self.0)(job.clone()))
    }
}

/// The non-empty string `name` of a job's `resource`; a job without it
/// cannot run (it FAILs, for an operator to look at).
pub fn resource_str<'a>(job: &'a Job, name: &str) -> Result<&'a str, JobError> {
    job.resource
        .get(name)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| JobError::Fatal(format!("the job's resource lacks '{name}'")))
}

/// The keys of a job type's `resource` object.
#[derive(Debug, Clone, Copy, Default)]
pub struct ResourceKeys<'a> {
    /// Keys naming the resource (non-empty strings): their values, joined
    /// by `#`, are the job's resource id (coalescing and the
    /// one-running-job rule are per type and resource id).
    pub id: &'a [&'a str],
    /// Further keys the handler needs (non-empty strings).
    pub required: &'a [&'a str],
    /// Keys the handler reads when present (any JSON value).
    pub optional: &'a [&'a str],
}

impl<'a> ResourceKeys<'a> {
    /// A resource named by `id` keys, needing nothing else.
    pub fn id(id: &'a [&'a str]) -> Self {
        ResourceKeys {
            id,
            ..Default::default()
        }
    }
}

/// A job type and the keys of its `resource` object, as
/// `GET /v1.0/jobs/schemas` shows it: `resource` lists every key a job must
/// have (those naming the resource first), `optional` the keys it may have.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JobSchema {
    #[serde(rename = "type")]
    pub job_type: String,
    pub resource: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub optional: Vec<String>,
    /// How many of `resource`'s keys name the resource.
    #[serde(skip)]
    id_keys: usize,
    /// For a typed job type: its payload parser.
    #[serde(skip)]
    typed: Option<TypedParse>,
}

/// Parses a `resource` as a job type's payload and answers its resource id.
#[derive(Clone, Copy)]
struct TypedParse(fn(&Value) -> Result<String, String>);

impl std::fmt::Debug for TypedParse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TypedParse")
    }
}

/// A job type has one payload type: schemas of one type are equal whatever
/// the parser's address.
impl PartialEq for TypedParse {
    fn eq(&self, _: &TypedParse) -> bool {
        true
    }
}

impl Eq for TypedParse {}

fn typed_resource_id<P: JobPayload>(resource: &Value) -> Result<String, String> {
    parse_resource::<P>(resource).map(|p| p.resource_id())
}

impl JobSchema {
    fn new(job_type: &str, keys: ResourceKeys<'_>) -> JobSchema {
        let owned = |ks: &[&str]| ks.iter().map(|k| k.to_string()).collect::<Vec<_>>();
        let mut resource = owned(keys.id);
        resource.extend(owned(keys.required));
        JobSchema {
            job_type: job_type.to_string(),
            resource,
            optional: owned(keys.optional),
            id_keys: keys.id.len(),
            typed: None,
        }
    }

    /// The schema of `P`'s job type: its keys, and `P` parses what passes.
    pub fn of<P: JobPayload>() -> JobSchema {
        JobSchema {
            typed: Some(TypedParse(typed_resource_id::<P>)),
            ..JobSchema::new(P::JOB_TYPE, P::KEYS)
        }
    }

    /// The resource id of a job of this type: for a typed job type, the
    /// payload's; otherwise the values of the keys naming the resource, in
    /// schema order, joined by `#` (as the original did).
    pub fn resource_id(&self, resource: &Value) -> String {
        if let Some(Ok(id)) = self.typed.map(|t| (t.0)(resource)) {
            return id;
        }
        self.resource[..self.id_keys]
            .iter()
            .map(|k| match resource.get(k) {
                Some(Value::String(s)) => s.clone(),
                Some(v) => v.to_string(),
                None => String::new(),
            })
            .collect::<Vec<_>>()
            .join("#")
    }

    /// Checks an operator-given `resource`: an object with every required
    /// key, each a non-empty string, and no key the type does not know;
    /// for a typed job type, one that parses as its payload. The message
    /// names what is wrong (all the missing keys at once).
    pub fn check(&self, resource: &Value) -> Result<(), String> {
        self.check_keys(resource)?;
        match self.typed {
            Some(t) => (t.0)(resource).map(drop),
            None => Ok(()),
        }
    }

    fn check_keys(&self, resource: &Value) -> Result<(), String> {
        let needs = self.resource.join(", ");
        let Some(obj) = resource.as_object() else {
            return Err(format!(
                "resource of a {} job must be an object with keys: {needs}",
                self.job_type
            ));
        };
        let missing: Vec<&str> = self
            .resource
            .iter()
            .filter(|k| !obj.contains_key(k.as_str()))
            .map(String::as_str)
            .collect();
        if !missing.is_empty() {
            return Err(format!(
                "resource of a {} job lacks {} '{}' (needs: {needs})",
                self.job_type,
                if missing.len() == 1 { "key" } else { "keys" },
                missing.join("', '")
            ));
        }
        for key in &self.resource {
            match obj.get(key) {
                Some(Value::String(s)) if !s.trim().is_empty() => {}
                _ => {
                    return Err(format!(
                        "resource key '{key}' of a {} job must be a non-empty string",
                        self.job_type
                    ))
                }
            }
        }
        if let Some(extra) = obj
            .keys()
            .find(|k| !self.resource.contains(k) && !self.optional.contains(k))
        {
            let mut known = needs;
            if !self.optional.is_empty() {
                known = format!("{known}; may have: {}", self.optional.join(", "));
            }
            return Err(format!(
                "resource of a {} job has an unknown key '{extra}' (needs: {known})",
                self.job_type,
            ));
        }
        Ok(())
    }
}

#[derive(Clone)]
struct Entry {
    schema: JobSchema,
    handler: Arc<dyn Handler>,
}

/// Runs jobs of `P`'s type: parses the payload, then calls the handler.
struct TypedHandler<P, F> {
    f: F,
    payload: PhantomData<fn() -> P>,
}

impl<P, F, Fut> Handler for TypedHandler<P, F>
where
    P: JobPayload,
    F: Fn(P, Job) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), JobError>> + Send + 'static,
{
    fn run<'a>(&'a self, job: &'a Job) -> BoxFuture<'a, Result<(), JobError>> {
        match P::from_job(job) {
            Ok(payload) => Box::pin((self.f)(payload, job.clone())),
            Err(e) => Box::pin(std::future::ready(Err(e))),
        }
    }
}

/// Job type → handler and schema. Built once at start-up.
#[derive(Clone, Default)]
pub struct Registry {
    types: BTreeMap<String, Entry>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.types.keys()).finish()
    }
}

impl Registry {
    pub fn new() -> Registry {
        Registry::default()
    }

    /// Registers (or replaces) the handler of `job_type`, whose jobs carry
    /// `resource_keys` (naming the resource) in their `resource` object.
    pub fn register(
        &mut self,
        job_type: &str,
        resource_keys: &[&str],
        handler: impl Handler,
    ) -> &mut Registry {
        self.register_keys(job_type, ResourceKeys::id(resource_keys), handler)
    }

    /// [`Registry::register`] for a type whose jobs carry more than the
    /// keys naming their resource.
    pub fn register_keys(
        &mut self,
        job_type: &str,
        keys: ResourceKeys<'_>,
        handler: impl Handler,
    ) -> &mut Registry {
        self.insert(JobSchema::new(job_type, keys), Arc::new(handler))
    }

    fn insert(&mut self, schema: JobSchema, handler: Arc<dyn Handler>) -> &mut Registry {
        let job_type = schema.job_type.as_str();
        if self.types.contains_key(job_type) {
            tracing::warn!(
                job_type,
                "job type registered twice: the later handler wins"
            );
        }
        self.types
            .insert(job_type.to_string(), Entry { schema, handler });
        self
    }

    /// Registers (or replaces) the handler of `P`'s job type: it gets each
    /// job's payload parsed as a `P` (a job whose payload does not parse
    /// FAILs without running it), and the job. The type's schema, and the
    /// check of operator-given jobs, come from `P`.
    pub fn on<P, F, Fut>(mut self, handler: F) -> Self
    where
        P: JobPayload,
        F: Fn(P, Job) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), JobError>> + Send + 'static,
    {
        let handler = TypedHandler {
            f: handler,
            payload: PhantomData::<fn() -> P>,
        };
        self.insert(JobSchema::of::<P>(), Arc::new(handler));
        self
    }

    /// [`Registry::register`], by value, for chaining.
    pub fn with(mut self, job_type: &str, resource_keys: &[&str], handler: impl Handler) -> Self {
        self.register(job_type, resource_keys, handler);
        self
    }

    /// [`Registry::register_keys`], by value, for chaining.
    pub fn with_keys(
        mut self,
        job_type: &str,
        keys: ResourceKeys<'_>,
        handler: impl Handler,
    ) -> Self {
        self.register_keys(job_type, keys, handler);
        self
    }

    pub fn handler(&self, job_type: &str) -> Option<Arc<dyn Handler>> {
        self.types.get(job_type).map(|e| e.handler.clone())
    }

    pub fn schema(&self, job_type: &str) -> Option<&JobSchema> {
        self.types.get(job_type).map(|e| &e.schema)
    }

    /// Every type's schema, by type name.
    pub fn schemas(&self) -> Vec<JobSchema> {
        self.types.values().map(|e| e.schema.clone()).collect()
    }

    pub fn is_empty(&self) -> bool {
        self.types.is_empty()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    fn registry() -> Registry {
        Registry::new().with(
            "router_setup",
            &["pod_id", "router_id", "network_id"],
            handler_fn(|_| async { Ok(()) }),
        )
    }

    #[test]
    fn schemas_check_resources() {
        let r = registry();
        let s = r.schema("router_setup").unwrap();
        let good = json!({"pod_id": "p", "router_id": "r", "network_id": "n"});
        assert_eq!(s.check(&good), Ok(()));
        assert_eq!(s.resource_id(&good), "p#r#n");
        assert!(s
            .check(&json!({"pod_id": "p", "router_id": "r"}))
            .unwrap_err()
            .contains("lacks key 'network_id'"));
        assert!(s
            .check(&json!({"pod_id": "p"}))
            .unwrap_err()
            .contains("lacks keys 'router_id', 'network_id'"));
        assert!(s
            .check(&json!({"pod_id": "p", "router_id": "r", "network_id": "n", "x": "1"}))
            .unwrap_err()
            .contains("unknown key 'x'"));
        assert!(s
            .check(&json!({"pod_id": "", "router_id": "r", "network_id": "n"}))
            .is_err());
        assert!(s.check(&json!(["p"])).is_err());
        assert!(r.schema("nope").is_none());
        assert_eq!(r.schemas().len(), 1);
    }

    #[test]
    fn schemas_with_required_and_optional_keys() {
        let r = Registry::new().with_keys(
            "server_create_check",
            ResourceKeys {
                id: &["request_id"],
                required: &["pod_name"],
                optional: &["name", "ports"],
            },
            handler_fn(|_| async { Ok(()) }),
        );
        let s = r.schema("server_create_check").unwrap();
        assert_eq!(
            serde_json::to_value(s).unwrap(),
            json!({"type": "server_create_check", "resource": ["request_id", "pod_name"], "optional": ["name", "ports"]})
        );
        let e = s.check(&json!({"request_id": "req-1"})).unwrap_err();
        assert!(e.contains("lacks key 'pod_name'"), "{e}");
        let good = json!({"request_id": "req-1", "pod_name": "Pod1", "name": null, "ports": ["p"]});
        assert_eq!(s.check(&good), Ok(()));
        // The resource id is the id keys' only.
        assert_eq!(s.resource_id(&good), "req-1");
        let e = s
            .check(&json!({"request_id": "r", "pod_name": "P", "x": 1}))
            .unwrap_err();
        assert!(
            e.contains("unknown key 'x'") && e.contains("may have: name, ports"),
            "{e}"
        );
        // The plain form shows no `optional`.
        let plain = registry();
        assert_eq!(
            serde_json::to_value(plain.schema("router_setup").unwrap()).unwrap(),
            json!({"type": "router_setup", "resource": ["pod_id", "router_id", "network_id"]})
        );
    }

    #[derive(Debug, serde::Serialize, serde::Deserialize)]
    struct PortDelete {
        port_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        snapshot: Option<serde_json::Map<String, Value>>,
    }

    impl JobPayload for PortDelete {
        const JOB_TYPE: &'static str = "port_delete";
        const KEYS: ResourceKeys<'static> = ResourceKeys {
            id: &["port_id"],
            required: &[],
            optional: &["snapshot"],
        };
        fn resource_id(&self) -> String {
            self.port_id.clone()
        }
    }

    #[tokio::test]
    async fn typed_types_take_schema_checks_and_parsing_from_their_payload() {
        let r = Registry::new().on(|p: PortDelete, job: Job| async move {
            if p.port_id == job.resource_id {
                Ok(())
            } else {
                Err(JobError::Fatal(format!(
                    "{} != {}",
                    p.port_id, job.resource_id
                )))
            }
        });
        let s = r.schema("port_delete").unwrap();
        assert_eq!(
            serde_json::to_value(s).unwrap(),
            json!({"type": "port_delete", "resource": ["port_id"], "optional": ["snapshot"]})
        );
        assert_eq!(s, &JobSchema::of::<PortDelete>());
        // The keys are checked as for untyped types, with the same messages.
        let good = json!({"port_id": "x", "snapshot": {"name": "n"}});
        assert_eq!(s.check(&good), Ok(()));
        assert_eq!(s.resource_id(&good), "x");
        for (bad, needle) in [
            (json!({}), "lacks key 'port_id'"),
            (json!({"port_id": 5}), "must be a non-empty string"),
            (json!({"port_id": "x", "extra": 1}), "unknown key 'extra'"),
            (json!("x"), "must be an object"),
            // What only the payload type knows.
            (
                json!({"port_id": "x", "snapshot": 1}),
                "resource of a port_delete job is not valid",
            ),
        ] {
            let e = s.check(&bad).unwrap_err();
            assert!(e.contains(needle), "{bad}: {e}");
        }
        // The handler gets the parsed payload; an unparsable one FAILs.
        let mut job = crate::payload::tests_support::job("port_delete", good);
        job.resource_id = "x".into();
        let h = r.handler("port_delete").unwrap();
        assert_eq!(h.run(&job).await, Ok(()));
        job.resource = json!({"snapshot": {}});
        assert_eq!(
            h.run(&job).await,
            Err(JobError::Fatal("the job's resource lacks 'port_id'".into()))
        );
    }
}
