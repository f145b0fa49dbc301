//! The API extensions the top Neutron implements, as `GET /extensions`
//! lists them.

use serde_json::{json, Value};

/// `(alias, name, description)`.
const EXTENSIONS: &[(&str, &str, &str)] = &[
    ("allowed-address-pairs", "Allowed Address Pairs", "Provides allowed address pairs"),
    ("availability_zone", "Availability Zone", "The availability zone extension."),
    ("binding", "Port Binding", "Expose port bindings of a virtual port to external application"),
    ("ext-gw-mode", "Neutron L3 Configurable external gateway mode", "Extension of the router abstraction for specifying whether SNAT should occur on the external gateway"),
    ("external-net", "Neutron external network", "Adds external network attribute to network resource."),
    ("extra_dhcp_opt", "Neutron Extra DHCP options", "Extra options configuration for DHCP. For example PXE boot options to DHCP clients can be specified (e.g. tftp-server, server-ip-address, bootfile-name)"),
    ("extraroute", "Neutron Extra Route", "Extra routes configuration for L3 router"),
    ("extraroute-atomic", "Atomically add/remove extra routes", "Edit extra routes of a router on server side by atomically adding/removing extra routes"),
    ("filter-validation", "Filter parameters validation", "Provides validation on filter parameters."),
    ("floatingip-port-details", "Floating IP Port Details Extension", "Add port_details attribute to Floating IP resource"),
    ("net-mtu", "Network MTU", "Provides MTU attribute for a network resource."),
    ("net-mtu-writable", "Network MTU (writable)", "Provides a writable MTU attribute for a network resource."),
    ("network_availability_zone", "Network Availability Zone", "Availability zone support for network."),
    ("pagination", "Pagination support", "Extension that indicates that pagination is enabled."),
    ("port-security", "Port Security", "Provides port security"),
    ("project-id", "project_id field enabled", "Extension that indicates that project_id field is enabled."),
    ("provider", "Provider Network", "Expose mapping of virtual networks to physical networks"),
    ("quota_details", "Quota details management support", "Expose functions for quotas usage statistics per project"),
    ("quotas", "Quota management support", "Expose functions for quotas management per project"),
    ("router", "Neutron L3 Router", "Router abstraction for basic L3 forwarding between L2 Neutron networks and access to external networks via a NAT gateway."),
    ("router_availability_zone", "Router Availability Zone", "Availability zone support for router."),
    ("security-group", "security-group", "The security groups extension."),
    ("sorting", "Sorting support", "Extension that indicates that sorting is enabled."),
    ("standard-attr-description", "standard-attr-description", "Extension to add descriptions to standard attributes"),
    ("standard-attr-revisions", "Resource revision numbers", "This extension will display the revision number of neutron resources."),
    ("standard-attr-timestamp", "Resource timestamps", "Adds created_at and updated_at fields to all Neutron resources that have Neutron standard attributes."),
    ("stateful-security-group", "Stateful security group", "Indicates if the security group is stateful or not"),
];

fn view(alias: &str, name: &str, description: &str) -> Value {
    json!({
        "alias": alias,
        "name": name,
        "description": description,
        "updated": "2024-01-01T10:00:00-00:00",
        "links": [],
    })
}

/// Every extension, sorted by alias.
pub fn list() -> Vec<Value> {
    EXTENSIONS.iter().map(|(a, n, d)| view(a, n, d)).collect()
}

/// One extension by alias.
pub fn get(alias: &str) -> Option<Value> {
    EXTENSIONS
        .iter()
        .find(|(a, _, _)| *a == alias)
        .map(|(a, n, d)| view(a, n, d))
}
