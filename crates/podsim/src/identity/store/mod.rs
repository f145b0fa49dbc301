//! The in-memory Keystone data model: entities, seeding, tokens and the
//! JSON representations Keystone returns for them.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use super::error::{KsError, KsResult};
use super::IdentityConfig;

mod catalog;
mod entities;
mod grants;
#[cfg(test)]
mod tests;
mod tokens;
mod views;

pub(crate) const DEFAULT_DOMAIN_ID: &str = "default";
pub(crate) const INTERFACES: [&str; 3] = ["public", "internal", "admin"];

/// Length of the random part of a token (fernet tokens are ~180-250 chars).
const TOKEN_RANDOM_LEN: usize = 178;
/// Purge expired tokens and revocations every this many issued tokens.
const PURGE_EVERY: u64 = 1024;

#[derive(Clone, Debug)]
pub(crate) struct Domain {
    pub id: String,
    pub name: String,
    pub description: String,
    pub enabled: bool,
}

#[derive(Clone, Debug)]
pub(crate) struct Project {
    pub id: String,
    pub name: String,
    pub domain_id: String,
    pub description: String,
    pub enabled: bool,
    pub parent_id: Option<String>,
    pub tags: Vec<String>,
}

#[derive(Clone, Debug)]
pub(crate) struct User {
    pub id: String,
    pub name: String,
    pub domain_id: String,
    pub password: Option<String>,
    pub enabled: bool,
    pub default_project_id: Option<String>,
    pub description: Option<String>,
    pub email: Option<String>,
}

#[derive(Clone, Debug)]
pub(crate) struct Role {
    pub id: String,
    pub name: String,
    pub domain_id: Option<String>,
    pub description: Option<String>,
}

#[derive(Clone, Debug)]
pub(crate) struct Region {
    pub id: String,
    pub description: String,
    pub parent_region_id: Option<String>,
}

#[derive(Clone, Debug)]
pub(crate) struct Service {
    pub id: String,
    pub service_type: String,
    pub name: String,
    pub description: Option<String>,
    pub enabled: bool,
}

#[derive(Clone, Debug)]
pub(crate) struct Endpoint {
    pub id: String,
    pub interface: String,
    pub region_id: Option<String>,
    pub service_id: String,
    pub url: String,
    pub enabled: bool,
}

/// A role granted to a user on a project.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Assignment {
    pub user_id: String,
    pub project_id: String,
    pub role_id: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Scope {
    Unscoped,
    Project(String),
}

#[derive(Clone, Debug)]
pub(crate) struct TokenRecord {
    pub user_id: String,
    pub scope: Scope,
    pub methods: Vec<String>,
    /// `[own]` or `[own, chain]` (chain = audit id of the original token).
    pub audit_ids: Vec<String>,
    pub issued_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// What a handler knows about a caller whose `X-Auth-Token` validated.
#[derive(Clone, Debug)]
pub(crate) struct Caller {
    pub user_id: String,
    pub project_id: Option<String>,
    pub roles: Vec<String>,
}

impl Caller {
    pub fn is_admin(&self) -> bool {
        self.roles.iter().any(|r| r == "admin")
    }

    /// 403 unless the caller holds the admin role.
    pub fn require_admin(&self, action: &str) -> KsResult<()> {
        if self.is_admin() {
            Ok(())
        } else {
            Err(KsError::forbidden_action(action))
        }
    }
}

/// Fields for a new user.
#[derive(Clone, Debug, Default)]
pub(crate) struct NewUser {
    pub name: String,
    pub domain_id: String,
    pub password: Option<String>,
    pub enabled: bool,
    pub default_project_id: Option<String>,
    pub description: Option<String>,
    pub email: Option<String>,
}

/// Fields for a new project.
#[derive(Clone, Debug, Default)]
pub(crate) struct NewProject {
    pub name: String,
    pub domain_id: String,
    pub description: String,
    pub enabled: bool,
    pub parent_id: Option<String>,
    pub tags: Vec<String>,
}

pub(crate) struct Store {
    pub public_url: String,
    pub token_ttl: chrono::Duration,
    pub domains: Vec<Domain>,
    pub projects: Vec<Project>,
    pub users: Vec<User>,
    pub roles: Vec<Role>,
    /// (prior role id, implied role id)
    pub implied: Vec<(String, String)>,
    pub assignments: Vec<Assignment>,
    pub regions: Vec<Region>,
    pub services: Vec<Service>,
    pub endpoints: Vec<Endpoint>,
    tokens: HashMap<String, TokenRecord>,
    /// Revoked token audit ids -> when the revocation can be forgotten.
    revoked: HashMap<String, DateTime<Utc>>,
    /// Revoked audit chains (the original token's audit id) -> likewise.
    revoked_chains: HashMap<String, DateTime<Utc>>,
    minted_since_purge: u64,
}

impl Store {
    pub fn new(cfg: &IdentityConfig) -> Self {
        let public_url = cfg.public_url.trim_end_matches('/').to_string();
        let token_ttl = chrono::Duration::from_std(cfg.token_ttl)
            .unwrap_or_else(|_| chrono::Duration::hours(1));
        let mut s = Store {
            public_url: public_url.clone(),
            token_ttl,
            domains: vec![Domain {
                id: DEFAULT_DOMAIN_ID.into(),
                name: "Default".into(),
                description: "The default domain".into(),
                enabled: true,
            }],
            projects: Vec::new(),
            users: Vec::new(),
            roles: Vec::new(),
            implied: Vec::new(),
            assignments: Vec::new(),
            regions: Vec::new(),
            services: Vec::new(),
            endpoints: Vec::new(),
            tokens: HashMap::new(),
            revoked: HashMap::new(),
            revoked_chains: HashMap::new(),
            minted_since_purge: 0,
        };
        s.seed(cfg, &public_url);
        s
    }

