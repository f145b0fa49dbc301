//! Neutron v2.0 subset under `/network/v2.0/...` (the catalog URL is
//! `{base}/network`).
//!
//! Networks (provider segments: local, flat, vlan, vxlan), subnets with
//! the pod's own IPAM and an emulated DHCP port, ports (fixed IPs, MACs,
//! security groups, bindings), security groups and rules (a `default`
//! group per project), routers (gateway, interfaces, extra routes) and
//! floating IPs, plus extensions, availability zones, quotas and tags.
//! Responses follow neutron-server: same JSON shapes, status codes and
//! `{"NeutronError": {"type", "message", "detail"}}` faults; lists take
//! filters, `fields`, sorting and paging.
//!
//! Tests read the bottom state through [`NetworkService`] (e.g.
//! `pod.network().networks()`).

mod body;
mod error;
mod floatingips;
mod ipam;
mod listing;
mod misc;
mod model;
mod networks;
mod ports;
mod routers;
mod security_groups;
mod subnets;
mod vifs;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::body::Bytes;
use axum::extract::State as AxState;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::{Json, Router};
use serde_json::{json, Value};

use self::error::{NResult, NeutronError};
use self::model::{s, view, Kind, Record, State};
pub(crate) use self::vifs::{Device, GroupChangeError, NicRequest, Vif, VifError};
use crate::compute::query::Query;
use crate::pod::Pod;

/// The pod's network service. Cheap to clone; clones share state.
#[derive(Clone, Default)]
pub struct NetworkService {
    state: Arc<Mutex<State>>,
    counts: Arc<Mutex<BTreeMap<(String, String), u64>>>,
}

impl std::fmt::Debug for NetworkService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NetworkService").finish_non_exhaustive()
    }
}

impl NetworkService {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn all(&self, kind: Kind) -> Vec<Value> {
        let st = self.lock();
        let ctx = Ctx::inspection();
        st.list(kind).iter().map(|r| view(&ctx, kind, r)).collect()
    }

    /// Every network of the pod (all projects), as an admin sees it.
    pub fn networks(&self) -> Vec<Value> {
        self.all(Kind::Network)
    }

    /// Every subnet, as an admin sees it.
    pub fn subnets(&self) -> Vec<Value> {
        self.all(Kind::Subnet)
    }

    /// Every port (DHCP, router and floating IP ports included).
    pub fn ports(&self) -> Vec<Value> {
        self.all(Kind::Port)
    }

    /// Every router.
    pub fn routers(&self) -> Vec<Value> {
        self.all(Kind::Router)
    }

    /// Every security group, with its rules.
    pub fn security_groups(&self) -> Vec<Value> {
        self.all(Kind::SecurityGroup)
    }

    /// Every security group rule.
    pub fn security_group_rules(&self) -> Vec<Value> {
        self.all(Kind::SecurityGroupRule)
    }

    /// Every floating IP.
    pub fn floating_ips(&self) -> Vec<Value> {
        self.all(Kind::FloatingIp)
    }

    /// How many `method` requests (`"POST"`, `"GET"`...) reached
    /// `collection` (the first path segment after `/v2.0`, e.g. `ports`
    /// or `security-groups`), whatever their outcome.
    pub fn request_count(&self, method: &str, collection: &str) -> u64 {
        let counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        counts
            .get(&(method.to_string(), collection.to_string()))
            .copied()
            .unwrap_or(0)
    }

    /// Forgets the request counts.
    pub fn reset_request_counts(&self) {
        self.counts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }

    fn count(&self, method: &str, collection: &str) {
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        *counts
            .entry((method.to_string(), collection.to_string()))
            .or_insert(0) += 1;
    }
}

/// Who calls, and the request's parameters.
pub(crate) struct Ctx {
    pub project_id: String,
    pub is_admin: bool,
    pub query: Query,
    /// `http://host/network/v2.0`, for links.
    pub base: String,
    /// The pod's availability zone.
    pub az: String,
    /// The host ports get bound to.
    pub host: String,
    /// The physical networks of the pod's ML2 (`network_vlan_ranges`,
    /// `flat_networks`); empty: any name is accepted.
    pub physical_networks: Vec<String>,
}

impl Ctx {
    fn inspection() -> Ctx {
        Ctx {
            project_id: "admin".into(),
            is_admin: true,
            query: Query::default(),
            base: "http://localhost/network/v2.0".into(),
            az: "nova".into(),
            host: "podsim".into(),
            physical_networks: Vec::new(),
        }
    }

