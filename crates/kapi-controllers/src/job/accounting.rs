//! The arithmetic of a Job: how many pods should run, when it has succeeded or must fail, and
//! how long to wait before replacing a failed pod. Pure functions of the spec and the counts,
//! so the rules upstream documents are tested here without a server.

use std::time::Duration;

use k8s_openapi::api::batch::v1::JobSpec;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::chrono::{DateTime, TimeDelta, Utc};

use super::status::Reason;

/// Upstream's first delay before a failed pod is replaced; it doubles per failure.
pub const BACKOFF_BASE: Duration = Duration::from_secs(10);
/// Upstream's longest delay before a failed pod is replaced.
pub const BACKOFF_MAX: Duration = Duration::from_secs(360);

/// What the Job's pods add up to after this sync's counting.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts {
    /// Pods (NonIndexed) or distinct indexes (Indexed) that succeeded.
    pub succeeded: i32,
    /// Failed pods that count against `backoffLimit`.
    pub failed: i32,
    /// Pods running or waiting to run.
    pub active: i32,
    /// Container restarts in the active pods, counted only under `restartPolicy: OnFailure`
    /// (the kubelet restarts failed containers in place, so no pod ever fails).
    pub restarts: i32,
}

/// The spec fields the arithmetic reads, with upstream's defaults applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shape {
    /// `spec.completions`; `None` is a work queue: done when one pod succeeds and none runs.
    pub completions: Option<i32>,
    /// `spec.parallelism`.
    pub parallelism: i32,
    /// `spec.completionMode: Indexed`.
    pub indexed: bool,
    /// `spec.backoffLimit`.
    pub backoff_limit: i32,
    /// `spec.activeDeadlineSeconds`.
    pub active_deadline: Option<i64>,
}

impl Shape {
    /// Reads the spec, defaulting what the server may have left unset.
    pub fn of(spec: &JobSpec) -> Self {
        Self {
            completions: spec.completions,
            parallelism: spec.parallelism.unwrap_or(1).max(0),
            indexed: spec.completion_mode.as_deref() == Some("Indexed"),
            backoff_limit: spec.backoff_limit.unwrap_or(6),
            active_deadline: spec.active_deadline_seconds,
        }
    }
}

/// How many pods should be active now (upstream's `wantActive`).
pub fn want_active(shape: &Shape, counts: &Counts) -> i32 {
    match shape.completions {
        // A work queue stops starting pods once one succeeded, and lets the others finish.
        None if counts.succeeded > 0 => counts.active,
        None => shape.parallelism,
        Some(c) => (c - counts.succeeded).clamp(0, shape.parallelism),
    }
}

/// Whether the Job has succeeded.
pub fn succeeded(shape: &Shape, counts: &Counts) -> bool {
    match shape.completions {
        None => counts.succeeded > 0 && counts.active == 0,
        Some(c) => counts.succeeded >= c,
    }
}

