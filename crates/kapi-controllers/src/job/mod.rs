//! The Job controller: runs a Job's pods to completion, as kube-controller-manager's does.
//!
//! Pods are created with the `batch.kubernetes.io/job-tracking` finalizer, so a finished pod
//! cannot vanish before it is counted. Counting is upstream's two steps: a finished pod's uid
//! first goes to `status.uncountedTerminatedPods`, then its finalizer is removed, then the uid
//! moves into `succeeded` or `failed`. A sync that dies between the steps leaves the uid in
//! the status, and the next sync finishes the move; no pod is counted twice or lost.
//!
//! As with the ReplicaSet controller, each sync reads the Job and its pods from the API server
//! (consistent reads), so upstream's expectations are not needed; the watches say when.

mod accounting;
mod failurepolicy;
pub mod indexed;
mod status;
mod template;
mod tracking;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use k8s_openapi::api::batch::v1::{Job, JobStatus};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::chrono::{DateTime, Utc};
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams, Preconditions};
use kube::runtime::controller::{self, Action, Controller};
use kube::runtime::watcher;
use kube::{Api, ResourceExt};

use crate::ownership::{self, Claim};
use crate::podstate;
use crate::shared::{
    is_namespace_terminating, is_status, log_result, Context, ReconcileError, Task,
};
use accounting::{Counts, Outcome, Shape};
use kapi_node::events::{EventType, Recorder};
use status::Reason;
use template::pod_from_template;
use tracking::{
    has_finalizer, orphans, remove_finalizer, uncounted_empty, uncounted_of, write_status,
};

/// The finalizer that keeps a Job's pod until the Job has counted it.
pub const TRACKING_FINALIZER: &str = "batch.kubernetes.io/job-tracking";
/// The `spec.managedBy` value that leaves a Job to this controller (as does leaving it unset).
pub const MANAGED_BY: &str = "kubernetes.io/job-controller";
/// The label every pod of a Job carries with the Job's name (the selector uses the uid).
pub const JOB_NAME_LABEL: &str = "batch.kubernetes.io/job-name";

const CONTROLLER: &str = crate::JOB;

/// Upstream's cap on pods created or deleted in one sync.
const BURST: usize = 500;

struct Ctx {
    shared: Arc<Context>,
    events: Recorder,
}

/// Runs Jobs' pods, and frees pods whose Job is gone from the tracking finalizer.
pub fn run(ctx: Arc<Context>) -> Task {
    let client = ctx.client.clone();
    let ctx = Arc::new(Ctx {
        events: Recorder::new(client.clone(), "job-controller", String::new()),
        shared: ctx,
    });
    let jobs = Controller::new(Api::<Job>::all(client.clone()), watcher::Config::default())
        .owns(Api::<Pod>::all(client.clone()), watcher::Config::default())
        .with_config(controller::Config::default().debounce(Duration::from_millis(50)))
        .run(reconcile, error_policy, ctx)
        .for_each(|r| log_result(CONTROLLER, r));
    Box::pin(async move {
        tokio::join!(jobs, orphans(client));
    })
}

fn error_policy(job: Arc<Job>, error: &ReconcileError, ctx: Arc<Ctx>) -> Action {
    ctx.shared.failed(CONTROLLER, job.as_ref(), error)
}

/// When the Job finished: its completion time, else when its `Complete` or `Failed` condition
/// turned true. `None` while it runs.
pub fn finished_at(job: &Job) -> Option<DateTime<Utc>> {
    let st = job.status.as_ref()?;
    let conditions = st.conditions.as_deref().unwrap_or_default();
    let terminal = status::true_condition(conditions, status::COMPLETE)
        .or_else(|| status::true_condition(conditions, status::FAILED))?;
    st.completion_time
        .as_ref()
        .or(terminal.last_transition_time.as_ref())
        .map(|t| t.0)
}

