//! Glance v2 over real HTTP: an identity server and pod `Pod1` (tokens
//! checked through that identity) on loopback, driven with reqwest.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use reqwest::{Client, Method, RequestBuilder, StatusCode};
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tricircle_podsim::image::ImageService;
use tricircle_podsim::{serve, Credentials, Identity, IdentityConfig, Pod, PodConfig};

const CIRROS: &str = "6e3b0e3f-6d5c-4bfb-9e4e-2bd5a1a5f1a1";
const PATCH: &str = "application/openstack-images-v2.1-json-patch";

struct Env {
    pod: Pod,
    images: ImageService,
    pod_url: String,
    identity_url: String,
    client: Client,
    admin: String,
    demo: String,
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
    (
        token,
        body["token"]["project"]["id"].as_str().unwrap().to_string(),
    )
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
            .with_images(images.clone()),
    );
    let stop = vec![
        spawn(listener, identity.router()).await,
        spawn(pod_listener, pod.router()).await,
    ];
    let client = Client::new();
    let (admin, _) = login(&client, &base, &Credentials::admin(&cfg)).await;
    let (demo, demo_project) = login(&client, &base, &Credentials::demo(&cfg)).await;
    Env {
        pod,
        images,
        pod_url,
        identity_url: base,
        client,
        admin,
        demo,
        demo_project,
        _stop: stop,
    }
}

struct Resp {
    status: StatusCode,
    headers: reqwest::header::HeaderMap,
    text: String,
    body: Value,
}

async fn send(req: RequestBuilder) -> Resp {
    let res = req.send().await.unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    let text = res.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Resp {
        status,
        headers,
        text,
        body,
    }
}

impl Env {
    fn req(&self, method: Method, path: &str, token: &str) -> RequestBuilder {
        self.client
            .request(method, format!("{}/image{path}", self.pod_url))
            .header("X-Auth-Token", token)
            .header("Accept", "application/json")
    }

    async fn get(&self, path: &str, token: &str) -> Resp {
        send(self.req(Method::GET, path, token)).await
    }

    async fn create(&self, token: &str, body: Value) -> Resp {
        send(self.req(Method::POST, "/v2/images", token).json(&body)).await
    }

    async fn patch(&self, token: &str, id: &str, ops: Value) -> Resp {
        send(
            self.req(Method::PATCH, &format!("/v2/images/{id}"), token)
                .header("Content-Type", PATCH)
                .body(ops.to_string()),
        )
        .await
    }

    async fn upload(&self, token: &str, id: &str, data: &'static [u8]) -> Resp {
        send(
            self.req(Method::PUT, &format!("/v2/images/{id}/file"), token)
                .header("Content-Type", "application/octet-stream")
                .body(data),
        )
        .await
    }

    async fn delete(&self, token: &str, id: &str) -> Resp {
        send(self.req(Method::DELETE, &format!("/v2/images/{id}"), token)).await
    }
}

/// The JSON error body webob renders for `Accept: application/json`.
fn glance_error(r: &Resp, code: u16, message: &str) {
    assert_eq!(r.status.as_u16(), code, "{}", r.text);
    let reason = r.status.canonical_reason().unwrap();
    assert_eq!(r.body["code"], format!("{code} {reason}"), "{}", r.text);
    assert_eq!(r.body["title"], reason);
    assert_eq!(
        r.body["message"],
        format!("{message}<br /><br />\n\n\n"),
        "{}",
        r.text
    );
}

