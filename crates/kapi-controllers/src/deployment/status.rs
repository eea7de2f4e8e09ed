//! A Deployment's status and conditions, as upstream's `calculateStatus` and
//! `syncRolloutStatus` compute them.
//!
//! `Available` says whether at least `replicas - maxUnavailable` pods are available.
//! `Progressing` (only with a progress deadline) tells the rollout's story: a new ReplicaSet
//! was created or found, it is progressing, it is available, or the deadline passed.

use k8s_openapi::api::apps::v1::{Deployment, DeploymentCondition, DeploymentStatus, ReplicaSet};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::chrono::{DateTime, TimeDelta, Utc};

/// Condition type: enough pods are available.
pub const AVAILABLE: &str = "Available";
/// Condition type: the rollout's progress.
pub const PROGRESSING: &str = "Progressing";
/// Reason: a new ReplicaSet was created.
pub const NEW_RS_CREATED: &str = "NewReplicaSetCreated";
/// Reason: the ReplicaSet of the current template already existed.
pub const FOUND_NEW_RS: &str = "FoundNewReplicaSet";
/// Reason: the rollout moved.
pub const RS_UPDATED: &str = "ReplicaSetUpdated";
/// Reason: the rollout finished.
pub const NEW_RS_AVAILABLE: &str = "NewReplicaSetAvailable";
/// Reason: the rollout did not move within `progressDeadlineSeconds`.
pub const TIMED_OUT: &str = "ProgressDeadlineExceeded";
/// Condition type: a ReplicaSet could not create or delete pods.
pub const REPLICA_FAILURE: &str = "ReplicaFailure";
/// Reason: paused.
pub const PAUSED: &str = "DeploymentPaused";
/// Reason: resumed.
pub const RESUMED: &str = "DeploymentResumed";

fn sum(sets: &[&ReplicaSet], f: impl Fn(&ReplicaSet) -> Option<i32>) -> i32 {
    sets.iter().map(|rs| f(rs).unwrap_or(0)).sum()
}

/// The counts from the ReplicaSets, with the Available condition; other conditions are
/// carried over from the current status.
pub fn compute(
    d: &Deployment,
    all: &[&ReplicaSet],
    new: Option<&ReplicaSet>,
    max_unavailable: i32,
    now: DateTime<Utc>,
) -> DeploymentStatus {
    let want = super::fenceposts::replicas(d);
    let available = sum(all, |rs| rs.status.as_ref()?.available_replicas);
    let total = sum(all, |rs| rs.spec.as_ref()?.replicas);
    let current = d.status.clone().unwrap_or_default();
    let mut status = DeploymentStatus {
        observed_generation: d.metadata.generation,
        replicas: Some(sum(all, |rs| rs.status.as_ref().map(|s| s.replicas))),
        updated_replicas: Some(
            new.and_then(|rs| rs.status.as_ref())
                .map_or(0, |s| s.replicas),
        ),
        ready_replicas: Some(sum(all, |rs| rs.status.as_ref()?.ready_replicas)),
        available_replicas: Some(available),
        unavailable_replicas: Some((total - available).max(0)),
        collision_count: current.collision_count,
        conditions: current.conditions,
        terminating_replicas: None,
    };
    let cond = if available >= want - max_unavailable {
        condition(
            AVAILABLE,
            "True",
            "MinimumReplicasAvailable",
            "Deployment has minimum availability.",
            now,
        )
    } else {
        condition(
            AVAILABLE,
            "False",
            "MinimumReplicasUnavailable",
            "Deployment does not have minimum availability.",
            now,
        )
    };
    set_condition(&mut status, cond);
    status
}

/// A condition stamped `now`.
pub fn condition(
    type_: &str,
    status: &str,
    reason: &str,
    message: &str,
    now: DateTime<Utc>,
) -> DeploymentCondition {
    DeploymentCondition {
        type_: type_.into(),
        status: status.into(),
        reason: Some(reason.into()),
        message: Some(message.into()),
        last_update_time: Some(Time(now)),
        last_transition_time: Some(Time(now)),
    }
}

/// The condition of `type_`.
pub fn get<'a>(status: &'a DeploymentStatus, type_: &str) -> Option<&'a DeploymentCondition> {
    status
        .conditions
        .as_deref()?
        .iter()
        .find(|c| c.type_ == type_)
}

/// Sets a condition as upstream's `SetDeploymentCondition`: same status and reason changes
/// nothing; same status keeps the transition time.
pub fn set_condition(status: &mut DeploymentStatus, mut cond: DeploymentCondition) {
    if let Some(cur) = get(status, &cond.type_) {
        if cur.status == cond.status && cur.reason == cond.reason {
            return;
        }
        if cur.status == cond.status {
            cond.last_transition_time = cur.last_transition_time.clone();
        }
    }
    remove_condition(status, &cond.type_);
    status.conditions.get_or_insert_with(Vec::new).push(cond);
}

