//! String formats a CRD schema may ask for (`format: date-time`), checked as kube-openapi's
//! default registry checks them.
//!
//! Which formats count follows kube-apiserver 1.34: it validates against the formats known at
//! its minimum compatibility version (1.33), so the `k8s-short-name` and `k8s-long-name`
//! formats added in 1.34 are still ignored, like any unknown format. On `integer` only
//! `int32`/`int64` survive, on `number` only `float`/`double`, on other types none; those
//! numeric formats only affect the type check (kube-openapi 1.34 does not range-check them).

use std::sync::OnceLock;

use regex::Regex;

use super::{formats_net as net, formats_time as time};

/// A string format with a validator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StrFormat {
    BsonObjectId,
    Uri,
    Email,
    Hostname,
    Ipv4,
    Ipv6,
    Cidr,
    Mac,
    Uuid,
    Uuid3,
    Uuid4,
    Uuid5,
    Isbn,
    Isbn10,
    Isbn13,
    CreditCard,
    Ssn,
    HexColor,
    RgbColor,
    Byte,
    Password,
    Date,
    Duration,
    DateTime,
}

impl StrFormat {
    /// The format named `name` (dashes ignored, as upstream normalizes names), if upstream
    /// 1.34 validates it.
    pub(crate) fn named(name: &str) -> Option<StrFormat> {
        let normalized = name.replace('-', "");
        Some(match normalized.as_str() {
            "bsonobjectid" => StrFormat::BsonObjectId,
            "uri" => StrFormat::Uri,
            "email" => StrFormat::Email,
            "hostname" => StrFormat::Hostname,
            "ipv4" => StrFormat::Ipv4,
            "ipv6" => StrFormat::Ipv6,
            "cidr" => StrFormat::Cidr,
            "mac" => StrFormat::Mac,
            "uuid" => StrFormat::Uuid,
            "uuid3" => StrFormat::Uuid3,
            "uuid4" => StrFormat::Uuid4,
            "uuid5" => StrFormat::Uuid5,
            "isbn" => StrFormat::Isbn,
            "isbn10" => StrFormat::Isbn10,
            "isbn13" => StrFormat::Isbn13,
            "creditcard" => StrFormat::CreditCard,
            "ssn" => StrFormat::Ssn,
            "hexcolor" => StrFormat::HexColor,
            "rgbcolor" => StrFormat::RgbColor,
            "byte" => StrFormat::Byte,
            "password" => StrFormat::Password,
            "date" => StrFormat::Date,
            "duration" => StrFormat::Duration,
            "datetime" => StrFormat::DateTime,
            _ => return None,
        })
    }

    /// Whether `s` is in this format.
    pub(crate) fn accepts(self, s: &str) -> bool {
        match self {
            StrFormat::BsonObjectId => s.len() == 24 && s.bytes().all(|b| b.is_ascii_hexdigit()),
            StrFormat::Uri => net::is_request_uri(s),
            StrFormat::Email => net::is_email(s),
            StrFormat::Hostname => net::is_hostname(s),
            StrFormat::Ipv4 => net::parse_ip(s, true).is_some() && s.contains('.'),
            StrFormat::Ipv6 => net::parse_ip(s, false).is_some() && s.contains(':'),
            StrFormat::Cidr => net::is_cidr(s),
            StrFormat::Mac => net::is_mac(s),
            StrFormat::Uuid => uuid(s, None),
            StrFormat::Uuid3 => uuid(s, Some('3')),
            StrFormat::Uuid4 => uuid(s, Some('4')),
            StrFormat::Uuid5 => uuid(s, Some('5')),
            StrFormat::Isbn => isbn(s, 10) || isbn(s, 13),
            StrFormat::Isbn10 => isbn(s, 10),
            StrFormat::Isbn13 => isbn(s, 13),
            StrFormat::CreditCard => credit_card(s),
            StrFormat::Ssn => s.len() == 11 && ssn(s),
            StrFormat::HexColor => hex_color(s),
            StrFormat::RgbColor => rgb_color(s),
            StrFormat::Byte => base64(s),
            StrFormat::Password => true,
            StrFormat::Date => time::is_date(s),
            StrFormat::Duration => time::is_duration(s),
            StrFormat::DateTime => time::is_date_time(s),
        }
    }
}

