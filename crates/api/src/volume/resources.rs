//! What volumes, snapshots and backups share: each lives in one pod, found
//! through its routing, and its calls are forwarded there with the answer
//! translated back to top terms (AZ names, links, volume type ids).

use std::collections::HashMap;
use tricircle_pods::PodPath;

use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::Response;
use serde_json::Value;
use tricircle_core::listing::{SortField, CINDER_SNAPSHOT_SORT_FIELDS, CINDER_VOLUME_SORT_FIELDS};
use tricircle_store::{NewRouting, Pod, QuotaExceeded, Routing, Usage};

use super::microversion::VolumeVersion;
use super::SERVICE_TYPE;
use crate::error::ApiError;
use crate::gateway::forward::Respond as _;
use crate::gateway::forward::{call_as_service, try_call, CallError, PodAnswer, PodCall};
use crate::gateway::rewrite::az_to_top;
use crate::gateway::{routed_pod, subresource, Call, GatewayState};

/// One kind of pod resource of the volume API.
pub(super) struct Kind {
    /// The collection in URLs and list bodies (`volumes`).
    pub collection: &'static str,
    /// The key of one resource in bodies, also its routing and allocation
    /// resource type (`volume`).
    pub singular: &'static str,
    /// How Cinder's messages name it (`Volume`).
    pub title: &'static str,
    /// The field holding the pod's AZ, if the resource shows one.
    pub az_field: Option<&'static str>,
    pub sort_fields: &'static [SortField<'static>],
    /// The brief list view lacks sort values: pods are always asked for
    /// `/detail`, and items trimmed to `id`, `name`, `links`.
    pub brief_from_detail: bool,
    /// What passes through to the pod below one resource.
    pub subresources: &'static [subresource::SubResource],
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
    collection: "volumes",
    singular: "volume",
    title: "Volume",
    az_field: Some("availability_zone"),
    sort_fields: CINDER_VOLUME_SORT_FIELDS,
    brief_from_detail: true,
    subresources: subresource::VOLUME,
};

pub(super) const SNAPSHOTS: Kind = Kind {
    collection: "snapshots",
    singular: "snapshot",
    title: "Snapshot",
    az_field: None,
    sort_fields: CINDER_SNAPSHOT_SORT_FIELDS,
    brief_from_detail: false,
    subresources: subresource::SNAPSHOT,
};

pub(super) const BACKUPS: Kind = Kind {
    collection: "backups",
    singular: "backup",
    title: "Backup",
    az_field: Some("availability_zone"),
    sort_fields: CINDER_BACKUP_SORT_FIELDS,
    brief_from_detail: true,
    subresources: subresource::BACKUP,
};

impl Kind {
    pub fn not_found(&self, id: &str) -> ApiError {
        ApiError::not_found(format!("{} {id} could not be found.", self.title))
    }

    /// The routing and pod of `id`; 404 in Cinder's words if there is none
    /// the caller may see.
    pub async fn routed(
        &self,
        st: &GatewayState,
        c: &Call,
        id: &str,
    ) -> Result<(Routing, Pod), ApiError> {
        if !subresource::valid_segment(id) {
            return Err(self.not_found(id));
        }
        routed_pod(st, &c.ctx, self.singular, id)
            .await?
            .ok_or_else(|| self.not_found(id))
    }

    /// Forgets a resource that is gone from its pod: routing and quota.
    pub async fn forget(&self, st: &GatewayState, routing: &Routing) -> Result<(), ApiError> {
        st.store
            .forget_resource(routing.id, self.singular, &routing.top_id)
            .await?;
        Ok(())
    }

    /// Records a resource just created in `pod`: its routing, the
    /// reservation completed with what it uses, and its create check (if
    /// any) cancelled, together.
    pub async fn record(
        &self,
        st: &GatewayState,
        c: &Call,
        pod: &Pod,
        id: &str,
        allocation: Option<(i64, Usage)>,
        check: Option<&str>,
    ) -> Result<(), ApiError> {
        let routing = NewRouting {
            top_id: id.to_string(),
            bottom_id: Some(id.to_string()),
            pod_id: pod.pod_id.clone(),
            project_id: c.ctx.project_id.clone(),
            resource_type: self.singular.to_string(),
        };
        st.store.record_created(&routing, allocation, check).await?;
        Ok(())
    }
}

/// Sends a call for the caller to the pod's Cinder.
pub(super) async fn forward(
    st: &GatewayState,
    c: &Call,
    pod: &Pod,
    method: Method,
    path: PodPath,
    query: Option<String>,
    body: Option<Bytes>,
) -> Result<PodAnswer, ApiError> {
    Ok(try_forward(st, c, pod, method, path, query, body)
        .await
        .map_err(tricircle_gateway::GatewayError::from)?)
}

