//! Faults during traffic. While clients keep booting servers (without
//! networks and on a network), creating volumes, showing, listing and
//! deleting them, one pod at a time refuses connections, answers 503, hangs,
//! and loses its answers. For each fault:
//!
//! - every call about the healthy pods' resources succeeds, creates in the
//!   healthy AZs included;
//! - a call about the faulty pod's resources, and a strict list, is a 503 in
//!   the service's format with `Retry-After`;
//! - lists answer 200 with the healthy pods' part and name the faulty pod in
//!   `X-Tricircle-Skipped-Pods`;
//! - once the pod is down, no call reaches it at all: each pod records the
//!   request id of every request it gets (and every answered call is seen
//!   with its id, so the record is not blind);
//! - the pod's health (`/v1.0/pods`) goes `down` with the fault as its last
//!   error and, once the fault is gone, back `up` by itself;
//! - what a pod made for a create whose answer it lost is deleted by the
//!   create's check job.
//!
//! Afterwards nothing is left over: every server, volume, port, network and
//! subnet in every pod (listed by the pod's admin) has a routing, every
//! routing points at something that exists, the top holds what the clients
//! were told exists and nothing more, and quota usage equals it.
//!
//! A real `tricircle serve` process; simulated pods and identity in this
//! process; one SQLite database.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod serving;

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use reqwest::Method;
use serde_json::{json, Value};
use serving::{keystone_section, start_gateway, wait_for, Gateway};
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tricircle_podsim::{Identity, IdentityConfig, Pod, PodConfig};
use tricircle_store::{ConnectOptions, JobFilter, RoutingFilter, Store};

const IMAGE: &str = "6e1b0f9a-9a7c-4c55-b4bb-6f7a1a8a0003";
/// The bottom pods and their AZs, one pod per AZ.
const PODS: [(&str, &str); 3] = [("Pod1", "az1"), ("Pod2", "az2"), ("Pod3", "az3")];
/// `[client] pod_timeout` (seconds), `list_deadline` and
/// `pod_probe_timeout` (milliseconds): short, for a quick suite, but with
/// room for a healthy pod on a loaded machine (a healthy pod's part of a
/// list took up to 1.3 s with two CPU hogs on two cores).
const POD_TIMEOUT_SECS: u64 = 4;
const LIST_DEADLINE_MS: u64 = 3000;
const PROBE_TIMEOUT_MS: u64 = 2000;
/// How long a hanging pod makes each request wait, and how long a pod that
/// loses answers holds them back: past the pod timeout, the list deadline
/// and the probe timeout however slow the machine, since the pod's wait
/// starts only once the request has arrived.
const STALL: Duration = Duration::from_secs(5);
/// `[client] pod_retry_interval`, seconds: longer than any fault lasts
/// here, so no call is let through to a down pod as a trial; only the
/// probe reaches it (and brings it back).
const RETRY_INTERVAL_SECS: u64 = 60;
/// Pause between two rounds of one client.
const PACE: Duration = Duration::from_millis(40);
const SERVER_RAM_MB: i64 = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    RefusesConnections,
    Answers503,
    Hangs,
    LosesAnswers,
}

impl Fault {
    /// Words of the pod's last error in `/v1.0/pods` under this fault.
    fn error_words(self) -> &'static [&'static str] {
        match self {
            Fault::RefusesConnections => &["unreachable"],
            Fault::Answers503 => &["HTTP 503"],
            Fault::Hangs | Fault::LosesAnswers => &["in time", "deadline"],
        }
    }
}

/// Request id → the requests (`METHOD path`) a pod got with it.
type Asked = Arc<Mutex<HashMap<String, Vec<String>>>>;

/// Records every request that reaches the pod with a request id, before
/// the pod's own fault injection.
async fn note_request_id(State(asked): State<Asked>, req: Request, next: Next) -> Response {
    if let Some(rid) = req
        .headers()
        .get("x-openstack-request-id")
        .and_then(|v| v.to_str().ok())
    {
        asked
            .lock()
            .unwrap()
            .entry(rid.to_string())
            .or_default()
            .push(format!("{} {}", req.method(), req.uri().path()));
    }
    next.run(req).await
}

/// One simulated pod on a listener the test can close (connections are
/// then refused) and open again on the same address.
struct PodHost {
    name: &'static str,
    pod: Pod,
    url: String,
    addr: SocketAddr,
    router: axum::Router,
    asked: Asked,
    running: Mutex<Option<(Arc<Notify>, tokio::task::JoinHandle<()>)>>,
}

impl PodHost {
    async fn start(name: &'static str, pod: Pod) -> PodHost {
        let asked = Asked::default();
        let router = pod.router().layer(axum::middleware::from_fn_with_state(
            asked.clone(),
            note_request_id,
        ));
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let host = PodHost {
            name,
            pod,
            url: format!("http://{addr}"),
            addr,
            router,
            asked,
            running: Mutex::new(None),
        };
        host.serve(l);
        host
    }

    fn serve(&self, l: TcpListener) {
        let stop = Arc::new(Notify::new());
        let (router, waiter) = (self.router.clone(), stop.clone());
        let task = tokio::spawn(async move {
            let _ =
                tricircle_podsim::serve(l, router, async move { waiter.notified().await }).await;
        });
        *self.running.lock().unwrap() = Some((stop, task));
    }

    /// Closes the listener and every connection: from now on connecting
    /// is refused.
    async fn close(&self) {
        let (stop, task) = self.running.lock().unwrap().take().expect("serving");
        stop.notify_one();
        tokio::time::timeout(Duration::from_secs(30), task)
            .await
            .expect("the pod's server stops")
            .unwrap();
    }

