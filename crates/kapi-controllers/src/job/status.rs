//! The Job's conditions, with upstream's types, reasons and messages, because `kubectl wait`,
//! `kubectl get jobs` and users' scripts read them.

use k8s_openapi::api::batch::v1::JobCondition;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::chrono::{DateTime, Utc};

/// Terminal: every required pod succeeded.
pub const COMPLETE: &str = "Complete";
/// Terminal: the Job gave up.
pub const FAILED: &str = "Failed";
/// Decided to succeed; `Complete` follows once no pod is left running.
pub const SUCCESS_CRITERIA_MET: &str = "SuccessCriteriaMet";
/// Decided to fail; `Failed` follows once no pod is left running.
pub const FAILURE_TARGET: &str = "FailureTarget";
/// `spec.suspend` is in effect.
pub const SUSPENDED: &str = "Suspended";

/// Why a Job is being failed: a condition reason and its message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reason {
    /// The condition's and the event's reason.
    pub reason: String,
    /// The condition's and the event's message.
    pub message: String,
}

impl Reason {
    /// More pods failed than `backoffLimit` allows.
    pub fn backoff_limit() -> Self {
        Self::new(
            "BackoffLimitExceeded",
            "Job has reached the specified backoff limit",
        )
    }

    /// `activeDeadlineSeconds` passed.
    pub fn deadline() -> Self {
        Self::new(
            "DeadlineExceeded",
            "Job was active longer than specified deadline",
        )
    }

    /// Enough pods succeeded.
    pub fn completions() -> Self {
        Self::new(
            "CompletionsReached",
            "Reached expected number of succeeded pods",
        )
    }

    /// A reason and a message.
    pub fn new(reason: &str, message: &str) -> Self {
        Self {
            reason: reason.into(),
            message: message.into(),
        }
    }
}

/// The condition `type_` with status True, if present.
pub fn true_condition<'a>(conditions: &'a [JobCondition], type_: &str) -> Option<&'a JobCondition> {
    conditions
        .iter()
        .find(|c| c.type_ == type_ && c.status == "True")
}

/// Whether the Job has reached `Complete` or `Failed`.
pub fn is_finished(conditions: &[JobCondition]) -> bool {
    true_condition(conditions, COMPLETE).is_some() || true_condition(conditions, FAILED).is_some()
}

/// Sets condition `type_`; the transition time moves only when the status changes. Returns
/// whether anything changed.
pub fn set(
    conditions: &mut Vec<JobCondition>,
    type_: &str,
    status: bool,
    reason: &Reason,
    now: DateTime<Utc>,
) -> bool {
    let status = if status { "True" } else { "False" };
    if let Some(c) = conditions.iter_mut().find(|c| c.type_ == type_) {
        if c.status == status
            && c.reason.as_deref() == Some(reason.reason.as_str())
            && c.message.as_deref() == Some(reason.message.as_str())
        {
            return false;
        }
        if c.status != status {
            c.last_transition_time = Some(Time(now));
        }
        c.status = status.into();
        c.reason = Some(reason.reason.clone());
        c.message = Some(reason.message.clone());
        c.last_probe_time = Some(Time(now));
        return true;
    }
    conditions.push(JobCondition {
        type_: type_.into(),
        status: status.into(),
        reason: Some(reason.reason.clone()),
        message: Some(reason.message.clone()),
        last_probe_time: Some(Time(now)),
        last_transition_time: Some(Time(now)),
    });
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transition_time_moves_only_with_the_status() {
        let t0 = Utc::now();
        let t1 = t0 + k8s_openapi::chrono::TimeDelta::seconds(5);
        let mut cs = Vec::new();
        assert!(set(
            &mut cs,
            SUSPENDED,
            true,
            &Reason::new("JobSuspended", "Job suspended"),
            t0
        ));
        assert!(!set(
            &mut cs,
            SUSPENDED,
            true,
            &Reason::new("JobSuspended", "Job suspended"),
            t1
        ));
        assert!(set(
            &mut cs,
            SUSPENDED,
            false,
            &Reason::new("JobResumed", "Job resumed"),
            t1
        ));
        assert_eq!(cs.len(), 1);
        assert_eq!(cs[0].last_transition_time, Some(Time(t1)));
        assert!(!is_finished(&cs));
        set(&mut cs, FAILED, true, &Reason::deadline(), t1);
        assert!(is_finished(&cs));
    }
}
