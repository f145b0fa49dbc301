//! Job handlers that carry top network changes to the pods holding copies
//! (BEHAVIOUR §6.1, §7). Each reads the top's current state and makes the
//! pods match it, so running one twice, late, or after a newer change was
//! coalesced into it is harmless.

use serde_json::json;
use tricircle_jobs::{Job, JobError, JobPayload, Registry};

use crate::bottom::{bottom_network_name, Bottom, BottomError};
use crate::jobs_types::{
    NetworkDelete, NetworkUpdate, PortDelete, PortUpdate, RouterSync, SecurityGroupSync,
    SubnetDelete, SubnetUpdate,
};
use crate::model::{Network, Resource, Subnet};
use crate::{ErrorClass, NeutronError, Scope};
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
    let registry = on(registry, &bottom, security_group_sync);
    on(registry, &bottom, router_sync)
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

/// A stored top resource of the wrong shape (logged as corrupt when read):
/// trying again reads the same.
fn unreadable(e: NeutronError) -> JobError {
    JobError::Fatal(e.to_string())
}

async fn network_update(b: Bottom, p: NetworkUpdate, _: Job) -> Result<(), JobError> {
    let (b, id) = (&b, p.network_id.as_str());
    let top = match b.neutron().get_network(&admin(), id).await {
        Ok(t) => Network::from_doc(&t).map_err(unreadable)?,
        // Deleted since: the delete job takes over.
        Err(e) if e.is_not_found() => return Ok(()),
        Err(e) => return Err(JobError::Retry(e.message)),
    };
    // `shared` decides who may use the copy (the pod's Nova looks the
    // network up with the caller's token).
    let mut body = json!({
        "name": bottom_network_name(id, &top.name),
        "admin_state_up": top.admin_state_up,
        "shared": top.shared,
    });
    if let Some(v) = &top.description {
        body["description"] = json!(v);
    }
    if let Some(v) = top.port_security_enabled {
        body["port_security_enabled"] = json!(v);
    }
    b.update_copies(id, ResourceType::Network, body)
        .await
        .map_err(failed)
}

async fn network_delete(b: Bottom, p: NetworkDelete, _: Job) -> Result<(), JobError> {
    let (b, id) = (&b, p.network_id.as_str());
    // The subnets went with the network at the top; their copies go first.
    let subnets = match &p.snapshot {
        Some(s) => {
            Network::parse(s)
                .map_err(|e| JobError::Fatal(format!("unreadable network snapshot: {e}")))?
                .subnets
        }
        None => Vec::new(),
    };
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
        Ok(t) => Subnet::from_doc(&t).map_err(unreadable)?,
        Err(e) if e.is_not_found() => return Ok(()),
        Err(e) => return Err(JobError::Retry(e.message)),
    };
    let mut body = json!({
        "dns_nameservers": top.dns_nameservers,
        "host_routes": top.host_routes,
    });
    if let Some(v) = &top.description {
        body["description"] = json!(v);
    }
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

/// A router's wiring failed: a pod or the store away, or the top changed
/// under it (a resource deleted meanwhile) — the next run reads the new
/// state; only a request the pod or the top refuses as wrong is final.
fn sync_failed(e: BottomError) -> JobError {
    let retry = match &e {
        BottomError::Gone(_) => true,
        BottomError::Top(t) => !matches!(t.class, ErrorClass::BadRequest | ErrorClass::Forbidden),
        other => other.is_transient(),
    };
    if retry {
        JobError::Retry(e.to_string())
    } else {
        JobError::Fatal(e.to_string())
    }
}

async fn router_sync(b: Bottom, p: RouterSync, job: Job) -> Result<(), JobError> {
    let project_id = p.project_id.as_deref().unwrap_or(&job.project_id);
    b.sync_router(&p.router_id, project_id)
        .await
        .map_err(sync_failed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sync_retries_unless_refused_as_wrong() {
        let retry = |e| matches!(sync_failed(e), JobError::Retry(_));
        assert!(retry(BottomError::Unavailable {
            pod: "Pod1".into(),
            detail: "down".into()
        }));
        assert!(retry(BottomError::Gone("being deleted".into())));
        assert!(retry(BottomError::Top(NeutronError::unavailable("busy"))));
        assert!(retry(BottomError::Top(NeutronError::port_not_found("p"))));
        assert!(retry(BottomError::Refused {
            pod: "Pod1".into(),
            what: "x".into(),
            status: 409,
            message: "in use".into()
        }));
        assert!(!retry(BottomError::Top(NeutronError::bad_request("no"))));
        assert!(!retry(BottomError::Conflict("port of another".into())));
        assert!(!retry(BottomError::Refused {
            pod: "Pod1".into(),
            what: "x".into(),
            status: 400,
            message: "bad".into()
        }));
    }
}
