//! A server's ports, served by the network domain's server–port lifecycle
//! (`tricircle_network::bottom::server_ports`): made ready in the pod
//! before the boot, bound to the server after, undone when the boot fails,
//! released with the server's routing when it is gone; and that
//! lifecycle's errors said as Nova says them.

use std::time::Duration;

use tricircle_gateway::{Caller, GatewayError};
use tricircle_network::bottom::server_ports::{Nic, Prepared, ServerPortError};
use tricircle_network::bottom::{Bottom, BottomError};
use tricircle_network::{ErrorClass, NeutronError, Scope};
use tricircle_store::Pod;

use super::{Servers, RESOURCE_TYPE};
use crate::ComputeError;

fn scope(caller: &Caller) -> Scope {
    Scope {
        project_id: caller.project_id.clone(),
        user_id: caller.user_id.clone(),
        is_admin: caller.is_admin(),
    }
}

/// The top ports a boot created (those it did not create are the user's).
pub(super) fn created_ports(p: &Prepared) -> Vec<String> {
    p.ports
        .iter()
        .filter(|(_, created)| *created)
        .map(|(id, _)| id.clone())
        .collect()
}

impl Servers<'_> {
    /// The network service a boot's ports need.
    fn bottom(&self) -> Result<&Bottom, ComputeError> {
        self.compute
            .network
            .as_ref()
            .ok_or_else(|| GatewayError::internal("no network service for a boot's ports").into())
    }

    /// Where a boot without an AZ should go given its networks.
    pub(super) async fn preferred_az(
        &self,
        caller: &Caller,
        nics: &[Nic],
    ) -> Result<Option<String>, ComputeError> {
        Ok(self.bottom()?.preferred_az(&scope(caller), nics).await?)
    }

    /// Checks the networks against `pod` and prepares their ports there
    /// (undoing what it made on failure).
    pub(super) async fn prepare_ports(
        &self,
        caller: &Caller,
        pod: &Pod,
        nics: &[Nic],
        groups: &[String],
    ) -> Result<Prepared, ComputeError> {
        Ok(self
            .bottom()?
            .prepare_server_ports(&scope(caller), pod, nics, groups)
            .await?)
    }

    /// The boot succeeded: the ports belong to `server_id`.
    pub(super) async fn bind_ports(
        &self,
        caller: &Caller,
        pod: &Pod,
        server_id: &str,
        p: &Prepared,
    ) -> Result<(), ComputeError> {
        Ok(self
            .bottom()?
            .bind_server_ports(&scope(caller), pod, server_id, p)
            .await?)
    }

    /// Deletes the ports a failed boot made. Returns whether they are all
    /// gone; those left are logged by name and, when the create check
    /// `check` knows them, left to it (it deletes them when it runs). A
    /// copy that cannot go now is left to its port's delete job, recorded
    /// with the top port's delete; only ports for which even that failed
    /// are left.
    pub(super) async fn undo_ports(
        &self,
        prepared: Option<&Prepared>,
        check: Option<&str>,
    ) -> bool {
        let (Some(p), Some(bottom)) = (prepared, &self.compute.network) else {
            return true;
        };
        let left = bottom.undo_server_ports(p).await;
        for (port_id, error) in &left {
            tracing::error!(%port_id, %error, check_job = ?check,
                "a port of a failed boot was not deleted");
        }
        left.is_empty()
    }

    /// The server `id` is gone from its pod: its routing (`routing_id`),
    /// its allocation and, with the network service, the ports its boot
    /// made (those the user gave are unbound) go in one transaction.
    ///
    /// A failure is the caller's to see, even when the pod's delete
    /// succeeded: the routing, the quota and the ports all still stand,
    /// and nothing else would ever retry. So the caller gets our 500 (503
    /// when the database is unavailable) instead of the pod's answer, and
    /// the delete repeated finishes it (the pod then answers 404, which is
    /// taken as gone too). A 2xx would hide a server that still counts
    /// against the quota and keeps its ports bound.
    pub(super) async fn forget(&self, routing_id: i64, id: &str) -> Result<(), ComputeError> {
        let Some(bottom) = &self.compute.network else {
            return self
                .compute
                .store
                .forget_resource(routing_id, RESOURCE_TYPE, id)
                .await
                .map_err(|e| {
                    tracing::error!(server = %id, error = %e, "a server gone from its pod is not forgotten");
                    e.into()
                });
        };
        match bottom.server_gone(id, routing_id).await {
            Ok(kept) => {
                for port_id in kept {
                    tracing::warn!(server_id = %id, %port_id, "a server port stays bound: an L3 resource owns it");
                }
                Ok(())
            }
            Err(e) => {
                tracing::error!(server = %id, error = %e,
                    "a server gone from its pod is not forgotten: its routing, allocation and ports stand");
                Err(match e {
                    e if e.class == ErrorClass::Unavailable => {
                        GatewayError::unavailable(e.message, Duration::ZERO)
                    }
                    _ => GatewayError::internal(format!("server {id} not forgotten")),
                }
                .into())
            }
        }
    }

    /// `addSecurityGroup`/`removeSecurityGroup` on the server's ports;
    /// `false` without a network service (the pod's then).
    pub(super) async fn change_group(
        &self,
        caller: &Caller,
        server_id: &str,
        group: &str,
        add: bool,
    ) -> Result<bool, ComputeError> {
        match &self.compute.network {
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
                GatewayError::unavailable(format!("Pod {pod} is unavailable."), Duration::ZERO)
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
                        Duration::ZERO,
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
