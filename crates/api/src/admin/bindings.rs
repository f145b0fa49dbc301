use axum::extract::{Path, Query, State};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use tricircle_core::ids::is_plausible_project_id;
use tricircle_store::{Binding, BindingFilter, BindingUpdate, NewBinding};

use super::{parse_bool, reject_unknown_params, required_str, AdminState};
use crate::auth::Context;
use crate::body::JsonBody;
use crate::error::ApiError;

pub(super) fn router() -> Router<AdminState> {
    Router::new()
        .route("/v1.0/bindings", get(list).post(create))
        .route("/v1.0/bindings/{id}", get(show).put(update).delete(delete))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    pod_binding: CreateFields,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateFields {
    tenant_id: String,
    pod_id: String,
    #[serde(default)]
    is_binding: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateBody {
    pod_binding: UpdateFields,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateFields {
    #[serde(default)]
    pod_id: Option<String>,
    #[serde(default)]
    is_binding: Option<bool>,
}

fn view(b: &Binding) -> Value {
    json!({
        "id": b.id,
        "tenant_id": b.tenant_id,
        "pod_id": b.pod_id,
        "is_binding": b.is_binding,
        "created_at": b.created_at,
        "updated_at": b.updated_at,
    })
}

fn tenant_id(value: &str) -> Result<String, ApiError> {
    let t = required_str("tenant_id", value, 255)?;
    if !is_plausible_project_id(&t) {
        return Err(ApiError::bad_request(format!(
            "tenant_id '{t}' is not a valid project id"
        )));
    }
    Ok(t)
}

async fn create(
    ctx: Context,
    State(st): State<AdminState>,
    JsonBody(body): JsonBody<CreateBody>,
) -> Result<Json<Value>, ApiError> {
    ctx.require_admin("admin_api:bindings:create")?;
    let f = body.pod_binding;
    let new = NewBinding {
        tenant_id: tenant_id(&f.tenant_id)?,
        pod_id: required_str("pod_id", &f.pod_id, 36)?,
        is_binding: f.is_binding.unwrap_or(true),
    };
    let b = st.store.create_binding(&new).await?;
    Ok(Json(json!({"pod_binding": view(&b)})))
}

async fn list(
    ctx: Context,
    State(st): State<AdminState>,
    Query(params): Query<Vec<(String, String)>>,
) -> Result<Json<Value>, ApiError> {
    ctx.require_admin("admin_api:bindings:list")?;
    reject_unknown_params(&params, &["tenant_id", "pod_id", "is_binding"])?;
    let mut filter = BindingFilter::default();
    for (k, v) in params {
        match k.as_str() {
            "tenant_id" => filter.tenant_id = Some(v),
            "pod_id" => filter.pod_id = Some(v),
            "is_binding" => filter.is_binding = Some(parse_bool("is_binding", &v)?),
            _ => {}
        }
    }
    let bindings: Vec<Value> = st
        .store
        .list_bindings(&filter)
        .await?
        .iter()
        .map(view)
        .collect();
    Ok(Json(json!({"pod_bindings": bindings})))
}

async fn show(
    ctx: Context,
    State(st): State<AdminState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    ctx.require_admin("admin_api:bindings:show")?;
    let b = st.store.get_binding(&id).await?;
    Ok(Json(json!({"pod_binding": view(&b)})))
}

async fn update(
    ctx: Context,
    State(st): State<AdminState>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<UpdateBody>,
) -> Result<Json<Value>, ApiError> {
    ctx.require_admin("admin_api:bindings:put")?;
    let f = body.pod_binding;
    if f.pod_id.is_none() && f.is_binding.is_none() {
        return Err(ApiError::bad_request(
            "Nothing to update: give pod_id or is_binding",
        ));
    }
    let update = BindingUpdate {
        pod_id: f
            .pod_id
            .map(|p| required_str("pod_id", &p, 36))
            .transpose()?,
        is_binding: f.is_binding,
    };
    let b = st.store.update_binding(&id, &update).await?;
    Ok(Json(json!({"pod_binding": view(&b)})))
}

async fn delete(
    ctx: Context,
    State(st): State<AdminState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    ctx.require_admin("admin_api:bindings:delete")?;
    st.store.delete_binding(&id).await?;
    Ok(Json(json!({})))
}
