//! Job types the top Neutron records with its changes, for the job engine
//! to propagate to the pods holding copies: one payload type per job type.
//! Each payload is `{"<kind>_id": top_id, "project_id": ...}`, plus
//! `"snapshot"` (the deleted resource as the API showed it) for deletes.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tricircle_jobs::{JobPayload, ResourceKeys};
use tricircle_store::NeutronKind;

/// A change of a top resource that pods hold copies of.
pub trait ResourceChange: JobPayload {
    /// The kind of resource whose copies the job changes.
    const KIND: NeutronKind;

    fn new(id: &str, project_id: &str, snapshot: Option<&Value>) -> Self;
}

/// One payload type per job type: named by `$id_key`, with the project and
/// (for deletes) the snapshot.
macro_rules! resource_change {
    ($(#[$doc:meta])* $name:ident = $job_type:literal, $kind:ident, $id_key:ident) => {
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
            const KIND: NeutronKind = NeutronKind::$kind;

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

resource_change!(NetworkUpdate = "network_update", Network, network_id);
resource_change!(
    /// `snapshot.subnets`: the subnets that went with it.
    NetworkDelete = "network_delete",
    Network,
    network_id
);
resource_change!(SubnetUpdate = "subnet_update", Subnet, subnet_id);
resource_change!(SubnetDelete = "subnet_delete", Subnet, subnet_id);
resource_change!(PortUpdate = "port_update", Port, port_id);
resource_change!(PortDelete = "port_delete", Port, port_id);
resource_change!(
    /// A security group or one of its rules changed (resource id: the group).
    SecurityGroupSync = "security_group_sync",
    SecurityGroup,
    security_group_id
);

/// Makes every pod's part of one top router (bottom router, bridge port,
/// interfaces, extra routes) match the top, or removes it once the router
/// is gone (BEHAVIOUR §6.3). Resource id: the router, so that requests for
/// one router coalesce.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RouterSync {
    pub router_id: String,
    /// The router's project: what finds its bridge once it is gone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project_id: Option<String>,
}

impl RouterSync {
    pub fn new(router_id: &str, project_id: &str) -> RouterSync {
        RouterSync {
            router_id: router_id.to_string(),
            project_id: Some(project_id.to_string()),
        }
    }
}

impl JobPayload for RouterSync {
    const JOB_TYPE: &'static str = "router_sync";
    const KEYS: ResourceKeys<'static> = ResourceKeys {
        id: &["router_id"],
        required: &[],
        optional: &["project_id"],
    };
    fn resource_id(&self) -> String {
        self.router_id.clone()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;
    use tricircle_store::NewJob;

    fn change_job<P: ResourceChange>(
        id: &str,
        project_id: &str,
        snapshot: Option<&Value>,
    ) -> NewJob {
        P::new(id, project_id, snapshot)
            .new_job(project_id)
            .unwrap()
    }

    /// The stored form is what the untyped code wrote, and rows it wrote
    /// read back.
    #[test]
    fn payloads_keep_the_stored_form() {
        let snap = json!({"id": "n1", "subnets": ["s1"]});
        let job = change_job::<NetworkDelete>("n1", "proj", Some(&snap));
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
        let job = change_job::<SecurityGroupSync>("g1", "proj", None);
        assert_eq!(
            job.resource,
            json!({"security_group_id": "g1", "project_id": "proj"})
        );
        assert_eq!(job.resource_id, "g1");
        // As the security groups' untyped sync job wrote it.
        let job = change_job::<SecurityGroupSync>("g1", "proj", Some(&json!({"id": "g1"})));
        let mut untyped = json!({"security_group_id": "g1", "project_id": "proj"});
        untyped["snapshot"] = json!({"id": "g1"});
        assert_eq!(job.resource.to_string(), untyped.to_string());
        assert_eq!(
            job.resource.to_string(),
            r#"{"project_id":"proj","security_group_id":"g1","snapshot":{"id":"g1"}}"#
        );
        let types = [
            change_job::<NetworkUpdate>("x", "p", None).job_type,
            change_job::<NetworkDelete>("x", "p", None).job_type,
            change_job::<SubnetUpdate>("x", "p", None).job_type,
            change_job::<SubnetDelete>("x", "p", None).job_type,
            change_job::<PortUpdate>("x", "p", None).job_type,
            change_job::<PortDelete>("x", "p", None).job_type,
            change_job::<SecurityGroupSync>("x", "p", None).job_type,
        ];
        assert_eq!(
            types,
            [
                "network_update",
                "network_delete",
                "subnet_update",
                "subnet_delete",
                "port_update",
                "port_delete",
                "security_group_sync"
            ]
        );
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

    /// One job per router: its id is the resource (so requests coalesce),
    /// the project rides along for the teardown.
    #[test]
    fn router_sync_is_keyed_by_the_router() {
        let job = RouterSync::new("r1", "proj").new_job("proj").unwrap();
        assert_eq!(
            job,
            NewJob {
                job_type: "router_sync".into(),
                project_id: "proj".into(),
                resource_id: "r1".into(),
                resource: json!({"router_id": "r1", "project_id": "proj"}),
            }
        );
        let bare: RouterSync = serde_json::from_value(json!({"router_id": "r1"})).unwrap();
        assert_eq!(bare.project_id, None);
        assert_eq!(bare.resource_id(), "r1");
    }
}
