//! The one get-or-create of bottom copies (BEHAVIOUR §6.2), for every
//! domain: the network's networks, subnets, ports and security groups, the
//! compute domain's flavors, keypairs and server groups, the volume
//! domain's volume types.
//!
//! The routing row of `(top id, pod, resource type)` is the lock (see
//! [`crate::locks`]): the caller that inserts it creates the copy in the pod
//! and records its bottom id; the others wait for it, across every instance
//! sharing the database. An owner that died leaves the row empty; once it
//! is older than the lock timeout another caller takes it over and is told
//! so ([`Attempt::TakeOver`]), to look for a copy the dead owner may have
//! made before creating one. A tombstoned top resource (being deleted) gets
//! no copy.

use std::future::Future;
use std::time::Duration;

use tricircle_core::ResourceType;

use crate::{Pod, RoutingLock, Store, StoreError};

/// The copy asked for: `top_id`'s copy of type `resource_type` in `pod`,
/// its routing recorded under `project_id` (empty for copies shared by
/// every project, such as flavors).
#[derive(Debug, Clone, Copy)]
pub struct CopyOf<'a> {
    pub resource_type: ResourceType,
    pub top_id: &'a str,
    pub pod: &'a Pod,
    pub project_id: &'a str,
}

/// Why the create closure is called.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    /// This caller took the lock first: no copy was recorded.
    First,
    /// This caller took over a stale lock: a caller that died may have
    /// made the copy in the pod without recording it; look for it first.
    TakeOver,
}

/// Why the create closure made no copy, and whether the pod may have made
/// one all the same. `E` is the calling domain's error.
#[derive(Debug)]
pub enum CreateError<E> {
    /// Nothing was made (the pod refused, or we failed before asking): the
    /// lock is freed and the next request tries again.
    NotMade(E),
    /// The pod may have made the copy (it did not answer): the lock stays
    /// until it is stale, and the caller that takes it over looks for it.
    Unknown(E),
}

/// Why no copy id could be had.
#[derive(Debug)]
pub enum CopyError<E> {
    /// The top resource is being deleted: it gets no new copy.
    Tombstoned,
    /// Another caller held the lock for longer than twice the lock timeout
    /// without finishing or going stale.
    StillBeingMade,
    /// The store failed.
    Store(StoreError),
    /// The create closure failed (what it returned).
    Create(E),
}

impl<E> From<StoreError> for CopyError<E> {
    fn from(e: StoreError) -> CopyError<E> {
        CopyError::Store(e)
    }
}

/// The bottom id of `copy`: the recorded one, or (as the lock's owner) what
/// `create` returns, then recorded. A failed `create` frees the lock, or
/// keeps it when the pod may have made the copy ([`CreateError`]). Callers
/// that find the lock held wait for the owner (backing off from 20 ms up to
/// half a second), take the lock over once it is older than
/// `lock_timeout`, and give up ([`CopyError::StillBeingMade`]) after twice
/// that.
pub async fn get_or_create<C, F, E>(
    store: &Store,
    copy: CopyOf<'_>,
    lock_timeout: Duration,
    create: C,
) -> Result<String, CopyError<E>>
where
    C: FnOnce(Attempt) -> F,
    F: Future<Output = Result<String, CreateError<E>>>,
{
    let CopyOf {
        resource_type,
        top_id,
        pod,
        project_id,
    } = copy;
    let started = tokio::time::Instant::now();
    let mut pause = Duration::from_millis(20);
    let (routing_id, attempt) = loop {
        match store
            .lock_routing(top_id, &pod.pod_id, project_id, resource_type)
            .await?
        {
            RoutingLock::Done { bottom_id, .. } => return Ok(bottom_id),
            RoutingLock::Tombstoned => return Err(CopyError::Tombstoned),
            RoutingLock::Owner { routing_id } => break (routing_id, Attempt::First),
            RoutingLock::Busy { routing_id, since } => {
                if stale(&since, lock_timeout)
                    && store.take_over_routing_lock(routing_id, &since).await?
                {
                    tracing::warn!(%top_id, pod = %pod.pod_name, %resource_type, "taking over a stale creation lock");
                    break (routing_id, Attempt::TakeOver);
                }
                if started.elapsed() > lock_timeout * 2 {
                    return Err(CopyError::StillBeingMade);
                }
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_millis(500));
            }
        }
    };
    match create(attempt).await {
        Ok(bottom_id) => {
            store.fill_routing_lock(routing_id, &bottom_id).await?;
            Ok(bottom_id)
        }
        // The pod may have made the copy: the lock stays, so that the next
        // owner (once it is stale) looks for it, and a delete of the top
        // resource finds it.
        Err(CreateError::Unknown(e)) => Err(CopyError::Create(e)),
        Err(CreateError::NotMade(e)) => {
            // Nothing was made: free the lock so that the next request tries
            // again. A lock that stays only delays that until it is stale:
            // logged, not fatal.
            if let Err(re) = store.release_routing_lock(routing_id).await {
                tracing::warn!(error = %re, %top_id, pod = %pod.pod_name, %resource_type, "could not release a creation lock");
            }
            Err(CopyError::Create(e))
        }
    }
}

