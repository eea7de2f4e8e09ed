//! Walks over objects guided by [`Schema`]: the field set of a value, the comparison of two
//! values, the merge of an applied configuration into a live object, and removal of fields.
//!
//! These follow structured-merge-diff's semantics: objects are granular unless atomic, lists
//! are atomic unless they are sets or list-type maps, and an empty (or missing) object or list
//! on both sides counts as a single value so that `{}` and absence stay distinguishable.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::LazyLock;

use serde_json::{Map, Value};

use super::fieldset::{path_string, FieldSet, Path, PathElement};
use super::schema::{key_default, ListType, Schema};

/// `{}` and `[]`, standing in for Go zero values a JSON document leaves out.
static EMPTY: LazyLock<Value> = LazyLock::new(|| Value::Object(Map::new()));
static EMPTY_LIST: LazyLock<Value> = LazyLock::new(|| Value::Array(Vec::new()));

/// What changed between two values.
#[derive(Debug, Default)]
pub(crate) struct Comparison {
    /// Present before, gone after.
    pub removed: FieldSet,
    /// Present in both, with different values.
    pub modified: FieldSet,
    /// Absent before, present after.
    pub added: FieldSet,
}

/// Something wrong with the shape of an applied configuration.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ShapeError {
    /// Where, in upstream's path rendering.
    pub path: String,
    /// What.
    pub message: String,
}

pub(crate) struct Walker<'s> {
    schema: &'s Schema<'s>,
}

fn is_empty_value(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => true,
        Some(Value::Object(m)) => m.is_empty(),
        Some(Value::Array(a)) => a.is_empty(),
        Some(_) => false,
    }
}

impl<'s> Walker<'s> {
    pub(crate) fn new(schema: &'s Schema<'s>) -> Self {
        Walker { schema }
    }

    fn atomic_map(&self, path: &Path, names: &[&str]) -> bool {
        !path.is_empty() && self.schema.map_is_atomic(names)
    }

    /// The path element of one list item.
    fn item_element(list: &ListType, item: &Value) -> Result<PathElement, String> {
        match list {
            ListType::Map { keys, .. } => {
                let Value::Object(m) = item else {
                    return Err(if item.is_null() {
                        "associative list with keys may not have a null element".into()
                    } else {
                        "associative list with keys may not have non-map elements".into()
                    });
                };
                let fields = keys
                    .iter()
                    .map(|k| {
                        let v = m.get(k.as_ref()).cloned().unwrap_or_else(|| key_default(k));
                        (k.to_string(), v)
                    })
                    .collect();
                Ok(PathElement::key(fields))
            }
            ListType::Set => match item {
                Value::Object(_) => {
                    Err("associative list without keys has an element that's a map type".into())
                }
                Value::Array(_) => {
                    Err("not supported: associative list with lists as elements".into())
                }
                Value::Null => Err(
                    "associative list without keys has an element that's an explicit null".into(),
                ),
                v => Ok(PathElement::Value(v.clone())),
            },
            ListType::Atomic => Err("invalid indexing of non-associative list".into()),
        }
    }

    /// The path elements of a list's items, or `None` if one cannot be built.
    fn elements(list: &ListType, items: &[Value]) -> Option<Vec<PathElement>> {
        items
            .iter()
            .map(|i| Self::item_element(list, i).ok())
            .collect()
    }

    /// Checks an applied configuration: list items must have usable keys and no duplicates.
    pub(crate) fn check(&self, v: &Value) -> Vec<ShapeError> {
        let mut errs = Vec::new();
        self.check_at(v, &mut Vec::new(), &mut Vec::new(), &mut errs);
        errs
    }

