//! One test per guarantee: what verifies, and one rejection per reason.

use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header};
use serde_json::{json, Value};

use super::*;

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

const NOW: u64 = 1_750_000_000;

fn keys() -> TokenKeys {
    TokenKeys::generate().expect("generate key")
}

fn pod_request() -> BoundRequest {
    BoundRequest {
        namespace: "ns1".into(),
        sa_name: "app".into(),
        sa_uid: "sa-uid".into(),
        audiences: vec![],
        expiration_seconds: DEFAULT_EXPIRATION_SECONDS,
        bound: Some(BoundObject {
            kind: BoundKind::Pod,
            name: "web-0".into(),
            uid: "pod-uid".into(),
        }),
        node_for_pod: Some(("node-a".into(), "node-uid".into())),
    }
}

fn bound_token(issuer: &Issuer, keys: &TokenKeys) -> String {
    issuer
        .issue_bound(keys, pod_request(), at(NOW))
        .expect("issue")
        .0
}

fn decode_part(part: &str) -> Value {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).expect("b64")).expect("json")
}

fn parts(token: &str) -> Vec<String> {
    token.split('.').map(str::to_owned).collect()
}

/// Signs arbitrary header and claims with `keys`' signing key, to build tokens kapi would
/// never issue.
fn sign_raw(keys: &TokenKeys, header: &Value, claims: &Value) -> String {
    let h = URL_SAFE_NO_PAD.encode(header.to_string());
    let p = URL_SAFE_NO_PAD.encode(claims.to_string());
    let message = format!("{h}.{p}");
    let sig = jsonwebtoken::crypto::sign(message.as_bytes(), keys.signing_key(), Algorithm::ES256)
        .expect("sign");
    format!("{message}.{sig}")
}

fn es256_header(keys: &TokenKeys) -> Value {
    json!({"alg": "ES256", "kid": keys.kid()})
}

fn bound_claims(issuer: &str) -> Value {
    json!({
        "aud": [issuer],
        "exp": NOW + 3600,
        "iat": NOW,
        "iss": issuer,
        "jti": "j-1",
        "kubernetes.io": {"namespace": "ns1", "serviceaccount": {"name": "app", "uid": "sa-uid"}},
        "nbf": NOW,
        "sub": "system:serviceaccount:ns1:app",
    })
}

#[test]
fn bound_token_verifies_with_kubernetes_claims() {
    let keys = keys();
    let issuer = Issuer::default();
    let (token, exp) = issuer.issue_bound(&keys, pod_request(), at(NOW)).unwrap();
    assert_eq!(exp, NOW as i64 + 3600);

    let p = parts(&token);
    assert_eq!(
        decode_part(&p[0]),
        json!({"alg": "ES256", "kid": keys.kid()})
    );
    let claims = decode_part(&p[1]);
    assert_eq!(claims["iss"], DEFAULT_ISSUER);
    assert_eq!(claims["sub"], "system:serviceaccount:ns1:app");
    assert_eq!(claims["aud"], json!([DEFAULT_ISSUER]));
    assert_eq!(claims["iat"], json!(NOW));
    assert_eq!(claims["nbf"], json!(NOW));
    assert_eq!(claims["exp"], json!(NOW + 3600));
    let jti = claims["jti"].as_str().unwrap();
    assert_eq!(uuid::Uuid::parse_str(jti).unwrap().get_version_num(), 4);
    assert_eq!(
        claims["kubernetes.io"],
        json!({
            "namespace": "ns1",
            "serviceaccount": {"name": "app", "uid": "sa-uid"},
            "pod": {"name": "web-0", "uid": "pod-uid"},
            "node": {"name": "node-a", "uid": "node-uid"},
        })
    );

    let v = issuer.verify(&keys, &token, at(NOW + 10)).unwrap();
    assert_eq!(
        v.kind,
        TokenKind::Bound {
            jti: Some(jti.to_owned()),
            bound_pod: Some(("web-0".into(), "pod-uid".into())),
            bound_secret: None,
            bound_node: Some(("node-a".into(), "node-uid".into())),
        }
    );
    assert_eq!((v.namespace.as_str(), v.sa_name.as_str()), ("ns1", "app"));
    assert_eq!(v.sa_uid, "sa-uid");
    assert_eq!(v.expires, Some(exp));
    assert_eq!(v.audiences, vec![DEFAULT_ISSUER.to_owned()]);

    let user = v.user_info();
    assert_eq!(user.name, "system:serviceaccount:ns1:app");
    assert_eq!(user.uid, "sa-uid");
    assert_eq!(
        user.groups,
        [
            "system:serviceaccounts",
            "system:serviceaccounts:ns1",
            "system:authenticated"
        ]
    );
    let extra = |k: &str| user.extra.get(k).cloned();
    assert_eq!(extra(EXTRA_POD_NAME), Some(vec!["web-0".into()]));
    assert_eq!(extra(EXTRA_POD_UID), Some(vec!["pod-uid".into()]));
    assert_eq!(extra(EXTRA_NODE_NAME), Some(vec!["node-a".into()]));
    assert_eq!(extra(EXTRA_NODE_UID), Some(vec!["node-uid".into()]));
    assert_eq!(extra(EXTRA_CREDENTIAL_ID), Some(vec![format!("JTI={jti}")]));
    assert_eq!(user.extra.len(), 5);
}

