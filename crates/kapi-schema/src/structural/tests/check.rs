//! Compiling a CRD schema: the structural rules and the CRD API's rules, with the messages
//! kube-apiserver gives (most copied from its integration tests).

use serde_json::json;

use super::{compile_errors, expanded, sorted, P};
use crate::structural::check_status_subresource_root;

#[test]
fn a_structural_schema_compiles() {
    assert!(compile_errors(json!({
        "type": "object",
        "x-kubernetes-validations": [{"rule": "self.spec.a > 0"}],
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object", "properties": {"name": {"type": "string", "maxLength": 10}}},
            "spec": {
                "type": "object",
                "x-kubernetes-preserve-unknown-fields": true,
                "properties": {
                    "a": {"type": "integer", "format": "int32", "minimum": 1, "default": 1},
                    "port": {"x-kubernetes-int-or-string": true, "anyOf": [{"type": "integer"}, {"type": "string"}]},
                    "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                    "ports": {
                        "type": "array",
                        "x-kubernetes-list-type": "map",
                        "x-kubernetes-list-map-keys": ["name"],
                        "items": {"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}}},
                    },
                    "tags": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}},
                    "template": {"type": "object", "x-kubernetes-embedded-resource": true, "x-kubernetes-preserve-unknown-fields": true},
                },
                "anyOf": [{"required": ["a"]}, {"required": ["port"]}],
            },
        },
    }))
    .is_empty());
}

