//! `availability_zones`: the AZs of the bottom pods, for networks and
//! routers (each pod hosts both), available while one of their pods is
//! out of maintenance.

use serde_json::{json, Value};

use crate::listing::{ListQuery, Listing, Page};
use crate::{Neutron, NeutronError, Scope};

fn zone_not_found(name: &str) -> NeutronError {
    NeutronError::not_found(
        "AvailabilityZoneNotFound",
        format!("AvailabilityZone {name} could not be found."),
    )
}

const LISTING: Listing<'static> = Listing {
    filterable: &["name", "resource", "state"],
    sortable: &["name", "resource", "state"],
    not_found: zone_not_found,
};

impl Neutron {
    pub async fn list_availability_zones(
        &self,
        _scope: &Scope,
        q: &ListQuery,
    ) -> Result<Page, NeutronError> {
        LISTING.check(q)?;
        let mut zones: Vec<(String, bool)> = Vec::new();
        for p in self.store.list_pods().await?.iter().filter(|p| !p.is_top()) {
            match zones.iter_mut().find(|(az, _)| *az == p.az_name) {
                Some((_, up)) => *up |= !p.maintenance,
                None => zones.push((p.az_name.clone(), !p.maintenance)),
            }
        }
        zones.sort();
        let mut items: Vec<Value> = Vec::new();
        for resource in ["network", "router"] {
            for (name, up) in &zones {
                items.push(json!({
                    // Zones have no id; paging keys on the name.
                    "id": format!("{resource}/{name}"),
                    "name": name,
                    "resource": resource,
                    "state": if *up { "available" } else { "unavailable" },
                }));
            }
        }
        let mut page = LISTING.apply(items, q)?;
        for i in &mut page.items {
            if let Some(m) = i.as_object_mut() {
                m.remove("id");
            }
        }
        Ok(page)
    }
}
