//! Values printed as upstream's Go code prints them: `%v` of a float64, `json.Marshal` of a
//! decoded JSON value, and the value part of an apimachinery field error.
//!
//! Clients and tests compare these messages byte for byte, so each rule below follows the Go
//! standard library's: a float64 switches to exponent form at 1e+06 under `%v` but at 1e+21 in
//! JSON, JSON escapes `<`, `>` and `&`, map keys come out sorted.

use kapi_api::status::go_quote;
use serde_json::Value;

/// A JSON number as Go's decoder for custom resources holds it: int64 when the literal is an
/// integer that fits, float64 otherwise (`1.0` and `1e3` are floats).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Num {
    /// An int64.
    Int(i64),
    /// A float64.
    Float(f64),
}

/// The Go value of a JSON number.
pub(crate) fn num(n: &serde_json::Number) -> Num {
    match n.as_i64() {
        Some(i) => Num::Int(i),
        None => Num::Float(n.as_f64().unwrap_or_default()),
    }
}

/// Go's `%v` of a float64: the shortest digits that round-trip, in exponent form when the
/// decimal exponent is below -4 or at least 6 (`1e+06`, `1.5e-05`, `123456.5`).
pub(crate) fn float_v(f: f64) -> String {
    if !f.is_finite() {
        return if f.is_nan() {
            "NaN".into()
        } else if f > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    if f == 0.0 {
        return if f.is_sign_negative() { "-0" } else { "0" }.into();
    }
    let (mantissa, exp) = shortest_sci(f);
    if !(-4..6).contains(&exp) {
        go_exponent(&mantissa, exp)
    } else {
        format!("{f}")
    }
}

/// Rust's `{:e}` has the same shortest round-trip digits as Go: split it into the mantissa
/// and the decimal exponent (taking both from one rendering; computing the exponent with
/// logarithms flips at powers of ten).
fn shortest_sci(f: f64) -> (String, i32) {
    let sci = format!("{f:e}");
    match sci.split_once('e') {
        Some((m, e)) => (m.to_string(), e.parse().unwrap_or(0)),
        None => (sci, 0),
    }
}

/// `1.5e+06`: a sign and at least two digits, as Go writes exponents.
fn go_exponent(mantissa: &str, exp: i32) -> String {
    let sign = if exp < 0 { '-' } else { '+' };
    format!("{mantissa}e{sign}{:02}", exp.unsigned_abs())
}

/// `json.Marshal` of a value decoded into Go's `interface{}`: compact, map keys sorted,
/// HTML-sensitive characters escaped.
pub(crate) fn json(v: &Value) -> String {
    kapi_api::jsonpath::go_marshal(v)
}

/// The offending value of an apimachinery `field.Error`, printed by its `ErrorBody` as Go
/// does for the value's dynamic type: strings quoted, numbers and booleans bare, anything
/// else as JSON.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Bad {
    /// Not printed (`Required value`, `Forbidden`, `Too long`).
    Omit,
    /// A Go string: `"x"`.
    Str(String),
    /// A Go int64 or int: `3`.
    Int(i64),
    /// A Go float64: `1.5`, `1e+06`.
    Float(f64),
    /// A Go bool.
    Bool(bool),
    /// Anything else, already marshalled: `{"name":"a"}`, `["a"]`, `null`.
    Json(String),
}

impl Bad {
    /// The value as a decoded custom resource holds it.
    pub(crate) fn of(v: &Value) -> Bad {
        match v {
            Value::String(s) => Bad::Str(s.clone()),
            Value::Bool(b) => Bad::Bool(*b),
            Value::Number(n) => match num(n) {
                Num::Int(i) => Bad::Int(i),
                Num::Float(f) => Bad::Float(f),
            },
            other => Bad::Json(json(other)),
        }
    }

    /// A string value.
    pub(crate) fn str(s: &str) -> Bad {
        Bad::Str(s.to_string())
    }

    /// How `ErrorBody` prints it, or `None` when it is not printed.
    pub(crate) fn render(&self) -> Option<String> {
        match self {
            Bad::Omit => None,
            Bad::Str(s) => Some(go_quote(s)),
            Bad::Int(i) => Some(i.to_string()),
            Bad::Float(f) => Some(float_v(*f)),
            Bad::Bool(b) => Some(b.to_string()),
            Bad::Json(j) => Some(j.clone()),
        }
    }
}

/// Go's `%v` of a decoded JSON value (as kube-openapi prints an enum's allowed values in its
/// own message): `[a 1 map[k:v]]`. Only used to tell messages apart, as upstream does when it
/// drops repeated errors.
pub(crate) fn value_v(v: &Value) -> String {
    match v {
        Value::Null => "<nil>".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => match num(n) {
            Num::Int(i) => i.to_string(),
            Num::Float(f) => float_v(f),
        },
        Value::String(s) => s.clone(),
        Value::Array(items) => {
            let parts: Vec<String> = items.iter().map(value_v).collect();
            format!("[{}]", parts.join(" "))
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let parts: Vec<String> = keys
                .into_iter()
                .map(|k| format!("{k}:{}", map.get(k).map(value_v).unwrap_or_default()))
                .collect();
            format!("map[{}]", parts.join(" "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn floats_print_as_go_percent_v() {
        assert_eq!(float_v(1.0), "1");
        assert_eq!(float_v(0.5), "0.5");
        assert_eq!(float_v(999999.0), "999999");
        assert_eq!(float_v(1_000_000.0), "1e+06");
        assert_eq!(float_v(1_234_567.0), "1.234567e+06");
        assert_eq!(float_v(0.0001), "0.0001");
        assert_eq!(float_v(0.00001), "1e-05");
        assert_eq!(float_v(-2.5e-7), "-2.5e-07");
        assert_eq!(float_v(608_863_452_348.114_9), "6.088634523481149e+11");
    }

    #[test]
    fn json_is_go_json_marshal() {
        assert_eq!(
            json(&json!({"b": 1, "a": [true, null, "<x>"], "c": 1.5})),
            r#"{"a":[true,null,"\u003cx\u003e"],"b":1,"c":1.5}"#
        );
        assert_eq!(json(&json!(1e21)), "1e+21");
        assert_eq!(json(&json!(1e-7)), "1e-7");
        assert_eq!(json(&json!(1_000_000.0)), "1000000");
    }

    #[test]
    fn bad_values_render_by_type() {
        assert_eq!(Bad::of(&json!("x")).render().as_deref(), Some("\"x\""));
        assert_eq!(Bad::of(&json!(3)).render().as_deref(), Some("3"));
        assert_eq!(Bad::of(&json!(1.5)).render().as_deref(), Some("1.5"));
        assert_eq!(Bad::of(&json!(null)).render().as_deref(), Some("null"));
        assert_eq!(
            Bad::of(&json!({"name": "a"})).render().as_deref(),
            Some(r#"{"name":"a"}"#)
        );
        assert_eq!(Bad::Omit.render(), None);
        assert_eq!(value_v(&json!(["a", 1, {"k": "v"}])), "[a 1 map[k:v]]");
    }
}
