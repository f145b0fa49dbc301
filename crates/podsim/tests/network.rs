//! The Neutron v2.0 simulator over real HTTP, with tokens from the
//! simulated Keystone.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use reqwest::{Client, Method};
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tricircle_podsim::{serve, Credentials, Identity, IdentityConfig, Pod, PodConfig};

struct User {
    token: String,
    project: String,
}

struct H {
    pod: Pod,
    base: String,
    client: Client,
    admin: User,
    demo: User,
    _stop: Vec<oneshot::Sender<()>>,
}

#[derive(Debug)]
struct Resp {
    status: u16,
    body: Value,
}

impl Resp {
    /// Asserts a NeutronError of `status` and `kind`.
    fn fault(&self, status: u16, kind: &str) -> &str {
        assert_eq!(self.status, status, "{}", self.body);
        assert_eq!(self.body["NeutronError"]["type"], kind, "{}", self.body);
        assert_eq!(self.body["NeutronError"]["detail"], "", "{}", self.body);
        self.body["NeutronError"]["message"].as_str().unwrap()
    }
}

async fn spawn(listener: TcpListener, router: axum::Router) -> oneshot::Sender<()> {
    let (tx, rx) = oneshot::channel::<()>();
    tokio::spawn(serve(listener, router, async move {
        let _ = rx.await;
    }));
    tx
}

async fn login(client: &Client, identity: &Identity, creds: &Credentials) -> User {
    let res = client
        .post(format!("{}/auth/tokens", identity.auth_url()))
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
    User {
        token,
        project: body["token"]["project"]["id"].as_str().unwrap().to_string(),
    }
}

async fn start() -> H {
    start_with(Vec::new()).await
}

/// A pod whose ML2 has these physical networks (empty: any).
async fn start_with(physical_networks: Vec<String>) -> H {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let cfg = IdentityConfig {
        public_url: format!("http://{}", listener.local_addr().unwrap()),
        ..IdentityConfig::default()
    };
    let identity = Identity::new(cfg.clone());
    let pod_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", pod_listener.local_addr().unwrap());
    identity.register_pod("Pod1", &base);
    let mut pod_cfg = PodConfig::new("Pod1").with_identity(identity.clone());
    pod_cfg.physical_networks = physical_networks;
    let pod = Pod::new(pod_cfg);
    let stop = vec![
        spawn(listener, identity.router()).await,
        spawn(pod_listener, pod.router()).await,
    ];
    let client = Client::new();
    let admin = login(&client, &identity, &Credentials::admin(&cfg)).await;
    let demo = login(&client, &identity, &Credentials::demo(&cfg)).await;
    H {
        pod,
        base,
        client,
        admin,
        demo,
        _stop: stop,
    }
}

impl H {
    async fn raw(&self, user: &User, method: Method, path: &str, body: Option<&[u8]>) -> Resp {
        let mut req = self
            .client
            .request(method, format!("{}/network/v2.0{path}", self.base))
            .header("X-Auth-Token", &user.token);
        if let Some(b) = body {
            req = req
                .header("Content-Type", "application/json")
                .body(b.to_vec());
        }
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        let text = res.text().await.unwrap();
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        Resp { status, body }
    }

    async fn call(&self, user: &User, method: Method, path: &str, body: Option<Value>) -> Resp {
        let bytes = body.map(|b| serde_json::to_vec(&b).unwrap());
        self.raw(user, method, path, bytes.as_deref()).await
    }

    async fn get(&self, user: &User, path: &str) -> Resp {
        self.call(user, Method::GET, path, None).await
    }

    async fn post(&self, user: &User, path: &str, body: Value) -> Resp {
        self.call(user, Method::POST, path, Some(body)).await
    }

    async fn put(&self, user: &User, path: &str, body: Value) -> Resp {
        self.call(user, Method::PUT, path, Some(body)).await
    }

    async fn delete(&self, user: &User, path: &str) -> Resp {
        self.call(user, Method::DELETE, path, None).await
    }

    /// Creates `kind` (asserts 201) and returns its body.
    async fn create(&self, user: &User, collection: &str, resource: &str, attrs: Value) -> Value {
        let r = self
            .post(user, &format!("/{collection}"), json!({ resource: attrs }))
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        r.body[resource].clone()
    }

    async fn network(&self, user: &User, attrs: Value) -> Value {
        self.create(user, "networks", "network", attrs).await
    }

    async fn subnet(&self, user: &User, net: &Value, cidr: &str, extra: Value) -> Value {
        let mut attrs = json!({"network_id": net["id"], "cidr": cidr, "ip_version": 4});
        if let (Some(a), Some(e)) = (attrs.as_object_mut(), extra.as_object()) {
            for (k, v) in e {
                a.insert(k.clone(), v.clone());
            }
        }
        self.create(user, "subnets", "subnet", attrs).await
    }

    async fn port(&self, user: &User, attrs: Value) -> Value {
        self.create(user, "ports", "port", attrs).await
    }
}

fn id(v: &Value) -> &str {
    v["id"].as_str().unwrap()
}

fn ip_of(port: &Value) -> &str {
    port["fixed_ips"][0]["ip_address"].as_str().unwrap()
}

