//! Label and field selectors, as list and watch requests (`labelSelector=`, `fieldSelector=`) and
//! workload objects (`spec.selector`) express them.
//!
//! - [`LabelSelector`] parses the full label selector grammar (`k=v`, `k!=v`, `k in (a,b)`,
//!   `k notin (a,b)`, `k`, `!k`, `k>1`, `k<1`) and converts `metav1.LabelSelector` objects.
//! - [`FieldSelector`] parses `f=v`, `f==v`, `f!=v` terms with `\`-escaped values, and
//!   [`field_value`] reads a dotted field path out of a JSON object to match against.
//!
//! Both are pure: parsing validates like the Kubernetes API server does, matching never fails.
//!
//! ```
//! use kapi_api::selectors::{field_value, FieldSelector, LabelSelector};
//! use serde_json::json;
//!
//! let sel = LabelSelector::parse("app=web, tier notin (db)").unwrap();
//! let labels = [("app".to_string(), "web".to_string())].into_iter().collect();
//! assert!(sel.matches(&labels));
//!
//! let pod = json!({"metadata": {"name": "p"}, "status": {"phase": "Running"}});
//! let fs = FieldSelector::parse("status.phase!=Pending,metadata.name=p").unwrap();
//! assert!(fs.matches(|path| field_value(&pod, path)));
//! ```

mod field;
mod label;

pub use field::{field_value, FieldOperator, FieldRequirement, FieldSelector};
pub use label::{
    validate_label_value, validate_qualified_name, LabelSelector, Operator, Requirement,
};

/// Why a selector could not be parsed or converted; the message is meant for the API client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SelectorError {
    /// The label selector text does not follow the grammar (unexpected token, missing value).
    #[error("unable to parse requirement: {0}")]
    LabelSyntax(String),
    /// A label key is not a valid qualified name (`[prefix/]name`).
    #[error("unable to parse requirement: invalid label key {key:?}: {reason}")]
    InvalidLabelKey {
        /// The key as written.
        key: String,
        /// What rule it breaks.
        reason: String,
    },
    /// A label value is too long or uses characters labels may not contain.
    #[error(
        "unable to parse requirement: invalid label value {value:?} for key {key:?}: {reason}"
    )]
    InvalidLabelValue {
        /// The key the value belongs to.
        key: String,
        /// The value as written.
        value: String,
        /// What rule it breaks.
        reason: String,
    },
    /// The requirement is well formed but meaningless (empty `in` set, non-integer for `>`).
    #[error("unable to parse requirement: {0}")]
    InvalidRequirement(String),
    /// A `metav1.LabelSelector` object has the wrong shape or an unknown operator.
    #[error("invalid label selector: {0}")]
    InvalidLabelSelectorObject(String),
    /// A field selector term could not be understood.
    #[error("invalid field selector {term:?}: {reason}")]
    FieldSyntax {
        /// The offending term (or the whole selector).
        term: String,
        /// What is wrong with it.
        reason: String,
    },
}
