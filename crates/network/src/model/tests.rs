//! The model against Neutron's documents: the API reference's examples
//! parse, documents of the wrong shape are errors.

use serde_json::json;

use super::*;
use crate::ErrorClass;

/// `GET /v2.0/networks/{id}` of the Networking API reference.
fn api_ref_network() -> Value {
    json!({
        "admin_state_up": true,
        "availability_zone_hints": [],
        "availability_zones": ["nova"],
        "created_at": "2016-03-08T20:19:41",
        "dns_domain": "my-domain.org.",
        "id": "d32019d3-bc6e-4319-9c1d-6722fc136a22",
        "ipv4_address_scope": null,
        "ipv6_address_scope": null,
        "l2_adjacency": false,
        "mtu": 1500,
        "name": "private-network",
        "port_security_enabled": true,
        "project_id": "4fd44f30292945e481c7b8a0c8908869",
        "provider:network_type": "local",
        "provider:physical_network": null,
        "provider:segmentation_id": null,
        "qos_policy_id": "6a8454ade84346f59e8d40665f878b2e",
        "revision_number": 1,
        "router:external": false,
        "shared": true,
        "status": "ACTIVE",
        "subnets": ["54d6f61d-db07-451c-9ab3-b9609b6b6f0b"],
        "tags": ["tag1,tag2"],
        "tenant_id": "4fd44f30292945e481c7b8a0c8908869",
        "updated_at": "2016-03-08T20:19:41",
        "vlan_transparent": false,
        "description": "",
        "is_default": true
    })
}

/// `GET /v2.0/subnets/{id}` of the Networking API reference.
fn api_ref_subnet() -> Value {
    json!({
        "name": "private-subnet",
        "enable_dhcp": true,
        "network_id": "db193ab3-96e3-4cb3-8fc5-05f4296d0324",
        "segment_id": null,
        "project_id": "26a7980765d0414dbc1fc1f88cdb7e6e",
        "tenant_id": "26a7980765d0414dbc1fc1f88cdb7e6e",
        "dns_nameservers": [],
        "dns_publish_fixed_ip": false,
        "allocation_pools": [{"start": "10.0.0.2", "end": "10.0.0.254"}],
        "host_routes": [],
        "ip_version": 4,
        "gateway_ip": "10.0.0.1",
        "cidr": "10.0.0.0/24",
        "id": "08eae331-0402-425a-923c-34f7cfe39c1b",
        "created_at": "2016-10-10T14:35:34Z",
        "description": "",
        "ipv6_address_mode": null,
        "ipv6_ra_mode": null,
        "revision_number": 2,
        "service_types": [],
        "subnetpool_id": null,
        "tags": ["tag1,tag2"],
        "updated_at": "2016-10-10T14:35:34Z"
    })
}

/// `GET /v2.0/ports/{id}` of the Networking API reference.
fn api_ref_port() -> Value {
    json!({
        "admin_state_up": true,
        "allowed_address_pairs": [],
        "binding:host_id": "devstack",
        "binding:profile": {},
        "binding:vif_details": {"ovs_hybrid_plug": true, "port_filter": true},
        "binding:vif_type": "ovs",
        "binding:vnic_type": "normal",
        "created_at": "2016-03-08T20:19:41",
        "data_plane_status": null,
        "description": "",
        "device_id": "5e3898d7-11be-483e-9732-b2f5eccd2b2e",
        "device_owner": "network:router_interface",
        "dns_assignment": {"hostname": "myport", "ip_address": "10.0.0.1", "fqdn": "myport.my-domain.org"},
        "dns_domain": "my-domain.org.",
        "dns_name": "myport",
        "extra_dhcp_opts": [{"opt_value": "pxelinux.0", "ip_version": 4, "opt_name": "bootfile-name"}],
        "fixed_ips": [{"ip_address": "10.0.0.1", "subnet_id": "a0304c3a-4f08-4c43-88af-d796509c97d2"}],
        "id": "46d4bfb9-b26e-41f3-bd2e-e6dcc1ccedb2",
        "ip_allocation": "immediate",
        "mac_address": "fa:16:3e:23:fd:d7",
        "name": "",
        "network_id": "a87cc70a-3e15-4acf-8205-9b711a3531b7",
        "port_security_enabled": false,
        "project_id": "7e02058126cc4950b75f9970368ba177",
        "revision_number": 1,
        "security_groups": [],
        "status": "ACTIVE",
        "tags": ["tag1,tag2"],
        "tenant_id": "7e02058126cc4950b75f9970368ba177",
        "updated_at": "2016-03-08T20:19:41",
        "qos_network_policy_id": "174dd0c1-a4eb-49d4-a807-ae80246d82f4",
        "qos_policy_id": "29d5e02e-d5ab-4929-bee4-4a9fc12e22ae",
        "propagate_uplink_status": false,
        "mac_learning_enabled": false,
        "port_trust_enabled": false
    })
}

