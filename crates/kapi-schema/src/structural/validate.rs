//! Value validation as kube-apiserver runs it for custom resources: kube-openapi's
//! `SchemaValidator` over the decoded object.
//!
//! Each node runs kube-openapi's validators in its order (type, junctors, string, format,
//! number, array, enum, object) and all of them, so one value can fail several ways. The
//! "match count" kube-openapi keeps is kept too: `anyOf`/`oneOf` report the errors of the
//! alternative that matched most, and ties go to the first. Property errors come in the
//! object's order (upstream iterates a Go map, so its order varies).
//!
//! Two upstream quirks are kept on purpose: a float with an integral value passes `integer`
//! (`1.0`), and bounds are truncated to integers when the value is one (`minimum: 0.5`
//! accepts `0`).

use kapi_api::status::go_quote;
use serde_json::{Map, Value};

use super::finding::{add, merge, Code, Finding};
use super::gofmt::{float_v, num, value_v, Bad, Num};
use super::node::{Checks, Extra, Node};

/// Guards against adversarial nesting in objects: deeper than kube-apiserver's own decoder
/// limit, shallow enough for recursion.
const MAX_DEPTH: usize = 1000;

/// The findings of `v` against `node`, `v` being at kube-openapi path `""`.
pub(crate) fn validate(node: &Node, v: &Value) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut path = String::new();
    Walker { depth: 0 }.schema(node, v, &mut path, &mut out);
    out
}

struct Walker {
    depth: usize,
}

fn finding(name: &str, code: Code, message: String) -> Finding {
    Finding {
        name: name.to_string(),
        code,
        message,
    }
}

fn invalid_type(name: &str, type_name: &str, value: &str) -> Finding {
    finding(
        name,
        Code::InvalidType {
            value: Bad::str(value),
        },
        format!(
            "{name} in body must be of type {type_name}: {}",
            go_quote(value)
        ),
    )
}

/// `minItems`/`maxItems` and `minProperties`/`maxProperties`: how many `what` there are
/// against the bounds, worded as kube-openapi words them.
fn count_bounds(
    len: usize,
    min: Option<i64>,
    max: Option<i64>,
    what: &str,
    path: &str,
    out: &mut Vec<Finding>,
) {
    let size = i64::try_from(len).unwrap_or(i64::MAX);
    if let Some(min) = min.filter(|m| size < *m) {
        add(
            out,
            other(
                path,
                Bad::Int(size),
                format!("{path} in body should have at least {min} {what}"),
            ),
        );
    }
    if let Some(max) = max.filter(|m| size > *m) {
        add(
            out,
            finding(
                path,
                Code::TooMany { actual: size, max },
                format!("{path} in body should have at most {max} {what}"),
            ),
        );
    }
}

fn other(name: &str, value: Bad, message: String) -> Finding {
    finding(name, Code::Other { value }, message)
}

impl Walker {
    /// `SchemaValidator.Validate`: the findings go to `out`; returns kube-openapi's match
    /// count for the value.
    fn schema(&mut self, node: &Node, v: &Value, path: &mut String, out: &mut Vec<Finding>) -> u32 {
        if v.is_null() {
            let mut matches = 0;
            match null_type(node, path) {
                Some(f) => add(out, f),
                None => matches += 1,
            }
            if let Some(f) = node.checks.as_deref().and_then(|c| enum_check(c, v, path)) {
                add(out, f);
            }
            return matches;
        }
        if self.depth > MAX_DEPTH {
            return 1;
        }
        self.depth += 1;
        let checks = node.checks.as_deref();
        let mut matches = 0;
        if !node.types.is_empty() || node.format.is_some() {
            match type_check(node, v, path) {
                Some(f) => add(out, f),
                None => matches += 1,
            }
            matches += 1;
        }
        matches += self.junctors(checks, v, path, out) + 1;
        if let Value::String(s) = v {
            if let Some(f) = checks.and_then(|c| string_check(c, s, path)) {
                add(out, f);
            }
            matches += 1;
            if let Some(format) = &node.format {
                if let Some(check) = format.check {
                    if !check.accepts(s) {
                        add(out, invalid_type(path, &format.name, s));
                    }
                    matches += 1;
                }
            }
        }
        if let Value::Number(n) = v {
            if let Some(c) = checks {
                number_check(c, num(n), path, out);
            }
            matches += 2;
        }
        if let Value::Array(items) = v {
            matches += self.array(node, checks, items, path, out) + 1;
        }
        if let Some(f) = checks.and_then(|c| enum_check(c, v, path)) {
            add(out, f);
        }
        matches += 1;
        if let Value::Object(map) = v {
            matches += self.object(node, checks, map, path, out) + 1;
        }
        self.depth -= 1;
        matches + 1
    }

