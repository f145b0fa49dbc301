//! Security groups and rules: a default group per project (created on
//! first use, once, whatever the number of instances), Neutron's rule
//! validation, duplicates refused by a unique key.

mod rules;

use serde_json::{json, Value};
use tricircle_core::ids::new_uuid;
use tricircle_store::{NeutronFilter, NeutronKind, NeutronTx, NewJob};

use crate::attrs::{self, attr, boolean, check, owner, string, touch, Attr, Op};
use crate::listing::{ListQuery, Listing, Page};
use crate::model::{Resource, SecurityGroup, SecurityGroupRule};
use crate::networks::sql_filter;
use crate::{jobs_for, jobs_types, Neutron, NeutronError, Scope};

use rules::Rule;

const GROUP_ATTRS: &[Attr] = &[
    attr("id", false, false),
    attr("name", true, true),
    attr("description", true, true),
    attr("tenant_id", true, false),
    attr("project_id", true, false),
    attr("security_group_rules", false, false),
    attr("stateful", true, true),
    attr("shared", false, false),
    attr("created_at", false, false),
    attr("updated_at", false, false),
    attr("revision_number", false, false),
    attr("tags", false, false),
];

const GROUP_LISTING: Listing<'static> = Listing {
    filterable: &[
        "id",
        "name",
        "description",
        "tenant_id",
        "project_id",
        "stateful",
        "shared",
        "created_at",
        "updated_at",
        "revision_number",
        "tags",
    ],
    sortable: &[
        "id",
        "name",
        "description",
        "tenant_id",
        "project_id",
        "stateful",
        "created_at",
        "updated_at",
        "revision_number",
    ],
    not_found: NeutronError::security_group_not_found,
};

impl Neutron {
    /// The project's default security group, created (with Neutron's four
    /// rules) inside `tx` if it has none: the unique project key makes one
    /// request the creator, the others read its id.
    pub(crate) async fn ensure_default_group_in(
        &self,
        tx: &mut NeutronTx,
        project_id: &str,
    ) -> Result<String, NeutronError> {
        if let Some(id) = tx.default_security_group(project_id).await? {
            return Ok(id);
        }
        let id = new_uuid();
        if !tx.claim_default_security_group(project_id, &id).await? {
            return tx
                .default_security_group(project_id)
                .await?
                .ok_or_else(NeutronError::internal);
        }
        let now = attrs::now();
        let group = json!({
            "id": id,
            "name": "default",
            "description": "Default security group",
            "tenant_id": project_id,
            "project_id": project_id,
            "stateful": true,
            "shared": false,
            "created_at": now,
            "updated_at": now,
            "revision_number": 1,
            "tags": [],
        });
        tx.insert(NeutronKind::SecurityGroup, &group).await?;
        for rule in [
            Rule::simple("egress", "IPv4", None),
            Rule::simple("egress", "IPv6", None),
            Rule::simple("ingress", "IPv4", Some(id.clone())),
            Rule::simple("ingress", "IPv6", Some(id.clone())),
        ] {
            tx.insert_rule(&rule.body(&new_uuid(), &id, project_id), &rule.key())
                .await?;
        }
        Ok(id)
    }

    /// The project's default security group (created if missing), with
    /// its rules.
    pub async fn default_security_group(&self, project_id: &str) -> Result<Value, NeutronError> {
        let id = match self
            .store
            .neutron_default_security_group(project_id)
            .await?
        {
            Some(id) => id,
            None => {
                let mut tx = self.store.neutron_tx().await?;
                let id = self.ensure_default_group_in(&mut tx, project_id).await?;
                tx.commit().await?;
                id
            }
        };
        let body = self
            .store
            .neutron_get(NeutronKind::SecurityGroup, &id)
            .await?
            .ok_or_else(|| NeutronError::security_group_not_found(&id))?;
        self.group_views(vec![body])
            .await?
            .pop()
            .ok_or_else(NeutronError::internal)
    }

    async fn group_views(&self, groups: Vec<Value>) -> Result<Vec<Value>, NeutronError> {
        let ids: Vec<String> = SecurityGroup::from_docs(&groups)?
            .into_iter()
            .map(|g| g.id)
            .collect();
        let docs = self.store.neutron_rules_of(&ids).await?;
        let owners: Vec<String> = SecurityGroupRule::from_docs(&docs)?
            .into_iter()
            .map(|r| r.security_group_id)
            .collect();
        Ok(groups
            .into_iter()
            .zip(&ids)
            .map(|(mut g, id)| {
                g["security_group_rules"] = json!(docs
                    .iter()
                    .zip(&owners)
                    .filter(|(_, owner)| *owner == id)
                    .map(|(r, _)| r)
                    .collect::<Vec<_>>());
                g
            })
            .collect())
    }

