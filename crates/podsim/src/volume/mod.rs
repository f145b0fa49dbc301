//! Cinder v3 subset under `/volume/v3/{project_id}/...` (the catalog URL is
//! `{base}/volume/v3/$(project_id)s`), with the project id optional in the
//! URL as in 3.67, and a `/volume/v2/{project_id}/...` alias (legacy: no
//! microversions).
//!
//! Resources: volumes (+ metadata, actions), the attachments API (3.27+),
//! volume types (+ extra specs, access, encryption), snapshots (+ metadata,
//! actions), backups, volume transfers, availability zones, limits, quota
//! sets, services and scheduler pools. Responses follow Cinder's view
//! builders: same JSON shapes, status codes, fault bodies
//! (`{"badRequest": {"code", "message"}}`) and `OpenStack-API-Version` /
//! `Vary` headers.
//!
//! Time-driven transitions (`creating` → `available`, `deleting` → gone,
//! `extending` → `available`...) complete after
//! [`VolumeService::set_transition_delay`] (200 ms by default).

mod actions;
mod api;
mod attachments;
mod backups;
mod encryption;
mod glance;
mod listing;
mod misc;
mod model;
mod quotas;
mod snapshots;
mod transfers;
mod types;
mod views;
mod volumes;

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State as AxState;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::Response;
use axum::routing::any;
use axum::Router;
use chrono::Utc;
use serde_json::Value;

use self::api::{parse_body, parse_version, ApiError, ApiResult, Ctx, Mv, Reply};
use self::model::{new_uuid, State};
use crate::pod::Pod;

/// Why Nova could not attach or detach a volume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttachError {
    /// No such volume in this pod (for this project).
    NotFound,
    /// The volume is not in a state that allows it: the reason, as Cinder
    /// words it after `Invalid volume: ` (callers add that prefix).
    InvalidState(String),
}

/// The pod's volumes. Cheap to clone; clones share state.
#[derive(Clone, Default)]
pub struct VolumeService {
    state: Arc<Mutex<State>>,
}

impl std::fmt::Debug for VolumeService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VolumeService").finish_non_exhaustive()
    }
}