#[test]
fn type_is_required_at_the_root_and_must_be_object() {
    assert_eq!(
        compile_errors(json!({"type": ""})),
        expanded(&["P.type: Required value: must not be empty at the root"])
    );
    assert_eq!(
        compile_errors(json!({"type": "integer"})),
        expanded(&[r#"P.type: Invalid value: "integer": must be object at the root"#])
    );
}

#[test]
fn missing_types_without_extensions() {
    let schema = json!({"properties": {
        "foo": {"properties": {"a": {}}},
        "bar": {"items": {"additionalProperties": {"properties": {"a": {}}, "items": {}}}},
        "abc": {"additionalProperties": {"properties": {"a": {"items": {"additionalProperties": {"items": null}}}}}},
    }});
    assert_eq!(
        compile_errors(schema),
        sorted(&[
            "P.properties[foo].properties[a].type: Required value: must not be empty for specified object fields",
            "P.properties[foo].type: Required value: must not be empty for specified object fields",
            "P.properties[abc].additionalProperties.properties[a].items.additionalProperties.type: Required value: must not be empty for specified object fields",
            "P.properties[abc].additionalProperties.properties[a].items.type: Required value: must not be empty for specified array items",
            "P.properties[abc].additionalProperties.properties[a].type: Required value: must not be empty for specified object fields",
            "P.properties[abc].additionalProperties.type: Required value: must not be empty for specified object fields",
            "P.properties[abc].type: Required value: must not be empty for specified object fields",
            "P.properties[bar].items.additionalProperties.items.type: Required value: must not be empty for specified array items",
            "P.properties[bar].items.additionalProperties.properties[a].type: Required value: must not be empty for specified object fields",
            "P.properties[bar].items.additionalProperties.type: Required value: must not be empty for specified object fields",
            "P.properties[bar].items.type: Required value: must not be empty for specified array items",
            "P.properties[bar].type: Required value: must not be empty for specified object fields",
            "P.type: Required value: must not be empty at the root",
        ])
    );
}

#[test]
fn forbidden_in_nested_value_validation() {
    let bad = json!({"type": "string", "additionalProperties": true, "title": "hello", "description": "world", "nullable": true});
    let schema = json!({
        "type": "object",
        "properties": {"foo": {"type": "string"}},
        "not": bad,
        "allOf": [{"properties": {"foo": bad}}],
        "anyOf": [{"items": bad}],
        "oneOf": [{"properties": {"foo": bad}}],
    });
    let mut expected = Vec::new();
    for at in [
        "anyOf[0].items",
        "allOf[0].properties[foo]",
        "oneOf[0].properties[foo]",
        "not",
    ] {
        expected.extend([
            format!("P.{at}.type: Forbidden: must be empty to be structural"),
            format!("P.{at}.additionalProperties: Forbidden: must be undefined to be structural"),
            format!("P.{at}.title: Forbidden: must be empty to be structural"),
            format!("P.{at}.description: Forbidden: must be empty to be structural"),
            format!("P.{at}.nullable: Forbidden: must be false to be structural"),
        ]);
    }
    expected.push("P.items: Required value: because it is defined in P.anyOf[0].items".into());
    let expected: Vec<&str> = expected.iter().map(String::as_str).collect();
    assert_eq!(compile_errors(schema), sorted(&expected));
}

#[test]
fn nested_extensions_and_defaults_are_not_structural() {
    let schema = json!({
        "type": "object",
        "properties": {"a": {
            "type": "object",
            "properties": {"b": {"type": "string"}},
            "allOf": [{
                "default": 1,
                "x-kubernetes-validations": [{"rule": "true"}],
                "x-kubernetes-list-type": "set",
                "x-kubernetes-preserve-unknown-fields": true,
                "properties": {"b": {"x-kubernetes-int-or-string": true}},
            }],
        }},
    });
    let mut expected = sorted(&[
        "P.properties[a].allOf[0].default: Forbidden: must be undefined to be structural",
        "P.properties[a].allOf[0].properties[b].x-kubernetes-int-or-string: Forbidden: must be false to be structural",
        "P.properties[a].allOf[0].x-kubernetes-list-type: Forbidden: must be undefined to be structural",
        "P.properties[a].allOf[0].x-kubernetes-preserve-unknown-fields: Forbidden: must be false to be structural",
        "P.properties[a].allOf[0].x-kubernetes-validations: Forbidden: must be empty to be structural",
    ]);
    // The API's own rules run on nested schemas too, after the structural ones.
    expected.extend(expanded(&[
        "P.properties[a].allOf[0].type: Required value: must be array if x-kubernetes-list-type is specified",
    ]));
    assert_eq!(compile_errors(schema), expected);
}

#[test]
fn incomplete_value_validations() {
    let schema = json!({
        "type": "object",
        "properties": {
            "b": {"type": "object", "properties": {"b": {"type": "array"}}},
            "c": {"type": "array", "items": {"type": "object"}},
            "d": {"type": "array"},
        },
        "not": {"properties": {
            "a": {},
            "b": {"not": {"properties": {"a": {}, "b": {"items": {}}}}},
            "c": {"items": {"not": {"items": {"properties": {"a": {}}}}}},
            "d": {"items": {}},
        }},
        "allOf": [{"properties": {"e": {}}}],
        "anyOf": [{"properties": {"f": {}}}],
        "oneOf": [{"properties": {"g": {}}}],
    });
    assert_eq!(
        compile_errors(schema),
        sorted(&[
            "P.properties[d].items: Required value: because it is defined in P.not.properties[d].items",
            "P.properties[a]: Required value: because it is defined in P.not.properties[a]",
            "P.properties[b].properties[a]: Required value: because it is defined in P.not.properties[b].not.properties[a]",
            "P.properties[b].properties[b].items: Required value: because it is defined in P.not.properties[b].not.properties[b].items",
            "P.properties[c].items.items: Required value: because it is defined in P.not.properties[c].items.not.items",
            "P.properties[e]: Required value: because it is defined in P.allOf[0].properties[e]",
            "P.properties[f]: Required value: because it is defined in P.anyOf[0].properties[f]",
            "P.properties[g]: Required value: because it is defined in P.oneOf[0].properties[g]",
            // Arrays without items, which upstream's test does not list but reports too.
            "P.properties[b].properties[b].items: Required value: must be specified",
            "P.properties[d].items: Required value: must be specified",
        ])
    );
}

#[test]
fn metadata_at_the_root_may_only_restrict_names() {
    assert_eq!(
        compile_errors(json!({"type": "object", "properties": {"metadata": {"minimum": 42.0}}})),
        sorted(&[
            "P.properties[metadata]: Forbidden: must not specify anything other than name and generateName, but metadata is implicitly specified",
            "P.properties[metadata].type: Required value: must not be empty for specified object fields",
            r#"P.properties[metadata].type: Invalid value: "": must be object"#,
        ])
    );
    let names = json!({"type": "object", "properties": {"metadata": {"type": "object", "properties": {
        "name": {"type": "string", "pattern": "^[a-z]+$"},
        "generateName": {"type": "string", "pattern": "^[a-z]+$"},
    }}}});
    assert!(compile_errors(names).is_empty());
    let junctors = json!({
        "type": "object",
        "properties": {"metadata": {"type": "object", "properties": {"name": {"type": "string"}}}},
        "allOf": [{"properties": {"metadata": {}}}],
        "anyOf": [{"properties": {"metadata": {}}}],
        "oneOf": [{"properties": {"metadata": {}}}],
        "not": {"properties": {"metadata": {}}},
    });
    assert_eq!(
        compile_errors(junctors),
        sorted(&[
            "P.anyOf[0].properties[metadata]: Forbidden: must not be specified in a nested context",
            "P.allOf[0].properties[metadata]: Forbidden: must not be specified in a nested context",
            "P.oneOf[0].properties[metadata]: Forbidden: must not be specified in a nested context",
            "P.not.properties[metadata]: Forbidden: must not be specified in a nested context",
        ])
    );
}

#[test]
fn arrays_need_items_and_additional_properties_are_not_for_the_root() {
    assert_eq!(
        compile_errors(json!({"type": "object", "properties": {"slice": {"type": "array"}}})),
        expanded(&["P.properties[slice].items: Required value: must be specified"])
    );
    assert_eq!(
        compile_errors(json!({"type": "object", "additionalProperties": false})),
        expanded(&["P.additionalProperties: Forbidden: must not be used at the root"])
    );
}

#[test]
fn invalid_patterns_carry_gos_parser_error() {
    assert_eq!(
        compile_errors(json!({"type": "object", "properties": {"foo": {"type": "string", "pattern": "+"}}})),
        expanded(&["P.properties[foo].pattern: Invalid value: \"+\": must be a valid regular expression, but isn't: error parsing regexp: missing argument to repetition operator: `+`"])
    );
}

#[test]
fn forbidden_fields() {
    let one = |prop: serde_json::Value| {
        compile_errors(json!({"type": "object", "properties": {"a": prop}}))
    };
    assert_eq!(
        one(json!({"type": "array", "items": {"type": "string"}, "uniqueItems": true})),
        expanded(&["P.properties[a].uniqueItems: Forbidden: uniqueItems cannot be set to true since the runtime complexity becomes quadratic"])
    );
    assert_eq!(
        one(json!({"type": "object", "properties": {"b": {"type": "string"}}, "additionalProperties": {"type": "string"}})),
        expanded(&["P.properties[a].additionalProperties: Forbidden: additionalProperties and properties are mutual exclusive"])
    );
    assert_eq!(
        one(json!({"type": "null"})),
        expanded(&[
            r#"P.properties[a].type: Unsupported value: "null": supported values: "array", "boolean", "integer", "number", "object", "string""#,
            "P.properties[a].type: Forbidden: type cannot be set to null, use nullable as an alternative",
        ])
    );
    assert_eq!(
        one(json!({"type": "array", "items": [{"type": "string"}]})),
        expanded(&[
            "P.properties[a].items: Forbidden: items must be a schema object and not an array"
        ])
    );
    assert_eq!(
        compile_errors(json!({"type": "object", "$ref": "#/definitions/x"})),
        expanded(&["P.$ref: Forbidden: $ref is not supported"])
    );
    assert_eq!(
        compile_errors(
            json!({"type": "object", "id": "x", "patternProperties": {"^a": {"type": "string"}}, "dependencies": {}, "additionalItems": false, "definitions": {"x": {"type": "string"}}})
        ),
        expanded(&[
            "P.id: Forbidden: id is not supported",
            "P.additionalItems: Forbidden: additionalItems is not supported",
            "P.patternProperties: Forbidden: patternProperties is not supported",
            "P.definitions: Forbidden: definitions is not supported",
            "P.dependencies: Forbidden: dependencies is not supported",
        ])
    );
}

#[test]
fn schema_url_is_only_refused_when_nothing_else_is_wrong() {
    assert_eq!(
        compile_errors(
            json!({"type": "object", "$schema": "http://json-schema.org/draft-04/schema#"})
        ),
        [format!(
            r#"{P}: Invalid value: "": OpenAPIV3Schema 'schema' is not supported"#
        )]
    );
}

#[test]
fn root_and_meta_rules() {
    assert_eq!(
        compile_errors(json!({"type": "object", "nullable": true})),
        expanded(&["P.nullable: Forbidden: nullable cannot be true at the root"])
    );
    assert_eq!(
        compile_errors(
            json!({"type": "object", "properties": {"metadata": {"type": "object", "default": {}}}})
        ),
        expanded(&[
            "P.properties[metadata].default: Forbidden: must not be set in top-level metadata"
        ])
    );
    assert_eq!(
        compile_errors(json!({"type": "object", "properties": {"kind": {"type": "integer"}}})),
        expanded(&[r#"P.properties[kind].type: Invalid value: "integer": must be string"#])
    );
    assert_eq!(
        compile_errors(json!({"type": "object", "properties": {"metadata": {"type": "object", "x-kubernetes-embedded-resource": true, "properties": {"name": {"type": "string"}}}}})),
        // The structural error, then the API's.
        expanded(&[
            "P.properties[metadata]: Forbidden: must not specify anything other than name and generateName, but metadata is implicitly specified",
            "P.properties[metadata].x-kubernetes-embedded-resource: Forbidden: must not be used inside of resource meta",
        ])
    );
}

#[test]
fn preserve_unknown_fields_must_be_true() {
    assert_eq!(
        compile_errors(json!({"type": "object", "x-kubernetes-preserve-unknown-fields": false})),
        expanded(&["P.x-kubernetes-preserve-unknown-fields: Invalid value: false: must be true or undefined"])
    );
}

#[test]
fn embedded_resources_need_object_and_properties() {
    let prop =
        |p: serde_json::Value| compile_errors(json!({"type": "object", "properties": {"t": p}}));
    assert_eq!(
        prop(json!({"type": "object", "x-kubernetes-embedded-resource": true})),
        expanded(&["P.properties[t].properties: Required value: must not be empty if x-kubernetes-embedded-resource is true without x-kubernetes-preserve-unknown-fields"])
    );
    assert_eq!(
        prop(json!({"x-kubernetes-embedded-resource": true, "x-kubernetes-int-or-string": true})),
        sorted(&[
            "P.properties[t].x-kubernetes-embedded-resource: Invalid value: true: must be false if x-kubernetes-int-or-string is true",
            "P.properties[t].type: Required value: must be object if x-kubernetes-embedded-resource is true",
            "P.properties[t].properties: Required value: must not be empty if x-kubernetes-embedded-resource is true without x-kubernetes-preserve-unknown-fields",
        ])
    );
    assert_eq!(
        prop(
            json!({"type": "object", "x-kubernetes-embedded-resource": true, "x-kubernetes-preserve-unknown-fields": true, "properties": {"kind": {"type": "integer"}, "metadata": {"type": "string"}}})
        ),
        sorted(&[
            r#"P.properties[t].properties[kind].type: Invalid value: "integer": must be string"#,
            r#"P.properties[t].properties[metadata].type: Invalid value: "string": must be object"#,
        ])
    );
}

#[test]
fn list_and_map_types() {
    let prop =
        |p: serde_json::Value| compile_errors(json!({"type": "object", "properties": {"l": p}}));
    assert_eq!(
        prop(json!({"type": "string", "x-kubernetes-list-type": "set"})),
        expanded(&[
            r#"P.properties[l].type: Invalid value: "string": must be array if x-kubernetes-list-type is specified"#
        ])
    );
    assert_eq!(
        prop(
            json!({"type": "array", "items": {"type": "string"}, "x-kubernetes-list-type": "bogus"})
        ),
        expanded(&[
            r#"P.properties[l].x-kubernetes-list-type: Unsupported value: "bogus": supported values: "atomic", "set", "map""#
        ])
    );
    assert_eq!(
        prop(json!({"type": "string", "x-kubernetes-map-type": "atomic"})),
        expanded(&[
            r#"P.properties[l].type: Invalid value: "string": must be object if x-kubernetes-map-type is specified"#
        ])
    );
    assert_eq!(
        prop(json!({"type": "object", "x-kubernetes-map-type": "x"})),
        expanded(&[
            r#"P.properties[l].x-kubernetes-map-type: Unsupported value: "x": supported values: "atomic", "granular""#
        ])
    );
    assert_eq!(
        prop(json!({"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "object", "properties": {"a": {"type": "string"}}}})),
        expanded(&["P.properties[l].items.x-kubernetes-map-type: Invalid value: null: must be atomic as item of a list with x-kubernetes-list-type=set"])
    );
    let items = json!({"type": "object", "properties": {"name": {"type": "string"}, "sub": {"type": "object"}}});
    assert_eq!(
        prop(json!({"type": "array", "x-kubernetes-list-type": "map", "items": items})),
        expanded(&["P.properties[l].x-kubernetes-list-map-keys: Required value: must not be empty if x-kubernetes-list-type is map"])
    );
    assert_eq!(
        prop(json!({"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["id", "sub", "sub"], "items": items})),
        expanded(&[
            r#"P.properties[l].x-kubernetes-list-map-keys: Invalid value: ["id","sub","sub"]: entries must all be names of item properties"#,
            r#"P.properties[l].items.properties[sub].type: Invalid value: "object": must be a scalar type if parent array's x-kubernetes-list-type is map"#,
            r#"P.properties[l].items.properties[sub].type: Invalid value: "object": must be a scalar type if parent array's x-kubernetes-list-type is map"#,
            r#"P.properties[l].x-kubernetes-list-map-keys: Invalid value: ["id","sub","sub"]: must not contain duplicate entries"#,
            "P.properties[l].items.properties[sub].default: Required value: this property is in x-kubernetes-list-map-keys, so it must have a default or be a required property",
            "P.properties[l].items.properties[sub].default: Required value: this property is in x-kubernetes-list-map-keys, so it must have a default or be a required property",
        ])
    );
    assert_eq!(
        prop(json!({"type": "array", "x-kubernetes-list-map-keys": ["name"], "items": items})),
        expanded(&["P.properties[l].x-kubernetes-list-type: Required value: must be map if x-kubernetes-list-map-keys is non-empty"])
    );
    assert_eq!(
        prop(json!({"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"], "items": {"type": "object", "nullable": true, "properties": {"name": {"type": "string", "nullable": true}}}})),
        expanded(&[
            "P.properties[l].items.nullable: Forbidden: cannot be nullable when x-kubernetes-list-type is map",
            "P.properties[l].items.properties[name].default: Required value: this property is in x-kubernetes-list-map-keys, so it must have a default or be a required property",
            "P.properties[l].items.properties[name].nullable: Forbidden: this property is in x-kubernetes-list-map-keys, so it cannot be nullable",
        ])
    );
}

#[test]
fn defaults_must_validate_and_be_pruned() {
    let spec = |props: serde_json::Value, default: serde_json::Value| {
        compile_errors(
            json!({"type": "object", "properties": {"spec": {"type": "object", "properties": props, "default": default}}}),
        )
    };
    assert_eq!(
        spec(json!({"a": {"type": "string"}}), json!({"a": "x", "b": 1})),
        expanded(&[
            r#"P.properties[spec].default: Invalid value: {"a":"x","b":1}: must not have unknown fields"#
        ])
    );
    // kube-openapi names the default's root "" (hence "Invalid value: ...:  in body").
    assert_eq!(
        compile_errors(
            json!({"type": "object", "properties": {"replicas": {"type": "integer", "minimum": 1, "default": "x"}}})
        ),
        expanded(&[
            r#"P.properties[replicas].default: Invalid value: "string":  in body must be of type integer: "string""#
        ])
    );
    assert_eq!(
        spec(json!({"a": {"type": "string"}}), json!({"a": 1})),
        expanded(&[
            r#"P.properties[spec].default.a: Invalid value: "integer": a in body must be of type string: "integer""#
        ])
    );
    assert_eq!(
        spec(
            json!({"t": {"type": "object", "x-kubernetes-embedded-resource": true, "x-kubernetes-preserve-unknown-fields": true}}),
            json!({"t": {"kind": "Pod"}})
        ),
        expanded(&["P.properties[spec].default.t.apiVersion: Required value"])
    );
}

#[test]
fn wrong_json_types_in_the_schema() {
    assert_eq!(
        compile_errors(
            json!({"type": "object", "properties": {"a": {"type": ["string", "null"]}}})
        ),
        expanded(&[r#"P.properties[a].type: Invalid value: ["string","null"]: must be a string"#])
    );
}

#[test]
fn status_subresource_root() {
    let check = |s: serde_json::Value| -> Vec<String> {
        check_status_subresource_root(&s, P)
            .iter()
            .map(super::line)
            .collect()
    };
    assert!(check(json!({"type": "object", "description": "x", "required": ["spec"], "properties": {}, "x-kubernetes-preserve-unknown-fields": true})).is_empty());
    assert_eq!(
        check(json!({"type": "array"})),
        expanded(&[
            r#"P.type: Invalid value: "array": only "object" is allowed as the type at the root of the schema if the status subresource is enabled"#
        ])
    );
    let found = check(json!({"type": "object", "anyOf": [{"required": ["a"]}]}));
    assert_eq!(found.len(), 1);
    assert!(found[0].ends_with("only [Description Type Format Title Maximum ExclusiveMaximum Minimum ExclusiveMinimum MaxLength MinLength Pattern MaxItems MinItems UniqueItems MultipleOf Required Items Properties ExternalDocs Example XPreserveUnknownFields XValidations] fields are allowed at the root of the schema if the status subresource is enabled"));
}
