//! Nova's records (flavors, servers, keypairs, quotas) and the server
//! lifecycle. Transitions (BUILD → ACTIVE, task states, deletion) are
//! scheduled with a due time and applied lazily whenever the state is
//! read, so no background tasks are needed.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::network::Vif;

/// Power states (`nova.compute.power_state`).
pub(crate) const NOSTATE: u8 = 0;
pub(crate) const RUNNING: u8 = 1;
pub(crate) const PAUSED: u8 = 3;
pub(crate) const SHUTDOWN: u8 = 4;
pub(crate) const SUSPENDED: u8 = 7;

/// Default quotas (`nova.conf` `[quota]`), by resource name.
pub(crate) const DEFAULT_QUOTAS: [(&str, i64); 14] = [
    ("cores", 20),
    ("fixed_ips", -1),
    ("floating_ips", -1),
    ("injected_file_content_bytes", 10240),
    ("injected_file_path_bytes", 255),
    ("injected_files", 5),
    ("instances", 10),
    ("key_pairs", 100),
    ("metadata_items", 128),
    ("ram", 51200),
    ("security_group_rules", -1),
    ("security_groups", -1),
    ("server_group_members", 10),
    ("server_groups", 10),
];

/// A flavor.
#[derive(Debug, Clone)]
pub(crate) struct Flavor {
    pub id: String,
    pub name: String,
    pub ram: u64,
    pub vcpus: u64,
    pub disk: u64,
    pub ephemeral: u64,
    pub swap: u64,
    pub rxtx_factor: f64,
    pub is_public: bool,
    pub disabled: bool,
    pub description: Option<String>,
    pub extra_specs: BTreeMap<String, String>,
    /// Projects with access to a private flavor.
    pub access: Vec<String>,
    pub seq: u64,
}

impl Flavor {
    /// Visible to `project` (public, or private with access; admins see all).
    pub fn visible_to(&self, project: &str, is_admin: bool) -> bool {
        is_admin || self.is_public || self.access.iter().any(|p| p == project)
    }

    pub fn snapshot(&self) -> FlavorSnap {
        FlavorSnap {
            id: self.id.clone(),
            name: self.name.clone(),
            vcpus: self.vcpus,
            ram: self.ram,
            disk: self.disk,
            ephemeral: self.ephemeral,
            swap: self.swap,
            extra_specs: self.extra_specs.clone(),
        }
    }
}

/// The flavor a server was built with, kept even if the flavor is deleted.
#[derive(Debug, Clone)]
pub(crate) struct FlavorSnap {
    pub id: String,
    pub name: String,
    pub vcpus: u64,
    pub ram: u64,
    pub disk: u64,
    pub ephemeral: u64,
    pub swap: u64,
    pub extra_specs: BTreeMap<String, String>,
}

/// A block device mapping with a volume.
#[derive(Debug, Clone)]
pub(crate) struct VolAttach {
    pub volume_id: String,
    pub device: String,
    pub delete_on_termination: bool,
    pub tag: Option<String>,
    pub attachment_id: String,
    pub bdm_uuid: String,
    pub is_root: bool,
}

/// An entry of `os-instance-actions`.
#[derive(Debug, Clone)]
pub(crate) struct InstanceAction {
    pub action: String,
    pub request_id: String,
    pub user_id: String,
    pub project_id: String,
    pub start_time: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub message: Option<String>,
}

/// What happens when a pending transition is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// BUILD → ACTIVE (sets `launched_at`).
    Launch,
    /// Settle into a stable state.
    Set { vm: &'static str, power: u8 },
    /// The server disappears (deleted).
    Delete,
}

#[derive(Debug, Clone)]
pub(crate) struct Pending {
    pub due: Instant,
    pub wall: DateTime<Utc>,
    pub step: Step,
}

