//! The order of a server list: `sort_key` / `sort_dir` as Nova checks
//! them, and each key's value.

use std::cmp::Ordering;

use chrono::{DateTime, Utc};
use serde_json::json;

use crate::compute::ctx::Ctx;
use crate::compute::error::{NResult, NovaError};
use crate::compute::model::Server;
use crate::image::schema::{py_repr, py_str};

/// Nova's valid `sort_key` values (before 2.73; `locked` joins later).
const SORT_KEYS: [&str; 29] = [
    "access_ip_v4",
    "access_ip_v6",
    "auto_disk_config",
    "availability_zone",
    "config_drive",
    "created_at",
    "display_description",
    "display_name",
    "host",
    "hostname",
    "image_ref",
    "instance_type_id",
    "kernel_id",
    "key_name",
    "launch_index",
    "launched_at",
    "locked_by",
    "node",
    "power_state",
    "progress",
    "project_id",
    "ramdisk_id",
    "root_device_name",
    "task_state",
    "terminated_at",
    "updated_at",
    "user_id",
    "uuid",
    "vm_state",
];
/// Accepted but ignored sort keys (`SERVER_LIST_IGNORE_SORT_KEY`).
const IGNORED_SORT_KEYS: [&str; 22] = [
    "architecture",
    "cell_name",
    "cleaned",
    "default_ephemeral_device",
    "default_swap_device",
    "deleted",
    "deleted_at",
    "disable_terminate",
    "ephemeral_gb",
    "ephemeral_key_uuid",
    "id",
    "key_data",
    "launched_on",
    "locked",
    "memory_mb",
    "os_type",
    "reservation_id",
    "root_gb",
    "shutdown_terminate",
    "user_data",
    "vcpus",
    "vm_mode",
];

#[derive(Debug, Clone, PartialEq, PartialOrd)]
enum SortVal {
    Null,
    Int(i64),
    Str(String),
    Time(DateTime<Utc>),
}

fn sort_value(s: &Server, key: &str) -> SortVal {
    let opt_str = |o: &Option<String>| o.clone().map_or(SortVal::Null, SortVal::Str);
    match key {
        "access_ip_v4" => SortVal::Str(s.access_ipv4.clone()),
        "access_ip_v6" => SortVal::Str(s.access_ipv6.clone()),
        "auto_disk_config" => SortVal::Int(i64::from(s.auto_disk_config)),
        "availability_zone" => SortVal::Str(s.availability_zone.clone()),
        "config_drive" => SortVal::Str(s.config_drive.clone()),
        "created_at" => SortVal::Time(s.created_at),
        "display_description" => opt_str(&s.description),
        "display_name" => SortVal::Str(s.name.clone()),
        "host" | "node" => SortVal::Str(s.host.clone()),
        "hostname" => SortVal::Str(s.hostname.clone()),
        "image_ref" => SortVal::Str(s.image_ref.clone()),
        "instance_type_id" => SortVal::Str(s.flavor.id.clone()),
        "kernel_id" | "ramdisk_id" => SortVal::Str(String::new()),
        "key_name" => opt_str(&s.key_name),
        "launch_index" => SortVal::Int(i64::from(s.launch_index)),
        "launched_at" => s.launched_at.map_or(SortVal::Null, SortVal::Time),
        "locked_by" => s
            .locked_by
            .map_or(SortVal::Null, |l| SortVal::Str(l.to_string())),
        "locked" => SortVal::Int(i64::from(s.is_locked())),
        "power_state" => SortVal::Int(i64::from(s.power_state)),
        "progress" => SortVal::Int(0),
        "project_id" => SortVal::Str(s.project_id.clone()),
        "root_device_name" => SortVal::Str("/dev/vda".into()),
        "task_state" => s
            .task_state
            .map_or(SortVal::Null, |t| SortVal::Str(t.to_string())),
        "terminated_at" => s.terminated_at.map_or(SortVal::Null, SortVal::Time),
        "updated_at" => SortVal::Time(s.updated_at),
        "user_id" => SortVal::Str(s.user_id.clone()),
        "uuid" => SortVal::Str(s.id.clone()),
        "vm_state" => SortVal::Str(s.vm_state.to_string()),
        _ => SortVal::Int(s.seq as i64),
    }
}

/// The sort keys and their directions of a list request, checked as Nova
/// does: ignored keys dropped, `created_at` then `id` appended as tie
/// breakers, each with a direction.
pub(super) struct SortOrder {
    keys: Vec<String>,
    dirs: Vec<String>,
}

