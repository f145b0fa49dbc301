//! The bridge network's segment: the VLAN id (on a physical network) or the
//! VxLAN VNI that makes the per-pod copies of a bridge network one L2
//! segment. Allocated once at the top, so every pod gets the same one.
//!
//! The ranges are the operator's (`network_vlan_ranges`, `vni_ranges`, parsed
//! by the network configuration); the taken set must hold every segment the
//! top has handed out — tenant networks' and bridges' alike — because they
//! share the same wires.

use std::collections::BTreeSet;
use std::fmt;
use std::ops::RangeInclusive;

use super::{lowest_free, L3Error};

/// Largest VLAN id (4095 is reserved).
pub const MAX_VLAN: u32 = 4094;
/// Largest VxLAN network identifier (24 bits).
pub const MAX_VNI: u32 = (1 << 24) - 1;

/// The kinds of segment a bridge network can have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SegmentType {
    Vlan,
    Vxlan,
}

impl SegmentType {
    /// Neutron's `provider:network_type`.
    pub fn as_str(self) -> &'static str {
        match self {
            SegmentType::Vlan => "vlan",
            SegmentType::Vxlan => "vxlan",
        }
    }

    fn max(self) -> u32 {
        match self {
            SegmentType::Vlan => MAX_VLAN,
            SegmentType::Vxlan => MAX_VNI,
        }
    }
}

impl fmt::Display for SegmentType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A segment as Neutron's provider attributes spell it. VLAN ids are unique
/// per physical network; VNIs have no physical network.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Segment {
    pub network_type: SegmentType,
    pub physical_network: Option<String>,
    pub segmentation_id: u32,
}

/// One configured range of segment ids, checked on construction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentRange {
    network_type: SegmentType,
    physical_network: Option<String>,
    min: u32,
    max: u32,
}

impl SegmentRange {
    /// VLAN ids `min..=max` on `physical_network` (`physnet1:1000:2999`).
    pub fn vlan(physical_network: &str, min: u32, max: u32) -> Result<SegmentRange, L3Error> {
        if physical_network.is_empty() {
            return Err(invalid(SegmentType::Vlan, min, max, "no physical network"));
        }
        SegmentRange::checked(
            SegmentType::Vlan,
            Some(physical_network.to_string()),
            min,
            max,
        )
    }

    /// VNIs `min..=max` (`100001:110000`).
    pub fn vxlan(min: u32, max: u32) -> Result<SegmentRange, L3Error> {
        SegmentRange::checked(SegmentType::Vxlan, None, min, max)
    }

    fn checked(
        network_type: SegmentType,
        physical_network: Option<String>,
        min: u32,
        max: u32,
    ) -> Result<SegmentRange, L3Error> {
        if min == 0 || max > network_type.max() {
            let reason = match network_type {
                SegmentType::Vlan => "VLAN ids are 1 to 4094",
                SegmentType::Vxlan => "VNIs are 1 to 16777215",
            };
            return Err(invalid(network_type, min, max, reason));
        }
        if min > max {
            return Err(invalid(network_type, min, max, "the range is empty"));
        }
        Ok(SegmentRange {
            network_type,
            physical_network,
            min,
            max,
        })
    }

    pub fn network_type(&self) -> SegmentType {
        self.network_type
    }

    pub fn physical_network(&self) -> Option<&str> {
        self.physical_network.as_deref()
    }

    /// The ids of the range.
    pub fn ids(&self) -> RangeInclusive<u32> {
        self.min..=self.max
    }

    /// Whether the segment is one of this range's.
    pub fn contains(&self, s: &Segment) -> bool {
        s.network_type == self.network_type
            && s.physical_network == self.physical_network
            && (self.min..=self.max).contains(&s.segmentation_id)
    }

    fn segment(&self, segmentation_id: u32) -> Segment {
        Segment {
            network_type: self.network_type,
            physical_network: self.physical_network.clone(),
            segmentation_id,
        }
    }
}

