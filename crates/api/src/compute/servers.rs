//! Servers: the HTTP side of the compute domain's servers
//! (`tricircle_compute::servers`). Each handler parses the request into the
//! domain's typed values (with Nova's messages), calls one operation and
//! renders its answer.

use axum::body::{Body, Bytes};
use axum::extract::{Extension, Path, RawQuery, State};
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Map, Value};
use tricircle_compute::servers::{
    Created, ListQuery, Presented, ServerAction, ServerAt, ServerCreate, Servers, SubResource,
};
use tricircle_compute::{Compute, ComputeError};
use tricircle_core::listing::{parse_nova_sort, NOVA_SERVER_ID_KEY, NOVA_SERVER_SORT_FIELDS};
use tricircle_gateway::pod_call::pass_headers;
use tricircle_gateway::Caller;
use tricircle_store::MAX_COUNT_PER_REQUEST;

use super::microversion::Microversion;
use crate::body::parse_json;
use crate::error::ApiError;
use crate::gateway::{listing, subresource, Call, GatewayState};

/// The domain's servers for this request, and its caller.
struct Request {
    caller: Caller,
    compute: Compute,
}

impl Request {
    fn new(st: &GatewayState, c: &Call) -> Request {
        let (compute, mut caller) = super::domain::domain(st, c);
        caller.pass_headers = pass_headers(&c.headers);
        Request { caller, compute }
    }

    fn servers(&self) -> Servers<'_> {
        self.compute.servers()
    }

    async fn locate(&self, id: &str) -> Result<ServerAt, ApiError> {
        Ok(self.servers().locate(&self.caller, id).await?)
    }
}

/// A domain answer as the client's response.
fn render((status, headers, body): Presented) -> Response {
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() = status;
    *resp.headers_mut() = headers;
    resp
}

fn rendered(r: Result<Presented, ComputeError>) -> Result<Response, ApiError> {
    Ok(render(r?))
}

// ------------------------------------------------------------------ create

fn int_field(server: &Map<String, Value>, key: &str) -> Result<Option<i64>, ApiError> {
    match server.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n.as_i64().map(Some).ok_or_else(|| bad_int(key)),
        Some(Value::String(s)) => s.trim().parse().map(Some).map_err(|_| bad_int(key)),
        Some(_) => Err(bad_int(key)),
    }
}

fn bad_int(key: &str) -> ApiError {
    ApiError::bad_request(format!(
        "Invalid input for field/attribute {key}. Value must be an integer."
    ))
}

/// The names (or ids) in a boot's `security_groups: [{"name": ...}]`.
fn security_group_names(server: &Map<String, Value>) -> Result<Vec<String>, ApiError> {
    let bad = || {
        ApiError::bad_request(
            "Invalid input for field/attribute security_groups. Value must be a list of {\"name\": ...}.",
        )
    };
    match server.get("security_groups") {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| {
                i.get("name")
                    .and_then(Value::as_str)
                    .filter(|n| !n.trim().is_empty())
                    .map(|n| n.trim().to_string())
                    .ok_or_else(bad)
            })
            .collect(),
        Some(_) => Err(bad()),
    }
}

/// A boot's `metadata` checked as Nova's schema checks it (an object of at
/// most 255-character keys of `[A-Za-z0-9-_:. ]` and string values of at
/// most 255 characters) before anything is made for the boot: a pod's own
/// refusal would come after the network was prepared in it.
fn check_metadata(server: &Map<String, Value>) -> Result<(), ApiError> {
    let bad = |field: &str, v: &Value, why: String| {
        ApiError::bad_request(format!(
            "Invalid input for field/attribute {field}. Value: {v}. {why}"
        ))
    };
    let Some(v) = server.get("metadata") else {
        return Ok(());
    };
    let Some(items) = v.as_object() else {
        return Err(bad("metadata", v, format!("{v} is not of type 'object'")));
    };
    for (k, val) in items {
        let key_ok = !k.is_empty()
            && k.chars().count() <= 255
            && k.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_:. ".contains(c));
        if !key_ok {
            return Err(bad(
                "metadata",
                v,
                format!("Additional properties are not allowed ('{k}' was unexpected)"),
            ));
        }
        match val {
            Value::String(s) if s.chars().count() <= 255 => {}
            Value::String(_) => return Err(bad(k, val, format!("{val} is too long"))),
            _ => return Err(bad(k, val, format!("{val} is not of type 'string'"))),
        }
    }
    Ok(())
}

