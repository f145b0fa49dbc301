//! Where a pod's services are: the Keystone catalog entries of the region
//! named like the pod. Kept in memory per instance and in the
//! `cached_endpoints` table (so a new instance starts warm); refreshed from
//! Keystone when an entry is missing or a pod stops answering.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{Mutex, RwLock};
use tricircle_store::{CachedEndpoint, Store};

use crate::keystone::{CatalogEndpoint, KeystoneClient, KeystoneError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interface {
    Public,
    Internal,
    Admin,
}

impl Interface {
    pub fn as_str(self) -> &'static str {
        match self {
            Interface::Public => "public",
            Interface::Internal => "internal",
            Interface::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Interface> {
        match s.trim().to_ascii_lowercase().trim_end_matches("url") {
            "public" => Some(Interface::Public),
            "internal" => Some(Interface::Internal),
            "admin" => Some(Interface::Admin),
            _ => None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EndpointError {
    #[error("no {interface} endpoint for service type {service_type} in region {region}")]
    NotFound {
        region: String,
        service_type: String,
        interface: &'static str,
    },
    #[error(transparent)]
    Keystone(#[from] KeystoneError),
    #[error("endpoint cache: {0}")]
    Store(#[from] tricircle_store::StoreError),
    #[error("the catalog's {service_type} URL '{url}' is not a URL: {detail}")]
    BadUrl {
        service_type: String,
        url: String,
        detail: String,
    },
}

/// service type → URL template, for one region and interface.
type RegionEndpoints = HashMap<String, String>;

pub struct EndpointResolver {
    keystone: Arc<KeystoneClient>,
    store: Option<Store>,
    interface: Interface,
    memory: RwLock<HashMap<String, Arc<RegionEndpoints>>>,
    /// Bumped by every refresh, so callers that queued behind a refresh do
    /// not start another one.
    generation: RwLock<u64>,
    /// Held while the catalog is being re-read; remembers when it last was.
    refreshing: Mutex<Option<Instant>>,
    /// A catalog re-read happens at most this often, so a pod that lacks a
    /// service does not cost a Keystone round trip per request.
    min_refresh_interval: Duration,
}

/// Default for [`EndpointResolver::with_min_refresh_interval`].
pub const MIN_REFRESH_INTERVAL: Duration = Duration::from_secs(2);

impl EndpointResolver {
    pub fn new(keystone: Arc<KeystoneClient>, store: Option<Store>, interface: Interface) -> Self {
        EndpointResolver {
            keystone,
            store,
            interface,
            memory: RwLock::new(HashMap::new()),
            generation: RwLock::new(0),
            refreshing: Mutex::new(None),
            min_refresh_interval: MIN_REFRESH_INTERVAL,
        }
    }

    pub fn with_min_refresh_interval(mut self, interval: Duration) -> Self {
        self.min_refresh_interval = interval;
        self
    }

    /// The URL template for `service_type` in `region`: memory, then the
    /// table, then Keystone.
    pub async fn endpoint(
        &self,
        region: &str,
        service_type: &str,
    ) -> Result<String, EndpointError> {
        if let Some(url) = self.in_memory(region, service_type).await {
            return Ok(url);
        }
        if let Some(store) = &self.store {
            let cached = store.cached_endpoints(region).await?;
            let map: RegionEndpoints = cached
                .into_iter()
                .filter(|e| e.interface == self.interface.as_str())
                .map(|e| (e.service_type, e.url))
                .collect();
            if map.contains_key(service_type) {
                let url = map.get(service_type).cloned();
                self.memory
                    .write()
                    .await
                    .insert(region.to_string(), Arc::new(map));
                if let Some(url) = url {
                    return Ok(url);
                }
            }
        }
        let seen = *self.generation.read().await;
        self.refresh_after(seen).await?;
        self.in_memory(region, service_type)
            .await
            .ok_or_else(|| EndpointError::NotFound {
                region: region.to_string(),
                service_type: service_type.to_string(),
                interface: self.interface.as_str(),
            })
    }

    /// Like [`endpoint`](Self::endpoint) but always re-reads the catalog
    /// first: for after a connection failure to the cached URL.
    pub async fn endpoint_fresh(
        &self,
        region: &str,
        service_type: &str,
    ) -> Result<String, EndpointError> {
        let seen = *self.generation.read().await;
        self.refresh_after(seen).await?;
        self.endpoint(region, service_type).await
    }

    /// Every service of `region` on our interface (service type → URL
    /// template), read the same way as [`endpoint`](Self::endpoint).
    /// `refresh` forces a re-read of the catalog first.
    pub async fn region_endpoints(
        &self,
        region: &str,
        refresh: bool,
    ) -> Result<HashMap<String, String>, EndpointError> {
        if refresh {
            let seen = *self.generation.read().await;
            self.refresh_after(seen).await?;
        }
        if let Some(m) = self.memory.read().await.get(region) {
            return Ok(m.as_ref().clone());
        }
        if let Some(store) = &self.store {
            let map: RegionEndpoints = store
                .cached_endpoints(region)
                .await?
                .into_iter()
                .filter(|e| e.interface == self.interface.as_str())
                .map(|e| (e.service_type, e.url))
                .collect();
            if !map.is_empty() {
                self.memory
                    .write()
                    .await
                    .insert(region.to_string(), Arc::new(map.clone()));
                return Ok(map);
            }
        }
        if !refresh {
            let seen = *self.generation.read().await;
            self.refresh_after(seen).await?;
        }
        Ok(self
            .memory
            .read()
            .await
            .get(region)
            .map(|m| m.as_ref().clone())
            .unwrap_or_default())
    }

    pub fn interface(&self) -> Interface {
        self.interface
    }

    async fn in_memory(&self, region: &str, service_type: &str) -> Option<String> {
        self.memory
            .read()
            .await
            .get(region)
            .and_then(|m| m.get(service_type).cloned())
    }

    /// Re-reads the whole catalog unless someone else did since `seen`.
    async fn refresh_after(&self, seen: u64) -> Result<(), EndpointError> {
        let mut last = self.refreshing.lock().await;
        if *self.generation.read().await != seen {
            return Ok(());
        }
        if last.is_some_and(|t| t.elapsed() < self.min_refresh_interval) {
            return Ok(());
        }
        *last = Some(Instant::now());
        let all = self.keystone.endpoints().await?;
        let mut by_region: HashMap<String, RegionEndpoints> = HashMap::new();
        let mut rows: HashMap<String, Vec<CachedEndpoint>> = HashMap::new();
        for CatalogEndpoint {
            region,
            service_type,
            interface,
            url,
        } in all
        {
            if interface == self.interface.as_str() {
                by_region
                    .entry(region.clone())
                    .or_default()
                    .insert(service_type.clone(), url.clone());
            }
            rows.entry(region.clone())
                .or_default()
                .push(CachedEndpoint {
                    region,
                    service_type,
                    interface,
                    url,
                });
        }
        if let Some(store) = &self.store {
            for (region, endpoints) in &rows {
                store.replace_cached_endpoints(region, endpoints).await?;
            }
        }
        let mut memory = self.memory.write().await;
        memory.clear();
        memory.extend(by_region.into_iter().map(|(r, m)| (r, Arc::new(m))));
        *self.generation.write().await += 1;
        tracing::debug!(regions = memory.len(), "endpoint catalog refreshed");
        Ok(())
    }
}

/// Fills `$(project_id)s` and `$(tenant_id)s` in a catalog URL template.
pub fn substitute(template: &str, project_id: &str) -> String {
    template
        .replace("$(project_id)s", project_id)
        .replace("$(tenant_id)s", project_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn substitution() {
        assert_eq!(
            substitute("http://h/volume/v3/$(project_id)s", "p1"),
            "http://h/volume/v3/p1"
        );
        assert_eq!(
            substitute("http://h/v2/$(tenant_id)s/x", "p1"),
            "http://h/v2/p1/x"
        );
        assert_eq!(substitute("http://h/network", "p1"), "http://h/network");
    }

    #[test]
    fn interfaces() {
        assert_eq!(Interface::parse("publicURL"), Some(Interface::Public));
        assert_eq!(Interface::parse(" Internal "), Some(Interface::Internal));
        assert_eq!(Interface::parse("admin"), Some(Interface::Admin));
        assert_eq!(Interface::parse("private"), None);
    }
}
