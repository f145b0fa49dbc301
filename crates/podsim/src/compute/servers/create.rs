//! `POST /servers`: the checked request is matched against the pod (zone,
//! image, networks, flavor, key pair, quotas), the servers are built under
//! the compute lock, then get their ports and volumes outside it.

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use rand::Rng;
use serde_json::json;

use super::boot_request::{BdmVolume, BootRequest, Networks};
use super::quota::check_instances_quota;
use super::sanitize_hostname;
use crate::compute::ctx::{Ctx, NBody};
use crate::compute::error::{NResult, NovaError};
use crate::compute::model::{Flavor, Server, State as NovaState, Step, VolAttach, NOSTATE};
use crate::compute::{cinder_attachment_id, groups, host_name, interfaces, BUILD_TIME};
use crate::image::Image;
use crate::network::NicRequest;
use crate::pod::Pod;
use crate::volume::AttachError;

/// `POST /servers`.
pub(crate) async fn create(
    State(pod): State<Pod>,
    ctx: Ctx,
    NBody(body): NBody,
) -> NResult<Response> {
    let boot = BootRequest::parse(&ctx, &body)?;
    let requested_az = requested_zone(&pod, &ctx, boot.az.as_deref())?;
    let boot_image_id = boot_image_id(&boot);
    let image = boot_image(&pod, &ctx, boot_image_id.as_deref())?;

    // Networks and security groups (Neutron; never under the compute lock).
    check_multi_create_nics(&boot)?;
    let port_groups =
        interfaces::security_groups_for_ports(&pod, ctx.project(), &boot.security_group_names())
            .map_err(interfaces::boot_error)?;
    let nics = plan_nics(&pod, &ctx, &boot.networks)?;

    let group = groups::hinted_group(&body)?;
    let target = Target {
        image,
        image_id: boot_image_id,
        pinned_az: requested_az,
        group,
    };
    // Everything that needs the compute state.
    let mut servers = pod
        .compute()
        .with(|st| prepare_servers(st, &pod, &ctx, &boot, &target))?;

    allocate_ports(&pod, &ctx, &mut servers, &nics, &port_groups)?;
    let attached = attach_volumes(&pod, &ctx, &boot.bdm_volumes, &servers)?;
    if let Some(first) = servers.first_mut() {
        first.volumes = attached;
    }
    let first = servers.first().cloned();
    let reservation_id = first
        .as_ref()
        .map(|s| s.reservation_id.clone())
        .unwrap_or_default();
    pod.compute().with(|st| st.servers.extend(servers));
    created_response(&ctx, boot, first, reservation_id)
}

/// What the request resolved to before the compute lock is taken.
struct Target {
    image: Option<Image>,
    /// The boot image's id (of `imageRef`, or of an image→volume root).
    image_id: Option<String>,
    /// The zone the caller asked for, if any.
    pinned_az: Option<String>,
    /// The server group of the scheduler hints.
    group: Option<String>,
}

/// The zone part of `availability_zone` (`az`, `az:host`, `az:host:node`),
/// which must be this pod's; naming a host is for admins.
fn requested_zone(pod: &Pod, ctx: &Ctx, az: Option<&str>) -> NResult<Option<String>> {
    let pod_az = pod.config().availability_zone.clone();
    let requested_az = az
        .map(|a| a.split(':').next().unwrap_or("").to_string())
        .filter(|a| !a.is_empty());
    if let Some(a) = &requested_az {
        if a != &pod_az {
            return Err(NovaError::bad_request(
                "The requested availability zone is not available",
            ));
        }
    }
    if az.is_some_and(|a| a.contains(':')) {
        ctx.require_admin("os_compute_api:servers:create:forced_host")?;
    }
    Ok(requested_az)
}

/// The id of the image the servers boot from (`imageRef` may be a link).
fn boot_image_id(boot: &BootRequest) -> Option<String> {
    let image_ref = &boot.image_ref;
    if image_ref.is_empty() {
        boot.root_image.clone()
    } else {
        Some(
            image_ref
                .rsplit('/')
                .next()
                .unwrap_or(image_ref)
                .to_string(),
        )
    }
}

/// The boot image (Glance), which must be visible and active.
fn boot_image(pod: &Pod, ctx: &Ctx, id: Option<&str>) -> NResult<Option<Image>> {
    let Some(id) = id else {
        return Ok(None);
    };
    let img = pod
        .images()
        .get_visible(id, ctx.project(), ctx.is_admin())
        .ok_or_else(|| NovaError::bad_request("Can not find requested image"))?;
    if img.status != "active" {
        return Err(NovaError::bad_request(format!("Image {id} is not active.")));
    }
    Ok(Some(img))
}

