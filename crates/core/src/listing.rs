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

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use serde_json::Value;

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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SortDir {
    Asc,
    Desc,
}

impl SortDir {
    pub fn as_str(self) -> &'static str {
        match self {
            SortDir::Asc => "asc",
            SortDir::Desc => "desc",
        }
    }

    /// `asc` or `desc`, exactly (after trimming blanks), as Nova's API schema
    /// accepts them.
    pub fn parse(s: &str) -> Result<SortDir, ListError> {
        match s.trim() {
            "asc" => Ok(SortDir::Asc),
            "desc" => Ok(SortDir::Desc),
            other => Err(ListError::InvalidSortDir {
                dir: other.to_string(),
            }),
        }
    }
}

/// One sort key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SortKey {
    /// The key as the pod's API spells it (sent down as `sort_key`/`sort`).
    pub key: String,
    /// The JSON field of a listed resource that holds the key's value (what
    /// [`compare`] reads).
    pub field: String,
    pub dir: SortDir,
}

impl SortKey {
    /// A key whose API name is also its JSON field.
    pub fn new(key: &str, dir: SortDir) -> SortKey {
        SortKey {
            key: key.to_string(),
            field: key.to_string(),
            dir,
        }
    }
}

/// An allowed sort key and the JSON field that carries its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SortField<'a> {
    pub key: &'a str,
    pub field: &'a str,
}

const fn sf(key: &'static str, field: &'static str) -> SortField<'static> {
    SortField { key, field }
}

/// Nova server sort keys whose value is shown, unchanged, in the detail view
/// of a server (Nova sorts by database columns; these are the columns the
/// response shows as they are stored). `uuid` is the id; Nova's `id` sort key
/// is an internal integer, meaningless across pods, so it is not allowed.
pub const NOVA_SERVER_SORT_FIELDS: &[SortField<'static>] = &[
    sf("created_at", "created"),
    sf("updated_at", "updated"),
    sf("display_name", "name"),
    sf("uuid", "id"),
    sf("key_name", "key_name"),
    sf("user_id", "user_id"),
    sf("project_id", "tenant_id"),
    sf("vm_state", "OS-EXT-STS:vm_state"),
    sf("task_state", "OS-EXT-STS:task_state"),
    sf("power_state", "OS-EXT-STS:power_state"),
    sf("launched_at", "OS-SRV-USG:launched_at"),
    sf("terminated_at", "OS-SRV-USG:terminated_at"),
];

/// The key Nova needs for the server id tie-break.
pub const NOVA_SERVER_ID_KEY: SortField<'static> = sf("uuid", ID_FIELD);

/// Cinder volume sort keys (Cinder maps `name` to `display_name` itself).
/// The model's own column names are sort keys too (`display_name`...).
pub const CINDER_VOLUME_SORT_FIELDS: &[SortField<'static>] = &[
    sf("created_at", "created_at"),
    sf("updated_at", "updated_at"),
    sf("id", "id"),
    sf("name", "name"),
    sf("display_name", "name"),
    sf("display_description", "description"),
    sf("size", "size"),
    sf("status", "status"),
    sf("bootable", "bootable"),
    sf("availability_zone", "availability_zone"),
];

/// Cinder snapshot sort keys.
pub const CINDER_SNAPSHOT_SORT_FIELDS: &[SortField<'static>] = &[
    sf("created_at", "created_at"),
    sf("updated_at", "updated_at"),
    sf("id", "id"),
    sf("name", "name"),
    sf("display_name", "name"),
    sf("display_description", "description"),
    sf("status", "status"),
    sf("volume_id", "volume_id"),
    sf("volume_size", "size"),
];

