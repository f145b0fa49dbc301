//! The Cinder v3 simulator over real HTTP, with tokens from the simulated
//! Keystone (identity attached to the pod).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use reqwest::{Client, Method};
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tricircle_podsim::image::Image;
use tricircle_podsim::{serve, Credentials, Identity, IdentityConfig, Pod, PodConfig};

struct User {
    token: String,
    project: String,
}

struct H {
    pod: Pod,
    base: String,
    client: Client,
    identity: Identity,
    admin: User,
    demo: User,
    _stop: Vec<oneshot::Sender<()>>,
}

struct Resp {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Value,
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
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let id_base = format!("http://{}", listener.local_addr().unwrap());
    let cfg = IdentityConfig {
        public_url: id_base,
        ..IdentityConfig::default()
    };
    let identity = Identity::new(cfg.clone());
    let pod_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", pod_listener.local_addr().unwrap());
    identity.register_pod("Pod1", &base);
    let pod = Pod::new(PodConfig::new("Pod1").with_identity(identity.clone()));
    pod.volume().set_transition_delay(Duration::from_millis(50));
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
        identity,
        admin,
        demo,
        _stop: stop,
    }
}

impl H {
    /// A request to `/volume/v3/{project}{path}` as `user`.
    async fn call(
        &self,
        user: &User,
        method: Method,
        path: &str,
        body: Option<Value>,
        version: Option<&str>,
    ) -> Resp {
        let url = format!("{}/volume/v3/{}{path}", self.base, user.project);
        self.raw(user, method, &url, body, version).await
    }

