//! Against a real Keystone (PyPI `keystone`), started by `scripts/test`
//! (tests/e2e/keystone.sh), which exports `TRICIRCLE_TEST_KEYSTONE_*`.
//! Without it the test is skipped, unless `TRICIRCLE_REQUIRE_KEYSTONE=1`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use tricircle_pods::endpoints::substitute;
use tricircle_pods::{
    AuthError, EndpointResolver, Interface, KeystoneClient, ServiceCredentials, TokenValidator,
    ValidatorConfig,
};

fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set"))
}

fn keystone_url() -> Option<String> {
    match std::env::var("TRICIRCLE_TEST_KEYSTONE_URL") {
        Ok(u) if !u.is_empty() => Some(u),
        _ => {
            if std::env::var("TRICIRCLE_REQUIRE_KEYSTONE").as_deref() == Ok("1") {
                panic!("TRICIRCLE_REQUIRE_KEYSTONE=1 but TRICIRCLE_TEST_KEYSTONE_URL is not set");
            }
            eprintln!("note: TRICIRCLE_TEST_KEYSTONE_URL unset; real Keystone test skipped");
            None
        }
    }
}

fn client(url: &str) -> Arc<KeystoneClient> {
    Arc::new(
        KeystoneClient::new(
            ServiceCredentials {
                auth_url: url.into(),
                username: var("TRICIRCLE_TEST_KEYSTONE_SERVICE_USER"),
                password: var("TRICIRCLE_TEST_KEYSTONE_SERVICE_PASSWORD"),
                project_name: var("TRICIRCLE_TEST_KEYSTONE_SERVICE_PROJECT"),
                user_domain_name: "Default".into(),
                project_domain_name: "Default".into(),
            },
            Duration::from_secs(30),
        )
        .unwrap(),
    )
}

#[tokio::test]
async fn real_keystone_tokens_and_catalog() {
    let Some(url) = keystone_url() else { return };
    let ks = client(&url);
    let validator = TokenValidator::new(
        ks.clone(),
        &ValidatorConfig {
            cache_ttl: Duration::from_secs(1),
            ..Default::default()
        },
    );

    let (admin_token, _) = ks
        .password_token(
            &var("TRICIRCLE_TEST_KEYSTONE_ADMIN_USER"),
            &var("TRICIRCLE_TEST_KEYSTONE_ADMIN_PASSWORD"),
            "Default",
            &var("TRICIRCLE_TEST_KEYSTONE_ADMIN_PROJECT"),
            "Default",
        )
        .await
        .unwrap();
    let info = validator.validate(&admin_token).await.unwrap();
    assert!(info.is_admin(), "{info:?}");
    assert_eq!(
        info.project_name,
        var("TRICIRCLE_TEST_KEYSTONE_ADMIN_PROJECT")
    );

    let (demo_token, _) = ks
        .password_token(
            &var("TRICIRCLE_TEST_KEYSTONE_DEMO_USER"),
            &var("TRICIRCLE_TEST_KEYSTONE_DEMO_PASSWORD"),
            "Default",
            &var("TRICIRCLE_TEST_KEYSTONE_DEMO_PROJECT"),
            "Default",
        )
        .await
        .unwrap();
    let demo = validator.validate(&demo_token).await.unwrap();
    assert!(!demo.is_admin() && demo.has_role("member"), "{demo:?}");

    assert!(matches!(
        validator.validate("gAAAAAnot-a-real-fernet-token").await,
        Err(AuthError::InvalidToken)
    ));
    assert!(ks
        .password_token(
            &var("TRICIRCLE_TEST_KEYSTONE_DEMO_USER"),
            "wrong",
            "Default",
            "demo",
            "Default"
        )
        .await
        .is_err());

    // Revoke the demo token at Keystone: refused once the cache entry ages out.
    let http = reqwest::Client::new();
    let r = http
        .delete(format!("{}/auth/tokens", ks.base_url()))
        .header("x-auth-token", &admin_token)
        .header("x-subject-token", &demo_token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(matches!(
        validator.validate(&demo_token).await,
        Err(AuthError::InvalidToken)
    ));

    // Pod endpoints from the real catalog, URL templates intact.
    let resolver = EndpointResolver::new(ks, None, Interface::Public);
    let volume = resolver.endpoint("Pod1", "volumev3").await.unwrap();
    assert!(volume.contains("$(project_id)s"), "{volume}");
    assert!(substitute(&volume, &demo.project_id).ends_with(&demo.project_id));
    let compute1 = resolver.endpoint("Pod1", "compute").await.unwrap();
    let compute2 = resolver.endpoint("Pod2", "compute").await.unwrap();
    assert!(compute1.starts_with("http://127.0.0.1") && compute1 != compute2);
    assert!(resolver.endpoint("Pod1", "identity").await.is_ok());
    assert!(resolver.endpoint("NoSuchPod", "compute").await.is_err());
}
