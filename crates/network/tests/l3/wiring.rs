//! A router over two pods wired in each, the job recorded with the top
//! changes, idempotent, and safe with two instances at once.

use serde_json::{json, Value};
use tricircle_network::bottom::bottom_network_name;

use crate::env::*;

#[tokio::test]
async fn a_router_over_two_pods_is_wired_in_each_pod() {
    let env = Env::new().await;
    let (t, vms) = env.two_pods_one_router().await;

    env.bottom.sync_router(&t.router, "p1").await.unwrap();

    // The bridge: one top network and subnet of no project, copied into
    // both pods with the same segment and CIDR.
    let bridge = env.neutron().find_bridge("p1").await.unwrap().unwrap();
    assert_eq!(bridge.network.project_id, "");
    assert_eq!(bridge.subnet.cidr, "100.0.0.0/24");
    let bridge_name = bottom_network_name(&bridge.network.id, "bridge-net-p1");
    let mut bridge_ips = Vec::new();
    for (i, pod) in ["Pod1", "Pod2"].iter().enumerate() {
        let net = env
            .one_in_pod(pod, "networks", &format!("name={bridge_name}"))
            .await;
        assert_eq!(net["provider:network_type"], "vxlan", "{net}");
        assert_eq!(
            net["provider:segmentation_id"],
            json!(bridge.network.segmentation_id.unwrap()),
            "{pod}: the same VNI as the top's, so the same in both pods"
        );
        let sub = env
            .one_in_pod(pod, "subnets", &format!("name={}", bridge.subnet.id))
            .await;
        assert_eq!(sub["cidr"], "100.0.0.0/24");
        assert_eq!(sub["network_id"], net["id"]);

        // The bottom router, named by the top id, owned by the tenant.
        let (router, interfaces) = env.bottom_router(pod, &t.router).await;
        assert_eq!(router["project_id"], "p1");
        // Its bridge port: the top-allocated address, on the bridge copy.
        let top_port = env
            .neutron()
            .find_bridge_port(&bridge, &env.pods[i].pod_id, &t.router)
            .await
            .unwrap()
            .unwrap();
        let top_ip = top_port.fixed_ips[0].ip_address.clone();
        let bport = env
            .one_in_pod(pod, "ports", &format!("name={}", top_port.id))
            .await;
        assert_eq!(ip(&bport), top_ip);
        assert_eq!(
            bport["device_id"], router["id"],
            "{pod}: bridge port attached"
        );
        assert_eq!(bport["network_id"], net["id"]);
        bridge_ips.push(top_ip);
        // Its interface on the local subnet, at the pod's own gateway IP.
        let local = env
            .one_in_pod(pod, "subnets", &format!("name={}", s(&t.subnets[i]["id"])))
            .await;
        let on_local: Vec<&Value> = interfaces
            .iter()
            .filter(|p| p["fixed_ips"][0]["subnet_id"] == local["id"])
            .collect();
        assert_eq!(on_local.len(), 1, "{pod}: {interfaces:?}");
        assert_eq!(json!(ip(on_local[0])), local["gateway_ip"]);
        assert_ne!(local["gateway_ip"], t.subnets[i]["gateway_ip"]);
        assert_eq!(interfaces.len(), 2, "{pod}: bridge + local: {interfaces:?}");
    }
    assert_ne!(bridge_ips[0], bridge_ips[1]);

    // Routes: each pod reaches the other's VM via the other's bridge IP.
    let (r1, _) = env.bottom_router("Pod1", &t.router).await;
    let (r2, _) = env.bottom_router("Pod2", &t.router).await;
    assert_eq!(
        routes(&r1),
        vec![(format!("{}/32", ip(&vms[1])), bridge_ips[1].clone())]
    );
    assert_eq!(
        routes(&r2),
        vec![(format!("{}/32", ip(&vms[0])), bridge_ips[0].clone())]
    );
    assert_eq!(t.nets.len(), 2);
}

