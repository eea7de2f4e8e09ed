//! Go regular expressions (`pattern` in CRD schemas) run by the regex crate.
//!
//! Both speak RE2 syntax, but not identically. The pattern is rewritten before compiling so
//! that it means what Go's `regexp` makes of it:
//! - `\d`, `\w`, `\s`, `\b` are ASCII-only in Go (Unicode-aware in Rust);
//! - inside a class, `[`, `&&`, `--` and `~~` are plain characters in Go (nesting and set
//!   operations in Rust);
//! - `\<`, `\>` escape plain characters in Go (word boundaries in Rust), `\Q...\E` quotes;
//! - a `{` that does not start a repetition is a literal in Go (an error in Rust);
//! - octal escapes (`\012`) exist in Go only.
//!
//! Errors are worded as Go's parser words them (`error parsing regexp: missing closing ):
//! `(a``), since upstream puts them in its messages; errors only the regex crate finds
//! keep its description.

use regex::Regex;

/// Compiles a Go regular expression, or returns Go's error message for it.
pub(crate) fn compile(pattern: &str) -> Result<Regex, String> {
    let translated = translate(pattern).map_err(|e| e.to_string())?;
    Regex::new(&translated).map_err(|e| {
        let text = e.to_string();
        let what = text
            .lines()
            .rev()
            .find_map(|l| l.trim().strip_prefix("error: "))
            .unwrap_or("invalid regular expression")
            .to_string();
        GoError::new(&what, pattern).to_string()
    })
}

/// `regexp/syntax.Error`: a code and the offending text.
struct GoError {
    code: String,
    expr: String,
}

impl GoError {
    fn new(code: &str, expr: &str) -> Self {
        Self {
            code: code.to_string(),
            expr: expr.to_string(),
        }
    }
}

impl std::fmt::Display for GoError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "error parsing regexp: {}: `{}`", self.code, self.expr)
    }
}

const MISSING_REPEAT_ARGUMENT: &str = "missing argument to repetition operator";
const INVALID_ESCAPE: &str = "invalid escape sequence";
const INVALID_PERL_OP: &str = "invalid or unsupported Perl syntax";

/// The `[:name:]` classes Go knows (each may be negated as `[:^name:]`).
const POSIX_CLASSES: [&str; 14] = [
    "alnum", "alpha", "ascii", "blank", "cntrl", "digit", "graph", "lower", "print", "punct",
    "space", "upper", "word", "xdigit",
];

/// One escape sequence outside or inside a class.
enum Escape {
    /// A single character.
    Char(char),
    /// A Perl class (`\d`), as (class, negated).
    Perl(&'static str, bool),
    /// Text the regex crate reads as Go does (`\pL`, `\A`).
    Verbatim(String),
}

struct Translator<'p> {
    pattern: &'p str,
    chars: Vec<(usize, char)>,
    pos: usize,
    out: String,
}

/// `pattern` in the regex crate's dialect, or Go's error for it.
fn translate(pattern: &str) -> Result<String, GoError> {
    let mut t = Translator {
        pattern,
        chars: pattern.char_indices().collect(),
        pos: 0,
        out: String::with_capacity(pattern.len() + 8),
    };
    t.run()?;
    Ok(t.out)
}

