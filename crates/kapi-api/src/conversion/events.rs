//! Event core `v1` ⇄ `events.k8s.io/v1`.
//!
//! Upstream keeps one set of Events under `/registry/events/`, stored as core `v1`, and serves
//! them in both groups; the two kinds hold the same facts under different names (`regarding`
//! is `involvedObject`, `note` is `message`, the `deprecated*` fields are the older series
//! fields). Fields come out in the Go structs' order, as everything kapi stores does.

use serde_json::{Map, Value};

/// `(core v1 name, events.k8s.io/v1 name)` for every field either kind has, in core's order.
const CORE_ORDER: &[(&str, &str)] = &[
    ("involvedObject", "regarding"),
    ("reason", "reason"),
    ("message", "note"),
    ("source", "deprecatedSource"),
    ("firstTimestamp", "deprecatedFirstTimestamp"),
    ("lastTimestamp", "deprecatedLastTimestamp"),
    ("count", "deprecatedCount"),
    ("type", "type"),
    ("eventTime", "eventTime"),
    ("series", "series"),
    ("action", "action"),
    ("related", "related"),
    ("reportingComponent", "reportingController"),
    ("reportingInstance", "reportingInstance"),
];

/// The events.k8s.io/v1 names in that kind's own order.
const EVENTS_ORDER: &[&str] = &[
    "eventTime",
    "series",
    "reportingController",
    "reportingInstance",
    "action",
    "reason",
    "regarding",
    "related",
    "note",
    "type",
    "deprecatedSource",
    "deprecatedFirstTimestamp",
    "deprecatedLastTimestamp",
    "deprecatedCount",
];

fn head(api_version: &str, from: &mut Map<String, Value>) -> Map<String, Value> {
    let mut out = Map::new();
    out.insert("apiVersion".into(), Value::String(api_version.into()));
    out.insert("kind".into(), Value::String("Event".into()));
    if let Some(meta) = from.remove("metadata") {
        out.insert("metadata".into(), meta);
    }
    out
}

/// A core `v1` Event as `events.k8s.io/v1` shows it.
pub fn core_to_events(obj: Value) -> Value {
    let Value::Object(mut from) = obj else {
        return obj;
    };
    let mut renamed: Map<String, Value> = CORE_ORDER
        .iter()
        .filter_map(|(core, events)| from.remove(*core).map(|v| (events.to_string(), v)))
        .collect();
    let mut out = head("events.k8s.io/v1", &mut from);
    for name in EVENTS_ORDER {
        if let Some(v) = renamed.remove(*name) {
            out.insert(name.to_string(), v);
        }
    }
    Value::Object(out)
}

/// An `events.k8s.io/v1` Event in the core `v1` form it is stored in.
pub fn events_to_core(obj: Value) -> Value {
    let Value::Object(mut from) = obj else {
        return obj;
    };
    let mut out = head("v1", &mut from);
    for (core, events) in CORE_ORDER {
        if let Some(v) = from.remove(*events) {
            out.insert(core.to_string(), v);
        }
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_field_survives_a_round_trip_under_its_other_name() {
        let v1 = json!({
            "apiVersion": "events.k8s.io/v1", "kind": "Event",
            "metadata": {"name": "e", "namespace": "default"},
            "eventTime": "2026-12-01T08:00:00.000000Z",
            "series": {"count": 2, "lastObservedTime": "2026-12-01T08:01:00.000000Z"},
            "reportingController": "kubelet", "reportingInstance": "node-a",
            "action": "Pulling", "reason": "Pulling",
            "regarding": {"kind": "Pod", "name": "web", "namespace": "default"},
            "related": {"kind": "Node", "name": "node-a"},
            "note": "Pulling image", "type": "Normal",
            "deprecatedSource": {"component": "kubelet", "host": "node-a"},
            "deprecatedFirstTimestamp": "2026-12-01T07:59:00Z",
            "deprecatedLastTimestamp": "2026-12-01T08:00:00Z",
            "deprecatedCount": 3
        });
        let core = events_to_core(v1.clone());
        assert_eq!(core["apiVersion"], "v1");
        assert_eq!(core["involvedObject"]["name"], "web");
        assert_eq!(core["message"], "Pulling image");
        assert_eq!(core["reportingComponent"], "kubelet");
        assert_eq!(core["source"]["host"], "node-a");
        assert_eq!(core["count"], 3);
        assert!(core.get("regarding").is_none() && core.get("note").is_none());
        let keys: Vec<&String> = core.as_object().unwrap().keys().collect();
        assert_eq!(
            keys[..4],
            ["apiVersion", "kind", "metadata", "involvedObject"]
        );
        let back = core_to_events(core);
        assert_eq!(back, v1);
        let keys: Vec<&String> = back.as_object().unwrap().keys().collect();
        assert_eq!(keys[3], "eventTime", "events.k8s.io's own field order");
    }
}
