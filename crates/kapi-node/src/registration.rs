//! The Node object: registration, status (capacity, addresses, system info, conditions) and the
//! Lease heartbeat in `kube-node-lease`, as kubelet keeps them.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Node;
use kube::api::{Patch, PatchParams, PostParams};
use kube::Api;
use serde_json::{json, Value};

use crate::machine::{Capacity, SystemInfo};

/// How often the Lease is renewed (kubelet: a quarter of its 40 s duration).
pub const LEASE_RENEW: Duration = Duration::from_secs(10);
/// The Lease's duration.
pub const LEASE_SECONDS: i32 = 40;
/// The namespace of node Leases.
pub const LEASE_NAMESPACE: &str = "kube-node-lease";
/// The field manager of the node's writes.
pub const MANAGER: &str = "kubelet";

/// Everything the node says about itself.
#[derive(Debug, Clone)]
pub struct NodeFacts {
    /// The Node's name.
    pub name: String,
    /// The host name.
    pub hostname: String,
    /// Its InternalIP.
    pub ip: IpAddr,
    /// The kubelet API port.
    pub kubelet_port: u16,
    /// Machine resources.
    pub capacity: Capacity,
    /// System facts.
    pub system: SystemInfo,
    /// kapi's version, reported as the kubelet's.
    pub kubelet_version: String,
}

/// Whether the node can run pods, and if not why (kubelet's Ready condition).
#[derive(Debug, Clone, PartialEq)]
pub enum Readiness {
    /// Runtime and network are up.
    Ready {
        /// `containerd://1.6.20`.
        runtime_version: String,
    },
    /// Something is missing: the message says what.
    NotReady {
        /// `containerd://…` when a runtime answered.
        runtime_version: String,
        /// Why, as kubelet words it.
        message: String,
    },
}

impl Readiness {
    fn runtime_version(&self) -> &str {
        match self {
            Readiness::Ready { runtime_version }
            | Readiness::NotReady {
                runtime_version, ..
            } => runtime_version,
        }
    }
}

/// Labels kubelet sets on its Node.
pub fn labels(facts: &NodeFacts) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("kubernetes.io/hostname".to_string(), facts.hostname.clone()),
        ("kubernetes.io/os".to_string(), "linux".to_string()),
        (
            "kubernetes.io/arch".to_string(),
            facts.system.architecture.to_string(),
        ),
        ("beta.kubernetes.io/os".to_string(), "linux".to_string()),
        (
            "beta.kubernetes.io/arch".to_string(),
            facts.system.architecture.to_string(),
        ),
    ])
}

/// The resources the node offers (capacity and allocatable are the same: kapi reserves none).
pub fn resources(c: &Capacity) -> Value {
    json!({
        "cpu": c.cpu.to_string(),
        "memory": format!("{}Ki", c.memory_kib),
        "pods": c.pods.to_string(),
        "ephemeral-storage": c.ephemeral_storage.to_string(),
        "hugepages-1Gi": "0",
        "hugepages-2Mi": "0",
    })
}

/// The four conditions kubelet reports, with upstream's reasons and messages.
pub fn conditions(readiness: &Readiness, now: &str, previous: &[Value]) -> Value {
    let (ready_status, ready_reason, ready_message) = match readiness {
        Readiness::Ready { .. } => ("True", "KubeletReady", "kubelet is posting ready status"),
        Readiness::NotReady { message, .. } => ("False", "KubeletNotReady", message.as_str()),
    };
    let rows = [
        (
            "MemoryPressure",
            "False",
            "KubeletHasSufficientMemory",
            "kubelet has sufficient memory available",
        ),
        (
            "DiskPressure",
            "False",
            "KubeletHasNoDiskPressure",
            "kubelet has no disk pressure",
        ),
        (
            "PIDPressure",
            "False",
            "KubeletHasSufficientPID",
            "kubelet has sufficient PID available",
        ),
        ("Ready", ready_status, ready_reason, ready_message),
    ];
    Value::Array(
        rows.iter()
            .map(|(kind, status, reason, message)| {
                let transition = previous
                    .iter()
                    .find(|c| c["type"] == *kind && c["status"] == *status)
                    .and_then(|c| c["lastTransitionTime"].as_str())
                    .unwrap_or(now);
                json!({
                    "type": kind, "status": status, "reason": reason, "message": message,
                    "lastHeartbeatTime": now, "lastTransitionTime": transition,
                })
            })
            .collect(),
    )
}

/// The status the node writes.
pub fn status(facts: &NodeFacts, readiness: &Readiness, now: &str, previous: &[Value]) -> Value {
    let r = resources(&facts.capacity);
    json!({
        "capacity": r,
        "allocatable": r,
        "addresses": [
            {"type": "InternalIP", "address": facts.ip.to_string()},
            {"type": "Hostname", "address": facts.hostname},
        ],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": facts.kubelet_port}},
        "nodeInfo": {
            "machineID": facts.system.machine_id,
            "systemUUID": facts.system.machine_id,
            "bootID": facts.system.boot_id,
            "kernelVersion": facts.system.kernel_version,
            "osImage": facts.system.os_image,
            "containerRuntimeVersion": readiness.runtime_version(),
            "kubeletVersion": facts.kubelet_version,
            "kubeProxyVersion": "",
            "operatingSystem": "linux",
            "architecture": facts.system.architecture,
        },
        "conditions": conditions(readiness, now, previous),
    })
}

