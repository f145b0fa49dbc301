//! A write cancelled at any point (a client that hangs up, a task that is
//! aborted) must leave the database writable for everyone else: no
//! transaction may outlive the future that opened it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use serde_json::json;
use tricircle_store::testing;

/// Ready once `d` has passed, polled in a busy loop: timers are too
/// coarse to hit the microsecond windows that matter.
async fn after(d: Duration) {
    let start = std::time::Instant::now();
    while start.elapsed() < d {
        tokio::task::yield_now().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_writes_leave_the_database_writable() {
    for s in testing::all().await {
        // How long a write takes on this machine now (the median of a few):
        // under load it is far longer than on an idle one.
        let mut took = Vec::new();
        for k in 0..5 {
            let start = std::time::Instant::now();
            s.enqueue_job("probe", "p", &format!("probe{k}"), &json!({}))
                .await
                .unwrap();
            took.push(start.elapsed());
        }
        took.sort();
        let span = (took[2] * 4).max(Duration::from_millis(2));
        // Cancel writes at every stage of opening, using and committing a
        // write transaction: after 0 to four times a write's time (at least
        // 2 ms), most finely at the start; half the windows are longer
        // than a typical write, so some writes finish however busy the
        // machine is.
        let mut done = 0;
        for i in 0..1500u64 {
            let store = s.store.clone();
            let write = async move {
                store
                    .enqueue_job("sync", "p", &format!("r{}", i % 7), &json!({ "i": i }))
                    .await
            };
            tokio::select! {
                biased;
                _ = write => { done += 1; }
                () = after(span.mul_f64(((i % 500) as f64 / 499.0).powi(2))) => {}
            }
        }
        assert!(
            done > 0 && done < 1500,
            "{}: {done} of 1500 writes finished",
            s.label()
        );
        // Every connection of the pool must still be able to write at once:
        // as many writes as the pool has connections, each well inside the
        // 10 s busy timeout a leaked write lock would run into.
        let writes = (0..12).map(|k| {
            let store = s.store.clone();
            tokio::spawn(async move {
                tokio::time::timeout(
                    Duration::from_secs(8),
                    store.enqueue_job("sync", "p", &format!("after{k}"), &json!({})),
                )
                .await
            })
        });
        for w in futures::future::join_all(writes).await {
            let done = w.unwrap();
            assert!(
                matches!(done, Ok(Ok(_))),
                "{}: a write after the cancelled ones failed: {done:?}",
                s.label()
            );
        }
    }
}
