//! Lists as Neutron answers them: filters on any attribute (a repeated
//! key is an OR), `fields`, `sort_key`/`sort_dir`, and
//! `limit`/`marker`/`page_reverse` with `<collection>_links`.
//!
//! The store narrows rows in SQL (visibility, indexed columns); this
//! module applies the rest to what one caller may see.

use std::cmp::Ordering;

use serde_json::{Map, Value};
use tricircle_core::listing::compare_values;

use crate::attrs::parse_bool;
use crate::NeutronError;

/// A parsed list query.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ListQuery {
    /// `(attribute, values)`, values ORed; keys in first-seen order.
    pub filters: Vec<(String, Vec<String>)>,
    pub fields: Vec<String>,
    /// `(attribute, ascending)`.
    pub sorts: Vec<(String, bool)>,
    pub limit: Option<usize>,
    pub marker: Option<String>,
    pub page_reverse: bool,
}

/// A link of a paged list: `next` (no `page_reverse`) or `previous`
/// (`page_reverse=True`), with the marker to use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageLink {
    pub rel: &'static str,
    pub marker: Option<String>,
}

/// One page of a list, already trimmed to the requested fields.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Page {
    pub items: Vec<Value>,
    /// Empty unless the query had a limit.
    pub links: Vec<PageLink>,
}

const RESERVED: &[&str] = &[
    "fields",
    "sort_key",
    "sort_dir",
    "limit",
    "marker",
    "page_reverse",
];

impl ListQuery {
    /// From the query string's `(key, value)` pairs, in order. Empty
    /// values are ignored, as Neutron does.
    pub fn from_pairs(pairs: &[(String, String)]) -> Result<ListQuery, NeutronError> {
        let mut q = ListQuery::default();
        let mut keys = Vec::new();
        let mut dirs = Vec::new();
        for (k, v) in pairs {
            if v.is_empty() {
                continue;
            }
            match k.as_str() {
                "fields" => q.fields.push(v.clone()),
                "sort_key" => keys.push(v.clone()),
                "sort_dir" => dirs.push(v.clone()),
                "limit" => {
                    let n = v.trim().parse::<usize>().map_err(|_| {
                        NeutronError::bad_request(format!(
                            "Limit must be an integer 0 or greater and not '{v}'"
                        ))
                    })?;
                    q.limit = (n > 0).then_some(n);
                }
                "marker" => q.marker = Some(v.clone()),
                "page_reverse" => q.page_reverse = parse_bool(v).unwrap_or(false),
                _ => match q.filters.iter_mut().find(|(fk, _)| fk == k) {
                    Some((_, vals)) => vals.push(v.clone()),
                    None => q.filters.push((k.clone(), vec![v.clone()])),
                },
            }
        }
        if keys.len() != dirs.len() {
            return Err(NeutronError::bad_request(
                "The number of sort_keys and sort_dirs must be same",
            ));
        }
        let bad: Vec<&String> = dirs
            .iter()
            .filter(|d| *d != "asc" && *d != "desc")
            .collect();
        if !bad.is_empty() {
            return Err(NeutronError::bad_request(format!(
                "{bad:?} is invalid value for sort_dirs, valid value is 'asc' and 'desc'"
            )));
        }
        q.sorts = keys
            .into_iter()
            .zip(dirs.iter().map(|d| d == "asc"))
            .collect();
        Ok(q)
    }

    /// The values of a filter, if the query has it.
    pub fn filter(&self, key: &str) -> Option<&[String]> {
        self.filters
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_slice())
    }

    /// Whether a key is one of the list controls rather than a filter.
    pub fn is_control(key: &str) -> bool {
        RESERVED.contains(&key)
    }
}

/// What a resource allows in lists.
pub(crate) struct Listing<'a> {
    /// Attributes a filter may name.
    pub filterable: &'a [&'a str],
    /// Attributes a sort may name (scalars).
    pub sortable: &'a [&'a str],
    /// The 404 for a marker that is not in the list.
    pub not_found: fn(&str) -> NeutronError,
}

/// Filter keys that are accepted and ignored (tags: we keep none).
const IGNORED_FILTERS: &[&str] = &["not-tags", "not-tags-any"];

