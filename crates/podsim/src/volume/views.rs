//! JSON views, shaped like Cinder's view builders for the request's
//! microversion and the caller's role.

use serde_json::{json, Map, Value};

use super::api::Ctx;
use super::model::{ts, ts_opt, Attachment, Backup, Snapshot, State, Volume, VolumeType};
use crate::volume::model::DEFAULT_TYPE_NAME;

/// `volume` summary (`GET /volumes`).
pub(crate) fn volume_summary(ctx: &Ctx, v: &Volume) -> Value {
    json!({"id": v.id, "name": v.name, "links": ctx.links("volumes", &v.id)})
}

/// Maps internal statuses to what the API shows (`managing` → `creating`...).
fn shown_status(s: &str) -> &str {
    match s {
        "managing" => "creating",
        "error_managing" => "error",
        "error_managing_deleting" => "deleting",
        other => other,
    }
}

pub(crate) fn attachment_brief(ctx: &Ctx, a: &Attachment) -> Value {
    let host = if ctx.is_admin || ctx.is_service() {
        json!(a.attached_host)
    } else {
        Value::Null
    };
    json!({
        "id": a.volume_id,
        "attachment_id": a.id,
        "volume_id": a.volume_id,
        "server_id": a.instance_uuid,
        "host_name": host,
        "device": a.mountpoint,
        "attached_at": ts_opt(a.attach_time),
    })
}

/// Detailed volume view. `extended`: add the attributes Cinder's controller
/// extensions add to `show` and `detail` (not to `create`/`update`).
pub(crate) fn volume_detail(st: &State, ctx: &Ctx, v: &Volume, extended: bool) -> Value {
    let ver = ctx.version;
    let type_name = st.type_name(&v.volume_type_id);
    let mut metadata = v.metadata.clone();
    for key in ["readonly", "attached_mode"] {
        if let Some(val) = v.admin_metadata.get(key) {
            metadata.insert(key.to_string(), val.clone());
        }
    }
    let mut o = Map::new();
    o.insert("id".into(), json!(v.id));
    o.insert("status".into(), json!(shown_status(&v.status)));
    o.insert("size".into(), json!(v.size));
    o.insert("availability_zone".into(), json!(v.availability_zone));
    o.insert("created_at".into(), json!(ts(v.created_at)));
    o.insert("updated_at".into(), ts_opt(v.updated_at));
    o.insert("name".into(), json!(v.name));
    o.insert("description".into(), json!(v.description));
    o.insert(
        "volume_type".into(),
        json!(type_name.unwrap_or_else(|| DEFAULT_TYPE_NAME.to_string())),
    );
    o.insert("snapshot_id".into(), json!(v.snapshot_id));
    o.insert("source_volid".into(), json!(v.source_volid));
    o.insert("metadata".into(), json!(metadata));
    o.insert("links".into(), ctx.links("volumes", &v.id));
    o.insert("user_id".into(), json!(v.user_id));
    o.insert("bootable".into(), json!(v.bootable.to_string()));
    o.insert("encrypted".into(), json!(v.encryption_key_id.is_some()));
    o.insert("replication_status".into(), json!("disabled"));
    o.insert("consistencygroup_id".into(), Value::Null);
    o.insert("multiattach".into(), json!(v.multiattach));
    let attachments: Vec<Value> = v.attached().map(|a| attachment_brief(ctx, a)).collect();
    o.insert("attachments".into(), json!(attachments));
    if ctx.is_admin {
        o.insert("migration_status".into(), json!(v.migration_status));
    }
    if ver.at_least(13) {
        o.insert("group_id".into(), json!(v.group_id));
    }
    if ctx.is_admin && ver.at_least(21) {
        o.insert("provider_id".into(), Value::Null);
    }
    if ver.at_least(48) {
        o.insert("shared_targets".into(), json!(false));
        o.insert("service_uuid".into(), json!(st.service_uuid));
    }
    if ctx.is_admin && ver.at_least(61) {
        o.insert("cluster_name".into(), Value::Null);
    }
    if ver.at_least(63) {
        o.insert("volume_type_id".into(), json!(v.volume_type_id));
    }
    if ver.at_least(65) {
        o.insert("consumes_quota".into(), json!(true));
    }
    if extended {
        o.insert("os-vol-tenant-attr:tenant_id".into(), json!(v.project_id));
        if ctx.is_admin {
            o.insert("os-vol-host-attr:host".into(), json!(v.host));
            o.insert(
                "os-vol-mig-status-attr:migstat".into(),
                json!(v.migration_status),
            );
            o.insert("os-vol-mig-status-attr:name_id".into(), Value::Null);
        }
        if !v.image_metadata.is_empty() {
            o.insert("volume_image_metadata".into(), json!(v.image_metadata));
        }
    }
    Value::Object(o)
}

