//! The body of `POST /volumes`: every field checked in the order Cinder's
//! schema reports them, before anything is looked up.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use crate::volume::api::{
    int_like, is_uuid_like, no_extra_keys, opt_bool, opt_name, opt_str, py_repr, require_object,
    string_map, ApiError, ApiResult, Ctx,
};

/// A checked create body; ids are uuid-like but not yet looked up.
pub(super) struct CreateRequest {
    pub name: Option<String>,
    pub description: Option<String>,
    /// `None`: taken from the snapshot, source volume or backup.
    pub size: Option<u64>,
    pub availability_zone: Option<String>,
    pub metadata: BTreeMap<String, String>,
    pub snapshot_id: Option<String>,
    pub source_volid: Option<String>,
    pub multiattach: Option<bool>,
    /// `imageRef`, or `image_id` without it.
    pub image_ref: Option<String>,
    /// Only read from 3.47.
    pub backup_id: Option<String>,
    /// A type id or name, as given.
    pub volume_type: Option<String>,
}

impl CreateRequest {
    pub(super) fn parse(ctx: &Ctx, body: &Value) -> ApiResult<Self> {
        no_extra_keys(body, &["volume", "OS-SCH-HNT:scheduler_hints"])?;
        let vol = require_object(body, "volume")?;
        if ctx.version.at_least(53) {
            let allowed = allowed_create_keys(ctx);
            no_extra_keys(&Value::Object(vol.clone()), &allowed)?;
        }
        let name = match opt_name(vol, "name")? {
            Some(n) => Some(n),
            None => opt_name(vol, "display_name")?,
        };
        let description = match opt_name(vol, "description")? {
            Some(d) => Some(d),
            None => opt_name(vol, "display_description")?,
        };
        let size = parse_size(vol.get("size"))?;
        let availability_zone = opt_str(vol, "availability_zone")?;
        if availability_zone.as_deref() == Some("") {
            return Err(ApiError::validation(
                "availability_zone",
                &json!(""),
                "'' is too short",
            ));
        }
        let metadata = match vol.get("metadata") {
            None | Some(Value::Null) => BTreeMap::new(),
            Some(m) => string_map("metadata", m)?,
        };
        let snapshot_id = opt_uuid(vol, "snapshot_id")?;
        let source_volid = opt_uuid(vol, "source_volid")?;
        opt_uuid(vol, "consistencygroup_id")?;
        let multiattach = opt_bool(vol, "multiattach")?;
        let image_ref = match opt_str(vol, "imageRef")? {
            Some(r) => Some(r),
            None => opt_str(vol, "image_id")?,
        };
        let backup_id = if ctx.version.at_least(47) {
            opt_uuid(vol, "backup_id")?
        } else {
            None
        };
        let volume_type = opt_str(vol, "volume_type")?;
        Ok(CreateRequest {
            name,
            description,
            size,
            availability_zone,
            metadata,
            snapshot_id,
            source_volid,
            multiattach,
            image_ref,
            backup_id,
            volume_type,
        })
    }
}

/// Validates `size` as `volume_size_allows_null`.
fn parse_size(v: Option<&Value>) -> ApiResult<Option<u64>> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(val) => {
            let detail = match val {
                Value::Number(n) if n.is_i64() || n.is_u64() => None,
                Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => None,
                Value::String(s) => Some(format!("'{s}' does not match '^[0-9]+$'")),
                other => Some(format!(
                    "{} is not of type 'integer', 'string', 'null'",
                    py_repr(other)
                )),
            };
            if let Some(d) = detail {
                return Err(ApiError::validation("size", val, &d));
            }
            let n = int_like(val).unwrap_or(0);
            if n < 1 {
                return Err(ApiError::validation(
                    "size",
                    val,
                    &format!("{} is less than the minimum of 1", py_repr(val)),
                ));
            }
            Ok(Some(u64::try_from(n).unwrap_or(0)))
        }
    }
}

fn opt_uuid(obj: &Map<String, Value>, key: &str) -> ApiResult<Option<String>> {
    let v = opt_str(obj, key)?;
    if let Some(s) = &v {
        if !is_uuid_like(s) {
            return Err(ApiError::validation(
                key,
                &json!(s),
                &format!("'{s}' is not a 'uuid'"),
            ));
        }
    }
    Ok(v)
}

/// The keys a volume create body may carry (additionalProperties False from 3.53).
fn allowed_create_keys(ctx: &Ctx) -> Vec<&'static str> {
    let mut keys = vec![
        "name",
        "description",
        "display_name",
        "display_description",
        "volume_type",
        "metadata",
        "snapshot_id",
        "source_volid",
        "consistencygroup_id",
        "size",
        "availability_zone",
        "multiattach",
        "image_id",
        "imageRef",
    ];
    if ctx.version.at_least(13) {
        keys.push("group_id");
    }
    if ctx.version.at_least(47) {
        keys.push("backup_id");
    }
    keys
}
