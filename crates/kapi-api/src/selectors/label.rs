//! Label selectors: the text grammar of `?labelSelector=` and the `metav1.LabelSelector` object.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::Value;

use super::SelectorError;

/// How one requirement compares a label's value; the set of operators Kubernetes accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operator {
    /// `k=v`: the label is present and equals the single value.
    Equals,
    /// `k==v`: same as [`Operator::Equals`], kept apart so the selector prints back as written.
    DoubleEquals,
    /// `k!=v`: the label is absent or differs from the value.
    NotEquals,
    /// `k in (a,b)`: the label is present and its value is one of the set.
    In,
    /// `k notin (a,b)`: the label is absent or its value is none of the set.
    NotIn,
    /// `k`: the label is present, whatever its value.
    Exists,
    /// `!k`: the label is absent.
    DoesNotExist,
    /// `k>n`: the label is present, an integer, and greater than `n`.
    GreaterThan,
    /// `k<n`: the label is present, an integer, and less than `n`.
    LessThan,
}

/// One condition of a [`LabelSelector`]; a selector matches when all its requirements do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    key: String,
    operator: Operator,
    /// Sorted and without duplicates; empty for `Exists` and `DoesNotExist`.
    values: Vec<String>,
}

impl Requirement {
    /// Builds a requirement after checking the key, the values and their number, as the API
    /// server does, so that an invalid requirement can never be matched against.
    pub fn new(key: &str, operator: Operator, values: Vec<String>) -> Result<Self, SelectorError> {
        validate_qualified_name(key).map_err(|reason| SelectorError::InvalidLabelKey {
            key: key.to_string(),
            reason,
        })?;
        let mut values = values;
        match operator {
            Operator::In | Operator::NotIn => {
                if values.is_empty() {
                    return Err(SelectorError::InvalidRequirement(format!(
                        "key {key:?}: for 'in', 'notin' operators, values set can't be empty"
                    )));
                }
            }
            Operator::Equals | Operator::DoubleEquals | Operator::NotEquals => {
                if values.len() != 1 {
                    return Err(SelectorError::InvalidRequirement(format!(
                        "key {key:?}: exact-match compatibility requires one single value"
                    )));
                }
            }
            Operator::Exists | Operator::DoesNotExist => {
                if !values.is_empty() {
                    return Err(SelectorError::InvalidRequirement(format!(
                        "key {key:?}: values set must be empty for exists and does not exist"
                    )));
                }
            }
            Operator::GreaterThan | Operator::LessThan => {
                if values.len() != 1 {
                    return Err(SelectorError::InvalidRequirement(format!(
                        "key {key:?}: for 'Gt', 'Lt' operators, exactly one value is required"
                    )));
                }
                if values[0].parse::<i64>().is_err() {
                    return Err(SelectorError::InvalidRequirement(format!(
                        "key {key:?}: for 'Gt', 'Lt' operators, the value must be an integer, not {:?}",
                        values[0]
                    )));
                }
            }
        }
        if !matches!(operator, Operator::GreaterThan | Operator::LessThan) {
            for value in &values {
                validate_label_value(value).map_err(|reason| SelectorError::InvalidLabelValue {
                    key: key.to_string(),
                    value: value.clone(),
                    reason,
                })?;
            }
        }
        values.sort();
        values.dedup();
        Ok(Requirement {
            key: key.to_string(),
            operator,
            values,
        })
    }

    /// The label key this requirement looks at.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// How the label's value is compared.
    pub fn operator(&self) -> Operator {
        self.operator
    }

    /// The values compared against, sorted; empty for existence checks.
    pub fn values(&self) -> &[String] {
        &self.values
    }