/// Snapshot view (summary and detail are the same in Cinder).
pub(crate) fn snapshot_view(ctx: &Ctx, s: &Snapshot, extended: bool) -> Value {
    let mut o = Map::new();
    o.insert("id".into(), json!(s.id));
    o.insert("created_at".into(), json!(ts(s.created_at)));
    o.insert("updated_at".into(), ts_opt(s.updated_at));
    o.insert("name".into(), json!(s.name));
    o.insert("description".into(), json!(s.description));
    o.insert("volume_id".into(), json!(s.volume_id));
    o.insert("status".into(), json!(s.status));
    o.insert("size".into(), json!(s.size));
    o.insert("metadata".into(), json!(s.metadata));
    if ctx.version.at_least(14) {
        o.insert("group_snapshot_id".into(), Value::Null);
    }
    if ctx.version.at_least(41) {
        o.insert("user_id".into(), json!(s.user_id));
    }
    if ctx.version.at_least(65) {
        o.insert("consumes_quota".into(), json!(true));
    }
    if extended {
        o.insert(
            "os-extended-snapshot-attributes:project_id".into(),
            json!(s.project_id),
        );
        o.insert(
            "os-extended-snapshot-attributes:progress".into(),
            json!(s.progress),
        );
    }
    Value::Object(o)
}

pub(crate) fn backup_summary(ctx: &Ctx, b: &Backup) -> Value {
    json!({"id": b.id, "name": b.name, "links": ctx.links("backups", &b.id)})
}

pub(crate) fn backup_detail(st: &State, ctx: &Ctx, b: &Backup) -> Value {
    let has_dependent = st.backups.values().any(|o| {
        o.id != b.id
            && o.is_incremental
            && o.volume_id == b.volume_id
            && o.created_at > b.created_at
    });
    let mut o = Map::new();
    o.insert("id".into(), json!(b.id));
    o.insert("status".into(), json!(b.status));
    o.insert("size".into(), json!(b.size));
    o.insert("object_count".into(), json!(0));
    o.insert("availability_zone".into(), json!(b.availability_zone));
    o.insert("container".into(), json!(b.container));
    o.insert("created_at".into(), json!(ts(b.created_at)));
    o.insert("updated_at".into(), ts_opt(b.updated_at));
    o.insert("name".into(), json!(b.name));
    o.insert("description".into(), json!(b.description));
    o.insert("fail_reason".into(), Value::Null);
    o.insert("volume_id".into(), json!(b.volume_id));
    o.insert("links".into(), ctx.links("backups", &b.id));
    o.insert("is_incremental".into(), json!(b.is_incremental));
    o.insert("has_dependent_backups".into(), json!(has_dependent));
    o.insert("snapshot_id".into(), json!(b.snapshot_id));
    o.insert("data_timestamp".into(), json!(ts(b.data_timestamp)));
    if ctx.version.at_least(43) {
        o.insert("metadata".into(), json!(b.metadata));
    }
    if ctx.is_admin && ctx.version.at_least(18) {
        o.insert(
            "os-backup-project-attr:project_id".into(),
            json!(b.project_id),
        );
    }
    if ctx.is_admin && ctx.version.at_least(56) {
        o.insert("user_id".into(), json!(b.user_id));
    }
    Value::Object(o)
}

/// Extra specs every user may see (`USER_VISIBLE_EXTRA_SPECS`).
const USER_VISIBLE_EXTRA_SPECS: [&str; 3] = [
    "RESKEY:availability_zones",
    "multiattach",
    "replication_enabled",
];

pub(crate) fn visible_extra_specs(ctx: &Ctx, t: &VolumeType) -> Value {
    if ctx.is_admin {
        json!(t.extra_specs)
    } else {
        let m: Map<String, Value> = t
            .extra_specs
            .iter()
            .filter(|(k, _)| USER_VISIBLE_EXTRA_SPECS.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), json!(v)))
            .collect();
        Value::Object(m)
    }
}

pub(crate) fn type_view(ctx: &Ctx, t: &VolumeType) -> Value {
    let mut o = Map::new();
    o.insert("id".into(), json!(t.id));
    o.insert("name".into(), json!(t.name));
    o.insert("is_public".into(), json!(t.is_public));
    o.insert("description".into(), json!(t.description));
    o.insert("extra_specs".into(), visible_extra_specs(ctx, t));
    if ctx.is_admin {
        o.insert("qos_specs_id".into(), Value::Null);
    }
    o.insert("os-volume-type-access:is_public".into(), json!(t.is_public));
    Value::Object(o)
}

pub(crate) fn attachment_summary(a: &Attachment) -> Value {
    json!({
        "id": a.id,
        "status": a.attach_status,
        "instance": a.instance_uuid,
        "volume_id": a.volume_id,
    })
}

pub(crate) fn attachment_detail(a: &Attachment) -> Value {
    let mut v = attachment_summary(a);
    if let Some(o) = v.as_object_mut() {
        o.insert("attached_at".into(), ts_opt(a.attach_time));
        o.insert("detached_at".into(), ts_opt(a.detach_time));
        o.insert("attach_mode".into(), json!(a.attach_mode));
        o.insert(
            "connection_info".into(),
            a.connection_info.clone().unwrap_or_else(|| json!({})),
        );
    }
    v
}

/// A fake iSCSI `connection_info`, like the LVM driver's.
pub(crate) fn connection_info(v: &Volume, mode: &str) -> Value {
    json!({
        "driver_volume_type": "iscsi",
        "data": {
            "target_discovered": false,
            "target_iqn": format!("iqn.2010-10.org.openstack:volume-{}", v.id),
            "target_portal": "127.0.0.1:3260",
            "target_lun": 0,
            "volume_id": v.id,
            "auth_method": "CHAP",
            "auth_username": "podsim",
            "auth_password": "podsim-chap-secret",
            "encrypted": v.encryption_key_id.is_some(),
            "qos_specs": null,
            "access_mode": mode,
            "cacheable": false,
        },
    })
}