impl VolumeService {
    /// The state, with due transitions applied.
    fn lock(&self) -> MutexGuard<'_, State> {
        let mut guard = self
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        guard.tick();
        guard
    }

    /// Called by Nova (`os-volume_attachments`): `available` → `in-use`,
    /// attachment recorded for `server_id` at `device`. A multiattach
    /// volume may be `in-use` already; a volume reserved for `server_id`
    /// (attachments API) is accepted too.
    pub fn attach(
        &self,
        project_id: &str,
        volume_id: &str,
        server_id: &str,
        device: &str,
    ) -> Result<(), AttachError> {
        let mut st = self.lock();
        let Some(v) = st.volumes.get_mut(volume_id) else {
            return Err(AttachError::NotFound);
        };
        if v.project_id != project_id {
            return Err(AttachError::NotFound);
        }
        let reserved_for_server = v.attachments.iter().any(|a| {
            a.instance_uuid.as_deref() == Some(server_id) && a.attach_status != "attached"
        });
        let ok = v.status == "available"
            || (v.status == "in-use" && v.multiattach)
            || (matches!(v.status.as_str(), "reserved" | "attaching") && reserved_for_server);
        if !ok {
            let expected = if v.multiattach {
                "available or in-use or downloading"
            } else {
                "available or downloading"
            };
            return Err(AttachError::InvalidState(format!(
                "Volume {} status must be {expected} to reserve, but the current status is {}.",
                v.id, v.status
            )));
        }
        if v.attachments
            .iter()
            .any(|a| a.instance_uuid.as_deref() == Some(server_id) && a.attach_status == "attached")
        {
            return Err(AttachError::InvalidState(format!(
                "Volume {} is already attached to server {server_id}.",
                v.id
            )));
        }
        let now = Utc::now();
        let mode = if v.admin_metadata.get("readonly").map(String::as_str) == Some("True") {
            "ro"
        } else {
            "rw"
        };
        let info = views::connection_info(v, mode);
        // Complete a reservation of this server, else add an attachment.
        let pos = v.attachments.iter().position(|a| {
            a.instance_uuid.as_deref() == Some(server_id) && a.attach_status != "attached"
        });
        let att = match pos {
            Some(i) => &mut v.attachments[i],
            None => {
                v.attachments.push(model::Attachment {
                    id: new_uuid(),
                    volume_id: v.id.clone(),
                    instance_uuid: Some(server_id.to_string()),
                    attached_host: None,
                    mountpoint: None,
                    attach_time: None,
                    detach_time: None,
                    attach_status: "reserved".into(),
                    attach_mode: mode.into(),
                    connector: None,
                    connection_info: None,
                });
                let last = v.attachments.len() - 1;
                &mut v.attachments[last]
            }
        };
        att.attach_status = "attached".into();
        att.mountpoint = Some(device.to_string());
        att.attach_time = Some(now);
        att.attach_mode = mode.into();
        att.connection_info = Some(info);
        v.attach_status = "attached".into();
        v.admin_metadata.insert("attached_mode".into(), mode.into());
        v.status = "in-use".into();
        v.pending = None;
        v.touch();
        Ok(())
    }

    /// Called by Nova on detach or server delete: `in-use` → `available`
    /// once no attachment remains.
    pub fn detach(&self, volume_id: &str, server_id: &str) -> Result<(), AttachError> {
        let mut st = self.lock();
        let Some(v) = st.volumes.get_mut(volume_id) else {
            return Err(AttachError::NotFound);
        };
        let before = v.attachments.len();
        v.attachments
            .retain(|a| a.instance_uuid.as_deref() != Some(server_id));
        if v.attachments.len() == before {
            return Err(AttachError::NotFound);
        }
        volumes::settle_after_detach(v);
        Ok(())
    }

    /// For Nova's `delete_on_termination`: starts deleting a detached
    /// volume (`deleting`, then gone), as `DELETE /volumes/{id}` would.
    pub fn delete_volume(&self, volume_id: &str) -> Result<(), AttachError> {
        let mut st = self.lock();
        let pending = st.pending(None, None);
        let has_snapshots = st.snapshots.values().any(|s| s.volume_id == volume_id);
        let Some(v) = st.volumes.get_mut(volume_id) else {
            return Err(AttachError::NotFound);
        };
        let deletable = matches!(
            v.status.as_str(),
            "available" | "error" | "error_restoring" | "error_extending" | "error_managing"
        );
        if !deletable || v.attach_status == "attached" || has_snapshots {
            return Err(AttachError::InvalidState(
                "Volume status must be available or error or error_restoring or error_extending \
                 or error_managing and must not be migrating, attached, belong to a group, have \
                 snapshots, awaiting a transfer, or be disassociated from snapshots after volume \
                 transfer."
                    .to_string(),
            ));
        }
        v.status = "deleting".into();
        v.pending = Some(pending);
        v.touch();
        Ok(())
    }

    /// Every volume (all projects), as an admin sees it at the latest
    /// microversion (for tests).
    pub fn volumes(&self) -> Vec<Value> {
        let st = self.lock();
        let ctx = inspection_ctx();
        st.volumes
            .values()
            .map(|v| views::volume_detail(&st, &ctx, v, true))
            .collect()
    }

    /// One volume as an admin sees it (for tests).
    pub fn volume(&self, id: &str) -> Option<Value> {
        let st = self.lock();
        let ctx = inspection_ctx();
        st.volumes
            .get(id)
            .map(|v| views::volume_detail(&st, &ctx, v, true))
    }

    /// The names of every volume type (sorted).
    pub fn type_names(&self) -> Vec<String> {
        let st = self.lock();
        let mut names: Vec<String> = st.types.values().map(|t| t.name.clone()).collect();
        names.sort();
        names
    }

    /// How long asynchronous transitions take (default 200 ms).
    pub fn set_transition_delay(&self, delay: Duration) {
        self.lock().transition = delay;
    }

    /// Completes every pending transition now (a `deleting` resource goes,
    /// a `creating` one becomes available...), whatever the delay.
    pub fn finish_transitions(&self) {
        self.lock().finish_pending();
    }

    /// Total capacity of the pod's pool, as reported by
    /// `/scheduler-stats/get_pools` (default 10000 GB).
    pub fn set_capacity_gb(&self, total_gb: u64) {
        self.lock().capacity_gb = total_gb;
    }
}

fn inspection_ctx() -> Ctx {
    Ctx {
        caller: crate::auth::Caller {
            user_id: "admin".into(),
            project_id: "admin".into(),
            roles: vec!["admin".into()],
        },
        is_admin: true,
        version: Mv::max(),
        app_url: "http://localhost/volume/v3".into(),
        bookmark_url: "http://localhost/volume".into(),
        project_in_url: false,
        query: Vec::new(),
        az: String::new(),
        region: String::new(),
        images: None,
    }
}

