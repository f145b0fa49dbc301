//! Lists of volumes, snapshots and backups across pods: the pods where the
//! project has such resources (every pod for `all_tenants`), in parallel,
//! merge-sorted by Cinder's sort keys, paged by one global `limit` and
//! `marker` (see [`tricircle_pods::fanout`]). Unlike the server list, a
//! strict list passes a pod's refusal on as it is, and a request every pod
//! refused is answered with that refusal. Rendering the page (the brief
//! view, next links, the skipped pods) is the API's.

use std::collections::HashMap;

use http::Method;
use serde_json::Value;
use tricircle_core::listing::SortKey;
use tricircle_gateway::list_fetch::{ListError, ListHow, PageError};
use tricircle_gateway::segment::valid_segment;
use tricircle_gateway::{Caller, Gateway};
use tricircle_pods::fanout::{ListRequest, MarkerPosition, PageQuery};
use tricircle_pods::PodPath;
use tricircle_store::Pod;

use crate::cinder::{self, Request};
use crate::error::{Result, VolumeError};
use crate::kind::{type_ids, Kind, TypeIds};

/// A list request, parsed.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    /// The order, ending with the id tie-break.
    pub sort: Vec<SortKey>,
    /// The page size.
    pub limit: usize,
    /// Items of the merged list to leave out first.
    pub offset: usize,
    pub marker: Option<String>,
    /// Where each pod's part of the list continues (from our next link).
    pub hints: HashMap<String, String>,
    /// The top AZ asked for (the kind's AZ filter).
    pub az: Option<String>,
    pub all_tenants: bool,
    /// Passed to every pod as they are.
    pub filters: Vec<(String, String)>,
    /// Ask the pods for their detailed view (`/{collection}/detail`).
    pub detail: bool,
    /// Show the top's volume type ids (3.63).
    pub type_ids: bool,
    /// Fail rather than skip a failing pod.
    pub strict: bool,
}

/// One page of a list, in top terms.
#[derive(Debug)]
pub struct Page {
    pub items: Vec<Value>,
    /// The limit was reached and more may follow.
    pub more: bool,
    pub next_hints: HashMap<String, String>,
    /// Pods that failed and were left out.
    pub skipped: Vec<String>,
}

impl From<ListError> for VolumeError {
    fn from(e: ListError) -> VolumeError {
        match e {
            ListError::TokenRefused => VolumeError::TokenRefused,
            ListError::Gateway(e) => VolumeError::Gateway(e),
        }
    }
}

/// `GET /{collection}[/detail]` across the pods.
pub async fn list(gw: &Gateway, caller: &Caller, kind: &Kind, q: ListQuery) -> Result<Page> {
    let pods = gw
        .pods_to_list(
            &caller.project_id,
            kind.resource_type,
            q.all_tenants,
            q.az.as_deref(),
        )
        .await?;
    let type_ids = type_ids(gw, q.type_ids).await?;
    let marker = match &q.marker {
        None => None,
        Some(m) => Some(marker_position(gw, caller, kind, m, &q.hints, &type_ids).await?),
    };
    let req = ListRequest {
        sort: q.sort.clone(),
        limit: Some(q.limit.saturating_add(q.offset)),
        marker,
        per_pod_deadline: gw.list_deadline,
        strict: q.strict,
    };
    let how = ListHow {
        what: kind.collection,
        pass_refusals: true,
    };
    let (q, type_ids) = (&q, &type_ids);
    let fetch = |pod: Pod, page: PageQuery| async move {
        fetch_page(gw, caller, kind, &pod, q, type_ids, page).await
    };
    let listed = gw.list_pods_with(&pods, &req, how, fetch).await?;
    // A request every pod refused is the client's mistake: say so.
    if listed.items.is_empty()
        && !pods.is_empty()
        && listed.skipped.len() == pods.len()
        && listed.refused.len() == listed.skipped.len()
    {
        if let Some(r) = listed.refused.into_iter().next() {
            return Err(VolumeError::PodRefused {
                status: r.status,
                message: r.message,
            });
        }
    }
    Ok(Page {
        items: listed.items.into_iter().skip(q.offset).collect(),
        more: listed.more,
        next_hints: listed.next_hints,
        skipped: listed.skipped,
    })
}

/// Where the previous page ended: the marker's sort values.
async fn marker_position(
    gw: &Gateway,
    caller: &Caller,
    kind: &Kind,
    m: &str,
    hints: &HashMap<String, String>,
    type_ids: &TypeIds,
) -> Result<MarkerPosition> {
    if !valid_segment(m) {
        return Err(kind.not_found(m));
    }
    let (_, pod) = kind.routed(gw, caller, m).await?;
    let mut values = cinder::fetch(gw, caller, kind, &pod, m).await?;
    kind.item_to_top(&mut values, &pod, type_ids);
    Ok(MarkerPosition {
        id: m.to_string(),
        values,
        pod: Some(pod.pod_name.clone()),
        per_pod_markers: hints.clone(),
    })
}

/// One page of one pod, sorted by `q.sort`, in top terms.
async fn fetch_page(
    gw: &Gateway,
    caller: &Caller,
    kind: &Kind,
    pod: &Pod,
    q: &ListQuery,
    type_ids: &TypeIds,
    page: PageQuery,
) -> std::result::Result<Vec<Value>, PageError> {
    let mut query = q.filters.clone();
    if q.az.is_some() && !pod.pod_az_name.is_empty() {
        query.push(("availability_zone".into(), pod.pod_az_name.clone()));
    }
    let sort: Vec<String> = q
        .sort
        .iter()
        .map(|k| format!("{}:{}", k.key, k.dir.as_str()))
        .collect();
    query.push(("sort".into(), sort.join(",")));
    query.push(("limit".into(), page.limit.to_string()));
    if let Some(m) = page.marker {
        query.push(("marker".into(), m));
    }
    let qs = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(query)
        .finish();
    let path = if q.detail {
        PodPath::of([kind.collection, "detail"])
    } else {
        PodPath::of([kind.collection])
    };
    let request = Request {
        method: Method::GET,
        path,
        query: Some(qs),
        body: None,
    };
    let answer = cinder::try_forward(gw, caller, pod, request).await?;
    if answer.status.is_client_error() {
        return Err(PageError::Refused {
            status: answer.status.as_u16(),
            message: cinder::pod_message(&answer),
        });
    }
    if !answer.is_success() {
        return Err(PageError::Failed(format!(
            "HTTP {}: {}",
            answer.status,
            String::from_utf8_lossy(&answer.body)
        )));
    }
    let mut doc = answer
        .json()
        .ok_or_else(|| PageError::Failed("not JSON".into()))?;
    answer.links.rewrite_json(&mut doc);
    let mut items = match doc.get_mut(kind.collection).map(Value::take) {
        Some(Value::Array(a)) => a,
        _ => return Err(PageError::Failed(format!("no {} array", kind.collection))),
    };
    for item in &mut items {
        kind.item_to_top(item, pod, type_ids);
    }
    Ok(items)
}
