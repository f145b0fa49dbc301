//! The routing row as a creation lock, tombstones and server ports, on
//! SQLite and (when available) PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use tricircle_core::PodSpec;
use tricircle_core::ResourceType;
use tricircle_store::testing;
use tricircle_store::{RoutingLock, ServerPort};

async fn pod(s: &tricircle_store::Store, name: &str) -> String {
    let spec = PodSpec {
        pod_name: name.into(),
        az_name: Some("az1".into()),
        pod_az_name: Some("".into()),
        dc_name: None,
    }
    .validate()
    .unwrap();
    s.create_pod(&spec).await.unwrap().pod_id
}

#[tokio::test]
async fn exactly_one_of_many_concurrent_callers_owns_the_lock() {
    for t in testing::all().await {
        let s: tricircle_store::Store = (*t).clone();
        let p = pod(&s, "Pod1").await;
        let s = Arc::new(s);
        let mut tasks = Vec::new();
        for _ in 0..20 {
            let s = s.clone();
            let p = p.clone();
            tasks.push(tokio::spawn(async move {
                s.lock_routing("net-1", &p, "proj", ResourceType::Network)
                    .await
                    .unwrap()
            }));
        }
        let mut owners = Vec::new();
        for t in tasks {
            match t.await.unwrap() {
                RoutingLock::Owner { routing_id } => owners.push(routing_id),
                RoutingLock::Busy { .. } => {}
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(owners.len(), 1, "{}", t.label());
        s.fill_routing_lock(owners[0], "bottom-1").await.unwrap();
        assert_eq!(
            s.lock_routing("net-1", &p, "proj", ResourceType::Network)
                .await
                .unwrap(),
            RoutingLock::Done {
                routing_id: owners[0],
                bottom_id: "bottom-1".into()
            }
        );
    }
}

#[tokio::test]
async fn a_stale_lock_is_taken_over_once_and_a_released_one_is_free() {
    for t in testing::all().await {
        let s: &tricircle_store::Store = &t;
        let p = pod(s, "Pod1").await;
        let RoutingLock::Owner { routing_id } = s
            .lock_routing("n", &p, "proj", ResourceType::Network)
            .await
            .unwrap()
        else {
            panic!("first caller owns")
        };
        let RoutingLock::Busy { since, .. } = s
            .lock_routing("n", &p, "proj", ResourceType::Network)
            .await
            .unwrap()
        else {
            panic!("second caller waits")
        };
        assert!(s.take_over_routing_lock(routing_id, &since).await.unwrap());
        // The first take-over touched the row: a second one with the old stamp loses.
        assert!(!s.take_over_routing_lock(routing_id, &since).await.unwrap());
        s.release_routing_lock(routing_id).await.unwrap();
        assert!(matches!(
            s.lock_routing("n", &p, "proj", ResourceType::Network)
                .await
                .unwrap(),
            RoutingLock::Owner { .. }
        ));
    }
}

#[tokio::test]
async fn a_tombstone_stops_creation_until_cleared() {
    for t in testing::all().await {
        let s: &tricircle_store::Store = &t;
        let p = pod(s, "Pod1").await;
        s.add_tombstone("gone", ResourceType::Port).await.unwrap();
        s.add_tombstone("gone", ResourceType::Port).await.unwrap();
        assert!(s.is_tombstoned("gone", ResourceType::Port).await.unwrap());
        assert!(!s
            .is_tombstoned("gone", ResourceType::Network)
            .await
            .unwrap());
        assert_eq!(
            s.lock_routing("gone", &p, "proj", ResourceType::Port)
                .await
                .unwrap(),
            RoutingLock::Tombstoned
        );
        s.clear_tombstone("gone", ResourceType::Port).await.unwrap();
        assert!(matches!(
            s.lock_routing("gone", &p, "proj", ResourceType::Port)
                .await
                .unwrap(),
            RoutingLock::Owner { .. }
        ));
    }
}

#[tokio::test]
async fn server_ports_remember_who_created_them() {
    for t in testing::all().await {
        let s: &tricircle_store::Store = &t;
        let ports = vec![
            ServerPort {
                server_id: "s1".into(),
                port_id: "p1".into(),
                project_id: "proj".into(),
                created_by_boot: true,
            },
            ServerPort {
                server_id: "s1".into(),
                port_id: "p2".into(),
                project_id: "proj".into(),
                created_by_boot: false,
            },
        ];
        s.add_server_ports(&ports).await.unwrap();
        s.add_server_ports(&ports).await.unwrap();
        let mut got = s.server_ports("s1").await.unwrap();
        got.sort_by(|a, b| a.port_id.cmp(&b.port_id));
        assert_eq!(got, ports);
        s.remove_server_port("s1", "p1").await.unwrap();
        assert_eq!(s.server_ports("s1").await.unwrap().len(), 1);
        assert!(s.server_ports("s2").await.unwrap().is_empty());
    }
}

#[tokio::test]
async fn old_tombstones_go_unless_a_job_still_works_on_them() {
    for t in testing::all().await {
        let s: &tricircle_store::Store = &t;
        s.add_tombstone("done", ResourceType::Port).await.unwrap();
        s.add_tombstone("busy", ResourceType::Port).await.unwrap();
        s.enqueue_job(
            "port_delete",
            "proj",
            "busy",
            &serde_json::json!({"port_id": "busy"}),
        )
        .await
        .unwrap();
        // Young tombstones stay.
        assert_eq!(
            s.sweep_tombstones(std::time::Duration::from_secs(3600))
                .await
                .unwrap(),
            0
        );
        // Stamps are whole seconds: once one has passed both are older than 0 s.
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
        assert_eq!(
            s.sweep_tombstones(std::time::Duration::ZERO).await.unwrap(),
            1
        );
        assert!(!s.is_tombstoned("done", ResourceType::Port).await.unwrap());
        assert!(s.is_tombstoned("busy", ResourceType::Port).await.unwrap());
        assert_eq!(
            s.sweep_tombstones(std::time::Duration::MAX).await.unwrap(),
            0
        );
    }
}
