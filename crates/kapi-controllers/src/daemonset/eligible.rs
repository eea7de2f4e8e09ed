//! Which nodes a DaemonSet's pod belongs on, as upstream's `NodeShouldRunDaemonPod` decides:
//! the node must match the pod's nodeSelector and required node affinity, and the pod must
//! tolerate the node's NoSchedule and NoExecute taints to be placed there; a pod already
//! there may stay unless a NoExecute taint is untolerated. The tolerations upstream adds to
//! every daemon pod ([`add_tolerations`]) keep daemons on nodes that are cordoned, under
//! pressure or unreachable — that is what daemons are for.

use k8s_openapi::api::core::v1::{
    Affinity, Node, NodeAffinity, NodeSelector, NodeSelectorRequirement, NodeSelectorTerm, Pod,
    PodSpec, Taint, Toleration,
};

use crate::scheduler::filters;

/// (key, effect) of the tolerations every daemon pod gets, operator Exists.
const AUTO_TOLERATIONS: &[(&str, &str)] = &[
    ("node.kubernetes.io/not-ready", "NoExecute"),
    ("node.kubernetes.io/unreachable", "NoExecute"),
    ("node.kubernetes.io/disk-pressure", "NoSchedule"),
    ("node.kubernetes.io/memory-pressure", "NoSchedule"),
    ("node.kubernetes.io/pid-pressure", "NoSchedule"),
    ("node.kubernetes.io/unschedulable", "NoSchedule"),
];

/// Tolerated by host-network daemons only: they do not need the pod network.
const NETWORK_UNAVAILABLE: &str = "node.kubernetes.io/network-unavailable";

/// Adds upstream's daemon tolerations the spec does not have yet.
pub fn add_tolerations(spec: &mut PodSpec) {
    let host_network = spec.host_network == Some(true);
    let extra = host_network.then_some((NETWORK_UNAVAILABLE, "NoSchedule"));
    let tolerations = spec.tolerations.get_or_insert_with(Vec::new);
    for (key, effect) in AUTO_TOLERATIONS.iter().copied().chain(extra) {
        let present = tolerations.iter().any(|t| {
            t.key.as_deref() == Some(key)
                && t.effect.as_deref() == Some(effect)
                && t.operator.as_deref() == Some("Exists")
        });
        if !present {
            tolerations.push(Toleration {
                key: Some(key.into()),
                operator: Some("Exists".into()),
                effect: Some(effect.into()),
                ..Toleration::default()
            });
        }
    }
}

/// Pins the pod to `node` through required node affinity (`matchFields metadata.name In
/// [node]`), replacing any required terms, as upstream does: the scheduler still places the
/// pod, so its resources and ports are accounted for.
pub fn pin_to_node(spec: &mut PodSpec, node: &str) {
    let term = NodeSelectorTerm {
        match_expressions: None,
        match_fields: Some(vec![NodeSelectorRequirement {
            key: "metadata.name".into(),
            operator: "In".into(),
            values: Some(vec![node.into()]),
        }]),
    };
    let affinity = spec.affinity.get_or_insert_with(Affinity::default);
    let node_affinity = affinity
        .node_affinity
        .get_or_insert_with(NodeAffinity::default);
    node_affinity.required_during_scheduling_ignored_during_execution = Some(NodeSelector {
        node_selector_terms: vec![term],
    });
}

/// The node a daemon pod is for: where it is bound, or the one its affinity pins it to.
pub fn target_node(pod: &Pod) -> Option<String> {
    let spec = pod.spec.as_ref()?;
    if let Some(n) = spec.node_name.as_deref().filter(|n| !n.is_empty()) {
        return Some(n.to_string());
    }
    let terms = &spec
        .affinity
        .as_ref()?
        .node_affinity
        .as_ref()?
        .required_during_scheduling_ignored_during_execution
        .as_ref()?
        .node_selector_terms;
    terms.iter().find_map(|t| {
        let fields = t.match_fields.as_ref()?;
        let [r] = fields.as_slice() else { return None };
        match (r.key.as_str(), r.operator.as_str(), r.values.as_deref()) {
            ("metadata.name", "In", Some([v])) => Some(v.clone()),
            _ => None,
        }
    })
}

/// Whether a daemon pod belongs on a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    /// A pod should be created there.
    pub should_run: bool,
    /// A pod already there may stay.
    pub should_continue: bool,
}

