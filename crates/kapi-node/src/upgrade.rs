//! Forwarding an HTTP/1.1 request to another server, upgrades included: how exec, attach and
//! port-forward streams travel (client → API server → kubelet API → runtime's stream server)
//! without any hop decoding the stream protocol (SPDY/3.1 or WebSocket `v5.channel.k8s.io`),
//! so whatever the two ends agree on works end to end.

use bytes::Bytes;
use http::header::{HeaderName, AUTHORIZATION, HOST};
use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};

/// Failures forwarding a request.
#[derive(Debug, thiserror::Error)]
pub enum ForwardError {
    /// The HTTP exchange with the target failed.
    #[error("proxying to {target}: {source}")]
    Http {
        /// Where to.
        target: String,
        /// Why.
        source: hyper::Error,
    },
    /// The forwarded request could not be built.
    #[error("building the forwarded request: {0}")]
    Build(#[from] http::Error),
}

/// Headers that carry the caller's own credentials or identity claims: never forwarded,
/// because the next hop authenticates this hop instead.
fn is_credential(name: &HeaderName) -> bool {
    name == AUTHORIZATION || name.as_str().starts_with("impersonate-")
}

/// Sends `req` to the server at the other end of `io` as `path_and_query`, with `host` as its
/// Host. When the target switches protocols, the two upgraded connections are spliced together
/// in the background and the 101 answer is returned for the caller to send on.
pub async fn forward<T, B>(
    io: T,
    mut req: Request<B>,
    path_and_query: &str,
    host: &str,
) -> Result<Response<Incoming>, ForwardError>
where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    B: hyper::body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let wants_upgrade = req.headers().contains_key(http::header::UPGRADE);
    let client_side = wants_upgrade.then(|| hyper::upgrade::on(&mut req));
    let err = |source| ForwardError::Http {
        target: host.to_string(),
        source,
    };
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(err)?;
    tokio::spawn(async move {
        let _ = conn.with_upgrades().await;
    });
    let (parts, body) = req.into_parts();
    let mut out = Request::builder()
        .method(parts.method)
        .uri(path_and_query)
        .version(http::Version::HTTP_11);
    for (name, value) in &parts.headers {
        if name != HOST && !is_credential(name) {
            out = out.header(name, value);
        }
    }
    out = out.header(HOST, host);
    let mut response = sender.send_request(out.body(body)?).await.map_err(err)?;
    if response.status() == StatusCode::SWITCHING_PROTOCOLS {
        if let Some(client_side) = client_side {
            let server_side = hyper::upgrade::on(&mut response);
            tokio::spawn(async move {
                if let (Ok(a), Ok(b)) = tokio::join!(client_side, server_side) {
                    let _ =
                        tokio::io::copy_bidirectional(&mut TokioIo::new(a), &mut TokioIo::new(b))
                            .await;
                }
            });
        }
    }
    Ok(response)
}

/// A body that is already complete, for answers built here.
pub fn full(bytes: impl Into<Bytes>) -> http_body_util::Full<Bytes> {
    http_body_util::Full::new(bytes.into())
}
