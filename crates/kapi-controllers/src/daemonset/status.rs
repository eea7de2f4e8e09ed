//! A DaemonSet's status from the nodes and their daemon pods, as upstream counts it; `kubectl
//! rollout status daemonset` compares updatedNumberScheduled and numberAvailable with
//! desiredNumberScheduled.

use k8s_openapi::api::apps::v1::DaemonSetStatus;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::chrono::{DateTime, Utc};

use crate::podstate;

/// One node as the status sees it.
pub struct NodeView<'a> {
    /// Whether a daemon pod should run there.
    pub should_run: bool,
    /// The live daemon pods on it, oldest first.
    pub pods: Vec<&'a Pod>,
}

/// Whether a pod carries the current template's hash.
pub fn is_updated(pod: &Pod, hash: &str) -> bool {
    pod.metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(super::REVISION_LABEL))
        .is_some_and(|h| h == hash)
}

/// The status for `nodes` at `now`.
pub fn compute(
    nodes: &[NodeView<'_>],
    hash: &str,
    min_ready: i64,
    generation: Option<i64>,
    collision_count: i32,
    now: DateTime<Utc>,
) -> DaemonSetStatus {
    let n = |it: usize| i32::try_from(it).unwrap_or(i32::MAX);
    let desired = nodes.iter().filter(|v| v.should_run).count();
    let scheduled = nodes
        .iter()
        .filter(|v| v.should_run && !v.pods.is_empty())
        .count();
    let misscheduled = nodes
        .iter()
        .filter(|v| !v.should_run && !v.pods.is_empty())
        .count();
    let firsts: Vec<&Pod> = nodes
        .iter()
        .filter(|v| v.should_run)
        .filter_map(|v| v.pods.first().copied())
        .collect();
    let ready = firsts.iter().filter(|p| podstate::is_ready(p)).count();
    let available = firsts
        .iter()
        .filter(|p| podstate::is_available(p, min_ready, now))
        .count();
    let updated = firsts.iter().filter(|p| is_updated(p, hash)).count();
    DaemonSetStatus {
        desired_number_scheduled: n(desired),
        current_number_scheduled: n(scheduled),
        number_misscheduled: n(misscheduled),
        number_ready: n(ready),
        number_available: Some(n(available)),
        number_unavailable: Some(n(desired.saturating_sub(available))),
        updated_number_scheduled: Some(n(updated)),
        observed_generation: generation,
        collision_count: Some(collision_count),
        conditions: None,
    }
}

/// Whether `stored` already says what `computed` says (conditions are not this controller's).
pub fn unchanged(stored: Option<&DaemonSetStatus>, computed: &DaemonSetStatus) -> bool {
    stored.is_some_and(|s| {
        let mut s = s.clone();
        s.conditions = None;
        let zero = |v: Option<i32>| v.or(Some(0));
        s.number_available = zero(s.number_available);
        s.number_unavailable = zero(s.number_unavailable);
        s.updated_number_scheduled = zero(s.updated_number_scheduled);
        s.collision_count = zero(s.collision_count);
        &s == computed
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::podstate::tests::pod;

    fn daemon(hash: &str, ready: bool) -> Pod {
        let mut p = pod("Running", ready.then(Utc::now));
        p.metadata.labels =
            Some([(super::super::REVISION_LABEL.to_string(), hash.to_string())].into());
        p
    }

    #[test]
    fn counts_desired_scheduled_misscheduled_ready_and_updated() {
        let (a, b, c) = (daemon("h2", true), daemon("h1", false), daemon("h1", true));
        let nodes = [
            NodeView {
                should_run: true,
                pods: vec![&a],
            },
            NodeView {
                should_run: true,
                pods: vec![&b],
            },
            NodeView {
                should_run: true,
                pods: vec![],
            },
            NodeView {
                should_run: false,
                pods: vec![&c],
            },
            NodeView {
                should_run: false,
                pods: vec![],
            },
        ];
        let s = compute(&nodes, "h2", 0, Some(4), 0, Utc::now());
        assert_eq!(s.desired_number_scheduled, 3);
        assert_eq!(s.current_number_scheduled, 2);
        assert_eq!(s.number_misscheduled, 1);
        assert_eq!(s.number_ready, 1);
        assert_eq!(s.number_available, Some(1));
        assert_eq!(s.number_unavailable, Some(2));
        assert_eq!(s.updated_number_scheduled, Some(1));
        assert_eq!(s.observed_generation, Some(4));
        assert!(unchanged(Some(&s), &s));
    }
}
