//! The TTL-after-finished controller: deletes a Job `ttlSecondsAfterFinished` seconds after
//! it completed or failed, with background propagation so the garbage collector takes its
//! pods, as upstream's does. It waits on a timer for each Job rather than polling.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::chrono::{DateTime, TimeDelta, Utc};
use kube::api::{DeleteParams, Preconditions, PropagationPolicy};
use kube::runtime::controller::{self, Action, Controller};
use kube::runtime::watcher;
use kube::{Api, ResourceExt};

use crate::job::finished_at;
use crate::shared::{is_status, log_result, Context, ReconcileError, Task};

const CONTROLLER: &str = crate::TTL_AFTER_FINISHED;

/// Deletes finished Jobs whose TTL has passed.
pub fn run(ctx: Arc<Context>) -> Task {
    let client = ctx.client.clone();
    Box::pin(
        Controller::new(Api::<Job>::all(client), watcher::Config::default())
            .with_config(controller::Config::default().debounce(Duration::from_millis(50)))
            .run(reconcile, error_policy, ctx)
            .for_each(|r| log_result(CONTROLLER, r)),
    )
}

fn error_policy(job: Arc<Job>, error: &ReconcileError, ctx: Arc<Context>) -> Action {
    ctx.failed(CONTROLLER, job.as_ref(), error)
}

/// When a finished Job with a TTL expires; `None` if it has no TTL or has not finished.
pub fn expires_at(job: &Job) -> Option<DateTime<Utc>> {
    let ttl = job.spec.as_ref()?.ttl_seconds_after_finished?;
    Some(finished_at(job)? + TimeDelta::try_seconds(i64::from(ttl))?)
}

async fn reconcile(job: Arc<Job>, ctx: Arc<Context>) -> Result<Action, ReconcileError> {
    if job.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let Some(at) = expires_at(&job) else {
        return Ok(Action::await_change());
    };
    let now = Utc::now();
    if at > now {
        let wait = (at - now).to_std().unwrap_or_default();
        return Ok(Action::requeue(wait + Duration::from_millis(100)));
    }
    let api = Api::<Job>::namespaced(ctx.client.clone(), &job.namespace().unwrap_or_default());
    let params = DeleteParams {
        propagation_policy: Some(PropagationPolicy::Background),
        preconditions: Some(Preconditions {
            uid: job.metadata.uid.clone(),
            resource_version: None,
        }),
        ..DeleteParams::default()
    };
    match api.delete(&job.name_any(), &params).await {
        Ok(_) => tracing::info!(job = %job.name_any(), "deleted after its TTL"),
        Err(e) if is_status(&e, 404) || is_status(&e, 409) => {}
        Err(e) => return Err(e.into()),
    }
    ctx.succeeded(CONTROLLER, job.as_ref());
    Ok(Action::await_change())
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::batch::v1::{JobCondition, JobSpec, JobStatus};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    #[test]
    fn the_ttl_counts_from_completion_or_failure() {
        let t = Utc::now();
        let mut job = Job {
            spec: Some(JobSpec {
                ttl_seconds_after_finished: Some(5),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(expires_at(&job), None, "not finished");
        job.status = Some(JobStatus {
            conditions: Some(vec![JobCondition {
                type_: "Failed".into(),
                status: "True".into(),
                last_transition_time: Some(Time(t)),
                ..Default::default()
            }]),
            ..Default::default()
        });
        assert_eq!(expires_at(&job), Some(t + TimeDelta::seconds(5)));
        job.spec = Some(JobSpec::default());
        assert_eq!(expires_at(&job), None, "no TTL");
    }
}
