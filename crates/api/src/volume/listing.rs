//! Lists of volumes, snapshots and backups across pods: the pods where the
//! project has such resources (every pod for `all_tenants`), in parallel,
//! merge-sorted by Cinder's sort keys, paged by one global `limit` and
//! `marker` (see [`tricircle_pods::fanout`]).

use std::collections::HashMap;

use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use tricircle_core::listing::{parse_cinder_sort, SortKey, CINDER_ID_KEY, MAX_BATCH};
use tricircle_volume::list::ListQuery;
use tricircle_volume::VolumeError;

use super::microversion::VolumeVersion;
use super::resources::{caller, Kind};
use super::ApiBase;
use crate::error::ApiError;
use crate::gateway::listing::{self, HINTS_PARAM};
use crate::gateway::{Call, GatewayState};

/// Parameters this gateway handles itself rather than pass to pods.
const OWN_PARAMS: &[&str] = &[
    "limit",
    "marker",
    "offset",
    "sort",
    "sort_key",
    "sort_dir",
    HINTS_PARAM,
    "with_count",
];

/// The query parameters of a request, in order (never fails: bad
/// percent-encodings are taken as they are).
pub(super) fn query_pairs(raw: Option<&str>) -> Vec<(String, String)> {
    url::form_urlencoded::parse(raw.unwrap_or("").as_bytes())
        .into_owned()
        .collect()
}

/// Cinder's boolean query values.
pub(super) fn truthy(v: &str) -> bool {
    matches!(
        v.to_ascii_lowercase().as_str(),
        "1" | "t" | "true" | "on" | "y" | "yes"
    )
}

/// A list request, parsed.
#[derive(Debug, Default, PartialEq)]
struct ListParams {
    sort: Vec<SortKey>,
    /// The page size: the client's limit, at most Cinder's
    /// `osapi_max_limit` (the default too).
    limit: usize,
    limit_given: bool,
    offset: usize,
    marker: Option<String>,
    hints: HashMap<String, String>,
    az: Option<String>,
    all_tenants: bool,
    /// Passed to every pod as they are.
    filters: Vec<(String, String)>,
}

fn int_param(v: &str, name: &str) -> Result<i64, ApiError> {
    v.trim()
        .parse::<i64>()
        .map_err(|_| ApiError::bad_request(format!("{name} param must be an integer")))
}

fn parse_params(
    kind: &Kind,
    params: &[(String, String)],
    admin: bool,
) -> Result<ListParams, ApiError> {
    let first = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let sort = parse_cinder_sort(
        first("sort"),
        first("sort_key"),
        first("sort_dir"),
        kind.sort_fields,
        CINDER_ID_KEY,
    )
    .map_err(|e| ApiError::bad_request(format!("Invalid input received: {e}")))?;
    let (limit, limit_given) = match first("limit") {
        None => (MAX_BATCH, false),
        Some(l) => {
            let n = int_param(l, "limit")?;
            if n < 0 {
                return Err(ApiError::bad_request("limit param must be positive"));
            }
            (usize::try_from(n).unwrap_or(MAX_BATCH).min(MAX_BATCH), true)
        }
    };
    let offset = match first("offset") {
        None => 0,
        Some(o) => {
            let n = int_param(o, "offset")?;
            usize::try_from(n)
                .map_err(|_| ApiError::bad_request("offset param must be positive"))?
        }
    };
    let mut p = ListParams {
        sort,
        limit,
        limit_given,
        offset,
        marker: first("marker").map(str::to_string),
        hints: first(HINTS_PARAM)
            .map(listing::decode_hints)
            .unwrap_or_default(),
        ..Default::default()
    };
    for (k, v) in params {
        if OWN_PARAMS.contains(&k.as_str()) {
            continue;
        }
        match k.as_str() {
            "availability_zone" if kind.az_field.is_some() => p.az = Some(v.clone()),
            // Cinder ignores all_tenants from non-admins.
            "all_tenants" if !admin => {}
            "all_tenants" => {
                p.all_tenants = truthy(v);
                p.filters.push((k.clone(), v.clone()));
            }
            _ => p.filters.push((k.clone(), v.clone())),
        }
    }
    Ok(p)
}

