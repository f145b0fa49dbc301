//! `PATCH /v2/images/{id}`: a JSON patch (draft 4 or 2.1 media type),
//! every change parsed and checked before any is applied; then one
//! function per op.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap};
use axum::{Extension, Json};
use chrono::Utc;
use serde_json::{Map, Value};

use super::{
    can_modify, check_visibility_change, parse_body, schema_error, set_attribute, visible_image,
    PATCH_READONLY, RESERVED, RESERVED_NS, SETTABLE,
};
use crate::auth::Caller;
use crate::image::error::{GResult, GlanceError};
use crate::image::{schema, Image};
use crate::pod::Pod;

const PATCH_TYPES: [&str; 2] = [
    "application/openstack-images-v2.0-json-patch",
    "application/openstack-images-v2.1-json-patch",
];

/// One parsed change: its op (`add`, `remove` or `replace`), the
/// attribute it touches and its value (none for `remove`).
struct Change {
    op: String,
    root: String,
    value: Option<Value>,
}

/// Decodes a JSON pointer into its tokens, with Glance's messages.
fn decode_pointer(pointer: &str) -> GResult<Vec<String>> {
    let Some(rest) = pointer.strip_prefix('/') else {
        return Err(GlanceError::bad_request(format!(
            "Pointer `{pointer}` does not start with \"/\"."
        )));
    };
    if pointer.contains("//") {
        return Err(GlanceError::bad_request(format!(
            "Pointer `{pointer}` contains adjacent \"/\"."
        )));
    }
    if pointer.len() > 1 && pointer.ends_with('/') {
        return Err(GlanceError::bad_request(format!(
            "Pointer `{pointer}` end with \"/\"."
        )));
    }
    if rest.is_empty() {
        return Err(GlanceError::bad_request(format!(
            "Pointer `{pointer}` does not contains valid token."
        )));
    }
    let mut out = Vec::new();
    for token in rest.split('/') {
        let mut s = String::new();
        let mut chars = token.chars();
        while let Some(c) = chars.next() {
            if c == '~' {
                match chars.next() {
                    Some('0') => s.push('~'),
                    Some('1') => s.push('/'),
                    _ => {
                        return Err(GlanceError::bad_request(format!(
                            "Pointer `{pointer}` contains \"~\" not part of a recognized escape sequence."
                        )))
                    }
                }
            } else {
                s.push(c);
            }
        }
        out.push(s);
    }
    Ok(out)
}

/// Whether the request's media type is the 2.1 draft (else draft 4);
/// any other is a 415.
fn is_v21(headers: &HeaderMap) -> GResult<bool> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let Some(draft) = PATCH_TYPES.iter().position(|t| *t == content_type) else {
        let allowed = PATCH_TYPES.join(", ");
        return Err(GlanceError::unsupported_media_type(
            &content_type,
            format!("Image PATCH expects Content-Type one of: {allowed}"),
        )
        .with_header("Accept-Patch", allowed));
    };
    Ok(draft == 1)
}

/// Op and path of a 2.1 change: `{"op": ..., "path": ...}`.
fn op_and_path_v21(raw: &Map<String, Value>) -> GResult<(String, String)> {
    let op = match raw.get("op").and_then(Value::as_str) {
        Some(op) => op.to_string(),
        None => {
            return Err(GlanceError::bad_request(
                "Unable to find `op` in JSON Schema change. It must be one of the following: add, remove, replace.",
            ))
        }
    };
    if !["add", "remove", "replace"].contains(&op.as_str()) {
        return Err(GlanceError::bad_request(format!(
            "Invalid operation: `{op}`. It must be one of the following: add, remove, replace."
        )));
    }
    let path = raw
        .get("path")
        .and_then(Value::as_str)
        .ok_or_else(|| GlanceError::bad_request("Unable to find 'path' in JSON Schema change"))?
        .to_string();
    Ok((op, path))
}

/// Op and path of a draft 4 change: `{"<op>": "<path>"}`.
fn op_and_path_draft4(raw: &Map<String, Value>) -> GResult<(String, String)> {
    let found: Vec<(&String, &Value)> = raw
        .iter()
        .filter(|(k, _)| ["add", "remove", "replace"].contains(&k.as_str()))
        .collect();
    match found.as_slice() {
        [(op, Value::String(path))] => Ok(((*op).clone(), path.clone())),
        [_] | [] => Err(GlanceError::bad_request(
            "Operation objects must contain exactly one member named \"add\", \"remove\", or \"replace\".",
        )),
        _ => Err(GlanceError::bad_request(
            "Operation objects must contain only one member named \"add\", \"remove\", or \"replace\".",
        )),
    }
}

