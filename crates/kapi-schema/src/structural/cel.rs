//! `x-kubernetes-validations`: the CEL rules of a CRD's schema, compiled when the CRD is
//! accepted and evaluated on every write of its resources, as apiextensions-apiserver does.
//!
//! A rule on a node sees the node's value as `self` and, on update, the value the same node
//! held before as `oldSelf` (correlated through object fields, map keys and the keys of
//! `map` lists); a rule that mentions `oldSelf` (a transition rule) runs only when there is an
//! old value, unless `optionalOldSelf` makes `oldSelf` an optional. A failing rule is a field
//! error at the node (or at its `fieldPath`) with its `message`, its evaluated
//! `messageExpression`, or `failed rule: <rule>`, of the kind its `reason` names.
//!
//! Evaluation is cel-rust's with its strings, lists and math extensions. What kube-apiserver
//! adds and kapi does not: type checking at compile time (a rule naming a field the schema
//! lacks fails when evaluated, `no such key`, instead of at CRD creation), cost limits, and
//! Kubernetes' own libraries (`quantity`, `url`, `ip`, `cidr`, `isSorted`, ...).

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, LazyLock};

use cel::common::types::CelOptional;
use cel::objects::{Key, Map as CelMap};
use cel::{Context, Env, Program, Value as Cel};
use serde_json::{Map, Value};

use super::fielderr::{child, index, key, FieldError};
use super::gofmt::Bad;
use super::node::{ListType, Node};

/// The reasons a rule may give its failure (`reason`).
const REASONS: [&str; 4] = [
    "FieldValueDuplicate",
    "FieldValueForbidden",
    "FieldValueInvalid",
    "FieldValueRequired",
];

/// The standard environment with the extensions Kubernetes' CEL has counterparts of.
pub(crate) static ENV: LazyLock<Arc<Env>> = LazyLock::new(|| {
    let mut env = Env::stdlib();
    for extension in [
        cel::extensions::strings as fn(&mut Env) -> _,
        cel::extensions::lists,
        cel::extensions::math,
    ] {
        // Declaring a standard extension into a fresh environment does not fail; if it ever
        // did, rules using it would fail to evaluate, loudly.
        let _ = env.add_extension(extension);
    }
    Arc::new(env)
});

/// One compiled rule.
pub(crate) struct Rule {
    source: Box<str>,
    program: Program,
    message: Option<Box<str>>,
    message_expression: Option<Program>,
    reason: Option<Box<str>>,
    /// `fieldPath` as field path segments (`.spec.x` → `spec.x`), appended to the node's.
    field_path: Option<Box<str>>,
    uses_old_self: bool,
    optional_old_self: bool,
}

impl fmt::Debug for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rule")
            .field("rule", &self.source)
            .finish_non_exhaustive()
    }
}

/// A rule as the CRD writes it.
struct Written<'a> {
    rule: &'a str,
    message: Option<&'a str>,
    message_expression: Option<&'a str>,
    reason: Option<&'a str>,
    field_path: Option<&'a str>,
    optional_old_self: Option<bool>,
}

