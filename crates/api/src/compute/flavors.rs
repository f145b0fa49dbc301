//! Flavors: kept at the top, copied into a pod the first time a server
//! there needs one (Tricircle's service user creates it with the same id,
//! extra specs and, for private flavors, project access).

use std::collections::BTreeMap;
use tricircle_pods::PodPath;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde_json::{json, Value};
use tricircle_store::{Flavor, NewFlavor, NewRouting, Pod, StoreError};

use super::microversion::Microversion;
use crate::auth::Context;
use crate::body::parse_json;
use crate::error::ApiError;
use crate::gateway::forward::{call_as_service, PodCall};
use crate::gateway::{Call, GatewayState};

fn not_found(id: &str) -> ApiError {
    ApiError::not_found(format!("Flavor {id} could not be found."))
}

fn links(root: &str, id: &str) -> Value {
    json!([
        {"rel": "self", "href": format!("{root}/v2.1/flavors/{id}")},
        {"rel": "bookmark", "href": format!("{root}/flavors/{id}")}
    ])
}

pub(super) fn view(f: &Flavor, mv: Microversion, root: &str, detail: bool) -> Value {
    let mut v = json!({"id": f.flavorid, "name": f.name, "links": links(root, &f.flavorid)});
    if mv.at_least(55) {
        v["description"] = json!(f.description);
    }
    if detail {
        v["ram"] = json!(f.ram_mb);
        v["vcpus"] = json!(f.vcpus);
        v["disk"] = json!(f.root_gb);
        v["OS-FLV-EXT-DATA:ephemeral"] = json!(f.ephemeral_gb);
        v["swap"] = if f.swap_mb == 0 && !mv.at_least(75) {
            json!("")
        } else {
            json!(f.swap_mb)
        };
        v["rxtx_factor"] = json!(f.rxtx_factor);
        v["os-flavor-access:is_public"] = json!(f.is_public);
        v["OS-FLV-DISABLED:disabled"] = json!(f.disabled);
        if mv.at_least(61) {
            v["extra_specs"] = json!(f.extra_specs);
        }
    }
    v
}

/// The flavor if `ctx` may see it (public, shared with its project, or admin).
pub(super) async fn find_flavor(
    st: &GatewayState,
    ctx: &Context,
    id: &str,
) -> Result<Option<Flavor>, ApiError> {
    let f = match st.store.get_flavor(id).await {
        Ok(f) => f,
        Err(StoreError::NotFound(_)) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    if f.is_public
        || ctx.is_admin()
        || st
            .store
            .flavor_projects(id)
            .await?
            .contains(&ctx.project_id)
    {
        Ok(Some(f))
    } else {
        Ok(None)
    }
}

fn service_headers() -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(
        "content-type",
        axum::http::HeaderValue::from_static("application/json"),
    );
    h
}

