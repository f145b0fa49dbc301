//! `/v1.0/jobs`: the durable jobs, for operators. Lists show the live jobs
//! (NEW, RUNNING, FAIL); `?status=SUCCESS` reads the log of finished ones.
//! Show finds a job in either. `PUT` redoes a FAIL job, `DELETE` removes a
//! job that is not running, `POST` records a job of a known type.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use tricircle_jobs::{Kicker, Registry};
use tricircle_store::{Job, JobFilter, JobStatus};

use super::{base_url, reject_unknown_params, required_str, AdminState};
use crate::auth::Context;
use crate::body::JsonBody;
use crate::error::ApiError;

/// What the admin API needs of the job engine: the job types (schemas, and
/// which types may be created) and a way to wake this process's workers.
#[derive(Clone, Default)]
pub struct AdminJobs {
    pub registry: Arc<Registry>,
    pub kicker: Kicker,
}

/// Page size when the caller gives no `limit`, and the most it may ask for.
const DEFAULT_LIMIT: u32 = 200;
const MAX_LIMIT: u32 = 1000;

pub(super) fn router() -> Router<AdminState> {
    Router::new()
        .route("/v1.0/jobs", get(list).post(create))
        .route("/v1.0/jobs/detail", get(list))
        .route("/v1.0/jobs/schemas", get(schemas))
        .route("/v1.0/jobs/{id}", get(show).put(redo).delete(delete))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    job: CreateFields,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateFields {
    #[serde(rename = "type")]
    job_type: String,
    project_id: String,
    resource: Value,
}

fn view(j: &Job) -> Value {
    json!({
        "id": j.id,
        "type": j.job_type,
        "status": j.status.as_str(),
        "project_id": j.project_id,
        "resource": j.resource,
        "timestamp": j.updated_at,
        "attempts": j.attempts,
        "last_error": j.last_error,
        "run_after": j.run_after,
    })
}

fn job_id(raw: &str) -> Result<&str, ApiError> {
    if raw.is_empty() || raw.len() > 36 || raw.chars().any(|c| c.is_control()) {
        return Err(ApiError::not_found(format!(
            "Job {raw} could not be found."
        )));
    }
    Ok(raw)
}

/// `GET /v1.0/jobs` and `/v1.0/jobs/detail`: `limit` jobs at a time in id
/// order, with a `jobs_links` next link while more remain.
async fn list(
    ctx: Context,
    State(st): State<AdminState>,
    headers: HeaderMap,
    Query(params): Query<Vec<(String, String)>>,
) -> Result<Json<Value>, ApiError> {
    ctx.require_admin("admin_api:jobs:list")?;
    const FILTERS: [&str; 3] = ["project_id", "type", "status"];
    let mut known = FILTERS.to_vec();
    known.extend(["limit", "marker"]);
    reject_unknown_params(&params, &known)?;

    let mut filter = JobFilter::default();
    let mut limit = DEFAULT_LIMIT;
    let mut marker = None;
    for (k, v) in &params {
        match k.as_str() {
            "project_id" => filter.project_id = Some(required_str("project_id", v, 255)?),
            "type" => filter.job_type = Some(required_str("type", v, 64)?),
            "status" => {
                filter.status = Some(v.parse::<JobStatus>().map_err(ApiError::bad_request)?)
            }
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
            "marker" => marker = Some(required_str("marker", v, 36)?),
            _ => {}
        }
    }
    let page = st
        .store
        .list_jobs(&filter, marker.as_deref(), limit)
        .await?;
    let jobs: Vec<Value> = page.jobs.iter().map(view).collect();
    let mut body = json!({"jobs": jobs});
    if page.has_more {
        if let Some(last) = page.jobs.last() {
            let mut query: Vec<(String, String)> = params
                .iter()
                .filter(|(k, _)| FILTERS.contains(&k.as_str()))
                .cloned()
                .collect();
            query.push(("limit".into(), limit.to_string()));
            query.push(("marker".into(), last.id.clone()));
            let qs = url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(query)
                .finish();
            body["jobs_links"] = json!([{
                "rel": "next",
                "href": format!("{}/v1.0/jobs?{qs}", base_url(&headers)),
            }]);
        }
    }
    Ok(Json(body))
}

/// `GET /v1.0/jobs/schemas`: every job type and the resource keys it needs.
async fn schemas(ctx: Context, State(st): State<AdminState>) -> Result<Json<Value>, ApiError> {
    ctx.require_admin("admin_api:jobs:schema_list")?;
    let schemas = st
        .jobs
        .as_ref()
        .map(|j| j.registry.schemas())
        .unwrap_or_default();
    Ok(Json(json!({"schemas": schemas})))
}

async fn create(
    ctx: Context,
    State(st): State<AdminState>,
    JsonBody(body): JsonBody<CreateBody>,
) -> Result<Json<Value>, ApiError> {
    ctx.require_admin("admin_api:jobs:create")?;
    let f = body.job;
    let job_type = required_str("type", &f.job_type, 64)?;
    let project_id = required_str("project_id", &f.project_id, 255)?;
    let jobs = st.jobs.as_ref();
    let Some(schema) = jobs.and_then(|j| j.registry.schema(&job_type)) else {
        let known: Vec<String> = jobs
            .map(|j| {
                j.registry
                    .schemas()
                    .into_iter()
                    .map(|s| s.job_type)
                    .collect()
            })
            .unwrap_or_default();
        return Err(ApiError::bad_request(format!(
            "Unknown job type '{job_type}'; known types: {}",
            if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            }
        )));
    };
    schema.check(&f.resource).map_err(ApiError::bad_request)?;
    let resource_id = schema.resource_id(&f.resource);
    let id = st
        .store
        .enqueue_job(&job_type, &project_id, &resource_id, &f.resource)
        .await?;
    if let Some(j) = jobs {
        j.kicker.kick();
    }
    let job = st.store.get_job(&id).await?;
    Ok(Json(json!({"job": view(&job)})))
}

async fn show(
    ctx: Context,
    State(st): State<AdminState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    ctx.require_admin("admin_api:jobs:show")?;
    let job = st.store.get_job(job_id(&id)?).await?;
    Ok(Json(json!({"job": view(&job)})))
}

/// `PUT /v1.0/jobs/{id}`: redo a FAIL job (409 in any other state).
async fn redo(
    ctx: Context,
    State(st): State<AdminState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    ctx.require_admin("admin_api:jobs:redo")?;
    let job = st.store.redo_job(job_id(&id)?).await?;
    if let Some(j) = &st.jobs {
        j.kicker.kick();
    }
    Ok(Json(json!({"job": view(&job)})))
}

async fn delete(
    ctx: Context,
    State(st): State<AdminState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    ctx.require_admin("admin_api:jobs:delete")?;
    st.store.delete_job(job_id(&id)?).await?;
    Ok(Json(json!({})))
}
