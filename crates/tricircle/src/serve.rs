//! Building the running service from a [`Config`].

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use tokio::net::TcpListener;
use tricircle_api::admin::AdminJobs;
use tricircle_api::gateway::Gateway;
use tricircle_api::{
    admin_router, compute_router, install_metrics, volume_router, AdminState, Authenticator,
    ConnectionLimits, GatewayState, InflightLimit, RequestBounds,
};
use tricircle_gateway::create_check::CheckDeps;
use tricircle_jobs::{Engine, EngineConfig, Registry};
use tricircle_network::bottom::Bottom;
use tricircle_pods::health::monitor::{HealthMonitor, MonitorConfig};
use tricircle_pods::{
    EndpointResolver, KeystoneClient, PodClient, PodClientOptions, ServiceCredentials,
    TokenValidator, ValidatorConfig,
};
use tricircle_store::{ConnectOptions, Store};

use crate::config::{AuthStrategy, Config, JobsConfig};

/// What `tricircle serve` runs in this process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Role {
    /// The APIs and the job engine.
    All,
    /// The APIs only.
    Api,
    /// The job engine only: no listening port.
    Worker,
}

/// What job handlers may use.
pub struct HandlerDeps {
    pub store: Store,
    /// Calls to pods; absent without Keystone.
    pub pods: Option<PodClient>,
    /// Tricircle's own Keystone session; absent without Keystone.
    pub keystone: Option<Arc<KeystoneClient>>,
    pub network: tricircle_network::NetworkConfig,
    /// How long a bottom-creation lock may stay untouched before it is
    /// taken over.
    pub lock_timeout: std::time::Duration,
    /// How long after a lost create its check waits before judging.
    pub settle: std::time::Duration,
}

/// Every job type this build runs, with its handler: the one place to
/// register handlers. Types without a handler here FAIL when a worker
/// claims them (and can be redone after an upgrade).
pub fn jobs_registry(deps: &HandlerDeps) -> Registry {
    let registry = Registry::new();
    match (&deps.pods, &deps.keystone) {
        (Some(pods), Some(keystone)) => {
            let neutron = tricircle_network::Neutron::new(deps.store.clone(), deps.network.clone());
            let bottom = Bottom::new(neutron, pods.clone(), keystone.clone(), deps.lock_timeout);
            let checks = CheckDeps {
                store: deps.store.clone(),
                pods: pods.clone(),
                keystone: keystone.clone(),
                network: Some(bottom.clone()),
                settle: deps.settle,
            };
            let registry = tricircle_compute::create_check::register(registry, checks.clone());
            let registry = tricircle_volume::create_check::register(registry, checks);
            tricircle_network::handlers::register(registry, bottom)
        }
        _ => registry,
    }
}

/// How long a bottom-creation lock may stay untouched: well beyond what
/// the few pod calls of one creation take.
fn lock_timeout(cfg: &Config) -> std::time::Duration {
    (cfg.client.pod_timeout * 3).max(std::time::Duration::from_secs(10))
}

fn engine_config(c: &JobsConfig) -> EngineConfig {
    EngineConfig {
        workers: c.workers,
        lease: c.lease,
        poll_interval: c.poll_interval,
        max_attempts: c.max_attempts,
        backoff_cap: c.backoff_cap,
        ..EngineConfig::default()
    }
}

/// The job types and the engine of this process (built from `[jobs]`).
fn jobs(cfg: &Config, store: &Store, id: &Identity) -> anyhow::Result<(Arc<Registry>, Engine)> {
    let registry = Arc::new(jobs_registry(&HandlerDeps {
        store: store.clone(),
        pods: id.pods.clone(),
        keystone: id.keystone.clone(),
        network: cfg.network.clone(),
        lock_timeout: lock_timeout(cfg),
        settle: tricircle_gateway::create_check::settle_for(cfg.client.pod_timeout),
    }));
    let engine = Engine::new(store.clone(), registry.clone(), engine_config(&cfg.jobs));
    Ok((registry, engine))
}

pub async fn open_store(cfg: &Config) -> anyhow::Result<Store> {
    let opts = ConnectOptions {
        max_connections: cfg.database.max_pool_size,
        ..Default::default()
    };
    Store::connect(&cfg.database.connection, &opts)
        .await
        .with_context(|| {
            format!(
                "cannot open database {}",
                tricircle_store::redact_url(&cfg.database.connection)
            )
        })
}

pub async fn migrate(cfg: &Config) -> anyhow::Result<()> {
    let store = open_store(cfg).await?;
    store.migrate().await.context("migration failed")?;
    tracing::info!("database schema is up to date");
    store.close().await;
    Ok(())
}

