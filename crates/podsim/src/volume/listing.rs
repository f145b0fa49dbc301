//! Cinder's collection paging: `limit`, `marker`, `offset`, `sort` /
//! `sort_key` + `sort_dir`, defaults `created_at desc, id desc`, and the
//! `<collection>_links` next link.

use std::cmp::Ordering;

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::api::{ApiError, ApiResult, Ctx};
use crate::compute::query::urlencode;

/// `osapi_max_limit`.
pub(crate) const MAX_LIMIT: usize = 1000;

/// A sortable column value. `Null` sorts first, as in SQL ascending.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Key {
    Null,
    Bool(bool),
    Int(i64),
    Time(DateTime<Utc>),
    Str(String),
}

impl Key {
    pub fn opt_str(s: Option<&str>) -> Key {
        s.map_or(Key::Null, |s| Key::Str(s.to_string()))
    }
    pub fn str(s: &str) -> Key {
        Key::Str(s.to_string())
    }
}

/// Parsed paging and sorting parameters.
#[derive(Debug, Clone)]
pub(crate) struct Paging {
    pub marker: Option<String>,
    pub limit: usize,
    pub offset: usize,
    pub sort: Vec<(String, bool)>,
}

/// Query parameters that are not filters.
pub(crate) const PAGING_PARAMS: [&str; 6] =
    ["limit", "marker", "offset", "sort", "sort_key", "sort_dir"];

impl Paging {
    /// Parses paging from the request; `rename` maps API sort keys to model
    /// keys (`name` → `display_name`).
    pub fn from_ctx(ctx: &Ctx) -> ApiResult<Paging> {
        let limit = match ctx.param("limit") {
            None => MAX_LIMIT,
            Some(l) => {
                let n: i64 = l
                    .trim()
                    .parse()
                    .map_err(|_| ApiError::bad_request("limit param must be an integer"))?;
                if n < 0 {
                    return Err(ApiError::bad_request("limit param must be positive"));
                }
                usize::try_from(n).unwrap_or(MAX_LIMIT).min(MAX_LIMIT)
            }
        };
        let offset = match ctx.param("offset") {
            None => 0,
            Some(o) => {
                let n: i64 = o
                    .trim()
                    .parse()
                    .map_err(|_| ApiError::bad_request("offset must be an integer"))?;
                if n < 0 {
                    return Err(ApiError::bad_request("offset must be >= 0"));
                }
                usize::try_from(n).unwrap_or(usize::MAX)
            }
        };
        if ctx.has_param("sort") && (ctx.has_param("sort_key") || ctx.has_param("sort_dir")) {
            return Err(ApiError::bad_request(
                "The 'sort_key' and 'sort_dir' parameters are deprecated and cannot be used with the 'sort' parameter.",
            ));
        }
        let mut keys = Vec::new();
        let mut dirs = Vec::new();
        if let Some(sort) = ctx.param("sort") {
            for part in sort.trim().split(',') {
                let (k, d) = part.split_once(':').unwrap_or((part, ""));
                keys.push(k.trim().to_string());
                dirs.push(if d.trim().is_empty() {
                    "desc".to_string()
                } else {
                    d.trim().to_string()
                });
            }
        } else {
            keys.push(
                ctx.param("sort_key")
                    .unwrap_or("created_at")
                    .trim()
                    .to_string(),
            );
            dirs.push(ctx.param("sort_dir").unwrap_or("desc").trim().to_string());
        }
        // db.process_sort_params: validate directions, add the defaults.
        let mut sort = Vec::new();
        for (k, d) in keys.iter().zip(dirs.iter()) {
            let asc = match d.as_str() {
                "asc" => true,
                "desc" => false,
                _ => {
                    return Err(ApiError::invalid_input(
                        "Unknown sort direction, must be 'desc' or 'asc'.",
                    ))
                }
            };
            let k = if k == "name" {
                "display_name".to_string()
            } else {
                k.clone()
            };
            sort.push((k, asc));
        }
        let default_asc = sort.first().is_some_and(|(_, a)| *a);
        for key in ["created_at", "id"] {
            if !sort.iter().any(|(k, _)| k == key) {
                sort.push((key.to_string(), default_asc));
            }
        }
        Ok(Paging {
            marker: ctx.param("marker").map(str::to_string),
            limit,
            offset,
            sort,
        })
    }

    /// Sorts by the requested keys (each must be in `valid`), then keeps
    /// what comes after `marker_item`, skips `offset` and takes `limit`.
    pub fn apply<T>(
        &self,
        mut items: Vec<T>,
        marker_item: Option<&T>,
        valid: &[&str],
        key_of: impl Fn(&T, &str) -> Key,
    ) -> ApiResult<Vec<T>> {
        if self.sort.iter().any(|(k, _)| !valid.contains(&k.as_str())) {
            return Err(ApiError::invalid_input("Invalid sort key"));
        }
        let cmp = |a: &T, b: &T| -> Ordering {
            for (k, asc) in &self.sort {
                let (ka, kb) = (key_of(a, k), key_of(b, k));
                let o = if *asc { ka.cmp(&kb) } else { kb.cmp(&ka) };
                if o != Ordering::Equal {
                    return o;
                }
            }
            Ordering::Equal
        };
        items.sort_by(cmp);
        if let Some(m) = marker_item {
            items.retain(|it| cmp(it, m) == Ordering::Greater);
        }
        Ok(items
            .into_iter()
            .skip(self.offset)
            .take(self.limit)
            .collect())
    }

    /// The `<collection>_links` value, if a next page may exist.
    pub fn next_links(
        &self,
        ctx: &Ctx,
        collection: &str,
        last_id: Option<&str>,
        returned: usize,
        count: Option<usize>,
    ) -> Option<Value> {
        let item_count = count.unwrap_or(returned);
        let last_id = last_id?;
        if returned == 0 || self.limit > item_count {
            return None;
        }
        let mut params: Vec<(String, String)> = ctx
            .query
            .iter()
            .filter(|(k, _)| k != "marker")
            .cloned()
            .collect();
        params.push(("marker".into(), last_id.to_string()));
        Some(json!([{
            "rel": "next",
            "href": format!("{}?{}", ctx.collection_url(collection), urlencode(&params)),
        }]))
    }
}
