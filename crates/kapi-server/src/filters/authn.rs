//! Authentication: who is calling.
//!
//! Tried in upstream's order: the verified client certificate, then a bearer token (the static
//! token file, then service-account JWTs), then anonymous. A bearer token that nothing accepts
//! is a 401 even when anonymous access is on, as kube-apiserver does.
//!
//! Service-account tokens are verified cryptographically once and the result is kept briefly,
//! but the storage lookups (the account, and the Secret, Pod or Node the token is bound to, by
//! UID) run on every request against the in-memory store, so deleting any of them revokes the
//! token at once.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime};

use base64::Engine;
use http::HeaderMap;
use kapi_api::resources;
use kapi_api::status::ApiError;
use kapi_auth::serviceaccount::{Issuer, TokenKeys, TokenKind, VerifiedToken};
use kapi_auth::UserInfo;
use kapi_store::Revision;
use serde_json::Value;

use crate::registry::Registry;

/// How long a verified signature is trusted before it is checked again.
const VERIFY_CACHE_TTL: Duration = Duration::from_secs(10);
/// Bound on the verification cache, so a flood of distinct tokens cannot grow it.
const VERIFY_CACHE_MAX: usize = 10_000;

/// Why the static token file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum TokenFileError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// A line is not `token,user,uid[,"group1,group2"]`.
    #[error("{path}:{line}: expected token,user,uid[,\"group1,group2\"]")]
    Format {
        /// The file.
        path: String,
        /// The 1-based line.
        line: usize,
    },
    /// The same token is on two lines; which user it means would depend on line order, so the
    /// file is refused rather than one line silently winning. The token itself is not printed.
    #[error("{path}:{line}: the token on this line is also on line {first}; each token may be listed once")]
    Duplicate {
        /// The file.
        path: String,
        /// The 1-based line of the second occurrence.
        line: usize,
        /// The 1-based line of the first.
        first: usize,
    },
}

