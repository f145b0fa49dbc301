//! `/flavors`: list, show, create, update, delete, extra specs and
//! tenant access.

use std::cmp::Ordering;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Map, Value};

use super::ctx::{
    check_keys, check_name, field_error, opt_bool, opt_string, wrapper, Ctx, NBody, P,
};
use super::error::{NResult, NovaError};
use super::model::Flavor;
use super::view;
use crate::image::schema::{py_repr, py_str};
use crate::pod::Pod;

const SORT_KEYS: [&str; 15] = [
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

fn compare(a: &Flavor, b: &Flavor, key: &str) -> Ordering {
    match key {
        "created_at" | "id" | "updated_at" => a.seq.cmp(&b.seq),
        "description" => a.description.cmp(&b.description),
        "disabled" => a.disabled.cmp(&b.disabled),
        "ephemeral_gb" => a.ephemeral.cmp(&b.ephemeral),
        "is_public" => a.is_public.cmp(&b.is_public),
        "memory_mb" => a.ram.cmp(&b.ram),
        "name" => a.name.cmp(&b.name),
        "root_gb" => a.disk.cmp(&b.disk),
        "rxtx_factor" => a
            .rxtx_factor
            .partial_cmp(&b.rxtx_factor)
            .unwrap_or(Ordering::Equal),
        "swap" => a.swap.cmp(&b.swap),
        "vcpus" => a.vcpus.cmp(&b.vcpus),
        "vcpu_weight" => Ordering::Equal,
        _ => a.id.cmp(&b.id),
    }
}

fn list(pod: &Pod, ctx: &Ctx, detail: bool) -> NResult<Value> {
    let q = &ctx.query;
    if ctx.at_least(75) {
        ctx.check_query_keys(&[
            "sort_key",
            "sort_dir",
            "limit",
            "marker",
            "minDisk",
            "minRam",
            "is_public",
        ])?;
    }
    let sort_key = q
        .get("sort_key")
        .filter(|s| !s.is_empty())
        .unwrap_or("flavorid");
    if !SORT_KEYS.contains(&sort_key) {
        return Err(NovaError::bad_request(format!(
            "Invalid input for query parameters sort_key. Value: {sort_key}. {} is not one of {}",
            py_str(sort_key),
            py_repr(&json!(SORT_KEYS))
        )));
    }
    let sort_dir = q.get("sort_dir").filter(|s| !s.is_empty()).unwrap_or("asc");
    if sort_dir != "asc" && sort_dir != "desc" {
        return Err(NovaError::bad_request(format!(
            "Invalid input for query parameters sort_dir. Value: {sort_dir}. {} is not one of ['asc', 'desc']",
            py_str(sort_dir)
        )));
    }
    let (limit, marker) = ctx.limit_and_marker()?;
    let is_public: Option<bool> = if ctx.is_admin() {
        match q.get("is_public") {
            None => Some(true),
            Some(v) if v.eq_ignore_ascii_case("none") => None,
            Some(v) => match v.to_ascii_lowercase().as_str() {
                "1" | "t" | "true" | "on" | "y" | "yes" => Some(true),
                "0" | "f" | "false" | "off" | "n" | "no" => Some(false),
                _ => {
                    return Err(NovaError::bad_request(format!(
                        "Invalid is_public filter [{v}]"
                    )))
                }
            },
        }
    } else {
        Some(true)
    };
    let min_ram = match q.get("minRam") {
        None => None,
        Some(v) => Some(
            v.parse::<u64>()
                .map_err(|_| NovaError::bad_request(format!("Invalid minRam filter [{v}]")))?,
        ),
    };
    let min_disk = match q.get("minDisk") {
        None => None,
        Some(v) => Some(
            v.parse::<u64>()
                .map_err(|_| NovaError::bad_request(format!("Invalid minDisk filter [{v}]")))?,
        ),
    };
    let project = ctx.project().to_string();
    let admin = ctx.is_admin();
    let (mut items, marker_flavor) = pod.compute().with(|st| {
        let items: Vec<Flavor> = st
            .flavors
            .iter()
            .filter(|f| match is_public {
                None => true,
                Some(true) => f.is_public || f.access.contains(&project),
                Some(false) => !f.is_public,
            })
            .filter(|f| admin || !f.disabled)
            .filter(|f| min_ram.is_none_or(|m| f.ram >= m))
            .filter(|f| min_disk.is_none_or(|m| f.disk >= m))
            .cloned()
            .collect();
        let marker_flavor = marker.as_ref().and_then(|m| {
            st.flavor(m)
                .filter(|f| f.visible_to(&project, admin))
                .cloned()
        });
        (items, marker_flavor)
    });
    let sorter = |a: &Flavor, b: &Flavor| {
        let o = compare(a, b, sort_key).then(a.seq.cmp(&b.seq));
        if sort_dir == "desc" {
            o.reverse()
        } else {
            o
        }
    };
    if let Some(m) = &marker {
        let Some(mf) = marker_flavor else {
            return Err(NovaError::bad_request(format!("marker [{m}] not found")));
        };
        if !items.iter().any(|f| &f.id == m) {
            items.push(mf);
        }
        items.sort_by(sorter);
        let pos = items.iter().position(|f| &f.id == m).unwrap_or(0);
        items.drain(..=pos);
    } else {
        items.sort_by(sorter);
    }
    items.truncate(limit);
    let flavors: Vec<Value> = items
        .iter()
        .map(|f| {
            if detail {
                view::flavor(ctx, f)
            } else {
                view::flavor_brief(ctx, f)
            }
        })
        .collect();
    let mut body = json!({ "flavors": flavors });
    let coll = if detail { "flavors/detail" } else { "flavors" };
    if let Some(links) = ctx.next_links(coll, items.len(), items.last().map(|f| f.id.as_str())) {
        body["flavors_links"] = links;
    }
    Ok(body)
}

/// `GET /flavors`.
pub(crate) async fn index(State(pod): State<Pod>, ctx: Ctx) -> NResult<Json<Value>> {
    list(&pod, &ctx, false).map(Json)
}

/// `GET /flavors/detail`.
pub(crate) async fn detail(State(pod): State<Pod>, ctx: Ctx) -> NResult<Json<Value>> {
    list(&pod, &ctx, true).map(Json)
}

/// A flavor the caller may see, or 404 `Flavor X could not be found.`.
fn visible(pod: &Pod, ctx: &Ctx, id: &str) -> NResult<Flavor> {
    pod.compute()
        .with(|st| {
            st.flavor(id)
                .filter(|f| f.visible_to(ctx.project(), ctx.is_admin()))
                .cloned()
        })
        .ok_or_else(|| NovaError::flavor_not_found(id))
}

/// `GET /flavors/{id}`.
pub(crate) async fn show(State(pod): State<Pod>, ctx: Ctx, p: P) -> NResult<Json<Value>> {
    let f = visible(&pod, &ctx, p.get("flavor_id"))?;
    Ok(Json(json!({"flavor": view::flavor(&ctx, &f)})))
}

fn flavor_int(obj: &Map<String, Value>, key: &str, min: i64) -> NResult<Option<u64>> {
    match obj.get(key) {
        None => Ok(None),
        Some(v) => {
            let n = match v {
                Value::Number(n) if n.is_i64() || n.is_u64() => n.as_i64(),
                Value::String(s) if !s.is_empty() && s.chars().all(|c| c.is_ascii_digit()) => {
                    s.parse::<i64>().ok()
                }
                Value::String(s) => {
                    return Err(field_error(
                        key,
                        v,
                        &format!("{} does not match '^[0-9]+$'", py_str(s)),
                    ))
                }
                _ => None,
            };
            let Some(n) = n else {
                return Err(field_error(
                    key,
                    v,
                    &format!("{} is not of type 'integer', 'string'", py_repr(v)),
                ));
            };
            if n < min {
                return Err(field_error(
                    key,
                    v,
                    &format!("{} is less than the minimum of {min}", py_repr(v)),
                ));
            }
            if n > 0x7FFF_FFFF {
                return Err(field_error(
                    key,
                    v,
                    &format!("{} is greater than the maximum of 2147483647", py_repr(v)),
                ));
            }
            Ok(Some(n as u64))
        }
    }
}

/// `POST /flavors` (admin).
pub(crate) async fn create(
    State(pod): State<Pod>,
    ctx: Ctx,
    NBody(body): NBody,
) -> NResult<Json<Value>> {
    ctx.require_admin("os_compute_api:os-flavor-manage:create")?;
    let req = wrapper(&body, "flavor", &[])?;
    let mut allowed = vec![
        "name",
        "id",
        "ram",
        "vcpus",
        "disk",
        "OS-FLV-EXT-DATA:ephemeral",
        "swap",
        "rxtx_factor",
        "os-flavor-access:is_public",
    ];
    if ctx.at_least(55) {
        allowed.push("description");
    }
    let name = match req.get("name") {
        Some(v) => Some(check_name("name", v)?),
        None => None,
    };
    let id = match req.get("id") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(Value::String(s)) => {
            let ok = !s.is_empty()
                && s.len() <= 255
                && !s.starts_with(' ')
                && !s.ends_with(' ')
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || ". _-".contains(c));
            if !ok {
                return Err(field_error(
                    "id",
                    &json!(s),
                    &format!(
                        "{} does not match '^(?! )[a-zA-Z0-9. _-]+(?<! )$'",
                        py_str(s)
                    ),
                ));
            }
            Some(s.clone())
        }
        Some(other) => {
            return Err(field_error(
                "id",
                other,
                &format!(
                    "{} is not of type 'string', 'number', 'null'",
                    py_repr(other)
                ),
            ))
        }
    };
    let ram = flavor_int(req, "ram", 1)?;
    let vcpus = flavor_int(req, "vcpus", 1)?;
    let disk = flavor_int(req, "disk", 0)?;
    let ephemeral = flavor_int(req, "OS-FLV-EXT-DATA:ephemeral", 0)?.unwrap_or(0);
    let swap = flavor_int(req, "swap", 0)?.unwrap_or(0);
    let rxtx_factor = match req.get("rxtx_factor") {
        None => 1.0,
        Some(v) => {
            let f = match v {
                Value::Number(n) => n.as_f64(),
                Value::String(s) => s.parse::<f64>().ok(),
                _ => None,
            };
            match f {
                Some(f) if f > 0.0 => f,
                _ => {
                    return Err(field_error(
                        "rxtx_factor",
                        v,
                        &format!("{} is less than or equal to the minimum of 0", py_repr(v)),
                    ))
                }
            }
        }
    };
    let is_public = opt_bool(req, "os-flavor-access:is_public")?.unwrap_or(true);
    let description = if ctx.at_least(55) {
        opt_string(req, "description", 65535, true)?
    } else {
        None
    };
    check_keys("flavor", req, &allowed, &["name", "ram", "vcpus", "disk"])?;
    let (Some(name), Some(ram), Some(vcpus), Some(disk)) = (name, ram, vcpus, disk) else {
        return Err(NovaError::bad_request("'name' is a required property"));
    };
    let f = pod.compute().with(|st| -> NResult<Flavor> {
        if st.flavors.iter().any(|f| f.name == name) {
            return Err(NovaError::conflict(format!(
                "Flavor with name {name} already exists."
            )));
        }
        let id = id.unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        if st.flavor(&id).is_some() {
            return Err(NovaError::conflict(format!(
                "Flavor with ID {id} already exists."
            )));
        }
        let seq = st.next_seq();
        let f = Flavor {
            id,
            name,
            ram,
            vcpus,
            disk,
            ephemeral,
            swap,
            rxtx_factor,
            is_public,
            disabled: false,
            description,
            extra_specs: Default::default(),
            access: Vec::new(),
            seq,
        };
        st.flavors.push(f.clone());
        Ok(f)
    })?;
    Ok(Json(json!({"flavor": view::flavor(&ctx, &f)})))
}

