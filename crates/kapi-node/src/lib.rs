//! kapi's node agent: a kubelet over the Container Runtime Interface.
//!
//! Like kubelet, the node is an API client with its own identity (`system:node:NAME` in group
//! `system:nodes`): it registers its Node, renews its Lease, runs the pods bound to it through a
//! CRI runtime (containerd by default, started by the node itself when none is given, as k3s
//! does), writes their status and events, serves the kubelet API (logs, exec, attach,
//! port-forward) for the API server to proxy to, and programs Service addresses. It does not
//! depend on `kapi-server` or `kapi-store`: everything goes through the API.
//!
//! ```no_run
//! # async fn demo(client: kube::Client, tls: kapi_node::KubeletTls) -> Result<(), kapi_node::NodeError> {
//! let config = kapi_node::NodeConfig::new("node-1".into(), "kapi-data".into(), tls);
//! kapi_node::run(client, config).await
//! # }
//! ```
//!
//! The path of a pod: [`pods`] watches pods with `spec.nodeName` = this node; a worker per pod
//! prepares its volumes, asks the runtime for a sandbox (network namespace and IP through CNI,
//! see [`cni`]), pulls images and starts containers ([`pods::cri_config`]), and reports status
//! ([`pods::status`]). [`kubelet_api`] serves the streams; [`proxy`] the Service addresses;
//! [`dns`] the cluster's names. [`simulated`] stands in for many nodes whose pods run nothing,
//! for measuring the control plane at scale.

pub mod allocator;
pub mod cni;
pub mod containerd;
pub mod cri;
pub mod dns;
pub mod events;
pub mod join;
pub mod kubelet_api;
pub mod machine;
pub mod pods;
pub mod proxy;
pub mod reflect;
pub mod registration;
pub mod registries;
pub mod simulated;
pub mod stats;
pub mod upgrade;
pub mod workqueue;

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Node;
use kube::Api;

use crate::registration::{NodeFacts, Readiness};

/// The kubelet API's certificate and the CA its callers' certificates must chain to. Empty
/// certificate and key: obtain them through the CSR API (a node that joined with a token).
#[derive(Clone)]
pub struct KubeletTls {
    /// The cluster CA (PEM).
    pub ca_pem: String,
    /// The serving certificate (PEM).
    pub cert_pem: String,
    /// Its key (PEM).
    pub key_pem: String,
}

/// How the node runs.
pub struct NodeConfig {
    /// The Node's name.
    pub name: String,
    /// Where the node keeps its state: containerd/, pods/, logs/, cni/.
    pub data_dir: PathBuf,
    /// A CRI endpoint to use instead of starting containerd.
    pub runtime_endpoint: Option<String>,
    /// The registries file (default DATA/registries.yaml when present).
    pub registry_config: Option<PathBuf>,
    /// The sandbox image.
    pub pause_image: String,
    /// The InternalIP to report (default: the default route's source address).
    pub node_ip: Option<IpAddr>,
    /// The kubelet API port.
    pub kubelet_port: u16,
    /// The kubelet API's TLS material.
    pub tls: KubeletTls,
    /// Reported as the kubelet version.
    pub kubelet_version: String,
    /// Program Service addresses with nftables.
    pub service_proxy: bool,
    /// The cluster domain: served by the node's DNS server, and the base of pods' search path.
    pub cluster_domain: String,
    /// The cluster DNS Service's addresses: pods' nameservers (dnsPolicy ClusterFirst).
    pub cluster_dns: Vec<IpAddr>,
    /// The port the node serves cluster DNS on at its InternalIP; 0 serves none.
    pub cluster_dns_port: u16,
    /// The load balancer's address pool, whose addresses this node holds when it announces
    /// them; `None`: LoadBalancer Services get the nodes' own addresses.
    pub service_lb_pool: Option<proxy::LbPool>,
}

impl NodeConfig {
    /// Upstream's defaults for the rest.
    pub fn new(name: String, data_dir: PathBuf, tls: KubeletTls) -> NodeConfig {
        NodeConfig {
            name,
            data_dir,
            runtime_endpoint: None,
            registry_config: None,
            pause_image: DEFAULT_PAUSE_IMAGE.into(),
            node_ip: None,
            kubelet_port: 10250,
            tls,
            kubelet_version: "v1.34.0".into(),
            service_proxy: true,
            cluster_domain: dns::DEFAULT_CLUSTER_DOMAIN.into(),
            cluster_dns: vec![DEFAULT_CLUSTER_DNS],
            cluster_dns_port: 53,
            service_lb_pool: None,
        }
    }
}

