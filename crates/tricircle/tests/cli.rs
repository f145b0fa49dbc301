//! The `tricircle` binary as an operator runs it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_tricircle"));
    // Keep the machine's own /etc/tricircle and environment out of it.
    c.env_remove("TRICIRCLE_CONFIG");
    for (k, _) in std::env::vars() {
        if k.starts_with("TRICIRCLE__") || k.starts_with("OS_") {
            c.env_remove(k);
        }
    }
    c
}

fn write(dir: &std::path::Path, name: &str, text: &str) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn bad_config_names_the_option_and_fails() {
    let dir = tempfile::tempdir().unwrap();
    let conf = write(dir.path(), "t.conf", "[DEFAULT]\nadmin_port = lots\n");
    let out = bin()
        .args(["--config", conf.to_str().unwrap(), "serve"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("[DEFAULT] admin_port"), "{err}");

    let out = bin()
        .args(["--config", "/nonexistent/tricircle.conf", "serve"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/tricircle.conf"));
}

#[test]
fn env_overrides_reach_the_binary() {
    let dir = tempfile::tempdir().unwrap();
    let conf = write(dir.path(), "t.conf", "[DEFAULT]\nauth_strategy = noauth\n");
    let out = bin()
        .args(["--config", conf.to_str().unwrap(), "db", "migrate"])
        .env("TRICIRCLE__DATABASE__CONNECTION", "oracle://x")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("[database] connection"), "{err}");
}

/// `serve` refuses an unmigrated database; `db migrate` fixes it; then the
/// admin API answers (noauth, port 0) and stops on SIGTERM.
#[test]
fn migrate_then_serve() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.db");
    let conf = write(
        dir.path(),
        "t.conf",
        &format!(
            "[DEFAULT]\nauth_strategy = noauth\nadmin_port = 0\n[database]\nconnection = sqlite://{}\n",
            db.display()
        ),
    );
    let conf = conf.to_str().unwrap();
    let out = bin().args(["--config", conf, "serve"]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("tricircle db migrate"));

    let out = bin()
        .args(["--config", conf, "db", "migrate"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = bin()
        .args(["--config", conf, "db", "migrate"])
        .output()
        .unwrap();
    assert!(out.status.success(), "migrate is idempotent");

    let mut child = bin()
        .args(["--config", conf, "serve"])
        .env("TRICIRCLE__DEFAULT__LOG_FORMAT", "json")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut addr = None;
    while Instant::now() < deadline {
        let Some(Ok(line)) = lines.next() else { break };
        let v: serde_json::Value = serde_json::from_str(&line).expect("json log line");
        if let Some(a) = v["fields"]["admin"].as_str() {
            addr = Some(a.to_string());
            break;
        }
    }
    let addr = addr.expect("serve logged its admin address");
    let body = http_get(&addr, "/healthcheck");
    assert!(body.starts_with("HTTP/1.1 200"), "{body}");
    let body = http_get(&addr, "/v1.0/pods");
    assert!(body.contains("{\"pods\":[]}"), "{body}");

    terminate(&mut child);
}

/// SIGTERM to a child we started (by its PID), then waits for a clean exit.
fn terminate(child: &mut std::process::Child) {
    let pid = child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "{status}");
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the process did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A minimal HTTP/1.1 GET, so the test needs no HTTP client crate.
fn http_get(addr: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

/// A running `tricircle demo`: its process and the `export`s it printed.
struct Demo {
    child: std::process::Child,
    exports: std::collections::HashMap<String, String>,
    /// The lines it printed before it was ready.
    banner: Vec<String>,
}

impl Demo {
    /// Starts the demo on `data_dir`, every port chosen by the system, and
    /// waits for it to say it is ready.
    fn start(data_dir: &std::path::Path) -> Demo {
        let mut child = bin()
            .args(["demo", "--data-dir", data_dir.to_str().unwrap()])
            .args([
                "--identity-port",
                "0",
                "--admin-port",
                "0",
                "--compute-port",
                "0",
            ])
            .args([
                "--volume-port",
                "0",
                "--network-port",
                "0",
                "--pod-base-port",
                "0",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut banner = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    let ready = line.contains("Tricircle demo is ready");
                    banner.push(line);
                    if ready {
                        break;
                    }
                }
                Err(e) => {
                    let _ = child.kill();
                    panic!("the demo did not get ready ({e}): {banner:?}");
                }
            }
        }
        let exports = banner
            .iter()
            .filter_map(|l| l.strip_prefix("export "))
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Demo {
            child,
            exports,
            banner,
        }
    }

    fn export(&self, name: &str) -> &str {
        self.exports
            .get(name)
            .unwrap_or_else(|| panic!("no {name} in {:?}", self.banner))
    }

    fn stop(mut self) {
        terminate(&mut self.child);
    }
}

impl Drop for Demo {
    /// A failed test does not leave its demo running.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An admin session on a running demo: its token and RegionOne endpoints.
struct Session {
    http: reqwest::Client,
    token: String,
    compute: String,
    network: String,
    admin: String,
}

impl Session {
    async fn open(demo: &Demo) -> Session {
        use serde_json::{json, Value};
        let http = reqwest::Client::new();
        let auth = json!({"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "name": demo.export("OS_USERNAME"),
                "domain": {"name": demo.export("OS_USER_DOMAIN_NAME")},
                "password": demo.export("OS_PASSWORD")}}},
            "scope": {"project": {"name": demo.export("OS_PROJECT_NAME"),
                "domain": {"name": demo.export("OS_PROJECT_DOMAIN_NAME")}}}}});
        let resp = http
            .post(format!("{}/auth/tokens", demo.export("OS_AUTH_URL")))
            .json(&auth)
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_success(), "{}", resp.status());
        let token = resp.headers()["x-subject-token"]
            .to_str()
            .unwrap()
            .to_string();
        let body: Value = resp.json().await.unwrap();
        let endpoint = |service: &str| {
            body["token"]["catalog"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|s| s["type"] == service)
                .flat_map(|s| s["endpoints"].as_array().unwrap().iter())
                .find(|e| e["region_id"] == "RegionOne" && e["interface"] == "public")
                .and_then(|e| e["url"].as_str())
                .unwrap_or_else(|| panic!("no {service} endpoint in RegionOne"))
                .to_string()
        };
        Session {
            compute: endpoint("compute"),
            network: endpoint("network"),
            admin: demo.export("TRICIRCLE_ADMIN_URL").to_string(),
            http,
            token,
        }
    }

    async fn call(
        &self,
        method: reqwest::Method,
        url: String,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        let mut req = self
            .http
            .request(method.clone(), url.clone())
            .header("x-auth-token", &self.token);
        if method == reqwest::Method::POST && url.ends_with("/servers") {
            // Boots ask for a recent microversion, as clients do (the
            // image proxy that `boot` reads first is gone since 2.36).
            req = req.header("openstack-api-version", "compute 2.47");
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)),
        )
    }

    async fn get(&self, url: String) -> serde_json::Value {
        let (s, b) = self.call(reqwest::Method::GET, url.clone(), None).await;
        assert_eq!(s, 200, "GET {url}: {b}");
        b
    }

    /// Boots a server on `network` in az1; its id.
    async fn boot(&self, name: &str, network: &str) -> String {
        let images = self.get(format!("{}/images", self.compute)).await;
        let image = images["images"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["name"] == "cirros-0.6.2-x86_64-disk")
            .and_then(|i| i["id"].as_str())
            .unwrap()
            .to_string();
        let (s, b) = self
            .call(
                reqwest::Method::POST,
                format!("{}/servers", self.compute),
                Some(
                    serde_json::json!({"server": {"name": name, "imageRef": image,
                    "flavorRef": "tiny", "availability_zone": "az1",
                    "networks": [{"uuid": network}]}}),
                ),
            )
            .await;
        assert_eq!(s, 202, "{b}");
        b["server"]["id"].as_str().unwrap().to_string()
    }
}

