//! Cross-pod L3, east-west (BEHAVIOUR §6.3): every pod's part of one top
//! router made to match the top — the `router_sync` job's work.
//!
//! For each pod holding a copy of a network attached to the top router: a
//! bottom router named by the top router's id; a port on the tenant's
//! bridge network at the address the top gave it (the bridge network,
//! subnet and port copied as any port is); interfaces on the pod's copies
//! of the attached subnets (at that pod's own gateway IP, which the bottom
//! subnet already has); and the extra routes `core::l3::plan_routes` plans,
//! written whole when they differ. Interfaces on subnets no longer attached
//! go after the routes are written; a pod with nothing attached any more
//! loses its bottom router and bridge port, as every pod does once the top
//! router is gone (and the bridge with the project's last router).
//!
//! Every step is "make it so", so the job may run any number of times, be
//! cut anywhere (a pod down: a transient failure, retried) and be finished
//! by another worker.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

use futures::future::{BoxFuture, FutureExt};
use futures::stream::{self, StreamExt, TryStreamExt};
use ipnet::Ipv4Net;
use reqwest::Method;
use serde_json::{json, Value};
use tricircle_core::l3::{diff_routes, plan_routes, ExtraRoute, PodRouter, RouterView, VmAddress};
use tricircle_core::ResourceType;
use tricircle_pods::PodPath;
use tricircle_store::copies::stale;
use tricircle_store::Pod;

use super::{Bottom, BottomError, Result};
use crate::model::{Port, Router};
use crate::ports::ROUTER_INTERFACE;
use crate::routers::bridge::Bridge;
use crate::routers::wiring::RouterWiring;

/// How many pods one router's sync sets up at once.
const PODS_AT_ONCE: usize = 4;

/// One pod's part of a top router, as set up.
struct PodPart {
    pod: Pod,
    bottom_router: String,
    bridge_ip: Ipv4Addr,
    /// The attached top subnets the pod holds, with their bottom ids.
    subnets: BTreeMap<String, String>,
}

impl Bottom {
    /// Makes every pod's part of the top router `router_id` (of
    /// `project_id`, which finds the bridge once the router is gone) match
    /// the top.
    pub async fn sync_router(&self, router_id: &str, project_id: &str) -> Result<()> {
        let Some(wiring) = self.neutron.router_wiring(router_id).await? else {
            return self.teardown_router(router_id, project_id).await;
        };
        let project_id = wiring.router.project_id.clone();
        // The pods holding a copy of an attached subnet's network, with
        // the subnet's copy (made if the network got it later).
        let mut wanted: BTreeMap<String, (Pod, BTreeMap<String, String>)> = BTreeMap::new();
        for s in &wiring.subnets {
            for (pod, bottom_net) in self.copies(&s.network_id, ResourceType::Network).await? {
                let bottom = self.ensure_subnet(&pod, s, &bottom_net).await?;
                wanted
                    .entry(pod.pod_id.clone())
                    .or_insert_with(|| (pod, BTreeMap::new()))
                    .1
                    .insert(s.id.clone(), bottom);
            }
        }
        let bridge = if wanted.is_empty() {
            self.neutron.find_bridge(&project_id).await?
        } else {
            Some(self.neutron.ensure_bridge(&project_id).await?)
        };
        if let Some(bridge) = bridge.as_ref().filter(|_| !wanted.is_empty()) {
            // Pods are set up side by side, a few at a time.
            let setups: Vec<BoxFuture<'_, Result<PodPart>>> = wanted
                .values()
                .map(|(pod, subnets)| self.setup_pod(pod, &wiring, bridge, subnets).boxed())
                .collect();
            let parts: Vec<PodPart> = stream::iter(setups)
                .buffer_unordered(PODS_AT_ONCE)
                .try_collect()
                .await?;
            self.write_routes(&wiring, &parts).await?;
            for part in &parts {
                self.remove_stale_interfaces(part, bridge).await?;
            }
        }
        // Pods with a bottom router and nothing attached any more.
        for (pod, bottom) in self.bottom_routers(router_id).await? {
            if !wanted.contains_key(&pod.pod_id) {
                self.teardown_pod(&pod, router_id, bottom.as_deref(), bridge.as_ref())
                    .await?;
            }
        }
        Ok(())
    }

