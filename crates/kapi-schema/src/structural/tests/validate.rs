//! Validating custom resources: kube-openapi's rules, worded and placed as kube-apiserver's
//! 422 causes.

use serde_json::{json, Value};

use super::{compiled, errors};

fn field(prop: Value) -> Value {
    json!({"type": "object", "properties": {"field": prop}})
}

#[test]
fn the_crontab_example() {
    let schema = compiled(json!({"type": "object", "properties": {"spec": {
        "type": "object",
        "required": ["cronSpec"],
        "properties": {"cronSpec": {"type": "string"}, "replicas": {"type": "integer"}},
    }}}));
    let causes = schema.validate(&json!({
        "apiVersion": "stable.example.com/v1", "kind": "CronTab", "metadata": {"name": "a"},
        "spec": {"replicas": "x"},
    }));
    assert_eq!(causes.len(), 2);
    // kube-apiserver 1.34 reports type mismatches with the type-invalid reason, which prints
    // as "Invalid value" like FieldValueInvalid.
    assert_eq!(causes[0].reason, "FieldValueTypeInvalid");
    assert_eq!(causes[0].field, "spec.replicas");
    assert_eq!(
        causes[0].message,
        r#"Invalid value: "string": spec.replicas in body must be of type integer: "string""#
    );
    assert_eq!(causes[1].reason, "FieldValueRequired");
    assert_eq!(causes[1].field, "spec.cronSpec");
    assert_eq!(causes[1].message, "Required value");
}

#[test]
fn types_as_upstream_words_them() {
    let object = field(json!({"type": "object"}));
    for (value, kind) in [
        (json!("foo"), "string"),
        (json!(42), "integer"),
        (json!(true), "boolean"),
        (json!(1.2), "number"),
        (json!([]), "array"),
        (json!(null), "null"),
    ] {
        assert_eq!(
            errors(object.clone(), json!({"field": value})),
            [format!(
                r#"field: Invalid value: "{kind}": field in body must be of type object: "{kind}""#
            )]
        );
    }
    let int_or_string = field(json!({"x-kubernetes-int-or-string": true}));
    assert!(errors(int_or_string.clone(), json!({"field": 42})).is_empty());
    assert!(errors(int_or_string.clone(), json!({"field": "foo"})).is_empty());
    assert_eq!(
        errors(int_or_string, json!({"field": 1.2})),
        [
            r#"field: Invalid value: "number": field in body must be of type integer,string: "number""#
        ]
    );
    let nullable = field(json!({"type": "object", "nullable": true}));
    assert!(errors(nullable, json!({"field": null})).is_empty());
}

#[test]
fn int_or_string_with_any_of() {
    let schema = field(json!({
        "nullable": true,
        "x-kubernetes-int-or-string": true,
        "anyOf": [{"type": "integer"}, {"type": "string"}],
    }));
    for ok in [json!(null), json!(42), json!("foo")] {
        assert!(errors(schema.clone(), json!({"field": ok})).is_empty());
    }
    assert_eq!(
        errors(schema, json!({"field": true})),
        [
            r#"field: Invalid value: "boolean": field in body must be of type integer,string: "boolean""#,
            r#"<nil>: Invalid value: "": "field" must validate at least one schema (anyOf)"#,
            r#"field: Invalid value: "boolean": field in body must be of type integer: "boolean""#,
        ]
    );
}

#[test]
fn int_or_string_with_all_of() {
    let schema = field(json!({
        "nullable": true,
        "x-kubernetes-int-or-string": true,
        "allOf": [{"anyOf": [{"type": "integer"}, {"type": "string"}]}],
    }));
    let mut got = errors(schema, json!({"field": {}}));
    got.sort();
    assert_eq!(
        got,
        [
            r#"<nil>: Invalid value: "": "field" must validate all the schemas (allOf). None validated"#,
            r#"<nil>: Invalid value: "": "field" must validate at least one schema (anyOf)"#,
            r#"field: Invalid value: "object": field in body must be of type integer,string: "object""#,
            r#"field: Invalid value: "object": field in body must be of type integer: "object""#,
        ]
    );
}

#[test]
fn required_and_enum() {
    let required = json!({
        "type": "object",
        "required": ["field"],
        "properties": {"field": {"type": "object", "required": ["nested"], "properties": {"nested": {"type": "string"}}}},
    });
    assert_eq!(
        errors(required.clone(), json!({"test": "a"})),
        ["field: Required value"]
    );
    assert_eq!(
        errors(required, json!({"field": {}})),
        ["field.nested: Required value"]
    );

    let enums = field(json!({
        "type": "object",
        "required": ["nestedint", "nestedstring"],
        "properties": {
            "nestedint": {"type": "integer", "enum": [1, 2]},
            "nestedstring": {"type": "string", "enum": ["a", "b"]},
        },
    }));
    assert_eq!(
        errors(enums.clone(), json!({"field": {}})),
        [
            "field.nestedint: Required value",
            "field.nestedstring: Required value"
        ]
    );
    assert_eq!(
        errors(
            enums,
            json!({"field": {"nestedint": "x", "nestedstring": true}})
        ),
        [
            r#"field.nestedint: Invalid value: "string": field.nestedint in body must be of type integer: "string""#,
            r#"field.nestedint: Unsupported value: "x": supported values: "1", "2""#,
            r#"field.nestedstring: Invalid value: "boolean": field.nestedstring in body must be of type string: "boolean""#,
            r#"field.nestedstring: Unsupported value: true: supported values: "a", "b""#,
        ]
    );
}