    /// Listens again on the same address.
    async fn reopen(&self) {
        let addr = self.addr;
        let l = wait_for(
            "the pod's address to be free",
            Duration::from_secs(10),
            || async move { TcpListener::bind(addr).await.ok() },
        )
        .await;
        self.serve(l);
    }

    async fn inject(&self, fault: Fault) {
        match fault {
            Fault::RefusesConnections => self.close().await,
            Fault::Answers503 => self.pod.set_down(true),
            Fault::Hangs => self.pod.set_latency(STALL),
            Fault::LosesAnswers => self.pod.set_answer_delay("/", STALL),
        }
    }

    async fn repair(&self, fault: Fault) {
        match fault {
            Fault::RefusesConnections => self.reopen().await,
            Fault::Answers503 => self.pod.set_down(false),
            Fault::Hangs => self.pod.set_latency(Duration::ZERO),
            Fault::LosesAnswers => self.pod.set_answer_delay("/", Duration::ZERO),
        }
    }

    fn was_asked(&self, rid: &str) -> bool {
        self.asked.lock().unwrap().contains_key(rid)
    }

    /// Whether the create of a server or volume reached the pod with `rid`.
    fn asked_to_create(&self, rid: &str) -> bool {
        self.asked.lock().unwrap().get(rid).is_some_and(|calls| {
            calls.iter().any(|c| {
                c.starts_with("POST ") && (c.ends_with("/servers") || c.ends_with("/volumes"))
            })
        })
    }
}

/// What a client got back from one request.
#[derive(Debug, Clone)]
struct Answer {
    /// 0: no answer at all.
    status: u16,
    body: Value,
    retry_after: Option<String>,
    skipped: Vec<String>,
    /// The request id the client sent (and the gateway passes to pods).
    rid: String,
    started: Instant,
    ended: Instant,
}

impl Answer {
    fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// Whether this is a 503 in Nova's and Cinder's format with a usable
    /// `Retry-After` (at most the time to a down pod's next trial, or the
    /// gateway's 5 s for other outages); what is wrong otherwise.
    fn unavailable(&self) -> Result<(), String> {
        let fault = &self.body["serviceUnavailable"];
        let retry = self
            .retry_after
            .as_deref()
            .and_then(|r| r.parse::<u64>().ok());
        if self.status == 503
            && fault["code"] == 503
            && fault["message"].as_str().is_some_and(|m| !m.is_empty())
            && retry.is_some_and(|r| (1..=RETRY_INTERVAL_SECS.max(5)).contains(&r))
        {
            Ok(())
        } else {
            Err(format!(
                "{} {} (Retry-After {:?})",
                self.status, self.body, self.retry_after
            ))
        }
    }

    fn ids(&self, key: &str) -> HashSet<String> {
        self.body[key]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v["id"].as_str().map(str::to_string))
            .collect()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    Server,
    ServerOnNetwork,
    Volume,
}

impl Kind {
    const ALL: [Kind; 3] = [Kind::Server, Kind::ServerOnNetwork, Kind::Volume];

    fn key(self) -> &'static str {
        match self {
            Kind::Server | Kind::ServerOnNetwork => "server",
            Kind::Volume => "volume",
        }
    }

    fn is_server(self) -> bool {
        self != Kind::Volume
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Create(Kind),
    Show(Kind),
    Delete(Kind),
    ListServers,
    ListVolumes,
    /// A server list with `X-Tricircle-Strict-List: true`: a pod missing
    /// fails it.
    StrictListServers,
    /// Answered from the top alone (top Neutron, limits).
    Top,
}

#[derive(Debug, Clone)]
struct Record {
    op: Op,
    /// The pod the call is about (a create: the pod of its AZ); `None` for
    /// lists and calls answered at the top.
    pod: Option<usize>,
    what: String,
    answer: Answer,
}

/// What the clients did and know.
#[derive(Default)]
struct Book {
    records: Vec<Record>,
    /// Acknowledged and not deleted: id → what and in which pod.
    alive: HashMap<String, (Kind, usize)>,
    /// Deletes answered 503, to be done again once the faults are over.
    retry: Vec<(Kind, String)>,
}

type Shared = Arc<Mutex<Book>>;

fn note(book: &Shared, op: Op, pod: Option<usize>, what: String, answer: Answer) {
    book.lock().unwrap().records.push(Record {
        op,
        pod,
        what,
        answer,
    });
}

/// A user of the gateway.
#[derive(Clone)]
struct Client {
    http: reqwest::Client,
    token: String,
    project: String,
    compute: String,
    volume: String,
    network: String,
    admin: String,
}

impl Client {
    async fn call(&self, method: Method, url: &str, body: Option<Value>) -> Answer {
        self.send(method, url, body, &[]).await
    }

    async fn strict_list(&self, url: &str) -> Answer {
        self.send(
            Method::GET,
            url,
            None,
            &[("x-tricircle-strict-list", "true")],
        )
        .await
    }

