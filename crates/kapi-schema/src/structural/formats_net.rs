//! Network formats: IP addresses, CIDRs, MAC addresses, hostnames, request URIs and email
//! addresses, each accepting what the Go function behind upstream's format accepts
//! (`netutils.ParseIPSloppy`, `net.ParseIP`, `net.ParseMAC`, `url.ParseRequestURI`,
//! `mail.ParseAddress`). The last two are large grammars; kapi implements the parts real
//! values exercise (schemes, authority, ports, percent-escapes; display names, quoted local
//! parts, dot-atoms) and says so here rather than claiming the full RFCs.

use std::sync::OnceLock;

use regex::Regex;

/// An IP address as Go parses it: 16 bytes, or `None`. `sloppy` accepts leading zeros in
/// IPv4 parts (`010.1.1.1`), as Kubernetes' `ParseIPSloppy` does; `net.ParseIP` rejects them.
pub(crate) fn parse_ip(s: &str, sloppy: bool) -> Option<[u8; 16]> {
    if let Some(v4) = parse_ipv4(s, sloppy) {
        let mut out = [0u8; 16];
        out[10] = 0xff;
        out[11] = 0xff;
        out[12..].copy_from_slice(&v4);
        return Some(out);
    }
    parse_ipv6(s, sloppy)
}

fn parse_ipv4(s: &str, sloppy: bool) -> Option<[u8; 4]> {
    let mut out = [0u8; 4];
    let mut parts = s.split('.');
    for slot in &mut out {
        let part = parts.next()?;
        if part.is_empty() || part.len() > 3 && !sloppy || !part.bytes().all(|b| b.is_ascii_digit())
        {
            return None;
        }
        if !sloppy && part.len() > 1 && part.starts_with('0') {
            return None;
        }
        let n: u32 = part.parse().ok()?;
        *slot = u8::try_from(n).ok()?;
    }
    parts.next().is_none().then_some(out)
}

fn parse_ipv6(s: &str, sloppy: bool) -> Option<[u8; 16]> {
    let mut out = [0u8; 16];
    let mut ellipsis: Option<usize> = None;
    let mut i = 0;
    let mut rest = s;
    if let Some(r) = rest.strip_prefix("::") {
        ellipsis = Some(0);
        rest = r;
        if rest.is_empty() {
            return Some(out);
        }
    }
    while i < 16 {
        // A group of hex digits worth at most 0xFFFF, or a trailing IPv4 address.
        let end = rest
            .find(|c: char| !c.is_ascii_hexdigit())
            .unwrap_or(rest.len());
        if end == 0 {
            return None;
        }
        if rest[end..].starts_with('.') {
            if ellipsis.is_none() && i != 12 || i + 4 > 16 {
                return None;
            }
            let v4 = parse_ipv4(rest, sloppy)?;
            out[i..i + 4].copy_from_slice(&v4);
            i += 4;
            rest = "";
            break;
        }
        let digits = rest[..end].trim_start_matches('0');
        let group = if digits.is_empty() {
            0
        } else {
            u16::from_str_radix(digits, 16).ok()?
        };
        out[i..i + 2].copy_from_slice(&group.to_be_bytes());
        i += 2;
        rest = &rest[end..];
        if rest.is_empty() {
            break;
        }
        rest = rest.strip_prefix(':')?;
        if let Some(r) = rest.strip_prefix(':') {
            if ellipsis.is_some() {
                return None;
            }
            ellipsis = Some(i);
            rest = r;
            if rest.is_empty() {
                break;
            }
        } else if rest.is_empty() {
            return None;
        }
    }
    if !rest.is_empty() {
        return None;
    }
    match ellipsis {
        Some(at) => {
            if i == 16 {
                return None;
            }
            let n = i - at;
            out.copy_within(at..i, 16 - n);
            out[at..16 - n].fill(0);
        }
        None if i != 16 => return None,
        None => {}
    }
    Some(out)
}

/// `addr/bits` as `ParseCIDRSloppy` reads it.
pub(crate) fn is_cidr(s: &str) -> bool {
    let Some((addr, bits)) = s.split_once('/') else {
        return false;
    };
    let width = if parse_ipv4(addr, true).is_some() {
        32
    } else if parse_ipv6(addr, true).is_some() {
        128
    } else {
        return false;
    };
    !bits.is_empty()
        && bits.bytes().all(|b| b.is_ascii_digit())
        && bits.parse::<u32>().is_ok_and(|n| n <= width)
}

