//! Keypairs: kept at the top per user, copied into a pod (as the user, so
//! the pod's copy is theirs) the first time a server there uses one,
//! through the one get-or-create under the routing lock.

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use md5::{Digest, Md5};
use serde_json::json;
use tricircle_gateway::copies::{CopyOf, CreateError};
use tricircle_gateway::{GatewayError, PodCall};
use tricircle_pods::PodPath;
use tricircle_store::{Keypair, Pod, RoutingFilter, StoreError};

use crate::error::{ComputeError, Result};
use crate::{Caller, Compute};
use tricircle_core::ResourceType;

/// Routing resource type of a keypair's copy in a pod.
pub const ROUTING_TYPE: ResourceType = ResourceType::Keypair;

/// The kinds of keypair Nova knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyType {
    Ssh,
    X509,
}

impl KeyType {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyType::Ssh => "ssh",
            KeyType::X509 => "x509",
        }
    }
}

/// A keypair to create, checked by the API.
#[derive(Debug, Clone)]
pub struct KeypairCreate {
    pub user_id: String,
    pub name: String,
    pub key_type: KeyType,
    /// The public key to import; `None`: generate a keypair.
    pub public_key: Option<String>,
}

/// A created keypair, with its private key when it was generated.
#[derive(Debug, Clone)]
pub struct CreatedKeypair {
    pub keypair: Keypair,
    pub private_key: Option<String>,
}

/// The routing top id of a user's keypair.
fn top_id(user_id: &str, name: &str) -> String {
    format!("{user_id}/{name}")
}

fn not_found(user: &str, name: &str) -> ComputeError {
    ComputeError::NotFound(format!("Keypair {name} not found for user {user}"))
}

impl Compute {
    /// A user's keypairs, by name after `marker` (which must exist).
    pub async fn list_keypairs(
        &self,
        user: &str,
        marker: Option<&str>,
        limit: Option<u32>,
    ) -> Result<Vec<Keypair>> {
        if let Some(m) = marker {
            if matches!(
                self.store.get_keypair(user, m).await,
                Err(StoreError::NotFound(_))
            ) {
                return Err(ComputeError::BadRequest(format!("marker [{m}] not found")));
            }
        }
        Ok(self.store.list_keypairs(user, marker, limit).await?)
    }

    pub async fn keypair(&self, user: &str, name: &str) -> Result<Keypair> {
        self.store
            .get_keypair(user, name)
            .await
            .map_err(|_| not_found(user, name))
    }

    /// Imports or generates a keypair (Nova's fingerprints).
    pub async fn create_keypair(&self, req: KeypairCreate) -> Result<CreatedKeypair> {
        let (public_key, private_key) = match req.public_key {
            Some(pk) => (pk.trim().to_string(), None),
            None if req.key_type == KeyType::X509 => {
                let (private, public) = generate_x509(&req.user_id)?;
                (public, Some(private))
            }
            None => {
                let (private, public) = generate(&req.name)?;
                (public, Some(private))
            }
        };
        let fingerprint = match req.key_type {
            KeyType::X509 => x509_fingerprint(&public_key)?,
            KeyType::Ssh => ssh_fingerprint(&public_key)?,
        };
        let keypair = Keypair {
            user_id: req.user_id,
            name: req.name,
            key_type: req.key_type.as_str().to_string(),
            fingerprint,
            public_key,
            created_at: nova_now(),
        };
        self.store.create_keypair(&keypair).await?;
        Ok(CreatedKeypair {
            keypair,
            private_key,
        })
    }

    /// Deletes a user's keypair and forgets its copies. The copies belong
    /// to the user: they are removed with the caller's token when the
    /// caller is that user (best effort, logged: a copy left behind is
    /// harmless, and replaced on use since its routing is gone).
    pub async fn delete_keypair(&self, caller: &Caller, user: &str, name: &str) -> Result<()> {
        self.store
            .delete_keypair(user, name)
            .await
            .map_err(|_| not_found(user, name))?;
        let filter = RoutingFilter {
            top_id: Some(top_id(user, name)),
            resource_type: Some(ROUTING_TYPE),
            ..Default::default()
        };
        let routings = match self.store.list_routings(&filter, None, 1000).await {
            Ok(page) => page.routings,
            Err(e) => {
                tracing::warn!(error = %e, %user, keypair = %name, "copies of a deleted keypair not looked up");
                return Ok(());
            }
        };
        let headers = keypair_headers();
        for r in routings {
            if user == caller.user_id {
                self.delete_copy(caller, &r.pod_id, name, &headers).await;
            }
            if let Err(e) = self.store.delete_routing(r.id).await {
                tracing::warn!(error = %e, %user, keypair = %name, pod = %r.pod_id, "routing of a deleted keypair's copy not removed");
            }
        }
        Ok(())
    }

