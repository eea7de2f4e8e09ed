//! Kubernetes `Status` errors: the one shape every failure takes on the wire.
//!
//! Each constructor fixes the reason, code and message wording kube-apiserver uses, so a
//! handler says *what* went wrong and the client sees exactly what a real cluster would say.

use serde_json::{json, Map, Value};

/// A field-level cause inside an Invalid or Conflict status.
#[derive(Debug, Clone, PartialEq)]
pub struct Cause {
    /// `FieldValueRequired`, `FieldValueInvalid`, `FieldManagerConflict`, ...
    pub reason: String,
    /// Human-readable detail.
    pub message: String,
    /// The field path, e.g. `metadata.name`.
    pub field: String,
}

/// An error answered as a Kubernetes Status.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{code} {reason}: {message}")]
pub struct ApiError {
    /// HTTP status code.
    pub code: u16,
    /// The machine-readable reason (`NotFound`, `Conflict`, ...).
    pub reason: &'static str,
    /// The message kubectl prints.
    pub message: String,
    /// `details`: name, group, kind, causes, retryAfterSeconds.
    pub details: Option<Box<Value>>,
    /// `metadata.continue`: where a list whose token expired can go on, inconsistently.
    pub continue_token: Option<String>,
}

fn details(name: &str, group: &str, kind: &str) -> Value {
    let mut d = Map::new();
    if !name.is_empty() {
        d.insert("name".into(), json!(name));
    }
    if !group.is_empty() {
        d.insert("group".into(), json!(group));
    }
    d.insert("kind".into(), json!(kind));
    Value::Object(d)
}

/// `resource.group` with the group left out for core.
pub fn group_resource(group: &str, resource: &str) -> String {
    if group.is_empty() {
        resource.to_string()
    } else {
        format!("{resource}.{group}")
    }
}

