//! Field paths and sets of them, with the `FieldsV1` form they take in `managedFields`.
//!
//! A path walks from the object root: `.spec`, `.containers`, `[name="web"]`, `.image`. A set
//! is a trie of path elements; a path is a *member* when the set contains it itself (a leaf
//! value, a list item, an atomic map), and a *child* prefix when the set contains paths below
//! it. `FieldsV1` writes the trie as nested JSON objects keyed `f:<field>`, `k:<key fields>`,
//! `v:<value>` and `i:<index>`, with `"."` marking a prefix that is itself a member.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde_json::{Map, Value};

/// Why a `FieldsV1` document (or a managedFields entry) could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid managedFields: {0}")]
pub struct FieldsError(pub String);

/// One step of a field path.
#[derive(Debug, Clone)]
pub enum PathElement {
    /// A field of an object: `f:name`, rendered `.name`.
    Field(String),
    /// An item of a list-type map, by its key fields sorted by name: `k:{"name":"web"}`,
    /// rendered `[name="web"]`.
    Key(Vec<(String, Value)>),
    /// An item of a list-type set, by value: `v:"a"`, rendered `[="a"]`.
    Value(Value),
    /// A list item by position: `i:0`. Read from old entries; never produced here.
    Index(u64),
}

impl PathElement {
    fn rank(&self) -> u8 {
        match self {
            PathElement::Field(_) => 0,
            PathElement::Key(_) => 1,
            PathElement::Value(_) => 2,
            PathElement::Index(_) => 3,
        }
    }

    /// The key of this element in a `FieldsV1` object.
    pub fn to_wire(&self) -> String {
        match self {
            PathElement::Field(name) => format!("f:{name}"),
            PathElement::Key(fields) => {
                let mut m = Map::new();
                for (k, v) in fields {
                    m.insert(k.clone(), v.clone());
                }
                format!("k:{}", Value::Object(m))
            }
            PathElement::Value(v) => format!("v:{v}"),
            PathElement::Index(i) => format!("i:{i}"),
        }
    }

    /// Reads one `FieldsV1` key.
    pub fn from_wire(s: &str) -> Result<Self, FieldsError> {
        let bad = |why: &str| FieldsError(format!("bad path element {s:?}: {why}"));
        let (kind, rest) = s.split_at_checked(2).ok_or_else(|| bad("too short"))?;
        match kind {
            "f:" => Ok(PathElement::Field(rest.to_string())),
            "v:" => serde_json::from_str(rest)
                .map(PathElement::Value)
                .map_err(|e| bad(&e.to_string())),
            "k:" => match serde_json::from_str::<Value>(rest) {
                Ok(Value::Object(m)) => Ok(PathElement::key(m.into_iter().collect())),
                Ok(_) => Err(bad("key is not a JSON object")),
                Err(e) => Err(bad(&e.to_string())),
            },
            "i:" => rest
                .parse()
                .map(PathElement::Index)
                .map_err(|e| bad(&e.to_string())),
            _ => Err(bad("unknown element type")),
        }
    }

    /// A key element; the fields are sorted by name, as every key is stored.
    pub fn key(mut fields: Vec<(String, Value)>) -> Self {
        fields.sort_by(|a, b| a.0.cmp(&b.0));
        PathElement::Key(fields)
    }
}

/// Orders values as structured-merge-diff does: numbers, strings, booleans, lists, maps, null.
fn compare_values(a: &Value, b: &Value) -> Ordering {
    fn rank(v: &Value) -> u8 {
        match v {
            Value::Number(_) => 0,
            Value::String(_) => 1,
            Value::Bool(_) => 2,
            Value::Array(_) => 3,
            Value::Object(_) => 4,
            Value::Null => 5,
        }
    }
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            let (x, y) = (x.as_f64().unwrap_or(0.0), y.as_f64().unwrap_or(0.0));
            x.partial_cmp(&y)
                .unwrap_or(Ordering::Equal)
                .then_with(|| a.to_string().cmp(&b.to_string()))
        }
        (Value::String(x), Value::String(y)) => x.cmp(y),
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        (Value::Array(x), Value::Array(y)) => x
            .iter()
            .zip(y)
            .map(|(p, q)| compare_values(p, q))
            .find(|o| o.is_ne())
            .unwrap_or_else(|| x.len().cmp(&y.len())),
        (Value::Object(_), Value::Object(_)) => a.to_string().cmp(&b.to_string()),
        _ => rank(a).cmp(&rank(b)),
    }
}