/// Everything a pod holds, as its API lists it.
#[tokio::test]
async fn the_sync_job_is_recorded_with_the_interface_and_with_a_bound_vm() {
    let env = Env::new().await;
    let (t, _) = env.two_pods_one_router().await;
    // add_router_interface recorded it (both adds coalesced into one).
    let jobs = env.jobs("router_sync", &t.router).await;
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    assert_eq!(jobs[0].project_id, "p1");
    assert_eq!(
        jobs[0].resource,
        json!({"router_id": t.router, "project_id": "p1"})
    );
    env.store.delete_job(&jobs[0].id).await.unwrap();

    // A VM bound on an attached subnet records it in the bind's
    // transaction; one on a network no router has does not.
    let other = env
        .neutron()
        .create_network(&user("p1"), json!({"name": "lonely"}))
        .await
        .unwrap();
    env.neutron()
        .create_subnet(
            &user("p1"),
            json!({"network_id": other["id"], "ip_version": 4, "cidr": "10.9.0.0/24"}),
        )
        .await
        .unwrap();
    env.vm(0, &other, "vm-lonely").await;
    assert!(env.jobs("router_sync", &t.router).await.is_empty());
    env.vm(1, &t.nets[1], "vm3").await;
    assert_eq!(env.jobs("router_sync", &t.router).await.len(), 1);

    // The server's end records it too (its route must go).
    for j in env.jobs("router_sync", &t.router).await {
        env.store.delete_job(&j.id).await.unwrap();
    }
    let routing = env
        .store
        .create_routing(&tricircle_store::NewRouting {
            top_id: "vm3".into(),
            bottom_id: Some("b-vm3".into()),
            pod_id: env.pods[1].pod_id.clone(),
            project_id: "p1".into(),
            resource_type: tricircle_core::ResourceType::Server,
        })
        .await
        .unwrap();
    env.neutron().server_gone("vm3", routing.id).await.unwrap();
    assert_eq!(env.jobs("router_sync", &t.router).await.len(), 1);
}

#[tokio::test]
async fn running_the_job_twice_changes_nothing_and_a_new_vm_adds_exactly_its_route() {
    let env = Env::new().await;
    let (t, _) = env.two_pods_one_router().await;
    env.run_sync(&t.router).await.unwrap();
    let before = (pod_state(&env, "Pod1").await, pod_state(&env, "Pod2").await);
    env.run_sync(&t.router).await.unwrap();
    let after = (pod_state(&env, "Pod1").await, pod_state(&env, "Pod2").await);
    assert_eq!(before, after, "a second run changes nothing in either pod");

    let (r1, _) = env.bottom_router("Pod1", &t.router).await;
    let (r2, _) = env.bottom_router("Pod2", &t.router).await;
    let vm3 = env.vm(1, &t.nets[1], "vm3").await;
    env.run_sync(&t.router).await.unwrap();
    let (r1_after, _) = env.bottom_router("Pod1", &t.router).await;
    let (r2_after, _) = env.bottom_router("Pod2", &t.router).await;
    let mut expected = routes(&r1);
    let via = expected[0].1.clone();
    expected.push((format!("{}/32", ip(&vm3)), via));
    expected.sort();
    assert_eq!(routes(&r1_after), expected, "exactly one new route in Pod1");
    assert_eq!(routes(&r2_after), routes(&r2), "Pod2 reaches vm3 over L2");
}

#[tokio::test]
async fn two_instances_syncing_at_once_make_one_bridge_and_one_of_each_piece() {
    for store in tricircle_store::testing::all().await {
        let label = store.label();
        let env = Env::on(store).await;
        let other = env.another().await;
        let r1 = router_over_both_pods(&env, "r1", 1).await;
        let r2 = router_over_both_pods(&env, "r2", 2).await;

        // Two routers of one project on two instances: one bridge.
        let (a, b) = tokio::join!(
            env.bottom.sync_router(&r1, "p1"),
            other.sync_router(&r2, "p1")
        );
        a.unwrap();
        b.unwrap();
        // One router twice at once (a lease taken over while its first
        // worker still runs): either finishes or retries, and a further
        // run completes it.
        let (a, b) = tokio::join!(
            env.bottom.sync_router(&r1, "p1"),
            other.sync_router(&r1, "p1")
        );
        for r in [a, b] {
            if let Err(e) = r {
                assert!(e.is_transient(), "{label}: {e:?}");
            }
        }
        env.bottom.sync_router(&r1, "p1").await.unwrap();

        let bridges: Vec<Value> = env
            .neutron()
            .list_networks(&admin(), &tricircle_network::ListQuery::default())
            .await
            .unwrap()
            .items
            .into_iter()
            .filter(|n| n["name"] == "bridge-net-p1")
            .collect();
        assert_eq!(bridges.len(), 1, "{label}: {bridges:?}");
        let name = bottom_network_name(s(&bridges[0]["id"]), "bridge-net-p1");
        let mut bridge_ips = std::collections::BTreeSet::new();
        for pod in ["Pod1", "Pod2"] {
            env.one_in_pod(pod, "networks", &format!("name={name}"))
                .await;
            for r in [&r1, &r2] {
                let (router, ifaces) = env.bottom_router(pod, r).await;
                assert_eq!(ifaces.len(), 2, "{label} {pod}: {ifaces:?}");
                assert_eq!(routes(&router).len(), 1, "{label} {pod}: {router}");
                for p in &ifaces {
                    let addr = ip(p);
                    if addr.starts_with("100.0.0.") {
                        bridge_ips.insert(addr);
                    }
                }
            }
        }
        assert_eq!(
            bridge_ips.len(),
            4,
            "{label}: one address per bottom router"
        );
        // The top shows the routers in both pods' zones.
        let shown = env.neutron().get_router(&user("p1"), &r1).await.unwrap();
        assert_eq!(
            shown["availability_zones"],
            json!(["az1", "az2"]),
            "{label}"
        );
    }
}

