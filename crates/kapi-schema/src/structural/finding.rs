//! kube-openapi's validation errors and kube-apiserver's translation of them into field
//! errors (`kubeOpenAPIResultToFieldErrors`).
//!
//! A finding keeps kube-openapi's own message (`spec.size in body should be greater than or
//! equal to 1`): it is the detail of most field errors, and the key upstream uses to drop
//! repeated errors. Its name is kube-openapi's path (`spec.items[0].name`); the field error's
//! path is that name without its leading dot, under the caller's prefix, or `<nil>` (Go's
//! nil path) when there is neither.

use kapi_api::status::Cause;

use super::fielderr::FieldError;
use super::gofmt::Bad;

/// What kind of kube-openapi error, with what the translation needs.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Code {
    /// A required property is absent → `Required value`.
    Required,
    /// Not one of `enum` → `Unsupported value`, listing the allowed values.
    Enum { value: Bad, allowed: Vec<String> },
    /// Longer than `maxLength` → `Too long`.
    TooLong { max: i64 },
    /// More than `maxItems` items or `maxProperties` properties → `Too many`.
    TooMany { actual: i64, max: i64 },
    /// Wrong type or format → `Invalid value` (reason `FieldValueTypeInvalid`).
    InvalidType { value: Bad },
    /// Any other rule → `Invalid value`.
    Other { value: Bad },
    /// `allOf`/`anyOf`/`oneOf`/`not` failed: reported at the caller's path with value `""`.
    Composite,
}

/// One kube-openapi error.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Finding {
    pub(crate) name: String,
    pub(crate) code: Code,
    pub(crate) message: String,
}

impl Finding {
    /// The field error kube-apiserver makes of it; `prefix` is the path the validated value
    /// sits at (none for a whole object, `...default` for a schema default).
    pub(crate) fn to_field_error(&self, prefix: Option<&str>) -> FieldError {
        let at = |name: &str| -> String {
            let name = name.strip_prefix('.').unwrap_or(name);
            match (prefix, name) {
                (None, "") => "<nil>".to_string(),
                (None, n) => n.to_string(),
                (Some(p), "") => p.to_string(),
                (Some(p), n) => format!("{p}.{n}"),
            }
        };
        let field = if self.name == "." {
            at("")
        } else {
            at(&self.name)
        };
        match &self.code {
            Code::Required => FieldError::required(field, ""),
            Code::Enum { value, allowed } => {
                FieldError::not_supported(field, value.clone(), allowed)
            }
            Code::TooLong { max } => FieldError::too_long(field, *max),
            Code::TooMany { actual, max } => FieldError::too_many(field, *actual, *max),
            Code::InvalidType { value } => {
                FieldError::type_invalid(field, value.clone(), self.message.clone())
            }
            Code::Other { value } => {
                FieldError::invalid(field, value.clone(), self.message.clone())
            }
            Code::Composite => FieldError::invalid(
                prefix.unwrap_or("<nil>"),
                Bad::str(""),
                self.message.clone(),
            ),
        }
    }
}

/// The causes of `findings`, in order.
pub(crate) fn causes(findings: &[Finding], prefix: Option<&str>) -> Vec<Cause> {
    findings
        .iter()
        .map(|f| f.to_field_error(prefix).into_cause())
        .collect()
}

/// Adds `f` unless an error with the same message is there already, as kube-openapi's
/// `Result.AddErrors` does.
pub(crate) fn add(list: &mut Vec<Finding>, f: Finding) {
    if !list.iter().any(|e| e.message == f.message) {
        list.push(f);
    }
}

/// Merges `more` into `list` with the same rule.
pub(crate) fn merge(list: &mut Vec<Finding>, more: Vec<Finding>) {
    for f in more {
        add(list, f);
    }
}
