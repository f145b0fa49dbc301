//! Volume transfers, as Cinder serves them under `/os-volume-transfer`
//! (the `os-volume-transfer` extension) and `/volume-transfers` (the v3
//! controller: `no_snapshots` from 3.55, paging and sorting from 3.59,
//! encrypted volumes from 3.70). The API reference dates
//! `/volume-transfers` from 3.55, but Cinder's router and controller do
//! not check the version, and neither does podsim. Views of either follow
//! the request's microversion (3.55 `no_snapshots`, 3.57 the history).
//!
//! A transfer puts an `available` volume in `awaiting-transfer`; any
//! project that knows its `auth_key` may accept it, and then owns the
//! volume (and, unless `no_snapshots`, its snapshots), its quota usage
//! moving with it.

use axum::http::StatusCode;
use serde_json::{json, Map, Value};

use super::api::{
    is_uuid_like, no_extra_keys, py_repr, require_object, str_bool, ApiError, ApiResult, Ctx, Reply,
};
use super::listing::{Key, Paging, PAGING_PARAMS};
use super::model::{new_uuid, ts, Snapshot, State, Transfer, Volume};
use super::quotas::{quota_error, reserve};
use super::volumes::visible as visible_volume;
use super::Req;

/// Links of either URL name to the extension's collection, as Cinder's
/// view builder makes them.
const COLLECTION: &str = "os-volume-transfer";

/// `parameter_types.boolean`'s enum, as jsonschema shows it.
const BOOLEAN_ENUM: [&str; 24] = [
    "True", "TRUE", "true", "1", "ON", "On", "on", "YES", "Yes", "yes", "y", "t", "False", "FALSE",
    "false", "0", "OFF", "Off", "off", "NO", "No", "no", "n", "f",
];

/// Columns of Cinder's `transfers` table: the only filter keys that do not
/// make the listing empty.
const COLUMNS: [&str; 14] = [
    "id",
    "volume_id",
    "display_name",
    "salt",
    "crypt_hash",
    "expires_at",
    "no_snapshots",
    "source_project_id",
    "destination_project_id",
    "accepted",
    "created_at",
    "updated_at",
    "deleted",
    "deleted_at",
];

/// Sortable columns (3.59 paging).
const SORT_KEYS: [&str; 8] = [
    "id",
    "volume_id",
    "display_name",
    "created_at",
    "no_snapshots",
    "source_project_id",
    "destination_project_id",
    "accepted",
];

/// `TransferNotFound`.
fn not_found(id: &str) -> ApiError {
    ApiError::not_found(format!("Transfer {id} could not be found."))
}

/// The project owning the transfer's volume now.
fn owner<'a>(st: &'a State, t: &Transfer) -> Option<&'a str> {
    st.volumes.get(&t.volume_id).map(|v| v.project_id.as_str())
}

/// The transfer `id` as the caller may see it: non-admins only those of
/// their project's volumes (Cinder's `transfer_get`).
fn visible<'a>(st: &'a State, ctx: &Ctx, id: &str) -> ApiResult<&'a Transfer> {
    st.transfers
        .get(id)
        .filter(|t| ctx.is_admin || owner(st, t) == Some(ctx.project_id()))
        .ok_or_else(|| not_found(id))
}

// ---------------------------------------------------------------- views

fn summary(ctx: &Ctx, t: &Transfer) -> Value {
    json!({
        "id": t.id,
        "volume_id": t.volume_id,
        "name": t.name,
        "links": ctx.links(COLLECTION, &t.id),
    })
}

/// The detail view (show, detail list); `auth_key` only in the create
/// answer.
fn detail(ctx: &Ctx, t: &Transfer, auth_key: bool) -> Value {
    let mut m = Map::new();
    m.insert("id".into(), json!(t.id));
    m.insert("created_at".into(), json!(ts(t.created_at)));
    m.insert("name".into(), json!(t.name));
    m.insert("volume_id".into(), json!(t.volume_id));
    if auth_key {
        m.insert("auth_key".into(), json!(t.auth_key));
    }
    m.insert("links".into(), ctx.links(COLLECTION, &t.id));
    if ctx.version.at_least(55) {
        m.insert("no_snapshots".into(), json!(t.no_snapshots));
    }
    if ctx.version.at_least(57) {
        // A transfer that can be seen is not accepted yet.
        m.insert("destination_project_id".into(), Value::Null);
        m.insert("source_project_id".into(), json!(t.source_project_id));
        m.insert("accepted".into(), json!(false));
    }
    Value::Object(m)
}

