//! Servers that close kept-alive connections (as gunicorn does after 2 s):
//! a request that goes out on a connection the server is closing is tried
//! once more when that is harmless, and idle connections are not kept
//! longer than asked.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

mod common;

use common::request;
use reqwest::Method;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tricircle_pods::{
    EndpointResolver, Interface, KeystoneClient, PodClient, PodClientOptions, PodError,
    ServiceCredentials,
};

/// What the server saw.
#[derive(Default)]
struct Seen {
    connections: AtomicUsize,
    served: AtomicUsize,
    /// Requests that came on a connection already used once: closed
    /// without an answer, as a server does that timed the connection out
    /// just as the request arrived.
    dropped: AtomicUsize,
    /// `METHOD path` of every request read.
    log: std::sync::Mutex<Vec<String>>,
}

const TOKEN_BODY: &str = r#"{"token": {"expires_at": "2999-01-01T00:00:00.000000Z",
  "user": {"id": "u1", "name": "alice"}, "project": {"id": "p1", "name": "proj"},
  "roles": [{"id": "r", "name": "member"}]}}"#;

/// Reads one request; `None` at end of stream.
async fn read_request(r: &mut BufReader<TcpStream>) -> Option<String> {
    let mut first = String::new();
    if r.read_line(&mut first).await.ok()? == 0 {
        return None;
    }
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).await.ok()? == 0 {
            return None;
        }
        if line == "\r\n" {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            if k.eq_ignore_ascii_case("content-length") {
                length = v.trim().parse().ok()?;
            }
        }
    }
    let mut body = vec![0; length];
    r.read_exact(&mut body).await.ok()?;
    let mut parts = first.split_whitespace();
    Some(format!("{} {}", parts.next()?, parts.next()?))
}

/// A server that answers one request per connection, keeping it alive,
/// and drops the connection when a second request comes on it.
async fn one_request_per_connection() -> (String, Arc<Seen>) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    let seen = Arc::new(Seen::default());
    let s = seen.clone();
    tokio::spawn(async move {
        while let Ok((sock, _)) = l.accept().await {
            s.connections.fetch_add(1, Ordering::SeqCst);
            let s = s.clone();
            tokio::spawn(async move {
                let mut r = BufReader::new(sock);
                let Some(req) = read_request(&mut r).await else {
                    return;
                };
                s.log.lock().unwrap().push(req.clone());
                let (status, extra, body) = if req.starts_with("POST /v3/auth/tokens") {
                    (
                        "201 Created",
                        "X-Subject-Token: service-token\r\n",
                        TOKEN_BODY,
                    )
                } else if req.starts_with("GET /v3/auth/tokens") {
                    ("200 OK", "", TOKEN_BODY)
                } else {
                    ("200 OK", "", r#"{"ok": true}"#)
                };
                let answer = format!(
                    "HTTP/1.1 {status}\r\nContent-Type: application/json\r\n{extra}\
                     Content-Length: {}\r\nConnection: keep-alive\r\n\r\n{body}",
                    body.len()
                );
                r.get_mut().write_all(answer.as_bytes()).await.unwrap();
                s.served.fetch_add(1, Ordering::SeqCst);
                if let Some(req) = read_request(&mut r).await {
                    s.log.lock().unwrap().push(req);
                    s.dropped.fetch_add(1, Ordering::SeqCst);
                }
                // Dropping the socket closes the connection.
            });
        }
    });
    (url, seen)
}

fn keystone(url: &str, idle: Duration) -> KeystoneClient {
    KeystoneClient::with_idle_timeout(
        ServiceCredentials {
            auth_url: url.into(),
            username: "tricircle".into(),
            password: "x".into(),
            project_name: "service".into(),
            user_domain_name: "Default".into(),
            project_domain_name: "Default".into(),
        },
        Duration::from_secs(5),
        idle,
    )
    .unwrap()
}

#[tokio::test]
async fn token_validation_survives_a_connection_the_server_closed() {
    let (url, seen) = one_request_per_connection().await;
    // A long idle timeout: the service token's connection is reused for
    // the validation, and the server drops it.
    let k = keystone(&url, Duration::from_secs(90));
    let body = k.validate("user-token").await.unwrap().unwrap();
    assert_eq!(body.token.user.id, "u1");
    assert_eq!(seen.dropped.load(Ordering::SeqCst), 1);
    assert_eq!(seen.served.load(Ordering::SeqCst), 2);
    assert_eq!(seen.connections.load(Ordering::SeqCst), 2);
    assert_eq!(
        *seen.log.lock().unwrap(),
        [
            "POST /v3/auth/tokens?nocatalog",
            "GET /v3/auth/tokens?nocatalog",
            "GET /v3/auth/tokens?nocatalog",
        ]
    );
}

#[tokio::test]
async fn idle_connections_are_closed_before_the_server_does() {
    let (url, seen) = one_request_per_connection().await;
    let k = keystone(&url, Duration::from_millis(50));
    k.service_token().await.unwrap();
    // Well past our idle timeout (and below the server's, which never
    // closes on its own here): the next call opens a new connection.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(k.validate("user-token").await.unwrap().is_some());
    assert_eq!(seen.dropped.load(Ordering::SeqCst), 0);
    assert_eq!(seen.connections.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn keystone_really_down_is_unreachable_after_one_more_try() {
    // Nothing listens there.
    let k = keystone("http://127.0.0.1:1", Duration::from_secs(1));
    let err = k.validate("user-token").await.unwrap_err();
    assert!(
        matches!(err, tricircle_pods::KeystoneError::Unreachable { .. }),
        "{err}"
    );
}

/// Pod calls: a read on a stale connection is tried again; a create is not
/// sent twice (the pod may have acted on it).
#[tokio::test]
async fn pod_reads_are_retried_on_a_stale_connection_and_creates_are_not() {
    let (pod_url, seen) = one_request_per_connection().await;
    let (identity, cfg) = common::identity().await;
    identity.register_pod("Pod1", &pod_url);
    let keystone = common::keystone(&cfg, &cfg.public_url);
    let client = PodClient::with_options(
        Arc::new(EndpointResolver::new(keystone, None, Interface::Public)),
        &PodClientOptions {
            idle_timeout: Duration::from_secs(90),
            ..PodClientOptions::default()
        },
    )
    .unwrap();
    let req = |method: Method| request("Pod1", "network", method, "/v2.0/networks", "t", "p");
    assert_eq!(client.send(&req(Method::GET)).await.unwrap().status, 200);
    // The second read goes out on the first connection, which the server
    // drops: tried again on a new one.
    assert_eq!(client.send(&req(Method::GET)).await.unwrap().status, 200);
    assert_eq!(seen.dropped.load(Ordering::SeqCst), 1);
    // A create on the connection the retry opened: dropped, not resent.
    let err = client.send(&req(Method::POST)).await.unwrap_err();
    assert!(matches!(err, PodError::Unreachable { .. }), "{err}");
    assert_eq!(seen.dropped.load(Ordering::SeqCst), 2);
    let posts = seen
        .log
        .lock()
        .unwrap()
        .iter()
        .filter(|r| r.starts_with("POST"))
        .count();
    assert_eq!(posts, 1);
}