#[tokio::test]
async fn a_subnet_in_the_bridge_pools_is_refused_as_an_interface() {
    let env = Env::new().await;
    let n = env.neutron();
    let u = user("p1");
    let router = n.create_router(&u, json!({"name": "r"})).await.unwrap();
    let router = s(&router["id"]);
    for cidr in ["100.0.0.0/24", "100.200.0.0/16", "96.0.0.0/4"] {
        let net = n.create_network(&u, json!({})).await.unwrap();
        let sub = n
            .create_subnet(
                &u,
                json!({"network_id": net["id"], "ip_version": 4, "cidr": cidr}),
            )
            .await
            .unwrap();
        let e = n
            .add_router_interface(&u, router, json!({"subnet_id": sub["id"]}))
            .await
            .unwrap_err();
        assert_eq!(e.class, tricircle_network::ErrorClass::BadRequest, "{e}");
        assert!(e.message.contains("bridge networks"), "{cidr}: {e}");
        let port = n
            .create_port(&u, json!({"network_id": net["id"]}))
            .await
            .unwrap();
        let e = n
            .add_router_interface(&u, router, json!({"port_id": port["id"]}))
            .await
            .unwrap_err();
        assert!(e.message.contains("bridge networks"), "{cidr} by port: {e}");
    }
    assert!(env.jobs("router_sync", router).await.is_empty());
}

#[tokio::test]
async fn the_bridge_is_hidden_from_the_tenant_and_no_api_deletes_it() {
    let env = Env::new().await;
    let (t, _) = env.two_pods_one_router().await;
    env.bottom.sync_router(&t.router, "p1").await.unwrap();
    let bridge = env.neutron().find_bridge("p1").await.unwrap().unwrap();
    let n = env.neutron();
    let tenant = user("p1");
    assert!(n
        .get_network(&tenant, &bridge.network.id)
        .await
        .unwrap_err()
        .is_not_found());
    let listed = n
        .list_networks(&tenant, &tricircle_network::ListQuery::default())
        .await
        .unwrap()
        .items;
    assert_eq!(listed.len(), 2, "the tenant's own two: {listed:?}");
    let admin = admin();
    let e = n
        .delete_subnet(&admin, &bridge.subnet.id)
        .await
        .unwrap_err();
    assert_eq!(e.kind, "SubnetInUse", "{e}");
    let e = n
        .delete_network(&admin, &bridge.network.id)
        .await
        .unwrap_err();
    assert_eq!(e.kind, "NetworkInUse", "{e}");
    assert!(n.find_bridge("p1").await.unwrap().is_some());
}

#[tokio::test]
async fn bridges_are_made_once_per_project_and_never_share_a_cidr() {
    for store in tricircle_store::testing::all().await {
        let label = store.label();
        let env = Env::on(store).await;
        let other = env.another().await;
        let (a, b) = (env.neutron(), other.neutron());
        // Eight asks at once over two instances, for two projects.
        let asks = (0..8).map(|i| {
            let n = if i % 2 == 0 { a } else { b };
            let project = if i % 4 < 2 { "pa" } else { "pb" };
            async move { (project, n.ensure_bridge(project).await.unwrap()) }
        });
        let made = futures::future::join_all(asks).await;
        for project in ["pa", "pb"] {
            let ids: std::collections::BTreeSet<&str> = made
                .iter()
                .filter(|(p, _)| *p == project)
                .map(|(_, b)| b.network.id.as_str())
                .collect();
            assert_eq!(ids.len(), 1, "{label} {project}: {ids:?}");
        }
        let cidrs: std::collections::BTreeSet<String> =
            made.iter().map(|(_, b)| b.subnet.cidr.clone()).collect();
        assert_eq!(cidrs.len(), 2, "{label}: a CIDR per project: {cidrs:?}");
        let segments: std::collections::BTreeSet<Option<i64>> = made
            .iter()
            .map(|(_, b)| b.network.segmentation_id)
            .collect();
        assert_eq!(segments.len(), 2, "{label}: a segment per project");
        let all = a
            .list_networks(&admin(), &tricircle_network::ListQuery::default())
            .await
            .unwrap()
            .items;
        assert_eq!(all.len(), 2, "{label}: {all:?}");
    }
}