// ----------------------------------------------------------- validation

/// `parameter_types.boolean`, then `bool_from_string`.
fn schema_bool(key: &str, v: &Value) -> ApiResult<bool> {
    match v {
        Value::Bool(b) => Ok(*b),
        Value::String(s) if BOOLEAN_ENUM.contains(&s.as_str()) => Ok(str_bool(s) == Some(true)),
        Value::String(_) => {
            let options: Vec<String> = BOOLEAN_ENUM.iter().map(|o| format!("'{o}'")).collect();
            let (truthy, falsy) = options.split_at(12);
            Err(ApiError::validation(
                key,
                v,
                &format!(
                    "{} is not one of [True, {}, False, {}]",
                    py_repr(v),
                    truthy.join(", "),
                    falsy.join(", ")
                ),
            ))
        }
        other => Err(ApiError::validation(
            key,
            other,
            &format!("{} is not of type 'boolean', 'string'", py_repr(other)),
        )),
    }
}

/// `additionalProperties: False` inside `body[key]`: the error names `key`.
fn no_extra_inner(key: &str, obj: &Map<String, Value>, allowed: &[&str]) -> ApiResult<()> {
    let value = Value::Object(obj.clone());
    no_extra_keys(&value, allowed).map_err(|e| ApiError::validation(key, &value, &e.message))
}

/// What a create body asks for.
struct NewTransfer {
    volume_id: String,
    name: Option<String>,
    no_snapshots: bool,
}

/// The `name_skip_leading_trailing_spaces` format: 1 to 255 characters
/// once stripped.
fn name_ok(s: &str) -> bool {
    let n = s.trim().chars().count();
    (1..=255).contains(&n)
}

/// The create body against Cinder's schema (`create`, or `create_v355`
/// with `no_snapshots`), errors in the order jsonschema finds them.
fn parse_create(body: &Value, with_no_snapshots: bool) -> ApiResult<NewTransfer> {
    let t = require_object(body, "transfer")?;
    let volume_id = match t.get("volume_id") {
        None => None,
        Some(Value::String(s)) if is_uuid_like(s) => Some(s.clone()),
        Some(v @ Value::String(s)) => {
            return Err(ApiError::validation(
                "volume_id",
                v,
                &format!("'{s}' is not a 'uuid'"),
            ))
        }
        Some(other) => {
            return Err(ApiError::validation(
                "volume_id",
                other,
                &format!("{} is not of type 'string'", py_repr(other)),
            ))
        }
    };
    let name = match t.get("name") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if name_ok(s) => Some(s.trim().to_string()),
        Some(other) => {
            return Err(ApiError::validation(
                "name",
                other,
                &format!(
                    "{} is not valid under any of the given schemas",
                    py_repr(other)
                ),
            ))
        }
    };
    let no_snapshots = match t.get("no_snapshots") {
        Some(v) if with_no_snapshots => schema_bool("no_snapshots", v)?,
        _ => false,
    };
    let Some(volume_id) = volume_id else {
        return Err(ApiError::validation(
            "transfer",
            &Value::Object(t.clone()),
            "'volume_id' is a required property",
        ));
    };
    let allowed: &[&str] = if with_no_snapshots {
        &["volume_id", "name", "no_snapshots"]
    } else {
        &["volume_id", "name"]
    };
    no_extra_inner("transfer", t, allowed)?;
    no_extra_keys(body, &["transfer"])?;
    Ok(NewTransfer {
        volume_id,
        name,
        no_snapshots,
    })
}

/// The accept body's `auth_key` (a string or an integer, which Cinder
/// hashes as its `str()`).
fn parse_accept(body: &Value) -> ApiResult<String> {
    let a = require_object(body, "accept")?;
    let key = match a.get("auth_key") {
        None => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) if n.is_i64() || n.is_u64() => Some(n.to_string()),
        Some(other) => {
            return Err(ApiError::validation(
                "auth_key",
                other,
                &format!("{} is not of type 'string', 'integer'", py_repr(other)),
            ))
        }
    };
    let Some(key) = key else {
        return Err(ApiError::validation(
            "accept",
            &Value::Object(a.clone()),
            "'auth_key' is a required property",
        ));
    };
    no_extra_inner("accept", a, &["auth_key"])?;
    no_extra_keys(body, &["accept"])?;
    Ok(key)
}

