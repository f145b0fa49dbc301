//! What the black-box suites share: `tricircle demo` as a child process,
//! the simulated Keystone's admin API (projects, users, roles, tokens), the
//! catalog, a raw HTTP/1.1 writer (no client normalises what it sends), a
//! seeded generator, snapshots of the top store and of every pod's own
//! state, the fixtures both suites start from, and the log check.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

// ------------------------------------------------------------------ seeds

/// A small seeded generator (SplitMix64): the same seed, the same run.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    pub fn chance(&mut self, percent: u64) -> bool {
        self.next_u64() % 100 < percent
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i + 1);
            items.swap(i, j);
        }
    }

    pub fn hex(&mut self) -> String {
        format!("{:016x}", self.next_u64())
    }

    /// A UUID (v4 layout) from the generator: replays repeat it.
    pub fn uuid(&mut self) -> String {
        let (a, b) = (self.next_u64(), self.next_u64());
        format!(
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xfff,
            0x8000 | ((b >> 48) & 0x3fff),
            b & 0xffff_ffff_ffff
        )
    }
}

/// The seed of this run: `TRICIRCLE_FUZZ_SEED` (decimal or 0x-hex) to
/// replay one, else a fresh one. Printed either way.
pub fn seed(suite: &str) -> u64 {
    let seed = match std::env::var("TRICIRCLE_FUZZ_SEED") {
        Ok(s) => {
            let s = s.trim();
            match s.strip_prefix("0x") {
                Some(h) => u64::from_str_radix(h, 16),
                None => s.parse(),
            }
            .expect("TRICIRCLE_FUZZ_SEED is a number")
        }
        Err(_) => {
            let t = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap();
            t.as_nanos() as u64 ^ u64::from(std::process::id())
        }
    };
    println!("{suite}: seed {seed} (replay with TRICIRCLE_FUZZ_SEED={seed})");
    seed
}

pub fn random_secret() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

// ------------------------------------------------------------------ demo

/// `tricircle demo` on loopback, every port chosen by the system, its
/// SQLite database in a temporary directory, its log (`-v`: on stderr)
/// in a file.
pub struct Demo {
    child: Option<Child>,
    pub dir: tempfile::TempDir,
    pub log_path: PathBuf,
    /// The simulated Keystone, without `/v3`.
    pub identity: String,
    /// The admin API root (`http://host:port`).
    pub admin_root: String,
    pub admin_password: String,
}

