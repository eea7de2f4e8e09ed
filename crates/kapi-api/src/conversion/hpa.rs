//! HorizontalPodAutoscaler `autoscaling/v2` ⇄ `autoscaling/v1`.
//!
//! v1 knows one metric, average CPU utilization (`targetCPUUtilizationPercentage`). As
//! upstream does, everything else v2 holds — other metrics and their current values, the
//! conditions, `behavior` — travels through v1 in annotations, so a v2 → v1 → v2 round trip
//! keeps it. Unlike upstream, the metric annotations hold the v2 shapes of the metrics (upstream
//! writes v1's older metric shapes); only kapi reads them back.

use serde_json::{json, Map, Value};

use super::ConversionError;

const METRICS: &str = "autoscaling.alpha.kubernetes.io/metrics";
const CURRENT_METRICS: &str = "autoscaling.alpha.kubernetes.io/current-metrics";
const CONDITIONS: &str = "autoscaling.alpha.kubernetes.io/conditions";
const BEHAVIOR: &str = "autoscaling.alpha.kubernetes.io/behavior";

fn is_cpu_utilization(metric: &Value) -> bool {
    metric.get("type").and_then(Value::as_str) == Some("Resource")
        && metric.pointer("/resource/name").and_then(Value::as_str) == Some("cpu")
        && metric
            .pointer("/resource/target/type")
            .and_then(Value::as_str)
            == Some("Utilization")
}

fn is_cpu_status(metric: &Value) -> bool {
    metric.get("type").and_then(Value::as_str) == Some("Resource")
        && metric.pointer("/resource/name").and_then(Value::as_str) == Some("cpu")
}

fn cpu_metric(utilization: Value) -> Value {
    json!({"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": utilization}}})
}

fn annotations(obj: &mut Value) -> &mut Map<String, Value> {
    if !obj["metadata"].is_object() {
        obj["metadata"] = json!({});
    }
    if !obj["metadata"]["annotations"].is_object() {
        obj["metadata"]["annotations"] = json!({});
    }
    match obj["metadata"]["annotations"].as_object_mut() {
        Some(map) => map,
        None => unreachable!("set to an object above"),
    }
}

fn stash(obj: &mut Value, key: &str, value: &Value) {
    annotations(obj).insert(key.to_string(), Value::String(value.to_string()));
}

/// Removes and parses an annotation that carries part of a v2 object.
fn unstash(obj: &mut Value, key: &str) -> Result<Option<Value>, ConversionError> {
    let Some(map) = obj
        .pointer_mut("/metadata/annotations")
        .and_then(Value::as_object_mut)
    else {
        return Ok(None);
    };
    let Some(raw) = map.remove(key) else {
        return Ok(None);
    };
    if map.is_empty() {
        if let Some(meta) = obj["metadata"].as_object_mut() {
            meta.remove("annotations");
        }
    }
    let text = raw.as_str().unwrap_or_default();
    serde_json::from_str(text)
        .map(Some)
        .map_err(|e| ConversionError::Invalid(format!("annotation {key}: {e}")))
}

fn copy(from: &Value, to: &mut Map<String, Value>, key: &str) {
    if let Some(v) = from.get(key) {
        to.insert(key.to_string(), v.clone());
    }
}

/// The stored v2 object as v1 shows it.
pub(super) fn v2_to_v1(mut obj: Value) -> Result<Value, ConversionError> {
    let spec = obj.get("spec").cloned().unwrap_or_else(|| json!({}));
    let status = obj.get("status").cloned();
    let mut v1_spec = Map::new();
    for key in ["scaleTargetRef", "minReplicas", "maxReplicas"] {
        copy(&spec, &mut v1_spec, key);
    }
    let metrics = spec
        .get("metrics")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let (cpu, others): (Vec<Value>, Vec<Value>) = metrics.into_iter().partition(is_cpu_utilization);
    if let Some(u) = cpu
        .first()
        .and_then(|m| m.pointer("/resource/target/averageUtilization"))
    {
        v1_spec.insert("targetCPUUtilizationPercentage".into(), u.clone());
    }
    if !others.is_empty() {
        stash(&mut obj, METRICS, &Value::Array(others));
    }
    if let Some(behavior) = spec.get("behavior") {
        stash(&mut obj, BEHAVIOR, behavior);
    }
    obj["spec"] = Value::Object(v1_spec);
    if let Some(status) = status {
        let mut v1_status = Map::new();
        for key in [
            "observedGeneration",
            "lastScaleTime",
            "currentReplicas",
            "desiredReplicas",
        ] {
            copy(&status, &mut v1_status, key);
        }
        let current = status
            .get("currentMetrics")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let (cpu, others): (Vec<Value>, Vec<Value>) = current.into_iter().partition(is_cpu_status);
        if let Some(u) = cpu
            .first()
            .and_then(|m| m.pointer("/resource/current/averageUtilization"))
        {
            v1_status.insert("currentCPUUtilizationPercentage".into(), u.clone());
        }
        if !others.is_empty() {
            stash(&mut obj, CURRENT_METRICS, &Value::Array(others));
        }
        if let Some(conditions) = status.get("conditions").filter(|c| !c.is_null()) {
            stash(&mut obj, CONDITIONS, conditions);
        }
        v1_status.entry("currentReplicas").or_insert(json!(0));
        v1_status.entry("desiredReplicas").or_insert(json!(0));
        obj["status"] = Value::Object(v1_status);
    }
    obj["apiVersion"] = json!("autoscaling/v1");
    Ok(obj)
}