/// `PUT /flavors/{id}` (2.55+: description only).
pub(crate) async fn update(
    State(pod): State<Pod>,
    ctx: Ctx,
    p: P,
    NBody(body): NBody,
) -> NResult<Json<Value>> {
    if !ctx.at_least(55) {
        return Err(NovaError::resource_not_found());
    }
    ctx.require_admin("os_compute_api:os-flavor-manage:update")?;
    let req = wrapper(&body, "flavor", &[])?;
    let description = opt_string(req, "description", 65535, true)?;
    check_keys("flavor", req, &["description"], &["description"])?;
    let id = p.get("flavor_id").to_string();
    let f = pod.compute().with(|st| {
        let f = st
            .flavor_mut(&id)
            .ok_or_else(|| NovaError::flavor_not_found(&id))?;
        f.description = description;
        Ok::<_, NovaError>(f.clone())
    })?;
    Ok(Json(json!({"flavor": view::flavor(&ctx, &f)})))
}

/// `DELETE /flavors/{id}` (admin).
pub(crate) async fn delete(State(pod): State<Pod>, ctx: Ctx, p: P) -> NResult<StatusCode> {
    ctx.require_admin("os_compute_api:os-flavor-manage:delete")?;
    let id = p.get("flavor_id").to_string();
    pod.compute().with(|st| {
        let before = st.flavors.len();
        st.flavors.retain(|f| f.id != id);
        if st.flavors.len() == before {
            Err(NovaError::flavor_not_found(&id))
        } else {
            Ok(())
        }
    })?;
    Ok(StatusCode::ACCEPTED)
}

