//! The check that settles a boot whose answer was lost
//! ([`tricircle_gateway::create_check`]): the server the pod made for it
//! goes, then the top ports the boot made for it.

use serde_json::Value;
use tricircle_core::ResourceType;
use tricircle_gateway::create_check::{register_kind, CheckDeps, Kind};
use tricircle_jobs::{Job, JobError, Registry};

pub const SERVER_CREATE_CHECK: &str = "server_create_check";

const SERVER: Kind = Kind {
    job_type: SERVER_CREATE_CHECK,
    service_type: "compute",
    list_path: "/servers/detail",
    list_key: "servers",
    collection: "/servers",
    created_key: "created",
    resource_type: ResourceType::Server,
    optional_keys: &["pod_id", "name", "user_id", "ports"],
};

/// The server create check, added to `registry`.
pub fn register(registry: Registry, deps: CheckDeps) -> Registry {
    register_kind(registry, deps, &SERVER, |d, job| async move {
        release_ports(&d, &job).await
    })
}

/// The top ports a lost boot made, and their copies, go.
async fn release_ports(d: &CheckDeps, job: &Job) -> Result<(), JobError> {
    let ports: Vec<&str> = job
        .resource
        .get("ports")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if ports.is_empty() {
        return Ok(());
    }
    let Some(bottom) = &d.network else {
        return Err(JobError::Fatal(
            "the job names ports but this worker has no network service".into(),
        ));
    };
    for port in ports {
        bottom
            .delete_port_everywhere(port)
            .await
            .map_err(|e| JobError::Retry(format!("port {port}: {e}")))?;
    }
    Ok(())
}
