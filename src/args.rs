//! Command-line flags, as typed values.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// A Kubernetes control plane in one binary.
#[derive(Debug, Parser)]
#[command(name = "kapi", version, about)]
pub struct Cli {
    /// What to run.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the API server (HTTPS only).
    Server(Box<ServerArgs>),
    /// Print a kubeconfig.
    Kubeconfig(KubeconfigArgs),
    /// Serve the API on local plain HTTP with your credentials, as `kubectl proxy`.
    Proxy(crate::cmd::proxy::ProxyArgs),
    /// Load-test a running server and print throughput and latency percentiles.
    Bench(crate::cmd::bench::BenchArgs),
    /// Run this machine as a node of a cluster (a kubelet over CRI), joining with a bootstrap
    /// token or a kubeconfig.
    Node(NodeCmdArgs),
    /// Bootstrap tokens for joining nodes.
    Token(TokenArgs),
    /// Back up the embedded store while the server runs, or make a data dir from a backup.
    Snapshot(SnapshotArgs),
}

/// `kapi snapshot`.
#[derive(Debug, clap::Args)]
pub struct SnapshotArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: SnapshotCommand,
}

/// `kapi snapshot` subcommands.
#[derive(Debug, Subcommand)]
pub enum SnapshotCommand {
    /// Write a consistent copy of DATA/kapi.db to FILE (a new file, mode 0600); the server
    /// may be running.
    Save {
        /// The backup file to create.
        file: PathBuf,
        /// The server's data dir.
        #[arg(long, env = "KAPI_DATA_DIR", default_value = "kapi-data")]
        data_dir: PathBuf,
    },
    /// Make DIR/kapi.db from a backup, in a data dir that has no store yet.
    Restore {
        /// The backup file.
        file: PathBuf,
        /// The data dir to restore into (created if missing).
        #[arg(long)]
        data_dir: PathBuf,
    },
}

/// Flags of `kapi node`.
#[derive(Debug, clap::Args)]
pub struct NodeCmdArgs {
    /// Where the node keeps its state (containerd, pods, its kubeconfig once joined).
    #[arg(long, env = "KAPI_NODE_DATA_DIR", default_value = "kapi-node-data")]
    pub data_dir: PathBuf,
    /// Run with these credentials (identity system:node:NAME) instead of joining.
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
    /// The API server to join, e.g. https://10.0.0.5:6443.
    #[arg(long)]
    pub server: Option<String>,
    /// A bootstrap token (`kapi token create`).
    #[arg(long)]
    pub token: Option<String>,
    /// The cluster CA certificate the server's certificate must chain to.
    #[arg(long)]
    pub certificate_authority: Option<PathBuf>,
    /// `cri` runs pods through a container runtime; `simulated` registers `--count` nodes whose
    /// pods go Running and Ready without running anything (as kwok), to measure the control
    /// plane at scale. The simulated nodes act for many nodes at once, so they need
    /// `--kubeconfig` with rights over nodes, leases and pods/status, e.g. the server's
    /// admin.kubeconfig.
    #[arg(long, value_enum, default_value = "cri")]
    pub runtime: NodeRuntime,
    /// How many simulated nodes (`--runtime=simulated`).
    #[arg(long, default_value_t = 1)]
    pub count: usize,
    /// Simulated nodes are named PREFIX-0, PREFIX-1, ... (default: --node-name, else
    /// `kapi-sim-node`).
    #[arg(long)]
    pub name_prefix: Option<String>,
    /// Pods each simulated node accepts, as kubelet's flag (above 253 the pods beyond a node's
    /// /24 podCIDR get stand-in addresses).
    #[arg(long, default_value_t = 110)]
    pub max_pods: u32,
    /// The node's flags.
    #[command(flatten)]
    pub node: NodeArgs,
}

/// What runs the pods of `kapi node`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum NodeRuntime {
    /// A CRI runtime (containerd).
    Cri,
    /// Nothing: pods are reported running (kwok-style simulated nodes).
    Simulated,
}

/// Flags of `kapi token`.
#[derive(Debug, clap::Args)]
pub struct TokenArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: TokenCommand,
    /// The server's data dir (its admin.kubeconfig is used when no other is found).
    #[arg(
        long,
        env = "KAPI_DATA_DIR",
        default_value = "kapi-data",
        global = true
    )]
    pub data_dir: PathBuf,
    /// The kubeconfig to create the token with (default: KUBECONFIG, then the data dir's admin).
    #[arg(long, global = true)]
    pub kubeconfig: Option<PathBuf>,
}

