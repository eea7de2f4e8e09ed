//! Strategic merge patch (`application/strategic-merge-patch+json`), as the API server applies
//! it to built-in kinds.
//!
//! Rules, from the Kubernetes API conventions and the behaviour of `kubectl apply`:
//!
//! - Objects merge key by key; `null` deletes a key. A value added where the object had none
//!   is taken from the patch with its `null`s dropped and its directives resolved.
//! - Lists are replaced, unless the field's strategy ([`field_strategy`]) is merge: lists of
//!   objects then merge element by element matched on the merge key (new elements are added,
//!   matching ones merged recursively), and lists of primitives become the union.
//! - Order of a merged list: elements named by the patch (or by `$setElementOrder/<field>`)
//!   follow that order; elements only the server had keep their relative order and are
//!   interleaved where the server's list had them. A new element goes right after the patch
//!   elements named before it, ahead of the server-only elements not yet placed: a patch that
//!   only adds an element puts it first, as upstream does.
//! - Directives, never left in the result:
//!   - `"$patch": "replace"` in an object: the object becomes the rest of the patch object; as
//!     an element of a merge list: the list becomes the other elements of the patch list.
//!   - `"$patch": "delete"` in an object: the key holding it is removed (upstream leaves `{}`,
//!     which then fails validation for fields like probes); as an element of a
//!     merge list (with the merge key): elements with that key are removed.
//!   - `"$patch": "merge"`: the default, accepted and ignored.
//!   - `"$deleteFromPrimitiveList/<field>": [values]`: removes those values from the list.
//!   - `"$setElementOrder/<field>": [..]`: the order of the merged list (merge key objects, or
//!     values); the patch list must list its elements in an order consistent with it.
//!   - `"$retainKeys": [keys]`: keys of the object not listed are dropped; every key the patch
//!     sets must be listed.

use serde_json::{Map, Value};

use super::merge_keys::{field_strategy, FieldStrategy};
use super::{json_kind, PatchError};

const DIRECTIVE: &str = "$patch";
const RETAIN_KEYS: &str = "$retainKeys";
const SET_ELEMENT_ORDER: &str = "$setElementOrder/";
const DELETE_FROM_PRIMITIVE_LIST: &str = "$deleteFromPrimitiveList/";

/// Applies a strategic merge patch to a copy of `doc`, an object of `group` (`""` for core)
/// and `kind`; list strategies come from [`field_strategy`], so for kinds it does not know
/// (custom resources) every list is replaced, like a JSON merge patch plus directives.
///
/// The patch must be a JSON object; a malformed directive, a merge list element without its
/// merge key, or an inconsistent `$setElementOrder` / `$retainKeys` is an error.
pub fn apply_strategic_merge_patch(
    doc: &Value,
    patch: &Value,
    group: &str,
    kind: &str,
) -> Result<Value, PatchError> {
    let Value::Object(patch) = patch else {
        return Err(PatchError::InvalidDocument(format!(
            "a strategic merge patch must be a JSON object, not {}",
            json_kind(patch)
        )));
    };
    let original = match doc {
        Value::Object(m) => m.clone(),
        Value::Null => Map::new(),
        other => {
            return Err(PatchError::InvalidDocument(format!(
                "the object being patched is {}, not a JSON object",
                json_kind(other)
            )))
        }
    };
    let cx = Context { group, kind };
    let mut path = Vec::new();
    let merged = cx.merge_map(original, patch, &mut path)?;
    Ok(Value::Object(merged.unwrap_or_default()))
}

/// Whether a key of a patch object is a directive rather than a field.
fn is_directive(key: &str) -> bool {
    key == DIRECTIVE
        || key == RETAIN_KEYS
        || key.starts_with(SET_ELEMENT_ORDER)
        || key.starts_with(DELETE_FROM_PRIMITIVE_LIST)
}

/// What identifies an element of a merge list: its merge key's value, or itself.
fn identity<'v>(v: &'v Value, key: Option<&str>) -> Option<&'v Value> {
    match key {
        Some(k) => v.get(k),
        None => Some(v),
    }
}

/// Position of the element identified like `v` in `list`.
fn index_in(list: &[Value], v: &Value, key: Option<&str>) -> Option<usize> {
    let id = identity(v, key)?;
    list.iter().position(|x| identity(x, key) == Some(id))
}

/// The kind being patched, for looking up field strategies.
struct Context<'a> {
    group: &'a str,
    kind: &'a str,
}

