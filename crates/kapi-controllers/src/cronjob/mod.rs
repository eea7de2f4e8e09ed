//! The CronJob controller: starts a Job at each scheduled time, as kube-controller-manager's
//! does. After each sync it sleeps until the next start time instead of polling; Job events
//! wake it early to follow the Jobs it started.

pub mod policy;
pub mod schedule;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use k8s_openapi::chrono::{DateTime, TimeDelta, Utc};
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams, PropagationPolicy};
use kube::runtime::controller::{self, Action, Controller};
use kube::runtime::watcher;
use kube::{Api, Resource, ResourceExt};
use serde_json::json;

use crate::ownership;
use crate::shared::{
    is_namespace_terminating, is_status, log_result, Context, ReconcileError, Task,
};
use kapi_node::events::{EventType, Recorder};
use policy::Plan;
use schedule::Schedule;

const CONTROLLER: &str = crate::CRONJOB;

/// The annotation with the start time a Job was created for.
pub const SCHEDULED_TIMESTAMP: &str = "batch.kubernetes.io/cronjob-scheduled-timestamp";

struct Ctx {
    shared: Arc<Context>,
    events: Recorder,
}

/// Starts CronJobs' Jobs on schedule.
pub fn run(ctx: Arc<Context>) -> Task {
    let client = ctx.client.clone();
    let ctx = Arc::new(Ctx {
        events: Recorder::new(client.clone(), "cronjob-controller", String::new()),
        shared: ctx,
    });
    Box::pin(
        Controller::new(
            Api::<CronJob>::all(client.clone()),
            watcher::Config::default(),
        )
        .owns(Api::<Job>::all(client), watcher::Config::default())
        .with_config(controller::Config::default().debounce(Duration::from_millis(50)))
        .run(reconcile, error_policy, ctx)
        .for_each(|r| log_result(CONTROLLER, r)),
    )
}

fn error_policy(cj: Arc<CronJob>, error: &ReconcileError, ctx: Arc<Ctx>) -> Action {
    ctx.shared.failed(CONTROLLER, cj.as_ref(), error)
}

fn finished(job: &Job) -> Option<(bool, Option<DateTime<Utc>>)> {
    let conditions = job.status.as_ref()?.conditions.as_deref()?;
    let done = |t: &str| {
        conditions
            .iter()
            .find(|c| c.type_ == t && c.status == "True")
    };
    if let Some(c) = done("Complete") {
        let at = job
            .status
            .as_ref()
            .and_then(|s| s.completion_time.as_ref())
            .or(c.last_transition_time.as_ref());
        return Some((true, at.map(|t| t.0)));
    }
    done("Failed").map(|c| (false, c.last_transition_time.as_ref().map(|t| t.0)))
}

fn reference(job: &Job) -> ObjectReference {
    ObjectReference {
        api_version: Some("batch/v1".into()),
        kind: Some("Job".into()),
        name: job.metadata.name.clone(),
        namespace: job.metadata.namespace.clone(),
        uid: job.metadata.uid.clone(),
        resource_version: job.metadata.resource_version.clone(),
        ..ObjectReference::default()
    }
}

