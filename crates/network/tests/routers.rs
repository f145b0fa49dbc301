//! Routers and floating IPs at the top, on SQLite and (when available)
//! PostgreSQL: gateways, interfaces, extra routes, floating IP
//! association, the refusals Neutron answers (and that a refused request
//! leaves nothing behind), tenant isolation, quotas under concurrency.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{admin, user};
use serde_json::{json, Value};
use tricircle_network::{
    ErrorClass, ListQuery, NetworkConfig, Neutron, NeutronError, NeutronQuotas, Scope,
};
use tricircle_store::testing::{self, TestStore};

fn neutron(s: &TestStore) -> Neutron {
    Neutron::new(s.store.clone(), NetworkConfig::default())
}

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_string()
}

fn kind(r: Result<Value, NeutronError>) -> (ErrorClass, String) {
    let e = r.expect_err("refused");
    (e.class, e.kind)
}

fn is(class: ErrorClass, k: &str) -> (ErrorClass, String) {
    (class, k.to_string())
}

/// An external network (admin's) with the subnet 172.24.4.0/24.
async fn external(n: &Neutron) -> (String, String) {
    let net = n
        .create_network(&admin(), json!({"name": "ext", "router:external": true}))
        .await
        .unwrap();
    let sub = n
        .create_subnet(
            &admin(),
            json!({"network_id": id(&net), "ip_version": 4, "cidr": "172.24.4.0/24"}),
        )
        .await
        .unwrap();
    (id(&net), id(&sub))
}

async fn net_and_subnet(n: &Neutron, scope: &Scope, cidr: &str) -> (String, String) {
    let net = n.create_network(scope, json!({})).await.unwrap();
    let sub = n
        .create_subnet(
            scope,
            json!({"network_id": id(&net), "ip_version": 4, "cidr": cidr}),
        )
        .await
        .unwrap();
    (id(&net), id(&sub))
}

/// Every port on a network (as an admin sees them).
async fn ports_on(n: &Neutron, network_id: &str) -> Vec<Value> {
    let q = ListQuery::from_pairs(&[("network_id".into(), network_id.into())]).unwrap();
    n.list_ports(&admin(), &q).await.unwrap().items
}

async fn routers_of(n: &Neutron, scope: &Scope) -> Vec<Value> {
    n.list_routers(scope, &ListQuery::default())
        .await
        .unwrap()
        .items
}