impl Ord for PathElement {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (PathElement::Field(a), PathElement::Field(b)) => a.cmp(b),
            (PathElement::Key(a), PathElement::Key(b)) => {
                for ((an, av), (bn, bv)) in a.iter().zip(b) {
                    let o = an.cmp(bn).then_with(|| compare_values(av, bv));
                    if o.is_ne() {
                        return o;
                    }
                }
                a.len().cmp(&b.len())
            }
            (PathElement::Value(a), PathElement::Value(b)) => compare_values(a, b),
            (PathElement::Index(a), PathElement::Index(b)) => a.cmp(b),
            _ => self.rank().cmp(&other.rank()),
        }
    }
}

impl PartialOrd for PathElement {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for PathElement {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other).is_eq()
    }
}

impl Eq for PathElement {}

/// A value as structured-merge-diff prints it inside a path.
fn value_string(v: &Value) -> String {
    match v {
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(value_string).collect::<Vec<_>>().join(",")
        ),
        Value::Object(m) => m
            .iter()
            .map(|(k, v)| format!("{k}={}", value_string(v)))
            .collect(),
        other => other.to_string(),
    }
}

impl fmt::Display for PathElement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PathElement::Field(name) => write!(f, ".{name}"),
            PathElement::Key(fields) => {
                let parts: Vec<String> = fields
                    .iter()
                    .map(|(k, v)| format!("{k}={}", value_string(v)))
                    .collect();
                write!(f, "[{}]", parts.join(","))
            }
            PathElement::Value(v) => write!(f, "[={}]", value_string(v)),
            PathElement::Index(i) => write!(f, "[{i}]"),
        }
    }
}

/// A field path from the object root.
pub type Path = Vec<PathElement>;

/// A path as upstream prints it in conflicts: `.spec.containers[name="web"].image`.
pub fn path_string(path: &[PathElement]) -> String {
    path.iter().map(ToString::to_string).collect()
}

/// A set of field paths.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldSet {
    members: BTreeSet<PathElement>,
    /// Never holds an empty set.
    children: BTreeMap<PathElement, FieldSet>,
}