    async fn ensure_default_for(&self, scope: &Scope) -> Result<(), NeutronError> {
        if self
            .store
            .neutron_default_security_group(&scope.project_id)
            .await?
            .is_none()
            && !scope.project_id.is_empty()
        {
            self.default_security_group(&scope.project_id).await?;
        }
        Ok(())
    }

    pub async fn get_security_group(&self, scope: &Scope, id: &str) -> Result<Value, NeutronError> {
        match self
            .store
            .neutron_get(NeutronKind::SecurityGroup, id)
            .await?
        {
            Some(g) if scope.owns(&SecurityGroup::from_doc(&g)?.project_id) => self
                .group_views(vec![g])
                .await?
                .pop()
                .ok_or_else(NeutronError::internal),
            _ => Err(NeutronError::security_group_not_found(id)),
        }
    }

    /// The scope's project's group called `name`, if exactly one; several
    /// → 409 (an id is needed), as Nova reports it.
    pub async fn find_security_group_by_name(
        &self,
        scope: &Scope,
        name: &str,
    ) -> Result<Option<Value>, NeutronError> {
        let q = ListQuery::from_pairs(&[
            ("name".to_string(), name.to_string()),
            ("project_id".to_string(), scope.project_id.clone()),
        ])?;
        let mut found = self.list_security_groups(scope, &q).await?.items;
        match found.len() {
            0 => Ok(None),
            1 => Ok(found.pop()),
            _ => Err(NeutronError::conflict(
                "NoUniqueMatch",
                format!("Multiple security groups found matching '{name}'. Use an ID to be more specific."),
            )),
        }
    }

    pub async fn list_security_groups(
        &self,
        scope: &Scope,
        q: &ListQuery,
    ) -> Result<Page, NeutronError> {
        GROUP_LISTING.check(q)?;
        self.ensure_default_for(scope).await?;
        let filter = sql_filter(scope, NeutronKind::SecurityGroup, q);
        let groups = self
            .store
            .neutron_list(NeutronKind::SecurityGroup, &filter)
            .await?;
        let views = self.group_views(groups).await?;
        GROUP_LISTING.apply(views, q)
    }

    pub async fn create_security_group(
        &self,
        scope: &Scope,
        body: Value,
    ) -> Result<Value, NeutronError> {
        let map = check("security_group", body, GROUP_ATTRS, Op::Create)?;
        let project_id = owner(scope, &map)?;
        let name = map
            .get("name")
            .map_or(Ok(String::new()), |v| string("name", v, 255))?;
        if name == "default" {
            return Err(NeutronError::conflict(
                "SecurityGroupDefaultAlreadyExists",
                "Default security group already exists.",
            ));
        }
        let description = map
            .get("description")
            .map_or(Ok(String::new()), |v| string("description", v, 255))?;
        let stateful = map
            .get("stateful")
            .map_or(Ok(true), |v| boolean("stateful", v))?;
        let mut tx = self.store.neutron_tx().await?;
        self.ensure_default_group_in(&mut tx, &project_id).await?;
        self.check_quota(&mut tx, NeutronKind::SecurityGroup, &project_id, 1)
            .await?;
        let id = new_uuid();
        let now = attrs::now();
        let group = json!({
            "id": id,
            "name": name,
            "description": description,
            "tenant_id": project_id,
            "project_id": project_id,
            "stateful": stateful,
            "shared": false,
            "created_at": now,
            "updated_at": now,
            "revision_number": 1,
            "tags": [],
        });
        tx.insert(NeutronKind::SecurityGroup, &group).await?;
        for rule in [
            Rule::simple("egress", "IPv4", None),
            Rule::simple("egress", "IPv6", None),
        ] {
            tx.insert_rule(&rule.body(&new_uuid(), &id, &project_id), &rule.key())
                .await?;
        }
        tx.commit().await?;
        self.group_views(vec![group])
            .await?
            .pop()
            .ok_or_else(NeutronError::internal)
    }

