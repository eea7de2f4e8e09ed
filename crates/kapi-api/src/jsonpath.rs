//! Kubernetes' JSONPath dialect, as CRD printer columns use it.
//!
//! Kubernetes does not implement RFC 9535 JSONPath but a template language of its own (client-go
//! `util/jsonpath`, the one behind `kubectl -o jsonpath`): plain text with `{...}` actions, each
//! action a path such as `.status.conditions[?(@.type=="Ready")].status`. A CRD printer column's
//! `jsonPath` is the inside of one action: the server wraps it in braces before parsing, so
//! [`JsonPath::parse`] does the same and [`JsonPath::parse_template`] takes a whole template.
//!
//! The grammar follows upstream's parser exactly, quirks included, because whether a column's path
//! parses decides which columns a custom resource's Table has (see [`crate::printers::custom`]).
//! The quirks worth knowing:
//!
//! - `['a.b']` is read again as `.a.b`, two fields; a dot inside a key is escaped instead:
//!   `['a\.b']` or `.a\.b`. A key holding a comma is split into a union.
//! - `..*` does not parse (`.*` does); `[]` means `[0]`.
//! - `.*` and `..` step into strings, yielding their bytes ([`Match::Byte`]).
//!
//! Evaluation ([`JsonPath::find_results`]) treats a missing key as no match, as printer columns
//! ask upstream to, but other failures fail the whole evaluation: an index out of range, indexing
//! or filtering something that is not a list, comparing values of different types. Objects are
//! walked in the order of their keys in the document (upstream's order is random). `range`/`end`
//! blocks parse but do not evaluate (see [`EvalError::RangeUnsupported`]).
//!
//! ```
//! use kapi_api::jsonpath::JsonPath;
//! let path = JsonPath::parse(r#".status.conditions[?(@.type=="Ready")].status"#).unwrap();
//! let obj = serde_json::json!({"status": {"conditions": [
//!     {"type": "Synced", "status": "False"},
//!     {"type": "Ready", "status": "True"},
//! ]}});
//! let found = path.evaluate(&obj).unwrap();
//! assert_eq!(found.len(), 1);
//! assert_eq!(found[0].to_text(), "True");
//! ```

use serde_json::Value;

use crate::status::{invalid_value, required, Cause};

/// A parsed JSONPath template, ready to evaluate against many objects.
#[derive(Clone, Debug, PartialEq)]
pub struct JsonPath {
    /// The text it was parsed from (for a printer column, the path without the braces).
    source: String,
    /// The template's top level: text and actions in order.
    segments: Vec<Segment>,
}

/// One top-level piece of a template.
#[derive(Clone, Debug, PartialEq)]
enum Segment {
    /// Text outside any action, printed as is.
    Text(String),
    /// The steps of one `{...}` action, applied in order.
    Action(Vec<Node>),
}

/// One step of an action.
#[derive(Clone, Debug, PartialEq)]
enum Node {
    /// A quoted string literal: yields itself, whatever the input.
    Text(String),
    /// `.name`: the value of a key.
    Field(String),
    /// `[i]`, `[a:b]`, `[a:b:s]`, `[*]`: start, end, step.
    Array([Param; 3]),
    /// `[?(...)]`: the list items for which the condition holds.
    Filter(Box<Filter>),
    /// An integer literal: yields itself once per input.
    Int(i64),
    /// A decimal literal: yields itself once per input.
    Float(f64),
    /// `true` or `false`: yields itself once per input.
    Bool(bool),
    /// `.*`: every value of an object, item of a list, byte of a string.
    Wildcard,
    /// `..`: every value below the input that has children, the input included.
    Recursive,
    /// `[a,b]`: the results of each alternative, concatenated.
    Union(Vec<Vec<Node>>),
    /// A bare word (`range`, `end`, anything else), an error when evaluated.
    Identifier(String),
}

/// One bound of an array step, as upstream records it.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct Param {
    value: i64,
    /// Whether the bound was written (or follows from the index).
    known: bool,
    /// The end bound of a single index (`[i]` is `[i:i+1]`).
    derived: bool,
}

/// A `[?(...)]` condition.
#[derive(Clone, Debug, PartialEq)]
struct Filter {
    left: Vec<Node>,
    right: Vec<Node>,
    op: FilterOp,
}

/// The operator of a filter.
#[derive(Clone, Debug, PartialEq)]
enum FilterOp {
    /// `[?(@.x)]`: the left side yields anything.
    Exists,
    Lt,
    Gt,
    Le,
    Ge,
    Eq,
    Ne,
    /// Any other run of `!<>=`: parses, fails when evaluated.
    Unknown(String),
}

impl FilterOp {
    fn parse(op: &str) -> Self {
        match op {
            "<" => Self::Lt,
            ">" => Self::Gt,
            "<=" => Self::Le,
            ">=" => Self::Ge,
            "==" => Self::Eq,
            "!=" => Self::Ne,
            other => Self::Unknown(other.to_string()),
        }
    }
}

/// Why a template does not parse. The messages are upstream's parser messages.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum JsonPathError {
    /// An action has no closing `}` (or holds a line break).
    #[error("unclosed action")]
    UnclosedAction,
    /// A character that starts no step (`*` after `..`, `=` alone, a tab, ...).
    #[error("unrecognized character in action: {}", go_unicode(*.0))]
    UnrecognizedCharacter(char),
    /// Digits and dots that make no number (`1.2.3`).
    #[error("cannot parse number {0}")]
    InvalidNumber(String),
    /// A `[` without its `]`.
    #[error("unterminated array")]
    UnterminatedArray,
    /// Brackets holding neither an index, a slice, a quoted key nor a union.
    #[error("invalid array index {0}")]
    InvalidArrayIndex(String),
    /// An index or slice bound that is not a 64-bit integer.
    #[error("array index {0} is not a number")]
    ArrayIndexNotNumber(String),
    /// A `[?(` without its `)`.
    #[error("unterminated filter")]
    UnterminatedFilter,
    /// A filter's `)` not followed by `]`.
    #[error("unclosed array expect ]")]
    UnclosedFilter,
    /// `..` right after `..`.
    #[error("invalid multiple recursive descent")]
    MultipleRecursiveDescent,
    /// A quoted string without its closing quote.
    #[error("unterminated quoted string")]
    UnterminatedQuote,
    /// A quoted string with an invalid escape.
    #[error("unquote string {0} error invalid syntax")]
    InvalidQuotedString(String),
}

