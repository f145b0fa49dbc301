//! What the suites that run a real `tricircle serve` process share (the
//! black-box suites over `tricircle demo` have `common`): the process and
//! the addresses it listens on, waiting on state, serving a router.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::net::TcpListener;
use tricircle_podsim::{Credentials, IdentityConfig};

/// Serves `router` on a fresh loopback port until the test ends.
pub async fn serve(router: axum::Router) -> String {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l, router).await });
    url
}

/// Polls `f` until it gives a value; fails the test after `timeout`.
pub async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The `[keystone_authtoken]` section for Tricircle's service user in
/// podsim's identity service.
pub fn keystone_section(id_cfg: &IdentityConfig) -> String {
    let s = Credentials::service(id_cfg);
    format!(
        "[keystone_authtoken]\nauth_url = {}/v3\nusername = {}\npassword = {}\nproject_name = {}\n\
         user_domain_name = {}\nproject_domain_name = {}\n",
        id_cfg.public_url,
        s.username,
        s.password,
        s.project_name,
        s.user_domain_name,
        s.project_domain_name
    )
}

/// A `serve` process and the addresses it listens on (read from its log).
/// Killed when dropped, so a failed test leaves no process behind.
pub struct Gateway {
    pub child: Child,
    pub admin: String,
    pub compute: String,
    pub volume: String,
    pub network: String,
}

impl Gateway {
    /// Kills the process (by its pid) and reaps it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Starts `tricircle serve` on `config` (which must set `log_format =
/// json` and port 0 for every API); its log is copied to `log`.
pub fn start_gateway(config: &std::path::Path, log: &std::path::Path) -> Gateway {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tricircle"))
        .args(["--config", config.to_str().unwrap(), "serve"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let mut copy = std::fs::File::create(log).unwrap();
    let mut seen = String::new();
    let serving = loop {
        let Some(line) = lines.next().and_then(Result::ok) else {
            let _ = child.kill();
            let _ = child.wait();
            panic!("serve exited before serving:\n{seen}");
        };
        use std::io::Write;
        let _ = writeln!(copy, "{line}");
        seen.push_str(&line);
        seen.push('\n');
        let Ok(v) = serde_json::from_str::<Value>(&line) else {
            continue;
        };
        if v["fields"]["message"] == "tricircle is serving" {
            break v["fields"].clone();
        }
    };
    // Keep draining the log so the process never blocks on a full pipe.
    std::thread::spawn(move || {
        use std::io::Write;
        for line in lines.map_while(Result::ok) {
            let _ = writeln!(copy, "{line}");
        }
    });
    let addr = |k: &str| format!("http://{}", serving[k].as_str().unwrap());
    Gateway {
        admin: addr("admin"),
        compute: addr("compute"),
        volume: addr("volume"),
        network: addr("network"),
        child,
    }
}
