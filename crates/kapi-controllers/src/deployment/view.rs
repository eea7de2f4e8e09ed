//! A ReplicaSet as the rollout arithmetic sees it: sizes, availability, age and the
//! annotations the Deployment controller leaves on it.

use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::chrono::{DateTime, Utc};
use kube::ResourceExt;

/// Annotation: the Deployment's `spec.replicas` when this ReplicaSet was last sized.
pub const DESIRED_REPLICAS: &str = "deployment.kubernetes.io/desired-replicas";
/// Annotation: `spec.replicas + maxSurge` when this ReplicaSet was last sized.
pub const MAX_REPLICAS: &str = "deployment.kubernetes.io/max-replicas";

/// The numbers of one ReplicaSet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetView {
    /// Its name.
    pub name: String,
    /// `spec.replicas`.
    pub replicas: i32,
    /// `status.availableReplicas`.
    pub available: i32,
    /// When it was created; ties are broken by name, as upstream does.
    pub created: Option<DateTime<Utc>>,
    /// The desired-replicas annotation, if it parses.
    pub desired: Option<i32>,
    /// The max-replicas annotation, if it parses.
    pub max: Option<i32>,
}

impl SetView {
    /// The view of `rs`.
    pub fn of(rs: &ReplicaSet) -> Self {
        let ann = |k: &str| rs.annotations().get(k).and_then(|v| v.parse().ok());
        Self {
            name: rs.name_any(),
            replicas: rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1),
            available: rs
                .status
                .as_ref()
                .and_then(|s| s.available_replicas)
                .unwrap_or(0),
            created: rs.metadata.creation_timestamp.as_ref().map(|t| t.0),
            desired: ann(DESIRED_REPLICAS),
            max: ann(MAX_REPLICAS),
        }
    }
}

/// Sorts oldest first (upstream's `ReplicaSetsByCreationTimestamp`).
pub fn oldest_first(sets: &mut [SetView]) {
    sets.sort_by(|a, b| a.created.cmp(&b.created).then_with(|| a.name.cmp(&b.name)));
}

#[cfg(test)]
pub(crate) fn view(name: &str, replicas: i32, available: i32, age: i64) -> SetView {
    SetView {
        name: name.into(),
        replicas,
        available,
        created: Some(
            DateTime::<Utc>::UNIX_EPOCH + k8s_openapi::chrono::TimeDelta::seconds(1000 - age),
        ),
        desired: None,
        max: None,
    }
}