/// `GET /v2.0/security-groups/{id}` of the Networking API reference.
fn api_ref_security_group() -> Value {
    json!({
        "created_at": "2018-03-19T19:16:56Z",
        "description": "default",
        "id": "85cc3048-abc3-43cc-89b3-377341426ac5",
        "name": "default",
        "project_id": "e4f50856753b4dc6afee5fa6b9b6c550",
        "revision_number": 1,
        "security_group_rules": [
            {
                "direction": "egress",
                "ethertype": "IPv6",
                "id": "3c0e45ff-adaf-4124-b083-bf390e5482ff",
                "port_range_max": null,
                "port_range_min": null,
                "protocol": null,
                "remote_group_id": null,
                "remote_ip_prefix": null,
                "security_group_id": "85cc3048-abc3-43cc-89b3-377341426ac5",
                "project_id": "e4f50856753b4dc6afee5fa6b9b6c550",
                "revision_number": 1,
                "tenant_id": "e4f50856753b4dc6afee5fa6b9b6c550",
                "description": ""
            },
            {
                "direction": "ingress",
                "ethertype": "IPv4",
                "id": "93aa42e5-80db-4581-9391-3a608bd0e448",
                "port_range_max": 22,
                "port_range_min": 22,
                "protocol": "tcp",
                "remote_group_id": "85cc3048-abc3-43cc-89b3-377341426ac5",
                "remote_ip_prefix": null,
                "security_group_id": "85cc3048-abc3-43cc-89b3-377341426ac5",
                "project_id": "e4f50856753b4dc6afee5fa6b9b6c550",
                "revision_number": 2,
                "tenant_id": "e4f50856753b4dc6afee5fa6b9b6c550",
                "description": ""
            }
        ],
        "stateful": true,
        "tags": [],
        "tenant_id": "e4f50856753b4dc6afee5fa6b9b6c550",
        "updated_at": "2018-03-19T19:16:56Z"
    })
}

#[test]
fn the_api_reference_network_parses() {
    let n = Network::from_doc(&api_ref_network()).expect("network");
    assert_eq!(n.id, "d32019d3-bc6e-4319-9c1d-6722fc136a22");
    assert_eq!(n.project(), "4fd44f30292945e481c7b8a0c8908869");
    assert_eq!(n.name, "private-network");
    assert!(n.shared && !n.external && n.admin_state_up);
    assert_eq!(n.network_type(), "local");
    assert!(n.is_local());
    assert_eq!(n.physical_network, None);
    assert_eq!(n.segmentation_id, None);
    assert_eq!(n.subnets, ["54d6f61d-db07-451c-9ab3-b9609b6b6f0b"]);
    assert_eq!(n.mtu, Some(1500));
    assert_eq!(n.port_security_enabled, Some(true));
    assert!(n.availability_zone_hints.is_empty());
}

