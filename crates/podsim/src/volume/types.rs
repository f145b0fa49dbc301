//! `/types`: list, show (`default` too), create/update/delete (admin),
//! extra specs, project access, and `/default-types` (3.62+).

use std::collections::{BTreeMap, BTreeSet};

use axum::http::StatusCode;
use chrono::Utc;
use serde_json::{json, Map, Value};

use super::actions::{args, no_such_action, peek};
use super::api::{
    no_extra_keys, opt_str, py_repr, require_object, str_bool, strict_bool, string_map, ApiError,
    ApiResult, Ctx, Reply,
};
use super::listing::{Key, Paging};
use super::model::{new_uuid, State, VolumeType, DEFAULT_TYPE_NAME};
use super::views::{type_view, visible_extra_specs};
use super::volumes::find_type;
use super::Req;

const SORT_KEYS: [&str; 6] = [
    "id",
    "name",
    "description",
    "is_public",
    "created_at",
    "updated_at",
];

fn sort_key(t: &VolumeType, key: &str) -> Key {
    match key {
        "id" => Key::str(&t.id),
        "name" => Key::str(&t.name),
        "description" => Key::opt_str(t.description.as_deref()),
        "is_public" => Key::Bool(t.is_public),
        "created_at" => Key::Time(t.created_at),
        "updated_at" => t.updated_at.map_or(Key::Null, Key::Time),
        _ => Key::Null,
    }
}

/// The type `id` if the caller may see it.
fn visible<'a>(st: &'a State, ctx: &Ctx, id: &str) -> ApiResult<&'a VolumeType> {
    st.types
        .get(id)
        .filter(|t| State::type_visible(t, ctx.project_id(), ctx.is_admin))
        .ok_or_else(|| ApiError::type_not_found(id))
}

pub(crate) fn index(st: &mut State, ctx: &Ctx, _req: &Req) -> ApiResult<Reply> {
    let mut paging = Paging::from_ctx(ctx)?;
    // Sort keys of types are not renamed (`name` is a column).
    for (k, _) in &mut paging.sort {
        if k == "display_name" {
            *k = "name".into();
        }
    }
    // is_public: admins choose (default true, "None" = all); users get
    // public types plus the private ones shared with them.
    let is_public =
        if ctx.is_admin {
            match ctx.param("is_public") {
                None => Some(true),
                Some(v) if v.eq_ignore_ascii_case("none") => None,
                Some(v) => Some(str_bool(v).ok_or_else(|| {
                    ApiError::bad_request(format!("Invalid is_public filter [{v}]"))
                })?),
            }
        } else {
            Some(true)
        };
    let mut spec_filter: Option<BTreeMap<String, String>> = None;
    if ctx.version.at_least(52) {
        if let Some(raw) = ctx.param("extra_specs") {
            let f = super::volumes::parse_dict_filter(raw).unwrap_or_default();
            if !ctx.is_admin
                && f.keys().any(|k| {
                    ![
                        "RESKEY:availability_zones",
                        "multiattach",
                        "replication_enabled",
                    ]
                    .contains(&k.as_str())
                })
            {
                return Ok(Reply::ok(json!({"volume_types": []})));
            }
            spec_filter = Some(f);
        }
    }
    let project = ctx.project_id().to_string();
    let candidates: Vec<&VolumeType> = st
        .types
        .values()
        .filter(|t| match is_public {
            None => true,
            Some(true) => t.is_public || t.projects.contains(&project),
            Some(false) => !t.is_public,
        })
        .filter(|t| {
            spec_filter.as_ref().is_none_or(|f| {
                f.iter().all(|(k, v)| match t.extra_specs.get(k) {
                    Some(have) if k == "RESKEY:availability_zones" => have.contains(v.as_str()),
                    Some(have) => have == v,
                    None => false,
                })
            })
        })
        .collect();
    let marker = match &paging.marker {
        None => None,
        Some(m) => Some(visible(st, ctx, m)?),
    };
    let page = paging.apply(candidates, marker.as_ref(), &SORT_KEYS, |t, k| {
        sort_key(t, k)
    })?;
    let items: Vec<Value> = page.iter().map(|t| type_view(ctx, t)).collect();
    let mut out = Map::new();
    out.insert("volume_types".into(), json!(items));
    if let Some(l) = paging.next_links(
        ctx,
        "types",
        page.last().map(|t| t.id.as_str()),
        page.len(),
        None,
    ) {
        out.insert("volume_type_links".into(), l);
    }
    Ok(Reply::ok(Value::Object(out)))
}

