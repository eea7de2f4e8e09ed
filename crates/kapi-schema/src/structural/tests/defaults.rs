//! Structural defaulting.

use serde_json::json;

use super::compiled;

#[test]
fn absent_properties_get_their_default_and_present_ones_stay() {
    let schema = compiled(
        json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {
            "replicas": {"type": "integer", "default": 1},
            "image": {"type": "string", "default": "nginx"},
            "zero": {"type": "integer", "default": 5},
        }}}}),
    );
    let mut obj = json!({"spec": {"image": "busybox", "zero": 0}});
    schema.apply_defaults(&mut obj);
    assert_eq!(
        obj,
        json!({"spec": {"image": "busybox", "zero": 0, "replicas": 1}})
    );
}

#[test]
fn defaults_nest_inside_defaulted_values() {
    let schema = compiled(json!({"type": "object", "properties": {"spec": {
        "type": "object",
        "default": {},
        "properties": {
            "strategy": {
                "type": "object",
                "default": {"type": "Rolling"},
                "properties": {"type": {"type": "string"}, "maxSurge": {"type": "integer", "default": 1}},
            },
        },
    }}}));
    let mut obj = json!({"apiVersion": "example.com/v1", "kind": "Foo"});
    schema.apply_defaults(&mut obj);
    assert_eq!(
        obj,
        json!({"apiVersion": "example.com/v1", "kind": "Foo", "spec": {"strategy": {"type": "Rolling", "maxSurge": 1}}})
    );
}

#[test]
fn array_items_and_map_values_are_defaulted() {
    let item = json!({"type": "object", "properties": {"port": {"type": "integer", "default": 80}, "name": {"type": "string"}}});
    let schema = compiled(json!({"type": "object", "properties": {
        "ports": {"type": "array", "items": item},
        "byName": {"type": "object", "additionalProperties": item},
        "words": {"type": "array", "items": {"type": "string", "default": "w"}},
    }}));
    let mut obj = json!({
        "ports": [{"name": "a"}, {"name": "b", "port": 8080}],
        "byName": {"x": {}, "y": {"port": 1}},
        "words": ["a", null],
    });
    schema.apply_defaults(&mut obj);
    assert_eq!(
        obj,
        json!({
            "ports": [{"name": "a", "port": 80}, {"name": "b", "port": 8080}],
            "byName": {"x": {"port": 80}, "y": {"port": 1}},
            "words": ["a", "w"],
        })
    );
}

#[test]
fn nulls_are_defaulted_only_where_null_is_not_allowed() {
    let schema = compiled(json!({"type": "object", "properties": {
        "a": {"type": "string", "default": "x"},
        "b": {"type": "string", "nullable": true, "default": "y"},
    }}));
    let mut obj = json!({"a": null, "b": null});
    schema.apply_defaults(&mut obj);
    assert_eq!(obj, json!({"a": "x", "b": null}));
}

#[test]
fn defaults_are_copies() {
    let schema = compiled(
        json!({"type": "object", "properties": {"list": {"type": "array", "items": {"type": "string"}, "default": ["a"]}}}),
    );
    let mut one = json!({});
    let mut two = json!({});
    schema.apply_defaults(&mut one);
    if let Some(list) = one.get_mut("list").and_then(|l| l.as_array_mut()) {
        list.push(json!("b"));
    }
    schema.apply_defaults(&mut two);
    assert_eq!(two, json!({"list": ["a"]}));
}
