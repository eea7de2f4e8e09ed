//! Pruning as kube-apiserver's decoder prunes custom resources.

use serde_json::json;

use super::compiled;

#[test]
fn unknown_fields_go_and_their_paths_are_reported_sorted() {
    let schema = compiled(
        json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {
            "a": {"type": "string"},
            "list": {"type": "array", "items": {"type": "object", "properties": {"name": {"type": "string"}}}},
        }}}}),
    );
    let mut obj = json!({
        "apiVersion": "example.com/v1", "kind": "Foo",
        "metadata": {"name": "a", "labels": {"x": "y"}, "whatever": 1},
        "spec": {"a": "x", "z": 1, "b": {"c": 1}, "list": [{"name": "n", "extra": true}, {"more": 1}]},
        "status": {"x": 1},
    });
    let unknown = schema.prune_unknown_fields(&mut obj);
    assert_eq!(
        unknown,
        [
            "spec.b",
            "spec.list[0].extra",
            "spec.list[1].more",
            "spec.z",
            "status"
        ]
    );
    assert_eq!(
        obj,
        json!({
            "apiVersion": "example.com/v1", "kind": "Foo",
            "metadata": {"name": "a", "labels": {"x": "y"}, "whatever": 1},
            "spec": {"a": "x", "list": [{"name": "n"}, {}]},
        }),
        "the resource's own metadata is the API server's business"
    );
}

#[test]
fn preserve_unknown_fields_keeps_them_but_prunes_specified_properties() {
    let schema = compiled(json!({"type": "object", "properties": {"spec": {
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": true,
        "properties": {"known": {"type": "object", "properties": {"a": {"type": "string"}}}},
    }}}));
    let mut obj = json!({"spec": {"free": {"deep": [1, {"x": 2}]}, "known": {"a": "x", "b": 1}}});
    assert_eq!(schema.prune_unknown_fields(&mut obj), ["spec.known.b"]);
    assert_eq!(
        obj,
        json!({"spec": {"free": {"deep": [1, {"x": 2}]}, "known": {"a": "x"}}})
    );
}

#[test]
fn preserve_unknown_fields_at_the_root_and_in_arrays() {
    let schema = compiled(json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true}));
    let mut obj = json!({"spec": {"anything": [1, 2]}, "status": "x"});
    assert!(schema.prune_unknown_fields(&mut obj).is_empty());
    assert_eq!(obj, json!({"spec": {"anything": [1, 2]}, "status": "x"}));

    let schema = compiled(json!({"type": "object", "properties": {"items": {
        "type": "array",
        "items": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
    }}}));
    let mut obj = json!({"items": [{"a": 1}, {"b": {"c": 2}}]});
    assert!(schema.prune_unknown_fields(&mut obj).is_empty());
    assert_eq!(obj, json!({"items": [{"a": 1}, {"b": {"c": 2}}]}));
}

#[test]
fn embedded_resources_keep_their_type_and_object_meta() {
    let schema = compiled(
        json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {
            "template": {
                "type": "object",
                "x-kubernetes-embedded-resource": true,
                "properties": {"spec": {"type": "object", "properties": {"replicas": {"type": "integer"}}}},
            },
        }}}}),
    );
    let mut obj = json!({"spec": {"template": {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "p", "labels": {"a": "b"}, "creationTimestamp": null, "bogus": 1, "annotations": {}},
        "spec": {"replicas": 1, "other": 2},
        "status": {},
    }}});
    let unknown = schema.prune_unknown_fields(&mut obj);
    assert_eq!(
        unknown,
        [
            "spec.template.metadata.bogus",
            "spec.template.spec.other",
            "spec.template.status"
        ]
    );
    assert_eq!(
        obj,
        json!({"spec": {"template": {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "p", "labels": {"a": "b"}},
            "spec": {"replicas": 1},
        }}})
    );
}

#[test]
fn embedded_resources_with_preserve_keep_everything_else() {
    let schema = compiled(json!({"type": "object", "properties": {"t": {
        "type": "object",
        "x-kubernetes-embedded-resource": true,
        "x-kubernetes-preserve-unknown-fields": true,
    }}}));
    let mut obj = json!({"t": {"apiVersion": "v1", "kind": "ConfigMap", "data": {"a": "b"}}});
    assert!(schema.prune_unknown_fields(&mut obj).is_empty());
    assert_eq!(
        obj,
        json!({"t": {"apiVersion": "v1", "kind": "ConfigMap", "data": {"a": "b"}}})
    );
}

#[test]
fn additional_properties() {
    let schema = compiled(json!({"type": "object", "properties": {
        "labels": {"type": "object", "additionalProperties": {"type": "object", "properties": {"a": {"type": "string"}}}},
        "loose": {"type": "object", "additionalProperties": true},
    }}));
    let mut obj = json!({
        "labels": {"x": {"a": "1", "b": "2"}},
        "loose": {"k": "v", "o": {"inner": 1}},
    });
    // `additionalProperties: true` has no schema, so objects under it lose their fields.
    assert_eq!(
        schema.prune_unknown_fields(&mut obj),
        ["labels.x.b", "loose.o.inner"]
    );
    assert_eq!(
        obj,
        json!({"labels": {"x": {"a": "1"}}, "loose": {"k": "v", "o": {}}})
    );
}

#[test]
fn nulls_go_where_the_schema_allows_none_and_has_no_default() {
    let schema = compiled(
        json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {
            "plain": {"type": "string"},
            "nullable": {"type": "string", "nullable": true},
            "defaulted": {"type": "string", "default": "d"},
            "list": {"type": "array", "items": {"type": "string"}},
        }}}}),
    );
    let mut obj = json!({"spec": {"plain": null, "nullable": null, "defaulted": null, "list": [null], "unknown": null}});
    schema.prune(&mut obj);
    assert_eq!(
        obj,
        json!({"spec": {"nullable": null, "defaulted": null, "list": [null]}}),
        "items are not dropped, and a defaulted null waits for defaulting"
    );
    schema.apply_defaults(&mut obj);
    assert_eq!(
        obj,
        json!({"spec": {"nullable": null, "defaulted": "d", "list": [null]}})
    );
}