impl Translator<'_> {
    fn peek(&self, ahead: usize) -> Option<char> {
        self.chars.get(self.pos + ahead).map(|&(_, c)| c)
    }

    /// Byte offset of the char at `pos` (or the end).
    fn offset(&self, pos: usize) -> usize {
        self.chars.get(pos).map_or(self.pattern.len(), |&(o, _)| o)
    }

    fn text(&self, from: usize, to: usize) -> &str {
        &self.pattern[self.offset(from)..self.offset(to)]
    }

    fn run(&mut self) -> Result<(), GoError> {
        let mut depth = 0usize;
        // Whether the last item can be repeated, and where the last repetition started if the
        // last item was one (Go refuses `a**`).
        let mut operand = false;
        let mut last_repeat: Option<usize> = None;
        while let Some(c) = self.peek(0) {
            let start = self.pos;
            let mut repeat = None;
            match c {
                '*' | '+' | '?' => {
                    self.pos += 1;
                    self.repetition(start, operand, last_repeat)?;
                    repeat = Some(start);
                }
                '{' => match self.counted_repeat() {
                    Some((end, min, max)) => {
                        let out_of_range = |n: u32| n > 1000;
                        if out_of_range(min) || max.is_some_and(|m| out_of_range(m) || m < min) {
                            return Err(GoError::new(
                                "invalid repeat count",
                                self.text(start, end),
                            ));
                        }
                        self.pos = end;
                        self.repetition(start, operand, last_repeat)?;
                        repeat = Some(start);
                    }
                    None => {
                        self.pos += 1;
                        self.out.push_str("\\{");
                        operand = true;
                    }
                },
                '(' => {
                    if self.peek(1) == Some('?') {
                        let opens = self.group_flags()?;
                        if opens {
                            depth += 1;
                            operand = false;
                        }
                    } else {
                        self.pos += 1;
                        self.out.push('(');
                        depth += 1;
                        operand = false;
                    }
                }
                ')' => {
                    if depth == 0 {
                        return Err(GoError::new("unexpected )", self.pattern));
                    }
                    depth -= 1;
                    self.pos += 1;
                    self.out.push(')');
                    operand = true;
                }
                '|' => {
                    self.pos += 1;
                    self.out.push('|');
                    operand = false;
                }
                '[' => {
                    self.class()?;
                    operand = true;
                }
                '\\' => {
                    if self.peek(1) == Some('Q') {
                        self.quoted();
                    } else {
                        match self.escape(false)? {
                            Escape::Char(ch) => push_literal(&mut self.out, ch),
                            Escape::Perl(class, negated) => {
                                self.out.push_str(if negated { "[^" } else { "[" });
                                self.out.push_str(class);
                                self.out.push(']');
                            }
                            Escape::Verbatim(v) => self.out.push_str(&v),
                        }
                    }
                    operand = true;
                }
                '}' => {
                    self.pos += 1;
                    self.out.push_str("\\}");
                    operand = true;
                }
                _ => {
                    self.pos += 1;
                    self.out.push(c);
                    operand = true;
                }
            }
            last_repeat = repeat;
        }
        if depth > 0 {
            return Err(GoError::new("missing closing )", self.pattern));
        }
        Ok(())
    }

    /// After the operator at `start` (`self.pos` just past it): the non-greedy `?`, then Go's
    /// checks in its order (stacked operators first, then a missing operand).
    fn repetition(
        &mut self,
        start: usize,
        operand: bool,
        last_repeat: Option<usize>,
    ) -> Result<(), GoError> {
        if self.peek(0) == Some('?') {
            self.pos += 1;
        }
        if let Some(previous) = last_repeat {
            return Err(GoError::new(
                "invalid nested repetition operator",
                self.text(previous, self.pos),
            ));
        }
        if !operand {
            return Err(GoError::new(
                MISSING_REPEAT_ARGUMENT,
                self.text(start, self.pos),
            ));
        }
        let op = self.text(start, self.pos).to_string();
        self.out.push_str(&op);
        Ok(())
    }

    /// `{n}`, `{n,}` or `{n,m}` at `pos`: (end, min, max).
    fn counted_repeat(&self) -> Option<(usize, u32, Option<u32>)> {
        let mut i = self.pos + 1;
        let number = |i: &mut usize| -> Option<u32> {
            let from = *i;
            while self.chars.get(*i).is_some_and(|&(_, c)| c.is_ascii_digit()) {
                *i += 1;
            }
            if *i == from {
                return None;
            }
            // Go caps numbers at 1e8 and then rejects the count; saturate the same way.
            Some(self.text(from, *i).parse::<u32>().unwrap_or(u32::MAX))
        };
        let min = number(&mut i)?;
        let max = match self.chars.get(i).map(|&(_, c)| c) {
            Some('}') => Some(min),
            Some(',') => {
                i += 1;
                if self.chars.get(i).map(|&(_, c)| c) == Some('}') {
                    None
                } else {
                    Some(number(&mut i)?)
                }
            }
            _ => return None,
        };
        if self.chars.get(i).map(|&(_, c)| c) != Some('}') {
            return None;
        }
        Some((i + 1, min, max))
    }

    /// `(?flags)`, `(?flags:`, `(?P<name>` or `(?<name>` at `pos`; whether a group opens.
    fn group_flags(&mut self) -> Result<bool, GoError> {
        let start = self.pos;
        let rest = &self.pattern[self.offset(start)..];
        if rest.starts_with("(?P<") || rest.starts_with("(?<") {
            let Some(end) = rest.find('>') else {
                return Err(GoError::new("invalid named capture", rest));
            };
            let header = &rest[..=end];
            let name = header
                .trim_start_matches("(?P<")
                .trim_start_matches("(?<")
                .trim_end_matches('>');
            let valid =
                !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid {
                return Err(GoError::new("invalid named capture", header));
            }
            self.out.push_str(&format!("(?P<{name}>"));
            self.pos += header.chars().count();
            return Ok(true);
        }
        self.pos += 2;
        let mut negated = false;
        let mut saw_flag = false;
        loop {
            let Some(c) = self.peek(0) else {
                return Err(GoError::new(INVALID_PERL_OP, self.text(start, self.pos)));
            };
            self.pos += 1;
            match c {
                'i' | 'm' | 's' | 'U' => saw_flag = true,
                '-' if !negated => {
                    negated = true;
                    saw_flag = false;
                }
                ':' | ')' if !negated || saw_flag => {
                    let header = self.text(start, self.pos).to_string();
                    if header != "(?)" {
                        self.out.push_str(&header);
                    }
                    return Ok(c == ':');
                }
                _ => return Err(GoError::new(INVALID_PERL_OP, self.text(start, self.pos))),
            }
        }
    }

    /// `\Q...\E` (or to the end): the characters in between, literally.
    fn quoted(&mut self) {
        self.pos += 2;
        while let Some(c) = self.peek(0) {
            if c == '\\' && self.peek(1) == Some('E') {
                self.pos += 2;
                return;
            }
            if c == '\\' && self.peek(1) == Some('\\') {
                self.pos += 1;
            }
            self.pos += 1;
            push_literal(&mut self.out, c);
        }
    }

    /// The escape at `pos` (a backslash), as Go's `parseEscape` and the Perl and Unicode class
    /// shortcuts read it.
    fn escape(&mut self, in_class: bool) -> Result<Escape, GoError> {
        let start = self.pos;
        self.pos += 1;
        let Some(c) = self.peek(0) else {
            return Err(GoError::new("trailing backslash at end of expression", ""));
        };
        self.pos += 1;
        let perl = |class: &'static str, negated: bool| Ok(Escape::Perl(class, negated));
        match c {
            'd' => perl("0-9", false),
            'D' => perl("0-9", true),
            's' => perl("\\t\\n\\x0C\\r ", false),
            'S' => perl("\\t\\n\\x0C\\r ", true),
            'w' => perl("0-9A-Za-z_", false),
            'W' => perl("0-9A-Za-z_", true),
            'A' | 'z' if !in_class => Ok(Escape::Verbatim(format!("\\{c}"))),
            'b' | 'B' if !in_class => Ok(Escape::Verbatim(format!("(?-u:\\{c})"))),
            'p' | 'P' => {
                let mut v = format!("\\{c}");
                if self.peek(0) == Some('{') {
                    while let Some(ch) = self.peek(0) {
                        self.pos += 1;
                        v.push(ch);
                        if ch == '}' {
                            break;
                        }
                    }
                } else if let Some(ch) = self.peek(0) {
                    self.pos += 1;
                    v.push(ch);
                }
                Ok(Escape::Verbatim(v))
            }
            '0'..='7' => {
                // One digit other than 0 is a backreference, which Go does not support.
                if c != '0' && !self.peek(0).is_some_and(|d| ('0'..='7').contains(&d)) {
                    return Err(GoError::new(INVALID_ESCAPE, self.text(start, self.pos)));
                }
                let mut value = c.to_digit(8).unwrap_or(0);
                for _ in 0..2 {
                    match self.peek(0).and_then(|d| d.to_digit(8)) {
                        Some(d) => {
                            value = value * 8 + d;
                            self.pos += 1;
                        }
                        None => break,
                    }
                }
                Ok(Escape::Char(char::from_u32(value).unwrap_or('\u{fffd}')))
            }
            'x' => self.hex_escape(start),
            'a' => Ok(Escape::Char('\u{7}')),
            'f' => Ok(Escape::Char('\u{c}')),
            'n' => Ok(Escape::Char('\n')),
            'r' => Ok(Escape::Char('\r')),
            't' => Ok(Escape::Char('\t')),
            'v' => Ok(Escape::Char('\u{b}')),
            c if c.is_ascii() && !c.is_ascii_alphanumeric() => Ok(Escape::Char(c)),
            _ => Err(GoError::new(INVALID_ESCAPE, self.text(start, self.pos))),
        }
    }

    /// `\xFF` or `\x{10FFFF}` after `\x`.
    fn hex_escape(&mut self, start: usize) -> Result<Escape, GoError> {
        let invalid = |t: &Self| GoError::new(INVALID_ESCAPE, t.text(start, t.pos));
        let mut value: u32 = 0;
        if self.peek(0) == Some('{') {
            self.pos += 1;
            let mut digits = 0;
            loop {
                let Some(c) = self.peek(0) else {
                    return Err(invalid(self));
                };
                self.pos += 1;
                if c == '}' {
                    break;
                }
                let d = c.to_digit(16).ok_or_else(|| invalid(self))?;
                value = value.saturating_mul(16).saturating_add(d);
                digits += 1;
            }
            if digits == 0 || value > 0x10FFFF {
                return Err(invalid(self));
            }
        } else {
            for _ in 0..2 {
                let d = self.peek(0).and_then(|c| c.to_digit(16));
                self.pos += 1;
                value = value * 16 + d.ok_or_else(|| invalid(self))?;
            }
        }
        char::from_u32(value)
            .map(Escape::Char)
            .ok_or_else(|| invalid(self))
    }

    /// A bracketed class at `pos`, as Go reads it: `]` first is a literal, `[:name:]` is an
    /// ASCII class, `[` alone is a literal, ranges must not run backwards.
    fn class(&mut self) -> Result<(), GoError> {
        let start = self.pos;
        let missing = |t: &Self| GoError::new("missing closing ]", &t.pattern[t.offset(start)..]);
        self.pos += 1;
        self.out.push('[');
        if self.peek(0) == Some('^') {
            self.pos += 1;
            self.out.push('^');
        }
        let mut first = true;
        loop {
            let Some(c) = self.peek(0) else {
                return Err(missing(self));
            };
            if c == ']' && !first {
                self.pos += 1;
                self.out.push(']');
                return Ok(());
            }
            first = false;
            if c == '[' && self.peek(1) == Some(':') {
                let rest = &self.pattern[self.offset(self.pos)..];
                if let Some(end) = rest[2..].find(":]") {
                    let named = &rest[..end + 4];
                    let name = named[2..named.len() - 2].trim_start_matches('^');
                    if !POSIX_CLASSES.contains(&name) {
                        return Err(GoError::new("invalid character class range", named));
                    }
                    self.out.push_str(named);
                    self.pos += named.chars().count();
                    continue;
                }
            }
            let range_start = self.pos;
            let lo = match self.class_char()? {
                ClassItem::Char(ch) => ch,
                ClassItem::Other(text) => {
                    self.out.push_str(&text);
                    continue;
                }
                ClassItem::End => return Err(missing(self)),
            };
            let mut hi = lo;
            if self.peek(0) == Some('-') && self.peek(1).is_some_and(|n| n != ']') {
                self.pos += 1;
                hi = match self.class_char()? {
                    ClassItem::Char(ch) => ch,
                    ClassItem::End => return Err(missing(self)),
                    ClassItem::Other(_) => {
                        return Err(GoError::new(
                            "invalid character class range",
                            self.text(range_start, self.pos),
                        ))
                    }
                };
                if hi < lo {
                    return Err(GoError::new(
                        "invalid character class range",
                        self.text(range_start, self.pos),
                    ));
                }
            }
            push_class_char(&mut self.out, lo);
            if hi != lo {
                self.out.push('-');
                push_class_char(&mut self.out, hi);
            }
        }
    }

    fn class_char(&mut self) -> Result<ClassItem, GoError> {
        let Some(c) = self.peek(0) else {
            return Ok(ClassItem::End);
        };
        if c != '\\' {
            self.pos += 1;
            return Ok(ClassItem::Char(c));
        }
        Ok(match self.escape(true)? {
            Escape::Char(ch) => ClassItem::Char(ch),
            Escape::Perl(class, false) => ClassItem::Other(class.to_string()),
            Escape::Perl(class, true) => ClassItem::Other(format!("[^{class}]")),
            Escape::Verbatim(v) => ClassItem::Other(v),
        })
    }
}

