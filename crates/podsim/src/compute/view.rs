//! JSON views of servers and flavors, shaped by microversion as Nova's
//! view builders do.

use serde_json::{json, Map, Value};
use sha2::{Digest, Sha224};

use super::ctx::{isotime, naive, Ctx};
use super::model::{map_json, Flavor, Server};

/// Which optional parts of the server view to include (Nova's `show()`
/// flags; `PUT` and `rebuild` before 2.75 show fewer attributes).
#[derive(Debug, Clone, Copy)]
pub(crate) struct ViewOpts {
    /// AZ, config drive, key name, usage times, security groups, extended
    /// status and volumes, extended addresses.
    pub all: bool,
    pub show_keypair: bool,
    pub server_groups: bool,
    pub user_data: bool,
}

impl ViewOpts {
    /// `GET /servers/{id}`.
    pub fn show(ctx: &Ctx) -> Self {
        Self {
            all: true,
            show_keypair: true,
            server_groups: ctx.at_least(71),
            user_data: true,
        }
    }

    /// `GET /servers/detail` (no server groups).
    pub fn detail() -> Self {
        Self {
            all: true,
            show_keypair: true,
            server_groups: false,
            user_data: true,
        }
    }

    /// `PUT /servers/{id}` and `rebuild`: everything only from 2.75.
    pub fn update(ctx: &Ctx, rebuild: bool) -> Self {
        let all = ctx.at_least(75);
        Self {
            all,
            show_keypair: all || (rebuild && ctx.at_least(54)),
            server_groups: ctx.at_least(71),
            user_data: !rebuild,
        }
    }
}

/// Nova's `hostId`: sha224 of project id and host.
pub(crate) fn host_id(project: &str, host: &str) -> String {
    if host.is_empty() {
        String::new()
    } else {
        format!("{:x}", Sha224::digest(format!("{project}{host}")))
    }
}

/// `addresses` (hidden while building).
pub(crate) fn addresses(s: &Server, extended: bool) -> Value {
    let mut out = Map::new();
    if s.vm_state == "building" {
        return Value::Object(out);
    }
    for vif in &s.nics {
        for (addr, version) in vif.addresses() {
            let entry = if extended {
                json!({
                    "version": version,
                    "addr": addr,
                    "OS-EXT-IPS:type": "fixed",
                    "OS-EXT-IPS-MAC:mac_addr": vif.mac,
                })
            } else {
                json!({"version": version, "addr": addr})
            };
            if let Value::Array(list) = out
                .entry(vif.network_name.clone())
                .or_insert_with(|| Value::Array(Vec::new()))
            {
                list.push(entry);
            }
        }
    }
    Value::Object(out)
}

/// A server's `image`: id and bookmark, or `""` for a volume-backed
/// server.
fn server_image(ctx: &Ctx, s: &Server) -> Value {
    if s.image_ref.is_empty() {
        json!("")
    } else {
        json!({"id": s.image_ref, "links": ctx.bookmark("images", &s.image_ref)})
    }
}

/// A server's `flavor`: embedded from 2.47, a reference before.
fn server_flavor(ctx: &Ctx, s: &Server) -> Value {
    if ctx.at_least(47) {
        json!({
            "vcpus": s.flavor.vcpus,
            "ram": s.flavor.ram,
            "disk": s.flavor.disk,
            "ephemeral": s.flavor.ephemeral,
            "swap": s.flavor.swap,
            "original_name": s.flavor.name,
            "extra_specs": map_json(&s.flavor.extra_specs),
        })
    } else {
        json!({"id": s.flavor.id, "links": ctx.bookmark("flavors", &s.flavor.id)})
    }
}

