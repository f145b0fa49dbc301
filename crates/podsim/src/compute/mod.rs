//! Nova v2.1 subset under `/compute/v2.1` (catalog URL
//! `{base}/compute/v2.1`), also reachable in the legacy form
//! `/compute/v2.1/{project_id}/...`.
//!
//! Servers (create with quota, image, flavor, keypair, AZ and volume-boot
//! checks; list with filters, sorting and paging; show, update, delete;
//! actions; ips, metadata, volume attachments, tags, instance actions,
//! remote consoles), flavors (with extra specs and access), keypairs,
//! availability zones, limits, quota sets, hypervisors and services.
//! Responses follow the requested microversion (2.1 to 2.96).
//!
//! Servers go BUILD → ACTIVE after [`BUILD_TIME`]; actions pass through
//! their task state for [`TASK_TIME`]; a deleted server disappears after
//! [`DELETE_TIME`].

mod actions;
mod ctx;
mod error;
mod flavors;
mod groups;
mod images;
mod interfaces;
mod keypairs;
mod misc;

/// The fake hypervisor's size (what `/os-hypervisors/detail` reports).
pub use misc::{HYPERVISOR_LOCAL_GB, HYPERVISOR_MEMORY_MB, HYPERVISOR_VCPUS};
mod model;
pub(crate) mod query;
mod servers;
mod sub;
mod usage;
mod version;
mod view;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{OriginalUri, Request, State};
use axum::http::{HeaderMap, HeaderValue};
use axum::middleware::{from_fn_with_state, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, MethodRouter};
use axum::Router;
use serde_json::{json, Value};

use self::ctx::UrlProject;
use self::error::NovaError;
use self::model::State as NovaState;
use crate::auth::authenticate;
use crate::pod::Pod;

/// How long a new server stays in BUILD (task state `spawning`).
pub const BUILD_TIME: Duration = Duration::from_millis(300);
/// How long an action's task state lasts (e.g. `powering-off`).
pub const TASK_TIME: Duration = Duration::from_millis(100);
/// How long a deleted server stays visible with task state `deleting`.
pub const DELETE_TIME: Duration = Duration::from_millis(100);
/// Nova's `[api] max_limit`.
pub(crate) const MAX_LIMIT: usize = 1000;

/// The pod's compute state. Cheap to clone; clones share state.
#[derive(Clone, Default)]
pub struct ComputeService {
    state: Arc<Mutex<NovaState>>,
}

impl std::fmt::Debug for ComputeService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ComputeService").finish_non_exhaustive()
    }
}

impl ComputeService {
    /// Runs `f` on the state after applying due transitions. Never held
    /// across an `.await`.
    pub(crate) fn with<R>(&self, f: impl FnOnce(&mut NovaState) -> R) -> R {
        let mut guard = self.state.lock().unwrap_or_else(|p| p.into_inner());
        guard.settle();
        f(&mut guard)
    }

    /// How long server deletes take from now on (default [`DELETE_TIME`]):
    /// tests hold a server `deleting` as long as they need.
    pub fn set_delete_time(&self, d: Duration) {
        self.with(|st| st.delete_time = Some(d));
    }

    /// Ends every delete in progress now (and any other due transition).
    pub fn finish_deletes(&self) {
        self.with(|st| {
            st.delete_time = None;
            for s in &mut st.servers {
                if s.task_state == Some("deleting") {
                    s.finish_now();
                }
            }
            st.settle();
        });
    }

    /// Ids of every flavor, in creation order.
    pub fn flavor_ids(&self) -> Vec<String> {
        self.with(|s| s.flavors.iter().map(|f| f.id.clone()).collect())
    }

