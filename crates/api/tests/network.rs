//! The network API (top Neutron, port 9696) in front of podsim's Keystone,
//! on loopback: every route's happy path, Neutron's error bodies, lists
//! (filters, fields, sorting, paging), tenant isolation, default security
//! groups, quotas.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tricircle_api::gateway::Gateway;
use tricircle_api::{network_router, Authenticator, GatewayState, NetworkState};
use tricircle_core::pod::ValidPod;
use tricircle_network::{NetworkConfig, Neutron, NeutronQuotas};
use tricircle_pods::{EndpointResolver, Interface, PodClient, TokenValidator, ValidatorConfig};
use tricircle_podsim::IdentityConfig;
use tricircle_store::testing::TestStore;
use tricircle_store::Usage;

struct Api {
    base: String,
    http: reqwest::Client,
    admin: String,
    demo: String,
    demo_project: String,
    alt: String,
    identity: tricircle_podsim::Identity,
    _store: TestStore,
    _tasks: Vec<tokio::task::JoinHandle<()>>,
}

struct Answer {
    status: u16,
    body: Value,
}

impl Api {
    async fn call(&self, token: &str, method: Method, path: &str, body: Option<Value>) -> Answer {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("x-auth-token", token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        Answer {
            status,
            body: serde_json::from_str(&text).unwrap_or(Value::String(text)),
        }
    }

    async fn ok(&self, token: &str, method: Method, path: &str, body: Option<Value>) -> Value {
        let a = self.call(token, method.clone(), path, body).await;
        assert!(
            (200..300).contains(&a.status),
            "{method} {path}: {} {}",
            a.status,
            a.body
        );
        a.body
    }

    async fn create(&self, token: &str, collection: &str, key: &str, body: Value) -> Value {
        let a = self
            .call(
                token,
                Method::POST,
                &format!("/v2.0/{collection}"),
                Some(json!({ key: body })),
            )
            .await;
        assert_eq!(a.status, 201, "{}", a.body);
        a.body[key].clone()
    }

    /// A network with one IPv4 subnet of `cidr`: both views.
    async fn network_with_subnet(&self, token: &str, name: &str, cidr: &str) -> (Value, Value) {
        let net = self
            .create(token, "networks", "network", json!({ "name": name }))
            .await;
        let sub = self
            .create(
                token,
                "subnets",
                "subnet",
                json!({"network_id": net["id"], "ip_version": 4, "cidr": cidr}),
            )
            .await;
        (net, sub)
    }
}

/// Asserts Neutron's error body.
fn assert_neutron_error(a: &Answer, status: u16, kind: &str) {
    assert_eq!(a.status, status, "{}", a.body);
    assert_eq!(a.body["NeutronError"]["type"], kind, "{}", a.body);
    assert!(
        a.body["NeutronError"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{}",
        a.body
    );
    assert!(a.body["NeutronError"]["detail"].is_string(), "{}", a.body);
}

async fn start() -> Api {
    start_with(NetworkConfig::default()).await
}

async fn start_with(cfg: NetworkConfig) -> Api {
    let ks_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let id_cfg = IdentityConfig {
        public_url: format!("http://{}", ks_listener.local_addr().unwrap()),
        ..Default::default()
    };
    let (identity, ks_task) = common::serve_identity(id_cfg.clone(), ks_listener).await;
    let store = tricircle_store::testing::sqlite().await;
    for (pod_name, az_name) in [("RegionOne", ""), ("Pod1", "az1"), ("Pod2", "az2")] {
        store
            .create_pod(&ValidPod {
                pod_name: pod_name.into(),
                az_name: az_name.into(),
                pod_az_name: String::new(),
                dc_name: String::new(),
            })
            .await
            .unwrap();
    }
    let keystone = common::service_client(&id_cfg, &format!("{}/v3", id_cfg.public_url));
    let resolver = EndpointResolver::new(
        keystone.clone(),
        Some(store.store.clone()),
        Interface::Public,
    )
    .with_min_refresh_interval(Duration::ZERO);
    let gateway = GatewayState::new(
        Gateway {
            store: store.store.clone(),
            pods: PodClient::new(Arc::new(resolver), Duration::from_secs(5)).unwrap(),
            tokens: None,
            network: None,
            keystone: keystone.clone(),
            list_deadline: Duration::from_secs(3),
            quota_defaults: Usage::default(),
            top_region: "RegionOne".into(),
            versions: Default::default(),
        },
        Arc::new(Authenticator::Keystone {
            validator: TokenValidator::new(keystone.clone(), &ValidatorConfig::default()),
            www_authenticate_uri: format!("{}/v3", id_cfg.public_url),
        }),
        16 * 1024,
    );
    let neutron = Neutron::new(store.store.clone(), cfg);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = network_router(NetworkState { gateway, neutron });
    let api_task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let admin = identity.issue_token("admin", "admin").unwrap();
    let demo = identity.issue_token("demo", "demo").unwrap();
    let demo_project = identity.validate(&demo).unwrap()["token"]["project"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let alt = alt_token(&identity, &id_cfg, &admin).await;
    Api {
        base,
        http: reqwest::Client::new(),
        admin,
        demo,
        demo_project,
        alt,
        identity,
        _store: store,
        _tasks: vec![ks_task, api_task],
    }
}

/// A second member project (`alt`), made through Keystone's API.
async fn alt_token(
    identity: &tricircle_podsim::Identity,
    cfg: &IdentityConfig,
    admin: &str,
) -> String {
    let http = reqwest::Client::new();
    let ks = format!("{}/v3", cfg.public_url);
    let post = |path: &str, body: Value| {
        http.post(format!("{ks}{path}"))
            .header("x-auth-token", admin)
            .json(&body)
            .send()
    };
    let p: Value = post(
        "/projects",
        json!({"project": {"name": "alt", "domain_id": "default"}}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let u: Value = post(
        "/users",
        json!({"user": {"name": "alt", "password": "alt-pw", "domain_id": "default"}}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let roles: Value = http
        .get(format!("{ks}/roles?name=member"))
        .header("x-auth-token", admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let (pid, uid, rid) = (
        p["project"]["id"].as_str().unwrap(),
        u["user"]["id"].as_str().unwrap(),
        roles["roles"][0]["id"].as_str().unwrap(),
    );
    let r = http
        .put(format!("{ks}/projects/{pid}/users/{uid}/roles/{rid}"))
        .header("x-auth-token", admin)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    identity.issue_token("alt", "alt").unwrap()
}

#[tokio::test]
async fn versions_resources_and_the_shell() {
    let api = start().await;
    let v: Value = api
        .http
        .get(format!("{}/", api.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["versions"][0]["id"], "v2.0");
    assert_eq!(v["versions"][0]["status"], "CURRENT");
    let r = api.ok(&api.demo, Method::GET, "/v2.0", None).await;
    let names: Vec<&str> = r["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["collection"].as_str().unwrap())
        .collect();
    for c in [
        "networks",
        "subnets",
        "ports",
        "security_groups",
        "security_group_rules",
        "quotas",
    ] {
        assert!(names.contains(&c), "{names:?}");
    }
    // No token: keystonemiddleware's 401.
    let resp = api
        .http
        .get(format!("{}/v2.0/networks", api.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    // Unknown paths and wrong methods: Neutron's error bodies.
    let a = api.call(&api.demo, Method::GET, "/v2.0/bogus", None).await;
    assert_neutron_error(&a, 404, "HTTPNotFound");
    let a = api
        .call(&api.demo, Method::PATCH, "/v2.0/networks", None)
        .await;
    assert_neutron_error(&a, 405, "HTTPMethodNotAllowed");
    // Extensions.
    let e = api
        .ok(&api.demo, Method::GET, "/v2.0/extensions", None)
        .await;
    let aliases: Vec<&str> = e["extensions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["alias"].as_str().unwrap())
        .collect();
    for a in [
        "security-group",
        "provider",
        "external-net",
        "quotas",
        "availability_zone",
        "binding",
    ] {
        assert!(aliases.contains(&a), "{a}");
    }
    let one = api
        .ok(&api.demo, Method::GET, "/v2.0/extensions/provider", None)
        .await;
    assert_eq!(one["extension"]["alias"], "provider");
    let a = api
        .call(&api.demo, Method::GET, "/v2.0/extensions/bogus", None)
        .await;
    assert_neutron_error(&a, 404, "HTTPNotFound");
    // Availability zones: the bottom pods' AZs, for networks and routers.
    let z = api
        .ok(
            &api.demo,
            Method::GET,
            "/v2.0/availability_zones?resource=network",
            None,
        )
        .await;
    assert_eq!(
        z["availability_zones"],
        json!([
            {"name": "az1", "resource": "network", "state": "available"},
            {"name": "az2", "resource": "network", "state": "available"}
        ])
    );
}

#[tokio::test]
async fn networks_subnets_ports_round_trip() {
    let api = start().await;
    let t = &api.demo;
    let net = api
        .create(
            t,
            "networks",
            "network",
            json!({"name": "n1", "availability_zone_hints": ["az1"]}),
        )
        .await;
    let nid = net["id"].as_str().unwrap();
    assert_eq!(net["status"], "ACTIVE");
    assert_eq!(net["project_id"], json!(api.demo_project));
    assert_eq!(net["tenant_id"], json!(api.demo_project));
    assert!(net.get("provider:network_type").is_none());
    // `.json` works as Neutron's does.
    let shown = api
        .ok(t, Method::GET, &format!("/v2.0/networks/{nid}.json"), None)
        .await;
    assert_eq!(shown["network"]["name"], "n1");
    let admin_view = api
        .ok(
            &api.admin,
            Method::GET,
            &format!("/v2.0/networks/{nid}"),
            None,
        )
        .await;
    // The first tenant type that can allocate: VxLAN, from the default
    // range above the pods' own.
    assert_eq!(admin_view["network"]["provider:network_type"], "vxlan");
    let vni = admin_view["network"]["provider:segmentation_id"]
        .as_u64()
        .unwrap();
    let (lo, hi) = tricircle_network::config::DEFAULT_VNI_RANGE;
    assert!((u64::from(lo)..=u64::from(hi)).contains(&vni), "{vni}");

    let sub = api
        .create(t, "subnets", "subnet", json!({"network_id": nid, "ip_version": 4, "cidr": "10.0.0.0/24",
                                                "dns_nameservers": ["8.8.8.8"], "host_routes": [{"destination": "10.9.0.0/16", "nexthop": "10.0.0.254"}]}))
        .await;
    let sid = sub["id"].as_str().unwrap();
    assert_eq!(sub["gateway_ip"], "10.0.0.1");
    assert_eq!(
        sub["allocation_pools"],
        json!([{"start": "10.0.0.2", "end": "10.0.0.254"}])
    );
    let net = api
        .ok(t, Method::GET, &format!("/v2.0/networks/{nid}"), None)
        .await;
    assert_eq!(net["network"]["subnets"], json!([sid]));

    let port = api
        .create(t, "ports", "port", json!({"network_id": nid, "name": "p1", "device_owner": "compute:az1", "device_id": "vm1",
                                            "allowed_address_pairs": [{"ip_address": "10.0.0.100"}]}))
        .await;
    let pid = port["id"].as_str().unwrap();
    assert_eq!(
        port["fixed_ips"],
        json!([{"subnet_id": sid, "ip_address": "10.0.0.2"}])
    );
    assert_eq!(
        port["allowed_address_pairs"][0]["mac_address"],
        port["mac_address"]
    );
    assert_eq!(
        port["security_groups"].as_array().unwrap().len(),
        1,
        "the default group"
    );
    assert_eq!(port["status"], "DOWN");
    let a = api
        .call(
            t,
            Method::POST,
            "/v2.0/ports",
            Some(json!({"port": {"network_id": nid, "fixed_ips": [{"ip_address": "10.0.0.2"}]}})),
        )
        .await;
    assert_neutron_error(&a, 409, "IpAddressAlreadyAllocated");
    let up = api
        .ok(
            t,
            Method::PUT,
            &format!("/v2.0/ports/{pid}"),
            Some(json!({"port": {"name": "renamed", "fixed_ips": [{"ip_address": "10.0.0.50"}]}})),
        )
        .await;
    assert_eq!(up["port"]["name"], "renamed");
    assert_eq!(up["port"]["fixed_ips"][0]["ip_address"], "10.0.0.50");
    assert_eq!(up["port"]["revision_number"], 2);
    let up = api
        .ok(
            t,
            Method::PUT,
            &format!("/v2.0/networks/{nid}"),
            Some(json!({"network": {"name": "n2", "mtu": 1400}})),
        )
        .await;
    assert_eq!(
        (
            up["network"]["name"].as_str(),
            up["network"]["mtu"].as_i64()
        ),
        (Some("n2"), Some(1400))
    );
    let up = api
        .ok(
            t,
            Method::PUT,
            &format!("/v2.0/subnets/{sid}"),
            Some(json!({"subnet": {"enable_dhcp": false}})),
        )
        .await;
    assert_eq!(up["subnet"]["enable_dhcp"], false);
    let f = api
        .ok(
            t,
            Method::GET,
            &format!("/v2.0/ports/{pid}?fields=id&fields=mac_address"),
            None,
        )
        .await;
    assert_eq!(f["port"].as_object().unwrap().len(), 2);

    let a = api
        .call(t, Method::DELETE, &format!("/v2.0/networks/{nid}"), None)
        .await;
    assert_neutron_error(&a, 409, "NetworkInUse");
    let a = api
        .call(t, Method::DELETE, &format!("/v2.0/subnets/{sid}"), None)
        .await;
    assert_neutron_error(&a, 409, "SubnetInUse");
    for path in [
        format!("/v2.0/ports/{pid}"),
        format!("/v2.0/subnets/{sid}"),
        format!("/v2.0/networks/{nid}"),
    ] {
        let a = api.call(t, Method::DELETE, &path, None).await;
        assert_eq!(a.status, 204, "{path}: {}", a.body);
    }
    let a = api
        .call(t, Method::GET, &format!("/v2.0/networks/{nid}"), None)
        .await;
    assert_neutron_error(&a, 404, "NetworkNotFound");
    let a = api
        .call(t, Method::GET, &format!("/v2.0/ports/{pid}"), None)
        .await;
    assert_neutron_error(&a, 404, "PortNotFound");
    let a = api
        .call(t, Method::GET, &format!("/v2.0/subnets/{sid}"), None)
        .await;
    assert_neutron_error(&a, 404, "SubnetNotFound");

    // Bulk create: all or nothing.
    let bulk = api
        .call(
            t,
            Method::POST,
            "/v2.0/networks",
            Some(json!({"networks": [{"name": "b1"}, {"name": "b2"}]})),
        )
        .await;
    assert_eq!(bulk.status, 201, "{}", bulk.body);
    assert_eq!(bulk.body["networks"].as_array().unwrap().len(), 2);
    let bad = api
        .call(
            t,
            Method::POST,
            "/v2.0/networks",
            Some(json!({"networks": [{"name": "b3"}, {"bogus": 1}]})),
        )
        .await;
    assert_neutron_error(&bad, 400, "HTTPBadRequest");
    let all = api.ok(t, Method::GET, "/v2.0/networks", None).await;
    assert_eq!(
        all["networks"].as_array().unwrap().len(),
        2,
        "b3 was undone"
    );
}

#[tokio::test]
async fn bad_input_is_a_neutron_4xx_on_every_route() {
    let api = start().await;
    let t = &api.demo;
    let net = api.create(t, "networks", "network", json!({})).await;
    let nid = net["id"].as_str().unwrap();
    let cases: Vec<(Method, String, Option<Value>, u16, &str)> = vec![
        (
            Method::POST,
            "/v2.0/networks".into(),
            Some(json!({"network": {"foo": 1}})),
            400,
            "HTTPBadRequest",
        ),
        (
            Method::POST,
            "/v2.0/networks".into(),
            Some(json!({"network": {"admin_state_up": "maybe"}})),
            400,
            "HTTPBadRequest",
        ),
        (
            Method::POST,
            "/v2.0/networks".into(),
            Some(json!({"network": {"id": "x"}})),
            400,
            "HTTPBadRequest",
        ),
        (
            Method::POST,
            "/v2.0/networks".into(),
            Some(json!({"net": {}})),
            400,
            "HTTPBadRequest",
        ),
        (
            Method::POST,
            "/v2.0/networks".into(),
            Some(json!([1])),
            400,
            "HTTPBadRequest",
        ),
        (
            Method::POST,
            "/v2.0/networks".into(),
            Some(json!({"network": {"shared": true}})),
            403,
            "PolicyNotAuthorized",
        ),
        (
            Method::POST,
            "/v2.0/networks".into(),
            Some(json!({"network": {"tenant_id": "other"}})),
            400,
            "HTTPBadRequest",
        ),
        (
            Method::POST,
            "/v2.0/networks".into(),
            Some(json!({"network": {"availability_zone_hints": ["nowhere"]}})),
            404,
            "AvailabilityZoneNotFound",
        ),
        (
            Method::PUT,
            format!("/v2.0/networks/{nid}"),
            Some(json!({"network": {"availability_zone_hints": []}})),
            400,
            "HTTPBadRequest",
        ),
        (
            Method::PUT,
            format!("/v2.0/networks/{nid}"),
            Some(json!({"network": {"mtu": 99999}})),
            400,
            "InvalidInput",
        ),
        (
            Method::PUT,
            "/v2.0/networks/nope".into(),
            Some(json!({"network": {"name": "x"}})),
            404,
            "NetworkNotFound",
        ),
        (
            Method::DELETE,
            "/v2.0/networks/nope".into(),
            None,
            404,
            "NetworkNotFound",
        ),
        (
            Method::POST,
            "/v2.0/subnets".into(),
            Some(json!({"subnet": {"network_id": nid, "ip_version": 4, "cidr": "nonsense"}})),
            400,
            "HTTPBadRequest",
        ),
        (
            Method::POST,
            "/v2.0/subnets".into(),
            Some(json!({"subnet": {"network_id": nid, "ip_version": 5, "cidr": "10.0.0.0/24"}})),
            400,
            "HTTPBadRequest",
        ),
        (
            Method::POST,
            "/v2.0/subnets".into(),
            Some(
                json!({"subnet": {"network_id": "not-a-uuid", "ip_version": 4, "cidr": "10.0.0.0/24"}}),
            ),
            400,
            "HTTPBadRequest",
        ),
        (
            Method::PUT,
            "/v2.0/subnets/nope".into(),
            Some(json!({"subnet": {"name": "x"}})),
            404,
            "SubnetNotFound",
        ),
        (
            Method::DELETE,
            "/v2.0/subnets/nope".into(),
            None,
            404,
            "SubnetNotFound",
        ),
        (
            Method::POST,
            "/v2.0/ports".into(),
            Some(json!({"port": {}})),
            400,
            "HTTPBadRequest",
        ),
        (
            Method::POST,
            "/v2.0/ports".into(),
            Some(json!({"port": {"network_id": nid, "mac_address": "zz"}})),
            400,
            "HTTPBadRequest",
        ),
        (
            Method::POST,
            "/v2.0/ports".into(),
            Some(json!({"port": {"network_id": nid, "binding:vnic_type": "warp"}})),
            400,
            "HTTPBadRequest",
        ),
        (
            Method::POST,
            "/v2.0/ports".into(),
            Some(
                json!({"port": {"network_id": nid, "security_groups": ["0b2f6a1e-3c34-4f57-9e0a-3a9b0e9e7c11"]}}),
            ),
            404,
            "SecurityGroupNotFound",
        ),
        (
            Method::POST,
            "/v2.0/ports".into(),
            Some(
                json!({"port": {"network_id": nid, "allowed_address_pairs": [{"mac_address": "fa:16:3e:00:00:01"}]}}),
            ),
            400,
            "AllowedAddressPairsMissingIP",
        ),
        (
            Method::PUT,
            "/v2.0/ports/nope".into(),
            Some(json!({"port": {"name": "x"}})),
            404,
            "PortNotFound",
        ),
        (
            Method::DELETE,
            "/v2.0/ports/nope".into(),
            None,
            404,
            "PortNotFound",
        ),
        (
            Method::POST,
            "/v2.0/security-groups".into(),
            Some(json!({"security_group": {"name": 5}})),
            400,
            "HTTPBadRequest",
        ),
        (
            Method::PUT,
            "/v2.0/security-groups/nope".into(),
            Some(json!({"security_group": {"name": "x"}})),
            404,
            "SecurityGroupNotFound",
        ),
        (
            Method::DELETE,
            "/v2.0/security-groups/nope".into(),
            None,
            404,
            "SecurityGroupNotFound",
        ),
        (
            Method::POST,
            "/v2.0/security-group-rules".into(),
            Some(json!({"security_group_rule": {"direction": "ingress"}})),
            400,
            "HTTPBadRequest",
        ),
        (
            Method::GET,
            "/v2.0/security-group-rules/nope".into(),
            None,
            404,
            "SecurityGroupRuleNotFound",
        ),
        (
            Method::DELETE,
            "/v2.0/security-group-rules/nope".into(),
            None,
            404,
            "SecurityGroupRuleNotFound",
        ),
        (
            Method::GET,
            "/v2.0/networks?limit=x".into(),
            None,
            400,
            "HTTPBadRequest",
        ),
        (
            Method::GET,
            "/v2.0/networks?sort_key=name".into(),
            None,
            400,
            "HTTPBadRequest",
        ),
        (
            Method::GET,
            "/v2.0/networks?sort_key=subnets&sort_dir=asc".into(),
            None,
            400,
            "HTTPBadRequest",
        ),
        (
            Method::GET,
            "/v2.0/networks?bogus=1".into(),
            None,
            400,
            "HTTPBadRequest",
        ),
        (
            Method::GET,
            "/v2.0/networks?limit=1&marker=nope".into(),
            None,
            404,
            "NetworkNotFound",
        ),
        (
            Method::GET,
            "/v2.0/availability_zones?bogus=1".into(),
            None,
            400,
            "HTTPBadRequest",
        ),
        (
            Method::PUT,
            "/v2.0/quotas/x".into(),
            Some(json!({"quota": {"network": 1}})),
            403,
            "PolicyNotAuthorized",
        ),
        (
            Method::GET,
            "/v2.0/quotas".into(),
            None,
            403,
            "PolicyNotAuthorized",
        ),
    ];
    for (method, path, body, status, kind) in cases {
        let a = api.call(t, method.clone(), &path, body.clone()).await;
        assert_eq!(a.status, status, "{method} {path} {body:?}: {}", a.body);
        assert_eq!(
            a.body["NeutronError"]["type"], kind,
            "{method} {path} {body:?}: {}",
            a.body
        );
    }
    // Bodies that are not JSON, not JSON at all, or too big.
    let raw = |ct: &'static str, body: Vec<u8>| {
        api.http
            .post(format!("{}/v2.0/networks", api.base))
            .header("x-auth-token", &api.demo)
            .header("content-type", ct)
            .body(body)
            .send()
    };
    let r = raw("application/json", b"{not json".to_vec())
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["NeutronError"]["type"], "HTTPBadRequest");
    let r = raw("text/plain", b"{}".to_vec()).await.unwrap();
    assert_eq!(r.status().as_u16(), 415);
    let big = format!("{{\"network\": {{\"name\": \"{}\"}}}}", "x".repeat(20_000));
    let r = raw("application/json", big.into_bytes()).await.unwrap();
    assert_eq!(r.status().as_u16(), 413);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["NeutronError"]["type"], "HTTPRequestEntityTooLarge");
}

#[tokio::test]
async fn lists_filter_select_sort_and_page_like_neutron() {
    let api = start().await;
    let t = &api.demo;
    let mut ids = Vec::new();
    for name in ["c", "a", "b", "a"] {
        ids.push(
            api.create(t, "networks", "network", json!({"name": name}))
                .await["id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    let names = |v: &Value| -> Vec<String> {
        v["networks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["name"].as_str().unwrap().to_string())
            .collect()
    };
    let l = api
        .ok(t, Method::GET, "/v2.0/networks?name=a&name=b", None)
        .await;
    let mut got = names(&l);
    got.sort();
    assert_eq!(got, ["a", "a", "b"]);
    let l = api
        .ok(
            t,
            Method::GET,
            "/v2.0/networks?name=a&admin_state_up=False",
            None,
        )
        .await;
    assert!(names(&l).is_empty());
    let l = api
        .ok(
            t,
            Method::GET,
            &format!("/v2.0/networks?id={}", ids[0]),
            None,
        )
        .await;
    assert_eq!(names(&l), ["c"]);
    let l = api
        .ok(
            t,
            Method::GET,
            "/v2.0/networks?fields=name&sort_key=name&sort_dir=desc",
            None,
        )
        .await;
    assert_eq!(names(&l), ["c", "b", "a", "a"]);
    assert_eq!(
        l["networks"][0].as_object().unwrap().len(),
        1,
        "only the field asked for"
    );
    assert!(l.get("networks_links").is_none());

    // Pages of two, by name then id, following the links.
    let first = api
        .ok(
            t,
            Method::GET,
            "/v2.0/networks?limit=2&sort_key=name&sort_dir=asc",
            None,
        )
        .await;
    assert_eq!(names(&first), ["a", "a"]);
    let links = first["networks_links"].as_array().unwrap();
    let next = links.iter().find(|l| l["rel"] == "next").unwrap()["href"]
        .as_str()
        .unwrap();
    assert!(
        next.starts_with(&api.base) && next.contains("marker=") && !next.contains("page_reverse")
    );
    let path = next.strip_prefix(&api.base).unwrap();
    let second = api.ok(t, Method::GET, path, None).await;
    assert_eq!(names(&second), ["b", "c"]);
    let prev = second["networks_links"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["rel"] == "previous")
        .unwrap()["href"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(prev.contains("page_reverse=True"));
    let back = api
        .ok(t, Method::GET, prev.strip_prefix(&api.base).unwrap(), None)
        .await;
    assert_eq!(names(&back), ["a", "a"]);
    let last = second["networks_links"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["rel"] == "next")
        .unwrap()["href"]
        .as_str()
        .unwrap()
        .to_string();
    let empty = api
        .ok(t, Method::GET, last.strip_prefix(&api.base).unwrap(), None)
        .await;
    assert!(names(&empty).is_empty());
    let rels: Vec<&str> = empty["networks_links"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["rel"].as_str().unwrap())
        .collect();
    assert_eq!(rels, ["previous"], "a short forward page has no next link");

    // Ports by fixed IP and device.
    let net = &ids[0];
    api.create(
        t,
        "subnets",
        "subnet",
        json!({"network_id": net, "ip_version": 4, "cidr": "10.1.0.0/24"}),
    )
    .await;
    api.create(
        t,
        "ports",
        "port",
        json!({"network_id": net, "device_id": "vm1"}),
    )
    .await;
    api.create(
        t,
        "ports",
        "port",
        json!({"network_id": net, "device_id": "vm2"}),
    )
    .await;
    let l = api
        .ok(
            t,
            Method::GET,
            "/v2.0/ports?fixed_ips=ip_address%3D10.1.0.3",
            None,
        )
        .await;
    assert_eq!(l["ports"].as_array().unwrap().len(), 1);
    assert_eq!(l["ports"][0]["device_id"], "vm2");
    let l = api
        .ok(
            t,
            Method::GET,
            &format!("/v2.0/ports?network_id={net}&device_id=vm1"),
            None,
        )
        .await;
    assert_eq!(l["ports"].as_array().unwrap().len(), 1);
    let l = api
        .ok(
            t,
            Method::GET,
            "/v2.0/subnets?cidr=10.1.0.0/24&fields=cidr",
            None,
        )
        .await;
    assert_eq!(l["subnets"], json!([{"cidr": "10.1.0.0/24"}]));
}

#[tokio::test]
async fn tenants_are_isolated() {
    let api = start().await;
    let mine = api
        .create(&api.demo, "networks", "network", json!({"name": "mine"}))
        .await;
    let theirs = api
        .create(&api.alt, "networks", "network", json!({"name": "theirs"}))
        .await;
    let shared = api
        .create(
            &api.admin,
            "networks",
            "network",
            json!({"name": "shared", "shared": true}),
        )
        .await;
    let ext = api
        .create(
            &api.admin,
            "networks",
            "network",
            json!({"name": "ext", "router:external": true}),
        )
        .await;
    let private = api
        .create(
            &api.admin,
            "networks",
            "network",
            json!({"name": "admin-only"}),
        )
        .await;
    let names = |v: &Value| -> Vec<String> {
        let mut n: Vec<String> = v["networks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["name"].as_str().unwrap().to_string())
            .collect();
        n.sort();
        n
    };
    let l = api.ok(&api.demo, Method::GET, "/v2.0/networks", None).await;
    assert_eq!(names(&l), ["ext", "mine", "shared"]);
    let l = api.ok(&api.alt, Method::GET, "/v2.0/networks", None).await;
    assert_eq!(names(&l), ["ext", "shared", "theirs"]);
    let l = api
        .ok(&api.admin, Method::GET, "/v2.0/networks", None)
        .await;
    assert_eq!(names(&l).len(), 5);
    for id in [&theirs["id"], &private["id"]] {
        let a = api
            .call(
                &api.demo,
                Method::GET,
                &format!("/v2.0/networks/{}", id.as_str().unwrap()),
                None,
            )
            .await;
        assert_neutron_error(&a, 404, "NetworkNotFound");
    }
    let a = api
        .call(
            &api.demo,
            Method::PUT,
            &format!("/v2.0/networks/{}", shared["id"].as_str().unwrap()),
            Some(json!({"network": {"name": "mine now"}})),
        )
        .await;
    assert_neutron_error(&a, 403, "PolicyNotAuthorized");
    // Ports on a shared network are the creator's.
    let sid = shared["id"].as_str().unwrap();
    api.create(
        &api.admin,
        "subnets",
        "subnet",
        json!({"network_id": sid, "ip_version": 4, "cidr": "10.5.0.0/24"}),
    )
    .await;
    let p = api
        .create(&api.demo, "ports", "port", json!({"network_id": sid}))
        .await;
    let l = api.ok(&api.alt, Method::GET, "/v2.0/ports", None).await;
    assert!(l["ports"].as_array().unwrap().is_empty());
    let a = api
        .call(
            &api.alt,
            Method::DELETE,
            &format!("/v2.0/ports/{}", p["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_neutron_error(&a, 404, "PortNotFound");
    // Subnets of shared networks are visible, others' are not.
    let s = api
        .create(
            &api.alt,
            "subnets",
            "subnet",
            json!({"network_id": theirs["id"], "ip_version": 4, "cidr": "10.6.0.0/24"}),
        )
        .await;
    let l = api.ok(&api.demo, Method::GET, "/v2.0/subnets", None).await;
    let cidrs: Vec<&str> = l["subnets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["cidr"].as_str().unwrap())
        .collect();
    assert_eq!(cidrs, ["10.5.0.0/24"]);
    let a = api
        .call(
            &api.demo,
            Method::GET,
            &format!("/v2.0/subnets/{}", s["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_neutron_error(&a, 404, "SubnetNotFound");
    let _ = (mine, ext);
    // Quotas: own project readable, others' not.
    let q = api
        .ok(
            &api.demo,
            Method::GET,
            &format!("/v2.0/quotas/{}", api.demo_project),
            None,
        )
        .await;
    assert_eq!(q["quota"]["network"], 100);
    let a = api
        .call(
            &api.alt,
            Method::GET,
            &format!("/v2.0/quotas/{}", api.demo_project),
            None,
        )
        .await;
    assert_neutron_error(&a, 403, "PolicyNotAuthorized");
}

#[tokio::test]
async fn security_groups_and_rules() {
    let api = start().await;
    let t = &api.demo;
    // The first list makes the project's default group, once.
    let l = api.ok(t, Method::GET, "/v2.0/security-groups", None).await;
    let groups = l["security_groups"].as_array().unwrap();
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[0]["name"], "default");
    assert_eq!(
        groups[0]["security_group_rules"].as_array().unwrap().len(),
        4
    );
    let default_id = groups[0]["id"].as_str().unwrap().to_string();
    let l = api.ok(t, Method::GET, "/v2.0/security-groups", None).await;
    assert_eq!(l["security_groups"].as_array().unwrap().len(), 1);

    let g = api
        .create(
            t,
            "security-groups",
            "security_group",
            json!({"name": "web", "description": "w"}),
        )
        .await;
    let gid = g["id"].as_str().unwrap();
    let rule = json!({"security_group_id": gid, "direction": "ingress", "protocol": "tcp", "port_range_min": 80, "port_range_max": 80, "remote_ip_prefix": "10.0.0.0/8"});
    let r = api
        .create(
            t,
            "security-group-rules",
            "security_group_rule",
            rule.clone(),
        )
        .await;
    assert_eq!(r["ethertype"], "IPv4");
    assert_eq!(r["normalized_cidr"], "10.0.0.0/8");
    let a = api
        .call(
            t,
            Method::POST,
            "/v2.0/security-group-rules",
            Some(json!({"security_group_rule": rule})),
        )
        .await;
    assert_neutron_error(&a, 409, "SecurityGroupRuleExists");
    let bad = json!({"security_group_id": gid, "direction": "ingress", "remote_ip_prefix": "10.0.0.0/8", "remote_group_id": default_id});
    let a = api
        .call(
            t,
            Method::POST,
            "/v2.0/security-group-rules",
            Some(json!({"security_group_rule": bad})),
        )
        .await;
    assert_neutron_error(&a, 400, "SecurityGroupRemoteGroupAndRemoteIpPrefix");
    let bad = json!({"security_group_id": gid, "direction": "ingress", "protocol": "udp", "port_range_min": 90, "port_range_max": 80});
    let a = api
        .call(
            t,
            Method::POST,
            "/v2.0/security-group-rules",
            Some(json!({"security_group_rule": bad})),
        )
        .await;
    assert_neutron_error(&a, 400, "SecurityGroupInvalidPortRange");
    let remote = json!({"security_group_id": gid, "direction": "ingress", "remote_group_id": default_id, "protocol": "icmp"});
    api.create(t, "security-group-rules", "security_group_rule", remote)
        .await;
    let shown = api
        .ok(
            t,
            Method::GET,
            &format!("/v2.0/security-groups/{gid}"),
            None,
        )
        .await;
    assert_eq!(
        shown["security_group"]["security_group_rules"]
            .as_array()
            .unwrap()
            .len(),
        4
    );
    let l = api
        .ok(
            t,
            Method::GET,
            &format!("/v2.0/security-group-rules?security_group_id={gid}&direction=ingress"),
            None,
        )
        .await;
    assert_eq!(l["security_group_rules"].as_array().unwrap().len(), 2);
    let rid = r["id"].as_str().unwrap();
    let one = api
        .ok(
            t,
            Method::GET,
            &format!("/v2.0/security-group-rules/{rid}"),
            None,
        )
        .await;
    assert_eq!(one["security_group_rule"]["port_range_min"], 80);
    let up = api
        .ok(
            t,
            Method::PUT,
            &format!("/v2.0/security-groups/{gid}"),
            Some(json!({"security_group": {"name": "web2"}})),
        )
        .await;
    assert_eq!(up["security_group"]["name"], "web2");
    // Other projects do not see it.
    let a = api
        .call(
            &api.alt,
            Method::GET,
            &format!("/v2.0/security-groups/{gid}"),
            None,
        )
        .await;
    assert_neutron_error(&a, 404, "SecurityGroupNotFound");
    let a = api
        .call(
            &api.alt,
            Method::GET,
            &format!("/v2.0/security-group-rules/{rid}"),
            None,
        )
        .await;
    assert_neutron_error(&a, 404, "SecurityGroupRuleNotFound");
    let a = api
        .call(
            t,
            Method::DELETE,
            &format!("/v2.0/security-groups/{default_id}"),
            None,
        )
        .await;
    assert_neutron_error(&a, 409, "SecurityGroupCannotRemoveDefault");
    assert_eq!(
        api.call(
            t,
            Method::DELETE,
            &format!("/v2.0/security-group-rules/{rid}"),
            None
        )
        .await
        .status,
        204
    );
    assert_eq!(
        api.call(
            t,
            Method::DELETE,
            &format!("/v2.0/security-groups/{gid}"),
            None
        )
        .await
        .status,
        204
    );
    let a = api
        .call(
            t,
            Method::GET,
            &format!("/v2.0/security-groups/{gid}"),
            None,
        )
        .await;
    assert_neutron_error(&a, 404, "SecurityGroupNotFound");
}

#[tokio::test]
async fn quotas_api() {
    let api = start_with(NetworkConfig {
        quotas: NeutronQuotas {
            network: 2,
            ..NeutronQuotas::default()
        },
        ..NetworkConfig::default()
    })
    .await;
    let p = api.demo_project.clone();
    let q = api
        .ok(&api.demo, Method::GET, &format!("/v2.0/quotas/{p}"), None)
        .await;
    assert_eq!(q["quota"]["network"], 2);
    assert_eq!(q["quota"]["port"], 500);
    api.create(&api.demo, "networks", "network", json!({}))
        .await;
    api.create(&api.demo, "networks", "network", json!({}))
        .await;
    let a = api
        .call(
            &api.demo,
            Method::POST,
            "/v2.0/networks",
            Some(json!({"network": {}})),
        )
        .await;
    assert_neutron_error(&a, 409, "OverQuota");
    let d = api
        .ok(
            &api.demo,
            Method::GET,
            &format!("/v2.0/quotas/{p}/details"),
            None,
        )
        .await;
    assert_eq!(
        d["quota"]["network"],
        json!({"limit": 2, "used": 2, "reserved": 0})
    );
    let u = api
        .ok(
            &api.admin,
            Method::PUT,
            &format!("/v2.0/quotas/{p}"),
            Some(json!({"quota": {"network": 3, "port": 10}})),
        )
        .await;
    assert_eq!(
        (u["quota"]["network"].as_i64(), u["quota"]["port"].as_i64()),
        (Some(3), Some(10))
    );
    api.create(&api.demo, "networks", "network", json!({}))
        .await;
    let all = api.ok(&api.admin, Method::GET, "/v2.0/quotas", None).await;
    assert_eq!(all["quotas"][0]["project_id"], json!(p));
    let def = api
        .ok(
            &api.demo,
            Method::GET,
            &format!("/v2.0/quotas/{p}/default"),
            None,
        )
        .await;
    assert_eq!(def["quota"]["network"], 2);
    let a = api
        .call(
            &api.admin,
            Method::PUT,
            &format!("/v2.0/quotas/{p}"),
            Some(json!({"quota": {"network": "lots"}})),
        )
        .await;
    assert_neutron_error(&a, 400, "HTTPBadRequest");
    let a = api
        .call(
            &api.admin,
            Method::PUT,
            &format!("/v2.0/quotas/{p}"),
            Some(json!({"quota": {"bogus": 1}})),
        )
        .await;
    assert_neutron_error(&a, 400, "HTTPBadRequest");
    assert_eq!(
        api.call(
            &api.admin,
            Method::DELETE,
            &format!("/v2.0/quotas/{p}"),
            None
        )
        .await
        .status,
        204
    );
    let q = api
        .ok(&api.demo, Method::GET, &format!("/v2.0/quotas/{p}"), None)
        .await;
    assert_eq!(q["quota"]["network"], 2);
    let me = api
        .ok(&api.demo, Method::GET, "/v2.0/quotas/tenant", None)
        .await;
    assert_eq!(me["tenant"]["tenant_id"], json!(p));
}

/// A project's reader reads its networks and changes nothing
/// (`PolicyNotAuthorized`, as Neutron's default policies answer).
#[tokio::test]
async fn readers_do_not_write() {
    let api = start().await;
    let identity_admin = api.admin.clone();
    let net = api
        .create(&api.demo, "networks", "network", json!({"name": "n1"}))
        .await;
    let id = net["id"].as_str().unwrap().to_string();
    let reader = common::user_with_role(&api.identity, &identity_admin, "demo", "reader").await;
    let a = api
        .call(&reader, Method::GET, &format!("/v2.0/networks/{id}"), None)
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    for (method, path, body) in [
        (
            Method::POST,
            "/v2.0/networks".to_string(),
            Some(json!({"network": {"name": "r"}})),
        ),
        (
            Method::PUT,
            format!("/v2.0/networks/{id}"),
            Some(json!({"network": {"name": "r"}})),
        ),
        (Method::DELETE, format!("/v2.0/networks/{id}"), None),
        (
            Method::POST,
            "/v2.0/security-groups".to_string(),
            Some(json!({"security_group": {"name": "r"}})),
        ),
    ] {
        let a = api.call(&reader, method, &path, body).await;
        assert_neutron_error(&a, 403, "PolicyNotAuthorized");
    }
    // Another project's reader finds nothing to refuse: 404, as Neutron.
    let outsider = common::user_with_role(&api.identity, &identity_admin, "alt", "reader").await;
    for (method, body) in [
        (Method::PUT, Some(json!({"network": {"name": "r"}}))),
        (Method::DELETE, None),
    ] {
        let a = api
            .call(&outsider, method, &format!("/v2.0/networks/{id}"), body)
            .await;
        assert_neutron_error(&a, 404, "NetworkNotFound");
    }
    let a = api
        .call(
            &api.demo,
            Method::GET,
            &format!("/v2.0/networks/{id}"),
            None,
        )
        .await;
    assert_eq!(a.body["network"]["name"], "n1", "{}", a.body);
}

/// `?marker=` naming nothing is the resource's 404 on every list, with a
/// limit (as Neutron pages) and without one (where Neutron ignores the
/// marker and would answer the whole list); a known marker without a limit
/// is ignored, as Neutron ignores it.
#[tokio::test]
async fn unknown_markers_are_the_resources_404_on_every_list() {
    let api = start().await;
    let t = &api.demo;
    let (net, sub) = api.network_with_subnet(t, "m", "10.1.0.0/24").await;
    let nid = net["id"].as_str().unwrap();
    let port = api
        .create(t, "ports", "port", json!({"network_id": nid}))
        .await;
    let sg = api
        .create(t, "security-groups", "security_group", json!({"name": "g"}))
        .await;
    let rule = api
        .create(
            t,
            "security-group-rules",
            "security_group_rule",
            json!({"security_group_id": sg["id"], "direction": "ingress"}),
        )
        .await;
    let unknown = "7b1f2c9e-0000-4000-8000-000000000000";
    for (path, key, kind, known) in [
        ("networks", "networks", "NetworkNotFound", &net),
        ("subnets", "subnets", "SubnetNotFound", &sub),
        ("ports", "ports", "PortNotFound", &port),
        (
            "security-groups",
            "security_groups",
            "SecurityGroupNotFound",
            &sg,
        ),
        (
            "security-group-rules",
            "security_group_rules",
            "SecurityGroupRuleNotFound",
            &rule,
        ),
    ] {
        let all = api.ok(t, Method::GET, &format!("/v2.0/{path}"), None).await;
        for query in [
            format!("marker={unknown}"),
            format!("marker={unknown}&limit=1"),
            format!("limit=1&marker={unknown}&page_reverse=True"),
        ] {
            let a = api
                .call(t, Method::GET, &format!("/v2.0/{path}?{query}"), None)
                .await;
            assert_neutron_error(&a, 404, kind);
            assert!(
                a.body["NeutronError"]["message"]
                    .as_str()
                    .is_some_and(|m| m.contains(unknown)),
                "{}",
                a.body
            );
        }
        let known_id = known["id"].as_str().unwrap();
        let page = api
            .ok(
                t,
                Method::GET,
                &format!("/v2.0/{path}?marker={known_id}"),
                None,
            )
            .await;
        assert_eq!(
            page[key], all[key],
            "{path}: a known marker without a limit is ignored"
        );
    }
}

/// Neutron lets a port take its subnet's gateway IP when asked for it
/// (`neutron/tests/common/test_db_base_plugin_v2.py`:
/// `test_requested_invalid_fixed_ips`, "Enable allocation of gateway
/// address", and `test_subnet_with_allocation_range`, "Check when fixed IP
/// is gateway", both 201; that is how a port is made for `router add
/// port`), so we do too: on create and on update. It is never given by
/// default, and once taken a second port asking for it is a 409.
#[tokio::test]
async fn a_port_may_ask_for_its_subnets_gateway_ip_as_in_neutron() {
    let api = start().await;
    let t = &api.demo;
    let (net, sub) = api.network_with_subnet(t, "g", "10.2.0.0/29").await;
    let nid = net["id"].as_str().unwrap();
    let sid = sub["id"].as_str().unwrap();
    assert_eq!(sub["gateway_ip"], "10.2.0.1");
    // The pool is .2-.6: every default address avoids the gateway.
    let mut defaults = Vec::new();
    for _ in 0..5 {
        let p = api
            .create(t, "ports", "port", json!({"network_id": nid}))
            .await;
        defaults.push(
            p["fixed_ips"][0]["ip_address"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    assert!(!defaults.contains(&"10.2.0.1".to_string()), "{defaults:?}");
    let a = api
        .call(
            t,
            Method::POST,
            "/v2.0/ports",
            Some(json!({"port": {"network_id": nid}})),
        )
        .await;
    assert_neutron_error(&a, 409, "IpAddressGenerationFailure");

    let gw = json!([{"subnet_id": sid, "ip_address": "10.2.0.1"}]);
    let p = api
        .create(
            t,
            "ports",
            "port",
            json!({"network_id": nid, "fixed_ips": gw}),
        )
        .await;
    assert_eq!(p["fixed_ips"], gw);
    let a = api
        .call(
            t,
            Method::POST,
            "/v2.0/ports",
            Some(json!({"port": {"network_id": nid, "fixed_ips": gw}})),
        )
        .await;
    assert_eq!(a.status, 409, "{}", a.body);

    // Given back, and taken again by an update of a port made with a
    // default address.
    let pid = p["id"].as_str().unwrap();
    api.ok(t, Method::DELETE, &format!("/v2.0/ports/{pid}"), None)
        .await;
    let oid = api.ok(t, Method::GET, "/v2.0/ports", None).await["ports"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["fixed_ips"][0]["ip_address"] == "10.2.0.2")
        .and_then(|p| p["id"].as_str())
        .unwrap()
        .to_string();
    let updated = api
        .ok(
            t,
            Method::PUT,
            &format!("/v2.0/ports/{oid}"),
            Some(json!({"port": {"fixed_ips": gw}})),
        )
        .await;
    assert_eq!(updated["port"]["fixed_ips"], gw);
}

/// Neutron's `get_subnet` is "admin or owner, or shared": an external
/// network is visible to every project (`rule:external`), its subnets are
/// not, unless the network is shared as well (Tempest's
/// `test_external_network_visibility`).
#[tokio::test]
async fn subnets_of_an_external_network_are_the_owners_unless_shared() {
    let api = start().await;
    let mut ids = Vec::new();
    for (name, shared, cidr) in [
        ("ext", false, "10.7.0.0/24"),
        ("ext-shared", true, "10.8.0.0/24"),
    ] {
        let net = api
            .create(
                &api.admin,
                "networks",
                "network",
                json!({"name": name, "router:external": true, "shared": shared}),
            )
            .await;
        let sub = api
            .create(
                &api.admin,
                "subnets",
                "subnet",
                json!({"network_id": net["id"], "ip_version": 4, "cidr": cidr}),
            )
            .await;
        ids.push((
            net["id"].as_str().unwrap().to_string(),
            sub["id"].as_str().unwrap().to_string(),
        ));
    }
    let (ext, ext_sub) = &ids[0];
    let (shared, shared_sub) = &ids[1];
    // The networks are seen, with their subnets' ids, as in Neutron.
    let a = api
        .ok(
            &api.demo,
            Method::GET,
            &format!("/v2.0/networks/{ext}"),
            None,
        )
        .await;
    assert_eq!(a["network"]["subnets"], json!([ext_sub]));
    let l = api
        .ok(
            &api.demo,
            Method::GET,
            &format!("/v2.0/subnets?network_id={ext}"),
            None,
        )
        .await;
    assert_eq!(l["subnets"], json!([]));
    let a = api
        .call(
            &api.demo,
            Method::GET,
            &format!("/v2.0/subnets/{ext_sub}"),
            None,
        )
        .await;
    assert_neutron_error(&a, 404, "SubnetNotFound");
    let l = api
        .ok(
            &api.demo,
            Method::GET,
            &format!("/v2.0/subnets?network_id={shared}"),
            None,
        )
        .await;
    assert_eq!(l["subnets"][0]["id"], json!(shared_sub));
    api.ok(
        &api.demo,
        Method::GET,
        &format!("/v2.0/subnets/{shared_sub}"),
        None,
    )
    .await;
    // The owner (admin) sees both.
    let l = api.ok(&api.admin, Method::GET, "/v2.0/subnets", None).await;
    assert_eq!(l["subnets"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn rule_ports_and_remote_groups_fail_in_neutrons_words() {
    let api = start().await;
    let t = &api.demo;
    let g = api
        .create(
            t,
            "security-groups",
            "security_group",
            json!({"name": "neg"}),
        )
        .await;
    let gid = g["id"].as_str().unwrap();
    let api = &api;
    let post = |rule: Value| async move {
        api.call(
            t,
            Method::POST,
            "/v2.0/security-group-rules",
            Some(json!({ "security_group_rule": rule })),
        )
        .await
    };
    // Out-of-range ports: Neutron's converter, the minimum first.
    for (min, max, msg) in [
        (json!(-16), json!(80), "Invalid value for port -16"),
        (json!(80), json!(65536), "Invalid value for port 65536"),
        (json!(-16), json!(65536), "Invalid value for port -16"),
    ] {
        let a = post(json!({"security_group_id": gid, "direction": "ingress", "protocol": "tcp", "port_range_min": min, "port_range_max": max})).await;
        assert_neutron_error(&a, 400, "SecurityGroupInvalidPortValue");
        assert_eq!(a.body["NeutronError"]["message"], msg, "{}", a.body);
    }
    let a = post(json!({"security_group_id": gid, "direction": "ingress", "protocol": "tcp", "port_range_min": 80, "port_range_max": 79})).await;
    assert_neutron_error(&a, 400, "SecurityGroupInvalidPortRange");
    assert!(a.body["NeutronError"]["message"]
        .as_str()
        .unwrap()
        .contains("port_range_min must be <= port_range_max"));
    // remote_group_id is not validated as a UUID: an unknown one is 404.
    for remote in ["bad_group_id", "0b2f6a1e-3c34-4f57-9e0a-3a9b0e9e7c11"] {
        let a = post(json!({"security_group_id": gid, "direction": "ingress", "protocol": "tcp", "remote_group_id": remote})).await;
        assert_neutron_error(&a, 404, "SecurityGroupNotFound");
        assert_eq!(
            a.body["NeutronError"]["message"],
            format!("Security group {remote} does not exist"),
            "{}",
            a.body
        );
    }
    // Nothing was made.
    let l = api
        .ok(
            t,
            Method::GET,
            &format!("/v2.0/security-group-rules?security_group_id={gid}"),
            None,
        )
        .await;
    assert_eq!(l["security_group_rules"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn an_auto_address_subnet_goes_with_its_ports_addresses() {
    let api = start().await;
    let t = &api.demo;
    for (ra, mode) in [("slaac", "slaac"), ("dhcpv6-stateless", "dhcpv6-stateless")] {
        let net = api
            .create(t, "networks", "network", json!({"name": mode}))
            .await;
        let nid = net["id"].as_str().unwrap();
        let v4 = api
            .create(
                t,
                "subnets",
                "subnet",
                json!({"network_id": nid, "ip_version": 4, "cidr": "10.7.0.0/24"}),
            )
            .await;
        let v6 = api
            .create(
                t,
                "subnets",
                "subnet",
                json!({"network_id": nid, "ip_version": 6, "cidr": "2003::/64", "ipv6_ra_mode": ra, "ipv6_address_mode": mode}),
            )
            .await;
        let port = api
            .create(t, "ports", "port", json!({"network_id": nid}))
            .await;
        let pid = port["id"].as_str().unwrap();
        let subnets: HashSet<&str> = port["fixed_ips"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|f| f["subnet_id"].as_str())
            .collect();
        assert_eq!(subnets.len(), 2, "{port}");
        let sid6 = v6["id"].as_str().unwrap();
        let a = api
            .call(t, Method::DELETE, &format!("/v2.0/subnets/{sid6}"), None)
            .await;
        assert_eq!(a.status, 204, "{mode}: {}", a.body);
        let shown = api
            .ok(t, Method::GET, &format!("/v2.0/ports/{pid}"), None)
            .await;
        let ips = shown["port"]["fixed_ips"].as_array().unwrap();
        assert_eq!(ips.len(), 1, "{shown}");
        assert_eq!(ips[0]["subnet_id"], v4["id"], "{shown}");
        let a = api
            .call(t, Method::GET, &format!("/v2.0/subnets/{sid6}"), None)
            .await;
        assert_neutron_error(&a, 404, "SubnetNotFound");
        // The IPv4 subnet still refuses to go while the port holds an
        // address on it.
        let sid4 = v4["id"].as_str().unwrap();
        let a = api
            .call(t, Method::DELETE, &format!("/v2.0/subnets/{sid4}"), None)
            .await;
        assert_neutron_error(&a, 409, "SubnetInUse");
        assert_eq!(
            api.call(t, Method::DELETE, &format!("/v2.0/ports/{pid}"), None)
                .await
                .status,
            204
        );
    }
    // A DHCPv6-stateful subnet keeps Neutron's SubnetInUse.
    let net = api
        .create(t, "networks", "network", json!({"name": "stateful"}))
        .await;
    let nid = net["id"].as_str().unwrap();
    let v6 = api
        .create(
            t,
            "subnets",
            "subnet",
            json!({"network_id": nid, "ip_version": 6, "cidr": "2004::/64", "ipv6_ra_mode": "dhcpv6-stateful", "ipv6_address_mode": "dhcpv6-stateful"}),
        )
        .await;
    api.create(t, "ports", "port", json!({"network_id": nid}))
        .await;
    let a = api
        .call(
            t,
            Method::DELETE,
            &format!("/v2.0/subnets/{}", v6["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_neutron_error(&a, 409, "SubnetInUse");
}

/// Routers and floating IPs through the API: Neutron's shapes and status
/// codes for the main calls, the member actions, the refusals' bodies,
/// tenant isolation and a reader's writes.
#[tokio::test]
async fn routers_and_floating_ips_in_neutrons_shapes() {
    let api = start().await;
    let (admin, demo) = (api.admin.clone(), api.demo.clone());
    let e = api.ok(&demo, Method::GET, "/v2.0/extensions", None).await;
    let aliases: Vec<&str> = e["extensions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["alias"].as_str().unwrap())
        .collect();
    for a in [
        "router",
        "ext-gw-mode",
        "extraroute",
        "extraroute-atomic",
        "router_availability_zone",
        "floatingip-port-details",
    ] {
        assert!(aliases.contains(&a), "{a}");
    }
    let r = api.ok(&demo, Method::GET, "/v2.0", None).await;
    let collections: Vec<&str> = r["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["collection"].as_str().unwrap())
        .collect();
    assert!(collections.contains(&"routers") && collections.contains(&"floatingips"));

    let ext = api
        .create(
            &admin,
            "networks",
            "network",
            json!({"name": "ext", "router:external": true}),
        )
        .await;
    api.create(
        &admin,
        "subnets",
        "subnet",
        json!({"network_id": ext["id"], "ip_version": 4, "cidr": "172.24.4.0/24"}),
    )
    .await;
    let (net, sub) = api.network_with_subnet(&demo, "net1", "10.0.0.0/24").await;

    // Create, show, list.
    let router = api
        .create(
            &demo,
            "routers",
            "router",
            json!({"name": "r1", "external_gateway_info": {"network_id": ext["id"]}}),
        )
        .await;
    let rid = router["id"].as_str().unwrap().to_string();
    for k in [
        "id",
        "name",
        "description",
        "tenant_id",
        "project_id",
        "admin_state_up",
        "status",
        "external_gateway_info",
        "routes",
        "availability_zone_hints",
        "availability_zones",
        "flavor_id",
        "revision_number",
        "created_at",
        "updated_at",
        "tags",
    ] {
        assert!(router.get(k).is_some(), "{k} in {router}");
    }
    assert_eq!(router["project_id"], api.demo_project.as_str());
    assert_eq!(router["external_gateway_info"]["enable_snat"], true);
    assert_eq!(
        router["external_gateway_info"]["external_fixed_ips"][0]["ip_address"],
        "172.24.4.2"
    );
    let shown = api
        .ok(
            &demo,
            Method::GET,
            &format!("/v2.0/routers/{rid}?fields=name"),
            None,
        )
        .await;
    assert_eq!(shown, json!({"router": {"name": "r1"}}));
    let l = api
        .ok(&demo, Method::GET, "/v2.0/routers?name=r1", None)
        .await;
    assert_eq!(l["routers"].as_array().unwrap().len(), 1);
    let a = api
        .call(&api.alt, Method::GET, &format!("/v2.0/routers/{rid}"), None)
        .await;
    assert_neutron_error(&a, 404, "RouterNotFound");
    let a = api
        .call(
            &demo,
            Method::POST,
            "/v2.0/routers",
            Some(json!({"router": {"external_gateway_info": {"network_id": net["id"]}}})),
        )
        .await;
    assert_neutron_error(&a, 400, "BadRequest");

    // Interfaces.
    let path = |action: &str| format!("/v2.0/routers/{rid}/{action}");
    let i = api
        .ok(
            &demo,
            Method::PUT,
            &path("add_router_interface"),
            Some(json!({"subnet_id": sub["id"]})),
        )
        .await;
    assert_eq!(i["id"], rid.as_str());
    assert_eq!(i["subnet_id"], sub["id"]);
    assert_eq!(i["subnet_ids"], json!([sub["id"]]));
    assert_eq!(i["network_id"], net["id"]);
    assert_eq!(i["tenant_id"], api.demo_project.as_str());
    assert!(i["port_id"].is_string(), "{i}");
    let a = api
        .call(
            &demo,
            Method::PUT,
            &path("add_router_interface"),
            Some(json!({})),
        )
        .await;
    assert_neutron_error(&a, 400, "BadRequest");
    let a = api
        .call(
            &demo,
            Method::DELETE,
            &format!("/v2.0/subnets/{}", sub["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_neutron_error(&a, 409, "SubnetInUse");
    let a = api
        .call(&demo, Method::DELETE, &format!("/v2.0/routers/{rid}"), None)
        .await;
    assert_neutron_error(&a, 409, "RouterInUse");

    // Extra routes, atomically.
    let routes =
        json!({"router": {"routes": [{"destination": "10.9.0.0/24", "nexthop": "10.0.0.9"}]}});
    let r = api
        .ok(
            &demo,
            Method::PUT,
            &path("add_extraroutes"),
            Some(routes.clone()),
        )
        .await;
    assert_eq!(r["router"]["routes"], routes["router"]["routes"]);
    assert_eq!(r["router"]["id"], rid.as_str());
    let bad =
        json!({"router": {"routes": [{"destination": "10.8.0.0/24", "nexthop": "192.168.7.7"}]}});
    let a = api
        .call(&demo, Method::PUT, &path("add_extraroutes"), Some(bad))
        .await;
    assert_neutron_error(&a, 400, "InvalidRoutes");
    let r = api
        .ok(
            &demo,
            Method::PUT,
            &path("remove_extraroutes"),
            Some(routes),
        )
        .await;
    assert_eq!(r["router"]["routes"], json!([]));

    // Floating IPs.
    let port = api
        .create(&demo, "ports", "port", json!({"network_id": net["id"]}))
        .await;
    let fip = api
        .create(
            &demo,
            "floatingips",
            "floatingip",
            json!({"floating_network_id": ext["id"], "port_id": port["id"]}),
        )
        .await;
    let fid = fip["id"].as_str().unwrap().to_string();
    assert_eq!(fip["status"], "ACTIVE");
    assert_eq!(fip["router_id"], rid.as_str());
    assert_eq!(fip["fixed_ip_address"], port["fixed_ips"][0]["ip_address"]);
    assert_eq!(fip["port_details"]["mac_address"], port["mac_address"]);
    assert_eq!(fip["floating_network_id"], ext["id"]);
    let l = api
        .ok(
            &demo,
            Method::GET,
            &format!("/v2.0/floatingips?port_id={}", port["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(l["floatingips"].as_array().unwrap().len(), 1);
    let a = api
        .call(
            &demo,
            Method::POST,
            "/v2.0/floatingips",
            Some(json!({"floatingip": {"floating_network_id": ext["id"], "port_id": port["id"]}})),
        )
        .await;
    assert_neutron_error(&a, 409, "FloatingIPPortAlreadyAssociated");
    let a = api
        .call(
            &demo,
            Method::PUT,
            &path("remove_router_interface"),
            Some(json!({"subnet_id": sub["id"]})),
        )
        .await;
    assert_neutron_error(&a, 409, "RouterInterfaceInUseByFloatingIP");
    let f = api
        .ok(
            &demo,
            Method::PUT,
            &format!("/v2.0/floatingips/{fid}"),
            Some(json!({"floatingip": {"port_id": null}})),
        )
        .await;
    assert_eq!(f["floatingip"]["status"], "DOWN");
    assert_eq!(f["floatingip"]["port_details"], Value::Null);
    let a = api
        .call(
            &api.alt,
            Method::GET,
            &format!("/v2.0/floatingips/{fid}"),
            None,
        )
        .await;
    assert_neutron_error(&a, 404, "FloatingIPNotFound");

    // A reader's writes: refused by policy, after the router is found.
    let reader = common::user_with_role(&api.identity, &admin, "demo", "reader").await;
    let a = api
        .call(
            &reader,
            Method::PUT,
            &path("add_router_interface"),
            Some(json!({"subnet_id": sub["id"]})),
        )
        .await;
    assert_neutron_error(&a, 403, "PolicyNotAuthorized");
    assert!(
        a.body["NeutronError"]["message"]
            .as_str()
            .unwrap()
            .contains("add_router_interface"),
        "{}",
        a.body
    );
    let outsider = common::user_with_role(&api.identity, &admin, "alt", "reader").await;
    let a = api
        .call(
            &outsider,
            Method::PUT,
            &path("remove_router_interface"),
            Some(json!({"subnet_id": sub["id"]})),
        )
        .await;
    assert_neutron_error(&a, 404, "RouterNotFound");

    // Tear down: 204s, then the router is gone.
    let a = api
        .call(
            &demo,
            Method::DELETE,
            &format!("/v2.0/floatingips/{fid}"),
            None,
        )
        .await;
    assert_eq!(a.status, 204, "{}", a.body);
    let i = api
        .ok(
            &demo,
            Method::PUT,
            &path("remove_router_interface"),
            Some(json!({"subnet_id": sub["id"]})),
        )
        .await;
    assert_eq!(i["subnet_id"], sub["id"]);
    let a = api
        .call(&demo, Method::DELETE, &format!("/v2.0/routers/{rid}"), None)
        .await;
    assert_eq!(a.status, 204, "{}", a.body);
    let a = api
        .call(&demo, Method::GET, &format!("/v2.0/routers/{rid}"), None)
        .await;
    assert_neutron_error(&a, 404, "RouterNotFound");
    let q = api
        .ok(
            &demo,
            Method::GET,
            &format!("/v2.0/quotas/{}", api.demo_project),
            None,
        )
        .await;
    assert_eq!(
        (
            q["quota"]["router"].clone(),
            q["quota"]["floatingip"].clone()
        ),
        (json!(10), json!(50))
    );
}
