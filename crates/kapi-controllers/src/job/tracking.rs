//! Finalizer-based tracking: a finished pod stays until its uid is in
//! `status.uncountedTerminatedPods`, then loses the `batch.kubernetes.io/job-tracking`
//! finalizer, then moves into the counters; and the status write that carries those steps.

use std::collections::BTreeSet;

use futures_util::StreamExt;
use k8s_openapi::api::batch::v1::{Job, JobStatus, UncountedTerminatedPods};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Patch, PatchParams};
use kube::runtime::{watcher, WatchStreamExt};
use kube::{Api, ResourceExt};
use serde_json::json;

use super::{accounting, JOB_NAME_LABEL, TRACKING_FINALIZER};
use crate::ownership;
use crate::shared::{is_status, ReconcileError};

/// Removes the tracking finalizer from pods whose Job no longer exists (deleted with
/// background propagation while they ran), so their deletion can finish, as upstream does
/// from its pod informer.
pub async fn orphans(client: kube::Client) {
    let pods = Api::<Pod>::all(client.clone());
    let config = watcher::Config::default().labels(JOB_NAME_LABEL);
    let mut stream = std::pin::pin!(watcher::watcher(pods, config).applied_objects());
    while let Some(event) = stream.next().await {
        let Ok(pod) = event else {
            continue;
        };
        if !has_finalizer(&pod) || accounting::outcome(&pod).is_none() {
            continue;
        }
        let Some(owner) = ownership::controller_of(&pod.metadata).cloned() else {
            continue;
        };
        let ns = pod.namespace().unwrap_or_default();
        let jobs = Api::<Job>::namespaced(client.clone(), &ns);
        let gone = match jobs.get_opt(&owner.name).await {
            Ok(Some(job)) => job.metadata.uid.as_deref() != Some(owner.uid.as_str()),
            Ok(None) => true,
            Err(e) => {
                tracing::debug!(error = %e, "job lookup for an orphaned pod");
                false
            }
        };
        if gone {
            let api = Api::<Pod>::namespaced(client.clone(), &ns);
            if let Err(e) = remove_finalizer(&api, &pod).await {
                tracing::debug!(pod = %pod.name_any(), error = %e, "orphaned job pod finalizer");
            }
        }
    }
}

pub fn has_finalizer(pod: &Pod) -> bool {
    pod.finalizers().iter().any(|f| f == TRACKING_FINALIZER)
}

/// Drops the tracking finalizer, guarded by the pod's resourceVersion so no other finalizer
/// written meanwhile is lost. A pod already gone is fine.
pub async fn remove_finalizer(api: &Api<Pod>, pod: &Pod) -> Result<(), kube::Error> {
    let rest: Vec<&String> = pod
        .finalizers()
        .iter()
        .filter(|f| *f != TRACKING_FINALIZER)
        .collect();
    let patch = json!({"metadata": {
        "finalizers": if rest.is_empty() { serde_json::Value::Null } else { json!(rest) },
        "resourceVersion": pod.metadata.resource_version,
    }});
    match api
        .patch(
            &pod.name_any(),
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if is_status(&e, 404) => Ok(()),
        Err(e) => Err(e),
    }
}

pub fn uncounted_of(ok: &BTreeSet<String>, failed: &BTreeSet<String>) -> UncountedTerminatedPods {
    UncountedTerminatedPods {
        succeeded: (!ok.is_empty()).then(|| ok.iter().cloned().collect()),
        failed: (!failed.is_empty()).then(|| failed.iter().cloned().collect()),
    }
}

pub fn uncounted_empty(st: &JobStatus) -> bool {
    st.uncounted_terminated_pods.as_ref().is_none_or(|u| {
        u.succeeded.as_ref().is_none_or(Vec::is_empty)
            && u.failed.as_ref().is_none_or(Vec::is_empty)
    })
}

/// Writes the whole status, guarded by the resourceVersion `rv` this sync last saw: a conflict
/// means another writer moved on, and the retry recounts from the new state. Returns the new
/// resourceVersion.
pub async fn write_status(
    jobs: &Api<Job>,
    job: &Job,
    rv: Option<String>,
    st: &JobStatus,
) -> Result<Option<String>, ReconcileError> {
    let patch = status_patch(st, rv);
    let updated = jobs
        .patch_status(
            &job.name_any(),
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await?;
    Ok(updated.metadata.resource_version)
}

/// The merge patch that replaces the stored status with `st`.
pub fn status_patch(st: &JobStatus, rv: Option<String>) -> serde_json::Value {
    let mut status = serde_json::to_value(st).unwrap_or_default();
    // A merge patch needs explicit nulls to clear fields the new status leaves out.
    for key in [
        "completionTime",
        "startTime",
        "completedIndexes",
        "conditions",
    ] {
        if status.get(key).is_none() {
            status[key] = serde_json::Value::Null;
        }
    }
    // An empty object would merge into the stored lists and leave their uids behind, to be
    // counted again by the next sync: name both lists, null when empty.
    let uncounted = st.uncounted_terminated_pods.clone().unwrap_or_default();
    status["uncountedTerminatedPods"] = json!({
        "succeeded": uncounted.succeeded,
        "failed": uncounted.failed,
    });
    json!({"metadata": {"resourceVersion": rv}, "status": status})
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression: an emptied uncounted list was written as `{}`, which a merge patch merges
    /// into the stored lists, so every counted pod was counted again by the next sync.
    #[test]
    fn emptied_uncounted_lists_are_cleared_by_the_status_patch() {
        let st = JobStatus {
            succeeded: Some(1),
            uncounted_terminated_pods: Some(UncountedTerminatedPods::default()),
            ..Default::default()
        };
        let patch = status_patch(&st, Some("7".into()));
        let uncounted = &patch["status"]["uncountedTerminatedPods"];
        assert!(
            uncounted
                .get("succeeded")
                .is_some_and(serde_json::Value::is_null),
            "{patch}"
        );
        assert!(
            uncounted
                .get("failed")
                .is_some_and(serde_json::Value::is_null),
            "{patch}"
        );
        assert_eq!(patch["metadata"]["resourceVersion"], "7");
        assert!(patch["status"]
            .get("completionTime")
            .is_some_and(serde_json::Value::is_null));
    }
}