impl ApiError {
    fn new(code: u16, reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            reason,
            message: message.into(),
            details: None,
            continue_token: None,
        }
    }

    /// 400 BadRequest with a free-text message.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", message)
    }

    /// 401 Unauthorized.
    pub fn unauthorized() -> Self {
        Self::new(401, "Unauthorized", "Unauthorized")
    }

    /// 403 for a resource request RBAC refused.
    pub fn forbidden(
        group: &str,
        resource: &str,
        subresource: &str,
        name: &str,
        namespace: &str,
        user: &str,
        verb: &str,
    ) -> Self {
        let gr = group_resource(group, resource);
        let full = if subresource.is_empty() {
            resource.to_string()
        } else {
            format!("{resource}/{subresource}")
        };
        let subject = if name.is_empty() {
            format!("{gr} is forbidden")
        } else {
            format!("{gr} \"{name}\" is forbidden")
        };
        let scope = if namespace.is_empty() {
            "at the cluster scope".to_string()
        } else {
            format!("in the namespace \"{namespace}\"")
        };
        let mut e = Self::new(
            403,
            "Forbidden",
            format!(
                "{subject}: User \"{user}\" cannot {verb} resource \"{full}\" in API group \"{group}\" {scope}"
            ),
        );
        e.details = Some(Box::new(details(name, group, resource)));
        e
    }

    /// 403 for a non-resource path RBAC refused.
    pub fn forbidden_path(user: &str, verb: &str, path: &str) -> Self {
        Self::new(
            403,
            "Forbidden",
            format!("forbidden: User \"{user}\" cannot {verb} path \"{path}\""),
        )
    }

    /// 403 for a write into a namespace that is being deleted.
    pub fn namespace_terminating(group: &str, resource: &str, name: &str, namespace: &str) -> Self {
        let mut e = Self::new(
            403,
            "Forbidden",
            format!(
                "{} \"{name}\" is forbidden: unable to create new content in namespace {namespace} because it is being terminated",
                group_resource(group, resource)
            ),
        );
        e.details = Some(Box::new(details(name, group, resource)));
        e
    }

    /// 404 for a named object.
    pub fn not_found(group: &str, resource: &str, name: &str) -> Self {
        let mut e = Self::new(
            404,
            "NotFound",
            format!("{} \"{name}\" not found", group_resource(group, resource)),
        );
        e.details = Some(Box::new(details(name, group, resource)));
        e
    }

    /// 404 for a URL that names nothing served.
    pub fn no_route() -> Self {
        Self::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        )
    }

    /// 405 for a verb a resource does not support.
    pub fn method_not_supported(group: &str, resource: &str, verb: &str) -> Self {
        let mut e = Self::new(
            405,
            "MethodNotAllowed",
            format!(
                "{verb} is not supported on resources of kind \"{}\"",
                group_resource(group, resource)
            ),
        );
        e.details = Some(Box::new(details("", group, resource)));
        e
    }

    /// 406 when no acceptable response type can be produced.
    pub fn not_acceptable(accepted: &str) -> Self {
        Self::new(
            406,
            "NotAcceptable",
            format!("only the following media types are accepted: {accepted}"),
        )
    }

    /// 409 AlreadyExists.
    pub fn already_exists(group: &str, resource: &str, name: &str) -> Self {
        let mut e = Self::new(
            409,
            "AlreadyExists",
            format!(
                "{} \"{name}\" already exists",
                group_resource(group, resource)
            ),
        );
        e.details = Some(Box::new(details(name, group, resource)));
        e
    }

    /// 409 Conflict for a stale resourceVersion.
    pub fn conflict(group: &str, resource: &str, name: &str) -> Self {
        Self::conflict_with(
            group,
            resource,
            name,
            "the object has been modified; please apply your changes to the latest version and try again",
        )
    }

    /// 409 Conflict with a specific reason text (preconditions, ...).
    pub fn conflict_with(group: &str, resource: &str, name: &str, why: &str) -> Self {
        let mut e = Self::new(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {} \"{name}\": {why}",
                group_resource(group, resource)
            ),
        );
        e.details = Some(Box::new(details(name, group, resource)));
        e
    }

    /// 410 Expired for a watch or list from a compacted revision.
    pub fn expired(message: impl Into<String>) -> Self {
        Self::new(410, "Expired", message)
    }

    /// 413 for a body over the limit.
    pub fn too_large(message: impl Into<String>) -> Self {
        Self::new(413, "RequestEntityTooLarge", message)
    }

    /// 415 for a body in a format the server cannot read.
    pub fn unsupported_media_type(content_type: &str, accepted: &[&str]) -> Self {
        Self::new(
            415,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format - accepted media types include: {}",
                accepted.join(", ")
            ),
        )
        .with_hint(content_type)
    }

    fn with_hint(self, _content_type: &str) -> Self {
        self
    }

    /// 422 Invalid, naming the Kind (not the resource) as upstream does.
    pub fn invalid(group: &str, kind: &str, name: &str, causes: Vec<Cause>) -> Self {
        let summary = match causes.as_slice() {
            [one] => format!("{}: {}", one.field, one.message),
            many => format!(
                "[{}]",
                many.iter()
                    .map(|c| format!("{}: {}", c.field, c.message))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        let kind_name = if group.is_empty() {
            kind.to_string()
        } else {
            format!("{kind}.{group}")
        };
        let mut d = details(name, group, kind);
        d["causes"] = Value::Array(
            causes
                .iter()
                .map(|c| json!({"reason": c.reason, "message": c.message, "field": c.field}))
                .collect(),
        );
        Self {
            code: 422,
            reason: "Invalid",
            message: format!("{kind_name} \"{name}\" is invalid: {summary}"),
            details: Some(Box::new(d)),
            continue_token: None,
        }
    }

    /// 429 TooManyRequests.
    pub fn too_many_requests() -> Self {
        let mut e = Self::new(
            429,
            "TooManyRequests",
            "Too many requests, please try again later.",
        );
        e.details = Some(Box::new(json!({"retryAfterSeconds": 1})));
        e
    }

    /// 500 for one stored object that cannot be read, in upstream's StorageError wording.
    pub fn corrupt_object(key: &str, why: &str) -> Self {
        Self::internal(format!(
            "StorageError: corrupt object, Code: 1, Key: {key}, ResourceVersion: 0, AdditionalErrorMsg: {why}"
        ))
    }

    /// 500 StorageReadError for a list that met stored objects it cannot read: each key as a
    /// cause (at most 100, then one saying the list is cut), so an admin can find and delete
    /// them.
    pub fn store_read_error(resource: &str, prefix: &str, corrupt: &[(String, String)]) -> Self {
        let mut e = Self::new(
            500,
            "StorageReadError",
            format!("failed to read one or more {resource} from the storage"),
        );
        let mut causes: Vec<Value> = corrupt
            .iter()
            .take(100)
            .map(|(key, why)| {
                json!({"reason": "UnexpectedServerResponse", "message": why, "field": key})
            })
            .collect();
        if corrupt.len() > 100 {
            causes.push(
                json!({"reason": "TooMany", "message": "too many errors, the list is truncated"}),
            );
        }
        e.details = Some(Box::new(
            json!({"name": prefix, "kind": resource, "causes": causes}),
        ));
        e
    }

    /// 410 for a continue token whose list can no longer be served consistently, with a
    /// token that goes on from the same key at the current state.
    pub fn continue_expired(inconsistent: String) -> Self {
        let mut e = Self::new(
            410,
            "Expired",
            "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.",
        );
        e.continue_token = Some(inconsistent);
        e
    }

    /// 500 InternalError.
    pub fn internal(message: impl std::fmt::Display) -> Self {
        Self::new(
            500,
            "InternalError",
            format!("Internal error occurred: {message}"),
        )
    }

    /// An error with a code passed on from elsewhere (a kubelet's answer), with the reason
    /// Kubernetes gives that code.
    pub fn with_code(code: u16, message: impl Into<String>) -> Self {
        let reason = match code {
            400 => "BadRequest",
            401 => "Unauthorized",
            403 => "Forbidden",
            404 => "NotFound",
            409 => "Conflict",
            429 => "TooManyRequests",
            503 => "ServiceUnavailable",
            _ => "InternalError",
        };
        Self::new(code, reason, message)
    }

    /// 503 ServiceUnavailable.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(503, "ServiceUnavailable", message)
    }

    /// The Status object.
    pub fn to_status(&self) -> Value {
        let mut v = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
        });
        if let Some(d) = &self.details {
            v["details"] = Value::clone(d);
        }
        if let Some(token) = &self.continue_token {
            v["metadata"]["continue"] = json!(token);
        }
        v["code"] = json!(self.code);
        v
    }
}

