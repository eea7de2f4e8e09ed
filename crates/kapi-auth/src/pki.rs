//! The cluster's PKI: a CA, the API server's serving certificate and the admin client
//! certificate, all ECDSA P-256, created on first start and reused afterwards.
//!
//! Files in the data dir: `ca.crt`/`ca.key`, `apiserver.crt`/`apiserver.key`,
//! `admin.crt`/`admin.key`. Keys are written 0600 before any byte of them is. The serving
//! certificate is re-issued (same CA) when the wanted names change, e.g. a new listen address.

use std::fs;
use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose, SanType,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::UserInfo;

mod csr;
pub use csr::{client_csr, sign_client_csr, ClientKeyUsages, BACKDATE};

/// What went wrong creating, loading or using certificates.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    /// Reading or writing a file in the data dir failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The failure.
        source: std::io::Error,
    },
    /// Generating or parsing a certificate or key failed.
    #[error("certificate: {0}")]
    Cert(#[from] rcgen::Error),
    /// A PEM file held no certificate.
    #[error("{0}: not a PEM certificate")]
    BadPem(PathBuf),
    /// The TLS configuration was refused.
    #[error("tls: {0}")]
    Tls(#[from] rustls::Error),
    /// The client verifier could not be built.
    #[error("tls client verifier: {0}")]
    Verifier(#[from] rustls::server::VerifierBuilderError),
    /// A certificate signing request could not be parsed or verified.
    #[error("certificate request: {0}")]
    BadCsr(String),
    /// The CA key could not sign.
    #[error("CA: {0}")]
    CaKey(&'static str),
}

/// The IP of the `kubernetes` Service: the first address of the default service range.
pub const KUBERNETES_SERVICE_IP: &str = "10.96.0.1";

/// The IP of the `kube-dns` Service (cluster DNS): the tenth address of the default service
/// range, as kubeadm places it, and what pods get as their nameserver.
pub const CLUSTER_DNS_IP: &str = "10.96.0.10";

/// The admin identity, as kubeadm names it.
pub const ADMIN_USER: &str = "kubernetes-admin";

/// A PEM certificate with its key.
pub struct CertKey {
    /// The certificate, PEM.
    pub cert_pem: String,
    /// The private key, PEM (PKCS#8).
    pub key_pem: String,
}

/// The loaded PKI.
pub struct Pki {
    dir: PathBuf,
    /// The CA certificate.
    pub ca: CertKey,
    /// The API server's serving certificate.
    pub serving: CertKey,
    /// The admin client certificate (CN=kubernetes-admin, O=system:masters).
    pub admin: CertKey,
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> PkiError + '_ {
    move |source| PkiError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Writes `contents` to `path`, creating it with mode `mode` so that a key is never readable
/// by others, not even for an instant.
fn write_file(path: &Path, contents: &str, mode: u32) -> Result<(), PkiError> {
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&tmp)
        .map_err(io_err(&tmp))?;
    f.write_all(contents.as_bytes()).map_err(io_err(&tmp))?;
    f.sync_all().map_err(io_err(&tmp))?;
    fs::rename(&tmp, path).map_err(io_err(path))
}

fn read(path: &Path) -> Result<Option<String>, PkiError> {
    match fs::read_to_string(path) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_err(path)(e)),
    }
}

fn validity(params: &mut CertificateParams, years: i32) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let year = 1970 + i32::try_from(now / 31_556_952).unwrap_or(0);
    params.not_before = rcgen::date_time_ymd(year - 1, 1, 1);
    params.not_after = rcgen::date_time_ymd(year + years, 1, 1);
}

fn name(cn: &str, orgs: &[&str]) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    for o in orgs {
        dn.push(DnType::OrganizationName, *o);
    }
    dn.push(DnType::CommonName, cn);
    dn
}

/// The CA in a form that can sign.
struct Issuer {
    cert: rcgen::Certificate,
    key: KeyPair,
}

impl Issuer {
    fn load(ca: &CertKey) -> Result<Self, PkiError> {
        let key = KeyPair::from_pem(&ca.key_pem)?;
        let params = CertificateParams::from_ca_cert_pem(&ca.cert_pem)?;
        let cert = params.self_signed(&key)?;
        Ok(Self { cert, key })
    }

