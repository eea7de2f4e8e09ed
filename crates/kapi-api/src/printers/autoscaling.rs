//! Cells for autoscaling/v2 HorizontalPodAutoscalers: the target reference and each metric as
//! `current/target`, so `kubectl get hpa` shows e.g. `cpu: 12%/50%`.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::util::*;

/// Upstream lists at most this many metrics, then `+ N more...`.
const SHOWN_METRICS: usize = 2;
const UNKNOWN: &str = "<unknown>";

pub(super) fn horizontal_pod_autoscaler(hpa: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let reference = format!(
        "{}/{}",
        str_at(hpa, &["spec", "scaleTargetRef", "kind"]),
        str_at(hpa, &["spec", "scaleTargetRef", "name"])
    );
    let min_pods = opt_int(hpa, &["spec", "minReplicas"])
        .map_or_else(|| "<unset>".to_string(), |m| m.to_string());
    vec![
        s(name(hpa)),
        s(reference),
        s(targets(
            arr_at(hpa, &["spec", "metrics"]),
            arr_at(hpa, &["status", "currentMetrics"]),
        )),
        s(min_pods),
        n(int_at(hpa, &["spec", "maxReplicas"])),
        n(int_at(hpa, &["status", "currentReplicas"])),
        age(hpa, now),
    ]
}

/// The Targets cell. Statuses pair with specs by position, as upstream pairs them.
fn targets(specs: &[Value], statuses: &[Value]) -> String {
    if specs.is_empty() {
        return "<none>".to_string();
    }
    let mut list: Vec<String> = specs
        .iter()
        .enumerate()
        .map(|(i, spec)| metric(spec, statuses.get(i)))
        .collect();
    let count = list.len();
    if count > SHOWN_METRICS {
        list.truncate(SHOWN_METRICS);
        return format!("{} + {} more...", list.join(", "), count - SHOWN_METRICS);
    }
    list.join(", ")
}

fn quantity(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// One metric as `current/target`, as upstream formats each source type.
fn metric(spec: &Value, status: Option<&Value>) -> String {
    let type_ = str_at(spec, &["type"]);
    let field = match type_ {
        "Resource" => "resource",
        "ContainerResource" => "containerResource",
        "Pods" => "pods",
        "Object" => "object",
        "External" => "external",
        _ => return "<unknown type>".to_string(),
    };
    let target = get(spec, &[field, "target"]);
    let current = status.and_then(|s| get(s, &[field, "current"]));
    let at = |v: Option<&Value>, key: &str| quantity(v.and_then(|v| v.get(key)));
    match type_ {
        "Resource" | "ContainerResource" => {
            let name = str_at(spec, &[field, "name"]);
            if let Some(avg) = at(target, "averageValue") {
                let cur = at(current, "averageValue").unwrap_or_else(|| UNKNOWN.into());
                return format!("{name}: {cur}/{avg}");
            }
            let cur = current
                .and_then(|c| c.get("averageUtilization"))
                .and_then(Value::as_i64)
                .map_or_else(|| UNKNOWN.to_string(), |u| format!("{u}%"));
            let goal = target
                .and_then(|t| t.get("averageUtilization"))
                .and_then(Value::as_i64)
                .map_or_else(|| "<auto>".to_string(), |u| format!("{u}%"));
            format!("{name}: {cur}/{goal}")
        }
        "Pods" => {
            let cur = at(current, "averageValue").unwrap_or_else(|| UNKNOWN.into());
            format!("{cur}/{}", at(target, "averageValue").unwrap_or_default())
        }
        _ => {
            if let Some(avg) = at(target, "averageValue") {
                let cur = at(current, "averageValue").unwrap_or_else(|| UNKNOWN.into());
                return format!("{cur}/{avg} (avg)");
            }
            let cur = at(current, "value").unwrap_or_else(|| UNKNOWN.into());
            format!("{cur}/{}", at(target, "value").unwrap_or_default())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn targets_show_current_over_goal_per_metric() {
        let specs = [
            json!({"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}}}),
            json!({"type": "Resource", "resource": {"name": "memory", "target": {"type": "AverageValue", "averageValue": "100Mi"}}}),
        ];
        assert_eq!(
            targets(&specs, &[]),
            "cpu: <unknown>/50%, memory: <unknown>/100Mi"
        );
        let statuses = [
            json!({"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": 12, "averageValue": "12m"}}}),
            json!({"type": "Resource", "resource": {"name": "memory", "current": {"averageValue": "20Mi"}}}),
        ];
        assert_eq!(
            targets(&specs, &statuses),
            "cpu: 12%/50%, memory: 20Mi/100Mi"
        );
        assert_eq!(targets(&[], &[]), "<none>");
        let three = [specs[0].clone(), specs[1].clone(), specs[0].clone()];
        assert_eq!(
            targets(&three, &statuses),
            "cpu: 12%/50%, memory: 20Mi/100Mi + 1 more..."
        );
    }
}
