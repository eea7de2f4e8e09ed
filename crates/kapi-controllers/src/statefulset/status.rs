//! A StatefulSet's status from its member pods, as upstream counts it, including the moment a
//! rolling update completes: when every member is updated and ready, the update revision
//! becomes the current one. `kubectl rollout status` reads exactly these fields.

use k8s_openapi::api::apps::v1::StatefulSetStatus;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::chrono::{DateTime, Utc};

use super::ordinals;
use crate::podstate;

/// Running with the Ready condition True (upstream's `isRunningAndReady`).
pub fn running_and_ready(pod: &Pod) -> bool {
    pod.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running")
        && podstate::is_ready(pod)
}

/// What the counts are taken against.
pub struct Inputs<'a> {
    /// The members (owned pods with a member name), terminating ones included.
    pub pods: &'a [Pod],
    /// The current revision's name.
    pub current_revision: &'a str,
    /// The update revision's name.
    pub update_revision: &'a str,
    /// Whether the strategy is RollingUpdate.
    pub rolling: bool,
    /// `spec.minReadySeconds`.
    pub min_ready: i64,
    /// `metadata.generation`.
    pub generation: Option<i64>,
    /// `status.collisionCount` after this sync.
    pub collision_count: i32,
}

/// The status for `inputs` at `now`.
pub fn compute(inputs: &Inputs<'_>, now: DateTime<Utc>) -> StatefulSetStatus {
    let count = |f: &dyn Fn(&Pod) -> bool| {
        i32::try_from(inputs.pods.iter().filter(|p| f(p)).count()).unwrap_or(i32::MAX)
    };
    let live = |p: &Pod| p.metadata.deletion_timestamp.is_none();
    let at = |p: &Pod, rev: &str| live(p) && ordinals::revision_of(p) == Some(rev);
    let replicas = count(&|_| true);
    let ready = count(&|p| live(p) && running_and_ready(p));
    let available = count(&|p| {
        live(p) && running_and_ready(p) && podstate::is_available(p, inputs.min_ready, now)
    });
    let mut current_replicas = count(&|p| at(p, inputs.current_revision));
    let updated = count(&|p| at(p, inputs.update_revision));
    let mut current_revision = inputs.current_revision.to_string();
    if inputs.rolling && updated == replicas && ready == replicas {
        current_revision = inputs.update_revision.to_string();
        current_replicas = updated;
    }
    StatefulSetStatus {
        observed_generation: inputs.generation,
        replicas,
        ready_replicas: Some(ready),
        available_replicas: Some(available),
        current_replicas: Some(current_replicas),
        updated_replicas: Some(updated),
        current_revision: Some(current_revision),
        update_revision: Some(inputs.update_revision.to_string()),
        collision_count: Some(inputs.collision_count),
        conditions: None,
    }
}

/// Whether `stored` already says what `computed` says (conditions are not this controller's).
pub fn unchanged(stored: Option<&StatefulSetStatus>, computed: &StatefulSetStatus) -> bool {
    stored.is_some_and(|s| {
        let mut s = s.clone();
        s.conditions = None;
        let zero = |v: Option<i32>| v.or(Some(0));
        s.ready_replicas = zero(s.ready_replicas);
        s.available_replicas = zero(s.available_replicas);
        s.current_replicas = zero(s.current_replicas);
        s.updated_replicas = zero(s.updated_replicas);
        s.collision_count = zero(s.collision_count);
        &s == computed
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::podstate::tests::pod;

    fn member(rev: &str, ready: bool) -> Pod {
        let mut p = pod(
            if ready { "Running" } else { "Pending" },
            ready.then(Utc::now),
        );
        p.metadata.labels = Some([(ordinals::REVISION_LABEL.to_string(), rev.to_string())].into());
        p
    }

    fn inputs<'a>(pods: &'a [Pod]) -> Inputs<'a> {
        Inputs {
            pods,
            current_revision: "web-a",
            update_revision: "web-b",
            rolling: true,
            min_ready: 0,
            generation: Some(2),
            collision_count: 0,
        }
    }

    #[test]
    fn counts_by_revision_and_readiness() {
        let pods = [member("web-a", true), member("web-b", false)];
        let s = compute(&inputs(&pods), Utc::now());
        assert_eq!(s.replicas, 2);
        assert_eq!(s.ready_replicas, Some(1));
        assert_eq!(s.current_replicas, Some(1));
        assert_eq!(s.updated_replicas, Some(1));
        assert_eq!(s.current_revision.as_deref(), Some("web-a"));
        assert_eq!(s.observed_generation, Some(2));
        assert!(unchanged(Some(&s), &s));
    }

    #[test]
    fn a_finished_rolling_update_makes_the_update_revision_current() {
        let pods = [member("web-b", true), member("web-b", true)];
        let s = compute(&inputs(&pods), Utc::now());
        assert_eq!(s.current_revision.as_deref(), Some("web-b"));
        assert_eq!(s.current_replicas, Some(2));
        let on_delete = Inputs {
            rolling: false,
            ..inputs(&pods)
        };
        assert_eq!(
            compute(&on_delete, Utc::now()).current_revision.as_deref(),
            Some("web-a")
        );
    }
}
