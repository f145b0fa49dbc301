use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use tricircle_core::ResourceType;
use tricircle_store::{NewRouting, Routing, RoutingFilter, RoutingUpdate};

use super::{base_url, reject_unknown_params, required_str, AdminState};
use crate::auth::Context;
use crate::body::JsonBody;
use crate::error::ApiError;

/// Page size when the caller gives no `limit`, and the most it may ask for.
const DEFAULT_LIMIT: u32 = 200;
const MAX_LIMIT: u32 = 1000;

pub(super) fn router() -> Router<AdminState> {
    Router::new()
        .route("/v1.0/routings", get(list).post(create))
        .route("/v1.0/routings/{id}", get(show).put(update).delete(delete))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    routing: CreateFields,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateFields {
    top_id: String,
    #[serde(default)]
    bottom_id: Option<String>,
    pod_id: String,
    #[serde(default)]
    project_id: Option<String>,
    resource_type: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateBody {
    routing: UpdateFields,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateFields {
    #[serde(default)]
    top_id: Option<String>,
    /// `null` clears it.
    #[serde(default, deserialize_with = "double_option")]
    bottom_id: Option<Option<String>>,
    #[serde(default)]
    pod_id: Option<String>,
    #[serde(default)]
    project_id: Option<String>,
    #[serde(default)]
    resource_type: Option<String>,
}

/// Tells an absent field (`None`) from an explicit `null` (`Some(None)`).
fn double_option<'de, D>(d: D) -> Result<Option<Option<String>>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    Option::<String>::deserialize(d).map(Some)
}

fn view(r: &Routing) -> Value {
    json!({
        "id": r.id,
        "top_id": r.top_id,
        "bottom_id": r.bottom_id,
        "pod_id": r.pod_id,
        "project_id": r.project_id,
        "resource_type": r.resource_type,
        "created_at": r.created_at,
        "updated_at": r.updated_at,
    })
}

fn resource_type(v: &str) -> Result<ResourceType, ApiError> {
    v.trim().parse::<ResourceType>().map_err(|e| {
        let known: Vec<&str> = ResourceType::ALL.iter().map(|t| t.as_str()).collect();
        ApiError::bad_request(format!("{e}; accepted: {}", known.join(", ")))
    })
}

fn routing_id(raw: &str) -> Result<i64, ApiError> {
    raw.parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| ApiError::not_found(format!("Routing {raw} could not be found.")))
}

async fn create(
    ctx: Context,
    State(st): State<AdminState>,
    JsonBody(body): JsonBody<CreateBody>,
) -> Result<Json<Value>, ApiError> {
    ctx.require_admin("admin_api:routings:create")?;
    let f = body.routing;
    let new = NewRouting {
        top_id: required_str("top_id", &f.top_id, 127)?,
        bottom_id: f
            .bottom_id
            .map(|b| required_str("bottom_id", &b, 127))
            .transpose()?,
        pod_id: required_str("pod_id", &f.pod_id, 36)?,
        project_id: match f.project_id {
            Some(p) => required_str("project_id", &p, 255)?,
            None => ctx.project_id.clone(),
        },
        resource_type: resource_type(&f.resource_type)?,
    };
    let r = st.store.create_routing(&new).await?;
    Ok(Json(json!({"routing": view(&r)})))
}

/// Lists routings, `limit` at a time in id order, with a `next` link while
/// more remain. Non-admins see only their own project's rows.
async fn list(
    ctx: Context,
    State(st): State<AdminState>,
    headers: HeaderMap,
    Query(params): Query<Vec<(String, String)>>,
) -> Result<Json<Value>, ApiError> {
    const FILTERS: [&str; 5] = [
        "top_id",
        "bottom_id",
        "pod_id",
        "project_id",
        "resource_type",
    ];
    let mut known = FILTERS.to_vec();
    known.extend(["limit", "marker"]);
    reject_unknown_params(&params, &known)?;

    let mut filter = RoutingFilter::default();
    let mut limit = DEFAULT_LIMIT;
    let mut marker = None;
    for (k, v) in &params {
        match k.as_str() {
            "top_id" => filter.top_id = Some(v.clone()),
            "bottom_id" => filter.bottom_id = Some(v.clone()),
            "pod_id" => filter.pod_id = Some(v.clone()),
            "project_id" => filter.project_id = Some(v.clone()),
            "resource_type" => filter.resource_type = Some(resource_type(v)?),
            "limit" => {
                limit = v
                    .parse::<u32>()
                    .ok()
                    .filter(|l| *l > 0)
                    .ok_or_else(|| {
                        ApiError::bad_request(format!(
                            "limit must be a positive integer, not '{v}'"
                        ))
                    })?
                    .min(MAX_LIMIT)
            }
            "marker" => {
                marker = Some(v.parse::<i64>().map_err(|_| {
                    ApiError::bad_request(format!("marker must be a routing id, not '{v}'"))
                })?)
            }
            _ => {}
        }
    }
    if !ctx.is_admin() {
        match &filter.project_id {
            Some(p) if *p != ctx.project_id => {
                return Ok(Json(json!({"routings": []})));
            }
            _ => filter.project_id = Some(ctx.project_id.clone()),
        }
    }
    let page = st.store.list_routings(&filter, marker, limit).await?;
    let routings: Vec<Value> = page.routings.iter().map(view).collect();
    let mut body = json!({"routings": routings});
    if page.has_more {
        if let Some(last) = page.routings.last() {
            let mut query: Vec<(String, String)> = params
                .iter()
                .filter(|(k, _)| FILTERS.contains(&k.as_str()))
                .cloned()
                .collect();
            query.push(("limit".into(), limit.to_string()));
            query.push(("marker".into(), last.id.to_string()));
            let qs = url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(query)
                .finish();
            body["routings_links"] = json!([{
                "rel": "next",
                "href": format!("{}/v1.0/routings?{qs}", base_url(&headers)),
            }]);
        }
    }
    Ok(Json(body))
}

async fn show(
    ctx: Context,
    State(st): State<AdminState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let r = st.store.get_routing(routing_id(&id)?).await?;
    if !ctx.is_admin() && r.project_id != ctx.project_id {
        // Not theirs: as if it did not exist.
        return Err(ApiError::not_found(format!(
            "Routing {id} could not be found."
        )));
    }
    Ok(Json(json!({"routing": view(&r)})))
}

async fn update(
    ctx: Context,
    State(st): State<AdminState>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<UpdateBody>,
) -> Result<Json<Value>, ApiError> {
    ctx.require_admin("admin_api:routings:put")?;
    let id = routing_id(&id)?;
    let f = body.routing;
    let update = RoutingUpdate {
        top_id: f
            .top_id
            .map(|v| required_str("top_id", &v, 127))
            .transpose()?,
        bottom_id: match f.bottom_id {
            Some(Some(b)) => Some(Some(required_str("bottom_id", &b, 127)?)),
            Some(None) => Some(None),
            None => None,
        },
        pod_id: f
            .pod_id
            .map(|v| required_str("pod_id", &v, 36))
            .transpose()?,
        project_id: f
            .project_id
            .map(|v| required_str("project_id", &v, 255))
            .transpose()?,
        resource_type: f.resource_type.map(|v| resource_type(&v)).transpose()?,
    };
    if update.top_id.is_none()
        && update.bottom_id.is_none()
        && update.pod_id.is_none()
        && update.project_id.is_none()
        && update.resource_type.is_none()
    {
        return Err(ApiError::bad_request("Nothing to update"));
    }
    let r = st.store.update_routing(id, &update).await?;
    Ok(Json(json!({"routing": view(&r)})))
}

async fn delete(
    ctx: Context,
    State(st): State<AdminState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    ctx.require_admin("admin_api:routings:delete")?;
    st.store.delete_routing(routing_id(&id)?).await?;
    Ok(Json(json!({})))
}
