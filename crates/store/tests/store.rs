//! Store behaviour, run on SQLite and (when available) PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use tricircle_core::ResourceType;
use tricircle_core::{PodSpec, PodUpdate};
use tricircle_store::testing::{self, TestStore};
use tricircle_store::{
    BindingFilter, BindingUpdate, CachedEndpoint, NewBinding, NewRouting, Pod, RoutingFilter,
    RoutingUpdate, StoreError,
};

fn spec(name: &str, az: &str) -> tricircle_core::pod::ValidPod {
    PodSpec {
        pod_name: name.into(),
        az_name: Some(az.into()),
        pod_az_name: Some(if az.is_empty() { "" } else { "nova" }.into()),
        dc_name: Some("dc1".into()),
    }
    .validate()
    .unwrap()
}

async fn with_pods(s: &TestStore) -> (Pod, Pod, Pod) {
    let top = s.create_pod(&spec("RegionOne", "")).await.unwrap();
    let p1 = s.create_pod(&spec("Pod1", "az1")).await.unwrap();
    let p2 = s.create_pod(&spec("Pod2", "az2")).await.unwrap();
    (top, p1, p2)
}

fn routing(top_id: &str, pod: &Pod, project: &str, rtype: &str) -> NewRouting {
    NewRouting {
        top_id: top_id.into(),
        bottom_id: Some(format!("b-{top_id}")),
        pod_id: pod.pod_id.clone(),
        project_id: project.into(),
        resource_type: rtype.parse().unwrap(),
    }
}

#[tokio::test]
async fn migrations_are_idempotent() {
    for s in testing::all().await {
        s.migrate().await.unwrap();
        s.migrate().await.unwrap();
        s.ping().await.unwrap();
    }
}

#[tokio::test]
async fn pods_and_their_aggregates() {
    for s in testing::all().await {
        let (top, p1, p2) = with_pods(&s).await;
        assert!(top.is_top() && !p1.is_top());
        let pods = s.list_pods().await.unwrap();
        assert_eq!(pods.len(), 3, "{}", s.label());
        assert_eq!(s.get_pod(&p1.pod_id).await.unwrap(), p1);
        assert_eq!(s.top_pod().await.unwrap().unwrap().pod_id, top.pod_id);
        assert_eq!(
            s.find_pod_by_name("Pod2").await.unwrap().map(|p| p.pod_id),
            Some(p2.pod_id.clone())
        );

        let aggs = s.list_aggregates().await.unwrap();
        let names: Vec<_> = aggs.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names, ["ag_Pod1", "ag_Pod2"], "{}", s.label());
        assert_eq!(aggs[0].pod_id.as_deref(), Some(p1.pod_id.as_str()));
        assert_eq!(
            aggs[1]
                .metadata
                .get("availability_zone")
                .map(String::as_str),
            Some("az2")
        );
    }
}

#[tokio::test]
async fn pod_conflicts() {
    for s in testing::all().await {
        with_pods(&s).await;
        let second_top = s.create_pod(&spec("RegionTwo", "")).await;
        assert!(
            matches!(second_top, Err(StoreError::Conflict(_))),
            "{}",
            s.label()
        );
        let named_like_top = s.create_pod(&spec("RegionOne", "az9")).await;
        assert!(matches!(named_like_top, Err(StoreError::Conflict(_))));
        let dup = s.create_pod(&spec("Pod1", "az3")).await;
        assert!(matches!(dup, Err(StoreError::Conflict(_))));
        // Nothing half-written: no extra pods or aggregates.
        assert_eq!(s.list_pods().await.unwrap().len(), 3);
        assert_eq!(s.list_aggregates().await.unwrap().len(), 2);
    }
}

