//! Interfaces removed, the router deleted, pieces removed behind our back.

use reqwest::Method;
use serde_json::{json, Value};
use tricircle_jobs::Registry;
use tricircle_network::bottom::bottom_network_name;

use crate::env::*;

#[tokio::test]
async fn removing_interfaces_and_the_router_takes_its_pieces_out_of_the_pods() {
    let env = Env::new().await;
    let (t, vms) = env.two_pods_one_router().await;
    // net2 is stretched: a VM on it in Pod1 too.
    env.vm(0, &t.nets[1], "vm4").await;
    env.run_sync(&t.router).await.unwrap();
    let (r1, ifaces1) = env.bottom_router("Pod1", &t.router).await;
    assert_eq!(ifaces1.len(), 3, "bridge, subnet1, subnet2: {ifaces1:?}");
    assert!(routes(&r1).is_empty(), "Pod1 holds both subnets: {r1}");
    let (r2, _) = env.bottom_router("Pod2", &t.router).await;
    assert_eq!(routes(&r2).len(), 1, "{r2}");
    assert_eq!(routes(&r2)[0].0, format!("{}/32", ip(&vms[0])));
    let bridge = env.neutron().find_bridge("p1").await.unwrap().unwrap();

    // subnet2 detached: Pod2 has nothing behind the router any more, Pod1
    // loses that interface only.
    let u = user("p1");
    env.neutron()
        .remove_router_interface(&u, &t.router, json!({"subnet_id": t.subnets[1]["id"]}))
        .await
        .unwrap();
    env.run_sync(&t.router).await.unwrap();
    assert!(env
        .in_pod("Pod2", "routers", &format!("name={}", t.router))
        .await
        .is_empty());
    let pod2_bridge_port = env
        .neutron()
        .find_bridge_port(&bridge, &env.pods[1].pod_id, &t.router)
        .await
        .unwrap();
    assert!(pod2_bridge_port.is_none(), "{pod2_bridge_port:?}");
    let (r1, ifaces1) = env.bottom_router("Pod1", &t.router).await;
    assert_eq!(ifaces1.len(), 2, "bridge and subnet1: {ifaces1:?}");
    let sub1 = env
        .one_in_pod(
            "Pod1",
            "subnets",
            &format!("name={}", s(&t.subnets[0]["id"])),
        )
        .await;
    assert!(ifaces1
        .iter()
        .any(|p| p["fixed_ips"][0]["subnet_id"] == sub1["id"]));
    assert!(routes(&r1).is_empty());

    // The last interface, then the router: nothing of it stays in a pod,
    // and the bridge goes with the project's last router.
    env.neutron()
        .remove_router_interface(&u, &t.router, json!({"subnet_id": t.subnets[0]["id"]}))
        .await
        .unwrap();
    env.neutron().delete_router(&u, &t.router).await.unwrap();
    env.run_sync(&t.router).await.unwrap();
    for pod in ["Pod1", "Pod2"] {
        assert!(env.in_pod(pod, "routers", "").await.is_empty(), "{pod}");
        let bridge_ports = env
            .in_pod(pod, "ports", "device_owner=network:router_interface")
            .await;
        assert!(bridge_ports.is_empty(), "{pod}: {bridge_ports:?}");
    }
    assert!(env.neutron().find_bridge("p1").await.unwrap().is_none());
    let delete = env.jobs("network_delete", &bridge.network.id).await;
    assert_eq!(delete.len(), 1, "the bridge copies' delete job");
    let registry = tricircle_network::handlers::register(Registry::new(), env.bottom.clone());
    registry
        .handler("network_delete")
        .unwrap()
        .run(&delete[0])
        .await
        .unwrap();
    let name = bottom_network_name(&bridge.network.id, "bridge-net-p1");
    for pod in ["Pod1", "Pod2"] {
        assert!(env
            .in_pod(pod, "networks", &format!("name={name}"))
            .await
            .is_empty());
    }
    // Running the job again finds nothing to do.
    env.run_sync(&t.router).await.unwrap();
}

#[tokio::test]
async fn a_bottom_router_removed_behind_our_back_is_made_again() {
    let env = Env::new().await;
    let (t, vms) = env.two_pods_one_router().await;
    env.run_sync(&t.router).await.unwrap();

    // An operator removes Pod2's bottom router: routes, interfaces (the
    // bridge port goes with its interface), the router.
    let (r2, ifaces) = env.bottom_router("Pod2", &t.router).await;
    let id = s(&r2["id"]);
    assert_eq!(
        env.pod_call(
            "Pod2",
            Method::PUT,
            &["routers", id],
            json!({"router": {"routes": []}})
        )
        .await,
        200
    );
    for p in &ifaces {
        let status = env
            .pod_call(
                "Pod2",
                Method::PUT,
                &["routers", id, "remove_router_interface"],
                json!({"port_id": p["id"]}),
            )
            .await;
        assert_eq!(status, 200);
    }
    assert_eq!(
        env.pod_call("Pod2", Method::DELETE, &["routers", id], Value::Null)
            .await,
        204
    );

    env.run_sync(&t.router).await.unwrap();
    let (r2, ifaces) = env.bottom_router("Pod2", &t.router).await;
    assert_ne!(r2["id"], json!(id), "a new bottom router");
    assert_eq!(ifaces.len(), 2, "bridge and local interface: {ifaces:?}");
    assert_eq!(routes(&r2)[0].0, format!("{}/32", ip(&vms[0])));
    let (r1, _) = env.bottom_router("Pod1", &t.router).await;
    let bridge = env.neutron().find_bridge("p1").await.unwrap().unwrap();
    let top_port = env
        .neutron()
        .find_bridge_port(&bridge, &env.pods[1].pod_id, &t.router)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        routes(&r1),
        vec![(
            format!("{}/32", ip(&vms[1])),
            top_port.fixed_ips[0].ip_address.clone()
        )],
        "Pod1's route still leads to Pod2's (same) bridge address"
    );
}
