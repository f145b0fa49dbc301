//! `createImage`: a snapshot image in Glance with Nova's properties.

use std::collections::BTreeMap;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Map, Value};

use super::{accepted, act, args};
use crate::compute::ctx::{check_keys, check_name, metadata_field, Ctx};
use crate::compute::error::NResult;
use crate::compute::model::Step;
use crate::compute::TASK_TIME;
use crate::pod::Pod;

/// `createImage`.
pub(super) async fn create_image(pod: &Pod, ctx: &Ctx, id: &str, arg: &Value) -> NResult<Response> {
    let empty = Map::new();
    let a = args("createImage", arg, &empty)?;
    check_keys("createImage", a, &["name", "metadata"], &["name"])?;
    let name = check_name("name", &a["name"])?;
    let metadata: BTreeMap<String, String> = match a.get("metadata") {
        Some(v) => metadata_field("metadata", v)?,
        None => BTreeMap::new(),
    };
    let server = act(
        pod,
        ctx,
        id,
        "createImage",
        Some(&["active", "stopped", "paused", "suspended"]),
        false,
        |s| {
            let vm = s.vm_state;
            let power = s.power_state;
            s.begin("image_snapshot", TASK_TIME, Step::Set { vm, power });
            s.record("createImage", ctx.user(), ctx.project());
            Ok(s.clone())
        },
    )?;
    let base = if server.image_ref.is_empty() {
        None
    } else {
        pod.images().get(&server.image_ref)
    };
    let mut props: BTreeMap<String, Value> = BTreeMap::new();
    props.insert("image_type".into(), json!("snapshot"));
    props.insert("instance_uuid".into(), json!(server.id));
    props.insert("base_image_ref".into(), json!(server.image_ref));
    props.insert("user_id".into(), json!(ctx.user()));
    props.insert("image_location".into(), json!("snapshot"));
    props.insert("boot_roles".into(), json!(ctx.caller.roles.join(",")));
    if server.image_ref.is_empty() {
        props.insert("root_device_name".into(), json!("/dev/vda"));
        props.insert("bdm_v2".into(), json!("True"));
    }
    for (k, v) in metadata {
        props.insert(k, json!(v));
    }
    let img = pod
        .images()
        .create_snapshot(&name, &server.project_id, base.as_ref(), props);
    if ctx.at_least(45) {
        return Ok((StatusCode::ACCEPTED, Json(json!({"image_id": img.id}))).into_response());
    }
    let mut resp = accepted();
    if let Ok(v) = HeaderValue::from_str(&format!("{}/image/v2/images/{}", ctx.host, img.id)) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    Ok(resp)
}
