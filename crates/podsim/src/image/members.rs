//! Glance v2 image members: `/v2/images/{image_id}/members` and
//! `/v2/images/{image_id}/members/{member_id}`. The owner (or an admin)
//! shares a `shared` image with other projects; each member project sees
//! the image at once and accepts or rejects it, which decides whether
//! `GET /v2/images` lists it (its `member_status` parameter).
//!
//! The checks run in the order of Glance's `ImageMembersController` with
//! its default policies (`oslo_policy.enforce_new_defaults`), and answer
//! its messages: the image lookup (404 `Image X not found.`), the
//! visibility check (`Only shared images have members.`, a 403 or, on
//! show, a 404), the member lookup (a member project sees only its own
//! membership), then the policy (`add_member` / `delete_member`: admin or
//! owner; `modify_member`: admin or a member project, never the owner).

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde_json::{json, Value};

use super::api::{can_modify, parse_body};
use super::error::{GResult, GlanceError};
use super::{Image, ImageMember, MEMBER_STATUSES};
use crate::auth::Caller;
use crate::pod::Pod;

/// Glance's `image_member_quota` default: members per image.
const MEMBER_QUOTA: usize = 128;

/// Python's truth value of a JSON value (`if not member_id`).
fn is_falsy(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
    }
}

/// The `POST` body `{"member": "<project id>"}`, checked as Glance's
/// deserializer does (before the image is looked up).
fn member_from_body(bytes: &Bytes) -> GResult<String> {
    let expected =
        || GlanceError::bad_request(r#"Expected a member in the form: {"member": "image_id"}"#);
    let Value::Object(body) = parse_body(bytes)? else {
        return Err(expected());
    };
    match body.get("member") {
        None => Err(GlanceError::bad_request("Member to be added not specified")),
        Some(v) if is_falsy(v) => Err(GlanceError::bad_request("Member can't be empty")),
        Some(Value::String(s)) => Ok(s.clone()),
        // Glance would store a number as its text, and fail on the rest.
        Some(_) => Err(expected()),
    }
}

/// The `PUT` body `{"status": ...}`; the value is checked later, after
/// the policy, as Glance does.
fn status_from_body(bytes: &Bytes) -> GResult<Value> {
    let Value::Object(mut body) = parse_body(bytes)? else {
        return Err(GlanceError::bad_request(
            r#"Expected a status in the form: {"status": "status"}"#,
        ));
    };
    body.remove("status")
        .ok_or_else(|| GlanceError::bad_request("Status not specified"))
}

/// Glance's `_lookup_image`: the image if the caller may see it (a member
/// project may, whatever its status).
fn lookup_image(pod: &Pod, caller: &Caller, id: &str) -> GResult<Image> {
    pod.images()
        .get_visible(id, &caller.project_id, caller.is_admin())
        .ok_or_else(|| GlanceError::not_found(format!("Image {id} not found.")))
}

fn no_member(img: &Image, member_id: &str) -> GlanceError {
    GlanceError::not_found(format!(
        "{member_id} not found in the member list of the image {}.",
        img.id
    ))
}

/// Glance's `_lookup_member`: the owner and admins see every membership,
/// a member project only its own.
fn lookup_member(caller: &Caller, img: &Image, member_id: &str) -> GResult<ImageMember> {
    let may_see = can_modify(caller, img) || member_id == caller.project_id;
    img.member(member_id)
        .filter(|_| may_see)
        .cloned()
        .ok_or_else(|| no_member(img, member_id))
}

/// Glance's `_check_visibility_and_ownership`, as `Err(reason)`.
fn check_shared(img: &Image) -> Result<(), &'static str> {
    if img.visibility == "shared" {
        Ok(())
    } else {
        Err("Only shared images have members.")
    }
}

/// Adds the membership unless the image is at Glance's member quota
/// (413) or `member_id` already is a member (409).
fn add_checked(img: &mut Image, member_id: &str) -> GResult<ImageMember> {
    let attempted = img.members().len() + 1;
    if attempted > MEMBER_QUOTA {
        return Err(GlanceError::too_large(format!(
            "Image member limit exceeded for image {}: The limit has been exceeded on the \
             number of allowed image members for this image. Attempted: {attempted}, \
             Maximum: {MEMBER_QUOTA}:",
            img.id
        )));
    }
    img.add_member(member_id).ok_or_else(|| {
        GlanceError::conflict(format!(
            "Member {member_id} is duplicated for image {}",
            img.id
        ))
    })
}

/// `POST /v2/images/{id}/members`: 200 with the new `pending` membership.
pub(super) async fn create(
    State(pod): State<Pod>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    bytes: Bytes,
) -> GResult<Json<Value>> {
    let member_id = member_from_body(&bytes)?;
    let img = lookup_image(&pod, &caller, &id)?;
    check_shared(&img).map_err(|_| {
        GlanceError::forbidden(format!("Not allowed to create members for image {id}."))
    })?;
    if !can_modify(&caller, &img) {
        return Err(GlanceError::forbidden_action("add_member"));
    }
    let member = pod
        .images()
        .update(&id, |i| add_checked(i, &member_id))
        .ok_or_else(|| GlanceError::not_found(format!("Image {id} not found.")))??;
    Ok(Json(member.to_json(&id)))
}

