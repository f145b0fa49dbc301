//! The read APIs an operator reaches for, across two podsim pods: the
//! compute gateway's hypervisors, services, server groups and usage, the
//! volume gateway's services and default volume type; and the checks the
//! compute gateway makes as Nova does (extensions, list dates, block device
//! mappings, image metadata).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use reqwest::header::HeaderMap;
use reqwest::Method;
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tricircle_api::gateway::Gateway;
use tricircle_api::gateway::SKIPPED_PODS_HEADER;
use tricircle_api::{compute_router, volume_router, Authenticator, GatewayState};
use tricircle_pods::{
    EndpointResolver, Interface, KeystoneClient, PodClient, PodClientOptions, ServiceCredentials,
    TokenValidator, ValidatorConfig,
};
use tricircle_podsim::image::ImageService;
use tricircle_podsim::{Credentials, Identity, IdentityConfig, Pod, PodConfig};
use tricircle_store::testing;
use tricircle_store::Usage;

const IMAGE: &str = "6e1b0f9a-9a7c-4c55-b4bb-6f7a1a8a0001";

struct Env {
    compute: String,
    volume: String,
    http: reqwest::Client,
    admin: String,
    demo: String,
    demo_project: String,
    pods: Vec<Pod>,
    /// Notify one to stop that pod's server.
    pod_stops: Vec<Arc<tokio::sync::Notify>>,
    _store: testing::TestStore,
}

async fn serve(router: axum::Router) -> String {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l, router).await });
    url
}