/// A server (instance).
#[derive(Debug, Clone)]
pub(crate) struct Server {
    pub seq: u64,
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub project_id: String,
    pub user_id: String,
    /// `""` for a server booted from a volume.
    pub image_ref: String,
    pub flavor: FlavorSnap,
    pub old_flavor: Option<FlavorSnap>,
    pub old_vm_state: Option<&'static str>,
    pub vm_state: &'static str,
    pub task_state: Option<&'static str>,
    pub power_state: u8,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub launched_at: Option<DateTime<Utc>>,
    pub terminated_at: Option<DateTime<Utc>>,
    pub deleted_at: Option<DateTime<Utc>>,
    pub metadata: BTreeMap<String, String>,
    pub tags: Vec<String>,
    pub key_name: Option<String>,
    pub user_data: Option<String>,
    pub config_drive: String,
    pub auto_disk_config: bool,
    pub access_ipv4: String,
    pub access_ipv6: String,
    pub availability_zone: String,
    pub pinned_az: Option<String>,
    /// Nova's network info cache: the server's ports.
    pub nics: Vec<Vif>,
    pub security_groups: Vec<String>,
    pub volumes: Vec<VolAttach>,
    pub locked_by: Option<&'static str>,
    pub locked_reason: Option<String>,
    pub reservation_id: String,
    pub launch_index: u32,
    pub hostname: String,
    pub host: String,
    pub instance_name: String,
    pub trusted_certs: Option<Vec<String>>,
    pub pending: Option<Pending>,
    pub actions: Vec<InstanceAction>,
}

impl Server {
    /// The API `status` (Nova's `status_from_state`).
    pub fn status(&self) -> &'static str {
        if self.vm_state == "deleted" {
            return "DELETED";
        }
        let task = self.task_state.unwrap_or("");
        match self.vm_state {
            "active" => match task {
                "rebooting" | "reboot_pending" | "reboot_started" => "REBOOT",
                "rebooting_hard" | "reboot_pending_hard" | "reboot_started_hard" => "HARD_REBOOT",
                "updating_password" => "PASSWORD",
                "rebuilding" | "rebuild_block_device_mapping" | "rebuild_spawning" => "REBUILD",
                "migrating" => "MIGRATING",
                "resize_prep" | "resize_migrating" | "resize_migrated" | "resize_finish" => {
                    "RESIZE"
                }
                _ => "ACTIVE",
            },
            "building" => "BUILD",
            "stopped" => match task {
                "resize_prep" | "resize_migrating" | "resize_migrated" | "resize_finish" => {
                    "RESIZE"
                }
                "rebuilding" | "rebuild_block_device_mapping" | "rebuild_spawning" => "REBUILD",
                _ => "SHUTOFF",
            },
            "resized" => match task {
                "resize_reverting" => "REVERT_RESIZE",
                _ => "VERIFY_RESIZE",
            },
            "paused" => match task {
                "migrating" => "MIGRATING",
                _ => "PAUSED",
            },
            "suspended" => "SUSPENDED",
            "rescued" => "RESCUE",
            "error" => match task {
                "rebuilding" | "rebuild_block_device_mapping" | "rebuild_spawning" => "REBUILD",
                _ => "ERROR",
            },
            "soft-delete" => "SOFT_DELETED",
            "shelved" => "SHELVED",
            "shelved_offloaded" => "SHELVED_OFFLOADED",
            _ => "UNKNOWN",
        }
    }

    pub fn is_locked(&self) -> bool {
        self.locked_by.is_some()
    }

    /// Starts a transient task: `task` now, `step` after `after`.
    pub fn begin(&mut self, task: &'static str, after: Duration, step: Step) {
        let now = Utc::now();
        self.task_state = Some(task);
        self.updated_at = now;
        self.pending = Some(Pending {
            due: Instant::now() + after,
            wall: now + chrono::Duration::from_std(after).unwrap_or_default(),
            step,
        });
    }

    /// Makes the pending transition due now.
    pub fn finish_now(&mut self) {
        if let Some(p) = &mut self.pending {
            p.due = Instant::now();
            p.wall = Utc::now();
        }
    }

    /// Applies a due transition; true if the server is now deleted.
    pub fn settle(&mut self, now: Instant) -> bool {
        let Some(p) = &self.pending else {
            return false;
        };
        if p.due > now {
            return false;
        }
        let (wall, step) = (p.wall, p.step);
        self.pending = None;
        self.task_state = None;
        self.updated_at = wall;
        match step {
            Step::Launch => {
                self.vm_state = "active";
                self.power_state = RUNNING;
                self.launched_at = Some(wall);
                false
            }
            Step::Set { vm, power } => {
                self.vm_state = vm;
                self.power_state = power;
                if vm == "active" && self.launched_at.is_none() {
                    self.launched_at = Some(wall);
                }
                false
            }
            Step::Delete => {
                self.vm_state = "deleted";
                self.power_state = NOSTATE;
                self.terminated_at = Some(wall);
                self.deleted_at = Some(wall);
                true
            }
        }
    }

    /// Records an instance action (`os-instance-actions`).
    pub fn record(&mut self, action: &str, user_id: &str, project_id: &str) {
        let now = Utc::now();
        self.actions.push(InstanceAction {
            action: action.to_string(),
            request_id: crate::util::current_request_id(),
            user_id: user_id.to_string(),
            project_id: project_id.to_string(),
            start_time: now,
            updated_at: now,
            message: None,
        });
    }

    /// Resources the server holds against quota and on the hypervisor.
    pub fn consumes(&self) -> bool {
        !matches!(self.vm_state, "deleted" | "shelved_offloaded")
    }
}

