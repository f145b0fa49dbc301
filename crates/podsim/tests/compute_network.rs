//! Nova with Neutron in one pod: boots bind or create ports, `addresses`
//! come from the ports, deletes unbind or delete them, `os-interface`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use reqwest::{Client, Method, StatusCode};
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tricircle_podsim::compute::{BUILD_TIME, DELETE_TIME};
use tricircle_podsim::image::ImageService;
use tricircle_podsim::{serve, Credentials, Identity, IdentityConfig, Pod, PodConfig};

const CIRROS: &str = "6e3b0e3f-6d5c-4bfb-9e4e-2bd5a1a5f1a1";
const MISSING: &str = "0b7c2a3e-5f5f-4c1d-8a9b-0123456789ab";

struct Env {
    pod: Pod,
    url: String,
    client: Client,
    admin: String,
    demo: String,
    demo_project: String,
    flavor: String,
    _stop: Vec<oneshot::Sender<()>>,
}

struct Resp {
    status: StatusCode,
    body: Value,
}

async fn spawn(listener: TcpListener, router: axum::Router) -> oneshot::Sender<()> {
    let (tx, rx) = oneshot::channel::<()>();
    tokio::spawn(serve(listener, router, async move {
        let _ = rx.await;
    }));
    tx
}

async fn login(client: &Client, base: &str, creds: &Credentials) -> (String, String) {
    let res = client
        .post(format!("{base}/v3/auth/tokens"))
        .json(&creds.auth_request())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let token = res.headers()["x-subject-token"]
        .to_str()
        .unwrap()
        .to_string();
    let body: Value = res.json().await.unwrap();
    let project = body["token"]["project"]["id"].as_str().unwrap().to_string();
    (token, project)
}

async fn start() -> Env {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let cfg = IdentityConfig {
        public_url: base.clone(),
        ..IdentityConfig::default()
    };
    let identity = Identity::new(cfg.clone());
    let pod_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", pod_listener.local_addr().unwrap());
    identity.register_pod("Pod1", &url);
    let images = ImageService::default();
    images.add_image(CIRROS, "cirros");
    let pod = Pod::new(
        PodConfig::new("Pod1")
            .with_identity(identity.clone())
            .with_images(images),
    );
    let stop = vec![
        spawn(listener, identity.router()).await,
        spawn(pod_listener, pod.router()).await,
    ];
    let client = Client::new();
    let (admin, _) = login(&client, &base, &Credentials::admin(&cfg)).await;
    let (demo, demo_project) = login(&client, &base, &Credentials::demo(&cfg)).await;
    let mut env = Env {
        pod,
        url,
        client,
        admin,
        demo,
        demo_project,
        flavor: String::new(),
        _stop: stop,
    };
    let r = env
        .nova(
            Method::POST,
            "/flavors",
            &env.admin.clone(),
            Some(json!({"flavor": {"name": "m1.tiny", "vcpus": 1, "ram": 512, "disk": 1}})),
            "2.1",
        )
        .await;
    env.flavor = r.body["flavor"]["id"].as_str().unwrap().to_string();
    env
}

impl Env {
    async fn call(
        &self,
        method: Method,
        url: String,
        token: &str,
        body: Option<Value>,
        version: &str,
    ) -> Resp {
        let mut req = self
            .client
            .request(method, url)
            .header("X-Auth-Token", token)
            .header("OpenStack-API-Version", format!("compute {version}"));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.unwrap();
        let status = res.status();
        let text = res.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Resp { status, body }
    }

    async fn nova(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<Value>,
        version: &str,
    ) -> Resp {
        let url = format!("{}/compute/v2.1{path}", self.url);
        self.call(method, url, token, body, version).await
    }

    async fn neutron(&self, method: Method, path: &str, token: &str, body: Option<Value>) -> Resp {
        let url = format!("{}/network/v2.0{path}", self.url);
        self.call(method, url, token, body, "2.1").await
    }

