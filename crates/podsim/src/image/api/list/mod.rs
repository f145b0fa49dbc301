//! `GET /v2/images`: query checks, the filter, the sort, then the page
//! after `marker` and its links.

mod filter;
mod sort;

use axum::extract::{RawQuery, State};
use axum::{Extension, Json};
use serde_json::{json, Value};

use self::filter::ImageFilter;
use self::sort::SortOrder;
use crate::auth::Caller;
use crate::compute::query::{py_dict, urlencode, Query};
use crate::image::error::{GResult, GlanceError};
use crate::image::Image;
use crate::pod::Pod;

/// Glance's `limit_param_default` and `api_limit_max`.
const DEFAULT_LIMIT: usize = 25;
const MAX_LIMIT: usize = 1000;

fn limit(q: &Query) -> GResult<usize> {
    match q.get("limit") {
        None => Ok(DEFAULT_LIMIT),
        Some(l) => {
            let n: i64 = l
                .trim()
                .parse()
                .map_err(|_| GlanceError::bad_request("limit param must be an integer"))?;
            if n < 0 {
                return Err(GlanceError::bad_request("limit param must be positive"));
            }
            Ok((n as usize).min(MAX_LIMIT))
        }
    }
}

fn member_status(q: &Query) -> GResult<&str> {
    let member_status = q.get("member_status").unwrap_or("accepted");
    if !["pending", "accepted", "rejected", "all"].contains(&member_status) {
        return Err(GlanceError::bad_request(format!(
            "Invalid status: {member_status}"
        )));
    }
    Ok(member_status)
}

/// The sorted images after `marker` (which must exist and be visible; it
/// need not pass the filters).
fn after_marker(
    mut images: Vec<Image>,
    all: &[Image],
    marker: &str,
    caller: &Caller,
    order: &SortOrder,
) -> GResult<Vec<Image>> {
    let Some(marker_img) = all.iter().find(|i| i.id == marker) else {
        return Err(GlanceError::bad_request(format!(
            "No image found with ID {marker}"
        )));
    };
    if !marker_img.is_visible_to(&caller.project_id, caller.is_admin()) {
        return Err(GlanceError::forbidden(format!(
            "Forbidding request, image {marker} not visible"
        )));
    }
    if !images.iter().any(|i| i.id == marker) {
        images.push(marker_img.clone());
    }
    images.sort_by(|a, b| order.compare(a, b));
    let pos = images.iter().position(|i| i.id == marker).unwrap_or(0);
    images.drain(..=pos);
    Ok(images)
}

/// The response: the page, `first` (the query without `marker`) and, for
/// a full page, `next`.
fn page_body(q: &Query, images: &[Image], limit: usize) -> Value {
    let params: Vec<(String, String)> = py_dict(q.pairs())
        .into_iter()
        .filter(|(k, _)| k != "marker")
        .collect();
    let query = urlencode(&params);
    let mut body = json!({
        "images": images.iter().map(Image::to_json).collect::<Vec<_>>(),
        "first": if query.is_empty() { "/v2/images".to_string() } else { format!("/v2/images?{query}") },
        "schema": "/v2/schemas/images",
    });
    if !images.is_empty() && images.len() == limit {
        if let Some(last) = images.last() {
            let mut next_params = params.clone();
            next_params.push(("marker".into(), last.id.clone()));
            body["next"] = json!(format!("/v2/images?{}", urlencode(&next_params)));
        }
    }
    body
}

pub(super) async fn list(
    State(pod): State<Pod>,
    Extension(caller): Extension<Caller>,
    RawQuery(raw): RawQuery,
) -> GResult<Json<Value>> {
    let q = Query::parse(raw.as_deref());
    let limit = limit(&q)?;
    let marker = q.get("marker").map(str::to_string);
    let member_status = member_status(&q)?;
    let order = SortOrder::parse(&q)?;
    let filter = ImageFilter::parse(&q, &caller.project_id, caller.is_admin(), member_status)?;

    let all = pod.images().list();
    let mut images: Vec<Image> = all.iter().filter(|i| filter.matches(i)).cloned().collect();
    if let Some(m) = &marker {
        images = after_marker(images, &all, m, &caller, &order)?;
    } else {
        images.sort_by(|a, b| order.compare(a, b));
    }
    images.truncate(limit);
    Ok(Json(page_body(&q, &images, limit)))
}
