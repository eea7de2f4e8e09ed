//! The kubelet API on port 10250: container logs, exec, attach and port-forward, which the API
//! server proxies `pods/log`, `pods/exec`, `pods/attach` and `pods/portforward` to, and
//! `/metrics/resource`, which its metrics scraper reads.
//!
//! Callers prove who they are with a client certificate signed by the cluster CA, and are
//! authorized by a SubjectAccessReview on the Node's subresources (`nodes/proxy` for these
//! paths, `nodes/log`, `nodes/stats`, `nodes/metrics` for theirs), as kubelet's webhook
//! authorizer does.

pub mod logs;
pub mod metrics;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use k8s_openapi::api::authorization::v1::SubjectAccessReview;
use kube::api::PostParams;
use kube::Api;
use serde_json::json;
use tokio::net::TcpListener;

use crate::cri::{self, api, Cri};
use crate::pods::cri_config::{CONTAINER_NAME, POD_NAME, POD_NAMESPACE};
use crate::upgrade;

/// Any error a body may end with.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
/// The response body type.
pub type Body = BoxBody<Bytes, BoxError>;

/// The caller, from its client certificate.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Caller {
    /// CN.
    pub user: String,
    /// O values.
    pub groups: Vec<String>,
}

/// A cached authorization decision's key: who, which verb, which subresource.
type ReviewKey = (Caller, String, String);

/// What the kubelet API needs.
pub struct KubeletApi {
    /// The node's API client (for SubjectAccessReviews).
    pub client: kube::Client,
    /// The runtime.
    pub cri: Cri,
    /// The Node's name (the reviews' resource name).
    pub node_name: String,
    decisions: Mutex<HashMap<ReviewKey, (bool, Instant)>>,
}

/// Failures starting the kubelet API.
#[derive(Debug, thiserror::Error)]
pub enum KubeletApiError {
    /// The port could not be bound.
    #[error("binding the kubelet API on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The TLS material is unusable.
    #[error("kubelet API TLS: {0}")]
    Tls(String),
}

impl KubeletApi {
    /// A kubelet API for this node.
    pub fn new(client: kube::Client, cri: Cri, node_name: String) -> KubeletApi {
        KubeletApi {
            client,
            cri,
            node_name,
            decisions: Mutex::new(HashMap::new()),
        }
    }
}

/// The TLS configuration: the node's serving certificate, client certificates required and
/// verified against the cluster CA.
pub fn tls_config(
    ca_pem: &str,
    cert_pem: &str,
    key_pem: &str,
) -> Result<rustls::ServerConfig, KubeletApiError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let err = |e: &dyn std::fmt::Display| KubeletApiError::Tls(e.to_string());
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(cert.map_err(|e| err(&e))?).map_err(|e| err(&e))?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .build()
    .map_err(|e| err(&e))?;
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
        .collect::<Result<_, _>>()
        .map_err(|e| err(&e))?;
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).map_err(|e| err(&e))?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| err(&e))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .map_err(|e| err(&e))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// Serves the kubelet API on `addr` until the task is dropped.
pub async fn serve(
    api: Arc<KubeletApi>,
    addr: SocketAddr,
    tls: rustls::ServerConfig,
) -> Result<tokio::task::JoinHandle<()>, KubeletApiError> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| KubeletApiError::Bind { addr, source })?;
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));
    Ok(tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            };
            let acceptor = acceptor.clone();
            let api = api.clone();
            tokio::spawn(async move {
                let Ok(Ok(tls)) =
                    tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await
                else {
                    return;
                };
                let caller = tls
                    .get_ref()
                    .1
                    .peer_certificates()
                    .and_then(|c| c.first())
                    .and_then(|c| caller_from_cert(c.as_ref()));
                let Some(caller) = caller else {
                    return;
                };
                let service = hyper::service::service_fn(move |req| {
                    let api = api.clone();
                    let caller = caller.clone();
                    async move { Ok::<_, std::convert::Infallible>(handle(&api, &caller, req).await) }
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .http1_only()
                    .serve_connection_with_upgrades(TokioIo::new(tls), service)
                    .await;
            });
        }
    }))
}