#[test]
fn requested_audiences_and_secret_binding_are_signed() {
    let keys = keys();
    let issuer = Issuer::default();
    let mut req = BoundRequest::new("ns1", "app", "sa-uid", 600);
    req.audiences = vec!["vault".into(), DEFAULT_ISSUER.into()];
    req.bound = Some(BoundObject {
        kind: BoundKind::Secret,
        name: "s".into(),
        uid: "s-uid".into(),
    });
    let (token, _) = issuer.issue_bound(&keys, req, at(NOW)).unwrap();
    let v = issuer.verify(&keys, &token, at(NOW)).unwrap();
    assert_eq!(v.audiences, vec![DEFAULT_ISSUER.to_owned()]);
    let TokenKind::Bound {
        bound_secret,
        bound_pod,
        bound_node,
        ..
    } = &v.kind
    else {
        panic!("not bound: {v:?}");
    };
    assert_eq!(bound_secret, &Some(("s".into(), "s-uid".into())));
    assert_eq!((bound_pod, bound_node), (&None, &None));
    // No pod, no node: only the credential id is extra.
    assert_eq!(
        v.user_info().extra.keys().collect::<Vec<_>>(),
        [EXTRA_CREDENTIAL_ID]
    );
}

#[test]
fn node_binding_and_pod_node_checks() {
    let keys = keys();
    let issuer = Issuer::default();
    let mut req = BoundRequest::new("ns1", "app", "sa-uid", 3600);
    req.bound = Some(BoundObject {
        kind: BoundKind::Node,
        name: "n".into(),
        uid: "n-uid".into(),
    });
    let (token, _) = issuer.issue_bound(&keys, req.clone(), at(NOW)).unwrap();
    let v = issuer.verify(&keys, &token, at(NOW)).unwrap();
    let user = v.user_info();
    assert_eq!(user.extra.get(EXTRA_NODE_NAME), Some(&vec!["n".to_owned()]));
    assert!(!user.extra.contains_key(EXTRA_POD_NAME));

    req.node_for_pod = Some(("n".into(), String::new()));
    assert!(matches!(
        issuer.issue_bound(&keys, req, at(NOW)),
        Err(TokenError::InvalidRequest(_))
    ));

    // A pod's node known by name only: node-uid is left out.
    let mut req = pod_request();
    req.node_for_pod = Some(("node-a".into(), String::new()));
    let (token, _) = issuer.issue_bound(&keys, req, at(NOW)).unwrap();
    assert_eq!(
        decode_part(&parts(&token)[1])["kubernetes.io"]["node"],
        json!({"name": "node-a"})
    );
    let user = issuer.verify(&keys, &token, at(NOW)).unwrap().user_info();
    assert!(user.extra.contains_key(EXTRA_NODE_NAME));
    assert!(!user.extra.contains_key(EXTRA_NODE_UID));
}

