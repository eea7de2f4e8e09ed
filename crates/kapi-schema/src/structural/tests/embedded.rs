//! Embedded resources (`x-kubernetes-embedded-resource`): their type and object metadata are
//! validated as a resource's own.

use serde_json::{json, Value};

use super::errors;

fn schema() -> Value {
    json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {
        "template": {"type": "object", "x-kubernetes-embedded-resource": true, "x-kubernetes-preserve-unknown-fields": true},
        "many": {"type": "array", "items": {"type": "object", "x-kubernetes-embedded-resource": true, "x-kubernetes-preserve-unknown-fields": true}},
    }}}})
}

#[test]
fn api_version_and_kind_are_required() {
    assert_eq!(
        errors(
            schema(),
            json!({"spec": {"template": {"metadata": {"name": "a"}}}})
        ),
        [
            "spec.template.apiVersion: Required value",
            "spec.template.kind: Required value"
        ]
    );
    assert!(errors(
        schema(),
        json!({"spec": {"template": {"apiVersion": "apps/v1", "kind": "Deployment"}}})
    )
    .is_empty());
}

#[test]
fn api_version_and_kind_have_a_shape() {
    assert_eq!(
        errors(
            schema(),
            json!({"spec": {"many": [
                {"apiVersion": "a/b/c", "kind": "my_kind"},
                {"apiVersion": 1, "kind": ""},
            ]}})
        ),
        [
            r#"spec.many[0].apiVersion: Invalid value: "a/b/c": unexpected GroupVersion string: a/b/c"#,
            r#"spec.many[0].kind: Invalid value: "my_kind": may have mixed case, but should otherwise match: a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"#,
            "spec.many[1].apiVersion: Invalid value: 1: must be a string",
            r#"spec.many[1].kind: Invalid value: "": must not be empty"#,
        ]
    );
}

#[test]
fn metadata_is_validated_as_object_meta() {
    let obj = json!({"spec": {"template": {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "a/b", "namespace": "Bad_NS", "generation": -1, "labels": {"a": "-x"}},
    }}});
    assert_eq!(
        errors(schema(), obj),
        [
            r#"spec.template.metadata.name: Invalid value: "a/b": may not contain '/'"#,
            r#"spec.template.metadata.namespace: Invalid value: "Bad_NS": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"#,
            "spec.template.metadata.generation: Invalid value: -1: must be greater than or equal to 0",
            r#"spec.template.metadata.labels: Invalid value: "-x": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"#,
        ]
    );
    assert_eq!(
        errors(
            schema(),
            json!({"spec": {"template": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": 5}}}})
        ),
        [
            r#"spec.template.metadata: Invalid value: {"name":5}: json: cannot unmarshal number into Go struct field ObjectMeta.name of type string"#
        ]
    );
}

#[test]
fn the_root_is_left_to_the_api_server() {
    assert!(errors(schema(), json!({"metadata": {"name": "a/b"}, "spec": {}})).is_empty());
}