async fn reconcile(cached: Arc<CronJob>, ctx: Arc<Ctx>) -> Result<Action, ReconcileError> {
    let ns = cached.namespace().unwrap_or_default();
    let client = ctx.shared.client.clone();
    let cronjobs = Api::<CronJob>::namespaced(client.clone(), &ns);
    let Some(cj) = cronjobs.get_opt(&cached.name_any()).await? else {
        return Ok(Action::await_change());
    };
    if cj.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let jobs_api = Api::<Job>::namespaced(client, &ns);
    let uid = cj.metadata.uid.clone().unwrap_or_default();
    let children: Vec<Job> = jobs_api
        .list(&ListParams::default())
        .await?
        .items
        .into_iter()
        .filter(|j| ownership::controller_of(&j.metadata).is_some_and(|r| r.uid == uid))
        .collect();
    let spec = cj.spec.clone().unwrap_or_default();
    let old = cj.status.clone().unwrap_or_default();
    let mut status = old.clone();
    let now = Utc::now();

    // Follow the Jobs in the active list: drop the finished and the vanished.
    let by_uid: BTreeMap<&str, &Job> = children
        .iter()
        .filter_map(|j| Some((j.metadata.uid.as_deref()?, j)))
        .collect();
    let mut active: Vec<ObjectReference> = Vec::new();
    for r in old.active.clone().unwrap_or_default() {
        let Some(job) = r.uid.as_deref().and_then(|u| by_uid.get(u)) else {
            let msg = format!(
                "Active job went missing: {}",
                r.name.as_deref().unwrap_or("")
            );
            ctx.events
                .object(&cj, EventType::Normal, "MissingJob", &msg)
                .await;
            continue;
        };
        match finished(job) {
            Some((ok, at)) => {
                let condition = if ok { "Complete" } else { "Failed" };
                let msg = format!(
                    "Saw completed job: {}, condition: {condition}",
                    job.name_any()
                );
                ctx.events
                    .object(&cj, EventType::Normal, "SawCompletedJob", &msg)
                    .await;
                if let (true, Some(at)) = (ok, at) {
                    if status
                        .last_successful_time
                        .as_ref()
                        .is_none_or(|t| t.0 < at)
                    {
                        status.last_successful_time = Some(Time(at));
                    }
                }
            }
            None => active.push(r),
        }
    }
    for job in &children {
        let listed = active.iter().any(|r| r.uid == job.metadata.uid);
        if !listed && finished(job).is_none() && job.metadata.deletion_timestamp.is_none() {
            let was_listed = old
                .active
                .as_deref()
                .unwrap_or_default()
                .iter()
                .any(|r| r.uid == job.metadata.uid);
            if !was_listed {
                let msg = format!(
                    "Saw a job that the controller did not create or forgot: {}",
                    job.name_any()
                );
                ctx.events
                    .object(&cj, EventType::Warning, "UnexpectedJob", &msg)
                    .await;
            }
        }
    }

    let next = schedule_next(
        &cj,
        &spec,
        &children,
        &mut active,
        &mut status,
        &jobs_api,
        &ctx,
        now,
    )
    .await;
    status.active = (!active.is_empty()).then_some(active);
    if status != old {
        let patch = json!({"status": {
            "active": status.active,
            "lastScheduleTime": status.last_schedule_time,
            "lastSuccessfulTime": status.last_successful_time,
        }});
        cronjobs
            .patch_status(
                &cj.name_any(),
                &PatchParams::default(),
                &Patch::Merge(&patch),
            )
            .await?;
    }
    cleanup_history(&cj, &children, &jobs_api, &ctx).await?;
    let next = next?;
    ctx.shared.succeeded(CONTROLLER, &cj);
    Ok(match next {
        Some(at) => Action::requeue(
            (at - Utc::now()).to_std().unwrap_or_default() + Duration::from_millis(100),
        ),
        None => Action::await_change(),
    })
}