/// Removes the condition of `type_`.
pub fn remove_condition(status: &mut DeploymentStatus, type_: &str) {
    if let Some(c) = status.conditions.as_mut() {
        c.retain(|c| c.type_ != type_);
    }
}

/// Whether the Deployment has a progress deadline (unset or `MaxInt32` mean none).
pub fn progress_deadline(d: &Deployment) -> Option<i32> {
    d.spec
        .as_ref()?
        .progress_deadline_seconds
        .filter(|s| *s != i32::MAX)
}

/// Upstream's `DeploymentComplete`: every replica updated and available, nothing old left.
pub fn complete(d: &Deployment, s: &DeploymentStatus) -> bool {
    let want = super::fenceposts::replicas(d);
    s.updated_replicas == Some(want)
        && s.replicas == Some(want)
        && s.available_replicas == Some(want)
        && s.observed_generation >= d.metadata.generation
}

/// Upstream's `DeploymentProgressing`: more updated, ready or available pods, or fewer old.
pub fn progressing(old: &DeploymentStatus, new: &DeploymentStatus) -> bool {
    let n = |v: Option<i32>| v.unwrap_or(0);
    let old_old = n(old.replicas) - n(old.updated_replicas);
    let new_old = n(new.replicas) - n(new.updated_replicas);
    n(new.updated_replicas) > n(old.updated_replicas)
        || new_old < old_old
        || n(new.ready_replicas) > n(old.ready_replicas)
        || n(new.available_replicas) > n(old.available_replicas)
}

/// Upstream's `DeploymentTimedOut`: the Progressing condition has not been updated for
/// longer than the deadline.
pub fn timed_out(d: &Deployment, s: &DeploymentStatus, now: DateTime<Utc>) -> bool {
    let Some(deadline) = progress_deadline(d) else {
        return false;
    };
    let Some(cond) = get(s, PROGRESSING) else {
        return false;
    };
    match cond.reason.as_deref() {
        Some(NEW_RS_AVAILABLE) => false,
        Some(TIMED_OUT) => true,
        _ => cond
            .last_update_time
            .as_ref()
            .is_some_and(|t| t.0 + TimeDelta::seconds(i64::from(deadline)) < now),
    }
}

/// The rollout's status (`syncRolloutStatus`): counts plus the Progressing condition.
pub fn rollout(
    d: &Deployment,
    all: &[&ReplicaSet],
    new: Option<&ReplicaSet>,
    max_unavailable: i32,
    now: DateTime<Utc>,
) -> DeploymentStatus {
    let mut status = compute(d, all, new, max_unavailable, now);
    let old = d.status.clone().unwrap_or_default();
    if progress_deadline(d).is_none() {
        remove_condition(&mut status, PROGRESSING);
    } else {
        progress(d, &old, &mut status, new, now);
    }
    // A ReplicaSet's failure to create or delete pods shows on the Deployment, the new
    // ReplicaSet's first.
    let failure = new
        .into_iter()
        .chain(all.iter().copied())
        .filter_map(|rs| rs.status.as_ref()?.conditions.as_ref())
        .flatten()
        .find(|c| c.type_ == REPLICA_FAILURE);
    match failure {
        Some(c) => set_condition(
            &mut status,
            DeploymentCondition {
                type_: REPLICA_FAILURE.into(),
                status: c.status.clone(),
                reason: c.reason.clone(),
                message: c.message.clone(),
                last_update_time: c.last_transition_time.clone(),
                last_transition_time: c.last_transition_time.clone(),
            },
        ),
        None => remove_condition(&mut status, REPLICA_FAILURE),
    }
    status
}

/// The Progressing condition's next state, unless the rollout already completed.
fn progress(
    d: &Deployment,
    old: &DeploymentStatus,
    status: &mut DeploymentStatus,
    new: Option<&ReplicaSet>,
    now: DateTime<Utc>,
) {
    let current = get(status, PROGRESSING).cloned();
    let is_complete = status.replicas == status.updated_replicas
        && current.as_ref().and_then(|c| c.reason.as_deref()) == Some(NEW_RS_AVAILABLE);
    if is_complete {
        return;
    }
    let name = new
        .and_then(|rs| rs.metadata.name.clone())
        .unwrap_or_default();
    if complete(d, status) {
        let msg = format!("ReplicaSet \"{name}\" has successfully progressed.");
        set_condition(
            status,
            condition(PROGRESSING, "True", NEW_RS_AVAILABLE, &msg, now),
        );
    } else if progressing(old, status) {
        let msg = if new.is_some() {
            format!("ReplicaSet \"{name}\" is progressing.")
        } else {
            String::new()
        };
        let mut cond = condition(PROGRESSING, "True", RS_UPDATED, &msg, now);
        if let Some(cur) = current.filter(|c| c.status == "True") {
            cond.last_transition_time = cur.last_transition_time;
        }
        remove_condition(status, PROGRESSING);
        status.conditions.get_or_insert_with(Vec::new).push(cond);
    } else if timed_out(d, status, now) {
        let msg = format!("ReplicaSet \"{name}\" has timed out progressing.");
        set_condition(
            status,
            condition(PROGRESSING, "False", TIMED_OUT, &msg, now),
        );
    }
}