/// Why evaluating a path failed. Printer columns show an empty cell for any of these.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EvalError {
    /// An index or slice applied to something that is not a list (the Go type is named).
    #[error("{0} is not array or slice")]
    NotArray(&'static str),
    /// An index outside the list.
    #[error("array index out of bounds: index {index}, length {length}")]
    OutOfBounds {
        /// The offending index, negative indexes already counted from the end.
        index: i64,
        /// The length of the list.
        length: usize,
    },
    /// A slice whose start lies after its end.
    #[error("starting index {start} is greater than ending index {end}")]
    StartAfterEnd {
        /// The start, counted from the front.
        start: i64,
        /// The end, counted from the front.
        end: i64,
    },
    /// A slice step of zero or less.
    #[error("step must be > 0")]
    NonPositiveStep,
    /// A filter applied to something that is not a list (the Go type is named).
    #[error("{0} is not array or slice and cannot be filtered")]
    NotFilterable(&'static str),
    /// A filter side that yields several values.
    #[error("can only compare one element at a time")]
    MultipleValues,
    /// A filter operator other than `==`, `!=`, `<`, `>`, `<=`, `>=`.
    #[error("unrecognized filter operator {0}")]
    UnknownOperator(String),
    /// A comparison of lists, objects or null, or an ordering of booleans.
    #[error("invalid type for comparison")]
    BadComparisonType,
    /// A comparison of values of different types (a string and a number, ...).
    #[error("incompatible types for comparison")]
    BadComparison,
    /// A bare word other than `range` and `end`.
    #[error("unrecognized identifier {0}")]
    UnrecognizedIdentifier(String),
    /// `range`: iterating templates are for `kubectl -o jsonpath`, not for printer columns, and
    /// upstream's implementation rewrites its own template while iterating.
    #[error("range is not supported")]
    RangeUnsupported,
    /// `end` outside a `range` block.
    #[error("not in range, nothing to end")]
    NotInRange,
}

/// One value a path matched.
///
/// Most matches are values of the document; literals of the path and the bytes of strings are
/// told apart because upstream treats them differently when printing cells (an integer literal
/// is not a JSON integer to it).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Match<'a> {
    /// A value of the document.
    Json(&'a Value),
    /// A quoted string of the path.
    Text(&'a str),
    /// An integer literal of the path.
    Int(i64),
    /// A decimal literal of the path.
    Float(f64),
    /// `true` or `false` in the path.
    Bool(bool),
    /// One byte of a string, as `.*` and `..` yield them.
    Byte(u8),
}

impl Match<'_> {
    /// The match as JSON: document values as they are, literals as JSON scalars.
    pub fn to_value(&self) -> Value {
        match *self {
            Match::Json(v) => v.clone(),
            Match::Text(s) => Value::String(s.to_string()),
            Match::Int(i) => Value::from(i),
            Match::Float(f) => Value::from(f),
            Match::Bool(b) => Value::Bool(b),
            Match::Byte(b) => Value::from(b),
        }
    }

    /// The match as `kubectl -o jsonpath` prints it: strings bare, numbers as Go formats them
    /// (`1e+06` for a million as a float), null as `null`, lists and objects as compact JSON with
    /// sorted keys and Go's escaping of `<`, `>` and `&`.
    pub fn to_text(&self) -> String {
        match *self {
            Match::Json(Value::Null) => "null".to_string(),
            Match::Json(Value::Bool(b)) => b.to_string(),
            Match::Bool(b) => b.to_string(),
            Match::Json(Value::Number(n)) => match n.as_i64() {
                Some(i) => i.to_string(),
                // Beyond int64, upstream's decoder keeps numbers as float64.
                None => go_format_float(n.as_f64().unwrap_or_default()),
            },
            Match::Json(Value::String(s)) => s.clone(),
            Match::Json(v @ (Value::Array(_) | Value::Object(_))) => {
                let mut out = String::new();
                go_json(v, &mut out);
                out
            }
            Match::Text(s) => s.to_string(),
            Match::Int(i) => i.to_string(),
            Match::Float(f) => go_format_float(f),
            Match::Byte(b) => b.to_string(),
        }
    }

    /// The Go type upstream would see, for error messages.
    fn go_type(&self) -> &'static str {
        match self {
            Match::Json(Value::Null) => "<nil>",
            Match::Json(Value::Bool(_)) | Match::Bool(_) => "bool",
            Match::Json(Value::Number(n)) if n.is_i64() => "int64",
            Match::Json(Value::Number(_)) | Match::Float(_) => "float64",
            Match::Json(Value::String(_)) | Match::Text(_) => "string",
            Match::Json(Value::Array(_)) => "[]interface {}",
            Match::Json(Value::Object(_)) => "map[string]interface {}",
            Match::Int(_) => "int",
            Match::Byte(_) => "uint8",
        }
    }
}

impl JsonPath {
    /// Parses a printer column's `jsonPath` (`.spec.replicas`), which upstream wraps in braces
    /// before parsing it as a template.
    pub fn parse(path: &str) -> Result<Self, JsonPathError> {
        let segments = Parser::new(&format!("{{{path}}}")).parse_template()?;
        Ok(Self {
            source: path.to_string(),
            segments,
        })
    }

    /// Parses a whole template (`name: {.metadata.name}`), as `kubectl -o jsonpath=` takes it.
    pub fn parse_template(template: &str) -> Result<Self, JsonPathError> {
        let segments = Parser::new(template).parse_template()?;
        Ok(Self {
            source: template.to_string(),
            segments,
        })
    }

    /// A path of plain fields (`.a.b` from `["a", "b"]`), built without parsing.
    pub(crate) fn from_fields(fields: &[&str]) -> Self {
        Self {
            source: fields.iter().map(|f| format!(".{f}")).collect(),
            segments: vec![Segment::Action(
                fields.iter().map(|f| Node::Field(f.to_string())).collect(),
            )],
        }
    }

    /// The text this path was parsed from.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Evaluates every top-level piece of the template: one list of matches per piece of text
    /// and per action. A failure anywhere fails the whole evaluation.
    pub fn find_results<'a>(&'a self, data: &'a Value) -> Result<Vec<Vec<Match<'a>>>, EvalError> {
        self.segments
            .iter()
            .map(|segment| match segment {
                Segment::Text(text) => Ok(vec![Match::Text(text)]),
                Segment::Action(nodes) => {
                    eval_list(nodes, vec![Match::Json(data)]).map_err(|f| f.error)
                }
            })
            .collect()
    }

    /// The matches of the first piece of the template: for a printer column, what its path
    /// selects. No match is an empty list; several matches come in document order.
    pub fn evaluate<'a>(&'a self, data: &'a Value) -> Result<Vec<Match<'a>>, EvalError> {
        Ok(self
            .find_results(data)?
            .into_iter()
            .next()
            .unwrap_or_default())
    }

    /// The template's output, as `kubectl -o jsonpath=` prints it: each piece's matches as
    /// [`Match::to_text`], separated by spaces, pieces concatenated.
    pub fn execute(&self, data: &Value) -> Result<String, EvalError> {
        let mut out = String::new();
        for results in self.find_results(data)? {
            let texts: Vec<String> = results.iter().map(Match::to_text).collect();
            out.push_str(&texts.join(" "));
        }
        Ok(out)
    }
}

/// Upstream's rule for a printer column's `jsonPath` when a CRD is created or updated:
/// required, and starting with `.`. Nothing else is checked (a path that does not parse is
/// accepted, and its column is dropped when the resource is served).
///
/// `field` is the path of the field in the error, which upstream spells with the internal
/// type's Go name: `spec.versions[0].additionalPrinterColumns[0].JSONPath`.
///
/// ```
/// use kapi_api::jsonpath::validate_printer_column_path;
/// let field = "spec.versions[0].additionalPrinterColumns[0].JSONPath";
/// let cause = validate_printer_column_path(field, "spec.replicas").unwrap();
/// assert_eq!(
///     format!("{}: {}", cause.field, cause.message),
///     "spec.versions[0].additionalPrinterColumns[0].JSONPath: Invalid value: \"spec.replicas\": must be a simple json path starting with ."
/// );
/// assert!(validate_printer_column_path(field, ".spec.replicas").is_none());
/// ```
pub fn validate_printer_column_path(field: &str, path: &str) -> Option<Cause> {
    if path.is_empty() {
        return Some(required(field));
    }
    if !path.starts_with('.') {
        return Some(invalid_value(
            field,
            path,
            "must be a simple json path starting with .",
        ));
    }
    None
}

// ---------------------------------------------------------------------------------------------
// Parsing: a port of the shape of upstream's parser, a cursor over the text that consumes one
// node at a time. Sub-expressions (union members, quoted keys, filter sides) are parsed again as
// templates of their own, as upstream does.

/// A cursor over a template. `pos` and `start` are byte offsets on character boundaries;
/// `start..pos` is the text read since the last node.
struct Parser<'s> {
    input: &'s str,
    pos: usize,
    start: usize,
    /// The byte length of the last character read, for [`Parser::backup`].
    width: usize,
}

impl<'s> Parser<'s> {
    fn new(input: &'s str) -> Self {
        Self {
            input,
            pos: 0,
            start: 0,
            width: 0,
        }
    }