/// What every view has: identity, image and flavor, times, addresses,
/// links, disk config and progress.
fn insert_core(m: &mut Map<String, Value>, ctx: &Ctx, s: &Server, opts: ViewOpts) {
    let status = s.status();
    m.insert("id".into(), json!(s.id));
    m.insert("name".into(), json!(s.name));
    m.insert("status".into(), json!(status));
    m.insert("tenant_id".into(), json!(s.project_id));
    m.insert("user_id".into(), json!(s.user_id));
    m.insert("metadata".into(), map_json(&s.metadata));
    m.insert("hostId".into(), json!(host_id(&s.project_id, &s.host)));
    m.insert("image".into(), server_image(ctx, s));
    m.insert("flavor".into(), server_flavor(ctx, s));
    m.insert("created".into(), json!(isotime(s.created_at)));
    m.insert("updated".into(), json!(isotime(s.updated_at)));
    m.insert("addresses".into(), addresses(s, opts.all));
    m.insert("accessIPv4".into(), json!(s.access_ipv4));
    m.insert("accessIPv6".into(), json!(s.access_ipv6));
    m.insert("links".into(), ctx.links("servers", &s.id));
    m.insert(
        "OS-DCF:diskConfig".into(),
        json!(if s.auto_disk_config { "AUTO" } else { "MANUAL" }),
    );
    if matches!(
        status,
        "ACTIVE" | "BUILD" | "REBUILD" | "RESIZE" | "VERIFY_RESIZE" | "MIGRATING"
    ) {
        m.insert("progress".into(), json!(0));
    }
}

/// Zone, config drive, key name, usage times and security groups.
fn insert_placement_and_usage(m: &mut Map<String, Value>, s: &Server, opts: ViewOpts) {
    if opts.all {
        m.insert(
            "OS-EXT-AZ:availability_zone".into(),
            json!(
                if s.vm_state == "building" && s.availability_zone.is_empty() {
                    ""
                } else {
                    s.availability_zone.as_str()
                }
            ),
        );
        m.insert("config_drive".into(), json!(s.config_drive));
    }
    if opts.show_keypair {
        m.insert("key_name".into(), json!(s.key_name));
    }
    if opts.all {
        m.insert(
            "OS-SRV-USG:launched_at".into(),
            json!(s.launched_at.map(naive)),
        );
        m.insert(
            "OS-SRV-USG:terminated_at".into(),
            json!(s.terminated_at.map(naive)),
        );
        if !s.security_groups.is_empty() && !s.nics.is_empty() {
            m.insert(
                "security_groups".into(),
                Value::Array(
                    s.security_groups
                        .iter()
                        .map(|n| json!({"name": n}))
                        .collect(),
                ),
            );
        }
    }
}

/// `OS-EXT-SRV-ATTR:*`, for admins in full views.
fn insert_extended_attributes(m: &mut Map<String, Value>, ctx: &Ctx, s: &Server, opts: ViewOpts) {
    if ctx.is_admin() && opts.all {
        m.insert("OS-EXT-SRV-ATTR:host".into(), json!(s.host));
        m.insert(
            "OS-EXT-SRV-ATTR:instance_name".into(),
            json!(s.instance_name),
        );
        m.insert("OS-EXT-SRV-ATTR:hypervisor_hostname".into(), json!(s.host));
        if ctx.at_least(3) {
            m.insert("OS-EXT-SRV-ATTR:hostname".into(), json!(s.hostname));
            m.insert("OS-EXT-SRV-ATTR:kernel_id".into(), json!(""));
            m.insert("OS-EXT-SRV-ATTR:launch_index".into(), json!(s.launch_index));
            m.insert("OS-EXT-SRV-ATTR:ramdisk_id".into(), json!(""));
            m.insert(
                "OS-EXT-SRV-ATTR:reservation_id".into(),
                json!(s.reservation_id),
            );
            m.insert("OS-EXT-SRV-ATTR:root_device_name".into(), json!("/dev/vda"));
            if opts.user_data {
                m.insert("OS-EXT-SRV-ATTR:user_data".into(), json!(s.user_data));
            }
        }
    }
}

