//! Client certificates for PKCS#10 requests (the CSR API's `kube-apiserver-client` signer).
//!
//! The certificate is encoded here, in DER, rather than through rcgen: rcgen keeps one value per
//! attribute type in a subject, and a Kubernetes user in several groups is a subject with several
//! `O` attributes. Copying the request's subject bytes verbatim keeps every group, in order.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::extensions::ParsedExtension;
use x509_parser::prelude::FromDer;

use super::{CertKey, PkiError};

/// How far back a certificate's validity starts, so that clocks a little behind accept it.
pub const BACKDATE: Duration = Duration::from_secs(5 * 60);

/// The key usages a client certificate may carry beside `client auth`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClientKeyUsages {
    /// `digital signature`.
    pub digital_signature: bool,
    /// `key encipherment`.
    pub key_encipherment: bool,
}

/// Signs a client certificate (extended key usage `clientAuth` only, not a CA) for the PEM
/// PKCS#10 request `csr_pem` with the CA in `ca`. The subject and public key are the request's,
/// byte for byte; requested extensions are ignored. The certificate is valid from [`BACKDATE`]
/// before `now` for `lifetime`, and never beyond the CA's own expiry. Returns the PEM.
pub fn sign_client_csr(
    ca: &CertKey,
    csr_pem: &[u8],
    usages: ClientKeyUsages,
    lifetime: Duration,
    now: SystemTime,
) -> Result<String, PkiError> {
    let bad = |why: &str| PkiError::BadCsr(why.to_string());
    let (_, pem) = x509_parser::pem::parse_x509_pem(csr_pem).map_err(|_| bad("not a PEM block"))?;
    if pem.label != "CERTIFICATE REQUEST" && pem.label != "NEW CERTIFICATE REQUEST" {
        return Err(bad("PEM block is not a CERTIFICATE REQUEST"));
    }
    let (_, csr) = X509CertificationRequest::from_der(&pem.contents)
        .map_err(|_| bad("not a PKCS#10 certificate request"))?;
    csr.verify_signature()
        .map_err(|_| bad("the request's signature does not verify with its public key"))?;
    let info = &csr.certification_request_info;

    let (_, ca_pem) = x509_parser::pem::parse_x509_pem(ca.cert_pem.as_bytes())
        .map_err(|_| PkiError::BadPem("ca.crt".into()))?;
    let ca_cert = ca_pem
        .parse_x509()
        .map_err(|_| PkiError::BadPem("ca.crt".into()))?;
    let ca_key = rcgen::KeyPair::from_pem(&ca.key_pem)?;
    let rng = ring::rand::SystemRandom::new();
    let signer = ring::signature::EcdsaKeyPair::from_pkcs8(
        &ring::signature::ECDSA_P256_SHA256_ASN1_SIGNING,
        &ca_key.serialize_der(),
        &rng,
    )
    .map_err(|_| PkiError::CaKey("the CA key is not an ECDSA P-256 key"))?;

    let now = unix_seconds(now);
    let not_before = now - BACKDATE.as_secs() as i64;
    let ca_not_after = ca_cert.validity().not_after.timestamp();
    let not_after = (now + lifetime.as_secs() as i64).min(ca_not_after);

    let mut serial = [0u8; 16];
    ring::rand::SecureRandom::fill(&rng, &mut serial)
        .map_err(|_| PkiError::CaKey("the system random source failed"))?;
    serial[0] = (serial[0] & 0x7f) | 0x01; // positive and minimally encoded

    let mut extensions = Vec::new();
    let mut key_usage = 0u8;
    if usages.digital_signature {
        key_usage |= 0x80;
    }
    if usages.key_encipherment {
        key_usage |= 0x20;
    }
    if key_usage != 0 {
        let bits = der(0x03, &[key_usage.trailing_zeros() as u8, key_usage]);
        extensions.push(extension(OID_KEY_USAGE, true, &bits));
    }
    extensions.push(extension(
        OID_EXT_KEY_USAGE,
        false,
        &der(0x30, &oid(OID_CLIENT_AUTH)),
    ));
    extensions.push(extension(OID_BASIC_CONSTRAINTS, true, &der(0x30, &[])));
    let ca_key_id = ca_cert
        .extensions()
        .iter()
        .find_map(|e| match e.parsed_extension() {
            ParsedExtension::SubjectKeyIdentifier(id) => Some(id.0.to_vec()),
            _ => None,
        });
    if let Some(id) = ca_key_id {
        extensions.push(extension(
            OID_AUTHORITY_KEY_ID,
            false,
            &der(0x30, &der(0x80, &id)),
        ));
    }

    let algorithm = der(0x30, &oid(OID_ECDSA_SHA256));
    let tbs = der(
        0x30,
        &[
            der(0xa0, &der(0x02, &[2])),
            der(0x02, &serial),
            algorithm.clone(),
            ca_cert.subject().as_raw().to_vec(),
            der(0x30, &[time(not_before), time(not_after)].concat()),
            info.subject.as_raw().to_vec(),
            info.subject_pki.raw.to_vec(),
            der(0xa3, &der(0x30, &extensions.concat())),
        ]
        .concat(),
    );
    let signature = signer
        .sign(&rng, &tbs)
        .map_err(|_| PkiError::CaKey("signing with the CA key failed"))?;
    let mut bits = vec![0u8];
    bits.extend_from_slice(signature.as_ref());
    let cert = der(0x30, &[tbs, algorithm, der(0x03, &bits)].concat());
    Ok(pem_encode("CERTIFICATE", &cert))
}