/// Makes sure `flavor` exists in `pod` (same id), with its extra specs and,
/// if private, access for the caller's project. Idempotent; concurrent
/// callers may both try, and the pod's 409 tells the loser it is there.
pub(super) async fn ensure_flavor_in_pod(
    st: &GatewayState,
    c: &Call,
    pod: &Pod,
    flavor: &Flavor,
) -> Result<(), ApiError> {
    let headers = service_headers();
    let svc = |method: Method, path: PodPath, body: Option<Value>| PodCall {
        pod,
        service_type: "compute",
        method,
        path,
        query: None,
        headers: &headers,
        body: body.map(|b| Bytes::from(b.to_string())),
    };
    let known = st
        .store
        .list_routings(
            &tricircle_store::RoutingFilter {
                top_id: Some(flavor.flavorid.clone()),
                pod_id: Some(pod.pod_id.clone()),
                resource_type: Some("flavor".into()),
                ..Default::default()
            },
            None,
            1,
        )
        .await?
        .routings
        .into_iter()
        .next()
        .is_some();
    if !known {
        let existing = call_as_service(
            st,
            &c.rid,
            &c.root,
            svc(
                Method::GET,
                PodPath::of(["flavors", &flavor.flavorid]),
                None,
            ),
        )
        .await?;
        if existing.status == StatusCode::NOT_FOUND {
            let body = json!({"flavor": {
                "id": flavor.flavorid, "name": flavor.name, "ram": flavor.ram_mb, "vcpus": flavor.vcpus,
                "disk": flavor.root_gb, "OS-FLV-EXT-DATA:ephemeral": flavor.ephemeral_gb, "swap": flavor.swap_mb,
                "rxtx_factor": flavor.rxtx_factor, "os-flavor-access:is_public": flavor.is_public}});
            let created = call_as_service(
                st,
                &c.rid,
                &c.root,
                svc(Method::POST, PodPath::fixed("/flavors"), Some(body)),
            )
            .await?;
            if !created.is_success() && created.status != StatusCode::CONFLICT {
                tracing::error!(pod = %pod.pod_name, status = %created.status, body = %String::from_utf8_lossy(&created.body), "flavor copy failed");
                return Err(ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!(
                        "Flavor {} could not be prepared in pod {}.",
                        flavor.flavorid, pod.pod_name
                    ),
                ));
            }
        } else if !existing.is_success() {
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "Pod {} could not be asked for flavor {}.",
                    pod.pod_name, flavor.flavorid
                ),
            ));
        }
        if !flavor.extra_specs.is_empty() {
            let specs = json!({"extra_specs": flavor.extra_specs});
            call_as_service(
                st,
                &c.rid,
                &c.root,
                svc(
                    Method::POST,
                    PodPath::of(["flavors", &flavor.flavorid, "os-extra_specs"]),
                    Some(specs),
                ),
            )
            .await?;
        }
        match st
            .store
            .create_routing(&NewRouting {
                top_id: flavor.flavorid.clone(),
                bottom_id: Some(flavor.flavorid.clone()),
                pod_id: pod.pod_id.clone(),
                project_id: String::new(),
                resource_type: "flavor".into(),
            })
            .await
        {
            Ok(_) | Err(StoreError::Conflict(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    if !flavor.is_public {
        let body = json!({"addTenantAccess": {"tenant": c.ctx.project_id}});
        let r = call_as_service(
            st,
            &c.rid,
            &c.root,
            svc(
                Method::POST,
                PodPath::of(["flavors", &flavor.flavorid, "action"]),
                Some(body),
            ),
        )
        .await?;
        if !r.is_success() && r.status != StatusCode::CONFLICT {
            tracing::warn!(pod = %pod.pod_name, status = %r.status, "flavor access copy failed");
        }
    }
    Ok(())
}

/// Best effort: repeats a flavor change in every pod holding a copy.
async fn propagate(
    st: &GatewayState,
    c: &Call,
    flavorid: &str,
    method: Method,
    path: PodPath,
    body: Option<Value>,
) {
    let Ok(page) = st
        .store
        .list_routings(
            &tricircle_store::RoutingFilter {
                top_id: Some(flavorid.to_string()),
                resource_type: Some("flavor".into()),
                ..Default::default()
            },
            None,
            1000,
        )
        .await
    else {
        return;
    };
    let headers = service_headers();
    for r in page.routings {
        let Ok(Some(pod)) = st.store.find_pod(&r.pod_id).await else {
            continue;
        };
        let call = PodCall {
            pod: &pod,
            service_type: "compute",
            method: method.clone(),
            path: path.clone(),
            query: None,
            headers: &headers,
            body: body.as_ref().map(|b| Bytes::from(b.to_string())),
        };
        match call_as_service(st, &c.rid, &c.root, call).await {
            Ok(a) if a.is_success() || a.status == StatusCode::NOT_FOUND => {}
            Ok(a) => {
                tracing::warn!(pod = %pod.pod_name, status = %a.status, %flavorid, "flavor change not applied in pod")
            }
            Err(e) => {
                tracing::warn!(pod = %pod.pod_name, error = %e.message, %flavorid, "flavor change not applied in pod")
            }
        }
        if method == Method::DELETE && path == PodPath::of(["flavors", flavorid]) {
            let _ = st.store.delete_routing(r.id).await;
        }
    }
}

// --------------------------------------------------------------- handlers

pub async fn list(
    st: State<GatewayState>,
    c: Call,
    mv: Extension<Microversion>,
    q: Query<Vec<(String, String)>>,
) -> Result<Response, ApiError> {
    list_flavors(st, c, mv, q, false).await
}

pub async fn list_detail(
    st: State<GatewayState>,
    c: Call,
    mv: Extension<Microversion>,
    q: Query<Vec<(String, String)>>,
) -> Result<Response, ApiError> {
    list_flavors(st, c, mv, q, true).await
}

fn flavor_sort_value(f: &Flavor, key: &str) -> Value {
    match key {
        "name" => json!(f.name),
        "memory_mb" => json!(f.ram_mb),
        "vcpus" => json!(f.vcpus),
        "root_gb" => json!(f.root_gb),
        "ephemeral_gb" => json!(f.ephemeral_gb),
        "swap" => json!(f.swap_mb),
        "rxtx_factor" => json!(f.rxtx_factor),
        "created_at" => json!(f.created_at),
        "updated_at" => json!(f.updated_at),
        "is_public" => json!(f.is_public),
        "disabled" => json!(f.disabled),
        "description" => json!(f.description),
        _ => json!(f.flavorid),
    }
}

async fn list_flavors(
    State(st): State<GatewayState>,
    c: Call,
    Extension(mv): Extension<Microversion>,
    Query(params): Query<Vec<(String, String)>>,
    detail: bool,
) -> Result<Response, ApiError> {
    let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let is_public: Option<bool> = match get("is_public").map(str::to_ascii_lowercase).as_deref() {
        None => Some(true),
        Some("none") if c.ctx.is_admin() => None,
        Some("none") => Some(true),
        Some("true" | "t" | "1" | "yes" | "y" | "on") => Some(true),
        Some("false" | "f" | "0" | "no" | "n" | "off") => Some(false),
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "Invalid is_public filter [{other}]"
            )))
        }
    };
    let num = |k: &str| -> Result<Option<i64>, ApiError> {
        get(k)
            .map(|v| {
                v.parse::<i64>()
                    .map_err(|_| ApiError::bad_request(format!("Invalid {k} filter [{v}]")))
            })
            .transpose()
    };
    let (min_ram, min_disk) = (num("minRam")?, num("minDisk")?);
    let sort_key = get("sort_key").unwrap_or("flavorid").to_string();
    const KEYS: &[&str] = &[
        "created_at",
        "description",
        "disabled",
        "ephemeral_gb",
        "flavorid",
        "id",
        "is_public",
        "memory_mb",
        "name",
        "root_gb",
        "rxtx_factor",
        "swap",
        "updated_at",
        "vcpu_weight",
        "vcpus",
    ];
    if !KEYS.contains(&sort_key.as_str()) {
        return Err(ApiError::bad_request(format!(
            "Invalid input for query parameters sort_key. Value: {sort_key}."
        )));
    }
    let desc = match get("sort_dir") {
        None | Some("asc") => false,
        Some("desc") => true,
        Some(d) => {
            return Err(ApiError::bad_request(format!(
                "Invalid input for query parameters sort_dir. Value: {d}."
            )))
        }
    };
    let limit = num("limit")?;
    let visible = if c.ctx.is_admin() {
        st.store.list_flavors(None).await?
    } else {
        st.store.list_flavors(Some(&c.ctx.project_id)).await?
    };
    let mut flavors: Vec<Flavor> = visible
        .into_iter()
        .filter(|f| is_public.is_none_or(|p| !c.ctx.is_admin() && p || f.is_public == p))
        .filter(|f| {
            min_ram.is_none_or(|m| f.ram_mb >= m) && min_disk.is_none_or(|m| f.root_gb >= m)
        })
        .collect();
    flavors.sort_by(|a, b| {
        let o = tricircle_core::listing::compare_values(
            &flavor_sort_value(a, &sort_key),
            &flavor_sort_value(b, &sort_key),
        )
        .then_with(|| a.flavorid.cmp(&b.flavorid));
        if desc {
            o.reverse()
        } else {
            o
        }
    });
    if let Some(m) = get("marker") {
        let pos = flavors
            .iter()
            .position(|f| f.flavorid == m)
            .ok_or_else(|| ApiError::bad_request(format!("marker [{m}] not found")))?;
        flavors.drain(..=pos);
    }
    let mut more = false;
    if let Some(l) = limit {
        let l = usize::try_from(l.max(0)).unwrap_or(0);
        more = flavors.len() > l;
        flavors.truncate(l);
    }
    let items: Vec<Value> = flavors
        .iter()
        .map(|f| view(f, mv, &c.root, detail))
        .collect();
    let mut body = json!({"flavors": items});
    if more {
        if let Some(last) = flavors.last() {
            let mut q: Vec<(String, String)> = params
                .iter()
                .filter(|(k, _)| k != "marker")
                .cloned()
                .collect();
            q.push(("marker".into(), last.flavorid.clone()));
            let qs = url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(q)
                .finish();
            let path = if detail { "flavors/detail" } else { "flavors" };
            body["flavors_links"] =
                json!([{"rel": "next", "href": format!("{}/v2.1/{path}?{qs}", c.root)}]);
        }
    }
    Ok(Json(body).into_response())
}

