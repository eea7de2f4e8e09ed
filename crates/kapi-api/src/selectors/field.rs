//! Field selectors: `?fieldSelector=metadata.name=x,status.phase!=Running`.

use std::fmt;

use serde_json::Value;

use super::SelectorError;

/// How a field selector term compares a field's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FieldOperator {
    /// `f=v`: the field equals the value.
    Equals,
    /// `f==v`: same as [`FieldOperator::Equals`], kept apart so it prints back as written.
    DoubleEquals,
    /// `f!=v`: the field differs from the value.
    NotEquals,
}

impl FieldOperator {
    /// The operator as written in a selector.
    pub fn as_str(self) -> &'static str {
        match self {
            FieldOperator::Equals => "=",
            FieldOperator::DoubleEquals => "==",
            FieldOperator::NotEquals => "!=",
        }
    }
}

/// One term of a [`FieldSelector`]: a dotted field path, an operator and an unescaped value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldRequirement {
    /// The dotted field path, such as `metadata.name` or `spec.nodeName`.
    pub field: String,
    /// How the field is compared.
    pub operator: FieldOperator,
    /// The value, with `\,`, `\=` and `\\` escapes already resolved.
    pub value: String,
}

impl FieldRequirement {
    /// Whether a field with this value satisfies the term.
    pub fn matches_value(&self, actual: &str) -> bool {
        match self.operator {
            FieldOperator::Equals | FieldOperator::DoubleEquals => actual == self.value,
            FieldOperator::NotEquals => actual != self.value,
        }
    }
}

impl fmt::Display for FieldRequirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.field, self.operator.as_str())?;
        for c in self.value.chars() {
            if matches!(c, '\\' | ',' | '=') {
                f.write_str("\\")?;
            }
            write!(f, "{c}")?;
        }
        Ok(())
    }
}

/// A parsed field selector: all terms must hold. The empty selector selects everything.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FieldSelector {
    requirements: Vec<FieldRequirement>,
}

impl FieldSelector {
    /// The selector that matches every object.
    pub fn everything() -> Self {
        Self::default()
    }

    /// Parses `f=v`, `f==v` and `f!=v` terms joined by commas. In values, `\,`, `\=` and `\\`
    /// stand for the literal character; any other escape, or a bare `=`, is an error.
    pub fn parse(s: &str) -> Result<Self, SelectorError> {
        let mut requirements = Vec::new();
        for term in split_terms(s) {
            if term.trim().is_empty() {
                continue;
            }
            let Some((field, operator, raw)) = split_term(term) else {
                return Err(SelectorError::FieldSyntax {
                    term: term.to_string(),
                    reason: "expected <field>=<value>, <field>==<value> or <field>!=<value>"
                        .to_string(),
                });
            };
            let field = field.trim();
            if field.is_empty() {
                return Err(SelectorError::FieldSyntax {
                    term: term.to_string(),
                    reason: "the field name is empty".to_string(),
                });
            }
            let value = unescape(raw).map_err(|reason| SelectorError::FieldSyntax {
                term: term.to_string(),
                reason,
            })?;
            requirements.push(FieldRequirement {
                field: field.to_string(),
                operator,
                value,
            });
        }
        Ok(FieldSelector { requirements })
    }

    /// Whether the selector has no term and so selects everything.
    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// The terms in the order written; each is `(field, operator, value)`.
    pub fn requirements(&self) -> &[FieldRequirement] {
        &self.requirements
    }

    /// The value `field` must equal for a match, if the selector pins it with `=` or `==`
    /// (lets a store turn `metadata.name=x` into a point lookup, or a node watch its pods).
    pub fn exact_match(&self, field: &str) -> Option<&str> {
        self.requirements
            .iter()
            .find(|r| r.field == field && r.operator != FieldOperator::NotEquals)
            .map(|r| r.value.as_str())
    }

