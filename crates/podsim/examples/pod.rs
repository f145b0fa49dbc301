//! Serves the simulated Keystone on 127.0.0.1:PORT and pod `Pod1` (token
//! checks through that Keystone) on an ephemeral port, with a public
//! `cirros-0.6.2-x86_64-disk` image seeded, until Ctrl-C. For trying the
//! real `openstack` CLI against podsim:
//!
//! ```text
//! cargo run -p tricircle-podsim --example pod -- [PORT]
//! export OS_AUTH_URL=http://127.0.0.1:PORT/v3 OS_REGION_NAME=Pod1 ...
//! openstack server list
//! ```

use tokio::net::TcpListener;
use tricircle_podsim::image::ImageService;
use tricircle_podsim::{serve, Identity, IdentityConfig, Pod, PodConfig};

/// The id of the seeded cirros image.
const CIRROS_ID: &str = "6b3ac1f2-4c1b-4b2e-9a65-9c2f6f3a8e01";

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
    let identity = Identity::new(IdentityConfig {
        public_url: format!("http://{addr}"),
        ..IdentityConfig::default()
    });

    let images = ImageService::default();
    images.add_image(CIRROS_ID, "cirros-0.6.2-x86_64-disk");

    let pod_listener = TcpListener::bind(("127.0.0.1", 0)).await?;
    let pod_url = format!("http://{}", pod_listener.local_addr()?);
    identity.register_pod("Pod1", &pod_url);
    let pod = Pod::new(
        PodConfig::new("Pod1")
            .with_identity(identity.clone())
            .with_images(images),
    );

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut rx = stop_rx.clone();
    let pod_task = tokio::spawn(serve(pod_listener, pod.router(), async move {
        let _ = rx.wait_for(|stop| *stop).await;
    }));
    let mut rx = stop_rx.clone();
    let identity_task = tokio::spawn(serve(listener, identity.router(), async move {
        let _ = rx.wait_for(|stop| *stop).await;
    }));
    println!("pod Pod1: {pod_url}");
    println!(
        "export OS_AUTH_URL={} OS_REGION_NAME=Pod1 OS_USERNAME=admin OS_PASSWORD={} \
         OS_PROJECT_NAME=admin OS_USER_DOMAIN_NAME=Default OS_PROJECT_DOMAIN_NAME=Default \
         OS_IDENTITY_API_VERSION=3",
        identity.auth_url(),
        identity.config().admin_password
    );

    let _ = tokio::signal::ctrl_c().await;
    let _ = stop_tx.send(true);
    let _ = pod_task.await;
    let _ = identity_task.await;
    Ok(())
}
