//! Service-account tokens: issuing and verifying the JWTs that pods and controllers present.
//!
//! Two kinds, both signed ES256 by the key in the data dir ([`TokenKeys`]):
//! - **bound** tokens from the TokenRequest API ([`Issuer::issue_bound`]): issuer URL, audiences,
//!   expiry, a random `jti`, and the objects they are bound to in the `kubernetes.io` claim;
//! - **legacy** tokens stored in `kubernetes.io/service-account-token` Secrets
//!   ([`Issuer::issue_legacy`]): issuer `kubernetes/serviceaccount`, no expiry.
//!
//! [`Issuer::verify`] does every check that needs no storage, in Kubernetes' order (structure,
//! algorithm, key, signature, issuer, audience, times, claim shape) and returns the claims as a
//! [`VerifiedToken`]. The caller then does the lookups Kubernetes does: the service account with
//! that UID, the bound Pod/Secret (or Node, for node-bound tokens) with that UID and not being
//! deleted, and for legacy tokens the Secret still holding this very token. Only then is
//! [`VerifiedToken::user_info`] the request's user.
//!
//! ```
//! use std::time::SystemTime;
//! use kapi_auth::serviceaccount::{BoundRequest, Issuer, TokenKeys, DEFAULT_EXPIRATION_SECONDS};
//!
//! let keys = TokenKeys::generate().unwrap();
//! let issuer = Issuer::default();
//! let now = SystemTime::now();
//! let (token, _exp) = issuer
//!     .issue_bound(&keys, BoundRequest::new("default", "app", "uid-1", DEFAULT_EXPIRATION_SECONDS), now)
//!     .unwrap();
//! let verified = issuer.verify(&keys, &token, now).unwrap();
//! assert_eq!(verified.user_info().name, "system:serviceaccount:default:app");
//! ```

mod claims;
mod keys;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, Header};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::UserInfo;
use claims::{AnyClaims, BoundClaims, KubernetesClaim, LegacyClaims, Ref};
pub use keys::{key_id, TokenKeys, EXTRA_KEYS_DIR, PUBLIC_KEY_FILE, SIGNING_KEY_FILE};

/// The issuer of Secret-based tokens, fixed by Kubernetes.
pub const LEGACY_ISSUER: &str = "kubernetes/serviceaccount";
/// kapi's issuer when none is configured: the one kubeadm configures.
pub const DEFAULT_ISSUER: &str = "https://kubernetes.default.svc.cluster.local";
/// TokenRequest's `spec.expirationSeconds` when the request leaves it out.
pub const DEFAULT_EXPIRATION_SECONDS: i64 = 3600;
/// The shortest lifetime TokenRequest grants (10 minutes).
pub const MIN_EXPIRATION_SECONDS: i64 = 600;
/// The longest lifetime TokenRequest accepts (2^32 seconds).
pub const MAX_EXPIRATION_SECONDS: i64 = 1 << 32;
/// Clock skew tolerated on `exp`, `nbf` and `iat`, as Kubernetes' JWT library allows.
pub const LEEWAY_SECONDS: i64 = 60;
/// The only signing algorithm kapi issues and accepts.
pub const ALGORITHM: &str = "ES256";

/// Prefix of every service account's user name.
pub const USERNAME_PREFIX: &str = "system:serviceaccount:";
/// The group of every service account.
pub const ALL_SERVICE_ACCOUNTS_GROUP: &str = "system:serviceaccounts";
/// The group every authenticated user is in.
pub const AUTHENTICATED_GROUP: &str = "system:authenticated";
/// Prefix of the per-namespace service-account group.
pub const NAMESPACE_GROUP_PREFIX: &str = "system:serviceaccounts:";
/// `extra` key: the pod a token is bound to.
pub const EXTRA_POD_NAME: &str = "authentication.kubernetes.io/pod-name";
/// `extra` key: the UID of the pod a token is bound to.
pub const EXTRA_POD_UID: &str = "authentication.kubernetes.io/pod-uid";
/// `extra` key: the node of the bound pod, or the node a token is bound to.
pub const EXTRA_NODE_NAME: &str = "authentication.kubernetes.io/node-name";
/// `extra` key: that node's UID.
pub const EXTRA_NODE_UID: &str = "authentication.kubernetes.io/node-uid";
/// `extra` key: which credential was used (`JTI=<jti>` for bound tokens), for audit.
pub const EXTRA_CREDENTIAL_ID: &str = "authentication.kubernetes.io/credential-id";

