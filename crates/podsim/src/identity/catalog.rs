//! `/v3/regions`, `/v3/services` and `/v3/endpoints`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};

use super::error::{KsError, KsResult};
use super::extract::{opt_bool, opt_str, req_obj, req_str, Auth, Body, Params};
use super::Identity;

type Created = (StatusCode, Json<Value>);

// --------------------------------------------------------------- regions

pub(crate) async fn list_regions(
    State(id): State<Identity>,
    Auth(_c): Auth,
    params: Params,
) -> Json<Value> {
    Json(id.with_store(|s| {
        let regions: Vec<Value> = s
            .regions
            .iter()
            .filter(|r| {
                params
                    .get("parent_region_id")
                    .is_none_or(|p| r.parent_region_id.as_deref() == Some(p))
            })
            .map(|r| s.region_json(r))
            .collect();
        json!({"regions": regions, "links": params.collection_links(&s.public_url)})
    }))
}

pub(crate) async fn show_region(
    State(id): State<Identity>,
    Auth(_c): Auth,
    Path(region_id): Path<String>,
) -> KsResult<Json<Value>> {
    id.with_store(|s| {
        s.region(&region_id)
            .map(|r| Json(json!({"region": s.region_json(r)})))
            .ok_or_else(|| KsError::not_found("region", &region_id))
    })
}

fn create_region_inner(
    id: &Identity,
    explicit_id: Option<String>,
    body: &serde_json::Map<String, Value>,
) -> KsResult<Created> {
    let region = req_obj(body, "region", "request body")?;
    let body_id = opt_str(region, "id")?.map(str::to_string);
    let region_id =
        match (explicit_id, body_id) {
            (Some(a), Some(b)) if a != b => return Err(KsError::bad_request(
                "Conflicting region IDs specified: the region ID in the URL does not match the \
                 one in the request body",
            )),
            (Some(a), _) => Some(a),
            (None, b) => b,
        };
    let description = opt_str(region, "description")?
        .unwrap_or_default()
        .to_string();
    let parent = opt_str(region, "parent_region_id")?.map(str::to_string);
    id.with_store_mut(|s| {
        let r = s.create_region(region_id, description, parent)?;
        Ok((
            StatusCode::CREATED,
            Json(json!({"region": s.region_json(&r)})),
        ))
    })
}

pub(crate) async fn create_region(
    State(id): State<Identity>,
    Auth(c): Auth,
    Body(body): Body,
) -> KsResult<Created> {
    c.require_admin("identity:create_region")?;
    create_region_inner(&id, None, &body)
}

/// `PUT /v3/regions/{id}` creates a region with a chosen id.
pub(crate) async fn put_region(
    State(id): State<Identity>,
    Auth(c): Auth,
    Path(region_id): Path<String>,
    Body(body): Body,
) -> KsResult<Created> {
    c.require_admin("identity:create_region")?;
    create_region_inner(&id, Some(region_id), &body)
}

pub(crate) async fn delete_region(
    State(id): State<Identity>,
    Auth(c): Auth,
    Path(region_id): Path<String>,
) -> KsResult<StatusCode> {
    c.require_admin("identity:delete_region")?;
    id.with_store_mut(|s| s.delete_region(&region_id))?;
    Ok(StatusCode::NO_CONTENT)
}

// -------------------------------------------------------------- services

pub(crate) async fn list_services(
    State(id): State<Identity>,
    Auth(_c): Auth,
    params: Params,
) -> Json<Value> {
    Json(id.with_store(|s| {
        let services: Vec<Value> = s
            .services
            .iter()
            .filter(|svc| {
                params.matches("type", &svc.service_type) && params.matches("name", &svc.name)
            })
            .map(|svc| s.service_json(svc))
            .collect();
        json!({"services": services, "links": params.collection_links(&s.public_url)})
    }))
}