impl Listing<'_> {
    /// Checks the query's filter and sort keys against the resource.
    pub fn check(&self, q: &ListQuery) -> Result<(), NeutronError> {
        for (k, _) in &q.filters {
            if !self.filterable.contains(&k.as_str())
                && !IGNORED_FILTERS.contains(&k.as_str())
                && k != "tags-any"
            {
                return Err(NeutronError::bad_request(format!(
                    "['{k}'] is invalid attribute for filtering"
                )));
            }
        }
        let bad: Vec<String> = q
            .sorts
            .iter()
            .filter(|(k, _)| !self.sortable.contains(&k.as_str()))
            .map(|(k, _)| format!("'{k}'"))
            .collect();
        if !bad.is_empty() {
            return Err(NeutronError::bad_request(format!(
                "[{}] is invalid attribute for sort_keys",
                bad.join(", ")
            )));
        }
        Ok(())
    }

    /// Filters, sorts, pages and trims views (each with an `id`).
    pub fn apply(&self, items: Vec<Value>, q: &ListQuery) -> Result<Page, NeutronError> {
        self.check(q)?;
        let mut items: Vec<Value> = items
            .into_iter()
            .filter(|item| matches_all(item, &q.filters))
            .collect();
        let mut sorts = q.sorts.clone();
        if !sorts.iter().any(|(k, _)| k == "id") {
            sorts.push(("id".into(), true));
        }
        items.sort_by(|a, b| compare(a, b, &sorts));
        // An unknown marker is the resource's 404, as Neutron answers it
        // when paging; also without a limit, where Neutron ignores the
        // marker (and we do too, once it is known) instead of quietly
        // answering the whole list for a marker that names nothing.
        let pos = match &q.marker {
            None => None,
            Some(m) => Some(
                items
                    .iter()
                    .position(|i| i.get("id").and_then(Value::as_str) == Some(m))
                    .ok_or_else(|| (self.not_found)(m))?,
            ),
        };
        let mut links = Vec::new();
        if let Some(limit) = q.limit {
            let page: Vec<Value> = if q.page_reverse {
                let end = pos.unwrap_or(items.len());
                items[end.saturating_sub(limit)..end].to_vec()
            } else {
                let start = pos.map_or(0, |p| p + 1);
                items.iter().skip(start).take(limit).cloned().collect()
            };
            let id_of = |v: Option<&Value>| {
                v.and_then(|i| i.get("id"))
                    .and_then(Value::as_str)
                    .map(str::to_string)
            };
            // Neutron's rule: a next link unless a forward page came up
            // short; a previous link unless a reverse page came up short.
            let short = page.len() < limit;
            if !short || q.page_reverse {
                links.push(PageLink {
                    rel: "next",
                    marker: id_of(page.last()),
                });
            }
            if !short || !q.page_reverse {
                links.push(PageLink {
                    rel: "previous",
                    marker: id_of(page.first()),
                });
            }
            items = page;
        }
        let items = items.into_iter().map(|i| trim(i, &q.fields)).collect();
        Ok(Page { items, links })
    }
}

/// Only the requested fields of a view (all when none are requested).
pub fn trim(item: Value, fields: &[String]) -> Value {
    if fields.is_empty() {
        return item;
    }
    match item {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .filter(|(k, _)| fields.iter().any(|f| f == k))
                .collect::<Map<String, Value>>(),
        ),
        other => other,
    }
}

fn compare(a: &Value, b: &Value, sorts: &[(String, bool)]) -> Ordering {
    for (k, asc) in sorts {
        let (x, y) = (
            a.get(k).unwrap_or(&Value::Null),
            b.get(k).unwrap_or(&Value::Null),
        );
        let o = compare_values(x, y);
        if o != Ordering::Equal {
            return if *asc { o } else { o.reverse() };
        }
    }
    Ordering::Equal
}

fn matches_all(item: &Value, filters: &[(String, Vec<String>)]) -> bool {
    filters.iter().all(|(k, values)| {
        if IGNORED_FILTERS.contains(&k.as_str()) {
            return true;
        }
        let key = match k.as_str() {
            "tags-any" => "tags",
            other => other,
        };
        matches(item.get(key).unwrap_or(&Value::Null), values)
    })
}

/// Whether an attribute value matches one of a filter's values.
fn matches(value: &Value, wanted: &[String]) -> bool {
    match value {
        Value::Array(elems) => {
            if elems.iter().all(Value::is_object) && !elems.is_empty() {
                // fixed_ips=ip_address=10.0.0.5&fixed_ips=subnet_id=X: every
                // named key must match (one of its values) on some element.
                let mut by_key: Vec<(&str, Vec<&str>)> = Vec::new();
                for w in wanted {
                    let (k, v) = w.split_once('=').unwrap_or(("", w.as_str()));
                    match by_key.iter_mut().find(|(bk, _)| *bk == k) {
                        Some((_, vs)) => vs.push(v),
                        None => by_key.push((k, vec![v])),
                    }
                }
                by_key.iter().all(|(k, vs)| {
                    elems.iter().any(|e| {
                        e.get(*k)
                            .is_some_and(|ev| vs.iter().any(|v| scalar_eq(ev, v)))
                    })
                })
            } else {
                wanted.iter().any(|w| elems.iter().any(|e| scalar_eq(e, w)))
            }
        }
        other => wanted.iter().any(|w| scalar_eq(other, w)),
    }
}