/// Whether a lock last touched at `since` (RFC 3339) is older than
/// `timeout`. A stamp that does not parse is stale.
pub fn stale(since: &str, timeout: Duration) -> bool {
    match chrono::DateTime::parse_from_rfc3339(since) {
        Ok(t) => chrono::Utc::now()
            .signed_duration_since(t)
            .to_std()
            .is_ok_and(|age| age > timeout),
        Err(_) => true,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use super::*;
    use tricircle_core::pod::ValidPod;

    const TIMEOUT: Duration = Duration::from_secs(60);

    async fn pod(store: &Store) -> Pod {
        store
            .create_pod(&ValidPod {
                pod_name: "pod1".into(),
                az_name: "az1".into(),
                pod_az_name: String::new(),
                dc_name: String::new(),
            })
            .await
            .unwrap()
    }

    fn copy(pod: &Pod) -> CopyOf<'_> {
        CopyOf {
            resource_type: ResourceType::Flavor,
            top_id: "f1",
            pod,
            project_id: "",
        }
    }

    #[test]
    fn locks_go_stale_after_the_timeout() {
        let old = (chrono::Utc::now() - chrono::Duration::seconds(120)).to_rfc3339();
        let fresh = chrono::Utc::now().to_rfc3339();
        assert!(stale(&old, Duration::from_secs(60)));
        assert!(!stale(&fresh, Duration::from_secs(60)));
        assert!(stale("not a time", Duration::from_secs(60)));
    }

    #[derive(Debug, PartialEq)]
    struct Refused(&'static str);

    #[tokio::test]
    async fn concurrent_instances_make_one_copy() {
        let db = crate::testing::sqlite().await;
        let other = db.another_instance().await;
        let pod = pod(&db).await;
        let made = Arc::new(AtomicUsize::new(0));
        let create = |_: Attempt| {
            let made = made.clone();
            async move {
                tokio::task::yield_now().await;
                Ok::<_, CreateError<Refused>>(format!(
                    "bottom-{}",
                    made.fetch_add(1, Ordering::SeqCst)
                ))
            }
        };
        let (a, b, c) = tokio::join!(
            get_or_create(&db, copy(&pod), TIMEOUT, create),
            get_or_create(&other, copy(&pod), TIMEOUT, create),
            get_or_create(&db, copy(&pod), TIMEOUT, create),
        );
        assert_eq!(made.load(Ordering::SeqCst), 1);
        assert_eq!(a.unwrap(), "bottom-0");
        assert_eq!(b.unwrap(), "bottom-0");
        assert_eq!(c.unwrap(), "bottom-0");
    }

    #[tokio::test]
    async fn a_refused_create_frees_the_lock_an_unknown_one_keeps_it() {
        let db = crate::testing::sqlite().await;
        let pod = pod(&db).await;
        let refused = get_or_create(&db, copy(&pod), TIMEOUT, |_| async {
            Err::<String, _>(CreateError::NotMade(Refused("no")))
        })
        .await;
        assert!(matches!(refused, Err(CopyError::Create(Refused("no")))));
        // Freed: the next caller owns the lock and creates.
        let unknown = get_or_create(&db, copy(&pod), TIMEOUT, |a| async move {
            assert_eq!(a, Attempt::First);
            Err::<String, _>(CreateError::Unknown(Refused("down")))
        })
        .await;
        assert!(matches!(unknown, Err(CopyError::Create(Refused("down")))));
        // Kept: with no timeout the next caller takes it over and records
        // its copy in the same routing.
        let taken = get_or_create(&db, copy(&pod), Duration::ZERO, |_| async {
            Ok::<_, CreateError<Refused>>("found".to_string())
        })
        .await;
        assert_eq!(taken.unwrap(), "found");
        let routings = db
            .list_routings(
                &crate::RoutingFilter {
                    top_id: Some("f1".into()),
                    ..Default::default()
                },
                None,
                10,
            )
            .await
            .unwrap()
            .routings;
        assert_eq!(routings.len(), 1);
        assert_eq!(routings[0].bottom_id.as_deref(), Some("found"));
    }

    #[tokio::test]
    async fn a_take_over_is_told_to_look_for_the_dead_owners_copy() {
        let db = crate::testing::sqlite().await;
        let pod = pod(&db).await;
        let _ = get_or_create(&db, copy(&pod), TIMEOUT, |_| async {
            Err::<String, _>(CreateError::Unknown(Refused("down")))
        })
        .await;
        let attempt = get_or_create(&db, copy(&pod), Duration::ZERO, |a| async move {
            Ok::<_, CreateError<Refused>>(format!("{a:?}"))
        })
        .await;
        assert_eq!(attempt.unwrap(), "TakeOver");
    }

    #[tokio::test]
    async fn a_tombstoned_resource_gets_no_copy() {
        let db = crate::testing::sqlite().await;
        let pod = pod(&db).await;
        db.add_tombstone("f1", ResourceType::Flavor).await.unwrap();
        let r = get_or_create(&db, copy(&pod), TIMEOUT, |_| async {
            Ok::<_, CreateError<Refused>>("never".to_string())
        })
        .await;
        assert!(matches!(r, Err(CopyError::Tombstoned)));
    }
}
