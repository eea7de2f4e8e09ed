//! DefaultTolerationSeconds: every new pod tolerates its node being not-ready or unreachable
//! for 300 s (NoExecute), unless it says otherwise, so that pods leave a lost node after five
//! minutes rather than at once.

use serde_json::{json, Value};

/// Upstream's default.
pub const SECONDS: i64 = 300;

/// Adds the two tolerations a pod does not already have.
pub fn admit(pod: &mut Value) {
    let Some(spec) = pod.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    let tolerations = spec.entry("tolerations").or_insert_with(|| json!([]));
    let Some(list) = tolerations.as_array_mut() else {
        return;
    };
    for key in [
        "node.kubernetes.io/not-ready",
        "node.kubernetes.io/unreachable",
    ] {
        // A toleration of this key with the NoExecute (or every) effect is the pod's own choice.
        let has = list.iter().any(|t| {
            let key_matches = t["key"] == key
                || (t["key"].as_str().unwrap_or("").is_empty() && t["operator"] == "Exists");
            let effect = t["effect"].as_str().unwrap_or("");
            key_matches && (effect.is_empty() || effect == "NoExecute")
        });
        if !has {
            list.push(json!({"key": key, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": SECONDS}));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_tolerations_are_added_once() {
        let mut pod = json!({"spec": {"containers": []}});
        admit(&mut pod);
        admit(&mut pod);
        let t = pod["spec"]["tolerations"].as_array().unwrap();
        assert_eq!(t.len(), 2);
        assert_eq!(t[0]["tolerationSeconds"], 300);
        let mut own = json!({"spec": {"tolerations": [{"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 5}]}});
        admit(&mut own);
        let t = own["spec"]["tolerations"].as_array().unwrap();
        assert_eq!(t.len(), 2);
        assert_eq!(t[0]["tolerationSeconds"], 5);
    }
}
