//! The JSON shape of service-account token claims, as Kubernetes writes and reads them.

use serde::{Deserialize, Serialize};

/// A `{name, uid}` reference inside the `kubernetes.io` claim; empty fields are left out, as
/// Kubernetes does (a pod's node may be known by name only).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Ref {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub uid: String,
}

impl Ref {
    pub fn new(name: &str, uid: &str) -> Self {
        Self {
            name: name.to_owned(),
            uid: uid.to_owned(),
        }
    }

    pub fn pair(&self) -> (String, String) {
        (self.name.clone(), self.uid.clone())
    }
}

/// The private `kubernetes.io` claim of a bound token.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct KubernetesClaim {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    #[serde(default)]
    pub serviceaccount: Ref,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod: Option<Ref>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<Ref>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<Ref>,
    /// Only on extended tokens; read so such tokens parse, never written by kapi.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warnafter: Option<NumericDate>,
}

/// The claims of a bound (TokenRequest) token, in the order Kubernetes emits them.
#[derive(Debug, Serialize)]
pub(crate) struct BoundClaims<'a> {
    pub aud: &'a [String],
    pub exp: i64,
    pub iat: i64,
    pub iss: &'a str,
    pub jti: String,
    #[serde(rename = "kubernetes.io")]
    pub kubernetes: KubernetesClaim,
    pub nbf: i64,
    pub sub: String,
}

/// The claims of a legacy (Secret) token: no expiry, no audience, no id.
#[derive(Debug, Serialize)]
pub(crate) struct LegacyClaims<'a> {
    pub iss: &'a str,
    #[serde(rename = "kubernetes.io/serviceaccount/namespace")]
    pub namespace: &'a str,
    #[serde(rename = "kubernetes.io/serviceaccount/secret.name")]
    pub secret_name: &'a str,
    #[serde(rename = "kubernetes.io/serviceaccount/service-account.name")]
    pub sa_name: &'a str,
    #[serde(rename = "kubernetes.io/serviceaccount/service-account.uid")]
    pub sa_uid: &'a str,
    pub sub: String,
}

/// A JWT NumericDate: seconds since the epoch, possibly fractional on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub(crate) struct NumericDate(pub f64);

impl NumericDate {
    /// Whole seconds, truncated like Go's `NumericDate`; absurd values saturate.
    pub fn seconds(self) -> i64 {
        self.0 as i64
    }

    /// Milliseconds, for comparisons at the precision the clock has.
    pub fn millis(self) -> i128 {
        (self.0 * 1000.0) as i128
    }
}

/// `aud` is a string or an array of strings (RFC 7519 §4.1.3).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub(crate) enum Audience {
    One(String),
    Many(Vec<String>),
}

impl Audience {
    pub fn into_vec(self) -> Vec<String> {
        match self {
            Audience::One(a) => vec![a],
            Audience::Many(v) => v,
        }
    }
}

/// Everything a verifier reads from either kind of token; which fields must be present is
/// decided by the issuer the token names.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct AnyClaims {
    #[serde(default)]
    pub iss: Option<String>,
    #[serde(default)]
    pub sub: Option<String>,
    #[serde(default)]
    pub aud: Option<Audience>,
    #[serde(default)]
    pub exp: Option<NumericDate>,
    #[serde(default)]
    pub nbf: Option<NumericDate>,
    #[serde(default)]
    pub iat: Option<NumericDate>,
    #[serde(default)]
    pub jti: Option<String>,
    #[serde(default, rename = "kubernetes.io")]
    pub kubernetes: Option<KubernetesClaim>,
    #[serde(default, rename = "kubernetes.io/serviceaccount/namespace")]
    pub legacy_namespace: Option<String>,
    #[serde(default, rename = "kubernetes.io/serviceaccount/secret.name")]
    pub legacy_secret_name: Option<String>,
    #[serde(default, rename = "kubernetes.io/serviceaccount/service-account.name")]
    pub legacy_sa_name: Option<String>,
    #[serde(default, rename = "kubernetes.io/serviceaccount/service-account.uid")]
    pub legacy_sa_uid: Option<String>,
}
