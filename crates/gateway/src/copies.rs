//! Copies of top resources in pods (flavors, keypairs, server groups,
//! volume types): each made at most once per pod, whatever the number of
//! concurrent requests and gateway instances, through one get-or-create
//! under the routing lock (see `tricircle_store::RoutingLock`), as the
//! network domain makes its copies.
//!
//! The routing row of `(top id, pod, resource type)` is the lock: the
//! caller that inserts it creates the copy in the pod and records its
//! bottom id; the others wait for it. An owner that died leaves the row
//! empty; once it is stale another caller takes it over and is told so
//! ([`Attempt::TakeOver`]) to look for a copy the dead owner may have made
//! before creating one. A tombstoned top resource (being deleted) gets no
//! copy.

use std::future::Future;
use std::time::Duration;

use thiserror::Error;
use tricircle_store::{Pod, RoutingLock, Store};

use crate::error::GatewayError;
use crate::Gateway;
use tricircle_core::ResourceType;

/// How long a creation lock may stay untouched before another caller
/// takes it over; a waiter gives up after twice as long.
pub const COPY_LOCK_TIMEOUT: Duration = Duration::from_secs(60);

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

/// Why the create closure made no copy, and whether the pod may have
/// made one all the same.
#[derive(Debug)]
pub enum CreateError {
    /// Nothing was made (the pod refused, or we failed before asking):
    /// the lock is freed and the next request tries again.
    NotMade(GatewayError),
    /// The pod may have made the copy (it did not answer): the lock stays
    /// until it is stale, and the caller that takes it over looks for it.
    Unknown(GatewayError),
}

impl From<GatewayError> for CreateError {
    /// An unavailable pod may have made the copy; any other failure came
    /// before the pod made anything.
    fn from(e: GatewayError) -> CreateError {
        match e {
            e @ GatewayError::Unavailable { .. } => CreateError::Unknown(e),
            e => CreateError::NotMade(e),
        }
    }
}

impl From<tricircle_store::StoreError> for CreateError {
    fn from(e: tricircle_store::StoreError) -> CreateError {
        CreateError::NotMade(e.into())
    }
}

