//! Bootstrap tokens, as kubeadm's: `abcdef.0123456789abcdef`, stored as a Secret of type
//! `bootstrap.kubernetes.io/token` named `bootstrap-token-<id>` in kube-system. A token
//! authenticates as `system:bootstrap:<id>` in group `system:bootstrappers` (plus its
//! `auth-extra-groups`) while the Secret allows authentication and has not expired, so that a
//! new node can ask for its own client certificate.

use base64::Engine;
use serde_json::Value;

use crate::UserInfo;

/// The Secret type.
pub const SECRET_TYPE: &str = "bootstrap.kubernetes.io/token";
/// The Secret's name prefix (then the token id).
pub const SECRET_PREFIX: &str = "bootstrap-token-";
/// The namespace of the Secrets.
pub const NAMESPACE: &str = "kube-system";
/// The group every bootstrap token is in.
pub const BOOTSTRAPPERS_GROUP: &str = "system:bootstrappers";
/// The user name prefix (then the token id).
pub const USER_PREFIX: &str = "system:bootstrap:";

/// The id and secret of a token in bootstrap form, or `None`.
pub fn parse(token: &str) -> Option<(&str, &str)> {
    let (id, secret) = token.split_once('.')?;
    let ok = |s: &str, len: usize| {
        s.len() == len
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    };
    (ok(id, 6) && ok(secret, 16)).then_some((id, secret))
}

/// A new random token.
pub fn generate() -> String {
    use rand::Rng;
    const CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::thread_rng();
    let mut pick = |n: usize| -> String {
        (0..n)
            .map(|_| CHARS[rng.gen_range(0..CHARS.len())] as char)
            .collect()
    };
    let id = pick(6);
    format!("{id}.{}", pick(16))
}

fn data(secret: &Value, key: &str) -> Option<String> {
    let text = secret.pointer(&format!("/data/{key}"))?.as_str()?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text)
        .ok()?;
    String::from_utf8(bytes).ok()
}

/// The user a token proves, given its stored Secret; `now` in Unix seconds.
pub fn user(secret: &Value, id: &str, presented: &str, now: i64) -> Option<UserInfo> {
    if secret["type"] != SECRET_TYPE || secret.pointer("/metadata/deletionTimestamp").is_some() {
        return None;
    }
    if data(secret, "token-id")? != id {
        return None;
    }
    let stored = data(secret, "token-secret")?;
    // Compare in constant time: the secret is a password.
    if stored.len() != presented.len()
        || stored
            .bytes()
            .zip(presented.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            != 0
    {
        return None;
    }
    if data(secret, "usage-bootstrap-authentication").as_deref() != Some("true") {
        return None;
    }
    if let Some(exp) = data(secret, "expiration") {
        let at = chrono::DateTime::parse_from_rfc3339(&exp).ok()?;
        if at.timestamp() <= now {
            return None;
        }
    }
    let mut groups = vec![BOOTSTRAPPERS_GROUP.to_string()];
    for g in data(secret, "auth-extra-groups")
        .unwrap_or_default()
        .split(',')
    {
        let g = g.trim();
        if g.is_empty() {
            continue;
        }
        // Only groups under system:bootstrappers: may be added.
        if !g.starts_with("system:bootstrappers:") {
            return None;
        }
        if !groups.iter().any(|x| x == g) {
            groups.push(g.to_string());
        }
    }
    groups.push(crate::rbac::AUTHENTICATED_GROUP.to_string());
    Some(UserInfo {
        name: format!("{USER_PREFIX}{id}"),
        uid: String::new(),
        groups,
        extra: Default::default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn b64(s: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    fn secret(extra: &[(&str, &str)]) -> Value {
        let mut data = serde_json::Map::new();
        for (k, v) in [
            ("token-id", "abcdef"),
            ("token-secret", "0123456789abcdef"),
            ("usage-bootstrap-authentication", "true"),
        ]
        .iter()
        .chain(extra)
        {
            data.insert(k.to_string(), json!(b64(v)));
        }
        json!({"type": SECRET_TYPE, "metadata": {"name": "bootstrap-token-abcdef"}, "data": data})
    }

    #[test]
    fn tokens_have_kubeadms_shape() {
        assert_eq!(
            parse("abcdef.0123456789abcdef"),
            Some(("abcdef", "0123456789abcdef"))
        );
        for bad in [
            "abcdef",
            "ABCDEF.0123456789abcdef",
            "abcde.0123456789abcdef",
            "abcdef.0123456789abcde!",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
        let t = generate();
        assert!(parse(&t).is_some(), "{t}");
    }

    #[test]
    fn a_valid_token_is_a_bootstrapper() {
        let u = user(
            &secret(&[(
                "auth-extra-groups",
                "system:bootstrappers:kapi:default-node-token",
            )]),
            "abcdef",
            "0123456789abcdef",
            0,
        )
        .unwrap();
        assert_eq!(u.name, "system:bootstrap:abcdef");
        assert_eq!(
            u.groups,
            [
                "system:bootstrappers",
                "system:bootstrappers:kapi:default-node-token",
                "system:authenticated"
            ]
        );
    }

    #[test]
    fn wrong_expired_unusable_or_escalating_tokens_are_refused() {
        assert!(user(&secret(&[]), "abcdef", "0123456789abcdeX", 0).is_none());
        assert!(user(
            &secret(&[("expiration", "2020-01-01T00:00:00Z")]),
            "abcdef",
            "0123456789abcdef",
            1_700_000_000
        )
        .is_none());
        assert!(user(
            &secret(&[("expiration", "2099-01-01T00:00:00Z")]),
            "abcdef",
            "0123456789abcdef",
            1_700_000_000
        )
        .is_some());
        let mut not_for_auth = secret(&[]);
        not_for_auth["data"]["usage-bootstrap-authentication"] = json!(b64("false"));
        assert!(user(&not_for_auth, "abcdef", "0123456789abcdef", 0).is_none());
        assert!(user(
            &secret(&[("auth-extra-groups", "system:masters")]),
            "abcdef",
            "0123456789abcdef",
            0
        )
        .is_none());
        let mut wrong_type = secret(&[]);
        wrong_type["type"] = json!("Opaque");
        assert!(user(&wrong_type, "abcdef", "0123456789abcdef", 0).is_none());
    }
}
