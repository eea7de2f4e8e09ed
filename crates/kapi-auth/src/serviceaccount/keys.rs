//! The service-account signing key and the public keys that verify tokens.
//!
//! Files in the data dir:
//! - `sa.key`: the ECDSA P-256 signing key, PKCS#8 PEM, mode 0600, created on first start;
//! - `sa.pub`: its public key (PEM `PUBLIC KEY`), rewritten at every start for outside verifiers;
//! - `sa.pub.d/*.pub`: more public keys (one or several PEM blocks per file) whose tokens are
//!   still accepted. Rotation: move `sa.pub` into `sa.pub.d/`, delete `sa.key`, restart; tokens
//!   signed by the old key verify until their file is removed.

use std::fmt;
use std::fs;
use std::io::Write;
use std::path::Path;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};
use serde_json::{json, Value};

use super::TokenError;

/// The DER prefix of a SubjectPublicKeyInfo holding an uncompressed P-256 point: SEQUENCE {
/// SEQUENCE { id-ecPublicKey, prime256v1 }, BIT STRING (65 bytes) }. DER is canonical, so every
/// such key starts with exactly these bytes.
const P256_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

/// Length of an uncompressed P-256 point: `0x04 || x || y`.
const P256_POINT_LEN: usize = 65;

/// The signing key file in the data dir.
pub const SIGNING_KEY_FILE: &str = "sa.key";
/// The public half of the signing key, for outside verifiers.
pub const PUBLIC_KEY_FILE: &str = "sa.pub";
/// The folder of extra public keys that still verify (rotation).
pub const EXTRA_KEYS_DIR: &str = "sa.pub.d";

/// A public key that verifies tokens.
#[derive(Clone)]
pub(crate) struct VerifyingKey {
    /// base64url(SHA-256(SubjectPublicKeyInfo DER)), unpadded: the JWS header's `kid`.
    pub(crate) kid: String,
    /// The uncompressed point `0x04 || x || y`.
    point: Vec<u8>,
    /// The same point, as jsonwebtoken wants it.
    pub(crate) decoding: DecodingKey,
}

impl VerifyingKey {
    fn from_point(point: &[u8]) -> Result<Self, String> {
        if point.len() != P256_POINT_LEN || point[0] != 0x04 {
            return Err("not an uncompressed P-256 point".into());
        }
        let spki = [&P256_SPKI_PREFIX[..], point].concat();
        Ok(Self {
            kid: key_id(&spki),
            point: point.to_vec(),
            decoding: DecodingKey::from_ec_der(point),
        })
    }

    fn from_spki(der: &[u8]) -> Result<Self, String> {
        match der.strip_prefix(&P256_SPKI_PREFIX[..]) {
            Some(point) => Self::from_point(point),
            None => Err("not an ECDSA P-256 public key (only ES256 is supported)".into()),
        }
    }

    fn spki_der(&self) -> Vec<u8> {
        [&P256_SPKI_PREFIX[..], &self.point].concat()
    }

    fn jwk(&self) -> Value {
        let (x, y) = self.point[1..].split_at(32);
        json!({
            "use": "sig",
            "kty": "EC",
            "kid": self.kid,
            "crv": "P-256",
            "alg": "ES256",
            "x": URL_SAFE_NO_PAD.encode(x),
            "y": URL_SAFE_NO_PAD.encode(y),
        })
    }
}

/// The key id Kubernetes gives a public key: unpadded base64url of the SHA-256 of its PKIX
/// (SubjectPublicKeyInfo) DER, so verifiers can pick the key without trying all.
pub fn key_id(spki_der: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(ring::digest::digest(&ring::digest::SHA256, spki_der))
}

/// The service-account signing key plus every public key whose tokens are still accepted.
#[derive(Clone)]
pub struct TokenKeys {
    /// PKCS#8 DER of the signing key, as jsonwebtoken (ring) wants it.
    signing: EncodingKey,
    /// The signing key's public half first, then the extra keys; no two share a kid.
    verifying: Vec<VerifyingKey>,
}

