//! One region's OpenStack services behind a single listener, under
//! devstack-like path prefixes:
//!
//! | service | prefix | catalog URL |
//! |---|---|---|
//! | compute (nova) | `/compute` | `{base}/compute/v2.1` |
//! | volumev3 (cinderv3) | `/volume` | `{base}/volume/v3/$(project_id)s` |
//! | network (neutron) | `/network` | `{base}/network` |
//! | image (glance) | `/image` | `{base}/image` |
//!
//! The version documents are served here; the resource APIs live in
//! [`crate::compute`] (Nova), [`crate::volume`] (Cinder) and
//! [`crate::image`] (Glance), each a module with its own state, reached
//! through the [`Pod`] handle so that services of one pod can talk to each
//! other (Nova attaching a Cinder volume, booting a Glance image).

use std::sync::Arc;

use axum::extract::Request;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

/// Highest compute microversion advertised.
pub const NOVA_MAX_VERSION: &str = "2.96";
/// Lowest compute microversion accepted.
pub const NOVA_MIN_VERSION: &str = "2.1";
/// Highest block-storage microversion advertised.
pub const CINDER_MAX_VERSION: &str = "3.70";
/// Lowest block-storage microversion accepted.
pub const CINDER_MIN_VERSION: &str = "3.0";
/// Image API versions advertised, newest first.
const GLANCE_VERSIONS: [&str; 17] = [
    "v2.16", "v2.15", "v2.14", "v2.13", "v2.12", "v2.11", "v2.10", "v2.9", "v2.8", "v2.7", "v2.6",
    "v2.5", "v2.4", "v2.3", "v2.2", "v2.1", "v2.0",
];
/// Neutron top-level resources listed at `/network/v2.0`.
const NEUTRON_RESOURCES: [(&str, &str); 8] = [
    ("network", "networks"),
    ("subnet", "subnets"),
    ("port", "ports"),
    ("router", "routers"),
    ("floatingip", "floatingips"),
    ("security_group", "security-groups"),
    ("security_group_rule", "security-group-rules"),
    ("subnetpool", "subnetpools"),
];

/// Pod configuration.
#[derive(Clone)]
pub struct PodConfig {
    /// The region (Keystone region id) this pod serves, e.g. `Pod1`.
    pub region: String,
    /// Validates `X-Auth-Token` of resource requests, as keystonemiddleware
    /// does in a real pod. `None`: tokens are not checked and every caller
    /// is an admin of project `admin` (for unit tests only).
    pub identity: Option<crate::Identity>,
    /// The availability zone inside this pod (Nova and Cinder), `nova` by
    /// default.
    pub availability_zone: String,
    /// Added to every request, to simulate a distant pod.
    pub latency: std::time::Duration,
    /// An image service shared with other pods (one Glance serving every
    /// pod, as in the seed's deployment). `None`: the pod has its own.
    pub images: Option<crate::image::ImageService>,
    /// The physical networks VLAN and flat networks may use, as ML2's
    /// `network_vlan_ranges` and `flat_networks` give them; a network on
    /// any other is refused as Neutron refuses it. Empty: any name.
    pub physical_networks: Vec<String>,
}

impl PodConfig {
    pub fn new(region: &str) -> Self {
        PodConfig {
            region: region.to_string(),
            identity: None,
            availability_zone: "nova".to_string(),
            latency: std::time::Duration::ZERO,
            images: None,
            physical_networks: Vec::new(),
        }
    }

    pub fn with_identity(mut self, identity: crate::Identity) -> Self {
        self.identity = Some(identity);
        self
    }

    pub fn with_images(mut self, images: crate::image::ImageService) -> Self {
        self.images = Some(images);
        self
    }
}

/// Answers held back: to requests of `method` (any when `None`) under
/// `path_prefix`.
struct AnswerDelay {
    method: Option<axum::http::Method>,
    path_prefix: String,
    delay: std::time::Duration,
}

struct Inner {
    cfg: PodConfig,
    compute: crate::compute::ComputeService,
    volume: crate::volume::VolumeService,
    network: crate::network::NetworkService,
    images: crate::image::ImageService,
    /// Fault injection: when set, every request fails as a pod that is down.
    down: std::sync::atomic::AtomicBool,
    /// Requests that reached the pod (faulty answers included).
    requests: std::sync::atomic::AtomicU64,
    /// Added to every request, microseconds (starts at `cfg.latency`).
    latency_us: std::sync::atomic::AtomicU64,
    /// Added to the answers to requests under a path, after the work is
    /// done.
    answer_delay: std::sync::Mutex<Option<AnswerDelay>>,
}

