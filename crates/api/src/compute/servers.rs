//! Servers: created in the pod the scheduler picks, reached through their
//! routing, listed across pods.

use std::collections::HashMap;
use tricircle_pods::PodPath;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde_json::{json, Map, Value};
use tricircle_core::listing::{
    parse_nova_sort, SortKey, NOVA_SERVER_ID_KEY, NOVA_SERVER_SORT_FIELDS,
};
use tricircle_pods::fanout::{list_across, ListRequest, MarkerPosition, PageQuery};
use tricircle_store::{NewRouting, Pod, Reservation, Usage, MAX_COUNT_PER_REQUEST};

use super::flavors::{ensure_flavor_in_pod, find_flavor};
use super::keypairs::ensure_keypair_in_pod;
use super::microversion::Microversion;
use crate::body::parse_json;
use crate::error::ApiError;
use crate::gateway::forward::Respond as _;
use crate::gateway::forward::{call, try_call, PodAnswer, PodCall};
use crate::gateway::listing::PageError;
use crate::gateway::rewrite::az_to_top;
use crate::gateway::{
    listing, project_limits, routed_pod, scheduler, subresource, Call, GatewayState,
};

const AZ_FIELD: &str = "OS-EXT-AZ:availability_zone";

fn not_found(id: &str) -> ApiError {
    ApiError::not_found(format!("Instance {id} could not be found."))
}

/// Rewrites a server (or a list's servers) for the top: AZ names.
fn server_to_top(v: &mut Value, pod: &Pod) {
    if let Some(s) = v.get_mut("server") {
        az_to_top(s, AZ_FIELD, &pod.pod_az_name, &pod.az_name);
        addresses_to_top(s);
    }
}

/// `addresses` are keyed by network name; a bottom network is named
/// `<top_id>#<top_name>`, which users know as `<top_name>`.
pub(crate) fn addresses_to_top(server: &mut Value) {
    let Some(addrs) = server.get_mut("addresses").and_then(Value::as_object_mut) else {
        return;
    };
    if !addrs
        .keys()
        .any(|k| tricircle_network::bottom::split_bottom_network_name(k).is_some())
    {
        return;
    }
    let old = std::mem::take(addrs);
    for (k, v) in old {
        let key = match tricircle_network::bottom::split_bottom_network_name(&k) {
            Some((_, name)) => name.to_string(),
            None => k,
        };
        addrs.insert(key, v);
    }
}

/// A pod shows the groups of a server's ports by their bottom names; the
/// gateway's copy of a top group is named by the top group's id. Returns
/// each such id among `servers`' groups with the top group's name.
async fn top_group_names<'a>(
    st: &GatewayState,
    servers: impl IntoIterator<Item = &'a Value>,
) -> HashMap<String, String> {
    let mut names = HashMap::new();
    if st.network.is_none() {
        return names;
    }
    let ids: Vec<String> = servers
        .into_iter()
        .filter_map(|s| s.get("security_groups").and_then(Value::as_array))
        .flatten()
        .filter_map(|g| g.get("name").and_then(Value::as_str))
        .filter(|n| uuid::Uuid::parse_str(n).is_ok())
        .map(str::to_string)
        .collect();
    for id in ids {
        if names.contains_key(&id) {
            continue;
        }
        match st
            .store
            .neutron_get(tricircle_store::NeutronKind::SecurityGroup, &id)
            .await
        {
            Ok(Some(g)) => {
                if let Some(n) = g.get("name").and_then(Value::as_str) {
                    names.insert(id, n.to_string());
                }
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, group = %id, "security group name not read"),
        }
    }
    names
}

/// Renames a server's groups from bottom to top names (each once).
fn groups_to_top(server: &mut Value, names: &HashMap<String, String>) {
    let Some(groups) = server
        .get_mut("security_groups")
        .and_then(Value::as_array_mut)
    else {
        return;
    };
    let mut seen: Vec<Value> = Vec::new();
    for g in groups.drain(..) {
        let g = match g
            .get("name")
            .and_then(Value::as_str)
            .and_then(|n| names.get(n))
        {
            Some(top) => json!({ "name": top }),
            None => g,
        };
        if !seen.contains(&g) {
            seen.push(g);
        }
    }
    *groups = seen;
}

