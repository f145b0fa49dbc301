//! The test bed: podsim's Pod1 (az1) and Pod2 (az2) in memory behind a
//! top over SQLite (or PostgreSQL), and what the tests read of the pods.

use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};
use tricircle_core::PodSpec;
use tricircle_jobs::{JobError, Registry};
use tricircle_network::bottom::Bottom;
use tricircle_network::{NetworkConfig, Neutron, Scope};
use tricircle_pods::testing::InMemoryCloud;
use tricircle_pods::{PodClientOptions, PodPath, ServiceCall};
use tricircle_store::testing::TestStore;
use tricircle_store::{Job, JobFilter, Pod};

pub const LONG: Duration = Duration::from_secs(60);

pub fn user(p: &str) -> Scope {
    Scope {
        project_id: p.into(),
        user_id: format!("u-{p}"),
        is_admin: false,
    }
}

pub fn admin() -> Scope {
    Scope {
        project_id: "admin".into(),
        user_id: "admin".into(),
        is_admin: true,
    }
}

pub fn s(v: &Value) -> &str {
    v.as_str().unwrap()
}

pub fn cfg() -> NetworkConfig {
    NetworkConfig {
        tenant_network_types: vec!["vxlan".into()],
        vni_ranges: vec![(100, 199)],
        ..NetworkConfig::default()
    }
}

pub struct Env {
    pub cloud: InMemoryCloud,
    pub store: TestStore,
    pub pods: Vec<Pod>,
    pub bottom: Bottom,
}

/// One project's networks, subnets and VM ports over the two pods.
pub struct Tenant {
    pub nets: Vec<Value>,
    pub subnets: Vec<Value>,
    pub router: String,
}

impl Env {
    /// podsim's `Pod1` (az1) and `Pod2` (az2) behind the top.
    pub async fn new() -> Env {
        Env::on(tricircle_store::testing::sqlite().await).await
    }

    /// The same over `store`.
    pub async fn on(store: TestStore) -> Env {
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

    pub fn neutron(&self) -> &Neutron {
        self.bottom.neutron()
    }

    /// Another instance: its own connection to the database, its own
    /// handle on the pods.
    pub async fn another(&self) -> Bottom {
        let neutron = Neutron::new(self.store.another_instance().await, cfg());
        let client = self.cloud.pod_client(&PodClientOptions::default());
        Bottom::new(neutron, client, self.cloud.keystone.clone(), LONG)
    }

    /// This instance's top with its own pod client and creation-lock
    /// timeout: a worker configured otherwise.
    pub fn worker(&self, options: &PodClientOptions, lock_timeout: Duration) -> Bottom {
        let client = self.cloud.pod_client(options);
        let keystone = self.cloud.keystone.clone();
        Bottom::new(self.neutron().clone(), client, keystone, lock_timeout)
    }

    /// `GET /v2.0/{collection}?{query}` on a pod as the service user.
    pub async fn in_pod(&self, pod: &str, collection: &str, query: &str) -> Vec<Value> {
        let (status, v) = self
            .send(pod, Method::GET, &[collection], Some(query), Value::Null)
            .await;
        assert_eq!(status, 200, "{v}");
        v[collection.replace('-', "_")]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// `{method} /v2.0/{path}` on a pod as the service user (an
    /// operator's change behind Tricircle's back); its status.
    pub async fn pod_call(&self, pod: &str, method: Method, path: &[&str], body: Value) -> u16 {
        self.send(pod, method, path, None, body).await.0
    }

    /// One call to a pod's Neutron as the service user: status and body.
    async fn send(
        &self,
        pod: &str,
        method: Method,
        path: &[&str],
        query: Option<&str>,
        body: Value,
    ) -> (u16, Value) {
        let pods = self.cloud.pod_client(&PodClientOptions::default());
        let r = pods
            .send_as_service(
                &self.cloud.keystone,
                ServiceCall {
                    pod,
                    service_type: "network",
                    method,
                    path: PodPath::fixed("/v2.0").join(&PodPath::of(path.iter().copied())),
                    query: query.map(str::to_string),
                    body: (!body.is_null()).then(|| body.to_string().into()),
                },
            )
            .await
            .unwrap();
        let v = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
        (r.status, v)
    }

    /// The one member of a pod's collection that `query` selects.
    pub async fn one_in_pod(&self, pod: &str, collection: &str, query: &str) -> Value {
        let found = self.in_pod(pod, collection, query).await;
        assert_eq!(found.len(), 1, "{pod} {collection}?{query}: {found:?}");
        found[0].clone()
    }

    /// A VM port on `net` in pod `i` (copied there, bound to a server),
    /// as the top has it.
    pub async fn vm(&self, i: usize, net: &Value, server: &str) -> Value {
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
    pub async fn two_pods_one_router(&self) -> (Tenant, Vec<Value>) {
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
    pub async fn jobs(&self, job_type: &str, resource_id: &str) -> Vec<Job> {
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
    pub async fn run_sync(&self, router: &str) -> Result<(), JobError> {
        let jobs = self.jobs("router_sync", router).await;
        let job = jobs.last().expect("a router_sync job");
        let registry = tricircle_network::handlers::register(Registry::new(), self.bottom.clone());
        registry.handler("router_sync").unwrap().run(job).await
    }

    /// Each pod's bottom router of `router`, its routes and interfaces.
    pub async fn bottom_router(&self, pod: &str, router: &str) -> (Value, Vec<Value>) {
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

pub fn ip(port: &Value) -> String {
    s(&port["fixed_ips"][0]["ip_address"]).to_string()
}

pub fn routes(router: &Value) -> Vec<(String, String)> {
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

pub async fn pod_state(env: &Env, pod: &str) -> Vec<Vec<Value>> {
    let mut state = Vec::new();
    for c in ["networks", "subnets", "ports", "routers"] {
        state.push(env.in_pod(pod, c, "").await);
    }
    state
}

/// A router with one subnet per pod (a new network with a VM in each).
pub async fn router_over_both_pods(env: &Env, name: &str, third_octet: u8) -> String {
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