/// A v1 object in the stored v2 form.
pub(super) fn v1_to_v2(mut obj: Value) -> Result<Value, ConversionError> {
    let spec = obj.get("spec").cloned().unwrap_or_else(|| json!({}));
    let status = obj.get("status").cloned();
    let others = unstash(&mut obj, METRICS)?;
    let behavior = unstash(&mut obj, BEHAVIOR)?;
    let current_others = unstash(&mut obj, CURRENT_METRICS)?;
    let conditions = unstash(&mut obj, CONDITIONS)?;
    let mut v2_spec = Map::new();
    for key in ["scaleTargetRef", "minReplicas", "maxReplicas"] {
        copy(&spec, &mut v2_spec, key);
    }
    let mut metrics: Vec<Value> = match others {
        Some(Value::Array(list)) => list,
        Some(_) => {
            return Err(ConversionError::Invalid(format!(
                "annotation {METRICS}: not a list"
            )))
        }
        None => Vec::new(),
    };
    if let Some(u) = spec
        .get("targetCPUUtilizationPercentage")
        .filter(|u| !u.is_null())
    {
        metrics.insert(0, cpu_metric(u.clone()));
    }
    // None stays none: v2's defaulting (80% CPU) belongs to the server's write path, and a
    // partial object (an apply configuration) must not claim a metric it did not name.
    if !metrics.is_empty() {
        v2_spec.insert("metrics".into(), Value::Array(metrics));
    }
    if let Some(b) = behavior {
        v2_spec.insert("behavior".into(), b);
    }
    obj["spec"] = Value::Object(v2_spec);
    if let Some(status) = status {
        let mut v2_status = Map::new();
        for key in [
            "observedGeneration",
            "lastScaleTime",
            "currentReplicas",
            "desiredReplicas",
        ] {
            copy(&status, &mut v2_status, key);
        }
        let mut current: Vec<Value> = match current_others {
            Some(Value::Array(list)) => list,
            _ => Vec::new(),
        };
        if let Some(u) = status
            .get("currentCPUUtilizationPercentage")
            .filter(|u| !u.is_null())
        {
            current.insert(
                0,
                json!({"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": u}}}),
            );
        }
        if !current.is_empty() {
            v2_status.insert("currentMetrics".into(), Value::Array(current));
        }
        if let Some(c) = conditions {
            v2_status.insert("conditions".into(), c);
        }
        obj["status"] = Value::Object(v2_status);
    }
    obj["apiVersion"] = json!("autoscaling/v2");
    Ok(obj)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v2() -> Value {
        json!({
            "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                "minReplicas": 1, "maxReplicas": 5,
                "metrics": [
                    {"type": "Resource", "resource": {"name": "memory", "target": {"type": "AverageValue", "averageValue": "100Mi"}}},
                    cpu_metric(json!(50)),
                ],
                "behavior": {"scaleDown": {"stabilizationWindowSeconds": 60}},
            },
            "status": {
                "currentReplicas": 2, "desiredReplicas": 3,
                "currentMetrics": [
                    {"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": 70, "averageValue": "70m"}}},
                ],
                "conditions": [{"type": "AbleToScale", "status": "True", "reason": "SucceededRescale"}],
            }
        })
    }

    #[test]
    fn v1_shows_cpu_utilization_and_keeps_the_rest_in_annotations() {
        let v1 = v2_to_v1(v2()).unwrap();
        assert_eq!(v1["apiVersion"], "autoscaling/v1");
        assert_eq!(v1["spec"]["targetCPUUtilizationPercentage"], 50);
        assert_eq!(v1["status"]["currentCPUUtilizationPercentage"], 70);
        assert!(v1["spec"].get("metrics").is_none());
        let ann = &v1["metadata"]["annotations"];
        assert!(ann[METRICS].as_str().unwrap().contains("100Mi"));
        assert!(ann[CONDITIONS].as_str().unwrap().contains("AbleToScale"));
        assert!(ann[BEHAVIOR].as_str().unwrap().contains("60"));
    }

    #[test]
    fn a_round_trip_through_v1_loses_nothing_v1_can_carry() {
        let back = v1_to_v2(v2_to_v1(v2()).unwrap()).unwrap();
        let original = v2();
        assert_eq!(back["spec"]["behavior"], original["spec"]["behavior"]);
        assert_eq!(
            back["status"]["conditions"],
            original["status"]["conditions"]
        );
        // The CPU metric comes first after the trip; both metrics survive.
        let metrics = back["spec"]["metrics"].as_array().unwrap();
        assert_eq!(metrics.len(), 2);
        assert_eq!(metrics[0], cpu_metric(json!(50)));
        assert!(back["metadata"].get("annotations").is_none());
    }

    #[test]
    fn v1_without_a_target_names_no_metric() {
        let v1 = json!({"apiVersion": "autoscaling/v1", "metadata": {"name": "x"},
            "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "x"}, "maxReplicas": 3}});
        let v2 = v1_to_v2(v1).unwrap();
        assert!(v2["spec"].get("metrics").is_none());
        assert!(v2.get("status").is_none());
    }
}