/// Several servers cannot share a fixed IP or a port.
fn check_multi_create_nics(boot: &BootRequest) -> NResult<()> {
    if boot.max_count <= 1 {
        return Ok(());
    }
    let Networks::List(items) = &boot.networks else {
        return Ok(());
    };
    for it in items {
        match it {
            NicRequest::Network {
                fixed_ip: Some(_), ..
            } => {
                return Err(NovaError::bad_request(
                    "Failed to launch instances: max_count cannot be greater than 1 if \
                     an fixed_ip is specified.",
                ))
            }
            NicRequest::Port { .. } => {
                return Err(NovaError::bad_request(
                    "Failed to launch instances: Unable to launch multiple instances \
                     with a single configured port ID. Please launch your instance one \
                     by one with different ports.",
                ))
            }
            NicRequest::Network { .. } => {}
        }
    }
    Ok(())
}

/// The NICs each server gets, as Neutron resolves `networks`.
fn plan_nics(pod: &Pod, ctx: &Ctx, networks: &Networks) -> NResult<Vec<NicRequest>> {
    let net = pod.network();
    let (project, admin) = (ctx.project(), ctx.is_admin());
    match networks {
        Networks::None => Ok(Vec::new()),
        Networks::Auto => net.plan_nics(project, admin, None, true),
        Networks::Default => net.plan_nics(project, admin, None, false),
        Networks::List(items) => net.plan_nics(project, admin, Some(items), false),
    }
    .map_err(interfaces::boot_error)
}

/// The checks that need the compute state, then the servers, recorded in
/// their group but not yet in the state.
fn prepare_servers(
    st: &mut NovaState,
    pod: &Pod,
    ctx: &Ctx,
    boot: &BootRequest,
    target: &Target,
) -> NResult<Vec<Server>> {
    let flavor = boot_flavor(st, ctx, boot, target.image.as_ref())?;
    check_key_name(st, ctx, boot.key_name.as_deref())?;
    check_metadata_quota(st, ctx.project(), boot)?;
    let count = check_instances_quota(st, ctx.project(), &flavor, boot.min_count, boot.max_count)?;
    // The group's policy on this pod's one host: a boot it refuses
    // is accepted and fails scheduling (ERROR), as Nova's does.
    let group_fits = match &target.group {
        Some(g) => groups::admit(st, ctx.project(), g, count)?,
        None => true,
    };
    if count > 1 && !boot.bdm_volumes.is_empty() {
        return Err(NovaError::bad_request(
            "Cannot attach one or more volumes to multiple instances",
        ));
    }

    let launch = Launch {
        ctx,
        boot,
        flavor,
        image_ref: if boot.volume_root {
            String::new()
        } else {
            target.image_id.clone().unwrap_or_default()
        },
        availability_zone: pod.config().availability_zone.clone(),
        pinned_az: target.pinned_az.clone(),
        host: host_name(pod),
        reservation_id: format!(
            "r-{}",
            crate::util::random_urlsafe(8)
                .to_lowercase()
                .replace(['-', '_'], "x")
        ),
        now: Utc::now(),
        count,
        group_fits,
    };
    let mut out = Vec::new();
    for i in 0..count {
        let id = uuid::Uuid::new_v4().to_string();
        let seq = st.next_seq();
        out.push(launch.server(id, seq, i));
    }
    if let Some(g) = &target.group {
        let ids: Vec<String> = out.iter().map(|s| s.id.clone()).collect();
        groups::join(st, g, &ids);
    }
    Ok(out)
}

/// The flavor by `flavorRef`, visible, enabled and big enough for the
/// image (its disk only matters when the root is not a volume).
fn boot_flavor(
    st: &NovaState,
    ctx: &Ctx,
    boot: &BootRequest,
    image: Option<&Image>,
) -> NResult<Flavor> {
    let flavor_ref = &boot.flavor_ref;
    let flavor = st
        .flavor(flavor_ref)
        .filter(|f| f.visible_to(ctx.project(), ctx.is_admin()))
        .cloned()
        .ok_or_else(|| {
            NovaError::bad_request(format!("Flavor {flavor_ref} could not be found."))
        })?;
    if flavor.disabled {
        return Err(NovaError::bad_request(format!(
            "Flavor {flavor_ref} could not be found."
        )));
    }
    if let Some(img) = image {
        check_image_fits(&flavor, img, boot.volume_root)?;
    }
    if flavor.disk == 0 && !boot.volume_root && !ctx.is_admin() {
        return Err(NovaError::forbidden(
            "Only volume-backed servers are allowed for flavors with zero disk.",
        ));
    }
    Ok(flavor)
}

