//! The checks upstream makes of every object's metadata, whatever its kind: label keys and
//! values, annotation keys and their total size, a non-negative generation. Without them a
//! label that breaks the selector grammar, or megabytes of annotations, would be stored and
//! break every client that lists the namespace. (Values of the wrong JSON type are refused
//! before this, by the schema check.)

use kapi_api::meta::{
    annotations_size, label_value_errors, qualified_name_errors, MAX_ANNOTATIONS_BYTES,
};
use kapi_api::status::{invalid_number, invalid_value, Cause};
use serde_json::Value;

/// Labels and annotations whose value is `null` read as empty strings, as a Go client's
/// `map[string]string` decodes them upstream; anything else stays for validation to refuse.
pub fn normalize(obj: &mut Value) {
    for map in ["labels", "annotations"] {
        if let Some(m) = obj
            .pointer_mut(&format!("/metadata/{map}"))
            .and_then(Value::as_object_mut)
        {
            for v in m.values_mut().filter(|v| v.is_null()) {
                *v = Value::String(String::new());
            }
        }
    }
}

/// Adds a cause for everything wrong with `obj`'s metadata.
pub fn validate(obj: &Value, causes: &mut Vec<Cause>) {
    if let Some(Value::Object(labels)) = obj.pointer("/metadata/labels") {
        for (k, v) in labels {
            for msg in qualified_name_errors(k) {
                causes.push(invalid_value("metadata.labels", k, &msg));
            }
            for msg in label_value_errors(v.as_str().unwrap_or_default()) {
                causes.push(invalid_value(
                    "metadata.labels",
                    v.as_str().unwrap_or_default(),
                    &msg,
                ));
            }
        }
    }
    if let Some(Value::Object(m)) = obj.pointer("/metadata/annotations") {
        for k in m.keys() {
            // Upstream checks annotation keys lower-cased: case does not matter there.
            for msg in qualified_name_errors(&k.to_lowercase()) {
                causes.push(invalid_value("metadata.annotations", k, &msg));
            }
        }
        if annotations_size(m) > MAX_ANNOTATIONS_BYTES {
            causes.push(Cause {
                reason: "FieldValueTooLong".into(),
                message: format!("Too long: may not be more than {MAX_ANNOTATIONS_BYTES} bytes"),
                field: "metadata.annotations".into(),
            });
        }
    }
    if let Some(g) = obj.pointer("/metadata/generation").and_then(Value::as_i64) {
        if g < 0 {
            causes.push(invalid_number(
                "metadata.generation",
                g,
                "must be greater than or equal to 0",
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(meta: Value) -> Vec<(String, String)> {
        let mut obj = json!({ "metadata": meta });
        normalize(&mut obj);
        let mut causes = Vec::new();
        validate(&obj, &mut causes);
        causes.into_iter().map(|c| (c.field, c.message)).collect()
    }

    #[test]
    fn labels_annotations_and_generation_are_checked_as_upstream() {
        assert!(
            check(json!({"labels": {"app": "web", "example.com/tier": ""},
            "annotations": {"Example.com/Owner": "me"}, "generation": 3}))
            .is_empty()
        );
        let bad = check(json!({"labels": {"bad key!": "ok"}}));
        assert_eq!(bad[0].0, "metadata.labels");
        assert!(
            bad[0]
                .1
                .starts_with(r#"Invalid value: "bad key!": name part must consist of"#),
            "{bad:?}"
        );
        let long = check(json!({"labels": {"a": "v".repeat(1 << 20)}}));
        assert!(
            long[0].1.ends_with(": must be no more than 63 characters"),
            "{long:?}"
        );
        let big = check(json!({"annotations": {"a": "x".repeat(300 * 1024)}}));
        assert_eq!(
            big,
            [(
                "metadata.annotations".to_string(),
                "Too long: may not be more than 262144 bytes".to_string()
            )]
        );
        assert_eq!(
            check(json!({"generation": -1})),
            [(
                "metadata.generation".to_string(),
                "Invalid value: -1: must be greater than or equal to 0".to_string()
            )]
        );
        assert!(
            check(json!({"labels": {"a": null}})).is_empty(),
            "null reads as empty"
        );
    }
}
