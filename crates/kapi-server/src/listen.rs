//! TCP accept, TLS (rustls) and HTTP/1.1 + HTTP/2 by ALPN.
//!
//! Each connection is handshaken in its own task with a deadline, so a slow or broken client
//! cannot stall anyone else. The verified client certificate, if any, is turned into a
//! [`UserInfo`] once per connection and handed to every request on it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use kapi_auth::UserInfo;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::Server;

/// How long a client may take to finish the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Accepts connections until the process ends.
pub async fn serve(listener: TcpListener, acceptor: TlsAcceptor, server: Arc<Server>) {
    loop {
        let (tcp, peer) = match listener.accept().await {
            Ok(conn) => conn,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let server = server.clone();
        tokio::spawn(async move {
            let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
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

fn client_cert_user<IO>(tls: &tokio_rustls::server::TlsStream<IO>) -> Option<UserInfo> {
    let (_, conn) = tls.get_ref();
    let cert = conn.peer_certificates()?.first()?;
    kapi_auth::pki::user_from_client_cert(cert.as_ref())
}

async fn serve_connection<IO>(io: IO, peer: SocketAddr, user: Option<UserInfo>, server: Arc<Server>)
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let user = Arc::new(user);
    let service = service_fn(move |req| {
        let server = server.clone();
        let user = user.clone();
        async move {
            Ok::<_, std::convert::Infallible>(
                crate::handlers::handle(server, user.as_ref().clone(), peer, req).await,
            )
        }
    });
    let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    if let Err(e) = builder
        .serve_connection_with_upgrades(TokioIo::new(io), service)
        .await
    {
        tracing::debug!(%peer, error = %e, "connection ended with an error");
    }
}