/// A MAC address as `net.ParseMAC` reads it: 6, 8 or 20 octets of two hex digits separated by
/// `:` or `-`, or groups of four hex digits separated by `.`.
pub(crate) fn is_mac(s: &str) -> bool {
    let hex = |p: &str, n: usize| p.len() == n && p.bytes().all(|b| b.is_ascii_hexdigit());
    let octets_ok = |n: usize| n == 6 || n == 8 || n == 20;
    for sep in [':', '-'] {
        if s.len() >= 3 && s.as_bytes()[2] == sep as u8 {
            let parts: Vec<&str> = s.split(sep).collect();
            return octets_ok(parts.len()) && parts.iter().all(|p| hex(p, 2));
        }
    }
    if s.len() >= 5 && s.as_bytes()[4] == b'.' {
        let parts: Vec<&str> = s.split('.').collect();
        return octets_ok(parts.len() * 2) && parts.iter().all(|p| hex(p, 4));
    }
    false
}

/// RFC 1034 hostnames as upstream's pattern allows them (Unicode letters and symbols
/// included), at most 255 bytes, labels at most 63.
pub(crate) fn is_hostname(s: &str) -> bool {
    static HOSTNAME: OnceLock<Option<Regex>> = OnceLock::new();
    let pattern = r"^([a-zA-Z0-9\p{S}\p{L}]((-?[a-zA-Z0-9\p{S}\p{L}]{0,62})?)|([a-zA-Z0-9\p{S}\p{L}](([a-zA-Z0-9\-\p{S}\p{L}]{0,61}[a-zA-Z0-9\p{S}\p{L}])?)(\.)){1,}([a-zA-Z\p{L}]){2,63})$";
    let matched = super::formats::cached(&HOSTNAME, pattern).is_some_and(|r| r.is_match(s));
    matched && s.len() <= 255 && s.split('.').all(|label| label.len() <= 63)
}

/// What `url.ParseRequestURI` accepts: an absolute URI or an absolute path, no control bytes,
/// a valid authority and valid percent-escapes.
pub(crate) fn is_request_uri(s: &str) -> bool {
    if s.is_empty() || s.bytes().any(|b| b < 0x20 || b == 0x7f) {
        return false;
    }
    if s == "*" {
        return true;
    }
    let Some((scheme, rest)) = split_scheme(s) else {
        return false;
    };
    let rest = if rest.ends_with('?') && rest.matches('?').count() == 1 {
        &rest[..rest.len() - 1]
    } else {
        rest.split_once('?').map_or(rest, |(path, _)| path)
    };
    if !rest.starts_with('/') {
        return !scheme.is_empty();
    }
    let mut path = rest;
    if !scheme.is_empty() {
        if let Some(after) = rest.strip_prefix("//") {
            let (authority, p) = after.find('/').map_or((after, ""), |i| after.split_at(i));
            if !valid_authority(authority) {
                return false;
            }
            path = p;
        }
    }
    unescapes(path, false)
}

/// `scheme:` at the start, `("", s)` when there is none, `None` when `:` comes first.
fn split_scheme(s: &str) -> Option<(&str, &str)> {
    for (i, c) in s.char_indices() {
        match c {
            'a'..='z' | 'A'..='Z' => {}
            '0'..='9' | '+' | '-' | '.' if i > 0 => {}
            ':' if i == 0 => return None,
            ':' => return Some((&s[..i], &s[i + 1..])),
            _ => return Some(("", s)),
        }
    }
    Some(("", s))
}

fn valid_authority(authority: &str) -> bool {
    let (userinfo, host) = match authority.rfind('@') {
        Some(i) => (Some(&authority[..i]), &authority[i + 1..]),
        None => (None, authority),
    };
    if !valid_host(host) {
        return false;
    }
    userinfo.is_none_or(|u| {
        u.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-._:~!$&'()*+,;=%@".contains(c))
            && unescapes(u, false)
    })
}

fn valid_host(host: &str) -> bool {
    let port_ok = |p: &str| {
        p.is_empty()
            || p.strip_prefix(':')
                .is_some_and(|d| d.bytes().all(|b| b.is_ascii_digit()))
    };
    let name = if host.starts_with('[') {
        let Some(i) = host.rfind(']') else {
            return false;
        };
        if !port_ok(&host[i + 1..]) {
            return false;
        }
        &host[..=i]
    } else if let Some(i) = host.rfind(':') {
        if !port_ok(&host[i..]) {
            return false;
        }
        &host[..i]
    } else {
        host
    };
    unescapes(name, true)
}

