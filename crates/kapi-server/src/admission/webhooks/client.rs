//! Calling a webhook: HTTPS POST of the review to its `clientConfig` (a `url`, or a `service`
//! reached at its cluster IP), verified against its `caBundle`, within its timeout.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use serde_json::Value;

use crate::registry::Registry;

/// The most of an answer read: upstream's client has no smaller limit than the request's.
const MAX_ANSWER: usize = 3 * 1024 * 1024;

/// Where a webhook is reached.
#[derive(Debug)]
pub struct Endpoint {
    /// The URL the request is posted to, as upstream prints it in errors.
    pub url: String,
    /// The host and port dialled.
    host: String,
    port: u16,
    /// The name the server certificate must hold.
    server_name: String,
    path: String,
    ca: Vec<CertificateDer<'static>>,
}

/// Reads a webhook's `clientConfig`, resolving a service to its cluster IP.
pub fn endpoint(
    registry: &Registry,
    config: &Value,
    timeout: Duration,
) -> Result<Endpoint, String> {
    let ca = match config.get("caBundle").and_then(Value::as_str) {
        Some(b64) if !b64.is_empty() => {
            let pem = base64::engine::general_purpose::STANDARD
                .decode(b64)
                .map_err(|e| format!("caBundle is not base64: {e}"))?;
            CertificateDer::pem_slice_iter(&pem)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| format!("caBundle holds no PEM certificates: {e}"))?
        }
        _ => Vec::new(),
    };
    let query = format!("?timeout={}s", timeout.as_secs());
    if let Some(url) = config.get("url").and_then(Value::as_str) {
        let rest = url
            .strip_prefix("https://")
            .ok_or_else(|| format!("webhook URL {url} is not https"))?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let (host, port) = split_authority(authority)?;
        return Ok(Endpoint {
            url: format!("{url}{query}"),
            server_name: host.clone(),
            host,
            port,
            path: format!("{path}{query}"),
            ca,
        });
    }
    let service = config
        .get("service")
        .ok_or("webhook clientConfig has neither url nor service")?;
    let text = |k: &str| service.get(k).and_then(Value::as_str).unwrap_or("");
    let (namespace, name) = (text("namespace"), text("name"));
    let port = service
        .get("port")
        .and_then(Value::as_u64)
        .and_then(|p| u16::try_from(p).ok())
        .unwrap_or(443);
    let path = match text("path") {
        "" => "/",
        p => p,
    };
    let services = kapi_api::resources::find("", "v1", "services").ok_or("services not served")?;
    let (svc, _) = registry
        .get_value(services, Some(namespace), name)
        .map_err(|_| format!("service \"{name}\" not found"))?;
    let ip = svc
        .pointer("/spec/clusterIP")
        .and_then(Value::as_str)
        .filter(|ip| !ip.is_empty() && *ip != "None")
        .ok_or_else(|| format!("service \"{name}\" has no cluster IP"))?;
    let server_name = format!("{name}.{namespace}.svc");
    Ok(Endpoint {
        url: format!("https://{server_name}:{port}{path}{query}"),
        host: ip.to_string(),
        port,
        server_name,
        path: format!("{path}{query}"),
        ca,
    })
}

fn split_authority(authority: &str) -> Result<(String, u16), String> {
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || authority.starts_with('[') => (
            h,
            p.parse::<u16>()
                .map_err(|_| format!("invalid port in {authority}"))?,
        ),
        _ => (authority, 443),
    };
    Ok((host.trim_matches(['[', ']']).to_string(), port))
}

/// Posts `review` to `endpoint`; the answer's body, or why there is none.
pub async fn post(endpoint: &Endpoint, review: &Value, timeout: Duration) -> Result<Bytes, String> {
    match tokio::time::timeout(timeout, call(endpoint, review)).await {
        Ok(result) => result,
        Err(_) => Err(format!(
            "context deadline exceeded (Client.Timeout exceeded while awaiting headers) after {}s",
            timeout.as_secs()
        )),
    }
}

type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

/// Kept-alive connections to webhooks, by where they lead (address, certificate name, CA):
/// a call reuses one instead of a TLS handshake each, as upstream's HTTP client does.
static IDLE: Mutex<Option<HashMap<u64, Vec<Sender>>>> = Mutex::new(None);

