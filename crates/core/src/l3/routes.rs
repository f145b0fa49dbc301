//! The extra routes of each bottom router of one top router (BEHAVIOUR §6.3).
//!
//! The rule: the bottom router in pod P gets `<ip>/32 via <Q's bridge IP>`
//! for every VM address `ip` in another pod Q on a subnet that P's bottom
//! router is not attached to. Nothing else:
//!
//! - no route for P's own VMs (they are on P's connected subnets);
//! - no route for a VM on a subnet P also holds: the network is stretched
//!   over both pods and P reaches the VM over L2 (the "local or stretched"
//!   distinction needs no flag: it is where the subnet is attached);
//! - no route in a pod whose bottom router has no tenant subnet (nothing
//!   behind it sends traffic) or no bridge port yet (the next hops would not
//!   be on a connected network, and the pod refuses such routes);
//! - no north-south route: the default route of a non-gateway pod comes from
//!   its router gateway on the north-south bridge, and floating IPs need none
//!   (see [`super::topology`]).
//!
//! Addresses that cannot be routed consistently are left out and named in
//! [`RoutePlan::skipped`] rather than failing the whole plan: one stale port
//! must not keep every other VM unreachable. The plan is a pure function of
//! the view's content — input order never matters — and each route list is
//! sorted, so writing the whole list is idempotent and [`diff_routes`] gives
//! the minimal change.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};

use super::{PodId, SubnetId};

/// One entry of a Neutron router's `routes`. Ordered by destination, then
/// next hop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ExtraRoute {
    pub destination: Ipv4Net,
    pub nexthop: Ipv4Addr,
}

impl ExtraRoute {
    /// The route to one host.
    pub fn host(ip: Ipv4Addr, nexthop: Ipv4Addr) -> ExtraRoute {
        ExtraRoute {
            destination: Ipv4Net::from(ip),
            nexthop,
        }
    }
}

/// What the top knows about one top router, as the planner needs it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RouterView {
    /// Every tenant subnet attached to the top router, with its CIDR.
    pub subnets: BTreeMap<SubnetId, Ipv4Net>,
    /// The pods with (or due to have) a bottom router of this top router.
    pub pods: BTreeMap<PodId, PodRouter>,
    /// The pod hosting the external network of the top router's gateway,
    /// when it has one. Routes do not depend on it; [`super::plan_pieces`]
    /// does.
    pub gateway_pod: Option<PodId>,
}

/// One pod's bottom router as the top sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PodRouter {
    /// The router's address on the east-west bridge; `None` while its
    /// bridge port is not allocated.
    pub bridge_ip: Option<Ipv4Addr>,
    /// The top subnets this pod's bottom router is attached to. A subnet in
    /// several pods' sets belongs to a stretched network.
    pub subnets: BTreeSet<SubnetId>,
    /// The fixed IPs of VM ports in this pod (DHCP, router and other
    /// service ports left out), in any order.
    pub vms: Vec<VmAddress>,
}

/// One fixed IP of a VM port. Ordered by address first.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct VmAddress {
    pub ip: Ipv4Addr,
    pub subnet_id: SubnetId,
}

/// The desired routes of every bottom router of one top router.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoutePlan {
    /// Every pod of the view, with its complete, sorted route list (empty
    /// lists included: stale routes must go).
    pub routes: BTreeMap<PodId, Vec<ExtraRoute>>,
    /// VM addresses no route leads to, sorted, for the caller to log.
    pub skipped: Vec<Skipped>,
}

/// A VM address left out of the plan, and why.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Skipped {
    pub pod: PodId,
    pub vm: VmAddress,
    pub reason: SkipReason,
}

/// Why a VM address has no route to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SkipReason {
    /// Its subnet is not attached to the top router.
    UnknownSubnet,
    /// The address is not inside its subnet's CIDR.
    OutsideSubnet,
    /// The subnet is attached to the top router but not (yet) to the bottom
    /// router of the VM's pod.
    NotAttachedInPod,
    /// The bottom router of the VM's pod has no bridge IP yet.
    NoBridgeIp,
    /// The bottom router of the VM's pod has the same bridge IP as another
    /// pod's: a next hop would be ambiguous.
    SharedBridgeIp,
    /// The same address is listed in more than one pod or subnet.
    Ambiguous,
}