impl fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print key material.
        f.debug_struct("TokenKeys")
            .field(
                "kids",
                &self.verifying.iter().map(|k| &k.kid).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl TokenKeys {
    /// Loads `DIR/sa.key` (creating it, 0600, on first start), rewrites `DIR/sa.pub`, and adds
    /// the public keys in `DIR/sa.pub.d/*.pub`. A restart reuses the key, so tokens survive it.
    pub fn load_or_create(dir: &Path) -> Result<Self, TokenError> {
        fs::create_dir_all(dir).map_err(io_err(dir))?;
        let key_path = dir.join(SIGNING_KEY_FILE);
        let pair = match fs::read_to_string(&key_path) {
            Ok(pem) => rcgen::KeyPair::from_pem(&pem).map_err(|e| TokenError::Key {
                path: key_path.clone(),
                reason: e.to_string(),
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let pair = rcgen::KeyPair::generate().map_err(|e| TokenError::Key {
                    path: key_path.clone(),
                    reason: e.to_string(),
                })?;
                write_file(&key_path, &pair.serialize_pem(), 0o600)?;
                pair
            }
            Err(e) => return Err(io_err(&key_path)(e)),
        };
        let mut keys = Self::from_key_pair(&pair).map_err(|reason| TokenError::Key {
            path: key_path.clone(),
            reason,
        })?;
        let public = keys.verifying[0].clone();
        write_file(
            &dir.join(PUBLIC_KEY_FILE),
            &public_pem(&public.spki_der()),
            0o644,
        )?;
        let extra_dir = dir.join(EXTRA_KEYS_DIR);
        let entries = match fs::read_dir(&extra_dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(keys),
            Err(e) => return Err(io_err(&extra_dir)(e)),
        };
        let mut paths = Vec::new();
        for entry in entries {
            let path = entry.map_err(io_err(&extra_dir))?.path();
            if path.extension().is_some_and(|ext| ext == "pub") {
                paths.push(path);
            }
        }
        paths.sort();
        for path in paths {
            let bytes = fs::read(&path).map_err(io_err(&path))?;
            let found = public_keys_from_pem(&bytes).map_err(|reason| TokenError::Key {
                path: path.clone(),
                reason,
            })?;
            for key in found {
                keys.add_verifying(key);
            }
        }
        Ok(keys)
    }

    /// A fresh key kept only in memory: for tests and throwaway servers.
    pub fn generate() -> Result<Self, TokenError> {
        let pair = rcgen::KeyPair::generate().map_err(|e| TokenError::Key {
            path: Default::default(),
            reason: e.to_string(),
        })?;
        Self::from_key_pair(&pair).map_err(|reason| TokenError::Key {
            path: Default::default(),
            reason,
        })
    }

    fn from_key_pair(pair: &rcgen::KeyPair) -> Result<Self, String> {
        if pair.algorithm() != &rcgen::PKCS_ECDSA_P256_SHA256 {
            return Err("the service-account key must be ECDSA P-256 (ES256)".into());
        }
        let signing = EncodingKey::from_ec_der(&pair.serialize_der());
        // Prove now that ring accepts the key, so that signing later cannot fail on it.
        jsonwebtoken::crypto::sign(b"probe", &signing, Algorithm::ES256)
            .map_err(|e| format!("unusable signing key: {e}"))?;
        let public = VerifyingKey::from_point(pair.public_key_raw())?;
        Ok(Self {
            signing,
            verifying: vec![public],
        })
    }

    /// Trusts one more public key (a previous signing key, say); a key already known is ignored.
    pub fn add_public_key_pem(&mut self, pem: &[u8]) -> Result<(), TokenError> {
        let found = public_keys_from_pem(pem).map_err(|reason| TokenError::Key {
            path: Default::default(),
            reason,
        })?;
        for key in found {
            self.add_verifying(key);
        }
        Ok(())
    }

    fn add_verifying(&mut self, key: VerifyingKey) {
        if !self.verifying.iter().any(|k| k.kid == key.kid) {
            self.verifying.push(key);
        }
    }

    /// The `kid` put in the header of every token signed now.
    pub fn kid(&self) -> &str {
        &self.verifying[0].kid
    }

    /// The public half of the signing key as PEM, as written to `sa.pub`.
    pub fn public_key_pem(&self) -> String {
        public_pem(&self.verifying[0].spki_der())
    }

    pub(crate) fn signing_key(&self) -> &EncodingKey {
        &self.signing
    }

    /// The keys to try for a token whose header names `kid` (all of them when it names none).
    pub(crate) fn candidates(&self, kid: Option<&str>) -> Vec<&VerifyingKey> {
        match kid {
            Some(kid) => self.verifying.iter().filter(|k| k.kid == kid).collect(),
            None => self.verifying.iter().collect(),
        }
    }

    /// The JWK set served at `/openid/v1/jwks`: every key whose tokens are accepted.
    pub fn jwks(&self) -> Value {
        json!({ "keys": self.verifying.iter().map(VerifyingKey::jwk).collect::<Vec<_>>() })
    }
}

/// Every `PUBLIC KEY` block in a PEM file; anything but P-256 is refused rather than skipped,
/// so a misconfigured rotation fails at start instead of at the first token.
fn public_keys_from_pem(bytes: &[u8]) -> Result<Vec<VerifyingKey>, String> {
    let mut keys = Vec::new();
    for pem in x509_parser::pem::Pem::iter_from_buffer(bytes) {
        let pem = pem.map_err(|e| format!("bad PEM: {e}"))?;
        if pem.label != "PUBLIC KEY" {
            return Err(format!("expected PUBLIC KEY blocks, found {}", pem.label));
        }
        keys.push(VerifyingKey::from_spki(&pem.contents)?);
    }
    if keys.is_empty() {
        return Err("no PEM PUBLIC KEY block".into());
    }
    Ok(keys)
}

fn public_pem(der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let mut out = String::from("-----BEGIN PUBLIC KEY-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str("-----END PUBLIC KEY-----\n");
    out
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> TokenError + '_ {
    move |source| TokenError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Writes through a temporary file created with `mode`, so a key is never readable by others,
/// not even for an instant, and a crash never leaves half a key.
fn write_file(path: &Path, contents: &str, mode: u32) -> Result<(), TokenError> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = std::path::PathBuf::from(tmp);
    // A leftover from a crash may carry other permissions: start from a file we create.
    match fs::remove_file(&tmp) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_err(&tmp)(e)),
    }
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&tmp)
        .map_err(io_err(&tmp))?;
    f.write_all(contents.as_bytes()).map_err(io_err(&tmp))?;
    f.sync_all().map_err(io_err(&tmp))?;
    fs::rename(&tmp, path).map_err(io_err(path))
}