impl SortOrder {
    pub(super) fn parse(ctx: &Ctx) -> NResult<Self> {
        let q = &ctx.query;
        let mut sort_keys: Vec<String> = q
            .all("sort_key")
            .iter()
            .map(|s| s.trim().to_string())
            .collect();
        let mut sort_dirs: Vec<String> = q
            .all("sort_dir")
            .iter()
            .map(|s| s.trim().to_string())
            .collect();
        check_sort_keys(ctx, &sort_keys)?;
        drop_ignored_keys(ctx, &mut sort_keys, &mut sort_dirs)?;
        if sort_keys.is_empty() && !q.has("sort_key") {
            sort_keys.push("created_at".into());
        }
        if sort_dirs.is_empty() && !q.has("sort_dir") {
            sort_dirs.push("desc".into());
        }
        for d in &sort_dirs {
            if d != "asc" && d != "desc" {
                return Err(NovaError::bad_request(
                    "Invalid input received: Unknown sort direction, must be 'desc' or 'asc'",
                ));
            }
        }
        let default_dir = sort_dirs.first().cloned().unwrap_or_else(|| "desc".into());
        while sort_dirs.len() < sort_keys.len() {
            sort_dirs.push(default_dir.clone());
        }
        if sort_dirs.len() > sort_keys.len() {
            return Err(NovaError::bad_request(
                "Invalid input received: Sort direction size exceeds sort key size",
            ));
        }
        for k in ["created_at", "id"] {
            if !sort_keys.iter().any(|s| s == k) {
                sort_keys.push(k.to_string());
                sort_dirs.push(default_dir.clone());
            }
        }
        Ok(SortOrder {
            keys: sort_keys,
            dirs: sort_dirs,
        })
    }

    pub(super) fn compare(&self, a: &Server, b: &Server) -> Ordering {
        for (k, d) in self.keys.iter().zip(&self.dirs) {
            let (va, vb) = (sort_value(a, k), sort_value(b, k));
            let o = va.partial_cmp(&vb).unwrap_or(Ordering::Equal);
            let o = if d == "desc" { o.reverse() } else { o };
            if o != Ordering::Equal {
                return o;
            }
        }
        Ordering::Equal
    }
}

/// Every key must be one Nova knows (ignored ones are refused from 2.75).
fn check_sort_keys(ctx: &Ctx, sort_keys: &[String]) -> NResult<()> {
    let locked_valid = ctx.at_least(73);
    for k in sort_keys {
        let known = SORT_KEYS.contains(&k.as_str())
            || IGNORED_SORT_KEYS.contains(&k.as_str())
            || (locked_valid && k == "locked");
        let ignored_removed =
            ctx.at_least(75) && IGNORED_SORT_KEYS.contains(&k.as_str()) && k != "locked";
        if !known || ignored_removed {
            let mut enum_list: Vec<&str> = SORT_KEYS.to_vec();
            if !ctx.at_least(75) {
                enum_list.extend(IGNORED_SORT_KEYS);
            } else {
                enum_list.push("locked");
            }
            return Err(NovaError::bad_request(format!(
                "Invalid input for query parameters sort_key. Value: {k}. {} is not one of {}",
                py_str(k),
                py_repr(&json!(enum_list))
            )));
        }
    }
    Ok(())
}

/// Drops ignored keys (and their directions); sorting by host is for
/// admins.
fn drop_ignored_keys(
    ctx: &Ctx,
    sort_keys: &mut Vec<String>,
    sort_dirs: &mut Vec<String>,
) -> NResult<()> {
    let locked_valid = ctx.at_least(73);
    let ignored: Vec<&str> = IGNORED_SORT_KEYS
        .iter()
        .copied()
        .filter(|k| !(locked_valid && *k == "locked"))
        .collect();
    let mut i = 0;
    while i < sort_keys.len() {
        if ignored.contains(&sort_keys[i].as_str()) {
            if sort_dirs.len() > i {
                sort_dirs.remove(i);
            }
            sort_keys.remove(i);
        } else {
            if ["host", "node"].contains(&sort_keys[i].as_str()) && !ctx.is_admin() {
                return Err(NovaError::forbidden(format!(
                    "Only administrators can sort servers by {}",
                    sort_keys[i]
                )));
            }
            i += 1;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sort_values_order_nulls_first() {
        assert!(SortVal::Null < SortVal::Str("a".into()));
        assert!(SortVal::Str("a".into()) < SortVal::Str("b".into()));
    }
}