/// Every `%` starts two hex digits; in a host, bytes Go would have to escape are refused.
fn unescapes(s: &str, host: bool) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let ok =
                    b.len() > i + 2 && b[i + 1].is_ascii_hexdigit() && b[i + 2].is_ascii_hexdigit();
                if !ok {
                    return false;
                }
                // Percent-encoded ASCII is only allowed in a host as "%25" (IPv6 zones).
                if host && b[i + 1] < b'8' && &s[i..i + 3] != "%25" {
                    return false;
                }
                i += 3;
            }
            c if host && c < 0x80 && !host_byte(c) => return false,
            _ => i += 1,
        }
    }
    true
}

fn host_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"-_.~!$&'()*+,;=:[]<>\"".contains(&c)
}

/// An address `mail.ParseAddress` accepts: `local@domain` or `Name <local@domain>`.
pub(crate) fn is_email(s: &str) -> bool {
    let s = s.trim_matches(|c| c == ' ' || c == '\t');
    if let Some(open) = s.rfind('<') {
        let Some(addr) = s[open + 1..].strip_suffix('>') else {
            return false;
        };
        let name = s[..open].trim_matches(|c| c == ' ' || c == '\t');
        return (name.is_empty() || display_name(name)) && addr_spec(addr);
    }
    addr_spec(s)
}

fn atext(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c) || !c.is_ascii()
}

fn dot_atom(s: &str) -> bool {
    !s.is_empty()
        && s.split('.')
            .all(|part| !part.is_empty() && part.chars().all(atext))
}

fn quoted_string(s: &str) -> bool {
    let Some(inner) = s.strip_prefix('"').and_then(|r| r.strip_suffix('"')) else {
        return false;
    };
    let mut escaped = false;
    for c in inner.chars() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '"' => return false,
            c if c.is_control() && c != '\t' => return false,
            _ => {}
        }
    }
    !escaped
}

fn addr_spec(s: &str) -> bool {
    let Some(at) = s.rfind('@') else {
        return false;
    };
    let (local, domain) = (&s[..at], &s[at + 1..]);
    (dot_atom(local) || quoted_string(local)) && dot_atom(domain)
}

fn display_name(name: &str) -> bool {
    quoted_string(name)
        || name
            .split([' ', '\t'])
            .filter(|w| !w.is_empty())
            .all(|w| w.chars().all(|c| atext(c) || c == '.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ips_as_go_parses_them() {
        assert!(parse_ip("10.0.0.1", false).is_some());
        assert!(parse_ip("010.0.0.1", true).is_some());
        assert!(parse_ip("010.0.0.1", false).is_none());
        assert!(parse_ip("256.0.0.1", true).is_none());
        assert!(parse_ip("::1", false).is_some());
        assert!(parse_ip("::", false).is_some());
        assert!(parse_ip("2001:db8::8a2e:370:7334", false).is_some());
        assert!(parse_ip("::ffff:1.2.3.4", false).is_some());
        assert!(parse_ip("1:2:3:4:5:6:7:8", false).is_some());
        assert!(parse_ip("1:2:3:4:5:6:7:8:9", false).is_none());
        assert!(parse_ip("1::2::3", false).is_none());
        assert!(parse_ip("12345::", false).is_none());
        assert!(
            parse_ip("00001::", false).is_some(),
            "Go reads any number of digits"
        );
        assert!(parse_ip("fe80::1%eth0", false).is_none());
        assert!(is_cidr("10.0.0.0/8"));
        assert!(is_cidr("2001:db8::/32"));
        assert!(!is_cidr("10.0.0.0/33"));
        assert!(!is_cidr("10.0.0.0"));
        assert!(!is_cidr("10.0.0.0/"));
    }

    #[test]
    fn macs_hostnames_uris_emails() {
        assert!(is_mac("01:23:45:67:89:ab"));
        assert!(is_mac("01-23-45-67-89-ab-cd-ef"));
        assert!(is_mac("0123.4567.89ab"));
        assert!(!is_mac("01:23:45:67:89"));
        assert!(is_hostname("example.com"));
        assert!(is_hostname("localhost"));
        assert!(!is_hostname("-bad.example.com"));
        assert!(!is_hostname("a..b"));
        assert!(is_request_uri("https://example.com:8443/a%20b?x=1"));
        assert!(is_request_uri("/just/a/path"));
        assert!(is_request_uri("mailto:someone"));
        assert!(!is_request_uri("relative/path"));
        assert!(!is_request_uri("http://example.com:80a/"));
        assert!(!is_request_uri("/bad%zz"));
        assert!(!is_request_uri(":nope"));
        assert!(is_email("user@example.com"));
        assert!(is_email("Some One <some.one+tag@example.com>"));
        assert!(is_email("\"quoted local\"@example.com"));
        assert!(!is_email("not an email"));
        assert!(!is_email("a@"));
        assert!(!is_email("a..b@example.com"));
    }
}