    /// `allOf`, `anyOf`, `oneOf` and `not`, in kube-openapi's order: anyOf, oneOf, allOf, not.
    fn junctors(
        &mut self,
        checks: Option<&Checks>,
        v: &Value,
        path: &mut String,
        out: &mut Vec<Finding>,
    ) -> u32 {
        let Some(c) = checks else {
            return 0;
        };
        if c.any_of.is_empty() && c.one_of.is_empty() && c.all_of.is_empty() && c.not.is_none() {
            return 0;
        }
        let mut matches = 0;
        let quoted = go_quote(path);
        let composite = |message: String| finding("", Code::Composite, message);
        if !c.any_of.is_empty() {
            let mut best: Option<(Vec<Finding>, u32)> = None;
            let mut success: Option<u32> = None;
            for alternative in &c.any_of {
                let mut found = Vec::new();
                let m = self.schema(alternative, v, path, &mut found);
                if found.is_empty() {
                    best = None;
                    success = Some(m);
                    break;
                }
                if best.as_ref().is_none_or(|(_, bm)| m > *bm) {
                    best = Some((found, m));
                }
            }
            if success.is_none() {
                add(
                    out,
                    composite(format!(
                        "{quoted} must validate at least one schema (anyOf)"
                    )),
                );
            }
            if let Some((found, m)) = best {
                merge(out, found);
                matches += m;
            } else if let Some(m) = success {
                matches += m;
            }
        }
        if !c.one_of.is_empty() {
            let mut best: Option<(Vec<Finding>, u32)> = None;
            let mut first_success: Option<u32> = None;
            let mut validated = 0;
            for alternative in &c.one_of {
                let mut found = Vec::new();
                let m = self.schema(alternative, v, path, &mut found);
                if found.is_empty() {
                    validated += 1;
                    best = None;
                    first_success.get_or_insert(m);
                    continue;
                }
                if validated == 0 && best.as_ref().is_none_or(|(_, bm)| m > *bm) {
                    best = Some((found, m));
                }
            }
            if validated != 1 {
                let detail = if validated == 0 {
                    "Found none valid".to_string()
                } else {
                    format!("Found {validated} valid alternatives")
                };
                add(
                    out,
                    composite(format!(
                        "{quoted} must validate one and only one schema (oneOf). {detail}"
                    )),
                );
                if let Some((found, m)) = best {
                    merge(out, found);
                    matches += m;
                }
            } else if let Some(m) = first_success {
                matches += m;
            }
        }
        if !c.all_of.is_empty() {
            let mut validated = 0;
            for part in &c.all_of {
                let mut found = Vec::new();
                matches += self.schema(part, v, path, &mut found);
                if found.is_empty() {
                    validated += 1;
                }
                merge(out, found);
            }
            if validated != c.all_of.len() {
                let none = if validated == 0 {
                    ". None validated"
                } else {
                    ""
                };
                add(
                    out,
                    composite(format!(
                        "{quoted} must validate all the schemas (allOf){none}"
                    )),
                );
            }
        }
        if let Some(not) = &c.not {
            let mut found = Vec::new();
            self.schema(not, v, path, &mut found);
            if found.is_empty() {
                add(
                    out,
                    composite(format!("{quoted} must not validate the schema (not)")),
                );
            }
        }
        matches
    }

    fn array(
        &mut self,
        node: &Node,
        checks: Option<&Checks>,
        items: &[Value],
        path: &mut String,
        out: &mut Vec<Finding>,
    ) -> u32 {
        let mut matches = 0;
        if let Some(schema) = &node.items {
            for (i, item) in items.iter().enumerate() {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                matches += self.schema(schema, item, path, out);
                path.truncate(len);
            }
        }
        if let Some(c) = checks {
            count_bounds(items.len(), c.min_items, c.max_items, "items", path, out);
        }
        matches + 1
    }

