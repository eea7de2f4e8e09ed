//! Whether a schema is structural (upstream's `ValidateStructural`): every node says its
//! `type`, value validations (`allOf`, `anyOf`, `oneOf`, `not`) only restrict what the
//! structure already specifies, metadata is left to the API server, and the extensions are
//! used where they make sense.
//!
//! The errors are sorted by their `Error()` string, as upstream sorts them.

use super::fielderr::{child, index, key, FieldError};
use super::gofmt::Bad;
use super::props::{Additional, Props};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Level {
    Root,
    Item,
    Field,
}

/// The structural-schema errors of the schema at `path`, sorted.
pub(crate) fn check_structural(p: &Props, path: &str) -> Vec<FieldError> {
    let mut out = Vec::new();
    invariants(p, Level::Root, path, &mut out);
    completeness(p, path, &mut out);
    out.sort_by_cached_key(FieldError::error);
    out
}

fn invariants(s: &Props, lvl: Level, path: &str, out: &mut Vec<FieldError>) {
    let items = s.items_schema();
    if s.type_ == "array" && items.is_none() {
        out.push(FieldError::required(
            child(path, "items"),
            "must be specified",
        ));
    }
    if let Some(items) = items {
        invariants(items, Level::Item, &child(path, "items"), out);
    }
    for (k, v) in &s.properties {
        invariants(v, Level::Field, &key(&child(path, "properties"), k), out);
    }
    if let Some(additional) = &s.additional_properties {
        if lvl == Level::Root {
            out.push(FieldError::forbidden(
                child(path, "additionalProperties"),
                "must not be used at the root",
            ));
        }
        if let Additional::Schema(a) = additional {
            invariants(a, Level::Field, &child(path, "additionalProperties"), out);
        }
    }
    extensions(s, path, out);

    let skip_any_of = is_int_or_string_pattern(&s.any_of);
    let skip_first_all_of_any_of = s
        .all_of
        .first()
        .is_some_and(|first| is_int_or_string_pattern(&first.any_of));
    value_validation(s, skip_any_of, skip_first_all_of_any_of, path, out);

    let check_metadata = lvl == Level::Root || s.embedded_resource;
    if s.embedded_resource && s.type_ != "object" {
        let detail = "must be object if x-kubernetes-embedded-resource is true";
        out.push(if s.type_.is_empty() {
            FieldError::required(child(path, "type"), detail)
        } else {
            FieldError::invalid(child(path, "type"), Bad::str(&s.type_), detail)
        });
    } else if s.type_.is_empty() && !s.int_or_string && !preserves(s) {
        let detail = match lvl {
            Level::Root => "must not be empty at the root",
            Level::Item => "must not be empty for specified array items",
            Level::Field => "must not be empty for specified object fields",
        };
        out.push(FieldError::required(child(path, "type"), detail));
    }
    if s.embedded_resource && s.additional_properties.is_some() {
        out.push(FieldError::forbidden(
            child(path, "additionalProperties"),
            "must not be used if x-kubernetes-embedded-resource is set",
        ));
    }
    if lvl == Level::Root && !s.type_.is_empty() && s.type_ != "object" {
        out.push(FieldError::invalid(
            child(path, "type"),
            Bad::str(&s.type_),
            "must be object at the root",
        ));
    }
    if check_metadata {
        for name in ["kind", "apiVersion"] {
            if let Some(p) = s.property(name) {
                if p.type_ != "string" {
                    out.push(FieldError::invalid(
                        child(&key(&child(path, "properties"), name), "type"),
                        Bad::str(&p.type_),
                        "must be string",
                    ));
                }
            }
        }
    }
    if let Some(metadata) = s.property("metadata") {
        let at = key(&child(path, "properties"), "metadata");
        if check_metadata && metadata.type_ != "object" {
            out.push(FieldError::invalid(
                child(&at, "type"),
                Bad::str(&metadata.type_),
                "must be object",
            ));
        }
        if lvl == Level::Root && !only_names(metadata) {
            out.push(FieldError::forbidden(
                at,
                "must not specify anything other than name and generateName, but metadata is implicitly specified",
            ));
        }
    }
    if s.embedded_resource && !preserves(s) && s.properties.is_empty() {
        out.push(FieldError::required(
            child(path, "properties"),
            "must not be empty if x-kubernetes-embedded-resource is true without x-kubernetes-preserve-unknown-fields",
        ));
    }
}