    async fn locked_group(
        &self,
        tx: &mut NeutronTx,
        scope: &Scope,
        id: &str,
    ) -> Result<Value, NeutronError> {
        match tx.lock(NeutronKind::SecurityGroup, id).await? {
            Some(g) if scope.owns(&SecurityGroup::from_doc(&g)?.project_id) => Ok(g),
            _ => Err(NeutronError::security_group_not_found(id)),
        }
    }

    pub async fn update_security_group(
        &self,
        scope: &Scope,
        id: &str,
        body: Value,
    ) -> Result<Value, NeutronError> {
        let map = check("security_group", body, GROUP_ATTRS, Op::Update)?;
        let mut tx = self.store.neutron_tx().await?;
        let mut group = self.locked_group(&mut tx, scope, id).await?;
        let before = SecurityGroup::from_doc(&group)?;
        let project_id = before.project_id.clone();
        let is_default = tx.default_security_group(&project_id).await?.as_deref() == Some(id);
        for (k, v) in &map {
            let value = match k.as_str() {
                "name" => {
                    let n = string(k, v, 255)?;
                    if is_default && n != "default" {
                        return Err(NeutronError::conflict(
                            "SecurityGroupCannotUpdateDefault",
                            "Updating default security group not allowed.",
                        ));
                    }
                    if !is_default && n == "default" {
                        return Err(NeutronError::conflict(
                            "SecurityGroupDefaultAlreadyExists",
                            "Default security group already exists.",
                        ));
                    }
                    json!(n)
                }
                "description" => json!(string(k, v, 255)?),
                "stateful" => {
                    let s = boolean(k, v)?;
                    if Some(s) != before.stateful && tx.ports_using_group(id).await? > 0 {
                        return Err(NeutronError::conflict(
                            "SecurityGroupInUse",
                            format!("Security Group {id} in use."),
                        ));
                    }
                    json!(s)
                }
                _ => continue,
            };
            group[k.as_str()] = value;
        }
        touch(&mut group);
        let jobs = self.group_jobs(&mut tx, id, &project_id, None).await?;
        tx.update(NeutronKind::SecurityGroup, &group, &jobs).await?;
        tx.commit().await?;
        self.group_views(vec![group])
            .await?
            .pop()
            .ok_or_else(NeutronError::internal)
    }

    /// The sync job for a group's change, if the group has copies in pods.
    async fn group_jobs(
        &self,
        tx: &mut NeutronTx,
        group_id: &str,
        project_id: &str,
        snapshot: Option<&Value>,
    ) -> Result<Vec<NewJob>, NeutronError> {
        jobs_for::<jobs_types::SecurityGroupSync>(tx, group_id, project_id, snapshot).await
    }

    pub async fn delete_security_group(&self, scope: &Scope, id: &str) -> Result<(), NeutronError> {
        let mut tx = self.store.neutron_tx().await?;
        let group = self.locked_group(&mut tx, scope, id).await?;
        let project_id = SecurityGroup::from_doc(&group)?.project_id;
        let is_default = tx.default_security_group(&project_id).await?.as_deref() == Some(id);
        if is_default && !scope.is_admin {
            return Err(NeutronError::conflict(
                "SecurityGroupCannotRemoveDefault",
                "Insufficient rights for removing default security group.",
            ));
        }
        if tx.ports_using_group(id).await? > 0 {
            return Err(NeutronError::conflict(
                "SecurityGroupInUse",
                format!("Security Group {id} in use."),
            ));
        }
        // Rules of other groups that point at this one go with it.
        let remote = tx.rules_with_remote_group(id).await?;
        for rule in SecurityGroupRule::from_docs(&remote)? {
            let jobs = self
                .group_jobs(&mut tx, &rule.security_group_id, &rule.project_id, None)
                .await?;
            tx.delete(NeutronKind::SecurityGroupRule, &rule.id, &jobs)
                .await?;
        }
        let snapshot = {
            let rules = tx
                .list(
                    NeutronKind::SecurityGroupRule,
                    &NeutronFilter {
                        eq: vec![("security_group_id".into(), vec![id.to_string()])],
                        ..Default::default()
                    },
                )
                .await?;
            let mut g = group.clone();
            g["security_group_rules"] = json!(rules);
            g
        };
        let jobs = self
            .group_jobs(&mut tx, id, &project_id, Some(&snapshot))
            .await?;
        tx.delete(NeutronKind::SecurityGroup, id, &jobs).await?;
        tx.commit().await?;
        Ok(())
    }
}
