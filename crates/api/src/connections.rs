//! Serving an API's router on a listener, with what one client connection
//! may cost bounded: the time to send a request's headers (and to keep an
//! idle connection), the size of the headers, the time to send a body (see
//! [`RequestBounds`]), and how long an answer may wait for a client that
//! does not read it. HTTP/1.1 only: TLS and HTTP/2 are for the proxy in
//! front, as for the OpenStack services.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::Sleep;
use tower::ServiceExt;

pub use crate::shell::{InflightLimit, RequestBounds};

/// The most a request's start line and headers may take; more is a 431.
/// (Keystone tokens are a few hundred bytes.)
const MAX_HEADER_BYTES: usize = 64 * 1024;

/// The bounds of every connection of one listener.
#[derive(Clone, Debug)]
pub struct ConnectionLimits {
    /// A request's headers must arrive within this time, and an idle
    /// keep-alive connection is closed after it.
    pub header_timeout: Duration,
    /// An answer that makes no progress for this long (the client does
    /// not read it) ends the connection.
    pub send_timeout: Duration,
    /// Per request: the in-flight limit shared by the process's APIs and
    /// the time a body may take.
    pub request: RequestBounds,
}

/// Serves `router` on `listener` until `shutdown` resolves, then lets the
/// requests under way finish (idle connections close at once).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let (stop, stopped) = watch::channel(false);
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => {
                    let _ = stream.set_nodelay(true);
                    connections.spawn(connection(
                        stream,
                        router.clone(),
                        limits.clone(),
                        stopped.clone(),
                    ));
                }
                Err(e) => accept_failed(e).await,
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    let _ = stop.send(true);
    while connections.join_next().await.is_some() {}
    Ok(())
}

/// Errors of one connection are the client's business; running out of
/// file descriptors (or the like) is ours: wait a little before accepting
/// again rather than spinning.
async fn accept_failed(e: io::Error) {
    if matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    ) {
        return;
    }
    tracing::warn!(error = %e, "accepting a connection failed");
    tokio::time::sleep(Duration::from_millis(100)).await;
}

async fn connection(
    stream: tokio::net::TcpStream,
    router: Router,
    limits: ConnectionLimits,
    mut stopped: watch::Receiver<bool>,
) {
    let io = TokioIo::new(SendTimeout::new(stream, limits.send_timeout));
    let bounds = limits.request.clone();
    let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
        let mut req: Request = req.map(Body::new);
        req.extensions_mut().insert(bounds.clone());
        router.clone().oneshot(req)
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_header_size(MAX_HEADER_BYTES)
        .keep_alive(true);
    let conn = builder.serve_connection(io, service);
    tokio::pin!(conn);
    let ended = tokio::select! {
        r = conn.as_mut() => Some(r),
        _ = stopped.wait_for(|s| *s) => None,
    };
    let result = match ended {
        Some(r) => r,
        None => {
            // Idle: closes now; a request under way finishes first.
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(e) = result {
        tracing::debug!(error = %e, "connection ended with an error");
    }
}

/// A stream whose writes fail once they have made no progress for
/// `timeout`: a client that stops reading cannot hold its answer (and the
/// answer's place in the in-flight limit) forever.
struct SendTimeout<T> {
    io: T,
    timeout: Duration,
    stalled: Option<Pin<Box<Sleep>>>,
}

impl<T> SendTimeout<T> {
    fn new(io: T, timeout: Duration) -> Self {
        SendTimeout {
            io,
            timeout,
            stalled: None,
        }
    }

    /// After a write that made progress (or failed): no stall.
    fn progressed<R>(
        &mut self,
        r: Poll<io::Result<R>>,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<R>> {
        match r {
            Poll::Ready(r) => {
                self.stalled = None;
                Poll::Ready(r)
            }
            Poll::Pending => {
                let timeout = self.timeout;
                let stall = self
                    .stalled
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
                if stall.as_mut().poll(cx).is_ready() {
                    self.stalled = None;
                    Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "the client did not read the answer in time",
                    )))
                } else {
                    Poll::Pending
                }
            }
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for SendTimeout<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for SendTimeout<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.io).poll_write(cx, buf);
        self.progressed(r, cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        self.progressed(r, cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let r = Pin::new(&mut self.io).poll_flush(cx);
        self.progressed(r, cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let r = Pin::new(&mut self.io).poll_shutdown(cx);
        self.progressed(r, cx)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use tokio::io::AsyncWriteExt;

    /// A writer that never accepts a byte.
    struct Full;

    impl AsyncWrite for Full {
        fn poll_write(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
            _: &[u8],
        ) -> Poll<io::Result<usize>> {
            Poll::Pending
        }
        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    /// A router served as `serve` serves one, with short header timeouts.
    async fn served() -> std::net::SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let router = Router::new().route("/", axum::routing::get(|| async { "ok" }));
        let limits = ConnectionLimits {
            header_timeout: Duration::from_millis(200),
            send_timeout: Duration::from_secs(60),
            request: RequestBounds {
                inflight: InflightLimit::new(8),
                body_timeout: Duration::from_secs(60),
            },
        };
        tokio::spawn(serve(listener, router, limits, std::future::pending()));
        addr
    }

    async fn exchange(addr: std::net::SocketAddr, bytes: &[u8]) -> String {
        use tokio::io::AsyncReadExt;
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        let _ = s.write_all(bytes).await;
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out).await;
        String::from_utf8_lossy(&out).to_string()
    }

    #[tokio::test]
    async fn connections_are_bounded() {
        let addr = served().await;
        let ok = exchange(
            addr,
            b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
        )
        .await;
        assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
        // Headers that never end: the connection is closed (the read
        // ends) once the header timeout passes, without an answer.
        let slow = exchange(addr, b"GET / HTTP/1.1\r\nHost: t\r\nX-Slow: ").await;
        assert!(!slow.contains("200"), "{slow}");
        // An idle keep-alive connection is closed the same way.
        let idle = exchange(addr, b"GET / HTTP/1.1\r\nHost: t\r\n\r\n").await;
        assert!(idle.starts_with("HTTP/1.1 200"), "{idle}");
        // Headers over the limit: 431.
        let big = format!(
            "GET / HTTP/1.1\r\nHost: t\r\nX-Big: {}\r\n\r\n",
            "x".repeat(MAX_HEADER_BYTES + 1)
        );
        let big = exchange(addr, big.as_bytes()).await;
        assert!(big.starts_with("HTTP/1.1 431"), "{big}");
    }

    #[tokio::test(start_paused = true)]
    async fn stalled_writes_time_out() {
        let mut w = SendTimeout::new(Full, Duration::from_secs(60));
        let e = w.write_all(b"answer").await.unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::TimedOut);

        let mut w = SendTimeout::new(Vec::new(), Duration::from_secs(60));
        w.write_all(b"answer").await.unwrap();
        assert_eq!(w.io, b"answer");
    }
}