impl Demo {
    /// Starts the demo; `rust_log` sets its log filter (`None`: its
    /// default, info).
    pub fn start(rust_log: Option<&str>) -> Demo {
        let dir = tempfile::tempdir().unwrap();
        let log_path = dir.path().join("demo.log");
        let admin_password = format!("pw-admin-{}", random_secret());
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_tricircle"));
        cmd.env_remove("TRICIRCLE_CONFIG");
        for (k, _) in std::env::vars() {
            if k.starts_with("TRICIRCLE__") || k.starts_with("OS_") || k == "RUST_LOG" {
                cmd.env_remove(k);
            }
        }
        if let Some(level) = rust_log {
            cmd.env("RUST_LOG", level);
        }
        cmd.env("TRICIRCLE_DEMO_PASSWORD", &admin_password)
            .args([
                "demo",
                // Its logs on stderr, which goes to log_path.
                "-v",
                "--identity-port",
                "0",
                "--admin-port",
                "0",
                "--compute-port",
                "0",
                "--volume-port",
                "0",
                "--network-port",
                "0",
                "--pod-base-port",
                "0",
                "--data-dir",
            ])
            .arg(dir.path().join("data"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log_path).unwrap());
        let mut child = cmd.spawn().expect("tricircle demo starts");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel::<String>();
        // Drains stdout for the whole run so the demo never blocks on it.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    // Nobody listens any more; keep draining.
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(90);
        let (mut identity, mut admin) = (None, None);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left.min(Duration::from_millis(500))) {
                Ok(line) => {
                    if let Some(v) = line.strip_prefix("export OS_AUTH_URL=") {
                        identity = Some(v.trim_end_matches("/v3").to_string());
                    }
                    if let Some(v) = line.strip_prefix("export TRICIRCLE_ADMIN_URL=") {
                        admin = Some(v.trim_end_matches("/v1.0").to_string());
                    }
                    if line.contains("Tricircle demo is ready") {
                        break;
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let log = std::fs::read_to_string(&log_path).unwrap_or_default();
                    panic!("tricircle demo exited before it was ready:\n{log}");
                }
            }
            if let Ok(Some(status)) = child.try_wait() {
                let log = std::fs::read_to_string(&log_path).unwrap_or_default();
                panic!("tricircle demo exited ({status}) before it was ready:\n{log}");
            }
            assert!(
                Instant::now() < deadline,
                "tricircle demo was not ready within 90 s"
            );
        }
        Demo {
            child: Some(child),
            dir,
            log_path,
            identity: identity.expect("the demo printed OS_AUTH_URL"),
            admin_root: admin.expect("the demo printed TRICIRCLE_ADMIN_URL"),
            admin_password,
        }
    }

    pub fn db_path(&self) -> PathBuf {
        self.dir.path().join("data").join("tricircle.db")
    }

    /// Whether the process still runs (a panic that kills it shows here).
    pub fn alive(&mut self) -> bool {
        match self.child.as_mut() {
            Some(c) => matches!(c.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Stops the demo by its PID (SIGTERM, then SIGKILL after 15 s).
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let started = Instant::now();
        while matches!(child.try_wait(), Ok(None)) {
            if started.elapsed() > Duration::from_secs(15) {
                let _ = child.kill();
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.wait();
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

// ------------------------------------------------------------------ http

/// An answer to a JSON call.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
    pub text: String,
    pub headers: reqwest::header::HeaderMap,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// One pod's own endpoints, from the catalog.
#[derive(Debug, Clone)]
pub struct PodEndpoints {
    pub name: String,
    /// `.../compute/v2.1`
    pub compute: String,
    /// `.../volume/v3/{admin project}`
    pub volume: String,
    /// `.../network`
    pub network: String,
}

/// The deployment as a user finds it: Keystone, the top region's catalog
/// (Tricircle's APIs) and the pods' regions.
pub struct Cloud {
    pub http: reqwest::Client,
    pub identity: String,
    pub compute: String,
    pub volume: String,
    pub network: String,
    pub admin: String,
    pub image: String,
    pub pods: Vec<PodEndpoints>,
    pub admin_token: String,
    pub admin_project: String,
    pub admin_user: String,
}

/// `scheme://host:port` of a URL.
pub fn root_of(url: &str) -> String {
    let u = url::Url::parse(url).expect("catalog URL");
    format!(
        "{}://{}:{}",
        u.scheme(),
        u.host_str().unwrap_or("127.0.0.1"),
        u.port_or_known_default().unwrap_or(80)
    )
}

fn catalog_url(catalog: &Value, service_type: &str, region: &str) -> Option<String> {
    catalog.as_array()?.iter().find_map(|svc| {
        if svc["type"] != service_type {
            return None;
        }
        svc["endpoints"].as_array()?.iter().find_map(|e| {
            (e["region"] == region && e["interface"] == "public")
                .then(|| e["url"].as_str().map(str::to_string))
                .flatten()
        })
    })
}

pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .pool_max_idle_per_host(8)
        .build()
        .unwrap()
}

pub async fn call_with(
    http: &reqwest::Client,
    method: &str,
    url: &str,
    token: Option<&str>,
    body: Option<&Value>,
    headers: &[(&str, &str)],
) -> Answer {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut rb = http.request(method.clone(), url);
    if let Some(t) = token {
        rb = rb.header("x-auth-token", t);
    }
    for (k, v) in headers {
        rb = rb.header(*k, *v);
    }
    if let Some(b) = body {
        rb = rb.json(b);
    }
    let resp = rb
        .send()
        .await
        .unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap_or_default();
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Answer {
        status,
        body,
        text,
        headers,
    }
}

/// Panics with the call's details unless its status is one of `ok`.
pub fn expect(a: &Answer, ok: &[u16], what: &str) {
    assert!(
        ok.contains(&a.status),
        "{what}: HTTP {} (wanted {ok:?}): {}",
        a.status,
        a.text
    );
}

impl Cloud {
    pub async fn connect(demo: &Demo) -> Cloud {
        let http = http_client();
        let (admin_token, token_body) = password_token(
            &http,
            &demo.identity,
            "admin",
            &demo.admin_password,
            ProjectScope::Name("admin"),
        )
        .await;
        let catalog = &token_body["token"]["catalog"];
        let top = "RegionOne";
        let get = |t: &str, r: &str| {
            catalog_url(catalog, t, r).unwrap_or_else(|| panic!("no {t} endpoint in {r}"))
        };
        let mut pods = Vec::new();
        for name in ["Pod1", "Pod2"] {
            pods.push(PodEndpoints {
                name: name.to_string(),
                compute: get("compute", name),
                volume: get("volumev3", name),
                network: get("network", name).trim_end_matches('/').to_string(),
            });
        }
        Cloud {
            identity: demo.identity.clone(),
            compute: root_of(&get("compute", top)),
            volume: root_of(&get("volumev3", top)),
            network: root_of(&get("network", top)),
            admin: root_of(&get("tricircle", top)),
            image: get("image", top).trim_end_matches('/').to_string(),
            pods,
            admin_project: token_body["token"]["project"]["id"]
                .as_str()
                .unwrap()
                .to_string(),
            admin_user: token_body["token"]["user"]["id"]
                .as_str()
                .unwrap()
                .to_string(),
            admin_token,
            http,
        }
    }

    pub async fn call(
        &self,
        method: &str,
        url: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Answer {
        call_with(&self.http, method, url, token, body, &[]).await
    }

    pub async fn call_h(
        &self,
        method: &str,
        url: &str,
        token: Option<&str>,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> Answer {
        call_with(&self.http, method, url, token, body, headers).await
    }

    /// A Keystone admin call (`/v3/...`) with the cloud admin's token.
    pub async fn keystone(&self, method: &str, path: &str, body: Option<&Value>) -> Answer {
        let url = format!("{}/v3{path}", self.identity);
        self.call(method, &url, Some(&self.admin_token), body).await
    }

    pub async fn create_project(&self, name: &str) -> String {
        let a = self
            .keystone(
                "POST",
                "/projects",
                Some(&json!({"project": {"name": name, "domain_id": "default"}})),
            )
            .await;
        expect(&a, &[201], "create project");
        a.body["project"]["id"].as_str().unwrap().to_string()
    }

    pub async fn create_user(&self, name: &str, password: &str) -> String {
        let a = self
            .keystone(
                "POST",
                "/users",
                Some(
                    &json!({"user": {"name": name, "password": password, "domain_id": "default"}}),
                ),
            )
            .await;
        expect(&a, &[201], "create user");
        a.body["user"]["id"].as_str().unwrap().to_string()
    }

    pub async fn role_id(&self, name: &str) -> String {
        let a = self
            .keystone("GET", &format!("/roles?name={name}"), None)
            .await;
        expect(&a, &[200], "find role");
        a.body["roles"][0]["id"]
            .as_str()
            .unwrap_or_else(|| panic!("no role {name}: {}", a.text))
            .to_string()
    }

    pub async fn grant(&self, project: &str, user: &str, role: &str) {
        let rid = self.role_id(role).await;
        let a = self
            .keystone(
                "PUT",
                &format!("/projects/{project}/users/{user}/roles/{rid}"),
                None,
            )
            .await;
        expect(&a, &[204], "grant role");
    }

    pub async fn token(&self, user: &str, password: &str, project_id: &str) -> String {
        password_token(
            &self.http,
            &self.identity,
            user,
            password,
            ProjectScope::Id(project_id),
        )
        .await
        .0
    }

    /// Revokes a token in Keystone.
    pub async fn revoke(&self, token: &str) {
        let url = format!("{}/v3/auth/tokens", self.identity);
        let a = self
            .call_h(
                "DELETE",
                &url,
                Some(&self.admin_token),
                None,
                &[("x-subject-token", token)],
            )
            .await;
        expect(&a, &[204], "revoke token");
    }
}

pub enum ProjectScope<'a> {
    Name(&'a str),
    Id(&'a str),
    Unscoped,
}

/// A password token from Keystone: the token and the token body.
pub async fn password_token(
    http: &reqwest::Client,
    identity: &str,
    user: &str,
    password: &str,
    scope: ProjectScope<'_>,
) -> (String, Value) {
    let mut auth = json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": user, "domain": {"name": "Default"}, "password": password}}}}});
    match scope {
        ProjectScope::Name(n) => {
            auth["auth"]["scope"] = json!({"project": {"name": n, "domain": {"name": "Default"}}})
        }
        ProjectScope::Id(id) => auth["auth"]["scope"] = json!({"project": {"id": id}}),
        ProjectScope::Unscoped => {}
    }
    let a = call_with(
        http,
        "POST",
        &format!("{identity}/v3/auth/tokens"),
        None,
        Some(&auth),
        &[],
    )
    .await;
    expect(&a, &[201], &format!("token for {user}"));
    let token = a
        .header("x-subject-token")
        .expect("X-Subject-Token")
        .to_string();
    (token, a.body)
}

// ------------------------------------------------------------------ raw

/// A request written byte for byte: nothing normalises `..`, `%2E%2E` or
/// anything else in it.
#[derive(Debug, Clone)]
pub struct RawRequest {
    pub method: String,
    /// Path and query as sent on the request line.
    pub target: String,
    pub headers: Vec<(String, Vec<u8>)>,
    pub body: Option<Vec<u8>>,
}

#[derive(Debug, Clone)]
pub struct RawResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RawResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).to_string()
    }
}

fn printable(bytes: &[u8], max: usize) -> String {
    let mut s = String::new();
    for &b in bytes.iter().take(max) {
        match b {
            b'\\' => s.push_str("\\\\"),
            0x20..=0x7e => s.push(b as char),
            _ => s.push_str(&format!("\\x{b:02x}")),
        }
    }
    if bytes.len() > max {
        s.push_str(&format!("... ({} bytes)", bytes.len()));
    }
    s
}

impl RawRequest {
    /// A reproduction: the request as sent, escaped, long parts cut.
    pub fn describe(&self) -> String {
        let mut s = format!(
            "{} {}\n",
            printable(self.method.as_bytes(), 64),
            printable(self.target.as_bytes(), 600)
        );
        for (k, v) in &self.headers {
            s.push_str(&format!(
                "  {}: {}\n",
                printable(k.as_bytes(), 64),
                printable(v, 200)
            ));
        }
        if let Some(b) = &self.body {
            s.push_str(&format!("  body: {}\n", printable(b, 600)));
        }
        s
    }
}

impl RawResponse {
    pub fn describe(&self) -> String {
        format!("HTTP {} {}", self.status, printable(&self.body, 600))
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = find(data, b"\r\n") {
        let size_line = String::from_utf8_lossy(&data[..eol]).to_string();
        let size = usize::from_str_radix(size_line.split(';').next().unwrap_or("").trim(), 16)
            .unwrap_or(0);
        data = &data[eol + 2..];
        if size == 0 || data.len() < size {
            out.extend_from_slice(&data[..size.min(data.len())]);
            break;
        }
        out.extend_from_slice(&data[..size]);
        data = &data[(size + 2).min(data.len())..];
    }
    out
}

/// Sends `req` to `root` (`http://host:port`) on a fresh connection
/// (`Connection: close`); the answer, or why there is none (a timeout is
/// a hang).
pub async fn send_raw(
    root: &str,
    req: &RawRequest,
    timeout: Duration,
) -> Result<RawResponse, String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = root.trim_start_matches("http://").to_string();
    let work = async {
        let mut s = tokio::net::TcpStream::connect(&addr)
            .await
            .map_err(|e| format!("connect: {e}"))?;
        let mut out: Vec<u8> = Vec::new();
        out.extend_from_slice(req.method.as_bytes());
        out.push(b' ');
        out.extend_from_slice(req.target.as_bytes());
        out.extend_from_slice(b" HTTP/1.1\r\n");
        let has = |name: &str| {
            req.headers
                .iter()
                .any(|(k, _)| k.eq_ignore_ascii_case(name))
        };
        if !has("host") {
            out.extend_from_slice(format!("Host: {addr}\r\n").as_bytes());
        }
        out.extend_from_slice(b"Connection: close\r\n");
        for (k, v) in &req.headers {
            out.extend_from_slice(k.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(v);
            out.extend_from_slice(b"\r\n");
        }
        if !has("content-length") && !has("transfer-encoding") {
            match &req.body {
                Some(b) => {
                    out.extend_from_slice(format!("Content-Length: {}\r\n", b.len()).as_bytes())
                }
                None if matches!(req.method.as_str(), "POST" | "PUT" | "PATCH") => {
                    out.extend_from_slice(b"Content-Length: 0\r\n")
                }
                None => {}
            }
        }
        out.extend_from_slice(b"\r\n");
        if let Some(b) = &req.body {
            out.extend_from_slice(b);
        }
        // The server may answer (413, 431, 400) and close before it has
        // read everything; what it answered is what counts.
        let _ = s.write_all(&out).await;
        let mut buf = Vec::new();
        let read = s.read_to_end(&mut buf).await;
        if buf.is_empty() {
            return Err(match read {
                Err(e) => format!("no answer: {e}"),
                Ok(_) => "connection closed without an answer".to_string(),
            });
        }
        Ok::<Vec<u8>, String>(buf)
    };
    let buf = tokio::time::timeout(timeout, work)
        .await
        .map_err(|_| format!("no answer within {} s (a hang)", timeout.as_secs()))??;
    let head_end = find(&buf, b"\r\n\r\n")
        .ok_or_else(|| format!("an incomplete answer: {}", printable(&buf, 300)))?;
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let status: u16 = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line {status_line:?}"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let raw_body = &buf[head_end + 4..];
    let chunked = headers.iter().any(|(k, v)| {
        k.eq_ignore_ascii_case("transfer-encoding") && v.to_ascii_lowercase().contains("chunked")
    });
    let body = if chunked {
        dechunk(raw_body)
    } else {
        raw_body.to_vec()
    };
    Ok(RawResponse {
        status,
        headers,
        body,
    })
}

// ------------------------------------------------------------------ people

/// A Keystone user with one role on one project, and a token.
#[derive(Debug, Clone)]
pub struct Person {
    pub name: String,
    pub user_id: String,
    pub password: String,
    pub token: String,
    pub project_id: String,
    pub role: &'static str,
}

/// A project and its admin, member and reader.
#[derive(Debug, Clone)]
pub struct Tenant {
    pub id: String,
    pub name: String,
    pub admin: Person,
    pub member: Person,
    pub reader: Person,
}

impl Tenant {
    pub async fn create(cloud: &Cloud, label: &str, tag: &str) -> Tenant {
        let name = format!("{label}-{tag}");
        let id = cloud.create_project(&name).await;
        let mut people = Vec::new();
        for role in ["admin", "member", "reader"] {
            let uname = format!("{label}-{role}-{tag}");
            let password = format!("pw-{uname}-{}", random_secret());
            let uid = cloud.create_user(&uname, &password).await;
            cloud.grant(&id, &uid, role).await;
            let token = cloud.token(&uname, &password, &id).await;
            people.push(Person {
                name: uname,
                user_id: uid,
                password,
                token,
                project_id: id.clone(),
                role,
            });
        }
        let reader = people.pop().unwrap();
        let member = people.pop().unwrap();
        let admin = people.pop().unwrap();
        Tenant {
            id,
            name,
            admin,
            member,
            reader,
        }
    }

    pub fn people(&self) -> [&Person; 3] {
        [&self.admin, &self.member, &self.reader]
    }
}

// ------------------------------------------------------------------ fixtures

/// One project's resources, created through the gateway by its member
/// (flavor and volume type by the cloud admin, shared with the project).
#[derive(Debug, Clone, Default)]
pub struct Resources {
    pub network: String,
    pub network_name: String,
    pub subnet: String,
    pub subnet_cidr: String,
    pub subnet_gateway: String,
    pub port: String,
    pub security_group: String,
    pub rule: String,
    pub keypair: String,
    /// A server group (kept at the top).
    pub server_group: String,
    pub server: String,
    pub server_name: String,
    pub volume: String,
    pub snapshot: String,
    pub backup: String,
    /// Private flavor the project has access to.
    pub flavor: String,
    /// Private volume type the project has access to.
    pub volume_type: String,
}

impl Resources {
    /// Every id and unique name, for "does this answer show it" checks.
    pub fn secrets(&self) -> Vec<(&'static str, String)> {
        vec![
            ("network", self.network.clone()),
            ("network name", self.network_name.clone()),
            ("subnet", self.subnet.clone()),
            ("port", self.port.clone()),
            ("security group", self.security_group.clone()),
            ("security group rule", self.rule.clone()),
            ("keypair", self.keypair.clone()),
            ("server group", self.server_group.clone()),
            ("server", self.server.clone()),
            ("server name", self.server_name.clone()),
            ("volume", self.volume.clone()),
            ("snapshot", self.snapshot.clone()),
            ("backup", self.backup.clone()),
            ("private flavor", self.flavor.clone()),
            ("private volume type", self.volume_type.clone()),
        ]
    }
}

/// Polls `f` until it gives a value (generous bound; a test that waits
/// waits on state, not on time).
pub async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, String>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        let last = match f().await {
            Ok(v) => return v,
            Err(e) => e,
        };
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: {last}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Compute calls name this microversion (networks "none" needs 2.37).
pub const NOVA_VERSION: (&str, &str) = ("openstack-api-version", "compute 2.37");

impl Cloud {
    pub fn compute_url(&self, path: &str) -> String {
        format!("{}/v2.1{path}", self.compute)
    }
    pub fn volume_url(&self, path: &str) -> String {
        format!("{}/v3{path}", self.volume)
    }
    pub fn network_url(&self, path: &str) -> String {
        format!("{}/v2.0{path}", self.network)
    }
    pub fn admin_url(&self, path: &str) -> String {
        format!("{}/v1.0{path}", self.admin)
    }

    pub async fn image_id(&self) -> String {
        let a = self
            .call(
                "GET",
                &self.compute_url("/images"),
                Some(&self.admin_token),
                None,
            )
            .await;
        expect(&a, &[200], "list images");
        a.body["images"][0]["id"].as_str().unwrap().to_string()
    }

    pub async fn create_flavor(&self, name: &str, public: bool) -> String {
        let a = self
            .call(
                "POST",
                &self.compute_url("/flavors"),
                Some(&self.admin_token),
                Some(
                    &json!({"flavor": {"name": name, "ram": 64, "vcpus": 1, "disk": 1,
                    "os-flavor-access:is_public": public}}),
                ),
            )
            .await;
        expect(&a, &[200], "create flavor");
        a.body["flavor"]["id"].as_str().unwrap().to_string()
    }

    pub async fn flavor_access(&self, flavor: &str, project: &str) {
        let a = self
            .call(
                "POST",
                &self.compute_url(&format!("/flavors/{flavor}/action")),
                Some(&self.admin_token),
                Some(&json!({"addTenantAccess": {"tenant": project}})),
            )
            .await;
        expect(&a, &[200], "flavor access");
    }

    pub async fn create_volume_type(&self, name: &str, public: bool) -> String {
        let a = self
            .call(
                "POST",
                &self.volume_url("/types"),
                Some(&self.admin_token),
                Some(&json!({"volume_type": {"name": name, "os-volume-type-access:is_public": public}})),
            )
            .await;
        expect(&a, &[200], "create volume type");
        a.body["volume_type"]["id"].as_str().unwrap().to_string()
    }

    pub async fn volume_type_access(&self, vtype: &str, project: &str) {
        let a = self
            .call(
                "POST",
                &self.volume_url(&format!("/types/{vtype}/action")),
                Some(&self.admin_token),
                Some(&json!({"addProjectAccess": {"project": project}})),
            )
            .await;
        expect(&a, &[202, 200], "volume type access");
    }

    pub async fn create_network(&self, token: &str, name: &str) -> String {
        let a = self
            .call(
                "POST",
                &self.network_url("/networks"),
                Some(token),
                Some(&json!({"network": {"name": name}})),
            )
            .await;
        expect(&a, &[201], "create network");
        a.body["network"]["id"].as_str().unwrap().to_string()
    }

    /// A subnet; its id and gateway.
    pub async fn create_subnet(&self, token: &str, network: &str, cidr: &str) -> (String, String) {
        let a = self
            .call(
                "POST",
                &self.network_url("/subnets"),
                Some(token),
                Some(&json!({"subnet": {"network_id": network, "cidr": cidr, "ip_version": 4}})),
            )
            .await;
        expect(&a, &[201], "create subnet");
        (
            a.body["subnet"]["id"].as_str().unwrap().to_string(),
            a.body["subnet"]["gateway_ip"]
                .as_str()
                .unwrap_or("")
                .to_string(),
        )
    }

    pub async fn create_port(&self, token: &str, network: &str) -> String {
        let a = self
            .call(
                "POST",
                &self.network_url("/ports"),
                Some(token),
                Some(&json!({"port": {"network_id": network}})),
            )
            .await;
        expect(&a, &[201], "create port");
        a.body["port"]["id"].as_str().unwrap().to_string()
    }

    pub async fn create_security_group(&self, token: &str, name: &str) -> String {
        let a = self
            .call(
                "POST",
                &self.network_url("/security-groups"),
                Some(token),
                Some(&json!({"security_group": {"name": name}})),
            )
            .await;
        expect(&a, &[201], "create security group");
        a.body["security_group"]["id"].as_str().unwrap().to_string()
    }

    pub async fn create_rule(&self, token: &str, group: &str, port: u16) -> String {
        let a = self
            .call(
                "POST",
                &self.network_url("/security-group-rules"),
                Some(token),
                Some(&json!({"security_group_rule": {"security_group_id": group,
                    "direction": "ingress", "protocol": "tcp", "ethertype": "IPv4",
                    "port_range_min": port, "port_range_max": port}})),
            )
            .await;
        expect(&a, &[201], "create security group rule");
        a.body["security_group_rule"]["id"]
            .as_str()
            .unwrap()
            .to_string()
    }

    pub async fn create_keypair(&self, token: &str, name: &str) -> String {
        let a = self
            .call(
                "POST",
                &self.compute_url("/os-keypairs"),
                Some(token),
                Some(&json!({"keypair": {"name": name}})),
            )
            .await;
        expect(&a, &[200, 201], "create keypair");
        name.to_string()
    }

    pub async fn create_server_group(&self, token: &str, name: &str) -> String {
        let a = self
            .call(
                "POST",
                &self.compute_url("/os-server-groups"),
                Some(token),
                Some(&json!({"server_group": {"name": name, "policies": ["anti-affinity"]}})),
            )
            .await;
        expect(&a, &[200], "create server group");
        a.body["server_group"]["id"]
            .as_str()
            .expect("a server group id")
            .to_string()
    }

    /// Boots a server and waits until it is ACTIVE.
    #[allow(clippy::too_many_arguments)]
    pub async fn boot(
        &self,
        token: &str,
        name: &str,
        flavor: &str,
        image: &str,
        az: &str,
        network: Option<&str>,
        key: Option<&str>,
    ) -> String {
        let mut server = json!({"name": name, "flavorRef": flavor, "imageRef": image,
            "availability_zone": az});
        server["networks"] = match network {
            Some(n) => json!([{"uuid": n}]),
            None => json!("none"),
        };
        if let Some(k) = key {
            server["key_name"] = json!(k);
        }
        let a = self
            .call_h(
                "POST",
                &self.compute_url("/servers"),
                Some(token),
                Some(&json!({ "server": server })),
                &[NOVA_VERSION],
            )
            .await;
        expect(&a, &[202], "boot server");
        let id = a.body["server"]["id"].as_str().unwrap().to_string();
        self.wait_server(token, &id).await;
        id
    }

    pub async fn wait_server(&self, token: &str, id: &str) {
        let url = self.compute_url(&format!("/servers/{id}"));
        wait_for("server ACTIVE", Duration::from_secs(60), || async {
            let a = self.call("GET", &url, Some(token), None).await;
            match a.body["server"]["status"].as_str() {
                Some("ACTIVE") => Ok(()),
                Some("ERROR") => panic!("server {id} went ERROR: {}", a.text),
                _ => Err(a.text),
            }
        })
        .await
    }

    /// Waits until a volume, snapshot or backup is `available`.
    pub async fn wait_available(&self, token: &str, collection: &str, key: &str, id: &str) {
        let url = self.volume_url(&format!("/{collection}/{id}"));
        wait_for(
            &format!("{key} available"),
            Duration::from_secs(60),
            || async {
                let a = self.call("GET", &url, Some(token), None).await;
                match a.body[key]["status"].as_str() {
                    Some("available") => Ok(()),
                    Some(s) if s.starts_with("error") => panic!("{key} {id} went {s}: {}", a.text),
                    _ => Err(a.text),
                }
            },
        )
        .await
    }

    pub async fn create_volume(&self, token: &str, name: &str, az: &str) -> String {
        let a = self
            .call(
                "POST",
                &self.volume_url("/volumes"),
                Some(token),
                Some(&json!({"volume": {"name": name, "size": 1, "availability_zone": az}})),
            )
            .await;
        expect(&a, &[202], "create volume");
        let id = a.body["volume"]["id"].as_str().unwrap().to_string();
        self.wait_available(token, "volumes", "volume", &id).await;
        id
    }

    pub async fn create_snapshot(&self, token: &str, volume: &str) -> String {
        let a = self
            .call(
                "POST",
                &self.volume_url("/snapshots"),
                Some(token),
                Some(&json!({"snapshot": {"volume_id": volume, "name": "snap", "force": true}})),
            )
            .await;
        expect(&a, &[202], "create snapshot");
        let id = a.body["snapshot"]["id"].as_str().unwrap().to_string();
        self.wait_available(token, "snapshots", "snapshot", &id)
            .await;
        id
    }

    pub async fn create_backup(&self, token: &str, volume: &str) -> String {
        let a = self
            .call(
                "POST",
                &self.volume_url("/backups"),
                Some(token),
                Some(&json!({"backup": {"volume_id": volume, "name": "backup", "force": true}})),
            )
            .await;
        expect(&a, &[202], "create backup");
        let id = a.body["backup"]["id"].as_str().unwrap().to_string();
        self.wait_available(token, "backups", "backup", &id).await;
        id
    }

    pub async fn pods(&self) -> Vec<Value> {
        let a = self
            .call(
                "GET",
                &self.admin_url("/pods"),
                Some(&self.admin_token),
                None,
            )
            .await;
        expect(&a, &[200], "list pods");
        a.body["pods"].as_array().unwrap().clone()
    }
}

/// Everything a suite starts from: two projects with their people and
/// resources, public flavor and volume type, the image, the pods.
pub struct World {
    pub cloud: Cloud,
    pub a: Tenant,
    pub b: Tenant,
    pub ra: Resources,
    pub rb: Resources,
    /// Project A's second server, in az2 (so Pod2 holds A's copies too).
    pub server_a2: String,
    pub flavor_public: String,
    pub flavor_spec: String,
    pub volume_type_public: String,
    pub volume_type_spec: String,
    pub image: String,
    /// pod name → pod id.
    pub pod_ids: BTreeMap<String, String>,
    /// A token Keystone revoked before the gateway ever saw it.
    pub revoked_token: String,
    /// A token with no project.
    pub unscoped_token: String,
    pub tag: String,
}

impl World {
    pub async fn build(demo: &Demo, rng: &mut Rng) -> World {
        let cloud = Cloud::connect(demo).await;
        let tag = rng.hex()[..8].to_string();
        let a = Tenant::create(&cloud, "proj-a", &tag).await;
        let b = Tenant::create(&cloud, "proj-b", &tag).await;

        let revoked_token = cloud.token(&a.member.name, &a.member.password, &a.id).await;
        cloud.revoke(&revoked_token).await;
        let unscoped_token = password_token(
            &cloud.http,
            &cloud.identity,
            &a.member.name,
            &a.member.password,
            ProjectScope::Unscoped,
        )
        .await
        .0;

        let image = cloud.image_id().await;
        let flavor_public = cloud.create_flavor(&format!("pub-{tag}"), true).await;
        let flavor_spec = "fuzz:spec".to_string();
        let ans = cloud
            .call(
                "POST",
                &cloud.compute_url(&format!("/flavors/{flavor_public}/os-extra_specs")),
                Some(&cloud.admin_token),
                Some(&json!({"extra_specs": {flavor_spec.clone(): "1"}})),
            )
            .await;
        expect(&ans, &[200], "flavor extra spec");
        let volume_type_public = cloud
            .create_volume_type(&format!("vt-pub-{tag}"), true)
            .await;
        let volume_type_spec = "fuzz_spec".to_string();
        let ans = cloud
            .call(
                "POST",
                &cloud.volume_url(&format!("/types/{volume_type_public}/extra_specs")),
                Some(&cloud.admin_token),
                Some(&json!({"extra_specs": {volume_type_spec.clone(): "1"}})),
            )
            .await;
        expect(&ans, &[200], "volume type extra spec");

        let ra = Self::resources(&cloud, &a, "a", 1, &tag, &flavor_public, &image).await;
        let rb = Self::resources(&cloud, &b, "b", 2, &tag, &flavor_public, &image).await;
        // Project A in az2 as well: Pod2 gets A's binding and copies of
        // its flavor, keypair, network and security group now, not in the
        // middle of the fuzzing.
        let server_a2 = cloud
            .boot(
                &a.member.token,
                &format!("srv2-a-{tag}"),
                &flavor_public,
                &image,
                "az2",
                Some(&ra.network),
                Some(&ra.keypair),
            )
            .await;
        cloud
            .create_volume(&a.member.token, &format!("vol2-a-{tag}"), "az2")
            .await;

        let pod_ids = cloud
            .pods()
            .await
            .iter()
            .map(|p| {
                (
                    p["pod_name"].as_str().unwrap().to_string(),
                    p["pod_id"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        World {
            cloud,
            a,
            b,
            ra,
            rb,
            server_a2,
            flavor_public,
            flavor_spec,
            volume_type_public,
            volume_type_spec,
            image,
            pod_ids,
            revoked_token,
            unscoped_token,
            tag,
        }
    }

    async fn resources(
        cloud: &Cloud,
        t: &Tenant,
        label: &str,
        octet: u8,
        tag: &str,
        flavor_public: &str,
        image: &str,
    ) -> Resources {
        let tok = t.member.token.as_str();
        let flavor = cloud
            .create_flavor(&format!("priv-{label}-{tag}"), false)
            .await;
        cloud.flavor_access(&flavor, &t.id).await;
        let volume_type = cloud
            .create_volume_type(&format!("vt-priv-{label}-{tag}"), false)
            .await;
        cloud.volume_type_access(&volume_type, &t.id).await;
        let network_name = format!("net-{label}-{tag}");
        let network = cloud.create_network(tok, &network_name).await;
        let subnet_cidr = format!("10.{octet}.0.0/24");
        let (subnet, subnet_gateway) = cloud.create_subnet(tok, &network, &subnet_cidr).await;
        let port = cloud.create_port(tok, &network).await;
        let security_group = cloud
            .create_security_group(tok, &format!("sg-{label}-{tag}"))
            .await;
        let rule = cloud.create_rule(tok, &security_group, 22).await;
        let keypair = cloud
            .create_keypair(tok, &format!("kp-{label}-{tag}"))
            .await;
        let server_group = cloud
            .create_server_group(tok, &format!("sg-{label}-{tag}"))
            .await;
        let server_name = format!("srv-{label}-{tag}");
        let server = cloud
            .boot(
                tok,
                &server_name,
                flavor_public,
                image,
                "az1",
                Some(&network),
                Some(&keypair),
            )
            .await;
        let volume = cloud
            .create_volume(tok, &format!("vol-{label}-{tag}"), "az1")
            .await;
        let snapshot = cloud.create_snapshot(tok, &volume).await;
        let backup = cloud.create_backup(tok, &volume).await;
        Resources {
            network,
            network_name,
            subnet,
            subnet_cidr,
            subnet_gateway,
            port,
            security_group,
            rule,
            keypair,
            server_group,
            server,
            server_name,
            volume,
            snapshot,
            backup,
            flavor,
            volume_type,
        }
    }

    pub fn tenants(&self) -> [&Tenant; 2] {
        [&self.a, &self.b]
    }

    /// Every token and password the suite used, named.
    pub fn secrets(&self, demo: &Demo) -> Vec<(String, String)> {
        let mut s = vec![
            (
                "cloud admin password".to_string(),
                demo.admin_password.clone(),
            ),
            (
                "cloud admin token".to_string(),
                self.cloud.admin_token.clone(),
            ),
            ("revoked token".to_string(), self.revoked_token.clone()),
            ("unscoped token".to_string(), self.unscoped_token.clone()),
        ];
        for t in self.tenants() {
            for p in t.people() {
                s.push((format!("password of {}", p.name), p.password.clone()));
                s.push((format!("token of {}", p.name), p.token.clone()));
            }
        }
        s
    }
}

// ------------------------------------------------------------------ state

/// Tables left out of snapshots: caches and health that change on their
/// own; jobs are compared by what they are, not by how far they got.
const VOLATILE_TABLES: &[&str] = &[
    "_sqlx_migrations",
    "cached_endpoints",
    "pod_health",
    "jobs",
    "job_log",
];

/// What the top store and each pod hold: text rows per table, and each
/// pod list as the pod answered it (parsed only to show a difference).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Snapshot {
    pub db: BTreeMap<String, Vec<String>>,
    /// `"Pod1/servers"` → the list's JSON text.
    pub pods: BTreeMap<String, String>,
    /// Jobs not finished (NEW or RUNNING).
    pub active_jobs: Vec<String>,
}

/// The items of a pod list, one JSON text each, sorted.
fn pod_rows(list: &str, text: &str) -> Vec<String> {
    let key = list.split('/').nth(1).unwrap_or("");
    let v: Value = serde_json::from_str(text).unwrap_or(Value::Null);
    let mut rows: Vec<String> = v[key]
        .as_array()
        .map(|a| a.iter().map(Value::to_string).collect())
        .unwrap_or_else(|| vec![text.to_string()]);
    rows.sort();
    rows
}

/// A pod list's changes: items gone (-), new (+), and for an item whose
/// id stayed, the fields that changed (~ id field: before -> after).
fn pod_diff(list: &str, before: &[String], after: &[String]) -> Vec<String> {
    let parse = |rows: &[String]| -> Vec<Value> {
        rows.iter()
            .map(|r| serde_json::from_str(r).unwrap_or(Value::Null))
            .collect()
    };
    let (b, a) = (parse(before), parse(after));
    let id = |v: &Value| v["id"].as_str().unwrap_or("").to_string();
    let mut out = Vec::new();
    for old in b.iter().filter(|o| !a.contains(o)) {
        match a.iter().find(|n| id(n) == id(old) && !id(old).is_empty()) {
            Some(new) => {
                let keys: std::collections::BTreeSet<&String> = old
                    .as_object()
                    .into_iter()
                    .chain(new.as_object())
                    .flat_map(|m| m.keys())
                    .collect();
                for key in keys {
                    if old[key] != new[key] {
                        out.push(format!(
                            "{list}: ~ {} {key}: {} -> {}",
                            id(old),
                            cut(&old[key].to_string(), 150),
                            cut(&new[key].to_string(), 150)
                        ));
                    }
                }
            }
            None => out.push(format!("{list}: - {}", cut(&old.to_string(), 400))),
        }
    }
    for new in a.iter().filter(|n| !b.contains(n)) {
        if !b.iter().any(|o| id(o) == id(new) && !id(new).is_empty()) {
            out.push(format!("{list}: + {}", cut(&new.to_string(), 400)));
        }
    }
    out
}

impl Snapshot {
    /// What changed from `self` to `after`: rows gone (-) and new (+).
    pub fn diff(&self, after: &Snapshot, with_pods: bool) -> Vec<String> {
        let mut out = Vec::new();
        let mut one = |name: &str, a: &[String], b: &[String]| {
            for r in a.iter().filter(|r| !b.contains(r)) {
                out.push(format!("{name}: - {}", cut(r, 400)));
            }
            for r in b.iter().filter(|r| !a.contains(r)) {
                out.push(format!("{name}: + {}", cut(r, 400)));
            }
        };
        let empty = Vec::new();
        for (k, v) in &self.db {
            one(k, v, after.db.get(k).unwrap_or(&empty));
        }
        for (k, v) in &after.db {
            if !self.db.contains_key(k) {
                one(k, &empty, v);
            }
        }
        if with_pods {
            for (k, v) in &self.pods {
                match after.pods.get(k) {
                    Some(w) if w == v => {}
                    Some(w) => out.extend(pod_diff(k, &pod_rows(k, v), &pod_rows(k, w))),
                    None => {}
                }
            }
        }
        out
    }

    /// A resource in a pod still on its way somewhere (BUILD, creating...).
    pub fn transitional(&self) -> Option<String> {
        self.transitional_except(&std::collections::BTreeSet::new())
            .map(|(_, what)| what)
    }

    /// [`Snapshot::transitional`], leaving out the resources in `stuck`;
    /// the resource's id and a description.
    pub fn transitional_except(
        &self,
        stuck: &std::collections::BTreeSet<String>,
    ) -> Option<(String, String)> {
        for (list, text) in &self.pods {
            for r in pod_rows(list, text) {
                let v: Value = serde_json::from_str(&r).unwrap_or(Value::Null);
                let id = v["id"].as_str().unwrap_or("").to_string();
                if stuck.contains(&id) {
                    continue;
                }
                let status = v["status"].as_str().unwrap_or("").to_ascii_lowercase();
                let busy = matches!(
                    status.as_str(),
                    "build"
                        | "rebuild"
                        | "resize"
                        | "reboot"
                        | "hard_reboot"
                        | "migrating"
                        | "revert_resize"
                        | "password"
                ) || transient_status(&status)
                    || (v.get("OS-EXT-STS:task_state").is_some()
                        && !v["OS-EXT-STS:task_state"].is_null());
                if busy {
                    return Some((id, format!("{list}: {}", cut(&r, 200))));
                }
            }
        }
        None
    }
}

/// A status on its way to another one: `creating`, `deleting`, and the
/// Cinder ones with a suffix (`restoring-backup`, `backing-up`); not the
/// errors (`error_deleting`) and not a volume that waits for its transfer to
/// be accepted (`awaiting-transfer`), which stays so until someone acts.
fn transient_status(status: &str) -> bool {
    !status.starts_with("error")
        && status != "awaiting-transfer"
        && status.split(['-', '_']).any(|word| word.ends_with("ing"))
}

pub fn cut(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        format!("{}...", s.chars().take(max).collect::<String>())
    }
}

/// Reads the state: the top SQLite database (read-only) and every pod's
/// resources as the pod's admin lists them.
pub struct StateReader {
    db: sqlx::SqliteConnection,
    pods: Vec<PodEndpoints>,
    http: reqwest::Client,
    admin_token: String,
    /// `(table, SELECT ...)` for every table snapshotted.
    queries: Vec<(String, String)>,
    /// Resources and jobs found busy for a whole settle: not waited for
    /// again (a volume left `attaching` by a reservation, a job retrying
    /// with back-off).
    stuck: std::collections::BTreeSet<String>,
}

/// What each pod is asked for (as its admin, every project).
const POD_LISTS: &[(&str, &str, &str)] = &[
    ("compute", "/servers/detail?all_tenants=1", "servers"),
    ("compute", "/flavors/detail?is_public=None", "flavors"),
    ("volume", "/volumes/detail?all_tenants=1", "volumes"),
    ("volume", "/snapshots/detail?all_tenants=1", "snapshots"),
    ("volume", "/backups/detail?all_tenants=1", "backups"),
    ("volume", "/types?is_public=None", "volume_types"),
    ("network", "/v2.0/networks", "networks"),
    ("network", "/v2.0/subnets", "subnets"),
    ("network", "/v2.0/ports", "ports"),
    ("network", "/v2.0/security-groups", "security_groups"),
    (
        "network",
        "/v2.0/security-group-rules",
        "security_group_rules",
    ),
];

impl StateReader {
    pub async fn open(demo: &Demo, cloud: &Cloud) -> StateReader {
        use sqlx::{ConnectOptions, Connection, Row};
        let opts = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(demo.db_path())
            .read_only(true)
            .busy_timeout(Duration::from_secs(30))
            .disable_statement_logging();
        let mut db = opts
            .connect()
            .await
            .expect("open the top database read-only");
        let tables: Vec<String> = sqlx::query(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
        )
        .fetch_all(&mut db)
        .await
        .unwrap()
        .iter()
        .map(|r| r.get::<String, _>(0))
        .filter(|t| !VOLATILE_TABLES.contains(&t.as_str()))
        .collect();
        let mut queries = Vec::new();
        for t in tables {
            let cols: Vec<String> = sqlx::query(&format!("PRAGMA table_info({t})"))
                .fetch_all(&mut db)
                .await
                .unwrap()
                .iter()
                .map(|r| r.get::<String, _>("name"))
                .collect();
            let expr = cols
                .iter()
                .map(|c| format!("'{c}=' || quote(\"{c}\")"))
                .collect::<Vec<_>>()
                .join(" || ' ' || ");
            queries.push((t.clone(), format!("SELECT {expr} FROM \"{t}\"")));
        }
        // Jobs: which exist, of what kind, for what; not their progress.
        queries.push((
            "jobs (ever created)".into(),
            "SELECT id || ' ' || job_type || ' ' || project_id || ' ' || resource_id FROM jobs \
             UNION SELECT id || ' ' || job_type || ' ' || project_id || ' ' || resource_id FROM job_log"
                .into(),
        ));
        db.ping().await.unwrap();
        StateReader {
            db,
            pods: cloud.pods.clone(),
            http: cloud.http.clone(),
            admin_token: cloud.admin_token.clone(),
            queries,
            stuck: std::collections::BTreeSet::new(),
        }
    }

    async fn db_state(&mut self) -> (BTreeMap<String, Vec<String>>, Vec<String>) {
        use sqlx::Row;
        let mut out = BTreeMap::new();
        for (t, q) in &self.queries {
            let mut rows: Vec<String> = sqlx::query(q)
                .fetch_all(&mut self.db)
                .await
                .unwrap_or_else(|e| panic!("reading {t}: {e}"))
                .iter()
                .map(|r| r.get::<Option<String>, _>(0).unwrap_or_default())
                .collect();
            rows.sort();
            out.insert(t.clone(), rows);
        }
        let active: Vec<String> = sqlx::query(
            "SELECT id || ' ' || job_type || ' ' || status || ' ' || coalesce(last_error, '') \
             FROM jobs WHERE status IN ('NEW', 'RUNNING')",
        )
        .fetch_all(&mut self.db)
        .await
        .unwrap()
        .iter()
        .map(|r| r.get::<String, _>(0))
        .collect();
        (out, active)
    }

    async fn pod_state(&self) -> BTreeMap<String, String> {
        let mut calls = Vec::new();
        for p in &self.pods {
            for (svc, path, key) in POD_LISTS {
                let base = match *svc {
                    "compute" => &p.compute,
                    "volume" => &p.volume,
                    _ => &p.network,
                };
                let url = format!("{base}{path}");
                let name = format!("{}/{key}", p.name);
                let http = self.http.clone();
                let token = self.admin_token.clone();
                calls.push(async move {
                    let resp = http
                        .get(&url)
                        .header("x-auth-token", token)
                        .send()
                        .await
                        .unwrap_or_else(|e| panic!("pod list {url}: {e}"));
                    let status = resp.status();
                    let text = resp.text().await.unwrap_or_default();
                    assert_eq!(status, 200, "pod list {url}: {text}");
                    (name, text)
                });
            }
        }
        futures::future::join_all(calls).await.into_iter().collect()
    }

    /// The state now; `pods: false` reads the top store only.
    pub async fn snapshot(&mut self, pods: bool) -> Snapshot {
        let (db, active_jobs) = self.db_state().await;
        let pods = if pods {
            self.pod_state().await
        } else {
            BTreeMap::new()
        };
        Snapshot {
            db,
            pods,
            active_jobs,
        }
    }

    /// Not waited for by [`StateReader::settle`]: a job the test itself
    /// posted through the admin API with made-up keys, which may retry for
    /// as long as its handler's settle time (a create check waits minutes
    /// before it looks).
    pub fn do_not_wait_for(&mut self, id: &str) {
        self.stuck.insert(id.to_string());
    }

    /// Waits until nothing moves: no job to run, no resource in a pod on
    /// its way (BUILD, creating, a task), and two readings of the top
    /// store alike. Err names what kept moving.
    pub async fn settle(&mut self, timeout: Duration) -> Result<Snapshot, String> {
        let deadline = Instant::now() + timeout;
        let mut prev: Option<Snapshot> = None;
        loop {
            let now = self.snapshot(true).await;
            let job_id = |j: &String| j.split(' ').next().unwrap_or("").to_string();
            let busy = now.transitional_except(&self.stuck).or_else(|| {
                now.active_jobs
                    .iter()
                    .find(|j| !self.stuck.contains(&job_id(j)))
                    .map(|j| (job_id(j), format!("job {j}")))
            });
            if busy.is_none() {
                tokio::time::sleep(Duration::from_millis(30)).await;
                let again = self.snapshot(false).await;
                let quiet = again
                    .active_jobs
                    .iter()
                    .all(|j| self.stuck.contains(&job_id(j)));
                if again.db == now.db && quiet {
                    return Ok(now);
                }
            }
            if Instant::now() > deadline {
                let mut why = match busy {
                    Some((id, what)) => {
                        // Reported once; not waited for again.
                        self.stuck.insert(id);
                        what
                    }
                    None => "the top store kept changing".into(),
                };
                if let Some(p) = &prev {
                    for d in p.diff(&now, true).iter().take(10) {
                        why.push_str(&format!("\n  {d}"));
                    }
                }
                return Err(why);
            }
            prev = Some(now);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

// ------------------------------------------------------------------ logs

/// Every secret found in the log, and any panic it recorded.
pub fn log_findings(log: &str, secrets: &[(String, String)]) -> Vec<String> {
    let mut out = Vec::new();
    for (what, secret) in secrets {
        if secret.len() >= 8 {
            if let Some(line) = log.lines().find(|l| l.contains(secret.as_str())) {
                out.push(format!("{what} is in the log: {}", cut(line, 300)));
            }
        }
    }
    for line in log.lines() {
        if line.contains("panicked") {
            out.push(format!("a panic is in the log: {}", cut(line, 300)));
        }
    }
    out
}
