//! Glance v2 handlers.

use std::cmp::Ordering;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, RawQuery, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{from_fn_with_state, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Extension, Json, Router};
use chrono::Utc;
use serde_json::{json, Map, Value};

use super::error::{GResult, GlanceError, PendingGlanceError};
use super::schema::{self, VISIBILITIES};
use super::{members, Image};
use crate::auth::{authenticate, Caller};
use crate::compute::query::{py_dict, urlencode, Query};
use crate::pod::Pod;

/// Glance's `limit_param_default` and `api_limit_max`.
const DEFAULT_LIMIT: usize = 25;
const MAX_LIMIT: usize = 1000;
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
/// Body keys that may never be set.
const DISALLOWED: [&str; 5] = ["direct_url", "self", "file", "schema", "stores"];
/// Read-only image attributes.
const READONLY: [&str; 8] = [
    "created_at",
    "updated_at",
    "status",
    "checksum",
    "os_hash_algo",
    "os_hash_value",
    "size",
    "virtual_size",
];
/// Attributes patch paths may not touch.
const PATCH_READONLY: [&str; 13] = [
    "created_at",
    "updated_at",
    "status",
    "checksum",
    "size",
    "virtual_size",
    "direct_url",
    "self",
    "file",
    "schema",
    "id",
    "os_hash_algo",
    "os_hash_value",
];
const RESERVED: [&str; 3] = ["location", "deleted", "deleted_at"];
const RESERVED_NS: &str = "os_glance";
/// Base attributes settable through the API.
const SETTABLE: [&str; 9] = [
    "name",
    "visibility",
    "protected",
    "os_hidden",
    "owner",
    "container_format",
    "disk_format",
    "min_ram",
    "min_disk",
];
const PATCH_TYPES: [&str; 2] = [
    "application/openstack-images-v2.0-json-patch",
    "application/openstack-images-v2.1-json-patch",
];

pub(crate) fn routes(pod: Pod) -> Router {
    Router::new()
        .route("/image/v2/images", get(list).post(create))
        .route(
            "/image/v2/images/{image_id}",
            get(show).patch(update).delete(delete),
        )
        .route(
            "/image/v2/images/{image_id}/file",
            get(download).put(upload),
        )
        .route(
            "/image/v2/images/{image_id}/tags/{tag}",
            put(add_tag).delete(delete_tag),
        )
        .route(
            "/image/v2/images/{image_id}/actions/deactivate",
            post(deactivate),
        )
        .route(
            "/image/v2/images/{image_id}/actions/reactivate",
            post(reactivate),
        )
        .route(
            "/image/v2/images/{image_id}/members",
            get(members::index).post(members::create),
        )
        .route(
            "/image/v2/images/{image_id}/members/{member_id}",
            get(members::show)
                .put(members::update)
                .delete(members::delete),
        )
        .route("/image/v2/schemas/image", get(image_schema))
        .route("/image/v2/schemas/images", get(images_schema))
        .route("/image/v2/schemas/member", get(member_schema))
        .route("/image/v2/schemas/members", get(members_schema))
        .route_layer(from_fn_with_state(pod.clone(), glance_layer))
        .layer(DefaultBodyLimit::disable())
        .with_state(pod)
}

/// keystonemiddleware in front of Glance, then webob's error rendering for
/// the request's `Accept` header.
async fn glance_layer(State(pod): State<Pod>, mut req: Request, next: Next) -> Response {
    let caller = match authenticate(&pod, req.headers()) {
        Ok(c) => c,
        Err(resp) => return resp,
    };
    let mut accept = HeaderMap::new();
    if let Some(v) = req.headers().get(header::ACCEPT) {
        accept.insert(header::ACCEPT, v.clone());
    }
    req.extensions_mut().insert(caller);
    let resp = next.run(req).await;
    match resp.extensions().get::<PendingGlanceError>() {
        Some(PendingGlanceError(err)) => err.render(&accept),
        None => resp,
    }
}

fn json_response(status: StatusCode, body: Value) -> Response {
    (status, Json(body)).into_response()
}

