//! Uniqueness in lists with `x-kubernetes-list-type: set` (whole items) and `map` (the key
//! fields), as upstream's `ValidateListSetsAndMaps` checks it after schema validation.
//!
//! Items compare as Go compares decoded JSON: scalars by type and value (`1` and `1.0` differ),
//! objects and arrays by their JSON encoding (key order does not matter). Each repeated value
//! is reported once, at its second occurrence, as `Duplicate value: <value>`.

use std::collections::HashSet;

use serde_json::{Map, Value};

use super::fielderr::{child, index, key, FieldError};
use super::gofmt::{json, num, Bad, Num};
use super::node::{ListType, Node};

/// The duplicates in `obj`, an object validated by `node`, at paths under `path`.
pub(crate) fn check(node: &Node, obj: &Map<String, Value>, path: &str, out: &mut Vec<FieldError>) {
    if let Some(extra) = node.extra_schema() {
        for (k, v) in obj {
            value(extra, v, &key(path, k), out);
        }
    }
    if !node.properties.is_empty() {
        for (k, v) in obj {
            if let Some(p) = node.property(k) {
                value(p, v, &child(path, k), out);
            }
        }
    }
}

fn value(node: &Node, v: &Value, path: &str, out: &mut Vec<FieldError>) {
    match v {
        Value::Array(items) => array(node, items, path, out),
        Value::Object(map) => check(node, map, path, out),
        _ => {}
    }
}

fn array(node: &Node, items: &[Value], path: &str, out: &mut Vec<FieldError>) {
    match &node.list {
        ListType::Set => {
            for i in second_occurrences(items.iter().map(identity)) {
                out.push(FieldError::duplicate(index(path, i), Bad::of(&items[i])));
            }
        }
        ListType::Map(keys) => map_list(keys, items, path, out),
        ListType::Atomic => {}
    }
    if let Some(item_schema) = &node.items {
        for (i, item) in items.iter().enumerate() {
            value(item_schema, item, &index(path, i), out);
        }
    }
}

fn map_list(keys: &[Box<str>], items: &[Value], path: &str, out: &mut Vec<FieldError>) {
    if let Some(i) = items.iter().position(|x| !x.is_null() && !x.is_object()) {
        out.push(FieldError::invalid(
            index(path, i),
            Bad::of(&items[i]),
            "must be an object for an array of list-type map",
        ));
        return;
    }
    // The key fields of each item; an item without one (or null) has no value for it.
    let key_maps: Vec<Map<String, Value>> = items
        .iter()
        .map(|x| {
            let mut m = Map::new();
            if let Value::Object(item) = x {
                for k in keys {
                    if let Some(v) = item.get(&**k) {
                        m.insert(k.to_string(), v.clone());
                    }
                }
            }
            m
        })
        .collect();
    if let [single] = keys {
        // One key: compare its values, a missing key being a value of its own.
        let ids = key_maps.iter().map(|m| match m.get(&**single) {
            Some(v) => identity(v),
            None => "\u{0}unspecified".to_string(),
        });
        for i in second_occurrences(ids) {
            out.push(FieldError::duplicate(
                index(path, i),
                Bad::Json(json(&Value::Object(key_maps[i].clone()))),
            ));
        }
        return;
    }
    let ids = key_maps.iter().map(|m| identity(&Value::Object(m.clone())));
    for i in second_occurrences(ids) {
        out.push(FieldError::duplicate(
            index(path, i),
            Bad::Json(json(&Value::Object(key_maps[i].clone()))),
        ));
    }
}

/// The index of the second occurrence of each repeated identity, in order.
fn second_occurrences(ids: impl Iterator<Item = String>) -> Vec<usize> {
    let mut seen: HashSet<String> = HashSet::new();
    let mut reported: HashSet<String> = HashSet::new();
    let mut out = Vec::new();
    for (i, id) in ids.enumerate() {
        if !seen.insert(id.clone()) && reported.insert(id) {
            out.push(i);
        }
    }
    out
}

/// What decides equality for Go: a type tag and the value for scalars, the JSON encoding for
/// compound values (where an integral float encodes like the integer).
fn identity(v: &Value) -> String {
    match v {
        Value::Null => "n".into(),
        Value::Bool(b) => format!("b{b}"),
        Value::Number(n) => match num(n) {
            Num::Int(i) => format!("i{i}"),
            Num::Float(f) => format!("f{}", f.to_bits()),
        },
        Value::String(s) => format!("s{s}"),
        compound => format!("j{}", json(compound)),
    }
}
