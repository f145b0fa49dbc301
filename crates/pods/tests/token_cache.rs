//! Token validation hits Keystone once per token per cache period, however
//! many requests carry it at once.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::post;
use serde_json::json;
use tokio::net::TcpListener;
use tricircle_pods::{
    AuthError, KeystoneClient, ServiceCredentials, TokenValidator, ValidatorConfig,
};

/// A Keystone that knows one valid token ("good") and counts validations.
async fn counting_keystone(validations: Arc<AtomicUsize>) -> String {
    let token_body = |exp: &str| {
        json!({"token": {"expires_at": exp, "user": {"id": "u1", "name": "alice"},
            "project": {"id": "p1", "name": "proj"}, "roles": [{"id": "r", "name": "member"}]}})
    };
    let issue = move || async move {
        let mut h = HeaderMap::new();
        h.insert("x-subject-token", "service-token".parse().unwrap());
        (
            StatusCode::CREATED,
            h,
            axum::Json(token_body("2999-01-01T00:00:00.000000Z")),
        )
    };
    let validate = move |headers: HeaderMap| {
        let validations = validations.clone();
        async move {
            validations.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(100)).await;
            match headers.get("x-subject-token").and_then(|v| v.to_str().ok()) {
                Some("good") => {
                    axum::Json(token_body("2999-01-01T00:00:00.000000Z")).into_response()
                }
                _ => StatusCode::NOT_FOUND.into_response(),
            }
        }
    };
    let app = axum::Router::new().route("/v3/auth/tokens", post(issue).get(validate));
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v3", l.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l, app).await });
    url
}

fn validator(url: &str, ttl: Duration) -> TokenValidator {
    let ks = KeystoneClient::new(
        ServiceCredentials {
            auth_url: url.into(),
            username: "tricircle".into(),
            password: "x".into(),
            project_name: "service".into(),
            user_domain_name: "Default".into(),
            project_domain_name: "Default".into(),
        },
        Duration::from_secs(5),
    )
    .unwrap();
    TokenValidator::new(
        Arc::new(ks),
        &ValidatorConfig {
            cache_ttl: ttl,
            ..Default::default()
        },
    )
}

#[tokio::test]
async fn concurrent_validations_share_one_keystone_call() {
    let count = Arc::new(AtomicUsize::new(0));
    let v = validator(
        &counting_keystone(count.clone()).await,
        Duration::from_secs(60),
    );
    let results = futures::future::join_all((0..20).map(|_| v.validate("good"))).await;
    assert!(results
        .iter()
        .all(|r| r.as_ref().is_ok_and(|i| i.user_name == "alice")));
    assert_eq!(count.load(Ordering::SeqCst), 1);
    // Cached afterwards.
    v.validate("good").await.unwrap();
    assert_eq!(count.load(Ordering::SeqCst), 1);
    // Invalid tokens are cached too (a flood of garbage costs one call each).
    for _ in 0..3 {
        assert!(matches!(
            v.validate("bad").await,
            Err(AuthError::InvalidToken)
        ));
    }
    assert_eq!(count.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn entries_expire_after_the_cache_time() {
    let count = Arc::new(AtomicUsize::new(0));
    let v = validator(
        &counting_keystone(count.clone()).await,
        Duration::from_millis(200),
    );
    v.validate("good").await.unwrap();
    tokio::time::sleep(Duration::from_millis(350)).await;
    v.validate("good").await.unwrap();
    assert_eq!(count.load(Ordering::SeqCst), 2);
}
