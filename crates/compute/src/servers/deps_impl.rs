//! The boot's dependencies served by the domains themselves: the compute
//! service's copies (flavors, keypairs, server groups) and image check,
//! and the network domain's server–port lifecycle
//! (`tricircle_network::bottom::server_ports`) with its errors said as
//! Nova says them.

use serde_json::{json, Value};
use tricircle_gateway::{Caller, GatewayError, PodAnswer};
use tricircle_network::bottom::server_ports::{Nic, Prepared, ServerPortError};
use tricircle_network::bottom::{Bottom, BottomError};
use tricircle_network::{NeutronError, Scope};
use tricircle_store::{Flavor, Keypair, Pod};

use super::deps::{BootDependencies, BootGroup, PortLeft, ServerPorts};
use crate::server_groups::BootGroup as Group;
use crate::{Compute, ComputeError};

/// The keys a boot may name its group under.
pub const HINT_KEYS: [&str; 2] = ["os:scheduler_hints", "OS-SCH-HNT:scheduler_hints"];

impl BootGroup for Group {
    fn pinned(&self) -> Option<Pod> {
        self.pinned.clone()
    }
}

impl BootDependencies for Compute {
    type Group = Group;

    async fn find_flavor(&self, caller: &Caller, id: &str) -> Result<Option<Flavor>, ComputeError> {
        Compute::find_flavor(self, caller, id).await
    }

    async fn ensure_flavor(
        &self,
        caller: &Caller,
        pod: &Pod,
        f: &Flavor,
    ) -> Result<(), ComputeError> {
        Compute::ensure_flavor(self, caller, pod, f).await
    }

    async fn ensure_keypair(
        &self,
        caller: &Caller,
        pod: &Pod,
        k: &Keypair,
    ) -> Result<(), ComputeError> {
        Compute::ensure_keypair(self, caller, pod, k).await
    }

    async fn check_image(&self, caller: &Caller, image_id: &str) -> Result<(), ComputeError> {
        Compute::check_image(self, caller, image_id).await
    }

    async fn group_for_boot(
        &self,
        caller: &Caller,
        id: &str,
        az: Option<&str>,
        count: i64,
    ) -> Result<Group, ComputeError> {
        Compute::group_for_boot(self, caller, id, az, count).await
    }

    async fn ensure_group(
        &self,
        caller: &Caller,
        g: &Group,
        pod: &Pod,
    ) -> Result<String, ComputeError> {
        self.ensure_server_group(caller, g, pod).await
    }

    fn set_group_hint(body: &mut Value, bottom_id: &str) {
        for key in HINT_KEYS {
            if let Some(h) = body.get_mut(key).and_then(Value::as_object_mut) {
                if h.contains_key("group") {
                    h.insert("group".into(), json!(bottom_id));
                }
            }
        }
    }

    /// A failure is logged with the group: the boot stands.
    async fn record_members(&self, g: &Group, pod: &Pod, servers: &[String]) {
        if let Err(e) = self.record_group_members(g, pod, servers).await {
            tracing::warn!(error = %e, group = %g.group.id, "server group members not recorded");
        }
    }

    /// The groups a server view names in `server_groups` (2.71+).
    async fn top_group_ids(&self, pod: &Pod, answer: &PodAnswer) -> Vec<(String, String)> {
        let bottoms: Vec<String> = answer
            .json()
            .and_then(|v| {
                v["server"]["server_groups"].as_array().map(|a| {
                    a.iter()
                        .filter_map(|g| g.as_str().map(str::to_string))
                        .collect()
                })
            })
            .unwrap_or_default();
        if bottoms.is_empty() {
            return Vec::new();
        }
        self.group_top_ids(pod, bottoms).await
    }

    fn server_groups_to_top(v: &mut Value, pairs: &[(String, String)]) {
        let Some(groups) = v
            .get_mut("server")
            .and_then(|s| s.get_mut("server_groups"))
            .and_then(Value::as_array_mut)
        else {
            return;
        };
        for g in groups {
            if let Some((_, top)) = pairs.iter().find(|(b, _)| g.as_str() == Some(b.as_str())) {
                *g = json!(top);
            }
        }
    }
}

fn scope(caller: &Caller) -> Scope {
    Scope {
        project_id: caller.project_id.clone(),
        user_id: caller.user_id.clone(),
        is_admin: caller.is_admin(),
    }
}

impl Compute {
    /// The network service a boot's ports need.
    fn bottom(&self) -> Result<&Bottom, ComputeError> {
        self.network
            .as_ref()
            .ok_or_else(|| GatewayError::internal("no network service for a boot's ports").into())
    }
}

impl ServerPorts for Compute {
    type Nics = Vec<Nic>;
    type Prepared = Prepared;

    fn available(&self) -> bool {
        self.network.is_some()
    }

    async fn preferred_az(
        &self,
        caller: &Caller,
        nics: &Vec<Nic>,
    ) -> Result<Option<String>, ComputeError> {
        Ok(self.bottom()?.preferred_az(&scope(caller), nics).await?)
    }

    async fn prepare(
        &self,
        caller: &Caller,
        pod: &Pod,
        nics: &Vec<Nic>,
        groups: &[String],
    ) -> Result<Prepared, ComputeError> {
        Ok(self
            .bottom()?
            .prepare_server_ports(&scope(caller), pod, nics, groups)
            .await?)
    }

    fn pod_networks(p: &Prepared) -> Vec<Value> {
        p.nics.clone()
    }

    fn created_ports(p: &Prepared) -> Vec<String> {
        p.ports
            .iter()
            .filter(|(_, created)| *created)
            .map(|(id, _)| id.clone())
            .collect()
    }

