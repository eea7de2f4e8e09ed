//! The CRD API's own rules for a version's `openAPIV3Schema` (upstream's
//! `ValidateCustomResourceDefinitionOpenAPISchema`): fields a CRD schema may not use, the
//! shapes the `x-kubernetes-*` extensions require, and where defaults are forbidden.
//!
//! Errors come out in one walk of the schema: a node's own problems, then its
//! `additionalProperties`, properties (document order), `not`, `allOf`, `oneOf`, `anyOf`,
//! `definitions` and `items`, then the extension rules of the node. Upstream walks Go maps, so
//! its order among properties varies from call to call; the set is the same.
//!
//! Rules of `x-kubernetes-validations` entries (CEL) are checked last for each node
//! (`cel::check_rules`): present, compiling, with a known reason.

use serde_json::Value;

use super::fielderr::{child, index, key, FieldError};
use super::gofmt::{json, Bad};
use super::props::{Additional, Items, Props};

const OPENAPI_TYPES: [&str; 6] = ["array", "boolean", "integer", "number", "object", "string"];
const META_FIELDS: [&str; 3] = ["metadata", "kind", "apiVersion"];

/// What a subtree may contain, as upstream's `specStandardValidatorV3` carries it down.
#[derive(Clone, Default)]
struct Context {
    /// Why `default` is forbidden here, if it is.
    defaults_forbidden: Option<String>,
    /// Inside the schema of `apiVersion`, `kind` or `metadata` of a resource.
    inside_resource_meta: bool,
}

impl Context {
    fn forbid_defaults(&self, reason: String) -> Context {
        Context {
            defaults_forbidden: Some(reason),
            ..self.clone()
        }
    }
}

/// All API errors of the schema at `path`, including `nullable` at the root.
pub(crate) fn check_api(p: &Props, path: &str) -> Vec<FieldError> {
    let mut out = Vec::new();
    walk(p, path, &Context::default(), true, &mut out);
    out
}

/// `nullable: true` at the root, checked before anything else.
pub(crate) fn check_root_nullable(p: &Props, path: &str) -> Option<FieldError> {
    p.nullable.then(|| {
        FieldError::forbidden(
            child(path, "nullable"),
            "nullable cannot be true at the root",
        )
    })
}

fn walk(p: &Props, path: &str, ctx: &Context, is_root: bool, out: &mut Vec<FieldError>) {
    own_fields(p, path, ctx, out);
    if p.unique_items {
        out.push(FieldError::forbidden(
            child(path, "uniqueItems"),
            "uniqueItems cannot be set to true since the runtime complexity becomes quadratic",
        ));
    }
    if let Some(additional) = &p.additional_properties {
        let clashes = matches!(
            additional,
            Additional::Allows(false) | Additional::Schema(_)
        );
        if !p.properties.is_empty() && clashes {
            out.push(FieldError::forbidden(
                child(path, "additionalProperties"),
                "additionalProperties and properties are mutual exclusive",
            ));
        }
        if let Additional::Schema(s) = additional {
            let sub = if ctx.inside_resource_meta {
                ctx.forbid_defaults(
                    "inside additionalProperties applying to object metadata".into(),
                )
            } else {
                ctx.clone()
            };
            walk(s, &child(path, "additionalProperties"), &sub, false, out);
        }
    }
    for (name, s) in &p.properties {
        let mut sub = ctx.clone();
        if (is_root || p.embedded_resource) && META_FIELDS.contains(&name.as_str()) {
            sub.inside_resource_meta = true;
            if is_root {
                sub = sub.forbid_defaults(format!("in top-level {name}"));
            }
        }
        walk(s, &key(&child(path, "properties"), name), &sub, false, out);
    }
    if let Some(not) = &p.not {
        walk(not, &child(path, "not"), ctx, false, out);
    }
    for (list, name) in [
        (&p.all_of, "allOf"),
        (&p.one_of, "oneOf"),
        (&p.any_of, "anyOf"),
    ] {
        for (i, s) in list.iter().enumerate() {
            walk(s, &index(&child(path, name), i), ctx, false, out);
        }
    }
    for (name, s) in &p.definitions {
        walk(s, &key(&child(path, "definitions"), name), ctx, false, out);
    }
    match &p.items {
        Some(Items::One(s)) => walk(s, &child(path, "items"), ctx, false, out),
        Some(Items::Many(list)) => {
            for (i, s) in list.iter().enumerate() {
                walk(s, &index(&child(path, "items"), i), ctx, false, out);
            }
        }
        None => {}
    }
    extensions(p, path, out);
    super::cel::check_rules(&p.rules, path, out);
}