pub(crate) async fn show_service(
    State(id): State<Identity>,
    Auth(_c): Auth,
    Path(service_id): Path<String>,
) -> KsResult<Json<Value>> {
    id.with_store(|s| {
        s.service(&service_id)
            .map(|svc| Json(json!({"service": s.service_json(svc)})))
            .ok_or_else(|| KsError::not_found("service", &service_id))
    })
}

pub(crate) async fn create_service(
    State(id): State<Identity>,
    Auth(c): Auth,
    Body(body): Body,
) -> KsResult<Created> {
    c.require_admin("identity:create_service")?;
    let service = req_obj(&body, "service", "request body")?;
    let service_type = req_str(service, "type", "service")?;
    let name = opt_str(service, "name")?.unwrap_or_default();
    let description = opt_str(service, "description")?.map(str::to_string);
    let enabled = opt_bool(service, "enabled")?.unwrap_or(true);
    Ok(id.with_store_mut(|s| {
        let svc = s.create_service(service_type, name, description, enabled);
        (
            StatusCode::CREATED,
            Json(json!({"service": s.service_json(&svc)})),
        )
    }))
}

pub(crate) async fn delete_service(
    State(id): State<Identity>,
    Auth(c): Auth,
    Path(service_id): Path<String>,
) -> KsResult<StatusCode> {
    c.require_admin("identity:delete_service")?;
    id.with_store_mut(|s| s.delete_service(&service_id))?;
    Ok(StatusCode::NO_CONTENT)
}

// ------------------------------------------------------------- endpoints

pub(crate) async fn list_endpoints(
    State(id): State<Identity>,
    Auth(_c): Auth,
    params: Params,
) -> Json<Value> {
    Json(id.with_store(|s| {
        let endpoints: Vec<Value> = s
            .endpoints
            .iter()
            .filter(|e| {
                params.matches("interface", &e.interface)
                    && params.matches("service_id", &e.service_id)
                    && params
                        .get("region_id")
                        .is_none_or(|r| e.region_id.as_deref() == Some(r))
            })
            .map(|e| s.endpoint_json(e))
            .collect();
        json!({"endpoints": endpoints, "links": params.collection_links(&s.public_url)})
    }))
}

pub(crate) async fn show_endpoint(
    State(id): State<Identity>,
    Auth(_c): Auth,
    Path(endpoint_id): Path<String>,
) -> KsResult<Json<Value>> {
    id.with_store(|s| {
        s.endpoint(&endpoint_id)
            .map(|e| Json(json!({"endpoint": s.endpoint_json(e)})))
            .ok_or_else(|| KsError::not_found("endpoint", &endpoint_id))
    })
}

pub(crate) async fn create_endpoint(
    State(id): State<Identity>,
    Auth(c): Auth,
    Body(body): Body,
) -> KsResult<Created> {
    c.require_admin("identity:create_endpoint")?;
    let endpoint = req_obj(&body, "endpoint", "request body")?;
    let service_id = req_str(endpoint, "service_id", "endpoint")?;
    let interface = req_str(endpoint, "interface", "endpoint")?;
    let url = req_str(endpoint, "url", "endpoint")?;
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(KsError::bad_request(format!(
            "Cannot create an endpoint with an invalid URL: {url}."
        )));
    }
    let region_id = match opt_str(endpoint, "region_id")? {
        Some(r) => Some(r.to_string()),
        None => opt_str(endpoint, "region")?.map(str::to_string),
    };
    let enabled = opt_bool(endpoint, "enabled")?.unwrap_or(true);
    id.with_store_mut(|s| {
        let e = s.create_endpoint(service_id, region_id, interface, url, enabled)?;
        Ok((
            StatusCode::CREATED,
            Json(json!({"endpoint": s.endpoint_json(&e)})),
        ))
    })
}

pub(crate) async fn delete_endpoint(
    State(id): State<Identity>,
    Auth(c): Auth,
    Path(endpoint_id): Path<String>,
) -> KsResult<StatusCode> {
    c.require_admin("identity:delete_endpoint")?;
    id.with_store_mut(|s| s.delete_endpoint(&endpoint_id))?;
    Ok(StatusCode::NO_CONTENT)
}