    /// Whether an object is selected; `get` returns a field's value by dotted path (see
    /// [`field_value`]). A missing field compares as the empty string, as upstream does.
    pub fn matches(&self, get: impl Fn(&str) -> Option<String>) -> bool {
        self.requirements
            .iter()
            .all(|r| r.matches_value(get(&r.field).as_deref().unwrap_or("")))
    }
}

impl fmt::Display for FieldSelector {
    /// Prints the terms joined by commas, re-escaping values.
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

/// Reads the field at a dotted path (`metadata.name`, `spec.nodeName`, `involvedObject.uid`)
/// of a JSON object, rendered as a field selector compares it: strings as is, booleans as
/// `true`/`false`, numbers in decimal. Missing fields, nulls, lists and objects give `None`.
pub fn field_value(obj: &Value, path: &str) -> Option<String> {
    let mut cur = obj;
    for part in path.split('.') {
        cur = cur.as_object()?.get(part)?;
    }
    match cur {
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        Value::Null | Value::Array(_) | Value::Object(_) => None,
    }
}

/// Splits on commas that are not escaped, keeping escapes in place for [`unescape`].
fn split_terms(s: &str) -> Vec<&str> {
    let mut terms = Vec::new();
    let mut start = 0;
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        if escaped {
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == ',' {
            terms.push(&s[start..i]);
            start = i + 1;
        }
    }
    terms.push(&s[start..]);
    terms
}

/// Finds the first unescaped operator (`!=`, `==` or `=`) and splits the term around it.
fn split_term(term: &str) -> Option<(&str, FieldOperator, &str)> {
    let mut escaped = false;
    for (i, c) in term.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        if c == '\\' {
            escaped = true;
            continue;
        }
        let rest = &term[i..];
        for (token, op) in [
            ("!=", FieldOperator::NotEquals),
            ("==", FieldOperator::DoubleEquals),
            ("=", FieldOperator::Equals),
        ] {
            if let Some(value) = rest.strip_prefix(token) {
                return Some((&term[..i], op, value));
            }
        }
    }
    None
}

