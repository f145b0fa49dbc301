use super::*;

fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

fn route(dest: &str, nexthop: &str) -> ExtraRoute {
    ExtraRoute {
        destination: dest.parse().unwrap(),
        nexthop: ip(nexthop),
    }
}

fn vm(subnet: &str, addr: &str) -> VmAddress {
    VmAddress {
        subnet_id: subnet.into(),
        ip: ip(addr),
    }
}

/// One pod of a test view: id, bridge ip, attached subnets, VMs.
type TestPod<'a> = (&'a str, Option<&'a str>, &'a [&'a str], Vec<VmAddress>);

/// A view from `(subnet, cidr)` pairs and pods.
fn view(subnets: &[(&str, &str)], pods: &[TestPod]) -> RouterView {
    RouterView {
        subnets: subnets
            .iter()
            .map(|(id, cidr)| (id.to_string(), cidr.parse().unwrap()))
            .collect(),
        pods: pods
            .iter()
            .map(|(pod, bridge, attached, vms)| {
                let router = PodRouter {
                    bridge_ip: bridge.map(ip),
                    subnets: attached.iter().map(|s| s.to_string()).collect(),
                    vms: vms.clone(),
                };
                (pod.to_string(), router)
            })
            .collect(),
        gateway_pod: None,
    }
}

fn routes_of<'a>(plan: &'a RoutePlan, pod: &str) -> &'a [ExtraRoute] {
    plan.routes.get(pod).map(Vec::as_slice).unwrap_or_default()
}

const NETS: &[(&str, &str)] = &[
    ("net1", "10.0.1.0/24"),
    ("net2", "10.0.2.0/24"),
    ("net3", "10.0.3.0/24"),
];

#[test]
fn each_pod_routes_the_other_pods_vms_via_their_bridge_ip() {
    // The seed's walkthrough: net1 in Pod1, net2 in Pod2, one router.
    let v = view(
        NETS,
        &[
            (
                "pod1",
                Some("100.0.0.2"),
                &["net1"],
                vec![vm("net1", "10.0.1.5")],
            ),
            (
                "pod2",
                Some("100.0.0.3"),
                &["net2"],
                vec![vm("net2", "10.0.2.7")],
            ),
        ],
    );
    let plan = plan_routes(&v);
    assert_eq!(
        routes_of(&plan, "pod1"),
        [route("10.0.2.7/32", "100.0.0.3")]
    );
    assert_eq!(
        routes_of(&plan, "pod2"),
        [route("10.0.1.5/32", "100.0.0.2")]
    );
    assert!(plan.skipped.is_empty());
}

#[test]
fn vms_in_the_same_pod_need_no_route() {
    let v = view(
        NETS,
        &[
            (
                "pod1",
                Some("100.0.0.2"),
                &["net1", "net2"],
                vec![vm("net1", "10.0.1.5"), vm("net2", "10.0.2.5")],
            ),
            ("pod2", Some("100.0.0.3"), &["net3"], vec![]),
        ],
    );
    let plan = plan_routes(&v);
    assert_eq!(routes_of(&plan, "pod1"), []);
    assert_eq!(
        routes_of(&plan, "pod2"),
        [
            route("10.0.1.5/32", "100.0.0.2"),
            route("10.0.2.5/32", "100.0.0.2")
        ]
    );
}

#[test]
fn stretched_subnets_need_no_route_between_the_pods_holding_them() {
    // net1 stretched over pod1 and pod2, net3 only in pod3.
    let v = view(
        NETS,
        &[
            (
                "pod1",
                Some("100.0.0.2"),
                &["net1"],
                vec![vm("net1", "10.0.1.10")],
            ),
            (
                "pod2",
                Some("100.0.0.3"),
                &["net1"],
                vec![vm("net1", "10.0.1.20")],
            ),
            (
                "pod3",
                Some("100.0.0.4"),
                &["net3"],
                vec![vm("net3", "10.0.3.30")],
            ),
        ],
    );
    let plan = plan_routes(&v);
    assert_eq!(
        routes_of(&plan, "pod1"),
        [route("10.0.3.30/32", "100.0.0.4")]
    );
    assert_eq!(
        routes_of(&plan, "pod2"),
        [route("10.0.3.30/32", "100.0.0.4")]
    );
    // Each VM of the stretched network through the pod it is in.
    assert_eq!(
        routes_of(&plan, "pod3"),
        [
            route("10.0.1.10/32", "100.0.0.2"),
            route("10.0.1.20/32", "100.0.0.3")
        ]
    );
}

#[test]
fn routers_without_subnets_or_bridge_port_get_an_empty_list() {
    let v = view(
        NETS,
        &[
            (
                "pod1",
                Some("100.0.0.2"),
                &["net1"],
                vec![vm("net1", "10.0.1.5")],
            ),
            // The gateway pod with nothing attached: no east-west traffic.
            ("pod-ext", Some("100.0.0.3"), &[], vec![]),
            // Bridge port not allocated yet.
            ("pod3", None, &["net3"], vec![vm("net3", "10.0.3.5")]),
        ],
    );
    let plan = plan_routes(&v);
    assert_eq!(plan.routes.len(), 3, "every pod is in the plan");
    assert_eq!(routes_of(&plan, "pod1"), []);
    assert_eq!(routes_of(&plan, "pod-ext"), []);
    assert_eq!(routes_of(&plan, "pod3"), []);
    assert_eq!(
        plan.skipped,
        [Skipped {
            pod: "pod3".into(),
            vm: vm("net3", "10.0.3.5"),
            reason: SkipReason::NoBridgeIp
        }]
    );
}

