//! `/images`: Nova's (deprecated, up to 2.35) view of the image service of
//! the top region — in the seed's deployment one Glance serves every pod,
//! so an image id means the same everywhere.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde_json::{json, Map, Value};

use super::domain::domain;
use super::microversion::Microversion;
use crate::error::ApiError;
use crate::gateway::forward::Respond as _;
use crate::gateway::{Call, GatewayState};

/// Glance fields that are not Nova image metadata.
pub(super) const CORE_FIELDS: &[&str] = &[
    "id",
    "name",
    "status",
    "visibility",
    "protected",
    "checksum",
    "owner",
    "size",
    "min_ram",
    "min_disk",
    "disk_format",
    "container_format",
    "created_at",
    "updated_at",
    "tags",
    "self",
    "file",
    "schema",
    "virtual_size",
    "os_hidden",
    "os_hash_algo",
    "os_hash_value",
    "locations",
    "direct_url",
    "stores",
];

fn gone_after_2_35(mv: Microversion) -> Result<(), ApiError> {
    if mv.at_least(36) {
        Err(ApiError::not_found("The resource could not be found."))
    } else {
        Ok(())
    }
}

/// Nova's status and progress for a Glance status.
fn nova_status(glance: &str) -> (&'static str, u8) {
    match glance {
        "active" => ("ACTIVE", 100),
        "queued" => ("SAVING", 25),
        "saving" => ("SAVING", 50),
        "killed" => ("ERROR", 0),
        "deleted" | "pending_delete" => ("DELETED", 0),
        _ => ("UNKNOWN", 0),
    }
}

fn view(img: &Value, root: &str, glance: Option<&str>, detail: bool) -> Value {
    let id = img["id"].as_str().unwrap_or_default();
    let mut links = vec![
        json!({"rel": "self", "href": format!("{root}/v2.1/images/{id}")}),
        json!({"rel": "bookmark", "href": format!("{root}/images/{id}")}),
    ];
    if let Some(g) = glance {
        links.push(
            json!({"rel": "alternate", "type": "application/vnd.openstack.image",
            "href": format!("{g}/images/{id}")}),
        );
    }
    let mut v = json!({
        "id": id,
        "name": img["name"],
        "links": links,
    });
    if detail {
        let (status, progress) = nova_status(img["status"].as_str().unwrap_or(""));
        let metadata: Map<String, Value> = img
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(k, _)| !CORE_FIELDS.contains(&k.as_str()))
            .map(|(k, val)| (k.clone(), val.clone()))
            .collect();
        v["status"] = json!(status);
        v["progress"] = json!(progress);
        v["minDisk"] = json!(img["min_disk"].as_i64().unwrap_or(0));
        v["minRam"] = json!(img["min_ram"].as_i64().unwrap_or(0));
        v["created"] = img["created_at"].clone();
        v["updated"] = img["updated_at"].clone();
        v["metadata"] = json!(metadata);
        v["OS-EXT-IMG-SIZE:size"] = img["size"].clone();
    }
    v
}

async fn list_images(
    st: GatewayState,
    c: Call,
    mv: Microversion,
    q: Option<String>,
    detail: bool,
) -> Result<Response, ApiError> {
    gone_after_2_35(mv)?;
    // Nova's filters (name, status, limit, marker) are Glance's too.
    let (compute, caller) = domain(&st, &c);
    let answer = compute.list_images(&caller, q).await?;
    if !answer.is_success() {
        return Ok(answer.into_response());
    }
    let doc = answer.json().unwrap_or_default();
    let glance = compute.image_service_url(&caller).await;
    let images: Vec<Value> = doc["images"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|i| view(i, &c.root, glance.as_deref(), detail))
        .collect();
    let mut body = json!({"images": images});
    if let Some(next) = doc["next"].as_str() {
        let qs = next.split_once('?').map(|(_, q)| q).unwrap_or("");
        let path = if detail { "images/detail" } else { "images" };
        body["images_links"] =
            json!([{"rel": "next", "href": format!("{}/v2.1/{path}?{qs}", c.root)}]);
    }
    Ok(Json(body).into_response())
}

pub async fn list(
    State(st): State<GatewayState>,
    c: Call,
    Extension(mv): Extension<Microversion>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    list_images(st, c, mv, q, false).await
}

pub async fn list_detail(
    State(st): State<GatewayState>,
    c: Call,
    Extension(mv): Extension<Microversion>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    list_images(st, c, mv, q, true).await
}

pub async fn show(
    State(st): State<GatewayState>,
    c: Call,
    Extension(mv): Extension<Microversion>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    gone_after_2_35(mv)?;
    let (compute, caller) = domain(&st, &c);
    let answer = compute.image(&caller, &id).await?;
    if answer.status == StatusCode::NOT_FOUND {
        return Err(ApiError::not_found("Image not found."));
    }
    if !answer.is_success() {
        return Ok(answer.into_response());
    }
    let img = answer.json().unwrap_or_default();
    let glance = compute.image_service_url(&caller).await;
    Ok(Json(json!({"image": view(&img, &c.root, glance.as_deref(), true)})).into_response())
}

pub async fn delete(
    State(st): State<GatewayState>,
    c: Call,
    Extension(mv): Extension<Microversion>,
    Path(id): Path<String>,
    _body: Bytes,
) -> Result<Response, ApiError> {
    gone_after_2_35(mv)?;
    let (compute, caller) = domain(&st, &c);
    let answer = compute.delete_image(&caller, &id).await?;
    match answer.status {
        s if s.is_success() => Ok(StatusCode::NO_CONTENT.into_response()),
        StatusCode::NOT_FOUND => Err(ApiError::not_found("Image not found.")),
        StatusCode::FORBIDDEN => Err(ApiError::forbidden("os_compute_api:images:delete")),
        _ => Ok(answer.into_response()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glance_to_nova() {
        let img = json!({"id": "i1", "name": "cirros", "status": "queued", "min_disk": 1, "min_ram": 64,
            "size": 10, "created_at": "c", "updated_at": "u", "hw_disk_bus": "virtio", "visibility": "public"});
        let v = view(&img, "http://gw", Some("http://glance:9292"), true);
        assert_eq!(v["status"], "SAVING");
        assert_eq!(v["minRam"], 64);
        assert_eq!(v["metadata"], json!({"hw_disk_bus": "virtio"}));
        assert_eq!(v["links"][0]["href"], "http://gw/v2.1/images/i1");
        assert_eq!(v["progress"], 25);
        assert_eq!(
            v["links"][2],
            json!({"rel": "alternate", "type": "application/vnd.openstack.image",
                "href": "http://glance:9292/images/i1"})
        );
        assert!(view(&img, "http://gw", None, false).get("status").is_none());
    }
}
