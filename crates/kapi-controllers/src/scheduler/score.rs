//! The scheduler's scores, upstream's NodeResourcesFit (least allocated) and
//! NodeResourcesBalancedAllocation: prefer the node with the most room left, and with CPU and
//! memory used in equal shares. Pods without requests count as upstream's non-zero defaults
//! (100m CPU, 200 MiB), so that empty nodes still attract them.

use super::filters::{requests, NodeInfo};
use k8s_openapi::api::core::v1::Pod;

const DEFAULT_CPU_MILLI: i128 = 100;
const DEFAULT_MEMORY_MILLI: i128 = 200 * 1024 * 1024 * 1000;

/// The pod's CPU and memory requests, upstream's defaults standing in for none.
pub fn nonzero_cpu_mem(pod: &Pod) -> (i128, i128) {
    let r = requests(pod);
    (
        r.get("cpu")
            .copied()
            .filter(|v| *v > 0)
            .unwrap_or(DEFAULT_CPU_MILLI),
        r.get("memory")
            .copied()
            .filter(|v| *v > 0)
            .unwrap_or(DEFAULT_MEMORY_MILLI),
    )
}

/// The node's score for the pod, 0–200 (two plugins of 0–100 each).
pub fn score(pod: &Pod, info: &NodeInfo<'_>) -> i64 {
    let alloc = info
        .node
        .status
        .as_ref()
        .and_then(|s| s.allocatable.clone())
        .unwrap_or_default();
    let get = |k: &str| {
        alloc
            .get(k)
            .and_then(|q| kapi_api::quantity::parse_milli(&q.0))
            .unwrap_or(0)
    };
    let (cap_cpu, cap_mem) = (get("cpu"), get("memory"));
    if cap_cpu <= 0 || cap_mem <= 0 {
        return 0;
    }
    let (c, m) = nonzero_cpu_mem(pod);
    let (cpu, mem) = (c + info.usage.nonzero.0, m + info.usage.nonzero.1);
    let free = |used: i128, cap: i128| ((cap - used).max(0) * 100 / cap) as i64;
    let least = (free(cpu, cap_cpu) + free(mem, cap_mem)) / 2;
    let (fc, fm) = (
        (cpu as f64 / cap_cpu as f64).min(1.0),
        (mem as f64 / cap_mem as f64).min(1.0),
    );
    let balanced = ((1.0 - (fc - fm).abs()) * 100.0) as i64;
    least + balanced
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::filters::Usage;
    use k8s_openapi::api::core::v1::Node;
    use serde_json::json;

    #[test]
    fn emptier_nodes_score_higher() {
        let node: Node = serde_json::from_value(json!({"metadata": {"name": "n"}, "status": {"allocatable": {"cpu": "4", "memory": "8Gi"}}})).unwrap();
        let pod: Pod = serde_json::from_value(json!({"spec": {"containers": [{"name": "c", "resources": {"requests": {"cpu": "1", "memory": "2Gi"}}}]}})).unwrap();
        let empty = score(
            &pod,
            &NodeInfo {
                node: &node,
                pods: vec![],
                usage: &Usage::default(),
            },
        );
        let busy = score(
            &pod,
            &NodeInfo {
                node: &node,
                pods: vec![&pod, &pod],
                usage: &Usage::of([&pod, &pod]),
            },
        );
        assert!(empty > busy, "{empty} vs {busy}");
        assert_eq!(empty, 75 + 100);
    }
}
