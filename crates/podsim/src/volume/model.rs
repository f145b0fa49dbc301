//! The pod's block-storage state: volumes, attachments, snapshots, backups,
//! volume types and quotas. Time-driven status changes (`creating` →
//! `available`, `deleting` → gone, ...) are applied lazily by [`State::tick`]
//! at the start of every operation, so no background task is needed.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

/// How long asynchronous transitions take by default (`creating` → `available`...).
pub(crate) const DEFAULT_TRANSITION: Duration = Duration::from_millis(200);
/// Default total capacity of the pod's single pool.
pub(crate) const DEFAULT_CAPACITY_GB: u64 = 10_000;
/// Name of the volume type every Cinder starts with.
pub(crate) const DEFAULT_TYPE_NAME: &str = "__DEFAULT__";

/// `YYYY-MM-DDTHH:MM:SS.ffffff`, the way Cinder serializes its datetimes.
pub(crate) fn ts(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6f").to_string()
}

pub(crate) fn ts_opt(t: Option<DateTime<Utc>>) -> Value {
    t.map_or(Value::Null, |t| json!(ts(t)))
}

pub(crate) fn new_uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// A change that completes after a delay.
#[derive(Debug, Clone)]
pub(crate) struct Pending {
    pub at: Instant,
    /// The status to move to; `None`: the resource disappears.
    pub status: Option<String>,
    /// A new size (extend).
    pub size: Option<u64>,
}

#[derive(Debug, Clone)]
pub(crate) struct Attachment {
    pub id: String,
    pub volume_id: String,
    pub instance_uuid: Option<String>,
    pub attached_host: Option<String>,
    pub mountpoint: Option<String>,
    pub attach_time: Option<DateTime<Utc>>,
    pub detach_time: Option<DateTime<Utc>>,
    /// `reserved`, `attaching`, `attached`, `detached`...
    pub attach_status: String,
    pub attach_mode: String,
    pub connector: Option<Value>,
    pub connection_info: Option<Value>,
}

#[derive(Debug, Clone)]
pub(crate) struct Volume {
    pub id: String,
    pub project_id: String,
    pub user_id: String,
    pub name: Option<String>,
    pub description: Option<String>,
    pub status: String,
    pub previous_status: Option<String>,
    pub attach_status: String,
    pub migration_status: Option<String>,
    pub size: u64,
    pub availability_zone: String,
    pub bootable: bool,
    pub multiattach: bool,
    pub volume_type_id: String,
    pub snapshot_id: Option<String>,
    pub source_volid: Option<String>,
    pub group_id: Option<String>,
    pub metadata: BTreeMap<String, String>,
    /// `readonly`, `attached_mode` (shown to users inside `metadata`).
    pub admin_metadata: BTreeMap<String, String>,
    /// `volume_image_metadata`.
    pub image_metadata: BTreeMap<String, String>,
    /// Set when the volume was created with an encrypted type (Cinder's
    /// `encryption_key_id`, a key manager's id); `encrypted` in its views.
    pub encryption_key_id: Option<String>,
    pub attachments: Vec<Attachment>,
    pub host: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: Option<DateTime<Utc>>,
    pub pending: Option<Pending>,
}

impl Volume {
    /// Attachments that are complete (the ones a volume view lists).
    pub fn attached(&self) -> impl Iterator<Item = &Attachment> {
        self.attachments
            .iter()
            .filter(|a| a.attach_status == "attached")
    }

    pub fn touch(&mut self) {
        self.updated_at = Some(Utc::now());
    }

