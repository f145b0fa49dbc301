//! `POST /volumes`: the origins a volume is made from (snapshot, source
//! volume, image, backup) looked up and checked, its size, zone and type
//! settled, quota reserved, then the volume built.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use serde_json::json;

use super::backend::{backend_satisfies, volume_host};
use super::create_request::CreateRequest;
use super::{find_type, visible};
use crate::volume::api::{ApiError, ApiResult, Ctx, Reply};
use crate::volume::glance::{self, ImageInfo};
use crate::volume::model::{new_uuid, Backup, Snapshot, State, Volume, VolumeType};
use crate::volume::quotas::reserve;
use crate::volume::views::volume_detail;
use crate::volume::{encryption, Req};

/// What the new volume is made from, each as the caller may see it.
struct Origins {
    snapshot: Option<Snapshot>,
    source: Option<Volume>,
    image: Option<ImageInfo>,
    backup: Option<Backup>,
}

impl Origins {
    /// The controller's lookups, in Cinder's order (the first missing one
    /// is the 404).
    fn look_up(st: &State, ctx: &Ctx, req: &CreateRequest) -> ApiResult<Self> {
        let snapshot = match &req.snapshot_id {
            None => None,
            Some(id) => Some(
                st.snapshots
                    .get(id)
                    .filter(|s| ctx.is_admin || s.project_id == ctx.project_id())
                    .ok_or_else(|| ApiError::snapshot_not_found(id))?
                    .clone(),
            ),
        };
        let source = match &req.source_volid {
            None => None,
            Some(id) => Some(visible(st, ctx, id)?.clone()),
        };
        let image = match &req.image_ref {
            None => None,
            Some(r) => Some(glance::find_image(ctx, r)?),
        };
        let backup = match &req.backup_id {
            None => None,
            Some(id) => Some(
                st.backups
                    .get(id)
                    .filter(|b| ctx.is_admin || b.project_id == ctx.project_id())
                    .ok_or_else(|| ApiError::backup_not_found(id))?
                    .clone(),
            ),
        };
        Ok(Origins {
            snapshot,
            source,
            image,
            backup,
        })
    }

    /// The create flow's checks of the snapshot and source volume states.
    fn check_states(&self) -> ApiResult<()> {
        if let Some(s) = &self.snapshot {
            if s.status != "available" {
                return Err(ApiError::invalid_snapshot(
                    "Originating snapshot status must be one of 'available' values",
                ));
            }
        }
        if let Some(s) = &self.source {
            if s.status != "available" && s.status != "in-use" {
                return Err(ApiError::invalid_volume(
                    "Originating source volume status must be one of 'available, in-use' values",
                ));
            }
        }
        Ok(())
    }

    /// The size asked for, else the origin's; never smaller than the
    /// origin (source volume first, then snapshot, then backup).
    fn size(&self, asked: Option<u64>) -> ApiResult<u64> {
        let size = asked
            .or_else(|| self.snapshot.as_ref().map(|s| s.size))
            .or_else(|| self.source.as_ref().map(|s| s.size))
            .or_else(|| self.backup.as_ref().map(|b| b.size));
        let Some(size) = size else {
            return Err(ApiError::invalid_input(
                "Volume size 'None' must be an integer and greater than 0",
            ));
        };
        if let Some(s) = &self.source {
            if size < s.size {
                return Err(ApiError::invalid_input(format!(
                    "Volume size '{size}'GB cannot be smaller than original volume size  {}GB. They must be >= original volume size.",
                    s.size
                )));
            }
        } else if let Some(s) = &self.snapshot {
            if size < s.size {
                return Err(ApiError::invalid_input(format!(
                    "Volume size '{size}'GB cannot be smaller than the snapshot size {}GB. They must be >= original snapshot size.",
                    s.size
                )));
            }
        } else if let Some(b) = &self.backup {
            if size < b.size {
                return Err(ApiError::invalid_input(format!(
                    "Volume size {size}GB cannot be smaller than the backup size {}GB. It must be >= backup size.",
                    b.size
                )));
            }
        }
        Ok(size)
    }

