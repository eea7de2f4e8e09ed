//! `pods/proxy`, `services/proxy` and `nodes/proxy`: the API server forwards a request (any
//! method, upgrades included) to a pod's address, to one ready endpoint of a Service, or to a
//! node's kubelet, as kube-apiserver does for `kubectl proxy` users. The name in the URL may
//! carry a scheme and a port: `[https:]NAME[:PORT]`.
//!
//! The client's credentials are never forwarded. Backends reached over `https:` are not
//! verified (upstream does not verify them either: a pod has no name the cluster CA vouches
//! for); kubelets are, with the API server's kubelet-client certificate.

use std::convert::Infallible;
use std::net::IpAddr;
use std::sync::Arc;

use futures_util::StreamExt;
use http::{Request, Response};
use http_body_util::BodyExt;
use kapi_api::resources;
use kapi_api::status::ApiError;
use serde_json::Value;

use super::ReqBody;
use crate::request_info::RequestInfo;
use crate::response::Body;
use crate::Server;

/// Where a proxy request goes.
struct Target {
    ip: IpAddr,
    port: u16,
    tls: Tls,
}

enum Tls {
    Plain,
    Unverified,
    Kubelet,
}

/// `[scheme:]name[:port]` split.
fn split_name(raw: &str) -> (Option<&str>, &str, Option<&str>) {
    let parts: Vec<&str> = raw.splitn(3, ':').collect();
    match parts.as_slice() {
        [name] => (None, name, None),
        [scheme @ ("http" | "https"), name] => (Some(scheme), name, None),
        [name, port] => (None, name, Some(port)),
        [scheme, name, port] => (Some(scheme), name, Some(port)),
        _ => (None, raw, None),
    }
}

/// Forwards one request to the backend the URL names.
pub async fn serve(
    server: &Server,
    info: &RequestInfo,
    req: Request<ReqBody>,
) -> Result<Response<Body>, ApiError> {
    let (scheme, name, port) = split_name(&info.name);
    let target = match info.resource.as_str() {
        "pods" => pod_target(server, &info.namespace, name, scheme, port)?,
        "services" => service_target(server, &info.namespace, name, scheme, port)?,
        "nodes" => {
            let (ip, kubelet_port) = super::pod_stream::kubelet_address(server, name)?;
            let port = match port {
                Some(p) => parse_port(p)?,
                None => kubelet_port,
            };
            Target {
                ip,
                port,
                tls: if scheme == Some("http") {
                    Tls::Plain
                } else {
                    Tls::Kubelet
                },
            }
        }
        other => return Err(ApiError::bad_request(format!("{other} cannot be proxied"))),
    };
    // As upstream, never toward this machine's loopback or link-local addresses: anyone who
    // may write an EndpointSlice could otherwise reach services bound there (the API server's
    // own port, a cloud metadata endpoint) with the API server's network position.
    if !proxyable(target.ip) {
        return Err(ApiError::bad_request("address not allowed"));
    }
    // The path after `.../NAME/proxy`, kept as the client wrote it (trailing slash included).
    let marker = format!("/{}/proxy", info.name);
    let rest = info
        .path
        .find(&marker)
        .map(|i| &info.path[i + marker.len()..])
        .unwrap_or("");
    let mut path = if rest.is_empty() {
        "/".to_string()
    } else {
        rest.to_string()
    };
    if let Some(q) = req.uri().query() {
        path.push('?');
        path.push_str(q);
    }
    let authority = std::net::SocketAddr::new(target.ip, target.port).to_string();
    let dial_error = |e: std::io::Error| {
        ApiError::unavailable(format!(
            "error trying to reach service: dial tcp {authority}: {e}"
        ))
    };
    let tcp = tokio::net::TcpStream::connect((target.ip, target.port))
        .await
        .map_err(dial_error)?;
    let server_name = rustls::pki_types::ServerName::IpAddress(target.ip.into());
    let forwarded = match target.tls {
        Tls::Plain => kapi_node::upgrade::forward(tcp, req, &path, &authority).await,
        Tls::Unverified => {
            let tls = unverified_connector()
                .connect(server_name, tcp)
                .await
                .map_err(dial_error)?;
            kapi_node::upgrade::forward(tls, req, &path, &authority).await
        }
        Tls::Kubelet => {
            let connector = server.kubelet_client.clone().ok_or_else(|| {
                ApiError::unavailable("the API server has no kubelet client credentials")
            })?;
            let tls = connector
                .connect(server_name, tcp)
                .await
                .map_err(dial_error)?;
            kapi_node::upgrade::forward(tls, req, &path, &authority).await
        }
    };
    let resp = forwarded
        .map_err(|e| ApiError::unavailable(format!("error trying to reach service: {e}")))?;
    let (parts, body) = resp.into_parts();
    let stream = http_body_util::BodyStream::new(body)
        .take_while(|frame| std::future::ready(frame.is_ok()))
        .filter_map(|frame| std::future::ready(frame.ok().map(Ok::<_, Infallible>)));
    Ok(Response::from_parts(
        parts,
        BodyExt::boxed(http_body_util::StreamBody::new(stream)),
    ))
}

