//! `GET /v2/schemas/image` and `/v2/schemas/images`: Glance's image schema
//! (base properties, string-typed additional properties, links), and the
//! checks `POST /v2/images` and JSON-patch make against it; `GET
//! /v2/schemas/member` and `/v2/schemas/members` (served minimal, as Glance
//! serves them).

use serde_json::{json, Map, Value};

use super::{CONTAINER_FORMATS, DISK_FORMATS};

const UUID_PATTERN: &str =
    "^([0-9a-fA-F]){8}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){12}$";
pub(crate) const VISIBILITIES: [&str; 4] = ["community", "public", "private", "shared"];

fn with_null(values: &[&str]) -> Value {
    let mut v = vec![Value::Null];
    v.extend(values.iter().map(|s| Value::String((*s).to_string())));
    Value::Array(v)
}

/// Glance's `get_base_properties()`.
pub(crate) fn base_properties() -> Value {
    json!({
        "id": {"type": "string", "description": "An identifier for the image",
               "pattern": UUID_PATTERN},
        "name": {"type": ["null", "string"], "description": "Descriptive name for the image",
                 "maxLength": 255},
        "status": {"type": "string", "readOnly": true, "description": "Status of the image",
                   "enum": ["queued", "saving", "active", "killed", "deleted", "uploading",
                            "importing", "pending_delete", "deactivated"]},
        "visibility": {"type": "string", "description": "Scope of image accessibility",
                       "enum": VISIBILITIES},
        "protected": {"type": "boolean",
                      "description": "If true, image will not be deletable."},
        "os_hidden": {"type": "boolean",
                      "description": "If true, image will not appear in default image list response."},
        "checksum": {"type": ["null", "string"], "readOnly": true,
                     "description": "md5 hash of image contents.", "maxLength": 32},
        "os_hash_algo": {"type": ["null", "string"], "readOnly": true,
                         "description": "Algorithm to calculate the os_hash_value",
                         "maxLength": 64},
        "os_hash_value": {"type": ["null", "string"], "readOnly": true,
                          "description": "Hexdigest of the image contents using the algorithm specified by the os_hash_algo",
                          "maxLength": 128},
        "owner": {"type": ["null", "string"], "description": "Owner of the image",
                  "maxLength": 255},
        "size": {"type": ["null", "integer"], "readOnly": true,
                 "description": "Size of image file in bytes"},
        "virtual_size": {"type": ["null", "integer"], "readOnly": true,
                         "description": "Virtual size of image in bytes"},
        "container_format": {"type": ["null", "string"], "description": "Format of the container",
                             "enum": with_null(&CONTAINER_FORMATS)},
        "disk_format": {"type": ["null", "string"], "description": "Format of the disk",
                        "enum": with_null(&DISK_FORMATS)},
        "created_at": {"type": "string", "readOnly": true,
                       "description": "Date and time of image registration"},
        "updated_at": {"type": "string", "readOnly": true,
                       "description": "Date and time of the last image modification"},
        "tags": {"type": "array", "description": "List of strings related to the image",
                 "items": {"type": "string", "maxLength": 255}},
        "direct_url": {"type": "string", "readOnly": true,
                       "description": "URL to access the image file kept in external store"},
        "min_ram": {"type": "integer",
                    "description": "Amount of ram (in MB) required to boot image."},
        "min_disk": {"type": "integer",
                     "description": "Amount of disk space (in GB) required to boot image."},
        "self": {"type": "string", "readOnly": true, "description": "An image self url"},
        "file": {"type": "string", "readOnly": true, "description": "An image file url"},
        "stores": {"type": "string", "readOnly": true,
                   "description": "Store in which image data resides.  Only present when the operator has enabled multiple stores.  May be a comma-separated list of store identifiers."},
        "schema": {"type": "string", "readOnly": true, "description": "An image schema url"},
        "locations": {
            "type": "array",
            "items": {"type": "object",
                      "properties": {"url": {"type": "string", "maxLength": 255},
                                     "metadata": {"type": "object"}},
                      "required": ["url", "metadata"]},
            "description": "A set of URLs to access the image file kept in external store"
        },
    })
}

/// `GET /v2/schemas/image`.
pub(crate) fn image_schema() -> Value {
    json!({
        "name": "image",
        "properties": base_properties(),
        "additionalProperties": {"type": "string"},
        "links": [
            {"rel": "self", "href": "{self}"},
            {"rel": "enclosure", "href": "{file}"},
            {"rel": "describedby", "href": "{schema}"},
        ],
    })
}

/// `GET /v2/schemas/images`.
pub(crate) fn images_schema() -> Value {
    json!({
        "name": "images",
        "properties": {
            "images": {"type": "array", "items": image_schema()},
            "schema": {"type": "string"},
            "first": {"type": "string"},
            "next": {"type": "string"},
        },
        "links": [
            {"rel": "first", "href": "{first}"},
            {"rel": "next", "href": "{next}"},
            {"rel": "describedby", "href": "{schema}"},
        ],
    })
}

