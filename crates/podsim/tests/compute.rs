//! Nova v2.1 over real HTTP: an identity server and pod `Pod1` (tokens
//! checked through that identity) on loopback, driven with reqwest.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use reqwest::{Client, Method, StatusCode};
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tricircle_podsim::compute::{BUILD_TIME, DELETE_TIME, TASK_TIME};
use tricircle_podsim::image::ImageService;
use tricircle_podsim::{serve, Credentials, Identity, IdentityConfig, Pod, PodConfig};

const CIRROS: &str = "6e3b0e3f-6d5c-4bfb-9e4e-2bd5a1a5f1a1";

struct Env {
    pod: Pod,
    pod_url: String,
    client: Client,
    admin: String,
    demo: String,
    admin_project: String,
    demo_project: String,
    _stop: Vec<oneshot::Sender<()>>,
}

async fn spawn(listener: TcpListener, router: axum::Router) -> oneshot::Sender<()> {
    let (tx, rx) = oneshot::channel::<()>();
    tokio::spawn(serve(listener, router, async move {
        let _ = rx.await;
    }));
    tx
}

/// Logs in and returns (token, project id).
async fn login(client: &Client, base: &str, creds: &Credentials) -> (String, String) {
    let res = client
        .post(format!("{base}/v3/auth/tokens"))
        .json(&creds.auth_request())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let token = res
        .headers()
        .get("x-subject-token")
        .unwrap()
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
    let pod_url = format!("http://{}", pod_listener.local_addr().unwrap());
    identity.register_pod("Pod1", &pod_url);
    let images = ImageService::default();
    images.add_image(CIRROS, "cirros-0.6.2-x86_64-disk");
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
    let (admin, admin_project) = login(&client, &base, &Credentials::admin(&cfg)).await;
    let (demo, demo_project) = login(&client, &base, &Credentials::demo(&cfg)).await;
    Env {
        pod,
        pod_url,
        client,
        admin,
        demo,
        admin_project,
        demo_project,
        _stop: stop,
    }
}

struct Resp {
    status: StatusCode,
    headers: reqwest::header::HeaderMap,
    body: Value,
}

