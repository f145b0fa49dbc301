//! `os-hypervisors` (admin only): every pod's hypervisors as one list
//! (see [`tricircle_compute::hypervisors`]); here the requests are parsed
//! and the answers rendered, with the pods left out named.

use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde_json::{json, Value};
use tricircle_compute::hypervisors::{HypervisorQuery, Shown};
use tricircle_compute::{Compute, ComputeError};
use tricircle_gateway::ask_all::Gathered;

use super::microversion::Microversion;
use crate::error::ApiError;
use crate::gateway::forward::Respond as _;
use crate::gateway::listing::{self, render_gathered};
use crate::gateway::{domain_caller, Call, GatewayState};

fn pairs(raw: Option<&str>) -> Vec<(String, String)> {
    url::form_urlencoded::parse(raw.unwrap_or("").as_bytes())
        .into_owned()
        .collect()
}

fn encode(pairs: &[(String, String)]) -> Option<String> {
    (!pairs.is_empty()).then(|| {
        url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish()
    })
}

/// What every pod was asked, rendered: a refused token is the caller's
/// 401; the pods left out are named.
pub(super) fn gathered<T>(
    st: &GatewayState,
    r: Result<Gathered<T, ComputeError>, ComputeError>,
    render: impl FnOnce(T) -> Response,
) -> Result<Response, ApiError> {
    match r {
        Err(ComputeError::TokenRefused) => Ok(st.auth.unauthorized_response()),
        Err(e) => Err(e.into()),
        Ok(g) => Ok(render_gathered(g, render)),
    }
}

fn parse_limit(v: &str, mv: Microversion) -> Result<usize, ApiError> {
    match v.parse::<i64>() {
        Ok(n) if n >= 0 => Ok(usize::try_from(n).unwrap_or(usize::MAX)),
        _ if mv.at_least(53) => Err(ApiError::bad_request(format!(
            "Invalid input for query parameters limit. Value: {v}. '{v}' does not match '^[0-9]*$'"
        ))),
        Ok(_) => Err(ApiError::bad_request("limit param must be positive")),
        Err(_) => Err(ApiError::bad_request("limit param must be an integer")),
    }
}

fn parse_query(
    raw: Option<&str>,
    mv: Microversion,
    detail: bool,
    strict: bool,
) -> Result<HypervisorQuery, ApiError> {
    let mut q = HypervisorQuery {
        detail,
        uuids: mv.at_least(53),
        strict,
        ..Default::default()
    };
    for (k, v) in pairs(raw) {
        match k.as_str() {
            "limit" if mv.at_least(33) => q.limit = Some(parse_limit(&v, mv)?),
            "marker" if mv.at_least(33) => q.marker = Some(v),
            "hypervisor_hostname_pattern" if mv.at_least(53) => q.pattern = Some(v),
            // Validated by the pods as they validate them.
            _ => q.pass.push((k, v)),
        }
    }
    if q.pattern.is_some() && (q.limit.is_some() || q.marker.is_some()) {
        return Err(ApiError::bad_request(
            "Paging over hypervisors with the hypervisor_hostname_pattern query parameter is not supported.",
        ));
    }
    Ok(q)
}

async fn list(
    st: GatewayState,
    c: Call,
    mv: Microversion,
    raw: Option<String>,
    detail: bool,
) -> Result<Response, ApiError> {
    c.ctx.require_admin(if detail {
        "os_compute_api:os-hypervisors:list-detail"
    } else {
        "os_compute_api:os-hypervisors:list"
    })?;
    let q = parse_query(raw.as_deref(), mv, detail, listing::strict(&c.headers))?;
    let compute = Compute::new(st.gateway.clone());
    let r = compute.hypervisors(&domain_caller(&c), &q).await;
    gathered(&st, r, |page| {
        let mut body = json!({});
        if let (Some(l), Some(last)) = (q.limit, page.next_marker) {
            let path = if detail {
                "os-hypervisors/detail"
            } else {
                "os-hypervisors"
            };
            let mut pass = q.pass.clone();
            pass.push(("limit".into(), l.to_string()));
            pass.push(("marker".into(), last));
            body["hypervisors_links"] = json!([{"rel": "next",
                "href": format!("{}/v2.1/{path}?{}", c.root, encode(&pass).unwrap_or_default())}]);
        }
        body["hypervisors"] = Value::Array(page.hypervisors);
        Json(body).into_response()
    })
}

pub async fn index(
    State(st): State<GatewayState>,
    c: Call,
    Extension(mv): Extension<Microversion>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    list(st, c, mv, raw, false).await
}

