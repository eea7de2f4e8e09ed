//! kapi's controllers, written as ordinary API clients.
//!
//! Like kube-controller-manager, every controller here talks to the API server over HTTPS with
//! its own identity, through kube-rs (`kube` and `kube-runtime`): list and watch, a work queue
//! per controller, retries with exponential backoff. Nothing here reaches into the server's
//! storage — the crate does not depend on `kapi-server` or `kapi-store` — so the controllers
//! exercise the same API every other client uses, and could run in another process.
//!
//! The controllers, by the names `--controllers` takes (upstream's names; the newer
//! `…-controller` spellings are accepted too):
//! - `serviceaccount`: a `default` ServiceAccount in every active namespace.
//! - `root-ca-cert-publisher`: the `kube-root-ca.crt` ConfigMap in every active namespace.
//! - `serviceaccount-token` (alias `tokens`): fills Secrets of type
//!   `kubernetes.io/service-account-token` and removes them with their account; optionally
//!   creates one per account, as clusters before 1.24 did.
//! - `csrsigning`: signs approved CertificateSigningRequests for the
//!   `kubernetes.io/kube-apiserver-client` signer with the cluster CA.
//! - `csrapproving`: approves node client certificate requests (bootstrap tokens, renewals)
//!   and nodes' requests for serving certificates of their own names.
//! - `csrcleaner`: deletes CertificateSigningRequests that are finished or stale.
//! - `nodeipam`: gives every Node a podCIDR from the cluster CIDR.
//! - `nodelifecycle`: marks silent nodes Unknown, taints unavailable nodes, evicts their pods.
//! - `clusterdns`: the nodes (each serves cluster DNS) as the `kube-dns` Service's endpoints.
//! - `servicelb`: the ingress of LoadBalancer Services without a class: the nodes' addresses,
//!   or one address each from `--service-lb-pool`.
//! - `endpointslice`: EndpointSlices for every Service with a selector, from its pods'
//!   addresses and readiness.
//! - `endpoint`: the same as core/v1 Endpoints, for clients that still read them.
//! - `replicaset`: keeps each ReplicaSet's pods in number (creates from the template, deletes
//!   the least useful surplus), adopts and releases pods by selector, and counts them in status.
//! - `replicationcontroller`: the same for core/v1 ReplicationControllers.
//! - `deployment`: rolls Deployments out through ReplicaSets named by pod-template hash
//!   (RollingUpdate and Recreate), with revisions, history cleanup, pause and progress
//!   conditions, so `kubectl rollout` and `kubectl scale` work.
//! - `statefulset`: pods with stable names `<set>-<ordinal>` (from `spec.ordinals.start`)
//!   and their own PersistentVolumeClaims (kept, or deleted with the set or the member as the
//!   retention policy says), created in order (OrderedReady) or all at once (Parallel),
//!   updated from the highest ordinal down to the partition within `maxUnavailable`;
//!   template history as ControllerRevisions, so `kubectl rollout status|history|undo` work.
//! - `daemonset`: one pod per eligible node (selector, affinity, taints against tolerations),
//!   placed by the scheduler through node affinity, rolled with RollingUpdate
//!   (`maxUnavailable`, or `maxSurge` pods beside the old ones) or OnDelete; ControllerRevisions
//!   as for StatefulSets.
//! - `job`: runs each Job's pods to completion — completions and parallelism, Indexed mode,
//!   backoffLimit, activeDeadlineSeconds, podFailurePolicy, suspend — counting finished pods
//!   through the `batch.kubernetes.io/job-tracking` finalizer, with upstream's conditions so
//!   `kubectl wait --for=condition=complete` works.
//! - `ttl-after-finished`: deletes finished Jobs `ttlSecondsAfterFinished` after they finished.
//! - `cronjob`: starts a Job at each time of a CronJob's schedule, with its concurrency policy,
//!   starting deadline and history limits.
//! - `horizontalpodautoscaling`: scales Deployments, ReplicaSets, StatefulSets and
//!   ReplicationControllers through their scale subresource to keep their pods' CPU or memory
//!   (from `metrics.k8s.io`) at each HorizontalPodAutoscaler's target, within its bounds and
//!   `behavior`.
//! - `service-cidr-controller`: the finalizer and Ready condition of ServiceCIDRs; one being
//!   deleted stays while Service addresses allocated from it lie in no other.
//! - `garbagecollector`: deletes objects whose owners are all gone, and carries out `orphan`
//!   and `foregroundDeletion` finalizers, across every resource the server serves.
//!
//! The scheduler ([`scheduler::run`]) is here too, but runs with its own identity
//! (`system:kube-scheduler`) and Lease, as kube-scheduler does.
//!
//! [`run`] starts them behind leader election on a coordination.k8s.io Lease, so that of several
//! servers sharing one store only one runs controllers at a time.
//!
//! ```no_run
//! # async fn demo() -> Result<(), kapi_controllers::ControllerError> {
//! use std::path::Path;
//! let client = kapi_controllers::client_from_kubeconfig(Path::new("kapi-data/controller-manager.kubeconfig")).await?;
//! let options = kapi_controllers::ControllerOptions {
//!     data_dir: "kapi-data".into(),
//!     enabled: kapi_controllers::parse_controllers("*,-csrcleaner")?,
//!     legacy_token_secrets: false,
//!     node_monitor_grace_period: kapi_controllers::nodelifecycle::DEFAULT_GRACE,
//!     service_lb_pool: None,
//!     hpa_sync_period: kapi_controllers::hpa::DEFAULT_SYNC_PERIOD,
//! };
//! kapi_controllers::run(client, options).await
//! # }
//! ```