// -------------------------------------------------------------- listing

fn sort_key(t: &Transfer, key: &str) -> Key {
    match key {
        "id" => Key::str(&t.id),
        "volume_id" => Key::str(&t.volume_id),
        "display_name" => Key::opt_str(t.name.as_deref()),
        "created_at" => Key::Time(t.created_at),
        "no_snapshots" => Key::Bool(t.no_snapshots),
        "source_project_id" => Key::str(&t.source_project_id),
        "accepted" => Key::Bool(false),
        _ => Key::Null,
    }
}

/// Whether `t` passes a `column=value` filter (SQL equality: a NULL or
/// a time column given as text never matches).
fn matches(t: &Transfer, key: &str, value: &str) -> bool {
    match key {
        "id" => t.id == value,
        "volume_id" => t.volume_id == value,
        "display_name" => t.name.as_deref() == Some(value),
        "source_project_id" => t.source_project_id == value,
        "no_snapshots" => str_bool(value) == Some(t.no_snapshots),
        "accepted" | "deleted" => str_bool(value) == Some(false),
        _ => false,
    }
}

/// A listing's filters.
struct Filters<'a> {
    /// `column=value` pairs; `None` when a key is not a column (Cinder
    /// then lists nothing).
    columns: Option<Vec<(&'a str, &'a str)>>,
    /// The volumes' project to keep, if any.
    project: Option<&'a str>,
}

/// The query's filters: `name` is `display_name`; `all_tenants` (admins)
/// lifts the project restriction, and then `project_id` filters on the
/// volumes' project.
fn filters(ctx: &Ctx, paged: bool) -> Filters<'_> {
    let all_tenants = ctx.is_admin
        && ctx
            .param("all_tenants")
            .is_some_and(|v| str_bool(v) == Some(true));
    let mut project = (!all_tenants).then(|| ctx.project_id());
    let mut out = Vec::new();
    let mut valid = true;
    for (k, v) in &ctx.query {
        match k.as_str() {
            "all_tenants" => continue,
            k if paged && PAGING_PARAMS.contains(&k) => continue,
            "project_id" => {
                if all_tenants && !v.is_empty() {
                    project = Some(v.as_str());
                }
                continue;
            }
            _ => {}
        }
        let key = if k == "name" {
            "display_name"
        } else {
            k.as_str()
        };
        valid &= COLUMNS.contains(&key.trim_end_matches('~'));
        out.push((key, v.as_str()));
    }
    Filters {
        columns: valid.then_some(out),
        project,
    }
}

/// The paging that applies: the v3 controller's from 3.59; else only
/// `limit` and `offset`, which `common.limited` reads (a sort is then
/// `created_at`, `id` ascending).
fn paging(ctx: &Ctx, paged: bool) -> ApiResult<Paging> {
    if paged {
        return Paging::from_ctx(ctx);
    }
    let mut limits_only = ctx.clone();
    limits_only
        .query
        .retain(|(k, _)| k == "limit" || k == "offset");
    let mut p = Paging::from_ctx(&limits_only)?;
    p.sort = vec![("created_at".into(), true), ("id".into(), true)];
    Ok(p)
}