pub async fn show(
    State(st): State<GatewayState>,
    c: Call,
    Extension(mv): Extension<Microversion>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let f = find_flavor(&st, &c.ctx, &id)
        .await?
        .ok_or_else(|| not_found(&id))?;
    Ok(Json(json!({"flavor": view(&f, mv, &c.root, true)})))
}

fn int_param(
    v: Option<&Value>,
    name: &str,
    min: i64,
    default: Option<i64>,
) -> Result<i64, ApiError> {
    let bad = || {
        ApiError::bad_request(format!(
            "Invalid input for field/attribute {name}. Value must be an integer of at least {min}."
        ))
    };
    let n = match v {
        None | Some(Value::Null) => {
            return default.ok_or_else(|| {
                ApiError::bad_request(format!(
                    "Invalid input for field/attribute flavor. '{name}' is a required property."
                ))
            })
        }
        Some(Value::Number(n)) => n.as_i64().ok_or_else(bad)?,
        Some(Value::String(s)) if !s.is_empty() && s.chars().all(|c| c.is_ascii_digit()) => {
            s.parse().map_err(|_| bad())?
        }
        Some(_) => return Err(bad()),
    };
    if n < min || n > i64::from(i32::MAX) {
        return Err(bad());
    }
    Ok(n)
}