#[test]
fn rejects_flipped_signature_byte() {
    let keys = keys();
    let issuer = Issuer::default();
    let p = parts(&bound_token(&issuer, &keys));
    let mut sig = URL_SAFE_NO_PAD.decode(&p[2]).unwrap();
    for i in [0, 31, 32, 63] {
        sig[i] ^= 0x01;
        let token = format!("{}.{}.{}", p[0], p[1], URL_SAFE_NO_PAD.encode(&sig));
        assert!(
            matches!(
                issuer.verify(&keys, &token, at(NOW)),
                Err(TokenError::BadSignature)
            ),
            "byte {i}"
        );
        sig[i] ^= 0x01;
    }
    // A signature of the wrong length is no signature either.
    let token = format!("{}.{}.{}", p[0], p[1], URL_SAFE_NO_PAD.encode(&sig[..63]));
    assert!(matches!(
        issuer.verify(&keys, &token, at(NOW)),
        Err(TokenError::BadSignature)
    ));
}

#[test]
fn rejects_payload_tampered_after_signing() {
    let keys = keys();
    let issuer = Issuer::default();
    let p = parts(&bound_token(&issuer, &keys));
    let mut claims = decode_part(&p[1]);
    claims["kubernetes.io"]["serviceaccount"]["name"] = json!("admin");
    claims["sub"] = json!("system:serviceaccount:ns1:admin");
    let forged = URL_SAFE_NO_PAD.encode(claims.to_string());
    let token = format!("{}.{}.{}", p[0], forged, p[2]);
    assert!(matches!(
        issuer.verify(&keys, &token, at(NOW)),
        Err(TokenError::BadSignature)
    ));
}

#[test]
fn rejects_wrong_issuer() {
    let keys = keys();
    let other = Issuer::new("https://evil.example");
    let token = bound_token(&other, &keys);
    let err = Issuer::default()
        .verify(&keys, &token, at(NOW))
        .unwrap_err();
    assert!(matches!(err, TokenError::WrongIssuer(ref i) if i == "https://evil.example"));
    assert_eq!(
        err.to_string(),
        "token issuer \"https://evil.example\" is invalid"
    );

    let mut claims = bound_claims(DEFAULT_ISSUER);
    claims.as_object_mut().unwrap().remove("iss");
    let token = sign_raw(&keys, &es256_header(&keys), &claims);
    assert!(matches!(
        Issuer::default().verify(&keys, &token, at(NOW)),
        Err(TokenError::WrongIssuer(_))
    ));
}

#[test]
fn rejects_wrong_audience() {
    let keys = keys();
    let issuer = Issuer::default();
    let mut req = pod_request();
    req.audiences = vec!["vault".into()];
    let (token, _) = issuer.issue_bound(&keys, req, at(NOW)).unwrap();
    let err = issuer.verify(&keys, &token, at(NOW)).unwrap_err();
    assert!(matches!(err, TokenError::WrongAudience { .. }));
    assert_eq!(
        err.to_string(),
        format!("token audiences [\"vault\"] is invalid for the target audiences [\"{DEFAULT_ISSUER}\"]")
    );
    // TokenReview for the audience the token was made for accepts it.
    let v = issuer
        .verify_for_audiences(&keys, &token, &["vault".into(), "x".into()], at(NOW))
        .unwrap();
    assert_eq!(v.audiences, ["vault"]);
}

#[test]
fn token_without_aud_counts_as_api_audiences() {
    let keys = keys();
    let issuer = Issuer::default();
    let mut claims = bound_claims(DEFAULT_ISSUER);
    claims.as_object_mut().unwrap().remove("aud");
    let token = sign_raw(&keys, &es256_header(&keys), &claims);
    assert!(issuer.verify(&keys, &token, at(NOW)).is_ok());
    // A single string is an audience too.
    claims["aud"] = json!(DEFAULT_ISSUER);
    let token = sign_raw(&keys, &es256_header(&keys), &claims);
    assert!(issuer.verify(&keys, &token, at(NOW)).is_ok());
}