    fn sign(&self, params: CertificateParams) -> Result<CertKey, PkiError> {
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &self.cert, &self.key)?;
        Ok(CertKey {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }

    /// Issues a client certificate for `user` in `groups`, valid for a year.
    fn client(&self, user: &str, groups: &[&str]) -> Result<CertKey, PkiError> {
        let mut params = CertificateParams::default();
        params.distinguished_name = name(user, groups);
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        validity(&mut params, 1);
        self.sign(params)
    }
}

/// Signs a serving certificate (extended key usage `serverAuth`, not a CA) for the PEM PKCS#10
/// request `csr_pem` with the CA in `ca`: the subject and the subject alternative names are the
/// request's, and it is valid for a year. The kubelet-serving signer uses it. Returns the PEM.
pub fn sign_serving_csr(ca: &CertKey, csr_pem: &[u8]) -> Result<String, PkiError> {
    let text = std::str::from_utf8(csr_pem).map_err(|_| PkiError::BadCsr("not PEM text".into()))?;
    let mut request = rcgen::CertificateSigningRequestParams::from_pem(text)
        .map_err(|e| PkiError::BadCsr(format!("not a usable certificate request: {e}")))?;
    request.params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    request.params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    request.params.is_ca = IsCa::ExplicitNoCa;
    validity(&mut request.params, 1);
    let issuer = Issuer::load(ca)?;
    let cert = request.signed_by(&issuer.cert, &issuer.key)?;
    Ok(cert.pem())
}

impl Pki {
    /// Loads the PKI from `dir`, creating what is missing. `extra_names` are additional
    /// host names or IPs the serving certificate must carry (e.g. the listen address).
    pub fn load_or_create(dir: &Path, extra_names: &[String]) -> Result<Self, PkiError> {
        fs::create_dir_all(dir).map_err(io_err(dir))?;
        let ca = Self::load_pair(dir, "ca")?.map_or_else(|| Self::create_ca(dir), Ok)?;
        let issuer = Issuer::load(&ca)?;
        let names = serving_names(extra_names);
        let names_file = dir.join("apiserver.names");
        let wanted = names.join("\n");
        let serving = match (Self::load_pair(dir, "apiserver")?, read(&names_file)?) {
            (Some(pair), Some(have)) if have == wanted => pair,
            _ => {
                let pair = issuer.sign(serving_params(&names)?)?;
                Self::store_pair(dir, "apiserver", &pair)?;
                write_file(&names_file, &wanted, 0o644)?;
                pair
            }
        };
        let admin = match Self::load_pair(dir, "admin")? {
            Some(pair) => pair,
            None => {
                let pair = issuer.client(ADMIN_USER, &[crate::authz::SYSTEM_MASTERS])?;
                Self::store_pair(dir, "admin", &pair)?;
                pair
            }
        };
        Ok(Self {
            dir: dir.to_path_buf(),
            ca,
            serving,
            admin,
        })
    }

    fn create_ca(dir: &Path) -> Result<CertKey, PkiError> {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::default();
        params.distinguished_name = name("kapi-ca", &[]);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        validity(&mut params, 10);
        let cert = params.self_signed(&key)?;
        let pair = CertKey {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        };
        Self::store_pair(dir, "ca", &pair)?;
        Ok(pair)
    }

    fn load_pair(dir: &Path, stem: &str) -> Result<Option<CertKey>, PkiError> {
        let cert = read(&dir.join(format!("{stem}.crt")))?;
        let key = read(&dir.join(format!("{stem}.key")))?;
        Ok(match (cert, key) {
            (Some(cert_pem), Some(key_pem)) => Some(CertKey { cert_pem, key_pem }),
            _ => None,
        })
    }

    fn store_pair(dir: &Path, stem: &str, pair: &CertKey) -> Result<(), PkiError> {
        write_file(&dir.join(format!("{stem}.key")), &pair.key_pem, 0o600)?;
        write_file(&dir.join(format!("{stem}.crt")), &pair.cert_pem, 0o644)
    }

    /// The data dir the PKI lives in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Signs a client certificate for a PEM PKCS#10 request with the cluster CA: see
    /// [`sign_client_csr`].
    pub fn sign_client_csr(
        &self,
        csr_pem: &[u8],
        usages: ClientKeyUsages,
        lifetime: std::time::Duration,
    ) -> Result<String, PkiError> {
        sign_client_csr(
            &self.ca,
            csr_pem,
            usages,
            lifetime,
            std::time::SystemTime::now(),
        )
    }

    /// Issues a client certificate signed by the cluster CA.
    ///
    /// Goes through a PKCS#10 request and [`sign_client_csr`], so a user in several groups keeps
    /// every one (rcgen's subjects hold one value per attribute type).
    pub fn issue_client(&self, user: &str, groups: &[&str]) -> Result<CertKey, PkiError> {
        let (csr, key_pem) = client_csr(user, groups)?;
        let usages = ClientKeyUsages {
            digital_signature: true,
            key_encipherment: false,
        };
        let year = std::time::Duration::from_secs(365 * 24 * 3600);
        let cert_pem = sign_client_csr(
            &self.ca,
            csr.as_bytes(),
            usages,
            year,
            std::time::SystemTime::now(),
        )?;
        Ok(CertKey { cert_pem, key_pem })
    }

    /// Issues a serving certificate for `names` (host names or IPs) signed by the cluster CA,
    /// as a kubelet's, whose callers verify it against the same CA.
    pub fn issue_serving(&self, common_name: &str, names: &[String]) -> Result<CertKey, PkiError> {
        let issuer = Issuer::load(&self.ca)?;
        let mut params = serving_params(names)?;
        params.distinguished_name = name(common_name, &[]);
        issuer.sign(params)
    }