pub async fn detail(
    State(st): State<GatewayState>,
    c: Call,
    Extension(mv): Extension<Microversion>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    list(st, c, mv, raw, true).await
}

/// One hypervisor (`tail`: `uptime`), found by its id.
async fn one(
    st: &GatewayState,
    c: &Call,
    mv: Microversion,
    id: &str,
    tail: Option<&str>,
    query: Option<String>,
) -> Result<Response, ApiError> {
    let compute = Compute::new(st.gateway.clone());
    let strict = listing::strict(&c.headers);
    let r = compute
        .hypervisor(&domain_caller(c), id, tail, query, mv.at_least(53), strict)
        .await;
    gathered(st, r, |shown| match shown {
        Shown::Body(doc) => Json(doc).into_response(),
        Shown::Pod(answer) => answer.into_response(),
    })
}

pub async fn show(
    State(st): State<GatewayState>,
    c: Call,
    Extension(mv): Extension<Microversion>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    c.ctx.require_admin("os_compute_api:os-hypervisors:show")?;
    one(&st, &c, mv, &id, None, raw).await
}

/// The resource Nova no longer has at this microversion.
fn gone() -> ApiError {
    ApiError::not_found("The resource could not be found.")
}

/// `GET /os-hypervisors/{id}/uptime` (until 2.87).
pub async fn uptime(
    State(st): State<GatewayState>,
    c: Call,
    Extension(mv): Extension<Microversion>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    if mv.at_least(88) {
        return Err(gone());
    }
    c.ctx
        .require_admin("os_compute_api:os-hypervisors:uptime")?;
    one(&st, &c, mv, &id, Some("uptime"), None).await
}

/// `GET /os-hypervisors/statistics` (until 2.87): the pods' sums, summed.
pub async fn statistics(
    State(st): State<GatewayState>,
    c: Call,
    Extension(mv): Extension<Microversion>,
) -> Result<Response, ApiError> {
    if mv.at_least(88) {
        return Err(gone());
    }
    c.ctx
        .require_admin("os_compute_api:os-hypervisors:statistics")?;
    let compute = Compute::new(st.gateway.clone());
    let r = compute
        .hypervisor_statistics(&domain_caller(&c), listing::strict(&c.headers))
        .await;
    gathered(&st, r, |sums| {
        Json(json!({ "hypervisor_statistics": sums })).into_response()
    })
}

/// `GET /os-hypervisors/{pattern}/search` (until 2.52).
pub async fn search(
    State(st): State<GatewayState>,
    c: Call,
    Extension(mv): Extension<Microversion>,
    Path(pattern): Path<String>,
) -> Result<Response, ApiError> {
    if mv.at_least(53) {
        return Err(gone());
    }
    c.ctx
        .require_admin("os_compute_api:os-hypervisors:search")?;
    let compute = Compute::new(st.gateway.clone());
    let r = compute
        .search_hypervisors(&domain_caller(&c), &pattern, listing::strict(&c.headers))
        .await;
    gathered(&st, r, |items| {
        Json(json!({ "hypervisors": items })).into_response()
    })
}

/// `GET /os-hypervisors/{pattern}/servers` (until 2.52): the matching
/// hypervisors, each with its servers as its pod lists them.
pub async fn servers(
    State(st): State<GatewayState>,
    c: Call,
    Extension(mv): Extension<Microversion>,
    Path(pattern): Path<String>,
) -> Result<Response, ApiError> {
    if mv.at_least(53) {
        return Err(gone());
    }
    c.ctx
        .require_admin("os_compute_api:os-hypervisors:servers")?;
    let compute = Compute::new(st.gateway.clone());
    let r = compute
        .hypervisor_servers(&domain_caller(&c), &pattern, listing::strict(&c.headers))
        .await;
    gathered(&st, r, |items| {
        Json(json!({ "hypervisors": items })).into_response()
    })
}

pub(super) fn routes() -> axum::Router<GatewayState> {
    use axum::routing::get;
    axum::Router::new()
        .route("/v2.1/os-hypervisors", get(index))
        .route("/v2.1/os-hypervisors/detail", get(detail))
        .route("/v2.1/os-hypervisors/statistics", get(statistics))
        .route("/v2.1/os-hypervisors/{id}", get(show))
        .route("/v2.1/os-hypervisors/{id}/uptime", get(uptime))
        .route("/v2.1/os-hypervisors/{id}/search", get(search))
        .route("/v2.1/os-hypervisors/{id}/servers", get(servers))
}