/// A pattern of this module, compiled once. The patterns are constants, so a failure is a bug;
/// it is reported as "never matches" rather than a panic.
pub(crate) fn cached(
    cell: &'static OnceLock<Option<Regex>>,
    pattern: &str,
) -> Option<&'static Regex> {
    cell.get_or_init(|| Regex::new(pattern).ok()).as_ref()
}

fn is_match(cell: &'static OnceLock<Option<Regex>>, pattern: &str, s: &str) -> bool {
    cached(cell, pattern).is_some_and(|r| r.is_match(s))
}

/// `(?i)^[0-9a-f]{8}-?[0-9a-f]{4}-?V[0-9a-f]{3}-?[89ab]?...$`: hex groups of 8-4-4-4-12, each
/// dash optional; a version digit and (for 4 and 5) the variant when asked.
fn uuid(s: &str, version: Option<char>) -> bool {
    static ANY: OnceLock<Option<Regex>> = OnceLock::new();
    static V3: OnceLock<Option<Regex>> = OnceLock::new();
    static V4: OnceLock<Option<Regex>> = OnceLock::new();
    static V5: OnceLock<Option<Regex>> = OnceLock::new();
    let h = "[0-9a-f]";
    match version {
        None => is_match(
            &ANY,
            &format!("(?i)^{h}{{8}}-?{h}{{4}}-?{h}{{4}}-?{h}{{4}}-?{h}{{12}}$"),
            s,
        ),
        Some('3') => is_match(
            &V3,
            &format!("(?i)^{h}{{8}}-?{h}{{4}}-?3{h}{{3}}-?{h}{{4}}-?{h}{{12}}$"),
            s,
        ),
        Some('4') => is_match(
            &V4,
            &format!("(?i)^{h}{{8}}-?{h}{{4}}-?4{h}{{3}}-?[89ab]{h}{{3}}-?{h}{{12}}$"),
            s,
        ),
        Some(_) => is_match(
            &V5,
            &format!("(?i)^{h}{{8}}-?{h}{{4}}-?5{h}{{3}}-?[89ab]{h}{{3}}-?{h}{{12}}$"),
            s,
        ),
    }
}

/// ISBN-10 or -13 after dropping whitespace and dashes, with its checksum.
fn isbn(s: &str, version: u32) -> bool {
    let digits: Vec<u8> = s
        .bytes()
        .filter(|b| !matches!(b, b'-' | b' ' | b'\t' | b'\n' | b'\r' | b'\x0c'))
        .collect();
    let digit = |b: u8| u32::from(b.wrapping_sub(b'0'));
    if version == 10 {
        let shape = digits.len() == 10
            && digits[..9].iter().all(u8::is_ascii_digit)
            && (digits[9].is_ascii_digit() || digits[9] == b'X');
        if !shape {
            return false;
        }
        let mut sum: u32 = digits[..9]
            .iter()
            .zip(1..)
            .map(|(&b, w)| w * digit(b))
            .sum();
        sum += if digits[9] == b'X' {
            100
        } else {
            10 * digit(digits[9])
        };
        sum.is_multiple_of(11)
    } else {
        if digits.len() != 13 || !digits.iter().all(u8::is_ascii_digit) {
            return false;
        }
        let sum: u32 = digits[..12]
            .iter()
            .enumerate()
            .map(|(i, &b)| if i % 2 == 0 { 1 } else { 3 } * digit(b))
            .sum();
        digit(digits[12]) == (10 - sum % 10) % 10
    }
}

/// The digits of `s` (everything else dropped) match a card number pattern and pass Luhn.
fn credit_card(s: &str) -> bool {
    static CARD: OnceLock<Option<Regex>> = OnceLock::new();
    let digits: String = s.chars().filter(char::is_ascii_digit).collect();
    let pattern = "^(?:4[0-9]{12}(?:[0-9]{3})?|5[1-5][0-9]{14}|6(?:011|5[0-9][0-9])[0-9]{12}|3[47][0-9]{13}|3(?:0[0-5]|[68][0-9])[0-9]{11}|(?:2131|1800|35[0-9]{3})[0-9]{11})$";
    if !is_match(&CARD, pattern, &digits) {
        return false;
    }
    let mut sum = 0;
    for (i, b) in digits.bytes().rev().enumerate() {
        let mut d = u32::from(b - b'0');
        if i % 2 == 1 {
            d *= 2;
            if d >= 10 {
                d = d % 10 + 1;
            }
        }
        sum += d;
    }
    sum % 10 == 0
}