/// A pod's answer about one server, in top terms (AZ, network names,
/// security group names).
async fn respond_server(st: &GatewayState, answer: PodAnswer, pod: &Pod) -> Response {
    let names = match answer.json() {
        Some(v) if answer.is_success() => top_group_names(st, v.get("server")).await,
        _ => HashMap::new(),
    };
    // The server groups it is in (2.71), by their top ids.
    let server_groups = super::server_groups::top_ids_of_groups(st, pod, &answer).await;
    answer.respond(|v| {
        server_to_top(v, pod);
        super::server_groups::groups_to_top(v, &server_groups);
        if let Some(s) = v.get_mut("server") {
            groups_to_top(s, &names);
        }
    })
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

pub async fn create(
    State(st): State<GatewayState>,
    c: Call,
    body: Bytes,
) -> Result<Response, ApiError> {
    let mut body: Value = parse_json(&body)?;
    let group_hint = super::server_groups::hinted(&body)?;
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
    let flavor = find_flavor(&st, &c.ctx, &flavor_ref)
        .await?
        .ok_or_else(|| ApiError::bad_request(format!("Flavor {flavor_ref} could not be found.")))?;
    let keypair = match server.get("key_name") {
        None | Some(Value::Null) => None,
        Some(Value::String(k)) => Some(
            st.store
                .get_keypair(&c.ctx.user_id, k)
                .await
                .map_err(|_| ApiError::bad_request("Invalid key_name provided."))?,
        ),
        Some(_) => {
            return Err(ApiError::bad_request(
                "Invalid input for field/attribute key_name.",
            ))
        }
    };
    match server.get("imageRef") {
        // Booting from a volume.
        None | Some(Value::Null) => {}
        Some(Value::String(r)) if r.is_empty() => {}
        Some(Value::String(r)) => super::images::check_bootable(&st, &c, ref_id(r)).await?,
        Some(_) => {
            return Err(ApiError::bad_request(
                "Invalid input for field/attribute imageRef.",
            ))
        }
    }
    super::server_checks::check_block_devices(&st, &c, server).await?;
    let nics = super::boot_networks::parse(server.get("networks"))?;
    if nics.is_some() && st.network.is_none() {
        return Err(ApiError::bad_request(
            "Booting on networks (uuid, port or fixed_ip) needs Tricircle's network service, which is not \
             configured; use networks \"none\" or \"auto\".",
        ));
    }
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
    let return_reservation_id = match server.remove("return_reservation_id") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => b,
        // Nova's boolean parameter type takes these strings too.
        Some(Value::String(t))
            if ["true", "1", "on", "yes"].contains(&t.to_lowercase().as_str()) =>
        {
            true
        }
        Some(Value::String(t))
            if ["false", "0", "off", "no"].contains(&t.to_lowercase().as_str()) =>
        {
            false
        }
        Some(v) => {
            return Err(ApiError::bad_request(format!(
                "Invalid input for field/attribute return_reservation_id. Value: {v}. {v} is not a boolean."
            )))
        }
    };

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
    let az = match (az, &nics, &st.network) {
        (None, Some(nics), Some(bottom)) => {
            super::boot_networks::preferred_az(bottom, &c.ctx, nics).await?
        }
        (az, _, _) => az,
    };
    let group = match &group_hint {
        Some(id) => {
            Some(super::server_groups::for_boot(&st, &c, id, az.as_deref(), min_count).await?)
        }
        None => None,
    };
    let pod = match group.as_ref().and_then(|g| g.pinned.clone()) {
        Some(pod) => pod,
        None => {
            scheduler::pick_pod(
                &st.store,
                st.pods.health(),
                &c.ctx.project_id,
                az.as_deref(),
            )
            .await?
        }
    };
    match (
        pod.pod_az_name.is_empty(),
        server.get("availability_zone").and_then(Value::as_str),
    ) {
        (true, _) => {
            server.remove("availability_zone");
        }
        (false, Some(requested)) => {
            // Keep `:host` / `::node` suffixes for admins.
            let suffix = requested
                .split_once(':')
                .map(|(_, rest)| format!(":{rest}"))
                .unwrap_or_default();
            server.insert(
                "availability_zone".into(),
                json!(format!("{}{suffix}", pod.pod_az_name)),
            );
        }
        (false, None) => {
            server.insert("availability_zone".into(), json!(pod.pod_az_name));
        }
    }
    server.insert("flavorRef".into(), json!(flavor.flavorid));

    // How much: quota across all pods, reserved before the pod is asked.
    let each = Usage {
        instances: 1,
        cores: flavor.vcpus,
        ram_mb: flavor.ram_mb,
        ..Default::default()
    };
    // As many as the quota allows up to max_count, at least min_count.
    let limits = project_limits(&st, &c.ctx.project_id).await?;
    let reservations = match st
        .store
        .reserve(&Reservation {
            project_id: &c.ctx.project_id,
            pod_id: &pod.pod_id,
            resource_type: "server",
            each,
            min_count,
            max_count,
            limits: &limits,
            ttl: crate::create_checks::reservation_ttl(st.pods.timeout()),
        })
        .await?
    {
        Ok(r) => r,
        Err(q) => {
            return Err(ApiError::forbidden_message(format!(
                "Quota exceeded for {}: Requested {}, but already used {} of {} {}",
                q.resource, q.requested, q.used, q.limit, q.resource
            )))
        }
    };

    if let Some(g) = &group {
        let bottom = match g.ensure_in_pod(&st, &c, &pod).await {
            Ok(b) => b,
            Err(e) => {
                if let Err(re) = st.store.release_reservations(&reservations).await {
                    tracing::warn!(error = %re, "quota reservations not released; they expire");
                }
                return Err(e);
            }
        };
        super::server_groups::set_hint(&mut body, &bottom);
    }
    let nets = nics.map(|n| (n, security_groups));
    let outcome = boot(
        &st,
        &c,
        &pod,
        &flavor,
        keypair.as_ref(),
        body,
        &name,
        (each, &reservations),
        nets.as_ref(),
    )
    .await;
    // What no server took goes back (a failed release only waits for the
    // reservations' expiry).
    let used = outcome.as_ref().map_or(0, |(_, ids)| ids.len());
    if let Err(e) = st
        .store
        .release_reservations(&reservations[used.min(reservations.len())..])
        .await
    {
        tracing::warn!(error = %e, "quota reservations not released; they expire");
    }
    let (answer, ids) = outcome?;
    if let Some(g) = &group {
        g.record(&st, &pod, &ids).await;
    }
    if return_reservation_id && answer.is_success() {
        return Ok((
            StatusCode::ACCEPTED,
            Json(json!({ "reservation_id": reservation_id() })),
        )
            .into_response());
    }
    Ok(answer.respond(|v| server_to_top(v, &pod)))
}