// ---------------------------------------------------------- tenant access

fn access_list(f: &Flavor) -> Value {
    json!({"flavor_access": f.access.iter().map(|p| json!({"flavor_id": f.id, "tenant_id": p})).collect::<Vec<_>>()})
}

/// `GET /flavors/{id}/os-flavor-access` (admin).
pub(crate) async fn access(State(pod): State<Pod>, ctx: Ctx, p: P) -> NResult<Json<Value>> {
    ctx.require_admin("os_compute_api:os-flavor-access")?;
    let f = visible(&pod, &ctx, p.get("flavor_id"))?;
    if f.is_public {
        return Err(NovaError::not_found(
            "Access list not available for public flavors.",
        ));
    }
    Ok(Json(access_list(&f)))
}

/// A project id Keystone knows (Nova's `verify_project_id`).
pub(crate) fn verify_project(pod: &Pod, project: &str) -> NResult<()> {
    let Some(identity) = &pod.config().identity else {
        return Ok(());
    };
    if identity.with_store(|s| s.project(project).is_some()) {
        Ok(())
    } else {
        Err(NovaError::bad_request(format!(
            "Project ID {project} is not a valid project."
        )))
    }
}

/// `POST /flavors/{id}/action`: `addTenantAccess`, `removeTenantAccess`.
pub(crate) async fn action(
    State(pod): State<Pod>,
    ctx: Ctx,
    p: P,
    NBody(body): NBody,
) -> NResult<Response> {
    let id = p.get("flavor_id").to_string();
    let Some((name, arg)) = body.as_object().and_then(|m| m.iter().next()) else {
        return Err(NovaError::bad_request("Malformed request body"));
    };
    let add = match name.as_str() {
        "addTenantAccess" => true,
        "removeTenantAccess" => false,
        other => {
            return Err(NovaError::bad_request(format!(
                "There is no such action: {other}"
            )))
        }
    };
    ctx.require_admin(if add {
        "os_compute_api:os-flavor-access:add_tenant_access"
    } else {
        "os_compute_api:os-flavor-access:remove_tenant_access"
    })?;
    let Some(a) = arg.as_object() else {
        return Err(field_error(
            name,
            arg,
            &format!("{} is not of type 'object'", py_repr(arg)),
        ));
    };
    check_keys(name, a, &["tenant"], &["tenant"])?;
    let tenant = match &a["tenant"] {
        Value::String(t) if !t.is_empty() => t.clone(),
        other => {
            return Err(field_error(
                "tenant",
                other,
                &format!("{} is not of type 'string'", py_repr(other)),
            ))
        }
    };
    if add {
        verify_project(&pod, &tenant)?;
    }
    let f = pod.compute().with(|st| -> NResult<Flavor> {
        let f = st
            .flavor_mut(&id)
            .ok_or_else(|| NovaError::flavor_not_found(&id))?;
        if add {
            if f.is_public {
                return Err(NovaError::conflict(
                    "Can not add access to a public flavor.",
                ));
            }
            if f.access.contains(&tenant) {
                return Err(NovaError::conflict(format!(
                    "Flavor access already exists for flavor {id} and project {tenant} combination."
                )));
            }
            f.access.push(tenant.clone());
        } else {
            if !f.access.contains(&tenant) {
                return Err(NovaError::not_found(format!(
                    "Flavor access not found for {id} / {tenant} combination."
                )));
            }
            f.access.retain(|t| t != &tenant);
        }
        Ok(f.clone())
    })?;
    Ok(Json(access_list(&f)).into_response())
}

