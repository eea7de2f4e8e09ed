//! Cluster DNS, served by every node on its InternalIP (port 53 by default) as CoreDNS's
//! `kubernetes` plugin serves it: Service, endpoint and pod names of the cluster domain from
//! watch caches of Services and EndpointSlices, every other name relayed to the node's own
//! nameservers. Pods reach it through the `kube-dns` Service, whose endpoints are the nodes.
//!
//! - [`index`]: the cluster's names, rebuilt on every change, looked up by hash;
//! - [`records`]: which records answer a question (the plugin's rules);
//! - [`forward`]: relaying to upstream nameservers;
//! - [`server`]: the UDP and TCP server (hickory-server).
//!
//! ```no_run
//! # async fn demo(client: kube::Client) -> Result<(), kapi_node::dns::DnsError> {
//! let config = kapi_node::dns::DnsConfig::new("10.0.0.5:53".parse().unwrap());
//! kapi_node::dns::run(client, config).await
//! # }
//! ```

pub mod forward;
pub mod index;
pub mod records;
pub mod server;

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::runtime::reflector::Store;
use kube::Api;
use tokio::sync::Notify;

use self::forward::Forwarder;
use self::index::Index;
use self::records::Zone;
use self::server::{Handler, SharedIndex};

/// kubelet's and kubeadm's default cluster domain.
pub const DEFAULT_CLUSTER_DOMAIN: &str = "cluster.local";

/// What the DNS server serves and where.
#[derive(Debug, Clone)]
pub struct DnsConfig {
    /// Where to listen (UDP and TCP).
    pub listen: SocketAddr,
    /// The cluster domain.
    pub domain: String,
    /// The answers' TTL.
    pub ttl: u32,
    /// The cluster DNS Service's addresses (answers for `ns.dns.DOMAIN`).
    pub nameserver_ips: Vec<IpAddr>,
    /// Where the upstream nameservers are read from.
    pub resolv_conf: PathBuf,
}

impl DnsConfig {
    /// Kubernetes' defaults for everything but the address.
    pub fn new(listen: SocketAddr) -> DnsConfig {
        DnsConfig {
            listen,
            domain: DEFAULT_CLUSTER_DOMAIN.into(),
            ttl: records::DEFAULT_TTL,
            nameserver_ips: Vec::new(),
            resolv_conf: "/etc/resolv.conf".into(),
        }
    }
}

/// Why cluster DNS stopped.
#[derive(Debug, thiserror::Error)]
pub enum DnsError {
    /// The cluster domain is not a DNS name.
    #[error(transparent)]
    Zone(#[from] records::ZoneError),
    /// The address could not be bound.
    #[error(transparent)]
    Bind(#[from] server::BindError),
}

/// Serves cluster DNS until the task is dropped.
pub async fn run(client: kube::Client, config: DnsConfig) -> Result<(), DnsError> {
    bind(client, config).await?.await;
    Ok(())
}

/// Binds the server's sockets and starts its watches; the returned future serves until dropped.
pub async fn bind(
    client: kube::Client,
    config: DnsConfig,
) -> Result<impl std::future::Future<Output = ()> + Send + 'static, DnsError> {
    let zone = Zone::new(&config.domain, config.ttl, config.nameserver_ips.clone())?;
    // A host that already resolves through cluster DNS would send every unknown name round in
    // a loop (what CoreDNS's `loop` plugin guards against): never forward to ourselves.
    let upstreams: Vec<SocketAddr> = forward::nameservers(&config.resolv_conf)
        .into_iter()
        .filter(|u| {
            *u != config.listen
                && !(u.port() == config.listen.port() && config.nameserver_ips.contains(&u.ip()))
        })
        .collect();
    if upstreams.is_empty() {
        tracing::warn!(path = %config.resolv_conf.display(), "no upstream nameservers: names outside the cluster domain will fail");
    }
    let index: SharedIndex = Arc::new(RwLock::new(Arc::new(Index::default())));
    let handler = Handler::new(zone, index.clone(), Forwarder::new(&upstreams));
    let (mut server, bound) = server::serve(config.listen, handler).await?;
    tracing::info!(listen = %bound, domain = %config.domain, "serving cluster DNS");
    let changed = Arc::new(Notify::new());
    let services: Store<Service> =
        crate::reflect::spawn(Api::all(client.clone()), changed.clone(), trim_service);
    let slices: Store<EndpointSlice> =
        crate::reflect::spawn(Api::all(client), changed.clone(), trim_slice);
    Ok(async move {
        let refresh = async {
            loop {
                changed.notified().await;
                // Coalesce a burst of changes (a rollout) into one rebuild.
                tokio::time::sleep(Duration::from_millis(20)).await;
                let mut next = Index::build(&services.state(), &slices.state());
                next.serial = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map(|d| d.as_secs() as u32)
                    .unwrap_or_default();
                match index.write() {
                    Ok(mut current) => *current = Arc::new(next),
                    Err(poisoned) => *poisoned.into_inner() = Arc::new(next),
                }
            }
        };
        tokio::select! {
            () = refresh => {}
            done = server.block_until_done() => {
                if let Err(e) = done {
                    tracing::warn!(error = %e, "cluster DNS server stopped");
                }
            }
        }
    })
}

/// Keeps only what DNS reads of a Service.
fn trim_service(svc: &mut Service) {
    svc.metadata.managed_fields = None;
    svc.metadata.annotations = None;
    svc.status = None;
}

/// Keeps only what DNS reads of an EndpointSlice.
fn trim_slice(slice: &mut EndpointSlice) {
    slice.metadata.managed_fields = None;
    slice.metadata.annotations = None;
}