pub async fn create(
    State(st): State<GatewayState>,
    c: Call,
    Extension(mv): Extension<Microversion>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    c.ctx
        .require_admin("os_compute_api:os-flavor-manage:create")?;
    let body: Value = parse_json(&body)?;
    let f = body
        .get("flavor")
        .and_then(Value::as_object)
        .ok_or_else(|| ApiError::bad_request("Invalid input for field/attribute flavor."))?;
    const ALLOWED: &[&str] = &[
        "name",
        "ram",
        "vcpus",
        "disk",
        "id",
        "OS-FLV-EXT-DATA:ephemeral",
        "swap",
        "rxtx_factor",
        "os-flavor-access:is_public",
        "description",
    ];
    if let Some(k) = f.keys().find(|k| {
        !ALLOWED.contains(&k.as_str()) || (k.as_str() == "description" && !mv.at_least(55))
    }) {
        return Err(ApiError::bad_request(format!("Invalid input for field/attribute flavor. Additional properties are not allowed ('{k}' was unexpected)")));
    }
    let name = f
        .get("name")
        .and_then(Value::as_str)
        .map(str::trim)
        .unwrap_or("");
    if name.is_empty() || name.chars().count() > 255 {
        return Err(ApiError::bad_request(
            "Invalid input for field/attribute name. The name must be 1 to 255 characters.",
        ));
    }
    let id = match f.get("id") {
        None | Some(Value::Null) => uuid::Uuid::new_v4().to_string(),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("auto") => {
            uuid::Uuid::new_v4().to_string()
        }
        Some(Value::String(s))
            if !s.trim().is_empty()
                && s.len() <= 255
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_. ".contains(c)) =>
        {
            s.trim().to_string()
        }
        Some(Value::Number(n)) if n.as_u64().is_some() => n.to_string(),
        Some(_) => {
            return Err(ApiError::bad_request(
                "Invalid input for field/attribute id.",
            ))
        }
    };
    let rxtx = match f.get("rxtx_factor") {
        None | Some(Value::Null) => 1.0,
        Some(v) => v
            .as_f64()
            .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
            .filter(|x| *x > 0.0)
            .ok_or_else(|| {
                ApiError::bad_request("Invalid input for field/attribute rxtx_factor.")
            })?,
    };
    let is_public = match f.get("os-flavor-access:is_public") {
        None | Some(Value::Null) => true,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            return Err(ApiError::bad_request(
                "Invalid input for field/attribute os-flavor-access:is_public.",
            ))
        }
    };
    let description = match f.get("description") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.chars().count() <= 65535 => Some(s.clone()),
        Some(_) => {
            return Err(ApiError::bad_request(
                "Invalid input for field/attribute description.",
            ))
        }
    };
    let new = NewFlavor {
        flavorid: id,
        name: name.to_string(),
        vcpus: int_param(f.get("vcpus"), "vcpus", 1, None)?,
        ram_mb: int_param(f.get("ram"), "ram", 1, None)?,
        root_gb: int_param(f.get("disk"), "disk", 0, None)?,
        ephemeral_gb: int_param(
            f.get("OS-FLV-EXT-DATA:ephemeral"),
            "OS-FLV-EXT-DATA:ephemeral",
            0,
            Some(0),
        )?,
        swap_mb: int_param(f.get("swap"), "swap", 0, Some(0))?,
        rxtx_factor: rxtx,
        is_public,
        description,
    };
    let created = st.store.create_flavor(&new).await?;
    Ok(Json(json!({"flavor": view(&created, mv, &c.root, true)})))
}

