//! Flavors (Nova's `flavors`, `os-extra_specs`, `os-flavor-access`): the
//! requests parsed and checked, the domain asked
//! (`tricircle_compute::flavors`), the answers rendered per microversion.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde_json::{json, Value};
use tricircle_compute::flavors::{AccessChange, FlavorList, FlavorListQuery};
use tricircle_store::{Flavor, NewFlavor};

use super::domain::domain;
use super::microversion::Microversion;
use crate::body::parse_json;
use crate::error::ApiError;
use crate::gateway::{Call, GatewayState};

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

/// A list request's query, checked as Nova checks it.
fn list_query(params: &[(String, String)], admin: bool) -> Result<FlavorListQuery, ApiError> {
    let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let is_public: Option<bool> = match get("is_public").map(str::to_ascii_lowercase).as_deref() {
        None => Some(true),
        Some("none") if admin => None,
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
    if !FlavorListQuery::SORT_KEYS.contains(&sort_key.as_str()) {
        return Err(ApiError::bad_request(format!(
            "Invalid input for query parameters sort_key. Value: {sort_key}."
        )));
    }
    let descending = match get("sort_dir") {
        None | Some("asc") => false,
        Some("desc") => true,
        Some(d) => {
            return Err(ApiError::bad_request(format!(
                "Invalid input for query parameters sort_dir. Value: {d}."
            )))
        }
    };
    let limit = num("limit")?;
    Ok(FlavorListQuery {
        is_public,
        min_ram,
        min_disk,
        sort_key,
        descending,
        marker: get("marker").map(str::to_string),
        limit,
    })
}

async fn list_flavors(
    State(st): State<GatewayState>,
    c: Call,
    Extension(mv): Extension<Microversion>,
    Query(params): Query<Vec<(String, String)>>,
    detail: bool,
) -> Result<Response, ApiError> {
    let query = list_query(&params, c.ctx.is_admin())?;
    let (compute, caller) = domain(&st, &c);
    let FlavorList { flavors, more } = compute.list_flavors(&caller, &query).await?;
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
    let (compute, caller) = domain(&st, &c);
    let f = compute.flavor(&caller, &id).await?;
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
    let (compute, _) = domain(&st, &c);
    let created = compute.create_flavor(&new).await?;
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
    let (compute, _) = domain(&st, &c);
    let f = compute.update_flavor_description(&id, desc).await?;
    Ok(Json(json!({"flavor": view(&f, mv, &c.root, true)})))
}

pub async fn delete(
    State(st): State<GatewayState>,
    c: Call,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    c.ctx
        .require_admin("os_compute_api:os-flavor-manage:delete")?;
    let (compute, caller) = domain(&st, &c);
    compute.delete_flavor(&caller, &id).await?;
    Ok(StatusCode::ACCEPTED.into_response())
}

pub async fn specs_list(
    State(st): State<GatewayState>,
    c: Call,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let (compute, caller) = domain(&st, &c);
    let f = compute.flavor(&caller, &id).await?;
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
    let (compute, caller) = domain(&st, &c);
    compute.set_flavor_specs(&caller, &id, &specs).await?;
    Ok(Json(json!({"extra_specs": specs})))
}

pub async fn spec_show(
    State(st): State<GatewayState>,
    c: Call,
    Path((id, key)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let (compute, caller) = domain(&st, &c);
    let f = compute.flavor(&caller, &id).await?;
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
    let (compute, caller) = domain(&st, &c);
    compute.set_flavor_spec(&caller, &id, &key, &specs).await?;
    Ok(Json(json!(specs)))
}

pub async fn spec_delete(
    State(st): State<GatewayState>,
    c: Call,
    Path((id, key)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    c.ctx
        .require_admin("os_compute_api:os-flavor-extra-specs:delete")?;
    let (compute, caller) = domain(&st, &c);
    compute.delete_flavor_spec(&caller, &id, &key).await?;
    Ok(StatusCode::OK.into_response())
}

fn access_body(id: &str, projects: &[String]) -> Json<Value> {
    let list: Vec<Value> = projects
        .iter()
        .map(|p| json!({"flavor_id": id, "tenant_id": p}))
        .collect();
    Json(json!({"flavor_access": list}))
}

pub async fn access_list(
    State(st): State<GatewayState>,
    c: Call,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    // Nova's `os_compute_api:os-flavor-access` is admin-or-owner: anyone
    // who can see the flavor; another project's private flavor is a 404.
    let (compute, caller) = domain(&st, &c);
    let projects = compute.flavor_access(&caller, &id).await?;
    Ok(access_body(&id, &projects))
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
    let (compute, caller) = domain(&st, &c);
    // An unknown flavor is a 404 before the body is looked at, as in Nova.
    let flavor = compute.flavor_for_access(&id).await?;
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
        .ok_or_else(|| ApiError::bad_request("Invalid input for field/attribute tenant."))?
        .to_string();
    let change = if add {
        AccessChange::Add(tenant)
    } else {
        AccessChange::Remove(tenant)
    };
    let projects = compute
        .change_flavor_access(&caller, &flavor, &change)
        .await?;
    Ok(access_body(&id, &projects))
}