pub mod client;
pub mod clusterdns;
pub mod cronjob;
mod csrapproving;
mod csrcleaner;
mod csrsigning;
pub mod daemonset;
pub mod deployment;
pub mod endpointslice;
pub mod garbagecollector;
pub mod history;
pub mod hpa;
pub mod job;
pub mod leader;
pub mod nodeipam;
pub mod nodelifecycle;
mod ownership;
mod podstate;
pub mod replicaset;
mod rootca;
pub mod scheduler;
mod serviceaccounts;
mod servicecidrs;
pub mod servicelb;
mod shared;
pub mod statefulset;
mod tokens;
pub mod ttlafterfinished;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use kapi_auth::serviceaccount::TokenError;
use tokio::task::JoinSet;

pub use leader::{LeaderElector, LEASE_NAME, LEASE_NAMESPACE};

/// The ServiceAccount controller's name.
pub const SERVICEACCOUNT: &str = "serviceaccount";
/// The root CA publisher's name.
pub const ROOT_CA_CERT_PUBLISHER: &str = "root-ca-cert-publisher";
/// The token controller's name.
pub const SERVICEACCOUNT_TOKEN: &str = "serviceaccount-token";
/// The CSR signer's name.
pub const CSR_SIGNING: &str = "csrsigning";
/// The CSR approver's name.
pub const CSR_APPROVING: &str = "csrapproving";
/// The CSR cleaner's name.
pub const CSR_CLEANER: &str = "csrcleaner";
/// The node IPAM controller's name.
pub const NODE_IPAM: &str = "nodeipam";
/// The node lifecycle controller's name.
pub const NODE_LIFECYCLE: &str = "nodelifecycle";
/// The EndpointSlice controller's name.
pub const ENDPOINTSLICE: &str = "endpointslice";
/// The Endpoints controller's name.
pub const ENDPOINT: &str = "endpoint";
/// The cluster DNS endpoints controller's name.
pub const CLUSTER_DNS: &str = "clusterdns";
/// The service load balancer's name.
pub const SERVICE_LB: &str = "servicelb";
/// The ReplicaSet controller's name.
pub const REPLICASET: &str = "replicaset";
/// The ReplicationController controller's name.
pub const REPLICATIONCONTROLLER: &str = "replicationcontroller";
/// The Deployment controller's name.
pub const DEPLOYMENT: &str = "deployment";
/// The StatefulSet controller's name.
pub const STATEFULSET: &str = "statefulset";
/// The DaemonSet controller's name.
pub const DAEMONSET: &str = "daemonset";
/// The Job controller's name.
pub const JOB: &str = "job";
/// The TTL-after-finished controller's name.
pub const TTL_AFTER_FINISHED: &str = "ttl-after-finished";
/// The CronJob controller's name.
pub const CRONJOB: &str = "cronjob";
/// The HorizontalPodAutoscaler controller's name.
pub const HORIZONTAL_POD_AUTOSCALING: &str = "horizontalpodautoscaling";
/// The garbage collector's name.
pub const GARBAGE_COLLECTOR: &str = "garbagecollector";
/// The ServiceCIDR controller's name (upstream has no shorter one).
pub const SERVICE_CIDR: &str = "service-cidr-controller";
/// The scheduler's name in `--controllers` (it runs apart, with its own identity).
pub const SCHEDULER: &str = "scheduler";