    async fn send(
        &self,
        method: Method,
        url: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Answer {
        let rid = format!("req-{}", uuid::Uuid::new_v4());
        let started = Instant::now();
        let mut req = self
            .http
            .request(method, url)
            .header("x-auth-token", &self.token)
            .header("x-openstack-request-id", &rid);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if url.starts_with(&self.compute) {
            req = req.header("openstack-api-version", "compute 2.47");
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let (status, headers, text) = match req.send().await {
            Ok(r) => {
                let status = r.status().as_u16();
                let headers = r.headers().clone();
                (status, headers, r.text().await.unwrap_or_default())
            }
            Err(e) => (0, Default::default(), e.to_string()),
        };
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        Answer {
            status,
            body: serde_json::from_str(&text).unwrap_or(Value::String(text)),
            retry_after: header("retry-after"),
            skipped: header("x-tricircle-skipped-pods")
                .map(|s| s.split(',').map(str::to_string).collect())
                .unwrap_or_default(),
            rid,
            started,
            ended: Instant::now(),
        }
    }

    fn url_of(&self, kind: Kind, id: &str) -> String {
        match kind {
            Kind::Server | Kind::ServerOnNetwork => format!("{}/v2.1/servers/{id}", self.compute),
            Kind::Volume => format!("{}/v3/{}/volumes/{id}", self.volume, self.project),
        }
    }

    async fn create(&self, kind: Kind, az: &str, name: &str, net: &str) -> Answer {
        match kind {
            Kind::Server | Kind::ServerOnNetwork => {
                let networks = if kind == Kind::Server {
                    json!("none")
                } else {
                    json!([{ "uuid": net }])
                };
                self.call(
                    Method::POST,
                    &format!("{}/v2.1/servers", self.compute),
                    Some(
                        json!({"server": {"name": name, "imageRef": IMAGE, "flavorRef": "f1",
                        "availability_zone": az, "networks": networks}}),
                    ),
                )
                .await
            }
            Kind::Volume => {
                self.call(
                    Method::POST,
                    &format!("{}/v3/{}/volumes", self.volume, self.project),
                    Some(json!({"volume": {"size": 1, "name": name, "availability_zone": az}})),
                )
                .await
            }
        }
    }

    /// Every pod's health as `/v1.0/pods` shows it, by pod name.
    async fn health(&self) -> HashMap<String, Value> {
        let a = self
            .call(Method::GET, &format!("{}/v1.0/pods", self.admin), None)
            .await;
        assert_eq!(a.status, 200, "{}", a.body);
        a.body["pods"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    p["pod_name"].as_str().unwrap().to_string(),
                    p["health"].clone(),
                )
            })
            .collect()
    }
}

/// One client creating, showing and deleting one kind of resource in every
/// AZ in turn (so each fault meets it), until `stop`.
async fn resource_traffic(
    kind: Kind,
    n: usize,
    c: Client,
    net: String,
    book: Shared,
    stop: Arc<AtomicBool>,
) {
    let mut owned: Vec<(String, usize)> = Vec::new();
    let mut round = 0usize;
    while !stop.load(Ordering::SeqCst) {
        let pod = (n + round) % PODS.len();
        let name = format!("{kind:?}-{n}-{round}");
        let a = c.create(kind, PODS[pod].1, &name, &net).await;
        if a.status == 202 {
            let id = a.body[kind.key()]["id"].as_str().unwrap().to_string();
            owned.push((id.clone(), pod));
            book.lock().unwrap().alive.insert(id, (kind, pod));
        }
        note(&book, Op::Create(kind), Some(pod), name, a);

        let shown = (pod + 1) % PODS.len();
        if let Some((id, p)) = owned.iter().rev().find(|(_, p)| *p == shown).cloned() {
            let a = c.call(Method::GET, &c.url_of(kind, &id), None).await;
            note(&book, Op::Show(kind), Some(p), id, a);
        }

        // Keep at least one of each in every pod, for the shows.
        let gone = (pod + 2) % PODS.len();
        if owned.iter().filter(|(_, p)| *p == gone).count() >= 2 {
            let i = owned.iter().position(|(_, p)| *p == gone).unwrap();
            let (id, p) = owned[i].clone();
            let a = c.call(Method::DELETE, &c.url_of(kind, &id), None).await;
            if a.ok() {
                owned.remove(i);
                book.lock().unwrap().alive.remove(&id);
            } else if a.status == 503 {
                owned.remove(i);
                book.lock().unwrap().retry.push((kind, id.clone()));
            }
            note(&book, Op::Delete(kind), Some(p), id, a);
        }
        round += 1;
        tokio::time::sleep(PACE).await;
    }
}

/// One client listing across pods, and reading what the top alone
/// answers, until `stop`.
async fn list_traffic(c: Client, book: Shared, stop: Arc<AtomicBool>) {
    while !stop.load(Ordering::SeqCst) {
        let url = format!("{}/v2.1/servers/detail", c.compute);
        let a = c.call(Method::GET, &url, None).await;
        note(&book, Op::ListServers, None, url, a);
        let url = format!("{}/v3/{}/volumes/detail", c.volume, c.project);
        let a = c.call(Method::GET, &url, None).await;
        note(&book, Op::ListVolumes, None, url, a);
        let url = format!("{}/v2.1/servers", c.compute);
        let a = c.strict_list(&url).await;
        note(&book, Op::StrictListServers, None, url, a);
        for url in [
            format!("{}/v2.0/ports", c.network),
            format!("{}/v2.1/limits", c.compute),
        ] {
            let a = c.call(Method::GET, &url, None).await;
            note(&book, Op::Top, None, url, a);
        }
        tokio::time::sleep(PACE).await;
    }
}

/// One fault on one pod, and when the test saw what.
#[derive(Debug)]
struct Window {
    fault: Fault,
    pod: usize,
    /// The fault is in place from here on.
    on: Instant,
    /// `/v1.0/pods` said `down` (the breaker opened before).
    down_seen: Instant,
    /// The fault is in place until here.
    off: Instant,
    /// `/v1.0/pods` said `up` again.
    up_seen: Instant,
}

