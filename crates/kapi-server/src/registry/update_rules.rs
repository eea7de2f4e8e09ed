//! What an update may not change, as upstream's update validation says: a workload's selector,
//! a pod's spec beyond the few fields that may change in place, a ServiceCIDR's blocks.
//! Only writes of the object itself are judged; subresources (status, binding,
//! ephemeralcontainers) have their own rules.

use kapi_api::resources::ResourceDef;
use kapi_api::status::{go_quote, Cause};
use serde_json::{Map, Value};

/// The pod spec fields an update may change, in upstream's words.
const POD_UPDATABLE: &str = "`spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)";

/// Adds a cause for each change `new` makes to `old` that the resource does not allow.
pub fn check(def: &ResourceDef, old: &Value, new: &Value, causes: &mut Vec<Cause>) {
    match (def.group, def.resource) {
        ("apps", "deployments" | "replicasets" | "statefulsets" | "daemonsets") => {
            let (was, now) = (old.pointer("/spec/selector"), new.pointer("/spec/selector"));
            if was.is_some() && was != now {
                causes.push(Cause {
                    reason: "FieldValueInvalid".into(),
                    message: format!(
                        "Invalid value: {}: field is immutable",
                        go_label_selector(now.unwrap_or(&Value::Null))
                    ),
                    field: "spec.selector".into(),
                });
            }
        }
        ("", "pods") => pod(old, new, causes),
        ("networking.k8s.io", "servicecidrs") => {
            super::service_cidrs::validate_update(old, new, causes)
        }
        ("apiextensions.k8s.io", "customresourcedefinitions") => {
            crate::crd::validation::validate_update(old, new, causes)
        }
        _ => {}
    }
}

/// A pod's spec with what may change in place set from `from`: images, the active
/// deadline, tolerations added to the old ones, a grace period replacing a negative one,
/// scheduling gates removed, and the ephemeral containers (their own subresource).
fn comparable(spec: &Value, from: &Value) -> Value {
    let mut out = spec.clone();
    for list in ["containers", "initContainers"] {
        if let (Some(Value::Array(items)), Some(Value::Array(old_items))) =
            (out.get_mut(list), from.get(list))
        {
            for (c, o) in items.iter_mut().zip(old_items) {
                if let (Some(m), Some(image)) = (c.as_object_mut(), o.get("image")) {
                    m.insert("image".into(), image.clone());
                }
            }
        }
    }
    let m = match out.as_object_mut() {
        Some(m) => m,
        None => return out,
    };
    for key in ["activeDeadlineSeconds", "ephemeralContainers"] {
        copy(m, from, key);
    }
    let old_tolerations = from.get("tolerations").and_then(Value::as_array);
    let kept = m
        .get("tolerations")
        .and_then(Value::as_array)
        .is_some_and(|now| old_tolerations.is_none_or(|o| o.iter().all(|t| now.contains(t))));
    if kept {
        copy(m, from, "tolerations");
    }
    let old_grace = from
        .get("terminationGracePeriodSeconds")
        .and_then(Value::as_i64);
    if old_grace.is_some_and(|g| g < 0) {
        copy(m, from, "terminationGracePeriodSeconds");
    }
    let gates_removed = match (
        m.get("schedulingGates").and_then(Value::as_array),
        from.get("schedulingGates").and_then(Value::as_array),
    ) {
        (None, _) => true,
        (Some(now), Some(was)) => now.iter().all(|g| was.contains(g)),
        (Some(now), None) => now.is_empty(),
    };
    if gates_removed {
        copy(m, from, "schedulingGates");
    }
    out
}

fn copy(m: &mut Map<String, Value>, from: &Value, key: &str) {
    match from.get(key) {
        Some(v) => {
            m.insert(key.into(), v.clone());
        }
        None => {
            m.remove(key);
        }
    }
}

