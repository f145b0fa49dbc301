//! The check that settles a volume create whose answer was lost
//! ([`tricircle_gateway::create_check`]): the volume the pod made for it
//! goes.

use tricircle_core::ResourceType;
use tricircle_gateway::create_check::{register_kind, CheckDeps, Kind};
use tricircle_jobs::Registry;

pub const VOLUME_CREATE_CHECK: &str = "volume_create_check";

const VOLUME: Kind = Kind {
    job_type: VOLUME_CREATE_CHECK,
    service_type: "volumev3",
    list_path: "/volumes/detail",
    list_key: "volumes",
    collection: "/volumes",
    created_key: "created_at",
    resource_type: ResourceType::Volume,
    optional_keys: &["pod_id", "name", "user_id"],
};

/// The volume create check, added to `registry`.
pub fn register(registry: Registry, deps: CheckDeps) -> Registry {
    register_kind(registry, deps, &VOLUME, |_, _| async { Ok(()) })
}