/// The tenth address of the default Service range (10.96.0.0/12): the `kube-dns` Service's.
pub const DEFAULT_CLUSTER_DNS: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 96, 0, 10));

/// kubelet's default sandbox image.
pub const DEFAULT_PAUSE_IMAGE: &str = "registry.k8s.io/pause:3.10";

/// What to install when no runtime is found.
pub const NO_RUNTIME: &str = "container runtime is down: no CRI endpoint was given and containerd is not installed (apt-get install containerd runc containernetworking-plugins, or pass --container-runtime-endpoint)";

/// Failures that stop the node.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The API server refused registration.
    #[error("registering node {name}: {source}")]
    Register {
        /// The node.
        name: String,
        /// Why.
        source: kube::Error,
    },
    /// The registries file is unusable.
    #[error(transparent)]
    Registries(#[from] registries::RegistriesError),
    /// The kubelet API could not start.
    #[error(transparent)]
    KubeletApi(#[from] kubelet_api::KubeletApiError),
    /// The runtime could not be started.
    #[error(transparent)]
    Containerd(#[from] containerd::ContainerdError),
    /// The runtime could not be reached.
    #[error(transparent)]
    Cri(#[from] cri::CriError),
    /// The kubelet serving certificate could not be obtained.
    #[error("kubelet serving certificate: {0}")]
    Join(#[from] join::JoinError),
    /// A directory could not be made.
    #[error("creating {path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// Runs the node until the task is dropped (which stops the containerd it started).
pub async fn run(client: kube::Client, config: NodeConfig) -> Result<(), NodeError> {
    let data = config.data_dir.clone();
    for sub in ["pods", "logs", "cni/net.d", "cni/ipam"] {
        let path = data.join(sub);
        std::fs::create_dir_all(&path).map_err(|source| NodeError::Io { path, source })?;
    }
    let registries_path = config
        .registry_config
        .clone()
        .or_else(|| Some(data.join("registries.yaml")).filter(|p| p.exists()));
    let registries = match &registries_path {
        Some(p) => registries::Registries::load(p)?,
        None => registries::Registries::default(),
    };
    let capacity = machine::capacity(&data);
    let facts = NodeFacts {
        name: config.name.clone(),
        hostname: machine::hostname(),
        ip: config.node_ip.unwrap_or_else(machine::primary_ip),
        kubelet_port: config.kubelet_port,
        capacity: capacity.clone(),
        system: machine::system_info(),
        kubelet_version: config.kubelet_version.clone(),
    };
    let node = registration::register(&client, &facts)
        .await
        .map_err(|source| NodeError::Register {
            name: config.name.clone(),
            source,
        })?;
    let mut tls_material = config.tls.clone();
    if tls_material.cert_pem.is_empty() {
        // A joined node proves its names with a certificate from the cluster CA, asked for
        // once its Node carries its addresses (what the approver checks them against).
        let starting = Readiness::NotReady {
            runtime_version: String::new(),
            message: "container runtime status check may not have completed yet".into(),
        };
        registration::update_status(&client, &facts, &starting)
            .await
            .map_err(|source| NodeError::Register {
                name: config.name.clone(),
                source,
            })?;
        let (cert, key) = serving_certificate(&client, &data, &facts).await?;
        tls_material.cert_pem = cert;
        tls_material.key_pem = key;
    }

    // The runtime: the one named, else our own containerd, else none (NotReady, saying why).
    let mut own_containerd = None;
    let cri = match &config.runtime_endpoint {
        Some(endpoint) => Some(cri::Cri::connect(&cri::socket_path(endpoint)?).await?),
        None if program_on_path("containerd") => {
            let socket = data.join("containerd/containerd.sock");
            // A containerd left running by an earlier start (killed without a chance to stop
            // it) still runs our pods: use it rather than fail to bind its socket.
            if let Ok(cri) = cri::Cri::connect(&socket).await {
                if cri.version().await.is_ok() {
                    tracing::info!(socket = %socket.display(), "using the containerd already running for this data dir");
                    Some(cri)
                } else {
                    let _ = std::fs::remove_file(&socket);
                    Some(start_containerd(&data, &config, &registries, &mut own_containerd).await?)
                }
            } else {
                let _ = std::fs::remove_file(&socket);
                Some(start_containerd(&data, &config, &registries, &mut own_containerd).await?)
            }
        }
        None => None,
    };
    let runtime_version = match &cri {
        Some(c) => c
            .version()
            .await
            .map(|v| format!("{}://{}", v.runtime_name, v.runtime_version))
            .unwrap_or_default(),
        None => String::new(),
    };
    let runtime_name = runtime_version
        .split("://")
        .next()
        .unwrap_or("containerd")
        .to_string();

    let mut tasks = tokio::task::JoinSet::new();
    let heartbeat_client = client.clone();
    let heartbeat_facts = facts.clone();
    let has_runtime = cri.is_some();
    let conf_dir = data.join("cni/net.d");
    let ipam_dir = data.join("cni/ipam");
    tasks.spawn(async move {
        heartbeat(
            heartbeat_client,
            heartbeat_facts,
            node,
            has_runtime,
            runtime_version,
            conf_dir,
            ipam_dir,
        )
        .await;
    });
    if let Some(cri) = cri {
        let ctx = Arc::new(pods::Context {
            client: client.clone(),
            cri: cri.clone(),
            node_name: config.name.clone(),
            node_ip: facts.ip.to_string(),
            pods_dir: data.join("pods"),
            logs_dir: data.join("logs"),
            registries,
            recorder: events::Recorder::new(client.clone(), "kubelet", config.name.clone()),
            allocatable: (
                capacity.cpu as i128 * 1000,
                capacity.memory_kib as i128 * 1024,
            ),
            runtime_name,
            cluster_dns: pods::dns::ClusterDns {
                servers: config.cluster_dns.clone(),
                domain: config.cluster_domain.clone(),
                host: pods::dns::HostResolv::default(),
            },
        });
        tasks.spawn(pods::run(ctx));
        let api = Arc::new(kubelet_api::KubeletApi::new(
            client.clone(),
            cri,
            config.name.clone(),
        ));
        let tls = kubelet_api::tls_config(
            &tls_material.ca_pem,
            &tls_material.cert_pem,
            &tls_material.key_pem,
        )?;
        let addr = SocketAddr::new(facts.ip, config.kubelet_port);
        let server = kubelet_api::serve(api, addr, tls).await?;
        tasks.spawn(async move {
            let _ = server.await;
        });
    }
    if config.cluster_dns_port != 0 {
        let mut dns_config =
            dns::DnsConfig::new(SocketAddr::new(facts.ip, config.cluster_dns_port));
        dns_config.domain = config.cluster_domain.clone();
        dns_config.nameserver_ips = config.cluster_dns.clone();
        // Pods run without it (their lookups fail), so a taken port is an error to read in
        // the log rather than a reason to stop the node.
        match dns::bind(client.clone(), dns_config).await {
            Ok(dns) => {
                tasks.spawn(dns);
            }
            Err(e) => tracing::error!(error = %e, "cluster DNS is not served by this node"),
        }
    }
    if config.service_proxy && program_on_path("nft") {
        tasks.spawn(proxy::run(
            client.clone(),
            config.name.clone(),
            config.service_lb_pool.clone(),
        ));
    }
    if let Some((handle, owned)) = own_containerd {
        tasks.spawn(handle.supervise(owned));
    }
    let _stop = StopOnDrop;
    while tasks.join_next().await.is_some() {}
    Ok(())
}

/// Removes the proxy's rules when the node goes away (its containerd, owned by a task, is
/// killed when that task is dropped).
struct StopOnDrop;

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        let _ = std::process::Command::new("nft")
            .args(["delete", "table", "ip", proxy::TABLE])
            .stderr(std::process::Stdio::null())
            .status();
    }
}

/// The kubelet API's certificate: the one kept in DATA from an earlier start while it is valid
/// for this address, otherwise a new one through the CSR API.
async fn serving_certificate(
    client: &kube::Client,
    data: &std::path::Path,
    facts: &NodeFacts,
) -> Result<(String, String), NodeError> {
    let cert_path = data.join("kubelet-serving.crt");
    let key_path = data.join("kubelet-serving.key");
    let names = vec![facts.ip.to_string(), facts.name.clone()];
    if let (Ok(cert), Ok(key)) = (
        std::fs::read_to_string(&cert_path),
        std::fs::read_to_string(&key_path),
    ) {
        if certificate_covers(&cert, &names) {
            return Ok((cert, key));
        }
    }
    let (cert, key) = join::serving_certificate(client, &facts.name, &names).await?;
    join::write_private(&key_path, &key)?;
    join::write_private(&cert_path, &cert)?;
    Ok((cert, key))
}

/// Whether a PEM certificate is still valid for a day and names every one of `names`.
fn certificate_covers(pem: &str, names: &[String]) -> bool {
    let Ok((_, block)) = x509_parser::pem::parse_x509_pem(pem.as_bytes()) else {
        return false;
    };
    let Ok(cert) = block.parse_x509() else {
        return false;
    };
    let day_left = cert
        .validity()
        .time_to_expiration()
        .is_some_and(|d| d.whole_hours() > 24);
    let sans: Vec<String> = cert
        .subject_alternative_name()
        .ok()
        .flatten()
        .map(|ext| {
            ext.value
                .general_names
                .iter()
                .filter_map(|n| match n {
                    x509_parser::extensions::GeneralName::DNSName(d) => Some(d.to_string()),
                    x509_parser::extensions::GeneralName::IPAddress(b) if b.len() == 4 => {
                        Some(std::net::Ipv4Addr::new(b[0], b[1], b[2], b[3]).to_string())
                    }
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    day_left && names.iter().all(|n| sans.contains(n))
}

/// Starts the node's own containerd with a generated configuration.
async fn start_containerd(
    data: &std::path::Path,
    config: &NodeConfig,
    registries: &registries::Registries,
    own: &mut Option<(containerd::Containerd, containerd::OwnedConfig)>,
) -> Result<cri::Cri, NodeError> {
    let hosts = data.join("containerd/certs.d");
    registries.write_hosts_dir(&hosts)?;
    let owned = containerd::OwnedConfig {
        dir: data.join("containerd"),
        pause_image: config.pause_image.clone(),
        cni_bin_dir: cni::plugin_dir(),
        cni_conf_dir: data.join("cni/net.d"),
        registry_hosts_dir: hosts,
    };
    let (handle, cri) = containerd::Containerd::start(&owned.borrowed()).await?;
    *own = Some((handle, owned));
    Ok(cri)
}

fn program_on_path(name: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(name).is_file()))
}

/// Renews the Lease every 10 s and writes the Node's status; writes the CNI configuration once
/// the node has a podCIDR.
async fn heartbeat(
    client: kube::Client,
    facts: NodeFacts,
    mut node: Node,
    has_runtime: bool,
    runtime_version: String,
    conf_dir: PathBuf,
    ipam_dir: PathBuf,
) {
    let nodes: Api<Node> = Api::all(client.clone());
    let mut network_ready = false;
    let mut last: Option<Readiness> = None;
    let mut since_status = Duration::ZERO;
    loop {
        if !network_ready {
            if let Ok(n) = nodes.get(&facts.name).await {
                node = n;
            }
            if let Some(cidr) = node.spec.as_ref().and_then(|s| s.pod_cidr.clone()) {
                match cni::write(&conf_dir, &cidr, &ipam_dir) {
                    Ok(()) => network_ready = true,
                    Err(e) => tracing::warn!(error = %e, "could not write the CNI configuration"),
                }
            }
        }
        let readiness = if !has_runtime {
            Readiness::NotReady {
                runtime_version: String::new(),
                message: NO_RUNTIME.into(),
            }
        } else if !network_ready {
            Readiness::NotReady {
                runtime_version: runtime_version.clone(),
                message: "container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady message:Network plugin returns error: cni plugin not initialized (the node has no podCIDR yet)".into(),
            }
        } else {
            Readiness::Ready {
                runtime_version: runtime_version.clone(),
            }
        };
        if last.as_ref() != Some(&readiness) || since_status >= Duration::from_secs(60) {
            match registration::update_status(&client, &facts, &readiness).await {
                Ok(n) => {
                    node = n;
                    last = Some(readiness);
                    since_status = Duration::ZERO;
                }
                Err(e) => tracing::warn!(error = %e, "could not update the node's status"),
            }
        }
        if let Err(e) = registration::renew_lease(&client, &node).await {
            tracing::warn!(error = %e, "could not renew the node's lease");
        }
        let pause = if network_ready {
            registration::LEASE_RENEW
        } else {
            Duration::from_secs(1)
        };
        tokio::time::sleep(pause).await;
        since_status += pause;
    }
}
