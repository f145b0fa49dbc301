//! Checks the compute gateway makes as Nova does, over two podsim pods:
//! the extension list, server list query dates, block device mappings of a
//! boot (schema, bootable volumes), image metadata.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};
use tokio::net::TcpListener;
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
    for (name, az) in [("Pod1", "nova"), ("Pod2", "nova2")] {
        let mut pc = PodConfig::new(name)
            .with_identity(identity.clone())
            .with_images(images.clone());
        pc.availability_zone = az.into();
        let pod = Pod::new(pc);
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", l.local_addr().unwrap());
        let router = pod.router();
        tokio::spawn(
            async move { tricircle_podsim::serve(l, router, std::future::pending()).await },
        );
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
    let state = GatewayState {
        store: store.store.clone(),
        auth: Arc::new(Authenticator::Keystone {
            validator: TokenValidator::new(keystone.clone(), &ValidatorConfig::default()),
            www_authenticate_uri: cfg.public_url.clone(),
        }),
        pods: PodClient::with_options(resolver, &client).unwrap(),
        network: None,
        keystone,
        max_body_size: 256 * 1024,
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
    };
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
        _store: store,
    }
}

struct Answer {
    status: u16,
    body: Value,
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
        let text = r.text().await.unwrap();
        Answer {
            status,
            body: serde_json::from_str(&text).unwrap_or(Value::String(text)),
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

    async fn flavor(&self, id: &str, vcpus: i64, ram: i64) {
        let a = self
            .nova(&self.admin, Method::POST, "/v2.1/flavors",
                Some(json!({"flavor": {"id": id, "name": format!("f-{id}"), "vcpus": vcpus, "ram": ram, "disk": 1}})), None)
            .await;
        assert_eq!(a.status, 200, "{}", a.body);
    }
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