async fn reconcile(cached: Arc<Job>, ctx: Arc<Ctx>) -> Result<Action, ReconcileError> {
    let ns = cached.namespace().unwrap_or_default();
    let jobs = Api::<Job>::namespaced(ctx.shared.client.clone(), &ns);
    let Some(job) = jobs.get_opt(&cached.name_any()).await? else {
        return Ok(Action::await_change());
    };
    // Another controller named in spec.managedBy owns this Job's pods and status.
    let managed_by = job.spec.as_ref().and_then(|s| s.managed_by.as_deref());
    if managed_by.is_some_and(|m| m != MANAGED_BY) {
        return Ok(Action::await_change());
    }
    let pods_api = Api::<Pod>::namespaced(ctx.shared.client.clone(), &ns);
    let selector = job.spec.as_ref().and_then(|s| s.selector.as_ref());
    let params = match match_labels_only(selector) {
        Some(labels) => ListParams::default().labels(&labels),
        None => ListParams::default(),
    };
    let pods = pods_api.list(&params).await?.items;
    let owned = claim_pods(&job, pods, &pods_api).await?;
    let action = sync(&job, owned, &jobs, &pods_api, &ctx).await?;
    ctx.shared.succeeded(CONTROLLER, &job);
    Ok(action)
}

/// The selector as a `labelSelector` query when it has only `matchLabels` (the generated
/// selector always has), so a sync lists the Job's pods rather than the whole namespace;
/// `None` otherwise, and the claim filters the full list.
fn match_labels_only(
    selector: Option<&k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector>,
) -> Option<String> {
    let selector = selector?;
    if selector
        .match_expressions
        .as_ref()
        .is_some_and(|e| !e.is_empty())
    {
        return None;
    }
    let labels = selector.match_labels.as_ref().filter(|l| !l.is_empty())?;
    Some(
        labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(","),
    )
}