    fn object(
        &mut self,
        node: &Node,
        checks: Option<&Checks>,
        map: &Map<String, Value>,
        path: &mut String,
        out: &mut Vec<Finding>,
    ) -> u32 {
        let mut matches = 0;
        if let Some(c) = checks {
            count_bounds(
                map.len(),
                c.min_properties,
                c.max_properties,
                "properties",
                path,
                out,
            );
        }
        match &node.extra {
            Extra::Allows(false) => {
                for k in map.keys().filter(|k| node.property(k).is_none()) {
                    add(
                        out,
                        other(
                            path,
                            Bad::str(k),
                            format!("{path}.{k} in body is a forbidden property"),
                        ),
                    );
                }
            }
            Extra::Schema(schema) => {
                for (k, v) in map.iter().filter(|(k, _)| node.property(k).is_none()) {
                    let len = path.len();
                    path.push('.');
                    path.push_str(k);
                    matches += self.schema(schema, v, path, out);
                    path.truncate(len);
                }
            }
            Extra::Unspecified | Extra::Allows(true) => {}
        }
        if !node.properties.is_empty() {
            for (k, v) in map {
                if let Some(schema) = node.property(k) {
                    let len = path.len();
                    if !path.is_empty() {
                        path.push('.');
                    }
                    path.push_str(k);
                    matches += self.schema(schema, v, path, out);
                    path.truncate(len);
                }
            }
        }
        if let Some(c) = checks {
            for k in c.required.iter().filter(|k| !map.contains_key(&***k)) {
                let name = format!("{path}.{k}");
                let message = format!("{name} in body is required");
                add(out, finding(&name, Code::Required, message));
            }
        }
        matches
    }
}

/// kube-openapi's type check of `null`: fine when the node is nullable or untyped.
fn null_type(node: &Node, path: &str) -> Option<Finding> {
    (!node.types.is_empty() && !node.nullable)
        .then(|| invalid_type(path, &node.types.join(","), "null"))
}

/// kube-openapi's `typeValidator` for a non-null value.
fn type_check(node: &Node, v: &Value, path: &str) -> Option<Finding> {
    let (kind, data_format) = match v {
        Value::Bool(_) => ("boolean", ""),
        Value::String(_) => ("string", ""),
        Value::Number(n) => match num(n) {
            Num::Int(_) => ("integer", "int64"),
            Num::Float(_) => ("number", "float64"),
        },
        Value::Array(_) => ("array", ""),
        Value::Object(_) => ("object", ""),
        Value::Null => return None,
    };
    let has = |t: &str| node.types.contains(&t);
    let float_int = match v {
        Value::Number(n) => matches!(num(n), Num::Float(f) if is_json_integer(f)) && has("integer"),
        _ => false,
    };
    let int_float = kind == "integer" && has("number");
    let format = node.format.as_ref().map_or("", |f| &f.name);
    let has_format = !format.is_empty();
    let string_or_array = matches!(v, Value::String(_) | Value::Array(_));
    let type_fits = has(kind) || float_int || int_float;
    // A format on a non-string value: the value's own format may stand in for the type.
    let format_fits = type_fits || data_format == format;
    if has_format && !string_or_array && !format_fits {
        return Some(invalid_type(path, format, data_format));
    }
    // A format on a non-numeric schema lets any string or array through.
    let numeric = has("number") || has("integer");
    if has_format && string_or_array && !numeric {
        return None;
    }
    if !type_fits {
        return Some(invalid_type(path, &node.types.join(","), kind));
    }
    None
}

/// go-openapi's `IsFloat64AJSONInteger`: integral within 2^53, allowing a relative error of
/// 1e-9 as it does.
fn is_json_integer(f: f64) -> bool {
    const LIMIT: f64 = 9_007_199_254_740_992.0;
    if !f.is_finite() || !(-LIMIT..=LIMIT).contains(&f) {
        return false;
    }
    let g = f.trunc();
    if f == g {
        return true;
    }
    if f < 0.0 || g == 0.0 {
        return false;
    }
    (f - g).abs() / (f.abs() + g.abs()) < 1e-9
}

/// `maxLength`, `minLength` and `pattern`; kube-openapi stops at the first failure.
fn string_check(c: &Checks, s: &str, path: &str) -> Option<Finding> {
    let chars = i64::try_from(s.chars().count()).unwrap_or(i64::MAX);
    if let Some(max) = c.max_length.filter(|m| chars > *m) {
        return Some(finding(
            path,
            Code::TooLong { max },
            format!("{path} in body should be at most {max} chars long"),
        ));
    }
    if let Some(min) = c.min_length.filter(|m| chars < *m) {
        return Some(other(
            path,
            Bad::str(s),
            format!("{path} in body should be at least {min} chars long"),
        ));
    }
    let pattern = c.pattern.as_ref()?;
    (!pattern.regex.is_match(s)).then(|| {
        other(
            path,
            Bad::str(s),
            format!("{path} in body should match '{}'", pattern.source),
        )
    })
}

