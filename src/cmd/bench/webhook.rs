//! The bench's admission webhook: HTTPS on loopback with a certificate from a PKI of its own,
//! allowing every request, and counting its calls and its own time so that the bench can
//! tell the API server's overhead from the webhook's.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// What the webhook did.
#[derive(Default)]
pub struct Served {
    /// Reviews answered.
    pub calls: AtomicU64,
    /// Microseconds spent answering them, from the request's headers to the answer.
    pub micros: AtomicU64,
}

/// Starts the webhook; answers its port, its CA (PEM) and its counters.
pub async fn start(dir: &Path) -> anyhow::Result<(u16, String, Arc<Served>)> {
    let pki = kapi_auth::pki::Pki::load_or_create(dir, &[])?;
    let serving = pki.issue_serving("bench-webhook", &["127.0.0.1".to_string()])?;
    let ca_pem = std::fs::read_to_string(dir.join("ca.crt")).context("webhook CA")?;
    let chain = CertificateDer::pem_slice_iter(serving.cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .context("webhook certificate")?;
    let key = PrivateKeyDer::from_pem_slice(serving.key_pem.as_bytes()).context("webhook key")?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let served = Arc::new(Served::default());
    let counters = served.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (acceptor, counters) = (acceptor.clone(), counters.clone());
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let service = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let counters = counters.clone();
                    async move {
                        let started = Instant::now();
                        let body = req.into_body().collect().await?.to_bytes();
                        let answer = allow(&body);
                        counters.calls.fetch_add(1, Ordering::Relaxed);
                        counters.micros.fetch_add(
                            u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
                            Ordering::Relaxed,
                        );
                        Ok::<_, hyper::Error>(hyper::Response::new(Full::new(answer)))
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    Ok((port, ca_pem, served))
}

/// The AdmissionReview allowing the request in `body`.
fn allow(body: &[u8]) -> Bytes {
    let uid = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|r| r.pointer("/request/uid").cloned())
        .unwrap_or_default();
    Bytes::from(
        serde_json::json!({
            "apiVersion": "admission.k8s.io/v1",
            "kind": "AdmissionReview",
            "response": {"uid": uid, "allowed": true},
        })
        .to_string(),
    )
}