/// `OS-EXT-STS:*` and the attached volumes.
fn insert_status_and_volumes(m: &mut Map<String, Value>, ctx: &Ctx, s: &Server, opts: ViewOpts) {
    if opts.all {
        m.insert("OS-EXT-STS:task_state".into(), json!(s.task_state));
        m.insert("OS-EXT-STS:vm_state".into(), json!(s.vm_state));
        m.insert("OS-EXT-STS:power_state".into(), json!(s.power_state));
        let vols: Vec<Value> = s
            .volumes
            .iter()
            .map(|v| {
                if ctx.at_least(3) {
                    json!({"id": v.volume_id, "delete_on_termination": v.delete_on_termination})
                } else {
                    json!({"id": v.volume_id})
                }
            })
            .collect();
        m.insert(
            "os-extended-volumes:volumes_attached".into(),
            Value::Array(vols),
        );
    }
}

/// Attributes added by later microversions.
fn insert_by_microversion(m: &mut Map<String, Value>, ctx: &Ctx, s: &Server, opts: ViewOpts) {
    let extended_attr = ctx.is_admin() && opts.all;
    if ctx.at_least(9) {
        m.insert("locked".into(), json!(s.is_locked()));
    }
    if ctx.at_least(16) && ctx.is_admin() && opts.all {
        m.insert("host_status".into(), json!("UP"));
    }
    if ctx.at_least(19) {
        m.insert("description".into(), json!(s.description));
    }
    if ctx.at_least(26) {
        m.insert("tags".into(), json!(s.tags));
    }
    if ctx.at_least(63) {
        m.insert("trusted_image_certificates".into(), json!(s.trusted_certs));
    }
    if opts.server_groups {
        m.insert("server_groups".into(), json!([]));
    }
    if ctx.at_least(73) {
        m.insert("locked_reason".into(), json!(s.locked_reason));
    }
    if ctx.at_least(90) && !extended_attr {
        m.insert("OS-EXT-SRV-ATTR:hostname".into(), json!(s.hostname));
    }
    if opts.all && ctx.at_least(96) {
        m.insert("pinned_availability_zone".into(), json!(s.pinned_az));
    }
}

/// The full server view.
pub(crate) fn server(ctx: &Ctx, s: &Server, opts: ViewOpts) -> Value {
    let mut m = Map::new();
    insert_core(&mut m, ctx, s, opts);
    insert_placement_and_usage(&mut m, s, opts);
    insert_extended_attributes(&mut m, ctx, s, opts);
    insert_status_and_volumes(&mut m, ctx, s, opts);
    insert_by_microversion(&mut m, ctx, s, opts);
    Value::Object(m)
}

/// `{id, name, links}` of `GET /servers`.
pub(crate) fn server_brief(ctx: &Ctx, s: &Server) -> Value {
    json!({"id": s.id, "name": s.name, "links": ctx.links("servers", &s.id)})
}

/// `{id, name, links[, description]}` of `GET /flavors`.
pub(crate) fn flavor_brief(ctx: &Ctx, f: &Flavor) -> Value {
    let mut v = json!({"id": f.id, "name": f.name, "links": ctx.links("flavors", &f.id)});
    if ctx.at_least(55) {
        v["description"] = json!(f.description);
    }
    v
}

/// The full flavor view.
pub(crate) fn flavor(ctx: &Ctx, f: &Flavor) -> Value {
    let swap = if ctx.at_least(75) {
        json!(f.swap)
    } else if f.swap == 0 {
        json!("")
    } else {
        json!(f.swap)
    };
    let mut v = json!({
        "id": f.id,
        "name": f.name,
        "ram": f.ram,
        "disk": f.disk,
        "swap": swap,
        "OS-FLV-EXT-DATA:ephemeral": f.ephemeral,
        "OS-FLV-DISABLED:disabled": f.disabled,
        "vcpus": f.vcpus,
        "os-flavor-access:is_public": f.is_public,
        "rxtx_factor": f.rxtx_factor,
        "links": ctx.links("flavors", &f.id),
    });
    if ctx.at_least(55) {
        v["description"] = json!(f.description);
    }
    if ctx.at_least(61) {
        v["extra_specs"] = map_json(&f.extra_specs);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_id_is_sha224_of_project_and_host() {
        assert_eq!(
            host_id("proj1", "host1"),
            "edbb5f15007c248d35439352a556affceb8387c5af71a7d223008316"
        );
        assert_eq!(host_id("proj1", ""), "");
    }
}