/// Creates the Node if it does not exist (an existing one keeps its spec, taints included),
/// and merges kubelet's labels into it.
pub async fn register(client: &kube::Client, facts: &NodeFacts) -> Result<Node, kube::Error> {
    register_labelled(client, &facts.name, &labels(facts)).await
}

/// As [`register`], with the labels given (the simulated nodes add their own to kubelet's).
pub async fn register_labelled(
    client: &kube::Client,
    name: &str,
    labels: &BTreeMap<String, String>,
) -> Result<Node, kube::Error> {
    let nodes: Api<Node> = Api::all(client.clone());
    let body: Node = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": labels},
    }))
    .map_err(kube::Error::SerdeError)?;
    match nodes.create(&PostParams::default(), &body).await {
        Ok(node) => Ok(node),
        Err(kube::Error::Api(e)) if e.code == 409 => {
            let patch = json!({"metadata": {"labels": labels}});
            nodes
                .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
        }
        Err(e) => Err(e),
    }
}

/// Writes the Node's status.
pub async fn update_status(
    client: &kube::Client,
    facts: &NodeFacts,
    readiness: &Readiness,
) -> Result<Node, kube::Error> {
    let nodes: Api<Node> = Api::all(client.clone());
    let previous = nodes
        .get_status(&facts.name)
        .await
        .ok()
        .and_then(|n| serde_json::to_value(n.status?.conditions?).ok())
        .and_then(|v| v.as_array().cloned())
        .unwrap_or_default();
    let now = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let patch = json!({"status": status(facts, readiness, &now, &previous)});
    nodes
        .patch_status(&facts.name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
}

/// Renews (or creates) the node's Lease, owned by its Node so that it goes with it.
pub async fn renew_lease(client: &kube::Client, node: &Node) -> Result<(), kube::Error> {
    let name = node.metadata.name.clone().unwrap_or_default();
    let leases: Api<Lease> = Api::namespaced(client.clone(), LEASE_NAMESPACE);
    let now = chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S%.6fZ")
        .to_string();
    let patch = json!({"spec": {"holderIdentity": name, "leaseDurationSeconds": LEASE_SECONDS, "renewTime": now}});
    match leases
        .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 404 => {
            let lease: Lease = serde_json::from_value(json!({
                "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                "metadata": {"name": name, "namespace": LEASE_NAMESPACE, "ownerReferences": [{
                    "apiVersion": "v1", "kind": "Node", "name": name,
                    "uid": node.metadata.uid.clone().unwrap_or_default(),
                }]},
                "spec": patch["spec"],
            }))
            .map_err(kube::Error::SerdeError)?;
            leases
                .create(&PostParams::default(), &lease)
                .await
                .map(|_| ())
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> NodeFacts {
        NodeFacts {
            name: "n1".into(),
            hostname: "n1".into(),
            ip: "10.0.0.5".parse().unwrap(),
            kubelet_port: 10250,
            capacity: Capacity {
                cpu: 2,
                memory_kib: 1024,
                ephemeral_storage: 4096,
                pods: crate::machine::MAX_PODS,
            },
            system: crate::machine::system_info(),
            kubelet_version: "v1.34.0".into(),
        }
    }

    #[test]
    fn status_reports_resources_addresses_and_ready() {
        let ready = Readiness::Ready {
            runtime_version: "containerd://1.6.20".into(),
        };
        let s = status(&facts(), &ready, "T1", &[]);
        assert_eq!(s["capacity"]["cpu"], "2");
        assert_eq!(s["capacity"]["memory"], "1024Ki");
        assert_eq!(s["capacity"]["pods"], "110");
        assert_eq!(s["addresses"][0]["address"], "10.0.0.5");
        assert_eq!(
            s["nodeInfo"]["containerRuntimeVersion"],
            "containerd://1.6.20"
        );
        assert_eq!(s["conditions"][3]["type"], "Ready");
        assert_eq!(s["conditions"][3]["reason"], "KubeletReady");
        // A kubelet may not give itself a role (NodeRestriction); the server labels its own node.
        assert!(!labels(&facts()).contains_key("node-role.kubernetes.io/control-plane"));
    }

    #[test]
    fn transition_time_kept_while_the_status_stays() {
        let down = Readiness::NotReady {
            runtime_version: String::new(),
            message: "no runtime".into(),
        };
        let first = conditions(&down, "T1", &[]);
        let prev = first.as_array().unwrap().clone();
        let second = conditions(&down, "T2", &prev);
        assert_eq!(second[3]["lastTransitionTime"], "T1");
        assert_eq!(second[3]["lastHeartbeatTime"], "T2");
        assert_eq!(second[3]["status"], "False");
        let up = Readiness::Ready {
            runtime_version: "x".into(),
        };
        assert_eq!(conditions(&up, "T3", &prev)[3]["lastTransitionTime"], "T3");
    }
}