#[test]
fn rejects_expired_after_leeway() {
    let keys = keys();
    let issuer = Issuer::default();
    let token = bound_token(&issuer, &keys);
    let exp = NOW + 3600;
    assert!(issuer.verify(&keys, &token, at(exp + 59)).is_ok());
    let err = issuer.verify(&keys, &token, at(exp + 61)).unwrap_err();
    assert!(matches!(err, TokenError::Expired));
    assert_eq!(err.to_string(), "service account token has expired");
}

#[test]
fn rejects_not_yet_valid_and_issued_in_future() {
    let keys = keys();
    let issuer = Issuer::default();
    let token = bound_token(&issuer, &keys);
    assert!(issuer.verify(&keys, &token, at(NOW - 59)).is_ok());
    let err = issuer.verify(&keys, &token, at(NOW - 61)).unwrap_err();
    assert!(matches!(err, TokenError::NotYetValid));
    assert_eq!(err.to_string(), "service account token is not valid yet");

    let mut claims = bound_claims(DEFAULT_ISSUER);
    claims["iat"] = json!(NOW + 600);
    let token = sign_raw(&keys, &es256_header(&keys), &claims);
    assert!(matches!(
        issuer.verify(&keys, &token, at(NOW)),
        Err(TokenError::IssuedInFuture)
    ));
}

#[test]
fn rejects_alg_none() {
    let keys = keys();
    let issuer = Issuer::default();
    let claims = URL_SAFE_NO_PAD.encode(bound_claims(DEFAULT_ISSUER).to_string());
    for alg in ["none", "None", "NONE", ""] {
        let header = URL_SAFE_NO_PAD.encode(json!({"alg": alg, "kid": keys.kid()}).to_string());
        for sig in ["", "AAAA"] {
            let token = format!("{header}.{claims}.{sig}");
            assert!(
                matches!(
                    issuer.verify(&keys, &token, at(NOW)),
                    Err(TokenError::UnsupportedAlgorithm(ref a)) if a == alg
                ),
                "alg {alg:?} sig {sig:?}"
            );
        }
    }
}

#[test]
fn rejects_hs256_signed_with_the_public_key() {
    let keys = keys();
    let issuer = Issuer::default();
    let pem = keys.public_key_pem();
    let der = x509_parser::pem::parse_x509_pem(pem.as_bytes())
        .unwrap()
        .1
        .contents;
    let jwk = keys.jwks()["keys"][0].to_string();
    for secret in [pem.as_bytes(), &der[..], jwk.as_bytes()] {
        for alg in [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512] {
            let mut header = Header::new(alg);
            header.kid = Some(keys.kid().to_owned());
            let token = jsonwebtoken::encode(
                &header,
                &bound_claims(DEFAULT_ISSUER),
                &EncodingKey::from_secret(secret),
            )
            .unwrap();
            assert!(matches!(
                issuer.verify(&keys, &token, at(NOW)),
                Err(TokenError::UnsupportedAlgorithm(_))
            ));
        }
    }
    // RS256 and ES384 headers are refused before any key is tried.
    for alg in ["RS256", "ES384", "PS256", "EdDSA"] {
        let token = sign_raw(
            &keys,
            &json!({"alg": alg, "kid": keys.kid()}),
            &bound_claims(DEFAULT_ISSUER),
        );
        assert!(matches!(
            issuer.verify(&keys, &token, at(NOW)),
            Err(TokenError::UnsupportedAlgorithm(_))
        ));
    }
}

#[test]
fn rejects_unknown_kid_and_foreign_keys() {
    let ours = keys();
    let theirs = keys();
    let issuer = Issuer::default();
    let token = bound_token(&issuer, &theirs);
    let err = issuer.verify(&ours, &token, at(NOW)).unwrap_err();
    assert!(matches!(err, TokenError::UnknownKey(ref k) if k == theirs.kid()));

    // Without a kid every key is tried, and none verifies a foreign signature...
    let claims = bound_claims(DEFAULT_ISSUER);
    let token = sign_raw(&theirs, &json!({"alg": "ES256"}), &claims);
    assert!(matches!(
        issuer.verify(&ours, &token, at(NOW)),
        Err(TokenError::BadSignature)
    ));
    // ...while ours does.
    let token = sign_raw(&ours, &json!({"alg": "ES256"}), &claims);
    assert!(issuer.verify(&ours, &token, at(NOW)).is_ok());
    // A kid naming our key on a foreign signature is a bad signature.
    let token = sign_raw(&theirs, &es256_header(&ours), &claims);
    assert!(matches!(
        issuer.verify(&ours, &token, at(NOW)),
        Err(TokenError::BadSignature)
    ));
    // An unsupported critical extension is refused.
    let token = sign_raw(
        &ours,
        &json!({"alg": "ES256", "kid": ours.kid(), "crit": ["exp"]}),
        &claims,
    );
    assert!(matches!(
        issuer.verify(&ours, &token, at(NOW)),
        Err(TokenError::Malformed(_))
    ));
}

