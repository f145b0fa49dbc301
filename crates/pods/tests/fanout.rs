//! The cross-pod lister against in-memory pods that page honestly (sorted,
//! `limit`, `marker`; an unknown marker is an error, as in Nova).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use proptest::prelude::*;
use serde_json::{json, Value};
use tricircle_core::listing::{
    compare, item_id, parse_cinder_sort, SortKey, CINDER_ID_KEY, CINDER_VOLUME_SORT_FIELDS,
    MAX_BATCH,
};
use tricircle_pods::fanout::{
    list_across, ListOutcome, ListRequest, MarkerPosition, PageQuery, PodFailure,
};

#[derive(Default, Clone)]
struct FakePod {
    items: Vec<Value>,
    delay: Duration,
    broken: bool,
    ignores_marker: bool,
}

struct Cloud {
    keys: Vec<SortKey>,
    pods: Mutex<HashMap<String, FakePod>>,
    log: Mutex<Vec<(String, PageQuery)>>,
}

impl Cloud {
    fn new(keys: &[SortKey], pods: Vec<(String, FakePod)>) -> Cloud {
        let pods = pods
            .into_iter()
            .map(|(name, mut pod)| {
                pod.items.sort_by(|a, b| compare(a, b, keys));
                (name, pod)
            })
            .collect();
        Cloud {
            keys: keys.to_vec(),
            pods: Mutex::new(pods),
            log: Mutex::new(Vec::new()),
        }
    }

    fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.pods.lock().unwrap().keys().cloned().collect();
        names.sort();
        names
    }

    /// Everything, sorted.
    fn all(&self) -> Vec<Value> {
        let mut all: Vec<Value> = self
            .pods
            .lock()
            .unwrap()
            .values()
            .filter(|p| !p.broken)
            .flat_map(|p| p.items.clone())
            .collect();
        all.sort_by(|a, b| compare(a, b, &self.keys));
        all
    }

    fn owner(&self, id: &str) -> Option<String> {
        self.pods
            .lock()
            .unwrap()
            .iter()
            .find(|(_, p)| p.items.iter().any(|i| item_id(i) == Some(id)))
            .map(|(name, _)| name.clone())
    }

    fn remove(&self, id: &str) {
        for pod in self.pods.lock().unwrap().values_mut() {
            pod.items.retain(|i| item_id(i) != Some(id));
        }
    }

    fn take_log(&self) -> Vec<(String, PageQuery)> {
        std::mem::take(&mut *self.log.lock().unwrap())
    }

    fn requests_to(log: &[(String, PageQuery)], pod: &str) -> Vec<PageQuery> {
        log.iter()
            .filter(|(p, _)| p == pod)
            .map(|(_, q)| q.clone())
            .collect()
    }

    async fn page(&self, pod: String, q: PageQuery) -> Result<Vec<Value>, String> {
        self.log.lock().unwrap().push((pod.clone(), q.clone()));
        let (delay, result) = {
            let pods = self.pods.lock().unwrap();
            let p = pods.get(&pod).ok_or("no such pod")?;
            let start = match &q.marker {
                None => Ok(0),
                Some(_) if p.ignores_marker => Ok(0),
                Some(m) => p
                    .items
                    .iter()
                    .position(|i| item_id(i) == Some(m.as_str()))
                    .map(|pos| pos + 1)
                    .ok_or_else(|| format!("marker {m} not found")),
            };
            let result = if p.broken {
                Err("pod is broken".to_string())
            } else {
                start.map(|s| p.items.iter().skip(s).take(q.limit).cloned().collect())
            };
            (p.delay, result)
        };
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        result
    }

    async fn list(&self, req: &ListRequest) -> Result<ListOutcome<String>, String> {
        list_across(&self.names(), |p, q| self.page(p, q), req)
            .await
            .map_err(|e| e.to_string())
    }
}

fn sort(s: &str) -> Vec<SortKey> {
    parse_cinder_sort(
        Some(s),
        None,
        None,
        CINDER_VOLUME_SORT_FIELDS,
        CINDER_ID_KEY,
    )
    .unwrap()
}