/// The rules about a node's own fields (`specStandardValidatorV3.validate`).
fn own_fields(p: &Props, path: &str, ctx: &Context, out: &mut Vec<FieldError>) {
    if !p.type_.is_empty() && !OPENAPI_TYPES.contains(&p.type_.as_str()) {
        out.push(FieldError::not_supported(
            child(path, "type"),
            Bad::str(&p.type_),
            &OPENAPI_TYPES,
        ));
    }
    if let (Some(_), Some(reason)) = (&p.default, &ctx.defaults_forbidden) {
        out.push(FieldError::forbidden(
            child(path, "default"),
            format!("must not be set {reason}"),
        ));
    }
    let unsupported = [
        (!p.id.is_empty(), "id", "id is not supported"),
        (
            p.additional_items,
            "additionalItems",
            "additionalItems is not supported",
        ),
        (
            p.pattern_properties > 0,
            "patternProperties",
            "patternProperties is not supported",
        ),
        (
            !p.definitions.is_empty(),
            "definitions",
            "definitions is not supported",
        ),
        (
            p.dependencies,
            "dependencies",
            "dependencies is not supported",
        ),
        (p.reference.is_some(), "$ref", "$ref is not supported"),
        (
            p.type_ == "null",
            "type",
            "type cannot be set to null, use nullable as an alternative",
        ),
        (
            matches!(&p.items, Some(Items::Many(l)) if !l.is_empty()),
            "items",
            "items must be a schema object and not an array",
        ),
        (
            ctx.inside_resource_meta && p.embedded_resource,
            "x-kubernetes-embedded-resource",
            "must not be used inside of resource meta",
        ),
    ];
    for (hit, field, detail) in unsupported {
        if hit {
            out.push(FieldError::forbidden(child(path, field), detail));
        }
    }
}

/// The rules of `x-kubernetes-preserve-unknown-fields`, `-map-type`, `-list-type` and
/// `-list-map-keys`.
fn extensions(p: &Props, path: &str, out: &mut Vec<FieldError>) {
    if p.preserve_unknown_fields == Some(false) {
        out.push(FieldError::invalid(
            child(path, "x-kubernetes-preserve-unknown-fields"),
            Bad::Bool(false),
            "must be true or undefined",
        ));
    }
    if let Some(map_type) = &p.map_type {
        if p.type_ != "object" {
            out.push(needs_type(
                path,
                &p.type_,
                "must be object if x-kubernetes-map-type is specified",
            ));
        }
        if map_type != "atomic" && map_type != "granular" {
            out.push(FieldError::not_supported(
                child(path, "x-kubernetes-map-type"),
                Bad::str(map_type),
                &["atomic", "granular"],
            ));
        }
    }
    if let Some(list_type) = &p.list_type {
        if p.type_ != "array" {
            out.push(needs_type(
                path,
                &p.type_,
                "must be array if x-kubernetes-list-type is specified",
            ));
        } else if list_type == "set" {
            set_items(p, path, out);
        }
        if !["atomic", "set", "map"].contains(&list_type.as_str()) {
            out.push(FieldError::not_supported(
                child(path, "x-kubernetes-list-type"),
                Bad::str(list_type),
                &["atomic", "set", "map"],
            ));
        }
    }
    let keys = p.list_map_keys.as_deref().unwrap_or_default();
    if !keys.is_empty() {
        match &p.list_type {
            None => out.push(FieldError::required(
                child(path, "x-kubernetes-list-type"),
                "must be map if x-kubernetes-list-map-keys is non-empty",
            )),
            Some(t) if t != "map" => out.push(FieldError::invalid(
                child(path, "x-kubernetes-list-type"),
                Bad::str(t),
                "must be map if x-kubernetes-list-map-keys is non-empty",
            )),
            Some(_) => {}
        }
    }
    if p.list_type.as_deref() == Some("map") {
        map_list(p, keys, path, out);
    }
    nullable_list_items(p, keys, path, out);
}

