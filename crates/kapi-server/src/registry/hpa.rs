//! Validation of autoscaling/v2 HorizontalPodAutoscalers (the stored version, so v1 writes are
//! checked after conversion): replica bounds, the target reference, metric targets and
//! `behavior` rules, with upstream's paths and messages.

use kapi_api::status::{invalid_number, required, Cause};
use serde_json::Value;

/// Upstream's bounds on `behavior` rules.
const MAX_PERIOD_SECONDS: i64 = 1800;
const MAX_STABILIZATION_WINDOW_SECONDS: i64 = 3600;

fn int(v: &Value, pointer: &str) -> Option<i64> {
    v.pointer(pointer).and_then(Value::as_i64)
}

/// Adds a cause per rule the spec breaks.
pub fn validate(obj: &Value, causes: &mut Vec<Cause>) {
    let spec = obj.get("spec").cloned().unwrap_or(Value::Null);
    let min = int(&spec, "/minReplicas");
    if let Some(m) = min.filter(|m| *m < 1) {
        causes.push(invalid_number(
            "spec.minReplicas",
            m,
            "must be greater than or equal to 1",
        ));
    }
    let max = int(&spec, "/maxReplicas").unwrap_or(0);
    if max < 1 {
        causes.push(invalid_number(
            "spec.maxReplicas",
            max,
            "must be greater than 0",
        ));
    }
    if min.is_some_and(|m| max < m) {
        causes.push(invalid_number(
            "spec.maxReplicas",
            max,
            "must be greater than or equal to `minReplicas`",
        ));
    }
    for field in ["kind", "name"] {
        let value = spec
            .pointer(&format!("/scaleTargetRef/{field}"))
            .and_then(Value::as_str)
            .unwrap_or("");
        if value.is_empty() {
            causes.push(required(format!("spec.scaleTargetRef.{field}")));
        }
    }
    let metrics = spec.get("metrics").and_then(Value::as_array);
    for (i, m) in metrics.into_iter().flatten().enumerate() {
        for source in [
            "resource",
            "containerResource",
            "pods",
            "object",
            "external",
        ] {
            let path = format!("spec.metrics[{i}].{source}.target.averageUtilization");
            if let Some(u) =
                int(m, &format!("/{source}/target/averageUtilization")).filter(|u| *u < 1)
            {
                causes.push(invalid_number(path, u, "must be greater than 0"));
            }
        }
    }
    for direction in ["scaleUp", "scaleDown"] {
        let Some(rules) = spec.pointer(&format!("/behavior/{direction}")) else {
            continue;
        };
        let base = format!("spec.behavior.{direction}");
        if let Some(w) = int(rules, "/stabilizationWindowSeconds") {
            if w < 0 {
                causes.push(invalid_number(
                    format!("{base}.stabilizationWindowSeconds"),
                    w,
                    "must be greater than or equal to zero",
                ));
            } else if w > MAX_STABILIZATION_WINDOW_SECONDS {
                causes.push(invalid_number(
                    format!("{base}.stabilizationWindowSeconds"),
                    w,
                    "must be less than or equal to 3600",
                ));
            }
        }
        let policies = rules.get("policies").and_then(Value::as_array);
        for (i, p) in policies.into_iter().flatten().enumerate() {
            let at = format!("{base}.policies[{i}]");
            let period = int(p, "/periodSeconds").unwrap_or(0);
            if period <= 0 {
                causes.push(invalid_number(
                    format!("{at}.periodSeconds"),
                    period,
                    "must be greater than zero",
                ));
            } else if period > MAX_PERIOD_SECONDS {
                causes.push(invalid_number(
                    format!("{at}.periodSeconds"),
                    period,
                    "must be less than or equal to 1800",
                ));
            }
            let value = int(p, "/value").unwrap_or(0);
            if value <= 0 {
                causes.push(invalid_number(
                    format!("{at}.value"),
                    value,
                    "must be greater than zero",
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields(obj: Value) -> Vec<String> {
        let mut causes = Vec::new();
        validate(&obj, &mut causes);
        causes
            .into_iter()
            .map(|c| format!("{}: {}", c.field, c.message))
            .collect()
    }

    #[test]
    fn bounds_target_and_policies_are_checked() {
        let ok = json!({"spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web"},
            "minReplicas": 1, "maxReplicas": 3,
            "behavior": {"scaleDown": {"policies": [{"type": "Pods", "value": 1, "periodSeconds": 60}]}}}});
        assert!(fields(ok).is_empty());
        let bad = json!({"spec": {"scaleTargetRef": {"kind": "Deployment"},
            "minReplicas": 4, "maxReplicas": 3,
            "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 0}}}],
            "behavior": {"scaleUp": {"stabilizationWindowSeconds": 4000,
                "policies": [{"type": "Pods", "value": 0, "periodSeconds": 2000}]}}}});
        assert_eq!(
            fields(bad),
            [
                "spec.maxReplicas: Invalid value: 3: must be greater than or equal to `minReplicas`",
                "spec.scaleTargetRef.name: Required value",
                "spec.metrics[0].resource.target.averageUtilization: Invalid value: 0: must be greater than 0",
                "spec.behavior.scaleUp.stabilizationWindowSeconds: Invalid value: 4000: must be less than or equal to 3600",
                "spec.behavior.scaleUp.policies[0].periodSeconds: Invalid value: 2000: must be less than or equal to 1800",
                "spec.behavior.scaleUp.policies[0].value: Invalid value: 0: must be greater than zero",
            ]
        );
    }
}
