//! What kube-apiserver's decoder does to a custom resource before anything else sees it:
//!
//! 1. pruning (`pruning.Prune`): fields the schema does not specify are dropped, except under
//!    `x-kubernetes-preserve-unknown-fields` and except `apiVersion`, `kind` and `metadata` of
//!    the resource itself and of embedded resources. `additionalProperties: true` keeps the
//!    keys but, having no schema, prunes what objects under them contain;
//! 2. nulls the schema does not allow (not `nullable`) and cannot default are dropped
//!    (`PruneNonNullableNullsWithoutDefaults`);
//! 3. the metadata of embedded resources is put through `ObjectMeta` (`objectmeta.Coerce`):
//!    unknown fields go, empty ones too, as a Go round trip drops them.
//!
//! The paths of dropped unknown fields are collected as upstream reports them for
//! `fieldValidation=Strict|Warn` (`spec.foo`, `spec.items[0].bar`), sorted.

use serde_json::{Map, Value};

use super::node::{Extra, Node};

const META_FIELDS: [&str; 3] = ["apiVersion", "kind", "metadata"];

/// The fields of `metav1.ObjectMeta` as JSON names.
const OBJECT_META_FIELDS: [&str; 15] = [
    "name",
    "generateName",
    "namespace",
    "selfLink",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "labels",
    "annotations",
    "ownerReferences",
    "finalizers",
    "managedFields",
];

/// Prunes `obj` (a whole resource: its own meta fields are kept) and returns the sorted
/// paths of the unknown fields it dropped.
pub(crate) fn prune_resource(root: &Node, obj: &mut Value) -> Vec<String> {
    let mut p = Pruner::default();
    p.prune(obj, Some(root), true);
    prune_nulls(obj, Some(root));
    p.coerce(obj, root);
    p.unknown.sort();
    p.unknown
}

/// Whether pruning `v` as a value of `node` would change it (upstream requires schema
/// defaults to be pruned already). `resource` treats `v` as a resource of its own.
pub(crate) fn would_prune(node: &Node, v: &Value, resource: bool) -> bool {
    let mut copy = v.clone();
    let mut p = Pruner::default();
    p.prune(&mut copy, Some(node), resource);
    p.changed
}

#[derive(Default)]
struct Pruner {
    path: String,
    unknown: Vec<String>,
    changed: bool,
}

impl Pruner {
    fn enter_key(&mut self, k: &str) -> usize {
        let len = self.path.len();
        if !self.path.is_empty() {
            self.path.push('.');
        }
        self.path.push_str(k);
        len
    }

    fn enter_index(&mut self, i: usize) -> usize {
        let len = self.path.len();
        self.path.push_str(&format!("[{i}]"));
        len
    }

    fn record(&mut self, k: &str) {
        let len = self.enter_key(k);
        self.unknown.push(self.path.clone());
        self.path.truncate(len);
    }

    /// `resource` marks a value whose meta fields are kept as an embedded resource's are.
    fn prune(&mut self, v: &mut Value, node: Option<&Node>, resource: bool) {
        if let Some(n) = node.filter(|n| n.preserve_unknown) {
            return self.skip(v, n, resource);
        }
        match v {
            Value::Object(map) => {
                let Some(n) = node else {
                    for k in map.keys() {
                        let k = k.clone();
                        self.record(&k);
                    }
                    self.changed |= !map.is_empty();
                    map.clear();
                    return;
                };
                let keep_meta = resource || n.embedded;
                let at_top = self.path.is_empty();
                map.retain(|k, v| {
                    if keep_meta && META_FIELDS.contains(&k.as_str()) {
                        return true;
                    }
                    let schema = match (n.property(k), &n.extra) {
                        (Some(p), _) => Some(p),
                        (None, Extra::Schema(s)) => Some(&**s),
                        (None, Extra::Allows(_)) => None,
                        (None, Extra::Unspecified) => {
                            if !(META_FIELDS.contains(&k.as_str()) && at_top) {
                                self.record(k);
                            }
                            self.changed = true;
                            return false;
                        }
                    };
                    let len = self.enter_key(k);
                    self.prune(v, schema, false);
                    self.path.truncate(len);
                    true
                });
            }
            Value::Array(items) => {
                let item_schema = node.and_then(|n| n.items.as_deref());
                for (i, item) in items.iter_mut().enumerate() {
                    let len = self.enter_index(i);
                    self.prune(item, item_schema, false);
                    self.path.truncate(len);
                }
            }
            _ => {}
        }
    }