impl Window {
    fn inside(&self, a: &Answer) -> bool {
        a.started >= self.on && a.ended <= self.off
    }

    fn while_down(&self, a: &Answer) -> bool {
        a.started >= self.down_seen && a.ended <= self.off
    }

    /// The call overlaps the time the pod was faulty or not yet seen back.
    fn touches(&self, a: &Answer) -> bool {
        a.started < self.up_seen && a.ended > self.on
    }
}

/// Checks every recorded call against the fault windows; returns what is
/// wrong.
fn judge(
    records: &[Record],
    windows: &[Window],
    hosts: &[PodHost],
    stable: &Stable,
) -> Vec<String> {
    let mut wrong = Vec::new();
    for r in records {
        let a = &r.answer;
        let at = |w: &Window| format!("{:?} on {}", w.fault, PODS[w.pod].0);
        match r.op {
            Op::Top => {
                if a.status != 200 {
                    wrong.push(format!("{} answered {} {}", r.what, a.status, a.body));
                }
            }
            Op::ListServers | Op::ListVolumes => {
                let (key, stable_ids) = if r.op == Op::ListServers {
                    ("servers", &stable.servers)
                } else {
                    ("volumes", &stable.volumes)
                };
                if a.status != 200 {
                    wrong.push(format!("list {} answered {} {}", r.what, a.status, a.body));
                    continue;
                }
                let inside = windows.iter().find(|w| w.inside(a));
                let touching: Vec<&Window> = windows.iter().filter(|w| w.touches(a)).collect();
                let may_skip: HashSet<&str> = touching.iter().map(|w| PODS[w.pod].0).collect();
                if let Some(w) = inside {
                    if a.skipped != [PODS[w.pod].0] {
                        wrong.push(format!(
                            "list of {key} under {} skipped {:?}",
                            at(w),
                            a.skipped
                        ));
                    }
                    if w.while_down(a) && hosts[w.pod].was_asked(&a.rid) {
                        wrong.push(format!("list of {key} reached {} while it was down", at(w)));
                    }
                } else if a.skipped.iter().any(|p| !may_skip.contains(p.as_str())) {
                    wrong.push(format!(
                        "list of {key} skipped {:?} with no fault there ({})",
                        a.skipped, a.rid
                    ));
                }
                let got = a.ids(key);
                for (pod, ids) in stable_ids.iter().enumerate() {
                    let skipped = a.skipped.iter().any(|p| p == PODS[pod].0);
                    for id in ids {
                        if skipped == got.contains(id) {
                            wrong.push(format!(
                                "list of {key} (skipped {:?}) {} {} of {}",
                                a.skipped,
                                if skipped { "holds" } else { "lacks" },
                                id,
                                PODS[pod].0
                            ));
                        }
                    }
                }
            }
            Op::Create(_) | Op::Show(_) | Op::Delete(_) | Op::StrictListServers => {
                // The faults that matter: those of the call's pod; for a
                // strict list, every fault.
                let mine: Vec<&Window> = windows
                    .iter()
                    .filter(|w| r.pod.is_none_or(|p| p == w.pod))
                    .collect();
                if let Some(w) = mine.iter().find(|w| w.inside(a)) {
                    if let Err(e) = a.unavailable() {
                        wrong.push(format!("{:?} {} under {}: {e}", r.op, r.what, at(w)));
                    }
                    if w.while_down(a) && hosts[w.pod].was_asked(&a.rid) {
                        wrong.push(format!(
                            "{:?} {} reached {} while it was down",
                            r.op,
                            r.what,
                            at(w)
                        ));
                    }
                } else if mine.iter().any(|w| w.touches(a)) {
                    if !a.ok() {
                        if let Err(e) = a.unavailable() {
                            wrong.push(format!(
                                "{:?} {} as a fault began or ended: {e}",
                                r.op, r.what
                            ));
                        }
                    }
                } else {
                    // Healthy pods: creates, shows and lists succeed; a
                    // delete may only be refused as the pod refuses it (a
                    // volume still being made).
                    let fine = match r.op {
                        Op::Delete(Kind::Volume) => a.ok() || a.status == 400,
                        _ => a.ok(),
                    };
                    if !fine {
                        wrong.push(format!(
                            "{:?} {} with no fault there answered {} {}",
                            r.op, r.what, a.status, a.body
                        ));
                    }
                    let got = a.ids("servers");
                    if r.op == Op::StrictListServers
                        && !stable.servers.iter().flatten().all(|id| got.contains(id))
                    {
                        wrong.push(format!("strict list lacks stable servers: {}", a.body));
                    }
                }
            }
        }
    }
    // The pods do see the request ids (so "not reached" above means
    // something): every call answered by a pod reached it with its id.
    for r in records.iter().filter(|r| r.answer.ok()) {
        let a = &r.answer;
        let asked: Vec<usize> = match r.op {
            Op::Create(_) | Op::Show(_) | Op::Delete(_) => vec![r.pod.unwrap()],
            Op::ListServers | Op::ListVolumes | Op::StrictListServers => (0..PODS.len())
                .filter(|p| !a.skipped.iter().any(|s| s == PODS[*p].0))
                .collect(),
            Op::Top => Vec::new(),
        };
        for p in asked {
            if !hosts[p].was_asked(&a.rid) {
                wrong.push(format!(
                    "{:?} {} answered {} without {} seeing its request id",
                    r.op, r.what, a.status, PODS[p].0
                ));
            }
        }
    }
    wrong
}

