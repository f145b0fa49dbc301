//! Listing flavors: Nova's filters, sort keys and marker paging over the
//! flavors the caller may see.

use serde_json::{json, Value};
use tricircle_store::Flavor;

use crate::error::{ComputeError, Result};
use crate::{Caller, Compute};

/// A flavor list request, checked by the API.
#[derive(Debug, Clone, Default)]
pub struct FlavorListQuery {
    /// Public or private flavors only; `None`: both (admins).
    pub is_public: Option<bool>,
    pub min_ram: Option<i64>,
    pub min_disk: Option<i64>,
    /// One of [`FlavorListQuery::SORT_KEYS`].
    pub sort_key: String,
    pub descending: bool,
    pub marker: Option<String>,
    pub limit: Option<i64>,
}

impl FlavorListQuery {
    /// The sort keys Nova accepts.
    pub const SORT_KEYS: &'static [&'static str] = &[
        "created_at",
        "description",
        "disabled",
        "ephemeral_gb",
        "flavorid",
        "id",
        "is_public",
        "memory_mb",
        "name",
        "root_gb",
        "rxtx_factor",
        "swap",
        "updated_at",
        "vcpu_weight",
        "vcpus",
    ];
}

/// One page of flavors; `more`: a next page exists.
#[derive(Debug, Clone)]
pub struct FlavorList {
    pub flavors: Vec<Flavor>,
    pub more: bool,
}

fn sort_value(f: &Flavor, key: &str) -> Value {
    match key {
        "name" => json!(f.name),
        "memory_mb" => json!(f.ram_mb),
        "vcpus" => json!(f.vcpus),
        "root_gb" => json!(f.root_gb),
        "ephemeral_gb" => json!(f.ephemeral_gb),
        "swap" => json!(f.swap_mb),
        "rxtx_factor" => json!(f.rxtx_factor),
        "created_at" => json!(f.created_at),
        "updated_at" => json!(f.updated_at),
        "is_public" => json!(f.is_public),
        "disabled" => json!(f.disabled),
        "description" => json!(f.description),
        _ => json!(f.flavorid),
    }
}

impl Compute {
    pub async fn list_flavors(&self, caller: &Caller, q: &FlavorListQuery) -> Result<FlavorList> {
        let admin = caller.is_admin();
        let visible = if admin {
            self.store.list_flavors(None).await?
        } else {
            self.store.list_flavors(Some(&caller.project_id)).await?
        };
        page(visible, q, admin)
    }
}

/// Filters, sorts and pages `visible`.
fn page(visible: Vec<Flavor>, q: &FlavorListQuery, admin: bool) -> Result<FlavorList> {
    let mut flavors: Vec<Flavor> = visible
        .into_iter()
        .filter(|f| q.is_public.is_none_or(|p| !admin && p || f.is_public == p))
        .filter(|f| {
            q.min_ram.is_none_or(|m| f.ram_mb >= m) && q.min_disk.is_none_or(|m| f.root_gb >= m)
        })
        .collect();
    flavors.sort_by(|a, b| {
        let o = tricircle_core::listing::compare_values(
            &sort_value(a, &q.sort_key),
            &sort_value(b, &q.sort_key),
        )
        .then_with(|| a.flavorid.cmp(&b.flavorid));
        if q.descending {
            o.reverse()
        } else {
            o
        }
    });
    if let Some(m) = &q.marker {
        let pos = flavors
            .iter()
            .position(|f| f.flavorid == *m)
            .ok_or_else(|| ComputeError::BadRequest(format!("marker [{m}] not found")))?;
        flavors.drain(..=pos);
    }
    let mut more = false;
    if let Some(l) = q.limit {
        let l = usize::try_from(l.max(0)).unwrap_or(0);
        more = flavors.len() > l;
        flavors.truncate(l);
    }
    Ok(FlavorList { flavors, more })
}
