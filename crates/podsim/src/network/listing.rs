//! Collection GETs as neutron's API layer does them: filters on any
//! filterable attribute (repeated keys OR together), tag filters,
//! `fields`, `sort_key`/`sort_dir`, and `limit`/`marker`/`page_reverse`
//! with `<collection>_links`.

use std::cmp::Ordering;

use serde_json::{json, Value};

use super::body::{to_bool, to_int};
use super::error::{NResult, NeutronError};
use super::model::{py_list, s, view, Kind, Record, State, Ty};
use super::Ctx;
use crate::compute::query::urlencode;

/// Query keys that are not attribute filters.
const NOT_FILTERS: [&str; 10] = [
    "fields",
    "sort_key",
    "sort_dir",
    "limit",
    "marker",
    "page_reverse",
    "tags",
    "tags-any",
    "not-tags",
    "not-tags-any",
];

/// One filter: an attribute and the values it may have.
enum Filter {
    Attr(&'static str, Ty, Vec<String>),
    /// `fixed_ips=ip_address=...&fixed_ips=subnet_id=...` on ports.
    FixedIps {
        ips: Vec<String>,
        subnets: Vec<String>,
    },
}

/// The `fields` a caller asked for (none: every field).
pub(crate) fn fields(ctx: &Ctx) -> Vec<String> {
    ctx.query
        .all("fields")
        .into_iter()
        .filter(|f| !f.is_empty())
        .map(str::to_string)
        .collect()
}

/// Keeps only `fields` of `v` (all when empty).
pub(crate) fn select(v: Value, fields: &[String]) -> Value {
    if fields.is_empty() {
        return v;
    }
    match v {
        Value::Object(o) => Value::Object(
            o.into_iter()
                .filter(|(k, _)| fields.iter().any(|f| f == k))
                .collect(),
        ),
        other => other,
    }
}

/// One resource for `GET /<collection>/<id>`, honouring `fields`.
pub(crate) fn show(ctx: &Ctx, kind: Kind, r: &Record) -> Value {
    json!({kind.resource(): select(view(ctx, kind, r), &fields(ctx))})
}

fn parse_filters(ctx: &Ctx, kind: Kind) -> NResult<Vec<Filter>> {
    let mut out = Vec::new();
    let mut invalid: Vec<&str> = Vec::new();
    for key in ctx.query.keys() {
        if NOT_FILTERS.contains(&key) {
            continue;
        }
        let values: Vec<String> = ctx
            .query
            .all(key)
            .into_iter()
            .filter(|v| !v.is_empty())
            .map(str::to_string)
            .collect();
        if kind == Kind::Port && key == "fixed_ips" {
            let mut ips = Vec::new();
            let mut subnets = Vec::new();
            for v in &values {
                match v.split_once('=') {
                    Some(("ip_address", ip)) => ips.push(ip.to_string()),
                    Some(("subnet_id", sn)) => subnets.push(sn.to_string()),
                    _ => {}
                }
            }
            out.push(Filter::FixedIps { ips, subnets });
            continue;
        }
        let attr = kind
            .attr(key)
            .filter(|a| a.filter() && (ctx.is_admin || !a.admin_see()));
        let Some(attr) = attr else {
            invalid.push(key);
            continue;
        };
        if values.is_empty() {
            continue;
        }
        // Converted up front so that a bad value is a 400, as in neutron.
        for v in &values {
            match attr.ty {
                Ty::Bool => {
                    to_bool(&json!(v))?;
                }
                Ty::Int | Ty::OptInt => {
                    to_int(&json!(v))?;
                }
                _ => {}
            }
        }
        out.push(Filter::Attr(attr.name, attr.ty, values));
    }
    if !invalid.is_empty() {
        return Err(NeutronError::bad_request(format!(
            "{} is invalid attribute for filtering",
            py_list(&invalid)
        )));
    }
    Ok(out)
}

fn value_matches(ty: Ty, have: &Value, want: &str) -> bool {
    match (ty, have) {
        (Ty::Bool, Value::Bool(h)) => to_bool(&json!(want)).is_ok_and(|w| w == *h),
        (Ty::Int | Ty::OptInt, Value::Number(n)) => {
            to_int(&json!(want)).is_ok_and(|w| n.as_i64() == Some(w))
        }
        (_, Value::String(h)) => h == want,
        (_, Value::Array(items)) => items.iter().any(|i| i.as_str() == Some(want)),
        (_, Value::Number(n)) => n.to_string() == want,
        _ => false,
    }
}

fn matches(r: &Record, filters: &[Filter]) -> bool {
    filters.iter().all(|f| match f {
        Filter::Attr(name, ty, values) => {
            let have = r.get(*name).unwrap_or(&Value::Null);
            values.iter().any(|w| value_matches(*ty, have, w))
        }
        Filter::FixedIps { ips, subnets } => r
            .get("fixed_ips")
            .and_then(Value::as_array)
            .is_some_and(|list| {
                list.iter().any(|fip| {
                    (ips.is_empty() || ips.iter().any(|i| fip["ip_address"].as_str() == Some(i)))
                        && (subnets.is_empty()
                            || subnets
                                .iter()
                                .any(|sn| fip["subnet_id"].as_str() == Some(sn)))
                })
            }),
    })
}

/// Tags as the `tag` extension filters them (comma-separated lists).
fn tag_matches(ctx: &Ctx, r: &Record) -> bool {
    let tags: Vec<&str> = r
        .get("tags")
        .and_then(Value::as_array)
        .map(|t| t.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let wanted = |key: &str| -> Vec<String> {
        ctx.query
            .all(key)
            .into_iter()
            .flat_map(|v| v.split(','))
            .filter(|t| !t.is_empty())
            .map(str::to_string)
            .collect()
    };
    let has = |t: &String| tags.contains(&t.as_str());
    let all = wanted("tags");
    let any = wanted("tags-any");
    let not_all = wanted("not-tags");
    let not_any = wanted("not-tags-any");
    (all.is_empty() || all.iter().all(has))
        && (any.is_empty() || any.iter().any(has))
        && (not_all.is_empty() || !not_all.iter().all(has))
        && (not_any.is_empty() || !not_any.iter().any(has))
}

fn parse_sorts(ctx: &Ctx, kind: Kind) -> NResult<Vec<(String, bool)>> {
    let keys: Vec<&str> = ctx
        .query
        .all("sort_key")
        .into_iter()
        .filter(|k| !k.is_empty())
        .collect();
    let dirs: Vec<&str> = ctx
        .query
        .all("sort_dir")
        .into_iter()
        .filter(|k| !k.is_empty())
        .collect();
    if keys.len() != dirs.len() {
        return Err(NeutronError::bad_request(
            "The number of sort_keys and sort_dirs must be same",
        ));
    }
    let absent: Vec<&str> = keys
        .iter()
        .copied()
        .filter(|k| {
            kind.attr(k)
                .is_none_or(|a| !a.filter() || (a.admin_see() && !ctx.is_admin))
        })
        .collect();
    if !absent.is_empty() {
        return Err(NeutronError::bad_request(format!(
            "{} is invalid attribute for sort_keys",
            py_list(&absent)
        )));
    }
    let bad_dirs: Vec<&str> = dirs
        .iter()
        .copied()
        .filter(|d| *d != "asc" && *d != "desc")
        .collect();
    if !bad_dirs.is_empty() {
        return Err(NeutronError::bad_request(format!(
            "{} is invalid value for sort_dirs, valid value is 'asc' and 'desc'",
            py_list(&bad_dirs)
        )));
    }
    Ok(keys
        .into_iter()
        .zip(dirs)
        .map(|(k, d)| (k.to_string(), d == "asc"))
        .collect())
}

/// `None` sorts first, as in neutron's emulated sorting.
fn cmp_values(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Null, Value::Null) => Ordering::Equal,
        (Value::Null, _) => Ordering::Less,
        (_, Value::Null) => Ordering::Greater,
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        (Value::Number(x), Value::Number(y)) => x
            .as_f64()
            .partial_cmp(&y.as_f64())
            .unwrap_or(Ordering::Equal),
        (Value::String(x), Value::String(y)) => x.cmp(y),
        _ => a.to_string().cmp(&b.to_string()),
    }
}