    /// Whether a label with this value (`None`: label absent) satisfies the requirement.
    pub fn matches_value(&self, value: Option<&str>) -> bool {
        let contains = |v: &str| self.values.iter().any(|x| x == v);
        match self.operator {
            Operator::Equals | Operator::DoubleEquals | Operator::In => value.is_some_and(contains),
            Operator::NotEquals | Operator::NotIn => !value.is_some_and(contains),
            Operator::Exists => value.is_some(),
            Operator::DoesNotExist => value.is_none(),
            Operator::GreaterThan | Operator::LessThan => {
                let (Some(have), Some(want)) = (
                    value.and_then(|v| v.parse::<i64>().ok()),
                    self.values.first().and_then(|v| v.parse::<i64>().ok()),
                ) else {
                    return false;
                };
                if self.operator == Operator::GreaterThan {
                    have > want
                } else {
                    have < want
                }
            }
        }
    }
}

impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let first = self.values.first().map(String::as_str).unwrap_or("");
        let key = &self.key;
        match self.operator {
            Operator::Equals => write!(f, "{key}={first}"),
            Operator::DoubleEquals => write!(f, "{key}=={first}"),
            Operator::NotEquals => write!(f, "{key}!={first}"),
            Operator::In => write!(f, "{key} in ({})", self.values.join(",")),
            Operator::NotIn => write!(f, "{key} notin ({})", self.values.join(",")),
            Operator::Exists => write!(f, "{key}"),
            Operator::DoesNotExist => write!(f, "!{key}"),
            Operator::GreaterThan => write!(f, "{key}>{first}"),
            Operator::LessThan => write!(f, "{key}<{first}"),
        }
    }
}

/// A parsed label selector: a conjunction of [`Requirement`]s.
///
/// The default (and the empty string) selects everything; [`LabelSelector::nothing`] selects
/// nothing, which is what a missing `metav1.LabelSelector` means.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LabelSelector {
    /// Sorted by key (stable), as the API server keeps them.
    requirements: Vec<Requirement>,
    nothing: bool,
}

impl LabelSelector {
    /// The selector that matches every object (`labelSelector=` empty).
    pub fn everything() -> Self {
        Self::default()
    }

    /// The selector that matches no object: a workload whose `spec.selector` is missing.
    pub fn nothing() -> Self {
        LabelSelector {
            requirements: Vec::new(),
            nothing: true,
        }
    }

    /// Parses the text form used in `?labelSelector=` and by `kubectl -l`.
    ///
    /// Requirements are joined by commas (AND); whitespace between tokens is ignored; the empty
    /// string selects everything. Keys and values are validated like label keys and values.
    pub fn parse(s: &str) -> Result<Self, SelectorError> {
        let tokens = lex(s);
        let mut parser = Parser { tokens, pos: 0 };
        let mut requirements = Vec::new();
        if parser.peek() == &Token::End {
            return Ok(Self::everything());
        }
        loop {
            requirements.push(parser.requirement()?);
            match parser.next() {
                Token::Comma => continue,
                Token::End => break,
                other => {
                    return Err(SelectorError::LabelSyntax(format!(
                        "found '{other}', expected: ',' or 'end of string'"
                    )))
                }
            }
        }
        requirements.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(LabelSelector {
            requirements,
            nothing: false,
        })
    }

    /// Builds an equality selector from a plain map, as a Service's `spec.selector` or a
    /// ReplicationController's `spec.selector` is. Keys and values are not validated, like
    /// upstream's `SelectorFromSet`: the object's own validation has already checked them.
    pub fn from_set(set: &BTreeMap<String, String>) -> Self {
        let requirements = set
            .iter()
            .map(|(k, v)| Requirement {
                key: k.clone(),
                operator: Operator::Equals,
                values: vec![v.clone()],
            })
            .collect();
        LabelSelector {
            requirements,
            nothing: false,
        }
    }

