//! `/os-keypairs`: list, import or generate, show, delete (per user).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine;
use chrono::Utc;
use md5::{Digest, Md5};
use rand::Rng;
use serde_json::{json, Value};
use sha1::Sha1;

use super::ctx::{check_keys, field_error, naive, wrapper, Ctx, NBody, BASE64, P};
use super::error::{NResult, NovaError};
use super::model::Keypair;
use crate::image::schema::{py_repr, py_str};
use crate::pod::Pod;

/// Key types the SSH fingerprinting accepts.
const SSH_TYPES: [&str; 8] = [
    "ssh-rsa",
    "ssh-dss",
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
];

/// `aa:bb:cc:...`: the colon-separated hex Nova uses for key fingerprints.
fn colon_hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// The SSH wire-format string `s`.
fn ssh_string(out: &mut Vec<u8>, s: &[u8]) {
    out.extend_from_slice(&(s.len() as u32).to_be_bytes());
    out.extend_from_slice(s);
}

/// The MD5 fingerprint of an OpenSSH public key line, as Nova computes it.
pub(crate) fn ssh_fingerprint(public_key: &str) -> Option<String> {
    let mut parts = public_key.split_whitespace();
    let kind = parts.next()?;
    let blob = BASE64.decode(parts.next()?).ok()?;
    if !SSH_TYPES.contains(&kind) {
        return None;
    }
    // The blob starts with the key type as an SSH string.
    let len = u32::from_be_bytes(blob.get(..4)?.try_into().ok()?) as usize;
    if blob.get(4..4 + len)? != kind.as_bytes() || blob.len() <= 4 + len {
        return None;
    }
    Some(colon_hex(&Md5::digest(&blob)))
}

/// The SHA-1 fingerprint of a PEM certificate (x509 keypairs).
fn x509_fingerprint(pem: &str) -> Option<String> {
    let body: String = pem
        .lines()
        .skip_while(|l| !l.starts_with("-----BEGIN CERTIFICATE-----"))
        .skip(1)
        .take_while(|l| !l.starts_with("-----END CERTIFICATE-----"))
        .collect();
    let der = BASE64.decode(body.trim()).ok()?;
    if der.is_empty() {
        return None;
    }
    Some(colon_hex(&Sha1::digest(&der)))
}