#[tokio::test]
async fn a_gateway_is_a_top_port_on_an_external_network() {
    for s in testing::all().await {
        let n = neutron(&s);
        let u = user("p1");
        let (ext, ext_sub) = external(&n).await;
        let (internal, _) = net_and_subnet(&n, &u, "10.0.0.0/24").await;

        let r = n
            .create_router(
                &u,
                json!({"name": "r1", "external_gateway_info": {"network_id": ext}}),
            )
            .await
            .unwrap();
        assert_eq!(r["status"], "ACTIVE", "{}", s.label());
        assert_eq!(r["admin_state_up"], true);
        assert_eq!(r["project_id"], "p1");
        assert_eq!(r["tenant_id"], "p1");
        assert_eq!(r["routes"], json!([]));
        assert_eq!(r["flavor_id"], Value::Null);
        assert!(r.get("distributed").is_none(), "admins only: {r}");
        let gw = &r["external_gateway_info"];
        assert_eq!(gw["network_id"], ext.as_str());
        assert_eq!(gw["enable_snat"], true);
        assert_eq!(gw["external_fixed_ips"][0]["subnet_id"], ext_sub.as_str());
        // The lowest free address: the subnet's gateway (.1) is not given out.
        assert_eq!(gw["external_fixed_ips"][0]["ip_address"], "172.24.4.2");
        let seen = n.get_router(&admin(), &id(&r)).await.unwrap();
        assert_eq!(
            (seen["distributed"].clone(), seen["ha"].clone()),
            (json!(false), json!(false))
        );
        let ports = ports_on(&n, &ext).await;
        assert_eq!(ports.len(), 1);
        assert_eq!(ports[0]["device_owner"], "network:router_gateway");
        assert_eq!(ports[0]["device_id"], id(&r).as_str());
        assert_eq!(
            ports[0]["project_id"], "",
            "hidden from tenants, as Neutron's"
        );
        assert!(ports[0]["security_groups"].as_array().unwrap().is_empty());

        // Refused gateways leave no router and no port behind.
        let e = n
            .create_router(
                &u,
                json!({"external_gateway_info": {"network_id": internal}}),
            )
            .await
            .unwrap_err();
        assert_eq!(
            (e.class, e.kind.as_str()),
            (ErrorClass::BadRequest, "BadRequest")
        );
        assert_eq!(
            e.message,
            format!("Bad router request: Network {internal} is not an external network.")
        );
        let nowhere = "6f1b1f3c-8a64-4d55-9a1c-3d2c1f0e9b11";
        assert_eq!(
            kind(
                n.create_router(
                    &u,
                    json!({"external_gateway_info": {"network_id": nowhere}})
                )
                .await
            ),
            is(ErrorClass::NotFound, "NetworkNotFound")
        );
        for (part, rule) in [
            (
                json!({"network_id": ext, "enable_snat": false}),
                "enable_snat",
            ),
            (
                json!({"network_id": ext, "external_fixed_ips": [{"ip_address": "172.24.4.9"}]}),
                "external_fixed_ips",
            ),
        ] {
            let e = n
                .create_router(&u, json!({"external_gateway_info": part}))
                .await
                .unwrap_err();
            assert_eq!(e.class, ErrorClass::Forbidden);
            assert!(e.message.contains(rule), "{e}");
        }
        let e = n
            .create_router(
                &admin(),
                json!({"external_gateway_info": {"network_id": ext, "external_fixed_ips": [{"ip_address": "172.24.4.2"}]}}),
            )
            .await
            .unwrap_err();
        assert_eq!(
            (e.class, e.kind.as_str()),
            (ErrorClass::Conflict, "IpAddressAlreadyAllocated")
        );
        let e = n
            .create_router(
                &admin(),
                json!({"external_gateway_info": {"network_id": ext, "external_fixed_ips": [{"ip_address": "172.24.4.1"}]}}),
            )
            .await
            .unwrap_err();
        assert!(e.message.contains("is the same as the gateway IP"), "{e}");
        assert_eq!(routers_of(&n, &admin()).await.len(), 1, "{}", s.label());
        assert_eq!(ports_on(&n, &ext).await.len(), 1);
        assert_eq!(
            kind(n.create_router(&u, json!({"routes": []})).await),
            is(ErrorClass::BadRequest, "HTTPBadRequest")
        );

        // An admin picks the address and SNAT; changing the address on the
        // same network keeps the port, moving off the gateway drops it.
        let r2 = n
            .create_router(
                &admin(),
                json!({"external_gateway_info": {"network_id": ext, "enable_snat": false,
                        "external_fixed_ips": [{"subnet_id": ext_sub, "ip_address": "172.24.4.50"}]}}),
            )
            .await
            .unwrap();
        assert_eq!(r2["external_gateway_info"]["enable_snat"], false);
        assert_eq!(
            r2["external_gateway_info"]["external_fixed_ips"][0]["ip_address"],
            "172.24.4.50"
        );
        let gw_port = |ports: &[Value]| {
            ports
                .iter()
                .find(|p| p["device_id"] == id(&r2).as_str())
                .map(id)
        };
        let before = gw_port(&ports_on(&n, &ext).await);
        let r2 = n
            .update_router(
                &admin(),
                &id(&r2),
                json!({"external_gateway_info": {"network_id": ext, "external_fixed_ips": [{"ip_address": "172.24.4.51"}]}}),
            )
            .await
            .unwrap();
        assert_eq!(
            r2["external_gateway_info"]["external_fixed_ips"][0]["ip_address"],
            "172.24.4.51"
        );
        assert_eq!(r2["external_gateway_info"]["enable_snat"], false, "kept");
        assert_eq!(gw_port(&ports_on(&n, &ext).await), before);
        let r1 = n
            .update_router(
                &u,
                &id(&r),
                json!({"external_gateway_info": {}, "name": "renamed"}),
            )
            .await
            .unwrap();
        assert_eq!(r1["external_gateway_info"], Value::Null);
        assert_eq!(r1["name"], "renamed");
        assert!(r1["revision_number"].as_i64().unwrap() > r["revision_number"].as_i64().unwrap());
        assert_eq!(
            ports_on(&n, &ext).await.len(),
            1,
            "r1's gateway port is gone"
        );
        // The external network keeps its flag while a gateway is on it.
        assert_eq!(
            kind(
                n.update_network(&admin(), &ext, json!({"router:external": false}))
                    .await
            ),
            is(ErrorClass::Conflict, "ExternalNetworkInUse")
        );
        n.delete_router(&admin(), &id(&r2)).await.unwrap();
        assert!(ports_on(&n, &ext).await.is_empty());
        n.delete_router(&u, &id(&r1)).await.unwrap();
        assert_eq!(
            kind(n.get_router(&u, &id(&r1)).await),
            is(ErrorClass::NotFound, "RouterNotFound")
        );
    }
}