    async fn bind(
        &self,
        caller: &Caller,
        pod: &Pod,
        id: &str,
        p: &Prepared,
    ) -> Result<(), ComputeError> {
        Ok(self
            .bottom()?
            .bind_server_ports(&scope(caller), pod, id, p)
            .await?)
    }

    async fn undo(&self, p: &Prepared) -> Result<(), Vec<PortLeft>> {
        let Some(bottom) = &self.network else {
            return Ok(());
        };
        // A copy that cannot go now is left to its port's delete job,
        // recorded with the top port's delete; only ports for which even
        // that failed are left.
        let left: Vec<PortLeft> = bottom
            .undo_server_ports(p)
            .await
            .into_iter()
            .map(|(port_id, e)| PortLeft {
                port_id,
                error: e.to_string(),
            })
            .collect();
        if left.is_empty() {
            Ok(())
        } else {
            Err(left)
        }
    }

    /// A failure is logged, nothing changed.
    async fn release(&self, server_id: &str) {
        let Some(bottom) = &self.network else {
            return;
        };
        match bottom.release_server_ports(server_id).await {
            Ok(kept) => {
                for port_id in kept {
                    tracing::warn!(%server_id, %port_id, "a server port stays bound: an L3 resource owns it");
                }
            }
            Err(e) => {
                tracing::error!(%server_id, error = %e, "could not release the server's ports");
            }
        }
    }

    async fn change_group(
        &self,
        caller: &Caller,
        server_id: &str,
        group: &str,
        add: bool,
    ) -> Result<bool, ComputeError> {
        match &self.network {
            Some(bottom) => Ok(bottom
                .change_server_group(&scope(caller), server_id, group, add)
                .await?),
            None => Ok(false),
        }
    }
}

/// A server–port lifecycle error as Nova reports it.
impl From<ServerPortError> for ComputeError {
    fn from(e: ServerPortError) -> ComputeError {
        match e {
            ServerPortError::UnknownPort(_)
            | ServerPortError::UnknownNetwork(_)
            | ServerPortError::NotInZone { .. }
            | ServerPortError::NoSubnet(_)
            | ServerPortError::UnknownGroup { .. }
            | ServerPortError::PortSecurityRequired => ComputeError::BadRequest(e.to_string()),
            ServerPortError::PortInUse(_) => ComputeError::Conflict(e.to_string()),
            ServerPortError::GroupNotFound { .. } | ServerPortError::GroupNotAssociated { .. } => {
                ComputeError::NotFound(e.to_string())
            }
            ServerPortError::Neutron(e) => top_network_error(e),
            ServerPortError::Bottom(e) => e.into(),
        }
    }
}

/// A top Neutron error as Nova would report it: the caller's request
/// wrong (400, or 409 for a conflict), or our failure.
fn top_network_error(e: NeutronError) -> ComputeError {
    use tricircle_network::ErrorClass;
    match e.class {
        ErrorClass::Conflict => ComputeError::Conflict(e.message),
        ErrorClass::BadRequest | ErrorClass::Forbidden | ErrorClass::NotFound => {
            ComputeError::BadRequest(e.message)
        }
        ErrorClass::Unavailable | ErrorClass::Internal => {
            tracing::error!(error = ?e, "top network service failed");
            GatewayError::internal("top network service failed").into()
        }
    }
}

/// A pod's network resource error as Nova reports it.
impl From<BottomError> for ComputeError {
    fn from(e: BottomError) -> ComputeError {
        match e {
            BottomError::Top(e) => top_network_error(e),
            BottomError::Conflict(m) | BottomError::Gone(m) => ComputeError::Conflict(m),
            BottomError::Unavailable { pod, detail } => {
                tracing::warn!(%pod, %detail, "pod unavailable while preparing networks");
                GatewayError::unavailable(
                    format!("Pod {pod} is unavailable."),
                    std::time::Duration::ZERO,
                )
                .into()
            }
            BottomError::Refused {
                pod,
                what,
                status,
                message,
            } => {
                tracing::warn!(%pod, %what, status, %message, "pod refused a network resource");
                // The pod's own client errors are the caller's to see, as
                // the pod said them. Our service user's token refused, or a
                // pod failing: the service is unavailable, not the request
                // wrong.
                if (400..500).contains(&status) && status != 401 {
                    GatewayError::PodRefused {
                        status,
                        message: format!("Pod {pod} refused {what}: {message}"),
                    }
                    .into()
                } else {
                    GatewayError::unavailable(
                        format!("Pod {pod} is unavailable: {what} failed with HTTP {status}."),
                        std::time::Duration::ZERO,
                    )
                    .into()
                }
            }
            BottomError::Store(e) => e.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hints_and_groups_are_renamed() {
        let mut body = json!({"server": {}, "os:scheduler_hints": {"group": "top"}});
        <Compute as BootDependencies>::set_group_hint(&mut body, "bottom");
        assert_eq!(body["os:scheduler_hints"]["group"], "bottom");
        let mut view = json!({"server": {"server_groups": ["b1", "b2"]}});
        <Compute as BootDependencies>::server_groups_to_top(
            &mut view,
            &[("b1".into(), "t1".into())],
        );
        assert_eq!(view["server"]["server_groups"], json!(["t1", "b2"]));
    }

    #[test]
    fn pod_refusals_keep_client_errors_and_hide_the_rest() {
        let refused = |status| BottomError::Refused {
            pod: "p".into(),
            what: "port".into(),
            status,
            message: "no".into(),
        };
        assert!(matches!(
            ComputeError::from(refused(400)),
            ComputeError::Gateway(GatewayError::PodRefused { status: 400, .. })
        ));
        for status in [401, 500, 999] {
            assert!(matches!(
                ComputeError::from(refused(status)),
                ComputeError::Gateway(GatewayError::Unavailable { .. })
            ));
        }
    }
}