fn scalar_eq(value: &Value, wanted: &str) -> bool {
    match value {
        Value::String(s) => s == wanted,
        Value::Bool(b) => parse_bool(wanted) == Some(*b),
        Value::Number(n) => wanted.trim().parse::<f64>().ok() == n.as_f64(),
        Value::Null => wanted.eq_ignore_ascii_case("none") || wanted == "null",
        other => serde_json::from_str::<Value>(wanted).is_ok_and(|w| w == *other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorClass;
    use serde_json::json;

    fn pairs(s: &[(&str, &str)]) -> Vec<(String, String)> {
        s.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn nf(id: &str) -> NeutronError {
        NeutronError::not_found("NotFound", id.to_string())
    }

    const L: Listing<'static> = Listing {
        filterable: &["id", "name", "shared", "fixed_ips", "tags"],
        sortable: &["id", "name"],
        not_found: nf,
    };

    fn items() -> Vec<Value> {
        vec![
            json!({"id": "a", "name": "x", "shared": true, "fixed_ips": [{"subnet_id": "s1", "ip_address": "10.0.0.2"}]}),
            json!({"id": "b", "name": "y", "shared": false, "fixed_ips": [{"subnet_id": "s2", "ip_address": "10.0.1.2"}]}),
            json!({"id": "c", "name": "x", "shared": false, "fixed_ips": []}),
        ]
    }

    fn ids(p: &Page) -> Vec<&str> {
        p.items.iter().filter_map(|i| i["id"].as_str()).collect()
    }

    #[test]
    fn filters_or_within_and_across() {
        let q = ListQuery::from_pairs(&pairs(&[("name", "x"), ("name", "y"), ("shared", "False")]))
            .unwrap_or_default();
        assert_eq!(ids(&L.apply(items(), &q).unwrap_or_default()), ["b", "c"]);
        let q = ListQuery::from_pairs(&pairs(&[("fixed_ips", "ip_address=10.0.1.2")]))
            .unwrap_or_default();
        assert_eq!(ids(&L.apply(items(), &q).unwrap_or_default()), ["b"]);
        let q = ListQuery::from_pairs(&pairs(&[("bogus", "1")])).unwrap_or_default();
        assert_eq!(
            L.apply(items(), &q).err().map(|e| e.class),
            Some(ErrorClass::BadRequest)
        );
    }

    #[test]
    fn sort_and_pages() {
        let q = ListQuery::from_pairs(&pairs(&[
            ("sort_key", "name"),
            ("sort_dir", "desc"),
            ("limit", "2"),
        ]))
        .unwrap_or_default();
        let p = L.apply(items(), &q).unwrap_or_default();
        assert_eq!(ids(&p), ["b", "a"]);
        assert_eq!(
            p.links,
            vec![
                PageLink {
                    rel: "next",
                    marker: Some("a".into())
                },
                PageLink {
                    rel: "previous",
                    marker: Some("b".into())
                }
            ]
        );
        let q = ListQuery {
            marker: Some("a".into()),
            ..q
        };
        let p = L.apply(items(), &q).unwrap_or_default();
        assert_eq!(ids(&p), ["c"]);
        assert_eq!(
            p.links.iter().map(|l| l.rel).collect::<Vec<_>>(),
            ["previous"]
        );
        let q = ListQuery {
            page_reverse: true,
            marker: Some("c".into()),
            ..q
        };
        let p = L.apply(items(), &q).unwrap_or_default();
        assert_eq!(ids(&p), ["b", "a"]);
        let q = ListQuery {
            marker: Some("zz".into()),
            ..q
        };
        assert_eq!(
            L.apply(items(), &q).err().map(|e| e.class),
            Some(ErrorClass::NotFound)
        );
        // Without a limit a known marker is ignored, as Neutron ignores it;
        // an unknown one is still a 404.
        let q = ListQuery::from_pairs(&pairs(&[("marker", "b")])).unwrap_or_default();
        assert_eq!(
            ids(&L.apply(items(), &q).unwrap_or_default()),
            ["a", "b", "c"]
        );
        let q = ListQuery::from_pairs(&pairs(&[("marker", "zz")])).unwrap_or_default();
        assert_eq!(
            L.apply(items(), &q).err().map(|e| e.class),
            Some(ErrorClass::NotFound)
        );
        assert!(ListQuery::from_pairs(&pairs(&[("sort_key", "name")])).is_err());
        assert!(ListQuery::from_pairs(&pairs(&[("limit", "-1")])).is_err());
        let q = ListQuery::from_pairs(&pairs(&[("sort_key", "shared"), ("sort_dir", "asc")]))
            .unwrap_or_default();
        assert!(L.apply(items(), &q).is_err());
    }

    #[test]
    fn fields_trim() {
        let q = ListQuery::from_pairs(&pairs(&[("fields", "name")])).unwrap_or_default();
        let p = L.apply(items(), &q).unwrap_or_default();
        assert_eq!(p.items[0], json!({"name": "x"}));
    }
}