    /// Converts a `metav1.LabelSelector` object (`matchLabels` and `matchExpressions`), as found
    /// in Deployments, ReplicaSets, Jobs and NetworkPolicies.
    ///
    /// `null` selects nothing; an object with neither part selects everything; operators are
    /// `In`, `NotIn`, `Exists` and `DoesNotExist`.
    pub fn from_label_selector_json(value: &Value) -> Result<Self, SelectorError> {
        let bad = |msg: String| SelectorError::InvalidLabelSelectorObject(msg);
        let obj = match value {
            Value::Null => return Ok(Self::nothing()),
            Value::Object(obj) => obj,
            other => {
                return Err(bad(format!(
                    "expected an object with matchLabels and matchExpressions, found {}",
                    json_kind(other)
                )))
            }
        };
        let mut requirements = Vec::new();
        match obj.get("matchLabels") {
            None | Some(Value::Null) => {}
            Some(Value::Object(labels)) => {
                for (k, v) in labels {
                    let Value::String(v) = v else {
                        return Err(bad(format!(
                            "matchLabels[{k:?}] must be a string, found {}",
                            json_kind(v)
                        )));
                    };
                    requirements.push(Requirement::new(k, Operator::Equals, vec![v.clone()])?);
                }
            }
            Some(other) => {
                return Err(bad(format!(
                    "matchLabels must be an object, found {}",
                    json_kind(other)
                )))
            }
        }
        match obj.get("matchExpressions") {
            None | Some(Value::Null) => {}
            Some(Value::Array(exprs)) => {
                for (i, expr) in exprs.iter().enumerate() {
                    requirements.push(expression(i, expr)?);
                }
            }
            Some(other) => {
                return Err(bad(format!(
                    "matchExpressions must be a list, found {}",
                    json_kind(other)
                )))
            }
        }
        requirements.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(LabelSelector {
            requirements,
            nothing: false,
        })
    }

    /// Whether the selector has no requirement and so selects everything.
    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty() && !self.nothing
    }

    /// Whether the selector can match no object at all (a missing `metav1.LabelSelector`).
    pub fn matches_nothing(&self) -> bool {
        self.nothing
    }

    /// The requirements, sorted by key; all must hold for a match.
    pub fn requirements(&self) -> &[Requirement] {
        &self.requirements
    }

    /// Whether an object with these labels is selected.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.matches_with(|k| labels.get(k).map(String::as_str))
    }

    /// Whether an object is selected, reading its labels through `get` (for callers that hold
    /// labels in another shape, such as a JSON object).
    pub fn matches_with<'a>(&self, get: impl Fn(&str) -> Option<&'a str>) -> bool {
        !self.nothing
            && self
                .requirements
                .iter()
                .all(|r| r.matches_value(get(&r.key)))
    }
}

impl fmt::Display for LabelSelector {
    /// Prints the canonical text form (requirements sorted by key, joined by commas).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.requirements.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{r}")?;
        }
        Ok(())
    }
}

/// Converts entry `i` of `matchExpressions`.
fn expression(i: usize, expr: &Value) -> Result<Requirement, SelectorError> {
    let bad = |msg: String| SelectorError::InvalidLabelSelectorObject(msg);
    let Value::Object(expr) = expr else {
        return Err(bad(format!(
            "matchExpressions[{i}] must be an object, found {}",
            json_kind(expr)
        )));
    };
    let key = match expr.get("key") {
        Some(Value::String(k)) => k.as_str(),
        _ => return Err(bad(format!("matchExpressions[{i}].key must be a string"))),
    };
    let operator = match expr.get("operator") {
        Some(Value::String(op)) => match op.as_str() {
            "In" => Operator::In,
            "NotIn" => Operator::NotIn,
            "Exists" => Operator::Exists,
            "DoesNotExist" => Operator::DoesNotExist,
            other => {
                return Err(bad(format!(
                    "matchExpressions[{i}].operator: {other:?} is not a valid label selector \
                     operator (In, NotIn, Exists, DoesNotExist)"
                )))
            }
        },
        _ => {
            return Err(bad(format!(
                "matchExpressions[{i}].operator must be a string"
            )))
        }
    };
    let values = match expr.get("values") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(values)) => {
            let mut out = Vec::with_capacity(values.len());
            for v in values {
                let Value::String(v) = v else {
                    return Err(bad(format!(
                        "matchExpressions[{i}].values must hold strings, found {}",
                        json_kind(v)
                    )));
                };
                out.push(v.clone());
            }
            out
        }
        Some(other) => {
            return Err(bad(format!(
                "matchExpressions[{i}].values must be a list, found {}",
                json_kind(other)
            )))
        }
    };
    Requirement::new(key, operator, values)
}

