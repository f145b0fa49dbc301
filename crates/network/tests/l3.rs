//! East-west wiring across pods (BEHAVIOUR §6.3) without HTTP: a top
//! router over two podsim pods reached through the in-memory transport,
//! its `router_sync` job run, and each pod's own state read through its
//! own API — bottom routers, the bridge network's segment and CIDR, bridge
//! ports, interfaces, extra routes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};
use tricircle_core::PodSpec;
use tricircle_jobs::{JobError, Registry};
use tricircle_network::bottom::{bottom_network_name, Bottom};
use tricircle_network::{NetworkConfig, Neutron, Scope};
use tricircle_pods::testing::InMemoryCloud;
use tricircle_pods::{Fault, PodClientOptions, PodPath, ServiceCall};
use tricircle_store::testing::TestStore;
use tricircle_store::{Job, JobFilter, Pod};

const LONG: Duration = Duration::from_secs(60);

fn user(p: &str) -> Scope {
    Scope {
        project_id: p.into(),
        user_id: format!("u-{p}"),
        is_admin: false,
    }
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap()
}

fn cfg() -> NetworkConfig {
    NetworkConfig {
        tenant_network_types: vec!["vxlan".into()],
        vni_ranges: vec![(100, 199)],
        ..NetworkConfig::default()
    }
}

struct Env {
    cloud: InMemoryCloud,
    store: TestStore,
    pods: Vec<Pod>,
    bottom: Bottom,
}

/// One project's networks, subnets and VM ports over the two pods.
struct Tenant {
    nets: Vec<Value>,
    subnets: Vec<Value>,
    router: String,
}

impl Env {
    /// podsim's `Pod1` (az1) and `Pod2` (az2) behind the top.
    async fn new() -> Env {
        Env::on(tricircle_store::testing::sqlite().await).await
    }

    /// The same over `store`.
    async fn on(store: TestStore) -> Env {
        let cloud = InMemoryCloud::new();
        cloud.add_pod("Pod1");
        cloud.add_pod("Pod2");
        let spec = |name: &str, az: &str| {
            PodSpec {
                pod_name: name.into(),
                az_name: Some(az.into()),
                pod_az_name: None,
                dc_name: None,
            }
            .validate()
            .unwrap()
        };
        store.create_pod(&spec("RegionOne", "")).await.unwrap();
        let mut pods = Vec::new();
        for (name, az) in [("Pod1", "az1"), ("Pod2", "az2")] {
            pods.push(store.create_pod(&spec(name, az)).await.unwrap());
        }
        let neutron = Neutron::new(store.store.clone(), cfg());
        let client = cloud.pod_client(&PodClientOptions::default());
        let bottom = Bottom::new(neutron, client, cloud.keystone.clone(), LONG);
        Env {
            cloud,
            store,
            pods,
            bottom,
        }
    }

    fn neutron(&self) -> &Neutron {
        self.bottom.neutron()
    }

    /// Another instance: its own connection to the database, its own
    /// handle on the pods.
    async fn another(&self) -> Bottom {
        let neutron = Neutron::new(self.store.another_instance().await, cfg());
        let client = self.cloud.pod_client(&PodClientOptions::default());
        Bottom::new(neutron, client, self.cloud.keystone.clone(), LONG)
    }

