//! Listing one kind of resource across pods as if they were one cloud: every
//! pod in parallel, each under a deadline, merged by the sort keys, paged by
//! one global `limit`/`marker` (the idea of Nova's cross-cell lister).
//!
//! The caller supplies `fetch`, which asks one pod for one page, sorted by
//! [`ListRequest::sort`] — the *whole* key list, tie-break included (see
//! [`tricircle_core::listing`]) — with the pod's own `limit` and `marker`.
//! A page shorter than asked means the pod's list ends there, so no page may
//! be larger than a pod's `osapi_max_limit` ([`MAX_BATCH`] is the default
//! of both Nova and Cinder).
//!
//! Where each pod starts, when a global marker is given:
//! - the pod that owns the marker is asked with `marker=<id>`;
//! - a pod with a hint (the last of its items the client has already seen,
//!   carried by our own next links, see [`ListOutcome::next_hints`]) is asked
//!   with `marker=<hint>`;
//! - any other pod is read from its start and its items up to the marker
//!   (compared by value) are dropped. That costs O(position) for those pods
//!   (pages double, up to [`MAX_BATCH`], while they hold nothing past the
//!   marker), which is why next links should carry the hints.
//!
//! If a pod rejects the marker or hint of its first request (the item was
//! deleted since), it is read again from its start, dropping by value.
//!
//! A pod is asked for another page only while the merge may still need its
//! items: until it is exhausted or its last fetched item sorts after the
//! current `limit`-th candidate. A pod that fails (error, deadline, malformed
//! page) contributes nothing to the page and is reported in
//! [`ListOutcome::failed`]; with [`ListRequest::strict`] the whole list fails
//! instead.

use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::future::Future;
use std::time::Duration;

use futures::stream::{FuturesUnordered, StreamExt};
use serde_json::Value;
use tokio::time::Instant;
use tricircle_core::listing::{
    after_marker, batch_size, compare, item_id, merge_order, SortKey, MAX_BATCH,
};

/// One page asked of one pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageQuery {
    /// The id of the pod's item to list after (the pod's own `marker`).
    pub marker: Option<String>,
    /// The pod's own `limit`, always at least 1 and at most [`MAX_BATCH`].
    pub limit: usize,
}

/// Where the client's previous page ended.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MarkerPosition {
    /// The marker's id (the last item of the previous page).
    pub id: String,
    /// The marker resource itself (or any object carrying its sort-key
    /// fields): what items of pods without a hint are compared against.
    pub values: Value,
    /// The pod that owns the marker, if known (from the routing table).
    pub pod: Option<String>,
    /// Per pod, the last of its items the client has seen, from
    /// [`ListOutcome::next_hints`] of the previous page. Hints must come
    /// from the same next link as the marker; a stale hint only costs a
    /// re-read, a foreign one can skip items.
    pub per_pod_markers: HashMap<String, String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ListRequest {
    /// The order, ending with the unique id tie-break (as the parse
    /// functions of [`tricircle_core::listing`] make it).
    pub sort: Vec<SortKey>,
    /// Most items to return; `None`: all (each pod read to its end).
    /// `Some(0)` asks no pod and returns nothing.
    pub limit: Option<usize>,
    pub marker: Option<MarkerPosition>,
    /// Time each pod has for all of its pages, counted from the start of
    /// the list.
    pub per_pod_deadline: Duration,
    /// Fail the whole list when one pod fails.
    pub strict: bool,
}

/// Why a pod is missing from a list.
#[derive(Debug)]
pub enum PodFailure<E> {
    /// `fetch` returned an error.
    Error(E),
    /// The pod did not finish before its deadline.
    Timeout,
    /// The pod's page could not be used (an item without a string `id`, or
    /// the marker ignored).
    Malformed(String),
}

impl<E: fmt::Display> fmt::Display for PodFailure<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PodFailure::Error(e) => write!(f, "{e}"),
            PodFailure::Timeout => f.write_str("did not answer before its deadline"),
            PodFailure::Malformed(why) => write!(f, "returned an unusable page: {why}"),
        }
    }
}

/// One page of a list across pods.
#[derive(Debug)]
pub struct ListOutcome<E> {
    /// Sorted, at most `limit` items.
    pub items: Vec<Value>,
    /// Per pod, the id of its last item the client has now seen (returned on
    /// this page or an earlier one, or passed over as before the marker), to
    /// put in the next link and hand back as
    /// [`MarkerPosition::per_pod_markers`]. Pods with none, and failed pods,
    /// are absent (they are then read from their start).
    pub next_hints: HashMap<String, String>,
    /// The limit was reached and more items may follow (a next link is due).
    pub more: bool,
    /// Pods that failed, in the order of the `pods` argument.
    pub failed: Vec<(String, PodFailure<E>)>,
}

/// A strict list failed because of this pod.
#[derive(Debug)]
pub struct StrictFailure<E> {
    pub pod: String,
    pub failure: PodFailure<E>,
}

