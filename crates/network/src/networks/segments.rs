//! Network segments: what a network's pods must agree on (`local`,
//! `vlan`, `vxlan`, `flat`), asked for by an admin's provider attributes or
//! allocated from the configured ranges.

use std::collections::BTreeSet;
use std::ops::RangeInclusive;

use serde_json::{Map, Value};
use tricircle_store::NeutronTx;

use super::{PROVIDER, PROVIDER_PHYSNET, PROVIDER_SEGID, PROVIDER_TYPE};
use crate::attrs::{integer, string};
use crate::config::MAX_VNI;
use crate::{Attempt, ErrorClass, Neutron, NeutronError};

/// A network's segment: what the pods must agree on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Segment {
    pub(crate) network_type: String,
    pub(crate) physical_network: Option<String>,
    pub(crate) segmentation_id: Option<i64>,
}

/// What provider attributes ask for.
#[derive(Debug, Clone)]
pub(crate) struct SegmentRequest {
    network_type: String,
    physical_network: Option<String>,
    segmentation_id: Option<i64>,
}

fn in_use(network_type: &str, physnet: &str, id: i64) -> NeutronError {
    match network_type {
        "vlan" => NeutronError::conflict(
            "VlanIdInUse",
            format!(
                "Unable to create the network. The VLAN {id} on physical network {physnet} is in use."
            ),
        ),
        "flat" => NeutronError::conflict(
            "FlatNetworkInUse",
            format!(
                "Unable to create the flat network. Physical network {physnet} is in use."
            ),
        ),
        _ => NeutronError::conflict(
            "TunnelIdInUse",
            format!("Unable to create the network. The tunnel ID {id} is in use."),
        ),
    }
}

fn no_network_available() -> NeutronError {
    NeutronError::new(
        ErrorClass::Unavailable,
        "NoNetworkAvailable",
        "Unable to create the network. No tenant network is available for allocation.",
    )
}

/// The lowest id of `ranges` not in `used`: [`tricircle_core::l3::lowest_free`]
/// (the one allocator, bridges' too) over the stored ids. Segment ids are
/// VLAN ids and VNIs, all within `u32`; anything else is no id of a range.
fn lowest_free_id(ranges: &[(i64, i64)], used: &[i64]) -> Option<i64> {
    let ranges: Vec<RangeInclusive<u32>> = ranges
        .iter()
        .filter_map(|&(lo, hi)| Some(u32::try_from(lo).ok()?..=u32::try_from(hi).ok()?))
        .collect();
    let taken: BTreeSet<u32> = used.iter().filter_map(|&u| u32::try_from(u).ok()).collect();
    tricircle_core::l3::lowest_free(&ranges, &taken).map(i64::from)
}
impl Neutron {
    pub(super) fn parse_segment_request(
        &self,
        map: &Map<String, Value>,
    ) -> Result<Option<SegmentRequest>, NeutronError> {
        let given = |k: &str| map.get(k).filter(|v| !v.is_null());
        if PROVIDER.iter().all(|k| given(k).is_none()) {
            return Ok(None);
        }
        let Some(t) = given(PROVIDER_TYPE) else {
            return Err(NeutronError::invalid_input("network_type required"));
        };
        let network_type = string(PROVIDER_TYPE, t, 32)?;
        let physical_network = given(PROVIDER_PHYSNET)
            .map(|v| string(PROVIDER_PHYSNET, v, 64))
            .transpose()?;
        let segmentation_id = given(PROVIDER_SEGID)
            .map(|v| integer(PROVIDER_SEGID, v))
            .transpose()?;
        let prohibited = |what: &str| {
            NeutronError::invalid_input(format!(
                "{what} prohibited for {network_type} provider network"
            ))
        };
        match network_type.as_str() {
            "local" => {
                if physical_network.is_some() {
                    return Err(prohibited("physical_network"));
                }
                if segmentation_id.is_some() {
                    return Err(prohibited("segmentation_id"));
                }
            }
            "flat" => {
                let Some(p) = &physical_network else {
                    return Err(NeutronError::invalid_input(
                        "physical_network required for flat provider network",
                    ));
                };
                if segmentation_id.is_some() {
                    return Err(prohibited("segmentation_id"));
                }
                if !self.cfg.flat_networks.iter().any(|f| f == "*" || f == p) {
                    return Err(NeutronError::invalid_input(format!(
                        "physical_network '{p}' unknown for flat provider network"
                    )));
                }
            }
            "vlan" => {
                let Some(p) = &physical_network else {
                    return Err(NeutronError::invalid_input(
                        "physical_network required for VLAN provider network",
                    ));
                };
                if !self
                    .cfg
                    .network_vlan_ranges
                    .iter()
                    .any(|r| &r.physical_network == p)
                {
                    return Err(NeutronError::invalid_input(format!(
                        "physical_network '{p}' unknown for VLAN provider network"
                    )));
                }
                if let Some(id) = segmentation_id {
                    if !(1..=4094).contains(&id) {
                        return Err(NeutronError::invalid_input(
                            "segmentation_id out of range (1 through 4094)",
                        ));
                    }
                }
            }
            "vxlan" => {
                if physical_network.is_some() {
                    return Err(prohibited("physical_network"));
                }
                if let Some(id) = segmentation_id {
                    if !(1..=i64::from(MAX_VNI)).contains(&id) {
                        return Err(NeutronError::invalid_input(format!(
                            "segmentation_id out of range (1 through {MAX_VNI})"
                        )));
                    }
                }
            }
            other => {
                return Err(NeutronError::invalid_input(format!(
                    "network_type value '{other}' not supported"
                )))
            }
        }
        Ok(Some(SegmentRequest {
            network_type,
            physical_network,
            segmentation_id,
        }))
    }