/// One operation object, as Glance's deserializer checks it: op, path
/// (a single token), value, then the attribute's own rules.
fn parse_change(raw: Value, v21: bool) -> GResult<Change> {
    let Value::Object(raw) = raw else {
        return Err(GlanceError::bad_request("Operations must be JSON objects."));
    };
    let (op, path) = if v21 {
        op_and_path_v21(&raw)?
    } else {
        op_and_path_draft4(&raw)?
    };
    let tokens = decode_pointer(&path)?;
    if tokens.len() != 1 {
        return Err(GlanceError::bad_request(format!(
            "Invalid JSON pointer for this resource: '/{}'",
            tokens.join("/")
        )));
    }
    let root = tokens[0].clone();
    let value = if op == "remove" {
        None
    } else {
        Some(raw.get("value").cloned().ok_or_else(|| {
            GlanceError::bad_request(format!(
                "Operation \"{op}\" requires a member named \"value\"."
            ))
        })?)
    };
    if PATCH_READONLY.contains(&root.as_str()) {
        return Err(GlanceError::forbidden(format!(
            "Attribute '{root}' is read-only."
        )));
    }
    if RESERVED.contains(&root.as_str()) || root.starts_with(RESERVED_NS) {
        return Err(GlanceError::forbidden(format!(
            "Attribute '{root}' is reserved."
        )));
    }
    if let Some(v) = &value {
        let mut partial = Map::new();
        partial.insert(root.clone(), v.clone());
        schema::validate(&partial).map_err(schema_error)?;
    }
    Ok(Change { op, root, value })
}

/// What the caller may change: the owner (admins only), the visibility
/// (public for admins only), anything only on an image it may modify.
fn check_allowed(caller: &Caller, img: &Image, change: &Change) -> GResult<()> {
    if change.root == "owner" && change.op == "replace" && !caller.is_admin() {
        return Err(GlanceError::forbidden(
            "Owner can't be updated by non admin.",
        ));
    }
    if change.root == "visibility" {
        if let Some(v) = &change.value {
            check_visibility_change(caller, v)?;
        }
    }
    if !can_modify(caller, img) {
        return Err(GlanceError::forbidden_action("modify_image"));
    }
    Ok(())
}

/// A base attribute, or `tags`: always present, never removed.
fn is_base(root: &str) -> bool {
    SETTABLE.contains(&root) || root == "tags"
}

/// `replace`: a base attribute, or an extra property that exists.
fn replace(img: &mut Image, root: &str, value: Option<Value>) -> GResult<()> {
    if !is_base(root) && !img.properties.contains_key(root) {
        return Err(GlanceError::conflict(format!(
            "Property {root} does not exist."
        )));
    }
    set_attribute(img, root, value.unwrap_or(Value::Null));
    Ok(())
}

/// `add`: in draft 4 only what is not there yet; in 2.1 it may overwrite.
fn add(img: &mut Image, root: &str, value: Option<Value>, v21: bool) -> GResult<()> {
    if !v21 && (is_base(root) || img.properties.contains_key(root)) {
        return Err(GlanceError::conflict(format!(
            "Property {root} already present."
        )));
    }
    set_attribute(img, root, value.unwrap_or(Value::Null));
    Ok(())
}

/// `remove`: an extra property that exists.
fn remove(img: &mut Image, root: &str) -> GResult<()> {
    if is_base(root) {
        return Err(GlanceError::forbidden(format!(
            "Property {root} may not be removed."
        )));
    }
    if img.properties.remove(root).is_none() {
        return Err(GlanceError::conflict(format!(
            "Property {root} does not exist."
        )));
    }
    Ok(())
}

pub(super) async fn update(
    State(pod): State<Pod>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    headers: HeaderMap,
    bytes: Bytes,
) -> GResult<Json<Value>> {
    let v21 = is_v21(&headers)?;
    let body = parse_body(&bytes)?;
    let Value::Array(ops) = body else {
        return Err(GlanceError::bad_request(
            "Request body must be a JSON array of operation objects.",
        ));
    };
    // Parse every change before applying any (as Glance's deserializer).
    let changes = ops
        .into_iter()
        .map(|raw| parse_change(raw, v21))
        .collect::<GResult<Vec<Change>>>()?;

    let mut img = visible_image(&pod, &caller, &id)?;
    for change in changes {
        check_allowed(&caller, &img, &change)?;
        match change.op.as_str() {
            "replace" => replace(&mut img, &change.root, change.value)?,
            "add" => add(&mut img, &change.root, change.value, v21)?,
            _ => remove(&mut img, &change.root)?,
        }
    }
    img.updated_at = Utc::now();
    let saved = img.clone();
    pod.images()
        .update(&id, move |i| {
            // Memberships are not the patch's: keep any changed meanwhile.
            let members = std::mem::take(&mut i.members);
            *i = saved;
            i.members = members;
        })
        .ok_or_else(|| GlanceError::no_image(&id))?;
    Ok(Json(img.to_json()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::schema::is_uuid;

    #[test]
    fn pointers() {
        assert_eq!(decode_pointer("/name").ok(), Some(vec!["name".to_string()]));
        assert_eq!(
            decode_pointer("/a~1b~0").ok(),
            Some(vec!["a/b~".to_string()])
        );
        assert!(decode_pointer("name").is_err());
        assert!(decode_pointer("/a//b").is_err());
        assert!(decode_pointer("/a/").is_err());
        assert!(decode_pointer("/a~2").is_err());
        assert!(is_uuid("6e3b0e3f-6d5c-4bfb-9e4e-2bd5a1a5f1a1"));
        assert!(!is_uuid("6e3b0e3f6-d5c-4bfb-9e4e-2bd5a1a5f1a1"));
        assert!(!is_uuid("6e3b0e3f6d5c4bfb9e4e2bd5a1a5f1a1"));
        assert!(!is_uuid("{6e3b0e3f-6d5c-4bfb-9e4e-2bd5a1a5f1a1}"));
        assert!(!is_uuid("6e3b0e3f-6d5c-4bfb-9e4e-2bd5a1a5f1ag"));
    }
}