impl FieldSet {
    /// The empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether the set holds no path.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty() && self.children.is_empty()
    }

    /// Adds a path (the empty path is ignored: the root is never owned).
    pub fn insert(&mut self, path: &[PathElement]) {
        match path {
            [] => {}
            [last] => {
                self.members.insert(last.clone());
            }
            [first, rest @ ..] => self.children.entry(first.clone()).or_default().insert(rest),
        }
    }

    /// Whether the set holds exactly this path.
    pub fn has(&self, path: &[PathElement]) -> bool {
        match path {
            [] => false,
            [last] => self.members.contains(last),
            [first, rest @ ..] => self.children.get(first).is_some_and(|c| c.has(rest)),
        }
    }

    /// The paths below `pe`, relative to it.
    pub fn child(&self, pe: &PathElement) -> Option<&FieldSet> {
        self.children.get(pe)
    }

    /// Whether `pe` itself is in the set.
    pub fn has_member(&self, pe: &PathElement) -> bool {
        self.members.contains(pe)
    }

    /// Removes `pe` and everything below it.
    pub fn remove_subtree(&mut self, pe: &PathElement) {
        self.members.remove(pe);
        self.children.remove(pe);
    }

    /// Keeps only `pe` and everything below it.
    pub fn keep_subtree(&self, pe: &PathElement) -> FieldSet {
        let mut out = FieldSet::new();
        if self.members.contains(pe) {
            out.members.insert(pe.clone());
        }
        if let Some(c) = self.children.get(pe) {
            out.children.insert(pe.clone(), c.clone());
        }
        out
    }

    /// Paths in either set.
    pub fn union(&self, other: &FieldSet) -> FieldSet {
        let mut out = self.clone();
        out.members.extend(other.members.iter().cloned());
        for (pe, c) in &other.children {
            let merged = match out.children.get(pe) {
                Some(mine) => mine.union(c),
                None => c.clone(),
            };
            out.children.insert(pe.clone(), merged);
        }
        out
    }

    /// Paths in `self` that are not in `other` (exact paths; a member of `other` does not
    /// remove what lies below it in `self`).
    pub fn difference(&self, other: &FieldSet) -> FieldSet {
        let members = self.members.difference(&other.members).cloned().collect();
        let children = self
            .children
            .iter()
            .filter_map(|(pe, c)| {
                let d = match other.children.get(pe) {
                    Some(o) => c.difference(o),
                    None => c.clone(),
                };
                (!d.is_empty()).then(|| (pe.clone(), d))
            })
            .collect();
        FieldSet { members, children }
    }

    /// Paths in both sets.
    pub fn intersection(&self, other: &FieldSet) -> FieldSet {
        let members = self.members.intersection(&other.members).cloned().collect();
        let children = self
            .children
            .iter()
            .filter_map(|(pe, c)| {
                let o = other.children.get(pe)?;
                let i = c.intersection(o);
                (!i.is_empty()).then(|| (pe.clone(), i))
            })
            .collect();
        FieldSet { members, children }
    }

    /// Every path, in upstream's iteration order: a level's members, then its children.
    pub fn paths(&self) -> Vec<Path> {
        let mut out = Vec::new();
        self.collect(&mut Vec::new(), &mut out);
        out
    }

    fn collect(&self, prefix: &mut Path, out: &mut Vec<Path>) {
        for m in &self.members {
            let mut p = prefix.clone();
            p.push(m.clone());
            out.push(p);
        }
        for (pe, c) in &self.children {
            prefix.push(pe.clone());
            c.collect(prefix, out);
            prefix.pop();
        }
    }

    /// Adds, for every path, the prefixes `named` accepts (struct fields), so that owning
    /// `.spec.strategy.type` also counts as owning `.spec.strategy` and `.spec`.
    pub(crate) fn with_named_prefixes(&self, named: &dyn Fn(&[PathElement]) -> bool) -> FieldSet {
        let mut out = self.clone();
        out.add_named_prefixes(&mut Vec::new(), named);
        out
    }

    fn add_named_prefixes(&mut self, prefix: &mut Path, named: &dyn Fn(&[PathElement]) -> bool) {
        let keys: Vec<PathElement> = self.children.keys().cloned().collect();
        for pe in keys {
            prefix.push(pe.clone());
            if named(prefix) {
                self.members.insert(pe.clone());
            }
            if let Some(c) = self.children.get_mut(&pe) {
                c.add_named_prefixes(prefix, named);
            }
            prefix.pop();
        }
    }

    /// Reads a `FieldsV1` document.
    pub fn from_fields_v1(v: &Value) -> Result<FieldSet, FieldsError> {
        let Value::Object(m) = v else {
            return Err(FieldsError("fieldsV1 must be a JSON object".into()));
        };
        let mut out = FieldSet::new();
        for (k, child) in m {
            if k == "." {
                continue;
            }
            let pe = PathElement::from_wire(k)?;
            let Value::Object(cm) = child else {
                return Err(FieldsError(format!("the value of {k:?} must be an object")));
            };
            if cm.is_empty() || cm.contains_key(".") {
                out.members.insert(pe.clone());
            }
            let sub = FieldSet::from_fields_v1(child)?;
            if !sub.is_empty() {
                out.children.insert(pe, sub);
            }
        }
        Ok(out)
    }

    /// Writes the set as a `FieldsV1` document.
    pub fn to_fields_v1(&self) -> Value {
        Value::Object(self.emit(false))
    }

    fn emit(&self, include_self: bool) -> Map<String, Value> {
        let mut out = Map::new();
        if include_self && !self.is_empty() {
            out.insert(".".into(), Value::Object(Map::new()));
        }
        let mut keys: BTreeSet<&PathElement> = self.members.iter().collect();
        keys.extend(self.children.keys());
        for pe in keys {
            let value = match self.children.get(pe) {
                Some(c) => Value::Object(c.emit(self.members.contains(pe))),
                None => Value::Object(Map::new()),
            };
            out.insert(pe.to_wire(), value);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn f(name: &str) -> PathElement {
        PathElement::Field(name.into())
    }

    #[test]
    fn fields_v1_round_trip_of_kubectl_shaped_entries() {
        let docs = [
            // kubectl apply --server-side of a Deployment.
            json!({"f:metadata":{"f:labels":{"f:app":{}}},"f:spec":{"f:replicas":{},"f:selector":{},
                "f:template":{"f:metadata":{"f:labels":{"f:app":{}}},"f:spec":{"f:containers":{
                "k:{\"name\":\"web\"}":{".":{},"f:image":{},"f:name":{},"f:ports":{
                "k:{\"containerPort\":80,\"protocol\":\"TCP\"}":{".":{},"f:containerPort":{}}}}}}}}}),
            // kubectl-client-side-apply's Update entry of a ConfigMap.
            json!({"f:data":{".":{},"f:a":{}},"f:metadata":{"f:annotations":{".":{},
                "f:kubectl.kubernetes.io/last-applied-configuration":{}}}}),
            // Sets and old index entries.
            json!({"f:metadata":{"f:finalizers":{".":{},"v:\"a/b\"":{}}},"f:x":{"i:0":{}}}),
        ];
        for doc in docs {
            let set = FieldSet::from_fields_v1(&doc).unwrap();
            assert_eq!(set.to_fields_v1(), doc);
        }
    }

    #[test]
    fn keys_are_canonical_and_printed_like_upstream() {
        let a = PathElement::from_wire(r#"k:{"protocol":"TCP","containerPort":80}"#).unwrap();
        assert_eq!(a.to_wire(), r#"k:{"containerPort":80,"protocol":"TCP"}"#);
        assert_eq!(a.to_string(), r#"[containerPort=80,protocol="TCP"]"#);
        let p = vec![
            f("spec"),
            f("containers"),
            PathElement::key(vec![("name".into(), json!("web"))]),
            f("image"),
        ];
        assert_eq!(path_string(&p), r#".spec.containers[name="web"].image"#);
        assert_eq!(PathElement::Value(json!("x")).to_string(), r#"[="x"]"#);
        assert!(PathElement::from_wire("x:1").is_err());
        assert!(PathElement::from_wire("k:[1]").is_err());
        // Numbers order numerically, fields before keys before values.
        let k80 = PathElement::key(vec![("port".into(), json!(80))]);
        let k443 = PathElement::key(vec![("port".into(), json!(443))]);
        assert!(k80 < k443);
        assert!(f("zzz") < k80);
    }

    #[test]
    fn set_algebra() {
        let a = FieldSet::from_fields_v1(
            &json!({"f:data":{"f:a":{},"f:b":{}},"f:spec":{".":{},"f:x":{}}}),
        )
        .unwrap();
        let b = FieldSet::from_fields_v1(&json!({"f:data":{"f:b":{},"f:c":{}}})).unwrap();
        assert_eq!(
            a.union(&b).to_fields_v1(),
            json!({"f:data":{"f:a":{},"f:b":{},"f:c":{}},"f:spec":{".":{},"f:x":{}}})
        );
        assert_eq!(
            a.difference(&b).to_fields_v1(),
            json!({"f:data":{"f:a":{}},"f:spec":{".":{},"f:x":{}}})
        );
        assert_eq!(
            a.intersection(&b).to_fields_v1(),
            json!({"f:data":{"f:b":{}}})
        );
        assert!(a.has(&[f("spec")]) && a.has(&[f("data"), f("a")]) && !a.has(&[f("data")]));
        let paths: Vec<String> = a.paths().iter().map(|p| path_string(p)).collect();
        // A level's members come before its children.
        assert_eq!(paths, [".spec", ".data.a", ".data.b", ".spec.x"]);
        let named = a.with_named_prefixes(&|_| true);
        assert!(named.has(&[f("data")]));
    }
}