/// A reservation id as Nova makes them: `r-` and eight characters.
fn reservation_id() -> String {
    const CHARS: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let random = uuid::Uuid::new_v4();
    let tail: String = random.as_bytes()[..8]
        .iter()
        .map(|b| CHARS[usize::from(*b) % CHARS.len()] as char)
        .collect();
    format!("r-{tail}")
}

/// Prepares the pod (flavor, keypair), boots one server per reservation
/// and records each with its routing and allocation. Returns the first
/// answer and the ids created; the reservations past the last id are the
/// caller's to give back.
#[allow(clippy::too_many_arguments)]
async fn boot(
    st: &GatewayState,
    c: &Call,
    pod: &Pod,
    flavor: &tricircle_store::Flavor,
    keypair: Option<&tricircle_store::Keypair>,
    body: Value,
    name: &str,
    (each, reservations): (Usage, &[i64]),
    nets: Option<&(Vec<super::boot_networks::Nic>, Vec<String>)>,
) -> Result<(PodAnswer, Vec<String>), ApiError> {
    let count = reservations.len();
    ensure_flavor_in_pod(st, c, pod, flavor).await?;
    if let Some(k) = keypair {
        ensure_keypair_in_pod(st, c, pod, k).await?;
    }
    let mut first: Option<PodAnswer> = None;
    let mut ids = Vec::new();
    for (i, reservation) in (1..=count).zip(reservations.iter().copied()) {
        let mut one = body.clone();
        // Nova's default multi-instance name template.
        let this_name = if count > 1 {
            format!("{name}-{i}")
        } else {
            name.to_string()
        };
        if let Some(s) = one.get_mut("server").and_then(Value::as_object_mut) {
            s.remove("min_count");
            s.remove("max_count");
            s.insert("name".into(), json!(this_name));
        }
        // Before anything is made for this server: the job that settles
        // its create should the outcome never be recorded (lost answer, or
        // this gateway dies), named after what it looks for.
        let mut resource = json!({"pod_id": pod.pod_id, "pod_name": pod.pod_name, "name": this_name,
            "request_id": c.rid.0, "user_id": c.ctx.user_id, "ports": []});
        let check = match crate::create_checks::expect(
            st,
            crate::create_checks::SERVER_CREATE_CHECK,
            &c.ctx.project_id,
            resource.clone(),
            &reservations[i - 1..],
        )
        .await
        {
            Ok(job) => job,
            Err(e) if ids.is_empty() => return Err(e.into()),
            Err(_) => break,
        };
        let cancel_check = || async {
            if let Err(e) = st.store.abandon_create(&[], Some(&check)).await {
                tracing::warn!(error = %e, "a create check job stays; it finds nothing");
            }
        };
        // Each server gets its own top ports, ready in the pod.
        let prepared = match (nets, &st.network) {
            (Some((nics, groups)), Some(bottom)) => {
                let p = match super::boot_networks::prepare(bottom, &c.ctx, pod, nics, groups).await
                {
                    Ok(p) => p,
                    Err(e) => {
                        cancel_check().await;
                        if ids.is_empty() {
                            return Err(e);
                        }
                        tracing::warn!(error = ?e.message, "stopping a multi-server boot early");
                        break;
                    }
                };
                if let Some(s) = one.get_mut("server").and_then(Value::as_object_mut) {
                    s.insert("networks".into(), Value::Array(p.nics.clone()));
                    // Applied to the ports already.
                    s.remove("security_groups");
                }
                Some((bottom, p))
            }
            _ => None,
        };
        let undo = |prepared: &Option<(
            &tricircle_network::bottom::Bottom,
            super::boot_networks::Prepared,
        )>| {
            let prepared = prepared
                .as_ref()
                .map(|(b, p)| ((*b).clone(), p.ports.clone()));
            async move {
                if let Some((b, ports)) = prepared {
                    let p = super::boot_networks::Prepared {
                        nics: Vec::new(),
                        ports,
                    };
                    super::boot_networks::undo(&b, &p).await;
                }
            }
        };
        // The top ports this boot made go with the create if the check
        // finds it unsettled.
        let ports: Vec<&str> = prepared
            .as_ref()
            .map(|(_, p)| {
                p.ports
                    .iter()
                    .filter(|(_, created)| *created)
                    .map(|(id, _)| id.as_str())
                    .collect()
            })
            .unwrap_or_default();
        if !ports.is_empty() {
            resource["ports"] = json!(ports);
            if let Err(e) = st.store.update_pending_job(&check, &resource).await {
                undo(&prepared).await;
                cancel_check().await;
                if ids.is_empty() {
                    return Err(e.into());
                }
                break;
            }
        }
        let answer = call(
            st,
            &c.ctx,
            &c.rid,
            &c.root,
            PodCall {
                pod,
                service_type: "compute",
                method: Method::POST,
                path: PodPath::fixed("/servers"),
                query: None,
                headers: &c.headers,
                body: Some(Bytes::from(serde_json::to_vec(&one).unwrap_or_default())),
            },
        )
        .await;
        let answer = match answer {
            Ok(a) => a,
            // The pod may or may not have made it: the check job settles it
            // (and the top ports this boot made stay until then).
            Err(e) if ids.is_empty() => return Err(e),
            Err(_) => break,
        };
        if !answer.is_success() {
            undo(&prepared).await;
            cancel_check().await;
            if ids.is_empty() {
                return Ok((answer, ids));
            }
            break;
        }
        let Some(id) = answer
            .json()
            .and_then(|v| v["server"]["id"].as_str().map(str::to_string))
        else {
            // The check job finds what the pod made from its name.
            tracing::error!(pod = %pod.pod_name, "boot answered without a server id");
            return Err(ApiError::new(
                StatusCode::BAD_GATEWAY,
                format!("Pod {} answered without a server id.", pod.pod_name),
            ));
        };
        let routing = NewRouting {
            top_id: id.clone(),
            bottom_id: Some(id.clone()),
            pod_id: pod.pod_id.clone(),
            project_id: c.ctx.project_id.clone(),
            resource_type: "server".into(),
        };
        let recorded = st
            .store
            .record_created(&routing, Some((reservation, each)), Some(&check))
            .await;
        if let Err(e) = recorded {
            // A server nobody can reach through Tricircle is an orphan: it
            // goes now, or else its check job (still pending, since the
            // transaction that would have cancelled it failed) deletes it.
            tracing::error!(error = %e, server = %id, "routing write failed; deleting the server in its pod");
            let deleted = call(
                st,
                &c.ctx,
                &c.rid,
                &c.root,
                PodCall {
                    pod,
                    service_type: "compute",
                    method: Method::DELETE,
                    path: PodPath::of(["servers", &id]),
                    query: None,
                    headers: &c.headers,
                    body: None,
                },
            )
            .await;
            if !deleted.as_ref().is_ok_and(PodAnswer::is_success) {
                tracing::warn!(server = %id, "delete failed; the create check job will remove it");
            }
            undo(&prepared).await;
            return Err(e.into());
        }
        if let Some((bottom, p)) = &prepared {
            if let Err(e) = super::boot_networks::bind(bottom, &c.ctx, pod, &id, p).await {
                tracing::error!(error = ?e.message, server = %id, "could not record the server's ports");
            }
        }
        ids.push(id);
        if first.is_none() {
            first = Some(answer);
        }
    }
    match first {
        Some(a) => Ok((a, ids)),
        None => Err(ApiError::internal()),
    }
}

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
    let mut sort_keys = Vec::new();
    let mut sort_dirs = Vec::new();
    let mut limit = None;
    let mut marker = None;
    let mut hints = HashMap::new();
    let mut filters: Vec<(String, String)> = Vec::new();
    let mut az_filter = None;
    let mut all_tenants = false;
    for (k, v) in &params {
        match k.as_str() {
            "sort_key" => sort_keys.push(v.clone()),
            "sort_dir" => sort_dirs.push(v.clone()),
            "limit" => {
                limit = Some(v.parse::<usize>().map_err(|_| {
                    ApiError::bad_request(format!(
                        "Invalid input for query parameters limit. Value: {v}."
                    ))
                })?)
            }
            "marker" => marker = Some(v.clone()),
            listing::HINTS_PARAM => hints = listing::decode_hints(v),
            "availability_zone" => az_filter = Some(v.clone()),
            "all_tenants" => {
                all_tenants = !matches!(
                    v.to_ascii_lowercase().as_str(),
                    "0" | "false" | "off" | "no"
                );
                filters.push((k.clone(), v.clone()));
            }
            _ => filters.push((k.clone(), v.clone())),
        }
    }
    if all_tenants && !c.ctx.is_admin() {
        return Err(ApiError::forbidden(
            "os_compute_api:servers:index:get_all_tenants",
        ));
    }
    let sort = parse_nova_sort(
        &sort_keys,
        &sort_dirs,
        NOVA_SERVER_SORT_FIELDS,
        NOVA_SERVER_ID_KEY,
    )
    .map_err(|e| ApiError::bad_request(e.to_string()))?;

    // Which pods: where this project has servers (all pods for admins
    // listing every tenant), narrowed to the AZ filter.
    let all_pods: Vec<Pod> = st
        .store
        .list_pods()
        .await?
        .into_iter()
        .filter(|p| !p.is_top())
        .collect();
    let wanted: Vec<String> = if all_tenants {
        all_pods.iter().map(|p| p.pod_id.clone()).collect()
    } else {
        st.store
            .pods_with_resources(&c.ctx.project_id, "server")
            .await?
    };
    let pods: Vec<Pod> = all_pods
        .into_iter()
        .filter(|p| wanted.contains(&p.pod_id))
        .filter(|p| az_filter.as_ref().is_none_or(|az| &p.az_name == az))
        .collect();
    let by_name: HashMap<String, Pod> = pods
        .iter()
        .map(|p| (p.pod_name.clone(), p.clone()))
        .collect();

    let marker = match marker {
        None => None,
        Some(m) => {
            let bad = || ApiError::bad_request(format!("marker [{m}] not found"));
            let (_, pod) = routed_pod(&st, &c.ctx, "server", &m)
                .await?
                .ok_or_else(bad)?;
            let answer = call(
                &st,
                &c.ctx,
                &c.rid,
                &c.root,
                get_call(&pod, PodPath::of(["servers", &m]), None, &c.headers),
            )
            .await?;
            let item = answer
                .json()
                .filter(|_| answer.is_success())
                .map(|v| v["server"].clone())
                .ok_or_else(bad)?;
            let mut item = item;
            az_to_top(&mut item, AZ_FIELD, &pod.pod_az_name, &pod.az_name);
            Some(MarkerPosition {
                id: m.clone(),
                values: item,
                pod: Some(pod.pod_name.clone()),
                per_pod_markers: hints.clone(),
            })
        }
    };
    let strict = listing::strict(&c.headers);
    let req = ListRequest {
        sort: sort.clone(),
        limit,
        marker,
        per_pod_deadline: st.list_deadline,
        strict,
    };
    let pod_names: Vec<String> = pods.iter().map(|p| p.pod_name.clone()).collect();
    let fetch = |pod_name: String, page: PageQuery| {
        let st = st.clone();
        let c = c.clone();
        let pod = by_name.get(&pod_name).cloned();
        let filters = filters.clone();
        let az_filter = az_filter.clone();
        let sort = sort.clone();
        async move {
            let pod = pod.ok_or_else(|| PageError::Failed(format!("unknown pod {pod_name}")))?;
            fetch_page(&st, &c, &pod, &filters, az_filter.is_some(), &sort, page).await
        }
    };
    let listed_at = st.pods.health().now();
    let outcome = match list_across(&pod_names, fetch, &req).await {
        Ok(o) => o,
        Err(f) if listing::token_refused(&f.failure) => return Ok(st.auth.unauthorized_response()),
        Err(f) => {
            return Err(listing::shed(&f.failure).unwrap_or_else(|| {
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!("Pod {} could not be listed: {}", f.pod, f.failure),
                )
            }))
        }
    };
    if outcome
        .failed
        .iter()
        .any(|(_, f)| listing::token_refused(f))
    {
        return Ok(st.auth.unauthorized_response());
    }
    if let Some(e) = outcome.failed.iter().find_map(|(_, f)| listing::shed(f)) {
        return Err(e);
    }

    let items: Vec<Value> = outcome
        .items
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
    if outcome.more {
        if let (Some(limit), Some(last)) = (
            limit,
            body["servers"]
                .as_array()
                .and_then(|a| a.last())
                .and_then(|s| s["id"].as_str())
                .map(str::to_string),
        ) {
            let qs = listing::next_query(&params, &[], Some(limit), &last, &outcome.next_hints);
            let path = if detail { "servers/detail" } else { "servers" };
            body["servers_links"] =
                json!([{"rel": "next", "href": format!("{}/v2.1/{path}?{qs}", c.root)}]);
        }
    }
    let mut resp = Json(body).into_response();
    listing::report_skipped(
        &mut resp,
        &outcome.failed,
        "servers",
        st.pods.health(),
        listed_at,
    );
    Ok(resp)
}