    /// The pods with a bottom router of `router_id`, with its id; a create
    /// whose answer was lost (its lock stale) with the router the pod may
    /// have made under that name, if any. A create still under way is
    /// waited for (a transient failure).
    async fn bottom_routers(&self, router_id: &str) -> Result<Vec<(Pod, Option<String>)>> {
        let mut out: Vec<(Pod, Option<String>)> = self
            .copies(router_id, ResourceType::Router)
            .await?
            .into_iter()
            .map(|(pod, b)| (pod, Some(b)))
            .collect();
        for r in self.unfinished(router_id, ResourceType::Router).await? {
            let Some(pod) = self.store().find_pod(&r.pod_id).await? else {
                continue;
            };
            if !stale(&r.updated_at, self.lock_timeout) {
                return Err(BottomError::Unavailable {
                    pod: pod.pod_name.clone(),
                    detail: format!("the router {router_id} is still being created"),
                });
            }
            let found = self.find_by_name(&pod, "routers", router_id).await?;
            out.push((pod, found));
        }
        Ok(out)
    }

    /// The bottom router, its bridge port and its interfaces in one pod.
    async fn setup_pod(
        &self,
        pod: &Pod,
        wiring: &RouterWiring,
        bridge: &Bridge,
        subnets: &BTreeMap<String, String>,
    ) -> Result<PodPart> {
        let router = &wiring.router;
        let bottom_router = self.ensure_router(pod, router).await?;
        // One removed behind our back is made again (its routing goes).
        let bottom_router = match self
            .show::<Value>(pod, "routers", "router", &bottom_router)
            .await?
        {
            Some(_) => bottom_router,
            None => {
                self.forget_copy(pod, &router.id, ResourceType::Router)
                    .await?;
                self.ensure_router(pod, router).await?
            }
        };
        let top_port = self
            .neutron
            .bridge_port(bridge, &pod.pod_id, &router.id)
            .await?;
        let bridge_ip = top_port
            .ip_on(&bridge.subnet.id)
            .and_then(|ip| ip.parse::<Ipv4Addr>().ok())
            .ok_or_else(|| {
                BottomError::Conflict(format!("bridge port {} has no bridge address", top_port.id))
            })?;
        let mut bridge_port = self
            .copy_port(pod, &top_port, Some(&router.project_id))
            .await?;
        let interfaces = self.interfaces(pod, &bottom_router).await?;
        if !interfaces.iter().any(|p| p.id == bridge_port) {
            match self
                .show::<Port>(pod, "ports", "port", &bridge_port)
                .await?
            {
                None => {
                    self.forget_copy(pod, &top_port.id, ResourceType::Port)
                        .await?;
                    bridge_port = self
                        .copy_port(pod, &top_port, Some(&router.project_id))
                        .await?;
                }
                Some(p) if !p.device_id.is_empty() => {
                    return Err(BottomError::Conflict(format!(
                        "the bridge port {} in pod {} belongs to {}, not to router {bottom_router}",
                        p.id, pod.pod_name, p.device_id
                    )))
                }
                Some(_) => {}
            }
            self.router_action(
                pod,
                &bottom_router,
                "add_router_interface",
                json!({ "port_id": bridge_port }),
            )
            .await?;
        }
        for bottom_subnet in subnets.values() {
            let attached = interfaces
                .iter()
                .any(|p| p.fixed_ips.iter().any(|ip| ip.subnet_id == *bottom_subnet));
            if !attached {
                self.router_action(
                    pod,
                    &bottom_router,
                    "add_router_interface",
                    json!({ "subnet_id": bottom_subnet }),
                )
                .await?;
            }
        }
        Ok(PodPart {
            pod: pod.clone(),
            bottom_router,
            bridge_ip,
            subnets: subnets.clone(),
        })
    }

    /// Forgets the copy of `top_id` in `pod` that is gone from the pod
    /// (removed behind our back), so that the next get-or-create makes it
    /// again.
    async fn forget_copy(&self, pod: &Pod, top_id: &str, kind: ResourceType) -> Result<()> {
        tracing::warn!(pod = %pod.pod_name, %top_id, %kind,
            "a copy is gone from its pod: making it again");
        self.store()
            .delete_routing_of(top_id, &pod.pod_id, kind)
            .await?;
        Ok(())
    }

