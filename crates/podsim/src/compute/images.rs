//! Nova's image proxy (`/images`, 2.1 to 2.35; gone from 2.36): the pod's
//! Glance images in Nova's shape.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Map, Value};

use super::ctx::{isotime, Ctx, P};
use super::error::{NResult, NovaError};
use crate::image::Image;
use crate::pod::Pod;

fn check_version(ctx: &Ctx) -> NResult<()> {
    if ctx.at_least(36) {
        Err(NovaError::resource_not_found())
    } else {
        Ok(())
    }
}

fn links(ctx: &Ctx, id: &str) -> Value {
    let mut l = ctx.links("images", id);
    if let Value::Array(a) = &mut l {
        a.push(json!({
            "rel": "alternate",
            "type": "application/vnd.openstack.image",
            "href": format!("{}/image/images/{id}", ctx.host),
        }));
    }
    l
}

fn view(ctx: &Ctx, img: &Image) -> Value {
    let status = match img.status.as_str() {
        "active" => "ACTIVE",
        "queued" | "saving" => "SAVING",
        "deleted" | "pending_delete" => "DELETED",
        "killed" => "ERROR",
        _ => "UNKNOWN",
    };
    let progress = match img.status.as_str() {
        "queued" => 25,
        "saving" => 50,
        "active" => 100,
        _ => 0,
    };
    let metadata: Map<String, Value> = img
        .properties
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let mut v = json!({
        "id": img.id,
        "name": img.name,
        "minRam": img.min_ram,
        "minDisk": img.min_disk,
        "metadata": metadata,
        "created": isotime(img.created_at),
        "updated": isotime(img.updated_at),
        "status": status,
        "progress": progress,
        "OS-EXT-IMG-SIZE:size": img.size,
        "links": links(ctx, &img.id),
    });
    if let Some(server) = img.properties.get("instance_uuid").and_then(Value::as_str) {
        v["server"] = json!({"id": server, "links": ctx.links("servers", server)});
    }
    v
}

fn list(pod: &Pod, ctx: &Ctx, detail: bool) -> NResult<Value> {
    check_version(ctx)?;
    let q = &ctx.query;
    let mut images: Vec<Image> = pod
        .images()
        .list()
        .into_iter()
        .filter(|i| {
            ctx.is_admin()
                || i.visibility == "public"
                || i.owner.as_deref() == Some(ctx.project())
                || i.is_listed_member(ctx.project(), "accepted")
        })
        .filter(|i| q.get("name").is_none_or(|n| i.name.as_deref() == Some(n)))
        .filter(|i| {
            q.get("status")
                .is_none_or(|s| s.eq_ignore_ascii_case(&i.status))
        })
        .filter(|i| {
            q.get("minRam")
                .and_then(|m| m.parse::<u64>().ok())
                .is_none_or(|m| i.min_ram >= m)
        })
        .filter(|i| {
            q.get("minDisk")
                .and_then(|m| m.parse::<u64>().ok())
                .is_none_or(|m| i.min_disk >= m)
        })
        .filter(|i| {
            q.get("server").is_none_or(|s| {
                let s = s.rsplit('/').next().unwrap_or(s);
                i.properties.get("instance_uuid").and_then(Value::as_str) == Some(s)
            })
        })
        .filter(|i| {
            q.get("type")
                .is_none_or(|t| i.properties.get("image_type").and_then(Value::as_str) == Some(t))
        })
        .collect();
    images.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));
    let (limit, marker) = ctx.limit_and_marker()?;
    if let Some(m) = marker {
        let pos = images
            .iter()
            .position(|i| i.id == m)
            .ok_or_else(|| NovaError::bad_request(format!("marker [{m}] not found")))?;
        images.drain(..=pos);
    }
    images.truncate(limit);
    let items: Vec<Value> = images
        .iter()
        .map(|i| {
            if detail {
                view(ctx, i)
            } else {
                json!({"id": i.id, "name": i.name, "links": links(ctx, &i.id)})
            }
        })
        .collect();
    let mut body = json!({ "images": items });
    let coll = if detail { "images/detail" } else { "images" };
    if let Some(l) = ctx.next_links(coll, images.len(), images.last().map(|i| i.id.as_str())) {
        body["images_links"] = l;
    }
    Ok(body)
}

/// `GET /images`.
pub(crate) async fn index(State(pod): State<Pod>, ctx: Ctx) -> NResult<Json<Value>> {
    list(&pod, &ctx, false).map(Json)
}

/// `GET /images/detail`.
pub(crate) async fn detail(State(pod): State<Pod>, ctx: Ctx) -> NResult<Json<Value>> {
    list(&pod, &ctx, true).map(Json)
}

/// `GET /images/{id}`.
pub(crate) async fn show(State(pod): State<Pod>, ctx: Ctx, p: P) -> NResult<Json<Value>> {
    check_version(&ctx)?;
    let img = pod
        .images()
        .get_visible(p.get("image_id"), ctx.project(), ctx.is_admin())
        .ok_or_else(|| NovaError::not_found("Image not found."))?;
    Ok(Json(json!({"image": view(&ctx, &img)})))
}

/// `DELETE /images/{id}`.
pub(crate) async fn delete(State(pod): State<Pod>, ctx: Ctx, p: P) -> NResult<StatusCode> {
    check_version(&ctx)?;
    let id = p.get("image_id");
    let img = pod
        .images()
        .get_visible(id, ctx.project(), ctx.is_admin())
        .ok_or_else(|| NovaError::not_found("Image not found."))?;
    if !ctx.is_admin() && img.owner.as_deref() != Some(ctx.project()) || img.protected {
        return Err(NovaError::forbidden(
            "You are not allowed to delete the image.",
        ));
    }
    pod.images().remove(id);
    Ok(StatusCode::NO_CONTENT)
}
