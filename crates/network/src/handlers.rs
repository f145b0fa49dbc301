//! Job handlers that carry top network changes to the pods holding copies
//! (BEHAVIOUR §6.1, §7). Each reads the top's current state and makes the
//! pods match it, so running one twice, late, or after a newer change was
//! coalesced into it is harmless.

use serde_json::{json, Value};
use tricircle_jobs::{handler_fn, resource_str, Job, JobError, Registry, ResourceKeys};

use crate::bottom::{bottom_network_name, Bottom, BottomError};
use crate::jobs_types::{
    NETWORK_DELETE, NETWORK_UPDATE, PORT_DELETE, PORT_UPDATE, SECURITY_GROUP_SYNC, SUBNET_DELETE,
    SUBNET_UPDATE,
};
use crate::Scope;

fn admin() -> Scope {
    Scope {
        project_id: String::new(),
        user_id: String::new(),
        is_admin: true,
    }
}

fn failed(e: BottomError) -> JobError {
    if e.is_transient() {
        JobError::Retry(e.to_string())
    } else {
        JobError::Fatal(e.to_string())
    }
}

/// The network job types with their handlers, added to `registry`.
pub fn register(registry: Registry, bottom: Bottom) -> Registry {
    // Jobs name their resource by its id; the top change records its
    // project and, for updates and deletes, the resource as it was.
    let keys = |id| ResourceKeys {
        id,
        required: &[],
        optional: &["project_id", "snapshot"],
    };
    registry
        .with_keys(
            NETWORK_UPDATE,
            keys(&["network_id"]),
            run(&bottom, network_update),
        )
        .with_keys(
            NETWORK_DELETE,
            keys(&["network_id"]),
            run(&bottom, network_delete),
        )
        .with_keys(
            SUBNET_UPDATE,
            keys(&["subnet_id"]),
            run(&bottom, subnet_update),
        )
        .with_keys(
            SUBNET_DELETE,
            keys(&["subnet_id"]),
            run(&bottom, subnet_delete),
        )
        .with_keys(PORT_UPDATE, keys(&["port_id"]), run(&bottom, port_update))
        .with_keys(PORT_DELETE, keys(&["port_id"]), run(&bottom, port_delete))
        .with_keys(
            SECURITY_GROUP_SYNC,
            keys(&["security_group_id"]),
            run(&bottom, security_group_sync),
        )
}

/// A handler running `f` with its own handle on the pods.
fn run<F, Fut>(bottom: &Bottom, f: F) -> impl tricircle_jobs::Handler
where
    F: Fn(Bottom, Job) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<(), JobError>> + Send + 'static,
{
    let b = bottom.clone();
    handler_fn(move |job| f(b.clone(), job))
}

/// Copies the attributes a pod's copy shares with the top.
fn pick(top: &Value, keys: &[&str]) -> Value {
    let mut out = json!({});
    for k in keys {
        if let Some(v) = top.get(*k) {
            out[*k] = v.clone();
        }
    }
    out
}

async fn network_update(b: Bottom, job: Job) -> Result<(), JobError> {
    let (b, job) = (&b, &job);
    let id = resource_str(job, "network_id")?;
    let top = match b.neutron().get_network(&admin(), id).await {
        Ok(t) => t,
        // Deleted since: the delete job takes over.
        Err(e) if e.status == 404 => return Ok(()),
        Err(e) => return Err(JobError::Retry(e.message)),
    };
    let mut body = pick(
        &top,
        // `shared` decides who may use the copy (the pod's Nova looks the
        // network up with the caller's token).
        &[
            "admin_state_up",
            "description",
            "port_security_enabled",
            "shared",
        ],
    );
    body["name"] = json!(bottom_network_name(
        id,
        top.get("name").and_then(Value::as_str).unwrap_or("")
    ));
    b.update_copies(id, "network", body).await.map_err(failed)
}

async fn network_delete(b: Bottom, job: Job) -> Result<(), JobError> {
    let (b, job) = (&b, &job);
    let id = resource_str(job, "network_id")?;
    // The subnets went with the network at the top; their copies go first.
    let subnets: Vec<String> = job
        .resource
        .pointer("/snapshot/subnets")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect();
    for s in &subnets {
        b.delete_copies(s, "subnet").await.map_err(failed)?;
    }
    b.delete_copies(id, "network").await.map_err(failed)?;
    Ok(())
}

async fn subnet_update(b: Bottom, job: Job) -> Result<(), JobError> {
    let (b, job) = (&b, &job);
    let id = resource_str(job, "subnet_id")?;
    let top = match b.neutron().get_subnet(&admin(), id).await {
        Ok(t) => t,
        Err(e) if e.status == 404 => return Ok(()),
        Err(e) => return Err(JobError::Retry(e.message)),
    };
    let body = pick(&top, &["dns_nameservers", "host_routes", "description"]);
    b.update_copies(id, "subnet", body).await.map_err(failed)
}

async fn subnet_delete(b: Bottom, job: Job) -> Result<(), JobError> {
    let (b, job) = (&b, &job);
    let id = resource_str(job, "subnet_id")?;
    b.delete_copies(id, "subnet").await.map_err(failed)
}

async fn port_update(b: Bottom, job: Job) -> Result<(), JobError> {
    let id = resource_str(&job, "port_id")?;
    match b.sync_port(id).await {
        Ok(()) => Ok(()),
        Err(BottomError::Top(e)) => Err(JobError::Retry(e.message)),
        Err(e) => Err(failed(e)),
    }
}

async fn port_delete(b: Bottom, job: Job) -> Result<(), JobError> {
    let (b, job) = (&b, &job);
    let id = resource_str(job, "port_id")?;
    b.delete_copies(id, "port").await.map_err(failed)
}

async fn security_group_sync(b: Bottom, job: Job) -> Result<(), JobError> {
    let (b, job) = (&b, &job);
    let id = resource_str(job, "security_group_id")?;
    b.sync_security_group(&job.project_id, id)
        .await
        .map_err(failed)
}