    fn rest(&self) -> &'s str {
        self.input.get(self.pos..).unwrap_or("")
    }

    /// Reads one character; `None` at the end.
    fn next(&mut self) -> Option<char> {
        match self.rest().chars().next() {
            Some(c) => {
                self.width = c.len_utf8();
                self.pos += self.width;
                Some(c)
            }
            None => {
                self.width = 0;
                None
            }
        }
    }

    /// Un-reads the last character read (once).
    fn backup(&mut self) {
        self.pos -= self.width;
    }

    fn peek(&mut self) -> Option<char> {
        let c = self.next();
        self.backup();
        c
    }

    /// The text read since the last call.
    fn consume(&mut self) -> &'s str {
        let text = self.input.get(self.start..self.pos).unwrap_or("");
        self.start = self.pos;
        text
    }

    /// The byte before the character just read: a backslash there escapes it.
    fn escaped(&self) -> bool {
        self.pos
            .checked_sub(2)
            .and_then(|i| self.input.as_bytes().get(i))
            == Some(&b'\\')
    }

    fn parse_template(mut self) -> Result<Vec<Segment>, JsonPathError> {
        let mut segments = Vec::new();
        loop {
            while !self.rest().starts_with('{') {
                if self.next().is_none() {
                    if self.pos > self.start {
                        segments.push(Segment::Text(self.consume().to_string()));
                    }
                    return Ok(segments);
                }
            }
            if self.pos > self.start {
                segments.push(Segment::Text(self.consume().to_string()));
            }
            self.pos += 1;
            self.consume();
            let mut nodes = Vec::new();
            self.parse_action(&mut nodes)?;
            segments.push(Segment::Action(nodes));
        }
    }

    /// Parses the inside of an action up to and including its `}`.
    fn parse_action(&mut self, nodes: &mut Vec<Node>) -> Result<(), JsonPathError> {
        loop {
            let rest = self.rest();
            if rest.starts_with('}') {
                self.pos += 1;
                self.consume();
                return Ok(());
            }
            if rest.starts_with("[?(") {
                self.parse_filter(nodes)?;
                continue;
            }
            if rest.starts_with("..") {
                self.parse_recursive(nodes)?;
                continue;
            }
            match self.next() {
                None | Some('\r' | '\n') => return Err(JsonPathError::UnclosedAction),
                Some(' ' | '@' | '$') => {
                    self.consume();
                }
                Some('[') => self.parse_array(nodes)?,
                Some(quote @ ('"' | '\'')) => self.parse_quote(nodes, quote)?,
                Some('.') => self.parse_field(nodes),
                Some(c) if c == '+' || c == '-' || is_digit(c) => {
                    self.backup();
                    self.parse_number(nodes)?;
                }
                Some(c) if is_alphanumeric(c) => {
                    self.backup();
                    self.parse_identifier(nodes);
                }
                Some(c) => return Err(JsonPathError::UnrecognizedCharacter(c)),
            }
        }
    }

    fn parse_recursive(&mut self, nodes: &mut Vec<Node>) -> Result<(), JsonPathError> {
        if nodes.last() == Some(&Node::Recursive) {
            return Err(JsonPathError::MultipleRecursiveDescent);
        }
        self.pos += 2;
        self.consume();
        nodes.push(Node::Recursive);
        if self.peek().is_some_and(is_alphanumeric) {
            self.parse_field(nodes);
        }
        Ok(())
    }

    /// A field name runs to the next unescaped terminator; backslashes are then dropped.
    fn parse_field(&mut self, nodes: &mut Vec<Node>) {
        self.consume();
        loop {
            match self.next() {
                Some('\\') => {
                    self.next();
                }
                c if is_terminator(c) => {
                    self.backup();
                    break;
                }
                _ => {}
            }
        }
        let name = self.consume();
        nodes.push(if name == "*" {
            Node::Wildcard
        } else {
            Node::Field(name.replace('\\', ""))
        });
    }

    fn parse_identifier(&mut self, nodes: &mut Vec<Node>) {
        loop {
            let c = self.next();
            if is_terminator(c) {
                self.backup();
                break;
            }
        }
        nodes.push(match self.consume() {
            "true" => Node::Bool(true),
            "false" => Node::Bool(false),
            word => Node::Identifier(word.to_string()),
        });
    }

    fn parse_number(&mut self, nodes: &mut Vec<Node>) -> Result<(), JsonPathError> {
        if matches!(self.peek(), Some('+' | '-')) {
            self.next();
        }
        loop {
            match self.next() {
                Some(c) if c == '.' || is_digit(c) => {}
                _ => {
                    self.backup();
                    break;
                }
            }
        }
        let text = self.consume();
        if let Ok(i) = text.parse::<i64>() {
            nodes.push(Node::Int(i));
            return Ok(());
        }
        match text.parse::<f64>() {
            // Go's ParseFloat reports overflow to infinity as an error.
            Ok(f) if f.is_finite() => {
                nodes.push(Node::Float(f));
                Ok(())
            }
            _ => Err(JsonPathError::InvalidNumber(text.to_string())),
        }
    }

    /// `[...]`: a union (`[a,b]`), a quoted key (`['k']`) or an index or slice.
    fn parse_array(&mut self, nodes: &mut Vec<Node>) -> Result<(), JsonPathError> {
        loop {
            match self.next() {
                None | Some('\n') => return Err(JsonPathError::UnterminatedArray),
                Some(']') => break,
                _ => {}
            }
        }
        let text = self.consume();
        let mut inner = text.get(1..text.len().saturating_sub(1)).unwrap_or("");
        if inner == "*" {
            inner = ":";
        }

        if inner.contains(',') {
            let mut union = Vec::new();
            for part in inner.split(',') {
                union.push(parse_sub_action(&format!("[{}]", part.trim_matches(' ')))?);
            }
            nodes.push(Node::Union(union));
            return Ok(());
        }

        if let Some(key) = inner
            .strip_prefix('\'')
            .and_then(|k| k.strip_suffix('\''))
            .filter(|k| !k.contains('\''))
        {
            nodes.extend(parse_sub_action(&format!(".{key}"))?);
            return Ok(());
        }

        let Some(groups) = slice_groups(inner) else {
            return Err(JsonPathError::InvalidArrayIndex(inner.to_string()));
        };
        let mut params = [Param::default(); 3];
        for (i, group) in groups.into_iter().enumerate() {
            if group.is_empty() {
                if i == 1 {
                    // A single index `[i]` is the slice `[i:i+1]`.
                    params[1] = Param {
                        value: params[0].value.wrapping_add(1),
                        known: true,
                        derived: true,
                    };
                }
                continue;
            }
            let number = if i > 0 { &group[1..] } else { group };
            if i > 0 && number.is_empty() {
                continue;
            }
            let value = number
                .parse::<i64>()
                .map_err(|_| JsonPathError::ArrayIndexNotNumber(number.to_string()))?;
            params[i] = Param {
                value,
                known: true,
                derived: false,
            };
        }
        nodes.push(Node::Array(params));
        Ok(())
    }

    /// `[?(left op right)]` or `[?(path)]`. The condition runs to the first `)` outside a
    /// quoted string, by upstream's reckoning of quotes.
    fn parse_filter(&mut self, nodes: &mut Vec<Node>) -> Result<(), JsonPathError> {
        self.pos += 3;
        self.consume();
        let (mut begin, mut end, mut pair) = (false, false, '"');
        loop {
            match self.next() {
                None | Some('\n') => return Err(JsonPathError::UnterminatedFilter),
                Some(quote @ ('"' | '\'')) => {
                    if !begin {
                        begin = true;
                        pair = quote;
                        continue;
                    }
                    if !self.escaped() && quote == pair {
                        end = true;
                    }
                }
                Some(')') if begin == end => break,
                _ => {}
            }
        }
        if self.next() != Some(']') {
            return Err(JsonPathError::UnclosedFilter);
        }
        let text = self.consume();
        let text = text.get(..text.len().saturating_sub(2)).unwrap_or("");
        let filter = match split_filter(text) {
            None => Filter {
                left: parse_sub_action(text)?,
                right: Vec::new(),
                op: FilterOp::Exists,
            },
            Some((left, op, right)) => Filter {
                left: parse_sub_action(left)?,
                right: parse_sub_action(right)?,
                op: FilterOp::parse(op),
            },
        };
        nodes.push(Node::Filter(Box::new(filter)));
        Ok(())
    }

    fn parse_quote(&mut self, nodes: &mut Vec<Node>, quote: char) -> Result<(), JsonPathError> {
        loop {
            match self.next() {
                None | Some('\n') => return Err(JsonPathError::UnterminatedQuote),
                Some(c) if c == quote && !self.escaped() => break,
                _ => {}
            }
        }
        let text = self.consume();
        let value = unquote(text).ok_or_else(|| JsonPathError::InvalidQuotedString(text.into()))?;
        nodes.push(Node::Text(value));
        Ok(())
    }
}

/// Parses `text` as the inside of one action and returns its steps; what follows a `}` inside
/// `text` is dropped, as upstream drops it.
fn parse_sub_action(text: &str) -> Result<Vec<Node>, JsonPathError> {
    let segments = Parser::new(&format!("{{{text}}}")).parse_template()?;
    Ok(match segments.into_iter().next() {
        Some(Segment::Action(nodes)) => nodes,
        _ => Vec::new(),
    })
}

/// Splits an index or slice (`-1`, `1:`, `::2`) into its three groups, each with its leading
/// colon; `None` when it is not one.
fn slice_groups(text: &str) -> Option<[&str; 3]> {
    let bytes = text.as_bytes();
    let number_end = |mut i: usize| {
        if bytes.get(i) == Some(&b'-') {
            i += 1;
        }
        while bytes.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        i
    };
    let mut groups = [""; 3];
    let mut i = number_end(0);
    groups[0] = &text[..i];
    for group in &mut groups[1..] {
        if bytes.get(i) == Some(&b':') {
            let start = i;
            i = number_end(i + 1);
            *group = &text[start..i];
        }
    }
    (i == bytes.len()).then_some(groups)
}