/// A short name for a JSON value's type, for error messages.
pub(super) fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// Checks a label (or annotation) key: an optional DNS-1123 subdomain prefix and `/`, then a
/// name of at most 63 characters of `[A-Za-z0-9._-]` that starts and ends alphanumeric.
///
/// Returns the first reason when invalid, in the API server's words.
pub fn validate_qualified_name(key: &str) -> Result<(), String> {
    match crate::meta::qualified_name_errors(key).into_iter().next() {
        Some(reason) => Err(reason),
        None => Ok(()),
    }
}

/// Checks a label value: empty, or at most 63 characters of `[A-Za-z0-9._-]` starting and
/// ending alphanumeric. Returns the first reason when invalid.
pub fn validate_label_value(value: &str) -> Result<(), String> {
    match crate::meta::label_value_errors(value).into_iter().next() {
        Some(reason) => Err(reason),
        None => Ok(()),
    }
}

/// A lexical token of the label selector grammar.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    /// A run of characters other than whitespace and `!=()<>,`; keys, values, `in`, `notin`.
    Word(String),
    Not,
    Equals,
    DoubleEquals,
    NotEquals,
    Greater,
    Less,
    Open,
    Close,
    Comma,
    End,
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Token::Word(w) => w,
            Token::Not => "!",
            Token::Equals => "=",
            Token::DoubleEquals => "==",
            Token::NotEquals => "!=",
            Token::Greater => ">",
            Token::Less => "<",
            Token::Open => "(",
            Token::Close => ")",
            Token::Comma => ",",
            Token::End => "end of string",
        })
    }
}

/// Splits the selector into tokens; never fails (every character belongs to some token).
fn lex(s: &str) -> Vec<Token> {
    let mut tokens = Vec::new();
    let mut chars = s.chars().peekable();
    let special = |c: char| c.is_whitespace() || "!=()<>,".contains(c);
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        chars.next();
        let token = match c {
            '!' if chars.peek() == Some(&'=') => {
                chars.next();
                Token::NotEquals
            }
            '!' => Token::Not,
            '=' if chars.peek() == Some(&'=') => {
                chars.next();
                Token::DoubleEquals
            }
            '=' => Token::Equals,
            '>' => Token::Greater,
            '<' => Token::Less,
            '(' => Token::Open,
            ')' => Token::Close,
            ',' => Token::Comma,
            _ => {
                let mut word = String::from(c);
                while let Some(&c) = chars.peek() {
                    if special(c) {
                        break;
                    }
                    word.push(c);
                    chars.next();
                }
                Token::Word(word)
            }
        };
        tokens.push(token);
    }
    tokens.push(Token::End);
    tokens
}

/// A cursor over the tokens; past the end it keeps returning [`Token::End`].
struct Parser {
    tokens: Vec<Token>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> &Token {
        self.tokens.get(self.pos).unwrap_or(&Token::End)
    }

    fn next(&mut self) -> Token {
        let t = self.peek().clone();
        if self.pos < self.tokens.len() {
            self.pos += 1;
        }
        t
    }

    /// One requirement: `!key`, `key`, `key op value`, `key in|notin (values)`.
    fn requirement(&mut self) -> Result<Requirement, SelectorError> {
        let syntax = |msg: String| Err(SelectorError::LabelSyntax(msg));
        let key = match self.next() {
            Token::Not => match self.next() {
                Token::Word(key) => return Requirement::new(&key, Operator::DoesNotExist, vec![]),
                other => return syntax(format!("found '{other}', expected: identifier after '!'")),
            },
            Token::Word(key) => key,
            other => {
                return syntax(format!(
                    "found '{other}', expected: !, identifier, or 'end of string'"
                ))
            }
        };
        let operator = match self.peek() {
            Token::Comma | Token::End => return Requirement::new(&key, Operator::Exists, vec![]),
            Token::Equals => Operator::Equals,
            Token::DoubleEquals => Operator::DoubleEquals,
            Token::NotEquals => Operator::NotEquals,
            Token::Greater => Operator::GreaterThan,
            Token::Less => Operator::LessThan,
            Token::Word(w) if w == "in" => Operator::In,
            Token::Word(w) if w == "notin" => Operator::NotIn,
            other => {
                return syntax(format!(
                    "found '{other}', expected: '=', '!=', '==', 'in', 'notin', '>', '<', \
                     ',' or 'end of string' after key {key:?}"
                ))
            }
        };
        self.next();
        let values = match operator {
            Operator::In | Operator::NotIn => self.value_set()?,
            Operator::GreaterThan | Operator::LessThan => match self.next() {
                Token::Word(v) => vec![v],
                other => return syntax(format!("found '{other}', expected: integer value")),
            },
            _ => match self.peek() {
                Token::Comma | Token::End => vec![String::new()],
                Token::Word(v) => {
                    let v = v.clone();
                    self.next();
                    vec![v]
                }
                other => return syntax(format!("found '{other}', expected: identifier")),
            },
        };
        Requirement::new(&key, operator, values)
    }

