//! Sub-resources of a server (`ips`, `metadata`, `tags`,
//! `remote-consoles`, `os-instance-actions`, ...), forwarded to the
//! server's pod; the actions of deleted servers from the pod that had them.

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use serde_json::{json, Value};
use tricircle_gateway::segment::valid_segment;
use tricircle_gateway::{Caller, GatewayError};
use tricircle_pods::PodPath;
use tricircle_store::Pod;

use super::view::addresses_to_top;
use super::{not_found, Presented, Servers};
use crate::ComputeError;

/// A call on a server's sub-resource, checked against Nova's table.
pub struct SubResource {
    pub method: Method,
    /// The sub-resource's path below the server (`metadata/k`).
    pub path: PodPath,
    pub query: Option<String>,
    pub body: Bytes,
    /// The microversion reads the actions of deleted servers (2.21).
    pub deleted_actions: bool,
}

impl Servers<'_> {
    /// Forwards `sub` of server `id` to its pod; addresses are keyed by
    /// network name, which the pod knows as `<top_id>#<name>`.
    pub async fn sub_resource(
        &self,
        caller: &Caller,
        id: &str,
        sub: SubResource,
    ) -> Result<Presented, ComputeError> {
        let segments = sub.path.segments();
        let Some(at) = self.find(caller, id).await? else {
            // From 2.21 Nova reads the actions of deleted servers too; the
            // routing went with the server, so the pod that had it says.
            if sub.deleted_actions
                && valid_segment(id)
                && segments.first().map(String::as_str) == Some("os-instance-actions")
            {
                let path = PodPath::of(["servers", id]).join(&sub.path);
                return self
                    .deleted_server_actions(caller, path, sub.query)
                    .await
                    .ok_or_else(|| not_found(id));
            }
            return Err(not_found(id));
        };
        let ips_of = match segments {
            [ips, label] if ips == "ips" => Some(label.clone()),
            _ => None,
        };
        let all_ips = segments == ["ips"];
        let path = if ips_of.is_some() {
            PodPath::of(["servers", id, "ips"])
        } else {
            PodPath::of(["servers", id]).join(&sub.path)
        };
        let answer = self
            .forward(caller, &at.pod, sub.method, path, sub.query, Some(sub.body))
            .await?;
        if all_ips {
            return Ok(answer.presented(addresses_to_top));
        }
        let Some(label) = ips_of else {
            return Ok(answer.presented(|_| {}));
        };
        if !answer.is_success() {
            return Ok(answer.presented(|_| {}));
        }
        let mut doc = answer.json().unwrap_or(Value::Null);
        addresses_to_top(&mut doc);
        match doc.get("addresses").and_then(|a| a.get(&label)) {
            Some(ips) => {
                let body = serde_json::to_vec(&json!({ label: ips })).unwrap_or_default();
                let mut headers = HeaderMap::new();
                headers.insert(
                    http::header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                );
                Ok((StatusCode::OK, headers, Bytes::from(body)))
            }
            None => Err(GatewayError::NotFound(format!(
                "Instance {id} is not attached to network {label}."
            ))
            .into()),
        }
    }

    /// The instance actions of a server no routing knows any more
    /// (deleted): the first pod that does not answer 404 has it. `None`
    /// when none does.
    async fn deleted_server_actions(
        &self,
        caller: &Caller,
        path: PodPath,
        q: Option<String>,
    ) -> Option<Presented> {
        let ask = |pod: Pod| {
            let (path, q) = (path.clone(), q.clone());
            async move { self.forward(caller, &pod, Method::GET, path, q, None).await }
        };
        self.compute
            .gateway
            .first_pod_answer("a deleted server's actions", ask, |a| {
                a.status != StatusCode::NOT_FOUND
            })
            .await
            .map(|(a, _)| a.presented(|_| {}))
    }
}