/// Splits a filter condition into left side, operator and right side: the left side runs to the
/// first of `!<>=`, the operator is the run of those characters (leaving at least one character
/// for the right side). `None` for an existence test.
fn split_filter(text: &str) -> Option<(&str, &str, &str)> {
    let is_op = |b: &u8| matches!(b, b'!' | b'<' | b'>' | b'=');
    let bytes = text.as_bytes();
    let op_start = bytes.iter().position(is_op).filter(|&i| i > 0)?;
    let mut op_end = op_start;
    while bytes.get(op_end).is_some_and(is_op) {
        op_end += 1;
    }
    if op_end == bytes.len() {
        op_end -= 1;
    }
    (op_end > op_start).then(|| (&text[..op_start], &text[op_start..op_end], &text[op_end..]))
}

/// Whether `c` ends a field name or a bare word.
fn is_terminator(c: Option<char>) -> bool {
    match c {
        None => true,
        Some(c) => matches!(
            c,
            ' ' | '\t' | '\r' | '\n' | '.' | ',' | '[' | ']' | '$' | '@' | '{' | '}'
        ),
    }
}

/// Go's `unicode.IsDigit`, exact for ASCII. Beyond ASCII every numeric character counts: the
/// only effect is which parse error a stray one causes.
fn is_digit(c: char) -> bool {
    c.is_ascii_digit() || (!c.is_ascii() && c.is_numeric())
}

/// Go's `unicode.IsLetter` or digit or `_`: what may start a field after `..` or a bare word.
/// Exact for ASCII; beyond it, Rust's alphabetic property stands in for the letter categories.
fn is_alphanumeric(c: char) -> bool {
    c == '_' || is_digit(c) || c.is_alphabetic()
}

/// Go's `%#U` of a character: `U+002A '*'`, without the character when it is not printable.
fn go_unicode(c: char) -> String {
    if c.is_control() || (c.is_whitespace() && c != ' ') {
        format!("U+{:04X}", c as u32)
    } else {
        format!("U+{:04X} '{c}'", c as u32)
    }
}

/// Removes the quotes of a single- or double-quoted string and resolves Go's escapes (`\n`,
/// `\x41`, `\u00e9`, `\101`, the own quote). `None` for invalid syntax. Byte escapes that leave
/// invalid UTF-8 become U+FFFD.
fn unquote(text: &str) -> Option<String> {
    let quote = text.chars().next().filter(|q| matches!(q, '"' | '\''))?;
    let inner = text.strip_prefix(quote)?.strip_suffix(quote)?;
    if !inner.contains('\\') && !inner.contains(quote) {
        return Some(inner.to_string());
    }
    let mut out: Vec<u8> = Vec::with_capacity(inner.len());
    let mut rest = inner;
    while !rest.is_empty() {
        let mut chars = rest.chars();
        let c = chars.next()?;
        if c == quote {
            return None;
        }
        if c != '\\' {
            let mut buf = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            rest = chars.as_str();
            continue;
        }
        let escape = chars.next()?;
        rest = chars.as_str();
        let c = match escape {
            'a' => '\u{7}',
            'b' => '\u{8}',
            'f' => '\u{c}',
            'n' => '\n',
            'r' => '\r',
            't' => '\t',
            'v' => '\u{b}',
            '\\' => '\\',
            '\'' | '"' if escape == quote => escape,
            'x' | 'u' | 'U' => {
                let n = match escape {
                    'x' => 2,
                    'u' => 4,
                    _ => 8,
                };
                let hex = rest
                    .get(..n)
                    .filter(|h| h.bytes().all(|b| b.is_ascii_hexdigit()))?;
                let v = u32::from_str_radix(hex, 16).ok()?;
                rest = &rest[n..];
                if escape == 'x' {
                    out.push(u8::try_from(v).ok()?);
                    continue;
                }
                char::from_u32(v)?
            }
            '0'..='7' => {
                let digits = rest
                    .get(..2)
                    .filter(|d| d.bytes().all(|b| (b'0'..=b'7').contains(&b)))?;
                let v = u32::from_str_radix(&format!("{escape}{digits}"), 8).ok()?;
                rest = &rest[2..];
                out.push(u8::try_from(v).ok()?);
                continue;
            }
            _ => return None,
        };
        let mut buf = [0u8; 4];
        out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
    }
    Some(String::from_utf8_lossy(&out).into_owned())
}

// ---------------------------------------------------------------------------------------------
// Evaluation: each step maps the list of current matches to the next list.

/// A failed step, with what the step returned alongside its error: an existence filter counts a
/// failing condition that still returned something as a match, as upstream does.
struct Failure<'a> {
    partial: Vec<Match<'a>>,
    error: EvalError,
}

type Step<'a> = Result<Vec<Match<'a>>, Failure<'a>>;

fn fail(partial: Vec<Match<'_>>, error: EvalError) -> Failure<'_> {
    Failure { partial, error }
}

fn eval_list<'a>(nodes: &'a [Node], input: Vec<Match<'a>>) -> Step<'a> {
    nodes
        .iter()
        .try_fold(input, |current, node| eval_node(node, current))
}

fn eval_node<'a>(node: &'a Node, input: Vec<Match<'a>>) -> Step<'a> {
    match node {
        Node::Text(text) => Ok(vec![Match::Text(text)]),
        Node::Field(name) => Ok(input
            .iter()
            .filter_map(|m| match m {
                Match::Json(Value::Object(map)) => map.get(name).map(Match::Json),
                _ => None,
            })
            .collect()),
        Node::Array(params) => eval_array(params, input),
        Node::Filter(filter) => eval_filter(filter, input),
        Node::Int(i) => Ok(vec![Match::Int(*i); input.len()]),
        Node::Float(f) => Ok(vec![Match::Float(*f); input.len()]),
        Node::Bool(b) => Ok(vec![Match::Bool(*b); input.len()]),
        Node::Wildcard => Ok(input.iter().flat_map(children).collect()),
        Node::Recursive => Ok(descendants(&input)),
        Node::Union(alternatives) => {
            let mut out = Vec::new();
            for nodes in alternatives {
                match eval_list(nodes, input.clone()) {
                    Ok(found) => out.extend(found),
                    Err(failure) => return Err(fail(input, failure.error)),
                }
            }
            Ok(out)
        }
        Node::Identifier(word) => Err(match word.as_str() {
            "range" => fail(input, EvalError::RangeUnsupported),
            "end" => fail(Vec::new(), EvalError::NotInRange),
            _ => fail(input, EvalError::UnrecognizedIdentifier(word.clone())),
        }),
    }
}

/// The values of an object, the items of a list, the bytes of a string; nothing for the rest.
fn children<'a>(m: &Match<'a>) -> Vec<Match<'a>> {
    match *m {
        Match::Json(Value::Object(map)) => map.values().map(Match::Json).collect(),
        Match::Json(Value::Array(items)) => items.iter().map(Match::Json).collect(),
        Match::Json(Value::String(s)) => s.bytes().map(Match::Byte).collect(),
        Match::Text(s) => s.bytes().map(Match::Byte).collect(),
        _ => Vec::new(),
    }
}

/// `..`: each input that has children, followed by its descendants that have children, depth
/// first. Leaves (scalars, empty lists and objects) are not included.
fn descendants<'a>(input: &[Match<'a>]) -> Vec<Match<'a>> {
    let mut out = Vec::new();
    for m in input {
        let kids = children(m);
        if !kids.is_empty() {
            out.push(*m);
            out.extend(descendants(&kids));
        }
    }
    out
}

fn eval_array<'a>(params: &[Param; 3], input: Vec<Match<'a>>) -> Step<'a> {
    let mut result = Vec::new();
    for m in &input {
        let items = match *m {
            Match::Json(Value::Null) => continue,
            Match::Json(Value::Array(items)) => items,
            other => return Err(fail(input.clone(), EvalError::NotArray(other.go_type()))),
        };
        let length = items.len();
        let len = i64::try_from(length).unwrap_or(i64::MAX);
        let mut p = *params;
        if !p[0].known {
            p[0].value = 0;
        }
        if p[0].value < 0 {
            p[0].value = p[0].value.wrapping_add(len);
        }
        if !p[1].known {
            p[1].value = len;
        }
        if p[1].value < 0 || (p[1].value == 0 && p[1].derived) {
            p[1].value = p[1].value.wrapping_add(len);
        }
        let (start, end) = (p[0].value, p[1].value);
        if start == end {
            // An empty selection ends the step: later inputs are not looked at.
            return Ok(result);
        }
        if start < 0 || start >= len {
            let error = EvalError::OutOfBounds {
                index: start,
                length,
            };
            return Err(fail(input.clone(), error));
        }
        if end < 0 || end > len {
            let error = EvalError::OutOfBounds {
                index: end.wrapping_sub(1),
                length,
            };
            return Err(fail(input.clone(), error));
        }
        if start > end {
            return Err(fail(input.clone(), EvalError::StartAfterEnd { start, end }));
        }
        let step = if p[2].known {
            if p[2].value <= 0 {
                return Err(fail(input.clone(), EvalError::NonPositiveStep));
            }
            usize::try_from(p[2].value).unwrap_or(usize::MAX)
        } else {
            1
        };
        // In bounds: 0 <= start < end <= len.
        let (start, end) = (start as usize, end as usize);
        result.extend(items[start..end].iter().step_by(step).map(Match::Json));
    }
    Ok(result)
}