    fn seed(&mut self, cfg: &IdentityConfig, public_url: &str) {
        let mut role_ids = HashMap::new();
        for name in ["admin", "member", "reader", "service"] {
            let id = self.insert_role(name, None);
            role_ids.insert(name, id);
        }
        let rid = |n: &str| role_ids.get(n).cloned().unwrap_or_default();
        // Like `keystone-manage bootstrap`: admin implies member implies reader.
        self.implied.push((rid("admin"), rid("member")));
        self.implied.push((rid("member"), rid("reader")));

        let mut project_ids = HashMap::new();
        for (name, description) in [
            ("admin", "Bootstrap project for initializing the cloud."),
            ("service", "Project for the OpenStack services."),
            ("demo", "Project for the demo user."),
        ] {
            let p = self.insert_project(NewProject {
                name: name.into(),
                domain_id: DEFAULT_DOMAIN_ID.into(),
                description: description.into(),
                enabled: true,
                parent_id: None,
                tags: Vec::new(),
            });
            project_ids.insert(name, p.id);
        }
        let pid = |n: &str| project_ids.get(n).cloned().unwrap_or_default();

        for (user, password, project, roles) in [
            ("admin", &cfg.admin_password, "admin", &["admin"][..]),
            (
                "tricircle",
                &cfg.service_password,
                "service",
                &["admin", "service"][..],
            ),
            ("demo", &cfg.demo_password, "demo", &["member"][..]),
        ] {
            let u = self.insert_user(NewUser {
                name: user.into(),
                domain_id: DEFAULT_DOMAIN_ID.into(),
                password: Some(password.clone()),
                enabled: true,
                default_project_id: None,
                description: None,
                email: None,
            });
            for role in roles {
                self.assignments.push(Assignment {
                    user_id: u.id.clone(),
                    project_id: pid(project),
                    role_id: rid(role),
                });
            }
        }

        let identity_url = format!("{public_url}/v3");
        self.ensure_region("RegionOne");
        let sid = self.ensure_service("identity", "keystone");
        for iface in INTERFACES {
            self.upsert_endpoint("RegionOne", &sid, iface, &identity_url);
        }
    }

    // ---------------------------------------------------------------- links

    pub fn link(&self, path: &str) -> String {
        format!("{}/v3/{}", self.public_url, path)
    }

    // -------------------------------------------------------------- lookups

    pub fn domain(&self, id: &str) -> Option<&Domain> {
        self.domains.iter().find(|d| d.id == id)
    }

    pub fn domain_by_name(&self, name: &str) -> Option<&Domain> {
        self.domains.iter().find(|d| d.name == name)
    }

    pub fn project(&self, id: &str) -> Option<&Project> {
        self.projects.iter().find(|p| p.id == id)
    }

    pub fn project_by_name(&self, name: &str, domain_id: &str) -> Option<&Project> {
        self.projects
            .iter()
            .find(|p| p.name == name && p.domain_id == domain_id)
    }

    pub fn user(&self, id: &str) -> Option<&User> {
        self.users.iter().find(|u| u.id == id)
    }

    pub fn user_by_name(&self, name: &str, domain_id: &str) -> Option<&User> {
        self.users
            .iter()
            .find(|u| u.name == name && u.domain_id == domain_id)
    }

    pub fn role(&self, id: &str) -> Option<&Role> {
        self.roles.iter().find(|r| r.id == id)
    }

    #[cfg(test)]
    pub fn role_by_name(&self, name: &str) -> Option<&Role> {
        self.roles
            .iter()
            .find(|r| r.name == name && r.domain_id.is_none())
    }

    pub fn region(&self, id: &str) -> Option<&Region> {
        self.regions.iter().find(|r| r.id == id)
    }

    pub fn service(&self, id: &str) -> Option<&Service> {
        self.services.iter().find(|s| s.id == id)
    }

    pub fn service_by_type(&self, service_type: &str) -> Option<&Service> {
        self.services
            .iter()
            .find(|s| s.service_type == service_type)
    }

    pub fn endpoint(&self, id: &str) -> Option<&Endpoint> {
        self.endpoints.iter().find(|e| e.id == id)
    }

    /// A user by id, or by name in the default domain (test helpers).
    pub fn user_by_id_or_name(&self, key: &str) -> Option<&User> {
        self.user(key)
            .or_else(|| self.user_by_name(key, DEFAULT_DOMAIN_ID))
    }

    /// A project by id, or by name in the default domain (test helpers).
    pub fn project_by_id_or_name(&self, key: &str) -> Option<&Project> {
        self.project(key)
            .or_else(|| self.project_by_name(key, DEFAULT_DOMAIN_ID))
    }

    // ------------------------------------------------------------- mutation

    // ---------------------------------------------------------------- roles

    // --------------------------------------------------------------- tokens

    // -------------------------------------------------------------- catalog

    // -------------------------------------------------------- representations
}
