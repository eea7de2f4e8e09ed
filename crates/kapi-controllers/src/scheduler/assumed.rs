//! The scheduler's assumed pods, as kube-scheduler's cache keeps them: a pod placed on a node
//! counts against that node from the decision on, while its binding is still in flight and
//! until the watch shows it bound. The decision loop is serial over this view, so two pods are
//! never placed over a node's capacity however many bindings run at once; a failed binding
//! forgets its pod, which is then scheduled again.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use k8s_openapi::api::core::v1::Pod;

use super::filters::Usage;

/// A node's pods as a decision sees them, with their total kept up to date.
#[derive(Default)]
pub struct NodePods {
    /// Bound (or assumed) pods that have not finished.
    pub pods: Vec<Arc<Pod>>,
    /// What they request.
    pub usage: Usage,
}

impl NodePods {
    /// Counts one more pod on the node.
    pub fn push(&mut self, pod: Arc<Pod>) {
        self.usage.add(&pod);
        self.pods.push(pod);
    }
}

/// Pods placed by a decision but not yet seen bound, by uid.
#[derive(Default)]
pub struct Assumed {
    by_uid: HashMap<String, (String, Arc<Pod>)>,
}

impl Assumed {
    /// Counts `pod` on `node` until it is seen bound or forgotten.
    pub fn assume(&mut self, uid: String, node: String, pod: Arc<Pod>) {
        self.by_uid.insert(uid, (node, pod));
    }

    /// Drops a pod whose binding failed, so that it is scheduled again.
    pub fn forget(&mut self, uid: &str) {
        self.by_uid.remove(uid);
    }

    /// Whether `uid` waits on its binding (and must not be placed a second time).
    pub fn contains(&self, uid: &str) -> bool {
        self.by_uid.contains_key(uid)
    }

    /// Drops the pods the cache now shows bound (they count there) or gone.
    pub fn settle(&mut self, cached: &[Arc<Pod>]) {
        let unbound: HashSet<&str> = cached
            .iter()
            .filter(|p| node_of(p).is_none())
            .filter_map(|p| p.metadata.uid.as_deref())
            .collect();
        self.by_uid.retain(|uid, _| unbound.contains(uid.as_str()));
    }

    /// The pods each node holds: the cache's bound, unfinished pods and the assumed ones.
    pub fn by_node(&self, cached: &[Arc<Pod>]) -> BTreeMap<String, NodePods> {
        let mut bound: BTreeMap<String, NodePods> = BTreeMap::new();
        for p in cached {
            if let Some(n) = node_of(p) {
                if !super::finished(p) {
                    bound.entry(n.to_string()).or_default().push(p.clone());
                }
            }
        }
        for (node, pod) in self.by_uid.values() {
            bound.entry(node.clone()).or_default().push(pod.clone());
        }
        bound
    }
}

fn node_of(pod: &Pod) -> Option<&str> {
    pod.spec
        .as_ref()
        .and_then(|s| s.node_name.as_deref())
        .filter(|n| !n.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::Node;
    use serde_json::json;

    fn pod(uid: &str, node: Option<&str>) -> Arc<Pod> {
        Arc::new(
            serde_json::from_value(json!({
                "metadata": {"name": uid, "namespace": "d", "uid": uid},
                "spec": {"nodeName": node, "containers": [{"name": "c", "image": "x",
                    "resources": {"requests": {"cpu": "1"}}}]}
            }))
            .unwrap(),
        )
    }

    #[test]
    fn an_assumed_pod_takes_capacity_before_it_is_bound() {
        let node: Arc<Node> = Arc::new(
            serde_json::from_value(json!({
                "metadata": {"name": "n1"},
                "status": {"allocatable": {"cpu": "1", "memory": "1Gi", "pods": "10"},
                    "conditions": [{"type": "Ready", "status": "True"}]}
            }))
            .unwrap(),
        );
        let nodes = [node];
        let (a, b) = (pod("a", None), pod("b", None));
        let mut assumed = Assumed::default();
        let cached = [a.clone(), b.clone()];
        assert_eq!(
            super::super::place(&a, &nodes, &assumed.by_node(&cached)),
            Ok("n1".into())
        );
        assumed.assume("a".into(), "n1".into(), a.clone());
        assert!(super::super::place(&b, &nodes, &assumed.by_node(&cached))
            .unwrap_err()
            .contains("1 Insufficient cpu"));
        // Its binding failed: the capacity is free again.
        assumed.forget("a");
        assert_eq!(
            super::super::place(&b, &nodes, &assumed.by_node(&cached)),
            Ok("n1".into())
        );
    }

    #[test]
    fn a_pod_seen_bound_or_gone_is_no_longer_assumed() {
        let mut assumed = Assumed::default();
        assumed.assume("a".into(), "n1".into(), pod("a", None));
        assumed.assume("b".into(), "n1".into(), pod("b", None));
        assumed.assume("c".into(), "n1".into(), pod("c", None));
        assumed.settle(&[pod("a", Some("n1")), pod("b", None)]);
        assert!(!assumed.contains("a") && assumed.contains("b") && !assumed.contains("c"));
        // Bound in the cache, it counts once.
        let by_node = assumed.by_node(&[pod("a", Some("n1")), pod("b", None)]);
        assert_eq!(by_node["n1"].pods.len(), 2);
        assert_eq!(by_node["n1"].usage.requested["cpu"], 2000);
    }
}