    #[cfg(test)]
    pub fn for_tests(project: &str, admin: bool) -> Ctx {
        Ctx {
            project_id: project.into(),
            is_admin: admin,
            ..Ctx::inspection()
        }
    }

    /// The `<action>_<resource>` policy on a resource the caller can see
    /// but does not own.
    pub fn check_owner(&self, action: &str, kind: Kind, r: &Record) -> NResult<()> {
        if self.is_admin || s(r, "project_id") == self.project_id {
            Ok(())
        } else {
            Err(NeutronError::policy(&format!(
                "rule:{action}_{}",
                kind.resource()
            )))
        }
    }
}

/// A handler's answer.
pub(crate) struct Reply {
    status: StatusCode,
    body: Option<Value>,
}

impl Reply {
    fn ok(body: Value) -> Self {
        Reply {
            status: StatusCode::OK,
            body: Some(body),
        }
    }

    fn created(body: Value) -> Self {
        Reply {
            status: StatusCode::CREATED,
            body: Some(body),
        }
    }

    fn no_content() -> Self {
        Reply {
            status: StatusCode::NO_CONTENT,
            body: None,
        }
    }
}

/// Routes under `/network/v2.0/...`.
pub(crate) fn routes(pod: Pod) -> Router {
    Router::new()
        .route("/network/v2.0/{*rest}", any(serve))
        .with_state(pod)
}

async fn serve(
    AxState(pod): AxState<Pod>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let caller = match crate::auth::authenticate(&pod, &headers) {
        Ok(c) => c,
        Err(resp) => return resp,
    };
    let rest = uri.path().strip_prefix("/network/v2.0").unwrap_or_default();
    let mut segs: Vec<String> = rest
        .split('/')
        .skip(1)
        .map(|seg| {
            percent_encoding::percent_decode_str(seg)
                .decode_utf8_lossy()
                .into_owned()
        })
        .collect();
    if segs.last().is_some_and(String::is_empty) {
        segs.pop();
    }
    if let Some(last) = segs.last_mut() {
        if let Some(stripped) = last.strip_suffix(".json") {
            *last = stripped.to_string();
        }
    }
    if let Some(first) = segs.first() {
        pod.network().count(method.as_str(), first);
    }
    let parsed = if body.iter().all(u8::is_ascii_whitespace) {
        Value::Null
    } else {
        match serde_json::from_slice::<Value>(&body) {
            Ok(v) => v,
            Err(_) => {
                return NeutronError::bad_request("Body contains invalid data").into_response()
            }
        }
    };
    let ctx = Ctx {
        is_admin: caller.is_admin(),
        project_id: caller.project_id,
        query: Query::parse(uri.query()),
        base: format!("{}/network/v2.0", crate::pod::host_url(&headers)),
        az: pod.config().availability_zone.clone(),
        host: format!("{}-compute", pod.region().to_lowercase()),
        physical_networks: pod.config().physical_networks.clone(),
    };
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    let result = {
        let mut st = pod.network().lock();
        dispatch(&mut st, &ctx, &method, &segs, &parsed)
    };
    match result {
        Ok(Reply {
            status,
            body: Some(b),
        }) => (status, Json(b)).into_response(),
        Ok(Reply { status, body: None }) => status.into_response(),
        Err(e) => e.into_response(),
    }
}

fn dispatch(
    st: &mut State,
    ctx: &Ctx,
    method: &Method,
    segs: &[&str],
    body: &Value,
) -> NResult<Reply> {
    let m = method.as_str();
    match segs {
        ["extensions"] if m == "GET" => return Ok(Reply::ok(misc::extensions())),
        ["extensions", alias] if m == "GET" => return misc::extension(alias).map(Reply::ok),
        ["availability_zones"] if m == "GET" => {
            return Ok(Reply::ok(misc::availability_zones(ctx)))
        }
        ["quotas"] if m == "GET" => return misc::quotas(ctx).map(Reply::ok),
        ["quotas", project] | ["quotas", project, "default"] if m == "GET" => {
            return misc::quota(ctx, project).map(Reply::ok)
        }
        ["extensions" | "availability_zones" | "quotas", ..] => {
            return Err(NeutronError::method_not_allowed())
        }
        _ => {}
    }
    let Some(kind) = segs.first().and_then(|c| Kind::from_path(c)) else {
        return Err(NeutronError::http_not_found());
    };
    match (m, &segs[1..]) {
        ("GET", []) => list(st, ctx, kind).map(Reply::ok),
        ("POST", []) => create(st, ctx, kind, body).map(Reply::created),
        ("GET", [id]) => Ok(Reply::ok(listing::show(
            ctx,
            kind,
            st.visible(ctx, kind, id)?,
        ))),
        ("PUT", [id]) => update(st, ctx, kind, id, body).map(Reply::ok),
        ("DELETE", [id]) => delete(st, ctx, kind, id).map(|()| Reply::no_content()),
        ("PUT", [id, action @ ("add_router_interface" | "remove_router_interface")])
            if kind == Kind::Router =>
        {
            routers::interface(st, ctx, id, action == &"add_router_interface", body).map(Reply::ok)
        }
        (_, [id, "tags", rest @ ..]) if rest.len() <= 1 => {
            misc::tags(st, ctx, kind, id, m, rest.first().copied(), body)
        }
        (_, [] | [_]) => Err(NeutronError::method_not_allowed()),
        _ => Err(NeutronError::http_not_found()),
    }
}