fn pem(label: &str, der: &[u8]) -> String {
    let b64 = BASE64.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// A generated key pair: `(private_key, public_key, fingerprint)`. The
/// key material is random, shaped like an RSA 2048 key; it is not usable
/// for cryptography.
fn generate(key_type: &str) -> (String, String, String) {
    let mut rng = rand::rng();
    let mut modulus = vec![0u8; 257];
    rng.fill(&mut modulus[1..]);
    modulus[1] |= 0x80;
    let mut private = vec![0u8; 1190];
    rng.fill(&mut private[..]);
    private[..4].copy_from_slice(&[0x30, 0x82, 0x04, 0xa2]);
    if key_type == "x509" {
        let mut der = vec![0u8; 700];
        rng.fill(&mut der[..]);
        der[..4].copy_from_slice(&[0x30, 0x82, 0x02, 0xb8]);
        let fingerprint = colon_hex(&Sha1::digest(&der));
        return (
            pem("PRIVATE KEY", &private),
            pem("CERTIFICATE", &der),
            fingerprint,
        );
    }
    let mut blob = Vec::new();
    ssh_string(&mut blob, b"ssh-rsa");
    ssh_string(&mut blob, &[0x01, 0x00, 0x01]);
    ssh_string(&mut blob, &modulus);
    let public = format!("ssh-rsa {} Generated-by-Nova", BASE64.encode(&blob));
    let fingerprint = colon_hex(&Md5::digest(&blob));
    (pem("RSA PRIVATE KEY", &private), public, fingerprint)
}

/// The user a request acts for (`?user_id=` from 2.10, admin or self).
fn target_user(ctx: &Ctx, rule: &str) -> NResult<String> {
    let user = if ctx.at_least(10) {
        ctx.query.first("user_id").map(str::to_string)
    } else {
        None
    };
    match user {
        Some(u) if u != ctx.user() => {
            ctx.require_admin(rule)?;
            Ok(u)
        }
        _ => Ok(ctx.user().to_string()),
    }
}

fn check_query(ctx: &Ctx, paging: bool) -> NResult<()> {
    if ctx.at_least(75) {
        let mut allowed = vec!["user_id"];
        if paging {
            allowed.extend(["limit", "marker"]);
        }
        ctx.check_query_keys(&allowed)?;
    }
    Ok(())
}

/// `GET /os-keypairs`.
pub(crate) async fn index(State(pod): State<Pod>, ctx: Ctx) -> NResult<Json<Value>> {
    check_query(&ctx, true)?;
    let user = target_user(&ctx, "os_compute_api:os-keypairs:index")?;
    let mut list: Vec<Keypair> = pod
        .compute()
        .with(|st| st.keypairs_of(&user).into_iter().cloned().collect());
    let paging = ctx.at_least(35);
    if paging {
        let (limit, marker) = ctx.limit_and_marker()?;
        if let Some(m) = marker {
            let pos = list
                .iter()
                .position(|k| k.name == m)
                .ok_or_else(|| NovaError::bad_request(format!("Marker {m} could not be found.")))?;
            list.drain(..=pos);
        }
        list.truncate(limit);
    }
    let items: Vec<Value> = list
        .iter()
        .map(|k| {
            let mut v =
                json!({"name": k.name, "public_key": k.public_key, "fingerprint": k.fingerprint});
            if ctx.at_least(2) {
                v["type"] = json!(k.key_type);
            }
            json!({"keypair": v})
        })
        .collect();
    let mut body = json!({"keypairs": items});
    if paging {
        if let Some(links) = ctx.next_links(
            "os-keypairs",
            list.len(),
            list.last().map(|k| k.name.as_str()),
        ) {
            body["keypairs_links"] = links;
        }
    }
    Ok(Json(body))
}

/// A checked `POST /os-keypairs` body; `user` is whom the key is for
/// (another user's only for admins).
struct KeypairRequest {
    name: String,
    public_key: Option<String>,
    key_type: String,
    user: String,
}

/// `name`, by the pattern of the request's microversion.
fn parse_name(ctx: &Ctx, name: Option<&Value>) -> NResult<Option<String>> {
    let (pattern, pattern_repr) = if ctx.at_least(92) {
        ("_-@. ", "'^[_\\\\-\\\\@\\\\. a-zA-Z0-9]+$'")
    } else {
        ("_- ", "'^[_\\\\- a-zA-Z0-9]+$'")
    };
    match name {
        None => Ok(None),
        Some(Value::String(s)) => {
            if s.is_empty() {
                return Err(field_error("name", &json!(s), "'' should be non-empty"));
            }
            if s.chars().count() > 255 {
                return Err(field_error(
                    "name",
                    &json!(s),
                    &format!("{} is too long", py_str(s)),
                ));
            }
            if s.starts_with(char::is_whitespace) || s.ends_with(char::is_whitespace) {
                return Err(NovaError::bad_request(
                    "An invalid 'name' value was provided. The name must be: printable \
                     characters. Can not start or end with whitespace.",
                ));
            }
            if !s
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || pattern.contains(c))
            {
                return Err(field_error(
                    "name",
                    &json!(s),
                    &format!("{} does not match {pattern_repr}", py_str(s)),
                ));
            }
            Ok(Some(s.clone()))
        }
        Some(other) => Err(field_error(
            "name",
            other,
            &format!("{} is not of type 'string'", py_repr(other)),
        )),
    }
}

