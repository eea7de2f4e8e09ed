//! The scheduler's filters, upstream's plugins of the same names: NodeUnschedulable,
//! TaintToleration, NodeAffinity (with `nodeSelector`), NodePorts and NodeResourcesFit. A node
//! fits when every filter passes; otherwise the first failing filter says why, in upstream's
//! words, for the "0/N nodes are available" message.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Node, NodeSelectorRequirement, Pod, Taint, Toleration};

/// A node and the pods already bound to it (running or about to).
pub struct NodeInfo<'a> {
    /// The node.
    pub node: &'a Node,
    /// Its pods that have not finished.
    pub pods: Vec<&'a Pod>,
    /// What they request in total.
    pub usage: &'a Usage,
}

/// What a node's pods request in total, kept beside them and grown as pods are placed, so
/// that a decision does not add up every bound pod again (which made each decision cost as
/// much as the whole cluster).
#[derive(Debug, Default, Clone)]
pub struct Usage {
    /// Summed requests in milli-units, as [`requests`] gives them.
    pub requested: BTreeMap<String, i128>,
    /// CPU and memory with upstream's non-zero defaults for pods that request none (what the
    /// scores weigh).
    pub nonzero: (i128, i128),
}

impl Usage {
    /// The total of `pods`.
    pub fn of<'p>(pods: impl IntoIterator<Item = &'p Pod>) -> Usage {
        let mut usage = Usage::default();
        for p in pods {
            usage.add(p);
        }
        usage
    }

    /// Counts one more pod.
    pub fn add(&mut self, pod: &Pod) {
        for (k, v) in requests(pod) {
            *self.requested.entry(k).or_default() += v;
        }
        let (c, m) = super::score::nonzero_cpu_mem(pod);
        self.nonzero.0 += c;
        self.nonzero.1 += m;
    }
}

/// Why a node does not fit a pod.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Unfit {
    /// Cordoned.
    Unschedulable,
    /// A NoSchedule/NoExecute taint the pod does not tolerate.
    Taint(String),
    /// nodeSelector or required node affinity do not match.
    Affinity,
    /// A hostPort is taken.
    Ports,
    /// Not enough of a resource (`cpu`, `memory`, ...).
    Insufficient(String),
    /// The node's pod limit is reached.
    TooManyPods,
}

impl Unfit {
    /// Upstream's wording.
    pub fn reason(&self) -> String {
        match self {
            Unfit::Unschedulable => "node(s) were unschedulable".into(),
            Unfit::Taint(t) => format!("node(s) had untolerated taint {t}"),
            Unfit::Affinity => "node(s) didn't match Pod's node affinity/selector".into(),
            Unfit::Ports => "node(s) didn't have free ports for the requested pod ports".into(),
            Unfit::Insufficient(r) => format!("Insufficient {r}"),
            Unfit::TooManyPods => "Too many pods".into(),
        }
    }

    /// Whether evicting lower-priority pods could help (only for resources).
    pub fn preemption_may_help(&self) -> bool {
        matches!(self, Unfit::Insufficient(_) | Unfit::TooManyPods)
    }
}

