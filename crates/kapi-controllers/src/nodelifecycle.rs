//! The node lifecycle controller, as kube-controller-manager's: a node whose kubelet stops
//! renewing its Lease and posting status for longer than the grace period gets its conditions
//! set to Unknown ("Kubelet stopped posting node status.") and the `unreachable` taints; a node
//! that reports NotReady gets the `not-ready` taints. NoExecute taints evict the node's pods
//! once their toleration runs out (300 s by default, from the DefaultTolerationSeconds
//! admission), as the taint manager does; a node that comes back loses the taints.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Node, Pod, Taint};
use k8s_openapi::chrono::{DateTime, Utc};
use kube::api::{DeleteParams, ListParams, Patch, PatchParams};
use kube::Api;
use serde_json::json;

use crate::shared::{Context, Task};

/// Upstream's taint for a node whose kubelet is silent.
pub const UNREACHABLE: &str = "node.kubernetes.io/unreachable";
/// Upstream's taint for a node that reports NotReady.
pub const NOT_READY: &str = "node.kubernetes.io/not-ready";
/// How often nodes are looked at (`--node-monitor-period`).
const MONITOR_PERIOD: Duration = Duration::from_secs(5);

/// What the controller concludes about one node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    /// Heartbeats arrive and the node says Ready.
    Ready,
    /// Heartbeats arrive but the node says it is not ready.
    NotReady,
    /// No heartbeat within the grace period.
    Unreachable,
}

/// The node's health from its latest heartbeat (Lease renewal or status) and Ready condition.
pub fn health(
    node: &Node,
    lease_renewed: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    grace: Duration,
) -> Health {
    let conditions = node
        .status
        .as_ref()
        .and_then(|s| s.conditions.clone())
        .unwrap_or_default();
    let ready = conditions.iter().find(|c| c.type_ == "Ready");
    let status_beat = ready
        .and_then(|c| c.last_heartbeat_time.as_ref())
        .map(|t| t.0);
    let created = node.metadata.creation_timestamp.as_ref().map(|t| t.0);
    let last = [lease_renewed, status_beat, created]
        .into_iter()
        .flatten()
        .max();
    let silent =
        last.is_none_or(|t| now.signed_duration_since(t).to_std().unwrap_or_default() > grace);
    if silent {
        Health::Unreachable
    } else if ready.is_some_and(|c| c.status == "True") {
        Health::Ready
    } else {
        Health::NotReady
    }
}

/// The node's taints with the lifecycle taints set for `health`, or `None` when they already are.
pub fn taints_for(node: &Node, health: Health, now: DateTime<Utc>) -> Option<Vec<Taint>> {
    let current = node
        .spec
        .as_ref()
        .and_then(|s| s.taints.clone())
        .unwrap_or_default();
    let wanted_key = match health {
        Health::Ready => None,
        Health::NotReady => Some(NOT_READY),
        Health::Unreachable => Some(UNREACHABLE),
    };
    let mut next: Vec<Taint> = current
        .iter()
        .filter(|t| {
            (t.key != UNREACHABLE && t.key != NOT_READY) || Some(t.key.as_str()) == wanted_key
        })
        .cloned()
        .collect();
    if let Some(key) = wanted_key {
        for effect in ["NoSchedule", "NoExecute"] {
            if !next.iter().any(|t| t.key == key && t.effect == effect) {
                next.push(Taint {
                    key: key.into(),
                    effect: effect.into(),
                    time_added: (effect == "NoExecute")
                        .then_some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(now)),
                    value: None,
                });
            }
        }
    }
    (next != current).then_some(next)
}

/// When a pod on a node with `taint` (NoExecute) must go: `None` when it tolerates it forever.
pub fn eviction_time(pod: &Pod, taint: &Taint) -> Option<DateTime<Utc>> {
    let added = taint.time_added.as_ref().map_or_else(Utc::now, |t| t.0);
    let tolerations = pod
        .spec
        .as_ref()
        .and_then(|s| s.tolerations.clone())
        .unwrap_or_default();
    let matching: Vec<_> = tolerations
        .iter()
        .filter(|t| crate::scheduler::filters::tolerates(t, taint))
        .collect();
    if matching.is_empty() {
        return Some(added);
    }
    if matching.iter().any(|t| t.toleration_seconds.is_none()) {
        return None;
    }
    let secs = matching
        .iter()
        .filter_map(|t| t.toleration_seconds)
        .min()
        .unwrap_or(0)
        .max(0);
    Some(added + k8s_openapi::chrono::Duration::seconds(secs))
}