/// Glance's JSON body deserializer.
pub(super) fn parse_body(bytes: &Bytes) -> GResult<Value> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(GlanceError::bad_request("Body expected in request."));
    }
    serde_json::from_slice(bytes)
        .map_err(|_| GlanceError::bad_request("Malformed JSON in request body."))
}

fn schema_error(reason: String) -> GlanceError {
    GlanceError::bad_request(format!(
        "Provided object does not match schema 'image': {reason}"
    ))
}

/// The image `caller` may see, or Glance's 404.
fn visible_image(pod: &Pod, caller: &Caller, id: &str) -> GResult<Image> {
    pod.images()
        .get_visible(id, &caller.project_id, caller.is_admin())
        .ok_or_else(|| GlanceError::no_image(id))
}

/// Glance's `modify_image` rule: admin or owner.
pub(super) fn can_modify(caller: &Caller, img: &Image) -> bool {
    caller.is_admin() || img.owner.as_deref() == Some(caller.project_id.as_str())
}

fn check_visibility_change(caller: &Caller, visibility: &Value) -> GResult<()> {
    if visibility == "public" && !caller.is_admin() {
        return Err(GlanceError::forbidden_action("publicize_image"));
    }
    Ok(())
}

// ------------------------------------------------------------------ create

async fn create(
    State(pod): State<Pod>,
    Extension(caller): Extension<Caller>,
    bytes: Bytes,
) -> GResult<Response> {
    let body = parse_body(&bytes)?;
    let Value::Object(mut body) = body else {
        return Err(schema_error(format!(
            "{} is not of type 'object'",
            schema::py_repr(&body)
        )));
    };
    for key in DISALLOWED {
        if body.contains_key(key) {
            return Err(GlanceError::forbidden(format!(
                "Attribute '{key}' is read-only."
            )));
        }
    }
    schema::validate(&body).map_err(schema_error)?;
    let base = schema::base_properties();
    let extra: Vec<String> = body
        .keys()
        .filter(|k| base.get(k.as_str()).is_none())
        .cloned()
        .collect();
    for key in &extra {
        if key.chars().count() > 255 {
            return Err(GlanceError::bad_request(
                "Custom property should not be greater than 255 characters.",
            ));
        }
        if RESERVED.contains(&key.as_str()) || key.starts_with(RESERVED_NS) {
            return Err(GlanceError::forbidden(format!(
                "Attribute '{key}' is reserved."
            )));
        }
    }
    let owner = match body.get("owner") {
        Some(Value::String(o)) => Some(o.clone()),
        Some(_) => None,
        None => Some(caller.project_id.clone()),
    };
    if owner.as_deref() != Some(caller.project_id.as_str()) && !caller.is_admin() {
        return Err(GlanceError::forbidden(format!(
            "You are not permitted to create images owned by '{}'",
            owner.as_deref().unwrap_or("None")
        )));
    }
    if let Some(v) = body.get("visibility") {
        check_visibility_change(&caller, v)?;
    }
    for key in READONLY {
        if body.contains_key(key) {
            return Err(GlanceError::forbidden(format!(
                "Attribute '{key}' is read-only."
            )));
        }
    }
    let id = match body.remove("id") {
        Some(Value::String(id)) => id,
        _ => uuid::Uuid::new_v4().to_string(),
    };
    let mut img = Image::new(&id);
    img.owner = owner;
    body.remove("owner");
    if let Some(Value::Array(tags)) = body.remove("tags") {
        for t in tags.iter().filter_map(Value::as_str) {
            if !img.tags.iter().any(|x| x == t) {
                img.tags.push(t.to_string());
            }
        }
    }
    for (key, value) in body {
        set_attribute(&mut img, &key, value);
    }
    let exists = pod.images().get(&id).is_some();
    if exists {
        return Err(GlanceError::conflict(format!(
            "Image ID {id} already exists!"
        )));
    }
    let img = pod.images().insert(img);
    let mut resp = json_response(StatusCode::CREATED, img.to_json());
    if let Ok(v) = HeaderValue::from_str(&format!("/v2/images/{id}")) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    resp.headers_mut().insert(
        "openstack-image-import-methods",
        HeaderValue::from_static("glance-direct,web-download,copy-image"),
    );
    Ok(resp)
}

