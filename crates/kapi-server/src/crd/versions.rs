//! The order in which a group's versions are listed: upstream's "Kube-aware" version priority,
//! which also decides the preferred version discovery reports.

use std::cmp::Ordering;

/// A version name read as `v<major>[(alpha|beta)<minor>]`.
#[derive(Debug, PartialEq, Eq)]
struct KubeVersion {
    major: u64,
    /// 2 for GA, 1 for beta, 0 for alpha.
    stability: u8,
    minor: u64,
}

fn parse(v: &str) -> Option<KubeVersion> {
    let rest = v.strip_prefix('v')?;
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    let major = number(&rest[..digits])?;
    let tail = &rest[digits..];
    let (stability, minor) = if tail.is_empty() {
        (2, 0)
    } else if let Some(n) = tail.strip_prefix("beta") {
        (1, number(n)?)
    } else {
        (0, number(tail.strip_prefix("alpha")?)?)
    };
    Some(KubeVersion {
        major,
        stability,
        minor,
    })
}

/// A positive decimal number without leading zeros, as version names spell them.
fn number(s: &str) -> Option<u64> {
    let plain = !s.is_empty() && !s.starts_with('0') && s.bytes().all(|b| b.is_ascii_digit());
    plain.then(|| s.parse().ok()).flatten()
}

/// Highest priority first: GA before beta before alpha, higher numbers first within each, and
/// names that are not Kubernetes-style versions last, alphabetically.
pub fn by_priority(a: &str, b: &str) -> Ordering {
    match (parse(a), parse(b)) {
        (Some(x), Some(y)) => y
            .stability
            .cmp(&x.stability)
            .then(y.major.cmp(&x.major))
            .then(y.minor.cmp(&x.minor)),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => a.cmp(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_sort_as_upstream_lists_them() {
        let mut v = vec![
            "foo1",
            "v1alpha1",
            "v10",
            "v1",
            "v2beta1",
            "v11alpha2",
            "v1beta1",
            "v2",
            "v12alpha1",
            "foo10",
            "v1beta2",
            "v3beta1",
            "v01",
        ];
        v.sort_by(|a, b| by_priority(a, b));
        assert_eq!(
            v,
            vec![
                "v10",
                "v2",
                "v1",
                "v3beta1",
                "v2beta1",
                "v1beta2",
                "v1beta1",
                "v12alpha1",
                "v11alpha2",
                "v1alpha1",
                "foo1",
                "foo10",
                "v01",
            ]
        );
    }
}