/// Routes under `/volume/v3/...` and `/volume/v2/...`.
pub(crate) fn routes(pod: Pod) -> Router {
    Router::new()
        .route("/volume/v3/{*rest}", any(serve_v3))
        .route("/volume/v2/{*rest}", any(serve_v2))
        .with_state(pod)
}

async fn serve_v3(
    AxState(pod): AxState<Pod>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    serve(&pod, false, &method, &uri, &headers, &body)
}

async fn serve_v2(
    AxState(pod): AxState<Pod>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    serve(&pod, true, &method, &uri, &headers, &body)
}

/// A parsed request for a handler: the ids in the path and the body.
pub(crate) struct Req {
    pub ids: Vec<String>,
    pub body: Value,
}

impl Req {
    pub fn id(&self, i: usize) -> &str {
        self.ids.get(i).map_or("", String::as_str)
    }
}

type Handler = fn(&mut State, &Ctx, &Req) -> ApiResult<Reply>;

/// Cinder's `project_id_regex` default: `[0-9a-f\-]+`.
fn looks_like_project(seg: &str) -> bool {
    !seg.is_empty()
        && seg
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase() || b == b'-')
}

fn serve(
    pod: &Pod,
    legacy: bool,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Response {
    let caller = match crate::auth::authenticate(pod, headers) {
        Ok(c) => c,
        Err(resp) => return resp,
    };
    let prefix = if legacy { "/volume/v2" } else { "/volume/v3" };
    let rest = uri.path().strip_prefix(prefix).unwrap_or_default();
    let mut segs: Vec<&str> = rest.split('/').skip(1).collect();
    if segs.last() == Some(&"") {
        segs.pop();
    }
    let mut url_project = None;
    if let Some(first) = segs.first() {
        if looks_like_project(first) || *first == caller.project_id {
            url_project = Some(first.to_string());
            segs.remove(0);
        }
    }
    let Some((handler, ids)) = route(method, &segs) else {
        return ApiError::no_route().into_reply().into_response(None);
    };

    let version = if legacy {
        Mv::min()
    } else {
        match parse_version(headers) {
            Ok(v) => v,
            Err(e) => {
                // Cinder has already recorded an out-of-range version when it
                // rejects it, and echoes it back.
                let echoed = if e.status == StatusCode::NOT_ACCEPTABLE {
                    echo_version(headers)
                } else {
                    None
                };
                return e.into_reply().into_response_raw(echoed);
            }
        }
    };
    let shown = (!legacy).then_some(version);
    let parsed = match parse_body(body) {
        Ok(b) => b,
        Err(e) => return e.into_reply().into_response(shown),
    };
    if let Some(p) = &url_project {
        if *p != caller.project_id {
            return ApiError::bad_request("Malformed request url")
                .into_reply()
                .into_response(shown);
        }
    }
    let base = crate::pod::host_url(headers);
    let ctx = Ctx {
        is_admin: caller.is_admin(),
        caller,
        version,
        app_url: format!("{base}{prefix}"),
        bookmark_url: format!("{base}/volume"),
        project_in_url: url_project.is_some(),
        query: query_pairs(uri),
        az: pod.config().availability_zone.clone(),
        region: pod.region().to_string(),
        images: Some(pod.images().clone()),
    };
    let req = Req { ids, body: parsed };
    let result = {
        let mut st = pod.volume().lock();
        handler(&mut st, &ctx, &req)
    };
    match result {
        Ok(reply) => reply.into_response(shown),
        Err(e) => e.into_reply().into_response(shown),
    }
}

/// The `volume X.Y` of a rejected header, to echo back.
fn echo_version(headers: &HeaderMap) -> Option<String> {
    let raw = headers.get(api::API_VERSION_HEADER)?.to_str().ok()?;
    let entry = raw.split(',').find(|h| h.contains("volume"))?;
    entry.split_whitespace().nth(1).map(str::to_string)
}

fn query_pairs(uri: &Uri) -> Vec<(String, String)> {
    axum::extract::Query::<Vec<(String, String)>>::try_from_uri(uri)
        .map(|q| q.0)
        .unwrap_or_default()
}

/// The handler for `method` on `segs` (the path after the project id),
/// and the ids in the path (every other segment).
fn route(method: &Method, segs: &[&str]) -> Option<(Handler, Vec<String>)> {
    let h: Handler = match (method.as_str(), segs) {
        // volumes
        ("GET", ["volumes"]) => volumes::index,
        ("GET", ["volumes", "detail"]) => volumes::detail,
        ("GET", ["volumes", "summary"]) => volumes::summary,
        ("POST", ["volumes"]) => volumes::create,
        ("GET", ["volumes", _]) => volumes::show,
        ("PUT", ["volumes", _]) => volumes::update,
        ("DELETE", ["volumes", _]) => volumes::delete,
        ("POST", ["volumes", _, "action"]) => actions::dispatch,
        ("GET", ["volumes", _, "metadata"]) => volumes::meta_index,
        ("POST", ["volumes", _, "metadata"]) => volumes::meta_create,
        ("PUT", ["volumes", _, "metadata"]) => volumes::meta_replace,
        ("GET", ["volumes", _, "metadata", _]) => volumes::meta_show,
        ("PUT", ["volumes", _, "metadata", _]) => volumes::meta_update,
        ("DELETE", ["volumes", _, "metadata", _]) => volumes::meta_delete,
        // attachments
        ("GET", ["attachments"]) => attachments::index,
        ("GET", ["attachments", "detail"]) => attachments::detail,
        ("POST", ["attachments"]) => attachments::create,
        ("GET", ["attachments", _]) => attachments::show,
        ("PUT", ["attachments", _]) => attachments::update,
        ("DELETE", ["attachments", _]) => attachments::delete,
        ("POST", ["attachments", _, "action"]) => attachments::action,
        // types
        ("GET", ["types"]) => types::index,
        ("POST", ["types"]) => types::create,
        ("GET", ["types", _]) => types::show,
        ("PUT", ["types", _]) => types::update,
        ("DELETE", ["types", _]) => types::delete,
        ("POST", ["types", _, "action"]) => types::action,
        ("GET", ["types", _, "extra_specs"]) => types::specs_index,
        ("POST", ["types", _, "extra_specs"]) => types::specs_create,
        ("GET", ["types", _, "extra_specs", _]) => types::specs_show,
        ("PUT", ["types", _, "extra_specs", _]) => types::specs_update,
        ("DELETE", ["types", _, "extra_specs", _]) => types::specs_delete,
        ("GET", ["types", _, "os-volume-type-access"]) => types::access_index,
        ("GET", ["types", _, "encryption"]) => encryption::index,
        ("POST", ["types", _, "encryption"]) => encryption::create,
        ("GET", ["types", _, "encryption", _]) => encryption::show,
        ("PUT", ["types", _, "encryption", _]) => encryption::update,
        ("DELETE", ["types", _, "encryption", _]) => encryption::delete,
        ("GET", ["default-types"]) => types::default_types_index,
        ("GET", ["default-types", _]) => types::default_types_show,
        ("PUT", ["default-types", _]) => types::default_types_set,
        ("DELETE", ["default-types", _]) => types::default_types_delete,
        // snapshots
        ("GET", ["snapshots"]) => snapshots::index,
        ("GET", ["snapshots", "detail"]) => snapshots::detail,
        ("POST", ["snapshots"]) => snapshots::create,
        ("GET", ["snapshots", _]) => snapshots::show,
        ("PUT", ["snapshots", _]) => snapshots::update,
        ("DELETE", ["snapshots", _]) => snapshots::delete,
        ("POST", ["snapshots", _, "action"]) => snapshots::action,
        ("GET", ["snapshots", _, "metadata"]) => snapshots::meta_index,
        ("POST", ["snapshots", _, "metadata"]) => snapshots::meta_create,
        ("PUT", ["snapshots", _, "metadata"]) => snapshots::meta_replace,
        ("GET", ["snapshots", _, "metadata", _]) => snapshots::meta_show,
        ("PUT", ["snapshots", _, "metadata", _]) => snapshots::meta_update,
        ("DELETE", ["snapshots", _, "metadata", _]) => snapshots::meta_delete,
        // backups
        ("GET", ["backups"]) => backups::index,
        ("GET", ["backups", "detail"]) => backups::detail,
        ("POST", ["backups"]) => backups::create,
        ("GET", ["backups", _]) => backups::show,
        ("PUT", ["backups", _]) => backups::update,
        ("DELETE", ["backups", _]) => backups::delete,
        ("POST", ["backups", _, "restore"]) => backups::restore,
        ("POST", ["backups", _, "action"]) => backups::action,
        // transfers
        ("GET", ["os-volume-transfer"]) => transfers::index,
        ("GET", ["os-volume-transfer", "detail"]) => transfers::detail_list,
        ("POST", ["os-volume-transfer"]) => transfers::create,
        ("GET", ["volume-transfers"]) => transfers::index_v3,
        ("GET", ["volume-transfers", "detail"]) => transfers::detail_list_v3,
        ("POST", ["volume-transfers"]) => transfers::create_v3,
        ("GET", ["os-volume-transfer" | "volume-transfers", _]) => transfers::show,
        ("DELETE", ["os-volume-transfer" | "volume-transfers", _]) => transfers::delete,
        ("POST", ["os-volume-transfer" | "volume-transfers", _, "accept"]) => transfers::accept,
        // the rest
        ("GET", ["os-availability-zone"]) => misc::availability_zones,
        ("GET", ["limits"]) => quotas::limits,
        ("GET", ["os-quota-sets", _]) => quotas::show,
        ("GET", ["os-quota-sets", _, "defaults"]) => quotas::defaults,
        ("PUT", ["os-quota-sets", _]) => quotas::update,
        ("DELETE", ["os-quota-sets", _]) => quotas::delete,
        ("GET", ["os-services"]) => misc::services,
        ("GET", ["scheduler-stats", "get_pools"]) => misc::pools,
        ("GET", ["extensions"]) => misc::extensions,
        _ => return None,
    };
    let ids = segs
        .iter()
        .skip(1)
        .step_by(2)
        .map(|s| s.to_string())
        .collect();
    Some((h, ids))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn project_segments() {
        assert!(looks_like_project("0123abcd"));
        assert!(looks_like_project("0c8d1a9e-1b4b-4a1e"));
        assert!(!looks_like_project("volumes"));
        assert!(!looks_like_project("types"));
        assert!(!looks_like_project("ABCD"));
    }

    #[test]
    fn routes_resolve_ids() {
        let (_, ids) = route(&Method::GET, &["volumes", "v1", "metadata", "k"]).unwrap();
        assert_eq!(ids, vec!["v1".to_string(), "k".to_string()]);
        assert!(route(&Method::PATCH, &["volumes"]).is_none());
        assert!(route(&Method::GET, &["nope"]).is_none());
    }

    #[test]
    fn attach_and_detach_for_nova() {
        let svc = VolumeService::default();
        {
            let mut st = svc.lock();
            let v = volumes::new_volume_for_tests(&mut st, "p1", 1);
            st.volumes.insert(v.id.clone(), v);
        }
        let id = svc.volumes()[0]["id"].as_str().unwrap().to_string();
        assert_eq!(
            svc.attach("p2", &id, "s1", "/dev/vdb"),
            Err(AttachError::NotFound)
        );
        assert_eq!(
            svc.attach("p1", "nope", "s1", "/dev/vdb"),
            Err(AttachError::NotFound)
        );
        svc.attach("p1", &id, "s1", "/dev/vdb").unwrap();
        let v = svc.volume(&id).unwrap();
        assert_eq!(v["status"], "in-use");
        assert_eq!(v["attachments"][0]["server_id"], "s1");
        assert_eq!(v["attachments"][0]["device"], "/dev/vdb");
        assert!(matches!(
            svc.attach("p1", &id, "s2", "/dev/vdc"),
            Err(AttachError::InvalidState(_))
        ));
        assert_eq!(svc.detach(&id, "s2"), Err(AttachError::NotFound));
        svc.detach(&id, "s1").unwrap();
        let v = svc.volume(&id).unwrap();
        assert_eq!(v["status"], "available");
        assert_eq!(v["attachments"], serde_json::json!([]));
        assert_eq!(svc.type_names(), vec!["__DEFAULT__".to_string()]);
        svc.attach("p1", &id, "s1", "/dev/vdb").unwrap();
        assert!(matches!(
            svc.delete_volume(&id),
            Err(AttachError::InvalidState(_))
        ));
        svc.detach(&id, "s1").unwrap();
        svc.delete_volume(&id).unwrap();
        assert_eq!(svc.volume(&id).unwrap()["status"], "deleting");
        assert_eq!(svc.delete_volume("nope"), Err(AttachError::NotFound));
    }
}