fn request(keys: &[SortKey], limit: Option<usize>, marker: Option<MarkerPosition>) -> ListRequest {
    ListRequest {
        sort: keys.to_vec(),
        limit,
        marker,
        per_pod_deadline: Duration::from_secs(10),
        strict: true,
    }
}

fn ids(items: &[Value]) -> Vec<&str> {
    items.iter().filter_map(item_id).collect()
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Paging {
    /// Follow our own next links: marker, its pod and the per-pod hints.
    Hints,
    /// A bare marker id whose pod the caller found (routing table).
    BareWithOwner,
    /// A bare marker id, pod unknown.
    BareNoOwner,
}

/// Pages through the whole list; returns the pages.
async fn page_through(cloud: &Cloud, limit: usize, paging: Paging) -> Vec<Vec<Value>> {
    let mut pages = Vec::new();
    let mut marker = None;
    for _ in 0..10_000 {
        let out = cloud
            .list(&request(&cloud.keys, Some(limit), marker.clone()))
            .await
            .unwrap();
        assert!(out.failed.is_empty());
        assert!(out.items.len() <= limit);
        let more = out.more;
        if more {
            assert_eq!(out.items.len(), limit, "more is only set on a full page");
            let last = out.items.last().unwrap().clone();
            let id = item_id(&last).unwrap().to_string();
            marker = Some(MarkerPosition {
                pod: match paging {
                    Paging::BareNoOwner => None,
                    _ => cloud.owner(&id),
                },
                per_pod_markers: match paging {
                    Paging::Hints => out.next_hints.clone(),
                    _ => HashMap::new(),
                },
                id,
                values: last,
            });
        }
        pages.push(out.items);
        if !more {
            return pages;
        }
    }
    panic!("paging did not end");
}

fn layout() -> impl Strategy<Value = Vec<Vec<(u16, u8, Option<u8>)>>> {
    // Per pod: (id prefix, created day, name); days and names repeat a lot.
    prop::collection::vec(
        prop::collection::vec((any::<u16>(), 0u8..5, prop::option::of(0u8..4)), 0..40),
        0..6,
    )
}

fn build(layout: Vec<Vec<(u16, u8, Option<u8>)>>, keys: &[SortKey]) -> Cloud {
    let pods = layout
        .into_iter()
        .enumerate()
        .map(|(p, items)| {
            let items = items
                .into_iter()
                .enumerate()
                .map(|(n, (prefix, day, name))| {
                    json!({
                        // The random prefix interleaves ids across pods; the
                        // suffix keeps them unique.
                        "id": format!("{prefix:04x}-{p}-{n:02}"),
                        "created_at": format!("2024-01-0{}T00:00:00.000000", day + 1),
                        "name": name.map(|n| ["alpha", "beta", "gamma", "delta"][n as usize]),
                    })
                })
                .collect();
            (
                format!("pod{p}"),
                FakePod {
                    items,
                    ..FakePod::default()
                },
            )
        })
        .collect();
    Cloud::new(keys, pods)
}

fn sort_spec() -> impl Strategy<Value = String> {
    prop::collection::vec(
        (
            prop_oneof![Just("created_at"), Just("name"), Just("id")],
            prop_oneof![Just(""), Just(":asc"), Just(":desc")],
        ),
        1..3,
    )
    .prop_map(|ks| {
        ks.into_iter()
            .map(|(k, d)| format!("{k}{d}"))
            .collect::<Vec<_>>()
            .join(",")
    })
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn pages_concatenate_to_the_sorted_list(
        layout in layout(),
        spec in sort_spec(),
        limit in 1usize..12,
    ) {
        let keys = sort(&spec);
        let cloud = build(layout, &keys);
        let expected = cloud.all();
        runtime().block_on(async {
            for paging in [Paging::Hints, Paging::BareWithOwner, Paging::BareNoOwner] {
                cloud.take_log();
                let pages = page_through(&cloud, limit, paging).await;
                let got: Vec<Value> = pages.concat();
                prop_assert_eq!(ids(&got), ids(&expected), "{:?}", paging);
                prop_assert!(pages.len() <= expected.len() / limit + 2);
                let log = cloud.take_log();
                prop_assert!(log.iter().all(|(_, q)| (1..=MAX_BATCH).contains(&q.limit)));
                if paging == Paging::Hints {
                    // Following hints, each pod is asked once per page, for
                    // at most `limit` items.
                    for pod in cloud.names() {
                        let asked = Cloud::requests_to(&log, &pod);
                        prop_assert!(asked.len() <= pages.len(), "{} asked {:?}", pod, asked);
                        prop_assert!(asked.iter().all(|q| q.limit <= limit));
                    }
                }
            }
            // No limit: everything at once.
            let out = cloud.list(&request(&keys, None, None)).await.unwrap();
            prop_assert_eq!(ids(&out.items), ids(&expected));
            prop_assert!(!out.more);
            Ok(())
        })?;
    }
}

fn numbered(pod: usize, n: usize) -> Vec<Value> {
    // Interleaved across pods: item i of pod p is created at minute 3i+p.
    (0..n)
        .map(|i| {
            let minute = 3 * i + pod;
            json!({
                "id": format!("p{pod}-{i:05}"),
                "created_at": format!("2024-01-01T{:02}:{:02}:00.000000", minute / 60, minute % 60),
            })
        })
        .collect()
}

fn three_big_pods() -> Cloud {
    let keys = sort("created_at:asc");
    Cloud::new(
        &keys,
        (0..3)
            .map(|p| {
                (
                    format!("pod{p}"),
                    FakePod {
                        items: numbered(p, 1000),
                        ..FakePod::default()
                    },
                )
            })
            .collect(),
    )
}

#[tokio::test]
async fn small_limit_asks_each_pod_once_for_that_many() {
    let cloud = three_big_pods();
    let out = cloud
        .list(&request(&cloud.keys, Some(5), None))
        .await
        .unwrap();
    assert_eq!(
        ids(&out.items),
        ["p0-00000", "p1-00000", "p2-00000", "p0-00001", "p1-00001"]
    );
    assert!(out.more);
    let log = cloud.take_log();
    for pod in ["pod0", "pod1", "pod2"] {
        assert_eq!(
            Cloud::requests_to(&log, pod),
            [PageQuery {
                marker: None,
                limit: 5
            }]
        );
    }
    assert_eq!(
        out.next_hints.get("pod0").map(String::as_str),
        Some("p0-00001")
    );
    assert_eq!(
        out.next_hints.get("pod1").map(String::as_str),
        Some("p1-00001")
    );
    assert_eq!(
        out.next_hints.get("pod2").map(String::as_str),
        Some("p2-00000")
    );

    // The next page from the hints: one request per pod, from its hint.
    let last = out.items.last().unwrap().clone();
    let marker = MarkerPosition {
        id: "p1-00001".into(),
        values: last,
        pod: Some("pod1".into()),
        per_pod_markers: out.next_hints,
    };
    let out = cloud
        .list(&request(&cloud.keys, Some(5), Some(marker.clone())))
        .await
        .unwrap();
    assert_eq!(
        ids(&out.items),
        ["p2-00001", "p0-00002", "p1-00002", "p2-00002", "p0-00003"]
    );
    let log = cloud.take_log();
    assert_eq!(log.len(), 3);
    assert_eq!(
        Cloud::requests_to(&log, "pod2"),
        [PageQuery {
            marker: Some("p2-00000".into()),
            limit: 5
        }]
    );

    // The same page from the bare marker: still at most two requests each.
    let bare = MarkerPosition {
        per_pod_markers: HashMap::new(),
        ..marker
    };
    let again = cloud
        .list(&request(&cloud.keys, Some(5), Some(bare)))
        .await
        .unwrap();
    assert_eq!(ids(&again.items), ids(&out.items));
    let log = cloud.take_log();
    for pod in ["pod0", "pod1", "pod2"] {
        let asked = Cloud::requests_to(&log, pod);
        assert!(
            (1..=2).contains(&asked.len()) && asked.iter().all(|q| q.limit <= 10),
            "{pod}: {asked:?}"
        );
    }
}

#[tokio::test]
async fn deep_bare_marker_doubles_pages_and_hands_out_hints() {
    let cloud = three_big_pods();
    // A fourth pod whose items all sort before the marker.
    cloud.pods.lock().unwrap().insert(
        "pod3".into(),
        FakePod {
            items: (0..5)
                .map(|i| json!({"id": format!("p3-{i}"), "created_at": format!("2023-01-01T00:00:0{i}")}))
                .collect(),
            ..FakePod::default()
        },
    );
    let all = cloud.all();
    let marker_item = all[2000].clone();
    let marker = MarkerPosition {
        id: item_id(&marker_item).unwrap().to_string(),
        values: marker_item,
        pod: None,
        per_pod_markers: HashMap::new(),
    };
    let out = cloud
        .list(&request(&cloud.keys, Some(10), Some(marker)))
        .await
        .unwrap();
    assert_eq!(ids(&out.items), ids(&all[2001..2011]));
    let log = cloud.take_log();
    for pod in ["pod0", "pod1", "pod2"] {
        let asked = Cloud::requests_to(&log, pod);
        // 10, 20, 40, …, 640, 1000 covers the ~667 items before the marker.
        assert!(asked.len() <= 8, "{pod}: {} requests", asked.len());
        assert!(asked.windows(2).all(|w| w[1].limit >= w[0].limit));
    }
    // Every pod now has a hint, so the next page is cheap; pod3's is its
    // last item, passed over.
    assert_eq!(out.next_hints.len(), 4);
    assert_eq!(out.next_hints["pod3"], "p3-4");
    let last = out.items.last().unwrap().clone();
    let next = MarkerPosition {
        id: item_id(&last).unwrap().to_string(),
        values: last,
        pod: None,
        per_pod_markers: out.next_hints,
    };
    let out = cloud
        .list(&request(&cloud.keys, Some(10), Some(next)))
        .await
        .unwrap();
    assert_eq!(ids(&out.items), ids(&all[2011..2021]));
    let log = cloud.take_log();
    assert_eq!(log.len(), 4);
    assert_eq!(
        Cloud::requests_to(&log, "pod3"),
        [PageQuery {
            marker: Some("p3-4".into()),
            limit: 10
        }]
    );
}

#[tokio::test]
async fn more_pages_are_fetched_only_from_the_pod_that_holds_the_page() {
    // pod0 holds the 30 oldest items; pod1 and pod2 are newer.
    let keys = sort("created_at:asc");
    let old: Vec<Value> = (0..30)
        .map(|i| json!({"id": format!("old-{i:02}"), "created_at": format!("2023-01-01T00:00:{i:02}")}))
        .collect();
    let cloud = Cloud::new(
        &keys,
        vec![
            (
                "pod0".into(),
                FakePod {
                    items: old,
                    ..FakePod::default()
                },
            ),
            (
                "pod1".into(),
                FakePod {
                    items: numbered(1, 100),
                    ..FakePod::default()
                },
            ),
            (
                "pod2".into(),
                FakePod {
                    items: numbered(2, 100),
                    ..FakePod::default()
                },
            ),
        ],
    );
    // 100 over 3 pods: 67 per pod first; pod0 ends, the others are not asked again.
    let out = cloud.list(&request(&keys, Some(100), None)).await.unwrap();
    assert_eq!(ids(&out.items), ids(&cloud.all()[..100]));
    let log = cloud.take_log();
    assert_eq!(log.len(), 3, "{log:?}");
    assert!(log.iter().all(|(_, q)| q.limit == 67));

    // Limit 20 (each pod asked for 20): pod0 alone fills the page, one round.
    let out = cloud.list(&request(&keys, Some(20), None)).await.unwrap();
    assert_eq!(ids(&out.items), ids(&cloud.all()[..20]));
    assert_eq!(cloud.take_log().len(), 3);
}

#[tokio::test]
async fn a_pod_is_asked_again_while_its_items_may_belong_to_the_page() {
    // pod0 holds all 200 oldest items, pod1 one newer item.
    let keys = sort("created_at:asc");
    let cloud = Cloud::new(
        &keys,
        vec![
            (
                "pod0".into(),
                FakePod {
                    items: (0..200)
                        .map(|i| json!({"id": format!("a{i:03}"), "created_at": format!("2023-01-01T00:{:02}:{:02}", i / 60, i % 60)}))
                        .collect(),
                    ..FakePod::default()
                },
            ),
            (
                "pod1".into(),
                FakePod {
                    items: vec![json!({"id": "b", "created_at": "2024-01-01T00:00:00"})],
                    ..FakePod::default()
                },
            ),
        ],
    );
    let out = cloud.list(&request(&keys, Some(150), None)).await.unwrap();
    assert_eq!(ids(&out.items), ids(&cloud.all()[..150]));
    assert!(out.more);
    let log = cloud.take_log();
    let pod0 = Cloud::requests_to(&log, "pod0");
    // Asked for the whole limit at once: pod0's last item is the 150th, done.
    assert_eq!(pod0.len(), 1, "{pod0:?}");
    assert_eq!(Cloud::requests_to(&log, "pod1").len(), 1);

    // With 4 pods the first pages are smaller (2·150/4 = 75), so pod0 is
    // asked again, for no more than the 75 still missing.
    let mut pods: Vec<(String, FakePod)> = vec![];
    {
        let all = cloud.pods.lock().unwrap();
        pods.push(("pod0".into(), all["pod0"].clone()));
        for p in 1..4 {
            pods.push((format!("pod{p}"), all["pod1"].clone()));
            pods.last_mut().unwrap().1.items[0]["id"] = json!(format!("b{p}"));
        }
    }
    let cloud = Cloud::new(&keys, pods);
    let out = cloud.list(&request(&keys, Some(150), None)).await.unwrap();
    assert_eq!(ids(&out.items), ids(&cloud.all()[..150]));
    let log = cloud.take_log();
    assert_eq!(
        Cloud::requests_to(&log, "pod0"),
        [
            PageQuery {
                marker: None,
                limit: 75
            },
            PageQuery {
                marker: Some("a074".into()),
                limit: 75
            }
        ]
    );
    for p in 1..4 {
        assert_eq!(Cloud::requests_to(&log, &format!("pod{p}")).len(), 1);
    }
}

fn with(cloud_pods: Vec<(&str, FakePod)>) -> Cloud {
    Cloud::new(
        &sort("created_at:asc"),
        cloud_pods
            .into_iter()
            .map(|(n, p)| (n.to_string(), p))
            .collect(),
    )
}

fn healthy(pod: usize) -> FakePod {
    FakePod {
        items: numbered(pod, 4),
        ..FakePod::default()
    }
}

#[tokio::test]
async fn a_slow_pod_is_reported_and_the_rest_is_listed() {
    let cloud = with(vec![
        ("pod0", healthy(0)),
        (
            "pod1",
            FakePod {
                delay: Duration::from_secs(30),
                ..healthy(1)
            },
        ),
        ("pod2", healthy(2)),
    ]);
    let mut req = request(&cloud.keys, Some(6), None);
    req.per_pod_deadline = Duration::from_millis(100);
    req.strict = false;
    let started = std::time::Instant::now();
    let out = list_across(&cloud.names(), |p, q| cloud.page(p, q), &req)
        .await
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(
        ids(&out.items),
        ["p0-00000", "p2-00000", "p0-00001", "p2-00001", "p0-00002", "p2-00002"]
    );
    assert_eq!(out.failed.len(), 1);
    assert_eq!(out.failed[0].0, "pod1");
    assert!(matches!(out.failed[0].1, PodFailure::Timeout));
    assert!(out.more);
    assert!(!out.next_hints.contains_key("pod1"));

    // Strict: the list fails.
    req.strict = true;
    let err = list_across(&cloud.names(), |p, q| cloud.page(p, q), &req)
        .await
        .unwrap_err();
    assert_eq!(err.pod, "pod1");
    assert!(matches!(err.failure, PodFailure::Timeout));
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn a_failing_pod_is_reported_or_fails_a_strict_list() {
    let cloud = with(vec![
        ("pod0", healthy(0)),
        (
            "pod1",
            FakePod {
                broken: true,
                ..healthy(1)
            },
        ),
    ]);
    let mut req = request(&cloud.keys, None, None);
    req.strict = false;
    let out = cloud.list(&req).await.unwrap();
    assert_eq!(ids(&out.items), ids(&numbered(0, 4)));
    assert!(!out.more);
    assert!(
        matches!(&out.failed[..], [(pod, PodFailure::Error(e))] if pod == "pod1" && e == "pod is broken")
    );

    req.strict = true;
    assert_eq!(
        cloud.list(&req).await.unwrap_err(),
        "pod pod1 pod is broken"
    );
}

#[tokio::test]
async fn an_item_without_id_makes_the_pod_fail() {
    let cloud = with(vec![
        ("pod0", healthy(0)),
        (
            "pod1",
            FakePod {
                items: vec![json!({"created_at": "2024"})],
                ..FakePod::default()
            },
        ),
    ]);
    let mut req = request(&cloud.keys, Some(10), None);
    req.strict = false;
    let out = cloud.list(&req).await.unwrap();
    assert_eq!(out.items.len(), 4);
    assert!(matches!(&out.failed[..], [(pod, PodFailure::Malformed(_))] if pod == "pod1"));
}

#[tokio::test]
async fn stale_hints_and_a_deleted_marker_fall_back_to_values() {
    let cloud = three_big_pods();
    let first = cloud
        .list(&request(&cloud.keys, Some(7), None))
        .await
        .unwrap();
    let expected: Vec<Value> = cloud.all()[7..14].to_vec();
    let last = first.items.last().unwrap().clone();
    let marker = MarkerPosition {
        id: item_id(&last).unwrap().to_string(),
        values: last,
        pod: Some("pod0".into()),
        per_pod_markers: first.next_hints.clone(),
    };
    // The marker item and another pod's hinted item are deleted meanwhile.
    assert_eq!(marker.id, "p0-00002");
    cloud.remove("p0-00002");
    cloud.remove(&first.next_hints["pod1"]);
    cloud.take_log();
    let out = cloud
        .list(&request(&cloud.keys, Some(7), Some(marker)))
        .await
        .unwrap();
    assert_eq!(ids(&out.items), ids(&expected));
    let log = cloud.take_log();
    assert_eq!(Cloud::requests_to(&log, "pod0").len(), 2);
    assert_eq!(Cloud::requests_to(&log, "pod1").len(), 2);
    assert_eq!(Cloud::requests_to(&log, "pod2").len(), 1);
}

#[tokio::test]
async fn limit_zero_asks_nobody_and_duplicate_pods_are_asked_once() {
    let cloud = with(vec![("pod0", healthy(0))]);
    let out = cloud
        .list(&request(&cloud.keys, Some(0), None))
        .await
        .unwrap();
    assert!(out.items.is_empty() && !out.more && out.failed.is_empty());
    assert!(cloud.take_log().is_empty());

    let pods = vec!["pod0".to_string(), "pod0".to_string()];
    let out = list_across(
        &pods,
        |p, q| cloud.page(p, q),
        &request(&cloud.keys, None, None),
    )
    .await
    .unwrap();
    assert_eq!(ids(&out.items), ids(&numbered(0, 4)));
    assert_eq!(cloud.take_log().len(), 1);
}

#[tokio::test]
async fn no_pods_is_an_empty_list() {
    let cloud = with(vec![]);
    let out = cloud
        .list(&request(&cloud.keys, Some(3), None))
        .await
        .unwrap();
    assert!(out.items.is_empty() && !out.more && out.next_hints.is_empty());
}

#[tokio::test]
async fn more_is_false_when_the_last_page_ends_the_list() {
    let cloud = with(vec![("pod0", healthy(0)), ("pod1", healthy(1))]);
    let out = cloud
        .list(&request(&cloud.keys, Some(8), None))
        .await
        .unwrap();
    assert_eq!(out.items.len(), 8);
    assert!(!out.more);
    let out = cloud
        .list(&request(&cloud.keys, Some(7), None))
        .await
        .unwrap();
    assert!(out.more);
}

#[tokio::test]
async fn a_pod_that_ignores_the_marker_fails_instead_of_looping() {
    let cloud = with(vec![
        ("pod0", healthy(0)),
        (
            "pod1",
            FakePod {
                items: numbered(1, 1500),
                ignores_marker: true,
                ..FakePod::default()
            },
        ),
    ]);
    let mut req = request(&cloud.keys, None, None);
    req.strict = false;
    let out = cloud.list(&req).await.unwrap();
    assert_eq!(ids(&out.items), ids(&numbered(0, 4)));
    assert!(
        matches!(&out.failed[..], [(pod, PodFailure::Malformed(why))] if pod == "pod1" && why.contains("marker"))
    );
    assert_eq!(cloud.take_log().len(), 3);
}