    /// The bottom router of a top router in `pod`, named by its id.
    async fn ensure_router(&self, pod: &Pod, router: &Router) -> Result<String> {
        let (top_id, project_id) = (router.id.as_str(), router.project_id.as_str());
        self.get_or_create(
            pod,
            project_id,
            ResourceType::Router,
            top_id,
            || self.find_by_name(pod, "routers", top_id),
            || async {
                if let Some(id) = self.find_by_name(pod, "routers", top_id).await? {
                    return Ok(id);
                }
                let body = json!({"name": top_id, "tenant_id": project_id});
                self.create(pod, "routers", "router", body).await
            },
        )
        .await
    }

    /// The interface ports of a bottom router.
    async fn interfaces(&self, pod: &Pod, bottom_router: &str) -> Result<Vec<Port>> {
        let query = format!("device_id={bottom_router}&device_owner={ROUTER_INTERFACE}");
        let ports: Vec<Port> = self.list(pod, "ports", "ports", query).await?;
        Ok(ports)
    }

    /// `PUT /routers/{id}/{action}`; a router or interface already gone
    /// (404) is fine.
    async fn router_action(
        &self,
        pod: &Pod,
        bottom_router: &str,
        action: &str,
        body: Value,
    ) -> Result<()> {
        let a = self
            .call(
                pod,
                Method::PUT,
                PodPath::of(["routers", bottom_router, action]),
                None,
                Some(body),
            )
            .await?;
        if a.ok() || (a.status == 404 && action == "remove_router_interface") {
            Ok(())
        } else {
            Err(Self::refused(
                pod,
                &format!("{action} on router {bottom_router}"),
                &a,
            ))
        }
    }

    /// Plans every pod's extra routes and writes those that differ.
    async fn write_routes(&self, wiring: &RouterWiring, parts: &[PodPart]) -> Result<()> {
        let subnets: BTreeMap<String, Ipv4Net> = wiring
            .subnets
            .iter()
            .filter_map(|s| Some((s.id.clone(), s.cidr.parse::<Ipv4Net>().ok()?)))
            .collect();
        let mut view = RouterView {
            subnets,
            ..RouterView::default()
        };
        for part in parts {
            let router = PodRouter {
                bridge_ip: Some(part.bridge_ip),
                subnets: part.subnets.keys().cloned().collect(),
                vms: Vec::new(),
            };
            view.pods.insert(part.pod.pod_id.clone(), router);
        }
        // Where each VM is: the pod holding its port's copy.
        let ids: Vec<String> = wiring.vm_ports.iter().map(|p| p.id.clone()).collect();
        let mut homes: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (top, pod) in self.store().copy_pods_of(&ids, ResourceType::Port).await? {
            homes.entry(top).or_default().push(pod);
        }
        for port in &wiring.vm_ports {
            for pod_id in homes.get(&port.id).into_iter().flatten() {
                let Some(router) = view.pods.get_mut(pod_id) else {
                    continue;
                };
                for ip in &port.fixed_ips {
                    if let Ok(addr) = ip.ip_address.parse::<Ipv4Addr>() {
                        router.vms.push(VmAddress {
                            ip: addr,
                            subnet_id: ip.subnet_id.clone(),
                        });
                    }
                }
            }
        }
        let plan = plan_routes(&view);
        for s in &plan.skipped {
            tracing::warn!(router = %wiring.router.id, pod = %s.pod, ip = %s.vm.ip,
                reason = ?s.reason, "a VM address gets no route");
        }
        for part in parts {
            let desired = plan
                .routes
                .get(&part.pod.pod_id)
                .map(Vec::as_slice)
                .unwrap_or_default();
            self.set_routes(part, &wiring.router.id, desired).await?;
        }
        Ok(())
    }

    /// Writes a bottom router's whole route list unless it is `desired`
    /// already.
    async fn set_routes(&self, part: &PodPart, top_id: &str, desired: &[ExtraRoute]) -> Result<()> {
        let (pod, bottom_router) = (&part.pod, part.bottom_router.as_str());
        let Some(current) = self
            .show::<Router>(pod, "routers", "router", bottom_router)
            .await?
        else {
            return Err(self.router_gone(pod, top_id).await);
        };
        let parsed: Vec<ExtraRoute> = current
            .routes
            .iter()
            .filter_map(|r| {
                Some(ExtraRoute {
                    destination: r.destination.parse().ok()?,
                    nexthop: r.nexthop.parse().ok()?,
                })
            })
            .collect();
        if parsed.len() == current.routes.len()
            && parsed.len() == desired.len()
            && diff_routes(&parsed, desired).is_empty()
        {
            return Ok(());
        }
        let routes: Vec<Value> = desired
            .iter()
            .map(|r| json!({"destination": r.destination.to_string(), "nexthop": r.nexthop.to_string()}))
            .collect();
        let body = json!({ "routes": routes });
        match self
            .update(pod, "routers", "router", bottom_router, body)
            .await?
        {
            Some(_) => Ok(()),
            None => Err(self.router_gone(pod, top_id).await),
        }
    }