impl<E: fmt::Display> fmt::Display for StrictFailure<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "pod {} {}", self.pod, self.failure)
    }
}

impl<E: fmt::Debug + fmt::Display> std::error::Error for StrictFailure<E> {}

/// What the list knows about one pod.
struct PodState<E> {
    name: String,
    /// `marker` of the pod's next page.
    cursor: Option<String>,
    /// The cursor came with the request and no page has answered yet.
    resumed: bool,
    /// Items are still compared with the global marker (the pod is read
    /// from its start and nothing after the marker has come yet).
    scanning: bool,
    /// Last item id the client has seen from this pod (the next hint).
    passed: Option<String>,
    /// Fetched items after the marker, not yet merged, in order.
    buffer: Vec<Value>,
    /// The last item fetched (whether kept or dropped).
    last_fetched: Option<Value>,
    exhausted: bool,
    page_size: usize,
    failure: Option<PodFailure<E>>,
}

impl<E> PodState<E> {
    fn new(name: &str, marker: Option<&MarkerPosition>, page_size: usize) -> PodState<E> {
        let cursor = marker.and_then(|m| {
            if m.pod.as_deref() == Some(name) {
                Some(m.id.clone())
            } else {
                m.per_pod_markers.get(name).cloned()
            }
        });
        PodState {
            name: name.to_string(),
            resumed: cursor.is_some(),
            scanning: marker.is_some() && cursor.is_none(),
            passed: cursor.clone(),
            cursor,
            buffer: Vec::new(),
            last_fetched: None,
            exhausted: false,
            page_size,
            failure: None,
        }
    }

    fn live(&self) -> bool {
        self.failure.is_none()
    }
}

struct Ctx<'a> {
    keys: &'a [SortKey],
    marker: Option<&'a Value>,
    limit: Option<usize>,
    deadline: Instant,
}

/// The size of a pod's next page: double the last, up to [`MAX_BATCH`], and
/// once past the marker no more than the limit still lacks from this pod.
fn next_page_size<E>(st: &PodState<E>, limit: Option<usize>) -> usize {
    let doubled = st.page_size.saturating_mul(2).min(MAX_BATCH);
    match limit {
        Some(k) if !st.scanning => doubled.min(k.saturating_sub(st.buffer.len())).max(1),
        _ => doubled.max(1),
    }
}

