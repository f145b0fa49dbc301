//! Cross-pod L3: what a top router needs in the pods, as pure code
//! (BEHAVIOUR §6.3 east-west, §6.4 north-south). No store, no HTTP: the
//! network domain reads the top's state, asks these functions what the
//! bottom state should be, and makes the pods match it.
//!
//! # The Tricircle model
//!
//! One top router shows the tenant one router across pods. Under it, every
//! pod that needs one gets a *bottom router* named by the top router's id.
//! Bottom routers of one top router talk to each other over the tenant's
//! **east-west bridge network**: one /24 out of `100.0.0.0/9`
//! ([`BridgeKind::EastWest`]) with one VLAN id or VNI ([`Segment`]), the same
//! CIDR and segment in every pod, so it is one L2 segment across the pods.
//! Each bottom router has a port on it whose IP the top allocates
//! ([`BridgeSubnet::allocate_ip`]), unique across pods.
//!
//! A VM in pod A on a subnet that only pod A holds is reached from pod B by
//! an **extra route** on B's bottom router: `<vm ip>/32` via A's bridge IP
//! ([`plan_routes`]). Per-VM `/32`s rather than the subnet's CIDR because a
//! network may be stretched over pods (VLAN/VxLAN types): a pod that holds
//! the subnet itself reaches every VM on it over L2 and needs no route, and a
//! pod that does not must send each VM's traffic to the pod the VM is in.
//!
//! North-south: the external network lives in one pod, the *gateway pod*. Its
//! bottom router has the real gateway, and the tenant's **north-south bridge**
//! (a /24 out of `100.128.0.0/9`, [`BridgeKind::NorthSouth`]) as an interface
//! holding that subnet's gateway IP. In every other pod with VMs on the router
//! the north-south bridge is an *external* network and the bottom router's
//! gateway is on it, so those routers' default route leads to the gateway pod
//! without any extra route. A floating IP of a VM in another pod is a double
//! NAT over that bridge ([`FloatingIpPlacement`]). See [`topology`] for which
//! pieces each pod needs and why north-south adds no extra routes.
//!
//! # Allocation
//!
//! Bridge CIDRs, bridge IPs and segments all come from
//! [`lowest_free`]: the lowest value of the configured ranges that is not
//! taken. A store allocates by reading what is taken, inserting the answer
//! under a unique key, and trying again when another writer won the race —
//! deterministic, so two racing writers propose the same value and exactly
//! one insert succeeds. Bridge CIDRs map one to one to a small index
//! ([`BridgeSubnet::index`], [`BridgeSubnet::from_index`]) so the unique key
//! can be an integer row.

mod bridge;
mod routes;
mod segment;
pub mod topology;

#[cfg(test)]
mod props;

pub use self::bridge::{overlaps_bridge_pools, BridgeKind, BridgeSubnet, BRIDGE_PREFIX_LEN};
pub use self::routes::{
    diff_routes, plan_routes, ExtraRoute, PodRouter, RouteDiff, RoutePlan, RouterView, SkipReason,
    Skipped, VmAddress,
};
pub use self::segment::{allocate_segment, Segment, SegmentRange, SegmentType, MAX_VLAN, MAX_VNI};
pub use self::topology::{
    place_floating_ip, plan_pieces, FloatingIpPlacement, NorthSouthRole, PodPieces,
};

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::ops::RangeInclusive;

use ipnet::Ipv4Net;

/// A bottom pod's `pod_id`.
pub type PodId = String;

/// A top subnet's id.
pub type SubnetId = String;

/// Why an allocation or a bridge value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum L3Error {
    #[error("no free {kind} bridge CIDR left in {pool}")]
    BridgeCidrsExhausted { kind: BridgeKind, pool: Ipv4Net },
    #[error("'{given}' is not a {kind} bridge CIDR (a /24 inside {pool})")]
    NotABridgeCidr {
        kind: BridgeKind,
        given: String,
        pool: Ipv4Net,
    },
    #[error("no free address left on bridge subnet {cidr}")]
    BridgeIpsExhausted { cidr: Ipv4Net },
    #[error("{ip} is not an assignable address of bridge subnet {cidr}")]
    NotABridgeIp { ip: Ipv4Addr, cidr: Ipv4Net },
    #[error("no free segment left in the configured {network_type} ranges")]
    SegmentsExhausted { network_type: SegmentType },
    #[error("invalid {network_type} range {min}:{max}: {reason}")]
    InvalidSegmentRange {
        network_type: SegmentType,
        min: u32,
        max: u32,
        reason: &'static str,
    },
}

/// The lowest value not in `taken`, trying the ranges in order (the first
/// range with a free value wins, even if a later range has a smaller one).
/// `None` when every range is full. Runs in `O(ranges + taken)`, so a
/// 16-million-value VNI range costs no more than the VNIs in use.
pub fn lowest_free(ranges: &[RangeInclusive<u32>], taken: &BTreeSet<u32>) -> Option<u32> {
    ranges.iter().find_map(|r| {
        let (lo, hi) = (*r.start(), *r.end());
        if lo > hi {
            return None;
        }
        let mut candidate = Some(lo);
        // `taken` in order from `lo`: the candidate moves past every value
        // that fills the gap-free run starting at `lo`.
        for &t in taken.range(lo..=hi) {
            match candidate {
                Some(c) if t == c => candidate = c.checked_add(1).filter(|n| *n <= hi),
                _ => break,
            }
        }
        candidate
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(v: &[u32]) -> BTreeSet<u32> {
        v.iter().copied().collect()
    }

    #[test]
    fn lowest_free_takes_the_first_gap_of_the_first_range_with_one() {
        assert_eq!(lowest_free(&[1..=5], &set(&[])), Some(1));
        assert_eq!(lowest_free(&[1..=5], &set(&[1, 2, 4])), Some(3));
        assert_eq!(lowest_free(&[1..=5], &set(&[0, 1, 2, 3, 4, 5, 6])), None);
        // Ranges in configured order, not numeric order.
        assert_eq!(lowest_free(&[10..=11, 1..=5], &set(&[])), Some(10));
        assert_eq!(lowest_free(&[10..=11, 1..=5], &set(&[10, 11])), Some(1));
        // Values outside the ranges do not matter.
        assert_eq!(lowest_free(&[3..=4], &set(&[1, 2, 5])), Some(3));
        // An empty range is skipped, not a panic.
        #[allow(clippy::reversed_empty_ranges)]
        let backwards = 5..=3;
        assert_eq!(lowest_free(&[backwards, 7..=7], &set(&[])), Some(7));
        assert_eq!(lowest_free(&[], &set(&[])), None);
    }

    #[test]
    fn lowest_free_reaches_the_top_of_u32_without_overflow() {
        let top = u32::MAX;
        assert_eq!(lowest_free(&[top - 1..=top], &set(&[top - 1])), Some(top));
        assert_eq!(lowest_free(&[top - 1..=top], &set(&[top - 1, top])), None);
    }
}
