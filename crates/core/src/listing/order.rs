//! The total order on listed resources: JSON values by type then value,
//! resources by their sort-key fields.

use std::cmp::Ordering;

use serde_json::Value;

use super::sort_keys::{SortDir, SortKey};
use super::ID_FIELD;

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
