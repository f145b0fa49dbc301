//! The check that settles a boot whose answer was lost
//! ([`tricircle_gateway::create_check`]): the server the pod made for it
//! goes, then the top ports the boot made for it.

use serde::{Deserialize, Serialize};
use tricircle_core::ResourceType;
use tricircle_gateway::create_check::{register_kind, CheckDeps, CheckPayload, CreateCheck, Kind};
use tricircle_jobs::{JobError, JobPayload, Registry, ResourceKeys};

pub const SERVER_CREATE_CHECK: &str = "server_create_check";

const SERVER: Kind = Kind {
    service_type: "compute",
    list_path: "/servers/detail",
    list_key: "servers",
    collection: "/servers",
    created_key: "created",
    resource_type: ResourceType::Server,
};

/// The payload of a server create check: the create, and the top ports
/// the boot made for it (they go with a server the check deletes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerCreateCheck {
    #[serde(flatten)]
    pub create: CreateCheck,
    #[serde(default)]
    pub ports: Vec<String>,
}

impl JobPayload for ServerCreateCheck {
    const JOB_TYPE: &'static str = SERVER_CREATE_CHECK;
    const KEYS: ResourceKeys<'static> = ResourceKeys {
        id: &["request_id"],
        required: &["pod_name"],
        optional: &["pod_id", "name", "user_id", "ports"],
    };
    fn resource_id(&self) -> String {
        self.create.request_id.clone()
    }
}

impl CheckPayload for ServerCreateCheck {
    fn create(&self) -> &CreateCheck {
        &self.create
    }
}

/// The server create check, added to `registry`.
pub fn register(registry: Registry, deps: CheckDeps) -> Registry {
    register_kind(
        registry,
        deps,
        &SERVER,
        |d, check: ServerCreateCheck| async move { release_ports(&d, &check.ports).await },
    )
}

/// The top ports a lost boot made, and their copies, go.
async fn release_ports(d: &CheckDeps, ports: &[String]) -> Result<(), JobError> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Rows written before the payload was typed read back, and a new one
    /// is written as they were.
    #[test]
    fn the_stored_form_is_unchanged() {
        let old = json!({"pod_id": "p-1", "pod_name": "Pod1", "name": "web-1",
            "request_id": "req-1", "user_id": "u-1", "ports": ["port-1"]});
        let check: ServerCreateCheck = serde_json::from_value(old.clone()).unwrap();
        assert_eq!(check.create.pod_name, "Pod1");
        assert_eq!(check.ports, vec!["port-1".to_string()]);
        assert_eq!(serde_json::to_value(&check).unwrap(), old);
        // A check recorded before its boot made ports.
        let bare = json!({"request_id": "req-2", "pod_name": "Pod2"});
        let check: ServerCreateCheck = serde_json::from_value(bare).unwrap();
        assert!(check.ports.is_empty() && check.create.name.is_none());
        assert_eq!(check.resource_id(), "req-2");
    }
}