impl Env {
    async fn call(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<&Value>,
        version: Option<&str>,
    ) -> Resp {
        let mut req = self
            .client
            .request(method, format!("{}/compute/v2.1{path}", self.pod_url))
            .header("X-Auth-Token", token);
        if let Some(v) = version {
            req = req.header("OpenStack-API-Version", format!("compute {v}"));
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let res = req.send().await.unwrap();
        let status = res.status();
        let headers = res.headers().clone();
        let text = res.text().await.unwrap();
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        Resp {
            status,
            headers,
            body,
        }
    }

    async fn get(&self, path: &str, token: &str) -> Resp {
        self.call(Method::GET, path, token, None, None).await
    }

    async fn getv(&self, path: &str, token: &str, v: &str) -> Resp {
        self.call(Method::GET, path, token, None, Some(v)).await
    }

    async fn post(&self, path: &str, token: &str, body: Value) -> Resp {
        self.call(Method::POST, path, token, Some(&body), None)
            .await
    }

    async fn postv(&self, path: &str, token: &str, body: Value, v: &str) -> Resp {
        self.call(Method::POST, path, token, Some(&body), Some(v))
            .await
    }

    async fn put(&self, path: &str, token: &str, body: Value) -> Resp {
        self.call(Method::PUT, path, token, Some(&body), None).await
    }

    async fn delete(&self, path: &str, token: &str) -> Resp {
        self.call(Method::DELETE, path, token, None, None).await
    }

    /// Creates a flavor as admin; returns its id.
    async fn flavor(&self, name: &str, vcpus: u64, ram: u64, disk: u64) -> String {
        let r = self
            .post(
                "/flavors",
                &self.admin,
                json!({"flavor": {"name": name, "vcpus": vcpus, "ram": ram, "disk": disk}}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        r.body["flavor"]["id"].as_str().unwrap().to_string()
    }

    /// Creates a network with one IPv4 subnet in the pod's Neutron;
    /// returns the network id.
    async fn network(&self, token: &str, name: &str, cidr: &str) -> String {
        let url = format!("{}/network/v2.0", self.pod_url);
        let post = |path: &str, body: Value| {
            self.client
                .post(format!("{url}/{path}"))
                .header("X-Auth-Token", token)
                .json(&body)
                .send()
        };
        let res = post("networks", json!({"network": {"name": name}}))
            .await
            .unwrap();
        assert_eq!(res.status(), 201);
        let body: Value = res.json().await.unwrap();
        let id = body["network"]["id"].as_str().unwrap().to_string();
        let res = post(
            "subnets",
            json!({"subnet": {"network_id": id, "ip_version": 4, "cidr": cidr}}),
        )
        .await
        .unwrap();
        assert_eq!(res.status(), 201);
        id
    }

    /// Boots a server (no NICs) and returns its id, without waiting.
    async fn boot_nowait(&self, token: &str, name: &str, flavor: &str) -> String {
        let r = self
            .postv(
                "/servers",
                token,
                json!({"server": {"name": name, "imageRef": CIRROS, "flavorRef": flavor,
                    "networks": "none"}}),
                "2.52",
            )
            .await;
        assert_eq!(r.status, 202, "{}", r.body);
        r.body["server"]["id"].as_str().unwrap().to_string()
    }

    /// Boots a server and waits for ACTIVE.
    async fn boot(&self, token: &str, name: &str, flavor: &str) -> String {
        let id = self.boot_nowait(token, name, flavor).await;
        self.wait_status(token, &id, "ACTIVE").await;
        id
    }

    async fn status(&self, token: &str, id: &str) -> (String, Value) {
        let r = self.get(&format!("/servers/{id}"), token).await;
        assert_eq!(r.status, 200, "{}", r.body);
        (
            r.body["server"]["status"].as_str().unwrap().to_string(),
            r.body["server"]["OS-EXT-STS:task_state"].clone(),
        )
    }

    async fn wait_status(&self, token: &str, id: &str, want: &str) {
        for _ in 0..100 {
            let (s, task) = self.status(token, id).await;
            if s == want && task.is_null() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("server {id} never reached {want}");
    }

    async fn action(&self, token: &str, id: &str, body: Value) -> Resp {
        self.post(&format!("/servers/{id}/action"), token, body)
            .await
    }
}

fn fault(r: &Resp, name: &str, code: u16) -> String {
    assert_eq!(r.status.as_u16(), code, "{}", r.body);
    assert_eq!(r.body[name]["code"], code, "{}", r.body);
    r.body[name]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

// ------------------------------------------------------------------ tests

#[tokio::test]
async fn boot_goes_from_build_to_active() {
    let env = start().await;
    let flavor = env.flavor("m1.tiny", 1, 512, 1).await;
    env.network(&env.admin, "private", "10.0.0.0/24").await;
    let r = env
        .post(
            "/servers",
            &env.admin,
            json!({"server": {"name": "s1", "imageRef": CIRROS, "flavorRef": flavor,
                "metadata": {"k": "v"}}}),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.body);
    let s = &r.body["server"];
    let id = s["id"].as_str().unwrap();
    assert_eq!(s["OS-DCF:diskConfig"], "MANUAL");
    assert_eq!(s["security_groups"], json!([{"name": "default"}]));
    assert_eq!(s["adminPass"].as_str().unwrap().len(), 12);
    assert_eq!(s["links"][0]["rel"], "self");
    assert_eq!(
        s["links"][1]["href"],
        format!("{}/compute/servers/{id}", env.pod_url)
    );
    assert_eq!(
        r.headers["location"].to_str().unwrap(),
        format!("{}/compute/v2.1/servers/{id}", env.pod_url)
    );
    assert_eq!(r.headers["openstack-api-version"], "compute 2.1");
    assert_eq!(r.headers["x-openstack-nova-api-version"], "2.1");
    let vary: Vec<_> = r.headers.get_all("vary").iter().collect();
    assert_eq!(vary.len(), 2);

    let r = env.get(&format!("/servers/{id}"), &env.admin).await;
    let s = &r.body["server"];
    assert_eq!(s["status"], "BUILD");
    assert_eq!(s["OS-EXT-STS:vm_state"], "building");
    assert_eq!(s["OS-EXT-STS:task_state"], "spawning");
    assert_eq!(s["OS-EXT-STS:power_state"], 0);
    assert_eq!(s["addresses"], json!({}));
    assert_eq!(s["OS-SRV-USG:launched_at"], Value::Null);

    tokio::time::sleep(BUILD_TIME + Duration::from_millis(50)).await;
    let r = env.get(&format!("/servers/{id}"), &env.admin).await;
    let s = &r.body["server"];
    assert_eq!(s["status"], "ACTIVE");
    assert_eq!(s["OS-EXT-STS:vm_state"], "active");
    assert_eq!(s["OS-EXT-STS:task_state"], Value::Null);
    assert_eq!(s["OS-EXT-STS:power_state"], 1);
    assert!(s["OS-SRV-USG:launched_at"].is_string());
    assert_eq!(s["progress"], 0);
    assert_eq!(s["tenant_id"], env.admin_project);
    assert_eq!(s["metadata"], json!({"k": "v"}));
    assert_eq!(s["image"]["id"], CIRROS);
    assert_eq!(s["flavor"]["id"], flavor);
    assert_eq!(s["OS-EXT-AZ:availability_zone"], "nova");
    assert_eq!(s["hostId"].as_str().unwrap().len(), 56);
    assert!(s["OS-EXT-SRV-ATTR:host"].is_string(), "admin sees host");
    // The project's only network gave an address.
    let addrs = s["addresses"].as_object().unwrap();
    assert_eq!(addrs.len(), 1);
    let nic = &addrs.values().next().unwrap()[0];
    assert_eq!(nic["version"], 4);
    assert_eq!(nic["OS-EXT-IPS:type"], "fixed");
    assert!(s["created"].as_str().unwrap().ends_with('Z'));
    // Inspection helpers.
    let all = env.pod.compute().servers();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0]["status"], "ACTIVE");
    assert_eq!(env.pod.compute().flavor_ids(), vec![flavor]);
}

#[tokio::test]
async fn create_validation_errors() {
    let env = start().await;
    let flavor = env.flavor("m1.tiny", 1, 512, 1).await;
    let t = &env.admin;
    let cases: Vec<(Value, &str, u16, &str)> = vec![
        (
            json!({"server": {"name": "x", "imageRef": CIRROS, "flavorRef": flavor, "bogus": 1}}),
            "2.1",
            400,
            "Additional properties are not allowed ('bogus' was unexpected)",
        ),
        (
            json!({"server": {"imageRef": CIRROS, "flavorRef": flavor}}),
            "2.1",
            400,
            "'name' is a required property",
        ),
        (
            json!({"server": {"name": "x", "imageRef": CIRROS, "flavorRef": flavor}}),
            "2.37",
            400,
            "'networks' is a required property",
        ),
        (
            json!({"server": {"name": "x", "imageRef": CIRROS, "flavorRef": "nope"}}),
            "2.1",
            400,
            "Flavor nope could not be found.",
        ),
        (
            json!({"server": {"name": "x", "imageRef": "7e3b0e3f-6d5c-4bfb-9e4e-2bd5a1a5f1a1",
                "flavorRef": flavor}}),
            "2.1",
            400,
            "Can not find requested image",
        ),
        (
            json!({"server": {"name": "x", "flavorRef": flavor}}),
            "2.1",
            400,
            "Missing imageRef attribute",
        ),
        (
            json!({"server": {"name": "x", "imageRef": CIRROS, "flavorRef": flavor,
                "availability_zone": "elsewhere"}}),
            "2.1",
            400,
            "The requested availability zone is not available",
        ),
        (
            json!({"server": {"name": "x", "imageRef": CIRROS, "flavorRef": flavor,
                "key_name": "nokey"}}),
            "2.1",
            400,
            "Invalid key_name provided.",
        ),
        (
            json!({"server": {"name": "x", "imageRef": CIRROS, "flavorRef": flavor,
                "user_data": "not base64!"}}),
            "2.1",
            400,
            "is not a 'base64'",
        ),
        (
            json!({"server": {"name": "x", "imageRef": CIRROS, "flavorRef": flavor,
                "min_count": 3, "max_count": 2}}),
            "2.1",
            400,
            "min_count must be <= max_count",
        ),
        (
            json!({"server": {"name": "x", "imageRef": CIRROS, "flavorRef": flavor,
                "networks": "bogus"}}),
            "2.37",
            400,
            "is not valid under any of the given schemas",
        ),
        (
            json!({"srv": {}}),
            "2.1",
            400,
            "'server' is a required property",
        ),
    ];
    for (body, v, code, msg) in cases {
        let r = env.postv("/servers", t, body.clone(), v).await;
        let m = fault(&r, "badRequest", code);
        assert!(m.contains(msg), "{body}: {m}");
    }
    // Image larger than the flavor's disk / min_ram above the flavor's ram.
    let mut img = tricircle_podsim::image::Image::new("aaaaaaaa-0000-4000-8000-000000000001");
    img.status = "active".into();
    img.visibility = "public".into();
    img.min_ram = 1024;
    env.pod.images().insert(img);
    let r = env
        .post(
            "/servers",
            t,
            json!({"server": {"name": "x", "imageRef": "aaaaaaaa-0000-4000-8000-000000000001",
                "flavorRef": flavor}}),
        )
        .await;
    assert_eq!(
        fault(&r, "badRequest", 400),
        "Flavor's memory is too small for requested image."
    );
    // Zero-disk flavors are for volume-backed servers (non-admins).
    let zero = env.flavor("m1.zero", 1, 64, 0).await;
    let r = env
        .post(
            "/servers",
            &env.demo,
            json!({"server": {"name": "x", "imageRef": CIRROS, "flavorRef": zero}}),
        )
        .await;
    assert_eq!(
        fault(&r, "forbidden", 403),
        "Only volume-backed servers are allowed for flavors with zero disk."
    );
    assert!(env.pod.compute().servers().is_empty());
}

#[tokio::test]
async fn microversions_406_400_and_flavor_shape_switch() {
    let env = start().await;
    let flavor = env.flavor("m1.tiny", 1, 512, 1).await;
    let id = env.boot(&env.admin, "s1", &flavor).await;

    let r = env.getv("/servers", &env.admin, "2.97").await;
    assert_eq!(
        fault(&r, "computeFault", 406),
        "Version 2.97 is not supported by the API. Minimum is 2.1 and maximum is 2.96."
    );
    let r = env.getv("/servers", &env.admin, "2.0").await;
    fault(&r, "computeFault", 406);
    let r = env.getv("/servers", &env.admin, "two").await;
    assert_eq!(
        fault(&r, "badRequest", 400),
        "API Version String two is of invalid format. Must be of format MajorNum.MinorNum."
    );
    let r = env.getv("/servers", &env.admin, "latest").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.headers["openstack-api-version"], "compute 2.96");
    // The legacy header alone.
    let res = env
        .client
        .get(format!("{}/compute/v2.1/servers", env.pod_url))
        .header("X-Auth-Token", &env.admin)
        .header("X-OpenStack-Nova-API-Version", "2.30")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["x-openstack-nova-api-version"], "2.30");

    let old = env
        .getv(&format!("/servers/{id}"), &env.admin, "2.46")
        .await;
    let f = &old.body["server"]["flavor"];
    assert_eq!(f["id"], flavor);
    assert_eq!(
        f["links"][0]["href"],
        format!("{}/compute/flavors/{flavor}", env.pod_url)
    );
    assert!(f.get("vcpus").is_none());
    assert!(old.body["server"].get("description").is_some());
    let new = env
        .getv(&format!("/servers/{id}"), &env.admin, "2.47")
        .await;
    let f = &new.body["server"]["flavor"];
    assert!(f.get("id").is_none());
    assert_eq!(f["vcpus"], 1);
    assert_eq!(f["ram"], 512);
    assert_eq!(f["disk"], 1);
    assert_eq!(f["ephemeral"], 0);
    assert_eq!(f["swap"], 0);
    assert_eq!(f["original_name"], "m1.tiny");
    assert_eq!(f["extra_specs"], json!({}));

    // Fields that appear with microversions.
    let v21 = env.getv(&format!("/servers/{id}"), &env.admin, "2.1").await;
    let s = &v21.body["server"];
    for k in [
        "locked",
        "description",
        "tags",
        "trusted_image_certificates",
        "host_status",
    ] {
        assert!(s.get(k).is_none(), "{k} at 2.1");
    }
    let latest = env
        .getv(&format!("/servers/{id}"), &env.admin, "2.96")
        .await;
    let s = &latest.body["server"];
    assert_eq!(s["locked"], false);
    assert_eq!(s["tags"], json!([]));
    assert_eq!(s["trusted_image_certificates"], Value::Null);
    assert_eq!(s["host_status"], "UP");
    assert_eq!(s["server_groups"], json!([]));
    assert_eq!(s["locked_reason"], Value::Null);
    assert_eq!(s["pinned_availability_zone"], Value::Null);
    // A non-admin sees neither host_status nor the extended attributes,
    // but the hostname from 2.90.
    let demo_id = env.boot(&env.demo, "d1", &flavor).await;
    let d = env
        .getv(&format!("/servers/{demo_id}"), &env.demo, "2.96")
        .await;
    let s = &d.body["server"];
    assert!(s.get("host_status").is_none());
    assert!(s.get("OS-EXT-SRV-ATTR:host").is_none());
    assert_eq!(s["OS-EXT-SRV-ATTR:hostname"], "d1");
}

#[tokio::test]
async fn list_sorting_paging_and_filters() {
    let env = start().await;
    let f1 = env.flavor("m1.tiny", 1, 512, 1).await;
    let f2 = env.flavor("m1.small", 1, 1024, 1).await;
    let mut ids = Vec::new();
    for (i, name) in ["web-1", "web-2", "db-1", "web-3", "cache"]
        .iter()
        .enumerate()
    {
        let flavor = if i % 2 == 0 { &f1 } else { &f2 };
        ids.push(env.boot_nowait(&env.admin, name, flavor).await);
    }
    // Default order: created_at desc, then id desc.
    let all = env.get("/servers", &env.admin).await;
    let names: Vec<&str> = all.body["servers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 5);
    assert!(all.body.get("servers_links").is_none());
    // Paging with limit=2 concatenates to the full list.
    let mut paged = Vec::new();
    let mut next = Some(format!("{}/compute/v2.1/servers?limit=2", env.pod_url));
    let mut pages = 0;
    while let Some(url) = next.take() {
        let res = env
            .client
            .get(&url)
            .header("X-Auth-Token", &env.admin)
            .send()
            .await
            .unwrap();
        let body: Value = res.json().await.unwrap();
        for s in body["servers"].as_array().unwrap() {
            paged.push(s["name"].as_str().unwrap().to_string());
        }
        next = body["servers_links"][0]["href"]
            .as_str()
            .map(str::to_string);
        if let Some(n) = &next {
            assert!(n.contains("limit=2"), "{n}");
            assert!(n.contains("marker="), "{n}");
        }
        pages += 1;
        assert!(pages < 10);
    }
    assert_eq!(pages, 3);
    assert_eq!(paged, names);
    // Explicit sort by name ascending.
    let r = env
        .get("/servers?sort_key=display_name&sort_dir=asc", &env.admin)
        .await;
    let sorted: Vec<&str> = r.body["servers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(sorted, vec!["cache", "db-1", "web-1", "web-2", "web-3"]);
    let r = env
        .get(
            "/servers?sort_key=display_name&sort_dir=desc&limit=2&marker=",
            &env.admin,
        )
        .await;
    assert_eq!(fault(&r, "badRequest", 400), "marker [] not found");
    let r = env.get("/servers?marker=nope", &env.admin).await;
    assert_eq!(fault(&r, "badRequest", 400), "marker [nope] not found");
    let r = env.get("/servers?sort_key=name", &env.admin).await;
    assert!(fault(&r, "badRequest", 400).starts_with(
        "Invalid input for query parameters sort_key. Value: name. 'name' is not one of"
    ));
    let r = env.get("/servers?sort_key=host", &env.demo).await;
    assert_eq!(
        fault(&r, "forbidden", 403),
        "Only administrators can sort servers by host"
    );

    // Filters.
    let count = |r: &Resp| r.body["servers"].as_array().unwrap().len();
    assert_eq!(count(&env.get("/servers?name=^web", &env.admin).await), 3);
    assert_eq!(count(&env.get("/servers?name=-1$", &env.admin).await), 2);
    // `re.search`: anywhere in the name; an invalid pattern matches nothing.
    assert_eq!(count(&env.get("/servers?name=b-[23]", &env.admin).await), 2);
    assert_eq!(
        count(&env.get("/servers?name=%5Cw%2B-%5Cd", &env.admin).await),
        4
    );
    assert_eq!(count(&env.get("/servers?name=(web", &env.admin).await), 0);
    assert_eq!(
        count(&env.get(&format!("/servers?flavor={f2}"), &env.admin).await),
        2
    );
    assert_eq!(count(&env.get("/servers?flavor=nope", &env.admin).await), 0);
    assert_eq!(
        count(
            &env.get(&format!("/servers?image={CIRROS}"), &env.admin)
                .await
        ),
        5
    );
    assert_eq!(
        count(&env.get("/servers?status=BUILD", &env.admin).await),
        5
    );
    for id in &ids {
        env.wait_status(&env.admin, id, "ACTIVE").await;
    }
    assert_eq!(
        count(&env.get("/servers?status=active", &env.admin).await),
        5
    );
    assert_eq!(
        count(&env.get("/servers?status=SHUTOFF", &env.admin).await),
        0
    );
    let r = env.getv("/servers?status=bogus", &env.admin, "2.38").await;
    assert_eq!(fault(&r, "badRequest", 400), "Invalid status value");
    let r = env.getv("/servers?status=bogus", &env.admin, "2.37").await;
    assert_eq!(count(&r), 0);
    assert_eq!(
        count(&env.get("/servers?availability_zone=nova", &env.admin).await),
        5
    );
    // Tags (2.26+).
    let r = env
        .call(
            Method::PUT,
            &format!("/servers/{}/tags", ids[0]),
            &env.admin,
            Some(&json!({"tags": ["a", "b"]})),
            Some("2.26"),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        count(&env.getv("/servers?tags=a,b", &env.admin, "2.26").await),
        1
    );
    assert_eq!(
        count(&env.getv("/servers?not-tags=a", &env.admin, "2.26").await),
        4
    );
    assert_eq!(
        count(&env.getv("/servers?tags-any=b,z", &env.admin, "2.26").await),
        1
    );
    // changes-since.
    let r = env
        .get("/servers?changes-since=2000-01-01T00:00:00Z", &env.admin)
        .await;
    assert_eq!(count(&r), 5);
    let r = env
        .get("/servers?changes-since=2999-01-01T00:00:00Z", &env.admin)
        .await;
    assert_eq!(count(&r), 0);
    let r = env
        .get("/servers?changes-since=yesterday", &env.admin)
        .await;
    fault(&r, "badRequest", 400);
    // Detail carries the full shape.
    let r = env.get("/servers/detail?limit=1", &env.admin).await;
    assert_eq!(count(&r), 1);
    assert!(r.body["servers"][0].get("OS-EXT-STS:vm_state").is_some());
    assert!(r.body["servers_links"][0]["href"]
        .as_str()
        .unwrap()
        .contains("/compute/v2.1/servers/detail?limit=1&marker="));
}

#[tokio::test]
async fn tenant_isolation_and_all_tenants() {
    let env = start().await;
    let flavor = env.flavor("m1.tiny", 1, 512, 1).await;
    let admin_srv = env.boot_nowait(&env.admin, "admin-s", &flavor).await;
    let demo_srv = env.boot_nowait(&env.demo, "demo-s", &flavor).await;

    let r = env.get(&format!("/servers/{admin_srv}"), &env.demo).await;
    assert_eq!(
        fault(&r, "itemNotFound", 404),
        format!("Instance {admin_srv} could not be found.")
    );
    let r = env
        .action(&env.demo, &admin_srv, json!({"os-stop": null}))
        .await;
    fault(&r, "itemNotFound", 404);
    let r = env
        .delete(&format!("/servers/{admin_srv}"), &env.demo)
        .await;
    fault(&r, "itemNotFound", 404);

    let names = |r: &Resp| -> Vec<String> {
        r.body["servers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(names(&env.get("/servers", &env.demo).await), vec!["demo-s"]);
    assert_eq!(
        names(&env.get("/servers", &env.admin).await),
        vec!["admin-s"]
    );
    let mut all = names(&env.get("/servers?all_tenants=1", &env.admin).await);
    all.sort();
    assert_eq!(all, vec!["admin-s", "demo-s"]);
    let only_demo = env
        .get(
            &format!("/servers?all_tenants=1&project_id={}", env.demo_project),
            &env.admin,
        )
        .await;
    assert_eq!(names(&only_demo), vec!["demo-s"]);
    // project_id without all_tenants is ignored.
    let r = env
        .get(
            &format!("/servers?project_id={}", env.demo_project),
            &env.admin,
        )
        .await;
    assert_eq!(names(&r), vec!["admin-s"]);
    let r = env.get("/servers/detail?all_tenants=1", &env.demo).await;
    assert_eq!(
        fault(&r, "forbidden", 403),
        "Policy doesn't allow os_compute_api:servers:detail:get_all_tenants to be performed."
    );
    // Admin may act on the demo server.
    let r = env.get(&format!("/servers/{demo_srv}"), &env.admin).await;
    assert_eq!(r.status, 200);
    // Keypairs are per user.
    let r = env
        .post(
            "/os-keypairs",
            &env.demo,
            json!({"keypair": {"name": "dk"}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = env.get("/os-keypairs/dk", &env.admin).await;
    fault(&r, "itemNotFound", 404);
}

#[tokio::test]
async fn server_actions_and_conflicts() {
    let env = start().await;
    let flavor = env.flavor("m1.tiny", 1, 512, 1).await;
    let bigger = env.flavor("m1.small", 2, 1024, 2).await;
    let t = env.demo.clone();
    let id = env.boot(&t, "s1", &flavor).await;
    let pause = TASK_TIME + Duration::from_millis(50);

    // Start while active: 409 with Nova's message.
    let r = env.action(&t, &id, json!({"os-start": null})).await;
    assert_eq!(
        fault(&r, "conflictingRequest", 409),
        format!("Cannot 'start' instance {id} while it is in vm_state active")
    );
    // Stop: task state powering-off, then SHUTOFF.
    let r = env.action(&t, &id, json!({"os-stop": null})).await;
    assert_eq!(r.status, 202);
    assert_eq!(r.body, Value::Null);
    let (status, task) = env.status(&t, &id).await;
    assert_eq!((status.as_str(), task), ("ACTIVE", json!("powering-off")));
    // A second action while the task runs: 409 on the task state.
    let r = env.action(&t, &id, json!({"os-stop": null})).await;
    assert_eq!(
        fault(&r, "conflictingRequest", 409),
        format!("Cannot 'stop' instance {id} while it is in task_state powering-off")
    );
    tokio::time::sleep(pause).await;
    assert_eq!(env.status(&t, &id).await.0, "SHUTOFF");
    let r = env
        .action(&t, &id, json!({"reboot": {"type": "SOFT"}}))
        .await;
    assert_eq!(
        fault(&r, "conflictingRequest", 409),
        format!("Cannot 'reboot' instance {id} while it is in vm_state stopped")
    );
    // A hard reboot of a stopped server shows SHUTOFF until it is done.
    let r = env
        .action(&t, &id, json!({"reboot": {"type": "HARD"}}))
        .await;
    assert_eq!(r.status, 202);
    let (status, task) = env.status(&t, &id).await;
    assert_eq!(
        (status.as_str(), task),
        ("SHUTOFF", json!("rebooting_hard"))
    );
    env.wait_status(&t, &id, "ACTIVE").await;
    let r = env
        .action(&t, &id, json!({"reboot": {"type": "HARD"}}))
        .await;
    assert_eq!(r.status, 202);
    assert_eq!(env.status(&t, &id).await.0, "HARD_REBOOT");
    env.wait_status(&t, &id, "ACTIVE").await;
    let r = env
        .action(&t, &id, json!({"reboot": {"type": "SOFT"}}))
        .await;
    assert_eq!(r.status, 202);
    assert_eq!(env.status(&t, &id).await.0, "REBOOT");
    env.wait_status(&t, &id, "ACTIVE").await;

    for (act, target) in [
        ("pause", "PAUSED"),
        ("unpause", "ACTIVE"),
        ("suspend", "SUSPENDED"),
        ("resume", "ACTIVE"),
        ("shelve", "SHELVED_OFFLOADED"),
        ("unshelve", "ACTIVE"),
    ] {
        let r = env.action(&t, &id, json!({ act: null })).await;
        assert_eq!(r.status, 202, "{act}: {}", r.body);
        env.wait_status(&t, &id, target).await;
    }
    let r = env.action(&t, &id, json!({"unpause": null})).await;
    assert_eq!(
        fault(&r, "conflictingRequest", 409),
        format!("Cannot 'unpause' instance {id} while it is in vm_state active")
    );

    // Resize: VERIFY_RESIZE, then confirm (204) or revert.
    let r = env
        .action(&t, &id, json!({"resize": {"flavorRef": flavor}}))
        .await;
    assert_eq!(
        fault(&r, "badRequest", 400),
        "When resizing, instances must change flavor!"
    );
    let r = env
        .action(&t, &id, json!({"resize": {"flavorRef": bigger}}))
        .await;
    assert_eq!(r.status, 202, "{}", r.body);
    assert_eq!(env.status(&t, &id).await.0, "RESIZE");
    env.wait_status(&t, &id, "VERIFY_RESIZE").await;
    let r = env.action(&t, &id, json!({"confirmResize": null})).await;
    assert_eq!(r.status, 204);
    env.wait_status(&t, &id, "ACTIVE").await;
    let r = env.getv(&format!("/servers/{id}"), &t, "2.47").await;
    assert_eq!(r.body["server"]["flavor"]["original_name"], "m1.small");
    let r = env
        .action(&t, &id, json!({"resize": {"flavorRef": flavor}}))
        .await;
    assert_eq!(r.status, 202);
    env.wait_status(&t, &id, "VERIFY_RESIZE").await;
    let r = env.action(&t, &id, json!({"revertResize": null})).await;
    assert_eq!(r.status, 202);
    assert_eq!(env.status(&t, &id).await.0, "REVERT_RESIZE");
    env.wait_status(&t, &id, "ACTIVE").await;
    let r = env.getv(&format!("/servers/{id}"), &t, "2.47").await;
    assert_eq!(r.body["server"]["flavor"]["original_name"], "m1.small");
    let r = env.action(&t, &id, json!({"confirmResize": null})).await;
    fault(&r, "conflictingRequest", 409);

    // Admin-only actions.
    let r = env
        .action(&t, &id, json!({"os-resetState": {"state": "error"}}))
        .await;
    assert_eq!(
        fault(&r, "forbidden", 403),
        "Policy doesn't allow os_compute_api:os-admin-actions:reset_state to be performed."
    );
    let r = env.action(&t, &id, json!({"migrate": null})).await;
    fault(&r, "forbidden", 403);
    let r = env.action(&t, &id, json!({"restore": null})).await;
    assert_eq!(
        fault(&r, "conflictingRequest", 409),
        format!("Cannot 'restore' instance {id} while it is in vm_state active")
    );
    let r = env.action(&t, &id, json!({"frobnicate": null})).await;
    assert_eq!(
        fault(&r, "badRequest", 400),
        "There is no such action: frobnicate"
    );

    // Lock: the owner's own changes are refused; admins override.
    let r = env
        .postv(
            &format!("/servers/{id}/action"),
            &t,
            json!({"lock": {"locked_reason": "maintenance"}}),
            "2.73",
        )
        .await;
    assert_eq!(r.status, 202);
    let r = env.getv(&format!("/servers/{id}"), &t, "2.73").await;
    assert_eq!(r.body["server"]["locked"], true);
    assert_eq!(r.body["server"]["locked_reason"], "maintenance");
    let r = env.action(&t, &id, json!({"os-stop": null})).await;
    assert_eq!(
        fault(&r, "conflictingRequest", 409),
        format!("Instance {id} is locked")
    );
    let r = env.delete(&format!("/servers/{id}"), &t).await;
    fault(&r, "conflictingRequest", 409);
    let r = env.action(&env.admin, &id, json!({"os-stop": null})).await;
    assert_eq!(r.status, 202);
    env.wait_status(&t, &id, "SHUTOFF").await;
    let r = env.action(&t, &id, json!({"unlock": null})).await;
    assert_eq!(r.status, 202);
    // Admin resets the state.
    let r = env
        .action(
            &env.admin,
            &id,
            json!({"os-resetState": {"state": "error"}}),
        )
        .await;
    assert_eq!(r.status, 202);
    assert_eq!(env.status(&t, &id).await.0, "ERROR");
    let r = env
        .action(
            &env.admin,
            &id,
            json!({"os-resetState": {"state": "active"}}),
        )
        .await;
    assert_eq!(r.status, 202);

    // Console output, VNC console (2.1-2.5) and remote consoles (2.6+).
    let r = env
        .action(&t, &id, json!({"os-getConsoleOutput": {"length": 2}}))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["output"].as_str().unwrap().lines().count(), 2);
    let r = env
        .action(&t, &id, json!({"os-getVNCConsole": {"type": "novnc"}}))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["console"]["type"], "novnc");
    let r = env
        .postv(
            &format!("/servers/{id}/remote-consoles"),
            &t,
            json!({"remote_console": {"protocol": "vnc", "type": "novnc"}}),
            "2.6",
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body["remote_console"]["url"]
        .as_str()
        .unwrap()
        .contains("token"));

    // changePassword, security groups, rebuild.
    let r = env
        .action(&t, &id, json!({"changePassword": {"adminPass": "secret"}}))
        .await;
    assert_eq!(r.status, 202);
    env.wait_status(&t, &id, "ACTIVE").await;
    // (Groups change on the server's ports: no such group is Nova's 404;
    // compute_network.rs has the groups that exist.)
    let r = env
        .action(&t, &id, json!({"addSecurityGroup": {"name": "web"}}))
        .await;
    fault(&r, "itemNotFound", 404);
    let r = env
        .action(&t, &id, json!({"removeSecurityGroup": {"name": ""}}))
        .await;
    fault(&r, "badRequest", 400);
    let r = env
        .action(
            &t,
            &id,
            json!({"rebuild": {"imageRef": CIRROS, "name": "s1-rebuilt"}}),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.body);
    assert_eq!(r.body["server"]["status"], "REBUILD");
    assert_eq!(r.body["server"]["name"], "s1-rebuilt");
    assert!(r.body["server"]["adminPass"].is_string());
    env.wait_status(&t, &id, "ACTIVE").await;

    // Instance actions, newest first.
    let r = env
        .get(&format!("/servers/{id}/os-instance-actions"), &t)
        .await;
    let actions: Vec<&str> = r.body["instanceActions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions.first(), Some(&"rebuild"));
    assert_eq!(actions.last(), Some(&"create"));
    assert!(actions.contains(&"stop"));
    let rid = r.body["instanceActions"][0]["request_id"].as_str().unwrap();
    let r = env
        .getv(
            &format!("/servers/{id}/os-instance-actions/{rid}"),
            &t,
            "2.51",
        )
        .await;
    assert_eq!(r.body["instanceAction"]["action"], "rebuild");
    assert_eq!(r.body["instanceAction"]["events"][0]["result"], "Success");
}

#[tokio::test]
async fn create_image_uses_the_image_service() {
    let env = start().await;
    let flavor = env.flavor("m1.tiny", 1, 512, 1).await;
    let id = env.boot(&env.demo, "s1", &flavor).await;
    let r = env
        .action(
            &env.demo,
            &id,
            json!({"createImage": {"name": "snap", "metadata": {"purpose": "test"}}}),
        )
        .await;
    assert_eq!(r.status, 202);
    let location = r.headers["location"].to_str().unwrap().to_string();
    let image_id = location.rsplit('/').next().unwrap();
    let img = env.pod.images().get(image_id).unwrap();
    assert_eq!(img.name.as_deref(), Some("snap"));
    assert_eq!(img.owner.as_deref(), Some(env.demo_project.as_str()));
    assert_eq!(img.properties["image_type"], "snapshot");
    assert_eq!(img.properties["instance_uuid"], json!(id));
    assert_eq!(img.properties["purpose"], "test");
    env.wait_status(&env.demo, &id, "ACTIVE").await;
    let r = env
        .postv(
            &format!("/servers/{id}/action"),
            &env.demo,
            json!({"createImage": {"name": "snap2"}}),
            "2.45",
        )
        .await;
    assert_eq!(r.status, 202);
    assert!(r.headers.get("location").is_none());
    let image_id = r.body["image_id"].as_str().unwrap();
    assert!(env.pod.images().get(image_id).is_some());
    // The snapshot boots.
    env.wait_status(&env.demo, &id, "ACTIVE").await;
    let r = env
        .post(
            "/servers",
            &env.demo,
            json!({"server": {"name": "from-snap", "imageRef": image_id, "flavorRef": flavor}}),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.body);
}

#[tokio::test]
async fn delete_detaches_and_disappears() {
    let env = start().await;
    let flavor = env.flavor("m1.tiny", 1, 512, 1).await;
    let id = env.boot(&env.admin, "s1", &flavor).await;
    let r = env.delete(&format!("/servers/{id}"), &env.admin).await;
    assert_eq!(r.status, 204);
    let (status, task) = env.status(&env.admin, &id).await;
    assert_eq!(status, "ACTIVE");
    assert_eq!(task, "deleting");
    tokio::time::sleep(DELETE_TIME + Duration::from_millis(50)).await;
    let r = env.get(&format!("/servers/{id}"), &env.admin).await;
    assert_eq!(
        fault(&r, "itemNotFound", 404),
        format!("Instance {id} could not be found.")
    );
    let r = env.get("/servers", &env.admin).await;
    assert_eq!(r.body["servers"], json!([]));
    // changes-since lists the deleted server.
    let r = env
        .get(
            "/servers/detail?changes-since=2000-01-01T00:00:00Z",
            &env.admin,
        )
        .await;
    assert_eq!(r.body["servers"][0]["status"], "DELETED");
    assert!(r.body["servers"][0]["OS-SRV-USG:terminated_at"].is_string());
    // Its instance actions are still readable (2.21+).
    let r = env
        .getv(
            &format!("/servers/{id}/os-instance-actions"),
            &env.admin,
            "2.21",
        )
        .await;
    assert_eq!(r.body["instanceActions"][0]["action"], "delete");
    assert!(env.pod.compute().servers().is_empty());
}

#[tokio::test]
async fn flavors_crud_access_and_extra_specs() {
    let env = start().await;
    let a = &env.admin;
    assert!(env.pod.compute().flavor_ids().is_empty());
    let r = env
        .post(
            "/flavors",
            a,
            json!({"flavor": {"name": "m1.tiny", "ram": 512, "vcpus": 1, "disk": 1, "id": "1"}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let f = &r.body["flavor"];
    assert_eq!(f["id"], "1");
    assert_eq!(f["swap"], "");
    assert_eq!(f["rxtx_factor"], 1.0);
    assert_eq!(f["os-flavor-access:is_public"], true);
    assert_eq!(f["OS-FLV-EXT-DATA:ephemeral"], 0);
    assert_eq!(f["OS-FLV-DISABLED:disabled"], false);
    let r = env
        .post(
            "/flavors",
            a,
            json!({"flavor": {"name": "m1.tiny", "ram": 512, "vcpus": 1, "disk": 1}}),
        )
        .await;
    assert_eq!(
        fault(&r, "conflictingRequest", 409),
        "Flavor with name m1.tiny already exists."
    );
    let r = env
        .post(
            "/flavors",
            a,
            json!({"flavor": {"name": "other", "ram": 512, "vcpus": 1, "disk": 1, "id": "1"}}),
        )
        .await;
    assert_eq!(
        fault(&r, "conflictingRequest", 409),
        "Flavor with ID 1 already exists."
    );
    let r = env
        .post(
            "/flavors",
            &env.demo,
            json!({"flavor": {"name": "x", "ram": 512, "vcpus": 1, "disk": 1}}),
        )
        .await;
    assert_eq!(
        fault(&r, "forbidden", 403),
        "Policy doesn't allow os_compute_api:os-flavor-manage:create to be performed."
    );
    let r = env
        .post(
            "/flavors",
            a,
            json!({"flavor": {"name": "bad", "ram": 0, "vcpus": 1, "disk": 1}}),
        )
        .await;
    assert!(fault(&r, "badRequest", 400).contains("less than the minimum of 1"));
    // Generated ids; the swap shape switches at 2.75.
    let r = env
        .postv(
            "/flavors",
            a,
            json!({"flavor": {"name": "m1.small", "ram": 2048, "vcpus": 1, "disk": 20,
                "description": "small one"}}),
            "2.75",
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let small = r.body["flavor"]["id"].as_str().unwrap().to_string();
    assert_eq!(small.len(), 36);
    assert_eq!(r.body["flavor"]["swap"], 0);
    assert_eq!(r.body["flavor"]["description"], "small one");
    assert_eq!(r.body["flavor"]["extra_specs"], json!({}));
    assert_eq!(
        env.pod.compute().flavor_ids(),
        vec!["1".to_string(), small.clone()]
    );

    // List, detail, paging and filters.
    let r = env.get("/flavors", &env.demo).await;
    assert_eq!(r.body["flavors"].as_array().unwrap().len(), 2);
    assert!(r.body["flavors"][0].get("ram").is_none());
    let r = env.get("/flavors/detail?minRam=1024", &env.demo).await;
    assert_eq!(r.body["flavors"].as_array().unwrap().len(), 1);
    assert_eq!(r.body["flavors"][0]["name"], "m1.small");
    // Flavors sort by flavorid: "1" or the generated uuid, whichever is lower.
    let first = std::cmp::min("1".to_string(), small.clone());
    let r = env.get("/flavors?limit=1", &env.demo).await;
    assert_eq!(r.body["flavors"].as_array().unwrap().len(), 1);
    assert_eq!(r.body["flavors"][0]["id"], json!(first));
    assert!(r.body["flavors_links"][0]["href"]
        .as_str()
        .unwrap()
        .contains(&format!("marker={first}")));
    let r = env.get("/flavors?minRam=x", &env.demo).await;
    assert_eq!(fault(&r, "badRequest", 400), "Invalid minRam filter [x]");
    let r = env.get("/flavors/nope", &env.demo).await;
    assert_eq!(
        fault(&r, "itemNotFound", 404),
        "Flavor nope could not be found."
    );

    // Private flavors and tenant access.
    let r = env
        .post(
            "/flavors",
            a,
            json!({"flavor": {"name": "private", "ram": 512, "vcpus": 1, "disk": 1,
                "id": "p1", "os-flavor-access:is_public": false}}),
        )
        .await;
    assert_eq!(r.status, 200);
    let r = env.get("/flavors/p1", &env.demo).await;
    fault(&r, "itemNotFound", 404);
    let r = env.get("/flavors/1/os-flavor-access", a).await;
    assert_eq!(
        fault(&r, "itemNotFound", 404),
        "Access list not available for public flavors."
    );
    let r = env
        .post(
            "/flavors/p1/action",
            a,
            json!({"addTenantAccess": {"tenant": env.demo_project}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.body["flavor_access"],
        json!([{"flavor_id": "p1", "tenant_id": env.demo_project}])
    );
    let r = env
        .post(
            "/flavors/p1/action",
            a,
            json!({"addTenantAccess": {"tenant": env.demo_project}}),
        )
        .await;
    fault(&r, "conflictingRequest", 409);
    let r = env
        .post(
            "/flavors/p1/action",
            a,
            json!({"addTenantAccess": {"tenant": "no-such-project"}}),
        )
        .await;
    assert_eq!(
        fault(&r, "badRequest", 400),
        "Project ID no-such-project is not a valid project."
    );
    let r = env.get("/flavors/p1", &env.demo).await;
    assert_eq!(r.status, 200);
    let r = env.get("/flavors", &env.demo).await;
    assert_eq!(r.body["flavors"].as_array().unwrap().len(), 3);
    let r = env
        .post(
            "/flavors/p1/action",
            a,
            json!({"removeTenantAccess": {"tenant": env.demo_project}}),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["flavor_access"], json!([]));

    // Extra specs.
    let r = env
        .post(
            "/flavors/1/os-extra_specs",
            a,
            json!({"extra_specs": {"hw:cpu_policy": "dedicated", "quota:vif": 10}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = env.get("/flavors/1/os-extra_specs", &env.demo).await;
    assert_eq!(
        r.body["extra_specs"],
        json!({"hw:cpu_policy": "dedicated", "quota:vif": "10"})
    );
    let r = env
        .get("/flavors/1/os-extra_specs/hw:cpu_policy", &env.demo)
        .await;
    assert_eq!(r.body, json!({"hw:cpu_policy": "dedicated"}));
    let r = env
        .put(
            "/flavors/1/os-extra_specs/hw:cpu_policy",
            a,
            json!({"hw:cpu_policy": "shared"}),
        )
        .await;
    assert_eq!(r.status, 200);
    let r = env
        .put("/flavors/1/os-extra_specs/a", a, json!({"b": "c"}))
        .await;
    assert_eq!(
        fault(&r, "badRequest", 400),
        "Request body and URI mismatch"
    );
    let r = env.delete("/flavors/1/os-extra_specs/quota:vif", a).await;
    assert_eq!(r.status, 200);
    let r = env.get("/flavors/1/os-extra_specs/quota:vif", a).await;
    assert_eq!(
        fault(&r, "itemNotFound", 404),
        "Flavor 1 has no extra specs with key quota:vif."
    );
    let r = env
        .post(
            "/flavors/1/os-extra_specs",
            &env.demo,
            json!({"extra_specs": {"a": "b"}}),
        )
        .await;
    fault(&r, "forbidden", 403);
    let r = env.getv("/flavors/1", &env.demo, "2.61").await;
    assert_eq!(
        r.body["flavor"]["extra_specs"],
        json!({"hw:cpu_policy": "shared"})
    );

    // Delete.
    let r = env.delete(&format!("/flavors/{small}"), a).await;
    assert_eq!(r.status, 202);
    let r = env.get(&format!("/flavors/{small}"), a).await;
    fault(&r, "itemNotFound", 404);
    let r = env.delete("/flavors/nope", a).await;
    fault(&r, "itemNotFound", 404);
}

#[tokio::test]
async fn keypairs_crud_and_errors() {
    let env = start().await;
    let t = &env.demo;
    // 2.1: generated, 200, no type.
    let r = env
        .post("/os-keypairs", t, json!({"keypair": {"name": "gen"}}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let kp = &r.body["keypair"];
    assert!(kp["private_key"]
        .as_str()
        .unwrap()
        .starts_with("-----BEGIN RSA PRIVATE KEY-----"));
    assert!(kp["public_key"].as_str().unwrap().starts_with("ssh-rsa "));
    assert_eq!(kp["fingerprint"].as_str().unwrap().split(':').count(), 16);
    assert!(kp.get("type").is_none());
    // 2.2: imported, 201, with type.
    let pubkey =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl me@host";
    let r = env
        .postv(
            "/os-keypairs",
            t,
            json!({"keypair": {"name": "imported", "public_key": pubkey}}),
            "2.2",
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["keypair"]["type"], "ssh");
    assert_eq!(r.body["keypair"]["public_key"], pubkey);
    assert!(r.body["keypair"].get("private_key").is_none());
    // Errors.
    let r = env
        .postv(
            "/os-keypairs",
            t,
            json!({"keypair": {"name": "imported", "public_key": pubkey}}),
            "2.2",
        )
        .await;
    assert_eq!(
        fault(&r, "conflictingRequest", 409),
        "Key pair 'imported' already exists."
    );
    let r = env
        .post(
            "/os-keypairs",
            t,
            json!({"keypair": {"name": "bad", "public_key": "ssh-rsa garbage"}}),
        )
        .await;
    assert_eq!(
        fault(&r, "badRequest", 400),
        "Keypair data is invalid: failed to generate fingerprint"
    );
    let r = env
        .post("/os-keypairs", t, json!({"keypair": {"name": "a/b"}}))
        .await;
    assert_eq!(
        fault(&r, "badRequest", 400),
        "Invalid input for field/attribute name. Value: a/b. 'a/b' does not match '^[_\\\\- a-zA-Z0-9]+$'"
    );
    let r = env
        .postv(
            "/os-keypairs",
            t,
            json!({"keypair": {"name": "k", "type": "pgp"}}),
            "2.2",
        )
        .await;
    fault(&r, "badRequest", 400);
    let r = env
        .postv("/os-keypairs", t, json!({"keypair": {"name": "k"}}), "2.92")
        .await;
    assert!(fault(&r, "badRequest", 400).contains("'public_key' is a required property"));
    // 2.92 allows '@' and '.'.
    let r = env
        .postv(
            "/os-keypairs",
            t,
            json!({"keypair": {"name": "me@host.x", "public_key": pubkey}}),
            "2.92",
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);

    // List / show / delete.
    let r = env.getv("/os-keypairs", t, "2.2").await;
    let names: Vec<&str> = r.body["keypairs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["keypair"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["gen", "imported", "me@host.x"]);
    assert_eq!(r.body["keypairs"][0]["keypair"]["type"], "ssh");
    let demo_user = env.pod.compute().servers().len();
    assert_eq!(demo_user, 0);
    let r = env.getv("/os-keypairs?limit=1", t, "2.35").await;
    assert_eq!(r.body["keypairs"].as_array().unwrap().len(), 1);
    assert!(r.body["keypairs_links"][0]["href"]
        .as_str()
        .unwrap()
        .contains("marker=gen"));
    let r = env.get("/os-keypairs/imported", t).await;
    let kp = &r.body["keypair"];
    assert_eq!(kp["deleted"], false);
    assert!(kp["id"].is_number());
    assert!(kp["created_at"].is_string());
    let user_id = kp["user_id"].as_str().unwrap().to_string();
    assert_eq!(
        env.pod.compute().keypair_names(&user_id),
        vec!["gen", "imported", "me@host.x"]
    );
    // Admins may look at another user's keypairs (2.10+); users may not.
    let r = env
        .getv(
            &format!("/os-keypairs?user_id={user_id}"),
            &env.admin,
            "2.10",
        )
        .await;
    assert_eq!(r.body["keypairs"].as_array().unwrap().len(), 3);
    let r = env
        .getv("/os-keypairs?user_id=someone-else", t, "2.10")
        .await;
    fault(&r, "forbidden", 403);
    let r = env.delete("/os-keypairs/gen", t).await;
    assert_eq!(r.status, 202);
    let r = env
        .call(
            Method::DELETE,
            "/os-keypairs/imported",
            t,
            None,
            Some("2.2"),
        )
        .await;
    assert_eq!(r.status, 204);
    let r = env.delete("/os-keypairs/gen", t).await;
    assert_eq!(
        fault(&r, "itemNotFound", 404),
        format!("Keypair gen not found for user {user_id}")
    );
    assert_eq!(env.pod.compute().keypair_names(&user_id), vec!["me@host.x"]);
}

#[tokio::test]
async fn quota_exceeded_limits_and_quota_sets() {
    let env = start().await;
    let flavor = env.flavor("m1.tiny", 2, 512, 1).await;
    let q = format!("/os-quota-sets/{}", env.demo_project);
    let r = env.get(&q, &env.demo).await;
    assert_eq!(r.status, 200);
    let qs = &r.body["quota_set"];
    assert_eq!(qs["id"], env.demo_project);
    assert_eq!(qs["instances"], 10);
    assert_eq!(qs["cores"], 20);
    assert_eq!(qs["ram"], 51200);
    assert_eq!(qs["floating_ips"], -1);
    let r = env.getv(&q, &env.demo, "2.57").await;
    assert!(r.body["quota_set"].get("floating_ips").is_none());
    assert!(r.body["quota_set"].get("injected_files").is_none());
    // Only admins set quotas.
    let r = env
        .put(&q, &env.demo, json!({"quota_set": {"instances": 1}}))
        .await;
    assert_eq!(
        fault(&r, "forbidden", 403),
        "Policy doesn't allow os_compute_api:os-quota-sets:update to be performed."
    );
    let r = env
        .put(
            &q,
            &env.admin,
            json!({"quota_set": {"instances": 2, "cores": 3}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body["quota_set"].get("id").is_none());
    assert_eq!(r.body["quota_set"]["instances"], 2);
    let r = env
        .put(&q, &env.admin, json!({"quota_set": {"bogus": 2}}))
        .await;
    fault(&r, "badRequest", 400);

    env.boot_nowait(&env.demo, "one", &flavor).await;
    let r = env
        .post(
            "/servers",
            &env.demo,
            json!({"server": {"name": "two", "imageRef": CIRROS, "flavorRef": flavor}}),
        )
        .await;
    assert_eq!(
        fault(&r, "forbidden", 403),
        "Quota exceeded for cores: Requested 2, but already used 2 of 3 cores"
    );
    let r = env
        .put(
            &q,
            &env.admin,
            json!({"quota_set": {"cores": 20, "instances": 1}}),
        )
        .await;
    assert_eq!(r.status, 200);
    let r = env
        .post(
            "/servers",
            &env.demo,
            json!({"server": {"name": "two", "imageRef": CIRROS, "flavorRef": flavor}}),
        )
        .await;
    assert_eq!(
        fault(&r, "forbidden", 403),
        "Quota exceeded for instances: Requested 1, but already used 1 of 1 instances"
    );
    // Can't lower a quota below usage (without force).
    let r = env
        .put(&q, &env.admin, json!({"quota_set": {"instances": 0}}))
        .await;
    assert_eq!(
        fault(&r, "badRequest", 400),
        "Quota limit 0 for instances must be greater than or equal to already used and reserved 1."
    );
    // Multi-create shrinks to what fits between min and max.
    let r = env
        .put(&q, &env.admin, json!({"quota_set": {"instances": 3}}))
        .await;
    assert_eq!(r.status, 200);
    let r = env
        .post(
            "/servers",
            &env.demo,
            json!({"server": {"name": "many", "imageRef": CIRROS, "flavorRef": flavor,
                "min_count": 1, "max_count": 5, "return_reservation_id": true}}),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.body);
    let resv = r.body["reservation_id"].as_str().unwrap().to_string();
    assert!(resv.starts_with("r-"));
    let r = env
        .get(&format!("/servers?reservation_id={resv}"), &env.demo)
        .await;
    let mut names: Vec<&str> = r.body["servers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, vec!["many-1", "many-2"]);

    // Limits for the caller's project.
    let r = env.get("/limits", &env.demo).await;
    let abs = &r.body["limits"]["absolute"];
    assert_eq!(r.body["limits"]["rate"], json!([]));
    assert_eq!(abs["maxTotalInstances"], 3);
    assert_eq!(abs["totalInstancesUsed"], 3);
    assert_eq!(abs["totalCoresUsed"], 6);
    assert_eq!(abs["totalRAMUsed"], 1536);
    assert!(abs.get("maxTotalFloatingIps").is_some());
    let r = env.getv("/limits", &env.demo, "2.57").await;
    let abs = &r.body["limits"]["absolute"];
    assert!(abs.get("maxTotalFloatingIps").is_none());
    assert!(abs.get("maxPersonality").is_none());
    assert!(abs.get("maxImageMeta").is_none());
    let r = env
        .get(
            &format!("/limits?tenant_id={}", env.demo_project),
            &env.admin,
        )
        .await;
    assert_eq!(r.body["limits"]["absolute"]["totalInstancesUsed"], 3);
    let r = env.get("/limits", &env.admin).await;
    assert_eq!(r.body["limits"]["absolute"]["totalInstancesUsed"], 0);
    // Detail and defaults.
    let r = env.get(&format!("{q}/detail"), &env.demo).await;
    assert_eq!(
        r.body["quota_set"]["instances"],
        json!({"in_use": 3, "limit": 3, "reserved": 0})
    );
    let r = env.get(&format!("{q}/defaults"), &env.demo).await;
    assert_eq!(r.body["quota_set"]["instances"], 10);
    let r = env
        .get(&format!("/os-quota-sets/{}", env.admin_project), &env.demo)
        .await;
    fault(&r, "forbidden", 403);
    let r = env.delete(&q, &env.admin).await;
    assert_eq!(r.status, 202);
    let r = env.get(&q, &env.demo).await;
    assert_eq!(r.body["quota_set"]["instances"], 10);
}

#[tokio::test]
async fn volume_attach_and_detach_go_through_cinder() {
    let env = start().await;
    let flavor = env.flavor("m1.tiny", 1, 512, 1).await;
    let id = env.boot(&env.demo, "s1", &flavor).await;
    // A volume, created through the Cinder API.
    let res = env
        .client
        .post(format!(
            "{}/volume/v3/{}/volumes",
            env.pod_url, env.demo_project
        ))
        .header("X-Auth-Token", &env.demo)
        .json(&json!({"volume": {"size": 1, "name": "v1"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 202);
    let vol: Value = res.json().await.unwrap();
    let vid = vol["volume"]["id"].as_str().unwrap().to_string();
    for _ in 0..100 {
        if env.pod.volume().volume(&vid).unwrap()["status"] == "available" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let path = format!("/servers/{id}/os-volume_attachments");
    let r = env
        .post(
            &path,
            &env.demo,
            json!({"volumeAttachment": {"volumeId": vid}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let att = &r.body["volumeAttachment"];
    assert_eq!(att["id"], vid);
    assert_eq!(att["serverId"], id);
    assert_eq!(att["device"], "/dev/vdb");
    assert_eq!(env.pod.volume().volume(&vid).unwrap()["status"], "in-use");
    let r = env.get(&path, &env.demo).await;
    assert_eq!(r.body["volumeAttachments"][0]["volumeId"], vid);
    let r = env.getv(&format!("{path}/{vid}"), &env.demo, "2.89").await;
    let att = &r.body["volumeAttachment"];
    assert!(att.get("id").is_none());
    let cinder_att =
        env.pod.volume().volume(&vid).unwrap()["attachments"][0]["attachment_id"].clone();
    assert_eq!(att["attachment_id"], cinder_att);
    let r = env.getv(&format!("/servers/{id}"), &env.demo, "2.3").await;
    assert_eq!(
        r.body["server"]["os-extended-volumes:volumes_attached"],
        json!([{"id": vid, "delete_on_termination": false}])
    );
    assert_eq!(env.pod.compute().servers()[0]["volumes"], json!([vid]));
    // Attaching it again is refused by Cinder.
    let r = env
        .post(
            &path,
            &env.demo,
            json!({"volumeAttachment": {"volumeId": vid}}),
        )
        .await;
    assert!(fault(&r, "badRequest", 400).starts_with("Invalid volume: "));
    let missing = "00000000-0000-4000-8000-000000000000";
    let r = env
        .post(
            &path,
            &env.demo,
            json!({"volumeAttachment": {"volumeId": missing}}),
        )
        .await;
    assert_eq!(
        fault(&r, "itemNotFound", 404),
        format!("Volume {missing} could not be found.")
    );
    let r = env
        .post(
            &path,
            &env.demo,
            json!({"volumeAttachment": {"volumeId": "x"}}),
        )
        .await;
    fault(&r, "badRequest", 400);

    // Detach.
    let r = env.delete(&format!("{path}/{vid}"), &env.demo).await;
    assert_eq!(r.status, 202);
    assert_eq!(
        env.pod.volume().volume(&vid).unwrap()["status"],
        "available"
    );
    let r = env.delete(&format!("{path}/{vid}"), &env.demo).await;
    assert_eq!(
        fault(&r, "itemNotFound", 404),
        format!("Instance {id} is not attached to volume {vid}")
    );
    // Deleting the server detaches what is attached.
    let r = env
        .post(
            &path,
            &env.demo,
            json!({"volumeAttachment": {"volumeId": vid}}),
        )
        .await;
    assert_eq!(r.status, 200);
    let r = env.delete(&format!("/servers/{id}"), &env.demo).await;
    assert_eq!(r.status, 204);
    assert_eq!(
        env.pod.volume().volume(&vid).unwrap()["status"],
        "available"
    );

    // Boot from the volume (block_device_mapping_v2, boot_index 0).
    let r = env
        .post(
            "/servers",
            &env.demo,
            json!({"server": {"name": "bfv", "flavorRef": flavor, "imageRef": "",
                "block_device_mapping_v2": [{"boot_index": 0, "uuid": vid,
                    "source_type": "volume", "destination_type": "volume",
                    "delete_on_termination": false}]}}),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.body);
    let bfv = r.body["server"]["id"].as_str().unwrap().to_string();
    env.wait_status(&env.demo, &bfv, "ACTIVE").await;
    let r = env.get(&format!("/servers/{bfv}"), &env.demo).await;
    assert_eq!(r.body["server"]["image"], "");
    assert_eq!(env.pod.volume().volume(&vid).unwrap()["status"], "in-use");
    let r = env
        .delete(
            &format!("/servers/{bfv}/os-volume_attachments/{vid}"),
            &env.demo,
        )
        .await;
    assert_eq!(
        fault(&r, "badRequest", 400),
        "Cannot detach a root device volume"
    );
}

#[tokio::test]
async fn metadata_tags_and_ips() {
    let env = start().await;
    let flavor = env.flavor("m1.tiny", 1, 512, 1).await;
    let net = "net1";
    let net_id = env.network(&env.demo, net, "10.9.8.0/24").await;
    let r = env
        .postv(
            "/servers",
            &env.demo,
            json!({"server": {"name": "s1", "imageRef": CIRROS, "flavorRef": flavor,
                "networks": [{"uuid": net_id, "fixed_ip": "10.9.8.7"}]}}),
            "2.37",
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.body);
    let id = r.body["server"]["id"].as_str().unwrap().to_string();
    env.wait_status(&env.demo, &id, "ACTIVE").await;
    let t = &env.demo;
    let r = env.get(&format!("/servers/{id}/ips"), t).await;
    assert_eq!(
        r.body,
        json!({"addresses": {net: [{"version": 4, "addr": "10.9.8.7"}]}})
    );
    let r = env.get(&format!("/servers/{id}/ips/{net}"), t).await;
    assert_eq!(r.body, json!({net: [{"version": 4, "addr": "10.9.8.7"}]}));
    let r = env.get(&format!("/servers/{id}/ips/other"), t).await;
    assert_eq!(
        fault(&r, "itemNotFound", 404),
        "Instance is not a member of specified network"
    );
    assert_eq!(
        env.get("/servers?ip=10\\.9\\.8\\.", t).await.body["servers"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    let m = format!("/servers/{id}/metadata");
    let r = env
        .post(&m, t, json!({"metadata": {"a": "1", "b": "2"}}))
        .await;
    assert_eq!(r.body, json!({"metadata": {"a": "1", "b": "2"}}));
    let r = env.post(&m, t, json!({"metadata": {"c": "3"}})).await;
    assert_eq!(r.body["metadata"], json!({"a": "1", "b": "2", "c": "3"}));
    let r = env.put(&m, t, json!({"metadata": {"x": "9"}})).await;
    assert_eq!(r.body["metadata"], json!({"x": "9"}));
    let r = env.get(&format!("{m}/x"), t).await;
    assert_eq!(r.body, json!({"meta": {"x": "9"}}));
    let r = env
        .put(&format!("{m}/y"), t, json!({"meta": {"y": "8"}}))
        .await;
    assert_eq!(r.body, json!({"meta": {"y": "8"}}));
    let r = env
        .put(&format!("{m}/y"), t, json!({"meta": {"z": "8"}}))
        .await;
    assert_eq!(
        fault(&r, "badRequest", 400),
        "Request body and URI mismatch"
    );
    let r = env.delete(&format!("{m}/x"), t).await;
    assert_eq!(r.status, 204);
    let r = env.get(&format!("{m}/x"), t).await;
    assert_eq!(
        fault(&r, "itemNotFound", 404),
        "Metadata item was not found"
    );
    let r = env.get(&m, t).await;
    assert_eq!(r.body, json!({"metadata": {"y": "8"}}));

    // Tags need 2.26.
    let tags = format!("/servers/{id}/tags");
    let r = env.get(&tags, t).await;
    fault(&r, "itemNotFound", 404);
    let put = |path: String| {
        let env = &env;
        async move {
            env.call(Method::PUT, &path, &env.demo, None, Some("2.26"))
                .await
        }
    };
    let r = put(format!("{tags}/red")).await;
    assert_eq!(r.status, 201);
    assert!(r.headers["location"]
        .to_str()
        .unwrap()
        .ends_with("/tags/red"));
    let r = put(format!("{tags}/red")).await;
    assert_eq!(r.status, 204);
    let r = put(format!("{tags}/a,b")).await;
    fault(&r, "badRequest", 400);
    let r = env.getv(&format!("{tags}/red"), t, "2.26").await;
    assert_eq!(r.status, 204);
    let r = env.getv(&format!("{tags}/blue"), t, "2.26").await;
    assert_eq!(
        fault(&r, "itemNotFound", 404),
        format!("Server {id} has no tag 'blue'")
    );
    let r = env.getv(&tags, t, "2.26").await;
    assert_eq!(r.body, json!({"tags": ["red"]}));
    let r = env.call(Method::DELETE, &tags, t, None, Some("2.26")).await;
    assert_eq!(r.status, 204);
    let r = env.getv(&format!("/servers/{id}"), t, "2.26").await;
    assert_eq!(r.body["server"]["tags"], json!([]));
}

#[tokio::test]
async fn az_hypervisors_services_and_legacy_urls() {
    let env = start().await;
    let r = env.get("/os-availability-zone", &env.demo).await;
    assert_eq!(
        r.body,
        json!({"availabilityZoneInfo": [{"zoneName": "nova",
            "zoneState": {"available": true}, "hosts": null}]})
    );
    let r = env.get("/os-availability-zone/detail", &env.demo).await;
    fault(&r, "forbidden", 403);
    let r = env.get("/os-availability-zone/detail", &env.admin).await;
    let zones = r.body["availabilityZoneInfo"].as_array().unwrap();
    let nova = zones.iter().find(|z| z["zoneName"] == "nova").unwrap();
    let hosts = nova["hosts"].as_object().unwrap();
    assert!(hosts.values().next().unwrap()["nova-compute"]["available"] == true);

    let flavor = env.flavor("m1.small", 2, 2048, 20).await;
    env.boot(&env.demo, "s1", &flavor).await;
    let r = env.getv("/os-hypervisors/detail", &env.admin, "2.1").await;
    let h = &r.body["hypervisors"][0];
    assert_eq!(h["id"], 1);
    assert_eq!(h["vcpus"], 64);
    assert_eq!(h["memory_mb"], 262144);
    assert_eq!(h["local_gb"], 4096);
    assert_eq!(h["vcpus_used"], 2);
    assert_eq!(h["memory_mb_used"], 2048);
    assert_eq!(h["local_gb_used"], 20);
    assert_eq!(h["free_ram_mb"], 262144 - 2048);
    assert_eq!(h["running_vms"], 1);
    assert!(h["cpu_info"].is_string());
    let r = env.getv("/os-hypervisors/detail", &env.admin, "2.53").await;
    assert!(r.body["hypervisors"][0]["id"].as_str().unwrap().len() == 36);
    assert!(r.body["hypervisors"][0]["cpu_info"].is_object());
    let r = env.getv("/os-hypervisors/detail", &env.admin, "2.88").await;
    assert!(r.body["hypervisors"][0].get("vcpus").is_none());
    let r = env.get("/os-hypervisors/statistics", &env.admin).await;
    assert_eq!(r.body["hypervisor_statistics"]["vcpus_used"], 2);
    assert_eq!(r.body["hypervisor_statistics"]["count"], 1);
    let r = env
        .getv("/os-hypervisors/statistics", &env.admin, "2.88")
        .await;
    fault(&r, "itemNotFound", 404);
    let r = env.get("/os-hypervisors", &env.demo).await;
    assert_eq!(
        fault(&r, "forbidden", 403),
        "Policy doesn't allow os_compute_api:os-hypervisors:list to be performed."
    );
    let r = env.get("/os-services", &env.admin).await;
    let binaries: Vec<&str> = r.body["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["binary"].as_str().unwrap())
        .collect();
    assert!(binaries.contains(&"nova-compute"));
    let compute = r.body["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["binary"] == "nova-compute")
        .unwrap();
    assert_eq!(compute["state"], "up");
    assert_eq!(compute["zone"], "nova");

    // The legacy URL form with the project id.
    let r = env
        .get(&format!("/{}/servers", env.demo_project), &env.demo)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let link = r.body["servers"][0]["links"][0]["href"].as_str().unwrap();
    assert!(
        link.starts_with(&format!(
            "{}/compute/v2.1/{}/servers/",
            env.pod_url, env.demo_project
        )),
        "{link}"
    );
    let r = env
        .get(&format!("/{}/flavors/detail", env.demo_project), &env.demo)
        .await;
    assert_eq!(r.status, 200);
    let r = env
        .get(&format!("/{}/servers", env.admin_project), &env.demo)
        .await;
    assert!(fault(&r, "badRequest", 400).starts_with("Malformed request URL"));
}

#[tokio::test]
async fn auth_and_down_pod() {
    let env = start().await;
    let r = env.get("/servers", "bogus-token").await;
    assert_eq!(r.status, 401);
    assert!(r.headers.get("www-authenticate").is_some());
    let r = env.get("/no-such-thing", &env.admin).await;
    assert_eq!(r.status, 404);
    env.pod.set_down(true);
    let r = env.get("/servers", &env.admin).await;
    assert_eq!(r.status, 503);
    env.pod.set_down(false);
    let r = env.get("/servers", &env.admin).await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn nova_image_proxy_and_unrouted_methods() {
    let env = start().await;
    let r = env.get("/images", &env.demo).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["images"][0]["id"], CIRROS);
    assert_eq!(r.body["images"][0]["links"][2]["rel"], "alternate");
    let r = env.get("/images/detail", &env.demo).await;
    let img = &r.body["images"][0];
    assert_eq!(img["status"], "ACTIVE");
    assert_eq!(img["progress"], 100);
    assert_eq!(img["minDisk"], 0);
    assert_eq!(img["OS-EXT-IMG-SIZE:size"], 1024);
    let r = env.get(&format!("/images/{CIRROS}"), &env.demo).await;
    assert_eq!(r.body["image"]["name"], "cirros-0.6.2-x86_64-disk");
    let r = env.get("/images/nope", &env.demo).await;
    assert_eq!(fault(&r, "itemNotFound", 404), "Image not found.");
    let r = env.getv("/images", &env.demo, "2.36").await;
    assert_eq!(
        fault(&r, "itemNotFound", 404),
        "The resource could not be found."
    );
    // A method Nova has no route for: webob's bare 404, JSON for JSON
    // clients.
    let res = env
        .client
        .patch(format!("{}/compute/v2.1/servers", env.pod_url))
        .header("X-Auth-Token", &env.demo)
        .header("Accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    let body: Value = res.json().await.unwrap();
    assert_eq!(
        body,
        json!({"message": "The resource could not be found.<br /><br />\n\n\n",
            "code": "404 Not Found", "title": "Not Found"})
    );
    // Before 2.37 an empty network list lets Neutron pick networks.
    let flavor = env.flavor("m1.tiny", 1, 512, 1).await;
    env.network(&env.demo, "private", "10.0.0.0/24").await;
    let r = env
        .post(
            "/servers",
            &env.demo,
            json!({"server": {"name": "n", "imageRef": CIRROS, "flavorRef": flavor,
                "networks": []}}),
        )
        .await;
    let id = r.body["server"]["id"].as_str().unwrap().to_string();
    env.wait_status(&env.demo, &id, "ACTIVE").await;
    let r = env.get(&format!("/servers/{id}/ips"), &env.demo).await;
    assert_eq!(r.body["addresses"].as_object().unwrap().len(), 1);
}
