//! Structural defaulting (upstream's `defaulting.Default`): an absent property with a
//! `default` gets a copy of it, and so does a null where the schema does not allow null;
//! then defaulting continues into every member, including the ones just defaulted, array
//! items and `additionalProperties` values. Upstream runs it when decoding a request and
//! when reading from storage, after pruning.

use serde_json::Value;

use super::node::Node;

/// Applies the defaults of `node` to `v`.
pub(crate) fn apply(node: &Node, v: &mut Value) {
    match v {
        Value::Object(map) => {
            for (k, prop) in &node.properties {
                let Some(default) = &prop.default else {
                    continue;
                };
                match map.get_mut(&**k) {
                    None => {
                        map.insert(k.to_string(), default.clone());
                    }
                    Some(current) if current.is_null() && !prop.nullable => {
                        *current = default.clone();
                    }
                    Some(_) => {}
                }
            }
            for (k, member) in map.iter_mut() {
                if let Some(prop) = node.property(k) {
                    apply(prop, member);
                } else if let Some(extra) = node.extra_schema() {
                    fill_null(extra, member);
                    apply(extra, member);
                }
            }
        }
        Value::Array(items) => {
            if let Some(item) = &node.items {
                for v in items.iter_mut() {
                    fill_null(item, v);
                    apply(item, v);
                }
            }
        }
        _ => {}
    }
}

/// A null where `node` does not allow one becomes its default, if it has one.
fn fill_null(node: &Node, v: &mut Value) {
    if v.is_null() && !node.nullable {
        if let Some(default) = &node.default {
            *v = default.clone();
        }
    }
}
