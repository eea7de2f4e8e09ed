//! Field validation: an object checked against its kind's schema, the way kube-apiserver's
//! strict JSON decoding into Go structs checks it.
//!
//! The schemas are compiled once into a flat arena of [`Node`]s (properties in hash maps,
//! references resolved to indices), so a check is one walk of the object with no lookups by
//! name. The walk reports unknown fields with upstream's paths
//! (`spec.template.spec.containers[0].foo`, map keys as `.key`) in document order, and the
//! first type mismatch in the words of Go's `encoding/json`; the pruning variant also removes
//! the unknown fields, as decoding into a typed struct and encoding it again does upstream.

use std::collections::{BTreeMap, HashMap};
use std::sync::OnceLock;

use serde_json::Value;

use crate::components::{self, REF_PREFIX};
use crate::kinds::KINDS;

/// What a check found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Problems {
    /// `unknown field "spec.foo"`, one item per field, in document order.
    pub unknown: Vec<String>,
    /// The first value of the wrong JSON type, worded as Go's decoder does:
    /// `json: cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of
    /// type int32`. Upstream fails such a request whatever `fieldValidation` says.
    pub type_error: Option<String>,
}

impl Problems {
    /// Whether nothing was found.
    pub fn is_empty(&self) -> bool {
        self.unknown.is_empty() && self.type_error.is_none()
    }
}

type Id = u32;

/// One compiled schema.
#[derive(Debug)]
enum Node {
    /// Anything goes: opaque JSON (RawExtension, FieldsV1), preserved unknown fields, unions.
    Any,
    /// A Go struct: known properties, everything else unknown.
    Object(Box<Object>),
    /// A Go map with string keys (`additionalProperties`).
    Map(Id),
    /// A Go slice.
    Array(Id),
    Str,
    Int32,
    Int64,
    Number,
    Bool,
    /// `x-kubernetes-int-or-string`: a string or an int32.
    IntOrString,
    /// A resource quantity: a string or any JSON number.
    Quantity,
}

#[derive(Debug)]
struct Object {
    /// The Go struct's name as errors print it: `PodSpec`.
    name: Box<str>,
    /// The Go type as errors print it: `v1.PodSpec`.
    go_type: Box<str>,
    props: HashMap<Box<str>, Id>,
}

struct Compiled {
    nodes: Vec<Node>,
    /// The root of each entry of [`KINDS`], by index.
    roots: Vec<Id>,
}

fn compiled() -> &'static Compiled {
    static COMPILED: OnceLock<Compiled> = OnceLock::new();
    COMPILED.get_or_init(|| {
        let all = components::all();
        let mut c = Compiler {
            all: &all,
            nodes: Vec::new(),
            by_name: HashMap::new(),
        };
        let roots = KINDS.iter().map(|k| c.component(&(k.name)())).collect();
        Compiled {
            nodes: c.nodes,
            roots,
        }
    })
}

struct Compiler<'a> {
    all: &'a BTreeMap<String, Value>,
    nodes: Vec<Node>,
    by_name: HashMap<String, Id>,
}

