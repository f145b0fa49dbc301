//! Keypairs (`os-keypairs`): the requests parsed and checked, the domain
//! asked (`tricircle_compute::keypairs`), the answers rendered per
//! microversion.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde_json::{json, Value};
use tricircle_compute::keypairs::{CreatedKeypair, KeyType, KeypairCreate};
use tricircle_store::Keypair;

use super::domain::domain;
use super::microversion::Microversion;
use crate::body::parse_json;
use crate::error::ApiError;
use crate::gateway::{Call, GatewayState};

fn valid_name(name: &str, mv: Microversion) -> bool {
    !name.trim().is_empty()
        && name.chars().count() <= 255
        && name.chars().all(|c| {
            c.is_ascii_alphanumeric() || " _-".contains(c) || (mv.at_least(92) && "@.".contains(c))
        })
}

fn view(k: &Keypair, mv: Microversion, full: bool) -> Value {
    let mut v = json!({"name": k.name, "public_key": k.public_key, "fingerprint": k.fingerprint});
    if mv.at_least(2) {
        v["type"] = json!(k.key_type);
    }
    if full {
        v["user_id"] = json!(k.user_id);
        v["created_at"] = json!(k.created_at);
        v["deleted"] = json!(false);
        v["deleted_at"] = Value::Null;
        v["updated_at"] = Value::Null;
        v["id"] = json!(0);
    }
    v
}

/// The user whose keypairs a request is about: the caller, or (admins,
/// 2.10+) the `user_id` it names.
fn target_user(c: &Call, mv: Microversion, asked: Option<&str>) -> Result<String, ApiError> {
    match asked {
        Some(u) if mv.at_least(10) && u != c.ctx.user_id => {
            c.ctx.require_admin("os_compute_api:os-keypairs")?;
            Ok(u.to_string())
        }
        _ => Ok(c.ctx.user_id.clone()),
    }
}

fn query_user(q: &[(String, String)]) -> Option<&str> {
    q.iter()
        .find(|(k, _)| k == "user_id")
        .map(|(_, v)| v.as_str())
}

pub async fn list(
    State(st): State<GatewayState>,
    c: Call,
    Extension(mv): Extension<Microversion>,
    Query(q): Query<Vec<(String, String)>>,
) -> Result<Json<Value>, ApiError> {
    let get = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let user = target_user(&c, mv, get("user_id"))?;
    let (marker, limit) = if mv.at_least(35) {
        let limit = get("limit")
            .map(|l| {
                l.parse::<u32>().map_err(|_| {
                    ApiError::bad_request(format!(
                        "Invalid input for query parameters limit. Value: {l}."
                    ))
                })
            })
            .transpose()?;
        (get("marker"), limit)
    } else {
        (None, None)
    };
    let (compute, _) = domain(&st, &c);
    let keys = compute.list_keypairs(&user, marker, limit).await?;
    let items: Vec<Value> = keys
        .iter()
        .map(|k| json!({"keypair": view(k, mv, false)}))
        .collect();
    let mut body = json!({"keypairs": items});
    if let (Some(l), Some(last)) = (limit, keys.last()) {
        if keys.len() == l as usize {
            body["keypairs_links"] = json!([{"rel": "next",
                "href": format!("{}/v2.1/os-keypairs?limit={l}&marker={}", c.root, last.name)}]);
        }
    }
    Ok(Json(body))
}

/// A create body, checked as Nova checks it.
fn create_request(c: &Call, mv: Microversion, body: &Value) -> Result<KeypairCreate, ApiError> {
    let kp = body
        .get("keypair")
        .and_then(Value::as_object)
        .ok_or_else(|| ApiError::bad_request("Invalid input for field/attribute keypair."))?;
    let name = kp.get("name").and_then(Value::as_str).unwrap_or("");
    if !valid_name(name, mv) {
        return Err(ApiError::bad_request(
            "Keypair data is invalid: Keypair name contains unsafe characters or is not 1 to 255 characters long",
        ));
    }
    let key_type = match kp.get("type").and_then(Value::as_str) {
        None => KeyType::Ssh,
        Some("ssh") if mv.at_least(2) => KeyType::Ssh,
        Some("x509") if mv.at_least(2) => KeyType::X509,
        Some(_) => {
            return Err(ApiError::bad_request(
                "Invalid input for field/attribute type.",
            ))
        }
    };
    let user_id = target_user(c, mv, kp.get("user_id").and_then(Value::as_str))?;
    let public_key =
        match kp.get("public_key").and_then(Value::as_str) {
            Some(pk) => Some(pk.to_string()),
            None if mv.at_least(92) => return Err(ApiError::bad_request(
                "Invalid input for field/attribute keypair. 'public_key' is a required property.",
            )),
            None => None,
        };
    Ok(KeypairCreate {
        user_id,
        name: name.to_string(),
        key_type,
        public_key,
    })
}

pub async fn create(
    State(st): State<GatewayState>,
    c: Call,
    Extension(mv): Extension<Microversion>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body: Value = parse_json(&body)?;
    let req = create_request(&c, mv, &body)?;
    let (compute, _) = domain(&st, &c);
    let CreatedKeypair {
        keypair: k,
        private_key,
    } = compute.create_keypair(req).await?;
    let mut v = view(&k, mv, false);
    v["user_id"] = json!(k.user_id);
    if let Some(p) = private_key {
        v["private_key"] = json!(p);
    }
    let status = if mv.at_least(2) {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(json!({"keypair": v}))).into_response())
}

pub async fn show(
    State(st): State<GatewayState>,
    c: Call,
    Extension(mv): Extension<Microversion>,
    Path(name): Path<String>,
    Query(q): Query<Vec<(String, String)>>,
) -> Result<Json<Value>, ApiError> {
    let user = target_user(&c, mv, query_user(&q))?;
    let (compute, _) = domain(&st, &c);
    let k = compute.keypair(&user, &name).await?;
    Ok(Json(json!({"keypair": view(&k, mv, true)})))
}

pub async fn delete(
    State(st): State<GatewayState>,
    c: Call,
    Extension(mv): Extension<Microversion>,
    Path(name): Path<String>,
    Query(q): Query<Vec<(String, String)>>,
) -> Result<Response, ApiError> {
    let user = target_user(&c, mv, query_user(&q))?;
    let (compute, caller) = domain(&st, &c);
    compute.delete_keypair(&caller, &user, &name).await?;
    let status = if mv.at_least(2) {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::ACCEPTED
    };
    Ok(status.into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(valid_name("my key_1-a", Microversion(2)));
        assert!(!valid_name("a@b", Microversion(91)));
        assert!(valid_name("a@b.c", Microversion(92)));
        assert!(!valid_name("  ", Microversion(2)));
        assert!(!valid_name("k/1", Microversion(92)));
    }
}
