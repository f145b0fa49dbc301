//! The top Neutron's tables, on SQLite and (when available) PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{json, Value};
use tricircle_core::PodSpec;
use tricircle_core::ResourceType;
use tricircle_store::testing;
use tricircle_store::{NeutronFilter, NeutronKind, NewJob, NewRouting, StoreError};

fn network(id: &str, project: &str, shared: bool) -> Value {
    json!({"id": id, "project_id": project, "name": format!("net-{id}"), "shared": shared, "router:external": false})
}

fn port(id: &str, project: &str, net: &str, mac: &str) -> Value {
    json!({"id": id, "project_id": project, "network_id": net, "name": "", "mac_address": mac, "device_id": "", "device_owner": ""})
}

fn job(kind: &str, id: &str) -> NewJob {
    NewJob {
        job_type: kind.into(),
        project_id: "p1".into(),
        resource_id: id.into(),
        resource: json!({"network_id": id}),
    }
}

#[tokio::test]
async fn resources_round_trip_with_visibility() {
    for s in testing::all().await {
        let mut tx = s.neutron_tx().await.unwrap();
        tx.insert(NeutronKind::Network, &network("n1", "p1", false))
            .await
            .unwrap();
        tx.insert(NeutronKind::Network, &network("n2", "p2", true))
            .await
            .unwrap();
        tx.insert(NeutronKind::Network, &network("n3", "p2", false))
            .await
            .unwrap();
        tx.commit().await.unwrap();

        let got = s
            .neutron_get(NeutronKind::Network, "n1")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got["name"], "net-n1", "{}", s.label());
        assert!(s
            .neutron_get(NeutronKind::Network, "nx")
            .await
            .unwrap()
            .is_none());

        let ids = |v: Vec<Value>| {
            v.iter()
                .map(|b| b["id"].as_str().unwrap().to_string())
                .collect::<Vec<_>>()
        };
        let mine = s
            .neutron_list(
                NeutronKind::Network,
                &NeutronFilter {
                    visible_to: Some("p1".into()),
                    eq: vec![],
                },
            )
            .await
            .unwrap();
        assert_eq!(ids(mine), ["n1", "n2"], "{}", s.label());
        let by_name = s
            .neutron_list(
                NeutronKind::Network,
                &NeutronFilter {
                    visible_to: None,
                    eq: vec![("name".into(), vec!["net-n3".into(), "net-n1".into()])],
                },
            )
            .await
            .unwrap();
        assert_eq!(ids(by_name), ["n1", "n3"]);
        let bad = s
            .neutron_list(
                NeutronKind::Network,
                &NeutronFilter {
                    visible_to: None,
                    eq: vec![("body".into(), vec!["x".into()])],
                },
            )
            .await;
        assert!(matches!(bad, Err(StoreError::Unsupported(_))));

        // Ports on my network are visible to me whoever owns them.
        let mut tx = s.neutron_tx().await.unwrap();
        tx.insert_port(&port("pa", "p2", "n1", "fa:16:3e:00:00:01"), None)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        let ports = s
            .neutron_list(
                NeutronKind::Port,
                &NeutronFilter {
                    visible_to: Some("p1".into()),
                    eq: vec![],
                },
            )
            .await
            .unwrap();
        assert_eq!(ids(ports), ["pa"]);

        // An update rewrites the columns too.
        let mut tx = s.neutron_tx().await.unwrap();
        let mut n3 = tx.lock(NeutronKind::Network, "n3").await.unwrap().unwrap();
        n3["shared"] = json!(true);
        tx.update(NeutronKind::Network, &n3, &[]).await.unwrap();
        tx.commit().await.unwrap();
        let mine = s
            .neutron_list(
                NeutronKind::Network,
                &NeutronFilter {
                    visible_to: Some("p1".into()),
                    eq: vec![],
                },
            )
            .await
            .unwrap();
        assert_eq!(ids(mine), ["n1", "n2", "n3"]);
        let counts = s.neutron_counts("p2").await.unwrap();
        assert!(counts.contains(&(NeutronKind::Network, 2)));
        assert!(counts.contains(&(NeutronKind::Port, 1)));
    }
}