fn invalid(network_type: SegmentType, min: u32, max: u32, reason: &'static str) -> L3Error {
    L3Error::InvalidSegmentRange {
        network_type,
        min,
        max,
        reason,
    }
}

/// The first free segment of the ranges, tried in order, each from its
/// lowest id. `ranges` are those of the one network type bridges use (the
/// first type of `tenant_network_types` that can be given out); the error
/// names the type of the first range, VxLAN when there is none.
pub fn allocate_segment(
    ranges: &[SegmentRange],
    taken: &BTreeSet<Segment>,
) -> Result<Segment, L3Error> {
    for r in ranges {
        let used: BTreeSet<u32> = taken
            .iter()
            .filter(|s| r.contains(s))
            .map(|s| s.segmentation_id)
            .collect();
        if let Some(id) = lowest_free(&[r.ids()], &used) {
            return Ok(r.segment(id));
        }
    }
    Err(L3Error::SegmentsExhausted {
        network_type: ranges
            .first()
            .map_or(SegmentType::Vxlan, |r| r.network_type),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vlan(physnet: &str, id: u32) -> Segment {
        Segment {
            network_type: SegmentType::Vlan,
            physical_network: Some(physnet.into()),
            segmentation_id: id,
        }
    }

    fn vni(id: u32) -> Segment {
        Segment {
            network_type: SegmentType::Vxlan,
            physical_network: None,
            segmentation_id: id,
        }
    }

    #[test]
    fn ranges_are_checked() {
        assert!(SegmentRange::vlan("physnet1", 1, 4094).is_ok());
        assert!(SegmentRange::vlan("physnet1", 0, 10).is_err());
        assert!(SegmentRange::vlan("physnet1", 10, 4095).is_err());
        assert!(SegmentRange::vlan("physnet1", 20, 10).is_err());
        assert!(SegmentRange::vlan("", 1, 10).is_err());
        assert!(SegmentRange::vxlan(1, MAX_VNI).is_ok());
        assert!(SegmentRange::vxlan(1, MAX_VNI + 1).is_err());
        let err = SegmentRange::vxlan(0, 5).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid vxlan range 0:5: VNIs are 1 to 16777215"
        );
    }

    #[test]
    fn the_lowest_free_id_of_the_first_range_with_room() {
        let ranges = [
            SegmentRange::vlan("physnet1", 100, 101).unwrap(),
            SegmentRange::vlan("physnet2", 100, 200).unwrap(),
        ];
        let mut taken = BTreeSet::new();
        assert_eq!(allocate_segment(&ranges, &taken), Ok(vlan("physnet1", 100)));
        taken.insert(vlan("physnet1", 100));
        // The same id on another physical network does not count.
        taken.insert(vlan("physnet2", 101));
        assert_eq!(allocate_segment(&ranges, &taken), Ok(vlan("physnet1", 101)));
        taken.insert(vlan("physnet1", 101));
        assert_eq!(allocate_segment(&ranges, &taken), Ok(vlan("physnet2", 100)));
        taken.insert(vlan("physnet2", 100));
        assert_eq!(allocate_segment(&ranges, &taken), Ok(vlan("physnet2", 102)));
    }

    #[test]
    fn vnis_ignore_vlans_and_a_full_range_is_an_error() {
        let ranges = [SegmentRange::vxlan(5000, 5001).unwrap()];
        let mut taken: BTreeSet<Segment> = [vlan("physnet1", 5000)].into();
        assert_eq!(allocate_segment(&ranges, &taken), Ok(vni(5000)));
        taken.extend([vni(5000), vni(5001)]);
        assert_eq!(
            allocate_segment(&ranges, &taken),
            Err(L3Error::SegmentsExhausted {
                network_type: SegmentType::Vxlan
            })
        );
        assert!(allocate_segment(&[], &taken).is_err());
    }
}