#[test]
fn a_provider_segment_is_read() {
    let mut doc = api_ref_network();
    doc["provider:network_type"] = json!("vlan");
    doc["provider:physical_network"] = json!("physnet1");
    doc["provider:segmentation_id"] = json!(101);
    doc["availability_zone_hints"] = json!(["az1"]);
    let n = Network::from_doc(&doc).expect("network");
    assert!(!n.is_local());
    assert_eq!(n.physical_network.as_deref(), Some("physnet1"));
    assert_eq!(n.segmentation_id, Some(101));
    assert_eq!(n.availability_zone_hints, ["az1"]);
}

#[test]
fn a_view_without_provider_attributes_reads_as_local() {
    let mut doc = api_ref_network();
    for k in [
        "provider:network_type",
        "provider:physical_network",
        "provider:segmentation_id",
    ] {
        doc.as_object_mut().map(|m| m.remove(k));
    }
    let n = Network::from_doc(&doc).expect("network");
    assert_eq!(n.network_type, None);
    assert!(n.is_local());
}

#[test]
fn the_api_reference_subnet_parses() {
    let s = Subnet::from_doc(&api_ref_subnet()).expect("subnet");
    assert_eq!(s.network_id, "db193ab3-96e3-4cb3-8fc5-05f4296d0324");
    assert_eq!(s.ip_version, 4);
    assert_eq!(
        s.net().map(|n| n.to_string()).ok().as_deref(),
        Some("10.0.0.0/24")
    );
    assert_eq!(s.gateway(), "10.0.0.1".parse().ok());
    assert_eq!(
        s.allocation_pools,
        [AllocationPool {
            start: "10.0.0.2".into(),
            end: "10.0.0.254".into()
        }]
    );
    assert_eq!(s.pool_ranges(), [(0x0a00_0002, 0x0a00_00fe)]);
    assert!(s.enable_dhcp);
    assert!(!s.auto_address() && !s.is_auto_address_subnet());
    assert_eq!(s.ipv6_address_mode, None);
}

#[test]
fn a_subnet_without_gateway_and_with_slaac() {
    let mut doc = api_ref_subnet();
    doc["gateway_ip"] = Value::Null;
    doc["ip_version"] = json!(6);
    doc["cidr"] = json!("fd00::/64");
    doc["ipv6_ra_mode"] = json!("slaac");
    let s = Subnet::from_doc(&doc).expect("subnet");
    assert_eq!(s.gateway(), None);
    assert!(!s.auto_address());
    assert!(s.is_auto_address_subnet());
    doc["ipv6_address_mode"] = json!("dhcpv6-stateless");
    assert!(Subnet::from_doc(&doc).expect("subnet").auto_address());
}

#[test]
fn the_api_reference_port_parses() {
    let p = Port::from_doc(&api_ref_port()).expect("port");
    assert_eq!(p.network_id, "a87cc70a-3e15-4acf-8205-9b711a3531b7");
    assert_eq!(p.device_owner, "network:router_interface");
    assert_eq!(p.device_id, "5e3898d7-11be-483e-9732-b2f5eccd2b2e");
    assert_eq!(p.mac_address, "fa:16:3e:23:fd:d7");
    assert_eq!(
        p.ip_on("a0304c3a-4f08-4c43-88af-d796509c97d2"),
        Some("10.0.0.1")
    );
    assert_eq!(p.ip_on("other"), None);
    assert!(!p.port_security());
    assert_eq!(p.host_id.as_deref(), Some("devstack"));
    assert_eq!(p.vnic_type.as_deref(), Some("normal"));
    assert_eq!(p.profile, Some(Map::new()));
    assert!(p.security_groups.is_empty());
}

#[test]
fn a_port_view_without_admin_attributes_parses() {
    let mut doc = api_ref_port();
    let m = doc.as_object_mut().expect("object");
    for k in [
        "binding:host_id",
        "binding:profile",
        "port_security_enabled",
    ] {
        m.remove(k);
    }
    let p = Port::from_doc(&doc).expect("port");
    assert_eq!(p.host_id, None);
    assert!(
        p.port_security(),
        "absent port security is Neutron's default"
    );
}

