//! apimachinery's `field.Error`: what every upstream validation rule produces, and how
//! kube-apiserver turns it into a `StatusCause` (reason = the error type, message = its
//! `ErrorBody`, field = the path).

use kapi_api::status::{go_quote, Cause};

use super::gofmt::Bad;

/// The kinds of field error this module produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `FieldValueRequired`.
    Required,
    /// `FieldValueInvalid`.
    Invalid,
    /// `FieldValueTypeInvalid`, which prints as `Invalid value` too.
    TypeInvalid,
    /// `FieldValueNotSupported`.
    NotSupported,
    /// `FieldValueForbidden`.
    Forbidden,
    /// `FieldValueTooLong`.
    TooLong,
    /// `FieldValueTooMany`.
    TooMany,
    /// `FieldValueDuplicate`.
    Duplicate,
}

impl Kind {
    fn reason(self) -> &'static str {
        match self {
            Kind::Required => "FieldValueRequired",
            Kind::Invalid => "FieldValueInvalid",
            Kind::TypeInvalid => "FieldValueTypeInvalid",
            Kind::NotSupported => "FieldValueNotSupported",
            Kind::Forbidden => "FieldValueForbidden",
            Kind::TooLong => "FieldValueTooLong",
            Kind::TooMany => "FieldValueTooMany",
            Kind::Duplicate => "FieldValueDuplicate",
        }
    }

    fn words(self) -> &'static str {
        match self {
            Kind::Required => "Required value",
            Kind::Invalid | Kind::TypeInvalid => "Invalid value",
            Kind::NotSupported => "Unsupported value",
            Kind::Forbidden => "Forbidden",
            Kind::TooLong => "Too long",
            Kind::TooMany => "Too many",
            Kind::Duplicate => "Duplicate value",
        }
    }
}

/// One field error.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct FieldError {
    pub(crate) kind: Kind,
    pub(crate) field: String,
    pub(crate) value: Bad,
    pub(crate) detail: String,
}

impl FieldError {
    /// `Required value[: detail]`.
    pub(crate) fn required(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(Kind::Required, field, Bad::Omit, detail)
    }

    /// `Invalid value: <value>: detail`.
    pub(crate) fn invalid(field: impl Into<String>, value: Bad, detail: impl Into<String>) -> Self {
        Self::new(Kind::Invalid, field, value, detail)
    }

    /// As [`FieldError::invalid`], for a value of the wrong JSON type.
    pub(crate) fn type_invalid(
        field: impl Into<String>,
        value: Bad,
        detail: impl Into<String>,
    ) -> Self {
        Self::new(Kind::TypeInvalid, field, value, detail)
    }

    /// `Forbidden: detail`.
    pub(crate) fn forbidden(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(Kind::Forbidden, field, Bad::Omit, detail)
    }

    /// `Unsupported value: <value>: supported values: "a", "b"`.
    pub(crate) fn not_supported<S: AsRef<str>>(
        field: impl Into<String>,
        value: Bad,
        allowed: &[S],
    ) -> Self {
        let detail = if allowed.is_empty() {
            String::new()
        } else {
            let quoted: Vec<String> = allowed.iter().map(|a| go_quote(a.as_ref())).collect();
            format!("supported values: {}", quoted.join(", "))
        };
        Self::new(Kind::NotSupported, field, value, detail)
    }

    /// `Duplicate value: <value>`.
    pub(crate) fn duplicate(field: impl Into<String>, value: Bad) -> Self {
        Self::new(Kind::Duplicate, field, value, "")
    }

    /// `Too long: may not be more than N bytes`.
    pub(crate) fn too_long(field: impl Into<String>, max: i64) -> Self {
        let detail = match max {
            m if m < 0 => "value is too long".to_string(),
            1 => "may not be more than 1 byte".to_string(),
            m => format!("may not be more than {m} bytes"),
        };
        Self::new(Kind::TooLong, field, Bad::Omit, detail)
    }

