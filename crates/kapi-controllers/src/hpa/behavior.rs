//! `spec.behavior`: how fast and how eagerly a recommendation becomes the target's new size.
//!
//! Two mechanisms, as upstream: stabilization windows (scale up only to the lowest, down only
//! to the highest recommendation seen within the window) and rate policies (per period, at most
//! N pods or N percent, the largest or smallest allowance as `selectPolicy` says, or none).
//! Both need the recent past, which upstream keeps in memory per HPA: the recommendations and
//! the scale events this controller made. [`History`] is that record.

use k8s_openapi::api::autoscaling::v2::{HPAScalingRules, HorizontalPodAutoscalerBehavior};
use k8s_openapi::chrono::{DateTime, TimeDelta, Utc};

/// The scale-down stabilization window when the HPA leaves it unset
/// (`--horizontal-pod-autoscaler-downscale-stabilization`).
pub const DEFAULT_DOWNSCALE_WINDOW_SECONDS: i32 = 300;

/// Which allowance wins when several policies apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Select {
    /// The policy allowing the largest change.
    Max,
    /// The policy allowing the smallest change.
    Min,
    /// No change in this direction.
    Disabled,
}

/// One rate policy: `value` pods or percent per `period_seconds`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Percent (true) or pods (false).
    pub percent: bool,
    /// How many pods, or what percent of the pods at the period's start.
    pub value: i32,
    /// The period the change is counted over.
    pub period_seconds: i32,
}

/// The rules of one direction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rules {
    /// The stabilization window.
    pub window_seconds: i32,
    /// How policies combine.
    pub select: Select,
    /// The policies.
    pub policies: Vec<Policy>,
}

/// Both directions' rules, with upstream's defaults where the HPA leaves a gap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Behavior {
    /// Scaling up.
    pub up: Rules,
    /// Scaling down.
    pub down: Rules,
}

fn rules(spec: Option<&HPAScalingRules>, window: i32, default_policies: &[Policy]) -> Rules {
    let select = match spec.and_then(|s| s.select_policy.as_deref()) {
        Some("Min") => Select::Min,
        Some("Disabled") => Select::Disabled,
        _ => Select::Max,
    };
    let policies = match spec.and_then(|s| s.policies.as_ref()) {
        Some(list) if !list.is_empty() => list
            .iter()
            .map(|p| Policy {
                percent: p.type_ == "Percent",
                value: p.value,
                period_seconds: p.period_seconds,
            })
            .collect(),
        _ => default_policies.to_vec(),
    };
    Rules {
        window_seconds: spec
            .and_then(|s| s.stabilization_window_seconds)
            .unwrap_or(window),
        select,
        policies,
    }
}

impl Behavior {
    /// The rules of an HPA's `spec.behavior`, gaps filled as upstream fills them.
    pub fn from_spec(spec: Option<&HorizontalPodAutoscalerBehavior>) -> Behavior {
        let up_defaults = [
            Policy {
                percent: false,
                value: 4,
                period_seconds: 15,
            },
            Policy {
                percent: true,
                value: 100,
                period_seconds: 15,
            },
        ];
        let down_defaults = [Policy {
            percent: true,
            value: 100,
            period_seconds: 15,
        }];
        Behavior {
            up: rules(spec.and_then(|b| b.scale_up.as_ref()), 0, &up_defaults),
            down: rules(
                spec.and_then(|b| b.scale_down.as_ref()),
                DEFAULT_DOWNSCALE_WINDOW_SECONDS,
                &down_defaults,
            ),
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Recommendation {
    at: DateTime<Utc>,
    replicas: i32,
}

#[derive(Debug, Clone, Copy)]
struct ScaleEvent {
    at: DateTime<Utc>,
    change: i32,
    outdated: bool,
}

/// One HPA's recent recommendations and scale events.
#[derive(Debug, Default)]
pub struct History {
    recommendations: Vec<Recommendation>,
    ups: Vec<ScaleEvent>,
    downs: Vec<ScaleEvent>,
}

/// A condition's status, reason and message, as [`normalize`] decides them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// `True` or `False`.
    pub status: bool,
    /// The reason.
    pub reason: &'static str,
    /// The message.
    pub message: &'static str,
}

/// The new size and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Normalized {
    /// The size to scale to.
    pub replicas: i32,
    /// The AbleToScale condition.
    pub able_to_scale: Verdict,
    /// The ScalingLimited condition.
    pub scaling_limited: Verdict,
}

impl History {
    /// Seeds the history with the current size the first time an HPA is seen, so a restart
    /// does not scale down at once.
    pub fn seed(&mut self, current: i32, now: DateTime<Utc>) {
        if self.recommendations.is_empty() {
            self.recommendations.push(Recommendation {
                at: now,
                replicas: current,
            });
        }
    }