    /// The image, if any, must be active and fit in `size` GiB.
    fn check_image_fits(&self, size: u64) -> ApiResult<()> {
        let Some(img) = &self.image else {
            return Ok(());
        };
        if img.status != "active" {
            return Err(ApiError::invalid_input(format!(
                "Image {} is not active.",
                img.id
            )));
        }
        let gib = 1u64 << 30;
        if let Some(bytes) = img.size {
            let needed = bytes.div_ceil(gib);
            if needed > size {
                return Err(ApiError::invalid_input(format!(
                    "Size of specified image {needed}GB is larger than volume size {size}GB."
                )));
            }
        }
        if img.min_disk > size {
            return Err(ApiError::invalid_input(format!(
                "Volume size {size}GB cannot be smaller than the image minDisk size {}GB.",
                img.min_disk
            )));
        }
        Ok(())
    }

    /// The volume the snapshot was taken of, if it still exists.
    fn snapshot_volume<'a>(&self, st: &'a State) -> Option<&'a Volume> {
        self.snapshot
            .as_ref()
            .and_then(|s| st.volumes.get(&s.volume_id))
    }

    /// The zone asked for, else the origin's; it must be the pod's.
    fn availability_zone(&self, st: &State, ctx: &Ctx, asked: Option<String>) -> ApiResult<String> {
        let source_az = self
            .source
            .as_ref()
            .map(|s| s.availability_zone.clone())
            .or_else(|| {
                self.snapshot_volume(st)
                    .map(|v| v.availability_zone.clone())
            });
        match asked.or(source_az) {
            Some(a) if a != ctx.az => Err(ApiError::bad_request(format!(
                "Availability zone '{a}' is invalid."
            ))),
            Some(a) => Ok(a),
            None => Ok(ctx.az.clone()),
        }
    }

    /// The type asked for, else the origin's, else the project's default.
    fn volume_type(&self, st: &State, ctx: &Ctx, asked: Option<String>) -> ApiResult<VolumeType> {
        let type_id = asked.or_else(|| {
            self.source
                .as_ref()
                .map(|s| s.volume_type_id.clone())
                .or_else(|| self.snapshot.as_ref().map(|s| s.volume_type_id.clone()))
        });
        let type_id = match type_id {
            Some(t) => t,
            None => st.default_type_id(ctx.project_id()).ok_or_else(|| {
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "The request cannot be fulfilled as the default volume type __DEFAULT__ cannot be found.",
                )
            })?,
        };
        st.types
            .get(&type_id)
            .cloned()
            .ok_or_else(|| ApiError::type_not_found(&type_id))
    }

    /// `volume_image_metadata`: the image's attributes, else inherited
    /// from the source volume or the snapshot's volume.
    fn image_metadata(&self, st: &State) -> BTreeMap<String, String> {
        let mut image_metadata = BTreeMap::new();
        if let Some(img) = &self.image {
            image_metadata.extend(img.properties.clone());
            image_metadata.insert("image_id".to_string(), img.id.clone());
            if let Some(n) = &img.name {
                image_metadata.insert("image_name".into(), n.clone());
            }
            if let Some(c) = &img.checksum {
                image_metadata.insert("checksum".into(), c.clone());
            }
            if let Some(f) = &img.disk_format {
                image_metadata.insert("disk_format".into(), f.clone());
            }
            if let Some(f) = &img.container_format {
                image_metadata.insert("container_format".into(), f.clone());
            }
            if let Some(s) = img.size {
                image_metadata.insert("size".into(), s.to_string());
            }
            image_metadata.insert("min_disk".into(), img.min_disk.to_string());
            image_metadata.insert("min_ram".into(), img.min_ram.to_string());
        } else if let Some(s) = &self.source {
            image_metadata = s.image_metadata.clone();
        } else if let Some(v) = self.snapshot_volume(st) {
            image_metadata = v.image_metadata.clone();
        }
        image_metadata
    }

    /// Made from an image, or from a bootable volume (directly or through
    /// a snapshot).
    fn bootable(&self, st: &State) -> bool {
        self.image.is_some()
            || self.source.as_ref().is_some_and(|s| s.bootable)
            || self.snapshot_volume(st).is_some_and(|v| v.bootable)
    }
}

