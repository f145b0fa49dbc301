//! Building the running service from a [`Config`].

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use tokio::net::TcpListener;
use tricircle_api::{
    admin_router, compute_router, install_metrics, volume_router, AdminState, Authenticator,
    GatewayState,
};
use tricircle_pods::{
    EndpointResolver, KeystoneClient, PodClient, ServiceCredentials, TokenValidator,
    ValidatorConfig,
};
use tricircle_store::{ConnectOptions, Store};

use crate::config::{AuthStrategy, Config};

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

/// Authentication, and (with Keystone) Tricircle's Keystone session and
/// the pod endpoint resolver, which share one Keystone client.
pub struct Identity {
    pub auth: Arc<Authenticator>,
    pub keystone: Option<Arc<KeystoneClient>>,
    pub endpoints: Option<Arc<EndpointResolver>>,
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
            }
        }
        AuthStrategy::Keystone => {
            let k = &cfg.keystone;
            let client = Arc::new(KeystoneClient::new(
                ServiceCredentials {
                    auth_url: k.auth_url.clone(),
                    username: k.username.clone(),
                    password: k.password.clone(),
                    project_name: k.project_name.clone(),
                    user_domain_name: k.user_domain_name.clone(),
                    project_domain_name: k.project_domain_name.clone(),
                },
                k.http_connect_timeout,
            )?);
            let resolver = EndpointResolver::new(
                client.clone(),
                Some(store.clone()),
                cfg.client.endpoint_interface,
            );
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
                endpoints: Some(Arc::new(resolver)),
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
    servers: Vec<(TcpListener, axum::Router)>,
}

async fn listen(cfg: &Config, port: u16, option: &str) -> anyhow::Result<TcpListener> {
    let addr = format!("{}:{}", cfg.bind_host, port);
    TcpListener::bind(&addr)
        .await
        .with_context(|| format!("cannot listen on {addr} ([DEFAULT] bind_host / {option})"))
}

pub async fn prepare(cfg: &Config, store: Store) -> anyhow::Result<Running> {
    let id = identity(cfg, &store)?;
    let admin = admin_router(AdminState {
        store: store.clone(),
        auth: id.auth.clone(),
        endpoints: id.endpoints.clone(),
        metrics: install_metrics(),
        max_body_size: cfg.max_request_body_size,
    });
    let admin_listener = listen(cfg, cfg.admin_port, "admin_port").await?;
    let admin_addr = admin_listener.local_addr()?;
    let mut servers = vec![(admin_listener, admin)];
    let mut compute_addr = None;
    let mut volume_addr = None;
    if let (Some(keystone), Some(endpoints)) = (id.keystone, id.endpoints) {
        let gateway = GatewayState {
            store,
            auth: id.auth,
            pods: PodClient::new(endpoints, cfg.client.pod_timeout)?,
            keystone,
            max_body_size: cfg.max_request_body_size,
            list_deadline: cfg.client.list_deadline,
            quota_defaults: cfg.quota,
            top_region: cfg.client.top_region_name.clone(),
            versions: Default::default(),
        };
        let listener = listen(cfg, cfg.compute_port, "compute_port").await?;
        compute_addr = Some(listener.local_addr()?);
        servers.push((listener, compute_router(gateway.clone())));
        let listener = listen(cfg, cfg.volume_port, "volume_port").await?;
        volume_addr = Some(listener.local_addr()?);
        servers.push((listener, volume_router(gateway)));
    } else {
        tracing::warn!("without Keystone only the admin API is served");
    }
    Ok(Running {
        admin_addr,
        compute_addr,
        volume_addr,
        servers,
    })
}

impl Running {
    pub async fn run(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let (stop, rx) = tokio::sync::watch::channel(false);
        let mut tasks = Vec::new();
        for (listener, router) in self.servers {
            let mut rx = rx.clone();
            tasks.push(tokio::spawn(async move {
                axum::serve(listener, router)
                    .with_graceful_shutdown(async move {
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
        Ok(())
    }
}

pub async fn serve(cfg: Config) -> anyhow::Result<()> {
    let store = open_store(&cfg).await?;
    if cfg.database.auto_migrate {
        store.migrate().await.context("migration failed")?;
    } else if store.pending_migrations().await? {
        anyhow::bail!(
            "the database schema is not up to date: run `tricircle db migrate` (or set [database] auto_migrate = true)"
        );
    }
    let running = prepare(&cfg, store).await?;
    let shutdown = shutdown_signal();
    tracing::info!(
        admin = %running.admin_addr,
        compute = %running.compute_addr.map(|a| a.to_string()).unwrap_or_default(),
        volume = %running.volume_addr.map(|a| a.to_string()).unwrap_or_default(),
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
