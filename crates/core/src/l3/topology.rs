//! Which bottom pieces each pod needs for one top router (BEHAVIOUR §6.3,
//! §6.4), and where a floating IP's NAT happens.
//!
//! # North-south, and why it adds no extra routes
//!
//! The tenant has two bridges (the two-bridge design of the seed, not the
//! later upstream single bridge with a separate north-south router):
//!
//! - In the **gateway pod** (the one hosting the external network) the
//!   bottom router has the real gateway on the bottom external network, and
//!   an *interface* on the north-south bridge holding that subnet's
//!   `gateway_ip` ([`super::BridgeSubnet::gateway_ip`]).
//! - In **every other pod with subnets on the router** the north-south bridge
//!   is copied as an *external* network and the bottom router's gateway is
//!   on it, at an address the top allocates from the bridge. Neutron derives
//!   that router's default route from the gateway subnet's `gateway_ip` —
//!   the gateway pod's router — so no `0.0.0.0/0` extra route is planned. The
//!   router SNATs to its bridge address, and the gateway pod SNATs again to
//!   its external address, so the gateway pod needs no route back either:
//!   the bridge addresses are on-link for it.
//! - A **floating IP** of a VM in the gateway pod is an ordinary floating IP
//!   there. For a VM elsewhere it is a double NAT: in the gateway pod the
//!   real floating IP on a north-south bridge port with a top-allocated inner
//!   address X; in the VM's pod a floating IP X on the bridge (external
//!   there) pointing at the VM's port. X is on-link for the gateway pod, so
//!   again no route.
//!
//! One consequence to know: with `enable_snat = false` on the top router,
//! VMs outside the gateway pod still leave through their own pod's SNAT, so
//! the outside sees their pod's north-south bridge address rather than the
//! VM's. Honouring no-SNAT across pods would take return routes in the
//! gateway pod; it is not planned.
//!
//! # Each pod's pieces depend only on that pod
//!
//! A pod's pieces are decided by what is attached in that pod and which pod
//! hosts the gateway — never by how many other pods there are. So a pod with
//! subnets gets its east-west bridge port even while it is the router's only
//! pod, and the gateway pod gets its north-south bridge interface even before
//! another pod has VMs: a new pod joining the router never requires
//! revisiting the others' set-up, only the route job (which re-plans the
//! whole router anyway).

use std::collections::BTreeMap;

use super::{PodId, RouterView};

/// A pod's part in north-south traffic of one top router.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum NorthSouthRole {
    /// The router has no gateway, or this pod has nothing behind it.
    None,
    /// The pod hosting the external network: the real gateway, and an
    /// interface on the north-south bridge at its `gateway_ip`.
    ExternalGateway,
    /// Another pod with subnets: the north-south bridge as an external
    /// network, the router's gateway on it (SNAT on) at a bridge address.
    BridgeGateway,
}

/// What one pod needs for one top router. All `false`/`None` for a pod that
/// needs nothing any more: its bottom router and ports should go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PodPieces {
    /// A bottom router named by the top router's id.
    pub bottom_router: bool,
    /// A port of the bottom router on the east-west bridge (and the bridge
    /// network and subnet copied into the pod), at a top-allocated address.
    pub east_west_port: bool,
    pub north_south: NorthSouthRole,
}

impl PodPieces {
    /// Whether the pod needs its copy of the north-south bridge network.
    pub fn north_south_bridge(&self) -> bool {
        self.north_south != NorthSouthRole::None
    }
}

/// The pieces every pod of the view — and the gateway pod, when the router
/// has a gateway — needs.
pub fn plan_pieces(view: &RouterView) -> BTreeMap<PodId, PodPieces> {
    let mut pieces: BTreeMap<PodId, PodPieces> = view
        .pods
        .iter()
        .map(|(pod, router)| {
            let attached = !router.subnets.is_empty();
            let north_south = match &view.gateway_pod {
                Some(gw) if gw == pod => NorthSouthRole::ExternalGateway,
                Some(_) if attached => NorthSouthRole::BridgeGateway,
                _ => NorthSouthRole::None,
            };
            let piece = PodPieces {
                bottom_router: attached || north_south != NorthSouthRole::None,
                east_west_port: attached,
                north_south,
            };
            (pod.clone(), piece)
        })
        .collect();
    if let Some(gw) = &view.gateway_pod {
        pieces.entry(gw.clone()).or_insert(PodPieces {
            bottom_router: true,
            east_west_port: false,
            north_south: NorthSouthRole::ExternalGateway,
        });
    }
    pieces
}