/// Resolves `\\`, `\,` and `\=`; rejects other escapes and bare `,` or `=`.
fn unescape(raw: &str) -> Result<String, String> {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(e @ ('\\' | ',' | '=')) => out.push(e),
                Some(e) => return Err(format!("invalid escape sequence '\\{e}' in value")),
                None => return Err("unterminated escape sequence at the end of the value".into()),
            },
            ',' | '=' => return Err(format!("unescaped '{c}' in value; write '\\{c}'")),
            c => out.push(c),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A term as `(field, operator, value)`.
    type Term<'a> = (&'a str, FieldOperator, &'a str);

    #[test]
    fn parse_table() {
        // (selector, expected terms)
        let cases: Vec<(&str, Vec<Term>)> = vec![
            ("", vec![]),
            (
                "metadata.name=x",
                vec![("metadata.name", FieldOperator::Equals, "x")],
            ),
            ("a==b", vec![("a", FieldOperator::DoubleEquals, "b")]),
            ("a!=b", vec![("a", FieldOperator::NotEquals, "b")]),
            ("a=", vec![("a", FieldOperator::Equals, "")]),
            (
                "a=b,c!=d",
                vec![
                    ("a", FieldOperator::Equals, "b"),
                    ("c", FieldOperator::NotEquals, "d"),
                ],
            ),
            (
                "a=b,,c=d",
                vec![
                    ("a", FieldOperator::Equals, "b"),
                    ("c", FieldOperator::Equals, "d"),
                ],
            ),
            (r"a=x\,y", vec![("a", FieldOperator::Equals, "x,y")]),
            (r"a=x\=y", vec![("a", FieldOperator::Equals, "x=y")]),
            (r"a=x\\y", vec![("a", FieldOperator::Equals, r"x\y")]),
            (
                r"a=x\\,b=y",
                vec![
                    ("a", FieldOperator::Equals, r"x\"),
                    ("b", FieldOperator::Equals, "y"),
                ],
            ),
            (" a =b", vec![("a", FieldOperator::Equals, "b")]),
        ];
        for (input, want) in cases {
            let sel = FieldSelector::parse(input).unwrap_or_else(|e| panic!("{input:?}: {e}"));
            let got: Vec<_> = sel
                .requirements()
                .iter()
                .map(|r| (r.field.as_str(), r.operator, r.value.as_str()))
                .collect();
            assert_eq!(got, want, "{input:?}");
        }
    }

    #[test]
    fn parse_errors() {
        let cases = [
            ("a", "expected <field>=<value>"),
            ("a=b,c", "\"c\""),
            ("=b", "field name is empty"),
            ("a=b=c", "unescaped '='"),
            (r"a=b\n", "invalid escape sequence"),
            (r"a=b\", "unterminated escape"),
        ];
        for (input, want) in cases {
            let msg = FieldSelector::parse(input)
                .err()
                .unwrap_or_else(|| panic!("{input:?} should fail"))
                .to_string();
            assert!(msg.starts_with("invalid field selector"), "{msg}");
            assert!(msg.contains(want), "{input:?}: got {msg:?}, want {want:?}");
        }
    }

    #[test]
    fn matches_table() {
        let pod = json!({
            "metadata": {"name": "web-1", "namespace": "default"},
            "spec": {"nodeName": "n1", "hostNetwork": true, "priority": 10},
            "status": {"phase": "Running"}
        });
        let get = |p: &str| field_value(&pod, p);
        let cases = [
            ("", true),
            ("metadata.name=web-1", true),
            ("metadata.name==web-2", false),
            ("metadata.name!=web-2,status.phase=Running", true),
            ("spec.nodeName=n1,status.phase!=Running", false),
            ("spec.hostNetwork=true", true),
            ("spec.priority=10", true),
            // A missing field compares as the empty string.
            ("spec.missing=", true),
            ("spec.missing!=x", true),
            ("spec.missing=x", false),
            ("metadata=x", false),
        ];
        for (input, want) in cases {
            let sel = FieldSelector::parse(input).unwrap_or_else(|e| panic!("{input:?}: {e}"));
            assert_eq!(sel.matches(get), want, "{input:?}");
        }
    }

    #[test]
    fn field_values() {
        let obj = json!({
            "metadata": {"name": "e", "labels": {"a": "b"}},
            "involvedObject": {"uid": "123"},
            "spec": {"hostNetwork": false, "n": 1.5, "list": [1], "none": null},
        });
        assert_eq!(field_value(&obj, "metadata.name").as_deref(), Some("e"));
        assert_eq!(
            field_value(&obj, "involvedObject.uid").as_deref(),
            Some("123")
        );
        assert_eq!(
            field_value(&obj, "spec.hostNetwork").as_deref(),
            Some("false")
        );
        assert_eq!(field_value(&obj, "spec.n").as_deref(), Some("1.5"));
        assert_eq!(field_value(&obj, "spec.list"), None);
        assert_eq!(field_value(&obj, "spec.none"), None);
        assert_eq!(field_value(&obj, "metadata.labels"), None);
        assert_eq!(field_value(&obj, "metadata.name.x"), None);
        assert_eq!(field_value(&obj, "status.phase"), None);
    }

    #[test]
    fn display_and_exact_match() {
        let sel = FieldSelector::parse(r"spec.nodeName=n\,1,status.phase!=Failed").ok();
        let sel = sel.unwrap_or_default();
        assert_eq!(sel.to_string(), r"spec.nodeName=n\,1,status.phase!=Failed");
        assert_eq!(sel.exact_match("spec.nodeName"), Some("n,1"));
        assert_eq!(sel.exact_match("status.phase"), None);
        assert!(FieldSelector::everything().is_empty());
    }
}