/// CN and O of a client certificate.
fn caller_from_cert(der: &[u8]) -> Option<Caller> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let subject = cert.subject();
    let user = subject
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())?
        .to_string();
    let groups = subject
        .iter_organization()
        .filter_map(|o| o.as_str().ok().map(str::to_string))
        .collect();
    Some(Caller { user, groups })
}

fn text(status: StatusCode, message: impl Into<String>) -> Response<Body> {
    let mut r = Response::new(
        upgrade::full(Bytes::from(message.into()))
            .map_err(|e| -> BoxError { match e {} })
            .boxed(),
    );
    *r.status_mut() = status;
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

/// Which Node subresource a path is authorized as.
fn subresource(path: &str) -> &'static str {
    let first = path.trim_start_matches('/').split('/').next().unwrap_or("");
    match first {
        "stats" => "stats",
        "metrics" => "metrics",
        "logs" => "log",
        "spec" => "spec",
        "checkpoint" => "checkpoint",
        _ => "proxy",
    }
}

fn verb(method: &Method) -> &'static str {
    match *method {
        Method::POST => "create",
        Method::PUT => "update",
        Method::PATCH => "patch",
        Method::DELETE => "delete",
        _ => "get",
    }
}

async fn authorized(api: &KubeletApi, caller: &Caller, verb: &str, sub: &str) -> bool {
    let key = (caller.clone(), verb.to_string(), sub.to_string());
    if let Ok(cache) = api.decisions.lock() {
        if let Some((allowed, until)) = cache.get(&key) {
            if Instant::now() < *until {
                return *allowed;
            }
        }
    }
    let review: Result<SubjectAccessReview, _> = serde_json::from_value(json!({
        "apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
        "spec": {
            "user": caller.user, "groups": caller.groups,
            "resourceAttributes": {"verb": verb, "resource": "nodes", "subresource": sub, "name": api.node_name, "group": "", "version": "v1"},
        }
    }));
    let Ok(review) = review else {
        return false;
    };
    let reviews: Api<SubjectAccessReview> = Api::all(api.client.clone());
    let allowed = match reviews.create(&PostParams::default(), &review).await {
        Ok(r) => r.status.is_some_and(|s| s.allowed),
        Err(e) => {
            tracing::warn!(error = %e, "SubjectAccessReview failed");
            return false;
        }
    };
    let ttl = if allowed {
        Duration::from_secs(300)
    } else {
        Duration::from_secs(30)
    };
    if let Ok(mut cache) = api.decisions.lock() {
        cache.insert(key, (allowed, Instant::now() + ttl));
    }
    allowed
}

async fn handle(api: &KubeletApi, caller: &Caller, req: Request<Incoming>) -> Response<Body> {
    let path = req.uri().path().to_string();
    if path == "/healthz" {
        return text(StatusCode::OK, "ok");
    }
    let sub = subresource(&path);
    let verb = verb(req.method());
    if !authorized(api, caller, verb, sub).await {
        return text(
            StatusCode::FORBIDDEN,
            format!(
                "Forbidden (user={}, verb={verb}, resource=nodes, subresource={sub})",
                caller.user
            ),
        );
    }
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let query: HashMap<String, String> = req
        .uri()
        .query()
        .map(|q| url_pairs(q).into_iter().collect())
        .unwrap_or_default();
    match parts.as_slice() {
        ["containerLogs", ns, pod, container] => {
            let opts = match log_options(&query) {
                Ok(o) => o,
                Err(m) => return text(StatusCode::BAD_REQUEST, m),
            };
            container_logs(api, ns, pod, container, opts).await
        }
        ["exec", ns, pod, container] | ["attach", ns, pod, container] => {
            let attach = parts[0] == "attach";
            stream(api, req, ns, pod, container, attach).await
        }
        ["portForward", ns, pod] => port_forward(api, req, ns, pod).await,
        ["metrics", "resource"] if req.method() == Method::GET => {
            let mut r = text(StatusCode::OK, metrics::resource_metrics(&api.cri).await);
            r.headers_mut().insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            );
            r
        }
        _ => text(StatusCode::NOT_FOUND, "404 page not found"),
    }
}