fn eval_filter<'a>(filter: &'a Filter, input: Vec<Match<'a>>) -> Step<'a> {
    let mut results = Vec::new();
    for m in &input {
        let items = match *m {
            Match::Json(Value::Array(items)) => items,
            other => {
                return Err(fail(
                    input.clone(),
                    EvalError::NotFilterable(other.go_type()),
                ))
            }
        };
        for item in items {
            let here = vec![Match::Json(item)];
            let left = eval_list(&filter.left, here.clone());
            if filter.op == FilterOp::Exists {
                let found = left.unwrap_or_else(|failure| failure.partial);
                if !found.is_empty() {
                    results.push(Match::Json(item));
                }
                continue;
            }
            let left = match left {
                Ok(found) => found,
                Err(failure) => return Err(fail(input.clone(), failure.error)),
            };
            let left = match left.as_slice() {
                [] => continue,
                [one] => *one,
                _ => return Err(fail(input.clone(), EvalError::MultipleValues)),
            };
            let right = match eval_list(&filter.right, here) {
                Ok(found) => found,
                Err(failure) => return Err(fail(input.clone(), failure.error)),
            };
            let right = match right.as_slice() {
                [] => continue,
                [one] => *one,
                _ => return Err(fail(input.clone(), EvalError::MultipleValues)),
            };
            match compare(&filter.op, left, right) {
                Ok(true) => results.push(Match::Json(item)),
                Ok(false) => {}
                Err(error) => return Err(fail(results, error)),
            }
        }
    }
    Ok(results)
}

/// A comparable value, by the kinds Go's template comparisons know.
#[derive(Clone, Copy)]
enum Scalar<'a> {
    Bool(bool),
    Int(i64),
    Uint(u64),
    Float(f64),
    Str(&'a str),
}

fn scalar<'a>(m: Match<'a>) -> Result<Scalar<'a>, EvalError> {
    Ok(match m {
        Match::Json(Value::Bool(b)) => Scalar::Bool(*b),
        Match::Bool(b) => Scalar::Bool(b),
        Match::Json(Value::Number(n)) => match n.as_i64() {
            Some(i) => Scalar::Int(i),
            None => Scalar::Float(n.as_f64().unwrap_or_default()),
        },
        Match::Json(Value::String(s)) => Scalar::Str(s),
        Match::Json(_) => return Err(EvalError::BadComparisonType),
        Match::Text(s) => Scalar::Str(s),
        Match::Int(i) => Scalar::Int(i),
        Match::Float(f) => Scalar::Float(f),
        Match::Byte(b) => Scalar::Uint(u64::from(b)),
    })
}

fn compare(op: &FilterOp, left: Match<'_>, right: Match<'_>) -> Result<bool, EvalError> {
    let (a, b) = (scalar(left)?, scalar(right)?);
    match op {
        FilterOp::Eq => equal(a, b),
        FilterOp::Ne => equal(a, b).map(|eq| !eq),
        FilterOp::Lt => less(a, b),
        FilterOp::Le => Ok(less(a, b)? || equal(a, b)?),
        FilterOp::Gt => Ok(!(less(a, b)? || equal(a, b)?)),
        FilterOp::Ge => less(a, b).map(|lt| !lt),
        FilterOp::Exists => Ok(true),
        FilterOp::Unknown(op) => Err(EvalError::UnknownOperator(op.clone())),
    }
}

fn equal(a: Scalar<'_>, b: Scalar<'_>) -> Result<bool, EvalError> {
    Ok(match (a, b) {
        (Scalar::Bool(x), Scalar::Bool(y)) => x == y,
        (Scalar::Int(x), Scalar::Int(y)) => x == y,
        (Scalar::Uint(x), Scalar::Uint(y)) => x == y,
        (Scalar::Float(x), Scalar::Float(y)) => x == y,
        (Scalar::Str(x), Scalar::Str(y)) => x == y,
        (Scalar::Int(x), Scalar::Uint(y)) => u64::try_from(x).is_ok_and(|x| x == y),
        (Scalar::Uint(x), Scalar::Int(y)) => u64::try_from(y).is_ok_and(|y| x == y),
        _ => return Err(EvalError::BadComparison),
    })
}

fn less(a: Scalar<'_>, b: Scalar<'_>) -> Result<bool, EvalError> {
    Ok(match (a, b) {
        (Scalar::Bool(_), Scalar::Bool(_)) => return Err(EvalError::BadComparisonType),
        (Scalar::Int(x), Scalar::Int(y)) => x < y,
        (Scalar::Uint(x), Scalar::Uint(y)) => x < y,
        (Scalar::Float(x), Scalar::Float(y)) => x < y,
        (Scalar::Str(x), Scalar::Str(y)) => x < y,
        (Scalar::Int(x), Scalar::Uint(y)) => x < 0 || u64::try_from(x).is_ok_and(|x| x < y),
        (Scalar::Uint(x), Scalar::Int(y)) => u64::try_from(y).is_ok_and(|y| x < y),
        _ => return Err(EvalError::BadComparison),
    })
}

// ---------------------------------------------------------------------------------------------
// Go's formatting of numbers and JSON, for text that must read as upstream's.

/// The shortest decimal digits that read back as `f`, and the position of the decimal point
/// relative to them (`1.5` is `("15", 1)`); zero has no digits.
fn float_digits(f: f64) -> (String, i32) {
    let text = format!("{:e}", f.abs());
    let (mantissa, exponent) = text.split_once('e').unwrap_or((&text, "0"));
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    if digits.bytes().all(|d| d == b'0') {
        return (String::new(), 0);
    }
    (digits, exponent.parse::<i32>().unwrap_or(0) + 1)
}

/// Go's `%e` with `prec` digits after the point: `1.5e+06`, `1e-07`.
fn fmt_e(neg: bool, digits: &str, point: i32, prec: usize) -> String {
    let mut out = String::new();
    if neg {
        out.push('-');
    }
    out.push(digits.chars().next().unwrap_or('0'));
    if prec > 0 {
        out.push('.');
        let fraction = digits.get(1..).unwrap_or("");
        out.push_str(fraction);
        out.extend(std::iter::repeat_n(
            '0',
            prec.saturating_sub(fraction.len()),
        ));
    }
    let exp = if digits.is_empty() { 0 } else { point - 1 };
    out.push('e');
    out.push(if exp < 0 { '-' } else { '+' });
    out.push_str(&format!("{:02}", exp.unsigned_abs()));
    out
}

/// Go's `%f` with `prec` digits after the point.
fn fmt_f(neg: bool, digits: &str, point: i32, prec: usize) -> String {
    let mut out = String::new();
    if neg {
        out.push('-');
    }
    let nd = digits.len();
    match usize::try_from(point) {
        Ok(dp) if dp > 0 => {
            out.push_str(&digits[..nd.min(dp)]);
            out.extend(std::iter::repeat_n('0', dp.saturating_sub(nd)));
        }
        _ => out.push('0'),
    }
    if prec > 0 {
        out.push('.');
        for i in 1..=prec as i64 {
            let j = i64::from(point) + i - 1;
            let digit = usize::try_from(j)
                .ok()
                .and_then(|j| digits.as_bytes().get(j))
                .map_or('0', |&d| char::from(d));
            out.push(digit);
        }
    }
    out
}

/// Go's `%v` of a float64 (`fmt.Print`): the shortest digits that read back, in exponent form
/// when the decimal exponent is below -4 or at least 6 (`1e-05`, `1.5e+06`, but `123456`).
fn go_format_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".to_string();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf" } else { "-Inf" }.to_string();
    }
    let (digits, point) = float_digits(f);
    let neg = f.is_sign_negative();
    let exp = point - 1;
    if !digits.is_empty() && !(-4..6).contains(&exp) {
        return fmt_e(neg, &digits, point, digits.len().saturating_sub(1));
    }
    let prec =
        usize::try_from(i64::try_from(digits.len()).unwrap_or(0) - i64::from(point)).unwrap_or(0);
    fmt_f(neg, &digits, point, prec)
}

