//! Actions on a server, changes to it and its volume attachments.

use bytes::Bytes;
use http::{Method, StatusCode};
use tricircle_gateway::{Caller, GatewayError};
use tricircle_pods::PodPath;

use super::show::empty;
use super::{Presented, ServerAt, Servers};
use crate::ComputeError;
use tricircle_core::ResourceType;

/// A `POST /servers/{id}/action`, as far as the gateway takes part.
pub enum ServerAction {
    /// `addSecurityGroup` (`add`) or `removeSecurityGroup`.
    SecurityGroup { group: String, add: bool },
    /// `resize`: the new flavor must exist in the pod first.
    Resize { flavor_ref: String },
    /// `forceDelete`: once accepted, the server is forgotten.
    ForceDelete,
    /// Anything else: the pod's.
    Other,
}

impl Servers<'_> {
    /// Performs `action` (the request `body` as the pod gets it).
    pub async fn action(
        &self,
        caller: &Caller,
        at: &ServerAt,
        action: ServerAction,
        body: Bytes,
    ) -> Result<Presented, ComputeError> {
        match &action {
            ServerAction::SecurityGroup { group, add } => {
                if self.change_group(caller, &at.id, group, *add).await? {
                    return Ok(empty(StatusCode::ACCEPTED));
                }
            }
            ServerAction::Resize { flavor_ref } => {
                let flavor = self
                    .compute
                    .find_flavor(caller, flavor_ref)
                    .await?
                    .ok_or_else(|| {
                        GatewayError::BadRequest(format!("Flavor {flavor_ref} could not be found."))
                    })?;
                self.compute.ensure_flavor(caller, &at.pod, &flavor).await?;
            }
            ServerAction::ForceDelete | ServerAction::Other => {}
        }
        let answer = self
            .forward(
                caller,
                &at.pod,
                Method::POST,
                PodPath::of(["servers", &at.id, "action"]),
                None,
                Some(body),
            )
            .await?;
        if matches!(action, ServerAction::ForceDelete) && answer.is_success() {
            self.forget(at.routing.id, &at.id).await?;
        }
        Ok(self.present_server(answer, &at.pod).await)
    }

    /// Attaches `volume_id`: both must be in the same pod.
    pub async fn attach_volume(
        &self,
        caller: &Caller,
        at: &ServerAt,
        volume_id: &str,
        body: Bytes,
    ) -> Result<Presented, ComputeError> {
        let (_, volume_pod) = self
            .compute
            .gateway
            .routed_pod(caller, ResourceType::Volume, volume_id)
            .await?
            .ok_or_else(|| {
                GatewayError::NotFound(format!("Volume {volume_id} could not be found."))
            })?;
        if volume_pod.pod_id != at.pod.pod_id {
            return Err(GatewayError::BadRequest(format!(
                "Volume {volume_id} is in availability zone {} and server {} in {}: a volume can only be attached \
                 to a server in the same pod.",
                volume_pod.az_name, at.id, at.pod.az_name
            ))
            .into());
        }
        let path = PodPath::of(["servers", &at.id, "os-volume_attachments"]);
        let answer = self
            .forward(caller, &at.pod, Method::POST, path, None, Some(body))
            .await?;
        Ok(answer.presented(|_| {}))
    }

    /// `PUT /servers/{id}` and other calls on the server itself.
    pub async fn update(
        &self,
        caller: &Caller,
        id: &str,
        method: Method,
        query: Option<String>,
        body: Bytes,
    ) -> Result<Presented, ComputeError> {
        let at = self.locate(caller, id).await?;
        let path = PodPath::of(["servers", id]);
        let answer = self
            .forward(caller, &at.pod, method, path, query, Some(body))
            .await?;
        Ok(self.present_server(answer, &at.pod).await)
    }

    /// `/servers/{id}/os-volume_attachments` other than an attach.
    pub async fn volume_attachments(
        &self,
        caller: &Caller,
        id: &str,
        method: Method,
        query: Option<String>,
        body: Bytes,
    ) -> Result<Presented, ComputeError> {
        let at = self.locate(caller, id).await?;
        let path = PodPath::of(["servers", id, "os-volume_attachments"]);
        let answer = self
            .forward(caller, &at.pod, method, path, query, Some(body))
            .await?;
        Ok(answer.presented(|_| {}))
    }
}
