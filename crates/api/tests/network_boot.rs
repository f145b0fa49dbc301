//! Booting on networks through two gateway instances sharing one database
//! (SQLite, and PostgreSQL when available), over a simulated pod: many
//! concurrent boots on a new network make exactly one bottom network and
//! one bottom subnet, each server gets its own top port whose copy has the
//! same MAC and IP, and what a boot needs is checked before anything is
//! made.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tricircle_api::gateway::Gateway;
use tricircle_api::{compute_router, network_router, Authenticator, GatewayState, NetworkState};
use tricircle_core::ResourceType;
use tricircle_gateway::create_check::CheckDeps;
use tricircle_network::bottom::Bottom;
use tricircle_network::{NetworkConfig, Neutron, VlanRange};
use tricircle_pods::{
    EndpointResolver, Interface, KeystoneClient, PodClient, ServiceCredentials, TokenValidator,
    ValidatorConfig,
};
use tricircle_podsim::image::ImageService;
use tricircle_podsim::{Credentials, Identity, IdentityConfig, Pod, PodConfig};
use tricircle_store::testing::{self, TestStore};
use tricircle_store::{Store, Usage};

const IMAGE: &str = "6e1b0f9a-9a7c-4c55-b4bb-6f7a1a8a0002";

struct Instance {
    compute: String,
    network: String,
    /// What this instance's check jobs use (judging at once).
    checks: CheckDeps,
}

struct Env {
    http: reqwest::Client,
    admin: String,
    demo: String,
    demo_project: String,
    pods: Vec<Pod>,
    pod_urls: Vec<String>,
    instances: Vec<Instance>,
    store: TestStore,
    _identity: Identity,
}

async fn serve(router: axum::Router) -> String {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l, router).await });
    url
}

fn keystone_client(cfg: &IdentityConfig) -> Arc<KeystoneClient> {
    let s = Credentials::service(cfg);
    Arc::new(
        KeystoneClient::new(
            ServiceCredentials {
                auth_url: format!("{}/v3", cfg.public_url),
                username: s.username,
                password: s.password,
                project_name: s.project_name,
                user_domain_name: s.user_domain_name,
                project_domain_name: s.project_domain_name,
            },
            Duration::from_secs(5),
        )
        .unwrap(),
    )
}

/// One gateway instance (compute + network APIs) on `store`, with its own
/// caches and connection pool, as a separate process would have.
async fn instance(store: Store, cfg: &IdentityConfig, pod_timeout: Duration) -> Instance {
    let keystone = keystone_client(cfg);
    let resolver = Arc::new(EndpointResolver::new(
        keystone.clone(),
        Some(store.clone()),
        Interface::Public,
    ));
    let pods = PodClient::new(resolver, pod_timeout).unwrap();
    let neutron = Neutron::new(
        store.clone(),
        NetworkConfig {
            network_vlan_ranges: vec![VlanRange {
                physical_network: "physnet1".into(),
                range: Some((2000, 2010)),
            }],
            ..NetworkConfig::default()
        },
    );
    let bottom = Bottom::new(
        neutron.clone(),
        pods.clone(),
        keystone.clone(),
        Duration::from_secs(30),
    );
    let checks = CheckDeps {
        store: store.clone(),
        pods: pods.clone(),
        keystone: keystone.clone(),
        network: Some(bottom.clone()),
        settle: Duration::ZERO,
    };
    let gateway = GatewayState::new(
        Gateway {
            store,
            pods,
            tokens: None,
            network: Some(bottom),
            keystone: keystone.clone(),
            list_deadline: Duration::from_secs(5),
            quota_defaults: Usage {
                instances: 100,
                cores: 100,
                ram_mb: 1_000_000,
                volumes: 10,
                gigabytes: 100,
                snapshots: 10,
            },
            top_region: "RegionOne".into(),
            versions: Default::default(),
        },
        Arc::new(Authenticator::Keystone {
            validator: TokenValidator::new(keystone.clone(), &ValidatorConfig::default()),
            www_authenticate_uri: cfg.public_url.clone(),
        }),
        256 * 1024,
    );
    Instance {
        compute: serve(compute_router(gateway.clone())).await,
        network: serve(network_router(NetworkState { gateway, neutron })).await,
        checks,
    }
}

async fn env(store: TestStore) -> Env {
    env_with(store, Duration::from_secs(10)).await
}

