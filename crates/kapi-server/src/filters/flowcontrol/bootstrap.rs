//! The bootstrap FlowSchemas and PriorityLevelConfigurations of Kubernetes 1.34, as data
//! (`bootstrap.json`: API objects, each marked `apf.kubernetes.io/autoupdate-spec: "true"`).

use serde_json::Value;

/// The annotation that lets the server keep an object's spec at its bootstrap value.
pub const AUTOUPDATE_ANNOTATION: &str = "apf.kubernetes.io/autoupdate-spec";

const BOOTSTRAP: &str = include_str!("bootstrap.json");

/// Every bootstrap object, levels first.
pub fn objects() -> Vec<Value> {
    // The file is part of the binary and checked by a test, so it always parses.
    let mut all: Vec<Value> = serde_json::from_str(BOOTSTRAP).unwrap_or_default();
    all.sort_by_key(|o| o["kind"] != "PriorityLevelConfiguration");
    all
}

/// Whether the server keeps this object at its bootstrap spec whatever users do.
pub fn is_mandatory(name: &str) -> bool {
    matches!(name, "exempt" | "catch-all")
}

/// The objects that must always exist: the `exempt` and `catch-all` levels and schemas.
pub fn mandatory() -> Vec<Value> {
    objects()
        .into_iter()
        .filter(|o| {
            is_mandatory(
                o.pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .unwrap_or(""),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bootstrap_file_holds_upstreams_set() {
        let all = objects();
        let names = |kind: &str| -> Vec<String> {
            let mut n: Vec<String> = all
                .iter()
                .filter(|o| o["kind"] == kind)
                .map(|o| o["metadata"]["name"].as_str().unwrap().to_string())
                .collect();
            n.sort();
            n
        };
        assert_eq!(
            names("PriorityLevelConfiguration"),
            [
                "catch-all",
                "exempt",
                "global-default",
                "leader-election",
                "node-high",
                "system",
                "workload-high",
                "workload-low"
            ]
        );
        assert_eq!(names("FlowSchema").len(), 11);
        assert_eq!(mandatory().len(), 4);
        assert!(all
            .iter()
            .all(|o| o["metadata"]["annotations"][AUTOUPDATE_ANNOTATION] == "true"));
    }
}
