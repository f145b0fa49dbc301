//! Store behaviour, run on SQLite and (when available) PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

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
        resource_type: rtype.into(),
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
            Err(StoreError::Unprocessable(_))
        ));
        let unknown = NewBinding {
            pod_id: "no-such-pod".into(),
            ..new.clone()
        };
        assert!(matches!(
            s.create_binding(&unknown).await,
            Err(StoreError::Unprocessable(_))
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
            Err(StoreError::Unprocessable(_))
        ));

        // Pages of 7 concatenate to the whole filtered list, in id order.
        let filter = RoutingFilter {
            resource_type: Some("server".into()),
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
                    resource_type: Some("server".into()),
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