#[tokio::test]
async fn concurrent_top_pods_one_wins() {
    for s in testing::all().await {
        let mut tasks = Vec::new();
        for i in 0..8 {
            let store = s.store.clone();
            tasks.push(tokio::spawn(async move {
                store.create_pod(&spec(&format!("Top{i}"), "")).await
            }));
        }
        let mut ok = 0;
        for t in tasks {
            match t.await.unwrap() {
                Ok(_) => ok += 1,
                Err(StoreError::Conflict(_)) => {}
                Err(e) => panic!("{}: unexpected {e}", s.label()),
            }
        }
        assert_eq!(ok, 1, "{}", s.label());
        assert_eq!(s.list_pods().await.unwrap().len(), 1);
    }
}

#[tokio::test]
async fn pod_update() {
    for s in testing::all().await {
        let (_, p1, _) = with_pods(&s).await;
        let u = PodUpdate {
            dc_name: Some("dc9".into()),
            maintenance: Some(true),
            pod_az_name: None,
        };
        let p = s.update_pod(&p1.pod_id, &u).await.unwrap();
        assert_eq!(
            (p.dc_name.as_str(), p.maintenance, p.pod_az_name.as_str()),
            ("dc9", true, "nova")
        );
        assert_eq!(s.get_pod(&p1.pod_id).await.unwrap(), p);
        assert!(matches!(
            s.update_pod("nope", &u).await,
            Err(StoreError::NotFound(_))
        ));
    }
}

#[tokio::test]
async fn pod_delete_refused_while_referenced_unless_forced() {
    for s in testing::all().await {
        let (_, p1, p2) = with_pods(&s).await;
        s.create_routing(&routing("t1", &p1, "proj", "server"))
            .await
            .unwrap();
        s.create_binding(&NewBinding {
            tenant_id: "proj".into(),
            pod_id: p1.pod_id.clone(),
            is_binding: true,
        })
        .await
        .unwrap();
        s.replace_cached_endpoints(
            "Pod1",
            &[CachedEndpoint {
                region: "Pod1".into(),
                service_type: "compute".into(),
                interface: "public".into(),
                url: "http://x".into(),
            }],
        )
        .await
        .unwrap();

        let refused = s.delete_pod(&p1.pod_id, false).await;
        assert!(
            matches!(refused, Err(StoreError::Conflict(_))),
            "{}",
            s.label()
        );
        assert!(s.find_pod(&p1.pod_id).await.unwrap().is_some());

        s.delete_pod(&p1.pod_id, true).await.unwrap();
        assert!(s.find_pod(&p1.pod_id).await.unwrap().is_none());
        let left = s
            .list_routings(&RoutingFilter::default(), None, 100)
            .await
            .unwrap();
        assert!(left.routings.is_empty());
        assert!(s
            .list_bindings(&BindingFilter::default())
            .await
            .unwrap()
            .is_empty());
        assert!(s.cached_endpoints("Pod1").await.unwrap().is_empty());
        let aggs: Vec<_> = s
            .list_aggregates()
            .await
            .unwrap()
            .into_iter()
            .map(|a| a.name)
            .collect();
        assert_eq!(aggs, ["ag_Pod2"]);

        // An unreferenced pod goes without force.
        s.delete_pod(&p2.pod_id, false).await.unwrap();
        assert!(s.list_aggregates().await.unwrap().is_empty());
        assert!(matches!(
            s.delete_pod(&p2.pod_id, false).await,
            Err(StoreError::NotFound(_))
        ));
    }
}