#[tokio::test]
async fn interfaces_follow_neutrons_rules() {
    for s in testing::all().await {
        let n = neutron(&s);
        let u = user("p1");
        let (net1, sub1) = net_and_subnet(&n, &u, "10.0.0.0/24").await;
        let (net2, sub2) = net_and_subnet(&n, &u, "10.0.0.0/16").await;
        let (net3, sub3) = net_and_subnet(&n, &u, "10.3.0.0/24").await;
        let r = id(&n.create_router(&u, json!({})).await.unwrap());

        let i = n
            .add_router_interface(&u, &r, json!({"subnet_id": sub1}))
            .await
            .unwrap();
        let port_id = i["port_id"].as_str().unwrap().to_string();
        assert_eq!(
            i,
            json!({"id": r, "tenant_id": "p1", "project_id": "p1", "port_id": port_id,
                   "network_id": net1, "subnet_id": sub1, "subnet_ids": [sub1]}),
            "{}",
            s.label()
        );
        let p = n.get_port(&u, &port_id).await.unwrap();
        assert_eq!(p["device_owner"], "network:router_interface");
        assert_eq!(p["device_id"], r.as_str());
        assert_eq!(
            p["fixed_ips"],
            json!([{"subnet_id": sub1, "ip_address": "10.0.0.1"}])
        );

        let bad = |e: NeutronError, said: &str| {
            assert_eq!(
                (e.class, e.kind.as_str()),
                (ErrorClass::BadRequest, "BadRequest"),
                "{e}"
            );
            assert!(e.message.contains(said), "{e}");
        };
        bad(
            n.add_router_interface(&u, &r, json!({"subnet_id": sub1}))
                .await
                .unwrap_err(),
            &format!("Router already has a port on subnet {sub1}"),
        );
        bad(
            n.add_router_interface(&u, &r, json!({"subnet_id": sub2}))
                .await
                .unwrap_err(),
            "overlaps with cidr 10.0.0.0/24",
        );
        bad(
            n.add_router_interface(&u, &r, json!({})).await.unwrap_err(),
            "Either subnet_id or port_id must be specified",
        );
        bad(
            n.add_router_interface(&u, &r, json!({"subnet_id": sub3, "port_id": port_id}))
                .await
                .unwrap_err(),
            "Cannot specify both subnet-id and port-id",
        );
        let no_gw = n
            .create_subnet(&u, json!({"network_id": net3, "ip_version": 4, "cidr": "10.4.0.0/24", "gateway_ip": null}))
            .await
            .unwrap();
        bad(
            n.add_router_interface(&u, &r, json!({"subnet_id": id(&no_gw)}))
                .await
                .unwrap_err(),
            "Subnet for router interface must have a gateway IP",
        );
        // Another project's subnet is not found; its router neither.
        let (_, other_sub) = net_and_subnet(&n, &user("p2"), "10.9.0.0/24").await;
        assert_eq!(
            kind(
                n.add_router_interface(&u, &r, json!({"subnet_id": other_sub}))
                    .await
            ),
            is(ErrorClass::NotFound, "SubnetNotFound")
        );
        assert_eq!(
            kind(
                n.add_router_interface(&user("p2"), &r, json!({"subnet_id": other_sub}))
                    .await
            ),
            is(ErrorClass::NotFound, "RouterNotFound")
        );
        assert!(routers_of(&n, &user("p2")).await.is_empty());
        assert!(
            ports_on(&n, &net2).await.is_empty(),
            "refusals made no port"
        );

        // By port: a bound port is refused, a free one is handed over.
        let bound = n
            .create_port(&u, json!({"network_id": net3, "device_id": "vm-1"}))
            .await
            .unwrap();
        assert_eq!(
            kind(
                n.add_router_interface(&u, &r, json!({"port_id": id(&bound)}))
                    .await
            ),
            is(ErrorClass::Conflict, "PortInUse")
        );
        let free = n
            .create_port(
                &u,
                json!({"network_id": net3, "fixed_ips": [{"subnet_id": sub3}]}),
            )
            .await
            .unwrap();
        let i3 = n
            .add_router_interface(&u, &r, json!({"port_id": id(&free)}))
            .await
            .unwrap();
        assert_eq!(i3["port_id"], id(&free).as_str());
        assert_eq!(i3["subnet_ids"], json!([sub3]));
        let free = n.get_port(&u, &id(&free)).await.unwrap();
        assert_eq!(
            (free["device_owner"].as_str(), free["device_id"].as_str()),
            (Some("network:router_interface"), Some(r.as_str()))
        );

        // What an interface holds cannot go.
        assert_eq!(
            kind(n.delete_subnet(&u, &sub1).await.map(|_| json!({}))),
            is(ErrorClass::Conflict, "SubnetInUse")
        );
        assert_eq!(
            kind(n.delete_network(&u, &net1).await.map(|_| json!({}))),
            is(ErrorClass::Conflict, "NetworkInUse")
        );
        assert_eq!(
            kind(n.delete_port(&u, &port_id).await.map(|_| json!({}))),
            is(ErrorClass::Conflict, "L3PortInUse")
        );
        assert_eq!(
            kind(n.delete_router(&u, &r).await.map(|_| json!({}))),
            is(ErrorClass::Conflict, "RouterInUse")
        );

        // Removing: by subnet, by port, and what is no longer there.
        let gone = n
            .remove_router_interface(&u, &r, json!({"subnet_id": sub1}))
            .await
            .unwrap();
        assert_eq!(gone["port_id"], port_id.as_str());
        assert_eq!(
            kind(n.get_port(&u, &port_id).await),
            is(ErrorClass::NotFound, "PortNotFound")
        );
        assert_eq!(
            kind(
                n.remove_router_interface(&u, &r, json!({"subnet_id": sub1}))
                    .await
            ),
            is(ErrorClass::NotFound, "RouterInterfaceNotFoundForSubnet")
        );
        assert_eq!(
            kind(
                n.remove_router_interface(&u, &r, json!({"port_id": id(&free), "subnet_id": sub1}))
                    .await
            ),
            is(ErrorClass::BadRequest, "SubnetMismatchForPort")
        );
        n.remove_router_interface(&u, &r, json!({"port_id": id(&free)}))
            .await
            .unwrap();
        assert_eq!(
            kind(
                n.remove_router_interface(&u, &r, json!({"port_id": id(&free)}))
                    .await
            ),
            is(ErrorClass::NotFound, "RouterInterfaceNotFound")
        );
        // The subnet overlapping the first one is fine now.
        n.add_router_interface(&u, &r, json!({"subnet_id": sub2}))
            .await
            .unwrap();
        n.remove_router_interface(&u, &r, json!({"subnet_id": sub2}))
            .await
            .unwrap();
        n.delete_router(&u, &r).await.unwrap();
        n.delete_network(&u, &net1).await.unwrap();
    }
}

