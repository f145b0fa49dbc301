//! The in-memory Keystone data model: entities, seeding, tokens and the
//! JSON representations Keystone returns for them.

use std::collections::HashMap;

use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::error::{KsError, KsResult};
use super::IdentityConfig;
use crate::util::{iso_micro, new_hex_id, random_urlsafe};

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

    pub fn insert_role(&mut self, name: &str, domain_id: Option<String>) -> String {
        let id = new_hex_id();
        self.roles.push(Role {
            id: id.clone(),
            name: name.into(),
            domain_id,
            description: None,
        });
        id
    }

    pub fn create_role(
        &mut self,
        name: &str,
        domain_id: Option<String>,
        description: Option<String>,
    ) -> KsResult<Role> {
        if self
            .roles
            .iter()
            .any(|r| r.name == name && r.domain_id == domain_id)
        {
            return Err(KsError::conflict(
                "role",
                &format!("Duplicate entry found with name {name}"),
            ));
        }
        if let Some(d) = &domain_id {
            if self.domain(d).is_none() {
                return Err(KsError::not_found("domain", d));
            }
        }
        let id = self.insert_role(name, domain_id);
        if let Some(r) = self.roles.iter_mut().find(|r| r.id == id) {
            r.description = description;
            return Ok(r.clone());
        }
        Err(KsError::internal())
    }

    pub fn delete_role(&mut self, id: &str) -> KsResult<()> {
        let before = self.roles.len();
        self.roles.retain(|r| r.id != id);
        if self.roles.len() == before {
            return Err(KsError::not_found("role", id));
        }
        self.assignments.retain(|a| a.role_id != id);
        self.implied.retain(|(p, i)| p != id && i != id);
        Ok(())
    }

    pub fn create_domain(
        &mut self,
        name: &str,
        description: String,
        enabled: bool,
    ) -> KsResult<Domain> {
        if self.domain_by_name(name).is_some() {
            return Err(KsError::conflict(
                "domain",
                &format!("Duplicate entry found with name {name}"),
            ));
        }
        let d = Domain {
            id: new_hex_id(),
            name: name.into(),
            description,
            enabled,
        };
        self.domains.push(d.clone());
        Ok(d)
    }

    fn insert_project(&mut self, p: NewProject) -> Project {
        let parent = p.parent_id.unwrap_or_else(|| p.domain_id.clone());
        let project = Project {
            id: new_hex_id(),
            name: p.name,
            domain_id: p.domain_id,
            description: p.description,
            enabled: p.enabled,
            parent_id: Some(parent),
            tags: p.tags,
        };
        self.projects.push(project.clone());
        project
    }

    pub fn create_project(&mut self, p: NewProject) -> KsResult<Project> {
        if self.domain(&p.domain_id).is_none() {
            return Err(KsError::validation("domain_id", "project"));
        }
        if let Some(parent) = &p.parent_id {
            if parent != &p.domain_id && self.project(parent).is_none() {
                return Err(KsError::not_found("project", parent));
            }
        }
        if self.project_by_name(&p.name, &p.domain_id).is_some() {
            return Err(KsError::conflict(
                "project",
                &format!(
                    "it is not permitted to have two projects with the same name in the same \
                     domain : {}",
                    p.name
                ),
            ));
        }
        Ok(self.insert_project(p))
    }

    pub fn delete_project(&mut self, id: &str) -> KsResult<()> {
        let before = self.projects.len();
        self.projects.retain(|p| p.id != id);
        if self.projects.len() == before {
            return Err(KsError::not_found("project", id));
        }
        self.assignments.retain(|a| a.project_id != id);
        Ok(())
    }

    fn insert_user(&mut self, u: NewUser) -> User {
        let user = User {
            id: new_hex_id(),
            name: u.name,
            domain_id: u.domain_id,
            password: u.password,
            enabled: u.enabled,
            default_project_id: u.default_project_id,
            description: u.description,
            email: u.email,
        };
        self.users.push(user.clone());
        user
    }

    pub fn create_user(&mut self, u: NewUser) -> KsResult<User> {
        if self.domain(&u.domain_id).is_none() {
            return Err(KsError::validation("domain_id", "user"));
        }
        if self.user_by_name(&u.name, &u.domain_id).is_some() {
            return Err(KsError::conflict(
                "user",
                &format!(
                    "Duplicate entry found with name {} at domain ID {}",
                    u.name, u.domain_id
                ),
            ));
        }
        Ok(self.insert_user(u))
    }

    pub fn delete_user(&mut self, id: &str) -> KsResult<()> {
        let before = self.users.len();
        self.users.retain(|u| u.id != id);
        if self.users.len() == before {
            return Err(KsError::not_found("user", id));
        }
        self.assignments.retain(|a| a.user_id != id);
        Ok(())
    }

    pub fn grant(&mut self, user_id: &str, project_id: &str, role_id: &str) -> KsResult<()> {
        self.check_grant_parts(user_id, project_id, role_id)?;
        let a = Assignment {
            user_id: user_id.into(),
            project_id: project_id.into(),
            role_id: role_id.into(),
        };
        if !self.assignments.contains(&a) {
            self.assignments.push(a);
        }
        Ok(())
    }

    pub fn check_grant_parts(
        &self,
        user_id: &str,
        project_id: &str,
        role_id: &str,
    ) -> KsResult<()> {
        if self.project(project_id).is_none() {
            return Err(KsError::not_found("project", project_id));
        }
        if self.user(user_id).is_none() {
            return Err(KsError::not_found("user", user_id));
        }
        if self.role(role_id).is_none() {
            return Err(KsError::not_found("role", role_id));
        }
        Ok(())
    }

    pub fn has_grant(&self, user_id: &str, project_id: &str, role_id: &str) -> bool {
        self.assignments
            .iter()
            .any(|a| a.user_id == user_id && a.project_id == project_id && a.role_id == role_id)
    }

    pub fn ungrant(&mut self, user_id: &str, project_id: &str, role_id: &str) -> KsResult<()> {
        self.check_grant_parts(user_id, project_id, role_id)?;
        if !self.has_grant(user_id, project_id, role_id) {
            return Err(KsError::new(
                StatusCode::NOT_FOUND,
                format!(
                    "Could not find role assignment with role: {role_id}, user or group: \
                     {user_id}, project, domain, or system: {project_id}."
                ),
            ));
        }
        self.assignments.retain(|a| {
            !(a.user_id == user_id && a.project_id == project_id && a.role_id == role_id)
        });
        Ok(())
    }

    /// Creates the region if missing.
    pub fn ensure_region(&mut self, id: &str) {
        if self.region(id).is_none() {
            self.regions.push(Region {
                id: id.into(),
                description: String::new(),
                parent_region_id: None,
            });
        }
    }

    pub fn create_region(
        &mut self,
        id: Option<String>,
        description: String,
        parent_region_id: Option<String>,
    ) -> KsResult<Region> {
        let id = id.unwrap_or_else(new_hex_id);
        if self.region(&id).is_some() {
            return Err(KsError::conflict("region", &format!("Duplicate ID, {id}")));
        }
        if let Some(parent) = &parent_region_id {
            if self.region(parent).is_none() {
                return Err(KsError::not_found("region", parent));
            }
        }
        let r = Region {
            id,
            description,
            parent_region_id,
        };
        self.regions.push(r.clone());
        Ok(r)
    }

    pub fn delete_region(&mut self, id: &str) -> KsResult<()> {
        if self.region(id).is_none() {
            return Err(KsError::not_found("region", id));
        }
        let in_use = self
            .endpoints
            .iter()
            .any(|e| e.region_id.as_deref() == Some(id))
            || self
                .regions
                .iter()
                .any(|r| r.parent_region_id.as_deref() == Some(id));
        if in_use {
            return Err(KsError::forbidden(format!(
                "Unable to delete region {id} because it or its child regions have associated \
                 endpoints."
            )));
        }
        self.regions.retain(|r| r.id != id);
        Ok(())
    }

    /// Returns the id of the service of this type, creating it if missing.
    pub fn ensure_service(&mut self, service_type: &str, name: &str) -> String {
        if let Some(s) = self.service_by_type(service_type) {
            return s.id.clone();
        }
        self.create_service(service_type, name, None, true).id
    }

    pub fn create_service(
        &mut self,
        service_type: &str,
        name: &str,
        description: Option<String>,
        enabled: bool,
    ) -> Service {
        let s = Service {
            id: new_hex_id(),
            service_type: service_type.into(),
            name: name.into(),
            description,
            enabled,
        };
        self.services.push(s.clone());
        s
    }

    pub fn delete_service(&mut self, id: &str) -> KsResult<()> {
        let before = self.services.len();
        self.services.retain(|s| s.id != id);
        if self.services.len() == before {
            return Err(KsError::not_found("service", id));
        }
        // Keystone deletes a service's endpoints with it.
        self.endpoints.retain(|e| e.service_id != id);
        Ok(())
    }

    /// Sets the URL of the (region, service, interface) endpoint, creating it if missing.
    pub fn upsert_endpoint(&mut self, region: &str, service_id: &str, interface: &str, url: &str) {
        if let Some(e) = self.endpoints.iter_mut().find(|e| {
            e.region_id.as_deref() == Some(region)
                && e.service_id == service_id
                && e.interface == interface
        }) {
            e.url = url.into();
            return;
        }
        self.endpoints.push(Endpoint {
            id: new_hex_id(),
            interface: interface.into(),
            region_id: Some(region.into()),
            service_id: service_id.into(),
            url: url.into(),
            enabled: true,
        });
    }

    pub fn create_endpoint(
        &mut self,
        service_id: &str,
        region_id: Option<String>,
        interface: &str,
        url: &str,
        enabled: bool,
    ) -> KsResult<Endpoint> {
        if !INTERFACES.contains(&interface) {
            return Err(KsError::bad_request(format!(
                "Invalid input for field 'interface': '{interface}' does not match \
                 '^(admin|internal|public)$'"
            )));
        }
        if self.service(service_id).is_none() {
            return Err(KsError::validation("service_id", "endpoint"));
        }
        if let Some(r) = &region_id {
            if self.region(r).is_none() {
                return Err(KsError::bad_request(format!("Region {r} does not exist")));
            }
        }
        let e = Endpoint {
            id: new_hex_id(),
            interface: interface.into(),
            region_id,
            service_id: service_id.into(),
            url: url.into(),
            enabled,
        };
        self.endpoints.push(e.clone());
        Ok(e)
    }

    pub fn delete_endpoint(&mut self, id: &str) -> KsResult<()> {
        let before = self.endpoints.len();
        self.endpoints.retain(|e| e.id != id);
        if self.endpoints.len() == before {
            return Err(KsError::not_found("endpoint", id));
        }
        Ok(())
    }

    // ---------------------------------------------------------------- roles

    /// Ids of the roles implied by `role_id`, transitively (not including itself).
    fn implied_closure(&self, role_id: &str) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let mut todo = vec![role_id.to_string()];
        while let Some(r) = todo.pop() {
            for (prior, implied) in &self.implied {
                if *prior == r && implied != role_id && !out.contains(implied) {
                    out.push(implied.clone());
                    todo.push(implied.clone());
                }
            }
        }
        out
    }

    /// Effective roles of a user on a project: direct grants plus implied roles.
    pub fn effective_roles(&self, user_id: &str, project_id: &str) -> Vec<&Role> {
        let mut ids: Vec<String> = Vec::new();
        for a in &self.assignments {
            if a.user_id == user_id && a.project_id == project_id && !ids.contains(&a.role_id) {
                ids.push(a.role_id.clone());
            }
        }
        let direct = ids.clone();
        for r in direct {
            for implied in self.implied_closure(&r) {
                if !ids.contains(&implied) {
                    ids.push(implied);
                }
            }
        }
        ids.iter().filter_map(|id| self.role(id)).collect()
    }

    /// Projects on which the user has at least one role.
    pub fn projects_for_user(&self, user_id: &str) -> Vec<&Project> {
        self.projects
            .iter()
            .filter(|p| {
                self.assignments
                    .iter()
                    .any(|a| a.user_id == user_id && a.project_id == p.id)
            })
            .collect()
    }

    /// Implied role pairs `(prior, implied)` reachable from `role_id`, one level at a time.
    pub fn implied_edges_from(&self, role_id: &str) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let mut todo = vec![role_id.to_string()];
        let mut seen = vec![role_id.to_string()];
        while let Some(r) = todo.pop() {
            for (prior, implied) in &self.implied {
                if *prior == r && !seen.contains(implied) {
                    seen.push(implied.clone());
                    out.push((prior.clone(), implied.clone()));
                    todo.push(implied.clone());
                }
            }
        }
        out
    }

    // --------------------------------------------------------------- tokens

    /// Stores a new token and returns its id.
    pub fn mint(
        &mut self,
        user_id: &str,
        scope: Scope,
        methods: Vec<String>,
        parent: Option<&TokenRecord>,
    ) -> (String, TokenRecord) {
        let now = Utc::now();
        let own_audit = random_urlsafe(22);
        let (audit_ids, expires_at) = match parent {
            // Rescoped tokens keep the original expiry and carry the audit chain.
            Some(p) => {
                let chain = p.audit_ids.last().cloned().unwrap_or_default();
                (vec![own_audit, chain], p.expires_at)
            }
            None => (vec![own_audit], now + self.token_ttl),
        };
        let rec = TokenRecord {
            user_id: user_id.into(),
            scope,
            methods,
            audit_ids,
            issued_at: now,
            expires_at,
        };
        let id = format!("gAAAAA{}", random_urlsafe(TOKEN_RANDOM_LEN));
        self.tokens.insert(id.clone(), rec.clone());
        self.minted_since_purge += 1;
        if self.minted_since_purge >= PURGE_EVERY {
            self.minted_since_purge = 0;
            self.purge(now);
        }
        (id, rec)
    }

    fn purge(&mut self, now: DateTime<Utc>) {
        self.tokens.retain(|_, t| t.expires_at > now);
        self.revoked.retain(|_, exp| *exp > now);
        self.revoked_chains.retain(|_, exp| *exp > now);
    }

    /// The record of a currently valid token: known, unexpired, not revoked,
    /// its user enabled and (if project scoped) still holding a role on an
    /// enabled project.
    pub fn valid_token(&self, token: &str) -> Option<&TokenRecord> {
        let rec = self.tokens.get(token)?;
        if rec.expires_at <= Utc::now() {
            return None;
        }
        let own = rec
            .audit_ids
            .first()
            .map(String::as_str)
            .unwrap_or_default();
        let chain = rec.audit_ids.last().map(String::as_str).unwrap_or_default();
        if self.revoked.contains_key(own) || self.revoked_chains.contains_key(chain) {
            return None;
        }
        let user = self.user(&rec.user_id)?;
        if !user.enabled || !self.domain(&user.domain_id).is_some_and(|d| d.enabled) {
            return None;
        }
        if let Scope::Project(pid) = &rec.scope {
            let project = self.project(pid)?;
            if !project.enabled || self.effective_roles(&rec.user_id, pid).is_empty() {
                return None;
            }
        }
        Some(rec)
    }

    /// Revokes a token. With `cascade` (Keystone's default) the whole audit
    /// chain goes: the original token and every token rescoped from it.
    /// False if the token was not valid.
    pub fn revoke(&mut self, token: &str, cascade: bool) -> bool {
        let Some(rec) = self.valid_token(token).cloned() else {
            return false;
        };
        let id = if cascade {
            rec.audit_ids.last()
        } else {
            rec.audit_ids.first()
        };
        if let Some(id) = id {
            let map = if cascade {
                &mut self.revoked_chains
            } else {
                &mut self.revoked
            };
            map.insert(id.clone(), rec.expires_at);
        }
        true
    }

    pub fn caller(&self, token: &str) -> Option<Caller> {
        let rec = self.valid_token(token)?;
        let (project_id, roles) = match &rec.scope {
            Scope::Project(pid) => (
                Some(pid.clone()),
                self.effective_roles(&rec.user_id, pid)
                    .into_iter()
                    .map(|r| r.name.clone())
                    .collect(),
            ),
            Scope::Unscoped => (None, Vec::new()),
        };
        Some(Caller {
            user_id: rec.user_id.clone(),
            project_id,
            roles,
        })
    }

    /// The `{"token": {...}}` body Keystone returns for a token.
    pub fn render_token(&self, rec: &TokenRecord, include_catalog: bool) -> Value {
        let user = self.user(&rec.user_id);
        let user_domain = user.and_then(|u| self.domain(&u.domain_id));
        let mut token = json!({
            "methods": rec.methods,
            "user": {
                "domain": {
                    "id": user_domain.map(|d| d.id.as_str()).unwrap_or_default(),
                    "name": user_domain.map(|d| d.name.as_str()).unwrap_or_default(),
                },
                "id": rec.user_id,
                "name": user.map(|u| u.name.as_str()).unwrap_or_default(),
                "password_expires_at": null,
            },
            "audit_ids": rec.audit_ids,
            "expires_at": iso_micro(rec.expires_at),
            "issued_at": iso_micro(rec.issued_at),
        });
        if let (Scope::Project(pid), Some(obj)) = (&rec.scope, token.as_object_mut()) {
            let project = self.project(pid);
            let pdomain = project.and_then(|p| self.domain(&p.domain_id));
            obj.insert(
                "project".into(),
                json!({
                    "domain": {
                        "id": pdomain.map(|d| d.id.as_str()).unwrap_or_default(),
                        "name": pdomain.map(|d| d.name.as_str()).unwrap_or_default(),
                    },
                    "id": pid,
                    "name": project.map(|p| p.name.as_str()).unwrap_or_default(),
                }),
            );
            obj.insert("is_domain".into(), Value::Bool(false));
            let roles: Vec<Value> = self
                .effective_roles(&rec.user_id, pid)
                .into_iter()
                .map(|r| json!({"id": r.id, "name": r.name}))
                .collect();
            obj.insert("roles".into(), Value::Array(roles));
            if include_catalog {
                obj.insert(
                    "catalog".into(),
                    Value::Array(self.catalog(pid, &rec.user_id)),
                );
            }
        }
        json!({ "token": token })
    }

    // -------------------------------------------------------------- catalog

    /// The v3 catalog for a project-scoped token, with URL templates filled in.
    pub fn catalog(&self, project_id: &str, user_id: &str) -> Vec<Value> {
        self.services
            .iter()
            .filter(|s| s.enabled)
            .map(|s| {
                let endpoints: Vec<Value> = self
                    .endpoints
                    .iter()
                    .filter(|e| e.enabled && e.service_id == s.id)
                    .map(|e| {
                        json!({
                            "id": e.id,
                            "interface": e.interface,
                            "region": e.region_id,
                            "region_id": e.region_id,
                            "url": substitute_url(&e.url, project_id, user_id),
                        })
                    })
                    .collect();
                json!({
                    "endpoints": endpoints,
                    "id": s.id,
                    "type": s.service_type,
                    "name": s.name,
                })
            })
            .collect()
    }

    // -------------------------------------------------------- representations

    pub fn domain_json(&self, d: &Domain) -> Value {
        json!({
            "id": d.id,
            "name": d.name,
            "description": d.description,
            "enabled": d.enabled,
            "tags": [],
            "options": {},
            "links": {"self": self.link(&format!("domains/{}", d.id))},
        })
    }

    pub fn project_json(&self, p: &Project) -> Value {
        json!({
            "id": p.id,
            "name": p.name,
            "domain_id": p.domain_id,
            "description": p.description,
            "enabled": p.enabled,
            "parent_id": p.parent_id,
            "is_domain": false,
            "tags": p.tags,
            "options": {},
            "links": {"self": self.link(&format!("projects/{}", p.id))},
        })
    }

    pub fn user_json(&self, u: &User) -> Value {
        let mut v = json!({
            "id": u.id,
            "name": u.name,
            "domain_id": u.domain_id,
            "enabled": u.enabled,
            "password_expires_at": null,
            "options": {},
            "links": {"self": self.link(&format!("users/{}", u.id))},
        });
        if let Some(obj) = v.as_object_mut() {
            if let Some(p) = &u.default_project_id {
                obj.insert("default_project_id".into(), json!(p));
            }
            if let Some(d) = &u.description {
                obj.insert("description".into(), json!(d));
            }
            if let Some(e) = &u.email {
                obj.insert("email".into(), json!(e));
            }
        }
        v
    }

    pub fn role_json(&self, r: &Role) -> Value {
        json!({
            "id": r.id,
            "name": r.name,
            "domain_id": r.domain_id,
            "description": r.description,
            "options": {},
            "links": {"self": self.link(&format!("roles/{}", r.id))},
        })
    }

    pub fn region_json(&self, r: &Region) -> Value {
        json!({
            "id": r.id,
            "description": r.description,
            "parent_region_id": r.parent_region_id,
            "links": {"self": self.link(&format!("regions/{}", r.id))},
        })
    }

    pub fn service_json(&self, s: &Service) -> Value {
        let mut v = json!({
            "id": s.id,
            "type": s.service_type,
            "name": s.name,
            "enabled": s.enabled,
            "links": {"self": self.link(&format!("services/{}", s.id))},
        });
        if let (Some(d), Some(obj)) = (&s.description, v.as_object_mut()) {
            obj.insert("description".into(), json!(d));
        }
        v
    }

    pub fn endpoint_json(&self, e: &Endpoint) -> Value {
        json!({
            "id": e.id,
            "interface": e.interface,
            "region": e.region_id,
            "region_id": e.region_id,
            "service_id": e.service_id,
            "url": e.url,
            "enabled": e.enabled,
            "links": {"self": self.link(&format!("endpoints/{}", e.id))},
        })
    }
}

/// Fills Keystone's endpoint URL templates: `$(project_id)s`, `$(tenant_id)s`,
/// `$(user_id)s` (and the `%(...)s` spellings).
pub(crate) fn substitute_url(url: &str, project_id: &str, user_id: &str) -> String {
    let mut out = url.to_string();
    for (key, value) in [
        ("project_id", project_id),
        ("tenant_id", project_id),
        ("user_id", user_id),
    ] {
        out = out
            .replace(&format!("$({key})s"), value)
            .replace(&format!("%({key})s"), value);
    }
    out
}

#[cfg(test)]
mod tests {
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
}