/// A new ECDSA P-256 key and a PKCS#10 request for `user` in `groups` (CN and one `O` per
/// group, in order), both PEM: what `kapi kubeconfig user` submits to the CSR API. Encoded here
/// for the same reason as certificates: a subject with several `O` attributes.
pub fn client_csr(user: &str, groups: &[&str]) -> Result<(String, String), PkiError> {
    let key = rcgen::KeyPair::generate()?;
    let rng = ring::rand::SystemRandom::new();
    let signer = ring::signature::EcdsaKeyPair::from_pkcs8(
        &ring::signature::ECDSA_P256_SHA256_ASN1_SIGNING,
        &key.serialize_der(),
        &rng,
    )
    .map_err(|_| PkiError::CaKey("a freshly generated key is not ECDSA P-256"))?;
    let attribute = |id: &[u64], value: &str| {
        der(
            0x31,
            &der(0x30, &[oid(id), der(0x0c, value.as_bytes())].concat()),
        )
    };
    let mut rdns: Vec<Vec<u8>> = groups
        .iter()
        .map(|g| attribute(OID_ORGANIZATION, g))
        .collect();
    rdns.push(attribute(OID_COMMON_NAME, user));
    let info = der(
        0x30,
        &[
            der(0x02, &[0]),
            der(0x30, &rdns.concat()),
            key.public_key_der(),
            der(0xa0, &[]),
        ]
        .concat(),
    );
    let signature = signer
        .sign(&rng, &info)
        .map_err(|_| PkiError::CaKey("signing the request failed"))?;
    let mut bits = vec![0u8];
    bits.extend_from_slice(signature.as_ref());
    let algorithm = der(0x30, &oid(OID_ECDSA_SHA256));
    let request = der(0x30, &[info, algorithm, der(0x03, &bits)].concat());
    Ok((
        pem_encode("CERTIFICATE REQUEST", &request),
        key.serialize_pem(),
    ))
}

const OID_COMMON_NAME: &[u64] = &[2, 5, 4, 3];
const OID_ORGANIZATION: &[u64] = &[2, 5, 4, 10];
const OID_ECDSA_SHA256: &[u64] = &[1, 2, 840, 10045, 4, 3, 2];
const OID_KEY_USAGE: &[u64] = &[2, 5, 29, 15];
const OID_EXT_KEY_USAGE: &[u64] = &[2, 5, 29, 37];
const OID_BASIC_CONSTRAINTS: &[u64] = &[2, 5, 29, 19];
const OID_AUTHORITY_KEY_ID: &[u64] = &[2, 5, 29, 35];
const OID_CLIENT_AUTH: &[u64] = &[1, 3, 6, 1, 5, 5, 7, 3, 2];

