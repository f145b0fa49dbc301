//! Building the running service from a [`Config`].

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use tokio::net::TcpListener;
use tricircle_api::{admin_router, install_metrics, AdminState, Authenticator};
use tricircle_pods::{
    EndpointResolver, KeystoneClient, ServiceCredentials, TokenValidator, ValidatorConfig,
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

/// The authenticator, and the pod endpoint resolver that shares its
/// Keystone client (none without Keystone).
pub fn authenticator(
    cfg: &Config,
    store: &Store,
) -> anyhow::Result<(Authenticator, Option<Arc<EndpointResolver>>)> {
    Ok(match cfg.auth_strategy {
        AuthStrategy::NoAuth => {
            tracing::warn!(
                "auth_strategy = noauth: every caller is an admin; for development only"
            );
            (Authenticator::NoAuth, None)
        }
        AuthStrategy::Keystone => {
            let k = &cfg.keystone;
            let client = KeystoneClient::new(
                ServiceCredentials {
                    auth_url: k.auth_url.clone(),
                    username: k.username.clone(),
                    password: k.password.clone(),
                    project_name: k.project_name.clone(),
                    user_domain_name: k.user_domain_name.clone(),
                    project_domain_name: k.project_domain_name.clone(),
                },
                k.http_connect_timeout,
            )?;
            let client = Arc::new(client);
            let resolver = EndpointResolver::new(
                client.clone(),
                Some(store.clone()),
                cfg.client.endpoint_interface,
            );
            let validator = TokenValidator::new(
                client,
                &ValidatorConfig {
                    cache_ttl: k.token_cache_time,
                    ..Default::default()
                },
            );
            (
                Authenticator::Keystone {
                    validator,
                    www_authenticate_uri: k.www_authenticate_uri.clone(),
                },
                Some(Arc::new(resolver)),
            )
        }
    })
}

/// Everything `serve` runs, bound and ready; `run` serves until `shutdown`.
pub struct Running {
    pub admin_addr: SocketAddr,
    admin: axum::Router,
    admin_listener: TcpListener,
}

pub async fn prepare(cfg: &Config, store: Store) -> anyhow::Result<Running> {
    let (auth, endpoints) = authenticator(cfg, &store)?;
    let state = AdminState {
        store,
        auth: Arc::new(auth),
        endpoints,
        metrics: install_metrics(),
        max_body_size: cfg.max_request_body_size,
    };
    let addr = format!("{}:{}", cfg.bind_host, cfg.admin_port);
    let admin_listener = TcpListener::bind(&addr)
        .await
        .with_context(|| format!("cannot listen on {addr} ([DEFAULT] bind_host / admin_port)"))?;
    Ok(Running {
        admin_addr: admin_listener.local_addr()?,
        admin: admin_router(state),
        admin_listener,
    })
}

impl Running {
    pub async fn run(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        axum::serve(self.admin_listener, self.admin)
            .with_graceful_shutdown(shutdown)
            .await?;
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
    tracing::info!(admin = %running.admin_addr, "tricircle is serving");
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
