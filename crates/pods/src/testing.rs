//! A cloud in memory for tests: podsim's Keystone and pods reached through
//! an [`InMemoryTransport`], with the real [`KeystoneClient`],
//! [`EndpointResolver`] and [`PodClient`] on top. Nothing listens on a
//! socket; the catalog, the service token and every call to a pod go
//! through the same transport as they would over HTTP, so what a test sees
//! is what the gateway would.
#![allow(clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use tricircle_podsim::{Credentials, Identity, IdentityConfig, Pod, PodConfig};

use crate::endpoints::{EndpointResolver, Interface};
use crate::forward::{PodClient, PodClientOptions};
use crate::keystone::{KeystoneClient, ServiceCredentials};
use crate::transport::InMemoryTransport;

/// Where the in-memory Keystone is.
pub const KEYSTONE_URL: &str = "http://keystone.test";

pub struct InMemoryCloud {
    /// Keep a clone to inject faults ([`InMemoryTransport::set_fault`]).
    pub transport: InMemoryTransport,
    pub identity: Identity,
    /// Tricircle's service user, through the transport.
    pub keystone: Arc<KeystoneClient>,
    /// The catalog read from that Keystone; re-read at most every
    /// `MIN_REFRESH_INTERVAL` (tests that move pods may build their own).
    pub resolver: Arc<EndpointResolver>,
}

impl Default for InMemoryCloud {
    fn default() -> Self {
        Self::new()
    }
}

impl InMemoryCloud {
    /// podsim's Keystone at [`KEYSTONE_URL`], no pods yet.
    pub fn new() -> InMemoryCloud {
        let transport = InMemoryTransport::new();
        let cfg = IdentityConfig {
            public_url: KEYSTONE_URL.into(),
            ..IdentityConfig::default()
        };
        let identity = Identity::new(cfg.clone());
        transport.serve(KEYSTONE_URL, identity.router());
        let s = Credentials::service(&cfg);
        let keystone = Arc::new(KeystoneClient::with_transport(
            ServiceCredentials {
                auth_url: identity.auth_url(),
                username: s.username,
                password: s.password,
                project_name: s.project_name,
                user_domain_name: s.user_domain_name,
                project_domain_name: s.project_domain_name,
            },
            Duration::from_secs(10),
            Arc::new(transport.clone()),
        ));
        let resolver = Arc::new(EndpointResolver::new(
            keystone.clone(),
            None,
            Interface::Public,
        ));
        InMemoryCloud {
            transport,
            identity,
            keystone,
            resolver,
        }
    }

    /// The base URL pod `region` is served at: `http://<region>.test`.
    pub fn pod_url(region: &str) -> String {
        format!("http://{}.test", region.to_ascii_lowercase())
    }

    /// A podsim pod for `region` that checks tokens with this Keystone,
    /// served at [`pod_url`](Self::pod_url) and in the catalog.
    pub fn add_pod(&self, region: &str) -> Pod {
        self.add_pod_with(PodConfig::new(region))
    }

    /// [`add_pod`](Self::add_pod) with a configuration of the test's own
    /// (its identity is set to this Keystone).
    pub fn add_pod_with(&self, cfg: PodConfig) -> Pod {
        let pod = Pod::new(cfg.with_identity(self.identity.clone()));
        let url = Self::pod_url(pod.region());
        self.transport.serve(&url, pod.router());
        self.identity.register_pod(pod.region(), &url);
        pod
    }

    /// A pod client over this cloud's transport and resolver.
    pub fn pod_client(&self, options: &PodClientOptions) -> PodClient {
        PodClient::with_transport(
            self.resolver.clone(),
            options,
            Arc::new(self.transport.clone()),
        )
    }

    /// A token of `user` on `project` (names of podsim's seeded users, e.g.
    /// `demo`/`demo`) and the project's id.
    pub fn token(&self, user: &str, project: &str) -> (String, String) {
        let token = self
            .identity
            .issue_token(user, project)
            .expect("a seeded user with a role on the project");
        let project_id = self
            .identity
            .validate(&token)
            .and_then(|t| t["token"]["project"]["id"].as_str().map(str::to_string))
            .expect("a project-scoped token");
        (token, project_id)
    }
}