pub(crate) fn show(st: &mut State, ctx: &Ctx, req: &Req) -> ApiResult<Reply> {
    let id = req.id(0);
    if id == "default" {
        let t = st
            .default_type_id(ctx.project_id())
            .and_then(|d| st.types.get(&d))
            .ok_or_else(|| ApiError::not_found("Default volume type can not be found."))?;
        return Ok(Reply::ok(json!({"volume_type": type_view(ctx, t)})));
    }
    let t = visible(st, ctx, id)?;
    Ok(Reply::ok(json!({"volume_type": type_view(ctx, t)})))
}

fn validate_name(v: &Value) -> ApiResult<String> {
    let Value::String(s) = v else {
        return Err(ApiError::validation(
            "name",
            v,
            &format!("{} is not of type 'string'", py_repr(v)),
        ));
    };
    let trimmed = s.trim();
    if trimmed.is_empty() {
        return Err(ApiError::bad_request(
            "Name has a minimum character requirement of 1.",
        ));
    }
    if trimmed.chars().count() > 255 {
        return Err(ApiError::bad_request("Name has more than 255 characters."));
    }
    Ok(trimmed.to_string())
}

fn validate_description(m: &Map<String, Value>) -> ApiResult<Option<String>> {
    let d = opt_str(m, "description")?;
    if let Some(s) = &d {
        if s.chars().count() > 255 {
            return Err(ApiError::bad_request(
                "Description has more than 255 characters.",
            ));
        }
    }
    Ok(d)
}

fn schema_bool(m: &Map<String, Value>, key: &str) -> ApiResult<Option<bool>> {
    match m.get(key) {
        None => Ok(None),
        Some(v) => strict_bool(v).map(Some).ok_or_else(|| {
            ApiError::validation(key, v, &format!("{} is not one of [True, 'True', 'TRUE', 'true', '1', 'ON', 'On', 'on', 'YES', 'Yes', 'yes', 'y', 't', False, 'False', 'FALSE', 'false', '0', 'OFF', 'Off', 'off', 'NO', 'No', 'no', 'n', 'f']", py_repr(v)))
        }),
    }
}

pub(crate) fn create(st: &mut State, ctx: &Ctx, req: &Req) -> ApiResult<Reply> {
    no_extra_keys(&req.body, &["volume_type"])?;
    let body = require_object(&req.body, "volume_type")?;
    no_extra_keys(
        &Value::Object(body.clone()),
        &[
            "name",
            "description",
            "extra_specs",
            "os-volume-type-access:is_public",
        ],
    )?;
    let name = validate_name(
        body.get("name")
            .ok_or_else(|| ApiError::schema("'name' is a required property"))?,
    )?;
    let description = validate_description(body)?;
    let extra_specs = match body.get("extra_specs") {
        None | Some(Value::Null) => BTreeMap::new(),
        Some(v) => string_map("extra_specs", v)?,
    };
    let is_public = schema_bool(body, "os-volume-type-access:is_public")?.unwrap_or(true);
    ctx.require_admin("volume_extension:type_create")?;
    if st.type_by_name(&name).is_some() {
        return Err(ApiError::conflict(format!(
            "Volume Type {name} already exists."
        )));
    }
    let t = VolumeType {
        id: new_uuid(),
        name,
        description,
        is_public,
        extra_specs,
        projects: BTreeSet::new(),
        encryption: None,
        created_at: st.next_created_at(),
        updated_at: None,
    };
    let view = type_view(ctx, &t);
    st.types.insert(t.id.clone(), t);
    Ok(Reply::ok(json!({"volume_type": view})))
}

