//! `tricircle demo` and `tricircle podsim`: Tricircle (or only the pod
//! simulator) with a simulated Keystone and simulated pods, on loopback.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tricircle_podsim::{Credentials, Identity, IdentityConfig, Pod, PodConfig};

use crate::config::{Config, Layers};
use crate::serve;

/// The public image the demo's pods can boot.
pub const DEMO_IMAGE: &str = "cirros-0.6.2-x86_64-disk";

/// The physical networks of the seed's walkthrough, with its VLAN ranges:
/// `bridge` (cross-pod L3) and `extern` (external networks). The demo's
/// gateway offers them unless `--config` sets `[network]
/// network_vlan_ranges`, and its pods always have them.
pub const DEMO_VLAN_RANGES: &str = "bridge:2001:3000,extern:3001:4000";

#[derive(clap::Args)]
pub struct DemoArgs {
    /// Address every service listens on [default: [DEFAULT] bind_host of
    /// --config, else 127.0.0.1].
    #[arg(long)]
    bind: Option<String>,
    /// Port of the simulated Keystone (0: any free port).
    #[arg(long, default_value_t = 5000)]
    identity_port: u16,
    /// Port of Tricircle's admin API (0: any free port) [default: [DEFAULT]
    /// admin_port of --config, else 19999].
    #[arg(long)]
    admin_port: Option<u16>,
    /// Port of Tricircle's compute gateway (0: any free port) [default:
    /// compute_port of --config, else 19998].
    #[arg(long)]
    compute_port: Option<u16>,
    /// Port of Tricircle's volume gateway (0: any free port) [default:
    /// volume_port of --config, else 19997].
    #[arg(long)]
    volume_port: Option<u16>,
    /// Port of Tricircle's network API (0: any free port) [default:
    /// network_port of --config, else 9696].
    #[arg(long)]
    network_port: Option<u16>,
    /// Pod1 listens here, Pod2 on the next port (0: any free ports).
    #[arg(long, default_value_t = 20001)]
    pod_base_port: u16,
    /// Keep the SQLite database here instead of a temporary directory. A
    /// later demo on the same directory keeps the pods, flavors, volume
    /// types and top networks; the simulated pods start empty again.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Password of the `admin` user of the simulated Keystone.
    #[arg(
        long,
        env = "TRICIRCLE_DEMO_PASSWORD",
        default_value = "secret",
        hide_env_values = true
    )]
    admin_password: String,
    /// Password of the non-admin `demo` user (role member on project demo).
    #[arg(long, default_value = "demo-secret")]
    demo_user_password: String,
    /// Added to every request a simulated pod serves (a distant data centre).
    #[arg(long, default_value_t = 0)]
    pod_latency_ms: u64,
    /// Write the logs (a line per request) here instead of
    /// DATA_DIR/tricircle-demo.log (or a file in the temporary directory
    /// without --data-dir).
    #[arg(long, conflicts_with = "verbose")]
    log_file: Option<PathBuf>,
    /// Write the logs to the terminal (stderr) instead of a file.
    #[arg(short, long)]
    verbose: bool,
}

#[derive(clap::Args)]
pub struct PodsimArgs {
    #[arg(long, default_value = "127.0.0.1")]
    bind: String,
    #[arg(long, default_value_t = 5000)]
    identity_port: u16,
    /// Region names of the simulated pods, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "Pod1,Pod2")]
    pods: Vec<String>,
    /// First pod's port; the others follow (0: any free ports).
    #[arg(long, default_value_t = 20001)]
    pod_base_port: u16,
    #[arg(
        long,
        env = "TRICIRCLE_DEMO_PASSWORD",
        default_value = "secret",
        hide_env_values = true
    )]
    admin_password: String,
    /// Added to every request a simulated pod serves (a distant data centre).
    #[arg(long, default_value_t = 0)]
    pod_latency_ms: u64,
}

/// A running simulation: identity plus pods, all stopped by `stop`.
struct Simulation {
    identity: Identity,
    /// The image service all pods share, reached through the first pod.
    image_url: String,
    identity_cfg: IdentityConfig,
    tasks: Vec<JoinHandle<()>>,
    stop: watch::Sender<bool>,
}

