//! The top half of the server–port lifecycle: a server's top ports bound
//! to it, or released when it is gone (with its routing and allocation),
//! together with their `server_ports` rows and the jobs that bring the
//! pods' copies in line, in one transaction (outbox): either the ports, the
//! rows and the jobs all change, or none does. The jobs include the
//! `router_sync` of every router with an interface on the ports' subnets:
//! a VM coming or going changes the other pods' routes to it.

use serde_json::{json, Value};
use tricircle_core::ResourceType;
use tricircle_store::{NeutronKind, NeutronTx, ServerPort};

use super::{l3_owned, l3_port_in_use};
use crate::attrs::touch;
use crate::model::{Port, Resource};
use crate::routers::wiring::router_jobs_for_ports;
use crate::{jobs_for, jobs_types, Neutron, NeutronError};

impl Neutron {
    /// Binds top ports to a server (`device_id`, `device_owner`) and
    /// records them as the server's, with each port's update job. `ports`
    /// are `(port_id, created_by_boot)`. A port deleted meanwhile is left
    /// out (there is nothing to bind, nor to release later).
    pub async fn bind_server_ports(
        &self,
        server_id: &str,
        project_id: &str,
        device_owner: &str,
        ports: &[(String, bool)],
    ) -> Result<(), NeutronError> {
        let mut tx = self.store.neutron_tx().await?;
        let mut rows = Vec::new();
        let mut bound = Vec::new();
        for (port_id, created) in ports {
            let Some(mut port) = tx.lock(NeutronKind::Port, port_id).await? else {
                tracing::warn!(%server_id, %port_id, "a port of a new server is gone: not bound");
                continue;
            };
            self.set_device_in(&mut tx, &mut port, server_id, device_owner)
                .await?;
            bound.push(Port::from_doc(&port)?);
            rows.push(ServerPort {
                server_id: server_id.to_string(),
                port_id: port_id.clone(),
                project_id: project_id.to_string(),
                created_by_boot: *created,
            });
        }
        tx.add_server_ports(&rows).await?;
        // A new VM behind a router: the other pods' routes to it.
        for job in router_jobs_for_ports(&mut tx, &bound).await? {
            tx.enqueue(&job).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The server is gone from its pod: the ports its boot created are
    /// deleted (their copies by the ports' delete jobs), the ports the
    /// user gave are unbound and kept (their copies follow by the update
    /// jobs), the server forgets them, and its routing (`routing_id`) and
    /// its allocation go — all in one transaction, so a server is never
    /// forgotten while its ports stay bound to it, nor the other way
    /// round. Returns the ports kept bound: those whose owner became a
    /// router's or a floating IP's, which only their L3 resource may
    /// delete (as Neutron refuses it).
    pub async fn server_gone(
        &self,
        server_id: &str,
        routing_id: i64,
    ) -> Result<Vec<String>, NeutronError> {
        let mut tx = self.store.neutron_tx().await?;
        let mut kept = Vec::new();
        let mut released = Vec::new();
        for row in tx.server_ports(server_id).await? {
            if let Some(mut port) = tx.lock(NeutronKind::Port, &row.port_id).await? {
                let typed = Port::from_doc(&port)?;
                let owner = typed.device_owner.clone();
                released.push(typed);
                if row.created_by_boot && l3_owned(&owner) {
                    let e = l3_port_in_use(&row.port_id, &owner);
                    tracing::warn!(port_id = %row.port_id, error = %e, "a server port stays");
                    kept.push(row.port_id);
                    continue;
                }
                if row.created_by_boot {
                    self.delete_port_in(&mut tx, &port).await?;
                } else {
                    self.set_device_in(&mut tx, &mut port, "", "").await?;
                }
            }
            tx.remove_server_port(server_id, &row.port_id).await?;
        }
        tx.forget_resource(routing_id, ResourceType::Server, server_id)
            .await?;
        // The routes to its addresses go from the routers it was behind.
        for job in router_jobs_for_ports(&mut tx, &released).await? {
            tx.enqueue(&job).await?;
        }
        tx.commit().await?;
        Ok(kept)
    }

    /// Sets the device of a port locked in `tx` (its stored document), with
    /// its update job.
    pub(crate) async fn set_device_in(
        &self,
        tx: &mut NeutronTx,
        doc: &mut Value,
        device_id: &str,
        device_owner: &str,
    ) -> Result<(), NeutronError> {
        let port = Port::from_doc(doc)?;
        doc["device_id"] = json!(device_id);
        doc["device_owner"] = json!(device_owner);
        touch(doc);
        let jobs = jobs_for::<jobs_types::PortUpdate>(tx, &port.id, &port.project_id, None).await?;
        tx.update(NeutronKind::Port, doc, &jobs).await?;
        Ok(())
    }
}
