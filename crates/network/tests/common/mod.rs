//! What the network domain's test binaries share: the callers' scopes.
#![allow(dead_code)]

use tricircle_network::Scope;

/// An admin of project `admin-project`.
pub fn admin() -> Scope {
    Scope {
        project_id: "admin-project".into(),
        user_id: "admin".into(),
        is_admin: true,
    }
}

/// A member of project `p` (user `u-<p>`).
pub fn user(p: &str) -> Scope {
    Scope {
        project_id: p.into(),
        user_id: format!("u-{p}"),
        is_admin: false,
    }
}