impl Compiler<'_> {
    fn push(&mut self, n: Node) -> Id {
        self.nodes.push(n);
        Id::try_from(self.nodes.len() - 1).unwrap_or(0)
    }

    fn component(&mut self, name: &str) -> Id {
        if let Some(id) = self.by_name.get(name) {
            return *id;
        }
        // Reserve the slot first: schemas may refer to themselves (JSONSchemaProps).
        let id = self.push(Node::Any);
        self.by_name.insert(name.to_string(), id);
        let all = self.all;
        let node = match name.rsplit('.').next() {
            Some("Quantity") => Node::Quantity,
            Some("RawExtension" | "JSON" | "FieldsV1") => Node::Any,
            _ => match all.get(name) {
                Some(s) => self.node(s, Some(name)),
                None => Node::Any,
            },
        };
        if let Some(slot) = self.nodes.get_mut(id as usize) {
            *slot = node;
        }
        id
    }

    fn schema(&mut self, s: &Value) -> Id {
        let target = s
            .get("$ref")
            .or_else(|| s.pointer("/allOf/0/$ref"))
            .and_then(Value::as_str)
            .and_then(|r| r.strip_prefix(REF_PREFIX));
        match target {
            Some(name) => self.component(name),
            None => {
                let n = self.node(s, None);
                self.push(n)
            }
        }
    }

    fn node(&mut self, s: &Value, name: Option<&str>) -> Node {
        let flag = |k: &str| s.get(k).and_then(Value::as_bool) == Some(true);
        if flag("x-kubernetes-int-or-string") {
            return Node::IntOrString;
        }
        if flag("x-kubernetes-preserve-unknown-fields")
            || s.get("oneOf").is_some()
            || s.get("anyOf").is_some()
        {
            return Node::Any;
        }
        match s.get("type").and_then(Value::as_str) {
            Some("object") => {
                if let Some(props) = s.get("properties").and_then(Value::as_object) {
                    let mut segments = name.unwrap_or("").rsplit('.');
                    let short = segments.next().unwrap_or("");
                    let package = segments.next().unwrap_or("");
                    let mut compiled = HashMap::with_capacity(props.len());
                    for (k, v) in props {
                        let id = self.schema(v);
                        compiled.insert(k.as_str().into(), id);
                    }
                    Node::Object(Box::new(Object {
                        name: short.into(),
                        go_type: format!("{package}.{short}").into(),
                        props: compiled,
                    }))
                } else if let Some(values) = s.get("additionalProperties").filter(|v| v.is_object())
                {
                    Node::Map(self.schema(values))
                } else {
                    Node::Any
                }
            }
            Some("array") => match s.get("items") {
                Some(items) => Node::Array(self.schema(items)),
                None => Node::Any,
            },
            Some("string") => Node::Str,
            Some("integer") => match s.get("format").and_then(Value::as_str) {
                Some("int32") => Node::Int32,
                _ => Node::Int64,
            },
            Some("number") => Node::Number,
            Some("boolean") => Node::Bool,
            _ => Node::Any,
        }
    }
}

/// Whether kapi has a schema for `kind` in `group`/`version` (and so validates it).
pub fn is_known(group: &str, version: &str, kind: &str) -> bool {
    root(group, version, kind).is_some()
}

fn root(group: &str, version: &str, kind: &str) -> Option<Id> {
    let i = KINDS
        .iter()
        .position(|k| k.group == group && k.version == version && k.kind == kind)?;
    compiled().roots.get(i).copied()
}

/// Checks `obj` against the schema of `kind` in `group`/`version` and returns upstream-worded
/// problems: one `unknown field "<path>"` per unknown field, then the first type mismatch if
/// any. A kind without a schema has no problems.
pub fn validate_fields(group: &str, version: &str, kind: &str, obj: &Value) -> Vec<String> {
    if root(group, version, kind).is_none() {
        return Vec::new();
    }
    let mut copy = obj.clone();
    let p = check(group, version, kind, &mut copy, false);
    p.unknown.into_iter().chain(p.type_error).collect()
}

/// Like [`validate_fields`], and removes the unknown fields from `obj`: what upstream keeps
/// of an object after decoding it into its Go type.
pub fn prune_unknown_fields(group: &str, version: &str, kind: &str, obj: &mut Value) -> Problems {
    check(group, version, kind, obj, true)
}

fn check(group: &str, version: &str, kind: &str, obj: &mut Value, prune: bool) -> Problems {
    let Some(id) = root(group, version, kind) else {
        return Problems::default();
    };
    let c = compiled();
    let mut w = Walker {
        nodes: &c.nodes,
        path: String::new(),
        go_path: String::new(),
        go_struct: "",
        problems: Problems::default(),
        prune,
        depth: 0,
    };
    w.walk(obj, id);
    w.problems
}

/// Deeper than any built-in type; a guard against adversarial nesting.
const MAX_DEPTH: usize = 200;

struct Walker<'a> {
    nodes: &'a [Node],
    /// Upstream's path of the value being checked: fields, `[i]` and map keys.
    path: String,
    /// Go's path: struct fields only.
    go_path: String,
    /// The innermost Go struct around the value.
    go_struct: &'a str,
    problems: Problems,
    prune: bool,
    depth: usize,
}

fn json_kind(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(_) => "bool".into(),
        Value::Number(_) => "number".into(),
        Value::String(_) => "string".into(),
        Value::Array(_) => "array".into(),
        Value::Object(_) => "object".into(),
    }
}