fn unix_seconds(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// One DER element: tag, definite length, contents.
fn der(tag: u8, contents: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = contents.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(contents);
    out
}

fn oid(arcs: &[u64]) -> Vec<u8> {
    let mut body = Vec::new();
    let mut push = |mut v: u64| {
        let mut chunk = vec![(v & 0x7f) as u8];
        v >>= 7;
        while v > 0 {
            chunk.push(0x80 | (v & 0x7f) as u8);
            v >>= 7;
        }
        chunk.reverse();
        body.extend(chunk);
    };
    if let [first, second, rest @ ..] = arcs {
        push(first * 40 + second);
        for arc in rest {
            push(*arc);
        }
    }
    der(0x06, &body)
}

fn extension(id: &[u64], critical: bool, value: &[u8]) -> Vec<u8> {
    let mut body = oid(id);
    if critical {
        body.extend(der(0x01, &[0xff]));
    }
    body.extend(der(0x04, value));
    der(0x30, &body)
}

/// UTCTime before 2050, GeneralizedTime from then on, as RFC 5280 requires.
fn time(unix: i64) -> Vec<u8> {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let hms = format!(
        "{:02}{:02}{:02}{:02}{:02}Z",
        m,
        d,
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    );
    if (1950..2050).contains(&y) {
        der(0x17, format!("{:02}{hms}", y % 100).as_bytes())
    } else {
        der(0x18, format!("{y:04}{hms}").as_bytes())
    }
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

fn pem_encode(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pki::Pki;
    use x509_parser::extensions::ParsedExtension;

    fn request(cn: &str, org: &str) -> String {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::default();
        params.distinguished_name = super::super::name(cn, &[org]);
        params.serialize_request(&key).unwrap().pem().unwrap()
    }

    #[test]
    fn dates_match_the_calendar() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_723), (2024, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(time(0), der(0x17, b"700101000000Z"));
        assert_eq!(time(2_524_608_000), der(0x18, b"20500101000000Z"));
    }

    #[test]
    fn signs_a_client_certificate_keeping_the_subject() {
        let dir = tempfile::tempdir().unwrap();
        let pki = Pki::load_or_create(dir.path(), &[]).unwrap();
        let csr = request("jane", "dev");
        let usages = ClientKeyUsages {
            digital_signature: true,
            key_encipherment: true,
        };
        let now = SystemTime::now();
        let pem = sign_client_csr(
            &pki.ca,
            csr.as_bytes(),
            usages,
            Duration::from_secs(3600),
            now,
        )
        .unwrap();
        let (_, block) = x509_parser::pem::parse_x509_pem(pem.as_bytes()).unwrap();
        let cert = block.parse_x509().unwrap();
        let (_, ca_block) = x509_parser::pem::parse_x509_pem(pki.ca.cert_pem.as_bytes()).unwrap();
        let ca = ca_block.parse_x509().unwrap();
        cert.verify_signature(Some(ca.public_key())).unwrap();
        assert_eq!(cert.issuer().as_raw(), ca.subject().as_raw());
        let user = crate::pki::user_from_client_cert(&block.contents).unwrap();
        assert_eq!(user.name, "jane");
        assert!(user.in_group("dev"));
        let life = cert.validity().not_after.timestamp() - cert.validity().not_before.timestamp();
        assert_eq!(life, 3600 + BACKDATE.as_secs() as i64);
        let eku = cert.extended_key_usage().unwrap().unwrap().value;
        assert!(eku.client_auth && !eku.server_auth);
        let ku = cert.key_usage().unwrap().unwrap().value;
        assert!(ku.digital_signature() && ku.key_encipherment() && !ku.key_cert_sign());
        assert!(!cert.is_ca());
        assert!(cert
            .extensions()
            .iter()
            .any(|e| matches!(e.parsed_extension(), ParsedExtension::BasicConstraints(_))));
    }

    #[test]
    fn never_outlives_the_ca() {
        let dir = tempfile::tempdir().unwrap();
        let pki = Pki::load_or_create(dir.path(), &[]).unwrap();
        let csr = request("jane", "dev");
        let forever = Duration::from_secs(100 * 365 * 86_400);
        let pem = sign_client_csr(
            &pki.ca,
            csr.as_bytes(),
            ClientKeyUsages::default(),
            forever,
            SystemTime::now(),
        )
        .unwrap();
        let (_, block) = x509_parser::pem::parse_x509_pem(pem.as_bytes()).unwrap();
        let cert = block.parse_x509().unwrap();
        let (_, ca_block) = x509_parser::pem::parse_x509_pem(pki.ca.cert_pem.as_bytes()).unwrap();
        let ca = ca_block.parse_x509().unwrap();
        assert_eq!(cert.validity().not_after, ca.validity().not_after);
        assert!(cert.key_usage().unwrap().is_none());
    }

    #[test]
    fn refuses_what_is_not_a_request() {
        let dir = tempfile::tempdir().unwrap();
        let pki = Pki::load_or_create(dir.path(), &[]).unwrap();
        let day = Duration::from_secs(86_400);
        let now = SystemTime::now();
        let usages = ClientKeyUsages::default();
        for input in [
            b"garbage".to_vec(),
            pki.ca.cert_pem.as_bytes().to_vec(),
            b"-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n"
                .to_vec(),
        ] {
            let err = sign_client_csr(&pki.ca, &input, usages, day, now).unwrap_err();
            assert!(matches!(err, PkiError::BadCsr(_)), "{err}");
        }
        // A request whose signature was made by another key.
        let csr = request("jane", "dev");
        let (_, block) = x509_parser::pem::parse_x509_pem(csr.as_bytes()).unwrap();
        let mut der = block.contents.clone();
        let last = der.len() - 1;
        der[last] ^= 0x01;
        let tampered = pem_encode("CERTIFICATE REQUEST", &der);
        let err = sign_client_csr(&pki.ca, tampered.as_bytes(), usages, day, now).unwrap_err();
        assert!(matches!(err, PkiError::BadCsr(_)), "{err}");
    }
}

#[cfg(test)]
mod client_csr_tests {
    use super::*;

    #[test]
    fn requests_keep_every_group_through_signing() {
        let dir = tempfile::tempdir().unwrap();
        let pki = crate::pki::Pki::load_or_create(dir.path(), &[]).unwrap();
        let (csr, _key) = client_csr("jane", &["dev", "ops"]).unwrap();
        let cert = sign_client_csr(
            &pki.ca,
            csr.as_bytes(),
            ClientKeyUsages::default(),
            Duration::from_secs(3600),
            SystemTime::now(),
        )
        .unwrap();
        let (_, pem) = x509_parser::pem::parse_x509_pem(cert.as_bytes()).unwrap();
        let user = crate::pki::user_from_client_cert(&pem.contents).unwrap();
        assert_eq!(user.name, "jane");
        assert_eq!(user.groups, ["dev", "ops", "system:authenticated"]);
    }
}