#[tokio::test]
async fn bindings() {
    for s in testing::all().await {
        let (top, p1, p2) = with_pods(&s).await;
        let new = NewBinding {
            tenant_id: "t1".into(),
            pod_id: p1.pod_id.clone(),
            is_binding: true,
        };
        let b = s.create_binding(&new).await.unwrap();
        assert!(matches!(
            s.create_binding(&new).await,
            Err(StoreError::Conflict(_))
        ));
        let to_top = NewBinding {
            pod_id: top.pod_id.clone(),
            ..new.clone()
        };
        assert!(matches!(
            s.create_binding(&to_top).await,
            Err(StoreError::TopPod(_))
        ));
        let unknown = NewBinding {
            pod_id: "no-such-pod".into(),
            ..new.clone()
        };
        assert!(matches!(
            s.create_binding(&unknown).await,
            Err(StoreError::UnknownPod(_))
        ));

        let b2 = s
            .create_binding(&NewBinding {
                tenant_id: "t2".into(),
                pod_id: p2.pod_id.clone(),
                is_binding: false,
            })
            .await
            .unwrap();
        let only_t1 = s
            .list_bindings(&BindingFilter {
                tenant_id: Some("t1".into()),
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(only_t1, vec![b.clone()]);
        let active = s
            .list_bindings(&BindingFilter {
                is_binding: Some(true),
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(active.len(), 1);

        let moved = s
            .update_binding(
                &b2.id,
                &BindingUpdate {
                    pod_id: Some(p1.pod_id.clone()),
                    is_binding: Some(true),
                },
            )
            .await
            .unwrap();
        assert_eq!(
            (moved.pod_id.as_str(), moved.is_binding),
            (p1.pod_id.as_str(), true)
        );
        assert_eq!(s.get_binding(&b2.id).await.unwrap(), moved);

        s.delete_binding(&b.id).await.unwrap();
        assert!(matches!(
            s.get_binding(&b.id).await,
            Err(StoreError::NotFound(_))
        ));
        assert!(matches!(
            s.delete_binding(&b.id).await,
            Err(StoreError::NotFound(_))
        ));
    }
}

#[tokio::test]
async fn routings_unique_filters_and_paging() {
    for s in testing::all().await {
        let (_, p1, p2) = with_pods(&s).await;
        let mut ids = Vec::new();
        for i in 0..25 {
            let pod = if i % 2 == 0 { &p1 } else { &p2 };
            let project = if i % 3 == 0 { "pa" } else { "pb" };
            let r = s
                .create_routing(&routing(&format!("top{i:02}"), pod, project, "server"))
                .await
                .unwrap();
            ids.push(r.id);
        }
        let dup = s
            .create_routing(&routing("top00", &p1, "pa", "server"))
            .await;
        assert!(matches!(dup, Err(StoreError::Conflict(_))), "{}", s.label());
        // Same top id in another pod or of another type is fine.
        s.create_routing(&routing("top00", &p2, "pa", "server"))
            .await
            .unwrap();
        s.create_routing(&routing("top00", &p1, "pa", "network"))
            .await
            .unwrap();
        let unknown_pod = NewRouting {
            pod_id: "nope".into(),
            ..routing("x", &p1, "pa", "server")
        };
        assert!(matches!(
            s.create_routing(&unknown_pod).await,
            Err(StoreError::UnknownPod(_))
        ));

        // Pages of 7 concatenate to the whole filtered list, in id order.
        let filter = RoutingFilter {
            resource_type: Some(ResourceType::Server),
            ..Default::default()
        };
        let mut seen = Vec::new();
        let mut marker = None;
        loop {
            let page = s.list_routings(&filter, marker, 7).await.unwrap();
            assert!(page.routings.len() <= 7);
            seen.extend(page.routings.iter().map(|r| r.id));
            if !page.has_more {
                break;
            }
            marker = page.routings.last().map(|r| r.id);
        }
        let all = s.list_routings(&filter, None, 1000).await.unwrap();
        assert!(!all.has_more);
        assert_eq!(seen, all.routings.iter().map(|r| r.id).collect::<Vec<_>>());
        assert_eq!(seen.len(), 26);
        assert!(seen.windows(2).all(|w| w[0] < w[1]));

        let pa_in_p1 = s
            .list_routings(
                &RoutingFilter {
                    project_id: Some("pa".into()),
                    pod_id: Some(p1.pod_id.clone()),
                    resource_type: Some(ResourceType::Server),
                    ..Default::default()
                },
                None,
                100,
            )
            .await
            .unwrap();
        // i in 0..25 with i%2==0 and i%3==0: 0, 6, 12, 18, 24
        assert_eq!(pa_in_p1.routings.len(), 5);
        assert!(pa_in_p1
            .routings
            .iter()
            .all(|r| r.project_id == "pa" && r.pod_id == p1.pod_id));

        let by_bottom = s
            .list_routings(
                &RoutingFilter {
                    bottom_id: Some("b-top07".into()),
                    ..Default::default()
                },
                None,
                10,
            )
            .await
            .unwrap();
        assert_eq!(by_bottom.routings.len(), 1);
        assert_eq!(by_bottom.routings[0].top_id, "top07");

        let id = ids[3];
        let updated = s
            .update_routing(
                id,
                &RoutingUpdate {
                    bottom_id: Some(None),
                    project_id: Some("pc".into()),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(
            (updated.bottom_id, updated.project_id.as_str()),
            (None, "pc")
        );
        let clash = s
            .update_routing(
                id,
                &RoutingUpdate {
                    top_id: Some("top01".into()),
                    ..Default::default()
                },
            )
            .await;
        assert!(
            matches!(clash, Err(StoreError::Conflict(_))),
            "{}",
            s.label()
        );
        s.delete_routing(id).await.unwrap();
        assert!(matches!(
            s.get_routing(id).await,
            Err(StoreError::NotFound(_))
        ));
    }
}

#[tokio::test]
async fn endpoint_cache_replaces_atomically() {
    for s in testing::all().await {
        let e = |t: &str, url: &str| CachedEndpoint {
            region: "Pod1".into(),
            service_type: t.into(),
            interface: "public".into(),
            url: url.into(),
        };
        s.replace_cached_endpoints(
            "Pod1",
            &[e("compute", "http://a"), e("network", "http://b")],
        )
        .await
        .unwrap();
        s.replace_cached_endpoints("Pod1", &[e("compute", "http://c")])
            .await
            .unwrap();
        assert_eq!(
            s.cached_endpoints("Pod1").await.unwrap(),
            vec![e("compute", "http://c")]
        );
        assert!(s.cached_endpoints("Pod2").await.unwrap().is_empty());
    }
}

fn flavor(id: &str, name: &str) -> tricircle_store::NewFlavor {
    tricircle_store::NewFlavor {
        flavorid: id.into(),
        name: name.into(),
        vcpus: 1,
        ram_mb: 512,
        root_gb: 1,
        ephemeral_gb: 0,
        swap_mb: 0,
        rxtx_factor: 1.0,
        is_public: true,
        description: None,
    }
}

#[tokio::test]
async fn flavors_specs_and_access() {
    for s in testing::all().await {
        let f = s.create_flavor(&flavor("1", "m1.tiny")).await.unwrap();
        assert_eq!(
            (f.name.as_str(), f.vcpus, f.rxtx_factor),
            ("m1.tiny", 1, 1.0)
        );
        assert!(matches!(
            s.create_flavor(&flavor("1", "other")).await,
            Err(StoreError::Conflict(_))
        ));
        assert!(matches!(
            s.create_flavor(&flavor("2", "m1.tiny")).await,
            Err(StoreError::Conflict(_))
        ));
        let mut private = flavor("3", "secret");
        private.is_public = false;
        s.create_flavor(&private).await.unwrap();
        s.add_flavor_project("3", "p1").await.unwrap();
        assert!(matches!(
            s.add_flavor_project("3", "p1").await,
            Err(StoreError::Conflict(_))
        ));
        let ids =
            |v: Vec<tricircle_store::Flavor>| v.into_iter().map(|f| f.flavorid).collect::<Vec<_>>();
        assert_eq!(
            ids(s.list_flavors(Some("p1")).await.unwrap()),
            ["1", "3"],
            "{}",
            s.label()
        );
        assert_eq!(ids(s.list_flavors(Some("p2")).await.unwrap()), ["1"]);
        assert_eq!(ids(s.list_flavors(None).await.unwrap()), ["1", "3"]);

        let specs = [("hw:cpu_policy".to_string(), "dedicated".to_string())]
            .into_iter()
            .collect();
        s.set_flavor_extra_specs("1", &specs).await.unwrap();
        assert_eq!(s.get_flavor("1").await.unwrap().extra_specs, specs);
        s.delete_flavor_extra_spec("1", "hw:cpu_policy")
            .await
            .unwrap();
        assert!(s.get_flavor("1").await.unwrap().extra_specs.is_empty());
        s.delete_flavor("3").await.unwrap();
        assert!(matches!(
            s.get_flavor("3").await,
            Err(StoreError::NotFound(_))
        ));
        assert!(s.flavor_projects("3").await.unwrap().is_empty());
    }
}

#[tokio::test]
async fn keypairs_and_volume_types() {
    for s in testing::all().await {
        let k = tricircle_store::Keypair {
            user_id: "u1".into(),
            name: "k1".into(),
            key_type: "ssh".into(),
            public_key: "ssh-ed25519 AAAA".into(),
            fingerprint: "aa:bb".into(),
            created_at: "2026-01-01T00:00:00Z".into(),
        };
        s.create_keypair(&k).await.unwrap();
        assert!(matches!(
            s.create_keypair(&k).await,
            Err(StoreError::Conflict(_))
        ));
        s.create_keypair(&tricircle_store::Keypair {
            name: "k2".into(),
            ..k.clone()
        })
        .await
        .unwrap();
        s.create_keypair(&tricircle_store::Keypair {
            user_id: "u2".into(),
            ..k.clone()
        })
        .await
        .unwrap();
        let names: Vec<_> = s
            .list_keypairs("u1", None, None)
            .await
            .unwrap()
            .into_iter()
            .map(|k| k.name)
            .collect();
        assert_eq!(names, ["k1", "k2"]);
        let after: Vec<_> = s
            .list_keypairs("u1", Some("k1"), Some(5))
            .await
            .unwrap()
            .into_iter()
            .map(|k| k.name)
            .collect();
        assert_eq!(after, ["k2"]);
        s.delete_keypair("u1", "k1").await.unwrap();
        assert!(matches!(
            s.get_keypair("u1", "k1").await,
            Err(StoreError::NotFound(_))
        ));
        assert_eq!(s.get_keypair("u2", "k1").await.unwrap().user_id, "u2");

        let specs = [("volume_backend_name".to_string(), "fast".to_string())]
            .into_iter()
            .collect();
        let gold = s
            .create_volume_type("gold", Some("fast"), true, &specs)
            .await
            .unwrap();
        assert_eq!(gold.extra_specs, specs);
        assert!(matches!(
            s.create_volume_type("gold", None, true, &Default::default())
                .await,
            Err(StoreError::Conflict(_))
        ));
        assert_eq!(s.get_volume_type("gold").await.unwrap().id, gold.id);
        let hidden = s
            .create_volume_type("hidden", None, false, &Default::default())
            .await
            .unwrap();
        s.add_volume_type_project(&hidden.id, "p1").await.unwrap();
        let names =
            |v: Vec<tricircle_store::VolumeType>| v.into_iter().map(|t| t.name).collect::<Vec<_>>();
        assert_eq!(
            names(s.list_volume_types(Some("p2")).await.unwrap()),
            ["__DEFAULT__", "gold"]
        );
        assert_eq!(
            names(s.list_volume_types(Some("p1")).await.unwrap()),
            ["__DEFAULT__", "gold", "hidden"]
        );
        let renamed = s
            .update_volume_type(&gold.id, Some("platinum"), None, None)
            .await
            .unwrap();
        assert_eq!(
            (renamed.name.as_str(), renamed.description.as_deref()),
            ("platinum", Some("fast"))
        );
        s.delete_volume_type(&hidden.id).await.unwrap();
        assert!(matches!(
            s.get_volume_type("hidden").await,
            Err(StoreError::NotFound(_))
        ));
    }
}

fn reservation<'a>(
    project: &'a str,
    pod: &'a Pod,
    rtype: &'a str,
    each: tricircle_store::Usage,
    (min_count, max_count): (i64, i64),
    limits: &'a tricircle_store::Usage,
) -> tricircle_store::Reservation<'a> {
    tricircle_store::Reservation {
        project_id: project,
        pod_id: &pod.pod_id,
        resource_type: rtype,
        each,
        min_count,
        max_count,
        limits,
        ttl: std::time::Duration::from_secs(600),
    }
}

#[tokio::test]
async fn quota_reservations_across_pods() {
    use tricircle_store::Usage;
    for s in testing::all().await {
        let (_, p1, p2) = with_pods(&s).await;
        let limits = Usage {
            instances: 3,
            cores: 10,
            ram_mb: 4096,
            volumes: 2,
            gigabytes: 10,
            snapshots: 1,
        };
        let server = Usage {
            instances: 1,
            cores: 2,
            ram_mb: 1024,
            ..Default::default()
        };
        let r1 = s
            .reserve(&reservation("p", &p1, "server", server, (2, 2), &limits))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(r1.len(), 2);
        // The pod does not matter: the third instance in Pod2 fits, a fourth does not.
        let r2 = s
            .reserve(&reservation("p", &p2, "server", server, (1, 1), &limits))
            .await
            .unwrap()
            .unwrap();
        let over = s
            .reserve(&reservation("p", &p2, "server", server, (1, 1), &limits))
            .await
            .unwrap()
            .unwrap_err();
        assert_eq!(
            (over.resource, over.used, over.limit),
            ("instances", 3, 3),
            "{}",
            s.label()
        );
        // Other projects are not affected; unlimited (-1) is honoured.
        let unlimited = Usage {
            instances: -1,
            cores: -1,
            ram_mb: -1,
            ..limits
        };
        assert!(s
            .reserve(&reservation("q", &p1, "server", server, (5, 5), &unlimited))
            .await
            .unwrap()
            .is_ok());
        let r = s
            .record_created(
                &routing("srv-1", &p1, "p", "server"),
                Some((r1[0], server)),
                None,
            )
            .await
            .unwrap();
        s.release_reservations(&[r1[1]]).await.unwrap();
        s.abandon_create(&r2, None).await.unwrap();
        assert_eq!(s.usage("p").await.unwrap(), server);
        s.forget_resource(r.id, ResourceType::Server, "srv-1")
            .await
            .unwrap();
        assert_eq!(s.usage("p").await.unwrap(), Usage::default());

        // The pod's size wins over the reserved one.
        let vol = Usage {
            volumes: 1,
            gigabytes: 8,
            ..Default::default()
        };
        let v = s
            .reserve(&reservation("p", &p1, "volume", vol, (1, 1), &limits))
            .await
            .unwrap()
            .unwrap();
        let actual = Usage {
            gigabytes: 9,
            ..vol
        };
        s.record_created(
            &routing("vol-1", &p1, "p", "volume"),
            Some((v[0], actual)),
            None,
        )
        .await
        .unwrap();
        assert_eq!(s.usage("p").await.unwrap().gigabytes, 9);
        s.update_allocation(
            "volume",
            "vol-1",
            Usage {
                volumes: 1,
                gigabytes: 11,
                ..Default::default()
            },
        )
        .await
        .unwrap();
        assert_eq!(s.usage("p").await.unwrap().gigabytes, 11);
        s.set_quota("p", "instances", 7).await.unwrap();
        s.set_quota("p", "instances", 8).await.unwrap();
        assert_eq!(
            s.quota_limits("p").await.unwrap().get("instances"),
            Some(&8)
        );
    }
}

#[tokio::test]
async fn max_count_is_reduced_to_the_quota_and_bounded() {
    use tricircle_store::{Usage, MAX_COUNT_PER_REQUEST};
    for s in testing::all().await {
        let (_, p1, _) = with_pods(&s).await;
        let limits = Usage {
            instances: 10,
            cores: 7,
            ram_mb: -1,
            volumes: -1,
            gigabytes: -1,
            snapshots: -1,
        };
        let server = Usage {
            instances: 1,
            cores: 2,
            ram_mb: 512,
            ..Default::default()
        };
        // Cores allow three: max_count 9223372036854775807 gets three.
        let r = s
            .reserve(&reservation(
                "p",
                &p1,
                "server",
                server,
                (1, i64::MAX),
                &limits,
            ))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(r.len(), 3, "{}", s.label());
        // Now not even one fits: Nova's 403 names cores.
        let over = s
            .reserve(&reservation(
                "p",
                &p1,
                "server",
                server,
                (1, i64::MAX),
                &limits,
            ))
            .await
            .unwrap()
            .unwrap_err();
        assert_eq!((over.resource, over.used, over.limit), ("cores", 6, 7));
        // Unlimited: bounded per request all the same.
        let unlimited = Usage {
            instances: -1,
            cores: -1,
            ram_mb: -1,
            ..limits
        };
        let r = s
            .reserve(&reservation(
                "q",
                &p1,
                "server",
                server,
                (1, i64::MAX),
                &unlimited,
            ))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(r.len() as i64, MAX_COUNT_PER_REQUEST);
        // Huge sizes never wrap around a limit.
        let huge = Usage {
            volumes: 1,
            gigabytes: i64::MAX,
            ..Default::default()
        };
        let over = s
            .reserve(&reservation(
                "r",
                &p1,
                "volume",
                huge,
                (1, 1),
                &Usage {
                    gigabytes: 1000,
                    ..unlimited
                },
            ))
            .await
            .unwrap()
            .unwrap_err();
        assert_eq!(over.resource, "gigabytes");
        assert_eq!(s.usage("r").await.unwrap(), Usage::default());
    }
}

#[tokio::test]
async fn reservations_expire_and_reconciliation_follows_the_routings() {
    use tricircle_store::{NewJob, Reconciled, Usage};
    for s in testing::all().await {
        let (_, p1, _) = with_pods(&s).await;
        let limits = Usage {
            instances: 2,
            cores: -1,
            ram_mb: -1,
            volumes: -1,
            gigabytes: -1,
            snapshots: -1,
        };
        let server = Usage {
            instances: 1,
            ..Default::default()
        };
        // A gateway that died after reserving: with a zero TTL its
        // reservations count no more, and reconciliation sweeps them.
        let mut gone = reservation("p", &p1, "server", server, (2, 2), &limits);
        gone.ttl = std::time::Duration::ZERO;
        let dead = s.reserve(&gone).await.unwrap().unwrap();
        assert_eq!(dead.len(), 2);
        // Expiry is stored to the second, rounded up: wait for it to pass.
        let mut waited = 0;
        while s.usage("p").await.unwrap().instances != 0 {
            waited += 1;
            assert!(waited < 50, "reservations never expired");
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        // The quota is whole again.
        let live = s
            .reserve(&reservation("p", &p1, "server", server, (2, 2), &limits))
            .await
            .unwrap()
            .unwrap();
        // A create in flight: its check job and its reservations.
        let job = NewJob {
            job_type: "server_create_check".into(),
            project_id: "p".into(),
            resource_id: "req-1".into(),
            resource: serde_json::json!({"request_id": "req-1"}),
        };
        let job_id = s
            .expect_create(
                &job,
                std::time::Duration::from_secs(60),
                &live,
                std::time::Duration::from_secs(600),
            )
            .await
            .unwrap();
        assert_eq!(s.pending_jobs("p").await.unwrap().len(), 1);
        let r = s
            .record_created(
                &routing("srv-1", &p1, "p", "server"),
                Some((live[0], server)),
                Some(&job_id),
            )
            .await
            .unwrap();
        // Recorded: the check is cancelled in the same transaction.
        assert!(s.pending_jobs("p").await.unwrap().is_empty());
        // A second record of the same server conflicts and changes nothing.
        assert!(s
            .record_created(
                &routing("srv-1", &p1, "p", "server"),
                Some((live[1], server)),
                None
            )
            .await
            .is_err());
        assert_eq!(s.usage("p").await.unwrap().instances, 2);
        assert_eq!(
            s.reconcile_allocations().await.unwrap(),
            Reconciled {
                expired_reservations: 2,
                orphaned_allocations: 0
            }
        );
        // A routing removed behind the gateway's back (admin API): the
        // allocation follows at the next reconciliation.
        s.delete_routing(r.id).await.unwrap();
        s.release_reservations(&[live[1]]).await.unwrap();
        assert_eq!(
            s.reconcile_allocations().await.unwrap(),
            Reconciled {
                expired_reservations: 0,
                orphaned_allocations: 1
            }
        );
        assert_eq!(s.usage("p").await.unwrap(), Usage::default());
    }
}

#[tokio::test]
async fn concurrent_reservations_never_overshoot() {
    use tricircle_store::Usage;
    for s in testing::all().await {
        let (_, p1, _) = with_pods(&s).await;
        let limits = Usage {
            instances: 5,
            cores: 100,
            ram_mb: 100_000,
            volumes: 0,
            gigabytes: 0,
            snapshots: 0,
        };
        let one = Usage {
            instances: 1,
            cores: 1,
            ram_mb: 1,
            ..Default::default()
        };
        let mut tasks = Vec::new();
        for _ in 0..12 {
            let store = s.store.clone();
            let pod = p1.pod_id.clone();
            tasks.push(tokio::spawn(async move {
                let r = tricircle_store::Reservation {
                    project_id: "p",
                    pod_id: &pod,
                    resource_type: "server",
                    each: one,
                    min_count: 1,
                    max_count: 1,
                    limits: &limits,
                    ttl: std::time::Duration::from_secs(600),
                };
                store.reserve(&r).await
            }));
        }
        let mut granted = 0;
        for t in tasks {
            if t.await.unwrap().unwrap().is_ok() {
                granted += 1;
            }
        }
        assert_eq!(granted, 5, "{}", s.label());
        assert_eq!(s.usage("p").await.unwrap().instances, 5);
    }
}

#[tokio::test]
async fn the_pods_holding_copies_of_many_resources_in_one_ask() {
    for s in testing::all().await {
        let (_, p1, p2) = with_pods(&s).await;
        s.create_routing(&routing("port-a", &p1, "pa", "port"))
            .await
            .unwrap();
        s.create_routing(&routing("port-a", &p2, "pa", "port"))
            .await
            .unwrap();
        s.create_routing(&routing("port-b", &p2, "pb", "port"))
            .await
            .unwrap();
        // Another type, and an unfinished copy (a creation lock): not copies.
        s.create_routing(&routing("port-c", &p1, "pa", "network"))
            .await
            .unwrap();
        let mut locked = routing("port-c", &p2, "pa", "port");
        locked.bottom_id = None;
        s.create_routing(&locked).await.unwrap();
        // More ids than one batch holds.
        let mut ids: Vec<String> = (0..1200).map(|i| format!("other-{i}")).collect();
        ids.extend(["port-a", "port-b", "port-c"].map(String::from));
        let mut got = s.copy_pods_of(&ids, ResourceType::Port).await.unwrap();
        got.sort();
        let mut want = vec![
            ("port-a".to_string(), p1.pod_id.clone()),
            ("port-a".to_string(), p2.pod_id.clone()),
            ("port-b".to_string(), p2.pod_id.clone()),
        ];
        want.sort();
        assert_eq!(got, want, "{}", s.label());
        assert!(s
            .copy_pods_of(&[], ResourceType::Port)
            .await
            .unwrap()
            .is_empty());
    }
}
