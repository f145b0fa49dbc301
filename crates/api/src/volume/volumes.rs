//! Volumes: created in the pod the scheduler picks (or the pod of the
//! snapshot, volume or backup they are made from), reached through their
//! routing, listed across pods, counted against the project's quota across
//! pods.

use std::collections::HashMap;
use tricircle_pods::PodPath;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde_json::{json, Map, Value};
use tricircle_store::{Pod, Reservation, Usage};

use super::microversion::VolumeVersion;
use super::resources::{
    body_to_top, fetch, forward, opt_string, over_quota, over_size_limit, refusal, required_object,
    resource_of, respond, size_of, type_ids, Kind, BACKUPS, SNAPSHOTS, VOLUMES,
};
use super::{listing, types, ApiBase};
use crate::body::parse_json;
use crate::error::ApiError;
use crate::gateway::forward::PodAnswer;
use crate::gateway::forward::Respond as _;
use crate::gateway::{
    project_limits, scheduler, subresource, Call, GatewayState, SKIPPED_PODS_HEADER,
};

/// `per_volume_gigabytes` of a project (-1: no limit).
pub(super) async fn per_volume_limit(st: &GatewayState, project: &str) -> Result<i64, ApiError> {
    Ok(st
        .store
        .quota_limits(project)
        .await?
        .get("per_volume_gigabytes")
        .copied()
        .unwrap_or(-1))
}

/// Reserves quota for one new volume of `size` GB in `pod`.
pub(super) async fn reserve_volume(
    st: &GatewayState,
    c: &Call,
    pod: &Pod,
    size: i64,
) -> Result<i64, ApiError> {
    let per_volume = per_volume_limit(st, &c.ctx.project_id).await?;
    if per_volume >= 0 && size > per_volume {
        return Err(over_size_limit(size, per_volume));
    }
    let limits = project_limits(st, &c.ctx.project_id).await?;
    let each = Usage {
        volumes: 1,
        gigabytes: size,
        ..Default::default()
    };
    match st
        .store
        .reserve(&Reservation {
            project_id: &c.ctx.project_id,
            pod_id: &pod.pod_id,
            resource_type: VOLUMES.singular,
            each,
            min_count: 1,
            max_count: 1,
            limits: &limits,
            ttl: crate::create_checks::reservation_ttl(st.pods.timeout()),
        })
        .await?
    {
        Ok(ids) => ids.into_iter().next().ok_or_else(ApiError::internal),
        Err(q) => Err(over_quota(&q, &VOLUMES)),
    }
}

/// Gives a reservation back; one that cannot be only waits for its expiry.
pub(super) async fn release(st: &GatewayState, reservation: i64) {
    if let Err(e) = st.store.release_reservations(&[reservation]).await {
        tracing::warn!(error = %e, "quota reservation not released; it expires");
    }
}

/// Records a volume a pod created: routing, quota (the pod's size when it
/// told one, else the reserved size) and the cancellation of its create
/// check, together. If that cannot be written the volume is deleted again
/// (nobody could reach it; failing that, its check job deletes it).
#[allow(clippy::too_many_arguments)]
pub(super) async fn adopt(
    st: &GatewayState,
    c: &Call,
    pod: &Pod,
    id: &str,
    reservation: i64,
    size: Option<i64>,
    reserved: i64,
    check: Option<&str>,
) -> Result<(), ApiError> {
    let usage = Usage {
        volumes: 1,
        gigabytes: size.unwrap_or(reserved),
        ..Default::default()
    };
    if let Err(e) = VOLUMES
        .record(st, c, pod, id, Some((reservation, usage)), check)
        .await
    {
        tracing::error!(error = %e.message, volume = %id, "routing write failed; deleting the volume in its pod");
        let _ = forward(
            st,
            c,
            pod,
            Method::DELETE,
            PodPath::of(["volumes", id]),
            None,
            None,
        )
        .await;
        release(st, reservation).await;
        return Err(e);
    }
    Ok(())
}