/// `^\d{3}[- ]?\d{2}[- ]?\d{4}$` (with the 11-byte length checked by the caller).
fn ssn(s: &str) -> bool {
    static SSN: OnceLock<Option<Regex>> = OnceLock::new();
    is_match(&SSN, "^[0-9]{3}[- ]?[0-9]{2}[- ]?[0-9]{4}$", s)
}

/// `#FFF` or `#FFFFFF`, the `#` optional.
fn hex_color(s: &str) -> bool {
    let hex = s.strip_prefix('#').unwrap_or(s);
    (hex.len() == 3 || hex.len() == 6) && hex.bytes().all(|b| b.is_ascii_hexdigit())
}

/// `rgb(R, G, B)` with each part 0-255 written without leading zeros.
fn rgb_color(s: &str) -> bool {
    static RGB: OnceLock<Option<Regex>> = OnceLock::new();
    let part = "(0|[1-9][0-9]?|1[0-9][0-9]?|2[0-4][0-9]|25[0-5])";
    let ws = "[\\t\\n\\x0C\\r ]*";
    is_match(
        &RGB,
        &format!("^rgb\\({ws}{part}{ws},{ws}{part}{ws},{ws}{part}{ws}\\)$"),
        s,
    )
}

/// Standard base64 with padding, at least one quantum: what govalidator's pattern accepts.
fn base64(s: &str) -> bool {
    let b = s.as_bytes();
    if b.is_empty() || !b.len().is_multiple_of(4) {
        return false;
    }
    let alphabet = |c: &u8| c.is_ascii_alphanumeric() || *c == b'+' || *c == b'/';
    let (body, last) = b.split_at(b.len() - 4);
    body.iter().all(alphabet)
        && match last {
            [a, b, b'=', b'='] => alphabet(a) && alphabet(b),
            [a, b, c, b'='] => alphabet(a) && alphabet(b) && alphabet(c),
            quad => quad.iter().all(alphabet),
        }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(format: &str, s: &str) -> bool {
        StrFormat::named(format).is_some_and(|f| f.accepts(s))
    }

    #[test]
    fn names_follow_upstreams_registry() {
        assert_eq!(StrFormat::named("date-time"), Some(StrFormat::DateTime));
        assert_eq!(StrFormat::named("datetime"), Some(StrFormat::DateTime));
        assert_eq!(
            StrFormat::named("k8s-short-name"),
            None,
            "added in 1.34, enforced later"
        );
        assert_eq!(StrFormat::named("int32"), None);
        assert_eq!(StrFormat::named("quantity"), None);
    }

    #[test]
    fn simple_formats() {
        assert!(ok("uuid", "123e4567-e89b-12d3-a456-426614174000"));
        assert!(ok("uuid", "123E4567E89B12D3A456426614174000"));
        assert!(!ok("uuid", "123e4567-e89b-12d3-a456"));
        assert!(ok("uuid4", "123e4567-e89b-42d3-a456-426614174000"));
        assert!(!ok("uuid4", "123e4567-e89b-12d3-a456-426614174000"));
        assert!(ok("byte", "aGVsbG8="));
        assert!(!ok("byte", ""));
        assert!(!ok("byte", "aGVsbG8"));
        assert!(ok("bsonobjectid", "507f1f77bcf86cd799439011"));
        assert!(ok("isbn10", "0-321-75104-3"));
        assert!(ok("isbn13", "978-0321751041"));
        assert!(!ok("isbn13", "978-0321751042"));
        assert!(ok("isbn", "0321751043"));
        assert!(ok("creditcard", "4111 1111 1111 1111"));
        assert!(!ok("creditcard", "4111 1111 1111 1112"));
        assert!(ok("ssn", "123-45-6789"));
        assert!(!ok("ssn", "123456789"));
        assert!(ok("hexcolor", "#FFF"));
        assert!(ok("hexcolor", "00ff00"));
        assert!(ok("rgbcolor", "rgb(255, 0,10)"));
        assert!(!ok("rgbcolor", "rgb(256,0,0)"));
        assert!(ok("password", ""));
    }
}