/// Authentication, and (with Keystone) Tricircle's Keystone session, the
/// pod endpoint resolver and the one pod client of the process (so the
/// gateways and the jobs share the pods' health), which share one Keystone
/// client.
pub struct Identity {
    pub auth: Arc<Authenticator>,
    pub keystone: Option<Arc<KeystoneClient>>,
    pub endpoints: Option<Arc<EndpointResolver>>,
    pub pods: Option<PodClient>,
}

/// `[client]` as the pod client takes it.
fn pod_client_options(cfg: &Config) -> PodClientOptions {
    let c = &cfg.client;
    PodClientOptions {
        timeout: c.pod_timeout,
        idle_timeout: c.idle_connection_timeout,
        max_idle_per_pod: c.pod_max_idle_connections,
        max_concurrent_per_pod: c.pod_max_concurrent_requests,
        queue_timeout: c.pod_queue_timeout,
        breaker: c.breaker,
    }
}

/// The pods' health kept fresh: probes (unless `probe` is false or probes
/// are off) and the sync with the shared view.
fn health_monitor(
    cfg: &Config,
    store: &Store,
    id: &Identity,
    probe: bool,
) -> Option<HealthMonitor> {
    let (Some(pods), Some(keystone)) = (&id.pods, &id.keystone) else {
        return None;
    };
    let mut monitor_cfg: MonitorConfig = cfg.client.health;
    if !probe {
        monitor_cfg.probe_interval = None;
    }
    Some(HealthMonitor {
        pods: pods.clone(),
        keystone: keystone.clone(),
        store: store.clone(),
        cfg: monitor_cfg,
    })
}

pub fn identity(cfg: &Config, store: &Store) -> anyhow::Result<Identity> {
    Ok(match cfg.auth_strategy {
        AuthStrategy::NoAuth => {
            tracing::warn!(
                "auth_strategy = noauth: every caller is an admin; for development only"
            );
            Identity {
                auth: Arc::new(Authenticator::NoAuth),
                keystone: None,
                endpoints: None,
                pods: None,
            }
        }
        AuthStrategy::Keystone => {
            let k = &cfg.keystone;
            let client = Arc::new(KeystoneClient::with_idle_timeout(
                ServiceCredentials {
                    auth_url: k.auth_url.clone(),
                    username: k.username.clone(),
                    password: k.password.clone(),
                    project_name: k.project_name.clone(),
                    user_domain_name: k.user_domain_name.clone(),
                    project_domain_name: k.project_domain_name.clone(),
                },
                k.http_connect_timeout,
                cfg.client.idle_connection_timeout,
            )?);
            let resolver = Arc::new(EndpointResolver::new(
                client.clone(),
                Some(store.clone()),
                cfg.client.endpoint_interface,
            ));
            let pods = PodClient::with_options(resolver.clone(), &pod_client_options(cfg))?;
            let validator = TokenValidator::new(
                client.clone(),
                &ValidatorConfig {
                    cache_ttl: k.token_cache_time,
                    ..Default::default()
                },
            );
            Identity {
                auth: Arc::new(Authenticator::Keystone {
                    validator,
                    www_authenticate_uri: k.www_authenticate_uri.clone(),
                }),
                keystone: Some(client),
                endpoints: Some(resolver),
                pods: Some(pods),
            }
        }
    })
}

/// Everything `serve` runs, bound and ready; `run` serves until `shutdown`.
pub struct Running {
    pub admin_addr: SocketAddr,
    /// Absent without Keystone (the gateways act with the caller's token).
    pub compute_addr: Option<SocketAddr>,
    pub volume_addr: Option<SocketAddr>,
    pub network_addr: Option<SocketAddr>,
    servers: Vec<(TcpListener, axum::Router)>,
    /// What each client connection may cost; one in-flight limit for all
    /// the APIs.
    limits: ConnectionLimits,
    /// The job engine, unless the role is `api`.
    engine: Option<Engine>,
    /// Probes and the shared health view (with Keystone).
    health: Option<HealthMonitor>,
    /// For the quota reconciliation the APIs run.
    store: Store,
}

/// How often quota usage is reconciled with the routings (expired
/// reservations and allocations of vanished resources dropped) and old
/// tombstones swept. Leaked reservations stop counting at their expiry
/// already; this only sweeps.
const RECONCILE_INTERVAL: std::time::Duration = std::time::Duration::from_secs(60);