/// Upstream's `IsProxyableIP`: not loopback, not link-local (unicast or multicast), not
/// interface-local multicast, not unspecified.
fn proxyable(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            !(v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || (v4.octets()[0] == 224 && v4.octets()[1] == 0 && v4.octets()[2] == 0))
        }
        IpAddr::V6(v6) => {
            let seg = v6.segments();
            !(v6.is_loopback()
                || v6.is_unspecified()
                || (seg[0] & 0xffc0) == 0xfe80
                || (seg[0] & 0xff0f) == 0xff02
                || (seg[0] & 0xff0f) == 0xff01
                || v6
                    .to_ipv4_mapped()
                    .is_some_and(|v4| !proxyable(IpAddr::V4(v4))))
        }
    }
}

fn parse_port(p: &str) -> Result<u16, ApiError> {
    p.parse::<u16>()
        .ok()
        .filter(|p| *p != 0)
        .ok_or_else(|| ApiError::bad_request(format!("invalid port {p:?}")))
}

fn tls_for(scheme: Option<&str>) -> Tls {
    if scheme == Some("https") {
        Tls::Unverified
    } else {
        Tls::Plain
    }
}

/// A pod's IP and the port asked for, else its first container port.
fn pod_target(
    server: &Server,
    ns: &str,
    name: &str,
    scheme: Option<&str>,
    port: Option<&str>,
) -> Result<Target, ApiError> {
    let pods = resources::find("", "v1", "pods").ok_or_else(ApiError::no_route)?;
    let (pod, _) = server.registry.get_value(pods, Some(ns), name)?;
    let ip: IpAddr = pod
        .pointer("/status/podIP")
        .and_then(Value::as_str)
        .and_then(|ip| ip.parse().ok())
        .ok_or_else(|| ApiError::unavailable(format!("pod {name} has no IP address yet")))?;
    let port = match port {
        Some(p) => parse_port(p)?,
        None => pod
            .pointer("/spec/containers")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .find_map(|c| c.pointer("/ports/0/containerPort").and_then(Value::as_u64))
            .and_then(|p| u16::try_from(p).ok())
            .unwrap_or(80),
    };
    Ok(Target {
        ip,
        port,
        tls: tls_for(scheme),
    })
}

