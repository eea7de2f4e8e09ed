//! `kapi node`: this machine as a node of a cluster elsewhere, with a kubeconfig or a bootstrap
//! token (kubelet's TLS bootstrap).

use anyhow::{bail, Context};
use base64::Engine;

use crate::args::{NodeCmdArgs, NodeRuntime};

/// Joins (when needed) and runs the node until interrupted.
pub fn run(args: NodeCmdArgs) -> anyhow::Result<()> {
    if args.runtime == NodeRuntime::Simulated {
        return crate::cmd::simulated::run(args);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        let data = args.data_dir.clone();
        std::fs::create_dir_all(&data).with_context(|| format!("creating {}", data.display()))?;
        let name = args.node.node_name.clone().unwrap_or_else(kapi_node::machine::hostname);
        let joined = data.join("kubelet.kubeconfig");
        let kubeconfig = match &args.kubeconfig {
            Some(path) => path.clone(),
            None if joined.exists() => joined,
            None => {
                let (Some(server), Some(token), Some(ca)) = (&args.server, &args.token, &args.certificate_authority) else {
                    bail!("kapi node needs --kubeconfig FILE, or --server URL --token TOKEN --certificate-authority CA.crt to join (kapi token create prints them)");
                };
                let ca_pem = std::fs::read_to_string(ca).with_context(|| format!("reading {}", ca.display()))?;
                eprintln!("joining {server} as node {name} with a bootstrap token");
                kapi_node::join::bootstrap(server, token, &ca_pem, &name, &joined)
                    .await
                    .context("joining with the bootstrap token")?;
                joined
            }
        };
        let ca_pem = cluster_ca(&kubeconfig)?;
        let client = kapi_controllers::client_from_kubeconfig(&kubeconfig).await?;
        let tls = kapi_node::KubeletTls {
            ca_pem,
            cert_pem: String::new(),
            key_pem: String::new(),
        };
        let mut config = kapi_node::NodeConfig::new(name.clone(), data.clone(), tls);
        config.runtime_endpoint = args.node.container_runtime_endpoint.clone();
        config.registry_config = args.node.registry_config.clone();
        config.pause_image = args.node.pod_infra_container_image.clone();
        config.node_ip = args.node.node_ip;
        config.kubelet_port = args.node.kubelet_port;
        config.cluster_domain = args.node.cluster_domain.clone();
        config.cluster_dns = args.node.cluster_dns.clone();
        config.cluster_dns_port = args.node.cluster_dns_port;
        config.service_lb_pool = args.node.service_lb_pool.clone();
        config.kubelet_version = kapi_server::version::GIT_VERSION.to_string();
        eprintln!("kapi node {name} running (data in {})", data.display());
        tokio::select! {
            result = kapi_node::run(client, config) => result.context("the node stopped"),
            () = crate::cmd::server::shutdown_signal() => Ok(()),
        }
    })
}

/// The CA of the kubeconfig's current cluster (PEM), which the kubelet API trusts for callers.
fn cluster_ca(path: &std::path::Path) -> anyhow::Result<String> {
    let kc = kube::config::Kubeconfig::read_from(path)
        .with_context(|| format!("reading {}", path.display()))?;
    let context = kc
        .contexts
        .iter()
        .find(|c| Some(&c.name) == kc.current_context.as_ref())
        .and_then(|c| c.context.as_ref())
        .map(|c| c.cluster.clone());
    let cluster = kc
        .clusters
        .iter()
        .find(|c| Some(&c.name) == context.as_ref())
        .or_else(|| kc.clusters.first())
        .and_then(|c| c.cluster.as_ref())
        .context("the kubeconfig names no cluster")?;
    if let Some(data) = &cluster.certificate_authority_data {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(data)
            .context("certificate-authority-data is not base64")?;
        return String::from_utf8(bytes).context("certificate-authority-data is not PEM");
    }
    if let Some(file) = &cluster.certificate_authority {
        return std::fs::read_to_string(file).with_context(|| format!("reading {file}"));
    }
    bail!("the kubeconfig has no certificate authority for its cluster")
}
