//! The HPA's status conditions, as upstream keeps them: one per type, its transition time
//! moved only when its status changes.

use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscalerCondition;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::chrono::{DateTime, Utc};

/// The controller's target could be read and written.
pub const ABLE_TO_SCALE: &str = "AbleToScale";
/// A replica count could be computed from the metrics.
pub const SCALING_ACTIVE: &str = "ScalingActive";
/// The count was held back by min/max or a rate.
pub const SCALING_LIMITED: &str = "ScalingLimited";

/// Sets condition `type_`, replacing one of the same type.
pub fn set(
    list: &mut Vec<HorizontalPodAutoscalerCondition>,
    type_: &str,
    status: bool,
    reason: &str,
    message: impl Into<String>,
    now: DateTime<Utc>,
) {
    let status = if status { "True" } else { "False" }.to_string();
    let message = Some(message.into());
    let reason = Some(reason.to_string());
    if let Some(c) = list.iter_mut().find(|c| c.type_ == type_) {
        if c.status != status {
            c.last_transition_time = Some(Time(now));
        }
        c.status = status;
        c.reason = reason;
        c.message = message;
        return;
    }
    list.push(HorizontalPodAutoscalerCondition {
        type_: type_.to_string(),
        status,
        reason,
        message,
        last_transition_time: Some(Time(now)),
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::chrono::TimeDelta;

    #[test]
    fn transition_time_moves_only_when_the_status_does() {
        let t0 = Utc::now();
        let t1 = t0 + TimeDelta::seconds(15);
        let mut list = Vec::new();
        set(&mut list, ABLE_TO_SCALE, true, "SucceededGetScale", "a", t0);
        set(&mut list, ABLE_TO_SCALE, true, "ReadyForNewScale", "b", t1);
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].last_transition_time, Some(Time(t0)));
        assert_eq!(list[0].reason.as_deref(), Some("ReadyForNewScale"));
        set(&mut list, ABLE_TO_SCALE, false, "FailedGetScale", "c", t1);
        assert_eq!(list[0].last_transition_time, Some(Time(t1)));
    }
}
