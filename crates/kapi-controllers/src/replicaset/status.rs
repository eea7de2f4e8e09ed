//! A ReplicaSet's status from its live pods, as upstream's `calculateStatus` counts them.

use k8s_openapi::api::apps::v1::{ReplicaSet, ReplicaSetStatus};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::chrono::{DateTime, Utc};

use crate::podstate;

/// The status for `active` (the controlled pods neither finished nor being deleted).
/// Conditions are carried over: only pods are counted here.
pub fn compute(rs: &ReplicaSet, active: &[Pod], now: DateTime<Utc>) -> ReplicaSetStatus {
    let spec = rs.spec.as_ref();
    let min_ready = i64::from(spec.and_then(|s| s.min_ready_seconds).unwrap_or(0));
    let template_labels = spec
        .and_then(|s| s.template.as_ref())
        .and_then(|t| t.metadata.as_ref())
        .and_then(|m| m.labels.clone())
        .unwrap_or_default();
    let count = |f: &dyn Fn(&Pod) -> bool| {
        i32::try_from(active.iter().filter(|p| f(p)).count()).unwrap_or(i32::MAX)
    };
    let fully_labeled = count(&|p: &Pod| {
        let labels = p.metadata.labels.as_ref();
        template_labels
            .iter()
            .all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v))
    });
    let old = rs.status.clone().unwrap_or_default();
    ReplicaSetStatus {
        replicas: count(&|_| true),
        fully_labeled_replicas: Some(fully_labeled),
        ready_replicas: Some(count(&podstate::is_ready)),
        available_replicas: Some(count(&|p| podstate::is_available(p, min_ready, now))),
        observed_generation: rs.metadata.generation,
        conditions: old.conditions,
        terminating_replicas: old.terminating_replicas,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::podstate::tests::pod;
    use k8s_openapi::api::apps::v1::ReplicaSetSpec;
    use k8s_openapi::api::core::v1::PodTemplateSpec;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    #[test]
    fn counts_ready_available_and_fully_labeled() {
        let now = Utc::now();
        let labels = |pairs: &[(&str, &str)]| {
            Some(
                pairs
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            )
        };
        let rs = ReplicaSet {
            metadata: ObjectMeta {
                generation: Some(3),
                ..Default::default()
            },
            spec: Some(ReplicaSetSpec {
                min_ready_seconds: Some(10),
                template: Some(PodTemplateSpec {
                    metadata: Some(ObjectMeta {
                        labels: labels(&[("app", "web"), ("v", "1")]),
                        ..Default::default()
                    }),
                    spec: None,
                }),
                ..Default::default()
            }),
            status: None,
        };
        let mut fresh = pod("Running", Some(now));
        fresh.metadata.labels = labels(&[("app", "web"), ("v", "1")]);
        let mut old = pod(
            "Running",
            Some(now - k8s_openapi::chrono::TimeDelta::seconds(60)),
        );
        old.metadata.labels = labels(&[("app", "web")]);
        let pending = pod("Pending", None);
        let s = compute(&rs, &[fresh, old, pending], now);
        assert_eq!(s.replicas, 3);
        assert_eq!(s.ready_replicas, Some(2));
        assert_eq!(s.available_replicas, Some(1));
        assert_eq!(s.fully_labeled_replicas, Some(1));
        assert_eq!(s.observed_generation, Some(3));
    }
}