/// How long a deleted top resource's tombstone is kept once no job works on
/// it: far longer than any request that saw the resource alive can run.
const TOMBSTONE_AGE: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// Reconciles quota usage and sweeps old tombstones now and then every
/// [`RECONCILE_INTERVAL`], until `stop` turns true.
async fn housekeeping(store: Store, mut stop: tokio::sync::watch::Receiver<bool>) {
    loop {
        match store.sweep_tombstones(TOMBSTONE_AGE).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(tombstones = n, "old tombstones swept"),
            Err(e) => tracing::warn!(error = %e, "tombstone sweep failed; retrying later"),
        }
        match store.reconcile_allocations().await {
            Ok(r) if r != Default::default() => tracing::info!(
                expired_reservations = r.expired_reservations,
                orphaned_allocations = r.orphaned_allocations,
                "quota usage reconciled"
            ),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "quota reconciliation failed; retrying later"),
        }
        tokio::select! {
            _ = tokio::time::sleep(RECONCILE_INTERVAL) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

/// The bounds of client connections, from `[DEFAULT]`.
fn connection_limits(cfg: &Config) -> ConnectionLimits {
    ConnectionLimits {
        header_timeout: cfg.client_timeouts.header,
        send_timeout: cfg.client_timeouts.send,
        request: RequestBounds {
            inflight: InflightLimit::new(cfg.max_inflight_requests),
            body_timeout: cfg.client_timeouts.body,
        },
    }
}

async fn listen(cfg: &Config, port: u16, option: &str) -> anyhow::Result<TcpListener> {
    let addr = format!("{}:{}", cfg.bind_host, port);
    TcpListener::bind(&addr)
        .await
        .with_context(|| format!("cannot listen on {addr} ([DEFAULT] bind_host / {option})"))
}

pub async fn prepare(cfg: &Config, store: Store) -> anyhow::Result<Running> {
    prepare_role(cfg, store, Role::All).await
}

/// The APIs, and the job engine unless `role` is `api`. (`worker` is
/// [`serve_worker`]: no APIs.)
pub async fn prepare_role(cfg: &Config, store: Store, role: Role) -> anyhow::Result<Running> {
    let id = identity(cfg, &store)?;
    let (registry, engine) = jobs(cfg, &store, &id)?;
    let health = health_monitor(cfg, &store, &id, true);
    let kicker = engine.kicker();
    let engine = (role != Role::Api).then_some(engine);
    let admin = admin_router(AdminState {
        store: store.clone(),
        auth: id.auth.clone(),
        endpoints: id.endpoints.clone(),
        metrics: install_metrics(),
        max_body_size: cfg.max_request_body_size,
        jobs: Some(AdminJobs { registry, kicker }),
    });
    let admin_listener = listen(cfg, cfg.admin_port, "admin_port").await?;
    let admin_addr = admin_listener.local_addr()?;
    let mut servers = vec![(admin_listener, admin)];
    let mut compute_addr = None;
    let mut volume_addr = None;
    let mut network_addr = None;
    let reconcile_store = store.clone();
    if let (Some(keystone), Some(pods)) = (id.keystone, id.pods) {
        let neutron = tricircle_network::Neutron::new(store.clone(), cfg.network.clone());
        let bottom = Bottom::new(
            neutron.clone(),
            pods.clone(),
            keystone.clone(),
            lock_timeout(cfg),
        );
        let gateway = GatewayState::new(
            Gateway {
                store,
                pods,
                tokens: None,
                network: Some(bottom),
                keystone,
                list_deadline: cfg.client.list_deadline,
                quota_defaults: cfg.quota,
                top_region: cfg.client.top_region_name.clone(),
                versions: Default::default(),
            },
            id.auth,
            cfg.max_request_body_size,
        );
        let listener = listen(cfg, cfg.compute_port, "compute_port").await?;
        compute_addr = Some(listener.local_addr()?);
        servers.push((listener, compute_router(gateway.clone())));
        let listener = listen(cfg, cfg.volume_port, "volume_port").await?;
        volume_addr = Some(listener.local_addr()?);
        servers.push((listener, volume_router(gateway.clone())));
        let listener = listen(cfg, cfg.network_port, "network_port").await?;
        network_addr = Some(listener.local_addr()?);
        servers.push((
            listener,
            tricircle_api::network_router(tricircle_api::NetworkState { gateway, neutron }),
        ));
    } else {
        tracing::warn!("without Keystone only the admin API is served");
    }
    Ok(Running {
        admin_addr,
        compute_addr,
        volume_addr,
        network_addr,
        servers,
        limits: connection_limits(cfg),
        engine,
        health,
        store: reconcile_store,
    })
}

/// `serve --role worker`: the job engine alone, until `shutdown`.
pub async fn serve_worker(
    cfg: &Config,
    store: Store,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let id = identity(cfg, &store)?;
    let (registry, engine) = jobs(cfg, &store, &id)?;
    // A worker does not probe (the API instances do) but follows the
    // shared view, so its jobs skip pods that are down.
    let health = health_monitor(cfg, &store, &id, false);
    tracing::info!(
        workers = cfg.jobs.workers,
        job_types = registry.schemas().len(),
        "tricircle job worker is running"
    );
    let (stop, rx) = tokio::sync::watch::channel(false);
    let health = health.map(|m| {
        let mut rx = rx.clone();
        tokio::spawn(m.run(async move {
            let _ = rx.wait_for(|s| *s).await;
        }))
    });
    engine.spawn(shutdown).await?;
    let _ = stop.send(true);
    if let Some(h) = health {
        h.await?;
    }
    Ok(())
}

impl Running {
    pub async fn run(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let (stop, rx) = tokio::sync::watch::channel(false);
        let engine = self.engine.map(|e| {
            let mut rx = rx.clone();
            e.spawn(async move {
                let _ = rx.wait_for(|s| *s).await;
            })
        });
        let health = self.health.map(|m| {
            let mut rx = rx.clone();
            tokio::spawn(m.run(async move {
                let _ = rx.wait_for(|s| *s).await;
            }))
        });
        let reconcile = tokio::spawn(housekeeping(self.store, rx.clone()));
        let mut tasks = Vec::new();
        for (listener, router) in self.servers {
            let mut rx = rx.clone();
            let limits = self.limits.clone();
            tasks.push(tokio::spawn(async move {
                tricircle_api::connections::serve(listener, router, limits, async move {
                    let _ = rx.wait_for(|s| *s).await;
                })
                .await
            }));
        }
        shutdown.await;
        let _ = stop.send(true);
        for t in tasks {
            t.await??;
        }
        reconcile.await?;
        if let Some(e) = engine {
            e.await?;
        }
        if let Some(h) = health {
            h.await?;
        }
        Ok(())
    }
}

pub async fn serve(cfg: Config, role: Role) -> anyhow::Result<()> {
    let store = open_store(&cfg).await?;
    if cfg.database.auto_migrate {
        store.migrate().await.context("migration failed")?;
    } else if store.pending_migrations().await? {
        anyhow::bail!(
            "the database schema is not up to date: run `tricircle db migrate` (or set [database] auto_migrate = true)"
        );
    }
    let shutdown = shutdown_signal();
    if role == Role::Worker {
        serve_worker(&cfg, store, shutdown).await?;
        tracing::info!("tricircle stopped");
        return Ok(());
    }
    let running = prepare_role(&cfg, store, role).await?;
    tracing::info!(
        admin = %running.admin_addr,
        compute = %running.compute_addr.map(|a| a.to_string()).unwrap_or_default(),
        volume = %running.volume_addr.map(|a| a.to_string()).unwrap_or_default(),
        network = %running.network_addr.map(|a| a.to_string()).unwrap_or_default(),
        "tricircle is serving"
    );
    running.run(shutdown).await?;
    tracing::info!("tricircle stopped");
    Ok(())
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM. The handlers are installed when
/// this is called, not when the future is first polled, so a signal that
/// arrives right after start-up output is not lost.
pub fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    use tokio::signal::unix::{signal, SignalKind};
    let term = signal(SignalKind::terminate());
    let int = signal(SignalKind::interrupt());
    async move {
        match (term, int) {
            (Ok(mut term), Ok(mut int)) => {
                tokio::select! {
                    _ = term.recv() => {},
                    _ = int.recv() => {},
                }
            }
            _ => {
                tracing::warn!("cannot install signal handlers; waiting for Ctrl-C only");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::time::Duration;
    use tricircle_pods::Interface;

    /// Every job type the gateways enqueue has a handler in `serve`.
    #[tokio::test]
    async fn every_enqueued_job_type_has_a_handler() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/t.db?mode=rwc", dir.path().display());
        let store = Store::connect(&url, &ConnectOptions::default())
            .await
            .unwrap();
        let keystone = Arc::new(
            KeystoneClient::new(
                ServiceCredentials {
                    auth_url: "http://127.0.0.1:9/v3".into(),
                    username: "tricircle".into(),
                    password: "secret".into(),
                    project_name: "service".into(),
                    user_domain_name: "Default".into(),
                    project_domain_name: "Default".into(),
                },
                Duration::from_secs(1),
            )
            .unwrap(),
        );
        let resolver = Arc::new(EndpointResolver::new(
            keystone.clone(),
            None,
            Interface::Public,
        ));
        let registry = jobs_registry(&HandlerDeps {
            store,
            pods: Some(PodClient::new(resolver, Duration::from_secs(1)).unwrap()),
            keystone: Some(keystone),
            network: tricircle_network::NetworkConfig::default(),
            lock_timeout: Duration::from_secs(10),
            settle: Duration::from_secs(2),
        });
        let mut types: Vec<String> = registry.schemas().into_iter().map(|s| s.job_type).collect();
        types.sort();
        assert_eq!(
            types,
            [
                "network_delete",
                "network_update",
                "port_delete",
                "port_update",
                "router_sync",
                "security_group_sync",
                "server_create_check",
                "subnet_delete",
                "subnet_update",
                "volume_create_check",
            ]
        );
    }
}