/// A keypair.
#[derive(Debug, Clone)]
pub(crate) struct Keypair {
    pub id: u64,
    pub name: String,
    pub user_id: String,
    pub public_key: String,
    pub fingerprint: String,
    pub key_type: String,
    pub created_at: DateTime<Utc>,
}

/// Everything one pod's Nova knows.
#[derive(Debug, Default)]
pub(crate) struct State {
    pub flavors: Vec<Flavor>,
    pub servers: Vec<Server>,
    /// Deleted servers (`changes-since` lists them; instance actions of a
    /// deleted server remain readable).
    pub deleted: Vec<Server>,
    pub keypairs: Vec<Keypair>,
    pub server_groups: Vec<super::groups::ServerGroup>,
    /// Per-project quota overrides.
    pub quotas: HashMap<String, BTreeMap<String, i64>>,
    pub seq: u64,
    /// How long a delete takes, when a test sets it (else
    /// [`super::DELETE_TIME`]).
    pub delete_time: Option<std::time::Duration>,
}

impl State {
    pub fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    /// Applies every due transition.
    pub fn settle(&mut self) {
        let now = Instant::now();
        let mut i = 0;
        while i < self.servers.len() {
            if self.servers[i].settle(now) {
                let s = self.servers.remove(i);
                self.deleted.push(s);
            } else {
                i += 1;
            }
        }
    }

    pub fn flavor(&self, id: &str) -> Option<&Flavor> {
        self.flavors.iter().find(|f| f.id == id)
    }

    pub fn flavor_mut(&mut self, id: &str) -> Option<&mut Flavor> {
        self.flavors.iter_mut().find(|f| f.id == id)
    }

    pub fn server(&self, id: &str) -> Option<&Server> {
        self.servers.iter().find(|s| s.id == id)
    }

    pub fn server_mut(&mut self, id: &str) -> Option<&mut Server> {
        self.servers.iter_mut().find(|s| s.id == id)
    }

    /// The effective quota limits of `project`.
    pub fn quota_limits(&self, project: &str) -> BTreeMap<String, i64> {
        let mut out: BTreeMap<String, i64> = DEFAULT_QUOTAS
            .iter()
            .map(|(k, v)| ((*k).to_string(), *v))
            .collect();
        if let Some(over) = self.quotas.get(project) {
            for (k, v) in over {
                out.insert(k.clone(), *v);
            }
        }
        out
    }

    /// `(instances, cores, ram)` in use by `project`.
    pub fn usage(&self, project: &str) -> (i64, i64, i64) {
        self.servers
            .iter()
            .filter(|s| s.project_id == project && s.consumes())
            .fold((0, 0, 0), |(i, c, r), s| {
                (i + 1, c + s.flavor.vcpus as i64, r + s.flavor.ram as i64)
            })
    }

    /// Keypairs of `user`, by name.
    pub fn keypairs_of(&self, user: &str) -> Vec<&Keypair> {
        let mut v: Vec<&Keypair> = self.keypairs.iter().filter(|k| k.user_id == user).collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }
}

/// JSON-ish value of a string map.
pub(crate) fn map_json(m: &BTreeMap<String, String>) -> Value {
    Value::Object(
        m.iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect(),
    )
}
