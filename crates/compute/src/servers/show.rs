//! Showing and deleting a server through its routing.

use http::{HeaderMap, Method, StatusCode};
use tricircle_gateway::{Caller, PodAnswer};
use tricircle_pods::PodPath;
use tricircle_store::Pod;

use super::{not_found, Presented, ServerAt, Servers};
use crate::ComputeError;
use tricircle_gateway::segment::valid_segment;

impl Servers<'_> {
    /// `GET /servers/{id}`: the pod's view in top terms.
    pub async fn show(
        &self,
        caller: &Caller,
        id: &str,
        query: Option<String>,
    ) -> Result<Presented, ComputeError> {
        let Some(at) = self.find(caller, id).await? else {
            // The routing goes when the pod accepts the delete; while the
            // pod is still at it, Nova shows the server (task state
            // `deleting`), and 404 only once it is gone — as the server
            // lists do.
            return match self.being_deleted(caller, id, query).await {
                Some((answer, pod)) => Ok(self.present_server(answer, &pod).await),
                None => Err(not_found(id)),
            };
        };
        let answer = self
            .forward(
                caller,
                &at.pod,
                Method::GET,
                PodPath::of(["servers", id]),
                query,
                None,
            )
            .await?;
        if answer.status == StatusCode::NOT_FOUND {
            // The pod no longer has it: the routing is stale.
            self.forget(at.routing.id, id).await?;
        }
        Ok(self.present_server(answer, &at.pod).await)
    }

    /// A server no routing knows any more that a pod still shows
    /// `deleting` (its delete was accepted, the pod is at it): the pod's
    /// answer. The pod answers with the caller's token, so only what the
    /// caller may see.
    async fn being_deleted(
        &self,
        caller: &Caller,
        id: &str,
        q: Option<String>,
    ) -> Option<(PodAnswer, Pod)> {
        if !valid_segment(id) {
            return None;
        }
        let ask = |pod: Pod| {
            let q = q.clone();
            async move {
                let path = PodPath::of(["servers", id]);
                self.forward(caller, &pod, Method::GET, path, q, None).await
            }
        };
        self.compute
            .gateway
            .first_pod_answer("a deleted server", ask, |a| {
                a.is_success()
                    && a.json()
                        .is_some_and(|v| v["server"]["OS-EXT-STS:task_state"] == "deleting")
            })
            .await
    }

    /// `DELETE /servers/{id}`: once the pod accepts (or no longer has it),
    /// the routing, the quota and the boot's ports go, in one transaction.
    /// Should that fail, the caller gets our error, not the pod's answer
    /// (see `forget`): a repeated delete finishes it.
    pub async fn delete(&self, caller: &Caller, at: &ServerAt) -> Result<Presented, ComputeError> {
        let answer = self
            .forward(
                caller,
                &at.pod,
                Method::DELETE,
                PodPath::of(["servers", &at.id]),
                None,
                None,
            )
            .await?;
        if answer.is_success() || answer.status == StatusCode::NOT_FOUND {
            self.forget(at.routing.id, &at.id).await?;
        }
        Ok(answer.presented(|_| {}))
    }
}

/// An answer without a body.
pub(super) fn empty(status: StatusCode) -> Presented {
    (status, HeaderMap::new(), bytes::Bytes::new())
}