    /// Applies stabilization and rate limits to a recommendation (`desired`), and records it.
    pub fn normalize(
        &mut self,
        b: &Behavior,
        current: i32,
        desired: i32,
        min: i32,
        max: i32,
        now: DateTime<Utc>,
    ) -> Normalized {
        let stabilized = self.stabilize(b, current, desired, now);
        let able_to_scale = if stabilized == desired {
            Verdict {
                status: true,
                reason: "ReadyForNewScale",
                message: "recommended size matches current size",
            }
        } else {
            Verdict {
                status: true,
                reason: "ScaleDownStabilized",
                message: "recent recommendations were higher than current one, applying the highest recent recommendation",
            }
        };
        let (replicas, reason, message) = self.limit(b, current, stabilized, min, max, now);
        Normalized {
            replicas,
            able_to_scale,
            scaling_limited: Verdict {
                status: replicas != stabilized,
                reason,
                message,
            },
        }
    }

    fn stabilize(&mut self, b: &Behavior, current: i32, desired: i32, now: DateTime<Utc>) -> i32 {
        let up_window = TimeDelta::seconds(i64::from(b.up.window_seconds));
        let down_window = TimeDelta::seconds(i64::from(b.down.window_seconds));
        let oldest = now - up_window.max(down_window);
        let (mut up, mut down) = (desired, desired);
        let mut stale = None;
        for (i, r) in self.recommendations.iter().enumerate() {
            if r.at + up_window > now {
                up = up.min(r.replicas);
            }
            if r.at + down_window > now {
                down = down.max(r.replicas);
            }
            if r.at < oldest {
                stale = Some(i);
            }
        }
        let recommendation = current.max(up).min(down);
        let fresh = Recommendation {
            at: now,
            replicas: desired,
        };
        match stale {
            Some(i) => self.recommendations[i] = fresh,
            None => self.recommendations.push(fresh),
        }
        recommendation
    }

    fn limit(
        &self,
        b: &Behavior,
        current: i32,
        desired: i32,
        min: i32,
        max: i32,
        now: DateTime<Utc>,
    ) -> (i32, &'static str, &'static str) {
        if desired > current {
            let limit = self.up_limit(current, &b.up, now).max(current);
            let (allowed, reason, message) = if max > limit {
                (
                    limit,
                    "ScaleUpLimit",
                    "the desired replica count is increasing faster than the maximum scale rate",
                )
            } else {
                (
                    max,
                    "TooManyReplicas",
                    "the desired replica count is more than the maximum replica count",
                )
            };
            if desired > allowed {
                return (allowed, reason, message);
            }
        } else if desired < current {
            let limit = self.down_limit(current, &b.down, now).min(current);
            let (allowed, reason, message) = if min < limit {
                (
                    limit,
                    "ScaleDownLimit",
                    "the desired replica count is decreasing faster than the maximum scale rate",
                )
            } else {
                (
                    min,
                    "TooFewReplicas",
                    "the desired replica count is less than the minimum replica count",
                )
            };
            if desired < allowed {
                return (allowed, reason, message);
            }
        }
        (
            desired,
            "DesiredWithinRange",
            "the desired count is within the acceptable range",
        )
    }

