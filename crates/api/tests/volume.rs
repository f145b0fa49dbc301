//! The volume gateway in front of podsim's Keystone and two podsim pods
//! (Pod1 in az1 with the pod's default AZ, Pod2 in az2 whose Cinder calls
//! its AZ `nova2`), on loopback.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::HeaderMap;
use reqwest::Method;
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tricircle_api::gateway::Gateway;
use tricircle_api::gateway::{SKIPPED_PODS_HEADER, STRICT_LIST_HEADER};
use tricircle_api::{volume_router, Authenticator, GatewayState};
use tricircle_core::pod::ValidPod;
use tricircle_gateway::create_check::CheckDeps;
use tricircle_pods::{
    EndpointResolver, Interface, PodClient, PodClientOptions, TokenValidator, ValidatorConfig,
};
use tricircle_podsim::{IdentityConfig, Pod, PodConfig};
use tricircle_store::testing::TestStore;
use tricircle_store::{RoutingFilter, Usage};

struct Gw {
    base: String,
    http: reqwest::Client,
    pod1: Pod,
    pod2: Pod,
    pod1_url: String,
    pod1_id: String,
    pod2_id: String,
    store: TestStore,
    demo: String,
    demo_project: String,
    admin: String,
    /// What check jobs use (judging at once).
    checks: CheckDeps,
    /// The pods' Keystone, to make more users.
    identity: tricircle_podsim::Identity,
    ks_url: String,
    _tasks: Vec<tokio::task::JoinHandle<()>>,
}

struct Answer {
    status: u16,
    headers: HeaderMap,
    body: Value,
}

async fn start() -> Gw {
    let client = PodClientOptions {
        timeout: Duration::from_secs(5),
        ..PodClientOptions::default()
    };
    start_with(client, Duration::from_secs(3)).await
}