/// `Required` when `type` is missing, `Invalid` when it is something else.
fn needs_type(path: &str, type_: &str, detail: &str) -> FieldError {
    if type_.is_empty() {
        FieldError::required(child(path, "type"), detail)
    } else {
        FieldError::invalid(child(path, "type"), Bad::str(type_), detail)
    }
}

/// Items of a `set` must be atomic. (Upstream prints the items' list type as the value in
/// the map-type message too; kapi prints what upstream prints.)
fn set_items(p: &Props, path: &str, out: &mut Vec<FieldError>) {
    let Some(items) = p.items_schema() else {
        return;
    };
    let list_type_value = Bad::Json(json(
        &items
            .list_type
            .as_ref()
            .map_or(Value::Null, |t| Value::String(t.clone())),
    ));
    const DETAIL: &str = "must be atomic as item of a list with x-kubernetes-list-type=set";
    match items.type_.as_str() {
        "array" if items.list_type.as_deref().is_some_and(|t| t != "atomic") => {
            out.push(FieldError::invalid(
                child(&child(path, "items"), "x-kubernetes-list-type"),
                list_type_value,
                DETAIL,
            ));
        }
        "object" if items.map_type.as_deref() != Some("atomic") => {
            out.push(FieldError::invalid(
                child(&child(path, "items"), "x-kubernetes-map-type"),
                list_type_value,
                DETAIL,
            ));
        }
        _ => {}
    }
}

/// The shape a `map` list needs: keys, one object schema for the items, scalar key fields.
fn map_list(p: &Props, keys: &[String], path: &str, out: &mut Vec<FieldError>) {
    if keys.is_empty() {
        out.push(FieldError::required(
            child(path, "x-kubernetes-list-map-keys"),
            "must not be empty if x-kubernetes-list-type is map",
        ));
    }
    let items_path = child(path, "items");
    match &p.items {
        None => out.push(FieldError::required(
            items_path,
            "must have a schema if x-kubernetes-list-type is map",
        )),
        Some(Items::Many(_)) => out.push(FieldError::invalid(
            items_path,
            Bad::Json(p.items_json.as_ref().map_or_else(|| "null".into(), json)),
            "must only have a single schema if x-kubernetes-list-type is map",
        )),
        Some(Items::One(items)) if items.type_ != "object" => out.push(FieldError::invalid(
            child(&items_path, "type"),
            Bad::str(&items.type_),
            "must be object if parent array's x-kubernetes-list-type is map",
        )),
        Some(Items::One(items)) => {
            let keys_value = Bad::Json(json(&Value::from(keys.to_vec())));
            for (i, k) in keys.iter().enumerate() {
                match items.property(k) {
                    Some(s) if s.type_ == "array" || s.type_ == "object" => {
                        out.push(FieldError::invalid(
                            child(&key(&child(&items_path, "properties"), k), "type"),
                            Bad::str(&items.type_),
                            "must be a scalar type if parent array's x-kubernetes-list-type is map",
                        ));
                    }
                    Some(_) => {}
                    None => out.push(FieldError::invalid(
                        child(path, "x-kubernetes-list-map-keys"),
                        keys_value.clone(),
                        "entries must all be names of item properties",
                    )),
                }
                if keys[..i].contains(k) {
                    out.push(FieldError::invalid(
                        child(path, "x-kubernetes-list-map-keys"),
                        keys_value.clone(),
                        "must not contain duplicate entries",
                    ));
                }
            }
        }
    }
}

