//! The image service of the top region (in the seed's deployment one
//! Glance serves every pod, so an image id means the same everywhere):
//! the check a boot makes before anything is made, and the calls behind
//! Nova's deprecated `/images` and `/images/{id}/metadata`.

use bytes::Bytes;
use http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use serde_json::Value;
use tricircle_gateway::segment::valid_segment;
use tricircle_gateway::{GatewayError, PodAnswer, PodCall};
use tricircle_pods::PodPath;
use tricircle_store::Pod;

use crate::error::{ComputeError, Result};
use crate::{Caller, Compute};

impl Compute {
    /// The top region as a pseudo-pod: calls go to its catalog entries.
    fn top_region(&self) -> Pod {
        Pod {
            pod_id: String::new(),
            pod_name: self.top_region.clone(),
            az_name: String::new(),
            pod_az_name: String::new(),
            dc_name: String::new(),
            maintenance: false,
            created_at: String::new(),
            updated_at: String::new(),
        }
    }

    /// One call to the image service as the caller.
    async fn glance(
        &self,
        caller: &Caller,
        method: Method,
        path: PodPath,
        query: Option<String>,
        patch: Option<Value>,
    ) -> Result<PodAnswer, GatewayError> {
        let pod = self.top_region();
        let mut headers = HeaderMap::new();
        if patch.is_some() {
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/openstack-images-v2.1-json-patch"),
            );
        }
        self.call(
            caller,
            PodCall {
                pod: &pod,
                service_type: "image",
                method,
                path,
                query,
                headers: &headers,
                body: patch.map(|p| Bytes::from(p.to_string())),
            },
        )
        .await
    }

    /// Glance's image list (Nova's filters are Glance's too), as it answers.
    pub async fn list_images(&self, caller: &Caller, query: Option<String>) -> Result<PodAnswer> {
        Ok(self
            .glance(
                caller,
                Method::GET,
                PodPath::fixed("/v2/images"),
                query,
                None,
            )
            .await?)
    }

    /// Glance's image `id`, as it answers.
    pub async fn image(&self, caller: &Caller, id: &str) -> Result<PodAnswer> {
        Ok(self
            .glance(caller, Method::GET, image_path(id), None, None)
            .await?)
    }

    /// Deletes the image `id`; Glance's answer.
    pub async fn delete_image(&self, caller: &Caller, id: &str) -> Result<PodAnswer> {
        Ok(self
            .glance(caller, Method::DELETE, image_path(id), None, None)
            .await?)
    }

    /// Applies a JSON patch (RFC 6902 operations) to the image `id`;
    /// Glance's answer.
    pub async fn patch_image(
        &self,
        caller: &Caller,
        id: &str,
        ops: Vec<Value>,
    ) -> Result<PodAnswer> {
        Ok(self
            .glance(
                caller,
                Method::PATCH,
                image_path(id),
                None,
                Some(Value::Array(ops)),
            )
            .await?)
    }

    /// The image service's URL as Nova links to it (`alternate`): the top
    /// region's public image endpoint. `None` when the catalog has none.
    pub async fn image_service_url(&self, caller: &Caller) -> Option<String> {
        match self
            .pods
            .resolver()
            .endpoint(&self.top_region, "image")
            .await
        {
            Ok(template) => Some(
                tricircle_pods::endpoints::substitute(&template, &caller.project_id)
                    .trim_end_matches('/')
                    .to_string(),
            ),
            Err(e) => {
                tracing::warn!(error = %e, "no image endpoint for the images' alternate links");
                None
            }
        }
    }

    /// Nova refuses a boot from an image it cannot find, or one that is not
    /// active, before making anything (400); so does the gateway, before
    /// anything is made at the top or in a pod. When the image service
    /// cannot be asked, the pod decides.
    pub async fn check_image(&self, caller: &Caller, image_id: &str) -> Result<()> {
        let missing = || ComputeError::BadRequest("Can not find requested image".into());
        if !valid_segment(image_id) {
            return Err(missing());
        }
        let answer = match self
            .glance(caller, Method::GET, image_path(image_id), None, None)
            .await
        {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(error = %e, "image service not asked before a boot");
                return Ok(());
            }
        };
        if answer.status == StatusCode::NOT_FOUND {
            return Err(missing());
        }
        if answer.is_success() {
            let img = answer.json().unwrap_or_default();
            if img["status"].as_str().is_some_and(|s| s != "active") {
                return Err(ComputeError::BadRequest(format!(
                    "Image {image_id} is not active."
                )));
            }
        }
        Ok(())
    }
}

fn image_path(id: &str) -> PodPath {
    PodPath::of(["v2", "images", id])
}