#[test]
fn the_api_reference_security_group_parses() {
    let g = SecurityGroup::from_doc(&api_ref_security_group()).expect("group");
    assert_eq!(g.project(), "e4f50856753b4dc6afee5fa6b9b6c550");
    assert_eq!(g.security_group_rules.len(), 2);
    let ssh = &g.security_group_rules[1];
    assert_eq!(ssh.protocol.as_deref(), Some("tcp"));
    assert_eq!(
        (ssh.port_range_min, ssh.port_range_max),
        (Some(22), Some(22))
    );
    assert_eq!(ssh.remote_group_id.as_deref(), Some(g.id.as_str()));
    assert_eq!(g.security_group_rules[0].protocol, None);
}

#[test]
fn a_pod_answering_with_tenant_id_only_has_a_project() {
    let mut doc = api_ref_port();
    doc.as_object_mut().map(|m| m.remove("project_id"));
    assert_eq!(
        Port::parse(&doc).expect("port").project(),
        "7e02058126cc4950b75f9970368ba177"
    );
}

#[test]
fn nulls_read_as_absent() {
    let mut doc = api_ref_port();
    doc["device_id"] = Value::Null;
    doc["security_groups"] = Value::Null;
    let p = Port::from_doc(&doc).expect("port");
    assert_eq!(p.device_id, "");
    assert!(p.security_groups.is_empty());
}

/// A document of the wrong shape is an internal error, never a default.
fn corrupt<T: Resource + std::fmt::Debug>(doc: Value) {
    let e = T::from_doc(&doc).expect_err("a wrong shape is an error");
    assert_eq!(e.class, ErrorClass::Internal, "{doc}");
}

#[test]
fn wrong_shapes_are_errors() {
    let mut port = api_ref_port();
    port["fixed_ips"] = json!([{"subnet_id": 7, "ip_address": "10.0.0.1"}]);
    corrupt::<Port>(port);
    let mut port = api_ref_port();
    port["device_owner"] = json!(["compute:nova"]);
    corrupt::<Port>(port);
    let mut port = api_ref_port();
    port.as_object_mut().map(|m| m.remove("network_id"));
    corrupt::<Port>(port);
    corrupt::<Port>(json!("a port"));
    corrupt::<Port>(Value::Null);

    let mut net = api_ref_network();
    net["shared"] = json!("yes");
    corrupt::<Network>(net);
    let mut net = api_ref_network();
    net["provider:segmentation_id"] = json!("101");
    corrupt::<Network>(net);
    let mut net = api_ref_network();
    net.as_object_mut().map(|m| m.remove("id"));
    corrupt::<Network>(net);

    let mut subnet = api_ref_subnet();
    subnet["allocation_pools"] = json!([{"start": "10.0.0.2"}]);
    corrupt::<Subnet>(subnet);
    let mut subnet = api_ref_subnet();
    subnet["ip_version"] = json!("4");
    corrupt::<Subnet>(subnet);

    let mut group = api_ref_security_group();
    group["security_group_rules"][0]["port_range_min"] = json!("22");
    corrupt::<SecurityGroup>(group);
}

#[test]
fn a_corrupt_cidr_is_an_internal_error() {
    let mut doc = api_ref_subnet();
    doc["cidr"] = json!("not a cidr");
    let s = Subnet::from_doc(&doc).expect("the shape is right");
    assert_eq!(s.net().map_err(|e| e.class), Err(ErrorClass::Internal));
}