    /// The rustls configuration for the API server: TLS 1.2+, ALPN h2 and http/1.1, client
    /// certificates optional but, when presented, verified against the cluster CA.
    pub fn server_tls_config(&self) -> Result<rustls::ServerConfig, PkiError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        roots.add(pem_cert_der(&self.ca.cert_pem, &self.dir.join("ca.crt"))?)?;
        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
            Arc::new(roots),
            provider.clone(),
        )
        .allow_unauthenticated()
        .build()?;
        let chain = vec![pem_cert_der(
            &self.serving.cert_pem,
            &self.dir.join("apiserver.crt"),
        )?];
        let key = KeyPair::from_pem(&self.serving.key_pem)?;
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
            .with_client_cert_verifier(verifier)
            .with_single_cert(chain, key)?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(config)
    }
}

/// Reads the cluster CA (certificate and key) from `dir` and touches nothing else, for signers
/// that run beside the server and must not re-issue its serving certificate.
pub fn load_ca(dir: &Path) -> Result<CertKey, PkiError> {
    let cert = dir.join("ca.crt");
    let key = dir.join("ca.key");
    let missing = |path: &Path| PkiError::Io {
        path: path.to_path_buf(),
        source: std::io::ErrorKind::NotFound.into(),
    };
    Ok(CertKey {
        cert_pem: read(&cert)?.ok_or_else(|| missing(&cert))?,
        key_pem: read(&key)?.ok_or_else(|| missing(&key))?,
    })
}

fn pem_cert_der(pem: &str, path: &Path) -> Result<CertificateDer<'static>, PkiError> {
    let (_, parsed) = x509_parser::pem::parse_x509_pem(pem.as_bytes())
        .map_err(|_| PkiError::BadPem(path.to_path_buf()))?;
    Ok(CertificateDer::from(parsed.contents))
}

/// Every name the serving certificate carries, sorted and unique.
fn serving_names(extra: &[String]) -> Vec<String> {
    let mut names: Vec<String> = [
        "127.0.0.1",
        "::1",
        "localhost",
        "kubernetes",
        "kubernetes.default",
        "kubernetes.default.svc",
        "kubernetes.default.svc.cluster.local",
        KUBERNETES_SERVICE_IP,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    if let Ok(host) = fs::read_to_string("/proc/sys/kernel/hostname") {
        let host = host.trim();
        if !host.is_empty() {
            names.push(host.to_string());
        }
    }
    names.extend(extra.iter().filter(|n| !n.is_empty()).cloned());
    names.sort();
    names.dedup();
    names
}

fn serving_params(names: &[String]) -> Result<CertificateParams, PkiError> {
    let mut params = CertificateParams::default();
    params.distinguished_name = name("kube-apiserver", &[]);
    for n in names {
        params.subject_alt_names.push(match n.parse::<IpAddr>() {
            Ok(ip) => SanType::IpAddress(ip),
            Err(_) => SanType::DnsName(n.clone().try_into()?),
        });
    }
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    validity(&mut params, 1);
    Ok(params)
}

/// The identity a verified client certificate proves: CN is the user, each O a group.
pub fn user_from_client_cert(der: &[u8]) -> Option<UserInfo> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let subject = cert.subject();
    let name = subject
        .iter_common_name()
        .next()?
        .as_str()
        .ok()?
        .to_string();
    let mut groups: Vec<String> = subject
        .iter_organization()
        .filter_map(|o| o.as_str().ok().map(str::to_string))
        .collect();
    groups.push("system:authenticated".to_string());
    Some(UserInfo {
        name,
        groups,
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creates_then_reuses_with_private_keys() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let first = Pki::load_or_create(dir.path(), &[]).unwrap();
        for key in ["ca.key", "apiserver.key", "admin.key"] {
            let mode = fs::metadata(dir.path().join(key))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{key}");
        }
        let second = Pki::load_or_create(dir.path(), &[]).unwrap();
        assert_eq!(first.ca.cert_pem, second.ca.cert_pem);
        assert_eq!(first.admin.cert_pem, second.admin.cert_pem);
        assert_eq!(first.serving.cert_pem, second.serving.cert_pem);
        let third = Pki::load_or_create(dir.path(), &["10.1.2.3".into()]).unwrap();
        assert_eq!(first.ca.cert_pem, third.ca.cert_pem);
        assert_ne!(first.serving.cert_pem, third.serving.cert_pem);
        assert!(third.server_tls_config().is_ok());
    }

    #[test]
    fn admin_certificate_names_kubeadm_identity() {
        let dir = tempfile::tempdir().unwrap();
        let pki = Pki::load_or_create(dir.path(), &[]).unwrap();
        let der = pem_cert_der(&pki.admin.cert_pem, dir.path()).unwrap();
        let user = user_from_client_cert(&der).unwrap();
        assert_eq!(user.name, "kubernetes-admin");
        assert!(user.in_group("system:masters"));
        assert!(user.in_group("system:authenticated"));
    }
}