impl<'a> Written<'a> {
    fn read(v: &'a Value) -> Written<'a> {
        let s = |k: &str| v.get(k).and_then(Value::as_str);
        Written {
            rule: s("rule").unwrap_or_default(),
            message: s("message"),
            message_expression: s("messageExpression"),
            reason: s("reason"),
            field_path: s("fieldPath"),
            optional_old_self: v.get("optionalOldSelf").and_then(Value::as_bool),
        }
    }

    /// Go's `%#v` of the internal `apiextensions.ValidationRule`, as upstream prints a rule
    /// that does not compile.
    fn go_syntax(&self) -> String {
        let q = |s: Option<&str>| format!("{:?}", s.unwrap_or_default());
        let reason = match self.reason {
            Some(r) => format!("(*apiextensions.FieldValueErrorReason)({r:?})"),
            None => "(*apiextensions.FieldValueErrorReason)(nil)".into(),
        };
        let optional = match self.optional_old_self {
            Some(b) => format!("(*bool)({b})"),
            None => "(*bool)(nil)".into(),
        };
        format!(
            "apiextensions.ValidationRule{{Rule:{:?}, Message:{}, MessageExpression:{}, Reason:{reason}, FieldPath:{}, OptionalOldSelf:{optional}}}",
            self.rule,
            q(self.message),
            q(self.message_expression),
            q(self.field_path),
        )
    }
}

/// Whether a compiled expression refers to `oldSelf`.
fn mentions_old_self(program: &Program) -> bool {
    program.references().has_variable("oldSelf")
}

/// Compiles the rules of one node. Rules that do not compile are left out: the CRD that
/// holds them is refused by [`check_rules`] before any object is validated with them.
pub(crate) fn compile_rules(rules: &[Value]) -> Vec<Rule> {
    rules
        .iter()
        .filter_map(|raw| {
            let w = Written::read(raw);
            let program = ENV.compile(w.rule).ok()?;
            let message_expression = match w.message_expression {
                Some(src) if !src.trim().is_empty() => Some(ENV.compile(src).ok()?),
                _ => None,
            };
            Some(Rule {
                source: w.rule.into(),
                uses_old_self: mentions_old_self(&program),
                program,
                message: w
                    .message
                    .map(str::trim)
                    .filter(|m| !m.is_empty())
                    .map(Into::into),
                message_expression,
                reason: w.reason.map(Into::into),
                field_path: w
                    .field_path
                    .map(|p| p.trim_start_matches('.'))
                    .filter(|p| !p.is_empty())
                    .map(Into::into),
                optional_old_self: w.optional_old_self == Some(true),
            })
        })
        .collect()
}

/// The CRD API's checks of one node's rules, at `path` (the node's schema path): a rule is
/// required, compiles, and names a known reason; a message has no line breaks.
pub(crate) fn check_rules(rules: &[Value], path: &str, out: &mut Vec<FieldError>) {
    let list = child(path, "x-kubernetes-validations");
    for (i, raw) in rules.iter().enumerate() {
        let at = index(&list, i);
        let w = Written::read(raw);
        if w.rule.trim().is_empty() {
            out.push(FieldError::required(child(&at, "rule"), ""));
            continue;
        }
        if let Err(e) = ENV.compile(w.rule) {
            out.push(FieldError::invalid(
                child(&at, "rule"),
                Bad::Json(w.go_syntax()),
                format!("compilation failed: {}", e.to_string().trim()),
            ));
        }
        if let Some(message) = w.message {
            if message.trim().is_empty() {
                out.push(FieldError::invalid(
                    child(&at, "message"),
                    Bad::str(message),
                    "message must be non-empty if specified",
                ));
            } else if message.contains('\n') {
                out.push(FieldError::invalid(
                    child(&at, "message"),
                    Bad::str(message),
                    "message must not contain line breaks",
                ));
            }
        }
        if let Some(src) = w.message_expression {
            if src.trim().is_empty() {
                out.push(FieldError::required(
                    child(&at, "messageExpression"),
                    "messageExpression must be non-empty if specified",
                ));
            } else if let Err(e) = ENV.compile(src) {
                out.push(FieldError::invalid(
                    child(&at, "messageExpression"),
                    Bad::Json(w.go_syntax()),
                    format!(
                        "messageExpression compilation failed: {}",
                        e.to_string().trim()
                    ),
                ));
            }
        }
        if let Some(reason) = w.reason {
            if !REASONS.contains(&reason) {
                out.push(FieldError::not_supported(
                    child(&at, "reason"),
                    Bad::str(reason),
                    &REASONS,
                ));
            }
        }
    }
}

/// Evaluates every rule of the schema rooted at `root` against `obj` (and `old`, on update).
pub(crate) fn validate(root: &Node, obj: &Value, old: Option<&Value>) -> Vec<FieldError> {
    let mut out = Vec::new();
    if !root.has_rules {
        return out;
    }
    let base = Context::with_env(ENV.clone());
    Walk {
        base: &base,
        depth: 0,
    }
    .node(root, obj, old, "", true, &mut out);
    out
}

/// Deeper than kube-apiserver's decoder allows; keeps the walk's recursion bounded.
const MAX_DEPTH: usize = 1000;

struct Walk<'c> {
    base: &'c Context<'c, 'c>,
    depth: usize,
}