/// Adopts orphans the selector takes and returns the pods this Job controls.
async fn claim_pods(job: &Job, pods: Vec<Pod>, api: &Api<Pod>) -> Result<Vec<Pod>, ReconcileError> {
    let uid = job.metadata.uid.clone().unwrap_or_default();
    let deleting = job.metadata.deletion_timestamp.is_some();
    let sel = ownership::selector(job.spec.as_ref().and_then(|s| s.selector.as_ref()));
    let owner = ownership::controller_ref("batch/v1", "Job", &job.metadata);
    let mut owned = Vec::new();
    for pod in pods {
        let patch = match ownership::claim(&uid, deleting, &sel, &pod.metadata) {
            Claim::Owned => {
                owned.push(pod);
                continue;
            }
            Claim::Ignore => continue,
            Claim::Adopt => ownership::adopt_patch(&pod.metadata, &owner),
            Claim::Release => ownership::release_patch(&pod.metadata, &uid),
        };
        let adopting = patch["metadata"]["ownerReferences"]
            .as_array()
            .is_some_and(|refs| refs.iter().any(|r| r["uid"] == uid.as_str()));
        match api
            .patch(
                &pod.name_any(),
                &PatchParams::default(),
                &Patch::Merge(&patch),
            )
            .await
        {
            Ok(p) if adopting => owned.push(p),
            Ok(_) => {}
            Err(e) if is_status(&e, 404) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(owned)
}

/// One sync: count finished pods, decide, act, write the status.
async fn sync(
    job: &Job,
    owned: Vec<Pod>,
    jobs: &Api<Job>,
    pods_api: &Api<Pod>,
    ctx: &Ctx,
) -> Result<Action, ReconcileError> {
    let now = Utc::now();
    let spec = job.spec.clone().unwrap_or_default();
    let shape = Shape::of(&spec);
    let old = job.status.clone().unwrap_or_default();
    let mut st = old.clone();
    let mut conditions = st.conditions.take().unwrap_or_default();
    let finished = status::is_finished(&conditions);
    let deleting = job.metadata.deletion_timestamp.is_some();
    let completions = spec.completions.unwrap_or(0);
    let mut completed = indexed::parse(st.completed_indexes.as_deref().unwrap_or(""), completions);

    // Step 1: note newly finished pods in uncountedTerminatedPods (and completed indexes).
    let mut uncounted = st.uncounted_terminated_pods.take().unwrap_or_default();
    let mut unc_ok: BTreeSet<String> = uncounted
        .succeeded
        .take()
        .unwrap_or_default()
        .into_iter()
        .collect();
    let mut unc_failed: BTreeSet<String> = uncounted
        .failed
        .take()
        .unwrap_or_default()
        .into_iter()
        .collect();
    let mut fail_job: Option<Reason> = None;
    let mut rv = job.metadata.resource_version.clone();
    let mut noted = false;
    for pod in owned.iter().filter(|p| has_finalizer(p)) {
        let uid = pod.metadata.uid.clone().unwrap_or_default();
        if unc_ok.contains(&uid) || unc_failed.contains(&uid) || finished {
            continue;
        }
        match accounting::outcome(pod) {
            Some(Outcome::Succeeded) => {
                if shape.indexed {
                    match indexed::of(&pod.metadata).filter(|i| *i < completions) {
                        Some(i) => {
                            completed.insert(i);
                        }
                        None => continue,
                    }
                }
                unc_ok.insert(uid);
                noted = true;
            }
            Some(Outcome::Failed) => {
                match failurepolicy::decide(spec.pod_failure_policy.as_ref(), pod) {
                    failurepolicy::Action::Ignore => {
                        // Not counted: drop the finalizer below without a status entry.
                        continue;
                    }
                    failurepolicy::Action::FailJob(message) => {
                        fail_job.get_or_insert(Reason::new("PodFailurePolicy", &message));
                    }
                    failurepolicy::Action::Count => {}
                }
                unc_failed.insert(uid);
                noted = true;
            }
            None => {}
        }
    }
    if noted {
        let mut pending = st.clone();
        pending.conditions = Some(conditions.clone());
        pending.uncounted_terminated_pods = Some(uncounted_of(&unc_ok, &unc_failed));
        if shape.indexed {
            pending.completed_indexes = Some(indexed::format(&completed));
        }
        rv = write_status(jobs, job, rv, &pending).await?;
    }

    // Step 2: release finished pods (all pods, once the Job is finished or deleted).
    let mut released: BTreeSet<String> = BTreeSet::new();
    for pod in owned.iter().filter(|p| has_finalizer(p)) {
        let uid = pod.metadata.uid.clone().unwrap_or_default();
        let counted = unc_ok.contains(&uid) || unc_failed.contains(&uid);
        let done = accounting::outcome(pod).is_some();
        if counted || done || finished || deleting {
            remove_finalizer(pods_api, pod).await?;
            released.insert(uid);
        }
    }

    // Step 3: move released (or vanished) uids into the counters.
    let present: BTreeMap<String, &Pod> = owned
        .iter()
        .map(|p| (p.metadata.uid.clone().unwrap_or_default(), p))
        .collect();
    let gone =
        |uid: &String| released.contains(uid) || present.get(uid).is_none_or(|p| !has_finalizer(p));
    let moved_ok = unc_ok.iter().filter(|u| gone(u)).count() as i32;
    let moved_failed = unc_failed.iter().filter(|u| gone(u)).count() as i32;
    unc_ok.retain(|u| !gone(u));
    unc_failed.retain(|u| !gone(u));
    let mut succeeded = st.succeeded.unwrap_or(0) + moved_ok;
    if shape.indexed {
        succeeded = completed.len() as i32;
    }
    let failed = st.failed.unwrap_or(0) + moved_failed;
    st.succeeded = Some(succeeded);
    st.failed = Some(failed);
    st.uncounted_terminated_pods = Some(uncounted_of(&unc_ok, &unc_failed));
    if shape.indexed {
        st.completed_indexes = Some(indexed::format(&completed));
    }

    let active: Vec<&Pod> = owned.iter().filter(|p| podstate::is_active(p)).collect();
    let terminating = owned
        .iter()
        .filter(|p| {
            p.metadata.deletion_timestamp.is_some()
                && accounting::outcome(p) != Some(Outcome::Succeeded)
        })
        .count() as i32;
    let tracked_left = owned
        .iter()
        .filter(|p| has_finalizer(p) && !released.contains(p.metadata.uid.as_deref().unwrap_or("")))
        .count();
    st.active = Some(active.len() as i32);
    st.ready = Some(active.iter().filter(|p| podstate::is_ready(p)).count() as i32);
    st.terminating = Some(terminating);
    // Counts that include this sync's not-yet-moved uids, for the decisions below.
    let on_failure = spec
        .template
        .spec
        .as_ref()
        .is_some_and(|p| p.restart_policy.as_deref() == Some("OnFailure"));
    let counts = Counts {
        succeeded: if shape.indexed {
            succeeded
        } else {
            succeeded + unc_ok.len() as i32
        },
        failed: failed + unc_failed.len() as i32,
        active: active.len() as i32,
        restarts: if on_failure { restarts(&active) } else { 0 },
    };

    let mut requeue: Option<Duration> = None;
    if !finished && !deleting {
        requeue = decide(
            job,
            &spec,
            &shape,
            &counts,
            &active,
            &owned,
            &completed,
            fail_job,
            &mut st,
            &mut conditions,
            pods_api,
            ctx,
            now,
        )
        .await?;
        // A decided outcome becomes final once no pod runs and every pod is counted.
        let idle = st.active == Some(0) && tracked_left == 0 && uncounted_empty(&st);
        if idle {
            if let Some(c) = status::true_condition(&conditions, status::FAILURE_TARGET).cloned() {
                let reason = Reason::new(
                    c.reason.as_deref().unwrap_or(""),
                    c.message.as_deref().unwrap_or(""),
                );
                status::set(&mut conditions, status::FAILED, true, &reason, now);
                ctx.events
                    .object(job, EventType::Warning, &reason.reason, &reason.message)
                    .await;
            } else if status::true_condition(&conditions, status::SUCCESS_CRITERIA_MET).is_some() {
                status::set(
                    &mut conditions,
                    status::COMPLETE,
                    true,
                    &Reason::completions(),
                    now,
                );
                st.completion_time = Some(Time(now));
                ctx.events
                    .object(job, EventType::Normal, "Completed", "Job completed")
                    .await;
            } else if tracked_left > 0 || !uncounted_empty(&st) {
                requeue = Some(Duration::from_millis(500));
            }
        }
    }
    st.conditions = (!conditions.is_empty()).then_some(conditions);
    if st != old {
        write_status(jobs, job, rv, &st).await?;
    }
    Ok(match requeue {
        Some(d) => Action::requeue(d + Duration::from_millis(100)),
        None => Action::await_change(),
    })
}

/// The decisions of a running Job: fail, succeed, suspend, or create and delete pods.
/// Returns when to look again, if a timer (deadline, backoff) is running.
#[allow(clippy::too_many_arguments)]
async fn decide(
    job: &Job,
    spec: &k8s_openapi::api::batch::v1::JobSpec,
    shape: &Shape,
    counts: &Counts,
    active: &[&Pod],
    owned: &[Pod],
    completed: &BTreeSet<i32>,
    fail_job: Option<Reason>,
    st: &mut JobStatus,
    conditions: &mut Vec<k8s_openapi::api::batch::v1::JobCondition>,
    pods_api: &Api<Pod>,
    ctx: &Ctx,
    now: DateTime<Utc>,
) -> Result<Option<Duration>, ReconcileError> {
    let suspended = spec.suspend == Some(true);
    if !suspended && st.start_time.is_none() {
        st.start_time = Some(Time(now));
    }
    let started = st.start_time.as_ref().map(|t| t.0);
    let decided = status::true_condition(conditions, status::FAILURE_TARGET).is_some()
        || status::true_condition(conditions, status::SUCCESS_CRITERIA_MET).is_some();
    if !decided {
        let failure = fail_job.or_else(|| accounting::failure(shape, counts, started, now));
        if let Some(reason) = failure {
            status::set(conditions, status::FAILURE_TARGET, true, &reason, now);
        } else if accounting::succeeded(shape, counts) {
            status::set(
                conditions,
                status::SUCCESS_CRITERIA_MET,
                true,
                &Reason::completions(),
                now,
            );
        }
    }
    let decided = status::true_condition(conditions, status::FAILURE_TARGET).is_some()
        || status::true_condition(conditions, status::SUCCESS_CRITERIA_MET).is_some();
    if decided || suspended {
        if suspended && !decided {
            let reason = Reason::new("JobSuspended", "Job suspended");
            if status::set(conditions, status::SUSPENDED, true, &reason, now) {
                ctx.events
                    .object(job, EventType::Normal, "Suspended", "Job suspended")
                    .await;
            }
            st.start_time = None;
        }
        delete_pods(job, active, active.len(), pods_api, ctx).await?;
        st.active = Some(0);
        return Ok(None);
    }
    if status::true_condition(conditions, status::SUSPENDED).is_some() {
        let reason = Reason::new("JobResumed", "Job resumed");
        status::set(conditions, status::SUSPENDED, false, &reason, now);
        ctx.events
            .object(job, EventType::Normal, "Resumed", "Job resumed")
            .await;
    }
    let want = accounting::want_active(shape, counts) as usize;
    let deadline = accounting::until_deadline(shape, started, now);
    if active.len() > want {
        let mut victims: Vec<&Pod> = active.to_vec();
        // Not-ready pods and the newest go first, as upstream ranks them.
        victims.sort_by_key(|p| {
            (
                podstate::is_ready(p),
                std::cmp::Reverse(p.metadata.creation_timestamp.clone()),
            )
        });
        delete_pods(job, &victims, active.len() - want, pods_api, ctx).await?;
        return Ok(deadline);
    }
    if active.len() == want {
        return Ok(deadline);
    }
    let (failures, last) = recent_failures(owned);
    if let Some(wait) = accounting::backoff_remaining(failures, last, now) {
        return Ok(Some(deadline.map_or(wait, |d| d.min(wait))));
    }
    let n = (want - active.len()).min(BURST);
    let indexes: Vec<Option<i32>> = if shape.indexed {
        let held: BTreeSet<i32> = active
            .iter()
            .filter_map(|p| indexed::of(&p.metadata))
            .collect();
        indexed::next_pending(spec.completions.unwrap_or(0), completed, &held, n)
            .into_iter()
            .map(Some)
            .collect()
    } else {
        vec![None; n]
    };
    for index in indexes {
        let pod = pod_from_template(job, index);
        match pods_api.create(&PostParams::default(), &pod).await {
            Ok(created) => {
                let msg = format!("Created pod: {}", created.name_any());
                ctx.events
                    .object(job, EventType::Normal, "SuccessfulCreate", &msg)
                    .await;
                st.active = Some(st.active.unwrap_or(0) + 1);
            }
            Err(e) if is_namespace_terminating(&e) => break,
            Err(e) => {
                let msg = format!("Error creating: {}", api_message(&e));
                ctx.events
                    .object(job, EventType::Warning, "FailedCreate", &msg)
                    .await;
                return Err(e.into());
            }
        }
    }
    Ok(deadline)
}

/// Failed pods still present that finished after the latest success, and when the last of
/// them finished: upstream's backoff record, read from the pods.
fn recent_failures(owned: &[Pod]) -> (u32, Option<DateTime<Utc>>) {
    let last_success = owned
        .iter()
        .filter(|p| accounting::outcome(p) == Some(Outcome::Succeeded))
        .filter_map(accounting::finished_at)
        .max();
    let failures: Vec<DateTime<Utc>> = owned
        .iter()
        .filter(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Failed"))
        .filter_map(accounting::finished_at)
        .filter(|t| last_success.is_none_or(|s| *t > s))
        .collect();
    (failures.len() as u32, failures.iter().max().copied())
}

async fn delete_pods(
    job: &Job,
    pods: &[&Pod],
    n: usize,
    api: &Api<Pod>,
    ctx: &Ctx,
) -> Result<(), ReconcileError> {
    for pod in pods.iter().take(n.min(BURST)) {
        let params = DeleteParams {
            preconditions: Some(Preconditions {
                uid: pod.metadata.uid.clone(),
                resource_version: None,
            }),
            ..DeleteParams::default()
        };
        match api.delete(&pod.name_any(), &params).await {
            Ok(_) => {
                let msg = format!("Deleted pod: {}", pod.name_any());
                ctx.events
                    .object(job, EventType::Normal, "SuccessfulDelete", &msg)
                    .await;
            }
            Err(e) if is_status(&e, 404) || is_status(&e, 409) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// Container restarts (init containers included) across the active pods.
fn restarts(active: &[&Pod]) -> i32 {
    active
        .iter()
        .filter_map(|p| p.status.as_ref())
        .flat_map(|s| {
            s.init_container_statuses
                .iter()
                .flatten()
                .chain(s.container_statuses.iter().flatten())
        })
        .map(|c| c.restart_count)
        .sum()
}

fn api_message(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) => s.message.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_match_labels_narrow_the_pod_list() {
        use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
            LabelSelector, LabelSelectorRequirement,
        };
        let mut sel = LabelSelector {
            match_labels: Some(
                [("a".to_string(), "1".to_string()), ("b".into(), "2".into())].into(),
            ),
            match_expressions: None,
        };
        assert_eq!(match_labels_only(Some(&sel)).as_deref(), Some("a=1,b=2"));
        sel.match_expressions = Some(vec![LabelSelectorRequirement {
            key: "c".into(),
            operator: "Exists".into(),
            values: None,
        }]);
        assert_eq!(match_labels_only(Some(&sel)), None);
        assert_eq!(match_labels_only(None), None);
    }
}