    async fn delete_copy(&self, caller: &Caller, pod_id: &str, name: &str, headers: &HeaderMap) {
        let pod = match self.store.find_pod(pod_id).await {
            Ok(Some(pod)) => pod,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(error = %e, pod = %pod_id, keypair = %name, "keypair copy not deleted");
                return;
            }
        };
        let call = keypair_call(&pod, Method::DELETE, name, None, headers);
        match self.call(caller, call).await {
            Ok(a) if a.is_success() || a.status == StatusCode::NOT_FOUND => {}
            Ok(a) => {
                tracing::warn!(pod = %pod.pod_name, status = %a.status, keypair = %name, "keypair copy not deleted")
            }
            Err(e) => {
                tracing::warn!(pod = %pod.pod_name, error = %e, keypair = %name, "keypair copy not deleted")
            }
        }
    }

    /// Makes sure the caller's keypair `k` exists in `pod` with the same
    /// public key (made at most once per pod: the routing lock).
    pub async fn ensure_keypair(&self, caller: &Caller, pod: &Pod, k: &Keypair) -> Result<()> {
        let top = top_id(&k.user_id, &k.name);
        let copy = CopyOf {
            resource_type: ROUTING_TYPE,
            top_id: &top,
            pod,
            project_id: &caller.project_id,
        };
        self.get_or_create_copy(copy, |_| self.copy_keypair(caller, pod, k))
            .await?;
        Ok(())
    }

    /// Creates the copy unless the pod has it with the same public key
    /// (idempotent); a stale copy (the keypair was replaced at the top) is
    /// replaced.
    async fn copy_keypair(
        &self,
        caller: &Caller,
        pod: &Pod,
        k: &Keypair,
    ) -> Result<String, CreateError> {
        let headers = keypair_headers();
        let existing = self
            .call(
                caller,
                keypair_call(pod, Method::GET, &k.name, None, &headers),
            )
            .await?;
        if existing.is_success() {
            let same = existing.json().and_then(|v| {
                v["keypair"]["public_key"]
                    .as_str()
                    .map(|p| p.trim() == k.public_key.trim())
            });
            if same == Some(true) {
                return Ok(k.name.clone());
            }
            self.call(
                caller,
                keypair_call(pod, Method::DELETE, &k.name, None, &headers),
            )
            .await?;
        }
        let body =
            json!({"keypair": {"name": k.name, "public_key": k.public_key, "type": k.key_type}});
        let created = self
            .call(
                caller,
                keypair_call(pod, Method::POST, &k.name, Some(body), &headers),
            )
            .await?;
        if !created.is_success() && created.status != StatusCode::CONFLICT {
            tracing::error!(pod = %pod.pod_name, status = %created.status, keypair = %k.name, "keypair copy failed");
            return Err(CreateError::NotMade(GatewayError::unavailable(
                format!(
                    "Keypair {} could not be prepared in pod {}.",
                    k.name, pod.pod_name
                ),
                std::time::Duration::ZERO,
            )));
        }
        Ok(k.name.clone())
    }
}

/// Plain 2.2 requests: a known shape whatever the client asked.
fn keypair_headers() -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    headers.insert(
        "openstack-api-version",
        HeaderValue::from_static("compute 2.2"),
    );
    headers.insert(
        "x-openstack-nova-api-version",
        HeaderValue::from_static("2.2"),
    );
    headers
}

fn keypair_call<'a>(
    pod: &'a Pod,
    method: Method,
    name: &str,
    body: Option<serde_json::Value>,
    headers: &'a HeaderMap,
) -> PodCall<'a> {
    PodCall {
        pod,
        service_type: "compute",
        method,
        path: if body.is_some() {
            PodPath::fixed("/os-keypairs")
        } else {
            PodPath::of(["os-keypairs", name])
        },
        query: None,
        headers,
        body: body.map(|b| Bytes::from(b.to_string())),
    }
}

/// Nova shows keypair times without a zone suffix, with microseconds.
fn nova_now() -> String {
    chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S%.6f")
        .to_string()
}

