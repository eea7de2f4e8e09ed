//! Resource quantities (`500m`, `2`, `128Mi`, `1G`, `1e3`) as integers, for the scheduler's
//! arithmetic and the node's cgroup limits.
//!
//! Values are held in thousandths (milli-units) so that CPU's `m` suffix and memory's binary
//! suffixes share one representation; fractions below a milli-unit round up, as upstream's
//! `MilliValue` does.

/// Parses a quantity into milli-units, or `None` when it is not one.
pub fn parse_milli(text: &str) -> Option<i128> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+' || c == '-'))
        .unwrap_or(text.len());
    let (number, suffix) = text.split_at(split);
    let (scale_num, scale_den): (i128, i128) = match suffix {
        "" => (1000, 1),
        "m" => (1, 1),
        "k" => (1000 * 1000, 1),
        "M" => (1000 * 1000_i128.pow(2), 1),
        "G" => (1000 * 1000_i128.pow(3), 1),
        "T" => (1000 * 1000_i128.pow(4), 1),
        "P" => (1000 * 1000_i128.pow(5), 1),
        "E" => (1000 * 1000_i128.pow(6), 1),
        "Ki" => (1000 * 1024, 1),
        "Mi" => (1000 * 1024_i128.pow(2), 1),
        "Gi" => (1000 * 1024_i128.pow(3), 1),
        "Ti" => (1000 * 1024_i128.pow(4), 1),
        "Pi" => (1000 * 1024_i128.pow(5), 1),
        "Ei" => (1000 * 1024_i128.pow(6), 1),
        "n" => (1, 1_000_000),
        "u" => (1, 1000),
        s if s.starts_with(['e', 'E']) => {
            let exp: u32 = s[1..].parse().ok()?;
            (1000 * 10_i128.checked_pow(exp)?, 1)
        }
        _ => return None,
    };
    let negative = number.starts_with('-');
    let digits = number.trim_start_matches(['+', '-']);
    let (whole, frac) = digits.split_once('.').unwrap_or((digits, ""));
    if whole.is_empty() && frac.is_empty() {
        return None;
    }
    if !whole
        .chars()
        .chain(frac.chars())
        .all(|c| c.is_ascii_digit())
        || frac.len() > 18
    {
        return None;
    }
    let frac_den = 10_i128.pow(frac.len() as u32);
    let mantissa: i128 = format!("{whole}{frac}").parse().ok()?;
    let num = mantissa.checked_mul(scale_num)?;
    let den = frac_den.checked_mul(scale_den)?;
    let value = (num + den - 1) / den;
    Some(if negative { -value } else { value })
}

/// Parses a quantity into whole units, rounding up (bytes of memory, say).
pub fn parse_value(text: &str) -> Option<i128> {
    parse_milli(text).map(|m| (m + 999).div_euclid(1000))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_and_memory_spellings() {
        assert_eq!(parse_milli("500m"), Some(500));
        assert_eq!(parse_milli("2"), Some(2000));
        assert_eq!(parse_milli("1.5"), Some(1500));
        assert_eq!(parse_milli("0.1"), Some(100));
        assert_eq!(parse_value("128Mi"), Some(128 * 1024 * 1024));
        assert_eq!(parse_value("1G"), Some(1_000_000_000));
        assert_eq!(parse_value("1e3"), Some(1000));
        assert_eq!(parse_value("24590848Ki"), Some(24590848 * 1024));
        assert_eq!(parse_milli("100n"), Some(1));
    }

    #[test]
    fn garbage_is_refused() {
        for bad in ["", "abc", "1.2.3", "5x", "Mi", "1e"] {
            assert_eq!(parse_milli(bad), None, "{bad}");
        }
    }
}
