//! Which garbage-collection finalizer a delete leaves on an object, as the generic store's
//! `deletionFinalizersForGarbageCollection` decides it: `propagationPolicy` (or the older
//! `orphanDependents`) wins; without either, a finalizer already present stands; otherwise
//! the resource's default: Orphan for core/v1 ReplicationControllers (their behaviour before
//! server-side garbage collection, kept for compatibility), Background for everything else,
//! which needs no finalizer (the object goes now and the garbage collector removes its
//! dependents afterwards). With `orphan` or `foregroundDeletion` the
//! object only gets a deletionTimestamp, and the garbage collector finishes the job.

use kapi_api::status::{ApiError, Cause};
use serde_json::{json, Value};

/// Finalizer: remove this object's ownerReferences from its dependents first.
pub const ORPHAN: &str = "orphan";
/// Finalizer: delete this object's dependents first.
pub const FOREGROUND: &str = "foregroundDeletion";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Policy {
    Orphan,
    Foreground,
    Background,
}

fn policy(finalizers: &[Value], options: &Value, default: Policy) -> Policy {
    if let Some(orphan) = options.get("orphanDependents").and_then(Value::as_bool) {
        return if orphan {
            Policy::Orphan
        } else {
            Policy::Background
        };
    }
    match options.get("propagationPolicy").and_then(Value::as_str) {
        Some("Orphan") => return Policy::Orphan,
        Some("Foreground") => return Policy::Foreground,
        Some(_) => return Policy::Background, // validated before: "Background"
        None => {}
    }
    for f in finalizers.iter().filter_map(Value::as_str) {
        if f == ORPHAN {
            return Policy::Orphan;
        }
        if f == FOREGROUND {
            return Policy::Foreground;
        }
    }
    default
}

/// Refuses what upstream's DeleteOptions validation refuses: an unknown `propagationPolicy`,
/// or one given together with `orphanDependents`.
pub fn validate(options: &Value) -> Result<(), ApiError> {
    let policy = options.get("propagationPolicy").filter(|p| !p.is_null());
    let mut causes = Vec::new();
    if let Some(p) = policy {
        let text = p.as_str().unwrap_or_default();
        if !matches!(text, "Foreground" | "Background" | "Orphan") {
            causes.push(Cause {
                reason: "FieldValueNotSupported".into(),
                message: format!(
                    "Unsupported value: {}: supported values: \"Foreground\", \"Background\", \"Orphan\", \"nil\"",
                    kapi_api::status::go_quote(text)
                ),
                field: "propagationPolicy".into(),
            });
        }
        if options
            .get("orphanDependents")
            .is_some_and(|o| !o.is_null())
        {
            causes.push(Cause {
                reason: "FieldValueInvalid".into(),
                message: format!(
                    "Invalid value: {}: orphanDependents and deletionPropagation cannot be both set",
                    kapi_api::status::go_quote(text)
                ),
                field: "propagationPolicy".into(),
            });
        }
    }
    if causes.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid(
            "meta.k8s.io",
            "DeleteOptions",
            "",
            causes,
        ))
    }
}

/// Sets `obj`'s garbage-collection finalizers for a delete with `options`; returns whether
/// they changed. `orphan_by_default`: the resource's default policy is Orphan.
pub fn apply(obj: &mut Value, options: &Value, orphan_by_default: bool) -> bool {
    let current: Vec<Value> = obj
        .pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let default = if orphan_by_default {
        Policy::Orphan
    } else {
        Policy::Background
    };
    let want = policy(&current, options, default);
    let mut next: Vec<Value> = current
        .iter()
        .filter(|f| !matches!(f.as_str(), Some(ORPHAN | FOREGROUND)))
        .cloned()
        .collect();
    match want {
        Policy::Orphan => next.push(json!(ORPHAN)),
        Policy::Foreground => next.push(json!(FOREGROUND)),
        Policy::Background => {}
    }
    let same = next.len() == current.len() && next.iter().all(|f| current.contains(f));
    if same {
        return false;
    }
    if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        if next.is_empty() {
            meta.remove("finalizers");
        } else {
            meta.insert("finalizers".into(), Value::Array(next));
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(finalizers: &[&str]) -> Value {
        json!({"metadata": {"name": "x", "finalizers": finalizers}})
    }

    #[test]
    fn the_policy_picks_the_finalizer() {
        let mut o = json!({"metadata": {"name": "x"}});
        assert!(apply(
            &mut o,
            &json!({"propagationPolicy": "Orphan"}),
            false
        ));
        assert_eq!(o["metadata"]["finalizers"], json!(["orphan"]));
        assert!(apply(
            &mut o,
            &json!({"propagationPolicy": "Foreground"}),
            false
        ));
        assert_eq!(o["metadata"]["finalizers"], json!(["foregroundDeletion"]));
        assert!(apply(
            &mut o,
            &json!({"propagationPolicy": "Background"}),
            false
        ));
        assert!(o["metadata"].get("finalizers").is_none());
        assert!(!apply(&mut o, &json!({}), false));
    }

    #[test]
    fn replication_controllers_orphan_unless_told_otherwise() {
        let mut o = json!({"metadata": {"name": "x"}});
        assert!(apply(&mut o, &json!({}), true));
        assert_eq!(o["metadata"]["finalizers"], json!(["orphan"]));
        let mut o = json!({"metadata": {"name": "x"}});
        assert!(!apply(
            &mut o,
            &json!({"propagationPolicy": "Background"}),
            true
        ));
        assert!(o["metadata"].get("finalizers").is_none());
    }

    #[test]
    fn other_finalizers_stay_and_existing_ones_stand_without_a_policy() {
        let mut o = obj(&["example.com/keep", "orphan"]);
        assert!(!apply(&mut o, &json!({}), false));
        assert!(apply(&mut o, &json!({"orphanDependents": false}), false));
        assert_eq!(o["metadata"]["finalizers"], json!(["example.com/keep"]));
        assert!(apply(&mut o, &json!({"orphanDependents": true}), false));
        assert_eq!(
            o["metadata"]["finalizers"],
            json!(["example.com/keep", "orphan"])
        );
    }
}
