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
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "serve did not stop on SIGTERM"
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