/// Fetches pages from one pod until it yields at least one new item after
/// the marker, ends, or fails.
async fn step<F, Fut, E>(st: &mut PodState<E>, fetch: &F, ctx: &Ctx<'_>)
where
    F: Fn(String, PageQuery) -> Fut,
    Fut: Future<Output = Result<Vec<Value>, E>>,
{
    let had = st.buffer.len();
    loop {
        let asked = st.page_size;
        let query = PageQuery {
            marker: st.cursor.clone(),
            limit: asked,
        };
        let page = match tokio::time::timeout_at(ctx.deadline, fetch(st.name.clone(), query)).await
        {
            Err(_elapsed) => {
                st.failure = Some(PodFailure::Timeout);
                return;
            }
            Ok(Err(_)) if st.resumed => {
                // Most likely the marker or hint item is gone: find the
                // position by value instead.
                tracing::debug!(pod = %st.name, "pod rejected the list marker; reading it from its start");
                st.resumed = false;
                st.cursor = None;
                st.passed = None;
                st.scanning = ctx.marker.is_some();
                continue;
            }
            Ok(Err(e)) => {
                st.failure = Some(PodFailure::Error(e));
                return;
            }
            Ok(Ok(page)) => page,
        };
        let last_id = page.last().and_then(item_id);
        if last_id.is_some() && last_id == st.cursor.as_deref() {
            // The page ends where it should have started: the pod ignores
            // `marker`, and asking again would never end.
            st.failure = Some(PodFailure::Malformed(
                "the pod does not honour the marker".to_string(),
            ));
            return;
        }
        st.resumed = false;
        st.exhausted = page.len() < asked;
        if let Some(last) = page.last() {
            st.last_fetched = Some(last.clone());
        }
        for item in page {
            let Some(id) = item_id(&item).map(str::to_owned) else {
                st.failure = Some(PodFailure::Malformed(
                    "an item has no string \"id\"".to_string(),
                ));
                return;
            };
            if st.scanning {
                if ctx
                    .marker
                    .is_some_and(|m| !after_marker(&item, m, ctx.keys))
                {
                    st.passed = Some(id.clone());
                    st.cursor = Some(id);
                    continue;
                }
                st.scanning = false;
            }
            st.cursor = Some(id);
            st.buffer.push(item);
        }
        st.page_size = next_page_size(st, ctx.limit);
        if st.exhausted || st.buffer.len() > had {
            return;
        }
    }
}

/// Asks the `wanted` pods for more, in parallel. In strict mode, returns the
/// index of the first pod that failed (the other requests are dropped).
async fn round<F, Fut, E>(
    states: &mut [PodState<E>],
    wanted: &[usize],
    fetch: &F,
    ctx: &Ctx<'_>,
    strict: bool,
) -> Option<usize>
where
    F: Fn(String, PageQuery) -> Fut,
    Fut: Future<Output = Result<Vec<Value>, E>>,
{
    let mut running: FuturesUnordered<_> = states
        .iter_mut()
        .enumerate()
        .filter(|(i, _)| wanted.contains(i))
        .map(|(i, st)| async move {
            step(st, fetch, ctx).await;
            (i, st.live())
        })
        .collect();
    while let Some((i, live)) = running.next().await {
        if strict && !live {
            return Some(i);
        }
    }
    None
}

/// Live pods whose next items may still belong in the page: not exhausted,
/// and their last fetched item sorts before the current `limit`-th
/// candidate (every pod, while fewer candidates than the limit are known).
fn wanting_more<E>(states: &[PodState<E>], keys: &[SortKey], limit: Option<usize>) -> Vec<usize> {
    let live: Vec<usize> = (0..states.len()).filter(|&i| states[i].live()).collect();
    let threshold = limit.and_then(|k| {
        let lists: Vec<&[Value]> = live.iter().map(|&i| states[i].buffer.as_slice()).collect();
        let order = merge_order(&lists, keys, Some(k));
        if order.len() < k {
            return None;
        }
        let &(list, pos) = order.last()?;
        states.get(*live.get(list)?)?.buffer.get(pos)
    });
    live.into_iter()
        .filter(|&i| {
            let st = &states[i];
            !st.exhausted
                && match (threshold, &st.last_fetched) {
                    (Some(t), Some(last)) => compare(last, t, keys) == Ordering::Less,
                    _ => true,
                }
        })
        .collect()
}

/// Now plus `d`, or a century from now if that is beyond the clock.
fn deadline_after(d: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(d)
        .or_else(|| now.checked_add(Duration::from_secs(100 * 365 * 24 * 3600)))
        .unwrap_or(now)
}

/// Lists across `pods` (duplicates are asked once). See the module docs.
pub async fn list_across<F, Fut, E>(
    pods: &[String],
    fetch: F,
    req: &ListRequest,
) -> Result<ListOutcome<E>, StrictFailure<E>>
where
    F: Fn(String, PageQuery) -> Fut,
    Fut: Future<Output = Result<Vec<Value>, E>>,
{
    let ctx = Ctx {
        keys: &req.sort,
        marker: req.marker.as_ref().map(|m| &m.values),
        limit: req.limit,
        deadline: deadline_after(req.per_pod_deadline),
    };
    let mut seen = HashSet::new();
    let names: Vec<&str> = pods
        .iter()
        .map(String::as_str)
        .filter(|p| seen.insert(*p))
        .collect();
    let first_page = batch_size(req.limit, names.len());
    let mut states: Vec<PodState<E>> = names
        .iter()
        .map(|name| PodState::new(name, req.marker.as_ref(), first_page))
        .collect();

    if req.limit != Some(0) {
        let mut wanted: Vec<usize> = (0..states.len()).collect();
        while !wanted.is_empty() {
            if let Some(i) = round(&mut states, &wanted, &fetch, &ctx, req.strict).await {
                let st = states.swap_remove(i);
                return Err(StrictFailure {
                    pod: st.name,
                    failure: st.failure.unwrap_or(PodFailure::Timeout),
                });
            }
            wanted = wanting_more(&states, &req.sort, req.limit);
        }
    }
    Ok(finish(states, req))
}

/// Merges the live pods' items into the page and works out the hints.
fn finish<E>(mut states: Vec<PodState<E>>, req: &ListRequest) -> ListOutcome<E> {
    let live: Vec<usize> = (0..states.len()).filter(|&i| states[i].live()).collect();
    let order = {
        let lists: Vec<&[Value]> = live.iter().map(|&i| states[i].buffer.as_slice()).collect();
        merge_order(&lists, &req.sort, req.limit)
    };
    let mut buffers: Vec<_> = live
        .iter()
        .map(|&i| std::mem::take(&mut states[i].buffer).into_iter())
        .collect();
    let mut items = Vec::with_capacity(order.len());
    for (list, _) in order {
        let (Some(buffer), Some(&i)) = (buffers.get_mut(list), live.get(list)) else {
            continue;
        };
        if let Some(item) = buffer.next() {
            states[i].passed = item_id(&item).map(str::to_owned);
            items.push(item);
        }
    }
    let left_over = buffers.iter().any(|b| b.len() > 0);
    let unfinished = states.iter().any(|st| !st.live() || !st.exhausted);
    let more =
        matches!(req.limit, Some(k) if k > 0 && items.len() == k) && (left_over || unfinished);

    let mut next_hints = HashMap::new();
    let mut failed = Vec::new();
    for st in states {
        match st.failure {
            Some(failure) => failed.push((st.name, failure)),
            None => {
                if let Some(hint) = st.passed {
                    next_hints.insert(st.name, hint);
                }
            }
        }
    }
    ListOutcome {
        items,
        next_hints,
        more,
        failed,
    }
}