    /// Moves to `status` now and back to `then` (or `previous_status`) later.
    pub fn set_status(&mut self, status: &str) {
        self.status = status.to_string();
        self.touch();
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Snapshot {
    pub id: String,
    pub project_id: String,
    pub user_id: String,
    pub volume_id: String,
    pub volume_type_id: String,
    pub name: Option<String>,
    pub description: Option<String>,
    pub status: String,
    pub progress: String,
    pub size: u64,
    pub metadata: BTreeMap<String, String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: Option<DateTime<Utc>>,
    pub pending: Option<Pending>,
}

#[derive(Debug, Clone)]
pub(crate) struct Backup {
    pub id: String,
    pub project_id: String,
    pub user_id: String,
    pub volume_id: String,
    pub snapshot_id: Option<String>,
    pub name: Option<String>,
    pub description: Option<String>,
    pub status: String,
    pub size: u64,
    pub availability_zone: String,
    pub container: Option<String>,
    pub is_incremental: bool,
    pub metadata: BTreeMap<String, String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: Option<DateTime<Utc>>,
    pub data_timestamp: DateTime<Utc>,
    pub pending: Option<Pending>,
}

#[derive(Debug, Clone)]
pub(crate) struct VolumeType {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub is_public: bool,
    pub extra_specs: BTreeMap<String, String>,
    /// Projects with access (private types).
    pub projects: BTreeSet<String>,
    /// `/types/{id}/encryption`: at most one spec per type.
    pub encryption: Option<Encryption>,
    pub created_at: DateTime<Utc>,
    pub updated_at: Option<DateTime<Utc>>,
}

/// A volume type's encryption spec (a row of Cinder's `encryption` table).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Encryption {
    pub encryption_id: String,
    pub provider: String,
    /// `front-end` or `back-end`.
    pub control_location: String,
    pub cipher: Option<String>,
    pub key_size: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub updated_at: Option<DateTime<Utc>>,
}

impl Encryption {
    /// Whether two specs encrypt alike (Cinder's
    /// `volume_types_encryption_changed`, which ignores ids and times).
    pub fn same_spec(a: Option<&Encryption>, b: Option<&Encryption>) -> bool {
        match (a, b) {
            (None, None) => true,
            (Some(a), Some(b)) => {
                a.provider == b.provider
                    && a.control_location == b.control_location
                    && a.cipher == b.cipher
                    && a.key_size == b.key_size
            }
            _ => false,
        }
    }
}

impl VolumeType {
    /// `multiattach="<is> True"`.
    pub fn is_multiattach(&self) -> bool {
        self.extra_specs
            .get("multiattach")
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("<is> true"))
    }
}

/// A volume offered to another project (`/os-volume-transfer`). Accepted
/// or deleted transfers are gone (Cinder soft-deletes them, and no API
/// shows deleted ones).
#[derive(Debug, Clone)]
pub(crate) struct Transfer {
    pub id: String,
    pub volume_id: String,
    pub name: Option<String>,
    /// The key the accepting project must give (Cinder keeps a salted
    /// hash of it; it is shown once, in the create answer).
    pub auth_key: String,
    /// 3.55: the volume's snapshots stay with the donor.
    pub no_snapshots: bool,
    /// The volume's project when the transfer was created.
    pub source_project_id: String,
    pub created_at: DateTime<Utc>,
}

/// Quota resources that are not per volume type, with their defaults.
pub(crate) const GLOBAL_QUOTAS: [(&str, i64); 7] = [
    ("volumes", 10),
    ("per_volume_gigabytes", -1),
    ("snapshots", 10),
    ("gigabytes", 1000),
    ("backups", 10),
    ("backup_gigabytes", 1000),
    ("groups", 10),
];

#[derive(Debug)]
pub(crate) struct State {
    pub volumes: BTreeMap<String, Volume>,
    pub snapshots: BTreeMap<String, Snapshot>,
    pub backups: BTreeMap<String, Backup>,
    pub types: BTreeMap<String, VolumeType>,
    pub transfers: BTreeMap<String, Transfer>,
    /// Per-project quota overrides.
    pub quotas: HashMap<String, BTreeMap<String, i64>>,
    /// Per-project default volume type (3.62 default-types).
    pub default_types: HashMap<String, String>,
    pub transition: Duration,
    pub capacity_gb: u64,
    pub service_uuid: String,
    /// The last creation time handed out, to keep `created_at` strictly
    /// increasing (a stable default sort).
    last_created: DateTime<Utc>,
    /// The earliest deadline of a pending transition, if any (lets
    /// [`State::tick`] skip its scan).
    next_due: Option<Instant>,
}