/// The image's `min_ram`, size and `min_disk` against the flavor.
fn check_image_fits(flavor: &Flavor, img: &Image, volume_root: bool) -> NResult<()> {
    if flavor.ram < img.min_ram {
        return Err(NovaError::bad_request(
            "Flavor's memory is too small for requested image.",
        ));
    }
    if volume_root {
        return Ok(());
    }
    let dest = flavor.disk * (1 << 30);
    if dest == 0 {
        return Ok(());
    }
    let size = img.size.unwrap_or(0);
    if size > dest {
        return Err(NovaError::bad_request(format!(
            "Flavor's disk is too small for requested image. Flavor disk is {dest} bytes, image is {size} bytes."
        )));
    }
    let min_disk = img.min_disk * (1 << 30);
    if min_disk > dest {
        return Err(NovaError::bad_request(format!(
            "Flavor's disk is smaller than the minimum size specified in image metadata. Flavor disk is {dest} bytes, minimum size is {min_disk} bytes."
        )));
    }
    Ok(())
}

/// A named key pair must be the caller's.
fn check_key_name(st: &NovaState, ctx: &Ctx, key_name: Option<&str>) -> NResult<()> {
    if let Some(k) = key_name {
        if !st
            .keypairs
            .iter()
            .any(|kp| kp.user_id == ctx.user() && kp.name == k)
        {
            return Err(NovaError::bad_request("Invalid key_name provided."));
        }
    }
    Ok(())
}

/// The `metadata_items` quota.
fn check_metadata_quota(st: &NovaState, project: &str, boot: &BootRequest) -> NResult<()> {
    let limits = st.quota_limits(project);
    if boot.metadata.len() as i64 > limits.get("metadata_items").copied().unwrap_or(128)
        && limits.get("metadata_items").copied().unwrap_or(128) >= 0
    {
        return Err(NovaError::forbidden(format!(
            "Maximum number of metadata items exceeds {}",
            limits.get("metadata_items").copied().unwrap_or(128)
        )));
    }
    Ok(())
}

/// What the servers of one boot share.
struct Launch<'a> {
    ctx: &'a Ctx,
    boot: &'a BootRequest,
    flavor: Flavor,
    image_ref: String,
    availability_zone: String,
    pinned_az: Option<String>,
    host: String,
    reservation_id: String,
    now: DateTime<Utc>,
    count: usize,
    /// The server group admits them; if not, they fail scheduling.
    group_fits: bool,
}

impl Launch<'_> {
    /// Server `i` of the boot (named `name-{i+1}` when there are several).
    fn server(&self, id: String, seq: u64, i: usize) -> Server {
        let (ctx, boot) = (self.ctx, self.boot);
        let display = if self.count > 1 {
            format!("{}-{}", boot.name, i + 1)
        } else {
            boot.name.clone()
        };
        let mut s = Server {
            seq,
            id: id.clone(),
            name: display.clone(),
            description: if ctx.at_least(19) {
                boot.description.clone()
            } else {
                Some(display.clone())
            },
            project_id: ctx.project().to_string(),
            user_id: ctx.user().to_string(),
            image_ref: self.image_ref.clone(),
            flavor: self.flavor.snapshot(),
            old_flavor: None,
            old_vm_state: None,
            vm_state: "building",
            task_state: Some("scheduling"),
            power_state: NOSTATE,
            created_at: self.now,
            updated_at: self.now,
            launched_at: None,
            terminated_at: None,
            deleted_at: None,
            metadata: boot.metadata.clone(),
            tags: boot.tags.clone(),
            key_name: boot.key_name.clone(),
            user_data: boot.user_data.clone(),
            config_drive: if boot.config_drive {
                "True".into()
            } else {
                String::new()
            },
            auto_disk_config: boot.disk_config,
            access_ipv4: boot.access_ipv4.clone(),
            access_ipv6: boot.access_ipv6.clone(),
            availability_zone: self.availability_zone.clone(),
            pinned_az: self.pinned_az.clone(),
            nics: Vec::new(),
            security_groups: boot.security_group_names(),
            volumes: Vec::new(),
            locked_by: None,
            locked_reason: None,
            reservation_id: self.reservation_id.clone(),
            launch_index: i as u32,
            hostname: match &boot.hostname {
                Some(h) if self.count == 1 => h.clone(),
                _ => sanitize_hostname(&display, &id),
            },
            host: self.host.clone(),
            instance_name: format!("instance-{seq:08x}"),
            trusted_certs: boot.trusted_certs.clone(),
            pending: None,
            actions: Vec::new(),
        };
        if self.group_fits {
            s.begin("spawning", BUILD_TIME, Step::Launch);
        } else {
            s.begin(
                "scheduling",
                BUILD_TIME,
                Step::Set {
                    vm: "error",
                    power: NOSTATE,
                },
            );
        }
        s.record("create", ctx.user(), ctx.project());
        s
    }
}