/// `GET /{collection}` (`detail`: `/{collection}/detail`).
pub(super) async fn list(
    st: &GatewayState,
    c: &Call,
    base: &ApiBase,
    mv: VolumeVersion,
    kind: &'static Kind,
    raw_query: Option<&str>,
    detail: bool,
) -> Result<Response, ApiError> {
    let params = query_pairs(raw_query);
    let p = parse_params(kind, &params, c.ctx.is_admin())?;
    let (limit, limit_given) = (p.limit, p.limit_given);
    let q = ListQuery {
        sort: p.sort,
        limit: p.limit,
        offset: p.offset,
        marker: p.marker,
        hints: p.hints,
        az: p.az,
        all_tenants: p.all_tenants,
        filters: p.filters,
        detail: detail || kind.brief_from_detail,
        type_ids: mv.at_least(63),
        strict: listing::strict(&c.headers),
    };
    let page = match tricircle_volume::list::list(st, &caller(c), kind.base, q).await {
        Ok(page) => page,
        Err(VolumeError::TokenRefused) => return Ok(st.auth.unauthorized_response()),
        Err(e) => return Err(e.into()),
    };
    let items: Vec<Value> = page
        .items
        .into_iter()
        .map(|v| {
            if detail || !kind.brief_from_detail {
                v
            } else {
                json!({"id": v["id"], "name": v["name"], "links": v["links"]})
            }
        })
        .collect();
    let last = items
        .last()
        .and_then(|v| v["id"].as_str())
        .map(str::to_string);
    let mut body = json!({ kind.collection: items });
    if let (true, Some(last)) = (page.more, last) {
        let limit = limit_given.then_some(limit);
        let qs = listing::next_query(&params, &["offset"], limit, &last, &page.next_hints);
        let collection = if detail {
            format!("{}/detail", kind.collection)
        } else {
            kind.collection.to_string()
        };
        body[format!("{}_links", kind.collection)] =
            json!([{"rel": "next", "href": format!("{}?{qs}", base.url(&collection))}]);
    }
    let mut resp = Json(body).into_response();
    listing::name_skipped(&mut resp, &page.skipped);
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::super::resources::{SNAPSHOTS, VOLUMES};
    use super::*;
    use axum::http::StatusCode;
    use tricircle_core::listing::SortDir;

    fn q(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn params() {
        let p = parse_params(
            &VOLUMES,
            &q(&[
                ("sort", "size:asc,name"),
                ("limit", "5"),
                ("marker", "m"),
                ("availability_zone", "az1"),
                ("status", "available"),
                ("tricircle_markers", "Pod1:a,Pod2:b"),
            ]),
            false,
        );
        let p = p.unwrap_or_default();
        let keys: Vec<(&str, SortDir)> = p.sort.iter().map(|k| (k.key.as_str(), k.dir)).collect();
        assert_eq!(
            keys,
            [
                ("size", SortDir::Asc),
                ("name", SortDir::Desc),
                ("id", SortDir::Desc)
            ]
        );
        assert_eq!((p.limit, p.limit_given), (5, true));
        assert_eq!(p.marker.as_deref(), Some("m"));
        assert_eq!(p.az.as_deref(), Some("az1"));
        assert_eq!(p.filters, q(&[("status", "available")]));
        assert_eq!(p.hints.get("Pod2").map(String::as_str), Some("b"));

        let p = parse_params(
            &VOLUMES,
            &q(&[("limit", "5000"), ("all_tenants", "1")]),
            false,
        )
        .unwrap_or_default();
        assert_eq!((p.limit, p.all_tenants), (MAX_BATCH, false));
        assert!(p.filters.is_empty());
        let p = parse_params(&VOLUMES, &q(&[("all_tenants", "True")]), true).unwrap_or_default();
        assert!(p.all_tenants);
        assert_eq!(p.filters, q(&[("all_tenants", "True")]));
        // Snapshots have no AZ: the filter goes to the pods.
        let p = parse_params(&SNAPSHOTS, &q(&[("availability_zone", "az1")]), false)
            .unwrap_or_default();
        assert_eq!(p.az, None);

        for bad in [
            q(&[("limit", "x")]),
            q(&[("limit", "-1")]),
            q(&[("offset", "-3")]),
            q(&[("sort", "nope")]),
            q(&[("sort", "size:up")]),
            q(&[("sort", "size"), ("sort_key", "name")]),
        ] {
            let e = parse_params(&VOLUMES, &bad, false).err().map(|e| e.status);
            assert_eq!(e, Some(StatusCode::BAD_REQUEST), "{bad:?}");
        }
    }
}
