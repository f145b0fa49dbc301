//! The check that settles a volume create whose answer was lost
//! ([`tricircle_gateway::create_check`]): the volume the pod made for it
//! goes.

use serde::{Deserialize, Serialize};
use tricircle_core::ResourceType;
use tricircle_gateway::create_check::{register_kind, CheckDeps, CheckPayload, CreateCheck, Kind};
use tricircle_jobs::{JobPayload, Registry, ResourceKeys};

pub const VOLUME_CREATE_CHECK: &str = "volume_create_check";

const VOLUME: Kind = Kind {
    service_type: "volumev3",
    list_path: "/volumes/detail",
    list_key: "volumes",
    collection: "/volumes",
    created_key: "created_at",
    resource_type: ResourceType::Volume,
};

/// The payload of a volume create check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeCreateCheck {
    #[serde(flatten)]
    pub create: CreateCheck,
}

impl JobPayload for VolumeCreateCheck {
    const JOB_TYPE: &'static str = VOLUME_CREATE_CHECK;
    const KEYS: ResourceKeys<'static> = ResourceKeys {
        id: &["request_id"],
        required: &["pod_name"],
        optional: &["pod_id", "name", "user_id"],
    };
    fn resource_id(&self) -> String {
        self.create.request_id.clone()
    }
}

impl CheckPayload for VolumeCreateCheck {
    fn create(&self) -> &CreateCheck {
        &self.create
    }
}

/// The volume create check, added to `registry`.
pub fn register(registry: Registry, deps: CheckDeps) -> Registry {
    register_kind(registry, deps, &VOLUME, |_, _: VolumeCreateCheck| async {
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Rows written before the payload was typed read back (a volume
    /// without a name was recorded with `"name": null`).
    #[test]
    fn the_stored_form_is_unchanged() {
        let old = json!({"pod_id": "p-1", "pod_name": "Pod1", "name": null,
            "request_id": "req-1", "user_id": "u-1"});
        let check: VolumeCreateCheck = serde_json::from_value(old.clone()).unwrap();
        assert_eq!(check.create.name, None);
        assert_eq!(serde_json::to_value(&check).unwrap(), old);
    }
}
