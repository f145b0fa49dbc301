//! `/os-availability-zone`, `/os-services`, `/scheduler-stats/get_pools`
//! and `/extensions`.

use chrono::Utc;
use serde_json::{json, Value};

use super::api::{bool_param, ApiResult, Ctx, Reply};
use super::model::{ts, State};
use super::volumes::{host_name, volume_host};
use super::Req;

pub(crate) fn availability_zones(_st: &mut State, ctx: &Ctx, _req: &Req) -> ApiResult<Reply> {
    Ok(Reply::ok(json!({"availabilityZoneInfo": [{
        "zoneName": ctx.az,
        "zoneState": {"available": true},
    }]})))
}

pub(crate) fn services(_st: &mut State, ctx: &Ctx, _req: &Req) -> ApiResult<Reply> {
    ctx.require_admin("volume_extension:services:index")?;
    let host = host_name(ctx);
    let now = ts(Utc::now());
    let mut out = Vec::new();
    for (binary, h) in [
        ("cinder-scheduler", host.clone()),
        ("cinder-volume", format!("{host}@lvmdriver-1")),
        ("cinder-backup", host.clone()),
    ] {
        if ctx.param("host").is_some_and(|f| f != h)
            || ctx.param("binary").is_some_and(|f| f != binary)
        {
            continue;
        }
        let mut s = json!({
            "binary": binary,
            "host": h,
            "zone": ctx.az,
            "status": "enabled",
            "state": "up",
            "updated_at": now,
            "disabled_reason": null,
        });
        if let Some(o) = s.as_object_mut() {
            if binary == "cinder-volume" {
                o.insert("replication_status".into(), json!("disabled"));
                o.insert("active_backend_id".into(), Value::Null);
                o.insert("frozen".into(), json!(false));
                if ctx.version.at_least(49) {
                    o.insert("backend_state".into(), json!("up"));
                }
            }
            if ctx.version.at_least(7) {
                o.insert("cluster".into(), Value::Null);
            }
        }
        out.push(s);
    }
    Ok(Reply::ok(json!({"services": out})))
}

pub(crate) fn pools(st: &mut State, ctx: &Ctx, _req: &Req) -> ApiResult<Reply> {
    ctx.require_admin("scheduler_extension:scheduler_stats:get_pools")?;
    let detail = bool_param(ctx, "detail")?;
    let name = volume_host(ctx);
    if ctx.version.at_least(28) && ctx.param("name").is_some_and(|n| n != name) {
        return Ok(Reply::ok(json!({"pools": []})));
    }
    let allocated = st.allocated_gb();
    let pool = if detail {
        json!({
            "name": name,
            "capabilities": {
                "pool_name": "lvmdriver-1",
                "volume_backend_name": "lvmdriver-1",
                "vendor_name": "Open Source",
                "driver_version": "3.0.0",
                "storage_protocol": "iSCSI",
                "total_capacity_gb": st.capacity_gb,
                "free_capacity_gb": st.capacity_gb.saturating_sub(allocated),
                "allocated_capacity_gb": allocated,
                "provisioned_capacity_gb": allocated,
                "reserved_percentage": 0,
                "max_over_subscription_ratio": "20.0",
                "thin_provisioning_support": true,
                "thick_provisioning_support": false,
                "multiattach": true,
                "QoS_support": false,
                "backend_state": "up",
                "timestamp": ts(Utc::now()),
            },
        })
    } else {
        json!({"name": name})
    };
    Ok(Reply::ok(json!({"pools": [pool]})))
}

pub(crate) fn extensions(_st: &mut State, _ctx: &Ctx, _req: &Req) -> ApiResult<Reply> {
    let ext = |alias: &str, name: &str, description: &str| {
        json!({
            "alias": alias,
            "name": name,
            "description": description,
            "links": [],
            "updated": "2011-08-08T00:00:00+00:00",
        })
    };
    Ok(Reply::ok(json!({"extensions": [
        ext("os-availability-zone", "AvailabilityZones", "Describe Availability Zones."),
        ext("os-admin-actions", "AdminActions", "Enable admin actions."),
        ext("os-extended-snapshot-attributes", "ExtendedSnapshotAttributes", "Extended SnapshotAttributes support."),
        ext("os-quota-sets", "Quotas", "Quota management support."),
        ext("os-services", "Services", "Services support."),
        ext("scheduler-stats", "Scheduler_stats", "Scheduler stats support."),
        ext("os-types-extra-specs", "TypesExtraSpecs", "Type extra specs support."),
        ext("os-types-manage", "TypesManage", "Types manage support."),
        ext("os-used-limits", "UsedLimits", "Provide data on limited resources that are being used."),
        ext("os-vol-host-attr", "VolumeHostAttribute", "Expose host as an attribute of a volume."),
        ext("os-vol-image-meta", "VolumeImageMetadata", "Show image metadata associated with the volume."),
        ext("os-vol-mig-status-attr", "VolumeMigStatusAttribute", "Expose migration_status as an attribute of a volume."),
        ext("os-vol-tenant-attr", "VolumeTenantAttribute", "Expose the internal project_id as an attribute of a volume."),
        ext("os-volume-actions", "VolumeActions", "Enable volume actions."),
        ext("os-volume-type-access", "VolumeTypeAccess", "Volume type access support."),
        ext("backups", "Backups", "Backups support."),
        json!({
            "alias": "os-volume-transfer",
            "name": "VolumeTransfer",
            "description": "Volume transfer management support.",
            "links": [],
            "updated": "2013-05-29T00:00:00+00:00",
        }),
        json!({
            "alias": "encryption",
            "name": "VolumeTypeEncryption",
            "description": "Encryption support for volume types.",
            "links": [],
            "updated": "2013-07-01T00:00:00+00:00",
        }),
    ]})))
}
