//! The edges every API shares, as one process serves them (admin, compute,
//! volume and network APIs on `connections::serve`, one in-flight limit):
//! 415 for bodies that are not JSON, 413 for bodies too large (at once by
//! `Content-Length`, or when a chunked body crosses the limit), 408 for
//! bodies too slow, 400 for control characters in names (nothing made),
//! and 503 + `Retry-After` past the in-flight limit — each in the API's
//! own error format.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tricircle_api::gateway::Gateway;
use tricircle_api::{
    admin_router, compute_router, install_metrics, network_router, volume_router, AdminState,
    Authenticator, ConnectionLimits, GatewayState, InflightLimit, NetworkState, RequestBounds,
};
use tricircle_core::pod::ValidPod;
use tricircle_network::{NetworkConfig, Neutron};
use tricircle_pods::{EndpointResolver, Interface, PodClient, TokenValidator, ValidatorConfig};
use tricircle_podsim::{IdentityConfig, Pod, PodConfig};
use tricircle_store::testing::TestStore;
use tricircle_store::Usage;

/// Largest body the APIs take here.
const MAX_BODY: usize = 16 * 1024;

/// One Tricircle process in front of one simulated pod.
struct Process {
    admin: String,
    compute: String,
    volume: String,
    network: String,
    http: reqwest::Client,
    admin_token: String,
    admin_project: String,
    demo_token: String,
    demo_project: String,
    limit: InflightLimit,
    pod: Pod,
    store: TestStore,
    _tasks: Vec<tokio::task::JoinHandle<()>>,
}

struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Value,
}