impl Context<'_> {
    fn strategy(&self, path: &[String]) -> FieldStrategy {
        field_strategy(self.group, self.kind, path)
    }

    fn invalid(&self, path: &[String], reason: impl Into<String>) -> PatchError {
        PatchError::InvalidStrategicPatch {
            path: if path.is_empty() {
                "<root>".to_string()
            } else {
                path.join(".")
            },
            reason: reason.into(),
        }
    }

    /// Merges `patch` into `original` (the object at `path`); `None` when the patch deletes it.
    fn merge_map(
        &self,
        mut original: Map<String, Value>,
        patch: &Map<String, Value>,
        path: &mut Vec<String>,
    ) -> Result<Option<Map<String, Value>>, PatchError> {
        match patch.get(DIRECTIVE) {
            None => {}
            Some(Value::String(d)) if d == "merge" => {}
            Some(Value::String(d)) if d == "delete" => return Ok(None),
            Some(Value::String(d)) if d == "replace" => {
                let mut rest = patch.clone();
                rest.shift_remove(DIRECTIVE);
                return self.merge_map(Map::new(), &rest, path);
            }
            Some(other) => {
                return Err(self.invalid(
                    path,
                    format!("unknown $patch directive {other}; use replace, delete or merge"),
                ))
            }
        }

        if let Some(retain) = patch.get(RETAIN_KEYS) {
            let keys = self.retain_keys(retain, patch, path)?;
            original.retain(|k, _| keys.contains(&k.as_str()));
        }

        for (key, value) in patch {
            if is_directive(key) {
                continue;
            }
            let order = patch.get(&format!("{SET_ELEMENT_ORDER}{key}"));
            path.push(key.clone());
            let result = self.merge_field(&mut original, key, value, order, path);
            path.pop();
            result?;
        }

        // $setElementOrder for a list the patch does not otherwise touch: reorder it.
        for (key, order) in patch {
            let Some(field) = key.strip_prefix(SET_ELEMENT_ORDER) else {
                continue;
            };
            if field.is_empty() {
                return Err(self.invalid(path, format!("{key:?} names no field")));
            }
            if patch.contains_key(field) {
                continue;
            }
            path.push(field.to_string());
            let result = match original.get_mut(field) {
                Some(Value::Array(list)) => match self.strategy(path) {
                    s @ (FieldStrategy::MergeByKey(_) | FieldStrategy::MergePrimitives) => self
                        .merge_list(std::mem::take(list), &[], Some(order), s, path)
                        .map(|merged| *list = merged),
                    _ => Ok(()),
                },
                _ => Ok(()),
            };
            path.pop();
            result?;
        }

        for (key, values) in patch {
            let Some(field) = key.strip_prefix(DELETE_FROM_PRIMITIVE_LIST) else {
                continue;
            };
            let Value::Array(values) = values else {
                return Err(self.invalid(
                    path,
                    format!(
                        "{key:?} must be a list of values to delete, not {}",
                        json_kind(values)
                    ),
                ));
            };
            if let Some(Value::Array(list)) = original.get_mut(field) {
                list.retain(|v| !values.contains(v));
            }
        }

        Ok(Some(original))
    }

    /// Checks a `$retainKeys` directive against the patch and returns the keys to keep.
    fn retain_keys<'p>(
        &self,
        retain: &'p Value,
        patch: &Map<String, Value>,
        path: &[String],
    ) -> Result<Vec<&'p str>, PatchError> {
        let Value::Array(list) = retain else {
            return Err(self.invalid(path, "$retainKeys must be a list of field names"));
        };
        let mut keys = Vec::with_capacity(list.len());
        for k in list {
            let Value::String(k) = k else {
                return Err(self.invalid(path, "$retainKeys must be a list of field names"));
            };
            keys.push(k.as_str());
        }
        for (k, v) in patch {
            if !v.is_null() && !is_directive(k) && !keys.contains(&k.as_str()) {
                return Err(self.invalid(
                    path,
                    format!("the patch sets {k:?}, which $retainKeys does not list"),
                ));
            }
        }
        Ok(keys)
    }

    /// Merges the patch value of one field into `parent`.
    fn merge_field(
        &self,
        parent: &mut Map<String, Value>,
        key: &str,
        value: &Value,
        order: Option<&Value>,
        path: &[String],
    ) -> Result<(), PatchError> {
        if value.is_null() {
            parent.shift_remove(key);
            return Ok(());
        }
        let strategy = self.strategy(path);
        // Take the current value out (its slot keeps the key's position) and compute the new one.
        let current = parent.get_mut(key).map(std::mem::take);
        let merged = match (current, value) {
            (None, _) => self.fresh(value, order, path)?,
            (Some(Value::Object(cur)), Value::Object(p)) if strategy != FieldStrategy::Replace => {
                let mut path = path.to_vec();
                self.merge_map(cur, p, &mut path)?.map(Value::Object)
            }
            (Some(Value::Array(cur)), Value::Array(p)) => match strategy {
                FieldStrategy::MergeByKey(_) | FieldStrategy::MergePrimitives => Some(
                    Value::Array(self.merge_list(cur, p, order, strategy, path)?),
                ),
                _ => self.fresh(value, order, path)?,
            },
            (Some(_), _) => self.fresh(value, order, path)?,
        };
        match merged {
            Some(v) => {
                parent.insert(key.to_string(), v);
            }
            None => {
                parent.shift_remove(key);
            }
        }
        Ok(())
    }

    /// A patch value for a field the object does not have (or replaces wholesale): its nulls
    /// are dropped and its directives resolved against nothing. `None`: nothing to store.
    fn fresh(
        &self,
        value: &Value,
        order: Option<&Value>,
        path: &[String],
    ) -> Result<Option<Value>, PatchError> {
        match value {
            Value::Null => Ok(None),
            Value::Object(p) => {
                let mut path = path.to_vec();
                Ok(self.merge_map(Map::new(), p, &mut path)?.map(Value::Object))
            }
            Value::Array(items) => match self.strategy(path) {
                s @ (FieldStrategy::MergeByKey(_) | FieldStrategy::MergePrimitives) => Ok(Some(
                    Value::Array(self.merge_list(Vec::new(), items, order, s, path)?),
                )),
                _ => {
                    let mut out = Vec::with_capacity(items.len());
                    for item in items {
                        match item {
                            Value::Object(_) => out.extend(self.fresh(item, None, path)?),
                            other => out.push(other.clone()),
                        }
                    }
                    Ok(Some(Value::Array(out)))
                }
            },
            scalar => Ok(Some(scalar.clone())),
        }
    }

    /// Merges a patch list into a list whose field has a merge strategy, honouring special
    /// elements and `order` (the field's `$setElementOrder`, if any).
    fn merge_list(
        &self,
        original: Vec<Value>,
        patch: &[Value],
        order: Option<&Value>,
        strategy: FieldStrategy,
        path: &[String],
    ) -> Result<Vec<Value>, PatchError> {
        let order = match order {
            None => None,
            Some(Value::Array(o)) => Some(o.as_slice()),
            Some(other) => {
                return Err(self.invalid(
                    path,
                    format!("$setElementOrder must be a list, not {}", json_kind(other)),
                ))
            }
        };
        match strategy {
            FieldStrategy::MergeByKey(key) => {
                self.merge_keyed_list(original, patch, order, key, path)
            }
            FieldStrategy::MergePrimitives => {
                if patch
                    .iter()
                    .chain(order.unwrap_or(&[]))
                    .any(|v| v.is_object() || v.is_array())
                {
                    return Err(self.invalid(
                        path,
                        "this list holds plain values (merged as a set); the patch has an \
                         object or list in it",
                    ));
                }
                if let Some(order) = order {
                    self.check_order(patch.iter(), order, None, path)?;
                }
                let mut merged: Vec<Value> = Vec::with_capacity(original.len() + patch.len());
                for v in original.iter().chain(patch) {
                    if !merged.contains(v) {
                        merged.push(v.clone());
                    }
                }
                Ok(arrange(merged, order.unwrap_or(patch), &original, None))
            }
            _ => Ok(patch.to_vec()),
        }
    }

    /// Merges a list of objects matched by `key`.
    fn merge_keyed_list(
        &self,
        original: Vec<Value>,
        patch: &[Value],
        order: Option<&[Value]>,
        key: &str,
        path: &[String],
    ) -> Result<Vec<Value>, PatchError> {
        let server_order = original.clone();
        let mut base = original;
        let mut items: Vec<&Map<String, Value>> = Vec::with_capacity(patch.len());
        let mut replace = false;
        for element in patch {
            let Value::Object(m) = element else {
                return Err(self.invalid(
                    path,
                    format!(
                        "elements of this list are objects merged by {key:?}; found {}",
                        json_kind(element)
                    ),
                ));
            };
            match m.get(DIRECTIVE) {
                None => items.push(m),
                Some(Value::String(d)) if d == "delete" => {
                    let Some(id) = m.get(key) else {
                        return Err(self.invalid(
                            path,
                            format!(
                                "a \"$patch\": \"delete\" element must have the merge key {key:?}"
                            ),
                        ));
                    };
                    base.retain(|e| e.get(key) != Some(id));
                }
                Some(Value::String(d)) if d == "replace" => replace = true,
                Some(Value::String(d)) if d == "merge" => {
                    if m.contains_key(key) {
                        items.push(m);
                    }
                }
                Some(other) => {
                    return Err(self.invalid(
                        path,
                        format!("unknown $patch directive {other} in a list element"),
                    ))
                }
            }
        }
        if replace {
            base.clear();
        }
        for item in &items {
            if !item.contains_key(key) {
                return Err(self.invalid(
                    path,
                    format!(
                        "element {} has no merge key {key:?}",
                        Value::Object((*item).clone())
                    ),
                ));
            }
        }
        if let Some(order) = order {
            if let Some(bad) = order.iter().find(|o| o.get(key).is_none()) {
                return Err(self.invalid(
                    path,
                    format!("$setElementOrder element {bad} has no merge key {key:?}"),
                ));
            }
            self.check_order(
                items.iter().filter_map(|m| m.get(key)),
                order,
                Some(key),
                path,
            )?;
        }

        let mut path = path.to_vec();
        for item in &items {
            let Some(id) = item.get(key) else { continue };
            match base.iter().position(|e| e.get(key) == Some(id)) {
                Some(pos) => match std::mem::take(&mut base[pos]) {
                    Value::Object(cur) => match self.merge_map(cur, item, &mut path)? {
                        Some(m) => base[pos] = Value::Object(m),
                        None => {
                            base.remove(pos);
                        }
                    },
                    other => base[pos] = other,
                },
                None => {
                    if let Some(m) = self.merge_map(Map::new(), item, &mut path)? {
                        base.push(Value::Object(m));
                    }
                }
            }
        }

        let patch_order: Vec<Value> = match order {
            Some(o) => o.to_vec(),
            None => items.iter().map(|m| Value::Object((*m).clone())).collect(),
        };
        let server_order = if replace { Vec::new() } else { server_order };
        Ok(arrange(base, &patch_order, &server_order, Some(key)))
    }

    /// Checks that the patch list names its elements in an order consistent with
    /// `$setElementOrder` (a subsequence of it). `ids` yields identities (merge key values, or
    /// the values themselves); for primitive lists without a key, `ids` are the values.
    fn check_order<'v>(
        &self,
        ids: impl Iterator<Item = &'v Value>,
        order: &[Value],
        key: Option<&str>,
        path: &[String],
    ) -> Result<(), PatchError> {
        let mut next = 0;
        for id in ids {
            loop {
                let Some(o) = order.get(next) else {
                    return Err(self.invalid(
                        path,
                        format!(
                            "the patch list has {id}, which $setElementOrder does not list \
                             (or lists in a different order)"
                        ),
                    ));
                };
                next += 1;
                if identity(o, key) == Some(id) {
                    break;
                }
            }
        }
        Ok(())
    }
}

