use super::*;
use proptest::prelude::*;
use serde_json::{json, Value};
use std::cmp::Ordering;

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

fn cinder(sort: Option<&str>, k: Option<&str>, d: Option<&str>) -> Result<Vec<SortKey>, ListError> {
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