impl Walk<'_> {
    fn node(
        &mut self,
        node: &Node,
        v: &Value,
        old: Option<&Value>,
        path: &str,
        root: bool,
        out: &mut Vec<FieldError>,
    ) {
        // Only non-null values are validated, as upstream's rules see them.
        if v.is_null() || !node.has_rules || self.depth > MAX_DEPTH {
            return;
        }
        self.depth += 1;
        if !node.rules.is_empty() {
            self.rules(node, v, old.filter(|o| !o.is_null()), path, root, out);
        }
        match v {
            Value::Object(map) => {
                for (name, value) in map {
                    let (member, at) = match node.property(name) {
                        Some(n) => (n, child(path, name)),
                        None => match node.extra_schema() {
                            Some(n) => (n, key(path, name)),
                            None => continue,
                        },
                    };
                    let old_value = old.and_then(|o| o.get(name));
                    self.node(member, value, old_value, &at, false, out);
                }
            }
            Value::Array(items) => {
                if let Some(item) = node.items.as_deref() {
                    let old_items = old.and_then(Value::as_array);
                    for (i, value) in items.iter().enumerate() {
                        let old_value = match (&node.list, old_items) {
                            (ListType::Map(keys), Some(olds)) => olds
                                .iter()
                                .find(|o| keys.iter().all(|k| o.get(&**k) == value.get(&**k))),
                            _ => None,
                        };
                        self.node(item, value, old_value, &index(path, i), false, out);
                    }
                }
            }
            _ => {}
        }
        self.depth -= 1;
    }

    fn rules(
        &self,
        node: &Node,
        v: &Value,
        old: Option<&Value>,
        path: &str,
        root: bool,
        out: &mut Vec<FieldError>,
    ) {
        let shown;
        let v = if root {
            shown = root_view(v);
            &shown
        } else {
            v
        };
        let type_name = match node.types.as_slice() {
            [one] => *one,
            _ => "",
        };
        let self_value = to_cel(node, v);
        let old_value = old.map(|o| to_cel(node, &if root { root_view(o) } else { o.clone() }));
        for rule in node.rules.iter() {
            if rule.uses_old_self && old.is_none() && !rule.optional_old_self {
                continue;
            }
            let mut ctx = self.base.new_inner_scope();
            ctx.add_variable_from_value("self", self_value.clone());
            if rule.optional_old_self {
                let old: Option<Box<dyn cel::common::value::Val>> =
                    old_value.clone().and_then(|o| o.try_into().ok());
                let optional = match old {
                    Some(o) => CelOptional::of(o),
                    None => CelOptional::none(),
                };
                ctx.add_variable_as_val("oldSelf", Box::new(optional));
            } else if let Some(o) = &old_value {
                ctx.add_variable_from_value("oldSelf", o.clone());
            }
            let at = match &rule.field_path {
                Some(p) => child(path, p),
                None => path.to_string(),
            };
            match rule.program.execute(&ctx) {
                Ok(Cel::Bool(true)) => {}
                Ok(Cel::Bool(false)) => out.push(failure(rule, &ctx, type_name, v, &at)),
                Ok(other) => out.push(FieldError::invalid(
                    path,
                    Bad::str(type_name),
                    format!(
                        "rule did not evaluate to a bool but to {:?}: {}",
                        other.type_of(),
                        error_string(rule)
                    ),
                )),
                Err(e) => out.push(FieldError::invalid(
                    path,
                    Bad::str(type_name),
                    format!("{e} evaluating rule: {}", error_string(rule)),
                )),
            }
        }
    }
}

