//! `x-kubernetes-list-type` `set` and `map`: duplicates reported as upstream reports them.

use serde_json::{json, Value};

use super::errors;

fn schema() -> Value {
    json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {
        "tags": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}},
        "nums": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "number"}},
        "ports": {
            "type": "array",
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["name"],
            "items": {"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}, "port": {"type": "integer"}}},
        },
        "routes": {
            "type": "array",
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["host", "port"],
            "items": {"type": "object", "required": ["host", "port"], "properties": {"host": {"type": "string"}, "port": {"type": "integer"}}},
        },
        "byName": {"type": "object", "additionalProperties": {
            "type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"},
        }},
    }}}})
}

#[test]
fn sets_report_each_repeated_value_once() {
    assert_eq!(
        errors(
            schema(),
            json!({"spec": {"tags": ["a", "b", "a", "a", "b"]}})
        ),
        [
            r#"spec.tags[2]: Duplicate value: "a""#,
            r#"spec.tags[4]: Duplicate value: "b""#
        ]
    );
    assert!(
        errors(schema(), json!({"spec": {"nums": [1, 1.0]}})).is_empty(),
        "an int64 and a float64 differ for Go"
    );
    assert_eq!(
        errors(schema(), json!({"spec": {"byName": {"k": ["x", "x"]}}})),
        [r#"spec.byName[k][1]: Duplicate value: "x""#]
    );
}

#[test]
fn maps_compare_their_keys() {
    assert_eq!(
        errors(
            schema(),
            json!({"spec": {"ports": [{"name": "http", "port": 80}, {"name": "http", "port": 81}]}})
        ),
        [r#"spec.ports[1]: Duplicate value: {"name":"http"}"#]
    );
    assert_eq!(
        errors(
            schema(),
            json!({"spec": {"routes": [
                {"host": "a", "port": 1}, {"host": "a", "port": 2}, {"port": 1, "host": "a"},
            ]}})
        ),
        [r#"spec.routes[2]: Duplicate value: {"host":"a","port":1}"#]
    );
}

#[test]
fn map_items_must_be_objects() {
    assert_eq!(
        errors(schema(), json!({"spec": {"ports": [{"name": "a"}, "x"]}})),
        [
            r#"spec.ports[1]: Invalid value: "string": spec.ports[1] in body must be of type object: "string""#,
            r#"spec.ports[1]: Invalid value: "x": must be an object for an array of list-type map"#,
        ]
    );
}

#[test]
fn apply_reads_list_types_and_atomic_maps_from_the_schema() {
    use kapi_api::apply::{CustomListType, CustomShape};
    let schema = super::compiled(serde_json::json!({"type": "object", "properties": {
        "spec": {"type": "object", "properties": {
            "ports": {"type": "array", "x-kubernetes-list-type": "map",
                "x-kubernetes-list-map-keys": ["name"],
                "items": {"type": "object", "required": ["name"], "properties": {
                    "name": {"type": "string"},
                    "hosts": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}},
                }}},
            "tags": {"type": "array", "items": {"type": "string"}},
            "selector": {"type": "object", "x-kubernetes-map-type": "atomic",
                "additionalProperties": {"type": "string"}},
        }},
    }}));
    assert_eq!(
        schema.list_type(&["spec", "ports"]),
        CustomListType::Map(vec!["name".into()])
    );
    assert_eq!(
        schema.list_type(&["spec", "ports", "hosts"]),
        CustomListType::Set
    );
    assert_eq!(schema.list_type(&["spec", "tags"]), CustomListType::Atomic);
    assert_eq!(schema.list_type(&["spec", "nope"]), CustomListType::Atomic);
    assert!(schema.map_is_atomic(&["spec", "selector"]));
    assert!(!schema.map_is_atomic(&["spec"]));
}
