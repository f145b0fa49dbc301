//! One call to a pod's Neutron as the service user, and the REST verbs
//! every bottom resource kind is made with. What a pod answers is read
//! into the model's types: an answer of the wrong shape is refused.

use reqwest::Method;
use serde::de::DeserializeOwned;
use serde::Deserialize;
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

    /// The member `key` of the answer, read as a `T`; missing or of the
    /// wrong shape, the pod's answer is refused.
    pub(super) fn read<T: DeserializeOwned>(&self, pod: &Pod, what: &str, key: &str) -> Result<T> {
        let unreadable = |detail: String| BottomError::Refused {
            pod: pod.pod_name.clone(),
            what: what.to_string(),
            status: self.status,
            message: format!("its answer cannot be read: {detail}"),
        };
        let member = self
            .body
            .get(key)
            .ok_or_else(|| unreadable(format!("no {key}")))?;
        T::deserialize(member).map_err(|e| unreadable(format!("{key}: {e}")))
    }
}

/// What the logic reads of a member it created or looked up by name.
#[derive(Deserialize)]
struct IdOnly {
    id: String,
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
        let what = format!("listing {collection}");
        if !a.ok() {
            return Err(Self::refused(pod, &what, &a));
        }
        let items: Vec<IdOnly> = a.read(pod, &what, &collection.replace('-', "_"))?;
        Ok(items.into_iter().next().map(|i| i.id))
    }

    /// The members of the pod's `collection` (`key` is the body key) that
    /// `query` selects.
    pub(super) async fn list<T: DeserializeOwned>(
        &self,
        pod: &Pod,
        collection: &str,
        key: &str,
        query: String,
    ) -> Result<Vec<T>> {
        let a = self
            .call(
                pod,
                Method::GET,
                PodPath::of([collection]),
                Some(query),
                None,
            )
            .await?;
        let what = format!("listing {collection}");
        if !a.ok() {
            return Err(Self::refused(pod, &what, &a));
        }
        a.read(pod, &what, key)
    }

    /// Creates a member of the pod's `collection` (`kind` is the body key)
    /// and returns its id.
    pub(super) async fn create(
        &self,
        pod: &Pod,
        collection: &str,
        kind: &str,
        body: Value,
    ) -> Result<String> {
        let a = self
            .call(
                pod,
                Method::POST,
                PodPath::of([collection]),
                None,
                Some(json!({ kind: body })),
            )
            .await?;
        let what = format!("creating a {kind}");
        if !a.ok() {
            return Err(Self::refused(pod, &what, &a));
        }
        Ok(a.read::<IdOnly>(pod, &what, kind)?.id)
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

    /// A member, read as a `T`; None when the pod has no such member.
    pub(super) async fn show<T: DeserializeOwned>(
        &self,
        pod: &Pod,
        collection: &str,
        kind: &str,
        id: &str,
    ) -> Result<Option<T>> {
        let a = self
            .call(pod, Method::GET, PodPath::of([collection, id]), None, None)
            .await?;
        if a.status == 404 {
            return Ok(None);
        }
        let what = format!("reading {kind} {id}");
        if !a.ok() {
            return Err(Self::refused(pod, &what, &a));
        }
        a.read(pod, &what, kind).map(Some)
    }
}