    /// Every live server (any project), as JSON: id, name, status,
    /// vm/task/power state, tenant_id, user_id, flavor id, image id,
    /// availability zone, attached volume ids, metadata and tags.
    pub fn servers(&self) -> Vec<Value> {
        self.with(|s| {
            s.servers
                .iter()
                .map(|srv| {
                    json!({
                        "id": srv.id,
                        "name": srv.name,
                        "status": srv.status(),
                        "vm_state": srv.vm_state,
                        "task_state": srv.task_state,
                        "power_state": srv.power_state,
                        "tenant_id": srv.project_id,
                        "user_id": srv.user_id,
                        "flavor_id": srv.flavor.id,
                        "image_id": srv.image_ref,
                        "availability_zone": srv.availability_zone,
                        "volumes": srv.volumes.iter().map(|v| v.volume_id.clone()).collect::<Vec<_>>(),
                        "metadata": model::map_json(&srv.metadata),
                        "tags": srv.tags,
                    })
                })
                .collect()
        })
    }

    /// `(name, policy, member ids)` of every server group, oldest first.
    pub fn server_groups(&self) -> Vec<(String, String, Vec<String>)> {
        self.with(|s| {
            s.server_groups
                .iter()
                .map(|g| (g.name.clone(), g.policy.clone(), g.members.clone()))
                .collect()
        })
    }

    /// Names of `user_id`'s keypairs, sorted.
    pub fn keypair_names(&self, user_id: &str) -> Vec<String> {
        self.with(|s| {
            s.keypairs_of(user_id)
                .into_iter()
                .map(|k| k.name.clone())
                .collect()
        })
    }
}

/// The Cinder attachment id of `volume_id` on `server_id`, as the pod's
/// volume service recorded it (a fresh UUID if it has none).
pub(crate) fn cinder_attachment_id(pod: &Pod, volume_id: &str, server_id: &str) -> String {
    pod.volume()
        .volume(volume_id)
        .and_then(|v| {
            v["attachments"].as_array().and_then(|list| {
                list.iter()
                    .find(|a| a["server_id"] == server_id)
                    .and_then(|a| a["attachment_id"].as_str().map(str::to_string))
            })
        })
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
}

/// The hypervisor host of a pod (one fake compute node).
pub(crate) fn host_name(pod: &Pod) -> String {
    format!("{}-compute1", pod.region().to_ascii_lowercase())
}

/// keystonemiddleware (401), then the microversion (400/406) and, for the
/// legacy URL form, the project id check; adds the version headers.
async fn nova_layer(
    State((pod, legacy)): State<(Pod, bool)>,
    mut req: Request,
    next: Next,
) -> Response {
    let caller = match authenticate(&pod, req.headers()) {
        Ok(c) => c,
        Err(resp) => return resp,
    };
    let ver = match version::requested(req.headers()) {
        Ok(v) => v,
        Err(e) => return e.into_response(),
    };
    let mut url_project = None;
    if legacy {
        let path = req
            .extensions()
            .get::<OriginalUri>()
            .map(|u| u.path().to_string())
            .unwrap_or_else(|| req.uri().path().to_string());
        let pid = path.split('/').nth(3).unwrap_or("").to_string();
        if pid != caller.project_id {
            return NovaError::bad_request(format!(
                "Malformed request URL: URL's project_id '{pid}' doesn't match Context's \
                 project_id '{}'",
                caller.project_id
            ))
            .into_response();
        }
        url_project = Some(pid);
    }
    req.extensions_mut().insert(caller);
    req.extensions_mut().insert(ver);
    req.extensions_mut().insert(UrlProject(url_project));
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&format!("compute {ver}")) {
        h.insert("openstack-api-version", v);
    }
    if let Ok(v) = HeaderValue::from_str(&ver.to_string()) {
        h.insert("x-openstack-nova-api-version", v);
    }
    h.append("vary", HeaderValue::from_static("OpenStack-API-Version"));
    h.append(
        "vary",
        HeaderValue::from_static("X-OpenStack-Nova-API-Version"),
    );
    resp
}

/// A known path with a method Nova has no route for: the Routes mapper
/// finds no match and webob's bare 404 goes out (not a Nova fault).
async fn method_not_allowed(headers: HeaderMap) -> Response {
    crate::image::error::GlanceError::not_found("The resource could not be found.").render(&headers)
}

/// A known path's method router: a method it has no route for gets the
/// Routes mapper's bare 404.
fn or_not_found(r: MethodRouter<Pod>) -> MethodRouter<Pod> {
    r.fallback(method_not_allowed)
}