fn get_call<'a>(
    pod: &'a Pod,
    path: PodPath,
    query: Option<String>,
    headers: &'a axum::http::HeaderMap,
) -> PodCall<'a> {
    PodCall {
        pod,
        service_type: "compute",
        method: Method::GET,
        path,
        query,
        headers,
        body: None,
    }
}

/// One page of `/servers/detail` from one pod, sorted by `sort`, in top terms.
async fn fetch_page(
    st: &GatewayState,
    c: &Call,
    pod: &Pod,
    filters: &[(String, String)],
    az_filtered: bool,
    sort: &[SortKey],
    page: PageQuery,
) -> Result<Vec<Value>, PageError> {
    let mut q: Vec<(String, String)> = filters.to_vec();
    if az_filtered {
        q.push(("availability_zone".into(), pod.pod_az_name.clone()));
    }
    for k in sort {
        q.push(("sort_key".into(), k.key.clone()));
        q.push(("sort_dir".into(), k.dir.as_str().into()));
    }
    q.push(("limit".into(), page.limit.to_string()));
    if let Some(m) = page.marker {
        q.push(("marker".into(), m));
    }
    let qs = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(q)
        .finish();
    let answer = try_call(
        st,
        &c.ctx,
        &c.rid,
        &c.root,
        get_call(pod, PodPath::fixed("/servers/detail"), Some(qs), &c.headers),
    )
    .await?;
    if answer.status.is_client_error() {
        let message = answer
            .json()
            .as_ref()
            .and_then(crate::gateway::forward::fault_message)
            .unwrap_or_default();
        return Err(PageError::Refused(ApiError::new(answer.status, message)));
    }
    if !answer.is_success() {
        return Err(PageError::Failed(format!(
            "HTTP {}: {}",
            answer.status,
            String::from_utf8_lossy(&answer.body)
        )));
    }
    let mut doc = answer
        .json()
        .ok_or_else(|| PageError::Failed("not JSON".into()))?;
    answer.links.rewrite_json(&mut doc);
    let mut servers = match doc.get_mut("servers").map(Value::take) {
        Some(Value::Array(a)) => a,
        _ => return Err(PageError::Failed("no servers array".into())),
    };
    let names = top_group_names(st, servers.iter()).await;
    for s in &mut servers {
        az_to_top(s, AZ_FIELD, &pod.pod_az_name, &pod.az_name);
        addresses_to_top(s);
        groups_to_top(s, &names);
    }
    Ok(servers)
}

