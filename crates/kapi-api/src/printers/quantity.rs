//! Resource quantities (`1Gi`, `500m`, `1e3`) in their canonical form, as upstream prints them.
//!
//! A quantity keeps the family of its suffix (binary `Ki`..`Ei`, decimal `n`..`E`, or an `e`
//! exponent) and is printed with the largest suffix of that family that keeps the number an
//! integer: `1024Mi` prints `1Gi`, `1000` prints `1k`, `1.5` prints `1500m`, `0.5Gi` prints
//! `512Mi`. Binary amounts below 1024, or not whole, fall back to decimal suffixes. Precision
//! finer than `1n` rounds up to `1n`, and zero is `0`.

/// The suffix family of a quantity.
#[derive(Clone, Copy, PartialEq)]
enum Format {
    BinarySI,
    DecimalSI,
    DecimalExponent,
}

/// Canonical text for a quantity string; text that does not parse is returned unchanged.
pub(super) fn canonical(text: &str) -> String {
    parse(text.trim())
        .and_then(|(neg, coef, exp, format)| render(neg, coef, exp, format))
        .unwrap_or_else(|| text.to_string())
}

/// Splits `text` into sign, decimal coefficient and base-10 exponent (value = coef * 10^exp),
/// with the binary factor already multiplied in, and the suffix family.
fn parse(text: &str) -> Option<(bool, u128, i32, Format)> {
    let (neg, rest) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let num_len = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(rest.len());
    let (number, suffix) = rest.split_at(num_len);
    let (int_part, frac_part) = match number.split_once('.') {
        Some((i, f)) => (i, f),
        None => (number, ""),
    };
    if int_part.is_empty() && frac_part.is_empty() {
        return None;
    }
    let digits = format!("{int_part}{frac_part}");
    let digits = digits.trim_start_matches('0');
    let mut coef: u128 = if digits.is_empty() {
        0
    } else {
        digits.parse().ok()?
    };
    let mut exp = -i32::try_from(frac_part.len()).ok()?;
    let format = match suffix {
        "" => Format::DecimalSI,
        "n" => {
            exp -= 9;
            Format::DecimalSI
        }
        "u" => {
            exp -= 6;
            Format::DecimalSI
        }
        "m" => {
            exp -= 3;
            Format::DecimalSI
        }
        "k" => {
            exp += 3;
            Format::DecimalSI
        }
        "M" => {
            exp += 6;
            Format::DecimalSI
        }
        "G" => {
            exp += 9;
            Format::DecimalSI
        }
        "T" => {
            exp += 12;
            Format::DecimalSI
        }
        "P" => {
            exp += 15;
            Format::DecimalSI
        }
        "E" => {
            exp += 18;
            Format::DecimalSI
        }
        "Ki" | "Mi" | "Gi" | "Ti" | "Pi" | "Ei" => {
            let power = match suffix {
                "Ki" => 1,
                "Mi" => 2,
                "Gi" => 3,
                "Ti" => 4,
                "Pi" => 5,
                _ => 6,
            };
            coef = coef.checked_mul(1024u128.checked_pow(power)?)?;
            Format::BinarySI
        }
        _ => {
            let e = suffix
                .strip_prefix('e')
                .or_else(|| suffix.strip_prefix('E'))?;
            if e.is_empty() {
                return None;
            }
            exp = exp.checked_add(e.parse::<i32>().ok()?)?;
            Format::DecimalExponent
        }
    };
    // Strip trailing zeros of the coefficient into the exponent.
    while coef != 0 {
        let (quotient, remainder) = (coef / 10, coef % 10);
        if remainder != 0 {
            break;
        }
        coef = quotient;
        exp += 1;
    }
    // Round up (away from zero) to nano precision.
    if exp < -9 && coef != 0 {
        let shift = u32::try_from(-9 - exp).ok()?;
        coef = match 10u128.checked_pow(shift) {
            Some(div) => coef.div_ceil(div),
            None => 1,
        };
        exp = -9;
    }
    Some((neg, coef, exp, format))
}

fn render(neg: bool, mut coef: u128, mut exp: i32, mut format: Format) -> Option<String> {
    if coef == 0 {
        return Some("0".to_string());
    }
    let sign = if neg { "-" } else { "" };
    if format == Format::BinarySI {
        // The integer value, if the amount is whole and at least 1024.
        let whole = if exp >= 0 {
            coef.checked_mul(10u128.checked_pow(u32::try_from(exp).ok()?)?)
        } else {
            None
        };
        match whole {
            Some(mut v) if v >= 1024 => {
                let mut power = 0;
                while power < 6 {
                    let (quotient, remainder) = (v / 1024, v % 1024);
                    if remainder != 0 {
                        break;
                    }
                    v = quotient;
                    power += 1;
                }
                let suffix = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"][power];
                return Some(format!("{sign}{v}{suffix}"));
            }
            _ => format = Format::DecimalSI,
        }
    }
    // Make the exponent a multiple of three, keeping the coefficient whole.
    while exp.rem_euclid(3) != 0 {
        coef = coef.checked_mul(10)?;
        exp -= 1;
    }
    let suffix = match (format, exp) {
        (Format::DecimalExponent, 0) => String::new(),
        (Format::DecimalExponent, e) => format!("e{e}"),
        (_, -9) => "n".into(),
        (_, -6) => "u".into(),
        (_, -3) => "m".into(),
        (_, 0) => String::new(),
        (_, 3) => "k".into(),
        (_, 6) => "M".into(),
        (_, 9) => "G".into(),
        (_, 12) => "T".into(),
        (_, 15) => "P".into(),
        (_, 18) => "E".into(),
        (_, e) => format!("e{e}"),
    };
    Some(format!("{sign}{coef}{suffix}"))
}

#[cfg(test)]
mod tests {
    use super::canonical;

    #[test]
    fn quantities_print_canonically() {
        let cases = [
            ("1Gi", "1Gi"),
            ("10Gi", "10Gi"),
            ("1024Mi", "1Gi"),
            ("1536Mi", "1536Mi"),
            ("0.5Gi", "512Mi"),
            ("1.5Ki", "1536"),
            ("512Ki", "512Ki"),
            ("100M", "100M"),
            ("1000", "1k"),
            ("1500", "1500"),
            ("1.5", "1500m"),
            ("500m", "500m"),
            ("0.1", "100m"),
            ("2", "2"),
            ("0", "0"),
            ("0Gi", "0"),
            ("1e3", "1e3"),
            ("1E6", "1e6"),
            ("12e2", "1200"),
            ("1n", "1n"),
            ("0.1n", "1n"),
            ("-1Gi", "-1Gi"),
            ("-500m", "-500m"),
            ("junk", "junk"),
        ];
        for (input, want) in cases {
            assert_eq!(canonical(input), want, "{input}");
        }
    }
}
