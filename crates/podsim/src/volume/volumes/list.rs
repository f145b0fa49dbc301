//! Listing: `GET /volumes`, `/volumes/detail` and `/volumes/summary`
//! (3.12+), with Cinder's filters, their renames and microversions.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use crate::volume::api::{bool_param, str_bool, ApiError, ApiResult, Ctx, Reply};
use crate::volume::listing::{Key, Paging, PAGING_PARAMS};
use crate::volume::model::{State, Volume};
use crate::volume::views::{volume_detail, volume_summary};
use crate::volume::Req;

/// Filters a non-admin may use (`resource_filters.json`).
const USER_FILTERS: [&str; 11] = [
    "name",
    "status",
    "metadata",
    "bootable",
    "migration_status",
    "availability_zone",
    "group_id",
    "size",
    "created_at",
    "updated_at",
    "consumes_quota",
];

/// Sortable volume columns.
const SORT_KEYS: [&str; 19] = [
    "id",
    "display_name",
    "display_description",
    "status",
    "size",
    "availability_zone",
    "bootable",
    "created_at",
    "updated_at",
    "project_id",
    "user_id",
    "volume_type_id",
    "host",
    "attach_status",
    "migration_status",
    "multiattach",
    "snapshot_id",
    "source_volid",
    "group_id",
];

fn sort_key(v: &Volume, key: &str) -> Key {
    match key {
        "id" => Key::str(&v.id),
        "display_name" => Key::opt_str(v.name.as_deref()),
        "display_description" => Key::opt_str(v.description.as_deref()),
        "status" => Key::str(&v.status),
        "size" => Key::Int(i64::try_from(v.size).unwrap_or(i64::MAX)),
        "availability_zone" => Key::str(&v.availability_zone),
        "bootable" => Key::Bool(v.bootable),
        "created_at" => Key::Time(v.created_at),
        "updated_at" => v.updated_at.map_or(Key::Null, Key::Time),
        "project_id" => Key::str(&v.project_id),
        "user_id" => Key::str(&v.user_id),
        "volume_type_id" => Key::str(&v.volume_type_id),
        "host" => Key::str(&v.host),
        "attach_status" => Key::str(&v.attach_status),
        "migration_status" => Key::opt_str(v.migration_status.as_deref()),
        "multiattach" => Key::Bool(v.multiattach),
        "snapshot_id" => Key::opt_str(v.snapshot_id.as_deref()),
        "source_volid" => Key::opt_str(v.source_volid.as_deref()),
        "group_id" => Key::opt_str(v.group_id.as_deref()),
        _ => Key::Null,
    }
}

/// Parses a `metadata` filter: a Python dict literal such as
/// `{'k': 'v', "k2": "v2"}` (cinderclient sends `str(dict)`), or JSON.
pub(crate) fn parse_dict_filter(raw: &str) -> Option<BTreeMap<String, String>> {
    if let Ok(Value::Object(m)) = serde_json::from_str::<Value>(raw) {
        return Some(
            m.into_iter()
                .map(|(k, v)| {
                    let v = match v {
                        Value::String(s) => s,
                        other => other.to_string(),
                    };
                    (k, v)
                })
                .collect(),
        );
    }
    let inner = raw.trim().strip_prefix('{')?.strip_suffix('}')?;
    let unquote = |s: &str| {
        let s = s.trim();
        s.strip_prefix('\'')
            .and_then(|x| x.strip_suffix('\''))
            .or_else(|| s.strip_prefix('"').and_then(|x| x.strip_suffix('"')))
            .unwrap_or(s)
            .to_string()
    };
    let mut out = BTreeMap::new();
    for pair in inner.split(',').filter(|p| !p.trim().is_empty()) {
        let (k, v) = pair.split_once(':')?;
        out.insert(unquote(k), unquote(v));
    }
    Some(out)
}

/// Whether `v` passes one `key=value` filter (keys already renamed).
fn matches_filter(
    st: &State,
    v: &Volume,
    key: &str,
    value: &str,
    strict_bool: bool,
) -> Option<bool> {
    let eq_opt = |field: &Option<String>| field.as_deref() == Some(value);
    Some(match key {
        "display_name" => eq_opt(&v.name),
        "display_name~" | "name~" => v.name.as_deref().is_some_and(|n| n.contains(value)),
        "display_description" => eq_opt(&v.description),
        "status" => v.status == value,
        "status~" => v.status.contains(value),
        "availability_zone" => v.availability_zone == value,
        "migration_status" => eq_opt(&v.migration_status),
        "group_id" => eq_opt(&v.group_id),
        "size" => value.trim().parse::<u64>().is_ok_and(|s| s == v.size),
        "project_id" => v.project_id == value,
        "user_id" => v.user_id == value,
        "host" => v.host == value,
        "id" => v.id == value,
        "snapshot_id" => eq_opt(&v.snapshot_id),
        "source_volid" => eq_opt(&v.source_volid),
        "attach_status" => v.attach_status == value,
        "consumes_quota" | "use_quota" => str_bool(value).unwrap_or(true),
        "volume_type_id" | "volume_type" => {
            v.volume_type_id == value || st.type_name(&v.volume_type_id).as_deref() == Some(value)
        }
        "bootable" | "multiattach" => {
            let field = if key == "bootable" {
                v.bootable
            } else {
                v.multiattach
            };
            // Before 3.2 anything but false/False/FALSE means true.
            let wanted = if strict_bool {
                str_bool(value).unwrap_or(false)
            } else {
                !matches!(value, "false" | "False" | "FALSE")
            };
            field == wanted
        }
        "metadata" => {
            let Some(want) = parse_dict_filter(value) else {
                return Some(false);
            };
            want.iter().all(|(k, val)| v.metadata.get(k) == Some(val))
        }
        "glance_metadata" => {
            let Some(want) = parse_dict_filter(value) else {
                return Some(false);
            };
            want.iter()
                .all(|(k, val)| v.image_metadata.get(k) == Some(val))
        }
        "created_at" | "updated_at" => true,
        _ => return None,
    })
}