/// Every controller, with the other spellings accepted for it. All are on under `*`.
const CONTROLLERS: &[(&str, &[&str])] = &[
    (SERVICEACCOUNT, &["serviceaccount-controller"]),
    (
        ROOT_CA_CERT_PUBLISHER,
        &["root-ca-certificate-publisher-controller"],
    ),
    (
        SERVICEACCOUNT_TOKEN,
        &["serviceaccount-token-controller", "tokens"],
    ),
    (
        CSR_SIGNING,
        &["certificatesigningrequest-signing-controller"],
    ),
    (
        CSR_CLEANER,
        &["certificatesigningrequest-cleaner-controller"],
    ),
    (
        CSR_APPROVING,
        &["certificatesigningrequest-approving-controller"],
    ),
    (NODE_IPAM, &["node-ipam-controller"]),
    (NODE_LIFECYCLE, &["node-lifecycle-controller"]),
    (ENDPOINTSLICE, &["endpointslice-controller"]),
    (ENDPOINT, &["endpoints-controller"]),
    (SERVICE_LB, &["service-lb-controller"]),
    (CLUSTER_DNS, &[]),
    (REPLICASET, &["replicaset-controller"]),
    (REPLICATIONCONTROLLER, &["replicationcontroller-controller"]),
    (DEPLOYMENT, &["deployment-controller"]),
    (STATEFULSET, &["statefulset-controller"]),
    (DAEMONSET, &["daemonset-controller"]),
    (JOB, &["job-controller"]),
    (TTL_AFTER_FINISHED, &["ttl-after-finished-controller"]),
    (CRONJOB, &["cronjob-controller"]),
    (
        HORIZONTAL_POD_AUTOSCALING,
        &["horizontal-pod-autoscaler-controller"],
    ),
    (GARBAGE_COLLECTOR, &["garbage-collector-controller"]),
    (SERVICE_CIDR, &[]),
    (SCHEDULER, &["kube-scheduler"]),
];