/// Why the Job must fail now, if it must: too many failures, or past its deadline.
pub fn failure(
    shape: &Shape,
    counts: &Counts,
    started: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Option<Reason> {
    // Upstream: with OnFailure, restarts reaching the limit fail the Job (any restart when
    // the limit is 0).
    let restarts_exceed = if shape.backoff_limit == 0 {
        counts.restarts > 0
    } else {
        counts.restarts >= shape.backoff_limit
    };
    if counts.failed > shape.backoff_limit || restarts_exceed {
        return Some(Reason::backoff_limit());
    }
    if until_deadline(shape, started, now) == Some(Duration::ZERO) {
        return Some(Reason::deadline());
    }
    None
}

/// Time left before `activeDeadlineSeconds` passes; zero once it has.
pub fn until_deadline(
    shape: &Shape,
    started: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Option<Duration> {
    let deadline = started? + TimeDelta::try_seconds(shape.active_deadline?)?;
    Some((deadline - now).to_std().unwrap_or(Duration::ZERO))
}

/// How long to hold off creating pods after `failures` consecutive failures, the last at
/// `last_failure`: 10s doubling to 6 minutes, as upstream. `None` when no wait is due.
pub fn backoff_remaining(
    failures: u32,
    last_failure: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Option<Duration> {
    if failures == 0 {
        return None;
    }
    let delay = BACKOFF_BASE
        .saturating_mul(1u32 << (failures - 1).min(10))
        .min(BACKOFF_MAX);
    let until = last_failure? + TimeDelta::from_std(delay).ok()?;
    (until - now).to_std().ok().filter(|d| !d.is_zero())
}

/// How a pod that stopped being active ended, for counting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Phase Succeeded.
    Succeeded,
    /// Phase Failed, or deleted before it succeeded.
    Failed,
}

/// The pod's outcome once it is finished; `None` while it may still run. A pod being deleted
/// that did not succeed counts as failed, as upstream counts it.
pub fn outcome(pod: &Pod) -> Option<Outcome> {
    match pod.status.as_ref().and_then(|s| s.phase.as_deref()) {
        Some("Succeeded") => Some(Outcome::Succeeded),
        Some("Failed") => Some(Outcome::Failed),
        _ if pod.metadata.deletion_timestamp.is_some() => Some(Outcome::Failed),
        _ => None,
    }
}

/// When the pod finished: its containers' latest `finishedAt`, else its latest condition
/// change, else its creation.
pub fn finished_at(pod: &Pod) -> Option<DateTime<Utc>> {
    let status = pod.status.as_ref();
    let terminated = status
        .and_then(|s| s.container_statuses.as_deref())
        .unwrap_or_default()
        .iter()
        .filter_map(|c| c.state.as_ref()?.terminated.as_ref()?.finished_at.as_ref())
        .map(|t| t.0)
        .max();
    let condition = || {
        status
            .and_then(|s| s.conditions.as_deref())
            .unwrap_or_default()
            .iter()
            .filter_map(|c| c.last_transition_time.as_ref().map(|t| t.0))
            .max()
    };
    terminated
        .or_else(condition)
        .or_else(|| pod.metadata.creation_timestamp.as_ref().map(|t| t.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(completions: Option<i32>, parallelism: i32) -> Shape {
        Shape {
            completions,
            parallelism,
            indexed: false,
            backoff_limit: 6,
            active_deadline: None,
        }
    }

    fn counts(succeeded: i32, failed: i32, active: i32) -> Counts {
        Counts {
            succeeded,
            failed,
            active,
            restarts: 0,
        }
    }

    #[test]
    fn parallelism_is_capped_by_remaining_completions() {
        let s = shape(Some(3), 2);
        assert_eq!(want_active(&s, &counts(0, 0, 0)), 2);
        assert_eq!(want_active(&s, &counts(2, 0, 1)), 1);
        assert_eq!(want_active(&s, &counts(3, 0, 0)), 0);
        assert!(!succeeded(&s, &counts(2, 5, 1)));
        assert!(succeeded(&s, &counts(3, 0, 0)));
    }

    #[test]
    fn a_work_queue_stops_starting_pods_after_the_first_success() {
        let s = shape(None, 3);
        assert_eq!(want_active(&s, &counts(0, 0, 0)), 3);
        assert_eq!(want_active(&s, &counts(1, 0, 2)), 2);
        assert!(!succeeded(&s, &counts(1, 0, 2)));
        assert!(succeeded(&s, &counts(1, 0, 0)));
    }

    #[test]
    fn more_failures_than_the_backoff_limit_fail_the_job() {
        let mut s = shape(Some(1), 1);
        s.backoff_limit = 1;
        let now = Utc::now();
        assert_eq!(failure(&s, &counts(0, 1, 1), Some(now), now), None);
        assert_eq!(
            failure(&s, &counts(0, 2, 0), Some(now), now),
            Some(Reason::backoff_limit())
        );
    }

    #[test]
    fn on_failure_restarts_reaching_the_backoff_limit_fail_the_job() {
        let mut s = shape(Some(1), 1);
        s.backoff_limit = 2;
        let now = Utc::now();
        let mut c = counts(0, 0, 1);
        c.restarts = 1;
        assert_eq!(failure(&s, &c, Some(now), now), None);
        c.restarts = 2;
        assert_eq!(
            failure(&s, &c, Some(now), now),
            Some(Reason::backoff_limit())
        );
        s.backoff_limit = 0;
        c.restarts = 1;
        assert_eq!(
            failure(&s, &c, Some(now), now),
            Some(Reason::backoff_limit())
        );
    }

    #[test]
    fn the_deadline_counts_from_the_start_time() {
        let mut s = shape(Some(1), 1);
        s.active_deadline = Some(30);
        let now = Utc::now();
        let started = now - TimeDelta::seconds(20);
        assert_eq!(
            until_deadline(&s, Some(started), now),
            Some(Duration::from_secs(10))
        );
        assert_eq!(failure(&s, &counts(0, 0, 1), Some(started), now), None);
        let later = now + TimeDelta::seconds(10);
        assert_eq!(
            failure(&s, &counts(0, 0, 1), Some(started), later),
            Some(Reason::deadline())
        );
        assert_eq!(until_deadline(&s, None, now), None);
    }

    #[test]
    fn backoff_doubles_from_ten_seconds_up_to_six_minutes() {
        let now = Utc::now();
        assert_eq!(backoff_remaining(0, Some(now), now), None);
        assert_eq!(
            backoff_remaining(1, Some(now), now),
            Some(Duration::from_secs(10))
        );
        assert_eq!(
            backoff_remaining(3, Some(now), now),
            Some(Duration::from_secs(40))
        );
        assert_eq!(backoff_remaining(20, Some(now), now), Some(BACKOFF_MAX));
        let old = now - TimeDelta::seconds(11);
        assert_eq!(backoff_remaining(1, Some(old), now), None);
    }

    #[test]
    fn deleted_pods_that_did_not_succeed_count_as_failed() {
        use k8s_openapi::api::core::v1::PodStatus;
        use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
        let mut p = Pod {
            status: Some(PodStatus {
                phase: Some("Running".into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(outcome(&p), None);
        p.metadata.deletion_timestamp = Some(Time(Utc::now()));
        assert_eq!(outcome(&p), Some(Outcome::Failed));
        p.status.as_mut().unwrap().phase = Some("Succeeded".into());
        assert_eq!(outcome(&p), Some(Outcome::Succeeded));
    }
}