    /// A network (with a subnet on `cidr` if given); returns its id.
    async fn network(&self, token: &str, name: &str, cidr: Option<&str>, extra: Value) -> String {
        let mut net = json!({"name": name});
        net.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        let r = self
            .neutron(
                Method::POST,
                "/networks",
                token,
                Some(json!({ "network": net })),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        let id = r.body["network"]["id"].as_str().unwrap().to_string();
        if let Some(cidr) = cidr {
            let r = self
                .neutron(
                    Method::POST,
                    "/subnets",
                    token,
                    Some(json!({"subnet": {"network_id": id, "ip_version": 4, "cidr": cidr}})),
                )
                .await;
            assert_eq!(r.status, 201, "{}", r.body);
        }
        id
    }

    async fn port(&self, token: &str, network: &str) -> Value {
        let r = self
            .neutron(
                Method::POST,
                "/ports",
                token,
                Some(json!({"port": {"network_id": network, "name": "mine"}})),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        r.body["port"].clone()
    }

    /// The port as an admin sees it (`None` once deleted).
    fn port_now(&self, id: &str) -> Option<Value> {
        self.pod
            .network()
            .ports()
            .into_iter()
            .find(|p| p["id"] == id)
    }

    async fn boot(&self, token: &str, networks: Value, version: &str) -> Resp {
        self.boot_with(token, json!({ "networks": networks }), version)
            .await
    }

    async fn boot_with(&self, token: &str, extra: Value, version: &str) -> Resp {
        let mut server = json!({"name": "vm", "imageRef": CIRROS, "flavorRef": self.flavor});
        server
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        self.nova(
            Method::POST,
            "/servers",
            token,
            Some(json!({ "server": server })),
            version,
        )
        .await
    }

    async fn boot_ok(&self, token: &str, networks: Value, version: &str) -> String {
        let r = self.boot(token, networks, version).await;
        assert_eq!(r.status, 202, "{}", r.body);
        r.body["server"]["id"].as_str().unwrap().to_string()
    }

    async fn show(&self, token: &str, id: &str) -> Value {
        let r = self
            .nova(Method::GET, &format!("/servers/{id}"), token, None, "2.1")
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        r.body["server"].clone()
    }

    async fn delete_server(&self, token: &str, id: &str) {
        let r = self
            .nova(
                Method::DELETE,
                &format!("/servers/{id}"),
                token,
                None,
                "2.1",
            )
            .await;
        assert_eq!(r.status, 204, "{}", r.body);
        tokio::time::sleep(DELETE_TIME + Duration::from_millis(50)).await;
    }
}

fn fault(r: &Resp, name: &str, code: u16) -> String {
    assert_eq!(r.status.as_u16(), code, "{}", r.body);
    assert_eq!(r.body[name]["code"], code, "{}", r.body);
    r.body[name]["message"].as_str().unwrap().to_string()
}

async fn active() {
    tokio::time::sleep(BUILD_TIME + Duration::from_millis(50)).await;
}

#[tokio::test]
async fn a_users_port_is_bound_then_unbound_on_delete() {
    let env = start().await;
    let net = env
        .network(&env.demo, "net1", Some("10.1.0.0/24"), json!({}))
        .await;
    let port = env.port(&env.demo, &net).await;
    let port_id = port["id"].as_str().unwrap();
    let ip = port["fixed_ips"][0]["ip_address"].as_str().unwrap();
    let id = env
        .boot_ok(&env.demo, json!([{"port": port_id, "tag": "eth0"}]), "2.42")
        .await;

    // Bound to the server, on the host Nova reports.
    let host = env.show(&env.admin, &id).await["OS-EXT-SRV-ATTR:host"].clone();
    assert_eq!(host, "pod1-compute1");
    let p = env.port_now(port_id).unwrap();
    assert_eq!(p["device_id"], id.as_str());
    assert_eq!(p["device_owner"], "compute:nova");
    assert_eq!(p["binding:host_id"], host);
    assert_eq!(p["binding:vif_type"], "ovs");
    assert_eq!(p["status"], "ACTIVE");
    assert_eq!(env.pod.network().ports_of_device(&id).len(), 1);

    // `addresses` come from the port.
    active().await;
    let s = env.show(&env.demo, &id).await;
    assert_eq!(
        s["addresses"],
        json!({"net1": [{"version": 4, "addr": ip, "OS-EXT-IPS:type": "fixed",
            "OS-EXT-IPS-MAC:mac_addr": port["mac_address"]}]})
    );
    assert_eq!(s["security_groups"], json!([{"name": "default"}]));
    let r = env
        .nova(
            Method::GET,
            &format!("/servers/{id}/ips"),
            &env.demo,
            None,
            "2.1",
        )
        .await;
    assert_eq!(
        r.body,
        json!({"addresses": {"net1": [{"version": 4, "addr": ip}]}})
    );
    let r = env
        .nova(
            Method::GET,
            &format!("/servers/{id}/ips/net1"),
            &env.demo,
            None,
            "2.1",
        )
        .await;
    assert_eq!(r.body, json!({"net1": [{"version": 4, "addr": ip}]}));
    let r = env
        .nova(
            Method::GET,
            &format!("/servers/{id}/ips/other"),
            &env.demo,
            None,
            "2.1",
        )
        .await;
    assert_eq!(
        fault(&r, "itemNotFound", 404),
        "Instance is not a member of specified network"
    );
    let r = env
        .nova(
            Method::GET,
            "/servers/detail?ip=10.1.0",
            &env.demo,
            None,
            "2.1",
        )
        .await;
    assert_eq!(r.body["servers"][0]["addresses"]["net1"][0]["addr"], ip);

    // A bound port is not free for another server.
    let r = env
        .boot(&env.demo, json!([{"port": port_id}]), "2.37")
        .await;
    assert_eq!(
        fault(&r, "conflictingRequest", 409),
        format!("Port {port_id} is still in use.")
    );
    // Neutron keeps the network while the port is bound.
    let r = env
        .neutron(Method::DELETE, &format!("/networks/{net}"), &env.demo, None)
        .await;
    assert_eq!(r.status, 409);
    assert_eq!(r.body["NeutronError"]["type"], "NetworkInUse");

    // Deleting the server keeps the user's port, unbound.
    env.delete_server(&env.demo, &id).await;
    let p = env.port_now(port_id).unwrap();
    assert_eq!(p["device_id"], "");
    assert_eq!(p["device_owner"], "");
    assert_eq!(p["binding:host_id"], "");
    assert_eq!(p["binding:vif_type"], "unbound");
    assert_eq!(p["status"], "DOWN");
    assert_eq!(p["fixed_ips"][0]["ip_address"], ip);
    // And it can be used again.
    env.boot_ok(&env.demo, json!([{"port": port_id}]), "2.37")
        .await;
}

#[tokio::test]
async fn nova_creates_ports_on_networks_and_deletes_them() {
    let env = start().await;
    let net = env
        .network(&env.demo, "net1", Some("10.2.0.0/24"), json!({}))
        .await;
    let r = env
        .neutron(
            Method::POST,
            "/security-groups",
            &env.demo,
            Some(json!({"security_group": {"name": "web"}})),
        )
        .await;
    let web = r.body["security_group"]["id"].as_str().unwrap().to_string();
    let users = env.port(&env.demo, &net).await;
    let users_id = users["id"].as_str().unwrap();
    let users_groups = users["security_groups"].clone();
    let r = env
        .boot_with(
            &env.demo,
            json!({"networks": [{"uuid": net, "fixed_ip": "10.2.0.50"}, {"port": users_id}],
                   "security_groups": [{"name": "web"}]}),
            "2.37",
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.body);
    let id = r.body["server"]["id"].as_str().unwrap().to_string();
    let ports = env.pod.network().ports_of_device(&id);
    assert_eq!(ports.len(), 2);
    let made = ports.iter().find(|p| p["id"] != users_id).unwrap().clone();
    let made_id = made["id"].as_str().unwrap();
    assert_eq!(made["fixed_ips"][0]["ip_address"], "10.2.0.50");
    assert_eq!(made["project_id"], env.demo_project.as_str());
    assert_eq!(made["device_owner"], "compute:nova");
    assert_eq!(made["status"], "ACTIVE");
    // The boot's groups go to the port Nova made, not to the user's.
    assert_eq!(made["security_groups"], json!([web]));
    assert_eq!(
        env.port_now(users_id).unwrap()["security_groups"],
        users_groups
    );

    active().await;
    let s = env.show(&env.demo, &id).await;
    let addrs: Vec<&str> = s["addresses"]["net1"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["addr"].as_str().unwrap())
        .collect();
    assert_eq!(addrs.len(), 2);
    assert_eq!(addrs[0], "10.2.0.50");

    // The address is taken now.
    let r = env
        .boot(
            &env.demo,
            json!([{"uuid": net, "fixed_ip": "10.2.0.50"}]),
            "2.37",
        )
        .await;
    assert_eq!(
        fault(&r, "badRequest", 400),
        format!("Fixed IP address 10.2.0.50 is already in use on instance {id}.")
    );

    // A port Neutron changes shows in `addresses` (Nova is notified).
    let r = env
        .neutron(
            Method::PUT,
            &format!("/ports/{made_id}"),
            &env.demo,
            Some(json!({"port": {"fixed_ips": [{"ip_address": "10.2.0.60"}]}})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let s = env.show(&env.demo, &id).await;
    assert_eq!(s["addresses"]["net1"][0]["addr"], "10.2.0.60");

    // Delete: Nova's port goes, the user's stays.
    env.delete_server(&env.demo, &id).await;
    assert!(env.port_now(made_id).is_none());
    assert_eq!(env.port_now(users_id).unwrap()["device_id"], "");
    assert!(env.pod.network().ports_of_device(&id).is_empty());
}

#[tokio::test]
async fn bad_network_requests_fail_like_nova_and_leave_nothing() {
    let env = start().await;
    let net = env
        .network(&env.demo, "net1", Some("10.3.0.0/29"), json!({}))
        .await;
    let bare = env.network(&env.demo, "bare", None, json!({})).await;
    let admin_net = env
        .network(&env.admin, "adm", Some("10.4.0.0/24"), json!({}))
        .await;
    let admin_port = env.port(&env.admin, &admin_net).await;
    let admin_port_id = admin_port["id"].as_str().unwrap();
    let port = env.port(&env.demo, &net).await;
    let port_id = port["id"].as_str().unwrap();
    let before = env.pod.network().ports().len();

    let refused = [
        (
            json!([{ "port": MISSING }]),
            format!("Port id {MISSING} could not be found."),
        ),
        // Another project's port is not visible.
        (
            json!([{ "port": admin_port_id }]),
            format!("Port id {admin_port_id} could not be found."),
        ),
        (
            json!([{ "uuid": MISSING }]),
            format!("Network {MISSING} could not be found."),
        ),
        (
            json!([{ "uuid": admin_net }]),
            format!("Network {admin_net} could not be found."),
        ),
        (
            json!([{ "uuid": bare }]),
            format!("Network {bare} requires a subnet in order to boot instances on."),
        ),
        (
            json!([{"port": port_id}, {"port": port_id}]),
            format!(
                "Port ID '{port_id}' was specified twice: you cannot attach a port multiple \
                 times."
            ),
        ),
        (
            json!([{"port": port_id, "fixed_ip": "10.3.0.4"}]),
            format!(
                "Specified Fixed IP '10.3.0.4' cannot be used with port '{port_id}': the two \
                 cannot be specified together."
            ),
        ),
        // The second NIC fails (address outside the network): the first
        // port Nova made is given back.
        (
            json!([{"uuid": net}, {"uuid": net, "fixed_ip": "192.168.9.9"}]),
            format!(
                "Invalid input received: Fixed IP 192.168.9.9 is not a valid ip address for \
                 network {net}."
            ),
        ),
    ];
    for (networks, message) in refused {
        let r = env.boot(&env.demo, networks, "2.37").await;
        assert_eq!(fault(&r, "badRequest", 400), message);
    }
    let r = env
        .boot_with(
            &env.demo,
            json!({"networks": [{"port": port_id}], "max_count": 2}),
            "2.37",
        )
        .await;
    assert!(fault(&r, "badRequest", 400).contains("with a single configured port ID"));
    let r = env
        .boot_with(
            &env.demo,
            json!({"networks": [{"uuid": net}], "security_groups": [{"name": "nope"}]}),
            "2.37",
        )
        .await;
    assert_eq!(
        fault(&r, "badRequest", 400),
        "Unable to find security_group with name or id 'nope'"
    );
    // Six servers on a /29 (5 addresses, one the user's): the pool runs
    // out, nothing is left behind.
    let r = env
        .boot_with(
            &env.demo,
            json!({"networks": [{"uuid": net}], "min_count": 6, "max_count": 6}),
            "2.37",
        )
        .await;
    assert!(
        fault(&r, "badRequest", 400).starts_with("No fixed IP addresses available for network"),
        "{}",
        r.body
    );
    assert_eq!(env.pod.network().ports().len(), before);
    assert!(env.pod.compute().servers().is_empty());
    assert_eq!(env.port_now(port_id).unwrap()["device_id"], "");

    // An external network is the admin's to attach to.
    let ext = env
        .network(
            &env.admin,
            "public",
            Some("172.24.4.0/24"),
            json!({"router:external": true}),
        )
        .await;
    let r = env.boot(&env.demo, json!([{"uuid": ext}]), "2.37").await;
    assert_eq!(
        fault(&r, "forbidden", 403),
        format!("It is not allowed to create an interface on external network {ext}")
    );
}

#[tokio::test]
async fn default_auto_and_none_networks() {
    let env = start().await;
    let project = env.demo_project.clone();
    // No network at all.
    let r = env.boot(&env.demo, json!("auto"), "2.37").await;
    assert_eq!(
        fault(&r, "badRequest", 400),
        format!("Unable to automatically allocate a network for project {project}")
    );
    let r = env.boot_with(&env.demo, json!({}), "2.37").await;
    assert!(fault(&r, "badRequest", 400).contains("'networks' is a required property"));
    let r = env.boot_with(&env.demo, json!({}), "2.36").await;
    assert_eq!(r.status, 202, "{}", r.body);
    let bare = r.body["server"]["id"].as_str().unwrap().to_string();
    assert!(env.pod.network().ports_of_device(&bare).is_empty());

    // An external network (not shared) is not a candidate; the project's
    // own network is.
    env.network(
        &env.admin,
        "public",
        Some("172.24.4.0/24"),
        json!({"router:external": true}),
    )
    .await;
    let net = env
        .network(&env.demo, "mine", Some("10.5.0.0/24"), json!({}))
        .await;
    let id = env.boot_ok(&env.demo, json!("auto"), "2.37").await;
    let ports = env.pod.network().ports_of_device(&id);
    assert_eq!(ports.len(), 1);
    assert_eq!(ports[0]["network_id"], net.as_str());
    let none = env.boot_ok(&env.demo, json!("none"), "2.37").await;
    assert!(env.pod.network().ports_of_device(&none).is_empty());
    active().await;
    assert_eq!(env.show(&env.demo, &none).await["addresses"], json!({}));
    assert_eq!(
        env.show(&env.demo, &id).await["addresses"]["mine"][0]["version"],
        4
    );

    // A shared network makes the choice ambiguous.
    env.network(
        &env.admin,
        "shared",
        Some("10.6.0.0/24"),
        json!({"shared": true}),
    )
    .await;
    let r = env.boot(&env.demo, json!([]), "2.1").await;
    assert_eq!(
        fault(&r, "conflictingRequest", 409),
        "Multiple possible networks found, use a Network ID to be more specific."
    );
    let r = env.boot(&env.demo, json!("auto"), "2.37").await;
    assert_eq!(r.status, 409, "{}", r.body);
}

#[tokio::test]
async fn os_interface_attaches_and_detaches() {
    let env = start().await;
    let net = env
        .network(&env.demo, "net1", Some("10.7.0.0/24"), json!({}))
        .await;
    let id = env.boot_ok(&env.demo, json!([{"uuid": net}]), "2.37").await;
    let base = format!("/servers/{id}/os-interface");
    // Not while building.
    let r = env
        .nova(
            Method::POST,
            &base,
            &env.demo,
            Some(json!({"interfaceAttachment": {"net_id": net}})),
            "2.1",
        )
        .await;
    assert_eq!(
        fault(&r, "conflictingRequest", 409),
        format!("Cannot 'attach_interface' instance {id} while it is in vm_state building")
    );
    active().await;
    let r = env.nova(Method::GET, &base, &env.demo, None, "2.70").await;
    let list = r.body["interfaceAttachments"].as_array().unwrap().clone();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["net_id"], net.as_str());
    assert_eq!(list[0]["port_state"], "ACTIVE");
    assert_eq!(list[0]["tag"], Value::Null);
    let first = list[0]["port_id"].as_str().unwrap().to_string();

    // Attach on a network, at an address.
    let r = env
        .nova(
            Method::POST,
            &base,
            &env.demo,
            Some(json!({"interfaceAttachment": {"net_id": net,
                "fixed_ips": [{"ip_address": "10.7.0.77"}]}})),
            "2.1",
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let att = &r.body["interfaceAttachment"];
    assert_eq!(att["fixed_ips"][0]["ip_address"], "10.7.0.77");
    let second = att["port_id"].as_str().unwrap().to_string();
    // Attach a user's port.
    let port = env.port(&env.demo, &net).await;
    let port_id = port["id"].as_str().unwrap();
    let r = env
        .nova(
            Method::POST,
            &base,
            &env.demo,
            Some(json!({"interfaceAttachment": {"port_id": port_id}})),
            "2.1",
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(env.port_now(port_id).unwrap()["device_id"], id.as_str());
    let r = env
        .nova(
            Method::GET,
            &format!("{base}/{port_id}"),
            &env.demo,
            None,
            "2.1",
        )
        .await;
    assert_eq!(r.body["interfaceAttachment"]["port_id"], port_id);
    let s = env.show(&env.demo, &id).await;
    assert_eq!(s["addresses"]["net1"].as_array().unwrap().len(), 3);
    let r = env
        .nova(
            Method::POST,
            &base,
            &env.demo,
            Some(json!({"interfaceAttachment": {"port_id": port_id}})),
            "2.1",
        )
        .await;
    assert_eq!(
        fault(&r, "conflictingRequest", 409),
        format!("Port {port_id} is still in use.")
    );
    let r = env
        .nova(
            Method::POST,
            &base,
            &env.demo,
            Some(json!({"interfaceAttachment": {"net_id": MISSING}})),
            "2.1",
        )
        .await;
    assert_eq!(
        fault(&r, "itemNotFound", 404),
        format!("Network {MISSING} could not be found.")
    );

    // Detach: Nova's port is deleted, the user's unbound.
    for p in [&second, port_id] {
        let r = env
            .nova(
                Method::DELETE,
                &format!("{base}/{p}"),
                &env.demo,
                None,
                "2.1",
            )
            .await;
        assert_eq!(r.status, 202, "{}", r.body);
    }
    assert!(env.port_now(&second).is_none());
    assert_eq!(env.port_now(port_id).unwrap()["status"], "DOWN");
    let r = env
        .nova(
            Method::GET,
            &format!("{base}/{port_id}"),
            &env.demo,
            None,
            "2.1",
        )
        .await;
    assert_eq!(
        fault(&r, "itemNotFound", 404),
        format!("Instance {id} does not have a port with id {port_id}")
    );
    let r = env
        .nova(
            Method::DELETE,
            &format!("{base}/{port_id}"),
            &env.demo,
            None,
            "2.1",
        )
        .await;
    assert_eq!(
        fault(&r, "itemNotFound", 404),
        format!("Port id {port_id} could not be found.")
    );
    let s = env.show(&env.demo, &id).await;
    let addrs = s["addresses"]["net1"].as_array().unwrap();
    assert_eq!(addrs.len(), 1);
    assert_eq!(
        env.pod.network().ports_of_device(&id)[0]["id"],
        first.as_str()
    );
}

/// `addSecurityGroup` / `removeSecurityGroup` change the groups of the
/// server's ports in Neutron, as Nova does; the view shows what the ports
/// have.
#[tokio::test]
async fn security_group_actions_change_the_servers_ports() {
    let env = start().await;
    let net = env
        .network(&env.demo, "sgnet", Some("10.7.0.0/24"), json!({}))
        .await;
    let r = env
        .neutron(
            Method::POST,
            "/security-groups",
            &env.demo,
            Some(json!({"security_group": {"name": "web"}})),
        )
        .await;
    let web = r.body["security_group"]["id"].as_str().unwrap().to_string();
    let id = env.boot_ok(&env.demo, json!([{"uuid": net}]), "2.37").await;
    let path = format!("/servers/{id}/action");
    let action = |body: Value| env.nova(Method::POST, &path, &env.demo, Some(body), "2.1");
    let port_groups = || {
        let ports = env.pod.network().ports_of_device(&id);
        assert_eq!(ports.len(), 1);
        ports[0]["security_groups"].clone()
    };
    let default = port_groups()[0].clone();

    let r = action(json!({"addSecurityGroup": {"name": "web"}})).await;
    assert_eq!(r.status, 202, "{}", r.body);
    assert_eq!(port_groups(), json!([default, web]));
    let s = env.show(&env.demo, &id).await;
    assert_eq!(
        s["security_groups"],
        json!([{"name": "default"}, {"name": "web"}])
    );

    let r = action(json!({"removeSecurityGroup": {"name": "default"}})).await;
    assert_eq!(r.status, 202, "{}", r.body);
    let r = action(json!({"removeSecurityGroup": {"name": web}})).await;
    assert_eq!(r.status, 202, "{}", r.body);
    assert_eq!(port_groups(), json!([]));
    let s = env.show(&env.demo, &id).await;
    assert!(s.get("security_groups").is_none(), "{s}");

    let r = action(json!({"removeSecurityGroup": {"name": "web"}})).await;
    assert_eq!(
        fault(&r, "itemNotFound", 404),
        format!("Security group web not associated with the instance {id}")
    );
    let r = action(json!({"addSecurityGroup": {"name": "nope"}})).await;
    assert_eq!(
        fault(&r, "itemNotFound", 404),
        format!(
            "Security group nope is not found for project {}",
            env.demo_project
        )
    );
    let r = action(json!({"addSecurityGroup": {"name": ""}})).await;
    assert_eq!(
        fault(&r, "badRequest", 400),
        "Security group name cannot be empty"
    );

    // A port without port security cannot take a group.
    let port = env.pod.network().ports_of_device(&id)[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = env
        .neutron(
            Method::PUT,
            &format!("/ports/{port}"),
            &env.demo,
            Some(json!({"port": {"port_security_enabled": false}})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = action(json!({"addSecurityGroup": {"name": "web"}})).await;
    assert_eq!(
        fault(&r, "badRequest", 400),
        "Network requires port_security_enabled and subnet associated in order to apply security groups."
    );
}
