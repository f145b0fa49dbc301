//! The servers' logic without HTTP: a compute service with the network
//! domain over an in-memory cloud (podsim's Keystone and two pods, Pod1 in
//! az1 and Pod2 in az2) and a SQLite store, driven through
//! `Compute::servers`. Boots record their routing in the pod of their AZ, a
//! list goes across both pods, a delete forgets the routing, the
//! allocation and the boot's top ports together, and a boot a pod refuses
//! leaves nothing behind.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tricircle_compute::servers::{Created, ListQuery, ServerCreate};
use tricircle_compute::{Caller, Compute};
use tricircle_core::listing::{parse_nova_sort, NOVA_SERVER_ID_KEY, NOVA_SERVER_SORT_FIELDS};
use tricircle_core::{PodSpec, ResourceType};
use tricircle_gateway::Gateway;
use tricircle_network::bottom::server_ports::Nic;
use tricircle_network::bottom::Bottom;
use tricircle_network::{NetworkConfig, Neutron, Scope, VlanRange};
use tricircle_pods::testing::InMemoryCloud;
use tricircle_pods::{PodClientOptions, PodPath, ServiceCall};
use tricircle_podsim::image::ImageService;
use tricircle_podsim::{Pod, PodConfig};
use tricircle_store::testing::{self, TestStore};
use tricircle_store::{NeutronKind, NewFlavor, Routing, RoutingFilter, Usage};

const IMAGE: &str = "6e1b0f9a-9a7c-4c55-b4bb-6f7a1a8a0002";
const FLAVOR: &str = "42";

struct Env {
    cloud: InMemoryCloud,
    store: TestStore,
    compute: Compute,
    neutron: Neutron,
    caller: Caller,
    /// Pod1 (az1) and Pod2 (az2), as podsim runs them.
    pods: Vec<Pod>,
    /// The demo project's network (no AZ hints: every pod), with a subnet.
    network: String,
}