pub(crate) fn update(st: &mut State, ctx: &Ctx, req: &Req) -> ApiResult<Reply> {
    no_extra_keys(&req.body, &["volume_type"])?;
    let body = require_object(&req.body, "volume_type")?;
    no_extra_keys(
        &Value::Object(body.clone()),
        &["name", "description", "is_public"],
    )?;
    let name = match body.get("name") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.trim().is_empty() => {
            return Err(ApiError::bad_request("Volume type name can not be empty."))
        }
        Some(v) => Some(validate_name(v)?),
    };
    let description = validate_description(body)?;
    let is_public = schema_bool(body, "is_public")?;
    ctx.require_admin("volume_extension:type_update")?;
    if name.is_none() && description.is_none() && is_public.is_none() {
        return Err(ApiError::bad_request(
            "Specify volume type name, description, is_public or a combination thereof.",
        ));
    }
    let id = req.id(0).to_string();
    let old_name = st
        .types
        .get(&id)
        .map(|t| t.name.clone())
        .ok_or_else(|| ApiError::type_not_found(&id))?;
    if let Some(n) = &name {
        if old_name == DEFAULT_TYPE_NAME && *n != old_name {
            return Err(ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("Cannot update volume_type {id}"),
            ));
        }
        if *n != old_name && st.type_by_name(n).is_some() {
            return Err(ApiError::conflict(format!(
                "Volume Type {n} already exists."
            )));
        }
    }
    if let Some(n) = &name {
        if *n != old_name {
            // Per-type quota overrides follow the rename.
            for q in st.quotas.values_mut() {
                for part in ["volumes", "gigabytes", "snapshots"] {
                    if let Some(v) = q.remove(&format!("{part}_{old_name}")) {
                        q.insert(format!("{part}_{n}"), v);
                    }
                }
            }
        }
    }
    let t = st
        .types
        .get_mut(&id)
        .ok_or_else(|| ApiError::type_not_found(&id))?;
    if let Some(n) = name {
        t.name = n;
    }
    if let Some(d) = description {
        t.description = Some(d);
    }
    if let Some(p) = is_public {
        t.is_public = p;
    }
    t.updated_at = Some(Utc::now());
    Ok(Reply::ok(json!({"volume_type": type_view(ctx, t)})))
}

pub(crate) fn delete(st: &mut State, ctx: &Ctx, req: &Req) -> ApiResult<Reply> {
    ctx.require_admin("volume_extension:type_delete")?;
    let id = req.id(0).to_string();
    let t = st
        .types
        .get(&id)
        .ok_or_else(|| ApiError::type_not_found(&id))?;
    if t.name == DEFAULT_TYPE_NAME || st.default_types.values().any(|d| *d == id) {
        return Err(ApiError::bad_request(format!(
            "The volume type {id} is a default volume type and cannot be deleted."
        )));
    }
    if st.types.len() <= 1 {
        return Err(ApiError::bad_request(format!(
            "The volume type {id} is the only currently defined volume type and cannot be deleted."
        )));
    }
    if st.volumes.values().any(|v| v.volume_type_id == id) {
        return Err(ApiError::bad_request("Target volume type is still in use."));
    }
    st.types.remove(&id);
    Ok(Reply::empty(StatusCode::ACCEPTED))
}

