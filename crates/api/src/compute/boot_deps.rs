//! The compute domain's boot dependencies over the code that still lives
//! here (flavor, keypair and server group copies; the image check; the
//! server's ports in `boot_networks`). Each implementation moves into its
//! domain; until then this adapter is the one place api code serves the
//! domain.

use axum::http::StatusCode;
use serde_json::Value;
use tricircle_compute::servers::{BootDependencies, BootGroup, PortLeft, ServerPorts};
use tricircle_compute::ComputeError;
use tricircle_gateway::{Caller, GatewayError, PodAnswer};
use tricircle_network::bottom::Bottom;
use tricircle_store::{Flavor, Keypair, Pod};

use super::boot_networks::{self, Nic, Prepared};
use super::{flavors, images, keypairs, server_groups};
use crate::error::ApiError;
use crate::gateway::{Call, GatewayState};

/// An error of the code here, by meaning for the domain (the same answer
/// once mapped back).
fn domain(e: ApiError) -> ComputeError {
    let m = e.message;
    let g = match e.status {
        StatusCode::BAD_REQUEST => GatewayError::BadRequest(m),
        StatusCode::NOT_FOUND => GatewayError::NotFound(m),
        StatusCode::CONFLICT => GatewayError::Conflict(m),
        StatusCode::FORBIDDEN => GatewayError::OverQuota(m),
        StatusCode::UNAUTHORIZED => GatewayError::Unauthorized(m),
        StatusCode::SERVICE_UNAVAILABLE => GatewayError::Unavailable {
            message: m,
            retry_after: std::time::Duration::from_secs(e.retry_after.unwrap_or(0)),
        },
        status => GatewayError::PodRefused {
            status: status.as_u16(),
            message: m,
        },
    };
    g.into()
}

/// The request's copies and checks.
pub(super) struct ApiBoot<'a> {
    pub st: &'a GatewayState,
    pub c: &'a Call,
}

pub(super) struct Group(server_groups::BootGroup);

impl BootGroup for Group {
    fn pinned(&self) -> Option<Pod> {
        self.0.pinned.clone()
    }
}

impl BootDependencies for ApiBoot<'_> {
    type Group = Group;

    async fn find_flavor(&self, _: &Caller, id: &str) -> Result<Option<Flavor>, ComputeError> {
        flavors::find_flavor(self.st, &self.c.ctx, id)
            .await
            .map_err(domain)
    }

    async fn ensure_flavor(&self, _: &Caller, pod: &Pod, f: &Flavor) -> Result<(), ComputeError> {
        flavors::ensure_flavor_in_pod(self.st, self.c, pod, f)
            .await
            .map_err(domain)
    }

    async fn ensure_keypair(&self, _: &Caller, pod: &Pod, k: &Keypair) -> Result<(), ComputeError> {
        keypairs::ensure_keypair_in_pod(self.st, self.c, pod, k)
            .await
            .map_err(domain)
    }

    async fn check_image(&self, _: &Caller, image_id: &str) -> Result<(), ComputeError> {
        images::check_bootable(self.st, self.c, image_id)
            .await
            .map_err(domain)
    }

    async fn group_for_boot(
        &self,
        _: &Caller,
        id: &str,
        az: Option<&str>,
        count: i64,
    ) -> Result<Group, ComputeError> {
        server_groups::for_boot(self.st, self.c, id, az, count)
            .await
            .map(Group)
            .map_err(domain)
    }

    async fn ensure_group(&self, _: &Caller, g: &Group, pod: &Pod) -> Result<String, ComputeError> {
        g.0.ensure_in_pod(self.st, self.c, pod)
            .await
            .map_err(domain)
    }

    fn set_group_hint(body: &mut Value, bottom_id: &str) {
        server_groups::set_hint(body, bottom_id)
    }

    async fn record_members(&self, g: &Group, pod: &Pod, servers: &[String]) {
        g.0.record(self.st, pod, servers).await
    }

    async fn top_group_ids(&self, pod: &Pod, answer: &PodAnswer) -> Vec<(String, String)> {
        server_groups::top_ids_of_groups(self.st, pod, answer).await
    }

    fn server_groups_to_top(view: &mut Value, pairs: &[(String, String)]) {
        server_groups::groups_to_top(view, pairs)
    }
}

/// The request's ports, through the top network service (if any).
pub(super) struct ApiPorts<'a> {
    pub network: Option<&'a Bottom>,
    pub c: &'a Call,
}

impl ApiPorts<'_> {
    fn bottom(&self) -> Result<&Bottom, ComputeError> {
        self.network
            .ok_or_else(|| GatewayError::internal("no network service for a boot's ports").into())
    }
}

impl ServerPorts for ApiPorts<'_> {
    type Nics = Vec<Nic>;
    type Prepared = Prepared;

    fn available(&self) -> bool {
        self.network.is_some()
    }

    async fn preferred_az(
        &self,
        _: &Caller,
        nics: &Vec<Nic>,
    ) -> Result<Option<String>, ComputeError> {
        boot_networks::preferred_az(self.bottom()?, &self.c.ctx, nics)
            .await
            .map_err(domain)
    }

    async fn prepare(
        &self,
        _: &Caller,
        pod: &Pod,
        nics: &Vec<Nic>,
        groups: &[String],
    ) -> Result<Prepared, ComputeError> {
        boot_networks::prepare(self.bottom()?, &self.c.ctx, pod, nics, groups)
            .await
            .map_err(domain)
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
        _: &Caller,
        pod: &Pod,
        id: &str,
        p: &Prepared,
    ) -> Result<(), ComputeError> {
        boot_networks::bind(self.bottom()?, &self.c.ctx, pod, id, p)
            .await
            .map_err(domain)
    }

    async fn undo(&self, p: &Prepared) -> Result<(), Vec<PortLeft>> {
        let Some(bottom) = self.network else {
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

    async fn release(&self, server_id: &str) {
        if let Some(bottom) = self.network {
            boot_networks::release(bottom, server_id).await;
        }
    }

    async fn change_group(
        &self,
        _: &Caller,
        server_id: &str,
        group: &str,
        add: bool,
    ) -> Result<bool, ComputeError> {
        match self.network {
            Some(bottom) => boot_networks::change_group(bottom, &self.c.ctx, server_id, group, add)
                .await
                .map_err(domain),
            None => Ok(false),
        }
    }
}
