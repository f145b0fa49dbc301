//! Property tests of the allocators and the route plan.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use proptest::prelude::*;

use super::*;

fn ranges() -> impl Strategy<Value = Vec<RangeInclusive<u32>>> {
    prop::collection::vec((0u32..60, 0u32..12), 0..4)
        .prop_map(|v| v.into_iter().map(|(lo, len)| lo..=lo + len).collect())
}

proptest! {
    #[test]
    fn lowest_free_is_free_in_range_and_lowest(
        ranges in ranges(),
        taken in prop::collection::btree_set(0u32..80, 0..60),
    ) {
        match lowest_free(&ranges, &taken) {
            Some(v) => {
                prop_assert!(!taken.contains(&v));
                let first = ranges.iter().position(|r| r.contains(&v));
                prop_assert!(first.is_some(), "{v} outside every range");
                let first = first.unwrap_or_default();
                // Every earlier range is full, and nothing below v in its own.
                for r in &ranges[..first] {
                    prop_assert!(r.clone().all(|x| taken.contains(&x)));
                }
                prop_assert!((*ranges[first].start()..v).all(|x| taken.contains(&x)));
            }
            None => prop_assert!(ranges.iter().flat_map(|r| r.clone()).all(|x| taken.contains(&x))),
        }
    }

    #[test]
    fn bridge_cidrs_are_free_aligned_24s_of_the_pool(
        ns in any::<bool>(),
        dense in prop::collection::btree_set(0u32..40, 0..40),
        scattered in prop::collection::vec((0u32..=255, 0u32..=255, 8u8..=32), 0..20),
    ) {
        let kind = if ns { BridgeKind::NorthSouth } else { BridgeKind::EastWest };
        let mut taken: Vec<Ipv4Net> = dense
            .iter()
            .map(|i| BridgeSubnet::from_index(kind, *i).map(|b| b.cidr()))
            .collect::<Result<_, _>>()
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        // Anything else: other pool, other lengths, host bits set.
        taken.extend(scattered.iter().filter_map(|(b, c, len)| {
            Ipv4Net::new(Ipv4Addr::new(100, *b as u8, *c as u8, 0), *len).ok()
        }));
        let got = BridgeSubnet::allocate(kind, &taken)
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert!(!taken.contains(&got.cidr()));
        prop_assert!(kind.pool().contains(&got.cidr()));
        prop_assert_eq!(got.cidr().prefix_len(), BRIDGE_PREFIX_LEN);
        prop_assert_eq!(got.cidr().network(), got.cidr().addr());
        prop_assert_eq!(BridgeSubnet::from_index(kind, got.index()), Ok(got));
        prop_assert_eq!(BridgeSubnet::from_cidr(kind, got.cidr()), Ok(got));
        // Lowest: every lower index is taken.
        prop_assert!((0..got.index()).all(|i| dense.contains(&i)));
    }

    #[test]
    fn bridge_ips_are_free_port_addresses_of_the_subnet(
        index in 0u32..32768,
        offsets in prop::collection::btree_set(0u32..=255, 0..256),
    ) {
        let b = BridgeSubnet::from_index(BridgeKind::EastWest, index)
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let base = u32::from(b.cidr().network());
        let taken: Vec<Ipv4Addr> = offsets.iter().map(|o| Ipv4Addr::from(base + o)).collect();
        match b.allocate_ip(&taken) {
            Ok(ip) => {
                prop_assert!(b.is_port_ip(ip));
                prop_assert!(!taken.contains(&ip));
                prop_assert!(ip != b.gateway_ip());
                prop_assert!(ip != b.cidr().network() && ip != b.cidr().broadcast());
            }
            Err(_) => prop_assert!((2..=254).all(|o| offsets.contains(&o))),
        }
    }

    #[test]
    fn segments_are_free_and_inside_a_configured_range(
        vlan in prop::collection::vec((0usize..2, 1u32..30, 0u32..5), 0..3),
        vni in prop::collection::vec((1u32..30, 0u32..5), 0..2),
        taken in prop::collection::vec((0usize..3, 1u32..40), 0..60),
    ) {
        let physnets = ["physnet1", "physnet2"];
        let mut ranges = Vec::new();
        for (p, lo, len) in &vlan {
            ranges.push(SegmentRange::vlan(physnets[*p], *lo, lo + len)
                .map_err(|e| TestCaseError::fail(e.to_string()))?);
        }
        for (lo, len) in &vni {
            ranges.push(SegmentRange::vxlan(*lo, lo + len)
                .map_err(|e| TestCaseError::fail(e.to_string()))?);
        }
        let taken: BTreeSet<Segment> = taken
            .iter()
            .map(|(kind, id)| match kind {
                2 => Segment {
                    network_type: SegmentType::Vxlan,
                    physical_network: None,
                    segmentation_id: *id,
                },
                p => Segment {
                    network_type: SegmentType::Vlan,
                    physical_network: Some(physnets[*p].to_string()),
                    segmentation_id: *id,
                },
            })
            .collect();
        let in_range = |r: &SegmentRange, id: u32| Segment {
            network_type: r.network_type(),
            physical_network: r.physical_network().map(str::to_string),
            segmentation_id: id,
        };
        match allocate_segment(&ranges, &taken) {
            Ok(s) => {
                prop_assert!(!taken.contains(&s));
                // The first range with room, from its lowest id.
                let first = ranges.iter().position(|r| r.contains(&s));
                prop_assert!(first.is_some(), "{s:?} outside every range");
                let first = first.unwrap_or_default();
                for r in &ranges[..first] {
                    prop_assert!(r.ids().all(|id| taken.contains(&in_range(r, id))));
                }
                let r = &ranges[first];
                prop_assert!((*r.ids().start()..s.segmentation_id).all(|id| taken.contains(&in_range(r, id))));
            }
            Err(_) => {
                for r in &ranges {
                    prop_assert!(r.ids().all(|id| taken.contains(&in_range(r, id))));
                }
            }
        }
    }
}