    async fn raw(
        &self,
        user: &User,
        method: Method,
        url: &str,
        body: Option<Value>,
        version: Option<&str>,
    ) -> Resp {
        let mut req = self
            .client
            .request(method, url)
            .header("X-Auth-Token", &user.token);
        if let Some(v) = version {
            req = req.header("OpenStack-API-Version", format!("volume {v}"));
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
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

    async fn get(&self, user: &User, path: &str) -> Resp {
        self.call(user, Method::GET, path, None, None).await
    }

    async fn get_v(&self, user: &User, path: &str, v: &str) -> Resp {
        self.call(user, Method::GET, path, None, Some(v)).await
    }

    async fn post(&self, user: &User, path: &str, body: Value) -> Resp {
        self.call(user, Method::POST, path, Some(body), None).await
    }

    async fn post_v(&self, user: &User, path: &str, body: Value, v: &str) -> Resp {
        self.call(user, Method::POST, path, Some(body), Some(v))
            .await
    }

    async fn put(&self, user: &User, path: &str, body: Value) -> Resp {
        self.call(user, Method::PUT, path, Some(body), None).await
    }

    async fn delete(&self, user: &User, path: &str) -> Resp {
        self.call(user, Method::DELETE, path, None, None).await
    }

    /// A `member` of a new project `alt` (made through Keystone's API),
    /// logged in; answers its user id too.
    async fn alt_user(&self) -> (User, String) {
        let keystone = |method: Method, path: &str, body: Option<Value>| {
            let req = self
                .client
                .request(method, format!("{}{path}", self.identity.auth_url()))
                .header("X-Auth-Token", &self.admin.token);
            let req = match body {
                Some(b) => req.json(&b),
                None => req,
            };
            async move {
                let res = req.send().await.unwrap();
                let status = res.status().as_u16();
                let text = res.text().await.unwrap();
                (status, serde_json::from_str(&text).unwrap_or(Value::Null))
            }
        };
        let (status, body) = keystone(
            Method::POST,
            "/projects",
            Some(json!({"project": {"name": "alt"}})),
        )
        .await;
        assert_eq!(status, 201, "{body}");
        let project = body["project"]["id"].as_str().unwrap().to_string();
        let user = json!({"user": {"name": "alt", "password": "alt-secret", "default_project_id": project}});
        let (status, body) = keystone(Method::POST, "/users", Some(user)).await;
        assert_eq!(status, 201, "{body}");
        let user_id = body["user"]["id"].as_str().unwrap().to_string();
        let (_, body) = keystone(Method::GET, "/roles?name=member", None).await;
        let role = body["roles"][0]["id"].as_str().unwrap().to_string();
        let grant = format!("/projects/{project}/users/{user_id}/roles/{role}");
        let (status, _) = keystone(Method::PUT, &grant, None).await;
        assert_eq!(status, 204);
        let creds = Credentials {
            username: "alt".into(),
            password: "alt-secret".into(),
            project_name: "alt".into(),
            user_domain_name: "Default".into(),
            project_domain_name: "Default".into(),
        };
        let alt = login(&self.client, &self.identity, &creds).await;
        assert_eq!(alt.project, project);
        (alt, user_id)
    }

    /// Creates a volume and waits until it is available; returns its id.
    async fn volume(&self, user: &User, body: Value) -> String {
        let r = self.post(user, "/volumes", json!({"volume": body})).await;
        assert_eq!(r.status, 202, "{}", r.body);
        let id = r.body["volume"]["id"].as_str().unwrap().to_string();
        self.wait_volume(user, &id, "available").await;
        id
    }

    async fn wait_volume(&self, user: &User, id: &str, status: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let r = self.get(user, &format!("/volumes/{id}")).await;
            if r.body["volume"]["status"] == status {
                return r.body["volume"].clone();
            }
            assert!(
                Instant::now() < deadline,
                "volume {id} never became {status}: {}",
                r.body
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn wait_gone(&self, user: &User, path: &str) {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let r = self.get(user, path).await;
            if r.status == 404 {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{path} never went away: {}",
                r.body
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn wait_snapshot(&self, user: &User, id: &str, status: &str) {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let r = self.get(user, &format!("/snapshots/{id}")).await;
            if r.body["snapshot"]["status"] == status {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "snapshot never {status}: {}",
                r.body
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

fn assert_fault(r: &Resp, code: u16, name: &str, message: &str) {
    assert_eq!(r.status, code, "{}", r.body);
    assert_eq!(r.body[name]["code"], code, "{}", r.body);
    assert_eq!(r.body[name]["message"], message, "{}", r.body);
}

fn ids(body: &Value, key: &str) -> Vec<String> {
    body[key]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn create_goes_from_creating_to_available() {
    let h = start().await;
    h.pod
        .volume()
        .set_transition_delay(Duration::from_millis(200));
    let r = h
        .post(&h.demo, "/volumes", json!({"volume": {"size": 1, "name": " v1 ", "description": "d", "metadata": {"k": "v"}}}))
        .await;
    assert_eq!(r.status, 202, "{}", r.body);
    assert_eq!(r.headers["openstack-api-version"], "volume 3.0");
    assert_eq!(r.headers["vary"], "OpenStack-API-Version");
    assert!(r.headers.contains_key("x-openstack-request-id"));
    let v = &r.body["volume"];
    assert_eq!(v["status"], "creating");
    assert_eq!(v["name"], "v1");
    assert_eq!(v["size"], 1);
    assert_eq!(v["availability_zone"], "nova");
    assert_eq!(v["volume_type"], "__DEFAULT__");
    assert_eq!(v["bootable"], "false");
    assert_eq!(v["encrypted"], false);
    assert_eq!(v["multiattach"], false);
    assert_eq!(v["metadata"], json!({"k": "v"}));
    assert_eq!(v["attachments"], json!([]));
    assert_eq!(v["replication_status"], "disabled");
    assert_eq!(v["updated_at"], Value::Null);
    assert!(v["created_at"].as_str().unwrap().len() == 26, "{v}");
    assert!(
        v.get("os-vol-tenant-attr:tenant_id").is_none(),
        "create is not extended"
    );
    let id = v["id"].as_str().unwrap().to_string();
    assert_eq!(
        v["links"][0]["href"],
        format!("{}/volume/v3/{}/volumes/{id}", h.base, h.demo.project)
    );
    assert_eq!(
        v["links"][1]["href"],
        format!("{}/volume/{}/volumes/{id}", h.base, h.demo.project)
    );
    let shown = h.get(&h.demo, &format!("/volumes/{id}")).await;
    assert_eq!(shown.body["volume"]["status"], "creating");
    assert_eq!(
        shown.body["volume"]["os-vol-tenant-attr:tenant_id"],
        h.demo.project
    );
    assert!(shown.body["volume"].get("os-vol-host-attr:host").is_none());
    assert!(shown.body["volume"].get("migration_status").is_none());
    let t0 = Instant::now();
    let v = h.wait_volume(&h.demo, &id, "available").await;
    assert!(t0.elapsed() < Duration::from_secs(1));
    assert!(v["updated_at"].is_string());
    // Admins see the host and migration attributes.
    let a = h.get(&h.admin, &format!("/volumes/{id}")).await;
    assert_eq!(a.status, 200);
    assert_eq!(
        a.body["volume"]["os-vol-host-attr:host"],
        "pod1@lvmdriver-1#lvmdriver-1"
    );
    assert_eq!(
        a.body["volume"]["os-vol-mig-status-attr:migstat"],
        Value::Null
    );
    // Microversioned fields.
    let l = h.get_v(&h.demo, &format!("/volumes/{id}"), "3.63").await;
    assert_eq!(l.headers["openstack-api-version"], "volume 3.63");
    let lv = &l.body["volume"];
    assert_eq!(lv["group_id"], Value::Null);
    assert_eq!(lv["shared_targets"], false);
    assert!(lv["service_uuid"].is_string());
    assert!(lv["volume_type_id"].is_string());
    assert!(lv.get("provider_id").is_none());
    // Inspection API.
    assert_eq!(h.pod.volume().volume(&id).unwrap()["status"], "available");
    assert_eq!(h.pod.volume().volumes().len(), 1);
}

#[tokio::test]
async fn list_pages_sorts_and_filters() {
    let h = start().await;
    let mut created = Vec::new();
    for i in 0..7 {
        let meta = if i % 2 == 0 {
            json!({"even": "yes"})
        } else {
            json!({})
        };
        let id = h
            .volume(
                &h.demo,
                json!({"size": 1 + (i % 3), "name": format!("vol-{i}"), "metadata": meta}),
            )
            .await;
        created.push(id);
    }
    // Another project's volume never shows up.
    h.volume(&h.admin, json!({"size": 1, "name": "admins"}))
        .await;

    let all = h.get(&h.demo, "/volumes/detail").await;
    assert_eq!(all.status, 200);
    let all_ids = ids(&all.body, "volumes");
    let mut newest_first = created.clone();
    newest_first.reverse();
    assert_eq!(all_ids, newest_first, "default sort is created_at desc");
    assert!(all.body.get("volumes_links").is_none());

    // Pages of 3 concatenate to the full list, following next links.
    let mut paged = Vec::new();
    let mut url = format!("{}/volume/v3/{}/volumes?limit=3", h.base, h.demo.project);
    let mut pages = 0;
    loop {
        let r = h.raw(&h.demo, Method::GET, &url, None, None).await;
        assert_eq!(r.status, 200, "{}", r.body);
        let page = ids(&r.body, "volumes");
        assert!(page.len() <= 3);
        paged.extend(page);
        pages += 1;
        match r.body["volumes_links"][0]["href"].as_str() {
            Some(next) => {
                assert_eq!(r.body["volumes_links"][0]["rel"], "next");
                url = next.to_string();
            }
            None => break,
        }
        assert!(pages < 10);
    }
    assert_eq!(paged, newest_first);
    // Summary list: id, name, links.
    let s = h.get(&h.demo, "/volumes?limit=1").await;
    let first = &s.body["volumes"][0];
    assert_eq!(first.as_object().unwrap().len(), 3, "{first}");
    assert!(s.body["volumes_links"][0]["href"]
        .as_str()
        .unwrap()
        .contains(&format!("/volumes?limit=1&marker={}", newest_first[0])));

    // Sorting.
    let r = h.get(&h.demo, "/volumes?sort=name:asc").await;
    let names: Vec<&str> = r.body["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        vec!["vol-0", "vol-1", "vol-2", "vol-3", "vol-4", "vol-5", "vol-6"]
    );
    let r = h
        .get(&h.demo, "/volumes/detail?sort_key=size&sort_dir=asc")
        .await;
    let sizes: Vec<u64> = r.body["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["size"].as_u64().unwrap())
        .collect();
    let mut sorted = sizes.clone();
    sorted.sort_unstable();
    assert_eq!(sizes, sorted);
    let r = h
        .get(
            &h.demo,
            "/volumes/detail?sort=size:desc,name:asc&limit=2&offset=1",
        )
        .await;
    assert_eq!(r.body["volumes"].as_array().unwrap().len(), 2);
    assert_eq!(r.body["volumes"][0]["size"], 3);

    // Filters.
    let r = h.get(&h.demo, "/volumes/detail?name=vol-3").await;
    assert_eq!(ids(&r.body, "volumes"), vec![created[3].clone()]);
    let r = h
        .get(&h.demo, "/volumes/detail?status=available&size=2")
        .await;
    assert_eq!(r.body["volumes"].as_array().unwrap().len(), 2);
    let r = h
        .get(
            &h.demo,
            "/volumes/detail?metadata=%7B%27even%27%3A+%27yes%27%7D",
        )
        .await;
    assert_eq!(r.body["volumes"].as_array().unwrap().len(), 4);
    let r = h
        .get(&h.demo, "/volumes?bootable=false&availability_zone=nova")
        .await;
    assert_eq!(r.body["volumes"].as_array().unwrap().len(), 7);
    // Unknown filters are dropped for users.
    let r = h.get(&h.demo, "/volumes?bogus=1").await;
    assert_eq!(r.body["volumes"].as_array().unwrap().len(), 7);
    // all_tenants is for admins only.
    let r = h.get(&h.demo, "/volumes?all_tenants=1").await;
    assert_eq!(r.body["volumes"].as_array().unwrap().len(), 7);
    let r = h.get(&h.admin, "/volumes?all_tenants=1").await;
    assert_eq!(r.body["volumes"].as_array().unwrap().len(), 8);
    let r = h.get(&h.admin, "/volumes").await;
    assert_eq!(r.body["volumes"].as_array().unwrap().len(), 1);

    // with_count (3.45+).
    let r = h
        .get_v(&h.demo, "/volumes?with_count=true&limit=2", "3.45")
        .await;
    assert_eq!(r.body["count"], 7);
    let r = h.get(&h.demo, "/volumes?with_count=true&limit=2").await;
    assert!(r.body.get("count").is_none());

    // Errors.
    let r = h
        .get(
            &h.demo,
            "/volumes?marker=0c8d1a9e-1b4b-4a1e-9c3e-1234567890ab",
        )
        .await;
    assert_fault(
        &r,
        404,
        "itemNotFound",
        "Volume 0c8d1a9e-1b4b-4a1e-9c3e-1234567890ab could not be found.",
    );
    let r = h.get(&h.demo, "/volumes?sort=name&sort_key=size").await;
    assert_fault(
        &r,
        400,
        "badRequest",
        "The 'sort_key' and 'sort_dir' parameters are deprecated and cannot be used with the 'sort' parameter.",
    );
    let r = h.get(&h.demo, "/volumes?sort=name:up").await;
    assert_fault(
        &r,
        400,
        "badRequest",
        "Invalid input received: Unknown sort direction, must be 'desc' or 'asc'.",
    );
    let r = h.get(&h.demo, "/volumes?sort=bogus").await;
    assert_fault(
        &r,
        400,
        "badRequest",
        "Invalid input received: Invalid sort key",
    );
    let r = h.get(&h.demo, "/volumes?limit=-1").await;
    assert_fault(&r, 400, "badRequest", "limit param must be positive");
    let r = h.get(&h.demo, "/volumes?limit=x").await;
    assert_fault(&r, 400, "badRequest", "limit param must be an integer");

    // Summary (3.12+).
    let r = h.get(&h.demo, "/volumes/summary").await;
    assert_fault(&r, 404, "itemNotFound", "The resource could not be found.");
    let r = h.get_v(&h.demo, "/volumes/summary", "3.36").await;
    assert_eq!(r.body["volume-summary"]["total_count"], 7);
    assert_eq!(
        r.body["volume-summary"]["total_size"],
        1 + 2 + 3 + 1 + 2 + 3 + 1
    );
    assert_eq!(
        r.body["volume-summary"]["metadata"],
        json!({"even": ["yes"]})
    );
}

#[tokio::test]
async fn create_validation_and_lookup_errors() {
    let h = start().await;
    let r = h
        .post(
            &h.demo,
            "/volumes",
            json!({"volume": {"size": 1, "availability_zone": "az9"}}),
        )
        .await;
    assert_fault(&r, 400, "badRequest", "Availability zone 'az9' is invalid.");
    let r = h
        .post(
            &h.demo,
            "/volumes",
            json!({"volume": {"size": 1, "volume_type": "gold"}}),
        )
        .await;
    assert_fault(
        &r,
        404,
        "itemNotFound",
        "Volume type with name gold could not be found.",
    );
    let missing = "0c8d1a9e-1b4b-4a1e-9c3e-1234567890ab";
    let r = h
        .post(
            &h.demo,
            "/volumes",
            json!({"volume": {"size": 1, "volume_type": missing}}),
        )
        .await;
    assert_fault(
        &r,
        404,
        "itemNotFound",
        &format!("Volume type {missing} could not be found."),
    );
    let r = h
        .post(&h.demo, "/volumes", json!({"volume": {"size": 0}}))
        .await;
    assert_fault(
        &r,
        400,
        "badRequest",
        "Invalid input for field/attribute size. Value: 0. 0 is less than the minimum of 1",
    );
    let r = h
        .post(&h.demo, "/volumes", json!({"volume": {"size": "x"}}))
        .await;
    assert_eq!(r.status, 400);
    let r = h
        .post(&h.demo, "/volumes", json!({"volume": {"name": "nosize"}}))
        .await;
    assert_fault(
        &r,
        400,
        "badRequest",
        "Invalid input received: Volume size 'None' must be an integer and greater than 0",
    );
    let r = h.post(&h.demo, "/volumes", json!({"size": 1})).await;
    assert_eq!(r.status, 400);
    let r = h
        .post(
            &h.demo,
            "/volumes",
            json!({"volume": {"size": 1, "multiattach": true}}),
        )
        .await;
    assert_eq!(r.status, 400);
    assert!(r.body["badRequest"]["message"]
        .as_str()
        .unwrap()
        .starts_with("multiattach parameter has been removed."));
    let r = h
        .post(
            &h.demo,
            "/volumes",
            json!({"volume": {"size": 1, "snapshot_id": missing}}),
        )
        .await;
    assert_fault(
        &r,
        404,
        "itemNotFound",
        &format!("Snapshot {missing} could not be found."),
    );
    let r = h
        .post(
            &h.demo,
            "/volumes",
            json!({"volume": {"size": 1, "source_volid": missing}}),
        )
        .await;
    assert_fault(
        &r,
        404,
        "itemNotFound",
        &format!("Volume {missing} could not be found."),
    );
    let r = h
        .post(
            &h.demo,
            "/volumes",
            json!({"volume": {"size": 1, "imageRef": missing}}),
        )
        .await;
    assert_fault(
        &r,
        400,
        "badRequest",
        "Invalid image identifier or unable to access requested image.",
    );
    // Malformed JSON.
    let url = format!("{}/volume/v3/{}/volumes", h.base, h.demo.project);
    let res = h
        .client
        .post(&url)
        .header("X-Auth-Token", &h.demo.token)
        .header("Content-Type", "application/json")
        .body("{nope")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["badRequest"]["message"], "Malformed request body");
    // From 3.53 unknown keys are refused.
    let r = h
        .post_v(
            &h.demo,
            "/volumes",
            json!({"volume": {"size": 1, "bogus": 1}}),
            "3.53",
        )
        .await;
    assert_fault(
        &r,
        400,
        "badRequest",
        "Additional properties are not allowed ('bogus' was unexpected)",
    );
    // No token.
    let res = h.client.get(&url).send().await.unwrap();
    assert_eq!(res.status(), 401);
}

#[tokio::test]
async fn clone_from_volume_snapshot_and_image() {
    let h = start().await;
    let src = h.volume(&h.demo, json!({"size": 2, "name": "src"})).await;
    let r = h
        .post(
            &h.demo,
            "/volumes",
            json!({"volume": {"source_volid": src}}),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.body);
    assert_eq!(r.body["volume"]["size"], 2);
    assert_eq!(r.body["volume"]["source_volid"], src.as_str());
    let r = h
        .post(
            &h.demo,
            "/volumes",
            json!({"volume": {"source_volid": src, "size": 1}}),
        )
        .await;
    assert_eq!(r.status, 400);

    let img = "11111111-2222-3333-4444-555555555555";
    let mut image = Image::new(img);
    image.name = Some("cirros".into());
    image.visibility = "public".into();
    image.disk_format = Some("qcow2".into());
    image.container_format = Some("bare".into());
    image.set_data(vec![0u8; 2048].into());
    h.pod.images().insert(image);
    let r = h
        .post(
            &h.demo,
            "/volumes",
            json!({"volume": {"size": 1, "imageRef": img}}),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.body);
    let id = r.body["volume"]["id"].as_str().unwrap().to_string();
    let v = h.wait_volume(&h.demo, &id, "available").await;
    assert_eq!(v["bootable"], "true");
    assert_eq!(v["volume_image_metadata"]["image_id"], img);
    assert_eq!(v["volume_image_metadata"]["image_name"], "cirros");
    // By name too, and as a Nova image href.
    let r = h
        .post(
            &h.demo,
            "/volumes",
            json!({"volume": {"size": 1, "imageRef": "cirros"}}),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.body);
    let r = h
        .post(
            &h.demo,
            "/volumes",
            json!({"volume": {"size": 1, "imageRef": format!("http://glance/v2/images/{img}")}}),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.body);
    // Image metadata actions.
    let r = h
        .post(
            &h.demo,
            &format!("/volumes/{id}/action"),
            json!({"os-show_image_metadata": null}),
        )
        .await;
    assert_eq!(r.body["metadata"]["image_id"], img);
    let r = h
        .post(
            &h.demo,
            &format!("/volumes/{id}/action"),
            json!({"os-set_image_metadata": {"metadata": {"hw_disk_bus": "scsi"}}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["metadata"]["hw_disk_bus"], "scsi");
    let r = h
        .post(
            &h.demo,
            &format!("/volumes/{id}/action"),
            json!({"os-unset_image_metadata": {"key": "hw_disk_bus"}}),
        )
        .await;
    assert_eq!(r.status, 200);
    let r = h
        .post(
            &h.demo,
            &format!("/volumes/{id}/action"),
            json!({"os-unset_image_metadata": {"key": "nope"}}),
        )
        .await;
    assert_fault(
        &r,
        404,
        "itemNotFound",
        &format!("Glance metadata for volume/snapshot {id} cannot be found."),
    );

    // Upload to image registers an image in the pod's image service.
    let r = h
        .post(
            &h.demo,
            &format!("/volumes/{src}/action"),
            json!({"os-volume_upload_image": {"image_name": "from-vol"}}),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.body);
    let up = &r.body["os-volume_upload_image"];
    assert_eq!(up["status"], "uploading");
    assert_eq!(up["disk_format"], "raw");
    assert_eq!(up["container_format"], "bare");
    assert_eq!(up["volume_type"]["name"], "__DEFAULT__");
    let image_id = up["image_id"].as_str().unwrap();
    let stored = h.pod.images().get(image_id).unwrap();
    assert_eq!(stored.name.as_deref(), Some("from-vol"));
    assert_eq!(stored.owner.as_deref(), Some(h.demo.project.as_str()));
    h.wait_volume(&h.demo, &src, "available").await;

    // From a snapshot.
    let r = h
        .post(
            &h.demo,
            "/snapshots",
            json!({"snapshot": {"volume_id": src, "name": "s"}}),
        )
        .await;
    let snap = r.body["snapshot"]["id"].as_str().unwrap().to_string();
    h.wait_snapshot(&h.demo, &snap, "available").await;
    let r = h
        .post(
            &h.demo,
            "/volumes",
            json!({"volume": {"snapshot_id": snap}}),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.body);
    assert_eq!(r.body["volume"]["size"], 2);
    assert_eq!(r.body["volume"]["snapshot_id"], snap.as_str());
}

#[tokio::test]
async fn update_metadata_and_extend() {
    let h = start().await;
    let id = h.volume(&h.demo, json!({"size": 1, "name": "a"})).await;
    let r = h
        .put(
            &h.demo,
            &format!("/volumes/{id}"),
            json!({"volume": {"name": "b", "description": "dd", "metadata": {"x": "1"}}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["volume"]["name"], "b");
    assert_eq!(r.body["volume"]["metadata"], json!({"x": "1"}));
    let r = h
        .put(
            &h.demo,
            &format!("/volumes/{id}"),
            json!({"volume": {"size": 3}}),
        )
        .await;
    assert_fault(
        &r,
        400,
        "badRequest",
        "Additional properties are not allowed ('size' was unexpected)",
    );

    // Metadata API.
    let m = format!("/volumes/{id}/metadata");
    let r = h.post(&h.demo, &m, json!({"metadata": {"y": "2"}})).await;
    assert_eq!(r.body, json!({"metadata": {"x": "1", "y": "2"}}));
    let r = h.put(&h.demo, &m, json!({"metadata": {"z": "3"}})).await;
    assert_eq!(r.body, json!({"metadata": {"z": "3"}}));
    let r = h
        .put(&h.demo, &format!("{m}/z"), json!({"meta": {"z": "4"}}))
        .await;
    assert_eq!(r.body, json!({"meta": {"z": "4"}}));
    let r = h
        .put(&h.demo, &format!("{m}/z"), json!({"meta": {"q": "4"}}))
        .await;
    assert_fault(&r, 400, "badRequest", "Request body and URI mismatch");
    let r = h.get(&h.demo, &format!("{m}/z")).await;
    assert_eq!(r.body, json!({"meta": {"z": "4"}}));
    let r = h.delete(&h.demo, &format!("{m}/z")).await;
    assert_eq!(r.status, 200);
    let r = h.get(&h.demo, &format!("{m}/z")).await;
    assert_fault(
        &r,
        404,
        "itemNotFound",
        &format!("Volume {id} has no metadata with key z."),
    );
    let r = h.get(&h.demo, &m).await;
    assert_eq!(r.body, json!({"metadata": {}}));

    // Extend.
    let act = format!("/volumes/{id}/action");
    let r = h
        .post(&h.demo, &act, json!({"os-extend": {"new_size": 1}}))
        .await;
    assert_fault(
        &r,
        400,
        "badRequest",
        "Invalid input received: New size for extend must be greater than current size. (current: 1, extended: 1).",
    );
    let r = h
        .post(&h.demo, &act, json!({"os-extend": {"new_size": 3}}))
        .await;
    assert_eq!(r.status, 202, "{}", r.body);
    assert_eq!(r.body, Value::Null);
    let v = h.get(&h.demo, &format!("/volumes/{id}")).await;
    assert_eq!(v.body["volume"]["status"], "extending");
    let v = h.wait_volume(&h.demo, &id, "available").await;
    assert_eq!(v["size"], 3);
    // In-use volumes extend only from 3.42.
    h.pod
        .volume()
        .attach(&h.demo.project, &id, "srv-1", "/dev/vdb")
        .unwrap();
    let r = h
        .post(&h.demo, &act, json!({"os-extend": {"new_size": 4}}))
        .await;
    assert_fault(
        &r,
        400,
        "badRequest",
        &format!("Invalid volume: Volume {id} status must be '{{'status': 'available'}}' to extend, currently in-use."),
    );
    let r = h
        .post_v(&h.demo, &act, json!({"os-extend": {"new_size": 4}}), "3.42")
        .await;
    assert_eq!(r.status, 202, "{}", r.body);
    let v = h.wait_volume(&h.demo, &id, "in-use").await;
    assert_eq!(v["size"], 4);
    // Unknown and malformed actions.
    let r = h.post(&h.demo, &act, json!({"os-bogus": {}})).await;
    assert_fault(
        &r,
        400,
        "badRequest",
        "There is no such action: os-bogus. Verify the request body and Content-Type header and try again.",
    );
    let r = h.post(&h.demo, &act, json!({"a": {}, "b": {}})).await;
    assert_fault(&r, 400, "badRequest", "Malformed request body");
}

#[tokio::test]
async fn reset_status_and_admin_actions() {
    let h = start().await;
    let id = h.volume(&h.demo, json!({"size": 1})).await;
    let act = format!("/volumes/{id}/action");
    let r = h
        .post(
            &h.demo,
            &act,
            json!({"os-reset_status": {"status": "error"}}),
        )
        .await;
    assert_fault(
        &r,
        403,
        "forbidden",
        "Policy doesn't allow volume_extension:volume_admin_actions:reset_status to be performed.",
    );
    let r = h
        .post(
            &h.admin,
            &act,
            json!({"os-reset_status": {"status": "error"}}),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.body);
    let r = h.get(&h.demo, &format!("/volumes/{id}")).await;
    assert_eq!(r.body["volume"]["status"], "error");
    let r = h
        .post(
            &h.admin,
            &act,
            json!({"os-reset_status": {"status": "bogus"}}),
        )
        .await;
    assert_eq!(r.status, 400);
    let r = h.post(&h.admin, &act, json!({"os-reset_status": {}})).await;
    assert_fault(
        &r,
        400,
        "badRequest",
        "Must specify 'status', 'attach_status' or 'migration_status' for update.",
    );
    let r = h
        .post(
            &h.admin,
            &act,
            json!({"os-reset_status": {"status": "in-use"}}),
        )
        .await;
    assert_fault(
        &r,
        400,
        "badRequest",
        "Cannot reset-state to in-use because volume does not have any attachments.",
    );
    let r = h
        .post(
            &h.admin,
            &act,
            json!({"os-reset_status": {"status": "available", "migration_status": "migrating"}}),
        )
        .await;
    assert_eq!(r.status, 202);
    let r = h.get(&h.admin, &format!("/volumes/{id}")).await;
    assert_eq!(r.body["volume"]["migration_status"], "migrating");
    let r = h
        .post(
            &h.admin,
            &act,
            json!({"os-reset_status": {"migration_status": "none"}}),
        )
        .await;
    assert_eq!(r.status, 202);
    let r = h.get(&h.admin, &format!("/volumes/{id}")).await;
    assert_eq!(r.body["volume"]["migration_status"], Value::Null);
    // Readonly flag, bootable, reserve/unreserve, begin/roll detaching.
    let r = h
        .post(
            &h.demo,
            &act,
            json!({"os-update_readonly_flag": {"readonly": true}}),
        )
        .await;
    assert_eq!(r.status, 202);
    let r = h.get(&h.demo, &format!("/volumes/{id}")).await;
    assert_eq!(r.body["volume"]["metadata"]["readonly"], "True");
    let r = h
        .post(
            &h.demo,
            &act,
            json!({"os-set_bootable": {"bootable": "true"}}),
        )
        .await;
    assert_eq!(r.status, 200);
    let r = h.get(&h.demo, &format!("/volumes/{id}")).await;
    assert_eq!(r.body["volume"]["bootable"], "true");
    let r = h.post(&h.demo, &act, json!({"os-reserve": null})).await;
    assert_eq!(r.status, 202);
    let r = h.post(&h.demo, &act, json!({"os-reserve": null})).await;
    assert_fault(
        &r,
        400,
        "badRequest",
        "Invalid volume: Volume status must be available to reserve, but the status is attaching.",
    );
    let r = h.post(&h.demo, &act, json!({"os-unreserve": null})).await;
    assert_eq!(r.status, 202);
    let r = h
        .post(&h.demo, &act, json!({"os-begin_detaching": null}))
        .await;
    assert_fault(
        &r,
        400,
        "badRequest",
        "Invalid volume: Unable to detach volume. Volume status must be 'in-use' and attach_status must be 'attached' to detach.",
    );
    let r = h
        .post(
            &h.demo,
            &act,
            json!({"os-initialize_connection": {"connector": {"host": "h", "initiator": "iqn.x"}}}),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["connection_info"]["driver_volume_type"], "iscsi");
    assert_eq!(r.body["connection_info"]["data"]["access_mode"], "ro");
    // os-attach / os-detach.
    let r = h
        .post(
            &h.demo,
            &act,
            json!({"os-attach": {"instance_uuid": "i-1", "mountpoint": "/dev/vdc", "mode": "ro"}}),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.body);
    let v = h.get(&h.demo, &format!("/volumes/{id}")).await;
    assert_eq!(v.body["volume"]["status"], "in-use");
    assert_eq!(v.body["volume"]["attachments"][0]["server_id"], "i-1");
    assert_eq!(v.body["volume"]["metadata"]["attached_mode"], "ro");
    let r = h
        .post(&h.demo, &act, json!({"os-begin_detaching": null}))
        .await;
    assert_eq!(r.status, 202);
    let r = h
        .post(&h.demo, &act, json!({"os-roll_detaching": null}))
        .await;
    assert_eq!(r.status, 202);
    let r = h.post(&h.demo, &act, json!({"os-force_detach": {}})).await;
    assert_eq!(r.status, 403);
    let r = h.post(&h.demo, &act, json!({"os-detach": {}})).await;
    assert_eq!(r.status, 202);
    let v = h.get(&h.demo, &format!("/volumes/{id}")).await;
    assert_eq!(v.body["volume"]["status"], "available");
    // Retype.
    let r = h
        .post(
            &h.admin,
            "/types",
            json!({"volume_type": {"name": "gold", "extra_specs": {"multiattach": "<is> True"}}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = h
        .post(&h.demo, &act, json!({"os-retype": {"new_type": "silver"}}))
        .await;
    assert_fault(
        &r,
        404,
        "itemNotFound",
        "Volume type with name silver could not be found.",
    );
    let r = h
        .post(&h.demo, &act, json!({"os-retype": {"new_type": "gold"}}))
        .await;
    assert_eq!(r.status, 202, "{}", r.body);
    let v = h.wait_volume(&h.demo, &id, "available").await;
    assert_eq!(v["volume_type"], "gold");
    assert_eq!(v["multiattach"], true);
    let r = h
        .post(&h.demo, &act, json!({"os-retype": {"new_type": "gold"}}))
        .await;
    assert_eq!(r.status, 400);
}

#[tokio::test]
async fn nova_attach_blocks_delete_until_detached() {
    let h = start().await;
    let id = h.volume(&h.demo, json!({"size": 1})).await;
    let svc = h.pod.volume();
    assert_eq!(
        svc.attach(&h.admin.project, &id, "srv", "/dev/vdb"),
        Err(tricircle_podsim::volume::AttachError::NotFound)
    );
    svc.attach(&h.demo.project, &id, "srv", "/dev/vdb").unwrap();
    let v = h.get(&h.demo, &format!("/volumes/{id}")).await;
    let v = &v.body["volume"];
    assert_eq!(v["status"], "in-use");
    let att = &v["attachments"][0];
    assert_eq!(att["server_id"], "srv");
    assert_eq!(att["device"], "/dev/vdb");
    assert_eq!(att["volume_id"], id.as_str());
    assert_eq!(att["id"], id.as_str());
    assert!(att["attachment_id"].is_string());
    assert!(att["attached_at"].is_string());
    assert_eq!(att["host_name"], Value::Null, "hidden from users");
    // A second server: not multiattach.
    assert!(matches!(
        svc.attach(&h.demo.project, &id, "srv2", "/dev/vdc"),
        Err(tricircle_podsim::volume::AttachError::InvalidState(_))
    ));
    let r = h.delete(&h.demo, &format!("/volumes/{id}")).await;
    assert_fault(
        &r,
        400,
        "badRequest",
        "Invalid volume: Volume status must be available or error or error_restoring or error_extending or error_managing and must not be migrating, attached, belong to a group, have snapshots, awaiting a transfer, or be disassociated from snapshots after volume transfer.",
    );
    svc.detach(&id, "srv").unwrap();
    let v = h.get(&h.demo, &format!("/volumes/{id}")).await;
    assert_eq!(v.body["volume"]["status"], "available");
    assert_eq!(v.body["volume"]["attachments"], json!([]));
    let r = h.delete(&h.demo, &format!("/volumes/{id}")).await;
    assert_eq!(r.status, 202);
    assert_eq!(r.body, Value::Null);
    let v = h.get(&h.demo, &format!("/volumes/{id}")).await;
    assert_eq!(v.body["volume"]["status"], "deleting");
    h.wait_gone(&h.demo, &format!("/volumes/{id}")).await;
    let r = h.delete(&h.demo, &format!("/volumes/{id}")).await;
    assert_fault(
        &r,
        404,
        "itemNotFound",
        &format!("Volume {id} could not be found."),
    );
    assert_eq!(
        svc.detach(&id, "srv"),
        Err(tricircle_podsim::volume::AttachError::NotFound)
    );
}

#[tokio::test]
async fn attachments_api_reserve_connect_complete_delete() {
    let h = start().await;
    let id = h.volume(&h.demo, json!({"size": 1})).await;
    let r = h
        .post(
            &h.demo,
            "/attachments",
            json!({"attachment": {"volume_uuid": id, "instance_uuid": "srv"}}),
        )
        .await;
    assert_fault(&r, 404, "itemNotFound", "The resource could not be found.");
    let r = h
        .post_v(
            &h.demo,
            "/attachments",
            json!({"attachment": {"volume_uuid": id, "instance_uuid": "srv"}}),
            "3.44",
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let att = r.body["attachment"]["id"].as_str().unwrap().to_string();
    assert_eq!(r.body["attachment"]["status"], "reserved");
    assert_eq!(r.body["attachment"]["instance"], "srv");
    let v = h.get(&h.demo, &format!("/volumes/{id}")).await;
    assert_eq!(v.body["volume"]["status"], "reserved");
    let connector = json!({"host": "cmp1", "initiator": "iqn.1993-08.org.debian:01:abc", "mountpoint": "/dev/vdb"});
    let r = h
        .call(
            &h.demo,
            Method::PUT,
            &format!("/attachments/{att}"),
            Some(json!({"attachment": {"connector": connector}})),
            Some("3.44"),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.body["attachment"]["connection_info"]["driver_volume_type"],
        "iscsi"
    );
    assert_eq!(r.body["attachment"]["attach_mode"], "rw");
    let v = h.get(&h.demo, &format!("/volumes/{id}")).await;
    assert_eq!(v.body["volume"]["status"], "attaching");
    let r = h
        .post_v(
            &h.demo,
            &format!("/attachments/{att}/action"),
            json!({"os-complete": {}}),
            "3.44",
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.body);
    let v = h.get(&h.demo, &format!("/volumes/{id}")).await;
    assert_eq!(v.body["volume"]["status"], "in-use");
    assert_eq!(
        v.body["volume"]["attachments"][0]["attachment_id"],
        att.as_str()
    );
    assert_eq!(v.body["volume"]["attachments"][0]["device"], "/dev/vdb");
    let r = h.get_v(&h.demo, "/attachments", "3.44").await;
    assert_eq!(r.body["attachments"].as_array().unwrap().len(), 1);
    let r = h
        .get_v(&h.demo, &format!("/attachments/{att}"), "3.44")
        .await;
    assert_eq!(r.body["attachment"]["status"], "attached");
    // Other projects do not see it.
    let r = h.get_v(&h.admin, "/attachments", "3.44").await;
    assert_eq!(r.body["attachments"], json!([]));
    let r = h
        .call(
            &h.demo,
            Method::DELETE,
            &format!("/attachments/{att}"),
            None,
            Some("3.44"),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body, json!({"attachments": []}));
    let v = h.get(&h.demo, &format!("/volumes/{id}")).await;
    assert_eq!(v.body["volume"]["status"], "available");
    // Nova's simulator can complete a reservation made through the API.
    let r = h
        .post_v(
            &h.demo,
            "/attachments",
            json!({"attachment": {"volume_uuid": id, "instance_uuid": "srv2"}}),
            "3.44",
        )
        .await;
    assert_eq!(r.status, 200);
    h.pod
        .volume()
        .attach(&h.demo.project, &id, "srv2", "/dev/vdd")
        .unwrap();
    let v = h.get(&h.demo, &format!("/volumes/{id}")).await;
    assert_eq!(v.body["volume"]["status"], "in-use");
    assert_eq!(v.body["volume"]["attachments"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn snapshots_force_paging_and_cascade() {
    let h = start().await;
    let id = h.volume(&h.demo, json!({"size": 2})).await;
    let r = h
        .post(&h.demo, "/snapshots", json!({"snapshot": {"volume_id": id, "name": "s1", "description": "d", "metadata": {"a": "b"}}}))
        .await;
    assert_eq!(r.status, 202, "{}", r.body);
    let s = &r.body["snapshot"];
    assert_eq!(s["status"], "creating");
    assert_eq!(s["size"], 2);
    assert_eq!(s["volume_id"], id.as_str());
    assert_eq!(s["metadata"], json!({"a": "b"}));
    let s1 = s["id"].as_str().unwrap().to_string();
    h.wait_snapshot(&h.demo, &s1, "available").await;
    let r = h.get(&h.demo, &format!("/snapshots/{s1}")).await;
    assert_eq!(
        r.body["snapshot"]["os-extended-snapshot-attributes:progress"],
        "100%"
    );
    assert_eq!(
        r.body["snapshot"]["os-extended-snapshot-attributes:project_id"],
        h.demo.project
    );

    // In-use volumes need force (before 3.66).
    h.pod
        .volume()
        .attach(&h.demo.project, &id, "srv", "/dev/vdb")
        .unwrap();
    let r = h
        .post(
            &h.demo,
            "/snapshots",
            json!({"snapshot": {"volume_id": id}}),
        )
        .await;
    assert_fault(
        &r,
        400,
        "badRequest",
        &format!(
            "Invalid volume: Volume {id} status must be available, but current status is: in-use."
        ),
    );
    let r = h
        .post(
            &h.demo,
            "/snapshots",
            json!({"snapshot": {"volume_id": id, "force": true, "name": "s2"}}),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.body);
    let r = h
        .post_v(
            &h.demo,
            "/snapshots",
            json!({"snapshot": {"volume_id": id, "name": "s3"}}),
            "3.66",
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.body);
    let r = h
        .post_v(
            &h.demo,
            "/snapshots",
            json!({"snapshot": {"volume_id": id, "force": false}}),
            "3.66",
        )
        .await;
    assert_eq!(r.status, 400);
    assert!(r.body["badRequest"]["message"]
        .as_str()
        .unwrap()
        .starts_with("Since microversion 3.66"));

    // Listing, paging, sorting, filters.
    let r = h.get(&h.demo, "/snapshots/detail?sort=name:asc").await;
    let names: Vec<&str> = r.body["snapshots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["s1", "s2", "s3"]);
    let r = h.get(&h.demo, "/snapshots?limit=2").await;
    assert_eq!(r.body["snapshots"].as_array().unwrap().len(), 2);
    let next = r.body["snapshots_links"][0]["href"]
        .as_str()
        .unwrap()
        .to_string();
    let r2 = h.raw(&h.demo, Method::GET, &next, None, None).await;
    assert_eq!(r2.body["snapshots"].as_array().unwrap().len(), 1);
    let r = h.get(&h.demo, "/snapshots?name=s2").await;
    assert_eq!(r.body["snapshots"].as_array().unwrap().len(), 1);
    let r = h.get(&h.admin, "/snapshots").await;
    assert_eq!(r.body["snapshots"], json!([]));

    // Update, metadata, actions.
    let r = h
        .put(
            &h.demo,
            &format!("/snapshots/{s1}"),
            json!({"snapshot": {"name": "renamed"}}),
        )
        .await;
    assert_eq!(r.body["snapshot"]["name"], "renamed");
    let r = h
        .post(
            &h.demo,
            &format!("/snapshots/{s1}/metadata"),
            json!({"metadata": {"c": "d"}}),
        )
        .await;
    assert_eq!(r.body["metadata"], json!({"a": "b", "c": "d"}));
    let r = h
        .post(
            &h.demo,
            &format!("/snapshots/{s1}/action"),
            json!({"os-reset_status": {"status": "error"}}),
        )
        .await;
    assert_eq!(r.status, 403);
    let r = h
        .post(
            &h.admin,
            &format!("/snapshots/{s1}/action"),
            json!({"os-reset_status": {"status": "error"}}),
        )
        .await;
    assert_eq!(r.status, 202);
    let r = h.get(&h.demo, &format!("/snapshots/{s1}")).await;
    assert_eq!(r.body["snapshot"]["status"], "error");

    // Volumes with snapshots are not deleted without cascade.
    svc_detach(&h, &id, "srv");
    h.wait_volume(&h.demo, &id, "available").await;
    for s in ids(&h.get(&h.demo, "/snapshots").await.body, "snapshots") {
        h.wait_snapshot_not_creating(&s).await;
    }
    let r = h.delete(&h.demo, &format!("/volumes/{id}")).await;
    assert_eq!(r.status, 400);
    let r = h
        .delete(&h.demo, &format!("/volumes/{id}?cascade=true"))
        .await;
    assert_eq!(r.status, 202, "{}", r.body);
    h.wait_gone(&h.demo, &format!("/volumes/{id}")).await;
    let r = h.get(&h.demo, "/snapshots").await;
    assert_eq!(r.body["snapshots"], json!([]));
}

fn svc_detach(h: &H, id: &str, server: &str) {
    h.pod.volume().detach(id, server).unwrap();
}

impl H {
    async fn wait_snapshot_not_creating(&self, id: &str) {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let r = self.get(&self.demo, &format!("/snapshots/{id}")).await;
            if r.body["snapshot"]["status"] != "creating" {
                return;
            }
            assert!(Instant::now() < deadline);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

#[tokio::test]
async fn snapshot_delete_rules() {
    let h = start().await;
    let id = h.volume(&h.demo, json!({"size": 1})).await;
    let r = h
        .post(
            &h.demo,
            "/snapshots",
            json!({"snapshot": {"volume_id": id}}),
        )
        .await;
    let sid = r.body["snapshot"]["id"].as_str().unwrap().to_string();
    let r = h.delete(&h.demo, &format!("/snapshots/{sid}")).await;
    assert_fault(
        &r,
        400,
        "badRequest",
        "Invalid snapshot: Snapshot status must be available or error and must not be part of a group.",
    );
    h.wait_snapshot(&h.demo, &sid, "available").await;
    let r = h.delete(&h.demo, &format!("/snapshots/{sid}")).await;
    assert_eq!(r.status, 202);
    h.wait_gone(&h.demo, &format!("/snapshots/{sid}")).await;
    let r = h
        .get(&h.demo, "/snapshots/0c8d1a9e-1b4b-4a1e-9c3e-1234567890ab")
        .await;
    assert_fault(
        &r,
        404,
        "itemNotFound",
        "Snapshot 0c8d1a9e-1b4b-4a1e-9c3e-1234567890ab could not be found.",
    );
    // Revert (3.40+) to the latest snapshot.
    let r = h
        .post(
            &h.demo,
            "/snapshots",
            json!({"snapshot": {"volume_id": id}}),
        )
        .await;
    let sid = r.body["snapshot"]["id"].as_str().unwrap().to_string();
    h.wait_snapshot(&h.demo, &sid, "available").await;
    let act = format!("/volumes/{id}/action");
    let r = h
        .post(&h.demo, &act, json!({"revert": {"snapshot_id": sid}}))
        .await;
    assert_eq!(r.status, 400, "no such action before 3.40");
    let r = h
        .post_v(
            &h.demo,
            &act,
            json!({"revert": {"snapshot_id": sid}}),
            "3.40",
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.body);
    h.wait_volume(&h.demo, &id, "available").await;
}

#[tokio::test]
async fn volume_types_crud_access_and_extra_specs() {
    let h = start().await;
    assert_eq!(h.pod.volume().type_names(), vec!["__DEFAULT__".to_string()]);
    let r = h.get(&h.demo, "/types").await;
    assert_eq!(r.status, 200);
    let t = &r.body["volume_types"][0];
    assert_eq!(t["name"], "__DEFAULT__");
    assert_eq!(t["description"], "Default Volume Type");
    assert_eq!(t["is_public"], true);
    assert_eq!(t["os-volume-type-access:is_public"], true);
    assert_eq!(t["extra_specs"], json!({}));
    assert!(t.get("qos_specs_id").is_none());
    let r = h.get(&h.demo, "/types/default").await;
    assert_eq!(r.body["volume_type"]["name"], "__DEFAULT__");
    let default_id = r.body["volume_type"]["id"].as_str().unwrap().to_string();

    let body = json!({"volume_type": {"name": "gold", "description": "fast", "extra_specs": {"volume_backend_name": "lvmdriver-1", "multiattach": "<is> True"}}});
    let r = h.post(&h.demo, "/types", body.clone()).await;
    assert_fault(
        &r,
        403,
        "forbidden",
        "Policy doesn't allow volume_extension:type_create to be performed.",
    );
    let r = h.post(&h.admin, "/types", body.clone()).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let gold = r.body["volume_type"]["id"].as_str().unwrap().to_string();
    assert_eq!(r.body["volume_type"]["qos_specs_id"], Value::Null);
    assert_eq!(
        r.body["volume_type"]["extra_specs"]["volume_backend_name"],
        "lvmdriver-1"
    );
    let r = h.post(&h.admin, "/types", body).await;
    assert_fault(
        &r,
        409,
        "conflictingRequest",
        "Volume Type gold already exists.",
    );
    // Users only see user-visible extra specs.
    let r = h.get(&h.demo, &format!("/types/{gold}")).await;
    assert_eq!(
        r.body["volume_type"]["extra_specs"],
        json!({"multiattach": "<is> True"})
    );
    // Extra specs API.
    let es = format!("/types/{gold}/extra_specs");
    let r = h
        .post(&h.admin, &es, json!({"extra_specs": {"k": "v"}}))
        .await;
    assert_eq!(r.body, json!({"extra_specs": {"k": "v"}}));
    let r = h.get(&h.admin, &es).await;
    assert_eq!(r.body["extra_specs"]["k"], "v");
    let r = h.put(&h.admin, &format!("{es}/k"), json!({"k": "w"})).await;
    assert_eq!(r.body, json!({"k": "w"}));
    let r = h.get(&h.admin, &format!("{es}/k")).await;
    assert_eq!(r.body, json!({"k": "w"}));
    let r = h.put(&h.admin, &format!("{es}/k"), json!({"j": "w"})).await;
    assert_fault(&r, 400, "badRequest", "Request body and URI mismatch");
    let r = h.delete(&h.admin, &format!("{es}/k")).await;
    assert_eq!(r.status, 202);
    let r = h.get(&h.admin, &format!("{es}/k")).await;
    assert_fault(
        &r,
        404,
        "itemNotFound",
        &format!("Volume Type {gold} has no extra specs with key k."),
    );
    // Update.
    let r = h
        .put(
            &h.admin,
            &format!("/types/{gold}"),
            json!({"volume_type": {"description": "faster"}}),
        )
        .await;
    assert_eq!(r.body["volume_type"]["description"], "faster");
    let r = h
        .put(
            &h.admin,
            &format!("/types/{gold}"),
            json!({"volume_type": {}}),
        )
        .await;
    assert_fault(
        &r,
        400,
        "badRequest",
        "Specify volume type name, description, is_public or a combination thereof.",
    );
    // A multiattach volume of the type.
    let v = h
        .volume(&h.demo, json!({"size": 1, "volume_type": "gold"}))
        .await;
    let r = h.get(&h.demo, &format!("/volumes/{v}")).await;
    assert_eq!(r.body["volume"]["multiattach"], true);
    assert_eq!(r.body["volume"]["volume_type"], "gold");
    h.pod
        .volume()
        .attach(&h.demo.project, &v, "a", "/dev/vdb")
        .unwrap();
    h.pod
        .volume()
        .attach(&h.demo.project, &v, "b", "/dev/vdb")
        .unwrap();
    let r = h.get(&h.demo, &format!("/volumes/{v}")).await;
    assert_eq!(r.body["volume"]["attachments"].as_array().unwrap().len(), 2);
    // In use: no extra spec changes, no delete.
    let r = h
        .post(&h.admin, &es, json!({"extra_specs": {"k": "v"}}))
        .await;
    assert_fault(&r, 400, "badRequest", "Volume Type is currently in use.");
    let r = h.delete(&h.admin, &format!("/types/{gold}")).await;
    assert_fault(&r, 400, "badRequest", "Target volume type is still in use.");
    let r = h.delete(&h.admin, &format!("/types/{default_id}")).await;
    assert_fault(
        &r,
        400,
        "badRequest",
        &format!("The volume type {default_id} is a default volume type and cannot be deleted."),
    );

    // Private types and project access.
    let r = h
        .post(
            &h.admin,
            "/types",
            json!({"volume_type": {"name": "secret", "os-volume-type-access:is_public": false}}),
        )
        .await;
    let secret = r.body["volume_type"]["id"].as_str().unwrap().to_string();
    assert_eq!(r.body["volume_type"]["is_public"], false);
    let r = h.get(&h.demo, &format!("/types/{secret}")).await;
    assert_fault(
        &r,
        404,
        "itemNotFound",
        &format!("Volume type {secret} could not be found."),
    );
    let r = h.get(&h.demo, "/types").await;
    assert_eq!(r.body["volume_types"].as_array().unwrap().len(), 2);
    let r = h.get(&h.admin, "/types?is_public=None").await;
    assert_eq!(r.body["volume_types"].as_array().unwrap().len(), 3);
    let acc = format!("/types/{secret}/action");
    let r = h
        .post(
            &h.admin,
            &acc,
            json!({"addProjectAccess": {"project": h.demo.project}}),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.body);
    let r = h
        .post(
            &h.admin,
            &acc,
            json!({"addProjectAccess": {"project": h.demo.project}}),
        )
        .await;
    assert_fault(
        &r,
        409,
        "conflictingRequest",
        &format!(
            "Volume type access for {secret} / {} combination already exists.",
            h.demo.project
        ),
    );
    let r = h
        .get(&h.admin, &format!("/types/{secret}/os-volume-type-access"))
        .await;
    assert_eq!(
        r.body["volume_type_access"],
        json!([{"volume_type_id": secret, "project_id": h.demo.project}])
    );
    let r = h.get(&h.demo, "/types").await;
    assert_eq!(r.body["volume_types"].as_array().unwrap().len(), 3);
    let r = h.get(&h.demo, &format!("/types/{secret}")).await;
    assert_eq!(r.status, 200);
    let r = h
        .post(
            &h.admin,
            &acc,
            json!({"removeProjectAccess": {"project": h.demo.project}}),
        )
        .await;
    assert_eq!(r.status, 202);
    let r = h.get(&h.demo, &format!("/types/{secret}")).await;
    assert_eq!(r.status, 404);
    let r = h
        .post(
            &h.admin,
            &format!("/types/{gold}/action"),
            json!({"addProjectAccess": {"project": "p"}}),
        )
        .await;
    assert_fault(
        &r,
        400,
        "badRequest",
        "Invalid volume type: Type access modification is not applicable to public volume type.",
    );
    let r = h
        .get(&h.admin, &format!("/types/{gold}/os-volume-type-access"))
        .await;
    assert_fault(
        &r,
        404,
        "itemNotFound",
        "Access list not available for public volume types.",
    );
    let r = h.delete(&h.admin, &format!("/types/{secret}")).await;
    assert_eq!(r.status, 202);
    let mut names = h.pod.volume().type_names();
    names.sort();
    assert_eq!(names, vec!["__DEFAULT__".to_string(), "gold".to_string()]);
}

/// Creates a public volume type as admin; returns its id.
async fn new_type(h: &H, name: &str, extra_specs: Value) -> String {
    let body = json!({"volume_type": {"name": name, "extra_specs": extra_specs}});
    let r = h.post(&h.admin, "/types", body).await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body["volume_type"]["id"].as_str().unwrap().to_string()
}

/// Gives type `id` a LUKS encryption spec; returns its encryption id.
async fn encrypt_type(h: &H, id: &str) -> String {
    let body = json!({"encryption": {"provider": "luks", "control_location": "front-end", "cipher": "aes-xts-plain64", "key_size": 256}});
    let r = h
        .post(&h.admin, &format!("/types/{id}/encryption"), body)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body["encryption"]["encryption_id"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn volume_type_encryption_create_and_show() {
    let h = start().await;
    let luks = new_type(&h, "luks", json!({})).await;
    let enc = format!("/types/{luks}/encryption");
    // Admin only; `{}` (not wrapped) while the type has none.
    let r = h.get(&h.demo, &enc).await;
    assert_fault(
        &r,
        403,
        "forbidden",
        "Policy doesn't allow volume_extension:volume_type_encryption:get to be performed.",
    );
    let r = h.get(&h.admin, &enc).await;
    assert_eq!((r.status, &r.body), (200, &json!({})));
    let r = h.get(&h.admin, "/types/nope/encryption").await;
    assert_fault(
        &r,
        404,
        "itemNotFound",
        "Volume type nope could not be found.",
    );
    let none = format!("Volume type encryption for type {luks} does not exist.");
    let r = h.get(&h.admin, &format!("{enc}/provider")).await;
    assert_fault(&r, 404, "itemNotFound", &none);

    let body = json!({"encryption": {"provider": "luks", "control_location": "front-end", "key_size": "256"}});
    // The answer is the body, key_size made an int, with both ids added.
    let r = h.post(&h.admin, &enc, body.clone()).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let eid = r.body["encryption"]["encryption_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(eid.len(), 36);
    assert_eq!(
        r.body,
        json!({"encryption": {"provider": "luks", "control_location": "front-end", "key_size": 256, "volume_type_id": luks, "encryption_id": eid}})
    );
    let r = h.post(&h.admin, &enc, body.clone()).await;
    assert_fault(
        &r,
        400,
        "badRequest",
        &format!("Volume type encryption for type {luks} already exists."),
    );
    let r = h.get(&h.admin, &enc).await;
    assert_eq!(r.status, 200);
    let created_at = r.body["created_at"].as_str().unwrap().to_string();
    assert_eq!(
        r.body,
        json!({"volume_type_id": luks, "encryption_id": eid, "provider": "luks",
               "control_location": "front-end", "cipher": null, "key_size": 256,
               "created_at": created_at, "updated_at": null, "deleted": false, "deleted_at": null})
    );
    let r = h.get(&h.admin, &format!("{enc}/provider")).await;
    assert_eq!((r.status, &r.body), (200, &json!({"provider": "luks"})));
    let r = h.get(&h.admin, &format!("{enc}/key_size")).await;
    assert_eq!(r.body, json!({"key_size": 256}));
    let r = h.get(&h.admin, &format!("{enc}/nope")).await;
    assert_fault(&r, 404, "itemNotFound", &none);
}

#[tokio::test]
async fn volume_type_encryption_schema_and_policy() {
    let h = start().await;
    let luks = new_type(&h, "luks", json!({})).await;
    let enc = format!("/types/{luks}/encryption");
    // Create: the schema first (control_location is required), then policy.
    let r = h
        .post(&h.demo, &enc, json!({"encryption": {"provider": "luks"}}))
        .await;
    assert_fault(
        &r,
        400,
        "badRequest",
        "Invalid input for field/attribute encryption. Value: {'provider': 'luks'}. \
         'control_location' is a required property",
    );
    let body = json!({"encryption": {"provider": "luks", "control_location": "front-end", "key_size": "256"}});
    let r = h.post(&h.demo, &enc, body.clone()).await;
    assert_fault(
        &r,
        403,
        "forbidden",
        "Policy doesn't allow volume_extension:volume_type_encryption:create to be performed.",
    );
    let r = h
        .post(&h.admin, &enc, json!({"encryption": {"provider": "luks", "control_location": "front-end", "key_size": "abc"}}))
        .await;
    assert_fault(
        &r,
        400,
        "badRequest",
        "Invalid input received: key_size must be an integer.",
    );
    let r = h
        .post(
            &h.admin,
            &enc,
            json!({"encryption": {"provider": "luks", "control_location": "middle"}}),
        )
        .await;
    assert_fault(
        &r,
        400,
        "badRequest",
        "Invalid input for field/attribute control_location. Value: middle. \
         'middle' is not one of ['front-end', 'back-end']",
    );
    let r = h
        .post(
            &h.admin,
            &enc,
            json!({"encryption": {"provider": "luks", "control_location": "front-end"}, "x": 1}),
        )
        .await;
    assert_fault(
        &r,
        400,
        "badRequest",
        "Additional properties are not allowed ('x' was unexpected)",
    );
    let r = h
        .post(&h.admin, "/types/nope/encryption", body.clone())
        .await;
    assert_fault(
        &r,
        404,
        "itemNotFound",
        "Volume type nope could not be found.",
    );
    let r = h.get(&h.admin, &enc).await;
    assert_eq!(r.body, json!({}));
}

#[tokio::test]
async fn volume_type_encryption_update_delete_and_in_use() {
    let h = start().await;
    let luks = new_type(&h, "luks", json!({})).await;
    let enc = format!("/types/{luks}/encryption");
    let eid = encrypt_type(&h, &luks).await;
    let none = format!("Volume type encryption for type {luks} does not exist.");
    let body = json!({"encryption": {"provider": "luks", "control_location": "front-end"}});
    // Update answers the body as given; the spec keeps what it did not name.
    let upd = json!({"encryption": {"key_size": 512, "control_location": "back-end", "cipher": "aes-xts-plain64"}});
    let r = h.put(&h.demo, &format!("{enc}/{eid}"), upd.clone()).await;
    assert_eq!(r.status, 403);
    let r = h
        .put(&h.admin, &format!("{enc}/{eid}"), json!({"key_size": 1}))
        .await;
    assert_fault(&r, 400, "badRequest", "'encryption' is a required property");
    let r = h.put(&h.admin, &format!("{enc}/{eid}"), upd.clone()).await;
    assert_eq!((r.status, &r.body), (200, &upd));
    let r = h.get(&h.admin, &enc).await;
    assert_eq!(r.body["provider"], "luks");
    assert_eq!(r.body["key_size"], 512);
    assert_eq!(r.body["control_location"], "back-end");
    assert_eq!(r.body["cipher"], "aes-xts-plain64");
    assert!(r.body["updated_at"].is_string());

    // A volume of the type (any project) blocks every change, even a
    // create on a type that has one already (in use is checked first).
    let vid = h
        .volume(&h.demo, json!({"size": 1, "volume_type": "luks"}))
        .await;
    let r = h.post(&h.admin, &enc, body.clone()).await;
    assert_fault(
        &r,
        400,
        "badRequest",
        "Cannot create encryption specs. Volume type in use.",
    );
    let r = h.put(&h.admin, &format!("{enc}/{eid}"), upd.clone()).await;
    assert_fault(
        &r,
        400,
        "badRequest",
        "Cannot update encryption specs. Volume type in use.",
    );
    let r = h.delete(&h.admin, &format!("{enc}/{eid}")).await;
    assert_fault(
        &r,
        400,
        "badRequest",
        "Cannot delete encryption specs. Volume type in use.",
    );
    let r = h.delete(&h.demo, &format!("/volumes/{vid}")).await;
    assert_eq!(r.status, 202);
    h.wait_gone(&h.demo, &format!("/volumes/{vid}")).await;

    let r = h.delete(&h.demo, &format!("{enc}/{eid}")).await;
    assert_eq!(r.status, 403);
    let r = h.delete(&h.admin, &format!("{enc}/{eid}")).await;
    assert_eq!((r.status, &r.body), (202, &Value::Null));
    let r = h.get(&h.admin, &enc).await;
    assert_eq!(r.body, json!({}));
    let r = h.delete(&h.admin, &format!("{enc}/{eid}")).await;
    assert_fault(&r, 404, "itemNotFound", &none);
    let r = h.put(&h.admin, &format!("{enc}/{eid}"), upd).await;
    assert_fault(&r, 404, "itemNotFound", &none);
    // Delete does not look the type up.
    let r = h.delete(&h.admin, "/types/nope/encryption/x").await;
    assert_fault(
        &r,
        404,
        "itemNotFound",
        "Volume type encryption for type nope does not exist.",
    );

    // Deleting the type drops its encryption; a new type of the same name
    // starts without one.
    encrypt_type(&h, &luks).await;
    let r = h.delete(&h.admin, &format!("/types/{luks}")).await;
    assert_eq!(r.status, 202);
    let r = h.get(&h.admin, &enc).await;
    assert_fault(
        &r,
        404,
        "itemNotFound",
        &format!("Volume type {luks} could not be found."),
    );
    let again = new_type(&h, "luks", json!({})).await;
    let r = h.get(&h.admin, &format!("/types/{again}/encryption")).await;
    assert_eq!(r.body, json!({}));
    let r = h.get(&h.admin, "/extensions").await;
    assert!(r.body["extensions"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["alias"] == "encryption" && e["name"] == "VolumeTypeEncryption"));
}

#[tokio::test]
async fn encrypted_types_make_encrypted_volumes() {
    let h = start().await;
    new_type(&h, "plain", json!({})).await;
    let luks = new_type(&h, "luks", json!({})).await;
    encrypt_type(&h, &luks).await;
    let multi = new_type(&h, "multi", json!({"multiattach": "<is> True"})).await;
    encrypt_type(&h, &multi).await;

    let r = h
        .post(
            &h.demo,
            "/volumes",
            json!({"volume": {"size": 1, "volume_type": "luks"}}),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.body);
    assert_eq!(r.body["volume"]["encrypted"], true);
    let enc_id = r.body["volume"]["id"].as_str().unwrap().to_string();
    let v = h.wait_volume(&h.demo, &enc_id, "available").await;
    assert_eq!(v["encrypted"], true);
    let clear = h
        .volume(&h.demo, json!({"size": 1, "volume_type": "plain"}))
        .await;
    let r = h.get(&h.demo, "/volumes/detail").await;
    for v in r.body["volumes"].as_array().unwrap() {
        assert_eq!(v["encrypted"], v["id"] == enc_id.as_str(), "{v}");
    }
    let r = h.get(&h.demo, &format!("/volumes/{clear}")).await;
    assert_eq!(r.body["volume"]["encrypted"], false);
    let r = h
        .post(
            &h.demo,
            &format!("/volumes/{enc_id}/action"),
            json!({"os-initialize_connection": {"connector": {"host": "h", "initiator": "iqn.x"}}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["connection_info"]["data"]["encrypted"], true);

    let r = h
        .post(
            &h.demo,
            "/volumes",
            json!({"volume": {"size": 1, "volume_type": "multi"}}),
        )
        .await;
    assert_fault(
        &r,
        400,
        "badRequest",
        "Invalid volume: Multiattach cannot be used with encrypted volumes.",
    );
}

#[tokio::test]
async fn encrypted_clones_keep_their_encryption() {
    let h = start().await;
    let plain = new_type(&h, "plain", json!({})).await;
    let luks = new_type(&h, "luks", json!({})).await;
    encrypt_type(&h, &luks).await;
    let enc_id = h
        .volume(&h.demo, json!({"size": 1, "volume_type": "luks"}))
        .await;
    // Clones keep their source's encryption; another type must encrypt alike.
    let r = h
        .post(
            &h.demo,
            "/volumes",
            json!({"volume": {"source_volid": enc_id, "volume_type": "plain"}}),
        )
        .await;
    assert_fault(
        &r,
        400,
        "badRequest",
        &format!(
            "Invalid input received: Invalid volume_type provided: {plain} (requested type is \
             not compatible; either match source volume, or omit type argument)."
        ),
    );
    let clone = h.volume(&h.demo, json!({"source_volid": enc_id})).await;
    let r = h.get(&h.demo, &format!("/volumes/{clone}")).await;
    assert_eq!(r.body["volume"]["encrypted"], true);
    let r = h
        .post(
            &h.demo,
            "/snapshots",
            json!({"snapshot": {"volume_id": enc_id}}),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.body);
    let snap = r.body["snapshot"]["id"].as_str().unwrap().to_string();
    h.wait_snapshot(&h.demo, &snap, "available").await;
    let r = h
        .post(
            &h.demo,
            "/volumes",
            json!({"volume": {"snapshot_id": snap, "volume_type": plain}}),
        )
        .await;
    assert_fault(
        &r,
        400,
        "badRequest",
        &format!(
            "Invalid input received: Invalid volume_type provided: {plain} (requested type is \
             not compatible; recommend omitting the type argument)."
        ),
    );
    let from_snap = h.volume(&h.demo, json!({"snapshot_id": snap})).await;
    let r = h.get(&h.demo, &format!("/volumes/{from_snap}")).await;
    assert_eq!(r.body["volume"]["encrypted"], true);
    // A type encrypting alike is accepted.
    let twin = new_type(&h, "twin", json!({})).await;
    encrypt_type(&h, &twin).await;
    let r = h
        .post(
            &h.demo,
            "/volumes",
            json!({"volume": {"source_volid": enc_id, "volume_type": "twin"}}),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.body);
    assert_eq!(r.body["volume"]["encrypted"], true);
}

#[tokio::test]
async fn quotas_are_enforced_with_413() {
    let h = start().await;
    let q = format!("/os-quota-sets/{}", h.demo.project);
    let r = h.get(&h.demo, &q).await;
    assert_eq!(r.status, 200);
    let qs = &r.body["quota_set"];
    assert_eq!(qs["id"], h.demo.project);
    assert_eq!(qs["volumes"], 10);
    assert_eq!(qs["gigabytes"], 1000);
    assert_eq!(qs["snapshots"], 10);
    assert_eq!(qs["backups"], 10);
    assert_eq!(qs["per_volume_gigabytes"], -1);
    assert_eq!(qs["volumes___DEFAULT__"], -1);
    // Users cannot change quotas nor read another project's.
    let r = h
        .put(&h.demo, &q, json!({"quota_set": {"volumes": 2}}))
        .await;
    assert_fault(
        &r,
        403,
        "forbidden",
        "Policy doesn't allow volume_extension:quotas:update to be performed.",
    );
    let r = h
        .get(&h.demo, &format!("/os-quota-sets/{}", h.admin.project))
        .await;
    assert_eq!(r.status, 403);
    let r = h
        .put(&h.admin, &q, json!({"quota_set": {"bogus": 2}}))
        .await;
    assert_fault(
        &r,
        400,
        "badRequest",
        "Invalid input received: Bad key(s) in quota set: bogus",
    );
    let r = h
        .raw(
            &h.admin,
            Method::PUT,
            &format!("{}/volume/v3/{}{q}", h.base, h.admin.project),
            Some(json!({"quota_set": {"volumes": 2, "gigabytes": 5, "snapshots": 1}})),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["quota_set"]["volumes"], 2);

    let a = h.volume(&h.demo, json!({"size": 2})).await;
    let r = h
        .post(&h.demo, "/volumes", json!({"volume": {"size": 4}}))
        .await;
    assert_fault(
        &r,
        413,
        "overLimit",
        "VolumeSizeExceedsAvailableQuota: Requested volume or snapshot exceeds allowed gigabytes quota. Requested 4G, quota is 5G and 2G has been consumed.",
    );
    assert_eq!(r.body["overLimit"]["retryAfter"], "0");
    assert_eq!(r.headers["retry-after"], "0");
    h.volume(&h.demo, json!({"size": 1})).await;
    let r = h
        .post(&h.demo, "/volumes", json!({"volume": {"size": 1}}))
        .await;
    assert_fault(
        &r,
        413,
        "overLimit",
        "VolumeLimitExceeded: Maximum number of volumes allowed (2) exceeded for quota 'volumes'.",
    );
    // Snapshots count against snapshots and gigabytes.
    let r = h
        .put(&h.admin, &q, json!({"quota_set": {"gigabytes": 4}}))
        .await;
    assert_eq!(r.status, 200);
    let r = h
        .post(&h.demo, "/snapshots", json!({"snapshot": {"volume_id": a}}))
        .await;
    assert_fault(
        &r,
        413,
        "overLimit",
        "VolumeSizeExceedsAvailableQuota: Requested volume or snapshot exceeds allowed gigabytes quota. Requested 2G, quota is 4G and 3G has been consumed.",
    );
    let r = h
        .put(&h.admin, &q, json!({"quota_set": {"gigabytes": 100}}))
        .await;
    assert_eq!(r.status, 200);
    let r = h
        .post(&h.demo, "/snapshots", json!({"snapshot": {"volume_id": a}}))
        .await;
    assert_eq!(r.status, 202);
    let r = h
        .post(&h.demo, "/snapshots", json!({"snapshot": {"volume_id": a}}))
        .await;
    assert_fault(
        &r,
        413,
        "overLimit",
        "SnapshotLimitExceeded: Maximum number of snapshots allowed (1) exceeded",
    );
    // Extend over quota.
    let r = h
        .put(
            &h.admin,
            &q,
            json!({"quota_set": {"per_volume_gigabytes": 3}}),
        )
        .await;
    assert_eq!(r.status, 200);
    let r = h
        .post(
            &h.demo,
            &format!("/volumes/{a}/action"),
            json!({"os-extend": {"new_size": 4}}),
        )
        .await;
    assert_fault(
        &r,
        413,
        "overLimit",
        "VolumeSizeExceedsLimit: Requested volume size 4G is larger than maximum allowed limit 3G.",
    );
    // Usage, limits, defaults.
    let r = h.get(&h.demo, &format!("{q}?usage=True")).await;
    assert_eq!(
        r.body["quota_set"]["volumes"],
        json!({"limit": 2, "in_use": 2, "reserved": 0})
    );
    assert_eq!(r.body["quota_set"]["gigabytes"]["in_use"], 5);
    let r = h.get(&h.demo, "/limits").await;
    let abs = &r.body["limits"]["absolute"];
    assert_eq!(abs["maxTotalVolumes"], 2);
    assert_eq!(abs["totalVolumesUsed"], 2);
    assert_eq!(abs["totalGigabytesUsed"], 5);
    assert_eq!(abs["maxTotalSnapshots"], 1);
    assert_eq!(abs["totalSnapshotsUsed"], 1);
    assert_eq!(r.body["limits"]["rate"], json!([]));
    let r = h.get(&h.demo, &format!("{q}/defaults")).await;
    assert_eq!(r.body["quota_set"]["volumes"], 10);
    // Lowering below usage is refused.
    let r = h
        .put(&h.admin, &q, json!({"quota_set": {"volumes": 1}}))
        .await;
    assert_fault(
        &r,
        400,
        "badRequest",
        "Quota volumes limit must be equal or greater than existing resources. Current usage is 2 and the requested limit is 1.",
    );
    let r = h.delete(&h.admin, &q).await;
    assert_eq!(r.status, 200);
    let r = h.get(&h.demo, &q).await;
    assert_eq!(r.body["quota_set"]["volumes"], 10);
}

#[tokio::test]
async fn microversions_and_url_checks() {
    let h = start().await;
    let r = h.get_v(&h.demo, "/volumes", "3.71").await;
    assert_fault(
        &r,
        406,
        "computeFault",
        "Version 3.71 is not supported by the API. Minimum is 3.0 and maximum is 3.70.",
    );
    assert_eq!(r.headers["openstack-api-version"], "volume 3.71");
    let r = h.get_v(&h.demo, "/volumes", "2.0").await;
    assert_eq!(r.status, 406);
    let r = h.get_v(&h.demo, "/volumes", "3.x").await;
    assert_fault(
        &r,
        400,
        "badRequest",
        "API Version String 3.x is of invalid format. Must be of format MajorNum.MinorNum.",
    );
    let r = h.get_v(&h.demo, "/volumes", "latest").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.headers["openstack-api-version"], "volume 3.70");
    assert_eq!(r.headers["vary"], "OpenStack-API-Version");
    // Another project in the URL.
    let url = format!("{}/volume/v3/{}/volumes", h.base, h.admin.project);
    let r = h.raw(&h.demo, Method::GET, &url, None, None).await;
    assert_fault(&r, 400, "badRequest", "Malformed request url");
    // No project in the URL (3.67 style).
    let url = format!("{}/volume/v3/volumes", h.base);
    let r = h.raw(&h.demo, Method::GET, &url, None, Some("3.67")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    // Unknown paths and methods.
    let r = h.get(&h.demo, "/nothing-here").await;
    assert_fault(&r, 404, "itemNotFound", "The resource could not be found.");
    assert!(!r.headers.contains_key("openstack-api-version"));
    let r = h.call(&h.demo, Method::PATCH, "/volumes", None, None).await;
    assert_eq!(r.status, 404);
}

#[tokio::test]
async fn tenant_isolation() {
    let h = start().await;
    let mine = h
        .volume(&h.admin, json!({"size": 1, "name": "admins"}))
        .await;
    let r = h.get(&h.demo, &format!("/volumes/{mine}")).await;
    assert_fault(
        &r,
        404,
        "itemNotFound",
        &format!("Volume {mine} could not be found."),
    );
    let r = h
        .put(
            &h.demo,
            &format!("/volumes/{mine}"),
            json!({"volume": {"name": "x"}}),
        )
        .await;
    assert_eq!(r.status, 404);
    let r = h.delete(&h.demo, &format!("/volumes/{mine}")).await;
    assert_eq!(r.status, 404);
    let r = h
        .post(
            &h.demo,
            &format!("/volumes/{mine}/action"),
            json!({"os-extend": {"new_size": 2}}),
        )
        .await;
    assert_eq!(r.status, 404);
    let r = h
        .post(
            &h.demo,
            "/snapshots",
            json!({"snapshot": {"volume_id": mine}}),
        )
        .await;
    assert_eq!(r.status, 404);
    let r = h.get(&h.demo, "/volumes/detail").await;
    assert_eq!(r.body["volumes"], json!([]));
    // Admins act on other projects' volumes by id.
    let theirs = h.volume(&h.demo, json!({"size": 1})).await;
    let r = h.get(&h.admin, &format!("/volumes/{theirs}")).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.body["volume"]["os-vol-tenant-attr:tenant_id"],
        h.demo.project
    );
}

#[tokio::test]
async fn v2_alias_without_microversions() {
    let h = start().await;
    let url = format!("{}/volume/v2/{}/volumes", h.base, h.demo.project);
    let r = h
        .raw(
            &h.demo,
            Method::POST,
            &url,
            Some(json!({"volume": {"size": 1, "name": "old"}})),
            None,
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.body);
    assert!(!r.headers.contains_key("openstack-api-version"));
    let id = r.body["volume"]["id"].as_str().unwrap();
    assert_eq!(
        r.body["volume"]["links"][0]["href"],
        format!("{}/volume/v2/{}/volumes/{id}", h.base, h.demo.project)
    );
    let r = h
        .raw(
            &h.demo,
            Method::GET,
            &format!("{url}/detail"),
            None,
            Some("3.99"),
        )
        .await;
    assert_eq!(r.status, 200, "the header is ignored on v2");
    assert_eq!(r.body["volumes"][0]["name"], "old");
}

#[tokio::test]
async fn zones_services_pools_and_backups() {
    let h = start().await;
    let r = h.get(&h.demo, "/os-availability-zone").await;
    assert_eq!(
        r.body,
        json!({"availabilityZoneInfo": [{"zoneName": "nova", "zoneState": {"available": true}}]})
    );
    let r = h.get(&h.demo, "/os-services").await;
    assert_eq!(r.status, 403);
    let r = h.get(&h.admin, "/os-services").await;
    let svcs = r.body["services"].as_array().unwrap();
    let vol = svcs
        .iter()
        .find(|s| s["binary"] == "cinder-volume")
        .unwrap();
    assert_eq!(vol["state"], "up");
    assert_eq!(vol["status"], "enabled");
    assert_eq!(vol["zone"], "nova");
    let r = h
        .get(&h.admin, "/os-services?binary=cinder-scheduler")
        .await;
    assert_eq!(r.body["services"].as_array().unwrap().len(), 1);
    let r = h.get(&h.demo, "/scheduler-stats/get_pools").await;
    assert_eq!(r.status, 403);
    h.pod.volume().set_capacity_gb(100);
    h.volume(&h.demo, json!({"size": 7})).await;
    let r = h
        .get(&h.admin, "/scheduler-stats/get_pools?detail=True")
        .await;
    let pool = &r.body["pools"][0];
    assert_eq!(pool["name"], "pod1@lvmdriver-1#lvmdriver-1");
    assert_eq!(pool["capabilities"]["total_capacity_gb"], 100);
    assert_eq!(pool["capabilities"]["free_capacity_gb"], 93);
    let r = h.get(&h.admin, "/scheduler-stats/get_pools").await;
    assert_eq!(
        r.body,
        json!({"pools": [{"name": "pod1@lvmdriver-1#lvmdriver-1"}]})
    );

    // Backups.
    let vid = h.volume(&h.demo, json!({"size": 1, "name": "b"})).await;
    let r = h
        .post(
            &h.demo,
            "/backups",
            json!({"backup": {"volume_id": vid, "name": "bk"}}),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.body);
    let bid = r.body["backup"]["id"].as_str().unwrap().to_string();
    assert_eq!(r.body["backup"]["name"], "bk");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let r = h.get(&h.demo, &format!("/backups/{bid}")).await;
        if r.body["backup"]["status"] == "available" {
            assert_eq!(r.body["backup"]["size"], 1);
            assert_eq!(r.body["backup"]["volume_id"], vid.as_str());
            break;
        }
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let r = h.get(&h.demo, "/backups/detail").await;
    assert_eq!(r.body["backups"].as_array().unwrap().len(), 1);
    h.wait_volume(&h.demo, &vid, "available").await;
    let r = h
        .post(
            &h.demo,
            &format!("/backups/{bid}/restore"),
            json!({"restore": {}}),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.body);
    let new_vol = r.body["restore"]["volume_id"].as_str().unwrap().to_string();
    assert_eq!(
        r.body["restore"]["volume_name"],
        format!("restore_backup_{bid}")
    );
    h.wait_volume(&h.demo, &new_vol, "available").await;
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let r = h.get(&h.demo, &format!("/backups/{bid}")).await;
        if r.body["backup"]["status"] == "available" {
            break;
        }
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let r = h.delete(&h.demo, &format!("/backups/{bid}")).await;
    assert_eq!(r.status, 202);
    h.wait_gone(&h.demo, &format!("/backups/{bid}")).await;
}

#[tokio::test]
async fn pod_without_identity_serves_project_admin() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let pod = Pod::new(PodConfig::new("PodX"));
    let _stop = spawn(listener, pod.router()).await;
    let client = Client::new();
    let res = client
        .post(format!("{base}/volume/v3/admin/volumes"))
        .json(&json!({"volume": {"size": 1}}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 202);
    let res = client
        .get(format!("{base}/volume/v3/admin/volumes"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["volumes"].as_array().unwrap().len(), 1);
    assert_eq!(
        pod.volume().volumes()[0]["os-vol-tenant-attr:tenant_id"],
        "admin"
    );
}

/// The keys of a JSON object, sorted.
fn keys(v: &Value) -> Vec<&str> {
    let mut k: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    k.sort_unstable();
    k
}

/// `?usage=True` quota usage of `resource` in `project` (read as admin).
async fn in_use(h: &H, project: &str, resource: &str) -> Value {
    let r = h
        .get(&h.admin, &format!("/os-quota-sets/{project}?usage=True"))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body["quota_set"][resource]["in_use"].clone()
}

#[tokio::test]
async fn transfer_create_list_and_show() {
    let h = start().await;
    let vol = h.volume(&h.demo, json!({"size": 1, "name": "v"})).await;
    let r = h
        .post(
            &h.demo,
            "/os-volume-transfer",
            json!({"transfer": {"volume_id": vol, "name": " gift "}}),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.body);
    let t = &r.body["transfer"];
    assert_eq!(
        keys(t),
        ["auth_key", "created_at", "id", "links", "name", "volume_id"]
    );
    assert_eq!(t["name"], "gift");
    assert_eq!(t["volume_id"], vol.as_str());
    let key = t["auth_key"].as_str().unwrap();
    assert_eq!(key.len(), 16);
    assert!(key
        .bytes()
        .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
    let id = t["id"].as_str().unwrap().to_string();
    assert_eq!(
        t["links"][0]["href"],
        format!(
            "{}/volume/v3/{}/os-volume-transfer/{id}",
            h.base, h.demo.project
        )
    );
    assert_eq!(
        t["links"][1]["href"],
        format!(
            "{}/volume/{}/os-volume-transfer/{id}",
            h.base, h.demo.project
        )
    );
    assert_eq!(
        h.wait_volume(&h.demo, &vol, "awaiting-transfer").await["id"],
        vol.as_str()
    );

    // Lists, detail, show; the key is never shown again.
    let r = h.get(&h.demo, "/os-volume-transfer").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(keys(&r.body), ["transfers"]);
    assert_eq!(
        keys(&r.body["transfers"][0]),
        ["id", "links", "name", "volume_id"]
    );
    let r = h.get(&h.demo, "/os-volume-transfer/detail").await;
    assert_eq!(
        keys(&r.body["transfers"][0]),
        ["created_at", "id", "links", "name", "volume_id"]
    );
    let r = h.get(&h.demo, &format!("/os-volume-transfer/{id}")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        keys(&r.body["transfer"]),
        ["created_at", "id", "links", "name", "volume_id"]
    );
    assert_eq!(r.body["transfer"]["created_at"], t["created_at"]);
    // `name` filters; a key that is not a column lists nothing (before
    // 3.59, `limit` is one).
    let r = h.get(&h.demo, "/os-volume-transfer?name=gift").await;
    assert_eq!(ids(&r.body, "transfers"), [id.as_str()]);
    let r = h.get(&h.demo, "/os-volume-transfer?name=other").await;
    assert_eq!(r.body["transfers"], json!([]));
    let r = h.get(&h.demo, "/os-volume-transfer?limit=5").await;
    assert_eq!(r.body["transfers"], json!([]));
}

/// Offers a volume with `body`, POSTed to `path` as `user`; answers the
/// transfer's id and auth key.
async fn offer(h: &H, user: &User, path: &str, body: Value, version: &str) -> (String, String) {
    let r = h.post_v(user, path, body, version).await;
    assert_eq!(r.status, 202, "{}", r.body);
    let t = &r.body["transfer"];
    let text = |k: &str| t[k].as_str().unwrap().to_string();
    (text("id"), text("auth_key"))
}

#[tokio::test]
async fn transfer_visibility_and_delete() {
    let h = start().await;
    let vol = h.volume(&h.demo, json!({"size": 1})).await;
    let again = json!({"transfer": {"volume_id": vol}});
    let (id, _) = offer(&h, &h.demo, "/os-volume-transfer", again.clone(), "3.0").await;
    // Another project sees nothing; admins see it with all_tenants, and by id.
    let (alt, _) = h.alt_user().await;
    let r = h.get(&alt, "/os-volume-transfer/detail").await;
    assert_eq!(r.body["transfers"], json!([]));
    let r = h.get(&alt, &format!("/os-volume-transfer/{id}")).await;
    assert_fault(
        &r,
        404,
        "itemNotFound",
        &format!("Transfer {id} could not be found."),
    );
    let r = h.delete(&alt, &format!("/os-volume-transfer/{id}")).await;
    assert_eq!(r.status, 404);
    let r = h.get(&h.admin, "/os-volume-transfer").await;
    assert_eq!(r.body["transfers"], json!([]));
    let r = h.get(&h.admin, "/os-volume-transfer?all_tenants=1").await;
    assert_eq!(ids(&r.body, "transfers"), [id.as_str()]);
    let r = h.get(&h.admin, &format!("/os-volume-transfer/{id}")).await;
    assert_eq!(r.status, 200);

    // The volume is not available while it awaits its transfer.
    let r = h.delete(&h.demo, &format!("/volumes/{vol}")).await;
    assert_fault(
        &r,
        400,
        "badRequest",
        "Invalid volume: Volume status must be available or error or error_restoring or \
         error_extending or error_managing and must not be migrating, attached, belong to a \
         group, have snapshots, awaiting a transfer, or be disassociated from snapshots after \
         volume transfer.",
    );
    let r = h.post(&h.demo, "/os-volume-transfer", again.clone()).await;
    assert_fault(
        &r,
        400,
        "badRequest",
        "Invalid volume: status must be available",
    );

    // Deleting the transfer gives the volume back.
    let r = h
        .delete(&h.demo, &format!("/os-volume-transfer/{id}"))
        .await;
    assert_eq!(r.status, 202, "{}", r.body);
    assert_eq!(r.body, Value::Null);
    h.wait_volume(&h.demo, &vol, "available").await;
    let r = h.get(&h.demo, &format!("/os-volume-transfer/{id}")).await;
    assert_eq!(r.status, 404);
    // Deleting the volume deletes its transfers.
    let r = h.post(&h.demo, "/os-volume-transfer", again).await;
    let id = r.body["transfer"]["id"].as_str().unwrap().to_string();
    let r = h
        .raw(
            &h.admin,
            Method::DELETE,
            &format!(
                "{}/volume/v3/{}/volumes/{vol}?force=true",
                h.base, h.admin.project
            ),
            None,
            Some("3.23"),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.body);
    h.pod.volume().finish_transitions();
    let r = h.get(&h.admin, &format!("/os-volume-transfer/{id}")).await;
    assert_eq!(r.status, 404);
}

#[tokio::test]
async fn transfer_create_validation() {
    let h = start().await;
    let vol = h.volume(&h.demo, json!({"size": 1})).await;
    let cases = [
        (Value::Null, "None is not of type 'object'".to_string()),
        (json!({}), "'transfer' is a required property".to_string()),
        (
            json!({"transfer": "x"}),
            "Invalid input for field/attribute transfer. Value: x. 'x' is not of type 'object'"
                .to_string(),
        ),
        (
            json!({"transfer": {"volume_id": "nope"}}),
            "Invalid input for field/attribute volume_id. Value: nope. 'nope' is not a 'uuid'"
                .to_string(),
        ),
        (
            json!({"transfer": {"volume_id": vol, "name": ""}}),
            "Invalid input for field/attribute name. Value: . \
             '' is not valid under any of the given schemas"
                .to_string(),
        ),
    ];
    for (body, message) in cases {
        let r = h.post(&h.demo, "/os-volume-transfer", body.clone()).await;
        assert_fault(&r, 400, "badRequest", &message);
    }
    // The extension's schema has no `no_snapshots` (the object's keys
    // are shown in serde's order, not the request's).
    let body = json!({"transfer": {"volume_id": vol, "no_snapshots": true}});
    let r = h.post(&h.demo, "/os-volume-transfer", body).await;
    assert_eq!(r.status, 400, "{}", r.body);
    let message = r.body["badRequest"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("Invalid input for field/attribute transfer. Value: {")
            && message.ends_with(
                "}. Additional properties are not allowed ('no_snapshots' was unexpected)"
            ),
        "{message}"
    );
    // Another project's volume, or none: 404.
    let theirs = h.volume(&h.admin, json!({"size": 1})).await;
    for missing in [theirs.as_str(), "0c8d1a9e-1b4b-4a1e-9c3e-1234567890ab"] {
        let body = json!({"transfer": {"volume_id": missing}});
        let r = h.post(&h.demo, "/os-volume-transfer", body).await;
        assert_fault(
            &r,
            404,
            "itemNotFound",
            &format!("Volume {missing} could not be found."),
        );
    }
    // Accept bodies.
    let body = json!({"transfer": {"volume_id": vol}});
    let r = h.post(&h.demo, "/os-volume-transfer", body).await;
    let id = r.body["transfer"]["id"].as_str().unwrap().to_string();
    let accept = format!("/os-volume-transfer/{id}/accept");
    let r = h.post(&h.demo, &accept, json!({"accept": {}})).await;
    assert_fault(
        &r,
        400,
        "badRequest",
        "Invalid input for field/attribute accept. Value: {}. 'auth_key' is a required property",
    );
    let r = h
        .post(&h.demo, &accept, json!({"accept": {"auth_key": true}}))
        .await;
    assert_fault(
        &r,
        400,
        "badRequest",
        "Invalid input for field/attribute auth_key. Value: True. \
         True is not of type 'string', 'integer'",
    );
    let nope = "0c8d1a9e-1b4b-4a1e-9c3e-1234567890ab";
    let r = h
        .post(
            &h.demo,
            &format!("/os-volume-transfer/{nope}/accept"),
            json!({"accept": {"auth_key": "k"}}),
        )
        .await;
    assert_fault(
        &r,
        404,
        "itemNotFound",
        &format!("Transfer {nope} could not be found."),
    );
}

#[tokio::test]
async fn transfer_accept_moves_volume_snapshots_and_quota() {
    let h = start().await;
    let (alt, alt_user) = h.alt_user().await;
    let vol = h.volume(&h.demo, json!({"size": 2})).await;
    let r = h
        .post(
            &h.demo,
            "/snapshots",
            json!({"snapshot": {"volume_id": vol}}),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.body);
    let snap = r.body["snapshot"]["id"].as_str().unwrap().to_string();
    h.wait_snapshot(&h.demo, &snap, "available").await;
    assert_eq!(in_use(&h, &h.demo.project, "gigabytes").await, 4);
    let r = h
        .post(
            &h.demo,
            "/os-volume-transfer",
            json!({"transfer": {"volume_id": vol}}),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.body);
    let id = r.body["transfer"]["id"].as_str().unwrap().to_string();
    let key = r.body["transfer"]["auth_key"].as_str().unwrap().to_string();

    let accept = format!("/os-volume-transfer/{id}/accept");
    let r = h
        .post(
            &alt,
            &accept,
            json!({"accept": {"auth_key": "0123456789abcdef"}}),
        )
        .await;
    assert_fault(
        &r,
        400,
        "badRequest",
        &format!("Invalid auth key: Attempt to transfer {id} with invalid auth key."),
    );
    let r = h
        .post(&alt, &accept, json!({"accept": {"auth_key": key}}))
        .await;
    assert_eq!(r.status, 202, "{}", r.body);
    let t = &r.body["transfer"];
    assert_eq!(keys(t), ["id", "links", "name", "volume_id"]);
    assert_eq!(t["id"], id.as_str());
    assert_eq!(t["volume_id"], vol.as_str());
    assert_eq!(
        t["links"][0]["href"],
        format!(
            "{}/volume/v3/{}/os-volume-transfer/{id}",
            h.base, alt.project
        )
    );

    // The volume and its snapshot are alt's now; the transfer is gone.
    let v = h.wait_volume(&alt, &vol, "available").await;
    assert_eq!(v["user_id"], alt_user.as_str());
    let r = h.get(&h.admin, &format!("/volumes/{vol}")).await;
    assert_eq!(
        r.body["volume"]["os-vol-tenant-attr:tenant_id"],
        alt.project
    );
    let r = h.get(&h.demo, &format!("/volumes/{vol}")).await;
    assert_eq!(r.status, 404);
    let r = h.get(&alt, &format!("/snapshots/{snap}")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.body["snapshot"]["os-extended-snapshot-attributes:project_id"],
        alt.project
    );
    let r = h.get(&alt, &format!("/os-volume-transfer/{id}")).await;
    assert_eq!(r.status, 404);
    let r = h.get(&h.admin, &format!("/os-volume-transfer/{id}")).await;
    assert_eq!(r.status, 404);
    for (resource, demo, theirs) in [("volumes", 0, 1), ("snapshots", 0, 1), ("gigabytes", 0, 4)] {
        assert_eq!(
            in_use(&h, &h.demo.project, resource).await,
            demo,
            "{resource}"
        );
        assert_eq!(
            in_use(&h, &alt.project, resource).await,
            theirs,
            "{resource}"
        );
    }
    // A second accept finds nothing.
    let r = h
        .post(&alt, &accept, json!({"accept": {"auth_key": key}}))
        .await;
    assert_eq!(r.status, 404);
}

#[tokio::test]
async fn transfer_accept_is_refused_over_quota() {
    let h = start().await;
    let (alt, _) = h.alt_user().await;
    let vol = h.volume(&h.demo, json!({"size": 3})).await;
    let r = h
        .post(
            &h.demo,
            "/snapshots",
            json!({"snapshot": {"volume_id": vol}}),
        )
        .await;
    let snap = r.body["snapshot"]["id"].as_str().unwrap().to_string();
    h.wait_snapshot(&h.demo, &snap, "available").await;
    let r = h
        .post(
            &h.demo,
            "/os-volume-transfer",
            json!({"transfer": {"volume_id": vol}}),
        )
        .await;
    let id = r.body["transfer"]["id"].as_str().unwrap().to_string();
    let key = json!({"accept": {"auth_key": r.body["transfer"]["auth_key"]}});
    let accept = format!("/os-volume-transfer/{id}/accept");
    let quota = format!("/os-quota-sets/{}", alt.project);
    let cases = [
        (
            json!({"per_volume_gigabytes": 2}),
            "VolumeSizeExceedsLimit: Requested volume size 3G is larger than maximum allowed \
             limit 2G.",
        ),
        (
            json!({"per_volume_gigabytes": -1, "volumes": 0}),
            "VolumeLimitExceeded: Maximum number of volumes allowed (0) exceeded for quota \
             'volumes'.",
        ),
        // Caught by the controller: no class name.
        (
            json!({"volumes": 10, "gigabytes": 2}),
            "Requested volume or snapshot exceeds allowed gigabytes quota. Requested 3G, quota \
             is 2G and 0G has been consumed.",
        ),
        (
            json!({"gigabytes": 5}),
            "Requested volume or snapshot exceeds allowed gigabytes quota. Requested 3G, quota \
             is 5G and 3G has been consumed.",
        ),
        (
            json!({"gigabytes": 1000, "snapshots": 0}),
            "SnapshotLimitExceeded: Maximum number of snapshots allowed (0) exceeded",
        ),
    ];
    for (limits, message) in cases {
        let r = h.put(&h.admin, &quota, json!({"quota_set": limits})).await;
        assert_eq!(r.status, 200, "{}", r.body);
        let r = h.post(&alt, &accept, key.clone()).await;
        assert_fault(&r, 413, "overLimit", message);
        assert_eq!(r.body["overLimit"]["retryAfter"], "0");
        assert_eq!(r.headers["retry-after"], "0");
    }
    // Nothing moved.
    let r = h.get(&h.demo, &format!("/volumes/{vol}")).await;
    assert_eq!(r.body["volume"]["status"], "awaiting-transfer");
    assert_eq!(in_use(&h, &alt.project, "volumes").await, 0);
    let r = h
        .put(&h.admin, &quota, json!({"quota_set": {"snapshots": 1}}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = h.post(&alt, &accept, key).await;
    assert_eq!(r.status, 202, "{}", r.body);
    assert_eq!(in_use(&h, &alt.project, "gigabytes").await, 6);
}

#[tokio::test]
async fn volume_transfers_3_55_and_3_57() {
    let h = start().await;
    let (alt, _) = h.alt_user().await;
    let vol = h.volume(&h.demo, json!({"size": 1})).await;
    let r = h
        .post(
            &h.demo,
            "/snapshots",
            json!({"snapshot": {"volume_id": vol}}),
        )
        .await;
    let snap = r.body["snapshot"]["id"].as_str().unwrap().to_string();
    h.wait_snapshot(&h.demo, &snap, "available").await;

    // 3.55: no_snapshots, shown in create and detail views.
    let body = json!({"transfer": {"volume_id": vol, "no_snapshots": true}});
    let r = h
        .post_v(&h.demo, "/volume-transfers", body.clone(), "3.54")
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    let r = h
        .post_v(&h.demo, "/os-volume-transfer", body.clone(), "3.55")
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    let r = h.post_v(&h.demo, "/volume-transfers", body, "3.55").await;
    assert_eq!(r.status, 202, "{}", r.body);
    let t = &r.body["transfer"];
    assert_eq!(t["no_snapshots"], true);
    assert!(t.get("source_project_id").is_none());
    let id = t["id"].as_str().unwrap().to_string();
    let self_link = t["links"][0]["href"].as_str().unwrap();
    assert!(self_link.ends_with(&format!("/os-volume-transfer/{id}")));
    let key = t["auth_key"].as_str().unwrap().to_string();
    // 3.57: the transfer's history.
    let r = h
        .get_v(&h.demo, &format!("/volume-transfers/{id}"), "3.57")
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let history = [
        "accepted",
        "created_at",
        "destination_project_id",
        "id",
        "links",
        "name",
        "no_snapshots",
        "source_project_id",
        "volume_id",
    ];
    assert_eq!(keys(&r.body["transfer"]), history);
    assert_eq!(r.body["transfer"]["source_project_id"], h.demo.project);
    assert_eq!(r.body["transfer"]["accepted"], false);
    assert_eq!(r.body["transfer"]["destination_project_id"], Value::Null);
    let r = h.get_v(&h.demo, "/volume-transfers/detail", "3.57").await;
    assert_eq!(r.body["transfers"][0]["source_project_id"], h.demo.project);
    let r = h.get_v(&h.demo, "/os-volume-transfer", "3.57").await;
    assert_eq!(
        keys(&r.body["transfers"][0]),
        ["id", "links", "name", "volume_id"]
    );

    // Accepted without its snapshots: they stay with the donor, whose
    // cascade cannot take them, nor can the new owner's.
    let r = h
        .post(
            &alt,
            &format!("/volume-transfers/{id}/accept"),
            json!({"accept": {"auth_key": key}}),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.body);
    assert!(r.body["transfer"].get("no_snapshots").is_none());
    h.wait_volume(&alt, &vol, "available").await;
    let r = h.get(&h.demo, &format!("/snapshots/{snap}")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(in_use(&h, &h.demo.project, "snapshots").await, 1);
    assert_eq!(in_use(&h, &alt.project, "snapshots").await, 0);
    let r = h
        .delete(&alt, &format!("/volumes/{vol}?cascade=true"))
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
}

#[tokio::test]
async fn volume_transfers_paging_from_3_59() {
    let h = start().await;
    let mut offered = Vec::new();
    for _ in 0..2 {
        let vol = h.volume(&h.demo, json!({"size": 1})).await;
        let body = json!({"transfer": {"volume_id": vol}});
        offered.push(offer(&h, &h.demo, "/volume-transfers", body, "3.0").await.0);
    }
    let (id, id2) = (offered[0].as_str(), offered[1].as_str());
    // Before 3.59: oldest first, and no paging parameters.
    let r = h.get_v(&h.demo, "/volume-transfers", "3.58").await;
    assert_eq!(ids(&r.body, "transfers"), [id, id2]);
    let r = h.get_v(&h.demo, "/volume-transfers?limit=1", "3.58").await;
    assert_eq!(r.body["transfers"], json!([]));
    // 3.59: newest first, limit, marker and sort.
    let r = h.get_v(&h.demo, "/volume-transfers", "3.59").await;
    assert_eq!(ids(&r.body, "transfers"), [id2, id]);
    let r = h.get_v(&h.demo, "/volume-transfers?limit=1", "3.59").await;
    assert_eq!(ids(&r.body, "transfers"), [id2]);
    let next = r.body["transfers_links"][0]["href"].as_str().unwrap();
    let expected = format!("/os-volume-transfer?limit=1&marker={id2}");
    assert!(next.contains(&expected), "{next}");
    let r = h
        .get_v(&h.demo, &format!("/volume-transfers?marker={id2}"), "3.59")
        .await;
    assert_eq!(ids(&r.body, "transfers"), [id]);
    let r = h
        .get_v(&h.demo, "/volume-transfers?sort=created_at:asc", "3.59")
        .await;
    assert_eq!(ids(&r.body, "transfers"), [id, id2]);
    let nope = "0c8d1a9e-1b4b-4a1e-9c3e-1234567890ab";
    let r = h
        .get_v(&h.demo, &format!("/volume-transfers?marker={nope}"), "3.59")
        .await;
    assert_fault(
        &r,
        404,
        "itemNotFound",
        &format!("Transfer {nope} could not be found."),
    );
    // The extension's URL has no paging.
    let r = h
        .get_v(&h.demo, "/os-volume-transfer?limit=1", "3.59")
        .await;
    assert_eq!(r.body["transfers"], json!([]));
}

#[tokio::test]
async fn encrypted_volumes_transfer_from_3_70() {
    let h = start().await;
    let luks = new_type(&h, "luks", json!({})).await;
    encrypt_type(&h, &luks).await;
    let enc = h
        .volume(&h.demo, json!({"size": 1, "volume_type": "luks"}))
        .await;
    let body = json!({"transfer": {"volume_id": enc}});
    let r = h
        .post_v(&h.demo, "/volume-transfers", body.clone(), "3.69")
        .await;
    assert_fault(
        &r,
        400,
        "badRequest",
        "Invalid volume: transferring encrypted volume is not supported",
    );
    let r = h
        .post_v(&h.demo, "/os-volume-transfer", body.clone(), "3.70")
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    let no_snaps = json!({"transfer": {"volume_id": enc, "no_snapshots": "yes"}});
    let r = h
        .post_v(&h.demo, "/volume-transfers", no_snaps, "3.70")
        .await;
    assert_fault(
        &r,
        400,
        "badRequest",
        "Invalid volume: transferring an encrypted volume without its snapshots is not supported",
    );
    offer(&h, &h.demo, "/volume-transfers", body, "3.70").await;
}

#[tokio::test]
async fn extensions_list_volume_transfer() {
    let h = start().await;
    let r = h.get(&h.demo, "/extensions").await;
    let ext = r.body["extensions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["alias"] == "os-volume-transfer")
        .cloned()
        .unwrap();
    assert_eq!(ext["name"], "VolumeTransfer");
    assert_eq!(ext["description"], "Volume transfer management support.");
    assert_eq!(ext["updated"], "2013-05-29T00:00:00+00:00");
}
