//! The job queue in the store: coalescing, leases, the log, redo/delete,
//! on SQLite and (when available) PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use serde_json::json;
use tricircle_store::testing;
use tricircle_store::{JobFilter, JobStatus, StoreError};

const LEASE: Duration = Duration::from_secs(60);

#[tokio::test]
async fn enqueues_coalesce_while_new() {
    for s in testing::all().await {
        let a = s
            .enqueue_job("router_setup", "p1", "r1", &json!({"v": 1}))
            .await
            .unwrap();
        let b = s
            .enqueue_job("router_setup", "p1", "r1", &json!({"v": 2}))
            .await
            .unwrap();
        let c = s
            .enqueue_job("router_setup", "p1", "r1", &json!({"v": 3}))
            .await
            .unwrap();
        assert_eq!(
            (a.as_str(), b.as_str()),
            (c.as_str(), c.as_str()),
            "{}",
            s.label()
        );
        // Another resource or another type is another job.
        s.enqueue_job("router_setup", "p1", "r2", &json!({"v": 1}))
            .await
            .unwrap();
        s.enqueue_job("extra_routes", "p1", "r1", &json!({"v": 1}))
            .await
            .unwrap();
        let page = s.list_jobs(&JobFilter::default(), None, 100).await.unwrap();
        assert_eq!(page.jobs.len(), 3, "{}", s.label());
        let job = s.get_job(&a).await.unwrap();
        assert_eq!(job.resource, json!({"v": 3}));
        assert_eq!(job.status, JobStatus::New);
        assert_eq!(job.attempts, 0);
    }
}

#[tokio::test]
async fn one_running_job_per_resource_and_a_new_one_queues_behind() {
    for s in testing::all().await {
        let first = s
            .enqueue_job("router_setup", "p1", "r1", &json!({"v": 1}))
            .await
            .unwrap();
        let claimed = s.claim_jobs("w1", LEASE, 10).await.unwrap();
        assert_eq!(claimed.len(), 1);
        assert_eq!(claimed[0].id, first);
        assert_eq!(claimed[0].status, JobStatus::Running);
        // While it runs, a request is a second job, not a change to the
        // running one...
        let second = s
            .enqueue_job("router_setup", "p1", "r1", &json!({"v": 2}))
            .await
            .unwrap();
        assert_ne!(first, second);
        assert_eq!(
            s.get_job(&first).await.unwrap().resource,
            json!({"v": 1}),
            "{}",
            s.label()
        );
        // ... which nobody may claim while the first one runs.
        assert!(s.claim_jobs("w2", LEASE, 10).await.unwrap().is_empty());
        assert!(s.renew_job("w1", &first, LEASE).await.unwrap());
        assert!(!s.renew_job("w2", &first, LEASE).await.unwrap());
        // Only the owner finishes it.
        assert!(!s.finish_job_success(&first, "w2").await.unwrap());
        assert!(s.finish_job_success(&first, "w1").await.unwrap());
        let logged = s.get_job(&first).await.unwrap();
        assert_eq!(logged.status, JobStatus::Success);
        assert_eq!(logged.attempts, 1);
        assert_eq!(logged.run_after, None);
        let next = s.claim_jobs("w2", LEASE, 10).await.unwrap();
        assert_eq!(next.len(), 1);
        assert_eq!(next[0].id, second);
        assert_eq!(next[0].resource, json!({"v": 2}));
    }
}

#[tokio::test]
async fn failures_retry_later_or_fail_and_redo() {
    for s in testing::all().await {
        let id = s
            .enqueue_job("port_delete", "p1", "port1", &json!({"port_id": "port1"}))
            .await
            .unwrap();
        let job = s.claim_jobs("w1", LEASE, 1).await.unwrap().remove(0);
        let later = tricircle_store::stamp_after(Duration::from_secs(3600));
        assert!(s
            .finish_job_failure(&job.id, "w1", "pod down", Some(&later))
            .await
            .unwrap());
        let j = s.get_job(&id).await.unwrap();
        assert_eq!(
            (j.status, j.attempts, j.last_error.as_deref()),
            (JobStatus::New, 1, Some("pod down"))
        );
        assert_eq!(j.run_after.as_deref(), Some(later.as_str()));
        // Not due yet.
        assert!(s.claim_jobs("w1", LEASE, 1).await.unwrap().is_empty());
        // Redo only applies to FAIL jobs.
        assert!(matches!(
            s.redo_job(&id).await,
            Err(StoreError::Conflict(_))
        ));

        let other = s
            .enqueue_job("port_delete", "p1", "port2", &json!({}))
            .await
            .unwrap();
        let job = s.claim_jobs("w1", LEASE, 1).await.unwrap().remove(0);
        assert_eq!(job.id, other);
        assert!(s
            .finish_job_failure(&other, "w1", "no such pod", None)
            .await
            .unwrap());
        let j = s.get_job(&other).await.unwrap();
        assert_eq!((j.status, j.attempts), (JobStatus::Fail, 1));
        let failed = s
            .list_jobs(
                &JobFilter {
                    status: Some(JobStatus::Fail),
                    ..Default::default()
                },
                None,
                10,
            )
            .await
            .unwrap();
        assert_eq!(failed.jobs.len(), 1);
        let redone = s.redo_job(&other).await.unwrap();
        assert_eq!((redone.status, redone.attempts), (JobStatus::New, 0));
        let job = s.claim_jobs("w1", LEASE, 1).await.unwrap().remove(0);
        assert_eq!(job.id, other, "{}", s.label());
    }
}

