//! The scheduler: binds each pending pod (no `spec.nodeName`, `schedulerName` default) to the
//! best node that fits it, as kube-scheduler does: filters ([`filters`]), then scores
//! ([`score`]), then a `pods/binding`. Decisions are made one pod at a time over the cache plus
//! the pods already placed ([`assumed`]); the bindings and their Scheduled events then run
//! concurrently (at most [`BINDERS`]), so a slow round trip does not hold up the next decision. A pod that fits nowhere gets PodScheduled=False with
//! reason Unschedulable and upstream's "0/N nodes are available: ..." message, and is tried
//! again whenever nodes or pods change.
//!
//! It runs with its own identity (`system:kube-scheduler`) behind the `kube-scheduler` Lease.

pub mod assumed;
pub mod filters;
pub mod score;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Patch, PatchParams, PostParams};
use kube::runtime::reflector::Store;
use kube::Api;
use serde_json::json;
use tokio::sync::{mpsc, Notify, OwnedSemaphorePermit, Semaphore};

use crate::leader::LeaderElector;
use assumed::{Assumed, NodePods};
use filters::{NodeInfo, Unfit, Usage};

/// The scheduler's name in `spec.schedulerName` and in events.
pub const SCHEDULER_NAME: &str = "default-scheduler";
/// Bindings in flight at once: decisions stay serial, the API round trips overlap.
const BINDERS: usize = 32;
/// How long a pod whose binding failed waits before it is scheduled again.
const BIND_RETRY: Duration = Duration::from_millis(500);

/// Schedules pods while this process holds the scheduler Lease.
pub async fn run(client: kube::Client, identity: String) {
    let elector =
        LeaderElector::for_lease(client.clone(), kapi_auth::rbac::SCHEDULER_LEASE, identity);
    loop {
        elector.acquire().await;
        tokio::select! {
            () = elector.hold() => tracing::warn!("lost the scheduler lease"),
            () = schedule(client.clone()) => {}
        }
    }
}

/// Keeps only what scheduling reads (placement, requests, ports, phase), so that the cache of
/// every pod in the cluster stays small.
fn trim_pod(pod: &mut Pod) {
    pod.metadata.managed_fields = None;
    pod.metadata.annotations = None;
    pod.metadata.owner_references = None;
    if let Some(spec) = pod.spec.as_mut() {
        spec.volumes = None;
        for c in spec
            .containers
            .iter_mut()
            .chain(spec.init_containers.iter_mut().flatten())
        {
            c.command = None;
            c.args = None;
            c.env = None;
            c.env_from = None;
            c.volume_mounts = None;
            c.liveness_probe = None;
            c.readiness_probe = None;
            c.startup_probe = None;
            c.lifecycle = None;
            c.security_context = None;
        }
    }
    if let Some(status) = pod.status.as_mut() {
        *status = k8s_openapi::api::core::v1::PodStatus {
            phase: status.phase.take(),
            ..Default::default()
        };
    }
}

fn pending(pod: &Pod) -> bool {
    let spec = pod.spec.as_ref();
    pod.metadata.deletion_timestamp.is_none()
        && spec
            .and_then(|s| s.node_name.as_deref())
            .is_none_or(str::is_empty)
        && spec
            .and_then(|s| s.scheduler_name.as_deref())
            .is_none_or(|n| n.is_empty() || n == SCHEDULER_NAME)
        && !matches!(
            pod.status.as_ref().and_then(|s| s.phase.as_deref()),
            Some("Succeeded" | "Failed")
        )
}

fn finished(pod: &Pod) -> bool {
    matches!(
        pod.status.as_ref().and_then(|s| s.phase.as_deref()),
        Some("Succeeded" | "Failed")
    )
}