/// The field error of a rule that evaluated to false.
fn failure(rule: &Rule, ctx: &Context, type_name: &str, v: &Value, at: &str) -> FieldError {
    let detail = rule
        .message_expression
        .as_ref()
        .and_then(|expr| match expr.execute(ctx) {
            Ok(Cel::String(s)) => {
                let s = s.trim();
                (!s.is_empty() && !s.contains('\n')).then(|| s.to_string())
            }
            _ => None,
        })
        .unwrap_or_else(|| match &rule.message {
            Some(m) => m.to_string(),
            None => format!("failed rule: {}", rule.source.trim()),
        });
    // Objects and arrays are not printed; scalars are.
    let value = if matches!(type_name, "object" | "array") {
        Bad::Omit
    } else {
        Bad::of(v)
    };
    match rule.reason.as_deref() {
        Some("FieldValueForbidden") => FieldError::forbidden(at, detail),
        Some("FieldValueRequired") => FieldError::required(at, detail),
        Some("FieldValueDuplicate") => FieldError::duplicate(at, value),
        _ => FieldError::invalid(at, value, detail),
    }
}

/// `ruleErrorString`: the message if there is one, else the rule.
fn error_string(rule: &Rule) -> String {
    match &rule.message {
        Some(m) => m.to_string(),
        None => rule.source.trim().to_string(),
    }
}

/// What rules at the root see of the object: `apiVersion`, `kind`, `metadata.name` and
/// `metadata.generateName`, and everything else the schema declares.
fn root_view(obj: &Value) -> Value {
    let mut view = obj.clone();
    if let Some(meta) = view.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.retain(|k, _| k == "name" || k == "generateName");
    }
    view
}

/// A JSON value as CEL sees it under `node`: integers as `int`, `number` fields as `double`
/// even when integral, `date-time` strings as timestamps, `duration` strings as durations.
fn to_cel(node: &Node, v: &Value) -> Cel {
    match v {
        Value::Null => Cel::Null,
        Value::Bool(b) => Cel::Bool(*b),
        Value::Number(n) => {
            let double = node.types.as_slice() == ["number"];
            match (n.as_i64(), double) {
                (Some(i), false) => Cel::Int(i),
                _ => match n.as_u64() {
                    Some(u) if !double && n.as_i64().is_none() => Cel::UInt(u),
                    _ => Cel::Float(n.as_f64().unwrap_or_default()),
                },
            }
        }
        Value::String(s) => string_value(node, s),
        Value::Array(items) => {
            let item = node.items.as_deref();
            Cel::List(Arc::new(
                items
                    .iter()
                    .map(|i| item.map_or_else(|| untyped(i), |n| to_cel(n, i)))
                    .collect(),
            ))
        }
        Value::Object(map) => object(node, map),
    }
}

fn string_value(node: &Node, s: &str) -> Cel {
    match node.format.as_ref().map(|f| &*f.name) {
        Some("date-time") => chrono::DateTime::parse_from_rfc3339(s)
            .map(Cel::Timestamp)
            .unwrap_or_else(|_| Cel::String(Arc::new(s.to_string()))),
        _ => Cel::String(Arc::new(s.to_string())),
    }
}

fn object(node: &Node, map: &Map<String, Value>) -> Cel {
    let entries: HashMap<Key, Cel> = map
        .iter()
        .map(|(k, v)| {
            let value = match node.member(k) {
                Some(n) => to_cel(n, v),
                None => untyped(v),
            };
            (Key::String(Arc::new(k.clone())), value)
        })
        .collect();
    Cel::Map(CelMap {
        map: Arc::new(entries),
    })
}

/// A value under `x-kubernetes-preserve-unknown-fields`, without a schema.
pub(crate) fn untyped(v: &Value) -> Cel {
    match v {
        Value::Null => Cel::Null,
        Value::Bool(b) => Cel::Bool(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => Cel::Int(i),
            None => Cel::Float(n.as_f64().unwrap_or_default()),
        },
        Value::String(s) => Cel::String(Arc::new(s.clone())),
        Value::Array(items) => Cel::List(Arc::new(items.iter().map(untyped).collect())),
        Value::Object(map) => Cel::Map(CelMap {
            map: Arc::new(
                map.iter()
                    .map(|(k, v)| (Key::String(Arc::new(k.clone())), untyped(v)))
                    .collect(),
            ),
        }),
    }
}
