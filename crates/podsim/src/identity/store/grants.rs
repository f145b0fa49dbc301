//! Role assignments and the roles they imply.

use axum::http::StatusCode;

use super::*;
use crate::identity::error::{KsError, KsResult};

impl Store {
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

    /// Ids of the roles implied by `role_id`, transitively (not including itself).
    pub(super) fn implied_closure(&self, role_id: &str) -> Vec<String> {
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
}
