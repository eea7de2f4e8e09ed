//! Which surplus pods go first when a ReplicaSet scales down: the ones whose loss hurts least,
//! in upstream's order (`ActivePods` less-than): unscheduled before scheduled, Pending before
//! Unknown before Running, not ready before ready, lower `pod-deletion-cost` first, ready for a
//! shorter time first, more restarts first, newer first.

use std::cmp::Ordering;

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::chrono::{DateTime, Utc};

use crate::podstate;

/// The annotation users set to steer scale-down.
pub const DELETION_COST: &str = "controller.kubernetes.io/pod-deletion-cost";

/// The facts the order is decided on, taken from a pod once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rank {
    scheduled: bool,
    phase: u8,
    ready: bool,
    cost: i32,
    ready_since: Option<DateTime<Utc>>,
    restarts: i32,
    created: Option<DateTime<Utc>>,
}

impl Rank {
    /// The pod's facts.
    pub fn of(pod: &Pod) -> Self {
        let spec = pod.spec.as_ref();
        let status = pod.status.as_ref();
        let phase = match status.and_then(|s| s.phase.as_deref()) {
            Some("Pending") | None => 0,
            Some("Unknown") => 1,
            _ => 2,
        };
        let since = podstate::ready_since(pod);
        Self {
            scheduled: spec
                .and_then(|s| s.node_name.as_deref())
                .is_some_and(|n| !n.is_empty()),
            phase,
            ready: since.is_some(),
            cost: pod
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(DELETION_COST))
                .and_then(|c| c.parse().ok())
                .unwrap_or(0),
            ready_since: since.flatten(),
            restarts: status
                .and_then(|s| s.container_statuses.as_deref())
                .unwrap_or_default()
                .iter()
                .map(|c| c.restart_count)
                .max()
                .unwrap_or(0),
            created: pod.metadata.creation_timestamp.as_ref().map(|t| t.0),
        }
    }

    /// `Less` when `self` should be deleted before `other`.
    pub fn delete_first(&self, other: &Self) -> Ordering {
        self.scheduled
            .cmp(&other.scheduled)
            .then(self.phase.cmp(&other.phase))
            .then(self.ready.cmp(&other.ready))
            .then(self.cost.cmp(&other.cost))
            // Ready more recently goes first; a missing time counts as the most recent.
            .then_with(|| newer_first(self.ready_since, other.ready_since))
            .then(other.restarts.cmp(&self.restarts))
            .then_with(|| newer_first(self.created, other.created))
    }
}

fn newer_first(a: Option<DateTime<Utc>>, b: Option<DateTime<Utc>>) -> Ordering {
    match (a, b) {
        (Some(a), Some(b)) => b.cmp(&a),
        (None, Some(_)) => Ordering::Less,
        (Some(_), None) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    }
}

/// The `n` pods to delete from `pods`, best candidates first.
pub fn victims(pods: &[Pod], n: usize) -> Vec<&Pod> {
    let mut ranked: Vec<(Rank, &Pod)> = pods.iter().map(|p| (Rank::of(p), p)).collect();
    ranked.sort_by(|a, b| a.0.delete_first(&b.0));
    ranked.into_iter().take(n).map(|(_, p)| p).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::podstate::tests::pod;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    fn named(mut p: Pod, name: &str, node: Option<&str>, created_secs_ago: i64) -> Pod {
        p.metadata.name = Some(name.into());
        p.metadata.creation_timestamp = Some(Time(
            Utc::now() - k8s_openapi::chrono::TimeDelta::seconds(created_secs_ago),
        ));
        p.spec = Some(k8s_openapi::api::core::v1::PodSpec {
            node_name: node.map(Into::into),
            ..Default::default()
        });
        p
    }

    fn names(v: Vec<&Pod>) -> Vec<&str> {
        v.into_iter()
            .map(|p| p.metadata.name.as_deref().unwrap_or(""))
            .collect()
    }

    #[test]
    fn unscheduled_then_pending_then_unready_then_newest() {
        let now = Utc::now();
        let pods = vec![
            named(pod("Running", Some(now)), "ready-old", Some("n"), 100),
            named(pod("Running", Some(now)), "ready-new", Some("n"), 10),
            named(pod("Running", None), "running-unready", Some("n"), 100),
            named(pod("Pending", None), "pending", Some("n"), 100),
            named(pod("Pending", None), "unscheduled", None, 100),
        ];
        assert_eq!(
            names(victims(&pods, 5)),
            [
                "unscheduled",
                "pending",
                "running-unready",
                "ready-new",
                "ready-old"
            ]
        );
        assert_eq!(names(victims(&pods, 1)), ["unscheduled"]);
    }

    #[test]
    fn deletion_cost_outranks_age() {
        let now = Utc::now();
        let mut cheap = named(pod("Running", Some(now)), "cheap", Some("n"), 100);
        cheap.metadata.annotations = Some([(DELETION_COST.to_string(), "-5".to_string())].into());
        let pods = vec![named(pod("Running", Some(now)), "new", Some("n"), 1), cheap];
        assert_eq!(names(victims(&pods, 1)), ["cheap"]);
    }
}
