//! What the volume API's handlers share: the kinds of routed resources
//! with what only HTTP needs of them (sort keys, sub-resources), the
//! domain's caller of a request, parsing helpers with Cinder's messages,
//! and rendering the domain's answers.

use axum::body::Body;
use axum::response::Response;
use serde_json::Value;
use tricircle_core::listing::{SortField, CINDER_SNAPSHOT_SORT_FIELDS, CINDER_VOLUME_SORT_FIELDS};
use tricircle_gateway::Caller;
use tricircle_volume::Answer;

use crate::error::ApiError;
use crate::gateway::{subresource, Call};

/// One kind of pod resource of the volume API: the domain's kind, with
/// what its list and sub-resources need.
pub(super) struct Kind {
    pub base: &'static tricircle_volume::Kind,
    pub sort_fields: &'static [SortField<'static>],
    /// The brief list view lacks sort values: pods are always asked for
    /// `/detail`, and items trimmed to `id`, `name`, `links`.
    pub brief_from_detail: bool,
    /// What passes through to the pod below one resource.
    pub subresources: &'static [subresource::SubResource],
}

impl std::ops::Deref for Kind {
    type Target = tricircle_volume::Kind;
    fn deref(&self) -> &tricircle_volume::Kind {
        self.base
    }
}

const fn sf(key: &'static str, field: &'static str) -> SortField<'static> {
    SortField { key, field }
}

/// Cinder backup sort keys whose value the backup view shows.
const CINDER_BACKUP_SORT_FIELDS: &[SortField<'static>] = &[
    sf("created_at", "created_at"),
    sf("updated_at", "updated_at"),
    sf("id", "id"),
    sf("name", "name"),
    sf("display_name", "name"),
    sf("status", "status"),
    sf("size", "size"),
    sf("container", "container"),
    sf("volume_id", "volume_id"),
];

pub(super) const VOLUMES: Kind = Kind {
    base: &tricircle_volume::VOLUMES,
    sort_fields: CINDER_VOLUME_SORT_FIELDS,
    brief_from_detail: true,
    subresources: subresource::VOLUME,
};

pub(super) const SNAPSHOTS: Kind = Kind {
    base: &tricircle_volume::SNAPSHOTS,
    sort_fields: CINDER_SNAPSHOT_SORT_FIELDS,
    brief_from_detail: false,
    subresources: subresource::SNAPSHOT,
};

pub(super) const BACKUPS: Kind = Kind {
    base: &tricircle_volume::BACKUPS,
    sort_fields: CINDER_BACKUP_SORT_FIELDS,
    brief_from_detail: true,
    subresources: subresource::BACKUP,
};

impl Kind {
    /// `id` of a path, if it can name one of these (else Cinder's 404).
    pub fn path_id<'a>(&self, id: &'a str) -> Result<&'a str, ApiError> {
        if subresource::valid_segment(id) {
            Ok(id)
        } else {
            Err(self.base.not_found(id).into())
        }
    }
}

/// The domain's caller of this request; the pods see the client's content
/// type and microversion.
pub(super) fn caller(c: &Call) -> Caller {
    crate::gateway::domain_caller(c)
}

/// The domain's answer as the client's response.
pub(super) fn render(answer: Answer) -> Response {
    let (status, headers, body) = answer.presented();
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() = status;
    *resp.headers_mut() = headers;
    resp
}

// ------------------------------------------------------------ parsing

/// `body[key]` as an object, with Cinder's schema messages.
pub(super) fn required_object<'a>(
    body: &'a mut Value,
    key: &str,
) -> Result<&'a mut serde_json::Map<String, Value>, ApiError> {
    let Some(obj) = body.as_object_mut() else {
        return Err(ApiError::bad_request(format!(
            "Invalid input: the body must be an object with '{key}'."
        )));
    };
    match obj.get_mut(key) {
        None => Err(ApiError::bad_request(format!("'{key}' is a required property"))),
        Some(Value::Object(m)) => Ok(m),
        Some(other) => Err(ApiError::bad_request(format!(
            "Invalid input for field/attribute {key}. Value: {other}. {other} is not of type 'object'"
        ))),
    }
}

/// An optional string field (`null` counts as absent).
pub(super) fn opt_string(
    obj: &serde_json::Map<String, Value>,
    key: &str,
) -> Result<Option<String>, ApiError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(ApiError::bad_request(format!(
            "Invalid input for field/attribute {key}. Value: {other}. {other} is not of type 'string'"
        ))),
    }
}

/// Whether the query asks for every project's resources (admins only).
pub(super) fn all_tenants(c: &Call, q: Option<&str>) -> bool {
    c.ctx.is_admin()
        && super::listing::query_pairs(q)
            .iter()
            .any(|(k, v)| k == "all_tenants" && super::listing::truthy(v))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;
    use serde_json::json;

    #[test]
    fn required_objects() {
        let mut b = json!({"volume": {"size": 1}});
        assert!(required_object(&mut b, "volume").is_ok());
        let mut b = json!({"volume": 3});
        assert_eq!(
            required_object(&mut b, "volume").err().map(|e| e.status),
            Some(StatusCode::BAD_REQUEST)
        );
        let mut b = json!({});
        assert_eq!(
            required_object(&mut b, "volume").err().map(|e| e.message),
            Some("'volume' is a required property".to_string())
        );
        let mut b = json!([1]);
        assert!(required_object(&mut b, "volume").is_err());
    }
}