fn list(st: &State, ctx: &Ctx, detailed: bool, paged: bool) -> ApiResult<Reply> {
    let paging = paging(ctx, paged)?;
    let Filters { columns, project } = filters(ctx, paged);
    let candidates: Vec<&Transfer> = match &columns {
        None => Vec::new(),
        Some(fs) => st
            .transfers
            .values()
            .filter(|t| project.is_none_or(|p| owner(st, t) == Some(p)))
            .filter(|t| fs.iter().all(|(k, v)| matches(t, k, v)))
            .collect(),
    };
    // The marker is looked up once the filters passed.
    let marker = match paging.marker.as_deref() {
        Some(m) if paged && columns.is_some() => Some(visible(st, ctx, m)?),
        _ => None,
    };
    let fetched = if paged {
        paging.apply(candidates, marker.as_ref(), &SORT_KEYS, |t, k| {
            sort_key(t, k)
        })?
    } else {
        let mut all = paging.clone();
        all.offset = 0;
        all.limit = usize::MAX;
        all.apply(candidates, None, &SORT_KEYS, |t, k| sort_key(t, k))?
    };
    let count = fetched.len();
    // `common.limited` then slices what the database answered with the
    // request's offset and limit, so from 3.59 an offset applies twice.
    let page: Vec<&Transfer> = fetched
        .into_iter()
        .skip(paging.offset)
        .take(paging.limit)
        .collect();
    let items: Vec<Value> = page
        .iter()
        .map(|t| {
            if detailed {
                detail(ctx, t, false)
            } else {
                summary(ctx, t)
            }
        })
        .collect();
    let mut out = Map::new();
    out.insert("transfers".into(), json!(items));
    let last = page.last().map(|t| t.id.as_str());
    if let Some(links) = paging.next_links(ctx, COLLECTION, last, page.len(), Some(count)) {
        out.insert("transfers_links".into(), links);
    }
    Ok(Reply::ok(Value::Object(out)))
}

// ------------------------------------------------------------- handlers

/// `GET /os-volume-transfer`.
pub(crate) fn index(st: &mut State, ctx: &Ctx, _req: &Req) -> ApiResult<Reply> {
    list(st, ctx, false, false)
}

/// `GET /os-volume-transfer/detail`.
pub(crate) fn detail_list(st: &mut State, ctx: &Ctx, _req: &Req) -> ApiResult<Reply> {
    list(st, ctx, true, false)
}

/// `GET /volume-transfers`.
pub(crate) fn index_v3(st: &mut State, ctx: &Ctx, _req: &Req) -> ApiResult<Reply> {
    list(st, ctx, false, ctx.version.at_least(59))
}

/// `GET /volume-transfers/detail`.
pub(crate) fn detail_list_v3(st: &mut State, ctx: &Ctx, _req: &Req) -> ApiResult<Reply> {
    list(st, ctx, true, ctx.version.at_least(59))
}

/// `GET .../{id}`.
pub(crate) fn show(st: &mut State, ctx: &Ctx, req: &Req) -> ApiResult<Reply> {
    let t = visible(st, ctx, req.id(0))?;
    Ok(Reply::ok(json!({"transfer": detail(ctx, t, false)})))
}

/// `POST /os-volume-transfer`: no `no_snapshots`, no encrypted volume.
pub(crate) fn create(st: &mut State, ctx: &Ctx, req: &Req) -> ApiResult<Reply> {
    let new = parse_create(&req.body, false)?;
    create_transfer(st, ctx, new, false)
}

/// `POST /volume-transfers`.
pub(crate) fn create_v3(st: &mut State, ctx: &Ctx, req: &Req) -> ApiResult<Reply> {
    let new = parse_create(&req.body, ctx.version.at_least(55))?;
    create_transfer(st, ctx, new, ctx.version.at_least(70))
}

/// The checks of Cinder's `transfer.API.create`, then the transfer.
fn create_transfer(
    st: &mut State,
    ctx: &Ctx,
    new: NewTransfer,
    allow_encrypted: bool,
) -> ApiResult<Reply> {
    let v = visible_volume(st, ctx, &new.volume_id)?;
    if v.status != "available" {
        return Err(ApiError::invalid_volume("status must be available"));
    }
    if v.encryption_key_id.is_some() {
        if !allow_encrypted {
            return Err(ApiError::invalid_volume(
                "transferring encrypted volume is not supported",
            ));
        }
        if new.no_snapshots {
            return Err(ApiError::invalid_volume(
                "transferring an encrypted volume without its snapshots is not supported",
            ));
        }
    }
    if !new.no_snapshots {
        if let Some(s) = snapshots_of(st, &v.id)
            .into_iter()
            .find(|s| s.status != "available")
        {
            return Err(ApiError::invalid_snapshot(format!(
                "snapshot: {} status must be available",
                s.id
            )));
        }
    }
    let source_project_id = v.project_id.clone();
    let t = Transfer {
        id: new_uuid(),
        volume_id: new.volume_id,
        name: new.name,
        auth_key: new_uuid().replace('-', "")[..16].to_string(),
        no_snapshots: new.no_snapshots,
        source_project_id,
        created_at: st.next_created_at(),
    };
    if let Some(v) = st.volumes.get_mut(&t.volume_id) {
        v.set_status("awaiting-transfer");
    }
    let view = detail(ctx, &t, true);
    st.transfers.insert(t.id.clone(), t);
    Ok(Reply::accepted(json!({ "transfer": view })))
}