/// The filters' verdict on one node: empty when the pod fits.
pub fn check(pod: &Pod, info: &NodeInfo<'_>) -> Vec<Unfit> {
    let spec = pod.spec.clone().unwrap_or_default();
    let node_spec = info.node.spec.clone().unwrap_or_default();
    let tolerations = spec.tolerations.clone().unwrap_or_default();
    if node_spec.unschedulable == Some(true)
        && !tolerations.iter().any(|t| {
            tolerates(
                t,
                &Taint {
                    key: "node.kubernetes.io/unschedulable".into(),
                    effect: "NoSchedule".into(),
                    ..Default::default()
                },
            )
        })
    {
        return vec![Unfit::Unschedulable];
    }
    let mut taints = node_spec.taints.clone().unwrap_or_default();
    if !node_ready(info.node)
        && !taints.iter().any(|t| {
            t.key.starts_with("node.kubernetes.io/not-ready")
                || t.key.starts_with("node.kubernetes.io/unreachable")
        })
    {
        // The taint the node lifecycle controller adds for a node that is not Ready.
        taints.push(Taint {
            key: "node.kubernetes.io/not-ready".into(),
            effect: "NoSchedule".into(),
            ..Default::default()
        });
    }
    if let Some(t) = taints
        .iter()
        .filter(|t| t.effect == "NoSchedule" || t.effect == "NoExecute")
        .find(|t| !tolerations.iter().any(|tol| tolerates(tol, t)))
    {
        return vec![Unfit::Taint(format!(
            "{{{}: {}}}",
            t.key,
            t.value.as_deref().unwrap_or("")
        ))];
    }
    if !affinity_matches(pod, info.node) {
        return vec![Unfit::Affinity];
    }
    let wanted_ports = host_ports(pod);
    if !wanted_ports.is_empty()
        && info
            .pods
            .iter()
            .flat_map(|p| host_ports(p))
            .any(|used| wanted_ports.contains(&used))
    {
        return vec![Unfit::Ports];
    }
    let mut out = Vec::new();
    let allocatable = info
        .node
        .status
        .as_ref()
        .and_then(|s| s.allocatable.clone())
        .unwrap_or_default();
    let max_pods = allocatable
        .get("pods")
        .and_then(|q| kapi_api::quantity::parse_value(&q.0))
        .unwrap_or(110);
    if info.pods.len() as i128 + 1 > max_pods {
        out.push(Unfit::TooManyPods);
    }
    let want = requests(pod);
    let used = &info.usage.requested;
    for (resource, amount) in &want {
        if *amount == 0 {
            continue;
        }
        let have = allocatable
            .get(resource)
            .and_then(|q| kapi_api::quantity::parse_milli(&q.0))
            .unwrap_or(0);
        if used.get(resource).copied().unwrap_or(0) + amount > have {
            out.push(Unfit::Insufficient(resource.clone()));
        }
    }
    out
}

/// Whether the node's Ready condition is True.
pub fn node_ready(node: &Node) -> bool {
    node.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|c| c.iter().find(|c| c.type_ == "Ready"))
        .is_some_and(|c| c.status == "True")
}

/// Whether a toleration tolerates a taint (upstream's rules: empty key with Exists matches
/// everything; empty effect matches every effect).
pub fn tolerates(t: &Toleration, taint: &Taint) -> bool {
    if let Some(effect) = t.effect.as_deref().filter(|e| !e.is_empty()) {
        if effect != taint.effect {
            return false;
        }
    }
    let key = t.key.as_deref().unwrap_or("");
    if !key.is_empty() && key != taint.key {
        return false;
    }
    match t.operator.as_deref().unwrap_or("Equal") {
        "Exists" => true,
        _ => {
            !key.is_empty()
                && t.value.as_deref().unwrap_or("") == taint.value.as_deref().unwrap_or("")
        }
    }
}

/// nodeSelector and required node affinity.
pub fn affinity_matches(pod: &Pod, node: &Node) -> bool {
    let labels = node.metadata.labels.clone().unwrap_or_default();
    let spec = pod.spec.clone().unwrap_or_default();
    if let Some(selector) = &spec.node_selector {
        if selector.iter().any(|(k, v)| labels.get(k) != Some(v)) {
            return false;
        }
    }
    let required = spec
        .affinity
        .as_ref()
        .and_then(|a| a.node_affinity.as_ref())
        .and_then(|a| {
            a.required_during_scheduling_ignored_during_execution
                .as_ref()
        });
    let Some(required) = required else {
        return true;
    };
    let name = node.metadata.name.clone().unwrap_or_default();
    // Terms are ORed; each term's requirements are ANDed.
    required.node_selector_terms.iter().any(|term| {
        let exprs = term
            .match_expressions
            .iter()
            .flatten()
            .all(|r| requirement(r, labels.get(&r.key).map(String::as_str)));
        let fields = term
            .match_fields
            .iter()
            .flatten()
            .all(|r| r.key == "metadata.name" && requirement(r, Some(&name)));
        let empty = term.match_expressions.as_ref().is_none_or(Vec::is_empty)
            && term.match_fields.as_ref().is_none_or(Vec::is_empty);
        !empty && exprs && fields
    })
}