/// One pod's service endpoints. Cheap to clone; clones share state.
#[derive(Clone)]
pub struct Pod {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Pod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pod")
            .field("region", &self.inner.cfg.region)
            .finish_non_exhaustive()
    }
}

/// `(service_type, service_name, url)` for each service a pod serves, as
/// they go in the Keystone catalog. `pod_base_url` is e.g. `http://127.0.0.1:8001`.
pub fn catalog_entries(pod_base_url: &str) -> Vec<(&'static str, &'static str, String)> {
    let base = pod_base_url.trim_end_matches('/');
    vec![
        ("compute", "nova", format!("{base}/compute/v2.1")),
        (
            "volumev3",
            "cinderv3",
            format!("{base}/volume/v3/$(project_id)s"),
        ),
        ("network", "neutron", format!("{base}/network")),
        ("image", "glance", format!("{base}/image")),
    ]
}

impl Pod {
    pub fn new(cfg: PodConfig) -> Self {
        let images = cfg.images.clone().unwrap_or_default();
        Self {
            inner: Arc::new(Inner {
                compute: crate::compute::ComputeService::default(),
                volume: crate::volume::VolumeService::default(),
                network: crate::network::NetworkService::default(),
                images,
                down: std::sync::atomic::AtomicBool::new(false),
                requests: std::sync::atomic::AtomicU64::new(0),
                latency_us: std::sync::atomic::AtomicU64::new(
                    u64::try_from(cfg.latency.as_micros()).unwrap_or(u64::MAX),
                ),
                answer_delay: std::sync::Mutex::new(None),
                cfg,
            }),
        }
    }

    pub fn config(&self) -> &PodConfig {
        &self.inner.cfg
    }

    pub fn compute(&self) -> &crate::compute::ComputeService {
        &self.inner.compute
    }

    pub fn volume(&self) -> &crate::volume::VolumeService {
        &self.inner.volume
    }

    /// The pod's Neutron state (read by tests through its views).
    pub fn network(&self) -> &crate::network::NetworkService {
        &self.inner.network
    }

    pub fn images(&self) -> &crate::image::ImageService {
        &self.inner.images
    }

    /// Fault injection: a pod that is down answers 503 to everything.
    pub fn set_down(&self, down: bool) {
        self.inner
            .down
            .store(down, std::sync::atomic::Ordering::SeqCst);
    }

    /// Fault injection: every request waits `latency` first (a distant or
    /// overloaded data centre), from now on.
    pub fn set_latency(&self, latency: std::time::Duration) {
        self.inner.latency_us.store(
            u64::try_from(latency.as_micros()).unwrap_or(u64::MAX),
            std::sync::atomic::Ordering::SeqCst,
        );
    }

    /// Fault injection: requests under `path_prefix` (e.g.
    /// `/compute/v2.1/servers`) are served at once but their answers wait
    /// `delay` (answers stuck on the way back), from now on. A zero delay
    /// ends it.
    pub fn set_answer_delay(&self, path_prefix: &str, delay: std::time::Duration) {
        self.set_answer_delay_on(None, path_prefix, delay);
    }

    /// [`Pod::set_answer_delay`] for requests of one method only (e.g. the
    /// creates under a path, not its lookups).
    pub fn set_answer_delay_on(
        &self,
        method: Option<axum::http::Method>,
        path_prefix: &str,
        delay: std::time::Duration,
    ) {
        let mut guard = self
            .inner
            .answer_delay
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *guard = (!delay.is_zero()).then(|| AnswerDelay {
            method,
            path_prefix: path_prefix.to_string(),
            delay,
        });
    }