/// Query pairs, with repeated keys (`command`) joined by NUL.
fn url_pairs(query: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let k = percent_decode(k);
        let v = percent_decode(v);
        if let Some(slot) = out.iter_mut().find(|(key, _)| *key == k) {
            slot.1.push('\0');
            slot.1.push_str(&v);
        } else {
            out.push((k, v));
        }
    }
    out
}

/// Decodes `%XX` escapes and `+` (form encoding).
pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 3;
                        continue;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn truthy(q: &HashMap<String, String>, names: &[&str]) -> bool {
    names
        .iter()
        .filter_map(|n| q.get(*n))
        .any(|v| matches!(v.as_str(), "1" | "true" | "True" | "TRUE" | "t" | "T"))
}

fn log_options(q: &HashMap<String, String>) -> Result<logs::LogOptions, String> {
    let num = |name: &str| -> Result<Option<i64>, String> {
        q.get(name)
            .filter(|v| !v.is_empty())
            .map(|v| v.parse::<i64>().map_err(|_| format!("invalid {name}: {v}")))
            .transpose()
    };
    let since = match (
        num("sinceSeconds")?,
        q.get("sinceTime").filter(|v| !v.is_empty()),
    ) {
        (Some(s), _) => Some(chrono::Utc::now() - chrono::Duration::seconds(s)),
        (None, Some(t)) => Some(
            chrono::DateTime::parse_from_rfc3339(t)
                .map_err(|_| format!("invalid sinceTime: {t}"))?
                .with_timezone(&chrono::Utc),
        ),
        _ => None,
    };
    Ok(logs::LogOptions {
        follow: truthy(q, &["follow"]),
        previous: truthy(q, &["previous"]),
        tail_lines: num("tailLines")?.map(|n| n.max(0) as usize),
        since,
        timestamps: truthy(q, &["timestamps"]),
        limit_bytes: num("limitBytes")?.map(|n| n.max(0) as usize),
    })
}

/// The pod's containers with this name, newest first: (id, running).
async fn find_containers(
    cri: &Cri,
    ns: &str,
    pod: &str,
    container: &str,
) -> Result<Vec<(String, bool)>, cri::CriError> {
    let mut rt = cri.runtime.clone();
    let mut list = rt
        .list_containers(api::ListContainersRequest {
            filter: Some(api::ContainerFilter {
                label_selector: HashMap::from([
                    (POD_NAMESPACE.to_string(), ns.to_string()),
                    (POD_NAME.to_string(), pod.to_string()),
                    (CONTAINER_NAME.to_string(), container.to_string()),
                ]),
                ..Default::default()
            }),
        })
        .await
        .map_err(cri::call("ListContainers"))?
        .into_inner()
        .containers;
    list.sort_by_key(|c| {
        std::cmp::Reverse((c.metadata.as_ref().map_or(0, |m| m.attempt), c.created_at))
    });
    Ok(list
        .into_iter()
        .map(|c| {
            (
                c.id,
                c.state == api::ContainerState::ContainerRunning as i32,
            )
        })
        .collect())
}

async fn container_logs(
    api: &KubeletApi,
    ns: &str,
    pod: &str,
    container: &str,
    opts: logs::LogOptions,
) -> Response<Body> {
    let found = match find_containers(&api.cri, ns, pod, container).await {
        Ok(f) => f,
        Err(e) => return text(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    };
    let pick = if opts.previous {
        found.get(1)
    } else {
        found.first()
    };
    let Some((id, _)) = pick.cloned() else {
        let message = if opts.previous {
            format!("previous terminated container \"{container}\" in pod \"{pod}\" not found")
        } else {
            format!(
                "container \"{container}\" in pod \"{pod}\" is waiting to start: ContainerCreating"
            )
        };
        return text(StatusCode::BAD_REQUEST, message);
    };
    let mut rt = api.cri.runtime.clone();
    let status = match rt
        .container_status(api::ContainerStatusRequest {
            container_id: id.clone(),
            verbose: false,
        })
        .await
    {
        Ok(s) => s.into_inner().status.unwrap_or_default(),
        Err(e) => return text(StatusCode::INTERNAL_SERVER_ERROR, e.message().to_string()),
    };
    let path = std::path::PathBuf::from(status.log_path);
    let cri = api.cri.clone();
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<http_body::Frame<Bytes>, BoxError>>(16);
    tokio::spawn(follow_file(cri, id, path, opts, tx));
    let body = http_body_util::StreamBody::new(tokio_stream_from(rx));
    let mut r = Response::new(BodyExt::boxed(body));
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain"),
    );
    r
}