    /// Under `x-kubernetes-preserve-unknown-fields`: unknown fields stay, specified ones are
    /// pruned by their own schema.
    fn skip(&mut self, v: &mut Value, node: &Node, resource: bool) {
        match v {
            Value::Object(map) => {
                let keep_meta = resource || node.embedded;
                for (k, v) in map.iter_mut() {
                    if keep_meta && META_FIELDS.contains(&k.as_str()) {
                        continue;
                    }
                    let schema = match (node.property(k), &node.extra) {
                        (Some(p), _) => Some(p),
                        (None, Extra::Schema(s)) => Some(&**s),
                        (None, Extra::Allows(_)) => None,
                        (None, Extra::Unspecified) => continue,
                    };
                    let len = self.enter_key(k);
                    self.prune(v, schema, false);
                    self.path.truncate(len);
                }
            }
            Value::Array(items) => {
                if let Some(item) = &node.items {
                    for (i, v) in items.iter_mut().enumerate() {
                        let len = self.enter_index(i);
                        self.skip(v, item, false);
                        self.path.truncate(len);
                    }
                }
            }
            _ => {}
        }
    }

    /// The metadata of embedded resources, as a Go `ObjectMeta` round trip leaves it.
    fn coerce(&mut self, v: &mut Value, node: &Node) {
        self.coerce_at(v, node, String::new());
    }

    fn coerce_at(&mut self, v: &mut Value, node: &Node, path: String) {
        match v {
            Value::Object(map) => {
                if node.embedded {
                    if let Some(Value::Object(meta)) = map.get_mut("metadata") {
                        self.coerce_meta(meta, &path);
                    }
                }
                for (k, v) in map.iter_mut() {
                    if let Some(p) = node.property(k) {
                        let at = if path.is_empty() {
                            k.clone()
                        } else {
                            format!("{path}.{k}")
                        };
                        self.coerce_at(v, p, at);
                    } else if let Some(extra) = node.extra_schema() {
                        self.coerce_at(v, extra, format!("{path}[{k}]"));
                    }
                }
            }
            Value::Array(items) => {
                if let Some(item) = &node.items {
                    for (i, v) in items.iter_mut().enumerate() {
                        self.coerce_at(v, item, format!("{path}[{i}]"));
                    }
                }
            }
            _ => {}
        }
    }

    fn coerce_meta(&mut self, meta: &mut Map<String, Value>, path: &str) {
        let prefix = if path.is_empty() {
            "metadata".to_string()
        } else {
            format!("{path}.metadata")
        };
        meta.retain(|k, v| {
            if !OBJECT_META_FIELDS.contains(&k.as_str()) {
                self.unknown.push(format!("{prefix}.{k}"));
                return false;
            }
            let empty = match v {
                Value::Null => true,
                Value::String(s) => s.is_empty(),
                Value::Array(a) => a.is_empty(),
                Value::Object(o) => o.is_empty(),
                Value::Number(n) => k == "generation" && n.as_i64() == Some(0),
                Value::Bool(_) => false,
            };
            !empty
        });
    }
}

/// Drops nulls where the schema neither allows null nor has a default to put there.
fn prune_nulls(v: &mut Value, node: Option<&Node>) {
    match v {
        Value::Object(map) => {
            map.retain(|k, v| {
                let schema = node.and_then(|n| n.member(k));
                let drop =
                    v.is_null() && schema.is_some_and(|s| !s.nullable && s.default.is_none());
                if !drop {
                    prune_nulls(v, schema);
                }
                !drop
            });
        }
        Value::Array(items) => {
            let item = node.and_then(|n| n.items.as_deref());
            for v in items {
                prune_nulls(v, item);
            }
        }
        _ => {}
    }
}
