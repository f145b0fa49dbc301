//! Job types the top Neutron records with its changes, for the job engine
//! to propagate to the pods holding copies: one payload type per job type.
//! Each payload is `{"<kind>_id": top_id, "project_id": ...}`, plus
//! `"snapshot"` (the deleted resource as the API showed it) for deletes.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tricircle_jobs::{JobPayload, ResourceKeys};
use tricircle_store::NewJob;

/// A change of a top resource that pods hold copies of.
pub trait ResourceChange: JobPayload {
    fn new(id: &str, project_id: &str, snapshot: Option<&Value>) -> Self;
}

/// One payload type per job type: named by `$id_key`, with the project and
/// (for deletes) the snapshot.
macro_rules! resource_change {
    ($(#[$doc:meta])* $name:ident, $const_name:ident = $job_type:literal, $id_key:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        pub struct $name {
            pub $id_key: String,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub project_id: Option<String>,
            /// The resource as the API showed it, for deletes.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub snapshot: Option<Value>,
        }

        pub const $const_name: &str = $job_type;

        impl JobPayload for $name {
            const JOB_TYPE: &'static str = $job_type;
            const KEYS: ResourceKeys<'static> = ResourceKeys {
                id: &[stringify!($id_key)],
                required: &[],
                optional: &["project_id", "snapshot"],
            };
            fn resource_id(&self) -> String {
                self.$id_key.clone()
            }
        }

        impl ResourceChange for $name {
            fn new(id: &str, project_id: &str, snapshot: Option<&Value>) -> Self {
                $name {
                    $id_key: id.to_string(),
                    project_id: Some(project_id.to_string()),
                    snapshot: snapshot.cloned(),
                }
            }
        }
    };
}

resource_change!(NetworkUpdate, NETWORK_UPDATE = "network_update", network_id);
resource_change!(
    /// `snapshot.subnets`: the subnets that went with it.
    NetworkDelete,
    NETWORK_DELETE = "network_delete",
    network_id
);
resource_change!(SubnetUpdate, SUBNET_UPDATE = "subnet_update", subnet_id);
resource_change!(SubnetDelete, SUBNET_DELETE = "subnet_delete", subnet_id);
resource_change!(PortUpdate, PORT_UPDATE = "port_update", port_id);
resource_change!(PortDelete, PORT_DELETE = "port_delete", port_id);
resource_change!(
    /// A security group or one of its rules changed (resource id: the group).
    SecurityGroupSync,
    SECURITY_GROUP_SYNC = "security_group_sync",
    security_group_id
);

/// Every type above.
pub const ALL: &[&str] = &[
    NETWORK_UPDATE,
    NETWORK_DELETE,
    SUBNET_UPDATE,
    SUBNET_DELETE,
    PORT_UPDATE,
    PORT_DELETE,
    SECURITY_GROUP_SYNC,
];

/// The job of type `job_type` (one of [`ALL`]) for a change of resource
/// `id`; `None` for any other type.
pub(crate) fn change_job(
    job_type: &str,
    id: &str,
    project_id: &str,
    snapshot: Option<&Value>,
) -> Option<Result<NewJob, serde_json::Error>> {
    fn make<P: ResourceChange>(
        id: &str,
        project_id: &str,
        snapshot: Option<&Value>,
    ) -> Result<NewJob, serde_json::Error> {
        P::new(id, project_id, snapshot).new_job(project_id)
    }
    Some(match job_type {
        NETWORK_UPDATE => make::<NetworkUpdate>(id, project_id, snapshot),
        NETWORK_DELETE => make::<NetworkDelete>(id, project_id, snapshot),
        SUBNET_UPDATE => make::<SubnetUpdate>(id, project_id, snapshot),
        SUBNET_DELETE => make::<SubnetDelete>(id, project_id, snapshot),
        PORT_UPDATE => make::<PortUpdate>(id, project_id, snapshot),
        PORT_DELETE => make::<PortDelete>(id, project_id, snapshot),
        SECURITY_GROUP_SYNC => make::<SecurityGroupSync>(id, project_id, snapshot),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    /// The stored form is what the untyped code wrote, and rows it wrote
    /// read back.
    #[test]
    fn payloads_keep_the_stored_form() {
        let snap = json!({"id": "n1", "subnets": ["s1"]});
        let job = change_job(NETWORK_DELETE, "n1", "proj", Some(&snap))
            .unwrap()
            .unwrap();
        assert_eq!(
            job,
            NewJob {
                job_type: "network_delete".into(),
                project_id: "proj".into(),
                resource_id: "n1".into(),
                resource: json!({"network_id": "n1", "project_id": "proj", "snapshot": snap}),
            }
        );
        assert_eq!(
            job.resource.to_string(),
            r#"{"network_id":"n1","project_id":"proj","snapshot":{"id":"n1","subnets":["s1"]}}"#
        );
        let job = change_job(SECURITY_GROUP_SYNC, "g1", "proj", None)
            .unwrap()
            .unwrap();
        assert_eq!(
            job.resource,
            json!({"security_group_id": "g1", "project_id": "proj"})
        );
        assert_eq!(job.resource_id, "g1");
        for t in ALL {
            let job = change_job(t, "x", "p", None).unwrap().unwrap();
            assert_eq!(job.job_type, *t);
        }
        assert!(change_job("router_setup", "x", "p", None).is_none());
        // An old row, and one an operator posted without the project.
        let old: PortDelete =
            serde_json::from_str(r#"{"port_id":"p1","project_id":"proj","snapshot":{"id":"p1"}}"#)
                .unwrap();
        assert_eq!(
            old,
            PortDelete::new("p1", "proj", Some(&json!({"id": "p1"})))
        );
        let bare: PortUpdate = serde_json::from_value(json!({"port_id": "p1"})).unwrap();
        assert_eq!(bare.project_id, None);
    }
}