/// The verdict for `pod` (the template's spec, with [`add_tolerations`] applied) on `node`.
pub fn verdict(pod: &Pod, node: &Node) -> Verdict {
    let never = Verdict {
        should_run: false,
        should_continue: false,
    };
    let wanted = pod.spec.as_ref().and_then(|s| s.node_name.as_deref());
    if wanted.is_some_and(|w| !w.is_empty() && Some(w) != node.metadata.name.as_deref()) {
        return never;
    }
    if !filters::affinity_matches(pod, node) {
        return never;
    }
    let tolerations = pod
        .spec
        .as_ref()
        .and_then(|s| s.tolerations.clone())
        .unwrap_or_default();
    let untolerated = |t: &&Taint| !tolerations.iter().any(|tol| filters::tolerates(tol, t));
    let taints = node
        .spec
        .as_ref()
        .and_then(|s| s.taints.clone())
        .unwrap_or_default();
    let blocked = |effect: &str| {
        taints
            .iter()
            .filter(|t| t.effect == effect)
            .any(|t| untolerated(&t))
    };
    let no_execute = blocked("NoExecute");
    Verdict {
        should_run: !no_execute && !blocked("NoSchedule"),
        should_continue: !no_execute,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn node(spec: serde_json::Value) -> Node {
        serde_json::from_value(json!({
            "metadata": {"name": "n1", "labels": {"disk": "ssd"}},
            "spec": spec,
        }))
        .unwrap()
    }

    fn daemon(spec: serde_json::Value) -> Pod {
        let mut s: PodSpec = serde_json::from_value(spec).unwrap();
        add_tolerations(&mut s);
        Pod {
            spec: Some(s),
            ..Pod::default()
        }
    }

    fn base() -> serde_json::Value {
        json!({"containers": [{"name": "c"}]})
    }

    #[test]
    fn untolerated_taints_keep_new_pods_off_and_no_execute_evicts() {
        let p = daemon(base());
        let plain = node(json!({}));
        assert!(verdict(&p, &plain).should_run);
        let gpu = node(json!({"taints": [{"key": "gpu", "effect": "NoSchedule"}]}));
        assert_eq!(
            verdict(&p, &gpu),
            Verdict {
                should_run: false,
                should_continue: true
            }
        );
        let evict = node(json!({"taints": [{"key": "gpu", "effect": "NoExecute"}]}));
        assert!(!verdict(&p, &evict).should_continue);
        let tolerant = daemon(json!({"containers": [{"name": "c"}],
            "tolerations": [{"key": "gpu", "operator": "Exists"}]}));
        assert!(verdict(&tolerant, &gpu).should_run);
        assert!(verdict(&tolerant, &evict).should_run);
    }

    #[test]
    fn daemons_tolerate_cordons_pressure_and_unreachable_nodes() {
        let p = daemon(base());
        for (key, effect) in [
            ("node.kubernetes.io/unschedulable", "NoSchedule"),
            ("node.kubernetes.io/disk-pressure", "NoSchedule"),
            ("node.kubernetes.io/unreachable", "NoExecute"),
            ("node.kubernetes.io/not-ready", "NoExecute"),
        ] {
            let n = node(json!({"taints": [{"key": key, "effect": effect}]}));
            assert!(verdict(&p, &n).should_run, "{key}");
        }
        let net = node(json!({"taints": [{"key": NETWORK_UNAVAILABLE, "effect": "NoSchedule"}]}));
        assert!(!verdict(&p, &net).should_run);
        let host = daemon(json!({"containers": [{"name": "c"}], "hostNetwork": true}));
        assert!(verdict(&host, &net).should_run);
        // Adding twice adds nothing.
        let mut spec = p.spec.clone().unwrap();
        let n = spec.tolerations.as_ref().unwrap().len();
        add_tolerations(&mut spec);
        assert_eq!(spec.tolerations.unwrap().len(), n);
    }

    #[test]
    fn selectors_and_affinity_choose_nodes() {
        let n = node(json!({}));
        assert!(
            verdict(
                &daemon(json!({"containers": [{"name": "c"}], "nodeSelector": {"disk": "ssd"}})),
                &n
            )
            .should_run
        );
        assert!(
            !verdict(
                &daemon(json!({"containers": [{"name": "c"}], "nodeSelector": {"disk": "hdd"}})),
                &n
            )
            .should_continue
        );
        let affinity = daemon(
            json!({"containers": [{"name": "c"}], "affinity": {"nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                {"matchExpressions": [{"key": "disk", "operator": "In", "values": ["hdd"]}]}]}}}}),
        );
        assert!(!verdict(&affinity, &n).should_run);
    }

    #[test]
    fn pinning_replaces_required_terms_and_names_the_target() {
        let mut spec: PodSpec = serde_json::from_value(json!({"containers": [{"name": "c"}],
            "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [{"matchExpressions": [{"key": "disk", "operator": "Exists"}]}]}}}}))
        .unwrap();
        pin_to_node(&mut spec, "n7");
        let pod = Pod {
            spec: Some(spec),
            ..Pod::default()
        };
        assert_eq!(target_node(&pod).as_deref(), Some("n7"));
        let terms = &pod
            .spec
            .as_ref()
            .unwrap()
            .affinity
            .as_ref()
            .unwrap()
            .node_affinity
            .as_ref()
            .unwrap()
            .required_during_scheduling_ignored_during_execution
            .as_ref()
            .unwrap()
            .node_selector_terms;
        assert_eq!(terms.len(), 1);
        assert!(terms[0].match_expressions.is_none());
        // The scheduler's filter agrees: it fits n7 only.
        let n7 = serde_json::from_value(json!({"metadata": {"name": "n7"}})).unwrap();
        let n1 = node(json!({}));
        assert!(filters::affinity_matches(&pod, &n7));
        assert!(!filters::affinity_matches(&pod, &n1));
    }
}
