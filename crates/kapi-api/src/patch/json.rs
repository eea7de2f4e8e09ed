//! RFC 6902 JSON patch (`application/json-patch+json`), through the `json-patch` crate.

use json_patch::{Patch, PatchErrorKind, PatchOperation};
use serde_json::Value;

use super::PatchError;

/// The most operations one JSON patch may hold, as the Kubernetes API server limits it, so a
/// request cannot make the server do unbounded work.
pub const MAX_JSON_PATCH_OPERATIONS: usize = 10_000;

/// The most bytes the `copy` operations of one JSON patch may add to the document, counted as
/// the JSON size of each copied value, as kube-apiserver bounds it (3 MiB, its request body
/// limit). Without it a short patch whose copies double a value each time (`copy /a -> /a/b`,
/// twenty times) makes gigabytes from a few kilobytes; `add` and `replace` need no bound of
/// their own, since what they insert is in the body, which is itself limited.
pub const MAX_JSON_PATCH_COPY_BYTES: usize = 3 * 1024 * 1024;

/// Applies a JSON patch body (a list of `add`/`remove`/`replace`/`move`/`copy`/`test`
/// operations) to a copy of `doc`. Atomic: on any failure nothing is returned but the error.
/// Copies are refused before they are made once they would add more than
/// [`MAX_JSON_PATCH_COPY_BYTES`].
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
    let mut copied = 0usize;
    for (index, op) in patch.0.iter().enumerate() {
        if let PatchOperation::Copy(c) = op {
            let from = c.from.to_string();
            if let Some(value) = out.pointer(&from) {
                let budget = MAX_JSON_PATCH_COPY_BYTES - copied;
                copied += json_size_within(value, budget);
                if copied > MAX_JSON_PATCH_COPY_BYTES {
                    return Err(PatchError::CopyTooLarge {
                        accumulated: copied,
                        limit: MAX_JSON_PATCH_COPY_BYTES,
                    });
                }
            }
        }
        // One operation at a time, so each copy is measured against the document as the
        // operations before it left it. The copy is dropped on error, so the crate's undo
        // log is not needed.
        json_patch::patch_unsafe(&mut out, std::slice::from_ref(op))
            .map_err(|e| operation_error(index, op, e))?;
    }
    Ok(out)
}

/// The size of `value` as compact JSON, counted only up to just past `budget` so that measuring
/// a huge value costs no more than the budget it exceeds.
fn json_size_within(value: &Value, budget: usize) -> usize {
    fn walk(v: &Value, total: &mut usize, budget: usize) {
        if *total > budget {
            return;
        }
        match v {
            Value::Null => *total += 4,
            Value::Bool(b) => *total += if *b { 4 } else { 5 },
            Value::Number(n) => *total += n.to_string().len(),
            // Quotes plus content; escapes are not counted, which only undercounts slightly.
            Value::String(s) => *total += s.len() + 2,
            Value::Array(items) => {
                *total += 2 + items.len().saturating_sub(1);
                for item in items {
                    walk(item, total, budget);
                }
            }
            Value::Object(map) => {
                *total += 2 + map.len().saturating_sub(1);
                for (k, item) in map {
                    *total += k.len() + 3;
                    walk(item, total, budget);
                }
            }
        }
    }
    let mut total = 0;
    walk(value, &mut total, budget);
    total
}

/// Turns the crate's error for operation `index` into ours.
fn operation_error(index: usize, op: &PatchOperation, e: json_patch::PatchError) -> PatchError {
    let path = e.path.to_string();
    let op_name = op_name(op);
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
                PatchOperation::Move(m) => m.from.to_string(),
                PatchOperation::Copy(c) => c.from.to_string(),
                _ => String::new(),
            },
        },
        PatchErrorKind::CannotMoveInsideItself => PatchError::MoveInsideItself { index, path },
        other => PatchError::OperationFailed {
            index,
            reason: other.to_string(),
        },
    }
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

    /// The probe's patch bomb: one 1 KiB value, then copies that each double the object.
    fn doubling_bomb(copies: usize) -> String {
        let mut ops = vec![
            json!({"op": "add", "path": "/metadata/annotations", "value": {"x": "y".repeat(1024)}}),
        ];
        for i in 0..copies {
            ops.push(json!({"op": "copy", "from": "/metadata/annotations", "path": format!("/metadata/annotations/a{i}")}));
        }
        Value::Array(ops).to_string()
    }

    #[test]
    fn doubling_copies_are_refused_before_the_memory_is_spent() {
        let doc = json!({"metadata": {"name": "a"}});
        let err = apply_json_patch(&doc, doubling_bomb(20).as_bytes()).err();
        let Some(PatchError::CopyTooLarge { accumulated, limit }) = err else {
            panic!("want CopyTooLarge, got {err:?}");
        };
        assert_eq!(limit, MAX_JSON_PATCH_COPY_BYTES);
        // Refused at the first copy past the limit, measured no further than just past it.
        assert!(
            accumulated > limit && accumulated < 2 * limit + 4096,
            "{accumulated}"
        );
        let msg = PatchError::CopyTooLarge { accumulated, limit }.to_string();
        assert!(
            msg.starts_with(
                "Unable to complete the copy, the accumulated size increase of copy is"
            ),
            "{msg}"
        );
    }

    #[test]
    fn copies_under_the_limit_apply() {
        let doc = json!({"metadata": {"name": "a"}});
        let out =
            apply_json_patch(&doc, doubling_bomb(8).as_bytes()).expect("8 doublings of 1 KiB fit");
        let size = out.to_string().len();
        assert!(size > 256 * 1024 && size < 300 * 1024, "{size}");
    }

    #[test]
    fn measured_size_is_the_compact_json_size() {
        let v = json!({"a": [1, true, null, "xy"], "b": {"c": false}});
        assert_eq!(json_size_within(&v, usize::MAX), v.to_string().len());
        assert!(json_size_within(&json!(["x".repeat(100), "y".repeat(100)]), 10) == 105);
    }
}
