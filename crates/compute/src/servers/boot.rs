//! The boot itself: the flavor and keypair made ready in the pod, then one
//! server per reservation, each with its create check, its ports and its
//! routing. What fails is undone; what cannot be undone now stays with the
//! create check job, which settles it later.

use bytes::Bytes;
use http::Method;
use serde_json::{json, Value};
use tricircle_gateway::{Caller, GatewayError, PodAnswer};
use tricircle_pods::PodPath;
use tricircle_store::{Flavor, Keypair, NewRouting, Pod, Usage};

use super::ports::created_ports;
use super::{Servers, RESOURCE_TYPE};
use crate::create_check::ServerCreateCheck;
use crate::ComputeError;
use tricircle_gateway::create_check::CreateCheck;
use tricircle_network::bottom::server_ports::Nic;

/// What one boot request makes in its pod.
pub(super) struct Boot<'a> {
    pub pod: &'a Pod,
    pub flavor: &'a Flavor,
    pub keypair: Option<&'a Keypair>,
    pub body: &'a Value,
    pub name: &'a str,
    pub each: Usage,
    /// One per server to boot.
    pub reservations: &'a [i64],
    /// The networks and security groups, with a network service.
    pub nets: Option<(&'a [Nic], &'a [String])>,
}

/// How one server's boot ended when it made no server.
enum Stop {
    /// Before the pod was asked, or the pod refused: stop here.
    Failed(ComputeError),
    /// The pod refused the boot: its answer is the caller's.
    Refused(PodAnswer),
    /// The pod made a server the gateway could not record: the whole
    /// request fails.
    Abort(ComputeError),
}