/// Watches node health until the task is dropped; `grace` is `--node-monitor-grace-period`.
pub fn run_with_grace(ctx: Arc<Context>, grace: Duration) -> Task {
    Box::pin(async move {
        loop {
            if let Err(e) = pass(&ctx.client, grace).await {
                tracing::warn!(error = %e, "node lifecycle pass failed");
            }
            tokio::time::sleep(MONITOR_PERIOD).await;
        }
    })
}

/// Upstream's default grace period.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(40);

/// Runs with the grace period from the controller options.
pub fn run(ctx: Arc<Context>) -> Task {
    let grace = ctx.node_monitor_grace_period;
    run_with_grace(ctx, grace)
}

async fn pass(client: &kube::Client, grace: Duration) -> Result<(), kube::Error> {
    let nodes: Api<Node> = Api::all(client.clone());
    let leases: Api<Lease> = Api::namespaced(client.clone(), "kube-node-lease");
    let renewed: HashMap<String, DateTime<Utc>> = leases
        .list(&ListParams::default())
        .await?
        .items
        .into_iter()
        .filter_map(|l| {
            let t = l.spec.as_ref()?.renew_time.as_ref()?.0;
            Some((l.metadata.name?, t))
        })
        .collect();
    let now = Utc::now();
    for node in nodes.list(&ListParams::default()).await?.items {
        let name = node.metadata.name.clone().unwrap_or_default();
        let h = health(&node, renewed.get(&name).copied(), now, grace);
        if h == Health::Unreachable {
            mark_unknown(&nodes, &node, now).await?;
        }
        let taints = match taints_for(&node, h, now) {
            Some(t) => {
                let patch = json!({"spec": {"taints": t}});
                nodes
                    .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                    .await?;
                t
            }
            None => node
                .spec
                .as_ref()
                .and_then(|s| s.taints.clone())
                .unwrap_or_default(),
        };
        let no_execute: Vec<&Taint> = taints
            .iter()
            .filter(|t| t.effect == "NoExecute" && (t.key == UNREACHABLE || t.key == NOT_READY))
            .collect();
        if !no_execute.is_empty() {
            evict(client, &name, &no_execute, now).await?;
        }
    }
    Ok(())
}

/// Sets the node's conditions to Unknown, as upstream does for a silent kubelet.
async fn mark_unknown(
    nodes: &Api<Node>,
    node: &Node,
    now: DateTime<Utc>,
) -> Result<(), kube::Error> {
    let conditions = node
        .status
        .as_ref()
        .and_then(|s| s.conditions.clone())
        .unwrap_or_default();
    if conditions.iter().all(|c| c.status == "Unknown") && !conditions.is_empty() {
        return Ok(());
    }
    let stamp = now.format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let updated: Vec<serde_json::Value> = if conditions.is_empty() {
        ["Ready", "MemoryPressure", "DiskPressure", "PIDPressure"]
            .iter()
            .map(|kind| {
                json!({
                    "type": kind, "status": "Unknown", "reason": "NodeStatusNeverUpdated",
                    "message": "Kubelet never posted node status.",
                    "lastHeartbeatTime": node.metadata.creation_timestamp, "lastTransitionTime": stamp,
                })
            })
            .collect()
    } else {
        conditions
            .iter()
            .map(|c| {
                json!({
                    "type": c.type_, "status": "Unknown", "reason": "NodeStatusUnknown",
                    "message": "Kubelet stopped posting node status.",
                    "lastHeartbeatTime": c.last_heartbeat_time, "lastTransitionTime": stamp,
                })
            })
            .collect()
    };
    let patch = json!({"status": {"conditions": updated}});
    nodes
        .patch_status(
            node.metadata.name.as_deref().unwrap_or_default(),
            &PatchParams::default(),
            &Patch::Strategic(patch),
        )
        .await
        .map(|_| ())
}