#[test]
fn garbage_and_truncated_tokens_are_rejected_without_panic() {
    let keys = keys();
    let issuer = Issuer::default();
    let token = bound_token(&issuer, &keys);
    for i in 0..token.len() {
        assert!(
            issuer.verify(&keys, &token[..i], at(NOW)).is_err(),
            "prefix {i}"
        );
    }
    assert!(issuer.verify(&keys, &format!("{token}."), at(NOW)).is_err());
    assert!(issuer.verify(&keys, &format!("{token}x"), at(NOW)).is_err());
    assert!(issuer.verify(&keys, &format!(" {token}"), at(NOW)).is_err());
    let b64 = |v: &str| URL_SAFE_NO_PAD.encode(v);
    let garbage = [
        String::new(),
        ".".into(),
        "..".into(),
        "...".into(),
        "a.b.c".into(),
        "é.é.é".into(),
        "{\"alg\":\"ES256\"}.e30.".into(),
        format!("{}.{}.", b64("null"), b64("{}")),
        format!("{}.{}.", b64("[]"), b64("{}")),
        format!("{}.{}.", b64("{\"alg\":5}"), b64("{}")),
        format!("{}.{}.", b64("{\"alg\":\"ES256\",\"kid\":7}"), b64("{}")),
        format!("{}.%%%.AAAA", b64("{\"alg\":\"ES256\"}")),
        format!(
            "{}.{}.{}",
            b64("{\"alg\":\"ES256\"}"),
            b64("{}"),
            "A".repeat(86)
        ),
        "x".repeat(100_000),
        ".".repeat(10_000),
    ];
    for g in &garbage {
        assert!(issuer.verify(&keys, g, at(NOW)).is_err(), "{g:.40}");
    }
    // A valid signature over a payload that is not a claims object is malformed.
    let h = URL_SAFE_NO_PAD.encode(es256_header(&keys).to_string());
    for payload in ["[1]", "not json", "{\"exp\":\"soon\"}", "{\"aud\":5}"] {
        let message = format!("{h}.{}", URL_SAFE_NO_PAD.encode(payload));
        let sig =
            jsonwebtoken::crypto::sign(message.as_bytes(), keys.signing_key(), Algorithm::ES256)
                .unwrap();
        assert!(matches!(
            issuer.verify(&keys, &format!("{message}.{sig}"), at(NOW)),
            Err(TokenError::Malformed(_))
        ));
    }
}

#[test]
fn legacy_token_verifies_and_names_its_secret() {
    let keys = keys();
    let issuer = Issuer::default();
    let token = issuer
        .issue_legacy(&keys, "ns1", "app", "sa-uid", "app-token")
        .unwrap();
    let claims = decode_part(&parts(&token)[1]);
    assert_eq!(
        claims,
        json!({
            "iss": "kubernetes/serviceaccount",
            "kubernetes.io/serviceaccount/namespace": "ns1",
            "kubernetes.io/serviceaccount/secret.name": "app-token",
            "kubernetes.io/serviceaccount/service-account.name": "app",
            "kubernetes.io/serviceaccount/service-account.uid": "sa-uid",
            "sub": "system:serviceaccount:ns1:app",
        })
    );
    // Never expires.
    let v = issuer
        .verify(&keys, &token, at(NOW + 10 * 365 * 86400))
        .unwrap();
    assert_eq!(
        v.kind,
        TokenKind::Legacy {
            secret_name: "app-token".into()
        }
    );
    assert_eq!(v.expires, None);
    let user = v.user_info();
    assert_eq!(user.name, "system:serviceaccount:ns1:app");
    assert_eq!(user.uid, "sa-uid");
    assert!(user.extra.is_empty(), "{:?}", user.extra);
}

