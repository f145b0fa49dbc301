//! Serves the simulated Keystone on 127.0.0.1:PORT with two pods (`Pod1`,
//! `Pod2`) registered and served on ephemeral ports, until Ctrl-C.
//!
//! ```text
//! cargo run -p tricircle-podsim --example identity -- [PORT]
//! ```
//!
//! Passwords come from `PODSIM_ADMIN_PASSWORD`, `PODSIM_SERVICE_PASSWORD` and
//! `PODSIM_DEMO_PASSWORD` (defaults: `IdentityConfig::default()`).

use tokio::net::TcpListener;
use tricircle_podsim::{serve, Identity, IdentityConfig, Pod, PodConfig};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let port: u16 = match std::env::args().nth(1) {
        Some(p) => p.parse().map_err(|e| {
            std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("port: {e}"))
        })?,
        None => 5000,
    };
    let listener = TcpListener::bind(("127.0.0.1", port)).await?;
    let addr = listener.local_addr()?;

    let mut cfg = IdentityConfig {
        public_url: format!("http://{addr}"),
        ..IdentityConfig::default()
    };
    if let Ok(p) = std::env::var("PODSIM_ADMIN_PASSWORD") {
        cfg.admin_password = p;
    }
    if let Ok(p) = std::env::var("PODSIM_SERVICE_PASSWORD") {
        cfg.service_password = p;
    }
    if let Ok(p) = std::env::var("PODSIM_DEMO_PASSWORD") {
        cfg.demo_password = p;
    }
    let identity = Identity::new(cfg);

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut tasks = Vec::new();
    for region in ["Pod1", "Pod2"] {
        let pod_listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let pod_url = format!("http://{}", pod_listener.local_addr()?);
        identity.register_pod(region, &pod_url);
        let pod = Pod::new(PodConfig::new(region).with_identity(identity.clone()));
        let mut rx = stop_rx.clone();
        tasks.push(tokio::spawn(serve(
            pod_listener,
            pod.router(),
            async move {
                let _ = rx.wait_for(|stop| *stop).await;
            },
        )));
        println!("pod {region}: {pod_url}");
    }
    println!("identity: export OS_AUTH_URL={}", identity.auth_url());
    println!("OS_USERNAME=admin OS_PROJECT_NAME=admin OS_USER_DOMAIN_NAME=Default OS_PROJECT_DOMAIN_NAME=Default OS_IDENTITY_API_VERSION=3");

    let mut rx = stop_rx.clone();
    tasks.push(tokio::spawn(serve(
        listener,
        identity.router(),
        async move {
            let _ = rx.wait_for(|stop| *stop).await;
        },
    )));

    let _ = tokio::signal::ctrl_c().await;
    let _ = stop_tx.send(true);
    for t in tasks {
        let _ = t.await;
    }
    Ok(())
}