/// `system:serviceaccount:NS:NAME`.
pub fn username(namespace: &str, name: &str) -> String {
    format!("{USERNAME_PREFIX}{namespace}:{name}")
}

/// The namespace and name inside a service-account user name, if it is one.
pub fn split_username(user: &str) -> Option<(&str, &str)> {
    let (namespace, name) = user.strip_prefix(USERNAME_PREFIX)?.split_once(':')?;
    if namespace.is_empty() || name.is_empty() || name.contains(':') {
        return None;
    }
    Some((namespace, name))
}

/// Why a token was not issued or not accepted. Every verification failure ends as 401 for the
/// client; the text goes to logs and TokenReview `status.error`, worded as Kubernetes words it.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// Not a compact JWS with base64url parts and a JSON header and payload.
    #[error("malformed token: {0}")]
    Malformed(&'static str),
    /// The header names an algorithm other than ES256 (`none`, HMAC, RSA, ...).
    #[error("token signing algorithm {0:?} is not accepted")]
    UnsupportedAlgorithm(String),
    /// The header's `kid` names no key we trust.
    #[error("invalid signature, no key with kid {0:?}")]
    UnknownKey(String),
    /// No trusted key verifies the signature.
    #[error("invalid signature")]
    BadSignature,
    /// Signed by us but for another issuer (or none).
    #[error("token issuer {0:?} is invalid")]
    WrongIssuer(String),
    /// None of the token's audiences is one of the target audiences.
    #[error(
        "token audiences {} is invalid for the target audiences {}",
        GoList(token),
        GoList(target)
    )]
    WrongAudience {
        /// The token's audiences (the API audiences when it names none).
        token: Vec<String>,
        /// The audiences it was checked against.
        target: Vec<String>,
    },
    /// `exp` is more than the leeway in the past.
    #[error("service account token has expired")]
    Expired,
    /// `nbf` is more than the leeway in the future.
    #[error("service account token is not valid yet")]
    NotYetValid,
    /// `iat` is more than the leeway in the future.
    #[error("service account token is issued in the future")]
    IssuedInFuture,
    /// A claim this kind of token must carry is absent or empty.
    #[error("{0} claim is missing")]
    MissingClaim(&'static str),
    /// `sub` is not `system:serviceaccount:NS:NAME` for the token's own namespace and name.
    #[error("sub claim is invalid")]
    InvalidSubject,
    /// TokenRequest `spec.expirationSeconds` out of bounds (a 422 on that field).
    #[error("{message}")]
    InvalidExpiration {
        /// The requested lifetime.
        seconds: i64,
        /// Kubernetes' wording of the field error.
        message: &'static str,
    },
    /// The token request is inconsistent (e.g. node information without a pod binding).
    #[error("invalid token request: {0}")]
    InvalidRequest(&'static str),
    /// Reading or writing a key file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The failure.
        source: std::io::Error,
    },
    /// A key file holds no usable ES256 key.
    #[error("{}: {reason}", path.display())]
    Key {
        /// The file (empty for keys not read from a file).
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// Signing failed (the system random source failed).
    #[error("signing the token failed: {0}")]
    Signing(String),
}

/// Formats a list as Go's `%q` does (`["a" "b"]`), so messages read as Kubernetes' do.
struct GoList<'a>(&'a [String]);

impl fmt::Display for GoList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[")?;
        for (i, s) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{s:?}")?;
        }
        f.write_str("]")
    }
}

/// What a token may be bound to (TokenRequest `spec.boundObjectRef.kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BoundKind {
    /// Valid while the Pod with that UID exists.
    Pod,
    /// Valid while the Secret with that UID exists.
    Secret,
    /// Valid while the Node with that UID exists.
    Node,
}

impl BoundKind {
    /// The kind named in a `boundObjectRef`, or `None` for kinds a token cannot be bound to
    /// (Kubernetes answers 400 `cannot bind token to object of type ...`).
    pub fn from_kind(kind: &str) -> Option<Self> {
        match kind {
            "Pod" => Some(Self::Pod),
            "Secret" => Some(Self::Secret),
            "Node" => Some(Self::Node),
            _ => None,
        }
    }
}