#[tokio::test]
async fn extra_routes_need_a_connected_next_hop() {
    for s in testing::all().await {
        let n = neutron(&s);
        let u = user("p1");
        let (_, sub) = net_and_subnet(&n, &u, "10.0.0.0/24").await;
        let r = id(&n.create_router(&u, json!({})).await.unwrap());
        let route = |dest: &str, hop: &str| json!({"destination": dest, "nexthop": hop});
        let refused = |e: NeutronError, said: &str| {
            assert_eq!(
                (e.class, e.kind.as_str()),
                (ErrorClass::BadRequest, "InvalidRoutes"),
                "{e}"
            );
            assert!(e.message.ends_with(said), "{e}");
        };
        refused(
            n.update_router(
                &u,
                &r,
                json!({"routes": [route("10.1.0.0/24", "10.0.0.5")]}),
            )
            .await
            .unwrap_err(),
            "the nexthop is not connected with router",
        );
        n.add_router_interface(&u, &r, json!({"subnet_id": sub}))
            .await
            .unwrap();
        refused(
            n.update_router(
                &u,
                &r,
                json!({"routes": [route("10.1.0.0/24", "10.0.0.1")]}),
            )
            .await
            .unwrap_err(),
            "the nexthop is used by router",
        );
        let v = n
            .update_router(
                &u,
                &r,
                json!({"routes": [route("10.1.0.0/24", "10.0.0.5")]}),
            )
            .await
            .unwrap();
        assert_eq!(
            v["routes"],
            json!([route("10.1.0.0/24", "10.0.0.5")]),
            "{}",
            s.label()
        );
        // Atomic add and remove: duplicates merge, missing ones are no error.
        let body = |rs: Value| json!({"router": {"routes": rs}});
        let v = n
            .add_extraroutes(
                &u,
                &r,
                body(json!([
                    route("10.1.0.0/24", "10.0.0.5"),
                    route("10.2.0.0/24", "10.0.0.6")
                ])),
            )
            .await
            .unwrap();
        assert_eq!(
            v["routes"],
            json!([
                route("10.1.0.0/24", "10.0.0.5"),
                route("10.2.0.0/24", "10.0.0.6")
            ])
        );
        refused(
            n.add_extraroutes(&u, &r, body(json!([route("10.3.0.0/24", "192.168.0.1")])))
                .await
                .unwrap_err(),
            "the nexthop is not connected with router",
        );
        let v = n
            .remove_extraroutes(
                &u,
                &r,
                body(json!([
                    route("10.1.0.0/24", "10.0.0.5"),
                    route("10.9.0.0/24", "10.0.0.9")
                ])),
            )
            .await
            .unwrap();
        assert_eq!(v["routes"], json!([route("10.2.0.0/24", "10.0.0.6")]));
        assert_eq!(
            kind(n.add_extraroutes(&u, &r, json!({"routes": []})).await),
            is(ErrorClass::BadRequest, "HTTPBadRequest")
        );
        let many: Vec<Value> = (0..31)
            .map(|i| route(&format!("10.100.{i}.0/24"), "10.0.0.7"))
            .collect();
        assert_eq!(
            kind(n.update_router(&u, &r, json!({"routes": many})).await),
            is(ErrorClass::BadRequest, "RoutesExhausted")
        );
        // An interface a route goes through stays.
        assert_eq!(
            kind(
                n.remove_router_interface(&u, &r, json!({"subnet_id": sub}))
                    .await
            ),
            is(ErrorClass::Conflict, "RouterInterfaceInUseByRoute")
        );
        n.update_router(&u, &r, json!({"routes": null}))
            .await
            .unwrap();
        n.remove_router_interface(&u, &r, json!({"subnet_id": sub}))
            .await
            .unwrap();
    }
}

