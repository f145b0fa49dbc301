//! Creating and deleting domains, projects, users and roles.

use super::*;
use crate::identity::error::{KsError, KsResult};
use crate::util::new_hex_id;

impl Store {
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

    pub(super) fn insert_project(&mut self, p: NewProject) -> Project {
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

    pub(super) fn insert_user(&mut self, u: NewUser) -> User {
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
}