/// The extra routes every bottom router of the view should have.
pub fn plan_routes(view: &RouterView) -> RoutePlan {
    let mut bridge_holders: BTreeMap<Ipv4Addr, usize> = BTreeMap::new();
    for ip in view.pods.values().filter_map(|p| p.bridge_ip) {
        *bridge_holders.entry(ip).or_default() += 1;
    }
    let mut skipped = BTreeSet::new();
    // Every address that passed the checks, with where it lives. A set, so
    // a port listed twice counts once and order never matters.
    let mut claims: BTreeMap<Ipv4Addr, BTreeSet<(&PodId, &SubnetId, Ipv4Addr)>> = BTreeMap::new();
    for (pod, router) in &view.pods {
        for vm in &router.vms {
            match routable(view, router, vm, &bridge_holders) {
                Ok(nexthop) => {
                    claims
                        .entry(vm.ip)
                        .or_default()
                        .insert((pod, &vm.subnet_id, nexthop));
                }
                Err(reason) => {
                    skipped.insert(skip(pod, vm, reason));
                }
            }
        }
    }
    let mut routes: BTreeMap<PodId, BTreeSet<ExtraRoute>> = view
        .pods
        .keys()
        .map(|p| (p.clone(), BTreeSet::new()))
        .collect();
    for (ip, owners) in &claims {
        let mut owners_iter = owners.iter();
        let (Some(&(home, subnet, nexthop)), None) = (owners_iter.next(), owners_iter.next())
        else {
            for (pod, subnet_id, _) in owners {
                let vm = VmAddress {
                    subnet_id: (*subnet_id).clone(),
                    ip: *ip,
                };
                skipped.insert(skip(pod, &vm, SkipReason::Ambiguous));
            }
            continue;
        };
        for (pod, router) in &view.pods {
            // `pod != home` is implied (the VM's subnet is attached in its
            // own pod) but says what the rule is.
            let wants = pod != home
                && router.bridge_ip.is_some()
                && !router.subnets.is_empty()
                && !router.subnets.contains(subnet);
            if wants {
                if let Some(list) = routes.get_mut(pod) {
                    list.insert(ExtraRoute::host(*ip, nexthop));
                }
            }
        }
    }
    RoutePlan {
        routes: routes
            .into_iter()
            .map(|(pod, set)| (pod, set.into_iter().collect()))
            .collect(),
        skipped: skipped.into_iter().collect(),
    }
}

/// The next hop towards `vm` (its pod's bridge IP), or why there is none.
fn routable(
    view: &RouterView,
    router: &PodRouter,
    vm: &VmAddress,
    bridge_holders: &BTreeMap<Ipv4Addr, usize>,
) -> Result<Ipv4Addr, SkipReason> {
    let cidr = view
        .subnets
        .get(&vm.subnet_id)
        .ok_or(SkipReason::UnknownSubnet)?;
    if !cidr.contains(&vm.ip) {
        return Err(SkipReason::OutsideSubnet);
    }
    if !router.subnets.contains(&vm.subnet_id) {
        return Err(SkipReason::NotAttachedInPod);
    }
    let nexthop = router.bridge_ip.ok_or(SkipReason::NoBridgeIp)?;
    if bridge_holders.get(&nexthop).copied().unwrap_or(0) > 1 {
        return Err(SkipReason::SharedBridgeIp);
    }
    Ok(nexthop)
}

fn skip(pod: &PodId, vm: &VmAddress, reason: SkipReason) -> Skipped {
    Skipped {
        pod: pod.clone(),
        vm: vm.clone(),
        reason,
    }
}

/// What turns `current` into `desired`: routes to remove and routes to add,
/// each sorted and without duplicates (for `remove_extraroutes` then
/// `add_extraroutes`, or to tell whether a rewrite is needed at all).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RouteDiff {
    pub add: Vec<ExtraRoute>,
    pub remove: Vec<ExtraRoute>,
}

impl RouteDiff {
    pub fn is_empty(&self) -> bool {
        self.add.is_empty() && self.remove.is_empty()
    }
}

/// The change from a bottom router's `current` routes to `desired` ones.
pub fn diff_routes(current: &[ExtraRoute], desired: &[ExtraRoute]) -> RouteDiff {
    let current: BTreeSet<&ExtraRoute> = current.iter().collect();
    let desired: BTreeSet<&ExtraRoute> = desired.iter().collect();
    RouteDiff {
        add: desired.difference(&current).map(|r| **r).collect(),
        remove: current.difference(&desired).map(|r| **r).collect(),
    }
}

#[cfg(test)]
mod tests;