/// A `Cause` for a field that must be set.
pub fn required(field: impl Into<String>) -> Cause {
    Cause {
        reason: "FieldValueRequired".into(),
        message: "Required value".into(),
        field: field.into(),
    }
}

/// A `Cause` for a field whose value is wrong; the value is quoted as upstream's messages
/// quote it ([`go_quote`]).
pub fn invalid_value(field: impl Into<String>, value: &str, why: &str) -> Cause {
    Cause {
        reason: "FieldValueInvalid".into(),
        message: format!("Invalid value: {}: {why}", go_quote(value)),
        field: field.into(),
    }
}

/// As [`invalid_value`] for a list of strings, which upstream prints as Go's `%#v` does
/// (`Invalid value: []string{"a", "b"}`).
pub fn invalid_strings(field: impl Into<String>, values: &[&str], why: &str) -> Cause {
    let quoted: Vec<String> = values.iter().map(|v| go_quote(v)).collect();
    Cause {
        reason: "FieldValueInvalid".into(),
        message: format!("Invalid value: []string{{{}}}: {why}", quoted.join(", ")),
        field: field.into(),
    }
}

/// As [`invalid_value`] for a number, which upstream prints unquoted (`Invalid value: 30500`).
pub fn invalid_number(field: impl Into<String>, value: i64, why: &str) -> Cause {
    Cause {
        reason: "FieldValueInvalid".into(),
        message: format!("Invalid value: {value}: {why}"),
        field: field.into(),
    }
}

/// Go's `%q` of one string (`strconv.Quote`), as upstream quotes values in its messages:
/// quotes, backslashes, control and non-printable characters escaped (`"a\x01b"`).
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if c.is_ascii_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
            // Go prints no space but U+0020, and no control character.
            c if c.is_control() || (c.is_whitespace() && c != ' ') => {
                out.push_str(&format!("\\u{:04x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_quoted_as_go_quotes_them() {
        assert_eq!(go_quote("web"), "\"web\"");
        assert_eq!(go_quote("a\u{1}b\t\"c\\"), "\"a\\x01b\\t\\\"c\\\\\"");
        assert_eq!(go_quote("x\u{a0}y"), "\"x\\u00a0y\"");
    }

    #[test]
    fn messages_match_upstream_wording() {
        assert_eq!(
            ApiError::not_found("apps", "deployments", "web").message,
            "deployments.apps \"web\" not found"
        );
        assert_eq!(
            ApiError::conflict("", "configmaps", "cm1").message,
            "Operation cannot be fulfilled on configmaps \"cm1\": the object has been modified; please apply your changes to the latest version and try again"
        );
        assert_eq!(
            ApiError::forbidden("", "pods", "", "", "default", "system:serviceaccount:default:foo", "list").message,
            "pods is forbidden: User \"system:serviceaccount:default:foo\" cannot list resource \"pods\" in API group \"\" in the namespace \"default\""
        );
        let inv = ApiError::invalid(
            "",
            "ConfigMap",
            "Bad_Name",
            vec![invalid_value("metadata.name", "Bad_Name", "x")],
        );
        assert_eq!(inv.code, 422);
        assert_eq!(
            inv.message,
            "ConfigMap \"Bad_Name\" is invalid: metadata.name: Invalid value: \"Bad_Name\": x"
        );
        assert_eq!(
            inv.to_status()["details"]["causes"][0]["field"],
            "metadata.name"
        );
    }
}