fn tokio_stream_from<T: Send + 'static>(
    mut rx: tokio::sync::mpsc::Receiver<T>,
) -> impl futures_util::Stream<Item = T> + Send + 'static {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

/// Sends the log's lines, then (with `follow`) what is appended until the container stops.
async fn follow_file(
    cri: Cri,
    id: String,
    path: std::path::PathBuf,
    opts: logs::LogOptions,
    tx: tokio::sync::mpsc::Sender<Result<http_body::Frame<Bytes>, BoxError>>,
) {
    let mut budget = opts.limit_bytes.unwrap_or(usize::MAX);
    let content = tokio::fs::read(&path).await.unwrap_or_default();
    let consumed = content
        .iter()
        .rposition(|b| *b == b'\n')
        .map_or(0, |i| i + 1);
    let mut offset = consumed as u64;
    let first = logs::render_all(&String::from_utf8_lossy(&content[..consumed]), &opts);
    if !send_limited(&tx, first, &mut budget).await || !opts.follow {
        return;
    }
    let mut pending = Vec::new();
    loop {
        let mut file = match tokio::fs::File::open(&path).await {
            Ok(f) => f,
            Err(_) => return,
        };
        use tokio::io::{AsyncReadExt, AsyncSeekExt};
        let _ = file.seek(std::io::SeekFrom::Start(offset)).await;
        let mut chunk = Vec::new();
        let _ = file.read_to_end(&mut chunk).await;
        offset += chunk.len() as u64;
        pending.extend_from_slice(&chunk);
        if let Some(end) = pending.iter().rposition(|b| *b == b'\n') {
            let complete: Vec<u8> = pending.drain(..=end).collect();
            let mut out = Vec::new();
            for line in String::from_utf8_lossy(&complete)
                .lines()
                .filter_map(logs::parse)
            {
                logs::render(&line, opts.timestamps, &mut out);
            }
            if !send_limited(&tx, out, &mut budget).await {
                return;
            }
        }
        if chunk.is_empty() {
            let mut rt = cri.runtime.clone();
            let running = rt
                .container_status(api::ContainerStatusRequest {
                    container_id: id.clone(),
                    verbose: false,
                })
                .await
                .ok()
                .and_then(|s| s.into_inner().status)
                .is_some_and(|s| s.state == api::ContainerState::ContainerRunning as i32);
            if !running || tx.is_closed() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

async fn send_limited(
    tx: &tokio::sync::mpsc::Sender<Result<http_body::Frame<Bytes>, BoxError>>,
    mut bytes: Vec<u8>,
    budget: &mut usize,
) -> bool {
    if bytes.is_empty() {
        return *budget > 0;
    }
    let done = bytes.len() >= *budget;
    bytes.truncate(*budget);
    *budget -= bytes.len();
    let sent = tx
        .send(Ok(http_body::Frame::data(Bytes::from(bytes))))
        .await
        .is_ok();
    sent && !done
}

/// Exec or attach: asks the runtime for a stream URL and forwards the client's upgrade to it.
async fn stream(
    api: &KubeletApi,
    req: Request<Incoming>,
    ns: &str,
    pod: &str,
    container: &str,
    attach: bool,
) -> Response<Body> {
    let query: HashMap<String, String> = url_pairs(req.uri().query().unwrap_or(""))
        .into_iter()
        .collect();
    let found = match find_containers(&api.cri, ns, pod, container).await {
        Ok(f) => f,
        Err(e) => return text(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    };
    let Some((id, true)) = found.first().cloned() else {
        return text(
            StatusCode::BAD_REQUEST,
            format!("container {container} is not valid for pod {pod}"),
        );
    };
    let stdin = truthy(&query, &["input", "stdin"]);
    let stdout = truthy(&query, &["output", "stdout"]);
    let stderr = truthy(&query, &["error", "stderr"]);
    let tty = truthy(&query, &["tty"]);
    let mut rt = api.cri.runtime.clone();
    let url = if attach {
        rt.attach(api::AttachRequest {
            container_id: id,
            stdin,
            tty,
            stdout,
            stderr,
        })
        .await
        .map(|r| r.into_inner().url)
    } else {
        let cmd: Vec<String> = query
            .get("command")
            .map(|c| c.split('\0').map(str::to_string).collect())
            .unwrap_or_default();
        if cmd.is_empty() {
            return text(
                StatusCode::BAD_REQUEST,
                "you must specify at least 1 command",
            );
        }
        rt.exec(api::ExecRequest {
            container_id: id,
            cmd,
            tty,
            stdin,
            stdout,
            stderr,
        })
        .await
        .map(|r| r.into_inner().url)
    };
    match url {
        Ok(url) => to_stream_server(req, &url).await,
        Err(e) => text(StatusCode::INTERNAL_SERVER_ERROR, e.message().to_string()),
    }
}

async fn port_forward(
    api: &KubeletApi,
    req: Request<Incoming>,
    ns: &str,
    pod: &str,
) -> Response<Body> {
    let mut rt = api.cri.runtime.clone();
    let sandboxes = match rt
        .list_pod_sandbox(api::ListPodSandboxRequest {
            filter: Some(api::PodSandboxFilter {
                label_selector: HashMap::from([
                    (POD_NAMESPACE.to_string(), ns.to_string()),
                    (POD_NAME.to_string(), pod.to_string()),
                ]),
                state: Some(api::PodSandboxStateValue {
                    state: api::PodSandboxState::SandboxReady as i32,
                }),
                ..Default::default()
            }),
        })
        .await
    {
        Ok(r) => r.into_inner().items,
        Err(e) => return text(StatusCode::INTERNAL_SERVER_ERROR, e.message().to_string()),
    };
    let Some(sandbox) = sandboxes.into_iter().next() else {
        return text(StatusCode::NOT_FOUND, format!("pod {pod} not found"));
    };
    match rt
        .port_forward(api::PortForwardRequest {
            pod_sandbox_id: sandbox.id,
            port: vec![],
        })
        .await
    {
        Ok(r) => to_stream_server(req, &r.into_inner().url).await,
        Err(e) => text(StatusCode::INTERNAL_SERVER_ERROR, e.message().to_string()),
    }
}

/// Forwards to the runtime's streaming server (plain HTTP on loopback).
async fn to_stream_server(req: Request<Incoming>, url: &str) -> Response<Body> {
    let Ok(uri) = url.parse::<http::Uri>() else {
        return text(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("bad stream URL {url}"),
        );
    };
    let authority = uri.authority().map(|a| a.to_string()).unwrap_or_default();
    let path = uri
        .path_and_query()
        .map(|p| p.to_string())
        .unwrap_or_else(|| "/".into());
    let tcp = match tokio::net::TcpStream::connect(&authority).await {
        Ok(t) => t,
        Err(e) => {
            return text(
                StatusCode::BAD_GATEWAY,
                format!("connecting to the runtime's stream server: {e}"),
            )
        }
    };
    match upgrade::forward(tcp, req, &path, &authority).await {
        Ok(resp) => resp.map(|b| b.map_err(|e| -> BoxError { Box::new(e) }).boxed()),
        Err(e) => text(StatusCode::BAD_GATEWAY, e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_map_to_node_subresources() {
        assert_eq!(subresource("/containerLogs/ns/p/c"), "proxy");
        assert_eq!(subresource("/exec/ns/p/c"), "proxy");
        assert_eq!(subresource("/logs/syslog"), "log");
        assert_eq!(subresource("/stats/summary"), "stats");
        assert_eq!(verb(&Method::POST), "create");
        assert_eq!(verb(&Method::GET), "get");
    }

    #[test]
    fn repeated_commands_are_kept_in_order() {
        let q: HashMap<String, String> =
            url_pairs("command=sh&command=-c&command=echo%20hi+there&input=1")
                .into_iter()
                .collect();
        assert_eq!(q["command"], "sh\0-c\0echo hi there");
        assert!(truthy(&q, &["input"]));
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%2Fx"), "/x");
    }
}
