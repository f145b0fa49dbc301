//! `GET /servers[/detail]` across pods: the pods where the project has
//! servers (every pod for admins listing every tenant), in parallel,
//! merge-sorted by Nova's sort keys, paged by one global `limit` and
//! `marker`.

use std::collections::HashMap;

use http::Method;
use serde_json::Value;
use tricircle_core::listing::SortKey;
use tricircle_gateway::list_fetch::{PageCall, PageError};
use tricircle_gateway::rewrite::az_to_top;
use tricircle_gateway::{Caller, GatewayError};
use tricircle_pods::fanout::{ListRequest, MarkerPosition, PageQuery};
use tricircle_pods::PodPath;
use tricircle_store::Pod;

use super::{Servers, AZ_FIELD, RESOURCE_TYPE};
use crate::ComputeError;

/// A server list request, parsed.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    /// The order, ending with the id tie-break.
    pub sort: Vec<SortKey>,
    pub limit: Option<usize>,
    pub marker: Option<String>,
    /// Where each pod's part of the list continues (from our next link).
    pub hints: HashMap<String, String>,
    /// Passed to every pod as they are.
    pub filters: Vec<(String, String)>,
    pub az: Option<String>,
    pub all_tenants: bool,
    /// Fail rather than skip a failing pod.
    pub strict: bool,
}

/// One page of servers (detailed views in top terms).
#[derive(Debug)]
pub struct ServerPage {
    pub servers: Vec<Value>,
    /// The limit was reached and more may follow.
    pub more: bool,
    pub next_hints: HashMap<String, String>,
    /// Pods that failed and were left out.
    pub skipped: Vec<String>,
}

impl Servers<'_> {
    pub async fn list(&self, caller: &Caller, q: ListQuery) -> Result<ServerPage, ComputeError> {
        let pods = self
            .compute
            .gateway
            .pods_to_list(
                &caller.project_id,
                RESOURCE_TYPE,
                q.all_tenants,
                q.az.as_deref(),
            )
            .await?;
        let marker = match &q.marker {
            None => None,
            Some(m) => Some(self.marker_position(caller, m, &q.hints).await?),
        };
        let req = ListRequest {
            sort: q.sort.clone(),
            limit: q.limit,
            marker,
            per_pod_deadline: self.compute.gateway.list_deadline,
            strict: q.strict,
        };
        let q = &q;
        let fetch =
            |pod: Pod, page: PageQuery| async move { self.fetch_page(caller, &pod, q, page).await };
        let listed = self
            .compute
            .gateway
            .list_pods(&pods, &req, "servers", fetch)
            .await?;
        Ok(ServerPage {
            servers: listed.items,
            more: listed.more,
            next_hints: listed.next_hints,
            skipped: listed.skipped,
        })
    }

    /// Where the previous page ended: the marker server's sort values.
    async fn marker_position(
        &self,
        caller: &Caller,
        m: &str,
        hints: &HashMap<String, String>,
    ) -> Result<MarkerPosition, ComputeError> {
        let bad =
            || ComputeError::from(GatewayError::BadRequest(format!("marker [{m}] not found")));
        let (_, pod) = self
            .compute
            .gateway
            .routed_pod(caller, RESOURCE_TYPE, m)
            .await?
            .ok_or_else(bad)?;
        let answer = self
            .forward(
                caller,
                &pod,
                Method::GET,
                PodPath::of(["servers", m]),
                None,
                None,
            )
            .await?;
        let mut item = answer
            .json()
            .filter(|_| answer.is_success())
            .map(|v| v["server"].clone())
            .ok_or_else(bad)?;
        az_to_top(&mut item, AZ_FIELD, &pod.pod_az_name, &pod.az_name);
        Ok(MarkerPosition {
            id: m.to_string(),
            values: item,
            pod: Some(pod.pod_name.clone()),
            per_pod_markers: hints.clone(),
        })
    }

    /// One page of `/servers/detail` from one pod, sorted by `q.sort`, in
    /// top terms.
    async fn fetch_page(
        &self,
        caller: &Caller,
        pod: &Pod,
        q: &ListQuery,
        page: PageQuery,
    ) -> Result<Vec<Value>, PageError> {
        let mut query: Vec<(String, String)> = q.filters.clone();
        if q.az.is_some() {
            query.push(("availability_zone".into(), pod.pod_az_name.clone()));
        }
        for k in &q.sort {
            query.push(("sort_key".into(), k.key.clone()));
            query.push(("sort_dir".into(), k.dir.as_str().into()));
        }
        query.push(("limit".into(), page.limit.to_string()));
        if let Some(m) = page.marker {
            query.push(("marker".into(), m));
        }
        let mut servers = self
            .compute
            .gateway
            .fetch_page(
                caller,
                PageCall {
                    pod,
                    service_type: "compute",
                    path: PodPath::fixed("/servers/detail"),
                    query,
                    key: "servers",
                },
            )
            .await?;
        let names = self.top_group_names(servers.iter()).await;
        for s in &mut servers {
            Self::list_item_to_top(s, pod, &names);
        }
        Ok(servers)
    }
}