/// `flavorRef` may be an id or a link ending in the id.
fn ref_id(v: &str) -> &str {
    v.trim_end_matches('/').rsplit('/').next().unwrap_or(v)
}

/// Nova's boolean parameter type.
fn boolean(field: &str, v: Option<Value>) -> Result<bool, ApiError> {
    match v {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(b),
        Some(Value::String(t))
            if ["true", "1", "on", "yes"].contains(&t.to_lowercase().as_str()) =>
        {
            Ok(true)
        }
        Some(Value::String(t))
            if ["false", "0", "off", "no"].contains(&t.to_lowercase().as_str()) =>
        {
            Ok(false)
        }
        Some(v) => Err(ApiError::bad_request(format!(
            "Invalid input for field/attribute {field}. Value: {v}. {v} is not a boolean."
        ))),
    }
}

/// A `POST /servers` body checked as Nova checks it, before anything is
/// asked of the store or a pod.
fn parse_create(c: &Call, body: &Bytes) -> Result<ServerCreate, ApiError> {
    let mut body: Value = parse_json(body)?;
    let group = super::server_groups::hinted(&body)?;
    let server = body
        .get_mut("server")
        .and_then(Value::as_object_mut)
        .ok_or_else(|| {
            ApiError::bad_request(
                "Invalid input for field/attribute server. Value must be an object.",
            )
        })?;
    let name = server
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .trim()
        .to_string();
    if name.is_empty() || name.chars().count() > 255 {
        return Err(ApiError::bad_request(
            "Invalid input for field/attribute name. The name must be 1 to 255 characters.",
        ));
    }
    check_metadata(server)?;
    let flavor_ref = server
        .get("flavorRef")
        .and_then(|v| match v {
            Value::String(s) => Some(ref_id(s).to_string()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        })
        .ok_or_else(|| {
            ApiError::bad_request(
                "Invalid input for field/attribute flavorRef. 'flavorRef' is a required property.",
            )
        })?;
    let key_name = match server.get("key_name") {
        None | Some(Value::Null) => None,
        Some(Value::String(k)) => Some(k.clone()),
        Some(_) => {
            return Err(ApiError::bad_request(
                "Invalid input for field/attribute key_name.",
            ))
        }
    };
    let image_ref = match server.get("imageRef") {
        // Booting from a volume.
        None | Some(Value::Null) => None,
        Some(Value::String(r)) if r.is_empty() => None,
        Some(Value::String(r)) => Some(ref_id(r).to_string()),
        Some(_) => {
            return Err(ApiError::bad_request(
                "Invalid input for field/attribute imageRef.",
            ))
        }
    };
    let boot_volume = super::server_checks::block_devices(c, server)?;
    let nics = super::boot_networks::parse(server.get("networks"))?;
    let security_groups = security_group_names(server)?;
    let min_count = int_field(server, "min_count")?.unwrap_or(1);
    let max_count = int_field(server, "max_count")?.unwrap_or(min_count);
    if min_count < 1 || max_count < min_count {
        return Err(ApiError::bad_request(
            "min_count must be at least 1 and no greater than max_count.",
        ));
    }
    if min_count > MAX_COUNT_PER_REQUEST {
        return Err(ApiError::bad_request(format!(
            "min_count may be at most {MAX_COUNT_PER_REQUEST}: Tricircle boots at most \
             {MAX_COUNT_PER_REQUEST} servers per request."
        )));
    }
    // The pod boots each server on its own; the caller gets the
    // reservation id instead of the first server when it asks for it.
    let return_reservation_id = boolean(
        "return_reservation_id",
        server.remove("return_reservation_id"),
    )?;
    // Where: the AZ (`az`, `az:host` or `az::node`) names a top AZ.
    let az = match server.get("availability_zone") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => {
            Some(s.split(':').next().unwrap_or("").to_string()).filter(|a| !a.is_empty())
        }
        Some(_) => {
            return Err(ApiError::bad_request(
                "Invalid input for field/attribute availability_zone.",
            ))
        }
    };
    Ok(ServerCreate {
        body,
        name,
        flavor_ref,
        key_name,
        image_ref,
        boot_volume,
        nics,
        security_groups,
        min_count,
        max_count,
        return_reservation_id,
        az,
        group,
    })
}

pub async fn create(
    State(st): State<GatewayState>,
    c: Call,
    body: Bytes,
) -> Result<Response, ApiError> {
    let req = parse_create(&c, &body)?;
    let r = Request::new(&st, &c);
    match r.servers().create(&r.caller, req).await? {
        Created::Server(p) => Ok(render(p)),
        Created::Reservation(id) => {
            Ok((StatusCode::ACCEPTED, Json(json!({ "reservation_id": id }))).into_response())
        }
    }
}

