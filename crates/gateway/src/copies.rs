//! Copies of top resources in pods (flavors, keypairs, server groups,
//! volume types) in the gateway's terms: the store's one get-or-create
//! under the routing lock ([`tricircle_store::copies`], which the network
//! domain uses too) with the gateway's errors. A copy is made at most once
//! per pod, whatever the number of concurrent requests and gateway
//! instances; a tombstoned top resource (being deleted) gets no copy.

use std::future::Future;
use std::time::Duration;

use thiserror::Error;
use tricircle_store::copies;
use tricircle_store::Store;

pub use tricircle_store::copies::{Attempt, CopyOf};

use crate::error::GatewayError;
use crate::Gateway;

/// How long a creation lock may stay untouched before another caller
/// takes it over; a waiter gives up after twice as long.
pub const COPY_LOCK_TIMEOUT: Duration = Duration::from_secs(60);

/// Why the create closure made no copy, and whether the pod may have made
/// one all the same.
pub type CreateError = copies::CreateError<GatewayError>;

/// An unavailable pod may have made the copy; any other failure came
/// before the pod made anything.
impl From<GatewayError> for CreateError {
    fn from(e: GatewayError) -> CreateError {
        match e {
            e @ GatewayError::Unavailable { .. } => CreateError::Unknown(e),
            e => CreateError::NotMade(e),
        }
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
        C: FnOnce(Attempt) -> F,
        F: Future<Output = Result<String, CreateError>>,
    {
        copy_in_pod(&self.store, copy, COPY_LOCK_TIMEOUT, create).await
    }
}

/// [`copies::get_or_create`] with the gateway's errors: a lock held too
/// long is an unavailable pod (retry later), a tombstone a 404.
pub async fn copy_in_pod<C, F>(
    store: &Store,
    copy: CopyOf<'_>,
    lock_timeout: Duration,
    create: C,
) -> Result<String, CopyError>
where
    C: FnOnce(Attempt) -> F,
    F: Future<Output = Result<String, CreateError>>,
{
    copies::get_or_create(store, copy, lock_timeout, create)
        .await
        .map_err(|e| match e {
            copies::CopyError::Tombstoned => CopyError::Tombstoned {
                resource_type: copy.resource_type.to_string(),
                top_id: copy.top_id.to_string(),
            },
            copies::CopyError::StillBeingMade => CopyError::Failed(GatewayError::unavailable(
                format!(
                    "The {} {} is still being prepared in pod {}.",
                    copy.resource_type, copy.top_id, copy.pod.pod_name
                ),
                Duration::ZERO,
            )),
            copies::CopyError::Store(e) => e.into(),
            copies::CopyError::Create(e) => CopyError::Failed(e),
        })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use tricircle_core::pod::ValidPod;
    use tricircle_core::ResourceType;
    use tricircle_store::Pod;

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