// ------------------------------------------------------- routed operations

async fn routed(
    st: &GatewayState,
    c: &Call,
    id: &str,
) -> Result<(tricircle_store::Routing, Pod), ApiError> {
    if !subresource::valid_segment(id) {
        return Err(not_found(id));
    }
    routed_pod(st, &c.ctx, "server", id)
        .await?
        .ok_or_else(|| not_found(id))
}

async fn forward(
    st: &GatewayState,
    c: &Call,
    pod: &Pod,
    method: Method,
    path: PodPath,
    query: Option<String>,
    body: Bytes,
) -> Result<PodAnswer, ApiError> {
    call(
        st,
        &c.ctx,
        &c.rid,
        &c.root,
        PodCall {
            pod,
            service_type: "compute",
            method,
            path,
            query,
            headers: &c.headers,
            body: if body.is_empty() { None } else { Some(body) },
        },
    )
    .await
}

pub async fn show(
    State(st): State<GatewayState>,
    c: Call,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let (routing, pod) = match routed(&st, &c, &id).await {
        Ok(found) => found,
        // The routing goes when the pod accepts the delete; while the pod
        // is still at it, Nova shows the server (task state `deleting`),
        // and 404 only once it is gone — as the server lists do.
        Err(e) if e.status == StatusCode::NOT_FOUND => {
            return match being_deleted(&st, &c, &id, q).await {
                Some((answer, pod)) => Ok(respond_server(&st, answer, &pod).await),
                None => Err(e),
            };
        }
        Err(e) => return Err(e),
    };
    let answer = forward(
        &st,
        &c,
        &pod,
        Method::GET,
        PodPath::of(["servers", &id]),
        q,
        Bytes::new(),
    )
    .await?;
    if answer.status == StatusCode::NOT_FOUND {
        // The pod no longer has it: the routing is stale.
        forget(&st, routing.id, &id).await?;
    }
    Ok(respond_server(&st, answer, &pod).await)
}