enum ClassItem {
    Char(char),
    Other(String),
    End,
}

/// A literal outside a class, escaped when the regex crate would read it otherwise.
fn push_literal(out: &mut String, c: char) {
    if c.is_ascii_alphanumeric() || c == '_' || (!c.is_ascii() && !c.is_whitespace()) {
        out.push(c);
    } else {
        out.push_str(&format!("\\x{{{:X}}}", u32::from(c)));
    }
}

/// A character inside a class: only letters and digits go in as themselves.
fn push_class_char(out: &mut String, c: char) {
    if c.is_ascii_alphanumeric() {
        out.push(c);
    } else {
        out.push_str(&format!("\\x{{{:X}}}", u32::from(c)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(p: &str) -> String {
        compile(p).err().unwrap_or_default()
    }

    fn matches(p: &str, s: &str) -> bool {
        compile(p).is_ok_and(|r| r.is_match(s))
    }

    #[test]
    fn go_errors_are_worded_as_go() {
        assert_eq!(
            err("+"),
            "error parsing regexp: missing argument to repetition operator: `+`"
        );
        assert_eq!(
            err("(*a)"),
            "error parsing regexp: missing argument to repetition operator: `*`"
        );
        assert_eq!(
            err("(abc"),
            "error parsing regexp: missing closing ): `(abc`"
        );
        assert_eq!(err("abc)"), "error parsing regexp: unexpected ): `abc)`");
        assert_eq!(
            err("a[bc"),
            "error parsing regexp: missing closing ]: `[bc`"
        );
        assert_eq!(
            err("a**"),
            "error parsing regexp: invalid nested repetition operator: `**`"
        );
        assert_eq!(
            err("a+?*"),
            "error parsing regexp: invalid nested repetition operator: `+?*`"
        );
        assert_eq!(
            err("\\q"),
            "error parsing regexp: invalid escape sequence: `\\q`"
        );
        assert_eq!(
            err("\\1"),
            "error parsing regexp: invalid escape sequence: `\\1`"
        );
        assert_eq!(
            err("a\\"),
            "error parsing regexp: trailing backslash at end of expression: ``"
        );
        assert_eq!(
            err("[z-a]"),
            "error parsing regexp: invalid character class range: `z-a`"
        );
        assert_eq!(
            err("a{2,1}"),
            "error parsing regexp: invalid repeat count: `{2,1}`"
        );
        assert_eq!(
            err("a{1001}"),
            "error parsing regexp: invalid repeat count: `{1001}`"
        );
        assert_eq!(
            err("(?=a)"),
            "error parsing regexp: invalid or unsupported Perl syntax: `(?=`"
        );
    }

    #[test]
    fn go_semantics_are_kept() {
        assert!(matches("^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", "my-name"));
        assert!(!matches("^\\d+$", "١٢"), "\\d is ASCII in Go");
        assert!(matches("^\\w+$", "a_1"));
        assert!(!matches("^\\w+$", "é"));
        assert!(matches("^[\\d.]+$", "1.2"));
        assert!(matches("^[^\\s]+$", "x"));
        assert!(
            matches("^a{,2}$", "a{,2}"),
            "a non-repetition brace is literal"
        );
        assert!(matches("^[[]$", "["), "[ inside a class is literal");
        assert!(matches("^[a&&b]+$", "&&"));
        assert!(matches("^[]a]+$", "]a"));
        assert!(matches("^\\<x\\>$", "<x>"));
        assert!(matches("^\\Qa.b\\E$", "a.b"));
        assert!(!matches("^\\Qa.b\\E$", "axb"));
        assert!(matches("^\\012$", "\n"));
        assert!(matches("(?i)^abc$", "ABC"));
        assert!(matches("^(?P<x>a)(?<y>b)$", "ab"));
        assert!(matches("^[[:alpha:]]+$", "abc"));
        assert!(matches("^\\p{L}+$", "é"));
        assert!(matches("a\\bb|a\\b", "a"));
        assert!(matches("^x{2}$", "xx"));
        assert_eq!(
            err("[[:foo:]]"),
            "error parsing regexp: invalid character class range: `[:foo:]`"
        );
    }
}
