//! Version discovery documents: `GET /` (300) and `GET /v3` (200).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::Identity;

pub(crate) const API_VERSION: &str = "v3.14";
const UPDATED: &str = "2020-04-07T00:00:00Z";

fn v3_doc(public_url: &str) -> Value {
    json!({
        "id": API_VERSION,
        "status": "stable",
        "updated": UPDATED,
        "links": [{"rel": "self", "href": format!("{public_url}/v3/")}],
        "media-types": [{
            "base": "application/json",
            "type": "application/vnd.openstack.identity-v3+json",
        }],
    })
}

/// `GET /`: 300 Multiple Choices with `{"versions": {"values": [...]}}`.
pub(crate) async fn versions(State(id): State<Identity>) -> Response {
    let doc = v3_doc(id.public_url());
    (
        StatusCode::MULTIPLE_CHOICES,
        Json(json!({"versions": {"values": [doc]}})),
    )
        .into_response()
}

/// `GET /v3`: 200 with `{"version": {...}}`.
pub(crate) async fn v3(State(id): State<Identity>) -> Json<Value> {
    Json(json!({"version": v3_doc(id.public_url())}))
}