/// A server no routing knows any more that a pod still shows `deleting`
/// (its delete was accepted, the pod is at it): the pod's answer. The pod
/// answers with the caller's token, so only what the caller may see.
async fn being_deleted(
    st: &GatewayState,
    c: &Call,
    id: &str,
    q: Option<String>,
) -> Option<(PodAnswer, Pod)> {
    if !subresource::valid_segment(id) {
        return None;
    }
    let ask = |pod: Pod| {
        let q = q.clone();
        async move {
            let path = PodPath::of(["servers", id]);
            forward(st, c, &pod, Method::GET, path, q, Bytes::new()).await
        }
    };
    st.gateway
        .first_pod_answer("a deleted server", ask, |a| {
            a.is_success()
                && a.json()
                    .is_some_and(|v| v["server"]["OS-EXT-STS:task_state"] == "deleting")
        })
        .await
}

/// The server is gone from its pod: its routing, its quota and the ports
/// its boot made go too.
async fn forget(st: &GatewayState, routing_id: i64, id: &str) -> Result<(), ApiError> {
    st.store.forget_resource(routing_id, "server", id).await?;
    if let Some(bottom) = &st.network {
        super::boot_networks::release(bottom, id).await;
    }
    Ok(())
}

pub async fn delete(
    State(st): State<GatewayState>,
    c: Call,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let (routing, pod) = routed(&st, &c, &id).await?;
    let answer = forward(
        &st,
        &c,
        &pod,
        Method::DELETE,
        PodPath::of(["servers", &id]),
        None,
        Bytes::new(),
    )
    .await?;
    if answer.is_success() || answer.status == StatusCode::NOT_FOUND {
        forget(&st, routing.id, &id).await?;
    }
    Ok(answer.into_response())
}

