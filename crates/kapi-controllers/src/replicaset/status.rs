//! A ReplicaSet's (or ReplicationController's) status from its live pods, as upstream's
//! `calculateStatus` counts them.

use k8s_openapi::api::core::v1::{Pod, PodTemplateSpec};
use k8s_openapi::chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use serde_json::{json, Value};

use crate::podstate;

/// The status fields this controller owns (conditions are left as they are).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Counts {
    /// Live pods.
    pub replicas: i32,
    /// Live pods carrying every label of the template.
    pub fully_labeled_replicas: i32,
    /// Live pods that are Ready.
    pub ready_replicas: i32,
    /// Live pods Ready for `minReadySeconds`.
    pub available_replicas: i32,
    /// The generation these counts answer.
    pub observed_generation: Option<i64>,
}

/// The counts for `active` (the controlled pods neither finished nor being deleted).
pub fn compute(
    template: Option<&PodTemplateSpec>,
    min_ready: i64,
    generation: Option<i64>,
    active: &[Pod],
    now: DateTime<Utc>,
) -> Counts {
    let template_labels = template
        .and_then(|t| t.metadata.as_ref())
        .and_then(|m| m.labels.clone())
        .unwrap_or_default();
    let count = |f: &dyn Fn(&Pod) -> bool| {
        i32::try_from(active.iter().filter(|p| f(p)).count()).unwrap_or(i32::MAX)
    };
    Counts {
        replicas: count(&|_| true),
        fully_labeled_replicas: count(&|p: &Pod| {
            let labels = p.metadata.labels.as_ref();
            template_labels
                .iter()
                .all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v))
        }),
        ready_replicas: count(&podstate::is_ready),
        available_replicas: count(&|p| podstate::is_available(p, min_ready, now)),
        observed_generation: generation,
    }
}

/// Condition type: pods could not be created or deleted.
pub const REPLICA_FAILURE: &str = "ReplicaFailure";

/// The conditions after a sync that failed with `failure` (reason, message) or succeeded
/// (`None`), as upstream's `calculateStatus` keeps them: a ReplicaFailure condition is added
/// when a failure happens and none is there, and removed once a sync succeeds. `None` when
/// they do not change.
pub fn replica_failure(
    current: Vec<Value>,
    failure: Option<(&str, String)>,
    now: DateTime<Utc>,
) -> Option<Vec<Value>> {
    let present = current.iter().any(|c| c["type"] == REPLICA_FAILURE);
    match failure {
        Some((reason, message)) if !present => {
            let mut next = current;
            next.push(json!({
                "type": REPLICA_FAILURE,
                "status": "True",
                "lastTransitionTime": now.to_rfc3339_opts(SecondsFormat::Secs, true),
                "reason": reason,
                "message": message,
            }));
            Some(next)
        }
        None if present => Some(
            current
                .into_iter()
                .filter(|c| c["type"] != REPLICA_FAILURE)
                .collect(),
        ),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::podstate::tests::pod;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    #[test]
    fn a_failure_adds_the_condition_once_and_success_removes_it() {
        let now = Utc::now();
        let failed =
            replica_failure(Vec::new(), Some(("FailedCreate", "no".into())), now).expect("added");
        assert_eq!(failed[0]["reason"], "FailedCreate");
        assert_eq!(failed[0]["status"], "True");
        assert!(
            replica_failure(failed.clone(), Some(("FailedCreate", "again".into())), now).is_none()
        );
        assert_eq!(replica_failure(failed, None, now), Some(Vec::new()));
        assert!(replica_failure(Vec::new(), None, now).is_none());
    }

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
        let template = PodTemplateSpec {
            metadata: Some(ObjectMeta {
                labels: labels(&[("app", "web"), ("v", "1")]),
                ..Default::default()
            }),
            spec: None,
        };
        let mut fresh = pod("Running", Some(now));
        fresh.metadata.labels = labels(&[("app", "web"), ("v", "1")]);
        let mut old = pod(
            "Running",
            Some(now - k8s_openapi::chrono::TimeDelta::seconds(60)),
        );
        old.metadata.labels = labels(&[("app", "web")]);
        let pending = pod("Pending", None);
        let s = compute(Some(&template), 10, Some(3), &[fresh, old, pending], now);
        assert_eq!(
            s,
            Counts {
                replicas: 3,
                fully_labeled_replicas: 1,
                ready_replicas: 2,
                available_replicas: 1,
                observed_generation: Some(3),
            }
        );
    }
}