/// Resources made before the traffic and never deleted: every list must
/// show those of the pods it did not skip.
#[derive(Default)]
struct Stable {
    /// Per pod.
    servers: Vec<Vec<String>>,
    volumes: Vec<Vec<String>>,
}

/// What is in the pods and at the top, and what does not add up.
#[derive(Debug, Default)]
struct Census {
    problems: Vec<String>,
    /// What the pods hold, by kind.
    counts: std::collections::BTreeMap<&'static str, usize>,
}

async fn census(
    hosts: &[PodHost],
    store: &Store,
    admin: &Client,
    demo: &Client,
    book: &Shared,
) -> Census {
    let mut problems = Vec::new();
    let live = store
        .list_jobs(&JobFilter::default(), None, 1000)
        .await
        .unwrap();
    for j in &live.jobs {
        problems.push(format!(
            "job {} {} is {:?} ({:?})",
            j.job_type, j.id, j.status, j.last_error
        ));
    }
    let routings = store
        .list_routings(&RoutingFilter::default(), None, 100_000)
        .await
        .unwrap()
        .routings;
    let admin_project = admin.project.clone();
    let mut in_pods: HashMap<(String, &str), HashSet<String>> = HashMap::new();
    let mut counts = std::collections::BTreeMap::new();
    for host in hosts {
        let pod_id = store
            .find_pod_by_name(host.name)
            .await
            .unwrap()
            .unwrap()
            .pod_id;
        for (kind, url, key) in [
            (
                "server",
                format!("{}/compute/v2.1/servers/detail?all_tenants=1", host.url),
                "servers",
            ),
            (
                "volume",
                format!(
                    "{}/volume/v3/{admin_project}/volumes/detail?all_tenants=1",
                    host.url
                ),
                "volumes",
            ),
            ("port", format!("{}/network/v2.0/ports", host.url), "ports"),
            (
                "network",
                format!("{}/network/v2.0/networks", host.url),
                "networks",
            ),
            (
                "subnet",
                format!("{}/network/v2.0/subnets", host.url),
                "subnets",
            ),
        ] {
            let a = admin.call(Method::GET, &url, None).await;
            assert_eq!(a.status, 200, "{url}: {}", a.body);
            let ids = a.ids(key);
            *counts.entry(kind).or_insert(0) += ids.len();
            for id in &ids {
                let routed = routings.iter().any(|r| {
                    r.pod_id == pod_id
                        && r.resource_type.as_str() == kind
                        && r.bottom_id.as_deref() == Some(id.as_str())
                });
                if !routed {
                    problems.push(format!("{kind} {id} in {} has no routing", host.name));
                }
            }
            in_pods.insert((pod_id.clone(), kind), ids);
        }
    }
    let top_ports: HashMap<String, Value> = {
        let a = admin
            .call(Method::GET, &format!("{}/v2.0/ports", admin.network), None)
            .await;
        assert_eq!(a.status, 200, "{}", a.body);
        a.body["ports"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| (p["id"].as_str().unwrap().to_string(), p.clone()))
            .collect()
    };
    let mut routed_top: HashMap<&str, HashSet<String>> = HashMap::new();
    for r in &routings {
        let kind = r.resource_type.as_str();
        let Some(ids) = in_pods.get(&(r.pod_id.clone(), kind)) else {
            continue;
        };
        match r.bottom_id.as_deref() {
            Some(b) if ids.contains(b) => {}
            other => problems.push(format!(
                "routing {} of {kind} {} points at {other:?}, not in its pod",
                r.id, r.top_id
            )),
        }
        if kind == "port" && !top_ports.contains_key(&r.top_id) {
            problems.push(format!(
                "port {} has a copy but no longer exists at the top",
                r.top_id
            ));
        }
        if r.project_id == demo.project {
            routed_top.entry(kind).or_default().insert(r.top_id.clone());
        }
    }
    // The top holds what the clients were told exists, and nothing more.
    let alive = book.lock().unwrap().alive.clone();
    for (kind, is_server) in [("server", true), ("volume", false)] {
        let told: HashSet<String> = alive
            .iter()
            .filter(|(_, (k, _))| k.is_server() == is_server)
            .map(|(id, _)| id.clone())
            .collect();
        let routed = routed_top.remove(kind).unwrap_or_default();
        for id in told.difference(&routed) {
            problems.push(format!("{kind} {id} was acknowledged but is lost"));
        }
        for id in routed.difference(&told) {
            problems.push(format!("{kind} {id} exists but no client was told so"));
        }
    }
    // Every port a boot made belongs to a server that exists.
    for p in top_ports.values() {
        if p["project_id"] != json!(demo.project) {
            continue;
        }
        let owner = p["device_owner"].as_str().unwrap_or("");
        if owner.starts_with("network:") {
            continue;
        }
        let device = p["device_id"].as_str().unwrap_or("");
        if !alive.contains_key(device) {
            problems.push(format!(
                "top port {} ({owner:?}) belongs to no server that exists ({device:?})",
                p["id"]
            ));
        }
    }
    Census { problems, counts }
}

