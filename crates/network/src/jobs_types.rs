//! Job types the top Neutron records with its changes, for the job engine
//! to propagate to the pods holding copies. Each job's `resource` is
//! `{"<kind>_id": top_id, "project_id": ...}`, plus `"snapshot"` (the
//! deleted resource as the API showed it) for deletes.

pub const NETWORK_UPDATE: &str = "network_update";
pub const NETWORK_DELETE: &str = "network_delete";
pub const SUBNET_UPDATE: &str = "subnet_update";
pub const SUBNET_DELETE: &str = "subnet_delete";
pub const PORT_UPDATE: &str = "port_update";
pub const PORT_DELETE: &str = "port_delete";
/// A security group or one of its rules changed (resource id: the group).
pub const SECURITY_GROUP_SYNC: &str = "security_group_sync";

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