/// Parses upstream's static token CSV: `token,user,uid,"group1,group2"`.
pub fn read_token_file(path: &Path) -> Result<HashMap<String, UserInfo>, TokenFileError> {
    let text = std::fs::read_to_string(path).map_err(|source| TokenFileError::Io {
        path: path.display().to_string(),
        source,
    })?;
    let mut out = HashMap::new();
    let mut first_line: HashMap<String, usize> = HashMap::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut fields = Vec::new();
        let mut cur = String::new();
        let mut quoted = false;
        for ch in line.chars() {
            match ch {
                '"' => quoted = !quoted,
                ',' if !quoted => fields.push(std::mem::take(&mut cur)),
                c => cur.push(c),
            }
        }
        fields.push(cur);
        if fields.len() < 3 || fields[0].is_empty() || fields[1].is_empty() {
            return Err(TokenFileError::Format {
                path: path.display().to_string(),
                line: i + 1,
            });
        }
        let mut groups: Vec<String> = fields
            .get(3)
            .map(|g| {
                g.split(',')
                    .map(str::trim)
                    .filter(|g| !g.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        groups.push("system:authenticated".into());
        if let Some(&first) = first_line.get(&fields[0]) {
            return Err(TokenFileError::Duplicate {
                path: path.display().to_string(),
                line: i + 1,
                first,
            });
        }
        first_line.insert(fields[0].clone(), i + 1);
        out.insert(
            fields[0].clone(),
            UserInfo {
                name: fields[1].clone(),
                uid: fields[2].clone(),
                groups,
                extra: Default::default(),
            },
        );
    }
    Ok(out)
}

/// The authenticators of one server.
pub struct Authenticator {
    /// The service-account signing and verification keys.
    pub keys: TokenKeys,
    /// The issuer and API audiences.
    pub issuer: Issuer,
    static_tokens: HashMap<String, UserInfo>,
    anonymous: bool,
    registry: Arc<Registry>,
    cache: RwLock<HashMap<String, CachedToken>>,
}

impl Authenticator {
    /// Authenticators over `registry` for lookups.
    pub fn new(
        keys: TokenKeys,
        issuer: Issuer,
        static_tokens: HashMap<String, UserInfo>,
        anonymous: bool,
        registry: Arc<Registry>,
    ) -> Self {
        Self {
            keys,
            issuer,
            static_tokens,
            anonymous,
            registry,
            cache: RwLock::new(HashMap::new()),
        }
    }

    /// Who the request is from.
    pub fn authenticate(
        &self,
        cert_user: Option<UserInfo>,
        headers: &HeaderMap,
    ) -> Result<UserInfo, ApiError> {
        if let Some(user) = cert_user {
            return Ok(user);
        }
        if let Some(token) = bearer_token(headers) {
            return self
                .authenticate_token(token)
                .ok_or_else(ApiError::unauthorized);
        }
        if self.anonymous {
            Ok(UserInfo::anonymous())
        } else {
            Err(ApiError::unauthorized())
        }
    }

    /// The user a bearer token proves, or `None` (TokenReview uses this too).
    ///
    /// A cached entry is trusted only while every object its lookup checked is still stored at
    /// the same revision, which one in-memory read per object tells, without decoding anything;
    /// any change to them, deletion included, sends the token through a full check again.
    pub fn authenticate_token(&self, token: &str) -> Option<UserInfo> {
        if let Some(user) = self.static_tokens.get(token) {
            return Some(user.clone());
        }
        if let Some((id, secret)) = kapi_auth::bootstrap_token::parse(token) {
            use kapi_auth::bootstrap_token::{user, NAMESPACE, SECRET_PREFIX};
            let def = resources::find("", "v1", "secrets")?;
            let name = format!("{SECRET_PREFIX}{id}");
            let (stored, _) = self.registry.get_value(def, Some(NAMESPACE), &name).ok()?;
            return user(&stored, id, secret, unix_now());
        }
        let now = Instant::now();
        if let Ok(cache) = self.cache.read() {
            if let Some(entry) = cache.get(token) {
                let fresh = now.duration_since(entry.verified_at) < VERIFY_CACHE_TTL
                    && entry.expires.is_none_or(|exp| unix_now() < exp);
                let unchanged = entry.proofs.iter().all(|(key, rev)| {
                    self.registry
                        .store()
                        .get(key)
                        .is_some_and(|kv| kv.mod_revision == *rev)
                });
                if fresh && unchanged {
                    return Some(entry.user.clone());
                }
            }
        }
        let verified = match self.issuer.verify(&self.keys, token, SystemTime::now()) {
            Ok(v) => v,
            Err(e) => {
                tracing::debug!(error = %e, "bearer token refused");
                return None;
            }
        };
        let proofs = self.lookup(&verified, token)?;
        let user = verified.user_info();
        if let Ok(mut cache) = self.cache.write() {
            if cache.len() >= VERIFY_CACHE_MAX {
                cache.retain(|_, e| now.duration_since(e.verified_at) < VERIFY_CACHE_TTL);
                if cache.len() >= VERIFY_CACHE_MAX {
                    cache.clear();
                }
            }
            cache.insert(
                token.to_string(),
                CachedToken {
                    user: user.clone(),
                    expires: verified.expires,
                    verified_at: now,
                    proofs,
                },
            );
        }
        Some(user)
    }

    /// Checks that the objects the token names exist with the UIDs it was issued for; returns
    /// their storage keys and revisions as proof for the cache.
    fn lookup(&self, v: &VerifiedToken, token: &str) -> Option<Vec<(String, Revision)>> {
        let mut proofs = Vec::new();
        let mut live = |resource: &str, ns: Option<&str>, name: &str| -> Option<Value> {
            let def = resources::find("", "v1", resource)?;
            let (obj, rev) = self.registry.get_value(def, ns, name).ok()?;
            proofs.push((def.key(ns, name), rev));
            obj.pointer("/metadata/deletionTimestamp")
                .is_none()
                .then_some(obj)
        };
        let uid = |obj: &Value| {
            obj.pointer("/metadata/uid")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        let sa = live("serviceaccounts", Some(&v.namespace), &v.sa_name)?;
        if uid(&sa) != v.sa_uid {
            return None;
        }
        let ok = match &v.kind {
            TokenKind::Legacy { secret_name } => {
                let secret = live("secrets", Some(&v.namespace), secret_name)?;
                let annotated = secret
                    .pointer("/metadata/annotations/kubernetes.io~1service-account.name")
                    .and_then(Value::as_str);
                let stored = secret
                    .pointer("/data/token")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                let presented = base64::engine::general_purpose::STANDARD.encode(token);
                annotated == Some(v.sa_name.as_str()) && stored == presented
            }
            TokenKind::Bound {
                bound_pod,
                bound_secret,
                bound_node,
                ..
            } => {
                let mut check = |resource: &str,
                                 ns: Option<&str>,
                                 pair: &Option<(String, String)>| {
                    match pair {
                        None => true,
                        Some((name, want)) => live(resource, ns, name)
                            .is_some_and(|o| want.is_empty() || uid(&o) == *want),
                    }
                };
                check("pods", Some(&v.namespace), bound_pod)
                    && check("secrets", Some(&v.namespace), bound_secret)
                    && (bound_pod.is_some() || check("nodes", None, bound_node))
            }
        };
        ok.then_some(proofs)
    }
}

/// A verified token's user, kept while the objects it was checked against stay unchanged.
struct CachedToken {
    user: UserInfo,
    expires: Option<i64>,
    verified_at: Instant,
    /// Storage key and revision of every object the lookup read.
    proofs: Vec<(String, Revision)>,
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// The token of an `Authorization: Bearer <token>` header; the scheme is case-insensitive.
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_scheme_is_case_insensitive() {
        let mut h = HeaderMap::new();
        h.insert(http::header::AUTHORIZATION, "bearer abc".parse().unwrap());
        assert_eq!(bearer_token(&h), Some("abc"));
        h.insert(http::header::AUTHORIZATION, "Basic abc".parse().unwrap());
        assert_eq!(bearer_token(&h), None);
        h.insert(http::header::AUTHORIZATION, "Bearer ".parse().unwrap());
        assert_eq!(bearer_token(&h), None);
    }

    #[test]
    fn token_file_follows_upstream_csv() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("tokens.csv");
        std::fs::write(&p, "t1,alice,u1,\"dev,ops\"\nt2,bob,u2\n").unwrap();
        let tokens = read_token_file(&p).unwrap();
        assert_eq!(tokens["t1"].name, "alice");
        assert_eq!(tokens["t1"].groups, ["dev", "ops", "system:authenticated"]);
        assert_eq!(tokens["t2"].groups, ["system:authenticated"]);
        std::fs::write(&p, "onlyone\n").unwrap();
        assert!(read_token_file(&p).is_err());
    }

    #[test]
    fn token_listed_twice_is_refused_with_both_lines() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("tokens.csv");
        std::fs::write(&p, "t1,alice,u1\n# comment\nt2,bob,u2\nt1,mallory,u3\n").unwrap();
        let err = read_token_file(&p).unwrap_err();
        assert!(
            matches!(
                err,
                TokenFileError::Duplicate {
                    line: 4,
                    first: 1,
                    ..
                }
            ),
            "{err:?}"
        );
        let msg = err.to_string();
        assert!(msg.contains(":4: ") && msg.contains("line 1"), "{msg}");
        assert!(!msg.contains("t1"), "the token must not be printed: {msg}");
    }
}