#[test]
fn the_noxu_instance() {
    // Upstream's TestCustomResourceValidationErrors schema and messages.
    let schema = json!({
        "type": "object",
        "required": ["alpha", "beta"],
        "properties": {
            "alpha": {"type": "string", "pattern": "^[a-zA-Z0-9_]*$"},
            "beta": {"type": "number", "minimum": 10},
            "gamma": {"type": "string", "enum": ["foo", "bar", "baz"]},
        },
    });
    assert_eq!(
        errors(
            schema.clone(),
            json!({"alpha": "foo_123!", "beta": 5, "gamma": "qux"})
        ),
        [
            r#"alpha: Invalid value: "foo_123!": alpha in body should match '^[a-zA-Z0-9_]*$'"#,
            "beta: Invalid value: 5: beta in body should be greater than or equal to 10",
            r#"gamma: Unsupported value: "qux": supported values: "foo", "bar", "baz""#,
        ]
    );
    assert_eq!(
        errors(schema, json!({"gamma": "bar", "delta": "hello"})),
        ["alpha: Required value", "beta: Required value"]
    );
}

#[test]
fn bounds_lengths_and_counts() {
    let s = |p: Value, v: Value| errors(field(p), json!({"field": v}));
    assert_eq!(
        s(
            json!({"type": "integer", "maximum": 10, "exclusiveMaximum": true}),
            json!(10)
        ),
        ["field: Invalid value: 10: field in body should be less than 10"]
    );
    assert_eq!(
        s(
            json!({"type": "number", "minimum": 0.5, "exclusiveMinimum": true}),
            json!(0.25)
        ),
        ["field: Invalid value: 0.25: field in body should be greater than 0.5"]
    );
    assert_eq!(
        s(json!({"type": "number", "maximum": 1_000_000}), json!(1_500_000.5)),
        ["field: Invalid value: 1.5000005e+06: field in body should be less than or equal to 1e+06"]
    );
    // An integer value is compared with the bound truncated to an integer, as upstream does.
    assert!(s(json!({"type": "integer", "minimum": 0.5}), json!(0)).is_empty());
    assert_eq!(
        s(json!({"type": "integer", "multipleOf": 2}), json!(7)),
        ["field: Invalid value: 7: field in body should be a multiple of 2"]
    );
    assert_eq!(
        s(json!({"type": "number", "multipleOf": 0.2}), json!(0.3)),
        ["field: Invalid value: 0.3: field in body should be a multiple of 0.2"]
    );
    assert!(s(json!({"type": "number", "multipleOf": 0.2}), json!(0.4)).is_empty());
    assert_eq!(
        s(json!({"type": "string", "maxLength": 3}), json!("abcd")),
        ["field: Too long: may not be more than 3 bytes"]
    );
    assert_eq!(
        s(json!({"type": "string", "minLength": 3}), json!("ab")),
        [r#"field: Invalid value: "ab": field in body should be at least 3 chars long"#]
    );
    assert!(
        s(json!({"type": "string", "maxLength": 2}), json!("éé")).is_empty(),
        "lengths count characters"
    );
    assert_eq!(
        s(
            json!({"type": "array", "items": {"type": "string"}, "maxItems": 2}),
            json!(["a", "b", "c"])
        ),
        ["field: Too many: 3: must have at most 2 items"]
    );
    assert_eq!(
        s(
            json!({"type": "array", "items": {"type": "string"}, "minItems": 2}),
            json!(["a"])
        ),
        ["field: Invalid value: 1: field in body should have at least 2 items"]
    );
    assert_eq!(
        s(
            json!({"type": "object", "maxProperties": 1}),
            json!({"a": 1, "b": 2})
        ),
        ["field: Too many: 2: must have at most 1 item"]
    );
    assert_eq!(
        s(json!({"type": "object", "minProperties": 1}), json!({})),
        ["field: Invalid value: 0: field in body should have at least 1 properties"]
    );
}

#[test]
fn integers_and_numbers() {
    let s = |p: Value, v: Value| errors(field(p), json!({"field": v}));
    assert!(
        s(json!({"type": "integer"}), json!(1.0)).is_empty(),
        "an integral float is an integer"
    );
    assert_eq!(
        s(json!({"type": "integer"}), json!(1.5)),
        [r#"field: Invalid value: "number": field in body must be of type integer: "number""#]
    );
    assert!(s(json!({"type": "number"}), json!(3)).is_empty());
    // With a format, a value of another JSON type is reported against the format.
    assert_eq!(
        s(json!({"type": "integer", "format": "int32"}), json!(1.5)),
        [r#"field: Invalid value: "float64": field in body must be of type int32: "float64""#]
    );
    assert_eq!(
        s(json!({"type": "integer", "format": "int32"}), json!(true)),
        [r#"field: Invalid value: "": field in body must be of type int32: """#]
    );
    // kube-apiserver 1.34 does not range-check int32.
    assert!(s(
        json!({"type": "integer", "format": "int32"}),
        json!(1_i64 << 40)
    )
    .is_empty());
}

#[test]
fn string_formats() {
    let s = |format: &str, v: Value| {
        errors(
            field(json!({"type": "string", "format": format})),
            json!({"field": v}),
        )
    };
    assert_eq!(
        s("date", json!("2020-13-01")),
        [r#"field: Invalid value: "2020-13-01": field in body must be of type date: "2020-13-01""#]
    );
    assert_eq!(
        s("date-time", json!("yesterday")),
        [
            r#"field: Invalid value: "yesterday": field in body must be of type date-time: "yesterday""#
        ]
    );
    assert!(s("date-time", json!("2024-01-02T03:04:05Z")).is_empty());
    assert!(s("ipv4", json!("10.0.0.1")).is_empty());
    assert!(
        s("k8s-short-name", json!("NOT a name")).is_empty(),
        "not enforced by 1.34"
    );
    assert!(
        s("whatever", json!("x")).is_empty(),
        "unknown formats are ignored"
    );
    assert_eq!(
        s("date", json!(5)),
        [r#"field: Invalid value: "int64": field in body must be of type date: "int64""#]
    );
    assert!(
        s("date", json!(["x"])).is_empty(),
        "upstream lets arrays through a string format"
    );
    let cause = &super::compiled(field(json!({"type": "string", "format": "uuid"})))
        .validate(&json!({"field": "x"}))[0];
    assert_eq!(cause.reason, "FieldValueTypeInvalid");
}

#[test]
fn junctors() {
    let one_of = field(json!({"type": "integer", "oneOf": [{"minimum": 0}, {"maximum": 10}]}));
    assert_eq!(
        errors(one_of.clone(), json!({"field": 5})),
        [
            r#"<nil>: Invalid value: "": "field" must validate one and only one schema (oneOf). Found 2 valid alternatives"#
        ]
    );
    assert!(errors(one_of, json!({"field": 20})).is_empty());
    let not = field(json!({"type": "string", "not": {"enum": ["x"]}}));
    assert_eq!(
        errors(not, json!({"field": "x"})),
        [r#"<nil>: Invalid value: "": "field" must not validate the schema (not)"#]
    );
    let all_of = field(json!({"type": "integer", "allOf": [{"minimum": 0}, {"maximum": 10}]}));
    assert_eq!(
        errors(all_of, json!({"field": 11})),
        [
            "field: Invalid value: 11: field in body should be less than or equal to 10",
            r#"<nil>: Invalid value: "": "field" must validate all the schemas (allOf)"#,
        ]
    );
}

#[test]
fn nested_paths() {
    let schema = json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {
        "containers": {"type": "array", "items": {"type": "object", "properties": {"name": {"type": "string"}}}},
        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
    }}}});
    assert_eq!(
        errors(
            schema,
            json!({"spec": {"containers": [{"name": "a"}, {"name": 1}], "labels": {"a.b/c": 2}}})
        ),
        [
            r#"spec.containers[1].name: Invalid value: "integer": spec.containers[1].name in body must be of type string: "integer""#,
            r#"spec.labels.a.b/c: Invalid value: "integer": spec.labels.a.b/c in body must be of type string: "integer""#,
        ]
    );
}

#[test]
fn repeated_errors_are_reported_once() {
    let schema = field(json!({"type": "integer", "allOf": [{"minimum": 5}, {"minimum": 5}]}));
    assert_eq!(
        errors(schema, json!({"field": 1})),
        [
            "field: Invalid value: 1: field in body should be greater than or equal to 5",
            r#"<nil>: Invalid value: "": "field" must validate all the schemas (allOf). None validated"#,
        ]
    );
}

#[test]
fn status_is_validated_by_its_own_schema() {
    let schema = compiled(json!({"type": "object", "properties": {"status": {
        "type": "object",
        "properties": {"replicas": {"type": "integer"}},
    }}}));
    let causes = schema.validate_status(&json!({"replicas": "x"}));
    assert_eq!(
        super::lines(&causes),
        [
            r#"status.replicas: Invalid value: "string": replicas in body must be of type integer: "string""#
        ]
    );
}

#[test]
fn odd_input_never_panics() {
    let schema = compiled(json!({"type": "object", "properties": {"spec": {
        "type": "object",
        "properties": {"a": {"type": "array", "items": {"type": "object", "properties": {"b": {"type": "integer"}}}}},
    }}}));
    // Deeper than any request body kube-apiserver (or serde_json) would parse.
    let mut deep = json!(1);
    for _ in 0..300 {
        deep = json!({"a": [deep]});
    }
    for v in [
        json!(null),
        json!([]),
        json!("x"),
        json!({"spec": deep}),
        json!({"spec": {"a": [1e308, -1, "x", null]}}),
    ] {
        let _ = schema.validate(&v);
        let mut copy = v.clone();
        schema.prune(&mut copy);
        schema.apply_defaults(&mut copy);
    }
}
