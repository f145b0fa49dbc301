//! The admin API over HTTP, authenticated by (simulated) Keystone tokens.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{assert_fault, Env};
use reqwest::Method;
use serde_json::{json, Value};
use tricircle_store::testing;

async fn env() -> Env {
    Env::start(testing::sqlite().await).await
}

#[tokio::test]
async fn versions_and_health_are_open() {
    let e = env().await;
    let v: Value = e
        .http
        .get(e.url("/"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["versions"][0]["id"], "v1.0");
    assert_eq!(v["versions"][0]["status"], "CURRENT");
    assert!(v["versions"][0]["links"][0]["href"]
        .as_str()
        .unwrap()
        .ends_with("/v1.0/"));
    let v: Value = e
        .http
        .get(e.url("/v1.0"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["version"]["id"], "v1.0");
    let h = e.http.get(e.url("/healthcheck")).send().await.unwrap();
    assert_eq!(h.status(), 200);
    let h: Value = h.json().await.unwrap();
    assert_eq!(h["checks"]["database"], "ok");
}

#[tokio::test]
async fn authentication_and_policy() {
    let e = env().await;
    // No token: 401 the keystonemiddleware way, pointing at Keystone.
    let r = e.http.get(e.url("/v1.0/pods")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let www = r.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(
        www,
        format!("Keystone uri=\"{}/v3\"", e.identity_cfg.public_url)
    );
    let b: Value = r.json().await.unwrap();
    assert_eq!(b["error"]["code"], 401);
    assert_eq!(b["error"]["title"], "Unauthorized");

    let (s, _) = e
        .call_as("not-a-token", Method::GET, "/v1.0/pods", None)
        .await;
    assert_eq!(s, 401);
    let (s, b) = e
        .call_as(&e.member_token.clone(), Method::GET, "/v1.0/pods", None)
        .await;
    assert_fault(s, &b, 403, "forbidden");
    let (s, b) = e
        .call_as(
            &e.member_token.clone(),
            Method::POST,
            "/v1.0/pods",
            Some(json!({"pod": {"pod_name": "X"}})),
        )
        .await;
    assert_fault(s, &b, 403, "forbidden");
    assert!(e.store.list_pods().await.unwrap().is_empty());
    let (s, b) = e.call(Method::GET, "/v1.0/pods", None).await;
    assert_eq!((s, b), (200, json!({"pods": []})));
}

#[tokio::test]
async fn revoked_tokens_are_refused_after_the_cache_time() {
    let e = Env::start_with(testing::sqlite().await, Duration::from_millis(500)).await;
    let token = e.identity.issue_token("admin", "admin").unwrap();
    let (s, _) = e.call_as(&token, Method::GET, "/v1.0/pods", None).await;
    assert_eq!(s, 200);
    e.identity.revoke(&token);
    tokio::time::sleep(Duration::from_millis(800)).await;
    let (s, _) = e.call_as(&token, Method::GET, "/v1.0/pods", None).await;
    assert_eq!(s, 401);
}

#[tokio::test]
async fn keystone_down_is_503_not_401() {
    let e = env().await;
    // A validator whose Keystone refuses connections.
    let dead = common::service_client(&e.identity_cfg, "http://127.0.0.1:1/v3");
    let validator = tricircle_pods::TokenValidator::new(dead, &Default::default());
    let auth = tricircle_api::Authenticator::Keystone {
        validator,
        www_authenticate_uri: "http://127.0.0.1:1/v3".into(),
    };
    let req = axum::http::Request::builder()
        .uri("/v1.0/pods")
        .header("x-auth-token", "whatever")
        .body(())
        .unwrap();
    let (parts, _) = req.into_parts();
    let resp = auth.authenticate(&parts).await.err().unwrap();
    assert_eq!(resp.status(), 503);
}

#[tokio::test]
async fn pod_rules() {
    let e = env().await;
    let (top, p1, _) = e.three_pods().await;
    // Trimmed names; the top pod's pod_az_name is empty.
    let (s, b) = e.call(Method::GET, &format!("/v1.0/pods/{p1}"), None).await;
    assert_eq!(s, 200);
    assert_eq!(b["pod"]["pod_name"], "Pod1");
    assert_eq!(b["pod"]["az_name"], "az1");
    let spaced = e
        .create_pod(json!({"pod_name": "  Pod3 ", "az_name": " az3 ", "dc_name": "dc"}))
        .await;
    assert_eq!(
        (spaced["pod_name"].as_str(), spaced["az_name"].as_str()),
        (Some("Pod3"), Some("az3"))
    );

    for (body, status, fault) in [
        (
            json!({"pod": {"pod_name": "RegionTwo"}}),
            409,
            "conflictingRequest",
        ),
        (
            json!({"pod": {"pod_name": "RegionOne", "az_name": "az9"}}),
            409,
            "conflictingRequest",
        ),
        (
            json!({"pod": {"pod_name": "Pod1", "az_name": "az1"}}),
            409,
            "conflictingRequest",
        ),
        (json!({"pod": {"pod_name": "   "}}), 400, "badRequest"),
        (
            json!({"pod": {"pod_name": "X", "pod_az_name": "p"}}),
            400,
            "badRequest",
        ),
        (json!({"pod": {"pod_name": 7}}), 400, "badRequest"),
        (
            json!({"pod": {"pod_name": "X", "colour": "red"}}),
            400,
            "badRequest",
        ),
        (json!({"pods": {"pod_name": "X"}}), 400, "badRequest"),
        (
            json!({"pod": {"pod_name": "x".repeat(256), "az_name": "a"}}),
            400,
            "badRequest",
        ),
        (json!([]), 400, "badRequest"),
    ] {
        let (s, b) = e.call(Method::POST, "/v1.0/pods", Some(body.clone())).await;
        assert_fault(s, &b, status, fault);
    }
    // Nothing half-created by any of those.
    assert_eq!(e.store.list_pods().await.unwrap().len(), 4);
    assert_eq!(e.store.list_aggregates().await.unwrap().len(), 3);

    let (s, b) = e
        .call(
            Method::GET,
            "/v1.0/pods/6f2d5c1a-0000-4000-8000-000000000000",
            None,
        )
        .await;
    assert_fault(s, &b, 404, "itemNotFound");
    let (s, b) = e.call(Method::GET, "/v1.0/pods/not-a-uuid", None).await;
    assert_fault(s, &b, 404, "itemNotFound");
    let (s, b) = e.call(Method::GET, "/v1.0/pods?az_name=az1", None).await;
    assert_eq!(s, 200);
    assert_eq!(b["pods"].as_array().unwrap().len(), 1);
    let (s, b) = e.call(Method::GET, "/v1.0/pods?zone=az1", None).await;
    assert_fault(s, &b, 400, "badRequest");

    // Updates: maintenance on a bottom pod, never on the top pod.
    let (s, b) = e
        .call(
            Method::PUT,
            &format!("/v1.0/pods/{p1}"),
            Some(json!({"pod": {"maintenance": true, "dc_name": "dc9"}})),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(
        (
            b["pod"]["maintenance"].as_bool(),
            b["pod"]["dc_name"].as_str()
        ),
        (Some(true), Some("dc9"))
    );
    for body in [
        json!({"pod": {"maintenance": true}}),
        json!({"pod": {"pod_az_name": "x"}}),
        json!({"pod": {}}),
        json!({"pod": {"pod_name": "renamed"}}),
    ] {
        let (s, b) = e
            .call(Method::PUT, &format!("/v1.0/pods/{top}"), Some(body))
            .await;
        assert_fault(s, &b, 400, "badRequest");
    }
}

/// `/v1.0/pods` shows the health the gateway instances share: state,
/// since, last error, counts and the probe's free capacity; `unknown` for a
/// pod no call or probe reached yet.
#[tokio::test]
async fn pods_show_their_shared_health() {
    let e = env().await;
    let (_top, p1, p2) = e.three_pods().await;
    let at = "2026-03-01T10:00:00Z";
    for (transition, state, error, capacity) in [
        (true, "down", Some("pod Pod1 did not answer in time"), None),
        (false, "down", None, Some((12, 2048, at.to_string()))),
    ] {
        let v = e
            .store
            .report_pod_health(&tricircle_store::PodHealthReport {
                pod_name: "Pod1".into(),
                state: state.into(),
                since: at.into(),
                transition,
                last_error: error.map(|m| (m.to_string(), at.to_string())),
                consecutive_failures: 3,
                new_successes: 5,
                new_failures: 3,
                capacity,
                now: at.into(),
            })
            .await
            .unwrap();
        assert!(v.is_some());
    }
    let (s, b) = e.call(Method::GET, "/v1.0/pods", None).await;
    assert_eq!(s, 200, "{b}");
    let pods = b["pods"].as_array().unwrap();
    let pod = |id: &str| pods.iter().find(|p| p["pod_id"] == id).unwrap().clone();
    let h1 = &pod(&p1)["health"];
    assert_eq!(h1["state"], "down");
    assert_eq!(h1["since"], at);
    assert_eq!(h1["last_error"], "pod Pod1 did not answer in time");
    assert_eq!(
        (h1["successes"].as_i64(), h1["failures"].as_i64()),
        (Some(10), Some(6))
    );
    assert_eq!(h1["consecutive_failures"], 3);
    assert_eq!(
        h1["free_capacity"],
        json!({"vcpus": 12, "ram_mb": 2048, "probed_at": at})
    );
    assert_eq!(pod(&p2)["health"]["state"], "unknown");
    assert_eq!(pod(&p2)["health"]["free_capacity"], Value::Null);
    let (s, b) = e.call(Method::GET, &format!("/v1.0/pods/{p1}"), None).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["pod"]["health"], *h1);
}

#[tokio::test]
async fn bad_bodies() {
    let e = env().await;
    let (s, b) = e
        .raw(
            Method::POST,
            "/v1.0/pods",
            Some("application/json"),
            b"{\"pod\": ".to_vec(),
        )
        .await;
    assert_fault(s, &b, 400, "badRequest");
    let (s, b) = e.raw(Method::POST, "/v1.0/pods", None, vec![]).await;
    assert_fault(s, &b, 400, "badRequest");
    let (s, b) = e
        .raw(
            Method::POST,
            "/v1.0/pods",
            Some("text/plain"),
            b"{}".to_vec(),
        )
        .await;
    assert_fault(s, &b, 415, "badMediaType");
    let big = format!(
        "{{\"pod\": {{\"pod_name\": \"{}\"}}}}",
        "x".repeat(100 * 1024)
    );
    let (s, b) = e
        .raw(
            Method::POST,
            "/v1.0/pods",
            Some("application/json"),
            big.into_bytes(),
        )
        .await;
    assert_fault(s, &b, 413, "overLimit");
    let (s, b) = e.call(Method::PATCH, "/v1.0/pods", None).await;
    assert_fault(s, &b, 405, "badMethod");
    let (s, b) = e.call(Method::GET, "/v1.0/nothing", None).await;
    assert_fault(s, &b, 404, "itemNotFound");
    assert!(e.store.list_pods().await.unwrap().is_empty());
}

#[tokio::test]
async fn pod_delete_refuses_while_referenced() {
    let e = env().await;
    let (_, p1, _) = e.three_pods().await;
    let (s, _) = e
        .call(
            Method::POST,
            "/v1.0/bindings",
            Some(json!({"pod_binding": {"tenant_id": "t1", "pod_id": p1}})),
        )
        .await;
    assert_eq!(s, 200);
    let (s, b) = e
        .call(Method::DELETE, &format!("/v1.0/pods/{p1}"), None)
        .await;
    assert_fault(s, &b, 409, "conflictingRequest");
    let (s, b) = e
        .call(
            Method::DELETE,
            &format!("/v1.0/pods/{p1}?force=maybe"),
            None,
        )
        .await;
    assert_fault(s, &b, 400, "badRequest");
    let (s, b) = e
        .call(Method::DELETE, &format!("/v1.0/pods/{p1}?force=true"), None)
        .await;
    assert_eq!((s, b), (200, json!({})));
    let (s, b) = e.call(Method::GET, "/v1.0/bindings", None).await;
    assert_eq!((s, b), (200, json!({"pod_bindings": []})));
    let aggs: Vec<String> = e
        .store
        .list_aggregates()
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.name)
        .collect();
    assert_eq!(aggs, ["ag_Pod2"]);
    let (s, b) = e
        .call(Method::DELETE, &format!("/v1.0/pods/{p1}"), None)
        .await;
    assert_fault(s, &b, 404, "itemNotFound");
}

#[tokio::test]
async fn bindings() {
    let e = env().await;
    let (top, p1, p2) = e.three_pods().await;
    let body = |t: &str, p: &str| Some(json!({"pod_binding": {"tenant_id": t, "pod_id": p}}));
    let (s, b) = e
        .call(Method::POST, "/v1.0/bindings", body("t1", &p1))
        .await;
    assert_eq!(s, 200, "{b}");
    let binding = b["pod_binding"].clone();
    assert_eq!(binding["is_binding"], true);
    for k in [
        "id",
        "tenant_id",
        "pod_id",
        "is_binding",
        "created_at",
        "updated_at",
    ] {
        assert!(binding.get(k).is_some(), "missing {k}");
    }
    let (s, b) = e
        .call(Method::POST, "/v1.0/bindings", body("t1", &p1))
        .await;
    assert_fault(s, &b, 409, "conflictingRequest");
    let (s, b) = e
        .call(Method::POST, "/v1.0/bindings", body("t1", &top))
        .await;
    assert_fault(s, &b, 422, "unprocessableEntity");
    let (s, b) = e
        .call(Method::POST, "/v1.0/bindings", body("t1", "no-such-pod"))
        .await;
    assert_fault(s, &b, 422, "unprocessableEntity");
    let (s, b) = e.call(Method::POST, "/v1.0/bindings", body(" ", &p1)).await;
    assert_fault(s, &b, 400, "badRequest");
    let (s, b) = e
        .call(Method::POST, "/v1.0/bindings", body("a b", &p1))
        .await;
    assert_fault(s, &b, 400, "badRequest");

    e.call(Method::POST, "/v1.0/bindings", body("t2", &p2))
        .await;
    let (_, b) = e
        .call(Method::GET, "/v1.0/bindings?tenant_id=t2", None)
        .await;
    assert_eq!(b["pod_bindings"].as_array().unwrap().len(), 1);
    assert_eq!(b["pod_bindings"][0]["pod_id"], json!(p2));
    let (s, b) = e
        .call(Method::GET, "/v1.0/bindings?is_binding=perhaps", None)
        .await;
    assert_fault(s, &b, 400, "badRequest");

    let id = binding["id"].as_str().unwrap();
    let (s, b) = e
        .call(
            Method::PUT,
            &format!("/v1.0/bindings/{id}"),
            Some(json!({"pod_binding": {"is_binding": false}})),
        )
        .await;
    assert_eq!(
        (s, b["pod_binding"]["is_binding"].clone()),
        (200, json!(false))
    );
    let (s, b) = e
        .call(Method::GET, &format!("/v1.0/bindings/{id}"), None)
        .await;
    assert_eq!(
        (s, b["pod_binding"]["is_binding"].clone()),
        (200, json!(false))
    );
    let (s, _) = e
        .call(Method::DELETE, &format!("/v1.0/bindings/{id}"), None)
        .await;
    assert_eq!(s, 200);
    let (s, b) = e
        .call(Method::GET, &format!("/v1.0/bindings/{id}"), None)
        .await;
    assert_fault(s, &b, 404, "itemNotFound");
}

#[tokio::test]
async fn routings_paging_filters_and_scoping() {
    let e = env().await;
    let (_, p1, p2) = e.three_pods().await;
    let member = e.member_project.clone();
    for i in 0..12 {
        let (pod, project) = if i % 3 == 0 {
            (&p2, member.as_str())
        } else {
            (&p1, "other")
        };
        let (s, b) = e
            .call(
                Method::POST,
                "/v1.0/routings",
                Some(json!({"routing": {"top_id": format!("top-{i:02}"), "bottom_id": format!("bot-{i:02}"),
                    "pod_id": pod, "project_id": project, "resource_type": "server"}})),
            )
            .await;
        assert_eq!(s, 200, "{b}");
    }
    let dup = json!({"routing": {"top_id": "top-00", "pod_id": p2, "project_id": member, "resource_type": "server"}});
    let (s, b) = e.call(Method::POST, "/v1.0/routings", Some(dup)).await;
    assert_fault(s, &b, 409, "conflictingRequest");
    let bad_type = json!({"routing": {"top_id": "x", "pod_id": p2, "resource_type": "servers"}});
    let (s, b) = e.call(Method::POST, "/v1.0/routings", Some(bad_type)).await;
    assert_fault(s, &b, 400, "badRequest");
    let bad_pod = json!({"routing": {"top_id": "x", "pod_id": "nope", "resource_type": "server"}});
    let (s, b) = e.call(Method::POST, "/v1.0/routings", Some(bad_pod)).await;
    assert_fault(s, &b, 422, "unprocessableEntity");

    // Follow next links with limit=5: 5 + 5 + 2, in id order, no repeats.
    let mut url = e.url("/v1.0/routings?resource_type=server&limit=5");
    let mut pages = Vec::new();
    loop {
        let b: Value = e
            .http
            .get(&url)
            .header("x-auth-token", &e.admin_token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let ids: Vec<i64> = b["routings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_i64().unwrap())
            .collect();
        pages.push(ids);
        match b["routings_links"][0]["href"].as_str() {
            Some(next) => {
                assert!(next.contains("resource_type=server"), "{next}");
                url = next.to_string();
            }
            None => break,
        }
    }
    assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), [5, 5, 2]);
    let all: Vec<i64> = pages.concat();
    assert!(all.windows(2).all(|w| w[0] < w[1]));

    let (_, b) = e
        .call(Method::GET, &format!("/v1.0/routings?pod_id={p2}"), None)
        .await;
    assert_eq!(b["routings"].as_array().unwrap().len(), 4);
    let (_, b) = e
        .call(Method::GET, "/v1.0/routings?bottom_id=bot-07", None)
        .await;
    assert_eq!(b["routings"][0]["top_id"], "top-07");

    // A member sees only its own project's routings, whatever it asks for.
    let token = e.member_token.clone();
    let (s, b) = e.call_as(&token, Method::GET, "/v1.0/routings", None).await;
    assert_eq!(s, 200);
    let rows = b["routings"].as_array().unwrap();
    assert_eq!(rows.len(), 4);
    assert!(rows.iter().all(|r| r["project_id"] == json!(member)));
    let (_, b) = e
        .call_as(&token, Method::GET, "/v1.0/routings?project_id=other", None)
        .await;
    assert_eq!(b["routings"], json!([]));
    let (_, b) = e
        .call(Method::GET, "/v1.0/routings?project_id=other&limit=1", None)
        .await;
    let foreign = b["routings"][0]["id"].as_i64().unwrap();
    let (s, b) = e
        .call_as(
            &token,
            Method::GET,
            &format!("/v1.0/routings/{foreign}"),
            None,
        )
        .await;
    assert_fault(s, &b, 404, "itemNotFound");
    let own = rows[0]["id"].as_i64().unwrap();
    let (s, _) = e
        .call_as(&token, Method::GET, &format!("/v1.0/routings/{own}"), None)
        .await;
    assert_eq!(s, 200);
    let (s, b) = e
        .call_as(
            &token,
            Method::DELETE,
            &format!("/v1.0/routings/{own}"),
            None,
        )
        .await;
    assert_fault(s, &b, 403, "forbidden");

    for q in [
        "limit=0",
        "limit=x",
        "marker=abc",
        "colour=red",
        "resource_type=bogus",
    ] {
        let (s, b) = e
            .call(Method::GET, &format!("/v1.0/routings?{q}"), None)
            .await;
        assert_fault(s, &b, 400, "badRequest");
    }
    let (s, b) = e.call(Method::GET, "/v1.0/routings/abc", None).await;
    assert_fault(s, &b, 404, "itemNotFound");

    // Update (null clears bottom_id) and delete.
    let (s, b) = e
        .call(
            Method::PUT,
            &format!("/v1.0/routings/{own}"),
            Some(json!({"routing": {"bottom_id": null}})),
        )
        .await;
    assert_eq!((s, b["routing"]["bottom_id"].clone()), (200, Value::Null));
    let (s, _) = e
        .call(Method::DELETE, &format!("/v1.0/routings/{own}"), None)
        .await;
    assert_eq!(s, 200);
    let (s, b) = e
        .call(Method::GET, &format!("/v1.0/routings/{own}"), None)
        .await;
    assert_fault(s, &b, 404, "itemNotFound");
}

#[tokio::test]
async fn request_ids_and_metrics() {
    let e = env().await;
    let rid = "req-6f2d5c1a-1111-4000-8000-000000000001";
    let r = e
        .http
        .get(e.url("/v1.0/pods"))
        .header("x-auth-token", &e.admin_token)
        .header("x-openstack-request-id", rid)
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-openstack-request-id"], rid);
    let r = e
        .http
        .get(e.url("/v1.0/pods"))
        .header("x-openstack-request-id", "req-not-a-uuid; drop table")
        .send()
        .await
        .unwrap();
    let generated = r.headers()["x-openstack-request-id"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(generated.starts_with("req-") && generated != rid);

    let m = e
        .http
        .get(e.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let line = m
        .lines()
        .find(|l| {
            l.starts_with("tricircle_http_requests_total")
                && l.contains("service=\"admin\"")
                && l.contains("route=\"/v1.0/pods\"")
                && l.contains("status=\"401\"")
        })
        .unwrap_or_else(|| panic!("no 401 counter for /v1.0/pods in:\n{m}"));
    assert!(!line.ends_with(" 0"), "{line}");
    assert!(m.contains("tricircle_http_request_duration_seconds_bucket"));
}

#[tokio::test]
async fn pod_endpoints_come_from_the_catalog() {
    let e = env().await;
    let (_, p1, p2) = e.three_pods().await;
    let (s, b) = e
        .call(Method::GET, &format!("/v1.0/pods/{p1}/endpoints"), None)
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["region"], "Pod1");
    let compute = b["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["service_type"] == "compute")
        .unwrap();
    assert_eq!(compute["url"], "http://127.0.0.1:1/compute/v2.1");
    // Pod2 is not in the catalog yet; after registering, a refresh finds it.
    let (_, b) = e
        .call(Method::GET, &format!("/v1.0/pods/{p2}/endpoints"), None)
        .await;
    assert_eq!(b["endpoints"], json!([]));
    e.identity.register_pod("Pod2", "http://127.0.0.1:2");
    let (_, b) = e
        .call(
            Method::GET,
            &format!("/v1.0/pods/{p2}/endpoints?refresh=true"),
            None,
        )
        .await;
    assert_eq!(b["endpoints"].as_array().unwrap().len(), 5, "{b}");
    // And the catalog is cached in the database for other instances.
    let cached = e.store.cached_endpoints("Pod2").await.unwrap();
    assert!(cached.iter().any(|c| c.url == "http://127.0.0.1:2/network"));
}

#[tokio::test]
async fn admin_api_works_on_every_backend() {
    for store in testing::all().await {
        let label = store.label();
        let e = Env::start(store).await;
        let (_, p1, _) = e.three_pods().await;
        let (s, b) = e.call(Method::GET, "/v1.0/pods", None).await;
        assert_eq!(
            (s, b["pods"].as_array().unwrap().len()),
            (200, 3),
            "{label}"
        );
        let (s, b) = e
            .call(Method::DELETE, &format!("/v1.0/pods/{p1}"), None)
            .await;
        assert_eq!(s, 200, "{label}: {b}");
    }
}

/// A path segment that does not decode to UTF-8 is refused in the admin
/// API's (Nova's) format.
#[tokio::test]
async fn undecodable_path_segments_get_json_errors() {
    let e = env().await;
    let hdrs = [("x-auth-token", e.admin_token.as_str())];
    for path in [
        "/v1.0/pods/%FF%FE",
        "/v1.0/routings/%C0%AE",
        "/v1.0/jobs/%FF",
    ] {
        let (s, b) = common::raw_request(&e.base, &hdrs, "GET", path, None).await;
        assert!((400..500).contains(&s), "{path}: {s} {b}");
        let v: Value = serde_json::from_str(&b).unwrap_or(Value::Null);
        let fault = v.as_object().and_then(|o| o.values().next());
        assert!(
            fault.is_some_and(|f| f["code"] == s && f["message"].is_string()),
            "{path}: not the API's format: {b}"
        );
    }
}
