//! Flavors: kept at the top, copied into a pod the first time a server
//! there needs one (Tricircle's service user creates it with the same id,
//! extra specs and, for private flavors, project access), their changes
//! repeated in every pod holding a copy.

mod copies;
mod list;

use std::collections::BTreeMap;

use tricircle_store::{Flavor, NewFlavor, StoreError};

pub use list::{FlavorList, FlavorListQuery};

use crate::error::{ComputeError, Result};
use crate::{Caller, Compute};
use tricircle_core::ResourceType;

/// Routing resource type of a flavor's copy in a pod.
pub const ROUTING_TYPE: ResourceType = ResourceType::Flavor;

/// A change of a private flavor's project access.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccessChange {
    Add(String),
    Remove(String),
}

fn not_found(id: &str) -> ComputeError {
    ComputeError::NotFound(format!("Flavor {id} could not be found."))
}

impl Compute {
    /// The flavor if the caller may see it (public, shared with its
    /// project, or admin).
    pub async fn find_flavor(&self, caller: &Caller, id: &str) -> Result<Option<Flavor>> {
        let f = match self.store.get_flavor(id).await {
            Ok(f) => f,
            Err(StoreError::NotFound(_)) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        if f.is_public
            || caller.is_admin()
            || self
                .store
                .flavor_projects(id)
                .await?
                .contains(&caller.project_id)
        {
            Ok(Some(f))
        } else {
            Ok(None)
        }
    }

    /// The flavor the caller may see, or Nova's 404.
    pub async fn flavor(&self, caller: &Caller, id: &str) -> Result<Flavor> {
        self.find_flavor(caller, id)
            .await?
            .ok_or_else(|| not_found(id))
    }

    pub async fn create_flavor(&self, new: &NewFlavor) -> Result<Flavor> {
        Ok(self.store.create_flavor(new).await?)
    }

    pub async fn update_flavor_description(
        &self,
        id: &str,
        description: Option<&str>,
    ) -> Result<Flavor> {
        Ok(self
            .store
            .update_flavor_description(id, description)
            .await?)
    }

    /// Deletes the flavor, then its copies in the pods (best effort: a
    /// copy left behind is logged).
    pub async fn delete_flavor(&self, caller: &Caller, id: &str) -> Result<()> {
        self.store.delete_flavor(id).await?;
        self.propagate_flavor(caller, id, copies::Change::Delete)
            .await;
        Ok(())
    }

    /// Sets extra specs (adding to those the flavor has), here and in the
    /// pods holding a copy.
    pub async fn set_flavor_specs(
        &self,
        caller: &Caller,
        id: &str,
        specs: &BTreeMap<String, String>,
    ) -> Result<()> {
        self.store.set_flavor_extra_specs(id, specs).await?;
        self.propagate_flavor(caller, id, copies::Change::SetSpecs(specs))
            .await;
        Ok(())
    }

    /// Sets one extra spec, here and in the pods holding a copy.
    pub async fn set_flavor_spec(
        &self,
        caller: &Caller,
        id: &str,
        key: &str,
        specs: &BTreeMap<String, String>,
    ) -> Result<()> {
        self.store.set_flavor_extra_specs(id, specs).await?;
        self.propagate_flavor(caller, id, copies::Change::SetSpec(key, specs))
            .await;
        Ok(())
    }

    pub async fn delete_flavor_spec(&self, caller: &Caller, id: &str, key: &str) -> Result<()> {
        self.store.delete_flavor_extra_spec(id, key).await?;
        self.propagate_flavor(caller, id, copies::Change::DeleteSpec(key))
            .await;
        Ok(())
    }

    /// The projects a private flavor is shared with.
    pub async fn flavor_projects(&self, id: &str) -> Result<Vec<String>> {
        Ok(self.store.flavor_projects(id).await?)
    }

    /// Who a flavor the caller may see is shared with (Nova's
    /// `os-flavor-access` is admin-or-owner); public flavors have no list.
    pub async fn flavor_access(&self, caller: &Caller, id: &str) -> Result<Vec<String>> {
        let f = self.flavor(caller, id).await?;
        if f.is_public {
            return Err(ComputeError::NotFound(
                "Access list not available for public flavors.".into(),
            ));
        }
        self.flavor_projects(id).await
    }

    /// The flavor an admin changes the access of (any flavor; not found
    /// as the store says).
    pub async fn flavor_for_access(&self, id: &str) -> Result<Flavor> {
        Ok(self.store.get_flavor(id).await?)
    }

    /// Shares a private flavor with a project or stops sharing it (then
    /// also in the pods holding a copy); the projects it is shared with.
    pub async fn change_flavor_access(
        &self,
        caller: &Caller,
        flavor: &Flavor,
        change: &AccessChange,
    ) -> Result<Vec<String>> {
        if flavor.is_public {
            return Err(ComputeError::Conflict(
                "Can not add access to a public flavor.".into(),
            ));
        }
        let id = &flavor.flavorid;
        match change {
            AccessChange::Add(tenant) => self.store.add_flavor_project(id, tenant).await?,
            AccessChange::Remove(tenant) => {
                self.store.remove_flavor_project(id, tenant).await?;
                self.propagate_flavor(caller, id, copies::Change::RemoveAccess(tenant))
                    .await;
            }
        }
        self.flavor_projects(id).await
    }
}
