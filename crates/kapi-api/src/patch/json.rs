//! RFC 6902 JSON patch (`application/json-patch+json`), through the `json-patch` crate.

use json_patch::{Patch, PatchErrorKind, PatchOperation};
use serde_json::Value;

use super::PatchError;

/// The most operations one JSON patch may hold, as the Kubernetes API server limits it, so a
/// request cannot make the server do unbounded work.
pub const MAX_JSON_PATCH_OPERATIONS: usize = 10_000;

/// Applies a JSON patch body (a list of `add`/`remove`/`replace`/`move`/`copy`/`test`
/// operations) to a copy of `doc`. Atomic: on any failure nothing is returned but the error.
pub fn apply_json_patch(doc: &Value, patch_body: &[u8]) -> Result<Value, PatchError> {
    let patch: Patch = serde_json::from_slice(patch_body).map_err(|e| {
        PatchError::InvalidDocument(format!(
            "a JSON patch must be a list of operations with \"op\" and \"path\": {e}"
        ))
    })?;
    if patch.0.len() > MAX_JSON_PATCH_OPERATIONS {
        return Err(PatchError::TooManyOperations {
            count: patch.0.len(),
            limit: MAX_JSON_PATCH_OPERATIONS,
        });
    }
    let mut out = doc.clone();
    // The copy is dropped on error, so the crate's undo log is not needed.
    json_patch::patch_unsafe(&mut out, &patch.0).map_err(|e| {
        let index = e.operation;
        let path = e.path.to_string();
        let op = patch.0.get(index);
        let op_name = op.map(op_name).unwrap_or("unknown");
        match e.kind {
            PatchErrorKind::TestFailed => PatchError::TestFailed { index, path },
            PatchErrorKind::InvalidPointer => PatchError::PathNotFound {
                index,
                op: op_name,
                path,
            },
            PatchErrorKind::InvalidFromPointer => PatchError::FromNotFound {
                index,
                op: op_name,
                from: match op {
                    Some(PatchOperation::Move(m)) => m.from.to_string(),
                    Some(PatchOperation::Copy(c)) => c.from.to_string(),
                    _ => String::new(),
                },
            },
            PatchErrorKind::CannotMoveInsideItself => PatchError::MoveInsideItself { index, path },
            other => PatchError::OperationFailed {
                index,
                reason: other.to_string(),
            },
        }
    })?;
    Ok(out)
}

/// The `op` name of an operation, for messages.
fn op_name(op: &PatchOperation) -> &'static str {
    match op {
        PatchOperation::Add(_) => "add",
        PatchOperation::Remove(_) => "remove",
        PatchOperation::Replace(_) => "replace",
        PatchOperation::Move(_) => "move",
        PatchOperation::Copy(_) => "copy",
        PatchOperation::Test(_) => "test",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn apply_table() {
        let doc =
            json!({"metadata": {"name": "a", "labels": {"x": "1"}}, "spec": {"list": [1, 2]}});
        // (patch, expected result)
        let cases = vec![
            (json!([]), doc.clone()),
            (
                json!([{"op": "add", "path": "/metadata/labels/y", "value": "2"}]),
                json!({"metadata": {"name": "a", "labels": {"x": "1", "y": "2"}}, "spec": {"list": [1, 2]}}),
            ),
            (
                json!([{"op": "remove", "path": "/metadata/labels"}]),
                json!({"metadata": {"name": "a"}, "spec": {"list": [1, 2]}}),
            ),
            (
                json!([{"op": "replace", "path": "/spec/list/0", "value": 9}]),
                json!({"metadata": {"name": "a", "labels": {"x": "1"}}, "spec": {"list": [9, 2]}}),
            ),
            (
                json!([{"op": "add", "path": "/spec/list/-", "value": 3}]),
                json!({"metadata": {"name": "a", "labels": {"x": "1"}}, "spec": {"list": [1, 2, 3]}}),
            ),
            (
                json!([
                    {"op": "test", "path": "/metadata/name", "value": "a"},
                    {"op": "copy", "from": "/metadata/name", "path": "/spec/name"},
                    {"op": "move", "from": "/spec/list", "path": "/list"}
                ]),
                json!({"metadata": {"name": "a", "labels": {"x": "1"}}, "spec": {"name": "a"}, "list": [1, 2]}),
            ),
        ];
        for (patch, want) in cases {
            let body = patch.to_string();
            let got =
                apply_json_patch(&doc, body.as_bytes()).unwrap_or_else(|e| panic!("{patch}: {e}"));
            assert_eq!(got, want, "{patch}");
        }
    }

    #[test]
    fn error_table() {
        let doc = json!({"metadata": {"name": "a"}});
        let cases = vec![
            ("not json", "invalid patch document"),
            (r#"{"op": "add"}"#, "invalid patch document"),
            (
                r#"[{"op": "frobnicate", "path": "/a"}]"#,
                "invalid patch document",
            ),
            (
                r#"[{"op": "test", "path": "/metadata/name", "value": "b"}]"#,
                "test operation 0 failed",
            ),
            (
                r#"[{"op": "add", "path": "/metadata/labels/x", "value": "1"}]"#,
                "operation 0 (add) failed: path \"/metadata/labels/x\" does not exist",
            ),
            (r#"[{"op": "remove", "path": "/nope"}]"#, "(remove) failed"),
            (
                r#"[{"op": "move", "from": "/nope", "path": "/x"}]"#,
                "\"from\" path \"/nope\" does not exist",
            ),
            (
                r#"[{"op": "move", "from": "/metadata", "path": "/metadata/x"}]"#,
                "inside itself",
            ),
        ];
        for (body, want) in cases {
            let msg = apply_json_patch(&doc, body.as_bytes())
                .err()
                .unwrap_or_else(|| panic!("{body} should fail"))
                .to_string();
            assert!(msg.contains(want), "{body}: got {msg:?}, want {want:?}");
        }
    }

    #[test]
    fn failed_patch_changes_nothing() {
        let doc = json!({"a": 1});
        let body = br#"[{"op": "add", "path": "/b", "value": 2}, {"op": "test", "path": "/a", "value": 0}]"#;
        assert!(apply_json_patch(&doc, body).is_err());
        assert_eq!(doc, json!({"a": 1}));
    }

    #[test]
    fn too_many_operations() {
        let ops: Vec<Value> = (0..=MAX_JSON_PATCH_OPERATIONS)
            .map(|_| json!({"op": "test", "path": "", "value": {}}))
            .collect();
        let body = Value::Array(ops).to_string();
        let err = apply_json_patch(&json!({}), body.as_bytes()).err();
        assert!(
            matches!(err, Some(PatchError::TooManyOperations { .. })),
            "{err:?}"
        );
    }
}
