//! Objects marked `x-kubernetes-embedded-resource` carry their own `apiVersion`, `kind` and
//! `metadata`; upstream validates those as the API server validates a resource's own
//! (`schema/objectmeta`): `apiVersion` and `kind` are required strings of the right shape,
//! and the metadata passes `ValidateObjectMeta` with path-segment names.
//!
//! Of `ValidateObjectMeta`, kapi checks names, namespace, generation, labels and annotations;
//! owner references, finalizers and managed fields of embedded objects are not checked.

use kapi_api::meta::{label_value_errors, qualified_name_errors, validate_name, NameRule};
use serde_json::{Map, Value};

use super::fielderr::{child, index, key, FieldError};
use super::gofmt::{json, Bad};
use super::node::Node;

/// Upstream's cap on the bytes of an object's annotations.
const MAX_ANNOTATIONS_BYTES: usize = 256 * 1024;

/// The errors of embedded resources inside `v` (not of `v` itself, whose metadata the
/// API server validates as the resource's own).
pub(crate) fn check(node: &Node, v: &Value, path: &str, out: &mut Vec<FieldError>) {
    if let (true, Value::Object(map)) = (node.embedded, v) {
        embedded(map, path, out);
    }
    check_members(node, v, path, out);
}

/// As [`check`], for what `v` contains only.
pub(crate) fn check_members(node: &Node, v: &Value, path: &str, out: &mut Vec<FieldError>) {
    match v {
        Value::Object(map) => {
            for (k, v) in map {
                if let Some(p) = node.property(k) {
                    check(p, v, &child(path, k), out);
                } else if let Some(extra) = node.extra_schema() {
                    check(extra, v, &key(path, k), out);
                }
            }
        }
        Value::Array(items) => {
            if let Some(item) = &node.items {
                for (i, v) in items.iter().enumerate() {
                    check(item, v, &index(path, i), out);
                }
            }
        }
        _ => {}
    }
}

/// The errors of one embedded resource at `path`.
pub(crate) fn embedded(map: &Map<String, Value>, path: &str, out: &mut Vec<FieldError>) {
    for field in ["apiVersion", "kind"] {
        if !map.contains_key(field) {
            out.push(FieldError::required(child(path, field), ""));
        }
    }
    for (k, v) in map {
        match k.as_str() {
            "apiVersion" => match v.as_str() {
                None => out.push(FieldError::invalid(
                    child(path, k),
                    Bad::of(v),
                    "must be a string",
                )),
                Some("") => out.push(FieldError::invalid(
                    child(path, k),
                    Bad::str(""),
                    "must not be empty",
                )),
                Some(s) if s != "/" && s.matches('/').count() > 1 => out.push(FieldError::invalid(
                    child(path, k),
                    Bad::str(s),
                    format!("unexpected GroupVersion string: {s}"),
                )),
                Some(_) => {}
            },
            "kind" => match v.as_str() {
                None => out.push(FieldError::invalid(
                    child(path, k),
                    Bad::of(v),
                    "must be a string",
                )),
                Some("") => out.push(FieldError::invalid(
                    child(path, k),
                    Bad::str(""),
                    "must not be empty",
                )),
                Some(s) => {
                    let errs = validate_name(&s.to_lowercase(), NameRule::Rfc1035Label);
                    if !errs.is_empty() {
                        out.push(FieldError::invalid(
                            child(path, k),
                            Bad::str(s),
                            format!(
                                "may have mixed case, but should otherwise match: {}",
                                errs.join(",")
                            ),
                        ));
                    }
                }
            },
            "metadata" => metadata(v, &child(path, "metadata"), out),
            _ => {}
        }
    }
}

