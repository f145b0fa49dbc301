//! Issuing, validating and revoking tokens.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::*;
use crate::util::{iso_micro, random_urlsafe};

impl Store {
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

    pub(super) fn purge(&mut self, now: DateTime<Utc>) {
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
}