fn list(st: &mut State, ctx: &Ctx, kind: Kind) -> NResult<Value> {
    if matches!(kind, Kind::SecurityGroup | Kind::SecurityGroupRule) {
        security_groups::ensure_default(st, &ctx.project_id);
    }
    let items: Vec<&Record> = st
        .list(kind)
        .iter()
        .filter(|r| st.can_see(ctx, kind, r))
        .collect();
    listing::list(st, ctx, kind, items)
}

fn create_one(st: &mut State, ctx: &Ctx, kind: Kind, res: Record) -> NResult<String> {
    match kind {
        Kind::Network => networks::create(st, ctx, res),
        Kind::Subnet => subnets::create(st, ctx, res),
        Kind::Port => ports::create(st, ctx, res),
        Kind::SecurityGroup => security_groups::create(st, ctx, res),
        Kind::SecurityGroupRule => security_groups::create_rule(st, ctx, res),
        Kind::Router => routers::create(st, ctx, res),
        Kind::FloatingIp => floatingips::create(st, ctx, res),
    }
}

/// POST: one resource, or a bulk create that succeeds or fails whole.
fn create(st: &mut State, ctx: &Ctx, kind: Kind, body: &Value) -> NResult<Value> {
    let (items, bulk) = body::create_bodies(ctx, kind, body)?;
    let before = bulk.then(|| st.clone());
    let mut ids = Vec::new();
    for item in items {
        match create_one(st, ctx, kind, item) {
            Ok(id) => ids.push(id),
            Err(e) => {
                if let Some(saved) = before {
                    *st = saved;
                }
                return Err(e);
            }
        }
    }
    let views: Vec<Value> = ids
        .iter()
        .filter_map(|id| st.get(kind, id))
        .map(|r| view(ctx, kind, r))
        .collect();
    if bulk {
        Ok(json!({ kind.collection(): views }))
    } else {
        let one = views.into_iter().next().unwrap_or(Value::Null);
        Ok(json!({ kind.resource(): one }))
    }
}

fn update(st: &mut State, ctx: &Ctx, kind: Kind, id: &str, body: &Value) -> NResult<Value> {
    let res = body::update_body(ctx, kind, body)?;
    let current = st.visible(ctx, kind, id)?;
    ctx.check_owner("update", kind, current)?;
    match kind {
        Kind::Network => networks::update(st, ctx, id, res)?,
        Kind::Subnet => subnets::update(st, ctx, id, res)?,
        Kind::Port => ports::update(st, ctx, id, res)?,
        Kind::SecurityGroup => security_groups::update(st, id, res)?,
        Kind::SecurityGroupRule => return Err(NeutronError::method_not_allowed()),
        Kind::Router => routers::update(st, ctx, id, res)?,
        Kind::FloatingIp => floatingips::update(st, ctx, id, res)?,
    }
    let r = st.get(kind, id).ok_or_else(|| kind.not_found(id))?;
    Ok(json!({ kind.resource(): view(ctx, kind, r) }))
}

fn delete(st: &mut State, ctx: &Ctx, kind: Kind, id: &str) -> NResult<()> {
    let current = st.visible(ctx, kind, id)?;
    ctx.check_owner("delete", kind, current)?;
    match kind {
        Kind::Network => networks::delete(st, id),
        Kind::Subnet => subnets::delete(st, id),
        Kind::Port => ports::delete(st, id),
        Kind::SecurityGroup => security_groups::delete(st, ctx, id),
        Kind::SecurityGroupRule => security_groups::delete_rule(st, id),
        Kind::Router => routers::delete(st, id),
        Kind::FloatingIp => floatingips::delete(st, id),
    }
}
