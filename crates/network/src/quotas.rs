//! Network quotas: per project limits (an operator's, else the configured
//! defaults), enforced when a resource is created by counting the
//! project's resources inside the creating transaction, after taking the
//! project's lock, so two instances cannot both take the last unit.

use serde_json::{json, Map, Value};
use tricircle_store::{NeutronKind, NeutronTx};

use crate::attrs::{integer, shown};
use crate::{Neutron, NeutronError, Scope};

/// The largest limit accepted (Neutron's DB column is a 32-bit int).
const MAX_LIMIT: i64 = 0x7FFF_FFFF;

fn kind_of(resource: &str) -> Option<NeutronKind> {
    match resource {
        "network" => Some(NeutronKind::Network),
        "subnet" => Some(NeutronKind::Subnet),
        "port" => Some(NeutronKind::Port),
        "security_group" => Some(NeutronKind::SecurityGroup),
        "security_group_rule" => Some(NeutronKind::SecurityGroupRule),
        "router" => Some(NeutronKind::Router),
        "floatingip" => Some(NeutronKind::FloatingIp),
        _ => None,
    }
}

fn resource_of(kind: NeutronKind) -> &'static str {
    kind.resource_type().as_str()
}

impl Neutron {
    /// `(resource, default limit)` of every quota resource, in order.
    fn default_limits(&self) -> Vec<(String, i64)> {
        self.cfg
            .quotas
            .items()
            .iter()
            .map(|(k, l)| (k.to_string(), *l))
            .collect()
    }

    fn merge_limits(&self, own: &[(String, i64)]) -> Vec<(String, i64)> {
        self.default_limits()
            .into_iter()
            .map(|(k, d)| {
                let l = own.iter().find(|(o, _)| *o == k).map_or(d, |(_, l)| *l);
                (k, l)
            })
            .collect()
    }

    /// Refuses a create that would take `kind` beyond the project's limit.
    /// Takes the project's lock: call before anything the count depends on.
    pub(crate) async fn check_quota(
        &self,
        tx: &mut NeutronTx,
        kind: NeutronKind,
        project_id: &str,
        adding: i64,
    ) -> Result<(), NeutronError> {
        tx.lock_project(project_id).await?;
        let resource = resource_of(kind);
        let own = tx.quota_limits(project_id).await?;
        let limit = self
            .merge_limits(&own)
            .into_iter()
            .find(|(k, _)| k == resource)
            .map_or(-1, |(_, l)| l);
        if limit < 0 {
            return Ok(());
        }
        let used = tx.count(kind, project_id).await?;
        if used + adding > limit {
            return Err(NeutronError::over_quota(resource));
        }
        Ok(())
    }

    fn may_read_quota(scope: &Scope, project_id: &str) -> Result<(), NeutronError> {
        if scope.is_admin || scope.project_id == project_id {
            Ok(())
        } else {
            Err(NeutronError::policy("rule:get_quota"))
        }
    }

    fn quota_object(project_id: &str, limits: &[(String, i64)]) -> Value {
        let mut m: Map<String, Value> = limits.iter().map(|(k, l)| (k.clone(), json!(l))).collect();
        m.insert("project_id".into(), json!(project_id));
        m.insert("tenant_id".into(), json!(project_id));
        Value::Object(m)
    }

    /// `GET /quotas/{project}`: the project's limits.
    pub async fn get_quota(&self, scope: &Scope, project_id: &str) -> Result<Value, NeutronError> {
        Self::may_read_quota(scope, project_id)?;
        let own = self.store.network_quota_limits(project_id).await?;
        let mut q = Self::quota_object(project_id, &self.merge_limits(&own));
        strip_ids(&mut q);
        Ok(q)
    }

    /// `GET /quotas/{project}/default`.
    pub async fn default_quota(
        &self,
        scope: &Scope,
        project_id: &str,
    ) -> Result<Value, NeutronError> {
        Self::may_read_quota(scope, project_id)?;
        let mut q = Self::quota_object(project_id, &self.default_limits());
        strip_ids(&mut q);
        Ok(q)
    }

    /// `GET /quotas/{project}/details`: limit, used and reserved of each.
    pub async fn quota_details(
        &self,
        scope: &Scope,
        project_id: &str,
    ) -> Result<Value, NeutronError> {
        Self::may_read_quota(scope, project_id)?;
        let own = self.store.network_quota_limits(project_id).await?;
        let counts = self.store.neutron_counts(project_id).await?;
        let mut m = Map::new();
        for (k, limit) in self.merge_limits(&own) {
            let used = kind_of(&k)
                .and_then(|kind| counts.iter().find(|(c, _)| *c == kind))
                .map_or(0, |(_, n)| *n);
            m.insert(k, json!({"limit": limit, "used": used, "reserved": 0}));
        }
        Ok(Value::Object(m))
    }

    /// `GET /quotas` (admin): projects with limits of their own.
    pub async fn list_quotas(&self, scope: &Scope) -> Result<Vec<Value>, NeutronError> {
        if !scope.is_admin {
            return Err(NeutronError::policy("rule:get_quota"));
        }
        Ok(self
            .store
            .all_network_quotas()
            .await?
            .iter()
            .map(|(p, own)| Self::quota_object(p, &self.merge_limits(own)))
            .collect())
    }

    /// `PUT /quotas/{project}` (admin): body `{"network": 10, ...}`.
    pub async fn update_quota(
        &self,
        scope: &Scope,
        project_id: &str,
        body: Value,
    ) -> Result<Value, NeutronError> {
        if !scope.is_admin {
            return Err(NeutronError::policy("rule:update_quota"));
        }
        let Value::Object(map) = body else {
            return Err(NeutronError::bad_request(
                "Invalid input: the 'quota' attribute of the request body must be an object",
            ));
        };
        let known = self.default_limits();
        let unknown: Vec<&str> = map
            .keys()
            .filter(|k| !known.iter().any(|(n, _)| n == *k))
            .map(String::as_str)
            .collect();
        if !unknown.is_empty() {
            return Err(NeutronError::bad_request(format!(
                "Unrecognized attribute(s) '{}'",
                unknown.join(", ")
            )));
        }
        let mut limits = Vec::new();
        for (k, v) in &map {
            let n = integer(k, v)?;
            if !(-1..=MAX_LIMIT).contains(&n) {
                return Err(NeutronError::invalid_attr(
                    k,
                    format!("'{}' is not in range -1 through {MAX_LIMIT}", shown(v)),
                ));
            }
            limits.push((k.clone(), n));
        }
        self.store.set_network_quotas(project_id, &limits).await?;
        self.get_quota(scope, project_id).await
    }

    /// `DELETE /quotas/{project}` (admin): back to the defaults.
    pub async fn delete_quota(&self, scope: &Scope, project_id: &str) -> Result<(), NeutronError> {
        if !scope.is_admin {
            return Err(NeutronError::policy("rule:delete_quota"));
        }
        self.store.delete_network_quotas(project_id).await?;
        Ok(())
    }
}

/// `GET /quotas/{project}` shows limits only.
fn strip_ids(q: &mut Value) {
    if let Some(m) = q.as_object_mut() {
        m.remove("project_id");
        m.remove("tenant_id");
    }
}