#[test]
fn legacy_issuer_requires_legacy_claims() {
    let keys = keys();
    let issuer = Issuer::default();
    // Bound-shaped claims under the legacy issuer.
    let mut claims = bound_claims(DEFAULT_ISSUER);
    claims["iss"] = json!(LEGACY_ISSUER);
    let token = sign_raw(&keys, &es256_header(&keys), &claims);
    let err = issuer.verify(&keys, &token, at(NOW)).unwrap_err();
    assert_eq!(err.to_string(), "namespace claim is missing");
    // Legacy claims with a subject naming another account.
    let claims = json!({
        "iss": LEGACY_ISSUER,
        "kubernetes.io/serviceaccount/namespace": "ns1",
        "kubernetes.io/serviceaccount/secret.name": "s",
        "kubernetes.io/serviceaccount/service-account.name": "app",
        "kubernetes.io/serviceaccount/service-account.uid": "u",
        "sub": "system:serviceaccount:kube-system:admin",
    });
    let token = sign_raw(&keys, &es256_header(&keys), &claims);
    assert!(matches!(
        issuer.verify(&keys, &token, at(NOW)),
        Err(TokenError::InvalidSubject)
    ));
    // Legacy-shaped claims under our issuer.
    let mut claims = claims;
    claims["iss"] = json!(DEFAULT_ISSUER);
    let token = sign_raw(&keys, &es256_header(&keys), &claims);
    assert!(matches!(
        issuer.verify(&keys, &token, at(NOW)),
        Err(TokenError::MissingClaim("kubernetes.io"))
    ));
}

#[test]
fn expiration_below_ten_minutes_is_refused() {
    let keys = keys();
    let issuer = Issuer::default();
    for seconds in [599, 0, -1, i64::MIN] {
        let mut req = pod_request();
        req.expiration_seconds = seconds;
        let err = issuer.issue_bound(&keys, req, at(NOW)).unwrap_err();
        assert!(matches!(err, TokenError::InvalidExpiration { seconds: s, .. } if s == seconds));
        assert_eq!(
            err.to_string(),
            "may not specify a duration less than 10 minutes"
        );
    }
    let mut req = pod_request();
    req.expiration_seconds = MAX_EXPIRATION_SECONDS + 1;
    let err = issuer.issue_bound(&keys, req, at(NOW)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "may not specify a duration larger than 2^32 seconds"
    );
    for seconds in [MIN_EXPIRATION_SECONDS, MAX_EXPIRATION_SECONDS] {
        let mut req = pod_request();
        req.expiration_seconds = seconds;
        let (_, exp) = issuer.issue_bound(&keys, req, at(NOW)).unwrap();
        assert_eq!(exp, NOW as i64 + seconds);
    }
}

