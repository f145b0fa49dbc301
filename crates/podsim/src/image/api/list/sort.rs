//! The order of an image list: `sort=k:d,...` or the older
//! `sort_key`/`sort_dir` pairs, always ending in `created_at` and `id`.

use std::cmp::Ordering;

use crate::compute::query::Query;
use crate::image::error::{GResult, GlanceError};
use crate::image::Image;

const SORT_KEYS: [&str; 8] = [
    "name",
    "status",
    "container_format",
    "disk_format",
    "size",
    "id",
    "created_at",
    "updated_at",
];

/// Sort keys with their directions (`asc` or `desc`), one each.
pub(super) struct SortOrder {
    keys: Vec<String>,
    dirs: Vec<String>,
}

fn check_key(k: &str) -> GResult<String> {
    if SORT_KEYS.contains(&k) {
        Ok(k.to_string())
    } else {
        Err(GlanceError::bad_request(format!(
            "Invalid sort key: {k}. It must be one of the following: {}.",
            SORT_KEYS.join(", ")
        )))
    }
}

fn check_dir(d: &str) -> GResult<String> {
    if d == "asc" || d == "desc" {
        Ok(d.to_string())
    } else {
        Err(GlanceError::bad_request(format!(
            "Invalid sort direction: {d}"
        )))
    }
}

fn compare_by(a: &Image, b: &Image, key: &str) -> Ordering {
    match key {
        "name" => a.name.cmp(&b.name),
        "status" => a.status.cmp(&b.status),
        "container_format" => a.container_format.cmp(&b.container_format),
        "disk_format" => a.disk_format.cmp(&b.disk_format),
        "size" => a.size.cmp(&b.size),
        "id" => a.id.cmp(&b.id),
        "updated_at" => a.updated_at.cmp(&b.updated_at),
        _ => a.created_at.cmp(&b.created_at),
    }
}

impl SortOrder {
    pub(super) fn parse(q: &Query) -> GResult<Self> {
        let mut keys: Vec<String> = Vec::new();
        let mut dirs: Vec<String> = Vec::new();
        if let Some(sort) = q.get("sort") {
            if q.has("sort_key") || q.has("sort_dir") {
                return Err(GlanceError::bad_request(
                    "Old and new sorting syntax cannot be combined",
                ));
            }
            for part in sort.trim().split(',') {
                let (k, d) = part.split_once(':').unwrap_or((part, ""));
                let d = if d.is_empty() { "desc" } else { d };
                keys.push(check_key(k.trim())?);
                dirs.push(check_dir(d.trim())?);
            }
        } else {
            for k in q.all("sort_key") {
                keys.push(check_key(k.trim())?);
            }
            for d in q.all("sort_dir") {
                dirs.push(check_dir(d.trim())?);
            }
            if dirs.len() > 1 && dirs.len() != keys.len() {
                return Err(GlanceError::bad_request(
                    "Number of sort dirs does not match the number of sort keys",
                ));
            }
        }
        if keys.is_empty() {
            keys.push("created_at".into());
        }
        let mut default_dir = "desc".to_string();
        if dirs.is_empty() {
            dirs = vec![default_dir.clone(); keys.len()];
        } else if dirs.len() == 1 {
            default_dir = dirs[0].clone();
            dirs = vec![default_dir.clone(); keys.len()];
        }
        for k in ["created_at", "id"] {
            if !keys.iter().any(|s| s == k) {
                keys.push(k.into());
                dirs.push(default_dir.clone());
            }
        }
        Ok(SortOrder { keys, dirs })
    }

    /// Key by key; ties last by insertion order.
    pub(super) fn compare(&self, a: &Image, b: &Image) -> Ordering {
        for (k, d) in self.keys.iter().zip(&self.dirs) {
            let o = compare_by(a, b, k);
            let o = if d == "desc" { o.reverse() } else { o };
            if o != Ordering::Equal {
                return o;
            }
        }
        a.seq.cmp(&b.seq)
    }
}
