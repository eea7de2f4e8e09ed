//! The simulated runtime (`kapi node --runtime=simulated --count N`): N Nodes whose pods go
//! Running and Ready without running anything, so that the scheduler and the control plane can
//! be measured with hundreds of nodes and tens of thousands of pods on one machine. kwok is the
//! model: the Nodes look like kubelet's (labels, capacity, addresses, conditions, Leases), the
//! pods get the status kubelet would write for containers that started and are ready, and a
//! deleted pod is gone at once.
//!
//! One process acts for every node, so it needs a kubeconfig allowed to write Nodes, Leases in
//! `kube-node-lease` and any pod's status (an admin's, as kwok uses): the Node authorizer lets a
//! kubelet touch only its own node's objects.
//!
//! ```no_run
//! # async fn demo(client: kube::Client) -> Result<(), kapi_node::simulated::SimulatedError> {
//! let config = kapi_node::simulated::SimulatedConfig::numbered("kwok-node", 100, "v1.34.0");
//! kapi_node::simulated::run(client, config).await
//! # }
//! ```

pub mod addresses;
pub mod nodes;
pub mod pod_status;
pub mod pods;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Node;
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::Api;
use tokio::sync::Notify;

/// How many pod writes are in flight at once.
pub const DEFAULT_WORKERS: usize = 32;

/// How long the nodes wait for the cluster to give them pod ranges before they report Ready
/// without (their pods then get stand-in addresses).
const POD_CIDR_WAIT: Duration = Duration::from_secs(10);

/// The fleet to simulate.
#[derive(Debug, Clone)]
pub struct SimulatedConfig {
    /// The Nodes' names.
    pub names: Vec<String>,
    /// Reported as the kubelet version.
    pub kubelet_version: String,
    /// Pod writes in flight at once.
    pub workers: usize,
    /// Pods each node accepts (kubelet's `--max-pods`). Above 253 a node's /24 runs out and
    /// the rest of its pods get stand-in addresses.
    pub max_pods: u32,
}

impl SimulatedConfig {
    /// `count` nodes named `prefix-0` onward.
    pub fn numbered(prefix: &str, count: usize, kubelet_version: &str) -> SimulatedConfig {
        SimulatedConfig {
            names: nodes::names(prefix, count),
            kubelet_version: kubelet_version.to_string(),
            workers: DEFAULT_WORKERS,
            max_pods: crate::machine::MAX_PODS,
        }
    }
}

/// Failures that stop the simulated nodes.
#[derive(Debug, thiserror::Error)]
pub enum SimulatedError {
    /// The API server refused a Node.
    #[error("registering simulated node {name}: {source}")]
    Register {
        /// The node.
        name: String,
        /// Why.
        source: kube::Error,
    },
}

/// Registers the nodes and keeps them and their pods up until the task is dropped.
pub async fn run(client: kube::Client, config: SimulatedConfig) -> Result<(), SimulatedError> {
    let all: Vec<_> = config
        .names
        .iter()
        .enumerate()
        .map(|(i, name)| nodes::facts(name, i, &config.kubelet_version, config.max_pods))
        .collect();
    let registered = nodes::register_all(&client, &all)
        .await
        .map_err(|(name, source)| SimulatedError::Register { name, source })?;
    let node_store = crate::reflect::spawn_selected(
        Api::<Node>::all(client.clone()),
        watcher::Config::default().labels(&format!("{}=true", nodes::LABEL)),
        Arc::new(Notify::new()),
        |n: &mut Node| {
            n.metadata.managed_fields = None;
        },
    );
    // Pods bound before the nodes know their ranges would get stand-in addresses: report Ready
    // once the node IPAM controller has given every node one (or it seems not to run).
    let deadline = Instant::now() + POD_CIDR_WAIT;
    while Instant::now() < deadline
        && !config.names.iter().all(|n| {
            node_store
                .get(&ObjectRef::new(n))
                .is_some_and(|node| node.spec.as_ref().is_some_and(|s| s.pod_cidr.is_some()))
        })
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    nodes::update_statuses(&client, &all).await;
    let ctx = Arc::new(pods::Context {
        client: client.clone(),
        nodes: all
            .iter()
            .enumerate()
            .map(|(index, f)| (f.name.clone(), pods::SimNode { index, ip: f.ip }))
            .collect::<HashMap<_, _>>(),
        node_store,
        queue: crate::workqueue::WorkQueue::default(),
    });
    let mut tasks = tokio::task::JoinSet::new();
    tasks.spawn(nodes::heartbeat(client, all, registered));
    tasks.spawn(pods::run(ctx, config.workers));
    while tasks.join_next().await.is_some() {}
    Ok(())
}