/// The key Cinder needs for the id tie-break.
pub const CINDER_ID_KEY: SortField<'static> = sf("id", ID_FIELD);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ListError {
    #[error("Invalid sort key '{key}'; allowed sort keys: {allowed}")]
    InvalidSortKey { key: String, allowed: String },
    #[error("Invalid sort direction '{dir}'; expected 'asc' or 'desc'")]
    InvalidSortDir { dir: String },
    #[error("Sort direction size exceeds sort key size")]
    TooManySortDirs,
    #[error(
        "The 'sort_key' and 'sort_dir' parameters are deprecated and cannot be used with the 'sort' parameter."
    )]
    SortWithLegacySort,
}

const DEFAULT_KEY: &str = "created_at";
const DEFAULT_DIR: SortDir = SortDir::Desc;

fn lookup(key: &str, allowed: &[SortField<'_>]) -> Result<SortKey, ListError> {
    let key = key.trim();
    allowed
        .iter()
        .find(|f| f.key == key)
        .map(|f| SortKey {
            key: f.key.to_string(),
            field: f.field.to_string(),
            dir: DEFAULT_DIR,
        })
        .ok_or_else(|| ListError::InvalidSortKey {
            key: key.to_string(),
            allowed: allowed.iter().map(|f| f.key).collect::<Vec<_>>().join(", "),
        })
}

/// The default key (`created_at`), with its field from `allowed` when listed
/// there, else the key itself.
fn default_key(allowed: &[SortField<'_>], dir: SortDir) -> SortKey {
    let field = allowed
        .iter()
        .find(|f| f.key == DEFAULT_KEY)
        .map_or(DEFAULT_KEY, |f| f.field);
    SortKey {
        key: DEFAULT_KEY.to_string(),
        field: field.to_string(),
        dir,
    }
}

/// Appends the id tie-break in the direction of the last key, unless a key
/// already sorts by the id field.
fn with_tie_break(mut keys: Vec<SortKey>, id_key: SortField<'_>) -> Vec<SortKey> {
    if keys.iter().any(|k| k.field == id_key.field) {
        return keys;
    }
    let dir = keys.last().map_or(DEFAULT_DIR, |k| k.dir);
    keys.push(SortKey {
        key: id_key.key.to_string(),
        field: id_key.field.to_string(),
        dir,
    });
    keys
}

/// Nova's `sort_key`/`sort_dir` query parameters (each may repeat).
///
/// Nova's rules: directions pair with keys in order; keys without a direction
/// take the first given direction, or `desc` when none is given; more
/// directions than keys is an error; no keys at all means `created_at` (with
/// the first direction, default `desc`). Keys must be in `allowed`;
/// directions are `asc` or `desc`. `id_key` (for servers
/// [`NOVA_SERVER_ID_KEY`]) is appended as the final tie-break in the
/// direction of the last key.
pub fn parse_nova_sort(
    sort_keys: &[String],
    sort_dirs: &[String],
    allowed: &[SortField<'_>],
    id_key: SortField<'_>,
) -> Result<Vec<SortKey>, ListError> {
    let dirs = sort_dirs
        .iter()
        .map(|d| SortDir::parse(d))
        .collect::<Result<Vec<_>, _>>()?;
    let default_dir = dirs.first().copied().unwrap_or(DEFAULT_DIR);
    let mut keys = if sort_keys.is_empty() {
        vec![default_key(allowed, default_dir)]
    } else {
        sort_keys
            .iter()
            .map(|k| lookup(k, allowed))
            .collect::<Result<Vec<_>, _>>()?
    };
    if dirs.len() > keys.len() {
        return Err(ListError::TooManySortDirs);
    }
    for (i, key) in keys.iter_mut().enumerate() {
        key.dir = dirs.get(i).copied().unwrap_or(default_dir);
    }
    Ok(with_tie_break(keys, id_key))
}

/// Cinder's `sort=key1:asc,key2` parameter or the deprecated
/// `sort_key`/`sort_dir` pair (not both: an error, as in Cinder).
///
/// A key without a direction is `desc`; no key is `created_at`. Keys must be
/// in `allowed`. `id_key` ([`CINDER_ID_KEY`]) is appended as the final
/// tie-break in the direction of the last key.
pub fn parse_cinder_sort(
    sort: Option<&str>,
    sort_key: Option<&str>,
    sort_dir: Option<&str>,
    allowed: &[SortField<'_>],
    id_key: SortField<'_>,
) -> Result<Vec<SortKey>, ListError> {
    let keys = match sort {
        Some(_) if sort_key.is_some() || sort_dir.is_some() => {
            return Err(ListError::SortWithLegacySort)
        }
        Some(sort) => sort
            .trim()
            .split(',')
            .map(|part| {
                let (key, dir) = part.split_once(':').unwrap_or((part, ""));
                let mut key = lookup(key, allowed)?;
                if !dir.trim().is_empty() {
                    key.dir = SortDir::parse(dir)?;
                }
                Ok(key)
            })
            .collect::<Result<Vec<_>, ListError>>()?,
        None => {
            let dir = sort_dir.map(SortDir::parse).transpose()?;
            let mut key = match sort_key {
                Some(k) => lookup(k, allowed)?,
                None => default_key(allowed, DEFAULT_DIR),
            };
            key.dir = dir.unwrap_or(DEFAULT_DIR);
            vec![key]
        }
    };
    Ok(with_tie_break(keys, id_key))
}

/// Rank of a JSON type in the order of mixed types: null, bool, number,
/// string, array, object.
fn type_rank(v: &Value) -> u8 {
    match v {
        Value::Null => 0,
        Value::Bool(_) => 1,
        Value::Number(_) => 2,
        Value::String(_) => 3,
        Value::Array(_) => 4,
        Value::Object(_) => 5,
    }
}

/// Exact comparison of an integer with a finite float.
fn cmp_int_float(i: i128, f: f64) -> Ordering {
    let floor = f.floor();
    // 2^127: beyond every i128 and every JSON integer.
    const LIMIT: f64 = 170_141_183_460_469_231_731_687_303_715_884_105_728.0;
    if floor >= LIMIT {
        return Ordering::Less;
    }
    if floor < -LIMIT {
        return Ordering::Greater;
    }
    // `floor` is integral and in range, so the conversion is exact.
    let fi = floor as i128;
    i.cmp(&fi).then(if f > floor {
        Ordering::Less
    } else {
        Ordering::Equal
    })
}

fn as_int(n: &serde_json::Number) -> Option<i128> {
    n.as_i64()
        .map(i128::from)
        .or_else(|| n.as_u64().map(i128::from))
}

fn cmp_numbers(a: &serde_json::Number, b: &serde_json::Number) -> Ordering {
    match (as_int(a), as_int(b)) {
        (Some(x), Some(y)) => x.cmp(&y),
        (Some(x), None) => cmp_int_float(x, b.as_f64().unwrap_or(0.0)),
        (None, Some(y)) => cmp_int_float(y, a.as_f64().unwrap_or(0.0)).reverse(),
        // JSON floats are finite, so `partial_cmp` is total here (and, unlike
        // `total_cmp`, takes -0.0 = 0.0, as the integer comparison does).
        (None, None) => a
            .as_f64()
            .unwrap_or(0.0)
            .partial_cmp(&b.as_f64().unwrap_or(0.0))
            .unwrap_or(Ordering::Equal),
    }
}

/// Ascending order of two JSON values.
///
/// - `null` (and a missing field, read as `null`) sorts first, as MySQL and
///   SQLite sort NULL first ascending (and last descending). A pod on
///   PostgreSQL, which sorts NULL last ascending, disagrees on nullable keys.
/// - numbers numerically (exactly, integers against floats included);
/// - strings by code point, like a binary collation. ISO 8601 timestamps in
///   one format and zone (Nova's `2024-01-02T03:04:05Z`, Cinder's
///   `2024-01-02T03:04:05.000000`) sort chronologically this way. A pod whose
///   database collation ignores case (MariaDB's default) orders names that
///   differ only in case differently; the merge then keeps each pod's own
///   order, and only a bare-marker page boundary can misplace such items.
/// - `false < true`; arrays element-wise then by length; objects by their
///   entries in key order.
/// - values of different types by a fixed rank: null, bool, number, string,
///   array, object.
pub fn compare_values(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Null, Value::Null) => Ordering::Equal,
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        (Value::Number(x), Value::Number(y)) => cmp_numbers(x, y),
        (Value::String(x), Value::String(y)) => x.cmp(y),
        (Value::Array(x), Value::Array(y)) => {
            for (p, q) in x.iter().zip(y) {
                let o = compare_values(p, q);
                if o != Ordering::Equal {
                    return o;
                }
            }
            x.len().cmp(&y.len())
        }
        (Value::Object(x), Value::Object(y)) => {
            let mut xs: Vec<_> = x.iter().collect();
            let mut ys: Vec<_> = y.iter().collect();
            xs.sort_by(|p, q| p.0.cmp(q.0));
            ys.sort_by(|p, q| p.0.cmp(q.0));
            for ((kx, vx), (ky, vy)) in xs.iter().zip(&ys) {
                let o = kx.cmp(ky).then_with(|| compare_values(vx, vy));
                if o != Ordering::Equal {
                    return o;
                }
            }
            xs.len().cmp(&ys.len())
        }
        _ => type_rank(a).cmp(&type_rank(b)),
    }
}

/// The order of two resources under `keys` (see [`compare_values`] for how
/// values compare). A missing field counts as `null`.
pub fn compare(a: &Value, b: &Value, keys: &[SortKey]) -> Ordering {
    for key in keys {
        let x = a.get(&key.field).unwrap_or(&Value::Null);
        let y = b.get(&key.field).unwrap_or(&Value::Null);
        let o = compare_values(x, y);
        let o = match key.dir {
            SortDir::Asc => o,
            SortDir::Desc => o.reverse(),
        };
        if o != Ordering::Equal {
            return o;
        }
    }
    Ordering::Equal
}

/// Whether `item` sorts strictly after `marker` (the marker resource itself,
/// or any value carrying its sort-key fields).
pub fn after_marker(item: &Value, marker: &Value, keys: &[SortKey]) -> bool {
    compare(item, marker, keys) == Ordering::Greater
}

/// The id of a listed resource, if it has a string one.
pub fn item_id(item: &Value) -> Option<&str> {
    item.get(ID_FIELD).and_then(Value::as_str)
}

/// How many items to ask each pod for in its first request.
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    fn nova(keys: &[&str], dirs: &[&str]) -> Result<Vec<SortKey>, ListError> {
        parse_nova_sort(
            &s(keys),
            &s(dirs),
            NOVA_SERVER_SORT_FIELDS,
            NOVA_SERVER_ID_KEY,
        )
    }

    fn key(key: &str, field: &str, dir: SortDir) -> SortKey {
        SortKey {
            key: key.into(),
            field: field.into(),
            dir,
        }
    }

    use SortDir::{Asc, Desc};

    #[test]
    fn nova_default_is_created_at_desc_then_uuid() {
        assert_eq!(
            nova(&[], &[]).unwrap(),
            vec![key("created_at", "created", Desc), key("uuid", "id", Desc)]
        );
    }

    #[test]
    fn nova_dirs_pair_with_keys_and_default_to_the_first() {
        assert_eq!(
            nova(
                &["display_name", "created_at", "vm_state"],
                &["asc", "desc"]
            )
            .unwrap(),
            vec![
                key("display_name", "name", Asc),
                key("created_at", "created", Desc),
                key("vm_state", "OS-EXT-STS:vm_state", Asc),
                key("uuid", "id", Asc),
            ]
        );
        assert_eq!(
            nova(&["display_name"], &[]).unwrap(),
            vec![key("display_name", "name", Desc), key("uuid", "id", Desc)]
        );
    }

    #[test]
    fn nova_dirs_without_keys_apply_to_created_at() {
        assert_eq!(
            nova(&[], &["asc"]).unwrap(),
            vec![key("created_at", "created", Asc), key("uuid", "id", Asc)]
        );
        assert_eq!(nova(&[], &["asc", "desc"]), Err(ListError::TooManySortDirs));
    }

    #[test]
    fn nova_tie_break_follows_the_last_key_and_is_not_repeated() {
        assert_eq!(
            nova(&["display_name", "created_at"], &["asc", "desc"]).unwrap()[2],
            key("uuid", "id", Desc)
        );
        assert_eq!(
            nova(&["uuid"], &["asc"]).unwrap(),
            vec![key("uuid", "id", Asc)]
        );
    }

    #[test]
    fn nova_rejects_bad_keys_dirs_and_extra_dirs() {
        let err = nova(&["id"], &[]).unwrap_err();
        assert!(matches!(&err, ListError::InvalidSortKey { key, .. } if key == "id"));
        assert!(err.to_string().contains("Invalid sort key 'id'"));
        assert!(err.to_string().contains("display_name"));
        assert_eq!(
            nova(&["display_name"], &["up"]),
            Err(ListError::InvalidSortDir { dir: "up".into() })
        );
        assert!(nova(&["display_name"], &["ASC"]).is_err());
        assert_eq!(
            nova(&["display_name"], &["asc", "desc"]),
            Err(ListError::TooManySortDirs)
        );
    }

    fn cinder(
        sort: Option<&str>,
        k: Option<&str>,
        d: Option<&str>,
    ) -> Result<Vec<SortKey>, ListError> {
        parse_cinder_sort(sort, k, d, CINDER_VOLUME_SORT_FIELDS, CINDER_ID_KEY)
    }

    #[test]
    fn cinder_sort_forms() {
        let id = |d| SortKey::new("id", d);
        assert_eq!(
            cinder(None, None, None).unwrap(),
            vec![SortKey::new("created_at", Desc), id(Desc)]
        );
        assert_eq!(
            cinder(Some("name:asc,size"), None, None).unwrap(),
            vec![
                SortKey::new("name", Asc),
                SortKey::new("size", Desc),
                id(Desc)
            ]
        );
        assert_eq!(
            cinder(Some(" size:asc , status : desc "), None, None).unwrap(),
            vec![
                SortKey::new("size", Asc),
                SortKey::new("status", Desc),
                id(Desc)
            ]
        );
        assert_eq!(
            cinder(None, Some("name"), None).unwrap(),
            vec![SortKey::new("name", Desc), id(Desc)]
        );
        assert_eq!(
            cinder(None, None, Some("asc")).unwrap(),
            vec![SortKey::new("created_at", Asc), id(Asc)]
        );
        assert_eq!(cinder(Some("id:asc"), None, None).unwrap(), vec![id(Asc)]);
    }

    #[test]
    fn cinder_errors() {
        assert_eq!(
            cinder(Some("name"), Some("size"), None),
            Err(ListError::SortWithLegacySort)
        );
        assert_eq!(
            cinder(Some("name"), None, Some("asc")),
            Err(ListError::SortWithLegacySort)
        );
        assert!(matches!(
            cinder(Some("name,,size"), None, None),
            Err(ListError::InvalidSortKey { key, .. }) if key.is_empty()
        ));
        assert!(matches!(
            cinder(Some("bogus:asc"), None, None),
            Err(ListError::InvalidSortKey { key, .. }) if key == "bogus"
        ));
        assert_eq!(
            cinder(Some("name:sideways"), None, None),
            Err(ListError::InvalidSortDir {
                dir: "sideways".into()
            })
        );
        assert!(cinder(None, Some("name"), Some("x")).is_err());
    }

    #[test]
    fn values_compare_by_type_then_value() {
        let ordered = [
            json!(null),
            json!(false),
            json!(true),
            json!(-3),
            json!(-2.5),
            json!(1),
            json!(1.5),
            json!(u64::MAX),
            json!(""),
            json!("2024-01-02T03:04:05Z"),
            json!("2024-01-10T00:00:00Z"),
            json!("B"),
            json!("a"),
            json!([]),
            json!([1]),
            json!([1, 2]),
            json!([2]),
            json!({}),
            json!({"a": 1}),
            json!({"a": 2}),
            json!({"b": 0}),
        ];
        for (i, a) in ordered.iter().enumerate() {
            for (j, b) in ordered.iter().enumerate() {
                assert_eq!(compare_values(a, b), i.cmp(&j), "{a} vs {b}");
            }
        }
        assert_eq!(compare_values(&json!(1), &json!(1.0)), Ordering::Equal);
        assert_eq!(
            compare_values(&json!({"a": 1, "b": 2}), &json!({"b": 2, "a": 1})),
            Ordering::Equal
        );
    }

    #[test]
    fn compare_uses_fields_directions_and_missing_as_null() {
        let keys = vec![
            SortKey::new("name", Asc),
            SortKey::new("created_at", Desc),
            SortKey::new("id", Desc),
        ];
        let a = json!({"id": "a", "name": "x", "created_at": "2024-01-01"});
        let b = json!({"id": "b", "name": "x", "created_at": "2024-01-02"});
        let c = json!({"id": "c", "created_at": "2024-01-03"});
        assert_eq!(compare(&b, &a, &keys), Ordering::Less);
        assert_eq!(compare(&c, &a, &keys), Ordering::Less);
        assert!(after_marker(&a, &b, &keys));
        assert!(!after_marker(&a, &a, &keys));
        assert!(!after_marker(&b, &a, &keys));
        // Descending puts nulls last.
        let desc = vec![SortKey::new("name", Desc), SortKey::new("id", Desc)];
        assert_eq!(compare(&c, &a, &desc), Ordering::Greater);
    }

    #[test]
    fn nova_keys_compare_the_fields_servers_show() {
        let keys = nova(&["display_name", "created_at"], &["asc", "asc"]).unwrap();
        let a = json!({"id": "1", "name": "web", "created": "2024-01-02T00:00:00Z"});
        let b = json!({"id": "2", "name": "web", "created": "2024-01-01T00:00:00Z"});
        let c = json!({"id": "0", "name": "db", "created": "2024-01-03T00:00:00Z"});
        let mut servers = [a, b, c];
        servers.sort_by(|x, y| compare(x, y, &keys));
        assert_eq!(
            servers.iter().filter_map(item_id).collect::<Vec<_>>(),
            ["0", "2", "1"]
        );
    }

    #[test]
    fn batch_sizes() {
        assert_eq!(batch_size(None, 3), MAX_BATCH);
        assert_eq!(batch_size(Some(0), 3), 0);
        assert_eq!(batch_size(Some(5), 3), 5);
        assert_eq!(batch_size(Some(20), 0), 20);
        assert_eq!(batch_size(Some(1000), 2), 1000);
        assert_eq!(batch_size(Some(1000), 10), 200);
        assert_eq!(batch_size(Some(1000), 100), MIN_BATCH);
        assert_eq!(batch_size(Some(5000), 1), MAX_BATCH);
    }

    #[test]
    fn merge_stops_at_limit_and_handles_empty_lists() {
        let keys = vec![SortKey::new("id", Asc)];
        let l = |ids: &[&str]| ids.iter().map(|i| json!({"id": i})).collect::<Vec<_>>();
        let merged = merge(
            vec![l(&["a", "d"]), vec![], l(&["b", "c", "e"])],
            &keys,
            Some(4),
        );
        let ids: Vec<_> = merged.iter().filter_map(item_id).collect();
        assert_eq!(ids, ["a", "b", "c", "d"]);
        assert!(merge(vec![], &keys, None).is_empty());
        assert!(merge(vec![l(&["a"])], &keys, Some(0)).is_empty());
        assert_eq!(
            merge_order(&[&l(&["b"]), &l(&["a", "c"])], &keys, None),
            vec![(1, 0), (0, 0), (1, 1)]
        );
    }

    fn arb_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            (-5i64..5).prop_map(|n| json!(n)),
            (-5.0f64..5.0).prop_map(|f| json!((f * 2.0).round() / 2.0)),
            any::<u64>().prop_map(|n| json!(n)),
            "[a-c]{0,2}".prop_map(Value::String),
        ];
        leaf.prop_recursive(2, 8, 3, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
                prop::collection::btree_map("[ab]", inner, 0..3)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    fn arb_keys() -> impl Strategy<Value = Vec<SortKey>> {
        prop::collection::vec(
            (prop_oneof![Just("x"), Just("y"), Just("id")], any::<bool>()),
            0..3,
        )
        .prop_map(|ks| {
            ks.into_iter()
                .map(|(k, asc)| SortKey::new(k, if asc { Asc } else { Desc }))
                .collect()
        })
    }

    fn arb_item() -> impl Strategy<Value = Value> {
        (arb_value(), arb_value(), prop::option::of("[a-z]{1,2}")).prop_map(|(x, y, id)| {
            let mut m = serde_json::Map::new();
            m.insert("x".into(), x);
            m.insert("y".into(), y);
            if let Some(id) = id {
                m.insert("id".into(), Value::String(id));
            }
            Value::Object(m)
        })
    }

    proptest! {
        #[test]
        fn compare_values_is_a_total_order(a in arb_value(), b in arb_value(), c in arb_value()) {
            prop_assert_eq!(compare_values(&a, &b), compare_values(&b, &a).reverse());
            prop_assert_eq!(compare_values(&a, &a), Ordering::Equal);
            if compare_values(&a, &b) != Ordering::Greater && compare_values(&b, &c) != Ordering::Greater {
                prop_assert_ne!(compare_values(&a, &c), Ordering::Greater);
            }
            if compare_values(&a, &b) == Ordering::Equal {
                prop_assert_eq!(compare_values(&a, &c), compare_values(&b, &c));
            }
        }

        #[test]
        fn compare_is_a_total_order(
            keys in arb_keys(),
            a in arb_item(), b in arb_item(), c in arb_item(),
        ) {
            prop_assert_eq!(compare(&a, &b, &keys), compare(&b, &a, &keys).reverse());
            if compare(&a, &b, &keys) != Ordering::Greater && compare(&b, &c, &keys) != Ordering::Greater {
                prop_assert_ne!(compare(&a, &c, &keys), Ordering::Greater);
            }
            if compare(&a, &b, &keys) == Ordering::Less && compare(&b, &c, &keys) == Ordering::Less {
                prop_assert_eq!(compare(&a, &c, &keys), Ordering::Less);
            }
        }

        #[test]
        fn merge_equals_sorting_the_concatenation(
            keys in arb_keys(),
            lists in prop::collection::vec(prop::collection::vec((arb_value(), arb_value()), 0..12), 0..6),
            limit in prop::option::of(0usize..40),
        ) {
            // Unique ids and the id tie-break make the order unique.
            let mut keys = keys;
            keys.retain(|k| k.field != "id");
            keys.push(SortKey::new("id", Asc));
            let mut n = 0;
            let per_pod: Vec<Vec<Value>> = lists
                .into_iter()
                .map(|l| {
                    let mut items: Vec<Value> = l
                        .into_iter()
                        .map(|(x, y)| {
                            n += 1;
                            json!({"id": format!("{n:04}"), "x": x, "y": y})
                        })
                        .collect();
                    items.sort_by(|a, b| compare(a, b, &keys));
                    items
                })
                .collect();
            let mut all: Vec<Value> = per_pod.iter().flatten().cloned().collect();
            all.sort_by(|a, b| compare(a, b, &keys));
            all.truncate(limit.unwrap_or(usize::MAX));
            prop_assert_eq!(merge(per_pod, &keys, limit), all);
        }
    }
}