async fn schedule(client: kube::Client) {
    let changed = Arc::new(Notify::new());
    let nodes: Store<Node> = kapi_node::reflect::spawn(
        Api::all(client.clone()),
        changed.clone(),
        crate::shared::trim_node,
    );
    let pods: Store<Pod> =
        kapi_node::reflect::spawn(Api::all(client.clone()), changed.clone(), trim_pod);
    let _ = nodes.wait_until_ready().await;
    let _ = pods.wait_until_ready().await;
    let recorder = kapi_node::events::Recorder::new(client.clone(), SCHEDULER_NAME, String::new());
    let mut reported: HashMap<String, String> = HashMap::new();
    let mut assumed = Assumed::default();
    let binders = Arc::new(Semaphore::new(BINDERS));
    // Uids whose binding failed, told back by the binding tasks.
    let (failed_tx, mut failed_rx) = mpsc::unbounded_channel::<String>();
    loop {
        let node_list = nodes.state();
        let all_pods = pods.state();
        while let Ok(uid) = failed_rx.try_recv() {
            assumed.forget(&uid);
        }
        assumed.settle(&all_pods);
        let mut bound = assumed.by_node(&all_pods);
        let mut queue: Vec<Arc<Pod>> = all_pods
            .iter()
            .filter(|p| {
                pending(p) && !assumed.contains(p.metadata.uid.as_deref().unwrap_or_default())
            })
            .cloned()
            .collect();
        queue.sort_by(|a, b| {
            a.metadata
                .creation_timestamp
                .cmp(&b.metadata.creation_timestamp)
        });
        let mut retry_soon = false;
        for pod in queue {
            let uid = pod.metadata.uid.clone().unwrap_or_default();
            match place(&pod, &node_list, &bound) {
                Ok(node) => {
                    reported.remove(&uid);
                    assumed.assume(uid.clone(), node.clone(), pod.clone());
                    bound.entry(node.clone()).or_default().push(pod.clone());
                    // Waits only when BINDERS bindings are already in flight.
                    let Ok(permit) = binders.clone().acquire_owned().await else {
                        return;
                    };
                    let binding = Binding {
                        client: client.clone(),
                        recorder: recorder.clone(),
                        failed: failed_tx.clone(),
                        changed: changed.clone(),
                    };
                    tokio::spawn(binding.run(pod, node, uid, permit));
                }
                Err(message) => {
                    if reported.get(&uid) != Some(&message) {
                        if mark_unschedulable(&client, &pod, &message).await.is_ok() {
                            recorder
                                .pod(
                                    &pod,
                                    None,
                                    kapi_node::events::EventType::Warning,
                                    "FailedScheduling",
                                    &message,
                                )
                                .await;
                            reported.insert(uid, message);
                        } else {
                            retry_soon = true;
                        }
                    }
                }
            }
        }
        let wait = if retry_soon {
            Duration::from_millis(500)
        } else {
            Duration::from_secs(10)
        };
        let _ = tokio::time::timeout(wait, changed.notified()).await;
        // Let a burst of changes settle into one pass.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// One binding cycle, run beside the decision loop and the other bindings.
struct Binding {
    client: kube::Client,
    recorder: kapi_node::events::Recorder,
    failed: mpsc::UnboundedSender<String>,
    changed: Arc<Notify>,
}

impl Binding {
    /// Binds `pod` to `node` and records Scheduled; on failure, after a pause (as upstream's
    /// backoff), un-assumes the pod so that the next pass schedules it again.
    async fn run(self, pod: Arc<Pod>, node: String, uid: String, permit: OwnedSemaphorePermit) {
        match bind(&self.client, &pod, &node).await {
            Ok(()) => {
                drop(permit);
                let message = format!(
                    "Successfully assigned {}/{} to {node}",
                    pod.metadata.namespace.as_deref().unwrap_or_default(),
                    pod.metadata.name.as_deref().unwrap_or_default()
                );
                self.recorder
                    .pod(
                        &pod,
                        None,
                        kapi_node::events::EventType::Normal,
                        "Scheduled",
                        &message,
                    )
                    .await;
            }
            Err(e) => {
                drop(permit);
                tracing::debug!(error = %e, node, "binding failed; retrying");
                tokio::time::sleep(BIND_RETRY).await;
                let _ = self.failed.send(uid);
                self.changed.notify_one();
            }
        }
    }
}

/// The best node for `pod`, or upstream's explanation of why there is none.
pub fn place(
    pod: &Pod,
    nodes: &[Arc<Node>],
    bound: &BTreeMap<String, NodePods>,
) -> Result<String, String> {
    if nodes.is_empty() {
        return Err("no nodes available to schedule pods".into());
    }
    let mut best: Option<(i64, String)> = None;
    let mut reasons: BTreeMap<Unfit, usize> = BTreeMap::new();
    let mut preemption_helps = 0;
    for node in nodes {
        let name = node.metadata.name.clone().unwrap_or_default();
        let empty = Usage::default();
        let (pods, usage) = match bound.get(&name) {
            Some(b) => (b.pods.iter().map(AsRef::as_ref).collect(), &b.usage),
            None => (Vec::new(), &empty),
        };
        let info = NodeInfo { node, pods, usage };
        let unfit = filters::check(pod, &info);
        if unfit.is_empty() {
            let s = score::score(pod, &info);
            if best
                .as_ref()
                .is_none_or(|(b, n)| s > *b || (s == *b && name < *n))
            {
                best = Some((s, name));
            }
        } else {
            if unfit.iter().any(Unfit::preemption_may_help) {
                preemption_helps += 1;
            }
            for u in unfit {
                *reasons.entry(u).or_default() += 1;
            }
        }
    }
    if let Some((_, name)) = best {
        return Ok(name);
    }
    Err(unschedulable_message(
        nodes.len(),
        &reasons,
        preemption_helps,
    ))
}

/// "0/N nodes are available: 1 Insufficient cpu, 2 node(s) ... preemption: ...", reasons
/// sorted as upstream sorts them (by text).
pub fn unschedulable_message(
    total: usize,
    reasons: &BTreeMap<Unfit, usize>,
    preemption_helps: usize,
) -> String {
    let mut parts: Vec<String> = reasons
        .iter()
        .map(|(u, n)| format!("{n} {}", u.reason()))
        .collect();
    parts.sort();
    let mut preemption = Vec::new();
    if preemption_helps > 0 {
        preemption.push(format!(
            "{preemption_helps} No preemption victims found for incoming pod"
        ));
    }
    if total > preemption_helps {
        preemption.push(format!(
            "{} Preemption is not helpful for scheduling",
            total - preemption_helps
        ));
    }
    preemption.sort();
    format!(
        "0/{total} nodes are available: {}. preemption: 0/{total} nodes are available: {}.",
        parts.join(", "),
        preemption.join(", ")
    )
}

async fn bind(client: &kube::Client, pod: &Pod, node: &str) -> Result<(), kube::Error> {
    let ns = pod
        .metadata
        .namespace
        .clone()
        .unwrap_or_else(|| "default".into());
    let name = pod.metadata.name.clone().unwrap_or_default();
    let body = json!({
        "apiVersion": "v1", "kind": "Binding",
        "metadata": {"name": name, "namespace": ns, "uid": pod.metadata.uid},
        "target": {"apiVersion": "v1", "kind": "Node", "name": node},
    });
    let api: Api<Pod> = Api::namespaced(client.clone(), &ns);
    let bytes = serde_json::to_vec(&body).map_err(kube::Error::SerdeError)?;
    api.create_subresource::<serde_json::Value>("binding", &name, &PostParams::default(), bytes)
        .await
        .map(|_| ())
}

async fn mark_unschedulable(
    client: &kube::Client,
    pod: &Pod,
    message: &str,
) -> Result<(), kube::Error> {
    let ns = pod
        .metadata
        .namespace
        .clone()
        .unwrap_or_else(|| "default".into());
    let api: Api<Pod> = Api::namespaced(client.clone(), &ns);
    let now = chrono_now();
    let patch = json!({"status": {"conditions": [{
        "type": "PodScheduled", "status": "False", "reason": "Unschedulable",
        "message": message, "lastProbeTime": null, "lastTransitionTime": now,
    }]}});
    api.patch_status(
        pod.metadata.name.as_deref().unwrap_or_default(),
        &PatchParams::default(),
        &Patch::Strategic(patch),
    )
    .await
    .map(|_| ())
}

fn chrono_now() -> String {
    k8s_openapi::chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_reads_as_upstreams() {
        let mut reasons = BTreeMap::new();
        reasons.insert(Unfit::Insufficient("cpu".into()), 1);
        reasons.insert(Unfit::Taint("{node.kubernetes.io/not-ready: }".into()), 2);
        assert_eq!(
            unschedulable_message(3, &reasons, 1),
            "0/3 nodes are available: 1 Insufficient cpu, 2 node(s) had untolerated taint {node.kubernetes.io/not-ready: }. preemption: 0/3 nodes are available: 1 No preemption victims found for incoming pod, 2 Preemption is not helpful for scheduling."
        );
        let none: Vec<Arc<Node>> = vec![];
        let pod: Pod = serde_json::from_value(json!({"spec": {"containers": []}})).unwrap();
        assert_eq!(
            place(&pod, &none, &BTreeMap::new()).unwrap_err(),
            "no nodes available to schedule pods"
        );
    }
}