/// `DELETE .../{id}`: the volume is `available` again.
pub(crate) fn delete(st: &mut State, ctx: &Ctx, req: &Req) -> ApiResult<Reply> {
    let id = visible(st, ctx, req.id(0))?.id.clone();
    if let Some(t) = st.transfers.remove(&id) {
        if let Some(v) = st.volumes.get_mut(&t.volume_id) {
            if v.status == "awaiting-transfer" {
                v.set_status("available");
            }
        }
    }
    Ok(Reply::empty(StatusCode::ACCEPTED))
}

fn snapshots_of<'a>(st: &'a State, volume_id: &str) -> Vec<&'a Snapshot> {
    st.snapshots
        .values()
        .filter(|s| s.volume_id == volume_id)
        .collect()
}

/// A `VolumeSizeExceedsAvailableQuota` is caught by the accept controller,
/// which answers its message without the class name.
fn caught(e: ApiError) -> ApiError {
    match e.message.strip_prefix("VolumeSizeExceedsAvailableQuota: ") {
        Some(m) => ApiError::new(e.status, m),
        None => e,
    }
}

/// Cinder's quota checks of an accept by `dest`: the volume's size
/// against `per_volume_gigabytes`, the volume, then (`snaps`) its
/// snapshots, the volume's reservation counting as used.
fn check_quotas(st: &State, dest: &str, v: &Volume, snaps: Option<&[&Snapshot]>) -> ApiResult<()> {
    let size = i64::try_from(v.size).unwrap_or(i64::MAX);
    let per_volume = st.quota_limit(dest, "per_volume_gigabytes");
    if per_volume >= 0 && size > per_volume {
        return Err(ApiError::over_limit(
            "VolumeSizeExceedsLimit",
            format!(
                "Requested volume size {size}G is larger than maximum allowed limit {per_volume}G."
            ),
        ));
    }
    let type_name = st.type_name(&v.volume_type_id).unwrap_or_default();
    reserve(st, dest, "volumes", &type_name, v.size).map_err(caught)?;
    let Some(snaps) = snaps else {
        return Ok(());
    };
    let count = i64::try_from(snaps.len()).unwrap_or(i64::MAX);
    let gb: u64 = snaps.iter().map(|s| s.size).sum();
    let gb_i = i64::try_from(gb).unwrap_or(i64::MAX);
    let deltas = [
        ("snapshots".to_string(), count, 0),
        ("gigabytes".to_string(), gb_i, size),
        (format!("snapshots_{type_name}"), count, 0),
        (format!("gigabytes_{type_name}"), gb_i, size),
    ];
    for (res, delta, reserved) in deltas {
        let limit = st.quota_limit(dest, &res);
        let used = st.quota_usage(dest, &res) + reserved;
        if limit >= 0 && delta > 0 && limit < used + delta {
            return Err(caught(quota_error("snapshots", gb, &res, limit, used)));
        }
    }
    Ok(())
}