/// A ready endpoint of the Service port named (by name or number; none: the unnamed or only
/// port), chosen at random.
fn service_target(
    server: &Server,
    ns: &str,
    name: &str,
    scheme: Option<&str>,
    port: Option<&str>,
) -> Result<Target, ApiError> {
    let services = resources::find("", "v1", "services").ok_or_else(ApiError::no_route)?;
    let (svc, _) = server.registry.get_value(services, Some(ns), name)?;
    let ports: Vec<&Value> = svc
        .pointer("/spec/ports")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .collect();
    let port_name = |p: &Value| {
        p.get("name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let chosen = match port {
        None => ports
            .iter()
            .find(|p| port_name(p).is_empty())
            .or(if ports.len() == 1 {
                ports.first()
            } else {
                None
            }),
        Some(wanted) => ports.iter().find(|p| {
            port_name(p) == wanted
                || p.get("port")
                    .and_then(Value::as_u64)
                    .map(|n| n.to_string())
                    .as_deref()
                    == Some(wanted)
        }),
    }
    .ok_or_else(|| {
        ApiError::unavailable(format!("no endpoints available for service \"{name}\""))
    })?;
    let wanted_name = port_name(chosen);
    let slices = resources::find("discovery.k8s.io", "v1", "endpointslices")
        .ok_or_else(ApiError::no_route)?;
    let (stored, _, _) = server.registry.store().list(
        &crate::registry::Registry::prefix(slices, Some(ns)),
        None,
        0,
        |_, _| true,
    );
    let mut candidates: Vec<(IpAddr, u16)> = Vec::new();
    for (_, kv) in stored {
        let Ok(slice) = serde_json::from_slice::<Value>(&kv.value) else {
            continue;
        };
        if slice
            .pointer("/metadata/labels/kubernetes.io~1service-name")
            .and_then(Value::as_str)
            != Some(name)
        {
            continue;
        }
        let Some(target_port) = slice
            .get("ports")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .find(|p| port_name(p) == wanted_name)
            .and_then(|p| p.get("port").and_then(Value::as_u64))
            .and_then(|p| u16::try_from(p).ok())
        else {
            continue;
        };
        for ep in slice
            .get("endpoints")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if ep.pointer("/conditions/ready") == Some(&Value::Bool(false)) {
                continue;
            }
            for addr in ep
                .get("addresses")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
            {
                if let Ok(ip) = addr.parse() {
                    candidates.push((ip, target_port));
                }
            }
        }
    }
    if candidates.is_empty() {
        return Err(ApiError::unavailable(format!(
            "no endpoints available for service \"{name}\""
        )));
    }
    let pick = uuid::Uuid::new_v4().as_u128() as usize % candidates.len();
    let (ip, port) = candidates[pick];
    Ok(Target {
        ip,
        port,
        tls: tls_for(scheme),
    })
}

/// A TLS client that accepts any certificate, for `https:` backends (see the module doc).
fn unverified_connector() -> tokio_rustls::TlsConnector {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map(|b| {
            b.dangerous()
                .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
                .with_no_client_auth()
        });
    match config {
        Ok(c) => tokio_rustls::TlsConnector::from(Arc::new(c)),
        // The ring provider always supports the default versions.
        Err(_) => tokio_rustls::TlsConnector::from(Arc::new(
            rustls::ClientConfig::builder()
                .with_root_certificates(rustls::RootCertStore::empty())
                .with_no_client_auth(),
        )),
    }
}

#[derive(Debug)]
struct AnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_carry_an_optional_scheme_and_port() {
        assert_eq!(split_name("web"), (None, "web", None));
        assert_eq!(split_name("web:8080"), (None, "web", Some("8080")));
        assert_eq!(
            split_name("https:web:443"),
            (Some("https"), "web", Some("443"))
        );
        assert_eq!(split_name("https:web"), (Some("https"), "web", None));
        assert_eq!(split_name("web:http"), (None, "web", Some("http")));
    }

    #[test]
    fn loopback_and_link_local_addresses_are_not_proxied() {
        for bad in [
            "127.0.0.1",
            "169.254.169.254",
            "0.0.0.0",
            "224.0.0.1",
            "::1",
            "fe80::1",
            "ff02::1",
            "::ffff:127.0.0.1",
        ] {
            assert!(!proxyable(bad.parse().unwrap()), "{bad}");
        }
        for good in ["10.244.0.5", "10.250.0.10", "192.0.2.1", "2001:db8::1"] {
            assert!(proxyable(good.parse().unwrap()), "{good}");
        }
    }
}