impl Default for State {
    fn default() -> Self {
        let now = Utc::now();
        let default_type = VolumeType {
            id: new_uuid(),
            name: DEFAULT_TYPE_NAME.into(),
            description: Some("Default Volume Type".into()),
            is_public: true,
            extra_specs: BTreeMap::new(),
            projects: BTreeSet::new(),
            encryption: None,
            created_at: now,
            updated_at: None,
        };
        let mut types = BTreeMap::new();
        types.insert(default_type.id.clone(), default_type);
        State {
            volumes: BTreeMap::new(),
            snapshots: BTreeMap::new(),
            backups: BTreeMap::new(),
            types,
            transfers: BTreeMap::new(),
            quotas: HashMap::new(),
            default_types: HashMap::new(),
            transition: DEFAULT_TRANSITION,
            capacity_gb: DEFAULT_CAPACITY_GB,
            service_uuid: new_uuid(),
            last_created: now,
            next_due: None,
        }
    }
}

impl State {
    /// A creation time later than every earlier one.
    pub fn next_created_at(&mut self) -> DateTime<Utc> {
        let mut now = Utc::now();
        if now <= self.last_created {
            now = self.last_created + chrono::Duration::microseconds(1);
        }
        self.last_created = now;
        now
    }

    /// A transition due after the configured delay.
    pub fn pending(&mut self, status: Option<&str>, size: Option<u64>) -> Pending {
        let at = Instant::now() + self.transition;
        self.next_due = Some(self.next_due.map_or(at, |d| d.min(at)));
        Pending {
            at,
            status: status.map(str::to_string),
            size,
        }
    }

    /// Makes every pending transition due now, and applies them.
    pub fn finish_pending(&mut self) {
        let now = Instant::now();
        let pendings = self
            .volumes
            .values_mut()
            .filter_map(|v| v.pending.as_mut())
            .chain(
                self.snapshots
                    .values_mut()
                    .filter_map(|s| s.pending.as_mut()),
            )
            .chain(self.backups.values_mut().filter_map(|b| b.pending.as_mut()));
        for p in pendings {
            p.at = now;
        }
        self.next_due = Some(now);
        self.tick();
    }

    /// Applies every transition that is due.
    pub fn tick(&mut self) {
        let now = Instant::now();
        if self.next_due.is_none_or(|d| now < d) {
            return;
        }
        let due = |p: &Option<Pending>| p.as_ref().is_some_and(|p| p.at <= now);

        let mut gone_volumes = Vec::new();
        for v in self.volumes.values_mut() {
            if !due(&v.pending) {
                continue;
            }
            if let Some(p) = v.pending.take() {
                match p.status {
                    None => gone_volumes.push(v.id.clone()),
                    Some(s) => {
                        v.status = s;
                        v.previous_status = None;
                        if let Some(size) = p.size {
                            v.size = size;
                        }
                        v.touch();
                    }
                }
            }
        }
        for id in gone_volumes {
            self.volumes.remove(&id);
            self.snapshots.retain(|_, s| s.volume_id != id);
            // `volume_destroy` deletes the volume's transfers too.
            self.transfers.retain(|_, t| t.volume_id != id);
        }

        let mut gone = Vec::new();
        for s in self.snapshots.values_mut() {
            if !due(&s.pending) {
                continue;
            }
            if let Some(p) = s.pending.take() {
                match p.status {
                    None => gone.push(s.id.clone()),
                    Some(st) => {
                        s.status = st;
                        s.progress = "100%".into();
                        s.updated_at = Some(Utc::now());
                    }
                }
            }
        }
        for id in gone {
            self.snapshots.remove(&id);
        }

        let mut gone = Vec::new();
        for b in self.backups.values_mut() {
            if !due(&b.pending) {
                continue;
            }
            if let Some(p) = b.pending.take() {
                match p.status {
                    None => gone.push(b.id.clone()),
                    Some(st) => {
                        b.status = st;
                        b.updated_at = Some(Utc::now());
                    }
                }
            }
        }
        for id in gone {
            self.backups.remove(&id);
        }
        self.next_due = self
            .volumes
            .values()
            .filter_map(|v| v.pending.as_ref())
            .chain(self.snapshots.values().filter_map(|s| s.pending.as_ref()))
            .chain(self.backups.values().filter_map(|b| b.pending.as_ref()))
            .map(|p| p.at)
            .min();
    }

    // ------------------------------------------------------------ types

    pub fn type_by_name(&self, name: &str) -> Option<&VolumeType> {
        self.types.values().find(|t| t.name == name)
    }