    /// `Too many: <actual>: must have at most N items`.
    pub(crate) fn too_many(field: impl Into<String>, actual: i64, max: i64) -> Self {
        let detail = match max {
            m if m < 0 => "has too many items".to_string(),
            1 => "must have at most 1 item".to_string(),
            m => format!("must have at most {m} items"),
        };
        let value = if actual >= 0 {
            Bad::Int(actual)
        } else {
            Bad::Omit
        };
        Self::new(Kind::TooMany, field, value, detail)
    }

    fn new(kind: Kind, field: impl Into<String>, value: Bad, detail: impl Into<String>) -> Self {
        Self {
            kind,
            field: field.into(),
            value,
            detail: detail.into(),
        }
    }

    /// `ErrorBody()`: the type's words, the value unless the type omits it, the detail.
    pub(crate) fn body(&self) -> String {
        let mut s = self.kind.words().to_string();
        let prints_value = !matches!(self.kind, Kind::Required | Kind::Forbidden | Kind::TooLong);
        if prints_value {
            if let Some(v) = self.value.render() {
                s.push_str(": ");
                s.push_str(&v);
            }
        }
        if !self.detail.is_empty() {
            s.push_str(": ");
            s.push_str(&self.detail);
        }
        s
    }

    /// `Error()`: `field: body`, the string upstream sorts structural-schema errors by.
    pub(crate) fn error(&self) -> String {
        format!("{}: {}", self.field, self.body())
    }

    /// The `StatusCause` kube-apiserver puts in a 422.
    pub(crate) fn into_cause(self) -> Cause {
        Cause {
            reason: self.kind.reason().to_string(),
            message: self.body(),
            field: self.field,
        }
    }
}

/// `p.Child(name)`: `spec.replicas`.
pub(crate) fn child(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_string()
    } else {
        format!("{path}.{name}")
    }
}

/// `p.Key(k)`: `properties[spec]`.
pub(crate) fn key(path: &str, k: &str) -> String {
    format!("{path}[{k}]")
}

/// `p.Index(i)`: `items[0]`.
pub(crate) fn index(path: &str, i: usize) -> String {
    format!("{path}[{i}]")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_follow_error_body() {
        assert_eq!(FieldError::required("spec.a", "").body(), "Required value");
        assert_eq!(
            FieldError::required("t", "must not be empty at the root").body(),
            "Required value: must not be empty at the root"
        );
        assert_eq!(
            FieldError::invalid("t", Bad::str("integer"), "must be object at the root").error(),
            "t: Invalid value: \"integer\": must be object at the root"
        );
        assert_eq!(
            FieldError::not_supported("f", Bad::str("x"), &["a", "b"]).body(),
            "Unsupported value: \"x\": supported values: \"a\", \"b\""
        );
        assert_eq!(
            FieldError::too_long("f", 5).body(),
            "Too long: may not be more than 5 bytes"
        );
        assert_eq!(
            FieldError::too_long("f", 1).body(),
            "Too long: may not be more than 1 byte"
        );
        assert_eq!(
            FieldError::too_many("f", 3, 2).body(),
            "Too many: 3: must have at most 2 items"
        );
        assert_eq!(FieldError::forbidden("f", "x").body(), "Forbidden: x");
        assert_eq!(
            FieldError::duplicate("f[1]", Bad::Json(r#"{"k":"a"}"#.into())).body(),
            r#"Duplicate value: {"k":"a"}"#
        );
        let cause = FieldError::type_invalid("f", Bad::str("string"), "x").into_cause();
        assert_eq!(cause.reason, "FieldValueTypeInvalid");
        assert_eq!(cause.message, "Invalid value: \"string\": x");
    }

    #[test]
    fn paths_follow_field_path() {
        assert_eq!(child("", "spec"), "spec");
        assert_eq!(key(&child("a", "properties"), "b"), "a.properties[b]");
        assert_eq!(index("items", 2), "items[2]");
    }
}