fn pod(old: &Value, new: &Value, causes: &mut Vec<Cause>) {
    let (Some(was), Some(now)) = (old.get("spec"), new.get("spec")) else {
        return;
    };
    let munged = comparable(now, was);
    if &munged == was {
        return;
    }
    let mut changed: Vec<&str> = was
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(k, v)| munged.get(k.as_str()) != Some(*v))
        .map(|(k, _)| k.as_str())
        .collect();
    changed.extend(
        munged
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(k, _)| was.get(k.as_str()).is_none())
            .map(|(k, _)| k.as_str()),
    );
    changed.sort_unstable();
    causes.push(Cause {
        reason: "FieldValueForbidden".into(),
        message: format!(
            "Forbidden: pod updates may not change fields other than {POD_UPDATABLE}\n(changed: {})",
            changed
                .iter()
                .map(|k| format!("spec.{k}"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        field: "spec".into(),
    });
}

/// Go's `%#v` of a `*metav1.LabelSelector`, as upstream prints one in a message.
fn go_label_selector(selector: &Value) -> String {
    if selector.is_null() {
        return "(*v1.LabelSelector)(nil)".into();
    }
    let labels = match selector.get("matchLabels").and_then(Value::as_object) {
        Some(m) if !m.is_empty() => {
            let mut pairs: Vec<(&String, &Value)> = m.iter().collect();
            pairs.sort_by_key(|(k, _)| k.as_str());
            let items: Vec<String> = pairs
                .iter()
                .map(|(k, v)| format!("{}:{}", go_quote(k), go_quote(v.as_str().unwrap_or(""))))
                .collect();
            format!("map[string]string{{{}}}", items.join(", "))
        }
        _ => "map[string]string(nil)".into(),
    };
    let expressions = match selector.get("matchExpressions").and_then(Value::as_array) {
        Some(list) if !list.is_empty() => {
            let items: Vec<String> = list
                .iter()
                .map(|e| {
                    let values = match e.get("values").and_then(Value::as_array) {
                        Some(v) => format!(
                            "[]string{{{}}}",
                            v.iter()
                                .map(|s| go_quote(s.as_str().unwrap_or("")))
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                        None => "[]string(nil)".into(),
                    };
                    format!(
                        "v1.LabelSelectorRequirement{{Key:{}, Operator:{}, Values:{values}}}",
                        go_quote(e.get("key").and_then(Value::as_str).unwrap_or("")),
                        go_quote(e.get("operator").and_then(Value::as_str).unwrap_or(""))
                    )
                })
                .collect();
            format!("[]v1.LabelSelectorRequirement{{{}}}", items.join(", "))
        }
        _ => "[]v1.LabelSelectorRequirement(nil)".into(),
    };
    format!("v1.LabelSelector{{MatchLabels:{labels}, MatchExpressions:{expressions}}}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn def(group: &str, resource: &str) -> &'static ResourceDef {
        kapi_api::resources::find(group, "v1", resource).unwrap()
    }

    fn causes(group: &str, resource: &str, old: Value, new: Value) -> Vec<(String, String)> {
        let mut out = Vec::new();
        check(def(group, resource), &old, &new, &mut out);
        out.into_iter().map(|c| (c.field, c.message)).collect()
    }

    #[test]
    fn a_workloads_selector_is_immutable() {
        let old = json!({"spec": {"selector": {"matchLabels": {"app": "a"}}}});
        assert!(causes("apps", "deployments", old.clone(), old.clone()).is_empty());
        let new = json!({"spec": {"selector": {"matchLabels": {"app": "b", "tier": "x"}}}});
        assert_eq!(
            causes("apps", "deployments", old, new),
            [(
                "spec.selector".to_string(),
                r#"Invalid value: v1.LabelSelector{MatchLabels:map[string]string{"app":"b", "tier":"x"}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: field is immutable"#.to_string()
            )]
        );
    }

    #[test]
    fn a_pods_spec_changes_only_where_upstream_allows() {
        let old = json!({"spec": {"restartPolicy": "Always", "nodeName": "n1",
            "containers": [{"name": "c", "image": "a:1"}], "tolerations": [{"key": "k"}]}});
        let mut new = old.clone();
        new["spec"]["containers"][0]["image"] = json!("a:2");
        new["spec"]["tolerations"] = json!([{"key": "k"}, {"key": "more"}]);
        new["spec"]["activeDeadlineSeconds"] = json!(30);
        assert!(causes("", "pods", old.clone(), new).is_empty());
        let mut new = old.clone();
        new["spec"]["restartPolicy"] = json!("Never");
        new["spec"]["nodeName"] = json!("n2");
        let got = causes("", "pods", old.clone(), new);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].0, "spec");
        assert!(got[0].1.starts_with(
            "Forbidden: pod updates may not change fields other than `spec.containers[*].image`"
        ));
        assert!(
            got[0]
                .1
                .ends_with("(changed: spec.nodeName, spec.restartPolicy)"),
            "{}",
            got[0].1
        );
        let mut new = old.clone();
        new["spec"]["tolerations"] = json!([]);
        assert_eq!(
            causes("", "pods", old, new).len(),
            1,
            "tolerations only grow"
        );
    }
}