/// The request ids of the creates whose check jobs deleted what the pod
/// had made, from the gateway's log.
fn cleaned_creates(log: &std::path::Path) -> HashSet<String> {
    std::fs::read_to_string(log)
        .unwrap()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["fields"]["message"] == "deleted what a create without an answer made")
        .filter_map(|v| v["fields"]["request_id"].as_str().map(str::to_string))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pods_failing_under_traffic_fail_alone_visibly_and_leave_nothing_behind() {
    let began = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let id_cfg = IdentityConfig {
        public_url: format!("http://{}", l.local_addr().unwrap()),
        ..Default::default()
    };
    let identity = Identity::new(id_cfg.clone());
    let router = identity.router();
    tokio::spawn(async move { tricircle_podsim::serve(l, router, std::future::pending()).await });
    let images = tricircle_podsim::image::ImageService::default();
    images.add_image(IMAGE, "cirros");
    let mut hosts = Vec::new();
    for (name, _) in PODS {
        let pod = Pod::new(
            PodConfig::new(name)
                .with_identity(identity.clone())
                .with_images(images.clone()),
        );
        let host = PodHost::start(name, pod).await;
        identity.register_pod(name, &host.url);
        hosts.push(host);
    }

    let db = dir.path().join("tricircle.db");
    let url = format!("sqlite://{}", db.display());
    let store = Store::connect(&url, &ConnectOptions::default())
        .await
        .unwrap();
    store.migrate().await.unwrap();
    for (name, az) in [("RegionOne", "")].into_iter().chain(PODS) {
        let spec = tricircle_core::PodSpec {
            pod_name: name.into(),
            az_name: Some(az.into()),
            pod_az_name: Some(String::new()),
            dc_name: None,
        };
        store.create_pod(&spec.validate().unwrap()).await.unwrap();
    }
    let config = dir.path().join("tricircle.conf");
    std::fs::write(
        &config,
        format!(
            "[DEFAULT]\nauth_strategy = keystone\nlog_format = json\nbind_host = 127.0.0.1\n\
             admin_port = 0\ncompute_port = 0\nvolume_port = 0\nnetwork_port = 0\n\
             [database]\nconnection = {url}\n{}\
             [client]\npod_timeout = {POD_TIMEOUT_SECS}\nlist_deadline = {LIST_DEADLINE_MS}\n\
             pod_down_after_failures = 3\npod_retry_interval = {RETRY_INTERVAL_SECS}\n\
             pod_probe_interval = 1\npod_probe_timeout = {PROBE_TIMEOUT_MS}\n\
             health_refresh_interval = 500\n\
             [quota]\ninstances = 10000\ncores = 10000\nram = 10000000\nvolumes = 10000\n\
             gigabytes = 10000\nquota_port = 10000\n\
             [jobs]\nworkers = 4\nlease_seconds = 10\npoll_interval_seconds = 1\n\
             max_attempts = 10000\nbackoff_cap_seconds = 2\n",
            keystone_section(&id_cfg)
        ),
    )
    .unwrap();
    let mut gw: Gateway = start_gateway(&config, &dir.path().join("serve.log"));

    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let client = |user: &str| {
        let token = identity.issue_token(user, user).unwrap();
        let project = identity.validate(&token).unwrap()["token"]["project"]["id"]
            .as_str()
            .unwrap()
            .to_string();
        Client {
            http: http.clone(),
            token,
            project,
            compute: gw.compute.clone(),
            volume: gw.volume.clone(),
            network: gw.network.clone(),
            admin: gw.admin.clone(),
        }
    };
    let (admin, demo) = (client("admin"), client("demo"));
    // The pods' own quotas must not refuse the traffic.
    for host in &hosts {
        for (url, body) in [
            (
                format!("{}/compute/v2.1/os-quota-sets/{}", host.url, demo.project),
                json!({"quota_set": {"instances": 1000, "cores": 1000, "ram": 1_000_000}}),
            ),
            (
                format!(
                    "{}/volume/v3/{}/os-quota-sets/{}",
                    host.url, admin.project, demo.project
                ),
                json!({"quota_set": {"volumes": 1000, "gigabytes": 10_000}}),
            ),
        ] {
            let a = admin.call(Method::PUT, &url, Some(body)).await;
            assert_eq!(a.status, 200, "{url}: {}", a.body);
        }
    }

    // A flavor, a network (VxLAN: it spans the AZs) and in every pod a
    // server without networks, one on the network and a volume that stay
    // throughout.
    let a = admin
        .call(
            Method::POST,
            &format!("{}/v2.1/flavors", admin.compute),
            Some(json!({"flavor": {"id": "f1", "name": "tiny", "vcpus": 1,
                "ram": SERVER_RAM_MB, "disk": 1}})),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let a = demo
        .call(
            Method::POST,
            &format!("{}/v2.0/networks", demo.network),
            Some(json!({"network": {"name": "traffic"}})),
        )
        .await;
    assert_eq!(a.status, 201, "{}", a.body);
    let net = a.body["network"]["id"].as_str().unwrap().to_string();
    let a = demo
        .call(
            Method::POST,
            &format!("{}/v2.0/subnets", demo.network),
            Some(json!({"subnet": {"network_id": net, "cidr": "10.20.0.0/22", "ip_version": 4}})),
        )
        .await;
    assert_eq!(a.status, 201, "{}", a.body);
    let book = Shared::default();
    let mut stable = Stable::default();
    for (pod, (_, az)) in PODS.iter().enumerate() {
        let (mut servers, mut volumes) = (Vec::new(), Vec::new());
        for kind in Kind::ALL {
            let a = demo
                .create(kind, az, &format!("stable-{kind:?}-{az}"), &net)
                .await;
            assert_eq!(a.status, 202, "{kind:?} in {az}: {}", a.body);
            let id = a.body[kind.key()]["id"].as_str().unwrap().to_string();
            book.lock().unwrap().alive.insert(id.clone(), (kind, pod));
            if kind.is_server() {
                servers.push(id);
            } else {
                volumes.push(id);
            }
        }
        stable.servers.push(servers);
        stable.volumes.push(volumes);
    }
    let c = &admin;
    wait_for(
        "every pod to be up",
        Duration::from_secs(30),
        || async move {
            let h = c.health().await;
            PODS.iter()
                .all(|(name, _)| h.get(*name).is_some_and(|v| v["state"] == "up"))
                .then_some(())
        },
    )
    .await;

    // The traffic.
    let stop = Arc::new(AtomicBool::new(false));
    let mut clients = Vec::new();
    for (n, kind) in Kind::ALL.into_iter().enumerate() {
        clients.push(tokio::spawn(resource_traffic(
            kind,
            n,
            demo.clone(),
            net.clone(),
            book.clone(),
            stop.clone(),
        )));
    }
    clients.push(tokio::spawn(list_traffic(
        demo.clone(),
        book.clone(),
        stop.clone(),
    )));
    let b = &book;
    wait_for(
        "every client to have made two of each in every pod",
        Duration::from_secs(60),
        || async move {
            let b = b.lock().unwrap();
            let made = |kind: Kind, pod: usize| {
                b.records
                    .iter()
                    .filter(|r| r.op == Op::Create(kind) && r.pod == Some(pod) && r.answer.ok())
                    .count()
            };
            Kind::ALL
                .iter()
                .all(|k| (0..PODS.len()).all(|p| made(*k, p) >= 2))
                .then_some(())
        },
    )
    .await;

    // One pod at a time, each fault in turn.
    let schedule = [
        (Fault::RefusesConnections, 0),
        (Fault::Answers503, 1),
        (Fault::Hangs, 2),
        (Fault::LosesAnswers, 0),
    ];
    let mut windows = Vec::new();
    for (fault, pod) in schedule {
        let host = &hosts[pod];
        let name = host.name;
        host.inject(fault).await;
        let on = Instant::now();
        // A create of each kind in the pod's AZ at once, before the pod can
        // be down (under a hang or lost answers its first failure takes the
        // probe timeout at least): under lost answers the pod makes what no
        // client is told of.
        let direct: Vec<_> = Kind::ALL
            .into_iter()
            .map(|kind| {
                let (demo, book, net) = (demo.clone(), book.clone(), net.clone());
                tokio::spawn(async move {
                    let name = format!("direct-{fault:?}-{kind:?}");
                    let a = demo.create(kind, PODS[pod].1, &name, &net).await;
                    if a.status == 202 {
                        let id = a.body[kind.key()]["id"].as_str().unwrap().to_string();
                        book.lock().unwrap().alive.insert(id, (kind, pod));
                    }
                    note(&book, Op::Create(kind), Some(pod), name, a);
                })
            })
            .collect();
        let (down_seen, seen) = wait_for(
            &format!("{name} to go down under {fault:?}"),
            Duration::from_secs(30),
            || async move {
                let h = c.health().await.remove(name)?;
                (h["state"] == "down").then(|| (Instant::now(), h))
            },
        )
        .await;
        let error = seen["last_error"].as_str().unwrap_or("");
        assert!(
            fault.error_words().iter().any(|w| error.contains(w)),
            "{name} under {fault:?}: last error {error:?}"
        );
        assert!(seen["consecutive_failures"].as_i64() >= Some(3), "{seen}");
        for d in direct {
            d.await.unwrap();
        }
        // Traffic meets the down pod: lists, creates in its AZ, calls on
        // its resources, all started after it was seen down.
        wait_for(
            &format!("calls to {name} while it is down"),
            Duration::from_secs(60),
            || async move {
                let b = b.lock().unwrap();
                let count = |f: &dyn Fn(&Record) -> bool| {
                    b.records
                        .iter()
                        .filter(|r| r.answer.started >= down_seen && f(r))
                        .count()
                };
                let enough = count(&|r| r.op == Op::ListServers) >= 2
                    && count(&|r| r.op == Op::ListVolumes) >= 2
                    && Kind::ALL
                        .iter()
                        .all(|k| count(&|r| r.op == Op::Create(*k) && r.pod == Some(pod)) >= 1)
                    && count(&|r| {
                        matches!(r.op, Op::Show(_) | Op::Delete(_)) && r.pod == Some(pod)
                    }) >= 3;
                enough.then_some(())
            },
        )
        .await;
        let off = Instant::now();
        host.repair(fault).await;
        let up_seen = wait_for(
            &format!("{name} to come back after {fault:?}"),
            Duration::from_secs(30),
            || async move {
                let h = c.health().await.remove(name)?;
                (h["state"] == "up").then(Instant::now)
            },
        )
        .await;
        // And serves again.
        wait_for(
            &format!("creates in {name} after {fault:?}"),
            Duration::from_secs(30),
            || async move {
                let b = b.lock().unwrap();
                Kind::ALL
                    .iter()
                    .all(|k| {
                        b.records.iter().any(|r| {
                            r.op == Op::Create(*k)
                                && r.pod == Some(pod)
                                && r.answer.started >= up_seen
                                && r.answer.ok()
                        })
                    })
                    .then_some(())
            },
        )
        .await;
        eprintln!(
            "{fault:?} on {name}: down after {:.1}s, held {:.1}s, up {:.1}s after the repair",
            (down_seen - on).as_secs_f64(),
            (off - down_seen).as_secs_f64(),
            (up_seen - off).as_secs_f64()
        );
        windows.push(Window {
            fault,
            pod,
            on,
            down_seen,
            off,
            up_seen,
        });
    }
    stop.store(true, Ordering::SeqCst);
    for c in clients {
        c.await.unwrap();
    }

    let records = book.lock().unwrap().records.clone();
    let wrong = judge(&records, &windows, &hosts, &stable);
    for w in &windows {
        let inside: Vec<&Record> = records.iter().filter(|r| w.inside(&r.answer)).collect();
        let count = |f: &dyn Fn(&Record) -> bool| inside.iter().filter(|r| f(r)).count();
        let is_list = |r: &Record| matches!(r.op, Op::ListServers | Op::ListVolumes);
        let on_it = |r: &Record| r.pod == Some(w.pod);
        eprintln!(
            "{:?} on {}: {} lists skipped it ({} once down, not sent to it), {} calls on it \
             answered 503 ({} once down, not sent to it), {} calls on the other pods succeeded",
            w.fault,
            PODS[w.pod].0,
            count(&is_list),
            count(&|r| is_list(r) && w.while_down(&r.answer)),
            count(&on_it),
            count(&|r| on_it(r) && w.while_down(&r.answer)),
            count(&|r| r.pod.is_some_and(|p| p != w.pod)),
        );
    }
    let slowest = |f: &dyn Fn(&Record) -> bool| {
        records
            .iter()
            .filter(|r| f(r))
            .map(|r| r.answer.ended - r.answer.started)
            .max()
            .unwrap_or_default()
    };
    let clear = |r: &Record| {
        !windows
            .iter()
            .any(|w| r.pod.is_none_or(|p| p == w.pod) && w.touches(&r.answer))
    };
    eprintln!(
        "slowest answers with no fault involved: a call on a pod {:?}, a list {:?}",
        slowest(&|r| r.pod.is_some() && clear(r)),
        slowest(&|r| matches!(r.op, Op::ListServers | Op::ListVolumes) && clear(r)),
    );
    assert!(
        wrong.is_empty(),
        "{} of {} calls went wrong:\n{}",
        wrong.len(),
        records.len(),
        wrong
            .iter()
            .take(40)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );

    // The deletes answered 503, done again as a client would.
    let retry = book.lock().unwrap().retry.clone();
    for (kind, id) in &retry {
        let d = &demo;
        let url = d.url_of(*kind, id);
        let u = &url;
        wait_for(
            &format!("the delete of {kind:?} {id} to be done"),
            Duration::from_secs(30),
            || async move {
                let a = d.call(Method::DELETE, u, None).await;
                (a.ok() || a.status == 404).then_some(())
            },
        )
        .await;
        book.lock().unwrap().alive.remove(id);
    }

    // Nothing left over once the jobs are done (the create checks wait
    // 2 x pod_timeout, pods delete in the background).
    let settled = Instant::now();
    let mut last = Census::default();
    let deadline = settled + Duration::from_secs(60);
    while Instant::now() < deadline {
        last = census(&hosts, &store, &admin, &demo, &book).await;
        if last.problems.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(
        last.problems.is_empty(),
        "after the faults:\n{}",
        last.problems.join("\n")
    );
    eprintln!(
        "settled in {:.1}s: in the pods {:?}, all routed",
        settled.elapsed().as_secs_f64(),
        last.counts
    );
    // What a pod made for a create whose answer it lost was found and
    // deleted by the create's check job.
    let cleaned = cleaned_creates(&dir.path().join("serve.log"));
    for w in &windows {
        let lost: Vec<&Record> = records
            .iter()
            .filter(|r| {
                matches!(r.op, Op::Create(_))
                    && r.pod == Some(w.pod)
                    && w.touches(&r.answer)
                    && !r.answer.ok()
                    && hosts[w.pod].asked_to_create(&r.answer.rid)
            })
            .collect();
        let removed = lost
            .iter()
            .filter(|r| cleaned.contains(&r.answer.rid))
            .count();
        eprintln!(
            "{:?} on {}: {} failed creates had reached the pod; their checks deleted {removed} it had made",
            w.fault,
            PODS[w.pod].0,
            lost.len()
        );
        if w.fault == Fault::LosesAnswers {
            assert!(!lost.is_empty(), "no create answer was lost");
            assert_eq!(removed, lost.len(), "{lost:#?}");
        }
    }

    // Quota usage equals what exists (reservations of lost creates expire
    // after 4 x pod_timeout).
    let alive = book.lock().unwrap().alive.clone();
    let servers = alive.values().filter(|(k, _)| k.is_server()).count() as i64;
    let volumes = alive.len() as i64 - servers;
    let want = [servers, servers, servers * SERVER_RAM_MB, volumes, volumes];
    let deadline = Instant::now() + Duration::from_secs(60);
    let usage = loop {
        let c = demo
            .call(Method::GET, &format!("{}/v2.1/limits", demo.compute), None)
            .await;
        let v = demo
            .call(
                Method::GET,
                &format!("{}/v3/{}/limits", demo.volume, demo.project),
                None,
            )
            .await;
        let (c, v) = (&c.body["limits"]["absolute"], &v.body["limits"]["absolute"]);
        let got = [
            &c["totalInstancesUsed"],
            &c["totalCoresUsed"],
            &c["totalRAMUsed"],
            &v["totalVolumesUsed"],
            &v["totalGigabytesUsed"],
        ]
        .map(|n| n.as_i64().unwrap_or(-1));
        if got == want || Instant::now() > deadline {
            break got;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(
        usage, want,
        "quota usage (instances, cores, RAM, volumes, gigabytes) against what exists"
    );
    eprintln!(
        "{} calls, {} faults; usage {usage:?}; {:.1}s in all",
        records.len(),
        windows.len(),
        began.elapsed().as_secs_f64()
    );
    gw.kill();
}
