//! Token validation with a bounded cache. A cached answer lives at most
//! `cache_ttl` (so a revocation is honoured within that time) and never
//! beyond the token's own expiry. Cache keys are SHA-256 digests: raw
//! tokens are not kept.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use moka::future::Cache;
use moka::Expiry;
use sha2::{Digest, Sha256};

use crate::keystone::{KeystoneClient, KeystoneError, TokenBody};

/// Who is calling: what the API layer needs of a validated token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenInfo {
    pub user_id: String,
    pub user_name: String,
    pub project_id: String,
    pub project_name: String,
    pub roles: Vec<String>,
    pub expires_at: chrono::DateTime<Utc>,
}

impl TokenInfo {
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r.eq_ignore_ascii_case(role))
    }

    pub fn is_admin(&self) -> bool {
        self.has_role("admin")
    }

    fn from_body(body: TokenBody) -> TokenInfo {
        let t = body.token;
        let (project_id, project_name) = t.project.map(|p| (p.id, p.name)).unwrap_or_default();
        TokenInfo {
            user_id: t.user.id,
            user_name: t.user.name,
            project_id,
            project_name,
            roles: t.roles.into_iter().map(|r| r.name).collect(),
            expires_at: t.expires_at,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The token is unknown, expired or revoked.
    #[error("The request you have made requires authentication.")]
    InvalidToken,
    /// Keystone could not be asked: the caller should retry later (503).
    #[error("identity service unavailable: {0}")]
    Unavailable(#[from] KeystoneError),
}

#[derive(Debug, Clone)]
pub struct ValidatorConfig {
    /// `[keystone_authtoken] token_cache_time`.
    pub cache_ttl: Duration,
    /// Most entries kept; least-recently used go first.
    pub max_entries: u64,
}

impl Default for ValidatorConfig {
    fn default() -> Self {
        ValidatorConfig {
            cache_ttl: Duration::from_secs(300),
            max_entries: 100_000,
        }
    }
}

#[derive(Clone)]
enum Cached {
    Valid(Arc<TokenInfo>),
    Invalid,
}

struct CacheExpiry {
    ttl: Duration,
}

impl Expiry<[u8; 32], Cached> for CacheExpiry {
    fn expire_after_create(
        &self,
        _key: &[u8; 32],
        value: &Cached,
        _now: Instant,
    ) -> Option<Duration> {
        Some(match value {
            Cached::Invalid => self.ttl,
            Cached::Valid(info) => {
                let left = (info.expires_at - Utc::now())
                    .to_std()
                    .unwrap_or(Duration::ZERO);
                left.min(self.ttl)
            }
        })
    }
}

/// Validates tokens against Keystone, with the cache in front.
#[derive(Clone)]
pub struct TokenValidator {
    keystone: Arc<KeystoneClient>,
    cache: Cache<[u8; 32], Cached>,
}

impl TokenValidator {
    pub fn new(keystone: Arc<KeystoneClient>, cfg: &ValidatorConfig) -> TokenValidator {
        let cache = Cache::builder()
            .max_capacity(cfg.max_entries)
            .expire_after(CacheExpiry { ttl: cfg.cache_ttl })
            .build();
        TokenValidator { keystone, cache }
    }

    pub fn keystone(&self) -> &Arc<KeystoneClient> {
        &self.keystone
    }

    /// Drops what the cache knows of `token` (a pod refused it: it was
    /// revoked since it was cached), so the next request asks Keystone.
    pub async fn forget(&self, token: &str) {
        let key: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        self.cache.invalidate(&key).await;
    }

    /// Concurrent validations of the same uncached token share one call
    /// to Keystone. Keystone failures are not cached.
    pub async fn validate(&self, token: &str) -> Result<Arc<TokenInfo>, AuthError> {
        let key: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let keystone = self.keystone.clone();
        let subject = token.to_string();
        let cached = self
            .cache
            .try_get_with(key, async move {
                Ok::<_, KeystoneError>(match keystone.validate(&subject).await? {
                    Some(body) => {
                        let info = TokenInfo::from_body(body);
                        if info.expires_at > Utc::now() {
                            Cached::Valid(Arc::new(info))
                        } else {
                            Cached::Invalid
                        }
                    }
                    None => Cached::Invalid,
                })
            })
            .await
            .map_err(|e| AuthError::Unavailable(KeystoneError::Shared(e)))?;
        match cached {
            Cached::Valid(info) if info.expires_at > Utc::now() => Ok(info),
            _ => Err(AuthError::InvalidToken),
        }
    }
}