pub(crate) fn action(st: &mut State, ctx: &Ctx, req: &Req) -> ApiResult<Reply> {
    let (name, raw) = peek(&req.body)?;
    let add = match name {
        "addProjectAccess" => true,
        "removeProjectAccess" => false,
        other => return Err(no_such_action(other)),
    };
    let a = args(name, raw)?;
    let project = match a.get("project") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        Some(other) => {
            return Err(ApiError::validation(
                "project",
                other,
                &format!("{} is not of type 'string'", py_repr(other)),
            ))
        }
        None => return Err(ApiError::schema("'project' is a required property")),
    };
    let id = req.id(0).to_string();
    if add {
        ctx.require_admin("volume_extension:volume_type_access:addProjectAccess")?;
    } else {
        ctx.require_admin("volume_extension:volume_type_access:removeProjectAccess")?;
    }
    let t = st
        .types
        .get_mut(&id)
        .ok_or_else(|| ApiError::type_not_found(&id))?;
    if t.is_public {
        return Err(ApiError::bad_request(
            "Invalid volume type: Type access modification is not applicable to public volume type.",
        ));
    }
    if add {
        if !t.projects.insert(project.clone()) {
            return Err(ApiError::conflict(format!(
                "Volume type access for {id} / {project} combination already exists."
            )));
        }
    } else if !t.projects.remove(&project) {
        return Err(ApiError::not_found(format!(
            "Volume type access not found for {id} / {project} combination."
        )));
    }
    t.updated_at = Some(Utc::now());
    Ok(Reply::empty(StatusCode::ACCEPTED))
}

pub(crate) fn access_index(st: &mut State, ctx: &Ctx, req: &Req) -> ApiResult<Reply> {
    ctx.require_admin("volume_extension:volume_type_access:get_all_for_type")?;
    let id = req.id(0);
    let t = st
        .types
        .get(id)
        .ok_or_else(|| ApiError::type_not_found(id))?;
    if t.is_public {
        return Err(ApiError::not_found(
            "Access list not available for public volume types.",
        ));
    }
    let items: Vec<Value> = t
        .projects
        .iter()
        .map(|p| json!({"volume_type_id": t.id, "project_id": p}))
        .collect();
    Ok(Reply::ok(json!({"volume_type_access": items})))
}

// ---------------------------------------------------------- extra specs

fn type_in_use(st: &State, id: &str) -> ApiResult<()> {
    if st.volumes.values().any(|v| v.volume_type_id == id) {
        return Err(ApiError::bad_request("Volume Type is currently in use."));
    }
    Ok(())
}

pub(crate) fn specs_index(st: &mut State, ctx: &Ctx, req: &Req) -> ApiResult<Reply> {
    let t = visible(st, ctx, req.id(0))?;
    Ok(Reply::ok(
        json!({"extra_specs": visible_extra_specs(ctx, t)}),
    ))
}

pub(crate) fn specs_create(st: &mut State, ctx: &Ctx, req: &Req) -> ApiResult<Reply> {
    no_extra_keys(&req.body, &["extra_specs"])?;
    let body = require_object(&req.body, "extra_specs")?;
    let specs = string_map("extra_specs", &Value::Object(body.clone()))?;
    ctx.require_admin("volume_extension:types_extra_specs:create")?;
    let id = req.id(0).to_string();
    type_in_use(st, &id)?;
    let t = st
        .types
        .get_mut(&id)
        .ok_or_else(|| ApiError::type_not_found(&id))?;
    t.extra_specs.extend(specs);
    t.updated_at = Some(Utc::now());
    Ok(Reply::ok(req.body.clone()))
}

pub(crate) fn specs_show(st: &mut State, ctx: &Ctx, req: &Req) -> ApiResult<Reply> {
    let t = visible(st, ctx, req.id(0))?;
    let key = req.id(1);
    let specs = visible_extra_specs(ctx, t);
    match specs.get(key) {
        Some(v) => Ok(Reply::ok(json!({key: v}))),
        None => Err(ApiError::not_found(format!(
            "Volume Type {} has no extra specs with key {key}.",
            t.id
        ))),
    }
}