/// `POST .../{id}/accept`: by any project that has the key.
pub(crate) fn accept(st: &mut State, ctx: &Ctx, req: &Req) -> ApiResult<Reply> {
    let key = parse_accept(&req.body)?;
    let id = req.id(0);
    let t = st.transfers.get(id).ok_or_else(|| not_found(id))?.clone();
    if key != t.auth_key {
        return Err(ApiError::bad_request(format!(
            "Invalid auth key: Attempt to transfer {id} with invalid auth key."
        )));
    }
    let v = st
        .volumes
        .get(&t.volume_id)
        .ok_or_else(|| ApiError::volume_not_found(&t.volume_id))?;
    let snaps = (!t.no_snapshots).then(|| snapshots_of(st, &v.id));
    check_quotas(st, ctx.project_id(), v, snaps.as_deref())?;
    if v.status == "maintenance" {
        return Err(ApiError::invalid_volume(
            "The volume cannot accept transfer in maintenance mode.",
        ));
    }
    if v.status != "awaiting-transfer" {
        return Err(ApiError::invalid_volume(format!(
            "Transfer {id}: Volume id {} expected in awaiting-transfer state.",
            v.id
        )));
    }
    if let Some(s) = snaps.iter().flatten().find(|s| s.status != "available") {
        return Err(ApiError::invalid_snapshot(format!(
            "Transfer {id}: Snapshot {} is not in the expected available state.",
            s.id
        )));
    }
    let snap_ids: Vec<String> = snaps.iter().flatten().map(|s| s.id.clone()).collect();
    let (project, user) = (ctx.project_id().to_string(), ctx.user_id().to_string());
    for sid in &snap_ids {
        if let Some(s) = st.snapshots.get_mut(sid) {
            s.project_id.clone_from(&project);
            s.user_id.clone_from(&user);
            s.updated_at = Some(chrono::Utc::now());
        }
    }
    if let Some(v) = st.volumes.get_mut(&t.volume_id) {
        v.project_id = project;
        v.user_id = user;
        v.set_status("available");
    }
    st.transfers.remove(id);
    Ok(Reply::accepted(json!({ "transfer": summary(ctx, &t) })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_body_like_cinders_schema() {
        let id = "0c8d1a9e-1b4b-4a1e-9c3e-1234567890ab";
        let ok = parse_create(
            &json!({"transfer": {"volume_id": id, "name": " x "}}),
            false,
        );
        let ok = ok.unwrap();
        assert_eq!((ok.volume_id.as_str(), ok.name.as_deref()), (id, Some("x")));
        let msg = |b: Value, flag: bool| parse_create(&b, flag).err().unwrap().message;
        assert_eq!(msg(Value::Null, false), "None is not of type 'object'");
        assert_eq!(msg(json!({}), false), "'transfer' is a required property");
        assert_eq!(
            msg(json!({"transfer": {"volume_id": "abc"}}), false),
            "Invalid input for field/attribute volume_id. Value: abc. 'abc' is not a 'uuid'"
        );
        assert_eq!(
            msg(json!({"transfer": {"name": "x"}}), false),
            "Invalid input for field/attribute transfer. Value: {'name': 'x'}. \
             'volume_id' is a required property"
        );
        assert_eq!(
            msg(json!({"transfer": {"volume_id": id, "name": "  "}}), false),
            "Invalid input for field/attribute name. Value:   . \
             '  ' is not valid under any of the given schemas"
        );
        let extra = json!({"transfer": {"volume_id": id, "no_snapshots": true}});
        assert!(msg(extra.clone(), false)
            .ends_with("Additional properties are not allowed ('no_snapshots' was unexpected)"));
        assert!(parse_create(&extra, true).unwrap().no_snapshots);
        let bad = json!({"transfer": {"volume_id": id, "no_snapshots": "maybe"}});
        assert!(msg(bad, true).starts_with(
            "Invalid input for field/attribute no_snapshots. Value: maybe. 'maybe' is not one of [True, 'True',"
        ));
        let bad = json!({"transfer": {"volume_id": id, "no_snapshots": 1}});
        assert!(msg(bad, true).ends_with("1 is not of type 'boolean', 'string'"));
        assert_eq!(
            msg(json!({"transfer": {"volume_id": id}, "x": 1}), false),
            "Additional properties are not allowed ('x' was unexpected)"
        );
    }

    #[test]
    fn accept_body_like_cinders_schema() {
        assert_eq!(
            parse_accept(&json!({"accept": {"auth_key": "k"}})).unwrap(),
            "k"
        );
        assert_eq!(
            parse_accept(&json!({"accept": {"auth_key": 12}})).unwrap(),
            "12"
        );
        let msg = |b: Value| parse_accept(&b).err().unwrap().message;
        assert_eq!(
            msg(json!({"accept": {}})),
            "Invalid input for field/attribute accept. Value: {}. 'auth_key' is a required property"
        );
        assert_eq!(
            msg(json!({"accept": {"auth_key": null}})),
            "Invalid input for field/attribute auth_key. Value: None. \
             None is not of type 'string', 'integer'"
        );
    }
}