/// When to look again at a rollout that may time out: the moment its deadline passes.
pub fn recheck_after(
    d: &Deployment,
    s: &DeploymentStatus,
    now: DateTime<Utc>,
) -> Option<std::time::Duration> {
    let deadline = progress_deadline(d)?;
    if complete(d, s) {
        return None;
    }
    let cond = get(s, PROGRESSING)?;
    if matches!(cond.reason.as_deref(), Some(TIMED_OUT | NEW_RS_AVAILABLE)) {
        return None;
    }
    let at = cond.last_update_time.as_ref()?.0 + TimeDelta::seconds(i64::from(deadline));
    Some((at - now).to_std().unwrap_or_default() + std::time::Duration::from_secs(1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::apps::v1::{DeploymentSpec, ReplicaSetSpec, ReplicaSetStatus};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn rs(name: &str, spec: i32, status: i32, available: i32) -> ReplicaSet {
        ReplicaSet {
            metadata: ObjectMeta {
                name: Some(name.into()),
                ..Default::default()
            },
            spec: Some(ReplicaSetSpec {
                replicas: Some(spec),
                ..Default::default()
            }),
            status: Some(ReplicaSetStatus {
                replicas: status,
                ready_replicas: Some(available),
                available_replicas: Some(available),
                ..Default::default()
            }),
        }
    }

    fn deploy(replicas: i32) -> Deployment {
        Deployment {
            metadata: ObjectMeta {
                generation: Some(2),
                ..Default::default()
            },
            spec: Some(DeploymentSpec {
                replicas: Some(replicas),
                progress_deadline_seconds: Some(600),
                ..Default::default()
            }),
            status: None,
        }
    }

    #[test]
    fn counts_come_from_the_replica_sets() {
        let d = deploy(3);
        let (old, new) = (rs("old", 1, 1, 1), rs("new", 3, 3, 2));
        let s = compute(&d, &[&old, &new], Some(&new), 0, Utc::now());
        assert_eq!(s.replicas, Some(4));
        assert_eq!(s.updated_replicas, Some(3));
        assert_eq!(s.available_replicas, Some(3));
        assert_eq!(s.unavailable_replicas, Some(1));
        assert_eq!(s.observed_generation, Some(2));
        assert_eq!(get(&s, AVAILABLE).unwrap().status, "True");
        let s = compute(&d, &[&new], Some(&new), 0, Utc::now());
        assert_eq!(
            get(&s, AVAILABLE).unwrap().reason.as_deref(),
            Some("MinimumReplicasUnavailable")
        );
    }

    #[test]
    fn progressing_becomes_available_then_stays() {
        let now = Utc::now();
        let mut d = deploy(2);
        let new = rs("web-1", 2, 2, 1);
        let s = rollout(&d, &[&new], Some(&new), 0, now);
        assert_eq!(
            get(&s, PROGRESSING).unwrap().reason.as_deref(),
            Some(RS_UPDATED)
        );
        d.status = Some(s);
        let new = rs("web-1", 2, 2, 2);
        let s = rollout(&d, &[&new], Some(&new), 0, now);
        let p = get(&s, PROGRESSING).unwrap();
        assert_eq!(p.reason.as_deref(), Some(NEW_RS_AVAILABLE));
        assert_eq!(
            p.message.as_deref(),
            Some("ReplicaSet \"web-1\" has successfully progressed.")
        );
    }

    #[test]
    fn a_stuck_rollout_times_out() {
        let now = Utc::now();
        let mut d = deploy(2);
        let mut st = DeploymentStatus {
            replicas: Some(2),
            updated_replicas: Some(2),
            ready_replicas: Some(0),
            available_replicas: Some(0),
            ..Default::default()
        };
        let mut c = condition(
            PROGRESSING,
            "True",
            RS_UPDATED,
            "",
            now - TimeDelta::seconds(601),
        );
        c.last_transition_time = c.last_update_time.clone();
        st.conditions = Some(vec![c]);
        d.status = Some(st);
        let new = rs("web-1", 2, 2, 0);
        let s = rollout(&d, &[&new], Some(&new), 0, now);
        let p = get(&s, PROGRESSING).unwrap();
        assert_eq!(
            (p.status.as_str(), p.reason.as_deref()),
            ("False", Some(TIMED_OUT))
        );
    }
}
