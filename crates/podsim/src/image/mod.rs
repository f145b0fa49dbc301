//! Glance v2 subset under `/image` (catalog URL `{base}/image`): images
//! (create, list with filters, sorting and paging, show, JSON-patch update,
//! delete), image data upload and download, image tags, image members
//! (sharing a `shared` image with other projects), and the image and member
//! schemas. Errors are rendered as webob renders them (see [`error`]).
//!
//! An [`ImageService`] can be shared by several pods (one Glance for every
//! pod); Nova reads it through [`ImageService::get`] to check `imageRef`.

mod api;
pub(crate) mod error;
mod members;
pub(crate) mod schema;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};

use axum::body::Bytes;
use axum::Router;
use chrono::{DateTime, Utc};
use md5::{Digest, Md5};
use serde_json::{json, Map, Value};
use sha2::Sha512;

use crate::pod::Pod;

/// Disk formats Glance accepts by default.
pub const DISK_FORMATS: [&str; 11] = [
    "ami", "ari", "aki", "vhd", "vhdx", "vmdk", "raw", "qcow2", "vdi", "iso", "ploop",
];
/// Container formats Glance accepts by default.
pub const CONTAINER_FORMATS: [&str; 8] = [
    "ami",
    "ari",
    "aki",
    "bare",
    "ovf",
    "ova",
    "docker",
    "compressed",
];

/// Statuses of an image membership.
pub const MEMBER_STATUSES: [&str; 3] = ["pending", "accepted", "rejected"];

/// One image membership: a `shared` image is shared with project
/// `member_id`, which accepts or rejects it (Glance's `image_members`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageMember {
    /// The project the image is shared with.
    pub member_id: String,
    /// `pending`, `accepted` or `rejected`.
    pub status: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl ImageMember {
    /// The API representation (`GET /v2/images/{id}/members/{member_id}`).
    pub fn to_json(&self, image_id: &str) -> Value {
        json!({
            "created_at": glance_time(self.created_at),
            "image_id": image_id,
            "member_id": self.member_id,
            "schema": "/v2/schemas/member",
            "status": self.status,
            "updated_at": glance_time(self.updated_at),
        })
    }
}

/// One image record.
#[derive(Debug, Clone)]
pub struct Image {
    pub id: String,
    pub name: Option<String>,
    /// `queued`, `saving`, `active`, `killed`, `deleted`, `deactivated`, ...
    pub status: String,
    /// `public`, `private`, `shared` or `community`.
    pub visibility: String,
    /// Owning project id.
    pub owner: Option<String>,
    pub protected: bool,
    pub os_hidden: bool,
    pub disk_format: Option<String>,
    pub container_format: Option<String>,
    /// GiB.
    pub min_disk: u64,
    /// MiB.
    pub min_ram: u64,
    /// Bytes of image data, once uploaded.
    pub size: Option<u64>,
    pub virtual_size: Option<u64>,
    /// md5 hex of the data.
    pub checksum: Option<String>,
    pub os_hash_algo: Option<String>,
    pub os_hash_value: Option<String>,
    pub tags: Vec<String>,
    /// Additional (non-base) properties, e.g. `hw_disk_bus`.
    pub properties: BTreeMap<String, Value>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    data: Option<Bytes>,
    /// The projects a `shared` image is shared with (kept whatever the
    /// visibility, as Glance keeps them; they count only while `shared`).
    members: Vec<ImageMember>,
    seq: u64,
}

impl Image {
    /// A new `queued` image with Glance's defaults (visibility `shared`).
    pub fn new(id: &str) -> Self {
        let now = Utc::now();
        Self {
            id: id.to_string(),
            name: None,
            status: "queued".into(),
            visibility: "shared".into(),
            owner: None,
            protected: false,
            os_hidden: false,
            disk_format: None,
            container_format: None,
            min_disk: 0,
            min_ram: 0,
            size: None,
            virtual_size: None,
            checksum: None,
            os_hash_algo: None,
            os_hash_value: None,
            tags: Vec::new(),
            properties: BTreeMap::new(),
            created_at: now,
            updated_at: now,
            data: None,
            members: Vec::new(),
            seq: 0,
        }
    }

    /// Stores `data` as the image's content: size, md5 checksum and sha512
    /// multihash, status `active`.
    pub fn set_data(&mut self, data: Bytes) {
        self.size = Some(data.len() as u64);
        self.virtual_size = None;
        self.checksum = Some(format!("{:x}", Md5::digest(&data)));
        self.os_hash_algo = Some("sha512".into());
        self.os_hash_value = Some(format!("{:x}", Sha512::digest(&data)));
        self.status = "active".into();
        self.data = Some(data);
        self.updated_at = Utc::now();
    }

    /// The uploaded data, if any.
    pub fn data(&self) -> Option<&Bytes> {
        self.data.as_ref()
    }