pub(crate) fn specs_update(st: &mut State, ctx: &Ctx, req: &Req) -> ApiResult<Reply> {
    let specs = string_map("extra_specs", &req.body)?;
    if specs.len() != 1 {
        return Err(ApiError::schema(format!(
            "{} has too many properties",
            py_repr(&req.body)
        )));
    }
    ctx.require_admin("volume_extension:types_extra_specs:update")?;
    let id = req.id(0).to_string();
    type_in_use(st, &id)?;
    st.types
        .get(&id)
        .ok_or_else(|| ApiError::type_not_found(&id))?;
    if !specs.contains_key(req.id(1)) {
        return Err(ApiError::bad_request("Request body and URI mismatch"));
    }
    if let Some(t) = st.types.get_mut(&id) {
        t.extra_specs.extend(specs);
        t.updated_at = Some(Utc::now());
    }
    Ok(Reply::ok(req.body.clone()))
}

pub(crate) fn specs_delete(st: &mut State, ctx: &Ctx, req: &Req) -> ApiResult<Reply> {
    let id = req.id(0).to_string();
    st.types
        .get(&id)
        .ok_or_else(|| ApiError::type_not_found(&id))?;
    ctx.require_admin("volume_extension:types_extra_specs:delete")?;
    type_in_use(st, &id)?;
    let key = req.id(1);
    let t = st
        .types
        .get_mut(&id)
        .ok_or_else(|| ApiError::type_not_found(&id))?;
    if t.extra_specs.remove(key).is_none() {
        return Err(ApiError::not_found(format!(
            "Volume Type {id} has no extra specs with key {key}."
        )));
    }
    t.updated_at = Some(Utc::now());
    Ok(Reply::empty(StatusCode::ACCEPTED))
}

// -------------------------------------------------------- default types

fn default_type_view(project_id: &str, type_id: &str) -> Value {
    json!({"project_id": project_id, "volume_type_id": type_id})
}

pub(crate) fn default_types_index(st: &mut State, ctx: &Ctx, _req: &Req) -> ApiResult<Reply> {
    if !ctx.version.at_least(62) {
        return Err(ApiError::no_route());
    }
    ctx.require_admin("volume_extension:default_get_all")?;
    let mut items: Vec<(&String, &String)> = st.default_types.iter().collect();
    items.sort();
    let items: Vec<Value> = items
        .into_iter()
        .map(|(p, t)| default_type_view(p, t))
        .collect();
    Ok(Reply::ok(json!({"default_types": items})))
}

pub(crate) fn default_types_show(st: &mut State, ctx: &Ctx, req: &Req) -> ApiResult<Reply> {
    if !ctx.version.at_least(62) {
        return Err(ApiError::no_route());
    }
    let project = req.id(0);
    if !ctx.is_admin && project != ctx.project_id() {
        return Err(ApiError::policy("volume_extension:default_get"));
    }
    match st.default_types.get(project) {
        Some(t) => Ok(Reply::ok(
            json!({"default_type": default_type_view(project, t)}),
        )),
        None => Err(ApiError::not_found(format!(
            "Default type for project {project} could not be found."
        ))),
    }
}

pub(crate) fn default_types_set(st: &mut State, ctx: &Ctx, req: &Req) -> ApiResult<Reply> {
    if !ctx.version.at_least(62) {
        return Err(ApiError::no_route());
    }
    no_extra_keys(&req.body, &["default_type"])?;
    let body = require_object(&req.body, "default_type")?;
    let Some(Value::String(ident)) = body.get("volume_type") else {
        return Err(ApiError::schema("'volume_type' is a required property"));
    };
    ctx.require_admin("volume_extension:default_set_or_update")?;
    let admin_ctx = Ctx {
        is_admin: true,
        ..ctx.clone()
    };
    let type_id = find_type(st, &admin_ctx, ident)?;
    let project = req.id(0).to_string();
    st.default_types.insert(project.clone(), type_id.clone());
    Ok(Reply::ok(
        json!({"default_type": default_type_view(&project, &type_id)}),
    ))
}

pub(crate) fn default_types_delete(st: &mut State, ctx: &Ctx, req: &Req) -> ApiResult<Reply> {
    if !ctx.version.at_least(62) {
        return Err(ApiError::no_route());
    }
    ctx.require_admin("volume_extension:default_unset")?;
    st.default_types.remove(req.id(0));
    Ok(Reply::empty(StatusCode::NO_CONTENT))
}