/// `per_volume_gigabytes`, then the reservation of the volume and its
/// gigabytes.
fn reserve_quota(st: &State, ctx: &Ctx, vtype: &VolumeType, size: u64) -> ApiResult<()> {
    let per_volume = st.quota_limit(ctx.project_id(), "per_volume_gigabytes");
    if per_volume >= 0 && i64::try_from(size).unwrap_or(i64::MAX) > per_volume {
        return Err(ApiError::over_limit(
            "VolumeSizeExceedsLimit",
            format!(
                "Requested volume size {size}G is larger than maximum allowed limit {per_volume}G."
            ),
        ));
    }
    reserve(st, ctx.project_id(), "volumes", &vtype.name, size)
}

pub(crate) fn create(st: &mut State, ctx: &Ctx, req: &Req) -> ApiResult<Reply> {
    let request = CreateRequest::parse(ctx, &req.body)?;

    // Controller: type, snapshot, source volume, image, backup.
    let type_id = match request.volume_type.as_deref() {
        Some(t) if !t.is_empty() => Some(find_type(st, ctx, t)?),
        _ => None,
    };
    let origins = Origins::look_up(st, ctx, &request)?;
    if request.multiattach == Some(true) {
        return Err(ApiError::bad_request(
            "multiattach parameter has been removed. The default behavior is to use multiattach \
             enabled volume types. Contact your administrator to create a multiattach enabled \
             volume type and use it to create multiattach volumes.",
        ));
    }
    encryption::check_clone_type(
        st,
        type_id.as_deref(),
        origins.source.as_ref(),
        origins.snapshot.as_ref(),
    )?;

    // Flow: source states, size, availability zone, type.
    origins.check_states()?;
    let size = origins.size(request.size)?;
    origins.check_image_fits(size)?;
    let availability_zone = origins.availability_zone(st, ctx, request.availability_zone)?;
    let vtype = origins.volume_type(st, ctx, type_id)?;
    let encryption_key_id = encryption::new_key(&vtype)?;
    reserve_quota(st, ctx, &vtype, size)?;

    let image_metadata = origins.image_metadata(st);
    let bootable = origins.bootable(st);
    let created_at = st.next_created_at();
    // As Cinder's scheduler: a type whose specs the backend cannot meet
    // leaves the volume in `error` (No valid backend was found).
    let outcome = if backend_satisfies(&vtype.extra_specs) {
        "available"
    } else {
        "error"
    };
    let pending = st.pending(Some(outcome), None);
    let volume = Volume {
        id: new_uuid(),
        project_id: ctx.project_id().to_string(),
        user_id: ctx.user_id().to_string(),
        name: request.name,
        description: request.description,
        status: "creating".into(),
        previous_status: None,
        attach_status: "detached".into(),
        migration_status: None,
        size,
        availability_zone,
        bootable,
        multiattach: vtype.is_multiattach(),
        volume_type_id: vtype.id.clone(),
        snapshot_id: request.snapshot_id,
        source_volid: request.source_volid,
        group_id: None,
        metadata: request.metadata,
        admin_metadata: BTreeMap::new(),
        image_metadata,
        encryption_key_id,
        attachments: Vec::new(),
        host: volume_host(ctx),
        created_at,
        updated_at: None,
        pending: Some(pending),
    };
    let body = volume_detail(st, ctx, &volume, false);
    st.volumes.insert(volume.id.clone(), volume);
    Ok(Reply::accepted(json!({"volume": body})))
}