fn preserves(s: &Props) -> bool {
    s.preserve_unknown_fields == Some(true)
}

fn extensions(s: &Props, path: &str, out: &mut Vec<FieldError>) {
    if s.int_or_string && preserves(s) {
        out.push(FieldError::invalid(
            child(path, "x-kubernetes-preserve-unknown-fields"),
            Bad::Bool(true),
            "must be false if x-kubernetes-int-or-string is true",
        ));
    }
    if s.int_or_string && s.embedded_resource {
        out.push(FieldError::invalid(
            child(path, "x-kubernetes-embedded-resource"),
            Bad::Bool(true),
            "must be false if x-kubernetes-int-or-string is true",
        ));
    }
}

/// `anyOf: [{type: integer}, {type: string}]` and nothing else in either branch: the shape
/// `x-kubernetes-int-or-string` may spell out, the only place a nested `type` is allowed.
fn is_int_or_string_pattern(any_of: &[Props]) -> bool {
    let bare = |p: &Props, t: &str| {
        let mut only_type = p.clone();
        only_type.type_.clear();
        p.type_ == t && is_empty_schema(&only_type)
    };
    matches!(any_of, [a, b] if bare(a, "integer") && bare(b, "string"))
}

/// The metadata schema at the root may only restrict `name` and `generateName`: with those
/// two properties (and `type`, `default`) set aside, nothing may be left.
fn only_names(metadata: &Props) -> bool {
    let mut rest = metadata.clone();
    rest.type_.clear();
    rest.default = None;
    let names = |k: &str| k == "name" || k == "generateName";
    let all_names = rest.properties.iter().all(|(k, _)| names(k));
    if all_names && rest.properties.len() <= 2 {
        rest.properties.clear();
    }
    is_empty_schema(&rest)
}

/// Whether nothing a structural schema keeps is set (upstream compares with the zero value).
fn is_empty_schema(p: &Props) -> bool {
    p.description.is_empty()
        && p.type_.is_empty()
        && p.title.is_empty()
        && p.default.is_none()
        && !p.nullable
        && p.items.is_none()
        && p.properties.is_empty()
        && p.additional_properties.is_none()
        && p.preserve_unknown_fields.is_none()
        && !p.embedded_resource
        && !p.int_or_string
        && p.list_map_keys.is_none()
        && p.list_type.is_none()
        && p.map_type.is_none()
        && p.validations.is_none()
        && p.format.is_empty()
        && p.maximum.is_none()
        && !p.exclusive_maximum
        && p.minimum.is_none()
        && !p.exclusive_minimum
        && p.max_length.is_none()
        && p.min_length.is_none()
        && p.pattern.is_empty()
        && p.max_items.is_none()
        && p.min_items.is_none()
        && !p.unique_items
        && p.multiple_of.is_none()
        && p.enum_values.is_empty()
        && p.max_properties.is_none()
        && p.min_properties.is_none()
        && p.required.is_none()
        && p.all_of.is_empty()
        && p.one_of.is_empty()
        && p.any_of.is_empty()
        && p.not.is_none()
}

/// The junctors of `s` and the validity of its `pattern`.
fn value_validation(
    s: &Props,
    skip_any_of: bool,
    skip_first_all_of_any_of: bool,
    path: &str,
    out: &mut Vec<FieldError>,
) {
    if !skip_any_of {
        for (i, v) in s.any_of.iter().enumerate() {
            nested(v, false, &index(&child(path, "anyOf"), i), out);
        }
    }
    for (i, v) in s.all_of.iter().enumerate() {
        nested(
            v,
            skip_first_all_of_any_of && i == 0,
            &index(&child(path, "allOf"), i),
            out,
        );
    }
    for (i, v) in s.one_of.iter().enumerate() {
        nested(v, false, &index(&child(path, "oneOf"), i), out);
    }
    if let Some(not) = &s.not {
        nested(not, false, &child(path, "not"), out);
    }
    if !s.pattern.is_empty() {
        if let Err(e) = super::gore::compile(&s.pattern) {
            out.push(FieldError::invalid(
                child(path, "pattern"),
                Bad::str(&s.pattern),
                format!("must be a valid regular expression, but isn't: {e}"),
            ));
        }
    }
}