    /// `( [value] {, [value]} )`; a missing value between commas is the empty string.
    fn value_set(&mut self) -> Result<Vec<String>, SelectorError> {
        match self.next() {
            Token::Open => {}
            other => {
                return Err(SelectorError::LabelSyntax(format!(
                    "found '{other}', expected: '('"
                )))
            }
        }
        let mut values = Vec::new();
        let mut saw_comma = false;
        loop {
            let value = match self.peek() {
                Token::Word(v) => {
                    let v = v.clone();
                    self.next();
                    Some(v)
                }
                _ => None,
            };
            match self.next() {
                Token::Comma => {
                    saw_comma = true;
                    values.push(value.unwrap_or_default());
                }
                Token::Close => {
                    if value.is_some() || saw_comma {
                        values.push(value.unwrap_or_default());
                    }
                    return Ok(values);
                }
                other => {
                    return Err(SelectorError::LabelSyntax(format!(
                        "found '{other}', expected: ',' or ')'"
                    )))
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// A selector, the labels to match it against, and whether it should match.
    type MatchCase<'a> = (&'a str, &'a [(&'a str, &'a str)], bool);

    #[test]
    fn parse_and_match_table() {
        let cases: &[MatchCase] = &[
            ("", &[], true),
            ("   ", &[("a", "b")], true),
            ("x=a", &[("x", "a")], true),
            ("x=a", &[("x", "b")], false),
            ("x=a", &[], false),
            ("x==a", &[("x", "a")], true),
            ("x!=a", &[("x", "b")], true),
            ("x!=a", &[("x", "a")], false),
            ("x!=a", &[], true),
            ("x=", &[("x", "")], true),
            ("x=", &[("x", "a")], false),
            ("x in (a,b)", &[("x", "b")], true),
            ("x in (a,b)", &[("x", "c")], false),
            ("x in (a,b)", &[], false),
            ("x notin (a,b)", &[("x", "c")], true),
            ("x notin (a,b)", &[("x", "a")], false),
            ("x notin (a,b)", &[], true),
            ("x in (a,)", &[("x", "")], true),
            ("x", &[("x", "")], true),
            ("x", &[], false),
            ("!x", &[], true),
            ("!x", &[("x", "a")], false),
            ("! x", &[], true),
            ("x>5", &[("x", "6")], true),
            ("x>5", &[("x", "5")], false),
            ("x<5", &[("x", "-1")], true),
            ("x<5", &[("x", "abc")], false),
            ("x<5", &[], false),
            ("a=b,c!=d", &[("a", "b"), ("c", "e")], true),
            ("a=b,c!=d", &[("a", "b"), ("c", "d")], false),
            (
                " app = web ,  tier in ( fe , be ) , !legacy ",
                &[("app", "web"), ("tier", "be")],
                true,
            ),
            (
                "example.com/app=web,env",
                &[("example.com/app", "web"), ("env", "prod")],
                true,
            ),
            ("x in (in,notin)", &[("x", "notin")], true),
            ("x=in", &[("x", "in")], true),
            ("a.b-c_d=E.f-9", &[("a.b-c_d", "E.f-9")], true),
        ];
        for (sel, ls, want) in cases {
            let parsed = LabelSelector::parse(sel)
                .unwrap_or_else(|e| panic!("selector {sel:?} should parse: {e}"));
            assert_eq!(
                parsed.matches(&labels(ls)),
                *want,
                "selector {sel:?} on {ls:?}"
            );
        }
    }

    #[test]
    fn parse_error_table() {
        // (selector, substring expected in the message)
        let long = "a".repeat(64);
        let long_key = format!("{long}=x");
        let long_value = format!("x={long}");
        let cases: Vec<(&str, &str)> = vec![
            ("x=a b", "found 'b', expected: ',' or 'end of string'"),
            ("x in (a b)", "expected: ',' or ')'"),
            ("x in a", "expected: '('"),
            ("x in ()", "values set can't be empty"),
            ("x notin ()", "values set can't be empty"),
            ("x=a,", "found 'end of string', expected: !, identifier"),
            (",x", "found ',', expected: !, identifier"),
            ("x=a,,y", "found ','"),
            ("!", "expected: identifier after '!'"),
            ("!x=a", "found '=', expected: ',' or 'end of string'"),
            ("x=(a)", "found '(', expected: identifier"),
            ("x y", "found 'y', expected: '='"),
            ("x>a", "must be an integer"),
            ("x>", "expected: integer value"),
            ("Bad Key=x", "found 'Key'"),
            ("-x=a", "invalid label key \"-x\""),
            ("x-=a", "name part must consist of"),
            (&long_key, "name part must be no more than 63 characters"),
            ("/x=a", "prefix part must be non-empty"),
            (
                "Example.com/x=a",
                "prefix part a lowercase RFC 1123 subdomain",
            ),
            ("a/b/c=d", "with an optional DNS subdomain prefix and '/'"),
            ("example.com/=a", "name part must be non-empty"),
            ("x=-a", "invalid label value \"-a\""),
            (&long_value, "must be no more than 63 characters"),
            ("x in (a,-b)", "invalid label value \"-b\""),
            ("x=a)", "found ')'"),
        ];
        for (sel, want) in cases {
            let err = LabelSelector::parse(sel)
                .err()
                .unwrap_or_else(|| panic!("selector {sel:?} should fail"));
            let msg = err.to_string();
            assert!(
                msg.starts_with("unable to parse requirement: "),
                "{sel:?}: {msg}"
            );
            assert!(msg.contains(want), "{sel:?}: got {msg:?}, want {want:?}");
        }
    }

    #[test]
    fn display_is_canonical() {
        let cases = [
            ("b=1, a in (z, y)", "a in (y,z),b=1"),
            ("x==a,!y,z", "x==a,!y,z"),
            ("k notin (b,a,b)", "k notin (a,b)"),
            ("n>3,m<4", "m<4,n>3"),
            ("", ""),
        ];
        for (input, want) in cases {
            let sel = LabelSelector::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(sel.to_string(), want);
            // The printed form parses back to the same selector.
            assert_eq!(LabelSelector::parse(want).ok(), Some(sel));
        }
    }

    #[test]
    fn empty_everything_nothing() {
        assert!(LabelSelector::parse("")
            .map(|s| s.is_empty())
            .unwrap_or(false));
        assert!(!LabelSelector::parse("a")
            .map(|s| s.is_empty())
            .unwrap_or(true));
        let nothing = LabelSelector::nothing();
        assert!(!nothing.is_empty());
        assert!(nothing.matches_nothing());
        assert!(!nothing.matches(&labels(&[])));
        assert!(LabelSelector::everything().matches(&labels(&[("a", "b")])));
    }

    #[test]
    fn from_set_matches_equality() {
        let sel = LabelSelector::from_set(&labels(&[("app", "web"), ("tier", "fe")]));
        assert!(sel.matches(&labels(&[("app", "web"), ("tier", "fe"), ("x", "y")])));
        assert!(!sel.matches(&labels(&[("app", "web")])));
        assert_eq!(sel.to_string(), "app=web,tier=fe");
        assert!(LabelSelector::from_set(&BTreeMap::new()).is_empty());
    }

    #[test]
    fn label_selector_object_table() {
        // (object, labels, expected match)
        let cases = vec![
            (json!({}), labels(&[("a", "b")]), true),
            (
                json!({"matchLabels": null, "matchExpressions": null}),
                labels(&[]),
                true,
            ),
            (json!(null), labels(&[]), false),
            (
                json!({"matchLabels": {"app": "web"}}),
                labels(&[("app", "web")]),
                true,
            ),
            (
                json!({"matchLabels": {"app": "web"}}),
                labels(&[("app", "db")]),
                false,
            ),
            (
                json!({"matchExpressions": [{"key": "tier", "operator": "In", "values": ["a", "b"]}]}),
                labels(&[("tier", "b")]),
                true,
            ),
            (
                json!({"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["a"]}]}),
                labels(&[]),
                true,
            ),
            (
                json!({"matchExpressions": [{"key": "tier", "operator": "Exists"}]}),
                labels(&[("tier", "")]),
                true,
            ),
            (
                json!({"matchExpressions": [{"key": "tier", "operator": "DoesNotExist", "values": []}]}),
                labels(&[("tier", "x")]),
                false,
            ),
            (
                json!({
                    "matchLabels": {"app": "web"},
                    "matchExpressions": [{"key": "env", "operator": "In", "values": ["prod"]}]
                }),
                labels(&[("app", "web"), ("env", "dev")]),
                false,
            ),
        ];
        for (obj, ls, want) in cases {
            let sel = LabelSelector::from_label_selector_json(&obj)
                .unwrap_or_else(|e| panic!("{obj}: {e}"));
            assert_eq!(sel.matches(&ls), want, "{obj} on {ls:?}");
        }
    }

    #[test]
    fn label_selector_object_errors() {
        let cases = vec![
            (json!("app=web"), "expected an object"),
            (
                json!({"matchLabels": ["a"]}),
                "matchLabels must be an object",
            ),
            (json!({"matchLabels": {"a": 1}}), "must be a string"),
            (json!({"matchLabels": {"a b": "c"}}), "invalid label key"),
            (json!({"matchLabels": {"a": "-c"}}), "invalid label value"),
            (json!({"matchExpressions": {}}), "must be a list"),
            (
                json!({"matchExpressions": [{"operator": "In", "values": ["a"]}]}),
                ".key must be a string",
            ),
            (
                json!({"matchExpressions": [{"key": "a", "operator": "Equals", "values": ["a"]}]}),
                "not a valid label selector operator",
            ),
            (
                json!({"matchExpressions": [{"key": "a", "operator": "In", "values": []}]}),
                "values set can't be empty",
            ),
            (
                json!({"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]}),
                "must be empty for exists",
            ),
            (
                json!({"matchExpressions": [{"key": "a", "operator": "In", "values": [1]}]}),
                "must hold strings",
            ),
        ];
        for (obj, want) in cases {
            let msg = LabelSelector::from_label_selector_json(&obj)
                .err()
                .unwrap_or_else(|| panic!("{obj} should fail"))
                .to_string();
            assert!(msg.contains(want), "{obj}: got {msg:?}, want {want:?}");
        }
    }

    #[test]
    fn qualified_names() {
        for ok in [
            "a",
            "A1",
            "a.b_c-d",
            "example.com/a",
            "a-b.c/Z",
            &"x".repeat(63),
        ] {
            assert_eq!(validate_qualified_name(ok), Ok(()), "{ok}");
        }
        for bad in [
            "",
            "-a",
            "a-",
            "a b",
            "a/",
            "/a",
            "A.com/a",
            "a//b",
            &"x".repeat(64),
        ] {
            assert!(validate_qualified_name(bad).is_err(), "{bad}");
        }
        for ok in ["", "a", "a.b", "1-2_3"] {
            assert_eq!(validate_label_value(ok), Ok(()), "{ok}");
        }
        for bad in ["-", "a/b", "a b", &"x".repeat(64)] {
            assert!(validate_label_value(bad).is_err(), "{bad}");
        }
    }
}
