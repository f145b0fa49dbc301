//! Cross-pod list ordering: sort-key parsing (Nova and Cinder rules), the
//! total order on pod resources, the k-way merge of per-pod sorted lists and
//! the marker position.
//!
//! The idea is Nova's cross-cell lister: every pod sorts and pages its own
//! list, and the gateway merges the sorted streams. That only works if the
//! gateway orders items exactly as the pods do, so:
//!
//! - the sort ends with the resource id as a unique tie-break (the parse
//!   functions append it), and the caller must send the *whole* key list,
//!   tie-break included, to every pod (Nova and Cinder append their own
//!   defaults otherwise, which differ from ours);
//! - each [`SortKey`] names both the key as the pod's API spells it
//!   (`display_name`, `uuid`) and the JSON field of the returned resource that
//!   carries its value (`name`, `id`). Only keys whose value appears in the
//!   listed resource can be merged; list the detail view from pods even for a
//!   brief list, and trim afterwards.

mod merge;
mod order;
mod sort_keys;
#[cfg(test)]
mod tests;

pub use self::merge::{batch_size, merge, merge_order};
pub use self::order::{after_marker, compare, compare_values, item_id};
pub use self::sort_keys::{
    parse_cinder_sort, parse_nova_sort, ListError, SortDir, SortField, SortKey, CINDER_ID_KEY,
    CINDER_SNAPSHOT_SORT_FIELDS, CINDER_VOLUME_SORT_FIELDS, NOVA_SERVER_ID_KEY,
    NOVA_SERVER_SORT_FIELDS,
};

/// The JSON field holding a resource's unique id (Nova servers, Cinder
/// volumes, snapshots and backups all call it `id`).
pub const ID_FIELD: &str = "id";

/// Most items we ask one pod for in one request: Nova's and Cinder's default
/// `osapi_max_limit`. A pod answers at most its own `osapi_max_limit` items
/// and we take a short page for the end of its list, so pods must not be
/// configured with a smaller `osapi_max_limit` than this.
pub const MAX_BATCH: usize = 1000;

/// Fewest items we ask one pod for in its first request when a limit is set
/// (unless the limit itself is smaller).
pub const MIN_BATCH: usize = 50;
