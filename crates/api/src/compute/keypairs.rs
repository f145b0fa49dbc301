//! Keypairs: kept at the top per user, copied into a pod (as the user, so
//! the pod's copy is theirs) the first time a server there uses one.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use md5::{Digest, Md5};
use serde_json::{json, Value};
use tricircle_pods::PodPath;
use tricircle_store::{Keypair, NewRouting, Pod, StoreError};

use super::microversion::Microversion;
use crate::body::parse_json;
use crate::error::ApiError;
use crate::gateway::forward::{call, PodCall};
use crate::gateway::{Call, GatewayState};

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
pub fn ssh_fingerprint(public_key: &str) -> Result<String, ApiError> {
    use base64::Engine;
    let invalid =
        || ApiError::bad_request("Keypair data is invalid: failed to generate fingerprint");
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
pub fn x509_fingerprint(pem: &str) -> Result<String, ApiError> {
    use x509_cert::der::{DecodePem, Encode};
    let invalid = |why: &str| {
        ApiError::bad_request(format!(
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

/// A new x509 keypair as Nova makes one for WinRM: a self-signed
/// certificate for the user (client authentication, UPN `user@localhost`),
/// valid ten years: (private key PEM, certificate PEM).
fn generate_x509(user_id: &str) -> Result<(String, String), ApiError> {
    let failed = |e: rcgen::Error| {
        tracing::error!(error = %e, "x509 keypair generation failed");
        ApiError::internal()
    };
    let key = rcgen::KeyPair::generate().map_err(failed)?;
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).map_err(failed)?;
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
    let cert = params.self_signed(&key).map_err(failed)?;
    Ok((key.serialize_pem(), cert.pem()))
}

/// A new ed25519 keypair: (private key in OpenSSH form, public key line).
fn generate(name: &str) -> Result<(String, String), ApiError> {
    let mut rng = ssh_key::rand_core::OsRng;
    let mut private =
        ssh_key::PrivateKey::random(&mut rng, ssh_key::Algorithm::Ed25519).map_err(|e| {
            tracing::error!(error = %e, "key generation failed");
            ApiError::internal()
        })?;
    private.set_comment(format!("Generated-by-Nova {name}"));
    let pem = private
        .to_openssh(ssh_key::LineEnding::LF)
        .map_err(|_| ApiError::internal())?;
    let public = private
        .public_key()
        .to_openssh()
        .map_err(|_| ApiError::internal())?;
    Ok((pem.to_string(), public))
}

fn valid_name(name: &str, mv: Microversion) -> bool {
    !name.trim().is_empty()
        && name.chars().count() <= 255
        && name.chars().all(|c| {
            c.is_ascii_alphanumeric() || " _-".contains(c) || (mv.at_least(92) && "@.".contains(c))
        })
}

fn view(k: &Keypair, mv: Microversion, full: bool) -> Value {
    let mut v = json!({"name": k.name, "public_key": k.public_key, "fingerprint": k.fingerprint});
    if mv.at_least(2) {
        v["type"] = json!(k.key_type);
    }
    if full {
        v["user_id"] = json!(k.user_id);
        v["created_at"] = json!(k.created_at);
        v["deleted"] = json!(false);
        v["deleted_at"] = Value::Null;
        v["updated_at"] = Value::Null;
        v["id"] = json!(0);
    }
    v
}

/// The user whose keypairs a request is about: the caller, or (admins,
/// 2.10+) the `user_id` it names.
fn target_user(c: &Call, mv: Microversion, asked: Option<&str>) -> Result<String, ApiError> {
    match asked {
        Some(u) if mv.at_least(10) && u != c.ctx.user_id => {
            c.ctx.require_admin("os_compute_api:os-keypairs")?;
            Ok(u.to_string())
        }
        _ => Ok(c.ctx.user_id.clone()),
    }
}

pub async fn list(
    State(st): State<GatewayState>,
    c: Call,
    Extension(mv): Extension<Microversion>,
    Query(q): Query<Vec<(String, String)>>,
) -> Result<Json<Value>, ApiError> {
    let get = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let user = target_user(&c, mv, get("user_id"))?;
    let (marker, limit) = if mv.at_least(35) {
        let limit = get("limit")
            .map(|l| {
                l.parse::<u32>().map_err(|_| {
                    ApiError::bad_request(format!(
                        "Invalid input for query parameters limit. Value: {l}."
                    ))
                })
            })
            .transpose()?;
        (get("marker"), limit)
    } else {
        (None, None)
    };
    if let Some(m) = marker {
        if matches!(
            st.store.get_keypair(&user, m).await,
            Err(StoreError::NotFound(_))
        ) {
            return Err(ApiError::bad_request(format!("marker [{m}] not found")));
        }
    }
    let keys = st.store.list_keypairs(&user, marker, limit).await?;
    let items: Vec<Value> = keys
        .iter()
        .map(|k| json!({"keypair": view(k, mv, false)}))
        .collect();
    let mut body = json!({"keypairs": items});
    if let (Some(l), Some(last)) = (limit, keys.last()) {
        if keys.len() == l as usize {
            body["keypairs_links"] = json!([{"rel": "next",
                "href": format!("{}/v2.1/os-keypairs?limit={l}&marker={}", c.root, last.name)}]);
        }
    }
    Ok(Json(body))
}

pub async fn create(
    State(st): State<GatewayState>,
    c: Call,
    Extension(mv): Extension<Microversion>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body: Value = parse_json(&body)?;
    let kp = body
        .get("keypair")
        .and_then(Value::as_object)
        .ok_or_else(|| ApiError::bad_request("Invalid input for field/attribute keypair."))?;
    let name = kp.get("name").and_then(Value::as_str).unwrap_or("");
    if !valid_name(name, mv) {
        return Err(ApiError::bad_request(
            "Keypair data is invalid: Keypair name contains unsafe characters or is not 1 to 255 characters long",
        ));
    }
    let key_type = match kp.get("type").and_then(Value::as_str) {
        None => "ssh",
        Some("ssh") if mv.at_least(2) => "ssh",
        Some("x509") if mv.at_least(2) => "x509",
        Some(_) => {
            return Err(ApiError::bad_request(
                "Invalid input for field/attribute type.",
            ))
        }
    };
    let user = target_user(&c, mv, kp.get("user_id").and_then(Value::as_str))?;
    let (public_key, private_key) =
        match kp.get("public_key").and_then(Value::as_str) {
            Some(pk) => (pk.trim().to_string(), None),
            None if mv.at_least(92) => return Err(ApiError::bad_request(
                "Invalid input for field/attribute keypair. 'public_key' is a required property.",
            )),
            None if key_type == "x509" => {
                let (private, public) = generate_x509(&user)?;
                (public, Some(private))
            }
            None => {
                let (private, public) = generate(name)?;
                (public, Some(private))
            }
        };
    let fingerprint = if key_type == "x509" {
        x509_fingerprint(&public_key)?
    } else {
        ssh_fingerprint(&public_key)?
    };
    let k = Keypair {
        user_id: user,
        name: name.to_string(),
        key_type: key_type.to_string(),
        fingerprint,
        public_key,
        created_at: chrono_now(),
    };
    st.store.create_keypair(&k).await?;
    let mut v = view(&k, mv, false);
    v["user_id"] = json!(k.user_id);
    if let Some(p) = private_key {
        v["private_key"] = json!(p);
    }
    let status = if mv.at_least(2) {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(json!({"keypair": v}))).into_response())
}

/// Nova shows keypair times without a zone suffix, with microseconds.
fn chrono_now() -> String {
    chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S%.6f")
        .to_string()
}

pub async fn show(
    State(st): State<GatewayState>,
    c: Call,
    Extension(mv): Extension<Microversion>,
    Path(name): Path<String>,
    Query(q): Query<Vec<(String, String)>>,
) -> Result<Json<Value>, ApiError> {
    let user = target_user(
        &c,
        mv,
        q.iter()
            .find(|(k, _)| k == "user_id")
            .map(|(_, v)| v.as_str()),
    )?;
    let k =
        st.store.get_keypair(&user, &name).await.map_err(|_| {
            ApiError::not_found(format!("Keypair {name} not found for user {user}"))
        })?;
    Ok(Json(json!({"keypair": view(&k, mv, true)})))
}

pub async fn delete(
    State(st): State<GatewayState>,
    c: Call,
    Extension(mv): Extension<Microversion>,
    Path(name): Path<String>,
    Query(q): Query<Vec<(String, String)>>,
) -> Result<Response, ApiError> {
    let user = target_user(
        &c,
        mv,
        q.iter()
            .find(|(k, _)| k == "user_id")
            .map(|(_, v)| v.as_str()),
    )?;
    st.store
        .delete_keypair(&user, &name)
        .await
        .map_err(|_| ApiError::not_found(format!("Keypair {name} not found for user {user}")))?;
    // Pod copies belong to the user: remove them with the user's token
    // (best effort; a copy left behind is harmless and is replaced on use).
    if user == c.ctx.user_id {
        let top_id = format!("{user}/{name}");
        if let Ok(page) = st
            .store
            .list_routings(
                &tricircle_store::RoutingFilter {
                    top_id: Some(top_id),
                    resource_type: Some("keypair".into()),
                    ..Default::default()
                },
                None,
                1000,
            )
            .await
        {
            for r in page.routings {
                if let Ok(Some(pod)) = st.store.find_pod(&r.pod_id).await {
                    let _ = call(
                        &st,
                        &c.ctx,
                        &c.rid,
                        &c.root,
                        keypair_call(&pod, Method::DELETE, &name, None, &c.headers),
                    )
                    .await;
                }
                let _ = st.store.delete_routing(r.id).await;
            }
        }
    }
    let status = if mv.at_least(2) {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::ACCEPTED
    };
    Ok(status.into_response())
}

fn keypair_call<'a>(
    pod: &'a Pod,
    method: Method,
    name: &str,
    body: Option<Value>,
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

/// Makes sure the user's keypair exists in `pod` with the same public key.
pub(super) async fn ensure_keypair_in_pod(
    st: &GatewayState,
    c: &Call,
    pod: &Pod,
    k: &Keypair,
) -> Result<(), ApiError> {
    // Plain 2.2 requests: a known shape whatever the client asked.
    let mut headers = HeaderMap::new();
    headers.insert(
        "content-type",
        axum::http::HeaderValue::from_static("application/json"),
    );
    headers.insert(
        "openstack-api-version",
        axum::http::HeaderValue::from_static("compute 2.2"),
    );
    headers.insert(
        "x-openstack-nova-api-version",
        axum::http::HeaderValue::from_static("2.2"),
    );
    let existing = call(
        st,
        &c.ctx,
        &c.rid,
        &c.root,
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
            return Ok(());
        }
        // A stale copy (the keypair was replaced at the top): replace it.
        call(
            st,
            &c.ctx,
            &c.rid,
            &c.root,
            keypair_call(pod, Method::DELETE, &k.name, None, &headers),
        )
        .await?;
    }
    let body = json!({"keypair": {"name": k.name, "public_key": k.public_key, "type": k.key_type}});
    let created = call(
        st,
        &c.ctx,
        &c.rid,
        &c.root,
        keypair_call(pod, Method::POST, &k.name, Some(body), &headers),
    )
    .await?;
    if !created.is_success() && created.status != StatusCode::CONFLICT {
        tracing::error!(pod = %pod.pod_name, status = %created.status, "keypair copy failed");
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "Keypair {} could not be prepared in pod {}.",
                k.name, pod.pod_name
            ),
        ));
    }
    match st
        .store
        .create_routing(&NewRouting {
            top_id: format!("{}/{}", k.user_id, k.name),
            bottom_id: Some(k.name.clone()),
            pod_id: pod.pod_id.clone(),
            project_id: c.ctx.project_id.clone(),
            resource_type: "keypair".into(),
        })
        .await
    {
        Ok(_) | Err(StoreError::Conflict(_)) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
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
    fn names() {
        assert!(valid_name("my key_1-a", Microversion(2)));
        assert!(!valid_name("a@b", Microversion(91)));
        assert!(valid_name("a@b.c", Microversion(92)));
        assert!(!valid_name("  ", Microversion(2)));
        assert!(!valid_name("k/1", Microversion(92)));
    }
}