/// Decoding into ObjectMeta, then `ValidateObjectMeta`.
fn metadata(v: &Value, path: &str, out: &mut Vec<FieldError>) {
    if let Some(err) = decode_error(v) {
        out.push(FieldError::invalid(path, Bad::Json(json(v)), err));
        return;
    }
    let Value::Object(m) = v else {
        return;
    };
    let text = |k: &str| m.get(k).and_then(Value::as_str).unwrap_or_default();
    let generate_name = text("generateName");
    for why in path_segment_errors(generate_name, true) {
        out.push(FieldError::invalid(
            child(path, "generateName"),
            Bad::str(generate_name),
            why,
        ));
    }
    // Upstream validates a made-up name when there is none.
    let name = match text("name") {
        "" => "fakename",
        n => n,
    };
    for why in path_segment_errors(name, false) {
        out.push(FieldError::invalid(
            child(path, "name"),
            Bad::str(name),
            why,
        ));
    }
    let namespace = text("namespace");
    if !namespace.is_empty() {
        for why in validate_name(namespace, NameRule::Label) {
            out.push(FieldError::invalid(
                child(path, "namespace"),
                Bad::str(namespace),
                why,
            ));
        }
    }
    if let Some(g) = m
        .get("generation")
        .and_then(Value::as_i64)
        .filter(|g| *g < 0)
    {
        out.push(FieldError::invalid(
            child(path, "generation"),
            Bad::Int(g),
            "must be greater than or equal to 0",
        ));
    }
    if let Some(labels) = m.get("labels").and_then(Value::as_object) {
        let at = child(path, "labels");
        for (k, v) in labels {
            for why in qualified_name_errors(k) {
                out.push(FieldError::invalid(&at, Bad::str(k), why));
            }
            let value = v.as_str().unwrap_or_default();
            for why in label_value_errors(value) {
                out.push(FieldError::invalid(&at, Bad::str(value), why));
            }
        }
    }
    if let Some(annotations) = m.get("annotations").and_then(Value::as_object) {
        let at = child(path, "annotations");
        let mut size = 0;
        for (k, v) in annotations {
            for why in qualified_name_errors(&k.to_lowercase()) {
                out.push(FieldError::invalid(&at, Bad::str(k), why));
            }
            size += k.len() + v.as_str().map_or(0, str::len);
        }
        if size > MAX_ANNOTATIONS_BYTES {
            out.push(FieldError::too_long(
                &at,
                i64::try_from(MAX_ANNOTATIONS_BYTES).unwrap_or(i64::MAX),
            ));
        }
    }
}

/// `ValidatePathSegmentName`: not `.` or `..` (unless a prefix), no `/` or `%`.
fn path_segment_errors(name: &str, prefix: bool) -> Vec<String> {
    if !prefix && (name == "." || name == "..") {
        return vec![format!("may not be '{name}'")];
    }
    ["/", "%"]
        .into_iter()
        .filter(|bad| name.contains(bad))
        .map(|bad| format!("may not contain '{bad}'"))
        .collect()
}

/// Why Go could not decode `v` into an ObjectMeta, in `encoding/json`'s words, for the fields
/// whose types this module relies on.
fn decode_error(v: &Value) -> Option<String> {
    let kind = |v: &Value| match v {
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
        Value::Null => "null",
    };
    let Value::Object(m) = v else {
        return (!v.is_null()).then(|| {
            format!(
                "json: cannot unmarshal {} into Go value of type v1.ObjectMeta",
                kind(v)
            )
        });
    };
    let field_error = |field: &str, got: &Value, want: &str| {
        let got = match got {
            Value::Number(n) if want == "int64" => format!("number {n}"),
            other => kind(other).to_string(),
        };
        Some(format!(
            "json: cannot unmarshal {got} into Go struct field ObjectMeta.{field} of type {want}"
        ))
    };
    for (k, v) in m {
        if v.is_null() {
            continue;
        }
        match k.as_str() {
            "name" | "generateName" | "namespace" | "uid" | "resourceVersion" | "selfLink"
                if !v.is_string() =>
            {
                return field_error(k, v, "string");
            }
            "generation" if v.as_i64().is_none() => return field_error(k, v, "int64"),
            "labels" | "annotations" => match v {
                Value::Object(entries) => {
                    if let Some(bad) = entries.values().find(|e| !e.is_string() && !e.is_null()) {
                        return field_error(k, bad, "string");
                    }
                }
                other => return field_error(k, other, "map[string]string"),
            },
            "finalizers" => match v {
                Value::Array(items) => {
                    if let Some(bad) = items.iter().find(|e| !e.is_string() && !e.is_null()) {
                        return field_error(k, bad, "string");
                    }
                }
                other => return field_error(k, other, "[]string"),
            },
            _ => {}
        }
    }
    None
}
