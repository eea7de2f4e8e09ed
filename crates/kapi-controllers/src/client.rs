//! A kube client that multiplexes every request and watch over one HTTP/2 connection.
//!
//! kube-rs builds its clients for HTTP/1.1 only, so each watch holds a TLS connection of its
//! own; with the garbage collector watching every resource, the controllers, the scheduler and
//! the node held over a hundred connections to their own server, each with TLS and HTTP
//! buffers at both ends (BENCHMARKS.md, memory). client-go speaks HTTP/2 to the API server and
//! multiplexes; this does the same for the clients `kapi server` runs in-process, keeping
//! kube's own layers (base URL, credentials, extra headers) on top.

use std::time::Duration;

use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use kube::client::{ClientBuilder, ConfigExt};
use tower::{BoxError, ServiceBuilder, ServiceExt};

/// How often an idle connection is pinged, so that a server gone silent is noticed (the
/// HTTP/1.1 client's read timeout did that per watch).
const KEEP_ALIVE_INTERVAL: Duration = Duration::from_secs(30);
/// How long a ping may go unanswered before the connection and its streams fail.
const KEEP_ALIVE_TIMEOUT: Duration = Duration::from_secs(20);

/// Builds a client that speaks HTTP/2 only (ALPN `h2`) to the server `config` names. Only for
/// servers known to speak HTTP/2, such as `kapi server` itself.
pub fn multiplexed(config: kube::Config) -> Result<kube::Client, kube::Error> {
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_connect_timeout(config.connect_timeout);
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(config.rustls_client_config()?)
        .https_or_http()
        .enable_http2()
        .wrap_connector(http);
    let hyper = hyper_util::client::legacy::Client::builder(TokioExecutor::new())
        .http2_only(true)
        .timer(TokioTimer::new())
        .http2_keep_alive_interval(KEEP_ALIVE_INTERVAL)
        .http2_keep_alive_timeout(KEEP_ALIVE_TIMEOUT)
        .build(https);
    let service = ServiceBuilder::new()
        .layer(config.base_uri_layer())
        .option_layer(config.auth_layer()?)
        .layer(config.extra_headers_layer()?)
        .service(hyper.map_err(BoxError::from));
    Ok(ClientBuilder::new(service, config.default_namespace.clone()).build())
}