/// The pod a volume made from another resource must be created in.
async fn source_pod(
    st: &GatewayState,
    c: &Call,
    vol: &Map<String, Value>,
) -> Result<Option<(Pod, &'static Kind, String)>, ApiError> {
    let mut found: Option<(Pod, &'static Kind, String)> = None;
    for (field, kind) in [
        ("snapshot_id", &SNAPSHOTS),
        ("source_volid", &VOLUMES),
        ("backup_id", &BACKUPS),
    ] {
        let Some(id) = opt_string(vol, field)? else {
            continue;
        };
        let (_, pod) = kind.routed(st, c, &id).await?;
        if let Some((other, other_kind, _)) = &found {
            if other.pod_id != pod.pod_id {
                return Err(ApiError::bad_request(format!(
                    "Invalid input received: the {} and the {} are in different availability zones.",
                    other_kind.singular, kind.singular
                )));
            }
        }
        found.get_or_insert((pod, kind, id));
    }
    Ok(found)
}

/// Cinder's largest size (its database's integer).
const MAX_SIZE: i64 = 2_147_483_647;

/// A volume size: a positive integer (or a string of one) no larger than
/// Cinder's database holds.
fn positive_size(field: &str, v: &Value) -> Result<i64, ApiError> {
    let n = size_of(Some(v)).filter(|n| *n >= 1).ok_or_else(|| {
        ApiError::bad_request(format!(
            "Invalid input for field/attribute {field}. Value: {v}. {v} is not a positive integer"
        ))
    })?;
    if n > MAX_SIZE {
        return Err(ApiError::bad_request(format!(
            "Invalid input for field/attribute {field}. Value: {v}. {v} is greater than the maximum of {MAX_SIZE}"
        )));
    }
    Ok(n)
}

/// `POST /volumes`.
pub async fn create(
    State(st): State<GatewayState>,
    c: Call,
    Extension(mv): Extension<VolumeVersion>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let mut body: Value = parse_json(&body)?;
    let vol = required_object(&mut body, "volume")?;
    let size = match vol.get("size") {
        None | Some(Value::Null) => None,
        Some(v) => Some(positive_size("size", v)?),
    };
    let az = opt_string(vol, "availability_zone")?;
    if az.as_deref() == Some("") {
        return Err(ApiError::bad_request(
            "Invalid input for field/attribute availability_zone. Value: . '' is too short",
        ));
    }
    let volume_type = opt_string(vol, "volume_type")?.filter(|t| !t.is_empty());

    // Where: the pod of the source, else the scheduler's pick for the AZ.
    let source = source_pod(&st, &c, vol).await?;
    let pod = match &source {
        Some((pod, kind, _)) => {
            if az.as_ref().is_some_and(|az| *az != pod.az_name) {
                return Err(ApiError::bad_request(format!(
                    "Invalid input received: Volume must be in the same availability zone as the {}",
                    if kind.singular == "volume" { "source volume" } else { kind.singular }
                )));
            }
            pod.clone()
        }
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
    match (pod.pod_az_name.is_empty(), az.is_some() || source.is_none()) {
        (true, _) => {
            vol.remove("availability_zone");
        }
        (false, true) => {
            vol.insert("availability_zone".into(), json!(pod.pod_az_name));
        }
        // Made from a source without an AZ: the pod takes the source's.
        (false, false) => {}
    }
    let vtype = match &volume_type {
        None => None,
        Some(t) => Some(
            types::find_visible(&st, &c.ctx, t)
                .await?
                .ok_or_else(|| types::not_found_by_ref(t))?,
        ),
    };
    if let Some(t) = &vtype {
        vol.insert("volume_type".into(), json!(t.name));
    }

    // How much: the size given, or the source's.
    let size = match (size, &source) {
        (Some(s), _) => s,
        (None, Some((pod, kind, id))) => {
            let item = fetch(&st, &c, kind, pod, id).await?;
            size_of(item.get("size")).unwrap_or(0)
        }
        // The pod decides (an image's size) or refuses; counted after.
        (None, None) => 0,
    };
    let reservation = reserve_volume(&st, &c, &pod, size).await?;
    // Before the pod is asked: the job that deletes what it made should the
    // outcome never be recorded here (as for servers).
    let resource = serde_json::json!({"pod_id": pod.pod_id, "pod_name": pod.pod_name,
        "name": body["volume"]["name"], "request_id": c.rid.0, "user_id": c.ctx.user_id});
    let check = match crate::create_checks::expect(
        &st,
        crate::create_checks::VOLUME_CREATE_CHECK,
        &c.ctx.project_id,
        resource,
        &[reservation],
    )
    .await
    {
        Ok(job) => job,
        Err(e) => {
            release(&st, reservation).await;
            return Err(e.into());
        }
    };
    let outcome = create_in_pod(&st, &c, &pod, vtype.as_ref(), &body).await;
    let answer = match outcome {
        Ok(a) if a.is_success() => a,
        Ok(a) => {
            st.store
                .abandon_create(&[reservation], Some(&check))
                .await?;
            return Ok(respond(&VOLUMES, a, &pod, &HashMap::new()));
        }
        Err(e) if e.status == StatusCode::SERVICE_UNAVAILABLE => {
            // The pod may have created it without answering: the check job
            // settles it (the user was told 503).
            release(&st, reservation).await;
            return Err(e);
        }
        Err(e) => {
            st.store
                .abandon_create(&[reservation], Some(&check))
                .await?;
            return Err(e);
        }
    };
    // An answer we cannot use: the check job finds the volume by its name.
    let Some(created) = resource_of(&answer, "volume") else {
        release(&st, reservation).await;
        tracing::error!(pod = %pod.pod_name, "volume create answered without a volume");
        return Err(ApiError::new(
            StatusCode::BAD_GATEWAY,
            format!("Pod {} answered without the volume.", pod.pod_name),
        ));
    };
    let Some(id) = created["id"].as_str() else {
        release(&st, reservation).await;
        return Err(ApiError::new(
            StatusCode::BAD_GATEWAY,
            format!("Pod {} answered without a volume id.", pod.pod_name),
        ));
    };
    adopt(
        &st,
        &c,
        &pod,
        id,
        reservation,
        size_of(created.get("size")),
        size,
        Some(&check),
    )
    .await?;
    Ok(respond(&VOLUMES, answer, &pod, &type_ids(&st, mv).await?))
}

async fn create_in_pod(
    st: &GatewayState,
    c: &Call,
    pod: &Pod,
    vtype: Option<&tricircle_store::VolumeType>,
    body: &Value,
) -> Result<PodAnswer, ApiError> {
    if let Some(t) = vtype {
        types::ensure_in_pod(st, c, pod, t).await?;
    }
    forward(
        st,
        c,
        pod,
        Method::POST,
        PodPath::fixed("/volumes"),
        None,
        Some(Bytes::from(body.to_string())),
    )
    .await
}

// ------------------------------------------------------------------ lists

pub async fn list(
    State(st): State<GatewayState>,
    c: Call,
    base: ApiBase,
    Extension(mv): Extension<VolumeVersion>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    listing::list(&st, &c, &base, mv, &VOLUMES, q.as_deref(), false).await
}

pub async fn list_detail(
    State(st): State<GatewayState>,
    c: Call,
    base: ApiBase,
    Extension(mv): Extension<VolumeVersion>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    listing::list(&st, &c, &base, mv, &VOLUMES, q.as_deref(), true).await
}

/// `GET /volumes/summary` (3.12+): the pods' summaries added up.
pub async fn summary(
    State(st): State<GatewayState>,
    c: Call,
    Extension(mv): Extension<VolumeVersion>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    if !mv.at_least(12) {
        return Err(ApiError::not_found("The resource could not be found."));
    }
    let all_tenants = c.ctx.is_admin()
        && url::form_urlencoded::parse(q.as_deref().unwrap_or("").as_bytes())
            .any(|(k, v)| k == "all_tenants" && listing::truthy(&v));
    let pods = listing::pods_for(&st, &c, &VOLUMES, all_tenants, None).await?;
    let asks = pods.iter().map(|pod| {
        let (st, c, q) = (&st, &c, q.clone());
        async move {
            let answer = tokio::time::timeout(
                st.list_deadline,
                forward(
                    st,
                    c,
                    pod,
                    Method::GET,
                    PodPath::fixed("/volumes/summary"),
                    q,
                    None,
                ),
            )
            .await;
            match answer {
                Ok(Ok(a)) if a.is_success() => Ok(a
                    .json()
                    .map(|mut v| v["volume-summary"].take())
                    .unwrap_or_default()),
                Ok(Ok(a)) => Err(refusal(&a).message),
                Ok(Err(e)) => Err(e.message),
                Err(_) => Err("did not answer before its deadline".to_string()),
            }
        }
    });
    let answers = futures::future::join_all(asks).await;
    let (mut count, mut size) = (0i64, 0i64);
    let mut metadata: Map<String, Value> = Map::new();
    let mut skipped = Vec::new();
    for (pod, answer) in pods.iter().zip(answers) {
        match answer {
            Ok(s) => {
                count += s["total_count"].as_i64().unwrap_or(0);
                size += s["total_size"].as_i64().unwrap_or(0);
                if let Some(m) = s["metadata"].as_object() {
                    for (k, vals) in m {
                        let entry = metadata.entry(k.clone()).or_insert_with(|| json!([]));
                        if let (Some(have), Some(new)) = (entry.as_array_mut(), vals.as_array()) {
                            for v in new {
                                if !have.contains(v) {
                                    have.push(v.clone());
                                }
                            }
                        }
                    }
                }
            }
            Err(why) => {
                tracing::warn!(pod = %pod.pod_name, %why, "pod skipped in volume summary");
                skipped.push(pod.pod_name.clone());
            }
        }
    }
    let mut s = json!({"total_count": count, "total_size": size});
    if mv.at_least(36) {
        s["metadata"] = Value::Object(metadata);
    }
    let mut resp = Json(json!({"volume-summary": s})).into_response();
    if let Ok(v) = skipped.join(",").parse() {
        if !skipped.is_empty() {
            resp.headers_mut().insert(SKIPPED_PODS_HEADER, v);
        }
    }
    Ok(resp)
}

// ------------------------------------------------------- routed operations

pub async fn show(
    State(st): State<GatewayState>,
    c: Call,
    Extension(mv): Extension<VolumeVersion>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    show_routed(&st, &c, mv, &VOLUMES, &id, q).await
}

/// Show for every kind: a pod that no longer has the resource makes its
/// routing (and quota) stale.
pub(super) async fn show_routed(
    st: &GatewayState,
    c: &Call,
    mv: VolumeVersion,
    kind: &Kind,
    id: &str,
    q: Option<String>,
) -> Result<Response, ApiError> {
    let (routing, pod) = match kind.routed(st, c, id).await {
        Ok(found) => found,
        // The routing goes when the pod accepts the delete; while the pod
        // still has it, it is shown `deleting` as Cinder shows it, and 404
        // only once the pod no longer has it.
        Err(e) if e.status == StatusCode::NOT_FOUND => {
            return match being_deleted(st, c, kind, id, q).await {
                Some((answer, pod)) => Ok(respond(kind, answer, &pod, &type_ids(st, mv).await?)),
                None => Err(e),
            };
        }
        Err(e) => return Err(e),
    };
    let answer = forward(
        st,
        c,
        &pod,
        Method::GET,
        PodPath::of([kind.collection, id]),
        q,
        None,
    )
    .await?;
    if answer.status == StatusCode::NOT_FOUND {
        kind.forget(st, &routing).await?;
    }
    Ok(respond(kind, answer, &pod, &type_ids(st, mv).await?))
}

/// A volume, snapshot or backup no routing knows any more that a pod
/// still shows `deleting` (its delete was accepted, the pod is at it):
/// the pod's answer. Anything else a pod may hold is not Tricircle's.
async fn being_deleted(
    st: &GatewayState,
    c: &Call,
    kind: &Kind,
    id: &str,
    q: Option<String>,
) -> Option<(crate::gateway::forward::PodAnswer, Pod)> {
    if !crate::gateway::subresource::valid_segment(id) {
        return None;
    }
    let ask = |pod: Pod| {
        let q = q.clone();
        async move {
            let path = PodPath::of([kind.collection, id]);
            forward(st, c, &pod, Method::GET, path, q, None).await
        }
    };
    st.gateway
        .first_pod_answer("a deleted resource", ask, |a| {
            a.is_success()
                && a.json()
                    .is_some_and(|v| v[kind.singular]["status"] == "deleting")
        })
        .await
}

pub async fn update(
    State(st): State<GatewayState>,
    c: Call,
    Extension(mv): Extension<VolumeVersion>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    update_routed(&st, &c, mv, &VOLUMES, &id, body).await
}

pub(super) async fn update_routed(
    st: &GatewayState,
    c: &Call,
    mv: VolumeVersion,
    kind: &Kind,
    id: &str,
    body: Bytes,
) -> Result<Response, ApiError> {
    let _: Value = parse_json(&body)?;
    let (_, pod) = kind.routed(st, c, id).await?;
    let answer = forward(
        st,
        c,
        &pod,
        Method::PUT,
        PodPath::of([kind.collection, id]),
        None,
        Some(body),
    )
    .await?;
    Ok(respond(kind, answer, &pod, &type_ids(st, mv).await?))
}

pub async fn delete(
    State(st): State<GatewayState>,
    c: Call,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let (routing, pod) = VOLUMES.routed(&st, &c, &id).await?;
    // A cascading delete takes the volume's snapshots along.
    let cascade = url::form_urlencoded::parse(q.as_deref().unwrap_or("").as_bytes())
        .any(|(k, v)| k == "cascade" && listing::truthy(&v));
    let snapshots = if cascade {
        snapshots_of(&st, &c, &pod, &id).await?
    } else {
        Vec::new()
    };
    let answer = forward(
        &st,
        &c,
        &pod,
        Method::DELETE,
        PodPath::of(["volumes", &id]),
        q,
        None,
    )
    .await?;
    if answer.is_success() || answer.status == StatusCode::NOT_FOUND {
        VOLUMES.forget(&st, &routing).await?;
        if answer.is_success() {
            for snap in snapshots {
                if let Some((r, _)) =
                    crate::gateway::routed_pod(&st, &c.ctx, SNAPSHOTS.singular, &snap).await?
                {
                    SNAPSHOTS.forget(&st, &r).await?;
                }
            }
        }
    }
    Ok(answer.into_response())
}

/// Ids of the snapshots of a volume in its pod.
async fn snapshots_of(
    st: &GatewayState,
    c: &Call,
    pod: &Pod,
    volume_id: &str,
) -> Result<Vec<String>, ApiError> {
    let qs = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("volume_id", volume_id)
        .finish();
    let answer = forward(
        st,
        c,
        pod,
        Method::GET,
        PodPath::fixed("/snapshots"),
        Some(qs),
        None,
    )
    .await?;
    if !answer.is_success() {
        return Err(refusal(&answer));
    }
    Ok(answer
        .json()
        .and_then(|v| {
            v["snapshots"].as_array().map(|a| {
                a.iter()
                    .filter(|s| s["volume_id"].as_str() == Some(volume_id))
                    .filter_map(|s| s["id"].as_str().map(str::to_string))
                    .collect()
            })
        })
        .unwrap_or_default())
}

/// `POST /volumes/{id}/action`: forwarded, with what the top must know
/// first (quota for `os-extend`, the type for `os-retype`) or after
/// (`os-force_delete`).
pub async fn action(
    State(st): State<GatewayState>,
    c: Call,
    Extension(mv): Extension<VolumeVersion>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let mut parsed: Value = parse_json(&body)?;
    let name = parsed
        .as_object()
        .filter(|o| o.len() == 1)
        .and_then(|o| o.keys().next().cloned())
        .ok_or_else(|| ApiError::bad_request("Invalid request body: give exactly one action."))?;
    let (routing, pod) = VOLUMES.routed(&st, &c, &id).await?;
    let type_ids = type_ids(&st, mv).await?;
    match name.as_str() {
        "os-extend" => extend(&st, &c, &pod, &id, parsed, &type_ids).await,
        "os-retype" => {
            let args = parsed["os-retype"].as_object_mut().ok_or_else(|| {
                ApiError::bad_request("Invalid input for field/attribute os-retype.")
            })?;
            let new_type = opt_string(args, "new_type")?
                .ok_or_else(|| ApiError::bad_request("Invalid input for field/attribute os-retype. 'new_type' is a required property"))?;
            let t = types::find_visible(&st, &c.ctx, &new_type)
                .await?
                .ok_or_else(|| types::not_found_by_ref(&new_type))?;
            types::ensure_in_pod(&st, &c, &pod, &t).await?;
            args.insert("new_type".into(), json!(t.name));
            let answer = forward(
                &st,
                &c,
                &pod,
                Method::POST,
                PodPath::of(["volumes", &id, "action"]),
                None,
                Some(Bytes::from(parsed.to_string())),
            )
            .await?;
            Ok(respond(&VOLUMES, answer, &pod, &type_ids))
        }
        _ => {
            let answer = forward(
                &st,
                &c,
                &pod,
                Method::POST,
                PodPath::of(["volumes", &id, "action"]),
                None,
                Some(body),
            )
            .await?;
            if name == "os-force_delete" && answer.is_success() {
                VOLUMES.forget(&st, &routing).await?;
            }
            Ok(respond(&VOLUMES, answer, &pod, &type_ids))
        }
    }
}

/// `os-extend`: the growth is reserved across pods before the pod is
/// asked, and the volume's allocation takes the new size once it accepted.
async fn extend(
    st: &GatewayState,
    c: &Call,
    pod: &Pod,
    id: &str,
    parsed: Value,
    type_ids: &HashMap<String, String>,
) -> Result<Response, ApiError> {
    let new_size = match parsed["os-extend"].get("new_size") {
        Some(v) => Some(positive_size("new_size", v)?),
        None => None,
    };
    let current = size_of(fetch(st, c, &VOLUMES, pod, id).await?.get("size"));
    let mut growth = None;
    if let (Some(new), Some(cur)) = (new_size, current) {
        if new > cur {
            let per_volume = per_volume_limit(st, &c.ctx.project_id).await?;
            if per_volume >= 0 && new > per_volume {
                return Err(over_size_limit(new, per_volume));
            }
            let limits = project_limits(st, &c.ctx.project_id).await?;
            let delta = Usage {
                gigabytes: new.saturating_sub(cur),
                ..Default::default()
            };
            match st
                .store
                .reserve(&Reservation {
                    project_id: &c.ctx.project_id,
                    pod_id: &pod.pod_id,
                    resource_type: "volume_extend",
                    each: delta,
                    min_count: 1,
                    max_count: 1,
                    limits: &limits,
                    ttl: crate::create_checks::reservation_ttl(st.pods.timeout()),
                })
                .await?
            {
                Ok(ids) => growth = ids.into_iter().next(),
                Err(q) => return Err(over_quota(&q, &VOLUMES)),
            }
        }
    }
    let answer = forward(
        st,
        c,
        pod,
        Method::POST,
        PodPath::of(["volumes", id, "action"]),
        None,
        Some(Bytes::from(parsed.to_string())),
    )
    .await;
    if let (Ok(a), Some(new)) = (&answer, new_size) {
        if a.is_success() {
            st.store
                .update_allocation(
                    VOLUMES.singular,
                    id,
                    Usage {
                        volumes: 1,
                        gigabytes: new,
                        ..Default::default()
                    },
                )
                .await?;
        }
    }
    if let Some(r) = growth {
        st.store.release_reservations(&[r]).await?;
    }
    Ok(respond(&VOLUMES, answer?, pod, type_ids))
}

/// Sub-resources of a volume (`metadata`, `encryption`, ...): the ones
/// Cinder documents are forwarded to its pod.
pub async fn passthrough(
    State(st): State<GatewayState>,
    c: Call,
    method: Method,
    Path((id, _)): Path<(String, String)>,
    uri: Uri,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Result<Response, ApiError> {
    passthrough_routed(&st, &c, &VOLUMES, method, &id, &uri, q, body).await
}

/// A sub-resource of `kind`'s `id` (the request's `uri` is
/// `/v3/{collection}/{id}/{sub-resource}`) forwarded to its pod, if
/// `kind` lets it through.
#[allow(clippy::too_many_arguments)]
pub(super) async fn passthrough_routed(
    st: &GatewayState,
    c: &Call,
    kind: &Kind,
    method: Method,
    id: &str,
    uri: &Uri,
    q: Option<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let sub = subresource::check(
        kind.subresources,
        &method,
        subresource::raw_tail(uri.path(), 3),
    )?;
    let (_, pod) = kind.routed(st, c, id).await?;
    let answer = forward(
        st,
        c,
        &pod,
        method,
        PodPath::of([kind.collection, id]).join(&sub),
        q,
        Some(body),
    )
    .await?;
    Ok(answer.respond(|v| body_to_top(kind, v, &pod, &HashMap::new())))
}
