//! `POST /servers`: where (AZ, group, scheduler), how much (quota across
//! pods, reserved before the pod is asked), then the boot.

use http::{HeaderMap, Method, StatusCode};
use serde_json::{json, Value};
use tricircle_gateway::scheduler::pick_pod;
use tricircle_gateway::{Caller, GatewayError, PodCall};
use tricircle_pods::PodPath;
use tricircle_store::{Reservation, Usage};

use super::view::server_to_top;
use super::{Presented, Servers};
use crate::ComputeError;
use tricircle_core::ResourceType;
use tricircle_network::bottom::server_ports::Nic;

/// The keys a boot may name its group under.
pub const HINT_KEYS: [&str; 2] = ["os:scheduler_hints", "OS-SCH-HNT:scheduler_hints"];

/// A boot request, checked as Nova checks it.
pub struct ServerCreate {
    /// The request body as the pod gets it (the gateway sets the pod's AZ,
    /// the flavor id, the group copy and the ports).
    pub body: Value,
    pub name: String,
    /// The flavor's id (from an id or a link).
    pub flavor_ref: String,
    pub key_name: Option<String>,
    /// The image booted from (none: from a volume).
    pub image_ref: Option<String>,
    /// The volume a boot-from-volume starts from, if named.
    pub boot_volume: Option<String>,
    /// The networks asked for (none: `"none"`, `"auto"` or no networks).
    pub nics: Option<Vec<Nic>>,
    pub security_groups: Vec<String>,
    pub min_count: i64,
    pub max_count: i64,
    /// Answer the reservation id instead of the first server.
    pub return_reservation_id: bool,
    /// The top AZ asked for (`az` of `az:host` or `az::node`).
    pub az: Option<String>,
    /// The server group of the scheduler hints.
    pub group: Option<String>,
}

/// What a create answers.
pub enum Created {
    /// The pod's answer about the (first) server, in top terms.
    Server(Presented),
    /// The reservation id the caller asked for instead.
    Reservation(String),
}