const SUBNETS: usize = 5;

fn subnet_id(i: usize) -> SubnetId {
    format!("subnet{i}")
}

fn subnet_cidr(i: usize) -> Ipv4Net {
    Ipv4Net::new_assert(Ipv4Addr::new(10, 0, i as u8, 0), 24)
}

/// Views with every kind of inconsistency now and then: unknown subnets,
/// addresses outside their subnet, the same address in two pods, routers
/// without bridge port, shared bridge IPs, subnets attached nowhere.
fn arb_view() -> impl Strategy<Value = RouterView> {
    let vm = (0..=SUBNETS, prop::bool::weighted(0.1), 1u8..10);
    let pod = (
        prop::option::weighted(0.85, 2u8..9),
        prop::collection::btree_set(0..SUBNETS, 0..4),
        prop::collection::vec(vm, 0..8),
    );
    prop::collection::vec(pod, 0..6).prop_map(|pods| RouterView {
        subnets: (0..SUBNETS)
            .map(|i| (subnet_id(i), subnet_cidr(i)))
            .collect(),
        pods: pods
            .into_iter()
            .enumerate()
            .map(|(n, (bridge, attached, vms))| {
                let router = PodRouter {
                    bridge_ip: bridge.map(|o| Ipv4Addr::new(100, 0, 0, o)),
                    subnets: attached.into_iter().map(subnet_id).collect(),
                    vms: vms
                        .into_iter()
                        .map(|(s, off, host)| VmAddress {
                            subnet_id: subnet_id(s),
                            ip: Ipv4Addr::new(10, 0, (s + usize::from(off)) as u8, host),
                        })
                        .collect(),
                };
                (format!("pod{n}"), router)
            })
            .collect(),
        gateway_pod: None,
    })
}

/// Where each address may be routed to, worked out from the rules of
/// BEHAVIOUR §6.3 directly: `(pod, subnet, bridge ip)` of every entry that
/// is in its subnet, attached in its pod, behind a bridge IP no other pod
/// has; kept only when that is the address's single such entry.
fn reachable(view: &RouterView) -> BTreeMap<Ipv4Addr, (PodId, SubnetId, Ipv4Addr)> {
    let mut seen: BTreeMap<Ipv4Addr, BTreeSet<(PodId, SubnetId, Ipv4Addr)>> = BTreeMap::new();
    for (pod, r) in &view.pods {
        let Some(bridge) = r.bridge_ip else { continue };
        let shared = view
            .pods
            .iter()
            .any(|(other, o)| other != pod && o.bridge_ip == Some(bridge));
        for vm in &r.vms {
            let in_subnet = view
                .subnets
                .get(&vm.subnet_id)
                .is_some_and(|c| c.contains(&vm.ip));
            if in_subnet && r.subnets.contains(&vm.subnet_id) && !shared {
                seen.entry(vm.ip)
                    .or_default()
                    .insert((pod.clone(), vm.subnet_id.clone(), bridge));
            }
        }
    }
    seen.into_iter()
        .filter(|(_, owners)| owners.len() == 1)
        .filter_map(|(ip, owners)| owners.into_iter().next().map(|o| (ip, o)))
        .collect()
}

