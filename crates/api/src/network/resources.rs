//! Networks, subnets, ports, security groups and rules, routers and
//! floating IPs: list, create (one or bulk), show, update, delete, all in
//! the same shape; and the availability zones.

use axum::body::Bytes;
use axum::extract::{FromRequest, Path, RawQuery, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Map, Value};
use tricircle_network::listing::trim;
use tricircle_network::{ListQuery, NeutronError, Page, Scope};

use super::{Caller, NetError, NetworkState};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Collection {
    Networks,
    Subnets,
    Ports,
    SecurityGroups,
    SecurityGroupRules,
    Routers,
    FloatingIps,
}

impl Collection {
    pub const ALL: [Collection; 7] = [
        Collection::Networks,
        Collection::Subnets,
        Collection::Ports,
        Collection::SecurityGroups,
        Collection::SecurityGroupRules,
        Collection::Routers,
        Collection::FloatingIps,
    ];

    /// The URL segment.
    pub fn path(self) -> &'static str {
        match self {
            Collection::Networks => "networks",
            Collection::Subnets => "subnets",
            Collection::Ports => "ports",
            Collection::SecurityGroups => "security-groups",
            Collection::SecurityGroupRules => "security-group-rules",
            Collection::Routers => "routers",
            Collection::FloatingIps => "floatingips",
        }
    }

    /// The key of a list in bodies.
    pub fn plural(self) -> &'static str {
        match self {
            Collection::Networks => "networks",
            Collection::Subnets => "subnets",
            Collection::Ports => "ports",
            Collection::SecurityGroups => "security_groups",
            Collection::SecurityGroupRules => "security_group_rules",
            Collection::Routers => "routers",
            Collection::FloatingIps => "floatingips",
        }
    }

    /// The key of one resource in bodies.
    pub fn singular(self) -> &'static str {
        match self {
            Collection::Networks => "network",
            Collection::Subnets => "subnet",
            Collection::Ports => "port",
            Collection::SecurityGroups => "security_group",
            Collection::SecurityGroupRules => "security_group_rule",
            Collection::Routers => "router",
            Collection::FloatingIps => "floatingip",
        }
    }
}

/// A JSON request body: malformed JSON is a Neutron-style 400. (Wrong
/// media types and bodies too large or too slow are the shell's.)
pub(crate) struct NeutronJson(pub Value);

impl<S: Send + Sync> FromRequest<S> for NeutronJson {
    type Rejection = NetError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state).await.map_err(|r| {
            NetError(NeutronError::bad_request(format!(
                "Could not read the request body: {}",
                r.body_text()
            )))
        })?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(NetError(NeutronError::bad_request(
                "Malformed request body: the body is empty",
            )));
        }
        serde_json::from_slice(&bytes)
            .map(NeutronJson)
            .map_err(|e| {
                NetError(NeutronError::bad_request(format!(
                    "Malformed request body: {e}"
                )))
            })
    }
}

pub(crate) fn query_pairs(raw: Option<&str>) -> Vec<(String, String)> {
    url::form_urlencoded::parse(raw.unwrap_or("").as_bytes())
        .into_owned()
        .collect()
}

/// The inner object of `{"<singular>": {...}}`.
pub(crate) fn inner(c: Collection, body: Value) -> Result<Value, NeutronError> {
    match body {
        Value::Object(mut m) => m
            .remove(c.singular())
            .ok_or_else(|| unable_to_find(c.singular())),
        _ => Err(unable_to_find(c.singular())),
    }
}

fn unable_to_find(key: &str) -> NeutronError {
    NeutronError::bad_request(format!("Unable to find '{key}' in request body"))
}

