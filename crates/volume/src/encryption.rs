//! Volume type encryption: kept with the type at the top and repeated in
//! every pod holding a copy of it (a copy made later gets it too, see
//! [`crate::type_copies`]). A pod's Cinder refuses a change while volumes
//! of the type exist there ("Volume type in use"): such a refusal is the
//! caller's answer, and the pods already changed are changed back.

use http::{Method, StatusCode};
use serde_json::{json, Map, Value};
use tricircle_gateway::{Caller, Gateway};
use tricircle_pods::PodPath;
use tricircle_store::StoreError;

use crate::cinder::refusal;
use crate::error::{Result, VolumeError};
use crate::type_copies::propagate;
use crate::types::visible_type;

/// The fields of an encryption spec a client sets.
pub const FIELDS: &[&str] = &["provider", "control_location", "cipher", "key_size"];

/// The type's encryption spec (`None`: not encrypted).
pub async fn show(gw: &Gateway, caller: &Caller, type_id: &str) -> Result<Option<Value>> {
    Ok(visible_type(gw, caller, type_id).await?.encryption)
}

/// Repeats `method` on `.../encryption[/{spec_id}]` in every pod copy of the
/// type: whether any pod accepted, and the first refusal (a client error
/// other than 404).
async fn in_pods(
    gw: &Gateway,
    caller: &Caller,
    type_id: &str,
    method: Method,
    spec_id: Option<&str>,
    body: Option<Value>,
) -> (bool, Option<VolumeError>) {
    let mut path = PodPath::of(["encryption"]);
    if let Some(id) = spec_id {
        path = path.push(id);
    }
    let mut accepted = false;
    let mut refused = None;
    for (_, answer) in propagate(gw, caller, type_id, method, &path, body).await {
        match answer {
            Ok(a) if a.status.is_client_error() && a.status != StatusCode::NOT_FOUND => {
                refused.get_or_insert(refusal(&a));
            }
            Ok(a) if a.is_success() => accepted = true,
            _ => {}
        }
    }
    (accepted, refused)
}

fn now() -> String {
    chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S%.6f")
        .to_string()
}

/// Creates the type's encryption from `fields` (checked as Cinder checks
/// them); returns the new spec's id.
pub async fn create(
    gw: &Gateway,
    caller: &Caller,
    type_id: &str,
    fields: &Map<String, Value>,
) -> Result<String> {
    let t = visible_type(gw, caller, type_id).await?;
    if t.encryption.is_some() {
        return Err(VolumeError::Invalid(format!(
            "Volume type encryption for type {type_id} already exists."
        )));
    }
    let spec_id = uuid::Uuid::new_v4().to_string();
    let mut spec = json!({
        "volume_type_id": t.id,
        "encryption_id": spec_id,
        "provider": null, "control_location": "front-end", "cipher": null, "key_size": null,
        "created_at": now(), "updated_at": null, "deleted": false, "deleted_at": null,
    });
    for (k, v) in fields {
        spec[k] = v.clone();
    }
    let body = json!({ "encryption": fields });
    let (accepted, refused) = in_pods(gw, caller, &t.id, Method::POST, None, Some(body)).await;
    if let Some(e) = refused {
        if accepted {
            undo_created(gw, caller, &t.id).await;
        }
        return Err(e);
    }
    match gw
        .store
        .set_volume_type_encryption(&t.id, Some(&spec), true)
        .await
    {
        Ok(()) => Ok(spec_id),
        // Cinder's VolumeTypeEncryptionExists is a 400.
        Err(StoreError::Conflict(m)) => Err(VolumeError::Invalid(m)),
        Err(e) => Err(e.into()),
    }
}

/// Takes back the encryption just created in some pods (those without it
/// answer 404, which is ignored). A pod's Cinder ignores the encryption id
/// of the path: the type's spec is the one addressed.
async fn undo_created(gw: &Gateway, caller: &Caller, type_id: &str) {
    let (_, refused) = in_pods(gw, caller, type_id, Method::DELETE, Some("undo"), None).await;
    if let Some(e) = refused {
        tracing::warn!(%type_id, error = %e, "a pod keeps an encryption spec the top refused");
    }
}

fn no_encryption(id: &str) -> VolumeError {
    VolumeError::NotFound(format!(
        "Volume type encryption for type {id} does not exist."
    ))
}

/// Changes the type's encryption by `fields`.
pub async fn update(
    gw: &Gateway,
    caller: &Caller,
    type_id: &str,
    fields: &Map<String, Value>,
) -> Result<()> {
    let t = visible_type(gw, caller, type_id).await?;
    let Some(mut spec) = t.encryption.clone() else {
        return Err(no_encryption(type_id));
    };
    let spec_id = spec["encryption_id"]
        .as_str()
        .unwrap_or("encryption")
        .to_string();
    let body = json!({ "encryption": fields });
    let (_, refused) = in_pods(gw, caller, &t.id, Method::PUT, Some(&spec_id), Some(body)).await;
    if let Some(e) = refused {
        return Err(e);
    }
    for (k, v) in fields {
        spec[k] = v.clone();
    }
    spec["updated_at"] = json!(now());
    gw.store
        .set_volume_type_encryption(&t.id, Some(&spec), false)
        .await?;
    Ok(())
}

pub async fn delete(gw: &Gateway, caller: &Caller, type_id: &str) -> Result<()> {
    let t = visible_type(gw, caller, type_id).await?;
    let Some(spec) = &t.encryption else {
        return Err(no_encryption(type_id));
    };
    let spec_id = spec["encryption_id"].as_str().unwrap_or("encryption");
    let (_, refused) = in_pods(gw, caller, &t.id, Method::DELETE, Some(spec_id), None).await;
    if let Some(e) = refused {
        return Err(e);
    }
    gw.store
        .set_volume_type_encryption(&t.id, None, false)
        .await?;
    Ok(())
}

/// The body that gives a pod's copy of a type the top's encryption specs.
pub fn copy_body(spec: &Value) -> Value {
    let mut enc = Map::new();
    for k in FIELDS {
        if let Some(v) = spec.get(*k) {
            enc.insert((*k).to_string(), v.clone());
        }
    }
    json!({ "encryption": enc })
}
