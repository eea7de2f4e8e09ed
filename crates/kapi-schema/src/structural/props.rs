//! A CRD schema (`JSONSchemaProps`) decoded from JSON into a typed tree, as kube-apiserver
//! decodes it into its Go struct before any check runs.
//!
//! Decoding follows Go's rules where they matter to the checks: `null` is the same as absent
//! for every field, integers (`maxLength`, ...) must be integral numbers, `items` is a schema
//! or an array of schemas, `additionalProperties` a schema or a bool, and fields the struct does
//! not have are ignored. Upstream rejects a body whose fields have the wrong JSON type before
//! validating anything (400, `json: cannot unmarshal ...`); kapi reports each such field as a
//! cause instead, since it compiles schemas from already-decoded JSON.

use serde_json::{Map, Value};

use super::fielderr::{child, key, FieldError};
use super::gofmt::{json, Bad};

/// `items`: one schema for every element, or (forbidden in CRDs) one per position.
#[derive(Debug, Clone)]
pub(crate) enum Items {
    One(Box<Props>),
    Many(Vec<Props>),
}

/// `additionalProperties`: a bool or a schema for the values.
#[derive(Debug, Clone)]
pub(crate) enum Additional {
    Allows(bool),
    Schema(Box<Props>),
}

/// One decoded `JSONSchemaProps`. Strings default to empty and lists to empty, as in Go;
/// `Option` marks what Go holds in a pointer (or a slice whose presence matters).
#[derive(Debug, Clone, Default)]
pub(crate) struct Props {
    pub(crate) id: String,
    pub(crate) schema_url: String,
    pub(crate) reference: Option<String>,
    pub(crate) description: String,
    pub(crate) type_: String,
    pub(crate) format: String,
    pub(crate) title: String,
    /// `default`, absent when `null` (Go decodes `null` into a nil pointer).
    pub(crate) default: Option<Value>,
    pub(crate) maximum: Option<f64>,
    pub(crate) exclusive_maximum: bool,
    pub(crate) minimum: Option<f64>,
    pub(crate) exclusive_minimum: bool,
    pub(crate) max_length: Option<i64>,
    pub(crate) min_length: Option<i64>,
    pub(crate) pattern: String,
    pub(crate) max_items: Option<i64>,
    pub(crate) min_items: Option<i64>,
    pub(crate) unique_items: bool,
    pub(crate) multiple_of: Option<f64>,
    pub(crate) enum_values: Vec<Value>,
    pub(crate) max_properties: Option<i64>,
    pub(crate) min_properties: Option<i64>,
    /// `required`; present-but-empty differs from absent to upstream's metadata rule.
    pub(crate) required: Option<Vec<String>>,
    pub(crate) items: Option<Items>,
    /// `items` as written, for messages that print it.
    pub(crate) items_json: Option<Value>,
    pub(crate) all_of: Vec<Props>,
    pub(crate) one_of: Vec<Props>,
    pub(crate) any_of: Vec<Props>,
    pub(crate) not: Option<Box<Props>>,
    /// `properties` in document order.
    pub(crate) properties: Vec<(String, Props)>,
    pub(crate) additional_properties: Option<Additional>,
    pub(crate) pattern_properties: usize,
    pub(crate) dependencies: bool,
    pub(crate) additional_items: bool,
    pub(crate) definitions: Vec<(String, Props)>,
    pub(crate) external_docs: bool,
    pub(crate) example: bool,
    pub(crate) nullable: bool,
    pub(crate) preserve_unknown_fields: Option<bool>,
    pub(crate) embedded_resource: bool,
    pub(crate) int_or_string: bool,
    pub(crate) list_map_keys: Option<Vec<String>>,
    pub(crate) list_type: Option<String>,
    pub(crate) map_type: Option<String>,
    /// How many `x-kubernetes-validations` rules, when the list is present.
    pub(crate) validations: Option<usize>,
    /// The rules themselves, as written (compiled by `cel`).
    pub(crate) rules: Vec<Value>,
}

impl Props {
    /// The property `name`, if specified.
    pub(crate) fn property(&self, name: &str) -> Option<&Props> {
        self.properties
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, p)| p)
    }

    /// The single items schema.
    pub(crate) fn items_schema(&self) -> Option<&Props> {
        match &self.items {
            Some(Items::One(p)) => Some(p),
            _ => None,
        }
    }

    /// Decodes `v`, collecting a cause per field of the wrong JSON type under `path`.
    pub(crate) fn decode(v: &Value, path: &str) -> Result<Props, Vec<FieldError>> {
        let mut errs = Vec::new();
        let props = Decoder { errs: &mut errs }.props(v, path);
        if errs.is_empty() {
            Ok(props)
        } else {
            Err(errs)
        }
    }
}

/// Guards against adversarial nesting: far deeper than any real CRD (the API server also caps
/// request bodies), and shallow enough for the recursive walks that follow.
const MAX_DEPTH: usize = 64;

struct Decoder<'a> {
    errs: &'a mut Vec<FieldError>,
}