/// Why the controllers could not start.
#[derive(Debug, thiserror::Error)]
pub enum ControllerError {
    /// `--controllers` named a controller that does not exist.
    #[error("unknown controller {name:?} in --controllers (known: *, {known})")]
    UnknownController {
        /// The name as given.
        name: String,
        /// The names that exist, comma-separated.
        known: String,
    },
    /// The kubeconfig could not be read or understood.
    #[error("kubeconfig {path}: {source}")]
    Kubeconfig {
        /// The file.
        path: PathBuf,
        /// Why.
        source: kube::config::KubeconfigError,
    },
    /// The API client could not be built.
    #[error("API client: {0}")]
    Client(#[from] kube::Error),
    /// A file in the data dir could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The service-account signing key could not be loaded.
    #[error("service-account keys: {0}")]
    Keys(#[from] TokenError),
    /// The cluster CA could not be loaded.
    #[error("cluster CA: {0}")]
    Pki(#[from] kapi_auth::pki::PkiError),
}

/// What [`run`] starts and with which inputs.
#[derive(Debug, Clone)]
pub struct ControllerOptions {
    /// The server's data dir: the cluster CA (`ca.crt`, and `ca.key` for the CSR signer) and
    /// the service-account signing key live there.
    pub data_dir: PathBuf,
    /// The `--controllers` items as [`parse_controllers`] returns them: `*`, `NAME`, `-NAME`.
    pub enabled: Vec<String>,
    /// Also create a token Secret for every ServiceAccount, as Kubernetes did before 1.24.
    pub legacy_token_secrets: bool,
    /// How long a node may be silent before it is Unknown (`--node-monitor-grace-period`).
    pub node_monitor_grace_period: std::time::Duration,
    /// The built-in load balancer's address pool; `None`: the nodes' own addresses.
    pub service_lb_pool: Option<kapi_node::proxy::LbPool>,
    /// How often each HorizontalPodAutoscaler is reconciled
    /// (`--horizontal-pod-autoscaler-sync-period`).
    pub hpa_sync_period: std::time::Duration,
}

impl ControllerOptions {
    /// Every controller, as `--controllers=*` asks.
    pub fn all(data_dir: PathBuf) -> Self {
        Self {
            data_dir,
            enabled: vec!["*".into()],
            legacy_token_secrets: false,
            node_monitor_grace_period: nodelifecycle::DEFAULT_GRACE,
            service_lb_pool: None,
            hpa_sync_period: hpa::DEFAULT_SYNC_PERIOD,
        }
    }

    /// Whether the controller `name` runs: the first item naming it (`NAME` or `-NAME`)
    /// decides; otherwise it runs if `*` is present, as kube-controller-manager decides.
    pub fn is_enabled(&self, name: &str) -> bool {
        let mut star = false;
        for item in &self.enabled {
            if item == name {
                return true;
            }
            if item.strip_prefix('-') == Some(name) {
                return false;
            }
            star |= item == "*";
        }
        star
    }
}

/// Splits a `--controllers` value (`*,-tokens`) into items, with every alias replaced by the
/// controller's name, refusing names that match no controller.
pub fn parse_controllers(value: &str) -> Result<Vec<String>, ControllerError> {
    let mut items = Vec::new();
    for raw in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        if raw == "*" {
            items.push(raw.to_string());
            continue;
        }
        let (minus, name) = match raw.strip_prefix('-') {
            Some(name) => ("-", name),
            None => ("", raw),
        };
        let canonical = CONTROLLERS
            .iter()
            .find(|(n, aliases)| *n == name || aliases.contains(&name))
            .map(|(n, _)| *n)
            .ok_or_else(|| ControllerError::UnknownController {
                name: raw.to_string(),
                known: CONTROLLERS
                    .iter()
                    .map(|(n, _)| *n)
                    .collect::<Vec<_>>()
                    .join(", "),
            })?;
        items.push(format!("{minus}{canonical}"));
    }
    Ok(items)
}

/// Builds an API client from a kubeconfig file (its current context).
pub async fn client_from_kubeconfig(path: &Path) -> Result<kube::Client, ControllerError> {
    Ok(kube::Client::try_from(config_from_kubeconfig(path).await?)?)
}

/// Like [`client_from_kubeconfig`], but every request and watch shares one HTTP/2 connection
/// ([`client::multiplexed`]): for the clients `kapi server` runs against itself.
pub async fn multiplexed_client_from_kubeconfig(
    path: &Path,
) -> Result<kube::Client, ControllerError> {
    Ok(client::multiplexed(config_from_kubeconfig(path).await?)?)
}

async fn config_from_kubeconfig(path: &Path) -> Result<kube::Config, ControllerError> {
    let err = |source| ControllerError::Kubeconfig {
        path: path.to_path_buf(),
        source,
    };
    let kubeconfig = kube::config::Kubeconfig::read_from(path).map_err(err)?;
    kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
        .await
        .map_err(err)
}

/// Starts every enabled controller once this process holds the controller-manager Lease, and
/// runs until the process ends. Losing the Lease stops the controllers until it is won again.
/// Returns early only if the inputs in the data dir cannot be loaded.
pub async fn run(client: kube::Client, options: ControllerOptions) -> Result<(), ControllerError> {
    let ctx = Arc::new(shared::Context::load(client.clone(), &options)?);
    let elector = LeaderElector::new(client, leader::identity(&options.data_dir)?);
    loop {
        elector.acquire().await;
        tracing::info!(
            identity = elector.identity(),
            "leading; starting controllers"
        );
        let mut tasks = JoinSet::new();
        let started: &[(&str, shared::Start)] = &[
            (SERVICEACCOUNT, serviceaccounts::run),
            (ROOT_CA_CERT_PUBLISHER, rootca::run),
            (SERVICEACCOUNT_TOKEN, tokens::run),
            (CSR_SIGNING, csrsigning::run),
            (CSR_CLEANER, csrcleaner::run),
            (CSR_APPROVING, csrapproving::run),
            (NODE_IPAM, nodeipam::run),
            (NODE_LIFECYCLE, nodelifecycle::run),
            (ENDPOINTSLICE, endpointslice::run),
            (ENDPOINT, endpointslice::run_endpoints),
            (SERVICE_LB, servicelb::run),
            (CLUSTER_DNS, clusterdns::run),
            (REPLICASET, replicaset::run),
            (
                REPLICATIONCONTROLLER,
                replicaset::run_replication_controllers,
            ),
            (DEPLOYMENT, deployment::run),
            (STATEFULSET, statefulset::run),
            (DAEMONSET, daemonset::run),
            (JOB, job::run),
            (TTL_AFTER_FINISHED, ttlafterfinished::run),
            (CRONJOB, cronjob::run),
            (HORIZONTAL_POD_AUTOSCALING, hpa::run),
            (GARBAGE_COLLECTOR, garbagecollector::run),
            (SERVICE_CIDR, servicecidrs::run),
        ];
        for (name, start) in started {
            if options.is_enabled(name) {
                tasks.spawn(start(ctx.clone()));
            } else {
                tracing::info!(controller = name, "disabled");
            }
        }
        tokio::select! {
            () = elector.hold() => {
                tracing::warn!("lost the controller-manager lease; stopping controllers");
            }
            Some(ended) = tasks.join_next(), if !tasks.is_empty() => {
                tracing::error!(?ended, "a controller stopped; restarting all");
            }
        }
        tasks.abort_all();
        while tasks.join_next().await.is_some() {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(value: &str) -> ControllerOptions {
        ControllerOptions {
            enabled: parse_controllers(value).unwrap(),
            ..ControllerOptions::all(PathBuf::new())
        }
    }

    #[test]
    fn star_enables_all_and_minus_removes_one() {
        let o = options("*,-tokens");
        assert_eq!(o.enabled, ["*", "-serviceaccount-token"]);
        assert!(o.is_enabled(SERVICEACCOUNT));
        assert!(o.is_enabled(CSR_SIGNING));
        assert!(!o.is_enabled(SERVICEACCOUNT_TOKEN));
    }

    #[test]
    fn names_alone_enable_only_themselves() {
        let o = options("serviceaccount, root-ca-certificate-publisher-controller");
        assert!(o.is_enabled(SERVICEACCOUNT));
        assert!(o.is_enabled(ROOT_CA_CERT_PUBLISHER));
        assert!(!o.is_enabled(CSR_SIGNING));
        assert!(!options("").is_enabled(SERVICEACCOUNT));
    }

    #[test]
    fn first_mention_wins() {
        assert!(options("csrsigning,-csrsigning").is_enabled(CSR_SIGNING));
        assert!(!options("-csrsigning,*").is_enabled(CSR_SIGNING));
    }

    #[test]
    fn workload_controllers_take_upstreams_newer_names_too() {
        let o = options("*,-garbage-collector-controller,-replicationcontroller-controller");
        assert_eq!(
            o.enabled,
            ["*", "-garbagecollector", "-replicationcontroller"]
        );
        assert!(!o.is_enabled(GARBAGE_COLLECTOR));
        assert!(!o.is_enabled(REPLICATIONCONTROLLER));
        assert!(o.is_enabled(REPLICASET) && o.is_enabled(DEPLOYMENT));
        let o = options("deployment-controller,replicaset-controller");
        assert_eq!(o.enabled, ["deployment", "replicaset"]);
    }

    #[test]
    fn set_controllers_take_upstreams_newer_names_too() {
        let o = options("statefulset-controller,daemonset-controller");
        assert_eq!(o.enabled, ["statefulset", "daemonset"]);
        assert!(o.is_enabled(STATEFULSET) && o.is_enabled(DAEMONSET));
        assert!(!options("*,-daemonset").is_enabled(DAEMONSET));
    }

    #[test]
    fn batch_controllers_take_upstreams_newer_names_too() {
        let o = options("job-controller,ttl-after-finished-controller,-cronjob-controller");
        assert_eq!(o.enabled, ["job", "ttl-after-finished", "-cronjob"]);
        assert!(o.is_enabled(JOB) && o.is_enabled(TTL_AFTER_FINISHED));
        assert!(!o.is_enabled(CRONJOB));
    }

    #[test]
    fn the_autoscaler_takes_upstreams_newer_name_too() {
        let o = options("*,-horizontal-pod-autoscaler-controller");
        assert_eq!(o.enabled, ["*", "-horizontalpodautoscaling"]);
        assert!(!o.is_enabled(HORIZONTAL_POD_AUTOSCALING));
    }

    #[test]
    fn unknown_names_are_refused() {
        let err = parse_controllers("*,-nope").unwrap_err();
        assert!(err.to_string().contains("\"-nope\""), "{err}");
    }
}