/// A router with a gateway on a new external network and an interface on
/// the project's subnet 10.0.0.0/24: (external network, router, internal
/// network, internal subnet).
async fn routed(n: &Neutron, u: &Scope) -> (String, String, String, String) {
    let (ext, _) = external(n).await;
    let (net, sub) = net_and_subnet(n, u, "10.0.0.0/24").await;
    let r = n
        .create_router(u, json!({"external_gateway_info": {"network_id": ext}}))
        .await
        .unwrap();
    n.add_router_interface(u, &id(&r), json!({"subnet_id": sub}))
        .await
        .unwrap();
    (ext, id(&r), net, sub)
}

#[tokio::test]
async fn floating_ips_associate_through_a_router_with_a_gateway() {
    for s in testing::all().await {
        let n = neutron(&s);
        let u = user("p1");
        let (ext, r, net, sub) = routed(&n, &u).await;
        let vm = n
            .create_port(
                &u,
                json!({"network_id": net, "device_id": "vm-1", "device_owner": "compute:az1"}),
            )
            .await
            .unwrap();

        let f = n
            .create_floatingip(&u, json!({"floating_network_id": ext}))
            .await
            .unwrap();
        assert_eq!(f["status"], "DOWN", "{}", s.label());
        assert_eq!(
            f["floating_ip_address"], "172.24.4.3",
            "after the gateway's .2"
        );
        for k in ["port_id", "fixed_ip_address", "router_id", "port_details"] {
            assert_eq!(f[k], Value::Null, "{k}");
        }
        assert_eq!(f["project_id"], "p1");
        let own_port = ports_on(&n, &ext)
            .await
            .into_iter()
            .find(|p| p["device_id"] == id(&f).as_str())
            .expect("the floating IP's port");
        assert_eq!(own_port["device_owner"], "network:floatingip");

        // Associate: ACTIVE, through r, with the port's details.
        let f = n
            .update_floatingip(&u, &id(&f), json!({"port_id": id(&vm)}))
            .await
            .unwrap();
        assert_eq!(f["status"], "ACTIVE");
        assert_eq!(f["router_id"], r.as_str());
        assert_eq!(f["fixed_ip_address"], vm["fixed_ips"][0]["ip_address"]);
        assert_eq!(f["port_details"]["device_id"], "vm-1");
        assert_eq!(f["port_details"]["network_id"], net.as_str());
        assert_eq!(f["port_details"]["mac_address"], vm["mac_address"]);
        // One floating IP per fixed IP and external network.
        assert_eq!(
            kind(
                n.create_floatingip(&u, json!({"floating_network_id": ext, "port_id": id(&vm)}))
                    .await
            ),
            is(ErrorClass::Conflict, "FloatingIPPortAlreadyAssociated")
        );
        // What the association goes through stays.
        assert_eq!(
            kind(
                n.remove_router_interface(&u, &r, json!({"subnet_id": sub}))
                    .await
            ),
            is(ErrorClass::Conflict, "RouterInterfaceInUseByFloatingIP")
        );
        assert_eq!(
            kind(
                n.update_router(&u, &r, json!({"external_gateway_info": null}))
                    .await
            ),
            is(
                ErrorClass::Conflict,
                "RouterExternalGatewayInUseByFloatingIp"
            )
        );
        // Filters; other projects see nothing.
        let q = ListQuery::from_pairs(&[("port_id".into(), id(&vm))]).unwrap();
        assert_eq!(n.list_floatingips(&u, &q).await.unwrap().items.len(), 1);
        let q = ListQuery::from_pairs(&[("status".into(), "DOWN".into())]).unwrap();
        assert!(n.list_floatingips(&u, &q).await.unwrap().items.is_empty());
        assert!(n
            .list_floatingips(&user("p2"), &ListQuery::default())
            .await
            .unwrap()
            .items
            .is_empty());
        assert_eq!(
            kind(n.get_floatingip(&user("p2"), &id(&f)).await),
            is(ErrorClass::NotFound, "FloatingIPNotFound")
        );
        assert_eq!(
            n.list_floatingips(&admin(), &ListQuery::default())
                .await
                .unwrap()
                .items
                .len(),
            1
        );

        // Disassociate, and a deleted port lets go of its floating IP.
        let f = n
            .update_floatingip(&u, &id(&f), json!({"port_id": null}))
            .await
            .unwrap();
        assert_eq!(
            (f["status"].as_str(), f["router_id"].clone()),
            (Some("DOWN"), Value::Null)
        );
        let f = n
            .update_floatingip(
                &u,
                &id(&f),
                json!({"port_id": id(&vm), "description": "web"}),
            )
            .await
            .unwrap();
        assert_eq!(f["description"], "web");
        n.delete_port(&u, &id(&vm)).await.unwrap();
        let f = n.get_floatingip(&u, &id(&f)).await.unwrap();
        assert_eq!(
            (f["port_id"].clone(), f["status"].as_str()),
            (Value::Null, Some("DOWN"))
        );
        n.delete_floatingip(&u, &id(&f)).await.unwrap();
        assert!(ports_on(&n, &ext)
            .await
            .iter()
            .all(|p| p["device_owner"] != "network:floatingip"));
        assert_eq!(
            kind(n.get_floatingip(&u, &id(&f)).await),
            is(ErrorClass::NotFound, "FloatingIPNotFound")
        );
    }
}