impl<'a> Walker<'a> {
    fn node(&self, id: Id) -> &'a Node {
        self.nodes.get(id as usize).unwrap_or(&Node::Any)
    }

    fn go_type(&self, id: Id, depth: usize) -> String {
        if depth > 8 {
            return "interface {}".into();
        }
        match self.node(id) {
            Node::Any => "interface {}".into(),
            Node::Object(o) => o.go_type.to_string(),
            Node::Map(v) => format!("map[string]{}", self.go_type(*v, depth + 1)),
            Node::Array(v) => format!("[]{}", self.go_type(*v, depth + 1)),
            Node::Str | Node::Quantity => "string".into(),
            Node::Int32 | Node::IntOrString => "int32".into(),
            Node::Int64 => "int64".into(),
            Node::Number => "float64".into(),
            Node::Bool => "bool".into(),
        }
    }

    fn mismatch(&mut self, v: &Value, id: Id) {
        if self.problems.type_error.is_some() {
            return;
        }
        // Go names the literal only for numbers that do not fit an integer type.
        let got = match (v, self.node(id)) {
            (Value::Number(n), Node::Int32 | Node::Int64 | Node::IntOrString) => {
                format!("number {n}")
            }
            (Value::Number(_), _) => "number".into(),
            _ => json_kind(v),
        };
        let want = self.go_type(id, 0);
        self.problems.type_error = Some(if self.go_path.is_empty() {
            format!("json: cannot unmarshal {got} into Go value of type {want}")
        } else {
            format!(
                "json: cannot unmarshal {got} into Go struct field {}.{} of type {want}",
                self.go_struct, self.go_path
            )
        });
    }

    fn walk(&mut self, v: &mut Value, id: Id) {
        if v.is_null() || self.depth > MAX_DEPTH {
            return;
        }
        let fits_i32 = |v: &Value| v.as_i64().is_some_and(|n| i32::try_from(n).is_ok());
        match self.node(id) {
            Node::Any => {}
            Node::Str => {
                if !v.is_string() {
                    self.mismatch(v, id);
                }
            }
            Node::Bool => {
                if !v.is_boolean() {
                    self.mismatch(v, id);
                }
            }
            Node::Number => {
                if !v.is_number() {
                    self.mismatch(v, id);
                }
            }
            Node::Int32 => {
                if !fits_i32(v) {
                    self.mismatch(v, id);
                }
            }
            Node::Int64 => {
                if v.as_i64().is_none() {
                    self.mismatch(v, id);
                }
            }
            Node::IntOrString => {
                if !(v.is_string() || fits_i32(v)) {
                    self.mismatch(v, id);
                }
            }
            Node::Quantity => {
                if !(v.is_string() || v.is_number()) {
                    self.mismatch(v, id);
                }
            }
            Node::Array(item) => {
                let Value::Array(items) = v else {
                    return self.mismatch(v, id);
                };
                let item = *item;
                self.depth += 1;
                for (i, child) in items.iter_mut().enumerate() {
                    let len = self.path.len();
                    self.path.push('[');
                    self.path.push_str(&i.to_string());
                    self.path.push(']');
                    self.walk(child, item);
                    self.path.truncate(len);
                }
                self.depth -= 1;
            }
            Node::Map(value) => {
                let Value::Object(map) = v else {
                    return self.mismatch(v, id);
                };
                let value = *value;
                self.depth += 1;
                for (k, child) in map.iter_mut() {
                    let len = self.path.len();
                    self.push_field(k);
                    self.walk(child, value);
                    self.path.truncate(len);
                }
                self.depth -= 1;
            }
            Node::Object(o) => {
                let Value::Object(map) = v else {
                    return self.mismatch(v, id);
                };
                let outer_struct = self.go_struct;
                let mut unknown = false;
                self.depth += 1;
                for (k, child) in map.iter_mut() {
                    let len = self.path.len();
                    self.push_field(k);
                    match o.props.get(k.as_str()) {
                        Some(&child_id) => {
                            let go_len = self.go_path.len();
                            if !self.go_path.is_empty() {
                                self.go_path.push('.');
                            }
                            self.go_path.push_str(k);
                            self.go_struct = &o.name;
                            self.walk(child, child_id);
                            self.go_path.truncate(go_len);
                        }
                        None => {
                            unknown = true;
                            self.problems
                                .unknown
                                .push(format!("unknown field {:?}", self.path));
                        }
                    }
                    self.path.truncate(len);
                }
                self.depth -= 1;
                self.go_struct = outer_struct;
                if unknown && self.prune {
                    map.retain(|k, _| o.props.contains_key(k.as_str()));
                }
            }
        }
    }

    fn push_field(&mut self, k: &str) {
        if !self.path.is_empty() {
            self.path.push('.');
        }
        self.path.push_str(k);
    }
}