/// `GET /v2.0/routers/{id}` of the Networking API reference.
fn api_ref_router() -> Value {
    json!({
        "admin_state_up": true,
        "availability_zone_hints": [],
        "availability_zones": ["nova"],
        "created_at": "2018-03-19T19:17:04Z",
        "description": "",
        "distributed": false,
        "external_gateway_info": {
            "enable_snat": true,
            "external_fixed_ips": [
                {"ip_address": "172.24.4.6", "subnet_id": "b930d7f6-ceb7-40a0-8b81-a425dd994ccf"},
                {"ip_address": "2001:db8::9", "subnet_id": "0c56df5d-ace5-46c8-8f4c-45fa4e334d18"}
            ],
            "network_id": "ae34051f-aa6c-4c75-abf5-50dc9ac99ef3"
        },
        "flavor_id": "f7b14d9a-b0dc-4fbe-bb14-a0f4970a69e0",
        "ha": false,
        "id": "f8a44de0-fc8e-45df-93c7-f79bf3b01c95",
        "name": "router1",
        "routes": [{"destination": "179.24.1.0/24", "nexthop": "172.24.3.99"}],
        "revision_number": 1,
        "status": "ACTIVE",
        "updated_at": "2018-03-19T19:17:22Z",
        "project_id": "0bd18306d801447bb457a46252d82d13",
        "tenant_id": "0bd18306d801447bb457a46252d82d13",
        "service_type_id": null,
        "tags": ["tag1,tag2"],
        "conntrack_helpers": []
    })
}

/// `GET /v2.0/floatingips/{id}` of the Networking API reference.
fn api_ref_floatingip() -> Value {
    json!({
        "floating_network_id": "376da547-b977-4cfe-9cba-275c80debf57",
        "router_id": "d23abc8d-2991-4a55-ba98-2aaea84cc72f",
        "fixed_ip_address": "10.0.0.3",
        "floating_ip_address": "172.24.4.228",
        "project_id": "4969c491a3c74ee4af974e6d800c62de",
        "tenant_id": "4969c491a3c74ee4af974e6d800c62de",
        "status": "ACTIVE",
        "port_id": "ce705c24-c1ef-408a-bda3-7bbd946164ab",
        "id": "2f245a7b-796b-4f26-9cf9-9e82d248fda7",
        "description": "floating ip for testing",
        "dns_domain": "my-domain.org.",
        "dns_name": "myfip",
        "created_at": "2016-12-21T01:36:04Z",
        "updated_at": "2016-12-21T01:36:04Z",
        "revision_number": 1,
        "port_details": {
            "status": "ACTIVE",
            "name": "",
            "admin_state_up": true,
            "network_id": "02dd8479-ef26-4398-a102-d19d0a7b3a1f",
            "device_owner": "compute:nova",
            "mac_address": "fa:16:3e:b1:3b:30",
            "device_id": "8e3941b4-a6e9-499f-a1ac-2a4662025cba"
        },
        "tags": ["tag1,tag2"],
        "port_forwardings": [],
        "qos_policy_id": "29d5e02e-d5ab-4929-bee4-4a9fc12e22ae"
    })
}

#[test]
fn the_api_reference_router_parses() {
    let r = Router::from_doc(&api_ref_router()).expect("router");
    assert_eq!(r.id, "f8a44de0-fc8e-45df-93c7-f79bf3b01c95");
    assert_eq!(r.project(), "0bd18306d801447bb457a46252d82d13");
    assert_eq!(r.name, "router1");
    assert!(r.admin_state_up);
    let gw = r.external_gateway_info.expect("a gateway");
    assert_eq!(gw.network_id, "ae34051f-aa6c-4c75-abf5-50dc9ac99ef3");
    assert_eq!(gw.enable_snat, Some(true));
    assert_eq!(
        gw.external_fixed_ips[0],
        FixedIp {
            subnet_id: "b930d7f6-ceb7-40a0-8b81-a425dd994ccf".into(),
            ip_address: "172.24.4.6".into()
        }
    );
    assert_eq!(gw.external_fixed_ips.len(), 2);
    assert_eq!(
        r.routes,
        [Route {
            destination: "179.24.1.0/24".into(),
            nexthop: "172.24.3.99".into()
        }]
    );
    assert!(r.availability_zone_hints.is_empty());
}

