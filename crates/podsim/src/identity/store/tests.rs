use super::catalog::substitute_url;
use super::*;

fn store() -> Store {
    Store::new(&IdentityConfig::default())
}

#[test]
fn seeds_bootstrap_entities() {
    let s = store();
    for p in ["admin", "service", "demo"] {
        assert!(s.project_by_name(p, DEFAULT_DOMAIN_ID).is_some(), "{p}");
    }
    for u in ["admin", "tricircle", "demo"] {
        assert!(s.user_by_name(u, DEFAULT_DOMAIN_ID).is_some(), "{u}");
    }
    for r in ["admin", "member", "reader", "service"] {
        assert!(s.role_by_name(r).is_some(), "{r}");
    }
    assert!(s.region("RegionOne").is_some());
    let keystone = s.service_by_type("identity").map(|s| s.name.clone());
    assert_eq!(keystone.as_deref(), Some("keystone"));
    assert_eq!(s.endpoints.len(), 3);
}

#[test]
fn admin_role_implies_member_and_reader() {
    let s = store();
    let admin = s
        .user_by_name("admin", DEFAULT_DOMAIN_ID)
        .map(|u| u.id.clone());
    let project = s
        .project_by_name("admin", DEFAULT_DOMAIN_ID)
        .map(|p| p.id.clone());
    let (Some(admin), Some(project)) = (admin, project) else {
        panic!("seed missing")
    };
    let names: Vec<&str> = s
        .effective_roles(&admin, &project)
        .iter()
        .map(|r| r.name.as_str())
        .collect();
    assert_eq!(names, vec!["admin", "member", "reader"]);
}

#[test]
fn substitutes_project_templates() {
    assert_eq!(
        substitute_url("http://x/volume/v3/$(project_id)s", "p1", "u1"),
        "http://x/volume/v3/p1"
    );
    assert_eq!(
        substitute_url("http://x/v1/AUTH_%(tenant_id)s/$(user_id)s", "p1", "u1"),
        "http://x/v1/AUTH_p1/u1"
    );
}

fn admin_chain(s: &mut Store) -> (String, String, String) {
    let Some(uid) = s
        .user_by_name("admin", DEFAULT_DOMAIN_ID)
        .map(|u| u.id.clone())
    else {
        panic!("seed missing")
    };
    let (parent, parent_rec) = s.mint(&uid, Scope::Unscoped, vec!["password".into()], None);
    let (child, _) = s.mint(
        &uid,
        Scope::Unscoped,
        vec!["token".into()],
        Some(&parent_rec),
    );
    let (sibling, _) = s.mint(
        &uid,
        Scope::Unscoped,
        vec!["token".into()],
        Some(&parent_rec),
    );
    (parent, child, sibling)
}

#[test]
fn cascading_revocation_takes_the_whole_audit_chain() {
    let mut s = store();
    let (parent, child, sibling) = admin_chain(&mut s);
    assert!(s.valid_token(&child).is_some());
    assert!(s.revoke(&child, true));
    assert!(s.valid_token(&parent).is_none());
    assert!(s.valid_token(&child).is_none());
    assert!(s.valid_token(&sibling).is_none());
    assert!(!s.revoke(&parent, true));
}

#[test]
fn non_cascading_revocation_takes_only_that_token() {
    let mut s = store();
    let (parent, child, sibling) = admin_chain(&mut s);
    assert!(s.revoke(&child, false));
    assert!(s.valid_token(&child).is_none());
    assert!(s.valid_token(&parent).is_some());
    assert!(s.valid_token(&sibling).is_some());
}
