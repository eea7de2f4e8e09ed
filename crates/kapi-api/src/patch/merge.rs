//! RFC 7386 JSON merge patch (`application/merge-patch+json`), through the `json-patch` crate.

use serde_json::Value;

use super::{json_kind, PatchError};

/// Applies a JSON merge patch body to a copy of `doc`: objects merge recursively, `null`
/// deletes a key, anything else (lists included) replaces. The body must be a JSON object,
/// since the patched value is always a Kubernetes object.
pub fn apply_merge_patch(doc: &Value, patch_body: &[u8]) -> Result<Value, PatchError> {
    let patch: Value = serde_json::from_slice(patch_body)
        .map_err(|e| PatchError::InvalidDocument(format!("not valid JSON: {e}")))?;
    if !patch.is_object() {
        return Err(PatchError::InvalidDocument(format!(
            "a JSON merge patch must be a JSON object, not {}",
            json_kind(&patch)
        )));
    }
    let mut out = doc.clone();
    json_patch::merge(&mut out, &patch);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn apply_table() {
        let doc = json!({
            "metadata": {"name": "cm", "labels": {"a": "1", "b": "2"}},
            "data": {"x": "1", "y": "2"},
            "list": [1, 2, 3]
        });
        // (patch, expected result)
        let cases = vec![
            (json!({}), doc.clone()),
            (
                json!({"data": {"x": null, "z": "3"}}),
                json!({
                    "metadata": {"name": "cm", "labels": {"a": "1", "b": "2"}},
                    "data": {"y": "2", "z": "3"},
                    "list": [1, 2, 3]
                }),
            ),
            (
                json!({"list": [9], "metadata": {"labels": null}}),
                json!({"metadata": {"name": "cm"}, "data": {"x": "1", "y": "2"}, "list": [9]}),
            ),
            (
                json!({"new": {"deep": {"k": "v", "gone": null}}}),
                json!({
                    "metadata": {"name": "cm", "labels": {"a": "1", "b": "2"}},
                    "data": {"x": "1", "y": "2"},
                    "list": [1, 2, 3],
                    "new": {"deep": {"k": "v"}}
                }),
            ),
        ];
        for (patch, want) in cases {
            let got = apply_merge_patch(&doc, patch.to_string().as_bytes())
                .unwrap_or_else(|e| panic!("{patch}: {e}"));
            assert_eq!(got, want, "{patch}");
        }
    }

    #[test]
    fn error_table() {
        let cases = [
            ("{", "not valid JSON"),
            ("[]", "must be a JSON object, not a list"),
            ("null", "must be a JSON object, not null"),
            ("\"x\"", "must be a JSON object, not a string"),
        ];
        for (body, want) in cases {
            let msg = apply_merge_patch(&json!({}), body.as_bytes())
                .err()
                .unwrap_or_else(|| panic!("{body} should fail"))
                .to_string();
            assert!(msg.starts_with("invalid patch document: "), "{msg}");
            assert!(msg.contains(want), "{body}: got {msg:?}, want {want:?}");
        }
    }
}
