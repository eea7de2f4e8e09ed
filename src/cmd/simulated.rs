//! `kapi node --runtime=simulated --count N`: N kwok-style nodes whose pods run nothing, acting
//! with an admin's kubeconfig (one process writes every node's objects).

use anyhow::{bail, Context};

use crate::args::NodeCmdArgs;

/// Name prefix when neither `--name-prefix` nor `--node-name` is given.
const DEFAULT_PREFIX: &str = "kapi-sim-node";

/// Registers the nodes and serves their pods until interrupted.
pub fn run(args: NodeCmdArgs) -> anyhow::Result<()> {
    let Some(kubeconfig) = args.kubeconfig.clone() else {
        bail!("kapi node --runtime=simulated needs --kubeconfig FILE with rights over nodes, leases and pods/status (e.g. the server's admin.kubeconfig): one process acts for every simulated node");
    };
    if args.count == 0 {
        bail!("--count must be at least 1");
    }
    let prefix = args
        .name_prefix
        .clone()
        .or_else(|| args.node.node_name.clone())
        .unwrap_or_else(|| DEFAULT_PREFIX.to_string());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        let client = kapi_controllers::client_from_kubeconfig(&kubeconfig).await?;
        let mut config = kapi_node::simulated::SimulatedConfig::numbered(
            &prefix,
            args.count,
            kapi_server::version::GIT_VERSION,
        );
        config.max_pods = args.max_pods;
        eprintln!(
            "kapi node: starting {} simulated nodes, {prefix}-0 .. {prefix}-{}",
            args.count,
            args.count - 1
        );
        tokio::select! {
            result = kapi_node::simulated::run(client, config) => result.context("the simulated nodes stopped"),
            () = crate::cmd::server::shutdown_signal() => Ok(()),
        }
    })
}
