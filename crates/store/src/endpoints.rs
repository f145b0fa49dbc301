use serde::Serialize;
use sqlx::Row;

use crate::{now, Result, Store};

/// One catalog entry remembered for a region (pod): the URL may still hold
/// `$(project_id)s`, substituted per request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CachedEndpoint {
    pub region: String,
    pub service_type: String,
    pub interface: String,
    pub url: String,
}

impl Store {
    pub async fn cached_endpoints(&self, region: &str) -> Result<Vec<CachedEndpoint>> {
        let rows = sqlx::query(
            "SELECT region, service_type, interface, url FROM cached_endpoints WHERE region = $1 \
             ORDER BY service_type, interface",
        )
        .bind(region)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(CachedEndpoint {
                    region: r.try_get("region")?,
                    service_type: r.try_get("service_type")?,
                    interface: r.try_get("interface")?,
                    url: r.try_get("url")?,
                })
            })
            .collect()
    }

    /// Replaces everything cached for `region` with `endpoints`, atomically.
    pub async fn replace_cached_endpoints(
        &self,
        region: &str,
        endpoints: &[CachedEndpoint],
    ) -> Result<()> {
        let now = now();
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM cached_endpoints WHERE region = $1")
            .bind(region)
            .execute(&mut *tx)
            .await?;
        for e in endpoints.iter().filter(|e| e.region == region) {
            sqlx::query(
                "INSERT INTO cached_endpoints (region, service_type, interface, url, updated_at) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(&e.region)
            .bind(&e.service_type)
            .bind(&e.interface)
            .bind(&e.url)
            .bind(&now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}
