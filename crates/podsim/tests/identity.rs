//! Keystone v3 behaviour over real HTTP.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{assert_iso_micro, assert_ks_error, start, start_with_ttl, Harness};
use reqwest::Method;
use serde_json::{json, Value};
use tricircle_podsim::Credentials;

const UNAUTHORIZED_MSG: &str = "The request you have made requires authentication.";

fn names(list: &Value, key: &str) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|v| v[key].as_str().unwrap().to_string())
        .collect()
}

async fn id_of(h: &Harness, token: &str, collection: &str, name: &str) -> String {
    let (status, body) = h.get(&format!("/v3/{collection}?name={name}"), token).await;
    assert_eq!(status, 200);
    let items = body[collection].as_array().unwrap();
    assert_eq!(items.len(), 1, "{collection} named {name}: {body}");
    items[0]["id"].as_str().unwrap().to_string()
}

fn password_auth(user: Value, scope: Option<Value>) -> Value {
    let mut auth = json!({
        "identity": {"methods": ["password"], "password": {"user": user}},
    });
    if let Some(s) = scope {
        auth["scope"] = s;
    }
    json!({ "auth": auth })
}

// ------------------------------------------------------------- discovery

#[tokio::test]
async fn version_discovery_documents() {
    let h = start().await;
    let res = h.client.get(h.url("/")).send().await.unwrap();
    assert_eq!(res.status(), 300);
    assert_eq!(res.headers()["content-type"], "application/json");
    let body: Value = res.json().await.unwrap();
    let v = &body["versions"]["values"][0];
    assert_eq!(v["id"], "v3.14");
    assert_eq!(v["status"], "stable");
    assert_eq!(v["links"][0]["rel"], "self");
    assert_eq!(v["links"][0]["href"], format!("{}/v3/", h.base));

    for path in ["/v3", "/v3/"] {
        let res = h.client.get(h.url(path)).send().await.unwrap();
        assert_eq!(res.status(), 200, "{path}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["version"]["id"], "v3.14");
        assert_eq!(
            body["version"]["media-types"][0]["type"],
            "application/vnd.openstack.identity-v3+json"
        );
        assert_eq!(
            body["version"]["links"][0]["href"],
            format!("{}/v3/", h.base)
        );
    }
}

// ---------------------------------------------------------------- tokens

#[tokio::test]
async fn password_issue_validate_revoke() {
    let h = start().await;
    let res = h.auth(&Credentials::admin(&h.cfg).auth_request()).await;
    assert_eq!(res.status(), 201);
    assert_eq!(res.headers()["content-type"], "application/json");
    assert!(res.headers().contains_key("x-openstack-request-id"));
    let token = res.headers()["x-subject-token"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(token.len() > 100, "opaque fernet-like token");
    let body: Value = res.json().await.unwrap();
    let t = &body["token"];
    assert_eq!(t["methods"], json!(["password"]));
    assert_eq!(t["user"]["name"], "admin");
    assert_eq!(
        t["user"]["domain"],
        json!({"id": "default", "name": "Default"})
    );
    assert_eq!(t["user"]["password_expires_at"], Value::Null);
    assert_eq!(t["project"]["name"], "admin");
    assert_eq!(
        t["project"]["domain"],
        json!({"id": "default", "name": "Default"})
    );
    assert_eq!(t["is_domain"], false);
    assert_eq!(names(&t["roles"], "name"), ["admin", "member", "reader"]);
    assert_eq!(t["audit_ids"].as_array().unwrap().len(), 1);
    assert_eq!(t["audit_ids"][0].as_str().unwrap().len(), 22);
    assert_iso_micro(t["expires_at"].as_str().unwrap());
    assert_iso_micro(t["issued_at"].as_str().unwrap());
    assert!(t["expires_at"].as_str().unwrap() > t["issued_at"].as_str().unwrap());
    assert!(!t["catalog"].as_array().unwrap().is_empty());

    // Validate with itself as the caller.
    let res = h
        .client
        .get(h.url("/v3/auth/tokens"))
        .header("X-Auth-Token", &token)
        .header("X-Subject-Token", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["x-subject-token"], token.as_str());
    let validated: Value = res.json().await.unwrap();
    assert_eq!(validated["token"]["user"], t["user"]);
    assert_eq!(validated["token"]["audit_ids"], t["audit_ids"]);
    assert_eq!(validated["token"]["expires_at"], t["expires_at"]);

    // HEAD works too, without a body.
    let res = h
        .client
        .head(h.url("/v3/auth/tokens"))
        .header("X-Auth-Token", &token)
        .header("X-Subject-Token", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);

    // Another valid token revokes it.
    let other = h.admin_token().await;
    let res = h
        .client
        .delete(h.url("/v3/auth/tokens"))
        .header("X-Auth-Token", &other)
        .header("X-Subject-Token", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);

    let res = h
        .client
        .get(h.url("/v3/auth/tokens"))
        .header("X-Auth-Token", &other)
        .header("X-Subject-Token", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    let body: Value = res.json().await.unwrap();
    assert_ks_error(
        &body,
        404,
        "Not Found",
        &format!("Could not find token: {token}."),
    );

    // A revoked token can no longer be used as the caller either.
    let (status, body) = h.get("/v3/regions", &token).await;
    assert_eq!(status, 401);
    assert_ks_error(&body, 401, "Unauthorized", UNAUTHORIZED_MSG);

    // Revoking again: 404.
    let res = h
        .call(Method::DELETE, "/v3/auth/tokens", &other, None)
        .await;
    assert_eq!(res.status(), 404, "no subject token");
}

#[tokio::test]
async fn validate_requires_a_valid_caller_token() {
    let h = start().await;
    let token = h.admin_token().await;
    let res = h
        .client
        .get(h.url("/v3/auth/tokens"))
        .header("X-Auth-Token", "not-a-token")
        .header("X-Subject-Token", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let res = h
        .client
        .get(h.url("/v3/auth/tokens"))
        .header("X-Subject-Token", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    // Any valid caller may validate someone else's token.
    let demo = h.demo_token().await;
    let res = h
        .client
        .get(h.url("/v3/auth/tokens?nocatalog"))
        .header("X-Auth-Token", &demo)
        .header("X-Subject-Token", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["token"]["user"]["name"], "admin");
    assert!(body["token"].get("catalog").is_none(), "nocatalog honoured");
}

#[tokio::test]
async fn wrong_password_and_unknown_user_are_401() {
    let h = start().await;
    let mut creds = Credentials::admin(&h.cfg);
    creds.password = "wrong".into();
    for body in [
        creds.auth_request(),
        password_auth(
            json!({"name": "nobody", "domain": {"id": "default"}, "password": "x"}),
            None,
        ),
        password_auth(
            json!({"name": "admin", "domain": {"name": "NoSuchDomain"}, "password": h.cfg.admin_password}),
            None,
        ),
        password_auth(json!({"id": "no-such-id", "password": "x"}), None),
    ] {
        let res = h.auth(&body).await;
        assert_eq!(res.status(), 401, "{body}");
        assert_eq!(
            res.headers()["www-authenticate"],
            format!("Keystone uri=\"{}\"", h.base).as_str()
        );
        assert!(!res.headers().contains_key("x-subject-token"));
        let err: Value = res.json().await.unwrap();
        assert_eq!(
            err,
            json!({"error": {"code": 401, "message": UNAUTHORIZED_MSG, "title": "Unauthorized"}})
        );
    }
}

#[tokio::test]
async fn scope_by_id_and_by_name_and_unscoped() {
    let h = start().await;
    let (admin_token, admin_body) = h.login(&Credentials::admin(&h.cfg)).await;
    let user_id = admin_body["token"]["user"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let project_id = admin_body["token"]["project"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        project_id,
        id_of(&h, &admin_token, "projects", "admin").await
    );

    // User and project by id.
    let res = h
        .auth(&password_auth(
            json!({"id": user_id, "password": h.cfg.admin_password}),
            Some(json!({"project": {"id": project_id}})),
        ))
        .await;
    assert_eq!(res.status(), 201);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["token"]["project"]["id"], project_id.as_str());
    assert_eq!(body["token"]["user"]["name"], "admin");

    // User domain by id, project by name + domain id.
    let res = h
        .auth(&password_auth(
            json!({"name": "admin", "domain": {"id": "default"}, "password": h.cfg.admin_password}),
            Some(json!({"project": {"name": "admin", "domain": {"id": "default"}}})),
        ))
        .await;
    assert_eq!(res.status(), 201);

    // No scope: unscoped token without project, roles or catalog.
    let res = h
        .auth(&password_auth(
            json!({"name": "admin", "domain": {"name": "Default"}, "password": h.cfg.admin_password}),
            None,
        ))
        .await;
    assert_eq!(res.status(), 201);
    let body: Value = res.json().await.unwrap();
    let t = &body["token"];
    assert!(t.get("project").is_none());
    assert!(t.get("roles").is_none());
    assert!(t.get("catalog").is_none());
    assert_eq!(t["user"]["id"], user_id.as_str());
}

#[tokio::test]
async fn scope_refusals() {
    let h = start().await;
    let demo = Credentials::demo(&h.cfg);
    let demo_user =
        json!({"name": "demo", "domain": {"name": "Default"}, "password": demo.password});

    // demo has no role on the admin project.
    let res = h
        .auth(&password_auth(
            demo_user.clone(),
            Some(json!({"project": {"name": "admin", "domain": {"name": "Default"}}})),
        ))
        .await;
    assert_eq!(res.status(), 401);
    // Unknown project.
    let res = h
        .auth(&password_auth(
            demo_user.clone(),
            Some(json!({"project": {"id": "nope"}})),
        ))
        .await;
    assert_eq!(res.status(), 401);
    // Domain and system scope: nobody has such roles here.
    for scope in [
        json!({"domain": {"id": "default"}}),
        json!({"system": {"all": true}}),
    ] {
        let res = h.auth(&password_auth(demo_user.clone(), Some(scope))).await;
        assert_eq!(res.status(), 401);
    }
    // Project by name without a domain is malformed.
    let res = h
        .auth(&password_auth(
            demo_user.clone(),
            Some(json!({"project": {"name": "demo"}})),
        ))
        .await;
    assert_eq!(res.status(), 400);
    // User by name without a domain is malformed.
    let res = h
        .auth(&password_auth(
            json!({"name": "demo", "password": demo.password}),
            None,
        ))
        .await;
    assert_eq!(res.status(), 400);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["title"], "Bad Request");
    // Unsupported method.
    let res = h
        .auth(&json!({"auth": {"identity": {"methods": ["totp"], "totp": {}}}}))
        .await;
    assert_eq!(res.status(), 401);
}

#[tokio::test]
async fn token_method_rescopes_and_keeps_expiry_and_audit_chain() {
    let h = start().await;
    let res = h
        .auth(&password_auth(
            json!({"name": "admin", "domain": {"name": "Default"}, "password": h.cfg.admin_password}),
            None,
        ))
        .await;
    assert_eq!(res.status(), 201);
    let unscoped = res.headers()["x-subject-token"]
        .to_str()
        .unwrap()
        .to_string();
    let unscoped_body: Value = res.json().await.unwrap();

    let res = h
        .auth(&json!({"auth": {
            "identity": {"methods": ["token"], "token": {"id": unscoped}},
            "scope": {"project": {"name": "admin", "domain": {"name": "Default"}}},
        }}))
        .await;
    assert_eq!(res.status(), 201);
    let scoped = res.headers()["x-subject-token"]
        .to_str()
        .unwrap()
        .to_string();
    assert_ne!(scoped, unscoped);
    let body: Value = res.json().await.unwrap();
    let t = &body["token"];
    assert_eq!(t["methods"], json!(["token", "password"]));
    assert_eq!(t["project"]["name"], "admin");
    assert_eq!(t["expires_at"], unscoped_body["token"]["expires_at"]);
    let audit = t["audit_ids"].as_array().unwrap();
    assert_eq!(audit.len(), 2);
    assert_eq!(audit[1], unscoped_body["token"]["audit_ids"][0]);

    // Revoking the original (cascade, Keystone's default) takes the rescoped one too.
    h.identity.revoke(&unscoped);
    assert!(h.identity.validate(&scoped).is_none());

    // A token method with an invalid token is 401.
    let res = h
        .auth(&json!({"auth": {"identity": {"methods": ["token"], "token": {"id": unscoped}}}}))
        .await;
    assert_eq!(res.status(), 401);
}

#[tokio::test]
async fn catalog_lists_pod_endpoints_with_project_id_substituted() {
    let h = start().await;
    let (token, body) = h.login(&Credentials::admin(&h.cfg)).await;
    let project_id = body["token"]["project"]["id"].as_str().unwrap().to_string();
    let catalog = body["token"]["catalog"].as_array().unwrap().clone();

    let find = |svc_type: &str, region: &str, iface: &str| -> String {
        let svc = catalog
            .iter()
            .find(|s| s["type"] == svc_type)
            .unwrap_or_else(|| panic!("no {svc_type} in catalog"));
        let ep = svc["endpoints"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["region_id"] == region && e["interface"] == iface)
            .unwrap_or_else(|| panic!("no {svc_type} {region} {iface}"));
        assert_eq!(ep["region"], region);
        assert!(ep["id"].is_string());
        ep["url"].as_str().unwrap().to_string()
    };
    assert_eq!(
        find("volumev3", "Pod1", "public"),
        format!("{}/volume/v3/{project_id}", h.pod1)
    );
    assert_eq!(
        find("volumev3", "Pod1", "internal"),
        format!("{}/volume/v3/{project_id}", h.pod1)
    );
    assert_eq!(
        find("compute", "Pod1", "admin"),
        format!("{}/compute/v2.1", h.pod1)
    );
    assert_eq!(
        find("network", "Pod1", "public"),
        format!("{}/network", h.pod1)
    );
    assert_eq!(find("image", "Pod1", "public"), format!("{}/image", h.pod1));
    // The identity service is reachable in RegionOne and in the pod's region.
    assert_eq!(find("identity", "Pod1", "public"), format!("{}/v3", h.base));
    assert_eq!(
        find("identity", "RegionOne", "public"),
        format!("{}/v3", h.base)
    );
    let services: Vec<(&str, &str)> = catalog
        .iter()
        .map(|s| (s["type"].as_str().unwrap(), s["name"].as_str().unwrap()))
        .collect();
    for pair in [
        ("identity", "keystone"),
        ("compute", "nova"),
        ("volumev3", "cinderv3"),
        ("network", "neutron"),
        ("image", "glance"),
    ] {
        assert!(services.contains(&pair), "{pair:?} in {services:?}");
    }

    // /v3/auth/catalog gives the same catalog.
    let (status, auth_catalog) = h.get("/v3/auth/catalog", &token).await;
    assert_eq!(status, 200);
    assert_eq!(auth_catalog["catalog"], Value::Array(catalog.clone()));
    assert_eq!(
        auth_catalog["links"]["self"],
        format!("{}/v3/auth/catalog", h.base)
    );

    // /v3/endpoints keeps the raw template.
    let (status, eps) = h
        .get("/v3/endpoints?interface=public&region_id=Pod1", &token)
        .await;
    assert_eq!(status, 200);
    let urls = names(&eps["endpoints"], "url");
    assert!(
        urls.contains(&format!("{}/volume/v3/$(project_id)s", h.pod1)),
        "{urls:?}"
    );

    // An unscoped token cannot produce a catalog.
    let res = h
        .auth(&password_auth(
            json!({"name": "admin", "domain": {"name": "Default"}, "password": h.cfg.admin_password}),
            None,
        ))
        .await;
    let unscoped = res.headers()["x-subject-token"]
        .to_str()
        .unwrap()
        .to_string();
    let (status, _) = h.get("/v3/auth/catalog", &unscoped).await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn nocatalog_omits_the_catalog() {
    let h = start().await;
    let res = h
        .client
        .post(h.url("/v3/auth/tokens?nocatalog"))
        .json(&Credentials::service(&h.cfg).auth_request())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let body: Value = res.json().await.unwrap();
    assert!(body["token"].get("catalog").is_none());
    assert_eq!(body["token"]["project"]["name"], "service");
    assert_eq!(
        names(&body["token"]["roles"], "name"),
        ["admin", "service", "member", "reader"]
    );
}

#[tokio::test]
async fn auth_projects_lists_the_users_projects() {
    let h = start().await;
    let token = h.demo_token().await;
    let (status, body) = h.get("/v3/auth/projects", &token).await;
    assert_eq!(status, 200);
    assert_eq!(names(&body["projects"], "name"), ["demo"]);
    assert_eq!(
        body["links"]["self"],
        format!("{}/v3/auth/projects", h.base)
    );
    assert_eq!(body["links"]["next"], Value::Null);
}

#[tokio::test]
async fn expired_tokens_are_not_found() {
    let h = start_with_ttl(Duration::from_millis(300)).await;
    let token = h.admin_token().await;
    assert!(h.identity.validate(&token).is_some());
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(h.identity.validate(&token).is_none());
    let fresh = h
        .identity
        .issue_token("admin", "admin")
        .expect("admin has a role on admin");
    let res = h
        .client
        .get(h.url("/v3/auth/tokens"))
        .header("X-Auth-Token", &fresh)
        .header("X-Subject-Token", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
}

// ------------------------------------------------------------ in-process API

#[tokio::test]
async fn in_process_helpers() {
    let h = start().await;
    assert!(
        h.identity.issue_token("demo", "admin").is_none(),
        "no role there"
    );
    assert!(h.identity.issue_token("nobody", "admin").is_none());
    assert_eq!(
        Credentials::service(h.identity.config()),
        Credentials::service(&h.cfg)
    );
    assert_eq!(h.identity.auth_url(), format!("{}/v3", h.base));
    let token = h.identity.issue_token("tricircle", "service").unwrap();
    let body = h.identity.validate(&token).unwrap();
    assert_eq!(body["token"]["user"]["name"], "tricircle");
    assert_eq!(body["token"]["project"]["name"], "service");
    assert!(body["token"]["catalog"].is_array());
    // Works over HTTP as well.
    let (status, _) = h.get("/v3/regions", &token).await;
    assert_eq!(status, 200);
    h.identity.revoke(&token);
    assert!(h.identity.validate(&token).is_none());

    // register_pod / add_endpoint are idempotent.
    let admin = h.admin_token().await;
    let (_, before) = h.get("/v3/endpoints", &admin).await;
    h.identity.register_pod("Pod1", &h.pod1);
    let (_, after) = h.get("/v3/endpoints", &admin).await;
    assert_eq!(
        before["endpoints"].as_array().unwrap().len(),
        after["endpoints"].as_array().unwrap().len()
    );
    let sid = h.identity.add_service("compute", "ignored");
    let (_, svc) = h.get(&format!("/v3/services/{sid}"), &admin).await;
    assert_eq!(svc["service"]["name"], "nova");

    h.identity.add_endpoint(
        "Pod9",
        "object-store",
        "public",
        "http://127.0.0.1:1/v1/AUTH_$(tenant_id)s",
    );
    let body = h.identity.validate(&admin).unwrap();
    let pid = body["token"]["project"]["id"].as_str().unwrap();
    let swift = body["token"]["catalog"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["type"] == "object-store")
        .unwrap();
    assert_eq!(
        swift["endpoints"][0]["url"],
        format!("http://127.0.0.1:1/v1/AUTH_{pid}")
    );
    let (status, _) = h.get("/v3/regions/Pod9", &admin).await;
    assert_eq!(status, 200);
}

// ------------------------------------------------------- policy and errors

#[tokio::test]
async fn requests_without_a_valid_token_are_401_with_www_authenticate() {
    let h = start().await;
    for path in [
        "/v3/regions",
        "/v3/projects",
        "/v3/users",
        "/v3/auth/catalog",
    ] {
        let res = h.client.get(h.url(path)).send().await.unwrap();
        assert_eq!(res.status(), 401, "{path}");
        assert_eq!(
            res.headers()["www-authenticate"],
            format!("Keystone uri=\"{}\"", h.base).as_str()
        );
        let body: Value = res.json().await.unwrap();
        assert_ks_error(&body, 401, "Unauthorized", UNAUTHORIZED_MSG);
    }
    let (status, _) = h.get("/v3/regions", "gAAAAAbogus").await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn member_cannot_write() {
    let h = start().await;
    let demo = h.demo_token().await;
    let res = h
        .call(
            Method::POST,
            "/v3/regions",
            &demo,
            Some(&json!({"region": {"id": "Evil"}})),
        )
        .await;
    assert_eq!(res.status(), 403);
    let body: Value = res.json().await.unwrap();
    assert_ks_error(
        &body,
        403,
        "Forbidden",
        "You are not authorized to perform the requested action: identity:create_region.",
    );
    for (method, path, body) in [
        (
            Method::POST,
            "/v3/projects",
            json!({"project": {"name": "x"}}),
        ),
        (Method::POST, "/v3/users", json!({"user": {"name": "x"}})),
        (
            Method::POST,
            "/v3/services",
            json!({"service": {"type": "x"}}),
        ),
        (Method::DELETE, "/v3/regions/RegionOne", json!({})),
    ] {
        let res = h.call(method, path, &demo, Some(&body)).await;
        assert_eq!(res.status(), 403, "{path}");
    }
    // Reads are fine.
    let (status, body) = h.get("/v3/regions", &demo).await;
    assert_eq!(status, 200);
    assert!(names(&body["regions"], "id").contains(&"Pod1".to_string()));
}

#[tokio::test]
async fn not_found_errors() {
    let h = start().await;
    let admin = h.admin_token().await;
    for (path, message) in [
        ("/v3/projects/nope", "Could not find project: nope."),
        ("/v3/users/nope", "Could not find user: nope."),
        ("/v3/regions/nope", "Could not find region: nope."),
        ("/v3/services/nope", "Could not find service: nope."),
        ("/v3/endpoints/nope", "Could not find endpoint: nope."),
        ("/v3/roles/nope", "Could not find role: nope."),
        ("/v3/domains/nope", "Could not find domain: nope."),
        ("/v3/no-such-thing", "The resource could not be found."),
    ] {
        let (status, body) = h.get(path, &admin).await;
        assert_eq!(status, 404, "{path}");
        assert_ks_error(&body, 404, "Not Found", message);
    }
    let res = h
        .call(Method::DELETE, "/v3/projects/nope", &admin, None)
        .await;
    assert_eq!(res.status(), 404);
}

#[tokio::test]
async fn malformed_bodies_are_400() {
    let h = start().await;
    let admin = h.admin_token().await;
    let res = h
        .client
        .post(h.url("/v3/auth/tokens"))
        .header("Content-Type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let body: Value = res.json().await.unwrap();
    assert_ks_error(
        &body,
        400,
        "Bad Request",
        "Expecting to find valid JSON in request body. The server could not comply with the \
         request since it is either malformed or otherwise incorrect. The client is assumed to \
         be in error.",
    );
    for bad in [
        json!({}),
        json!({"auth": {}}),
        json!({"auth": {"identity": {"methods": "password"}}}),
        json!({"auth": {"identity": {"methods": []}}}),
        json!({"auth": {"identity": {"methods": ["password"]}}}),
        json!([1, 2]),
    ] {
        let res = h.auth(&bad).await;
        assert_eq!(res.status(), 400, "{bad}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["error"]["code"], 400);
    }
    let res = h
        .client
        .post(h.url("/v3/regions"))
        .header("X-Auth-Token", &admin)
        .header("Content-Type", "application/json")
        .body("[")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let res = h
        .call(
            Method::POST,
            "/v3/services",
            &admin,
            Some(&json!({"service": {"name": "no type"}})),
        )
        .await;
    assert_eq!(res.status(), 400);
}

// -------------------------------------------------------------- resources

#[tokio::test]
async fn region_service_endpoint_crud() {
    let h = start().await;
    let admin = h.admin_token().await;

    let res = h
        .call(
            Method::POST,
            "/v3/regions",
            &admin,
            Some(&json!({"region": {"id": "Pod7", "description": "seventh"}})),
        )
        .await;
    assert_eq!(res.status(), 201);
    let body: Value = res.json().await.unwrap();
    assert_eq!(
        body["region"],
        json!({"id": "Pod7", "description": "seventh", "parent_region_id": null,
               "links": {"self": format!("{}/v3/regions/Pod7", h.base)}})
    );
    let res = h
        .call(
            Method::POST,
            "/v3/regions",
            &admin,
            Some(&json!({"region": {"id": "Pod7"}})),
        )
        .await;
    assert_eq!(res.status(), 409);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["title"], "Conflict");

    let res = h
        .call(
            Method::POST,
            "/v3/services",
            &admin,
            Some(&json!({"service": {"type": "object-store", "name": "swift"}})),
        )
        .await;
    assert_eq!(res.status(), 201);
    let svc: Value = res.json().await.unwrap();
    let sid = svc["service"]["id"].as_str().unwrap().to_string();
    assert_eq!(svc["service"]["enabled"], true);

    let res = h
        .call(
            Method::POST,
            "/v3/endpoints",
            &admin,
            Some(&json!({"endpoint": {
                "service_id": sid, "interface": "public", "region_id": "Pod7",
                "url": "http://127.0.0.1:8080/v1/AUTH_$(project_id)s"}})),
        )
        .await;
    assert_eq!(res.status(), 201);
    let ep: Value = res.json().await.unwrap();
    let e = &ep["endpoint"];
    let eid = e["id"].as_str().unwrap().to_string();
    assert_eq!(e["region"], "Pod7");
    assert_eq!(e["region_id"], "Pod7");
    assert_eq!(e["service_id"], sid.as_str());
    assert_eq!(e["enabled"], true);
    assert_eq!(e["links"]["self"], format!("{}/v3/endpoints/{eid}", h.base));

    let bad = h
        .call(
            Method::POST,
            "/v3/endpoints",
            &admin,
            Some(
                &json!({"endpoint": {"service_id": sid, "interface": "sideways",
                                      "url": "http://127.0.0.1:1/"}}),
            ),
        )
        .await;
    assert_eq!(bad.status(), 400);

    let (status, list) = h
        .get(&format!("/v3/endpoints?service_id={sid}"), &admin)
        .await;
    assert_eq!(status, 200);
    assert_eq!(names(&list["endpoints"], "id"), vec![eid.as_str()]);
    assert_eq!(list["links"]["previous"], Value::Null);
    assert_eq!(
        list["links"]["self"],
        format!("{}/v3/endpoints?service_id={sid}", h.base)
    );

    // A region with endpoints cannot go.
    let res = h
        .call(Method::DELETE, "/v3/regions/Pod7", &admin, None)
        .await;
    assert_eq!(res.status(), 403);
    // Deleting the service deletes its endpoints.
    let res = h
        .call(Method::DELETE, &format!("/v3/services/{sid}"), &admin, None)
        .await;
    assert_eq!(res.status(), 204);
    let (status, _) = h.get(&format!("/v3/endpoints/{eid}"), &admin).await;
    assert_eq!(status, 404);
    let res = h
        .call(Method::DELETE, "/v3/regions/Pod7", &admin, None)
        .await;
    assert_eq!(res.status(), 204);
    let (status, _) = h.get("/v3/regions/Pod7", &admin).await;
    assert_eq!(status, 404);

    // PUT creates a region with the id from the URL.
    let res = h
        .call(
            Method::PUT,
            "/v3/regions/Pod8",
            &admin,
            Some(&json!({"region": {}})),
        )
        .await;
    assert_eq!(res.status(), 201);
}

#[tokio::test]
async fn list_filters() {
    let h = start().await;
    let admin = h.admin_token().await;

    let (_, body) = h
        .get("/v3/endpoints?interface=public&region_id=Pod1", &admin)
        .await;
    let eps = body["endpoints"].as_array().unwrap();
    assert_eq!(eps.len(), 5, "identity + 4 pod services");
    assert!(eps
        .iter()
        .all(|e| e["interface"] == "public" && e["region_id"] == "Pod1"));

    let (_, body) = h.get("/v3/endpoints?interface=admin", &admin).await;
    assert_eq!(
        body["endpoints"].as_array().unwrap().len(),
        6,
        "RegionOne + Pod1 identity, 4 pod"
    );

    let (_, body) = h.get("/v3/services?type=compute", &admin).await;
    assert_eq!(names(&body["services"], "name"), ["nova"]);
    let (_, body) = h.get("/v3/services", &admin).await;
    assert_eq!(body["services"].as_array().unwrap().len(), 5);

    let (_, body) = h.get("/v3/projects?name=demo", &admin).await;
    assert_eq!(names(&body["projects"], "name"), ["demo"]);
    assert_eq!(body["projects"][0]["domain_id"], "default");
    assert_eq!(body["projects"][0]["parent_id"], "default");
    let (_, body) = h.get("/v3/projects?domain_id=default", &admin).await;
    assert_eq!(
        names(&body["projects"], "name"),
        ["admin", "service", "demo"]
    );
    let (_, body) = h.get("/v3/projects?domain_id=other", &admin).await;
    assert!(body["projects"].as_array().unwrap().is_empty());

    let (_, body) = h.get("/v3/users?name=tricircle", &admin).await;
    assert_eq!(names(&body["users"], "name"), ["tricircle"]);
    assert!(
        body["users"][0].get("password").is_none(),
        "never expose passwords"
    );
    let (_, body) = h.get("/v3/roles?name=member", &admin).await;
    assert_eq!(names(&body["roles"], "name"), ["member"]);
    let (_, body) = h.get("/v3/domains?name=Default", &admin).await;
    assert_eq!(names(&body["domains"], "id"), ["default"]);
    let (_, body) = h.get("/v3/regions", &admin).await;
    assert_eq!(names(&body["regions"], "id"), ["RegionOne", "Pod1"]);

    let tricircle = id_of(&h, &admin, "users", "tricircle").await;
    let service = id_of(&h, &admin, "projects", "service").await;
    let (_, body) = h
        .get(
            &format!("/v3/role_assignments?user.id={tricircle}&scope.project.id={service}"),
            &admin,
        )
        .await;
    let ras = body["role_assignments"].as_array().unwrap();
    assert_eq!(ras.len(), 2);
    assert_eq!(ras[0]["user"]["id"], tricircle.as_str());
    assert_eq!(ras[0]["scope"]["project"]["id"], service.as_str());
    assert!(ras[0]["links"]["assignment"]
        .as_str()
        .unwrap()
        .starts_with(&format!(
            "{}/v3/projects/{service}/users/{tricircle}/roles/",
            h.base
        )));

    let (_, body) = h
        .get(
            &format!("/v3/role_assignments?user.id={tricircle}&effective&include_names"),
            &admin,
        )
        .await;
    let mut roles: Vec<String> = body["role_assignments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|ra| ra["role"]["name"].as_str().unwrap().to_string())
        .collect();
    roles.sort();
    assert_eq!(roles, ["admin", "member", "reader", "service"]);
    assert_eq!(
        body["role_assignments"][0]["user"]["domain"],
        json!({"id": "default", "name": "Default"})
    );
    assert_eq!(
        body["role_assignments"][0]["scope"]["project"]["name"],
        "service"
    );

    let (_, body) = h.get("/v3/role_assignments?group.id=x", &admin).await;
    assert!(body["role_assignments"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn project_user_grant_lifecycle() {
    let h = start().await;
    let admin = h.admin_token().await;

    let res = h
        .call(
            Method::POST,
            "/v3/projects",
            &admin,
            Some(&json!({"project": {"name": "tenant1", "description": "t1", "tags": ["a"]}})),
        )
        .await;
    assert_eq!(res.status(), 201);
    let project: Value = res.json().await.unwrap();
    let pid = project["project"]["id"].as_str().unwrap().to_string();
    assert_eq!(project["project"]["domain_id"], "default");
    assert_eq!(project["project"]["tags"], json!(["a"]));
    let dup = h
        .call(
            Method::POST,
            "/v3/projects",
            &admin,
            Some(&json!({"project": {"name": "tenant1"}})),
        )
        .await;
    assert_eq!(dup.status(), 409);

    let res = h
        .call(
            Method::POST,
            "/v3/users",
            &admin,
            Some(&json!({"user": {"name": "alice", "password": "wonderland",
                                  "default_project_id": pid, "email": "a@example.org"}})),
        )
        .await;
    assert_eq!(res.status(), 201);
    let user: Value = res.json().await.unwrap();
    let uid = user["user"]["id"].as_str().unwrap().to_string();
    assert!(user["user"].get("password").is_none());
    assert_eq!(user["user"]["email"], "a@example.org");
    assert_eq!(user["user"]["default_project_id"], pid.as_str());

    let alice = json!({"name": "alice", "domain": {"name": "Default"}, "password": "wonderland"});
    let scope = json!({"project": {"id": pid}});
    // No role yet: 401.
    let res = h
        .auth(&password_auth(alice.clone(), Some(scope.clone())))
        .await;
    assert_eq!(res.status(), 401);

    let member = id_of(&h, &admin, "roles", "member").await;
    let grant = format!("/v3/projects/{pid}/users/{uid}/roles/{member}");
    let (status, _) = h.get(&grant, &admin).await;
    assert_eq!(status, 404);
    let res = h.call(Method::PUT, &grant, &admin, None).await;
    assert_eq!(res.status(), 204);
    let res = h.call(Method::HEAD, &grant, &admin, None).await;
    assert_eq!(res.status(), 204);
    let (status, roles) = h
        .get(&format!("/v3/projects/{pid}/users/{uid}/roles"), &admin)
        .await;
    assert_eq!(status, 200);
    assert_eq!(names(&roles["roles"], "name"), ["member"]);

    let res = h.auth(&password_auth(alice.clone(), Some(scope))).await;
    assert_eq!(res.status(), 201);
    let token = res.headers()["x-subject-token"]
        .to_str()
        .unwrap()
        .to_string();
    let body: Value = res.json().await.unwrap();
    assert_eq!(names(&body["token"]["roles"], "name"), ["member", "reader"]);
    // Without a scope the default project is used.
    let res = h.auth(&password_auth(alice.clone(), None)).await;
    assert_eq!(res.status(), 201);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["token"]["project"]["id"], pid.as_str());

    let (_, body) = h.get(&format!("/v3/users/{uid}/projects"), &admin).await;
    assert_eq!(names(&body["projects"], "name"), ["tenant1"]);

    // Revoking the grant invalidates the project-scoped token.
    let res = h.call(Method::DELETE, &grant, &admin, None).await;
    assert_eq!(res.status(), 204);
    assert!(h.identity.validate(&token).is_none());
    let res = h.call(Method::DELETE, &grant, &admin, None).await;
    assert_eq!(res.status(), 404);

    // Deleting the user and project.
    let res = h
        .call(Method::DELETE, &format!("/v3/users/{uid}"), &admin, None)
        .await;
    assert_eq!(res.status(), 204);
    let res = h.auth(&password_auth(alice, None)).await;
    assert_eq!(res.status(), 401);
    let res = h
        .call(Method::DELETE, &format!("/v3/projects/{pid}"), &admin, None)
        .await;
    assert_eq!(res.status(), 204);
    let (status, _) = h.get(&format!("/v3/projects/{pid}"), &admin).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn method_not_allowed_is_a_keystone_error() {
    let h = start().await;
    let admin = h.admin_token().await;
    let res = h
        .call(Method::PATCH, "/v3/role_assignments", &admin, None)
        .await;
    assert_eq!(res.status(), 405);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], 405);
    assert_eq!(body["error"]["title"], "Method Not Allowed");
}