#[tokio::test]
async fn network_life_cycle_and_provider_segments() {
    let h = start().await;
    let net = h.network(&h.demo, json!({"name": "n1"})).await;
    assert_eq!(net["status"], "ACTIVE");
    assert_eq!(net["admin_state_up"], true);
    assert_eq!(net["shared"], false);
    assert_eq!(net["router:external"], false);
    assert_eq!(net["mtu"], 1450);
    assert_eq!(net["port_security_enabled"], true);
    assert_eq!(net["subnets"], json!([]));
    assert_eq!(net["tenant_id"], h.demo.project);
    assert_eq!(net["project_id"], h.demo.project);
    assert_eq!(net["availability_zones"], json!(["nova"]));
    assert_eq!(net["revision_number"], 0);
    assert!(net.get("provider:network_type").is_none(), "{net}");
    let nid = id(&net).to_string();

    // The admin sees the default segment: vxlan with an allocated VNI.
    let r = h.get(&h.admin, &format!("/networks/{nid}")).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["network"]["provider:network_type"], "vxlan");
    assert_eq!(r.body["network"]["provider:segmentation_id"], 1);
    assert_eq!(r.body["network"]["provider:physical_network"], Value::Null);
    let bottom = h.pod.network().networks();
    assert_eq!(bottom.len(), 1);
    assert_eq!(bottom[0]["provider:segmentation_id"], 1);

    let vlan = h
        .network(
            &h.admin,
            json!({"name": "v", "provider:network_type": "vlan",
                   "provider:physical_network": "physnet1", "provider:segmentation_id": 100}),
        )
        .await;
    assert_eq!(vlan["mtu"], 1500);
    assert_eq!(vlan["provider:segmentation_id"], 100);
    let r = h
        .post(
            &h.admin,
            "/networks",
            json!({"network": {"provider:network_type": "vlan",
                   "provider:physical_network": "physnet1", "provider:segmentation_id": 100}}),
        )
        .await;
    let msg = r.fault(409, "VlanIdInUse");
    assert!(
        msg.contains("VLAN 100 on physical network physnet1"),
        "{msg}"
    );
    let r = h
        .post(
            &h.admin,
            "/networks",
            json!({"network": {"provider:network_type": "vxlan", "provider:segmentation_id": 1}}),
        )
        .await;
    r.fault(409, "TunnelIdInUse");
    let r = h
        .post(
            &h.admin,
            "/networks",
            json!({"network": {"provider:network_type": "gre"}}),
        )
        .await;
    assert_eq!(
        r.fault(400, "InvalidInput"),
        "Invalid input for operation: network_type value 'gre' not supported."
    );
    let flat = h
        .network(
            &h.admin,
            json!({"provider:network_type": "flat", "provider:physical_network": "extnet"}),
        )
        .await;
    assert_eq!(flat["provider:segmentation_id"], Value::Null);
    let next = h.network(&h.admin, json!({})).await;
    assert_eq!(next["provider:segmentation_id"], 2);

    // Non-admins may not set provider attributes nor share.
    let r = h
        .post(
            &h.demo,
            "/networks",
            json!({"network": {"provider:network_type": "vlan"}}),
        )
        .await;
    let msg = r.fault(403, "PolicyNotAuthorized");
    assert!(msg.ends_with("is disallowed by policy"), "{msg}");
    let r = h
        .post(
            &h.demo,
            "/networks",
            json!({"network": {"router:external": true}}),
        )
        .await;
    r.fault(403, "PolicyNotAuthorized");

    // Update bumps the revision; read-only attributes are refused.
    let r = h
        .put(
            &h.demo,
            &format!("/networks/{nid}"),
            json!({"network": {"name": "renamed", "description": "d"}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["network"]["name"], "renamed");
    assert_eq!(r.body["network"]["revision_number"], 1);
    let r = h
        .put(
            &h.demo,
            &format!("/networks/{nid}"),
            json!({"network": {"status": "DOWN"}}),
        )
        .await;
    assert_eq!(
        r.fault(400, "HTTPBadRequest"),
        "Cannot update read-only attribute status"
    );

    let r = h.delete(&h.demo, &format!("/networks/{nid}")).await;
    assert_eq!(r.status, 204);
    assert_eq!(r.body, Value::Null);
    let r = h.get(&h.demo, &format!("/networks/{nid}")).await;
    assert_eq!(
        r.fault(404, "NetworkNotFound"),
        format!("Network {nid} could not be found.")
    );
}

#[tokio::test]
async fn bad_bodies_are_rejected_like_neutron() {
    let h = start().await;
    let r = h
        .post(
            &h.demo,
            "/networks",
            json!({"network": {"name": "x", "foo": 1}}),
        )
        .await;
    assert_eq!(
        r.fault(400, "HTTPBadRequest"),
        "Unrecognized attribute(s) 'foo'"
    );
    let r = h
        .raw(&h.demo, Method::POST, "/networks", Some(b"{not json"))
        .await;
    assert_eq!(r.fault(400, "HTTPBadRequest"), "Body contains invalid data");
    let r = h.post(&h.demo, "/networks", json!({"net": {}})).await;
    assert_eq!(
        r.fault(400, "HTTPBadRequest"),
        "Unable to find 'network' in request body"
    );
    let r = h
        .post(&h.demo, "/networks", json!({"network": {"id": "x"}}))
        .await;
    assert_eq!(
        r.fault(400, "HTTPBadRequest"),
        "Attribute 'id' not allowed in POST"
    );
    let r = h
        .post(
            &h.demo,
            "/networks",
            json!({"network": {"admin_state_up": "perhaps"}}),
        )
        .await;
    assert_eq!(
        r.fault(400, "InvalidInput"),
        "Invalid input for operation: 'perhaps' cannot be converted to boolean."
    );
    let r = h
        .post(
            &h.demo,
            "/subnets",
            json!({"subnet": {"cidr": "10.0.0.0/24"}}),
        )
        .await;
    r.fault(400, "HTTPBadRequest");
    let r = h
        .post(
            &h.demo,
            "/networks",
            json!({"network": {"project_id": "someone-else"}}),
        )
        .await;
    r.fault(400, "HTTPBadRequest");
    let r = h.get(&h.demo, "/nothing-here").await;
    r.fault(404, "HTTPNotFound");
    let r = h
        .call(&h.demo, Method::PATCH, "/networks", Some(json!({})))
        .await;
    assert_eq!(r.status, 405);
    let r = h.get(&h.demo, "/ports/does-not-exist").await;
    r.fault(404, "PortNotFound");
    let r = h.delete(&h.demo, "/routers/nope").await;
    r.fault(404, "RouterNotFound");
    let r = h.get(&h.demo, "/floatingips/nope").await;
    r.fault(404, "FloatingIPNotFound");
    let r = h.get(&h.demo, "/security-group-rules/nope").await;
    r.fault(404, "SecurityGroupRuleNotFound");
    let r = h.get(&h.demo, "/subnets/nope").await;
    r.fault(404, "SubnetNotFound");
    let r = h.get(&h.demo, "/security-groups/nope").await;
    r.fault(404, "SecurityGroupNotFound");
}

#[tokio::test]
async fn subnet_ipam_and_dhcp_port() {
    let h = start().await;
    let net = h.network(&h.demo, json!({"name": "n"})).await;
    let sub = h
        .subnet(&h.demo, &net, "10.0.0.0/24", json!({"name": "s"}))
        .await;
    assert_eq!(sub["gateway_ip"], "10.0.0.1");
    assert_eq!(
        sub["allocation_pools"],
        json!([{"start": "10.0.0.2", "end": "10.0.0.254"}])
    );
    assert_eq!(sub["enable_dhcp"], true);
    assert_eq!(sub["ip_version"], 4);
    assert_eq!(sub["subnetpool_id"], Value::Null);
    assert_eq!(sub["dns_nameservers"], json!([]));
    assert_eq!(sub["host_routes"], json!([]));
    assert_eq!(sub["ipv6_ra_mode"], Value::Null);
    let sid = id(&sub).to_string();

    // The DHCP agent's port took the first address of the pool.
    let ports = h.pod.network().ports();
    assert_eq!(ports.len(), 1);
    assert_eq!(ports[0]["device_owner"], "network:dhcp");
    assert_eq!(ports[0]["fixed_ips"][0]["ip_address"], "10.0.0.2");
    assert_eq!(ports[0]["fixed_ips"][0]["subnet_id"], sid);
    let r = h.get(&h.demo, &format!("/networks/{}", id(&net))).await;
    assert_eq!(r.body["network"]["subnets"], json!([sid]));

    let r = h
        .post(
            &h.demo,
            "/subnets",
            json!({"subnet": {"network_id": net["id"], "cidr": "10.0.0.128/25", "ip_version": 4}}),
        )
        .await;
    let msg = r.fault(400, "InvalidInput");
    assert!(msg.contains("overlaps with another subnet"), "{msg}");
    let r = h
        .post(
            &h.demo,
            "/subnets",
            json!({"subnet": {"network_id": net["id"], "cidr": "10.1.0.0/24", "ip_version": 4,
                   "allocation_pools": [{"start": "10.1.0.1", "end": "10.1.0.10"}]}}),
        )
        .await;
    assert_eq!(
        r.fault(409, "GatewayConflictWithAllocationPools"),
        "Gateway ip 10.1.0.1 conflicts with allocation pool 10.1.0.1-10.1.0.10."
    );
    let r = h
        .post(
            &h.demo,
            "/subnets",
            json!({"subnet": {"network_id": net["id"], "cidr": "10.1.0.0/24", "ip_version": 4,
                   "allocation_pools": [{"start": "10.1.0.10", "end": "10.1.1.10"}]}}),
        )
        .await;
    r.fault(400, "OutOfBoundsAllocationPool");
    let r = h
        .post(
            &h.demo,
            "/subnets",
            json!({"subnet": {"network_id": net["id"], "cidr": "10.1.0.5/24", "ip_version": 4}}),
        )
        .await;
    let msg = r.fault(400, "HTTPBadRequest");
    assert!(msg.contains("'10.1.0.0/24' is recommended"), "{msg}");
    let r = h
        .post(
            &h.demo,
            "/subnets",
            json!({"subnet": {"network_id": net["id"], "cidr": "10.1.0.0/24", "ip_version": 6}}),
        )
        .await;
    r.fault(400, "InvalidInput");

    // Explicit pools, no gateway, no DHCP: no new DHCP port.
    let s2 = h
        .subnet(
            &h.demo,
            &net,
            "10.2.0.0/24",
            json!({"gateway_ip": null, "enable_dhcp": false,
                   "allocation_pools": [{"start": "10.2.0.10", "end": "10.2.0.11"}]}),
        )
        .await;
    assert_eq!(s2["gateway_ip"], Value::Null);
    assert_eq!(h.pod.network().ports().len(), 1);
    let v6 = h
        .create(
            &h.demo,
            "subnets",
            "subnet",
            json!({"network_id": net["id"], "cidr": "fd00::/64", "ip_version": 6,
                   "ipv6_address_mode": "dhcpv6-stateful", "ipv6_ra_mode": "dhcpv6-stateful"}),
        )
        .await;
    assert_eq!(v6["gateway_ip"], "fd00::1");

    // Ports take addresses; explicit ones are checked.
    let p1 = h
        .port(
            &h.demo,
            json!({"network_id": net["id"], "fixed_ips": [{"subnet_id": sid}]}),
        )
        .await;
    assert_eq!(ip_of(&p1), "10.0.0.3");
    let r = h
        .post(
            &h.demo,
            "/ports",
            json!({"port": {"network_id": net["id"], "fixed_ips": [{"ip_address": "10.0.0.3"}]}}),
        )
        .await;
    assert_eq!(
        r.fault(409, "IpAddressAlreadyAllocated"),
        format!("IP address 10.0.0.3 already allocated in subnet {sid}")
    );
    let r = h
        .post(
            &h.demo,
            "/ports",
            json!({"port": {"network_id": net["id"],
                   "fixed_ips": [{"subnet_id": sid, "ip_address": "10.9.9.9"}]}}),
        )
        .await;
    r.fault(400, "InvalidIpForSubnet");
    let r = h
        .post(
            &h.demo,
            "/ports",
            json!({"port": {"network_id": net["id"], "fixed_ips": [{"ip_address": "10.9.9.9"}]}}),
        )
        .await;
    r.fault(400, "InvalidIpForNetwork");
    // Two addresses in the small pool, then it is exhausted.
    for want in ["10.2.0.10", "10.2.0.11"] {
        let p = h
            .port(
                &h.demo,
                json!({"network_id": net["id"], "fixed_ips": [{"subnet_id": s2["id"]}]}),
            )
            .await;
        assert_eq!(ip_of(&p), want);
    }
    let r = h
        .post(
            &h.demo,
            "/ports",
            json!({"port": {"network_id": net["id"], "fixed_ips": [{"subnet_id": s2["id"]}]}}),
        )
        .await;
    r.fault(409, "IpAddressGenerationFailure");

    // In use: the subnet and the network cannot go.
    let r = h.delete(&h.demo, &format!("/subnets/{sid}")).await;
    let msg = r.fault(409, "SubnetInUse");
    assert!(msg.starts_with(&format!("Unable to complete operation on subnet {sid}")));
    let r = h.delete(&h.demo, &format!("/networks/{}", id(&net))).await;
    r.fault(409, "NetworkInUse");
    for p in h.pod.network().ports() {
        if p["device_owner"] != "network:dhcp" {
            let r = h.delete(&h.demo, &format!("/ports/{}", id(&p))).await;
            assert_eq!(r.status, 204);
        }
    }
    // Only the DHCP port is left, and it does not block deletes.
    let r = h.delete(&h.demo, &format!("/subnets/{sid}")).await;
    assert_eq!(r.status, 204, "{}", r.body);
    assert!(h.pod.network().ports().is_empty());
    let r = h.delete(&h.demo, &format!("/networks/{}", id(&net))).await;
    assert_eq!(r.status, 204, "{}", r.body);
    assert!(h.pod.network().subnets().is_empty());
}

#[tokio::test]
async fn pre_created_dhcp_port_is_reused() {
    let h = start().await;
    let net = h.network(&h.admin, json!({})).await;
    let sub = h
        .subnet(
            &h.admin,
            &net,
            "192.168.1.0/24",
            json!({"enable_dhcp": false}),
        )
        .await;
    let dhcp = h
        .port(
            &h.admin,
            json!({"network_id": net["id"], "device_owner": "network:dhcp",
                   "device_id": "reserved", "mac_address": "fa:16:3e:00:00:05",
                   "fixed_ips": [{"subnet_id": sub["id"], "ip_address": "192.168.1.5"}]}),
        )
        .await;
    assert_eq!(dhcp["mac_address"], "fa:16:3e:00:00:05");
    assert_eq!(dhcp["security_groups"], json!([]));
    let r = h
        .put(
            &h.admin,
            &format!("/subnets/{}", id(&sub)),
            json!({"subnet": {"enable_dhcp": true}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["subnet"]["enable_dhcp"], true);
    let dhcp_ports: Vec<Value> = h
        .pod
        .network()
        .ports()
        .into_iter()
        .filter(|p| p["device_owner"] == "network:dhcp")
        .collect();
    assert_eq!(dhcp_ports.len(), 1);
    assert_eq!(dhcp_ports[0]["id"], dhcp["id"]);
    // A second DHCP subnet on the network makes no new DHCP port either.
    h.subnet(&h.admin, &net, "192.168.2.0/24", json!({})).await;
    let count = h
        .pod
        .network()
        .ports()
        .iter()
        .filter(|p| p["device_owner"] == "network:dhcp")
        .count();
    assert_eq!(count, 1);
}

#[tokio::test]
async fn ports_macs_security_groups_and_bindings() {
    let h = start().await;
    let net = h.network(&h.demo, json!({})).await;
    let sub = h.subnet(&h.demo, &net, "10.0.0.0/24", json!({})).await;
    let p = h
        .port(&h.demo, json!({"network_id": net["id"], "name": "vm-port"}))
        .await;
    assert_eq!(p["status"], "DOWN");
    assert_eq!(p["fixed_ips"][0]["subnet_id"], sub["id"]);
    let mac = p["mac_address"].as_str().unwrap();
    assert!(mac.starts_with("fa:16:3e:") && mac.len() == 17, "{mac}");
    assert_eq!(p["port_security_enabled"], true);
    assert_eq!(p["binding:vnic_type"], "normal");
    assert!(p.get("binding:host_id").is_none(), "{p}");
    assert_eq!(p["allowed_address_pairs"], json!([]));
    assert_eq!(p["dns_name"], "");
    // The port got the project's default group, made on the way.
    let groups = p["security_groups"].as_array().unwrap();
    assert_eq!(groups.len(), 1);
    let r = h
        .get(
            &h.demo,
            &format!("/security-groups/{}", groups[0].as_str().unwrap()),
        )
        .await;
    assert_eq!(r.body["security_group"]["name"], "default");

    let r = h
        .post(
            &h.demo,
            "/ports",
            json!({"port": {"network_id": net["id"], "mac_address": mac}}),
        )
        .await;
    let msg = r.fault(409, "MacAddressInUse");
    assert!(msg.contains(mac), "{msg}");
    let r = h
        .post(
            &h.demo,
            "/ports",
            json!({"port": {"network_id": net["id"], "mac_address": "zz:16:3e:00:00:01"}}),
        )
        .await;
    r.fault(400, "HTTPBadRequest");

    // A device makes it ACTIVE; the admin binds it.
    let pid = id(&p).to_string();
    let r = h
        .put(
            &h.demo,
            &format!("/ports/{pid}"),
            json!({"port": {"device_id": "server-1", "device_owner": "compute:nova"}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["port"]["status"], "ACTIVE");
    let r = h
        .put(
            &h.demo,
            &format!("/ports/{pid}"),
            json!({"port": {"binding:host_id": "host1"}}),
        )
        .await;
    r.fault(403, "PolicyNotAuthorized");
    let r = h
        .put(
            &h.admin,
            &format!("/ports/{pid}"),
            json!({"port": {"binding:host_id": "host1",
                   "binding:profile": {"pci_slot": "0000:00:01.0"}}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["port"]["binding:vif_type"], "ovs");
    assert_eq!(r.body["port"]["binding:host_id"], "host1");
    assert_eq!(
        r.body["port"]["binding:profile"]["pci_slot"],
        "0000:00:01.0"
    );
    assert_eq!(r.body["port"]["binding:vif_details"]["port_filter"], true);

    // Re-addressing keeps or frees addresses.
    let r = h
        .put(
            &h.demo,
            &format!("/ports/{pid}"),
            json!({"port": {"fixed_ips": [{"ip_address": "10.0.0.50"}]}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["port"]["fixed_ips"][0]["ip_address"], "10.0.0.50");
    assert_eq!(
        r.body["port"]["dns_assignment"][0]["hostname"],
        "host-10-0-0-50"
    );
    let again = h
        .port(
            &h.demo,
            json!({"network_id": net["id"], "fixed_ips": [{"ip_address": ip_of(&p)}]}),
        )
        .await;
    assert_eq!(ip_of(&again), ip_of(&p));

    // No port security: no groups, and groups are refused.
    let bare = h
        .port(
            &h.demo,
            json!({"network_id": net["id"], "port_security_enabled": false}),
        )
        .await;
    assert_eq!(bare["security_groups"], json!([]));
    let r = h
        .post(
            &h.demo,
            "/ports",
            json!({"port": {"network_id": net["id"], "port_security_enabled": false,
                   "security_groups": [groups[0]]}}),
        )
        .await;
    r.fault(400, "PortSecurityAndIPRequiredForSecurityGroups");
    let r = h
        .post(
            &h.demo,
            "/ports",
            json!({"port": {"network_id": net["id"], "security_groups": ["nope"]}}),
        )
        .await;
    r.fault(404, "SecurityGroupNotFound");
    let pairs = h
        .port(
            &h.demo,
            json!({"network_id": net["id"],
                   "allowed_address_pairs": [{"ip_address": "10.0.0.200/32"}]}),
        )
        .await;
    assert_eq!(
        pairs["allowed_address_pairs"][0]["mac_address"],
        pairs["mac_address"]
    );
}

#[tokio::test]
async fn security_groups_and_rules() {
    let h = start().await;
    let r = h.get(&h.demo, "/security-groups").await;
    assert_eq!(r.status, 200);
    let groups = r.body["security_groups"].as_array().unwrap();
    assert_eq!(groups.len(), 1);
    let default = &groups[0];
    assert_eq!(default["name"], "default");
    let did = id(default).to_string();
    let rules = default["security_group_rules"].as_array().unwrap();
    assert_eq!(rules.len(), 4);
    let ingress: Vec<&Value> = rules
        .iter()
        .filter(|r| r["direction"] == "ingress")
        .collect();
    assert_eq!(ingress.len(), 2);
    assert!(ingress.iter().all(|r| r["remote_group_id"] == did.as_str()));
    let egress: Vec<&Value> = rules
        .iter()
        .filter(|r| r["direction"] == "egress")
        .collect();
    assert_eq!(egress.len(), 2);
    assert!(egress.iter().all(|r| r["remote_group_id"].is_null()));
    let mut ethertypes: Vec<&str> = egress
        .iter()
        .map(|r| r["ethertype"].as_str().unwrap())
        .collect();
    ethertypes.sort_unstable();
    assert_eq!(ethertypes, vec!["IPv4", "IPv6"]);
    // Listing again makes no second default group.
    let r = h.get(&h.demo, "/security-groups").await;
    assert_eq!(r.body["security_groups"].as_array().unwrap().len(), 1);

    let web = h
        .create(
            &h.demo,
            "security-groups",
            "security_group",
            json!({"name": "web"}),
        )
        .await;
    assert_eq!(web["security_group_rules"].as_array().unwrap().len(), 2);
    let wid = id(&web).to_string();
    let rule_body = json!({"security_group_rule": {"security_group_id": wid,
        "direction": "ingress", "protocol": "tcp", "port_range_min": 80,
        "port_range_max": 80, "remote_ip_prefix": "0.0.0.0/0"}});
    let r = h
        .post(&h.demo, "/security-group-rules", rule_body.clone())
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let rule = r.body["security_group_rule"].clone();
    assert_eq!(rule["ethertype"], "IPv4");
    assert_eq!(rule["protocol"], "tcp");
    assert_eq!(rule["port_range_min"], 80);
    assert_eq!(rule["remote_group_id"], Value::Null);
    let r = h.post(&h.demo, "/security-group-rules", rule_body).await;
    assert_eq!(
        r.fault(409, "SecurityGroupRuleExists"),
        format!(
            "Security group rule already exists. Rule id is {}.",
            id(&rule)
        )
    );
    let r = h
        .post(
            &h.demo,
            "/security-group-rules",
            json!({"security_group_rule": {"security_group_id": wid, "direction": "ingress",
                   "protocol": "tcp", "port_range_min": 90, "port_range_max": 80}}),
        )
        .await;
    r.fault(400, "SecurityGroupInvalidPortRange");
    let r = h
        .post(
            &h.demo,
            "/security-group-rules",
            json!({"security_group_rule": {"security_group_id": wid, "direction": "ingress",
                   "port_range_min": 80}}),
        )
        .await;
    r.fault(400, "SecurityGroupProtocolRequiredWithPorts");
    let r = h
        .post(
            &h.demo,
            "/security-group-rules",
            json!({"security_group_rule": {"security_group_id": wid, "direction": "sideways"}}),
        )
        .await;
    r.fault(400, "HTTPBadRequest");
    let r = h
        .post(
            &h.demo,
            "/security-group-rules",
            json!({"security_group_rule": {"security_group_id": wid, "direction": "ingress",
                   "ethertype": "IPv6", "remote_ip_prefix": "10.0.0.0/8"}}),
        )
        .await;
    r.fault(400, "SecurityGroupRuleParameterConflict");
    let r = h
        .post(
            &h.demo,
            "/security-group-rules",
            json!({"security_group_rule": {"security_group_id": wid, "direction": "egress",
                   "protocol": 17, "port_range_min": 53, "port_range_max": 53}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["security_group_rule"]["protocol"], "17");
    h.delete(
        &h.demo,
        &format!(
            "/security-group-rules/{}",
            id(&r.body["security_group_rule"])
        ),
    )
    .await;
    let r = h.get(&h.demo, &format!("/security-groups/{wid}")).await;
    assert_eq!(
        r.body["security_group"]["security_group_rules"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    let r = h
        .get(
            &h.demo,
            &format!("/security-group-rules?security_group_id={wid}"),
        )
        .await;
    assert_eq!(r.body["security_group_rules"].as_array().unwrap().len(), 3);

    // In use by a port: cannot go. The default group never goes.
    let net = h.network(&h.demo, json!({})).await;
    h.subnet(&h.demo, &net, "10.0.0.0/24", json!({})).await;
    let port = h
        .port(
            &h.demo,
            json!({"network_id": net["id"], "security_groups": [wid]}),
        )
        .await;
    assert_eq!(port["security_groups"], json!([wid]));
    let r = h.delete(&h.demo, &format!("/security-groups/{wid}")).await;
    assert_eq!(
        r.fault(409, "SecurityGroupInUse"),
        format!("Security Group {wid} in use.")
    );
    let r = h.delete(&h.demo, &format!("/security-groups/{did}")).await;
    r.fault(409, "SecurityGroupCannotRemoveDefault");
    h.delete(&h.demo, &format!("/ports/{}", id(&port))).await;
    let r = h
        .delete(&h.demo, &format!("/security-group-rules/{}", id(&rule)))
        .await;
    assert_eq!(r.status, 204);
    let r = h
        .delete(&h.demo, &format!("/security-group-rules/{}", id(&rule)))
        .await;
    r.fault(404, "SecurityGroupRuleNotFound");
    let r = h.delete(&h.demo, &format!("/security-groups/{wid}")).await;
    assert_eq!(r.status, 204);
    assert!(h
        .pod
        .network()
        .security_group_rules()
        .iter()
        .all(|r| r["security_group_id"] != wid.as_str()));
    // Another project sees none of these.
    let r = h
        .get(
            &h.admin,
            &format!("/security-groups?project_id={}", h.demo.project),
        )
        .await;
    assert_eq!(r.body["security_groups"].as_array().unwrap().len(), 1);
    let r = h.get(&h.demo, &format!("/security-groups/{did}")).await;
    assert_eq!(r.status, 200);
}

/// An external network with a subnet, owned by the admin.
async fn external(h: &H) -> (Value, Value) {
    let ext = h
        .network(&h.admin, json!({"name": "public", "router:external": true}))
        .await;
    let sub = h
        .subnet(
            &h.admin,
            &ext,
            "172.24.4.0/24",
            json!({"enable_dhcp": false}),
        )
        .await;
    (ext, sub)
}

#[tokio::test]
async fn routers_gateway_interfaces_and_routes() {
    let h = start().await;
    let (ext, ext_sub) = external(&h).await;
    let net = h.network(&h.demo, json!({})).await;
    let sub = h.subnet(&h.demo, &net, "10.0.0.0/24", json!({})).await;
    let router = h
        .create(
            &h.demo,
            "routers",
            "router",
            json!({"name": "r1", "external_gateway_info": {"network_id": ext["id"]}}),
        )
        .await;
    let rid = id(&router).to_string();
    assert_eq!(router["status"], "ACTIVE");
    let gw = &router["external_gateway_info"];
    assert_eq!(gw["network_id"], ext["id"]);
    assert_eq!(gw["enable_snat"], true);
    assert_eq!(gw["external_fixed_ips"][0]["subnet_id"], ext_sub["id"]);
    assert_eq!(gw["external_fixed_ips"][0]["ip_address"], "172.24.4.2");
    assert_eq!(router["routes"], json!([]));
    assert!(router.get("distributed").is_none());

    let r = h
        .put(
            &h.demo,
            &format!("/routers/{rid}"),
            json!({"router": {"external_gateway_info": {"network_id": net["id"]}}}),
        )
        .await;
    assert_eq!(
        r.fault(400, "BadRequest"),
        format!(
            "Bad router request: Network {} is not an external network.",
            id(&net)
        )
    );

    let r = h
        .put(
            &h.demo,
            &format!("/routers/{rid}/add_router_interface"),
            json!({"subnet_id": sub["id"]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let iface = r.body.clone();
    assert_eq!(iface["id"], rid.as_str());
    assert_eq!(iface["subnet_id"], sub["id"]);
    assert_eq!(iface["subnet_ids"], json!([sub["id"]]));
    assert_eq!(iface["network_id"], net["id"]);
    assert_eq!(iface["tenant_id"], h.demo.project);
    assert_eq!(iface["project_id"], h.demo.project);
    let r = h
        .get(
            &h.demo,
            &format!("/ports/{}", iface["port_id"].as_str().unwrap()),
        )
        .await;
    assert_eq!(r.body["port"]["device_owner"], "network:router_interface");
    assert_eq!(r.body["port"]["device_id"], rid.as_str());
    assert_eq!(r.body["port"]["fixed_ips"][0]["ip_address"], "10.0.0.1");
    let r = h
        .put(
            &h.demo,
            &format!("/routers/{rid}/add_router_interface"),
            json!({"subnet_id": sub["id"]}),
        )
        .await;
    r.fault(400, "BadRequest");
    let r = h
        .put(
            &h.demo,
            &format!("/routers/{rid}/add_router_interface"),
            json!({}),
        )
        .await;
    assert_eq!(
        r.fault(400, "BadRequest"),
        "Bad router request: Either subnet_id or port_id must be specified."
    );
    let r = h
        .delete(
            &h.demo,
            &format!("/ports/{}", iface["port_id"].as_str().unwrap()),
        )
        .await;
    r.fault(409, "L3PortInUse");

    // Extra routes: the next hop must sit on one of the router's subnets.
    let r = h
        .put(
            &h.demo,
            &format!("/routers/{rid}"),
            json!({"router": {"routes": [{"destination": "10.9.0.0/24", "nexthop": "10.0.0.9"}]}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.body["router"]["routes"],
        json!([{"destination": "10.9.0.0/24", "nexthop": "10.0.0.9"}])
    );
    let r = h
        .put(
            &h.demo,
            &format!("/routers/{rid}"),
            json!({"router": {"routes": [{"destination": "10.9.0.0/24", "nexthop": "192.168.0.9"}]}}),
        )
        .await;
    assert_eq!(
        r.fault(400, "InvalidRoutes"),
        "Invalid format for routes: [{'destination': '10.9.0.0/24', 'nexthop': '192.168.0.9'}], \
         the nexthop is not connected with router."
    );
    let r = h
        .put(
            &h.demo,
            &format!("/routers/{rid}/remove_router_interface"),
            json!({"subnet_id": sub["id"]}),
        )
        .await;
    r.fault(409, "RouterInterfaceInUseByRoute");
    h.put(
        &h.demo,
        &format!("/routers/{rid}"),
        json!({"router": {"routes": []}}),
    )
    .await;

    let r = h.delete(&h.demo, &format!("/routers/{rid}")).await;
    assert_eq!(
        r.fault(409, "RouterInUse"),
        format!("Router {rid} still has ports")
    );
    let r = h
        .put(
            &h.demo,
            &format!("/routers/{rid}/remove_router_interface"),
            json!({"subnet_id": sub["id"]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["port_id"], iface["port_id"]);
    let r = h
        .put(
            &h.demo,
            &format!("/routers/{rid}/remove_router_interface"),
            json!({"subnet_id": sub["id"]}),
        )
        .await;
    r.fault(404, "RouterInterfaceNotFoundForSubnet");

    // By port: a port made beforehand becomes the interface.
    let port = h
        .port(
            &h.demo,
            json!({"network_id": net["id"], "fixed_ips": [{"ip_address": "10.0.0.1"}]}),
        )
        .await;
    let r = h
        .put(
            &h.demo,
            &format!("/routers/{rid}/add_router_interface"),
            json!({"port_id": port["id"]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["port_id"], port["id"]);
    let r = h
        .put(
            &h.demo,
            &format!("/routers/{rid}/remove_router_interface"),
            json!({"port_id": port["id"]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(h
        .pod
        .network()
        .ports()
        .iter()
        .all(|p| p["id"] != port["id"]));

    // Clearing the gateway frees its port; then the router goes.
    let r = h
        .put(
            &h.demo,
            &format!("/routers/{rid}"),
            json!({"router": {"external_gateway_info": {}}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["router"]["external_gateway_info"], Value::Null);
    assert!(h
        .pod
        .network()
        .ports()
        .iter()
        .all(|p| p["device_owner"] != "network:router_gateway"));
    let r = h.delete(&h.demo, &format!("/routers/{rid}")).await;
    assert_eq!(r.status, 204);
    assert!(h.pod.network().routers().is_empty());
}

#[tokio::test]
async fn floating_ips() {
    let h = start().await;
    let (ext, _) = external(&h).await;
    let net = h.network(&h.demo, json!({})).await;
    let sub = h.subnet(&h.demo, &net, "10.0.0.0/24", json!({})).await;
    let vm = h.port(&h.demo, json!({"network_id": net["id"]})).await;

    let r = h
        .post(
            &h.demo,
            "/floatingips",
            json!({"floatingip": {"floating_network_id": net["id"]}}),
        )
        .await;
    r.fault(400, "BadRequest");
    let fip = h
        .create(
            &h.demo,
            "floatingips",
            "floatingip",
            json!({"floating_network_id": ext["id"]}),
        )
        .await;
    assert_eq!(fip["floating_ip_address"], "172.24.4.2");
    assert_eq!(fip["status"], "DOWN");
    assert_eq!(fip["port_id"], Value::Null);
    assert_eq!(fip["router_id"], Value::Null);
    let fid = id(&fip).to_string();

    // No router joins the port's subnet to the external network yet.
    let r = h
        .put(
            &h.demo,
            &format!("/floatingips/{fid}"),
            json!({"floatingip": {"port_id": vm["id"]}}),
        )
        .await;
    let msg = r.fault(404, "ExternalGatewayForFloatingIPNotFound");
    assert!(msg.contains(sub["id"].as_str().unwrap()), "{msg}");

    let router = h
        .create(
            &h.demo,
            "routers",
            "router",
            json!({"external_gateway_info": {"network_id": ext["id"]}}),
        )
        .await;
    let rid = id(&router).to_string();
    h.put(
        &h.demo,
        &format!("/routers/{rid}/add_router_interface"),
        json!({"subnet_id": sub["id"]}),
    )
    .await;
    let r = h
        .put(
            &h.demo,
            &format!("/floatingips/{fid}"),
            json!({"floatingip": {"port_id": vm["id"]}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let f = &r.body["floatingip"];
    assert_eq!(f["status"], "ACTIVE");
    assert_eq!(f["router_id"], rid.as_str());
    assert_eq!(f["fixed_ip_address"], ip_of(&vm));
    assert_eq!(f["port_details"]["network_id"], net["id"]);

    // The router's interface and gateway are held by the floating IP.
    let r = h
        .put(
            &h.demo,
            &format!("/routers/{rid}/remove_router_interface"),
            json!({"subnet_id": sub["id"]}),
        )
        .await;
    r.fault(409, "RouterInterfaceInUseByFloatingIP");
    let r = h
        .put(
            &h.demo,
            &format!("/routers/{rid}"),
            json!({"router": {"external_gateway_info": null}}),
        )
        .await;
    r.fault(409, "RouterExternalGatewayInUseByFloatingIp");
    // A second floating IP on the same fixed IP is refused.
    let r = h
        .post(
            &h.demo,
            "/floatingips",
            json!({"floatingip": {"floating_network_id": ext["id"], "port_id": vm["id"]}}),
        )
        .await;
    r.fault(409, "FloatingIPPortAlreadyAssociated");
    assert_eq!(h.pod.network().floating_ips().len(), 1);

    // Deleting the port disassociates.
    h.delete(&h.demo, &format!("/ports/{}", id(&vm))).await;
    let r = h.get(&h.demo, &format!("/floatingips/{fid}")).await;
    assert_eq!(r.body["floatingip"]["port_id"], Value::Null);
    assert_eq!(r.body["floatingip"]["status"], "DOWN");
    let r = h.delete(&h.demo, &format!("/floatingips/{fid}")).await;
    assert_eq!(r.status, 204);
    assert!(h
        .pod
        .network()
        .ports()
        .iter()
        .all(|p| p["device_owner"] != "network:floatingip"));
    let r = h.get(&h.demo, &format!("/floatingips/{fid}")).await;
    r.fault(404, "FloatingIPNotFound");
}

#[tokio::test]
async fn filters_fields_sorting_and_paging() {
    let h = start().await;
    for name in ["c", "a", "b", "a"] {
        h.network(&h.demo, json!({"name": name})).await;
    }
    h.network(&h.demo, json!({"name": "down", "admin_state_up": false}))
        .await;
    let names = |v: &Value| -> Vec<String> {
        v["networks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["name"].as_str().unwrap().to_string())
            .collect()
    };
    let r = h.get(&h.demo, "/networks?name=a").await;
    assert_eq!(names(&r.body), vec!["a", "a"]);
    let r = h.get(&h.demo, "/networks?name=a&name=b").await;
    assert_eq!(names(&r.body).len(), 3);
    let r = h.get(&h.demo, "/networks?admin_state_up=false").await;
    assert_eq!(names(&r.body), vec!["down"]);
    let r = h
        .get(&h.demo, "/networks?admin_state_up=False&name=down")
        .await;
    assert_eq!(names(&r.body), vec!["down"]);
    let r = h.get(&h.demo, "/networks?bogus=1").await;
    assert_eq!(
        r.fault(400, "HTTPBadRequest"),
        "['bogus'] is invalid attribute for filtering"
    );
    // Provider attributes are no filter for a project member.
    let r = h
        .get(&h.demo, "/networks?provider:network_type=vxlan")
        .await;
    r.fault(400, "HTTPBadRequest");
    let r = h
        .get(&h.admin, "/networks?provider:network_type=vxlan")
        .await;
    assert_eq!(r.body["networks"].as_array().unwrap().len(), 5);

    let r = h.get(&h.demo, "/networks?fields=id&fields=name").await;
    let first = r.body["networks"][0].as_object().unwrap();
    let mut keys: Vec<&String> = first.keys().collect();
    keys.sort();
    assert_eq!(keys, vec!["id", "name"]);
    let some = &r.body["networks"][0]["id"];
    let r = h
        .get(
            &h.demo,
            &format!("/networks/{}?fields=status", some.as_str().unwrap()),
        )
        .await;
    assert_eq!(r.body, json!({"network": {"status": "ACTIVE"}}));

    let r = h
        .get(&h.demo, "/networks?sort_key=name&sort_dir=desc")
        .await;
    assert_eq!(names(&r.body), vec!["down", "c", "b", "a", "a"]);
    let r = h.get(&h.demo, "/networks?sort_key=name").await;
    r.fault(400, "HTTPBadRequest");
    let r = h.get(&h.demo, "/networks?sort_key=nope&sort_dir=asc").await;
    r.fault(400, "HTTPBadRequest");

    // Pages of two, following the next links.
    let mut url = "/networks?sort_key=name&sort_dir=asc&limit=2".to_string();
    let mut seen = Vec::new();
    for _ in 0..5 {
        let r = h.get(&h.demo, &url).await;
        assert_eq!(r.status, 200, "{}", r.body);
        seen.extend(names(&r.body));
        let links = r.body["networks_links"].as_array().unwrap();
        assert!(links.iter().any(|l| l["rel"] == "previous"));
        match links.iter().find(|l| l["rel"] == "next") {
            Some(next) => {
                let href = next["href"].as_str().unwrap();
                assert!(href.starts_with(&format!("{}/network/v2.0/networks?", h.base)));
                url = href
                    .strip_prefix(&format!("{}/network/v2.0", h.base))
                    .unwrap()
                    .to_string();
            }
            None => break,
        }
    }
    assert_eq!(seen, vec!["a", "a", "b", "c", "down"]);
    let r = h.get(&h.demo, "/networks?limit=2&marker=nope").await;
    r.fault(404, "NetworkNotFound");
    let r = h.get(&h.demo, "/networks?limit=x").await;
    r.fault(400, "BadRequest");
    let r = h.get(&h.demo, "/networks").await;
    assert!(r.body.get("networks_links").is_none());

    // Ports by fixed IP.
    let net = h.network(&h.demo, json!({"name": "p"})).await;
    h.subnet(&h.demo, &net, "10.0.0.0/24", json!({"enable_dhcp": false}))
        .await;
    let p = h.port(&h.demo, json!({"network_id": net["id"]})).await;
    h.port(&h.demo, json!({"network_id": net["id"]})).await;
    let r = h
        .get(
            &h.demo,
            &format!("/ports?fixed_ips=ip_address%3D{}", ip_of(&p)),
        )
        .await;
    let found = r.body["ports"].as_array().unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0]["id"], p["id"]);
    let r = h
        .get(
            &h.demo,
            &format!("/ports?network_id={}&device_owner=", id(&net)),
        )
        .await;
    assert_eq!(r.body["ports"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn tenant_isolation() {
    let h = start().await;
    let private = h.network(&h.admin, json!({"name": "admin-private"})).await;
    let shared = h
        .network(&h.admin, json!({"name": "shared", "shared": true}))
        .await;
    let (ext, _) = external(&h).await;
    let mine = h.network(&h.demo, json!({"name": "mine"})).await;

    let r = h.get(&h.demo, "/networks").await;
    let mut seen: Vec<&str> = r.body["networks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["name"].as_str().unwrap())
        .collect();
    seen.sort_unstable();
    assert_eq!(seen, vec!["mine", "public", "shared"]);
    let r = h.get(&h.admin, "/networks").await;
    assert_eq!(r.body["networks"].as_array().unwrap().len(), 4);
    let r = h.get(&h.demo, &format!("/networks/{}", id(&private))).await;
    r.fault(404, "NetworkNotFound");
    let r = h
        .delete(&h.demo, &format!("/networks/{}", id(&private)))
        .await;
    r.fault(404, "NetworkNotFound");
    // Seen but not owned: the policy says no.
    let r = h
        .put(
            &h.demo,
            &format!("/networks/{}", id(&shared)),
            json!({"network": {"name": "mine now"}}),
        )
        .await;
    r.fault(403, "PolicyNotAuthorized");
    let r = h.get(&h.demo, &format!("/networks/{}", id(&ext))).await;
    assert_eq!(r.status, 200);
    // No subnet nor port on someone else's private network.
    let r = h
        .post(
            &h.demo,
            "/subnets",
            json!({"subnet": {"network_id": private["id"], "cidr": "10.5.0.0/24", "ip_version": 4}}),
        )
        .await;
    r.fault(404, "HTTPNotFound");
    let r = h
        .post(
            &h.demo,
            "/ports",
            json!({"port": {"network_id": private["id"]}}),
        )
        .await;
    r.fault(404, "NetworkNotFound");
    // Ports on a shared network are fine; their subnets are visible.
    let ssub = h.subnet(&h.admin, &shared, "10.6.0.0/24", json!({})).await;
    let r = h.get(&h.demo, &format!("/subnets/{}", id(&ssub))).await;
    assert_eq!(r.status, 200);
    let p = h.port(&h.demo, json!({"network_id": shared["id"]})).await;
    assert_eq!(p["project_id"], h.demo.project);
    // The admin acts for other projects; a member may not.
    let theirs = h
        .network(
            &h.admin,
            json!({"project_id": h.demo.project, "name": "given"}),
        )
        .await;
    assert_eq!(theirs["tenant_id"], h.demo.project);
    let r = h.get(&h.demo, &format!("/networks/{}", id(&theirs))).await;
    assert_eq!(r.status, 200);
    let r = h
        .get(&h.demo, &format!("/networks?tenant_id={}", h.admin.project))
        .await;
    let names: Vec<&str> = r.body["networks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["name"].as_str().unwrap())
        .collect();
    assert!(!names.contains(&"admin-private"), "{names:?}");
    let _ = mine;
}

#[tokio::test]
async fn bulk_create_is_all_or_nothing() {
    let h = start().await;
    let r = h
        .post(
            &h.demo,
            "/networks",
            json!({"networks": [{"name": "x"}, {"name": "y"}]}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["networks"].as_array().unwrap().len(), 2);
    let net = &r.body["networks"][0];
    h.subnet(&h.demo, net, "10.0.0.0/24", json!({"enable_dhcp": false}))
        .await;
    let r = h
        .post(
            &h.demo,
            "/ports",
            json!({"ports": [{"network_id": net["id"], "fixed_ips": [{"ip_address": "10.0.0.7"}]},
                             {"network_id": net["id"], "fixed_ips": [{"ip_address": "10.0.0.7"}]}]}),
        )
        .await;
    r.fault(409, "IpAddressAlreadyAllocated");
    assert!(h.pod.network().ports().is_empty());
}

#[tokio::test]
async fn extensions_zones_quotas_tags_and_faults() {
    let h = start().await;
    let r = h.get(&h.demo, "/extensions").await;
    let aliases: Vec<&str> = r.body["extensions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["alias"].as_str().unwrap())
        .collect();
    for a in [
        "router",
        "external-net",
        "provider",
        "security-group",
        "extraroute",
        "binding",
    ] {
        assert!(aliases.contains(&a), "{a}");
    }
    let r = h.get(&h.demo, "/extensions/router").await;
    assert_eq!(r.body["extension"]["alias"], "router");
    let r = h.get(&h.demo, "/extensions/nope").await;
    assert_eq!(r.status, 404);
    let r = h.get(&h.demo, "/availability_zones").await;
    assert_eq!(
        r.body["availability_zones"],
        json!([{"name": "nova", "resource": "network", "state": "available"},
               {"name": "nova", "resource": "router", "state": "available"}])
    );
    let r = h.get(&h.demo, &format!("/quotas/{}", h.demo.project)).await;
    assert_eq!(r.body["quota"]["network"], 100);
    assert_eq!(r.body["quota"]["port"], 500);
    let r = h
        .get(&h.demo, &format!("/quotas/{}", h.admin.project))
        .await;
    r.fault(403, "PolicyNotAuthorized");
    let r = h
        .post(
            &h.demo,
            "/networks",
            json!({"network": {"availability_zone_hints": ["elsewhere"]}}),
        )
        .await;
    r.fault(404, "AvailabilityZoneNotFound");

    // Tags.
    let net = h.network(&h.demo, json!({"name": "t"})).await;
    let path = format!("/networks/{}/tags", id(&net));
    let r = h
        .put(&h.demo, &path, json!({"tags": ["red", "blue"]}))
        .await;
    assert_eq!(r.body, json!({"tags": ["red", "blue"]}));
    let r = h
        .call(&h.demo, Method::PUT, &format!("{path}/green"), None)
        .await;
    assert_eq!(r.status, 201);
    let r = h.get(&h.demo, "/networks?tags=red,green").await;
    assert_eq!(r.body["networks"].as_array().unwrap().len(), 1);
    let r = h.get(&h.demo, "/networks?tags-any=nope").await;
    assert_eq!(r.body["networks"].as_array().unwrap().len(), 0);
    let r = h.delete(&h.demo, &format!("{path}/red")).await;
    assert_eq!(r.status, 204);
    let r = h.get(&h.demo, &format!("{path}/red")).await;
    r.fault(404, "TagNotFound");

    // Request counts, and a pod that is down.
    assert_eq!(h.pod.network().request_count("POST", "networks"), 2);
    assert!(h.pod.network().request_count("GET", "networks") >= 2);
    h.pod.network().reset_request_counts();
    assert_eq!(h.pod.network().request_count("POST", "networks"), 0);
    h.pod.set_down(true);
    let r = h.get(&h.demo, "/networks").await;
    assert_eq!(r.status, 503);
    h.pod.set_down(false);
    let r = h.get(&h.demo, "/networks").await;
    assert_eq!(r.status, 200);
    // No token: 401 as keystonemiddleware answers.
    let res = h
        .client
        .get(format!("{}/network/v2.0/networks", h.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
}

#[tokio::test]
async fn physical_networks_are_those_of_the_pod() {
    let h = start_with(vec!["bridge".into(), "extern".into()]).await;
    // On a physical network the pod has: as asked; without one, a VLAN
    // lands on the first.
    let ext = h
        .network(
            &h.admin,
            json!({"name": "ext", "provider:network_type": "vlan",
                   "provider:physical_network": "extern", "provider:segmentation_id": 3001}),
        )
        .await;
    assert_eq!(ext["provider:physical_network"], "extern");
    assert_eq!(ext["provider:segmentation_id"], 3001);
    let any = h
        .network(&h.admin, json!({"provider:network_type": "vlan"}))
        .await;
    assert_eq!(any["provider:physical_network"], "bridge");
    let flat = h
        .network(
            &h.admin,
            json!({"provider:network_type": "flat", "provider:physical_network": "bridge"}),
        )
        .await;
    assert_eq!(flat["provider:network_type"], "flat");
    // Any other is refused as ML2's type drivers refuse it.
    for (kind, what) in [("vlan", "VLAN"), ("flat", "flat")] {
        let r = h
            .post(
                &h.admin,
                "/networks",
                json!({"network": {"provider:network_type": kind,
                       "provider:physical_network": "physnet1"}}),
            )
            .await;
        let msg = r.fault(400, "InvalidInput");
        assert_eq!(
            msg,
            format!(
                "Invalid input for operation: physical_network 'physnet1' unknown for {what} provider network."
            )
        );
    }
    assert_eq!(h.pod.network().networks().len(), 3);
}

#[tokio::test]
async fn an_auto_address_subnet_is_deleted_under_its_ports() {
    let h = start().await;
    for (mode, cidr) in [
        ("slaac", "2001:db8:1::/64"),
        ("dhcpv6-stateless", "2001:db8:2::/64"),
    ] {
        let net = h.network(&h.demo, json!({})).await;
        let v4 = h.subnet(&h.demo, &net, "10.3.0.0/24", json!({})).await;
        let v6 = h
            .subnet(
                &h.demo,
                &net,
                cidr,
                json!({"ip_version": 6, "ipv6_ra_mode": mode, "ipv6_address_mode": mode}),
            )
            .await;
        let port = h.port(&h.demo, json!({"network_id": net["id"]})).await;
        assert_eq!(port["fixed_ips"].as_array().unwrap().len(), 2, "{port}");
        let r = h.delete(&h.demo, &format!("/subnets/{}", id(&v6))).await;
        assert_eq!(r.status, 204, "{mode}: {}", r.body);
        let r = h.get(&h.demo, &format!("/ports/{}", id(&port))).await;
        assert_eq!(r.status, 200, "{}", r.body);
        let ips = r.body["port"]["fixed_ips"].as_array().unwrap();
        assert_eq!(ips.len(), 1, "{}", r.body);
        assert_eq!(ips[0]["subnet_id"], v4["id"]);
        // The IPv4 subnet is still in use by the port.
        let r = h.delete(&h.demo, &format!("/subnets/{}", id(&v4))).await;
        r.fault(409, "SubnetInUse");
    }
}