/// The ports of every server, all or none.
fn allocate_ports(
    pod: &Pod,
    ctx: &Ctx,
    servers: &mut [Server],
    nics: &[NicRequest],
    port_groups: &[String],
) -> NResult<()> {
    for i in 0..servers.len() {
        let vifs = pod
            .network()
            .allocate(&interfaces::device(ctx, &servers[i]), nics, port_groups);
        match vifs {
            Ok(v) => servers[i].nics = v,
            Err(e) => {
                release_ports(pod, servers);
                return Err(interfaces::boot_error(e));
            }
        }
    }
    Ok(())
}

/// Attaches the requested volumes to the (only) server, all or none; on
/// failure the servers' ports go too.
fn attach_volumes(
    pod: &Pod,
    ctx: &Ctx,
    bdm_volumes: &[BdmVolume],
    servers: &[Server],
) -> NResult<Vec<VolAttach>> {
    let mut attached: Vec<VolAttach> = Vec::new();
    let Some(first) = servers.first() else {
        return Ok(attached);
    };
    let mut next_dev = b'b';
    for b in bdm_volumes {
        let device = if b.boot_index == Some(0) {
            "/dev/vda".to_string()
        } else if let Some(d) = &b.device {
            d.clone()
        } else {
            let d = format!("/dev/vd{}", char::from(next_dev));
            next_dev += 1;
            d
        };
        match pod
            .volume()
            .attach(ctx.project(), &b.volume_id, &first.id, &device)
        {
            Ok(()) => attached.push(VolAttach {
                volume_id: b.volume_id.clone(),
                device,
                delete_on_termination: b.delete_on_termination,
                tag: b.tag.clone(),
                attachment_id: cinder_attachment_id(pod, &b.volume_id, &first.id),
                bdm_uuid: uuid::Uuid::new_v4().to_string(),
                is_root: b.boot_index == Some(0),
            }),
            Err(e) => {
                for a in &attached {
                    let _ = pod.volume().detach(&a.volume_id, &first.id);
                }
                release_ports(pod, servers);
                return Err(match e {
                    AttachError::NotFound => NovaError::bad_request(format!(
                        "Volume {} could not be found.",
                        b.volume_id
                    )),
                    AttachError::InvalidState(m) => {
                        NovaError::bad_request(format!("Invalid volume: {m}"))
                    }
                });
            }
        }
    }
    Ok(attached)
}

/// Gives back the ports of servers that will not be.
fn release_ports(pod: &Pod, servers: &[Server]) {
    for s in servers {
        pod.network().release(&s.id, &s.nics);
    }
}

/// The 202: the reservation id if asked for, else the first server with
/// its admin password (generated unless given) and a `Location`.
fn created_response(
    ctx: &Ctx,
    boot: BootRequest,
    first: Option<Server>,
    reservation_id: String,
) -> NResult<Response> {
    if boot.return_reservation_id {
        return Ok((
            StatusCode::ACCEPTED,
            Json(json!({"reservation_id": reservation_id})),
        )
            .into_response());
    }
    let Some(first) = first else {
        return Err(NovaError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Unexpected API Error.",
        ));
    };
    let password = boot.admin_pass.unwrap_or_else(random_password);
    let body = json!({"server": {
        "id": first.id,
        "links": ctx.links("servers", &first.id),
        "OS-DCF:diskConfig": if first.auto_disk_config { "AUTO" } else { "MANUAL" },
        "security_groups": boot.security_groups_echo,
        "adminPass": password,
    }});
    let mut resp = (StatusCode::ACCEPTED, Json(body)).into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("{}/servers/{}", ctx.api_url(), first.id)) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    Ok(resp)
}

fn random_password() -> String {
    const CHARS: &[u8] = b"23456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
    let mut rng = rand::rng();
    (0..12)
        .map(|_| char::from(CHARS[rng.random_range(0..CHARS.len())]))
        .collect()
}