async fn start(max_inflight: usize, body_timeout: Duration) -> Process {
    let ks_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let cfg = IdentityConfig {
        public_url: format!("http://{}", ks_listener.local_addr().unwrap()),
        ..Default::default()
    };
    let (identity, ks_task) = common::serve_identity(cfg.clone(), ks_listener).await;
    let mut tasks = vec![ks_task];
    let mut pc = PodConfig::new("Pod1").with_identity(identity.clone());
    pc.availability_zone = "nova".into();
    let pod = Pod::new(pc);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    identity.register_pod(
        "Pod1",
        &format!("http://{}", listener.local_addr().unwrap()),
    );
    let router = pod.router();
    tasks.push(tokio::spawn(async move {
        let _ = tricircle_podsim::serve(listener, router, std::future::pending()).await;
    }));
    let store = tricircle_store::testing::sqlite().await;
    for (pod_name, az_name) in [("RegionOne", ""), ("Pod1", "az1")] {
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
    let keystone = common::service_client(&cfg, &format!("{}/v3", cfg.public_url));
    let resolver = Arc::new(
        EndpointResolver::new(
            keystone.clone(),
            Some(store.store.clone()),
            Interface::Public,
        )
        .with_min_refresh_interval(Duration::ZERO),
    );
    let auth = Arc::new(Authenticator::Keystone {
        validator: TokenValidator::new(keystone.clone(), &ValidatorConfig::default()),
        www_authenticate_uri: format!("{}/v3", cfg.public_url),
    });
    let gateway = GatewayState::new(
        Gateway {
            store: store.store.clone(),
            pods: PodClient::new(resolver.clone(), Duration::from_secs(5)).unwrap(),
            tokens: None,
            network: None,
            keystone: keystone.clone(),
            list_deadline: Duration::from_secs(5),
            quota_defaults: Usage {
                instances: 10,
                cores: 20,
                ram_mb: 51_200,
                volumes: 10,
                gigabytes: 1000,
                snapshots: 10,
            },
            top_region: "RegionOne".into(),
            versions: Default::default(),
        },
        auth.clone(),
        MAX_BODY,
    );
    let admin = admin_router(AdminState {
        store: store.store.clone(),
        auth,
        metrics: install_metrics(),
        max_body_size: MAX_BODY,
        endpoints: Some(resolver),
        jobs: None,
    });
    let network = network_router(NetworkState {
        gateway: gateway.clone(),
        neutron: Neutron::new(store.store.clone(), NetworkConfig::default()),
    });
    let limit = InflightLimit::new(max_inflight);
    let limits = ConnectionLimits {
        header_timeout: Duration::from_secs(30),
        send_timeout: Duration::from_secs(30),
        request: RequestBounds {
            inflight: limit.clone(),
            body_timeout,
        },
    };
    let mut bases = Vec::new();
    for router in [
        admin,
        compute_router(gateway.clone()),
        volume_router(gateway),
        network,
    ] {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        bases.push(format!("http://{}", listener.local_addr().unwrap()));
        let limits = limits.clone();
        tasks.push(tokio::spawn(async move {
            let _ =
                tricircle_api::connections::serve(listener, router, limits, std::future::pending())
                    .await;
        }));
    }
    let project_of = |token: &str| {
        identity.validate(token).unwrap()["token"]["project"]["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let admin_token = identity.issue_token("admin", "admin").unwrap();
    let demo_token = identity.issue_token("demo", "demo").unwrap();
    let (admin_project, demo_project) = (project_of(&admin_token), project_of(&demo_token));
    Process {
        admin: bases[0].clone(),
        compute: bases[1].clone(),
        volume: bases[2].clone(),
        network: bases[3].clone(),
        http: reqwest::Client::new(),
        admin_token,
        admin_project,
        demo_token,
        demo_project,
        limit,
        pod,
        store,
        _tasks: tasks,
    }
}

impl Process {
    /// A request with a raw body and an optional `Content-Type`.
    async fn send(
        &self,
        token: &str,
        method: Method,
        url: String,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> Answer {
        let mut req = self
            .http
            .request(method, url)
            .header("x-auth-token", token)
            .body(body);
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap();
        Answer {
            status,
            headers,
            body: serde_json::from_str(&text).unwrap_or(Value::String(text)),
        }
    }

    async fn json(&self, token: &str, method: Method, url: String, body: Value) -> Answer {
        self.send(
            token,
            method,
            url,
            Some("application/json"),
            body.to_string().into_bytes(),
        )
        .await
    }

    async fn get(&self, token: &str, url: String) -> Answer {
        self.send(token, Method::GET, url, None, Vec::new()).await
    }

    /// A volume API URL in the project of `token`'s caller.
    fn volumes(&self, token: &str, path: &str) -> String {
        let project = if token == self.admin_token {
            &self.admin_project
        } else {
            &self.demo_project
        };
        format!("{}/v3/{project}{path}", self.volume)
    }

    /// Every API's URL of a create, with a body it would accept.
    fn creates(&self) -> Vec<(&'static str, String, Value)> {
        vec![
            (
                "admin",
                format!("{}/v1.0/pods", self.admin),
                json!({"pod": {"pod_name": "Pod9", "az_name": "az9"}}),
            ),
            (
                "compute",
                format!("{}/v2.1/flavors", self.compute),
                json!({"flavor": {"name": "m1.tiny", "vcpus": 1, "ram": 512, "disk": 1}}),
            ),
            (
                "volume",
                self.volumes(&self.admin_token, "/types"),
                json!({"volume_type": {"name": "fast"}}),
            ),
            (
                "network",
                format!("{}/v2.0/networks", self.network),
                json!({"network": {"name": "net1"}}),
            ),
        ]
    }

    /// What the requests of these tests could have made: pods, flavors,
    /// volume types, networks, keypairs, and the pod's servers and volumes.
    async fn state(&self) -> Value {
        let networks = self
            .get(&self.admin_token, format!("{}/v2.0/networks", self.network))
            .await;
        json!({
            "pods": self.store.list_pods().await.unwrap().len(),
            "flavors": self.store.list_flavors(None).await.unwrap().len(),
            "types": self.store.list_volume_types(None).await.unwrap().len(),
            "networks": networks.body["networks"],
            "pod_servers": self.pod.compute().servers().len(),
            "pod_volumes": self.pod.volume().volumes().len(),
        })
    }
}

/// The API's error body for `status`: Neutron's on the network API,
/// Nova's form (`{"<fault>": {"code", "message"}}`) elsewhere.
fn assert_fault(service: &str, a: &Answer, status: u16, fault: &str, neutron_type: &str) {
    assert_eq!(a.status, status, "{service}: {}", a.body);
    if service == "network" {
        assert_eq!(a.body["NeutronError"]["type"], neutron_type, "{}", a.body);
        assert!(a.body["NeutronError"]["message"].is_string(), "{}", a.body);
    } else {
        assert_eq!(a.body[fault]["code"], status, "{service}: {}", a.body);
        assert!(a.body[fault]["message"].is_string(), "{}", a.body);
    }
}

/// One HTTP/1.1 exchange with the server of `url`, written by hand (bodies
/// that lie about their length, chunked bodies), read to the end.
async fn raw(url: &str, request: &[u8]) -> (u16, Value) {
    let rest = url.trim_start_matches("http://");
    let addr = &rest[..rest.find('/').unwrap_or(rest.len())];
    let mut s = TcpStream::connect(addr).await.unwrap();
    // The server may answer (and close) before it has read all of it.
    let _ = s.write_all(request).await;
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out).await;
    let text = String::from_utf8_lossy(&out).to_string();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no answer: {text:?}"));
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

fn url_path(url: &str) -> &str {
    let rest = url.trim_start_matches("http://");
    &rest[rest.find('/').unwrap_or(rest.len())..]
}

#[tokio::test]
async fn bodies_that_are_not_json_are_415_in_each_apis_format() {
    let p = start(64, Duration::from_secs(60)).await;
    let before = p.state().await;
    for (service, url, body) in p.creates() {
        let text = body.to_string().into_bytes();
        for ct in [
            "application/xml",
            "application/x-www-form-urlencoded",
            "text/html; charset=utf-8",
        ] {
            let a = p
                .send(
                    &p.admin_token,
                    Method::POST,
                    url.clone(),
                    Some(ct),
                    text.clone(),
                )
                .await;
            assert_fault(service, &a, 415, "badMediaType", "HTTPUnsupportedMediaType");
        }
        // Cinder, the admin API and the network API take no text/plain;
        // Nova reads it as JSON (below).
        if service != "compute" {
            let a = p
                .send(
                    &p.admin_token,
                    Method::POST,
                    url.clone(),
                    Some("text/plain"),
                    text,
                )
                .await;
            assert_fault(service, &a, 415, "badMediaType", "HTTPUnsupportedMediaType");
        }
    }
    assert_eq!(p.state().await, before, "nothing was made");

    // JSON with parameters, without a Content-Type, and each service's
    // own media type are read.
    let creates = p.creates();
    let (_, pods, pod) = &creates[0];
    let a = p
        .send(
            &p.admin_token,
            Method::POST,
            pods.clone(),
            Some("application/json; charset=UTF-8"),
            pod.to_string().into_bytes(),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let (_, flavors, flavor) = &creates[1];
    let a = p
        .send(
            &p.admin_token,
            Method::POST,
            flavors.clone(),
            None,
            flavor.to_string().into_bytes(),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let a = p
        .send(
            &p.admin_token,
            Method::POST,
            flavors.clone(),
            Some("text/plain"),
            json!({"flavor": {"name": "m1.small", "vcpus": 1, "ram": 1024, "disk": 1}})
                .to_string()
                .into_bytes(),
        )
        .await;
    assert_eq!(a.status, 200, "Nova reads text/plain as JSON: {}", a.body);
    let (_, types, vtype) = &creates[2];
    let a = p
        .send(
            &p.admin_token,
            Method::POST,
            types.clone(),
            Some("application/vnd.openstack.volume+json"),
            vtype.to_string().into_bytes(),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let (_, networks, network) = &creates[3];
    let a = p
        .send(
            &p.demo_token,
            Method::POST,
            networks.clone(),
            Some("application/json;charset=utf-8"),
            network.to_string().into_bytes(),
        )
        .await;
    assert_eq!(a.status, 201, "{}", a.body);
}

#[tokio::test]
async fn bodies_too_large_are_413_in_each_apis_format() {
    let p = start(64, Duration::from_secs(60)).await;
    let before = p.state().await;
    let filler = "x".repeat(MAX_BODY);
    for (service, url, _) in p.creates() {
        // A Content-Length over the limit: answered at once, before any of
        // the body is sent.
        let head = format!(
            "POST {} HTTP/1.1\r\nHost: t\r\nX-Auth-Token: {}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n",
            url_path(&url),
            p.admin_token,
            100 * MAX_BODY
        );
        let (status, body) = raw(&url, head.as_bytes()).await;
        let a = Answer {
            status,
            headers: Default::default(),
            body,
        };
        assert_fault(service, &a, 413, "overLimit", "HTTPRequestEntityTooLarge");

        // A chunked body, cut where it crosses the limit.
        let chunk = format!(
            "{:x}\r\n{}\r\n",
            filler.len() / 2,
            &filler[..filler.len() / 2]
        );
        let mut request = format!(
            "POST {} HTTP/1.1\r\nHost: t\r\nX-Auth-Token: {}\r\nContent-Type: application/json\r\n\
             Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
            url_path(&url),
            p.admin_token
        );
        for _ in 0..3 {
            request.push_str(&chunk);
        }
        request.push_str("0\r\n\r\n");
        let (status, body) = raw(&url, request.as_bytes()).await;
        let a = Answer {
            status,
            headers: Default::default(),
            body,
        };
        assert_fault(service, &a, 413, "overLimit", "HTTPRequestEntityTooLarge");

        // reqwest, with an honest length.
        let a = p
            .send(
                &p.admin_token,
                Method::POST,
                url.clone(),
                Some("application/json"),
                format!("{{\"x\": \"{filler}\"}}").into_bytes(),
            )
            .await;
        assert_fault(service, &a, 413, "overLimit", "HTTPRequestEntityTooLarge");
    }
    assert_eq!(p.state().await, before, "nothing was made");
}

#[tokio::test]
async fn bodies_too_slow_are_408() {
    // The deadline is the event waited for: the answer comes when it passes.
    let p = start(64, Duration::from_millis(300)).await;
    for (service, url, _) in p.creates() {
        let head = format!(
            "POST {} HTTP/1.1\r\nHost: t\r\nX-Auth-Token: {}\r\nContent-Type: application/json\r\n\
             Content-Length: 100\r\nConnection: close\r\n\r\n{{\"a\": ",
            url_path(&url),
            p.admin_token,
        );
        let (status, body) = raw(&url, head.as_bytes()).await;
        let a = Answer {
            status,
            headers: Default::default(),
            body,
        };
        assert_fault(service, &a, 408, "computeFault", "HTTPRequestTimeout");
    }
    assert_eq!(p.limit.in_flight(), 0);
}

#[tokio::test]
async fn control_characters_in_names_are_400_and_make_nothing() {
    let p = start(64, Duration::from_secs(60)).await;
    let a = p
        .json(
            &p.demo_token,
            Method::POST,
            format!("{}/v2.0/networks", p.network),
            json!({"network": {"name": "net"}}),
        )
        .await;
    assert_eq!(a.status, 201, "{}", a.body);
    let net = a.body["network"]["id"].as_str().unwrap().to_string();
    let a = p
        .json(
            &p.demo_token,
            Method::POST,
            format!("{}/v2.0/security-groups", p.network),
            json!({"security_group": {"name": "sg"}}),
        )
        .await;
    assert_eq!(a.status, 201, "{}", a.body);
    let sg = a.body["security_group"]["id"].as_str().unwrap().to_string();
    let count = |v: &Value, key: &str| v[key].as_array().map_or(0, Vec::len);
    let network_state = || async {
        let mut out = Vec::new();
        for (path, key) in [
            ("networks", "networks"),
            ("subnets", "subnets"),
            ("ports", "ports"),
            ("security-groups", "security_groups"),
            ("security-group-rules", "security_group_rules"),
        ] {
            let a = p
                .get(&p.demo_token, format!("{}/v2.0/{path}", p.network))
                .await;
            out.push(count(&a.body, key));
        }
        out
    };
    let before = (p.state().await, network_state().await);

    for bad in [
        "a\u{0}b",
        "\u{1b}[31mred",
        "tab\there",
        "\u{7f}",
        "c1\u{85}",
        "\u{2028}",
    ] {
        let admin = &p.admin_token;
        let demo = &p.demo_token;
        let nova_like = [
            (
                "admin",
                admin,
                format!("{}/v1.0/pods", p.admin),
                json!({"pod": {"pod_name": bad, "az_name": "az9"}}),
            ),
            (
                "compute",
                demo,
                format!("{}/v2.1/servers", p.compute),
                json!({"server": {"name": bad, "imageRef": "i", "flavorRef": "1", "networks": "none"}}),
            ),
            (
                "compute",
                admin,
                format!("{}/v2.1/flavors", p.compute),
                json!({"flavor": {"name": bad, "vcpus": 1, "ram": 512, "disk": 1}}),
            ),
            (
                "compute",
                demo,
                format!("{}/v2.1/os-keypairs", p.compute),
                json!({"keypair": {"name": bad}}),
            ),
            (
                "volume",
                demo,
                p.volumes(&p.demo_token, "/volumes"),
                json!({"volume": {"size": 1, "name": bad}}),
            ),
            (
                "volume",
                demo,
                p.volumes(&p.demo_token, "/volumes"),
                json!({"volume": {"size": 1, "description": bad}}),
            ),
            (
                "volume",
                admin,
                p.volumes(&p.admin_token, "/types"),
                json!({"volume_type": {"name": bad}}),
            ),
            (
                "volume",
                demo,
                p.volumes(&p.demo_token, "/snapshots"),
                json!({"snapshot": {"volume_id": "v", "name": bad}}),
            ),
            (
                "volume",
                demo,
                p.volumes(&p.demo_token, "/backups"),
                json!({"backup": {"volume_id": "v", "name": bad}}),
            ),
        ];
        for (service, token, url, body) in nova_like {
            let a = p.json(token, Method::POST, url.clone(), body.clone()).await;
            assert_fault(service, &a, 400, "badRequest", "");
            let message = a.body["badRequest"]["message"].as_str().unwrap_or("");
            assert!(
                message.contains("printable") || message.contains("control characters"),
                "{url} {body}: {message}"
            );
        }
        let neutron = [
            ("POST", "networks", json!({"network": {"name": bad}})),
            (
                "POST",
                "subnets",
                json!({"subnet": {"network_id": net, "cidr": "10.0.0.0/24", "ip_version": 4, "name": bad}}),
            ),
            (
                "POST",
                "ports",
                json!({"port": {"network_id": net, "name": bad}}),
            ),
            (
                "POST",
                "security-groups",
                json!({"security_group": {"name": bad}}),
            ),
            (
                "POST",
                "security-group-rules",
                json!({"security_group_rule": {"security_group_id": sg, "direction": "ingress", "description": format!("{bad}\u{0}")}}),
            ),
            ("PUT", "networks", json!({"network": {"name": bad}})),
            (
                "PUT",
                "security-groups",
                json!({"security_group": {"description": "\u{0}"}}),
            ),
        ];
        for (method, path, body) in neutron {
            let url = match method {
                "PUT" if path == "networks" => format!("{}/v2.0/networks/{net}", p.network),
                "PUT" => format!("{}/v2.0/security-groups/{sg}", p.network),
                _ => format!("{}/v2.0/{path}", p.network),
            };
            let method = Method::from_bytes(method.as_bytes()).unwrap();
            let a = p.json(demo, method, url, body.clone()).await;
            assert_fault("network", &a, 400, "", "HTTPBadRequest");
            let message = a.body["NeutronError"]["message"].as_str().unwrap_or("");
            assert!(message.contains("control character"), "{body}: {message}");
        }
    }
    assert_eq!(
        (p.state().await, network_state().await),
        before,
        "nothing was made or changed"
    );
    let a = p
        .get(&p.demo_token, format!("{}/v2.0/networks/{net}", p.network))
        .await;
    assert_eq!(a.body["network"]["name"], "net");
}

/// Holds one request in flight: its headers promise a body that never
/// comes, so its handler waits. Dropping the stream ends it.
async fn hold(p: &Process, base: &str, path: &str) -> TcpStream {
    let mut s = TcpStream::connect(base.trim_start_matches("http://"))
        .await
        .unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: t\r\nX-Auth-Token: {}\r\nContent-Type: application/json\r\n\
         Content-Length: 100\r\n\r\n{{",
        p.admin_token
    );
    s.write_all(head.as_bytes()).await.unwrap();
    s
}

/// Waits until the process serves `n` requests (an event: no deadline is
/// raced; the bound only turns a hang into a failure).
async fn until_in_flight(p: &Process, n: usize) {
    tokio::time::timeout(Duration::from_secs(30), async {
        while p.limit.in_flight() != n {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("in flight: {} (waiting for {n})", p.limit.in_flight()));
}

#[tokio::test]
async fn past_the_in_flight_limit_every_api_sheds_with_503_and_retry_after() {
    let p = start(2, Duration::from_secs(60)).await;
    let reads = [
        ("admin", format!("{}/v1.0/pods", p.admin)),
        ("compute", format!("{}/v2.1/flavors", p.compute)),
        ("volume", p.volumes(&p.admin_token, "/types")),
        ("network", format!("{}/v2.0/networks", p.network)),
    ];
    for (service, url) in &reads {
        let a = p.get(&p.admin_token, url.clone()).await;
        assert_eq!(a.status, 200, "{service}: {}", a.body);
    }
    assert_eq!(p.limit.in_flight(), 0);

    // The limit is the process's: one request held on the network API and
    // one on the compute API fill it for all four.
    let held = vec![
        hold(&p, &p.network, "/v2.0/networks").await,
        hold(&p, &p.compute, "/v2.1/flavors").await,
    ];
    until_in_flight(&p, 2).await;
    for (service, url) in &reads {
        let a = p.get(&p.admin_token, url.clone()).await;
        assert_fault(
            service,
            &a,
            503,
            "serviceUnavailable",
            "HTTPServiceUnavailable",
        );
        assert_eq!(a.headers["retry-after"], "1", "{service}");
    }
    // Health checks and version documents still answer.
    for url in [
        format!("{}/healthcheck", p.admin),
        format!("{}/", p.compute),
        format!("{}/", p.network),
    ] {
        let a = p.get(&p.admin_token, url.clone()).await;
        assert_eq!(a.status, 200, "{url}: {}", a.body);
    }
    assert_eq!(p.limit.in_flight(), 2);

    // The held requests end (their clients went away): room again.
    drop(held);
    until_in_flight(&p, 0).await;
    for (service, url) in &reads {
        let a = p.get(&p.admin_token, url.clone()).await;
        assert_eq!(a.status, 200, "{service}: {}", a.body);
    }
    assert_eq!(p.limit.in_flight(), 0);
}
