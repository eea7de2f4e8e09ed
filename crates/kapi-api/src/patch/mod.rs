//! The three PATCH content types Kubernetes accepts, applied to an object's JSON:
//!
//! - `application/json-patch+json`: [`apply_json_patch`] (RFC 6902 operations);
//! - `application/merge-patch+json`: [`apply_merge_patch`] (RFC 7386, `null` deletes);
//! - `application/strategic-merge-patch+json`: [`apply_strategic_merge_patch`], the
//!   Kubernetes variant that merges lists by key (containers by `name`, ports by
//!   `containerPort`, ...) and understands the `$patch`, `$setElementOrder/`,
//!   `$deleteFromPrimitiveList/` and `$retainKeys` directives that `kubectl apply` and
//!   `kubectl patch` send. The per-field strategies come from [`merge_keys`].
//!
//! Everything here is pure; the handler decodes and validates the result afterwards.
//!
//! ```
//! use kapi_api::patch::apply_strategic_merge_patch;
//! use serde_json::json;
//!
//! let pod = json!({"spec": {"containers": [{"name": "a", "image": "nginx:1"}]}});
//! let patch = json!({"spec": {"containers": [{"name": "a", "image": "nginx:2"}]}});
//! let out = apply_strategic_merge_patch(&pod, &patch, "", "Pod").unwrap();
//! assert_eq!(out, json!({"spec": {"containers": [{"name": "a", "image": "nginx:2"}]}}));
//! ```

mod json;
mod merge;
pub mod merge_keys;
mod strategic;

pub use json::{apply_json_patch, MAX_JSON_PATCH_COPY_BYTES, MAX_JSON_PATCH_OPERATIONS};
pub use merge::apply_merge_patch;
pub use strategic::apply_strategic_merge_patch;

/// Why a patch could not be applied; each message says what to fix in the request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PatchError {
    /// The body is not valid JSON, or not the shape this patch type needs.
    #[error("invalid patch document: {0}")]
    InvalidDocument(String),
    /// A JSON patch has more operations than the server accepts.
    #[error("invalid patch document: {count} operations exceed the limit of {limit}")]
    TooManyOperations {
        /// How many operations the patch holds.
        count: usize,
        /// The most allowed ([`MAX_JSON_PATCH_OPERATIONS`]).
        limit: usize,
    },
    /// A JSON patch's `copy` operations would add more than
    /// [`MAX_JSON_PATCH_COPY_BYTES`] to the document; upstream's wording.
    #[error("Unable to complete the copy, the accumulated size increase of copy is {accumulated}, exceeding the limit {limit}")]
    CopyTooLarge {
        /// Bytes the copies would have added, counted up to the first copy past the limit.
        accumulated: usize,
        /// The most allowed.
        limit: usize,
    },
    /// A JSON patch `test` operation found a different value.
    #[error("test operation {index} failed: the value at {path:?} does not match")]
    TestFailed {
        /// Index of the operation in the patch.
        index: usize,
        /// The JSON pointer it tested.
        path: String,
    },
    /// A JSON patch operation names a location that does not exist (or is not a valid pointer).
    #[error(
        "operation {index} ({op}) failed: path {path:?} does not exist or is not a valid location"
    )]
    PathNotFound {
        /// Index of the operation in the patch.
        index: usize,
        /// The operation's name (`add`, `remove`, ...).
        op: &'static str,
        /// The JSON pointer that could not be resolved.
        path: String,
    },
    /// A `move` or `copy` operation's `from` names a location that does not exist.
    #[error("operation {index} ({op}) failed: \"from\" path {from:?} does not exist")]
    FromNotFound {
        /// Index of the operation in the patch.
        index: usize,
        /// The operation's name (`move` or `copy`).
        op: &'static str,
        /// The `from` JSON pointer.
        from: String,
    },
    /// A `move` operation tries to move a value into one of its own children.
    #[error("operation {index} (move) failed: cannot move {path:?} inside itself")]
    MoveInsideItself {
        /// Index of the operation in the patch.
        index: usize,
        /// The target JSON pointer.
        path: String,
    },
    /// A JSON patch failed for a reason not covered above.
    #[error("operation {index} failed: {reason}")]
    OperationFailed {
        /// Index of the operation in the patch.
        index: usize,
        /// What went wrong.
        reason: String,
    },
    /// A strategic merge patch is malformed at a given field (bad directive, missing merge key,
    /// `$setElementOrder` contradicting the list, `$retainKeys` not listing a patched field).
    #[error("invalid strategic merge patch at {path}: {reason}")]
    InvalidStrategicPatch {
        /// Dotted path of the field (`spec.template.spec.containers`), `<root>` at the top.
        path: String,
        /// What is wrong there.
        reason: String,
    },
}

/// A short name for a JSON value's type, for error messages.
fn json_kind(v: &serde_json::Value) -> &'static str {
    use serde_json::Value;
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}
