//! Pod version discovery documents over real HTTP.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::start;
use serde_json::Value;

async fn get(url: &str) -> (u16, Value) {
    let res = reqwest::get(url).await.unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap())
}

#[tokio::test]
async fn compute_versions() {
    let h = start().await;
    for path in ["/compute", "/compute/"] {
        let (status, body) = get(&format!("{}{path}", h.pod1)).await;
        assert_eq!(status, 200, "{path}");
        let versions = body["versions"].as_array().unwrap();
        let current = versions.iter().find(|v| v["id"] == "v2.1").unwrap();
        assert_eq!(current["status"], "CURRENT");
        assert_eq!(current["version"], "2.96");
        assert_eq!(current["min_version"], "2.1");
        assert_eq!(
            current["links"][0]["href"],
            format!("{}/compute/v2.1/", h.pod1)
        );
    }
    for path in ["/compute/v2.1", "/compute/v2.1/"] {
        let (status, body) = get(&format!("{}{path}", h.pod1)).await;
        assert_eq!(status, 200, "{path}");
        let v = &body["version"];
        assert_eq!(v["id"], "v2.1");
        assert_eq!(v["version"], "2.96");
        assert_eq!(v["min_version"], "2.1");
        assert_eq!(
            v["media-types"][0]["type"],
            "application/vnd.openstack.compute+json;version=2.1"
        );
    }
}

#[tokio::test]
async fn volume_versions() {
    let h = start().await;
    for path in ["/volume", "/volume/"] {
        let (status, body) = get(&format!("{}{path}", h.pod1)).await;
        assert_eq!(status, 300, "{path}");
        assert_eq!(body["versions"][0]["id"], "v3.0");
    }
    for path in ["/volume/v3", "/volume/v3/"] {
        let (status, body) = get(&format!("{}{path}", h.pod1)).await;
        assert_eq!(status, 200, "{path}");
        let v = &body["versions"][0];
        assert_eq!(v["id"], "v3.0");
        assert_eq!(v["status"], "CURRENT");
        assert_eq!(v["min_version"], "3.0");
        assert_eq!(v["version"], "3.70");
        let links = v["links"].as_array().unwrap();
        assert!(links
            .iter()
            .any(|l| l["rel"] == "self" && l["href"] == format!("{}/volume/v3/", h.pod1)));
    }
}

#[tokio::test]
async fn network_versions() {
    let h = start().await;
    for path in ["/network", "/network/"] {
        let (status, body) = get(&format!("{}{path}", h.pod1)).await;
        assert_eq!(status, 200, "{path}");
        assert_eq!(body["versions"][0]["id"], "v2.0");
        assert_eq!(body["versions"][0]["status"], "CURRENT");
        assert_eq!(
            body["versions"][0]["links"][0]["href"],
            format!("{}/network/v2.0/", h.pod1)
        );
    }
    let (status, body) = get(&format!("{}/network/v2.0", h.pod1)).await;
    assert_eq!(status, 200);
    let collections: Vec<&str> = body["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["collection"].as_str().unwrap())
        .collect();
    for c in ["networks", "subnets", "ports", "routers"] {
        assert!(collections.contains(&c), "{c}");
    }
}

#[tokio::test]
async fn image_versions() {
    let h = start().await;
    let (status, body) = get(&format!("{}/image/versions", h.pod1)).await;
    assert_eq!(status, 200);
    assert_eq!(body["versions"][0]["status"], "CURRENT");
    assert_eq!(
        body["versions"][0]["links"][0]["href"],
        format!("{}/image/v2/", h.pod1)
    );
    for path in ["/image", "/image/"] {
        let (status, body) = get(&format!("{}{path}", h.pod1)).await;
        assert_eq!(status, 300, "{path}");
        assert!(body["versions"].as_array().unwrap().len() > 1);
    }
}

#[tokio::test]
async fn unknown_paths_are_404_in_service_style() {
    let h = start().await;
    let (status, body) = get(&format!("{}/compute/v2.1/nope", h.pod1)).await;
    assert_eq!(status, 404);
    assert_eq!(body["itemNotFound"]["code"], 404);
    let (status, body) = get(&format!("{}/network/v2.0/nope", h.pod1)).await;
    assert_eq!(status, 404);
    assert_eq!(body["NeutronError"]["type"], "HTTPNotFound");
    let (status, body) = get(&format!("{}/elsewhere", h.pod1)).await;
    assert_eq!(status, 404);
    assert_eq!(body["error"]["code"], 404);
}