/// `kapi token` subcommands.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a bootstrap token and print it.
    Create {
        /// How long it may be used, e.g. 24h (0: forever).
        #[arg(long, default_value = "24h", value_parser = parse_seconds_u64)]
        ttl: u64,
        /// A description kept with it.
        #[arg(long)]
        description: Option<String>,
    },
}

/// Flags of `kapi server`.
#[derive(Debug, clap::Args)]
pub struct ServerArgs {
    /// Where certificates, keys, the store and admin.kubeconfig live.
    #[arg(long, env = "KAPI_DATA_DIR", default_value = "kapi-data")]
    pub data_dir: PathBuf,
    /// The HTTPS listen address.
    #[arg(long, default_value = "127.0.0.1:6443")]
    pub listen: SocketAddr,
    /// A static token file: CSV lines `token,user,uid,"group1,group2"`.
    #[arg(long)]
    pub token_auth_file: Option<PathBuf>,
    /// Serve requests without credentials as `system:anonymous` (RBAC grants it health and
    /// version only).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub anonymous_auth: bool,
    /// The `iss` of service-account tokens, and their default audience.
    #[arg(long, default_value = "https://kubernetes.default.svc.cluster.local")]
    pub service_account_issuer: String,
    /// Write an audit.k8s.io/v1 Event per request to this file, as JSON lines.
    #[arg(long)]
    pub audit_log_path: Option<PathBuf>,
    /// An audit.k8s.io/v1 Policy choosing the level per request (default: Metadata for all).
    #[arg(long)]
    pub audit_policy_file: Option<PathBuf>,
    /// Controllers to run, as kube-controller-manager's flag: `*` for all, `NAME` to enable,
    /// `-NAME` to disable, e.g. `*,-garbagecollector` (upstream's names: deployment, replicaset,
    /// statefulset, daemonset, job, cronjob, endpointslice, servicelb, scheduler, ...; an
    /// unknown name is refused with the full list).
    #[arg(long, default_value = "*")]
    pub controllers: String,
    /// Create a `<account>-token-<random>` Secret for every ServiceAccount and list it in its
    /// `.secrets`, as Kubernetes did before 1.24.
    #[arg(long)]
    pub legacy_token_secrets: bool,
    /// Requests that may run at once: with priority and fairness, this plus the mutating limit
    /// is the server's concurrency, shared among priority levels; without it, the limit on
    /// reads (0: none).
    #[arg(long, default_value_t = 400)]
    pub max_requests_inflight: usize,
    /// Writes that may run at once without priority and fairness (0: none); with it, added to
    /// `--max-requests-inflight`.
    #[arg(long, default_value_t = 200)]
    pub max_mutating_requests_inflight: usize,
    /// Share the server's concurrency among FlowSchemas and priority levels, with fair queuing
    /// (API Priority and Fairness); `false` falls back to the two max-in-flight limits.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub enable_priority_and_fairness: bool,
    /// The address the `kubernetes` Service sends pods to (default: the listen address, or this
    /// machine's primary address when listening on all).
    #[arg(long)]
    pub advertise_address: Option<std::net::IpAddr>,
    /// Do not run this machine as a node: a pure API server.
    #[arg(long)]
    pub disable_node: bool,
    /// How long a node may stop posting status before it is marked Unknown and tainted
    /// unreachable, e.g. 40s (kube-controller-manager's flag).
    #[arg(long, default_value = "40s", value_parser = parse_seconds)]
    pub node_monitor_grace_period: std::time::Duration,
    /// How often each HorizontalPodAutoscaler is reconciled, e.g. 15s (kube-controller-manager's
    /// flag).
    #[arg(long, default_value = "15s", value_parser = parse_seconds)]
    pub horizontal_pod_autoscaler_sync_period: std::time::Duration,
    /// etcd client URLs, comma-separated (`https://10.0.0.5:2379,...`): store the cluster in
    /// etcd instead of the embedded database, so that several servers can share it.
    #[arg(long, value_delimiter = ',')]
    pub etcd_servers: Vec<String>,
    /// The CA that signed the etcd members' certificates.
    #[arg(long)]
    pub etcd_cafile: Option<PathBuf>,
    /// A client certificate for etcd.
    #[arg(long, requires = "etcd_keyfile")]
    pub etcd_certfile: Option<PathBuf>,
    /// The key of `--etcd-certfile`.
    #[arg(long, requires = "etcd_certfile")]
    pub etcd_keyfile: Option<PathBuf>,
    /// The prefix of every key kapi writes to etcd.
    #[arg(long, default_value = "/registry")]
    pub etcd_prefix: String,
    /// How often the etcd history is compacted, e.g. 5m (0: never; another server or an
    /// operator does it).
    #[arg(long, default_value = "5m", value_parser = parse_seconds)]
    pub etcd_compaction_interval: std::time::Duration,
    /// The node's flags.
    #[command(flatten)]
    pub node: NodeArgs,
}