/// `GET /v2/images/{id}/members`: every membership for the owner and
/// admins, its own for a member project.
pub(super) async fn index(
    State(pod): State<Pod>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> GResult<Json<Value>> {
    let img = lookup_image(&pod, &caller, &id)?;
    check_shared(&img).map_err(|reason| {
        GlanceError::forbidden(format!(
            "Not allowed to list members for image {id}: {reason}"
        ))
    })?;
    let all = can_modify(&caller, &img);
    let members: Vec<Value> = img
        .members()
        .iter()
        .filter(|m| all || m.member_id == caller.project_id)
        .map(|m| m.to_json(&id))
        .collect();
    Ok(Json(
        json!({"members": members, "schema": "/v2/schemas/members"}),
    ))
}

/// `GET /v2/images/{id}/members/{member_id}`; Glance answers 404 for
/// anything it refuses here.
pub(super) async fn show(
    State(pod): State<Pod>,
    Extension(caller): Extension<Caller>,
    Path((id, member_id)): Path<(String, String)>,
) -> GResult<Json<Value>> {
    let img = lookup_image(&pod, &caller, &id)?;
    check_shared(&img).map_err(GlanceError::not_found)?;
    Ok(Json(lookup_member(&caller, &img, &member_id)?.to_json(&id)))
}

/// `PUT /v2/images/{id}/members/{member_id}` with `{"status": ...}`: the
/// member project accepts, rejects or resets its membership.
pub(super) async fn update(
    State(pod): State<Pod>,
    Extension(caller): Extension<Caller>,
    Path((id, member_id)): Path<(String, String)>,
    bytes: Bytes,
) -> GResult<Json<Value>> {
    let status = status_from_body(&bytes)?;
    let img = lookup_image(&pod, &caller, &id)?;
    check_shared(&img).map_err(|_| {
        GlanceError::forbidden(format!("Not allowed to update members for image {id}."))
    })?;
    lookup_member(&caller, &img, &member_id)?;
    // Glance's default `modify_member`: admin, or the project the image is
    // shared with (the image's `member` is unset for its owner).
    if !caller.is_admin() && img.owner.as_deref() == Some(caller.project_id.as_str()) {
        return Err(GlanceError::forbidden_action("modify_member"));
    }
    let status = status
        .as_str()
        .filter(|s| MEMBER_STATUSES.contains(s))
        .ok_or_else(|| {
            GlanceError::bad_request(
                r#"Incorrect request: Status must be "pending", "accepted" or "rejected"."#,
            )
        })?;
    let member = pod
        .images()
        .update(&id, |i| i.set_member_status(&member_id, status))
        .ok_or_else(|| GlanceError::not_found(format!("Image {id} not found.")))?
        .ok_or_else(|| no_member(&img, &member_id))?;
    Ok(Json(member.to_json(&id)))
}

/// `DELETE /v2/images/{id}/members/{member_id}`: 204; the owner or an
/// admin only (Glance's default `delete_member`).
pub(super) async fn delete(
    State(pod): State<Pod>,
    Extension(caller): Extension<Caller>,
    Path((id, member_id)): Path<(String, String)>,
) -> GResult<StatusCode> {
    let img = lookup_image(&pod, &caller, &id)?;
    check_shared(&img).map_err(|_| {
        GlanceError::forbidden(format!("Not allowed to delete members for image {id}."))
    })?;
    lookup_member(&caller, &img, &member_id)?;
    if !can_modify(&caller, &img) {
        return Err(GlanceError::forbidden_action("delete_member"));
    }
    pod.images().update(&id, |i| i.remove_member(&member_id));
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_as_glance_reads_them() {
        let member = |s: &'static str| member_from_body(&Bytes::from(s)).map_err(|e| e.explanation);
        assert_eq!(member(r#"{"member": "p2"}"#), Ok("p2".to_string()));
        assert_eq!(
            member("{}"),
            Err("Member to be added not specified".to_string())
        );
        for empty in [
            r#"{"member": ""}"#,
            r#"{"member": null}"#,
            r#"{"member": 0}"#,
        ] {
            assert_eq!(member(empty), Err("Member can't be empty".to_string()));
        }
        assert_eq!(
            member(r#"["p2"]"#),
            Err(r#"Expected a member in the form: {"member": "image_id"}"#.to_string())
        );
        assert_eq!(member(""), Err("Body expected in request.".to_string()));
        let status = |s: &'static str| status_from_body(&Bytes::from(s)).map_err(|e| e.explanation);
        assert_eq!(status(r#"{"status": 1}"#), Ok(json!(1)));
        assert_eq!(status("{}"), Err("Status not specified".to_string()));
        assert_eq!(
            status("3"),
            Err(r#"Expected a status in the form: {"status": "status"}"#.to_string())
        );
    }
}
