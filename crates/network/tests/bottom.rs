//! The bottom half of the network domain without HTTP: copies of top
//! networks, subnets, security groups and ports made in a podsim pod
//! reached through the in-memory transport (`tricircle_pods::testing`),
//! asserted on the pod's own state read through its own API.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::user;
use reqwest::Method;
use serde_json::{json, Value};
use tricircle_core::{PodSpec, ResourceType};
use tricircle_network::bottom::{bottom_network_name, Bottom};
use tricircle_network::{NetworkConfig, Neutron};
use tricircle_pods::testing::InMemoryCloud;
use tricircle_pods::{Fault, PodClientOptions, PodPath, ServiceCall};
use tricircle_store::testing::TestStore;
use tricircle_store::{Pod, Store};

const LONG: Duration = Duration::from_secs(60);

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
    pod: Pod,
}

impl Env {
    /// A cloud with podsim's `Pod1`, registered as a bottom pod in `az1`.
    async fn new() -> Env {
        let cloud = InMemoryCloud::new();
        cloud.add_pod("Pod1");
        let store = tricircle_store::testing::sqlite().await;
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
        let pod = store.create_pod(&spec("Pod1", "az1")).await.unwrap();
        Env { cloud, store, pod }
    }

    /// The network domain over `store`, its creation locks stale after
    /// `lock_timeout`.
    fn bottom(&self, store: &Store, lock_timeout: Duration) -> Bottom {
        self.bottom_with(store, lock_timeout, &PodClientOptions::default())
    }

    /// [`Env::bottom`] with the pod client's own options.
    fn bottom_with(
        &self,
        store: &Store,
        lock_timeout: Duration,
        options: &PodClientOptions,
    ) -> Bottom {
        let neutron = Neutron::new(store.clone(), cfg());
        let pods = self.cloud.pod_client(options);
        Bottom::new(neutron, pods, self.cloud.keystone.clone(), lock_timeout)
    }

    /// `POST /v2.0/{collection}` on Pod1 as the service user.
    async fn post(&self, collection: &str, body: Value) -> Value {
        let pods = self.cloud.pod_client(&PodClientOptions::default());
        let r = pods
            .send_as_service(
                &self.cloud.keystone,
                ServiceCall {
                    pod: "Pod1",
                    service_type: "network",
                    method: Method::POST,
                    path: PodPath::fixed("/v2.0").join(&PodPath::of([collection])),
                    query: None,
                    body: Some(body.to_string().into()),
                },
            )
            .await
            .unwrap();
        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
        serde_json::from_slice(&r.body).unwrap()
    }

    /// `GET /v2.0/{collection}?name={name}` on Pod1 as the service user:
    /// what the pod holds of that name.
    async fn in_pod(&self, collection: &str, name: &str) -> Vec<Value> {
        let pods = self.cloud.pod_client(&PodClientOptions::default());
        let r = pods
            .send_as_service(
                &self.cloud.keystone,
                ServiceCall {
                    pod: "Pod1",
                    service_type: "network",
                    method: Method::GET,
                    path: PodPath::fixed("/v2.0").join(&PodPath::of([collection])),
                    query: Some(format!("name={name}")),
                    body: None,
                },
            )
            .await
            .unwrap();
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        let v: Value = serde_json::from_slice(&r.body).unwrap();
        v[collection].as_array().cloned().unwrap_or_default()
    }
}

/// A network with one subnet and `n` ports on it, in project `p1`.
async fn network_with_ports(n: &Neutron, ports: usize) -> (Value, Value, Vec<Value>) {
    let u = user("p1");
    let net = n.create_network(&u, json!({"name": "net1"})).await.unwrap();
    let sub = n
        .create_subnet(
            &u,
            json!({"network_id": net["id"], "ip_version": 4, "cidr": "10.0.1.0/24"}),
        )
        .await
        .unwrap();
    let mut made = Vec::new();
    for _ in 0..ports {
        made.push(
            n.create_port(&u, json!({"network_id": net["id"]}))
                .await
                .unwrap(),
        );
    }
    (net, sub, made)
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap()
}

#[tokio::test]
async fn a_port_is_copied_with_its_network_subnet_and_security_group() {
    let env = Env::new().await;
    let bottom = env.bottom(&env.store, LONG);
    let (net, sub, ports) = network_with_ports(bottom.neutron(), 1).await;
    let port = &ports[0];

    let bottom_port_id = bottom.prepare_port(&env.pod, s(&port["id"])).await.unwrap();

    // The pod holds one copy of each, named by the top ids, with the top's
    // addresses.
    let nets = env
        .in_pod("networks", &bottom_network_name(s(&net["id"]), "net1"))
        .await;
    assert_eq!(nets.len(), 1, "{nets:?}");
    let subs = env.in_pod("subnets", s(&sub["id"])).await;
    assert_eq!(subs.len(), 1, "{subs:?}");
    assert_eq!(subs[0]["cidr"], "10.0.1.0/24");
    assert_eq!(subs[0]["network_id"], nets[0]["id"]);
    let bports = env.in_pod("ports", s(&port["id"])).await;
    assert_eq!(bports.len(), 1, "{bports:?}");
    assert_eq!(bports[0]["id"], json!(bottom_port_id));
    assert_eq!(bports[0]["mac_address"], port["mac_address"]);
    assert_eq!(
        bports[0]["fixed_ips"][0]["ip_address"],
        port["fixed_ips"][0]["ip_address"]
    );
    assert_eq!(bports[0]["fixed_ips"][0]["subnet_id"], subs[0]["id"]);
    // The port's (default) security group went with it.
    let sg = s(&port["security_groups"][0]);
    assert_eq!(
        bports[0]["security_groups"].as_array().unwrap().len(),
        1,
        "{bports:?}"
    );
    // And every copy is routed.
    for (top, kind) in [
        (s(&net["id"]), ResourceType::Network),
        (s(&sub["id"]), ResourceType::Subnet),
        (sg, ResourceType::SecurityGroup),
        (s(&port["id"]), ResourceType::Port),
    ] {
        let copies = bottom.copies(top, kind).await.unwrap();
        assert_eq!(copies.len(), 1, "{kind}: {copies:?}");
        assert_eq!(copies[0].0.pod_name, "Pod1");
    }

    // Asked again, nothing new is made.
    let again = bottom.prepare_port(&env.pod, s(&port["id"])).await.unwrap();
    assert_eq!(again, bottom_port_id);
    assert_eq!(env.in_pod("ports", s(&port["id"])).await.len(), 1);
}