fn shutdown_future(
    rx: &watch::Receiver<bool>,
) -> impl std::future::Future<Output = ()> + Send + 'static {
    let mut rx = rx.clone();
    async move {
        let _ = rx.wait_for(|stop| *stop).await;
    }
}

async fn listen(bind: &str, port: u16, what: &str) -> anyhow::Result<TcpListener> {
    TcpListener::bind((bind, port))
        .await
        .with_context(|| format!("cannot listen on {bind}:{port} for {what} (choose another port)"))
}

fn random_secret() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

async fn start_simulation(
    bind: &str,
    identity_port: u16,
    pods: &[String],
    pod_base_port: u16,
    passwords: (&str, Option<&str>),
    pod_latency_ms: u64,
    physical_networks: &[String],
) -> anyhow::Result<Simulation> {
    let (admin_password, demo_password) = passwords;
    let (stop, rx) = watch::channel(false);
    let identity_listener = listen(bind, identity_port, "identity").await?;
    let identity_addr = identity_listener.local_addr()?;
    let identity_cfg = IdentityConfig {
        public_url: format!("http://{identity_addr}"),
        admin_password: admin_password.to_string(),
        service_password: random_secret(),
        demo_password: demo_password.map_or_else(random_secret, str::to_string),
        ..Default::default()
    };
    let identity = Identity::new(identity_cfg.clone());
    // One image service for every pod, as in the seed's deployment, with
    // an image to boot.
    let images = tricircle_podsim::image::ImageService::default();
    images.add_image(&uuid::Uuid::new_v4().to_string(), DEMO_IMAGE);
    let mut tasks = Vec::new();
    let mut image_url = String::new();
    for (i, name) in pods.iter().enumerate() {
        let port = if pod_base_port == 0 {
            0
        } else {
            pod_base_port
                .checked_add(i as u16)
                .context("pod ports run past 65535")?
        };
        let listener = listen(bind, port, name).await?;
        let url = format!("http://{}", listener.local_addr()?);
        identity.register_pod(name, &url);
        if image_url.is_empty() {
            image_url = format!("{url}/image");
        }
        // The AZ inside the pod is the one the demo registers as its
        // pod_az_name: az1, az2, ...
        let mut pod_cfg = PodConfig::new(name)
            .with_identity(identity.clone())
            .with_images(images.clone());
        pod_cfg.availability_zone = format!("az{}", i + 1);
        pod_cfg.latency = Duration::from_millis(pod_latency_ms);
        pod_cfg.physical_networks = physical_networks.to_vec();
        let pod = Pod::new(pod_cfg);
        let shutdown = shutdown_future(&rx);
        let name = name.clone();
        tasks.push(tokio::spawn(async move {
            if let Err(e) = tricircle_podsim::serve(listener, pod.router(), shutdown).await {
                tracing::error!(pod = %name, error = %e, "simulated pod stopped");
            }
        }));
    }
    let router = identity.router();
    let shutdown = shutdown_future(&rx);
    tasks.push(tokio::spawn(async move {
        if let Err(e) = tricircle_podsim::serve(identity_listener, router, shutdown).await {
            tracing::error!(error = %e, "simulated identity stopped");
        }
    }));
    Ok(Simulation {
        identity,
        image_url,
        identity_cfg,
        tasks,
        stop,
    })
}

impl Simulation {
    async fn stop(self) {
        let _ = self.stop.send(true);
        for t in self.tasks {
            let _ = tokio::time::timeout(Duration::from_secs(5), t).await;
        }
    }
}