impl Servers<'_> {
    /// Boots `req.min_count` to `req.max_count` servers in one pod.
    pub async fn create(
        &self,
        caller: &Caller,
        mut req: ServerCreate,
    ) -> Result<Created, ComputeError> {
        let flavor = self
            .compute
            .find_flavor(caller, &req.flavor_ref)
            .await?
            .ok_or_else(|| {
                GatewayError::BadRequest(format!("Flavor {} could not be found.", req.flavor_ref))
            })?;
        let keypair = match &req.key_name {
            None => None,
            Some(k) => Some(
                self.compute
                    .gateway
                    .store
                    .get_keypair(&caller.user_id, k)
                    .await
                    .map_err(|_| GatewayError::BadRequest("Invalid key_name provided.".into()))?,
            ),
        };
        if let Some(image) = &req.image_ref {
            self.compute.check_image(caller, image).await?;
        }
        if let Some(volume) = &req.boot_volume {
            self.check_boot_volume(caller, volume).await?;
        }
        if req.nics.is_some() && self.compute.network.is_none() {
            return Err(GatewayError::BadRequest(
                "Booting on networks (uuid, port or fixed_ip) needs Tricircle's network service, which is not \
                 configured; use networks \"none\" or \"auto\"."
                    .into(),
            )
            .into());
        }
        let az = match (req.az.clone(), &req.nics) {
            (None, Some(nics)) => self.preferred_az(caller, nics).await?,
            (az, _) => az,
        };
        let group = match &req.group {
            Some(id) => Some(
                self.compute
                    .group_for_boot(caller, id, az.as_deref(), req.min_count)
                    .await?,
            ),
            None => None,
        };
        let pod = match group.as_ref().and_then(|g| g.pinned.clone()) {
            Some(pod) => pod,
            None => {
                pick_pod(
                    &self.compute.gateway.store,
                    self.compute.gateway.pods.health(),
                    &caller.project_id,
                    az.as_deref(),
                )
                .await?
            }
        };
        for_pod(&mut req.body, &pod, &flavor.flavorid);

        // How much: quota across all pods, reserved before the pod is
        // asked; as many as the quota allows up to max_count, at least
        // min_count.
        let each = Usage {
            instances: 1,
            cores: flavor.vcpus,
            ram_mb: flavor.ram_mb,
            ..Default::default()
        };
        let limits = self
            .compute
            .gateway
            .project_limits(&caller.project_id)
            .await?;
        let reservations = match self
            .compute
            .gateway
            .store
            .reserve(&Reservation {
                project_id: &caller.project_id,
                pod_id: &pod.pod_id,
                resource_type: super::RESOURCE_TYPE.as_str(),
                each,
                min_count: req.min_count,
                max_count: req.max_count,
                limits: &limits,
                ttl: self.compute.gateway.reservation_ttl(),
            })
            .await?
        {
            Ok(r) => r,
            Err(q) => {
                return Err(GatewayError::OverQuota(format!(
                    "Quota exceeded for {}: Requested {}, but already used {} of {} {}",
                    q.resource, q.requested, q.used, q.limit, q.resource
                ))
                .into())
            }
        };

        if let Some(g) = &group {
            match self.compute.ensure_server_group(caller, g, &pod).await {
                Ok(bottom) => set_group_hint(&mut req.body, &bottom),
                Err(e) => {
                    self.release(&reservations).await;
                    return Err(e);
                }
            }
        }
        let boot = super::boot::Boot {
            pod: &pod,
            flavor: &flavor,
            keypair: keypair.as_ref(),
            body: &req.body,
            name: &req.name,
            each,
            reservations: &reservations,
            nets: req
                .nics
                .as_ref()
                .map(|n| (n.as_slice(), req.security_groups.as_slice())),
        };
        let outcome = self.boot(caller, boot).await;
        // What no server took goes back.
        let used = outcome.as_ref().map_or(0, |(_, ids)| ids.len());
        self.release(&reservations[used.min(reservations.len())..])
            .await;
        let (answer, ids) = outcome?;
        if let Some(g) = &group {
            // A failure is logged with the group: the boot stands.
            if let Err(e) = self.compute.record_group_members(g, &pod, &ids).await {
                tracing::warn!(error = %e, group = %g.group.id, "server group members not recorded");
            }
        }
        if req.return_reservation_id && answer.is_success() {
            return Ok(Created::Reservation(reservation_id()));
        }
        Ok(Created::Server(
            answer.presented(|v| server_to_top(v, &pod)),
        ))
    }

    /// Quota reservations no server took go back (a failed release only
    /// waits for the reservations' expiry, which is logged).
    async fn release(&self, reservations: &[i64]) {
        if let Err(e) = self
            .compute
            .gateway
            .store
            .release_reservations(reservations)
            .await
        {
            tracing::warn!(error = %e, ?reservations, "quota reservations not released; they expire");
        }
    }

    /// Nova's refusal of a boot volume that is not bootable, before
    /// anything is made. A volume the gateway cannot ask about is left to
    /// the pod.
    async fn check_boot_volume(
        &self,
        caller: &Caller,
        volume_id: &str,
    ) -> Result<(), ComputeError> {
        if !tricircle_gateway::segment::valid_segment(volume_id) {
            return Ok(());
        }
        // Volumes are routed as `volume` (see the volume gateway).
        let Some((_, pod)) = self
            .compute
            .gateway
            .routed_pod(caller, ResourceType::Volume, volume_id)
            .await?
        else {
            return Ok(());
        };
        let no_headers = HeaderMap::new();
        let answer = match self
            .compute
            .gateway
            .call(
                caller,
                PodCall {
                    pod: &pod,
                    service_type: "volumev3",
                    method: Method::GET,
                    path: PodPath::of(["volumes", volume_id]),
                    query: None,
                    headers: &no_headers,
                    body: None,
                },
            )
            .await
        {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(error = %e, "volume not asked before a boot");
                return Ok(());
            }
        };
        if answer.status != StatusCode::OK {
            return Ok(());
        }
        let doc = answer.json().unwrap_or_default();
        let bootable = match &doc["volume"]["bootable"] {
            Value::Bool(b) => Some(*b),
            Value::String(s) => Some(matches!(
                s.to_ascii_lowercase().as_str(),
                "true" | "1" | "t" | "yes" | "y" | "on"
            )),
            _ => None,
        };
        if bootable == Some(false) {
            return Err(GatewayError::BadRequest(format!(
                "Block Device {volume_id} is not bootable."
            ))
            .into());
        }
        Ok(())
    }
}