    /// A bottom router vanished under a run (removed behind our back): its
    /// routing goes, so that the next run (this one fails, for a retry)
    /// makes it again.
    async fn router_gone(&self, pod: &Pod, top_id: &str) -> BottomError {
        if let Err(e) = self.forget_copy(pod, top_id, ResourceType::Router).await {
            return e;
        }
        BottomError::Gone(format!(
            "The bottom router of router {top_id} in pod {} is gone; it is made again.",
            pod.pod_name
        ))
    }

    /// Removes the interfaces of a bottom router on subnets no longer
    /// attached at the top (the bridge port stays).
    async fn remove_stale_interfaces(&self, part: &PodPart, bridge: &Bridge) -> Result<()> {
        let wanted: BTreeSet<&str> = part.subnets.values().map(String::as_str).collect();
        let bridge_subnets: BTreeSet<String> = self
            .copies(&bridge.subnet.id, ResourceType::Subnet)
            .await?
            .into_iter()
            .filter(|(pod, _)| pod.pod_id == part.pod.pod_id)
            .map(|(_, b)| b)
            .collect();
        for p in self.interfaces(&part.pod, &part.bottom_router).await? {
            let keep = p.fixed_ips.iter().any(|ip| {
                wanted.contains(ip.subnet_id.as_str()) || bridge_subnets.contains(&ip.subnet_id)
            });
            if !keep {
                self.router_action(
                    &part.pod,
                    &part.bottom_router,
                    "remove_router_interface",
                    json!({ "port_id": p.id }),
                )
                .await?;
            }
        }
        Ok(())
    }

    /// Everything of a top router that is gone, in every pod; then its
    /// bridge ports, and the bridge with the project's last router.
    async fn teardown_router(&self, router_id: &str, project_id: &str) -> Result<()> {
        let bridge = self.neutron.find_bridge(project_id).await?;
        let bridge = bridge.as_ref();
        for (pod, bottom) in self.bottom_routers(router_id).await? {
            self.teardown_pod(&pod, router_id, bottom.as_deref(), bridge)
                .await?;
        }
        // Bridge ports of pods whose bottom router went in an earlier run.
        if let Some(bridge) = bridge {
            for pod in self.store().list_pods().await? {
                if !pod.is_top() {
                    self.drop_bridge_port(&pod, router_id, bridge).await?;
                }
            }
        }
        self.neutron.remove_bridge_if_unused(project_id).await?;
        Ok(())
    }

    /// Removes a top router's part in one pod: its routes, its interfaces
    /// (the bridge port's copy goes with its interface), the bottom router
    /// and its routing, and the bridge port.
    async fn teardown_pod(
        &self,
        pod: &Pod,
        router_id: &str,
        bottom: Option<&str>,
        bridge: Option<&Bridge>,
    ) -> Result<()> {
        if let Some(b) = bottom {
            // Routes first: the pod refuses to remove an interface a
            // route's next hop needs.
            if self
                .update(pod, "routers", "router", b, json!({"routes": []}))
                .await?
                .is_some()
            {
                for p in self.interfaces(pod, b).await? {
                    self.router_action(
                        pod,
                        b,
                        "remove_router_interface",
                        json!({ "port_id": p.id }),
                    )
                    .await?;
                }
                self.delete(pod, "routers", b).await?;
            }
        }
        self.store()
            .delete_routing_of(router_id, &pod.pod_id, ResourceType::Router)
            .await?;
        match bridge {
            Some(b) => self.drop_bridge_port(pod, router_id, b).await,
            None => Ok(()),
        }
    }

    /// Deletes the bridge port of a router in a pod: its copy, then the
    /// top port.
    async fn drop_bridge_port(&self, pod: &Pod, router_id: &str, bridge: &Bridge) -> Result<()> {
        let Some(port) = self
            .neutron
            .find_bridge_port(bridge, &pod.pod_id, router_id)
            .await?
        else {
            return Ok(());
        };
        self.delete_copies(&port.id, ResourceType::Port).await?;
        self.neutron
            .delete_bridge_port(bridge, &pod.pod_id, router_id)
            .await?;
        Ok(())
    }
}