/// A schema under a junctor: value validations only, no structure, no extensions.
fn nested(v: &Props, skip_any_of: bool, path: &str, out: &mut Vec<FieldError>) {
    value_validation(v, skip_any_of, false, path, out);
    if let Some(items) = v.items_schema() {
        nested(items, false, &child(path, "items"), out);
    }
    for (k, p) in &v.properties {
        nested(p, false, &key(&child(path, "properties"), k), out);
    }
    let empty = "must be empty to be structural";
    let undefined = "must be undefined to be structural";
    let forbidden = [
        (!v.type_.is_empty(), "type", empty),
        (
            v.additional_properties.is_some(),
            "additionalProperties",
            undefined,
        ),
        (v.default.is_some(), "default", undefined),
        (!v.title.is_empty(), "title", empty),
        (!v.description.is_empty(), "description", empty),
        (v.nullable, "nullable", "must be false to be structural"),
        (
            preserves(v),
            "x-kubernetes-preserve-unknown-fields",
            "must be false to be structural",
        ),
        (
            v.embedded_resource,
            "x-kubernetes-embedded-resource",
            "must be false to be structural",
        ),
        (
            v.int_or_string,
            "x-kubernetes-int-or-string",
            "must be false to be structural",
        ),
        (
            v.list_map_keys.as_ref().is_some_and(|k| !k.is_empty()),
            "x-kubernetes-list-map-keys",
            empty,
        ),
        (v.list_type.is_some(), "x-kubernetes-list-type", undefined),
        (v.map_type.is_some(), "x-kubernetes-map-type", undefined),
        (
            v.validations.is_some_and(|n| n > 0),
            "x-kubernetes-validations",
            empty,
        ),
    ];
    for (hit, field, detail) in forbidden {
        if hit {
            out.push(FieldError::forbidden(child(path, field), detail));
        }
    }
    if v.property("metadata").is_some() {
        out.push(FieldError::forbidden(
            key(&child(path, "properties"), "metadata"),
            "must not be specified in a nested context",
        ));
    }
}

/// Every field and array a value validation at the root mentions must also be specified by
/// the structure (upstream checks the root's junctors, recursing through theirs).
fn completeness(s: &Props, path: &str, out: &mut Vec<FieldError>) {
    junctors_complete(s, Some(s), path, path, out);
}

fn junctors_complete(
    v: &Props,
    s: Option<&Props>,
    s_path: &str,
    v_path: &str,
    out: &mut Vec<FieldError>,
) {
    if let Some(not) = &v.not {
        nested_complete(not, s, s_path, &child(v_path, "not"), out);
    }
    for (list, name) in [
        (&v.all_of, "allOf"),
        (&v.any_of, "anyOf"),
        (&v.one_of, "oneOf"),
    ] {
        for (i, n) in list.iter().enumerate() {
            nested_complete(n, s, s_path, &index(&child(v_path, name), i), out);
        }
    }
}

fn nested_complete(
    v: &Props,
    s: Option<&Props>,
    s_path: &str,
    v_path: &str,
    out: &mut Vec<FieldError>,
) {
    let Some(s) = s else {
        out.push(FieldError::required(
            s_path,
            format!("because it is defined in {v_path}"),
        ));
        return;
    };
    junctors_complete(v, Some(s), s_path, v_path, out);
    if let Some(items) = v.items_schema() {
        nested_complete(
            items,
            s.items_schema(),
            &child(s_path, "items"),
            &child(v_path, "items"),
            out,
        );
    }
    for (k, p) in &v.properties {
        let s_at = key(&child(s_path, "properties"), k);
        let v_at = key(&child(v_path, "properties"), k);
        match s.property(k) {
            Some(sp) => nested_complete(p, Some(sp), &s_at, &v_at, out),
            None => out.push(FieldError::required(
                s_at,
                format!("because it is defined in {v_at}"),
            )),
        }
    }
}
