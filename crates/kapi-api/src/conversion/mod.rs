//! Conversion between the versions of a resource served in more than one version.
//!
//! Such a resource is stored in one version (upstream's storage version, the first row of the
//! resource in [`crate::resources::RESOURCES`]); a request in another version reads objects
//! converted from it and has what it writes converted to it: HorizontalPodAutoscalers
//! (`autoscaling/v2` stored, `autoscaling/v1` converted) and Events (core `v1` stored,
//! `events.k8s.io/v1` converted). Custom resources convert as their definitions' `None`
//! strategy does: only `apiVersion` changes.
//!
//! ```
//! use kapi_api::{conversion, resources};
//! let v1 = resources::find("autoscaling", "v1", "horizontalpodautoscalers").unwrap();
//! let stored = serde_json::json!({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
//!     "metadata": {"name": "web"}, "spec": {"maxReplicas": 3, "metrics": [{"type": "Resource",
//!     "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}}}]}});
//! let out = conversion::convert(stored, v1).unwrap();
//! assert_eq!(out["spec"]["targetCPUUtilizationPercentage"], 50);
//! ```

mod events;
mod hpa;

use serde_json::Value;

use crate::resources::ResourceDef;

/// Why an object could not be converted; the message is meant for the API client.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConversionError {
    /// No conversion exists between the object's version and the one asked for.
    #[error("no conversion from {from} to {to} for {resource}")]
    Unsupported {
        /// The object's apiVersion.
        from: String,
        /// The apiVersion asked for.
        to: String,
        /// The resource.
        resource: String,
    },
    /// A field or annotation holding part of the other version could not be read.
    #[error("{0}")]
    Invalid(String),
}

/// `obj` in the version of `to`; unchanged if it already is in that version.
pub fn convert(obj: Value, to: &ResourceDef) -> Result<Value, ConversionError> {
    let from = obj
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let target = to.api_version();
    if from == target {
        return Ok(obj);
    }
    if to.custom {
        return Ok(relabel(obj, target));
    }
    match (to.group, to.resource, from.as_str(), to.version) {
        ("autoscaling", "horizontalpodautoscalers", "autoscaling/v2", "v1") => hpa::v2_to_v1(obj),
        ("autoscaling", "horizontalpodautoscalers", "autoscaling/v1", "v2") => hpa::v1_to_v2(obj),
        ("events.k8s.io", "events", "v1", "v1") => Ok(events::core_to_events(obj)),
        ("", "events", "events.k8s.io/v1", "v1") => Ok(events::events_to_core(obj)),
        _ => Err(ConversionError::Unsupported {
            from,
            to: target,
            resource: to.group_resource(),
        }),
    }
}

/// `obj` with `apiVersion` set to `api_version` (in first place, where objects carry it) and
/// nothing else changed: the `None` conversion of custom resources.
fn relabel(obj: Value, api_version: String) -> Value {
    let Value::Object(fields) = obj else {
        return obj;
    };
    let mut out = serde_json::Map::with_capacity(fields.len() + 1);
    out.insert("apiVersion".into(), Value::String(api_version));
    out.extend(fields.into_iter().filter(|(k, _)| k != "apiVersion"));
    Value::Object(out)
}