proptest! {
    #[test]
    fn the_route_plan_follows_the_rules(view in arb_view()) {
        let plan = plan_routes(&view);
        let reach = reachable(&view);
        prop_assert_eq!(
            plan.routes.keys().collect::<Vec<_>>(),
            view.pods.keys().collect::<Vec<_>>()
        );
        for (pod, routes) in &plan.routes {
            let router = &view.pods[pod];
            // Sorted, one route per destination, all host routes.
            prop_assert!(routes.windows(2).all(|w| w[0].destination < w[1].destination));
            for r in routes {
                prop_assert_eq!(r.destination.prefix_len(), 32);
                let found = reach.get(&r.destination.addr());
                prop_assert!(found.is_some(), "{pod}: {r:?} leads to no VM");
                if let Some((home, subnet, bridge)) = found {
                    // Never a pod's own VM, never a subnet it holds itself,
                    // always via the bridge IP of the pod the VM is in.
                    prop_assert_ne!(home, pod);
                    prop_assert!(!router.subnets.contains(subnet));
                    prop_assert_eq!(r.nexthop, *bridge);
                }
            }
            // Nothing for the pod's own routable VMs.
            for vm in &router.vms {
                let own = router.subnets.contains(&vm.subnet_id)
                    && view.subnets.get(&vm.subnet_id).is_some_and(|c| c.contains(&vm.ip));
                if own {
                    prop_assert!(routes.iter().all(|r| r.destination.addr() != vm.ip));
                }
            }
            // Every remote VM this pod cannot reach over L2: exactly one route.
            if router.bridge_ip.is_some() && !router.subnets.is_empty() {
                for (ip, (home, subnet, _)) in &reach {
                    if home != pod && !router.subnets.contains(subnet) {
                        let n = routes.iter().filter(|r| r.destination.addr() == *ip).count();
                        prop_assert_eq!(n, 1, "{}: {} routes to {}", pod, n, ip);
                    }
                }
            } else {
                prop_assert!(routes.is_empty());
            }
        }
        // Every listed address is either reachable or named as skipped.
        for (pod, router) in &view.pods {
            for vm in &router.vms {
                let routed = reach.get(&vm.ip).is_some_and(|(h, s, _)| h == pod && *s == vm.subnet_id);
                let skipped = plan.skipped.iter().any(|s| &s.pod == pod && &s.vm == vm);
                prop_assert!(routed != skipped, "{pod} {vm:?}: routed {routed}, skipped {skipped}");
            }
        }
    }

    #[test]
    fn the_route_plan_ignores_input_order(view in arb_view(), seed in any::<u64>()) {
        let mut shuffled = view.clone();
        for (n, router) in shuffled.pods.values_mut().enumerate() {
            router.vms.reverse();
            let len = router.vms.len();
            if len > 0 {
                router.vms.rotate_left((seed as usize + n) % len);
            }
            // A repeated entry changes nothing either.
            if let Some(first) = router.vms.first().cloned() {
                router.vms.push(first);
            }
        }
        prop_assert_eq!(plan_routes(&view), plan_routes(&shuffled));
    }

    #[test]
    fn the_diff_turns_current_into_desired(
        current in prop::collection::vec((1u8..20, 2u8..5), 0..15),
        desired in prop::collection::vec((1u8..20, 2u8..5), 0..15),
    ) {
        let to_routes = |v: &[(u8, u8)]| -> Vec<ExtraRoute> {
            v.iter()
                .map(|(h, n)| ExtraRoute::host(Ipv4Addr::new(10, 0, 0, *h), Ipv4Addr::new(100, 0, 0, *n)))
                .collect()
        };
        let (current, desired) = (to_routes(&current), to_routes(&desired));
        let d = diff_routes(&current, &desired);
        let mut applied: BTreeSet<ExtraRoute> = current.iter().copied().collect();
        for r in &d.remove {
            prop_assert!(applied.remove(r), "removes {r:?} that is not there");
        }
        for r in &d.add {
            prop_assert!(applied.insert(*r), "adds {r:?} that is already there");
        }
        prop_assert_eq!(applied, desired.iter().copied().collect::<BTreeSet<_>>());
    }
}