fn print_exports(identity_cfg: &IdentityConfig, admin_url: Option<&str>) {
    let c = Credentials::admin(identity_cfg);
    println!("# Use the real openstack CLI (python-openstackclient) with these:");
    println!("export OS_AUTH_URL={}/v3", identity_cfg.public_url);
    println!("export OS_IDENTITY_API_VERSION=3");
    println!("export OS_USERNAME={}", c.username);
    println!("export OS_PASSWORD={}", c.password);
    println!("export OS_PROJECT_NAME={}", c.project_name);
    println!("export OS_USER_DOMAIN_NAME={}", c.user_domain_name);
    println!("export OS_PROJECT_DOMAIN_NAME={}", c.project_domain_name);
    println!("export OS_REGION_NAME=RegionOne");
    if let Some(url) = admin_url {
        println!("export TRICIRCLE_ADMIN_URL={url}");
        println!("# e.g.: curl -s -H \"X-Auth-Token: $(openstack token issue -f value -c id)\" $TRICIRCLE_ADMIN_URL/pods");
    }
}

/// The demo's configuration: its defaults (the seed's physical networks),
/// then `--config` and `TRICIRCLE__*` as for `serve`, then the flags given;
/// the database and `[keystone_authtoken]` are always the demo's own.
fn demo_config(
    args: &DemoArgs,
    config_file: Option<&Path>,
    database: &str,
    keystone: &[(&str, String)],
) -> anyhow::Result<(Config, Vec<String>)> {
    let defaults = [(
        "network",
        "network_vlan_ranges",
        DEMO_VLAN_RANGES.to_string(),
    )];
    let mut flags = Vec::new();
    if let Some(b) = &args.bind {
        flags.push(("DEFAULT", "bind_host", b.clone()));
    }
    for (option, port) in [
        ("admin_port", args.admin_port),
        ("compute_port", args.compute_port),
        ("volume_port", args.volume_port),
        ("network_port", args.network_port),
    ] {
        if let Some(p) = port {
            flags.push(("DEFAULT", option, p.to_string()));
        }
    }
    let mut fixed = vec![
        ("database", "connection", database.to_string()),
        ("database", "auto_migrate", "true".to_string()),
    ];
    fixed.extend(
        keystone
            .iter()
            .map(|(option, value)| ("keystone_authtoken", *option, value.clone())),
    );
    let layers = Layers {
        defaults: &defaults,
        file: config_file,
        flags: &flags,
        fixed: &fixed,
    };
    let (cfg, replaced) = Config::load_layers(&layers, std::env::vars())?;
    Ok((cfg, replaced))
}

/// `[keystone_authtoken]` for the simulated Keystone.
fn keystone_settings(identity: &IdentityConfig) -> Vec<(&'static str, String)> {
    let service = Credentials::service(identity);
    let auth_url = format!("{}/v3", identity.public_url);
    vec![
        ("auth_url", auth_url.clone()),
        ("www_authenticate_uri", auth_url),
        ("username", service.username.clone()),
        ("password", service.password.clone()),
        ("project_name", service.project_name.clone()),
        ("user_domain_name", service.user_domain_name.clone()),
        ("project_domain_name", service.project_domain_name.clone()),
    ]
}

/// The physical networks the demo's pods have: the seed's, and every one
/// the gateway's `[network]` names (a pod refuses a network on a physical
/// network it does not have, as Neutron does).
fn pod_physical_networks(cfg: &tricircle_network::NetworkConfig) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let seed =
        tricircle_network::NetworkConfig::parse_vlan_ranges(DEMO_VLAN_RANGES).unwrap_or_default();
    let names = seed
        .iter()
        .chain(&cfg.network_vlan_ranges)
        .map(|r| r.physical_network.clone())
        .chain(cfg.flat_networks.iter().filter(|f| *f != "*").cloned());
    for name in names {
        if !out.contains(&name) {
            out.push(name);
        }
    }
    out
}

/// Where the demo logs: the terminal with `-v`, else a file (whose path
/// is returned).
fn init_demo_logging(
    args: &DemoArgs,
    cfg: &Config,
    data_dir: Option<&Path>,
) -> anyhow::Result<Option<PathBuf>> {
    if args.verbose {
        crate::init_logging(cfg.log_format, cfg.debug, None);
        return Ok(None);
    }
    let path = match (&args.log_file, data_dir) {
        (Some(p), _) => p.clone(),
        (None, Some(d)) => d.join("tricircle-demo.log"),
        (None, None) => {
            std::env::temp_dir().join(format!("tricircle-demo-{}.log", chrono_like_stamp()))
        }
    };
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .with_context(|| format!("cannot open the log file {}", path.display()))?;
    crate::init_logging(cfg.log_format, cfg.debug, Some(file));
    Ok(Some(path))
}