fn parse_limit(ctx: &Ctx) -> NResult<usize> {
    match ctx.query.get("limit") {
        None => Ok(0),
        Some(l) => l.trim().parse::<usize>().map_err(|_| {
            NeutronError::bad_resource_request(
                "limit",
                &format!("Limit must be an integer 0 or greater and not '{l}'"),
            )
        }),
    }
}

/// `GET /<collection>`: `items` are the records the caller may see.
pub(crate) fn list(st: &State, ctx: &Ctx, kind: Kind, items: Vec<&Record>) -> NResult<Value> {
    let filters = parse_filters(ctx, kind)?;
    let mut sorts = parse_sorts(ctx, kind)?;
    let limit = parse_limit(ctx)?;
    let page_reverse = ctx
        .query
        .get("page_reverse")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let marker = ctx.query.get("marker").filter(|m| !m.is_empty());
    if limit > 0 && !sorts.iter().any(|(k, _)| k == "id") {
        sorts.push(("id".into(), true));
    }
    let marker_rec = match (limit > 0, marker) {
        (true, Some(m)) => Some(st.get(kind, m).ok_or_else(|| kind.not_found(m))?),
        _ => None,
    };
    let cmp = |x: &Record, y: &Record| -> Ordering {
        for (k, asc) in &sorts {
            let o = cmp_values(
                x.get(k).unwrap_or(&Value::Null),
                y.get(k).unwrap_or(&Value::Null),
            );
            if o != Ordering::Equal {
                return if *asc { o } else { o.reverse() };
            }
        }
        Ordering::Equal
    };
    let mut items: Vec<&Record> = items
        .into_iter()
        .filter(|r| matches(r, &filters) && tag_matches(ctx, r))
        .collect();
    items.sort_by(|x, y| cmp(x, y));
    if limit > 0 {
        if let Some(m) = marker_rec {
            let want = if page_reverse {
                Ordering::Less
            } else {
                Ordering::Greater
            };
            items.retain(|r| cmp(r, m) == want);
        }
        if page_reverse {
            let skip = items.len().saturating_sub(limit);
            items = items.split_off(skip);
        } else {
            items.truncate(limit);
        }
    }
    let wanted = fields(ctx);
    let ids: Vec<String> = items.iter().map(|r| s(r, "id").to_string()).collect();
    let out: Vec<Value> = items
        .into_iter()
        .map(|r| select(view(ctx, kind, r), &wanted))
        .collect();
    let mut body = json!({ kind.collection(): out });
    let links = links(ctx, kind, &ids, limit, page_reverse);
    if !links.is_empty() {
        body[format!("{}_links", kind.collection())] = Value::Array(links);
    }
    Ok(body)
}

/// `get_pagination_links`.
fn links(ctx: &Ctx, kind: Kind, ids: &[String], limit: usize, page_reverse: bool) -> Vec<Value> {
    let mut out = Vec::new();
    if limit == 0 {
        return out;
    }
    let href = |marker: Option<&String>, reverse: bool| -> String {
        let mut params: Vec<(String, String)> = ctx
            .query
            .pairs()
            .iter()
            .filter(|(k, _)| k != "marker" && k != "page_reverse")
            .cloned()
            .collect();
        if let Some(m) = marker {
            params.push(("marker".into(), m.clone()));
        }
        if reverse {
            params.push(("page_reverse".into(), "True".into()));
        }
        format!("{}/{}?{}", ctx.base, kind.path(), urlencode(&params))
    };
    if ids.len() >= limit || page_reverse {
        out.push(json!({"rel": "next", "href": href(ids.last(), false)}));
    }
    if ids.len() >= limit || !page_reverse {
        out.push(json!({"rel": "previous", "href": href(ids.first(), true)}));
    }
    out
}
