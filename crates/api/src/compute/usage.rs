//! `os-simple-tenant-usage`: the usage of every pod, as one (see
//! [`tricircle_compute::usage`]); here the request is parsed and the
//! answer rendered, with its next link.

use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde_json::json;
use tricircle_compute::usage::UsageQuery;
use tricircle_compute::Compute;

use super::hypervisors::gathered;
use super::microversion::Microversion;
use crate::error::ApiError;
use crate::gateway::listing;
use crate::gateway::{domain_caller, Call, GatewayState};

fn parse_limit(v: &str, mv: Microversion) -> Result<usize, ApiError> {
    match v.parse::<i64>() {
        Ok(n) if n >= 0 => Ok(usize::try_from(n).unwrap_or(usize::MAX)),
        _ if mv.at_least(75) => Err(ApiError::bad_request(format!(
            "Invalid input for query parameters limit. Value: {v}. '{v}' does not match '^[0-9]*$'"
        ))),
        Ok(_) => Err(ApiError::bad_request("limit param must be positive")),
        Err(_) => Err(ApiError::bad_request("limit param must be an integer")),
    }
}

fn encode(pairs: &[(String, String)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

fn parse_query(
    params: &[(String, String)],
    mv: Microversion,
    tenant: Option<String>,
    strict: bool,
) -> Result<UsageQuery, ApiError> {
    let last = |k: &str| {
        params
            .iter()
            .rev()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
    };
    let paged = mv.at_least(40);
    let (limit, marker) = if paged {
        (
            last("limit").map(|l| parse_limit(&l, mv)).transpose()?,
            last("marker"),
        )
    } else {
        (None, None)
    };
    Ok(UsageQuery {
        // Show always details; index when asked.
        detailed: tenant.is_some() || last("detailed").as_deref() == Some("1"),
        // Refused from 2.75 on, as the pods refuse it.
        detailed_param: last("detailed"),
        tenant,
        paged,
        limit,
        marker,
        pass: params
            .iter()
            .filter(|(k, _)| !matches!(k.as_str(), "limit" | "marker" | "detailed"))
            .cloned()
            .collect(),
        strict,
    })
}

async fn usage(
    st: GatewayState,
    c: Call,
    mv: Microversion,
    raw: Option<String>,
    tenant: Option<String>,
) -> Result<Response, ApiError> {
    let params: Vec<(String, String)> =
        url::form_urlencoded::parse(raw.as_deref().unwrap_or("").as_bytes())
            .into_owned()
            .collect();
    let q = parse_query(&params, mv, tenant, listing::strict(&c.headers))?;
    let compute = Compute::new(st.gateway.clone());
    let r = compute.usage(&domain_caller(&c), &q).await;
    gathered(&st, r, |usages| {
        let (key, links_key, collection) = match &q.tenant {
            Some(t) => (
                "tenant_usage",
                "tenant_usage_links",
                format!("os-simple-tenant-usage/{t}"),
            ),
            None => (
                "tenant_usages",
                "tenant_usages_links",
                "os-simple-tenant-usage".to_string(),
            ),
        };
        let mut body = match &q.tenant {
            Some(_) => {
                json!({ key: usages.entries.into_iter().next().unwrap_or_else(|| json!({})) })
            }
            None => json!({ key: usages.entries }),
        };
        if let Some(last_id) = usages.next_marker {
            let mut next: Vec<(String, String)> = params
                .iter()
                .filter(|(k, _)| k != "marker")
                .cloned()
                .collect();
            next.push(("marker".into(), last_id));
            body[links_key] = json!([{"rel": "next",
                "href": format!("{}/v2.1/{collection}?{}", c.root, encode(&next))}]);
        }
        Json(body).into_response()
    })
}

/// `GET /os-simple-tenant-usage` (admin): every project's usage.
pub async fn index(
    State(st): State<GatewayState>,
    c: Call,
    Extension(mv): Extension<Microversion>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    c.ctx
        .require_admin("os_compute_api:os-simple-tenant-usage:list")?;
    usage(st, c, mv, raw, None).await
}

/// `GET /os-simple-tenant-usage/{tenant_id}`: one project's usage (its
/// members, or admin).
pub async fn show(
    State(st): State<GatewayState>,
    c: Call,
    Extension(mv): Extension<Microversion>,
    Path(tenant): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    if !c.ctx.is_admin() && c.ctx.project_id != tenant {
        return Err(ApiError::forbidden(
            "os_compute_api:os-simple-tenant-usage:show",
        ));
    }
    usage(st, c, mv, raw, Some(tenant)).await
}

pub(super) fn routes() -> axum::Router<GatewayState> {
    use axum::routing::get;
    axum::Router::new()
        .route("/v2.1/os-simple-tenant-usage", get(index))
        .route("/v2.1/os-simple-tenant-usage/{tenant}", get(show))
}
