//! `/volumes`: list (summary, detail, `summary` 3.12+), create, show,
//! update, delete, metadata; one module per operation, lookups shared by
//! the rest of the volume API here.

mod backend;
mod create;
mod create_request;
mod delete;
mod list;
mod metadata;
mod update;

#[cfg(test)]
use std::collections::BTreeMap;

use serde_json::json;

pub(crate) use self::backend::{host_name, volume_host};
pub(crate) use self::create::create;
pub(crate) use self::delete::delete;
pub(crate) use self::list::{detail, index, parse_dict_filter, summary};
pub(crate) use self::metadata::{
    meta_body, meta_create, meta_delete, meta_index, meta_item, meta_replace, meta_show,
    meta_update,
};
pub(crate) use self::update::update;
use super::api::{is_uuid_like, ApiError, ApiResult, Ctx, Reply};
#[cfg(test)]
use super::model::new_uuid;
use super::model::{State, Volume};
use super::views::volume_detail;
use super::Req;

/// The volume `id` as the caller may see it (other projects: 404 unless admin).
pub(crate) fn visible<'a>(st: &'a State, ctx: &Ctx, id: &str) -> ApiResult<&'a Volume> {
    st.volumes
        .get(id)
        .filter(|v| ctx.is_admin || v.project_id == ctx.project_id())
        .ok_or_else(|| ApiError::volume_not_found(id))
}

pub(crate) fn visible_mut<'a>(st: &'a mut State, ctx: &Ctx, id: &str) -> ApiResult<&'a mut Volume> {
    st.volumes
        .get_mut(id)
        .filter(|v| ctx.is_admin || v.project_id == ctx.project_id())
        .ok_or_else(|| ApiError::volume_not_found(id))
}

/// Recomputes a volume's status from its attachments, as Cinder's
/// `_get_statuses_from_attachments` (after a detach or an attachment change).
pub(crate) fn settle_after_detach(v: &mut Volume) {
    let has = |s: &str| v.attachments.iter().any(|a| a.attach_status == s);
    let (status, attach_status) = if has("attached") {
        ("in-use", "attached")
    } else if has("attaching") {
        ("attaching", "attaching")
    } else if has("detaching") {
        ("detaching", "detaching")
    } else if has("reserved") {
        ("reserved", "reserved")
    } else {
        ("available", "detached")
    };
    if attach_status != "attached" {
        v.admin_metadata.remove("attached_mode");
    }
    v.status = status.into();
    v.attach_status = attach_status.into();
    v.touch();
}

/// Looks a volume type up by id or name, as `get_by_name_or_id`.
pub(crate) fn find_type(st: &State, ctx: &Ctx, ident: &str) -> ApiResult<String> {
    let visible =
        |t: &&super::model::VolumeType| State::type_visible(t, ctx.project_id(), ctx.is_admin);
    if is_uuid_like(ident) {
        if let Some(t) = st.types.get(ident).filter(visible) {
            return Ok(t.id.clone());
        }
        return st
            .types
            .values()
            .filter(visible)
            .find(|t| t.name == ident)
            .map(|t| t.id.clone())
            .ok_or_else(|| ApiError::type_not_found(ident));
    }
    st.types
        .values()
        .filter(visible)
        .find(|t| t.name == ident)
        .map(|t| t.id.clone())
        .ok_or_else(|| ApiError::type_name_not_found(ident))
}

pub(crate) fn show(st: &mut State, ctx: &Ctx, req: &Req) -> ApiResult<Reply> {
    let v = visible(st, ctx, req.id(0))?;
    Ok(Reply::ok(
        json!({"volume": volume_detail(st, ctx, v, true)}),
    ))
}

/// An `available` volume of `project_id` (unit tests).
#[cfg(test)]
pub(crate) fn new_volume_for_tests(st: &mut State, project_id: &str, size: u64) -> Volume {
    let type_id = st.default_type_id(project_id).unwrap_or_default();
    let created_at = st.next_created_at();
    Volume {
        id: new_uuid(),
        project_id: project_id.into(),
        user_id: "u".into(),
        name: None,
        description: None,
        status: "available".into(),
        previous_status: None,
        attach_status: "detached".into(),
        migration_status: None,
        size,
        availability_zone: "nova".into(),
        bootable: false,
        multiattach: false,
        volume_type_id: type_id,
        snapshot_id: None,
        source_volid: None,
        group_id: None,
        metadata: BTreeMap::new(),
        admin_metadata: BTreeMap::new(),
        image_metadata: BTreeMap::new(),
        encryption_key_id: None,
        attachments: Vec::new(),
        host: "podsim@lvmdriver-1#lvmdriver-1".into(),
        created_at,
        updated_at: None,
        pending: None,
    }
}