#[tokio::test]
async fn unique_keys_decide_races() {
    for s in testing::all().await {
        let mut tx = s.neutron_tx().await.unwrap();
        tx.insert(NeutronKind::Network, &network("n1", "p1", false))
            .await
            .unwrap();
        tx.insert(
            NeutronKind::Subnet,
            &json!({"id": "s1", "project_id": "p1", "network_id": "n1", "name": "", "ip_version": 4, "cidr": "10.0.0.0/24"}),
        )
        .await
        .unwrap();
        tx.insert_port(
            &port("a", "p1", "n1", "fa:16:3e:00:00:01"),
            Some("dhcp_port_s1"),
        )
        .await
        .unwrap();
        tx.insert_port(&port("b", "p1", "n1", "fa:16:3e:00:00:02"), None)
            .await
            .unwrap();
        assert!(tx.allocate_ip("s1", "10.0.0.2", "a", "n1").await.unwrap());
        assert!(!tx.allocate_ip("s1", "10.0.0.2", "b", "n1").await.unwrap());
        assert!(tx.allocate_ip("s1", "10.0.0.3", "b", "n1").await.unwrap());
        assert!(tx.claim_segment("vxlan", "", 7, "n1").await.unwrap());
        assert!(!tx.claim_segment("vxlan", "", 7, "n2").await.unwrap());
        assert!(tx.claim_segment("vlan", "physnet1", 7, "n2").await.unwrap());
        assert_eq!(tx.segments_in_use("vxlan", "").await.unwrap(), [7]);
        assert!(tx.claim_default_security_group("p1", "g1").await.unwrap());
        assert!(!tx.claim_default_security_group("p1", "g2").await.unwrap());
        assert_eq!(
            tx.default_security_group("p1").await.unwrap().as_deref(),
            Some("g1")
        );
        assert!(tx.mac_in_use("n1", "fa:16:3e:00:00:01").await.unwrap());
        assert!(!tx.mac_in_use("n1", "fa:16:3e:00:00:09").await.unwrap());
        assert!(tx
            .find_reserved_port("n1", "dhcp_port_s1")
            .await
            .unwrap()
            .is_some());
        assert!(tx.is_reserved_port("a").await.unwrap());
        assert!(!tx.is_reserved_port("b").await.unwrap());
        let mut allocs = tx.subnet_allocations("s1").await.unwrap();
        allocs.sort();
        assert_eq!(
            allocs,
            [
                ("10.0.0.2".to_string(), "a".to_string()),
                ("10.0.0.3".into(), "b".into())
            ]
        );
        tx.commit().await.unwrap();

        // A second port of a reserved name, or a MAC taken in the network,
        // is a conflict.
        let mut tx = s.neutron_tx().await.unwrap();
        let e = tx
            .insert_port(
                &port("c", "p1", "n1", "fa:16:3e:00:00:03"),
                Some("dhcp_port_s1"),
            )
            .await;
        assert!(matches!(e, Err(StoreError::Conflict(_))), "{}", s.label());
        drop(tx);
        let mut tx = s.neutron_tx().await.unwrap();
        let e = tx
            .insert_port(&port("c", "p1", "n1", "fa:16:3e:00:00:02"), None)
            .await;
        assert!(matches!(e, Err(StoreError::Conflict(_))), "{}", s.label());
        drop(tx);

        // Deleting a port frees its addresses.
        let mut tx = s.neutron_tx().await.unwrap();
        tx.delete(NeutronKind::Port, "a", &[]).await.unwrap();
        assert!(tx.allocate_ip("s1", "10.0.0.2", "b", "n1").await.unwrap());
        tx.commit().await.unwrap();
    }
}

#[tokio::test]
async fn rules_are_unique_per_group_and_go_with_it() {
    for s in testing::all().await {
        let mut tx = s.neutron_tx().await.unwrap();
        tx.insert(
            NeutronKind::SecurityGroup,
            &json!({"id": "g1", "project_id": "p1", "name": "web"}),
        )
        .await
        .unwrap();
        let rule = |id: &str| json!({"id": id, "project_id": "p1", "security_group_id": "g1", "remote_group_id": "g1"});
        tx.insert_rule(&rule("r1"), "ingress|IPv4").await.unwrap();
        tx.insert_rule(&rule("r2"), "egress|IPv4").await.unwrap();
        tx.commit().await.unwrap();
        let mut tx = s.neutron_tx().await.unwrap();
        assert!(matches!(
            tx.insert_rule(&rule("r3"), "ingress|IPv4").await,
            Err(StoreError::Conflict(_))
        ));
        drop(tx);
        assert_eq!(s.neutron_rules_of(&["g1".into()]).await.unwrap().len(), 2);

        let mut tx = s.neutron_tx().await.unwrap();
        tx.delete(NeutronKind::SecurityGroup, "g1", &[])
            .await
            .unwrap();
        tx.commit().await.unwrap();
        assert!(s.neutron_rules_of(&["g1".into()]).await.unwrap().is_empty());
    }
}