/// Sets a base attribute (already schema-checked) or an extra property.
fn set_attribute(img: &mut Image, key: &str, value: Value) {
    match key {
        "name" => img.name = value.as_str().map(str::to_string),
        "visibility" => {
            if let Some(v) = value.as_str() {
                img.visibility = v.to_string();
            }
        }
        "protected" => img.protected = value.as_bool().unwrap_or(img.protected),
        "os_hidden" => img.os_hidden = value.as_bool().unwrap_or(img.os_hidden),
        "owner" => img.owner = value.as_str().map(str::to_string),
        "container_format" => img.container_format = value.as_str().map(str::to_string),
        "disk_format" => img.disk_format = value.as_str().map(str::to_string),
        "min_ram" => img.min_ram = value.as_u64().unwrap_or(0),
        "min_disk" => img.min_disk = value.as_u64().unwrap_or(0),
        "tags" => {
            img.tags.clear();
            for t in value
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
            {
                if !img.tags.iter().any(|x| x == t) {
                    img.tags.push(t.to_string());
                }
            }
        }
        _ => {
            img.properties.insert(key.to_string(), value);
        }
    }
}

// -------------------------------------------------------------------- list

fn in_filter(wanted: &str, actual: Option<&str>) -> bool {
    match wanted.strip_prefix("in:") {
        Some(list) => list
            .split(',')
            .map(|s| s.trim().trim_matches('"'))
            .any(|w| Some(w) == actual),
        None => Some(wanted) == actual,
    }
}