/// The filters of a list request: without paging parameters, renamed,
/// restricted for non-admins; plus `all_tenants`.
fn volume_filters(ctx: &Ctx) -> ApiResult<(Vec<(String, String)>, bool)> {
    let mut out = Vec::new();
    let all_tenants =
        ctx.is_admin && ctx.has_param("all_tenants") && bool_param(ctx, "all_tenants")?;
    for (k, v) in &ctx.query {
        if PAGING_PARAMS.contains(&k.as_str()) || k == "with_count" || k == "all_tenants" {
            continue;
        }
        let base = k.trim_end_matches('~');
        if !ctx.is_admin && !USER_FILTERS.contains(&base) {
            continue;
        }
        // Filters added by later microversions are dropped before them.
        let added_in = match base {
            "glance_metadata" => 4,
            "group_id" => 10,
            "created_at" | "updated_at" => 60,
            "consumes_quota" => 65,
            _ => 0,
        };
        if !ctx.version.at_least(added_in) {
            continue;
        }
        if k.ends_with('~') && !ctx.version.at_least(34) {
            continue;
        }
        let key = match k.as_str() {
            "name" => "display_name".to_string(),
            "name~" => "display_name~".to_string(),
            other => other.to_string(),
        };
        out.push((key, v.clone()));
    }
    Ok((out, all_tenants))
}

fn list(st: &mut State, ctx: &Ctx, detail: bool) -> ApiResult<Reply> {
    let paging = Paging::from_ctx(ctx)?;
    let with_count =
        ctx.version.at_least(45) && ctx.has_param("with_count") && bool_param(ctx, "with_count")?;
    let (filters, all_tenants) = volume_filters(ctx)?;
    let strict = ctx.version.at_least(2);
    let mut invalid_filter = false;
    let candidates: Vec<&Volume> = st
        .volumes
        .values()
        .filter(|v| all_tenants || v.project_id == ctx.project_id())
        .filter(|v| {
            filters
                .iter()
                .all(|(k, val)| match matches_filter(st, v, k, val, strict) {
                    Some(m) => m,
                    None => {
                        invalid_filter = true;
                        false
                    }
                })
        })
        .collect();
    // An unknown column makes the database layer return nothing.
    let candidates = if invalid_filter {
        Vec::new()
    } else {
        candidates
    };
    let count = candidates.len();
    let marker = match &paging.marker {
        None => None,
        Some(m) => Some(
            st.volumes
                .get(m)
                .filter(|v| all_tenants || v.project_id == ctx.project_id())
                .ok_or_else(|| ApiError::volume_not_found(m))?,
        ),
    };
    let page = paging.apply(candidates, marker.as_ref(), &SORT_KEYS, |v, k| {
        sort_key(v, k)
    })?;
    let items: Vec<Value> = page
        .iter()
        .map(|v| {
            if detail {
                volume_detail(st, ctx, v, true)
            } else {
                volume_summary(ctx, v)
            }
        })
        .collect();
    let mut out = Map::new();
    let collection = if detail { "volumes/detail" } else { "volumes" };
    let links = paging.next_links(
        ctx,
        collection,
        page.last().map(|v| v.id.as_str()),
        page.len(),
        with_count.then_some(count),
    );
    out.insert("volumes".into(), json!(items));
    if let Some(l) = links {
        out.insert("volumes_links".into(), l);
    }
    if with_count {
        out.insert("count".into(), json!(count));
    }
    Ok(Reply::ok(Value::Object(out)))
}

pub(crate) fn index(st: &mut State, ctx: &Ctx, _req: &Req) -> ApiResult<Reply> {
    list(st, ctx, false)
}

pub(crate) fn detail(st: &mut State, ctx: &Ctx, _req: &Req) -> ApiResult<Reply> {
    list(st, ctx, true)
}

pub(crate) fn summary(st: &mut State, ctx: &Ctx, _req: &Req) -> ApiResult<Reply> {
    if !ctx.version.at_least(12) {
        return Err(ApiError::no_route());
    }
    let all_tenants =
        ctx.is_admin && ctx.has_param("all_tenants") && bool_param(ctx, "all_tenants")?;
    let vols: Vec<&Volume> = st
        .volumes
        .values()
        .filter(|v| all_tenants || v.project_id == ctx.project_id())
        .collect();
    let total_size: u64 = vols.iter().map(|v| v.size).sum();
    let mut summary = Map::new();
    summary.insert("total_count".into(), json!(vols.len()));
    summary.insert("total_size".into(), json!(total_size));
    if ctx.version.at_least(36) {
        let mut meta: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for v in &vols {
            for (k, val) in &v.metadata {
                let e = meta.entry(k.clone()).or_default();
                if !e.contains(val) {
                    e.push(val.clone());
                }
            }
        }
        summary.insert("metadata".into(), json!(meta));
    }
    Ok(Reply::ok(json!({"volume-summary": summary})))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dict_filters() {
        let m = parse_dict_filter("{'k': 'v', \"a\": \"b c\"}").unwrap();
        assert_eq!(m.get("k").unwrap(), "v");
        assert_eq!(m.get("a").unwrap(), "b c");
        let m = parse_dict_filter("{\"x\": \"y\"}").unwrap();
        assert_eq!(m.get("x").unwrap(), "y");
        assert!(parse_dict_filter("nope").is_none());
    }
}
