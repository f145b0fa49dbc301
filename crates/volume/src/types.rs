//! Volume types: kept at the top, copied into a pod the first time a volume
//! there needs one (see [`crate::type_copies`]); changes are repeated in
//! the pods holding a copy. Pods are asked for a type by name.

use std::collections::BTreeMap;

use http::{Method, StatusCode};
use serde_json::{json, Map, Value};
use tricircle_gateway::{Caller, Gateway};
use tricircle_pods::PodPath;
use tricircle_store::{StoreError, VolumeType, DEFAULT_VOLUME_TYPE};

use crate::cinder::refusal;
use crate::error::{Result, VolumeError};
use crate::type_copies::propagate;

pub fn not_found(id: &str) -> VolumeError {
    VolumeError::NotFound(format!("Volume type {id} could not be found."))
}

/// Cinder's 404 for a volume type given by name or id in a request.
pub fn not_found_by_ref(ident: &str) -> VolumeError {
    if uuid::Uuid::try_parse(ident).is_ok() {
        not_found(ident)
    } else {
        VolumeError::NotFound(format!("Volume type with name {ident} could not be found."))
    }
}

/// The type named or identified by `ident` if the caller may see it
/// (public, shared with its project, or admin).
pub async fn find_visible(
    gw: &Gateway,
    caller: &Caller,
    ident: &str,
) -> Result<Option<VolumeType>> {
    let t = match gw.store.get_volume_type(ident).await {
        Ok(t) => t,
        Err(StoreError::NotFound(_)) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    if t.is_public
        || caller.is_admin()
        || gw
            .store
            .volume_type_projects(&t.id)
            .await?
            .contains(&caller.project_id)
    {
        Ok(Some(t))
    } else {
        Ok(None)
    }
}

/// The type with id `id` if the caller may see it; Cinder's 404 if not.
pub async fn visible_type(gw: &Gateway, caller: &Caller, id: &str) -> Result<VolumeType> {
    find_visible(gw, caller, id)
        .await?
        .filter(|t| t.id == id)
        .ok_or_else(|| not_found(id))
}

/// The type with id `id` (not by name), whoever may see it.
async fn by_id(gw: &Gateway, id: &str) -> Result<VolumeType> {
    let t = gw
        .store
        .get_volume_type(id)
        .await
        .map_err(|_| not_found(id))?;
    if t.id != id {
        return Err(not_found(id));
    }
    Ok(t)
}

/// Which types a list shows (`None`: all).
pub async fn list(
    gw: &Gateway,
    caller: &Caller,
    is_public: Option<bool>,
) -> Result<Vec<VolumeType>> {
    Ok(match is_public {
        Some(true) => gw.store.list_volume_types(Some(&caller.project_id)).await?,
        Some(false) => gw
            .store
            .list_volume_types(None)
            .await?
            .into_iter()
            .filter(|t| !t.is_public)
            .collect(),
        None => gw.store.list_volume_types(None).await?,
    })
}

/// `GET /types/{id}` (`default`: the default type).
pub async fn show(gw: &Gateway, caller: &Caller, id: &str) -> Result<VolumeType> {
    if id == "default" {
        return match gw.store.get_volume_type(DEFAULT_VOLUME_TYPE).await {
            Ok(t) => Ok(t),
            Err(StoreError::NotFound(_)) => Err(VolumeError::NotFound(
                "Default volume type can not be found.".into(),
            )),
            Err(e) => Err(e.into()),
        };
    }
    find_visible(gw, caller, id)
        .await?
        .ok_or_else(|| not_found(id))
}

/// A new type, checked as Cinder checks it.
pub struct TypeCreate {
    pub name: String,
    pub description: Option<String>,
    pub is_public: bool,
    pub extra_specs: BTreeMap<String, String>,
}

pub async fn create(gw: &Gateway, req: TypeCreate) -> Result<VolumeType> {
    Ok(gw
        .store
        .create_volume_type(
            &req.name,
            req.description.as_deref(),
            req.is_public,
            &req.extra_specs,
        )
        .await?)
}

/// A change of a type (at least one field given).
pub struct TypeUpdate {
    pub name: Option<String>,
    pub description: Option<String>,
    pub is_public: Option<bool>,
}

/// Updates the type at the top, then in its copies (pods are asked for the
/// type by name: copies must follow a rename).
pub async fn update(
    gw: &Gateway,
    caller: &Caller,
    id: &str,
    req: TypeUpdate,
) -> Result<VolumeType> {
    let current = by_id(gw, id).await?;
    if current.name == DEFAULT_VOLUME_TYPE && req.name.as_ref().is_some_and(|n| *n != current.name)
    {
        // Cinder fails this with a 500; the pods' own copies keep the name.
        return Err(VolumeError::Invalid(format!(
            "Cannot update volume_type {id}: the default volume type cannot be renamed."
        )));
    }
    let updated = gw
        .store
        .update_volume_type(
            id,
            req.name.as_deref(),
            req.description.as_deref(),
            req.is_public,
        )
        .await?;
    let mut change = Map::new();
    if let Some(n) = &req.name {
        change.insert("name".into(), json!(n));
    }
    if let Some(d) = &req.description {
        change.insert("description".into(), json!(d));
    }
    if let Some(p) = req.is_public {
        change.insert("is_public".into(), json!(p));
    }
    let body = json!({ "volume_type": change });
    propagate(gw, caller, id, Method::PUT, &PodPath::default(), Some(body)).await;
    Ok(updated)
}

/// Deletes the type in every pod holding a copy, then at the top. A pod
/// that refuses (the type is in use there) stops the delete with its
/// answer; copies already deleted are forgotten and re-created on use.
pub async fn delete(gw: &Gateway, caller: &Caller, id: &str) -> Result<()> {
    let t = by_id(gw, id).await?;
    if t.name == DEFAULT_VOLUME_TYPE {
        return Err(VolumeError::Invalid(format!(
            "The volume type {id} is a default volume type and cannot be deleted."
        )));
    }
    let mut refused = None;
    for (routing, answer) in
        propagate(gw, caller, id, Method::DELETE, &PodPath::default(), None).await
    {
        match answer {
            Ok(a) if a.status.is_client_error() && a.status != StatusCode::NOT_FOUND => {
                refused.get_or_insert(refusal(&a));
            }
            _ => gw.store.delete_routing(routing.id).await?,
        }
    }
    if let Some(e) = refused {
        return Err(e);
    }
    gw.store.delete_volume_type(id).await?;
    Ok(())
}

/// Sets extra specs of a visible type (`key`: the one key of an update,
/// `PUT .../extra_specs/{key}`; none: a create), at the top and in its
/// copies.
pub async fn set_specs(
    gw: &Gateway,
    caller: &Caller,
    id: &str,
    specs: &BTreeMap<String, String>,
    key: Option<&str>,
) -> Result<()> {
    let t = visible_type(gw, caller, id).await?;
    gw.store.set_volume_type_extra_specs(&t.id, specs).await?;
    let (method, path, body) = match key {
        None => (
            Method::POST,
            PodPath::fixed("/extra_specs"),
            json!({ "extra_specs": specs }),
        ),
        Some(k) => (Method::PUT, PodPath::of(["extra_specs", k]), json!(specs)),
    };
    propagate(gw, caller, id, method, &path, Some(body)).await;
    Ok(())
}

/// Cinder's 404 for a spec a type does not have (or show).
pub fn no_spec(id: &str, key: &str) -> VolumeError {
    VolumeError::NotFound(format!(
        "Volume Type {id} has no extra specs with key {key}."
    ))
}

pub async fn delete_spec(gw: &Gateway, caller: &Caller, id: &str, key: &str) -> Result<()> {
    let t = visible_type(gw, caller, id).await?;
    if !t.extra_specs.contains_key(key) {
        return Err(no_spec(id, key));
    }
    gw.store.delete_volume_type_extra_spec(&t.id, key).await?;
    let path = PodPath::of(["extra_specs", key]);
    propagate(gw, caller, id, Method::DELETE, &path, None).await;
    Ok(())
}

/// The projects a private type is shared with.
pub async fn access_list(gw: &Gateway, id: &str) -> Result<(VolumeType, Vec<String>)> {
    let t = gw
        .store
        .get_volume_type(id)
        .await
        .map_err(|_| not_found(id))?;
    if t.is_public {
        return Err(VolumeError::NotFound(
            "Access list not available for public volume types.".into(),
        ));
    }
    let projects = gw.store.volume_type_projects(&t.id).await?;
    Ok((t, projects))
}

/// Shares a private type with `project` (`add`) or stops sharing it.
pub async fn change_access(
    gw: &Gateway,
    caller: &Caller,
    id: &str,
    project: &str,
    add: bool,
) -> Result<()> {
    let t = by_id(gw, id).await?;
    if t.is_public {
        return Err(VolumeError::Invalid(
            "Invalid volume type: Type access modification is not applicable to public volume type."
                .into(),
        ));
    }
    if add {
        // Copies get the access when the project first uses them there.
        gw.store.add_volume_type_project(&t.id, project).await?;
    } else {
        gw.store.remove_volume_type_project(&t.id, project).await?;
        let body: Value = json!({"removeProjectAccess": {"project": project}});
        propagate(
            gw,
            caller,
            id,
            Method::POST,
            &PodPath::fixed("/action"),
            Some(body),
        )
        .await;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(e: VolumeError) -> String {
        e.to_string()
    }

    #[test]
    fn not_found_by_name_or_id() {
        assert_eq!(
            message(not_found_by_ref("gold")),
            "Volume type with name gold could not be found."
        );
        assert_eq!(
            message(not_found_by_ref("0a6b3f5e-1111-4d4b-9a43-3f7c1a2b3c4d")),
            "Volume type 0a6b3f5e-1111-4d4b-9a43-3f7c1a2b3c4d could not be found."
        );
    }
}
