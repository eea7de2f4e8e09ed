//! Custom resources checked against their CRD's structural schema, as kube-apiserver 1.34
//! checks them, with upstream's field paths and messages.
//!
//! A [`CustomSchema`] is compiled once from a CRD version's `schema.openAPIV3Schema`;
//! compiling runs the CRD API's checks of that schema (the forbidden fields, the structural
//! rules, the extension rules, the defaults) and refuses the schema with upstream's causes.
//! A request then goes through the same steps as upstream's:
//!
//! 1. [`CustomSchema::prune`] (decoding): unknown fields, disallowed nulls, unknown metadata
//!    fields of embedded resources go;
//! 2. [`CustomSchema::apply_defaults`] (decoding, and again on reads from storage);
//! 3. [`CustomSchema::validate`]: schema validation, embedded resources, list sets and maps.
//!
//! The root's `apiVersion`, `kind` and `metadata` are the API server's business (it checks
//! kind, version and `ObjectMeta` itself); the schema only restricts what it declares for
//! them, as upstream's does.
//!
//! `x-kubernetes-validations` (CEL) rules are compiled with the schema and evaluated by
//! [`CustomSchema::validate_update`] (see `cel.rs` for what differs from upstream's CEL).
//!
//! Not covered: validation ratcheting on update
//! (upstream tolerates errors in fields an update leaves unchanged); the root rule for
//! versions with the status subresource is a separate call,
//! [`check_status_subresource_root`], because only the CRD knows whether it applies.
//!
//! ```
//! use kapi_schema::structural::CustomSchema;
//! use serde_json::json;
//!
//! let schema = CustomSchema::compile(
//!     &json!({"type": "object", "properties": {"spec": {
//!         "type": "object",
//!         "required": ["cronSpec"],
//!         "properties": {
//!             "cronSpec": {"type": "string"},
//!             "replicas": {"type": "integer", "default": 1},
//!         },
//!     }}}),
//!     "spec.versions[0].schema.openAPIV3Schema",
//! )
//! .expect("a structural schema");
//!
//! let mut obj = json!({
//!     "apiVersion": "stable.example.com/v1", "kind": "CronTab", "metadata": {"name": "a"},
//!     "spec": {"image": "x", "replicas": "x"},
//! });
//! schema.prune(&mut obj);
//! schema.apply_defaults(&mut obj);
//! let causes = schema.validate(&obj);
//! assert_eq!(causes[0].field, "spec.replicas");
//! assert_eq!(
//!     causes[0].message,
//!     r#"Invalid value: "string": spec.replicas in body must be of type integer: "string""#,
//! );
//! assert_eq!((causes[1].field.as_str(), causes[1].message.as_str()), ("spec.cronSpec", "Required value"));
//! assert!(obj["spec"].get("image").is_none(), "pruned");
//! ```

pub(crate) mod cel;
mod check;
mod defaults;
mod defaults_check;
mod fielderr;
mod finding;
mod formats;
mod formats_net;
mod formats_time;
mod gofmt;
mod gore;
mod invariants;
mod listtype;
mod node;
mod objectmeta;
mod props;
mod prune;
mod shape;
mod validate;

#[cfg(test)]
mod tests;

use kapi_api::status::Cause;
use serde_json::Value;

use fielderr::FieldError;
use gofmt::Bad;
use node::Node;
use props::Props;

/// A CRD version's schema, compiled: cheap to share (hold it in an `Arc`), immutable, and
/// used on every request for the version's resources.
#[derive(Debug, Clone)]
pub struct CustomSchema {
    root: Node,
}

impl CustomSchema {
    /// Compiles a CRD version's `schema.openAPIV3Schema` (a `JSONSchemaProps` as JSON), or
    /// returns every reason upstream would refuse it, as causes under `path` (the schema's
    /// field path in the CRD, e.g. `spec.versions[0].schema.openAPIV3Schema`).
    ///
    /// The checks and their order are upstream's: `nullable` at the root; then, if the schema
    /// can be structural at all, the structural rules (sorted as upstream sorts them) or, when
    /// those pass, the defaults; then the CRD API's rules for the schema's fields and
    /// extensions.
    pub fn compile(schema: &Value, path: &str) -> Result<CustomSchema, Vec<Cause>> {
        let props = Props::decode(schema, path).map_err(into_causes)?;
        let mut errs: Vec<FieldError> = check::check_root_nullable(&props, path)
            .into_iter()
            .collect();
        let unsupported = check::unsupported(&props);
        let mut compiled = None;
        if unsupported.is_none() {
            let structural = invariants::check_structural(&props, path);
            if structural.is_empty() {
                match Node::compile(&props) {
                    Ok(root) => {
                        errs.extend(defaults_check::check_defaults(&props, &root, path));
                        compiled = Some(root);
                    }
                    Err((pattern, why)) => errs.push(FieldError::invalid(
                        path,
                        Bad::str(&pattern),
                        format!("must be a valid regular expression, but isn't: {why}"),
                    )),
                }
            } else {
                errs.extend(structural);
            }
        }
        errs.extend(check::check_api(&props, path));
        if let (true, Some(why)) = (errs.is_empty(), unsupported) {
            errs.push(FieldError::invalid(path, Bad::str(""), why));
        }
        match compiled {
            Some(root) if errs.is_empty() => Ok(CustomSchema { root }),
            _ => Err(into_causes(errs)),
        }
    }

    /// Validates a whole custom resource: what kube-apiserver lists in a 422's
    /// `details.causes` for it, short of the checks of the root's `kind`, `apiVersion` and
    /// `ObjectMeta`. In upstream's order: schema validation (kube-openapi), embedded resources,
    /// then duplicates in `set` and `map` lists.
    pub fn validate(&self, obj: &Value) -> Vec<Cause> {
        self.validate_update(obj, None)
    }