/// `<collection>_links` for a page, as Neutron writes them.
fn links(caller: &Caller, c: Collection, pairs: &[(String, String)], page: &Page) -> Vec<Value> {
    page.links
        .iter()
        .map(|l| {
            let mut q = url::form_urlencoded::Serializer::new(String::new());
            for (k, v) in pairs {
                if k != "marker" && k != "page_reverse" {
                    q.append_pair(k, v);
                }
            }
            if let Some(m) = &l.marker {
                q.append_pair("marker", m);
            }
            if l.rel == "previous" {
                q.append_pair("page_reverse", "True");
            }
            json!({
                "rel": l.rel,
                "href": format!("{}/v2.0/{}?{}", caller.root, c.path(), q.finish()),
            })
        })
        .collect()
}

pub(crate) async fn list(
    State(st): State<NetworkState>,
    caller: Caller,
    RawQuery(raw): RawQuery,
    c: Collection,
) -> Result<Json<Value>, NetError> {
    let pairs = query_pairs(raw.as_deref());
    let q = ListQuery::from_pairs(&pairs)?;
    let n = &st.neutron;
    let s = &caller.scope;
    let page = match c {
        Collection::Networks => n.list_networks(s, &q).await?,
        Collection::Subnets => n.list_subnets(s, &q).await?,
        Collection::Ports => n.list_ports(s, &q).await?,
        Collection::SecurityGroups => n.list_security_groups(s, &q).await?,
        Collection::SecurityGroupRules => n.list_security_group_rules(s, &q).await?,
        Collection::Routers => n.list_routers(s, &q).await?,
        Collection::FloatingIps => n.list_floatingips(s, &q).await?,
    };
    let mut body = Map::new();
    let links = links(&caller, c, &pairs, &page);
    body.insert(c.plural().into(), Value::Array(page.items));
    if !links.is_empty() {
        body.insert(format!("{}_links", c.plural()), Value::Array(links));
    }
    Ok(Json(Value::Object(body)))
}

async fn create_one(
    st: &NetworkState,
    s: &Scope,
    c: Collection,
    body: Value,
) -> Result<Value, NeutronError> {
    let n = &st.neutron;
    match c {
        Collection::Networks => n.create_network(s, body).await,
        Collection::Subnets => n.create_subnet(s, body).await,
        Collection::Ports => n.create_port(s, body).await,
        Collection::SecurityGroups => n.create_security_group(s, body).await,
        Collection::SecurityGroupRules => n.create_security_group_rule(s, body).await,
        Collection::Routers => n.create_router(s, body).await,
        Collection::FloatingIps => n.create_floatingip(s, body).await,
    }
}

async fn delete_one(
    st: &NetworkState,
    s: &Scope,
    c: Collection,
    id: &str,
) -> Result<(), NeutronError> {
    let n = &st.neutron;
    match c {
        Collection::Networks => n.delete_network(s, id).await,
        Collection::Subnets => n.delete_subnet(s, id).await,
        Collection::Ports => n.delete_port(s, id).await,
        Collection::SecurityGroups => n.delete_security_group(s, id).await,
        Collection::SecurityGroupRules => n.delete_security_group_rule(s, id).await,
        Collection::Routers => n.delete_router(s, id).await,
        Collection::FloatingIps => n.delete_floatingip(s, id).await,
    }
}

/// `POST`: `{"<singular>": {...}}`, or `{"<plural>": [...]}` (bulk: all
/// or nothing; what was created is deleted again if one fails).
pub(crate) async fn create(
    State(st): State<NetworkState>,
    caller: Caller,
    NeutronJson(body): NeutronJson,
    c: Collection,
) -> Result<Response, NetError> {
    let bulk = body
        .as_object()
        .and_then(|m| m.get(c.plural()))
        .and_then(Value::as_array)
        .cloned();
    let Some(items) = bulk else {
        let one = inner(c, body)?;
        let created = create_one(&st, &caller.scope, c, one).await?;
        return Ok((StatusCode::CREATED, Json(json!({ c.singular(): created }))).into_response());
    };
    let mut created: Vec<Value> = Vec::new();
    for item in items {
        match create_one(&st, &caller.scope, c, item).await {
            Ok(v) => created.push(v),
            Err(e) => {
                for v in created.iter().rev() {
                    if let Some(id) = v.get("id").and_then(Value::as_str) {
                        if let Err(undo) = delete_one(&st, &caller.scope, c, id).await {
                            tracing::warn!(%id, error = %undo, "could not undo a bulk create");
                        }
                    }
                }
                return Err(e.into());
            }
        }
    }
    Ok((StatusCode::CREATED, Json(json!({ c.plural(): created }))).into_response())
}

