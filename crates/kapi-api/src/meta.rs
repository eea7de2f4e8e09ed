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
            ("rbac.authorization.k8s.io", _) | ("apiregistration.k8s.io", _) => {
                NameRule::PathSegment
            }
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

/// Upstream's cap on the bytes of an object's annotations, keys and values together.
pub const MAX_ANNOTATIONS_BYTES: usize = 256 * 1024;

/// The bytes of `annotations` as upstream counts them against [`MAX_ANNOTATIONS_BYTES`].
pub fn annotations_size(annotations: &serde_json::Map<String, serde_json::Value>) -> usize {
    annotations
        .iter()
        .map(|(k, v)| k.len() + v.as_str().map_or(0, str::len))
        .sum()
}

const QUALIFIED_NAME_REGEX: &str = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]";
const QUALIFIED_NAME_MESSAGE: &str = "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";

/// `([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]`.
fn is_qualified_name_part(s: &str) -> bool {
    let b = s.as_bytes();
    match (b.first(), b.last()) {
        (Some(f), Some(l)) => {
            f.is_ascii_alphanumeric()
                && l.is_ascii_alphanumeric()
                && b.iter()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
        }
        _ => false,
    }
}

/// Why `value` is not a qualified name (a label or annotation key: an optional DNS subdomain
/// prefix and `/`, then a name of at most 63 characters), in upstream's words; empty if it is.
pub fn qualified_name_errors(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    let parts: Vec<&str> = value.split('/').collect();
    let name = match parts.as_slice() {
        [name] => *name,
        [prefix, name] => {
            if prefix.is_empty() {
                errs.push("prefix part must be non-empty".to_string());
            } else {
                errs.extend(
                    validate_name(prefix, NameRule::Subdomain)
                        .into_iter()
                        .map(|m| format!("prefix part {m}")),
                );
            }
            *name
        }
        _ => {
            errs.push(format!(
                "a qualified name {QUALIFIED_NAME_MESSAGE} with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
            ));
            return errs;
        }
    };
    if name.is_empty() {
        errs.push("name part must be non-empty".to_string());
    } else if name.len() > 63 {
        errs.push("name part must be no more than 63 characters".to_string());
    }
    if !is_qualified_name_part(name) {
        errs.push(format!("name part {QUALIFIED_NAME_MESSAGE}"));
    }
    debug_assert!(QUALIFIED_NAME_MESSAGE.contains(QUALIFIED_NAME_REGEX));
    errs
}

/// Why `value` is not a label value (empty, or at most 63 characters of a qualified name's
/// name part), in upstream's words; empty if it is.
pub fn label_value_errors(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > 63 {
        errs.push("must be no more than 63 characters".to_string());
    }
    if !value.is_empty() && !is_qualified_name_part(value) {
        errs.push("a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')".to_string());
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
    fn label_keys_and_values_as_upstream_words_them() {
        assert!(qualified_name_errors("example.com/My_Name-1").is_empty());
        assert_eq!(
            qualified_name_errors("a/b/c"),
            [format!("a qualified name {QUALIFIED_NAME_MESSAGE} with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')")]
        );
        assert_eq!(
            qualified_name_errors(&"x".repeat(64)),
            ["name part must be no more than 63 characters"]
        );
        assert_eq!(
            qualified_name_errors("bad key!"),
            [format!("name part {QUALIFIED_NAME_MESSAGE}")]
        );
        assert!(qualified_name_errors("UPPER.com/x")[0]
            .starts_with("prefix part a lowercase RFC 1123 subdomain"));
        assert_eq!(
            qualified_name_errors("/x"),
            ["prefix part must be non-empty"]
        );
        assert!(label_value_errors("").is_empty());
        assert_eq!(
            label_value_errors(&"v".repeat(64)),
            ["must be no more than 63 characters"]
        );
        assert_eq!(label_value_errors("-bad-").len(), 1);
    }

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