#[test]
fn key_file_is_private_and_reused() {
    let dir = tempfile::tempdir().unwrap();
    let first = TokenKeys::load_or_create(dir.path()).unwrap();
    let key_path = dir.path().join(SIGNING_KEY_FILE);
    let mode = std::fs::metadata(&key_path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let pem = std::fs::read_to_string(&key_path).unwrap();
    assert!(
        pem.starts_with("-----BEGIN PRIVATE KEY-----"),
        "PKCS#8: {pem:.40}"
    );

    let second = TokenKeys::load_or_create(dir.path()).unwrap();
    assert_eq!(first.kid(), second.kid());
    assert_eq!(std::fs::read_to_string(&key_path).unwrap(), pem);
    let issuer = Issuer::default();
    let token = bound_token(&issuer, &first);
    assert!(issuer.verify(&second, &token, at(NOW)).is_ok());

    // kid = base64url(SHA-256(SubjectPublicKeyInfo DER)), as computed from the key file.
    let pair = rcgen::KeyPair::from_pem(&pem).unwrap();
    assert_eq!(key_id(&pair.public_key_der()), first.kid());
    // sa.pub holds the same public key.
    let public = std::fs::read_to_string(dir.path().join(PUBLIC_KEY_FILE)).unwrap();
    assert_eq!(public, first.public_key_pem());
    let der = x509_parser::pem::parse_x509_pem(public.as_bytes())
        .unwrap()
        .1
        .contents;
    assert_eq!(der, pair.public_key_der());
}

#[test]
fn rotated_out_keys_still_verify() {
    let old_dir = tempfile::tempdir().unwrap();
    let old = TokenKeys::load_or_create(old_dir.path()).unwrap();
    let issuer = Issuer::default();
    let old_token = bound_token(&issuer, &old);

    let dir = tempfile::tempdir().unwrap();
    let extra = dir.path().join(EXTRA_KEYS_DIR);
    std::fs::create_dir_all(&extra).unwrap();
    std::fs::copy(old_dir.path().join(PUBLIC_KEY_FILE), extra.join("old.pub")).unwrap();
    std::fs::write(extra.join("README"), "ignored: not a .pub file").unwrap();
    let keys = TokenKeys::load_or_create(dir.path()).unwrap();
    assert_ne!(keys.kid(), old.kid());
    assert!(issuer.verify(&keys, &old_token, at(NOW)).is_ok());
    assert!(issuer
        .verify(&keys, &bound_token(&issuer, &keys), at(NOW))
        .is_ok());
    let kids: Vec<_> = keys.jwks()["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(kids, [keys.kid(), old.kid()]);

    // A file that is not a P-256 public key stops the start, not the first token.
    std::fs::write(extra.join("bad.pub"), "not a key").unwrap();
    assert!(matches!(
        TokenKeys::load_or_create(dir.path()),
        Err(TokenError::Key { .. })
    ));
}

#[test]
fn jwks_publishes_the_kid_used_in_headers() {
    let keys = keys();
    let issuer = Issuer::default();
    let token = bound_token(&issuer, &keys);
    let kid = decode_part(&parts(&token)[0])["kid"].clone();
    let jwks = keys.jwks();
    let jwk = &jwks["keys"][0];
    assert_eq!(jwk["kid"], kid);
    assert_eq!(
        jwk.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["use", "kty", "kid", "crv", "alg", "x", "y"]
    );
    assert_eq!(
        (&jwk["use"], &jwk["kty"], &jwk["crv"], &jwk["alg"]),
        (
            &json!("sig"),
            &json!("EC"),
            &json!("P-256"),
            &json!("ES256")
        )
    );
    // An outside verifier holding only the JWK checks the signature.
    let key =
        DecodingKey::from_ec_components(jwk["x"].as_str().unwrap(), jwk["y"].as_str().unwrap())
            .unwrap();
    let mut validation = jsonwebtoken::Validation::new(Algorithm::ES256);
    validation.set_audience(&[DEFAULT_ISSUER]);
    validation.validate_exp = false;
    let data = jsonwebtoken::decode::<Value>(&token, &key, &validation).unwrap();
    assert_eq!(data.claims["iss"], DEFAULT_ISSUER);
}

#[test]
fn discovery_document() {
    let doc = openid_configuration(DEFAULT_ISSUER, "https://127.0.0.1:6443/openid/v1/jwks");
    assert_eq!(
        doc,
        json!({
            "issuer": DEFAULT_ISSUER,
            "jwks_uri": "https://127.0.0.1:6443/openid/v1/jwks",
            "response_types_supported": ["id_token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["ES256"],
        })
    );
}

#[test]
fn usernames_split_back() {
    assert_eq!(username("ns", "n"), "system:serviceaccount:ns:n");
    assert_eq!(
        split_username("system:serviceaccount:ns:n"),
        Some(("ns", "n"))
    );
    for bad in [
        "system:serviceaccount:ns",
        "system:serviceaccount::n",
        "system:serviceaccount:ns:",
        "system:serviceaccount:a:b:c",
        "alice",
    ] {
        assert_eq!(split_username(bad), None, "{bad}");
    }
}
