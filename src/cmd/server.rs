//! `kapi server`.

use anyhow::Context;

use crate::args::ServerArgs;

/// Starts the server and serves until interrupted.
pub fn run(args: ServerArgs) -> anyhow::Result<()> {
    raise_open_file_limit();
    kapi_node::allocator::cap_arenas(kapi_node::allocator::DEFAULT_ARENA_MAX);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async {
        let mut config = kapi_server::Config::new(args.data_dir.clone(), args.listen);
        config.token_auth_file = args.token_auth_file.clone();
        config.anonymous_auth = args.anonymous_auth;
        config.service_account_issuer = args.service_account_issuer.clone();
        config.audit_log_path = args.audit_log_path.clone();
        config.audit_policy_file = args.audit_policy_file.clone();
        config.controllers = args.controllers.clone();
        config.legacy_token_secrets = args.legacy_token_secrets;
        config.limits = kapi_server::filters::flowcontrol::Limits {
            max_requests_inflight: args.max_requests_inflight,
            max_mutating_requests_inflight: args.max_mutating_requests_inflight,
            priority_and_fairness: args.enable_priority_and_fairness,
        };
        config.advertise_address = args.advertise_address;
        config.node_monitor_grace_period = args.node_monitor_grace_period;
        config.service_lb_pool = args.node.service_lb_pool.clone();
        config.hpa_sync_period = args.horizontal_pod_autoscaler_sync_period;
        config.etcd = (!args.etcd_servers.is_empty()).then(|| kapi_store::etcd::EtcdConfig {
            endpoints: args.etcd_servers.clone(),
            ca_file: args.etcd_cafile.clone(),
            cert_file: args.etcd_certfile.clone(),
            key_file: args.etcd_keyfile.clone(),
            prefix: args.etcd_prefix.clone(),
            compaction_interval: args.etcd_compaction_interval,
        });
        config.node = (!args.disable_node).then(|| kapi_server::NodeSettings {
            name: args.node.node_name.clone(),
            runtime_endpoint: args.node.container_runtime_endpoint.clone(),
            registry_config: args.node.registry_config.clone(),
            pause_image: args.node.pod_infra_container_image.clone(),
            node_ip: args.node.node_ip,
            kubelet_port: args.node.kubelet_port,
            cluster_domain: args.node.cluster_domain.clone(),
            cluster_dns: args.node.cluster_dns.clone(),
            cluster_dns_port: args.node.cluster_dns_port,
        });
        let running = kapi_server::start(config)
            .await
            .with_context(|| format!("starting the server in {}", args.data_dir.display()))?;
        let kubeconfig =
            std::fs::canonicalize(&running.kubeconfig).unwrap_or(running.kubeconfig.clone());
        eprintln!(
            "kapi server listening on https://{}\nexport KUBECONFIG={}",
            running.addr,
            kubeconfig.display()
        );
        shutdown_signal().await;
        Ok(())
    })
}

pub async fn shutdown_signal() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

/// Raises the soft limit on open files to the hard limit, as kube-apiserver's hosts usually
/// do: every client connection and watch holds a descriptor, and 1,024 is soon reached.
fn raise_open_file_limit() {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let current = getrlimit(Resource::Nofile);
    if current.current == current.maximum {
        return;
    }
    let raised = Rlimit {
        current: current.maximum,
        maximum: current.maximum,
    };
    if let Err(e) = setrlimit(Resource::Nofile, raised) {
        tracing::warn!(error = %e, "could not raise the open-file limit");
    }
}
