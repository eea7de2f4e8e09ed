//! `kapi proxy`: plain local HTTP forwarded to the API server with the user's credentials,
//! with the same flags, defaults and filters as `kubectl proxy`.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use bytes::Bytes;
use http::{header, HeaderValue, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use regex::Regex;
use tokio::sync::Mutex;

use crate::client::{Body, ClientConfig};

/// Flags of `kapi proxy` (those of `kubectl proxy`).
#[derive(Debug, clap::Args)]
pub struct ProxyArgs {
    /// The port to listen on; 0 picks a random port, which is printed.
    #[arg(short = 'p', long, default_value_t = 8001)]
    pub port: u16,
    /// The IP address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub address: String,
    /// Listen on this Unix socket instead of TCP.
    #[arg(short = 'u', long)]
    pub unix_socket: Option<PathBuf>,
    /// Prefix under which the API is served.
    #[arg(long, default_value = "/")]
    pub api_prefix: String,
    /// Regular expressions (comma-separated) of Host names to accept.
    #[arg(long, default_value = r"^localhost$,^127\.0\.0\.1$,^\[::1\]$")]
    pub accept_hosts: String,
    /// Regular expressions of paths to accept.
    #[arg(long, default_value = "^.*")]
    pub accept_paths: String,
    /// Regular expressions of paths to refuse, even when accepted.
    #[arg(long, default_value = "^/api/.*/pods/.*/exec,^/api/.*/pods/.*/attach")]
    pub reject_paths: String,
    /// Regular expressions of HTTP methods to refuse.
    #[arg(long, default_value = "^$")]
    pub reject_methods: String,
    /// Turn the request filter off (dangerous when the port is reachable by others).
    #[arg(long)]
    pub disable_filter: bool,
    /// Also serve static files from this directory.
    #[arg(short = 'w', long)]
    pub www: Option<PathBuf>,
    /// Prefix under which the static files are served.
    #[arg(short = 'P', long, default_value = "/static/")]
    pub www_prefix: String,
    /// The kubeconfig to take credentials from.
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
}

/// The request filter, as kubectl proxy's.
struct Filter {
    hosts: Vec<Regex>,
    accept_paths: Vec<Regex>,
    reject_paths: Vec<Regex>,
    reject_methods: Vec<Regex>,
}

fn regexes(list: &str) -> anyhow::Result<Vec<Regex>> {
    list.split(',')
        .filter(|s| !s.is_empty())
        .map(|s| Regex::new(s).with_context(|| format!("bad regular expression {s:?}")))
        .collect()
}

impl Filter {
    fn accepts(&self, method: &str, path: &str, host: &str) -> bool {
        let host = host
            .rsplit_once(':')
            .filter(|(h, p)| !h.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
            .map_or(host, |(h, _)| h);
        let any = |rs: &[Regex], s: &str| rs.iter().any(|r| r.is_match(s));
        any(&self.hosts, host)
            && any(&self.accept_paths, path)
            && !any(&self.reject_paths, path)
            && !any(&self.reject_methods, method)
    }
}

struct Proxy {
    client: ClientConfig,
    h2: Mutex<Option<hyper::client::conn::http2::SendRequest<Body>>>,
    filter: Option<Filter>,
    api_prefix: String,
    www: Option<(PathBuf, String)>,
}

fn plain(code: StatusCode, text: &str) -> Response<Body> {
    let mut r = Response::new(
        Full::new(Bytes::from(text.to_string()))
            .map_err(|never| match never {})
            .boxed(),
    );
    *r.status_mut() = code;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

/// Headers that belong to one hop and must not be forwarded.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "te",
    "trailer",
    "host",
];

impl Proxy {
    async fn handle(self: Arc<Self>, mut req: Request<Incoming>) -> Response<Body> {
        let path = req.uri().path().to_string();
        if let Some((dir, prefix)) = &self.www {
            if let Some(rest) = path.strip_prefix(prefix.as_str()) {
                return serve_file(dir, rest).await;
            }
        }
        let Some(api_path) = path.strip_prefix(self.api_prefix.trim_end_matches('/')) else {
            return plain(StatusCode::NOT_FOUND, "404 page not found\n");
        };
        let api_path = if api_path.is_empty() {
            "/".to_string()
        } else {
            api_path.to_string()
        };
        if let Some(filter) = &self.filter {
            let host = req
                .headers()
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .unwrap_or_else(|| req.uri().host().unwrap_or(""));
            if !filter.accepts(req.method().as_str(), &api_path, host) {
                return plain(StatusCode::FORBIDDEN, "Forbidden");
            }
        }
        let path_and_query = match req.uri().query() {
            Some(q) => format!("{api_path}?{q}"),
            None => api_path,
        };
        let upgrade = req.headers().contains_key(header::UPGRADE);
        let mut builder = Request::builder()
            .method(req.method().clone())
            .uri(path_and_query);
        for (name, value) in req.headers() {
            if !HOP_BY_HOP.contains(&name.as_str()) || (upgrade && name == header::CONNECTION) {
                builder = builder.header(name, value);
            }
        }
        if upgrade {
            builder = builder.header(header::HOST, self.client.authority.as_str());
        }
        if let Some(auth) = &self.client.authorization {
            builder = builder.header(header::AUTHORIZATION, auth.as_str());
        }
        let client_upgrade = if upgrade {
            Some(hyper::upgrade::on(&mut req))
        } else {
            None
        };
        let forward = match builder.body(req.into_body().boxed()) {
            Ok(r) => r,
            Err(e) => return plain(StatusCode::BAD_REQUEST, &format!("{e}\n")),
        };
        let result = if upgrade {
            self.send_upgrade(forward, client_upgrade).await
        } else {
            self.send(forward).await
        };
        match result {
            Ok(resp) => resp,
            Err(e) => plain(
                StatusCode::BAD_GATEWAY,
                &format!("error trying to reach the API server: {e:#}\n"),
            ),
        }
    }

    async fn send(&self, req: Request<Body>) -> anyhow::Result<Response<Body>> {
        let mut sender = {
            let mut guard = self.h2.lock().await;
            match guard.as_ref() {
                Some(s) if !s.is_closed() => s.clone(),
                _ => {
                    let s = self.client.connect_h2().await?;
                    *guard = Some(s.clone());
                    s
                }
            }
        };
        sender.ready().await?;
        let resp = sender.send_request(req).await?;
        Ok(resp.map(|b| b.boxed()))
    }

    async fn send_upgrade(
        &self,
        req: Request<Body>,
        client: Option<hyper::upgrade::OnUpgrade>,
    ) -> anyhow::Result<Response<Body>> {
        let mut sender = self.client.connect_h1().await?;
        let mut resp = sender.send_request(req).await?;
        if resp.status() == StatusCode::SWITCHING_PROTOCOLS {
            let server = hyper::upgrade::on(&mut resp);
            if let Some(client) = client {
                tokio::spawn(async move {
                    if let (Ok(c), Ok(s)) = (client.await, server.await) {
                        let _ = tokio::io::copy_bidirectional(
                            &mut TokioIo::new(c),
                            &mut TokioIo::new(s),
                        )
                        .await;
                    }
                });
            }
        }
        Ok(resp.map(|b| b.boxed()))
    }
}

async fn serve_file(dir: &std::path::Path, rest: &str) -> Response<Body> {
    if rest.split('/').any(|seg| seg == "..") {
        return plain(StatusCode::FORBIDDEN, "Forbidden");
    }
    let mut path = dir.join(rest.trim_start_matches('/'));
    if path.is_dir() {
        path = path.join("index.html");
    }
    match tokio::fs::read(&path).await {
        Ok(bytes) => Response::new(
            Full::new(Bytes::from(bytes))
                .map_err(|never| match never {})
                .boxed(),
        ),
        Err(_) => plain(StatusCode::NOT_FOUND, "404 page not found\n"),
    }
}

/// Runs the proxy until interrupted.
pub fn run(args: ProxyArgs) -> anyhow::Result<()> {
    let client = ClientConfig::load(args.kubeconfig.as_deref())?;
    let filter = if args.disable_filter {
        eprintln!(
            "Request filter disabled, your proxy is vulnerable to XSRF attacks, please be cautious"
        );
        None
    } else {
        Some(Filter {
            hosts: regexes(&args.accept_hosts)?,
            accept_paths: regexes(&args.accept_paths)?,
            reject_paths: regexes(&args.reject_paths)?,
            reject_methods: regexes(&args.reject_methods)?,
        })
    };
    let api_prefix = if args.api_prefix.starts_with('/') {
        args.api_prefix.clone()
    } else {
        format!("/{}", args.api_prefix)
    };
    let proxy = Arc::new(Proxy {
        client,
        h2: Mutex::new(None),
        filter,
        api_prefix,
        www: args.www.clone().map(|d| (d, args.www_prefix.clone())),
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        if let Some(sock) = &args.unix_socket {
            let _ = std::fs::remove_file(sock);
            let listener = tokio::net::UnixListener::bind(sock)
                .with_context(|| format!("listening on {}", sock.display()))?;
            println!("Starting to serve on {}", sock.display());
            loop {
                let (stream, _) = listener.accept().await?;
                spawn_conn(TokioIo::new(stream), proxy.clone());
            }
        } else {
            let listener = tokio::net::TcpListener::bind((args.address.as_str(), args.port))
                .await
                .with_context(|| format!("listening on {}:{}", args.address, args.port))?;
            println!("Starting to serve on {}", listener.local_addr()?);
            loop {
                let (stream, _) = listener.accept().await?;
                spawn_conn(TokioIo::new(stream), proxy.clone());
            }
        }
    })
}

fn spawn_conn<IO>(io: TokioIo<IO>, proxy: Arc<Proxy>)
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    tokio::spawn(async move {
        let service = service_fn(move |req| {
            let proxy = proxy.clone();
            async move { Ok::<_, std::convert::Infallible>(proxy.handle(req).await) }
        });
        let _ = hyper::server::conn::http1::Builder::new()
            .serve_connection(io, service)
            .with_upgrades()
            .await;
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn default_filter() -> Filter {
        Filter {
            hosts: regexes(r"^localhost$,^127\.0\.0\.1$,^\[::1\]$").unwrap(),
            accept_paths: regexes("^.*").unwrap(),
            reject_paths: regexes("^/api/.*/pods/.*/exec,^/api/.*/pods/.*/attach").unwrap(),
            reject_methods: regexes("^$").unwrap(),
        }
    }

    #[test]
    fn default_filter_matches_kubectl_proxy() {
        let f = default_filter();
        assert!(f.accepts("GET", "/api/v1/namespaces", "127.0.0.1:8001"));
        assert!(f.accepts("GET", "/api/v1/namespaces", "localhost"));
        assert!(f.accepts("GET", "/api", "[::1]:8001"));
        assert!(!f.accepts("GET", "/api", "evil.example.com"));
        assert!(!f.accepts(
            "POST",
            "/api/v1/namespaces/default/pods/x/exec",
            "127.0.0.1"
        ));
        assert!(!f.accepts(
            "GET",
            "/api/v1/namespaces/default/pods/x/attach",
            "localhost:1"
        ));
        assert!(f.accepts("GET", "/api/v1/namespaces/default/pods/x/log", "localhost"));
    }
}