impl Servers<'_> {
    /// Prepares the pod (flavor, keypair), boots one server per
    /// reservation and records each with its routing and allocation.
    /// Returns the first answer and the ids created; the reservations past
    /// the last id are the caller's to give back.
    pub(super) async fn boot(
        &self,
        caller: &Caller,
        b: Boot<'_>,
    ) -> Result<(PodAnswer, Vec<String>), ComputeError> {
        let count = b.reservations.len();
        self.compute.ensure_flavor(caller, b.pod, b.flavor).await?;
        if let Some(k) = b.keypair {
            self.compute.ensure_keypair(caller, b.pod, k).await?;
        }
        let mut first: Option<PodAnswer> = None;
        let mut ids = Vec::new();
        for i in 0..count {
            // Nova's default multi-instance name template.
            let name = if count > 1 {
                format!("{}-{}", b.name, i + 1)
            } else {
                b.name.to_string()
            };
            match self.boot_one(caller, &b, i, &name).await {
                Ok((id, answer)) => {
                    ids.push(id);
                    first.get_or_insert(answer);
                }
                Err(Stop::Abort(e)) => return Err(e),
                Err(Stop::Refused(answer)) if ids.is_empty() => return Ok((answer, ids)),
                Err(Stop::Failed(e)) if ids.is_empty() => return Err(e),
                // Stopping a multi-server boot early: the servers made so
                // far stand.
                Err(Stop::Failed(e)) => {
                    tracing::warn!(error = %e, "stopping a multi-server boot early");
                    break;
                }
                Err(Stop::Refused(_)) => break,
            }
        }
        first
            .map(|a| (a, ids))
            .ok_or_else(|| GatewayError::internal("a boot made no server and no error").into())
    }

    /// Boots the `i`th server of `b`, named `name`.
    async fn boot_one(
        &self,
        caller: &Caller,
        b: &Boot<'_>,
        i: usize,
        name: &str,
    ) -> Result<(String, PodAnswer), Stop> {
        let failed = |e: ComputeError| Stop::Failed(e);
        let mut one = b.body.clone();
        if let Some(s) = one.get_mut("server").and_then(Value::as_object_mut) {
            s.remove("min_count");
            s.remove("max_count");
            s.insert("name".into(), json!(name));
        }
        // Before anything is made for this server: the job that settles its
        // create should the outcome never be recorded (lost answer, or this
        // gateway dies), named after what it looks for.
        let mut payload = ServerCreateCheck {
            create: CreateCheck {
                request_id: caller.request_id.clone(),
                pod_name: b.pod.pod_name.clone(),
                pod_id: Some(b.pod.pod_id.clone()),
                name: Some(name.to_string()),
                user_id: Some(caller.user_id.clone()),
            },
            ports: Vec::new(),
        };
        let check = self
            .compute
            .gateway
            .expect_create(&payload, &caller.project_id, &b.reservations[i..])
            .await
            .map_err(|e| failed(e.into()))?;
        // Each server gets its own top ports, ready in the pod.
        let prepared = match b.nets {
            Some((nics, groups)) => match self.prepare_ports(caller, b.pod, nics, groups).await {
                Ok(p) => {
                    if let Some(s) = one.get_mut("server").and_then(Value::as_object_mut) {
                        s.insert("networks".into(), Value::Array(p.nics.clone()));
                        // Applied to the ports already.
                        s.remove("security_groups");
                    }
                    Some(p)
                }
                Err(e) => {
                    self.cancel_check(&check).await;
                    return Err(failed(e));
                }
            },
            None => None,
        };
        // The top ports this boot made go with the create if the check
        // finds it unsettled.
        let ports = prepared.as_ref().map(created_ports).unwrap_or_default();
        if !ports.is_empty() {
            payload.ports = ports.clone();
            // Strings only: serializing cannot fail.
            let resource = serde_json::to_value(&payload).unwrap_or_default();
            if let Err(e) = self
                .compute
                .gateway
                .store
                .update_pending_job(&check, &resource)
                .await
            {
                // The job does not know the ports: they must go now.
                self.undo_ports(prepared.as_ref(), None).await;
                self.cancel_check(&check).await;
                return Err(failed(e.into()));
            }
        }
        let body = Bytes::from(serde_json::to_vec(&one).unwrap_or_default());
        let answer = self
            .forward(
                caller,
                b.pod,
                Method::POST,
                PodPath::fixed("/servers"),
                None,
                Some(body),
            )
            .await
            // The pod may or may not have made it: the check job settles it
            // (and the top ports this boot made stay until then).
            .map_err(|e| failed(e.into()))?;
        if !answer.is_success() {
            if self.undo_ports(prepared.as_ref(), Some(&check)).await {
                self.cancel_check(&check).await;
            }
            return Err(Stop::Refused(answer));
        }
        let Some(id) = answer
            .json()
            .and_then(|v| v["server"]["id"].as_str().map(str::to_string))
        else {
            // The check job finds what the pod made from its name.
            tracing::error!(pod = %b.pod.pod_name, "boot answered without a server id");
            return Err(Stop::Abort(ComputeError::BadPodAnswer(format!(
                "Pod {} answered without a server id.",
                b.pod.pod_name
            ))));
        };
        let routing = NewRouting {
            top_id: id.clone(),
            bottom_id: Some(id.clone()),
            pod_id: b.pod.pod_id.clone(),
            project_id: caller.project_id.clone(),
            resource_type: RESOURCE_TYPE,
        };
        let reservation = b.reservations[i];
        if let Err(e) = self
            .compute
            .gateway
            .store
            .record_created(&routing, Some((reservation, b.each)), Some(&check))
            .await
        {
            // A server nobody can reach through Tricircle is an orphan: it
            // goes now, or else its check job (still pending, since the
            // transaction that would have cancelled it failed) deletes it,
            // and the ports with it.
            tracing::error!(error = %e, server = %id, "routing write failed; deleting the server in its pod");
            let deleted = self
                .forward(
                    caller,
                    b.pod,
                    Method::DELETE,
                    PodPath::of(["servers", &id]),
                    None,
                    None,
                )
                .await;
            if deleted.as_ref().is_ok_and(PodAnswer::is_success) {
                self.undo_ports(prepared.as_ref(), Some(&check)).await;
            } else {
                tracing::warn!(server = %id, "delete failed; the create check job will remove it");
            }
            return Err(Stop::Abort(e.into()));
        }
        if let Some(p) = &prepared {
            if let Err(e) = self.bind_ports(caller, b.pod, &id, p).await {
                tracing::error!(error = %e, server = %id, "could not record the server's ports");
            }
        }
        Ok((id, answer))
    }

    /// The create is settled: its check job goes. One that stays finds
    /// nothing when it runs.
    async fn cancel_check(&self, check: &str) {
        if let Err(e) = self
            .compute
            .gateway
            .store
            .abandon_create(&[], Some(check))
            .await
        {
            tracing::warn!(error = %e, job = %check, "a create check job stays; it finds nothing");
        }
    }
}
