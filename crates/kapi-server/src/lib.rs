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
pub mod apiserver_leases;
pub mod apiservices;
pub mod bootstrap;
pub mod crd;
pub mod data_dir;
pub mod filters;
pub mod handlers;
pub mod listen;
pub mod metrics;
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
    /// The audit log or policy could not be used.
    #[error(transparent)]
    Audit(#[from] filters::audit::AuditError),
    /// The static token file could not be read.
    #[error(transparent)]
    TokenFile(#[from] filters::authn::TokenFileError),
    /// Creating the cluster's initial objects failed.
    #[error("bootstrap: {0}")]
    Bootstrap(kapi_api::status::ApiError),
    /// The controllers could not be configured or given a client.
    #[error(transparent)]
    Controllers(#[from] kapi_controllers::ControllerError),
    /// The data dir could not be created or is in use.
    #[error(transparent)]
    DataDir(#[from] data_dir::DataDirError),
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
    /// Where audit events go, as `--audit-log-path`.
    pub audit_log_path: Option<PathBuf>,
    /// Which requests are audited at which level, as `--audit-policy-file`.
    pub audit_policy_file: Option<PathBuf>,
    /// Which controllers run in-process, as `--controllers` (`*`, `NAME`, `-NAME`, commas).
    pub controllers: String,
    /// Also create a token Secret per ServiceAccount (pre-1.24), as `--legacy-token-secrets`.
    pub legacy_token_secrets: bool,
    /// Concurrency limits and priority and fairness.
    pub limits: filters::flowcontrol::Limits,
    /// The address the `kubernetes` Service's endpoints name, as `--advertise-address`
    /// (default: the listen address, or this machine's primary address when listening on all).
    pub advertise_address: Option<std::net::IpAddr>,
    /// The embedded node, unless `--disable-node`.
    pub node: Option<NodeSettings>,
    /// How long a node may be silent before it is Unknown and tainted.
    pub node_monitor_grace_period: std::time::Duration,
    /// The built-in load balancer's address pool (`--service-lb-pool`); `None`: the nodes'
    /// own addresses.
    pub service_lb_pool: Option<kapi_node::proxy::LbPool>,
    /// How often each HorizontalPodAutoscaler is reconciled.
    pub hpa_sync_period: std::time::Duration,
    /// Store the cluster in etcd (`--etcd-servers` and friends) instead of DATA/kapi.db.
    pub etcd: Option<kapi_store::etcd::EtcdConfig>,
}

/// How the embedded node runs (`kapi node`'s flags).
#[derive(Debug, Clone)]
pub struct NodeSettings {
    /// The Node's name (default: the host name).
    pub name: Option<String>,
    /// A CRI endpoint instead of the node's own containerd.
    pub runtime_endpoint: Option<String>,
    /// The registries file (default DATA/registries.yaml when present).
    pub registry_config: Option<PathBuf>,
    /// The sandbox image.
    pub pause_image: String,
    /// The node's InternalIP (default: the advertise address).
    pub node_ip: Option<std::net::IpAddr>,
    /// The kubelet API port.
    pub kubelet_port: u16,
    /// The cluster domain (DNS server and pods' search path).
    pub cluster_domain: String,
    /// Pods' cluster nameservers.
    pub cluster_dns: Vec<std::net::IpAddr>,
    /// The node's DNS port at its InternalIP (0: none).
    pub cluster_dns_port: u16,
}

impl Default for NodeSettings {
    fn default() -> Self {
        NodeSettings {
            name: None,
            runtime_endpoint: None,
            registry_config: None,
            pause_image: kapi_node::DEFAULT_PAUSE_IMAGE.to_string(),
            node_ip: None,
            kubelet_port: 10250,
            cluster_domain: kapi_node::dns::DEFAULT_CLUSTER_DOMAIN.to_string(),
            cluster_dns: vec![kapi_node::DEFAULT_CLUSTER_DNS],
            cluster_dns_port: 53,
        }
    }
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
            audit_log_path: None,
            audit_policy_file: None,
            controllers: "*".to_string(),
            legacy_token_secrets: false,
            limits: Default::default(),
            advertise_address: None,
            node: None,
            node_monitor_grace_period: kapi_controllers::nodelifecycle::DEFAULT_GRACE,
            service_lb_pool: None,
            hpa_sync_period: kapi_controllers::hpa::DEFAULT_SYNC_PERIOD,
            etcd: None,
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
    /// The audit log, when `--audit-log-path` is set.
    pub auditor: Option<Arc<filters::audit::Auditor>>,
    /// How much runs at once (priority and fairness).
    pub flow: Arc<filters::flowcontrol::FlowControl>,
    /// How the server reaches kubelets (logs, exec, attach, port-forward).
    pub kubelet_client: Option<tokio_rustls::TlsConnector>,
    /// The latest kubelet resource metrics, for `metrics.k8s.io`.
    pub metrics: metrics::Cache,
}

/// A started server.
pub struct Running {
    /// The bound address.
    pub addr: SocketAddr,
    /// The path of the admin kubeconfig.
    pub kubeconfig: PathBuf,
    /// Shared state.
    pub server: Arc<Server>,
    /// The data dir, held until this is dropped.
    pub data_dir_lock: data_dir::DataDirLock,
}

/// Creates or loads the data dir, binds, bootstraps and starts serving in the background.
pub async fn start(mut config: Config) -> Result<Running, ServerError> {
    let controllers = kapi_controllers::parse_controllers(&config.controllers)?;
    let dir = config.data_dir.clone();
    let data_dir_lock = data_dir::prepare(&dir)?;
    let listener = listen::bind(config.listen).map_err(|source| ServerError::Listen {
        addr: config.listen,
        source,
    })?;
    let addr = listener
        .local_addr()
        .map_err(|source| ServerError::Listen {
            addr: config.listen,
            source,
        })?;
    let local_ip = if addr.ip().is_unspecified() {
        std::net::IpAddr::from([127, 0, 0, 1])
    } else {
        addr.ip()
    };
    // In-process clients and the admin kubeconfig use the address the server listens on
    // (loopback when it listens on all); pods use the advertised one.
    let local_url = format!("https://{}", SocketAddr::new(local_ip, addr.port()));
    let advertise_ip = match config.advertise_address {
        Some(ip) => ip,
        None if addr.ip().is_unspecified() => kapi_node::machine::primary_ip(),
        None => addr.ip(),
    };
    if advertise_ip.is_loopback() && config.node.is_some() {
        tracing::warn!(
            "the server listens on loopback only, so pods cannot reach it through the kubernetes Service; listen on all addresses (--listen 0.0.0.0:{}) or set --advertise-address",
            addr.port()
        );
    }
    config.advertise = Some(SocketAddr::new(advertise_ip, addr.port()));
    let pki = Pki::load_or_create(&dir, &[advertise_ip.to_string(), local_ip.to_string()])?;
    let tls = pki.server_tls_config()?;
    let options = kapi_store::StoreOptions {
        validate: Some(registry::validate_stored),
        stamp: registry::stamp_revision,
        ..Default::default()
    };
    let store = match &config.etcd {
        None => kapi_store::Store::open(&dir.join("kapi.db"), options)?,
        Some(etcd) => {
            let (backend, loaded) =
                kapi_store::etcd::EtcdBackend::connect(etcd.clone(), options.stamp).await?;
            tracing::info!(endpoints = ?etcd.endpoints, prefix = %etcd.prefix, revision = loaded.revision, "storing the cluster in etcd");
            kapi_store::Store::start(Arc::new(backend), loaded, options)?
        }
    };
    let registry = Arc::new(Registry::new(store));
    // Before anything writes: objects an older kapi stored under its own key layout move to
    // kube-apiserver's.
    registry::layout::move_legacy_keys(&registry)
        .await
        .map_err(ServerError::Bootstrap)?;
    let own_ip = advertise_ip.to_string();
    // On etcd other servers may share the store: the `kubernetes` Service lists them all.
    let shared = config.etcd.is_some();
    let api_servers = if shared {
        apiserver_leases::live_addresses(&registry, &own_ip).map_err(ServerError::Bootstrap)?
    } else {
        vec![own_ip.clone()]
    };
    bootstrap::run(&registry, &api_servers, addr.port())
        .await
        .map_err(ServerError::Bootstrap)?;
    registry::service_cidrs::ensure_default(&registry)
        .await
        .map_err(ServerError::Bootstrap)?;
    apiservices::register(&registry)
        .await
        .map_err(ServerError::Bootstrap)?;
    // Custom resources are served from the first request on, as before a restart.
    crd::sync::load(&registry);
    // Claims of Service addresses agree with the Services (upstream repairs every 3 minutes).
    registry::claims::spawn_repair(registry.clone(), std::time::Duration::from_secs(180));
    if shared {
        apiserver_leases::renew(&registry, &own_ip, addr.port())
            .await
            .map_err(ServerError::Bootstrap)?;
        apiserver_leases::spawn(registry.clone(), own_ip, addr.port());
    }
    rbac_sync::reconcile_bootstrap(&registry)
        .await
        .map_err(ServerError::Bootstrap)?;
    filters::flowcontrol::sync::ensure_bootstrap(&registry)
        .await
        .map_err(ServerError::Bootstrap)?;
    let flow = Arc::new(filters::flowcontrol::FlowControl::new(config.limits));
    filters::flowcontrol::sync::rebuild(&registry, &flow);
    let authz = Arc::new(filters::authz::Authorizer::with_node_authorizer(
        registry.clone(),
    ));
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
    let server_url = local_url;
    let rendered = kapi_auth::kubeconfig::render_client_cert(
        "kapi",
        &server_url,
        &pki.ca.cert_pem,
        kapi_auth::pki::ADMIN_USER,
        &pki.admin.cert_pem,
        &pki.admin.key_pem,
    );
    write_private(&kubeconfig, &rendered)?;
    let auditor = match &config.audit_log_path {
        Some(path) => Some(Arc::new(filters::audit::Auditor::open(
            path,
            config.audit_policy_file.as_deref(),
        )?)),
        None => None,
    };
    let kubelet_cert =
        pki.issue_client(KUBELET_CLIENT_USER, &[kapi_auth::authz::SYSTEM_MASTERS])?;
    let kubelet_client = handlers::pod_stream::kubelet_connector(
        &pki.ca.cert_pem,
        &kubelet_cert.cert_pem,
        &kubelet_cert.key_pem,
    )
    .map_err(|e| tracing::warn!(error = %e, "no kubelet client: pod logs and exec will fail"))
    .ok();
    let server = Arc::new(Server {
        kubelet_client,
        metrics: metrics::Cache::default(),
        auditor,
        flow: flow.clone(),
        config,
        registry: registry.clone(),
        authn,
        authz: authz.clone(),
    });
    tokio::spawn(rbac_sync::run(registry.clone(), authz));
    tokio::spawn(filters::flowcontrol::sync::run(registry.clone(), flow));
    tokio::spawn(crd::sync::run(registry.clone()));
    tokio::spawn(registry::namespaces::run(registry));
    tokio::spawn(metrics::scrape::run(server.clone()));
    tokio::spawn(listen::serve(
        listener,
        tokio_rustls::TlsAcceptor::from(Arc::new(tls)),
        server.clone(),
    ));
    let options = kapi_controllers::ControllerOptions {
        data_dir: dir.clone(),
        enabled: controllers,
        legacy_token_secrets: server.config.legacy_token_secrets,
        node_monitor_grace_period: server.config.node_monitor_grace_period,
        service_lb_pool: server.config.service_lb_pool.clone(),
        hpa_sync_period: server.config.hpa_sync_period,
    };
    let run_scheduler = options.is_enabled(kapi_controllers::SCHEDULER);
    start_controllers(&pki, &server_url, options).await?;
    if run_scheduler {
        start_scheduler(&pki, &server_url, &dir).await?;
    }
    if let Some(node) = server.config.node.clone() {
        let lb_pool = server.config.service_lb_pool.clone();
        let name = start_node(&pki, &server_url, &dir, advertise_ip, node, lb_pool).await?;
        tokio::spawn(bootstrap::mark_control_plane(server.registry.clone(), name));
    }
    Ok(Running {
        addr,
        kubeconfig,
        server,
        data_dir_lock,
    })
}

/// The controller manager's client certificate groups (CN is
/// [`kapi_auth::rbac::bootstrap::CONTROLLER_MANAGER_USER`]); RBAC's bootstrap policy binds its
/// role to the user, so it needs no group.
const CONTROLLER_MANAGER_GROUPS: &[&str] = &[];

/// Runs kapi's controllers in this process as API clients with their own identity, over HTTPS
/// on loopback (DESIGN.md: controllers are clients): a fresh client certificate, written to
/// `DIR/controller-manager.kubeconfig` (0600) so the same identity can be used from outside.
async fn start_controllers(
    pki: &Pki,
    server_url: &str,
    options: kapi_controllers::ControllerOptions,
) -> Result<(), ServerError> {
    let user = kapi_auth::rbac::CONTROLLER_MANAGER_USER;
    let cert = pki.issue_client(user, CONTROLLER_MANAGER_GROUPS)?;
    let path = options.data_dir.join("controller-manager.kubeconfig");
    let rendered = kapi_auth::kubeconfig::render_client_cert(
        "kapi",
        server_url,
        &pki.ca.cert_pem,
        user,
        &cert.cert_pem,
        &cert.key_pem,
    );
    write_private(&path, &rendered)?;
    let client = kapi_controllers::multiplexed_client_from_kubeconfig(&path).await?;
    tokio::spawn(async move {
        if let Err(e) = kapi_controllers::run(client, options).await {
            tracing::error!(error = %e, "controllers stopped");
        }
    });
    Ok(())
}

/// Runs the scheduler in this process with its own identity (`system:kube-scheduler`),
/// written to `DIR/scheduler.kubeconfig`.
async fn start_scheduler(
    pki: &Pki,
    server_url: &str,
    dir: &std::path::Path,
) -> Result<(), ServerError> {
    let user = kapi_auth::rbac::SCHEDULER_USER;
    let cert = pki.issue_client(user, &[])?;
    let path = dir.join("scheduler.kubeconfig");
    let rendered = kapi_auth::kubeconfig::render_client_cert(
        "kapi",
        server_url,
        &pki.ca.cert_pem,
        user,
        &cert.cert_pem,
        &cert.key_pem,
    );
    write_private(&path, &rendered)?;
    let client = kapi_controllers::multiplexed_client_from_kubeconfig(&path).await?;
    let identity = format!(
        "{}_{}",
        kapi_node::machine::hostname(),
        uuid::Uuid::new_v4()
    );
    tokio::spawn(kapi_controllers::scheduler::run(client, identity));
    Ok(())
}

/// The API server's identity towards kubelets (kubeadm's name for it).
const KUBELET_CLIENT_USER: &str = "kube-apiserver-kubelet-client";

/// Runs this machine's node agent in-process, as a client with its own identity
/// (`system:node:NAME`), written to `DIR/kubelet.kubeconfig`, and a kubelet serving
/// certificate for its address.
async fn start_node(
    pki: &Pki,
    server_url: &str,
    dir: &std::path::Path,
    advertise_ip: std::net::IpAddr,
    settings: NodeSettings,
    lb_pool: Option<kapi_node::proxy::LbPool>,
) -> Result<String, ServerError> {
    let name = settings
        .name
        .clone()
        .unwrap_or_else(kapi_node::machine::hostname);
    let node_ip = settings.node_ip.unwrap_or(advertise_ip);
    let user = format!("{}{name}", kapi_auth::rbac::NODE_USER_PREFIX);
    let cert = pki.issue_client(&user, &[kapi_auth::rbac::NODES_GROUP])?;
    let path = dir.join("kubelet.kubeconfig");
    let rendered = kapi_auth::kubeconfig::render_client_cert(
        "kapi",
        server_url,
        &pki.ca.cert_pem,
        &user,
        &cert.cert_pem,
        &cert.key_pem,
    );
    write_private(&path, &rendered)?;
    let client = kapi_controllers::multiplexed_client_from_kubeconfig(&path).await?;
    let serving = pki.issue_serving(
        &user,
        &[node_ip.to_string(), name.clone(), "127.0.0.1".to_string()],
    )?;
    let tls = kapi_node::KubeletTls {
        ca_pem: pki.ca.cert_pem.clone(),
        cert_pem: serving.cert_pem,
        key_pem: serving.key_pem,
    };
    let mut config = kapi_node::NodeConfig::new(name.clone(), dir.to_path_buf(), tls);
    config.runtime_endpoint = settings.runtime_endpoint;
    config.registry_config = settings.registry_config;
    config.pause_image = settings.pause_image;
    config.node_ip = Some(node_ip);
    config.kubelet_port = settings.kubelet_port;
    config.cluster_domain = settings.cluster_domain;
    config.cluster_dns = settings.cluster_dns;
    config.cluster_dns_port = settings.cluster_dns_port;
    config.service_lb_pool = lb_pool;
    config.kubelet_version = version::GIT_VERSION.to_string();
    tokio::spawn(async move {
        if let Err(e) = kapi_node::run(client, config).await {
            tracing::error!(error = %e, "the node stopped");
        }
    });
    Ok(name)
}

/// Writes a file holding credentials, readable by its owner only.
fn write_private(path: &std::path::Path, contents: &str) -> Result<(), ServerError> {
    kapi_auth::kubeconfig::write_private(path, contents).map_err(|source| ServerError::Io {
        path: path.to_path_buf(),
        source,
    })
}