    /// How many requests reached this pod so far, whatever they were
    /// answered (for tests that check a pod was, or was not, asked).
    pub fn requests_seen(&self) -> u64 {
        self.inner
            .requests
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    pub fn is_down(&self) -> bool {
        self.inner.down.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// The region this pod serves.
    pub fn region(&self) -> &str {
        &self.inner.cfg.region
    }

    /// All of the pod's services on one router.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/compute", get(nova_versions))
            .route("/compute/", get(nova_versions))
            .route("/compute/v2.1", get(nova_v21))
            .route("/compute/v2.1/", get(nova_v21))
            .route("/compute/v2", get(nova_v2))
            .route("/compute/v2/", get(nova_v2))
            .route("/volume", get(cinder_versions))
            .route("/volume/", get(cinder_versions))
            .route("/volume/v3", get(cinder_v3))
            .route("/volume/v3/", get(cinder_v3))
            .route("/network", get(neutron_versions))
            .route("/network/", get(neutron_versions))
            .route("/network/v2.0", get(neutron_v20))
            .route("/network/v2.0/", get(neutron_v20))
            .route("/image", get(glance_multiple_choices))
            .route("/image/", get(glance_multiple_choices))
            .route("/image/versions", get(glance_versions))
            .merge(crate::compute::routes(self.clone()))
            .merge(crate::volume::routes(self.clone()))
            .merge(crate::network::routes(self.clone()))
            .merge(crate::image::routes(self.clone()))
            .fallback(not_found)
            .layer(axum::middleware::from_fn_with_state(
                self.clone(),
                simulate_conditions,
            ))
            .layer(axum::middleware::from_fn(crate::util::with_request_id))
    }
}

/// Latency and fault injection, in front of every route.
async fn simulate_conditions(
    axum::extract::State(pod): axum::extract::State<Pod>,
    req: Request,
    next: axum::middleware::Next,
) -> Response {
    pod.inner
        .requests
        .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let latency = std::time::Duration::from_micros(
        pod.inner
            .latency_us
            .load(std::sync::atomic::Ordering::SeqCst),
    );
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    if pod.is_down() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(
                json!({"error": {"code": 503, "title": "Service Unavailable",
                "message": "The server is currently unavailable."}}),
            ),
        )
            .into_response();
    }
    let delay = pod
        .inner
        .answer_delay
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .as_ref()
        .filter(|d| {
            req.uri().path().starts_with(d.path_prefix.as_str())
                && d.method.as_ref().is_none_or(|m| m == req.method())
        })
        .map(|d| d.delay);
    let answer = next.run(req).await;
    if let Some(d) = delay {
        tokio::time::sleep(d).await;
    }
    answer
}

/// `http://<Host header>`: services build their links from the request.
pub(crate) fn host_url(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    format!("http://{host}")
}

// ---------------------------------------------------------------- compute

fn nova_v21_doc(base: &str) -> Value {
    json!({
        "id": "v2.1",
        "status": "CURRENT",
        "version": NOVA_MAX_VERSION,
        "min_version": NOVA_MIN_VERSION,
        "updated": "2013-07-23T11:33:21Z",
        "links": [{"rel": "self", "href": format!("{base}/compute/v2.1/")}],
    })
}

fn nova_v2_doc(base: &str) -> Value {
    json!({
        "id": "v2.0",
        "status": "SUPPORTED",
        "version": "",
        "min_version": "",
        "updated": "2011-01-21T11:33:21Z",
        "links": [{"rel": "self", "href": format!("{base}/compute/v2/")}],
    })
}

fn with_details(mut doc: Value, media_type: &str) -> Value {
    if let Some(obj) = doc.as_object_mut() {
        if let Some(Value::Array(links)) = obj.get_mut("links") {
            links.push(json!({
                "rel": "describedby",
                "type": "text/html",
                "href": "http://docs.openstack.org/",
            }));
        }
        obj.insert(
            "media-types".into(),
            json!([{"base": "application/json", "type": media_type}]),
        );
    }
    doc
}

async fn nova_versions(headers: HeaderMap) -> Json<Value> {
    let base = host_url(&headers);
    Json(json!({"versions": [nova_v2_doc(&base), nova_v21_doc(&base)]}))
}

async fn nova_v21(headers: HeaderMap) -> Json<Value> {
    let base = host_url(&headers);
    Json(json!({"version": with_details(
        nova_v21_doc(&base),
        "application/vnd.openstack.compute+json;version=2.1",
    )}))
}

async fn nova_v2(headers: HeaderMap) -> Json<Value> {
    let base = host_url(&headers);
    Json(json!({"version": with_details(
        nova_v2_doc(&base),
        "application/vnd.openstack.compute+json;version=2",
    )}))
}

// ----------------------------------------------------------------- volume

