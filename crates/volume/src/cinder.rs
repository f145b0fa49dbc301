//! Calls to a pod's Cinder, for the caller or as Tricircle's service user,
//! and what the gateway makes of their answers.

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use serde_json::Value;
use tricircle_gateway::pod_call::fault_message;
use tricircle_gateway::{CallError, Caller, Gateway, PodAnswer, PodCall};
use tricircle_pods::PodPath;
use tricircle_store::Pod;

use crate::error::{Result, VolumeError};
use crate::kind::{Kind, TypeIds};

/// The catalog service type of Cinder v3 in the pods.
pub const SERVICE_TYPE: &str = "volumev3";

/// One call to a pod's Cinder.
pub struct Request {
    pub method: Method,
    pub path: PodPath,
    pub query: Option<String>,
    pub body: Option<Bytes>,
}

impl Request {
    pub fn get(path: PodPath) -> Request {
        Request {
            method: Method::GET,
            path,
            query: None,
            body: None,
        }
    }

    pub fn delete(path: PodPath) -> Request {
        Request {
            method: Method::DELETE,
            ..Request::get(path)
        }
    }

    pub fn post(path: PodPath, body: impl Into<Bytes>) -> Request {
        Request {
            method: Method::POST,
            body: Some(body.into()),
            ..Request::get(path)
        }
    }

    pub fn query(self, query: Option<String>) -> Request {
        Request { query, ..self }
    }
}

/// Sends a call for the caller to the pod's Cinder (with the client's
/// content type and microversion).
pub async fn forward(gw: &Gateway, caller: &Caller, pod: &Pod, r: Request) -> Result<PodAnswer> {
    Ok(try_forward(gw, caller, pod, r)
        .await
        .map_err(tricircle_gateway::GatewayError::from)?)
}

/// Like [`forward`], telling our own overload apart from the pod's failures.
pub async fn try_forward(
    gw: &Gateway,
    caller: &Caller,
    pod: &Pod,
    r: Request,
) -> std::result::Result<PodAnswer, CallError> {
    gw.try_call(
        caller,
        PodCall {
            pod,
            service_type: SERVICE_TYPE,
            method: r.method,
            path: r.path,
            query: r.query,
            headers: &caller.pass_headers,
            body: r.body.filter(|b| !b.is_empty()),
        },
    )
    .await
}

/// A call Tricircle makes to a pod's Cinder on its own account (its
/// service user): copies of types, what a transfer moves.
pub async fn as_service(
    gw: &Gateway,
    caller: &Caller,
    pod: &Pod,
    method: Method,
    path: PodPath,
    query: Option<&str>,
    body: Option<Value>,
) -> Result<PodAnswer> {
    let mut headers = HeaderMap::new();
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    Ok(gw
        .call_as_service(
            caller,
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
        .await?)
}

/// The message of a pod's fault body (`{"badRequest": {"message"}}`).
pub fn pod_message(answer: &PodAnswer) -> String {
    answer
        .json()
        .as_ref()
        .and_then(fault_message)
        .unwrap_or_else(|| String::from_utf8_lossy(&answer.body).into_owned())
}

/// A pod's refusal as our error (same status and message).
pub fn refusal(answer: &PodAnswer) -> VolumeError {
    VolumeError::PodRefused {
        status: answer.status.as_u16(),
        message: pod_message(answer),
    }
}

/// The resource body a pod answered with (`{"volume": {...}}`), if any.
pub fn resource_of(answer: &PodAnswer, key: &str) -> Option<Value> {
    answer
        .json()
        .filter(|_| answer.is_success())
        .and_then(|mut v| v.get_mut(key).map(Value::take))
        .filter(Value::is_object)
}

/// The id of the resource a pod answered with, or the bad gateway of an
/// answer without one (`what`: "a volume id").
pub fn created_id(
    answer: &PodAnswer,
    key: &str,
    field: &str,
    pod: &Pod,
    what: &str,
) -> Result<String> {
    resource_of(answer, key)
        .and_then(|r| r[field].as_str().map(str::to_string))
        .ok_or_else(|| {
            VolumeError::BadPodAnswer(format!("Pod {} answered without {what}.", pod.pod_name))
        })
}

/// A resource's current state in its pod; its absence is Cinder's 404.
pub async fn fetch(
    gw: &Gateway,
    caller: &Caller,
    kind: &Kind,
    pod: &Pod,
    id: &str,
) -> Result<Value> {
    let answer = forward(
        gw,
        caller,
        pod,
        Request::get(PodPath::of([kind.collection, id])),
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
        VolumeError::BadPodAnswer(format!(
            "Pod {} answered without the {}.",
            pod.pod_name, kind.singular
        ))
    })
}

/// A size in GB from a JSON number or digit string.
pub fn size_of(v: Option<&Value>) -> Option<i64> {
    match v? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
            s.parse().ok()
        }
        _ => None,
    }
}

/// A pod's answer as the client gets it: as the pod gave it (links
/// rewritten), or with its body in top terms.
pub struct Answer {
    pub answer: PodAnswer,
    top: Option<(&'static Kind, Pod, TypeIds)>,
}

impl Answer {
    /// The pod's answer as it is (links rewritten).
    pub fn plain(answer: PodAnswer) -> Answer {
        Answer { answer, top: None }
    }

    /// The pod's answer about `kind` with its body in top terms.
    pub fn in_top_terms(
        answer: PodAnswer,
        kind: &'static Kind,
        pod: &Pod,
        type_ids: TypeIds,
    ) -> Answer {
        Answer {
            answer,
            top: Some((kind, pod.clone(), type_ids)),
        }
    }

    /// Status, headers and body for the client.
    pub fn presented(self) -> (StatusCode, HeaderMap, Bytes) {
        let top = self.top;
        self.answer.presented(|v| {
            if let Some((kind, pod, type_ids)) = &top {
                kind.body_to_top(v, pod, type_ids);
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sizes() {
        assert_eq!(size_of(Some(&json!(3))), Some(3));
        assert_eq!(size_of(Some(&json!("12"))), Some(12));
        assert_eq!(size_of(Some(&json!("1.5"))), None);
        assert_eq!(size_of(Some(&json!(true))), None);
        assert_eq!(size_of(None), None);
    }
}