/// `/servers`: create, list, show, update, delete and actions.
fn servers_routes() -> Router<Pod> {
    Router::new()
        .route(
            "/servers",
            or_not_found(get(servers::index).post(servers::create)),
        )
        .route("/servers/detail", or_not_found(get(servers::detail)))
        .route(
            "/servers/{server_id}",
            or_not_found(
                get(servers::show)
                    .put(servers::update)
                    .delete(servers::delete),
            ),
        )
        .route(
            "/servers/{server_id}/action",
            or_not_found(post(actions::action)),
        )
}

/// Server sub-resources: ips, interfaces, metadata, volume attachments,
/// tags, instance actions and remote consoles.
fn server_sub_resources_routes() -> Router<Pod> {
    Router::new()
        .route("/servers/{server_id}/ips", or_not_found(get(sub::ips)))
        .route(
            "/servers/{server_id}/ips/{network}",
            or_not_found(get(sub::ips_network)),
        )
        .route(
            "/servers/{server_id}/os-interface",
            or_not_found(get(interfaces::index).post(interfaces::create)),
        )
        .route(
            "/servers/{server_id}/os-interface/{port_id}",
            or_not_found(get(interfaces::show).delete(interfaces::delete)),
        )
        .route(
            "/servers/{server_id}/metadata",
            or_not_found(
                get(sub::metadata_index)
                    .post(sub::metadata_merge)
                    .put(sub::metadata_replace),
            ),
        )
        .route(
            "/servers/{server_id}/metadata/{key}",
            or_not_found(
                get(sub::metadata_show)
                    .put(sub::metadata_put)
                    .delete(sub::metadata_delete),
            ),
        )
        .route(
            "/servers/{server_id}/os-volume_attachments",
            or_not_found(get(sub::attachments).post(sub::attach)),
        )
        .route(
            "/servers/{server_id}/os-volume_attachments/{volume_id}",
            or_not_found(get(sub::attachment).delete(sub::detach)),
        )
        .route(
            "/servers/{server_id}/tags",
            or_not_found(
                get(sub::tags)
                    .put(sub::tags_replace)
                    .delete(sub::tags_delete_all),
            ),
        )
        .route(
            "/servers/{server_id}/tags/{tag}",
            or_not_found(
                get(sub::tag_check)
                    .put(sub::tag_add)
                    .delete(sub::tag_delete),
            ),
        )
        .route(
            "/servers/{server_id}/os-instance-actions",
            or_not_found(get(sub::instance_actions)),
        )
        .route(
            "/servers/{server_id}/os-instance-actions/{request_id}",
            or_not_found(get(sub::instance_action)),
        )
        .route(
            "/servers/{server_id}/remote-consoles",
            or_not_found(post(sub::remote_console)),
        )
}

/// `/flavors`, their extra specs and access.
fn flavors_routes() -> Router<Pod> {
    Router::new()
        .route(
            "/flavors",
            or_not_found(get(flavors::index).post(flavors::create)),
        )
        .route("/flavors/detail", or_not_found(get(flavors::detail)))
        .route(
            "/flavors/{flavor_id}",
            or_not_found(
                get(flavors::show)
                    .put(flavors::update)
                    .delete(flavors::delete),
            ),
        )
        .route(
            "/flavors/{flavor_id}/action",
            or_not_found(post(flavors::action)),
        )
        .route(
            "/flavors/{flavor_id}/os-extra_specs",
            or_not_found(get(flavors::extra_specs).post(flavors::extra_specs_create)),
        )
        .route(
            "/flavors/{flavor_id}/os-extra_specs/{key}",
            or_not_found(
                get(flavors::extra_spec)
                    .put(flavors::extra_spec_put)
                    .delete(flavors::extra_spec_delete),
            ),
        )
        .route(
            "/flavors/{flavor_id}/os-flavor-access",
            or_not_found(get(flavors::access)),
        )
}