/// The boot body as `pod` gets it: the pod's own AZ name (keeping an
/// admin's `:host` / `::node`), none when the pod has none; the flavor by
/// its id.
fn for_pod(body: &mut Value, pod: &tricircle_store::Pod, flavor_id: &str) {
    let Some(server) = body.get_mut("server").and_then(Value::as_object_mut) else {
        return;
    };
    match (
        pod.pod_az_name.is_empty(),
        server.get("availability_zone").and_then(Value::as_str),
    ) {
        (true, _) => {
            server.remove("availability_zone");
        }
        (false, Some(requested)) => {
            // Keep `:host` / `::node` suffixes for admins.
            let suffix = requested
                .split_once(':')
                .map(|(_, rest)| format!(":{rest}"))
                .unwrap_or_default();
            server.insert(
                "availability_zone".into(),
                json!(format!("{}{suffix}", pod.pod_az_name)),
            );
        }
        (false, None) => {
            server.insert("availability_zone".into(), json!(pod.pod_az_name));
        }
    }
    server.insert("flavorRef".into(), json!(flavor_id));
}

/// Replaces the group of a boot's scheduler hints by the pod's copy.
fn set_group_hint(body: &mut Value, bottom_id: &str) {
    for key in HINT_KEYS {
        if let Some(h) = body.get_mut(key).and_then(Value::as_object_mut) {
            if h.contains_key("group") {
                h.insert("group".into(), json!(bottom_id));
            }
        }
    }
}

/// A reservation id as Nova makes them: `r-` and eight characters.
fn reservation_id() -> String {
    const CHARS: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let random = uuid::Uuid::new_v4();
    let tail: String = random.as_bytes()[..8]
        .iter()
        .map(|b| CHARS[usize::from(*b) % CHARS.len()] as char)
        .collect();
    format!("r-{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(pod_az: &str) -> tricircle_store::Pod {
        tricircle_store::Pod {
            pod_id: "p1".into(),
            pod_name: "Pod1".into(),
            az_name: "az1".into(),
            pod_az_name: pod_az.into(),
            dc_name: String::new(),
            maintenance: false,
            created_at: String::new(),
            updated_at: String::new(),
        }
    }

    #[test]
    fn the_pod_gets_its_own_az_and_the_flavor_id() {
        let mut body = json!({"server": {"availability_zone": "az1::node7", "flavorRef": "http://x/flavors/1"}});
        for_pod(&mut body, &pod("nova"), "1");
        assert_eq!(body["server"]["availability_zone"], "nova::node7");
        assert_eq!(body["server"]["flavorRef"], "1");
        let mut body = json!({"server": {}});
        for_pod(&mut body, &pod("nova"), "1");
        assert_eq!(body["server"]["availability_zone"], "nova");
        let mut body = json!({"server": {"availability_zone": "az1"}});
        for_pod(&mut body, &pod(""), "1");
        assert!(body["server"].get("availability_zone").is_none());
    }

    #[test]
    fn the_group_hint_names_the_pods_copy() {
        let mut body = json!({"server": {}, "os:scheduler_hints": {"group": "top"}});
        set_group_hint(&mut body, "bottom");
        assert_eq!(body["os:scheduler_hints"]["group"], "bottom");
    }

    #[test]
    fn reservation_ids_look_like_novas() {
        let id = reservation_id();
        assert!(id.starts_with("r-") && id.len() == 10, "{id}");
    }
}