// ------------------------------------------------------------ extra specs

/// `GET /flavors/{id}/os-extra_specs`.
pub(crate) async fn extra_specs(State(pod): State<Pod>, ctx: Ctx, p: P) -> NResult<Json<Value>> {
    let f = visible(&pod, &ctx, p.get("flavor_id"))?;
    Ok(Json(
        json!({"extra_specs": super::model::map_json(&f.extra_specs)}),
    ))
}

/// Extra spec values: strings, numbers or booleans, stored as strings.
fn spec_values(obj: &Map<String, Value>) -> NResult<Vec<(String, String)>> {
    let mut out = Vec::new();
    for (k, v) in obj {
        let key_ok = !k.is_empty()
            && k.len() <= 255
            && k.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_:. ".contains(c));
        if !key_ok {
            return Err(field_error(
                "extra_specs",
                &Value::Object(obj.clone()),
                &format!(
                    "Additional properties are not allowed ({} was unexpected)",
                    py_str(k)
                ),
            ));
        }
        let s = match v {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => if *b { "True" } else { "False" }.to_string(),
            other => {
                return Err(field_error(
                    k,
                    other,
                    &format!(
                        "{} is not of type 'string', 'number', 'boolean'",
                        py_repr(other)
                    ),
                ))
            }
        };
        if s.chars().count() > 255 {
            return Err(field_error(k, v, &format!("{} is too long", py_repr(v))));
        }
        out.push((k.clone(), s));
    }
    Ok(out)
}