/// Where a floating IP's NAT happens.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FloatingIpPlacement {
    /// The VM is in the gateway pod: a floating IP on the bottom external
    /// network, on the VM's bottom port.
    Direct { pod: PodId },
    /// The VM is elsewhere: in `gateway_pod` the real floating IP on a
    /// north-south bridge port with an inner address X the top allocates
    /// from the bridge; in `vm_pod` a floating IP X on the bridge, on the
    /// VM's port.
    DoubleNat { gateway_pod: PodId, vm_pod: PodId },
}

impl FloatingIpPlacement {
    /// Whether the floating IP needs an inner north-south bridge address.
    pub fn needs_inner_address(&self) -> bool {
        matches!(self, FloatingIpPlacement::DoubleNat { .. })
    }
}

/// Where the floating IP of a VM in `vm_pod` is set up, for a router whose
/// gateway is in `gateway_pod`.
pub fn place_floating_ip(gateway_pod: &str, vm_pod: &str) -> FloatingIpPlacement {
    if gateway_pod == vm_pod {
        FloatingIpPlacement::Direct {
            pod: vm_pod.to_string(),
        }
    } else {
        FloatingIpPlacement::DoubleNat {
            gateway_pod: gateway_pod.to_string(),
            vm_pod: vm_pod.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::l3::PodRouter;

    fn view(pods: &[(&str, &[&str])], gateway_pod: Option<&str>) -> RouterView {
        RouterView {
            subnets: BTreeMap::new(),
            pods: pods
                .iter()
                .map(|(pod, subnets)| {
                    let router = PodRouter {
                        bridge_ip: None,
                        subnets: subnets.iter().map(|s| s.to_string()).collect(),
                        vms: Vec::new(),
                    };
                    (pod.to_string(), router)
                })
                .collect(),
            gateway_pod: gateway_pod.map(str::to_string),
        }
    }

    const EAST_WEST_ONLY: PodPieces = PodPieces {
        bottom_router: true,
        east_west_port: true,
        north_south: NorthSouthRole::None,
    };
    const NOTHING: PodPieces = PodPieces {
        bottom_router: false,
        east_west_port: false,
        north_south: NorthSouthRole::None,
    };

    #[test]
    fn without_a_gateway_pods_with_subnets_get_a_router_and_a_bridge_port() {
        let p = plan_pieces(&view(&[("pod1", &["net1"]), ("pod2", &[])], None));
        assert_eq!(p["pod1"], EAST_WEST_ONLY);
        assert!(!p["pod1"].north_south_bridge());
        // Its last interface removed: everything in pod2 goes.
        assert_eq!(p["pod2"], NOTHING);
        assert_eq!(p.len(), 2);
    }

    #[test]
    fn with_a_gateway_the_gateway_pod_holds_it_and_the_others_use_the_bridge() {
        let p = plan_pieces(&view(
            &[("pod1", &["net1"]), ("pod2", &["net2"]), ("pod3", &[])],
            Some("pod2"),
        ));
        assert_eq!(
            p["pod1"],
            PodPieces {
                bottom_router: true,
                east_west_port: true,
                north_south: NorthSouthRole::BridgeGateway,
            }
        );
        assert_eq!(
            p["pod2"],
            PodPieces {
                bottom_router: true,
                east_west_port: true,
                north_south: NorthSouthRole::ExternalGateway,
            }
        );
        assert!(p["pod2"].north_south_bridge());
        assert_eq!(p["pod3"], NOTHING);
    }

    #[test]
    fn the_gateway_pod_needs_a_router_even_with_nothing_attached() {
        // Gateway set before any interface (no order constraint).
        let p = plan_pieces(&view(&[], Some("pod-ext")));
        assert_eq!(
            p["pod-ext"],
            PodPieces {
                bottom_router: true,
                east_west_port: false,
                north_south: NorthSouthRole::ExternalGateway,
            }
        );
        let p = plan_pieces(&view(
            &[("pod-ext", &[]), ("pod1", &["net1"])],
            Some("pod-ext"),
        ));
        assert!(!p["pod-ext"].east_west_port);
        assert_eq!(p["pod1"].north_south, NorthSouthRole::BridgeGateway);
    }

    #[test]
    fn floating_ips_are_direct_in_the_gateway_pod_and_double_nat_elsewhere() {
        let direct = place_floating_ip("pod2", "pod2");
        assert_eq!(direct, FloatingIpPlacement::Direct { pod: "pod2".into() });
        assert!(!direct.needs_inner_address());
        let nat = place_floating_ip("pod2", "pod1");
        assert_eq!(
            nat,
            FloatingIpPlacement::DoubleNat {
                gateway_pod: "pod2".into(),
                vm_pod: "pod1".into()
            }
        );
        assert!(nat.needs_inner_address());
    }
}