/// Items of `set` and `map` lists, and the key fields of `map` lists, may not be null; key
/// fields need a default or must be required (`validateMapListKeysMapSet`).
fn nullable_list_items(p: &Props, keys: &[String], path: &str, out: &mut Vec<FieldError>) {
    let (Some(items), Some(list_type)) = (p.items_schema(), p.list_type.as_deref()) else {
        return;
    };
    if list_type != "set" && list_type != "map" {
        return;
    }
    let items_path = child(path, "items");
    if items.nullable {
        out.push(FieldError::forbidden(
            child(&items_path, "nullable"),
            format!("cannot be nullable when x-kubernetes-list-type is {list_type}"),
        ));
    }
    if list_type != "map" {
        return;
    }
    let required = items.required.as_deref().unwrap_or_default();
    for k in keys {
        let Some(s) = items.property(k) else {
            continue;
        };
        let at = key(&child(&items_path, "properties"), k);
        if !required.contains(k) && s.default.is_none() {
            out.push(FieldError::required(
                child(&at, "default"),
                "this property is in x-kubernetes-list-map-keys, so it must have a default or be a required property",
            ));
        }
        if s.nullable {
            out.push(FieldError::forbidden(
                child(&at, "nullable"),
                "this property is in x-kubernetes-list-map-keys, so it cannot be nullable",
            ));
        }
    }
}

/// Why upstream cannot build a structural schema from `p` at all (`NewStructural`), checked
/// in its order. Only reported when nothing else is wrong, since the API rules above already
/// reject most of these.
pub(crate) fn unsupported(p: &Props) -> Option<&'static str> {
    if !p.id.is_empty() {
        return Some("OpenAPIV3Schema 'id' is not supported");
    }
    if !p.schema_url.is_empty() {
        return Some("OpenAPIV3Schema 'schema' is not supported");
    }
    if p.reference.as_deref().is_some_and(|r| !r.is_empty()) {
        return Some("OpenAPIV3Schema '$ref' is not supported");
    }
    if p.pattern_properties > 0 {
        return Some("OpenAPIV3Schema 'patternProperties' is not supported");
    }
    if p.dependencies {
        return Some("OpenAPIV3Schema 'dependencies' is not supported");
    }
    if p.additional_items {
        return Some("OpenAPIV3Schema 'additionalItems' is not supported");
    }
    if !p.definitions.is_empty() {
        return Some("OpenAPIV3Schema 'definitions' is not supported");
    }
    let nested = p
        .not
        .iter()
        .map(|b| b.as_ref())
        .chain(&p.all_of)
        .chain(&p.any_of)
        .chain(&p.one_of);
    for s in nested {
        if let Some(e) = unsupported(s) {
            return Some(e);
        }
    }
    if p.preserve_unknown_fields == Some(false) {
        return Some(
            "internal error: 'x-kubernetes-preserve-unknown-fields' must be true or undefined",
        );
    }
    match &p.items {
        Some(Items::Many(_)) => {
            return Some("OpenAPIV3Schema 'items' must be a schema, but is an array")
        }
        Some(Items::One(s)) => {
            if let Some(e) = unsupported(s) {
                return Some(e);
            }
        }
        None => {}
    }
    for (_, s) in &p.properties {
        if let Some(e) = unsupported(s) {
            return Some(e);
        }
    }
    match &p.additional_properties {
        Some(Additional::Schema(s)) => unsupported(s),
        _ => None,
    }
}

