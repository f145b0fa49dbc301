//! Availability zones (the AZs of bottom pods) and host aggregates (one
//! per bottom pod, `ag_<pod>`), answered from the top store.

use tricircle_store::{Aggregate, Pod};

use crate::error::{ComputeError, Result};
use crate::Compute;

/// An AZ with its pods (as Nova's hosts).
#[derive(Debug, Clone)]
pub struct ZoneHosts {
    pub zone: String,
    pub available: bool,
    pub pods: Vec<Pod>,
}

impl Compute {
    /// Each AZ of the bottom pods, sorted, with its pods; available while
    /// one of them is not in maintenance.
    pub async fn zone_hosts(&self) -> Result<Vec<ZoneHosts>> {
        let pods = self.bottom_pods().await?;
        let mut names: Vec<String> = pods.iter().map(|p| p.az_name.clone()).collect();
        names.sort();
        names.dedup();
        Ok(names
            .into_iter()
            .map(|zone| {
                let pods: Vec<Pod> = pods.iter().filter(|p| p.az_name == zone).cloned().collect();
                ZoneHosts {
                    available: pods.iter().any(|p| !p.maintenance),
                    zone,
                    pods,
                }
            })
            .collect())
    }

    pub async fn aggregates(&self) -> Result<Vec<Aggregate>> {
        Ok(self.store.list_aggregates().await?)
    }

    /// The aggregate of numeric id or UUID `id`.
    pub async fn aggregate(&self, id: &str) -> Result<Aggregate> {
        self.aggregates()
            .await?
            .into_iter()
            .find(|a| a.id.to_string() == id || a.uuid == id)
            .ok_or_else(|| ComputeError::NotFound(format!("Aggregate {id} could not be found.")))
    }
}
