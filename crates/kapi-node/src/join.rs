//! Joining a cluster as kubelet's TLS bootstrap does: with a bootstrap token, ask for a client
//! certificate through a CertificateSigningRequest (signer
//! `kubernetes.io/kube-apiserver-client-kubelet`, subject `system:node:NAME` in
//! `system:nodes`), wait until the controllers approve and sign it, and write the kubeconfig the
//! node then runs with. A serving certificate for the kubelet API is asked for the same way
//! (signer `kubernetes.io/kubelet-serving`), with the node's own identity.

use std::path::{Path, PathBuf};
use std::time::Duration;

use k8s_openapi::api::certificates::v1::CertificateSigningRequest;
use kube::api::PostParams;
use kube::Api;
use serde_json::json;

/// Failures joining.
#[derive(Debug, thiserror::Error)]
pub enum JoinError {
    /// A key or request could not be made.
    #[error("making a certificate request: {0}")]
    Csr(#[from] rcgen::Error),
    /// The API refused.
    #[error("{0}")]
    Api(#[from] kube::Error),
    /// The request was denied or failed.
    #[error("certificate request {name} was {state}: {message}")]
    Refused {
        /// The request.
        name: String,
        /// Denied or Failed.
        state: String,
        /// Why.
        message: String,
    },
    /// Nobody approved it in time.
    #[error("certificate request {0} was not approved and signed within 5 minutes (is the csrapproving controller running, and may the token's group create certificatesigningrequests/nodeclient?)")]
    Timeout(String),
    /// The CA file is not usable.
    #[error("the cluster CA: {0}")]
    Ca(String),
    /// A file could not be written.
    #[error("writing {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// A key and a PEM certificate request for `user` in `groups` with `names` as subject
/// alternative names.
fn request(
    user: &str,
    groups: &[&str],
    names: &[String],
) -> Result<(rcgen::KeyPair, String), JoinError> {
    let key = rcgen::KeyPair::generate()?;
    let mut params = rcgen::CertificateParams::new(names.to_vec())?;
    let mut dn = rcgen::DistinguishedName::new();
    dn.push(rcgen::DnType::CommonName, user);
    for g in groups {
        dn.push(rcgen::DnType::OrganizationName, *g);
    }
    params.distinguished_name = dn;
    let csr = params.serialize_request(&key)?.pem()?;
    Ok((key, csr))
}

/// Submits a request to `signer` and waits for its certificate (PEM).
async fn submit(
    client: &kube::Client,
    prefix: &str,
    signer: &str,
    usages: &[&str],
    csr_pem: &str,
) -> Result<String, JoinError> {
    let api: Api<CertificateSigningRequest> = Api::all(client.clone());
    let body: CertificateSigningRequest = serde_json::from_value(json!({
        "apiVersion": "certificates.k8s.io/v1", "kind": "CertificateSigningRequest",
        "metadata": {"generateName": format!("{prefix}-")},
        "spec": {
            "request": base64_encode(csr_pem.as_bytes()),
            "signerName": signer,
            "usages": usages,
        }
    }))
    .map_err(kube::Error::SerdeError)?;
    let created = api.create(&PostParams::default(), &body).await?;
    let name = created.metadata.name.clone().unwrap_or_default();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(300);
    loop {
        let csr = api.get(&name).await?;
        if let Some(status) = &csr.status {
            if let Some(c) = status
                .conditions
                .iter()
                .flatten()
                .find(|c| (c.type_ == "Denied" || c.type_ == "Failed") && c.status != "False")
            {
                return Err(JoinError::Refused {
                    name,
                    state: c.type_.clone(),
                    message: c.message.clone().unwrap_or_default(),
                });
            }
            if let Some(cert) = status.certificate.as_ref().filter(|c| !c.0.is_empty()) {
                return Ok(String::from_utf8_lossy(&cert.0).into_owned());
            }
        }
        if tokio::time::Instant::now() > deadline {
            return Err(JoinError::Timeout(name));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A client for `server` authenticating with a bearer token, trusting `ca_pem`.
pub fn token_client(server: &str, token: &str, ca_pem: &str) -> Result<kube::Client, JoinError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;
    let roots: Vec<Vec<u8>> = CertificateDer::pem_slice_iter(ca_pem.as_bytes())
        .map(|c| c.map(|c| c.to_vec()))
        .collect::<Result<_, _>>()
        .map_err(|e| JoinError::Ca(e.to_string()))?;
    if roots.is_empty() {
        return Err(JoinError::Ca("no certificate in the file".into()));
    }
    let url = server
        .parse()
        .map_err(|_| JoinError::Ca(format!("bad server URL {server:?}")))?;
    let mut config = kube::Config::new(url);
    config.root_cert = Some(roots);
    config.auth_info.token = Some(token.to_string().into());
    Ok(kube::Client::try_from(config)?)
}

/// Obtains the node's client certificate with a bootstrap token and writes `kubeconfig`.
pub async fn bootstrap(
    server: &str,
    token: &str,
    ca_pem: &str,
    node: &str,
    kubeconfig: &Path,
) -> Result<(), JoinError> {
    let client = token_client(server, token, ca_pem)?;
    let user = format!("system:node:{node}");
    let (key, csr) = request(&user, &["system:nodes"], &[])?;
    let cert = submit(
        &client,
        "node-csr",
        "kubernetes.io/kube-apiserver-client-kubelet",
        &["digital signature", "client auth"],
        &csr,
    )
    .await?;
    let text = kapi_auth::kubeconfig::render_client_cert(
        "kapi",
        server,
        ca_pem,
        &user,
        &cert,
        &key.serialize_pem(),
    );
    write_private(kubeconfig, &text)
}

/// Obtains a serving certificate for the kubelet API for `names` (the node's addresses and
/// name); returns (certificate PEM, key PEM).
pub async fn serving_certificate(
    client: &kube::Client,
    node: &str,
    names: &[String],
) -> Result<(String, String), JoinError> {
    let (key, csr) = request(&format!("system:node:{node}"), &["system:nodes"], names)?;
    let cert = submit(
        client,
        "csr",
        "kubernetes.io/kubelet-serving",
        &["digital signature", "key encipherment", "server auth"],
        &csr,
    )
    .await?;
    Ok((cert, key.serialize_pem()))
}

/// Writes a file only its owner may read.
pub fn write_private(path: &Path, text: &str) -> Result<(), JoinError> {
    kapi_auth::kubeconfig::write_private(path, text).map_err(|source| JoinError::Write {
        path: path.to_path_buf(),
        source,
    })
}