/// The fields upstream allows at the root of a schema whose version enables the status
/// subresource, as its Go field names (they appear so in the message).
const ALLOWED_AT_STATUS_ROOT: [&str; 22] = [
    "Description",
    "Type",
    "Format",
    "Title",
    "Maximum",
    "ExclusiveMaximum",
    "Minimum",
    "ExclusiveMinimum",
    "MaxLength",
    "MinLength",
    "Pattern",
    "MaxItems",
    "MinItems",
    "UniqueItems",
    "MultipleOf",
    "Required",
    "Items",
    "Properties",
    "ExternalDocs",
    "Example",
    "XPreserveUnknownFields",
    "XValidations",
];

/// The root rule for versions with the status subresource: the root must be an object and
/// may only use [`ALLOWED_AT_STATUS_ROOT`], so that `properties.status` alone validates the
/// status. Fields are visited in the Go struct's order and the first offence ends the check,
/// as upstream does. `path` is the `openAPIV3Schema` path.
pub(crate) fn check_status_root(p: &Props, raw: &Value, path: &str) -> Option<FieldError> {
    // Non-zero fields of JSONSchemaProps in declaration order, by Go name.
    let set: [(&str, bool); 44] = [
        ("ID", !p.id.is_empty()),
        ("Schema", !p.schema_url.is_empty()),
        ("Ref", p.reference.is_some()),
        ("Description", !p.description.is_empty()),
        ("Type", !p.type_.is_empty()),
        ("Nullable", p.nullable),
        ("Format", !p.format.is_empty()),
        ("Title", !p.title.is_empty()),
        ("Default", p.default.is_some()),
        ("Maximum", p.maximum.is_some()),
        ("ExclusiveMaximum", p.exclusive_maximum),
        ("Minimum", p.minimum.is_some()),
        ("ExclusiveMinimum", p.exclusive_minimum),
        ("MaxLength", p.max_length.is_some()),
        ("MinLength", p.min_length.is_some()),
        ("Pattern", !p.pattern.is_empty()),
        ("MaxItems", p.max_items.is_some()),
        ("MinItems", p.min_items.is_some()),
        ("UniqueItems", p.unique_items),
        ("MultipleOf", p.multiple_of.is_some()),
        ("Enum", !p.enum_values.is_empty()),
        ("MaxProperties", p.max_properties.is_some()),
        ("MinProperties", p.min_properties.is_some()),
        ("Required", p.required.is_some()),
        ("Items", p.items.is_some()),
        ("AllOf", !p.all_of.is_empty()),
        ("OneOf", !p.one_of.is_empty()),
        ("AnyOf", !p.any_of.is_empty()),
        ("Not", p.not.is_some()),
        ("Properties", !p.properties.is_empty()),
        ("AdditionalProperties", p.additional_properties.is_some()),
        ("PatternProperties", p.pattern_properties > 0),
        ("Dependencies", p.dependencies),
        ("AdditionalItems", p.additional_items),
        ("Definitions", !p.definitions.is_empty()),
        ("ExternalDocs", p.external_docs),
        ("Example", p.example),
        (
            "XPreserveUnknownFields",
            p.preserve_unknown_fields.is_some(),
        ),
        ("XEmbeddedResource", p.embedded_resource),
        ("XIntOrString", p.int_or_string),
        ("XListMapKeys", p.list_map_keys.is_some()),
        ("XListType", p.list_type.is_some()),
        ("XMapType", p.map_type.is_some()),
        ("XValidations", p.validations.is_some()),
    ];
    for (name, present) in set {
        if !present {
            continue;
        }
        if name == "Type" {
            if p.type_ != "object" {
                return Some(FieldError::invalid(
                    child(path, "type"),
                    Bad::str(&p.type_),
                    r#"only "object" is allowed as the type at the root of the schema if the status subresource is enabled"#,
                ));
            }
            continue;
        }
        if !ALLOWED_AT_STATUS_ROOT.contains(&name) {
            return Some(FieldError::invalid(
                path,
                Bad::Json(json(raw)),
                format!(
                    "only [{}] fields are allowed at the root of the schema if the status subresource is enabled",
                    ALLOWED_AT_STATUS_ROOT.join(" ")
                ),
            ));
        }
    }
    None
}