#[tokio::test]
async fn two_instances_preparing_ports_on_one_network_make_one_copy_of_it() {
    let env = Env::new().await;
    let other_store = env.store.another_instance().await;
    let a = env.bottom(&env.store, LONG);
    let b = env.bottom(&other_store, LONG);
    let (net, sub, ports) = network_with_ports(a.neutron(), 4).await;

    let prepared = futures::future::join_all(ports.iter().enumerate().map(|(i, p)| {
        let bottom = if i % 2 == 0 { &a } else { &b };
        bottom.prepare_port(&env.pod, s(&p["id"]))
    }))
    .await;
    for r in &prepared {
        assert!(r.is_ok(), "{r:?}");
    }

    let nets = env
        .in_pod("networks", &bottom_network_name(s(&net["id"]), "net1"))
        .await;
    assert_eq!(nets.len(), 1, "one bottom network: {nets:?}");
    assert_eq!(env.in_pod("subnets", s(&sub["id"])).await.len(), 1);
    for p in &ports {
        assert_eq!(env.in_pod("ports", s(&p["id"])).await.len(), 1);
    }
}

#[tokio::test]
async fn a_copy_the_pod_may_have_made_is_found_by_the_next_owner_not_made_twice() {
    let env = Env::new().await;
    let (net, _, ports) = network_with_ports(env.bottom(&env.store, LONG).neutron(), 1).await;
    let port_id = s(&ports[0]["id"]).to_string();

    // The pod answers nothing in time: the network copy may or may not
    // exist, so its creation lock stays, empty (a second caller with a long
    // lock timeout would wait for it rather than take it).
    let url = InMemoryCloud::pod_url("Pod1");
    env.cloud.transport.set_fault(&url, Some(Fault::Hang));
    let hasty = PodClientOptions {
        timeout: Duration::from_millis(200),
        ..PodClientOptions::default()
    };
    let down = env
        .bottom_with(&env.store, LONG, &hasty)
        .prepare_port(&env.pod, &port_id)
        .await;
    let e = down.unwrap_err();
    assert!(e.is_transient(), "{e:?}");
    let locks = env
        .store
        .list_routings(
            &tricircle_store::RoutingFilter {
                top_id: Some(s(&net["id"]).to_string()),
                ..Default::default()
            },
            None,
            10,
        )
        .await
        .unwrap()
        .routings;
    assert_eq!(locks.len(), 1, "the lock stays: {locks:?}");
    assert!(locks[0].bottom_id.as_deref().unwrap_or("").is_empty());

    // Back up; say the pod had made the network after all (the answer was
    // what got lost). With the lock stale at once, the next caller takes it
    // over, finds that copy by its name, records it, and makes each piece
    // once.
    env.cloud.transport.set_fault(&url, None);
    let name = bottom_network_name(s(&net["id"]), "net1");
    let made_unseen = env
        .post(
            "networks",
            json!({"network": {"name": name, "tenant_id": "p1"}}),
        )
        .await;
    let bottom = env.bottom(&env.store, Duration::ZERO);
    bottom.prepare_port(&env.pod, &port_id).await.unwrap();
    bottom.prepare_port(&env.pod, &port_id).await.unwrap();
    let nets = env.in_pod("networks", &name).await;
    assert_eq!(nets.len(), 1, "{nets:?}");
    assert_eq!(env.in_pod("ports", &port_id).await.len(), 1);
    let copies = bottom
        .copies(s(&net["id"]), ResourceType::Network)
        .await
        .unwrap();
    assert_eq!(copies.len(), 1);
    assert_eq!(json!(copies[0].1), made_unseen["network"]["id"]);
}

#[tokio::test]
async fn deleting_the_copies_of_a_port_removes_it_from_the_pod_and_the_routings() {
    let env = Env::new().await;
    let bottom = env.bottom(&env.store, LONG);
    let (_, _, ports) = network_with_ports(bottom.neutron(), 1).await;
    let port_id = s(&ports[0]["id"]);
    bottom.prepare_port(&env.pod, port_id).await.unwrap();
    assert_eq!(env.in_pod("ports", port_id).await.len(), 1);

    bottom
        .delete_copies(port_id, ResourceType::Port)
        .await
        .unwrap();

    assert!(env.in_pod("ports", port_id).await.is_empty());
    assert!(bottom
        .copies(port_id, ResourceType::Port)
        .await
        .unwrap()
        .is_empty());
    // Deleting what is gone already is fine.
    bottom
        .delete_copies(port_id, ResourceType::Port)
        .await
        .unwrap();
}