    /// `GET /v2.0/{collection}?{query}` on a pod as the service user.
    async fn in_pod(&self, pod: &str, collection: &str, query: &str) -> Vec<Value> {
        let pods = self.cloud.pod_client(&PodClientOptions::default());
        let r = pods
            .send_as_service(
                &self.cloud.keystone,
                ServiceCall {
                    pod,
                    service_type: "network",
                    method: Method::GET,
                    path: PodPath::fixed("/v2.0").join(&PodPath::of([collection])),
                    query: Some(query.to_string()),
                    body: None,
                },
            )
            .await
            .unwrap();
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        let v: Value = serde_json::from_slice(&r.body).unwrap();
        v[collection.replace('-', "_")]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// `{method} /v2.0/{path}` on a pod as the service user (an
    /// operator's change behind Tricircle's back); its status.
    async fn pod_call(&self, pod: &str, method: Method, path: &[&str], body: Value) -> u16 {
        let pods = self.cloud.pod_client(&PodClientOptions::default());
        let r = pods
            .send_as_service(
                &self.cloud.keystone,
                ServiceCall {
                    pod,
                    service_type: "network",
                    method,
                    path: PodPath::fixed("/v2.0").join(&PodPath::of(path.iter().copied())),
                    query: None,
                    body: (!body.is_null()).then(|| body.to_string().into()),
                },
            )
            .await
            .unwrap();
        r.status
    }

    /// The one member of a pod's collection that `query` selects.
    async fn one_in_pod(&self, pod: &str, collection: &str, query: &str) -> Value {
        let found = self.in_pod(pod, collection, query).await;
        assert_eq!(found.len(), 1, "{pod} {collection}?{query}: {found:?}");
        found[0].clone()
    }

    /// A VM port on `net` in pod `i` (copied there, bound to a server),
    /// as the top has it.
    async fn vm(&self, i: usize, net: &Value, server: &str) -> Value {
        let n = self.neutron();
        let port = n
            .create_port(&user("p1"), json!({"network_id": net["id"]}))
            .await
            .unwrap();
        let pod = &self.pods[i];
        self.bottom.prepare_port(pod, s(&port["id"])).await.unwrap();
        let owner = format!("compute:{}", pod.az_name);
        n.bind_server_ports(server, "p1", &owner, &[(s(&port["id"]).to_string(), true)])
            .await
            .unwrap();
        n.get_port(&user("p1"), s(&port["id"])).await.unwrap()
    }

    /// net1/subnet1 with a VM in Pod1, net2/subnet2 with a VM in Pod2, a
    /// router with both interfaces. Returns the tenant and the VM ports.
    async fn two_pods_one_router(&self) -> (Tenant, Vec<Value>) {
        let n = self.neutron();
        let u = user("p1");
        let mut nets = Vec::new();
        let mut subnets = Vec::new();
        for i in 1..=2 {
            let net = n
                .create_network(&u, json!({"name": format!("net{i}")}))
                .await
                .unwrap();
            let sub = n
                .create_subnet(
                    &u,
                    json!({"network_id": net["id"], "ip_version": 4,
                           "cidr": format!("10.0.{i}.0/24")}),
                )
                .await
                .unwrap();
            nets.push(net);
            subnets.push(sub);
        }
        let vms = vec![
            self.vm(0, &nets[0], "vm1").await,
            self.vm(1, &nets[1], "vm2").await,
        ];
        let router = n.create_router(&u, json!({"name": "r1"})).await.unwrap();
        let router = s(&router["id"]).to_string();
        for sub in &subnets {
            n.add_router_interface(&u, &router, json!({"subnet_id": sub["id"]}))
                .await
                .unwrap();
        }
        (
            Tenant {
                nets,
                subnets,
                router,
            },
            vms,
        )
    }

    /// The jobs of a type waiting for `resource_id`.
    async fn jobs(&self, job_type: &str, resource_id: &str) -> Vec<Job> {
        self.store
            .list_jobs(
                &JobFilter {
                    job_type: Some(job_type.into()),
                    ..Default::default()
                },
                None,
                100,
            )
            .await
            .unwrap()
            .jobs
            .into_iter()
            .filter(|j| j.resource_id == resource_id)
            .collect()
    }

    /// Runs the router's `router_sync` job through the registered handler.
    async fn run_sync(&self, router: &str) -> Result<(), JobError> {
        let jobs = self.jobs("router_sync", router).await;
        let job = jobs.last().expect("a router_sync job");
        let registry = tricircle_network::handlers::register(Registry::new(), self.bottom.clone());
        registry.handler("router_sync").unwrap().run(job).await
    }

    /// Each pod's bottom router of `router`, its routes and interfaces.
    async fn bottom_router(&self, pod: &str, router: &str) -> (Value, Vec<Value>) {
        let r = self
            .one_in_pod(pod, "routers", &format!("name={router}"))
            .await;
        let ports = self
            .in_pod(
                pod,
                "ports",
                &format!(
                    "device_id={}&device_owner=network:router_interface",
                    s(&r["id"])
                ),
            )
            .await;
        (r, ports)
    }
}

fn ip(port: &Value) -> String {
    s(&port["fixed_ips"][0]["ip_address"]).to_string()
}

fn routes(router: &Value) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = router["routes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                s(&r["destination"]).to_string(),
                s(&r["nexthop"]).to_string(),
            )
        })
        .collect();
    v.sort();
    v
}

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
async fn pod_state(env: &Env, pod: &str) -> Vec<Vec<Value>> {
    let mut state = Vec::new();
    for c in ["networks", "subnets", "ports", "routers"] {
        state.push(env.in_pod(pod, c, "").await);
    }
    state
}

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
async fn a_pod_down_fails_the_sync_for_a_retry_that_completes_it() {
    let env = Env::new().await;
    let (t, vms) = env.two_pods_one_router().await;
    let url = InMemoryCloud::pod_url("Pod2");
    env.cloud
        .transport
        .set_fault(&url, Some(Fault::Unavailable));
    let down = env.run_sync(&t.router).await;
    assert!(matches!(down, Err(JobError::Retry(_))), "{down:?}");

    // Back up. A create whose answer was lost keeps its lock until it is
    // stale; the retry runs once it is (a worker whose locks go stale at
    // once stands in for the time that takes).
    env.cloud.transport.set_fault(&url, None);
    let later = Bottom::new(
        env.neutron().clone(),
        env.cloud.pod_client(&PodClientOptions::default()),
        env.cloud.keystone.clone(),
        Duration::ZERO,
    );
    let job = env.jobs("router_sync", &t.router).await.pop().unwrap();
    let registry = tricircle_network::handlers::register(Registry::new(), later);
    registry
        .handler("router_sync")
        .unwrap()
        .run(&job)
        .await
        .unwrap();

    let (r1, _) = env.bottom_router("Pod1", &t.router).await;
    let (r2, ifaces2) = env.bottom_router("Pod2", &t.router).await;
    assert_eq!(ifaces2.len(), 2, "{ifaces2:?}");
    assert_eq!(routes(&r1).len(), 1);
    assert_eq!(routes(&r1)[0].0, format!("{}/32", ip(&vms[1])));
    assert_eq!(routes(&r2)[0].0, format!("{}/32", ip(&vms[0])));
    // One of each piece in Pod2 despite the lost answers.
    let bridge = env.neutron().find_bridge("p1").await.unwrap().unwrap();
    let name = bottom_network_name(&bridge.network.id, "bridge-net-p1");
    env.one_in_pod("Pod2", "networks", &format!("name={name}"))
        .await;
    env.run_sync(&t.router).await.unwrap();
}

/// A router with one subnet per pod (a new network with a VM in each).
async fn router_over_both_pods(env: &Env, name: &str, third_octet: u8) -> String {
    let n = env.neutron();
    let u = user("p1");
    let router = n.create_router(&u, json!({"name": name})).await.unwrap();
    let router = s(&router["id"]).to_string();
    for i in 0..2 {
        let net = n
            .create_network(&u, json!({"name": format!("{name}-net{i}")}))
            .await
            .unwrap();
        let cidr = format!("10.{third_octet}.{i}.0/24");
        let sub = n
            .create_subnet(
                &u,
                json!({"network_id": net["id"], "ip_version": 4, "cidr": cidr}),
            )
            .await
            .unwrap();
        env.vm(i, &net, &format!("{name}-vm{i}")).await;
        n.add_router_interface(&u, &router, json!({"subnet_id": sub["id"]}))
            .await
            .unwrap();
    }
    router
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
            .list_networks(
                &Scope {
                    project_id: "admin".into(),
                    user_id: "admin".into(),
                    is_admin: true,
                },
                &tricircle_network::ListQuery::default(),
            )
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
