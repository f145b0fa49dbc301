//! `PUT` and `DELETE /v2/images/{id}/tags/{tag}`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Extension;
use chrono::Utc;

use super::{can_modify, visible_image};
use crate::auth::Caller;
use crate::image::error::{GResult, GlanceError};
use crate::image::schema;
use crate::pod::Pod;

pub(super) async fn add_tag(
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

pub(super) async fn delete_tag(
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