/// A float64 as Go's `encoding/json` writes it: plain decimals from 1e-6 up to 1e21, exponent
/// form (`1e-7`, `1e+21`) outside.
fn go_json_float(f: f64) -> String {
    if !f.is_finite() {
        return "null".to_string();
    }
    let (digits, point) = float_digits(f);
    let neg = f.is_sign_negative();
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        let text = fmt_e(neg, &digits, point, digits.len().saturating_sub(1));
        // Go drops the leading zero of a two-digit negative exponent: e-07 becomes e-7.
        let n = text.len();
        if n >= 4 && text[..n - 1].ends_with("e-0") {
            return format!("{}{}", &text[..n - 2], &text[n - 1..]);
        }
        return text;
    }
    let prec =
        usize::try_from(i64::try_from(digits.len()).unwrap_or(0) - i64::from(point)).unwrap_or(0);
    fmt_f(neg, &digits, point, prec)
}

/// A JSON string as Go's `encoding/json` escapes it (HTML-safe).
fn go_json_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || matches!(c, '<' | '>' | '&' | '\u{2028}' | '\u{2029}') => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// A value as Go's `json.Marshal` writes a document decoded into `interface{}`: compact,
/// object keys sorted, HTML-sensitive characters escaped, integers beyond int64 as float64.
/// What upstream prints wherever it marshals a value it decoded (JSONPath output, the values
/// of field errors).
pub fn go_marshal(v: &Value) -> String {
    let mut out = String::new();
    go_json(v, &mut out);
    out
}

