//! Reading `metrics.k8s.io/v1beta1` PodMetrics into per-pod samples of one resource.

use std::collections::HashMap;
use std::time::Duration;

use k8s_openapi::chrono::{DateTime, Utc};
use serde_json::Value;

use super::replicas::Sample;

/// Parses a Go duration as the metrics API prints windows (`15s`, `1m0s`, `15.003s`).
fn go_duration(text: &str) -> Option<Duration> {
    let mut total = 0f64;
    let mut rest = text;
    while !rest.is_empty() {
        let split = rest.find(|c: char| c.is_ascii_alphabetic())?;
        let (number, tail) = rest.split_at(split);
        let unit_len = tail
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(unit_len);
        let n: f64 = number.parse().ok()?;
        total += n * match unit {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 1e-3,
            "us" | "µs" => 1e-6,
            "ns" => 1e-9,
            _ => return None,
        };
        rest = tail;
    }
    Some(Duration::from_secs_f64(total))
}

/// Each pod's usage of `resource` (milli-units, summed over its containers, or of the one
/// container named) from a PodMetricsList. A pod missing the resource in a counted container
/// has no sample, as upstream.
pub fn samples(list: &Value, resource: &str, only: Option<&str>) -> HashMap<String, Sample> {
    let mut out = HashMap::new();
    let items = list.get("items").and_then(Value::as_array);
    for item in items.into_iter().flatten() {
        let Some(name) = item.pointer("/metadata/name").and_then(Value::as_str) else {
            continue;
        };
        let containers = item
            .get("containers")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let mut sum = 0i64;
        let counted: Vec<&Value> = containers
            .iter()
            .filter(|c| only.is_none_or(|n| c.get("name").and_then(Value::as_str) == Some(n)))
            .collect();
        let mut complete = !counted.is_empty();
        for c in counted {
            let usage = c
                .pointer(&format!("/usage/{resource}"))
                .and_then(Value::as_str)
                .and_then(kapi_api::quantity::parse_milli)
                .and_then(|m| i64::try_from(m).ok());
            match usage {
                Some(m) => sum = sum.saturating_add(m),
                None => complete = false,
            }
        }
        let timestamp = item
            .get("timestamp")
            .and_then(Value::as_str)
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&Utc));
        let window = item
            .get("window")
            .and_then(Value::as_str)
            .and_then(go_duration);
        if let (true, Some(timestamp), Some(window)) = (complete, timestamp, window) {
            out.insert(
                name.to_string(),
                Sample {
                    value: sum,
                    timestamp,
                    window,
                },
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn containers_sum_and_incomplete_pods_have_no_sample() {
        let list = json!({"items": [
            {"metadata": {"name": "a"}, "timestamp": "2026-01-01T00:00:00Z", "window": "15.2s",
             "containers": [{"name": "x", "usage": {"cpu": "250m", "memory": "10Mi"}},
                            {"name": "y", "usage": {"cpu": "1", "memory": "1Mi"}}]},
            {"metadata": {"name": "b"}, "timestamp": "2026-01-01T00:00:00Z", "window": "1m0s",
             "containers": [{"name": "x", "usage": {"memory": "10Mi"}}]},
        ]});
        let cpu = samples(&list, "cpu", None);
        assert_eq!(cpu["a"].value, 1250);
        assert_eq!(cpu["a"].window, Duration::from_secs_f64(15.2));
        assert!(!cpu.contains_key("b"));
        assert_eq!(
            samples(&list, "memory", None)["b"].value,
            10 * 1024 * 1024 * 1000
        );
        assert_eq!(samples(&list, "cpu", Some("y"))["a"].value, 1000);
        assert_eq!(go_duration("1m0s"), Some(Duration::from_secs(60)));
    }
}
