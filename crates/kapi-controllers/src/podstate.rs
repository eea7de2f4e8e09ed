//! What the workload controllers read from a pod's status: active, ready, available.

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::chrono::{DateTime, Utc};

/// Whether the pod counts towards its controller's replicas: not finished and not being
/// deleted (upstream's `IsPodActive`).
pub fn is_active(pod: &Pod) -> bool {
    let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
    pod.metadata.deletion_timestamp.is_none() && !matches!(phase, Some("Succeeded" | "Failed"))
}

/// When the pod's Ready condition last turned True; `None` if it is not Ready.
pub fn ready_since(pod: &Pod) -> Option<Option<DateTime<Utc>>> {
    let ready = pod
        .status
        .as_ref()?
        .conditions
        .as_deref()?
        .iter()
        .find(|c| c.type_ == "Ready")?;
    (ready.status == "True").then(|| ready.last_transition_time.as_ref().map(|t| t.0))
}

/// Whether the pod is Ready.
pub fn is_ready(pod: &Pod) -> bool {
    ready_since(pod).is_some()
}

/// Whether the pod has been Ready for `min_ready_seconds` at `now`. Upstream counts a pod
/// without a transition time as available only when `min_ready_seconds` is zero.
pub fn is_available(pod: &Pod, min_ready_seconds: i64, now: DateTime<Utc>) -> bool {
    match ready_since(pod) {
        None => false,
        Some(_) if min_ready_seconds <= 0 => true,
        Some(None) => false,
        Some(Some(since)) => since + chrono_secs(min_ready_seconds) <= now,
    }
}

/// How long until a Ready pod becomes available; `None` if it is not Ready or already is.
pub fn until_available(
    pod: &Pod,
    min_ready_seconds: i64,
    now: DateTime<Utc>,
) -> Option<std::time::Duration> {
    let since = ready_since(pod)??;
    let at = since + chrono_secs(min_ready_seconds);
    (at > now).then(|| (at - now).to_std().unwrap_or_default())
}

fn chrono_secs(s: i64) -> k8s_openapi::chrono::TimeDelta {
    k8s_openapi::chrono::TimeDelta::try_seconds(s).unwrap_or(k8s_openapi::chrono::TimeDelta::MAX)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{PodCondition, PodStatus};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    pub(crate) fn pod(phase: &str, ready_at: Option<DateTime<Utc>>) -> Pod {
        Pod {
            status: Some(PodStatus {
                phase: Some(phase.into()),
                conditions: ready_at.map(|t| {
                    vec![PodCondition {
                        type_: "Ready".into(),
                        status: "True".into(),
                        last_transition_time: Some(Time(t)),
                        ..Default::default()
                    }]
                }),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn availability_waits_for_min_ready_seconds() {
        let now = Utc::now();
        let p = pod("Running", Some(now - chrono_secs(5)));
        assert!(is_available(&p, 0, now));
        assert!(is_available(&p, 5, now));
        assert!(!is_available(&p, 10, now));
        let wait = until_available(&p, 10, now).unwrap();
        assert_eq!(wait.as_secs(), 5);
        assert!(!is_available(&pod("Pending", None), 0, now));
        let mut done = pod("Succeeded", None);
        assert!(!is_active(&done));
        done.status = None;
        assert!(is_active(&done));
    }
}
