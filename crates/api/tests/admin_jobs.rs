//! `/v1.0/jobs` over HTTP: list/detail with filters and paging, show,
//! schemas, create, redo, delete, and policy.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{assert_fault, Env};
use reqwest::Method;
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tricircle_api::admin::AdminJobs;
use tricircle_api::{admin_router, install_metrics, AdminState, Authenticator};
use tricircle_jobs::{handler_fn, Engine, EngineConfig, Registry};
use tricircle_store::testing::{self, TestStore};
use tricircle_store::Store;

/// An admin API with `auth_strategy = noauth` (every caller is an admin)
/// and the given job types.
struct Api {
    base: String,
    http: reqwest::Client,
    store: TestStore,
    kicker: tricircle_jobs::Kicker,
    registry: Arc<Registry>,
}

impl Api {
    async fn start(store: TestStore, registry: Registry) -> Api {
        let registry = Arc::new(registry);
        let kicker = tricircle_jobs::Kicker::new();
        let state = AdminState {
            store: store.store.clone(),
            auth: Arc::new(Authenticator::NoAuth),
            metrics: install_metrics(),
            max_body_size: 64 * 1024,
            endpoints: None,
            jobs: Some(AdminJobs {
                registry: registry.clone(),
                kicker: kicker.clone(),
            }),
        };
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let app = admin_router(state);
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Api {
            base,
            http: reqwest::Client::new(),
            store,
            kicker,
            registry,
        }
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn create(&self, job_type: &str, project: &str, resource: Value) -> Value {
        let (s, b) = self
            .call(
                Method::POST,
                "/v1.0/jobs",
                Some(
                    json!({"job": {"type": job_type, "project_id": project, "resource": resource}}),
                ),
            )
            .await;
        assert_eq!(s, 200, "{b}");
        b["job"].clone()
    }
}

fn registry() -> Registry {
    Registry::new()
        .with(
            "router_setup",
            &["pod_id", "router_id", "network_id"],
            handler_fn(|_| async { Ok(()) }),
        )
        .with(
            "port_delete",
            &["port_id"],
            handler_fn(|_| async { Ok(()) }),
        )
}

/// Makes a live job FAIL, as a worker that gave up would.
async fn fail(store: &Store, id: &str) {
    let claimed = store
        .claim_jobs("test-worker", Duration::from_secs(60), 10)
        .await
        .unwrap();
    assert!(claimed.iter().any(|j| j.id == id));
    for j in claimed {
        store
            .finish_job_failure(&j.id, "test-worker", "pod unreachable", None)
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn schemas_and_create() {
    let api = Api::start(testing::sqlite().await, registry()).await;
    let (s, b) = api.call(Method::GET, "/v1.0/jobs/schemas", None).await;
    assert_eq!(s, 200);
    assert_eq!(
        b,
        json!({"schemas": [
            {"type": "port_delete", "resource": ["port_id"]},
            {"type": "router_setup", "resource": ["pod_id", "router_id", "network_id"]},
        ]})
    );

    let job = api
        .create(
            "router_setup",
            "proj1",
            json!({"pod_id": "p1", "router_id": "r1", "network_id": "n1"}),
        )
        .await;
    assert_eq!(job["type"], "router_setup");
    assert_eq!(job["status"], "NEW");
    assert_eq!(job["project_id"], "proj1");
    assert_eq!(job["attempts"], 0);
    assert_eq!(job["last_error"], Value::Null);
    assert_eq!(
        job["resource"],
        json!({"pod_id": "p1", "router_id": "r1", "network_id": "n1"})
    );
    assert!(job["timestamp"].as_str().unwrap().ends_with('Z'));
    assert!(job["run_after"].is_string());
    // The same resource again, while the first is NEW: the same job.
    let again = api
        .create(
            "router_setup",
            "proj1",
            json!({"pod_id": "p1", "router_id": "r1", "network_id": "n1"}),
        )
        .await;
    assert_eq!(again["id"], job["id"]);

    let bad = [
        (
            json!({"job": {"type": "nope", "project_id": "p", "resource": {}}}),
            "Unknown job type 'nope'",
        ),
        (
            json!({"job": {"type": "router_setup", "project_id": "p", "resource": {"pod_id": "p1", "router_id": "r1"}}}),
            "'network_id'",
        ),
        (
            json!({"job": {"type": "port_delete", "project_id": "p", "resource": {"port_id": "x", "extra": "y"}}}),
            "unknown key 'extra'",
        ),
        (
            json!({"job": {"type": "port_delete", "project_id": "p", "resource": {"port_id": 5}}}),
            "non-empty string",
        ),
        (
            json!({"job": {"type": "port_delete", "project_id": "p", "resource": "x"}}),
            "must be an object",
        ),
        (
            json!({"job": {"type": "port_delete", "project_id": " ", "resource": {"port_id": "x"}}}),
            "project_id",
        ),
        (
            json!({"job": {"type": "port_delete", "resource": {"port_id": "x"}}}),
            "project_id",
        ),
        (
            json!({"job": {"type": "port_delete", "project_id": "p", "resource": {"port_id": "x"}, "status": "FAIL"}}),
            "status",
        ),
    ];
    for (body, needle) in bad {
        let (s, b) = api
            .call(Method::POST, "/v1.0/jobs", Some(body.clone()))
            .await;
        assert_fault(s, &b, 400, "badRequest");
        let msg = b["badRequest"]["message"].as_str().unwrap();
        assert!(msg.contains(needle), "{body}: {msg}");
    }
    let (_, b) = api.call(Method::GET, "/v1.0/jobs", None).await;
    assert_eq!(b["jobs"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn list_filters_and_pages() {
    for store in testing::all().await {
        let api = Api::start(store, registry()).await;
        let mut ids = Vec::new();
        for i in 0..5 {
            let project = if i < 3 { "pa" } else { "pb" };
            let job = api
                .create(
                    "port_delete",
                    project,
                    json!({"port_id": format!("port{i}")}),
                )
                .await;
            ids.push(job["id"].as_str().unwrap().to_string());
        }
        api.create(
            "router_setup",
            "pa",
            json!({"pod_id": "p", "router_id": "r", "network_id": "n"}),
        )
        .await;
        ids.sort();

        // Paging: follow the next links.
        let mut seen = Vec::new();
        let mut path = "/v1.0/jobs?type=port_delete&limit=2".to_string();
        loop {
            let (s, b) = api.call(Method::GET, &path, None).await;
            assert_eq!(s, 200, "{b}");
            for j in b["jobs"].as_array().unwrap() {
                assert_eq!(j["type"], "port_delete");
                seen.push(j["id"].as_str().unwrap().to_string());
            }
            match b.get("jobs_links") {
                Some(links) => {
                    let href = links[0]["href"].as_str().unwrap();
                    assert_eq!(links[0]["rel"], "next");
                    assert!(href.contains("type=port_delete") && href.contains("limit=2"));
                    path = href.strip_prefix(&api.base).unwrap().to_string();
                }
                None => break,
            }
        }
        assert_eq!(seen, ids, "{}", api.store.label());

        let (_, b) = api
            .call(Method::GET, "/v1.0/jobs/detail?project_id=pb", None)
            .await;
        assert_eq!(b["jobs"].as_array().unwrap().len(), 2);
        let (_, b) = api
            .call(Method::GET, "/v1.0/jobs?project_id=pa&status=new", None)
            .await;
        assert_eq!(b["jobs"].as_array().unwrap().len(), 4);
        let (_, b) = api.call(Method::GET, "/v1.0/jobs?status=FAIL", None).await;
        assert_eq!(b, json!({"jobs": []}));

        fail(&api.store, &ids[0]).await;
        let (_, b) = api.call(Method::GET, "/v1.0/jobs?status=FAIL", None).await;
        let failed = b["jobs"].as_array().unwrap();
        assert!(failed.iter().any(|j| j["id"] == ids[0].as_str()));
        assert!(failed
            .iter()
            .all(|j| j["last_error"] == "pod unreachable" && j["attempts"] == 1));

        for (q, needle) in [
            ("status=DONE", "Invalid job status"),
            ("limit=0", "limit"),
            ("limit=x", "limit"),
            ("job_type=x", "Unknown query parameter 'job_type'"),
        ] {
            let (s, b) = api
                .call(Method::GET, &format!("/v1.0/jobs?{q}"), None)
                .await;
            assert_fault(s, &b, 400, "badRequest");
            assert!(
                b["badRequest"]["message"]
                    .as_str()
                    .unwrap()
                    .contains(needle),
                "{q}: {b}"
            );
        }
    }
}

#[tokio::test]
async fn show_redo_and_delete() {
    for store in testing::all().await {
        let api = Api::start(store, registry()).await;
        let job = api
            .create("port_delete", "p", json!({"port_id": "x"}))
            .await;
        let id = job["id"].as_str().unwrap().to_string();
        let (s, b) = api
            .call(Method::GET, &format!("/v1.0/jobs/{id}"), None)
            .await;
        assert_eq!((s, &b["job"]), (200, &job));
        let (s, b) = api
            .call(
                Method::GET,
                "/v1.0/jobs/00000000-0000-0000-0000-000000000000",
                None,
            )
            .await;
        assert_fault(s, &b, 404, "itemNotFound");

        // Only FAIL jobs are redone.
        let (s, b) = api
            .call(Method::PUT, &format!("/v1.0/jobs/{id}"), None)
            .await;
        assert_fault(s, &b, 409, "conflictingRequest");
        fail(&api.store, &id).await;
        let (s, b) = api
            .call(Method::GET, &format!("/v1.0/jobs/{id}"), None)
            .await;
        assert_eq!((s, b["job"]["status"].as_str()), (200, Some("FAIL")));
        let (s, b) = api
            .call(Method::PUT, &format!("/v1.0/jobs/{id}"), None)
            .await;
        assert_eq!(s, 200, "{b}");
        assert_eq!(b["job"]["status"], "NEW");
        assert_eq!(b["job"]["attempts"], 0);

        // A running job is not deleted; a finished one can be.
        let running = api
            .store
            .claim_jobs("w", Duration::from_secs(60), 1)
            .await
            .unwrap();
        assert_eq!(running[0].id, id);
        let (s, b) = api
            .call(Method::DELETE, &format!("/v1.0/jobs/{id}"), None)
            .await;
        assert_fault(s, &b, 409, "conflictingRequest");
        assert!(api.store.finish_job_success(&id, "w").await.unwrap());
        let (_, b) = api.call(Method::GET, "/v1.0/jobs", None).await;
        assert_eq!(b, json!({"jobs": []}));
        let (_, b) = api
            .call(Method::GET, "/v1.0/jobs?status=SUCCESS", None)
            .await;
        assert_eq!(b["jobs"][0]["id"], id.as_str());
        assert_eq!(b["jobs"][0]["status"], "SUCCESS");
        assert_eq!(b["jobs"][0]["run_after"], Value::Null);
        let (s, b) = api
            .call(Method::PUT, &format!("/v1.0/jobs/{id}"), None)
            .await;
        assert_fault(s, &b, 409, "conflictingRequest");
        let (s, _) = api
            .call(Method::DELETE, &format!("/v1.0/jobs/{id}"), None)
            .await;
        assert_eq!(s, 200, "{}", api.store.label());
        let (s, b) = api
            .call(Method::DELETE, &format!("/v1.0/jobs/{id}"), None)
            .await;
        assert_fault(s, &b, 404, "itemNotFound");
    }
}

#[tokio::test]
async fn a_created_job_is_run_by_the_engine() {
    let api = Api::start(testing::sqlite().await, registry()).await;
    let engine = Engine::new(
        api.store.store.clone(),
        api.registry.clone(),
        EngineConfig {
            poll_interval: Duration::from_secs(3600),
            ..Default::default()
        },
    )
    .with_kicker(api.kicker.clone());
    let task = engine.spawn(std::future::pending());
    let job = api
        .create("port_delete", "p", json!({"port_id": "x"}))
        .await;
    let path = format!("/v1.0/jobs/{}", job["id"].as_str().unwrap());
    // The kick starts it: no poll would come for an hour.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (_, b) = api.call(Method::GET, &path, None).await;
        if b["job"]["status"] == "SUCCESS" {
            assert_eq!(b["job"]["attempts"], 1);
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{b}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    task.abort();
}

#[tokio::test]
async fn jobs_need_the_admin_role() {
    let e = Env::start(testing::sqlite().await).await;
    for (method, path) in [
        (Method::GET, "/v1.0/jobs"),
        (Method::GET, "/v1.0/jobs/detail"),
        (Method::GET, "/v1.0/jobs/schemas"),
        (Method::GET, "/v1.0/jobs/x"),
        (Method::PUT, "/v1.0/jobs/x"),
        (Method::DELETE, "/v1.0/jobs/x"),
    ] {
        let (s, b) = e
            .call_as(&e.member_token.clone(), method.clone(), path, None)
            .await;
        assert_fault(s, &b, 403, "forbidden");
    }
    let (s, b) = e
        .call_as(
            &e.member_token.clone(),
            Method::POST,
            "/v1.0/jobs",
            Some(json!({"job": {"type": "t", "project_id": "p", "resource": {}}})),
        )
        .await;
    assert_fault(s, &b, 403, "forbidden");
    // Without an engine's registry there are no job types.
    let (s, b) = e.call(Method::GET, "/v1.0/jobs/schemas", None).await;
    assert_eq!((s, b), (200, json!({"schemas": []})));
    let (s, _) = e
        .http
        .get(e.url("/v1.0/jobs"))
        .send()
        .await
        .map(|r| (r.status().as_u16(), ()))
        .unwrap();
    assert_eq!(s, 401);
}

/// The job types `serve` registers declare every key their handlers read:
/// a create check the admin API accepts is one its handler can run (before,
/// its schema asked for `request_id` only and the check then failed with
/// "lacks 'pod_name'").
#[tokio::test]
async fn create_checks_need_what_their_handler_reads() {
    use tricircle_gateway::create_check::CheckDeps;
    /// The create checks as the binary registers them (each domain its own).
    mod create_checks {
        pub use tricircle_compute::create_check::SERVER_CREATE_CHECK;
        pub use tricircle_volume::create_check::VOLUME_CREATE_CHECK;

        pub fn register(
            registry: tricircle_jobs::Registry,
            deps: tricircle_gateway::create_check::CheckDeps,
        ) -> tricircle_jobs::Registry {
            let registry = tricircle_compute::create_check::register(registry, deps.clone());
            tricircle_volume::create_check::register(registry, deps)
        }
    }
    use tricircle_pods::{
        EndpointResolver, Interface, KeystoneClient, PodClient, ServiceCredentials,
    };
    let store = testing::sqlite().await;
    let keystone = Arc::new(
        KeystoneClient::new(
            ServiceCredentials {
                auth_url: "http://127.0.0.1:9/v3".into(),
                username: "tricircle".into(),
                password: "secret".into(),
                project_name: "service".into(),
                user_domain_name: "Default".into(),
                project_domain_name: "Default".into(),
            },
            Duration::from_secs(1),
        )
        .unwrap(),
    );
    let resolver = Arc::new(EndpointResolver::new(
        keystone.clone(),
        None,
        Interface::Public,
    ));
    let registry = create_checks::register(
        Registry::new(),
        CheckDeps {
            store: store.store.clone(),
            pods: PodClient::new(resolver, Duration::from_secs(1)).unwrap(),
            keystone,
            network: None,
            settle: Duration::from_secs(60),
        },
    );
    let api = Api::start(store, registry).await;
    let (s, b) = api.call(Method::GET, "/v1.0/jobs/schemas", None).await;
    assert_eq!(s, 200);
    assert_eq!(
        b["schemas"],
        json!([
            {"type": create_checks::SERVER_CREATE_CHECK, "resource": ["request_id", "pod_name"],
             "optional": ["pod_id", "name", "user_id", "ports"]},
            {"type": create_checks::VOLUME_CREATE_CHECK, "resource": ["request_id", "pod_name"],
             "optional": ["pod_id", "name", "user_id"]},
        ])
    );
    for (resource, needle) in [
        (json!({"request_id": "req-1"}), "lacks key 'pod_name'"),
        (json!({}), "lacks keys 'request_id', 'pod_name'"),
        (
            json!({"request_id": "req-1", "pod_name": "Pod1", "flavor": "x"}),
            "unknown key 'flavor'",
        ),
    ] {
        let (s, b) = api
            .call(
                Method::POST,
                "/v1.0/jobs",
                Some(json!({"job": {"type": create_checks::SERVER_CREATE_CHECK, "project_id": "p", "resource": resource}})),
            )
            .await;
        assert_fault(s, &b, 400, "badRequest");
        let msg = b["badRequest"]["message"].as_str().unwrap();
        assert!(msg.contains(needle), "{msg}");
    }
    assert_eq!(
        api.store
            .list_jobs(&Default::default(), None, 10)
            .await
            .unwrap()
            .jobs
            .len(),
        0,
        "nothing recorded"
    );
    // What the compute gateway records for a boot without an answer.
    let recorded = json!({"pod_id": "pod-uuid", "pod_name": "Pod1", "name": "vm1",
        "request_id": "req-1", "user_id": "u1", "ports": []});
    let job = api
        .create(create_checks::SERVER_CREATE_CHECK, "p", recorded)
        .await;
    assert_eq!(job["status"], "NEW");
    // Named by its request id, as the gateway names it.
    let jobs = api
        .store
        .list_jobs(&Default::default(), None, 10)
        .await
        .unwrap();
    assert_eq!(jobs.jobs[0].resource_id, "req-1");
}