    fn check_at<'v>(
        &self,
        v: &'v Value,
        path: &mut Path,
        names: &mut Vec<&'v str>,
        errs: &mut Vec<ShapeError>,
    ) {
        match v {
            Value::Object(m) => {
                if self.atomic_map(path, names) {
                    return;
                }
                for (k, c) in m {
                    path.push(PathElement::Field(k.clone()));
                    names.push(k);
                    self.check_at(c, path, names, errs);
                    names.pop();
                    path.pop();
                }
            }
            Value::Array(items) => {
                let list = self.schema.list_type(names);
                if list == ListType::Atomic {
                    return;
                }
                let mut seen = BTreeSet::new();
                for (i, item) in items.iter().enumerate() {
                    match Self::item_element(&list, item) {
                        Err(e) => errs.push(ShapeError {
                            path: path_string(path),
                            message: format!("element {i}: {e}"),
                        }),
                        Ok(pe) => {
                            if seen.contains(&pe) {
                                errs.push(ShapeError {
                                    path: path_string(path),
                                    message: format!("duplicate entries for key {pe}"),
                                });
                                continue;
                            }
                            seen.insert(pe.clone());
                            if let ListType::Map {
                                atomic_items: false,
                                ..
                            } = list
                            {
                                path.push(pe);
                                self.check_at(item, path, names, errs);
                                path.pop();
                            }
                        }
                    }
                }
            }
            _ => {}
        }
    }

    /// The fields a value sets: its leaves, list items, atomic maps and lists, and empty or
    /// `null` values.
    pub(crate) fn field_set(&self, v: &Value) -> FieldSet {
        let mut out = FieldSet::new();
        self.fields_at(v, &mut Vec::new(), &mut Vec::new(), &mut out);
        out
    }

    fn fields_at<'v>(
        &self,
        v: &'v Value,
        path: &mut Path,
        names: &mut Vec<&'v str>,
        out: &mut FieldSet,
    ) {
        match v {
            Value::Object(m) => {
                if self.atomic_map(path, names) {
                    out.insert(path);
                    return;
                }
                let free_form = self.schema.is_free_form(names);
                for (k, c) in m {
                    path.push(PathElement::Field(k.clone()));
                    names.push(k);
                    self.fields_at(c, path, names, out);
                    if free_form || c.is_null() || c.as_object().is_some_and(Map::is_empty) {
                        out.insert(path);
                    }
                    names.pop();
                    path.pop();
                }
            }
            Value::Array(items) => {
                let list = self.schema.list_type(names);
                if list == ListType::Atomic {
                    out.insert(path);
                    return;
                }
                let pes: Vec<Option<PathElement>> = items
                    .iter()
                    .map(|i| Self::item_element(&list, i).ok())
                    .collect();
                let mut seen = BTreeSet::new();
                let mut dups = BTreeSet::new();
                for pe in pes.iter().flatten() {
                    if !seen.insert(pe.clone()) && dups.insert(pe.clone()) {
                        path.push(pe.clone());
                        out.insert(path);
                        path.pop();
                    }
                }
                for (item, pe) in items.iter().zip(pes) {
                    let Some(pe) = pe else { continue };
                    if dups.contains(&pe) {
                        continue;
                    }
                    path.push(pe);
                    if let ListType::Map {
                        atomic_items: false,
                        ..
                    } = list
                    {
                        self.fields_at(item, path, names, out);
                    }
                    out.insert(path);
                    path.pop();
                }
            }
            _ => out.insert(path),
        }
    }

    /// What changed from `l` to `r`.
    pub(crate) fn compare(&self, l: &Value, r: &Value) -> Comparison {
        let mut out = Comparison::default();
        let (mut path, mut names) = (Vec::new(), Vec::new());
        self.compare_at(
            Some(l),
            Some(r),
            (true, true),
            &mut path,
            &mut names,
            &mut out,
        );
        out
    }

    fn leaf(l: Option<&Value>, r: Option<&Value>, path: &Path, out: &mut Comparison) {
        match (l, r) {
            (None, Some(_)) => out.added.insert(path),
            (Some(_), None) => out.removed.insert(path),
            (Some(a), Some(b)) if a != b => out.modified.insert(path),
            _ => {}
        }
    }

    /// Compares `l` and `r` at `path`; `parents` says whether the enclosing value exists on
    /// each side (a field that is always present is only implied where its parent is).
    fn compare_at<'v>(
        &self,
        l: Option<&'v Value>,
        r: Option<&'v Value>,
        parents: (bool, bool),
        path: &mut Path,
        names: &mut Vec<&'v str>,
        out: &mut Comparison,
    ) {
        let implied = |parent: bool, other: &'v Value| -> Option<&'v Value> {
            (parent
                && matches!(path.last(), Some(PathElement::Field(_)))
                && self.schema.always_present(names))
            .then(|| {
                if other.is_array() {
                    &*EMPTY_LIST
                } else {
                    &*EMPTY
                }
            })
        };
        let (l, r) = match (l, r) {
            (None, Some(other)) => (implied(parents.0, other), r),
            (Some(other), None) => (l, implied(parents.1, other)),
            lr => lr,
        };
        let shape = match (l, r) {
            (None, None) => return,
            (Some(a), None) | (None, Some(a)) => a,
            (Some(a), Some(b)) => {
                if std::mem::discriminant(a) != std::mem::discriminant(b) {
                    return Self::leaf(l, r, path, out);
                }
                b
            }
        };
        let here = (l.is_some(), r.is_some());
        match shape {
            Value::Object(_) => {
                let both_empty = is_empty_value(l) && is_empty_value(r);
                if self.atomic_map(path, names) || both_empty {
                    return Self::leaf(l, r, path, out);
                }
                let lm = l.and_then(Value::as_object);
                let rm = r.and_then(Value::as_object);
                for (k, lv) in lm.into_iter().flatten() {
                    path.push(PathElement::Field(k.clone()));
                    names.push(k);
                    let rv = rm.and_then(|m| m.get(k));
                    self.compare_at(Some(lv), rv, here, path, names, out);
                    names.pop();
                    path.pop();
                }
                for (k, rv) in rm.into_iter().flatten() {
                    if lm.is_some_and(|m| m.contains_key(k)) {
                        continue;
                    }
                    path.push(PathElement::Field(k.clone()));
                    names.push(k);
                    self.compare_at(None, Some(rv), here, path, names, out);
                    names.pop();
                    path.pop();
                }
            }
            Value::Array(_) => {
                let list = self.schema.list_type(names);
                let both_empty = is_empty_value(l) && is_empty_value(r);
                if list == ListType::Atomic || both_empty {
                    return Self::leaf(l, r, path, out);
                }
                let la: &[Value] = l.and_then(Value::as_array).map_or(&[], Vec::as_slice);
                let ra: &[Value] = r.and_then(Value::as_array).map_or(&[], Vec::as_slice);
                let (Some(lpes), Some(rpes)) =
                    (Self::elements(&list, la), Self::elements(&list, ra))
                else {
                    return Self::leaf(l, r, path, out);
                };
                self.compare_items(&list, la, &lpes, ra, &rpes, path, names, out);
            }
            _ => return Self::leaf(l, r, path, out),
        }
        if l.is_none() {
            out.added.insert(path);
        } else if r.is_none() {
            out.removed.insert(path);
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn compare_items<'v>(
        &self,
        list: &ListType,
        la: &'v [Value],
        lpes: &[PathElement],
        ra: &'v [Value],
        rpes: &[PathElement],
        path: &mut Path,
        names: &mut Vec<&'v str>,
        out: &mut Comparison,
    ) {
        let mut order: Vec<&PathElement> = Vec::new();
        let mut lvals: BTreeMap<&PathElement, Vec<&'v Value>> = BTreeMap::new();
        let mut rvals: BTreeMap<&PathElement, Vec<&'v Value>> = BTreeMap::new();
        for (pe, v) in lpes.iter().zip(la) {
            let e = lvals.entry(pe).or_default();
            if e.is_empty() {
                order.push(pe);
            }
            e.push(v);
        }
        for (pe, v) in rpes.iter().zip(ra) {
            let e = rvals.entry(pe).or_default();
            if e.is_empty() && !lvals.contains_key(pe) {
                order.push(pe);
            }
            e.push(v);
        }
        let atomic_items = matches!(
            list,
            ListType::Map {
                atomic_items: true,
                ..
            }
        );
        for pe in order {
            let ls = lvals.get(pe).map_or(&[][..], Vec::as_slice);
            let rs = rvals.get(pe).map_or(&[][..], Vec::as_slice);
            path.push(pe.clone());
            match (ls.len(), rs.len()) {
                (0..=1, 0..=1) => {
                    let (l, r) = (ls.first().copied(), rs.first().copied());
                    if atomic_items || *list == ListType::Set {
                        Self::leaf(l, r, path, out);
                    } else {
                        self.compare_at(l, r, (true, true), path, names, out);
                    }
                }
                (_, 2..) if ls.len() >= 2 => {
                    if ls != rs {
                        out.modified.insert(path);
                    }
                }
                (2.., _) => out.removed.insert(path),
                _ => out.added.insert(path),
            }
            path.pop();
        }
    }

    /// `l` with `r` merged in: objects key by key, list-type maps item by item (by key),
    /// sets by value; everything else, and atomic values, taken from `r`.
    pub(crate) fn merge(&self, l: &Value, r: &Value) -> Value {
        self.merge_at(Some(l), Some(r), &mut Vec::new(), &mut Vec::new())
            .unwrap_or_else(|| Value::Object(Map::new()))
    }

    fn merge_at<'v>(
        &self,
        l: Option<&'v Value>,
        r: Option<&'v Value>,
        path: &mut Path,
        names: &mut Vec<&'v str>,
    ) -> Option<Value> {
        let (l, r) = match (l, r) {
            (l, None) => return l.cloned(),
            (None, Some(r)) => return Some(r.clone()),
            (Some(l), Some(r)) => (l, r),
        };
        match (l, r) {
            // A null in the configuration leaves a granular object or list as it was.
            (Value::Object(_), Value::Null) if !self.atomic_map(path, names) => Some(l.clone()),
            (Value::Array(items), Value::Null)
                if !items.is_empty() && self.schema.list_type(names) != ListType::Atomic =>
            {
                Some(l.clone())
            }
            (Value::Object(lm), Value::Object(rm)) => {
                if self.atomic_map(path, names) || (lm.is_empty() && rm.is_empty()) {
                    return Some(r.clone());
                }
                let mut out = Map::new();
                for (k, lv) in lm {
                    path.push(PathElement::Field(k.clone()));
                    names.push(k);
                    if let Some(v) = self.merge_at(Some(lv), rm.get(k), path, names) {
                        out.insert(k.clone(), v);
                    }
                    names.pop();
                    path.pop();
                }
                for (k, rv) in rm {
                    if !lm.contains_key(k) {
                        out.insert(k.clone(), rv.clone());
                    }
                }
                (!out.is_empty()).then_some(Value::Object(out))
            }
            (Value::Array(la), Value::Array(ra)) => {
                let list = self.schema.list_type(names);
                if list == ListType::Atomic || (la.is_empty() && ra.is_empty()) {
                    return Some(r.clone());
                }
                let (Some(lpes), Some(rpes)) =
                    (Self::elements(&list, la), Self::elements(&list, ra))
                else {
                    return Some(r.clone());
                };
                let out = self.merge_items(&list, la, &lpes, ra, &rpes, path, names);
                (!out.is_empty()).then_some(Value::Array(out))
            }
            _ => Some(r.clone()),
        }
    }

    /// Merges list items in upstream's order: items the configuration names follow its
    /// order; live-only items keep their place relative to the shared ones.
    #[allow(clippy::too_many_arguments)]
    fn merge_items<'v>(
        &self,
        list: &ListType,
        la: &'v [Value],
        lpes: &[PathElement],
        ra: &'v [Value],
        rpes: &[PathElement],
        path: &mut Path,
        names: &mut Vec<&'v str>,
    ) -> Vec<Value> {
        let mut lidx: BTreeMap<&PathElement, usize> = BTreeMap::new();
        for (i, pe) in lpes.iter().enumerate() {
            lidx.entry(pe).or_insert(i);
        }
        let mut ridx: BTreeMap<&PathElement, usize> = BTreeMap::new();
        for (i, pe) in rpes.iter().enumerate() {
            ridx.entry(pe).or_insert(i);
        }
        let mut shared = rpes.iter().filter(|pe| lidx.contains_key(pe));
        let mut next_shared = shared.next();
        let mut merged_rhs: BTreeSet<&PathElement> = BTreeSet::new();
        let atomic_items = matches!(
            list,
            ListType::Map {
                atomic_items: true,
                ..
            }
        );
        let mut item = |l: Option<&'v Value>, r: Option<&'v Value>, pe: &PathElement| {
            if atomic_items || *list == ListType::Set {
                return r.or(l).cloned();
            }
            path.push(pe.clone());
            let out = self.merge_at(l, r, path, names);
            path.pop();
            out
        };
        let mut out = Vec::new();
        let (ln, rn) = (lpes.len(), rpes.len());
        let (mut li, mut ri) = (0, 0);
        while li < ln || ri < rn {
            if li < ln && ri < rn {
                let pe = &lpes[li];
                if *pe == rpes[ri] {
                    merged_rhs.insert(pe);
                    let l = lidx.get(pe).map(|&i| &la[i]);
                    let r = ridx.get(pe).map(|&i| &ra[i]);
                    out.extend(item(l, r, pe));
                    li += 1;
                    ri += 1;
                    next_shared = shared.next();
                    continue;
                }
                if ridx.contains_key(pe) && next_shared.is_some_and(|n| n != pe) {
                    li += 1;
                    continue;
                }
            }
            if li < ln {
                let pe = &lpes[li];
                if !ridx.contains_key(pe) {
                    out.extend(item(Some(&la[li]), None, pe));
                    li += 1;
                    continue;
                } else if merged_rhs.contains(pe) {
                    li += 1;
                }
            }
            if ri < rn {
                let pe = &rpes[ri];
                merged_rhs.insert(pe);
                let l = lidx.get(pe).map(|&i| &la[i]);
                out.extend(item(l, Some(&ra[ri]), pe));
                ri += 1;
                if next_shared == Some(pe) {
                    next_shared = shared.next();
                }
            }
        }
        out
    }

    /// `v` without the paths in `set` (each with everything below it). Objects and lists
    /// left empty by the removal disappear, as their typed form would.
    pub(crate) fn remove(&self, v: &Value, set: &FieldSet) -> Value {
        self.remove_at(v, set, &mut Vec::new(), &mut Vec::new())
            .unwrap_or_else(|| Value::Object(Map::new()))
    }

    fn remove_at<'v>(
        &self,
        v: &'v Value,
        set: &FieldSet,
        path: &mut Path,
        names: &mut Vec<&'v str>,
    ) -> Option<Value> {
        match v {
            Value::Object(m) if !self.atomic_map(path, names) => {
                let mut out = Map::new();
                for (k, c) in m {
                    let pe = PathElement::Field(k.clone());
                    if set.has_member(&pe) {
                        continue;
                    }
                    match set.child(&pe) {
                        Some(sub) => {
                            path.push(pe);
                            names.push(k);
                            let kept = self.remove_at(c, sub, path, names);
                            names.pop();
                            path.pop();
                            if let Some(kept) = kept {
                                out.insert(k.clone(), kept);
                            }
                        }
                        None => {
                            out.insert(k.clone(), c.clone());
                        }
                    }
                }
                (!out.is_empty()).then_some(Value::Object(out))
            }
            Value::Array(items) => {
                let list = self.schema.list_type(names);
                if list == ListType::Atomic {
                    return Some(v.clone());
                }
                let mut out = Vec::new();
                for item in items {
                    let Ok(pe) = Self::item_element(&list, item) else {
                        out.push(item.clone());
                        continue;
                    };
                    if set.has_member(&pe) {
                        continue;
                    }
                    match set.child(&pe) {
                        Some(sub) => {
                            path.push(pe);
                            let kept = self.remove_at(item, sub, path, names);
                            path.pop();
                            out.push(kept.unwrap_or_else(|| Value::Object(Map::new())));
                        }
                        None => out.push(item.clone()),
                    }
                }
                (!out.is_empty()).then_some(Value::Array(out))
            }
            _ => Some(v.clone()),
        }
    }

    /// Whether `path` names a struct field (as opposed to a list item or a key of a
    /// free-form map): owning anything below such a field counts as owning the field.
    pub(crate) fn is_named(&self, path: &[PathElement]) -> bool {
        let Some((PathElement::Field(_), parent)) = path.split_last() else {
            return false;
        };
        match parent.last() {
            Some(PathElement::Field(_)) => {
                let names: Vec<&str> = parent
                    .iter()
                    .filter_map(|pe| match pe {
                        PathElement::Field(n) => Some(n.as_str()),
                        _ => None,
                    })
                    .collect();
                !self.schema.is_free_form(&names)
            }
            _ => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields(group: &str, kind: &str, v: Value) -> Value {
        let schema = Schema::new(group, kind);
        Walker::new(&schema).field_set(&v).to_fields_v1()
    }

    #[test]
    fn field_sets_of_applied_configurations() {
        let deploy = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "labels": {"app": "web"}},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [
                    {"name": "web", "image": "nginx", "ports": [{"containerPort": 80}],
                     "resources": {}}]}}}});
        assert_eq!(
            fields("apps", "Deployment", deploy),
            json!({"f:apiVersion":{},"f:kind":{},"f:metadata":{"f:labels":{"f:app":{}},"f:name":{}},
                "f:spec":{"f:replicas":{},"f:selector":{},"f:template":{"f:metadata":{"f:labels":{"f:app":{}}},
                "f:spec":{"f:containers":{"k:{\"name\":\"web\"}":{".":{},"f:image":{},"f:name":{},
                "f:ports":{"k:{\"containerPort\":80,\"protocol\":\"TCP\"}":{".":{},"f:containerPort":{}}},
                "f:resources":{}}}}}}})
        );
        let pod = json!({"metadata": {"finalizers": ["a", "b"], "ownerReferences": [{"uid": "u1", "name": "x"}]},
            "spec": {"tolerations": [{"key": "k"}], "containers": [{"name": "a", "args": ["x"]}]}});
        assert_eq!(
            fields("", "Pod", pod),
            json!({"f:metadata":{"f:finalizers":{"v:\"a\"":{},"v:\"b\"":{}},"f:ownerReferences":{"k:{\"uid\":\"u1\"}":{}}},
                "f:spec":{"f:containers":{"k:{\"name\":\"a\"}":{".":{},"f:args":{},"f:name":{}}},"f:tolerations":{}}})
        );
    }

    #[test]
    fn shape_errors_name_the_path() {
        let schema = Schema::new("apps", "Deployment");
        let w = Walker::new(&schema);
        let bad = json!({"spec": {"template": {"spec": {"containers": [
            {"name": "c", "env": [{"name": "FOO"}, {"name": "FOO"}]}, "oops"]}}}});
        let errs = w.check(&bad);
        assert_eq!(errs.len(), 2, "{errs:?}");
        assert_eq!(
            errs[0].path,
            ".spec.template.spec.containers[name=\"c\"].env"
        );
        assert_eq!(errs[0].message, "duplicate entries for key [name=\"FOO\"]");
        assert_eq!(errs[1].path, ".spec.template.spec.containers");
        assert_eq!(
            errs[1].message,
            "element 1: associative list with keys may not have non-map elements"
        );
    }

    #[test]
    fn merge_follows_list_semantics() {
        let schema = Schema::new("apps", "Deployment");
        let w = Walker::new(&schema);
        let live = json!({"spec": {"replicas": 1, "selector": {"matchLabels": {"a": "1", "b": "2"}},
            "template": {"spec": {"containers": [
                {"name": "a", "image": "a:1", "args": ["x", "y"]},
                {"name": "b", "image": "b:1"}],
                "tolerations": [{"key": "t1"}]}}}});
        let applied = json!({"spec": {"selector": {"matchLabels": {"a": "1"}},
            "template": {"spec": {"containers": [
                {"name": "c", "image": "c:1"},
                {"name": "a", "args": ["z"]}],
                "tolerations": [{"key": "t2"}]}}}});
        let merged = w.merge(&live, &applied);
        assert_eq!(
            merged,
            json!({"spec": {"replicas": 1, "selector": {"matchLabels": {"a": "1"}},
            "template": {"spec": {"containers": [
                {"name": "c", "image": "c:1"},
                {"name": "a", "image": "a:1", "args": ["z"]},
                {"name": "b", "image": "b:1"}],
                "tolerations": [{"key": "t2"}]}}}})
        );
    }

    #[test]
    fn compare_reports_leaves_and_new_parents() {
        let schema = Schema::new("", "ConfigMap");
        let w = Walker::new(&schema);
        let cmp = w.compare(
            &json!({"metadata": {"name": "x"}, "data": {"a": "1", "b": "2"}}),
            &json!({"metadata": {"name": "x", "labels": {"l": "v"}}, "data": {"a": "9"}}),
        );
        assert_eq!(cmp.modified.to_fields_v1(), json!({"f:data": {"f:a": {}}}));
        assert_eq!(cmp.removed.to_fields_v1(), json!({"f:data": {"f:b": {}}}));
        assert_eq!(
            cmp.added.to_fields_v1(),
            json!({"f:metadata": {"f:labels": {".": {}, "f:l": {}}}})
        );
        // Creating a Deployment: its zero-value structs are not "added" themselves.
        let schema = Schema::new("apps", "Deployment");
        let w = Walker::new(&schema);
        let cmp = w.compare(
            &json!({}),
            &json!({"spec": {"replicas": 1, "strategy": {"type": "Recreate"},
            "template": {"spec": {"containers": [{"name": "a"}]}}}}),
        );
        assert_eq!(
            cmp.added.to_fields_v1(),
            json!({"f:spec": {"f:replicas": {}, "f:strategy": {"f:type": {}},
            "f:template": {"f:spec": {"f:containers": {"k:{\"name\":\"a\"}": {".": {}, "f:name": {}}}}}}})
        );
    }

    #[test]
    fn remove_drops_emptied_parents() {
        let schema = Schema::new("", "ConfigMap");
        let w = Walker::new(&schema);
        let set = FieldSet::from_fields_v1(
            &json!({"f:data": {"f:a": {}}, "f:metadata": {"f:labels": {"f:x": {}}}}),
        )
        .unwrap();
        let out = w.remove(
            &json!({"metadata": {"name": "n", "labels": {"x": "1"}}, "data": {"a": "1", "b": "2"}}),
            &set,
        );
        assert_eq!(out, json!({"metadata": {"name": "n"}, "data": {"b": "2"}}));
    }
}