/// The object a bound token lives and dies with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoundObject {
    /// Pod, Secret or Node.
    pub kind: BoundKind,
    /// Its name (in the token's namespace, except for a Node).
    pub name: String,
    /// Its UID, as found in storage when the token was requested.
    pub uid: String,
}

/// What a TokenRequest asks for, after the server resolved the account and bound object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoundRequest {
    /// The account's namespace.
    pub namespace: String,
    /// The account's name.
    pub sa_name: String,
    /// The account's UID.
    pub sa_uid: String,
    /// `spec.audiences`; empty means the issuer's API audiences.
    pub audiences: Vec<String>,
    /// `spec.expirationSeconds` (the caller applies [`DEFAULT_EXPIRATION_SECONDS`]).
    pub expiration_seconds: i64,
    /// `spec.boundObjectRef`, resolved.
    pub bound: Option<BoundObject>,
    /// For a pod binding: the pod's node `(name, uid)` (uid empty if the Node is missing).
    pub node_for_pod: Option<(String, String)>,
}

impl BoundRequest {
    /// A request for an unbound token with the API audiences.
    pub fn new(namespace: &str, sa_name: &str, sa_uid: &str, expiration_seconds: i64) -> Self {
        Self {
            namespace: namespace.to_owned(),
            sa_name: sa_name.to_owned(),
            sa_uid: sa_uid.to_owned(),
            audiences: Vec::new(),
            expiration_seconds,
            bound: None,
            node_for_pod: None,
        }
    }
}

/// Refuses lifetimes TokenRequest refuses, with its wording (a 422 on
/// `spec.expirationSeconds`).
pub fn validate_expiration(seconds: i64) -> Result<(), TokenError> {
    if seconds < MIN_EXPIRATION_SECONDS {
        return Err(TokenError::InvalidExpiration {
            seconds,
            message: "may not specify a duration less than 10 minutes",
        });
    }
    if seconds > MAX_EXPIRATION_SECONDS {
        return Err(TokenError::InvalidExpiration {
            seconds,
            message: "may not specify a duration larger than 2^32 seconds",
        });
    }
    Ok(())
}

/// Who signs bound tokens and which audiences the API server answers to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issuer {
    /// The `iss` of bound tokens and of the discovery document.
    pub issuer: String,
    /// The audiences a token must name one of to be accepted by the API (`--api-audiences`);
    /// also the audiences of tokens requested without any.
    pub api_audiences: Vec<String>,
}

impl Default for Issuer {
    fn default() -> Self {
        Self::new(DEFAULT_ISSUER)
    }
}

impl Issuer {
    /// An issuer whose API audience is the issuer itself, as Kubernetes defaults it.
    pub fn new(issuer: impl Into<String>) -> Self {
        let issuer = issuer.into();
        Self {
            api_audiences: vec![issuer.clone()],
            issuer,
        }
    }

    /// Signs a bound token; returns it with its `exp` (Unix seconds) for
    /// `status.expirationTimestamp`.
    pub fn issue_bound(
        &self,
        keys: &TokenKeys,
        req: BoundRequest,
        now: SystemTime,
    ) -> Result<(String, i64), TokenError> {
        validate_expiration(req.expiration_seconds)?;
        if req.namespace.is_empty() || req.sa_name.is_empty() {
            return Err(TokenError::InvalidRequest(
                "service account namespace and name are required",
            ));
        }
        let mut kubernetes = KubernetesClaim {
            namespace: req.namespace.clone(),
            serviceaccount: Ref::new(&req.sa_name, &req.sa_uid),
            ..Default::default()
        };
        if let Some(bound) = &req.bound {
            let r = Some(Ref::new(&bound.name, &bound.uid));
            match bound.kind {
                BoundKind::Pod => kubernetes.pod = r,
                BoundKind::Secret => kubernetes.secret = r,
                BoundKind::Node => kubernetes.node = r,
            }
        }
        if let Some((name, uid)) = &req.node_for_pod {
            if kubernetes.pod.is_none() {
                return Err(TokenError::InvalidRequest(
                    "node information accompanies only a pod binding",
                ));
            }
            kubernetes.node = Some(Ref::new(name, uid));
        }
        let audiences = if req.audiences.is_empty() {
            &self.api_audiences
        } else {
            &req.audiences
        };
        let iat = unix_seconds(now);
        let exp = iat + req.expiration_seconds;
        let claims = BoundClaims {
            aud: audiences,
            exp,
            iat,
            iss: &self.issuer,
            jti: uuid::Uuid::new_v4().to_string(),
            kubernetes,
            nbf: iat,
            sub: username(&req.namespace, &req.sa_name),
        };
        Ok((sign(keys, &claims)?, exp))
    }