/// The top pod, Pod1 in az1 and Pod2 in az2 (each pod's own AZ is `nova`
/// and `nova2`), one image every pod and the top see, a flavor at the top
/// and a network of the demo project.
async fn env() -> Env {
    let cloud = InMemoryCloud::new();
    let images = ImageService::default();
    images.add_image(IMAGE, "cirros");
    let mut pods = Vec::new();
    for (name, az) in [("Pod1", "nova"), ("Pod2", "nova2")] {
        let mut cfg = PodConfig::new(name).with_images(images.clone());
        cfg.availability_zone = az.into();
        pods.push(cloud.add_pod_with(cfg));
    }
    // The top region's image service is the one the pods share.
    let glance = format!("{}/image", InMemoryCloud::pod_url("Pod1"));
    cloud
        .identity
        .add_endpoint("RegionOne", "image", "public", &glance);

    let store = testing::sqlite().await;
    for (name, az, pod_az) in [
        ("RegionOne", "", ""),
        ("Pod1", "az1", "nova"),
        ("Pod2", "az2", "nova2"),
    ] {
        let spec = PodSpec {
            pod_name: name.into(),
            az_name: Some(az.into()),
            pod_az_name: Some(pod_az.into()),
            dc_name: None,
        };
        store.create_pod(&spec.validate().unwrap()).await.unwrap();
    }
    store
        .create_flavor(&NewFlavor {
            flavorid: FLAVOR.into(),
            name: "m1.tiny".into(),
            vcpus: 1,
            ram_mb: 512,
            root_gb: 1,
            ephemeral_gb: 0,
            swap_mb: 0,
            rxtx_factor: 1.0,
            is_public: true,
            description: None,
        })
        .await
        .unwrap();

    let pod_client = cloud.pod_client(&PodClientOptions::default());
    let neutron = Neutron::new(
        store.store.clone(),
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
        pod_client.clone(),
        cloud.keystone.clone(),
        Duration::from_secs(30),
    );
    let compute = Compute::new(Gateway {
        store: store.store.clone(),
        pods: pod_client,
        tokens: None,
        network: Some(bottom),
        keystone: cloud.keystone.clone(),
        list_deadline: Duration::from_secs(10),
        quota_defaults: Usage {
            instances: 10,
            cores: 10,
            ram_mb: 10_000,
            volumes: 10,
            gigabytes: 100,
            snapshots: 10,
        },
        top_region: "RegionOne".into(),
        versions: Default::default(),
    });

    let (token, project_id) = cloud.token("demo", "demo");
    let user_id = cloud.identity.validate(&token).unwrap()["token"]["user"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let caller = Caller {
        user_id: user_id.clone(),
        project_id: project_id.clone(),
        roles: vec!["member".into()],
        token: Arc::from(token.as_str()),
        request_id: "req-6f2d5c1a-3333-4000-8000-000000000003".into(),
        root: "http://tricircle.test".into(),
        refused_write: None,
        pass_headers: Default::default(),
    };
    let scope = Scope {
        project_id,
        user_id,
        is_admin: false,
    };
    let net = neutron
        .create_network(&scope, json!({"name": "net1"}))
        .await
        .unwrap();
    let network = net["id"].as_str().unwrap().to_string();
    neutron
        .create_subnet(
            &scope,
            json!({"network_id": network, "ip_version": 4, "cidr": "10.0.0.0/24"}),
        )
        .await
        .unwrap();
    Env {
        cloud,
        store,
        compute,
        neutron,
        caller,
        pods,
        network,
    }
}

impl Env {
    /// A boot of one server named `name` in `az` on the network, as the
    /// API would parse it.
    fn boot_request(&self, name: &str, az: &str) -> ServerCreate {
        ServerCreate {
            body: json!({"server": {
                "name": name,
                "imageRef": IMAGE,
                "flavorRef": FLAVOR,
                "availability_zone": az,
                "networks": [{"uuid": self.network}],
            }}),
            name: name.into(),
            flavor_ref: FLAVOR.into(),
            key_name: None,
            image_ref: Some(IMAGE.into()),
            boot_volume: None,
            nics: Some(vec![Nic::Network {
                id: self.network.clone(),
                fixed_ip: None,
                tag: None,
            }]),
            security_groups: Vec::new(),
            min_count: 1,
            max_count: 1,
            return_reservation_id: false,
            az: Some(az.into()),
            group: None,
        }
    }

    /// Boots `name` in `az`: the status the caller gets and the server view.
    async fn boot(&self, name: &str, az: &str) -> (u16, Value) {
        let created = self
            .compute
            .servers()
            .create(&self.caller, self.boot_request(name, az))
            .await
            .unwrap();
        let Created::Server((status, _, body)) = created else {
            panic!("a reservation id nobody asked for");
        };
        (status.as_u16(), serde_json::from_slice(&body).unwrap())
    }

    /// The server routings of the demo project.
    async fn server_routings(&self) -> Vec<Routing> {
        self.store
            .list_routings(
                &RoutingFilter {
                    project_id: Some(self.caller.project_id.clone()),
                    resource_type: Some(ResourceType::Server),
                    ..RoutingFilter::default()
                },
                None,
                100,
            )
            .await
            .unwrap()
            .routings
    }

    /// The pod id of `name`.
    async fn pod_id(&self, name: &str) -> String {
        self.store
            .find_pod_by_name(name)
            .await
            .unwrap()
            .unwrap()
            .pod_id
    }

    /// The top ports of the demo project a boot could have made: not the
    /// network's own (the DHCP and gateway ports a subnet's copy in a pod
    /// reserves, which stay with the subnet).
    async fn top_ports(&self) -> Vec<Value> {
        self.store
            .neutron_list(NeutronKind::Port, &Default::default())
            .await
            .unwrap()
            .into_iter()
            .filter(|p| p["project_id"] == self.caller.project_id.as_str())
            .filter(|p| {
                !p["device_owner"]
                    .as_str()
                    .unwrap_or("")
                    .starts_with("network:")
            })
            .collect()
    }

    async fn instances_used(&self) -> i64 {
        self.store
            .usage(&self.caller.project_id)
            .await
            .unwrap()
            .instances
    }
}

fn id_of(server: &Value) -> String {
    server["server"]["id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn boots_land_in_their_azs_pod_and_a_list_sees_both() {
    let e = env().await;
    let (status, one) = e.boot("one", "az1").await;
    assert_eq!(status, 202, "{one}");
    let (status, two) = e.boot("two", "az2").await;
    assert_eq!(status, 202, "{two}");
    let (one, two) = (id_of(&one), id_of(&two));

    // Each routing names the pod of its AZ, and each pod has its server.
    let routings = e.server_routings().await;
    assert_eq!(routings.len(), 2);
    let pod_of = |id: &str| {
        routings
            .iter()
            .find(|r| r.top_id == id)
            .map(|r| r.pod_id.clone())
            .unwrap()
    };
    assert_eq!(pod_of(&one), e.pod_id("Pod1").await);
    assert_eq!(pod_of(&two), e.pod_id("Pod2").await);
    let in_pod = |pod: &Pod| -> Vec<String> {
        pod.compute()
            .servers()
            .iter()
            .filter_map(|s| s["id"].as_str().map(str::to_string))
            .collect()
    };
    assert_eq!(in_pod(&e.pods[0]), vec![one.clone()]);
    assert_eq!(in_pod(&e.pods[1]), vec![two.clone()]);
    assert_eq!(e.instances_used().await, 2);
    // Each server has its own top port, bound to it.
    assert_eq!(e.top_ports().await.len(), 2);
    for id in [&one, &two] {
        let rows = e.store.server_ports(id).await.unwrap();
        assert_eq!(rows.len(), 1, "{id}");
        assert!(rows[0].created_by_boot);
        let port = e
            .store
            .neutron_get(NeutronKind::Port, &rows[0].port_id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(port["device_id"], id.as_str());
    }

    let page = e
        .compute
        .servers()
        .list(
            &e.caller,
            ListQuery {
                sort: parse_nova_sort(&[], &[], NOVA_SERVER_SORT_FIELDS, NOVA_SERVER_ID_KEY)
                    .unwrap(),
                ..ListQuery::default()
            },
        )
        .await
        .unwrap();
    assert!(page.skipped.is_empty(), "{:?}", page.skipped);
    let mut listed: Vec<(String, String)> = page
        .servers
        .iter()
        .map(|s| {
            (
                s["id"].as_str().unwrap().to_string(),
                s["OS-EXT-AZ:availability_zone"]
                    .as_str()
                    .unwrap()
                    .to_string(),
            )
        })
        .collect();
    listed.sort();
    let mut expected = vec![(one, "az1".to_string()), (two, "az2".to_string())];
    expected.sort();
    assert_eq!(listed, expected);
}

#[tokio::test]
async fn a_delete_forgets_routing_allocation_and_the_boots_ports_together() {
    let e = env().await;
    let (status, server) = e.boot("doomed", "az2").await;
    assert_eq!(status, 202, "{server}");
    let id = id_of(&server);
    let port_id = e.store.server_ports(&id).await.unwrap()[0].port_id.clone();
    assert_eq!(e.instances_used().await, 1);
    // A port the user made and gave the server is unbound, not deleted.
    let given = e
        .neutron
        .create_port(
            &Scope {
                project_id: e.caller.project_id.clone(),
                user_id: e.caller.user_id.clone(),
                is_admin: false,
            },
            json!({"network_id": e.network}),
        )
        .await
        .unwrap();
    let given = given["id"].as_str().unwrap().to_string();
    e.neutron
        .bind_server_ports(
            &id,
            &e.caller.project_id,
            "compute:az2",
            &[(given.clone(), false)],
        )
        .await
        .unwrap();

    let servers = e.compute.servers();
    let at = servers.locate(&e.caller, &id).await.unwrap();
    let (status, _, _) = servers.delete(&e.caller, &at).await.unwrap();
    assert_eq!(status.as_u16(), 204);

    assert!(e.server_routings().await.is_empty());
    assert_eq!(e.instances_used().await, 0);
    assert!(e.store.server_ports(&id).await.unwrap().is_empty());
    assert!(e
        .store
        .neutron_get(NeutronKind::Port, &port_id)
        .await
        .unwrap()
        .is_none());
    let kept = e
        .store
        .neutron_get(NeutronKind::Port, &given)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(kept["device_id"], "");
    // The port's copy in Pod2 goes by its delete job, recorded with it.
    let jobs = e.store.pending_jobs(&e.caller.project_id).await.unwrap();
    assert!(
        jobs.iter()
            .any(|(t, _, r)| t == "port_delete" && r == &port_id),
        "{jobs:?}"
    );
    // Nova's answer for a server no routing knows.
    assert!(servers.find(&e.caller, &id).await.unwrap().is_none());
}

#[tokio::test]
async fn a_boot_the_pod_refuses_leaves_no_routing_allocation_or_port() {
    let e = env().await;
    // Pod2's own Nova quota allows no server of the demo project: it
    // refuses the boot after its port was made ready there.
    let quota = ServiceCall {
        pod: "Pod2",
        service_type: "compute",
        method: http::Method::PUT,
        path: PodPath::of(["os-quota-sets", &e.caller.project_id]),
        query: None,
        body: Some(json!({"quota_set": {"instances": 0}}).to_string().into()),
    };
    let set = e
        .compute
        .pods
        .send_as_service(&e.cloud.keystone, quota)
        .await
        .unwrap();
    assert_eq!(set.status, 200, "{:?}", set.body);

    let (status, body) = e.boot("refused", "az2").await;
    assert_eq!(status, 403, "{body}");
    assert!(e.server_routings().await.is_empty());
    assert_eq!(e.instances_used().await, 0);
    assert!(e.top_ports().await.is_empty(), "{:?}", e.top_ports().await);
    assert!(e.pods[1].compute().servers().is_empty());

    // A pod that cannot be reached at all: the same, and the caller sees
    // it unavailable.
    e.cloud.transport.set_fault(
        &InMemoryCloud::pod_url("Pod1"),
        Some(tricircle_pods::Fault::Refuse),
    );
    let err = e
        .compute
        .servers()
        .create(&e.caller, e.boot_request("unreachable", "az1"))
        .await;
    assert!(err.is_err());
    assert!(e.server_routings().await.is_empty());
    assert_eq!(e.instances_used().await, 0);
    assert!(e.top_ports().await.is_empty(), "{:?}", e.top_ports().await);
}

/// Servers booted in two pods on two networks of one router, the router
/// made first: their boots record the router's sync (the interfaces found
/// no pod yet), and that job wires both pods — each reaches the other's
/// server through an extra route via the other's bridge address.
#[tokio::test]
async fn servers_in_two_pods_behind_one_router_get_routes_to_each_other() {
    let e = env().await;
    let scope = Scope {
        project_id: e.caller.project_id.clone(),
        user_id: e.caller.user_id.clone(),
        is_admin: false,
    };
    let net2 = e
        .neutron
        .create_network(&scope, json!({"name": "net2"}))
        .await
        .unwrap();
    let net2 = net2["id"].as_str().unwrap().to_string();
    e.neutron
        .create_subnet(
            &scope,
            json!({"network_id": net2, "ip_version": 4, "cidr": "10.0.1.0/24"}),
        )
        .await
        .unwrap();
    let router = e
        .neutron
        .create_router(&scope, json!({"name": "r1"}))
        .await
        .unwrap();
    let router = router["id"].as_str().unwrap().to_string();
    for net in [&e.network, &net2] {
        let subnet = e.neutron.get_network(&scope, net).await.unwrap()["subnets"][0].clone();
        e.neutron
            .add_router_interface(&scope, &router, json!({"subnet_id": subnet}))
            .await
            .unwrap();
    }

    let (status, vm1) = e.boot("vm1", "az1").await;
    assert_eq!(status, 202, "{vm1}");
    let mut req = e.boot_request("vm2", "az2");
    req.body["server"]["networks"] = json!([{"uuid": net2}]);
    req.nics = Some(vec![Nic::Network {
        id: net2.clone(),
        fixed_ip: None,
        tag: None,
    }]);
    let created = e.compute.servers().create(&e.caller, req).await.unwrap();
    let Created::Server((status, _, body)) = created else {
        panic!("a reservation id nobody asked for");
    };
    assert_eq!(status.as_u16(), 202);
    let vm2: Value = serde_json::from_slice(&body).unwrap();
    let ip_of = |server: &Value, ports: &[Value]| -> String {
        let port = ports
            .iter()
            .find(|p| p["device_id"] == server["server"]["id"])
            .unwrap();
        port["fixed_ips"][0]["ip_address"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let ports = e.top_ports().await;
    let (ip1, ip2) = (ip_of(&vm1, &ports), ip_of(&vm2, &ports));

    let jobs = e
        .store
        .list_jobs(
            &tricircle_store::JobFilter {
                job_type: Some("router_sync".into()),
                ..Default::default()
            },
            None,
            10,
        )
        .await
        .unwrap()
        .jobs;
    assert_eq!(jobs.len(), 1, "one job, the requests coalesced: {jobs:?}");
    let bottom = Bottom::new(
        e.neutron.clone(),
        e.cloud.pod_client(&PodClientOptions::default()),
        e.cloud.keystone.clone(),
        Duration::from_secs(30),
    );
    let registry = tricircle_network::handlers::register(tricircle_jobs::Registry::new(), bottom);
    registry
        .handler("router_sync")
        .unwrap()
        .run(&jobs[0])
        .await
        .unwrap();

    let bottom_router = |i: usize| {
        e.pods[i]
            .network()
            .routers()
            .into_iter()
            .find(|r| r["name"] == router.as_str())
            .unwrap_or_else(|| panic!("pod {i}: no bottom router"))
    };
    let (r1, r2) = (bottom_router(0), bottom_router(1));
    assert_eq!(r1["routes"].as_array().unwrap().len(), 1, "{r1}");
    assert_eq!(r1["routes"][0]["destination"], format!("{ip2}/32"));
    assert_eq!(r2["routes"][0]["destination"], format!("{ip1}/32"));
    assert_ne!(r1["routes"][0]["nexthop"], r2["routes"][0]["nexthop"]);
}
