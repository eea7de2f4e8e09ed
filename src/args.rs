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
    Server(ServerArgs),
    /// Print a kubeconfig.
    Kubeconfig(KubeconfigArgs),
    /// Serve the API on local plain HTTP with your credentials, as `kubectl proxy`.
    Proxy(crate::cmd::proxy::ProxyArgs),
    /// Load-test a running server and print throughput and latency percentiles.
    Bench(crate::cmd::bench::BenchArgs),
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
}

/// Flags of `kapi kubeconfig`.
#[derive(Debug, clap::Args)]
pub struct KubeconfigArgs {
    /// Which kubeconfig: `admin`.
    pub kind: String,
    /// The server's data dir.
    #[arg(long, env = "KAPI_DATA_DIR", default_value = "kapi-data")]
    pub data_dir: PathBuf,
}