#[tokio::test]
async fn jobs_are_recorded_with_the_change_or_not_at_all() {
    for s in testing::all().await {
        let mut tx = s.neutron_tx().await.unwrap();
        tx.insert(NeutronKind::Network, &network("n1", "p1", false))
            .await
            .unwrap();
        tx.commit().await.unwrap();

        // Rolled back: neither the change nor its job.
        let mut tx = s.neutron_tx().await.unwrap();
        let mut n = tx.lock(NeutronKind::Network, "n1").await.unwrap().unwrap();
        n["name"] = json!("renamed");
        tx.update(NeutronKind::Network, &n, &[job("network_update", "n1")])
            .await
            .unwrap();
        drop(tx);
        assert!(
            s.pending_jobs("p1").await.unwrap().is_empty(),
            "{}",
            s.label()
        );
        assert_eq!(
            s.neutron_get(NeutronKind::Network, "n1")
                .await
                .unwrap()
                .unwrap()["name"],
            "net-n1"
        );

        let mut tx = s.neutron_tx().await.unwrap();
        tx.update(NeutronKind::Network, &n, &[job("network_update", "n1")])
            .await
            .unwrap();
        tx.commit().await.unwrap();
        let mut tx = s.neutron_tx().await.unwrap();
        tx.delete(NeutronKind::Network, "n1", &[job("network_delete", "n1")])
            .await
            .unwrap();
        assert!(matches!(
            tx.delete(NeutronKind::Network, "n1", &[]).await,
            Err(StoreError::NotFound(_))
        ));
        drop(tx);
        let mut tx = s.neutron_tx().await.unwrap();
        tx.delete(NeutronKind::Network, "n1", &[job("network_delete", "n1")])
            .await
            .unwrap();
        tx.commit().await.unwrap();
        let jobs: Vec<String> = s
            .pending_jobs("p1")
            .await
            .unwrap()
            .into_iter()
            .map(|j| j.0)
            .collect();
        assert_eq!(jobs, ["network_update", "network_delete"], "{}", s.label());
    }
}

#[tokio::test]
async fn copies_and_their_zones() {
    for s in testing::all().await {
        let pod = |name: &str, az: &str| {
            PodSpec {
                pod_name: name.into(),
                az_name: Some(az.into()),
                pod_az_name: None,
                dc_name: None,
            }
            .validate()
            .unwrap()
        };
        s.create_pod(&pod("RegionOne", "")).await.unwrap();
        let p1 = s.create_pod(&pod("Pod1", "az1")).await.unwrap();
        let p2 = s.create_pod(&pod("Pod2", "az2")).await.unwrap();
        for p in [&p2, &p1] {
            s.create_routing(&NewRouting {
                top_id: "n1".into(),
                bottom_id: Some("b".into()),
                pod_id: p.pod_id.clone(),
                project_id: "p1".into(),
                resource_type: ResourceType::Network,
            })
            .await
            .unwrap();
        }
        let azs = s
            .neutron_copy_azs(ResourceType::Network, &["n1".into(), "n2".into()])
            .await
            .unwrap();
        assert_eq!(
            azs,
            [
                ("n1".to_string(), "az1".to_string()),
                ("n1".into(), "az2".into())
            ]
        );
        let mut tx = s.neutron_tx().await.unwrap();
        let mut pods = tx.copy_pods("n1", ResourceType::Network).await.unwrap();
        pods.sort();
        let mut want = vec![p1.pod_id.clone(), p2.pod_id.clone()];
        want.sort();
        assert_eq!(pods, want);
        assert!(tx
            .copy_pods("n1", ResourceType::Subnet)
            .await
            .unwrap()
            .is_empty());
    }
}

#[tokio::test]
async fn network_quotas() {
    for s in testing::all().await {
        assert!(s.network_quota_limits("p1").await.unwrap().is_empty());
        s.set_network_quotas("p1", &[("network".into(), 5), ("port".into(), -1)])
            .await
            .unwrap();
        s.set_network_quotas("p1", &[("network".into(), 6)])
            .await
            .unwrap();
        assert_eq!(
            s.network_quota_limits("p1").await.unwrap(),
            [("network".to_string(), 6), ("port".into(), -1)]
        );
        let all = s.all_network_quotas().await.unwrap();
        assert_eq!(all.len(), 1);
        s.delete_network_quotas("p1").await.unwrap();
        assert!(s.network_quota_limits("p1").await.unwrap().is_empty());
    }
}

#[tokio::test]
async fn deletes_leave_tombstones() {
    for s in testing::all().await {
        let pod = PodSpec {
            pod_name: "Pod1".into(),
            az_name: Some("az1".into()),
            pod_az_name: None,
            dc_name: None,
        }
        .validate()
        .unwrap();
        let p1 = s.create_pod(&pod).await.unwrap();
        let mut tx = s.neutron_tx().await.unwrap();
        tx.insert(NeutronKind::Network, &network("n1", "p1", false))
            .await
            .unwrap();
        tx.commit().await.unwrap();
        let mut tx = s.neutron_tx().await.unwrap();
        tx.delete(NeutronKind::Network, "n1", &[]).await.unwrap();
        tx.commit().await.unwrap();
        let lock = s
            .lock_routing("n1", &p1.pod_id, "p1", ResourceType::Network)
            .await
            .unwrap();
        assert_eq!(
            lock,
            tricircle_store::RoutingLock::Tombstoned,
            "{}",
            s.label()
        );
    }
}
