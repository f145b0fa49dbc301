//! Token checks for a pod's resource APIs, as keystonemiddleware does them
//! in front of every real OpenStack service.

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::pod::Pod;

/// Who is calling, from a validated token.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    pub user_id: String,
    pub project_id: String,
    pub roles: Vec<String>,
}

impl Caller {
    pub fn is_admin(&self) -> bool {
        self.roles.iter().any(|r| r == "admin")
    }
}

/// Validates `X-Auth-Token` against the pod's identity service. A pod
/// without one (unit tests) treats every caller as an admin of `admin`.
#[allow(clippy::result_large_err)] // an error response, built once per failed request
pub(crate) fn authenticate(pod: &Pod, headers: &HeaderMap) -> Result<Caller, Response> {
    let Some(identity) = &pod.config().identity else {
        return Ok(Caller {
            user_id: "admin".into(),
            project_id: "admin".into(),
            roles: vec!["admin".into()],
        });
    };
    let unauthorized = || {
        let mut resp = (
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": {"code": 401, "title": "Unauthorized",
                "message": "The request you have made requires authentication."}})),
        )
            .into_response();
        if let Ok(v) = format!("Keystone uri=\"{}/v3\"", identity.public_url()).parse() {
            resp.headers_mut().insert("www-authenticate", v);
        }
        resp
    };
    let token = headers
        .get("x-auth-token")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(unauthorized)?;
    let body = identity.validate(token).ok_or_else(unauthorized)?;
    let t = &body["token"];
    Ok(Caller {
        user_id: t["user"]["id"].as_str().unwrap_or_default().to_string(),
        project_id: t["project"]["id"].as_str().unwrap_or_default().to_string(),
        roles: t["roles"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| r["name"].as_str().map(str::to_string))
            .collect(),
    })
}