/// Seconds since the epoch and the pid: a log file name no other demo has.
fn chrono_like_stamp() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    format!("{secs}-{}", std::process::id())
}

pub async fn demo(args: &DemoArgs, config_file: Option<&Path>) -> anyhow::Result<()> {
    let pods = ["Pod1".to_string(), "Pod2".to_string()];
    // The configuration is checked before anything is made or listens: a
    // file that cannot be read or holds a wrong value stops the demo here.
    let placeholder = [
        ("auth_url", "http://127.0.0.1:5000/v3".to_string()),
        ("password", "placeholder".to_string()),
    ];
    let database = |dir: &Path| format!("sqlite://{}", dir.join("tricircle.db").display());
    let (checked, replaced) = demo_config(
        args,
        config_file,
        &database(Path::new("/nonexistent")),
        &placeholder,
    )?;
    let temp;
    let data_dir = match &args.data_dir {
        Some(d) => {
            std::fs::create_dir_all(d).with_context(|| format!("cannot create {}", d.display()))?;
            d.clone()
        }
        None => {
            temp = tempfile::tempdir().context("cannot create a temporary directory")?;
            temp.path().to_path_buf()
        }
    };
    let log_path = init_demo_logging(args, &checked, args.data_dir.as_deref())?;
    let physical_networks = pod_physical_networks(&checked.network);
    let sim = start_simulation(
        &checked.bind_host,
        args.identity_port,
        &pods,
        args.pod_base_port,
        (&args.admin_password, Some(&args.demo_user_password)),
        args.pod_latency_ms,
        &physical_networks,
    )
    .await?;
    let (cfg, _) = match demo_config(
        args,
        config_file,
        &database(&data_dir),
        &keystone_settings(&sim.identity_cfg),
    ) {
        Ok(c) => c,
        Err(e) => {
            sim.stop().await;
            return Err(e);
        }
    };
    let store = serve::open_store(&cfg).await?;
    store.migrate().await.context("migration failed")?;
    if !store.list_pods().await?.is_empty() {
        forget_simulated_pods(&store, &cfg).await?;
    }
    let running = serve::prepare(&cfg, store).await?;
    let admin_url = format!("http://{}/v1.0", running.admin_addr);
    // The top region: Tricircle's APIs, and the one image service every
    // pod uses (as in the seed's deployment).
    sim.identity.add_service("tricircle", "tricircle");
    sim.identity.add_service("compute", "nova");
    sim.identity.add_service("image", "glance");
    sim.identity.add_service("volumev3", "cinderv3");
    sim.identity.add_service("block-storage", "cinder");
    sim.identity.add_service("network", "neutron");
    let network_url = running
        .network_addr
        .map(|a| format!("http://{a}"))
        .context("the network API is not running")?;
    let volume_url = running
        .volume_addr
        .map(|a| format!("http://{a}/v3/$(project_id)s"))
        .context("the volume gateway is not running")?;
    let compute_url = running
        .compute_addr
        .map(|a| format!("http://{a}/v2.1"))
        .context("the compute gateway is not running")?;
    for iface in ["public", "internal", "admin"] {
        sim.identity
            .add_endpoint("RegionOne", "tricircle", iface, &admin_url);
        sim.identity
            .add_endpoint("RegionOne", "compute", iface, &compute_url);
        sim.identity
            .add_endpoint("RegionOne", "image", iface, &sim.image_url);
        sim.identity
            .add_endpoint("RegionOne", "volumev3", iface, &volume_url);
        sim.identity
            .add_endpoint("RegionOne", "block-storage", iface, &volume_url);
        sim.identity
            .add_endpoint("RegionOne", "network", iface, &network_url);
    }
    let (stop_admin, rx) = watch::channel(false);
    let admin_task = tokio::spawn(running.run(shutdown_future(&rx)));

    let setup = create_demo_pods(&sim.identity_cfg, &admin_url).await;
    if let Err(e) = setup {
        let _ = stop_admin.send(true);
        sim.stop().await;
        return Err(e.context("setting up the demo pods through the admin API failed"));
    }
    let shutdown = serve::shutdown_signal();
    if let Some(file) = config_file {
        println!("# Configuration: {}", file.display());
        if !replaced.is_empty() {
            println!(
                "#   not used (the demo has its own database and Keystone): {}",
                replaced.join(", ")
            );
        }
    }
    print_exports(&sim.identity_cfg, Some(&admin_url));
    let demo_user = Credentials::demo(&sim.identity_cfg);
    println!(
        "# A non-admin user (role member on project demo): OS_USERNAME={} OS_PASSWORD={} OS_PROJECT_NAME={}",
        demo_user.username, demo_user.password, demo_user.project_name
    );
    print_try(&cfg.network);
    match &log_path {
        Some(p) => println!(
            "# Logs (a line per request): {} (tricircle demo -v writes them here instead)",
            p.display()
        ),
        None => println!("# Logs: below, on stderr"),
    }
    println!(
        "# Tricircle demo is ready: pods RegionOne (top), Pod1 (az1), Pod2 (az2). Ctrl-C stops it."
    );
    tracing::info!(%admin_url, data_dir = %data_dir.display(), "demo running");

    tokio::select! {
        _ = shutdown => {}
        r = admin_task => {
            sim.stop().await;
            return match r {
                Ok(Ok(())) => Err(anyhow::anyhow!("the admin API stopped unexpectedly")),
                Ok(Err(e)) => Err(e),
                Err(e) => Err(e.into()),
            };
        }
    }
    tracing::info!("stopping the demo");
    let _ = stop_admin.send(true);
    sim.stop().await;
    Ok(())
}