async fn env() -> Env {
    let store = testing::sqlite().await;
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
    let mut pod_stops = Vec::new();
    for (name, az) in [("Pod1", "nova"), ("Pod2", "nova2")] {
        let mut pc = PodConfig::new(name)
            .with_identity(identity.clone())
            .with_images(images.clone());
        pc.availability_zone = az.into();
        let pod = Pod::new(pc);
        let stop = Arc::new(tokio::sync::Notify::new());
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", l.local_addr().unwrap());
        let (router, waiter) = (pod.router(), stop.clone());
        tokio::spawn(async move {
            tricircle_podsim::serve(l, router, async move { waiter.notified().await }).await
        });
        pod_stops.push(stop);
        identity.register_pod(name, &url);
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
    let s = Credentials::service(&cfg);
    let keystone = Arc::new(
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
    );
    let resolver = Arc::new(EndpointResolver::new(
        keystone.clone(),
        Some(store.store.clone()),
        Interface::Public,
    ));
    let client = PodClientOptions {
        timeout: Duration::from_secs(5),
        ..PodClientOptions::default()
    };
    let state = GatewayState::new(
        Gateway {
            store: store.store.clone(),
            pods: PodClient::with_options(resolver, &client).unwrap(),
            tokens: None,
            network: None,
            keystone: keystone.clone(),
            list_deadline: Duration::from_secs(3),
            quota_defaults: Usage {
                instances: 10,
                cores: 20,
                ram_mb: 51200,
                volumes: 10,
                gigabytes: 1000,
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
    let compute = serve(compute_router(state.clone())).await;
    let volume = serve(volume_router(state)).await;
    let demo = identity.issue_token("demo", "demo").unwrap();
    let demo_project = identity.validate(&demo).unwrap()["token"]["project"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    Env {
        compute,
        volume,
        http: reqwest::Client::new(),
        admin: identity.issue_token("admin", "admin").unwrap(),
        demo,
        demo_project,
        pods,
        pod_stops,
        _store: store,
    }
}

struct Answer {
    status: u16,
    body: Value,
    headers: HeaderMap,
}

impl Env {
    async fn send(
        &self,
        base: &str,
        token: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
        version: Option<&str>,
    ) -> Answer {
        let mut req = self
            .http
            .request(method, format!("{base}{path}"))
            .header("x-auth-token", token);
        if let Some(v) = version {
            req = req.header("openstack-api-version", v);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let text = r.text().await.unwrap();
        Answer {
            status,
            body: serde_json::from_str(&text).unwrap_or(Value::String(text)),
            headers,
        }
    }

    /// A compute call at microversion `mv` (`None`: 2.1).
    async fn nova(
        &self,
        token: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
        mv: Option<&str>,
    ) -> Answer {
        let v = mv.map(|m| format!("compute {m}"));
        self.send(&self.compute, token, method, path, body, v.as_deref())
            .await
    }

    async fn nova_get(&self, token: &str, path: &str, mv: &str) -> Answer {
        self.nova(token, Method::GET, path, None, Some(mv)).await
    }

    async fn cinder_get(&self, token: &str, path: &str) -> Answer {
        self.send(&self.volume, token, Method::GET, path, None, None)
            .await
    }

    async fn flavor(&self, id: &str, vcpus: i64, ram: i64) {
        let a = self
            .nova(&self.admin, Method::POST, "/v2.1/flavors",
                Some(json!({"flavor": {"id": id, "name": format!("f-{id}"), "vcpus": vcpus, "ram": ram, "disk": 1}})), None)
            .await;
        assert_eq!(a.status, 200, "{}", a.body);
    }

    /// Boots a server in `az` and waits for it to be ACTIVE; its id.
    async fn boot(&self, token: &str, name: &str, az: &str, flavor: &str, extra: Value) -> String {
        let mut server = json!({"name": name, "imageRef": IMAGE, "flavorRef": flavor,
            "availability_zone": az, "networks": "none"});
        for (k, v) in extra.as_object().into_iter().flatten() {
            server[k] = v.clone();
        }
        let a = self
            .nova(
                token,
                Method::POST,
                "/v2.1/servers",
                Some(json!({ "server": server })),
                Some("2.47"),
            )
            .await;
        assert_eq!(a.status, 202, "{}", a.body);
        let id = a.body["server"]["id"].as_str().unwrap().to_string();
        self.wait_active(token, &id).await;
        id
    }

    async fn wait_active(&self, token: &str, id: &str) {
        for _ in 0..200 {
            let a = self
                .nova_get(token, &format!("/v2.1/servers/{id}"), "2.47")
                .await;
            assert_eq!(a.status, 200, "{}", a.body);
            if a.body["server"]["status"] == "ACTIVE" {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("server {id} never became ACTIVE");
    }
}

fn forbidden(a: &Answer) {
    assert_eq!(a.status, 403, "{}", a.body);
    assert_eq!(a.body["forbidden"]["code"], 403, "{}", a.body);
}

fn not_found(a: &Answer) {
    assert_eq!(a.status, 404, "{}", a.body);
    assert_eq!(a.body["itemNotFound"]["code"], 404, "{}", a.body);
}

fn strings(list: &Value, field: &str) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|i| i[field].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn hypervisors_across_pods_with_qualified_names_and_summed_statistics() {
    let e = env().await;
    e.flavor("f1", 2, 1024).await;
    e.flavor("f2", 3, 2048).await;
    let s1 = e.boot(&e.demo, "a", "az1", "f1", json!({})).await;
    let s2 = e.boot(&e.demo, "b", "az2", "f2", json!({})).await;

    // Members are refused, as Nova's policy refuses them.
    for path in [
        "/v2.1/os-hypervisors",
        "/v2.1/os-hypervisors/detail",
        "/v2.1/os-hypervisors/statistics",
        "/v2.1/os-hypervisors/1",
    ] {
        forbidden(&e.nova_get(&e.demo, path, "2.1").await);
    }

    // Before 2.53: integer ids of our own, unique across pods and stable.
    let a = e.nova_get(&e.admin, "/v2.1/os-hypervisors", "2.1").await;
    assert_eq!(a.status, 200, "{}", a.body);
    let list = a.body["hypervisors"].as_array().unwrap().clone();
    assert_eq!(list.len(), 2, "{}", a.body);
    assert_eq!(
        strings(&a.body["hypervisors"], "hypervisor_hostname"),
        ["Pod1:pod1-compute1", "Pod2:pod2-compute1"]
    );
    for h in &list {
        assert_eq!(h.as_object().unwrap().len(), 4, "{h}");
        assert_eq!(
            (h["state"].as_str(), h["status"].as_str()),
            (Some("up"), Some("enabled"))
        );
    }
    let ids: Vec<i64> = list.iter().map(|h| h["id"].as_i64().unwrap()).collect();
    assert_ne!(ids[0], ids[1], "the pods both call theirs 1");
    let again = e.nova_get(&e.admin, "/v2.1/os-hypervisors", "2.1").await;
    assert_eq!(again.body["hypervisors"], a.body["hypervisors"]);

    // Detail: each pod's figures, the service qualified too.
    let d = e
        .nova_get(&e.admin, "/v2.1/os-hypervisors/detail", "2.1")
        .await;
    assert_eq!(d.status, 200, "{}", d.body);
    let d1 = &d.body["hypervisors"][0];
    assert_eq!(d1["vcpus_used"], 2, "{d1}");
    assert_eq!(d1["memory_mb_used"], 1024, "{d1}");
    assert_eq!(d1["service"]["host"], "Pod1:pod1-compute1");
    assert!(d1["cpu_info"].is_string(), "a string before 2.28: {d1}");
    assert_eq!(d.body["hypervisors"][1]["vcpus_used"], 3);

    // Show by our id reaches the right pod; unknown and non-integer ids
    // are Nova's 404.
    let sh = e
        .nova_get(&e.admin, &format!("/v2.1/os-hypervisors/{}", ids[1]), "2.1")
        .await;
    assert_eq!(sh.status, 200, "{}", sh.body);
    assert_eq!(sh.body["hypervisor"]["id"], ids[1]);
    assert_eq!(
        sh.body["hypervisor"]["hypervisor_hostname"],
        "Pod2:pod2-compute1"
    );
    assert_eq!(sh.body["hypervisor"]["vcpus_used"], 3);
    for bad in ["999999", "abc"] {
        let nf = e
            .nova_get(&e.admin, &format!("/v2.1/os-hypervisors/{bad}"), "2.1")
            .await;
        assert_eq!(nf.status, 404, "{}", nf.body);
        assert_eq!(
            nf.body["itemNotFound"]["message"],
            format!("Hypervisor with ID '{bad}' could not be found.")
        );
    }
    let up = e
        .nova_get(
            &e.admin,
            &format!("/v2.1/os-hypervisors/{}/uptime", ids[0]),
            "2.1",
        )
        .await;
    assert_eq!(up.status, 200, "{}", up.body);
    assert!(up.body["hypervisor"]["uptime"].is_string(), "{}", up.body);
    assert_eq!(up.body["hypervisor"]["id"], ids[0]);

    // Statistics: the pods' sums, summed.
    let st = e
        .nova_get(&e.admin, "/v2.1/os-hypervisors/statistics", "2.1")
        .await;
    assert_eq!(st.status, 200, "{}", st.body);
    let s = &st.body["hypervisor_statistics"];
    assert_eq!(s["count"], 2, "{s}");
    assert_eq!(s["vcpus_used"], 5, "{s}");
    assert_eq!(s["memory_mb_used"], 3072, "{s}");
    assert_eq!(s["running_vms"], 2, "{s}");
    assert_eq!(
        s["vcpus"].as_i64().unwrap(),
        2 * tricircle_podsim::compute::HYPERVISOR_VCPUS as i64
    );
    assert_eq!(
        s["free_ram_mb"].as_i64().unwrap(),
        2 * tricircle_podsim::compute::HYPERVISOR_MEMORY_MB as i64 - 3072
    );
    let gone = e
        .nova_get(&e.admin, "/v2.1/os-hypervisors/statistics", "2.88")
        .await;
    assert_eq!(gone.status, 404, "{}", gone.body);

    // Search and servers by a pattern of the qualified name (until 2.52).
    let se = e
        .nova_get(&e.admin, "/v2.1/os-hypervisors/Pod2:/search", "2.1")
        .await;
    assert_eq!(se.status, 200, "{}", se.body);
    assert_eq!(
        strings(&se.body["hypervisors"], "hypervisor_hostname"),
        ["Pod2:pod2-compute1"]
    );
    let se = e
        .nova_get(&e.admin, "/v2.1/os-hypervisors/compute1/servers", "2.1")
        .await;
    assert_eq!(se.status, 200, "{}", se.body);
    let hs = se.body["hypervisors"].as_array().unwrap();
    assert_eq!(hs.len(), 2, "{}", se.body);
    assert_eq!(strings(&hs[0]["servers"], "uuid"), [s1.as_str()]);
    assert_eq!(strings(&hs[1]["servers"], "uuid"), [s2.as_str()]);
    let none = e
        .nova_get(&e.admin, "/v2.1/os-hypervisors/nope/search", "2.1")
        .await;
    assert_eq!(none.status, 404, "{}", none.body);
    assert_eq!(
        none.body["itemNotFound"]["message"],
        "No hypervisor matching 'nope' could be found."
    );
    let removed = e
        .nova_get(&e.admin, "/v2.1/os-hypervisors/Pod1/search", "2.53")
        .await;
    assert_eq!(removed.status, 404, "{}", removed.body);

    // Paging (2.33+) over both pods: one per page, then a next link.
    let p1 = e
        .nova_get(&e.admin, "/v2.1/os-hypervisors?limit=1", "2.33")
        .await;
    assert_eq!(p1.status, 200, "{}", p1.body);
    assert_eq!(p1.body["hypervisors"][0]["id"], ids[0]);
    let next = p1.body["hypervisors_links"][0]["href"].as_str().unwrap();
    assert!(next.contains(&format!("marker={}", ids[0])), "{next}");
    let p2 = e
        .nova_get(
            &e.admin,
            &format!("/v2.1/os-hypervisors?limit=1&marker={}", ids[0]),
            "2.33",
        )
        .await;
    assert_eq!(p2.body["hypervisors"][0]["id"], ids[1], "{}", p2.body);
    let bad = e
        .nova_get(&e.admin, "/v2.1/os-hypervisors?marker=424242", "2.33")
        .await;
    assert_eq!(bad.status, 400, "{}", bad.body);

    // 2.53: the pods' UUIDs, hostname pattern and servers as parameters.
    let u = e
        .nova_get(&e.admin, "/v2.1/os-hypervisors/detail", "2.53")
        .await;
    assert_eq!(u.status, 200, "{}", u.body);
    let uuids = strings(&u.body["hypervisors"], "id");
    assert!(
        uuids.iter().all(|i| uuid::Uuid::try_parse(i).is_ok()),
        "{uuids:?}"
    );
    assert!(u.body["hypervisors"][0]["service"]["id"].is_string());
    assert!(u.body["hypervisors"][0]["cpu_info"].is_object());
    let w = e
        .nova_get(
            &e.admin,
            "/v2.1/os-hypervisors?hypervisor_hostname_pattern=Pod1:&with_servers=true",
            "2.75",
        )
        .await;
    assert_eq!(w.status, 200, "{}", w.body);
    assert_eq!(
        strings(&w.body["hypervisors"], "hypervisor_hostname"),
        ["Pod1:pod1-compute1"]
    );
    assert_eq!(strings(&w.body["hypervisors"][0]["servers"], "uuid"), [s1]);
    let paged = e
        .nova_get(
            &e.admin,
            "/v2.1/os-hypervisors?hypervisor_hostname_pattern=Pod1&limit=1",
            "2.53",
        )
        .await;
    assert_eq!(paged.status, 400, "{}", paged.body);
    let sh = e
        .nova_get(
            &e.admin,
            &format!("/v2.1/os-hypervisors/{}?with_servers=true", uuids[1]),
            "2.53",
        )
        .await;
    assert_eq!(sh.status, 200, "{}", sh.body);
    assert_eq!(
        sh.body["hypervisor"]["hypervisor_hostname"],
        "Pod2:pod2-compute1"
    );
    assert_eq!(strings(&sh.body["hypervisor"]["servers"], "uuid"), [s2]);
    let bad = e
        .nova_get(&e.admin, "/v2.1/os-hypervisors/17", "2.53")
        .await;
    assert_eq!(bad.status, 400, "{}", bad.body);
    let nf = e
        .nova_get(
            &e.admin,
            &format!("/v2.1/os-hypervisors/{}", uuid::Uuid::new_v4()),
            "2.53",
        )
        .await;
    assert_eq!(nf.status, 404, "{}", nf.body);
    let d88 = e
        .nova_get(&e.admin, "/v2.1/os-hypervisors/detail", "2.88")
        .await;
    assert!(
        d88.body["hypervisors"][0].get("vcpus").is_none(),
        "{}",
        d88.body
    );
    assert!(
        d88.body["hypervisors"][0].get("uptime").is_some(),
        "{}",
        d88.body
    );

    // A pod that is down is skipped and named.
    e.pod_stops[1].notify_one();
    let a = e.nova_get(&e.admin, "/v2.1/os-hypervisors", "2.1").await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(
        strings(&a.body["hypervisors"], "hypervisor_hostname"),
        ["Pod1:pod1-compute1"]
    );
    assert_eq!(a.headers[SKIPPED_PODS_HEADER], "Pod2");
    let st = e
        .nova_get(&e.admin, "/v2.1/os-hypervisors/statistics", "2.1")
        .await;
    assert_eq!(st.body["hypervisor_statistics"]["count"], 1, "{}", st.body);
    assert_eq!(st.headers[SKIPPED_PODS_HEADER], "Pod2");
}

#[tokio::test]
async fn compute_and_volume_services_across_pods() {
    let e = env().await;
    forbidden(&e.nova_get(&e.demo, "/v2.1/os-services", "2.1").await);
    let a = e.nova_get(&e.admin, "/v2.1/os-services", "2.1").await;
    assert_eq!(a.status, 200, "{}", a.body);
    let list = a.body["services"].as_array().unwrap();
    assert_eq!(list.len(), 6, "{}", a.body);
    let compute: Vec<&Value> = list
        .iter()
        .filter(|s| s["binary"] == "nova-compute")
        .collect();
    assert_eq!(compute[0]["host"], "Pod1:pod1-compute1");
    assert_eq!(compute[1]["host"], "Pod2:pod2-compute1");
    // Each pod's AZ as the top's; control services stay `internal`.
    assert_eq!(
        (compute[0]["zone"].as_str(), compute[1]["zone"].as_str()),
        (Some("az1"), Some("az2"))
    );
    assert!(list
        .iter()
        .filter(|s| s["binary"] != "nova-compute")
        .all(|s| s["zone"] == "internal"));
    let ids: Vec<i64> = list.iter().map(|s| s["id"].as_i64().unwrap()).collect();
    let mut unique = ids.clone();
    unique.dedup();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 6, "ids unique across pods: {ids:?}");
    // The hypervisor's service is the same service, same id.
    let d = e
        .nova_get(&e.admin, "/v2.1/os-hypervisors/detail", "2.1")
        .await;
    assert_eq!(d.body["hypervisors"][1]["service"]["id"], compute[1]["id"]);

    // Filters: a qualified host reaches its pod only.
    let f = e
        .nova_get(
            &e.admin,
            "/v2.1/os-services?host=Pod2:pod2-compute1&binary=nova-compute",
            "2.1",
        )
        .await;
    assert_eq!(f.status, 200, "{}", f.body);
    assert_eq!(strings(&f.body["services"], "host"), ["Pod2:pod2-compute1"]);
    let f = e
        .nova_get(&e.admin, "/v2.1/os-services?binary=nova-conductor", "2.11")
        .await;
    assert_eq!(
        f.body["services"].as_array().unwrap().len(),
        2,
        "{}",
        f.body
    );
    assert_eq!(f.body["services"][0]["forced_down"], false, "{}", f.body);
    let f = e
        .nova_get(&e.admin, "/v2.1/os-services?host=pod2-compute1", "2.1")
        .await;
    assert_eq!(
        f.body["services"],
        json!([]),
        "an unqualified host is none of ours"
    );
    let bad = e
        .nova_get(&e.admin, "/v2.1/os-services?nope=1", "2.75")
        .await;
    assert_eq!(bad.status, 400, "{}", bad.body);
    let u = e.nova_get(&e.admin, "/v2.1/os-services", "2.53").await;
    assert!(u.body["services"][0]["id"].is_string(), "{}", u.body);

    // Volume services: the same, Cinder's way.
    let path = format!("/v3/{}/os-services", e.demo_project);
    let a = e.cinder_get(&e.demo, &path).await;
    forbidden(&a);
    let a = e.cinder_get(&e.admin, "/v3/os-services").await;
    assert_eq!(a.status, 200, "{}", a.body);
    let list = a.body["services"].as_array().unwrap();
    assert_eq!(list.len(), 6, "{}", a.body);
    let vol: Vec<&Value> = list
        .iter()
        .filter(|s| s["binary"] == "cinder-volume")
        .collect();
    assert_eq!(vol.len(), 2);
    assert!(
        vol[0]["host"].as_str().unwrap().starts_with("Pod1:"),
        "{}",
        vol[0]
    );
    assert!(
        vol[1]["host"].as_str().unwrap().starts_with("Pod2:"),
        "{}",
        vol[1]
    );
    assert_eq!(vol[1]["zone"], "az2");
    let host = vol[1]["host"].as_str().unwrap().to_string();
    let f = e
        .cinder_get(
            &e.admin,
            &format!("/v3/os-services?host={}", urlencode(&host)),
        )
        .await;
    assert_eq!(f.status, 200, "{}", f.body);
    assert_eq!(strings(&f.body["services"], "host"), [host]);
    let f = e
        .cinder_get(&e.admin, "/v3/os-services?binary=cinder-scheduler")
        .await;
    assert_eq!(
        f.body["services"].as_array().unwrap().len(),
        2,
        "{}",
        f.body
    );

    // A pod that is down is skipped and named.
    e.pod_stops[0].notify_one();
    let a = e.cinder_get(&e.admin, "/v3/os-services").await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["services"].as_array().unwrap().len(), 3);
    assert_eq!(a.headers[SKIPPED_PODS_HEADER], "Pod1");
    let a = e.nova_get(&e.admin, "/v2.1/os-services", "2.1").await;
    assert_eq!(a.body["services"].as_array().unwrap().len(), 3);
    assert_eq!(a.headers[SKIPPED_PODS_HEADER], "Pod1");
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[tokio::test]
async fn the_default_volume_type_is_listed_and_is_what_volumes_show() {
    let e = env().await;
    let path = |rest: &str| format!("/v3/{}{rest}", e.demo_project);
    let a = e.cinder_get(&e.demo, &path("/types")).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(strings(&a.body["volume_types"], "name"), ["__DEFAULT__"]);
    let default_id = a.body["volume_types"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        a.body["volume_types"][0]["description"],
        "Default Volume Type"
    );
    let d = e.cinder_get(&e.demo, &path("/types/default")).await;
    assert_eq!(d.status, 200, "{}", d.body);
    assert_eq!(d.body["volume_type"]["id"], default_id.as_str());
    assert_eq!(d.body["volume_type"]["name"], "__DEFAULT__");
    let by_id = e
        .cinder_get(&e.demo, &path(&format!("/types/{default_id}")))
        .await;
    assert_eq!(by_id.body["volume_type"]["name"], "__DEFAULT__");

    // A volume made without a type has it, under the top's id.
    for (az, token) in [("az1", &e.demo), ("az2", &e.demo)] {
        let v = e
            .send(
                &e.volume,
                token,
                Method::POST,
                &path("/volumes"),
                Some(json!({"volume": {"size": 1, "availability_zone": az}})),
                Some("volume 3.63"),
            )
            .await;
        assert_eq!(v.status, 202, "{}", v.body);
        assert_eq!(v.body["volume"]["volume_type"], "__DEFAULT__", "{}", v.body);
        let id = v.body["volume"]["id"].as_str().unwrap();
        let s = e
            .send(
                &e.volume,
                token,
                Method::GET,
                &path(&format!("/volumes/{id}")),
                None,
                Some("volume 3.63"),
            )
            .await;
        assert_eq!(s.body["volume"]["volume_type"], "__DEFAULT__");
        assert_eq!(
            s.body["volume"]["volume_type_id"],
            default_id.as_str(),
            "{}",
            s.body
        );
    }
    // Asked by name, it is the pods' own default.
    let v = e
        .send(&e.volume, &e.demo, Method::POST, &path("/volumes"),
            Some(json!({"volume": {"size": 1, "availability_zone": "az2", "volume_type": "__DEFAULT__"}})), None)
        .await;
    assert_eq!(v.status, 202, "{}", v.body);
    assert_eq!(v.body["volume"]["volume_type"], "__DEFAULT__");

    // It cannot be deleted nor renamed.
    let del = e
        .send(
            &e.volume,
            &e.admin,
            Method::DELETE,
            &format!("/v3/types/{default_id}"),
            None,
            None,
        )
        .await;
    assert_eq!(del.status, 400, "{}", del.body);
    assert_eq!(
        del.body["badRequest"]["message"],
        format!("The volume type {default_id} is a default volume type and cannot be deleted.")
    );
    let ren = e
        .send(
            &e.volume,
            &e.admin,
            Method::PUT,
            &format!("/v3/types/{default_id}"),
            Some(json!({"volume_type": {"name": "other"}})),
            None,
        )
        .await;
    assert_eq!(ren.status, 400, "{}", ren.body);
    let desc = e
        .send(
            &e.volume,
            &e.admin,
            Method::PUT,
            &format!("/v3/types/{default_id}"),
            Some(json!({"volume_type": {"description": "the usual"}})),
            None,
        )
        .await;
    assert_eq!(desc.status, 200, "{}", desc.body);
    assert_eq!(desc.body["volume_type"]["name"], "__DEFAULT__");
}

fn close(a: &Value, b: f64) -> bool {
    (a.as_f64().unwrap() - b).abs() < 1e-6 * (1.0 + b.abs())
}

#[tokio::test]
async fn usage_is_summed_over_pods() {
    let e = env().await;
    e.flavor("f1", 2, 1024).await;
    e.flavor("f2", 3, 2048).await;
    let s1 = e.boot(&e.demo, "a", "az1", "f1", json!({})).await;
    let s2 = e.boot(&e.demo, "b", "az2", "f2", json!({})).await;
    let s3 = e.boot(&e.admin, "c", "az2", "f1", json!({})).await;
    let admin_project = {
        let a = e
            .nova_get(&e.admin, &format!("/v2.1/servers/{s3}"), "2.1")
            .await;
        a.body["server"]["tenant_id"].as_str().unwrap().to_string()
    };

    // Members see their own project's usage only; the index is admin's.
    forbidden(
        &e.nova_get(&e.demo, "/v2.1/os-simple-tenant-usage", "2.1")
            .await,
    );
    forbidden(
        &e.nova_get(
            &e.demo,
            &format!("/v2.1/os-simple-tenant-usage/{admin_project}"),
            "2.1",
        )
        .await,
    );
    let a = e
        .nova_get(
            &e.demo,
            &format!("/v2.1/os-simple-tenant-usage/{}", e.demo_project),
            "2.1",
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let u = &a.body["tenant_usage"];
    assert_eq!(u["tenant_id"], e.demo_project.as_str());
    let servers = u["server_usages"].as_array().unwrap();
    let mut ids = strings(&u["server_usages"], "instance_id");
    ids.sort();
    let mut want = vec![s1.clone(), s2.clone()];
    want.sort();
    assert_eq!(ids, want, "one server in each pod: {u}");
    let by_id = |id: &str| {
        servers
            .iter()
            .find(|s| s["instance_id"] == id)
            .unwrap()
            .clone()
    };
    let (u1, u2) = (by_id(&s1), by_id(&s2));
    assert_eq!(
        (
            u1["vcpus"].as_i64(),
            u1["memory_mb"].as_i64(),
            u1["flavor"].as_str()
        ),
        (Some(2), Some(1024), Some("f-f1"))
    );
    assert_eq!(
        (
            u2["vcpus"].as_i64(),
            u2["local_gb"].as_i64(),
            u2["state"].as_str()
        ),
        (Some(3), Some(1), Some("active"))
    );
    for k in [
        "started_at",
        "ended_at",
        "hours",
        "uptime",
        "name",
        "tenant_id",
    ] {
        assert!(u1.get(k).is_some(), "{k} in {u1}");
    }
    let (h1, h2) = (u1["hours"].as_f64().unwrap(), u2["hours"].as_f64().unwrap());
    assert!(close(&u["total_hours"], h1 + h2), "{u}");
    assert!(close(&u["total_vcpus_usage"], 2.0 * h1 + 3.0 * h2), "{u}");
    assert!(
        close(&u["total_memory_mb_usage"], 1024.0 * h1 + 2048.0 * h2),
        "{u}"
    );
    assert!(close(&u["total_local_gb_usage"], h1 + h2), "{u}");
    assert!(u["start"].is_string() && u["stop"].is_string(), "{u}");

    // The index: one entry per project, over both pods.
    let a = e
        .nova_get(&e.admin, "/v2.1/os-simple-tenant-usage?detailed=1", "2.1")
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let list = a.body["tenant_usages"].as_array().unwrap();
    assert_eq!(list.len(), 2, "{}", a.body);
    let demo = list
        .iter()
        .find(|t| t["tenant_id"] == e.demo_project.as_str())
        .unwrap();
    assert_eq!(demo["server_usages"].as_array().unwrap().len(), 2);
    let admin = list
        .iter()
        .find(|t| t["tenant_id"] == admin_project.as_str())
        .unwrap();
    assert_eq!(
        strings(&admin["server_usages"], "instance_id"),
        [s3.as_str()]
    );
    let a = e
        .nova_get(&e.admin, "/v2.1/os-simple-tenant-usage", "2.1")
        .await;
    assert!(
        a.body["tenant_usages"][0].get("server_usages").is_none(),
        "{}",
        a.body
    );
    assert_eq!(a.body["tenant_usages"].as_array().unwrap().len(), 2);

    // A period without servers; a bad one.
    let q = "start=2000-01-01T00:00:00&end=2000-01-02T00:00:00";
    let a = e
        .nova_get(
            &e.admin,
            &format!("/v2.1/os-simple-tenant-usage?{q}"),
            "2.1",
        )
        .await;
    assert_eq!(a.body, json!({"tenant_usages": []}));
    let a = e
        .nova_get(
            &e.demo,
            &format!("/v2.1/os-simple-tenant-usage/{}?{q}", e.demo_project),
            "2.1",
        )
        .await;
    assert_eq!(a.body, json!({"tenant_usage": {}}));
    let a = e
        .nova_get(
            &e.admin,
            "/v2.1/os-simple-tenant-usage?start=yesterday",
            "2.1",
        )
        .await;
    assert_eq!(a.status, 400, "{}", a.body);
    let a = e
        .nova_get(
            &e.admin,
            "/v2.1/os-simple-tenant-usage?start=2030-01-01T00:00:00&end=2029-01-01T00:00:00",
            "2.1",
        )
        .await;
    assert_eq!(a.status, 400, "{}", a.body);

    // 2.40: paged by server across pods, with next links.
    let mut seen = Vec::new();
    let mut path = format!("/v2.1/os-simple-tenant-usage/{}?limit=1", e.demo_project);
    for _ in 0..3 {
        let a = e.nova_get(&e.demo, &path, "2.40").await;
        assert_eq!(a.status, 200, "{}", a.body);
        let page = a.body["tenant_usage"]["server_usages"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if page.is_empty() {
            break;
        }
        assert_eq!(page.len(), 1, "{}", a.body);
        seen.push(page[0]["instance_id"].as_str().unwrap().to_string());
        let href = a.body["tenant_usage_links"][0]["href"].as_str().unwrap();
        path = href.trim_start_matches(&e.compute).to_string();
    }
    seen.sort();
    assert_eq!(seen, want);

    // A pod that is down is skipped and named.
    e.pod_stops[1].notify_one();
    let a = e
        .nova_get(&e.admin, "/v2.1/os-simple-tenant-usage?detailed=1", "2.1")
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.headers[SKIPPED_PODS_HEADER], "Pod2");
    let list = a.body["tenant_usages"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{}", a.body);
    assert_eq!(strings(&list[0]["server_usages"], "instance_id"), [s1]);
}

#[tokio::test]
async fn server_groups_at_the_top_with_affinity_across_pods() {
    let e = env().await;
    e.flavor("f1", 1, 512).await;
    let create = |body: Value, mv: &'static str| {
        let e = &e;
        async move {
            e.nova(
                &e.demo,
                Method::POST,
                "/v2.1/os-server-groups",
                Some(body),
                Some(mv),
            )
            .await
        }
    };

    // Shapes per microversion.
    let a = create(
        json!({"server_group": {"name": "g21", "policies": ["affinity"]}}),
        "2.1",
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let g = &a.body["server_group"];
    let mut keys: Vec<&String> = g.as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(
        keys,
        ["id", "members", "metadata", "name", "policies"],
        "{g}"
    );
    assert_eq!(
        (g["policies"].clone(), g["members"].clone()),
        (json!(["affinity"]), json!([]))
    );
    let affinity = g["id"].as_str().unwrap().to_string();
    let a = create(json!({"server_group": {"name": "g64", "policy": "anti-affinity", "rules": {"max_server_per_host": 1}}}), "2.64").await;
    assert_eq!(a.status, 200, "{}", a.body);
    let g = &a.body["server_group"];
    let mut keys: Vec<&String> = g.as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "id",
            "members",
            "name",
            "policy",
            "project_id",
            "rules",
            "user_id"
        ],
        "{g}"
    );
    assert_eq!(g["rules"], json!({"max_server_per_host": 1}));
    assert_eq!(g["project_id"], e.demo_project.as_str());
    let anti = g["id"].as_str().unwrap().to_string();

    // Nova's refusals.
    for (body, mv) in [
        (
            json!({"server_group": {"name": "x", "policies": ["soft-affinity"]}}),
            "2.1",
        ),
        (
            json!({"server_group": {"name": "x", "policies": []}}),
            "2.15",
        ),
        (
            json!({"server_group": {"name": "x", "policy": "affinity"}}),
            "2.1",
        ),
        (
            json!({"server_group": {"name": "x", "policy": "affinity", "rules": {"max_server_per_host": 2}}}),
            "2.64",
        ),
        (
            json!({"server_group": {"name": "x", "policy": "anti-affinity", "rules": {"max_server_per_host": 0}}}),
            "2.64",
        ),
        (json!({"server_group": {"policies": ["affinity"]}}), "2.1"),
        (
            json!({"server_group": {"name": " x", "policies": ["affinity"]}}),
            "2.1",
        ),
        (json!({"group": {}}), "2.1"),
    ] {
        let a = create(body.clone(), mv).await;
        assert_eq!(a.status, 400, "{body}: {}", a.body);
        assert_eq!(a.body["badRequest"]["code"], 400, "{}", a.body);
    }

    // Affinity: the first member decides the pod; the next follow it.
    let hint = |g: &str| json!({"os:scheduler_hints": {"group": g}});
    let boot = |az: Option<&str>, g: &str, name: &str| {
        let mut server =
            json!({"name": name, "imageRef": IMAGE, "flavorRef": "f1", "networks": "none"});
        if let Some(az) = az {
            server["availability_zone"] = json!(az);
        }
        let mut body = hint(g);
        body["server"] = server;
        let e = &e;
        async move {
            e.nova(
                &e.demo,
                Method::POST,
                "/v2.1/servers",
                Some(body),
                Some("2.47"),
            )
            .await
        }
    };
    let a = boot(Some("az2"), &affinity, "a1").await;
    assert_eq!(a.status, 202, "{}", a.body);
    let a1 = a.body["server"]["id"].as_str().unwrap().to_string();
    e.wait_active(&e.demo, &a1).await;
    let a = boot(None, &affinity, "a2").await;
    assert_eq!(a.status, 202, "{}", a.body);
    let a2 = a.body["server"]["id"].as_str().unwrap().to_string();
    e.wait_active(&e.demo, &a2).await;
    let in_pod2: Vec<String> = e.pods[1]
        .compute()
        .servers()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect();
    assert!(
        in_pod2.contains(&a1) && in_pod2.contains(&a2),
        "both in Pod2"
    );
    // The group was copied into Pod2 (named by its top id), with both.
    let copies = e.pods[1].compute().server_groups();
    let copy = copies.iter().find(|(n, _, _)| *n == affinity).unwrap();
    assert_eq!(
        (copy.1.as_str(), copy.2.clone()),
        ("affinity", vec![a1.clone(), a2.clone()])
    );
    assert!(e.pods[0].compute().server_groups().is_empty());
    let a = boot(Some("az1"), &affinity, "a3").await;
    assert_eq!(a.status, 400, "{}", a.body);
    assert!(
        a.body["badRequest"]["message"]
            .as_str()
            .unwrap()
            .contains("affinity"),
        "{}",
        a.body
    );
    let s = e
        .nova_get(
            &e.demo,
            &format!("/v2.1/os-server-groups/{affinity}"),
            "2.1",
        )
        .await;
    assert_eq!(s.status, 200, "{}", s.body);
    assert_eq!(s.body["server_group"]["members"], json!([a1, a2]));
    // A server names its group by the top id (2.71+).
    let s = e
        .nova_get(&e.demo, &format!("/v2.1/servers/{a1}"), "2.71")
        .await;
    assert_eq!(
        s.body["server"]["server_groups"],
        json!([affinity]),
        "{}",
        s.body
    );

    // Anti-affinity spreads over pods; unknown groups are Nova's 400.
    let b1 = boot(Some("az1"), &anti, "b1").await;
    let b2 = boot(Some("az2"), &anti, "b2").await;
    assert_eq!(
        (b1.status, b2.status),
        (202, 202),
        "{} {}",
        b1.body,
        b2.body
    );
    let (b1, b2) = (
        b1.body["server"]["id"].as_str().unwrap().to_string(),
        b2.body["server"]["id"].as_str().unwrap().to_string(),
    );
    e.wait_active(&e.demo, &b1).await;
    e.wait_active(&e.demo, &b2).await;
    let missing = uuid::Uuid::new_v4().to_string();
    let a = boot(Some("az1"), &missing, "c").await;
    assert_eq!(a.status, 400, "{}", a.body);
    assert_eq!(
        a.body["badRequest"]["message"],
        format!("Instance group {missing} could not be found.")
    );
    let a = boot(Some("az1"), "not-a-uuid", "c").await;
    assert_eq!(a.status, 400, "{}", a.body);

    // Lists: the project's own; admins all with all_projects.
    let l = e.nova_get(&e.demo, "/v2.1/os-server-groups", "2.13").await;
    assert_eq!(strings(&l.body["server_groups"], "name"), ["g21", "g64"]);
    let l = e.nova_get(&e.admin, "/v2.1/os-server-groups", "2.13").await;
    assert_eq!(l.body["server_groups"], json!([]));
    let l = e
        .nova_get(&e.admin, "/v2.1/os-server-groups?all_projects=True", "2.13")
        .await;
    assert_eq!(l.body["server_groups"].as_array().unwrap().len(), 2);
    let l = e
        .nova_get(&e.demo, "/v2.1/os-server-groups?limit=1&offset=1", "2.1")
        .await;
    assert_eq!(strings(&l.body["server_groups"], "name"), ["g64"]);
    let lim = e.nova_get(&e.demo, "/v2.1/limits", "2.1").await;
    assert_eq!(
        lim.body["limits"]["absolute"]["totalServerGroupsUsed"], 2,
        "{}",
        lim.body
    );

    // Other projects' members find nothing (Nova's policy answers 403,
    // which tells the group exists; the gateway does not).
    let other = e
        .nova(
            &e.admin,
            Method::POST,
            "/v2.1/os-server-groups",
            Some(json!({"server_group": {"name": "adm", "policies": ["anti-affinity"]}})),
            None,
        )
        .await;
    let other_id = other.body["server_group"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    not_found(
        &e.nova_get(
            &e.demo,
            &format!("/v2.1/os-server-groups/{other_id}"),
            "2.1",
        )
        .await,
    );
    not_found(
        &e.nova(
            &e.demo,
            Method::DELETE,
            &format!("/v2.1/os-server-groups/{other_id}"),
            None,
            None,
        )
        .await,
    );
    let a = boot(Some("az1"), &other_id, "c").await;
    assert_eq!(
        a.status, 400,
        "another project's group is not found: {}",
        a.body
    );

    // Quotas: server_groups per project, server_group_members per group.
    let q = e
        .nova(
            &e.admin,
            Method::PUT,
            &format!("/v2.1/os-quota-sets/{}", e.demo_project),
            Some(json!({"quota_set": {"server_groups": 2, "server_group_members": 2}})),
            None,
        )
        .await;
    assert_eq!(q.status, 200, "{}", q.body);
    let a = create(
        json!({"server_group": {"name": "g3", "policies": ["affinity"]}}),
        "2.1",
    )
    .await;
    assert_eq!(a.status, 403, "{}", a.body);
    assert_eq!(
        a.body["forbidden"]["message"],
        "Quota exceeded, too many server groups."
    );
    let a = boot(None, &affinity, "a3").await;
    assert_eq!(a.status, 403, "{}", a.body);
    assert_eq!(
        a.body["forbidden"]["message"],
        "Quota exceeded, too many servers in group"
    );

    // A deleted member leaves the group; deleting the group removes its
    // copies in the pods, not its servers.
    let d = e
        .nova(
            &e.demo,
            Method::DELETE,
            &format!("/v2.1/servers/{a2}"),
            None,
            None,
        )
        .await;
    assert_eq!(d.status, 204, "{}", d.body);
    let s = e
        .nova_get(
            &e.demo,
            &format!("/v2.1/os-server-groups/{affinity}"),
            "2.64",
        )
        .await;
    assert_eq!(s.body["server_group"]["members"], json!([a1]));
    assert_eq!(s.body["server_group"]["policy"], "affinity");
    assert_eq!(s.body["server_group"]["rules"], json!({}));
    let d = e
        .nova(
            &e.demo,
            Method::DELETE,
            &format!("/v2.1/os-server-groups/{affinity}"),
            None,
            None,
        )
        .await;
    assert_eq!(d.status, 204, "{}", d.body);
    let s = e
        .nova_get(
            &e.demo,
            &format!("/v2.1/os-server-groups/{affinity}"),
            "2.1",
        )
        .await;
    assert_eq!(s.status, 404, "{}", s.body);
    assert_eq!(
        s.body["itemNotFound"]["message"],
        format!("Instance group {affinity} could not be found.")
    );
    assert!(!e.pods[1]
        .compute()
        .server_groups()
        .iter()
        .any(|(n, _, _)| *n == affinity));
    e.wait_active(&e.demo, &a1).await;
}

// ---- checks the compute gateway makes as Nova does: the extension list,
// server list query dates, block device mappings of a boot (schema,
// bootable volumes), image metadata.

fn bad_request(a: &Answer, message: &str) {
    assert_eq!(a.status, 400, "{}", a.body);
    assert_eq!(
        a.body,
        json!({"badRequest": {"code": 400, "message": message}}),
        "{}",
        a.body
    );
}

#[tokio::test]
async fn extensions_are_novas_fixed_list() {
    let e = env().await;
    let a = e.nova_get(&e.demo, "/v2.1/extensions", "2.1").await;
    assert_eq!(a.status, 200, "{}", a.body);
    let list = a.body["extensions"].as_array().unwrap();
    assert_eq!(list.len(), 99);
    let aliases = strings(&a.body["extensions"], "alias");
    assert_eq!(aliases.first().map(String::as_str), Some("NMN"));
    assert_eq!(aliases.last().map(String::as_str), Some("os-volumes"));
    let mut sorted = aliases.clone();
    sorted.sort();
    assert_eq!(aliases, sorted);
    let consoles = json!({
        "alias": "os-consoles",
        "description": "Interactive Console support.",
        "links": [],
        "name": "Consoles",
        "namespace": "http://docs.openstack.org/compute/ext/fake_xml",
        "updated": "2014-12-03T00:00:00Z"
    });
    assert!(list.contains(&consoles));
    // One by alias, also under the project path; an unknown alias is 404.
    let path = format!("/v2.1/{}/extensions/os-consoles", e.demo_project);
    let a = e.nova_get(&e.demo, &path, "2.1").await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body, json!({ "extension": consoles }));
    let a = e
        .nova_get(&e.demo, "/v2.1/extensions/os-nothing", "2.1")
        .await;
    not_found(&a);
    assert_eq!(
        a.body["itemNotFound"]["message"],
        "The resource could not be found."
    );
}

#[tokio::test]
async fn server_lists_refuse_dates_that_are_not_iso_8601() {
    let e = env().await;
    for path in ["/v2.1/servers", "/v2.1/servers/detail"] {
        let a = e
            .nova_get(&e.demo, &format!("{path}?changes-since=2011/01/01"), "2.1")
            .await;
        bad_request(
            &a,
            "Invalid input for query parameters changes-since. Value: 2011/01/01. \
             '2011/01/01' is not a 'date-time'",
        );
        let a = e
            .nova_get(
                &e.demo,
                &format!("{path}?changes-since=2011-01-01T00:00:00Z"),
                "2.1",
            )
            .await;
        assert_eq!(a.status, 200, "{}", a.body);
    }
    // changes-before is a filter from 2.66.
    let a = e
        .nova_get(&e.demo, "/v2.1/servers?changes-before=soon", "2.66")
        .await;
    bad_request(
        &a,
        "Invalid input for query parameters changes-before. Value: soon. 'soon' is not a 'date-time'",
    );
    let a = e
        .nova_get(
            &e.demo,
            "/v2.1/servers?changes-since=2012-01-01&changes-before=2011-01-01",
            "2.66",
        )
        .await;
    bad_request(
        &a,
        "The value of changes-since must be less than or equal to changes-before.",
    );
    let a = e
        .nova_get(
            &e.demo,
            "/v2.1/servers?changes-since=2011-01-01&changes-before=2012-01-01T00:00:00",
            "2.66",
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
}

impl Env {
    async fn cinder(&self, token: &str, method: Method, path: &str, body: Option<Value>) -> Answer {
        let path = format!("/v3/{}{path}", self.demo_project);
        self.send(&self.volume, token, method, &path, body, None)
            .await
    }

    async fn available_volume(&self) -> String {
        let a = self
            .cinder(
                &self.demo,
                Method::POST,
                "/volumes",
                Some(json!({"volume": {"size": 1, "availability_zone": "az1"}})),
            )
            .await;
        assert_eq!(a.status, 202, "{}", a.body);
        let id = a.body["volume"]["id"].as_str().unwrap().to_string();
        for _ in 0..200 {
            let a = self
                .cinder(&self.demo, Method::GET, &format!("/volumes/{id}"), None)
                .await;
            assert_eq!(a.status, 200, "{}", a.body);
            if a.body["volume"]["status"] == "available" {
                return id;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("volume {id} never became available");
    }

    /// Nothing of a refused boot is left: no server, nothing counted.
    async fn nothing_booted(&self) {
        let a = self.nova_get(&self.demo, "/v2.1/servers", "2.1").await;
        assert_eq!(a.body, json!({"servers": []}));
        for pod in &self.pods {
            assert!(pod.compute().servers().is_empty());
        }
        let a = self.nova_get(&self.demo, "/v2.1/limits", "2.1").await;
        assert_eq!(
            a.body["limits"]["absolute"]["totalInstancesUsed"], 0,
            "{}",
            a.body
        );
        assert_eq!(
            a.body["limits"]["absolute"]["totalCoresUsed"], 0,
            "{}",
            a.body
        );
    }
}

#[tokio::test]
async fn block_device_mappings_are_checked_before_anything_is_made() {
    let e = env().await;
    e.flavor("1", 1, 512).await;
    let volume = e.available_volume().await;
    let boot = |bdm: Value, image: &str| {
        json!({"server": {"name": "bfv", "imageRef": image, "flavorRef": "1",
            "networks": "none", "block_device_mapping_v2": bdm}})
    };
    // Nova's schema, on every item.
    let bdm = json!([
        {"source_type": "image", "delete_on_termination": true, "boot_index": 0,
         "uuid": IMAGE, "destination_type": "local"},
        {"source_type": "volume", "uuid": volume, "destination_type": "invalid"}
    ]);
    let a = e
        .nova(
            &e.demo,
            Method::POST,
            "/v2.1/servers",
            Some(boot(bdm, IMAGE)),
            Some("2.47"),
        )
        .await;
    bad_request(
        &a,
        "Invalid input for field/attribute destination_type. Value: invalid. \
         'invalid' is not one of ['local', 'volume']",
    );
    for (item, message) in [
        (
            json!({"source_type": "disk", "uuid": volume}),
            "Invalid input for field/attribute source_type. Value: disk. \
             'disk' is not one of ['volume', 'image', 'snapshot', 'blank']",
        ),
        (
            json!({"source_type": "volume", "uuid": volume, "boot_index": "first"}),
            "Invalid input for field/attribute boot_index. Value: first. \
             'first' does not match '^-?[0-9]+$'",
        ),
    ] {
        let a = e
            .nova(
                &e.demo,
                Method::POST,
                "/v2.1/servers",
                Some(boot(json!([item]), "")),
                Some("2.47"),
            )
            .await;
        bad_request(&a, message);
    }
    e.nothing_booted().await;

    // A volume that is not bootable cannot be booted from.
    let a = e
        .cinder(
            &e.demo,
            Method::POST,
            &format!("/volumes/{volume}/action"),
            Some(json!({"os-set_bootable": {"bootable": false}})),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let bdm = json!([{"boot_index": "0", "uuid": volume, "source_type": "volume",
        "destination_type": "volume", "delete_on_termination": false}]);
    let a = e
        .nova(
            &e.demo,
            Method::POST,
            "/v2.1/servers",
            Some(boot(bdm.clone(), "")),
            Some("2.47"),
        )
        .await;
    bad_request(&a, &format!("Block Device {volume} is not bootable."));
    e.nothing_booted().await;
    let a = e
        .cinder(&e.demo, Method::GET, &format!("/volumes/{volume}"), None)
        .await;
    assert_eq!(
        (
            a.body["volume"]["status"].as_str(),
            a.body["volume"]["bootable"].as_str()
        ),
        (Some("available"), Some("false"))
    );

    // Once bootable, the same request boots.
    let a = e
        .cinder(
            &e.demo,
            Method::POST,
            &format!("/volumes/{volume}/action"),
            Some(json!({"os-set_bootable": {"bootable": true}})),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let a = e
        .nova(
            &e.demo,
            Method::POST,
            "/v2.1/servers",
            Some(boot(bdm, "")),
            Some("2.47"),
        )
        .await;
    assert_eq!(a.status, 202, "{}", a.body);
}

#[tokio::test]
async fn image_metadata_is_the_images_properties_until_2_38() {
    let e = env().await;
    let path = format!("/v2.1/images/{IMAGE}/metadata");
    let put = |body: Value| e.nova(&e.admin, Method::PUT, &path, Some(body), None);
    let a = put(json!({"metadata": {"os_distro": "cirros", "hw_disk_bus": "virtio"}})).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(
        a.body,
        json!({"metadata": {"os_distro": "cirros", "hw_disk_bus": "virtio"}})
    );
    let a = e.nova_get(&e.demo, &path, "2.38").await;
    assert_eq!(
        (a.status, a.body.clone()),
        (
            200,
            json!({"metadata": {"os_distro": "cirros", "hw_disk_bus": "virtio"}})
        )
    );
    // POST merges.
    let a = e
        .nova(
            &e.admin,
            Method::POST,
            &path,
            Some(json!({"metadata": {"hw_disk_bus": "scsi", "kernel": "k1"}})),
            None,
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(
        a.body,
        json!({"metadata": {"os_distro": "cirros", "hw_disk_bus": "scsi", "kernel": "k1"}})
    );
    // What Glance keeps, and what the image shows.
    let a = e
        .nova_get(&e.demo, &format!("/v2.1/images/{IMAGE}"), "2.1")
        .await;
    assert_eq!(
        a.body["image"]["metadata"],
        json!({"os_distro": "cirros", "hw_disk_bus": "scsi", "kernel": "k1"})
    );
    // One key.
    let key = format!("{path}/kernel");
    let a = e.nova_get(&e.demo, &key, "2.1").await;
    assert_eq!(
        (a.status, a.body.clone()),
        (200, json!({"meta": {"kernel": "k1"}}))
    );
    let a = e
        .nova(
            &e.admin,
            Method::PUT,
            &key,
            Some(json!({"meta": {"kernel": "k2"}})),
            None,
        )
        .await;
    assert_eq!(
        (a.status, a.body.clone()),
        (200, json!({"meta": {"kernel": "k2"}}))
    );
    let a = e
        .nova(
            &e.admin,
            Method::PUT,
            &key,
            Some(json!({"meta": {"other": "k2"}})),
            None,
        )
        .await;
    bad_request(&a, "Request body and URI mismatch");
    let a = e
        .nova(
            &e.admin,
            Method::PUT,
            &key,
            Some(json!({"meta": {"kernel": "a", "b": "c"}})),
            None,
        )
        .await;
    assert_eq!(a.status, 400, "{}", a.body);
    let a = e.nova(&e.admin, Method::DELETE, &key, None, None).await;
    assert_eq!(a.status, 204, "{}", a.body);
    let a = e.nova(&e.admin, Method::DELETE, &key, None, None).await;
    not_found(&a);
    assert_eq!(a.body["itemNotFound"]["message"], "Invalid metadata key");
    let a = e.nova_get(&e.demo, &key, "2.1").await;
    not_found(&a);
    let a = e.nova_get(&e.demo, &path, "2.1").await;
    assert_eq!(
        a.body,
        json!({"metadata": {"os_distro": "cirros", "hw_disk_bus": "scsi"}})
    );
    // Bad bodies, unknown images, and gone from 2.39.
    let a = put(json!({"metadata": {"k": 1}})).await;
    assert_eq!(a.status, 400, "{}", a.body);
    let a = put(json!({"metadata": "x"})).await;
    assert_eq!(a.status, 400, "{}", a.body);
    let a = e
        .nova_get(
            &e.demo,
            "/v2.1/images/00000000-0000-4000-8000-00000000dead/metadata",
            "2.1",
        )
        .await;
    not_found(&a);
    assert_eq!(a.body["itemNotFound"]["message"], "Image not found.");
    let a = e.nova_get(&e.demo, &path, "2.39").await;
    not_found(&a);
}