#[tokio::test]
async fn create_upload_download_patch_delete() {
    let env = start().await;
    let t = &env.demo;
    let r = env
        .create(
            t,
            json!({"name": "img1", "disk_format": "qcow2", "container_format": "bare",
                "min_disk": 1, "tags": ["a", "a", "b"], "hw_disk_bus": "virtio"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let img = &r.body;
    let id = img["id"].as_str().unwrap().to_string();
    assert_eq!(
        r.headers["location"].to_str().unwrap(),
        format!("/v2/images/{id}")
    );
    assert_eq!(img["status"], "queued");
    assert_eq!(img["visibility"], "shared");
    assert_eq!(img["owner"], env.demo_project);
    assert_eq!(img["size"], Value::Null);
    assert_eq!(img["checksum"], Value::Null);
    assert_eq!(img["protected"], false);
    assert_eq!(img["os_hidden"], false);
    assert_eq!(img["min_disk"], 1);
    assert_eq!(img["min_ram"], 0);
    assert_eq!(img["tags"], json!(["a", "b"]));
    assert_eq!(img["hw_disk_bus"], "virtio");
    assert_eq!(img["self"], format!("/v2/images/{id}"));
    assert_eq!(img["file"], format!("/v2/images/{id}/file"));
    assert_eq!(img["schema"], "/v2/schemas/image");
    assert!(img["created_at"].as_str().unwrap().ends_with('Z'));

    // No data yet: 204 on download.
    let r = env.get(&format!("/v2/images/{id}/file"), t).await;
    assert_eq!(r.status, 204);
    // Upload.
    let r = send(
        env.req(Method::PUT, &format!("/v2/images/{id}/file"), t)
            .header("Content-Type", "application/json")
            .body("x"),
    )
    .await;
    assert_eq!(r.status, 415);
    let r = env.upload(t, &id, b"hello world").await;
    assert_eq!(r.status, 204, "{}", r.text);
    let r = env.get(&format!("/v2/images/{id}"), t).await;
    assert_eq!(r.body["status"], "active");
    assert_eq!(r.body["size"], 11);
    assert_eq!(r.body["checksum"], "5eb63bbbe01eeed093cb22bb8f5acdc3");
    assert_eq!(r.body["os_hash_algo"], "sha512");
    assert_eq!(
        r.body["os_hash_value"],
        "309ecc489c12d6eb4cc40f50c902f2b4d0ed77ee511a7c7a9bcd3ca86d4cd86f\
         989dd35bc5ff499670da34255b45b0cfd830e81f605dcf7dc5542e93ae9cd76f"
    );
    let res = env
        .req(Method::GET, &format!("/v2/images/{id}/file"), t)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "application/octet-stream");
    assert_eq!(
        res.headers()["content-md5"],
        "5eb63bbbe01eeed093cb22bb8f5acdc3"
    );
    assert_eq!(&res.bytes().await.unwrap()[..], b"hello world");
    let r = env.upload(t, &id, b"again").await;
    glance_error(
        &r,
        409,
        "Image status transition from active to saving is not allowed",
    );

    // JSON patch.
    let r = env
        .patch(
            t,
            &id,
            json!([
                {"op": "replace", "path": "/name", "value": "renamed"},
                {"op": "add", "path": "/os_distro", "value": "cirros"},
                {"op": "remove", "path": "/hw_disk_bus"},
                {"op": "replace", "path": "/tags", "value": ["x"]},
                {"op": "replace", "path": "/min_ram", "value": 64},
            ]),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["name"], "renamed");
    assert_eq!(r.body["os_distro"], "cirros");
    assert!(r.body.get("hw_disk_bus").is_none());
    assert_eq!(r.body["tags"], json!(["x"]));
    assert_eq!(r.body["min_ram"], 64);
    let r = env
        .patch(t, &id, json!([{"op": "remove", "path": "/nope"}]))
        .await;
    glance_error(&r, 409, "Property nope does not exist.");
    let r = env
        .patch(
            t,
            &id,
            json!([{"op": "replace", "path": "/nope", "value": "1"}]),
        )
        .await;
    glance_error(&r, 409, "Property nope does not exist.");
    let r = env
        .patch(t, &id, json!([{"op": "remove", "path": "/name"}]))
        .await;
    glance_error(&r, 403, "Property name may not be removed.");
    let r = env
        .patch(
            t,
            &id,
            json!([{"op": "replace", "path": "/status", "value": "x"}]),
        )
        .await;
    glance_error(&r, 403, "Attribute 'status' is read-only.");
    let r = env
        .patch(t, &id, json!([{"op": "move", "path": "/name"}]))
        .await;
    glance_error(
        &r,
        400,
        "Invalid operation: `move`. It must be one of the following: add, remove, replace.",
    );
    let r = env
        .patch(
            t,
            &id,
            json!([{"op": "replace", "path": "/visibility", "value": "nope"}]),
        )
        .await;
    glance_error(
        &r,
        400,
        "Provided object does not match schema 'image': 'nope' is not one of ['community', 'public', 'private', 'shared']",
    );
    let r = env
        .patch(
            t,
            &id,
            json!([{"op": "replace", "path": "/visibility", "value": "public"}]),
        )
        .await;
    glance_error(
        &r,
        403,
        "You are not authorized to complete publicize_image action.",
    );
    // Draft 4 (v2.0 patch): add on an existing property conflicts.
    let r = send(
        env.req(Method::PATCH, &format!("/v2/images/{id}"), t)
            .header(
                "Content-Type",
                "application/openstack-images-v2.0-json-patch",
            )
            .body(json!([{"add": "/os_distro", "value": "x"}]).to_string()),
    )
    .await;
    glance_error(&r, 409, "Property os_distro already present.");
    // Wrong content type: 415 with Accept-Patch.
    let r = send(
        env.req(Method::PATCH, &format!("/v2/images/{id}"), t)
            .header("Content-Type", "application/json")
            .body("[]"),
    )
    .await;
    assert_eq!(r.status, 415);
    assert_eq!(
        r.headers["accept-patch"],
        "application/openstack-images-v2.0-json-patch, application/openstack-images-v2.1-json-patch"
    );
    assert!(r.body["message"]
        .as_str()
        .unwrap()
        .ends_with("Image PATCH expects Content-Type one of: application/openstack-images-v2.0-json-patch, application/openstack-images-v2.1-json-patch"));

    // Tags sub-resource.
    let r = send(env.req(Method::PUT, &format!("/v2/images/{id}/tags/y"), t)).await;
    assert_eq!(r.status, 204);
    assert_eq!(env.images.get(&id).unwrap().tags, vec!["x", "y"]);
    let r = send(env.req(Method::DELETE, &format!("/v2/images/{id}/tags/x"), t)).await;
    assert_eq!(r.status, 204);

    // Protected images can't be deleted.
    let r = env
        .patch(
            t,
            &id,
            json!([{"op": "replace", "path": "/protected", "value": true}]),
        )
        .await;
    assert_eq!(r.status, 200);
    let r = env.delete(t, &id).await;
    glance_error(
        &r,
        403,
        &format!("Image {id} is protected and cannot be deleted."),
    );
    let r = env
        .patch(
            t,
            &id,
            json!([{"op": "replace", "path": "/protected", "value": false}]),
        )
        .await;
    assert_eq!(r.status, 200);
    let r = env.delete(t, &id).await;
    assert_eq!(r.status, 204);
    let r = env.get(&format!("/v2/images/{id}"), t).await;
    glance_error(&r, 404, &format!("No image found with ID {id}"));
    let r = env.delete(t, &id).await;
    glance_error(&r, 404, &format!("Failed to find image {id} to delete"));
}

#[tokio::test]
async fn create_errors() {
    let env = start().await;
    let t = &env.demo;
    let r = env
        .create(t, json!({"name": "x", "disk_format": "floppy"}))
        .await;
    assert_eq!(r.status, 400);
    assert!(r.body["message"].as_str().unwrap().starts_with(
        "Provided object does not match schema 'image': 'floppy' is not one of [None, 'ami'"
    ));
    let r = env
        .create(t, json!({"name": "x", "status": "active"}))
        .await;
    glance_error(&r, 403, "Attribute 'status' is read-only.");
    let r = env.create(t, json!({"name": "x", "self": "/v2/x"})).await;
    glance_error(&r, 403, "Attribute 'self' is read-only.");
    let r = env.create(t, json!({"name": "x", "deleted": "x"})).await;
    glance_error(&r, 403, "Attribute 'deleted' is reserved.");
    let r = env.create(t, json!({"name": "x", "custom": 1})).await;
    glance_error(
        &r,
        400,
        "Provided object does not match schema 'image': 1 is not of type 'string'",
    );
    let r = env
        .create(t, json!({"name": "x", "visibility": "public"}))
        .await;
    glance_error(
        &r,
        403,
        "You are not authorized to complete publicize_image action.",
    );
    let r = env
        .create(t, json!({"name": "x", "owner": "someone"}))
        .await;
    glance_error(
        &r,
        403,
        "You are not permitted to create images owned by 'someone'",
    );
    let r = env.create(t, json!({"id": CIRROS, "name": "dup"})).await;
    glance_error(&r, 409, &format!("Image ID {CIRROS} already exists!"));
    let r = send(
        env.req(Method::POST, "/v2/images", t)
            .header("Content-Type", "application/json")
            .body("{nope"),
    )
    .await;
    glance_error(&r, 400, "Malformed JSON in request body.");
    // An image without formats can't take data.
    let r = env.create(t, json!({"name": "noformat"})).await;
    let id = r.body["id"].as_str().unwrap().to_string();
    let r = env.upload(t, &id, b"data").await;
    glance_error(
        &r,
        400,
        "Properties disk_format, container_format must be set prior to saving data.",
    );
    // Admins may publicize; ids may be given.
    let given = "11111111-2222-4333-8444-555555555555";
    let r = env
        .create(
            &env.admin,
            json!({"id": given, "name": "pub", "visibility": "public"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["id"], given);
    assert_eq!(r.body["visibility"], "public");
}

#[tokio::test]
async fn list_paging_sorting_filters_and_visibility() {
    let env = start().await;
    let names = ["delta", "alpha", "echo", "charlie", "bravo"];
    for (i, n) in names.iter().enumerate() {
        let vis = if i % 2 == 0 { "private" } else { "shared" };
        let r = env
            .create(
                &env.demo,
                json!({"name": n, "visibility": vis, "tags": [format!("t{}", i % 2)],
                    "disk_format": "raw", "container_format": "bare"}),
            )
            .await;
        assert_eq!(r.status, 201);
    }
    let r = env
        .create(
            &env.admin,
            json!({"name": "admin-private", "visibility": "private"}),
        )
        .await;
    assert_eq!(r.status, 201);
    let admin_private = r.body["id"].as_str().unwrap().to_string();
    let r = env
        .create(
            &env.admin,
            json!({"name": "comm", "visibility": "community"}),
        )
        .await;
    assert_eq!(r.status, 201);

    let list = |r: &Resp| -> Vec<String> {
        r.body["images"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["name"].as_str().unwrap().to_string())
            .collect()
    };
    // Default: created_at desc; the demo sees its own and public images,
    // not the admin's private nor (unfiltered) community ones.
    let r = env.get("/v2/images", &env.demo).await;
    assert_eq!(r.body["first"], "/v2/images");
    assert_eq!(r.body["schema"], "/v2/schemas/images");
    assert!(r.body.get("next").is_none());
    let all = list(&r);
    assert_eq!(all.len(), 6);
    assert!(!all.contains(&"admin-private".to_string()));
    assert!(!all.contains(&"comm".to_string()));
    assert!(all.contains(&"cirros-0.6.2-x86_64-disk".to_string()));
    // Following `next` links concatenates to the same list.
    let mut paged = Vec::new();
    let mut next = Some("/v2/images?limit=2".to_string());
    let mut pages = 0;
    while let Some(n) = next.take() {
        let r = env.get(&n, &env.demo).await;
        paged.extend(list(&r));
        next = r.body["next"].as_str().map(str::to_string);
        if let Some(n) = &next {
            assert!(n.starts_with("/v2/images?limit=2&marker="), "{n}");
        }
        assert_eq!(r.body["first"], "/v2/images?limit=2");
        pages += 1;
        assert!(pages < 10);
    }
    assert_eq!(paged, all);
    // Sorting.
    let r = env.get("/v2/images?sort=name:asc&limit=3", &env.demo).await;
    assert_eq!(list(&r), vec!["alpha", "bravo", "charlie"]);
    let r = env
        .get("/v2/images?sort_key=name&sort_dir=desc&limit=2", &env.demo)
        .await;
    assert_eq!(list(&r), vec!["echo", "delta"]);
    let r = env.get("/v2/images?sort_key=bogus", &env.demo).await;
    assert_eq!(r.status, 400);
    let r = env
        .get("/v2/images?sort=name&sort_key=name", &env.demo)
        .await;
    glance_error(&r, 400, "Old and new sorting syntax cannot be combined");
    let r = env.get("/v2/images?marker=nope", &env.demo).await;
    glance_error(&r, 400, "No image found with ID nope");
    let r = env.get("/v2/images?limit=x", &env.demo).await;
    glance_error(&r, 400, "limit param must be an integer");
    // Filters.
    let r = env.get("/v2/images?name=alpha", &env.demo).await;
    assert_eq!(list(&r), vec!["alpha"]);
    let r = env
        .get("/v2/images?name=in:alpha,bravo&sort=name:asc", &env.demo)
        .await;
    assert_eq!(list(&r), vec!["alpha", "bravo"]);
    let r = env
        .get("/v2/images?visibility=private&sort=name:asc", &env.demo)
        .await;
    assert_eq!(list(&r), vec!["bravo", "delta", "echo"]);
    let r = env.get("/v2/images?visibility=public", &env.demo).await;
    assert_eq!(list(&r), vec!["cirros-0.6.2-x86_64-disk"]);
    let r = env.get("/v2/images?visibility=community", &env.demo).await;
    assert_eq!(list(&r), vec!["comm"]);
    let r = env.get("/v2/images?tag=t1&sort=name:asc", &env.demo).await;
    assert_eq!(list(&r), vec!["alpha", "charlie"]);
    let r = env
        .get(&format!("/v2/images?owner={}", env.demo_project), &env.demo)
        .await;
    assert_eq!(list(&r).len(), 5);
    let r = env.get("/v2/images?status=active", &env.demo).await;
    assert_eq!(list(&r), vec!["cirros-0.6.2-x86_64-disk"]);
    let r = env.get("/v2/images?visibility=bogus", &env.demo).await;
    glance_error(&r, 400, "Invalid visibility value: bogus");
    // The admin sees every image (community ones only when its own).
    let r = env.get("/v2/images", &env.admin).await;
    assert_eq!(list(&r).len(), 8);

    // Visibility of single images.
    let r = env
        .get(&format!("/v2/images/{admin_private}"), &env.demo)
        .await;
    glance_error(&r, 404, &format!("No image found with ID {admin_private}"));
    let r = env.get(&format!("/v2/images/{CIRROS}"), &env.demo).await;
    assert_eq!(r.status, 200);
    let r = env.delete(&env.demo, CIRROS).await;
    glance_error(
        &r,
        403,
        "You are not authorized to complete delete_image action.",
    );
    let r = env
        .patch(
            &env.demo,
            CIRROS,
            json!([{"op": "replace", "path": "/name", "value": "x"}]),
        )
        .await;
    glance_error(
        &r,
        403,
        "You are not authorized to complete modify_image action.",
    );
}

#[tokio::test]
async fn errors_follow_the_accept_header() {
    let env = start().await;
    let url = format!("{}/image/v2/images/nope", env.pod_url);
    let res = env
        .client
        .get(&url)
        .header("X-Auth-Token", &env.demo)
        .header("Accept", "*/*")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    assert_eq!(res.headers()["content-type"], "text/html; charset=UTF-8");
    assert_eq!(
        res.text().await.unwrap(),
        "<html>\n <head>\n  <title>404 Not Found</title>\n </head>\n <body>\n  \
         <h1>404 Not Found</h1>\n  No image found with ID nope<br /><br />\n\n\n\n </body>\n</html>"
    );
    let res = env
        .client
        .get(&url)
        .header("X-Auth-Token", &env.demo)
        .header("Accept", "text/plain")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["content-type"], "text/plain; charset=UTF-8");
    assert_eq!(
        res.text().await.unwrap(),
        "404 Not Found\n\nNo image found with ID nope\n\n   "
    );
    // Keystone's 401 without a token.
    let res = env.client.get(&url).send().await.unwrap();
    assert_eq!(res.status(), 401);
    // A pod that is down answers 503.
    env.pod.set_down(true);
    let r = env.get("/v2/images", &env.demo).await;
    assert_eq!(r.status, 503);
    env.pod.set_down(false);
    let r = env.get("/v2/images", &env.demo).await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn schemas_and_helpers() {
    let env = start().await;
    let r = env.get("/v2/schemas/image", &env.demo).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["name"], "image");
    assert_eq!(r.body["additionalProperties"], json!({"type": "string"}));
    let props = r.body["properties"].as_object().unwrap();
    for k in [
        "id",
        "name",
        "status",
        "visibility",
        "protected",
        "os_hidden",
        "checksum",
        "os_hash_algo",
        "os_hash_value",
        "owner",
        "size",
        "virtual_size",
        "container_format",
        "disk_format",
        "created_at",
        "updated_at",
        "tags",
        "min_ram",
        "min_disk",
        "self",
        "file",
        "schema",
    ] {
        assert!(props.contains_key(k), "{k}");
    }
    assert_eq!(props["disk_format"]["enum"][0], Value::Null);
    assert_eq!(r.body["links"][0], json!({"rel": "self", "href": "{self}"}));
    let r = env.get("/v2/schemas/images", &env.demo).await;
    assert_eq!(r.body["name"], "images");
    assert_eq!(r.body["properties"]["images"]["items"]["name"], "image");
    assert_eq!(r.body["links"][1], json!({"rel": "next", "href": "{next}"}));

    // Library helpers: an image service shared by pods.
    let img = env.images.get(CIRROS).unwrap();
    assert_eq!(img.status, "active");
    assert_eq!(img.visibility, "public");
    assert_eq!(img.disk_format.as_deref(), Some("qcow2"));
    assert!(env.pod.images().get(CIRROS).is_some());
    let other = Pod::new(PodConfig::new("Pod2").with_images(env.images.clone()));
    assert!(other.images().get(CIRROS).is_some());
    assert_eq!(env.images.list().len(), 1);
}

#[tokio::test]
async fn deactivate_and_reactivate_as_glance_does() {
    let env = start().await;
    let r = env
        .create(
            &env.admin,
            json!({"name": "d", "disk_format": "raw", "container_format": "bare"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let id = r.body["id"].as_str().unwrap().to_string();
    let action = |token: &str, id: &str, what: &str| {
        send(env.req(
            Method::POST,
            &format!("/v2/images/{id}/actions/{what}"),
            token,
        ))
    };
    // Only an active image can be deactivated.
    let r = action(&env.admin, &id, "deactivate").await;
    glance_error(
        &r,
        403,
        "Not allowed to deactivate image in status 'queued'",
    );
    let r = action(&env.admin, &id, "reactivate").await;
    glance_error(
        &r,
        403,
        "Not allowed to reactivate image in status 'queued'",
    );
    let r = env.upload(&env.admin, &id, b"data").await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    // Members of other projects may not (Glance's default policy).
    let r = action(&env.demo, CIRROS, "deactivate").await;
    glance_error(
        &r,
        403,
        "You are not authorized to complete deactivate action.",
    );
    for _ in 0..2 {
        let r = action(&env.admin, &id, "deactivate").await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
        assert!(r.text.is_empty());
        let r = env.get(&format!("/v2/images/{id}"), &env.admin).await;
        assert_eq!(r.body["status"], "deactivated");
    }
    let r = env.get(&format!("/v2/images/{id}/file"), &env.admin).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    for _ in 0..2 {
        let r = action(&env.admin, &id, "reactivate").await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
        let r = env.get(&format!("/v2/images/{id}"), &env.admin).await;
        assert_eq!(r.body["status"], "active");
    }
    // The owner's members may (Glance's default policy), and then cannot
    // download the data.
    let r = env
        .create(
            &env.demo,
            json!({"name": "own", "disk_format": "raw", "container_format": "bare"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let own = r.body["id"].as_str().unwrap().to_string();
    let r = env.upload(&env.demo, &own, b"data").await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    let r = action(&env.demo, &own, "deactivate").await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    let r = env.get(&format!("/v2/images/{own}/file"), &env.demo).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    let r = action(&env.demo, &own, "reactivate").await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    let r = env.get(&format!("/v2/images/{own}/file"), &env.demo).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let missing = "00000000-0000-4000-8000-000000000bad";
    let r = action(&env.admin, missing, "deactivate").await;
    glance_error(&r, 404, &format!("No image found with ID {missing}"));
}

/// A second project `alt` with a user holding `member` there, made through
/// Keystone's API as the admin: (token, project id).
async fn alt_project(env: &Env) -> (String, String) {
    let keystone = |method: Method, path: &str| {
        env.client
            .request(method, format!("{}/v3{path}", env.identity_url))
            .header("X-Auth-Token", &env.admin)
    };
    let r =
        send(keystone(Method::POST, "/projects").json(&json!({"project": {"name": "alt"}}))).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let project = r.body["project"]["id"].as_str().unwrap().to_string();
    let r = send(keystone(Method::POST, "/users").json(
        &json!({"user": {"name": "alt", "password": "alt-secret", "default_project_id": project}}),
    ))
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let user = r.body["user"]["id"].as_str().unwrap().to_string();
    let r = send(keystone(Method::GET, "/roles?name=member")).await;
    let role = r.body["roles"][0]["id"].as_str().unwrap().to_string();
    let grant = format!("/projects/{project}/users/{user}/roles/{role}");
    let r = send(keystone(Method::PUT, &grant)).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    let creds = Credentials {
        username: "alt".into(),
        password: "alt-secret".into(),
        project_name: "alt".into(),
        user_domain_name: "Default".into(),
        project_domain_name: "Default".into(),
    };
    let (token, id) = login(&env.client, &env.identity_url, &creds).await;
    assert_eq!(id, project);
    (token, project)
}

impl Env {
    async fn members(&self, method: Method, token: &str, path: &str, body: Option<Value>) -> Resp {
        let req = self.req(method, &format!("/v2/images/{path}"), token);
        send(match body {
            Some(b) => req.json(&b),
            None => req,
        })
        .await
    }

    /// Ids of the images `GET /v2/images?{query}` lists to `token`.
    async fn listed(&self, token: &str, query: &str) -> Vec<String> {
        let r = self.get(&format!("/v2/images?{query}"), token).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        r.body["images"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["id"].as_str().unwrap().to_string())
            .collect()
    }
}

/// Tempest's member tests (share, accept, reject, remove) and
/// `ListSharedImagesTest.test_list_images_param_member_status`, with the
/// answers real Glance gives along the way.
#[tokio::test]
async fn image_members_share_accept_reject_and_remove() {
    let env = start().await;
    let (alt, alt_project) = alt_project(&env).await;
    // Created with the default visibility (`shared`), with data.
    let r = env
        .create(
            &env.demo,
            json!({"name": "to-share", "disk_format": "raw", "container_format": "bare"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let id = r.body["id"].as_str().unwrap().to_string();
    let created_at = r.body["created_at"].as_str().unwrap().to_string();
    assert_eq!(
        env.upload(&env.demo, &id, b"data").await.status,
        StatusCode::NO_CONTENT
    );
    // Not a member yet: the image is not there for alt.
    let r = env.get(&format!("/v2/images/{id}"), &alt).await;
    glance_error(&r, 404, &format!("No image found with ID {id}"));
    let r = env
        .members(Method::GET, &alt, &format!("{id}/members"), None)
        .await;
    glance_error(&r, 404, &format!("Image {id} not found."));

    let member = json!({"member": alt_project});
    let r = env
        .members(
            Method::POST,
            &env.demo,
            &format!("{id}/members"),
            Some(member),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let keys: Vec<&String> = r.body.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "created_at",
            "image_id",
            "member_id",
            "schema",
            "status",
            "updated_at"
        ]
    );
    assert_eq!(r.body["image_id"], id.as_str());
    assert_eq!(r.body["member_id"], alt_project.as_str());
    assert_eq!(r.body["status"], "pending");
    assert_eq!(r.body["schema"], "/v2/schemas/member");
    let at = r.body["created_at"].as_str().unwrap();
    assert_eq!(at.len(), created_at.len(), "{at}");
    assert!(at.ends_with('Z'));
    assert_eq!(r.body["updated_at"], r.body["created_at"]);

    // Pending: alt sees and downloads the image, but lists it only with
    // member_status=pending (or all).
    let r = env.get(&format!("/v2/images/{id}"), &alt).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let r = env.get(&format!("/v2/images/{id}/file"), &alt).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.text, "data");
    assert!(!env.listed(&alt, "").await.contains(&id));
    assert_eq!(
        env.listed(&alt, "member_status=pending&visibility=shared")
            .await,
        [id.as_str()]
    );
    assert!(env
        .listed(&alt, "member_status=pending")
        .await
        .contains(&id));
    assert!(env.listed(&alt, "member_status=all").await.contains(&id));
    assert!(env
        .listed(&alt, "member_status=accepted&visibility=shared")
        .await
        .is_empty());
    // The owner lists its shared images whatever member_status says.
    assert_eq!(
        env.listed(&env.demo, "visibility=shared&member_status=rejected")
            .await,
        [id.as_str()]
    );

    // The owner may not answer for the member.
    let path = format!("{id}/members/{alt_project}");
    let accepted = Some(json!({"status": "accepted"}));
    let r = env
        .members(Method::PUT, &env.demo, &path, accepted.clone())
        .await;
    glance_error(
        &r,
        403,
        "You are not authorized to complete modify_member action.",
    );
    let r = env
        .members(
            Method::PUT,
            &alt,
            &path,
            Some(json!({"status": "notavalidstatus"})),
        )
        .await;
    glance_error(
        &r,
        400,
        r#"Incorrect request: Status must be "pending", "accepted" or "rejected"."#,
    );
    let r = env.members(Method::PUT, &alt, &path, accepted).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["status"], "accepted");
    assert_eq!(r.body["member_id"], alt_project.as_str());
    assert!(env.listed(&alt, "").await.contains(&id));
    assert_eq!(env.listed(&alt, "visibility=shared").await, [id.as_str()]);

    // Lists and shows: the owner's and the member's.
    for token in [&env.demo, &alt, &env.admin] {
        let r = env
            .members(Method::GET, token, &format!("{id}/members"), None)
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        assert_eq!(r.body["schema"], "/v2/schemas/members");
        let members = r.body["members"].as_array().unwrap();
        assert_eq!(members.len(), 1, "{}", r.text);
        assert_eq!(members[0]["status"], "accepted");
        let r = env.members(Method::GET, token, &path, None).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        assert_eq!(r.body["status"], "accepted");
        assert_eq!(r.body["image_id"], id.as_str());
    }

    // Rejected: no longer listed, still visible.
    let r = env
        .members(
            Method::PUT,
            &alt,
            &path,
            Some(json!({"status": "rejected"})),
        )
        .await;
    assert_eq!(r.body["status"], "rejected", "{}", r.text);
    assert!(!env.listed(&alt, "").await.contains(&id));
    assert!(env
        .listed(&alt, "member_status=rejected")
        .await
        .contains(&id));
    assert_eq!(
        env.get(&format!("/v2/images/{id}"), &alt).await.status,
        StatusCode::OK
    );

    // Only the owner (or an admin) removes a member.
    let r = env.members(Method::DELETE, &alt, &path, None).await;
    glance_error(
        &r,
        403,
        "You are not authorized to complete delete_member action.",
    );
    let r = env.members(Method::DELETE, &env.demo, &path, None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    assert!(r.text.is_empty());
    let r = env.members(Method::DELETE, &env.demo, &path, None).await;
    glance_error(
        &r,
        404,
        &format!("{alt_project} not found in the member list of the image {id}."),
    );
    let r = env.get(&format!("/v2/images/{id}"), &alt).await;
    glance_error(&r, 404, &format!("No image found with ID {id}"));
    assert!(!env.listed(&alt, "member_status=all").await.contains(&id));
    let r = env
        .members(Method::GET, &env.demo, &format!("{id}/members"), None)
        .await;
    assert_eq!(r.body["members"], json!([]), "{}", r.text);

    // Shared again, then the image goes and its members with it.
    let member = json!({"member": alt_project});
    let r = env
        .members(
            Method::POST,
            &env.demo,
            &format!("{id}/members"),
            Some(member),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(
        env.delete(&env.demo, &id).await.status,
        StatusCode::NO_CONTENT
    );
    let r = env
        .members(Method::GET, &env.admin, &format!("{id}/members"), None)
        .await;
    glance_error(&r, 404, &format!("Image {id} not found."));
    assert!(env.images.get(&id).is_none());

    // The member schemas Tempest reads.
    let r = env.get("/v2/schemas/member", &alt).await;
    assert_eq!(r.body["name"], "member");
    assert_eq!(
        r.body["properties"]["status"]["enum"],
        json!(["pending", "accepted", "rejected"])
    );
    let r = env.get("/v2/schemas/members", &alt).await;
    assert_eq!(r.body["name"], "members");
    assert_eq!(r.body["properties"]["members"]["items"]["name"], "member");
}

/// What Glance refuses, with its messages and in its order.
#[tokio::test]
async fn image_member_errors_as_glance() {
    let env = start().await;
    let (alt, alt_project) = alt_project(&env).await;
    let r = env.create(&env.demo, json!({"name": "s"})).await;
    let id = r.body["id"].as_str().unwrap().to_string();
    let members = format!("{id}/members");
    // Bodies are read first.
    let cases = [
        (json!({}), "Member to be added not specified"),
        (json!({"member": ""}), "Member can't be empty"),
        (json!({"member": null}), "Member can't be empty"),
        (
            json!(["x"]),
            r#"Expected a member in the form: {"member": "image_id"}"#,
        ),
        (
            json!({"member": ["x"]}),
            r#"Expected a member in the form: {"member": "image_id"}"#,
        ),
    ];
    for (body, message) in cases {
        let r = env
            .members(Method::POST, &env.demo, &members, Some(body))
            .await;
        glance_error(&r, 400, message);
    }
    let r = send(env.req(Method::POST, &format!("/v2/images/{members}"), &env.demo)).await;
    glance_error(&r, 400, "Body expected in request.");
    let r = send(
        env.req(Method::POST, &format!("/v2/images/{members}"), &env.demo)
            .body("{nope"),
    )
    .await;
    glance_error(&r, 400, "Malformed JSON in request body.");
    // An image the caller does not see.
    let add = |p: &str| Some(json!({"member": p}));
    let r = env.members(Method::POST, &alt, &members, add("x")).await;
    glance_error(&r, 404, &format!("Image {id} not found."));
    let missing = "00000000-0000-4000-8000-000000000bad";
    let r = env
        .members(
            Method::GET,
            &env.demo,
            &format!("{missing}/members/x"),
            None,
        )
        .await;
    glance_error(&r, 404, &format!("Image {missing} not found."));

    // Adding: once; by the owner or an admin.
    let r = env
        .members(Method::POST, &env.demo, &members, add(&alt_project))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let r = env
        .members(Method::POST, &env.demo, &members, add(&alt_project))
        .await;
    glance_error(
        &r,
        409,
        &format!("Member {alt_project} is duplicated for image {id}"),
    );
    let r = env
        .members(Method::POST, &alt, &members, add("someone"))
        .await;
    glance_error(
        &r,
        403,
        "You are not authorized to complete add_member action.",
    );
    let r = env
        .members(Method::POST, &env.admin, &members, add("third"))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    // A member sees only its own membership; the owner every one.
    let r = env.members(Method::GET, &alt, &members, None).await;
    let listed = r.body["members"].as_array().unwrap();
    assert_eq!(listed.len(), 1, "{}", r.text);
    assert_eq!(listed[0]["member_id"], alt_project.as_str());
    let r = env.members(Method::GET, &env.demo, &members, None).await;
    assert_eq!(r.body["members"].as_array().unwrap().len(), 2, "{}", r.text);
    let r = env
        .members(Method::GET, &alt, &format!("{members}/third"), None)
        .await;
    glance_error(
        &r,
        404,
        &format!("third not found in the member list of the image {id}."),
    );
    let r = env
        .members(Method::GET, &env.demo, &format!("{members}/third"), None)
        .await;
    assert_eq!(r.body["status"], "pending", "{}", r.text);
    // Status bodies; the admin may answer for a member.
    let third = format!("{members}/third");
    let r = env
        .members(Method::PUT, &env.admin, &third, Some(json!({})))
        .await;
    glance_error(&r, 400, "Status not specified");
    let r = env
        .members(Method::PUT, &env.admin, &third, Some(json!("accepted")))
        .await;
    glance_error(
        &r,
        400,
        r#"Expected a status in the form: {"status": "status"}"#,
    );
    let r = env
        .members(
            Method::PUT,
            &env.admin,
            &third,
            Some(json!({"status": "accepted"})),
        )
        .await;
    assert_eq!(r.body["status"], "accepted", "{}", r.text);
    let r = env
        .members(
            Method::PUT,
            &alt,
            &third,
            Some(json!({"status": "accepted"})),
        )
        .await;
    glance_error(
        &r,
        404,
        &format!("third not found in the member list of the image {id}."),
    );
    let r = env.members(Method::DELETE, &env.admin, &third, None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);

    // Only shared images have members.
    let r = env
        .create(&env.demo, json!({"name": "p", "visibility": "private"}))
        .await;
    let private = r.body["id"].as_str().unwrap().to_string();
    let r = env
        .members(
            Method::POST,
            &env.demo,
            &format!("{private}/members"),
            add("x"),
        )
        .await;
    glance_error(
        &r,
        403,
        &format!("Not allowed to create members for image {private}."),
    );
    let r = env
        .members(Method::GET, &env.demo, &format!("{private}/members"), None)
        .await;
    glance_error(
        &r,
        403,
        &format!(
            "Not allowed to list members for image {private}: Only shared images have members."
        ),
    );
    let r = env
        .members(
            Method::GET,
            &env.demo,
            &format!("{private}/members/x"),
            None,
        )
        .await;
    glance_error(&r, 404, "Only shared images have members.");
    let r = env
        .members(
            Method::DELETE,
            &env.demo,
            &format!("{private}/members/x"),
            None,
        )
        .await;
    glance_error(
        &r,
        403,
        &format!("Not allowed to delete members for image {private}."),
    );
    let r = env
        .members(
            Method::PUT,
            &env.demo,
            &format!("{private}/members/x"),
            Some(json!({"status": "accepted"})),
        )
        .await;
    glance_error(
        &r,
        403,
        &format!("Not allowed to update members for image {private}."),
    );
    // Made private, the image hides from its members (who stay members).
    let r = env
        .patch(
            &env.demo,
            &id,
            json!([{"op": "replace", "path": "/visibility", "value": "private"}]),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(
        env.get(&format!("/v2/images/{id}"), &alt).await.status,
        StatusCode::NOT_FOUND
    );
    let r = env
        .patch(
            &env.demo,
            &id,
            json!([{"op": "replace", "path": "/visibility", "value": "shared"}]),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(
        env.get(&format!("/v2/images/{id}"), &alt).await.status,
        StatusCode::OK
    );

    // Glance's image_member_quota (128).
    for n in 1..128 {
        let r = env
            .members(Method::POST, &env.demo, &members, add(&format!("p{n}")))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{n}: {}", r.text);
    }
    let r = env
        .members(Method::POST, &env.demo, &members, add("one-too-many"))
        .await;
    assert_eq!(r.status.as_u16(), 413, "{}", r.text);
    assert_eq!(r.body["code"], "413 Request Entity Too Large");
    assert_eq!(
        r.body["message"],
        format!(
            "Image member limit exceeded for image {id}: The limit has been exceeded on the \
             number of allowed image members for this image. Attempted: 129, Maximum: 128:\
             <br /><br />\n\n\n"
        )
    );
}
