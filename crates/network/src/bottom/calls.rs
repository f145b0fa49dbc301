//! One call to a pod's Neutron as the service user, and the REST verbs
//! every bottom resource kind is made with.

use reqwest::Method;
use serde_json::{json, Value};
use tricircle_pods::{PodError, PodPath, ServiceCall, ServiceCallError};
use tricircle_store::Pod;

use super::{Bottom, BottomError, Result};

/// A pod's answer: status and JSON body (Null when empty).
pub(super) struct Answer {
    pub(super) status: u16,
    pub(super) body: Value,
}

impl Answer {
    pub(super) fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

impl Bottom {
    /// One call to a pod's Neutron (`path` under `/v2.0`) as the service
    /// user.
    pub(super) async fn call(
        &self,
        pod: &Pod,
        method: Method,
        path: PodPath,
        query: Option<String>,
        body: Option<Value>,
    ) -> Result<Answer> {
        let call = ServiceCall {
            pod: &pod.pod_name,
            service_type: "network",
            method,
            path: PodPath::fixed("/v2.0").join(&path),
            query,
            body: body.map(|b| bytes::Bytes::from(b.to_string())),
        };
        let resp = self
            .pods
            .send_as_service(&self.keystone, call)
            .await
            .map_err(|e| {
                let detail = match &e {
                    ServiceCallError::Pod(PodError::Endpoint(_)) => {
                        "no network endpoint in the catalog".to_string()
                    }
                    other => other.to_string(),
                };
                BottomError::Unavailable {
                    pod: pod.pod_name.clone(),
                    detail,
                }
            })?;
        let body = if resp.body.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&resp.body).unwrap_or(Value::Null)
        };
        Ok(Answer {
            status: resp.status,
            body,
        })
    }

    pub(super) fn refused(pod: &Pod, what: &str, a: &Answer) -> BottomError {
        let message = a
            .body
            .pointer("/NeutronError/message")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| format!("HTTP {}", a.status));
        BottomError::Refused {
            pod: pod.pod_name.clone(),
            what: what.to_string(),
            status: a.status,
            message,
        }
    }

    /// The id of the pod's `collection` member named `name`, if any.
    pub(super) async fn find_by_name(
        &self,
        pod: &Pod,
        collection: &str,
        name: &str,
    ) -> Result<Option<String>> {
        let query = format!(
            "name={}&fields=id",
            percent_encoding::utf8_percent_encode(name, percent_encoding::NON_ALPHANUMERIC)
        );
        let a = self
            .call(
                pod,
                Method::GET,
                PodPath::of([collection]),
                Some(query),
                None,
            )
            .await?;
        if !a.ok() {
            return Err(Self::refused(pod, &format!("listing {collection}"), &a));
        }
        Ok(a.body
            .get(collection.replace('-', "_"))
            .and_then(Value::as_array)
            .and_then(|items| items.first())
            .and_then(|i| i.get("id"))
            .and_then(Value::as_str)
            .map(str::to_string))
    }

    /// Creates a member of the pod's `collection` (`kind` is the body key)
    /// and returns the pod's view of it.
    pub(super) async fn create(
        &self,
        pod: &Pod,
        collection: &str,
        kind: &str,
        body: Value,
    ) -> Result<Value> {
        let a = self
            .call(
                pod,
                Method::POST,
                PodPath::of([collection]),
                None,
                Some(json!({ kind: body })),
            )
            .await?;
        if !a.ok() {
            return Err(Self::refused(pod, &format!("creating a {kind}"), &a));
        }
        a.body
            .get(kind)
            .cloned()
            .ok_or_else(|| Self::refused(pod, &format!("creating a {kind}"), &a))
    }

    /// Updates a member; a missing one is an error the caller decides on.
    pub(super) async fn update(
        &self,
        pod: &Pod,
        collection: &str,
        kind: &str,
        id: &str,
        body: Value,
    ) -> Result<Option<Value>> {
        let a = self
            .call(
                pod,
                Method::PUT,
                PodPath::of([collection, id]),
                None,
                Some(json!({ kind: body })),
            )
            .await?;
        if a.status == 404 {
            return Ok(None);
        }
        if !a.ok() {
            return Err(Self::refused(pod, &format!("updating {kind} {id}"), &a));
        }
        Ok(a.body.get(kind).cloned())
    }

    /// Deletes a member; one already gone is fine.
    pub(super) async fn delete(&self, pod: &Pod, collection: &str, id: &str) -> Result<()> {
        let a = self
            .call(
                pod,
                Method::DELETE,
                PodPath::of([collection, id]),
                None,
                None,
            )
            .await?;
        if a.ok() || a.status == 404 {
            Ok(())
        } else {
            Err(Self::refused(
                pod,
                &format!("deleting {collection}/{id}"),
                &a,
            ))
        }
    }

    pub(super) async fn show(
        &self,
        pod: &Pod,
        collection: &str,
        kind: &str,
        id: &str,
    ) -> Result<Option<Value>> {
        let a = self
            .call(pod, Method::GET, PodPath::of([collection, id]), None, None)
            .await?;
        if a.status == 404 {
            return Ok(None);
        }
        if !a.ok() {
            return Err(Self::refused(pod, &format!("reading {kind} {id}"), &a));
        }
        Ok(a.body.get(kind).cloned())
    }
}