    /// Glance's `get_image` rule: may `project` (admin or not) see this
    /// image? A `shared` image is visible to its members whatever their
    /// membership status.
    pub fn is_visible_to(&self, project_id: &str, is_admin: bool) -> bool {
        if is_admin {
            return true;
        }
        match self.visibility.as_str() {
            "public" | "community" => true,
            "shared" => {
                self.owner.as_deref() == Some(project_id) || self.member(project_id).is_some()
            }
            _ => self.owner.as_deref() == Some(project_id),
        }
    }

    /// Does `GET /v2/images` list this image to `project` because it is a
    /// member of it? Only `shared` images, and only memberships of
    /// `member_status` (`all`: any).
    pub fn is_listed_member(&self, project_id: &str, member_status: &str) -> bool {
        self.visibility == "shared"
            && self
                .member(project_id)
                .is_some_and(|m| member_status == "all" || m.status == member_status)
    }

    /// The image's memberships, oldest first.
    pub fn members(&self) -> &[ImageMember] {
        &self.members
    }

    /// The membership of `project_id`, if any.
    pub fn member(&self, project_id: &str) -> Option<&ImageMember> {
        self.members.iter().find(|m| m.member_id == project_id)
    }

    /// Shares the image with `member_id` (status `pending`); None if that
    /// project already is a member.
    pub fn add_member(&mut self, member_id: &str) -> Option<ImageMember> {
        if self.member(member_id).is_some() {
            return None;
        }
        let now = Utc::now();
        let member = ImageMember {
            member_id: member_id.to_string(),
            status: "pending".into(),
            created_at: now,
            updated_at: now,
        };
        self.members.push(member.clone());
        Some(member)
    }

    /// Sets a membership's status (its `updated_at` moves only when the
    /// status changes, as an SQL UPDATE of nothing leaves it); None if
    /// `member_id` is no member.
    pub fn set_member_status(&mut self, member_id: &str, status: &str) -> Option<ImageMember> {
        let member = self.members.iter_mut().find(|m| m.member_id == member_id)?;
        if member.status != status {
            member.status = status.to_string();
            member.updated_at = Utc::now();
        }
        Some(member.clone())
    }

    /// Ends a membership; true if there was one.
    pub fn remove_member(&mut self, member_id: &str) -> bool {
        let before = self.members.len();
        self.members.retain(|m| m.member_id != member_id);
        self.members.len() != before
    }

    /// The API representation (`GET /v2/images/{id}`).
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        for (k, v) in &self.properties {
            m.insert(k.clone(), v.clone());
        }
        let base = json!({
            "name": self.name,
            "disk_format": self.disk_format,
            "container_format": self.container_format,
            "visibility": self.visibility,
            "size": self.size,
            "virtual_size": self.virtual_size,
            "status": self.status,
            "checksum": self.checksum,
            "protected": self.protected,
            "min_ram": self.min_ram,
            "min_disk": self.min_disk,
            "owner": self.owner,
            "os_hidden": self.os_hidden,
            "os_hash_algo": self.os_hash_algo,
            "os_hash_value": self.os_hash_value,
            "id": self.id,
            "created_at": glance_time(self.created_at),
            "updated_at": glance_time(self.updated_at),
            "tags": self.tags,
            "self": format!("/v2/images/{}", self.id),
            "file": format!("/v2/images/{}/file", self.id),
            "schema": "/v2/schemas/image",
        });
        if let Value::Object(b) = base {
            m.extend(b);
        }
        Value::Object(m)
    }
}

/// Glance's `timeutils.isotime`: `2026-11-25T08:00:00Z`.
pub(crate) fn glance_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

#[derive(Default)]
struct Store {
    images: HashMap<String, Image>,
    seq: u64,
}

/// Images. Cheap to clone; clones share state, so one `ImageService` can
/// serve several pods (one Glance for every pod).
#[derive(Clone, Default)]
pub struct ImageService {
    inner: Arc<RwLock<Store>>,
}

impl std::fmt::Debug for ImageService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImageService").finish_non_exhaustive()
    }
}

/// Content of images made by [`ImageService::add_image`] and server
/// snapshots: a qcow2 magic and zeros (the checksums are real).
fn fake_disk(len: usize) -> Bytes {
    let mut data = vec![0u8; len];
    data[..4].copy_from_slice(b"QFI\xfb");
    Bytes::from(data)
}

impl ImageService {
    fn read<R>(&self, f: impl FnOnce(&Store) -> R) -> R {
        let guard = self.inner.read().unwrap_or_else(|p| p.into_inner());
        f(&guard)
    }

    fn write<R>(&self, f: impl FnOnce(&mut Store) -> R) -> R {
        let mut guard = self.inner.write().unwrap_or_else(|p| p.into_inner());
        f(&mut guard)
    }

    /// Adds (or replaces) a public, active `qcow2`/`bare` image with 1 KiB
    /// of fake data, e.g. the demo's `cirros-0.6.2-x86_64-disk`.
    pub fn add_image(&self, id: &str, name: &str) -> Image {
        let mut img = Image::new(id);
        img.name = Some(name.to_string());
        img.visibility = "public".into();
        img.disk_format = Some("qcow2".into());
        img.container_format = Some("bare".into());
        img.set_data(fake_disk(1024));
        self.insert(img)
    }