/// What to try, with the physical networks the gateway offers.
fn print_try(network: &tricircle_network::NetworkConfig) {
    println!("# Try: openstack flavor create --vcpus 1 --ram 512 --disk 1 m1.tiny");
    println!(
        "#      openstack server create --flavor m1.tiny --image {DEMO_IMAGE} --nic none --availability-zone az1 --wait vm1"
    );
    println!(
        "#      openstack network create --availability-zone-hint az2 net2; \
         openstack subnet create --network net2 --subnet-range 10.0.2.0/24 subnet2"
    );
    let physnets: Vec<String> = network
        .network_vlan_ranges
        .iter()
        .map(|r| match r.range {
            Some((lo, hi)) => format!("{} (VLANs {lo}-{hi})", r.physical_network),
            None => format!("{} (provider networks only)", r.physical_network),
        })
        .collect();
    if let Some(first) = network.network_vlan_ranges.last() {
        println!(
            "#      openstack network create --provider-network-type vlan --provider-physical-network {} --external ext-net",
            first.physical_network
        );
        println!("#    physical networks: {}", physnets.join(", "));
    }
}

/// A restart on the data of an earlier run. The simulated Keystone and pods
/// start afresh (new project and user ids, no servers, volumes or bottom
/// networks), while the database keeps the pods and their AZs, flavors,
/// volume types, the top networks and everything else of the top. What
/// pointed into the old pods is forgotten, so that the top makes new copies
/// on first use: every routing and the cached pod endpoints. The servers
/// are gone, so their top ports are deleted.
async fn forget_simulated_pods(store: &tricircle_store::Store, cfg: &Config) -> anyhow::Result<()> {
    let mut forgotten = 0usize;
    loop {
        let page = store.list_routings(&Default::default(), None, 500).await?;
        if page.routings.is_empty() {
            break;
        }
        for r in &page.routings {
            match store.delete_routing(r.id).await {
                Ok(()) | Err(tricircle_store::StoreError::NotFound(_)) => forgotten += 1,
                Err(e) => return Err(e.into()),
            }
        }
    }
    for pod in store.list_pods().await? {
        store.replace_cached_endpoints(&pod.pod_name, &[]).await?;
    }
    let neutron = tricircle_network::Neutron::new(store.clone(), cfg.network.clone());
    let admin = tricircle_network::Scope {
        project_id: String::new(),
        user_id: String::new(),
        is_admin: true,
    };
    let ports = neutron
        .list_ports(&admin, &tricircle_network::ListQuery::default())
        .await
        .map_err(|e| anyhow::anyhow!("listing the top ports failed: {e}"))?;
    let mut released = 0usize;
    for port in &ports.items {
        let owner = port["device_owner"].as_str().unwrap_or("");
        let Some(id) = port["id"]
            .as_str()
            .filter(|_| owner.starts_with("compute:"))
        else {
            continue;
        };
        neutron
            .delete_port(&admin, id)
            .await
            .map_err(|e| anyhow::anyhow!("releasing port {id} failed: {e}"))?;
        released += 1;
    }
    tracing::info!(
        routings = forgotten,
        server_ports = released,
        "restarting on earlier demo data: the simulated pods start empty"
    );
    println!(
        "# Restarted on earlier data: pods, flavors, volume types and top networks are kept; \
         servers and volumes (which lived in the simulated pods) are not."
    );
    Ok(())
}