    fn vni_ranges(&self) -> Vec<(i64, i64)> {
        self.cfg
            .vni_ranges
            .iter()
            .map(|(a, b)| (i64::from(*a), i64::from(*b)))
            .collect()
    }

    /// Allocates (or claims the requested) segment for a new network, in
    /// `tx`; without a request, of the first of `types` that has one free.
    /// `Retry` when another instance took it between read and write.
    pub(crate) async fn allocate_segment(
        &self,
        tx: &mut NeutronTx,
        req: Option<SegmentRequest>,
        network_id: &str,
        types: &[String],
    ) -> Result<Attempt<Segment>, NeutronError> {
        if let Some(r) = req {
            let physnet = r.physical_network.clone().unwrap_or_default();
            let id = match (r.network_type.as_str(), r.segmentation_id) {
                ("local", _) => {
                    return Ok(Attempt::Done(Segment {
                        network_type: r.network_type,
                        physical_network: None,
                        segmentation_id: None,
                    }))
                }
                ("flat", _) => 0,
                (_, Some(id)) => id,
                ("vlan", None) => {
                    let ranges: Vec<(i64, i64)> = self
                        .cfg
                        .network_vlan_ranges
                        .iter()
                        .filter(|v| v.physical_network == physnet)
                        .filter_map(|v| v.range)
                        .map(|(a, b)| (i64::from(a), i64::from(b)))
                        .collect();
                    let used = tx.segments_in_use("vlan", &physnet).await?;
                    lowest_free_id(&ranges, &used).ok_or_else(no_network_available)?
                }
                (_, None) => {
                    let used = tx.segments_in_use("vxlan", "").await?;
                    lowest_free_id(&self.vni_ranges(), &used).ok_or_else(no_network_available)?
                }
            };
            if !tx
                .claim_segment(&r.network_type, &physnet, id, network_id)
                .await?
            {
                return Err(in_use(&r.network_type, &physnet, id));
            }
            return Ok(Attempt::Done(Segment {
                segmentation_id: (r.network_type != "flat").then_some(id),
                network_type: r.network_type,
                physical_network: r.physical_network,
            }));
        }
        for t in types {
            match t.as_str() {
                "local" => {
                    return Ok(Attempt::Done(Segment {
                        network_type: "local".into(),
                        physical_network: None,
                        segmentation_id: None,
                    }))
                }
                "vxlan" => {
                    let used = tx.segments_in_use("vxlan", "").await?;
                    if let Some(id) = lowest_free_id(&self.vni_ranges(), &used) {
                        if !tx.claim_segment("vxlan", "", id, network_id).await? {
                            return Ok(Attempt::Retry);
                        }
                        return Ok(Attempt::Done(Segment {
                            network_type: "vxlan".into(),
                            physical_network: None,
                            segmentation_id: Some(id),
                        }));
                    }
                }
                "vlan" => {
                    for r in &self.cfg.network_vlan_ranges {
                        let Some((lo, hi)) = r.range else { continue };
                        let used = tx.segments_in_use("vlan", &r.physical_network).await?;
                        if let Some(id) = lowest_free_id(&[(i64::from(lo), i64::from(hi))], &used) {
                            if !tx
                                .claim_segment("vlan", &r.physical_network, id, network_id)
                                .await?
                            {
                                return Ok(Attempt::Retry);
                            }
                            return Ok(Attempt::Done(Segment {
                                network_type: "vlan".into(),
                                physical_network: Some(r.physical_network.clone()),
                                segmentation_id: Some(id),
                            }));
                        }
                    }
                }
                // Flat networks are for operators (provider attributes).
                _ => {}
            }
        }
        Err(no_network_available())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lowest_ids() {
        assert_eq!(lowest_free_id(&[(1, 3)], &[1, 2]), Some(3));
        assert_eq!(lowest_free_id(&[(1, 2), (10, 11)], &[1, 2, 10]), Some(11));
        assert_eq!(lowest_free_id(&[(1, 2)], &[1, 2]), None);
        assert_eq!(lowest_free_id(&[], &[]), None);
    }
}