    /// Signs a legacy token for the token Secret `secret_name` of an account. It never
    /// expires: it is valid while that Secret holds it.
    pub fn issue_legacy(
        &self,
        keys: &TokenKeys,
        namespace: &str,
        sa_name: &str,
        sa_uid: &str,
        secret_name: &str,
    ) -> Result<String, TokenError> {
        let claims = LegacyClaims {
            iss: LEGACY_ISSUER,
            namespace,
            secret_name,
            sa_name,
            sa_uid,
            sub: username(namespace, sa_name),
        };
        sign(keys, &claims)
    }

    /// Verifies a token for the API server itself (target audiences: the API audiences).
    pub fn verify(
        &self,
        keys: &TokenKeys,
        token: &str,
        now: SystemTime,
    ) -> Result<VerifiedToken, TokenError> {
        self.verify_for_audiences(keys, token, &[], now)
    }

    /// Verifies a token for `audiences` (TokenReview `spec.audiences`; empty means the API
    /// audiences). Checks, in order: three base64url parts; a JSON header; `alg` ES256; a
    /// known `kid` (no `kid`: every key is tried); the signature; the issuer (ours for bound
    /// tokens, `kubernetes/serviceaccount` for legacy ones); audiences intersect (a token
    /// without `aud` counts as having the API audiences); `nbf`, `exp`, `iat` within
    /// [`LEEWAY_SECONDS`]; the claims that kind of token must carry.
    pub fn verify_for_audiences(
        &self,
        keys: &TokenKeys,
        token: &str,
        audiences: &[String],
        now: SystemTime,
    ) -> Result<VerifiedToken, TokenError> {
        let mut parts = token.split('.');
        let (Some(header_b64), Some(payload_b64), Some(signature_b64), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::Malformed("not three dot-separated parts"));
        };
        let header = URL_SAFE_NO_PAD
            .decode(header_b64)
            .map_err(|_| TokenError::Malformed("header is not base64url"))?;
        let header: RawHeader = serde_json::from_slice(&header)
            .map_err(|_| TokenError::Malformed("header is not a JSON object with alg"))?;
        if header.alg != ALGORITHM {
            return Err(TokenError::UnsupportedAlgorithm(header.alg));
        }
        if header.crit.is_some() {
            return Err(TokenError::Malformed("unsupported critical header"));
        }
        let candidates = keys.candidates(header.kid.as_deref());
        if candidates.is_empty() {
            return Err(TokenError::UnknownKey(header.kid.unwrap_or_default()));
        }
        let payload = URL_SAFE_NO_PAD
            .decode(payload_b64)
            .map_err(|_| TokenError::Malformed("payload is not base64url"))?;
        let signature = URL_SAFE_NO_PAD
            .decode(signature_b64)
            .map_err(|_| TokenError::Malformed("signature is not base64url"))?;
        if signature.len() != 64 {
            return Err(TokenError::BadSignature);
        }
        let signed = &token.as_bytes()[..header_b64.len() + 1 + payload_b64.len()];
        let valid = candidates.iter().any(|key| {
            jsonwebtoken::crypto::verify(signature_b64, signed, &key.decoding, Algorithm::ES256)
                .unwrap_or(false)
        });
        if !valid {
            return Err(TokenError::BadSignature);
        }

        let claims: AnyClaims = serde_json::from_slice(&payload)
            .map_err(|_| TokenError::Malformed("payload is not a JSON object of claims"))?;
        let iss = claims.iss.clone().unwrap_or_default();
        let legacy = if iss == self.issuer {
            false
        } else if iss == LEGACY_ISSUER {
            true
        } else {
            return Err(TokenError::WrongIssuer(iss));
        };

        let target: &[String] = if audiences.is_empty() {
            &self.api_audiences
        } else {
            audiences
        };
        let token_audiences = match claims.aud.clone().map(claims::Audience::into_vec) {
            Some(auds) if !auds.is_empty() => auds,
            _ => self.api_audiences.clone(),
        };
        let matched: Vec<String> = target
            .iter()
            .filter(|t| token_audiences.contains(t))
            .cloned()
            .collect();
        if matched.is_empty() {
            return Err(TokenError::WrongAudience {
                token: token_audiences,
                target: target.to_vec(),
            });
        }