/// `multipleOf`, `minimum`, `maximum`, in that order. An int64 value is compared with the
/// bounds converted to int64, a float64 value with the bounds as they are.
fn number_check(c: &Checks, n: Num, path: &str, out: &mut Vec<Finding>) {
    if let Some(factor) = c.multiple_of {
        match n {
            Num::Int(i) => {
                let f = factor as i64;
                if f <= 0 {
                    add(
                        out,
                        other(
                            path,
                            Bad::Int(f),
                            format!("factor MultipleOf declared for {path} must be positive: {f}"),
                        ),
                    );
                } else if i.checked_rem(f).is_some_and(|r| r != 0) {
                    add(
                        out,
                        other(
                            path,
                            Bad::Int(i),
                            format!("{path} in body should be a multiple of {f}"),
                        ),
                    );
                }
            }
            Num::Float(x) => {
                if factor <= 0.0 {
                    add(
                        out,
                        other(
                            path,
                            Bad::Float(factor),
                            format!(
                                "factor MultipleOf declared for {path} must be positive: {}",
                                float_v(factor)
                            ),
                        ),
                    );
                } else {
                    let mult = if factor < 1.0 {
                        1.0 / factor * x
                    } else {
                        x / factor
                    };
                    if !is_json_integer(mult) {
                        add(
                            out,
                            other(
                                path,
                                Bad::Float(x),
                                format!(
                                    "{path} in body should be a multiple of {}",
                                    float_v(factor)
                                ),
                            ),
                        );
                    }
                }
            }
        }
    }
    let bound = |limit: f64, value: Num| -> (bool, String, Bad) {
        match value {
            Num::Int(i) => {
                let l = limit as i64;
                (i < l, l.to_string(), Bad::Int(i))
            }
            Num::Float(x) => (x < limit, float_v(limit), Bad::Float(x)),
        }
    };
    if let Some((min, exclusive)) = c.minimum {
        let (below, shown, value) = bound(min, n);
        let equal = match n {
            Num::Int(i) => i == min as i64,
            Num::Float(x) => x == min,
        };
        if below || (exclusive && equal) {
            let words = if exclusive {
                "greater than"
            } else {
                "greater than or equal to"
            };
            add(
                out,
                other(
                    path,
                    value,
                    format!("{path} in body should be {words} {shown}"),
                ),
            );
        }
    }
    if let Some((max, exclusive)) = c.maximum {
        let (above, shown, value) = match n {
            Num::Int(i) => {
                let l = max as i64;
                (i > l, l.to_string(), Bad::Int(i))
            }
            Num::Float(x) => (x > max, float_v(max), Bad::Float(x)),
        };
        let equal = match n {
            Num::Int(i) => i == max as i64,
            Num::Float(x) => x == max,
        };
        if above || (exclusive && equal) {
            let words = if exclusive {
                "less than"
            } else {
                "less than or equal to"
            };
            add(
                out,
                other(
                    path,
                    value,
                    format!("{path} in body should be {words} {shown}"),
                ),
            );
        }
    }
}

/// `enum`, compared as kube-openapi compares: the value converted to each allowed value's Go
/// type where Go can convert it (so `1.5` matches `1`, and `65` matches `"A"`).
fn enum_check(c: &Checks, v: &Value, path: &str) -> Option<Finding> {
    if c.enum_values.is_empty() || c.enum_values.iter().any(|e| enum_matches(v, e)) {
        return None;
    }
    let allowed: Vec<String> = c
        .enum_values
        .iter()
        .map(|e| match e {
            Value::String(s) => s.clone(),
            other => super::gofmt::json(other),
        })
        .collect();
    let shown: Vec<String> = c.enum_values.iter().map(value_v).collect();
    Some(finding(
        path,
        Code::Enum {
            value: Bad::of(v),
            allowed,
        },
        format!("{path} in body should be one of [{}]", shown.join(" ")),
    ))
}

fn enum_matches(v: &Value, e: &Value) -> bool {
    match (e, v) {
        (Value::Null, _) | (_, Value::Null) => false,
        (Value::Number(en), Value::Number(vn)) => match (num(en), num(vn)) {
            (Num::Int(a), Num::Int(b)) => a == b,
            (Num::Int(a), Num::Float(b)) => a == b as i64,
            (Num::Float(a), Num::Int(b)) => a == b as f64,
            (Num::Float(a), Num::Float(b)) => a == b,
        },
        (Value::String(s), Value::Number(n)) => match num(n) {
            // Go converts an integer to the string of that code point.
            Num::Int(i) => {
                u32::try_from(i)
                    .ok()
                    .and_then(char::from_u32)
                    .unwrap_or('\u{fffd}')
                    .to_string()
                    == *s
            }
            Num::Float(_) => false,
        },
        (Value::Array(_), Value::Array(_)) | (Value::Object(_), Value::Object(_)) => {
            deep_equal(e, v)
        }
        (e, v) => e == v,
    }
}

/// `reflect.DeepEqual` of decoded JSON: an int64 never equals a float64.
fn deep_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => num(x) == num(y),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| deep_equal(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, a)| y.get(k).is_some_and(|b| deep_equal(a, b)))
        }
        (a, b) => a == b,
    }
}
