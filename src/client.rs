//! The client side of kapi's own commands: credentials from a kubeconfig (or from inside a
//! pod) and HTTPS connections to the API server, as kubectl makes them.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{anyhow, bail, Context};
use base64::Engine;
use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use serde::Deserialize;
use tokio::net::TcpStream;

/// The body type kapi's clients send.
pub type Body = BoxBody<Bytes, hyper::Error>;

/// Where the in-cluster credentials are mounted in every pod.
const IN_CLUSTER_DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// How to reach and authenticate to one API server.
#[derive(Clone)]
pub struct ClientConfig {
    /// `host:port` to connect to.
    pub authority: String,
    /// The name the server certificate must carry.
    pub server_name: ServerName<'static>,
    /// TLS settings: the CA to trust and the client certificate, if any.
    pub tls: Arc<rustls::ClientConfig>,
    /// `Bearer <token>`, if the credentials are a token.
    pub authorization: Option<String>,
    /// The server URL, as the kubeconfig gives it.
    pub server: String,
    /// The CA certificate(s) trusted, PEM.
    pub ca_pem: Vec<u8>,
}

#[derive(Deserialize)]
struct Kubeconfig {
    #[serde(default)]
    clusters: Vec<Named<Cluster>>,
    #[serde(default)]
    users: Vec<Named<User>>,
    #[serde(default)]
    contexts: Vec<Named<KubeContext>>,
    #[serde(rename = "current-context", default)]
    current_context: String,
}

#[derive(Deserialize)]
struct Named<T> {
    name: String,
    #[serde(alias = "cluster", alias = "user", alias = "context")]
    value: T,
}

#[derive(Deserialize, Default)]
struct Cluster {
    server: String,
    #[serde(rename = "certificate-authority-data")]
    ca_data: Option<String>,
    #[serde(rename = "certificate-authority")]
    ca_file: Option<PathBuf>,
    #[serde(rename = "insecure-skip-tls-verify", default)]
    insecure: bool,
    #[serde(rename = "tls-server-name")]
    tls_server_name: Option<String>,
}

#[derive(Deserialize, Default)]
struct User {
    #[serde(rename = "client-certificate-data")]
    cert_data: Option<String>,
    #[serde(rename = "client-key-data")]
    key_data: Option<String>,
    #[serde(rename = "client-certificate")]
    cert_file: Option<PathBuf>,
    #[serde(rename = "client-key")]
    key_file: Option<PathBuf>,
    token: Option<String>,
    #[serde(rename = "tokenFile")]
    token_file: Option<PathBuf>,
}

#[derive(Deserialize)]
struct KubeContext {
    cluster: String,
    user: String,
}

fn b64(data: &str) -> anyhow::Result<Vec<u8>> {
    base64::engine::general_purpose::STANDARD
        .decode(data.trim())
        .context("decoding base64 data in the kubeconfig")
}

fn file_or_data(
    data: &Option<String>,
    file: &Option<PathBuf>,
    base: &Path,
) -> anyhow::Result<Option<Vec<u8>>> {
    if let Some(d) = data {
        return Ok(Some(b64(d)?));
    }
    if let Some(f) = file {
        let path = if f.is_absolute() {
            f.clone()
        } else {
            base.join(f)
        };
        return Ok(Some(
            std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?,
        ));
    }
    Ok(None)
}

impl ClientConfig {
    /// Credentials from `explicit`, else `$KUBECONFIG`, else `~/.kube/config`, else the
    /// in-cluster files of a pod.
    pub fn load(explicit: Option<&Path>) -> anyhow::Result<Self> {
        let candidate = explicit.map(Path::to_path_buf).or_else(|| {
            std::env::var_os("KUBECONFIG")
                .and_then(|v| std::env::split_paths(&v).find(|p| p.exists()))
                .or_else(|| {
                    std::env::var_os("HOME")
                        .map(|h| PathBuf::from(h).join(".kube/config"))
                        .filter(|p| p.exists())
                })
        });
        match candidate {
            Some(path) => Self::from_kubeconfig(&path),
            None if std::env::var_os("KUBERNETES_SERVICE_HOST").is_some() => Self::in_cluster(),
            None => bail!("no kubeconfig found (use --kubeconfig or set KUBECONFIG)"),
        }
    }

