//! The k-way merge of per-pod sorted lists, and how much to ask each pod
//! for.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use serde_json::Value;

use super::order::compare;
use super::sort_keys::SortKey;
use super::{MAX_BATCH, MIN_BATCH};

///
/// Nova asks every cell for the whole `limit`, which answers in one round
/// but fetches `limit × pods` items. We ask for twice a fair share of the
/// limit (`2·limit/pods`), at least [`MIN_BATCH`], never more than the limit
/// or [`MAX_BATCH`]: for small limits (≤ 50) that is Nova's choice; with many
/// pods it fetches far less, and a pod holding more than its share is asked
/// again (the fan-out doubles its page each time). No limit: [`MAX_BATCH`].
/// `Some(0)` gives 0: ask nothing.
pub fn batch_size(limit: Option<usize>, pods: usize) -> usize {
    match limit {
        None => MAX_BATCH,
        Some(limit) => {
            let limit = limit.min(MAX_BATCH);
            let share = (2 * limit).div_ceil(pods.max(1));
            limit.min(share.max(MIN_BATCH))
        }
    }
}

/// A list's head item in the merge heap: the smallest item is the greatest
/// entry (BinaryHeap is a max-heap).
struct Head<'a> {
    item: &'a Value,
    list: usize,
    pos: usize,
    keys: &'a [SortKey],
}

impl Ord for Head<'_> {
    fn cmp(&self, other: &Self) -> Ordering {
        compare(self.item, other.item, self.keys)
            .then(self.list.cmp(&other.list))
            .reverse()
    }
}

impl PartialOrd for Head<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Head<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Head<'_> {}

/// The k-way merge order of lists each sorted by `keys`: `(list, position)`
/// pairs, smallest first, at most `limit` of them. Items that compare equal
/// come from the lower-numbered list first.
pub fn merge_order(
    lists: &[&[Value]],
    keys: &[SortKey],
    limit: Option<usize>,
) -> Vec<(usize, usize)> {
    let total: usize = lists.iter().map(|l| l.len()).sum();
    let want = limit.map_or(total, |l| l.min(total));
    let mut heap: BinaryHeap<Head<'_>> = lists
        .iter()
        .enumerate()
        .filter_map(|(list, items)| {
            items.first().map(|item| Head {
                item,
                list,
                pos: 0,
                keys,
            })
        })
        .collect();
    let mut order = Vec::with_capacity(want);
    while order.len() < want {
        let Some(head) = heap.pop() else { break };
        order.push((head.list, head.pos));
        let next = head.pos + 1;
        if let Some(item) = lists[head.list].get(next) {
            heap.push(Head {
                item,
                list: head.list,
                pos: next,
                keys,
            });
        }
    }
    order
}

/// Merges lists each already sorted by `keys` into one sorted list of at most
/// `limit` items.
pub fn merge(per_pod: Vec<Vec<Value>>, keys: &[SortKey], limit: Option<usize>) -> Vec<Value> {
    let order = {
        let lists: Vec<&[Value]> = per_pod.iter().map(Vec::as_slice).collect();
        merge_order(&lists, keys, limit)
    };
    let mut iters: Vec<_> = per_pod.into_iter().map(Vec::into_iter).collect();
    // Positions within one list come in order, so taking the next item of
    // that list is taking the item at that position.
    order
        .into_iter()
        .filter_map(|(list, _)| iters.get_mut(list).and_then(Iterator::next))
        .collect()
}