    /// The size at the start of a policy's period: now's, less what this controller changed
    /// within it.
    fn period_start(&self, current: i32, period_seconds: i32, now: DateTime<Utc>) -> i32 {
        let since = now - TimeDelta::seconds(i64::from(period_seconds));
        let sum = |events: &[ScaleEvent]| -> i32 {
            events
                .iter()
                .filter(|e| !e.outdated && e.at > since)
                .map(|e| e.change)
                .sum()
        };
        current - sum(&self.ups) + sum(&self.downs)
    }

    fn up_limit(&self, current: i32, rules: &Rules, now: DateTime<Utc>) -> i32 {
        let proposals = rules.policies.iter().map(|p| {
            let start = self.period_start(current, p.period_seconds, now);
            if p.percent {
                (f64::from(start) * (1.0 + f64::from(p.value) / 100.0)).ceil() as i32
            } else {
                start + p.value
            }
        });
        match rules.select {
            Select::Disabled => current,
            Select::Max => proposals.max().unwrap_or(i32::MIN),
            Select::Min => proposals.min().unwrap_or(i32::MAX),
        }
    }

    fn down_limit(&self, current: i32, rules: &Rules, now: DateTime<Utc>) -> i32 {
        let proposals = rules.policies.iter().map(|p| {
            let start = self.period_start(current, p.period_seconds, now);
            if p.percent {
                (f64::from(start) * (1.0 - f64::from(p.value) / 100.0)) as i32
            } else {
                start - p.value
            }
        });
        // The most permissive scale-down is the lowest floor.
        match rules.select {
            Select::Disabled => current,
            Select::Max => proposals.min().unwrap_or(i32::MAX),
            Select::Min => proposals.max().unwrap_or(i32::MIN),
        }
    }