/// The demo's pods, made the way an operator would: through the admin API
/// with an admin token. Pods an earlier run made on the same data are
/// kept (they must be the same pods).
async fn create_demo_pods(identity: &IdentityConfig, admin_url: &str) -> anyhow::Result<()> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()?;
    let auth = http
        .post(format!("{}/v3/auth/tokens", identity.public_url))
        .json(&Credentials::admin(identity).auth_request())
        .send()
        .await?;
    anyhow::ensure!(
        auth.status().is_success(),
        "admin authentication failed: HTTP {}",
        auth.status()
    );
    let token = auth
        .headers()
        .get("x-subject-token")
        .and_then(|v| v.to_str().ok())
        .context("no X-Subject-Token")?
        .to_string();
    let resp = http
        .get(format!("{admin_url}/pods"))
        .header("x-auth-token", &token)
        .send()
        .await?;
    let status = resp.status();
    let existing: Value = resp.json().await.unwrap_or(Value::Null);
    anyhow::ensure!(
        status.is_success(),
        "listing pods failed: HTTP {status}: {existing}"
    );
    let existing = existing["pods"].as_array().cloned().unwrap_or_default();
    for pod in [
        json!({"pod_name": "RegionOne"}),
        json!({"pod_name": "Pod1", "az_name": "az1", "pod_az_name": "az1", "dc_name": "dc1"}),
        json!({"pod_name": "Pod2", "az_name": "az2", "pod_az_name": "az2", "dc_name": "dc2"}),
    ] {
        if let Some(have) = existing.iter().find(|p| p["pod_name"] == pod["pod_name"]) {
            let az = |p: &Value| p["az_name"].as_str().unwrap_or("").to_string();
            anyhow::ensure!(
                az(have) == az(&pod),
                "the data directory holds pod {} in AZ '{}', not '{}': use another --data-dir",
                pod["pod_name"],
                az(have),
                az(&pod)
            );
            continue;
        }
        let resp = http
            .post(format!("{admin_url}/pods"))
            .header("x-auth-token", &token)
            .json(&json!({ "pod": pod }))
            .send()
            .await?;
        let status = resp.status();
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        anyhow::ensure!(
            status.is_success(),
            "creating pod {pod} failed: HTTP {status}: {body}"
        );
    }
    Ok(())
}

pub async fn podsim(args: &PodsimArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        !args.pods.is_empty(),
        "--pods needs at least one region name"
    );
    let sim = start_simulation(
        &args.bind,
        args.identity_port,
        &args.pods,
        args.pod_base_port,
        (&args.admin_password, None),
        args.pod_latency_ms,
        &[],
    )
    .await?;
    let shutdown = serve::shutdown_signal();
    print_exports(&sim.identity_cfg, None);
    println!(
        "# podsim is ready: identity and pods {}. Ctrl-C stops it.",
        args.pods.join(", ")
    );
    shutdown.await;
    sim.stop().await;
    Ok(())
}