#[tokio::test]
async fn refused_floating_ips_leave_nothing_behind() {
    for s in testing::all().await {
        let n = neutron(&s);
        let u = user("p1");
        let (ext, _) = external(&n).await;
        let (net, sub) = net_and_subnet(&n, &u, "10.0.0.0/24").await;
        let vm = n.create_port(&u, json!({"network_id": net})).await.unwrap();
        let e = n
            .create_floatingip(&u, json!({"floating_network_id": net}))
            .await
            .unwrap_err();
        assert_eq!(
            (e.class, e.kind.as_str()),
            (ErrorClass::BadRequest, "BadRequest"),
            "{}",
            s.label()
        );
        assert_eq!(
            e.message,
            format!("Bad floatingip request: Network {net} is not a valid external network.")
        );
        // No router reaches the port's subnet: not even the floating IP is made.
        let e = n
            .create_floatingip(&u, json!({"floating_network_id": ext, "port_id": id(&vm)}))
            .await
            .unwrap_err();
        assert_eq!(
            (e.class, e.kind.as_str()),
            (ErrorClass::NotFound, "ExternalGatewayForFloatingIPNotFound")
        );
        assert!(e.message.contains(&sub), "{e}");
        // A router without a gateway is not enough either.
        let r = id(&n.create_router(&u, json!({})).await.unwrap());
        n.add_router_interface(&u, &r, json!({"subnet_id": sub}))
            .await
            .unwrap();
        assert_eq!(
            kind(
                n.create_floatingip(&u, json!({"floating_network_id": ext, "port_id": id(&vm)}))
                    .await
            ),
            is(ErrorClass::NotFound, "ExternalGatewayForFloatingIPNotFound")
        );
        assert_eq!(
            kind(
                n.create_floatingip(
                    &u,
                    json!({"floating_network_id": ext, "fixed_ip_address": "10.0.0.3"})
                )
                .await
            ),
            is(ErrorClass::BadRequest, "BadRequest")
        );
        assert_eq!(
            kind(
                n.create_floatingip(
                    &u,
                    json!({"floating_network_id": ext, "floating_ip_address": "172.24.4.9"})
                )
                .await
            ),
            is(ErrorClass::Forbidden, "PolicyNotAuthorized")
        );
        let other = n
            .create_port(
                &user("p2"),
                json!({"network_id": net_and_subnet(&n, &user("p2"), "10.5.0.0/24").await.0}),
            )
            .await
            .unwrap();
        assert_eq!(
            kind(
                n.create_floatingip(
                    &u,
                    json!({"floating_network_id": ext, "port_id": id(&other)})
                )
                .await
            ),
            is(ErrorClass::NotFound, "PortNotFound")
        );
        assert!(ports_on(&n, &ext).await.is_empty(), "{}", s.label());
        assert!(n
            .list_floatingips(&admin(), &ListQuery::default())
            .await
            .unwrap()
            .items
            .is_empty());
        // An admin may ask for the address.
        let f = n
            .create_floatingip(&admin(), json!({"floating_network_id": ext, "floating_ip_address": "172.24.4.9", "project_id": "p1"}))
            .await
            .unwrap();
        assert_eq!(f["floating_ip_address"], "172.24.4.9");
        assert_eq!(
            n.get_floatingip(&u, &id(&f)).await.unwrap()["project_id"],
            "p1"
        );
    }
}