    /// Records a rescale, for the policies' periods; events older than the longest period
    /// are marked outdated and their slots reused.
    pub fn record_scale(&mut self, b: &Behavior, from: i32, to: i32, now: DateTime<Utc>) {
        let (events, rules, change) = if to > from {
            (&mut self.ups, &b.up, to - from)
        } else {
            (&mut self.downs, &b.down, from - to)
        };
        let longest = rules
            .policies
            .iter()
            .map(|p| p.period_seconds)
            .max()
            .unwrap_or(0);
        let cutoff = now - TimeDelta::seconds(i64::from(longest));
        for e in events.iter_mut() {
            if e.at < cutoff {
                e.outdated = true;
            }
        }
        let event = ScaleEvent {
            at: now,
            change,
            outdated: false,
        };
        match events.iter_mut().find(|e| e.outdated) {
            Some(slot) => *slot = event,
            None => events.push(event),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::autoscaling::v2::HPAScalingPolicy;

    fn t0() -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap()
    }

    fn secs(s: i64) -> DateTime<Utc> {
        t0() + TimeDelta::seconds(s)
    }

    fn defaults() -> Behavior {
        Behavior::from_spec(None)
    }

    #[test]
    fn defaults_are_upstreams() {
        let b = defaults();
        assert_eq!(b.up.window_seconds, 0);
        assert_eq!(b.down.window_seconds, 300);
        assert_eq!((b.up.select, b.up.policies.len()), (Select::Max, 2));
        assert_eq!(
            b.down.policies,
            [Policy {
                percent: true,
                value: 100,
                period_seconds: 15
            }]
        );
    }

    #[test]
    fn scale_down_waits_for_the_stabilization_window() {
        let b = defaults();
        let mut h = History::default();
        h.seed(5, secs(0));
        let n = h.normalize(&b, 5, 2, 1, 10, secs(15));
        assert_eq!(n.replicas, 5, "the seed of 5 is within 300 s");
        assert_eq!(n.able_to_scale.reason, "ScaleDownStabilized");
        let n = h.normalize(&b, 5, 2, 1, 10, secs(299));
        assert_eq!(n.replicas, 5);
        // The seed leaves the window; every recommendation since was 2.
        let n = h.normalize(&b, 5, 2, 1, 10, secs(301));
        assert_eq!(n.replicas, 2);
        assert_eq!(n.able_to_scale.reason, "ReadyForNewScale");
        assert!(!n.scaling_limited.status);
    }

    #[test]
    fn scale_up_window_takes_the_lowest_recent_recommendation() {
        let spec = HorizontalPodAutoscalerBehavior {
            scale_up: Some(HPAScalingRules {
                stabilization_window_seconds: Some(60),
                ..Default::default()
            }),
            ..Default::default()
        };
        let b = Behavior::from_spec(Some(&spec));
        let mut h = History::default();
        h.seed(2, secs(0));
        assert_eq!(h.normalize(&b, 2, 6, 1, 10, secs(15)).replicas, 2);
        assert_eq!(h.normalize(&b, 2, 6, 1, 10, secs(61)).replicas, 6);
    }

    #[test]
    fn default_scale_up_rate_is_the_larger_of_4_pods_and_100_percent() {
        let b = defaults();
        let mut h = History::default();
        // From 1: max(1 + 4, 2) = 5.
        let n = h.normalize(&b, 1, 20, 1, 50, secs(0));
        assert_eq!(n.replicas, 5);
        assert_eq!(n.scaling_limited.reason, "ScaleUpLimit");
        assert!(n.scaling_limited.status);
        h.record_scale(&b, 1, 5, secs(0));
        // 10 s later the period started at 1 still: no more than 5.
        assert_eq!(h.normalize(&b, 5, 20, 1, 50, secs(10)).replicas, 5);
        // After the period: from 5, max(9, 10) = 10.
        assert_eq!(h.normalize(&b, 5, 20, 1, 50, secs(16)).replicas, 10);
        // maxReplicas caps below the rate.
        let n = History::default().normalize(&b, 5, 20, 1, 7, secs(0));
        assert_eq!(
            (n.replicas, n.scaling_limited.reason),
            (7, "TooManyReplicas")
        );
    }

    #[test]
    fn select_policy_min_and_disabled() {
        let pol = |percent, value| HPAScalingPolicy {
            type_: if percent { "Percent" } else { "Pods" }.into(),
            value,
            period_seconds: 60,
        };
        let spec = HorizontalPodAutoscalerBehavior {
            scale_down: Some(HPAScalingRules {
                stabilization_window_seconds: Some(0),
                select_policy: Some("Min".into()),
                policies: Some(vec![pol(false, 1), pol(true, 50)]),
                ..Default::default()
            }),
            scale_up: Some(HPAScalingRules {
                select_policy: Some("Disabled".into()),
                ..Default::default()
            }),
        };
        let b = Behavior::from_spec(Some(&spec));
        let mut h = History::default();
        // Down from 10: Pods allows 9, Percent 5; Min picks the smaller change, 9.
        let n = h.normalize(&b, 10, 2, 1, 20, secs(0));
        assert_eq!(
            (n.replicas, n.scaling_limited.reason),
            (9, "ScaleDownLimit")
        );
        h.record_scale(&b, 10, 9, secs(0));
        // Within the period the 1-pod allowance is used up.
        assert_eq!(h.normalize(&b, 9, 2, 1, 20, secs(30)).replicas, 9);
        // Up is disabled.
        assert_eq!(h.normalize(&b, 9, 15, 1, 20, secs(31)).replicas, 9);
        // minReplicas floors a scale-down the rate would allow.
        let spec = HorizontalPodAutoscalerBehavior {
            scale_down: Some(HPAScalingRules {
                stabilization_window_seconds: Some(0),
                ..Default::default()
            }),
            ..Default::default()
        };
        let b = Behavior::from_spec(Some(&spec));
        let n = History::default().normalize(&b, 10, 1, 3, 20, secs(0));
        assert_eq!(
            (n.replicas, n.scaling_limited.reason),
            (3, "TooFewReplicas")
        );
    }
}