    fn from_kubeconfig(path: &Path) -> anyhow::Result<Self> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let kc: Kubeconfig =
            serde_yaml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        let ctx = kc
            .contexts
            .iter()
            .find(|c| c.name == kc.current_context)
            .or(kc.contexts.first())
            .ok_or_else(|| anyhow!("{}: no context", path.display()))?;
        let cluster = kc
            .clusters
            .iter()
            .find(|c| c.name == ctx.value.cluster)
            .ok_or_else(|| anyhow!("{}: no cluster {:?}", path.display(), ctx.value.cluster))?;
        let user = kc
            .users
            .iter()
            .find(|u| u.name == ctx.value.user)
            .map(|u| &u.value);
        let default_user = User::default();
        let user = user.unwrap_or(&default_user);
        let ca = file_or_data(&cluster.value.ca_data, &cluster.value.ca_file, base)?;
        let cert = file_or_data(&user.cert_data, &user.cert_file, base)?;
        let key = file_or_data(&user.key_data, &user.key_file, base)?;
        let token = match (&user.token, &user.token_file) {
            (Some(t), _) => Some(t.clone()),
            (None, Some(f)) => Some(std::fs::read_to_string(base.join(f))?.trim().to_string()),
            _ => None,
        };
        Self::build(
            &cluster.value.server,
            cluster.value.tls_server_name.as_deref(),
            ca.as_deref(),
            cluster.value.insecure,
            cert.as_deref().zip(key.as_deref()),
            token,
        )
    }

    /// The credentials a pod's service account has mounted.
    pub fn in_cluster() -> anyhow::Result<Self> {
        let host = std::env::var("KUBERNETES_SERVICE_HOST")?;
        let port = std::env::var("KUBERNETES_SERVICE_PORT").unwrap_or_else(|_| "443".into());
        let dir = Path::new(IN_CLUSTER_DIR);
        let token = std::fs::read_to_string(dir.join("token"))?
            .trim()
            .to_string();
        let ca = std::fs::read(dir.join("ca.crt"))?;
        let host = if host.contains(':') {
            format!("[{host}]")
        } else {
            host
        };
        Self::build(
            &format!("https://{host}:{port}"),
            None,
            Some(&ca),
            false,
            None,
            Some(token),
        )
    }

    fn build(
        server: &str,
        tls_server_name: Option<&str>,
        ca_pem: Option<&[u8]>,
        insecure: bool,
        client: Option<(&[u8], &[u8])>,
        token: Option<String>,
    ) -> anyhow::Result<Self> {
        let uri: http::Uri = server
            .parse()
            .with_context(|| format!("server URL {server:?}"))?;
        if uri.scheme_str() != Some("https") {
            bail!("server {server:?} is not https; kapi speaks TLS only");
        }
        let host = uri
            .host()
            .ok_or_else(|| anyhow!("server URL {server:?} has no host"))?;
        let port = uri.port_u16().unwrap_or(443);
        let authority = format!("{host}:{port}");
        let name_host = tls_server_name
            .unwrap_or(host)
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let server_name = ServerName::try_from(name_host).context("server name")?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?;
        let builder = if insecure {
            bail!("insecure-skip-tls-verify is not supported by kapi's client");
        } else {
            let mut roots = rustls::RootCertStore::empty();
            let pem =
                ca_pem.ok_or_else(|| anyhow!("the kubeconfig names no certificate authority"))?;
            for cert in CertificateDer::pem_slice_iter(pem) {
                roots.add(cert.context("CA certificate")?)?;
            }
            builder.with_root_certificates(roots)
        };
        let mut tls = match client {
            Some((cert, key)) => {
                let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert)
                    .collect::<Result<_, _>>()
                    .context("client certificate")?;
                let key = PrivateKeyDer::from_pem_slice(key).context("client key")?;
                builder.with_client_auth_cert(chain, key)?
            }
            None => builder.with_no_client_auth(),
        };
        tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Self {
            authority,
            server: server.to_string(),
            ca_pem: ca_pem.map(<[u8]>::to_vec).unwrap_or_default(),
            server_name,
            tls: Arc::new(tls),
            authorization: token.map(|t| format!("Bearer {t}")),
        })
    }

    /// The same credentials speaking only HTTP/1.1 (for upgrades such as exec).
    pub fn http1_only(&self) -> Self {
        let mut tls = (*self.tls).clone();
        tls.alpn_protocols = vec![b"http/1.1".to_vec()];
        Self {
            tls: Arc::new(tls),
            ..self.clone()
        }
    }

    /// A TLS connection to the server.
    pub async fn connect_tls(&self) -> anyhow::Result<tokio_rustls::client::TlsStream<TcpStream>> {
        let tcp = TcpStream::connect(&self.authority)
            .await
            .with_context(|| format!("connecting to {}", self.authority))?;
        let _ = tcp.set_nodelay(true);
        let connector = tokio_rustls::TlsConnector::from(self.tls.clone());
        Ok(connector.connect(self.server_name.clone(), tcp).await?)
    }

    /// An HTTP/2 connection (one connection, many concurrent requests).
    pub async fn connect_h2(
        &self,
    ) -> anyhow::Result<hyper::client::conn::http2::SendRequest<Body>> {
        let tls = self.connect_tls().await?;
        let (send, conn) =
            hyper::client::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new())
                .handshake(TokioIo::new(tls))
                .await?;
        tokio::spawn(conn);
        Ok(send)
    }

    /// An HTTP/1.1 connection that supports upgrades.
    pub async fn connect_h1(
        &self,
    ) -> anyhow::Result<hyper::client::conn::http1::SendRequest<Body>> {
        let tls = self.http1_only().connect_tls().await?;
        let (send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls)).await?;
        tokio::spawn(conn.with_upgrades());
        Ok(send)
    }
}

/// A whole body for a request.
pub fn full_body(bytes: impl Into<Bytes>) -> Body {
    use http_body_util::BodyExt;
    http_body_util::Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed()
}

/// Sends one request on `conn` and reads the whole response.
pub async fn call(
    conn: &mut hyper::client::conn::http2::SendRequest<Body>,
    cfg: &ClientConfig,
    method: http::Method,
    path: &str,
    payload: Option<Bytes>,
    content_type: &str,
) -> anyhow::Result<(http::StatusCode, Bytes)> {
    use http_body_util::BodyExt;
    let mut req = http::Request::builder()
        .method(method)
        .uri(path)
        .header(http::header::CONTENT_TYPE, content_type)
        .header(http::header::ACCEPT, "application/json");
    if let Some(auth) = &cfg.authorization {
        req = req.header(http::header::AUTHORIZATION, auth.as_str());
    }
    let req = req.body(full_body(payload.unwrap_or_default()))?;
    conn.ready().await?;
    let resp = conn.send_request(req).await?;
    let status = resp.status();
    let bytes = resp.into_body().collect().await?.to_bytes();
    Ok((status, bytes))
}
