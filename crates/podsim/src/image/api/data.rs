//! Image data: `PUT` and `GET /v2/images/{id}/file`.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;

use super::{can_modify, visible_image};
use crate::auth::Caller;
use crate::image::error::{GResult, GlanceError};
use crate::pod::Pod;

pub(super) async fn upload(
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

pub(super) async fn download(
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