impl KeypairRequest {
    /// The body's fields in the order Nova's schema reports them, then
    /// the keys, then the target user.
    fn parse(ctx: &Ctx, body: &Value) -> NResult<Self> {
        let req = wrapper(body, "keypair", &[])?;
        let mut allowed = vec!["name", "public_key"];
        if ctx.at_least(2) {
            allowed.push("type");
        }
        if ctx.at_least(10) {
            allowed.push("user_id");
        }
        let name = parse_name(ctx, req.get("name"))?;
        let public_key = match req.get("public_key") {
            None => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(other) => {
                return Err(field_error(
                    "public_key",
                    other,
                    &format!("{} is not of type 'string'", py_repr(other)),
                ))
            }
        };
        let key_type = match req.get("type") {
            None => "ssh".to_string(),
            Some(Value::String(t)) if t == "ssh" || t == "x509" => t.clone(),
            Some(other) => {
                return Err(field_error(
                    "type",
                    other,
                    &format!("{} is not one of ['ssh', 'x509']", py_repr(other)),
                ))
            }
        };
        let mut required = vec!["name"];
        if ctx.at_least(92) {
            required.push("public_key");
        }
        check_keys("keypair", req, &allowed, &required)?;
        let Some(name) = name else {
            return Err(NovaError::bad_request("'name' is a required property"));
        };
        let user = match req.get("user_id") {
            Some(Value::String(u)) if u != ctx.user() => {
                ctx.require_admin("os_compute_api:os-keypairs:create")?;
                u.clone()
            }
            _ => ctx.user().to_string(),
        };
        Ok(KeypairRequest {
            name,
            public_key,
            key_type,
            user,
        })
    }
}

/// `(private key, public key, fingerprint)`: an imported key's
/// fingerprint (no private key), or a generated pair.
fn key_material(
    key_type: &str,
    public_key: Option<String>,
) -> NResult<(Option<String>, String, String)> {
    match public_key {
        Some(pk) => {
            let fp = if key_type == "x509" {
                x509_fingerprint(&pk).ok_or_else(|| {
                    NovaError::bad_request(
                        "Keypair data is invalid: failed to generate X509 fingerprint. \
                         Error message: Unable to load PEM file. See \
                         https://cryptography.io/en/latest/faq/#why-can-t-i-import-my-pem-file \
                         for more details. MalformedFraming",
                    )
                })
            } else {
                ssh_fingerprint(&pk).ok_or_else(|| {
                    NovaError::bad_request(
                        "Keypair data is invalid: failed to generate fingerprint",
                    )
                })
            }?;
            Ok((None, pk, fp))
        }
        None => {
            let (private, public, fp) = generate(key_type);
            Ok((Some(private), public, fp))
        }
    }
}

/// Stores the key pair: unique by name per user, within `key_pairs` quota.
fn save(
    pod: &Pod,
    ctx: &Ctx,
    req: &KeypairRequest,
    public_key: String,
    fingerprint: String,
) -> NResult<Keypair> {
    let (name, user) = (&req.name, &req.user);
    pod.compute().with(|st| -> NResult<Keypair> {
        let limit = st
            .quota_limits(ctx.project())
            .get("key_pairs")
            .copied()
            .unwrap_or(100);
        if st
            .keypairs
            .iter()
            .any(|k| &k.user_id == user && &k.name == name)
        {
            return Err(NovaError::conflict(format!(
                "Key pair '{name}' already exists."
            )));
        }
        let count = st.keypairs.iter().filter(|k| &k.user_id == user).count() as i64;
        if limit >= 0 && count + 1 > limit {
            return Err(NovaError::forbidden("Quota exceeded, too many key pairs."));
        }
        let id = st.next_seq();
        let kp = Keypair {
            id,
            name: name.clone(),
            user_id: user.clone(),
            public_key,
            fingerprint,
            key_type: req.key_type.clone(),
            created_at: Utc::now(),
        };
        st.keypairs.push(kp.clone());
        Ok(kp)
    })
}