/// Deletes the node's pods whose tolerations of its NoExecute taints have run out.
async fn evict(
    client: &kube::Client,
    node: &str,
    taints: &[&Taint],
    now: DateTime<Utc>,
) -> Result<(), kube::Error> {
    let pods: Api<Pod> = Api::all(client.clone());
    let on_node = pods
        .list(&ListParams::default().fields(&format!("spec.nodeName={node}")))
        .await?;
    for pod in on_node.items {
        if pod.metadata.deletion_timestamp.is_some() {
            continue;
        }
        let due = taints.iter().filter_map(|t| eviction_time(&pod, t)).min();
        if due.is_some_and(|d| d <= now) {
            let ns = pod.metadata.namespace.clone().unwrap_or_default();
            let name = pod.metadata.name.clone().unwrap_or_default();
            tracing::info!(pod = %format!("{ns}/{name}"), node, "evicting a pod from an unavailable node");
            let api: Api<Pod> = Api::namespaced(client.clone(), &ns);
            match api.delete(&name, &DeleteParams::default()).await {
                Ok(_) => {}
                Err(kube::Error::Api(e)) if e.code == 404 => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(ready: &str, beat_secs_ago: i64, now: DateTime<Utc>) -> Node {
        let beat = (now - k8s_openapi::chrono::Duration::seconds(beat_secs_ago)).to_rfc3339();
        serde_json::from_value(json!({
            "metadata": {"name": "n1", "creationTimestamp": "2020-01-01T00:00:00Z"},
            "status": {"conditions": [{"type": "Ready", "status": ready, "lastHeartbeatTime": beat, "lastTransitionTime": beat}]}
        }))
        .unwrap()
    }

    #[test]
    fn silence_beyond_the_grace_period_is_unreachable() {
        let now = Utc::now();
        let grace = Duration::from_secs(40);
        assert_eq!(
            health(&node("True", 10, now), None, now, grace),
            Health::Ready
        );
        assert_eq!(
            health(&node("False", 10, now), None, now, grace),
            Health::NotReady
        );
        assert_eq!(
            health(&node("True", 100, now), None, now, grace),
            Health::Unreachable
        );
        let recent_lease = now - k8s_openapi::chrono::Duration::seconds(5);
        assert_eq!(
            health(&node("True", 100, now), Some(recent_lease), now, grace),
            Health::Ready
        );
    }

    #[test]
    fn taints_follow_health_and_leave_when_it_recovers() {
        let now = Utc::now();
        let n = node("True", 100, now);
        let t = taints_for(&n, Health::Unreachable, now).unwrap();
        assert_eq!(t.len(), 2);
        assert!(t.iter().all(|t| t.key == UNREACHABLE));
        let mut tainted = n.clone();
        tainted.spec = Some(k8s_openapi::api::core::v1::NodeSpec {
            taints: Some(t),
            ..Default::default()
        });
        assert!(taints_for(&tainted, Health::Unreachable, now).is_none());
        assert_eq!(taints_for(&tainted, Health::Ready, now).unwrap(), vec![]);
    }

    #[test]
    fn tolerations_decide_when_pods_are_evicted() {
        let now = Utc::now();
        let taint = Taint {
            key: UNREACHABLE.into(),
            effect: "NoExecute".into(),
            time_added: Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(now)),
            value: None,
        };
        let pod = |tolerations: serde_json::Value| -> Pod {
            serde_json::from_value(json!({"spec": {"containers": [], "tolerations": tolerations}}))
                .unwrap()
        };
        assert_eq!(eviction_time(&pod(json!([])), &taint), Some(now));
        let five = pod(
            json!([{"key": UNREACHABLE, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}]),
        );
        assert_eq!(
            eviction_time(&five, &taint),
            Some(now + k8s_openapi::chrono::Duration::seconds(300))
        );
        let forever = pod(json!([{"operator": "Exists"}]));
        assert_eq!(eviction_time(&forever, &taint), None);
    }
}