fn go_json(v: &Value, out: &mut String) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => match n.as_i64() {
            Some(i) => out.push_str(&i.to_string()),
            None => out.push_str(&go_json_float(n.as_f64().unwrap_or_default())),
        },
        Value::String(s) => go_json_string(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                go_json(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (key, value)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                go_json_string(key, out);
                out.push(':');
                go_json(value, out);
            }
            out.push('}');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parsed(path: &str) -> Vec<Segment> {
        match JsonPath::parse(path) {
            Ok(p) => p.segments,
            Err(e) => panic!("{path}: {e}"),
        }
    }

    /// The steps of a column path (its one action).
    fn steps(path: &str) -> Vec<Node> {
        match parsed(path).as_slice() {
            [Segment::Action(nodes)] => nodes.clone(),
            other => panic!("{path}: {other:?}"),
        }
    }

    fn field(name: &str) -> Node {
        Node::Field(name.to_string())
    }

    fn index(start: i64, end: Option<i64>, step: Option<i64>, derived: bool) -> Node {
        let known = |v: Option<i64>| Param {
            value: v.unwrap_or(0),
            known: v.is_some(),
            derived: false,
        };
        let mut end = known(end);
        end.derived = derived;
        Node::Array([
            Param {
                value: start,
                known: true,
                derived: false,
            },
            end,
            known(step),
        ])
    }

    fn unknown_start(end: Option<i64>, step: Option<i64>) -> Node {
        match index(0, end, step, false) {
            Node::Array(mut p) => {
                p[0].known = false;
                Node::Array(p)
            }
            other => other,
        }
    }

    fn error(path: &str) -> String {
        match JsonPath::parse(path) {
            Ok(p) => panic!("{path} parsed: {p:?}"),
            Err(e) => e.to_string(),
        }
    }

    /// The values `path` selects in `data`, as JSON.
    fn eval(path: &str, data: &Value) -> Result<Vec<Value>, EvalError> {
        let path = JsonPath::parse(path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let found = path.evaluate(data)?;
        Ok(found.iter().map(Match::to_value).collect())
    }

    /// What `kubectl -o jsonpath` would print for a column path.
    fn text(path: &str, data: &Value) -> String {
        let path = JsonPath::parse(path).unwrap_or_else(|e| panic!("{path}: {e}"));
        path.execute(data)
            .unwrap_or_else(|e| panic!("{}: {e}", path.as_str()))
    }

    fn widget() -> Value {
        json!({
            "kind": "Widget",
            "metadata": {
                "name": "w",
                "labels": {"app.kubernetes.io/name": "web", "tier": "db"}
            },
            "spec": {
                "replicas": 3,
                "ratio": 0.5,
                "paused": false,
                "ports": [80, 443, 8080],
                "tags": ["a", "b"],
                "empty": [],
                "nothing": null,
                "nested": {"x": {"name": "inner"}}
            },
            "status": {"conditions": [
                {"type": "Ready", "status": "True", "weight": 2},
                {"type": "Synced", "status": "False", "weight": 1, "reason": "Error"}
            ]}
        })
    }

    #[test]
    fn fields_and_quoted_keys() {
        assert_eq!(steps(".a.b"), vec![field("a"), field("b")]);
        assert_eq!(steps("$.a"), vec![field("a")]);
        assert_eq!(steps(".a .b"), vec![field("a"), field("b")]);
        assert_eq!(steps("['a']"), vec![field("a")]);
        // A quoted key is read again as a path: its dots separate fields unless escaped.
        assert_eq!(steps("['a.b']"), vec![field("a"), field("b")]);
        assert_eq!(steps(r"['a\.b']"), vec![field("a.b")]);
        assert_eq!(steps(r".a\.b/c-d"), vec![field("a.b/c-d")]);
        assert_eq!(steps("['']"), vec![field("")]);
        // What follows a `}` inside a quoted key is dropped.
        assert_eq!(steps("['a}b']"), vec![field("a")]);
        assert_eq!(steps("."), vec![field("")]);
        assert_eq!(steps(""), Vec::<Node>::new());
        assert_eq!(steps(".*"), vec![Node::Wildcard]);
        assert_eq!(steps(".a.*"), vec![field("a"), Node::Wildcard]);
    }

    #[test]
    fn indexes_and_slices() {
        assert_eq!(steps("[0]"), vec![index(0, Some(1), None, true)]);
        assert_eq!(steps("[-1]"), vec![index(-1, Some(0), None, true)]);
        assert_eq!(steps("[1:3]"), vec![index(1, Some(3), None, false)]);
        assert_eq!(steps("[1:-1]"), vec![index(1, Some(-1), None, false)]);
        assert_eq!(steps("[-2:]"), vec![index(-2, None, None, false)]);
        assert_eq!(steps("[:2]"), vec![unknown_start(Some(2), None)]);
        assert_eq!(steps("[::2]"), vec![unknown_start(None, Some(2))]);
        assert_eq!(steps("[0:4:2]"), vec![index(0, Some(4), Some(2), false)]);
        assert_eq!(steps("[*]"), vec![unknown_start(None, None)]);
        assert_eq!(steps("[:]"), vec![unknown_start(None, None)]);
        // Empty brackets are the first item.
        match steps("[]").as_slice() {
            [Node::Array([start, end, _])] => {
                assert!(!start.known);
                assert_eq!((end.value, end.known, end.derived), (1, true, true));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn recursion_filters_unions_and_literals() {
        assert_eq!(steps("..name"), vec![Node::Recursive, field("name")]);
        assert_eq!(steps("...name"), vec![Node::Recursive, field("name")]);
        assert_eq!(steps(".."), vec![Node::Recursive]);
        assert_eq!(
            steps("..[0]"),
            vec![Node::Recursive, index(0, Some(1), None, true)]
        );
        assert_eq!(
            steps(r#".c[?(@.type=="Ready")].status"#),
            vec![
                field("c"),
                Node::Filter(Box::new(Filter {
                    left: vec![field("type")],
                    right: vec![Node::Text("Ready".into())],
                    op: FilterOp::Eq,
                })),
                field("status"),
            ]
        );
        assert_eq!(
            steps("[?(@.x)]"),
            vec![Node::Filter(Box::new(Filter {
                left: vec![field("x")],
                right: vec![],
                op: FilterOp::Exists,
            }))]
        );
        let filter = |path: &str| match steps(path).as_slice() {
            [Node::Filter(f)] => (**f).clone(),
            other => panic!("{path}: {other:?}"),
        };
        assert_eq!(filter("[?(@.a <= 1.5)]").op, FilterOp::Le);
        assert_eq!(filter("[?(@.a <= 1.5)]").right, vec![Node::Float(1.5)]);
        assert_eq!(filter("[?(@.a>=-2)]").right, vec![Node::Int(-2)]);
        assert_eq!(filter("[?(@.a!=true)]").right, vec![Node::Bool(true)]);
        assert_eq!(filter("[?(@.a<@.b)]").right, vec![field("b")]);
        assert_eq!(filter("[?(@.a<>1)]").op, FilterOp::Unknown("<>".into()));
        // `=` ends no field name: this tests whether the key `a=` exists.
        assert_eq!(filter("[?(@.a=)]").left, vec![field("a=")]);
        // Parentheses inside quotes do not end the condition.
        assert_eq!(
            filter(r#"[?(@.os == "(x)")]"#).right,
            vec![Node::Text("(x)".into())]
        );
        assert_eq!(
            steps("['a.b', 3]"),
            vec![Node::Union(vec![
                vec![field("a"), field("b")],
                vec![index(3, Some(4), None, true)],
            ])]
        );
        assert_eq!(
            steps(r#".a "x" 'y' 7"#),
            vec![
                field("a"),
                Node::Text("x".into()),
                Node::Text("y".into()),
                Node::Int(7)
            ]
        );
        assert_eq!(
            steps(r#""\x41\u00e9\101\"""#),
            vec![Node::Text("A\u{e9}A\"".into())]
        );
        assert_eq!(steps(r"'\''"), vec![Node::Text("'".into())]);
        assert_eq!(steps(r#""\xff""#), vec![Node::Text("\u{fffd}".into())]);
        assert_eq!(
            steps(".a range end foo"),
            vec![
                field("a"),
                Node::Identifier("range".into()),
                Node::Identifier("end".into()),
                Node::Identifier("foo".into())
            ]
        );
    }

    #[test]
    fn templates() {
        let t = JsonPath::parse_template(r#"name: {.a}{"\t"}{.b} done"#).map(|t| t.segments);
        assert_eq!(
            t,
            Ok(vec![
                Segment::Text("name: ".into()),
                Segment::Action(vec![field("a")]),
                Segment::Action(vec![Node::Text("\t".into())]),
                Segment::Action(vec![field("b")]),
                Segment::Text(" done".into()),
            ])
        );
        // A column path holding braces becomes several pieces once wrapped.
        assert_eq!(
            parsed(".a} x {.b"),
            vec![
                Segment::Action(vec![field("a")]),
                Segment::Text(" x ".into()),
                Segment::Action(vec![field("b")]),
            ]
        );
        assert_eq!(
            JsonPath::parse(".a.b").map(|p| p.as_str().to_string()),
            Ok(".a.b".into())
        );
        assert_eq!(
            JsonPath::from_fields(&["metadata", "creationTimestamp"]),
            JsonPath::parse(".metadata.creationTimestamp").unwrap_or_else(|e| panic!("{e}"))
        );
    }

    #[test]
    fn parse_errors_carry_upstream_messages() {
        let cases = [
            (".a[", "unterminated array"),
            (".a[0", "unterminated array"),
            ("..*", "unrecognized character in action: U+002A '*'"),
            ("*", "unrecognized character in action: U+002A '*'"),
            (".a\t", "unrecognized character in action: U+0009"),
            // The operator leaves one character to the right side, here `=` alone.
            (
                "[?(@.a<==)]",
                "unrecognized character in action: U+003D '='",
            ),
            ("....a", "invalid multiple recursive descent"),
            ("[?(@.a==1", "unterminated filter"),
            ("[?(@.a==1)x", "unclosed array expect ]"),
            (".a[x]", "invalid array index x"),
            (".a[+1]", "invalid array index +1"),
            (".a[1:2:3:4]", "invalid array index 1:2:3:4"),
            (".a[-]", "array index - is not a number"),
            (".a[:-]", "array index - is not a number"),
            (
                ".a[99999999999999999999]",
                "array index 99999999999999999999 is not a number",
            ),
            (".a 1.2.3", "cannot parse number 1.2.3"),
            (".a -", "cannot parse number -"),
            (r#".a "abc"#, "unterminated quoted string"),
            (r#""\q""#, r#"unquote string "\q" error invalid syntax"#),
            (r#""\'""#, r#"unquote string "\'" error invalid syntax"#),
            (".a\n", "unclosed action"),
        ];
        for (path, want) in cases {
            assert_eq!(error(path), want, "{path:?}");
        }
        assert_eq!(
            JsonPath::parse_template("{.a").map(|_| ()),
            Err(JsonPathError::UnclosedAction)
        );
        // Union members are parsed on their own.
        assert_eq!(error("[0,x]"), "invalid array index x");
    }

    #[test]
    fn fields_missing_keys_and_escapes() {
        let w = widget();
        assert_eq!(eval(".spec.replicas", &w), Ok(vec![json!(3)]));
        assert_eq!(eval(".spec.missing", &w), Ok(vec![]));
        assert_eq!(eval(".spec.replicas.x", &w), Ok(vec![]));
        assert_eq!(eval(".spec.nothing", &w), Ok(vec![Value::Null]));
        assert_eq!(eval(".spec.nothing.x", &w), Ok(vec![]));
        let label = Ok(vec![json!("web")]);
        assert_eq!(
            eval(r".metadata.labels.app\.kubernetes\.io/name", &w),
            label
        );
        assert_eq!(
            eval(r".metadata.labels['app\.kubernetes\.io/name']", &w),
            label
        );
        assert_eq!(
            eval(".metadata.labels['app.kubernetes.io/name']", &w),
            Ok(vec![])
        );
        assert_eq!(eval("", &w), Ok(vec![w.clone()]));
    }

    #[test]
    fn indexes_slices_and_their_failures() {
        let w = widget();
        let ports = |path: &str| eval(&format!(".spec.ports{path}"), &w);
        assert_eq!(ports("[0]"), Ok(vec![json!(80)]));
        assert_eq!(ports("[-1]"), Ok(vec![json!(8080)]));
        assert_eq!(ports("[-3]"), Ok(vec![json!(80)]));
        assert_eq!(ports("[0:2]"), Ok(vec![json!(80), json!(443)]));
        assert_eq!(ports("[1:]"), Ok(vec![json!(443), json!(8080)]));
        assert_eq!(ports("[:-1]"), Ok(vec![json!(80), json!(443)]));
        assert_eq!(ports("[::2]"), Ok(vec![json!(80), json!(8080)]));
        assert_eq!(ports("[*]"), Ok(vec![json!(80), json!(443), json!(8080)]));
        assert_eq!(ports("[]"), Ok(vec![json!(80)]));
        assert_eq!(ports("[1:1]"), Ok(vec![]));
        assert_eq!(ports("[0,2]"), Ok(vec![json!(80), json!(8080)]));
        assert_eq!(
            ports("[3]"),
            Err(EvalError::OutOfBounds {
                index: 3,
                length: 3
            })
        );
        assert_eq!(
            ports("[-4]"),
            Err(EvalError::OutOfBounds {
                index: -1,
                length: 3
            })
        );
        assert_eq!(
            ports("[0:4]"),
            Err(EvalError::OutOfBounds {
                index: 3,
                length: 3
            })
        );
        assert_eq!(
            ports("[2:1]"),
            Err(EvalError::StartAfterEnd { start: 2, end: 1 })
        );
        assert_eq!(ports("[0:3:0]"), Err(EvalError::NonPositiveStep));
        assert_eq!(
            eval(".spec.empty[0]", &w),
            Err(EvalError::OutOfBounds {
                index: 0,
                length: 0
            })
        );
        assert_eq!(eval(".spec.nothing[0]", &w), Ok(vec![]));
        assert_eq!(
            eval(".spec.replicas[0]", &w),
            Err(EvalError::NotArray("int64"))
        );
        assert_eq!(
            eval(".metadata.name[0]", &w),
            Err(EvalError::NotArray("string"))
        );
        assert_eq!(
            eval(".spec[0]", &w).map_err(|e| e.to_string()),
            Err("map[string]interface {} is not array or slice".to_string())
        );
        // An empty selection ends the step, even when later lists would select something.
        let lists = json!({"lists": [[1, 2], [3], [4, 5]]});
        assert_eq!(eval(".lists[*][1:]", &lists), Ok(vec![json!(2)]));
        assert_eq!(
            eval(".lists[*][0]", &lists),
            Ok(vec![json!(1), json!(3), json!(4)])
        );
    }

    #[test]
    fn wildcards_and_recursive_descent() {
        let w = widget();
        assert_eq!(eval(".spec.tags.*", &w), Ok(vec![json!("a"), json!("b")]));
        assert_eq!(
            eval(".metadata.labels.*", &w),
            Ok(vec![json!("web"), json!("db")])
        );
        assert_eq!(
            eval(".status.conditions[*].type", &w),
            Ok(vec![json!("Ready"), json!("Synced")])
        );
        // Strings are lists of bytes to `.*` and `..`.
        assert_eq!(eval(".metadata.name.*", &w), Ok(vec![json!(119)]));
        assert_eq!(eval("..name", &w), Ok(vec![json!("w"), json!("inner")]));
        assert_eq!(eval(".spec.nested..name", &w), Ok(vec![json!("inner")]));
        assert_eq!(
            eval("..", &json!({"a": {"b": 1}, "c": [], "d": "xy"})),
            Ok(vec![
                json!({"a": {"b": 1}, "c": [], "d": "xy"}),
                json!({"b": 1}),
                json!("xy")
            ])
        );
        // `..` starts with its input, and steps into strings: neither is a list.
        assert_eq!(
            eval("..[0]", &json!({"a": [1], "b": "x"})),
            Err(EvalError::NotArray("map[string]interface {}"))
        );
        assert_eq!(
            eval(".l..[0]", &json!({"l": [[1], "x"]})),
            Err(EvalError::NotArray("string"))
        );
        assert_eq!(
            eval(".l..[0]", &json!({"l": [[1], [2]]})),
            Ok(vec![json!([1]), json!(1), json!(2)])
        );
    }

    #[test]
    fn filters() {
        let w = widget();
        let types = |filter: &str| eval(&format!(".status.conditions[?({filter})].type"), &w);
        let (ready, synced) = (json!("Ready"), json!("Synced"));
        assert_eq!(types(r#"@.type=="Ready""#), Ok(vec![ready.clone()]));
        assert_eq!(types(r#"@.type == 'Ready'"#), Ok(vec![ready.clone()]));
        assert_eq!(types(r#"@.type!="Ready""#), Ok(vec![synced.clone()]));
        assert_eq!(types("@.weight>1"), Ok(vec![ready.clone()]));
        assert_eq!(types("@.weight<2"), Ok(vec![synced.clone()]));
        assert_eq!(
            types("@.weight>=1"),
            Ok(vec![ready.clone(), synced.clone()])
        );
        assert_eq!(types("@.weight<=1"), Ok(vec![synced.clone()]));
        assert_eq!(types(r#"@.type<"S""#), Ok(vec![ready.clone()]));
        assert_eq!(types("@.reason"), Ok(vec![synced.clone()]));
        assert_eq!(types("@.missing==1"), Ok(vec![]));
        assert_eq!(types("@.weight==@.weight"), Ok(vec![ready.clone(), synced]));
        assert_eq!(types("@.weight==2.0"), Err(EvalError::BadComparison));
        assert_eq!(types("@.type==1"), Err(EvalError::BadComparison));
        assert_eq!(
            types("@.type<>1"),
            Err(EvalError::UnknownOperator("<>".into()))
        );
        assert_eq!(types(r#"@.*=="x""#), Err(EvalError::MultipleValues));
        // Literals yield one value per input: `1 2` is 2.
        assert_eq!(types("@.weight==1 2"), Ok(vec![json!("Ready")]));
        assert_eq!(types("@==1"), Err(EvalError::BadComparisonType));
        let flags = json!({"f": [{"on": true, "n": 1.5}, {"on": false, "n": 2.5}]});
        assert_eq!(eval(".f[?(@.on==true)].n", &flags), Ok(vec![json!(1.5)]));
        assert_eq!(eval(".f[?(@.n>2.0)].n", &flags), Ok(vec![json!(2.5)]));
        assert_eq!(
            eval(".f[?(@.on<true)]", &flags),
            Err(EvalError::BadComparisonType)
        );
        assert_eq!(
            eval(".spec[?(@.x)]", &w),
            Err(EvalError::NotFilterable("map[string]interface {}"))
        );
        assert_eq!(
            eval(".spec.nothing[?(@.x)]", &w),
            Err(EvalError::NotFilterable("<nil>"))
        );
        // A failing existence condition that still returned something counts as a match.
        let items = json!({"items": [{"l": [1]}, {"l": []}, {"x": 1}]});
        assert_eq!(
            eval(".items[?(@.l[3])]", &items),
            Ok(vec![json!({"l": [1]}), json!({"l": []})])
        );
        // The bytes of a string compare as unsigned integers, with integers of either sign.
        let letters = json!({"l": ["a", "b"]});
        assert_eq!(eval(".l[?(@.*==97)]", &letters), Ok(vec![json!("a")]));
        assert_eq!(
            eval(".l[?(@.*>-1)]", &letters),
            Ok(vec![json!("a"), json!("b")])
        );
        assert_eq!(eval(".l[?(@.*<98)]", &letters), Ok(vec![json!("a")]));
        assert_eq!(
            eval(r#".l[?(@.*=="a")]"#, &letters),
            Err(EvalError::BadComparison)
        );
    }

    #[test]
    fn literals_identifiers_and_templates() {
        let w = widget();
        assert_eq!(eval(r#".spec.replicas "x""#, &w), Ok(vec![json!("x")]));
        assert_eq!(eval(".spec.replicas 5", &w), Ok(vec![json!(5)]));
        assert_eq!(eval(".spec.missing 5", &w), Ok(vec![]));
        assert_eq!(
            eval(".spec foo", &w),
            Err(EvalError::UnrecognizedIdentifier("foo".into()))
        );
        assert_eq!(eval(".spec range", &w), Err(EvalError::RangeUnsupported));
        assert_eq!(eval(".spec end", &w), Err(EvalError::NotInRange));
        let literal = JsonPath::parse(".spec.replicas 5").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(literal.evaluate(&w), Ok(vec![Match::Int(5)]));

        let template = JsonPath::parse_template("{.kind}/{.metadata.name}: {.spec.ports[*]}")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            template.execute(&w),
            Ok("Widget/w: 80 443 8080".to_string())
        );
        assert_eq!(template.find_results(&w).map(|r| r.len()), Ok(5));
        // A failure in any piece fails the whole template, the first piece included.
        let broken = JsonPath::parse(".kind}{.spec.ports[9]").unwrap_or_else(|e| panic!("{e}"));
        assert!(broken.evaluate(&w).is_err());
    }

    #[test]
    fn values_print_as_kubectl_prints_them() {
        let doc = json!({
            "s": "plain <b>",
            "i": -42,
            "f": 0.5,
            "whole": 2.0,
            "million": 1e6,
            "small": 0.00001,
            "huge": 18446744073709551615u64,
            "t": true,
            "n": null,
            "o": {"b": [1, 2.5, "x&y"], "a": null, "c": 1e21, "d": 1e-7},
            "l": ["a\u{1}\n\u{8}", "\u{2028}"]
        });
        let cases = [
            (".s", "plain <b>"),
            (".i", "-42"),
            (".f", "0.5"),
            (".whole", "2"),
            (".million", "1e+06"),
            (".small", "1e-05"),
            (".huge", "1.8446744073709552e+19"),
            (".t", "true"),
            (".n", "null"),
            (
                ".o",
                r#"{"a":null,"b":[1,2.5,"x\u0026y"],"c":1e+21,"d":1e-7}"#,
            ),
            (".l", r#"["a\u0001\n\b","\u2028"]"#),
            (".o.b[*]", "1 2.5 x&y"),
            (r#".i "q" 2.5 true"#, "true"),
        ];
        for (path, want) in cases {
            assert_eq!(text(path, &doc), want, "{path}");
        }
    }

    #[test]
    fn go_number_formats() {
        let v = [
            (0.0, "0"),
            (-0.0, "-0"),
            (1.0, "1"),
            (-2.5, "-2.5"),
            (3.3, "3.3"),
            (123456.0, "123456"),
            (1234567.0, "1.234567e+06"),
            (0.0001, "0.0001"),
            (0.000012, "1.2e-05"),
            (1e21, "1e+21"),
            (1e100, "1e+100"),
            (2.5e-300, "2.5e-300"),
        ];
        for (f, want) in v {
            assert_eq!(go_format_float(f), want, "%v of {f}");
        }
        let json = [
            (0.0, "0"),
            (1.0, "1"),
            (0.5, "0.5"),
            (-2.5, "-2.5"),
            (1e20, "100000000000000000000"),
            (1e21, "1e+21"),
            (1e-6, "0.000001"),
            (1e-7, "1e-7"),
            (1.5e-10, "1.5e-10"),
            (1.23e-100, "1.23e-100"),
            (123456789.0, "123456789"),
        ];
        for (f, want) in json {
            assert_eq!(go_json_float(f), want, "json of {f}");
        }
    }

    #[test]
    fn printer_column_paths_validate_as_upstream() {
        let field = "spec.versions[0].additionalPrinterColumns[0].JSONPath";
        let message = |path: &str| {
            validate_printer_column_path(field, path).map(|c| format!("{}: {}", c.field, c.message))
        };
        assert_eq!(message(""), Some(format!("{field}: Required value")));
        assert_eq!(
            message("spec.replicas"),
            Some(format!(
                "{field}: Invalid value: \"spec.replicas\": must be a simple json path starting with ."
            ))
        );
        assert_eq!(message(".spec.replicas"), None);
        // Upstream does not parse the path when validating.
        assert_eq!(message(".spec["), None);
        assert_eq!(message("."), None);
        let cause = validate_printer_column_path(field, "x");
        assert_eq!(
            cause.map(|c| c.reason),
            Some("FieldValueInvalid".to_string())
        );
    }
}