    /// Adds (or replaces) an image as given.
    pub fn insert(&self, mut image: Image) -> Image {
        self.write(|s| {
            s.seq += 1;
            image.seq = s.seq;
            s.images.insert(image.id.clone(), image.clone());
        });
        image
    }

    /// An image by id, whoever owns it.
    pub fn get(&self, id: &str) -> Option<Image> {
        self.read(|s| s.images.get(id).cloned())
    }

    /// Every image.
    pub fn list(&self) -> Vec<Image> {
        let mut v: Vec<Image> = self.read(|s| s.images.values().cloned().collect());
        v.sort_by_key(|i| i.seq);
        v
    }

    /// Removes an image; true if it existed.
    pub fn remove(&self, id: &str) -> bool {
        self.write(|s| s.images.remove(id).is_some())
    }

    /// An image `project` may see, as Glance's `get_image` policy decides.
    pub(crate) fn get_visible(&self, id: &str, project_id: &str, is_admin: bool) -> Option<Image> {
        self.get(id)
            .filter(|i| i.is_visible_to(project_id, is_admin))
    }

    /// Nova's `createImage`: a snapshot image owned by the server's
    /// project, active at once, with Nova's snapshot properties.
    pub(crate) fn create_snapshot(
        &self,
        name: &str,
        owner: &str,
        base: Option<&Image>,
        properties: BTreeMap<String, Value>,
    ) -> Image {
        let mut img = Image::new(&uuid::Uuid::new_v4().to_string());
        img.name = Some(name.to_string());
        img.owner = Some(owner.to_string());
        img.visibility = "private".into();
        img.disk_format = base
            .and_then(|b| b.disk_format.clone())
            .or(Some("qcow2".into()));
        img.container_format = base
            .and_then(|b| b.container_format.clone())
            .or(Some("bare".into()));
        if let Some(b) = base {
            img.min_disk = b.min_disk;
            img.min_ram = b.min_ram;
        }
        img.properties = properties;
        img.set_data(fake_disk(1024));
        self.insert(img)
    }

    pub(crate) fn update<R>(&self, id: &str, f: impl FnOnce(&mut Image) -> R) -> Option<R> {
        self.write(|s| s.images.get_mut(id).map(f))
    }
}

/// Routes under `/image/v2/...`.
pub(crate) fn routes(pod: Pod) -> Router {
    api::routes(pod)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_image_is_active_with_checksums() {
        let svc = ImageService::default();
        let img = svc.add_image("6e3b0e3f-6d5c-4bfb-9e4e-2bd5a1a5f1a1", "cirros");
        assert_eq!(img.status, "active");
        assert_eq!(img.size, Some(1024));
        assert_eq!(img.checksum.as_deref().map(str::len), Some(32));
        assert_eq!(img.os_hash_value.as_deref().map(str::len), Some(128));
        let j = img.to_json();
        assert_eq!(j["visibility"], "public");
        assert_eq!(j["self"], "/v2/images/6e3b0e3f-6d5c-4bfb-9e4e-2bd5a1a5f1a1");
        assert!(svc.get(&img.id).is_some());
    }

    #[test]
    fn visibility_rules() {
        let mut img = Image::new("x");
        img.owner = Some("p1".into());
        img.visibility = "private".into();
        assert!(img.is_visible_to("p1", false));
        assert!(!img.is_visible_to("p2", false));
        assert!(img.is_visible_to("p2", true));
        img.visibility = "community".into();
        assert!(img.is_visible_to("p2", false));
    }

    #[test]
    fn members_see_shared_images() {
        let mut img = Image::new("x");
        img.owner = Some("p1".into());
        img.visibility = "shared".into();
        assert!(!img.is_visible_to("p2", false));
        let added = img.add_member("p2");
        assert_eq!(added.as_ref().map(|m| m.status.as_str()), Some("pending"));
        assert!(img.add_member("p2").is_none());
        assert!(img.is_visible_to("p2", false));
        assert!(!img.is_visible_to("p3", false));
        assert!(img.is_listed_member("p2", "pending"));
        assert!(img.is_listed_member("p2", "all"));
        assert!(!img.is_listed_member("p2", "accepted"));
        let m = img.set_member_status("p2", "accepted");
        assert_eq!(m.map(|m| m.status), Some("accepted".to_string()));
        assert!(img.is_listed_member("p2", "accepted"));
        assert!(img.set_member_status("p3", "accepted").is_none());
        // Members count only while the image is shared.
        img.visibility = "private".into();
        assert!(!img.is_visible_to("p2", false));
        assert!(!img.is_listed_member("p2", "all"));
        img.visibility = "shared".into();
        assert!(img.remove_member("p2"));
        assert!(!img.remove_member("p2"));
        assert!(!img.is_visible_to("p2", false));
        assert!(img.members().is_empty());
    }
}