/// `GET /v2/schemas/member`: Glance serves the minimal member schema (no
/// `additionalProperties`, no links).
pub(crate) fn member_schema() -> Value {
    json!({
        "name": "member",
        "properties": {
            "member_id": {"type": "string",
                          "description": "An identifier for the image member (tenantId)"},
            "image_id": {"type": "string", "description": "An identifier for the image",
                         "pattern": UUID_PATTERN},
            "created_at": {"type": "string",
                           "description": "Date and time of image member creation"},
            "updated_at": {"type": "string",
                           "description": "Date and time of last modification of image member"},
            "status": {"type": "string", "description": "The status of this image member",
                       "enum": ["pending", "accepted", "rejected"]},
            "schema": {"readOnly": true, "type": "string"},
        },
    })
}

/// `GET /v2/schemas/members`: the minimal collection schema.
pub(crate) fn members_schema() -> Value {
    json!({
        "name": "members",
        "properties": {
            "members": {"type": "array", "items": member_schema()},
            "schema": {"type": "string"},
        },
        "links": [{"rel": "describedby", "href": "{schema}"}],
    })
}

/// Python's `repr` of a JSON value, as jsonschema messages show them.
pub(crate) fn py_repr(v: &Value) -> String {
    match v {
        Value::Null => "None".into(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => py_str(s),
        Value::Array(a) => format!("[{}]", a.iter().map(py_repr).collect::<Vec<_>>().join(", ")),
        Value::Object(o) => format!(
            "{{{}}}",
            o.iter()
                .map(|(k, v)| format!("{}: {}", py_str(k), py_repr(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// Python's `repr` of a string.
pub(crate) fn py_str(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

fn type_name(t: &str) -> &str {
    t
}

fn is_type(v: &Value, t: &str) -> bool {
    match t {
        "null" => v.is_null(),
        "string" => v.is_string(),
        "boolean" => v.is_boolean(),
        "integer" => v.is_i64() || v.is_u64(),
        "number" => v.is_number(),
        "array" => v.is_array(),
        "object" => v.is_object(),
        _ => false,
    }
}

/// Validates an image body (or a partial one, for a patch) against the
/// image schema; the error is jsonschema's message.
pub(crate) fn validate(body: &Map<String, Value>) -> Result<(), String> {
    let props = base_properties();
    for (key, value) in body {
        let Some(schema) = props.get(key) else {
            if !value.is_string() {
                return Err(format!("{} is not of type 'string'", py_repr(value)));
            }
            continue;
        };
        let types: Vec<&str> = match &schema["type"] {
            Value::String(t) => vec![t.as_str()],
            Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        if !types.iter().any(|t| is_type(value, t)) {
            let expected = if types.len() == 1 {
                py_str(type_name(types[0]))
            } else {
                format!(
                    "[{}]",
                    types
                        .iter()
                        .map(|t| py_str(t))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            };
            return Err(format!("{} is not of type {expected}", py_repr(value)));
        }
        if let Some(Value::Array(allowed)) = schema.get("enum") {
            if !allowed.contains(value) {
                return Err(format!(
                    "{} is not one of {}",
                    py_repr(value),
                    py_repr(&Value::Array(allowed.clone()))
                ));
            }
        }
        if let (Some(max), Some(s)) = (
            schema.get("maxLength").and_then(Value::as_u64),
            value.as_str(),
        ) {
            if s.chars().count() as u64 > max {
                return Err(format!("{} is too long", py_repr(value)));
            }
        }
        if key == "id" {
            if let Some(s) = value.as_str() {
                if !is_uuid(s) {
                    return Err(format!(
                        "{} does not match {}",
                        py_str(s),
                        py_str(UUID_PATTERN)
                    ));
                }
            }
        }
        if key == "tags" {
            for t in value.as_array().into_iter().flatten() {
                match t.as_str() {
                    None => return Err(format!("{} is not of type 'string'", py_repr(t))),
                    Some(s) if s.chars().count() > 255 => {
                        return Err(format!("{} is too long", py_repr(t)))
                    }
                    _ => {}
                }
            }
        }
    }
    Ok(())
}

/// `8-4-4-4-12` hex digits.
pub(crate) fn is_uuid(s: &str) -> bool {
    s.len() == 36 && uuid::Uuid::try_parse(s).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repr_like_python() {
        assert_eq!(py_repr(&json!("a'b")), "\"a'b\"");
        assert_eq!(
            py_repr(&json!([null, "x", true, 1])),
            "[None, 'x', True, 1]"
        );
    }

    #[test]
    fn validation_messages() {
        let body = json!({"visibility": "nope"});
        let err = validate(body.as_object().unwrap_or(&Map::new()))
            .err()
            .unwrap_or_default();
        assert_eq!(
            err,
            "'nope' is not one of ['community', 'public', 'private', 'shared']"
        );
        let body = json!({"foo": 1});
        let err = validate(body.as_object().unwrap_or(&Map::new()))
            .err()
            .unwrap_or_default();
        assert_eq!(err, "1 is not of type 'string'");
        let body = json!({"min_ram": "1"});
        let err = validate(body.as_object().unwrap_or(&Map::new()))
            .err()
            .unwrap_or_default();
        assert_eq!(err, "'1' is not of type 'integer'");
        let body = json!({"name": "x", "disk_format": "qcow2", "hw": "y"});
        assert!(validate(body.as_object().unwrap_or(&Map::new())).is_ok());
    }
}