pub async fn update(
    State(st): State<GatewayState>,
    c: Call,
    Extension(mv): Extension<Microversion>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    if !mv.at_least(55) {
        return Err(ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "Updating a flavor needs microversion 2.55 or later.",
        ));
    }
    c.ctx
        .require_admin("os_compute_api:os-flavor-manage:update")?;
    let body: Value = parse_json(&body)?;
    let desc =
        match body.get("flavor").and_then(|f| f.get("description")) {
            Some(Value::Null) => None,
            Some(Value::String(s)) if s.chars().count() <= 65535 => Some(s.as_str()),
            _ => return Err(ApiError::bad_request(
                "Invalid input for field/attribute flavor. 'description' is a required property.",
            )),
        };
    let f = st.store.update_flavor_description(&id, desc).await?;
    Ok(Json(json!({"flavor": view(&f, mv, &c.root, true)})))
}

pub async fn delete(
    State(st): State<GatewayState>,
    c: Call,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    c.ctx
        .require_admin("os_compute_api:os-flavor-manage:delete")?;
    st.store.delete_flavor(&id).await?;
    propagate(
        &st,
        &c,
        &id,
        Method::DELETE,
        PodPath::of(["flavors", &id]),
        None,
    )
    .await;
    Ok(StatusCode::ACCEPTED.into_response())
}

pub async fn specs_list(
    State(st): State<GatewayState>,
    c: Call,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let f = find_flavor(&st, &c.ctx, &id)
        .await?
        .ok_or_else(|| not_found(&id))?;
    Ok(Json(json!({"extra_specs": f.extra_specs})))
}

fn parse_specs(body: &Value) -> Result<BTreeMap<String, String>, ApiError> {
    let obj = body
        .as_object()
        .ok_or_else(|| ApiError::bad_request("Invalid input for field/attribute extra_specs."))?;
    obj.iter()
        .map(|(k, v)| {
            let v = match v {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                _ => return Err(ApiError::bad_request(format!("Invalid input for field/attribute extra_specs. Value of {k} must be a string."))),
            };
            if k.is_empty() || k.len() > 255 || v.len() > 255 {
                return Err(ApiError::bad_request("Invalid input for field/attribute extra_specs: keys and values are 1 to 255 characters."));
            }
            Ok((k.clone(), v))
        })
        .collect()
}

pub async fn specs_create(
    State(st): State<GatewayState>,
    c: Call,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    c.ctx
        .require_admin("os_compute_api:os-flavor-extra-specs:create")?;
    let body: Value = parse_json(&body)?;
    let specs = parse_specs(body.get("extra_specs").unwrap_or(&Value::Null))?;
    st.store.set_flavor_extra_specs(&id, &specs).await?;
    propagate(
        &st,
        &c,
        &id,
        Method::POST,
        PodPath::of(["flavors", &id, "os-extra_specs"]),
        Some(json!({"extra_specs": specs})),
    )
    .await;
    Ok(Json(json!({"extra_specs": specs})))
}

