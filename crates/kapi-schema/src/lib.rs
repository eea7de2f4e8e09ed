//! OpenAPI v3 documents and field validation for kapi's built-in kinds.
//!
//! Both come from one set of schemas, generated once from k8s-openapi's `schemars` impls
//! (upstream's schema names and descriptions) plus the patch strategies and merge keys of
//! kapi-api's strategic-merge-patch table (upstream carries those as Go struct tags, which
//! k8s-openapi does not see). So what `kubectl explain` shows, what kubectl's client-side apply
//! computes patches from, and what the server accepts cannot drift apart.
//!
//! - [`openapi_v3_document`]: the document kube-apiserver serves at
//!   `/openapi/v3/<api/v1|apis/g/v>`, paths and `components.schemas`.
//! - [`validate_fields`] and [`prune_unknown_fields`]: an object checked as upstream's strict
//!   decoding into Go structs checks it: unknown fields and type mismatches, worded as upstream.
//! - [`structural::CustomSchema`]: a CRD version's structural schema, compiled once; checks the
//!   schema as the CRD API does, then prunes, defaults and validates custom resources as
//!   kube-apiserver does.
//! - [`expression::Expression`]: CEL over plain JSON, for admission webhooks' `matchConditions`.
//!
//! ```
//! let deployment = serde_json::json!({
//!     "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
//!     "spec": {"replicas": 1, "foo": true},
//! });
//! assert_eq!(
//!     kapi_schema::validate_fields("apps", "v1", "Deployment", &deployment),
//!     vec![r#"unknown field "spec.foo""#.to_string()],
//! );
//! let doc = kapi_schema::openapi_v3_document("apps", "v1");
//! assert!(doc["components"]["schemas"]["io.k8s.api.apps.v1.Deployment"].is_object());
//! ```

mod components;
mod custom_kinds;
mod document;
pub mod expression;
mod kinds;
pub mod structural;
mod validate;

pub use custom_kinds::CustomKind;
pub use document::{openapi_v3_custom_documents, openapi_v3_document, openapi_v3_documents};
pub use structural::CustomSchema;
pub use validate::{is_known, prune_unknown_fields, validate_fields, Problems};

/// A document that does not hold together; see [`check_document`].
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DocumentError {
    /// A `$ref` names a schema the document does not have.
    #[error("unresolved reference {reference:?}")]
    UnresolvedRef {
        /// The reference as written.
        reference: String,
    },
    /// The document lacks `paths` or `components.schemas`.
    #[error("the document has no {0}")]
    Missing(&'static str),
}

/// Checks that every `$ref` of a document resolves within it, so a client never meets a
/// schema it cannot find (kubectl fails a whole `explain` or patch computation on one).
pub fn check_document(doc: &serde_json::Value) -> Result<(), DocumentError> {
    if !doc.get("paths").is_some_and(serde_json::Value::is_object) {
        return Err(DocumentError::Missing("paths"));
    }
    let schemas = doc
        .pointer("/components/schemas")
        .and_then(serde_json::Value::as_object)
        .ok_or(DocumentError::Missing("components.schemas"))?;
    let mut refs = Vec::new();
    collect(doc, &mut refs);
    for r in refs {
        let resolved = r
            .strip_prefix(components::REF_PREFIX)
            .is_some_and(|name| schemas.contains_key(name));
        if !resolved {
            return Err(DocumentError::UnresolvedRef {
                reference: r.to_string(),
            });
        }
    }
    Ok(())
}

fn collect<'a>(v: &'a serde_json::Value, out: &mut Vec<&'a str>) {
    match v {
        serde_json::Value::Object(m) => {
            if let Some(r) = m.get("$ref").and_then(serde_json::Value::as_str) {
                out.push(r);
            }
            m.values().for_each(|c| collect(c, out));
        }
        serde_json::Value::Array(items) => items.iter().for_each(|c| collect(c, out)),
        _ => {}
    }
}

#[cfg(test)]
mod tests;
