//! Time formats: `date` (Go's `time.Parse("2006-01-02")`), `date-time` (kube-openapi's
//! `IsDateTime`, which is looser than RFC 3339) and `duration` (Go's `time.ParseDuration`,
//! then kube-openapi's "number and unit word" fallback, so `3 days` passes).

use std::sync::OnceLock;

use regex::Regex;

use super::formats::cached;

/// `YYYY-MM-DD` with a real calendar day, as `time.Parse` checks it.
pub(crate) fn is_date(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return false;
    }
    let Some(year) = go_atoi(&s[..4]) else {
        return false;
    };
    let two = |i: usize| -> Option<i64> {
        let (a, c) = (b[i], b[i + 1]);
        (a.is_ascii_digit() && c.is_ascii_digit()).then(|| i64::from((a - b'0') * 10 + (c - b'0')))
    };
    let (Some(month), Some(day)) = (two(5), two(8)) else {
        return false;
    };
    (1..=12).contains(&month) && day >= 1 && day <= days_in(month, year)
}

/// The time package's `atoi`: an optional sign, then only digits.
fn go_atoi(s: &str) -> Option<i64> {
    let digits = s.strip_prefix(['-', '+']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: i64 = digits.parse().ok()?;
    Some(if s.starts_with('-') { -n } else { n })
}

fn days_in(month: i64, year: i64) -> i64 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// kube-openapi's `IsDateTime`: a date, `t`, then `hh:mm:ss[.frac](z|±hh:mm)`, case
/// insensitive. Text after a further `t` is ignored, as upstream's split ignores it.
pub(crate) fn is_date_time(s: &str) -> bool {
    static TIME: OnceLock<Option<Regex>> = OnceLock::new();
    if s.len() < 4 {
        return false;
    }
    let lower = s.to_lowercase();
    let mut parts = lower.split('t');
    let (Some(date), Some(time)) = (parts.next(), parts.next()) else {
        return false;
    };
    if !is_date(date) {
        return false;
    }
    let pattern = r"^([0-9]{2}):([0-9]{2}):([0-9]{2})(.[0-9]+)?(z|([+-][0-9]{2}:[0-9]{2}))$";
    let Some(caps) = cached(&TIME, pattern).and_then(|r| r.captures(time)) else {
        return false;
    };
    let part = |i: usize| caps.get(i).map_or("", |m| m.as_str());
    part(1) <= "23" && part(2) <= "59" && part(3) <= "59"
}

/// Go's `time.ParseDuration`, or else one or more `<number> <unit word>` anywhere in the
/// string (`2 hours`, `3d`), as kube-openapi's `ParseDuration` falls back to.
pub(crate) fn is_duration(s: &str) -> bool {
    go_parse_duration(s) || unit_words(s)
}

const NANOS_PER: [(&str, u128); 8] = [
    ("ns", 1),
    ("us", 1_000),
    ("\u{b5}s", 1_000),
    ("\u{3bc}s", 1_000),
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60_000_000_000),
    ("h", 3_600_000_000_000),
];

fn go_parse_duration(s: &str) -> bool {
    let mut rest = s.strip_prefix(['-', '+']).unwrap_or(s);
    let negative = s.starts_with('-');
    if rest == "0" {
        return true;
    }
    if rest.is_empty() {
        return false;
    }
    let limit: u128 = 1 << 63;
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let int_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        let (int_part, after) = rest.split_at(int_len);
        let mut frac_part = "";
        let mut after = after;
        if let Some(f) = after.strip_prefix('.') {
            let frac_len = f.bytes().take_while(u8::is_ascii_digit).count();
            frac_part = &f[..frac_len];
            after = &f[frac_len..];
            if int_len == 0 && frac_len == 0 {
                return false;
            }
        } else if int_len == 0 {
            return false;
        }
        let unit_len = after
            .bytes()
            .take_while(|b| *b != b'.' && !b.is_ascii_digit())
            .count();
        if unit_len == 0 {
            return false;
        }
        let (unit, next) = after.split_at(unit_len);
        let Some(&(_, nanos)) = NANOS_PER.iter().find(|(u, _)| *u == unit) else {
            return false;
        };
        let Ok(int_value) =
            int_part
                .parse::<u128>()
                .or_else(|e| if int_part.is_empty() { Ok(0) } else { Err(e) })
        else {
            return false;
        };
        if int_value > limit / nanos {
            return false;
        }
        let mut value = int_value * nanos;
        if !frac_part.is_empty() {
            let digits = &frac_part[..frac_part.len().min(18)];
            let f: f64 = format!("0.{digits}").parse().unwrap_or(0.0);
            // Bounded by one hour in nanoseconds, so the conversion cannot truncate.
            value += (f * nanos as f64) as u128;
            if value > limit {
                return false;
            }
        }
        total += value;
        if total > limit {
            return false;
        }
        rest = next;
    }
    negative || total < limit
}

/// The unit words kube-openapi knows, each list ending in the word that may also be a prefix
/// (`seconds` starts with `sec`).
const UNIT_WORDS: [&[&str]; 8] = [
    &["ns", "nano"],
    &["us", "\u{b5}s", "micro"],
    &["ms", "milli"],
    &["s", "sec"],
    &["m", "min"],
    &["h", "hr", "hour"],
    &["d", "day"],
    &["w", "wk", "week"],
];

fn unit_words(s: &str) -> bool {
    static WORDS: OnceLock<Option<Regex>> = OnceLock::new();
    let Some(re) = cached(&WORDS, "(([0-9]+)[\\t\\n\\x0C\\r ]*([A-Za-z\u{b5}]+))") else {
        return false;
    };
    let mut ok = false;
    for caps in re.captures_iter(s) {
        let number = caps.get(2).map_or("", |m| m.as_str());
        if number.parse::<i64>().is_err() {
            // strconv.Atoi fails on overflow, and that fails the whole parse.
            return false;
        }
        let unit = caps.get(3).map_or("", |m| m.as_str()).trim().to_lowercase();
        for variants in UNIT_WORDS {
            let last = variants.len() - 1;
            for (i, v) in variants.iter().enumerate() {
                if (i == last && unit.starts_with(v)) || unit.eq_ignore_ascii_case(v) {
                    ok = true;
                }
            }
        }
    }
    ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert!(is_date("2024-02-29"));
        assert!(!is_date("2023-02-29"));
        assert!(!is_date("2024-13-01"));
        assert!(!is_date("2024-1-01"));
        assert!(!is_date("2024-01-01T00:00:00Z"));
    }

    #[test]
    fn date_times() {
        assert!(is_date_time("2014-12-15T19:30:20.000Z"));
        assert!(is_date_time("2014-12-15t19:30:20+01:00"));
        assert!(!is_date_time("2014-12-15T24:30:20Z"));
        assert!(!is_date_time("2014-12-15 19:30:20Z"));
        assert!(!is_date_time("2014-12-15T19:30:20"));
    }

    #[test]
    fn durations() {
        assert!(is_duration("1h30m"));
        assert!(is_duration("-1.5s"));
        assert!(is_duration("300ms"));
        assert!(is_duration("2\u{b5}s"));
        assert!(is_duration("0"));
        assert!(is_duration("3 days"));
        assert!(is_duration("22 ns"));
        assert!(is_duration("5 seconds"));
        assert!(!is_duration(""));
        assert!(!is_duration("5"));
        assert!(!is_duration("5 fortnights"));
        assert!(!is_duration("10000000000000000000h"));
    }
}