pub async fn spec_show(
    State(st): State<GatewayState>,
    c: Call,
    Path((id, key)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let f = find_flavor(&st, &c.ctx, &id)
        .await?
        .ok_or_else(|| not_found(&id))?;
    let v = f.extra_specs.get(&key).ok_or_else(|| {
        ApiError::not_found(format!("Flavor {id} has no extra specs with key {key}."))
    })?;
    Ok(Json(json!({ key: v })))
}

pub async fn spec_update(
    State(st): State<GatewayState>,
    c: Call,
    Path((id, key)): Path<(String, String)>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    c.ctx
        .require_admin("os_compute_api:os-flavor-extra-specs:update")?;
    let body: Value = parse_json(&body)?;
    let specs = parse_specs(&body)?;
    if specs.len() != 1 || !specs.contains_key(&key) {
        return Err(ApiError::bad_request("Request body and URI mismatch"));
    }
    st.store.set_flavor_extra_specs(&id, &specs).await?;
    propagate(
        &st,
        &c,
        &id,
        Method::PUT,
        PodPath::of(["flavors", &id, "os-extra_specs", &key]),
        Some(json!(specs)),
    )
    .await;
    Ok(Json(json!(specs)))
}

pub async fn spec_delete(
    State(st): State<GatewayState>,
    c: Call,
    Path((id, key)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    c.ctx
        .require_admin("os_compute_api:os-flavor-extra-specs:delete")?;
    st.store.delete_flavor_extra_spec(&id, &key).await?;
    propagate(
        &st,
        &c,
        &id,
        Method::DELETE,
        PodPath::of(["flavors", &id, "os-extra_specs", &key]),
        None,
    )
    .await;
    Ok(StatusCode::OK.into_response())
}

async fn access_body(st: &GatewayState, id: &str) -> Result<Json<Value>, ApiError> {
    let projects = st.store.flavor_projects(id).await?;
    let list: Vec<Value> = projects
        .iter()
        .map(|p| json!({"flavor_id": id, "tenant_id": p}))
        .collect();
    Ok(Json(json!({"flavor_access": list})))
}

pub async fn access_list(
    State(st): State<GatewayState>,
    c: Call,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    // Nova's `os_compute_api:os-flavor-access` is admin-or-owner: anyone
    // who can see the flavor; another project's private flavor is a 404.
    let f = find_flavor(&st, &c.ctx, &id)
        .await?
        .ok_or_else(|| not_found(&id))?;
    if f.is_public {
        return Err(ApiError::not_found(
            "Access list not available for public flavors.",
        ));
    }
    access_body(&st, &id).await
}

pub async fn access_action(
    State(st): State<GatewayState>,
    c: Call,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    c.ctx
        .require_admin("os_compute_api:os-flavor-access:add_tenant_access")?;
    let body: Value = parse_json(&body)?;
    let f = st.store.get_flavor(&id).await?;
    let (add, tenant) = match (body.get("addTenantAccess"), body.get("removeTenantAccess")) {
        (Some(a), None) => (true, a.get("tenant")),
        (None, Some(r)) => (false, r.get("tenant")),
        _ => {
            return Err(ApiError::bad_request(
                "Invalid input: give addTenantAccess or removeTenantAccess.",
            ))
        }
    };
    let tenant = tenant
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty() && t.len() <= 255)
        .ok_or_else(|| ApiError::bad_request("Invalid input for field/attribute tenant."))?;
    if f.is_public {
        return Err(ApiError::conflict("Can not add access to a public flavor."));
    }
    if add {
        st.store.add_flavor_project(&id, tenant).await?;
    } else {
        st.store.remove_flavor_project(&id, tenant).await?;
        propagate(
            &st,
            &c,
            &id,
            Method::POST,
            PodPath::of(["flavors", &id, "action"]),
            Some(json!({"removeTenantAccess": {"tenant": tenant}})),
        )
        .await;
    }
    access_body(&st, &id).await
}