/// Gateways whose calls to pods give up after `pod_timeout`.
async fn env_with(store: TestStore, pod_timeout: Duration) -> Env {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let cfg = IdentityConfig {
        public_url: format!("http://{}", l.local_addr().unwrap()),
        ..Default::default()
    };
    let identity = Identity::new(cfg.clone());
    let router = identity.router();
    tokio::spawn(async move { tricircle_podsim::serve(l, router, std::future::pending()).await });
    let images = ImageService::default();
    images.add_image(IMAGE, "cirros");
    let mut pods = Vec::new();
    let mut pod_urls = Vec::new();
    for (name, az) in [("Pod1", "nova"), ("Pod2", "nova2")] {
        let mut pc = PodConfig::new(name)
            .with_identity(identity.clone())
            .with_images(images.clone());
        pc.availability_zone = az.into();
        let pod = Pod::new(pc);
        let url = serve(pod.router()).await;
        identity.register_pod(name, &url);
        pod_urls.push(url.clone());
        if pods.is_empty() {
            for iface in ["public", "internal", "admin"] {
                identity.add_endpoint("RegionOne", "image", iface, &format!("{url}/image"));
            }
        }
        pods.push(pod);
    }
    for (name, az, paz) in [
        ("RegionOne", "", ""),
        ("Pod1", "az1", "nova"),
        ("Pod2", "az2", "nova2"),
    ] {
        let spec = tricircle_core::PodSpec {
            pod_name: name.into(),
            az_name: Some(az.into()),
            pod_az_name: Some(paz.into()),
            dc_name: None,
        };
        store.create_pod(&spec.validate().unwrap()).await.unwrap();
    }
    // The pods' own Nova quotas must allow the tests' boots.
    let admin = identity.issue_token("admin", "admin").unwrap();
    let demo_project = identity
        .validate(&identity.issue_token("demo", "demo").unwrap())
        .unwrap()["token"]["project"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    for url in &pod_urls {
        let r = reqwest::Client::new()
            .put(format!("{url}/compute/v2.1/os-quota-sets/{demo_project}"))
            .header("x-auth-token", &admin)
            .json(&json!({"quota_set": {"instances": 100, "cores": 100, "ram": 1_000_000}}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200, "{}", r.text().await.unwrap());
    }
    let first = instance(store.store.clone(), &cfg, pod_timeout).await;
    let second = instance(store.another_instance().await, &cfg, pod_timeout).await;
    Env {
        http: reqwest::Client::new(),
        admin: identity.issue_token("admin", "admin").unwrap(),
        demo: identity.issue_token("demo", "demo").unwrap(),
        demo_project,
        pods,
        pod_urls,
        instances: vec![first, second],
        store,
        _identity: identity,
    }
}

impl Env {
    async fn call(
        &self,
        token: &str,
        method: Method,
        url: String,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self.http.request(method, url).header("x-auth-token", token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn net(&self, method: Method, path: &str, body: Option<Value>) -> Value {
        let (s, v) = self
            .call(
                &self.demo,
                method,
                format!("{}/v2.0{path}", self.instances[0].network),
                body,
            )
            .await;
        assert!((200..300).contains(&s), "{path}: {s} {v}");
        v
    }

    /// A new network with one IPv4 subnet; its id.
    async fn network_with_subnet(&self, name: &str, cidr: &str) -> String {
        let net = self
            .net(
                Method::POST,
                "/networks",
                Some(json!({"network": {"name": name}})),
            )
            .await;
        let id = net["network"]["id"].as_str().unwrap().to_string();
        self.net(
            Method::POST,
            "/subnets",
            Some(json!({"subnet": {"network_id": id, "cidr": cidr, "ip_version": 4}})),
        )
        .await;
        id
    }

    async fn flavor(&self) -> String {
        let (s, v) = self
            .call(
                &self.admin,
                Method::POST,
                format!("{}/v2.1/flavors", self.instances[0].compute),
                Some(json!({"flavor": {"name": "tiny", "vcpus": 1, "ram": 64, "disk": 1}})),
            )
            .await;
        assert_eq!(s, 200, "{v}");
        v["flavor"]["id"].as_str().unwrap().to_string()
    }

    async fn boot(
        &self,
        i: usize,
        flavor: &str,
        networks: Value,
        az: Option<&str>,
    ) -> (u16, Value) {
        let mut server = json!({"name": format!("vm-{i}"), "flavorRef": flavor, "imageRef": IMAGE,
            "networks": networks});
        if let Some(az) = az {
            server["availability_zone"] = json!(az);
        }
        let base = &self.instances[i % self.instances.len()].compute;
        self.call(
            &self.demo,
            Method::POST,
            format!("{base}/v2.1/servers"),
            Some(json!({"server": server})),
        )
        .await
    }
}

/// The server once it is ACTIVE (addresses are known then).
async fn active(env: &Env, id: &str) -> Value {
    for _ in 0..100 {
        let (s, v) = env
            .call(
                &env.demo,
                Method::GET,
                format!("{}/v2.1/servers/{id}", env.instances[1].compute),
                None,
            )
            .await;
        assert_eq!(s, 200, "{v}");
        if v["server"]["status"] == "ACTIVE" {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("server {id} did not become ACTIVE");
}

/// The pending jobs of a type.
async fn check_jobs(store: &Store, job_type: &str) -> Vec<tricircle_jobs::Job> {
    let filter = tricircle_store::JobFilter {
        job_type: Some(job_type.to_string()),
        ..Default::default()
    };
    store.list_jobs(&filter, None, 10).await.unwrap().jobs
}

fn named<'a>(items: &'a [Value], name: &str) -> Vec<&'a Value> {
    items.iter().filter(|i| i["name"] == name).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_parallel_boots_make_one_bottom_network_and_subnet() {
    for store in testing::all().await {
        let label = store.label();
        let env = env(store).await;
        let flavor = env.flavor().await;
        let net = env
            .net(
                Method::POST,
                "/networks",
                Some(json!({"network": {"name": "web"}})),
            )
            .await["network"]
            .clone();
        let net_id = net["id"].as_str().unwrap().to_string();
        let subnet = env
            .net(
                Method::POST,
                "/subnets",
                Some(json!({"subnet": {"network_id": net_id, "cidr": "10.9.0.0/24", "ip_version": 4, "name": "web-sub"}})),
            )
            .await["subnet"]
            .clone();
        let subnet_id = subnet["id"].as_str().unwrap().to_string();

        let boots = (0..20).map(|i| {
            let env = &env;
            let flavor = flavor.clone();
            let net_id = net_id.clone();
            async move {
                env.boot(i, &flavor, json!([{"uuid": net_id}]), Some("az1"))
                    .await
            }
        });
        let answers = futures::future::join_all(boots).await;
        let mut server_ids = Vec::new();
        for (s, v) in &answers {
            assert_eq!(*s, 202, "[{label}] {v}");
            server_ids.push(v["server"]["id"].as_str().unwrap().to_string());
        }

        // One copy of the network and of the subnet in Pod1, none in Pod2.
        let pod = env.pods[0].network();
        let bottom_name = format!("{net_id}#web");
        let networks = pod.networks();
        assert_eq!(
            named(&networks, &bottom_name).len(),
            1,
            "[{label}] {networks:?}"
        );
        assert_eq!(pod.request_count("POST", "networks"), 1, "[{label}]");
        let subnets = pod.subnets();
        let copies = named(&subnets, &subnet_id);
        assert_eq!(copies.len(), 1, "[{label}] {subnets:?}");
        assert_eq!(pod.request_count("POST", "subnets"), 1, "[{label}]");
        assert_eq!(copies[0]["cidr"], "10.9.0.0/24");
        assert!(env.pods[1].network().networks().is_empty(), "[{label}]");
        // The pod's gateway is its reserved top port's IP, not in its pools.
        let gateway = copies[0]["gateway_ip"].as_str().unwrap().to_string();
        let (_, reserved) = env
            .call(
                &env.admin,
                Method::GET,
                format!(
                    "{}/v2.0/ports?network_id={net_id}&device_owner=network:router_interface_distributed",
                    env.instances[0].network
                ),
                None,
            )
            .await;
        let reserved = reserved["ports"].as_array().unwrap().clone();
        assert_eq!(reserved.len(), 1, "[{label}] {reserved:?}");
        assert_eq!(reserved[0]["fixed_ips"][0]["ip_address"], gateway.as_str());

        // Twenty top ports with distinct IPs; each has a copy with the same
        // MAC and IP, bound to its server.
        let (_, top) = env
            .call(
                &env.demo,
                Method::GET,
                format!(
                    "{}/v2.0/ports?network_id={net_id}&device_owner=compute:az1",
                    env.instances[1].network
                ),
                None,
            )
            .await;
        let top_ports = top["ports"].as_array().unwrap().clone();
        assert_eq!(top_ports.len(), 20, "[{label}] {top}");
        let ips: HashSet<String> = top_ports
            .iter()
            .map(|p| {
                p["fixed_ips"][0]["ip_address"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect();
        assert_eq!(ips.len(), 20, "[{label}] duplicate IPs");
        assert!(!ips.contains(&gateway));
        let bottom_ports = pod.ports();
        for p in &top_ports {
            let id = p["id"].as_str().unwrap();
            let copy = named(&bottom_ports, id);
            assert_eq!(copy.len(), 1, "[{label}] port {id}");
            assert_eq!(copy[0]["mac_address"], p["mac_address"]);
            assert_eq!(
                copy[0]["fixed_ips"][0]["ip_address"],
                p["fixed_ips"][0]["ip_address"]
            );
            assert!(server_ids.contains(&p["device_id"].as_str().unwrap().to_string()));
            assert_eq!(
                copy[0]["device_id"], p["device_id"],
                "[{label}] bottom binding"
            );
        }

        // The ports' security group (the project's default) is in the pod,
        // named by its top id, its rules copied with the remote group
        // translated to the copy itself; and it was made once.
        let top_group = top_ports[0]["security_groups"][0].as_str().unwrap();
        let groups = pod.security_groups();
        let copy = named(&groups, top_group);
        assert_eq!(copy.len(), 1, "[{label}] {groups:?}");
        let copy_id = copy[0]["id"].as_str().unwrap();
        assert_eq!(pod.request_count("POST", "security-groups"), 1, "[{label}]");
        let rules = pod.security_group_rules();
        let rules: Vec<&Value> = rules
            .iter()
            .filter(|r| r["security_group_id"] == copy_id)
            .collect();
        let ingress: Vec<&&Value> = rules
            .iter()
            .filter(|r| r["direction"] == "ingress")
            .collect();
        assert_eq!(ingress.len(), 2, "[{label}] {rules:?}");
        assert!(
            ingress.iter().all(|r| r["remote_group_id"] == copy_id),
            "[{label}] {rules:?}"
        );
        assert_eq!(rules.len(), 4, "[{label}] {rules:?}");
        for p in &bottom_ports {
            if p["device_owner"]
                .as_str()
                .unwrap_or("")
                .starts_with("compute:")
            {
                assert_eq!(p["security_groups"], json!([copy_id]), "[{label}] {p}");
            }
        }

        // Addresses are shown under the top network's name.
        let shown = active(&env, &server_ids[0]).await;
        let addresses = shown["server"]["addresses"].as_object().unwrap();
        assert_eq!(
            addresses.keys().collect::<Vec<_>>(),
            vec!["web"],
            "[{label}] {addresses:?}"
        );
    }
}

#[tokio::test]
async fn a_boot_on_networks_is_checked_before_anything_is_made() {
    let env = env(testing::sqlite().await).await;
    let flavor = env.flavor().await;
    let net = env
        .net(
            Method::POST,
            "/networks",
            Some(json!({"network": {"name": "az1-only", "availability_zone_hints": ["az1"]}})),
        )
        .await["network"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    // No subnet yet.
    let (s, v) = env
        .boot(0, &flavor, json!([{"uuid": net}]), Some("az1"))
        .await;
    assert_eq!(s, 400, "{v}");
    assert!(
        v["badRequest"]["message"]
            .as_str()
            .unwrap()
            .contains("requires a subnet"),
        "{v}"
    );
    env.net(
        Method::POST,
        "/subnets",
        Some(json!({"subnet": {"network_id": net, "cidr": "10.8.0.0/24", "ip_version": 4}})),
    )
    .await;
    // The network is for az1 only.
    let (s, v) = env
        .boot(0, &flavor, json!([{"uuid": net}]), Some("az2"))
        .await;
    assert_eq!(s, 400, "{v}");
    assert!(
        v["badRequest"]["message"]
            .as_str()
            .unwrap()
            .contains("availability zone"),
        "{v}"
    );
    // Unknown network, bad shapes.
    let (s, v) = env
        .boot(
            0,
            &flavor,
            json!([{"uuid": "3f1c8c3e-6d0c-4a59-9e44-1b2a6f3c9d10"}]),
            None,
        )
        .await;
    assert_eq!(s, 400, "{v}");
    let (s, _) = env.boot(0, &flavor, json!([{"uuid": "nope"}]), None).await;
    assert_eq!(s, 400);
    // Nothing was made anywhere.
    for pod in &env.pods {
        assert!(pod.network().networks().is_empty());
        for collection in ["networks", "subnets", "ports", "security-groups"] {
            assert_eq!(pod.network().request_count("POST", collection), 0);
        }
    }
    let (_, ports) = env
        .call(
            &env.demo,
            Method::GET,
            format!("{}/v2.0/ports?network_id={net}", env.instances[0].network),
            None,
        )
        .await;
    assert_eq!(ports["ports"], json!([]), "{ports}");

    // Without an AZ the boot goes where the network's hint says; a taken
    // fixed IP is refused and leaves no port behind.
    let (s, v) = env
        .boot(
            1,
            &flavor,
            json!([{"uuid": net, "fixed_ip": "10.8.0.50"}]),
            None,
        )
        .await;
    assert_eq!(s, 202, "{v}");
    let id = v["server"]["id"].as_str().unwrap().to_string();
    let shown = active(&env, &id).await;
    assert_eq!(
        shown["server"]["OS-EXT-AZ:availability_zone"], "az1",
        "{shown}"
    );
    assert_eq!(
        shown["server"]["addresses"]["az1-only"][0]["addr"], "10.8.0.50",
        "{shown}"
    );
    let (s, v) = env
        .boot(
            0,
            &flavor,
            json!([{"uuid": net, "fixed_ip": "10.8.0.50"}]),
            None,
        )
        .await;
    assert_eq!(s, 409, "{v}");
    let (_, ports) = env
        .call(
            &env.demo,
            Method::GET,
            format!(
                "{}/v2.0/ports?network_id={net}&device_owner=compute:az1",
                env.instances[0].network
            ),
            None,
        )
        .await;
    assert_eq!(ports["ports"].as_array().unwrap().len(), 1, "{ports}");

    // A user's own port: used as is, kept (unbound) when the server goes.
    let port = env
        .net(
            Method::POST,
            "/ports",
            Some(json!({"port": {"network_id": net, "name": "mine"}})),
        )
        .await["port"]
        .clone();
    let port_id = port["id"].as_str().unwrap().to_string();
    let (s, v) = env
        .boot(0, &flavor, json!([{"port": port_id}]), Some("az1"))
        .await;
    assert_eq!(s, 202, "{v}");
    let sid = v["server"]["id"].as_str().unwrap().to_string();
    let bound = env
        .net(Method::GET, &format!("/ports/{port_id}"), None)
        .await;
    assert_eq!(bound["port"]["device_id"], sid.as_str());
    let (s, v) = env
        .boot(0, &flavor, json!([{"port": port_id}]), Some("az1"))
        .await;
    assert_eq!(s, 409, "port in use: {v}");
    let (s, _) = env
        .call(
            &env.demo,
            Method::DELETE,
            format!("{}/v2.1/servers/{sid}", env.instances[0].compute),
            None,
        )
        .await;
    assert_eq!(s, 204);
    let kept = env
        .net(Method::GET, &format!("/ports/{port_id}"), None)
        .await;
    assert_eq!(kept["port"]["device_id"], "", "{kept}");
    // The boot-made port of the first server goes with it.
    let (s, _) = env
        .call(
            &env.demo,
            Method::DELETE,
            format!("{}/v2.1/servers/{id}", env.instances[0].compute),
            None,
        )
        .await;
    assert_eq!(s, 204);
    let (_, ports) = env
        .call(
            &env.demo,
            Method::GET,
            format!(
                "{}/v2.0/ports?network_id={net}&device_owner=compute:az1",
                env.instances[0].network
            ),
            None,
        )
        .await;
    assert_eq!(ports["ports"], json!([]), "{ports}");
}

#[tokio::test]
async fn a_vlan_network_spans_pods_and_a_local_one_stays_in_its_pod() {
    let env = env(testing::sqlite().await).await;
    let flavor = env.flavor().await;
    let admin_net = |body: Value| {
        let env = &env;
        async move {
            let (s, v) = env
                .call(
                    &env.admin,
                    Method::POST,
                    format!("{}/v2.0/networks", env.instances[0].network),
                    Some(json!({ "network": body })),
                )
                .await;
            assert_eq!(s, 201, "{v}");
            v["network"].clone()
        }
    };
    let vlan = admin_net(json!({"name": "stretched", "provider:network_type": "vlan",
        "provider:physical_network": "physnet1", "project_id": env.demo_project}))
    .await;
    let segment = vlan["provider:segmentation_id"].clone();
    assert!((2000..=2010).contains(&segment.as_i64().unwrap()), "{vlan}");
    let local = admin_net(json!({"name": "here", "provider:network_type": "local",
        "project_id": env.demo_project}))
    .await;
    for (net, cidr) in [(&vlan, "10.7.1.0/24"), (&local, "10.7.2.0/24")] {
        env.net(
            Method::POST,
            "/subnets",
            Some(json!({"subnet": {"network_id": net["id"], "cidr": cidr, "ip_version": 4}})),
        )
        .await;
    }
    let vlan_id = vlan["id"].as_str().unwrap();
    let local_id = local["id"].as_str().unwrap();
    for (i, az) in [(0, "az1"), (1, "az2")] {
        let (s, v) = env
            .boot(i, &flavor, json!([{"uuid": vlan_id}]), Some(az))
            .await;
        assert_eq!(s, 202, "{az}: {v}");
    }
    // The same physical network and VLAN id in both pods.
    for pod in &env.pods {
        let nets = pod.network().networks();
        let copy = named(&nets, &format!("{vlan_id}#stretched"));
        assert_eq!(copy.len(), 1, "{nets:?}");
        assert_eq!(copy[0]["provider:network_type"], "vlan");
        assert_eq!(copy[0]["provider:physical_network"], "physnet1");
        assert_eq!(copy[0]["provider:segmentation_id"], segment);
    }
    // A local network lives where it was first used.
    let (s, v) = env
        .boot(0, &flavor, json!([{"uuid": local_id}]), Some("az1"))
        .await;
    assert_eq!(s, 202, "{v}");
    let (s, v) = env
        .boot(1, &flavor, json!([{"uuid": local_id}]), Some("az2"))
        .await;
    assert_eq!(s, 409, "{v}");
    assert!(
        v["conflictingRequest"]["message"]
            .as_str()
            .unwrap()
            .contains("local network"),
        "{v}"
    );
    let in_pod2 = env.pods[1].network().networks();
    assert!(
        named(&in_pod2, &format!("{local_id}#here")).is_empty(),
        "{in_pod2:?}"
    );
    // Without an AZ, a boot on it goes to its pod.
    let (s, v) = env
        .boot(1, &flavor, json!([{"uuid": local_id}]), None)
        .await;
    assert_eq!(s, 202, "{v}");
    let shown = active(&env, v["server"]["id"].as_str().unwrap()).await;
    assert_eq!(shown["server"]["OS-EXT-AZ:availability_zone"], "az1");
}

/// A boot whose answer is lost (the pod made the server, then answered too
/// late) is told 503 and leaves a check job. The check deletes that server
/// in the pod and the port the boot made for it, at the top and in the pod,
/// and leaves alone the server of the same name the gateway knows. Run
/// again, it changes nothing; while the pod is down it asks to be retried.
#[tokio::test]
async fn a_lost_boot_answer_is_cleaned_up_by_its_check_job() {
    let env = env_with(testing::sqlite().await, Duration::from_secs(1)).await;
    let flavor = env.flavor().await;
    let net_id = env.network_with_subnet("lost", "10.11.0.0/24").await;
    let boot = || {
        env.call(
            &env.demo,
            Method::POST,
            format!("{}/v2.1/servers", env.instances[0].compute),
            Some(
                json!({"server": {"name": "dup", "flavorRef": flavor, "imageRef": IMAGE,
                "networks": [{"uuid": net_id}], "availability_zone": "az1"}}),
            ),
        )
    };
    let (s, v) = boot().await;
    assert_eq!(s, 202, "{v}");
    let kept = v["server"]["id"].as_str().unwrap().to_string();

    env.pods[0].set_answer_delay("/compute/v2.1/servers", Duration::from_millis(1500));
    let (s, v) = boot().await;
    assert_eq!(s, 503, "{v}");
    env.pods[0].set_answer_delay("/compute/v2.1/servers", Duration::ZERO);
    let dups = || -> Vec<String> {
        env.pods[0]
            .compute()
            .servers()
            .iter()
            .filter(|s| s["name"] == "dup")
            .map(|s| s["id"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(dups().len(), 2, "the pod made the second server");

    let jobs = check_jobs(&env.store, create_checks::SERVER_CREATE_CHECK).await;
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    let job = &jobs[0];
    // Workers leave it until the pod has settled.
    assert!(
        job.run_after.as_deref() > Some(job.created_at.as_str()),
        "{job:?}"
    );
    let ports: Vec<String> = job.resource["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap().to_string())
        .collect();
    assert_eq!(ports.len(), 1, "{job:?}");
    let lost_port = &ports[0];
    let port_url = format!("{}/v2.0/ports/{lost_port}", env.instances[0].network);
    let (s, _) = env
        .call(&env.demo, Method::GET, port_url.clone(), None)
        .await;
    assert_eq!(s, 200);
    assert_eq!(named(&env.pods[0].network().ports(), lost_port).len(), 1);

    let registry = create_checks::register(
        tricircle_jobs::Registry::new(),
        env.instances[1].checks.clone(),
    );
    let handler = registry.handler(&job.job_type).unwrap();

    // A pod that is down: try again later, nothing decided.
    env.pods[0].set_down(true);
    let outcome = handler.run(job).await;
    assert!(
        matches!(outcome, Err(tricircle_jobs::JobError::Retry(_))),
        "{outcome:?}"
    );
    env.pods[0].set_down(false);
    assert_eq!(dups().len(), 2);

    for _ in 0..2 {
        handler.run(job).await.unwrap();
        // Nova deletes in the background.
        for _ in 0..100 {
            if dups().len() == 1 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(dups(), vec![kept.clone()]);
        let (s, v) = env
            .call(&env.demo, Method::GET, port_url.clone(), None)
            .await;
        assert_eq!(s, 404, "{v}");
        assert!(named(&env.pods[0].network().ports(), lost_port).is_empty());
    }
    // The kept server and its port are untouched.
    let shown = active(&env, &kept).await;
    assert!(shown["server"]["addresses"]["lost"].is_array(), "{shown}");
}

/// `forceDelete` releases a server's ports as a delete does: the port its
/// boot made goes, at the top and (through its job) in the pod.
#[tokio::test]
async fn force_delete_releases_the_ports_of_the_boot() {
    let env = env(testing::sqlite().await).await;
    let flavor = env.flavor().await;
    let net_id = env.network_with_subnet("forced", "10.12.0.0/24").await;
    let (s, v) = env
        .boot(0, &flavor, json!([{"uuid": net_id}]), Some("az1"))
        .await;
    assert_eq!(s, 202, "{v}");
    let id = v["server"]["id"].as_str().unwrap().to_string();
    active(&env, &id).await;
    let ports_of = |id: String| {
        let env = &env;
        async move {
            env.net(Method::GET, &format!("/ports?device_id={id}"), None)
                .await["ports"]
                .as_array()
                .unwrap()
                .len()
        }
    };
    assert_eq!(ports_of(id.clone()).await, 1);
    let (s, v) = env
        .call(
            &env.demo,
            Method::POST,
            format!("{}/v2.1/servers/{id}/action", env.instances[0].compute),
            Some(json!({"forceDelete": null})),
        )
        .await;
    assert_eq!(s, 202, "{v}");
    assert_eq!(ports_of(id.clone()).await, 0);
    // Shown `deleting` while the pod is at it, then gone.
    env.pods[0].compute().finish_deletes();
    let (s, _) = env
        .call(
            &env.demo,
            Method::GET,
            format!("{}/v2.1/servers/{id}", env.instances[0].compute),
            None,
        )
        .await;
    assert_eq!(s, 404);
}

/// A pod answering 503 while a boot prepares its network is an outage:
/// 503 in Nova's format, never a 400 as if the request were wrong. Nothing
/// is left at the top: the port the boot made goes again.
#[tokio::test]
async fn a_pod_outage_during_a_boot_is_a_503() {
    let env = env(testing::sqlite().await).await;
    let flavor = env.flavor().await;
    let net_id = env.network_with_subnet("outage", "10.13.0.0/24").await;
    env.pods[0].set_down(true);
    let (s, v) = env
        .boot(0, &flavor, json!([{"uuid": net_id}]), Some("az1"))
        .await;
    assert_eq!(s, 503, "{v}");
    assert!(
        v["serviceUnavailable"]["message"]
            .as_str()
            .unwrap()
            .contains("Pod1"),
        "{v}"
    );
    let server_ports = || async {
        let ports = env
            .net(Method::GET, &format!("/ports?network_id={net_id}"), None)
            .await;
        ports["ports"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| {
                p["device_owner"]
                    .as_str()
                    .unwrap_or("")
                    .starts_with("compute:")
            })
            .count()
    };
    assert_eq!(server_ports().await, 0);
    env.pods[0].set_down(false);
    let (s, v) = env
        .boot(0, &flavor, json!([{"uuid": net_id}]), Some("az1"))
        .await;
    assert_eq!(s, 202, "{v}");
    assert_eq!(server_ports().await, 1);
}

/// A boot Nova would refuse for its image is refused before anything is
/// made: no top port, no copy of the network in the pod, no tombstone.
#[tokio::test]
async fn a_boot_from_an_unknown_image_makes_nothing() {
    let env = env(testing::sqlite().await).await;
    let flavor = env.flavor().await;
    let net_id = env.network_with_subnet("imageless", "10.14.0.0/24").await;
    let count = |sql: &'static str| {
        let store = env.store.store.clone();
        async move {
            sqlx::query_scalar::<_, i64>(sql)
                .fetch_one(store.pool())
                .await
                .unwrap()
        }
    };
    let before = (
        count("SELECT COUNT(*) FROM ports").await,
        count("SELECT COUNT(*) FROM routings").await,
        count("SELECT COUNT(*) FROM tombstones").await,
        env.pods[0].network().networks().len(),
        env.pods[0].network().ports().len(),
    );
    let base = &env.instances[0].compute;
    let (s, v) = env
        .call(
            &env.demo,
            Method::POST,
            format!("{base}/v2.1/servers"),
            Some(json!({"server": {"name": "no-image", "flavorRef": flavor,
                "imageRef": "00000000-0000-4000-8000-00000000beef",
                "networks": [{"uuid": net_id}], "availability_zone": "az1"}})),
        )
        .await;
    assert_eq!(s, 400, "{v}");
    assert_eq!(
        v["badRequest"]["message"], "Can not find requested image",
        "{v}"
    );
    let after = (
        count("SELECT COUNT(*) FROM ports").await,
        count("SELECT COUNT(*) FROM routings").await,
        count("SELECT COUNT(*) FROM tombstones").await,
        env.pods[0].network().networks().len(),
        env.pods[0].network().ports().len(),
    );
    assert_eq!(before, after);
}

/// The top frees a deleted port's address at once while the port's copy
/// waits for its delete job, or stays for good when the pod made it but its
/// answer was lost: a new port given that address still gets its copy, the
/// stale copy making way for it (a 409 from the pod before).
#[tokio::test]
async fn an_address_given_again_before_the_old_copy_went_still_boots() {
    let env = env(testing::sqlite().await).await;
    let flavor = env.flavor().await;
    let net_id = env.network_with_subnet("reuse", "10.14.0.0/24").await;
    let pod1 = env.store.find_pod_by_name("Pod1").await.unwrap().unwrap();
    let port_of = |server: String| {
        let env = &env;
        async move {
            env.net(Method::GET, &format!("/ports?device_id={server}"), None)
                .await["ports"][0]
                .clone()
        }
    };
    let copies_named = |name: &str| -> Vec<Value> {
        env.pods[0]
            .network()
            .ports()
            .into_iter()
            .filter(|p| p["name"] == name)
            .collect()
    };
    // Two servers whose ports' copies outlive them: one still routed (its
    // delete job has not run: no job engine runs here), one no longer
    // known to the top (as when the pod's answer to its create was lost).
    let mut servers = Vec::new();
    for i in 0..2 {
        let (s, v) = env
            .boot(i, &flavor, json!([{"uuid": net_id}]), Some("az1"))
            .await;
        assert_eq!(s, 202, "{v}");
        servers.push(v["server"]["id"].as_str().unwrap().to_string());
    }
    let mut old = Vec::new();
    for server in servers {
        let port = port_of(server.clone()).await;
        let (s, v) = env
            .call(
                &env.demo,
                Method::DELETE,
                format!("{}/v2.1/servers/{server}", env.instances[0].compute),
                None,
            )
            .await;
        assert_eq!(s, 204, "{v}");
        let id = port["id"].as_str().unwrap().to_string();
        let (s, _) = env
            .call(
                &env.demo,
                Method::GET,
                format!("{}/v2.0/ports/{id}", env.instances[0].network),
                None,
            )
            .await;
        assert_eq!(s, 404);
        assert_eq!(copies_named(&id).len(), 1);
        old.push((id, port["fixed_ips"][0]["ip_address"].clone()));
    }
    env.store
        .delete_routing_of(&old[1].0, &pod1.pod_id, ResourceType::Port)
        .await
        .unwrap();
    // Until their delete jobs have run, the top holds the old addresses:
    // asked for by name, they are in use.
    for (i, (_, ip)) in old.iter().enumerate() {
        let (s, v) = env
            .boot(
                i,
                &flavor,
                json!([{"uuid": net_id, "fixed_ip": ip}]),
                Some("az1"),
            )
            .await;
        assert_eq!(s, 409, "{v}");
        assert!(
            v["conflictingRequest"]["message"]
                .as_str()
                .unwrap()
                .contains("already allocated"),
            "{v}"
        );
    }
    // An operator gives up on the delete jobs (the pod never answered):
    // deleting them ends the holds.
    for job in check_jobs(&env.store, "port_delete").await {
        env.store.delete_job(&job.id).await.unwrap();
    }

    for (i, (old_id, ip)) in old.iter().enumerate() {
        let (s, v) = env
            .boot(
                i,
                &flavor,
                json!([{"uuid": net_id, "fixed_ip": ip}]),
                Some("az1"),
            )
            .await;
        assert_eq!(s, 202, "{v}");
        let new = port_of(v["server"]["id"].as_str().unwrap().to_string()).await;
        assert_eq!(new["fixed_ips"][0]["ip_address"], *ip);
        let new_copies = copies_named(new["id"].as_str().unwrap());
        assert_eq!(new_copies.len(), 1);
        assert_eq!(new_copies[0]["fixed_ips"][0]["ip_address"], *ip);
        assert!(copies_named(old_id).is_empty());
        // The stale copy's routing went with it: its delete job finds
        // nothing to do.
        let routings = env
            .store
            .list_routings(
                &tricircle_store::RoutingFilter {
                    top_id: Some(old_id.clone()),
                    ..Default::default()
                },
                None,
                10,
            )
            .await
            .unwrap();
        assert!(routings.routings.is_empty(), "{:?}", routings.routings);
    }
}

/// The pod makes a port copy but its answer is lost: the boot fails (503)
/// and undoes its top port; the copy left in the pod is found by name and
/// deleted by the port's delete job once its creation lock is stale — no
/// orphan port stays in the pod.
#[tokio::test]
async fn a_port_copy_whose_answer_was_lost_is_deleted_with_its_port() {
    let env = env_with(testing::sqlite().await, Duration::from_secs(1)).await;
    let flavor = env.flavor().await;
    let net_id = env.network_with_subnet("lostcopy", "10.15.0.0/24").await;
    // A first boot makes the network and subnet copies in Pod1.
    let (s, v) = env
        .boot(0, &flavor, json!([{"uuid": net_id}]), Some("az1"))
        .await;
    assert_eq!(s, 202, "{v}");
    let top_ports = || async {
        env.net(Method::GET, "/ports", None).await["ports"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["id"].as_str().unwrap().to_string())
            .collect::<HashSet<String>>()
    };
    // Pod ports named after a top port that no longer exists.
    let orphans = |top: HashSet<String>| -> Vec<String> {
        env.pods[0]
            .network()
            .ports()
            .iter()
            .filter_map(|p| p["name"].as_str())
            .filter(|n| uuid_like(n) && !top.contains(*n))
            .map(str::to_string)
            .collect()
    };
    assert!(orphans(top_ports().await).is_empty());

    env.pods[0].set_answer_delay_on(
        Some(Method::POST),
        "/network/v2.0/ports",
        Duration::from_millis(1500),
    );
    let (s, v) = env
        .boot(0, &flavor, json!([{"uuid": net_id}]), Some("az1"))
        .await;
    assert_eq!(s, 503, "{v}");
    env.pods[0].set_answer_delay("/network/v2.0/ports", Duration::ZERO);
    let left = orphans(top_ports().await);
    assert_eq!(left.len(), 1, "the pod made the copy: {left:?}");

    let jobs: Vec<tricircle_jobs::Job> = env
        .store
        .list_jobs(
            &tricircle_store::JobFilter {
                job_type: Some("port_delete".into()),
                ..Default::default()
            },
            None,
            10,
        )
        .await
        .unwrap()
        .jobs
        .into_iter()
        .filter(|j| j.resource_id == left[0])
        .collect();
    assert_eq!(jobs.len(), 1, "the undone port's delete job");
    let registry = tricircle_network::handlers::register(
        tricircle_jobs::Registry::new(),
        env.instances[1].checks.network.clone().unwrap(),
    );
    let handler = registry.handler("port_delete").unwrap();
    // While the creation lock is fresh someone may still be making the copy:
    // try again later.
    assert!(matches!(
        handler.run(&jobs[0]).await,
        Err(tricircle_jobs::JobError::Retry(_))
    ));
    assert_eq!(orphans(top_ports().await), left);
    // Once it is stale (its time moved back rather than waited for), the
    // copy goes, found by its name.
    sqlx::query("UPDATE routings SET updated_at = '2000-01-01T00:00:00Z' WHERE top_id = $1")
        .bind(&left[0])
        .execute(env.store.store.pool())
        .await
        .unwrap();
    handler.run(&jobs[0]).await.unwrap();
    assert!(orphans(top_ports().await).is_empty());
}

/// Deleting a server and booting the next on the same network in the same
/// pod at once, over and over on a small subnet, while the delete jobs run
/// in the background: every boot succeeds and no address is ever held by two
/// ports in the pod (the top holds a deleted port's addresses until its
/// copy is gone).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn delete_then_boot_at_once_never_reuses_an_address_the_pod_still_holds() {
    let env = env(testing::sqlite().await).await;
    let flavor = env.flavor().await;
    // Pools 10.17.0.2-14, less the pod's gateway and DHCP ports.
    let net_id = env.network_with_subnet("tight", "10.17.0.0/28").await;
    let registry = Arc::new(tricircle_network::handlers::register(
        tricircle_jobs::Registry::new(),
        env.instances[1].checks.network.clone().unwrap(),
    ));
    let engine = tricircle_jobs::Engine::new(
        env.store.store.clone(),
        registry,
        tricircle_jobs::EngineConfig {
            poll_interval: Duration::from_millis(50),
            backoff_base: Duration::from_millis(50),
            ..Default::default()
        },
    );
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = engine.spawn(async move {
        let _ = stopped.await;
    });
    let pod_ips = || -> Vec<(String, String)> {
        env.pods[0]
            .network()
            .ports()
            .into_iter()
            .flat_map(|p| {
                let name = p["name"].as_str().unwrap_or("").to_string();
                p["fixed_ips"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
                    .into_iter()
                    .map(move |f| {
                        (
                            name.clone(),
                            f["ip_address"].as_str().unwrap_or("").to_string(),
                        )
                    })
            })
            .filter(|(_, ip)| ip.starts_with("10.17."))
            .collect()
    };
    let (s, v) = env
        .boot(0, &flavor, json!([{"uuid": net_id}]), Some("az1"))
        .await;
    assert_eq!(s, 202, "{v}");
    let mut server = v["server"]["id"].as_str().unwrap().to_string();
    active(&env, &server).await;
    for round in 1..=15 {
        let (s, v) = env
            .call(
                &env.demo,
                Method::DELETE,
                format!("{}/v2.1/servers/{server}", env.instances[0].compute),
                None,
            )
            .await;
        assert_eq!(s, 204, "round {round}: {v}");
        let (s, v) = env
            .boot(round, &flavor, json!([{"uuid": net_id}]), Some("az1"))
            .await;
        assert_eq!(s, 202, "round {round}: {v}");
        server = v["server"]["id"].as_str().unwrap().to_string();
        active(&env, &server).await;
        let ips = pod_ips();
        let distinct: HashSet<&String> = ips.iter().map(|(_, ip)| ip).collect();
        assert_eq!(distinct.len(), ips.len(), "round {round}: {ips:?}");
    }
    let _ = stop.send(());
    task.await.unwrap();
}

/// A member of another project boots on an admin's shared network: the
/// pod's Nova looks the network up with the member's token, so the copy
/// must be shared as the top network is (made shared, or shared later by
/// the network's update job). The server has its address and its port's
/// copy is the member's and bound.
#[tokio::test]
async fn a_member_boots_on_a_shared_network_of_another_project() {
    let env = env(testing::sqlite().await).await;
    let flavor = env.flavor().await;
    let admin_net = |name: &str, shared: bool, cidr: &str| {
        let (env, name, cidr) = (&env, name.to_string(), cidr.to_string());
        async move {
            let net_url = format!("{}/v2.0", env.instances[0].network);
            let (s, n) = env
                .call(
                    &env.admin,
                    Method::POST,
                    format!("{net_url}/networks"),
                    Some(json!({"network": {"name": name, "shared": shared}})),
                )
                .await;
            assert_eq!(s, 201, "{n}");
            let id = n["network"]["id"].as_str().unwrap().to_string();
            let (s, v) = env
                .call(
                    &env.admin,
                    Method::POST,
                    format!("{net_url}/subnets"),
                    Some(json!({"subnet": {"network_id": id, "cidr": cidr, "ip_version": 4}})),
                )
                .await;
            assert_eq!(s, 201, "{v}");
            id
        }
    };
    let bottom_net = |top: &str| -> Value {
        env.pods[0]
            .network()
            .networks()
            .into_iter()
            .find(|n| n["name"].as_str().unwrap_or("").starts_with(top))
            .unwrap_or_else(|| panic!("no copy of {top} in Pod1"))
    };
    let shared = admin_net("shared", true, "10.18.0.0/24").await;
    let (s, v) = env
        .boot(0, &flavor, json!([{"uuid": shared}]), Some("az1"))
        .await;
    assert_eq!(s, 202, "{v}");
    let server = v["server"]["id"].as_str().unwrap().to_string();
    member_server_checks(&env, &server, "10.18.0.").await;
    assert_eq!(bottom_net(&shared)["shared"], true);

    // Shared later: the admin's own server made an unshared copy first; the
    // update job makes the copy shared.
    let later = admin_net("later", false, "10.19.0.0/24").await;
    let (s, v) = env
        .call(
            &env.admin,
            Method::POST,
            format!("{}/v2.1/servers", env.instances[0].compute),
            Some(
                json!({"server": {"name": "adm", "flavorRef": flavor, "imageRef": IMAGE,
                "networks": [{"uuid": later}], "availability_zone": "az1"}}),
            ),
        )
        .await;
    assert_eq!(s, 202, "{v}");
    assert_eq!(bottom_net(&later)["shared"], false);
    let (s, v) = env
        .call(
            &env.admin,
            Method::PUT,
            format!("{}/v2.0/networks/{later}", env.instances[0].network),
            Some(json!({"network": {"shared": true}})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let jobs: Vec<tricircle_jobs::Job> = check_jobs(&env.store, "network_update")
        .await
        .into_iter()
        .filter(|j| j.resource_id == later)
        .collect();
    assert_eq!(jobs.len(), 1);
    let registry = tricircle_network::handlers::register(
        tricircle_jobs::Registry::new(),
        env.instances[1].checks.network.clone().unwrap(),
    );
    registry
        .handler("network_update")
        .unwrap()
        .run(&jobs[0])
        .await
        .unwrap();
    assert_eq!(bottom_net(&later)["shared"], true);
    let (s, v) = env
        .boot(1, &flavor, json!([{"uuid": later}]), Some("az1"))
        .await;
    assert_eq!(s, 202, "{v}");
    let server = v["server"]["id"].as_str().unwrap().to_string();
    member_server_checks(&env, &server, "10.19.0.").await;
}

/// The member's server has one address of `prefix` (`/ips`) and its port's
/// copy in Pod1 is the member's and bound to the server.
async fn member_server_checks(env: &Env, server: &str, prefix: &str) {
    active(env, server).await;
    let (s, v) = env
        .call(
            &env.demo,
            Method::GET,
            format!("{}/v2.1/servers/{server}/ips", env.instances[0].compute),
            None,
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let addrs: Vec<String> = v["addresses"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|a| a.as_array().cloned().unwrap_or_default())
        .map(|a| a["addr"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(addrs.len(), 1, "{v}");
    assert!(addrs[0].starts_with(prefix), "{v}");
    let top_port = env
        .net(Method::GET, &format!("/ports?device_id={server}"), None)
        .await["ports"][0]
        .clone();
    let copy = env.pods[0]
        .network()
        .ports()
        .into_iter()
        .find(|p| p["name"] == top_port["id"])
        .expect("the port's copy in Pod1");
    assert_eq!(copy["project_id"], json!(env.demo_project), "{copy}");
    assert!(
        !copy["device_id"].as_str().unwrap_or("").is_empty(),
        "{copy}"
    );
    assert_ne!(copy["binding:vif_type"], "unbound", "{copy}");
}

/// The pod holds an address the top believes free (a port made in the pod
/// behind the top's back): a boot whose address the top chose gets another
/// one, the refused top port goes; asked for by the user, it is a 409.
#[tokio::test]
async fn an_address_the_pod_still_holds_is_chosen_again_unless_asked_for() {
    let env = env(testing::sqlite().await).await;
    let flavor = env.flavor().await;
    let net_id = env.network_with_subnet("behind", "10.20.0.0/24").await;
    let (s, v) = env
        .boot(0, &flavor, json!([{"uuid": net_id}]), Some("az1"))
        .await;
    assert_eq!(s, 202, "{v}");
    // The address the top gives next: a port made and deleted at the top
    // (no copy: nothing held).
    let probe = env
        .net(
            Method::POST,
            "/ports",
            Some(json!({"port": {"network_id": net_id}})),
        )
        .await["port"]
        .clone();
    let next = probe["fixed_ips"][0]["ip_address"]
        .as_str()
        .unwrap()
        .to_string();
    env.net(
        Method::DELETE,
        &format!("/ports/{}", probe["id"].as_str().unwrap()),
        None,
    )
    .await;
    // Taken in Pod1 behind the top's back.
    let bottom_net = env.pods[0]
        .network()
        .networks()
        .into_iter()
        .find(|n| n["name"].as_str().unwrap_or("").starts_with(&net_id))
        .unwrap();
    let (s, v) = env
        .call(
            &env.admin,
            Method::POST,
            format!("{}/network/v2.0/ports", env.pod_urls[0]),
            Some(
                json!({"port": {"network_id": bottom_net["id"], "name": "squatter",
                "fixed_ips": [{"ip_address": next}]}}),
            ),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let (s, v) = env
        .boot(1, &flavor, json!([{"uuid": net_id}]), Some("az1"))
        .await;
    assert_eq!(s, 202, "{v}");
    let server = v["server"]["id"].as_str().unwrap().to_string();
    let ports = env
        .net(Method::GET, &format!("/ports?device_id={server}"), None)
        .await["ports"]
        .clone();
    assert_eq!(ports.as_array().unwrap().len(), 1, "{ports}");
    assert_ne!(ports[0]["fixed_ips"][0]["ip_address"], json!(next));
    // The refused top port is gone: two servers' ports, no more.
    let all = env
        .net(
            Method::GET,
            &format!("/ports?network_id={net_id}&device_owner=compute:az1"),
            None,
        )
        .await["ports"]
        .clone();
    assert_eq!(all.as_array().unwrap().len(), 2, "{all}");
    // Asked for by the user, the address is the user's conflict.
    let (s, v) = env
        .boot(
            2,
            &flavor,
            json!([{"uuid": net_id, "fixed_ip": next}]),
            Some("az1"),
        )
        .await;
    assert_eq!(s, 409, "{v}");
    let all = env
        .net(Method::GET, &format!("/ports?network_id={net_id}"), None)
        .await["ports"]
        .clone();
    assert!(
        all.as_array()
            .unwrap()
            .iter()
            .all(|p| p["fixed_ips"][0]["ip_address"] != json!(next)),
        "{all}"
    );
}

fn uuid_like(s: &str) -> bool {
    s.len() == 36 && s.chars().all(|c| c.is_ascii_hexdigit() || c == '-')
}

/// `security_groups` in a server's view: the top names of the groups its
/// ports have (the pod knows its copies by the top ids), as Nova shows the
/// groups of the ports.
#[tokio::test]
async fn a_server_shows_the_top_names_of_its_ports_groups() {
    let env = env(testing::sqlite().await).await;
    let flavor = env.flavor().await;
    let net_id = env.network_with_subnet("sgnet", "10.13.0.0/24").await;
    let sg = env
        .net(
            Method::POST,
            "/security-groups",
            Some(json!({"security_group": {"name": "sg1"}})),
        )
        .await;
    let sg_id = sg["security_group"]["id"].as_str().unwrap().to_string();
    let server = json!({"name": "with-sg", "flavorRef": flavor, "imageRef": IMAGE,
        "networks": [{"uuid": net_id}], "security_groups": [{"name": "sg1"}],
        "availability_zone": "az1"});
    let (s, v) = env
        .call(
            &env.demo,
            Method::POST,
            format!("{}/v2.1/servers", env.instances[0].compute),
            Some(json!({ "server": server })),
        )
        .await;
    assert_eq!(s, 202, "{v}");
    let id = v["server"]["id"].as_str().unwrap().to_string();
    let shown = active(&env, &id).await;
    assert_eq!(
        shown["server"]["security_groups"],
        json!([{"name": "sg1"}]),
        "{shown}"
    );
    // The pod's own view names the copy by the top id.
    let pod_groups: Vec<String> = env.pods[0]
        .network()
        .security_groups()
        .iter()
        .map(|g| g["name"].as_str().unwrap().to_string())
        .collect();
    assert!(pod_groups.contains(&sg_id), "{pod_groups:?}");
    let (s, v) = env
        .call(
            &env.demo,
            Method::GET,
            format!("{}/v2.1/servers/detail", env.instances[0].compute),
            None,
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let listed = v["servers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == json!(id))
        .unwrap();
    assert_eq!(listed["security_groups"], json!([{"name": "sg1"}]));
    // Without groups named, the port has the project's default group.
    let (s, v) = env
        .boot(0, &flavor, json!([{"uuid": net_id}]), Some("az1"))
        .await;
    assert_eq!(s, 202, "{v}");
    let plain = active(&env, v["server"]["id"].as_str().unwrap()).await;
    assert_eq!(
        plain["server"]["security_groups"],
        json!([{"name": "default"}]),
        "{plain}"
    );
}

/// `addSecurityGroup` / `removeSecurityGroup` change the groups of the
/// server's top ports, and the pod's copies at once: the next view shows
/// them (by their top names), and with the last one removed it shows none,
/// as Nova does. Errors are Nova's.
#[tokio::test]
async fn security_groups_are_added_to_and_removed_from_a_servers_ports() {
    let env = env(testing::sqlite().await).await;
    let flavor = env.flavor().await;
    let net_id = env.network_with_subnet("sgnet2", "10.14.0.0/24").await;
    let sg = env
        .net(
            Method::POST,
            "/security-groups",
            Some(json!({"security_group": {"name": "web"}})),
        )
        .await;
    let web = sg["security_group"]["id"].as_str().unwrap().to_string();
    let (s, v) = env
        .boot(0, &flavor, json!([{"uuid": net_id}]), Some("az1"))
        .await;
    assert_eq!(s, 202, "{v}");
    let id = v["server"]["id"].as_str().unwrap().to_string();
    active(&env, &id).await;
    let url = format!("{}/v2.1/servers/{id}/action", env.instances[0].compute);
    let act = |body: Value| env.call(&env.demo, Method::POST, url.clone(), Some(body));
    let groups = || async {
        let (s, v) = env
            .call(
                &env.demo,
                Method::GET,
                format!("{}/v2.1/servers/{id}", env.instances[0].compute),
                None,
            )
            .await;
        assert_eq!(s, 200, "{v}");
        v["server"].get("security_groups").cloned()
    };

    let (s, v) = act(json!({"addSecurityGroup": {"name": "web"}})).await;
    assert_eq!(s, 202, "{v}");
    assert_eq!(
        groups().await,
        Some(json!([{"name": "default"}, {"name": "web"}]))
    );
    // The pod's port carries the copy of the group (named by the top id).
    let pod_port_groups: Vec<String> = {
        let net = env.pods[0].network();
        let copy = net
            .security_groups()
            .into_iter()
            .find(|g| g["name"] == json!(web))
            .expect("the pod has a copy of the group");
        net.ports_of_device(&id)
            .iter()
            .flat_map(|p| p["security_groups"].as_array().cloned().unwrap_or_default())
            .filter(|g| *g == copy["id"])
            .map(|g| g.as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(pod_port_groups.len(), 1, "{pod_port_groups:?}");
    // Adding it again changes nothing (Neutron keeps each group once).
    let (s, v) = act(json!({"addSecurityGroup": {"name": web}})).await;
    assert_eq!(s, 202, "{v}");
    assert_eq!(
        groups().await,
        Some(json!([{"name": "default"}, {"name": "web"}]))
    );

    let (s, v) = act(json!({"removeSecurityGroup": {"name": "default"}})).await;
    assert_eq!(s, 202, "{v}");
    assert_eq!(groups().await, Some(json!([{"name": "web"}])));
    let (s, v) = act(json!({"removeSecurityGroup": {"name": "web"}})).await;
    assert_eq!(s, 202, "{v}");
    assert_eq!(
        groups().await,
        None,
        "no groups left: no security_groups key"
    );

    let (s, v) = act(json!({"removeSecurityGroup": {"name": "web"}})).await;
    assert_eq!(s, 404, "{v}");
    assert!(
        v["itemNotFound"]["message"]
            .as_str()
            .unwrap()
            .contains("not associated with the instance"),
        "{v}"
    );
    let (s, v) = act(json!({"addSecurityGroup": {"name": "no-such-group"}})).await;
    assert_eq!(s, 404, "{v}");
    for (body, message) in [
        (
            json!({"addSecurityGroup": {"name": "  "}}),
            "Security group name cannot be empty",
        ),
        (
            json!({"addSecurityGroup": {}}),
            "Security group not specified",
        ),
        (
            json!({"removeSecurityGroup": "web"}),
            "Missing parameter dict",
        ),
    ] {
        let (s, v) = act(body).await;
        assert_eq!(s, 400, "{v}");
        assert_eq!(v["badRequest"]["message"], json!(message));
    }
    // Two groups of one name: an id is needed (Nova's 409).
    for _ in 0..2 {
        env.net(
            Method::POST,
            "/security-groups",
            Some(json!({"security_group": {"name": "twin"}})),
        )
        .await;
    }
    let (s, v) = act(json!({"addSecurityGroup": {"name": "twin"}})).await;
    assert_eq!(s, 409, "{v}");
}

/// Deleting an IPv6 SLAAC subnet under a server's port: 204 at the top (the
/// port keeps its IPv4 address), and the pod's copy goes the same way
/// through the subnet's delete job.
#[tokio::test]
async fn an_auto_address_subnet_goes_from_under_a_server_in_its_pod_too() {
    let env = env(testing::sqlite().await).await;
    let flavor = env.flavor().await;
    let net_id = env.network_with_subnet("dual", "10.16.0.0/24").await;
    let v6 = env
        .net(
            Method::POST,
            "/subnets",
            Some(
                json!({"subnet": {"network_id": net_id, "cidr": "2001:db8:16::/64", "ip_version": 6,
                "ipv6_ra_mode": "slaac", "ipv6_address_mode": "slaac"}}),
            ),
        )
        .await;
    let v6_id = v6["subnet"]["id"].as_str().unwrap().to_string();
    let (s, v) = env
        .boot(0, &flavor, json!([{"uuid": net_id}]), Some("az1"))
        .await;
    assert_eq!(s, 202, "{v}");
    let id = v["server"]["id"].as_str().unwrap().to_string();
    active(&env, &id).await;
    let bottom_ips = || {
        env.pods[0]
            .network()
            .ports()
            .iter()
            .filter(|p| p["device_id"] == id.as_str())
            .map(|p| p["fixed_ips"].as_array().unwrap().len())
            .collect::<Vec<usize>>()
    };
    assert_eq!(bottom_ips(), vec![2]);
    let (s, v) = env
        .call(
            &env.demo,
            Method::DELETE,
            format!("{}/v2.0/subnets/{v6_id}", env.instances[0].network),
            None,
        )
        .await;
    assert_eq!(s, 204, "{v}");
    let ports = env
        .net(Method::GET, &format!("/ports?device_id={id}"), None)
        .await;
    let ips = ports["ports"][0]["fixed_ips"].as_array().unwrap();
    assert_eq!(ips.len(), 1, "{ports}");
    assert!(ips[0]["ip_address"].as_str().unwrap().starts_with("10.16."));
    let jobs: Vec<tricircle_jobs::Job> = check_jobs(&env.store.store, "subnet_delete")
        .await
        .into_iter()
        .filter(|j| j.resource_id == v6_id)
        .collect();
    assert_eq!(jobs.len(), 1, "the subnet's delete job");
    let registry = tricircle_network::handlers::register(
        tricircle_jobs::Registry::new(),
        env.instances[1].checks.network.clone().unwrap(),
    );
    registry
        .handler("subnet_delete")
        .unwrap()
        .run(&jobs[0])
        .await
        .unwrap();
    assert_eq!(bottom_ips(), vec![1]);
    assert!(
        !env.pods[0]
            .network()
            .subnets()
            .iter()
            .any(|s| s["cidr"] == "2001:db8:16::/64"),
        "the pod's copy is gone"
    );
}

/// The create checks as the binary registers them (each domain its own).
mod create_checks {
    pub use tricircle_compute::create_check::SERVER_CREATE_CHECK;

    pub fn register(
        registry: tricircle_jobs::Registry,
        deps: tricircle_gateway::create_check::CheckDeps,
    ) -> tricircle_jobs::Registry {
        let registry = tricircle_compute::create_check::register(registry, deps.clone());
        tricircle_volume::create_check::register(registry, deps)
    }
}