impl Decoder<'_> {
    fn wrong(&mut self, path: String, v: &Value, want: &str) {
        self.errs.push(FieldError::type_invalid(
            path,
            Bad::Json(json(v)),
            format!("must be {want}"),
        ));
    }

    fn props(&mut self, v: &Value, path: &str) -> Props {
        self.props_at(v, path, 0)
    }

    fn props_at(&mut self, v: &Value, path: &str, depth: usize) -> Props {
        let mut p = Props::default();
        let Value::Object(m) = v else {
            if !v.is_null() {
                self.wrong(path.to_string(), v, "an object");
            }
            return p;
        };
        if depth > MAX_DEPTH {
            self.errs.push(FieldError::forbidden(
                path,
                format!("must not be nested deeper than {MAX_DEPTH} schemas"),
            ));
            return p;
        }
        let d = depth + 1;
        p.id = self.string(m, "id", path);
        p.schema_url = self.string(m, "$schema", path);
        p.reference = self.opt_string(m, "$ref", path);
        p.description = self.string(m, "description", path);
        p.type_ = self.string(m, "type", path);
        p.format = self.string(m, "format", path);
        p.title = self.string(m, "title", path);
        p.default = m.get("default").filter(|v| !v.is_null()).cloned();
        p.maximum = self.float(m, "maximum", path);
        p.exclusive_maximum = self.boolean(m, "exclusiveMaximum", path);
        p.minimum = self.float(m, "minimum", path);
        p.exclusive_minimum = self.boolean(m, "exclusiveMinimum", path);
        p.max_length = self.int(m, "maxLength", path);
        p.min_length = self.int(m, "minLength", path);
        p.pattern = self.string(m, "pattern", path);
        p.max_items = self.int(m, "maxItems", path);
        p.min_items = self.int(m, "minItems", path);
        p.unique_items = self.boolean(m, "uniqueItems", path);
        p.multiple_of = self.float(m, "multipleOf", path);
        p.enum_values = self.array(m, "enum", path).unwrap_or_default();
        p.max_properties = self.int(m, "maxProperties", path);
        p.min_properties = self.int(m, "minProperties", path);
        p.required = self.strings(m, "required", path);
        p.all_of = self.schemas(m, "allOf", path, d);
        p.one_of = self.schemas(m, "oneOf", path, d);
        p.any_of = self.schemas(m, "anyOf", path, d);
        p.not = m
            .get("not")
            .filter(|v| !v.is_null())
            .map(|v| Box::new(self.props_at(v, &child(path, "not"), d)));
        p.properties = self.schema_map(m, "properties", path, d);
        p.definitions = self.schema_map(m, "definitions", path, d);
        p.pattern_properties = self
            .object(m, "patternProperties", path)
            .map_or(0, Map::len);
        p.dependencies = self.object(m, "dependencies", path).is_some();
        p.additional_items = m
            .get("additionalItems")
            .is_some_and(|v| v.is_object() || v.is_boolean());
        p.external_docs = m.get("externalDocs").is_some_and(|v| !v.is_null());
        p.example = m.get("example").is_some_and(|v| !v.is_null());
        p.nullable = self.boolean(m, "nullable", path);
        p.preserve_unknown_fields = self.opt_bool(m, "x-kubernetes-preserve-unknown-fields", path);
        p.embedded_resource = self.boolean(m, "x-kubernetes-embedded-resource", path);
        p.int_or_string = self.boolean(m, "x-kubernetes-int-or-string", path);
        p.list_map_keys = self.strings(m, "x-kubernetes-list-map-keys", path);
        p.list_type = self.opt_string(m, "x-kubernetes-list-type", path);
        p.map_type = self.opt_string(m, "x-kubernetes-map-type", path);
        let rules = self.array(m, "x-kubernetes-validations", path);
        p.validations = rules.as_ref().map(Vec::len);
        p.rules = rules.unwrap_or_default();
        match m.get("items") {
            None | Some(Value::Null) => {}
            Some(items @ Value::Array(list)) => {
                let at = child(path, "items");
                let many = list
                    .iter()
                    .enumerate()
                    .map(|(i, s)| self.props_at(s, &format!("{at}[{i}]"), d))
                    .collect();
                p.items = Some(Items::Many(many));
                p.items_json = Some(items.clone());
            }
            Some(items) => {
                p.items = Some(Items::One(Box::new(self.props_at(
                    items,
                    &child(path, "items"),
                    d,
                ))));
                p.items_json = Some(items.clone());
            }
        }
        p.additional_properties = match m.get("additionalProperties") {
            None | Some(Value::Null) => None,
            Some(Value::Bool(b)) => Some(Additional::Allows(*b)),
            Some(s) => Some(Additional::Schema(Box::new(self.props_at(
                s,
                &child(path, "additionalProperties"),
                d,
            )))),
        };
        p
    }

    fn present<'v>(m: &'v Map<String, Value>, k: &str) -> Option<&'v Value> {
        m.get(k).filter(|v| !v.is_null())
    }

    fn opt_string(&mut self, m: &Map<String, Value>, k: &str, path: &str) -> Option<String> {
        let v = Self::present(m, k)?;
        match v.as_str() {
            Some(s) => Some(s.to_string()),
            None => {
                self.wrong(child(path, k), v, "a string");
                None
            }
        }
    }

    fn string(&mut self, m: &Map<String, Value>, k: &str, path: &str) -> String {
        self.opt_string(m, k, path).unwrap_or_default()
    }

    fn opt_bool(&mut self, m: &Map<String, Value>, k: &str, path: &str) -> Option<bool> {
        let v = Self::present(m, k)?;
        match v.as_bool() {
            Some(b) => Some(b),
            None => {
                self.wrong(child(path, k), v, "a boolean");
                None
            }
        }
    }

    fn boolean(&mut self, m: &Map<String, Value>, k: &str, path: &str) -> bool {
        self.opt_bool(m, k, path).unwrap_or(false)
    }

    fn float(&mut self, m: &Map<String, Value>, k: &str, path: &str) -> Option<f64> {
        let v = Self::present(m, k)?;
        match v.as_f64() {
            Some(f) => Some(f),
            None => {
                self.wrong(child(path, k), v, "a number");
                None
            }
        }
    }

    fn int(&mut self, m: &Map<String, Value>, k: &str, path: &str) -> Option<i64> {
        let v = Self::present(m, k)?;
        match v.as_i64() {
            Some(i) => Some(i),
            None => {
                self.wrong(child(path, k), v, "an integer");
                None
            }
        }
    }

    fn array(&mut self, m: &Map<String, Value>, k: &str, path: &str) -> Option<Vec<Value>> {
        let v = Self::present(m, k)?;
        match v.as_array() {
            Some(a) => Some(a.clone()),
            None => {
                self.wrong(child(path, k), v, "an array");
                None
            }
        }
    }

    fn object<'v>(
        &mut self,
        m: &'v Map<String, Value>,
        k: &str,
        path: &str,
    ) -> Option<&'v Map<String, Value>> {
        let v = Self::present(m, k)?;
        match v.as_object() {
            Some(o) => Some(o),
            None => {
                self.wrong(child(path, k), v, "an object");
                None
            }
        }
    }

    fn strings(&mut self, m: &Map<String, Value>, k: &str, path: &str) -> Option<Vec<String>> {
        let list = self.array(m, k, path)?;
        let mut out = Vec::with_capacity(list.len());
        for (i, v) in list.iter().enumerate() {
            match v.as_str() {
                Some(s) => out.push(s.to_string()),
                None => self.wrong(format!("{}[{i}]", child(path, k)), v, "a string"),
            }
        }
        Some(out)
    }

    fn schemas(&mut self, m: &Map<String, Value>, k: &str, path: &str, d: usize) -> Vec<Props> {
        let Some(list) = self.array(m, k, path) else {
            return Vec::new();
        };
        let at = child(path, k);
        list.iter()
            .enumerate()
            .map(|(i, s)| self.props_at(s, &format!("{at}[{i}]"), d))
            .collect()
    }

    fn schema_map(
        &mut self,
        m: &Map<String, Value>,
        k: &str,
        path: &str,
        d: usize,
    ) -> Vec<(String, Props)> {
        let Some(map) = self.object(m, k, path) else {
            return Vec::new();
        };
        let at = child(path, k);
        map.iter()
            .map(|(name, s)| (name.clone(), self.props_at(s, &key(&at, name), d)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn decodes_the_fields_checks_need() {
        let p = Props::decode(
            &json!({
                "type": "object",
                "required": [],
                "default": null,
                "properties": {"b": {"type": "string"}, "a": {"items": [{}]}},
                "additionalProperties": false,
                "x-kubernetes-preserve-unknown-fields": false,
                "x-kubernetes-validations": [{"rule": "self.a"}],
                "unknownField": 1,
            }),
            "s",
        )
        .unwrap_or_default();
        assert_eq!(p.type_, "object");
        assert_eq!(p.required, Some(vec![]));
        assert!(p.default.is_none());
        let names: Vec<&str> = p.properties.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names, ["b", "a"], "document order is kept");
        assert!(matches!(
            p.property("a").and_then(|a| a.items.as_ref()),
            Some(Items::Many(m)) if m.len() == 1
        ));
        assert!(matches!(
            p.additional_properties,
            Some(Additional::Allows(false))
        ));
        assert_eq!(p.preserve_unknown_fields, Some(false));
        assert_eq!(p.validations, Some(1));
    }

    #[test]
    fn wrong_json_types_are_causes() {
        let errs = Props::decode(
            &json!({"type": 5, "properties": {"a": {"maxLength": 1.5}}}),
            "s",
        )
        .err()
        .unwrap_or_default();
        let got: Vec<String> = errs.iter().map(FieldError::error).collect();
        assert_eq!(
            got,
            [
                "s.type: Invalid value: 5: must be a string",
                "s.properties[a].maxLength: Invalid value: 1.5: must be an integer",
            ]
        );
    }
}
