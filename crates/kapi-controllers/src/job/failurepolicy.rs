//! `spec.podFailurePolicy`: the first rule that matches a failed pod decides whether the
//! failure fails the Job at once, is ignored, or counts against `backoffLimit`.

use k8s_openapi::api::batch::v1::{PodFailurePolicy, PodFailurePolicyRule};
use k8s_openapi::api::core::v1::Pod;

/// What a failed pod does to its Job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Fail the Job now, with this message.
    FailJob(String),
    /// Do not count the failure.
    Ignore,
    /// Count it against `backoffLimit` (also when no rule matches).
    Count,
}

/// Applies the policy to a failed pod.
pub fn decide(policy: Option<&PodFailurePolicy>, pod: &Pod) -> Action {
    let Some(policy) = policy else {
        return Action::Count;
    };
    for (i, rule) in policy.rules.iter().enumerate() {
        // Rules with an action this controller does not know (FailIndex needs
        // backoffLimitPerIndex, which kapi does not implement) are skipped, as upstream skips
        // unknown actions.
        let known = matches!(rule.action.as_str(), "FailJob" | "Ignore" | "Count");
        if !known {
            continue;
        }
        if let Some(why) = matches(rule, pod) {
            return match rule.action.as_str() {
                "FailJob" => Action::FailJob(format!("{why} matching FailJob rule at index {i}")),
                "Ignore" => Action::Ignore,
                _ => Action::Count,
            };
        }
    }
    Action::Count
}

/// Why the rule matches the pod (the start of upstream's message), if it does.
fn matches(rule: &PodFailurePolicyRule, pod: &Pod) -> Option<String> {
    let name = pod.metadata.name.as_deref().unwrap_or("");
    let ns = pod.metadata.namespace.as_deref().unwrap_or("");
    let status = pod.status.as_ref()?;
    if let Some(req) = &rule.on_exit_codes {
        // Init containers first, in the order the kubelet runs them.
        let statuses = status
            .init_container_statuses
            .as_deref()
            .unwrap_or_default()
            .iter()
            .chain(status.container_statuses.as_deref().unwrap_or_default());
        for cs in statuses {
            if req.container_name.as_ref().is_some_and(|n| *n != cs.name) {
                continue;
            }
            let Some(code) = cs
                .state
                .as_ref()
                .and_then(|s| s.terminated.as_ref())
                .map(|t| t.exit_code)
            else {
                continue;
            };
            if code == 0 {
                continue;
            }
            let listed = req.values.contains(&code);
            let hit = match req.operator.as_str() {
                "In" => listed,
                "NotIn" => !listed,
                _ => false,
            };
            if hit {
                return Some(format!(
                    "Container {} for pod {ns}/{name} failed with exit code {code}",
                    cs.name
                ));
            }
        }
        return None;
    }
    for pattern in rule.on_pod_conditions.as_deref().unwrap_or_default() {
        let want = pattern.status.as_str();
        let hit = status
            .conditions
            .as_deref()
            .unwrap_or_default()
            .iter()
            .any(|c| c.type_ == pattern.type_ && c.status == want);
        if hit {
            return Some(format!("Pod {ns}/{name} has condition {}", pattern.type_));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::batch::v1::{
        PodFailurePolicyOnExitCodesRequirement, PodFailurePolicyOnPodConditionsPattern,
    };
    use k8s_openapi::api::core::v1::{
        ContainerState, ContainerStateTerminated, ContainerStatus, PodCondition, PodStatus,
    };

    fn failed_with(code: i32, condition: Option<&str>) -> Pod {
        let mut p = Pod::default();
        p.metadata.name = Some("p".into());
        p.metadata.namespace = Some("ns".into());
        p.status = Some(PodStatus {
            phase: Some("Failed".into()),
            container_statuses: Some(vec![ContainerStatus {
                name: "main".into(),
                state: Some(ContainerState {
                    terminated: Some(ContainerStateTerminated {
                        exit_code: code,
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            }]),
            conditions: condition.map(|t| {
                vec![PodCondition {
                    type_: t.into(),
                    status: "True".into(),
                    ..Default::default()
                }]
            }),
            ..Default::default()
        });
        p
    }

    fn policy() -> PodFailurePolicy {
        PodFailurePolicy {
            rules: vec![
                PodFailurePolicyRule {
                    action: "FailJob".into(),
                    on_exit_codes: Some(PodFailurePolicyOnExitCodesRequirement {
                        container_name: Some("main".into()),
                        operator: "In".into(),
                        values: vec![42],
                    }),
                    on_pod_conditions: None,
                },
                PodFailurePolicyRule {
                    action: "Ignore".into(),
                    on_exit_codes: None,
                    on_pod_conditions: Some(vec![PodFailurePolicyOnPodConditionsPattern {
                        type_: "DisruptionTarget".into(),
                        status: "True".into(),
                    }]),
                },
            ],
        }
    }

    #[test]
    fn the_first_matching_rule_decides() {
        let p = policy();
        assert_eq!(
            decide(Some(&p), &failed_with(42, Some("DisruptionTarget"))),
            Action::FailJob(
                "Container main for pod ns/p failed with exit code 42 matching FailJob rule at index 0"
                    .into()
            )
        );
        assert_eq!(
            decide(Some(&p), &failed_with(1, Some("DisruptionTarget"))),
            Action::Ignore
        );
        assert_eq!(decide(Some(&p), &failed_with(1, None)), Action::Count);
        assert_eq!(decide(None, &failed_with(42, None)), Action::Count);
    }

    #[test]
    fn rules_with_unknown_actions_or_operators_are_skipped() {
        let mut p = policy();
        p.rules[0].action = "FailIndex".into();
        assert_eq!(
            decide(Some(&p), &failed_with(42, Some("DisruptionTarget"))),
            Action::Ignore
        );
        let mut p = policy();
        if let Some(req) = p.rules[0].on_exit_codes.as_mut() {
            req.operator = "Between".into();
        }
        assert_eq!(decide(Some(&p), &failed_with(42, None)), Action::Count);
    }
}