fn cinder_v3_doc(base: &str) -> Value {
    json!({
        "id": "v3.0",
        "status": "CURRENT",
        "version": CINDER_MAX_VERSION,
        "min_version": CINDER_MIN_VERSION,
        "updated": "2023-08-31T00:00:00Z",
        "links": [
            {"rel": "describedby", "type": "text/html", "href": "https://docs.openstack.org/"},
            {"rel": "self", "href": format!("{base}/volume/v3/")},
        ],
        "media-types": [{
            "base": "application/json",
            "type": "application/vnd.openstack.volume+json;version=3",
        }],
    })
}

async fn cinder_versions(headers: HeaderMap) -> Response {
    let base = host_url(&headers);
    (
        StatusCode::MULTIPLE_CHOICES,
        Json(json!({"versions": [cinder_v3_doc(&base)]})),
    )
        .into_response()
}

async fn cinder_v3(headers: HeaderMap) -> Json<Value> {
    let base = host_url(&headers);
    Json(json!({"versions": [cinder_v3_doc(&base)]}))
}

// ---------------------------------------------------------------- network

async fn neutron_versions(headers: HeaderMap) -> Json<Value> {
    let base = host_url(&headers);
    Json(json!({"versions": [{
        "id": "v2.0",
        "status": "CURRENT",
        "links": [{"rel": "self", "href": format!("{base}/network/v2.0/")}],
    }]}))
}

async fn neutron_v20(headers: HeaderMap) -> Json<Value> {
    let base = host_url(&headers);
    let resources: Vec<Value> = NEUTRON_RESOURCES
        .iter()
        .map(|(name, collection)| {
            json!({
                "name": name,
                "collection": collection,
                "links": [{"rel": "self", "href": format!("{base}/network/v2.0/{collection}")}],
            })
        })
        .collect();
    Json(json!({"resources": resources}))
}

// ------------------------------------------------------------------ image

fn glance_versions_doc(base: &str) -> Value {
    let versions: Vec<Value> = GLANCE_VERSIONS
        .iter()
        .enumerate()
        .map(|(i, id)| {
            json!({
                "id": id,
                "status": if i == 0 { "CURRENT" } else { "SUPPORTED" },
                "links": [{"rel": "self", "href": format!("{base}/image/v2/")}],
            })
        })
        .collect();
    json!({"versions": versions})
}

async fn glance_versions(headers: HeaderMap) -> Json<Value> {
    Json(glance_versions_doc(&host_url(&headers)))
}

async fn glance_multiple_choices(headers: HeaderMap) -> Response {
    (
        StatusCode::MULTIPLE_CHOICES,
        Json(glance_versions_doc(&host_url(&headers))),
    )
        .into_response()
}

// -------------------------------------------------------------- not found

/// 404 in the style of the service owning the path prefix.
async fn not_found(req: Request) -> Response {
    let path = req.uri().path();
    let message = "The resource could not be found.";
    let body = if path.starts_with("/compute") || path.starts_with("/volume") {
        json!({"itemNotFound": {"code": 404, "message": message}})
    } else if path.starts_with("/network") {
        json!({"NeutronError": {"type": "HTTPNotFound", "message": message, "detail": ""}})
    } else {
        json!({"error": {"code": 404, "title": "Not Found", "message": message}})
    };
    (StatusCode::NOT_FOUND, Json(body)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalog_entries_follow_devstack_layout() {
        let entries = catalog_entries("http://127.0.0.1:9000/");
        let as_tuples: Vec<(&str, &str, &str)> = entries
            .iter()
            .map(|(t, n, u)| (*t, *n, u.as_str()))
            .collect();
        assert_eq!(
            as_tuples,
            vec![
                ("compute", "nova", "http://127.0.0.1:9000/compute/v2.1"),
                (
                    "volumev3",
                    "cinderv3",
                    "http://127.0.0.1:9000/volume/v3/$(project_id)s"
                ),
                ("network", "neutron", "http://127.0.0.1:9000/network"),
                ("image", "glance", "http://127.0.0.1:9000/image"),
            ]
        );
    }

    #[test]
    fn glance_lists_newest_as_current() {
        let doc = glance_versions_doc("http://h");
        assert_eq!(doc["versions"][0]["id"], "v2.16");
        assert_eq!(doc["versions"][0]["status"], "CURRENT");
        assert_eq!(doc["versions"][1]["status"], "SUPPORTED");
        assert_eq!(doc["versions"][16]["id"], "v2.0");
    }
}