#[test]
fn a_router_without_gateway_or_routes() {
    let mut doc = api_ref_router();
    doc["external_gateway_info"] = Value::Null;
    doc["routes"] = Value::Null;
    doc.as_object_mut().map(|m| m.remove("project_id"));
    let r = Router::from_doc(&doc).expect("router");
    assert_eq!(r.external_gateway_info, None);
    assert!(r.routes.is_empty());
    assert_eq!(r.project(), "0bd18306d801447bb457a46252d82d13");
    doc["external_gateway_info"] = json!({"network_id": "n"});
    let gw = Router::from_doc(&doc)
        .expect("router")
        .external_gateway_info
        .expect("a gateway");
    assert_eq!(gw.enable_snat, None);
    assert!(gw.external_fixed_ips.is_empty());
}

#[test]
fn the_api_reference_floatingip_parses() {
    let f = FloatingIp::from_doc(&api_ref_floatingip()).expect("floating IP");
    assert_eq!(f.id, "2f245a7b-796b-4f26-9cf9-9e82d248fda7");
    assert_eq!(f.project(), "4969c491a3c74ee4af974e6d800c62de");
    assert_eq!(
        f.floating_network_id,
        "376da547-b977-4cfe-9cba-275c80debf57"
    );
    assert_eq!(f.floating_ip_address, "172.24.4.228");
    assert_eq!(f.fixed_ip_address.as_deref(), Some("10.0.0.3"));
    assert_eq!(
        f.port_id.as_deref(),
        Some("ce705c24-c1ef-408a-bda3-7bbd946164ab")
    );
    assert_eq!(
        f.router_id.as_deref(),
        Some("d23abc8d-2991-4a55-ba98-2aaea84cc72f")
    );
    assert_eq!(f.status, "ACTIVE");
}

#[test]
fn an_unassociated_floatingip_parses() {
    let mut doc = api_ref_floatingip();
    for k in ["router_id", "fixed_ip_address", "port_id", "port_details"] {
        doc[k] = Value::Null;
    }
    doc["status"] = json!("DOWN");
    let f = FloatingIp::from_doc(&doc).expect("floating IP");
    assert_eq!(
        (f.port_id, f.fixed_ip_address, f.router_id),
        (None, None, None)
    );
    assert_eq!(f.status, "DOWN");
}

#[test]
fn wrong_router_and_floatingip_shapes_are_errors() {
    let mut router = api_ref_router();
    router["external_gateway_info"] = json!("ae34051f-aa6c-4c75-abf5-50dc9ac99ef3");
    corrupt::<Router>(router);
    let mut router = api_ref_router();
    router["external_gateway_info"] = json!({"enable_snat": true});
    corrupt::<Router>(router);
    let mut router = api_ref_router();
    router["external_gateway_info"]["enable_snat"] = json!("true");
    corrupt::<Router>(router);
    let mut router = api_ref_router();
    router["routes"] = json!([{"destination": "179.24.1.0/24"}]);
    corrupt::<Router>(router);
    let mut router = api_ref_router();
    router["admin_state_up"] = json!(1);
    corrupt::<Router>(router);
    corrupt::<Router>(json!([]));

    let mut fip = api_ref_floatingip();
    fip.as_object_mut().map(|m| m.remove("floating_network_id"));
    corrupt::<FloatingIp>(fip);
    let mut fip = api_ref_floatingip();
    fip["floating_ip_address"] = Value::Null;
    corrupt::<FloatingIp>(fip);
    let mut fip = api_ref_floatingip();
    fip["port_id"] = json!(["ce705c24-c1ef-408a-bda3-7bbd946164ab"]);
    corrupt::<FloatingIp>(fip);
    let mut fip = api_ref_floatingip();
    fip["fixed_ip_address"] = json!(10);
    corrupt::<FloatingIp>(fip);
}
