//! TCP accept, TLS (rustls) and HTTP/1.1 + HTTP/2 by ALPN, with kube-apiserver's connection
//! limits.
//!
//! Each connection is handshaken in its own task, so a slow or broken client cannot stall
//! anyone else. The verified client certificate, if any, is turned into a [`UserInfo`] once per
//! connection and handed to every request on it.
//!
//! Limits, as upstream's HTTP server sets them: the TLS handshake and each HTTP/1.1 request's
//! headers must arrive within [`HEADER_READ_TIMEOUT`] (so trickled headers, "slowloris", do
//! not hold a connection; hyper also starts this clock while an HTTP/1.1 connection waits for
//! its next request), and a connection with no request in flight for [`IDLE_TIMEOUT`] is closed
//! (HTTP/2 with GOAWAY; a watch or any response still streaming counts as in flight). When the
//! process runs out of file descriptors, accepting backs off instead of spinning, and connections
//! already open keep being served.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use http_body_util::BodyExt;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use kapi_auth::UserInfo;
use tokio::net::TcpListener;
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;

use crate::Server;

/// How long a client may take to finish the TLS handshake, and then each request's headers.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(32);

/// Streams one HTTP/2 connection may have open at once (requests and watches).
const MAX_CONCURRENT_STREAMS: u32 = 1000;

/// How long a connection may stay open with no request in flight.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(90);

/// First and longest pause after an accept failure for want of resources.
const ACCEPT_BACKOFF: (Duration, Duration) = (Duration::from_millis(5), Duration::from_secs(1));

/// At most one log line per this interval about failing accepts.
const ACCEPT_LOG_INTERVAL: Duration = Duration::from_secs(10);

/// Connections the kernel may hold for us beyond those accepted (a burst of clients, or while
/// accepting backs off): the kernel caps it at `net.core.somaxconn`, which is what upstream's
/// listener gets too.
const LISTEN_BACKLOG: u32 = 4096;

/// Binds the API port with a backlog as deep as the kernel allows.
pub fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// Accepts connections until the process ends.
pub async fn serve(listener: TcpListener, acceptor: TlsAcceptor, server: Arc<Server>) {
    let mut backoff = ACCEPT_BACKOFF.0;
    let mut failures: u64 = 0;
    let mut last_log: Option<Instant> = None;
    loop {
        let (tcp, peer) = match listener.accept().await {
            Ok(conn) => {
                backoff = ACCEPT_BACKOFF.0;
                conn
            }
            Err(e) => {
                failures += 1;
                if last_log.is_none_or(|t| t.elapsed() >= ACCEPT_LOG_INTERVAL) {
                    tracing::warn!(error = %e, failures, "accepting connections failed; backing off");
                    last_log = Some(Instant::now());
                    failures = 0;
                }
                // Out of descriptors or memory: nothing to do but wait for some to be freed.
                // Other errors (a peer that reset before accept) concern one connection only.
                if is_resource_exhaustion(&e) {
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(ACCEPT_BACKOFF.1);
                }
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let server = server.clone();
        tokio::spawn(async move {
            let tls = match tokio::time::timeout(HEADER_READ_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(tls)) => tls,
                Ok(Err(e)) => {
                    tracing::debug!(%peer, error = %e, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::debug!(%peer, "TLS handshake timed out");
                    return;
                }
            };
            let user = client_cert_user(&tls);
            serve_connection(tls, peer, user, server).await;
        });
    }
}

fn is_resource_exhaustion(e: &std::io::Error) -> bool {
    // EMFILE, ENFILE, ENOBUFS, ENOMEM.
    matches!(e.raw_os_error(), Some(24 | 23 | 105 | 12))
}

fn client_cert_user<IO>(tls: &tokio_rustls::server::TlsStream<IO>) -> Option<UserInfo> {
    let (_, conn) = tls.get_ref();
    let cert = conn.peer_certificates()?.first()?;
    kapi_auth::pki::user_from_client_cert(cert.as_ref())
}

/// Requests in flight on one connection, and since when none has been. Requests only touch two
/// atomics; the watchdog wakes once per idle period to look, so a busy connection costs no
/// timer or wake-up per request.
struct Activity {
    opened: Instant,
    in_flight: AtomicUsize,
    /// Milliseconds after `opened` at which the last request finished.
    idle_since_ms: AtomicU64,
}

/// One request in flight; dropped when its response has been handed over (or, for a stream,
/// has ended).
struct InFlight(Arc<Activity>);

impl Activity {
    fn begin(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        InFlight(self.clone())
    }

    /// Resolves once the connection has had nothing in flight for [`IDLE_TIMEOUT`].
    async fn idle_expired(&self) {
        loop {
            let idle_since =
                self.opened + Duration::from_millis(self.idle_since_ms.load(Ordering::Acquire));
            let deadline = if self.in_flight.load(Ordering::Acquire) > 0 {
                Instant::now() + IDLE_TIMEOUT
            } else {
                idle_since + IDLE_TIMEOUT
            };
            if deadline <= Instant::now() {
                return;
            }
            tokio::time::sleep_until(deadline).await;
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let ms = self.0.opened.elapsed().as_millis() as u64;
        self.0.idle_since_ms.store(ms, Ordering::Release);
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

async fn serve_connection<IO>(io: IO, peer: SocketAddr, user: Option<UserInfo>, server: Arc<Server>)
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let user = Arc::new(user);
    let activity = Arc::new(Activity {
        opened: Instant::now(),
        in_flight: AtomicUsize::new(0),
        idle_since_ms: AtomicU64::new(0),
    });
    let tracker = activity.clone();
    let service = service_fn(move |req| {
        let server = server.clone();
        let user = user.clone();
        let in_flight = tracker.begin();
        async move {
            let resp = crate::handlers::handle(server, user.as_ref().clone(), peer, req).await;
            // A whole body is handed over at once; a stream (a watch, a log) keeps the
            // request in flight until it ends.
            if hyper::body::Body::size_hint(resp.body()).exact().is_some() {
                return Ok::<_, std::convert::Infallible>(resp);
            }
            Ok(resp.map(|body| {
                body.map_frame(move |frame| {
                    let _held = &in_flight;
                    frame
                })
                .boxed()
            }))
        }
    });
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    // Clients that multiplex hold their watches as streams of one connection (the in-process
    // controllers hold about a hundred); Kubernetes' generic API server allows 1000 for that.
    builder
        .http2()
        .max_concurrent_streams(MAX_CONCURRENT_STREAMS);
    let conn = builder.serve_connection_with_upgrades(TokioIo::new(io), service);
    tokio::pin!(conn);
    let result = tokio::select! {
        result = conn.as_mut() => result,
        _ = activity.idle_expired() => {
            tracing::debug!(%peer, "closing an idle connection");
            conn.as_mut().graceful_shutdown();
            match tokio::time::timeout(HEADER_READ_TIMEOUT, conn.as_mut()).await {
                Ok(result) => result,
                Err(_) => Ok(()),
            }
        }
    };
    if let Err(e) = result {
        tracing::debug!(%peer, error = %e, "connection ended with an error");
    }
}