/// `POST /os-keypairs`: import `public_key`, or generate (before 2.92).
pub(crate) async fn create(
    State(pod): State<Pod>,
    ctx: Ctx,
    NBody(body): NBody,
) -> NResult<Response> {
    let req = KeypairRequest::parse(&ctx, &body)?;
    let (private_key, public_key, fingerprint) =
        key_material(&req.key_type, req.public_key.clone())?;
    let kp = save(&pod, &ctx, &req, public_key, fingerprint)?;
    let mut v = json!({
        "name": kp.name,
        "public_key": kp.public_key,
        "fingerprint": kp.fingerprint,
        "user_id": kp.user_id,
    });
    if let Some(p) = private_key {
        v["private_key"] = json!(p);
    }
    if ctx.at_least(2) {
        v["type"] = json!(kp.key_type);
    }
    let status = if ctx.at_least(2) {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(json!({"keypair": v}))).into_response())
}

/// `GET /os-keypairs/{name}`.
pub(crate) async fn show(State(pod): State<Pod>, ctx: Ctx, p: P) -> NResult<Json<Value>> {
    check_query(&ctx, false)?;
    let user = target_user(&ctx, "os_compute_api:os-keypairs:show")?;
    let name = p.get("name");
    let kp = pod
        .compute()
        .with(|st| {
            st.keypairs
                .iter()
                .find(|k| k.user_id == user && k.name == name)
                .cloned()
        })
        .ok_or_else(|| NovaError::not_found(format!("Keypair {name} not found for user {user}")))?;
    let mut v = json!({
        "name": kp.name,
        "public_key": kp.public_key,
        "fingerprint": kp.fingerprint,
        "user_id": kp.user_id,
        "created_at": naive(kp.created_at),
        "deleted": false,
        "deleted_at": null,
        "id": kp.id,
        "updated_at": null,
    });
    if ctx.at_least(2) {
        v["type"] = json!(kp.key_type);
    }
    Ok(Json(json!({"keypair": v})))
}

/// `DELETE /os-keypairs/{name}`: 202 (2.1) or 204 (2.2+).
pub(crate) async fn delete(State(pod): State<Pod>, ctx: Ctx, p: P) -> NResult<StatusCode> {
    check_query(&ctx, false)?;
    let user = target_user(&ctx, "os_compute_api:os-keypairs:delete")?;
    let name = p.get("name").to_string();
    pod.compute().with(|st| {
        let before = st.keypairs.len();
        st.keypairs
            .retain(|k| !(k.user_id == user && k.name == name));
        if st.keypairs.len() == before {
            Err(NovaError::not_found(format!(
                "Keypair {name} not found for user {user}"
            )))
        } else {
            Ok(())
        }
    })?;
    Ok(if ctx.at_least(2) {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::ACCEPTED
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_fingerprint_like_imported_ones() {
        let (private, public, fp) = generate("ssh");
        assert!(private.starts_with("-----BEGIN RSA PRIVATE KEY-----\n"));
        assert!(public.starts_with("ssh-rsa "));
        assert_eq!(ssh_fingerprint(&public).as_deref(), Some(fp.as_str()));
        assert_eq!(fp.len(), 47);
        let (_, cert, fp) = generate("x509");
        assert_eq!(x509_fingerprint(&cert).as_deref(), Some(fp.as_str()));
    }

    #[test]
    fn invalid_keys_are_rejected() {
        assert!(ssh_fingerprint("ssh-rsa not-base64!").is_none());
        assert!(ssh_fingerprint("hello").is_none());
        // A valid blob whose embedded type differs from the prefix.
        let mut blob = Vec::new();
        ssh_string(&mut blob, b"ssh-ed25519");
        ssh_string(&mut blob, &[1u8; 32]);
        let line = format!("ssh-rsa {}", BASE64.encode(&blob));
        assert!(ssh_fingerprint(&line).is_none());
        let ok = format!("ssh-ed25519 {} me@host", BASE64.encode(&blob));
        assert_eq!(
            ssh_fingerprint(&ok).as_deref(),
            Some("d6:9a:30:45:17:cf:91:c4:27:94:f3:22:92:a3:00:0e")
        );
        // Whitespace inside the base64 is not accepted.
        let spaced = ok.replacen("AAAA", "AA AA", 1);
        assert!(ssh_fingerprint(&spaced).is_none());
    }
}