#[tokio::test]
async fn a_retry_merges_into_a_newer_pending_request() {
    for s in testing::all().await {
        let first = s
            .enqueue_job("sync", "p1", "net1", &json!({"v": 1}))
            .await
            .unwrap();
        s.claim_jobs("w1", LEASE, 1).await.unwrap();
        let second = s
            .enqueue_job("sync", "p1", "net1", &json!({"v": 2}))
            .await
            .unwrap();
        let at = tricircle_store::stamp_after(Duration::from_secs(3600));
        assert!(s
            .finish_job_failure(&first, "w1", "pod down", Some(&at))
            .await
            .unwrap());
        assert!(matches!(
            s.get_job(&first).await,
            Err(StoreError::NotFound(_))
        ));
        let j = s.get_job(&second).await.unwrap();
        assert_eq!((j.status, j.attempts), (JobStatus::New, 1));
        assert_eq!(j.resource, json!({"v": 2}));
        assert_eq!(j.run_after.as_deref(), Some(at.as_str()), "{}", s.label());
    }
}

#[tokio::test]
async fn expired_leases_are_taken_over() {
    for t in testing::all().await {
        let clock = testing::ManualClock::new();
        let s = t.store.clone().with_clock(clock.clone());
        let id = s
            .enqueue_job("sync", "p1", "net1", &json!({}))
            .await
            .unwrap();
        assert_eq!(s.claim_jobs("dead", LEASE, 1).await.unwrap().len(), 1);
        // Not before the lease has run out.
        clock.advance(LEASE);
        assert!(s.claim_jobs("alive", LEASE, 1).await.unwrap().is_empty());
        clock.advance(Duration::from_secs(1));
        let taken = s.claim_jobs("alive", LEASE, 1).await.unwrap();
        assert_eq!(taken.len(), 1, "{}", t.label());
        assert_eq!(taken[0].id, id);
        assert_eq!(taken[0].attempts, 1);
        assert!(taken[0].last_error.as_deref().unwrap().contains("dead"));
        assert!(!s.finish_job_success(&id, "dead").await.unwrap());
        assert!(s.finish_job_success(&id, "alive").await.unwrap());
    }
}

#[tokio::test]
async fn lists_page_by_id_and_delete_refuses_running_jobs() {
    for s in testing::all().await {
        let mut ids = Vec::new();
        for i in 0..5 {
            ids.push(
                s.enqueue_job(
                    "sync",
                    if i % 2 == 0 { "pa" } else { "pb" },
                    &format!("r{i}"),
                    &json!({}),
                )
                .await
                .unwrap(),
            );
        }
        ids.sort();
        let p1 = s.list_jobs(&JobFilter::default(), None, 2).await.unwrap();
        assert!(p1.has_more);
        let p2 = s
            .list_jobs(&JobFilter::default(), Some(&p1.jobs[1].id), 2)
            .await
            .unwrap();
        let p3 = s
            .list_jobs(&JobFilter::default(), Some(&p2.jobs[1].id), 2)
            .await
            .unwrap();
        assert!(!p3.has_more);
        let seen: Vec<String> = [p1.jobs, p2.jobs, p3.jobs]
            .concat()
            .into_iter()
            .map(|j| j.id)
            .collect();
        assert_eq!(seen, ids, "{}", s.label());
        let pa = s
            .list_jobs(
                &JobFilter {
                    project_id: Some("pa".into()),
                    job_type: Some("sync".into()),
                    ..Default::default()
                },
                None,
                10,
            )
            .await
            .unwrap();
        assert_eq!(pa.jobs.len(), 3);

        let running = s.claim_jobs("w1", LEASE, 1).await.unwrap().remove(0);
        assert!(matches!(
            s.delete_job(&running.id).await,
            Err(StoreError::Conflict(_))
        ));
        assert!(s.finish_job_success(&running.id, "w1").await.unwrap());
        let log = s
            .list_jobs(
                &JobFilter {
                    status: Some(JobStatus::Success),
                    ..Default::default()
                },
                None,
                10,
            )
            .await
            .unwrap();
        assert_eq!(log.jobs.len(), 1);
        assert!(matches!(
            s.redo_job(&running.id).await,
            Err(StoreError::Conflict(_))
        ));
        s.delete_job(&running.id).await.unwrap();
        let other = ids.iter().find(|i| **i != running.id).unwrap();
        s.delete_job(other).await.unwrap();
        assert!(matches!(
            s.delete_job(other).await,
            Err(StoreError::NotFound(_))
        ));
        assert!(matches!(
            s.redo_job("nope").await,
            Err(StoreError::NotFound(_))
        ));
        let left = s.list_jobs(&JobFilter::default(), None, 10).await.unwrap();
        assert_eq!(left.jobs.len(), 3);
    }
}