// ------------------------------------------------------------------- lists

pub async fn list(st: State<GatewayState>, c: Call, q: RawQuery) -> Result<Response, ApiError> {
    super::server_checks::check_list_query(&c, q.0.as_deref())?;
    list_servers(st, c, q, false).await
}

pub async fn list_detail(
    st: State<GatewayState>,
    c: Call,
    q: RawQuery,
) -> Result<Response, ApiError> {
    super::server_checks::check_list_query(&c, q.0.as_deref())?;
    list_servers(st, c, q, true).await
}

/// The list parameters of `params`; the pods get the filters as they are.
fn parse_list(c: &Call, params: &[(String, String)]) -> Result<ListQuery, ApiError> {
    let mut sort_keys = Vec::new();
    let mut sort_dirs = Vec::new();
    let mut q = ListQuery {
        strict: listing::strict(&c.headers),
        ..Default::default()
    };
    for (k, v) in params {
        match k.as_str() {
            "sort_key" => sort_keys.push(v.clone()),
            "sort_dir" => sort_dirs.push(v.clone()),
            "limit" => {
                q.limit = Some(v.parse::<usize>().map_err(|_| {
                    ApiError::bad_request(format!(
                        "Invalid input for query parameters limit. Value: {v}."
                    ))
                })?)
            }
            "marker" => q.marker = Some(v.clone()),
            listing::HINTS_PARAM => q.hints = listing::decode_hints(v),
            "availability_zone" => q.az = Some(v.clone()),
            "all_tenants" => {
                q.all_tenants = !matches!(
                    v.to_ascii_lowercase().as_str(),
                    "0" | "false" | "off" | "no"
                );
                q.filters.push((k.clone(), v.clone()));
            }
            _ => q.filters.push((k.clone(), v.clone())),
        }
    }
    if q.all_tenants && !c.ctx.is_admin() {
        return Err(ApiError::forbidden(
            "os_compute_api:servers:index:get_all_tenants",
        ));
    }
    q.sort = parse_nova_sort(
        &sort_keys,
        &sort_dirs,
        NOVA_SERVER_SORT_FIELDS,
        NOVA_SERVER_ID_KEY,
    )
    .map_err(|e| ApiError::bad_request(e.to_string()))?;
    Ok(q)
}

async fn list_servers(
    State(st): State<GatewayState>,
    c: Call,
    RawQuery(raw): RawQuery,
    detail: bool,
) -> Result<Response, ApiError> {
    let params: Vec<(String, String)> =
        url::form_urlencoded::parse(raw.as_deref().unwrap_or("").as_bytes())
            .into_owned()
            .collect();
    let q = parse_list(&c, &params)?;
    let limit = q.limit;
    let r = Request::new(&st, &c);
    let page = match r.servers().list(&r.caller, q).await {
        Ok(p) => p,
        Err(ComputeError::TokenRefused) => return Ok(st.auth.unauthorized_response()),
        Err(e) => return Err(e.into()),
    };
    let items: Vec<Value> = page
        .servers
        .into_iter()
        .map(|s| {
            if detail {
                s
            } else {
                json!({"id": s["id"], "name": s["name"], "links": s["links"]})
            }
        })
        .collect();
    let mut body = json!({ "servers": items });
    if page.more {
        if let (Some(limit), Some(last)) = (
            limit,
            body["servers"]
                .as_array()
                .and_then(|a| a.last())
                .and_then(|s| s["id"].as_str())
                .map(str::to_string),
        ) {
            let qs = listing::next_query(&params, &[], Some(limit), &last, &page.next_hints);
            let path = if detail { "servers/detail" } else { "servers" };
            body["servers_links"] =
                json!([{"rel": "next", "href": format!("{}/v2.1/{path}?{qs}", c.root)}]);
        }
    }
    let mut resp = Json(body).into_response();
    if !page.skipped.is_empty() {
        if let Ok(v) = page.skipped.join(",").parse() {
            resp.headers_mut()
                .insert(crate::gateway::SKIPPED_PODS_HEADER, v);
        }
    }
    Ok(resp)
}

// ------------------------------------------------------- routed operations

pub async fn show(
    State(st): State<GatewayState>,
    c: Call,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let r = Request::new(&st, &c);
    rendered(r.servers().show(&r.caller, &id, q).await)
}

