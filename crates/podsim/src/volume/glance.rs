//! What the volume API needs from the pod's image service: resolving
//! `imageRef` on create (as Cinder's `_image_uuid_from_ref`) and
//! registering the image `os-volume_upload_image` produces.

use std::collections::BTreeMap;

use axum::body::Bytes;

use super::api::{is_uuid_like, ApiError, ApiResult, Ctx};
use super::model::new_uuid;
use crate::image::Image;

/// The image attributes Cinder checks and copies into
/// `volume_image_metadata`.
#[derive(Debug, Clone)]
pub(crate) struct ImageInfo {
    pub id: String,
    pub name: Option<String>,
    pub status: String,
    /// Bytes.
    pub size: Option<u64>,
    pub min_disk: u64,
    pub min_ram: u64,
    pub disk_format: Option<String>,
    pub container_format: Option<String>,
    pub checksum: Option<String>,
    pub properties: BTreeMap<String, String>,
}

impl From<&Image> for ImageInfo {
    fn from(i: &Image) -> Self {
        ImageInfo {
            id: i.id.clone(),
            name: i.name.clone(),
            status: i.status.clone(),
            size: i.size,
            min_disk: i.min_disk,
            min_ram: i.min_ram,
            disk_format: i.disk_format.clone(),
            container_format: i.container_format.clone(),
            checksum: i.checksum.clone(),
            properties: i
                .properties
                .iter()
                .map(|(k, v)| {
                    let s = v.as_str().map_or_else(|| v.to_string(), str::to_string);
                    (k.clone(), s)
                })
                .collect(),
        }
    }
}

fn invalid_ref() -> ApiError {
    ApiError::bad_request("Invalid image identifier or unable to access requested image.")
}

/// Resolves `imageRef`: an image id (or the last segment of an image
/// href), else an image name; 409 when a name is ambiguous, 400 when
/// nothing visible matches.
pub(crate) fn find_image(ctx: &Ctx, image_ref: &str) -> ApiResult<ImageInfo> {
    let Some(images) = &ctx.images else {
        return Err(invalid_ref());
    };
    let id = image_ref.rsplit('/').next().unwrap_or(image_ref);
    if is_uuid_like(id) {
        if let Some(img) = images.get_visible(id, ctx.project_id(), ctx.is_admin) {
            return Ok(ImageInfo::from(&img));
        }
    }
    let named: Vec<Image> = images
        .list()
        .into_iter()
        .filter(|i| i.name.as_deref() == Some(image_ref))
        .filter(|i| i.is_visible_to(ctx.project_id(), ctx.is_admin))
        .collect();
    match named.as_slice() {
        [one] => Ok(ImageInfo::from(one)),
        [] => Err(invalid_ref()),
        _ => Err(ApiError::conflict(format!(
            "Multiple matches found for '{image_ref}', use an ID to be more specific."
        ))),
    }
}

/// Registers the image an upload produces (owned by the caller's project,
/// active, with a little fake data); returns its id.
pub(crate) fn register_upload(
    ctx: &Ctx,
    name: &str,
    disk_format: &str,
    container_format: &str,
    visibility: &str,
    protected: bool,
    min_disk: u64,
) -> String {
    let id = new_uuid();
    if let Some(images) = &ctx.images {
        let mut img = Image::new(&id);
        img.name = Some(name.to_string());
        img.owner = Some(ctx.project_id().to_string());
        img.visibility = visibility.to_string();
        img.protected = protected;
        img.disk_format = Some(disk_format.to_string());
        img.container_format = Some(container_format.to_string());
        img.min_disk = min_disk;
        img.set_data(Bytes::from(vec![0u8; 1024]));
        images.insert(img);
    }
    id
}