#[test]
fn inconsistent_addresses_are_skipped_and_named() {
    let v = view(
        NETS,
        &[
            (
                "pod1",
                Some("100.0.0.2"),
                &["net1", "net2"],
                vec![
                    vm("net9", "10.0.9.5"),  // subnet not on the router
                    vm("net1", "10.0.2.99"), // outside its subnet
                    vm("net2", "10.0.2.50"), // also claimed in pod2
                    vm("net1", "10.0.1.5"),  // fine
                ],
            ),
            (
                "pod2",
                Some("100.0.0.3"),
                &["net2", "net3"],
                vec![
                    vm("net1", "10.0.1.6"),  // net1 not attached in pod2
                    vm("net2", "10.0.2.50"), // also claimed in pod1
                ],
            ),
            ("pod3", Some("100.0.0.4"), &["net3"], vec![]),
        ],
    );
    let plan = plan_routes(&v);
    let reasons: Vec<(&str, Ipv4Addr, SkipReason)> = plan
        .skipped
        .iter()
        .map(|s| (s.pod.as_str(), s.vm.ip, s.reason))
        .collect();
    use SkipReason::*;
    assert_eq!(
        reasons,
        [
            ("pod1", ip("10.0.2.50"), Ambiguous),
            ("pod1", ip("10.0.2.99"), OutsideSubnet),
            ("pod1", ip("10.0.9.5"), UnknownSubnet),
            ("pod2", ip("10.0.1.6"), NotAttachedInPod),
            ("pod2", ip("10.0.2.50"), Ambiguous),
        ]
    );
    assert_eq!(
        routes_of(&plan, "pod2"),
        [route("10.0.1.5/32", "100.0.0.2")]
    );
    assert_eq!(
        routes_of(&plan, "pod3"),
        [route("10.0.1.5/32", "100.0.0.2")]
    );
}

#[test]
fn a_bridge_ip_held_by_two_pods_is_no_next_hop() {
    let v = view(
        NETS,
        &[
            (
                "pod1",
                Some("100.0.0.2"),
                &["net1"],
                vec![vm("net1", "10.0.1.5")],
            ),
            (
                "pod2",
                Some("100.0.0.2"),
                &["net2"],
                vec![vm("net2", "10.0.2.5")],
            ),
            ("pod3", Some("100.0.0.4"), &["net3"], vec![]),
        ],
    );
    let plan = plan_routes(&v);
    assert!(plan.routes.values().all(Vec::is_empty));
    assert_eq!(plan.skipped.len(), 2);
    assert!(plan
        .skipped
        .iter()
        .all(|s| s.reason == SkipReason::SharedBridgeIp));
}

#[test]
fn the_plan_does_not_depend_on_input_order_or_repeats() {
    let vms = vec![
        vm("net1", "10.0.1.9"),
        vm("net1", "10.0.1.3"),
        vm("net1", "10.0.1.7"),
    ];
    let mut reversed = vms.clone();
    reversed.reverse();
    reversed.push(vm("net1", "10.0.1.3"));
    let a = view(
        NETS,
        &[
            ("pod1", Some("100.0.0.2"), &["net1"], vms),
            ("pod2", Some("100.0.0.3"), &["net2"], vec![]),
        ],
    );
    let b = view(
        NETS,
        &[
            ("pod1", Some("100.0.0.2"), &["net1"], reversed),
            ("pod2", Some("100.0.0.3"), &["net2"], vec![]),
        ],
    );
    let plan = plan_routes(&a);
    assert_eq!(plan, plan_routes(&b));
    assert_eq!(
        routes_of(&plan, "pod2"),
        [
            route("10.0.1.3/32", "100.0.0.2"),
            route("10.0.1.7/32", "100.0.0.2"),
            route("10.0.1.9/32", "100.0.0.2")
        ]
    );
}

#[test]
fn diff_names_what_to_add_and_remove() {
    let current = [
        route("10.0.1.5/32", "100.0.0.2"),
        route("10.0.1.6/32", "100.0.0.2"),
        route("10.0.1.6/32", "100.0.0.2"),
    ];
    let desired = [
        route("10.0.1.7/32", "100.0.0.3"),
        route("10.0.1.5/32", "100.0.0.2"),
    ];
    let d = diff_routes(&current, &desired);
    assert_eq!(d.add, [route("10.0.1.7/32", "100.0.0.3")]);
    assert_eq!(d.remove, [route("10.0.1.6/32", "100.0.0.2")]);
    assert!(!d.is_empty());
    assert!(diff_routes(&desired, &desired).is_empty());
}

#[test]
fn routes_serialize_as_neutron_spells_them() {
    let r = route("10.0.1.5/32", "100.0.0.2");
    let json = serde_json::to_value(r).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"destination": "10.0.1.5/32", "nexthop": "100.0.0.2"})
    );
    assert_eq!(serde_json::from_value::<ExtraRoute>(json).unwrap(), r);
}