async fn get_one(
    st: &NetworkState,
    s: &Scope,
    c: Collection,
    id: &str,
) -> Result<Value, NeutronError> {
    let n = &st.neutron;
    match c {
        Collection::Networks => n.get_network(s, id).await,
        Collection::Subnets => n.get_subnet(s, id).await,
        Collection::Ports => n.get_port(s, id).await,
        Collection::SecurityGroups => n.get_security_group(s, id).await,
        Collection::SecurityGroupRules => n.get_security_group_rule(s, id).await,
        Collection::Routers => n.get_router(s, id).await,
        Collection::FloatingIps => n.get_floatingip(s, id).await,
    }
}

/// A write the caller's roles do not allow: 404 if the resource is not
/// the caller's to see (as Neutron answers), else `PolicyNotAuthorized`.
pub(crate) async fn refuse_write(
    st: &NetworkState,
    caller: &Caller,
    c: Collection,
    id: &str,
) -> Result<(), NetError> {
    let Some(action) = &caller.refused_write else {
        return Ok(());
    };
    get_one(st, &caller.scope, c, id).await?;
    Err(NetError(NeutronError::policy(&super::policy_rule(action))))
}

pub(crate) async fn show(
    State(st): State<NetworkState>,
    caller: Caller,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
    c: Collection,
) -> Result<Json<Value>, NetError> {
    let item = get_one(&st, &caller.scope, c, &id).await?;
    let fields: Vec<String> = query_pairs(raw.as_deref())
        .into_iter()
        .filter(|(k, v)| k == "fields" && !v.is_empty())
        .map(|(_, v)| v)
        .collect();
    Ok(Json(json!({ c.singular(): trim(item, &fields) })))
}

pub(crate) async fn update(
    State(st): State<NetworkState>,
    caller: Caller,
    Path(id): Path<String>,
    NeutronJson(body): NeutronJson,
    c: Collection,
) -> Result<Json<Value>, NetError> {
    refuse_write(&st, &caller, c, &id).await?;
    let body = inner(c, body)?;
    let n = &st.neutron;
    let s = &caller.scope;
    let item = match c {
        Collection::Networks => n.update_network(s, &id, body).await?,
        Collection::Subnets => n.update_subnet(s, &id, body).await?,
        Collection::Ports => n.update_port(s, &id, body).await?,
        Collection::SecurityGroups => n.update_security_group(s, &id, body).await?,
        Collection::SecurityGroupRules => n.update_security_group_rule(s, &id, body).await?,
        Collection::Routers => n.update_router(s, &id, body).await?,
        Collection::FloatingIps => n.update_floatingip(s, &id, body).await?,
    };
    Ok(Json(json!({ c.singular(): item })))
}

pub(crate) async fn delete(
    State(st): State<NetworkState>,
    caller: Caller,
    Path(id): Path<String>,
    c: Collection,
) -> Result<StatusCode, NetError> {
    refuse_write(&st, &caller, c, &id).await?;
    delete_one(&st, &caller.scope, c, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub(crate) async fn availability_zones(
    State(st): State<NetworkState>,
    caller: Caller,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, NetError> {
    let pairs = query_pairs(raw.as_deref());
    let q = ListQuery::from_pairs(&pairs)?;
    let page = st
        .neutron
        .list_availability_zones(&caller.scope, &q)
        .await?;
    Ok(Json(json!({"availability_zones": page.items})))
}