/// Like [`forward`], telling our own overload apart from the pod's failures.
pub(super) async fn try_forward(
    st: &GatewayState,
    c: &Call,
    pod: &Pod,
    method: Method,
    path: PodPath,
    query: Option<String>,
    body: Option<Bytes>,
) -> Result<PodAnswer, CallError> {
    try_call(
        st,
        &c.ctx,
        &c.rid,
        &c.root,
        PodCall {
            pod,
            service_type: SERVICE_TYPE,
            method,
            path,
            query,
            headers: &c.headers,
            body: body.filter(|b| !b.is_empty()),
        },
    )
    .await
}

/// Top volume type ids by name: pods show their own type ids
/// (`volume_type_id`, 3.63+), users must see the top's.
pub(super) async fn type_ids(
    st: &GatewayState,
    mv: VolumeVersion,
) -> Result<HashMap<String, String>, ApiError> {
    if !mv.at_least(63) {
        return Ok(HashMap::new());
    }
    Ok(st
        .store
        .list_volume_types(None)
        .await?
        .into_iter()
        .map(|t| (t.name, t.id))
        .collect())
}

/// One resource of `kind` from `pod`, in top terms.
pub(super) fn item_to_top(
    kind: &Kind,
    item: &mut Value,
    pod: &Pod,
    type_ids: &HashMap<String, String>,
) {
    if let Some(field) = kind.az_field {
        az_to_top(item, field, &pod.pod_az_name, &pod.az_name);
    }
    if item.get("volume_type_id").is_some() {
        if let Some(top) = item
            .get("volume_type")
            .and_then(Value::as_str)
            .and_then(|n| type_ids.get(n))
        {
            item["volume_type_id"] = Value::String(top.clone());
        }
    }
}

/// A pod's answer body (one resource or a list of them) in top terms.
pub(super) fn body_to_top(
    kind: &Kind,
    body: &mut Value,
    pod: &Pod,
    type_ids: &HashMap<String, String>,
) {
    if let Some(item) = body.get_mut(kind.singular).filter(|v| v.is_object()) {
        item_to_top(kind, item, pod, type_ids);
    }
    if let Some(Value::Array(items)) = body.get_mut(kind.collection) {
        for item in items {
            item_to_top(kind, item, pod, type_ids);
        }
    }
}

/// The message of a pod's fault body (`{"badRequest": {"message"}}`).
pub(super) fn fault_message(answer: &PodAnswer) -> String {
    answer
        .json()
        .as_ref()
        .and_then(crate::gateway::forward::fault_message)
        .unwrap_or_else(|| String::from_utf8_lossy(&answer.body).into_owned())
}

/// A pod's refusal as our error (same status and message).
pub(super) fn refusal(answer: &PodAnswer) -> ApiError {
    ApiError::new(answer.status, fault_message(answer))
}

/// The resource body a pod answered with (`{"volume": {...}}`), if any.
pub(super) fn resource_of(answer: &PodAnswer, key: &str) -> Option<Value> {
    answer
        .json()
        .filter(|_| answer.is_success())
        .and_then(|mut v| v.get_mut(key).map(Value::take))
        .filter(Value::is_object)
}

/// A resource's current state in its pod; its absence is Cinder's 404.
pub(super) async fn fetch(
    st: &GatewayState,
    c: &Call,
    kind: &Kind,
    pod: &Pod,
    id: &str,
) -> Result<Value, ApiError> {
    let answer = forward(
        st,
        c,
        pod,
        Method::GET,
        PodPath::of([kind.collection, id]),
        None,
        None,
    )
    .await?;
    if answer.status == StatusCode::NOT_FOUND {
        return Err(kind.not_found(id));
    }
    if !answer.is_success() {
        return Err(refusal(&answer));
    }
    resource_of(&answer, kind.singular).ok_or_else(|| {
        tracing::error!(pod = %pod.pod_name, kind = kind.singular, %id, "pod answered without the resource");
        ApiError::new(StatusCode::BAD_GATEWAY, format!("Pod {} answered without the {}.", pod.pod_name, kind.singular))
    })
}

/// A size in GB from a JSON number or digit string.
pub(super) fn size_of(v: Option<&Value>) -> Option<i64> {
    match v? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
            s.parse().ok()
        }
        _ => None,
    }
}

/// Cinder's `QuotaError` for a refused reservation, as its fault wrapper
/// renders it: 413 `"<Class>: <message>"`, with `Retry-After: 0`.
pub(super) fn over_quota(q: &QuotaExceeded, kind: &Kind) -> ApiError {
    let message = match (q.resource, kind.singular) {
        ("gigabytes", _) => format!(
            "VolumeSizeExceedsAvailableQuota: Requested volume or snapshot exceeds allowed gigabytes quota. \
             Requested {}G, quota is {}G and {}G has been consumed.",
            q.requested, q.limit, q.used
        ),
        ("snapshots", _) | (_, "snapshot") => {
            format!("SnapshotLimitExceeded: Maximum number of snapshots allowed ({}) exceeded", q.limit)
        }
        (resource, _) => format!(
            "VolumeLimitExceeded: Maximum number of volumes allowed ({}) exceeded for quota '{resource}'.",
            q.limit
        ),
    };
    ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, message)
}