pub async fn action(
    State(st): State<GatewayState>,
    c: Call,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let (routing, pod) = routed(&st, &c, &id).await?;
    let parsed: Value = parse_json(&body)?;
    let name = parsed
        .as_object()
        .and_then(|o| o.keys().next().cloned())
        .unwrap_or_default();
    if name == "addSecurityGroup" || name == "removeSecurityGroup" {
        let group = security_group_action_name(&parsed[&name])?;
        if let Some(bottom) = &st.network {
            let add = name == "addSecurityGroup";
            if super::boot_networks::change_group(bottom, &c.ctx, &id, &group, add).await? {
                return Ok(StatusCode::ACCEPTED.into_response());
            }
        }
    }
    if name == "resize" {
        // The new flavor must exist in the pod first.
        let fref = parsed["resize"]["flavorRef"]
            .as_str()
            .map(|s| ref_id(s).to_string())
            .or_else(|| {
                parsed["resize"]["flavorRef"]
                    .as_i64()
                    .map(|n| n.to_string())
            })
            .ok_or_else(|| ApiError::bad_request("Invalid input for field/attribute flavorRef."))?;
        let flavor = find_flavor(&st, &c.ctx, &fref)
            .await?
            .ok_or_else(|| ApiError::bad_request(format!("Flavor {fref} could not be found.")))?;
        ensure_flavor_in_pod(&st, &c, &pod, &flavor).await?;
    }
    let answer = forward(
        &st,
        &c,
        &pod,
        Method::POST,
        PodPath::of(["servers", &id, "action"]),
        None,
        body,
    )
    .await?;
    if name == "forceDelete" && answer.is_success() {
        forget(&st, routing.id, &id).await?;
    }
    Ok(respond_server(&st, answer, &pod).await)
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
    let (_, pod) = routed(&st, &c, &id).await?;
    let parsed: Value = parse_json(&body)?;
    let volume_id = parsed["volumeAttachment"]["volumeId"]
        .as_str()
        .ok_or_else(|| ApiError::bad_request("Invalid input for field/attribute volumeAttachment. 'volumeId' is a required property."))?;
    let (_, volume_pod) = routed_pod(&st, &c.ctx, "volume", volume_id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("Volume {volume_id} could not be found.")))?;
    if volume_pod.pod_id != pod.pod_id {
        return Err(ApiError::bad_request(format!(
            "Volume {volume_id} is in availability zone {} and server {id} in {}: a volume can only be attached \
             to a server in the same pod.",
            volume_pod.az_name, pod.az_name
        )));
    }
    let answer = forward(
        &st,
        &c,
        &pod,
        Method::POST,
        PodPath::of(["servers", &id, "os-volume_attachments"]),
        None,
        body,
    )
    .await?;
    Ok(answer.into_response())
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
    let (_, pod) = routed(&st, &c, &id).await?;
    let answer = forward(
        &st,
        &c,
        &pod,
        method,
        PodPath::of(["servers", &id]),
        q,
        body,
    )
    .await?;
    Ok(respond_server(&st, answer, &pod).await)
}

