//! The JSON Keystone returns for each entity.

use serde_json::{json, Value};

use super::*;

impl Store {
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
