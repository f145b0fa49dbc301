//! Job handlers that carry top network changes to the pods holding copies
//! (BEHAVIOUR §6.1, §7). Each reads the top's current state and makes the
//! pods match it, so running one twice, late, or after a newer change was
//! coalesced into it is harmless.

use serde_json::{json, Value};
use tricircle_jobs::{Job, JobError, JobPayload, Registry};

use crate::bottom::{bottom_network_name, Bottom, BottomError};
use crate::jobs_types::{
    NetworkDelete, NetworkUpdate, PortDelete, PortUpdate, SecurityGroupSync, SubnetDelete,
    SubnetUpdate,
};
use crate::Scope;
use tricircle_core::ResourceType;

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
    let registry = on(registry, &bottom, network_update);
    let registry = on(registry, &bottom, network_delete);
    let registry = on(registry, &bottom, subnet_update);
    let registry = on(registry, &bottom, subnet_delete);
    let registry = on(registry, &bottom, port_update);
    let registry = on(registry, &bottom, port_delete);
    on(registry, &bottom, security_group_sync)
}

/// Registers `f` for its payload's job type, with its own handle on the pods.
fn on<P, F, Fut>(registry: Registry, bottom: &Bottom, f: F) -> Registry
where
    P: JobPayload,
    F: Fn(Bottom, P, Job) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<(), JobError>> + Send + 'static,
{
    let b = bottom.clone();
    registry.on(move |payload: P, job| f(b.clone(), payload, job))
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

async fn network_update(b: Bottom, p: NetworkUpdate, _: Job) -> Result<(), JobError> {
    let (b, id) = (&b, p.network_id.as_str());
    let top = match b.neutron().get_network(&admin(), id).await {
        Ok(t) => t,
        // Deleted since: the delete job takes over.
        Err(e) if e.is_not_found() => return Ok(()),
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
    b.update_copies(id, ResourceType::Network, body)
        .await
        .map_err(failed)
}

async fn network_delete(b: Bottom, p: NetworkDelete, _: Job) -> Result<(), JobError> {
    let (b, id) = (&b, p.network_id.as_str());
    // The subnets went with the network at the top; their copies go first.
    let subnets: Vec<String> = p
        .snapshot
        .as_ref()
        .and_then(|s| s.get("subnets"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect();
    for s in &subnets {
        b.delete_copies(s, ResourceType::Subnet)
            .await
            .map_err(failed)?;
    }
    b.delete_copies(id, ResourceType::Network)
        .await
        .map_err(failed)?;
    Ok(())
}

async fn subnet_update(b: Bottom, p: SubnetUpdate, _: Job) -> Result<(), JobError> {
    let (b, id) = (&b, p.subnet_id.as_str());
    let top = match b.neutron().get_subnet(&admin(), id).await {
        Ok(t) => t,
        Err(e) if e.is_not_found() => return Ok(()),
        Err(e) => return Err(JobError::Retry(e.message)),
    };
    let body = pick(&top, &["dns_nameservers", "host_routes", "description"]);
    b.update_copies(id, ResourceType::Subnet, body)
        .await
        .map_err(failed)
}

async fn subnet_delete(b: Bottom, p: SubnetDelete, _: Job) -> Result<(), JobError> {
    b.delete_copies(&p.subnet_id, ResourceType::Subnet)
        .await
        .map_err(failed)
}

async fn port_update(b: Bottom, p: PortUpdate, _: Job) -> Result<(), JobError> {
    match b.sync_port(&p.port_id).await {
        Ok(()) => Ok(()),
        Err(BottomError::Top(e)) => Err(JobError::Retry(e.message)),
        Err(e) => Err(failed(e)),
    }
}

async fn port_delete(b: Bottom, p: PortDelete, _: Job) -> Result<(), JobError> {
    b.delete_copies(&p.port_id, ResourceType::Port)
        .await
        .map_err(failed)
}

async fn security_group_sync(b: Bottom, p: SecurityGroupSync, job: Job) -> Result<(), JobError> {
    b.sync_security_group(&job.project_id, &p.security_group_id)
        .await
        .map_err(failed)
}
