//! A Keystone v3 client for Tricircle's own service user: it keeps a service
//! token fresh, validates users' tokens, and reads the endpoint catalog.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE};
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::Mutex;

use crate::transport::{
    send_retrying, HttpTransport, PodTransport, TransportError, TransportRequest, TransportResponse,
};

/// Credentials of Tricircle's service user (`[keystone_authtoken]`).
#[derive(Clone)]
pub struct ServiceCredentials {
    pub auth_url: String,
    pub username: String,
    pub password: String,
    pub project_name: String,
    pub user_domain_name: String,
    pub project_domain_name: String,
}

impl std::fmt::Debug for ServiceCredentials {
    // The password never reaches a log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceCredentials")
            .field("auth_url", &self.auth_url)
            .field("username", &self.username)
            .field("password", &"***")
            .field("project_name", &self.project_name)
            .field("user_domain_name", &self.user_domain_name)
            .field("project_domain_name", &self.project_domain_name)
            .finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KeystoneError {
    #[error("identity service unreachable at {url}: {source}")]
    Unreachable {
        url: String,
        #[source]
        source: TransportError,
    },
    #[error("the identity URL '{url}' is not a URL: {detail}")]
    BadUrl { url: String, detail: String },
    #[error("the service user could not authenticate to Keystone (HTTP {0}); check [keystone_authtoken]")]
    ServiceAuth(u16),
    #[error("unexpected answer from Keystone: HTTP {status} on {what}")]
    Unexpected { what: &'static str, status: u16 },
    #[error("malformed answer from Keystone on {what}: {detail}")]
    Malformed { what: &'static str, detail: String },
    /// One failure seen by every caller that waited on the same request.
    #[error("{0}")]
    Shared(std::sync::Arc<KeystoneError>),
}

/// A token as Keystone describes it on validation.
#[derive(Debug, Clone, Deserialize)]
pub struct TokenBody {
    pub token: TokenData,
}

#[derive(Debug, Clone, Deserialize)]
pub struct TokenData {
    pub expires_at: DateTime<Utc>,
    pub user: Named,
    #[serde(default)]
    pub project: Option<Named>,
    #[serde(default)]
    pub roles: Vec<Named>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Named {
    pub id: String,
    #[serde(default)]
    pub name: String,
}

/// One row of `GET /v3/endpoints`, joined with its service type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogEndpoint {
    pub region: String,
    pub service_type: String,
    pub interface: String,
    pub url: String,
}

struct ServiceToken {
    token: String,
    project_id: String,
    expires_at: DateTime<Utc>,
}

pub struct KeystoneClient {
    transport: Arc<dyn PodTransport>,
    /// Of every request to Keystone.
    timeout: Duration,
    /// Always ends in `/v3`, no trailing slash.
    base: String,
    creds: ServiceCredentials,
    service_token: Mutex<Option<ServiceToken>>,
}

/// A service token is renewed this long before it expires.
const RENEW_BEFORE: chrono::TimeDelta = chrono::TimeDelta::minutes(5);

impl KeystoneClient {
    /// A client whose pooled connections idle out after
    /// [`DEFAULT_IDLE_TIMEOUT`](crate::DEFAULT_IDLE_TIMEOUT).
    pub fn new(
        creds: ServiceCredentials,
        timeout: Duration,
    ) -> Result<KeystoneClient, reqwest::Error> {
        Self::with_idle_timeout(creds, timeout, crate::DEFAULT_IDLE_TIMEOUT)
    }

    /// A client whose pooled connections idle out after `idle_timeout`
    /// (zero: connections are not reused): keep it below Keystone's
    /// keep-alive.
    pub fn with_idle_timeout(
        creds: ServiceCredentials,
        timeout: Duration,
        idle_timeout: Duration,
    ) -> Result<KeystoneClient, reqwest::Error> {
        let http = HttpTransport::new(timeout, idle_timeout, 32)?;
        Ok(Self::with_transport(creds, timeout, Arc::new(http)))
    }

    /// A client that reaches Keystone through `transport`, each request
    /// given `timeout`.
    pub fn with_transport(
        creds: ServiceCredentials,
        timeout: Duration,
        transport: Arc<dyn PodTransport>,
    ) -> KeystoneClient {
        KeystoneClient {
            transport,
            timeout,
            base: v3_base(&creds.auth_url),
            creds,
            service_token: Mutex::new(None),
        }
    }

    /// The identity v3 root, e.g. `http://127.0.0.1:5000/v3`.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    fn unreachable(&self, source: TransportError) -> KeystoneError {
        KeystoneError::Unreachable {
            url: self.base.clone(),
            source,
        }
    }

    /// A request to `url` (under the identity root) with `headers`.
    fn request(
        &self,
        method: Method,
        url: &str,
        headers: HeaderMap,
        body: Option<bytes::Bytes>,
    ) -> Result<TransportRequest, KeystoneError> {
        let url = url::Url::parse(url).map_err(|e| KeystoneError::BadUrl {
            url: url.to_string(),
            detail: e.to_string(),
        })?;
        Ok(TransportRequest {
            method,
            url,
            headers,
            body,
            timeout: self.timeout,
        })
    }

    /// Password authentication, scoped to a project by name and domain.
    pub async fn password_token(
        &self,
        username: &str,
        password: &str,
        user_domain: &str,
        project: &str,
        project_domain: &str,
    ) -> Result<(String, TokenBody), KeystoneError> {
        let body = json!({"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "name": username, "domain": {"name": user_domain}, "password": password}}},
            "scope": {"project": {"name": project, "domain": {"name": project_domain}}}
        }});
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        let req = self.request(
            Method::POST,
            &format!("{}/auth/tokens?nocatalog", self.base),
            headers,
            Some(body.to_string().into()),
        )?;
        // Issuing a token twice is harmless: retried like a read.
        let resp = send_retrying(self.transport.as_ref(), req)
            .await
            .map_err(|e| self.unreachable(e))?;
        let status = resp.status;
        if status == 401 || status == 403 {
            return Err(KeystoneError::ServiceAuth(status));
        }
        if status != 201 && status != 200 {
            return Err(KeystoneError::Unexpected {
                what: "POST /auth/tokens",
                status,
            });
        }
        let token = resp
            .headers
            .get("x-subject-token")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
            .ok_or(KeystoneError::Malformed {
                what: "POST /auth/tokens",
                detail: "no X-Subject-Token header".into(),
            })?;
        let body = json_of::<TokenBody>(&resp, "POST /auth/tokens")?;
        Ok((token, body))
    }

    /// Tricircle's own token, renewed shortly before it expires. One
    /// renewal at a time: concurrent callers wait for it.
    pub async fn service_token(&self) -> Result<String, KeystoneError> {
        Ok(self.service_session().await?.0)
    }

    /// The service token and the id of its project (for URLs that carry
    /// a project id when Tricircle acts as itself).
    pub async fn service_session(&self) -> Result<(String, String), KeystoneError> {
        let mut guard = self.service_token.lock().await;
        if let Some(t) = guard.as_ref() {
            if t.expires_at - Utc::now() > RENEW_BEFORE {
                return Ok((t.token.clone(), t.project_id.clone()));
            }
        }
        let c = &self.creds;
        let (token, body) = self
            .password_token(
                &c.username,
                &c.password,
                &c.user_domain_name,
                &c.project_name,
                &c.project_domain_name,
            )
            .await?;
        let project_id = body.token.project.map(|p| p.id).unwrap_or_default();
        *guard = Some(ServiceToken {
            token: token.clone(),
            project_id: project_id.clone(),
            expires_at: body.token.expires_at,
        });
        Ok((token, project_id))
    }

    async fn forget_service_token(&self, stale: &str) {
        let mut guard = self.service_token.lock().await;
        if guard.as_ref().is_some_and(|t| t.token == stale) {
            *guard = None;
        }
    }

    /// A GET with the service token; a 401 (token revoked or Keystone keys
    /// rotated) renews the service token and retries once.
    async fn service_get(
        &self,
        url: &str,
        extra: &HeaderMap,
    ) -> Result<TransportResponse, KeystoneError> {
        for attempt in 0..2 {
            let token = self.service_token().await?;
            let mut headers = extra.clone();
            // A token is a header value (Keystone issued it as one).
            if let Ok(v) = HeaderValue::from_str(&token) {
                headers.insert(HeaderName::from_static("x-auth-token"), v);
            }
            let req = self.request(Method::GET, url, headers, None)?;
            let resp = send_retrying(self.transport.as_ref(), req)
                .await
                .map_err(|e| self.unreachable(e))?;
            if resp.status == 401 && attempt == 0 {
                self.forget_service_token(&token).await;
                continue;
            }
            return Ok(resp);
        }
        Err(KeystoneError::ServiceAuth(401))
    }

    /// Validates a user's token. `Ok(None)`: Keystone says the token is not
    /// valid (unknown, expired or revoked).
    pub async fn validate(&self, subject: &str) -> Result<Option<TokenBody>, KeystoneError> {
        // What cannot travel in a header is no token Keystone issued.
        let Ok(subject) = HeaderValue::from_str(subject) else {
            return Ok(None);
        };
        let mut extra = HeaderMap::new();
        extra.insert(HeaderName::from_static("x-subject-token"), subject);
        let resp = self
            .service_get(&format!("{}/auth/tokens?nocatalog", self.base), &extra)
            .await?;
        match resp.status {
            200 => json_of::<TokenBody>(&resp, "GET /auth/tokens").map(Some),
            404 | 401 => Ok(None),
            status => Err(KeystoneError::Unexpected {
                what: "GET /auth/tokens",
                status,
            }),
        }
    }

    /// Whether Keystone knows a project: `Some(false)` only when it says
    /// so (404); `None` when it will not tell (no right to look).
    pub async fn project_exists(&self, project_id: &str) -> Result<Option<bool>, KeystoneError> {
        let url = crate::PodPath::of(["projects", project_id])
            .under(&self.base, None)
            .map_err(|e| KeystoneError::Malformed {
                what: "GET /projects/{id}",
                detail: e.to_string(),
            })?;
        let resp = self.service_get(url.as_str(), &HeaderMap::new()).await?;
        match resp.status {
            200..=299 => Ok(Some(true)),
            404 => Ok(Some(false)),
            403 => Ok(None),
            status => Err(KeystoneError::Unexpected {
                what: "GET /projects/{id}",
                status,
            }),
        }
    }

    /// Every endpoint of every region, with URL templates as registered
    /// (`$(project_id)s` not substituted), from `/v3/endpoints` and
    /// `/v3/services`. Needs the admin role, which the service user has.
    pub async fn endpoints(&self) -> Result<Vec<CatalogEndpoint>, KeystoneError> {
        let services = self.get_json("/services", "GET /services").await?;
        let endpoints = self.get_json("/endpoints", "GET /endpoints").await?;
        let mut types = std::collections::HashMap::new();
        for s in services["services"].as_array().into_iter().flatten() {
            if let (Some(id), Some(t)) = (s["id"].as_str(), s["type"].as_str()) {
                types.insert(id.to_string(), t.to_string());
            }
        }
        let mut out = Vec::new();
        for e in endpoints["endpoints"].as_array().into_iter().flatten() {
            if e["enabled"].as_bool() == Some(false) {
                continue;
            }
            let region = e["region_id"].as_str().or(e["region"].as_str());
            let service_type = e["service_id"].as_str().and_then(|id| types.get(id));
            if let (Some(region), Some(service_type), Some(interface), Some(url)) = (
                region,
                service_type,
                e["interface"].as_str(),
                e["url"].as_str(),
            ) {
                out.push(CatalogEndpoint {
                    region: region.to_string(),
                    service_type: service_type.clone(),
                    interface: interface.to_string(),
                    url: url.to_string(),
                });
            }
        }
        Ok(out)
    }

    async fn get_json(&self, path: &str, what: &'static str) -> Result<Value, KeystoneError> {
        let resp = self
            .service_get(&format!("{}{path}", self.base), &HeaderMap::new())
            .await?;
        if !(200..300).contains(&resp.status) {
            return Err(KeystoneError::Unexpected {
                what,
                status: resp.status,
            });
        }
        json_of(&resp, what)
    }
}

/// The answer's body as `T`.
fn json_of<T: DeserializeOwned>(
    resp: &TransportResponse,
    what: &'static str,
) -> Result<T, KeystoneError> {
    serde_json::from_slice(&resp.body).map_err(|e| KeystoneError::Malformed {
        what,
        detail: e.to_string(),
    })
}

/// `http://h:5000`, `http://h:5000/`, `http://h:5000/v3/` → `http://h:5000/v3`.
pub fn v3_base(auth_url: &str) -> String {
    let trimmed = auth_url.trim_end_matches('/');
    if trimmed.ends_with("/v3") {
        trimmed.to_string()
    } else {
        format!("{trimmed}/v3")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v3_base_forms() {
        for u in [
            "http://h:5000",
            "http://h:5000/",
            "http://h:5000/v3",
            "http://h:5000/v3/",
        ] {
            assert_eq!(v3_base(u), "http://h:5000/v3");
        }
        assert_eq!(v3_base("https://h/identity/v3"), "https://h/identity/v3");
    }

    #[test]
    fn credentials_debug_hides_password() {
        let c = ServiceCredentials {
            auth_url: "http://h".into(),
            username: "tricircle".into(),
            password: "hunter2".into(),
            project_name: "service".into(),
            user_domain_name: "Default".into(),
            project_domain_name: "Default".into(),
        };
        let s = format!("{c:?}");
        assert!(!s.contains("hunter2") && s.contains("***"));
    }
}