    pub fn default_type_id(&self, project_id: &str) -> Option<String> {
        if let Some(id) = self.default_types.get(project_id) {
            if self.types.contains_key(id) {
                return Some(id.clone());
            }
        }
        self.type_by_name(DEFAULT_TYPE_NAME).map(|t| t.id.clone())
    }

    /// Whether `project_id` (non-admin) may see the type.
    pub fn type_visible(t: &VolumeType, project_id: &str, is_admin: bool) -> bool {
        is_admin || t.is_public || t.projects.contains(project_id)
    }

    pub fn type_name(&self, id: &str) -> Option<String> {
        self.types.get(id).map(|t| t.name.clone())
    }

    // ----------------------------------------------------------- quotas

    /// Every quota resource: the globals plus `volumes_<type>`,
    /// `gigabytes_<type>`, `snapshots_<type>` for each type.
    pub fn quota_resources(&self) -> Vec<String> {
        let mut out: Vec<String> = GLOBAL_QUOTAS.iter().map(|(k, _)| k.to_string()).collect();
        let mut names: Vec<&str> = self.types.values().map(|t| t.name.as_str()).collect();
        names.sort_unstable();
        for name in names {
            for part in ["volumes", "gigabytes", "snapshots"] {
                out.push(format!("{part}_{name}"));
            }
        }
        out
    }

    pub fn quota_default(resource: &str) -> i64 {
        GLOBAL_QUOTAS
            .iter()
            .find(|(k, _)| *k == resource)
            .map_or(-1, |(_, v)| *v)
    }

    pub fn quota_limit(&self, project_id: &str, resource: &str) -> i64 {
        self.quotas
            .get(project_id)
            .and_then(|q| q.get(resource))
            .copied()
            .unwrap_or_else(|| Self::quota_default(resource))
    }

    /// Current usage of `resource` by `project_id`.
    pub fn quota_usage(&self, project_id: &str, resource: &str) -> i64 {
        let vols = self.volumes.values().filter(|v| v.project_id == project_id);
        let snaps = self
            .snapshots
            .values()
            .filter(|s| s.project_id == project_id);
        let to_i = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        match resource {
            "volumes" => to_i(vols.count() as u64),
            "snapshots" => to_i(snaps.count() as u64),
            "gigabytes" => {
                to_i(vols.map(|v| v.size).sum::<u64>() + snaps.map(|s| s.size).sum::<u64>())
            }
            "backups" => to_i(
                self.backups
                    .values()
                    .filter(|b| b.project_id == project_id)
                    .count() as u64,
            ),
            "backup_gigabytes" => to_i(
                self.backups
                    .values()
                    .filter(|b| b.project_id == project_id)
                    .map(|b| b.size)
                    .sum::<u64>(),
            ),
            "groups" | "per_volume_gigabytes" => 0,
            other => {
                let Some((part, type_name)) = other.split_once('_') else {
                    return 0;
                };
                let Some(t) = self.type_by_name(type_name) else {
                    return 0;
                };
                let vols = vols.filter(|v| v.volume_type_id == t.id);
                let snaps = snaps.filter(|s| s.volume_type_id == t.id);
                match part {
                    "volumes" => to_i(vols.count() as u64),
                    "snapshots" => to_i(snaps.count() as u64),
                    "gigabytes" => {
                        to_i(vols.map(|v| v.size).sum::<u64>() + snaps.map(|s| s.size).sum::<u64>())
                    }
                    _ => 0,
                }
            }
        }
    }

    /// The first resource of `deltas` that would go over quota, with its
    /// limit and current usage.
    pub fn over_quota(
        &self,
        project_id: &str,
        deltas: &[(String, i64)],
    ) -> Option<(String, i64, i64)> {
        deltas.iter().find_map(|(res, delta)| {
            let limit = self.quota_limit(project_id, res);
            let used = self.quota_usage(project_id, res);
            (limit >= 0 && *delta > 0 && limit < used + delta).then(|| (res.clone(), limit, used))
        })
    }

    /// Allocated gigabytes of the pool (every project).
    pub fn allocated_gb(&self) -> u64 {
        self.volumes.values().map(|v| v.size).sum()
    }
}