/// Flags of the node agent (`kapi node`, and the node embedded in `kapi server`).
#[derive(Debug, Clone, clap::Args)]
pub struct NodeArgs {
    /// The Node's name (default: the host name).
    #[arg(long)]
    pub node_name: Option<String>,
    /// A running CRI runtime, e.g. unix:///run/containerd/containerd.sock (default: start
    /// containerd under DATA/containerd).
    #[arg(long)]
    pub container_runtime_endpoint: Option<String>,
    /// Registry mirrors and credentials in k3s's registries.yaml format (default:
    /// DATA/registries.yaml when present).
    #[arg(long)]
    pub registry_config: Option<PathBuf>,
    /// The pod sandbox image.
    #[arg(long, default_value = "registry.k8s.io/pause:3.10")]
    pub pod_infra_container_image: String,
    /// The node's InternalIP (default: the advertise address).
    #[arg(long)]
    pub node_ip: Option<std::net::IpAddr>,
    /// The kubelet API's port.
    #[arg(long, default_value_t = 10250)]
    pub kubelet_port: u16,
    /// The cluster domain: served by the node's DNS server and searched by pods.
    #[arg(long, default_value = "cluster.local")]
    pub cluster_domain: String,
    /// Pods' nameservers with dnsPolicy ClusterFirst (the kube-dns Service's ClusterIP, the
    /// tenth address of the Service range), comma-separated.
    #[arg(long, default_value = "10.96.0.10", value_delimiter = ',')]
    pub cluster_dns: Vec<std::net::IpAddr>,
    /// The port the node serves cluster DNS on at its InternalIP (0: serve none).
    #[arg(long, default_value_t = 53)]
    pub cluster_dns_port: u16,
    /// Addresses for LoadBalancer Services, one each (IPv4 CIDRs, ranges A-B or addresses,
    /// comma-separated), held by the node with the Service's endpoints as MetalLB's layer-2
    /// mode does. Without it, LoadBalancer Services get the nodes' own addresses. Give every
    /// node and the server the same pool.
    #[arg(long)]
    pub service_lb_pool: Option<kapi_node::proxy::LbPool>,
}

/// Flags of `kapi kubeconfig`.
#[derive(Debug, clap::Args)]
pub struct KubeconfigArgs {
    /// Which credentials.
    #[command(subcommand)]
    pub kind: KubeconfigKind,
    /// The server's data dir (for `admin`).
    #[arg(
        long,
        env = "KAPI_DATA_DIR",
        default_value = "kapi-data",
        global = true
    )]
    pub data_dir: PathBuf,
    /// The kubeconfig whose credentials create the new ones (default: KUBECONFIG, then
    /// ~/.kube/config, then the data dir's admin.kubeconfig).
    #[arg(long, global = true)]
    pub kubeconfig: Option<PathBuf>,
}

/// The kinds of kubeconfig `kapi kubeconfig` prints.
#[derive(Debug, Subcommand)]
pub enum KubeconfigKind {
    /// The admin kubeconfig (client certificate in group system:masters).
    Admin,
    /// A user with a client certificate signed through the CSR API and approved by you.
    User {
        /// The user name (the certificate's CN).
        name: String,
        /// Groups (the certificate's O), repeatable.
        #[arg(long = "group")]
        groups: Vec<String>,
        /// How long the certificate is valid, e.g. 24h or 30d (default: one year).
        #[arg(long)]
        duration: Option<String>,
    },
    /// A service account with a bound token from the TokenRequest API.
    Serviceaccount {
        /// NAMESPACE/NAME.
        account: String,
        /// Token lifetime, e.g. 1h, 24h (default 1h; at least 10m).
        #[arg(long)]
        duration: Option<String>,
    },
}

/// A duration as `90s`, `10m` or `1h` (a bare number is seconds).
fn parse_seconds(s: &str) -> Result<std::time::Duration, String> {
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num.parse().map_err(|_| format!("invalid duration {s:?}"))?;
    let mult = match unit {
        "s" | "" => 1,
        "m" => 60,
        "h" => 3600,
        other => {
            return Err(format!(
                "invalid duration {s:?}: unknown unit {other:?} (use s, m or h)"
            ))
        }
    };
    Ok(std::time::Duration::from_secs(n * mult))
}

/// [`parse_seconds`] as whole seconds.
fn parse_seconds_u64(s: &str) -> Result<u64, String> {
    parse_seconds(s).map(|d| d.as_secs())
}