pub async fn passthrough_root_sub(
    State(st): State<GatewayState>,
    c: Call,
    method: Method,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Result<Response, ApiError> {
    let (_, pod) = routed(&st, &c, &id).await?;
    let answer = forward(
        &st,
        &c,
        &pod,
        method,
        PodPath::of(["servers", &id, "os-volume_attachments"]),
        q,
        body,
    )
    .await?;
    Ok(answer.into_response())
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
    let sub = subresource::check(
        subresource::SERVER,
        &method,
        subresource::raw_tail(uri.path(), 3),
    )?;
    let pod = match routed(&st, &c, &id).await {
        Ok((_, pod)) => pod,
        // From 2.21 Nova reads the actions of deleted servers too; the
        // routing went with the server, so the pod that had it says.
        Err(e)
            if e.status == StatusCode::NOT_FOUND
                && mv.at_least(21)
                && subresource::valid_segment(&id)
                && sub.segments().first().map(String::as_str) == Some("os-instance-actions") =>
        {
            let path = PodPath::of(["servers", &id]).join(&sub);
            return deleted_server_actions(&st, &c, path, q).await.ok_or(e);
        }
        Err(e) => return Err(e),
    };
    // Addresses are keyed by network name: the pod knows `<top_id>#<name>`.
    let ips_of = match sub.segments() {
        [ips, label] if ips == "ips" => Some(label.clone()),
        _ => None,
    };
    let all_ips = sub.segments() == ["ips"];
    let path = if ips_of.is_some() {
        PodPath::of(["servers", &id, "ips"])
    } else {
        PodPath::of(["servers", &id]).join(&sub)
    };
    let answer = forward(&st, &c, &pod, method, path, q, body).await?;
    if all_ips {
        return Ok(answer.respond(addresses_to_top));
    }
    if let Some(label) = ips_of {
        if !answer.is_success() {
            return Ok(answer.into_response());
        }
        let mut doc = answer.json().unwrap_or(Value::Null);
        addresses_to_top(&mut doc);
        return match doc.get("addresses").and_then(|a| a.get(&label)) {
            Some(ips) => Ok(Json(json!({ label: ips })).into_response()),
            None => Err(ApiError::not_found(format!(
                "Instance {id} is not attached to network {label}."
            ))),
        };
    }
    Ok(answer.into_response())
}

/// The instance actions of a server no routing knows any more (deleted):
/// the first pod that does not answer 404 has it. `None` when none does.
async fn deleted_server_actions(
    st: &GatewayState,
    c: &Call,
    path: PodPath,
    q: Option<String>,
) -> Option<Response> {
    let ask = |pod: Pod| {
        let (path, q) = (path.clone(), q.clone());
        async move { forward(st, c, &pod, Method::GET, path, q, Bytes::new()).await }
    };
    st.gateway
        .first_pod_answer("a deleted server's actions", ask, |a| {
            a.status != StatusCode::NOT_FOUND
        })
        .await
        .map(|(a, _)| a.into_response())
}