/// Cinder's `VolumeSizeExceedsLimit` (`per_volume_gigabytes`).
pub(super) fn over_size_limit(size: i64, limit: i64) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("VolumeSizeExceedsLimit: Requested volume size {size}G is larger than maximum allowed limit {limit}G."),
    )
}

/// The client's response for a pod answer, in top terms.
pub(super) fn respond(
    kind: &Kind,
    answer: PodAnswer,
    pod: &Pod,
    type_ids: &HashMap<String, String>,
) -> Response {
    answer.respond(|v| body_to_top(kind, v, pod, type_ids))
}

/// A call Tricircle makes to a pod's Cinder on its own account (its
/// service user): copies of types, what a transfer moves.
pub(super) async fn as_service(
    st: &GatewayState,
    c: &Call,
    pod: &Pod,
    method: Method,
    path: PodPath,
    query: Option<&str>,
    body: Option<Value>,
) -> Result<PodAnswer, ApiError> {
    let headers = service_headers();
    call_as_service(
        st,
        &c.rid,
        &c.root,
        PodCall {
            pod,
            service_type: SERVICE_TYPE,
            method,
            path,
            query: query.map(str::to_string),
            headers: &headers,
            body: body.map(|b| Bytes::from(b.to_string())),
        },
    )
    .await
}

/// JSON headers for calls Tricircle makes on its own account.
pub(super) fn service_headers() -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert("content-type", HeaderValue::from_static("application/json"));
    h
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(pod_az: &str, az: &str) -> Pod {
        Pod {
            pod_id: "p".into(),
            pod_name: "Pod2".into(),
            az_name: az.into(),
            pod_az_name: pod_az.into(),
            dc_name: String::new(),
            maintenance: false,
            created_at: String::new(),
            updated_at: String::new(),
        }
    }

    #[test]
    fn bodies_in_top_terms() {
        let types: HashMap<String, String> = [("gold".to_string(), "top-gold".to_string())].into();
        let mut one = json!({"volume": {"availability_zone": "nova2", "volume_type": "gold", "volume_type_id": "bottom"}});
        body_to_top(&VOLUMES, &mut one, &pod("nova2", "az2"), &types);
        assert_eq!(one["volume"]["availability_zone"], "az2");
        assert_eq!(one["volume"]["volume_type_id"], "top-gold");
        let mut list =
            json!({"volumes": [{"availability_zone": "nova"}, {"availability_zone": "other"}]});
        body_to_top(&VOLUMES, &mut list, &pod("", "az1"), &types);
        assert_eq!(list["volumes"][0]["availability_zone"], "az1");
        assert_eq!(list["volumes"][1]["availability_zone"], "az1");
        // Snapshots have no AZ; an unknown type keeps the pod's id.
        let mut snap = json!({"snapshot": {"availability_zone": "nova2", "volume_type": "x", "volume_type_id": "b"}});
        body_to_top(&SNAPSHOTS, &mut snap, &pod("nova2", "az2"), &types);
        assert_eq!(snap["snapshot"]["availability_zone"], "nova2");
        assert_eq!(snap["snapshot"]["volume_type_id"], "b");
    }

    #[test]
    fn quota_messages_are_cinders() {
        let q = |resource, requested, used, limit| QuotaExceeded {
            resource,
            requested,
            used,
            limit,
        };
        assert_eq!(
            over_quota(&q("volumes", 1, 2, 2), &VOLUMES).message,
            "VolumeLimitExceeded: Maximum number of volumes allowed (2) exceeded for quota 'volumes'."
        );
        assert_eq!(
            over_quota(&q("gigabytes", 5, 8, 10), &VOLUMES).message,
            "VolumeSizeExceedsAvailableQuota: Requested volume or snapshot exceeds allowed gigabytes quota. \
             Requested 5G, quota is 10G and 8G has been consumed."
        );
        assert_eq!(
            over_quota(&q("snapshots", 1, 3, 3), &SNAPSHOTS).message,
            "SnapshotLimitExceeded: Maximum number of snapshots allowed (3) exceeded"
        );
        assert_eq!(
            over_quota(&q("volumes", 1, 2, 2), &VOLUMES).status,
            StatusCode::PAYLOAD_TOO_LARGE
        );
    }

    #[test]
    fn sizes() {
        assert_eq!(size_of(Some(&json!(3))), Some(3));
        assert_eq!(size_of(Some(&json!("12"))), Some(12));
        assert_eq!(size_of(Some(&json!("1.5"))), None);
        assert_eq!(size_of(Some(&json!(true))), None);
        assert_eq!(size_of(None), None);
    }

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