/// Idle connections kept per endpoint: enough for a busy server's concurrent calls (each
/// connection carries one call at a time), so that a burst does not pay a TLS handshake each.
const IDLE_PER_ENDPOINT: usize = 64;

impl Endpoint {
    fn pool_key(&self) -> u64 {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (&self.host, self.port, &self.server_name).hash(&mut h);
        for cert in &self.ca {
            cert.as_ref().hash(&mut h);
        }
        h.finish()
    }
}

fn take_idle(key: u64) -> Option<Sender> {
    let mut idle = IDLE.lock().unwrap_or_else(PoisonError::into_inner);
    let list = idle.as_mut()?.get_mut(&key)?;
    while let Some(sender) = list.pop() {
        if !sender.is_closed() {
            return Some(sender);
        }
    }
    None
}

fn put_idle(key: u64, sender: Sender) {
    let mut idle = IDLE.lock().unwrap_or_else(PoisonError::into_inner);
    let list = idle
        .get_or_insert_with(HashMap::new)
        .entry(key)
        .or_default();
    if list.len() < IDLE_PER_ENDPOINT {
        list.push(sender);
    }
}

async fn connect(endpoint: &Endpoint) -> Result<Sender, String> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in &endpoint.ca {
        roots
            .add(cert.clone())
            .map_err(|e| format!("caBundle: {e}"))?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let server_name = ServerName::try_from(endpoint.server_name.clone())
        .map_err(|e| format!("invalid server name {}: {e}", endpoint.server_name))?;
    let tcp = tokio::net::TcpStream::connect((endpoint.host.as_str(), endpoint.port))
        .await
        .map_err(|e| format!("dial tcp {}:{}: {e}", endpoint.host, endpoint.port))?;
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(server_name, tcp)
        .await
        .map_err(|e| format!("tls: {e}"))?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(connection);
    Ok(sender)
}

async fn call(endpoint: &Endpoint, review: &Value) -> Result<Bytes, String> {
    let body = Bytes::from(serde_json::to_vec(review).map_err(|e| e.to_string())?);
    let key = endpoint.pool_key();
    // A kept connection the webhook has closed meanwhile fails at once; then a new one.
    if let Some(sender) = take_idle(key) {
        if let Ok(answer) = exchange(endpoint, sender, body.clone(), key).await {
            return answer;
        }
    }
    let sender = connect(endpoint).await?;
    exchange(endpoint, sender, body, key)
        .await
        .unwrap_or_else(Err)
}

/// One request on `sender`: `Err` when the connection failed before an answer (worth a new
/// connection), `Ok` with the call's own result otherwise. The connection is kept for the
/// next call when the answer was read in full.
async fn exchange(
    endpoint: &Endpoint,
    mut sender: Sender,
    body: Bytes,
    key: u64,
) -> Result<Result<Bytes, String>, String> {
    let request = http::Request::post(&endpoint.path)
        .header(http::header::HOST, &endpoint.server_name)
        .header(http::header::CONTENT_TYPE, "application/json")
        .header(http::header::ACCEPT, "application/json")
        .body(Full::new(body))
        .map_err(|e| e.to_string())?;
    sender.ready().await.map_err(|e| e.to_string())?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| e.to_string())?;
    let status = response.status();
    let body = match Limited::new(response.into_body(), MAX_ANSWER)
        .collect()
        .await
    {
        Ok(collected) => collected.to_bytes(),
        Err(e) => return Ok(Err(e.to_string())),
    };
    put_idle(key, sender);
    if !status.is_success() {
        return Ok(Err(format!(
            "the server responded with the status code {} but did not return more information",
            status.as_u16()
        )));
    }
    Ok(Ok(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorities_split_into_host_and_port() {
        assert_eq!(
            split_authority("a.example:8443"),
            Ok(("a.example".into(), 8443))
        );
        assert_eq!(split_authority("a.example"), Ok(("a.example".into(), 443)));
        assert_eq!(split_authority("[::1]:9443"), Ok(("::1".into(), 9443)));
        assert!(split_authority("a:x").is_err());
    }
}