        check_times(&claims, now)?;

        let mut verified = if legacy {
            legacy_shape(claims)?
        } else {
            bound_shape(claims)?
        };
        verified.audiences = matched;
        Ok(verified)
    }
}

/// The parts of a JWS header a verifier looks at.
#[derive(Deserialize)]
struct RawHeader {
    alg: String,
    #[serde(default)]
    kid: Option<String>,
    /// Extensions the verifier would have to understand; kapi understands none.
    #[serde(default)]
    crit: Option<Value>,
}

fn sign<T: serde::Serialize>(keys: &TokenKeys, claims: &T) -> Result<String, TokenError> {
    // Kubernetes' header is exactly {"alg","kid"}: no "typ".
    let mut header = Header::new(Algorithm::ES256);
    header.typ = None;
    header.kid = Some(keys.kid().to_owned());
    jsonwebtoken::encode(&header, claims, keys.signing_key())
        .map_err(|e| TokenError::Signing(e.to_string()))
}

fn unix_millis(t: SystemTime) -> i128 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_millis() as i128,
        Err(e) => -(e.duration().as_millis() as i128),
    }
}

fn unix_seconds(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX),
    }
}

/// `nbf`, then `exp`, then `iat`, each with the leeway; absent claims are not checked (legacy
/// tokens have none).
fn check_times(claims: &AnyClaims, now: SystemTime) -> Result<(), TokenError> {
    let now = unix_millis(now);
    let leeway = i128::from(LEEWAY_SECONDS) * 1000;
    if claims.nbf.is_some_and(|nbf| now + leeway < nbf.millis()) {
        return Err(TokenError::NotYetValid);
    }
    if claims.exp.is_some_and(|exp| now - leeway > exp.millis()) {
        return Err(TokenError::Expired);
    }
    if claims.iat.is_some_and(|iat| now + leeway < iat.millis()) {
        return Err(TokenError::IssuedInFuture);
    }
    Ok(())
}

fn non_empty(value: Option<String>, claim: &'static str) -> Result<String, TokenError> {
    value
        .filter(|v| !v.is_empty())
        .ok_or(TokenError::MissingClaim(claim))
}

fn check_subject(sub: &str, namespace: &str, name: &str) -> Result<(), TokenError> {
    match split_username(sub) {
        Some((ns, n)) if ns == namespace && n == name => Ok(()),
        _ => Err(TokenError::InvalidSubject),
    }
}

/// A legacy token must carry all four `kubernetes.io/serviceaccount/*` claims and a matching
/// `sub`.
fn legacy_shape(claims: AnyClaims) -> Result<VerifiedToken, TokenError> {
    let sub = non_empty(claims.sub, "sub")?;
    let namespace = non_empty(claims.legacy_namespace, "namespace")?;
    let secret_name = non_empty(claims.legacy_secret_name, "secretName")?;
    let sa_name = non_empty(claims.legacy_sa_name, "serviceAccountName")?;
    let sa_uid = non_empty(claims.legacy_sa_uid, "serviceAccountUID")?;
    check_subject(&sub, &namespace, &sa_name)?;
    Ok(VerifiedToken {
        kind: TokenKind::Legacy { secret_name },
        namespace,
        sa_name,
        sa_uid,
        expires: claims.exp.map(claims::NumericDate::seconds),
        audiences: Vec::new(),
    })
}

/// A bound token must carry the `kubernetes.io` claim naming its account, a matching `sub`,
/// and at most one bound object (a pod may come with its node).
fn bound_shape(claims: AnyClaims) -> Result<VerifiedToken, TokenError> {
    let k = claims
        .kubernetes
        .ok_or(TokenError::MissingClaim("kubernetes.io"))?;
    let namespace = non_empty(Some(k.namespace), "namespace")?;
    let sa_name = non_empty(Some(k.serviceaccount.name), "serviceaccount name")?;
    let sa_uid = non_empty(Some(k.serviceaccount.uid), "serviceaccount uid")?;
    let sub = non_empty(claims.sub, "sub")?;
    check_subject(&sub, &namespace, &sa_name)?;
    if k.secret.is_some() && (k.pod.is_some() || k.node.is_some()) {
        return Err(TokenError::Malformed("token bound to more than one object"));
    }
    for r in [&k.pod, &k.secret].into_iter().flatten() {
        if r.name.is_empty() {
            return Err(TokenError::MissingClaim("bound object name"));
        }
    }
    Ok(VerifiedToken {
        kind: TokenKind::Bound {
            jti: claims.jti.filter(|j| !j.is_empty()),
            bound_pod: k.pod.as_ref().map(Ref::pair),
            bound_secret: k.secret.as_ref().map(Ref::pair),
            bound_node: k
                .node
                .as_ref()
                .filter(|n| !n.name.is_empty())
                .map(Ref::pair),
        },
        namespace,
        sa_name,
        sa_uid,
        expires: claims.exp.map(claims::NumericDate::seconds),
        audiences: Vec::new(),
    })
}