#[tokio::test]
async fn two_floating_ips_racing_for_one_fixed_ip_get_one_association() {
    for s in testing::all().await {
        let n = neutron(&s);
        let u = user("p1");
        let (ext, _, net, _) = routed(&n, &u).await;
        let vm = id(&n.create_port(&u, json!({"network_id": net})).await.unwrap());
        let mut fips = Vec::new();
        for _ in 0..4 {
            fips.push(id(&n
                .create_floatingip(&u, json!({"floating_network_id": ext}))
                .await
                .unwrap()));
        }
        let tasks: Vec<_> = fips
            .iter()
            .map(|f| {
                let (n, u, f, vm) = (n.clone(), u.clone(), f.clone(), vm.clone());
                tokio::spawn(
                    async move { n.update_floatingip(&u, &f, json!({"port_id": vm})).await },
                )
            })
            .collect();
        let mut ok = 0;
        for t in tasks {
            match t.await.unwrap() {
                Ok(_) => ok += 1,
                Err(e) => assert_eq!(e.kind, "FloatingIPPortAlreadyAssociated", "{e}"),
            }
        }
        assert_eq!(ok, 1, "{}", s.label());
        let q = ListQuery::from_pairs(&[("port_id".into(), vm)]).unwrap();
        assert_eq!(n.list_floatingips(&u, &q).await.unwrap().items.len(), 1);
    }
}