/// `/os-keypairs`.
fn keypairs_routes() -> Router<Pod> {
    Router::new()
        .route(
            "/os-keypairs",
            or_not_found(get(keypairs::index).post(keypairs::create)),
        )
        .route(
            "/os-keypairs/{name}",
            or_not_found(get(keypairs::show).delete(keypairs::delete)),
        )
}

/// `/os-quota-sets` and `/limits`.
fn quotas_routes() -> Router<Pod> {
    Router::new()
        .route("/limits", or_not_found(get(misc::limits)))
        .route(
            "/os-quota-sets/{tenant_id}",
            or_not_found(
                get(misc::quota_show)
                    .put(misc::quota_update)
                    .delete(misc::quota_delete),
            ),
        )
        .route(
            "/os-quota-sets/{tenant_id}/defaults",
            or_not_found(get(misc::quota_defaults)),
        )
        .route(
            "/os-quota-sets/{tenant_id}/detail",
            or_not_found(get(misc::quota_detail)),
        )
}

/// What the pod's hosts are: availability zones, hypervisors, services
/// and aggregates.
fn hosts_routes() -> Router<Pod> {
    Router::new()
        .route("/os-availability-zone", or_not_found(get(misc::az)))
        .route(
            "/os-availability-zone/detail",
            or_not_found(get(misc::az_detail)),
        )
        .route("/os-hypervisors", or_not_found(get(misc::hypervisors)))
        .route(
            "/os-hypervisors/detail",
            or_not_found(get(misc::hypervisors_detail)),
        )
        .route(
            "/os-hypervisors/statistics",
            or_not_found(get(misc::hypervisor_statistics)),
        )
        .route(
            "/os-hypervisors/{id}",
            or_not_found(get(misc::hypervisor_show)),
        )
        .route(
            "/os-hypervisors/{id}/search",
            or_not_found(get(misc::hypervisor_search)),
        )
        .route(
            "/os-hypervisors/{id}/servers",
            or_not_found(get(misc::hypervisor_servers)),
        )
        .route(
            "/os-hypervisors/{id}/uptime",
            or_not_found(get(misc::hypervisor_uptime)),
        )
        .route("/os-services", or_not_found(get(misc::services)))
        .route("/os-aggregates", or_not_found(get(misc::aggregates)))
}

/// `/os-server-groups`.
fn server_groups_routes() -> Router<Pod> {
    Router::new()
        .route(
            "/os-server-groups",
            or_not_found(get(groups::index).post(groups::create)),
        )
        .route(
            "/os-server-groups/{id}",
            or_not_found(get(groups::show).delete(groups::delete)),
        )
}

/// `/os-simple-tenant-usage`.
fn usage_routes() -> Router<Pod> {
    Router::new()
        .route("/os-simple-tenant-usage", or_not_found(get(usage::index)))
        .route(
            "/os-simple-tenant-usage/{tenant_id}",
            or_not_found(get(usage::show)),
        )
}

/// `/images` (Nova's proxy to the image service).
fn images_routes() -> Router<Pod> {
    Router::new()
        .route("/images", or_not_found(get(images::index)))
        .route("/images/detail", or_not_found(get(images::detail)))
        .route(
            "/images/{image_id}",
            or_not_found(get(images::show).delete(images::delete)),
        )
}

/// The API below `/compute/v2.1` (or `/compute/v2.1/{project_id}`), by
/// resource.
fn api(pod: Pod, legacy: bool) -> Router<Pod> {
    Router::new()
        .merge(servers_routes())
        .merge(server_sub_resources_routes())
        .merge(flavors_routes())
        .merge(keypairs_routes())
        .merge(quotas_routes())
        .merge(hosts_routes())
        .merge(server_groups_routes())
        .merge(usage_routes())
        .merge(images_routes())
        .route_layer(from_fn_with_state((pod, legacy), nova_layer))
}

/// Routes under `/compute/v2.1/...`.
pub(crate) fn routes(pod: Pod) -> Router {
    Router::new()
        .nest("/compute/v2.1", api(pod.clone(), false))
        .nest("/compute/v2.1/{project_id}", api(pod.clone(), true))
        .with_state(pod)
}