/// Colon-separated lowercase hex, as Nova prints fingerprints.
fn colon_hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Nova's fingerprint of an SSH public key (RSA, DSA, ECDSA, Ed25519):
/// the key must parse, and the fingerprint is the MD5 of the key blob
/// (the base64 field of the line), as colon-separated hex.
pub fn ssh_fingerprint(public_key: &str) -> Result<String> {
    use base64::Engine;
    let invalid = || {
        ComputeError::BadRequest("Keypair data is invalid: failed to generate fingerprint".into())
    };
    let line = public_key.trim();
    ssh_key::PublicKey::from_openssh(line).map_err(|_| invalid())?;
    let blob = line
        .split(' ')
        .nth(1)
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .ok_or_else(invalid)?;
    Ok(colon_hex(&Md5::digest(&blob)))
}

/// Nova's fingerprint of an x509 keypair: the SHA-1 of the DER form of
/// the PEM certificate, as colon-separated hex.
pub fn x509_fingerprint(pem: &str) -> Result<String> {
    use x509_cert::der::{DecodePem, Encode};
    let invalid = |why: &str| {
        ComputeError::BadRequest(format!(
            "Keypair data is invalid: failed to generate X509 fingerprint. Error message: {why}"
        ))
    };
    let cert = x509_cert::Certificate::from_pem(pem.trim().as_bytes()).map_err(|e| match e.kind() {
        x509_cert::der::ErrorKind::Pem(_) => invalid(
            "Unable to load PEM file. See https://cryptography.io/en/latest/faq/#why-can-t-i-import-my-pem-file for more details. MalformedFraming",
        ),
        _ => invalid(&format!("error parsing asn1 value: {e}")),
    })?;
    let der = cert.to_der().map_err(|e| invalid(&e.to_string()))?;
    Ok(colon_hex(&sha1::Sha1::digest(&der)))
}

fn generation_failed(e: impl std::fmt::Display) -> ComputeError {
    GatewayError::internal(format!("keypair generation failed: {e}")).into()
}

/// A new x509 keypair as Nova makes one for WinRM: a self-signed
/// certificate for the user (client authentication, UPN `user@localhost`),
/// valid ten years: (private key PEM, certificate PEM).
fn generate_x509(user_id: &str) -> Result<(String, String)> {
    let key = rcgen::KeyPair::generate().map_err(generation_failed)?;
    let mut params =
        rcgen::CertificateParams::new(Vec::<String>::new()).map_err(generation_failed)?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, user_id);
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
    params.subject_alt_names = vec![rcgen::SanType::OtherName((
        vec![1, 3, 6, 1, 4, 1, 311, 20, 2, 3],
        rcgen::OtherNameValue::Utf8String(format!("{user_id}@localhost")),
    ))];
    let today = chrono::Utc::now().date_naive();
    use chrono::Datelike;
    let ymd = |y: i32| rcgen::date_time_ymd(y, today.month() as u8, today.day().min(28) as u8);
    params.not_before = ymd(today.year());
    params.not_after = ymd(today.year() + 10);
    let cert = params.self_signed(&key).map_err(generation_failed)?;
    Ok((key.serialize_pem(), cert.pem()))
}

/// A new ed25519 keypair: (private key in OpenSSH form, public key line).
fn generate(name: &str) -> Result<(String, String)> {
    let mut rng = ssh_key::rand_core::OsRng;
    let mut private = ssh_key::PrivateKey::random(&mut rng, ssh_key::Algorithm::Ed25519)
        .map_err(generation_failed)?;
    private.set_comment(format!("Generated-by-Nova {name}"));
    let pem = private
        .to_openssh(ssh_key::LineEnding::LF)
        .map_err(generation_failed)?;
    let public = private
        .public_key()
        .to_openssh()
        .map_err(generation_failed)?;
    Ok((pem.to_string(), public))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn fingerprints_like_nova() {
        // ssh-keygen -l -E md5 of this key prints this fingerprint.
        let (_, public) = generate("k").unwrap();
        let fp = ssh_fingerprint(&public).unwrap();
        assert_eq!(fp.len(), 47);
        assert_eq!(fp.matches(':').count(), 15);
        assert!(ssh_fingerprint("ssh-rsa not-base64").is_err());
        assert!(ssh_fingerprint("").is_err());
    }

    #[test]
    fn generated_x509_keys_have_fingerprints() {
        let (_, cert) = generate_x509("u1").unwrap();
        let fp = x509_fingerprint(&cert).unwrap();
        assert_eq!(fp.matches(':').count(), 19);
        assert!(x509_fingerprint("not a pem").is_err());
    }
}
