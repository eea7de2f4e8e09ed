//! The CronJob's choices that depend only on its spec and its Jobs: what to do about running
//! Jobs when a start time comes (`concurrencyPolicy`), what the Job of a start time is called,
//! and which finished Jobs the history limits let go.

use k8s_openapi::chrono::{DateTime, Utc};

/// What to do at a start time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    /// Start the Job.
    Create,
    /// `Forbid` with a Job still running: skip this start time.
    Skip,
    /// `Replace`: delete the running Jobs, then start the new one.
    ReplaceThenCreate,
}

/// Decides by `concurrencyPolicy` (`Allow` when unset or unknown, as upstream defaults it).
pub fn plan(policy: Option<&str>, active: usize) -> Plan {
    match policy {
        _ if active == 0 => Plan::Create,
        Some("Forbid") => Plan::Skip,
        Some("Replace") => Plan::ReplaceThenCreate,
        _ => Plan::Create,
    }
}

/// Upstream's name for the Job of a start time: the CronJob's name and the time in minutes
/// since the epoch, so one start time can never make two Jobs.
pub fn job_name(cronjob: &str, scheduled: DateTime<Utc>) -> String {
    format!("{cronjob}-{}", scheduled.timestamp().div_euclid(60))
}

/// A finished Job, as the history cleanup sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finished {
    /// Its name.
    pub name: String,
    /// Completed (true) or failed (false).
    pub succeeded: bool,
    /// `status.startTime`: older ones go first, Jobs that never started last, as upstream
    /// sorts them.
    pub started: Option<DateTime<Utc>>,
}

/// The finished Jobs to delete: the oldest beyond `successfulJobsHistoryLimit` among the
/// completed and beyond `failedJobsHistoryLimit` among the failed. An unset limit keeps all.
pub fn surplus(jobs: &[Finished], successful: Option<i32>, failed: Option<i32>) -> Vec<String> {
    let mut out = Vec::new();
    for (ok, limit) in [(true, successful), (false, failed)] {
        let Some(limit) = limit else {
            continue;
        };
        let mut group: Vec<&Finished> = jobs.iter().filter(|j| j.succeeded == ok).collect();
        group.sort_by(|a, b| {
            let key = |j: &Finished| (j.started.is_none(), j.started, j.name.clone());
            key(a).cmp(&key(b))
        });
        let excess = group.len().saturating_sub(limit.max(0) as usize);
        out.extend(group.into_iter().take(excess).map(|j| j.name.clone()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::chrono::TimeDelta;

    #[test]
    fn concurrency_policies_decide_only_when_a_job_runs() {
        assert_eq!(plan(Some("Forbid"), 0), Plan::Create);
        assert_eq!(plan(Some("Forbid"), 1), Plan::Skip);
        assert_eq!(plan(Some("Replace"), 2), Plan::ReplaceThenCreate);
        assert_eq!(plan(Some("Allow"), 2), Plan::Create);
        assert_eq!(plan(None, 2), Plan::Create);
    }

    #[test]
    fn job_names_carry_the_start_time_in_minutes() {
        let t = DateTime::parse_from_rfc3339("2024-01-01T10:05:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(job_name("hello", t), "hello-28401725");
    }

    #[test]
    fn history_keeps_the_newest_of_each_kind() {
        let t = Utc::now();
        let j = |name: &str, ok, age| Finished {
            name: name.into(),
            succeeded: ok,
            started: Some(t - TimeDelta::minutes(age)),
        };
        let jobs = [
            j("s1", true, 5),
            j("s2", true, 4),
            j("s3", true, 3),
            j("f1", false, 2),
            j("f2", false, 1),
        ];
        assert_eq!(surplus(&jobs, Some(2), Some(1)), ["s1", "f1"]);
        assert_eq!(surplus(&jobs, Some(0), None), ["s1", "s2", "s3"]);
        assert!(surplus(&jobs, Some(3), Some(5)).is_empty());
        let never = Finished {
            name: "a-never-started".into(),
            succeeded: false,
            started: None,
        };
        let jobs = [never, j("f1", false, 2)];
        assert_eq!(surplus(&jobs, None, Some(1)), ["f1"]);
    }
}
