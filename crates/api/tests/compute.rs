//! The compute gateway over two simulated pods: scheduling by AZ, flavors
//! and keypairs copied on first use, cross-pod lists, routed actions,
//! quotas across pods, a pod that is down.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tricircle_api::gateway::Gateway;
use tricircle_api::{compute_router, install_metrics, Authenticator, GatewayState};
use tricircle_core::ResourceType;
use tricircle_pods::health::{BreakerConfig, ManualClock};
use tricircle_pods::{
    EndpointResolver, HealthState, Interface, KeystoneClient, PodClient, PodClientOptions,
    PodHealth, ServiceCredentials, TokenValidator, ValidatorConfig,
};
use tricircle_podsim::image::ImageService;
use tricircle_podsim::{Credentials, Identity, IdentityConfig, Pod, PodConfig};
use tricircle_store::testing::{self, TestStore};
use tricircle_store::Usage;

const IMAGE: &str = "6e1b0f9a-9a7c-4c55-b4bb-6f7a1a8a0001";

struct Env {
    base: String,
    http: reqwest::Client,
    admin: String,
    demo: String,
    pods: Vec<Pod>,
    store: TestStore,
    identity: Identity,
    /// Notify one to stop that pod's server (connections then fail).
    pod_stops: Vec<Arc<tokio::sync::Notify>>,
    /// The gateway's view of the pods' health, on a clock the test moves.
    health: Arc<PodHealth>,
    clock: Arc<ManualClock>,
}

async fn serve(router: axum::Router) -> String {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l, router).await });
    url
}

async fn env_with(store: TestStore, quota: Usage) -> Env {
    let client = PodClientOptions {
        timeout: Duration::from_secs(10),
        ..PodClientOptions::default()
    };
    env_tuned(store, quota, client, Duration::from_secs(2)).await
}

/// An environment whose pod client and list deadline the test chooses.
async fn env_tuned(
    store: TestStore,
    quota: Usage,
    client: PodClientOptions,
    list_deadline: Duration,
) -> Env {
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
    // The top region's image service is the one the pods share.
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
    let clock = Arc::new(ManualClock::new());
    let health = Arc::new(PodHealth::with_clock(
        BreakerConfig::default(),
        clock.clone(),
    ));
    let state = GatewayState::new(
        Gateway {
            store: store.store.clone(),
            pods: PodClient::with_options(resolver, &client)
                .unwrap()
                .with_health(health.clone()),
            tokens: None,
            network: None,
            keystone: keystone.clone(),
            list_deadline,
            quota_defaults: quota,
            top_region: "RegionOne".into(),
            versions: Default::default(),
        },
        Arc::new(Authenticator::Keystone {
            validator: TokenValidator::new(keystone.clone(), &ValidatorConfig::default()),
            www_authenticate_uri: cfg.public_url.clone(),
        }),
        256 * 1024,
    );
    let _ = install_metrics();
    let base = serve(compute_router(state)).await;
    Env {
        base,
        http: reqwest::Client::new(),
        admin: identity.issue_token("admin", "admin").unwrap(),
        demo: identity.issue_token("demo", "demo").unwrap(),
        pods,
        store,
        identity,
        pod_stops,
        health,
        clock,
    }
}

/// Nova's and Cinder's default quotas.
fn default_quota() -> Usage {
    Usage {
        instances: 10,
        cores: 20,
        ram_mb: 51200,
        volumes: 10,
        gigabytes: 1000,
        snapshots: 10,
    }
}

async fn env() -> Env {
    env_with(testing::sqlite().await, default_quota()).await
}

impl Env {
    async fn call(
        &self,
        token: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
        mv: Option<&str>,
    ) -> (u16, Value, reqwest::header::HeaderMap) {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("x-auth-token", token);
        if let Some(v) = mv {
            req = req.header("openstack-api-version", format!("compute {v}"));
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let text = r.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
            headers,
        )
    }

    async fn flavor(&self, id: &str, vcpus: i64) {
        let (s, b, _) = self
            .call(&self.admin, Method::POST, "/v2.1/flavors", Some(json!({"flavor": {"id": id, "name": format!("f-{id}"), "vcpus": vcpus, "ram": 512, "disk": 1}})), None)
            .await;
        assert_eq!(s, 200, "{b}");
    }

    async fn boot(&self, token: &str, name: &str, az: &str, flavor: &str) -> (u16, Value) {
        let (s, b, _) = self
            .call(token, Method::POST, "/v2.1/servers",
                Some(json!({"server": {"name": name, "imageRef": IMAGE, "flavorRef": flavor, "availability_zone": az, "networks": "none"}})),
                Some("2.47"))
            .await;
        (s, b)
    }