fn parse_bool_filter(key: &str, v: &str) -> GResult<bool> {
    match v.to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(GlanceError::bad_request(format!(
            "Invalid value '{v}' for '{key}' filter. Valid values are 'true' or 'false'."
        ))),
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

async fn list(
    State(pod): State<Pod>,
    Extension(caller): Extension<Caller>,
    RawQuery(raw): RawQuery,
) -> GResult<Json<Value>> {
    let q = Query::parse(raw.as_deref());
    let limit = match q.get("limit") {
        None => DEFAULT_LIMIT,
        Some(l) => {
            let n: i64 = l
                .trim()
                .parse()
                .map_err(|_| GlanceError::bad_request("limit param must be an integer"))?;
            if n < 0 {
                return Err(GlanceError::bad_request("limit param must be positive"));
            }
            (n as usize).min(MAX_LIMIT)
        }
    };
    let marker = q.get("marker").map(str::to_string);
    let member_status = q.get("member_status").unwrap_or("accepted");
    if !["pending", "accepted", "rejected", "all"].contains(&member_status) {
        return Err(GlanceError::bad_request(format!(
            "Invalid status: {member_status}"
        )));
    }
    let tags: Vec<&str> = q.all("tag").into_iter().map(str::trim).collect();

    // Sorting.
    let mut sort_keys: Vec<String> = Vec::new();
    let mut sort_dirs: Vec<String> = Vec::new();
    let check_key = |k: &str| -> GResult<String> {
        if SORT_KEYS.contains(&k) {
            Ok(k.to_string())
        } else {
            Err(GlanceError::bad_request(format!(
                "Invalid sort key: {k}. It must be one of the following: {}.",
                SORT_KEYS.join(", ")
            )))
        }
    };
    let check_dir = |d: &str| -> GResult<String> {
        if d == "asc" || d == "desc" {
            Ok(d.to_string())
        } else {
            Err(GlanceError::bad_request(format!(
                "Invalid sort direction: {d}"
            )))
        }
    };
    if let Some(sort) = q.get("sort") {
        if q.has("sort_key") || q.has("sort_dir") {
            return Err(GlanceError::bad_request(
                "Old and new sorting syntax cannot be combined",
            ));
        }
        for part in sort.trim().split(',') {
            let (k, d) = part.split_once(':').unwrap_or((part, ""));
            let d = if d.is_empty() { "desc" } else { d };
            sort_keys.push(check_key(k.trim())?);
            sort_dirs.push(check_dir(d.trim())?);
        }
    } else {
        for k in q.all("sort_key") {
            sort_keys.push(check_key(k.trim())?);
        }
        for d in q.all("sort_dir") {
            sort_dirs.push(check_dir(d.trim())?);
        }
        if sort_dirs.len() > 1 && sort_dirs.len() != sort_keys.len() {
            return Err(GlanceError::bad_request(
                "Number of sort dirs does not match the number of sort keys",
            ));
        }
    }
    if sort_keys.is_empty() {
        sort_keys.push("created_at".into());
    }
    let mut default_dir = "desc".to_string();
    if sort_dirs.is_empty() {
        sort_dirs = vec![default_dir.clone(); sort_keys.len()];
    } else if sort_dirs.len() == 1 {
        default_dir = sort_dirs[0].clone();
        sort_dirs = vec![default_dir.clone(); sort_keys.len()];
    }
    for k in ["created_at", "id"] {
        if !sort_keys.iter().any(|s| s == k) {
            sort_keys.push(k.into());
            sort_dirs.push(default_dir.clone());
        }
    }

    // Filters: everything else, last value wins.
    const NOT_FILTERS: [&str; 7] = [
        "limit",
        "marker",
        "member_status",
        "tag",
        "sort",
        "sort_key",
        "sort_dir",
    ];
    let filters: Vec<(String, String)> = py_dict(q.pairs())
        .into_iter()
        .filter(|(k, _)| !NOT_FILTERS.contains(&k.as_str()))
        .collect();
    let filter = |k: &str| {
        filters
            .iter()
            .find(|(fk, _)| fk == k)
            .map(|(_, v)| v.as_str())
    };
    let visibility = filter("visibility").filter(|v| !v.is_empty());
    if let Some(v) = visibility {
        if !VISIBILITIES.contains(&v) && v != "all" {
            return Err(GlanceError::bad_request(format!(
                "Invalid visibility value: {v}"
            )));
        }
    }
    if filter("changes-since").is_some_and(|v| !v.is_empty()) {
        return Err(GlanceError::bad_request(
            "The \"changes-since\" filter is no longer available on v2.",
        ));
    }
    let os_hidden = parse_bool_filter("os_hidden", filter("os_hidden").unwrap_or("false"))?;
    let protected = filter("protected")
        .map(|v| parse_bool_filter("protected", v))
        .transpose()?;
    let size_min = filter("size_min")
        .map(|v| {
            v.parse::<u64>()
                .map_err(|_| GlanceError::bad_request("Invalid value for size_min filter."))
        })
        .transpose()?;
    let size_max = filter("size_max")
        .map(|v| {
            v.parse::<u64>()
                .map_err(|_| GlanceError::bad_request("Invalid value for size_max filter."))
        })
        .transpose()?;

    let project = caller.project_id.as_str();
    let admin = caller.is_admin();
    let all = pod.images().list();
    // Glance's union: public and community images, the caller's own, and
    // the shared ones it is a member of with `member_status`.
    let visible_to_caller = |i: &Image| {
        admin
            || matches!(i.visibility.as_str(), "public" | "community")
            || i.owner.as_deref() == Some(project)
            || i.is_listed_member(project, member_status)
    };
    let matches = |i: &Image| -> bool {
        if !visible_to_caller(i) {
            return false;
        }
        match visibility {
            Some("all") => {}
            Some(v) => {
                if i.visibility != v {
                    return false;
                }
            }
            None => {
                if i.visibility == "community" && i.owner.as_deref() != Some(project) {
                    return false;
                }
            }
        }
        if i.os_hidden != os_hidden {
            return false;
        }
        if protected.is_some_and(|p| p != i.protected) {
            return false;
        }
        if size_min.is_some_and(|m| i.size.unwrap_or(0) < m)
            || size_max.is_some_and(|m| i.size.unwrap_or(0) > m)
        {
            return false;
        }
        if !tags.iter().all(|t| i.tags.iter().any(|x| x == t)) {
            return false;
        }
        for (k, v) in &filters {
            let ok = match k.as_str() {
                "visibility" | "os_hidden" | "protected" | "size_min" | "size_max"
                | "changes-since" => true,
                "name" => in_filter(v, i.name.as_deref()),
                "id" => in_filter(v, Some(&i.id)),
                "status" => in_filter(v, Some(&i.status)),
                "owner" => in_filter(v, i.owner.as_deref()),
                "disk_format" => in_filter(v, i.disk_format.as_deref()),
                "container_format" => in_filter(v, i.container_format.as_deref()),
                "checksum" => in_filter(v, i.checksum.as_deref()),
                "os_hash_value" => in_filter(v, i.os_hash_value.as_deref()),
                "min_ram" => v.parse::<u64>().ok() == Some(i.min_ram),
                "min_disk" => v.parse::<u64>().ok() == Some(i.min_disk),
                _ => match i.properties.get(k) {
                    Some(Value::String(s)) => s == v,
                    Some(other) => &other.to_string() == v,
                    None => false,
                },
            };
            if !ok {
                return false;
            }
        }
        true
    };
    let mut images: Vec<Image> = all.iter().filter(|i| matches(i)).cloned().collect();
    let sorter = |a: &Image, b: &Image| -> Ordering {
        for (k, d) in sort_keys.iter().zip(&sort_dirs) {
            let o = compare_by(a, b, k);
            let o = if d == "desc" { o.reverse() } else { o };
            if o != Ordering::Equal {
                return o;
            }
        }
        a.seq.cmp(&b.seq)
    };
    if let Some(m) = &marker {
        let Some(marker_img) = all.iter().find(|i| &i.id == m) else {
            return Err(GlanceError::bad_request(format!(
                "No image found with ID {m}"
            )));
        };
        if !marker_img.is_visible_to(project, admin) {
            return Err(GlanceError::forbidden(format!(
                "Forbidding request, image {m} not visible"
            )));
        }
        if !images.iter().any(|i| &i.id == m) {
            images.push(marker_img.clone());
        }
        images.sort_by(sorter);
        let pos = images.iter().position(|i| &i.id == m).unwrap_or(0);
        images.drain(..=pos);
    } else {
        images.sort_by(sorter);
    }
    images.truncate(limit);

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
    Ok(Json(body))
}

// -------------------------------------------------------- show and delete

async fn show(
    State(pod): State<Pod>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> GResult<Json<Value>> {
    Ok(Json(visible_image(&pod, &caller, &id)?.to_json()))
}

async fn delete(
    State(pod): State<Pod>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> GResult<StatusCode> {
    let img = pod
        .images()
        .get_visible(&id, &caller.project_id, caller.is_admin())
        .ok_or_else(|| GlanceError::not_found(format!("Failed to find image {id} to delete")))?;
    if !can_modify(&caller, &img) {
        return Err(GlanceError::forbidden_action("delete_image"));
    }
    if img.protected {
        return Err(GlanceError::forbidden(format!(
            "Image {id} is protected and cannot be deleted."
        )));
    }
    pod.images().remove(&id);
    Ok(StatusCode::NO_CONTENT)
}

// ------------------------------------------------------------------ update

/// Decodes a JSON pointer into its tokens, with Glance's messages.
fn decode_pointer(pointer: &str) -> GResult<Vec<String>> {
    let Some(rest) = pointer.strip_prefix('/') else {
        return Err(GlanceError::bad_request(format!(
            "Pointer `{pointer}` does not start with \"/\"."
        )));
    };
    if pointer.contains("//") {
        return Err(GlanceError::bad_request(format!(
            "Pointer `{pointer}` contains adjacent \"/\"."
        )));
    }
    if pointer.len() > 1 && pointer.ends_with('/') {
        return Err(GlanceError::bad_request(format!(
            "Pointer `{pointer}` end with \"/\"."
        )));
    }
    if rest.is_empty() {
        return Err(GlanceError::bad_request(format!(
            "Pointer `{pointer}` does not contains valid token."
        )));
    }
    let mut out = Vec::new();
    for token in rest.split('/') {
        let mut s = String::new();
        let mut chars = token.chars();
        while let Some(c) = chars.next() {
            if c == '~' {
                match chars.next() {
                    Some('0') => s.push('~'),
                    Some('1') => s.push('/'),
                    _ => {
                        return Err(GlanceError::bad_request(format!(
                            "Pointer `{pointer}` contains \"~\" not part of a recognized escape sequence."
                        )))
                    }
                }
            } else {
                s.push(c);
            }
        }
        out.push(s);
    }
    Ok(out)
}

async fn update(
    State(pod): State<Pod>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    headers: HeaderMap,
    bytes: Bytes,
) -> GResult<Json<Value>> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let Some(draft) = PATCH_TYPES.iter().position(|t| *t == content_type) else {
        let allowed = PATCH_TYPES.join(", ");
        return Err(GlanceError::unsupported_media_type(
            &content_type,
            format!("Image PATCH expects Content-Type one of: {allowed}"),
        )
        .with_header("Accept-Patch", allowed));
    };
    let v21 = draft == 1;
    let body = parse_body(&bytes)?;
    let Value::Array(ops) = body else {
        return Err(GlanceError::bad_request(
            "Request body must be a JSON array of operation objects.",
        ));
    };
    // Parse every change before applying any (as Glance's deserializer).
    let mut changes: Vec<(String, String, Option<Value>)> = Vec::new();
    for raw in ops {
        let Value::Object(raw) = raw else {
            return Err(GlanceError::bad_request("Operations must be JSON objects."));
        };
        let (op, path) = if v21 {
            let op = match raw.get("op").and_then(Value::as_str) {
                Some(op) => op.to_string(),
                None => {
                    return Err(GlanceError::bad_request(
                        "Unable to find `op` in JSON Schema change. It must be one of the following: add, remove, replace.",
                    ))
                }
            };
            if !["add", "remove", "replace"].contains(&op.as_str()) {
                return Err(GlanceError::bad_request(format!(
                    "Invalid operation: `{op}`. It must be one of the following: add, remove, replace."
                )));
            }
            let path = raw
                .get("path")
                .and_then(Value::as_str)
                .ok_or_else(|| {
                    GlanceError::bad_request("Unable to find 'path' in JSON Schema change")
                })?
                .to_string();
            (op, path)
        } else {
            // Draft 4: {"<op>": "<path>"}.
            let found: Vec<(&String, &Value)> = raw
                .iter()
                .filter(|(k, _)| ["add", "remove", "replace"].contains(&k.as_str()))
                .collect();
            match found.as_slice() {
                [(op, Value::String(path))] => ((*op).clone(), path.clone()),
                [_] | [] => {
                    return Err(GlanceError::bad_request(
                        "Operation objects must contain exactly one member named \"add\", \"remove\", or \"replace\".",
                    ))
                }
                _ => {
                    return Err(GlanceError::bad_request(
                        "Operation objects must contain only one member named \"add\", \"remove\", or \"replace\".",
                    ))
                }
            }
        };
        let tokens = decode_pointer(&path)?;
        if tokens.len() != 1 {
            return Err(GlanceError::bad_request(format!(
                "Invalid JSON pointer for this resource: '/{}'",
                tokens.join("/")
            )));
        }
        let root = tokens[0].clone();
        let value = if op == "remove" {
            None
        } else {
            Some(raw.get("value").cloned().ok_or_else(|| {
                GlanceError::bad_request(format!(
                    "Operation \"{op}\" requires a member named \"value\"."
                ))
            })?)
        };
        if PATCH_READONLY.contains(&root.as_str()) {
            return Err(GlanceError::forbidden(format!(
                "Attribute '{root}' is read-only."
            )));
        }
        if RESERVED.contains(&root.as_str()) || root.starts_with(RESERVED_NS) {
            return Err(GlanceError::forbidden(format!(
                "Attribute '{root}' is reserved."
            )));
        }
        if let Some(v) = &value {
            let mut partial = Map::new();
            partial.insert(root.clone(), v.clone());
            schema::validate(&partial).map_err(schema_error)?;
        }
        changes.push((op, root, value));
    }

    let mut img = visible_image(&pod, &caller, &id)?;
    for (op, root, value) in changes {
        if root == "owner" && op == "replace" && !caller.is_admin() {
            return Err(GlanceError::forbidden(
                "Owner can't be updated by non admin.",
            ));
        }
        if root == "visibility" {
            if let Some(v) = &value {
                check_visibility_change(&caller, v)?;
            }
        }
        if !can_modify(&caller, &img) {
            return Err(GlanceError::forbidden_action("modify_image"));
        }
        let is_base = SETTABLE.contains(&root.as_str()) || root == "tags";
        match op.as_str() {
            "replace" => {
                if !is_base && !img.properties.contains_key(&root) {
                    return Err(GlanceError::conflict(format!(
                        "Property {root} does not exist."
                    )));
                }
                set_attribute(&mut img, &root, value.unwrap_or(Value::Null));
            }
            "add" => {
                if !v21 && (is_base || img.properties.contains_key(&root)) {
                    return Err(GlanceError::conflict(format!(
                        "Property {root} already present."
                    )));
                }
                set_attribute(&mut img, &root, value.unwrap_or(Value::Null));
            }
            _ => {
                if is_base {
                    return Err(GlanceError::forbidden(format!(
                        "Property {root} may not be removed."
                    )));
                }
                if img.properties.remove(&root).is_none() {
                    return Err(GlanceError::conflict(format!(
                        "Property {root} does not exist."
                    )));
                }
            }
        }
    }
    img.updated_at = Utc::now();
    let saved = img.clone();
    pod.images()
        .update(&id, move |i| {
            // Memberships are not the patch's: keep any changed meanwhile.
            let members = std::mem::take(&mut i.members);
            *i = saved;
            i.members = members;
        })
        .ok_or_else(|| GlanceError::no_image(&id))?;
    Ok(Json(img.to_json()))
}

// -------------------------------------------------------------------- data

async fn upload(
    State(pod): State<Pod>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    headers: HeaderMap,
    bytes: Bytes,
) -> GResult<StatusCode> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if content_type != "application/octet-stream" {
        return Err(GlanceError::unsupported_media_type(
            &content_type,
            "Content type not supported",
        ));
    }
    let img = visible_image(&pod, &caller, &id)?;
    if !can_modify(&caller, &img) {
        return Err(GlanceError::forbidden(format!(
            "Not allowed to upload image data for image {id}"
        )));
    }
    if img.status != "queued" {
        return Err(GlanceError::conflict(format!(
            "Image status transition from {} to saving is not allowed",
            img.status
        )));
    }
    let missing: Vec<&str> = [
        ("disk_format", img.disk_format.is_none()),
        ("container_format", img.container_format.is_none()),
    ]
    .iter()
    .filter(|(_, m)| *m)
    .map(|(k, _)| *k)
    .collect();
    if !missing.is_empty() {
        let msg = if missing.len() == 1 {
            format!("Property {} must be set prior to saving data.", missing[0])
        } else {
            format!(
                "Properties {} must be set prior to saving data.",
                missing.join(", ")
            )
        };
        return Err(GlanceError::bad_request(msg));
    }
    pod.images()
        .update(&id, |i| i.set_data(bytes))
        .ok_or_else(|| GlanceError::no_image(&id))?;
    Ok(StatusCode::NO_CONTENT)
}

async fn download(
    State(pod): State<Pod>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> GResult<Response> {
    let img = visible_image(&pod, &caller, &id)?;
    if img.status == "deactivated" && !caller.is_admin() {
        return Err(GlanceError::forbidden(
            "The requested image has been deactivated. Image data download is forbidden.",
        ));
    }
    let Some(data) = img.data().cloned() else {
        return Ok(StatusCode::NO_CONTENT.into_response());
    };
    let mut resp = (StatusCode::OK, data).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    if let Some(c) = img
        .checksum
        .as_deref()
        .and_then(|c| HeaderValue::from_str(c).ok())
    {
        h.insert("content-md5", c);
    }
    Ok(resp)
}

// ----------------------------------------------------------------- actions

/// `POST /v2/images/{id}/actions/deactivate`: an active image becomes
/// `deactivated` (its data can no longer be downloaded by non-admins);
/// again is a no-op; from any other status 403. Admin or the owner
/// (Glance's default `deactivate` policy).
async fn deactivate(
    State(pod): State<Pod>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> GResult<StatusCode> {
    change_activation(&pod, &caller, &id, "deactivate", "active", "deactivated")
}

/// `POST /v2/images/{id}/actions/reactivate`: the reverse.
async fn reactivate(
    State(pod): State<Pod>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> GResult<StatusCode> {
    change_activation(&pod, &caller, &id, "reactivate", "deactivated", "active")
}

fn change_activation(
    pod: &Pod,
    caller: &Caller,
    id: &str,
    action: &str,
    from: &str,
    to: &str,
) -> GResult<StatusCode> {
    let img = visible_image(pod, caller, id)?;
    // Glance's default `deactivate` / `reactivate` policy: admin, or a
    // member of the owning project.
    if !can_modify(caller, &img) {
        return Err(GlanceError::forbidden_action(action));
    }
    if img.status == to {
        return Ok(StatusCode::NO_CONTENT);
    }
    if img.status != from {
        return Err(GlanceError::forbidden(format!(
            "Not allowed to {action} image in status '{}'",
            img.status
        )));
    }
    pod.images().update(id, |i| {
        i.status = to.to_string();
        i.updated_at = Utc::now();
    });
    Ok(StatusCode::NO_CONTENT)
}

// -------------------------------------------------------------------- tags

async fn add_tag(
    State(pod): State<Pod>,
    Extension(caller): Extension<Caller>,
    Path((id, tag)): Path<(String, String)>,
) -> GResult<StatusCode> {
    let img = visible_image(&pod, &caller, &id)?;
    if !can_modify(&caller, &img) {
        return Err(GlanceError::forbidden_action("modify_image"));
    }
    if tag.chars().count() > 255 {
        return Err(GlanceError::bad_request(format!(
            "Provided object does not match schema 'image': {} is too long",
            schema::py_str(&tag)
        )));
    }
    pod.images().update(&id, |i| {
        if !i.tags.contains(&tag) {
            i.tags.push(tag);
            i.updated_at = Utc::now();
        }
    });
    Ok(StatusCode::NO_CONTENT)
}

async fn delete_tag(
    State(pod): State<Pod>,
    Extension(caller): Extension<Caller>,
    Path((id, tag)): Path<(String, String)>,
) -> GResult<StatusCode> {
    let img = visible_image(&pod, &caller, &id)?;
    if !can_modify(&caller, &img) {
        return Err(GlanceError::forbidden_action("modify_image"));
    }
    if !img.tags.contains(&tag) {
        return Err(GlanceError::not_found(format!("Tag {tag} not found")));
    }
    pod.images().update(&id, |i| {
        i.tags.retain(|t| t != &tag);
        i.updated_at = Utc::now();
    });
    Ok(StatusCode::NO_CONTENT)
}

// ----------------------------------------------------------------- schemas

async fn image_schema() -> Json<Value> {
    Json(schema::image_schema())
}

async fn images_schema() -> Json<Value> {
    Json(schema::images_schema())
}

async fn member_schema() -> Json<Value> {
    Json(schema::member_schema())
}

async fn members_schema() -> Json<Value> {
    Json(schema::members_schema())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::schema::is_uuid;

    #[test]
    fn pointers() {
        assert_eq!(decode_pointer("/name").ok(), Some(vec!["name".to_string()]));
        assert_eq!(
            decode_pointer("/a~1b~0").ok(),
            Some(vec!["a/b~".to_string()])
        );
        assert!(decode_pointer("name").is_err());
        assert!(decode_pointer("/a//b").is_err());
        assert!(decode_pointer("/a/").is_err());
        assert!(decode_pointer("/a~2").is_err());
        assert!(is_uuid("6e3b0e3f-6d5c-4bfb-9e4e-2bd5a1a5f1a1"));
        assert!(!is_uuid("6e3b0e3f6-d5c-4bfb-9e4e-2bd5a1a5f1a1"));
        assert!(!is_uuid("6e3b0e3f6d5c4bfb9e4e2bd5a1a5f1a1"));
        assert!(!is_uuid("{6e3b0e3f-6d5c-4bfb-9e4e-2bd5a1a5f1a1}"));
        assert!(!is_uuid("6e3b0e3f-6d5c-4bfb-9e4e-2bd5a1a5f1ag"));
    }

    #[test]
    fn in_filters() {
        assert!(in_filter("in:a,b", Some("b")));
        assert!(!in_filter("in:a,b", Some("c")));
        assert!(in_filter("x", Some("x")));
    }
}
