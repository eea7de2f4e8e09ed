//! `maxSurge` and `maxUnavailable` as numbers of pods, as upstream's `ResolveFenceposts`:
//! percentages of `spec.replicas`, surge rounded up and unavailability rounded down, and when
//! both come to zero one pod may be unavailable, or a rollout could never move.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

/// Why an int-or-percent value could not be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid value {0:?}: must be an integer or a percentage")]
pub struct BadValue(pub String);

/// `value` of `total`: integers as they are, `N%` rounded up or down.
pub fn scaled(
    value: Option<&IntOrString>,
    default: &str,
    total: i32,
    round_up: bool,
) -> Result<i32, BadValue> {
    match value {
        Some(IntOrString::Int(i)) => Ok(*i),
        Some(IntOrString::String(s)) => percent(s, total, round_up),
        None => percent(default, total, round_up),
    }
}

fn percent(s: &str, total: i32, round_up: bool) -> Result<i32, BadValue> {
    let bad = || BadValue(s.to_string());
    let p: i64 = s
        .strip_suffix('%')
        .ok_or_else(bad)?
        .parse()
        .map_err(|_| bad())?;
    let product = p * i64::from(total);
    let v = if round_up {
        (product + 99).div_euclid(100)
    } else {
        product.div_euclid(100)
    };
    i32::try_from(v).map_err(|_| bad())
}

/// (maxSurge, maxUnavailable) in pods for `desired` replicas.
pub fn resolve(
    surge: Option<&IntOrString>,
    unavailable: Option<&IntOrString>,
    desired: i32,
) -> Result<(i32, i32), BadValue> {
    let s = scaled(surge, "25%", desired, true)?;
    let u = scaled(unavailable, "25%", desired, false)?;
    Ok(if s == 0 && u == 0 { (0, 1) } else { (s, u) })
}

/// The replicas a Deployment asks for (`spec.replicas`, 1 when unset).
pub fn replicas(d: &Deployment) -> i32 {
    d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)
}

/// Whether the strategy is Recreate.
pub fn is_recreate(d: &Deployment) -> bool {
    d.spec
        .as_ref()
        .and_then(|s| s.strategy.as_ref())
        .and_then(|s| s.type_.as_deref())
        == Some("Recreate")
}

fn rolling(d: &Deployment) -> Result<(i32, i32), BadValue> {
    let ru = d
        .spec
        .as_ref()
        .and_then(|s| s.strategy.as_ref())
        .and_then(|s| s.rolling_update.as_ref());
    resolve(
        ru.and_then(|r| r.max_surge.as_ref()),
        ru.and_then(|r| r.max_unavailable.as_ref()),
        replicas(d),
    )
}

/// The Deployment's surge in pods (0 for Recreate).
pub fn max_surge(d: &Deployment) -> Result<i32, BadValue> {
    if is_recreate(d) {
        return Ok(0);
    }
    Ok(rolling(d)?.0)
}

/// The Deployment's allowed unavailability in pods, at most `spec.replicas` (0 for Recreate).
pub fn max_unavailable(d: &Deployment) -> Result<i32, BadValue> {
    let want = replicas(d);
    if is_recreate(d) || want == 0 {
        return Ok(0);
    }
    Ok(rolling(d)?.1.min(want))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> IntOrString {
        IntOrString::String(v.into())
    }

    #[test]
    fn surge_rounds_up_and_unavailability_down() {
        assert_eq!(resolve(Some(&s("25%")), Some(&s("25%")), 10), Ok((3, 2)));
        assert_eq!(resolve(None, None, 3), Ok((1, 0)));
        assert_eq!(
            resolve(Some(&IntOrString::Int(2)), Some(&IntOrString::Int(0)), 3),
            Ok((2, 0))
        );
        assert_eq!(resolve(Some(&s("50%")), Some(&s("50%")), 5), Ok((3, 2)));
    }

    #[test]
    fn both_zero_allows_one_unavailable() {
        assert_eq!(
            resolve(Some(&IntOrString::Int(0)), Some(&IntOrString::Int(0)), 3),
            Ok((0, 1))
        );
        // 10% of 3 rounds down to 0 unavailable and 0% surge: still one.
        assert_eq!(resolve(Some(&s("0%")), Some(&s("10%")), 3), Ok((0, 1)));
    }

    #[test]
    fn bad_percentages_are_refused() {
        assert!(resolve(Some(&s("x%")), None, 3).is_err());
        assert!(resolve(Some(&s("10")), None, 3).is_err());
    }
}