/// A gateway whose pod client and list deadline the test chooses.
async fn start_with(client: PodClientOptions, list_deadline: Duration) -> Gw {
    let ks_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let cfg = IdentityConfig {
        public_url: format!("http://{}", ks_listener.local_addr().unwrap()),
        ..Default::default()
    };
    let (identity, ks_task) = common::serve_identity(cfg.clone(), ks_listener).await;
    let mut tasks = vec![ks_task];
    let mut pods = Vec::new();
    let mut urls = Vec::new();
    for (name, az) in [("Pod1", "nova"), ("Pod2", "nova2")] {
        let mut pc = PodConfig::new(name).with_identity(identity.clone());
        pc.availability_zone = az.to_string();
        let pod = Pod::new(pc);
        pod.volume().set_transition_delay(Duration::from_millis(20));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        identity.register_pod(name, &url);
        let router = pod.router();
        tasks.push(tokio::spawn(async move {
            let _ = tricircle_podsim::serve(listener, router, std::future::pending()).await;
        }));
        pods.push(pod);
        urls.push(url);
    }
    let store = tricircle_store::testing::sqlite().await;
    let mut ids = Vec::new();
    for (pod_name, az_name, pod_az_name) in [
        ("RegionOne", "", ""),
        ("Pod1", "az1", ""),
        ("Pod2", "az2", "nova2"),
    ] {
        let p = store
            .create_pod(&ValidPod {
                pod_name: pod_name.into(),
                az_name: az_name.into(),
                pod_az_name: pod_az_name.into(),
                dc_name: String::new(),
            })
            .await
            .unwrap();
        ids.push(p.pod_id);
    }
    let keystone = common::service_client(&cfg, &format!("{}/v3", cfg.public_url));
    let resolver = EndpointResolver::new(
        keystone.clone(),
        Some(store.store.clone()),
        Interface::Public,
    )
    .with_min_refresh_interval(Duration::ZERO);
    let pods_client = PodClient::with_options(Arc::new(resolver), &client).unwrap();
    let checks = CheckDeps {
        store: store.store.clone(),
        pods: pods_client.clone(),
        keystone: keystone.clone(),
        network: None,
        settle: Duration::ZERO,
    };
    let state = GatewayState::new(
        Gateway {
            store: store.store.clone(),
            pods: pods_client.clone(),
            tokens: None,
            network: None,
            keystone: keystone.clone(),
            list_deadline,
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
        Arc::new(Authenticator::Keystone {
            validator: TokenValidator::new(keystone.clone(), &ValidatorConfig::default()),
            www_authenticate_uri: format!("{}/v3", cfg.public_url),
        }),
        64 * 1024,
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = volume_router(state);
    tasks.push(tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    }));
    let demo = identity.issue_token("demo", "demo").unwrap();
    let admin = identity.issue_token("admin", "admin").unwrap();
    let demo_project = identity.validate(&demo).unwrap()["token"]["project"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let pod2 = pods.pop().unwrap();
    let pod1 = pods.pop().unwrap();
    Gw {
        base,
        http: reqwest::Client::new(),
        pod1,
        pod2,
        pod1_url: urls[0].clone(),
        pod1_id: ids[1].clone(),
        pod2_id: ids[2].clone(),
        store,
        demo,
        demo_project,
        admin,
        checks,
        identity: identity.clone(),
        ks_url: cfg.public_url.clone(),
        _tasks: tasks,
    }
}

impl Gw {
    async fn send(
        &self,
        token: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Answer {
        let url = if path.starts_with("http") {
            path.to_string()
        } else {
            format!("{}{path}", self.base)
        };
        let mut req = self.http.request(method, url).header("x-auth-token", token);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(b) = body {
            req = req.json(&b);
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

    async fn call(&self, token: &str, method: Method, path: &str, body: Option<Value>) -> Answer {
        self.send(token, method, path, body, &[]).await
    }

    /// A second project with a member user: (token, project id).
    async fn alt(&self) -> (String, String) {
        let ks = |method: Method, path: &str, body: Option<Value>| {
            let mut req = self
                .http
                .request(method, format!("{}/v3{path}", self.ks_url))
                .header("x-auth-token", &self.admin);
            if let Some(b) = body {
                req = req.json(&b);
            }
            req.send()
        };
        let v: Value = ks(
            Method::POST,
            "/projects",
            Some(json!({"project": {"name": "alt"}})),
        )
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
        let project = v["project"]["id"].as_str().unwrap().to_string();
        let v: Value = ks(
            Method::POST,
            "/users",
            Some(json!({"user": {"name": "alt", "password": "alt-secret", "default_project_id": project}})),
        )
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
        let user = v["user"]["id"].as_str().unwrap().to_string();
        let v: Value = ks(Method::GET, "/roles?name=member", None)
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let role = v["roles"][0]["id"].as_str().unwrap().to_string();
        let r = ks(
            Method::PUT,
            &format!("/projects/{project}/users/{user}/roles/{role}"),
            None,
        )
        .await
        .unwrap();
        assert_eq!(r.status().as_u16(), 204);
        (self.identity.issue_token("alt", "alt").unwrap(), project)
    }

    /// `in_use` of a project's volume quotas: (volumes, gigabytes).
    async fn in_use(&self, project: &str) -> (i64, i64) {
        let a = self
            .call(
                &self.admin,
                Method::GET,
                &format!("/v3/os-quota-sets/{project}?usage=True"),
                None,
            )
            .await;
        assert_eq!(a.status, 200, "{}", a.body);
        let q = &a.body["quota_set"];
        (
            q["volumes"]["in_use"].as_i64().unwrap(),
            q["gigabytes"]["in_use"].as_i64().unwrap(),
        )
    }

    /// `/v3/{demo project}{rest}` as demo.
    async fn demo(&self, method: Method, rest: &str, body: Option<Value>) -> Answer {
        let path = format!("/v3/{}{rest}", self.demo_project);
        self.call(&self.demo.clone(), method, &path, body).await
    }

    async fn create_volume(&self, body: Value) -> Value {
        let a = self
            .demo(Method::POST, "/volumes", Some(json!({ "volume": body })))
            .await;
        assert_eq!(a.status, 202, "{}", a.body);
        let id = a.body["volume"]["id"].as_str().unwrap().to_string();
        self.wait_for(&format!("/volumes/{id}"), "volume", "available")
            .await
    }

    /// Polls a resource until its status is `status` (podsim's transitions
    /// take 200 ms; the bound only stops a test that would hang).
    async fn wait_for(&self, rest: &str, key: &str, status: &str) -> Value {
        for _ in 0..1500 {
            let a = self.demo(Method::GET, rest, None).await;
            assert_eq!(a.status, 200, "{}", a.body);
            if a.body[key]["status"] == status {
                return a.body[key].clone();
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("{rest} never became {status}");
    }

    /// Polls `rest` after a delete: shown `deleting` while the pod has it,
    /// then 404 (and the routing is gone).
    async fn wait_gone(&self, rest: &str, key: &str) {
        for _ in 0..200 {
            let a = self.demo(Method::GET, rest, None).await;
            if a.status == 404 {
                assert_fault(&a, 404, "itemNotFound");
                return;
            }
            assert_eq!(a.status, 200, "{}", a.body);
            assert_eq!(a.body[key]["status"], "deleting", "{}", a.body);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("{rest} never went");
    }

    /// A public volume type named `name`, made by the admin: its id.
    async fn create_type(&self, name: &str) -> String {
        let body = json!({"volume_type": {"name": name}});
        let a = self
            .call(&self.admin, Method::POST, "/v3/types", Some(body))
            .await;
        assert_eq!(a.status, 200, "{}", a.body);
        a.body["volume_type"]["id"].as_str().unwrap().to_string()
    }

    async fn routing_pod(&self, id: &str, resource_type: &str) -> Option<String> {
        let page = self
            .store
            .list_routings(
                &RoutingFilter {
                    top_id: Some(id.to_string()),
                    resource_type: Some(resource_type.parse().unwrap()),
                    ..Default::default()
                },
                None,
                10,
            )
            .await
            .unwrap();
        page.routings.into_iter().next().map(|r| r.pod_id)
    }

    fn pod_volume(pod: &Pod, id: &str) -> Option<Value> {
        pod.volume().volume(id)
    }

    async fn absolute(&self) -> Value {
        let a = self.demo(Method::GET, "/limits", None).await;
        assert_eq!(a.status, 200, "{}", a.body);
        a.body["limits"]["absolute"].clone()
    }
}

fn assert_fault(a: &Answer, status: u16, fault: &str) {
    assert_eq!(a.status, status, "{}", a.body);
    assert_eq!(a.body[fault]["code"], json!(status), "{}", a.body);
    assert!(
        a.body[fault]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{}",
        a.body
    );
}

fn header<'a>(a: &'a Answer, name: &str) -> Option<&'a str> {
    a.headers.get(name).and_then(|v| v.to_str().ok())
}

#[tokio::test]
async fn versions_and_microversions() {
    let gw = start().await;
    let resp = gw.http.get(format!("{}/", gw.base)).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 300);
    let doc: Value = resp.json().await.unwrap();
    let ids: Vec<&str> = doc["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["v2.0", "v3.0"]);
    assert_eq!(doc["versions"][1]["version"], "3.70");
    assert_eq!(doc["versions"][1]["min_version"], "3.0");
    for path in ["/v3", "/v3/"] {
        let doc: Value = gw
            .http
            .get(format!("{}{path}", gw.base))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(doc["versions"][0]["id"], "v3.0", "{path}");
    }

    // No header: 3.0, stamped on the answer.
    let a = gw.demo(Method::GET, "/volumes", None).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(header(&a, "openstack-api-version"), Some("volume 3.0"));
    assert_eq!(header(&a, "vary"), Some("OpenStack-API-Version"));
    let path = format!("/v3/{}/volumes", gw.demo_project);
    let a = gw
        .send(
            &gw.demo,
            Method::GET,
            &path,
            None,
            &[("openstack-api-version", "volume latest")],
        )
        .await;
    assert_eq!(header(&a, "openstack-api-version"), Some("volume 3.70"));
    let a = gw
        .send(
            &gw.demo,
            Method::GET,
            &path,
            None,
            &[("openstack-api-version", "volume 3.99")],
        )
        .await;
    assert_fault(&a, 406, "computeFault");
    assert_eq!(
        a.body["computeFault"]["message"],
        "Version 3.99 is not supported by the API. Minimum is 3.0 and maximum is 3.70."
    );
    let a = gw
        .send(
            &gw.demo,
            Method::GET,
            &path,
            None,
            &[("openstack-api-version", "volume 3.x")],
        )
        .await;
    assert_fault(&a, 400, "badRequest");

    // Without the project id (3.67+), and with someone else's.
    let a = gw.call(&gw.demo, Method::GET, "/v3/volumes", None).await;
    assert_eq!(a.status, 200, "{}", a.body);
    let a = gw
        .call(&gw.demo, Method::GET, "/v3/0123456789abcdef/volumes", None)
        .await;
    assert_fault(&a, 400, "badRequest");
    // The v2 alias: no microversion headers.
    let a = gw
        .call(
            &gw.demo,
            Method::GET,
            &format!("/v2/{}/volumes", gw.demo_project),
            None,
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(header(&a, "openstack-api-version"), None);
    // No token.
    let resp = gw
        .http
        .get(format!("{}/v3/volumes", gw.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    let a = gw.demo(Method::GET, "/nothing-here", None).await;
    assert_fault(&a, 404, "itemNotFound");
}

#[tokio::test]
async fn volumes_land_in_their_az_and_show_the_top_az() {
    let gw = start().await;
    let v1 = gw
        .create_volume(json!({"size": 1, "name": "one", "availability_zone": "az1"}))
        .await;
    let v2 = gw
        .create_volume(
            json!({"size": 2, "name": "two", "availability_zone": "az2", "metadata": {"k": "v"}}),
        )
        .await;
    let (id1, id2) = (v1["id"].as_str().unwrap(), v2["id"].as_str().unwrap());
    assert_eq!(v1["availability_zone"], "az1");
    assert_eq!(v2["availability_zone"], "az2");
    // In the pods, under the pods' own AZ names; other fields passed on.
    let b1 = Gw::pod_volume(&gw.pod1, id1).expect("volume 1 in Pod1");
    let b2 = Gw::pod_volume(&gw.pod2, id2).expect("volume 2 in Pod2");
    assert_eq!(b1["availability_zone"], "nova");
    assert_eq!(b2["availability_zone"], "nova2");
    assert_eq!(b2["metadata"]["k"], "v");
    assert!(Gw::pod_volume(&gw.pod2, id1).is_none());
    assert_eq!(
        gw.routing_pod(id1, "volume").await,
        Some(gw.pod1_id.clone())
    );
    assert_eq!(
        gw.routing_pod(id2, "volume").await,
        Some(gw.pod2_id.clone())
    );
    // Links point at the gateway.
    let a = gw.demo(Method::GET, &format!("/volumes/{id2}"), None).await;
    let href = a.body["volume"]["links"][0]["href"].as_str().unwrap();
    assert!(href.starts_with(&gw.base), "{href}");

    // The list says the same; the brief view has id, name and links only.
    let a = gw
        .demo(Method::GET, "/volumes/detail?availability_zone=az2", None)
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let vols = a.body["volumes"].as_array().unwrap();
    assert_eq!(vols.len(), 1, "{}", a.body);
    assert_eq!(vols[0]["availability_zone"], "az2");
    let a = gw.demo(Method::GET, "/volumes", None).await;
    let brief = a.body["volumes"].as_array().unwrap();
    assert_eq!(brief.len(), 2);
    for v in brief {
        let mut keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(keys, ["id", "links", "name"]);
    }

    // Without an AZ: some pod, and its AZ shown.
    let v3 = gw.create_volume(json!({"size": 1})).await;
    assert!(
        ["az1", "az2"].contains(&v3["availability_zone"].as_str().unwrap()),
        "{v3}"
    );

    // Unknown AZ: refused, nothing created.
    let a = gw
        .demo(
            Method::POST,
            "/volumes",
            Some(json!({"volume": {"size": 1, "availability_zone": "nowhere"}})),
        )
        .await;
    assert_eq!(a.status, 400, "{}", a.body);
    assert_eq!(
        gw.pod1.volume().volumes().len() + gw.pod2.volume().volumes().len(),
        3
    );
}

#[tokio::test]
async fn lists_merge_sort_and_page_across_pods() {
    let gw = start().await;
    let mut names = Vec::new();
    for i in 0..7 {
        let az = if i % 2 == 0 { "az1" } else { "az2" };
        let name = format!("vol-{}", (b'a' + (i * 3 % 7) as u8) as char);
        gw.create_volume(json!({"size": 1 + i, "name": name, "availability_zone": az}))
            .await;
        names.push(name);
    }
    names.sort();

    // Sorted by name across both pods, read in pages of 2.
    let mut seen = Vec::new();
    let mut next = Some(format!(
        "/v3/{}/volumes/detail?sort=name:asc&limit=2",
        gw.demo_project
    ));
    let mut pages = 0;
    while let Some(path) = next {
        let a = gw.call(&gw.demo, Method::GET, &path, None).await;
        assert_eq!(a.status, 200, "{}", a.body);
        let page = a.body["volumes"].as_array().unwrap();
        assert!(page.len() <= 2);
        seen.extend(page.iter().map(|v| v["name"].as_str().unwrap().to_string()));
        next = a.body["volumes_links"][0]["href"]
            .as_str()
            .map(str::to_string);
        if let Some(n) = &next {
            assert!(n.starts_with(&gw.base), "{n}");
        }
        pages += 1;
        assert!(pages < 10, "paging does not end");
    }
    assert_eq!(seen, names);
    assert_eq!(pages, 4);

    // Descending by size (the legacy parameters), one page.
    let a = gw
        .demo(
            Method::GET,
            "/volumes/detail?sort_key=size&sort_dir=desc",
            None,
        )
        .await;
    let sizes: Vec<i64> = a.body["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["size"].as_i64().unwrap())
        .collect();
    assert_eq!(sizes, [7, 6, 5, 4, 3, 2, 1]);
    assert!(a.body.get("volumes_links").is_none());

    // Brief pages concatenate too, without duplicates.
    let mut ids = HashSet::new();
    let mut next = Some(format!("/v3/{}/volumes?limit=3", gw.demo_project));
    while let Some(path) = next {
        let a = gw.call(&gw.demo, Method::GET, &path, None).await;
        for v in a.body["volumes"].as_array().unwrap() {
            assert!(
                ids.insert(v["id"].as_str().unwrap().to_string()),
                "duplicate {v}"
            );
        }
        next = a.body["volumes_links"][0]["href"]
            .as_str()
            .map(str::to_string);
    }
    assert_eq!(ids.len(), 7);

    // A filter goes to the pods; offset works across pods.
    let a = gw
        .demo(Method::GET, "/volumes/detail?name=vol-a", None)
        .await;
    assert_eq!(a.body["volumes"].as_array().unwrap().len(), 1, "{}", a.body);
    let a = gw
        .demo(Method::GET, "/volumes/detail?sort=size:asc&offset=5", None)
        .await;
    let sizes: Vec<i64> = a.body["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["size"].as_i64().unwrap())
        .collect();
    assert_eq!(sizes, [6, 7]);

    // Bad paging: Cinder's 4xx.
    for q in [
        "limit=x",
        "limit=-1",
        "sort=nope",
        "sort=size:sideways",
        "sort=size&sort_key=name",
    ] {
        let a = gw.demo(Method::GET, &format!("/volumes?{q}"), None).await;
        assert_fault(&a, 400, "badRequest");
    }
    let a = gw
        .demo(
            Method::GET,
            "/volumes?marker=0b7c4a1e-0000-4000-8000-000000000000",
            None,
        )
        .await;
    assert_fault(&a, 404, "itemNotFound");

    // Admins see every project's volumes with all_tenants; others only theirs.
    let a = gw
        .call(&gw.admin, Method::GET, "/v3/volumes/detail", None)
        .await;
    assert_eq!(a.body["volumes"].as_array().unwrap().len(), 0, "{}", a.body);
    let a = gw
        .call(
            &gw.admin,
            Method::GET,
            "/v3/volumes/detail?all_tenants=1",
            None,
        )
        .await;
    assert_eq!(a.body["volumes"].as_array().unwrap().len(), 7, "{}", a.body);

    // The summary adds the pods' up (3.12+).
    let path = format!("/v3/{}/volumes/summary", gw.demo_project);
    let a = gw
        .send(
            &gw.demo,
            Method::GET,
            &path,
            None,
            &[("openstack-api-version", "volume 3.12")],
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["volume-summary"]["total_count"], 7);
    assert_eq!(a.body["volume-summary"]["total_size"], 28);
}

#[tokio::test]
async fn a_down_pod_is_skipped_and_named_unless_strict() {
    let gw = start().await;
    gw.create_volume(json!({"size": 1, "availability_zone": "az1"}))
        .await;
    let v2 = gw
        .create_volume(json!({"size": 1, "availability_zone": "az2"}))
        .await;
    gw.pod1.set_down(true);
    let a = gw.demo(Method::GET, "/volumes/detail", None).await;
    assert_eq!(a.status, 200, "{}", a.body);
    let vols = a.body["volumes"].as_array().unwrap();
    assert_eq!(vols.len(), 1);
    assert_eq!(vols[0]["id"], v2["id"]);
    assert_eq!(header(&a, SKIPPED_PODS_HEADER), Some("Pod1"));
    let path = format!("/v3/{}/volumes/detail", gw.demo_project);
    let a = gw
        .send(
            &gw.demo,
            Method::GET,
            &path,
            None,
            &[(STRICT_LIST_HEADER, "true")],
        )
        .await;
    assert_fault(&a, 503, "serviceUnavailable");
    assert!(
        a.body["serviceUnavailable"]["message"]
            .as_str()
            .unwrap()
            .contains("Pod1"),
        "{}",
        a.body
    );
    gw.pod1.set_down(false);
    let a = gw.demo(Method::GET, "/volumes/detail", None).await;
    assert_eq!(a.body["volumes"].as_array().unwrap().len(), 2);
    assert_eq!(header(&a, SKIPPED_PODS_HEADER), None);
}

/// A list whose call to a pod finds our per-pod cap full past the queue
/// timeout is shed (503, Retry-After), never a 200 without that pod.
#[tokio::test]
async fn a_list_that_finds_a_pod_busy_is_shed_not_partial() {
    let client = PodClientOptions {
        timeout: Duration::from_secs(10),
        max_concurrent_per_pod: 1,
        queue_timeout: Duration::from_millis(50),
        ..PodClientOptions::default()
    };
    let gw = start_with(client, Duration::from_secs(30)).await;
    for az in ["az1", "az2"] {
        gw.create_volume(json!({"size": 1, "availability_zone": az}))
            .await;
    }
    // The first list holds Pod1's only slot while its answer is held back.
    gw.pod1
        .set_answer_delay("/volume/v3", Duration::from_secs(3));
    let seen = gw.pod1.requests_seen();
    let path = format!("{}/v3/{}/volumes/detail", gw.base, gw.demo_project);
    let holder = tokio::spawn({
        let (http, path, token) = (gw.http.clone(), path.clone(), gw.demo.clone());
        async move {
            let r = http
                .get(path)
                .header("x-auth-token", token)
                .send()
                .await
                .unwrap();
            let skipped = r.headers().get(SKIPPED_PODS_HEADER).cloned();
            (
                r.status().as_u16(),
                skipped,
                r.json::<Value>().await.unwrap(),
            )
        }
    });
    while gw.pod1.requests_seen() == seen {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    for strict in ["false", "true"] {
        let a = gw
            .send(
                &gw.demo,
                Method::GET,
                &path,
                None,
                &[(STRICT_LIST_HEADER, strict)],
            )
            .await;
        assert_fault(&a, 503, "serviceUnavailable");
        assert_eq!(header(&a, "retry-after"), Some("1"), "strict {strict}");
        assert_eq!(header(&a, SKIPPED_PODS_HEADER), None);
        assert!(
            a.body["serviceUnavailable"]["message"]
                .as_str()
                .unwrap()
                .contains("busy"),
            "{}",
            a.body
        );
    }
    let (status, skipped, body) = holder.await.unwrap();
    assert_eq!((status, skipped), (200, None), "{body}");
    assert_eq!(body["volumes"].as_array().unwrap().len(), 2, "{body}");
}

#[tokio::test]
async fn show_extend_delete_and_stale_routings() {
    let gw = start().await;
    let v = gw
        .create_volume(json!({"size": 2, "name": "grow", "availability_zone": "az2"}))
        .await;
    let id = v["id"].as_str().unwrap().to_string();
    assert_eq!(gw.absolute().await["totalGigabytesUsed"], 2);

    let a = gw
        .demo(
            Method::PUT,
            &format!("/volumes/{id}"),
            Some(json!({"volume": {"name": "renamed"}})),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["volume"]["name"], "renamed");
    assert_eq!(a.body["volume"]["availability_zone"], "az2");
    let a = gw
        .demo(
            Method::POST,
            &format!("/volumes/{id}/metadata"),
            Some(json!({"metadata": {"a": "b"}})),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let a = gw
        .demo(Method::GET, &format!("/volumes/{id}/metadata"), None)
        .await;
    assert_eq!(a.body["metadata"]["a"], "b", "{}", a.body);

    let a = gw
        .demo(
            Method::POST,
            &format!("/volumes/{id}/action"),
            Some(json!({"os-extend": {"new_size": 5}})),
        )
        .await;
    assert_eq!(a.status, 202, "{}", a.body);
    let shown = gw
        .wait_for(&format!("/volumes/{id}"), "volume", "available")
        .await;
    assert_eq!(shown["size"], 5);
    let abs = gw.absolute().await;
    assert_eq!(abs["totalGigabytesUsed"], 5);
    assert_eq!(abs["totalVolumesUsed"], 1);

    // Extending past the quota is refused before the pod is asked.
    let q = gw
        .call(
            &gw.admin,
            Method::PUT,
            &format!("/v3/os-quota-sets/{}", gw.demo_project),
            Some(json!({"quota_set": {"gigabytes": 8}})),
        )
        .await;
    assert_eq!(q.status, 200, "{}", q.body);
    let a = gw
        .demo(
            Method::POST,
            &format!("/volumes/{id}/action"),
            Some(json!({"os-extend": {"new_size": 9}})),
        )
        .await;
    assert_fault(&a, 413, "overLimit");
    assert_eq!(
        a.body["overLimit"]["message"],
        "VolumeSizeExceedsAvailableQuota: Requested volume or snapshot exceeds allowed gigabytes quota. \
         Requested 4G, quota is 8G and 5G has been consumed."
    );
    assert_eq!(header(&a, "retry-after"), Some("0"));
    assert_eq!(Gw::pod_volume(&gw.pod2, &id).unwrap()["size"], 5);
    assert_eq!(gw.absolute().await["totalGigabytesUsed"], 5);

    let a = gw
        .demo(Method::DELETE, &format!("/volumes/{id}"), None)
        .await;
    assert_eq!(a.status, 202, "{}", a.body);
    assert_eq!(gw.absolute().await["totalVolumesUsed"], 0);
    gw.wait_gone(&format!("/volumes/{id}"), "volume").await;
    assert_eq!(gw.routing_pod(&id, "volume").await, None);

    // A volume deleted behind Tricircle's back: the show finds out.
    let v = gw
        .create_volume(json!({"size": 1, "availability_zone": "az1"}))
        .await;
    let id = v["id"].as_str().unwrap().to_string();
    let resp = gw
        .http
        .delete(format!(
            "{}/volume/v3/{}/volumes/{id}",
            gw.pod1_url, gw.demo_project
        ))
        .header("x-auth-token", &gw.demo)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 202);
    for _ in 0..100 {
        if Gw::pod_volume(&gw.pod1, &id).is_none() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let a = gw.demo(Method::GET, &format!("/volumes/{id}"), None).await;
    assert_fault(&a, 404, "itemNotFound");
    assert_eq!(gw.routing_pod(&id, "volume").await, None);
    assert_eq!(gw.absolute().await["totalVolumesUsed"], 0);
}

#[tokio::test]
async fn unknown_resources_are_404() {
    let gw = start().await;
    let missing = "0b7c4a1e-0000-4000-8000-000000000000";
    for (method, path, body) in [
        (Method::GET, format!("/volumes/{missing}"), None),
        (
            Method::PUT,
            format!("/volumes/{missing}"),
            Some(json!({"volume": {"name": "x"}})),
        ),
        (Method::DELETE, format!("/volumes/{missing}"), None),
        (
            Method::POST,
            format!("/volumes/{missing}/action"),
            Some(json!({"os-extend": {"new_size": 3}})),
        ),
        (Method::GET, format!("/volumes/{missing}/metadata"), None),
        (Method::GET, format!("/snapshots/{missing}"), None),
        (Method::DELETE, format!("/backups/{missing}"), None),
        (
            Method::POST,
            "/snapshots".to_string(),
            Some(json!({"snapshot": {"volume_id": missing}})),
        ),
        (
            Method::POST,
            "/volumes".to_string(),
            Some(json!({"volume": {"snapshot_id": missing}})),
        ),
        (Method::GET, format!("/types/{missing}"), None),
    ] {
        let a = gw.demo(method.clone(), &path, body).await;
        assert_fault(&a, 404, "itemNotFound");
        if path.starts_with("/volumes/") {
            assert_eq!(
                a.body["itemNotFound"]["message"],
                format!("Volume {missing} could not be found.")
            );
        }
    }
    let a = gw
        .demo(
            Method::POST,
            "/volumes",
            Some(json!({"volume": {"size": 1, "volume_type": "nope"}})),
        )
        .await;
    assert_fault(&a, 404, "itemNotFound");
    assert_eq!(
        a.body["itemNotFound"]["message"],
        "Volume type with name nope could not be found."
    );
}

#[tokio::test]
async fn bad_bodies_are_400_and_create_nothing() {
    let gw = start().await;
    let path = format!("{}/v3/{}/volumes", gw.base, gw.demo_project);
    let resp = gw
        .http
        .post(&path)
        .header("x-auth-token", &gw.demo)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    for body in [
        json!({}),
        json!({"volume": 3}),
        json!({"volume": {"size": "abc"}}),
        json!({"volume": {"size": 0}}),
        json!({"volume": {"size": -4}}),
        json!({"volume": {"size": 1, "availability_zone": ""}}),
        json!({"volume": {"size": 1, "availability_zone": 7}}),
        json!({"volume": {"size": 1, "volume_type": ["x"]}}),
        json!({"volume": {"size": 1, "snapshot_id": 12}}),
        json!([]),
    ] {
        let a = gw.demo(Method::POST, "/volumes", Some(body.clone())).await;
        assert_fault(&a, 400, "badRequest");
    }
    for (path, body) in [
        ("/snapshots", json!({"snapshot": {"name": "no volume"}})),
        ("/snapshots", json!({"nope": {}})),
        ("/backups", json!({"backup": {}})),
        (
            "/os-quota-sets/x",
            json!({"quota_set": {"volumes": "many"}}),
        ),
    ] {
        let a = gw
            .call(
                &gw.admin,
                Method::POST,
                &format!("/v3{path}"),
                Some(body.clone()),
            )
            .await;
        if path.starts_with("/os-quota-sets") {
            assert_eq!(a.status, 405, "{}", a.body);
            let a = gw
                .call(&gw.admin, Method::PUT, &format!("/v3{path}"), Some(body))
                .await;
            assert_fault(&a, 400, "badRequest");
        } else {
            assert_fault(&a, 400, "badRequest");
        }
    }
    // An action body must name one action.
    let v = gw.create_volume(json!({"size": 1})).await;
    let a = gw
        .demo(
            Method::POST,
            &format!("/volumes/{}/action", v["id"].as_str().unwrap()),
            Some(json!({})),
        )
        .await;
    assert_fault(&a, 400, "badRequest");
    // A bad size in os-extend is the pod's 400; nothing changes.
    let a = gw
        .demo(
            Method::POST,
            &format!("/volumes/{}/action", v["id"].as_str().unwrap()),
            Some(json!({"os-extend": {"new_size": "big"}})),
        )
        .await;
    assert_fault(&a, 400, "badRequest");
    assert_eq!(
        gw.pod1.volume().volumes().len() + gw.pod2.volume().volumes().len(),
        1
    );
    assert_eq!(gw.absolute().await["totalVolumesUsed"], 1);
}

#[tokio::test]
async fn quotas_count_across_pods() {
    let gw = start().await;
    let quota_path = format!("/v3/{}/os-quota-sets/{}", gw.demo_project, gw.demo_project);
    // Only admins set quotas.
    let a = gw
        .demo(
            Method::PUT,
            &format!("/os-quota-sets/{}", gw.demo_project),
            Some(json!({"quota_set": {"volumes": 2}})),
        )
        .await;
    assert_fault(&a, 403, "forbidden");
    let a = gw
        .call(
            &gw.admin,
            Method::PUT,
            &format!("/v3/os-quota-sets/{}", gw.demo_project),
            Some(json!({"quota_set": {"volumes": 2, "gigabytes": 10}})),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["quota_set"]["volumes"], 2);

    gw.create_volume(json!({"size": 4, "availability_zone": "az1"}))
        .await;
    gw.create_volume(json!({"size": 4, "availability_zone": "az2"}))
        .await;
    let a = gw
        .demo(
            Method::POST,
            "/volumes",
            Some(json!({"volume": {"size": 1, "availability_zone": "az1"}})),
        )
        .await;
    assert_fault(&a, 413, "overLimit");
    assert_eq!(
        a.body["overLimit"]["message"],
        "VolumeLimitExceeded: Maximum number of volumes allowed (2) exceeded for quota 'volumes'."
    );
    assert_eq!(gw.pod1.volume().volumes().len(), 1);
    assert_eq!(gw.pod2.volume().volumes().len(), 1);

    let a = gw
        .call(
            &gw.demo,
            Method::GET,
            &format!("{quota_path}?usage=True"),
            None,
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(
        a.body["quota_set"]["volumes"],
        json!({"limit": 2, "in_use": 2, "reserved": 0})
    );
    assert_eq!(a.body["quota_set"]["gigabytes"]["in_use"], 8);
    assert_eq!(a.body["quota_set"]["backups"]["limit"], 10);
    assert_eq!(a.body["quota_set"]["id"], json!(gw.demo_project));

    // Gigabytes count across pods too.
    gw.call(
        &gw.admin,
        Method::PUT,
        &format!("/v3/os-quota-sets/{}", gw.demo_project),
        Some(json!({"quota_set": {"volumes": 5}})),
    )
    .await;
    let a = gw
        .demo(
            Method::POST,
            "/volumes",
            Some(json!({"volume": {"size": 3, "availability_zone": "az2"}})),
        )
        .await;
    assert_fault(&a, 413, "overLimit");
    assert!(
        a.body["overLimit"]["message"]
            .as_str()
            .unwrap()
            .starts_with("VolumeSizeExceedsAvailableQuota:"),
        "{}",
        a.body
    );

    // A limit below the usage is refused; defaults; delete.
    let a = gw
        .call(
            &gw.admin,
            Method::PUT,
            &format!("/v3/os-quota-sets/{}", gw.demo_project),
            Some(json!({"quota_set": {"volumes": 1}})),
        )
        .await;
    assert_fault(&a, 400, "badRequest");
    let a = gw
        .call(
            &gw.admin,
            Method::PUT,
            "/v3/os-quota-sets/x",
            Some(json!({"quota_set": {"pools": 1}})),
        )
        .await;
    assert_eq!(
        a.body["badRequest"]["message"],
        "Bad key(s) in quota set: pools"
    );
    let a = gw
        .demo(
            Method::GET,
            &format!("/os-quota-sets/{}/defaults", gw.demo_project),
            None,
        )
        .await;
    assert_eq!(a.body["quota_set"]["volumes"], 10, "{}", a.body);
    let a = gw
        .demo(Method::GET, "/os-quota-sets/someone-else", None)
        .await;
    assert_fault(&a, 403, "forbidden");
    let a = gw
        .call(
            &gw.admin,
            Method::DELETE,
            &format!("/v3/os-quota-sets/{}", gw.demo_project),
            None,
        )
        .await;
    assert_eq!(a.status, 200);
    let abs = gw.absolute().await;
    assert_eq!(abs["maxTotalVolumes"], 10);
    assert_eq!(abs["totalVolumesUsed"], 2);
    assert_eq!(abs["totalGigabytesUsed"], 8);
    assert_eq!(abs["maxTotalBackups"], 10);
}

#[tokio::test]
async fn snapshots_follow_their_volume() {
    let gw = start().await;
    let v = gw
        .create_volume(json!({"size": 3, "availability_zone": "az2"}))
        .await;
    let vid = v["id"].as_str().unwrap();
    let a = gw
        .demo(
            Method::POST,
            "/snapshots",
            Some(json!({"snapshot": {"volume_id": vid, "name": "snap"}})),
        )
        .await;
    assert_eq!(a.status, 202, "{}", a.body);
    let sid = a.body["snapshot"]["id"].as_str().unwrap().to_string();
    assert_eq!(
        gw.routing_pod(&sid, "snapshot").await,
        Some(gw.pod2_id.clone())
    );
    let s = gw
        .wait_for(&format!("/snapshots/{sid}"), "snapshot", "available")
        .await;
    assert_eq!(s["volume_id"], json!(vid));
    let abs = gw.absolute().await;
    assert_eq!(abs["totalSnapshotsUsed"], 1);
    assert_eq!(abs["totalGigabytesUsed"], 6);

    let a = gw.demo(Method::GET, "/snapshots/detail", None).await;
    assert_eq!(
        a.body["snapshots"].as_array().unwrap().len(),
        1,
        "{}",
        a.body
    );

    // A volume from the snapshot goes to the same pod; another AZ is refused.
    let a = gw
        .demo(
            Method::POST,
            "/volumes",
            Some(json!({"volume": {"snapshot_id": sid, "availability_zone": "az1"}})),
        )
        .await;
    assert_fault(&a, 400, "badRequest");
    assert_eq!(
        a.body["badRequest"]["message"],
        "Invalid input received: Volume must be in the same availability zone as the snapshot"
    );
    let a = gw
        .demo(
            Method::POST,
            "/volumes",
            Some(json!({"volume": {"snapshot_id": sid}})),
        )
        .await;
    assert_eq!(a.status, 202, "{}", a.body);
    let clone = a.body["volume"]["id"].as_str().unwrap().to_string();
    assert_eq!(
        gw.routing_pod(&clone, "volume").await,
        Some(gw.pod2_id.clone())
    );
    let c = gw
        .wait_for(&format!("/volumes/{clone}"), "volume", "available")
        .await;
    assert_eq!(c["size"], 3);
    assert_eq!(c["availability_zone"], "az2");
    assert_eq!(gw.absolute().await["totalGigabytesUsed"], 9);

    // Snapshot quota across pods.
    gw.call(
        &gw.admin,
        Method::PUT,
        &format!("/v3/os-quota-sets/{}", gw.demo_project),
        Some(json!({"quota_set": {"snapshots": 1}})),
    )
    .await;
    let a = gw
        .demo(
            Method::POST,
            "/snapshots",
            Some(json!({"snapshot": {"volume_id": clone}})),
        )
        .await;
    assert_fault(&a, 413, "overLimit");
    assert_eq!(
        a.body["overLimit"]["message"],
        "SnapshotLimitExceeded: Maximum number of snapshots allowed (1) exceeded"
    );

    // Deleting a volume with its snapshots forgets them all.
    let a = gw
        .call(
            &gw.admin,
            Method::PUT,
            &format!("/v3/os-quota-sets/{}", gw.demo_project),
            Some(json!({"quota_set": {"snapshots": 5}})),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let a = gw
        .demo(
            Method::POST,
            "/snapshots",
            Some(json!({"snapshot": {"volume_id": clone}})),
        )
        .await;
    assert_eq!(a.status, 202, "{}", a.body);
    let clone_snap = a.body["snapshot"]["id"].as_str().unwrap().to_string();
    gw.wait_for(&format!("/snapshots/{clone_snap}"), "snapshot", "available")
        .await;
    let a = gw
        .demo(
            Method::DELETE,
            &format!("/volumes/{clone}?cascade=true"),
            None,
        )
        .await;
    assert_eq!(a.status, 202, "{}", a.body);
    assert_eq!(gw.absolute().await["totalSnapshotsUsed"], 1);
    gw.wait_gone(&format!("/volumes/{clone}"), "volume").await;
    gw.wait_gone(&format!("/snapshots/{clone_snap}"), "snapshot")
        .await;
    assert_eq!(gw.routing_pod(&clone, "volume").await, None);
    assert_eq!(gw.routing_pod(&clone_snap, "snapshot").await, None);

    let a = gw
        .demo(Method::DELETE, &format!("/snapshots/{sid}"), None)
        .await;
    assert_eq!(a.status, 202, "{}", a.body);
    assert_eq!(gw.absolute().await["totalSnapshotsUsed"], 0);
    gw.wait_gone(&format!("/snapshots/{sid}"), "snapshot").await;
    assert_eq!(gw.routing_pod(&sid, "snapshot").await, None);
}

#[tokio::test]
async fn volume_types_are_copied_to_pods_on_first_use() {
    let gw = start().await;
    // Only admins create types; bad bodies are 400.
    let body = json!({"volume_type": {"name": "gold", "description": "fast", "extra_specs": {"volume_backend_name": "lvmdriver-1"}}});
    let a = gw.demo(Method::POST, "/types", Some(body.clone())).await;
    assert_fault(&a, 403, "forbidden");
    for bad in [
        json!({"volume_type": {}}),
        json!({"volume_type": {"name": " "}}),
        json!({"volume_type": {"name": "x", "extra_specs": {"k": 1}}}),
        json!({"volume_type": {"name": "x", "color": "red"}}),
    ] {
        let a = gw
            .call(&gw.admin, Method::POST, "/v3/types", Some(bad))
            .await;
        assert_fault(&a, 400, "badRequest");
    }
    let a = gw
        .call(&gw.admin, Method::POST, "/v3/types", Some(body.clone()))
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let gold = a.body["volume_type"].clone();
    let gold_id = gold["id"].as_str().unwrap().to_string();
    assert_eq!(gold["os-volume-type-access:is_public"], true);
    assert_eq!(gold["extra_specs"]["volume_backend_name"], "lvmdriver-1");
    let a = gw
        .call(&gw.admin, Method::POST, "/v3/types", Some(body))
        .await;
    assert_fault(&a, 409, "conflictingRequest");

    // Users see it (without admin-only extra specs).
    let a = gw.demo(Method::GET, "/types", None).await;
    let listed = a.body["volume_types"].as_array().unwrap();
    // Cinder's default type, then gold.
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0]["name"], "__DEFAULT__");
    assert_eq!(listed[1]["name"], "gold");
    assert_eq!(listed[1]["extra_specs"], json!({}));
    let a = gw
        .demo(Method::GET, &format!("/types/{gold_id}"), None)
        .await;
    assert_eq!(a.body["volume_type"]["name"], "gold");

    // Not in Pod2 yet; a volume of that type there copies it first.
    assert!(!gw.pod2.volume().type_names().contains(&"gold".to_string()));
    let v = gw
        .create_volume(json!({"size": 1, "volume_type": "gold", "availability_zone": "az2"}))
        .await;
    assert_eq!(v["volume_type"], "gold");
    assert!(gw.pod2.volume().type_names().contains(&"gold".to_string()));
    assert!(!gw.pod1.volume().type_names().contains(&"gold".to_string()));
    // By id too, and only one copy per pod.
    let path = format!("/v3/{}/volumes", gw.demo_project);
    let a = gw
        .send(
            &gw.demo,
            Method::POST,
            &path,
            Some(
                json!({"volume": {"size": 1, "volume_type": gold_id, "availability_zone": "az2"}}),
            ),
            &[("openstack-api-version", "volume 3.63")],
        )
        .await;
    assert_eq!(a.status, 202, "{}", a.body);
    assert_eq!(
        a.body["volume"]["volume_type_id"],
        json!(gold_id),
        "top type id shown"
    );
    let golds = gw
        .pod2
        .volume()
        .type_names()
        .iter()
        .filter(|n| *n == "gold")
        .count();
    assert_eq!(golds, 1);

    // Extra specs and renames follow the copies.
    let a = gw
        .call(
            &gw.admin,
            Method::POST,
            &format!("/v3/types/{gold_id}/extra_specs"),
            Some(json!({"extra_specs": {"multiattach": "<is> True"}})),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let a = gw
        .demo(
            Method::GET,
            &format!("/types/{gold_id}/extra_specs/multiattach"),
            None,
        )
        .await;
    assert_eq!(a.body["multiattach"], "<is> True", "{}", a.body);
    let a = gw
        .call(
            &gw.admin,
            Method::PUT,
            &format!("/v3/types/{gold_id}"),
            Some(json!({"volume_type": {"name": "platinum"}})),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(gw
        .pod2
        .volume()
        .type_names()
        .contains(&"platinum".to_string()));
    let v = gw
        .create_volume(json!({"size": 1, "volume_type": "platinum", "availability_zone": "az2"}))
        .await;
    assert_eq!(v["volume_type"], "platinum");

    // Retyping to a type the pod lacks copies it there first.
    let plain = gw
        .create_volume(json!({"size": 1, "availability_zone": "az1"}))
        .await;
    let pid = plain["id"].as_str().unwrap();
    assert!(!gw
        .pod1
        .volume()
        .type_names()
        .contains(&"platinum".to_string()));
    let a = gw
        .demo(
            Method::POST,
            &format!("/volumes/{pid}/action"),
            Some(json!({"os-retype": {"new_type": gold_id}})),
        )
        .await;
    assert_eq!(a.status, 202, "{}", a.body);
    assert!(gw
        .pod1
        .volume()
        .type_names()
        .contains(&"platinum".to_string()));
    let retyped = gw
        .wait_for(&format!("/volumes/{pid}"), "volume", "available")
        .await;
    assert_eq!(retyped["volume_type"], "platinum");

    // A private type: only with access.
    let a = gw
        .call(&gw.admin, Method::POST, "/v3/types", Some(json!({"volume_type": {"name": "secret", "os-volume-type-access:is_public": false}})))
        .await;
    let secret = a.body["volume_type"]["id"].as_str().unwrap().to_string();
    let a = gw
        .demo(
            Method::POST,
            "/volumes",
            Some(
                json!({"volume": {"size": 1, "volume_type": "secret", "availability_zone": "az1"}}),
            ),
        )
        .await;
    assert_fault(&a, 404, "itemNotFound");
    let a = gw
        .call(
            &gw.admin,
            Method::POST,
            &format!("/v3/types/{secret}/action"),
            Some(json!({"addProjectAccess": {"project": gw.demo_project}})),
        )
        .await;
    assert_eq!(a.status, 202, "{}", a.body);
    let a = gw
        .call(
            &gw.admin,
            Method::GET,
            &format!("/v3/types/{secret}/os-volume-type-access"),
            None,
        )
        .await;
    assert_eq!(
        a.body["volume_type_access"],
        json!([{"volume_type_id": secret, "project_id": gw.demo_project}])
    );
    let v = gw
        .create_volume(json!({"size": 1, "volume_type": "secret", "availability_zone": "az1"}))
        .await;
    assert_eq!(v["volume_type"], "secret");
    let a = gw
        .call(&gw.admin, Method::GET, "/v3/types?is_public=None", None)
        .await;
    assert_eq!(a.body["volume_types"].as_array().unwrap().len(), 3);

    // A type in use in a pod cannot be deleted; an unused one can.
    let a = gw
        .call(
            &gw.admin,
            Method::DELETE,
            &format!("/v3/types/{gold_id}"),
            None,
        )
        .await;
    assert_eq!(a.status, 400, "{}", a.body);
    let a = gw
        .call(
            &gw.admin,
            Method::POST,
            "/v3/types",
            Some(json!({"volume_type": {"name": "spare"}})),
        )
        .await;
    let spare = a.body["volume_type"]["id"].as_str().unwrap().to_string();
    let a = gw
        .call(
            &gw.admin,
            Method::DELETE,
            &format!("/v3/types/{spare}"),
            None,
        )
        .await;
    assert_eq!(a.status, 202, "{}", a.body);
    let a = gw
        .call(&gw.admin, Method::GET, &format!("/v3/types/{spare}"), None)
        .await;
    assert_fault(&a, 404, "itemNotFound");
}

#[tokio::test]
async fn backups_zones_and_limits() {
    let gw = start().await;
    let a = gw.demo(Method::GET, "/os-availability-zone", None).await;
    assert_eq!(
        a.body,
        json!({"availabilityZoneInfo": [
            {"zoneName": "az1", "zoneState": {"available": true}},
            {"zoneName": "az2", "zoneState": {"available": true}}
        ]})
    );
    let abs = gw.absolute().await;
    assert_eq!(abs["maxTotalVolumes"], 10);
    assert_eq!(abs["maxTotalVolumeGigabytes"], 1000);
    assert_eq!(abs["totalVolumesUsed"], 0);

    let v = gw
        .create_volume(json!({"size": 2, "availability_zone": "az2"}))
        .await;
    let vid = v["id"].as_str().unwrap();
    let a = gw
        .demo(
            Method::POST,
            "/backups",
            Some(json!({"backup": {"volume_id": vid, "name": "b1"}})),
        )
        .await;
    assert_eq!(a.status, 202, "{}", a.body);
    let bid = a.body["backup"]["id"].as_str().unwrap().to_string();
    assert_eq!(
        gw.routing_pod(&bid, "backup").await,
        Some(gw.pod2_id.clone())
    );
    let b = gw
        .wait_for(&format!("/backups/{bid}"), "backup", "available")
        .await;
    assert_eq!(b["availability_zone"], "az2", "{b}");
    let a = gw.demo(Method::GET, "/backups/detail", None).await;
    assert_eq!(a.body["backups"].as_array().unwrap().len(), 1, "{}", a.body);
    gw.wait_for(&format!("/volumes/{vid}"), "volume", "available")
        .await;

    // Restored into a new volume: in the backup's pod, counted.
    let a = gw
        .demo(
            Method::POST,
            &format!("/backups/{bid}/restore"),
            Some(json!({"restore": {"name": "back"}})),
        )
        .await;
    assert_eq!(a.status, 202, "{}", a.body);
    let restored = a.body["restore"]["volume_id"].as_str().unwrap().to_string();
    assert_eq!(
        gw.routing_pod(&restored, "volume").await,
        Some(gw.pod2_id.clone())
    );
    assert_eq!(gw.absolute().await["totalVolumesUsed"], 2);
}

/// Every volume route that takes a body answers malformed or wrongly shaped
/// input with a 4xx in Cinder's format: never a 5xx, never a panic.
#[tokio::test]
async fn bad_bodies_on_every_route_are_4xx() {
    let gw = start().await;
    let vol = gw
        .create_volume(json!({"size": 1, "availability_zone": "az1"}))
        .await;
    let vid = vol["id"].as_str().unwrap().to_string();
    let t = gw
        .call(
            &gw.admin.clone(),
            Method::POST,
            "/v3/types",
            Some(json!({"volume_type": {"name": "t1"}})),
        )
        .await;
    assert_eq!(t.status, 200, "{}", t.body);
    let tid = t.body["volume_type"]["id"].as_str().unwrap().to_string();
    let p = gw.demo_project.clone();
    let routes: Vec<(Method, String, bool)> = vec![
        (Method::POST, format!("/v3/{p}/volumes"), false),
        (Method::PUT, format!("/v3/{p}/volumes/{vid}"), false),
        (Method::POST, format!("/v3/{p}/volumes/{vid}/action"), false),
        (
            Method::POST,
            format!("/v3/{p}/volumes/{vid}/metadata"),
            false,
        ),
        (Method::POST, format!("/v3/{p}/snapshots"), false),
        (Method::POST, "/v3/types".into(), true),
        (Method::PUT, format!("/v3/types/{tid}"), true),
        (Method::POST, format!("/v3/types/{tid}/extra_specs"), true),
        (Method::POST, format!("/v3/types/{tid}/action"), true),
        (Method::PUT, format!("/v3/os-quota-sets/{p}"), true),
    ];
    for (method, path, admin) in routes {
        let token = if admin {
            gw.admin.clone()
        } else {
            gw.demo.clone()
        };
        for body in [
            &b"{"[..],
            b"[]",
            b"\"text\"",
            b"{\"unexpected\": {\"x\": [1, {}]}}",
            b"",
        ] {
            let r = gw
                .http
                .request(method.clone(), format!("{}{path}", gw.base))
                .header("x-auth-token", &token)
                .header("content-type", "application/json")
                .body(body.to_vec())
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            let text = r.text().await.unwrap();
            assert!(
                (400..500).contains(&status),
                "{method} {path} with {:?} -> {status} {text}",
                String::from_utf8_lossy(body)
            );
            let v: Value = serde_json::from_str(&text)
                .unwrap_or_else(|_| panic!("{method} {path}: not JSON: {text}"));
            let fault = v.as_object().and_then(|o| o.values().next()).unwrap();
            assert_eq!(fault["code"], json!(status), "{method} {path}: {text}");
        }
    }
    let a = gw.demo(Method::GET, &format!("/volumes/{vid}"), None).await;
    assert_eq!(a.body["volume"]["status"], "available", "{}", a.body);
}

/// A volume create whose answer is lost (the pod made the volume, then
/// answered after the gateway gave up) is told 503 and leaves a check job,
/// which deletes that volume in the pod and leaves alone the volume of the
/// same name the gateway knows. Run again, it changes nothing.
#[tokio::test]
async fn a_lost_volume_create_answer_is_cleaned_up_by_its_check_job() {
    let gw = start().await;
    let kept = gw
        .create_volume(json!({"size": 1, "name": "twin", "availability_zone": "az1"}))
        .await;
    let prefix = format!("/volume/v3/{}/volumes", gw.demo_project);
    gw.pod1.set_answer_delay(&prefix, Duration::from_secs(6));
    let a = gw
        .demo(
            Method::POST,
            "/volumes",
            Some(json!({"volume": {"size": 1, "name": "twin", "availability_zone": "az1"}})),
        )
        .await;
    assert_fault(&a, 503, "serviceUnavailable");
    gw.pod1.set_answer_delay(&prefix, Duration::ZERO);
    let twins = || -> Vec<String> {
        gw.pod1
            .volume()
            .volumes()
            .iter()
            .filter(|v| v["name"] == "twin" && v["status"] != "deleting")
            .map(|v| v["id"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(twins().len(), 2, "the pod made the second volume");

    let filter = tricircle_store::JobFilter {
        job_type: Some(create_checks::VOLUME_CREATE_CHECK.to_string()),
        ..Default::default()
    };
    let jobs = gw.store.list_jobs(&filter, None, 10).await.unwrap().jobs;
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    let job = &jobs[0];
    // Workers leave it until the pod has settled.
    assert!(
        job.run_after.as_deref() > Some(job.created_at.as_str()),
        "{job:?}"
    );
    let registry = create_checks::register(tricircle_jobs::Registry::new(), gw.checks.clone());
    let handler = registry.handler(&job.job_type).unwrap();
    for _ in 0..2 {
        // A volume still being made is left for a later run.
        let mut outcome = handler.run(job).await;
        for _ in 0..50 {
            if outcome.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
            outcome = handler.run(job).await;
        }
        outcome.unwrap();
        for _ in 0..100 {
            if twins().len() == 1 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(twins(), vec![kept["id"].as_str().unwrap().to_string()]);
    }
    assert!(gw
        .pod1
        .volume()
        .volume(kept["id"].as_str().unwrap())
        .is_some());
}

#[tokio::test]
async fn sub_resources_cannot_leave_their_volume() {
    let gw = start().await;
    let v = gw
        .create_volume(json!({"size": 1, "availability_zone": "az1"}))
        .await;
    let id = v["id"].as_str().unwrap().to_string();
    let before = (
        gw.pod1.volume().volumes().len(),
        gw.pod2.volume().volumes().len(),
    );
    let hdrs = [("x-auth-token", gw.demo.as_str())];
    let create = r#"{"volume": {"size": 900}}"#;
    for collection in ["volumes", "snapshots", "backups"] {
        for tail in [
            "..%2F..%2Fvolumes",
            "..%2f..%2fvolumes",
            "../../volumes",
            "%2E%2E/%2E%2E/volumes",
            "..%252F..%252Fvolumes",
            "..;/..;/volumes",
            "..%5C..%5Cvolumes",
            "metadata/..%2F..%2F..%2Fvolumes",
            "metadata/a%00b",
            "nothing-here",
        ] {
            let path = format!("/v3/{}/{collection}/{id}/{tail}", gw.demo_project);
            for method in ["GET", "POST", "PUT"] {
                let body = (method != "GET").then_some(create);
                let (s, b) = common::raw_request(&gw.base, &hdrs, method, &path, body).await;
                assert!(s == 404 || s == 405, "{method} {path}: {s} {b}");
                let v: Value = serde_json::from_str(&b).unwrap_or(Value::Null);
                assert!(
                    v.get("itemNotFound").is_some() || v.get("badMethod").is_some(),
                    "{method} {path}: not Cinder's format: {b}"
                );
            }
        }
    }
    assert_eq!(
        (
            gw.pod1.volume().volumes().len(),
            gw.pod2.volume().volumes().len()
        ),
        before
    );
    // Metadata still passes.
    let a = gw
        .demo(
            Method::POST,
            &format!("/volumes/{id}/metadata"),
            Some(json!({"metadata": {"k": "v"}})),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let a = gw
        .demo(Method::GET, &format!("/volumes/{id}/metadata/k"), None)
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["meta"]["k"], "v", "{}", a.body);
}

/// A path segment that does not decode to UTF-8 is refused in Cinder's
/// format.
#[tokio::test]
async fn undecodable_path_segments_get_cinder_errors() {
    let gw = start().await;
    let hdrs = [("x-auth-token", gw.demo.as_str())];
    for path in [
        "/v3/volumes/%FF%FE",
        "/v3/snapshots/%C0%AE%C0%AE",
        "/v3/types/%FF",
        "/v3/os-quota-sets/%FF",
    ] {
        let (s, b) = common::raw_request(&gw.base, &hdrs, "GET", path, None).await;
        assert!((400..500).contains(&s), "{path}: {s} {b}");
        let v: Value = serde_json::from_str(&b).unwrap_or(Value::Null);
        let fault = v.as_object().and_then(|o| o.values().next());
        assert!(
            fault.is_some_and(|f| f["code"] == s && f["message"].is_string()),
            "{path}: not Cinder's format: {b}"
        );
    }
}

/// A snapshot, volume or backup being deleted is shown `deleting` as long
/// as its pod has it, and is 404 only once the pod no longer has it; its
/// quota is free at once.
#[tokio::test]
async fn deleting_resources_stay_visible_until_their_pod_lets_them_go() {
    let gw = start().await;
    let v = gw
        .create_volume(json!({"size": 1, "availability_zone": "az1"}))
        .await;
    let vid = v["id"].as_str().unwrap().to_string();
    let a = gw
        .demo(
            Method::POST,
            "/snapshots",
            Some(json!({"snapshot": {"volume_id": vid, "name": "s"}})),
        )
        .await;
    assert_eq!(a.status, 202, "{}", a.body);
    let sid = a.body["snapshot"]["id"].as_str().unwrap().to_string();
    gw.wait_for(&format!("/snapshots/{sid}"), "snapshot", "available")
        .await;
    let a = gw
        .demo(
            Method::POST,
            "/backups",
            Some(json!({"backup": {"volume_id": vid, "name": "b"}})),
        )
        .await;
    assert_eq!(a.status, 202, "{}", a.body);
    let bid = a.body["backup"]["id"].as_str().unwrap().to_string();
    gw.wait_for(&format!("/backups/{bid}"), "backup", "available")
        .await;
    gw.wait_for(&format!("/volumes/{vid}"), "volume", "available")
        .await;
    // The pod takes its time from now on: deletes stay `deleting`.
    gw.pod1
        .volume()
        .set_transition_delay(Duration::from_secs(3600));
    for (collection, key, id) in [("snapshots", "snapshot", &sid), ("backups", "backup", &bid)] {
        let a = gw
            .demo(Method::DELETE, &format!("/{collection}/{id}"), None)
            .await;
        assert_eq!(a.status, 202, "{}", a.body);
        let a = gw
            .demo(Method::GET, &format!("/{collection}/{id}"), None)
            .await;
        assert_eq!(
            (a.status, &a.body[key]["status"]),
            (200, &json!("deleting")),
            "{}",
            a.body
        );
        // Its routing went with the accepted delete.
        assert_eq!(gw.routing_pod(id, key).await, None);
    }
    let abs = gw.absolute().await;
    assert_eq!(abs["totalSnapshotsUsed"], 0, "{abs}");
    assert_eq!(abs["totalBackupsUsed"], 0, "{abs}");
    gw.pod1.volume().finish_transitions();
    for (collection, key, id) in [("snapshots", "snapshot", &sid), ("backups", "backup", &bid)] {
        let a = gw
            .demo(Method::GET, &format!("/{collection}/{id}"), None)
            .await;
        assert_fault(&a, 404, "itemNotFound");
        assert_eq!(gw.routing_pod(id, key).await, None);
    }
    let a = gw
        .demo(Method::DELETE, &format!("/volumes/{vid}"), None)
        .await;
    assert_eq!(a.status, 202, "{}", a.body);
    let a = gw.demo(Method::GET, &format!("/volumes/{vid}"), None).await;
    assert_eq!(
        (a.status, &a.body["volume"]["status"]),
        (200, &json!("deleting")),
        "{}",
        a.body
    );
    assert_eq!(gw.absolute().await["totalVolumesUsed"], 0);
    gw.pod1.volume().finish_transitions();
    let a = gw.demo(Method::GET, &format!("/volumes/{vid}"), None).await;
    assert_fault(&a, 404, "itemNotFound");
    assert_eq!(gw.routing_pod(&vid, "volume").await, None);
}

/// Cinder takes its model's column names as sort keys: `display_name`
/// (and `name`) on volumes and snapshots, across pods.
#[tokio::test]
async fn lists_sort_by_display_name_as_cinder_does() {
    let gw = start().await;
    let mut snaps = Vec::new();
    for (name, az) in [("b-vol", "az1"), ("c-vol", "az2"), ("a-vol", "az2")] {
        let v = gw
            .create_volume(json!({"size": 1, "name": name, "availability_zone": az}))
            .await;
        let vid = v["id"].as_str().unwrap().to_string();
        let a = gw
            .demo(
                Method::POST,
                "/snapshots",
                Some(json!({"snapshot": {"volume_id": vid, "name": name.replace("vol", "snap")}})),
            )
            .await;
        assert_eq!(a.status, 202, "{}", a.body);
        snaps.push(a.body["snapshot"]["id"].as_str().unwrap().to_string());
    }
    for id in &snaps {
        gw.wait_for(&format!("/snapshots/{id}"), "snapshot", "available")
            .await;
    }
    let names = |body: &Value, key: &str| -> Vec<String> {
        body[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["name"].as_str().unwrap().to_string())
            .collect()
    };
    for (collection, stem) in [("volumes", "vol"), ("snapshots", "snap")] {
        let asc: Vec<String> = ["a", "b", "c"]
            .iter()
            .map(|p| format!("{p}-{stem}"))
            .collect();
        let desc: Vec<String> = asc.iter().rev().cloned().collect();
        for (query, want) in [
            ("sort_key=display_name&sort_dir=asc", &asc),
            ("sort_key=name&sort_dir=asc", &asc),
            ("sort_key=display_name", &desc),
            ("sort=display_name:asc", &asc),
        ] {
            for path in [
                format!("/{collection}?{query}"),
                format!("/{collection}/detail?{query}"),
            ] {
                let a = gw.demo(Method::GET, &path, None).await;
                assert_eq!(a.status, 200, "{path}: {}", a.body);
                assert_eq!(&names(&a.body, collection), want, "{path}");
            }
        }
        let a = gw
            .demo(
                Method::GET,
                &format!("/{collection}?sort_key=display_name&sort_dir=asc&limit=2"),
                None,
            )
            .await;
        assert_eq!(names(&a.body, collection), asc[..2].to_vec());
        let a = gw
            .demo(Method::GET, &format!("/{collection}?sort_key=color"), None)
            .await;
        assert_fault(&a, 400, "badRequest");
    }
}

#[tokio::test]
async fn extensions_list_what_the_gateway_serves() {
    let gw = start().await;
    let a = gw.demo(Method::GET, "/extensions", None).await;
    assert_eq!(a.status, 200, "{}", a.body);
    let exts = a.body["extensions"].as_array().unwrap();
    for e in exts {
        let keys: HashSet<&str> = e.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            HashSet::from(["name", "alias", "description", "updated", "links"]),
            "{e}"
        );
        assert_eq!(e["links"], json!([]));
    }
    let aliases: HashSet<&str> = exts.iter().filter_map(|e| e["alias"].as_str()).collect();
    for served in [
        "os-availability-zone",
        "os-quota-sets",
        "os-volume-actions",
        "os-types-manage",
        "os-volume-type-access",
        "os-volume-transfer",
        "encryption",
        "backups",
    ] {
        assert!(aliases.contains(served), "{served}: {aliases:?}");
    }
    // What the gateway does not serve is not listed.
    for absent in ["os-hosts", "qos-specs"] {
        assert!(!aliases.contains(absent), "{absent}");
    }
    let quotas = exts.iter().find(|e| e["alias"] == "os-quota-sets").unwrap();
    assert_eq!(quotas["name"], "Quotas");
    assert_eq!(quotas["description"], "Quota management support.");
    assert_eq!(quotas["updated"], "2011-08-08T00:00:00+00:00");
    // The same without the project in the path, and under /v2.
    let a = gw.call(&gw.demo, Method::GET, "/v3/extensions", None).await;
    assert_eq!(a.status, 200, "{}", a.body);
    let a = gw.call(&gw.demo, Method::GET, "/v2/extensions", None).await;
    assert_eq!(a.status, 200, "{}", a.body);
    // A token is needed.
    let a = gw.call("bogus", Method::GET, "/v3/extensions", None).await;
    assert_eq!(a.status, 401, "{}", a.body);
}

#[tokio::test]
async fn a_snapshot_of_a_null_volume_is_cinders_404() {
    let gw = start().await;
    let a = gw
        .demo(
            Method::POST,
            "/snapshots",
            Some(json!({"snapshot": {"volume_id": null, "name": "s"}})),
        )
        .await;
    assert_fault(&a, 404, "itemNotFound");
    assert_eq!(
        a.body["itemNotFound"]["message"],
        "Volume None could not be found."
    );
    // No volume_id at all is still the schema's 400.
    let a = gw
        .demo(
            Method::POST,
            "/snapshots",
            Some(json!({"snapshot": {"name": "s"}})),
        )
        .await;
    assert_fault(&a, 400, "badRequest");
    let a = gw.demo(Method::GET, "/snapshots", None).await;
    assert_eq!(a.body["snapshots"], json!([]), "{}", a.body);
}

#[tokio::test]
async fn volume_type_create_and_update_answer_cinders_manage_view() {
    let gw = start().await;
    let a = gw
        .call(
            &gw.admin,
            Method::POST,
            "/v3/types",
            Some(json!({"volume_type": {"name": "silver", "extra_specs": {"k": "v"}}})),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let t = a.body["volume_type"].as_object().unwrap();
    let keys: HashSet<&str> = t.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        HashSet::from([
            "id",
            "name",
            "description",
            "is_public",
            "extra_specs",
            "os-volume-type-access:is_public"
        ]),
        "{}",
        a.body
    );
    let id = t["id"].as_str().unwrap().to_string();
    // The update answer has neither qos_specs_id nor the access attribute.
    let a = gw
        .call(
            &gw.admin,
            Method::PUT,
            &format!("/v3/types/{id}"),
            Some(json!({"volume_type": {"description": "d"}})),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let keys: HashSet<&str> = a.body["volume_type"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        HashSet::from(["id", "name", "description", "is_public", "extra_specs"]),
        "{}",
        a.body
    );
    // Show and list (admin) still carry qos_specs_id.
    let a = gw
        .call(&gw.admin, Method::GET, &format!("/v3/types/{id}"), None)
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(
        a.body["volume_type"].get("qos_specs_id").is_some(),
        "{}",
        a.body
    );
}

/// Volume type encryption, as Cinder serves it: admin only, one spec per
/// type, shown whole (or `{}`), by key, updated and deleted by the spec's
/// id; Cinder's 400/404s.
#[tokio::test]
async fn volume_type_encryption_is_kept_with_the_type() {
    let gw = start().await;
    let id = gw.create_type("luks").await;
    let path = format!("/v3/types/{id}/encryption");
    let a = gw.call(&gw.admin, Method::GET, &path, None).await;
    assert_eq!((a.status, a.body.clone()), (200, json!({})));

    let spec = json!({"encryption": {"provider": "luks", "control_location": "front-end"}});
    let a = gw
        .demo(
            Method::POST,
            &format!("/types/{id}/encryption"),
            Some(spec.clone()),
        )
        .await;
    assert_fault(&a, 403, "forbidden");
    for bad in [
        json!({"encryption": {"control_location": "front-end"}}),
        json!({"encryption": {"provider": "luks", "control_location": "middle"}}),
        json!({"encryption": {"provider": "luks", "control_location": "front-end", "key_size": -1}}),
        json!({"encryption": {"provider": "luks", "control_location": "front-end", "colour": 1}}),
        json!({"encrypt": {}}),
    ] {
        let a = gw.call(&gw.admin, Method::POST, &path, Some(bad)).await;
        assert_fault(&a, 400, "badRequest");
    }
    let a = gw
        .call(&gw.admin, Method::POST, &path, Some(spec.clone()))
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let made = a.body["encryption"].clone();
    assert_eq!(made["provider"], "luks");
    assert_eq!(made["volume_type_id"], json!(id));
    let eid = made["encryption_id"].as_str().unwrap().to_string();
    let a = gw.call(&gw.admin, Method::POST, &path, Some(spec)).await;
    assert_fault(&a, 400, "badRequest");

    let a = gw.call(&gw.admin, Method::GET, &path, None).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["provider"], "luks");
    assert_eq!(a.body["control_location"], "front-end");
    assert_eq!(a.body["encryption_id"], json!(eid));
    assert_eq!(a.body["cipher"], Value::Null);
    let a = gw
        .call(&gw.admin, Method::GET, &format!("{path}/provider"), None)
        .await;
    assert_eq!(a.body, json!({"provider": "luks"}));
    let a = gw
        .call(&gw.admin, Method::GET, &format!("{path}/colour"), None)
        .await;
    assert_fault(&a, 404, "itemNotFound");

    // A volume of the type in Pod2: the pod's copy of the type is made
    // with the encryption, so the volume is encrypted; while it exists,
    // the pod refuses changes, and so does the top.
    let v = gw
        .create_volume(json!({"size": 1, "volume_type": "luks", "availability_zone": "az2"}))
        .await;
    let vid = v["id"].as_str().unwrap().to_string();
    assert_eq!(v["encrypted"], true, "{v}");
    assert_eq!(gw.pod2.volume().volume(&vid).unwrap()["encrypted"], true);
    let a = gw
        .call(&gw.admin, Method::DELETE, &format!("{path}/{eid}"), None)
        .await;
    assert_fault(&a, 400, "badRequest");
    assert!(
        a.body["badRequest"]["message"]
            .as_str()
            .unwrap()
            .contains("in use"),
        "{}",
        a.body
    );
    let a = gw.call(&gw.admin, Method::GET, &path, None).await;
    assert_eq!(a.body["provider"], "luks", "the top keeps it too");
    let a = gw
        .demo(Method::DELETE, &format!("/volumes/{vid}"), None)
        .await;
    assert_eq!(a.status, 202, "{}", a.body);
    gw.wait_gone(&format!("/volumes/{vid}"), "volume").await;

    let change = json!({"encryption": {"key_size": 128, "cipher": "aes-xts-plain64", "control_location": "back-end"}});
    let a = gw
        .call(
            &gw.admin,
            Method::PUT,
            &format!("{path}/{eid}"),
            Some(change.clone()),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body, change);
    let a = gw.call(&gw.admin, Method::GET, &path, None).await;
    assert_eq!(a.body["key_size"], 128);
    assert_eq!(a.body["control_location"], "back-end");
    assert_eq!(a.body["provider"], "luks");

    let a = gw
        .call(&gw.admin, Method::DELETE, &format!("{path}/{eid}"), None)
        .await;
    assert_eq!(a.status, 202, "{}", a.body);
    let a = gw.call(&gw.admin, Method::GET, &path, None).await;
    assert_eq!(a.body, json!({}));
    let a = gw
        .call(&gw.admin, Method::DELETE, &format!("{path}/{eid}"), None)
        .await;
    assert_fault(&a, 404, "itemNotFound");
    let a = gw
        .call(
            &gw.admin,
            Method::GET,
            "/v3/types/00000000-0000-4000-8000-000000000000/encryption",
            None,
        )
        .await;
    assert_fault(&a, 404, "itemNotFound");
}

/// Volume transfers: made in the volume's pod, seen only by their project,
/// accepted by another project with the auth key; the volume (its routing
/// and its quota) then belongs to that project at the top as in the pod.
#[tokio::test]
async fn a_volume_transfer_moves_the_volume_and_its_quota() {
    let gw = start().await;
    let (alt, alt_project) = gw.alt().await;
    let v = gw
        .create_volume(json!({"size": 2, "availability_zone": "az2"}))
        .await;
    let vid = v["id"].as_str().unwrap().to_string();
    assert_eq!(gw.in_use(&gw.demo_project).await, (1, 2));
    assert_eq!(gw.in_use(&alt_project).await, (0, 0));

    let a = gw
        .demo(
            Method::POST,
            "/os-volume-transfer",
            Some(json!({"transfer": {"volume_id": vid, "name": "gift"}})),
        )
        .await;
    assert_eq!(a.status, 202, "{}", a.body);
    let t = a.body["transfer"].clone();
    let tid = t["id"].as_str().unwrap().to_string();
    let key = t["auth_key"].as_str().unwrap().to_string();
    assert_eq!(t["volume_id"], json!(vid));
    assert!(
        t["links"][0]["href"]
            .as_str()
            .unwrap()
            .starts_with(&gw.base),
        "links name the gateway: {t}"
    );
    gw.wait_for(&format!("/volumes/{vid}"), "volume", "awaiting-transfer")
        .await;
    let a = gw.demo(Method::GET, "/os-volume-transfer", None).await;
    assert_eq!(a.status, 200, "{}", a.body);
    let ids: Vec<&str> = a.body["transfers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![tid.as_str()]);
    let a = gw
        .demo(Method::GET, &format!("/os-volume-transfer/{tid}"), None)
        .await;
    assert_eq!(a.body["transfer"]["name"], "gift", "{}", a.body);
    assert!(a.body["transfer"].get("auth_key").is_none());

    // Another project does not see it, and needs the key.
    let alt_path = |rest: &str| format!("/v3/{alt_project}{rest}");
    let a = gw
        .call(
            &alt,
            Method::GET,
            &alt_path(&format!("/os-volume-transfer/{tid}")),
            None,
        )
        .await;
    assert_fault(&a, 404, "itemNotFound");
    let accept = alt_path(&format!("/os-volume-transfer/{tid}/accept"));
    let a = gw
        .call(
            &alt,
            Method::POST,
            &accept,
            Some(json!({"accept": {"auth_key": "0000000000000000"}})),
        )
        .await;
    assert_fault(&a, 400, "badRequest");
    assert_eq!(
        gw.in_use(&alt_project).await,
        (0, 0),
        "a refused accept reserves nothing"
    );
    let a = gw
        .call(
            &alt,
            Method::POST,
            &accept,
            Some(json!({"accept": {"auth_key": key}})),
        )
        .await;
    assert_eq!(a.status, 202, "{}", a.body);
    assert_eq!(a.body["transfer"]["volume_id"], json!(vid));

    // The volume is alt's now, at the top as in the pod.
    let a = gw
        .call(
            &alt,
            Method::GET,
            &alt_path(&format!("/volumes/{vid}")),
            None,
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["volume"]["status"], "available");
    let a = gw.demo(Method::GET, &format!("/volumes/{vid}"), None).await;
    assert_fault(&a, 404, "itemNotFound");
    assert_eq!(gw.in_use(&gw.demo_project).await, (0, 0));
    assert_eq!(gw.in_use(&alt_project).await, (1, 2));
    let a = gw
        .demo(Method::GET, &format!("/os-volume-transfer/{tid}"), None)
        .await;
    assert_fault(&a, 404, "itemNotFound");

    // A transfer deleted gives the volume back to its owner as it was.
    let v = gw
        .create_volume(json!({"size": 1, "availability_zone": "az1"}))
        .await;
    let vid = v["id"].as_str().unwrap().to_string();
    let a = gw
        .demo(
            Method::POST,
            "/os-volume-transfer",
            Some(json!({"transfer": {"volume_id": vid}})),
        )
        .await;
    assert_eq!(a.status, 202, "{}", a.body);
    let tid = a.body["transfer"]["id"].as_str().unwrap().to_string();
    let a = gw
        .demo(Method::DELETE, &format!("/os-volume-transfer/{tid}"), None)
        .await;
    assert_eq!(a.status, 202, "{}", a.body);
    gw.wait_for(&format!("/volumes/{vid}"), "volume", "available")
        .await;
    let a = gw
        .demo(Method::GET, "/os-volume-transfer/detail", None)
        .await;
    assert_eq!(a.body["transfers"], json!([]), "{}", a.body);
    assert_eq!(gw.in_use(&gw.demo_project).await, (1, 1));

    // Bad requests.
    for (body, status) in [
        (json!({"transfer": {}}), 400),
        (
            json!({"transfer": {"volume_id": "00000000-0000-4000-8000-000000000000"}}),
            404,
        ),
        (json!({"gift": {"volume_id": vid}}), 400),
    ] {
        let a = gw
            .demo(Method::POST, "/os-volume-transfer", Some(body))
            .await;
        assert_eq!(a.status, status, "{}", a.body);
    }
    let a = gw
        .call(
            &alt,
            Method::POST,
            &alt_path(&format!("/os-volume-transfer/{tid}/accept")),
            Some(json!({"accept": {}})),
        )
        .await;
    assert_fault(&a, 400, "badRequest");
}

/// The create checks as the binary registers them (each domain its own).
mod create_checks {
    pub use tricircle_volume::create_check::VOLUME_CREATE_CHECK;

    pub fn register(
        registry: tricircle_jobs::Registry,
        deps: tricircle_gateway::create_check::CheckDeps,
    ) -> tricircle_jobs::Registry {
        let registry = tricircle_compute::create_check::register(registry, deps.clone());
        tricircle_volume::create_check::register(registry, deps)
    }
}

/// A create refused for its body copies nothing into a pod first (the
/// fuzz found a volume type copied and routed for a create whose metadata
/// the pod then refused), and an encryption id that is no path segment
/// names nothing.
#[tokio::test]
async fn refused_requests_leave_no_copies_and_bad_segments_are_404() {
    let gw = start().await;
    let gold = gw.create_type("gold").await;
    for metadata in [
        json!({"k": -1}),
        json!({"k": true}),
        json!({"bad key!": "x"}),
        json!(["k"]),
    ] {
        let body = json!({"volume": {"size": 1, "volume_type": "gold", "metadata": metadata}});
        let a = gw.demo(Method::POST, "/volumes", Some(body)).await;
        assert_fault(&a, 400, "badRequest");
    }
    assert_eq!(gw.routing_pod(&gold, "volume_type").await, None);
    assert_eq!(
        gw.pod1.volume().volumes().len() + gw.pod2.volume().volumes().len(),
        0
    );
    // Good metadata still goes through, and the type is copied then.
    let v = gw
        .create_volume(json!({"size": 1, "volume_type": "gold", "metadata": {"k": "v"}}))
        .await;
    assert_eq!(v["metadata"]["k"], "v", "{v}");
    assert!(gw.routing_pod(&gold, "volume_type").await.is_some());

    let spec = json!({"encryption": {"provider": "luks", "control_location": "front-end"}});
    for id in ["..;%2F..;%2Fservers", "..", "a%2Fb", "%2E%2E"] {
        let path = format!("/v3/types/{gold}/encryption/{id}");
        let a = gw
            .call(&gw.admin, Method::PUT, &path, Some(spec.clone()))
            .await;
        assert_fault(&a, 404, "itemNotFound");
        let a = gw.call(&gw.admin, Method::DELETE, &path, None).await;
        assert_fault(&a, 404, "itemNotFound");
    }
}