/// `POST /flavors/{id}/os-extra_specs` (admin): merge; echoes the body.
pub(crate) async fn extra_specs_create(
    State(pod): State<Pod>,
    ctx: Ctx,
    p: P,
    NBody(body): NBody,
) -> NResult<Json<Value>> {
    ctx.require_admin("os_compute_api:os-flavor-extra-specs:create")?;
    let specs = wrapper(&body, "extra_specs", &[])?;
    let values = spec_values(specs)?;
    let id = p.get("flavor_id").to_string();
    pod.compute().with(|st| {
        let f = st
            .flavor_mut(&id)
            .ok_or_else(|| NovaError::flavor_not_found(&id))?;
        f.extra_specs.extend(values);
        Ok::<_, NovaError>(())
    })?;
    Ok(Json(body))
}

/// `GET /flavors/{id}/os-extra_specs/{key}`.
pub(crate) async fn extra_spec(State(pod): State<Pod>, ctx: Ctx, p: P) -> NResult<Json<Value>> {
    let id = p.get("flavor_id");
    let key = p.get("key");
    let f = visible(&pod, &ctx, id)?;
    match f.extra_specs.get(key) {
        Some(v) => Ok(Json(json!({ key: v }))),
        None => Err(NovaError::not_found(format!(
            "Flavor {id} has no extra specs with key {key}."
        ))),
    }
}

/// `PUT /flavors/{id}/os-extra_specs/{key}` (admin).
pub(crate) async fn extra_spec_put(
    State(pod): State<Pod>,
    ctx: Ctx,
    p: P,
    NBody(body): NBody,
) -> NResult<Json<Value>> {
    ctx.require_admin("os_compute_api:os-flavor-extra-specs:update")?;
    let key = p.get("key").to_string();
    let Some(obj) = body.as_object() else {
        return Err(NovaError::bad_request(format!(
            "{} is not of type 'object'",
            py_repr(&body)
        )));
    };
    if obj.len() != 1 {
        return Err(NovaError::bad_request(format!(
            "{} {}",
            py_repr(&body),
            if obj.is_empty() {
                "should be non-empty"
            } else {
                "has too many properties"
            }
        )));
    }
    let values = spec_values(obj)?;
    if values.first().map(|(k, _)| k.as_str()) != Some(key.as_str()) {
        return Err(NovaError::bad_request("Request body and URI mismatch"));
    }
    let id = p.get("flavor_id").to_string();
    pod.compute().with(|st| {
        let f = st
            .flavor_mut(&id)
            .ok_or_else(|| NovaError::flavor_not_found(&id))?;
        f.extra_specs.extend(values);
        Ok::<_, NovaError>(())
    })?;
    Ok(Json(body))
}

/// `DELETE /flavors/{id}/os-extra_specs/{key}` (admin): 200, no body.
pub(crate) async fn extra_spec_delete(
    State(pod): State<Pod>,
    ctx: Ctx,
    p: P,
) -> NResult<StatusCode> {
    ctx.require_admin("os_compute_api:os-flavor-extra-specs:delete")?;
    let id = p.get("flavor_id").to_string();
    let key = p.get("key").to_string();
    pod.compute().with(|st| {
        let f = st
            .flavor_mut(&id)
            .ok_or_else(|| NovaError::flavor_not_found(&id))?;
        if f.extra_specs.remove(&key).is_none() {
            return Err(NovaError::not_found(format!(
                "Flavor {id} has no extra specs with key {key}."
            )));
        }
        Ok(())
    })?;
    Ok(StatusCode::OK)
}