    async fn wait_active(&self, token: &str, id: &str) -> Value {
        for _ in 0..100 {
            let (s, b, _) = self
                .call(
                    token,
                    Method::GET,
                    &format!("/v2.1/servers/{id}"),
                    None,
                    Some("2.47"),
                )
                .await;
            assert_eq!(s, 200, "{b}");
            if b["server"]["status"] == "ACTIVE" {
                return b["server"].clone();
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("server {id} never became ACTIVE");
    }
}

#[tokio::test]
async fn versions_and_microversions() {
    let e = env().await;
    let v: Value = e
        .http
        .get(format!("{}/", e.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let v21 = v["versions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["id"] == "v2.1")
        .unwrap()
        .clone();
    assert_eq!(v21["min_version"], "2.1");
    // The pods (podsim) top out at 2.96; so do we.
    assert_eq!(v21["version"], "2.96");
    let (s, b, h) = e
        .call(&e.demo, Method::GET, "/v2.1/flavors", None, Some("2.99"))
        .await;
    assert_eq!(s, 406, "{b}");
    assert_eq!(b["notAcceptable"]["code"], 406);
    let (s, _, h2) = e
        .call(&e.demo, Method::GET, "/v2.1/flavors", None, Some("latest"))
        .await;
    assert_eq!(s, 200);
    assert_eq!(h2["openstack-api-version"], "compute 2.96");
    let _ = h;
}

#[tokio::test]
async fn boot_in_each_az_with_flavor_and_keypair_copied_on_first_use() {
    let e = env().await;
    e.flavor("f1", 1).await;
    let (s, b, _) = e
        .call(
            &e.demo,
            Method::POST,
            "/v2.1/os-keypairs",
            Some(json!({"keypair": {"name": "k1"}})),
            Some("2.2"),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    assert!(b["keypair"]["private_key"]
        .as_str()
        .unwrap()
        .contains("OPENSSH PRIVATE KEY"));
    assert!(e.pods.iter().all(|p| p.compute().flavor_ids().is_empty()));

    let mut ids = Vec::new();
    for (i, az) in ["az1", "az2"].into_iter().enumerate() {
        let (s, b, _) = e
            .call(&e.demo, Method::POST, "/v2.1/servers",
                Some(json!({"server": {"name": format!("vm-{az}"), "imageRef": IMAGE, "flavorRef": "f1",
                    "availability_zone": az, "key_name": "k1", "networks": "none", "metadata": {"role": "web"}}})),
                Some("2.47"))
            .await;
        assert_eq!(s, 202, "{b}");
        let id = b["server"]["id"].as_str().unwrap().to_string();
        let srv = e.wait_active(&e.demo, &id).await;
        assert_eq!(srv["OS-EXT-AZ:availability_zone"], az, "{srv}");
        assert_eq!(srv["metadata"]["role"], "web");
        assert_eq!(srv["key_name"], "k1");
        assert!(
            srv["links"][0]["href"]
                .as_str()
                .unwrap()
                .starts_with(&e.base),
            "{srv}"
        );
        // In the right pod, under the same id, with the flavor and keypair copied.
        let pod = &e.pods[i];
        assert!(pod.compute().servers().iter().any(|s| s["id"] == json!(id)));
        assert_eq!(pod.compute().flavor_ids(), ["f1"]);
        let demo_user = e.identity.validate(&e.demo).unwrap()["token"]["user"]["id"]
            .as_str()
            .unwrap()
            .to_string();
        assert_eq!(pod.compute().keypair_names(&demo_user), ["k1"]);
        ids.push(id);
    }

    // One list across both pods; summary and detail; paging by limit/marker.
    let (s, b, _) = e
        .call(&e.demo, Method::GET, "/v2.1/servers", None, None)
        .await;
    assert_eq!(s, 200);
    let mut listed: Vec<String> = b["servers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect();
    listed.sort();
    let mut want = ids.clone();
    want.sort();
    assert_eq!(listed, want);
    assert!(b["servers"][0].get("status").is_none(), "summary view");
    let (_, page1, _) = e
        .call(
            &e.demo,
            Method::GET,
            "/v2.1/servers/detail?limit=1&sort_key=display_name&sort_dir=asc",
            None,
            None,
        )
        .await;
    assert_eq!(page1["servers"][0]["name"], "vm-az1");
    let next = page1["servers_links"][0]["href"]
        .as_str()
        .unwrap()
        .to_string();
    let page2: Value = e
        .http
        .get(&next)
        .header("x-auth-token", &e.demo)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(page2["servers"][0]["name"], "vm-az2");
    assert!(
        page2.get("servers_links").is_none() || page2["servers"].as_array().unwrap().len() == 1
    );

    // Actions and sub-resources reach the right pod.
    let (s, b, _) = e
        .call(
            &e.demo,
            Method::POST,
            &format!("/v2.1/servers/{}/action", ids[1]),
            Some(json!({"os-stop": null})),
            None,
        )
        .await;
    assert_eq!(s, 202, "{b}");
    let (s, b, _) = e
        .call(
            &e.demo,
            Method::GET,
            &format!("/v2.1/servers/{}/metadata", ids[1]),
            None,
            None,
        )
        .await;
    assert_eq!((s, b["metadata"]["role"].clone()), (200, json!("web")));

    // Another project sees none of it.
    let other = e.identity.issue_token("admin", "admin").unwrap();
    let (_, b, _) = e
        .call(&other, Method::GET, "/v2.1/servers", None, None)
        .await;
    assert_eq!(b["servers"], json!([]));

    for id in &ids {
        let (s, _, _) = e
            .call(
                &e.demo,
                Method::DELETE,
                &format!("/v2.1/servers/{id}"),
                None,
                None,
            )
            .await;
        assert_eq!(s, 204);
    }
    // Shown `deleting` while the pods are at it, then gone.
    for pod in &e.pods {
        pod.compute().finish_deletes();
    }
    let (s, b, _) = e
        .call(
            &e.demo,
            Method::GET,
            &format!("/v2.1/servers/{}", ids[0]),
            None,
            None,
        )
        .await;
    assert_eq!((s, b["itemNotFound"]["code"].clone()), (404, json!(404)));
    assert_eq!(
        e.store
            .usage(
                e.identity.validate(&e.demo).unwrap()["token"]["project"]["id"]
                    .as_str()
                    .unwrap()
            )
            .await
            .unwrap()
            .instances,
        0
    );
}

#[tokio::test]
async fn bad_boots_are_4xx_and_leave_nothing() {
    let e = env().await;
    e.flavor("f1", 1).await;
    for (body, want) in [
        (
            json!({"server": {"imageRef": IMAGE, "flavorRef": "f1"}}),
            400,
        ),
        (json!({"server": {"name": "x", "imageRef": IMAGE}}), 400),
        (
            json!({"server": {"name": "x", "imageRef": IMAGE, "flavorRef": "nope"}}),
            400,
        ),
        (
            json!({"server": {"name": "x", "imageRef": IMAGE, "flavorRef": "f1", "availability_zone": "az9"}}),
            400,
        ),
        (
            json!({"server": {"name": "x", "imageRef": IMAGE, "flavorRef": "f1", "key_name": "missing"}}),
            400,
        ),
        (
            json!({"server": {"name": "x", "imageRef": IMAGE, "flavorRef": "f1", "min_count": "two"}}),
            400,
        ),
        (json!({"servers": {}}), 400),
        // Metadata as Nova's schema has it, refused before a pod is asked.
        (
            json!({"server": {"name": "x", "imageRef": IMAGE, "flavorRef": "f1", "metadata": {"k": [1, 2, 3]}}}),
            400,
        ),
        (
            json!({"server": {"name": "x", "imageRef": IMAGE, "flavorRef": "f1", "metadata": "k=v"}}),
            400,
        ),
        (
            json!({"server": {"name": "x", "imageRef": IMAGE, "flavorRef": "f1", "metadata": {"a/b": "v"}}}),
            400,
        ),
        (
            json!({"server": {"name": "x", "imageRef": IMAGE, "flavorRef": "f1", "metadata": {"k": "v".repeat(256)}}}),
            400,
        ),
    ] {
        let seen: u64 = e.pods.iter().map(|p| p.requests_seen()).sum();
        let (s, b, _) = e
            .call(
                &e.demo,
                Method::POST,
                "/v2.1/servers",
                Some(body.clone()),
                None,
            )
            .await;
        assert_eq!(s, want, "{body} -> {b}");
        assert_eq!(b["badRequest"]["code"], json!(400), "{b}");
        // Bad metadata is refused before any pod is asked anything (the
        // image check, earlier, asks one).
        if body["server"].get("metadata").is_some() {
            let after: u64 = e.pods.iter().map(|p| p.requests_seen()).sum();
            assert_eq!(after, seen, "{body} reached a pod");
        }
    }
    // A pod-side refusal (unknown image) passes through, and frees the quota.
    let (s, b, _) = e
        .call(&e.demo, Method::POST, "/v2.1/servers",
            Some(json!({"server": {"name": "x", "imageRef": "00000000-0000-4000-8000-000000000000", "flavorRef": "f1", "networks": "none"}})), Some("2.47"))
        .await;
    assert_eq!(s, 400, "{b}");
    assert!(e.pods.iter().all(|p| p.compute().servers().is_empty()));
    let project = e.identity.validate(&e.demo).unwrap()["token"]["project"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(e.store.usage(&project).await.unwrap(), Usage::default());
    let (s, _, _) = e
        .call(
            &e.demo,
            Method::GET,
            "/v2.1/servers/00000000-0000-4000-8000-000000000000",
            None,
            None,
        )
        .await;
    assert_eq!(s, 404);
}

#[tokio::test]
async fn quota_counts_servers_in_every_pod() {
    let e = env_with(
        testing::sqlite().await,
        Usage {
            instances: 2,
            cores: 20,
            ram_mb: 51200,
            volumes: 10,
            gigabytes: 1000,
            snapshots: 10,
        },
    )
    .await;
    e.flavor("f1", 1).await;
    let (s, _) = e.boot(&e.demo, "a", "az1", "f1").await;
    assert_eq!(s, 202);
    let (s, _) = e.boot(&e.demo, "b", "az2", "f1").await;
    assert_eq!(s, 202);
    let (s, b) = e.boot(&e.demo, "c", "az1", "f1").await;
    assert_eq!(s, 403, "{b}");
    assert!(
        b["forbidden"]["message"]
            .as_str()
            .unwrap()
            .contains("Quota exceeded for instances"),
        "{b}"
    );
    let (s, b, _) = e
        .call(&e.demo, Method::GET, "/v2.1/limits", None, None)
        .await;
    assert_eq!(s, 200);
    assert_eq!(b["limits"]["absolute"]["totalInstancesUsed"], 2);
    assert_eq!(b["limits"]["absolute"]["maxTotalInstances"], 2);
}

#[tokio::test]
async fn huge_counts_are_bounded_by_the_quota() {
    let e = env_with(
        testing::sqlite().await,
        Usage {
            instances: 3,
            cores: 20,
            ram_mb: 51200,
            volumes: 10,
            gigabytes: 1000,
            snapshots: 10,
        },
    )
    .await;
    e.flavor("f1", 1).await;
    let boot = |min: Value, max: Value| {
        json!({"server": {"name": "many", "imageRef": IMAGE, "flavorRef": "f1", "availability_zone": "az1",
            "networks": "none", "min_count": min, "max_count": max}})
    };
    // max_count 2^63-1: Nova boots what the quota allows, no more.
    let (s, b, _) = e
        .call(
            &e.demo,
            Method::POST,
            "/v2.1/servers",
            Some(boot(json!(1), json!(i64::MAX))),
            Some("2.37"),
        )
        .await;
    assert_eq!(s, 202, "{b}");
    assert_eq!(e.pods[0].compute().servers().len(), 3);
    // Nothing fits any more: Nova's 403, at once.
    let (s, b, _) = e
        .call(
            &e.demo,
            Method::POST,
            "/v2.1/servers",
            Some(boot(json!(1), json!(i64::MAX))),
            Some("2.37"),
        )
        .await;
    assert_eq!(s, 403, "{b}");
    assert!(
        b["forbidden"]["message"]
            .as_str()
            .unwrap()
            .starts_with("Quota exceeded for instances"),
        "{b}"
    );
    // Counts that are not counts.
    for (min, max) in [
        (json!(i64::MAX), json!(i64::MAX)),
        (json!("9223372036854775808"), json!(1)),
        (json!(0), json!(1)),
        (json!(-1), json!(1)),
        (json!(2), json!(1)),
        (json!(1.5), json!(2)),
        (json!("x"), json!(2)),
        (json!(1e300), json!(2)),
    ] {
        let (s, b, _) = e
            .call(
                &e.demo,
                Method::POST,
                "/v2.1/servers",
                Some(boot(min.clone(), max.clone())),
                Some("2.37"),
            )
            .await;
        assert!(s == 400 || s == 403, "{min} {max}: {s} {b}");
    }
    assert_eq!(e.pods[0].compute().servers().len(), 3);
    let (_, b, _) = e
        .call(&e.demo, Method::GET, "/v2.1/limits", None, None)
        .await;
    assert_eq!(b["limits"]["absolute"]["totalInstancesUsed"], 3, "{b}");
}

/// Our own overload is not a pod failure: a list whose call to a pod finds
/// the per-pod cap full past the queue timeout is a 503 to retry (as a shed
/// request is), never a 200 with that pod silently left out; the list that
/// holds the pod's slot is whole, and the pod's health is untouched.
#[tokio::test]
async fn a_list_that_finds_a_pod_busy_is_shed_not_partial() {
    let client = PodClientOptions {
        timeout: Duration::from_secs(10),
        max_concurrent_per_pod: 1,
        queue_timeout: Duration::from_millis(50),
        ..PodClientOptions::default()
    };
    let e = env_tuned(
        testing::sqlite().await,
        default_quota(),
        client,
        Duration::from_secs(30),
    )
    .await;
    e.flavor("f1", 1).await;
    for az in ["az1", "az2"] {
        let (s, b) = e.boot(&e.demo, az, az, "f1").await;
        assert_eq!(s, 202, "{b}");
    }
    // The first list holds Pod2's only slot while its answer is held back.
    e.pods[1].set_answer_delay("/compute/v2.1/servers", Duration::from_secs(3));
    let seen = e.pods[1].requests_seen();
    let holder = tokio::spawn({
        let (http, url, token) = (
            e.http.clone(),
            format!("{}/v2.1/servers", e.base),
            e.demo.clone(),
        );
        async move {
            let r = http
                .get(url)
                .header("x-auth-token", token)
                .send()
                .await
                .unwrap();
            let skipped = r.headers().get("x-tricircle-skipped-pods").cloned();
            (
                r.status().as_u16(),
                skipped,
                r.json::<Value>().await.unwrap(),
            )
        }
    });
    while e.pods[1].requests_seen() == seen {
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    for strict in [false, true] {
        let mut req = e
            .http
            .get(format!("{}/v2.1/servers/detail", e.base))
            .header("x-auth-token", &e.demo);
        if strict {
            req = req.header("x-tricircle-strict-list", "true");
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), 503, "strict {strict}");
        assert_eq!(r.headers()["retry-after"], "1");
        assert!(!r.headers().contains_key("x-tricircle-skipped-pods"));
        let b: Value = r.json().await.unwrap();
        assert!(
            b["serviceUnavailable"]["message"]
                .as_str()
                .unwrap()
                .contains("busy"),
            "{b}"
        );
    }
    let (s, skipped, b) = holder.await.unwrap();
    assert_eq!((s, skipped), (200, None), "{b}");
    assert_eq!(b["servers"].as_array().unwrap().len(), 2, "{b}");
    assert!(e.health.view("Pod2").is_none_or(|v| v.failures == 0));
}

#[tokio::test]
async fn a_down_pod_is_skipped_and_named() {
    let e = env().await;
    e.flavor("f1", 1).await;
    for az in ["az1", "az2"] {
        let (s, b) = e.boot(&e.demo, az, az, "f1").await;
        assert_eq!(s, 202, "{b}");
    }
    e.pods[1].set_down(true);
    let (s, b, h) = e
        .call(&e.demo, Method::GET, "/v2.1/servers", None, None)
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["servers"].as_array().unwrap().len(), 1);
    assert_eq!(h["x-tricircle-skipped-pods"], "Pod2");
    let r = e
        .http
        .get(format!("{}/v2.1/servers", e.base))
        .header("x-auth-token", &e.demo)
        .header("x-tricircle-strict-list", "true")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    assert_eq!(r.headers()["retry-after"], "5");
    // A call routed to the down pod: 503 in Nova's format, with Retry-After,
    // never the pod's own error passed on nor a 400.
    let id2 = e.pods[1].compute().servers()[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    for (method, path) in [
        (Method::GET, format!("/v2.1/servers/{id2}")),
        (Method::GET, format!("/v2.1/servers/{id2}/metadata")),
        (Method::DELETE, format!("/v2.1/servers/{id2}")),
    ] {
        let (s, b, h) = e.call(&e.demo, method.clone(), &path, None, None).await;
        assert_eq!(s, 503, "{method} {path}: {b}");
        assert_eq!(b["serviceUnavailable"]["code"], 503, "{b}");
        assert!(
            b["serviceUnavailable"]["message"]
                .as_str()
                .unwrap()
                .contains("Pod2"),
            "{b}"
        );
        // 5 s while the pod answers 503 itself; once its breaker is open,
        // the time to its next trial (at most the retry interval).
        let retry: u64 = h["retry-after"].to_str().unwrap().parse().unwrap();
        assert!((1..=10).contains(&retry), "{retry}");
    }
    // Nothing was forgotten because the pod failed: it comes back whole
    // (at its next trial).
    e.pods[1].set_down(false);
    e.clock.advance(BreakerConfig::default().retry_interval);
    let (s, b, _) = e
        .call(
            &e.demo,
            Method::GET,
            &format!("/v2.1/servers/{id2}"),
            None,
            None,
        )
        .await;
    assert_eq!(s, 200, "{b}");
}

#[tokio::test]
async fn a_token_the_pods_refuse_is_the_callers_401() {
    let e = env().await;
    e.flavor("f1", 1).await;
    let token = e.identity.issue_token("demo", "demo").unwrap();
    for az in ["az1", "az2"] {
        let (s, b) = e.boot(&token, az, az, "f1").await;
        assert_eq!(s, 202, "{b}");
    }
    // Cached by the gateway as valid; revoked in Keystone.
    let (s, _, _) = e
        .call(&token, Method::GET, "/v2.1/servers", None, None)
        .await;
    assert_eq!(s, 200);
    e.identity.revoke(&token);
    for strict in [false, true] {
        let mut req = e
            .http
            .get(format!("{}/v2.1/servers/detail", e.base))
            .header("x-auth-token", &token);
        if strict {
            req = req.header("x-tricircle-strict-list", "true");
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), 401, "strict {strict}");
        assert!(r.headers().contains_key("www-authenticate"));
        let b: Value = r.json().await.unwrap();
        assert_eq!(b["error"]["code"], 401, "{b}");
    }
    // The gateway believed the pods: routes it answers itself refuse the
    // token at once too, without waiting for its cache to expire.
    let (s, _, _) = e
        .call(&token, Method::GET, "/v2.1/flavors", None, None)
        .await;
    assert_eq!(s, 401);
}

#[tokio::test]
async fn flavors_keypairs_zones_aggregates() {
    let e = env().await;
    e.flavor("f1", 1).await;
    let (s, b, _) = e
        .call(
            &e.demo,
            Method::POST,
            "/v2.1/flavors",
            Some(json!({"flavor": {"name": "x", "vcpus": 1, "ram": 1, "disk": 0}})),
            None,
        )
        .await;
    assert_eq!((s, b["forbidden"]["code"].clone()), (403, json!(403)));
    let (s, b, _) = e
        .call(
            &e.admin,
            Method::POST,
            "/v2.1/flavors",
            Some(json!({"flavor": {"id": "f1", "name": "dup", "vcpus": 1, "ram": 1, "disk": 0}})),
            None,
        )
        .await;
    assert_eq!(s, 409, "{b}");
    let (s, b, _) = e
        .call(
            &e.admin,
            Method::POST,
            "/v2.1/flavors",
            Some(json!({"flavor": {"name": "bad", "vcpus": 0, "ram": 1, "disk": 0}})),
            None,
        )
        .await;
    assert_eq!(s, 400, "{b}");
    let (_, b, _) = e
        .call(
            &e.demo,
            Method::GET,
            "/v2.1/flavors/detail",
            None,
            Some("2.75"),
        )
        .await;
    assert_eq!(b["flavors"][0]["swap"], 0);
    let (_, b, _) = e
        .call(&e.demo, Method::GET, "/v2.1/flavors/detail", None, None)
        .await;
    assert_eq!(b["flavors"][0]["swap"], "");
    let (s, b, _) = e
        .call(
            &e.demo,
            Method::POST,
            "/v2.1/os-keypairs",
            Some(json!({"keypair": {"name": "bad/name"}})),
            None,
        )
        .await;
    assert_eq!(s, 400, "{b}");
    let (s, b, _) = e
        .call(
            &e.demo,
            Method::POST,
            "/v2.1/os-keypairs",
            Some(json!({"keypair": {"name": "k", "public_key": "ssh-rsa garbage"}})),
            None,
        )
        .await;
    assert_eq!(s, 400, "{b}");
    let (_, b, _) = e
        .call(
            &e.demo,
            Method::GET,
            "/v2.1/os-availability-zone",
            None,
            None,
        )
        .await;
    let zones: Vec<&str> = b["availabilityZoneInfo"]
        .as_array()
        .unwrap()
        .iter()
        .map(|z| z["zoneName"].as_str().unwrap())
        .collect();
    assert_eq!(zones, ["az1", "az2"]);
    let (s, b, _) = e
        .call(
            &e.admin,
            Method::GET,
            "/v2.1/os-aggregates",
            None,
            Some("2.41"),
        )
        .await;
    assert_eq!(s, 200);
    let names: Vec<&str> = b["aggregates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["ag_Pod1", "ag_Pod2"]);
    assert!(b["aggregates"][0]["uuid"].is_string());
    let (s, _, _) = e
        .call(&e.demo, Method::GET, "/v2.1/os-aggregates", None, None)
        .await;
    assert_eq!(s, 403);
    // The project id in the URL must be the token's.
    let (s, b, _) = e
        .call(
            &e.demo,
            Method::GET,
            "/v2.1/someoneelse/flavors",
            None,
            None,
        )
        .await;
    assert_eq!(s, 400, "{b}");
}

#[tokio::test]
async fn images_nova_style_until_2_35() {
    let e = env().await;
    let (s, b, _) = e
        .call(&e.demo, Method::GET, "/v2.1/images/detail", None, None)
        .await;
    assert_eq!(s, 200, "{b}");
    let img = b["images"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["id"] == IMAGE)
        .unwrap()
        .clone();
    assert_eq!(
        (img["name"].as_str(), img["status"].as_str()),
        (Some("cirros"), Some("ACTIVE"))
    );
    assert!(img["links"][0]["href"]
        .as_str()
        .unwrap()
        .starts_with(&e.base));
    // Nova links to the image in Glance too: the top region's image
    // endpoint, Pod1's image service (`<pod>/image`) here.
    let alternate = img["links"][2].clone();
    assert_eq!(
        (&alternate["rel"], &alternate["type"]),
        (
            &json!("alternate"),
            &json!("application/vnd.openstack.image")
        ),
        "{img}"
    );
    let href = alternate["href"].as_str().unwrap();
    assert!(
        href.starts_with("http://127.0.0.1:")
            && !href.starts_with(&e.base)
            && href.ends_with(&format!("/image/images/{IMAGE}")),
        "{href}"
    );
    let (_, b, _) = e
        .call(&e.demo, Method::GET, "/v2.1/images", None, None)
        .await;
    let listed = b["images"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["id"] == IMAGE)
        .unwrap();
    assert_eq!(listed["links"].as_array().unwrap().len(), 3);
    assert_eq!(listed["links"][2], alternate);
    let (s, b, _) = e
        .call(
            &e.demo,
            Method::GET,
            &format!("/v2.1/images/{IMAGE}"),
            None,
            None,
        )
        .await;
    assert_eq!((s, b["image"]["id"].clone()), (200, json!(IMAGE)));
    assert_eq!(b["image"]["links"][2], alternate);
    let (s, b, _) = e
        .call(
            &e.demo,
            Method::GET,
            "/v2.1/images/00000000-0000-4000-8000-00000000dead",
            None,
            None,
        )
        .await;
    assert_eq!((s, b["itemNotFound"]["code"].clone()), (404, json!(404)));
    let (s, _, _) = e
        .call(&e.demo, Method::GET, "/v2.1/images", None, Some("2.36"))
        .await;
    assert_eq!(s, 404);
}

#[tokio::test]
async fn a_boot_whose_outcome_is_unknown_leaves_a_check_job() {
    let e = env().await;
    e.flavor("f1", 1).await;
    let (s, _) = e.boot(&e.demo, "first", "az1", "f1").await;
    assert_eq!(s, 202);
    // Pod1 stops answering: connections are refused from now on.
    e.pod_stops[0].notify_one();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (s, b) = e.boot(&e.demo, "second", "az1", "f1").await;
    assert_eq!(s, 503, "{b}");
    assert!(
        b["serviceUnavailable"]["message"]
            .as_str()
            .unwrap()
            .contains("Pod1"),
        "{b}"
    );
    let project = e.identity.validate(&e.demo).unwrap()["token"]["project"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let jobs = e.store.pending_jobs(&project).await.unwrap();
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    assert_eq!(
        (jobs[0].0.as_str(), jobs[0].1.as_str()),
        ("server_create_check", "NEW")
    );
    // Only the first server counts against the quota.
    assert_eq!(e.store.usage(&project).await.unwrap().instances, 1);
    // The pod calls are in the metrics: answered ones and the unreachable one.
    let text = install_metrics().render();
    let has = |outcome: &str| {
        text.lines().any(|l| {
            l.starts_with("tricircle_pod_requests_total")
                && l.contains("pod=\"Pod1\"")
                && l.contains("service=\"compute\"")
                && l.contains(&format!("outcome=\"{outcome}\""))
        })
    };
    assert!(has("202") && has("unreachable"), "{text}");
}

/// Every compute route that takes a body answers malformed or wrongly
/// shaped input with a 4xx in Nova's format: never a 5xx, never a panic.
#[tokio::test]
async fn bad_bodies_on_every_route_are_4xx() {
    let e = env().await;
    e.flavor("f1", 1).await;
    let (s, b) = e.boot(&e.demo, "target", "az1", "f1").await;
    assert_eq!(s, 202, "{b}");
    let server = b["server"]["id"].as_str().unwrap().to_string();
    let routes: Vec<(Method, String, &str)> = vec![
        (Method::POST, "/v2.1/servers".into(), "demo"),
        (Method::PUT, format!("/v2.1/servers/{server}"), "demo"),
        (
            Method::POST,
            format!("/v2.1/servers/{server}/action"),
            "demo",
        ),
        (
            Method::POST,
            format!("/v2.1/servers/{server}/os-volume_attachments"),
            "demo",
        ),
        (
            Method::POST,
            format!("/v2.1/servers/{server}/metadata"),
            "demo",
        ),
        (Method::POST, "/v2.1/flavors".into(), "admin"),
        (Method::PUT, "/v2.1/flavors/f1".into(), "admin"),
        (
            Method::POST,
            "/v2.1/flavors/f1/os-extra_specs".into(),
            "admin",
        ),
        (
            Method::PUT,
            "/v2.1/flavors/f1/os-extra_specs/k".into(),
            "admin",
        ),
        (Method::POST, "/v2.1/flavors/f1/action".into(), "admin"),
        (Method::POST, "/v2.1/os-keypairs".into(), "demo"),
        (Method::PUT, "/v2.1/os-quota-sets/p1".into(), "admin"),
    ];
    for (method, path, who) in routes {
        let token = if who == "admin" {
            e.admin.clone()
        } else {
            e.demo.clone()
        };
        for body in [
            &b"{"[..],
            b"[]",
            b"\"text\"",
            b"{\"unexpected\": {\"x\": [1, {}]}}",
            b"",
        ] {
            let r = e
                .http
                .request(method.clone(), format!("{}{path}", e.base))
                .header("x-auth-token", &token)
                .header("content-type", "application/json")
                .header("openstack-api-version", "compute 2.60")
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
    // The server is untouched by all of that.
    let srv = e.wait_active(&e.demo, &server).await;
    assert_eq!(srv["name"], "target");
}

impl Env {
    /// Another podsim pod, `name` in top AZ `az` (its own AZ `pod_az`),
    /// registered in the catalog and the store. Call before the gateway
    /// reads the catalog (the first request), so the pod is in it.
    async fn add_pod(&mut self, name: &str, az: &str, pod_az: &str) {
        let mut pc = PodConfig::new(name).with_identity(self.identity.clone());
        pc.availability_zone = pod_az.into();
        pc.images = Some(self.pods[0].images().clone());
        let pod = Pod::new(pc);
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", l.local_addr().unwrap());
        let router = pod.router();
        tokio::spawn(
            async move { tricircle_podsim::serve(l, router, std::future::pending()).await },
        );
        self.identity.register_pod(name, &url);
        let spec = tricircle_core::PodSpec {
            pod_name: name.into(),
            az_name: Some(az.into()),
            pod_az_name: Some(pod_az.into()),
            dc_name: None,
        };
        self.store
            .create_pod(&spec.validate().unwrap())
            .await
            .unwrap();
        self.pods.push(pod);
    }

    async fn pod_of_server(&self, id: &str) -> String {
        let page = self
            .store
            .list_routings(
                &tricircle_store::RoutingFilter {
                    top_id: Some(id.to_string()),
                    resource_type: Some(ResourceType::Server),
                    ..Default::default()
                },
                None,
                1,
            )
            .await
            .unwrap();
        let pod_id = &page.routings[0].pod_id;
        self.store.get_pod(pod_id).await.unwrap().pod_name
    }

    fn state_of(&self, pod: &str) -> HealthState {
        self.health.view(pod).unwrap().state
    }
}

/// A pod answering 503 goes down after the threshold; lists then leave it
/// out without asking it and name it; a boot in its AZ (its only pod) is a
/// 503 with Retry-After that never reaches it; once it answers again the
/// next trial brings it back and nothing was forgotten meanwhile.
#[tokio::test]
async fn a_failing_pod_goes_down_is_skipped_without_being_asked_and_comes_back() {
    let e = env().await;
    e.flavor("f1", 1).await;
    let mut ids = Vec::new();
    for az in ["az1", "az2"] {
        let (s, b) = e.boot(&e.demo, az, az, "f1").await;
        assert_eq!(s, 202, "{b}");
        ids.push(b["server"]["id"].as_str().unwrap().to_string());
    }
    let routings_before = e
        .store
        .list_routings(&Default::default(), None, 100)
        .await
        .unwrap();
    e.pods[1].set_down(true);
    let list = || async {
        let (s, b, h) = e
            .call(&e.demo, Method::GET, "/v2.1/servers", None, None)
            .await;
        assert_eq!(s, 200, "{b}");
        let skipped = h
            .get("x-tricircle-skipped-pods")
            .map(|v| v.to_str().unwrap().to_string());
        (b["servers"].as_array().unwrap().len(), skipped)
    };
    // Each list asks the pod once; three failures in a row take it down.
    for (n, state) in [
        (1, HealthState::Degraded),
        (2, HealthState::Degraded),
        (3, HealthState::Down),
    ] {
        assert_eq!(list().await, (1, Some("Pod2".to_string())), "list {n}");
        assert_eq!(e.state_of("Pod2"), state, "after list {n}");
    }
    e.health.sync(&e.store).await.unwrap();
    let row = e.store.list_pod_health().await.unwrap();
    let pod2 = row.iter().find(|r| r.pod_name == "Pod2").unwrap();
    assert_eq!((pod2.state.as_str(), pod2.failures), ("down", 3));
    assert!(
        pod2.last_error.as_deref().unwrap().contains("HTTP 503"),
        "{pod2:?}"
    );

    // Down: lists and boots do not reach the pod at all.
    let seen = e.pods[1].requests_seen();
    assert_eq!(list().await, (1, Some("Pod2".to_string())));
    let (s, b, h) = e
        .call(
            &e.demo,
            Method::GET,
            &format!("/v2.1/servers/{}", ids[1]),
            None,
            None,
        )
        .await;
    assert_eq!(s, 503, "{b}");
    assert!(h.contains_key("retry-after"), "{h:?}");
    assert!(
        b["serviceUnavailable"]["message"]
            .as_str()
            .unwrap()
            .contains("Pod2"),
        "{b}"
    );
    let (s, b, h) = e
        .call(
            &e.demo,
            Method::POST,
            "/v2.1/servers",
            Some(json!({"server": {"name": "x", "imageRef": IMAGE, "flavorRef": "f1", "availability_zone": "az2", "networks": "none"}})),
            Some("2.47"),
        )
        .await;
    assert_eq!(s, 503, "{b}");
    assert_eq!(b["serviceUnavailable"]["code"], 503, "{b}");
    assert!(
        b["serviceUnavailable"]["message"]
            .as_str()
            .unwrap()
            .contains("az2"),
        "{b}"
    );
    let retry: u64 = h["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=10).contains(&retry), "{retry}");
    assert_eq!(e.pods[1].requests_seen(), seen, "a down pod was asked");
    // The other pod serves as ever.
    let (s, b) = e.boot(&e.demo, "az1b", "az1", "f1").await;
    assert_eq!(s, 202, "{b}");

    // It answers again; until the retry interval has passed it is still
    // left alone, then the next call is the trial, which brings it back.
    e.pods[1].set_down(false);
    assert_eq!(list().await, (2, Some("Pod2".to_string())));
    assert_eq!(e.pods[1].requests_seen(), seen);
    e.clock.advance(BreakerConfig::default().retry_interval);
    assert_eq!(list().await, (3, None));
    assert_eq!(e.state_of("Pod2"), HealthState::Up);
    let (s, b, _) = e
        .call(
            &e.demo,
            Method::GET,
            &format!("/v2.1/servers/{}", ids[1]),
            None,
            None,
        )
        .await;
    assert_eq!(s, 200, "{b}");
    e.health.sync(&e.store).await.unwrap();
    let rows = e.store.list_pod_health().await.unwrap();
    let pod2 = rows.iter().find(|r| r.pod_name == "Pod2").unwrap();
    assert_eq!(pod2.state, "up");
    assert_eq!(pod2.version, 2, "down, then up: {pod2:?}");
    // Nothing was forgotten while the pod was down.
    let routings_after = e
        .store
        .list_routings(&Default::default(), None, 100)
        .await
        .unwrap();
    for r in &routings_before.routings {
        assert!(
            routings_after.routings.iter().any(|a| a.id == r.id),
            "routing {r:?} lost"
        );
    }
}

/// With one pod of an AZ down, boots there go to the AZ's other pod (the
/// tenant's binding moves), and a fresh tenant goes where the probe saw
/// the most free capacity.
#[tokio::test]
async fn boots_avoid_a_down_pod_and_prefer_free_capacity() {
    let mut e = env().await;
    e.add_pod("Pod3", "az2", "nova2").await;
    e.flavor("f1", 1).await;
    let boot = |token: String, name: &'static str| {
        let e = &e;
        async move {
            let (s, b) = e.boot(&token, name, "az2", "f1").await;
            assert_eq!(s, 202, "{b}");
            e.pod_of_server(b["server"]["id"].as_str().unwrap()).await
        }
    };
    // Equal pods: by name.
    assert_eq!(boot(e.demo.clone(), "a").await, "Pod2");
    for _ in 0..3 {
        e.health
            .record_failure("Pod2", "HTTP 503 from compute", e.health.now());
    }
    let seen = e.pods[1].requests_seen();
    assert_eq!(boot(e.demo.clone(), "b").await, "Pod3");
    assert_eq!(e.pods[1].requests_seen(), seen, "the down pod was asked");
    // Back up, Pod2 has more room than Pod3: a tenant without a binding
    // goes there; the demo tenant keeps its (new) binding to Pod3.
    e.health.record_success("Pod2");
    e.health.set_capacity("Pod2", 32, 64_000);
    e.health.set_capacity("Pod3", 32, 1_000);
    assert_eq!(boot(e.admin.clone(), "c").await, "Pod2");
    assert_eq!(boot(e.demo.clone(), "d").await, "Pod3");
}

#[tokio::test]
async fn sub_resources_cannot_leave_their_server() {
    let e = env().await;
    e.flavor("f1", 1).await;
    let (s, b) = e.boot(&e.demo, "vm1", "az1", "f1").await;
    assert_eq!(s, 202, "{b}");
    let id = b["server"]["id"].as_str().unwrap().to_string();
    e.wait_active(&e.demo, &id).await;
    let servers_before = e.pods[0].compute().servers().len();
    let hdrs = [
        ("x-auth-token", e.demo.as_str()),
        ("openstack-api-version", "compute 2.47"),
    ];
    let boot =
        r#"{"server": {"name": "sneak", "imageRef": "x", "flavorRef": "f1", "networks": "none"}}"#;
    for tail in [
        "..%2F..%2F..%2F..%2Fnetwork%2Fv2.0%2Fnetworks",
        "..%2F..%2Fservers",
        "..%2f..%2fservers",
        "../../servers",
        "%2E%2E/%2E%2E/servers",
        "%2e%2e%2f%2e%2e%2fservers",
        "..%252F..%252Fservers",
        "..;/..;/servers",
        "..%5C..%5Cservers",
        "..\\..\\servers",
        "metadata/..%2F..%2F..%2Fservers",
        "metadata/%00",
        "ips/%2E%2E",
        "not-a-sub-resource",
    ] {
        let path = format!("/v2.1/servers/{id}/{tail}");
        for method in ["GET", "POST"] {
            let body = (method == "POST").then_some(boot);
            let (s, b) = common::raw_request(&e.base, &hdrs, method, &path, body).await;
            assert!(s == 404 || s == 405 || s == 400, "{method} {path}: {s} {b}");
            let v: Value = serde_json::from_str(&b).unwrap_or(Value::Null);
            assert!(
                v.get("itemNotFound").is_some()
                    || v.get("badMethod").is_some()
                    || v.get("badRequest").is_some(),
                "{method} {path}: not Nova's format: {b}"
            );
        }
    }
    assert_eq!(e.pods[0].compute().servers().len(), servers_before);
    assert!(e.pods[1].compute().servers().is_empty());
    // The documented sub-resources still pass, keys included.
    let (s, b) = common::raw_request(
        &e.base,
        &hdrs,
        "PUT",
        &format!("/v2.1/servers/{id}/metadata/a%20key"),
        Some(r#"{"meta": {"a key": "v"}}"#),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let (s, b, _) = e
        .call(
            &e.demo,
            Method::GET,
            &format!("/v2.1/servers/{id}/metadata"),
            None,
            None,
        )
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["metadata"]["a key"], "v", "{b}");
    let (s, _, _) = e
        .call(
            &e.demo,
            Method::DELETE,
            &format!("/v2.1/servers/{id}/ips"),
            None,
            None,
        )
        .await;
    assert_eq!(s, 405);
}

/// Nova sets quotas only for projects Keystone knows (400 otherwise), and
/// no project id can smuggle a path.
#[tokio::test]
async fn quotas_are_set_for_real_projects_only() {
    let e = env().await;
    let project = e.identity.validate(&e.demo).unwrap()["token"]["project"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let body = json!({"quota_set": {"instances": 5}});
    let (s, b, _) = e
        .call(
            &e.admin,
            Method::PUT,
            &format!("/v2.1/os-quota-sets/{project}"),
            Some(body.clone()),
            None,
        )
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["quota_set"]["instances"], 5, "{b}");
    for bad in [
        "no-such-project",
        "a%2Fb",
        "..%2F..%2Fservers",
        "a%00b",
        &"x".repeat(300),
    ] {
        let (s, b, _) = e
            .call(
                &e.admin,
                Method::PUT,
                &format!("/v2.1/os-quota-sets/{bad}"),
                Some(body.clone()),
                None,
            )
            .await;
        assert_eq!(s, 400, "{bad}: {b}");
        assert!(
            b["badRequest"]["message"]
                .as_str()
                .unwrap()
                .contains("is not a valid project"),
            "{b}"
        );
    }
    assert!(e
        .store
        .quota_limits("no-such-project")
        .await
        .unwrap()
        .is_empty());
    assert!(e.store.quota_limits("a/b").await.unwrap().is_empty());
}

/// A path segment that does not decode to UTF-8 is refused in Nova's
/// format, wherever it is (an id, a name, below a server).
#[tokio::test]
async fn undecodable_path_segments_get_nova_errors() {
    let e = env().await;
    e.flavor("f1", 1).await;
    let (s, b) = e.boot(&e.demo, "vm1", "az1", "f1").await;
    assert_eq!(s, 202, "{b}");
    let id = b["server"]["id"].as_str().unwrap().to_string();
    let hdrs = [("x-auth-token", e.demo.as_str())];
    for path in [
        "/v2.1/servers/%FF%FE".to_string(),
        format!("/v2.1/servers/{id}/%C0%AE%C0%AE"),
        format!("/v2.1/servers/{id}/metadata/%FF"),
        "/v2.1/flavors/%FF".to_string(),
        "/v2.1/os-keypairs/%C0%AE".to_string(),
        "/v2.1/os-quota-sets/%FF%FE".to_string(),
    ] {
        let (s, b) = common::raw_request(&e.base, &hdrs, "GET", &path, None).await;
        assert!((400..500).contains(&s), "{path}: {s} {b}");
        let v: Value = serde_json::from_str(&b).unwrap_or(Value::Null);
        let fault = v.as_object().and_then(|o| o.values().next());
        assert!(
            fault.is_some_and(|f| f["code"] == s && f["message"].is_string()),
            "{path}: not Nova's format: {b}"
        );
    }
}

/// A project's reader reads and does not write (Nova's default policies
/// give writes to `member`); its own keypairs are its own to manage.
#[tokio::test]
async fn readers_do_not_write() {
    let e = env().await;
    e.flavor("f1", 1).await;
    let (s, b) = e.boot(&e.demo, "vm1", "az1", "f1").await;
    assert_eq!(s, 202, "{b}");
    let id = b["server"]["id"].as_str().unwrap().to_string();
    e.wait_active(&e.demo, &id).await;
    let reader = common::user_with_role(&e.identity, &e.admin, "demo", "reader").await;

    let (s, b, _) = e
        .call(
            &reader,
            Method::GET,
            &format!("/v2.1/servers/{id}"),
            None,
            None,
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let (s, b) = e.boot(&reader, "vm2", "az1", "f1").await;
    common::assert_fault(s, &b, 403, "forbidden");
    for (method, path, body) in [
        (
            Method::PUT,
            format!("/v2.1/servers/{id}"),
            Some(json!({"server": {"name": "x"}})),
        ),
        (Method::DELETE, format!("/v2.1/servers/{id}"), None),
        (
            Method::POST,
            format!("/v2.1/servers/{id}/action"),
            Some(json!({"os-stop": null})),
        ),
        (
            Method::PUT,
            format!("/v2.1/servers/{id}/metadata/k"),
            Some(json!({"meta": {"k": "v"}})),
        ),
    ] {
        let (s, b, _) = e.call(&reader, method.clone(), &path, body, None).await;
        assert_eq!(s, 403, "{method} {path}: {b}");
        assert!(b["forbidden"]["message"].is_string(), "{b}");
    }
    // A reader of another project finds nothing to refuse: 404, as Nova.
    let outsider = common::user_with_role(&e.identity, &e.admin, "admin", "reader").await;
    for (method, path, body) in [
        (
            Method::PUT,
            format!("/v2.1/servers/{id}"),
            Some(json!({"server": {"name": "x"}})),
        ),
        (Method::DELETE, format!("/v2.1/servers/{id}"), None),
        (
            Method::POST,
            format!("/v2.1/servers/{id}/action"),
            Some(json!({"os-stop": null})),
        ),
    ] {
        let (s, b, _) = e.call(&outsider, method.clone(), &path, body, None).await;
        common::assert_fault(s, &b, 404, "itemNotFound");
    }
    let srv = e.wait_active(&e.demo, &id).await;
    assert_eq!(srv["name"], "vm1");
    assert_eq!(e.pods[0].compute().servers().len(), 1);

    // Keypairs belong to their user: the reader manages its own.
    let (s, b, _) = e
        .call(
            &reader,
            Method::POST,
            "/v2.1/os-keypairs",
            Some(json!({"keypair": {"name": "rk"}})),
            None,
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let (s, b, _) = e
        .call(&reader, Method::DELETE, "/v2.1/os-keypairs/rk", None, None)
        .await;
    assert_eq!(s, 202, "{b}");
}

/// The access list of a private flavor is Nova's admin-or-owner: a project
/// with access reads it, another project finds no such flavor (404).
#[tokio::test]
async fn flavor_access_list_for_projects_with_access() {
    let e = env().await;
    let demo_project = e.identity.validate(&e.demo).unwrap()["token"]["project"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (s, b, _) = e
        .call(
            &e.admin,
            Method::POST,
            "/v2.1/flavors",
            Some(
                json!({"flavor": {"id": "priv", "name": "priv", "vcpus": 1, "ram": 64, "disk": 1,
                "os-flavor-access:is_public": false}}),
            ),
            None,
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let (s, b, _) = e
        .call(
            &e.admin,
            Method::POST,
            "/v2.1/flavors/priv/action",
            Some(json!({"addTenantAccess": {"tenant": demo_project}})),
            None,
        )
        .await;
    assert_eq!(s, 200, "{b}");
    e.flavor("pub", 1).await;

    let (s, b, _) = e
        .call(
            &e.demo,
            Method::GET,
            "/v2.1/flavors/priv/os-flavor-access",
            None,
            None,
        )
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["flavor_access"][0]["tenant_id"], demo_project, "{b}");
    let outsider = common::user_with_role(&e.identity, &e.admin, "admin", "member").await;
    for path in [
        "/v2.1/flavors/priv/os-flavor-access",
        "/v2.1/flavors/nothing/os-flavor-access",
    ] {
        let (s, b, _) = e.call(&outsider, Method::GET, path, None, None).await;
        common::assert_fault(s, &b, 404, "itemNotFound");
    }
    let (s, b, _) = e
        .call(
            &e.demo,
            Method::GET,
            "/v2.1/flavors/pub/os-flavor-access",
            None,
            None,
        )
        .await;
    common::assert_fault(s, &b, 404, "itemNotFound");
}

/// Keys made with `ssh-keygen -t ecdsa -b 384|256|521` and `-t ed25519`;
/// the fingerprints are what `ssh-keygen -l -E md5` prints for them.
const SSH_KEYS: [(&str, &str); 4] = [
    ("ecdsa-sha2-nistp384 AAAAE2VjZHNhLXNoYTItbmlzdHAzODQAAAAIbmlzdHAzODQAAABhBLIow9ZbGMx+ZwyBv6IO4MlrM/O8jXfS8BFcrAHKB4Gu4d0HyC010KF1ow/mqFo8JpRQjInbGL0PbICR4uuD3GvEi7J2breSOGdIadYyF8er/Vh1wEvMUA+jemezoFvCwA== tempest",
     "6e:38:d4:11:2d:0c:34:6a:a9:69:72:0f:cc:bd:96:ae"),
    ("ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBIeASfYoWRCghRqAtqArPbuUi9hXglI1SF7yQlwZGEGnzqNYex8i9cjixBLjV9onHdQSLRLHx3LPUx21IwvfWzs= tempest",
     "c2:ac:5c:a2:eb:81:87:fc:8e:73:c0:2e:82:67:21:3e"),
    ("ecdsa-sha2-nistp521 AAAAE2VjZHNhLXNoYTItbmlzdHA1MjEAAAAIbmlzdHA1MjEAAACFBADNJv2EEk7q7NIIQkjDLWqswzcTjmSDA+v5QcWQx2/CLL4+b+XsucHaJFUKrY7G2a5N0gn9CF9dXKZRTHuudCQzZQH1diB3/EWEBussrZYq30E7kEfVX69XaBzFs+iDAoWCidnwmxPDiBoYKJhAlyHAlmju5W3SFhzbBxbQi8UMOzs54g== tempest",
     "6d:b0:97:4b:4f:18:cb:49:3c:b7:4f:08:cc:ec:10:86"),
    ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOBOWu0UoEgioEm/xlRClmuoa0VsyPBXoznOn6/j+2gD tempest",
     "63:52:6a:56:6b:1b:ca:c4:fa:db:66:db:97:69:a5:5b"),
];

/// A self-signed certificate from `openssl req -x509`; its fingerprint is
/// what `openssl x509 -fingerprint -sha1` prints, in lower case.
const CERT: &str = "-----BEGIN CERTIFICATE-----
MIIBejCCAR+gAwIBAgIUd5ZohBM8LJZFzW2bC5W6FYZtcP8wCgYIKoZIzj0EAwIw
EjEQMA4GA1UEAwwHdGVtcGVzdDAeFw0yNjEyMDcxNjE2MzFaFw0zNjEyMDQxNjE2
MzFaMBIxEDAOBgNVBAMMB3RlbXBlc3QwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNC
AAQiU/opyy7A+Yd13mf8CcYzLeMz0ZkYPECnnN+p0sjDQKDdqrSLabvEkAInOJyK
UD6OlaPZ8HIjgRVwsjiwYbcxo1MwUTAdBgNVHQ4EFgQUzKjOEFCADqRu9PsTCWFV
HK38ngAwHwYDVR0jBBgwFoAUzKjOEFCADqRu9PsTCWFVHK38ngAwDwYDVR0TAQH/
BAUwAwEB/zAKBggqhkjOPQQDAgNJADBGAiEAshOpndKmgSFD7S6IdnUNyqtiRe1l
GPR3wqFnGUXxK6ICIQDGiHXoiRfP2QYQ1WeC+3qRtSWzNLfYsL0vpjB6bNTVLQ==
-----END CERTIFICATE-----
";

#[tokio::test]
async fn keypairs_of_every_type_nova_accepts_with_its_fingerprints() {
    let e = env().await;
    for (i, (key, fp)) in SSH_KEYS.iter().enumerate() {
        let name = format!("k{i}");
        let (s, b, _) = e
            .call(
                &e.demo,
                Method::POST,
                "/v2.1/os-keypairs",
                Some(json!({"keypair": {"name": name, "public_key": key}})),
                Some("2.2"),
            )
            .await;
        assert_eq!(s, 201, "{b}");
        assert_eq!(b["keypair"]["fingerprint"], *fp, "{key}");
        assert_eq!(b["keypair"]["type"], "ssh");
        let (s, b, _) = e
            .call(
                &e.demo,
                Method::GET,
                &format!("/v2.1/os-keypairs/{name}"),
                None,
                Some("2.2"),
            )
            .await;
        assert_eq!((s, &b["keypair"]["fingerprint"]), (200, &json!(fp)));
    }
    // x509 from 2.2: imported, with the SHA-1 of the certificate.
    let (s, b, _) = e
        .call(
            &e.demo,
            Method::POST,
            "/v2.1/os-keypairs",
            Some(json!({"keypair": {"name": "cert", "public_key": CERT, "type": "x509"}})),
            Some("2.2"),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    assert_eq!(
        (&b["keypair"]["type"], &b["keypair"]["fingerprint"]),
        (
            &json!("x509"),
            &json!("c9:68:4a:2c:ed:ad:89:7f:98:c1:f6:da:43:c5:68:9b:ac:e5:89:fd")
        )
    );
    // ... and generated: a certificate whose fingerprint is reported.
    let (s, b, _) = e
        .call(
            &e.demo,
            Method::POST,
            "/v2.1/os-keypairs",
            Some(json!({"keypair": {"name": "gen", "type": "x509"}})),
            Some("2.2"),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    let cert = b["keypair"]["public_key"].as_str().unwrap();
    assert!(cert.starts_with("-----BEGIN CERTIFICATE-----"), "{cert}");
    assert!(b["keypair"]["private_key"]
        .as_str()
        .unwrap()
        .contains("PRIVATE KEY-----"));
    let fp = b["keypair"]["fingerprint"].as_str().unwrap();
    assert_eq!((fp.len(), fp.matches(':').count()), (59, 19), "{fp}");
    let (s, b, _) = e
        .call(&e.demo, Method::GET, "/v2.1/os-keypairs", None, Some("2.2"))
        .await;
    assert_eq!(s, 200);
    let types: Vec<(&str, &str)> = b["keypairs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            (
                k["keypair"]["name"].as_str().unwrap(),
                k["keypair"]["type"].as_str().unwrap(),
            )
        })
        .collect();
    assert!(types.contains(&("cert", "x509")) && types.contains(&("gen", "x509")));
    // Bad keys: Nova's messages.
    for (body, msg) in [
        (
            json!({"name": "bad1", "public_key": "ecdsa-sha2-nistp384 AAAAbad tempest"}),
            "Keypair data is invalid: failed to generate fingerprint",
        ),
        (
            json!({"name": "bad2", "public_key": "not a certificate", "type": "x509"}),
            "Keypair data is invalid: failed to generate X509 fingerprint. Error message: ",
        ),
        (
            json!({"name": "bad3", "public_key": "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "type": "x509"}),
            "Keypair data is invalid: failed to generate X509 fingerprint. Error message: ",
        ),
    ] {
        let (s, b, _) = e
            .call(
                &e.demo,
                Method::POST,
                "/v2.1/os-keypairs",
                Some(json!({ "keypair": body })),
                Some("2.2"),
            )
            .await;
        assert_eq!((s, &b["badRequest"]["code"]), (400, &json!(400)), "{b}");
        assert!(
            b["badRequest"]["message"]
                .as_str()
                .unwrap()
                .starts_with(msg),
            "{b}"
        );
    }
    // x509 is a 2.2 type.
    let (s, b, _) = e
        .call(
            &e.demo,
            Method::POST,
            "/v2.1/os-keypairs",
            Some(json!({"keypair": {"name": "old", "public_key": CERT, "type": "x509"}})),
            Some("2.1"),
        )
        .await;
    assert_eq!(s, 400, "{b}");
}

#[tokio::test]
async fn every_compute_answer_names_its_request_id_twice() {
    let e = env().await;
    for (token, path) in [
        (e.demo.as_str(), "/v2.1/flavors"),
        (
            e.demo.as_str(),
            "/v2.1/servers/00000000-0000-4000-8000-00000000dead",
        ),
        ("bad-token", "/v2.1/servers"),
    ] {
        let (s, _, h) = e.call(token, Method::GET, path, None, None).await;
        let rid = h["x-openstack-request-id"].to_str().unwrap();
        assert!(rid.starts_with("req-"), "{s} {path}");
        assert_eq!(h["x-compute-request-id"].to_str().unwrap(), rid, "{path}");
    }
    let r = e.http.get(format!("{}/", e.base)).send().await.unwrap();
    assert_eq!(
        r.headers()["x-compute-request-id"],
        r.headers()["x-openstack-request-id"]
    );
}

#[tokio::test]
async fn an_action_is_found_by_the_request_id_its_answer_gave() {
    let e = env().await;
    e.flavor("f1", 1).await;
    let (s, b, h) = e
        .call(
            &e.demo,
            Method::POST,
            "/v2.1/servers",
            Some(
                json!({"server": {"name": "act", "imageRef": IMAGE, "flavorRef": "f1",
                "availability_zone": "az1"}}),
            ),
            None,
        )
        .await;
    assert_eq!(s, 202, "{b}");
    let id = b["server"]["id"].as_str().unwrap().to_string();
    // The pod's own id, under which its Nova records the action; our
    // request id stays in x-openstack-request-id.
    let rid = h["x-compute-request-id"].to_str().unwrap().to_string();
    assert!(rid.starts_with("req-"), "{rid}");
    let (s, b, _) = e
        .call(
            &e.demo,
            Method::GET,
            &format!("/v2.1/servers/{id}/os-instance-actions/{rid}"),
            None,
            None,
        )
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["instanceAction"]["action"], "create", "{b}");
    assert_eq!(b["instanceAction"]["request_id"], json!(rid), "{b}");
}

#[tokio::test]
async fn instance_actions_of_a_deleted_server_from_2_21() {
    let e = env().await;
    e.flavor("f1", 1).await;
    let (s, b) = e.boot(&e.demo, "gone", "az2", "f1").await;
    assert_eq!(s, 202, "{b}");
    let id = b["server"]["id"].as_str().unwrap().to_string();
    e.wait_active(&e.demo, &id).await;
    let (s, _, _) = e
        .call(
            &e.demo,
            Method::DELETE,
            &format!("/v2.1/servers/{id}"),
            None,
            None,
        )
        .await;
    assert_eq!(s, 204);
    let mut gone = false;
    for _ in 0..100 {
        let (s, _, _) = e
            .call(
                &e.demo,
                Method::GET,
                &format!("/v2.1/servers/{id}"),
                None,
                None,
            )
            .await;
        if s == 404 {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(gone, "server {id} never went");
    let path = format!("/v2.1/servers/{id}/os-instance-actions");
    let (s, b, _) = e
        .call(&e.demo, Method::GET, &path, None, Some("2.21"))
        .await;
    assert_eq!(s, 200, "{b}");
    let actions: Vec<&str> = b["instanceActions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["delete", "create"], "{b}");
    let rid = b["instanceActions"][1]["request_id"].as_str().unwrap();
    let (s, b, _) = e
        .call(
            &e.demo,
            Method::GET,
            &format!("{path}/{rid}"),
            None,
            Some("2.21"),
        )
        .await;
    assert_eq!(
        (s, &b["instanceAction"]["action"]),
        (200, &json!("create")),
        "{b}"
    );
    assert_eq!(b["instanceAction"]["instance_uuid"], json!(id));
    // Before 2.21 a deleted server has no actions to show.
    let (s, b, _) = e
        .call(&e.demo, Method::GET, &path, None, Some("2.20"))
        .await;
    assert_eq!(
        (s, &b["itemNotFound"]["message"]),
        (404, &json!(format!("Instance {id} could not be found.")))
    );
    // Nor does anyone see the actions of a server that never was.
    let (s, _, _) = e
        .call(
            &e.demo,
            Method::GET,
            "/v2.1/servers/00000000-0000-4000-8000-00000000dead/os-instance-actions",
            None,
            Some("2.21"),
        )
        .await;
    assert_eq!(s, 404);
}

#[tokio::test]
async fn return_reservation_id_answers_the_reservation() {
    let e = env().await;
    e.flavor("f1", 1).await;
    for (name, count) in [("many", 2), ("one", 1)] {
        let (s, b, _) = e
            .call(
                &e.demo,
                Method::POST,
                "/v2.1/servers",
                Some(
                    json!({"server": {"name": name, "imageRef": IMAGE, "flavorRef": "f1",
                    "min_count": count, "max_count": count, "return_reservation_id": true,
                    "networks": "none"}}),
                ),
                Some("2.47"),
            )
            .await;
        assert_eq!(s, 202, "{b}");
        let obj = b.as_object().unwrap();
        assert_eq!(obj.len(), 1, "{b}");
        let rid = b["reservation_id"].as_str().unwrap();
        assert!(
            rid.len() == 10
                && rid.starts_with("r-")
                && rid[2..]
                    .chars()
                    .all(|c| c.is_ascii_digit() || c.is_ascii_lowercase()),
            "{rid}"
        );
    }
    // The servers were made: Tempest finds them by name.
    let (s, b, _) = e
        .call(&e.demo, Method::GET, "/v2.1/servers", None, Some("2.47"))
        .await;
    assert_eq!(s, 200);
    let mut names: Vec<&str> = b["servers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["many-1", "many-2", "one"]);
    let (s, b, _) = e
        .call(
            &e.demo,
            Method::POST,
            "/v2.1/servers",
            Some(
                json!({"server": {"name": "x", "imageRef": IMAGE, "flavorRef": "f1",
                "return_reservation_id": [1], "networks": "none"}}),
            ),
            Some("2.47"),
        )
        .await;
    assert_eq!((s, &b["badRequest"]["code"]), (400, &json!(400)), "{b}");
}

/// Nova keeps `accessIPv6` in its shortened form.
#[tokio::test]
async fn access_ipv6_is_shown_as_nova_stores_it() {
    let e = env().await;
    e.flavor("f1", 1).await;
    let (s, b, _) = e
        .call(
            &e.demo,
            Method::POST,
            "/v2.1/servers",
            Some(
                json!({"server": {"name": "v6", "imageRef": IMAGE, "flavorRef": "f1",
                "networks": "none", "accessIPv4": "10.0.0.1",
                "accessIPv6": "2001:0DB8:0000:0000:0000:0000:0000:0001"}}),
            ),
            Some("2.47"),
        )
        .await;
    assert_eq!(s, 202, "{b}");
    let id = b["server"]["id"].as_str().unwrap().to_string();
    let shown = e.wait_active(&e.demo, &id).await;
    assert_eq!(
        (&shown["accessIPv4"], &shown["accessIPv6"]),
        (&json!("10.0.0.1"), &json!("2001:db8::1"))
    );
    let (s, b, _) = e
        .call(
            &e.demo,
            Method::PUT,
            &format!("/v2.1/servers/{id}"),
            Some(json!({"server": {"accessIPv6": "::FFFF:192.0.2.1"}})),
            Some("2.47"),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["server"]["accessIPv6"], "::ffff:192.0.2.1");
    let (s, b, _) = e
        .call(
            &e.demo,
            Method::PUT,
            &format!("/v2.1/servers/{id}"),
            Some(json!({"server": {"accessIPv6": "not-an-address"}})),
            Some("2.47"),
        )
        .await;
    assert_eq!((s, &b["badRequest"]["code"]), (400, &json!(400)), "{b}");
}

/// A server whose delete its pod accepted is shown `deleting` until the pod
/// lets it go (as Nova shows it, and as the server list still lists it),
/// then 404; its routing and quota went with the accepted delete. (The
/// pods are asked with the caller's token: another project's deleting
/// server is the pod's 404.)
#[tokio::test]
async fn a_deleting_server_is_shown_until_its_pod_lets_it_go() {
    let e = env().await;
    e.flavor("f1", 1).await;
    let (s, b) = e.boot(&e.demo, "going", "az2", "f1").await;
    assert_eq!(s, 202, "{b}");
    let id = b["server"]["id"].as_str().unwrap().to_string();
    e.wait_active(&e.demo, &id).await;
    // Another server keeps the project in that pod: its lists ask it.
    let (s, b) = e.boot(&e.demo, "staying", "az2", "f1").await;
    assert_eq!(s, 202, "{b}");
    e.pods[1]
        .compute()
        .set_delete_time(Duration::from_secs(3600));
    let path = format!("/v2.1/servers/{id}");
    let (s, _, _) = e.call(&e.demo, Method::DELETE, &path, None, None).await;
    assert_eq!(s, 204);
    let (s, b, _) = e.call(&e.demo, Method::GET, &path, None, None).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["server"]["OS-EXT-STS:task_state"], "deleting", "{b}");
    assert_eq!(
        b["server"]["OS-EXT-AZ:availability_zone"], "az2",
        "top terms: {b}"
    );
    let (s, listed, _) = e
        .call(&e.demo, Method::GET, "/v2.1/servers", None, None)
        .await;
    assert_eq!(s, 200);
    assert!(
        listed["servers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v["id"] == json!(id)),
        "the list still has it: {listed}"
    );
    let (s, b, _) = e
        .call(&e.demo, Method::GET, "/v2.1/limits", None, None)
        .await;
    assert_eq!(s, 200);
    assert_eq!(b["limits"]["absolute"]["totalInstancesUsed"], 1, "{b}");

    e.pods[1].compute().finish_deletes();
    let (s, b, _) = e.call(&e.demo, Method::GET, &path, None, None).await;
    assert_eq!(s, 404, "{b}");
    let (_, listed, _) = e
        .call(&e.demo, Method::GET, "/v2.1/servers", None, None)
        .await;
    assert!(!listed["servers"]
        .as_array()
        .unwrap()
        .iter()
        .any(|v| v["id"] == json!(id)));
}