fn requirement(r: &NodeSelectorRequirement, value: Option<&str>) -> bool {
    let values = r.values.clone().unwrap_or_default();
    match r.operator.as_str() {
        "In" => value.is_some_and(|v| values.iter().any(|x| x == v)),
        "NotIn" => value.is_none_or(|v| !values.iter().any(|x| x == v)),
        "Exists" => value.is_some(),
        "DoesNotExist" => value.is_none(),
        "Gt" | "Lt" => {
            let (Some(v), Some(bound)) = (
                value.and_then(|v| v.parse::<i64>().ok()),
                values.first().and_then(|b| b.parse::<i64>().ok()),
            ) else {
                return false;
            };
            if r.operator == "Gt" {
                v > bound
            } else {
                v < bound
            }
        }
        _ => false,
    }
}

fn host_ports(pod: &Pod) -> Vec<(String, i32)> {
    pod.spec
        .iter()
        .flat_map(|s| s.containers.iter())
        .flat_map(|c| c.ports.iter().flatten())
        .filter_map(|p| {
            p.host_port
                .filter(|h| *h > 0)
                .map(|h| (p.protocol.clone().unwrap_or_else(|| "TCP".into()), h))
        })
        .collect()
}

/// A pod's requests (milli-units per resource): the containers' sum, or an init container's
/// if larger, plus the pod overhead.
pub fn requests(pod: &Pod) -> BTreeMap<String, i128> {
    let mut sum: BTreeMap<String, i128> = BTreeMap::new();
    let Some(spec) = &pod.spec else {
        return sum;
    };
    let of = |c: &k8s_openapi::api::core::v1::Container| -> BTreeMap<String, i128> {
        c.resources
            .as_ref()
            .and_then(|r| r.requests.clone())
            .unwrap_or_default()
            .into_iter()
            .filter_map(|(k, q)| kapi_api::quantity::parse_milli(&q.0).map(|v| (k, v)))
            .collect()
    };
    for c in &spec.containers {
        for (k, v) in of(c) {
            *sum.entry(k).or_default() += v;
        }
    }
    for c in spec.init_containers.iter().flatten() {
        for (k, v) in of(c) {
            let slot = sum.entry(k).or_default();
            *slot = (*slot).max(v);
        }
    }
    for (k, q) in spec.overhead.clone().unwrap_or_default() {
        if let Some(v) = kapi_api::quantity::parse_milli(&q.0) {
            *sum.entry(k).or_default() += v;
        }
    }
    sum
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn node(extra: serde_json::Value) -> Node {
        let mut n = json!({
            "metadata": {"name": "n1", "labels": {"disk": "ssd", "zone": "a"}},
            "spec": {},
            "status": {"allocatable": {"cpu": "2", "memory": "4Gi", "pods": "3"},
                       "conditions": [{"type": "Ready", "status": "True"}]}
        });
        merge(&mut n, extra);
        serde_json::from_value(n).unwrap()
    }

    fn pod(spec: serde_json::Value) -> Pod {
        let mut s = json!({"containers": [{"name": "c", "image": "x"}]});
        merge(&mut s, spec);
        serde_json::from_value(json!({"metadata": {"name": "p"}, "spec": s})).unwrap()
    }

    fn merge(a: &mut serde_json::Value, b: serde_json::Value) {
        if let (Some(a), serde_json::Value::Object(b)) = (a.as_object_mut(), b) {
            for (k, v) in b {
                match a.get_mut(&k) {
                    Some(slot) if slot.is_object() && v.is_object() => merge(slot, v),
                    _ => {
                        a.insert(k, v);
                    }
                }
            }
        }
    }

    fn verdict(p: &Pod, n: &Node, others: &[Pod]) -> Vec<Unfit> {
        check(
            p,
            &NodeInfo {
                node: n,
                pods: others.iter().collect(),
                usage: &Usage::of(others),
            },
        )
    }

    #[test]
    fn resources_are_summed_over_bound_pods() {
        let n = node(json!({}));
        let big = pod(
            json!({"containers": [{"name": "c", "image": "x", "resources": {"requests": {"cpu": "1500m"}}}]}),
        );
        assert!(verdict(&big, &n, &[]).is_empty());
        assert_eq!(
            verdict(&big, &n, std::slice::from_ref(&big)),
            [Unfit::Insufficient("cpu".into())]
        );
        let huge = pod(
            json!({"containers": [{"name": "c", "image": "x", "resources": {"requests": {"cpu": "64", "memory": "1Ti"}}}]}),
        );
        assert_eq!(
            verdict(&huge, &n, &[]),
            [
                Unfit::Insufficient("cpu".into()),
                Unfit::Insufficient("memory".into())
            ]
        );
        let small = pod(json!({}));
        assert_eq!(
            verdict(&small, &n, &[small.clone(), small.clone(), small.clone()]),
            [Unfit::TooManyPods]
        );
        assert_eq!(
            Unfit::Insufficient("cpu".into()).reason(),
            "Insufficient cpu"
        );
    }

    #[test]
    fn taints_need_tolerations_and_not_ready_nodes_are_tainted() {
        let tainted = node(
            json!({"spec": {"taints": [{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]}}),
        );
        let plain = pod(json!({}));
        assert_eq!(
            verdict(&plain, &tainted, &[]),
            [Unfit::Taint("{dedicated: gpu}".into())]
        );
        let tolerant = pod(
            json!({"tolerations": [{"key": "dedicated", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"}]}),
        );
        assert!(verdict(&tolerant, &tainted, &[]).is_empty());
        let everything = pod(json!({"tolerations": [{"operator": "Exists"}]}));
        assert!(verdict(&everything, &tainted, &[]).is_empty());
        let not_ready =
            node(json!({"status": {"conditions": [{"type": "Ready", "status": "False"}]}}));
        assert_eq!(
            verdict(&plain, &not_ready, &[]),
            [Unfit::Taint("{node.kubernetes.io/not-ready: }".into())]
        );
        let cordoned = node(json!({"spec": {"unschedulable": true}}));
        assert_eq!(verdict(&plain, &cordoned, &[]), [Unfit::Unschedulable]);
    }

    #[test]
    fn selectors_and_affinity() {
        let n = node(json!({}));
        assert!(verdict(&pod(json!({"nodeSelector": {"disk": "ssd"}})), &n, &[]).is_empty());
        assert_eq!(
            verdict(&pod(json!({"nodeSelector": {"disk": "hdd"}})), &n, &[]),
            [Unfit::Affinity]
        );
        let affinity = |op: &str, values: serde_json::Value| {
            pod(
                json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{"matchExpressions": [{"key": "zone", "operator": op, "values": values}]}]}}}}),
            )
        };
        assert!(verdict(&affinity("In", json!(["a", "b"])), &n, &[]).is_empty());
        assert_eq!(
            verdict(&affinity("NotIn", json!(["a"])), &n, &[]),
            [Unfit::Affinity]
        );
        assert!(verdict(&affinity("Exists", json!([])), &n, &[]).is_empty());
        let by_name = pod(
            json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n2"]}]}]}}}}),
        );
        assert_eq!(verdict(&by_name, &n, &[]), [Unfit::Affinity]);
    }

    #[test]
    fn host_ports_conflict() {
        let n = node(json!({}));
        let web = pod(
            json!({"containers": [{"name": "c", "image": "x", "ports": [{"containerPort": 80, "hostPort": 8080}]}]}),
        );
        assert_eq!(
            verdict(&web, &n, std::slice::from_ref(&web)),
            [Unfit::Ports]
        );
        assert!(verdict(&web, &n, &[pod(json!({}))]).is_empty());
    }
}
