//! `rebuild`: a new image (and optionally name, metadata, key, user data,
//! addresses) for an existing server.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Map, Value};

use super::{act, args};
use crate::compute::ctx::{
    check_keys, check_name, field_error, is_uuid_like, metadata_field, opt_bool, opt_string, Ctx,
};
use crate::compute::error::{NResult, NovaError};
use crate::compute::model::{Step, RUNNING, SHUTDOWN};
use crate::compute::servers::access_ips;
use crate::compute::view::{self, ViewOpts};
use crate::compute::{groups, interfaces, TASK_TIME};
use crate::image::schema::py_repr;
use crate::pod::Pod;

/// The keys a `rebuild` may hold at this microversion.
fn rebuild_keys(ctx: &Ctx) -> Vec<&'static str> {
    let mut allowed = vec![
        "name",
        "imageRef",
        "adminPass",
        "metadata",
        "preserve_ephemeral",
        "OS-DCF:diskConfig",
        "accessIPv4",
        "accessIPv6",
    ];
    if !ctx.at_least(57) {
        allowed.push("personality");
    }
    if ctx.at_least(19) {
        allowed.push("description");
    }
    if ctx.at_least(54) {
        allowed.push("key_name");
    }
    if ctx.at_least(57) {
        allowed.push("user_data");
    }
    if ctx.at_least(63) {
        allowed.push("trusted_image_certificates");
    }
    if ctx.at_least(90) {
        allowed.push("hostname");
    }
    allowed
}

/// `rebuild`.
pub(super) async fn rebuild(pod: &Pod, ctx: &Ctx, id: &str, arg: &Value) -> NResult<Response> {
    let empty = Map::new();
    let a = args("rebuild", arg, &empty)?;
    let allowed = rebuild_keys(ctx);
    let name = match a.get("name") {
        Some(v) => Some(check_name("name", v)?),
        None => None,
    };
    let metadata = match a.get("metadata") {
        Some(v) => Some(metadata_field("metadata", v)?),
        None => None,
    };
    let description = if ctx.at_least(19) && a.contains_key("description") {
        Some(opt_string(a, "description", 255, true)?)
    } else {
        None
    };
    let admin_pass = opt_string(a, "adminPass", usize::MAX, false)?;
    let _ = opt_bool(a, "preserve_ephemeral")?;
    let key_name: Option<Option<String>> = if ctx.at_least(54) && a.contains_key("key_name") {
        Some(opt_string(a, "key_name", 255, true)?)
    } else {
        None
    };
    let user_data: Option<Option<String>> = if ctx.at_least(57) && a.contains_key("user_data") {
        Some(opt_string(a, "user_data", 65535, true)?)
    } else {
        None
    };
    let (access_ipv4, access_ipv6) = access_ips(a, false)?;
    check_keys("rebuild", a, &allowed, &["imageRef"])?;
    let image_ref = match &a["imageRef"] {
        Value::String(s) if is_uuid_like(s) => s.clone(),
        other => {
            return Err(field_error(
                "imageRef",
                other,
                &format!("{} is not a 'uuid'", py_repr(other)),
            ))
        }
    };
    let img = pod
        .images()
        .get_visible(&image_ref, ctx.project(), ctx.is_admin())
        .ok_or_else(|| NovaError::bad_request("Cannot find image for rebuild"))?;
    if img.status != "active" {
        return Err(NovaError::bad_request(format!(
            "Image {image_ref} is not active."
        )));
    }
    if let Some(Some(k)) = &key_name {
        let exists = pod.compute().with(|st| {
            st.keypairs
                .iter()
                .any(|kp| kp.user_id == ctx.user() && &kp.name == k)
        });
        if !exists {
            return Err(NovaError::bad_request("Invalid key_name provided."));
        }
    }
    let server = act(
        pod,
        ctx,
        id,
        "rebuild",
        Some(&["active", "stopped", "error"]),
        true,
        |s| {
            if s.image_ref.is_empty() && image_ref != s.image_ref && !ctx.at_least(93) {
                return Err(NovaError::bad_request(
                    "Unable to rebuild with a different image for a volume-backed server.",
                ));
            }
            if let Some(n) = name {
                s.name = n;
            }
            if let Some(m) = metadata {
                s.metadata = m;
            }
            if let Some(d) = description {
                s.description = d;
            }
            if let Some(k) = key_name {
                s.key_name = k;
            }
            if let Some(u) = user_data {
                s.user_data = u;
            }
            if let Some(ip) = access_ipv4 {
                s.access_ipv4 = ip;
            }
            if let Some(ip) = access_ipv6 {
                s.access_ipv6 = ip;
            }
            if !s.image_ref.is_empty() {
                s.image_ref = image_ref.clone();
            }
            let (vm, power) = match s.vm_state {
                "stopped" => ("stopped", SHUTDOWN),
                _ => ("active", RUNNING),
            };
            s.begin("rebuilding", TASK_TIME, Step::Set { vm, power });
            s.record("rebuild", ctx.user(), ctx.project());
            Ok(s.clone())
        },
    )?;
    let mut server = server;
    interfaces::refresh(pod, std::slice::from_mut(&mut server));
    let mut v = view::server(ctx, &server, ViewOpts::update(ctx, true));
    groups::fill_groups(pod, &mut v);
    v["adminPass"] = json!(admin_pass.unwrap_or_else(|| crate::util::random_urlsafe(12)));
    if ctx.at_least(57) {
        v["user_data"] = json!(server.user_data);
    }
    let mut resp = (StatusCode::ACCEPTED, Json(json!({"server": v}))).into_response();
    if let Ok(h) = HeaderValue::from_str(&format!("{}/servers/{}", ctx.api_url(), server.id)) {
        resp.headers_mut().insert(header::LOCATION, h);
    }
    Ok(resp)
}