/// Starts the Job of the most recent missed start time, if one is due and allowed. Returns the
/// next start time to wake up at.
#[allow(clippy::too_many_arguments)]
async fn schedule_next(
    cj: &CronJob,
    spec: &k8s_openapi::api::batch::v1::CronJobSpec,
    children: &[Job],
    active: &mut Vec<ObjectReference>,
    status: &mut k8s_openapi::api::batch::v1::CronJobStatus,
    jobs_api: &Api<Job>,
    ctx: &Ctx,
    now: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, ReconcileError> {
    if spec.suspend == Some(true) {
        return Ok(None);
    }
    let sched = match Schedule::parse(&spec.schedule, spec.time_zone.as_deref()) {
        Ok(s) => s,
        Err(e @ schedule::ScheduleError::TimeZone(_)) => {
            let msg = format!(
                "invalid timeZone: {:?}: {e}",
                spec.time_zone.as_deref().unwrap_or("")
            );
            ctx.events
                .object(cj, EventType::Warning, "UnknownTimeZone", &msg)
                .await;
            return Ok(None);
        }
        Err(e) => {
            let msg = format!("unparseable schedule: {:?} : {e}", spec.schedule);
            ctx.events
                .object(cj, EventType::Warning, "UnparseableSchedule", &msg)
                .await;
            return Ok(None);
        }
    };
    let next = sched.next_after(now);
    let mut earliest = status
        .last_schedule_time
        .as_ref()
        .or(cj.metadata.creation_timestamp.as_ref())
        .map_or(now, |t| t.0);
    if let Some(deadline) = spec
        .starting_deadline_seconds
        .and_then(TimeDelta::try_seconds)
    {
        earliest = earliest.max(now - deadline);
    }
    let missed = schedule::missed(&sched, earliest, now);
    if missed.too_many {
        ctx.events
            .object(
                cj,
                EventType::Warning,
                "TooManyMissedTimes",
                "too many missed start times. Set or decrease .spec.startingDeadlineSeconds or check clock skew",
            )
            .await;
    }
    let Some(scheduled) = missed.most_recent else {
        return Ok(next);
    };
    let name = policy::job_name(&cj.name_any(), scheduled);
    if children.iter().any(|j| j.name_any() == name) {
        return Ok(next);
    }
    match policy::plan(spec.concurrency_policy.as_deref(), active.len()) {
        Plan::Skip => {
            let msg = "Not starting job because prior execution is running and concurrency policy is Forbid";
            ctx.events
                .object(cj, EventType::Normal, "JobAlreadyActive", msg)
                .await;
            return Ok(next);
        }
        Plan::ReplaceThenCreate => {
            for r in active.drain(..) {
                let Some(job_name) = r.name.as_deref() else {
                    continue;
                };
                let params = DeleteParams {
                    propagation_policy: Some(PropagationPolicy::Background),
                    ..DeleteParams::default()
                };
                match jobs_api.delete(job_name, &params).await {
                    Ok(_) => {
                        let msg = format!("Deleted job {job_name}");
                        ctx.events
                            .object(cj, EventType::Normal, "SuccessfulDelete", &msg)
                            .await;
                    }
                    Err(e) if is_status(&e, 404) => {}
                    Err(e) => return Err(e.into()),
                }
            }
        }
        Plan::Create => {}
    }
    // The annotation reads on spec.timeZone's clock only (a CRON_TZ prefix does not count),
    // as upstream writes it.
    let tz = schedule::zone(spec.time_zone.as_deref()).unwrap_or(chrono_tz::Tz::UTC);
    let job = job_from_template(cj, &name, scheduled.with_timezone(&tz));
    match jobs_api.create(&PostParams::default(), &job).await {
        Ok(created) => {
            let msg = format!("Created job {name}");
            ctx.events
                .object(cj, EventType::Normal, "SuccessfulCreate", &msg)
                .await;
            active.push(reference(&created));
            status.last_schedule_time = Some(Time(scheduled));
        }
        Err(e) if is_status(&e, 409) => {
            // Created by an earlier sync whose status write was lost: the start time is done.
            status.last_schedule_time = Some(Time(scheduled));
        }
        Err(e) if is_namespace_terminating(&e) => {}
        Err(e) => {
            let msg = format!("Error creating job: {e}");
            ctx.events
                .object(cj, EventType::Warning, "FailedCreate", &msg)
                .await;
            return Err(e.into());
        }
    }
    Ok(next)
}

/// The Job of one start time; its scheduled-timestamp annotation is on the zone's clock, as
/// upstream writes it.
fn job_from_template(cj: &CronJob, name: &str, scheduled: DateTime<chrono_tz::Tz>) -> Job {
    let template = cj
        .spec
        .as_ref()
        .map(|s| s.job_template.clone())
        .unwrap_or_default();
    let tmeta = template.metadata.unwrap_or_default();
    let mut annotations = tmeta.annotations.unwrap_or_default();
    annotations.insert(
        SCHEDULED_TIMESTAMP.into(),
        scheduled.to_rfc3339_opts(k8s_openapi::chrono::SecondsFormat::Secs, true),
    );
    Job {
        metadata: ObjectMeta {
            name: Some(name.into()),
            namespace: cj.namespace(),
            labels: tmeta.labels,
            annotations: Some(annotations),
            owner_references: Some(vec![ownership::controller_ref(
                &CronJob::api_version(&()),
                &CronJob::kind(&()),
                &cj.metadata,
            )]),
            ..ObjectMeta::default()
        },
        spec: template.spec,
        status: None,
    }
}

/// Deletes finished Jobs beyond the history limits, oldest first.
async fn cleanup_history(
    cj: &CronJob,
    children: &[Job],
    jobs_api: &Api<Job>,
    ctx: &Ctx,
) -> Result<(), ReconcileError> {
    let spec = cj.spec.as_ref();
    let done: Vec<policy::Finished> = children
        .iter()
        .filter(|j| j.metadata.deletion_timestamp.is_none())
        .filter_map(|j| {
            let (succeeded, _) = finished(j)?;
            let started = j
                .status
                .as_ref()
                .and_then(|s| s.start_time.as_ref())
                .map(|t| t.0);
            Some(policy::Finished {
                name: j.name_any(),
                succeeded,
                started,
            })
        })
        .collect();
    let surplus = policy::surplus(
        &done,
        spec.and_then(|s| s.successful_jobs_history_limit),
        spec.and_then(|s| s.failed_jobs_history_limit),
    );
    for name in surplus {
        let params = DeleteParams {
            propagation_policy: Some(PropagationPolicy::Background),
            ..DeleteParams::default()
        };
        match jobs_api.delete(&name, &params).await {
            Ok(_) => {
                let msg = format!("Deleted job {name}");
                ctx.events
                    .object(cj, EventType::Normal, "SuccessfulDelete", &msg)
                    .await;
            }
            Err(e) if is_status(&e, 404) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}