fn ids(list: &serde_json::Value, key: &str, field: &str) -> Vec<String> {
    list[key]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|i| i[field].as_str().map(str::to_string))
        .collect()
}

/// `tricircle demo --data-dir D` starts again on what an earlier run left
/// in D: the same pods, flavors and top networks; the simulated pods start
/// empty, so servers are gone (with their routings and top ports), and a
/// new server boots on the old network (copied into the pod again).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_restarts_on_its_own_data() {
    use reqwest::Method;
    use serde_json::json;
    let dir = tempfile::tempdir().unwrap();

    let demo = Demo::start(dir.path());
    let s = Session::open(&demo).await;
    let (st, b) = s
        .call(
            Method::POST,
            format!("{}/flavors", s.compute),
            Some(json!({"flavor": {"id": "tiny", "name": "m1.tiny", "vcpus": 1, "ram": 512, "disk": 1}})),
        )
        .await;
    assert_eq!(st, 200, "{b}");
    let (st, b) = s
        .call(
            Method::POST,
            format!("{}/v2.0/networks", s.network),
            Some(json!({"network": {"name": "kept", "shared": true}})),
        )
        .await;
    assert_eq!(st, 201, "{b}");
    let net = b["network"]["id"].as_str().unwrap().to_string();
    let (st, b) = s
        .call(
            Method::POST,
            format!("{}/v2.0/subnets", s.network),
            Some(json!({"subnet": {"network_id": net, "cidr": "10.9.0.0/24", "ip_version": 4}})),
        )
        .await;
    assert_eq!(st, 201, "{b}");
    let old_server = s.boot("vm1", &net).await;
    let pods = ids(&s.get(format!("{}/pods", s.admin)).await, "pods", "pod_id");
    assert_eq!(pods.len(), 3);
    let routings = s.get(format!("{}/routings", s.admin)).await;
    assert!(
        !routings["routings"].as_array().unwrap().is_empty(),
        "the boot made routings"
    );
    demo.stop();

    // Before, this start failed: 409 creating the top pod again.
    let demo = Demo::start(dir.path());
    assert!(
        demo.banner
            .iter()
            .any(|l| l.contains("Restarted on earlier data")),
        "{:?}",
        demo.banner
    );
    let s = Session::open(&demo).await;
    let mut again = ids(&s.get(format!("{}/pods", s.admin)).await, "pods", "pod_id");
    let mut before = pods.clone();
    again.sort();
    before.sort();
    assert_eq!(again, before, "the same pods");
    let flavors = s.get(format!("{}/flavors", s.compute)).await;
    assert!(ids(&flavors, "flavors", "id").contains(&"tiny".to_string()));
    let networks = s.get(format!("{}/v2.0/networks", s.network)).await;
    assert!(ids(&networks, "networks", "id").contains(&net));
    let servers = s.get(format!("{}/servers", s.compute)).await;
    assert!(ids(&servers, "servers", "id").is_empty(), "{servers}");
    let routings = s.get(format!("{}/routings", s.admin)).await;
    assert_eq!(routings["routings"], json!([]));
    let ports = s
        .get(format!("{}/v2.0/ports?device_id={old_server}", s.network))
        .await;
    assert_eq!(
        ports["ports"],
        json!([]),
        "the lost server's port is released"
    );

    let new_server = s.boot("vm2", &net).await;
    let servers = s.get(format!("{}/servers", s.compute)).await;
    assert_eq!(
        ids(&servers, "servers", "id"),
        std::slice::from_ref(&new_server)
    );
    let ports = s
        .get(format!("{}/v2.0/ports?device_id={new_server}", s.network))
        .await;
    assert_eq!(ports["ports"].as_array().unwrap().len(), 1, "{ports}");
    demo.stop();
}
