//! The kapi API server: the request path from TLS to storage.
//!
//! Files read in request order: [`listen`] (TCP, TLS, HTTP), [`request_info`] (URL → verb and
//! resource), [`filters`] (authentication, authorization), [`handlers`] (routing, discovery,
//! OpenAPI, the resource verbs), [`registry`] (the generic REST store and per-resource
//! strategies), [`watch`] (event streams), over `kapi-store`.
//!
//! ```no_run
//! # async fn demo() -> Result<(), kapi_server::ServerError> {
//! let config = kapi_server::Config::new("kapi-data".into(), "127.0.0.1:6443".parse().unwrap());
//! let running = kapi_server::start(config).await?;
//! println!("serving on {}", running.addr);
//! # Ok(()) }
//! ```

pub mod admission;
pub mod bootstrap;
pub mod filters;
pub mod handlers;
pub mod listen;
pub mod rbac_sync;
pub mod registry;
pub mod request_info;
pub mod response;
pub mod version;
pub mod watch;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use kapi_auth::pki::Pki;
use registry::Registry;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// Certificates could not be created or loaded.
    #[error(transparent)]
    Pki(#[from] kapi_auth::pki::PkiError),
    /// The store could not be opened.
    #[error(transparent)]
    Store(#[from] kapi_store::StoreError),
    /// The listen address could not be bound.
    #[error("listen on {addr}: {source}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// A file in the data dir could not be written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The service-account keys could not be created or loaded.
    #[error(transparent)]
    Tokens(#[from] kapi_auth::serviceaccount::TokenError),
    /// The static token file could not be read.
    #[error(transparent)]
    TokenFile(#[from] filters::authn::TokenFileError),
    /// Creating the cluster's initial objects failed.
    #[error("bootstrap: {0}")]
    Bootstrap(kapi_api::status::ApiError),
}

/// How to run the server.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where certificates, keys, the database and the admin kubeconfig live.
    pub data_dir: PathBuf,
    /// The HTTPS listen address (port 0 picks a free port).
    pub listen: SocketAddr,
    /// The address clients and the `kubernetes` Service use; set from the bound address.
    pub advertise: Option<SocketAddr>,
    /// A static token file (`token,user,uid,"groups"`), as `--token-auth-file`.
    pub token_auth_file: Option<PathBuf>,
    /// Whether requests without credentials are served as `system:anonymous`.
    pub anonymous_auth: bool,
    /// The service-account token issuer (`iss`), also the default audience.
    pub service_account_issuer: String,
}

impl Config {
    /// A configuration with defaults for everything else.
    pub fn new(data_dir: PathBuf, listen: SocketAddr) -> Self {
        Self {
            data_dir,
            listen,
            advertise: None,
            token_auth_file: None,
            anonymous_auth: true,
            service_account_issuer: kapi_auth::serviceaccount::DEFAULT_ISSUER.to_string(),
        }
    }

    /// `host:port` of this server as clients reach it.
    pub fn advertise_address(&self) -> String {
        self.advertise.unwrap_or(self.listen).to_string()
    }
}

/// Shared state of a running server.
pub struct Server {
    /// The configuration, with the bound address filled in.
    pub config: Config,
    /// The registry over the store.
    pub registry: Arc<Registry>,
    /// Who is calling.
    pub authn: Arc<filters::authn::Authenticator>,
    /// What they may do.
    pub authz: Arc<filters::authz::Authorizer>,
}

/// A started server.
pub struct Running {
    /// The bound address.
    pub addr: SocketAddr,
    /// The path of the admin kubeconfig.
    pub kubeconfig: PathBuf,
    /// Shared state.
    pub server: Arc<Server>,
}

/// Creates or loads the data dir, binds, bootstraps and starts serving in the background.
pub async fn start(mut config: Config) -> Result<Running, ServerError> {
    let dir = config.data_dir.clone();
    std::fs::create_dir_all(&dir).map_err(|source| ServerError::Io {
        path: dir.clone(),
        source,
    })?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|source| ServerError::Listen {
            addr: config.listen,
            source,
        })?;
    let addr = listener
        .local_addr()
        .map_err(|source| ServerError::Listen {
            addr: config.listen,
            source,
        })?;
    let advertise_ip = if addr.ip().is_unspecified() {
        std::net::IpAddr::from([127, 0, 0, 1])
    } else {
        addr.ip()
    };
    config.advertise = Some(SocketAddr::new(advertise_ip, addr.port()));
    let pki = Pki::load_or_create(&dir, &[advertise_ip.to_string()])?;
    let tls = pki.server_tls_config()?;
    let store = kapi_store::Store::open(&dir.join("kapi.db"), Default::default())?;
    let registry = Arc::new(Registry::new(store));
    bootstrap::run(&registry, &advertise_ip.to_string(), addr.port())
        .await
        .map_err(ServerError::Bootstrap)?;
    rbac_sync::reconcile_bootstrap(&registry)
        .await
        .map_err(ServerError::Bootstrap)?;
    let authz = Arc::new(filters::authz::Authorizer::new());
    rbac_sync::rebuild(&registry, &authz);
    let static_tokens = match &config.token_auth_file {
        Some(path) => filters::authn::read_token_file(path)?,
        None => Default::default(),
    };
    let keys = kapi_auth::serviceaccount::TokenKeys::load_or_create(&dir)?;
    let authn = Arc::new(filters::authn::Authenticator::new(
        keys,
        kapi_auth::serviceaccount::Issuer::new(config.service_account_issuer.clone()),
        static_tokens,
        config.anonymous_auth,
        registry.clone(),
    ));
    let kubeconfig = dir.join("admin.kubeconfig");
    let server_url = format!("https://{}", config.advertise_address());
    let rendered = kapi_auth::kubeconfig::render_client_cert(
        "kapi",
        &server_url,
        &pki.ca.cert_pem,
        kapi_auth::pki::ADMIN_USER,
        &pki.admin.cert_pem,
        &pki.admin.key_pem,
    );
    write_private(&kubeconfig, &rendered)?;
    let server = Arc::new(Server {
        config,
        registry: registry.clone(),
        authn,
        authz: authz.clone(),
    });
    tokio::spawn(rbac_sync::run(registry.clone(), authz));
    tokio::spawn(registry::namespaces::run(registry));
    tokio::spawn(listen::serve(
        listener,
        tokio_rustls::TlsAcceptor::from(Arc::new(tls)),
        server.clone(),
    ));
    Ok(Running {
        addr,
        kubeconfig,
        server,
    })
}

/// Writes a file holding credentials, readable by its owner only.
fn write_private(path: &std::path::Path, contents: &str) -> Result<(), ServerError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let err = |source| ServerError::Io {
        path: path.to_path_buf(),
        source,
    };
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(err)?;
    f.write_all(contents.as_bytes()).map_err(err)?;
    std::fs::rename(&tmp, path).map_err(err)
}
