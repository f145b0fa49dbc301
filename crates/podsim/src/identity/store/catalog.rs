//! Regions, services, endpoints and the service catalog.

use serde_json::{json, Value};

use super::*;
use crate::identity::error::{KsError, KsResult};
use crate::util::new_hex_id;

impl Store {
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