#[tokio::test]
async fn router_and_floating_ip_quotas_hold_under_concurrency() {
    for s in testing::all().await {
        let n = Neutron::new(
            s.store.clone(),
            NetworkConfig {
                quotas: NeutronQuotas {
                    router: 2,
                    floatingip: 3,
                    ..NeutronQuotas::default()
                },
                ..NetworkConfig::default()
            },
        );
        let u = user("p1");
        let (ext, _) = external(&n).await;
        let routers: Vec<_> = (0..6)
            .map(|_| {
                let (n, u) = (n.clone(), u.clone());
                tokio::spawn(async move { n.create_router(&u, json!({})).await })
            })
            .collect();
        let fips: Vec<_> = (0..6)
            .map(|_| {
                let (n, u, ext) = (n.clone(), u.clone(), ext.clone());
                tokio::spawn(async move {
                    n.create_floatingip(&u, json!({"floating_network_id": ext}))
                        .await
                })
            })
            .collect();
        let mut made = [0, 0];
        for (i, tasks) in [routers, fips].into_iter().enumerate() {
            for t in tasks {
                match t.await.unwrap() {
                    Ok(_) => made[i] += 1,
                    Err(e) => assert_eq!(e.kind, "OverQuota", "{e}"),
                }
            }
        }
        assert_eq!(made, [2, 3], "{}", s.label());
        // Over quota left no floating IP port behind.
        assert_eq!(ports_on(&n, &ext).await.len(), 3);
        let d = n.quota_details(&u, "p1").await.unwrap();
        assert_eq!(d["router"], json!({"limit": 2, "used": 2, "reserved": 0}));
        assert_eq!(
            d["floatingip"],
            json!({"limit": 3, "used": 3, "reserved": 0})
        );
    }
}

/// Tempest waits for a router interface's port to be `ACTIVE` before it
/// removes the interface (`test_add_multiple_router_interfaces`): the
/// router's ports (by subnet, by port, the gateway) are `ACTIVE`, other
/// ports stay `DOWN`.
#[tokio::test]
async fn a_routers_ports_are_active() {
    for s in testing::all().await {
        let n = neutron(&s);
        let u = user("p1");
        let (ext, _) = external(&n).await;
        let (_, sub) = net_and_subnet(&n, &u, "10.0.0.0/24").await;
        let (net2, _) = net_and_subnet(&n, &u, "10.0.1.0/24").await;
        let r = n
            .create_router(&u, json!({"external_gateway_info": {"network_id": ext}}))
            .await
            .unwrap();
        let by_subnet = n
            .add_router_interface(&u, &id(&r), json!({"subnet_id": sub}))
            .await
            .unwrap();
        let port = n
            .create_port(&u, json!({"network_id": net2}))
            .await
            .unwrap();
        assert_eq!(port["status"], "DOWN", "{}", s.label());
        n.add_router_interface(&u, &id(&r), json!({"port_id": id(&port)}))
            .await
            .unwrap();
        let pid = by_subnet["port_id"].as_str().unwrap();
        for p in [pid, &id(&port)] {
            assert_eq!(
                n.get_port(&u, p).await.unwrap()["status"],
                "ACTIVE",
                "{}",
                s.label()
            );
        }
        let gw = ports_on(&n, &ext).await;
        assert_eq!(gw[0]["status"], "ACTIVE", "{}", s.label());
    }
}

/// Neutron deletes an external network's unassociated floating IPs with
/// it (`delete_disassociated_floatingips`; Tempest's
/// `test_delete_external_networks_with_floating_ip`); an associated one
/// keeps the network in use.
#[tokio::test]
async fn deleting_an_external_network_takes_its_free_floating_ips() {
    for s in testing::all().await {
        let n = neutron(&s);
        let (ext, _) = external(&n).await;
        let f = n
            .create_floatingip(&admin(), json!({"floating_network_id": ext}))
            .await
            .unwrap();
        n.delete_network(&admin(), &ext).await.unwrap();
        assert_eq!(
            kind(n.get_floatingip(&admin(), &id(&f)).await),
            is(ErrorClass::NotFound, "FloatingIPNotFound"),
            "{}",
            s.label()
        );
        assert!(ports_on(&n, &ext).await.is_empty());

        // Associated: the network stays, with both floating IPs.
        let u = user("p1");
        let (ext, _, net, _) = routed(&n, &u).await;
        let vm = n
            .create_port(
                &u,
                json!({"network_id": net, "device_id": "vm-1", "device_owner": "compute:az1"}),
            )
            .await
            .unwrap();
        let free = n
            .create_floatingip(&u, json!({"floating_network_id": ext}))
            .await
            .unwrap();
        let used = n
            .create_floatingip(&u, json!({"floating_network_id": ext, "port_id": id(&vm)}))
            .await
            .unwrap();
        let e = n.delete_network(&admin(), &ext).await.unwrap_err();
        assert_eq!(
            (e.class, e.kind.as_str()),
            (ErrorClass::Conflict, "NetworkInUse")
        );
        for f in [&free, &used] {
            n.get_floatingip(&u, &id(f)).await.unwrap();
        }
    }
}