    /// As [`CustomSchema::validate`], for an update from `old` (`None` for a create): the
    /// `x-kubernetes-validations` rules see the old values as `oldSelf`, and transition rules
    /// run only where there is one. The rules' errors come last, as upstream appends them.
    pub fn validate_update(&self, obj: &Value, old: Option<&Value>) -> Vec<Cause> {
        let mut causes = finding::causes(&validate::validate(&self.root, obj), None);
        let mut errs = Vec::new();
        objectmeta::check(&self.root, obj, "", &mut errs);
        if let Value::Object(map) = obj {
            listtype::check(&self.root, map, "", &mut errs);
        }
        causes.extend(into_causes(errs));
        causes.extend(into_causes(cel::validate(&self.root, obj, old)));
        causes
    }

    /// The `x-kubernetes-validations` rules alone over a whole object, for writes of its
    /// status, where upstream evaluates them with the rest of the object too.
    pub fn validate_rules(&self, obj: &Value, old: Option<&Value>) -> Vec<Cause> {
        into_causes(cel::validate(&self.root, obj, old))
    }

    /// Validates the `status` of a resource on its `/status` subresource, as upstream does
    /// with the `properties.status` schema alone (causes under `status`). Nothing to check
    /// when the schema does not specify `status`.
    pub fn validate_status(&self, status: &Value) -> Vec<Cause> {
        match self.root.property("status") {
            Some(node) => finding::causes(&validate::validate(node, status), Some("status")),
            None => Vec::new(),
        }
    }

    /// Prunes `obj` as upstream's decoder does: drops the fields the schema does not specify
    /// (keeping everything under `x-kubernetes-preserve-unknown-fields`, and `apiVersion`,
    /// `kind` and `metadata` of the resource and of embedded resources), drops nulls where the
    /// schema allows none and has no default, and puts the metadata of embedded resources
    /// through `ObjectMeta`.
    pub fn prune(&self, obj: &mut Value) {
        prune::prune_resource(&self.root, obj);
    }

    /// As [`CustomSchema::prune`], returning the paths of the unknown fields it dropped, sorted
    /// (`spec.foo`, `spec.items[0].bar`): what upstream reports for `fieldValidation=Strict`
    /// (`unknown field "spec.foo"`) and `Warn`.
    pub fn prune_unknown_fields(&self, obj: &mut Value) -> Vec<String> {
        prune::prune_resource(&self.root, obj)
    }

    /// Applies the schema's `default`s as upstream's structural defaulting does: absent
    /// properties, and nulls where null is not allowed, get a copy of their default;
    /// defaulting then continues into every member, array items and `additionalProperties`
    /// values included, so nested defaults apply inside defaulted values too.
    pub fn apply_defaults(&self, obj: &mut Value) {
        defaults::apply(&self.root, obj);
    }
}

impl CustomSchema {
    /// Where a `selectableFields` entry's `jsonPath` (`.spec.color`) leads: its field path
    /// (`spec.color`) and the type the schema gives it, or why it leads nowhere, worded as
    /// upstream's field-path check (`does not refer to a valid field`). Array notation is not
    /// allowed; a field of an object without properties is a key of its
    /// `additionalProperties`.
    pub fn selectable_field(&self, json_path: &str) -> Result<(String, &'static str), String> {
        let mut node = &self.root;
        let mut path = String::new();
        let mut rest = json_path;
        while !rest.is_empty() {
            let Some(after) = rest.strip_prefix('.') else {
                let token = rest.split(['.', '[', ']']).next().unwrap_or(rest);
                let token = if token.is_empty() { &rest[..1] } else { token };
                if token == "[" {
                    return Err("array notation is not allowed".into());
                }
                return Err(format!("expected [ or . but got: {token}"));
            };
            let end = after.find(['.', '[', ']']).unwrap_or(after.len());
            let name = &after[..end];
            if name.is_empty() {
                return Err(match after.chars().next() {
                    None => "unexpected end of JSON path".into(),
                    Some('[') => "array notation is not allowed".into(),
                    Some(c) => format!("expected [ or . but got: {c}"),
                });
            }
            node = if !node.properties.is_empty() {
                path = fielderr::child(&path, name);
                node.property(name)
                    .ok_or_else(|| String::from("does not refer to a valid field"))?
            } else if let Some(values) = node.extra_schema() {
                path = fielderr::key(&path, name);
                values
            } else {
                return Err("does not refer to a valid field".into());
            };
            rest = &after[end..];
        }
        let type_name = match node.types.as_slice() {
            [one] => *one,
            _ => "",
        };
        Ok((path, type_name))
    }
}

/// The root rule upstream adds for a version whose `subresources.status` is set: the root of
/// `openAPIV3Schema` (at `path`) must be of type `object` and may only use the fields that
/// keep `properties.status` a complete schema of the status (`description`, `type`,
/// `format`, `title`, bounds and lengths, `pattern`, `uniqueItems`, `multipleOf`, `required`,
/// `items`, `properties`, `externalDocs`, `example`, `x-kubernetes-preserve-unknown-fields`,
/// `x-kubernetes-validations`). At most one cause, as upstream stops at the first offence.
pub fn check_status_subresource_root(schema: &Value, path: &str) -> Vec<Cause> {
    let Ok(props) = Props::decode(schema, path) else {
        return Vec::new();
    };
    check::check_status_root(&props, schema, path)
        .map(FieldError::into_cause)
        .into_iter()
        .collect()
}

fn into_causes(errs: Vec<FieldError>) -> Vec<Cause> {
    errs.into_iter().map(FieldError::into_cause).collect()
}