/// Which kind of token was verified, with what it is bound to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenKind {
    /// A Secret-based token: valid while Secret `secret_name` exists, is not being deleted,
    /// and its `data.token` equals the presented token.
    Legacy {
        /// The Secret that holds the token.
        secret_name: String,
    },
    /// A TokenRequest token: valid while the account and the bound object (same UIDs) exist.
    Bound {
        /// The token's id (audit `credential-id`).
        jti: Option<String>,
        /// `(name, uid)` of the Pod it is bound to.
        bound_pod: Option<(String, String)>,
        /// `(name, uid)` of the Secret it is bound to.
        bound_secret: Option<(String, String)>,
        /// `(name, uid)` of a Node: with `bound_pod`, the pod's node (informational, uid may be
        /// empty); without, the Node the token is bound to (look it up).
        bound_node: Option<(String, String)>,
    },
}

/// A token whose signature, issuer, audience and times checked out; storage lookups remain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedToken {
    /// Legacy or bound, and the bindings.
    pub kind: TokenKind,
    /// The account's namespace.
    pub namespace: String,
    /// The account's name.
    pub sa_name: String,
    /// The account's UID as signed; must equal the stored account's UID.
    pub sa_uid: String,
    /// `exp` in Unix seconds; `None` for legacy tokens.
    pub expires: Option<i64>,
    /// The target audiences the token was accepted for (TokenReview `status.audiences`).
    pub audiences: Vec<String>,
}

impl VerifiedToken {
    /// `system:serviceaccount:NS:NAME`.
    pub fn username(&self) -> String {
        username(&self.namespace, &self.sa_name)
    }

    /// The request's user once the lookups passed: the account's name and UID, the groups
    /// `system:serviceaccounts`, `system:serviceaccounts:NS`, `system:authenticated`, and as
    /// extra the bound pod (when name and UID are known), node, and `JTI=<jti>`.
    pub fn user_info(&self) -> UserInfo {
        let mut extra = BTreeMap::new();
        if let TokenKind::Bound {
            jti,
            bound_pod,
            bound_node,
            ..
        } = &self.kind
        {
            if let Some((name, uid)) = bound_pod {
                if !name.is_empty() && !uid.is_empty() {
                    extra.insert(EXTRA_POD_NAME.to_owned(), vec![name.clone()]);
                    extra.insert(EXTRA_POD_UID.to_owned(), vec![uid.clone()]);
                }
            }
            if let Some(jti) = jti {
                extra.insert(EXTRA_CREDENTIAL_ID.to_owned(), vec![format!("JTI={jti}")]);
            }
            if let Some((name, uid)) = bound_node {
                if !name.is_empty() {
                    extra.insert(EXTRA_NODE_NAME.to_owned(), vec![name.clone()]);
                    if !uid.is_empty() {
                        extra.insert(EXTRA_NODE_UID.to_owned(), vec![uid.clone()]);
                    }
                }
            }
        }
        UserInfo {
            name: self.username(),
            uid: self.sa_uid.clone(),
            groups: vec![
                ALL_SERVICE_ACCOUNTS_GROUP.to_owned(),
                format!("{NAMESPACE_GROUP_PREFIX}{}", self.namespace),
                AUTHENTICATED_GROUP.to_owned(),
            ],
            extra,
        }
    }
}

/// The issuer discovery document served at `/.well-known/openid-configuration`.
pub fn openid_configuration(issuer: &str, jwks_uri: &str) -> Value {
    json!({
        "issuer": issuer,
        "jwks_uri": jwks_uri,
        "response_types_supported": ["id_token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": [ALGORITHM],
    })
}