/// Orders a merged list: elements named in `patch_order` come in that order; the others
/// ("server-only") keep the order they had in `server_order`, and the two runs are interleaved
/// by their positions in `server_order` where both elements have one (otherwise the patch's
/// element goes first).
fn arrange(
    merged: Vec<Value>,
    patch_order: &[Value],
    server_order: &[Value],
    key: Option<&str>,
) -> Vec<Value> {
    let (mut named, mut server_only): (Vec<Value>, Vec<Value>) = merged
        .into_iter()
        .partition(|v| index_in(patch_order, v, key).is_some());
    named.sort_by_key(|v| index_in(patch_order, v, key));
    server_only.sort_by_key(|v| index_in(server_order, v, key).unwrap_or(usize::MAX));

    let mut out = Vec::with_capacity(named.len() + server_only.len());
    let mut named = named.into_iter().peekable();
    let mut server_only = server_only.into_iter().peekable();
    loop {
        let take_server = match (server_only.peek(), named.peek()) {
            (None, None) => break,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some(s), Some(n)) => matches!(
                (index_in(server_order, s, key), index_in(server_order, n, key)),
                (Some(a), Some(b)) if a < b
            ),
        };
        let next = if take_server {
            server_only.next()
        } else {
            named.next()
        };
        out.extend(next);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// (name, group, kind, original, patch, expected)
    type Case = (
        &'static str,
        &'static str,
        &'static str,
        Value,
        Value,
        Value,
    );

    fn run(cases: Vec<Case>) {
        for (name, group, kind, doc, patch, want) in cases {
            let got = apply_strategic_merge_patch(&doc, &patch, group, kind)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(got, want, "{name}");
            assert!(!has_directive(&got), "{name}: directive left in {got}");
        }
    }

    fn has_directive(v: &Value) -> bool {
        match v {
            Value::Object(m) => m.iter().any(|(k, v)| is_directive(k) || has_directive(v)),
            Value::Array(a) => a.iter().any(has_directive),
            _ => false,
        }
    }

    fn pod(containers: Value) -> Value {
        json!({"apiVersion": "v1", "kind": "Pod", "spec": {"containers": containers}})
    }

    #[test]
    fn maps_and_nulls() {
        run(vec![
            (
                "maps merge recursively",
                "",
                "ConfigMap",
                json!({"metadata": {"name": "c", "labels": {"a": "1"}}, "data": {"x": "1"}}),
                json!({"metadata": {"labels": {"b": "2"}}, "data": {"y": "2"}}),
                json!({"metadata": {"name": "c", "labels": {"a": "1", "b": "2"}}, "data": {"x": "1", "y": "2"}}),
            ),
            (
                "null deletes keys, unmatched nulls are dropped",
                "",
                "ConfigMap",
                json!({"data": {"x": "1", "y": "2", "z": "3"}}),
                json!({"data": {"y": null, "nope": null}, "binaryData": {"a": null, "b": "Yg=="}}),
                json!({"data": {"x": "1", "z": "3"}, "binaryData": {"b": "Yg=="}}),
            ),
            (
                "kubectl apply 3-way patch of a ConfigMap",
                "",
                "ConfigMap",
                json!({
                    "apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": "c", "annotations": {
                        "kubectl.kubernetes.io/last-applied-configuration": "{\"old\":true}\n",
                        "other": "keep"
                    }},
                    "data": {"a": "1", "b": "2"}
                }),
                json!({
                    "data": {"a": null, "c": "3"},
                    "metadata": {"annotations": {
                        "kubectl.kubernetes.io/last-applied-configuration": "{\"new\":true}\n"
                    }}
                }),
                json!({
                    "apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": "c", "annotations": {
                        "kubectl.kubernetes.io/last-applied-configuration": "{\"new\":true}\n",
                        "other": "keep"
                    }},
                    "data": {"b": "2", "c": "3"}
                }),
            ),
            (
                "scalars and type changes replace",
                "",
                "ConfigMap",
                json!({"a": 1, "b": {"x": 1}, "c": [1]}),
                json!({"a": "s", "b": [2], "c": {"y": 2}}),
                json!({"a": "s", "b": [2], "c": {"y": 2}}),
            ),
            (
                "lists without a strategy are replaced",
                "",
                "Pod",
                json!({"spec": {"tolerations": [{"key": "a"}, {"key": "b"}], "containers": [{"name": "c", "args": ["x", "y"]}]}}),
                json!({"spec": {"tolerations": [{"key": "c"}], "containers": [{"name": "c", "args": ["z"]}]}}),
                json!({"spec": {"tolerations": [{"key": "c"}], "containers": [{"name": "c", "args": ["z"]}]}}),
            ),
            (
                "unknown kinds replace lists",
                "example.com",
                "Widget",
                json!({"spec": {"containers": [{"name": "a"}]}}),
                json!({"spec": {"containers": [{"name": "b"}]}}),
                json!({"spec": {"containers": [{"name": "b"}]}}),
            ),
            (
                "dollar keys that are not directives are fields",
                "apiextensions.k8s.io",
                "CustomResourceDefinition",
                json!({"spec": {"x": 1}}),
                json!({"spec": {"$ref": "#/a", "$schema": "s"}}),
                json!({"spec": {"x": 1, "$ref": "#/a", "$schema": "s"}}),
            ),
            (
                "empty patch changes nothing",
                "",
                "Pod",
                pod(json!([{"name": "a"}])),
                json!({}),
                pod(json!([{"name": "a"}])),
            ),
        ]);
    }

    #[test]
    fn merge_by_key() {
        run(vec![
            (
                "containers merged by name, new one placed after the last element the patch names",
                "",
                "Pod",
                pod(
                    json!([{"name": "a", "image": "nginx:1", "args": ["x"]}, {"name": "b", "image": "redis"}]),
                ),
                json!({"spec": {"containers": [{"name": "b", "image": "redis:7"}, {"name": "c", "image": "busybox"}]}}),
                pod(json!([
                    {"name": "a", "image": "nginx:1", "args": ["x"]},
                    {"name": "b", "image": "redis:7"},
                    {"name": "c", "image": "busybox"}
                ])),
            ),
            (
                "a patch naming no existing element puts new ones first (as upstream)",
                "",
                "Pod",
                pod(json!([{"name": "a", "image": "nginx"}])),
                json!({"spec": {"containers": [{"name": "b", "image": "redis"}]}}),
                pod(json!([{"name": "b", "image": "redis"}, {"name": "a", "image": "nginx"}])),
            ),
            (
                "env merged by name inside a deployment template, null deletes a field",
                "apps",
                "Deployment",
                json!({"spec": {"template": {"spec": {"containers": [
                    {"name": "a", "env": [{"name": "X", "value": "1"}, {"name": "Y", "value": "2", "valueFrom": null}]}
                ]}}}}),
                json!({"spec": {"template": {"spec": {"containers": [
                    {"name": "a", "env": [{"name": "Y", "value": null, "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}]}
                ]}}}}),
                json!({"spec": {"template": {"spec": {"containers": [
                    {"name": "a", "env": [{"name": "X", "value": "1"}, {"name": "Y", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}]}
                ]}}}}),
            ),
            (
                "ports merged by containerPort",
                "",
                "Pod",
                pod(json!([{"name": "a", "ports": [{"containerPort": 80, "name": "http"}]}])),
                json!({"spec": {"containers": [{"name": "a", "ports": [{"containerPort": 80, "protocol": "TCP"}, {"containerPort": 443}]}]}}),
                pod(
                    json!([{"name": "a", "ports": [{"containerPort": 80, "name": "http", "protocol": "TCP"}, {"containerPort": 443}]}]),
                ),
            ),
            (
                "service ports merged by port",
                "",
                "Service",
                json!({"spec": {"ports": [{"port": 80, "targetPort": 8080}, {"port": 443}]}}),
                json!({"spec": {"ports": [{"port": 80, "targetPort": 9090}]}}),
                json!({"spec": {"ports": [{"port": 80, "targetPort": 9090}, {"port": 443}]}}),
            ),
            (
                "status conditions merged by type",
                "apps",
                "Deployment",
                json!({"status": {"conditions": [{"type": "Available", "status": "False"}, {"type": "Progressing", "status": "True"}]}}),
                json!({"status": {"conditions": [{"type": "Available", "status": "True"}]}}),
                json!({"status": {"conditions": [{"type": "Available", "status": "True"}, {"type": "Progressing", "status": "True"}]}}),
            ),
            (
                "cronjob pod template volumes by name, ownerReferences by uid",
                "batch",
                "CronJob",
                json!({
                    "metadata": {"ownerReferences": [{"uid": "1", "name": "x"}]},
                    "spec": {"jobTemplate": {"spec": {"template": {"spec": {"volumes": [{"name": "v", "emptyDir": {}}]}}}}}
                }),
                json!({
                    "metadata": {"ownerReferences": [{"uid": "2", "name": "y"}]},
                    "spec": {"jobTemplate": {"spec": {"template": {"spec": {"volumes": [{"name": "w", "secret": {"secretName": "s"}}]}}}}}
                }),
                json!({
                    "metadata": {"ownerReferences": [{"uid": "2", "name": "y"}, {"uid": "1", "name": "x"}]},
                    "spec": {"jobTemplate": {"spec": {"template": {"spec": {"volumes": [
                        {"name": "w", "secret": {"secretName": "s"}}, {"name": "v", "emptyDir": {}}
                    ]}}}}}
                }),
            ),
            (
                "merge list added where there was none: directives and nulls resolved",
                "",
                "Pod",
                json!({"spec": {}}),
                json!({"spec": {"containers": [
                    {"name": "a", "env": [{"name": "X", "value": "1"}], "stdin": null},
                    {"name": "gone", "$patch": "delete"}
                ]}}),
                json!({"spec": {"containers": [{"name": "a", "env": [{"name": "X", "value": "1"}]}]}}),
            ),
        ]);
    }

    #[test]
    fn primitive_lists() {
        run(vec![
            (
                "finalizers are unioned",
                "",
                "ConfigMap",
                json!({"metadata": {"finalizers": ["a", "b"]}}),
                json!({"metadata": {"finalizers": ["b", "c"]}}),
                json!({"metadata": {"finalizers": ["a", "b", "c"]}}),
            ),
            (
                "$deleteFromPrimitiveList removes values",
                "",
                "ConfigMap",
                json!({"metadata": {"finalizers": ["a", "b", "c"]}}),
                json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["b", "x"]}}),
                json!({"metadata": {"finalizers": ["a", "c"]}}),
            ),
            (
                "$deleteFromPrimitiveList on a missing list does nothing",
                "",
                "ConfigMap",
                json!({"metadata": {"name": "x"}}),
                json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["b"]}}),
                json!({"metadata": {"name": "x"}}),
            ),
            (
                // The design proposal's example; its prose says server-only items all go
                // first, but the implementation interleaves them by live position, as here.
                "add, delete and order finalizers together",
                "",
                "ConfigMap",
                json!({"metadata": {"finalizers": ["b", "e", "a", "c", "d"]}}),
                json!({"metadata": {
                    "$setElementOrder/finalizers": ["a", "b", "f"],
                    "$deleteFromPrimitiveList/finalizers": ["c"],
                    "finalizers": ["f"]
                }}),
                json!({"metadata": {"finalizers": ["e", "a", "b", "f", "d"]}}),
            ),
            (
                "node podCIDRs are unioned",
                "",
                "Node",
                json!({"spec": {"podCIDRs": ["10.0.0.0/24"]}}),
                json!({"spec": {"podCIDRs": ["10.0.0.0/24", "fd00::/64"]}}),
                json!({"spec": {"podCIDRs": ["10.0.0.0/24", "fd00::/64"]}}),
            ),
        ]);
    }

    #[test]
    fn patch_directive() {
        run(vec![
            (
                "$patch: replace on a map",
                "",
                "ConfigMap",
                json!({"data": {"a": "1", "b": "2"}}),
                json!({"data": {"$patch": "replace", "c": "3"}}),
                json!({"data": {"c": "3"}}),
            ),
            (
                "$patch: replace element replaces a merge list",
                "",
                "Pod",
                pod(json!([{"name": "a", "image": "x"}, {"name": "b", "image": "y"}])),
                json!({"spec": {"containers": [{"name": "c", "image": "z"}, {"$patch": "replace"}]}}),
                pod(json!([{"name": "c", "image": "z"}])),
            ),
            (
                "$patch: delete element removes by merge key",
                "",
                "Pod",
                pod(json!([{"name": "a"}, {"name": "b"}, {"name": "c"}])),
                json!({"spec": {"containers": [{"name": "b", "$patch": "delete"}]}}),
                pod(json!([{"name": "a"}, {"name": "c"}])),
            ),
            (
                "$patch: delete on a map removes it",
                "",
                "Pod",
                json!({"spec": {"securityContext": {"runAsUser": 1}, "x": 1}}),
                json!({"spec": {"securityContext": {"$patch": "delete"}}}),
                json!({"spec": {"x": 1}}),
            ),
            (
                "$patch: merge is the default",
                "",
                "ConfigMap",
                json!({"data": {"a": "1"}}),
                json!({"data": {"$patch": "merge", "b": "2"}}),
                json!({"data": {"a": "1", "b": "2"}}),
            ),
            (
                "$patch: replace at the root",
                "",
                "ConfigMap",
                json!({"data": {"a": "1"}, "metadata": {"name": "x"}}),
                json!({"$patch": "replace", "data": {"b": "2"}}),
                json!({"data": {"b": "2"}}),
            ),
            (
                "replace strategy on a map (PDB selector)",
                "policy",
                "PodDisruptionBudget",
                json!({"spec": {"selector": {"matchLabels": {"a": "1"}}, "minAvailable": 1}}),
                json!({"spec": {"selector": {"matchExpressions": [{"key": "b", "operator": "Exists"}]}}}),
                json!({"spec": {"selector": {"matchExpressions": [{"key": "b", "operator": "Exists"}]}, "minAvailable": 1}}),
            ),
        ]);
    }

    #[test]
    fn set_element_order() {
        run(vec![
            (
                "the real kubectl apply body",
                "apps",
                "Deployment",
                json!({"spec": {"template": {"spec": {"containers": [
                    {"name": "a", "image": "nginx:1"},
                    {"name": "b", "image": "redis"}
                ]}}}}),
                json!({"spec":{"template":{"spec":{
                    "$setElementOrder/containers":[{"name":"a"},{"name":"c"}],
                    "containers":[{"image":"nginx:2","name":"a"},{"image":"busybox","name":"c"},{"$patch":"delete","name":"b"}]
                }}}}),
                json!({"spec": {"template": {"spec": {"containers": [
                    {"name": "a", "image": "nginx:2"},
                    {"name": "c", "image": "busybox"}
                ]}}}}),
            ),
            (
                "order only, no list changes",
                "",
                "Pod",
                pod(json!([{"name": "b"}, {"name": "a"}])),
                json!({"spec": {"$setElementOrder/containers": [{"name": "a"}, {"name": "b"}]}}),
                pod(json!([{"name": "a"}, {"name": "b"}])),
            ),
            (
                "server-only elements keep their relative order",
                "",
                "Pod",
                pod(
                    json!([{"name": "c"}, {"name": "b"}, {"name": "d"}, {"name": "a"}, {"name": "e"}]),
                ),
                json!({"spec": {
                    "$setElementOrder/containers": [{"name": "a"}, {"name": "b"}],
                    "containers": [{"name": "a", "image": "1"}, {"name": "b", "image": "2"}]
                }}),
                pod(
                    json!([{"name": "c"}, {"name": "d"}, {"name": "a", "image": "1"}, {"name": "b", "image": "2"}, {"name": "e"}]),
                ),
            ),
            (
                "order lists elements missing from the list",
                "",
                "Pod",
                pod(json!([{"name": "a"}, {"name": "b"}])),
                json!({"spec": {
                    "$setElementOrder/containers": [{"name": "c"}, {"name": "b"}, {"name": "a"}],
                    "containers": [{"name": "b", "image": "x"}]
                }}),
                pod(json!([{"name": "b", "image": "x"}, {"name": "a"}])),
            ),
            (
                "env order set by kubectl, deletion and addition",
                "",
                "Pod",
                pod(json!([{"name": "c", "env": [
                    {"name": "ENV2", "value": "bar"}, {"name": "ENV1", "value": "foo"}, {"name": "ENV3", "value": "baz"}
                ]}])),
                json!({"spec": {"containers": [{"name": "c",
                    "$setElementOrder/env": [{"name": "ENV1"}, {"name": "ENV2"}, {"name": "ENV6"}],
                    "env": [{"name": "ENV3", "$patch": "delete"}, {"name": "ENV6", "value": "new"}]
                }]}}),
                pod(json!([{"name": "c", "env": [
                    {"name": "ENV1", "value": "foo"}, {"name": "ENV2", "value": "bar"}, {"name": "ENV6", "value": "new"}
                ]}])),
            ),
            (
                "order on a list the object lacks and the patch does not set",
                "",
                "Pod",
                json!({"spec": {}}),
                json!({"spec": {"$setElementOrder/containers": [{"name": "a"}]}}),
                json!({"spec": {}}),
            ),
            (
                "order on a list without merge strategy is ignored",
                "",
                "Pod",
                json!({"spec": {"tolerations": [{"key": "b"}, {"key": "a"}]}}),
                json!({"spec": {"$setElementOrder/tolerations": [{"key": "a"}, {"key": "b"}]}}),
                json!({"spec": {"tolerations": [{"key": "b"}, {"key": "a"}]}}),
            ),
        ]);
    }

    #[test]
    fn retain_keys() {
        run(vec![
            (
                "deployment strategy switched to Recreate",
                "apps",
                "Deployment",
                json!({"spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}}}),
                json!({"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}}),
                json!({"spec": {"strategy": {"type": "Recreate"}}}),
            ),
            (
                "volume source switched",
                "",
                "Pod",
                json!({"spec": {"volumes": [{"name": "v", "emptyDir": {}}]}}),
                json!({"spec": {"volumes": [{"name": "v", "$retainKeys": ["name", "hostPath"], "hostPath": {"path": "/x"}}]}}),
                json!({"spec": {"volumes": [{"name": "v", "hostPath": {"path": "/x"}}]}}),
            ),
            (
                "retained keys still merge",
                "",
                "ConfigMap",
                json!({"data": {"a": "1", "b": "2", "c": "3"}}),
                json!({"data": {"$retainKeys": ["a", "b"], "b": "9", "c": null}}),
                json!({"data": {"a": "1", "b": "9"}}),
            ),
        ]);
    }

    #[test]
    fn errors() {
        let doc = pod(json!([{"name": "a"}]));
        // (patch, substring of the error)
        let cases = vec![
            (json!([]), "must be a JSON object, not a list"),
            (json!("x"), "must be a JSON object, not a string"),
            (json!(null), "must be a JSON object, not null"),
            (
                json!({"spec": {"$patch": "frob"}}),
                "at spec: unknown $patch directive",
            ),
            (
                json!({"spec": {"containers": [{"$patch": "delete"}]}}),
                "must have the merge key \"name\"",
            ),
            (
                json!({"spec": {"containers": [{"image": "x"}]}}),
                "has no merge key \"name\"",
            ),
            (
                json!({"spec": {"containers": ["a"]}}),
                "at spec.containers: elements of this list are objects",
            ),
            (
                json!({"spec": {"containers": [{"name": "a", "$patch": 1}]}}),
                "unknown $patch directive 1",
            ),
            (
                json!({"spec": {"$setElementOrder/containers": [{"name": "b"}], "containers": [{"name": "a"}]}}),
                "which $setElementOrder does not list",
            ),
            (
                json!({"spec": {
                    "$setElementOrder/containers": [{"name": "a"}, {"name": "b"}],
                    "containers": [{"name": "b"}, {"name": "a"}]
                }}),
                "in a different order",
            ),
            (
                json!({"spec": {"$setElementOrder/containers": [{"image": "b"}]}}),
                "has no merge key",
            ),
            (
                json!({"spec": {"$setElementOrder/containers": {}}}),
                "$setElementOrder must be a list",
            ),
            (
                json!({"metadata": {"$deleteFromPrimitiveList/finalizers": "a"}}),
                "must be a list of values",
            ),
            (
                json!({"metadata": {"finalizers": [{"a": 1}]}}),
                "holds plain values",
            ),
            (
                json!({"spec": {"$retainKeys": "x"}}),
                "$retainKeys must be a list",
            ),
            (
                json!({"spec": {"$retainKeys": ["a"], "b": 1}}),
                "the patch sets \"b\", which $retainKeys does not list",
            ),
            (json!({"$setElementOrder/": []}), "names no field"),
        ];
        for (patch, want) in cases {
            let msg = apply_strategic_merge_patch(&doc, &patch, "", "Pod")
                .err()
                .unwrap_or_else(|| panic!("{patch} should fail"))
                .to_string();
            assert!(msg.contains(want), "{patch}: got {msg:?}, want {want:?}");
        }
        let msg = apply_strategic_merge_patch(&json!([1]), &json!({}), "", "Pod")
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            msg.as_deref(),
            Some("invalid patch document: the object being patched is a list, not a JSON object")
        );
    }

    #[test]
    fn arrange_interleaves_like_upstream() {
        // Design proposal: live [B, C, A], patch [A', B', D] -> [C, A', B', D].
        let live = vec![json!("B"), json!("C"), json!("A")];
        let patch = vec![json!("A"), json!("B"), json!("D")];
        let merged = vec![json!("B"), json!("C"), json!("A"), json!("D")];
        assert_eq!(
            arrange(merged, &patch, &live, None),
            vec![json!("C"), json!("A"), json!("B"), json!("D")]
        );
        // Upstream interleaving: server-only E, after the patch's last known element, stays last.
        let live = vec![json!("C"), json!("B"), json!("D"), json!("A"), json!("E")];
        let order = vec![json!("A"), json!("B")];
        assert_eq!(
            arrange(live.clone(), &order, &live, None),
            vec![json!("C"), json!("D"), json!("A"), json!("B"), json!("E")]
        );
    }
}