pub async fn delete(
    State(st): State<GatewayState>,
    c: Call,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let r = Request::new(&st, &c);
    let at = r.locate(&id).await?;
    rendered(r.servers().delete(&r.caller, &at).await)
}

/// The action of a `POST /servers/{id}/action` body, as far as the gateway
/// takes part.
fn parse_action(parsed: &Value) -> Result<ServerAction, ApiError> {
    let name = parsed
        .as_object()
        .and_then(|o| o.keys().next().cloned())
        .unwrap_or_default();
    Ok(match name.as_str() {
        "addSecurityGroup" | "removeSecurityGroup" => ServerAction::SecurityGroup {
            group: security_group_action_name(&parsed[&name])?,
            add: name == "addSecurityGroup",
        },
        "resize" => {
            let fref = &parsed["resize"]["flavorRef"];
            let flavor_ref = fref
                .as_str()
                .map(|s| ref_id(s).to_string())
                .or_else(|| fref.as_i64().map(|n| n.to_string()))
                .ok_or_else(|| {
                    ApiError::bad_request("Invalid input for field/attribute flavorRef.")
                })?;
            ServerAction::Resize { flavor_ref }
        }
        "forceDelete" => ServerAction::ForceDelete,
        _ => ServerAction::Other,
    })
}

pub async fn action(
    State(st): State<GatewayState>,
    c: Call,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let r = Request::new(&st, &c);
    let at = r.locate(&id).await?;
    let parsed: Value = parse_json(&body)?;
    let action = parse_action(&parsed)?;
    rendered(r.servers().action(&r.caller, &at, action, body).await)
}

/// The group of an `addSecurityGroup` / `removeSecurityGroup` body, checked
/// as Nova's `_parse` checks it.
fn security_group_action_name(arg: &Value) -> Result<String, ApiError> {
    let Some(obj) = arg.as_object() else {
        return Err(ApiError::bad_request("Missing parameter dict"));
    };
    match obj.get("name") {
        None => Err(ApiError::bad_request("Security group not specified")),
        Some(Value::String(n)) if !n.trim().is_empty() => Ok(n.clone()),
        Some(_) => Err(ApiError::bad_request("Security group name cannot be empty")),
    }
}

/// Attaching a volume: both must be in the same pod.
pub async fn attach_volume(
    State(st): State<GatewayState>,
    c: Call,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let r = Request::new(&st, &c);
    let at = r.locate(&id).await?;
    let parsed: Value = parse_json(&body)?;
    let volume_id = parsed["volumeAttachment"]["volumeId"]
        .as_str()
        .ok_or_else(|| ApiError::bad_request("Invalid input for field/attribute volumeAttachment. 'volumeId' is a required property."))?;
    rendered(
        r.servers()
            .attach_volume(&r.caller, &at, volume_id, body)
            .await,
    )
}

/// `PUT /servers/{id}` and other calls on the server itself.
pub async fn passthrough_root(
    State(st): State<GatewayState>,
    c: Call,
    method: Method,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Result<Response, ApiError> {
    if !body.is_empty() {
        // A new name must be printable, as Nova requires.
        let _: Value = parse_json(&body)?;
    }
    let r = Request::new(&st, &c);
    rendered(r.servers().update(&r.caller, &id, method, q, body).await)
}

pub async fn passthrough_root_sub(
    State(st): State<GatewayState>,
    c: Call,
    method: Method,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Result<Response, ApiError> {
    let r = Request::new(&st, &c);
    rendered(
        r.servers()
            .volume_attachments(&r.caller, &id, method, q, body)
            .await,
    )
}

/// Sub-resources of a server (`ips`, `metadata`, `tags`, `remote-consoles`,
/// `os-instance-actions`, ...): the ones Nova documents are forwarded to the
/// server's pod.
#[allow(clippy::too_many_arguments)]
pub async fn passthrough(
    State(st): State<GatewayState>,
    c: Call,
    Extension(mv): Extension<Microversion>,
    method: Method,
    Path((id, _)): Path<(String, String)>,
    uri: Uri,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Result<Response, ApiError> {
    // `/v2.1/servers/{id}/` comes before the sub-resource.
    let path = subresource::check(
        subresource::SERVER,
        &method,
        subresource::raw_tail(uri.path(), 3),
    )?;
    let sub = SubResource {
        method,
        path,
        query: q,
        body,
        deleted_actions: mv.at_least(21),
    };
    let r = Request::new(&st, &c);
    rendered(r.servers().sub_resource(&r.caller, &id, sub).await)
}
