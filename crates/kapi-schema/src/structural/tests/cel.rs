//! `x-kubernetes-validations`: rules checked with the CRD, evaluated on writes, worded as
//! upstream's field errors.

use serde_json::{json, Value};

use super::{compile_errors, compiled, lines, P};

fn scaled(rules: Value) -> Value {
    json!({"type": "object", "properties": {"spec": {
        "type": "object",
        "x-kubernetes-validations": rules,
        "properties": {
            "replicas": {"type": "integer"},
            "maxReplicas": {"type": "integer"},
            "mode": {"type": "string", "x-kubernetes-validations": [
                {"rule": "self == oldSelf", "message": "mode is immutable"},
            ]},
            "tags": {"type": "array", "items": {"type": "string"}},
        },
    }}})
}

fn obj(spec: Value) -> Value {
    json!({"apiVersion": "stable.example.com/v1", "kind": "CronTab",
        "metadata": {"name": "a", "namespace": "default", "uid": "u"}, "spec": spec})
}

#[test]
fn a_rule_that_holds_passes_and_one_that_fails_names_its_node() {
    let schema = compiled(scaled(json!([
        {"rule": "self.replicas <= self.maxReplicas", "message": "replicas must not exceed maxReplicas"},
        {"rule": "size(self.tags) < 3"},
    ])));
    let ok = obj(json!({"replicas": 1, "maxReplicas": 2, "tags": []}));
    assert_eq!(lines(&schema.validate(&ok)), Vec::<String>::new());
    let bad = obj(json!({"replicas": 3, "maxReplicas": 2, "tags": ["a", "b", "c"]}));
    assert_eq!(
        lines(&schema.validate(&bad)),
        [
            "spec: Invalid value: replicas must not exceed maxReplicas",
            "spec: Invalid value: failed rule: size(self.tags) < 3",
        ]
    );
}

#[test]
fn reason_field_path_and_message_expression_shape_the_error() {
    let schema = compiled(scaled(json!([
        {"rule": "self.replicas <= self.maxReplicas",
         "messageExpression": "'replicas ' + string(self.replicas) + ' above ' + string(self.maxReplicas)",
         "fieldPath": ".replicas", "reason": "FieldValueForbidden"},
    ])));
    let bad = obj(json!({"replicas": 3, "maxReplicas": 2}));
    assert_eq!(
        lines(&schema.validate(&bad)),
        ["spec.replicas: Forbidden: replicas 3 above 2"]
    );
}

#[test]
fn scalar_values_are_printed_and_transition_rules_need_an_old_value() {
    let schema = compiled(scaled(json!([])));
    let old = obj(json!({"mode": "Fast"}));
    let new = obj(json!({"mode": "Slow"}));
    assert_eq!(
        lines(&schema.validate(&new)),
        Vec::<String>::new(),
        "a create has no oldSelf"
    );
    assert_eq!(
        lines(&schema.validate_update(&new, Some(&old))),
        [r#"spec.mode: Invalid value: "Slow": mode is immutable"#]
    );
    assert_eq!(
        lines(&schema.validate_update(&old, Some(&old))),
        Vec::<String>::new()
    );
}

#[test]
fn a_missing_field_is_an_evaluation_error_not_a_panic() {
    let schema = compiled(scaled(json!([{"rule": "self.replicas > 0"}])));
    let got = lines(&schema.validate(&obj(json!({}))));
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(
        got[0].starts_with(r#"spec: Invalid value: "object": "#)
            && got[0].ends_with("evaluating rule: self.replicas > 0"),
        "{got:?}"
    );
}

#[test]
fn root_rules_see_the_name_but_not_the_rest_of_metadata() {
    let schema = compiled(json!({"type": "object", "x-kubernetes-validations": [
        {"rule": "self.metadata.name.startsWith('a')", "message": "names start with a"},
        {"rule": "!has(self.metadata.uid)", "message": "uid is hidden"},
    ]}));
    assert_eq!(
        lines(&schema.validate(&obj(json!({})))),
        Vec::<String>::new()
    );
    let mut other = obj(json!({}));
    other["metadata"]["name"] = json!("b");
    assert_eq!(
        lines(&schema.validate(&other)),
        [": Invalid value: names start with a"]
    );
}

#[test]
fn bad_rules_refuse_the_definition() {
    let errors = compile_errors(scaled(json!([
        {"rule": "self.replicas <"},
        {"rule": ""},
        {"rule": "true", "reason": "Nope"},
        {"rule": "true", "message": "two\nlines"},
    ])));
    let at = format!("{P}.properties[spec].x-kubernetes-validations");
    assert_eq!(errors.len(), 4, "{errors:?}");
    assert!(
        errors[0].starts_with(&format!(
            r#"{at}[0].rule: Invalid value: apiextensions.ValidationRule{{Rule:"self.replicas <", Message:"""#
        )) && errors[0].contains("compilation failed: "),
        "{errors:?}"
    );
    assert_eq!(errors[1], format!("{at}[1].rule: Required value"));
    assert_eq!(
        errors[2],
        format!(
            r#"{at}[2].reason: Unsupported value: "Nope": supported values: "FieldValueDuplicate", "FieldValueForbidden", "FieldValueInvalid", "FieldValueRequired""#
        )
    );
    assert_eq!(
        errors[3],
        format!(
            r#"{at}[3].message: Invalid value: "two\nlines": message must not contain line breaks"#
        )
    );
}

#[test]
fn optional_old_self_runs_on_create_too() {
    let schema = compiled(json!({"type": "object", "properties": {"spec": {
        "type": "object",
        "properties": {"size": {"type": "integer"}},
        "x-kubernetes-validations": [{
            "rule": "!oldSelf.hasValue() || self.size >= oldSelf.value().size",
            "optionalOldSelf": true, "message": "size may only grow",
        }],
    }}}));
    let small = obj(json!({"size": 1}));
    let big = obj(json!({"size": 2}));
    assert_eq!(lines(&schema.validate(&small)), Vec::<String>::new());
    assert_eq!(
        lines(&schema.validate_update(&big, Some(&small))),
        Vec::<String>::new()
    );
    assert_eq!(
        lines(&schema.validate_update(&small, Some(&big))),
        ["spec: Invalid value: size may only grow"]
    );
}
