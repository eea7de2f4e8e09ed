//! Rules for object metadata: names and the validation messages kube-apiserver gives.

/// Which name rule a resource follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameRule {
    /// RFC 1123 subdomain: lower-case alphanumerics, '-' and '.', ≤253 (most kinds).
    Subdomain,
    /// RFC 1123 label: lower-case alphanumerics and '-', ≤63 (namespaces).
    Label,
    /// RFC 1035 label: like a 1123 label but starting with a letter (services).
    Rfc1035Label,
    /// Anything that is a valid path segment (RBAC objects).
    PathSegment,
}

impl NameRule {
    /// The rule upstream applies to `resource` in `group`.
    pub fn for_resource(group: &str, resource: &str) -> Self {
        match (group, resource) {
            ("", "namespaces") => NameRule::Label,
            ("", "services") => NameRule::Rfc1035Label,
            ("rbac.authorization.k8s.io", _) => NameRule::PathSegment,
            _ => NameRule::Subdomain,
        }
    }
}

fn label_ok(s: &str) -> bool {
    s.len() <= 63 && label_chars_ok(s)
}

fn label_chars_ok(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && s.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        && s.bytes().last().is_some_and(|b| b.is_ascii_alphanumeric())
}

/// The strings of a JSON list of strings (verbs, groups, resources, ...); anything else in it,
/// or a missing list, counts as nothing.
pub fn string_list(v: Option<&serde_json::Value>) -> Vec<String> {
    v.and_then(serde_json::Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(serde_json::Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// Validates `name` under `rule`; the errors are upstream's messages (without the value prefix).
pub fn validate_name(name: &str, rule: NameRule) -> Vec<String> {
    let mut errs = Vec::new();
    match rule {
        NameRule::Subdomain => {
            if name.len() > 253 {
                errs.push("must be no more than 253 characters".into());
            }
            if !name.split('.').all(label_ok) {
                errs.push("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')".into());
            }
        }
        NameRule::Label => {
            if name.len() > 63 {
                errs.push("must be no more than 63 characters".into());
            }
            if !label_chars_ok(name) {
                errs.push("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')".into());
            }
        }
        NameRule::Rfc1035Label => {
            if name.len() > 63 {
                errs.push("must be no more than 63 characters".into());
            }
            if !label_chars_ok(name) || !name.bytes().next().is_some_and(|b| b.is_ascii_lowercase())
            {
                errs.push("a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')".into());
            }
        }
        NameRule::PathSegment => {
            if name == "." || name == ".." {
                errs.push(format!("may not be '{name}'"));
            }
            for bad in ["/", "%"] {
                if name.contains(bad) {
                    errs.push(format!("may not contain '{bad}'"));
                }
            }
        }
    }
    errs
}

/// Five random characters from upstream's alphabet for `generateName` (no vowels, no
/// look-alike characters), drawn from `random` so this stays pure.
pub fn generate_suffix(mut random: impl FnMut() -> u32) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    (0..5)
        .map(|_| {
            let i = usize::try_from(random()).unwrap_or(0) % ALPHABET.len();
            char::from(ALPHABET[i])
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(validate_name("a.b-c", NameRule::Subdomain).is_empty());
        assert!(!validate_name("Bad_Name", NameRule::Subdomain).is_empty());
        assert!(!validate_name("a.b", NameRule::Label).is_empty());
        assert!(!validate_name("1abc", NameRule::Rfc1035Label).is_empty());
        assert!(validate_name("system:admin", NameRule::PathSegment).is_empty());
        assert!(!validate_name("a/b", NameRule::PathSegment).is_empty());
        assert!(!validate_name(&"a".repeat(64), NameRule::Label).is_empty());
    }

    #[test]
    fn generated_suffixes_use_the_safe_alphabet() {
        let mut n = 0;
        let s = generate_suffix(|| {
            n += 7;
            n
        });
        assert_eq!(s.len(), 5);
        assert!(s
            .bytes()
            .all(|b| b"bcdfghjklmnpqrstvwxz2456789".contains(&b)));
    }
}