/// Why no copy id could be had.
#[derive(Debug, Error)]
pub enum CopyError {
    /// The top resource is being deleted: it gets no new copy.
    #[error("the {resource_type} {top_id} is being deleted")]
    Tombstoned {
        resource_type: String,
        top_id: String,
    },
    /// The store, the pod, or the create closure failed.
    #[error(transparent)]
    Failed(#[from] GatewayError),
}

impl From<tricircle_store::StoreError> for CopyError {
    fn from(e: tricircle_store::StoreError) -> CopyError {
        CopyError::Failed(e.into())
    }
}

impl From<CopyError> for GatewayError {
    fn from(e: CopyError) -> GatewayError {
        match e {
            e @ CopyError::Tombstoned { .. } => GatewayError::NotFound(e.to_string()),
            CopyError::Failed(e) => e,
        }
    }
}

impl Gateway {
    /// The bottom id of `copy`, creating it with `create` (which makes the
    /// copy in the pod and returns its id) when no routing records one.
    /// See [`copy_in_pod`].
    pub async fn get_or_create_copy<C, F>(
        &self,
        copy: CopyOf<'_>,
        create: C,
    ) -> Result<String, CopyError>
    where
        C: Fn(Attempt) -> F,
        F: Future<Output = Result<String, CreateError>>,
    {
        copy_in_pod(&self.store, copy, COPY_LOCK_TIMEOUT, create).await
    }
}

/// The one get-or-create of copies in pods: takes the routing lock of
/// `copy`; returns the recorded bottom id if there is one; otherwise (as
/// the lock's owner) calls `create` and records what it returns. A failed
/// `create` frees the lock, or keeps it when the pod may have made the
/// copy ([`CreateError`]). Callers
/// that find the lock held wait (backing off up to half a second) for the
/// owner, take the lock over once it is older than `lock_timeout`, and
/// give up as unavailable after twice that.
pub async fn copy_in_pod<C, F>(
    store: &Store,
    copy: CopyOf<'_>,
    lock_timeout: Duration,
    create: C,
) -> Result<String, CopyError>
where
    C: Fn(Attempt) -> F,
    F: Future<Output = Result<String, CreateError>>,
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
            RoutingLock::Tombstoned => {
                return Err(CopyError::Tombstoned {
                    resource_type: resource_type.to_string(),
                    top_id: top_id.to_string(),
                })
            }
            RoutingLock::Owner { routing_id } => break (routing_id, Attempt::First),
            RoutingLock::Busy { routing_id, since } => {
                if stale(&since, lock_timeout)
                    && store.take_over_routing_lock(routing_id, &since).await?
                {
                    tracing::warn!(%top_id, pod = %pod.pod_name, %resource_type, "taking over a stale creation lock");
                    break (routing_id, Attempt::TakeOver);
                }
                if started.elapsed() > lock_timeout * 2 {
                    return Err(GatewayError::unavailable(
                        format!(
                            "The {resource_type} {top_id} is still being prepared in pod {}.",
                            pod.pod_name
                        ),
                        Duration::ZERO,
                    )
                    .into());
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
        // owner (once it is stale) looks for it.
        Err(CreateError::Unknown(e)) => Err(e.into()),
        Err(CreateError::NotMade(e)) => {
            // Nothing was made: free the lock so that the next request
            // tries again. A lock that stays only delays that until it is
            // stale: logged, not fatal.
            if let Err(re) = store.release_routing_lock(routing_id).await {
                tracing::warn!(error = %re, %top_id, pod = %pod.pod_name, %resource_type, "could not release a creation lock");
            }
            Err(e.into())
        }
    }
}

/// Whether a lock last touched at `since` (RFC 3339) is older than `timeout`.
fn stale(since: &str, timeout: Duration) -> bool {
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

    fn copy<'a>(pod: &'a Pod) -> CopyOf<'a> {
        CopyOf {
            resource_type: ResourceType::Flavor,
            top_id: "f1",
            pod,
            project_id: "",
        }
    }

    #[tokio::test]
    async fn concurrent_instances_make_one_copy() {
        let db = tricircle_store::testing::sqlite().await;
        let other = db.another_instance().await;
        let pod = pod(&db).await;
        let made = Arc::new(AtomicUsize::new(0));
        let create = |_: Attempt| {
            let made = made.clone();
            async move {
                tokio::task::yield_now().await;
                Ok(format!("bottom-{}", made.fetch_add(1, Ordering::SeqCst)))
            }
        };
        let (a, b, c) = tokio::join!(
            copy_in_pod(&db, copy(&pod), COPY_LOCK_TIMEOUT, create),
            copy_in_pod(&other, copy(&pod), COPY_LOCK_TIMEOUT, create),
            copy_in_pod(&db, copy(&pod), COPY_LOCK_TIMEOUT, create),
        );
        assert_eq!(made.load(Ordering::SeqCst), 1);
        assert_eq!(a.unwrap(), "bottom-0");
        assert_eq!(b.unwrap(), "bottom-0");
        assert_eq!(c.unwrap(), "bottom-0");
    }

    #[tokio::test]
    async fn a_refused_create_frees_the_lock_an_unavailable_one_keeps_it() {
        let db = tricircle_store::testing::sqlite().await;
        let pod = pod(&db).await;
        let refused = copy_in_pod(&db, copy(&pod), COPY_LOCK_TIMEOUT, |_| async {
            Err(CreateError::NotMade(GatewayError::BadRequest("no".into())))
        })
        .await;
        assert!(matches!(
            refused,
            Err(CopyError::Failed(GatewayError::BadRequest(_)))
        ));
        // Freed: the next caller owns the lock and creates.
        let unavailable = copy_in_pod(&db, copy(&pod), COPY_LOCK_TIMEOUT, |a| async move {
            assert_eq!(a, Attempt::First);
            Err(GatewayError::unavailable("down", Duration::ZERO).into())
        })
        .await;
        assert!(matches!(
            unavailable,
            Err(CopyError::Failed(GatewayError::Unavailable { .. }))
        ));
        // Kept: with no timeout the next caller takes it over and is told.
        let taken = copy_in_pod(&db, copy(&pod), Duration::ZERO, |a| async move {
            assert_eq!(a, Attempt::TakeOver);
            Ok("found".to_string())
        })
        .await;
        assert_eq!(taken.unwrap(), "found");
    }

    #[tokio::test]
    async fn a_tombstoned_resource_gets_no_copy() {
        let db = tricircle_store::testing::sqlite().await;
        let pod = pod(&db).await;
        db.add_tombstone("f1", ResourceType::Flavor).await.unwrap();
        let r = copy_in_pod(&db, copy(&pod), COPY_LOCK_TIMEOUT, |_| async {
            Ok::<_, CreateError>("never".to_string())
        })
        .await;
        assert!(matches!(r, Err(CopyError::Tombstoned { .. })));
    }
}
