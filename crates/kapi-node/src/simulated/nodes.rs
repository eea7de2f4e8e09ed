//! The simulated Nodes: names, what each reports about itself (a large fixed machine, kubelet's
//! labels plus [`LABEL`]), registration, and one heartbeat task for all of them that renews
//! their Leases every 10 s and rewrites their status every minute, as kubelet does for one.

use std::collections::BTreeMap;
use std::time::Duration;

use futures_util::{stream, StreamExt};
use k8s_openapi::api::core::v1::Node;

use super::addresses;
use super::pod_status::RUNTIME;
use crate::machine::{Capacity, SystemInfo};
use crate::registration::{self, NodeFacts, Readiness};

/// The label every simulated Node carries (kwok's nodes carry `type=kwok`), so that users and
/// benchmarks can select them, and the runtime can watch only its own.
pub const LABEL: &str = "kapi.dev/simulated";

/// How many API calls the heartbeat makes at once.
const CONCURRENCY: usize = 16;

/// How often each Node's status is rewritten (kapi's kubelet does the same).
const STATUS_EVERY: Duration = Duration::from_secs(60);

/// `prefix-0` .. `prefix-(count-1)`, as kwok names its nodes.
pub fn names(prefix: &str, count: usize) -> Vec<String> {
    (0..count).map(|i| format!("{prefix}-{i}")).collect()
}

/// What the `index`th simulated node says about itself: 32 CPUs, 256 GiB, `max_pods` pods, an
/// address of its own.
pub fn facts(name: &str, index: usize, kubelet_version: &str, max_pods: u32) -> NodeFacts {
    NodeFacts {
        name: name.to_string(),
        hostname: name.to_string(),
        ip: addresses::node_ip(index),
        kubelet_port: 10250,
        capacity: Capacity {
            cpu: 32,
            memory_kib: 256 * 1024 * 1024,
            ephemeral_storage: 100 * 1024 * 1024 * 1024,
            pods: max_pods,
        },
        system: SystemInfo {
            kernel_version: String::new(),
            os_image: "kapi simulated node".into(),
            machine_id: format!("simulated-{name}"),
            boot_id: format!("simulated-{name}"),
            architecture: "amd64",
        },
        kubelet_version: kubelet_version.to_string(),
    }
}

/// kubelet's labels and [`LABEL`].
pub fn labels(facts: &NodeFacts) -> BTreeMap<String, String> {
    let mut labels = registration::labels(facts);
    labels.insert(LABEL.into(), "true".into());
    labels
}

/// What a simulated node always reports: ready, with the simulated runtime.
fn readiness(facts: &NodeFacts) -> Readiness {
    Readiness::Ready {
        runtime_version: format!("{RUNTIME}://{}", facts.kubelet_version),
    }
}

/// Creates (or adopts) every Node, a few at a time; the first refusal stops it.
pub async fn register_all(
    client: &kube::Client,
    all: &[NodeFacts],
) -> Result<Vec<Node>, (String, kube::Error)> {
    let results: Vec<Result<Node, (String, kube::Error)>> = stream::iter(all)
        .map(|f| async move {
            registration::register_labelled(client, &f.name, &labels(f))
                .await
                .map_err(|e| (f.name.clone(), e))
        })
        .buffered(CONCURRENCY)
        .collect()
        .await;
    results.into_iter().collect()
}

/// Writes every Node's status, a few at a time, keeping the Node objects it gets back.
pub async fn update_statuses(client: &kube::Client, all: &[NodeFacts]) {
    stream::iter(all)
        .for_each_concurrent(CONCURRENCY, |f| async move {
            if let Err(e) = registration::update_status(client, f, &readiness(f)).await {
                tracing::warn!(node = %f.name, error = %e, "could not update the simulated node's status");
            }
        })
        .await;
}

/// Renews the Leases every 10 s and the statuses every minute, forever.
pub async fn heartbeat(client: kube::Client, all: Vec<NodeFacts>, nodes: Vec<Node>) {
    let mut since_status = Duration::ZERO;
    loop {
        stream::iter(&nodes)
            .for_each_concurrent(CONCURRENCY, |node| {
                let client = &client;
                async move {
                    if let Err(e) = registration::renew_lease(client, node).await {
                        tracing::warn!(node = ?node.metadata.name, error = %e, "could not renew the simulated node's lease");
                    }
                }
            })
            .await;
        tokio::time::sleep(registration::LEASE_RENEW).await;
        since_status += registration::LEASE_RENEW;
        if since_status >= STATUS_EVERY {
            update_statuses(&client, &all).await;
            since_status = Duration::ZERO;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_are_numbered_from_zero() {
        assert_eq!(names("kwok-node", 2), ["kwok-node-0", "kwok-node-1"]);
    }

    #[test]
    fn a_simulated_node_is_labelled_and_sized() {
        let f = facts("sim-3", 3, "v1.34.0", 110);
        let l = labels(&f);
        assert_eq!(l["kubernetes.io/hostname"], "sim-3");
        assert_eq!(l["kubernetes.io/os"], "linux");
        assert_eq!(l["kubernetes.io/arch"], "amd64");
        assert_eq!(l[LABEL], "true");
        let s = registration::status(&f, &readiness(&f), "T", &[]);
        assert_eq!(s["allocatable"]["cpu"], "32");
        assert_eq!(s["allocatable"]["memory"], "268435456Ki");
        assert_eq!(s["allocatable"]["pods"], "110");
        assert_eq!(s["addresses"][0]["address"], "198.18.0.4");
        assert_eq!(
            s["nodeInfo"]["containerRuntimeVersion"],
            "simulated://v1.34.0"
        );
        assert_eq!(s["conditions"][3]["status"], "True");
    }
}
